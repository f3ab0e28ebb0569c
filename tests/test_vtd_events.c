// SPDX-License-Identifier: MIT
/*
 * The VT-d model's IOMMU events (include/viommu/iommu.h listeners) and host
 * side: listeners refused without caching mode (MAP/UNMAP/CHANGE) or DT
 * (DEVIOTLB_UNMAP); the exact event list for translation off, on, a PSI per
 * page, a change, a removal, a domain move; exactly one sync over exactly
 * the invalidated range per address space in the domain, coalesced until the
 * wait descriptor; DEVIOTLB_UNMAP per device-TLB descriptor of its decoded
 * range; the interrupt window never reported; and host backends: devices
 * sharing a domain and a backend share one set of mappings, a device moved
 * to other tables takes its backend along.
 */
#include <viommu/host.h>

#include "test.h"
#include "vtd_guest.h"

#define RAM (UINT64_C(64) << 20)
#define TABLES UINT64_C(0x100000)
#define DATA UINT64_C(0x2000000)
#define SID0 0x0018
#define SID1 0x0019
#define SID2 0x0020
#define HOSTVA UINT64_C(0x100000000000)	/* the simulated backend never touches it */
#define WIN_LAST UINT64_C(0xfeefffff)

struct ev {
	unsigned kind;
	uint64_t first, last, out;
	unsigned perm;
};

struct rec {
	struct viommu_iommu_listener l;
	struct ev ev[64];
	size_t n;
	struct vg_model *m;
	int reentry;		/* what a translate from inside the callback returned */
};

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *e)
{
	struct rec *r = (struct rec *)(void *)l;
	struct viommu_vtd_xlat x;

	if (r->n < 64)
		r->ev[r->n] = (struct ev){ e->kind, e->first, e->last, e->out, e->perm };
	r->n++;
	if (r->m)
		r->reentry = viommu_vtd_translate(r->m->v, SID2, 0x123000, VIOMMU_PERM_READ, 0, &x);
}

static void rec_init(struct rec *r, unsigned kinds)
{
	memset(r, 0, sizeof(*r));
	r->l.sz = sizeof(r->l);
	r->l.first = 0;
	r->l.last = UINT64_MAX;
	r->l.kinds = kinds;
	r->l.caps = VIOMMU_IOMMU_CAP_ARBITRARY | (kinds & VIOMMU_IOMMU_EV_CHANGE ? VIOMMU_IOMMU_CAP_CHANGE : 0);
	r->l.notify = on_event;
}

static bool ev_is(const struct rec *r, size_t i, unsigned kind, uint64_t first, uint64_t last, uint64_t out)
{
	return i < r->n && r->ev[i].kind == kind && r->ev[i].first == first && r->ev[i].last == last &&
	       (kind == VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP || r->ev[i].out == out);
}

static struct vg_model *model(bool cm, bool dt)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .caching_mode = cm, .device_iotlb = dt };
	struct vg_model *m = vg_model_new(&o, RAM);

	if (!m)
		T_FATAL("model");
	return m;
}

static struct viommu_vtd_stats stats(struct vg_model *m)
{
	struct viommu_vtd_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	return st;
}

static void psi(struct vg *g, uint16_t did, uint64_t addr, unsigned am)
{
	T_OK(vg_qi_sync(g, vg_iotlb_page(did), vg_iotlb_page_hi(addr, am, false)));
}

static void test_refusals(void)
{
	struct vg_model *m = model(false, false);
	struct rec r;

	rec_init(&r, VIOMMU_IOMMU_EV_MAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), -EINVAL);
	rec_init(&r, VIOMMU_IOMMU_EV_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), -EINVAL);
	rec_init(&r, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), -EINVAL);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, NULL), -EINVAL);
	T_EQ(viommu_vtd_listener_unregister(m->v, SID0, &r.l), -ENOENT);
	vg_model_free(m);
	/* without caching mode a device-TLB listener is fine with DT */
	m = model(false, true);
	rec_init(&r, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), 0);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), -EEXIST);
	T_EQ(r.n, 0);
	T_EQ(viommu_vtd_listener_unregister(m->v, SID0, &r.l), 0);
	vg_model_free(m);
}

/* The event list through translation off, on, and one page's life. */
static void test_events(void)
{
	struct vg_model *m = model(true, false);
	struct rec r;
	struct vg g;
	uint64_t pt;
	struct viommu_vtd_stats st;

	rec_init(&r, VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), 0);
	/* translation off: the untranslated view up to HAW (39 bits), the window cut out */
	T_EQ(r.n, 2);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_MAP, 0, 0xfedfffff, 0));
	T_OK(ev_is(&r, 1, VIOMMU_IOMMU_EV_MAP, 0xfef00000, (UINT64_C(1) << 39) - 1, 0xfef00000));
	T_EQ(r.ev[0].perm, VIOMMU_PERM_RW);
	r.n = 0;
	vg_init(&g, &m->side, TABLES, DATA);
	pt = vg_page(&g);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_qi_enable(&g, 0);
	T_EQ(r.n, 0);
	vg_te(&g, true);
	/*
	 * translation on: the untranslated extent below the window changes into
	 * the one page the tables map (a CHANGE with one new piece), the one
	 * above it goes
	 */
	T_EQ(r.n, 2);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_CHANGE, 0, 0xfedfffff, 0));
	T_OK(ev_is(&r, 1, VIOMMU_IOMMU_EV_UNMAP, 0xfef00000, (UINT64_C(1) << 39) - 1, 0xfef00000));
	r.n = 0;
	/* a new page: one sync over exactly its 4K, one MAP */
	st = stats(m);
	vg_map(&g, pt, 3, 0x20000, DATA + 0x5000, VG_SZ_4K, VG_R);
	psi(&g, 1, 0x20000, 0);
	T_EQ(stats(m).syncs, st.syncs + 1);
	T_EQ(stats(m).sync_bytes, st.sync_bytes + 0x1000);
	T_EQ(r.n, 1);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_MAP, 0x20000, 0x20fff, DATA + 0x5000));
	T_EQ(r.ev[0].perm, VIOMMU_PERM_READ);
	r.n = 0;
	/* changed in place: one CHANGE, never UNMAP + MAP */
	vg_map(&g, pt, 3, 0x20000, DATA + 0x6000, VG_SZ_4K, VG_RW);
	psi(&g, 1, 0x20000, 0);
	T_EQ(r.n, 1);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_CHANGE, 0x20000, 0x20fff, DATA + 0x5000));
	r.n = 0;
	/* removed */
	vg_w64(&m->side, vg_pte_addr(&g, pt, 3, 0x20000, 1), 0);
	psi(&g, 1, 0x20000, 0);
	T_EQ(r.n, 1);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_UNMAP, 0x20000, 0x20fff, DATA + 0x6000));
	r.n = 0;
	/* another domain's invalidation does not sync this space */
	st = stats(m);
	psi(&g, 2, 0x10000, 0);
	T_EQ(stats(m).syncs, st.syncs);
	/* a 2M leaf at the window: only the half above the window is reported */
	vg_map(&g, pt, 3, 0xfee00000, DATA + 0x200000, VG_SZ_2M, VG_RW);
	T_OK(vg_qi_sync(&g, vg_iotlb_domain(1), 0));
	T_EQ(r.n, 1);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_MAP, 0xfef00000, 0xfeffffff, DATA + 0x300000));
	r.n = 0;
	/* turning translation off brings the untranslated view back */
	vg_te(&g, false);
	T_OK(r.n >= 2);
	for (size_t i = 0; i < r.n && i < 64; i++)
		T_OK(r.ev[i].last < 0xfee00000 || r.ev[i].first > WIN_LAST);
	T_EQ(viommu_vtd_listener_unregister(m->v, SID0, &r.l), 0);
	vg_model_free(m);
}

/* PSIs are coalesced until the wait: touching ranges merge, scattered ones stay apart. */
static void test_coalescing(void)
{
	struct vg_model *m = model(true, false);
	struct rec r0, r1, r2;
	struct vg g;
	uint64_t pt, pt2;
	struct viommu_vtd_stats st;

	vg_init(&g, &m->side, TABLES, DATA);
	pt = vg_page(&g);
	pt2 = vg_page(&g);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_context(&g, SID1, 1, pt, 1, VG_TT_SL, false);
	vg_context(&g, SID2, 2, pt2, 1, VG_TT_SL, false);
	vg_qi_enable(&g, 0);
	vg_te(&g, true);
	rec_init(&r0, VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	rec_init(&r1, VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	rec_init(&r2, VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r0.l), 0);
	T_EQ(viommu_vtd_listener_register(m->v, SID1, &r1.l), 0);
	T_EQ(viommu_vtd_listener_register(m->v, SID2, &r2.l), 0);
	for (unsigned i = 0; i < 8; i++)
		vg_map(&g, pt, 3, 0x100000 + i * 0x1000, DATA + i * 0x1000, VG_SZ_4K, VG_RW);
	st = stats(m);
	/* two touching PSIs and one apart, then a wait: per space one sync of [100000, 102fff], one of 107000 */
	vg_qi_put(&g, vg_iotlb_page(1), vg_iotlb_page_hi(0x100000, 1, false));
	vg_qi_put(&g, vg_iotlb_page(1), vg_iotlb_page_hi(0x102000, 0, false));
	vg_qi_put(&g, vg_iotlb_page(1), vg_iotlb_page_hi(0x107000, 0, false));
	T_OK(vg_qi_sync(&g, vg_iotlb_page(1), vg_iotlb_page_hi(0x101000, 0, false)));
	T_EQ(stats(m).syncs, st.syncs + 4);			/* 2 spaces of domain 1 x 2 ranges */
	T_EQ(stats(m).sync_bytes, st.sync_bytes + 2 * (0x3000 + 0x1000));
	T_EQ(r0.n, 2);		/* pages 0..2 are contiguous: one extent; pages 3..6 were not invalidated */
	T_OK(ev_is(&r0, 0, VIOMMU_IOMMU_EV_MAP, 0x100000, 0x102fff, DATA));
	T_OK(ev_is(&r0, 1, VIOMMU_IOMMU_EV_MAP, 0x107000, 0x107fff, DATA + 0x7000));
	T_EQ(r1.n, 2);
	T_EQ(r2.n, 0);
	/* a domain-selective one: the whole space of each in domain 1, once */
	st = stats(m);
	T_OK(vg_qi_sync(&g, vg_iotlb_domain(1), 0));
	T_EQ(stats(m).syncs, st.syncs + 2);
	/* global: every space */
	st = stats(m);
	T_OK(vg_qi_sync(&g, vg_iotlb_global(), 0));
	T_EQ(stats(m).syncs, st.syncs + 3);
	vg_model_free(m);
}

/* Device-TLB descriptors: one DEVIOTLB_UNMAP of the decoded range each. */
static void test_devtlb(void)
{
	struct vg_model *m = model(false, true);
	struct rec r;
	struct vg g;
	uint64_t pt;

	vg_init(&g, &m->side, TABLES, DATA);
	pt = vg_page(&g);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_DEVTLB, false);
	vg_qi_enable(&g, 0);
	vg_te(&g, true);
	rec_init(&r, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), 0);
	T_OK(vg_qi_sync(&g, vg_devtlb(SID0), 0x12345000));			/* S = 0: 4K */
	T_OK(vg_qi_sync(&g, vg_devtlb(SID0), 0x12340000 | 0x7000 | 1));	/* 64K */
	T_OK(vg_qi_sync(&g, vg_devtlb(SID0), 0x12340000 | 0x0000 | 1));	/* 8K */
	T_OK(vg_qi_sync(&g, vg_devtlb(SID0), UINT64_C(0x7ffffffffffff001)));	/* everything */
	T_OK(vg_qi_sync(&g, vg_devtlb(SID1), 0x1000));				/* another device */
	T_EQ(r.n, 4);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, 0x12345000, 0x12345fff, 0));
	T_OK(ev_is(&r, 1, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, 0x12340000, 0x1234ffff, 0));
	T_OK(ev_is(&r, 2, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, 0x12340000, 0x12341fff, 0));
	T_OK(ev_is(&r, 3, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, 0, UINT64_MAX, 0));
	T_EQ(stats(m).devtlb_invalidations, 5);
	vg_model_free(m);
}

/* A context change moves a device's space to the new tables; pass-through is the untranslated view. */
static void test_context_moves(void)
{
	struct vg_model *m = model(true, false);
	struct rec r;
	struct vg g;
	uint64_t pt, pt2;

	vg_init(&g, &m->side, TABLES, DATA);
	pt = vg_page(&g);
	pt2 = vg_page(&g);
	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(&g, pt2, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_qi_enable(&g, 0);
	vg_te(&g, true);
	rec_init(&r, VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	r.m = m;
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), 0);
	T_EQ(r.n, 1);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_MAP, 0x10000, 0x10fff, DATA));
	T_EQ(r.reentry, -EDEADLK);	/* a callback cannot translate: the unit's lock is held */
	r.n = 0;
	r.m = NULL;
	vg_context(&g, SID0, 2, pt2, 1, VG_TT_SL, false);
	T_EQ(r.n, 0);				/* not until the context cache is invalidated */
	T_OK(vg_qi_sync(&g, vg_cc_device(1, SID0, 0), 0));
	T_EQ(r.n, 1);
	T_OK(ev_is(&r, 0, VIOMMU_IOMMU_EV_CHANGE, 0x10000, 0x10fff, DATA));
	r.n = 0;
	vg_context(&g, SID0, 2, 0, 1, VG_TT_PT, false);
	T_OK(vg_qi_sync(&g, vg_cc_global(), 0));
	T_OK(r.n >= 2);
	vg_context_raw(&g, SID0, 0, 0);
	r.n = 0;
	T_OK(vg_qi_sync(&g, vg_cc_global(), 0));
	T_EQ(r.n, 4);				/* not present: all four extents go */
	for (size_t i = 0; i < r.n; i++)
		T_EQ(r.ev[i].kind, VIOMMU_IOMMU_EV_UNMAP);
	vg_model_free(m);
}

/*
 * Aliased tables: one page whose entries all point at itself describes
 * 512^3 leaves with 3 levels. A sync needing more than max_sync_reads is
 * refused (the view kept, counted), and one access never reads more than
 * 8 times that however many invalidations it carries.
 */
static void test_aliased_tables(void)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .caching_mode = true, .max_sync_reads = 1 << 16 };
	struct vg_model *m = vg_model_new(&o, RAM);
	struct viommu_vtd_xlat x;
	struct rec r;
	struct vg g;
	uint64_t t;

	if (!m)
		T_FATAL("model");
	vg_init(&g, &m->side, TABLES, DATA);
	t = vg_page(&g);
	for (unsigned i = 0; i < 512; i++)
		vg_w64(&m->side, t + i * 8, t | VG_RW);
	vg_root(&g);
	vg_context(&g, SID0, 1, t, 1, VG_TT_SL, false);
	vg_qi_enable(&g, 0);
	vg_te(&g, true);
	rec_init(&r, VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &r.l), 0);
	T_EQ(r.n, 0);
	T_EQ(stats(m).sync_errors, 1);
	/* a queue full of global invalidations and waits: each sync refused, the access bounded */
	for (unsigned i = 0; i < 100; i++) {
		vg_qi_put(&g, vg_iotlb_global(), 0);
		vg_qi_put_wait(&g, 0);
	}
	vg_qi_kick(&g);
	T_EQ(vg_r32(&m->side, g.status), g.seq);
	T_EQ(stats(m).sync_errors, 1 + 100);	/* refused at once when the access's budget is spent */
	T_EQ(r.n, 0);
	/* translation of such tables is one walk of three reads */
	T_EQ(viommu_vtd_translate(m->v, SID0, 0x12345678, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.out, t);
	vg_model_free(m);
}

/* ---- host backends --------------------------------------------------------- */

struct host_fix {
	struct viommu_memory *mem;
	struct viommu_as *sys;
	struct vg_model *m;
	struct viommu_host *h[3];
	unsigned reports;
};

static void on_host_report(void *ctx, const struct viommu_vtd_host_report *r)
{
	((struct host_fix *)ctx)->reports++;
}

static void host_setup(struct host_fix *f, bool cm)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho) };
	struct viommu_vtd_opts o = { .sz = sizeof(o), .caching_mode = cm };
	struct viommu_mr *root, *ram;

	memset(f, 0, sizeof(*f));
	f->mem = viommu_memory_new();
	root = viommu_mr_new_container(f->mem, "system", 0);
	ram = viommu_mr_new_ram(f->mem, "ram", RAM, (void *)(uintptr_t)HOSTVA);
	if (!f->mem || !root || !ram || viommu_mr_add_subregion(root, 0, ram, 0))
		T_FATAL("memory");
	f->sys = viommu_as_new(f->mem, "memory", root);
	o.memory = f->mem;
	o.sys = f->sys;
	f->m = vg_model_new(&o, RAM);
	for (int i = 0; i < 3; i++)
		f->h[i] = viommu_host_sim_new(&ho);
	if (!f->sys || !f->m || !f->h[0] || !f->h[1] || !f->h[2])
		T_FATAL("setup: sys %p model %p errno %d", (void *)f->sys, (void *)f->m, errno);
}

static void host_teardown(struct host_fix *f)
{
	vg_model_free(f->m);
	for (int i = 0; i < 3; i++)
		viommu_host_free(f->h[i]);
	viommu_memory_free(f->mem);
}

static struct viommu_vtd_host_stats hstats(struct host_fix *f, int i)
{
	struct viommu_vtd_host_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_host_get_stats(f->m->v, f->h[i], &st), 0);
	return st;
}

/* Does backend @i translate @iova to RAM at @gpa? */
static bool host_maps(struct host_fix *f, int i, uint64_t iova, uint64_t gpa)
{
	uint64_t va = 0;
	unsigned prot = 0;

	return viommu_host_sim_translate(f->h[i], iova, &va, &prot) == 0 && va == HOSTVA + gpa;
}

static void test_host(void)
{
	struct viommu_vtd_host_opts ho = { .sz = sizeof(ho), .report = on_host_report };
	struct host_fix f;
	struct vg g;
	uint64_t pt, pt2;

	host_setup(&f, false);
	T_EQ(viommu_vtd_host_attach(f.m->v, SID0, f.h[0], NULL), -EINVAL);	/* no caching mode */
	host_teardown(&f);
	struct vg_model *plain = model(true, false);

	T_EQ(viommu_vtd_host_attach(plain->v, SID0, (struct viommu_host *)(uintptr_t)8, NULL), -EINVAL);
	vg_model_free(plain);

	host_setup(&f, true);
	ho.report_ctx = &f;
	vg_init(&g, &f.m->side, TABLES, DATA);
	pt = vg_page(&g);
	pt2 = vg_page(&g);
	for (unsigned i = 0; i < 16; i++)
		vg_map(&g, pt, 3, 0x100000 + i * 0x1000, DATA + i * 0x2000, VG_SZ_4K, VG_RW);
	vg_map(&g, pt2, 3, 0x100000, DATA + 0x100000, VG_SZ_4K, VG_RW);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_context(&g, SID1, 1, pt, 1, VG_TT_SL, false);
	vg_context(&g, SID2, 2, pt2, 1, VG_TT_SL, false);
	vg_qi_enable(&g, 0);
	vg_te(&g, true);
	/* two devices of one domain behind one backend: one set of mappings */
	T_EQ(viommu_vtd_host_attach(f.m->v, SID0, f.h[0], &ho), 0);
	T_EQ(viommu_vtd_host_attach(f.m->v, SID1, f.h[0], &ho), 0);
	T_EQ(viommu_vtd_host_attach(f.m->v, SID0, f.h[0], &ho), -EEXIST);
	T_EQ(hstats(&f, 0).links, 1);
	T_EQ(hstats(&f, 0).mappings, 16);
	T_EQ(hstats(&f, 0).errors, 0);
	T_EQ(viommu_host_sim_mappings(f.h[0], NULL, NULL), 16);
	for (unsigned i = 0; i < 16; i++)
		T_OK(host_maps(&f, 0, 0x100000 + i * 0x1000, DATA + i * 0x2000));
	/* SID1 on its own backend too, and SID2 in domain 2 on a third */
	T_EQ(viommu_vtd_host_attach(f.m->v, SID1, f.h[1], &ho), 0);
	T_EQ(viommu_vtd_host_attach(f.m->v, SID2, f.h[2], &ho), 0);
	T_EQ(hstats(&f, 1).mappings, 16);
	T_EQ(hstats(&f, 2).mappings, 1);
	T_OK(host_maps(&f, 2, 0x100000, DATA + 0x100000));
	/* a guest change reaches every backend of the domain once */
	vg_map(&g, pt, 3, 0x100000, DATA + 0x80000, VG_SZ_4K, VG_RW);
	psi(&g, 1, 0x100000, 0);
	T_OK(host_maps(&f, 0, 0x100000, DATA + 0x80000));
	T_OK(host_maps(&f, 1, 0x100000, DATA + 0x80000));
	T_EQ(viommu_host_sim_mappings(f.h[0], NULL, NULL), 16);
	/* SID1 leaves h[0] (SID0 keeps it), then moves to domain 2: h[1] follows */
	T_EQ(viommu_vtd_host_detach(f.m->v, SID1, f.h[0]), 0);
	T_EQ(viommu_host_sim_mappings(f.h[0], NULL, NULL), 16);
	vg_context(&g, SID1, 2, pt2, 1, VG_TT_SL, false);
	T_OK(vg_qi_sync(&g, vg_cc_device(1, SID1, 0), 0));
	T_EQ(viommu_host_sim_mappings(f.h[1], NULL, NULL), 1);
	T_OK(host_maps(&f, 1, 0x100000, DATA + 0x100000));
	T_EQ(viommu_host_sim_mappings(f.h[0], NULL, NULL), 16);
	T_EQ(hstats(&f, 0).links, 1);
	T_EQ(f.reports, 0);
	/* devices of two domains on one backend: two sets in one IOVA space; the overlap is refused, reported */
	T_EQ(viommu_vtd_host_attach(f.m->v, SID2, f.h[0], &ho), 0);
	T_EQ(hstats(&f, 0).links, 2);
	T_EQ(hstats(&f, 0).errors, 1);
	T_EQ(f.reports, 1);
	T_OK(host_maps(&f, 0, 0x100000, DATA + 0x80000));
	T_EQ(viommu_vtd_host_detach(f.m->v, SID2, f.h[0]), 0);
	/* detach: the last device of a set takes its mappings out */
	T_EQ(viommu_vtd_host_detach(f.m->v, SID0, f.h[0]), 0);
	T_EQ(viommu_vtd_host_detach(f.m->v, SID0, f.h[0]), -ENOENT);
	T_EQ(viommu_vtd_host_detach(f.m->v, SID2, f.h[2]), 0);
	T_EQ(viommu_host_sim_mappings(f.h[2], NULL, NULL), 0);
	T_EQ(viommu_vtd_host_get_stats(f.m->v, f.h[2], &(struct viommu_vtd_host_stats){ .sz = 64 }), -ENOENT);
	host_teardown(&f);
}

int main(void)
{
	test_refusals();
	test_events();
	test_coalescing();
	test_devtlb();
	test_context_moves();
	test_aliased_tables();
	test_host();
	return t_done();
}
