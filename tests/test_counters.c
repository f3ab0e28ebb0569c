// SPDX-License-Identifier: MIT
/*
 * Counters and options no other test set or asserted (tests/mutate/fields.sh
 * listed them; issue 17 §8: "every option and every report field a test
 * never sets is a place where a bug can live unseen"), each driven to a known
 * value and asserted exactly:
 *  - viommu_iommu_stats.deviotlb_unmaps and .pieces: one device-TLB
 *    invalidation delivered whole to an arbitrary-range listener, as its
 *    minimal power-of-two cover to a pow2 one, cropped for a ranged one;
 *  - viommu_vtd_stats.context_fills, .completion_events, .full_syncs,
 *    .iec_invalidations and the iec callback, viommu_vtd_opts.iotlb_entries:
 *    a guest driver (tests/vtd_guest.h) doing what Linux's intel-iommu does,
 *    with the counts the VT-d spec implies (rev. 4.1 §6.2.1 context cache,
 *    §6.5.2.7 interrupt entry cache invalidate descriptor, §6.5.2.8 and
 *    §10.4.24 invalidation wait completion and ICS.IWC);
 *  - viommu_virtio_iommu_stats.endpoints and .host_unmap_ops.
 */
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/virtio_iommu.h>

#include "iommu_model.h"
#include "virtio_iommu_model.h"
#include "vtd_guest.h"

#define RAM (UINT64_C(64) << 20)
#define TABLES UINT64_C(0x100000)
#define DATA UINT64_C(0x2000000)
#define SID0 0x0018

/* ---- IOMMU address spaces: device-TLB invalidations ---------------------- */

static struct guest g_guest;

static void test_iommu_deviotlb(void)
{
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g_guest };
	struct viommu_iommu_as *ias;
	struct viommu_iommu_stats st = { .sz = sizeof(st) };
	static struct rec arb, pow2, part, maps;

	g_guest.leaves = viommu_rangemap_new();
	ias = viommu_iommu_as_new(&o);
	if (!g_guest.leaves || !ias)
		T_FATAL("setup");
	rec_init(&arb, 0, UINT64_MAX, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, VIOMMU_IOMMU_CAP_ARBITRARY);
	rec_init(&pow2, 0, UINT64_MAX, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, 0);
	rec_init(&part, 0x100000, 0x1fffff, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, VIOMMU_IOMMU_CAP_ARBITRARY);
	rec_init(&maps, 0, UINT64_MAX, VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP, VIOMMU_IOMMU_CAP_ARBITRARY);
	T_EQ(viommu_iommu_listener_register(ias, &arb.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &pow2.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &part.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &maps.l), 0);

	T_EQ(viommu_iommu_deviotlb_unmap(ias, 0x1000, 0x2fffff), 0);
	T_STREQ(arb.log, "D 1000-2fffff>0/0;");
	/* the minimal cover of [0x1000, 0x2fffff]: 10 blocks (QEMU's dma_aligned_pow2_mask) */
	T_STREQ(pow2.log, "D 1000-1fff>0/0;D 2000-3fff>0/0;D 4000-7fff>0/0;D 8000-ffff>0/0;D 10000-1ffff>0/0;"
			  "D 20000-3ffff>0/0;D 40000-7ffff>0/0;D 80000-fffff>0/0;D 100000-1fffff>0/0;"
			  "D 200000-2fffff>0/0;");
	T_STREQ(part.log, "D 100000-1fffff>0/0;");
	T_STREQ(maps.log, "");
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	T_EQ_U64(st.deviotlb_unmaps, 1 + 10 + 1);	/* events delivered, after lowering */
	T_EQ_U64(st.pieces, 10);
	T_EQ_U64(st.maps, 0);
	T_EQ_U64(st.unmaps, 0);
	T_EQ_U64(st.changes, 0);
	T_EQ_U64(st.syncs, 0);

	/* A shadow change counts as a map, never as a device-TLB invalidation. */
	guest_map(&g_guest, 0x400000, 0x1000, 0x80000000, VIOMMU_PERM_RW);
	T_EQ(viommu_iommu_sync(ias, 0x400000, 0x400fff), 1);
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	T_EQ_U64(st.maps, 1);
	T_EQ_U64(st.deviotlb_unmaps, 12);
	T_EQ_U64(st.pieces, 10);
	viommu_iommu_as_free(ias);
	viommu_rangemap_free(g_guest.leaves);
}

/* ---- VT-d --------------------------------------------------------------- */

static struct viommu_vtd_stats vtd_stats(struct vg_model *m)
{
	struct viommu_vtd_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	return st;
}

/* Root, SID0 in domain 1 with 3-level tables mapping two 4K pages, QI on, TE on. */
static void vtd_setup(struct vg *g, struct vg_model *m)
{
	uint64_t pt;

	vg_init(g, &m->side, TABLES, DATA);
	pt = vg_page(g);
	vg_root(g);
	vg_context(g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt, 3, 0x20000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	vg_qi_enable(g, 0);
	vg_te(g, true);
}

static int xl(struct vg_model *m, uint64_t iova)
{
	struct viommu_vtd_xlat x;

	return viommu_vtd_translate(m->v, SID0, iova, VIOMMU_PERM_READ, 0, &x);
}

/* A context is read from the guest once, until the guest invalidates the context cache. */
static void test_vtd_context_fills(void)
{
	struct vg_model *m = vg_model_new(NULL, RAM);
	struct vg g;

	if (!m)
		T_FATAL("model");
	vtd_setup(&g, m);
	T_EQ_U64(vtd_stats(m).context_fills, 0);
	T_EQ(xl(m, 0x10000), 0);
	T_EQ_U64(vtd_stats(m).context_fills, 1);
	T_EQ(xl(m, 0x20000), 0);	/* another page, same context: cached */
	T_EQ_U64(vtd_stats(m).context_fills, 1);
	T_OK(vg_flush_all(&g));		/* global context-cache and IOTLB invalidation */
	T_EQ(xl(m, 0x10000), 0);
	T_EQ_U64(vtd_stats(m).context_fills, 2);
	/* A blocked context (no entry for the requester) is never cached. */
	struct viommu_vtd_xlat x;

	T_EQ(viommu_vtd_translate(m->v, 0x0100, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ_U64(vtd_stats(m).context_fills, 2);
	vg_model_free(m);
}

/* IOTLB capacity: with one entry, a page translated before another is walked again. */
static void test_vtd_iotlb_entries(void)
{
	for (int cap = 0; cap < 2; cap++) {
		struct viommu_vtd_opts o = { .sz = sizeof(o), .iotlb_entries = cap ? 1 : 0 };
		struct vg_model *m = vg_model_new(&o, RAM);
		struct vg g;

		if (!m)
			T_FATAL("model");
		vtd_setup(&g, m);
		T_EQ(xl(m, 0x10000), 0);
		T_EQ(xl(m, 0x20000), 0);
		T_EQ(xl(m, 0x10000), 0);
		struct viommu_vtd_stats st = vtd_stats(m);

		T_EQ_U64(st.walks, cap ? 3 : 2);
		T_EQ_U64(st.iotlb_hits, cap ? 0 : 1);
		vg_model_free(m);
	}
	/* and a capacity the IOTLB refuses is refused by the unit */
	struct viommu_vtd_opts bad = { .sz = sizeof(bad), .iotlb_entries = (size_t)1 << 29 };

	T_OK(vg_model_new(&bad, RAM) == NULL);
}

/* Wait descriptors with IF raise one completion event until the guest clears ICS.IWC. */
static void test_vtd_completion_events(void)
{
	struct vg_model *m = vg_model_new(NULL, RAM);
	struct vg g;
	uint32_t want;

	if (!m)
		T_FATAL("model");
	vtd_setup(&g, m);
	want = vg_qi_put_wait(&g, 0);		/* no IF: no event */
	vg_qi_kick(&g);
	T_EQ(vg_r32(&m->side, g.status), want);
	T_EQ_U64(vtd_stats(m).completion_events, 0);
	vg_qi_put_wait(&g, 0x10);		/* IF */
	vg_qi_kick(&g);
	T_EQ_U64(vtd_stats(m).completion_events, 1);
	T_EQ(vg_rd32(&m->side, VIOMMU_VTD_REG_ICS) & 1, 1);	/* IWC */
	vg_qi_put_wait(&g, 0x10);		/* IWC still set: no new event */
	vg_qi_kick(&g);
	T_EQ_U64(vtd_stats(m).completion_events, 1);
	vg_wr32(&m->side, VIOMMU_VTD_REG_ICS, 1);	/* RW1C */
	T_EQ(vg_rd32(&m->side, VIOMMU_VTD_REG_ICS) & 1, 0);
	vg_qi_put_wait(&g, 0x10);
	vg_qi_kick(&g);
	T_EQ_U64(vtd_stats(m).completion_events, 2);
	T_EQ_U64(vtd_stats(m).waits, 4);
	vg_model_free(m);
}

static unsigned g_iec_n;
static char g_iec[256];

static void on_iec(void *ctx, bool global, uint32_t index, unsigned index_mask)
{
	size_t l = strlen(g_iec);

	(void)ctx;
	g_iec_n++;
	snprintf(g_iec + l, sizeof(g_iec) - l, "%s %#x/%u;", global ? "global" : "index", index, index_mask);
}

/* Interrupt entry cache invalidations reach the VMM's iec callback with the descriptor's fields. */
static void test_vtd_iec(void)
{
	struct vg_model *m = vg_model_new(NULL, RAM);
	struct viommu_vtd_opts o = { .sz = sizeof(o) };
	struct vg g;

	if (!m)
		T_FATAL("model");
	vtd_setup(&g, m);
	/* without a callback: counted, nothing else */
	T_OK(vg_qi_sync(&g, 4, 0));
	T_EQ_U64(vtd_stats(m).iec_invalidations, 1);
	vg_model_free(m);

	o.iec = on_iec;
	m = vg_model_new(&o, RAM);
	if (!m)
		T_FATAL("model");
	vtd_setup(&g, m);
	T_OK(vg_qi_sync(&g, 4, 0));					/* global */
	T_OK(vg_qi_sync(&g, UINT64_C(0x123) << 32 | 2u << 27 | 0x10 | 4, 0));	/* index 0x123, IM 2 */
	T_EQ(g_iec_n, 2);
	T_STREQ(g_iec, "global 0/0;index 0x123/2;");
	T_EQ_U64(vtd_stats(m).iec_invalidations, 2);
	/* reserved bits: a queue error, no callback, not counted */
	T_OK(!vg_qi_sync(&g, 4, 1));
	T_EQ(g_iec_n, 2);
	T_EQ_U64(vtd_stats(m).iec_invalidations, 2);
	T_EQ_U64(vtd_stats(m).queue_errors, 1);
	vg_model_free(m);

	/* without ECAP.IR the descriptor is an error */
	o.no_intremap = true;
	m = vg_model_new(&o, RAM);
	if (!m)
		T_FATAL("model");
	vtd_setup(&g, m);
	T_OK(!vg_qi_sync(&g, 4, 0));
	T_EQ(g_iec_n, 2);
	T_EQ_U64(vtd_stats(m).iec_invalidations, 0);
	T_EQ_U64(vtd_stats(m).queue_errors, 1);
	vg_model_free(m);
}

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	(void)l;
	(void)ev;
}

/* Syncs over the whole space: domain and global invalidations; a page-selective one covers its range. */
static void test_vtd_full_syncs(void)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .caching_mode = true };
	struct vg_model *m = vg_model_new(&o, RAM);
	struct viommu_iommu_listener l = { .sz = sizeof(l), .first = 0, .last = UINT64_MAX,
					   .kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP,
					   .caps = VIOMMU_IOMMU_CAP_ARBITRARY, .notify = on_event };
	struct viommu_vtd_stats a, b;
	struct vg g;

	if (!m)
		T_FATAL("model");
	vtd_setup(&g, m);
	T_EQ(viommu_vtd_listener_register(m->v, SID0, &l), 0);
	a = vtd_stats(m);
	T_OK(vg_qi_sync(&g, vg_iotlb_page(1), vg_iotlb_page_hi(0x10000, 0, false)));	/* one 4K page */
	b = vtd_stats(m);
	T_EQ_U64(b.syncs - a.syncs, 1);
	T_EQ_U64(b.full_syncs - a.full_syncs, 0);
	T_EQ_U64(b.sync_bytes - a.sync_bytes, 0x1000);
	T_OK(vg_qi_sync(&g, vg_iotlb_domain(1), 0));
	a = vtd_stats(m);
	T_EQ_U64(a.syncs - b.syncs, 1);
	T_EQ_U64(a.full_syncs - b.full_syncs, 1);
	T_EQ_U64(a.sync_bytes, b.sync_bytes);
	T_OK(vg_qi_sync(&g, vg_iotlb_domain(2), 0));	/* another domain: SID0 is not synced */
	b = vtd_stats(m);
	T_EQ_U64(b.syncs, a.syncs);
	T_OK(vg_qi_sync(&g, vg_iotlb_global(), 0));
	a = vtd_stats(m);
	T_EQ_U64(a.syncs - b.syncs, 1);
	T_EQ_U64(a.full_syncs - b.full_syncs, 1);
	T_EQ(viommu_vtd_listener_unregister(m->v, SID0, &l), 0);
	vg_model_free(m);
}

/* ---- virtio-iommu ------------------------------------------------------- */

static int vq_rq(struct viommu_virtio_iommu *d, const uint8_t *b, size_t n)
{
	uint8_t tail[4];
	uint32_t used;
	struct iovec rd = { (void *)b, n }, wr = { tail, 4 };

	return viommu_virtio_iommu_handle_request(d, &rd, 1, &wr, 1, &used);
}

static struct viommu_virtio_iommu_stats vio_stats(struct viommu_virtio_iommu *d)
{
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	return st;
}

/* Endpoints counted as added and removed; host unmaps counted per backend call. */
static void test_virtio_counts(void)
{
	struct viommu_memory *mem = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(mem, "system", 0);
	struct viommu_mr *ram = viommu_mr_new_ram(mem, "ram", 64 << 20, (void *)(uintptr_t)0x100000000000ull);
	struct viommu_as *sys;
	struct viommu_host *h = viommu_host_sim_new(NULL), *h2 = viommu_host_sim_new(NULL);
	struct viommu_virtio_iommu *d;
	uint8_t b[64];

	if (!root || !ram || !h || !h2 || viommu_mr_add_subregion(root, 0, ram, 0))
		T_FATAL("setup");
	sys = viommu_as_new(mem, "memory", root);
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .memory = mem, .sys = sys };
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .backend = h };
	struct viommu_virtio_iommu_endpoint_opts eo2 = { .sz = sizeof(eo2), .backend = h2 };

	d = viommu_virtio_iommu_new(&o);
	if (!sys || !d)
		T_FATAL("device");
	T_EQ_U64(vio_stats(d).endpoints, 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, &eo), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x20, &eo2), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x28, NULL), 0);	/* emulated: no backend */
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), -EEXIST);
	T_EQ_U64(vio_stats(d).endpoints, 3);
	T_EQ(vq_rq(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 0x18, 0, 0)), VIOMMU_VIRTIO_IOMMU_S_OK);
	T_EQ(vq_rq(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 0x20, 0, 0)), VIOMMU_VIRTIO_IOMMU_S_OK);
	T_EQ(vq_rq(d, b, enc_map(b, 1, 0x10000, 0x1ffff, 0x200000, VIOMMU_VIRTIO_IOMMU_MAP_F_READ)),
	     VIOMMU_VIRTIO_IOMMU_S_OK);
	T_EQ(vq_rq(d, b, enc_map(b, 1, 0x40000, 0x40fff, 0x400000, VIOMMU_VIRTIO_IOMMU_MAP_F_READ)),
	     VIOMMU_VIRTIO_IOMMU_S_OK);
	struct viommu_virtio_iommu_stats st = vio_stats(d);

	T_EQ_U64(st.host_map_ops, 4);		/* two mappings, two backends */
	T_EQ_U64(st.host_unmap_ops, 0);
	T_EQ_U64(st.host_mappings, 4);
	/* one UNMAP request over both mappings: one host unmap per mapping and backend */
	T_EQ(vq_rq(d, b, enc_unmap(b, 1, 0, 0xfffff)), VIOMMU_VIRTIO_IOMMU_S_OK);
	st = vio_stats(d);
	T_EQ_U64(st.host_unmap_ops, 4);
	T_EQ_U64(st.host_map_ops, 4);
	T_EQ_U64(st.host_mappings, 0);
	T_EQ(viommu_host_sim_mappings(h, NULL, NULL), 0);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 0);
	T_EQ(viommu_virtio_iommu_remove_endpoint(d, 0x28), 0);
	T_EQ_U64(vio_stats(d).endpoints, 2);
	T_EQ(viommu_virtio_iommu_remove_endpoint(d, 0x28), -ENOENT);
	T_EQ_U64(vio_stats(d).endpoints, 2);
	viommu_virtio_iommu_free(d);
	viommu_host_free(h);
	viommu_host_free(h2);
	viommu_memory_free(mem);
}

int main(void)
{
	test_iommu_deviotlb();
	test_vtd_context_fills();
	test_vtd_iotlb_entries();
	test_vtd_completion_events();
	test_vtd_iec();
	test_vtd_full_syncs();
	test_virtio_counts();
	return t_done();
}
