// SPDX-License-Identifier: MIT
/*
 * Directed cases of IOMMU shadowing and event delivery, each with the exact
 * event list every kind of listener receives (docs/reference.md §1.1, §1.2, §5).
 */
#include <viommu/range.h>

#include "iommu_model.h"

#define ALL VIOMMU_IOMMU_EV_ALL
#define ARB VIOMMU_IOMMU_CAP_ARBITRARY
#define CHG VIOMMU_IOMMU_CAP_CHANGE
#define MU (VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP)

static struct guest g;
static struct rec A, N, P, Q, C, U, L, D;

static void clear_all(void)
{
	rec_clear(&A); rec_clear(&N); rec_clear(&P); rec_clear(&Q);
	rec_clear(&C); rec_clear(&U); rec_clear(&L); rec_clear(&D);
}

static struct viommu_iommu_as *new_ias(bool msi)
{
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g, .source_id = 0x10,
					  .msi_window = msi };
	struct viommu_iommu_as *ias = viommu_iommu_as_new(&o);

	if (!ias)
		T_FATAL("viommu_iommu_as_new");
	return ias;
}

static void test_shadow_cases(void)
{
	struct viommu_iommu_as *ias = new_ias(false);
	struct viommu_iommu_stats st = { .sz = sizeof(st) };
	struct viommu_iommu_xlat x;

	rec_init(&A, 0, UINT64_MAX, ALL, ARB | CHG);
	rec_init(&N, 0, UINT64_MAX, MU, ARB);
	rec_init(&P, 0, UINT64_MAX, ALL, CHG);
	rec_init(&Q, 0, UINT64_MAX, MU, 0);
	rec_init(&C, 0x100000, 0x1fffff, ALL, ARB | CHG);
	rec_init(&U, 0, UINT64_MAX, VIOMMU_IOMMU_EV_UNMAP, ARB);
	T_EQ(viommu_iommu_listener_register(ias, &A.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &N.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &P.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &Q.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &C.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &U.l), 0);

	/* A new 2M leaf: one MAP; cropped for C; UNMAP-only U hears nothing. */
	guest_map(&g, 0, 0x200000, 0x40000000, 3);
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 1);
	T_STREQ(A.log, "M 0-1fffff>40000000/3;");
	T_STREQ(P.log, "M 0-1fffff>40000000/3;");
	T_STREQ(C.log, "M 100000-1fffff>40100000/3;");
	T_STREQ(U.log, "");
	clear_all();

	/*
	 * 2M -> 512 x 4K with the same output: the translation of every byte is
	 * unchanged, so nobody hears anything (the runs merge back to the extent).
	 */
	guest_unmap(&g, 0, 0x1fffff);
	for (uint64_t i = 0; i < 512; i++)
		guest_map(&g, i << 12, 0x1000, 0x40000000 + (i << 12), 3);
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 0);
	T_EQ(A.n + N.n + P.n + Q.n + C.n + U.n, 0);

	/*
	 * One 4K page of it changes and the guest invalidates just that page:
	 * the range widens to the recorded 2M extent and one CHANGE over it
	 * carries the three new pieces (docs/reference.md §1.1: QEMU would UNMAP
	 * with the new entry's extent and bisect the host mapping).
	 */
	guest_unmap(&g, 0x5000, 0x5fff);
	guest_map(&g, 0x5000, 0x1000, 0x80000000, 1);
	T_EQ(viommu_iommu_sync(ias, 0x5000, 0x5fff), 1);
	T_STREQ(A.log, "C 0-1fffff>40000000/3[0-4fff>40000000/3,5000-5fff>80000000/1,6000-1fffff>40006000/3,];");
	T_STREQ(N.log, "U 0-1fffff>40000000/3;M 0-4fff>40000000/3;M 5000-5fff>80000000/1;"
		       "M 6000-1fffff>40006000/3;");
	T_STREQ(P.log, "C 0-1fffff>40000000/3[0-3fff>40000000/3,4000-4fff>40004000/3,5000-5fff>80000000/1,"
		       "6000-7fff>40006000/3,8000-ffff>40008000/3,10000-1ffff>40010000/3,20000-3ffff>40020000/3,"
		       "40000-7ffff>40040000/3,80000-fffff>40080000/3,100000-1fffff>40100000/3,];");
	T_STREQ(Q.log, "U 0-1fffff>40000000/3;M 0-3fff>40000000/3;M 4000-4fff>40004000/3;M 5000-5fff>80000000/1;"
		       "M 6000-7fff>40006000/3;M 8000-ffff>40008000/3;M 10000-1ffff>40010000/3;"
		       "M 20000-3ffff>40020000/3;M 40000-7ffff>40040000/3;M 80000-fffff>40080000/3;"
		       "M 100000-1fffff>40100000/3;");
	/* Within C's range the translation did not change: nothing. */
	T_STREQ(C.log, "");
	T_STREQ(U.log, "U 0-1fffff>40000000/3;");
	T_OK(viommu_iommu_lookup(ias, 0x5abc, &x));
	T_EQ_U64(x.first, 0x5000);
	T_EQ_U64(x.last, 0x5fff);
	T_EQ_U64(x.out, 0x80000000);
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	T_EQ(st.extents, 3);
	T_EQ(st.windows, 3);		/* N, Q and U lowered the CHANGE (U hears only its UNMAP) */
	clear_all();

	/* And back to one 2M leaf: only the changed extent is touched. */
	guest_unmap(&g, 0, 0x1fffff);
	guest_map(&g, 0, 0x200000, 0x40000000, 3);
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 1);
	T_STREQ(A.log, "C 5000-5fff>80000000/1[5000-5fff>40005000/3,];");
	T_STREQ(N.log, "U 5000-5fff>80000000/1;M 5000-5fff>40005000/3;");
	T_STREQ(C.log, "");
	clear_all();

	/*
	 * Gone, but the guest invalidates only page 1: the extent holding it
	 * is changed whole, keeping its translation where the guest did not
	 * invalidate (no bisect, and no read of the guest beyond page 1).
	 */
	guest_unmap(&g, 0, 0x1fffff);
	T_EQ(viommu_iommu_sync(ias, 0x1000, 0x1fff), 1);
	T_STREQ(A.log, "C 0-4fff>40000000/3[0-fff>40000000/3,2000-4fff>40002000/3,];");
	T_STREQ(C.log, "");
	/* The whole 2M: UNMAP of each recorded extent; again, and of a hole: nothing. */
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 4);
	T_STREQ(A.log, "C 0-4fff>40000000/3[0-fff>40000000/3,2000-4fff>40002000/3,];"
		       "U 0-fff>40000000/3;U 2000-4fff>40002000/3;U 5000-5fff>40005000/3;U 6000-1fffff>40006000/3;");
	T_STREQ(C.log, "U 100000-1fffff>40100000/3;");
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 0);
	T_EQ(viommu_iommu_sync(ias, 0x10000000, 0x10000fff), 0);
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	T_EQ(st.extents, 0);
	clear_all();

	/* Lowering [0x1000, 0x2fffff]: the 10 blocks of the minimal cover (docs/reference.md §1.2). */
	guest_map(&g, 0x1000, 0x2ff000, 0x1000, 3);
	T_EQ(viommu_iommu_sync(ias, 0x1000, 0x2fffff), 1);
	T_EQ(Q.n, 10);
	T_EQ(viommu_pow2_count(0x1000, 0x2fffff, 64), 10);
	T_STREQ(Q.log, "M 1000-1fff>1000/3;M 2000-3fff>2000/3;M 4000-7fff>4000/3;M 8000-ffff>8000/3;"
		       "M 10000-1ffff>10000/3;M 20000-3ffff>20000/3;M 40000-7ffff>40000/3;M 80000-fffff>80000/3;"
		       "M 100000-1fffff>100000/3;M 200000-2fffff>200000/3;");
	T_STREQ(A.log, "M 1000-2fffff>1000/3;");
	T_STREQ(C.log, "M 100000-1fffff>100000/3;");

	/*
	 * Replay: 16 pages synced together are one extent; two pages synced
	 * one by one stay two, even with contiguous output, so the late
	 * listener can later be told about each exactly.
	 */
	for (uint64_t i = 0; i < 16; i++)
		guest_map(&g, 0x10000000 + (i << 12), 0x1000, 0x20000000 + (i << 12), 3);
	T_EQ(viommu_iommu_sync(ias, 0x10000000, 0x1000ffff), 1);
	guest_map(&g, 0x11000000, 0x1000, 0x30000000, 3);
	T_EQ(viommu_iommu_sync(ias, 0x11000000, 0x11000fff), 1);
	guest_map(&g, 0x11001000, 0x1000, 0x30001000, 3);
	T_EQ(viommu_iommu_sync(ias, 0x11001000, 0x11001fff), 1);
	g.reads = 0;
	rec_init(&L, 0, UINT64_MAX, ALL, ARB | CHG);
	T_EQ(viommu_iommu_listener_register(ias, &L.l), 0);
	T_STREQ(L.log, "M 1000-2fffff>1000/3;M 10000000-1000ffff>20000000/3;M 11000000-11000fff>30000000/3;"
		       "M 11001000-11001fff>30001000/3;");
	T_EQ(g.reads, 0);	/* from the shadow, never a walk of the guest */
	T_EQ(viommu_iommu_listener_register(ias, &L.l), -EEXIST);
	clear_all();

	/* Device-TLB invalidation: cropped and lowered, kinds honoured. */
	rec_init(&D, 0, 0xffff, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, 0);
	T_EQ(viommu_iommu_listener_register(ias, &D.l), 0);
	T_EQ(viommu_iommu_deviotlb_unmap(ias, 0x1000, 0x2fffff), 0);
	T_STREQ(D.log, "D 1000-1fff>0/0;D 2000-3fff>0/0;D 4000-7fff>0/0;D 8000-ffff>0/0;");
	T_STREQ(A.log, "D 1000-2fffff>0/0;");
	T_STREQ(N.log, "");
	clear_all();

	/* unmap_all: every recorded extent as UNMAP, without reading the guest. */
	g.reads = 0;
	T_EQ(viommu_iommu_unmap_all(ias, 0x10000000, 0x11000000), 2);
	T_STREQ(A.log, "U 10000000-1000ffff>20000000/3;U 11000000-11000fff>30000000/3;");
	T_EQ(g.reads, 0);

	/* Registration errors. */
	struct rec bad;

	rec_init(&bad, 0, UINT64_MAX, MU, CHG);	/* CAP_CHANGE without EV_CHANGE */
	T_EQ(viommu_iommu_listener_register(ias, &bad.l), -EINVAL);
	rec_init(&bad, 2, 1, MU, 0);
	T_EQ(viommu_iommu_listener_register(ias, &bad.l), -EINVAL);
	rec_init(&bad, 0, 1, 0x10, 0);
	T_EQ(viommu_iommu_listener_register(ias, &bad.l), -EINVAL);
	T_EQ(errno, EINVAL);
	T_EQ(viommu_iommu_listener_unregister(ias, &bad.l), -ENOENT);
	T_EQ(viommu_iommu_listener_unregister(ias, &L.l), 0);
	T_EQ(viommu_iommu_sync(ias, 2, 1), -EINVAL);
	viommu_iommu_as_free(ias);
	viommu_rangemap_clear(g.leaves);
}

/* docs/reference.md §5: the interrupt window is never mapped, whichever side touches it. */
static void test_msi_window(void)
{
	struct viommu_iommu_as *ias = new_ias(true);

	rec_init(&A, 0, UINT64_MAX, ALL, ARB | CHG);
	T_EQ(viommu_iommu_listener_register(ias, &A.l), 0);
	guest_map(&g, 0, 0x300000, 0xfed00000, 3);		/* output crosses the window */
	guest_map(&g, 0xfe000000, 0x1000000, 0xfe000000, 3);	/* input crosses it */
	T_EQ(viommu_iommu_sync(ias, 0, 0xffffffff), 4);
	T_STREQ(A.log, "M 0-fffff>fed00000/3;M 200000-2fffff>fef00000/3;M fe000000-fedfffff>fe000000/3;"
		       "M fef00000-feffffff>fef00000/3;");
	T_OK(!viommu_iommu_lookup(ias, 0xfee00000, NULL));
	T_OK(!viommu_iommu_lookup(ias, 0x100000, NULL));
	/* Same view again: nothing (the clipped parts stay clipped). */
	T_EQ(viommu_iommu_sync(ias, 0, 0xffffffff), 0);
	viommu_iommu_as_free(ias);
	viommu_rangemap_clear(g.leaves);

	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .msi_window = true,
					  .msi_first = 0x800, .msi_last = 0xfff };
	T_OK(viommu_iommu_as_new(&o) == NULL);		/* not page aligned */
	T_EQ(errno, EINVAL);
	o.msi_window = false;
	o.page_shift = 1;
	T_OK(viommu_iommu_as_new(&o) == NULL);
	o.page_shift = 0;
	o.read = NULL;
	T_OK(viommu_iommu_as_new(&o) == NULL);
}

/* merge_granule: runs are cut at its multiples, so a later change stays inside one piece. */
static void test_merge_granule(void)
{
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g,
					  .merge_granule = 0x4000 };
	struct viommu_iommu_as *ias = viommu_iommu_as_new(&o);

	rec_init(&A, 0, UINT64_MAX, ALL, ARB | CHG);
	T_EQ(viommu_iommu_listener_register(ias, &A.l), 0);
	for (uint64_t i = 0; i < 10; i++)
		guest_map(&g, 0x1000 + (i << 12), 0x1000, 0x81000 + (i << 12), 3);
	T_EQ(viommu_iommu_sync(ias, 0, 0xffff), 3);
	T_STREQ(A.log, "M 1000-3fff>81000/3;M 4000-7fff>84000/3;M 8000-afff>88000/3;");
	rec_clear(&A);
	guest_unmap(&g, 0x5000, 0x5fff);
	T_EQ(viommu_iommu_sync(ias, 0x5000, 0x5fff), 1);
	T_STREQ(A.log, "C 4000-7fff>84000/3[4000-4fff>84000/3,6000-7fff>86000/3,];");
	viommu_iommu_as_free(ias);
	viommu_rangemap_clear(g.leaves);
	o.merge_granule = 0x3000;
	T_OK(viommu_iommu_as_new(&o) == NULL);
	o.merge_granule = 0x800;	/* below the page */
	T_OK(viommu_iommu_as_new(&o) == NULL);
}

/* A read view reporting a fixed list verbatim, ignoring view_add's errors. */
struct hostile {
	struct viommu_iommu_xlat leaf[4];
	int n;
	struct viommu_iommu_as *ias;
	int reenter;
};

static int hostile_read(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view)
{
	struct hostile *h = ctx;

	(void)first;
	(void)last;
	if (h->ias)
		h->reenter = viommu_iommu_sync(h->ias, 0, 0xfff);
	for (int i = 0; i < h->n; i++)
		viommu_iommu_view_add(view, h->leaf[i].first, h->leaf[i].last, h->leaf[i].out, h->leaf[i].perm);
	return 0;
}

static void test_hostile_views(void)
{
	struct hostile h = { .n = 1, .leaf = { { 0, 0x1fff, 0x10000, 3 } } };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = hostile_read, .read_ctx = &h };
	struct viommu_iommu_as *ias = viommu_iommu_as_new(&o);
	struct viommu_iommu_stats st = { .sz = sizeof(st) };
	struct viommu_iommu_xlat x;
	static const struct {
		struct viommu_iommu_xlat leaf[2];
		int n;
	} bad[] = {
		{ { { 0, 0x1fff, 0x20000, 3 }, { 0x1000, 0x2fff, 0x30000, 3 } }, 2 },	/* overlapping */
		{ { { 0x2000, 0x2fff, 0x20000, 3 }, { 0, 0xfff, 0x30000, 3 } }, 2 },	/* out of order */
		{ { { 0x800, 0xfff, 0x20000, 3 } }, 1 },				/* not page aligned */
		{ { { 0, 0xffe, 0x20000, 3 } }, 1 },					/* end not aligned */
		{ { { 0, 0xfff, 0x20800, 3 } }, 1 },					/* output not aligned */
		{ { { 0, 0x1fff, UINT64_MAX - 0xfff, 3 } }, 1 },			/* output wraps */
		{ { { 0, 0xfff, 0x20000, 4 } }, 1 },					/* unknown perm bit */
		{ { { 0x1000, 0xfff, 0x20000, 3 } }, 1 },				/* first > last */
	};

	rec_init(&A, 0, UINT64_MAX, ALL, ARB | CHG);
	T_EQ(viommu_iommu_listener_register(ias, &A.l), 0);
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fff), 1);
	T_STREQ(A.log, "M 0-1fff>10000/3;");
	for (size_t i = 0; i < (sizeof(bad) / sizeof(bad[0])); i++) {
		rec_clear(&A);
		memcpy(h.leaf, bad[i].leaf, sizeof(bad[i].leaf));
		h.n = bad[i].n;
		T_EQ(viommu_iommu_sync(ias, 0, 0x2fff), -EINVAL);
		T_EQ(errno, EINVAL);
		T_STREQ(A.log, "");
		T_OK(viommu_iommu_lookup(ias, 0x1000, &x));
		T_EQ_U64(x.out, 0x10000);
		T_EQ_U64(x.last, 0x1fff);
	}
	/* A view error from the callback itself. */
	g.fail = -EIO;
	o.read = guest_read;
	o.read_ctx = &g;
	struct viommu_iommu_as *as2 = viommu_iommu_as_new(&o);

	T_EQ(viommu_iommu_sync(as2, 0, 0xfff), -EIO);
	T_EQ(errno, EIO);
	g.fail = 0;
	T_EQ(viommu_iommu_get_stats(as2, &st), 0);
	T_EQ(st.read_errors, 1);
	T_EQ(st.syncs, 0);
	viommu_iommu_as_free(as2);

	/* Re-entry from the callback is refused; the outer sync works. */
	h.n = 1;
	h.leaf[0] = (struct viommu_iommu_xlat){ 0, 0x1fff, 0x50000, 1 };
	h.ias = ias;
	rec_clear(&A);
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fff), 1);
	T_EQ(h.reenter, -EBUSY);
	T_STREQ(A.log, "C 0-1fff>10000/3[0-1fff>50000/1,];");
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	T_EQ(st.read_errors, (uint64_t)(sizeof(bad) / sizeof(bad[0])));
	viommu_iommu_as_free(ias);
}

/*
 * The piece cursor nests (this file builds with -Wshadow -Werror, so a
 * macro declaring a variable would not compile here), the pieces array and
 * the cursor agree, and the commit callback ends every operation that
 * delivered something to the listener, once.
 */
struct nest {
	struct viommu_iommu_listener l;
	unsigned pairs, pieces, commits, events;
};

static void nest_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct nest *n = (struct nest *)l;
	struct viommu_iommu_piece_iter a, b;
	size_t k = 0;

	n->events++;
	viommu_iommu_event_for_each_new(&a, ev) {
		T_EQ_U64(a.piece.first, ev->pieces[k].first);
		T_EQ_U64(a.piece.out, ev->pieces[k].out);
		k++;
		viommu_iommu_event_for_each_new(&b, ev)
			n->pairs++;
	}
	T_EQ(k, ev->npieces);
	n->pieces += (unsigned)k;
	if (ev->kind != VIOMMU_IOMMU_EV_CHANGE)
		T_OK(ev->pieces == NULL && ev->npieces == 0);
}

static void nest_commit(struct viommu_iommu_listener *l)
{
	((struct nest *)l)->commits++;
}

static void test_cursor_and_commit(void)
{
	struct viommu_iommu_as *ias = new_ias(false);
	struct nest n = { .l = { .sz = sizeof(n.l), .first = 0, .last = UINT64_MAX, .kinds = ALL, .caps = ARB | CHG,
				 .notify = nest_notify, .commit = nest_commit } };
	struct nest far = { .l = { .sz = sizeof(far.l), .first = 0x10000000, .last = 0x1fffffff, .kinds = ALL,
				   .caps = ARB | CHG, .notify = nest_notify, .commit = nest_commit } };

	guest_map(&g, 0, 0x200000, 0x400000, 3);
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 1);
	T_EQ(viommu_iommu_listener_register(ias, &n.l), 0);	/* replay: one MAP, one commit */
	T_EQ(viommu_iommu_listener_register(ias, &far.l), 0);	/* nothing in its range: no commit */
	T_EQ(n.events, 1);
	T_EQ(n.commits, 1);
	T_EQ(far.commits, 0);
	/* the 2M extent becomes three pieces: one CHANGE, 3 x 3 nested pairs */
	guest_unmap(&g, 0, 0x1fffff);
	guest_map(&g, 0, 0x5000, 0x400000, 3);
	guest_map(&g, 0x5000, 0x1000, 0x900000, 1);
	guest_map(&g, 0x6000, 0x1fa000, 0x406000, 3);
	T_EQ(viommu_iommu_sync(ias, 0x5000, 0x5fff), 1);
	T_EQ(n.events, 2);
	T_EQ(n.pieces, 3);
	T_EQ(n.pairs, 9);
	T_EQ(n.commits, 2);
	T_EQ(far.commits, 0);
	/* a sync that changes nothing delivers nothing and commits nothing */
	T_EQ(viommu_iommu_sync(ias, 0, 0x1fffff), 0);
	T_EQ(n.commits, 2);
	/* an older caller's listener without the commit field still registers */
	struct nest old = { .l = { .sz = offsetof(struct viommu_iommu_listener, commit), .first = 0,
				   .last = UINT64_MAX, .kinds = ALL, .caps = ARB | CHG, .notify = nest_notify,
				   .commit = nest_commit } };

	T_EQ(viommu_iommu_listener_register(ias, &old.l), 0);
	T_EQ(old.events, 3);
	T_EQ(old.commits, 0);	/* beyond its sz: never read */
	T_EQ(viommu_iommu_unmap_all(ias, 0, UINT64_MAX), 3);
	T_EQ(n.commits, 3);
	T_EQ(old.commits, 0);
	viommu_iommu_as_free(ias);
	viommu_rangemap_clear(g.leaves);
}

/*
 * A sync of exactly one extent (the common 4K invalidation) takes one shadow
 * descent instead of the plan's walk; every kind of listener must hear
 * exactly what the plan would tell it, and ranges that hold anything else
 * must still go through the plan.
 */
static void test_one_extent(void)
{
	struct viommu_iommu_as *ias = new_ias(false);
	struct viommu_iommu_stats st = { .sz = sizeof(st) };
	struct viommu_iommu_xlat x;

	viommu_rangemap_clear(g.leaves);
	rec_init(&A, 0, UINT64_MAX, ALL, ARB | CHG);
	rec_init(&N, 0, UINT64_MAX, MU, ARB);
	rec_init(&P, 0, UINT64_MAX, ALL, CHG);
	rec_init(&Q, 0, UINT64_MAX, MU, 0);
	T_EQ(viommu_iommu_listener_register(ias, &A.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &N.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &P.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &Q.l), 0);

	/* a page mapped into nothing: one MAP */
	guest_map(&g, 0x7000, 0x1000, 0x90000000, 3);
	T_EQ(viommu_iommu_sync(ias, 0x7000, 0x7fff), 1);
	T_STREQ(A.log, "M 7000-7fff>90000000/3;");
	T_STREQ(Q.log, "M 7000-7fff>90000000/3;");
	clear_all();
	/* the same again: the extent translates so already, nothing */
	T_EQ(viommu_iommu_sync(ias, 0x7000, 0x7fff), 0);
	T_EQ(A.n + N.n + P.n + Q.n, 0);
	/* retranslated in place: one CHANGE, lowered to UNMAP + MAP for those without CHANGE */
	guest_unmap(&g, 0x7000, 0x7fff);
	guest_map(&g, 0x7000, 0x1000, 0xa0000000, 1);
	T_EQ(viommu_iommu_sync(ias, 0x7000, 0x7fff), 1);
	T_STREQ(A.log, "C 7000-7fff>90000000/3[7000-7fff>a0000000/1,];");
	T_STREQ(P.log, "C 7000-7fff>90000000/3[7000-7fff>a0000000/1,];");
	T_STREQ(N.log, "U 7000-7fff>90000000/3;M 7000-7fff>a0000000/1;");
	T_STREQ(Q.log, "U 7000-7fff>90000000/3;M 7000-7fff>a0000000/1;");
	T_OK(viommu_iommu_lookup(ias, 0x7123, &x));
	T_EQ_U64(x.out, 0xa0000000);
	T_EQ(x.perm, 1);
	clear_all();
	/* a 16K map over the recorded page: not one extent there, the plan runs (a CHANGE of the page, MAPs around) */
	guest_unmap(&g, 0x7000, 0x7fff);
	guest_map(&g, 0x6000, 0x4000, 0xb0000000, 3);
	T_EQ(viommu_iommu_sync(ias, 0x6000, 0x9fff), 3);
	T_STREQ(A.log, "M 6000-6fff>b0000000/3;C 7000-7fff>a0000000/1[7000-7fff>b0001000/3,];M 8000-9fff>b0002000/3;");
	clear_all();
	/* an empty view over exactly one recorded extent: one UNMAP */
	guest_unmap(&g, 0x6000, 0x9fff);
	T_EQ(viommu_iommu_sync(ias, 0x7000, 0x7fff), 1);
	T_STREQ(A.log, "U 7000-7fff>b0001000/3;");
	T_STREQ(Q.log, "U 7000-7fff>b0001000/3;");
	clear_all();
	/* an empty view over two extents and a hole: the plan's UNMAPs */
	T_EQ(viommu_iommu_sync(ias, 0x6000, 0x9fff), 2);
	T_STREQ(A.log, "U 6000-6fff>b0000000/3;U 8000-9fff>b0002000/3;");
	clear_all();
	/* and over nothing: nothing */
	T_EQ(viommu_iommu_sync(ias, 0x6000, 0x6fff), 0);
	T_EQ(A.n + N.n + P.n + Q.n, 0);
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	T_EQ(st.extents, 0);
	T_EQ(st.syncs, 7);
	T_EQ(st.maps, 4 * 1 + 2 * 1 + 4 * 2 + 2 * 1);	/* the first MAP, the two lowered CHANGEs' MAPs, the 16K MAPs */
	viommu_iommu_as_free(ias);
	viommu_rangemap_clear(g.leaves);
	clear_all();
}

int main(void)
{
	g.leaves = viommu_rangemap_new();
	test_shadow_cases();
	test_msi_window();
	test_merge_granule();
	test_hostile_views();
	test_cursor_and_commit();
	test_one_extent();
	viommu_rangemap_free(g.leaves);
	return t_done();
}
