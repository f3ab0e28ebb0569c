// SPDX-License-Identifier: MIT
/*
 * Randomised sync against a naive per-page model (docs/reference.md §1.1, §1.2,
 * §5). A guest page table (4K and 2M leaves, 2M <-> 4K replacements, changes
 * of one page, unmaps) is mutated at random and each mutation invalidated;
 * listeners of all four capability combinations, over the whole space and
 * over a cropped range, apply the events they get to their own copies:
 *  - every copy equals the guest view (cropped, interrupt window removed)
 *    page by page after every sync;
 *  - a MAP never lands on a mapped page, an UNMAP / CHANGE always names
 *    exactly an extent the listener was given (range-map remove is exact);
 *  - a listener taking CHANGE never has an unchanged page unmapped; for the
 *    others the unchanged bytes unmapped equal the counted window bytes;
 *  - a power-of-two listener gets exactly the minimal cover of what the
 *    matching arbitrary-range listener gets, block by block;
 *  - a second sync of the same range delivers nothing;
 *  - a listener registered late is given exactly the current view.
 */
#include <viommu/range.h>

#include "iommu_model.h"

#define VI_MIN(a, b) ((a) < (b) ? (a) : (b))

#define NPAGES 2048u			/* 8M of IOVA */
#define PG 0x1000ull
#define BIG 512u			/* pages of a 2M leaf */

static struct guest g;
static uint64_t base;			/* IOVA of page 0 */
static uint64_t outbase, outpages;	/* output pool */
static bool msi;
static struct t_rng rng;

struct ev { unsigned kind; uint64_t first, last, out; unsigned perm; };

struct lst {
	struct viommu_iommu_listener l;
	struct viommu_rangemap *ext;
	uint64_t out[NPAGES];
	unsigned perm[NPAGES];
	struct ev *log;
	size_t nlog, cap;
	uint64_t unchanged_unmapped;	/* bytes this run */
	bool late;
};

#define NL 9
static struct lst L[NL];

static bool in_msi(uint64_t a) { return msi && a >= 0xfee00000ull && a <= 0xfeefffffull; }

/* The guest's translation of page p as the listeners must see it. */
static unsigned gview(size_t p, uint64_t *out)
{
	struct viommu_range_entry e;
	uint64_t iova = base + p * PG;

	if (!viommu_rangemap_find(g.leaves, iova, &e))
		return 0;
	*out = (e.value & ~3ull) + (iova - e.first);
	if (in_msi(iova) || in_msi(*out))
		return 0;
	return (unsigned)(e.value & 3);
}

static void log_ev(struct lst *s, unsigned kind, uint64_t f, uint64_t l, uint64_t out, unsigned perm)
{
	if (s->nlog == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->log = realloc(s->log, s->cap * sizeof(*s->log));
		if (!s->log)
			T_FATAL("oom");
	}
	s->log[s->nlog++] = (struct ev){ kind, f, l, out, perm };
}

static bool pow2_ok(const struct lst *s, uint64_t f, uint64_t l)
{
	uint64_t n = l - f + 1;

	return (s->l.caps & VIOMMU_IOMMU_CAP_ARBITRARY) || (!(n & (n - 1)) && !(f & (n - 1)));
}

static void copy_unmap(struct lst *s, uint64_t f, uint64_t l, uint64_t out)
{
	for (uint64_t a = f; a <= l; a += PG) {
		size_t p = (a - base) / PG;
		uint64_t go = 0;
		unsigned gp = gview(p, &go);

		T_OK(s->perm[p] != 0);
		T_EQ_U64(s->out[p], out + (a - f));
		if (gp && gp == s->perm[p] && go == s->out[p]) {
			/* An unchanged translation unmapped: only allowed as a counted window. */
			T_OK(!(s->l.caps & VIOMMU_IOMMU_CAP_CHANGE));
			s->unchanged_unmapped += PG;
		}
		s->perm[p] = 0;
	}
}

static void copy_map(struct lst *s, uint64_t f, uint64_t l, uint64_t out, unsigned perm)
{
	for (uint64_t a = f; a <= l; a += PG) {
		size_t p = (a - base) / PG;

		T_EQ(s->perm[p], 0);
		s->perm[p] = perm;
		s->out[p] = out + (a - f);
	}
}

static void lst_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct lst *s = (struct lst *)l;
	struct viommu_iommu_piece_iter it;

	T_OK(ev->first >= l->first && ev->last <= l->last);
	T_OK(ev->first >= base && ev->last < base + NPAGES * PG);
	T_OK(pow2_ok(s, ev->first, ev->last));
	T_EQ(ev->source_id, 7);
	log_ev(s, ev->kind, ev->first, ev->last, ev->out, ev->perm);
	switch (ev->kind) {
	case VIOMMU_IOMMU_EV_MAP:
		T_EQ(viommu_rangemap_insert(s->ext, ev->first, ev->last, ev->out | ev->perm), 0);
		copy_map(s, ev->first, ev->last, ev->out, ev->perm);
		break;
	case VIOMMU_IOMMU_EV_UNMAP:
		T_EQ(viommu_rangemap_remove(s->ext, ev->first, ev->last, NULL), 0);
		copy_unmap(s, ev->first, ev->last, ev->out);
		break;
	case VIOMMU_IOMMU_EV_CHANGE: {
		uint64_t prev = ev->first;
		bool any = false;

		T_OK(s->l.caps & VIOMMU_IOMMU_CAP_CHANGE);
		T_EQ(viommu_rangemap_remove(s->ext, ev->first, ev->last, NULL), 0);
		/* Pages of the old extent that keep their translation are not unmapped. */
		for (uint64_t a = ev->first; a <= ev->last; a += PG)
			s->perm[(a - base) / PG] = 0;
		viommu_iommu_event_for_each_new(&it, ev) {
			T_OK(it.piece.first >= prev && it.piece.last <= ev->last);
			T_OK(pow2_ok(s, it.piece.first, it.piece.last));
			prev = it.piece.last + 1;
			any = true;
			T_EQ(viommu_rangemap_insert(s->ext, it.piece.first, it.piece.last, it.piece.out | it.piece.perm), 0);
			copy_map(s, it.piece.first, it.piece.last, it.piece.out, it.piece.perm);
		}
		T_OK(any);
		/* What the CHANGE left unmapped must be a hole in the guest now. */
		for (uint64_t a = ev->first; a <= ev->last; a += PG) {
			uint64_t o;

			if (!s->perm[(a - base) / PG])
				T_EQ(gview((a - base) / PG, &o), 0);
		}
		break;
	}
	default:
		T_FATAL("unexpected event kind %u", ev->kind);
	}
}

static void lst_init(struct lst *s, uint64_t first, uint64_t last, unsigned caps)
{
	s->l = (struct viommu_iommu_listener){ .sz = sizeof(s->l), .first = first, .last = last, .caps = caps,
					       .kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP, .notify = lst_notify };
	if (caps & VIOMMU_IOMMU_CAP_CHANGE)
		s->l.kinds |= VIOMMU_IOMMU_EV_CHANGE;
	if (!s->ext)
		s->ext = viommu_rangemap_new();
	viommu_rangemap_clear(s->ext);
	memset(s->perm, 0, sizeof(s->perm));
	s->nlog = 0;
	s->unchanged_unmapped = 0;
}

static void check_copies(void)
{
	for (int i = 0; i < NL; i++) {
		struct lst *s = &L[i];
		unsigned bad = 0;

		if (!s->l.notify)
			continue;
		for (size_t p = 0; p < NPAGES; p++) {
			uint64_t a = base + p * PG, o = 0;
			unsigned gp = a >= s->l.first && a <= s->l.last ? gview(p, &o) : 0;

			if (gp != s->perm[p] || (gp && o != s->out[p]))
				bad++;
		}
		T_EQ(bad, 0);
	}
}

/* The pow2 listener's events are the minimal cover of the arbitrary one's, in order. */
static void check_pair(const struct lst *arb, const struct lst *p2)
{
	size_t j = 0;
	bool ok = true;

	for (size_t i = 0; i < arb->nlog && ok; i++) {
		const struct ev *e = &arb->log[i];
		struct viommu_pow2_iter it;

		viommu_pow2_for_each(&it, e->first, e->last, 64, 64) {
			uint64_t bl = it.addr + (it.order >= 64 ? UINT64_MAX : (1ull << it.order) - 1);

			if (j >= p2->nlog || p2->log[j].kind != e->kind || p2->log[j].first != it.addr ||
			    p2->log[j].last != bl || p2->log[j].out != e->out + (it.addr - e->first) ||
			    p2->log[j].perm != e->perm) {
				ok = false;
				break;
			}
			j++;
		}
	}
	T_OK(ok && j == p2->nlog);
}

static uint64_t rand_out(uint64_t align_pages)
{
	uint64_t n = outpages / align_pages;

	return outbase + t_rng_below(&rng, n) * align_pages * PG;
}


static uint64_t rand_out_cb(void *ctx, uint64_t align_pages)
{
	(void)ctx;
	return rand_out(align_pages);
}

static bool mutate(uint64_t *a, uint64_t *b)
{
	struct gmut m = { &g, &rng, base, NPAGES, rand_out_cb, NULL };

	return guest_mutate(&m, a, b);
}

static void reset_logs(void)
{
	for (int i = 0; i < NL; i++) {
		L[i].nlog = 0;
	}
}

static void round_(uint64_t seed, uint64_t b, bool with_msi, unsigned iters)
{
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g, .source_id = 7,
					  .msi_window = with_msi, .merge_granule = with_msi ? 0x10000 : 0 };
	struct viommu_iommu_as *ias;
	struct viommu_iommu_stats st0 = { .sz = sizeof(st0) }, st1 = { .sz = sizeof(st1) };
	static const unsigned caps[4] = { VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE,
					  VIOMMU_IOMMU_CAP_ARBITRARY, VIOMMU_IOMMU_CAP_CHANGE, 0 };
	unsigned syncs = 0, kinds_seen[8] = { 0 };

	t_rng_init(&rng, seed);
	base = b;
	msi = with_msi;
	outbase = with_msi ? 0xfe000000ull : 0x100000000ull;
	outpages = with_msi ? 4096 : 1u << 20;
	viommu_rangemap_clear(g.leaves);
	ias = viommu_iommu_as_new(&o);
	if (!ias)
		T_FATAL("as_new");
	/* 0..3: whole space; 4..7: a cropped range, not 2M aligned; 8: late. */
	uint64_t cf = base + 0x123000, cl = base + 0x5dcfff;

	for (int i = 0; i < 8; i++) {
		lst_init(&L[i], i < 4 ? 0 : cf, i < 4 ? UINT64_MAX : cl, caps[i % 4]);
		T_EQ(viommu_iommu_listener_register(ias, &L[i].l), 0);
	}
	L[8].l.notify = NULL;
	for (unsigned it = 0; it < iters; it++) {
		uint64_t a = 0, z = 0;

		if (!mutate(&a, &z))
			continue;
		/* Sometimes a wider invalidation than needed. */
		if (t_rng_below(&rng, 8) == 0) {
			a = a - base > 0x40000 ? a - 0x40000 : base;
			z = VI_MIN(z + 0x40000, base + NPAGES * PG - 1);
		}
		reset_logs();
		T_EQ(viommu_iommu_get_stats(ias, &st0), 0);
		for (int i = 0; i < NL; i++)
			L[i].unchanged_unmapped = 0;
		int r = viommu_iommu_sync(ias, a, z);

		T_OK(r >= 0);
		syncs++;
		T_EQ(viommu_iommu_get_stats(ias, &st1), 0);
		uint64_t unchanged = 0;

		for (int i = 0; i < NL; i++)
			if (L[i].l.notify)
				unchanged += L[i].unchanged_unmapped;
		T_EQ_U64(unchanged, st1.window_bytes - st0.window_bytes);
		for (int i = 0; i < NL; i++)
			for (size_t k = 0; k < L[i].nlog; k++)
				kinds_seen[L[i].log[k].kind & 7]++;
		check_pair(&L[1], &L[3]);
		check_pair(&L[5], &L[7]);
		check_copies();
		/* Identical -> nothing. */
		if (t_rng_below(&rng, 4) == 0) {
			reset_logs();
			T_EQ(viommu_iommu_sync(ias, a, z), 0);
			for (int i = 0; i < NL; i++)
				T_EQ(L[i].nlog, 0);
		}
		if (it == iters / 2) {
			lst_init(&L[8], base + 0x1000, base + NPAGES * PG - 0x3000, caps[t_rng_below(&rng, 4)]);
			T_EQ(viommu_iommu_listener_register(ias, &L[8].l), 0);
			for (size_t k = 0; k < L[8].nlog; k++)
				T_EQ(L[8].log[k].kind, VIOMMU_IOMMU_EV_MAP);
			check_copies();
		}
	}
	T_EQ(viommu_iommu_get_stats(ias, &st1), 0);
	printf("round base 0x%" PRIx64 " msi %d: %u syncs, %" PRIu64 " extents, events map %u unmap %u change %u, "
	       "windows %" PRIu64 ", pieces %" PRIu64 "\n", b, with_msi, syncs, st1.extents, kinds_seen[1],
	       kinds_seen[2], kinds_seen[4], st1.windows, st1.pieces);
	/* The mix must exercise every path. */
	T_OK(kinds_seen[1] > 100 && kinds_seen[2] > 100 && kinds_seen[4] > 100 && st1.windows > 50);
	viommu_iommu_as_free(ias);
	for (int i = 0; i < NL; i++)
		L[i].l.notify = NULL;
}

int main(void)
{
	uint64_t seed = t_seed("iommu_random", 0x10330001);

	g.leaves = viommu_rangemap_new();
	round_(seed, 0, false, 900);
	/* Around the interrupt window (IOVA and outputs both cross it), with a merge granule. */
	round_(seed + 1, 0xfe800000ull, true, 900);
	viommu_rangemap_free(g.leaves);
	for (int i = 0; i < NL; i++) {
		viommu_rangemap_free(L[i].ext);
		free(L[i].log);
	}
	return t_done();
}
