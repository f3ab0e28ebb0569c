// SPDX-License-Identifier: MIT
/*
 * Random map / unmap / cut against the range-map oracle (tests/pt_oracle.h),
 * per format, granule and unmap policy: every return code, every mapped and
 * unmapped byte count, point translations after
 * each operation and the complete leaf list every few operations must equal
 * the model's. Ends by unmapping everything and checking no table is left.
 */
#include <viommu/pgtable.h>

#include "pt_common.h"
#include "pt_oracle.h"
#include "test.h"

#define OPS 3000

static void run(const struct pt_case *pc, enum viommu_pt_unmap_policy policy, uint64_t seed)
{
	struct viommu_pgtable_opts opts = pt_opts(pc);
	struct viommu_pgtable *pt;
	struct pt_oracle o;
	struct t_rng rng;
	uint64_t big, window, sizes[8];
	unsigned nsizes = 0, mism = 0;
	unsigned long n_map = 0, n_eexist = 0, n_unmap = 0, n_refused = 0, n_cut = 0;

	opts.unmap_policy = policy;
	pt = viommu_pgtable_new(&opts);
	pto_init(&o, pt, pc->format, policy);
	t_rng_init(&rng, seed);
	big = UINT64_C(1) << pto_log2(o.bitmap);
	window = 8 * big;
	for (uint64_t b = o.bitmap; b; b &= b - 1)
		sizes[nsizes++] = b & -b;

	for (unsigned op = 0; op < OPS; op++) {
		unsigned kind = (unsigned)t_rng_below(&rng, 100);
		uint64_t cls = sizes[t_rng_below(&rng, nsizes)];
		uint64_t iova, len, got, want;
		int rc, wrc;

		/* Addresses aligned to a size class, lengths a few of them. */
		iova = t_rng_below(&rng, window / cls) * cls;
		if (t_rng_below(&rng, 3) == 0)
			iova += t_rng_below(&rng, 4) * o.gran;
		len = (1 + t_rng_below(&rng, 3)) * cls;
		if (t_rng_below(&rng, 3) == 0)
			len += t_rng_below(&rng, 3) * o.gran;
		/* Misaligned starts become short granule runs (no million-leaf maps). */
		if (iova & (cls - 1))
			len = (1 + t_rng_below(&rng, 64)) * o.gran;
		if (iova + len > window)
			len = window - iova;
		if (kind < 45) {
			/* Same offset within the largest size half of the time, so big
			 * leaves happen; otherwise aligned to the class, or not at all. */
			uint64_t pa = t_rng_below(&rng, 2) ? iova + big * (1 + t_rng_below(&rng, 64))
							   : t_rng_below(&rng, window / o.gran) * o.gran;
			if (t_rng_below(&rng, 2))
				pa &= ~(cls - 1);
			/* Offsets that force granule pages: keep the run short. */
			if ((iova ^ pa) & (cls - 1) && len > 64 * o.gran)
				len = 64 * o.gran;
			unsigned prot = 1 + (unsigned)t_rng_below(&rng, 3);
			if (t_rng_below(&rng, 4) == 0)
				prot |= VIOMMU_PT_ATTR_SNOOP;
			rc = viommu_pgtable_map(pt, iova, pa, len, prot, &got);
			wrc = pto_map(&o, iova, pa, len, prot, &want);
		} else if (kind < 80) {
			rc = viommu_pgtable_unmap(pt, iova, len, &got);
			wrc = pto_unmap(&o, iova, len, &want);
		} else {
			size_t before = viommu_rangemap_count(o.leaves);
			rc = viommu_pgtable_cut(pt, iova);
			wrc = 0;
			pto_cut(&o, iova);
			n_cut += viommu_rangemap_count(o.leaves) != before;
			got = want = 0;
		}
		if (rc != wrc || got != want) {
			if (mism++ < 5)
				printf("%s op %u kind %u iova 0x%" PRIx64 " len 0x%" PRIx64 ": rc %d/%d bytes 0x%" PRIx64
				       "/0x%" PRIx64 "\n", pc->name, op, kind, iova, len, rc, wrc, got, want);
		}
		T_EQ(rc, wrc);
		T_EQ_U64(got, want);
		if (kind < 45) {
			n_map += rc == 0;
			n_eexist += rc == -EEXIST;
		} else if (kind < 80) {
			n_unmap += rc == 0 && got;
			n_refused += rc == -EINVAL;
		}
		/* Point translations around the operation. */
		for (int k = 0; k < 4; k++) {
			uint64_t a = (iova + (k - 1) * (int64_t)o.gran + t_rng_below(&rng, len + o.gran)) & ~UINT64_C(7);
			struct viommu_pt_mapping m, w;
			int lr, wr;
			if (a >= window)
				continue;
			lr = viommu_pgtable_lookup(pt, a, &m);
			wr = pto_lookup(&o, a, &w);
			T_EQ(lr, wr);
			if (!lr && !wr) {
				T_EQ_U64(m.iova, w.iova);
				T_EQ_U64(m.size, w.size);
				T_EQ_U64(m.phys, w.phys);
				T_EQ(m.perm, w.perm);
			}
		}
		if (op % 50 == 49)
			T_EQ(pto_compare_all(&o, pt), 0);
	}
	T_EQ(pto_compare_all(&o, pt), 0);
	/* Proof the stream exercised every outcome, not just the easy ones. */
	printf("%s/%s: maps %lu, EEXIST %lu, unmaps %lu, refused %lu, cuts %lu, leaves now %zu\n", pc->name,
	       policy == VIOMMU_PT_UNMAP_WHOLE_LEAF ? "whole" : "refuse", n_map, n_eexist, n_unmap, n_refused, n_cut,
	       viommu_rangemap_count(o.leaves));
	T_OK(n_map > 100 && n_eexist > 50 && n_unmap > 50 && n_cut > 10);
	/* Whole-window unmap under WHOLE_LEAF can never be refused; under
	 * REFUSE_PARTIAL the window holds only whole leaves too. */
	uint64_t got, want;
	T_EQ(viommu_pgtable_unmap(pt, 0, window, &got), 0);
	T_EQ(pto_unmap(&o, 0, window, &want), 0);
	T_EQ_U64(got, want);
	struct viommu_pgtable_stats st;
	viommu_pgtable_get_stats(pt, &st);
	T_EQ(st.table_pages, 1);
	pto_fini(&o);
	viommu_pgtable_free(pt);
}

int main(void)
{
	uint64_t seed = t_seed("random", 0x5eed0005);

	for (unsigned i = 0; i < sizeof(pt_cases) / sizeof(pt_cases[0]); i++) {
		run(&pt_cases[i], VIOMMU_PT_UNMAP_WHOLE_LEAF, seed + 2 * i);
		run(&pt_cases[i], VIOMMU_PT_UNMAP_REFUSE_PARTIAL, seed + 2 * i + 1);
	}
	return t_done();
}
