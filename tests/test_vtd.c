// SPDX-License-Identifier: MIT
/*
 * The VT-d model on its own (no QEMU): options and capability registers,
 * MMIO decoding, translation and the answers viommu_vtd_translate gives,
 * every fault reason with its exact record, FPD, collapsing, overflow,
 * FRI with several records, the fault and completion MSIs, ATS requests
 * (reason 0xD), the interrupt window and its callback, queued invalidation
 * of every type including the spec answers QEMU does not give (SW and IF
 * together), reset and re-entrancy. Expected values come from the VT-d
 * specification's layouts, written out here by hand. tests/qtest/qtest_vtd.c
 * compares the same behaviour with QEMU's intel-iommu.
 */
#include "test.h"
#include "vtd_guest.h"

#define RAM (UINT64_C(64) << 20)
#define TABLES UINT64_C(0x100000)
#define DATA UINT64_C(0x2000000)
#define SID0 0x0018
#define SID1 0x0019
#define SID2 0x0020
#define NOWHERE UINT64_C(0x8000000)	/* beyond the 64 MiB of RAM */
#define VI_N(a) (sizeof(a) / sizeof((a)[0]))

static struct vg_model *model(const struct viommu_vtd_opts *o)
{
	struct vg_model *m = vg_model_new(o, RAM);

	if (!m)
		T_FATAL("model");
	return m;
}

static uint64_t rd(struct vg_model *m, unsigned off, unsigned size)
{
	uint64_t v = 0;

	T_EQ(viommu_vtd_mmio_read(m->v, off, size, &v), 0);
	return v;
}

static uint64_t frcd_hi(struct vg_model *m, unsigned i)
{
	return rd(m, VIOMMU_VTD_REG_FRCD + 16 * i + 8, 8);
}

static uint64_t frcd_lo(struct vg_model *m, unsigned i)
{
	return rd(m, VIOMMU_VTD_REG_FRCD + 16 * i, 8);
}

/* The record a fault of @reason by @sid at @addr leaves (10.4.14): F, T (1 = read), FR, SID; FI. */
static uint64_t rec_hi(uint8_t reason, uint16_t sid, bool read)
{
	return UINT64_C(1) << 63 | (read ? UINT64_C(1) << 62 : 0) | (uint64_t)reason << 32 | sid;
}

static void clear_faults(struct vg_model *m)
{
	for (unsigned i = 0; i < 8; i++)
		viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FRCD + 16 * i + 12, 4, 0x80000000u);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FSTS, 4, 0x11);
}

/* Root, device SID0 in domain 1 with 3-level tables, QI on, TE on. Returns the table root. */
static uint64_t setup(struct vg *g, struct vg_model *m)
{
	uint64_t pt;

	vg_init(g, &m->side, TABLES, DATA);
	pt = vg_page(g);
	vg_root(g);
	vg_context(g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_qi_enable(g, 0);
	vg_te(g, true);
	return pt;
}

static int xl(struct vg_model *m, uint16_t sid, uint64_t iova, unsigned access, unsigned flags,
	      struct viommu_vtd_xlat *x)
{
	return viommu_vtd_translate(m->v, sid, iova, access, flags, x);
}

/* ---- options and capabilities -------------------------------------------- */

static void test_caps(void)
{
	static const struct { struct viommu_vtd_opts o; uint64_t cap, ecap; } t[] = {
		{ { 0 }, UINT64_C(0x00d2008c22260206), 0xf00f4a },		/* QEMU 7.2 -device intel-iommu */
		{ { .caching_mode = true }, UINT64_C(0x00d2008c22260286), 0xf00f4a },
		{ { .device_iotlb = true }, UINT64_C(0x00d2008c22260206), 0xf00f4e },
		{ { .aw_bits = 48 }, UINT64_C(0x00d2008c222f0606), 0xf00f4a },	/* QEMU aw-bits=48 */
		{ { .aw_bits = 57, .sagaw = 0x8 }, UINT64_C(0x00d2008c22380806), 0xf00f4a },
		{ { .nfr = 8, .mamv = 9 }, UINT64_C(0x00c9078c22260206), 0xf00f4a },
		{ { .no_psi = true, .no_qi = true, .no_pass_through = true, .no_intremap = true },
		  UINT64_C(0x00d2000c22260206), 0xf00 },
	};

	for (size_t i = 0; i < VI_N(t); i++) {
		struct viommu_vtd_opts o = t[i].o;
		struct vg_model *m;

		m = model(&o);
		T_EQ_U64(viommu_vtd_cap(m->v), t[i].cap);
		T_EQ_U64(viommu_vtd_ecap(m->v), t[i].ecap);
		T_EQ_U64(rd(m, VIOMMU_VTD_REG_CAP, 8), t[i].cap);
		T_EQ_U64(rd(m, VIOMMU_VTD_REG_ECAP, 8), t[i].ecap);
		T_EQ(rd(m, VIOMMU_VTD_REG_VER, 4), 0x10);
		vg_model_free(m);
	}
}

static int noread(void *ctx, uint64_t gpa, void *buf, size_t len) { return -EIO; }
static int nowrite(void *ctx, uint64_t gpa, const void *buf, size_t len) { return -EIO; }

static void test_opts(void)
{
	struct viommu_vtd_opts base = { .sz = sizeof(base), .read = noread, .write = nowrite };
	static const struct { unsigned aw, sagaw, haw, nfr, mamv; } bad[] = {
		{ 40, 0, 0, 0, 0 }, { 64, 0, 0, 0, 0 }, { 0, 0x1, 0, 0, 0 }, { 0, 0x10, 0, 0, 0 },
		{ 0, 0, 31, 0, 0 }, { 0, 0, 53, 0, 0 }, { 0, 0, 0, 223, 0 }, { 0, 0, 0, 0, 53 },
	};
	struct viommu_vtd *v;

	for (size_t i = 0; i < VI_N(bad); i++) {
		struct viommu_vtd_opts o = base;

		o.aw_bits = bad[i].aw;
		o.sagaw = bad[i].sagaw;
		o.haw_bits = bad[i].haw;
		o.nfr = bad[i].nfr;
		o.mamv = bad[i].mamv;
		errno = 0;
		T_OK(viommu_vtd_new(&o) == NULL);
		T_EQ(errno, EINVAL);
	}
	struct viommu_vtd_opts o = base;

	o.read = NULL;
	T_OK(viommu_vtd_new(&o) == NULL);
	o = base;
	o.write = NULL;
	T_OK(viommu_vtd_new(&o) == NULL);
	T_OK(viommu_vtd_new(NULL) == NULL);
	o = base;
	o.sz = 4;
	T_OK(viommu_vtd_new(&o) == NULL);
	/* an older caller (sz up to the callbacks) gets every default */
	o = base;
	o.sz = offsetof(struct viommu_vtd_opts, aw_bits);
	v = viommu_vtd_new(&o);
	T_OK(v != NULL);
	T_EQ_U64(viommu_vtd_cap(v), UINT64_C(0x00d2008c22260206));
	viommu_vtd_free(v);
	/* memory without sys */
	o = base;
	o.memory = (struct viommu_memory *)(uintptr_t)8;
	T_OK(viommu_vtd_new(&o) == NULL);
	/* the largest: 222 records end at the register page's end */
	o = base;
	o.nfr = 222;
	v = viommu_vtd_new(&o);
	T_OK(v != NULL);
	uint64_t val = 1;

	T_EQ(viommu_vtd_mmio_read(v, 0x220 + 16 * 221 + 8, 8, &val), 0);
	T_EQ(val, 0);
	viommu_vtd_free(v);
	viommu_vtd_free(NULL);
}

static void test_mmio_args(void)
{
	struct vg_model *m = model(NULL);
	uint64_t v = 7;

	T_EQ(viommu_vtd_mmio_read(m->v, 0x20, 2, &v), -EINVAL);
	T_EQ(viommu_vtd_mmio_read(m->v, 0x24, 8, &v), -EINVAL);
	T_EQ(viommu_vtd_mmio_read(m->v, 0x1000, 4, &v), -EINVAL);
	T_EQ(viommu_vtd_mmio_read(m->v, 0x20, 4, NULL), -EINVAL);
	T_EQ(viommu_vtd_mmio_write(m->v, 0x21, 4, 1), -EINVAL);
	T_EQ(viommu_vtd_mmio_write(m->v, 0xffc, 8, 1), -EINVAL);
	T_EQ(viommu_vtd_mmio_write(NULL, 0x20, 4, 1), -EINVAL);
	T_EQ(errno, EINVAL);
	T_EQ(rd(m, VIOMMU_VTD_REG_RTADDR, 8), 0);
	/* everything in the page reads 0 beyond the registers */
	for (unsigned off = 0x230; off < 0x1000; off += 4)
		if (rd(m, off, 4))
			T_FATAL("offset %#x reads non-zero", off);
	T_EQ(viommu_vtd_mmio_write(m->v, 0xff8, 8, ~UINT64_C(0)), 0);
	T_EQ(rd(m, 0xff8, 8), 0);
	vg_model_free(m);
}

/* ---- registers ------------------------------------------------------------- */

static void test_registers(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd *v = m->v;

	T_EQ(rd(m, VIOMMU_VTD_REG_FECTL, 4), 0x80000000u);
	T_EQ(rd(m, VIOMMU_VTD_REG_IECTL, 4), 0x80000000u);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_RTADDR, 8, ~UINT64_C(0));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_RTADDR, 8), UINT64_C(0xfffffffffffffc00));
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_RTADDR + 4, 4, 0x12);
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_RTADDR, 8), UINT64_C(0x00000012fffffc00));
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_FEDATA, 4, 0xffffffff);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_FEADDR, 4, 0xffffffff);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_FEUADDR, 4, 0xffffffff);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IEDATA, 4, 0xffffffff);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IEADDR, 4, 0xffffffff);
	T_EQ(rd(m, VIOMMU_VTD_REG_FEDATA, 4), 0xffff);
	T_EQ(rd(m, VIOMMU_VTD_REG_FEADDR, 4), 0xfffffffc);
	T_EQ(rd(m, VIOMMU_VTD_REG_FEUADDR, 4), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_IEDATA, 4), 0xffff);
	T_EQ(rd(m, VIOMMU_VTD_REG_IEADDR, 4), 0xfffffffc);
	/* a 64-bit access to two 32-bit registers: FECTL + FEDATA, FEADDR + FEUADDR (as Xen writes it) */
	viommu_vtd_mmio_write(v, 0x38, 8, UINT64_C(0x11223344ffffffff));
	T_EQ(rd(m, VIOMMU_VTD_REG_FECTL, 4), 0x80000000u);
	T_EQ(rd(m, VIOMMU_VTD_REG_FEDATA, 4), 0x3344);
	T_EQ_U64(rd(m, 0x38, 8), UINT64_C(0x0000334480000000));
	viommu_vtd_mmio_write(v, 0x40, 8, UINT64_C(0x11223344aabbccdd));
	T_EQ_U64(rd(m, 0x40, 8), UINT64_C(0xaabbccdc));
	T_EQ(viommu_vtd_mmio_write(v, 0x3c, 8, 0), -EINVAL);	/* not aligned */
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IQA, 8, ~UINT64_C(0));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_IQA, 8), UINT64_C(0xfffffffffffff007));
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IQT, 8, ~UINT64_C(0));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_IQT, 8), 0x7fff0);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IQT, 8, 0);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IRTA, 8, ~UINT64_C(0));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_IRTA, 8), UINT64_C(0xfffffffffffff80f));
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IVA, 8, ~UINT64_C(0));
	T_EQ(rd(m, VIOMMU_VTD_REG_IVA, 8), 0);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_CCMD, 8, UINT64_C(0x1fffffffffffffff));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_CCMD, 8), 0xffff);		/* FM, SID write only; no ICC */
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IOTLB, 8, UINT64_C(0x7fffffffffffffff));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_IOTLB, 8), UINT64_C(0x3003ffff00000000));
	/* read-only and write-only registers */
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_GSTS, 4, 0xffffffff);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_CAP, 8, 0);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_IQH, 8, ~UINT64_C(0));
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_FRCD, 8, ~UINT64_C(0));
	T_EQ(rd(m, VIOMMU_VTD_REG_GSTS, 4), 0);
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_CAP, 8), UINT64_C(0x00d2008c22260206));
	T_EQ(rd(m, VIOMMU_VTD_REG_IQH, 8), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_FRCD, 8), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_GCMD, 4), 0);
	/* GCMD: SIRTP sets IRTPS, IRE IRES, SRTP RTPS; persistent bits follow the last write */
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_GCMD, 4, 1u << 24 | 1u << 25);
	T_EQ(rd(m, VIOMMU_VTD_REG_GSTS, 4), 1u << 24 | 1u << 25);
	viommu_vtd_mmio_write(v, VIOMMU_VTD_REG_GCMD, 4, 1u << 30);
	T_EQ(rd(m, VIOMMU_VTD_REG_GSTS, 4), 1u << 24 | 1u << 30);
	vg_model_free(m);

	/* without QI the queue registers are reserved */
	struct viommu_vtd_opts o = { .sz = sizeof(o), .no_qi = true, .no_intremap = true };

	m = model(&o);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IQA, 8, 0x1000);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IECTL, 4, 0);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_GCMD, 4, 1u << 26 | 1u << 25);
	T_EQ(rd(m, VIOMMU_VTD_REG_IQA, 8), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_IECTL, 4), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_GSTS, 4), 0);
	vg_model_free(m);
}

/* ---- translation ------------------------------------------------------------ */

static void test_translate(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt;

	/* translation off: identity, 4K at a time */
	T_EQ(xl(m, SID0, 0x12345678, VIOMMU_PERM_WRITE, 0, &x), 0);
	T_EQ(x.kind, VIOMMU_VTD_XLAT_MEMORY);
	T_EQ_U64(x.first, 0x12345000);
	T_EQ_U64(x.last, 0x12345fff);
	T_EQ_U64(x.out, 0x12345000);
	T_EQ(x.perm, VIOMMU_PERM_RW);
	pt = setup(&g, m);
	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_R);
	vg_map(&g, pt, 3, 0x200000, DATA + 0x200000, VG_SZ_2M, VG_RW);
	vg_map(&g, pt, 3, 0x40000000, 0, VG_SZ_1G, VG_W);
	T_EQ(xl(m, SID0, 0x10abc, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.first, 0x10000);
	T_EQ_U64(x.last, 0x10fff);
	T_EQ_U64(x.out, DATA);
	T_EQ(x.perm, VIOMMU_PERM_READ);
	T_EQ(x.did, 1);
	T_EQ(xl(m, SID0, 0x3fffff, VIOMMU_PERM_WRITE, 0, &x), 0);
	T_EQ_U64(x.first, 0x200000);
	T_EQ_U64(x.last, 0x3fffff);
	T_EQ_U64(x.out, DATA + 0x200000);
	T_EQ(x.perm, VIOMMU_PERM_RW);
	T_EQ(xl(m, SID0, 0x7fffffff, VIOMMU_PERM_WRITE, 0, &x), 0);
	T_EQ_U64(x.first, 0x40000000);
	T_EQ_U64(x.last, 0x7fffffff);
	T_EQ_U64(x.out, 0);
	/* hits come from the IOTLB now */
	struct viommu_vtd_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	uint64_t walks = st.walks, hits = st.iotlb_hits;

	T_EQ(walks, 3);
	for (int i = 0; i < 10; i++)
		T_EQ(xl(m, SID0, 0x10000 + (uint64_t)i * 8, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	T_EQ(st.walks, walks);
	T_EQ(st.iotlb_hits, hits + 10);
	/* bad arguments */
	T_EQ(xl(m, SID0, 0x10000, 0, 0, &x), -EINVAL);
	T_EQ(xl(m, SID0, 0x10000, 4, 0, &x), -EINVAL);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 3, &x), -EINVAL);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, NULL), -EINVAL);
	/* pass-through */
	vg_context(&g, SID1, 9, 0, 1, VG_TT_PT, false);
	T_EQ(xl(m, SID1, 0x123456789, VIOMMU_PERM_RW, 0, &x), 0);
	T_EQ_U64(x.first, 0x123456000);
	T_EQ_U64(x.out, 0x123456000);
	T_EQ(x.did, 9);
	vg_model_free(m);
}

/* Every fault reason, with the exact record. */
static void test_fault_reasons(void)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .nfr = 1 };
	struct vg_model *m = model(&o);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt = setup(&g, m);
	uint64_t ctx = vg_ctx_addr(&g, SID0);

	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_R);
	vg_map(&g, pt, 3, 0x11000, DATA, VG_SZ_4K, VG_RW | VG_SNP);
	vg_map(&g, pt, 3, 0x12000, 0xfee01000, VG_SZ_4K, VG_RW);
	vg_map(&g, pt, 3, 0x13000, DATA, VG_SZ_4K, VG_RW | UINT64_C(1) << 62);
	vg_map(&g, pt, 3, 0x14000, DATA, VG_SZ_4K, VG_R | VG_SNP);
	struct {
		uint64_t iova;
		unsigned access;
		uint8_t reason;
		void (*prep)(struct vg *g, struct vg_model *m, uint64_t ctx, uint64_t pt);
	} t[] = {
		{ 0x20000, VIOMMU_PERM_READ, 0x6, NULL },		/* not present, read */
		{ 0x20000, VIOMMU_PERM_WRITE, 0x5, NULL },		/* not present, write */
		{ 0x10000, VIOMMU_PERM_WRITE, 0x5, NULL },		/* no write permission */
		{ 0x11000, VIOMMU_PERM_READ, 0xC, NULL },		/* SNP without ECAP.SC */
		{ 0x13000, VIOMMU_PERM_READ, 0xC, NULL },		/* TM without ECAP.DT */
		{ 0x14000, VIOMMU_PERM_WRITE, 0xC, NULL },		/* reserved before permission */
		{ 0x12000, VIOMMU_PERM_WRITE, 0xE, NULL },		/* output in the window */
		{ UINT64_C(1) << 39, VIOMMU_PERM_READ, 0x4, NULL },	/* beyond MGAW */
	};

	for (size_t i = 0; i < VI_N(t); i++) {
		T_EQ(xl(m, SID0, t[i].iova + 0x123, t[i].access, 0, &x), -EFAULT);
		T_EQ(x.fault, t[i].reason);
		T_OK(x.recorded);
		T_EQ_U64(frcd_hi(m, 0), rec_hi(t[i].reason, SID0, t[i].access == VIOMMU_PERM_READ));
		T_EQ_U64(frcd_lo(m, 0), t[i].iova);
		T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x2);	/* PPF, FRI 0 */
		clear_faults(m);
		T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
	}
	/* context and root problems, cache invalidated after each change */
	struct { uint64_t lo, hi; uint8_t reason; } c[] = {
		{ 0, 0, 0x2 },					/* not present */
		{ pt | 1 | 0x10, 1 | 1 << 8, 0xB },		/* lo bit 4 */
		{ pt | 1, 1 | 1 << 8 | 0x80, 0xB },		/* hi bit 7 */
		{ pt | 1 | UINT64_C(1) << 39, 1 | 1 << 8, 0xB },	/* beyond HAW */
		{ pt | 1, 2 | 1 << 8, 0x3 },			/* AW 48 not in SAGAW */
		{ pt | 1 | 1 << 2, 1 | 1 << 8, 0x3 },		/* TT 01 without DT */
		{ pt | 1 | 3 << 2, 1 | 1 << 8, 0x3 },		/* TT 11 */
		{ NOWHERE | 1, 1 | 1 << 8, 0x3 },	/* second-stage root unreadable */
	};

	for (size_t i = 0; i < VI_N(c); i++) {
		vg_context_raw(&g, SID0, c[i].lo, c[i].hi);
		T_OK(vg_flush_all(&g));
		T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
		T_EQ(x.fault, c[i].reason);
		T_EQ_U64(frcd_hi(m, 0), rec_hi(c[i].reason, SID0, true));
		clear_faults(m);
	}
	(void)ctx;
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	/* root entry: reserved bit, not present, the root table itself unreadable */
	uint64_t re = vg_r64(&m->side, g.root);

	vg_w64(&m->side, g.root, re | 0x4);
	T_OK(vg_flush_all(&g));
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0xA);
	clear_faults(m);
	vg_w64(&m->side, g.root, re & ~UINT64_C(1));
	T_OK(vg_flush_all(&g));
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0x1);
	clear_faults(m);
	vg_w64(&m->side, g.root, NOWHERE | 1);	/* beyond the 64M of RAM */
	T_OK(vg_flush_all(&g));
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0x9);
	clear_faults(m);
	vg_wr64(&m->side, VIOMMU_VTD_REG_RTADDR, NOWHERE);
	vg_gcmd(&g, 1u << 30);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0x8);
	clear_faults(m);
	vg_model_free(m);
}

/* A lower table unreadable: 7; the walk's root unreadable: 3. */
static void test_fault_walk_abort(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt = setup(&g, m);

	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_w64(&m->side, vg_pte_addr(&g, pt, 3, 0x10000, 2), NOWHERE | VG_RW);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0x7);
	T_EQ_U64(frcd_hi(m, 0), rec_hi(0x7, SID0, true));
	vg_model_free(m);
}

/* FPD, collapsing, overflow, FRI over several records, the fault event. */
static void test_fault_logging(void)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .nfr = 2 };
	struct vg_model *m = model(&o);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt = setup(&g, m);

	vg_context(&g, SID1, 2, pt, 1, VG_TT_SL, false);
	vg_context(&g, SID2, 3, pt, 1, VG_TT_SL, true);		/* FPD */
	T_OK(vg_flush_all(&g));
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FEADDR, 4, 0xfee01000);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FEDATA, 4, 0x4321);
	/* FPD: a qualified fault is neither recorded nor reported */
	T_EQ(xl(m, SID2, 0x50000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0x6);
	T_OK(!x.recorded);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
	/* first record: PPF, FRI 0, fault event pending (IM set) */
	T_EQ(xl(m, SID0, 0x50000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_OK(x.recorded);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x2);
	T_EQ(rd(m, VIOMMU_VTD_REG_FECTL, 4), 0xc0000000u);
	T_EQ(m->msis, 0);
	/* same requester again: collapsed */
	T_EQ(xl(m, SID0, 0x51000, VIOMMU_PERM_WRITE, 0, &x), -EFAULT);
	T_OK(!x.recorded);
	/* another requester: record 1, no new event */
	T_EQ(xl(m, SID1, 0x52000, VIOMMU_PERM_WRITE, 0, &x), -EFAULT);
	T_OK(x.recorded);
	T_EQ_U64(frcd_hi(m, 1), rec_hi(0x5, SID1, false));
	T_EQ_U64(frcd_lo(m, 1), 0x52000);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x2);
	/* unmasking delivers the pending event */
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FECTL, 4, 0);
	T_EQ(m->msis, 1);
	T_EQ_U64(m->last_msi_addr, 0xfee01000);
	T_EQ(m->last_msi_data, 0x4321);
	T_EQ(rd(m, VIOMMU_VTD_REG_FECTL, 4), 0);
	/* record 0 is next and still in use: overflow, no event */
	vg_context(&g, SID2, 3, pt, 1, VG_TT_SL, false);
	T_OK(vg_flush_all(&g));
	T_EQ(xl(m, SID2, 0x53000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_OK(!x.recorded);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x3);
	T_EQ(m->msis, 1);
	/* with PFO set nothing is recorded even in a free register */
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FRCD + 12, 4, 0x80000000u);
	T_EQ(xl(m, SID2, 0x53000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_OK(!x.recorded);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x3);	/* PPF from record 1 */
	/* clear everything: the next fault goes to record 0 (the index moved on), FRI 0, an MSI now */
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FRCD + 16 + 12, 4, 0x80000000u);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FSTS, 4, 1);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
	T_EQ(xl(m, SID2, 0x54000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_OK(x.recorded);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x2);
	T_EQ_U64(frcd_hi(m, 0), rec_hi(0x6, SID2, true));
	T_EQ(m->msis, 2);
	T_EQ(xl(m, SID0, 0x55000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_OK(x.recorded);
	T_EQ_U64(frcd_hi(m, 1), rec_hi(0x6, SID0, true));
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x2);	/* FRI stays at the first pending */
	/* record 0 freed, record 1 still pending: the index is back at 0, no new event */
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FRCD + 12, 4, 0x80000000u);
	T_EQ(xl(m, SID2, 0x56000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_OK(x.recorded);
	T_EQ_U64(frcd_hi(m, 0), rec_hi(0x6, SID2, true));
	T_EQ_U64(frcd_lo(m, 0), 0x56000);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x2);
	T_EQ(m->msis, 2);
	struct viommu_vtd_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	T_EQ(st.faults_fpd, 1);
	T_EQ(st.faults_collapsed, 1);
	T_EQ(st.fault_events, 2);
	vg_model_free(m);
}

/* ATS: translation requests need TT 01b (else 0xD); translated requests pass through. */
static void test_ats(void)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .device_iotlb = true };
	struct vg_model *m = model(&o);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt = setup(&g, m);

	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_R);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, VIOMMU_VTD_ATS_TRANSLATION, &x), -EFAULT);
	T_EQ(x.fault, 0xD);
	T_EQ_U64(frcd_hi(m, 0), rec_hi(0xD, SID0, true));
	clear_faults(m);
	T_EQ(xl(m, SID0, 0x20000, VIOMMU_PERM_WRITE, VIOMMU_VTD_ATS_TRANSLATED, &x), -EFAULT);
	T_EQ(x.fault, 0xD);
	clear_faults(m);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_DEVTLB, false);
	T_OK(vg_flush_all(&g));
	/* the translation request learns R; a write request for the same page is no fault */
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_WRITE, VIOMMU_VTD_ATS_TRANSLATION, &x), 0);
	T_EQ(x.perm, VIOMMU_PERM_READ);
	T_EQ_U64(x.out, DATA);
	T_EQ(xl(m, SID0, 0x20000, VIOMMU_PERM_READ, VIOMMU_VTD_ATS_TRANSLATION, &x), 0);
	T_EQ(x.perm, 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
	T_EQ(xl(m, SID0, DATA + 0x10, VIOMMU_PERM_WRITE, VIOMMU_VTD_ATS_TRANSLATED, &x), 0);
	T_EQ_U64(x.out, DATA);
	/* untranslated requests still walk */
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_WRITE, 0, &x), -EFAULT);
	T_EQ(x.fault, 0x5);
	vg_model_free(m);
}

/* The interrupt window: not remapped, writes reach the callback one aligned dword at a time. */
static void test_window(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt = setup(&g, m);
	uint32_t msg[4] = { 0x41, 0x42, 0x43, 0x44 };
	unsigned char z[16];

	vg_map(&g, pt, 3, 0xfee00000, DATA, VG_SZ_4K, VG_RW);
	T_EQ(xl(m, SID0, 0xfee00010, VIOMMU_PERM_WRITE, 0, &x), 0);
	T_EQ(x.kind, VIOMMU_VTD_XLAT_INTERRUPT);
	T_EQ_U64(x.first, 0xfee00000);
	T_EQ_U64(x.last, 0xfeefffff);
	T_EQ(viommu_vtd_dma(m->v, SID0, 0xfee00ffe, msg, 16, true), 16);	/* 0xffe..0x100d */
	T_EQ(m->interrupts, 3);
	T_EQ_U64(m->last_irq_addr, 0xfee01008);
	T_EQ(m->last_irq_sid, SID0);
	T_EQ(m->last_irq_data, 0x00440000);			/* buffer bytes 10..13 */
	memset(z, 0xff, sizeof(z));
	T_EQ(viommu_vtd_dma(m->v, SID0, 0xfeeffff8, z, 16, false), 8);	/* 8 in the window, 8 above: fault */
	for (int i = 0; i < 16; i++)
		T_EQ(z[i], 0);
	T_EQ_U64(frcd_lo(m, 0), 0xfef00000);
	T_EQ_U64(frcd_hi(m, 0), rec_hi(0x6, SID0, true));
	struct viommu_vtd_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	T_EQ(st.interrupts, 3);
	/* a 2M leaf whose output overlaps the window: only the pages in it are blocked */
	vg_map(&g, pt, 3, 0x200000, 0xfee00000, VG_SZ_2M, VG_RW);
	T_EQ(xl(m, SID0, 0x300000, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.first, 0x300000);
	T_EQ_U64(x.last, 0x300fff);
	T_EQ_U64(x.out, 0xfef00000);
	T_EQ(xl(m, SID0, 0x2fffff, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(x.fault, 0xE);
	vg_model_free(m);
}

/* viommu_vtd_dma: pages move or fault independently, like PCI. */
static void test_dma(void)
{
	struct vg_model *m = model(NULL);
	struct vg g;
	uint64_t pt = setup(&g, m);
	unsigned char b[0x3000];

	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(&g, pt, 3, 0x12000, DATA + 0x5000, VG_SZ_4K, VG_RW);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)(i * 7 + 1);
	T_EQ(viommu_vtd_dma(m->v, SID0, 0x10800, b, 0x2000, true), 0x1000);
	T_EQ(memcmp(m->ram + DATA + 0x800, b, 0x800), 0);
	T_EQ(memcmp(m->ram + DATA + 0x5000, b + 0x1800, 0x800), 0);
	memset(b, 0xee, sizeof(b));
	T_EQ(viommu_vtd_dma(m->v, SID0, 0x10800, b, 0x2000, false), 0x1000);
	T_EQ(b[0x800], 0);
	T_EQ(b[0x17ff], 0);
	T_EQ(b[0], (unsigned char)(0 * 7 + 1));
	T_EQ(viommu_vtd_dma(m->v, SID0, 0x10000, NULL, 1, false), -EINVAL);
	T_EQ(viommu_vtd_dma(m->v, SID0, 0x10000, NULL, 0, false), 0);
	/* the top of the address space: translation off, the last page */
	viommu_vtd_reset(m->v);
	T_EQ(viommu_vtd_dma(m->v, SID0, UINT64_MAX - 7, b, 16, false), 0);	/* no RAM there; stops at 2^64 */
	vg_model_free(m);
}

/* ---- queued invalidation -------------------------------------------------- */

static void test_queue(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt = setup(&g, m);

	/* stale until invalidated */
	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), 0);
	vg_map(&g, pt, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.out, DATA);
	T_OK(vg_qi_sync(&g, vg_iotlb_page(1), vg_iotlb_page_hi(0x10000, 0, false)));
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.out, DATA + 0x1000);
	/* SW and IF together: the status is written and the completion interrupt raised */
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IEADDR, 4, 0xfee02000);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IEDATA, 4, 0x77);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IECTL, 4, 0);
	uint32_t w = vg_qi_put_wait(&g, 0x10);

	vg_qi_kick(&g);
	T_EQ(vg_r32(&m->side, g.status), w);
	T_EQ(rd(m, VIOMMU_VTD_REG_ICS, 4), 1);
	T_EQ(m->msis, 1);
	T_EQ_U64(m->last_msi_addr, 0xfee02000);
	T_EQ(m->last_msi_data, 0x77);
	T_EQ(rd(m, VIOMMU_VTD_REG_IECTL, 4), 0);
	/* neither SW nor IF: a fence */
	vg_qi_put(&g, 5 | 0x40, 0);
	vg_qi_kick(&g);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_IQH, 8), (uint64_t)g.tail << 4);
	/* every malformed descriptor: IQE at it, then Linux's recovery */
	static const uint64_t bad[][2] = {
		{ 0, 0 }, { 6 | 0x10, 0 }, { 7 | 0x10, 0 }, { 9, 0 }, { 1, 0 }, { 1 | 0x10, 1 },
		{ 2 | 0x30, 19 }, { 2 | 0x10 | 0x8000, 0 }, { 3, 0 }, { 4 | 0x20, 0 }, { 4, 1 },
		{ 5 | 0x20 | 0x80, 0 }, { 5 | 0x20, 1 }, { 5 | 0x20, NOWHERE },
	};
	for (size_t i = 0; i < VI_N(bad); i++) {
		unsigned at = g.tail;

		vg_qi_put(&g, bad[i][0], bad[i][1]);
		w = vg_qi_put_wait(&g, 0);
		vg_qi_kick(&g);
		T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x10);
		T_EQ(rd(m, VIOMMU_VTD_REG_IQH, 8), (uint64_t)at << 4);
		T_OK(vg_r32(&m->side, g.status) != w);
		vg_qi_kick(&g);					/* a tail write while IQE: nothing */
		T_EQ(rd(m, VIOMMU_VTD_REG_IQH, 8), (uint64_t)at << 4);
		uint64_t d[2] = { 5 | 0x40, 0 };

		m->side.mw(&m->side, g.iq + at * 16, d, 16);
		viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_FSTS, 4, 0x10);	/* resumes at IQH */
		T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
		T_EQ(vg_r32(&m->side, g.status), w);
		T_EQ(rd(m, VIOMMU_VTD_REG_IQH, 8), (uint64_t)g.tail << 4);
	}
	/* the tail beyond the queue */
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IQT, 8, 256 << 4);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0x10);
	struct viommu_vtd_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	T_EQ(st.queue_errors, VI_N(bad) + 1);
	vg_model_free(m);
}

/* One tail write processes at most one pass: a queue full of invalidations is bounded. */
static void test_queue_full(void)
{
	struct vg_model *m = model(NULL);
	struct vg g;
	struct viommu_vtd_stats st = { .sz = sizeof(st) };
	uint64_t pt;

	vg_init(&g, &m->side, TABLES, DATA);
	pt = vg_page(&g);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_qi_enable(&g, 7);				/* 32768 entries */
	vg_te(&g, true);
	for (unsigned i = 0; i < g.iq_n - 1; i++)
		vg_qi_put(&g, vg_iotlb_page(1), vg_iotlb_page_hi((uint64_t)i << 12, (unsigned)(i % 19), false));
	vg_qi_kick(&g);
	T_EQ(viommu_vtd_get_stats(m->v, &st), 0);
	T_EQ(st.descriptors, g.iq_n - 1);
	T_EQ(rd(m, VIOMMU_VTD_REG_IQH, 8), (uint64_t)(g.iq_n - 1) << 4);
	vg_model_free(m);
}

/* Register-based invalidation with QI off, and ignored with it on. */
static void test_register_invalidation(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd_xlat x;
	struct vg g;
	uint64_t pt;

	vg_init(&g, &m->side, TABLES, DATA);
	pt = vg_page(&g);
	vg_root(&g);
	vg_context(&g, SID0, 1, pt, 1, VG_TT_SL, false);
	vg_te(&g, true);
	vg_map(&g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), 0);
	vg_map(&g, pt, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IVA, 8, 0x10000);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IOTLB, 8, UINT64_C(0xb000000100000000));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_IOTLB, 8), UINT64_C(0x3600000100000000));
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.out, DATA + 0x1000);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_CCMD, 8, UINT64_C(0xc000000000000001));	/* domain */
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_CCMD, 8), UINT64_C(0x4800000000000001));	/* CAIG global */
	/* with PSI unsupported a page-selective request is carried out domain wide */
	vg_model_free(m);
	struct viommu_vtd_opts o = { .sz = sizeof(o), .no_psi = true };

	m = model(&o);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IVA, 8, 0x10000);
	viommu_vtd_mmio_write(m->v, VIOMMU_VTD_REG_IOTLB, 8, UINT64_C(0xb000000100000000));
	T_EQ_U64(rd(m, VIOMMU_VTD_REG_IOTLB, 8), UINT64_C(0x3400000100000000));
	vg_model_free(m);
}

/* ---- reset and re-entrancy -------------------------------------------------- */

static void test_reset(void)
{
	struct vg_model *m = model(NULL);
	struct viommu_vtd_xlat x;
	struct vg g;

	setup(&g, m);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	T_EQ(viommu_vtd_reset(m->v), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_GSTS, 4), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_FSTS, 4), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_FRCD + 8, 8), 0);
	T_EQ(rd(m, VIOMMU_VTD_REG_FECTL, 4), 0x80000000u);
	T_EQ(rd(m, VIOMMU_VTD_REG_IQA, 8), 0);
	T_EQ(xl(m, SID0, 0x10000, VIOMMU_PERM_READ, 0, &x), 0);
	T_EQ_U64(x.out, 0x10000);
	T_EQ(viommu_vtd_reset(NULL), -EINVAL);
	vg_model_free(m);
}

static struct vg_model *reent_model;
static int reent_rc[4];

static void reent_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct viommu_vtd_xlat x;
	uint64_t v;

	reent_rc[0] = viommu_vtd_mmio_read(reent_model->v, 0, 4, &v);
	reent_rc[1] = viommu_vtd_translate(reent_model->v, SID1, 0x99000, VIOMMU_PERM_READ, 0, &x);
	reent_rc[2] = viommu_vtd_reset(reent_model->v);
	reent_rc[3] = (int)viommu_vtd_dma(reent_model->v, SID1, 0x99000, &v, 8, false);
}

static void test_reentry(void)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o) };
	struct viommu_vtd_xlat x;
	struct vg g;

	reent_model = model(&o);
	viommu_vtd_free(reent_model->v);
	o.read = vg_model_read;
	o.write = vg_model_write;
	o.msi = reent_msi;
	o.ctx = reent_model;
	reent_model->v = viommu_vtd_new(&o);
	setup(&g, reent_model);
	viommu_vtd_mmio_write(reent_model->v, VIOMMU_VTD_REG_FECTL, 4, 0);
	T_EQ(viommu_vtd_translate(reent_model->v, SID0, 0x50000, VIOMMU_PERM_READ, 0, &x), -EFAULT);
	for (int i = 0; i < 4; i++)
		T_EQ(reent_rc[i], -EDEADLK);
	vg_model_free(reent_model);
}

int main(void)
{
	test_caps();
	test_opts();
	test_mmio_args();
	test_registers();
	test_translate();
	test_fault_reasons();
	test_fault_walk_abort();
	test_fault_logging();
	test_ats();
	test_window();
	test_dma();
	test_queue();
	test_queue_full();
	test_register_invalidation();
	test_reset();
	test_reentry();
	return t_done();
}
