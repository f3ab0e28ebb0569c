// SPDX-License-Identifier: MIT
/*
 * Out of memory in the middle of a sync: the shadow and the range map are
 * compiled here with an allocator that fails after a budget (and 4-slot range
 * map nodes, so inserts need new nodes often). Whatever allocation fails, the
 * sync returns -ENOMEM or succeeds, and a listener's copy always equals the
 * shadow exactly (the shadow is what listeners were told); the next sync with
 * memory repairs everything. (The definitions here take precedence over the
 * library archive's copies, which are never linked.)
 */
#include <stdlib.h>

#include "test.h"

#include "alloc_budget.h"
#include "../src/util/rangemap.c"
#include "../src/iommu/iommu.c"
#include "alloc_budget_end.h"

#include "iommu_model.h"

#define NPAGES 1024u
#define PG 0x1000ull

static struct guest g;


/* Pages where the copy differs from the shadow (want_guest: from the guest). */
static unsigned diff(struct viommu_iommu_as *ias, const struct page_copy *c, bool want_guest)
{
	unsigned bad = 0;

	for (size_t p = 0; p < NPAGES; p++) {
		struct viommu_iommu_xlat x;
		struct viommu_range_entry e;
		unsigned perm = 0;
		uint64_t out = 0;

		if (want_guest && viommu_rangemap_find(g.leaves, p * PG, &e)) {
			perm = (unsigned)(e.value & 3);
			out = (e.value & ~3ull) + (p * PG - e.first);
		} else if (!want_guest && viommu_iommu_lookup(ias, p * PG, &x)) {
			perm = x.perm;
			out = x.out + (p * PG - x.first);
		}
		if (perm != c->perm[p] || (perm && out != c->out[p]))
			bad++;
	}
	return bad;
}

static struct t_rng rng;

static uint64_t rand_out(void *ctx, uint64_t align_pages)
{
	(void)ctx;
	return 0x10000000ull + t_rng_below(&rng, 8192 / align_pages) * align_pages * PG;
}

int main(void)
{
	uint64_t seed = t_seed("iommu_nomem", 0x10330005);
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g };
	struct viommu_iommu_as *ias;
	static struct page_copy c;
	static uint64_t c_out[NPAGES];
	static unsigned c_perm[NPAGES];
	unsigned nomem = 0, ok = 0, bad_shadow = 0, bad_guest = 0;

	t_rng_init(&rng, seed);
	g.leaves = viommu_rangemap_new();
	ias = viommu_iommu_as_new(&o);
	page_copy_init(&c, c_out, c_perm, NPAGES);
	if (!g.leaves || !ias || viommu_iommu_listener_register(ias, &c.l))
		T_FATAL("setup");
	for (unsigned it = 0; it < 3000; it++) {
		struct gmut m = { &g, &rng, 0, NPAGES, rand_out, NULL };
		uint64_t a, z;

		if (!guest_mutate(&m, &a, &z))
			continue;
		alloc_budget = (long)t_rng_below(&rng, 6);
		int r = viommu_iommu_sync(ias, a, z);

		alloc_budget = -1;
		T_OK(r >= 0 || r == -ENOMEM);
		if (r == -ENOMEM) {
			T_EQ(errno, ENOMEM);
			nomem++;
		} else {
			ok++;
		}
		bad_shadow += diff(ias, &c, false);
		/* With memory again the same invalidation repairs everything. */
		T_OK(viommu_iommu_sync(ias, a, z) >= 0);
		bad_guest += diff(ias, &c, true);
	}
	T_EQ(bad_shadow, 0);
	T_EQ(bad_guest, 0);
	printf("%u syncs failed with ENOMEM, %u succeeded under the budget, %lu allocations refused\n", nomem, ok,
	       failures);
	T_OK(nomem > 100 && ok > 100);
	viommu_iommu_as_free(ias);
	viommu_rangemap_free(g.leaves);
	return t_done();
}
