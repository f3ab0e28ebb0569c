// SPDX-License-Identifier: MIT
/*
 * Device IOTLB concurrency: reader threads translate while two writer
 * threads update, replace and invalidate. Each writer owns a set of keys
 * (an IOVA range of 1 to 8 pages, some at the very top of the space) and
 * stamps every update with a generation in the user address. Before updating
 * to generation g it publishes inserted[k] = g; once an update (which
 * replaces the previous generation) or an invalidation that removed the key
 * has returned, it publishes min_valid[k] = g + 1 (release).
 *
 * A reader loads min_valid (acquire) of every key its range touches before
 * the translation and inserted after it. The guarantee under test
 * (include/viommu/devtlb.h): a translation that starts after an update or
 * invalidation returned never returns what it removed. So every segment of a
 * hit must decode to its own key, at the right offset, with min_valid <= g
 * <= inserted. Run under TSan (make tsan T=devtlb): the range maps are plain
 * single-threaded structures, so TSan checks that left-right orders every
 * reader against every writer's change and free.
 *
 * Only the guarantee is asserted, never what the scheduler did: each reader
 * makes exactly READER_OPS translations and the writers keep going until the
 * readers are done. That the streams exercise hits, replacements,
 * invalidations and misses is checked on a single-threaded prologue of the
 * same writer streams, whose outcome does not depend on scheduling.
 */
#include <viommu/devtlb.h>

#include "test.h"
#include "gen_race.h"

#define NKEYS 32		/* per writer */
#define NWRITERS 2
#define NREADERS 2
#define WRITER_OPS 20000
#define PROLOGUE_OPS 3000
#define READER_OPS 200000

struct key {
	uint64_t base, size;
	struct t_gen g;		/* generation last updated, and what is published */
};

static struct viommu_devtlb *tlb;
static struct key keys[NWRITERS][NKEYS];
static struct t_rng writer_rng[NWRITERS];

static uint64_t out_of(unsigned w, unsigned k, uint64_t gen)
{
	return t_gen_stamp(w, k, gen, 20);
}

static void writer_op(unsigned w)
{
	struct t_rng *rp = &writer_rng[w];
	unsigned ki, what = t_gen_draw(rp, NKEYS, &ki);
	struct key *k = &keys[w][ki];

	if (what < 65) {
		t_gen_inserting(&k->g);
		if (viommu_devtlb_update(tlb, k->base, k->base + k->size - 1, out_of(w, ki, k->g.gen + 1),
					 VIOMMU_PERM_RW))
			t_gen_fail();
		t_gen_removed(&k->g);	/* the update replaced the previous generation */
		k->g.gen++;
	} else if (what < 95) {
		uint64_t first = k->base + t_rng_below(rp, k->size), d = t_rng_below(rp, 64);
		uint64_t last = d > UINT64_MAX - first ? UINT64_MAX : first + d;

		viommu_devtlb_invalidate(tlb, first, last);
		t_gen_removed(&k->g);
		/* the range may run into the next key */
		if (ki + 1 < NKEYS && last >= keys[w][ki + 1].base)
			t_gen_removed(&keys[w][ki + 1].g);
	} else {
		/* everything this writer owns (its keys lie in [w << 40, (w + 1) << 40) or at the top) */
		viommu_devtlb_invalidate(tlb, (uint64_t)w << 40, ((uint64_t)(w + 1) << 40) - 1);
		for (unsigned j = 0; j < NKEYS; j++)
			if (keys[w][j].base >> 40 == w)
				t_gen_removed(&keys[w][j].g);
	}
}

/* Check every segment of a hit on keys k0 (and k0 + 1 when @two) of writer w. */
static void check_hit(unsigned w, unsigned k0, bool two, uint64_t iova, const struct viommu_devtlb_seg *s,
		      int n, const uint64_t *min_valid, const uint64_t *inserted)
{
	uint64_t cur = iova;

	for (int i = 0; i < n; i++) {
		unsigned kk = two && cur >= keys[w][k0 + 1].base ? k0 + 1 : k0, j = kk - k0;
		const struct key *k = &keys[w][kk];
		uint64_t gen = s[i].uaddr >> 32;

		if (s[i].uaddr != out_of(w, kk, gen) + (cur - k->base) || gen < min_valid[j] || gen > inserted[j] ||
		    cur - k->base + s[i].len > k->size) {
			if (t_gen_fail())
				fprintf(stderr, "bad segment: key %u/%u at %#llx gen %llu min_valid %llu inserted %llu\n",
					w, kk, (unsigned long long)cur, (unsigned long long)gen,
					(unsigned long long)min_valid[j], (unsigned long long)inserted[j]);
		}
		cur += s[i].len;
	}
}

static void *reader(void *arg)
{
	struct t_rng r;

	t_rng_init(&r, 0x4ead0u + (uintptr_t)arg);
	for (unsigned op = 0; op < READER_OPS; op++) {
		unsigned w = (unsigned)t_rng_below(&r, NWRITERS), k0 = (unsigned)t_rng_below(&r, NKEYS);
		/* adjacent keys are translated together, so one range spans two entries */
		bool two = k0 + 1 < NKEYS && keys[w][k0].base + keys[w][k0].size == keys[w][k0 + 1].base &&
			   t_rng_below(&r, 2);
		const struct key *k = &keys[w][k0];
		uint64_t iova = k->base + t_rng_below(&r, k->size);
		uint64_t end = two ? keys[w][k0 + 1].base + keys[w][k0 + 1].size : k->base + k->size;
		uint64_t len = end - iova, min_valid[2], inserted[2];
		struct viommu_devtlb_seg s[4];
		int n;

		for (unsigned j = 0; j <= two; j++)
			min_valid[j] = t_gen_min_valid(&keys[w][k0 + j].g);
		n = viommu_devtlb_translate(tlb, iova, len, t_rng_below(&r, 2) ? VIOMMU_PERM_READ : VIOMMU_PERM_WRITE,
					    s, 4, NULL);
		for (unsigned j = 0; j <= two; j++)
			inserted[j] = t_gen_inserted(&keys[w][k0 + j].g);
		if (n > 0)
			check_hit(w, k0, two, iova, s, n, min_valid, inserted);
		else if (n != -EAGAIN)
			t_gen_fail();
	}
	t_gen_reader_done();
	return NULL;
}

int main(void)
{
	struct viommu_devtlb_opts o = { .sz = sizeof(o), .capacity = 24 };	/* < 64 keys: retirement too */
	struct viommu_devtlb_stats st = { .sz = sizeof(st) };
	unsigned long pro_hits = 0;

	tlb = viommu_devtlb_new(&o);
	T_OK(tlb);
	for (unsigned w = 0; w < NWRITERS; w++) {
		uint64_t at = (uint64_t)w << 40;

		for (unsigned k = 0; k < NKEYS; k++) {
			uint64_t size = ((k % 8) + 1) << 12;

			if (w == 1 && k >= NKEYS - 4)	/* the last keys of writer 1 end at 2^64 - 1 */
				at = UINT64_MAX - ((uint64_t)(NKEYS - k) << 13) + 1, size = 1 << 13;
			keys[w][k] = (struct key){ .base = at, .size = size };
			at += size + (k % 3 == 0 ? 0x1000 : 0);	/* some neighbours adjacent, some not */
		}
	}
	for (unsigned w = 0; w < NWRITERS; w++)
		t_rng_init(&writer_rng[w], 0x7eadu + w);
	for (unsigned op = 0; op < PROLOGUE_OPS; op++)
		for (unsigned w = 0; w < NWRITERS; w++) {
			const struct key *k = &keys[w][op % NKEYS];
			struct viommu_devtlb_seg s[2];

			writer_op(w);
			pro_hits += viommu_devtlb_translate(tlb, k->base, k->size, VIOMMU_PERM_READ, s, 2, NULL) > 0;
		}
	T_EQ(viommu_devtlb_get_stats(tlb, &st), 0);
	printf("prologue: %lu hits, %llu misses, %llu replaced, %llu retired, %llu invalidated\n", pro_hits,
	       (unsigned long long)st.misses, (unsigned long long)st.replaced, (unsigned long long)st.retired,
	       (unsigned long long)st.invalidated);
	T_OK(pro_hits > 0 && st.misses > 0);
	T_OK(st.replaced > 0 && st.retired > 0 && st.invalidated > 0);
	T_EQ(st.hits, pro_hits);
	T_EQ(st.hits + st.misses, NWRITERS * PROLOGUE_OPS);

	struct t_gen_race race = {
		.writers = NWRITERS, .readers = NREADERS, .writer_ops = WRITER_OPS,
		.writer_op = writer_op, .reader = reader,
	};
	t_gen_race(&race);
	T_EQ(viommu_devtlb_get_stats(tlb, &st), 0);
	T_EQ(st.translations, NWRITERS * PROLOGUE_OPS + NREADERS * READER_OPS);
	T_EQ(t_gen_bad, 0);
	viommu_devtlb_free(tlb);
	return t_done();
}
