// SPDX-License-Identifier: MIT
/*
 * The host conformance table (tests/host_conformance.h) against the
 * simulated backend, for type1 v2, type1 v1 and iommufd. The conformance VM
 * runs the very same rows against the real kernel.
 */
#include <viommu/host.h>

#include "host_conformance.h"
#include "test.h"

int main(void)
{
	static const enum viommu_host_semantics sems[] = {
		VIOMMU_HOST_TYPE1V2, VIOMMU_HOST_TYPE1V1, VIOMMU_HOST_IOMMUFD,
	};
	const uint64_t vbase = UINT64_C(0x7f0000000000);

	for (size_t s = 0; s < 3; s++) {
		struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sems[s] };
		struct viommu_host *h = viommu_host_sim_new(&o);

		T_OK(h != NULL);
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
	return t_done();
}
