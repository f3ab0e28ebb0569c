// SPDX-License-Identifier: MIT
/*
 * Device IOTLB against its model (tests/devtlb_model.h): random updates,
 * invalidations, translations and pending clears, each result compared
 * exactly (return value, errno, every segment, the miss and whether to
 * report it), the statistics compared every 1000 operations. Addresses mix
 * a dense low window at byte granularity, the top of the space (ranges
 * ending at 2^64-1), page-aligned ranges whose user addresses are often
 * contiguous (so segments merge), and rare huge ranges. Small capacities
 * make retirement, refusal and the pending table's overflow common. Fixed
 * seed (VIOMMU_SEED to change it).
 */
#include "devtlb_model.h"
#include "test.h"

#define OPS 400000
#define MAXSEG 6

static struct t_rng rng;

static uint64_t pick_addr(unsigned zone)
{
	switch (zone) {
	case 0:		/* dense, byte granular */
		return t_rng_below(&rng, 0x8000);
	case 1:		/* the top of the space */
		return UINT64_MAX - t_rng_below(&rng, 0x8000);
	default:	/* pages */
		return t_rng_below(&rng, 256) << 12;
	}
}

static void pick_range(uint64_t *first, uint64_t *last)
{
	unsigned zone = (unsigned)t_rng_below(&rng, 3);
	uint64_t a = pick_addr(zone), len;

	if (t_rng_below(&rng, 200) == 0) {	/* huge */
		*first = t_rng_below(&rng, 2) ? 0 : a;
		*last = t_rng_below(&rng, 2) ? UINT64_MAX : *first + (t_rng_next(&rng) >> 1);
		if (*last < *first)
			*last = UINT64_MAX;
		return;
	}
	len = zone == 2 ? (t_rng_below(&rng, 8) ? 1 : t_rng_below(&rng, 4) + 2) << 12 : t_rng_below(&rng, 0x1800) + 1;
	if (zone == 1 && a > UINT64_MAX - len + 1)
		a = UINT64_MAX - len + 1;
	*first = a;
	*last = a + (len - 1);
	if (t_rng_below(&rng, 100) == 0 && *first < *last) {	/* inverted: refused */
		uint64_t x = *first;

		*first = *last;
		*last = x;
	}
}

static void run(uint64_t seed, uint32_t cap, uint32_t pcap, unsigned shift, bool no_retire)
{
	struct viommu_devtlb_opts o = { .sz = sizeof(o), .capacity = cap, .pending_capacity = pcap,
					.page_shift = shift, .flags = no_retire ? VIOMMU_DEVTLB_NO_RETIRE : 0 };
	struct viommu_devtlb *t = viommu_devtlb_new(&o);
	unsigned long bad = 0;
	struct dm m;

	t_rng_init(&rng, seed);
	dm_init(&m, cap, pcap, shift, no_retire);
	T_OK(t);
	for (unsigned op = 0; op < OPS && bad < 5; op++) {
		unsigned what = (unsigned)t_rng_below(&rng, 100);
		uint64_t first, last;

		pick_range(&first, &last);
		if (what < 40) {
			unsigned perm = (unsigned)t_rng_below(&rng, 4) | (t_rng_below(&rng, 300) == 0 ? 4 : 0);
			/* often contiguous with its neighbours in user memory, sometimes near the top */
			uint64_t ua = t_rng_below(&rng, 3) ? 0x7f0000000000ull + first
							    : t_rng_next(&rng) >> (t_rng_below(&rng, 2) ? 0 : 20);
			int a = viommu_devtlb_update(t, first, last, ua, perm);
			int b = dm_update(&m, first, last, ua, perm);

			if (a != b) {
				bad++;
				fprintf(stderr, "op %u update [%#lx, %#lx] -> %#lx perm %u: %d, model %d\n", op,
					(unsigned long)first, (unsigned long)last, (unsigned long)ua, perm, a, b);
			}
		} else if (what < 46) {
			long a = viommu_devtlb_invalidate(t, first, last), b = dm_invalidate(&m, first, last);

			if (a != b) {
				bad++;
				fprintf(stderr, "op %u invalidate [%#lx, %#lx]: %ld, model %ld\n", op,
					(unsigned long)first, (unsigned long)last, a, b);
			}
		} else if (what < 48) {
			long a = viommu_devtlb_pending_clear(t, first, last);
			long b = first > last ? -EINVAL : dm_forget(&m, first, last);

			T_EQ(a, b);
		} else if (first <= last) {
			struct viommu_devtlb_seg sa[MAXSEG], sb[MAXSEG];
			struct viommu_devtlb_miss ma = { 0 }, mb = { 0 };
			unsigned perm = (unsigned)t_rng_below(&rng, 4), max = (unsigned)t_rng_below(&rng, MAXSEG) + 1;
			uint64_t len;
			int a, b;

			len = last - first + (last - first != UINT64_MAX);
			if (t_rng_below(&rng, 4)) {	/* mostly short accesses, as descriptors are */
				uint64_t shorter = t_rng_below(&rng, 0x300) + 1;

				len = len < shorter ? len : shorter;
			}
			errno = 0;
			a = viommu_devtlb_translate(t, first, len, perm, sa, max, &ma);
			if (a < 0 && errno != -a)
				bad++;
			b = dm_translate(&m, first, len, perm, sb, max, &mb);
			if (a != b || (a > 0 && memcmp(sa, sb, sizeof(sa[0]) * (size_t)a)) ||
			    (a == -EAGAIN && (ma.iova != mb.iova || ma.perm != mb.perm || ma.report != mb.report))) {
				bad++;
				fprintf(stderr, "op %u translate %#lx+%#lx perm %u max %u: %d, model %d; miss %#lx/%d vs %#lx/%d\n",
					op, (unsigned long)first, (unsigned long)len, perm, max, a, b,
					(unsigned long)ma.iova, ma.report, (unsigned long)mb.iova, mb.report);
			}
		}
		if (op % 1000 == 999 || op == OPS - 1) {
			struct viommu_devtlb_stats st = { .sz = sizeof(st) };

			T_EQ(viommu_devtlb_get_stats(t, &st), 0);
			if (st.entries != m.n || st.pending != m.np || st.translations != m.translations ||
			    st.hits != m.hits || st.misses != m.misses || st.denied != m.denied ||
			    st.miss_reports != m.miss_reports || st.updates != m.updates || st.replaced != m.replaced ||
			    st.retired != m.retired || st.invalidations != m.invalidations ||
			    st.invalidated != m.invalidated || st.refused != m.refused ||
			    st.pending_dropped != m.pending_dropped) {
				bad++;
				fprintf(stderr, "op %u: statistics differ from the model (entries %lu/%zu)\n", op,
					(unsigned long)st.entries, m.n);
			}
		}
	}
	T_EQ(bad, 0);
	printf("cap %u pending %u shift %u%s: %lu updates, %lu replaced, %lu retired, %lu refused, %lu hits, "
	       "%lu misses (%lu reported), %lu denied, %lu invalidated, %lu pending dropped\n",
	       cap, pcap, shift, no_retire ? " no-retire" : "", (unsigned long)m.updates, (unsigned long)m.replaced,
	       (unsigned long)m.retired, (unsigned long)m.refused, (unsigned long)m.hits, (unsigned long)m.misses,
	       (unsigned long)m.miss_reports, (unsigned long)m.denied, (unsigned long)m.invalidated,
	       (unsigned long)m.pending_dropped);
	/* the run reached every path it is meant to (these counts follow from the seed, not the scheduler) */
	T_OK(m.updates && m.replaced && m.hits && m.misses && m.miss_reports < m.misses && m.denied &&
	     m.invalidated && m.refused);
	T_OK(no_retire || m.retired);
	T_OK(m.pending_dropped);
	viommu_devtlb_free(t);
	dm_fini(&m);
}

int main(void)
{
	uint64_t seed = t_seed("devtlb_random", 0xde71b5eedull);

	run(seed, 16, 8, 12, false);
	run(seed + 1, 16, 8, 12, true);
	run(seed + 2, 40, 16, 13, false);
	return t_done();
}
