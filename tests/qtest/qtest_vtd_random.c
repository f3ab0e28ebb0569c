// SPDX-License-Identifier: MIT
/*
 * Seeded random guest programs on QEMU 7.2's intel-iommu and on viommu's
 * model (tests/qtest/vtd_qemu.h), compared observation by observation.
 *
 * A program is a sequence of operations a VT-d driver and its devices do:
 * map, change and unmap 4K and 2M pages in three domains' tables (some with
 * reserved bits, some onto the interrupt window), each change followed by an
 * invalidation (page selective with random address masks and unaligned
 * addresses, domain, global; queued, or register-based in the seeds without
 * QI); move devices between domains, pass-through and not present (context
 * entries, with and without FPD) followed by context-cache invalidations
 * (global, domain, device with function masks); DMA reads and writes by three
 * edu devices (00:03.0, 00:03.1, 00:04.0) anywhere in those pages, the
 * interrupt window, just above it and beyond MGAW; fault handling (F and PFO
 * cleared, masks toggled); wait descriptors with IF, device-TLB (with DT)
 * and interrupt-entry-cache descriptors; malformed descriptors with the
 * recovery Linux does; translation turned off and on.
 *
 * After each operation both sides record FSTS, FECTL, the fault record,
 * IQH, ICS, IECTL and GSTS, the bytes every write DMA moved, and every 200
 * operations a hash of each data page. The generator never depends on what
 * a side answers, so both run the identical program.
 *
 * Named deviations (qtest_vtd.c's table) are steered around so the
 * comparison is exact: no write (read) through a page the IOTLB may hold
 * without write (read) permission since its last invalidation
 * (iotlb-hit-permission), reserved bits only in entries granting RW
 * (fault-priority), no large leaf onto the window, no wait with neither or
 * both of SW and IF, no PASID, PFSID or reserved-bit IEC descriptors, no
 * device-TLB descriptors without DT, and after IQE the tail is written again
 * (iqe-clear-resume).
 */
#include "test.h"
#include "qtest/vtd_qemu.h"

#define TABLES	UINT64_C(0x00100000)
#define DATA	UINT64_C(0x08000000)	/* 4 MiB of data pages */
#define DATA_PAGES 1024
#define OUT_IOVA UINT64_C(0x7f000)
#define NOWHERE UINT64_C(0x40000000)

#define NPAGE	48	/* 4K pages per domain; the last one sits just above the window */
#define NBIG	2	/* 2M leaves per domain */
#define NDOM	3	/* domains 1..3, each with its own tables */

struct page {
	bool present;
	uint8_t perm;		/* VG_R | VG_W */
	uint16_t data;		/* output page index; 0xffff: the interrupt window */
	bool rsvd;		/* a reserved bit set (with RW) */
};

struct dom {
	uint64_t pt;
	struct page page[NPAGE];
	struct page big[NBIG];	/* data: 0 or 1 (which 2M of DATA) */
};

/* What a device's context says: DEV_SL + domain, pass-through, not present. */
enum { DEV_ABSENT = 0, DEV_SL = 1, DEV_PT = 2 };

struct dev {
	int kind;
	int dom;		/* DEV_SL: 0..NDOM-1 */
	bool fpd;
	uint8_t cached[NPAGE];	/* leaf permissions the IOTLB may hold since the last invalidation */
	uint8_t cached_big[NBIG];
};

struct gen {
	struct t_rng rng;
	struct vg *g;
	struct vq_run *r;
	const struct vq_cfg *cfg;
	bool qi;
	bool te;
	unsigned levels;
	struct dom dom[NDOM];
	struct dev dev[VG_NDEV];
	unsigned ops;
};

static uint64_t rnd(struct gen *x, uint64_t n) { return t_rng_below(&x->rng, n); }

static uint64_t page_iova(unsigned i)
{
	return i == NPAGE - 1 ? UINT64_C(0xfef00000) : UINT64_C(0x100000) + (uint64_t)i * 0x1000;
}

static uint64_t big_iova(unsigned k)
{
	return UINT64_C(0x40000000) + (uint64_t)k * 0x200000;
}

static uint16_t did_of(int dom) { return (uint16_t)(dom + 1); }

/* ---- invalidation ------------------------------------------------------ */

static void forget(struct gen *x, int dom, uint64_t first, uint64_t last)
{
	for (unsigned d = 0; d < VG_NDEV; d++) {
		if (x->dev[d].kind != DEV_SL || (dom >= 0 && x->dev[d].dom != dom))
			continue;
		for (unsigned i = 0; i < NPAGE; i++)
			if (page_iova(i) <= last && page_iova(i) + 0xfff >= first)
				x->dev[d].cached[i] = 0;
		for (unsigned k = 0; k < NBIG; k++)
			if (big_iova(k) <= last && big_iova(k) + 0x1fffff >= first)
				x->dev[d].cached_big[k] = 0;
	}
}

static void forget_all(struct gen *x)
{
	for (unsigned d = 0; d < VG_NDEV; d++) {
		memset(x->dev[d].cached, 0, sizeof(x->dev[d].cached));
		memset(x->dev[d].cached_big, 0, sizeof(x->dev[d].cached_big));
	}
}

static void iotlb_reg(struct gen *x, unsigned iirg, uint16_t did, uint64_t iva)
{
	if (iirg == 3)
		vg_wr64(x->g->s, VIOMMU_VTD_REG_IVA, iva);
	vg_wr64(x->g->s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 | (uint64_t)iirg << 60 | (uint64_t)did << 32);
}

/* An IOTLB invalidation covering [first, last] of domain @dom (chosen at random among those that do). */
static void invalidate(struct gen *x, int dom, uint64_t first, uint64_t last)
{
	unsigned kind = (unsigned)rnd(x, 10);
	uint16_t did = did_of(dom);

	if (kind < 7) {
		/* page selective: the smallest AM covering it, sometimes more; an unaligned address */
		unsigned am = 0;

		while (((first >> 12) >> am) != ((last >> 12) >> am))
			am++;
		am += (unsigned)rnd(x, 3);
		if (am > 18)
			am = 18;
		uint64_t addr = (first & ~UINT64_C(0xfff));

		if (rnd(x, 3) == 0)
			addr |= (rnd(x, 1u << am) << 12) & ((UINT64_C(1) << (am + 12)) - 1);
		addr &= ~UINT64_C(0xfff);
		uint64_t lo = addr & ~((UINT64_C(1) << (am + 12)) - 1);

		if (x->qi)
			vg_qi_sync(x->g, vg_iotlb_page(did), vg_iotlb_page_hi(addr, am, rnd(x, 2)));
		else
			iotlb_reg(x, 3, did, addr | am | (rnd(x, 2) ? 0x40 : 0));
		forget(x, dom, lo, lo + (UINT64_C(1) << (am + 12)) - 1);
	} else if (kind < 9) {
		if (x->qi)
			vg_qi_sync(x->g, vg_iotlb_domain(did), 0);
		else
			iotlb_reg(x, 2, did, 0);
		forget(x, dom, 0, UINT64_MAX);
	} else {
		if (x->qi)
			vg_qi_sync(x->g, vg_iotlb_global(), 0);
		else
			iotlb_reg(x, 1, 0, 0);
		forget_all(x);
	}
}

static void cc_invalidate(struct gen *x, unsigned dev)
{
	unsigned kind = (unsigned)rnd(x, 3);
	uint16_t sid = vg_dev_sid[dev];

	if (x->qi) {
		if (kind == 0)
			vg_qi_put(x->g, vg_cc_global(), 0);
		else if (kind == 1)
			vg_qi_put(x->g, vg_cc_domain((uint16_t)rnd(x, 4)), 0);
		else
			vg_qi_put(x->g, vg_cc_device(0, sid, (unsigned)rnd(x, 4)), 0);
		vg_qi_sync(x->g, vg_iotlb_global(), 0);
	} else {
		uint64_t v = UINT64_C(1) << 63;

		if (kind == 0)
			v |= UINT64_C(1) << 61;
		else if (kind == 1)
			v |= UINT64_C(2) << 61 | rnd(x, 4);
		else
			v |= UINT64_C(3) << 61 | rnd(x, 4) << 32 | (uint64_t)sid << 16;
		vg_wr64(x->g->s, VIOMMU_VTD_REG_CCMD, v);
		iotlb_reg(x, 1, 0, 0);
	}
	forget_all(x);
}

/* ---- table changes ------------------------------------------------------ */

static void write_page(struct gen *x, int dom, unsigned i)
{
	struct page *p = &x->dom[dom].page[i];
	uint64_t gpa = p->data == 0xffff ? UINT64_C(0xfee00000) + (i & 0xff) * 0x1000 :
					   DATA + (uint64_t)p->data * 0x1000;
	uint64_t a = vg_pte_addr(x->g, x->dom[dom].pt, x->levels, page_iova(i), 1);

	vg_w64(x->g->s, a, p->present ? gpa | p->perm | (p->rsvd ? VG_SNP : 0) : 0);
}

static void write_big(struct gen *x, int dom, unsigned k)
{
	struct page *p = &x->dom[dom].big[k];
	uint64_t a = vg_pte_addr(x->g, x->dom[dom].pt, x->levels, big_iova(k), 2);

	vg_w64(x->g->s, a, p->present ? (DATA + (uint64_t)p->data * 0x200000) | p->perm | VG_PS |
			   (p->rsvd ? UINT64_C(1) << 12 : 0) : 0);
}

static uint8_t rnd_perm(struct gen *x)
{
	static const uint8_t perms[] = { VG_RW, VG_RW, VG_RW, VG_R, VG_W };

	return perms[rnd(x, VQ_N(perms))];
}

static void op_map(struct gen *x)
{
	int dom = (int)rnd(x, NDOM);
	bool big = rnd(x, 8) == 0;
	unsigned i = (unsigned)rnd(x, big ? NBIG : NPAGE);
	struct page *p = big ? &x->dom[dom].big[i] : &x->dom[dom].page[i];
	bool was = p->present;

	if (rnd(x, 4) == 0) {
		p->present = false;
	} else {
		p->present = true;
		p->perm = rnd_perm(x);
		p->rsvd = rnd(x, 12) == 0;
		if (p->rsvd)
			p->perm = VG_RW;	/* fault-priority: reserved bits only with full permission */
		if (big)
			p->data = (uint16_t)rnd(x, 2);
		else
			p->data = rnd(x, 16) == 0 ? 0xffff : (uint16_t)rnd(x, 256);
	}
	if (big)
		write_big(x, dom, i);
	else
		write_page(x, dom, i);
	/* Without caching mode a new mapping needs no invalidation; a guest may still send one. */
	if (was || x->cfg->caching_mode || rnd(x, 2)) {
		uint64_t f = big ? big_iova(i) : page_iova(i);

		invalidate(x, dom, f, f + (big ? 0x1fffff : 0xfff));
	}
}

static void op_context(struct gen *x)
{
	unsigned d = (unsigned)rnd(x, VG_NDEV);
	struct dev *v = &x->dev[d];
	unsigned k = (unsigned)rnd(x, 10);
	uint16_t sid = vg_dev_sid[d];

	v->fpd = rnd(x, 4) == 0;
	if (k < 6) {
		v->kind = DEV_SL;
		v->dom = (int)rnd(x, NDOM);
		vg_context(x->g, sid, did_of(v->dom), x->dom[v->dom].pt, x->levels == 4 ? 2 : 1, VG_TT_SL, v->fpd);
	} else if (k < 8) {
		v->kind = DEV_PT;
		vg_context(x->g, sid, 7, 0, 1, VG_TT_PT, v->fpd);
	} else {
		v->kind = DEV_ABSENT;
		vg_context_raw(x->g, sid, v->fpd ? 2 : 0, 0);
	}
	cc_invalidate(x, d);
}

/* ---- DMA ---------------------------------------------------------------- */

/* The IOVA a device aims at, and whether the access may run (the iotlb-hit-permission rule). */
static bool pick_iova(struct gen *x, unsigned d, bool write, unsigned len, uint64_t *iova, uint8_t **cache)
{
	struct dev *v = &x->dev[d];
	unsigned k = (unsigned)rnd(x, 20);
	uint8_t acc = write ? VG_W : VG_R;

	*cache = NULL;
	if (k == 0) {
		*iova = UINT64_C(0xfee00000) + (rnd(x, 0x100000 - len) & ~UINT64_C(3));
		return true;
	}
	if (k == 1) {
		*iova = (UINT64_C(1) << (x->cfg->aw_bits == 48 ? 48 : 39)) + rnd(x, 0x1000 - len);
		return true;
	}
	if (!x->te || v->kind != DEV_SL) {
		/* untranslated: aim at data pages (identity) */
		*iova = DATA + rnd(x, DATA_PAGES) * 0x1000 + rnd(x, 0x1000 - len);
		return true;
	}
	if (k < 4) {
		unsigned b = (unsigned)rnd(x, NBIG);
		const struct page *p = &x->dom[v->dom].big[b];

		*iova = big_iova(b) + rnd(x, 0x200000 - len);
		if (p->present && !p->rsvd && v->cached_big[b] && !(v->cached_big[b] & acc))
			return false;
		*cache = &v->cached_big[b];
		return true;
	}
	unsigned i = (unsigned)rnd(x, NPAGE);
	const struct page *p = &x->dom[v->dom].page[i];

	*iova = page_iova(i) + rnd(x, 0x1000 - len);
	if (p->present && !p->rsvd && v->cached[i] && !(v->cached[i] & acc))
		return false;
	*cache = &v->cached[i];
	return true;
}

/* The GPA a translated IOVA lands on (for observing a write), or 0 if it faults or has none. */
static uint64_t dest(struct gen *x, unsigned d, uint64_t iova, uint8_t *perm)
{
	const struct dev *v = &x->dev[d];

	*perm = 0;
	if (iova >= 0xfee00000 && iova <= 0xfeefffff)
		return 0;
	if (!x->te || v->kind == DEV_PT) {
		*perm = VG_RW;
		return iova >= DATA && iova < DATA + DATA_PAGES * 0x1000 ? iova : 0;
	}
	if (v->kind != DEV_SL)
		return 0;
	for (unsigned b = 0; b < NBIG; b++) {
		const struct page *p = &x->dom[v->dom].big[b];

		if (iova >= big_iova(b) && iova < big_iova(b) + 0x200000) {
			if (!p->present || p->rsvd)
				return 0;
			*perm = p->perm;
			return DATA + (uint64_t)p->data * 0x200000 + (iova - big_iova(b));
		}
	}
	for (unsigned i = 0; i < NPAGE; i++) {
		const struct page *p = &x->dom[v->dom].page[i];

		if (iova >= page_iova(i) && iova < page_iova(i) + 0x1000) {
			if (!p->present || p->rsvd || p->data == 0xffff)
				return 0;
			*perm = p->perm;
			return DATA + (uint64_t)p->data * 0x1000 + (iova - page_iova(i));
		}
	}
	return 0;
}

/*
 * Buffer bytes [MSI_SAFE, 4095) are never read into: they stay 0, and a
 * write into the interrupt window sends only those (an MSI with vector 0
 * and fixed delivery, which QEMU's halted CPU ignores); anything else there
 * could be an NMI, INIT or SMI that wakes it.
 */
#define MSI_SAFE 3584

static void op_dma(struct gen *x, bool write)
{
	unsigned d = (unsigned)rnd(x, VG_NDEV), len = 1 + (unsigned)rnd(x, 512);
	unsigned off = (unsigned)rnd(x, MSI_SAFE - len);
	uint64_t iova, gpa;
	uint8_t *cache, perm;

	if (!pick_iova(x, d, write, len, &iova, &cache))
		return;
	if (write && iova >= 0xfee00000 && iova <= 0xfeefffff && len < VG_BUF - 1 - MSI_SAFE)
		off = MSI_SAFE;
	else if (write && iova >= 0xfee00000 && iova <= 0xfeefffff)
		return;
	gpa = dest(x, d, iova, &perm);
	x->g->s->dma(x->g->s, d, write, iova, off, len);
	/* a successful walk leaves the leaf in the IOTLB */
	if (cache && gpa && (perm & (write ? VG_W : VG_R)))
		*cache = perm;
	if (write && gpa && (perm & VG_W))
		vq_obs_mem(x->r, x->g->s, gpa & ~UINT64_C(7), ((gpa & 7) + len + 7) & ~UINT64_C(7), "dma");
}

/* ---- the rest ----------------------------------------------------------- */

static void op_faults(struct gen *x)
{
	struct vg_side *s = x->g->s;

	switch (rnd(x, 4)) {
	case 0: vg_wr32(s, VIOMMU_VTD_REG_FRCD + 12, 0x80000000u); break;
	case 1: vg_wr32(s, VIOMMU_VTD_REG_FSTS, 1); break;
	case 2: vq_clear_faults(s); break;
	default: vg_wr32(s, VIOMMU_VTD_REG_FECTL, rnd(x, 2) ? 0x80000000u : 0); break;
	}
}

static void op_registers(struct gen *x)
{
	struct vg_side *s = x->g->s;
	static const unsigned rd[] = { 0x08, 0x10, 0x20, 0x28, 0x88, 0x90, 0xb8, 0xf0, 0xf8 };

	switch (rnd(x, 6)) {
	/*
	 * MSIs reach QEMU's APIC: only fixed delivery to a vector the halted
	 * CPU (cli; hlt) leaves pending, so no NMI, INIT or SMI wakes it.
	 */
	case 0: vg_wr32(s, VIOMMU_VTD_REG_FEDATA, 0x20 + (uint32_t)rnd(x, 0xe0)); break;
	case 1: vg_wr32(s, VIOMMU_VTD_REG_FEADDR, 0xfee00000u | (uint32_t)rnd(x, 256) << 12); break;
	case 2: vg_wr32(s, VIOMMU_VTD_REG_IEDATA, 0x20 + (uint32_t)rnd(x, 0xe0)); break;	/* iedata-eimd */
	case 3: vg_wr32(s, VIOMMU_VTD_REG_IEADDR, 0xfee00000u | (uint32_t)rnd(x, 256) << 12); break;
	case 4: vg_wr64(s, VIOMMU_VTD_REG_IRTA, rnd(x, UINT64_C(1) << 40)); break;
	default: vg_wr32(s, VIOMMU_VTD_REG_IECTL, rnd(x, 2) ? 0x80000000u : 0); break;
	}
	unsigned k = (unsigned)rnd(x, VQ_N(rd));

	vq_obs(x->r, vg_rd64(s, rd[k]), "reg %#x", rd[k]);
	vq_obs(x->r, vg_rd32(s, VIOMMU_VTD_REG_FEDATA), "FEDATA");
	vq_obs(x->r, vg_rd32(s, VIOMMU_VTD_REG_FEADDR), "FEADDR");
	vq_obs(x->r, vg_rd32(s, VIOMMU_VTD_REG_IEDATA), "IEDATA");
	vq_obs(x->r, vg_rd32(s, VIOMMU_VTD_REG_IEADDR), "IEADDR");
}

static void op_descriptors(struct gen *x)
{
	struct vg *g = x->g;

	if (!x->qi) {
		vg_wr32(g->s, VIOMMU_VTD_REG_ICS, 1);
		return;
	}
	switch (rnd(x, 6)) {
	case 0:	/* completion interrupt: IF only */
		vg_qi_put(g, (uint64_t)rnd(x, 1u << 31) << 32 | 0x10 | (rnd(x, 2) ? 0x40 : 0) | 5, 0);
		vg_qi_kick(g);
		break;
	case 1:
		vg_wr32(g->s, VIOMMU_VTD_REG_ICS, 1);
		break;
	case 2:
		if (x->cfg->device_iotlb) {
			uint64_t a = rnd(x, UINT64_C(1) << 39) & ~UINT64_C(0xfff);

			vg_qi_sync(g, vg_devtlb(vg_dev_sid[rnd(x, VG_NDEV)]) | rnd(x, 32) << 16, a | rnd(x, 2));
		}
		break;
	case 3:
		vg_qi_sync(g, rnd(x, 2) ? 4 : (uint64_t)rnd(x, 0x10000) << 32 | rnd(x, 32) << 27 | 0x10 | 4, 0);
		break;
	default: {
		/* a malformed descriptor, then Linux's recovery (dmar.c qi_check_fault) */
		static const uint64_t bad[][2] = {
			{ 0, 0 }, { 8, 0 }, { 15, 0 }, { 1, 0 }, { 1 | 0x10 | 0x40, 0 }, { 1 | 0x10, 2 },
			{ 2, 0 }, { 2 | 0x10 | 0x200, 0 }, { 2 | 0x30, 0x100 }, { 2 | 0x30, 19 },
			{ 5 | 0x20 | 0x100, 0 }, { 5 | 0x20, 2 },
		};
		unsigned b = (unsigned)rnd(x, VQ_N(bad)), at = g->tail;
		uint64_t d[2] = { (uint64_t)0x66 << 32 | 0x20 | 5, g->status + 16 };

		vg_qi_put(g, bad[b][0], bad[b][1]);
		vg_qi_put_wait(g, 0);
		vg_qi_kick(g);
		vq_obs_status(x->r, g->s, "bad descriptor");
		g->s->mw(g->s, g->iq + at * 16, d, 16);
		vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 0x10);
		vg_qi_kick(g);
		vq_obs(x->r, vg_r32(g->s, g->status) == g->seq, "recovered");
		break;
	}
	}
}

static void op_te(struct gen *x)
{
	x->te = !x->te;
	vg_te(x->g, x->te);
	forget_all(x);
}

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void snapshot(struct gen *x)
{
	static unsigned char b[0x10000];

	for (uint64_t a = DATA; a < DATA + DATA_PAGES * 0x1000; a += sizeof(b)) {
		x->g->s->mr(x->g->s, a, b, sizeof(b));
		for (size_t p = 0; p < sizeof(b); p += 0x1000)
			vq_obs(x->r, fnv(b + p, 0x1000), "page %#llx", (unsigned long long)(a + p));
	}
}

/* ---- the program -------------------------------------------------------- */

static void setup(struct gen *x)
{
	struct vg *g = x->g;
	static unsigned char pat[0x10000];

	/* data pages hold a known pattern */
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (unsigned char)(i * 131 + (i >> 12) * 7);
	for (uint64_t a = DATA; a < DATA + DATA_PAGES * 0x1000; a += sizeof(pat))
		g->s->mw(g->s, a, pat, sizeof(pat));
	vg_root(g);
	for (int k = 0; k < NDOM; k++)
		x->dom[k].pt = vg_page(g);
	for (unsigned d = 0; d < VG_NDEV; d++) {
		x->dev[d].kind = DEV_SL;
		x->dev[d].dom = (int)(d % NDOM);
		vg_context(g, vg_dev_sid[d], did_of(x->dev[d].dom), x->dom[x->dev[d].dom].pt,
			   x->levels == 4 ? 2 : 1, VG_TT_SL, false);
	}
	if (x->qi)
		vg_qi_enable(g, (unsigned)rnd(x, 3));
	x->te = true;
	vg_te(g, true);
}

static void program(struct vg *g, struct vq_run *r, const struct vq_cfg *cfg, bool qi, uint64_t seed, unsigned nops)
{
	struct gen x;

	memset(&x, 0, sizeof(x));
	t_rng_init(&x.rng, seed);
	x.g = g;
	x.r = r;
	x.cfg = cfg;
	x.qi = qi;
	x.levels = cfg->aw_bits == 48 ? 4 : 3;
	setup(&x);
	for (unsigned n = 0; n < nops && !g->s->broken; n++) {
		unsigned k = (unsigned)rnd(&x, 100);

		if (getenv("VIOMMU_VTD_TRACE"))
			fprintf(stderr, "%s op %u kind %u at obs %zu\n", g->s->name, n, k, r->n);
		/* translation stays off for a few operations only */
		if (!x.te && k >= 12)
			k = 99;
		if (k < 22)
			op_map(&x);
		else if (k < 30)
			op_context(&x);
		else if (k < 49)
			op_dma(&x, false);
		else if (k < 70)
			op_dma(&x, true);
		else if (k < 84)
			op_faults(&x);
		else if (k < 89)
			op_registers(&x);
		else if (k < 98)
			op_descriptors(&x);
		else
			op_te(&x);
		vq_obs_status(r, g->s, "op");
		if (n % 200 == 199)
			snapshot(&x);
	}
	snapshot(&x);
}

int main(int argc, char **argv)
{
	static const struct { struct vq_cfg cfg; bool qi; const char *name; } runs[] = {
		{ { false, false, 0 }, true, "default" },
		{ { true, false, 0 }, true, "caching-mode" },
		{ { true, true, 0 }, true, "caching-mode,device-iotlb" },
		{ { false, false, 48 }, true, "aw-bits=48" },
		{ { false, true, 0 }, false, "register-based" },
	};
	uint64_t base = t_seed("vtd-random", 0x5eed0001);
	unsigned nops = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 1000;
	unsigned seeds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 1;
	const char *only = argc > 3 ? argv[3] : NULL;
	unsigned mismatches = 0, devs = 0, unconfirmed = 0, programs = 0;
	uint64_t ops = 0, nobs = 0;

	if (!qt_qemu_available())
		return qt_missing_status();
	for (unsigned k = 0; k < seeds; k++) {
		for (size_t i = 0; i < VQ_N(runs); i++) {
			uint64_t seed = base + k * VQ_N(runs) + i;
			struct vq_run rq = { .is_qemu = true }, rm = { 0 };
			struct vg_qemu *q = vq_new(&runs[i].cfg);
			struct vg_model *m = vq_model_new(&runs[i].cfg);
			struct vg gq, gm;
			char what[96];
			unsigned bad;

			if (only && strcmp(only, runs[i].name)) {
				vq_free(q);
				vg_model_free(m);
				continue;
			}
			T_OK(q && m);
			if (!q || !m) {
				vq_free(q);
				vg_model_free(m);
				continue;
			}
			vg_init(&gq, &q->side, TABLES, DATA);
			vg_init(&gm, &m->side, TABLES, DATA);
			program(&gq, &rq, &runs[i].cfg, runs[i].qi, seed, nops);
			program(&gm, &rm, &runs[i].cfg, runs[i].qi, seed, nops);
			T_OK(!q->side.broken && !m->side.broken);
			snprintf(what, sizeof(what), "%s seed %#llx", runs[i].name, (unsigned long long)seed);
			bad = vq_compare(what, &rq, &rm, NULL, &devs, &unconfirmed);
			printf("program %-26s seed %#llx: %u operations, %zu observations, %s\n", runs[i].name,
			       (unsigned long long)seed, nops, rm.n, bad ? "MISMATCH" : "equal");
			struct viommu_vtd_stats vs = { .sz = sizeof(vs) };

			viommu_vtd_get_stats(m->v, &vs);
			printf("    viommu: %llu walks, %llu faults (%llu recorded, %llu FPD, %llu collapsed, %llu lost), "
			       "%llu descriptors, %llu IQE, %llu waits, %llu context / %llu IOTLB / %llu device-TLB "
			       "invalidations\n",
			       (unsigned long long)vs.walks, (unsigned long long)vs.faults,
			       (unsigned long long)vs.faults_recorded, (unsigned long long)vs.faults_fpd,
			       (unsigned long long)vs.faults_collapsed, (unsigned long long)vs.faults_overflow,
			       (unsigned long long)vs.descriptors, (unsigned long long)vs.queue_errors,
			       (unsigned long long)vs.waits, (unsigned long long)vs.ctx_invalidations,
			       (unsigned long long)vs.iotlb_invalidations, (unsigned long long)vs.devtlb_invalidations);
			T_EQ(bad, 0);
			mismatches += bad;
			programs++;
			ops += nops;
			nobs += rm.n;
			vq_run_free(&rq);
			vq_run_free(&rm);
			vq_free(q);
			vg_model_free(m);
		}
	}
	printf("vtd-random-vs-qemu: %u programs, %llu operations, %llu observations, %u mismatches\n", programs,
	       (unsigned long long)ops, (unsigned long long)nobs, mismatches);
	return t_done();
}
