// SPDX-License-Identifier: MIT
/*
 * The page-table engine: map, unmap, cut, lookup and iterate, written once for
 * every format (the generic_pt idea, style.md). A format contributes only its
 * descriptor encoding and geometry through struct vi_pt_fmt.
 *
 * Performance rests on two things (semantics.md §2.5): a bulk map keeps its
 * walk position (the table of every level on the current path) across runs
 * instead of re-walking from the root, and a run of entries in one table is
 * filled in a tight loop with a precomputed leaf template OR-ed with the
 * output address, so no indirect call happens per entry.
 */
#include <stdlib.h>
#include <string.h>

#include "pgtable/engine.h"

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

/*
 * OR of entries [from, to): zero iff they are all empty. A plain (vectorised)
 * read is fine here: only the single writer calls it, and concurrent readers
 * only read.
 */
static inline uint64_t entries_or(const uint64_t *p, unsigned from, unsigned to)
{
	vi_pt_v2 a = { 0, 0 }, b = { 0, 0 }, x, y;
	uint64_t acc;
	unsigned i = from;

	for (; i + 4 <= to; i += 4) {
		__builtin_memcpy(&x, p + i, sizeof(x));
		__builtin_memcpy(&y, p + i + 2, sizeof(y));
		a |= x;
		b |= y;
	}
	a |= b;
	acc = a[0] | a[1];
	for (; i < to; i++)
		acc |= p[i];
	return acc;
}

static inline uint64_t *table_va(const struct viommu_pgtable *pt, uint64_t pte)
{
	uint64_t pa = pte & pt->c.oa_mask;

	if (pt->has_mem)
		return pt->mem.phys_to_virt(pt->mem.ctx, pa);
	return (uint64_t *)(uintptr_t)pa;
}

/*
 * Table or leaf, for a present entry of an owned table: the kind field equals
 * that of the pointers this engine writes at @level (see engine.h). Same
 * answer as vi_pt_is_table() on owned tables, one compare instead of a
 * bitmap lookup on the per-level walks and the per-entry unmap loop.
 */
static inline bool owned_is_table(const struct viommu_pgtable *pt, unsigned level, uint64_t pte)
{
	return level > 0 && (pte & pt->kind_field) == pt->table_kind[level];
}

static inline unsigned table_entries(const struct vi_pt_cfg *c, unsigned level)
{
	return 1u << vi_pt_level_bits(c, level);
}

/* A zeroed table page and its descriptor address, or NULL. */
static uint64_t *table_alloc(struct viommu_pgtable *pt, uint64_t *phys)
{
	size_t sz = vi_pt_page_size(&pt->c);
	uint64_t *p;
	uint64_t pa;

	if (pt->has_mem) {
		p = pt->mem.alloc(pt->mem.ctx, sz);
		if (!p)
			return NULL;
		pa = pt->mem.virt_to_phys(pt->mem.ctx, p);
	} else if (pt->pool) {
		p = pt->pool;
		pt->pool = (void *)(uintptr_t)p[0];
		pt->pool_n--;
		p[0] = 0;
		pa = (uint64_t)(uintptr_t)p;
	} else {
		p = aligned_alloc(sz, sz);
		if (!p)
			return NULL;
		memset(p, 0, sz);
		pa = (uint64_t)(uintptr_t)p;
	}
	/* The page must be addressable by a descriptor of this format. */
	if (pa & ~pt->c.oa_mask) {
		if (pt->has_mem)
			pt->mem.free(pt->mem.ctx, p, sz);
		else
			free(p);
		return NULL;
	}
	*phys = pa;
	pt->table_pages++;
	return p;
}

/* An unlinked table page goes to the gather; it is freed after the flush. */
static void table_retire(struct viommu_pgtable *pt, struct vi_pt_gather *g, uint64_t *tbl)
{
	pt->table_pages--;
	vi_pt_gather_page(g, tbl);
}

/* Free a subtree that was never published (or is being destroyed). */
static void subtree_free_now(struct viommu_pgtable *pt, uint64_t *tbl, unsigned level)
{
	if (level > 0) {
		unsigned n = table_entries(&pt->c, level);
		for (unsigned i = 0; i < n; i++) {
			uint64_t e = pte_read(&tbl[i]);
			if (vi_pt_present(&pt->c, e) && owned_is_table(pt, level, e))
				subtree_free_now(pt, table_va(pt, e), level - 1);
		}
	}
	pt->table_pages--;
	vi_pt_page_release(pt, tbl);
}

static bool table_empty(const struct viommu_pgtable *pt, const uint64_t *tbl, unsigned level)
{
	return !entries_or(tbl, 0, table_entries(&pt->c, level));
}

/* ---- configuration -------------------------------------------------------- */

int vi_pt_opts_copy(struct viommu_pgtable_opts *dst, const struct viommu_pgtable_opts *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src || src->sz < offsetof(struct viommu_pgtable_opts, levels))
		return -EINVAL;
	/* Fields a newer caller knows but we do not must be zero. */
	if (src->sz > sizeof(*dst)) {
		const unsigned char *extra = (const unsigned char *)src + sizeof(*dst);
		for (size_t i = 0; i < src->sz - sizeof(*dst); i++)
			if (extra[i])
				return -EINVAL;
	}
	memcpy(dst, src, VI_MIN(src->sz, sizeof(*dst)));
	dst->sz = sizeof(*dst);
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
		return -EINVAL;
	}
	rc = c->fmt->init(c, o);
	if (rc)
		return rc;
	if (c->levels < 1 || c->levels > VI_PT_MAX_LEVELS || c->top_bits < 1 || c->top_bits > c->bits_per_level)
		return -EINVAL;
	c->oa_mask = vi_mask(c->oas) & ~vi_mask(c->granule_shift);
	for (unsigned l = 0; l < c->levels; l++)
		if (c->leaf_levels & (1u << l))
			supported |= UINT64_C(1) << vi_pt_shift(c, l);
	c->pgsize_bitmap = o->pgsize_bitmap ? supported & o->pgsize_bitmap : supported;
	/* The granule itself is needed: every boundary must be expressible. */
	if (!(c->pgsize_bitmap & (UINT64_C(1) << c->granule_shift)))
		return -EINVAL;
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
	if (!rc && (o.unmap_policy > VIOMMU_PT_UNMAP_WHOLE_LEAF || o.inval_mode > VIOMMU_PT_INVAL_LAZY))
		rc = -EINVAL;
	if (!rc && o.mem) {
		if (!o.mem->alloc || !o.mem->free || !o.mem->virt_to_phys || !o.mem->phys_to_virt)
			rc = -EINVAL;
		pt->mem = *o.mem;
		pt->has_mem = true;
	}
	if (rc) {
		free(pt);
		return vi_null(-rc);
	}
	pt->unmap_policy = o.unmap_policy;
	pt->inval_mode = o.inval_mode;
	pt->flush = o.flush;
	pt->flush_ctx = o.flush_ctx;
	pt->fq_entries = o.fq_entries ? o.fq_entries : 256;
	pt->fq_timeout_ns = o.fq_timeout_ns ? o.fq_timeout_ns : 10000000u;
	pt->clock = o.clock;
	pt->clock_ctx = o.clock_ctx;
	pt->kind_field = (uint64_t)pt->c.kind_mask << pt->c.kind_shift;
	for (unsigned l = 1; l < pt->c.levels; l++) {
		uint64_t tb = pt->c.fmt->table_bits(&pt->c, l);
		uint64_t lb = pt->c.fmt->leaf_bits(&pt->c, l, VIOMMU_PT_PROT_READ);

		pt->table_bits[l] = tb;
		pt->table_kind[l] = tb & pt->kind_field;
		/* The owned-table fast test below relies on this; a format
		 * breaking it is a bug, refused rather than miscounted. */
		if (!vi_pt_present(&pt->c, tb) || !vi_pt_is_table(&pt->c, l, tb) || vi_pt_is_table(&pt->c, l, lb) ||
		    (lb & pt->kind_field) == pt->table_kind[l]) {
			free(pt);
			return vi_null(EINVAL);
		}
	}
	pt->pool_max = pt->has_mem ? 0 : VI_MAX(4u, (256u << 10) >> pt->c.granule_shift);
	pt->root = table_alloc(pt, &pt->root_phys);
	if (!pt->root) {
		free(pt);
		return vi_null(ENOMEM);
	}
	return pt;
}

VIOMMU_API void viommu_pgtable_free(struct viommu_pgtable *pt)
{
	if (!pt)
		return;
	vi_pt_fq_drain(pt);
	subtree_free_now(pt, pt->root, pt->c.levels - 1);
	while (pt->pool) {
		uint64_t *p = pt->pool;
		pt->pool = (void *)(uintptr_t)p[0];
		free(p);
	}
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
	out->flushes = pt->flushes;
	out->pages_freed = pt->pages_freed;
}

VIOMMU_API void viommu_pgtable_flush(struct viommu_pgtable *pt)
{
	vi_pt_fq_drain(pt);
}

VIOMMU_API void viommu_pgtable_flush_poll(struct viommu_pgtable *pt)
{
	vi_pt_fq_poll(pt);
}

/* ---- argument checks ------------------------------------------------------ */

static inline uint64_t min_pgsize(const struct vi_pt_cfg *c)
{
	return c->pgsize_bitmap & -c->pgsize_bitmap;
}

/* [iova, iova + size - 1] inside the input width, size non-zero and page aligned. */
static int check_iova_range(const struct vi_pt_cfg *c, uint64_t iova, uint64_t size)
{
	uint64_t last;

	if (!size || ((iova | size) & (min_pgsize(c) - 1)))
		return -EINVAL;
	last = iova + size - 1;
	if (last < iova || vi_pt_beyond_ias(c, last))
		return -ERANGE;
	return 0;
}

/* ---- map ------------------------------------------------------------------ */

/*
 * Linux's iommu_pgsize() (semantics.md §2.1): the largest supported size not
 * above the remaining length nor the alignment of iova | paddr; the run of
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

/* The tables on the current path, kept across runs of one bulk operation. */
struct walk_pos {
	uint64_t *tbl[VI_PT_MAX_LEVELS];
	uint64_t tag[VI_PT_MAX_LEVELS];	/* iova >> shift(l + 1): which table tbl[l] is */
	uint32_t valid;			/* bit l: tbl[l] and tag[l] are set */
};

/*
 * The table at @level covering @iova, allocating missing tables on the way
 * down. Starts from the lowest level of @pos still on the path. Missing
 * tables are allocated and linked privately, then published with one store,
 * so a failed allocation leaves nothing behind (semantics.md §2.2).
 * -EEXIST if a leaf above @level covers @iova; -ENOMEM.
 */
static int descend(struct viommu_pgtable *pt, struct walk_pos *pos, uint64_t iova, unsigned level,
		   uint64_t **out)
{
	const struct vi_pt_cfg *c = &pt->c;
	unsigned top = c->levels - 1, l = level;
	uint64_t *tbl, *fresh[VI_PT_MAX_LEVELS], fresh_pa[VI_PT_MAX_LEVELS];

	while (l < top && !((pos->valid >> l) & 1 && pos->tag[l] == iova >> vi_pt_shift(c, l + 1)))
		l++;
	tbl = l == top ? pt->root : pos->tbl[l];
	while (l > level) {
		uint64_t e = pte_read(&tbl[vi_pt_index(c, l, iova)]);

		if (!vi_pt_present(c, e))
			break;
		if (!owned_is_table(pt, l, e))
			return -EEXIST;
		tbl = table_va(pt, e);
		l--;
		pos->tbl[l] = tbl;
		pos->tag[l] = iova >> vi_pt_shift(c, l + 1);
		pos->valid |= 1u << l;
	}
	if (l > level) {
		/* Tables for levels l-1 .. level are missing. */
		for (unsigned k = l; k-- > level;) {
			fresh[k] = table_alloc(pt, &fresh_pa[k]);
			if (!fresh[k]) {
				while (++k < l) {
					pt->table_pages--;
					vi_pt_page_release(pt, fresh[k]);
				}
				return -ENOMEM;
			}
		}
		for (unsigned k = l - 1; k > level; k--)
			pte_write(&fresh[k][vi_pt_index(c, k, iova)], pt->table_bits[k] | fresh_pa[k - 1]);
		pte_publish(&tbl[vi_pt_index(c, l, iova)], pt->table_bits[l] | fresh_pa[l - 1]);
		for (unsigned k = l; k-- > level;) {
			pos->tbl[k] = fresh[k];
			pos->tag[k] = iova >> vi_pt_shift(c, k + 1);
			pos->valid |= 1u << k;
		}
		tbl = fresh[level];
	}
	*out = tbl;
	return 0;
}

VIOMMU_API int viommu_pgtable_map(struct viommu_pgtable *pt, uint64_t iova, uint64_t paddr, uint64_t size,
				  unsigned prot, uint64_t *mapped)
{
	const struct vi_pt_cfg *c;
	uint64_t tmpl[VI_PT_MAX_LEVELS];
	uint32_t have_tmpl = 0;
	struct walk_pos pos;
	struct vi_pt_gather g;
	uint64_t done = 0;
	int rc;

	if (mapped)
		*mapped = 0;
	if (!pt)
		return vi_errno(-EINVAL);
	c = &pt->c;
	if (!(prot & (VIOMMU_PT_PROT_READ | VIOMMU_PT_PROT_WRITE)) ||
	    (prot & ~(VIOMMU_PT_PROT_READ | VIOMMU_PT_PROT_WRITE | VIOMMU_PT_PROT_SNOOP)))
		return vi_errno(-EINVAL);
	rc = check_iova_range(c, iova, size);
	if (!rc && (paddr & (min_pgsize(c) - 1)))
		rc = -EINVAL;
	if (rc)
		return vi_errno(rc);
	if (paddr + size - 1 < paddr || ((paddr + size - 1) >> c->oas))
		return vi_errno(-ERANGE);
	if (pt->inval_mode == VIOMMU_PT_INVAL_LAZY) {
		vi_pt_fq_poll(pt);
		vi_pt_fq_check_overlap(pt, iova, iova + size - 1);
	}
	pos.valid = 0;
	vi_pt_gather_init(&g);
	while (done < size) {
		uint64_t cur = iova + done, pa = paddr + done, count, pgsize, t;
		unsigned level, idx, n, i;
		uint64_t *tbl;

		pgsize = pgsize_pick(c->pgsize_bitmap, cur, pa, size - done, &count);
		level = size_to_level(c, pgsize);
		rc = descend(pt, &pos, cur, level, &tbl);
		if (rc)
			break;
		if (!(have_tmpl & (1u << level))) {
			tmpl[level] = c->fmt->leaf_bits(c, level, prot);
			have_tmpl |= 1u << level;
		}
		t = tmpl[level];
		idx = vi_pt_index(c, level, cur);
		n = table_entries(c, level) - idx;
		if (count < n)
			n = (unsigned)count;
		/* Fast path: the whole run is empty (a plain OR-reduction the
		 * compiler can vectorise; only this thread writes entries), then
		 * one tight store loop. */
		if (vi_likely(!entries_or(tbl, idx, idx + n))) {
			uint64_t v = t | pa;
			for (i = 0; i < n; i++, v += pgsize)
				pte_write(&tbl[idx + i], v);
		} else {
			for (i = 0; i < n; i++) {
				uint64_t *ptep = &tbl[idx + i];
				uint64_t e = pte_read(ptep);

				if (e) {
					/* generic_pt refuses a leaf over a non-empty table; an
					 * empty one (left by a failed map) is reclaimed. */
					if (!owned_is_table(pt, level, e) || !table_empty(pt, table_va(pt, e), level - 1)) {
						rc = -EEXIST;
						break;
					}
					uint64_t ebase = cur + ((uint64_t)i << vi_pt_shift(c, level));
					pte_write(ptep, 0);
					table_retire(pt, &g, table_va(pt, e));
					vi_pt_gather_range(&g, ebase, ebase + pgsize - 1);
					pos.valid &= ~(uint32_t)vi_mask(level);
				}
				pte_write(ptep, t | (pa + (uint64_t)i * pgsize));
			}
		}
		done += (uint64_t)i * pgsize;
		if (rc)
			break;
	}
	if (mapped)
		*mapped = done;
	vi_pt_gather_finish(pt, &g);
	return vi_errno(rc);
}

/* ---- lookup (lock-free) --------------------------------------------------- */

/*
 * Find the entry mapping @iova: returns its level and value, or -1 if there
 * is none. *ptep_out (optional) receives the entry's address.
 */
static int find_leaf(const struct viommu_pgtable *pt, uint64_t iova, uint64_t *pte_out, uint64_t **ptep_out)
{
	const struct vi_pt_cfg *c = &pt->c;
	uint64_t *tbl = pt->root;

	for (int l = (int)c->levels - 1; l >= 0; l--) {
		uint64_t *ptep = &tbl[vi_pt_index(c, (unsigned)l, iova)];
		uint64_t e = pte_load(ptep);

		if (!vi_pt_present(c, e))
			return -1;
		if (!owned_is_table(pt, (unsigned)l, e)) {
			*pte_out = e;
			if (ptep_out)
				*ptep_out = ptep;
			return l;
		}
		tbl = table_va(pt, e);
	}
	return -1;
}

VIOMMU_API int viommu_pgtable_lookup(const struct viommu_pgtable *pt, uint64_t iova, struct viommu_pt_mapping *out)
{
	const struct vi_pt_cfg *c = &pt->c;
	uint64_t e, size;
	int l;

	if (vi_pt_beyond_ias(c, iova))
		return vi_errno(-ENOENT);
	l = find_leaf(pt, iova, &e, NULL);
	if (l < 0)
		return vi_errno(-ENOENT);
	size = UINT64_C(1) << vi_pt_shift(c, (unsigned)l);
	out->iova = iova & ~(size - 1);
	out->phys = e & c->oa_mask & ~(size - 1);
	out->size = size;
	out->prot = c->fmt->leaf_prot(c, (unsigned)l, e);
	return 0;
}

VIOMMU_API uint64_t viommu_pgtable_iova_to_phys(const struct viommu_pgtable *pt, uint64_t iova)
{
	const struct vi_pt_cfg *c = &pt->c;
	uint64_t e, size;
	int l;

	if (vi_pt_beyond_ias(c, iova))
		return 0;
	l = find_leaf(pt, iova, &e, NULL);
	if (l < 0)
		return 0;
	size = UINT64_C(1) << vi_pt_shift(c, (unsigned)l);
	return (e & c->oa_mask & ~(size - 1)) | (iova & (size - 1));
}

/* ---- iterate -------------------------------------------------------------- */

static int iter_level(const struct viommu_pgtable *pt, const uint64_t *tbl, unsigned level, uint64_t base,
		      uint64_t first, uint64_t last, viommu_pt_leaf_fn fn, void *ctx)
{
	const struct vi_pt_cfg *c = &pt->c;
	unsigned sh = vi_pt_shift(c, level);
	uint64_t span_last = base + (((uint64_t)table_entries(c, level)) << sh) - 1;
	unsigned i0 = first > base ? vi_pt_index(c, level, first) : 0;
	unsigned i1 = last < span_last ? vi_pt_index(c, level, last) : table_entries(c, level) - 1;

	for (unsigned i = i0; i <= i1; i++) {
		uint64_t e = pte_load(&tbl[i]);
		uint64_t ebase = base + ((uint64_t)i << sh);
		int rc;

		if (!vi_pt_present(c, e))
			continue;
		if (owned_is_table(pt, level, e)) {
			rc = iter_level(pt, table_va(pt, e), level - 1, ebase, first, last, fn, ctx);
		} else {
			struct viommu_pt_mapping m = {
				.iova = ebase,
				.phys = e & c->oa_mask & ~vi_mask(sh),
				.size = UINT64_C(1) << sh,
				.prot = c->fmt->leaf_prot(c, level, e),
			};
			rc = fn(&m, ctx);
		}
		if (rc)
			return rc;
	}
	return 0;
}

VIOMMU_API int viommu_pgtable_for_each(const struct viommu_pgtable *pt, uint64_t first, uint64_t last,
				       viommu_pt_leaf_fn fn, void *ctx)
{
	const struct vi_pt_cfg *c = &pt->c;
	uint64_t top_last = vi_mask(vi_pt_shift(c, c->levels - 1) + c->top_bits);

	if (first > last || !fn)
		return vi_errno(-EINVAL);
	if (first > top_last)
		return 0;
	if (last > top_last)
		last = top_last;
	return iter_level(pt, pt->root, c->levels - 1, 0, first, last, fn, ctx);
}

/* ---- unmap ---------------------------------------------------------------- */

/*
 * Remove the leaves of [first, last] below @tbl (covering from @base). The
 * caller guarantees no leaf starts before @first; a leaf running past @last
 * is removed whole (the policy check happened before). Tables emptied by the
 * removal are unlinked and retired. Returns the bytes removed.
 */
static uint64_t unmap_level(struct viommu_pgtable *pt, uint64_t *tbl, unsigned level, uint64_t base,
			    uint64_t first, uint64_t last, struct vi_pt_gather *g, bool *emptied)
{
	const struct vi_pt_cfg *c = &pt->c;
	unsigned sh = vi_pt_shift(c, level);
	uint64_t esize = UINT64_C(1) << sh;
	unsigned n = table_entries(c, level);
	uint64_t span_last = base + (((uint64_t)n) << sh) - 1;
	unsigned i0 = first > base ? vi_pt_index(c, level, first) : 0;
	unsigned i1 = last < span_last ? vi_pt_index(c, level, last) : n - 1;
	uint64_t total = 0;
	bool kept = false;	/* an entry inside [i0, i1] stays (a non-empty subtable) */

	/*
	 * One pass clears the leaves of the run and counts them; subtables are
	 * only counted here and handled after. Absent entries of owned tables
	 * are 0, so storing 0 over them is harmless, and the invalidation
	 * covers the run including holes (over-invalidation is always allowed,
	 * semantics.md §6.1). This is the bulk path: no call, no branch on the
	 * common case.
	 */
	uint64_t pm = c->present_mask, km = pt->kind_field, tk = pt->table_kind[level];
	unsigned present = 0, tables = 0;

	for (unsigned i = i0; i <= i1; i++) {
		uint64_t e = tbl[i];
		if (level > 0 && (e & pm) && (e & km) == tk) {	/* owned_is_table(), hoisted */
			tables++;
			continue;
		}
		present += (e & pm) != 0;
		pte_write(&tbl[i], 0);
	}
	total = (uint64_t)present << sh;
	if (present)
		vi_pt_gather_range(g, base + ((uint64_t)i0 << sh), base + ((uint64_t)(i1 + 1) << sh) - 1);
	for (unsigned i = i0; tables && i <= i1; i++) {
		uint64_t *ptep = &tbl[i];
		uint64_t e = pte_read(ptep);
		uint64_t ebase = base + ((uint64_t)i << sh);
		uint64_t *child;
		bool child_empty = false;

		if (!e)
			continue;
		tables--;
		child = table_va(pt, e);
		total += unmap_level(pt, child, level - 1, ebase, first, last, g, &child_empty);
		if (!child_empty) {
			kept = true;
			continue;
		}
		pte_write(ptep, 0);
		table_retire(pt, g, child);
		/* Walk caches may hold the table: invalidate its whole span. */
		vi_pt_gather_range(g, ebase, ebase + esize - 1);
	}
	/* Did this table become empty? Only worth asking if we removed
	 * something; look at the neighbours of the cleared run first, so a
	 * dense table answers in one or two loads. */
	*emptied = false;
	if (total && !kept && (i1 + 1 >= n || !tbl[i1 + 1]) && (i0 == 0 || !tbl[i0 - 1]))
		*emptied = !entries_or(tbl, 0, i0) && !entries_or(tbl, i1 + 1, n);
	return total;
}

VIOMMU_API int viommu_pgtable_unmap(struct viommu_pgtable *pt, uint64_t iova, uint64_t size, uint64_t *unmapped)
{
	const struct vi_pt_cfg *c;
	struct vi_pt_gather g;
	uint64_t last, e, total;
	int rc, l;

	if (unmapped)
		*unmapped = 0;
	if (!pt)
		return vi_errno(-EINVAL);
	c = &pt->c;
	rc = check_iova_range(c, iova, size);
	if (rc)
		return vi_errno(rc);
	last = iova + size - 1;
	if (pt->inval_mode == VIOMMU_PT_INVAL_LAZY)
		vi_pt_fq_poll(pt);
	/* A leaf can straddle only the two ends of the range: check them first so
	 * a refused unmap changes nothing (semantics.md §2.3). */
	l = find_leaf(pt, iova, &e, NULL);
	if (l > 0 && (iova & vi_mask(vi_pt_shift(c, (unsigned)l))))
		return vi_errno(-EINVAL);
	if (pt->unmap_policy == VIOMMU_PT_UNMAP_REFUSE_PARTIAL) {
		l = find_leaf(pt, last, &e, NULL);
		if (l > 0 && ~last & vi_mask(vi_pt_shift(c, (unsigned)l)))
			return vi_errno(-EINVAL);
	}
	vi_pt_gather_init(&g);
	bool root_empty;
	total = unmap_level(pt, pt->root, c->levels - 1, 0, iova, last, &g, &root_empty);
	if (unmapped)
		*unmapped = total;
	vi_pt_gather_finish(pt, &g);
	return 0;
}

/* ---- cut ------------------------------------------------------------------ */

/*
 * Fill the fresh table @tbl at @level (covering from @base, output @pa) with
 * leaves translating identically to one leaf of the level above, making
 * @cut a boundary: the entry that @cut falls strictly inside, and entries of
 * a size the bitmap excludes, become subtables. Nothing is published here.
 */
static int cut_fill(struct viommu_pgtable *pt, uint64_t *tbl, unsigned level, uint64_t base, uint64_t pa,
		    unsigned prot, uint64_t cut)
{
	const struct vi_pt_cfg *c = &pt->c;
	unsigned sh = vi_pt_shift(c, level);
	uint64_t esize = UINT64_C(1) << sh;
	bool leaf_ok = (c->pgsize_bitmap >> sh) & 1;
	uint64_t t = c->fmt->leaf_bits(c, level, prot);
	unsigned n = table_entries(c, level);

	for (unsigned i = 0; i < n; i++) {
		uint64_t ebase = base + ((uint64_t)i << sh), epa = pa + ((uint64_t)i << sh);

		if (leaf_ok && !(cut > ebase && cut - ebase < esize)) {
			pte_write(&tbl[i], t | epa);
		} else {
			uint64_t cpa;
			uint64_t *child = table_alloc(pt, &cpa);
			if (!child)
				return -ENOMEM;
			/* Linked before it is filled: the whole subtree is still private. */
			pte_write(&tbl[i], pt->table_bits[level] | cpa);
			int rc = cut_fill(pt, child, level - 1, ebase, epa, prot, cut);
			if (rc)
				return rc;
		}
	}
	return 0;
}

VIOMMU_API int viommu_pgtable_cut(struct viommu_pgtable *pt, uint64_t iova)
{
	const struct vi_pt_cfg *c;
	struct vi_pt_gather g;
	uint64_t e, *ptep, size, base, pa, tpa;
	uint64_t *sub;
	unsigned prot;
	int l, rc;

	if (!pt)
		return vi_errno(-EINVAL);
	c = &pt->c;
	if (iova & (min_pgsize(c) - 1))
		return vi_errno(-EINVAL);
	if (vi_pt_beyond_ias(c, iova))
		return vi_errno(-ERANGE);
	if (pt->inval_mode == VIOMMU_PT_INVAL_LAZY)
		vi_pt_fq_poll(pt);
	l = find_leaf(pt, iova, &e, &ptep);
	if (l <= 0)
		return 0;
	size = UINT64_C(1) << vi_pt_shift(c, (unsigned)l);
	if (!(iova & (size - 1)))
		return 0;
	base = iova & ~(size - 1);
	pa = e & c->oa_mask & ~(size - 1);
	prot = c->fmt->leaf_prot(c, (unsigned)l, e);
	sub = table_alloc(pt, &tpa);
	if (!sub)
		return vi_errno(-ENOMEM);
	rc = cut_fill(pt, sub, (unsigned)l - 1, base, pa, prot, iova);
	if (rc) {
		subtree_free_now(pt, sub, (unsigned)l - 1);
		return vi_errno(rc);
	}
	/* The one store that swaps the leaf for its identical subtree. */
	pte_publish(ptep, pt->table_bits[l] | tpa);
	vi_pt_gather_init(&g);
	vi_pt_gather_range(&g, base, base + size - 1);
	vi_pt_gather_finish(pt, &g);
	return 0;
}
