/* SPDX-License-Identifier: MIT */
/*
 * The scaffolding of the threaded cache tests (test_iotlb_threads.c,
 * test_devtlb_threads.c): writers stamp every entry they put into a cache
 * with a generation and publish, per key, which generations may still be
 * found; readers check every hit against what was published around their
 * lookup. Include after test.h.
 *
 * Per key: before putting generation g + 1 in, a writer publishes
 * inserted = g + 1 (t_gen_inserting); once a call that removed generation g
 * (an invalidation, or a replacing insert) has returned, it publishes
 * min_valid = g + 1 (t_gen_removed). A reader loads min_valid before its
 * lookup and inserted after it (acquire): a hit on generation h is allowed
 * only if min_valid <= h <= inserted.
 *
 * Threads: t_gen_race() runs the readers and writers of a struct t_gen_race
 * and waits for them. Each reader makes a fixed number of lookups and then
 * calls t_gen_reader_done(); each writer makes at least writer_ops steps and
 * keeps going until every reader is done, so what is asserted never depends
 * on what the scheduler did.
 */
#ifndef VIOMMU_TESTS_GEN_RACE_H
#define VIOMMU_TESTS_GEN_RACE_H

#include <pthread.h>

struct t_gen {
	uint64_t gen;		/* writer-private: the generation last put in */
	uint64_t inserted;	/* published: highest generation ever put in */
	uint64_t min_valid;	/* published: every generation below it was removed */
};

/* Publish that generation gen + 1 is about to be put in. */
static inline void t_gen_inserting(struct t_gen *g)
{
	__atomic_store_n(&g->inserted, g->gen + 1, __ATOMIC_RELEASE);
}

/* Publish that generation gen (and all before it) is gone. */
static inline void t_gen_removed(struct t_gen *g)
{
	__atomic_store_n(&g->min_valid, g->gen + 1, __ATOMIC_RELEASE);
}

static inline uint64_t t_gen_min_valid(const struct t_gen *g)
{
	return __atomic_load_n(&g->min_valid, __ATOMIC_ACQUIRE);
}

static inline uint64_t t_gen_inserted(const struct t_gen *g)
{
	return __atomic_load_n(&g->inserted, __ATOMIC_ACQUIRE);
}

/*
 * The value a writer stores for key k of writer w at generation gen, so a
 * hit names its key and generation: k from bit @shift (8 bits), w from
 * shift + 8 (4 bits), gen from shift + 12.
 */
static inline uint64_t t_gen_stamp(unsigned w, unsigned k, uint64_t gen, unsigned shift)
{
	return gen << (shift + 12) | (uint64_t)w << (shift + 8) | (uint64_t)k << shift;
}

/* A writer's next step: a key below @nkeys into *key, and a percentile 0..99 to choose the operation. */
static inline unsigned t_gen_draw(struct t_rng *r, unsigned nkeys, unsigned *key)
{
	*key = (unsigned)t_rng_below(r, nkeys);
	return (unsigned)t_rng_below(r, 100);
}

/* Failures seen by any thread; t_gen_fail() counts one and says whether to print it (the first 10). */
static unsigned long t_gen_bad;

static inline bool t_gen_fail(void)
{
	return __atomic_add_fetch(&t_gen_bad, 1, __ATOMIC_RELAXED) <= 10;
}

struct t_gen_race {
	unsigned writers, readers;
	unsigned writer_ops;			/* at least this many steps per writer */
	void (*writer_op)(unsigned w);		/* one step of writer w's stream */
	void *(*reader)(void *arg);		/* arg: the reader's index (uintptr_t) */
	int readers_left;
};

static struct t_gen_race *t_gen_cur;

/* The end of a reader: writers stop once every reader has called this. */
static inline void t_gen_reader_done(void)
{
	__atomic_sub_fetch(&t_gen_cur->readers_left, 1, __ATOMIC_RELEASE);
}

static void *t_gen_writer(void *arg)
{
	unsigned w = (unsigned)(uintptr_t)arg;
	struct t_gen_race *r = t_gen_cur;

	for (unsigned op = 0; op < r->writer_ops || __atomic_load_n(&r->readers_left, __ATOMIC_ACQUIRE); op++)
		r->writer_op(w);
	return NULL;
}

/* Run r's readers and writers to the end. */
static inline void t_gen_race(struct t_gen_race *r)
{
	pthread_t th[64];
	unsigned n = r->readers + r->writers;

	T_OK(n <= 64);
	t_gen_cur = r;
	r->readers_left = (int)r->readers;
	for (uintptr_t i = 0; i < r->readers; i++)
		T_EQ(pthread_create(&th[i], NULL, r->reader, (void *)i), 0);
	for (uintptr_t i = 0; i < r->writers; i++)
		T_EQ(pthread_create(&th[r->readers + i], NULL, t_gen_writer, (void *)i), 0);
	for (unsigned i = 0; i < n; i++)
		T_EQ(pthread_join(th[i], NULL), 0);
}

#endif
