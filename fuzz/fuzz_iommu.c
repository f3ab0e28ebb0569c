// SPDX-License-Identifier: MIT
/*
 * Model-based fuzz target of IOMMU shadowing and delivery: input bytes become
 * a stream of guest page-table mutations (4K and 32K "large" leaves, splits,
 * collapses, changes, unmaps), syncs of arbitrary ranges, listener
 * registration with random ranges and capabilities (replay), unmap_all,
 * device-TLB invalidations and hostile read views. Checked against per-page
 * arrays:
 *  - every listener's copy equals the guest view on each page the guest has
 *    not changed since it was last invalidated (cropped, window removed);
 *  - MAP only over unmapped pages; UNMAP and CHANGE name exactly an extent
 *    the listener was given; pow2 listeners only see aligned blocks;
 *  - a listener taking CHANGE never loses a page whose translation stayed;
 *  - a failing or malformed view changes nothing and delivers nothing.
 */
#include <errno.h>
#include <stdbool.h>

#include <viommu/iommu.h>
#include <viommu/rangemap.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NP 64
#define PG 0x1000ull
#define BIGP 8
#define NLS 4

static uint64_t base;
static bool msi;
static uint64_t msi_first, msi_last;

/* Guest: leaves as a range map, value out | perm. */
static struct viommu_rangemap *leaves;
static bool dirty[NP];
static int hostile;		/* 0 none, 1 error, 2 overlap, 3 misaligned */
static unsigned delivered;
static bool unmapping_all;	/* events then do not reflect the guest model */

struct lst {
	struct viommu_iommu_listener l;
	struct viommu_rangemap *ext;
	uint64_t out[NP];
	unsigned perm[NP];
	bool reg;
};
static struct lst L[NLS];

static bool in_w(uint64_t a) { return msi && a >= msi_first && a <= msi_last; }

static unsigned gview(size_t p, uint64_t *out)
{
	struct viommu_range_entry e;
	uint64_t iova = base + p * PG;

	if (!viommu_rangemap_find(leaves, iova, &e))
		return 0;
	*out = (e.value & ~3ull) + (iova - e.first);
	if (in_w(iova) || in_w(*out))
		return 0;
	return (unsigned)(e.value & 3);
}

/* A raw view decoded from the input: reported verbatim (hostile == 4). */
#define RAW_MAX 8
static struct { uint64_t first, last, out; unsigned perm; } raw[RAW_MAX];
static unsigned nraw;

static int read_view(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *v)
{
	struct viommu_rangemap_iter it;

	(void)ctx;
	if (hostile == 4) {
		for (unsigned i = 0; i < nraw; i++)
			viommu_iommu_view_add(v, raw[i].first, raw[i].last, raw[i].out, raw[i].perm);
		return 0;
	}
	if (hostile == 1)
		return -EIO;
	if (hostile == 3)
		viommu_iommu_view_add(v, first + 0x800, first + 0xfff, 0, 3);
	viommu_rangemap_for_each(&it, leaves, first, last) {
		viommu_iommu_view_add(v, it.entry.first, it.entry.last, it.entry.value & ~3ull,
				      (unsigned)(it.entry.value & 3));
		if (hostile == 2)
			viommu_iommu_view_add(v, it.entry.first, it.entry.last, 0, 3);
	}
	return 0;
}

static bool aligned_block(uint64_t f, uint64_t l)
{
	uint64_t n = l - f + 1;

	return !(n & (n - 1)) && !(f & (n - 1));
}

static void notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct lst *s = (struct lst *)l;
	struct viommu_iommu_piece_iter it;
	bool arb = l->caps & VIOMMU_IOMMU_CAP_ARBITRARY;

	delivered++;
	FZ_CHECK(ev->first <= ev->last && ev->first >= l->first && ev->last <= l->last);
	FZ_CHECK(arb || aligned_block(ev->first, ev->last));
	FZ_CHECK(l->kinds & ev->kind);
	if (ev->kind == VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP)
		return;
	FZ_CHECK(ev->first >= base && ev->last < base + NP * PG);
	size_t p0 = (ev->first - base) / PG, p1 = (ev->last - base) / PG;

	switch (ev->kind) {
	case VIOMMU_IOMMU_EV_MAP:
		FZ_CHECK(viommu_rangemap_insert(s->ext, ev->first, ev->last, ev->out | ev->perm) == 0);
		for (size_t p = p0; p <= p1; p++) {
			FZ_CHECK(s->perm[p] == 0);
			s->perm[p] = ev->perm;
			s->out[p] = ev->out + (p - p0) * PG;
		}
		break;
	case VIOMMU_IOMMU_EV_UNMAP:
		FZ_CHECK(viommu_rangemap_remove(s->ext, ev->first, ev->last, NULL) == 0);
		for (size_t p = p0; p <= p1; p++) {
			uint64_t o;
			unsigned gp = gview(p, &o);

			FZ_CHECK(s->perm[p] && s->out[p] == ev->out + (p - p0) * PG);
			/* Unchanged and unmapped: only as a lowered CHANGE. */
			if (gp && gp == s->perm[p] && o == s->out[p] && !unmapping_all)
				FZ_CHECK(!(l->caps & VIOMMU_IOMMU_CAP_CHANGE));
			s->perm[p] = 0;
		}
		break;
	case VIOMMU_IOMMU_EV_CHANGE: {
		uint64_t next = ev->first;
		uint64_t keep_out[NP];
		unsigned keep_perm[NP];

		FZ_CHECK(l->caps & VIOMMU_IOMMU_CAP_CHANGE);
		FZ_CHECK(viommu_rangemap_remove(s->ext, ev->first, ev->last, NULL) == 0);
		for (size_t p = p0; p <= p1; p++) {
			FZ_CHECK(s->perm[p] && s->out[p] == ev->out + (p - p0) * PG && s->perm[p] == ev->perm);
			keep_out[p] = s->out[p];
			keep_perm[p] = s->perm[p];
			s->perm[p] = 0;
		}
		viommu_iommu_event_for_each_new(&it, ev) {
			FZ_CHECK(it.piece.first >= next && it.piece.last <= ev->last && it.piece.first <= it.piece.last);
			FZ_CHECK(arb || aligned_block(it.piece.first, it.piece.last));
			next = it.piece.last + 1;
			FZ_CHECK(viommu_rangemap_insert(s->ext, it.piece.first, it.piece.last,
							it.piece.out | it.piece.perm) == 0);
			for (uint64_t a = it.piece.first; a <= it.piece.last; a += PG) {
				size_t p = (a - base) / PG;

				s->perm[p] = it.piece.perm;
				s->out[p] = it.piece.out + (a - it.piece.first);
			}
		}
		/* Pages left unmapped are holes now; something must have changed. */
		bool changed = false;

		for (size_t p = p0; p <= p1; p++) {
			uint64_t o;

			if (!s->perm[p] && !unmapping_all)
				FZ_CHECK(gview(p, &o) == 0);
			if (s->perm[p] != keep_perm[p] || s->out[p] != keep_out[p])
				changed = true;
		}
		FZ_CHECK(changed);
		break;
	}
	default:
		FZ_CHECK(0);
	}
}

static void check_copies(void)
{
	for (int i = 0; i < NLS; i++) {
		struct lst *s = &L[i];

		if (!s->reg)
			continue;
		for (size_t p = 0; p < NP; p++) {
			uint64_t a = base + p * PG, o = 0;
			unsigned gp;

			if (dirty[p])
				continue;
			gp = a >= s->l.first && a <= s->l.last ? gview(p, &o) : 0;
			FZ_CHECK(gp == s->perm[p]);
			FZ_CHECK(!gp || o == s->out[p]);
		}
	}
}

static void gmap(size_t p, size_t n, uint64_t out, unsigned perm)
{
	FZ_CHECK(viommu_rangemap_insert(leaves, base + p * PG, base + (p + n) * PG - 1, out | perm) == 0);
	for (size_t i = p; i < p + n; i++)
		dirty[i] = true;
}

static void gunmap_leaf(const struct viommu_range_entry *e)
{
	viommu_rangemap_remove(leaves, e->first, e->last, NULL);
	for (uint64_t a = e->first; a <= e->last; a += PG)
		dirty[(a - base) / PG] = true;
}

static uint64_t out_of(uint8_t b, unsigned align)
{
	/* Outputs near the inputs (so runs merge) and across the window. */
	return base + (uint64_t)(b % (2 * NP)) / align * align * PG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t mode = fz_u8(&in);
	struct viommu_range_entry e;

	base = (mode & 1) ? 0 : UINT64_MAX - 2 * NP * PG + 1;	/* the top of the space too */
	msi = mode & 2;
	msi_first = base + 40 * PG;
	msi_last = base + 48 * PG - 1;
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = read_view, .msi_window = msi,
					  .msi_first = msi_first, .msi_last = msi_last };
	struct viommu_iommu_as *ias = viommu_iommu_as_new(&o);

	FZ_CHECK(ias);
	leaves = viommu_rangemap_new();
	FZ_CHECK(leaves);
	memset(dirty, 0, sizeof(dirty));
	memset(L, 0, sizeof(L));
	hostile = 0;
	for (int i = 0; i < NLS; i++)
		L[i].ext = viommu_rangemap_new();

	while (fz_left(&in)) {
		uint8_t op = fz_u8(&in), a = fz_u8(&in), b = fz_u8(&in);
		size_t p = a % NP, blk = p / BIGP * BIGP;
		uint64_t iova = base + p * PG;

		/* op % 10 == 9 is a raw view only with bit 7 set; otherwise a page change. */
		switch (op % 10 == 9 && !(op & 0x80) ? 10 : op % 10) {
		case 0:
			if (!viommu_rangemap_find(leaves, iova, NULL))
				gmap(p, 1, out_of(b, 1), 1 + b % 3);
			break;
		case 1:
			if (!viommu_rangemap_find_overlap(leaves, base + blk * PG, base + (blk + BIGP) * PG - 1, NULL))
				gmap(blk, BIGP, out_of(b, BIGP), 1 + b % 3);
			break;
		case 2:
			if (viommu_rangemap_find(leaves, iova, &e))
				gunmap_leaf(&e);
			break;
		case 3: /* split a leaf into pages, page b % n changed */
			if (viommu_rangemap_find(leaves, iova, &e) && e.last > e.first + PG) {
				size_t n = (e.last - e.first + 1) / PG, p0 = (e.first - base) / PG;

				gunmap_leaf(&e);
				for (size_t i = 0; i < n; i++)
					gmap(p0 + i, 1, i == b % 16 ? out_of((uint8_t)(b + i), 1) : (e.value & ~3ull) + i * PG,
					     (unsigned)(e.value & 3));
			}
			break;
		case 4: /* collapse a block into one large leaf */
			if (!(viommu_rangemap_find(leaves, base + blk * PG, &e) && e.first < base + blk * PG) &&
			    !(viommu_rangemap_find(leaves, base + (blk + BIGP) * PG - 1, &e) &&
			      e.last > base + (blk + BIGP) * PG - 1)) {
				viommu_rangemap_remove_inside(leaves, base + blk * PG, base + (blk + BIGP) * PG - 1, NULL,
							      NULL);
				gmap(blk, BIGP, out_of(b, BIGP), 3);
			}
			break;
		case 5: { /* sync */
			size_t q = b % NP, lo = p < q ? p : q, hi = p < q ? q : p;
			uint64_t ext_before[NLS];
			int r;

			for (int i = 0; i < NLS; i++)
				ext_before[i] = viommu_rangemap_count(L[i].ext);
			delivered = 0;
			hostile = (op >> 4) == 15 ? 1 + (b >> 6) % 3 : 0;
			r = viommu_iommu_sync(ias, base + lo * PG, base + hi * PG + PG - 1);
			if (hostile) {
				bool had = viommu_rangemap_find_overlap(leaves, base + lo * PG, base + hi * PG + PG - 1,
									NULL);

				/* An error view always fails; a malformed one whenever it reported a leaf. */
				FZ_CHECK(r < 0 || (hostile == 2 && !had));
				if (r < 0) {
					FZ_CHECK(delivered == 0);
					for (int i = 0; i < NLS; i++)
						FZ_CHECK(viommu_rangemap_count(L[i].ext) == ext_before[i]);
				}
				hostile = 0;
			} else {
				FZ_CHECK(r >= 0);
				for (size_t i = lo; i <= hi; i++)
					dirty[i] = false;
				/* Identical -> nothing. */
				delivered = 0;
				FZ_CHECK(viommu_iommu_sync(ias, base + lo * PG, base + hi * PG + PG - 1) == 0);
				FZ_CHECK(delivered == 0);
			}
			break;
		}
		case 6: { /* (re)register a listener: the replay must match */
			struct lst *s = &L[b % NLS];
			size_t q = (b >> 2) % NP, lo = p < q ? p : q, hi = p < q ? q : p;

			if (s->reg)
				FZ_CHECK(viommu_iommu_listener_unregister(ias, &s->l) == 0);
			viommu_rangemap_clear(s->ext);
			memset(s->perm, 0, sizeof(s->perm));
			s->l = (struct viommu_iommu_listener){ .sz = sizeof(s->l), .notify = notify,
							       .first = base + lo * PG, .last = base + hi * PG + PG - 1,
							       .caps = (op >> 4) & 3, .kinds = VIOMMU_IOMMU_EV_ALL };
			if (op & 0x40) {
				s->l.first = 0;
				s->l.last = UINT64_MAX;
			}
			FZ_CHECK(viommu_iommu_listener_register(ias, &s->l) == 0);
			s->reg = true;
			break;
		}
		case 7:
			FZ_CHECK(viommu_iommu_deviotlb_unmap(ias, iova, base + (b % NP) * PG) ==
				 (iova <= base + (b % NP) * PG ? 0 : -EINVAL));
			break;
		case 9: { /* (op & 0x80 set) a raw view straight from the input bytes */
			size_t q = b % NP, lo = p < q ? p : q, hi = p < q ? q : p;
			uint64_t rf = base + lo * PG, rl = base + hi * PG + PG - 1;
			bool valid = true;
			uint64_t prev = 0;
			uint64_t ext_before[NLS];

			nraw = 1 + (op >> 4) % RAW_MAX;
			for (unsigned i = 0; i < nraw; i++) {
				/* Mostly page-aligned small coordinates, sometimes off by a little. */
				uint8_t x = fz_u8(&in), y = fz_u8(&in), w = fz_u8(&in);

				raw[i].first = base + (x % NP) * PG + ((w & 0x80) ? 0x800 : 0);
				raw[i].last = raw[i].first + (1 + y % 8) * PG - ((w & 0x40) ? 2 : 1);
				raw[i].out = base + (w % (2 * NP)) * PG + ((w & 0x20) && (y & 1) ? 0x10 : 0);
				raw[i].perm = (y >> 3) % 5;	/* 4: an unknown bit */
				/* The trivially correct predicate of view_add. */
				if (raw[i].first > raw[i].last || (raw[i].first & 0xfff) || ((raw[i].last + 1) & 0xfff) ||
				    (raw[i].out & 0xfff) || raw[i].perm > 3 || raw[i].last - raw[i].first > UINT64_MAX - raw[i].out ||
				    (i && raw[i].first <= prev))
					valid = false;
				prev = raw[i].last;
			}
			for (int i = 0; i < NLS; i++)
				ext_before[i] = viommu_rangemap_count(L[i].ext);
			hostile = 4;
			delivered = 0;
			unmapping_all = true;
			int r = viommu_iommu_sync(ias, rf, rl);

			unmapping_all = false;
			hostile = 0;
			FZ_CHECK(valid ? r >= 0 : r == -EINVAL);
			if (!valid) {
				FZ_CHECK(delivered == 0);
				for (int i = 0; i < NLS; i++)
					FZ_CHECK(viommu_rangemap_count(L[i].ext) == ext_before[i]);
				break;
			}
			/* The shadow over the range is exactly the raw view (window removed). */
			for (size_t pg = lo; pg <= hi; pg++) {
				uint64_t pa = base + pg * PG, po = 0;
				unsigned want = 0;
				struct viommu_iommu_xlat x;

				for (unsigned i = 0; i < nraw; i++)
					if (raw[i].perm && pa >= raw[i].first && pa <= raw[i].last) {
						po = raw[i].out + (pa - raw[i].first);
						want = in_w(pa) || in_w(po) ? 0 : raw[i].perm;
					}
				bool have = viommu_iommu_lookup(ias, pa, &x);

				FZ_CHECK(have == (want != 0));
				FZ_CHECK(!have || (x.perm == want && x.out + (pa - x.first) == po));
				/* The guest model no longer describes these pages. */
				dirty[pg] = true;
			}
			break;
		}
		case 8: { /* unmap_all over a range: copies lose exactly those extents */
			size_t q = b % NP, lo = p < q ? p : q, hi = p < q ? q : p;

			unmapping_all = true;
			FZ_CHECK(viommu_iommu_unmap_all(ias, base + lo * PG, base + hi * PG + PG - 1) >= 0);
			unmapping_all = false;
			FZ_CHECK(!viommu_iommu_lookup(ias, base + lo * PG, NULL));
			/* The guest still has them: those pages are stale until synced. */
			for (size_t i = 0; i < NP; i++)
				if (!viommu_iommu_lookup(ias, base + i * PG, NULL))
					dirty[i] = true;
			break;
		}
		default:
			if (viommu_rangemap_find(leaves, iova, &e) && e.first == e.last - PG + 1) {
				gunmap_leaf(&e);
				gmap(p, 1, out_of(b, 1), 1 + (b >> 4) % 3);
			}
			break;
		}
		check_copies();
	}
	/* Everything invalidated: everything equal. */
	FZ_CHECK(viommu_iommu_sync(ias, base, base + NP * PG - 1) >= 0);
	memset(dirty, 0, sizeof(dirty));
	check_copies();
	viommu_iommu_as_free(ias);
	viommu_rangemap_free(leaves);
	for (int i = 0; i < NLS; i++)
		viommu_rangemap_free(L[i].ext);
	return 0;
}
