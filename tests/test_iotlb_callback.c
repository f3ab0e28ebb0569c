// SPDX-License-Identifier: MIT
/*
 * The eviction callback runs outside the cache's update section and lock
 * (include/viommu/iotlb.h):
 *  - while a callback is blocked, lookups on another thread complete with
 *    exact results, and inserts and invalidations on another thread
 *    complete too: the callback waits on a condition that this test
 *    releases only after they have all returned, so a cache that ran the
 *    callback with lookups held off (or its lock held) never gets there
 *    (a watchdog then fails the test by name instead of hanging);
 *  - a callback may look up, insert, invalidate and read statistics of the
 *    same cache; its own insert's eviction calls it again, nested, on the
 *    same thread, and every result is exact.
 * Fixed operation counts; nothing depends on how the threads are scheduled.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <viommu/iotlb.h>

#include "test.h"

static struct viommu_iotlb_entry E(uint32_t src, uint32_t dom, uint64_t iova, uint64_t out)
{
	struct viommu_iotlb_entry e = { .source = src, .domain = dom, .iova = iova, .output = out, .order = 12,
					.perm = VIOMMU_PERM_RW };
	return e;
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: the cache stalled behind a blocked eviction callback\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* ---- 1. a blocked callback stalls nobody -------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool in_callback, released;
static struct viommu_iotlb_entry victim;
static unsigned callbacks;
static pthread_t blocker;

static void blocking_evict(const struct viommu_iotlb_entry *e, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	callbacks++;
	if (pthread_equal(pthread_self(), blocker) && !in_callback) {
		/* the first eviction on the blocker thread: hold the callback until released */
		victim = *e;
		in_callback = true;
		pthread_cond_broadcast(&cv);
		while (!released)
			pthread_cond_wait(&cv, &mu);
	}
	pthread_mutex_unlock(&mu);
}

static struct viommu_iotlb *cache;

static void *blocker_main(void *arg)
{
	struct viommu_iotlb_entry e = E(1, 1, 0x100000, 0x7700000);

	*(int *)arg = viommu_iotlb_insert(cache, &e);	/* full: evicts, and the callback blocks */
	return NULL;
}

static void test_blocked_callback(void)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 8, .on_evict = blocking_evict };
	struct viommu_iotlb_entry e;
	int blocker_ret = -1;

	cache = viommu_iotlb_new(&o);
	T_OK(cache);
	for (uint64_t i = 0; i < 8; i++) {
		e = E(1, 1, i << 12, 0x5000000 + (i << 12));
		T_EQ(viommu_iotlb_insert(cache, &e), 0);
	}
	T_EQ(pthread_create(&blocker, NULL, blocker_main, &blocker_ret), 0);
	pthread_mutex_lock(&mu);
	while (!in_callback)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	/* The callback is blocked now. Lookups of every page: exact hits, the victim a miss. */
	unsigned hits = 0;
	for (unsigned round = 0; round < 1000; round++) {
		for (uint64_t i = 0; i < 8; i++) {
			bool hit = viommu_iotlb_lookup(cache, 1, 1, (i << 12) + 0x123, &e);

			if ((i << 12) == victim.iova) {
				T_OK(!hit);
				continue;
			}
			T_OK(hit);
			T_EQ_U64(e.iova, i << 12);
			T_EQ_U64(e.output, 0x5000000 + (i << 12));
			hits += hit;
		}
		/* the blocker's own insert finished before its callback started */
		T_OK(viommu_iotlb_lookup(cache, 1, 1, 0x100fff, &e));
		T_EQ_U64(e.output, 0x7700000);
	}
	T_EQ(hits, 7 * 1000);
	/* Writers on this thread go through too: an insert (evicting: its callback runs here), an invalidation. */
	e = E(2, 2, 0x200000, 0x8800000);
	T_EQ(viommu_iotlb_insert(cache, &e), 0);
	T_EQ(viommu_iotlb_invalidate_range(cache, 2, 0x200000, 0x200fff), 1);
	struct viommu_iotlb_stats st = { .sz = sizeof(st) };
	T_EQ(viommu_iotlb_get_stats(cache, &st), 0);
	T_EQ(st.evictions, 2);
	T_EQ(st.entries, 7);

	pthread_mutex_lock(&mu);
	T_EQ(callbacks, 2);	/* the blocked one and this thread's */
	released = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	T_EQ(pthread_join(blocker, NULL), 0);
	T_EQ(blocker_ret, 0);
	viommu_iotlb_free(cache);
}

/* ---- 2. a callback that uses the same cache ------------------------------ */

struct reentry {
	struct viommu_iotlb *c;
	unsigned depth, max_depth, calls;
	struct viommu_iotlb_entry victims[4];
	bool victim_missed[4], newest_hit[4];
	long invalidated;
	uint64_t stats_evictions[4];
};

static struct viommu_iotlb_entry newest;

static void reentrant_evict(const struct viommu_iotlb_entry *e, void *ctx)
{
	struct reentry *r = ctx;
	struct viommu_iotlb_entry got, next;
	struct viommu_iotlb_stats st = { .sz = sizeof(st) };
	unsigned n = r->calls++;

	if (n >= 4)
		return;
	r->depth++;
	r->max_depth = r->depth > r->max_depth ? r->depth : r->max_depth;
	r->victims[n] = *e;
	r->victim_missed[n] = !viommu_iotlb_lookup(r->c, e->source, e->domain, e->iova, &got);
	r->newest_hit[n] = viommu_iotlb_lookup(r->c, newest.source, newest.domain, newest.iova, &got) &&
			   got.output == newest.output;
	viommu_iotlb_get_stats(r->c, &st);
	r->stats_evictions[n] = st.evictions;
	if (n == 0) {
		/* insert into the full cache from inside the callback: it evicts, and calls us again */
		next = E(9, 9, 0x900000, 0x9900000);
		newest = next;
		if (viommu_iotlb_insert(r->c, &next) == 0) {
			/* and an invalidation from the callback, of a domain holding one entry */
			r->invalidated = viommu_iotlb_invalidate_domain(r->c, 3);
		}
	}
	r->depth--;
}

static void test_reentrant_callback(void)
{
	struct reentry r = { 0 };
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 3, .on_evict = reentrant_evict, .evict_ctx = &r };
	struct viommu_iotlb_entry e, got;

	r.c = viommu_iotlb_new(&o);
	T_OK(r.c);
	e = E(1, 1, 0x1000, 0x11000);
	T_EQ(viommu_iotlb_insert(r.c, &e), 0);
	e = E(2, 2, 0x2000, 0x22000);
	T_EQ(viommu_iotlb_insert(r.c, &e), 0);
	e = E(3, 3, 0x3000, 0x33000);
	T_EQ(viommu_iotlb_insert(r.c, &e), 0);
	/* the fourth insert evicts: callback #0, whose insert evicts again: callback #1, nested */
	e = E(4, 4, 0x4000, 0x44000);
	newest = e;
	T_EQ(viommu_iotlb_insert(r.c, &e), 0);
	T_EQ(r.calls, 2);
	T_EQ(r.max_depth, 2);
	T_EQ(r.depth, 0);
	T_OK(r.victim_missed[0] && r.victim_missed[1]);
	T_OK(r.newest_hit[0]);	/* #0 saw the entry whose insert evicted */
	T_OK(r.newest_hit[1]);	/* #1 saw the nested insert's entry */
	T_EQ(r.stats_evictions[0], 1);
	T_EQ(r.stats_evictions[1], 2);
	T_OK(r.victims[0].iova != r.victims[1].iova);
	/* both victims were among the three first entries, and are gone */
	for (unsigned i = 0; i < 2; i++) {
		T_OK(r.victims[i].iova >= 0x1000 && r.victims[i].iova <= 0x3000);
		T_EQ(r.victims[i].source, r.victims[i].iova >> 12);
		T_EQ_U64(r.victims[i].output, (r.victims[i].iova >> 12) * 0x11000);
	}
	/* what is left: entries 4 and 9, and whichever of 1..3 survived unless it was domain 3's */
	uint64_t survivor = 0x1000 + 0x2000 + 0x3000 - r.victims[0].iova - r.victims[1].iova;
	T_EQ(r.invalidated, survivor == 0x3000 ? 1 : 0);
	T_OK(viommu_iotlb_lookup(r.c, 4, 4, 0x4000, &got));
	T_OK(viommu_iotlb_lookup(r.c, 9, 9, 0x900000, &got));
	T_EQ_U64(got.output, 0x9900000);
	bool survivor_hit = viommu_iotlb_lookup(r.c, (uint32_t)(survivor >> 12), (uint32_t)(survivor >> 12),
						survivor, &got);
	T_EQ(survivor_hit, survivor != 0x3000);
	struct viommu_iotlb_stats st = { .sz = sizeof(st) };
	T_EQ(viommu_iotlb_get_stats(r.c, &st), 0);
	T_EQ(st.inserts, 5);
	T_EQ(st.evictions, 2);
	T_EQ(st.entries, survivor == 0x3000 ? 2 : 3);
	viommu_iotlb_free(r.c);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(120);	/* only a hang detector: the test itself waits on conditions, not time */
	test_blocked_callback();
	test_reentrant_callback();
	return t_done();
}
