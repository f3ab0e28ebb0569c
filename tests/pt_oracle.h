/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct model of an owned page table, for the random test and
 * the fuzz target: the set of leaves kept in the project's range map
 * (include/viommu/rangemap.h), one entry per leaf, value = phys | prot.
 * Each operation computes its expected result from the leaves alone, with
 * the rules of Linux's iommu_map/iommu_unmap (drivers/iommu/iommu.c,
 * drivers/iommu/generic_pt/iommu_pt.h) written the plainest way:
 *  - map: per granule step, the largest supported size aligned for both
 *    addresses and not above the remaining length (equivalent to
 *    iommu_pgsize); stops at the first leaf overlapping an existing one;
 *  - unmap: refused if a leaf starts before the range (or, REFUSE_PARTIAL,
 *    ends after it); otherwise every overlapping leaf goes, whole;
 *  - cut: the leaf strictly containing the point is replaced by the leaves
 *    of the level below, recursing into the one containing the point (or
 *    into any piece whose size the bitmap excludes).
 */
#ifndef VIOMMU_TEST_PT_ORACLE_H
#define VIOMMU_TEST_PT_ORACLE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <viommu/pgtable.h>
#include <viommu/rangemap.h>

struct pt_oracle {
	struct viommu_rangemap *leaves;
	uint64_t bitmap, gran;
	unsigned bpl;			/* bits per level */
	unsigned levels;
	enum viommu_pt_format format;
	enum viommu_pt_unmap_policy policy;
};

static inline unsigned pto_log2(uint64_t x)
{
	return 63u - (unsigned)__builtin_clzll(x);
}

static inline void pto_init(struct pt_oracle *o, struct viommu_pgtable *pt, enum viommu_pt_format f,
			    enum viommu_pt_unmap_policy policy)
{
	o->leaves = viommu_rangemap_new();
	o->bitmap = viommu_pgtable_pgsize_bitmap(pt);
	o->gran = o->bitmap & -o->bitmap;
	o->bpl = pto_log2(o->gran) - 3;
	o->format = f;
	o->policy = policy;
}

static inline void pto_fini(struct pt_oracle *o)
{
	viommu_rangemap_free(o->leaves);
}

static inline unsigned pto_prot(const struct pt_oracle *o, unsigned prot)
{
	if (o->format == VIOMMU_PT_ARM_S1)
		prot |= VIOMMU_PERM_READ;
	return prot;
}

/* Expected result of map; applies it to the model. */
static inline int pto_map(struct pt_oracle *o, uint64_t iova, uint64_t pa, uint64_t size, unsigned prot,
			  uint64_t *mapped)
{
	uint64_t done = 0;

	*mapped = 0;
	while (done < size) {
		uint64_t best = 0;
		for (uint64_t b = o->bitmap; b; b &= b - 1) {
			uint64_t s = b & -b;
			if (s <= size - done && !((iova + done) & (s - 1)) && !((pa + done) & (s - 1)))
				best = s;
		}
		if (viommu_rangemap_find_overlap(o->leaves, iova + done, iova + done + best - 1, NULL)) {
			*mapped = done;
			return -EEXIST;
		}
		viommu_rangemap_insert(o->leaves, iova + done, iova + done + best - 1, (pa + done) | pto_prot(o, prot));
		done += best;
	}
	*mapped = done;
	return 0;
}

static inline int pto_unmap(struct pt_oracle *o, uint64_t iova, uint64_t size, uint64_t *unmapped)
{
	uint64_t last = iova + size - 1, total = 0;
	struct viommu_range_entry e;

	*unmapped = 0;
	if (viommu_rangemap_find(o->leaves, iova, &e) && e.first < iova)
		return -EINVAL;
	if (o->policy == VIOMMU_PT_UNMAP_REFUSE_PARTIAL && viommu_rangemap_find(o->leaves, last, &e) && e.last > last)
		return -EINVAL;
	while (viommu_rangemap_find_overlap(o->leaves, iova, last, &e)) {
		viommu_rangemap_remove(o->leaves, e.first, e.last, NULL);
		total += e.last - e.first + 1;
	}
	*unmapped = total;
	return 0;
}

/* Insert the leaves replacing [first, first + size) -> value, with @cut a boundary. */
static inline void pto_split(struct pt_oracle *o, uint64_t first, uint64_t size, uint64_t value, uint64_t cut)
{
	uint64_t child = size >> o->bpl;

	if (child < o->gran)	/* short root levels never hold leaves here */
		child = o->gran;
	for (uint64_t off = 0; off < size; off += child) {
		bool inside = cut > first + off && cut < first + off + child;
		if ((o->bitmap & child) && !inside)
			viommu_rangemap_insert(o->leaves, first + off, first + off + child - 1, value + off);
		else
			pto_split(o, first + off, child, value + off, cut);
	}
}

static inline void pto_cut(struct pt_oracle *o, uint64_t iova)
{
	struct viommu_range_entry e;

	if (!viommu_rangemap_find(o->leaves, iova, &e) || e.first == iova)
		return;
	viommu_rangemap_remove(o->leaves, e.first, e.last, NULL);
	pto_split(o, e.first, e.last - e.first + 1, e.value, iova);
}

/* Expected translation of @iova: 0 and the phys, or -ENOENT. */
static inline int pto_lookup(const struct pt_oracle *o, uint64_t iova, struct viommu_pt_mapping *m)
{
	struct viommu_range_entry e;

	if (!viommu_rangemap_find(o->leaves, iova, &e))
		return -ENOENT;
	m->iova = e.first;
	m->size = e.last - e.first + 1;
	m->phys = e.value & ~UINT64_C(7);
	m->perm = (unsigned)(e.value & 7);
	return 0;
}

/* Compare every leaf of @pt with the model; returns the number of mismatches. */
struct pto_cmp {
	const struct pt_oracle *o;
	struct viommu_rangemap_iter it;
	bool have;
	unsigned bad, n;
};

static inline int pto_cmp_cb(const struct viommu_pt_mapping *m, void *ctx)
{
	struct pto_cmp *c = ctx;
	c->n++;
	if (!c->have || c->it.entry.first != m->iova || c->it.entry.last != m->iova + m->size - 1 ||
	    c->it.entry.value != (m->phys | m->perm))
		c->bad++;
	if (c->have)
		c->have = viommu_rangemap_iter_next(&c->it);
	return 0;
}

static inline unsigned pto_compare_all(const struct pt_oracle *o, const struct viommu_pgtable *pt)
{
	struct pto_cmp c = { .o = o, .bad = 0, .n = 0 };

	c.have = viommu_rangemap_iter_start(&c.it, o->leaves, 0, UINT64_MAX);
	viommu_pgtable_for_each(pt, 0, UINT64_MAX, pto_cmp_cb, &c);
	if (c.have)
		c.bad++;	/* the model has more leaves */
	if (c.n != viommu_rangemap_count(o->leaves))
		c.bad++;
	return c.bad;
}

#endif
