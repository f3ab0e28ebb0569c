/* SPDX-License-Identifier: MIT */
/*
 * A small VT-d guest driver for the tests, written once against an abstract
 * "side" (a remapping unit with guest memory and edu-like DMA engines), so
 * the same guest program runs on viommu's model (vg_model_side, here) and on
 * QEMU's intel-iommu over qtest (tests/qtest/vtd_qemu.h).
 *
 * The driver is what a guest kernel does (Linux drivers/iommu/intel/
 * dmar.c, iommu.c): allocate root, context and second-stage tables in guest
 * memory, point RTADDR at the root table, enable translation, program the
 * invalidation queue and submit descriptors followed by a wait descriptor
 * whose status write says they completed. Everything it writes is a guest
 * memory write or an MMIO access of the side; it keeps no state the unit
 * could see otherwise.
 *
 * Header-only, like tests/test.h.
 */
#ifndef VIOMMU_TESTS_VTD_GUEST_H
#define VIOMMU_TESTS_VTD_GUEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/vtd.h>

/* ---- the side ---------------------------------------------------------- */

/* edu-like DMA engines: device i has requester id vg_dev_sid[i] and a 4 KiB buffer. */
#define VG_NDEV 3
static const uint16_t vg_dev_sid[VG_NDEV] = { 0x0018, 0x0019, 0x0020 };	/* 00:03.0, 00:03.1, 00:04.0 */
#define VG_BUF 4096

struct vg_side {
	const char *name;
	uint64_t (*rd)(struct vg_side *s, unsigned off, unsigned size);
	void (*wr)(struct vg_side *s, unsigned off, unsigned size, uint64_t val);
	void (*mw)(struct vg_side *s, uint64_t gpa, const void *buf, size_t len);
	void (*mr)(struct vg_side *s, uint64_t gpa, void *buf, size_t len);
	/* DMA of @len bytes between device @dev's buffer at @off and @iova (to_ram: buffer -> iova). */
	void (*dma)(struct vg_side *s, unsigned dev, bool to_ram, uint64_t iova, unsigned off, unsigned len);
	bool broken;		/* the side failed (QEMU gone): every case on it fails */
};

static inline uint32_t vg_rd32(struct vg_side *s, unsigned off) { return (uint32_t)s->rd(s, off, 4); }
static inline uint64_t vg_rd64(struct vg_side *s, unsigned off) { return s->rd(s, off, 8); }
static inline void vg_wr32(struct vg_side *s, unsigned off, uint32_t v) { s->wr(s, off, 4, v); }
static inline void vg_wr64(struct vg_side *s, unsigned off, uint64_t v) { s->wr(s, off, 8, v); }

static inline void vg_w64(struct vg_side *s, uint64_t gpa, uint64_t v) { s->mw(s, gpa, &v, 8); }
static inline uint64_t vg_r64(struct vg_side *s, uint64_t gpa)
{
	uint64_t v = 0;

	s->mr(s, gpa, &v, 8);
	return v;
}
static inline uint32_t vg_r32(struct vg_side *s, uint64_t gpa)
{
	uint32_t v = 0;

	s->mr(s, gpa, &v, 4);
	return v;
}

/* ---- the model side ---------------------------------------------------- */

/*
 * viommu's unit over a flat guest RAM of ram_size bytes at GPA 0 (reads and
 * writes beyond it fail, as unassigned space does on q35) and VG_NDEV edu
 * buffers. MSIs and window interrupts are counted.
 */
struct vg_model {
	struct vg_side side;
	struct viommu_vtd *v;
	unsigned char *ram;
	uint64_t ram_size;
	unsigned char buf[VG_NDEV][VG_BUF];
	unsigned msis, interrupts;
	uint64_t last_msi_addr;
	uint32_t last_msi_data;
	uint64_t last_irq_addr;
	uint32_t last_irq_data;
	uint16_t last_irq_sid;
};

static inline int vg_model_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct vg_model *m = ctx;

	if (gpa >= m->ram_size || len > m->ram_size - gpa)
		return -EFAULT;
	memcpy(buf, m->ram + gpa, len);
	return 0;
}

static inline int vg_model_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct vg_model *m = ctx;

	if (gpa >= m->ram_size || len > m->ram_size - gpa)
		return -EFAULT;
	memcpy(m->ram + gpa, buf, len);
	return 0;
}

static inline void vg_model_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct vg_model *m = ctx;

	m->msis++;
	m->last_msi_addr = addr;
	m->last_msi_data = data;
}

static inline void vg_model_irq(void *ctx, uint16_t sid, uint64_t addr, uint32_t data)
{
	struct vg_model *m = ctx;

	m->interrupts++;
	m->last_irq_sid = sid;
	m->last_irq_addr = addr;
	m->last_irq_data = data;
}

static inline struct vg_model *vg_model_of(struct vg_side *s)
{
	return (struct vg_model *)(void *)s;
}

static inline uint64_t vg_model_rd(struct vg_side *s, unsigned off, unsigned size)
{
	uint64_t v = 0;

	if (viommu_vtd_mmio_read(vg_model_of(s)->v, off, size, &v))
		s->broken = true;
	return v;
}

static inline void vg_model_wr(struct vg_side *s, unsigned off, unsigned size, uint64_t val)
{
	if (viommu_vtd_mmio_write(vg_model_of(s)->v, off, size, val))
		s->broken = true;
}

static inline void vg_model_mw(struct vg_side *s, uint64_t gpa, const void *buf, size_t len)
{
	if (vg_model_write(vg_model_of(s), gpa, buf, len))
		s->broken = true;
}

static inline void vg_model_mr(struct vg_side *s, uint64_t gpa, void *buf, size_t len)
{
	if (vg_model_read(vg_model_of(s), gpa, buf, len))
		s->broken = true;
}

static inline void vg_model_dma(struct vg_side *s, unsigned dev, bool to_ram, uint64_t iova, unsigned off,
				unsigned len)
{
	struct vg_model *m = vg_model_of(s);

	if (dev >= VG_NDEV || off > VG_BUF || len > VG_BUF - off ||
	    viommu_vtd_dma(m->v, vg_dev_sid[dev], iova, m->buf[dev] + off, len, to_ram) < 0)
		s->broken = true;
}

/* A model side with @o's unit options (callbacks and ctx are filled in). NULL on failure. */
static inline struct vg_model *vg_model_new(const struct viommu_vtd_opts *o, uint64_t ram_size)
{
	struct vg_model *m = calloc(1, sizeof(*m));
	struct viommu_vtd_opts oo;

	if (!m)
		return NULL;
	memset(&oo, 0, sizeof(oo));
	if (o)
		oo = *o;
	oo.sz = sizeof(oo);
	oo.read = vg_model_read;
	oo.write = vg_model_write;
	oo.msi = vg_model_msi;
	oo.interrupt = vg_model_irq;
	oo.ctx = m;
	m->ram_size = ram_size;
	m->ram = calloc(1, ram_size);
	m->v = m->ram ? viommu_vtd_new(&oo) : NULL;
	if (!m->v) {
		free(m->ram);
		free(m);
		return NULL;
	}
	m->side.name = "viommu";
	m->side.rd = vg_model_rd;
	m->side.wr = vg_model_wr;
	m->side.mw = vg_model_mw;
	m->side.mr = vg_model_mr;
	m->side.dma = vg_model_dma;
	return m;
}

static inline void vg_model_free(struct vg_model *m)
{
	if (!m)
		return;
	viommu_vtd_free(m->v);
	free(m->ram);
	free(m);
}

/* ---- the guest driver -------------------------------------------------- */

/* Second-stage entry bits (spec 9.8). */
#define VG_R	UINT64_C(0x1)
#define VG_W	UINT64_C(0x2)
#define VG_RW	UINT64_C(0x3)
#define VG_PS	UINT64_C(0x80)
#define VG_SNP	UINT64_C(0x800)

#define VG_SZ_4K UINT64_C(0x1000)
#define VG_SZ_2M UINT64_C(0x200000)
#define VG_SZ_1G UINT64_C(0x40000000)

/* Context entry translation types. */
#define VG_TT_SL	0
#define VG_TT_DEVTLB	1
#define VG_TT_PT	2

struct vg {
	struct vg_side *s;
	uint64_t next;		/* bump allocator of zeroed guest pages */
	uint64_t limit;
	uint64_t root;		/* root table, 0 until vg_root() */
	uint64_t ctxt[256];	/* context table per bus */
	uint64_t iq;		/* invalidation queue */
	unsigned iq_n, tail;	/* entries, next tail index */
	uint64_t status;	/* wait descriptors' status word */
	uint32_t seq;		/* last status value asked for */
	uint32_t gsts;		/* persistent GCMD bits as last commanded (TE, QIE, IRE) */
};

/* A driver allocating pages from [base, limit) (both sides' RAM is zero at start). */
static inline void vg_init(struct vg *g, struct vg_side *s, uint64_t base, uint64_t limit)
{
	memset(g, 0, sizeof(*g));
	g->s = s;
	g->next = base;
	g->limit = limit;
}

static inline uint64_t vg_page(struct vg *g)
{
	uint64_t p = g->next;

	if (p + 0x1000 > g->limit)
		return 0;
	g->next += 0x1000;
	return p;
}

/* GCMD with the persistent bits preserved (Linux iommu_enable_translation & co). */
static inline void vg_gcmd(struct vg *g, uint32_t oneshot)
{
	vg_wr32(g->s, VIOMMU_VTD_REG_GCMD, g->gsts | oneshot);
}

static inline void vg_te(struct vg *g, bool on)
{
	g->gsts = on ? g->gsts | (1u << 31) : g->gsts & ~(1u << 31);
	vg_gcmd(g, 0);
}

/* Allocate the root table (if needed), program RTADDR and SRTP. */
static inline void vg_root(struct vg *g)
{
	if (!g->root)
		g->root = vg_page(g);
	vg_wr64(g->s, VIOMMU_VTD_REG_RTADDR, g->root);
	vg_gcmd(g, 1u << 30);
}

/* The context entry's address for @sid, creating its bus's context table and root entry. */
static inline uint64_t vg_ctx_addr(struct vg *g, uint16_t sid)
{
	unsigned bus = sid >> 8;

	if (!g->ctxt[bus]) {
		g->ctxt[bus] = vg_page(g);
		vg_w64(g->s, g->root + bus * 16, g->ctxt[bus] | 1);
	}
	return g->ctxt[bus] + (sid & 0xff) * 16;
}

/* Write @sid's legacy context entry: present, @did, tables at @slpt, AW @aw (1: 39-bit), TT @tt. */
static inline void vg_context(struct vg *g, uint16_t sid, uint16_t did, uint64_t slpt, unsigned aw, unsigned tt,
			      bool fpd)
{
	uint64_t a = vg_ctx_addr(g, sid);

	vg_w64(g->s, a + 8, (uint64_t)did << 8 | aw);
	vg_w64(g->s, a, slpt | (uint64_t)tt << 2 | (fpd ? 2 : 0) | 1);
}

static inline void vg_context_raw(struct vg *g, uint16_t sid, uint64_t lo, uint64_t hi)
{
	uint64_t a = vg_ctx_addr(g, sid);

	vg_w64(g->s, a + 8, hi);
	vg_w64(g->s, a, lo);
}

/*
 * The entry address for @iova at @level (1 = 4K leaf level) in the tables
 * rooted at @root with @levels levels, creating intermediate tables (RW).
 */
static inline uint64_t vg_pte_addr(struct vg *g, uint64_t root, unsigned levels, uint64_t iova, unsigned level)
{
	uint64_t table = root;

	for (unsigned l = levels; l > level; l--) {
		uint64_t a = table + ((iova >> (12 + 9 * (l - 1))) & 511) * 8;
		uint64_t e = vg_r64(g->s, a);

		if (!(e & 3) || (e & VG_PS)) {
			uint64_t t = vg_page(g);

			e = t | VG_RW;
			vg_w64(g->s, a, e);
		}
		table = e & UINT64_C(0x000ffffffffff000);
	}
	return table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
}

/* Map one leaf of @size (4K, 2M, 1G) with entry bits @bits (R/W/SNP/...). */
static inline void vg_map(struct vg *g, uint64_t root, unsigned levels, uint64_t iova, uint64_t gpa, uint64_t size,
			  uint64_t bits)
{
	unsigned level = size == VG_SZ_1G ? 3 : size == VG_SZ_2M ? 2 : 1;

	vg_w64(g->s, vg_pte_addr(g, root, levels, iova, level), gpa | bits | (level > 1 ? VG_PS : 0));
}

/* ---- queued invalidation ---- */

static inline void vg_qi_enable(struct vg *g, unsigned qs)
{
	g->iq_n = 256u << qs;
	if (!g->iq) {
		g->iq = g->next;
		g->next += (uint64_t)g->iq_n * 16;
		g->next = (g->next + 0xfff) & ~UINT64_C(0xfff);
	}
	if (!g->status)
		g->status = vg_page(g);
	g->tail = 0;
	vg_wr64(g->s, VIOMMU_VTD_REG_IQT, 0);
	vg_wr64(g->s, VIOMMU_VTD_REG_IQA, g->iq | qs);
	g->gsts |= 1u << 26;
	vg_gcmd(g, 0);
}

/* Write a descriptor at the tail without telling the unit. */
static inline void vg_qi_put(struct vg *g, uint64_t lo, uint64_t hi)
{
	uint64_t d[2] = { lo, hi };

	g->s->mw(g->s, g->iq + (uint64_t)g->tail * 16, d, 16);
	g->tail = (g->tail + 1) % g->iq_n;
}

static inline void vg_qi_kick(struct vg *g)
{
	vg_wr64(g->s, VIOMMU_VTD_REG_IQT, (uint64_t)g->tail << 4);
}

/* A wait descriptor with status write of a new sequence number (plus @flags: IF 0x10, FN 0x40). */
static inline uint32_t vg_qi_put_wait(struct vg *g, uint64_t flags)
{
	g->seq++;
	vg_qi_put(g, (uint64_t)g->seq << 32 | 0x20 | flags | 5, g->status);
	return g->seq;
}

/* Submit @lo/@hi and a wait; true if the status write arrived. */
static inline bool vg_qi_sync(struct vg *g, uint64_t lo, uint64_t hi)
{
	vg_qi_put(g, lo, hi);
	uint32_t want = vg_qi_put_wait(g, 0);

	vg_qi_kick(g);
	return vg_r32(g->s, g->status) == want;
}

/* Descriptor encoders (spec 6.5.2). */
static inline uint64_t vg_cc_global(void) { return 1u << 4 | 1; }
static inline uint64_t vg_cc_domain(uint16_t did) { return (uint64_t)did << 16 | 2u << 4 | 1; }
static inline uint64_t vg_cc_device(uint16_t did, uint16_t sid, unsigned fm)
{
	return (uint64_t)fm << 48 | (uint64_t)sid << 32 | (uint64_t)did << 16 | 3u << 4 | 1;
}
static inline uint64_t vg_iotlb_global(void) { return 1u << 4 | 2; }
static inline uint64_t vg_iotlb_domain(uint16_t did) { return (uint64_t)did << 16 | 2u << 4 | 2; }
static inline uint64_t vg_iotlb_page(uint16_t did) { return (uint64_t)did << 16 | 3u << 4 | 2; }
static inline uint64_t vg_iotlb_page_hi(uint64_t addr, unsigned am, bool ih)
{
	return addr | (ih ? 0x40 : 0) | am;
}
static inline uint64_t vg_devtlb(uint16_t sid) { return (uint64_t)sid << 32 | 3; }

/* Global context-cache and IOTLB invalidation through the queue. */
static inline bool vg_flush_all(struct vg *g)
{
	vg_qi_put(g, vg_cc_global(), 0);
	return vg_qi_sync(g, vg_iotlb_global(), 0);
}

#endif /* VIOMMU_TESTS_VTD_GUEST_H */
