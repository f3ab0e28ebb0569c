// SPDX-License-Identifier: MIT
/*
 * Randomised differential test: the simulated host IOMMU against the array
 * model of tests/host_model.h, for type1 v2, type1 v1 and iommufd
 * (vfio_iommu_type1.c of Linux 6.1, iommufd of 6.12). Every call's errno and
 * byte count must match, and after each call the full mapping list (with
 * each mapping's user address and whether it is invalidated) and random
 * translations too. Besides map and unmap, the stream has type1's
 * user-address update (UNMAP_VADDR, MAP_VADDR) and dirty tracking (start,
 * stop, GET_BITMAP, unmap with the bitmap), each bitmap compared word for
 * word against the model's literal dma->bitmap arithmetic.
 * Addresses come from a small grid (so overlaps, bisects and exact covers are
 * frequent) plus edge values (0, the interrupt window, the top of the space).
 */
#include <viommu/host.h>

#include "host_model.h"
#include "test.h"

#define OPS_PER_SEM 100000

struct cmp_ctx { const struct host_model *m; int i; int bad; };

static int hm_cmp(const void *a, const void *b)
{
	const struct hm_map *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static void check_one(const struct viommu_host_mapping *mp, void *ctx)
{
	struct cmp_ctx *c = ctx;
	const struct hm_map *e = &c->m->m[c->i++];

	if (mp->iova != e->first || mp->length != e->last - e->first + 1 || mp->vaddr != e->vaddr ||
	    mp->prot != e->prot || mp->vaddr_invalid != e->inval)
		c->bad++;
}

static uint64_t pick_addr(struct t_rng *r)
{
	static const uint64_t edge[] = {
		0, 0x1000, 0xfed00000, 0xfedff000, 0xfee00000, 0xfeeff000, 0xfef00000,
		UINT64_C(0x7ffffff000), UINT64_C(0x8000000000), UINT64_C(0xfffffffffffff000), UINT64_MAX,
	};
	uint64_t k = t_rng_below(r, 16);

	if (k == 0)
		return edge[t_rng_below(r, sizeof(edge) / sizeof(edge[0]))];
	if (k == 1)
		return t_rng_next(r);
	return 0x100000 + t_rng_below(r, 64) * 0x1000 + (k == 2 ? 0x800 : 0);
}

static uint64_t pick_len(struct t_rng *r)
{
	uint64_t k = t_rng_below(r, 16);

	if (k == 0)
		return 0;
	if (k == 1)
		return UINT64_MAX - t_rng_below(r, 3) * 0x1000;
	if (k == 2)
		return 0x1000 * (1 + t_rng_below(r, 8)) + 1;
	if (k == 3)
		return UINT64_C(1) << (12 + t_rng_below(r, 40));
	return 0x1000 * (1 + t_rng_below(r, 12));
}

static void run(enum viommu_host_semantics sem, uint64_t seed)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .dma_entry_limit = 24 };
	struct viommu_host *h = viommu_host_sim_new(&o);
	static struct host_model m;
	struct t_rng r;
	unsigned long mism = 0, state_bad = 0, ops[8] = { 0 }, okops = 0, bm_bad = 0, skipped = 0, reads_ok = 0;

	memset(&m, 0, sizeof(m));
	m.sem = sem;
	m.align = 0x1000;
	m.ranges[0] = (struct viommu_host_iova_range){ 0, 0xfedfffff };
	m.ranges[1] = (struct viommu_host_iova_range){ 0xfef00000, UINT64_C(0x7fffffffff) };
	m.nranges = 2;
	m.limit = sem == VIOMMU_HOST_IOMMUFD ? UINT64_MAX : 24;
	t_rng_init(&r, seed);

	for (int step = 0; step < OPS_PER_SEM; step++) {
		uint64_t k = t_rng_below(&r, 24), b1 = 0, b2 = 0, i1 = 0, i2 = 0;
		int r1, r2;

		if (k >= 20) {
			static uint64_t u1[128], u2[128];
			uint64_t iova = pick_addr(&r), len = pick_len(&r), fill = t_rng_next(&r);
			uint64_t pg = t_rng_below(&r, 8) ? 0x1000 : t_rng_below(&r, 2) ? 0x200000 : 0x3000;
			uint64_t bms = t_rng_below(&r, 4) ? 1024 : 8 * t_rng_below(&r, 130);

			if (m.n && t_rng_below(&r, 2)) {
				/* a range over some existing mappings, from one mapping's start */
				const struct hm_map *e = &m.m[t_rng_below(&r, (uint64_t)m.n)];

				iova = e->first - (t_rng_below(&r, 3) ? 0 : 0x1000 * t_rng_below(&r, 3));
				len = e->last - iova + 1 + 0x1000 * t_rng_below(&r, 64);
			}
			for (int w = 0; w < 128; w++)
				u1[w] = u2[w] = fill;
			if (k == 20) {		/* invalidate user addresses */
				unsigned fl = VIOMMU_HOST_UNMAP_VADDR | (t_rng_below(&r, 8) ? 0 : VIOMMU_HOST_UNMAP_ALL);
				uint64_t i = fl & VIOMMU_HOST_UNMAP_ALL ? 0 : iova, l = fl & VIOMMU_HOST_UNMAP_ALL ? 0 : len;

				r1 = viommu_host_unmap_flags(h, i, l, fl, &b1);
				r2 = hm_unmap(&m, i, l, fl, &b2);
				ops[4]++;
			} else if (k == 21) {	/* a new user address */
				uint64_t va = 0x7f0000000000 + t_rng_below(&r, 4096) * 0x1000;

				if (m.n && t_rng_below(&r, 4)) {
					const struct hm_map *e = &m.m[t_rng_below(&r, (uint64_t)m.n)];

					iova = e->first;
					len = e->last - e->first + 1;
				}
				unsigned prot = t_rng_below(&r, 8) ? 0 : 3;	/* prot with VADDR is refused */

				r1 = viommu_host_map_flags(h, iova, len, va, prot, VIOMMU_HOST_MAP_VADDR);
				r2 = hm_map_flags(&m, iova, len, va, prot, VIOMMU_HOST_MAP_VADDR);
				ops[5]++;
			} else if (k == 22) {	/* start / stop */
				unsigned fl = (unsigned)(1 + t_rng_below(&r, 3));

				r1 = viommu_host_dirty_tracking(h, fl);
				r2 = hm_dirty_ctl(&m, fl);
				ops[6]++;
			} else {		/* read, or unmap with the bitmap */
				struct viommu_host_dirty_bitmap bm = { .pgsize = pg, .size = bms, .data = u1 };
				bool unmap = t_rng_below(&r, 4) == 0 && sem != VIOMMU_HOST_IOMMUFD;

				r2 = unmap ? hm_unmap_bm(&m, iova, len, 0, &b2, pg, bms, u2)
					   : hm_dirty_read(&m, iova, len, pg, bms, u2);
				if (r2 == HM_SKIP) {
					skipped++;
					continue;	/* a mapping too big for the literal model */
				}
				r1 = unmap ? viommu_host_unmap_dirty(h, iova, len, 0, &bm, &b1)
					   : viommu_host_dirty_read(h, iova, len, &bm, 0);
				bm_bad += memcmp(u1, u2, sizeof(u1)) != 0;
				ops[7]++;
				reads_ok += r1 == 0 && memcmp(u1 + 1, u1, sizeof(u1) - 8) != 0;	/* words changed */
			}
			goto compare;
		}

		if (k < 9 && m.n < 200) {
			uint64_t iova = pick_addr(&r), len = pick_len(&r);
			uint64_t va = t_rng_below(&r, 8) == 0 ? t_rng_next(&r) : 0x7f0000000000 + t_rng_below(&r, 4096) * 0x1000;
			unsigned prot = (unsigned)t_rng_below(&r, 4);

			if (sem == VIOMMU_HOST_IOMMUFD && k < 3) {
				r1 = viommu_host_map_auto(h, va, len, prot, &i1);
				r2 = hm_map_auto(&m, va, len, prot, &i2);
				mism += r1 == 0 && i1 != i2;
				ops[1]++;
			} else {
				r1 = viommu_host_map(h, iova, len, va, prot);
				r2 = hm_map(&m, iova, len, va, prot);
				ops[0]++;
			}
		} else if (k < 19) {
			uint64_t iova = pick_addr(&r), len = pick_len(&r);

			if (t_rng_below(&r, 3) == 0 && m.n) {
				/* aim at an existing mapping's edges */
				const struct hm_map *e = &m.m[t_rng_below(&r, (uint64_t)m.n)];

				iova = t_rng_below(&r, 2) ? e->first : e->first + 0x1000;
				len = e->last - e->first + 1 + (t_rng_below(&r, 3) - 1) * 0x1000;
			}
			r1 = viommu_host_unmap(h, iova, len, &b1);
			r2 = hm_unmap(&m, iova, len, 0, &b2);
			ops[2]++;
		} else {
			unsigned fl = sem == VIOMMU_HOST_IOMMUFD ? 0 : VIOMMU_HOST_UNMAP_ALL;
			uint64_t iova = t_rng_below(&r, 4) ? 0 : 0x1000;

			if (sem == VIOMMU_HOST_IOMMUFD) {
				r1 = viommu_host_unmap(h, iova, UINT64_MAX, &b1);
				r2 = hm_unmap(&m, iova, UINT64_MAX, 0, &b2);
			} else {
				r1 = viommu_host_unmap_flags(h, iova, 0, fl, &b1);
				r2 = hm_unmap(&m, iova, 0, fl, &b2);
			}
			ops[3]++;
		}
compare:
		if (r1 != r2 || b1 != b2) {
			if (mism < 10)
				fprintf(stderr, "step %d: sim %d/%" PRIx64 " model %d/%" PRIx64 "\n", step, r1, b1, r2, b2);
			mism++;
		}
		okops += r1 == 0;
		/* the whole state, in order */
		{
			struct cmp_ctx c = { &m, 0, 0 };
			long n;

			qsort(m.m, (size_t)m.n, sizeof(m.m[0]), hm_cmp);
			n = viommu_host_sim_mappings(h, check_one, &c);
			state_bad += n != m.n || c.bad;
		}
		/* translations of random grid addresses */
		for (int t = 0; t < 2; t++) {
			uint64_t a = 0x100000 + t_rng_below(&r, 64 * 0x1000), va = 0;
			unsigned p = 0;
			int rr = viommu_host_sim_translate(h, a, &va, &p), i = hm_find(&m, a);

			state_bad += (i < 0) ? rr != -ENOENT
					     : (rr != 0 || va != m.m[i].vaddr + (a - m.m[i].first) || p != m.m[i].prot);
		}
	}
	printf("%s: map %lu auto %lu unmap %lu all %lu unmap_vaddr %lu map_vaddr %lu dirty %lu read %lu "
	       "(%lu wrote bits, %lu too big to model), %lu succeeded\n",
	       sem == VIOMMU_HOST_TYPE1V2 ? "type1v2" : sem == VIOMMU_HOST_TYPE1V1 ? "type1v1" : "iommufd",
	       ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], ops[6], ops[7], reads_ok, skipped, okops);
	T_EQ(mism, 0);
	T_EQ(state_bad, 0);
	T_EQ(bm_bad, 0);
	if (sem == VIOMMU_HOST_TYPE1V2)
		T_OK(reads_ok > 100);	/* the dirty arithmetic really ran */
	/* the mix must have exercised both outcomes */
	T_OK(okops > OPS_PER_SEM / 10 && okops < OPS_PER_SEM * 9 / 10);
	viommu_host_free(h);
}

int main(void)
{
	uint64_t seed = t_seed("host_random", 0x40517e57);

	run(VIOMMU_HOST_TYPE1V2, seed);
	run(VIOMMU_HOST_TYPE1V1, seed + 1);
	run(VIOMMU_HOST_IOMMUFD, seed + 2);
	return t_done();
}
