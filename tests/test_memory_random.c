// SPDX-License-Identifier: MIT
/*
 * Randomised property test of the memory model (docs/reference.md §1.3, §4):
 * thousands of transactions over random region trees with aliases,
 * priorities, enable/disable, read-only, unmergeable, resize, move, alias
 * offset changes, renames and frees. After every outermost commit:
 *  - the flat view equals a naive per-page model (QEMU's visibility rules),
 *    is sorted, disjoint and maximally merged; lookups agree;
 *  - the diff delivered to a listener, applied to the old per-page state,
 *    yields the new one, and marks changed exactly the pages whose
 *    translation changed (unchanged pages are never reported as changed);
 *  - a QEMU-style (region_del / region_add / region_nop) listener's shadow
 *    equals the new state, deletes only what it was told and adds only
 *    into holes.
 */
#include "test.h"

#define MM_CHECK(c) T_OK(c)
#include "memory_model.h"

int main(int argc, char **argv)
{
	uint64_t seed = t_seed("memory_random", 0x6d656d6f7279ull);
	unsigned long txns = argc > 1 ? strtoul(argv[1], NULL, 0) : 5000;
	struct t_rng r;
	struct mm_model mm;

	t_rng_init(&r, seed);
	if (mm_init(&mm, 2048))
		T_FATAL("setup failed");
	for (unsigned long t = 0; t < txns; t++) {
		/* Mostly explicit transactions of 1..8 ops (some nested), some implied ones. */
		if (t_rng_below(&r, 4) == 0) {
			uint64_t sel = t_rng_next(&r);

			mm_random_op(&mm, (uint32_t)sel, t_rng_next(&r), t_rng_next(&r), t_rng_next(&r));
			mm_check_commit(&mm);
			continue;
		}
		mm_begin(&mm);
		unsigned nops = 1 + (unsigned)t_rng_below(&r, 8);
		bool nested = t_rng_below(&r, 4) == 0;
		if (nested)
			T_EQ(viommu_memory_begin(mm.m), 0);
		for (unsigned k = 0; k < nops; k++)
			mm_random_op(&mm, (uint32_t)t_rng_next(&r), t_rng_next(&r), t_rng_next(&r), t_rng_next(&r));
		if (nested) {
			uint64_t gen = viommu_memory_generation(mm.m);

			T_EQ(viommu_memory_commit(mm.m), 0);
			/* An inner commit renders nothing. */
			T_EQ_U64(viommu_memory_generation(mm.m), gen);
		}
		mm_commit(&mm);
	}
	printf("transactions %lu, commits checked %lu, diffs delivered %lu\n", txns, mm.commits, mm.diffs_seen);
	{
		const struct vi_memory_work *w = vi_memory_work(mm.m);

		printf("windows rendered %" PRIu64 ", full renders %" PRIu64 ", fallbacks %" PRIu64 "\n", w->windows,
		       w->full, w->fallbacks);
		T_OK(w->windows > w->full);	/* the incremental path did most of the work */
	}
	T_OK(mm.diffs_seen > txns / 5);	/* the test exercised real changes */
	mm_fini(&mm);
	return t_done();
}
