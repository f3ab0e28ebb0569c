// SPDX-License-Identifier: MIT
/*
 * IOTLB benchmark: translate hit (4K and 2M leaves, random and sequential
 * addresses), miss, insert, and invalidation (1 page, 512 pages, a domain of
 * 1000 entries) in a cache of N entries, single-threaded and with 2 threads
 * looking up at once, each against a QEMU-like IOTLB built here and run in
 * the same process (semantics.md §5): a chained hash keyed (gfn, source id,
 * level, pasid) under one global mutex, a lookup probing 4K, 2M then 1G,
 * page and domain invalidation scanning the whole table (QEMU's
 * g_hash_table_foreach_remove), and a wholesale flush when it reaches its
 * capacity. At QEMU's own 1024 entries a working set of N thrashes it, so
 * the baseline is measured both ways: "qemu1024" (QEMU as shipped, hit
 * cases with a 1000-entry working set) and "qemu" (capacity >= N, the fair
 * comparison). Ratios are ours / baseline (lower is better).
 *
 * The lookup-structure decision is measured too: design.rangemap_find is a
 * point lookup in one range map (O(log n)) of the same 4K leaves, the
 * alternative to our hash over the sizes present.
 *
 *	bench_iotlb [entries [seed]]	default 100000 entries, seed 0x10b5eed
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <viommu/iotlb.h>
#include <viommu/rangemap.h>

#define REPS 3
#define NLOOK 1000000u
#define NPAIRS 8		/* (source, domain) pairs the leaves are spread over */

static uint64_t sink;

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state;
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- the QEMU-like baseline ---------------------------------------------- */

struct q_ent {
	uint64_t gfn;		/* iova >> 12, masked to the level */
	uint32_t sid, pasid, domain;
	uint8_t level;		/* 1 = 4K, 2 = 2M, 3 = 1G */
	uint8_t perm;
	uint64_t output;
	struct q_ent *next;
};

struct q_tlb {
	pthread_mutex_t lock;
	struct q_ent **bucket;
	size_t nbucket, count, cap;
};

static unsigned q_shift(unsigned level) { return 12 + 9 * (level - 1); }

static size_t q_hash(const struct q_tlb *q, uint64_t gfn, uint32_t sid, uint32_t pasid, unsigned level)
{
	uint64_t x = gfn ^ ((uint64_t)sid << 40) ^ ((uint64_t)pasid << 20) ^ ((uint64_t)level << 60);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x & (q->nbucket - 1);
}

static void q_init(struct q_tlb *q, size_t cap)
{
	pthread_mutex_init(&q->lock, NULL);
	q->cap = cap;
	q->nbucket = 1024;
	while (q->nbucket < cap)
		q->nbucket <<= 1;
	q->bucket = calloc(q->nbucket, sizeof(*q->bucket));
	q->count = 0;
}

static void q_flush_locked(struct q_tlb *q)
{
	for (size_t b = 0; b < q->nbucket; b++) {
		struct q_ent *e = q->bucket[b], *n;
		for (; e; e = n) {
			n = e->next;
			free(e);
		}
		q->bucket[b] = NULL;
	}
	q->count = 0;
}

static void q_fini(struct q_tlb *q)
{
	q_flush_locked(q);
	free(q->bucket);
	pthread_mutex_destroy(&q->lock);
}

static bool q_lookup(struct q_tlb *q, uint32_t sid, uint32_t pasid, uint64_t iova, uint64_t *out)
{
	bool hit = false;

	pthread_mutex_lock(&q->lock);
	for (unsigned level = 1; level <= 3 && !hit; level++) {
		uint64_t gfn = (iova >> q_shift(level)) << (q_shift(level) - 12);
		for (struct q_ent *e = q->bucket[q_hash(q, gfn, sid, pasid, level)]; e; e = e->next) {
			if (e->gfn == gfn && e->sid == sid && e->pasid == pasid && e->level == level) {
				*out = e->output + (iova & ((UINT64_C(1) << q_shift(level)) - 1));
				hit = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&q->lock);
	return hit;
}

static void q_insert(struct q_tlb *q, uint32_t sid, uint32_t domain, uint64_t iova, unsigned order, uint64_t out)
{
	unsigned level = (order - 12) / 9 + 1;
	uint64_t gfn = iova >> 12;
	struct q_ent *e = malloc(sizeof(*e));
	size_t b;

	*e = (struct q_ent){ .gfn = gfn, .sid = sid, .pasid = domain, .domain = domain, .level = (uint8_t)level,
			     .perm = 3, .output = out };
	pthread_mutex_lock(&q->lock);
	b = q_hash(q, gfn, sid, domain, level);
	/* g_hash_table_replace: an equal key is replaced */
	for (struct q_ent **link = &q->bucket[b], *x; (x = *link); link = &x->next) {
		if (x->gfn == gfn && x->sid == sid && x->pasid == domain && x->level == level) {
			*link = x->next;
			free(x);
			q->count--;
			break;
		}
	}
	if (q->count >= q->cap)
		q_flush_locked(q);
	e->next = q->bucket[b];
	q->bucket[b] = e;
	q->count++;
	pthread_mutex_unlock(&q->lock);
}

/* Remove entries of @domain (all domains if @any) overlapping [first, last]: a scan of the whole table. */
static long q_invalidate(struct q_tlb *q, bool any, uint32_t domain, uint64_t first, uint64_t last)
{
	long n = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t b = 0; b < q->nbucket; b++) {
		for (struct q_ent **link = &q->bucket[b], *e; (e = *link);) {
			uint64_t lo = e->gfn << 12, hi = lo + ((UINT64_C(1) << q_shift(e->level)) - 1);
			if ((any || e->domain == domain) && lo <= last && hi >= first) {
				*link = e->next;
				free(e);
				q->count--;
				n++;
			} else {
				link = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* ---- workloads ------------------------------------------------------------ */

struct leaf {
	uint32_t source, domain;
	uint64_t iova;
};

static struct leaf *leaves;
static uint64_t *probe_idx;	/* NLOOK indices into leaves */
static size_t nleaves;

/* N leaves of 2^order spread over NPAIRS pairs, every other slot left empty for misses. */
static void make_leaves(size_t n, unsigned order)
{
	nleaves = n;
	for (size_t i = 0; i < n; i++)
		leaves[i] = (struct leaf){ .source = (uint32_t)(i % NPAIRS), .domain = (uint32_t)(i % NPAIRS),
					   .iova = (uint64_t)(i / NPAIRS) * 2 << order };
}

static void fill_ours(struct viommu_iotlb *c, unsigned order)
{
	for (size_t i = 0; i < nleaves; i++) {
		struct viommu_iotlb_entry e = { .source = leaves[i].source, .domain = leaves[i].domain,
						.iova = leaves[i].iova, .output = leaves[i].iova + (1ull << 40),
						.order = (uint8_t)order, .perm = 3 };
		viommu_iotlb_insert(c, &e);
	}
}

static void fill_q(struct q_tlb *q, unsigned order)
{
	for (size_t i = 0; i < nleaves; i++)
		q_insert(q, leaves[i].source, leaves[i].domain, leaves[i].iova, order, leaves[i].iova + (1ull << 40));
}

static void make_probes(bool sequential)
{
	for (size_t i = 0; i < NLOOK; i++)
		probe_idx[i] = sequential ? i % nleaves : rng() % nleaves;
}

/* Time NLOOK lookups at leaf + @offset (offset past the leaf: misses); best of REPS. */
static double time_ours(struct viommu_iotlb *c, uint64_t offset)
{
	double best = 1e300;

	for (int rep = 0; rep < REPS; rep++) {
		struct viommu_iotlb_entry e;
		double t0 = cpu_ns();
		for (size_t i = 0; i < NLOOK; i++) {
			const struct leaf *l = &leaves[probe_idx[i]];
			if (viommu_iotlb_lookup(c, l->source, l->domain, l->iova + offset, &e))
				sink += e.output;
		}
		double d = (cpu_ns() - t0) / NLOOK;
		if (d < best)
			best = d;
	}
	return best;
}

static double time_q(struct q_tlb *q, uint64_t offset)
{
	double best = 1e300;

	for (int rep = 0; rep < REPS; rep++) {
		uint64_t out;
		double t0 = cpu_ns();
		for (size_t i = 0; i < NLOOK; i++) {
			const struct leaf *l = &leaves[probe_idx[i]];
			if (q_lookup(q, l->source, l->domain, l->iova + offset, &out))
				sink += out;
		}
		double d = (cpu_ns() - t0) / NLOOK;
		if (d < best)
			best = d;
	}
	return best;
}

static void line(const char *name, double ours, double base, const char *base_name)
{
	printf("%s %.1f ns\n", name, ours);
	printf("%s.%s %.1f ns\n", name, base_name, base);
	printf("%s ratio %.4f\n", name, ours / base);
}

static void bench_hits(size_t n, unsigned order, const char *sz)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = n };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);
	struct q_tlb q;
	char name[96];

	q_init(&q, n);
	make_leaves(n, order);
	fill_ours(c, order);
	fill_q(&q, order);
	for (int seq = 0; seq <= 1; seq++) {
		make_probes(seq);
		double a = time_ours(c, 5), b = time_q(&q, 5);
		snprintf(name, sizeof(name), "iotlb.hit.%s.%s", sz, seq ? "seq" : "random");
		line(name, a, b, "qemu");
	}
	/* misses: the empty slot after each leaf, in a context that holds leaves */
	make_probes(false);
	snprintf(name, sizeof(name), "iotlb.miss.%s", sz);
	line(name, time_ours(c, UINT64_C(1) << order), time_q(&q, UINT64_C(1) << order), "qemu");
	if (order == 12) {
		/* the alternative index: one range map per context, O(log n) */
		struct viommu_rangemap *m = viommu_rangemap_new();
		struct viommu_range_entry re;
		double best = 1e300;

		for (size_t i = 0; i < n; i += NPAIRS)
			viommu_rangemap_insert(m, leaves[i].iova, leaves[i].iova + 0xfff, i);
		for (size_t i = 0; i < NLOOK; i++)
			probe_idx[i] = (rng() % (n / NPAIRS)) * NPAIRS;
		for (int rep = 0; rep < REPS; rep++) {
			double t0 = cpu_ns();
			for (size_t i = 0; i < NLOOK; i++)
				if (viommu_rangemap_find(m, leaves[probe_idx[i]].iova + 5, &re))
					sink += re.value;
			double d = (cpu_ns() - t0) / NLOOK;
			if (d < best)
				best = d;
		}
		double ours = time_ours(c, 5);
		line("iotlb.design.hash_vs_rangemap.4k", ours, best, "rangemap_find");
		viommu_rangemap_free(m);
	}
	viommu_iotlb_free(c);
	q_fini(&q);
}

/* A context holding 4K, 2M and 1G leaves: lookups hit each size; QEMU probes up to 3 levels. */
static void bench_mixed(size_t n)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = n };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);
	struct q_tlb q;
	static const unsigned ord[3] = { 12, 21, 30 };

	q_init(&q, n);
	nleaves = n;
	for (size_t i = 0; i < n; i++) {
		unsigned k = (unsigned)(i % 3);
		leaves[i] = (struct leaf){ .source = 0, .domain = 0,
					   .iova = ((uint64_t)k << 46) + ((uint64_t)i << ord[k]) };
		struct viommu_iotlb_entry e = { .iova = leaves[i].iova, .output = leaves[i].iova, .order = (uint8_t)ord[k],
						.perm = 3 };
		viommu_iotlb_insert(c, &e);
		q_insert(&q, 0, 0, leaves[i].iova, ord[k], leaves[i].iova);
	}
	make_probes(false);
	line("iotlb.hit.mixed.random", time_ours(c, 5), time_q(&q, 5), "qemu");
	viommu_iotlb_free(c);
	q_fini(&q);
}

/* QEMU as shipped (1024 entries, wholesale flush): a 1000-entry working set fits, 4096 does not. */
static void bench_qemu1024(void)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 1024 };
	struct viommu_iotlb *c;
	struct q_tlb q;
	char name[64];

	for (size_t ws = 1000; ws <= 4096; ws = ws == 1000 ? 4096 : 99999) {
		double best_a = 1e300, best_b = 1e300;
		uint64_t q_hits = 0, q_lookups = 0;

		c = viommu_iotlb_new(&o);
		q_init(&q, 1024);
		make_leaves(ws, 12);
		make_probes(false);
		/* a miss is followed by a (re)fill, as a walker would do */
		for (int rep = 0; rep < REPS; rep++) {
			struct viommu_iotlb_entry e;
			uint64_t out;
			double t0 = cpu_ns();
			for (size_t i = 0; i < NLOOK; i++) {
				const struct leaf *l = &leaves[probe_idx[i]];
				if (viommu_iotlb_lookup(c, l->source, l->domain, l->iova + 5, &e)) {
					sink += e.output;
				} else {
					e = (struct viommu_iotlb_entry){ .source = l->source, .domain = l->domain,
									 .iova = l->iova, .output = l->iova, .order = 12,
									 .perm = 3 };
					viommu_iotlb_insert(c, &e);
				}
			}
			double d = (cpu_ns() - t0) / NLOOK;
			if (d < best_a)
				best_a = d;
			t0 = cpu_ns();
			for (size_t i = 0; i < NLOOK; i++) {
				const struct leaf *l = &leaves[probe_idx[i]];
				q_lookups++;
				if (q_lookup(&q, l->source, l->domain, l->iova + 5, &out)) {
					sink += out;
					q_hits++;
				} else {
					q_insert(&q, l->source, l->domain, l->iova, 12, l->iova);
				}
			}
			d = (cpu_ns() - t0) / NLOOK;
			if (d < best_b)
				best_b = d;
		}
		struct viommu_iotlb_stats st = { .sz = sizeof(st) };
		viommu_iotlb_get_stats(c, &st);
		snprintf(name, sizeof(name), "iotlb.translate_fill.ws%zu.cap1024", ws);
		line(name, best_a, best_b, "qemu1024");
		printf("%s.hit_rate %.3f\n", name, (double)st.hits / (double)(st.hits + st.misses));
		printf("%s.hit_rate.qemu1024 %.3f\n", name, (double)q_hits / (double)q_lookups);
		viommu_iotlb_free(c);
		q_fini(&q);
	}
}

static void bench_insert(size_t n)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = n };
	double best_a = 1e300, best_b = 1e300;

	make_leaves(n, 12);
	for (int rep = 0; rep < REPS; rep++) {
		struct viommu_iotlb *c = viommu_iotlb_new(&o);
		struct q_tlb q;
		double t0 = cpu_ns();

		fill_ours(c, 12);
		double d = (cpu_ns() - t0) / (double)n;
		if (d < best_a)
			best_a = d;
		q_init(&q, n);
		t0 = cpu_ns();
		fill_q(&q, 12);
		d = (cpu_ns() - t0) / (double)n;
		if (d < best_b)
			best_b = d;
		viommu_iotlb_free(c);
		q_fini(&q);
	}
	line("iotlb.insert.4k", best_a, best_b, "qemu");
}

static void reinsert(struct viommu_iotlb *c, struct q_tlb *q, uint32_t dom, uint64_t first_page, uint64_t pages)
{
	for (uint64_t pg = first_page; pg < first_page + pages; pg++) {
		struct viommu_iotlb_entry e = { .source = dom, .domain = dom, .iova = pg << 12,
						.output = (pg << 12) + (1ull << 40), .order = 12, .perm = 3 };
		viommu_iotlb_insert(c, &e);
		q_insert(q, dom, dom, pg << 12, 12, e.output);
	}
}

/*
 * Invalidation in a cache of n 4K leaves spread over 100 domains (n / 100
 * pages each): 1 page and 512 pages of one domain, and a whole domain. Each
 * case times a batch of invalidations of distinct ranges (the clock is a
 * system call: one per batch), then re-inserts what they removed, untimed.
 * The QEMU-like baseline scans its whole table every time, so it gets
 * fewer operations per batch.
 */
static void bench_invalidate(size_t n)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = n };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);
	struct q_tlb q;
	const uint32_t ndom = 100;
	const uint64_t pages = n / ndom;
	long removed_a = 0, removed_b = 0;
	char name[64];

	q_init(&q, n);
	nleaves = n;
	for (size_t i = 0; i < n; i++)
		leaves[i] = (struct leaf){ .source = (uint32_t)(i % ndom), .domain = (uint32_t)(i % ndom),
					   .iova = (uint64_t)(i / ndom) << 12 };
	fill_ours(c, 12);
	fill_q(&q, 12);
	for (int k = 0; k < 3; k++) {
		/*
		 * batch: ops distinct ranges of len pages; 1 page: successive pages of
		 * one domain; 512 pages: the first 512 of successive domains; whole
		 * successive domains
		 */
		uint64_t len = k == 0 ? 1 : k == 1 ? 512 : pages;
		unsigned ops_a = k == 0 ? 1000 : 20, ops_b = 5;
		double best_a = 1e300, best_b = 1e300;

		for (int rep = 0; rep < REPS; rep++) {
			uint32_t dom = (uint32_t)(rng() % ndom);
			double t0 = cpu_ns(), d;

			for (unsigned i = 0; i < ops_a; i++) {
				if (k == 2)
					removed_a += viommu_iotlb_invalidate_domain(c, (dom + i) % ndom);
				else if (k == 1)
					removed_a += viommu_iotlb_invalidate_range(c, (dom + i) % ndom, 0,
										   (512 << 12) - 1);
				else
					removed_a += viommu_iotlb_invalidate_range(c, dom, (i * len) << 12,
										   ((i + 1) * len << 12) - 1);
			}
			d = (cpu_ns() - t0) / ops_a;
			best_a = d < best_a ? d : best_a;
			t0 = cpu_ns();
			for (unsigned i = 0; i < ops_b; i++) {
				if (k == 2)
					removed_b += q_invalidate(&q, false, (dom + i) % ndom, 0, UINT64_MAX);
				else if (k == 1)
					removed_b += q_invalidate(&q, false, (dom + i) % ndom, 0, (512 << 12) - 1);
				else
					removed_b += q_invalidate(&q, false, dom, (i * len) << 12,
								  ((i + 1) * len << 12) - 1);
			}
			d = (cpu_ns() - t0) / ops_b;
			best_b = d < best_b ? d : best_b;
			/* put back everything either side removed (re-inserting what is cached only replaces it) */
			for (unsigned i = 0; i < (ops_a > ops_b ? ops_a : ops_b); i++) {
				if (k == 2)
					reinsert(c, &q, (dom + i) % ndom, 0, pages);
				else if (k == 1)
					reinsert(c, &q, (dom + i) % ndom, 0, 512);
				else
					reinsert(c, &q, dom, i * len, len);
			}
		}
		if (k == 2)
			snprintf(name, sizeof(name), "iotlb.invalidate.domain%" PRIu64, pages);
		else
			snprintf(name, sizeof(name), "iotlb.invalidate.range%" PRIu64, len);
		line(name, best_a, best_b, "qemu");
	}
	sink += (uint64_t)(removed_a + removed_b);
	struct viommu_iotlb_stats st = { .sz = sizeof(st) };
	viommu_iotlb_get_stats(c, &st);
	if (st.entries != n || q.count != n)
		printf("MISMATCH entries %" PRIu64 " / %zu, want %zu\n", st.entries, q.count, n);
	viommu_iotlb_free(c);
	q_fini(&q);
}

/* ---- two threads looking up at once --------------------------------------- */

struct thr {
	struct viommu_iotlb *c;
	struct q_tlb *q;
	unsigned id;
	uint64_t sum;
};

static pthread_barrier_t barrier;

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	uint64_t out, sum = 0;
	struct viommu_iotlb_entry e;

	pthread_barrier_wait(&barrier);
	for (size_t i = 0; i < NLOOK; i++) {
		const struct leaf *l = &leaves[probe_idx[(i + t->id * 7919) % NLOOK]];
		if (t->c) {
			if (viommu_iotlb_lookup(t->c, l->source, l->domain, l->iova + 5, &e))
				sum += e.output;
		} else if (q_lookup(t->q, l->source, l->domain, l->iova + 5, &out)) {
			sum += out;
		}
	}
	t->sum = sum;
	return NULL;
}

static double run_threads(struct viommu_iotlb *c, struct q_tlb *q, unsigned nthr)
{
	pthread_t tid[2];
	struct thr t[2];
	double best = 1e300;

	for (int rep = 0; rep < REPS; rep++) {
		pthread_barrier_init(&barrier, NULL, nthr + 1);
		for (unsigned i = 0; i < nthr; i++) {
			t[i] = (struct thr){ .c = c, .q = q, .id = i };
			pthread_create(&tid[i], NULL, thr_main, &t[i]);
		}
		double t0 = wall_ns();
		pthread_barrier_wait(&barrier);
		for (unsigned i = 0; i < nthr; i++) {
			pthread_join(tid[i], NULL);
			sink += t[i].sum;
		}
		double d = (wall_ns() - t0) / NLOOK;	/* ns per lookup per thread */
		if (d < best)
			best = d;
		pthread_barrier_destroy(&barrier);
	}
	return best;
}

static void bench_threads(size_t n)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = n };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);
	struct q_tlb q;

	q_init(&q, n);
	make_leaves(n, 12);
	fill_ours(c, 12);
	fill_q(&q, 12);
	make_probes(false);
	line("iotlb.hit.4k.random.threads1.wall", run_threads(c, NULL, 1), run_threads(NULL, &q, 1), "qemu");
	line("iotlb.hit.4k.random.threads2.wall", run_threads(c, NULL, 2), run_threads(NULL, &q, 2), "qemu");
	viommu_iotlb_free(c);
	q_fini(&q);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x10b5eed;

	if (n < 20000)
		n = 20000;	/* the invalidation cases need 512 pages per domain of 100 */
	printf("seed 0x%" PRIx64 "\n", seed);
	printf("entries %zu lookups %u pairs %u\n", n, NLOOK, NPAIRS);
	rng_state = seed;
	leaves = calloc(n > 4096 ? n : 4096, sizeof(*leaves));
	probe_idx = calloc(NLOOK, sizeof(*probe_idx));
	if (!leaves || !probe_idx)
		return 1;
	bench_hits(n, 12, "4k");
	bench_hits(n, 21, "2m");
	bench_mixed(n);
	bench_qemu1024();
	bench_insert(n);
	bench_invalidate(n);
	bench_threads(n);
	printf("sink %" PRIu64 "\n", sink);
	free(leaves);
	free(probe_idx);
	return 0;
}
