// SPDX-License-Identifier: MIT
/*
 * The host conformance tables against the simulated backend, for type1 v2,
 * type1 v1 and iommufd: tests/host_conformance.h (map and unmap) and
 * tests/host_uapi_cases.h (pinning, dirty tracking, live update, IOASes).
 * The conformance guest (tests/vm/guest/conformance.c) runs the very same
 * rows against the real kernel. User memory is what the guest has: HU_RW
 * bytes read-write, one read-only page, one PROT_NONE page, registered with
 * the simulator (VIOMMU_HOST_SIM_USER_REGISTERED) so that pinning decides
 * exactly as pin_user_pages would.
 */
#include <viommu/host.h>

#include "host_conformance.h"
#include "host_uapi_cases.h"
#include "test.h"

static const enum viommu_host_semantics sems[] = {
	VIOMMU_HOST_TYPE1V2, VIOMMU_HOST_TYPE1V1, VIOMMU_HOST_IOMMUFD,
};
static const uint64_t vbase = UINT64_C(0x7f0000000000);

static struct viommu_host *sim(enum viommu_host_semantics sem, unsigned flags)
{
	struct viommu_host *h = hu_sim_new(sem, flags, vbase, 0);

	if (!h)
		T_FATAL("viommu_host_sim_new");
	return h;
}

static int attach2(struct hu_env *e)
{
	return viommu_host_sim_attach(e->h[1]);
}

static uint64_t pinned(struct hu_env *e)
{
	struct viommu_host_sim_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_host_sim_get_stats(e->h[0], &st), 0);
	return st.pinned_pages;
}

static void run_uapi(void)
{
	unsigned nrun = 0, nsrc = 0;

	for (size_t c = 0; c < sizeof(hu_cases) / sizeof(hu_cases[0]); c++) {
		const struct hu_case *hc = &hu_cases[c];

		for (size_t s = 0; s < 3; s++) {
			struct hu_env e = { .vbase = vbase, .attach2 = attach2, .pinned = pinned };
			struct hu_result r[9];
			int bad;

			if (!hu_applies(hc, sems[s]))
				continue;
			e.h[0] = sim(sems[s], hc->sim_flags);
			if (hc->ioas2) {
				e.h[1] = viommu_host_ioas_alloc(e.h[0]);
				T_OK(e.h[1] != NULL);
				if (!e.h[1]) {
					viommu_host_free(e.h[0]);
					continue;
				}
			}
			bad = hu_run(&e, hc, r);
			if (bad >= 0) {
				char why[2048];

				hu_describe(why, sizeof(why), hc, r, hu_sem_index(sems[s]));
				fprintf(stderr, "semantics %d: %s (%s), step %d: %s\n", (int)sems[s], hc->name, hc->cite,
					bad, why);
			}
			T_EQ(bad, -1);
			nrun++;
			nsrc += hc->sim_flags != 0;
			viommu_host_free(e.h[1]);
			viommu_host_free(e.h[0]);
		}
	}
	printf("uapi: %zu cases, %u runs (%u modelled from source only)\n", sizeof(hu_cases) / sizeof(hu_cases[0]),
	       nrun, nsrc);
}

int main(void)
{
	for (size_t s = 0; s < 3; s++) {
		struct viommu_host *h = sim(sems[s], 0);

		for (size_t i = 0; i < sizeof(hc_cases) / sizeof(hc_cases[0]); i++) {
			char why[256] = "";
			int r = hc_run(h, &hc_cases[i], vbase, why, sizeof(why));

			if (r)
				fprintf(stderr, "semantics %d: %s\n", (int)sems[s], why);
			T_EQ(r, 0);
		}
		viommu_host_free(h);
	}
	printf("%zu rows x 3 semantics\n", sizeof(hc_cases) / sizeof(hc_cases[0]));
	run_uapi();
	return t_done();
}
