// SPDX-License-Identifier: MIT
/*
 * IOTLB concurrency: readers look up while two writers insert, replace,
 * invalidate and evict. Each writer owns a set of keys (a leaf of fixed
 * source, domain, IOVA and size) and stamps every insert with a generation
 * in the output address. Before inserting generation g it publishes
 * inserted[k] = g; after an invalidate or a replacing insert that removed
 * generation g has returned, it publishes min_valid[k] = g + 1 (release).
 *
 * A reader loads min_valid[k] (acquire) before its lookup and inserted[k]
 * after it. The guarantee under test (include/viommu/iotlb.h): a lookup
 * that starts after an invalidation returned never hits what it removed, so
 * every hit must have min_valid <= g <= inserted, and be the key's own leaf.
 * Run under TSan too (-DVIOMMU_TSAN=ON): every shared access in the cache is
 * atomic or under its lock, so TSan must stay silent. Like a hardware IOTLB
 * (the VT-d specification, 6.5.2: software knows an invalidation complete
 * only when a later Invalidation Wait descriptor completes) the cache may
 * serve a stale entry only to a lookup that overlaps the invalidation.
 *
 * Only the guarantee is asserted, never what the scheduler did: each reader
 * makes exactly READER_LOOKUPS lookups and the writers keep going until the
 * readers are done. That the run exercises hits, evictions, replacements and
 * invalidations is checked on a single-threaded prologue of the same writer
 * streams, whose outcome does not depend on scheduling.
 */
#include <viommu/iotlb.h>

#include "test.h"
#include "gen_race.h"

#define NKEYS 48		/* per writer */
#define NWRITERS 2
#define NREADERS 2
#define WRITER_OPS 200000
#define PROLOGUE_OPS 4000
#define READER_LOOKUPS (1600 * 256)

struct key {
	uint32_t source, domain;
	uint64_t iova;
	unsigned order;
	struct t_gen g;		/* generation last inserted, and what is published */
};

static struct viommu_iotlb *cache;
static struct key keys[NWRITERS][NKEYS];
static struct t_rng writer_rng[NWRITERS];
static unsigned long reader_hits, reader_lookups, stale_window_hits;

static uint64_t out_of(unsigned w, unsigned k, uint64_t gen)
{
	return t_gen_stamp(w, k, gen, 12);
}

/* One step of writer @w's stream. */
static void writer_op(unsigned w)
{
	struct t_rng *rp = &writer_rng[w];
	{
		unsigned ki, what = t_gen_draw(rp, NKEYS, &ki);
		struct key *k = &keys[w][ki];

		if (what < 60) {
			struct viommu_iotlb_entry e = {
				.source = k->source, .domain = k->domain, .iova = k->iova,
				.order = (uint8_t)k->order, .perm = VIOMMU_PERM_READ,
				.output = out_of(w, ki, k->g.gen + 1),
			};
			t_gen_inserting(&k->g);
			if (viommu_iotlb_insert(cache, &e))
				t_gen_fail();
			/* the insert replaced the previous generation, if cached */
			t_gen_removed(&k->g);
			k->g.gen++;
		} else if (what < 90) {
			/* an unaligned range inside the leaf */
			uint64_t first = k->iova + t_rng_below(rp, UINT64_C(1) << k->order);
			viommu_iotlb_invalidate_range(cache, k->domain, first, first + t_rng_below(rp, 64));
			t_gen_removed(&k->g);
		} else if (what < 96) {
			viommu_iotlb_invalidate_domain(cache, k->domain);
			for (unsigned j = 0; j < NKEYS; j++)
				if (keys[w][j].domain == k->domain)
					t_gen_removed(&keys[w][j].g);
		} else if (what < 99) {
			viommu_iotlb_invalidate_source(cache, k->source);
			for (unsigned j = 0; j < NKEYS; j++)
				if (keys[w][j].source == k->source)
					t_gen_removed(&keys[w][j].g);
		} else {
			viommu_iotlb_invalidate_range_all_domains(cache, 0, UINT64_MAX);
			for (unsigned j = 0; j < NKEYS; j++)
				t_gen_removed(&keys[w][j].g);
		}
	}
}

static void *reader(void *arg)
{
	struct t_rng r;
	unsigned long hits = 0, lookups = 0, window = 0;

	t_rng_init(&r, 0x4ead0u + (uintptr_t)arg);
	for (unsigned m = 0; m < READER_LOOKUPS / 256; m++) {
		for (unsigned n = 0; n < 256; n++) {
			unsigned w = (unsigned)t_rng_below(&r, NWRITERS), ki = (unsigned)t_rng_below(&r, NKEYS);
			struct key *k = &keys[w][ki];
			uint64_t addr = k->iova + t_rng_below(&r, UINT64_C(1) << k->order);
			uint64_t min_valid = t_gen_min_valid(&k->g), gen, inserted;
			struct viommu_iotlb_entry e;
			bool hit = viommu_iotlb_lookup(cache, k->source, k->domain, addr, &e);

			inserted = t_gen_inserted(&k->g);
			lookups++;
			if (!hit)
				continue;
			hits++;
			gen = e.output >> 24;
			if (e.output != out_of(w, ki, gen) || e.iova != k->iova || e.order != k->order ||
			    e.source != k->source || e.domain != k->domain || gen < min_valid || gen > inserted) {
				if (t_gen_fail())
					fprintf(stderr, "bad hit: key %u/%u gen %llu min_valid %llu inserted %llu\n", w,
						ki, (unsigned long long)gen, (unsigned long long)min_valid,
						(unsigned long long)inserted);
			}
			/* a hit on a generation whose removal was published during the lookup: allowed */
			if (gen < t_gen_min_valid(&k->g))
				window++;
		}
	}
	__atomic_add_fetch(&reader_hits, hits, __ATOMIC_RELAXED);
	__atomic_add_fetch(&reader_lookups, lookups, __ATOMIC_RELAXED);
	__atomic_add_fetch(&stale_window_hits, window, __ATOMIC_RELAXED);
	t_gen_reader_done();
	return NULL;
}

int main(void)
{
	static const unsigned orders[] = { 12, 12, 21, 13, 30, 16 };
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 32 };	/* < 96 keys: evictions too */
	struct viommu_iotlb_stats st = { .sz = sizeof(st) };

	cache = viommu_iotlb_new(&o);
	T_OK(cache);
	for (unsigned w = 0; w < NWRITERS; w++)
		for (unsigned k = 0; k < NKEYS; k++)
			keys[w][k] = (struct key){
				.source = w * 4 + k % 4, .domain = w * 4 + k % 3,
				.order = orders[k % 6], .iova = (uint64_t)(k + 1) << 30,
			};
	/*
	 * The prologue: both writer streams interleaved op by op on this
	 * thread, each op followed by a lookup of one of that writer's keys.
	 */
	unsigned long pro_hits = 0;
	for (unsigned w = 0; w < NWRITERS; w++)
		t_rng_init(&writer_rng[w], 0x7eadu + w);
	for (unsigned op = 0; op < PROLOGUE_OPS; op++)
		for (unsigned w = 0; w < NWRITERS; w++) {
			const struct key *k = &keys[w][op % NKEYS];
			struct viommu_iotlb_entry e;

			writer_op(w);
			pro_hits += viommu_iotlb_lookup(cache, k->source, k->domain, k->iova, &e);
		}
	T_EQ(viommu_iotlb_get_stats(cache, &st), 0);
	printf("prologue: %lu hits, %llu evictions, %llu replaced, %llu invalidated\n", pro_hits,
	       (unsigned long long)st.evictions, (unsigned long long)st.replaced,
	       (unsigned long long)st.invalidated);
	T_OK(pro_hits > 0);
	T_OK(st.evictions > 0 && st.replaced > 0 && st.invalidated > 0);
	T_EQ(st.hits, pro_hits);
	T_EQ(st.hits + st.misses, NWRITERS * PROLOGUE_OPS);

	struct t_gen_race race = {
		.writers = NWRITERS, .readers = NREADERS, .writer_ops = WRITER_OPS,
		.writer_op = writer_op, .reader = reader,
	};
	t_gen_race(&race);

	T_EQ(viommu_iotlb_get_stats(cache, &st), 0);
	printf("%lu lookups, %lu hits (%lu raced an invalidation), %llu evictions, %llu invalidated\n",
	       reader_lookups, reader_hits, stale_window_hits, (unsigned long long)st.evictions,
	       (unsigned long long)st.invalidated);
	T_EQ(t_gen_bad, 0);
	T_EQ(reader_lookups, NREADERS * READER_LOOKUPS);
	T_EQ(st.hits + st.misses, reader_lookups + NWRITERS * PROLOGUE_OPS);
	T_EQ(st.hits, reader_hits + pro_hits);
	T_OK(st.entries <= 32);
	T_EQ(st.inserts - st.evictions - st.replaced - st.invalidated, st.entries);
	viommu_iotlb_free(cache);
	return t_done();
}
