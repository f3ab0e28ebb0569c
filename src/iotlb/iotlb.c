// SPDX-License-Identifier: MIT
/*
 * The IOTLB (include/viommu/iotlb.h): entries stored inline in an
 * open-addressing table (linear probing, at most half full), a context pool,
 * one range map per (source, domain) for range invalidation, CLOCK
 * replacement, and a sequence lock that lets lookups run without taking or
 * writing any shared lock.
 *
 * Lookup path (readers): seq -> context hash (source, domain) -> the set of
 * leaf sizes present in that context -> one table probe per size (usually
 * one cache line: the entry is in the table, not behind a pointer) -> seq
 * re-check. Everything a reader touches lives in arrays allocated once
 * at creation and never freed before viommu_iotlb_free(), so a reader that
 * races with a writer reads stale but in-bounds data, and the sequence
 * check makes it retry. All fields a reader reads are accessed with relaxed
 * atomics (writers store them atomically) so the races are defined
 * behaviour and TSan-clean.
 *
 * Writer path: the mutex, then seq becomes odd for the duration of the
 * change and even again (release) at the end. A lookup that starts after an
 * invalidation returned reads the even seq published by it (or a later one)
 * and therefore only the state after the removal.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/iotlb.h>
#include <viommu/rangemap.h>

#include "util/compiler.h"

#define NIL UINT32_MAX
#define MAX_CAPACITY (UINT32_C(1) << 28)
#define DEFAULT_CAPACITY 4096
#define NSTRIPE 16

/*
 * The sequence lock's ordering: readers' data loads must not move after the
 * closing seq load, writers' data stores must not move before the opening
 * seq store. Normally relaxed accesses plus one fence on each side (free on
 * x86). TSan does not model fences (GCC refuses them), so under TSan every
 * data load is acquire and every data store release, which orders the same
 * accesses in a way TSan sees.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VI_IOTLB_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(VI_IOTLB_TSAN)
#define LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define SEQ_FENCE(order) ((void)0)
#else
#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define SEQ_FENCE(order) __atomic_thread_fence(order)
#endif

/*
 * One cell of the entry table: a cached leaf, or empty (ctx == NIL). The
 * key is (ctx, order, iova); source and domain are the context's. Fields
 * are written with ST() under the writer lock; @ref is also written by
 * readers. Invariant (linear probing): between a live cell's home bucket
 * and the cell there is no empty cell, which deletion keeps by shifting
 * later cells back (and updating their index in their context's map).
 */
struct iotlb_cell {
	uint64_t iova, output;
	uint32_t ctx;		/* owning context index, NIL when empty */
	uint8_t order, perm;
	uint8_t ref;		/* CLOCK referenced bit: set by hits, cleared by the hand */
	uint8_t pad;
} __attribute__((aligned(32)));	/* two cells per cache line, never straddling */

/*
 * The reader-visible part of a (source, domain) context. @orders has bit o
 * set iff the context holds at least one entry of size 2^o. A live context
 * holds at least one entry (it is freed with its last one), so live
 * contexts never outnumber cached entries and a pool of capacity suffices.
 */
struct iotlb_ctx {
	uint32_t source, domain;
	uint64_t orders;
	uint32_t hnext;		/* context-hash chain, or free list */
};

/*
 * The writer-only part of a live context, allocated with it. @map holds
 * each entry's [iova, iova + size - 1] -> cell index; entries of one
 * context are disjoint (insert removes overlaps). The d/s/a links chain the
 * context into the by-domain and by-source hash buckets and the list of all
 * live contexts.
 */
struct iotlb_ctxw {
	struct viommu_rangemap *map;
	uint32_t dprev, dnext, sprev, snext, aprev, anext;
	uint32_t count;
	uint32_t ocount[64];	/* entries per order */
};

struct iotlb_key {
	uint64_t iova;
	unsigned order;
};

struct iotlb_stripe {
	uint64_t hits, misses;
} __attribute__((aligned(64)));

/*
 * Locking: the fields of the first group are set at creation and never
 * change; the arrays they point to are written only under @lock, inside a
 * seq write section, and read by lookups without it. @seq is written only
 * under @lock. Everything after @lock is writer-only, protected by it,
 * except the stripes, updated with atomic adds by readers.
 */
struct viommu_iotlb {
	uint32_t cap, bmask, tmask;
	struct iotlb_cell *cell;	/* [tmask + 1] >= 2 * cap: the entries */
	struct iotlb_ctx *ctx;		/* [cap] */
	uint32_t *chead;		/* [bmask + 1] context-hash buckets */
	viommu_iotlb_evict_fn on_evict;
	void *evict_ctx;

	uint32_t seq __attribute__((aligned(64)));

	pthread_mutex_t lock __attribute__((aligned(64)));
	struct iotlb_ctxw **cw;		/* [cap], NULL when the context is free */
	uint32_t *dhead, *shead;	/* [bmask + 1] by-domain / by-source buckets */
	uint32_t all_head;
	uint32_t free_ctx;
	uint32_t hand;			/* CLOCK hand over cell indices */
	uint32_t used;
	struct iotlb_key *doomed;	/* [cap] scratch: the entries one removal takes */
	uint64_t inserts, evictions, replaced, invalidated, invalidations;

	struct iotlb_stripe stripe[NSTRIPE];
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline uint32_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static inline uint32_t ctx_bucket(const struct viommu_iotlb *c, uint32_t source, uint32_t domain)
{
	return mix(((uint64_t)source << 32) | domain) & c->bmask;
}

static inline uint32_t ent_bucket(const struct viommu_iotlb *c, uint32_t ci, unsigned order, uint64_t iova)
{
	return mix((iova >> order) * 0x9e3779b97f4a7c15ull + ((uint64_t)ci << 6 | order)) & c->tmask;
}

static inline uint32_t key_bucket(const struct viommu_iotlb *c, uint32_t key)
{
	return mix(key ^ 0x5bd1e995u) & c->bmask;
}

/* ---- the lookup path (no lock) ------------------------------------------ */

static unsigned stripe_of_thread(void)
{
	static unsigned next_stripe;
	static _Thread_local unsigned mine;

	if (!mine)
		mine = __atomic_add_fetch(&next_stripe, 1, __ATOMIC_RELAXED) % NSTRIPE + 1;
	return mine - 1;
}

VIOMMU_API bool viommu_iotlb_lookup(struct viommu_iotlb *c, uint32_t source, uint32_t domain, uint64_t iova,
				    struct viommu_iotlb_entry *out)
{
	struct iotlb_stripe *st;
	uint32_t hit;

	if (!c)
		return false;
	for (;;) {
		uint32_t s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE), ci, steps = 0;

		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		hit = NIL;
		/* Bounded walks: a chain read mid-change may be stale; seq catches it. */
		for (ci = LD(c->chead[ctx_bucket(c, source, domain)]); ci < c->cap && steps++ <= c->cap;
		     ci = LD(c->ctx[ci].hnext))
			if (LD(c->ctx[ci].source) == source && LD(c->ctx[ci].domain) == domain)
				break;
		if (ci < c->cap) {
			uint64_t orders = LD(c->ctx[ci].orders);

			while (orders && hit == NIL) {
				unsigned o = vi_ffs64(orders);
				uint64_t base = iova & ~vi_mask(o);

				orders &= orders - 1;
				for (uint32_t j = ent_bucket(c, ci, o, base), n = 0; n <= c->tmask;
				     j = (j + 1) & c->tmask, n++) {
					const struct iotlb_cell *x = &c->cell[j];
					uint32_t xc = LD(x->ctx);

					if (xc == NIL)
						break;
					if (xc == ci && LD(x->iova) == base && LD(x->order) == o) {
						if (out) {
							out->source = source;
							out->domain = domain;
							out->iova = base;
							out->output = LD(x->output);
							out->order = (uint8_t)o;
							out->perm = LD(x->perm);
						}
						hit = j;
						break;
					}
				}
			}
		}
		SEQ_FENCE(__ATOMIC_ACQUIRE);
		if (LD(c->seq) == s1)
			break;
	}
	st = &c->stripe[stripe_of_thread()];
	if (hit == NIL) {
		__atomic_add_fetch(&st->misses, 1, __ATOMIC_RELAXED);
		return false;
	}
	/* Only write the bit when clear, so a hot entry's line is not bounced. */
	if (!LD(c->cell[hit].ref))
		ST(c->cell[hit].ref, 1);
	__atomic_add_fetch(&st->hits, 1, __ATOMIC_RELAXED);
	return true;
}

/* ---- writer side (lock held, seq odd) ---------------------------------- */

static void write_begin(struct viommu_iotlb *c)
{
	pthread_mutex_lock(&c->lock);
	ST(c->seq, c->seq + 1);
	SEQ_FENCE(__ATOMIC_RELEASE);
}

static void write_end(struct viommu_iotlb *c)
{
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
}

/* Unlink @i from the singly linked chain starting at *head (it must be there). */
static void chain_unlink(uint32_t *head, uint32_t *(*next_of)(struct viommu_iotlb *, uint32_t),
			 struct viommu_iotlb *c, uint32_t i)
{
	uint32_t *link = head;

	while (*link != i)
		link = next_of(c, *link);
	ST(*link, *next_of(c, i));
}

static uint32_t *ctx_next(struct viommu_iotlb *c, uint32_t i) { return &c->ctx[i].hnext; }

/* Doubly linked writer-only lists threaded through iotlb_ctxw. */
#define DL_LINK(c, head, ci, prev, next) do {					\
	struct iotlb_ctxw *w_ = (c)->cw[ci];					\
	w_->prev = NIL;								\
	w_->next = *(head);							\
	if (*(head) != NIL)							\
		(c)->cw[*(head)]->prev = (ci);					\
	*(head) = (ci);								\
} while (0)

#define DL_UNLINK(c, head, ci, prev, next) do {				\
	struct iotlb_ctxw *w_ = (c)->cw[ci];					\
	if (w_->prev != NIL)							\
		(c)->cw[w_->prev]->next = w_->next;				\
	else									\
		*(head) = w_->next;						\
	if (w_->next != NIL)							\
		(c)->cw[w_->next]->prev = w_->prev;				\
} while (0)

static uint32_t find_ctx(struct viommu_iotlb *c, uint32_t source, uint32_t domain)
{
	uint32_t ci;

	for (ci = c->chead[ctx_bucket(c, source, domain)]; ci != NIL; ci = c->ctx[ci].hnext)
		if (c->ctx[ci].source == source && c->ctx[ci].domain == domain)
			break;
	return ci;
}

static uint32_t new_ctx(struct viommu_iotlb *c, uint32_t source, uint32_t domain)
{
	uint32_t ci = c->free_ctx, b;
	struct iotlb_ctxw *w;

	if (ci == NIL)		/* cannot happen: live contexts <= entries < cap here */
		return NIL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NIL;
	w->map = viommu_rangemap_new();
	if (!w->map) {
		free(w);
		return NIL;
	}
	c->free_ctx = c->ctx[ci].hnext;
	c->cw[ci] = w;
	ST(c->ctx[ci].source, source);
	ST(c->ctx[ci].domain, domain);
	ST(c->ctx[ci].orders, 0);
	b = ctx_bucket(c, source, domain);
	ST(c->ctx[ci].hnext, c->chead[b]);
	ST(c->chead[b], ci);
	DL_LINK(c, &c->dhead[key_bucket(c, domain)], ci, dprev, dnext);
	DL_LINK(c, &c->shead[key_bucket(c, source)], ci, sprev, snext);
	DL_LINK(c, &c->all_head, ci, aprev, anext);
	return ci;
}

static void free_ctx(struct viommu_iotlb *c, uint32_t ci)
{
	struct iotlb_ctx *x = &c->ctx[ci];
	struct iotlb_ctxw *w = c->cw[ci];

	chain_unlink(&c->chead[ctx_bucket(c, x->source, x->domain)], ctx_next, c, ci);
	DL_UNLINK(c, &c->dhead[key_bucket(c, x->domain)], ci, dprev, dnext);
	DL_UNLINK(c, &c->shead[key_bucket(c, x->source)], ci, sprev, snext);
	DL_UNLINK(c, &c->all_head, ci, aprev, anext);
	viommu_rangemap_free(w->map);
	free(w);
	c->cw[ci] = NULL;
	ST(x->orders, 0);
	ST(x->hnext, c->free_ctx);
	c->free_ctx = ci;
}

static uint32_t cell_home(const struct viommu_iotlb *c, uint32_t j)
{
	const struct iotlb_cell *x = &c->cell[j];
	return ent_bucket(c, x->ctx, x->order, x->iova);
}

/*
 * Empty cell @j, then shift back every later cell of its probe run that may
 * move (its home is not cyclically within (hole, cell]), so no lookup ever
 * stops at the hole before reaching it. Moved cells get their new index in
 * their context's range map.
 */
static void cell_delete(struct viommu_iotlb *c, uint32_t hole)
{
	for (uint32_t j = (hole + 1) & c->tmask;; j = (j + 1) & c->tmask) {
		struct iotlb_cell *x = &c->cell[j], *h;
		uint32_t home;

		if (x->ctx == NIL)
			break;
		home = cell_home(c, j);
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		h = &c->cell[hole];
		ST(h->iova, x->iova);
		ST(h->output, x->output);
		ST(h->order, x->order);
		ST(h->perm, x->perm);
		ST(h->ref, LD(x->ref));
		ST(h->ctx, x->ctx);
		viommu_rangemap_set_value(c->cw[x->ctx]->map, x->iova, hole);
		hole = j;
	}
	ST(c->cell[hole].ctx, NIL);
	ST(c->cell[hole].ref, 0);
}

/* Remove the entry in cell @j; its context goes too if this was its last entry. */
static void remove_cell(struct viommu_iotlb *c, uint32_t j)
{
	struct iotlb_cell *x = &c->cell[j];
	uint32_t ci = x->ctx;
	struct iotlb_ctxw *w = c->cw[ci];

	viommu_rangemap_remove(w->map, x->iova, x->iova + vi_mask(x->order), NULL);
	if (--w->ocount[x->order] == 0)
		ST(c->ctx[ci].orders, c->ctx[ci].orders & ~(UINT64_C(1) << x->order));
	w->count--;
	c->used--;
	cell_delete(c, j);
	if (!w->count)
		free_ctx(c, ci);
}

/* The cell holding (ci, order, iova); it must be there. */
static uint32_t find_cell(const struct viommu_iotlb *c, uint32_t ci, unsigned order, uint64_t iova)
{
	uint32_t j = ent_bucket(c, ci, order, iova);

	while (c->cell[j].ctx != ci || c->cell[j].iova != iova || c->cell[j].order != order)
		j = (j + 1) & c->tmask;
	return j;
}

struct doom_ctx {
	struct iotlb_key *k;
	size_t n;
};

static void doom_one(const struct viommu_range_entry *e, void *arg)
{
	struct doom_ctx *d = arg;

	d->k[d->n].iova = e->first;
	d->k[d->n].order = e->last - e->first == UINT64_MAX ? 64 : vi_ffs64(e->last - e->first + 1);
	d->n++;
}

/*
 * Remove the entries of context @ci overlapping [first, last]; the context
 * goes too if that empties it. One range-map pass takes them all out of the
 * map (its entries are disjoint, so widening the range to the entries at its
 * ends makes "overlapping" equal "wholly inside"), then each is found in the
 * table by its key. Cost O(log n + k) plus the shifts of the deletions.
 */
static long remove_overlapping(struct viommu_iotlb *c, uint32_t ci, uint64_t first, uint64_t last)
{
	struct iotlb_ctxw *w = c->cw[ci];
	struct viommu_range_entry re;
	struct doom_ctx d = { .k = c->doomed, .n = 0 };

	if (!viommu_rangemap_find_overlap(w->map, first, last, &re))
		return 0;
	first = VI_MIN(first, re.first);
	if (viommu_rangemap_find(w->map, last, &re))
		last = re.last;
	viommu_rangemap_remove_inside(w->map, first, last, doom_one, &d);
	for (size_t i = 0; i < d.n; i++) {
		unsigned o = d.k[i].order;

		if (--w->ocount[o] == 0)
			ST(c->ctx[ci].orders, c->ctx[ci].orders & ~(UINT64_C(1) << o));
		cell_delete(c, find_cell(c, ci, o, d.k[i].iova));
	}
	w->count -= (uint32_t)d.n;
	c->used -= (uint32_t)d.n;
	if (!w->count)
		free_ctx(c, ci);
	return (long)d.n;
}

/* Remove every entry of context @ci and the context. */
static long remove_ctx(struct viommu_iotlb *c, uint32_t ci)
{
	return remove_overlapping(c, ci, 0, UINT64_MAX);
}

static void evict_one(struct viommu_iotlb *c)
{
	/* The cache is full when this runs, so two sweeps always find a victim. */
	for (uint64_t n = 0; n <= 2 * ((uint64_t)c->tmask + 1); n++) {
		uint32_t j = c->hand;
		struct iotlb_cell *x = &c->cell[j];

		c->hand = (j + 1) & c->tmask;
		if (x->ctx == NIL)
			continue;
		if (LD(x->ref)) {
			ST(x->ref, 0);
			continue;
		}
		struct viommu_iotlb_entry e = {
			.source = c->ctx[x->ctx].source, .domain = c->ctx[x->ctx].domain, .iova = x->iova,
			.output = x->output, .order = x->order, .perm = x->perm,
		};
		remove_cell(c, j);
		c->evictions++;
		if (c->on_evict)
			c->on_evict(&e, c->evict_ctx);
		return;
	}
}

VIOMMU_API int viommu_iotlb_insert(struct viommu_iotlb *c, const struct viommu_iotlb_entry *e)
{
	uint64_t last;
	uint32_t ci, j;
	int ret = 0;

	if (!c || !e || e->order < VIOMMU_IOTLB_MIN_ORDER || e->order > VIOMMU_IOTLB_MAX_ORDER ||
	    (e->iova & vi_mask(e->order)) || (e->perm & ~(VIOMMU_IOTLB_READ | VIOMMU_IOTLB_WRITE)))
		return vi_errno(-EINVAL);
	last = e->iova + vi_mask(e->order);
	write_begin(c);
	ci = find_ctx(c, e->source, e->domain);
	if (ci != NIL && c->used < c->cap) {
		/* The common case, room and no overlap: one range-map descent. */
		for (j = ent_bucket(c, ci, e->order, e->iova); c->cell[j].ctx != NIL; j = (j + 1) & c->tmask)
			;
		ret = viommu_rangemap_insert(c->cw[ci]->map, e->iova, last, j);
		if (!ret)
			goto fill;
		if (ret != -EEXIST)
			goto out;
		ret = 0;
	}
	if (ci != NIL)
		c->replaced += (uint64_t)remove_overlapping(c, ci, e->iova, last);
	if (c->used == c->cap)
		evict_one(c);
	ci = find_ctx(c, e->source, e->domain);	/* eviction may have freed it */
	if (ci == NIL)
		ci = new_ctx(c, e->source, e->domain);
	if (ci == NIL) {
		ret = -ENOMEM;
		goto out;
	}
	for (j = ent_bucket(c, ci, e->order, e->iova); c->cell[j].ctx != NIL; j = (j + 1) & c->tmask)
		;	/* at most half full: terminates */
	if (viommu_rangemap_insert(c->cw[ci]->map, e->iova, last, j) < 0) {
		if (!c->cw[ci]->count)
			free_ctx(c, ci);
		ret = -ENOMEM;
		goto out;
	}
fill:;
	struct iotlb_cell *x = &c->cell[j];
	ST(x->iova, e->iova);
	ST(x->output, e->output);
	ST(x->order, e->order);
	ST(x->perm, e->perm);
	ST(x->ref, 1);
	ST(x->ctx, ci);
	if (c->cw[ci]->ocount[e->order]++ == 0)
		ST(c->ctx[ci].orders, c->ctx[ci].orders | UINT64_C(1) << e->order);
	c->cw[ci]->count++;
	c->used++;
	c->inserts++;
out:
	write_end(c);
	return ret ? vi_errno(ret) : 0;
}

/* ---- invalidation -------------------------------------------------------- */

VIOMMU_API long viommu_iotlb_invalidate_range(struct viommu_iotlb *c, uint32_t domain, uint64_t first,
					      uint64_t last)
{
	long n = 0;

	if (!c || first > last)
		return vi_errno(-EINVAL);
	write_begin(c);
	for (uint32_t ci = c->dhead[key_bucket(c, domain)], next; ci != NIL; ci = next) {
		next = c->cw[ci]->dnext;
		if (c->ctx[ci].domain == domain)
			n += remove_overlapping(c, ci, first, last);
	}
	c->invalidated += (uint64_t)n;
	c->invalidations++;
	write_end(c);
	return n;
}

VIOMMU_API long viommu_iotlb_invalidate_range_all_domains(struct viommu_iotlb *c, uint64_t first,
							  uint64_t last)
{
	long n = 0;

	if (!c || first > last)
		return vi_errno(-EINVAL);
	write_begin(c);
	for (uint32_t ci = c->all_head, next; ci != NIL; ci = next) {
		next = c->cw[ci]->anext;
		n += remove_overlapping(c, ci, first, last);
	}
	c->invalidated += (uint64_t)n;
	c->invalidations++;
	write_end(c);
	return n;
}

VIOMMU_API long viommu_iotlb_invalidate_domain(struct viommu_iotlb *c, uint32_t domain)
{
	long n = 0;

	if (!c)
		return vi_errno(-EINVAL);
	write_begin(c);
	for (uint32_t ci = c->dhead[key_bucket(c, domain)], next; ci != NIL; ci = next) {
		next = c->cw[ci]->dnext;
		if (c->ctx[ci].domain == domain)
			n += remove_ctx(c, ci);
	}
	c->invalidated += (uint64_t)n;
	c->invalidations++;
	write_end(c);
	return n;
}

VIOMMU_API long viommu_iotlb_invalidate_source(struct viommu_iotlb *c, uint32_t source)
{
	long n = 0;

	if (!c)
		return vi_errno(-EINVAL);
	write_begin(c);
	for (uint32_t ci = c->shead[key_bucket(c, source)], next; ci != NIL; ci = next) {
		next = c->cw[ci]->snext;
		if (c->ctx[ci].source == source)
			n += remove_ctx(c, ci);
	}
	c->invalidated += (uint64_t)n;
	c->invalidations++;
	write_end(c);
	return n;
}

VIOMMU_API long viommu_iotlb_invalidate_all(struct viommu_iotlb *c)
{
	long n = 0;

	if (!c)
		return vi_errno(-EINVAL);
	write_begin(c);
	while (c->all_head != NIL)
		n += remove_ctx(c, c->all_head);
	c->invalidated += (uint64_t)n;
	c->invalidations++;
	write_end(c);
	return n;
}

/* ---- life cycle and statistics ------------------------------------------ */

VIOMMU_API int viommu_iotlb_get_stats(struct viommu_iotlb *c, struct viommu_iotlb_stats *st)
{
	struct viommu_iotlb_stats s = { .sz = sizeof(s) };

	if (!c || !st || st->sz < sizeof(size_t))
		return vi_errno(-EINVAL);
	for (unsigned k = 0; k < NSTRIPE; k++) {
		s.hits += __atomic_load_n(&c->stripe[k].hits, __ATOMIC_RELAXED);
		s.misses += __atomic_load_n(&c->stripe[k].misses, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&c->lock);
	s.inserts = c->inserts;
	s.evictions = c->evictions;
	s.replaced = c->replaced;
	s.invalidated = c->invalidated;
	s.invalidations = c->invalidations;
	s.entries = c->used;
	s.capacity = c->cap;
	pthread_mutex_unlock(&c->lock);
	s.sz = st->sz;
	memcpy(st, &s, VI_MIN(st->sz, sizeof(s)));
	return 0;
}

VIOMMU_API struct viommu_iotlb *viommu_iotlb_new(const struct viommu_iotlb_opts *opts)
{
	size_t cap = DEFAULT_CAPACITY, nb = 16, nt;
	struct viommu_iotlb *c;

	if (opts && opts->sz < offsetof(struct viommu_iotlb_opts, on_evict))
		return vi_null(EINVAL);
	if (opts && opts->capacity)
		cap = opts->capacity;
	if (cap > MAX_CAPACITY)
		return vi_null(EINVAL);
	while (nb < cap)
		nb <<= 1;
	nt = 2 * nb;
	c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (!c)
		return vi_null(ENOMEM);
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->cap = (uint32_t)cap;
	c->bmask = (uint32_t)nb - 1;
	c->tmask = (uint32_t)nt - 1;
	if (opts && opts->sz >= offsetof(struct viommu_iotlb_opts, evict_ctx) + sizeof(void *)) {
		c->on_evict = opts->on_evict;
		c->evict_ctx = opts->evict_ctx;
	}
	c->cell = aligned_alloc(64, nt * sizeof(*c->cell));
	c->ctx = calloc(cap, sizeof(*c->ctx));
	c->cw = calloc(cap, sizeof(*c->cw));
	c->doomed = calloc(cap, sizeof(*c->doomed));
	c->chead = malloc(nb * sizeof(uint32_t));
	c->dhead = malloc(nb * sizeof(uint32_t));
	c->shead = malloc(nb * sizeof(uint32_t));
	if (!c->cell || !c->ctx || !c->cw || !c->doomed || !c->chead || !c->dhead || !c->shead) {
		viommu_iotlb_free(c);
		return vi_null(ENOMEM);
	}
	memset(c->cell, 0, nt * sizeof(*c->cell));
	for (size_t j = 0; j < nt; j++)
		c->cell[j].ctx = NIL;
	memset(c->chead, 0xff, nb * sizeof(uint32_t));
	memset(c->dhead, 0xff, nb * sizeof(uint32_t));
	memset(c->shead, 0xff, nb * sizeof(uint32_t));
	for (uint32_t i = 0; i < cap; i++)
		c->ctx[i].hnext = i + 1 < cap ? i + 1 : NIL;
	c->free_ctx = 0;
	c->all_head = NIL;
	return c;
}

VIOMMU_API void viommu_iotlb_free(struct viommu_iotlb *c)
{
	if (!c)
		return;
	if (c->cw) {
		for (uint32_t i = 0; i < c->cap; i++) {
			if (c->cw[i]) {
				viommu_rangemap_free(c->cw[i]->map);
				free(c->cw[i]);
			}
		}
	}
	pthread_mutex_destroy(&c->lock);
	free(c->cell);
	free(c->ctx);
	free(c->cw);
	free(c->doomed);
	free(c->chead);
	free(c->dhead);
	free(c->shead);
	free(c);
}
