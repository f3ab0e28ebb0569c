// SPDX-License-Identifier: MIT
/*
 * Owned page tables: map, unmap, cut, lookup, iterate and free, written once
 * for every format over the one walk of iter.h. A format contributes only its
 * descriptor encoding and geometry (struct vi_pt_fmt), as in Linux's
 * generic_pt (drivers/iommu/generic_pt/).
 *
 * Performance rests on two things, the ones generic_pt's cover letter names
 * for its gain over the old io-pgtable code: a bulk operation keeps its walk
 * position across entries, tables and runs instead of re-walking from the
 * root, and a run of entries in one table is filled or cleared in one tight
 * loop with a precomputed leaf template OR-ed with the output address, so no
 * indirect call happens per entry.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pgtable/table.h"
#include "util/log.h"
#include "util/opts.h"

#define viommu_pgtable_opts__last_field root_deny

/* ---- entries -------------------------------------------------------------- */

/* Writer-side read: only the writer stores, so relaxed suffices. */
static inline uint64_t pte_read(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Reader-side read: pairs with the release store that published a table. */
static inline uint64_t pte_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void pte_write(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Publish a table pointer: the table's contents are visible before the pointer. */
static inline void pte_publish(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

typedef uint64_t vi_pt_v2 __attribute__((vector_size(16)));
typedef uint32_t vi_pt_v4 __attribute__((vector_size(16)));

/*
 * The run loops below read entries with plain (vectorised) loads. That is
 * race-free: only the single writer calls them, and concurrent readers only
 * read. Stores stay one 8-byte atomic store per entry (pte_write), which is
 * what lock-free readers need. Each loop takes eight entries a turn.
 */

/* OR of entries [from, to): zero iff they are all empty. */
static inline uint64_t entries_or(const uint64_t *p, unsigned from, unsigned to)
{
	const uint64_t *q = p + from, *e = p + to;
	vi_pt_v2 a = { 0, 0 }, b = { 0, 0 }, c = { 0, 0 }, d = { 0, 0 }, x;
	uint64_t acc;

	/* Pointer steps, not an unsigned index: the index's wrap-around
	 * rules cost an address computation per access. */
	for (; e - q >= 8; q += 8) {
		__builtin_memcpy(&x, q, sizeof(x));
		a |= x;
		__builtin_memcpy(&x, q + 2, sizeof(x));
		b |= x;
		__builtin_memcpy(&x, q + 4, sizeof(x));
		c |= x;
		__builtin_memcpy(&x, q + 6, sizeof(x));
		d |= x;
	}
	a |= b | c | d;
	acc = a[0] | a[1];
	for (; q < e; q++)
		acc |= *q;
	return acc;
}

/*
 * Clear entries [0, n) and return how many were present, in one pass bound by
 * the stores. Every format's present bits lie in the low 32 bits of an entry
 * (VT-d R|W, ARM valid, AMD PR), so "absent" is a 32-bit compare with zero of
 * the masked low half, which plain SSE2 has (it has no 64-bit compare); each
 * compare yields -1, so adding up counts the absent entries.
 */
static inline unsigned clear_run(uint64_t *p, unsigned n, uint64_t pm)
{
	uint64_t *q = p, *e = p + n;
	unsigned absent = 0;

	if (!(pm >> 32)) {
		const vi_pt_v2 m = { pm, pm };
		const vi_pt_v4 zero = { 0, 0, 0, 0 };
		vi_pt_v4 a = zero, b = zero;
		vi_pt_v2 x0, x1, x2, x3;

		for (; e - q >= 8; q += 8) {
			__builtin_memcpy(&x0, q, sizeof(x0));
			__builtin_memcpy(&x1, q + 2, sizeof(x1));
			__builtin_memcpy(&x2, q + 4, sizeof(x2));
			__builtin_memcpy(&x3, q + 6, sizeof(x3));
			pte_write(&q[0], 0);
			pte_write(&q[1], 0);
			pte_write(&q[2], 0);
			pte_write(&q[3], 0);
			pte_write(&q[4], 0);
			pte_write(&q[5], 0);
			pte_write(&q[6], 0);
			pte_write(&q[7], 0);
			a += (vi_pt_v4)((vi_pt_v4)(x0 & m) == zero);
			b += (vi_pt_v4)((vi_pt_v4)(x1 & m) == zero);
			a += (vi_pt_v4)((vi_pt_v4)(x2 & m) == zero);
			b += (vi_pt_v4)((vi_pt_v4)(x3 & m) == zero);
		}
		a += b;
		/* Lanes 0 and 2 are the low halves (the high ones always compare equal). */
		absent = -(a[0] + a[2]);
	}
	for (; q < e; q++) {
		absent += !(pte_read(q) & pm);
		pte_write(q, 0);
	}
	return n - absent;
}

/* Entries [0, n) = v, v + step, ...: one 8-byte store each, eight a turn (compilers do not unroll atomics). */
static inline void store_run(uint64_t *p, unsigned n, uint64_t v, uint64_t step)
{
	uint64_t *q = p, *e = p + n;

	for (; e - q >= 8; q += 8, v += 8 * step) {
		pte_write(&q[0], v);
		pte_write(&q[1], v + step);
		pte_write(&q[2], v + 2 * step);
		pte_write(&q[3], v + 3 * step);
		pte_write(&q[4], v + 4 * step);
		pte_write(&q[5], v + 5 * step);
		pte_write(&q[6], v + 6 * step);
		pte_write(&q[7], v + 7 * step);
	}
	for (; q < e; q++, v += step)
		pte_write(q, v);
}

static inline uint64_t *table_va(const struct viommu_pgtable *pt, uint64_t pte)
{
	return vi_pt_page_va(&pt->pages, pte & pt->c.oa_mask);
}

/* The walk's argument for the table a pointer entry leads to. */
static inline uint64_t table_addr(const struct viommu_pgtable *pt, uint64_t pte)
{
	return (uint64_t)(uintptr_t)table_va(pt, pte);
}

/*
 * Table or leaf, for a present entry of an owned table: the kind field equals
 * that of the pointers this code writes at @level (see table.h). Same answer
 * as vi_pt_is_table() on owned tables, one compare instead of a bitmap lookup.
 */
static inline bool owned_is_table(const struct viommu_pgtable *pt, unsigned level, uint64_t pte)
{
	return level > 0 && (pte & pt->kind_field) == pt->table_kind[level];
}

/* A zeroed table page and its descriptor address, or NULL. */
static uint64_t *table_alloc(struct viommu_pgtable *pt, uint64_t *phys)
{
	uint64_t *p = vi_pt_page_alloc(&pt->pages, phys);

	if (p)
		pt->table_pages++;
	return p;
}

/* An unlinked table page goes to the gather; it is freed after the flush. */
static void table_retire(struct viommu_pgtable *pt, struct vi_pt_gather *g, uint64_t *tbl)
{
	pt->table_pages--;
	vi_pt_gather_page(g, tbl);
}

/* A table page that was never reachable by a walker (or is being destroyed). */
static void table_free_now(struct viommu_pgtable *pt, uint64_t *tbl)
{
	pt->table_pages--;
	vi_pt_page_release(&pt->pages, tbl);
}

/* Free the table @tbl of @level and every table below it, now: never published, or the table is being destroyed. */
static void subtree_free_now(struct viommu_pgtable *pt, uint64_t *tbl, unsigned level)
{
	const struct vi_pt_cfg *c = &pt->c;
	struct vi_pt_walk w;

	/* Addresses do not matter here, only the shape: walk everything from 0. */
	vi_pt_walk_init(&w, c, (uint64_t)(uintptr_t)tbl, level, 0, 0, UINT64_MAX);
	vi_pt_walk_for_each(&w, st) {
		uint64_t e = pte_read(vi_pt_walk_ptep(&w));

		if (st == VI_PT_STEP_UP)
			table_free_now(pt, table_va(pt, e));	/* post-order: its children are gone */
		else if (vi_pt_present(c, e) && owned_is_table(pt, w.level, e))
			vi_pt_walk_down(&w, table_addr(pt, e));
	}
	table_free_now(pt, tbl);
}

static bool table_empty(const struct viommu_pgtable *pt, const uint64_t *tbl, unsigned level)
{
	return !entries_or(tbl, 0, vi_pt_entries(&pt->c, level));
}

/* ---- configuration -------------------------------------------------------- */

int vi_pt_opts_copy(struct viommu_pgtable_opts *dst, const struct viommu_pgtable_opts *src)
{
	if (!src) {
		memset(dst, 0, sizeof(*dst));
		vi_warn("viommu_pgtable_opts: NULL options (a format is required)");
		return -EINVAL;
	}
	if (!VI_OPTS_VALID(src, viommu_pgtable_opts)) {
		memset(dst, 0, sizeof(*dst));
		return -EINVAL;
	}
	VI_OPTS_COPY(dst, src);
	return 0;
}

int vi_pt_cfg_init(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o)
{
	uint64_t supported = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	c->format = o->format;
	switch (o->format) {
	case VIOMMU_PT_VTD_SL:
		c->fmt = &vi_pt_fmt_vtd;
		break;
	case VIOMMU_PT_ARM_S1:
	case VIOMMU_PT_ARM_S2:
		c->fmt = &vi_pt_fmt_arm;
		break;
	case VIOMMU_PT_AMD_V1:
		c->fmt = &vi_pt_fmt_amd;
		break;
	default:
		vi_warn("pgtable: unknown format %d", (int)o->format);
		return -EINVAL;
	}
	rc = c->fmt->init(c, o);
	if (rc) {
		vi_warn("pgtable %s: levels %u, granule %u, in_bits %u, out_bits %u: not a geometry of this format",
			c->fmt->name, o->levels, o->granule, o->in_bits, o->out_bits);
		return rc;
	}
	if (c->levels < 1 || c->levels > VI_PT_MAX_LEVELS || c->top_bits < 1 || c->top_bits > c->bits_per_level) {
		vi_warn("pgtable %s: %u levels with a %u-bit root: unsupported", c->fmt->name, c->levels, c->top_bits);
		return -EINVAL;
	}
	for (unsigned l = 0; l < c->levels; l++) {
		unsigned sh = c->granule_shift + l * c->bits_per_level, bits = vi_pt_level_bits(c, l);

		c->shift[l] = (uint8_t)sh;
		c->index_mask[l] = (uint32_t)vi_mask(bits);
		c->span_mask[l] = vi_mask(sh + bits);
	}
	c->oa_mask = vi_mask(c->out_bits) & ~vi_mask(c->granule_shift);
	for (unsigned l = 0; l < c->levels; l++)
		if (c->leaf_levels & (1u << l))
			supported |= UINT64_C(1) << vi_pt_shift(c, l);
	c->pgsize_bitmap = o->pgsize_bitmap ? supported & o->pgsize_bitmap : supported;
	/* The granule itself is needed: every boundary must be expressible. */
	if (!(c->pgsize_bitmap & (UINT64_C(1) << c->granule_shift))) {
		vi_warn("pgtable %s: page sizes 0x%" PRIx64 " leave out the granule 0x%" PRIx64
			" (supported here: 0x%" PRIx64 ")", c->fmt->name, o->pgsize_bitmap,
			UINT64_C(1) << c->granule_shift, supported);
		return -EINVAL;
	}
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

VIOMMU_API struct viommu_pgtable *viommu_pgtable_new(const struct viommu_pgtable_opts *opts)
{
	struct viommu_pgtable_opts o;
	struct viommu_pgtable *pt;
	int rc;

	rc = vi_pt_opts_copy(&o, opts);
	if (rc)
		return vi_null(-rc);
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return vi_null(ENOMEM);
	rc = vi_pt_cfg_init(&pt->c, &o);
	if (!rc && (o.unmap_policy > VIOMMU_PT_UNMAP_WHOLE_LEAF || o.inval_mode > VIOMMU_PT_INVAL_LAZY)) {
		vi_warn("pgtable new: unknown unmap policy %d or invalidation mode %d", (int)o.unmap_policy,
			(int)o.inval_mode);
		rc = -EINVAL;
	}
	if (!rc && o.mem && (!o.mem->alloc || !o.mem->free || !o.mem->virt_to_phys || !o.mem->phys_to_virt)) {
		vi_warn("pgtable new: mem hooks need all four of alloc, free, virt_to_phys, phys_to_virt");
		rc = -EINVAL;
	}
	if (rc) {
		free(pt);
		return vi_null(-rc);
	}
	pt->unmap_policy = o.unmap_policy;
	vi_pt_pages_init(&pt->pages, o.mem, vi_pt_page_size(&pt->c), pt->c.oa_mask);
	pt->fq = (struct vi_pt_fq){
		.mode = o.inval_mode,
		.flush = o.flush,
		.flush_ctx = o.flush_ctx,
		.clock = o.clock,
		.clock_ctx = o.clock_ctx,
		.max_ops = o.fq_entries ? o.fq_entries : 256,
		.timeout_ns = o.fq_timeout_ns ? o.fq_timeout_ns : 10000000u,
		.pages = &pt->pages,
	};
	for (unsigned perm = 0; perm < 8; perm++)
		for (unsigned l = 0; l < pt->c.levels; l++)
			pt->leaf_tmpl[perm][l] = pt->c.fmt->leaf_bits(&pt->c, l, perm);
	pt->kind_field = (uint64_t)pt->c.kind_mask << pt->c.kind_shift;
	for (unsigned l = 1; l < pt->c.levels; l++) {
		uint64_t tb = pt->c.fmt->table_bits(&pt->c, l);
		uint64_t lb = pt->c.fmt->leaf_bits(&pt->c, l, VIOMMU_PERM_READ);

		pt->table_bits[l] = tb;
		pt->table_kind[l] = tb & pt->kind_field;
		/* The owned-table fast test relies on this; a format breaking
		 * it is a bug, refused rather than miscounted. */
		if (!vi_pt_present(&pt->c, tb) || !vi_pt_is_table(&pt->c, l, tb) || vi_pt_is_table(&pt->c, l, lb) ||
		    (lb & pt->kind_field) == pt->table_kind[l]) {
			vi_warn("pgtable new: format %s: leaves and pointers at level %u are not told apart",
				pt->c.fmt->name, l);
			free(pt);
			return vi_null(EINVAL);
		}
	}
	pt->root = table_alloc(pt, &pt->root_phys);
	if (!pt->root) {
		vi_warn("pgtable new: out of memory for the root table");
		free(pt);
		return vi_null(ENOMEM);
	}
	return pt;
}

VIOMMU_API void viommu_pgtable_free(struct viommu_pgtable *pt)
{
	if (!pt)
		return;
	vi_pt_fq_drain(&pt->fq);
	subtree_free_now(pt, pt->root, pt->c.levels - 1);
	vi_pt_pages_fini(&pt->pages);
	free(pt);
}

VIOMMU_API uint64_t viommu_pgtable_root(const struct viommu_pgtable *pt)
{
	return pt->root_phys;
}

VIOMMU_API uint64_t viommu_pgtable_pgsize_bitmap(const struct viommu_pgtable *pt)
{
	return pt->c.pgsize_bitmap;
}

VIOMMU_API void viommu_pgtable_get_stats(const struct viommu_pgtable *pt, struct viommu_pgtable_stats *out)
{
	out->table_pages = pt->table_pages;
	out->pending_pages = pt->fq.npages;
	out->pending_ops = pt->fq.nops;
	out->flushes = pt->fq.flushes;
	out->pages_freed = pt->pages.freed;
}

VIOMMU_API void viommu_pgtable_flush(struct viommu_pgtable *pt)
{
	vi_pt_fq_drain(&pt->fq);
}

VIOMMU_API void viommu_pgtable_flush_poll(struct viommu_pgtable *pt)
{
	vi_pt_fq_poll(&pt->fq);
}

/* ---- argument checks ------------------------------------------------------ */

static inline uint64_t min_pgsize(const struct vi_pt_cfg *c)
{
	return c->pgsize_bitmap & -c->pgsize_bitmap;
}

/* The top IOVA the root translates (the input width may be narrower). */
static inline uint64_t top_last(const struct vi_pt_cfg *c)
{
	return vi_pt_table_last(c, c->levels - 1, 0);
}

/* Why check_iova_range() refused; out of line, off the fast path. */
static __attribute__((noinline, cold)) int iova_range_refused(const struct vi_pt_cfg *c, const char *op, uint64_t iova,
							      uint64_t size, int rc)
{
	if (!size)
		vi_warn("pgtable %s at 0x%" PRIx64 ": size 0", op, iova);
	else if (rc == -EINVAL)
		vi_warn("pgtable %s [0x%" PRIx64 ", 0x%" PRIx64 "]: not aligned to the smallest page (0x%" PRIx64 ")",
			op, iova, iova + (size - 1), min_pgsize(c));
	else
		vi_warn("pgtable %s at 0x%" PRIx64 " size 0x%" PRIx64 ": beyond the %u-bit input width", op, iova,
			size, c->in_bits);
	return rc;
}

/* [iova, iova + size - 1] inside the input width, size non-zero and page aligned; logs a refusal. */
static inline int check_iova_range(const struct vi_pt_cfg *c, const char *op, uint64_t iova, uint64_t size)
{
	uint64_t last = iova + (size - 1);

	if (!size || ((iova | size) & (min_pgsize(c) - 1)))
		return iova_range_refused(c, op, iova, size, -EINVAL);
	if (last < iova || vi_pt_beyond_input(c, last))
		return iova_range_refused(c, op, iova, size, -ERANGE);
	return 0;
}

/* ---- map ------------------------------------------------------------------ */

/*
 * Linux's iommu_pgsize() (drivers/iommu/iommu.c): the largest supported size
 * not above the remaining length nor the alignment of iova | paddr; the run of
 * such pages stops where a larger size would become usable.
 */
static uint64_t pgsize_pick(uint64_t bitmap, uint64_t iova, uint64_t paddr, uint64_t size, uint64_t *count)
{
	uint64_t addr_merge = iova | paddr;
	uint64_t pgsizes = bitmap & vi_mask(vi_fls64(size) + 1);
	uint64_t bigger;
	unsigned idx;

	if (addr_merge)
		pgsizes &= vi_mask(vi_ffs64(addr_merge) + 1);
	idx = vi_fls64(pgsizes);
	bigger = bitmap & ~vi_mask(idx + 1);
	if (bigger) {
		uint64_t next = UINT64_C(1) << vi_ffs64(bigger);
		if (!((iova ^ paddr) & (next - 1))) {
			uint64_t offset = next - (addr_merge & (next - 1));
			if (offset + next <= size)
				size = offset;
		}
	}
	*count = size >> idx;
	return UINT64_C(1) << idx;
}

static inline unsigned size_to_level(const struct vi_pt_cfg *c, uint64_t pgsize)
{
	return (vi_ffs64(pgsize) - c->granule_shift) / c->bits_per_level;
}

/*
 * Put the walk on the entry containing @va at @level, allocating the tables
 * missing on the way down. The walk climbs only out of the tables that do not
 * contain @va. Missing tables are allocated and linked privately, then
 * published with one store, so a failed allocation leaves nothing behind.
 * -EEXIST if a leaf above @level covers @va; -ENOMEM.
 */
static int seek_alloc(struct viommu_pgtable *pt, struct vi_pt_walk *w, uint64_t va, unsigned level)
{
	const struct vi_pt_cfg *c = &pt->c;
	uint64_t *fresh[VI_PT_MAX_LEVELS], fresh_pa[VI_PT_MAX_LEVELS], *ptep;
	unsigned l, k;

	vi_pt_walk_seek(w, va, level);
	while (w->level > level) {
		uint64_t e = pte_read(vi_pt_walk_ptep(w));

		if (!vi_pt_present(c, e))
			break;
		if (!owned_is_table(pt, w->level, e))
			return -EEXIST;
		vi_pt_walk_down(w, table_addr(pt, e));
	}
	if (w->level == level)
		return 0;
	/* Tables for levels l-1 .. level are missing. */
	l = w->level;
	ptep = vi_pt_walk_ptep(w);
	for (k = l; k-- > level;) {
		fresh[k] = table_alloc(pt, &fresh_pa[k]);
		if (!fresh[k]) {
			while (++k < l)
				table_free_now(pt, fresh[k]);
			return -ENOMEM;
		}
	}
	for (k = l - 1; k > level; k--)
		pte_write(&fresh[k][vi_pt_index(c, k, va)], pt->table_bits[k] | fresh_pa[k - 1]);
	pte_publish(ptep, pt->table_bits[l] | fresh_pa[l - 1]);
	for (k = l; k-- > level;)
		vi_pt_walk_down(w, (uint64_t)(uintptr_t)fresh[k]);
	return 0;
}

static void map_refused_exists(uint64_t iova, uint64_t size, uint64_t at, uint64_t at_size, uint64_t done)
{
	vi_warn("pgtable map [0x%" PRIx64 ", 0x%" PRIx64 "]: [0x%" PRIx64 ", 0x%" PRIx64 "] is already mapped"
		" (0x%" PRIx64 " bytes mapped before it)", iova, iova + (size - 1), at, at + (at_size - 1), done);
}

VIOMMU_API int viommu_pgtable_map(struct viommu_pgtable *pt, uint64_t iova, uint64_t paddr, uint64_t size,
				  unsigned perm, uint64_t *mapped)
{
	const unsigned known = VIOMMU_PERM_READ | VIOMMU_PERM_WRITE | VIOMMU_PT_ATTR_SNOOP;
	const struct vi_pt_cfg *c;
	struct vi_pt_walk w;
	struct vi_pt_gather g;
	uint64_t done = 0;
	int rc;

	if (mapped)
		*mapped = 0;
	if (!pt) {
		vi_warn("pgtable map: NULL table");
		return vi_errno(-EINVAL);
	}
	c = &pt->c;
	if (!(perm & VIOMMU_PERM_RW) || (perm & ~known)) {
		vi_warn("pgtable map at 0x%" PRIx64 " size 0x%" PRIx64 ": permissions 0x%x (%s)", iova, size, perm,
			perm & ~known ? "unknown bits" : "neither read nor write");
		return vi_errno(-EINVAL);
	}
	rc = check_iova_range(c, "map", iova, size);
	if (rc)
		return vi_errno(rc);
	if (paddr & (min_pgsize(c) - 1)) {
		vi_warn("pgtable map [0x%" PRIx64 ", 0x%" PRIx64 "] -> 0x%" PRIx64
			": output not aligned to the smallest page (0x%" PRIx64 ")", iova, iova + (size - 1), paddr,
			min_pgsize(c));
		return vi_errno(-EINVAL);
	}
	if (paddr + (size - 1) < paddr || ((paddr + (size - 1)) >> c->out_bits)) {
		vi_warn("pgtable map [0x%" PRIx64 ", 0x%" PRIx64 "] -> 0x%" PRIx64 ": output beyond the %u-bit width",
			iova, iova + (size - 1), paddr, c->out_bits);
		return vi_errno(-ERANGE);
	}
	if (pt->fq.mode == VIOMMU_PT_INVAL_LAZY) {
		vi_pt_fq_poll(&pt->fq);
		vi_pt_fq_check_overlap(&pt->fq, iova, iova + (size - 1));
	}
	vi_pt_walk_init(&w, c, (uint64_t)(uintptr_t)pt->root, c->levels - 1, 0, iova, iova + (size - 1));
	vi_pt_gather_init(&g);
	while (done < size) {
		uint64_t cur = iova + done, pa = paddr + done, count, pgsize, v, *p;
		unsigned level, n, i;

		pgsize = pgsize_pick(c->pgsize_bitmap, cur, pa, size - done, &count);
		level = size_to_level(c, pgsize);
		w.first = cur;	/* what is left of the range */
		rc = seek_alloc(pt, &w, cur, level);
		if (rc) {
			if (rc == -EEXIST)	/* a larger leaf covers cur: the walk is on it */
				map_refused_exists(iova, size, vi_pt_walk_va(&w), vi_pt_walk_size(&w), done);
			break;
		}
		p = vi_pt_walk_ptep(&w);
		n = vi_pt_walk_left(&w);
		if (count < n)
			n = (unsigned)count;
		v = pt->leaf_tmpl[perm][level] | pa;
		if (vi_likely(!entries_or(p, 0, n))) {
			/* The run is empty (a vectorised OR of plain reads: only this
			 * thread writes entries): one unrolled loop of 8-byte stores. */
			store_run(p, n, v, pgsize);
			i = n;
		} else {
			for (i = 0; i < n; i++, v += pgsize) {
				uint64_t e = pte_read(&p[i]);

				if (e) {
					/* generic_pt refuses a leaf over a non-empty table; an
					 * empty one (left by a failed map) is reclaimed. */
					uint64_t ebase = cur + (uint64_t)i * pgsize;

					if (!owned_is_table(pt, level, e) || !table_empty(pt, table_va(pt, e), level - 1)) {
						map_refused_exists(iova, size, ebase, pgsize, done + (uint64_t)i * pgsize);
						rc = -EEXIST;
						break;
					}
					pte_write(&p[i], 0);
					table_retire(pt, &g, table_va(pt, e));
					vi_pt_gather_range(&g, ebase, ebase + (pgsize - 1));
				}
				pte_write(&p[i], v);
			}
		}
		done += (uint64_t)i * pgsize;
		if (rc)
			break;
	}
	if (rc == -ENOMEM)
		vi_warn("pgtable map [0x%" PRIx64 ", 0x%" PRIx64 "]: out of memory for a table page (0x%" PRIx64
			" bytes mapped before it)", iova, iova + (size - 1), done);
	if (mapped)
		*mapped = done;
	if (g.nranges || g.npages)
		vi_pt_gather_finish(&pt->fq, &g);
	return vi_errno(rc);
}

/* ---- lookup (lock-free) --------------------------------------------------- */

/*
 * Walk to the entry mapping @iova: returns its level with *pte_out set and
 * @w on the entry, or -1 if @iova is unmapped.
 */
static inline __attribute__((always_inline)) int find_leaf(const struct viommu_pgtable *pt, struct vi_pt_walk *w,
							    uint64_t iova, uint64_t *pte_out)
{
	const struct vi_pt_cfg *c = &pt->c;

	unsigned l = c->levels - 1;
	uint64_t *p;

	vi_pt_walk_init_at(w, c, (uint64_t)(uintptr_t)pt->root, l, iova);
	p = vi_pt_walk_ptep(w);
	for (;;) {
		uint64_t e = pte_load(p), *t;

		if (!vi_pt_present(c, e))
			return -1;
		if (!owned_is_table(pt, l, e)) {
			*pte_out = e;
			return (int)l;
		}
		t = table_va(pt, e);
		vi_pt_walk_down_at(w, (uint64_t)(uintptr_t)t);
		/* vi_pt_walk_ptep(w), from registers: this is the lock-free
		 * readers' path, and reloading the state just stored would put
		 * a store-to-load round trip on every level's dependency chain. */
		l--;
		p = t + vi_pt_index(c, l, iova);
	}
}

VIOMMU_API int viommu_pgtable_lookup(const struct viommu_pgtable *pt, uint64_t iova, struct viommu_pt_mapping *out)
{
	const struct vi_pt_cfg *c = &pt->c;
	struct vi_pt_walk w;
	uint64_t e, size;
	int l;

	if (vi_pt_beyond_input(c, iova))
		return vi_errno(-ENOENT);
	l = find_leaf(pt, &w, iova, &e);
	if (l < 0)
		return vi_errno(-ENOENT);
	/* From the level, not the walk's state: nothing then reads the state,
	 * and the compiler drops its stores from this lock-free path. */
	size = UINT64_C(1) << vi_pt_shift(c, (unsigned)l);
	out->iova = iova & ~(size - 1);
	out->phys = e & c->oa_mask & ~(size - 1);
	out->size = size;
	out->perm = c->fmt->leaf_perm(c, (unsigned)l, e);
	return 0;
}

VIOMMU_API uint64_t viommu_pgtable_iova_to_phys(const struct viommu_pgtable *pt, uint64_t iova)
{
	const struct vi_pt_cfg *c = &pt->c;
	struct vi_pt_walk w;
	uint64_t e, size;

	int l;

	if (vi_pt_beyond_input(c, iova) || (l = find_leaf(pt, &w, iova, &e)) < 0)
		return 0;
	size = UINT64_C(1) << vi_pt_shift(c, (unsigned)l);
	return (e & c->oa_mask & ~(size - 1)) | (iova & (size - 1));
}

/* ---- iterate -------------------------------------------------------------- */

VIOMMU_API int viommu_pgtable_for_each(const struct viommu_pgtable *pt, uint64_t first, uint64_t last,
				       viommu_pt_leaf_fn fn, void *ctx)
{
	const struct vi_pt_cfg *c = &pt->c;
	struct vi_pt_walk w;

	if (first > last || !fn) {
		vi_warn("pgtable for_each [0x%" PRIx64 ", 0x%" PRIx64 "]: %s", first, last,
			fn ? "first > last" : "NULL callback");
		return vi_errno(-EINVAL);
	}
	if (first > top_last(c))
		return 0;
	vi_pt_walk_init(&w, c, (uint64_t)(uintptr_t)pt->root, c->levels - 1, 0, first, VI_MIN(last, top_last(c)));
	vi_pt_walk_for_each(&w, st) {
		uint64_t e;
		int rc;

		if (st == VI_PT_STEP_UP)
			continue;
		e = pte_load(vi_pt_walk_ptep(&w));
		if (!vi_pt_present(c, e))
			continue;
		if (owned_is_table(pt, w.level, e)) {
			vi_pt_walk_down(&w, table_addr(pt, e));
			continue;
		}
		struct viommu_pt_mapping m = {
			.iova = vi_pt_walk_va(&w),
			.phys = e & c->oa_mask & ~(vi_pt_walk_size(&w) - 1),
			.size = vi_pt_walk_size(&w),
			.perm = c->fmt->leaf_perm(c, w.level, e),
		};
		rc = fn(&m, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- unmap ---------------------------------------------------------------- */

/* What an unmap did inside one table it visited, for the work done when the walk climbs out of it. */
struct unmap_table {
	unsigned start;		/* first entry visited */
	bool removed;		/* a leaf went, here or below */
	bool leaves;		/* a leaf of this level went */
	bool kept;		/* a table below stays (not emptied) */
};

/*
 * The walk climbed out of the table @tbl of @level (state @s, visit @u):
 * invalidate the run of entries it cleared (holes included: over-
 * invalidation is always allowed), and say whether the table became empty.
 * Emptiness is only asked if something went, and first from the neighbours
 * of the visited run, so a dense table answers in one or two loads.
 */
static inline __attribute__((always_inline)) bool unmap_leave(struct viommu_pgtable *pt, const struct vi_pt_state *s, unsigned level,
			const struct unmap_table *u, struct vi_pt_gather *g)
{
	const struct vi_pt_cfg *c = &pt->c;
	const uint64_t *tbl = (const uint64_t *)(uintptr_t)s->table;
	unsigned sh = vi_pt_shift(c, level), n = vi_pt_entries(c, level);

	if (u->leaves)
		vi_pt_gather_range(g, s->base + ((uint64_t)u->start << sh),
				   s->end == n ? vi_pt_table_last(c, level, s->base)
					       : s->base + ((uint64_t)s->end << sh) - 1);
	if (!u->removed || u->kept)
		return false;
	if ((s->end < n && tbl[s->end]) || (u->start > 0 && tbl[u->start - 1]))
		return false;
	return !entries_or(tbl, 0, u->start) && !entries_or(tbl, s->end, n);
}

static void unmap_refused(uint64_t iova, uint64_t last, const char *why, uint64_t leaf, uint64_t leaf_size)
{
	vi_warn("pgtable unmap [0x%" PRIx64 ", 0x%" PRIx64 "]: %s the 0x%" PRIx64 "-byte leaf [0x%" PRIx64
		", 0x%" PRIx64 "]; nothing unmapped", iova, last, why, leaf_size, leaf, leaf + (leaf_size - 1));
}

VIOMMU_API int viommu_pgtable_unmap(struct viommu_pgtable *pt, uint64_t iova, uint64_t size, uint64_t *unmapped)
{
	const struct vi_pt_cfg *c;
	struct unmap_table u[VI_PT_MAX_LEVELS];
	struct vi_pt_gather g;
	struct vi_pt_walk w;
	uint64_t last, total = 0;
	int rc;

	if (unmapped)
		*unmapped = 0;
	if (!pt) {
		vi_warn("pgtable unmap: NULL table");
		return vi_errno(-EINVAL);
	}
	c = &pt->c;
	rc = check_iova_range(c, "unmap", iova, size);
	if (rc)
		return vi_errno(rc);
	last = iova + (size - 1);
	if (pt->fq.mode == VIOMMU_PT_INVAL_LAZY)
		vi_pt_fq_poll(&pt->fq);
	/*
	 * A leaf can straddle only the two ends of the range, and nothing may
	 * change if one does (the policy refuses it). The end is looked up
	 * first; the start is where the walk below arrives before it touches
	 * anything, so it is checked there.
	 */
	if (pt->unmap_policy == VIOMMU_PT_UNMAP_REFUSE_PARTIAL) {
		uint64_t e;
		int l = find_leaf(pt, &w, last, &e);

		if (l > 0 && ~last & vi_mask(vi_pt_shift(c, (unsigned)l))) {
			unmap_refused(iova, last, "ends inside", vi_pt_walk_va(&w), vi_pt_walk_size(&w));
			return vi_errno(-EINVAL);
		}
	}
	vi_pt_gather_init(&g);
	vi_pt_walk_init(&w, c, (uint64_t)(uintptr_t)pt->root, c->levels - 1, 0, iova, last);
	u[w.level] = (struct unmap_table){ .start = w.s[w.level].index };
	vi_pt_walk_for_each(&w, st) {
		unsigned l = w.level;
		uint64_t *p = vi_pt_walk_ptep(&w), e;

		if (st == VI_PT_STEP_UP) {
			/* Back from the table *p points to. */
			uint64_t *child = table_va(pt, pte_read(p));

			if (unmap_leave(pt, &w.s[l - 1], l - 1, &u[l - 1], &g)) {
				pte_write(p, 0);
				table_retire(pt, &g, child);
				/* Walk caches may hold the table: invalidate its whole span. */
				vi_pt_gather_range(&g, vi_pt_walk_va(&w), vi_pt_walk_va(&w) + (vi_pt_walk_size(&w) - 1));
			} else {
				u[l].kept = true;	/* the table below stays */
			}
			u[l].removed |= u[l - 1].removed;
			continue;
		}
		e = pte_read(p);
		if (l > 0 && vi_pt_present(c, e) && owned_is_table(pt, l, e)) {
			vi_pt_walk_down(&w, table_addr(pt, e));
			u[l - 1] = (struct unmap_table){ .start = w.s[l - 1].index };
			continue;
		}
		/* The first leaf of the walk is the one containing iova: nothing has changed yet. */
		if (l > 0 && vi_pt_present(c, e) && vi_pt_walk_va(&w) < iova) {
			unmap_refused(iova, last, "starts inside", vi_pt_walk_va(&w), vi_pt_walk_size(&w));
			return vi_errno(-EINVAL);
		}
		/*
		 * A run of leaves and holes up to the next table or the end of
		 * the range in this table: one tight loop clears and counts
		 * them. Absent entries of owned tables are 0, so storing 0 over
		 * them is harmless.
		 */
		unsigned n = vi_pt_walk_left(&w), i = 0, present = 0;
		uint64_t pm = c->present_mask;

		if (l == 0) {
			present = clear_run(p, n, pm);
			i = n;
		} else {
			uint64_t km = pt->kind_field, tk = pt->table_kind[l];

			for (; i < n; i++) {
				uint64_t x = pte_read(&p[i]);

				if ((x & pm) && (x & km) == tk)	/* owned_is_table(), hoisted */
					break;
				present += (x & pm) != 0;
				pte_write(&p[i], 0);
			}
		}
		if (present) {
			total += (uint64_t)present << vi_pt_shift(c, l);
			u[l].leaves = u[l].removed = true;
		}
		vi_pt_walk_consume(&w, i);
	}
	/* The root is never retired; its cleared run is invalidated. */
	unmap_leave(pt, &w.s[w.top], w.top, &u[w.top], &g);
	if (unmapped)
		*unmapped = total;
	vi_pt_gather_finish(&pt->fq, &g);
	return 0;
}

/* ---- cut ------------------------------------------------------------------ */

/*
 * Fill the fresh table @tbl of @level (translating from @base to output @pa)
 * with leaves translating identically to one leaf of the level above, making
 * @cut a boundary: the entry that @cut falls strictly inside, and entries of a
 * size the bitmap excludes, become subtables; the rest are filled a run at a
 * time. Nothing is published here.
 */
static int cut_fill(struct viommu_pgtable *pt, uint64_t *tbl, unsigned level, uint64_t base, uint64_t pa,
		    unsigned perm, uint64_t cut)
{
	const struct vi_pt_cfg *c = &pt->c;
	struct vi_pt_walk w;

	vi_pt_walk_init(&w, c, (uint64_t)(uintptr_t)tbl, level, base, base, vi_pt_table_last(c, level, base));
	vi_pt_walk_for_each(&w, st) {
		unsigned l = w.level, sh = vi_pt_walk_shift(&w), k = vi_pt_walk_left(&w);
		uint64_t va = vi_pt_walk_va(&w), cpa;
		uint64_t *child;

		if (st == VI_PT_STEP_UP)
			continue;
		/* The run of leaves up to the entry @cut falls strictly inside. */
		if (cut > va && ((cut - va) >> sh) < k && ((cut - va) & vi_mask(sh)))
			k = (unsigned)((cut - va) >> sh);
		if (((c->pgsize_bitmap >> sh) & 1) && k) {
			store_run(vi_pt_walk_ptep(&w), k, pt->leaf_tmpl[perm & 7][l] | (pa + (va - base)),
				  UINT64_C(1) << sh);
			vi_pt_walk_consume(&w, k);
			continue;
		}
		/* This entry becomes a table (linked before it is filled: the
		 * whole subtree is still private). */
		child = table_alloc(pt, &cpa);
		if (!child)
			return -ENOMEM;
		pte_write(vi_pt_walk_ptep(&w), pt->table_bits[l] | cpa);
		vi_pt_walk_down(&w, (uint64_t)(uintptr_t)child);
	}
	return 0;
}

VIOMMU_API int viommu_pgtable_cut(struct viommu_pgtable *pt, uint64_t iova)
{
	const struct vi_pt_cfg *c;
	struct vi_pt_gather g;
	struct vi_pt_walk w;
	uint64_t e, *ptep, size, base, pa, tpa;
	uint64_t *sub;
	unsigned perm;
	int l, rc;

	if (!pt) {
		vi_warn("pgtable cut: NULL table");
		return vi_errno(-EINVAL);
	}
	c = &pt->c;
	if (iova & (min_pgsize(c) - 1)) {
		vi_warn("pgtable cut at 0x%" PRIx64 ": not aligned to the smallest page (0x%" PRIx64 ")", iova,
			min_pgsize(c));
		return vi_errno(-EINVAL);
	}
	if (vi_pt_beyond_input(c, iova)) {
		vi_warn("pgtable cut at 0x%" PRIx64 ": beyond the %u-bit input width", iova, c->in_bits);
		return vi_errno(-ERANGE);
	}
	if (pt->fq.mode == VIOMMU_PT_INVAL_LAZY)
		vi_pt_fq_poll(&pt->fq);
	l = find_leaf(pt, &w, iova, &e);
	if (l <= 0)
		return 0;
	size = vi_pt_walk_size(&w);
	base = vi_pt_walk_va(&w);
	if (base == iova)
		return 0;
	ptep = vi_pt_walk_ptep(&w);
	pa = e & c->oa_mask & ~(size - 1);
	perm = c->fmt->leaf_perm(c, (unsigned)l, e);
	sub = table_alloc(pt, &tpa);
	rc = sub ? cut_fill(pt, sub, (unsigned)l - 1, base, pa, perm, iova) : -ENOMEM;
	if (rc) {
		if (sub)
			subtree_free_now(pt, sub, (unsigned)l - 1);
		vi_warn("pgtable cut at 0x%" PRIx64 " of the leaf [0x%" PRIx64 ", 0x%" PRIx64
			"]: out of memory for its subtree; nothing changed", iova, base, base + (size - 1));
		return vi_errno(rc);
	}
	/* The one store that swaps the leaf for its identical subtree. */
	pte_publish(ptep, pt->table_bits[l] | tpa);
	vi_pt_gather_init(&g);
	vi_pt_gather_range(&g, base, base + (size - 1));
	vi_pt_gather_finish(&pt->fq, &g);
	return 0;
}
