// SPDX-License-Identifier: MIT
/*
 * The device IOTLB (include/viommu/devtlb.h): two identical range maps of
 * [first, last] -> entry under left-right (src/util/leftright.h), a FIFO of
 * entries for retirement, and a range map of pages with a pending miss.
 *
 * Why two maps and not the IOTLB's sequence lock: a translation is a range
 * lookup over arbitrary intervals, which needs an ordered index (the range
 * map, a B+ tree). A sequence-lock reader may read a node while a writer
 * frees it, so it only works over memory that is never freed and fields that
 * are all atomics (src/iotlb/iotlb.c keeps a preallocated hash table for
 * that reason). Left-right lets the readers walk the range map as it is:
 * the writer changes the copy no reader is in, publishes it, waits for the
 * readers of the other copy to leave, and changes that one the same way. An
 * entry is freed only after both copies dropped it, so no reader can reach
 * it. Readers never retry and never block.
 *
 * Locking: @lock serialises every writer (update, invalidate, the miss slow
 * path, pending_clear, get_stats); it is never taken inside a read section
 * (a writer holding it waits for readers). Fields after @lock are
 * writer-only. An entry's first/last/uaddr/perm are written before it is
 * inserted into the first copy and never change; readers reach them only
 * through a copy that holds the entry.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/devtlb.h>
#include <viommu/rangemap.h>

#include "util/compiler.h"
#include "util/leftright.h"
#include "util/log.h"
#include "util/opts.h"
#include "util/stripe.h"

#define viommu_devtlb_opts__last_field flags
#define viommu_devtlb_stats__last_field bytes

/* One cached translation. */
struct dt_entry {
	uint64_t first, last, uaddr;
	unsigned perm;
	struct dt_entry *older, *newer;	/* FIFO by insertion (writer only) */
	struct dt_entry *doomed;	/* entries one write removed, freed after it */
};

struct dt_stripe {
	uint64_t translations, hits, misses, denied;
} __attribute__((aligned(64)));

struct viommu_devtlb {
	struct vi_lr lr;
	struct viommu_rangemap *map[2];	/* identical outside a write; value: struct dt_entry * */
	uint32_t cap, pending_cap, page_shift, flags;

	pthread_mutex_t lock __attribute__((aligned(64)));
	struct dt_entry *oldest, *newest;
	uint32_t count;
	struct viommu_rangemap *pending;	/* [page, page end] -> perm bits asked for */
	uint64_t miss_reports, updates, replaced, retired, invalidations, invalidated, refused;
	uint64_t pending_dropped;

	struct dt_stripe stripe[VI_LR_STRIPES];
};

static inline struct dt_entry *ent_of(uint64_t v)
{
	return (struct dt_entry *)(uintptr_t)v;
}

VIOMMU_API int viommu_devtlb_range(uint64_t iova, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!size || size - 1 > UINT64_MAX - iova || !first || !last)
		return vi_errno(-EINVAL);
	*first = iova;
	*last = iova + (size - 1);
	return 0;
}

/* ---- writer side (lock held) ---------------------------------------------- */

/*
 * Widen [*first, *last] to the entries at its ends, so that the entries
 * overlapping the range are exactly those wholly inside the result (entries
 * are disjoint). False if nothing overlaps.
 */
static bool widen(const struct viommu_rangemap *m, uint64_t *first, uint64_t *last)
{
	struct viommu_range_entry e;

	if (!viommu_rangemap_find_overlap(m, *first, *last, &e))
		return false;
	if (e.first < *first)
		*first = e.first;
	if (viommu_rangemap_find(m, *last, &e))
		*last = e.last;
	return true;
}

static void fifo_unlink(struct viommu_devtlb *t, struct dt_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void fifo_append(struct viommu_devtlb *t, struct dt_entry *e)
{
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

struct doom {
	struct viommu_devtlb *t;
	struct dt_entry *list;
	uint32_t n;
};

/* remove_inside callback on the first copy: the entry leaves the FIFO and waits to be freed. */
static void doom_one(const struct viommu_range_entry *re, void *arg)
{
	struct doom *d = arg;
	struct dt_entry *e = ent_of(re->value);

	fifo_unlink(d->t, e);
	e->doomed = d->list;
	d->list = e;
	d->n++;
}

static void free_doomed(struct dt_entry *e)
{
	while (e) {
		struct dt_entry *next = e->doomed;

		free(e);
		e = next;
	}
}

static uint32_t count_inside(const struct viommu_rangemap *m, uint64_t first, uint64_t last)
{
	struct viommu_rangemap_iter it;
	uint32_t n = 0;

	viommu_rangemap_for_each(&it, m, first, last)
		n++;
	return n;
}

/* Forget pending misses on the pages overlapping [first, last]. */
static long pending_forget(struct viommu_devtlb *t, uint64_t first, uint64_t last)
{
	uint64_t mask = vi_mask(t->page_shift);

	if (!viommu_rangemap_count(t->pending))
		return 0;
	return viommu_rangemap_remove_inside(t->pending, first & ~mask, last | mask, NULL, NULL);
}

VIOMMU_API int viommu_devtlb_update(struct viommu_devtlb *t, uint64_t first, uint64_t last, uint64_t uaddr,
				    unsigned perm)
{
	struct doom d = { .t = t };
	struct dt_entry *e, *victim = NULL;
	uint64_t wfirst = first, wlast = last;
	unsigned a, b;
	bool any, in_a = false, in_b = false;
	const char *why = NULL;
	int ret = 0;

	if (!t)
		return vi_errno(-EINVAL);
	if (first > last)
		why = "first > last";
	else if (perm & ~VIOMMU_PERM_RW)
		why = "unknown permission bits";
	else if (last - first > UINT64_MAX - uaddr)
		why = "user address range wraps past 2^64";
	if (why) {
		vi_warn("devtlb: update [0x%" PRIx64 ", 0x%" PRIx64 "] -> 0x%" PRIx64 " perm 0x%x refused: %s", first,
			last, uaddr, perm, why);
		pthread_mutex_lock(&t->lock);
		t->refused++;
		pthread_mutex_unlock(&t->lock);
		return vi_errno(-EINVAL);
	}
	e = malloc(sizeof(*e));
	if (!e)
		return vi_errno(-ENOMEM);
	*e = (struct dt_entry){ .first = first, .last = last, .uaddr = uaddr, .perm = perm };

	pthread_mutex_lock(&t->lock);
	a = vi_lr_write_target(&t->lr);
	any = widen(t->map[a], &wfirst, &wlast);
	if (t->count >= t->cap) {
		/* Full even after the overlapped entries go: one more must make room. */
		uint32_t k = any ? count_inside(t->map[a], wfirst, wlast) : 0;

		if (t->count - k >= t->cap) {
			if (t->flags & VIOMMU_DEVTLB_NO_RETIRE) {
				t->refused++;
				pthread_mutex_unlock(&t->lock);
				vi_warn("devtlb: update [0x%" PRIx64 ", 0x%" PRIx64 "] refused: cache full (%u entries)",
					first, last, t->cap);
				free(e);
				return vi_errno(-ENOSPC);
			}
			/* The oldest entry the update does not overlap (at most k are skipped). */
			for (victim = t->oldest; victim && any && victim->last >= wfirst && victim->first <= wlast;
			     victim = victim->newer)
				;
		}
	}

	/* The copy no reader is in. */
	if (any)
		viommu_rangemap_remove_inside(t->map[a], wfirst, wlast, doom_one, &d);
	if (victim) {
		viommu_rangemap_remove(t->map[a], victim->first, victim->last, NULL);
		fifo_unlink(t, victim);
		victim->doomed = d.list;
		d.list = victim;
	}
	in_a = viommu_rangemap_insert(t->map[a], first, last, (uintptr_t)e) == 0;

	/* Publish it; then the other copy, which readers have left. */
	b = vi_lr_publish(&t->lr);
	if (any)
		viommu_rangemap_remove_inside(t->map[b], wfirst, wlast, NULL, NULL);
	if (victim)
		viommu_rangemap_remove(t->map[b], victim->first, victim->last, NULL);
	if (in_a) {
		in_b = viommu_rangemap_insert(t->map[b], first, last, (uintptr_t)e) == 0;
		if (!in_b) {
			/* Out of memory in the second copy: take the entry out of the first too. */
			unsigned again = vi_lr_publish(&t->lr);

			viommu_rangemap_remove(t->map[again], first, last, NULL);
		}
	}
	t->count -= d.n + (victim != NULL);
	t->replaced += d.n;
	t->retired += victim != NULL;
	if (in_a && in_b) {
		fifo_append(t, e);
		t->count++;
		t->updates++;
	} else {
		ret = -ENOMEM;
	}
	/* The frontend answered these pages, whether or not the entry could be kept. */
	pending_forget(t, first, last);
	pthread_mutex_unlock(&t->lock);

	free_doomed(d.list);
	if (ret) {
		free(e);
		return vi_errno(ret);
	}
	return 0;
}

VIOMMU_API long viommu_devtlb_invalidate(struct viommu_devtlb *t, uint64_t first, uint64_t last)
{
	struct doom d = { .t = t };
	unsigned a, b;

	if (!t)
		return vi_errno(-EINVAL);
	if (first > last) {
		vi_warn("devtlb: invalidate [0x%" PRIx64 ", 0x%" PRIx64 "] refused: first > last", first, last);
		pthread_mutex_lock(&t->lock);
		t->refused++;
		pthread_mutex_unlock(&t->lock);
		return vi_errno(-EINVAL);
	}
	pthread_mutex_lock(&t->lock);
	t->invalidations++;
	a = vi_lr_write_target(&t->lr);
	if (widen(t->map[a], &first, &last)) {
		viommu_rangemap_remove_inside(t->map[a], first, last, doom_one, &d);
		b = vi_lr_publish(&t->lr);
		viommu_rangemap_remove_inside(t->map[b], first, last, NULL, NULL);
		t->count -= d.n;
		t->invalidated += d.n;
	}
	pthread_mutex_unlock(&t->lock);
	free_doomed(d.list);
	return (long)d.n;
}

VIOMMU_API long viommu_devtlb_pending_clear(struct viommu_devtlb *t, uint64_t first, uint64_t last)
{
	long n;

	if (!t || first > last)
		return vi_errno(-EINVAL);
	pthread_mutex_lock(&t->lock);
	n = pending_forget(t, first, last);
	pthread_mutex_unlock(&t->lock);
	return n;
}

/*
 * Note a miss at @iova for @perm; true if the caller should report it (the
 * first miss on its page for a permission not asked for yet).
 */
static bool pending_note(struct viommu_devtlb *t, uint64_t iova, unsigned perm)
{
	uint64_t mask = vi_mask(t->page_shift);
	struct viommu_range_entry pe;

	if (viommu_rangemap_find(t->pending, iova, &pe)) {
		if ((pe.value & perm) == perm)
			return false;
		viommu_rangemap_set_value(t->pending, iova, pe.value | perm);
	} else {
		size_t n = viommu_rangemap_count(t->pending);

		if (n >= t->pending_cap) {
			vi_info("devtlb: %zu pending misses (the most tracked): forgetting them; some may be asked again",
				n);
			t->pending_dropped += n;
			viommu_rangemap_clear(t->pending);
		}
		/* Out of memory: report it untracked (it may then be reported twice). */
		viommu_rangemap_insert(t->pending, iova & ~mask, iova | mask, perm);
	}
	t->miss_reports++;
	return true;
}

/* ---- translation ---------------------------------------------------------- */

/* Translate in one copy. On -EAGAIN / -EACCES, *at is the byte that failed. */
static int translate_in(const struct viommu_rangemap *m, uint64_t iova, uint64_t last, unsigned perm,
			struct viommu_devtlb_seg *segs, unsigned max, uint64_t *at)
{
	struct viommu_rangemap_iter it;
	uint64_t cur = iova;
	unsigned n = 0;
	bool ok = viommu_rangemap_iter_start(&it, m, iova, last);

	for (;;) {
		const struct dt_entry *e;
		uint64_t end, ua, len;

		if (!ok || it.entry.first > cur) {
			*at = cur;
			return -EAGAIN;
		}
		e = ent_of(it.entry.value);
		if ((e->perm & perm) != perm) {
			*at = cur;
			return -EACCES;
		}
		end = VI_MIN(it.entry.last, last);
		ua = e->uaddr + (cur - e->first);
		len = end - cur + 1;	/* no overflow: at most the caller's len */
		if (n && ua && segs[n - 1].uaddr + (segs[n - 1].len - 1) == ua - 1) {
			segs[n - 1].len += len;
		} else {
			if (n == max)
				return -E2BIG;
			segs[n].uaddr = ua;
			segs[n].len = len;
			n++;
		}
		if (end == last)
			return (int)n;
		cur = end + 1;
		ok = viommu_rangemap_iter_next(&it);
	}
}

VIOMMU_API int viommu_devtlb_translate(struct viommu_devtlb *t, uint64_t iova, uint64_t len, unsigned perm,
				       struct viommu_devtlb_seg *segs, unsigned max_segs,
				       struct viommu_devtlb_miss *miss)
{
	struct dt_stripe *st;
	uint64_t last, at = 0;
	unsigned tok, i;
	bool report;
	int r;

	if (!t || !len || len - 1 > UINT64_MAX - iova || (perm & ~VIOMMU_PERM_RW) || !segs || !max_segs)
		return vi_errno(-EINVAL);
	last = iova + (len - 1);
	st = &t->stripe[vi_thread_stripe()];
	__atomic_add_fetch(&st->translations, 1, __ATOMIC_RELAXED);

	i = vi_lr_read_begin(&t->lr, &tok);
	r = translate_in(t->map[i], iova, last, perm, segs, max_segs, &at);
	vi_lr_read_end(&t->lr, tok);
	if (vi_likely(r > 0)) {
		__atomic_add_fetch(&st->hits, 1, __ATOMIC_RELAXED);
		return r;
	}
	if (r != -EAGAIN)
		goto out;

	/*
	 * A miss: take the lock (outside the read section: a writer holding it
	 * may be waiting for this reader) and look again, so an update that
	 * landed in between is used rather than reported as pending.
	 */
	pthread_mutex_lock(&t->lock);
	r = translate_in(t->map[vi_lr_write_target(&t->lr)], iova, last, perm, segs, max_segs, &at);
	report = r == -EAGAIN && pending_note(t, at, perm);
	pthread_mutex_unlock(&t->lock);
	if (r > 0) {
		__atomic_add_fetch(&st->hits, 1, __ATOMIC_RELAXED);
		return r;
	}
	if (r == -EAGAIN && miss) {
		miss->iova = at;
		miss->perm = perm;
		miss->report = report;
	}
out:
	if (r == -EAGAIN)
		__atomic_add_fetch(&st->misses, 1, __ATOMIC_RELAXED);
	else if (r == -EACCES)
		__atomic_add_fetch(&st->denied, 1, __ATOMIC_RELAXED);
	return vi_errno(r);
}

/* ---- life cycle and statistics --------------------------------------------- */

VIOMMU_API int viommu_devtlb_get_stats(struct viommu_devtlb *t, struct viommu_devtlb_stats *st)
{
	struct viommu_devtlb_stats s = { .sz = sizeof(s) };
	uint64_t sum[4];

	if (!t)
		return vi_errno(-EINVAL);
	_Static_assert(offsetof(struct dt_stripe, denied) == 3 * sizeof(uint64_t), "dt_stripe: four counters");
	vi_stripe_sum(t->stripe, VI_LR_STRIPES, sizeof(t->stripe[0]), sum, 4);
	s.translations = sum[0];
	s.hits = sum[1];
	s.misses = sum[2];
	s.denied = sum[3];
	pthread_mutex_lock(&t->lock);
	s.miss_reports = t->miss_reports;
	s.updates = t->updates;
	s.replaced = t->replaced;
	s.retired = t->retired;
	s.invalidations = t->invalidations;
	s.invalidated = t->invalidated;
	s.refused = t->refused;
	s.pending_dropped = t->pending_dropped;
	s.entries = t->count;
	s.pending = viommu_rangemap_count(t->pending);
	s.capacity = t->cap;
	s.bytes = sizeof(*t) + viommu_rangemap_bytes(t->map[0]) + viommu_rangemap_bytes(t->map[1]) +
		  viommu_rangemap_bytes(t->pending) + (uint64_t)t->count * sizeof(struct dt_entry);
	pthread_mutex_unlock(&t->lock);
	return vi_errno(VI_OPTS_OUT(st, &s, viommu_devtlb_stats));
}

VIOMMU_API struct viommu_devtlb *viommu_devtlb_new(const struct viommu_devtlb_opts *opts)
{
	uint32_t cap = VI_OPTS_GET(opts, capacity, 0), pcap = VI_OPTS_GET(opts, pending_capacity, 0);
	uint32_t shift = VI_OPTS_GET(opts, page_shift, 0), flags = VI_OPTS_GET(opts, flags, 0);
	struct viommu_devtlb *t;

	if (!VI_OPTS_VALID(opts, viommu_devtlb_opts))
		return vi_null(EINVAL);
	cap = cap ? cap : VIOMMU_DEVTLB_DEFAULT_CAPACITY;
	pcap = pcap ? pcap : VIOMMU_DEVTLB_DEFAULT_PENDING;
	shift = shift ? shift : 12;
	if (cap > VIOMMU_DEVTLB_MAX_CAPACITY || pcap > VIOMMU_DEVTLB_MAX_CAPACITY || shift < 12 || shift > 30 ||
	    (flags & ~VIOMMU_DEVTLB_NO_RETIRE)) {
		vi_warn("devtlb: options refused: capacity %u, pending %u (at most %u), page_shift %u (12..30), flags 0x%x",
			cap, pcap, VIOMMU_DEVTLB_MAX_CAPACITY, shift, flags);
		return vi_null(EINVAL);
	}
	t = aligned_alloc(64, (sizeof(*t) + 63) & ~(size_t)63);
	if (!t)
		return vi_null(ENOMEM);
	memset(t, 0, sizeof(*t));
	vi_lr_init(&t->lr);
	pthread_mutex_init(&t->lock, NULL);
	t->cap = cap;
	t->pending_cap = pcap;
	t->page_shift = shift;
	t->flags = flags;
	t->map[0] = viommu_rangemap_new();
	t->map[1] = viommu_rangemap_new();
	t->pending = viommu_rangemap_new();
	if (!t->map[0] || !t->map[1] || !t->pending) {
		viommu_devtlb_free(t);
		return vi_null(ENOMEM);
	}
	return t;
}

VIOMMU_API void viommu_devtlb_free(struct viommu_devtlb *t)
{
	if (!t)
		return;
	if (t->map[0]) {
		struct viommu_rangemap_iter it;

		viommu_rangemap_for_each(&it, t->map[0], 0, UINT64_MAX)
			free(ent_of(it.entry.value));
	}
	viommu_rangemap_free(t->map[0]);
	viommu_rangemap_free(t->map[1]);
	viommu_rangemap_free(t->pending);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
