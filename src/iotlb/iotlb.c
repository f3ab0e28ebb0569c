// SPDX-License-Identifier: MIT
/*
 * The IOTLB (include/viommu/iotlb.h).
 *
 * Reader side: one open-addressing table of cells (linear probing, at most
 * a quarter full), each cell holding a whole entry keyed by (tag, key) with tag =
 * source << 32 | domain and key = iova | order (order >= 12 sits in the
 * IOVA's zero low bits, so 0 marks an empty cell). A lookup probes the table
 * once per leaf size present in the cache (a global mask, usually one to
 * three bits), under a sequence lock: no lock taken, nothing shared written
 * but a clear referenced bit and the thread's statistics stripe.
 *
 * Writer side, under the mutex and only ever read by writers: a slot per
 * entry (stable index; the cell it lives in, the CLOCK hand's unit, a node
 * of its context's treap), and a context per live (source, domain) with a
 * treap of its entries ordered by IOVA (they are disjoint), reached through
 * hash chains by (source, domain), by domain and by source. Everything is
 * allocated once at creation (zeroed memory that the kernel backs only as it
 * is touched), so an insert never allocates and a reader that races with a
 * writer reads stale but in-bounds memory, which the sequence check makes it
 * discard.
 *
 * Writer path: the mutex, seq odd for the change, seq even again (release)
 * at the end, the mutex released, and only then the eviction callback: a
 * callback never runs with lookups held off, and may call back into the
 * cache.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <viommu/iotlb.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"
#include "util/stripe.h"

#define viommu_iotlb_opts__last_field evict_ctx
#define viommu_iotlb_stats__last_field capacity

#define NIL 0u			/* index 0 of the slot and context arrays is never used */
#define MAX_CAPACITY (UINT32_C(1) << 28)
#define DEFAULT_CAPACITY 4096
#define NSTRIPE 64		/* statistics stripes */
#define BULK_CLEAR_DIV 4	/* invalidate_all clears the table wholesale above cap / 4 entries */

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
 * One cell: a cached leaf, or empty (key == 0). Written with ST() by
 * writers inside a seq write section; @ref is also set by readers (only
 * when clear). @slot is writer-only. Invariant (linear probing): no empty
 * cell lies between a live cell's home and the cell; deletion keeps it by
 * shifting later cells back (updating their slot's @cell).
 */
struct iotlb_cell {
	uint64_t key;		/* iova | order; 0: empty */
	uint64_t tag;		/* source << 32 | domain */
	uint64_t output;
	uint32_t slot;
	uint8_t perm;
	uint8_t ref;		/* CLOCK referenced bit: set by hits and inserts, cleared by the hand */
	uint16_t pad;
} __attribute__((aligned(32)));	/* two cells per cache line, never straddling one */

/* Writer-only record of a live entry; free slots chain through @left. */
struct iotlb_slot {
	uint64_t iova;
	uint32_t left, right, parent;	/* treap links (NIL: none; parent NIL: the root) */
	uint32_t prio;			/* treap priority (heap order: a parent's >= its children's) */
	uint32_t cell;
	uint32_t ctx;
	uint8_t order;
};

/*
 * Writer-only: one live (source, domain) with @count >= 1 entries in the
 * treap at @root (free contexts chain through @hnext and have count 0). Live
 * contexts never outnumber entries, so a pool of capacity suffices. Linked
 * into the (source, domain) hash chain (@hnext), the by-domain and
 * by-source bucket lists and the list of all live contexts.
 */
struct iotlb_ctx {
	uint32_t source, domain;
	uint32_t root, count;
	uint64_t orders;	/* bit o set if an entry of order o may be here (cleared only when emptied) */
	uint32_t hnext;
	uint32_t dprev, dnext, sprev, snext, aprev, anext;
};

struct iotlb_stripe {
	uint64_t hits, misses;
} __attribute__((aligned(64)));

/*
 * Locking: the first cache line is everything a lookup reads besides the
 * cells; its configuration part is set at creation and never changes, @seq
 * and @orders are written only by writers (under @lock). The cells are
 * written by writers under @lock inside a seq write section and read by
 * lookups without it. Everything after @lock is writer-only, under it,
 * except the stripes, which lookups update with atomic adds.
 */
struct viommu_iotlb {
	struct iotlb_cell *cell;	/* [tmask + 1] >= 4 * cap */
	uint64_t mul_key, mul_tag, add;	/* the keyed multiply-add-shift hash of a cell's home */
	uint32_t tmask, shift;
	uint32_t seq;
	uint64_t orders;		/* bit o: some entry has order o */

	pthread_mutex_t lock __attribute__((aligned(64)));
	uint32_t cap, bmask;
	viommu_iotlb_evict_fn on_evict;
	void *evict_ctx;
	void *cell_mem;
	struct iotlb_slot *slot;	/* [cap + 1] */
	struct iotlb_ctx *ctx;		/* [cap + 1] */
	uint32_t *chead, *dhead, *shead;	/* [bmask + 1] */
	uint64_t bucket_key;		/* keys the writer-side bucket hash */
	uint64_t rng;			/* treap priorities */
	uint32_t all_head;
	uint32_t slot_bump, slot_free;	/* slots 1..slot_bump have been used; free ones chain */
	uint32_t ctx_bump, ctx_free;
	uint32_t hand;			/* CLOCK hand over slot indices 1..cap */
	uint32_t used;
	uint32_t ocount[64];		/* entries per order */
	uint64_t inserts, evictions, replaced, invalidated, invalidations;

	struct iotlb_stripe stripe[NSTRIPE];
};

/* A call on a NULL cache: logged, -EINVAL. */
static int null_cache(const char *fn)
{
	vi_warn("iotlb: %s refused: the cache is NULL", fn);
	return vi_errno(-EINVAL);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline uint64_t order_mask(unsigned order)
{
	return ~(UINT64_C(0)) << order;		/* order <= 63 */
}

/* A cell's home: multiply-add-shift, keyed per cache (random multipliers). */
static inline uint32_t cell_home(const struct viommu_iotlb *c, uint64_t tag_part, uint64_t key)
{
	return (uint32_t)((key * c->mul_key + tag_part) >> c->shift);
}

static inline uint64_t tag_part(const struct viommu_iotlb *c, uint64_t tag)
{
	return tag * c->mul_tag + c->add;
}

/* ---- statistics stripes ------------------------------------------------- */

/*
 * Lookups count into one of NSTRIPE cache-line-sized stripes, chosen by the
 * thread (its index, taken on first use, modulo NSTRIPE), with relaxed
 * atomic adds: threads on different CPUs do not write one line, and
 * threads that share a stripe still count exactly. (A plain load and store
 * to a stripe the thread owns alone measured no faster than the add here.)
 * The index lives in an initial-exec TLS variable: one fs-relative load, no
 * __tls_get_addr call on the lookup path.
 */
static unsigned stripe_next;
static __thread unsigned stripe_mine __attribute__((tls_model("initial-exec")));	/* index + 1, 0: none yet */

static inline unsigned stripe_index(void)
{
	unsigned k = stripe_mine;

	if (vi_unlikely(!k))
		k = stripe_mine = __atomic_fetch_add(&stripe_next, 1, __ATOMIC_RELAXED) % NSTRIPE + 1;
	return k - 1;
}

static inline void stripe_count(struct viommu_iotlb *c, bool hit)
{
	struct iotlb_stripe *st = &c->stripe[stripe_index()];

	__atomic_add_fetch(hit ? &st->hits : &st->misses, 1, __ATOMIC_RELAXED);
}

/* ---- the lookup path (no lock) ------------------------------------------ */

/*
 * The cell of (@tag, @key) on its probe run from @j, or NULL at the first
 * empty cell. Bounded by the table size: a table read while a writer
 * changes it may show no empty cell on the run, and the caller's sequence
 * check discards whatever this returns then.
 */
static inline const struct iotlb_cell *probe(const struct iotlb_cell *cell, uint32_t tmask, uint32_t j,
					     uint64_t tag, uint64_t key)
{
	for (uint32_t n = tmask;; n--) {
		const struct iotlb_cell *x = &cell[j];
		uint64_t k = LD(x->key);

		if (k == key && LD(x->tag) == tag)
			return x;
		if (!k || !n)
			return NULL;
		j = (j + 1) & tmask;
	}
}

/* What one attempt found: the cell (NULL: miss) and its fields, read inside the attempt. */
struct found {
	const struct iotlb_cell *x;
	uint64_t key, output;
	uint8_t perm;
};

/* One attempt under the sequence lock; false if a writer ran (or runs) meanwhile. */
static inline bool lookup_once(const struct viommu_iotlb *c, uint64_t tag, uint64_t tp, uint64_t iova,
			       struct found *f)
{
	uint32_t s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
	uint64_t orders = LD(c->orders);

	f->x = NULL;
	while (orders) {
		unsigned o = vi_ffs64(orders);
		uint64_t key = (iova & order_mask(o)) | o;
		const struct iotlb_cell *x = probe(c->cell, c->tmask, cell_home(c, tp, key), tag, key);

		if (x) {
			f->x = x;
			f->key = key;
			f->output = LD(x->output);
			f->perm = LD(x->perm);
			break;
		}
		orders &= orders - 1;
	}
	SEQ_FENCE(__ATOMIC_ACQUIRE);
	return !(s1 & 1) && LD(c->seq) == s1;
}

/* After a consistent attempt: mark the hit referenced and copy it out. */
static inline bool lookup_done(const struct found *f, uint32_t source, uint32_t domain,
			       struct viommu_iotlb_entry *out)
{
	if (!f->x)
		return false;
	/* Only write the bit when clear, so a hot entry's line is not bounced between CPUs. */
	if (!LD(f->x->ref))
		ST(((struct iotlb_cell *)f->x)->ref, 1);
	if (out) {
		/* key = the leaf's iova | order, the iova's low 12 bits being zero */
		out->source = source;
		out->domain = domain;
		out->iova = f->key & ~(uint64_t)0xfff;
		out->output = f->output;
		out->order = (uint8_t)(f->key & 0xfff);
		out->perm = f->perm;
	}
	return true;
}

/* A writer was in the way: wait for it (spin a little, then let it run) and try again. */
static __attribute__((noinline)) bool lookup_slow(struct viommu_iotlb *c, uint32_t source, uint32_t domain,
						  uint64_t iova, struct viommu_iotlb_entry *out)
{
	uint64_t tag = (uint64_t)source << 32 | domain, tp = tag_part(c, tag);
	struct found f = { 0 };

	for (unsigned spins = 0; !lookup_once(c, tag, tp, iova, &f);) {
		if (++spins < 256)
			cpu_relax();
		else
			sched_yield();
	}
	stripe_count(c, f.x != NULL);
	return lookup_done(&f, source, domain, out);
}

/*
 * The fast path calls nothing but, in tail position, lookup_slow(), and
 * finishes a hit where it finds it, so little stays live across the probes:
 * a hit is one attempt, one stripe update and the copy out.
 */
VIOMMU_API bool viommu_iotlb_lookup(struct viommu_iotlb *c, uint32_t source, uint32_t domain, uint64_t iova,
				    struct viommu_iotlb_entry *out)
{
	uint64_t tag = (uint64_t)source << 32 | domain, tp, orders;
	uint32_t s1;

	if (vi_unlikely(!c)) {
		null_cache(__func__);
		return false;
	}
	s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
	orders = LD(c->orders);
	tp = tag_part(c, tag);
	for (; orders; orders &= orders - 1) {
		unsigned o = vi_ffs64(orders);
		uint64_t key = (iova & order_mask(o)) | o;
		const struct iotlb_cell *x = probe(c->cell, c->tmask, cell_home(c, tp, key), tag, key);

		if (x) {
			struct found f = { .x = x, .key = key, .output = LD(x->output), .perm = LD(x->perm) };

			SEQ_FENCE(__ATOMIC_ACQUIRE);
			if (vi_unlikely((s1 & 1) || LD(c->seq) != s1))
				return lookup_slow(c, source, domain, iova, out);
			stripe_count(c, true);
			return lookup_done(&f, source, domain, out);
		}
	}
	SEQ_FENCE(__ATOMIC_ACQUIRE);
	if (vi_unlikely((s1 & 1) || LD(c->seq) != s1))
		return lookup_slow(c, source, domain, iova, out);
	stripe_count(c, false);
	return false;
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

static inline uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static inline uint32_t pair_bucket(const struct viommu_iotlb *c, uint32_t source, uint32_t domain)
{
	return mix32(((uint64_t)source << 32 | domain) ^ c->bucket_key) & c->bmask;
}

static inline uint32_t id_bucket(const struct viommu_iotlb *c, uint32_t id, uint32_t which)
{
	return mix32(((uint64_t)which << 32 | id) ^ c->bucket_key) & c->bmask;
}

static inline uint64_t slot_last(const struct iotlb_slot *s)
{
	return s->iova + ~order_mask(s->order);
}

/* Doubly linked lists of contexts threaded through struct iotlb_ctx. */
#define DL_LINK(c, head, ci, prev, next) do {					\
	struct iotlb_ctx *x_ = &(c)->ctx[ci];					\
	x_->prev = NIL;								\
	x_->next = *(head);							\
	if (*(head) != NIL)							\
		(c)->ctx[*(head)].prev = (ci);					\
	*(head) = (ci);								\
} while (0)

#define DL_UNLINK(c, head, ci, prev, next) do {				\
	struct iotlb_ctx *x_ = &(c)->ctx[ci];					\
	if (x_->prev != NIL)							\
		(c)->ctx[x_->prev].next = x_->next;				\
	else									\
		*(head) = x_->next;						\
	if (x_->next != NIL)							\
		(c)->ctx[x_->next].prev = x_->prev;				\
} while (0)

static uint32_t find_ctx(const struct viommu_iotlb *c, uint32_t source, uint32_t domain)
{
	uint32_t ci;

	for (ci = c->chead[pair_bucket(c, source, domain)]; ci != NIL; ci = c->ctx[ci].hnext)
		if (c->ctx[ci].source == source && c->ctx[ci].domain == domain)
			break;
	return ci;
}

/* A new, empty context (the pool cannot run dry: live contexts <= entries < cap here). */
static uint32_t new_ctx(struct viommu_iotlb *c, uint32_t source, uint32_t domain)
{
	uint32_t ci = c->ctx_free, b;
	struct iotlb_ctx *x;

	if (ci != NIL)
		c->ctx_free = c->ctx[ci].hnext;
	else
		ci = ++c->ctx_bump;
	x = &c->ctx[ci];
	*x = (struct iotlb_ctx){ .source = source, .domain = domain };
	b = pair_bucket(c, source, domain);
	x->hnext = c->chead[b];
	c->chead[b] = ci;
	DL_LINK(c, &c->dhead[id_bucket(c, domain, 1)], ci, dprev, dnext);
	DL_LINK(c, &c->shead[id_bucket(c, source, 2)], ci, sprev, snext);
	DL_LINK(c, &c->all_head, ci, aprev, anext);
	return ci;
}

static void free_ctx(struct viommu_iotlb *c, uint32_t ci)
{
	struct iotlb_ctx *x = &c->ctx[ci];
	uint32_t *link = &c->chead[pair_bucket(c, x->source, x->domain)];

	while (*link != ci)
		link = &c->ctx[*link].hnext;
	*link = x->hnext;
	DL_UNLINK(c, &c->dhead[id_bucket(c, x->domain, 1)], ci, dprev, dnext);
	DL_UNLINK(c, &c->shead[id_bucket(c, x->source, 2)], ci, sprev, snext);
	DL_UNLINK(c, &c->all_head, ci, aprev, anext);
	x->count = 0;
	x->hnext = c->ctx_free;
	c->ctx_free = ci;
}

/* ---- a context's treap of entries (keys: IOVA; entries disjoint) --------- */

/*
 * Split treap @t into keys < @k, hung at *l (whose owner, the node holding
 * that link or NIL for a root, is @lo) and keys >= @k at *r (owner @ro).
 */
static void treap_split(struct iotlb_slot *sl, uint32_t t, uint64_t k, uint32_t *l, uint32_t lo, uint32_t *r,
			uint32_t ro)
{
	while (t != NIL) {
		if (sl[t].iova < k) {
			*l = t;
			sl[t].parent = lo;
			lo = t;
			l = &sl[t].right;
			t = sl[t].right;
		} else {
			*r = t;
			sl[t].parent = ro;
			ro = t;
			r = &sl[t].left;
			t = sl[t].left;
		}
	}
	*l = NIL;
	*r = NIL;
}

/* Hang the union of treaps @a and @b (every key of @a below every key of @b) at *link, owned by @owner. */
static void treap_merge(struct iotlb_slot *sl, uint32_t *link, uint32_t owner, uint32_t a, uint32_t b)
{
	uint32_t t;

	while (a != NIL && b != NIL) {
		t = sl[a].prio >= sl[b].prio ? a : b;
		*link = t;
		sl[t].parent = owner;
		owner = t;
		if (t == a) {
			link = &sl[a].right;
			a = sl[a].right;
		} else {
			link = &sl[b].left;
			b = sl[b].left;
		}
	}
	t = a != NIL ? a : b;
	*link = t;
	if (t != NIL)
		sl[t].parent = owner;
}

/* Insert slot @s (its iova, prio set) into the treap at *root: one descent, expected O(log n). */
static void treap_insert(struct iotlb_slot *sl, uint32_t *root, uint32_t s)
{
	uint32_t *link = root, owner = NIL, t;

	while (*link != NIL && sl[*link].prio >= sl[s].prio) {
		owner = *link;
		link = sl[s].iova < sl[owner].iova ? &sl[owner].left : &sl[owner].right;
	}
	t = *link;
	*link = s;
	sl[s].parent = owner;
	treap_split(sl, t, sl[s].iova, &sl[s].left, s, &sl[s].right, s);
}

/* Unlink slot @s from the treap at *root: no search, its children merged in its place (expected O(1)). */
static void treap_delete(struct iotlb_slot *sl, uint32_t *root, uint32_t s)
{
	uint32_t p = sl[s].parent;
	uint32_t *link = p == NIL ? root : sl[p].left == s ? &sl[p].left : &sl[p].right;

	treap_merge(sl, link, p, sl[s].left, sl[s].right);
}

/* The entry with the largest IOVA <= @k, or NIL. */
static uint32_t treap_pred(const struct iotlb_slot *sl, uint32_t t, uint64_t k)
{
	uint32_t best = NIL;

	while (t != NIL) {
		if (sl[t].iova <= k) {
			best = t;
			t = sl[t].right;
		} else {
			t = sl[t].left;
		}
	}
	return best;
}

/* ---- cells and slots -------------------------------------------------- */

static uint32_t cell_home_of(const struct viommu_iotlb *c, const struct iotlb_cell *x)
{
	return cell_home(c, tag_part(c, x->tag), x->key);
}

/* Empty cell @hole, shifting back every later cell of its run that may move there. */
static void cell_delete(struct viommu_iotlb *c, uint32_t hole)
{
	for (uint32_t j = (hole + 1) & c->tmask;; j = (j + 1) & c->tmask) {
		struct iotlb_cell *x = &c->cell[j], *h;
		uint32_t home;

		if (x->key == 0)
			break;
		home = cell_home_of(c, x);
		/* @x may stay if its home lies cyclically in (hole, j] */
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		h = &c->cell[hole];
		ST(h->tag, x->tag);
		ST(h->output, x->output);
		ST(h->perm, x->perm);
		ST(h->ref, LD(x->ref));
		ST(h->key, x->key);
		h->slot = x->slot;
		c->slot[x->slot].cell = hole;
		hole = j;
	}
	ST(c->cell[hole].key, 0);
	ST(c->cell[hole].ref, 0);
}

static uint32_t cell_place(struct viommu_iotlb *c, uint64_t tag, uint64_t key, uint32_t s, uint64_t output,
			   uint8_t perm)
{
	uint32_t j = cell_home(c, tag_part(c, tag), key);
	struct iotlb_cell *x;

	while (c->cell[j].key)		/* at most a quarter full: terminates */
		j = (j + 1) & c->tmask;
	x = &c->cell[j];
	ST(x->tag, tag);
	ST(x->output, output);
	ST(x->perm, perm);
	ST(x->ref, 1);
	ST(x->key, key);
	x->slot = s;
	return j;
}

static uint32_t slot_alloc(struct viommu_iotlb *c)
{
	uint32_t s = c->slot_free;

	if (s != NIL)
		c->slot_free = c->slot[s].left;
	else
		s = ++c->slot_bump;
	return s;
}

static void order_add(struct viommu_iotlb *c, unsigned order)
{
	if (c->ocount[order]++ == 0)
		ST(c->orders, c->orders | UINT64_C(1) << order);
}

static void order_sub(struct viommu_iotlb *c, unsigned order)
{
	if (--c->ocount[order] == 0)
		ST(c->orders, c->orders & ~(UINT64_C(1) << order));
}

/* Forget slot @s's entry (its cell and counts); the caller has unlinked it from its treap. */
static void slot_drop(struct viommu_iotlb *c, uint32_t s)
{
	struct iotlb_slot *x = &c->slot[s];

	cell_delete(c, x->cell);
	order_sub(c, x->order);
	c->used--;
	x->left = c->slot_free;
	c->slot_free = s;
}

/* Remove every entry of the treap @t of context @ci (not the context); returns the count. */
static uint32_t drop_tree(struct viommu_iotlb *c, uint32_t t)
{
	struct iotlb_slot *sl = c->slot;
	uint32_t n = 0;

	/* in-order by rotation, no stack: O(size of the tree) */
	while (t != NIL) {
		uint32_t l = sl[t].left;

		if (l != NIL) {
			sl[t].left = sl[l].right;
			sl[l].right = t;
			t = l;
		} else {
			uint32_t next = sl[t].right;

			slot_drop(c, t);
			n++;
			t = next;
		}
	}
	return n;
}

/* Remove the entries of context @ci overlapping [first, last]; the context goes if emptied. */
static uint32_t remove_overlapping(struct viommu_iotlb *c, uint32_t ci, uint64_t first, uint64_t last)
{
	struct iotlb_slot *sl = c->slot;
	struct iotlb_ctx *x = &c->ctx[ci];
	uint32_t p = treap_pred(sl, x->root, first), l, mid, r, n;

	/* the entry holding @first, if any, starts the doomed run: entries are disjoint */
	if (p != NIL && slot_last(&sl[p]) >= first)
		first = sl[p].iova;
	treap_split(sl, x->root, first, &l, NIL, &mid, NIL);
	if (last == UINT64_MAX)
		r = NIL;
	else
		treap_split(sl, mid, last + 1, &mid, NIL, &r, NIL);
	treap_merge(sl, &x->root, NIL, l, r);
	n = drop_tree(c, mid);
	x->count -= n;
	if (!x->count)
		free_ctx(c, ci);
	return n;
}

/* Remove the entry of slot @s; its context goes too if this was its last entry. */
static void remove_slot(struct viommu_iotlb *c, uint32_t s)
{
	uint32_t ci = c->slot[s].ctx;
	struct iotlb_ctx *x = &c->ctx[ci];

	treap_delete(c->slot, &x->root, s);
	slot_drop(c, s);
	if (!--x->count)
		free_ctx(c, ci);
}

/* Remove the whole context @ci with its entries. */
static uint32_t remove_ctx(struct viommu_iotlb *c, uint32_t ci)
{
	uint32_t n = drop_tree(c, c->ctx[ci].root);

	free_ctx(c, ci);
	return n;
}

/*
 * CLOCK over slots (when this runs the cache is full, so every slot 1..cap
 * is live): a referenced entry loses its bit and is passed, the first clear
 * one is the victim. Lookups may set bits behind the hand; after two sweeps
 * the entry under the hand goes regardless, so an eviction is bounded.
 */
static void evict_one(struct viommu_iotlb *c, struct viommu_iotlb_entry *victim)
{
	struct iotlb_slot *sl = c->slot;
	uint32_t s = 0;

	for (uint64_t n = 0; n <= 2 * (uint64_t)c->cap; n++) {
		s = c->hand;
		c->hand = s == c->cap ? 1 : s + 1;
		struct iotlb_cell *x = &c->cell[sl[s].cell];
		if (n == 2 * (uint64_t)c->cap || !LD(x->ref))
			break;
		ST(x->ref, 0);
	}
	struct iotlb_ctx *cx = &c->ctx[sl[s].ctx];
	struct iotlb_cell *x = &c->cell[sl[s].cell];
	*victim = (struct viommu_iotlb_entry){
		.source = cx->source, .domain = cx->domain, .iova = sl[s].iova,
		.output = x->output, .order = sl[s].order, .perm = x->perm,
	};
	remove_slot(c, s);
	c->evictions++;
}

/* Check an entry to insert; a refusal is logged with the leaf's range and the reason. */
static bool insert_valid(const struct viommu_iotlb_entry *e)
{
	unsigned long long first = e->iova, last;

	if (e->order < VIOMMU_IOTLB_MIN_ORDER || e->order > VIOMMU_IOTLB_MAX_ORDER) {
		vi_warn("iotlb: insert at 0x%llx of order %u (source %u, domain %u) refused: order outside %u..%u",
			first, e->order, e->source, e->domain, VIOMMU_IOTLB_MIN_ORDER, VIOMMU_IOTLB_MAX_ORDER);
		return false;
	}
	last = first + ~order_mask(e->order);
	if (e->iova & ~order_mask(e->order)) {
		vi_warn("iotlb: insert of [0x%llx, 0x%llx] (order %u, source %u, domain %u) refused: iova not aligned "
			"to the leaf size", first, last, e->order, e->source, e->domain);
		return false;
	}
	if (e->perm & ~VIOMMU_PERM_RW) {
		vi_warn("iotlb: insert of [0x%llx, 0x%llx] (order %u, source %u, domain %u) refused: unknown "
			"permission bits 0x%x", first, last, e->order, e->source, e->domain, e->perm & ~VIOMMU_PERM_RW);
		return false;
	}
	return true;
}

/*
 * An entry of context @ci overlapping the leaf (@iova, @order), or NIL. If
 * the context may hold leaves smaller than it, the treap says (the entry
 * with the largest IOVA <= the leaf's last byte overlaps iff anything
 * does: entries are disjoint). Otherwise only a leaf of the same or a
 * larger size can overlap, and then it holds @iova: one table probe per
 * such size present, no tree descent (the common case of a walker filling
 * pages of one size).
 */
static uint32_t overlapping_one(const struct viommu_iotlb *c, uint32_t ci, uint64_t tag, uint64_t iova,
				unsigned order)
{
	const struct iotlb_slot *sl = c->slot;
	uint64_t orders = c->ctx[ci].orders, tp;

	if (orders & vi_mask(order)) {
		uint32_t p = treap_pred(sl, c->ctx[ci].root, iova + ~order_mask(order));

		return p != NIL && slot_last(&sl[p]) >= iova ? p : NIL;
	}
	tp = tag_part(c, tag);
	for (; orders; orders &= orders - 1) {
		unsigned o = vi_ffs64(orders);
		uint64_t key = (iova & order_mask(o)) | o;
		const struct iotlb_cell *x = probe(c->cell, c->tmask, cell_home(c, tp, key), tag, key);

		if (x)
			return x->slot;
	}
	return NIL;
}

VIOMMU_API int viommu_iotlb_insert(struct viommu_iotlb *c, const struct viommu_iotlb_entry *e)
{
	struct viommu_iotlb_entry victim;
	bool evicted = false;
	uint64_t last, tag, key;
	uint32_t ci, s;

	if (!c)
		return null_cache(__func__);
	if (!e) {
		vi_warn("iotlb: insert refused: the entry is NULL");
		return vi_errno(-EINVAL);
	}
	if (!insert_valid(e))
		return vi_errno(-EINVAL);
	last = e->iova + ~order_mask(e->order);
	tag = (uint64_t)e->source << 32 | e->domain;
	key = e->iova | e->order;
	write_begin(c);
	ci = find_ctx(c, e->source, e->domain);
	if (ci != NIL) {
		uint32_t p = overlapping_one(c, ci, tag, e->iova, e->order);

		if (p != NIL && c->slot[p].iova == e->iova && c->slot[p].order == e->order) {
			/* the same leaf again: refresh it in place */
			struct iotlb_cell *x = &c->cell[c->slot[p].cell];

			ST(x->output, e->output);
			ST(x->perm, e->perm);
			ST(x->ref, 1);
			c->replaced++;
			c->inserts++;
			goto out;
		}
		if (p != NIL) {
			if (c->ctx[ci].orders & vi_mask(e->order))
				c->replaced += remove_overlapping(c, ci, e->iova, last);
			else {
				remove_slot(c, p);	/* the one larger leaf holding it */
				c->replaced++;
			}
			if (!c->ctx[ci].count)
				ci = NIL;
		}
	}
	if (c->used == c->cap) {
		evict_one(c, &victim);
		evicted = true;
		if (ci != NIL && !c->ctx[ci].count)
			ci = NIL;	/* the victim was its last entry */
	}
	if (ci == NIL)
		ci = new_ctx(c, e->source, e->domain);
	s = slot_alloc(c);
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	c->slot[s] = (struct iotlb_slot){ .iova = e->iova, .order = e->order, .ctx = ci, .prio = (uint32_t)c->rng };
	treap_insert(c->slot, &c->ctx[ci].root, s);
	c->ctx[ci].count++;
	c->ctx[ci].orders |= UINT64_C(1) << e->order;
	c->slot[s].cell = cell_place(c, tag, key, s, e->output, e->perm);
	order_add(c, e->order);
	c->used++;
	c->inserts++;
out:
	write_end(c);
	if (evicted && c->on_evict)
		c->on_evict(&victim, c->evict_ctx);
	return 0;
}

/* ---- invalidation -------------------------------------------------------- */

/* @domain < 0: every domain */
static bool range_valid(uint64_t first, uint64_t last, long long domain)
{
	if (first <= last)
		return true;
	if (domain < 0)
		vi_warn("iotlb: invalidation of [0x%llx, 0x%llx] in every domain refused: first > last",
			(unsigned long long)first, (unsigned long long)last);
	else
		vi_warn("iotlb: invalidation of [0x%llx, 0x%llx] in domain %lld refused: first > last",
			(unsigned long long)first, (unsigned long long)last, domain);
	return false;
}

static long inv_done(struct viommu_iotlb *c, uint64_t n)
{
	c->invalidated += n;
	c->invalidations++;
	write_end(c);
	return (long)n;
}

VIOMMU_API long viommu_iotlb_invalidate_range(struct viommu_iotlb *c, uint32_t domain, uint64_t first,
					      uint64_t last)
{
	uint64_t n = 0;

	if (!c)
		return null_cache(__func__);
	if (!range_valid(first, last, domain))
		return vi_errno(-EINVAL);
	write_begin(c);
	for (uint32_t ci = c->dhead[id_bucket(c, domain, 1)], next; ci != NIL; ci = next) {
		next = c->ctx[ci].dnext;
		if (c->ctx[ci].domain == domain)
			n += remove_overlapping(c, ci, first, last);
	}
	return inv_done(c, n);
}

VIOMMU_API long viommu_iotlb_invalidate_range_all_domains(struct viommu_iotlb *c, uint64_t first,
							  uint64_t last)
{
	uint64_t n = 0;

	if (!c)
		return null_cache(__func__);
	if (!range_valid(first, last, -1))
		return vi_errno(-EINVAL);
	write_begin(c);
	for (uint32_t ci = c->all_head, next; ci != NIL; ci = next) {
		next = c->ctx[ci].anext;
		n += remove_overlapping(c, ci, first, last);
	}
	return inv_done(c, n);
}

VIOMMU_API long viommu_iotlb_invalidate_domain(struct viommu_iotlb *c, uint32_t domain)
{
	uint64_t n = 0;

	if (!c)
		return null_cache(__func__);
	write_begin(c);
	for (uint32_t ci = c->dhead[id_bucket(c, domain, 1)], next; ci != NIL; ci = next) {
		next = c->ctx[ci].dnext;
		if (c->ctx[ci].domain == domain)
			n += remove_ctx(c, ci);
	}
	return inv_done(c, n);
}

VIOMMU_API long viommu_iotlb_invalidate_source(struct viommu_iotlb *c, uint32_t source)
{
	uint64_t n = 0;

	if (!c)
		return null_cache(__func__);
	write_begin(c);
	for (uint32_t ci = c->shead[id_bucket(c, source, 2)], next; ci != NIL; ci = next) {
		next = c->ctx[ci].snext;
		if (c->ctx[ci].source == source)
			n += remove_ctx(c, ci);
	}
	return inv_done(c, n);
}

/* Empty everything at once: O(capacity), used when that is O(entries). */
static void clear_all(struct viommu_iotlb *c)
{
	size_t nb = (size_t)c->bmask + 1;

	for (uint32_t j = 0; j <= c->tmask; j++) {
		if (c->cell[j].key) {
			ST(c->cell[j].key, 0);
			ST(c->cell[j].ref, 0);
		}
	}
	memset(c->chead, 0, nb * sizeof(uint32_t));
	memset(c->dhead, 0, nb * sizeof(uint32_t));
	memset(c->shead, 0, nb * sizeof(uint32_t));
	memset(c->ocount, 0, sizeof(c->ocount));
	ST(c->orders, 0);
	c->all_head = NIL;
	c->slot_bump = c->slot_free = NIL;
	c->ctx_bump = c->ctx_free = NIL;
	c->hand = 1;
	c->used = 0;
}

VIOMMU_API long viommu_iotlb_invalidate_all(struct viommu_iotlb *c)
{
	uint64_t n = 0;

	if (!c)
		return null_cache(__func__);
	write_begin(c);
	if (c->used >= c->cap / BULK_CLEAR_DIV && c->used > 64) {
		n = c->used;
		clear_all(c);
	} else {
		while (c->all_head != NIL)
			n += remove_ctx(c, c->all_head);
	}
	return inv_done(c, n);
}

/* ---- life cycle and statistics ------------------------------------------ */

VIOMMU_API int viommu_iotlb_get_stats(struct viommu_iotlb *c, struct viommu_iotlb_stats *st)
{
	struct viommu_iotlb_stats s = { .sz = sizeof(s) };
	uint64_t sum[2];

	if (!c)
		return null_cache(__func__);
	_Static_assert(offsetof(struct iotlb_stripe, misses) == sizeof(uint64_t), "iotlb_stripe: two counters");
	vi_stripe_sum(c->stripe, NSTRIPE, sizeof(c->stripe[0]), sum, 2);
	s.hits = sum[0];
	s.misses = sum[1];
	pthread_mutex_lock(&c->lock);
	s.inserts = c->inserts;
	s.evictions = c->evictions;
	s.replaced = c->replaced;
	s.invalidated = c->invalidated;
	s.invalidations = c->invalidations;
	s.entries = c->used;
	s.capacity = c->cap;
	pthread_mutex_unlock(&c->lock);
	return vi_errno(VI_OPTS_OUT(st, &s, viommu_iotlb_stats));
}

static uint64_t random_u64(const void *salt)
{
	uint64_t x;
	struct timespec ts;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) == (ssize_t)sizeof(x))
		return x;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return mix32((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)salt) * 0x9e3779b97f4a7c15ull ^
	       (uint64_t)ts.tv_sec;
}

VIOMMU_API struct viommu_iotlb *viommu_iotlb_new(const struct viommu_iotlb_opts *opts)
{
	size_t cap, nb = 16, nt;
	struct viommu_iotlb *c;
	unsigned tbits = 0;

	if (!VI_OPTS_VALID(opts, viommu_iotlb_opts))
		return vi_null(EINVAL);
	cap = VI_OPTS_GET(opts, capacity, 0);
	if (!cap)
		cap = DEFAULT_CAPACITY;
	if (cap > MAX_CAPACITY) {
		vi_warn("iotlb: capacity %zu refused: more than 2^28 entries", cap);
		return vi_null(EINVAL);
	}
	while (nb < cap)
		nb <<= 1;
	nt = 4 * nb;
	while ((UINT64_C(1) << tbits) < nt)
		tbits++;
	c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (!c)
		return vi_null(ENOMEM);
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->cap = (uint32_t)cap;
	c->bmask = (uint32_t)nb - 1;
	c->tmask = (uint32_t)nt - 1;
	c->shift = 64 - tbits;
	c->on_evict = VI_OPTS_GET(opts, on_evict, NULL);
	c->evict_ctx = VI_OPTS_GET(opts, evict_ctx, NULL);
	/* keyed hashes: a guest choosing IOVAs cannot aim them at one probe run */
	c->mul_key = random_u64(c) | 1;
	c->mul_tag = random_u64(&c->seq) | 1;
	c->add = random_u64(&c->lock);
	c->bucket_key = random_u64(&c->rng);
	c->rng = random_u64(&c->hand) | 1;
	c->hand = 1;
	/* zeroed (empty, NIL) and backed by the kernel only as it is touched */
	c->cell_mem = calloc(1, nt * sizeof(struct iotlb_cell) + 64);
	c->slot = calloc(cap + 1, sizeof(*c->slot));
	c->ctx = calloc(cap + 1, sizeof(*c->ctx));
	c->chead = calloc(nb, sizeof(uint32_t));
	c->dhead = calloc(nb, sizeof(uint32_t));
	c->shead = calloc(nb, sizeof(uint32_t));
	if (!c->cell_mem || !c->slot || !c->ctx || !c->chead || !c->dhead || !c->shead) {
		viommu_iotlb_free(c);
		return vi_null(ENOMEM);
	}
	c->cell = (struct iotlb_cell *)(((uintptr_t)c->cell_mem + 63) & ~(uintptr_t)63);
	return c;
}

VIOMMU_API void viommu_iotlb_free(struct viommu_iotlb *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->cell_mem);
	free(c->slot);
	free(c->ctx);
	free(c->chead);
	free(c->dhead);
	free(c->shead);
	free(c);
}
