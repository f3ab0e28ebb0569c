// SPDX-License-Identifier: MIT
/*
 * viommu's VT-d model against QEMU's intel-iommu, case by case: each case is
 * one guest program (tests/vtd_guest.h) run on QEMU 7.2 over qtest and on
 * the library; the data moved, fault records, FSTS / IQH / ICS and register
 * read-backs they observe must be equal, except where QEMU deviates from the
 * VT-d specification: those deviations are named in the table below (and in
 * docs/design.md), viommu gives the spec's answer and QEMU the answer the
 * table says.
 */
#include "test.h"
#include "qtest/vtd_qemu.h"

/* ---- QEMU 7.2's deviations from the VT-d specification ----------------- */

enum {
	D_IOTLB_PERM = 1,
	D_DEVTLB_NO_DT,
	D_IQA_READ,
	D_IEDATA,
	D_WAIT_NONE,
	D_WAIT_SW_IF,
	D_PASID_DESC,
	D_IEC_RSVD,
	D_DEVTLB_PFSID,
	D_IQE_RESUME,
	D_LEAF_WINDOW,
	D_FAULT_ORDER,
	D_ATS,
};

static const struct vq_deviation deviations[] = {
	[D_IOTLB_PERM - 1] = { "iotlb-hit-permission",
		"a write through a cached read-only IOTLB entry is dropped without a fault record "
		"(vtd_do_iommu_translate's IOTLB hit path does not check the access); spec 7.1.3: fault 5" },
	[D_DEVTLB_NO_DT - 1] = { "devtlb-without-dt",
		"device-TLB invalidation descriptors are accepted while ECAP.DT = 0; spec 6.5.2.5: invalid, IQE" },
	[D_IQA_READ - 1] = { "iqa-readback",
		"IQA reads back only QS until QIE latches the base (vtd_mem_read returns s->iq | QS); "
		"spec 10.4.23: IQA reads what was written" },
	[D_IEDATA - 1] = { "iedata-eimd",
		"IEDATA bits 31:16 are writable without ECAP.EIM (FEDATA's are not); spec 10.4.26: reserved" },
	[D_WAIT_NONE - 1] = { "wait-without-sw-if",
		"a wait descriptor with neither SW nor IF sets IQE; spec 6.5.2.8 and 7.10: a valid fence "
		"(QEMU accepts SW = IF = 0, FN = 1 since 2024)" },
	[D_WAIT_SW_IF - 1] = { "wait-sw-and-if",
		"a wait descriptor with both SW and IF aborts QEMU (assert in vtd_process_wait_desc); "
		"spec 6.5.2.8: status write and completion interrupt; not sent to QEMU" },
	[D_PASID_DESC - 1] = { "pasid-descriptors",
		"PASID-based descriptors (types 6, 7) are accepted with ECAP.SMTS = 0; spec 6.5.2: invalid, IQE "
		"(QEMU requires scalable mode for them since 8.1)" },
	[D_IEC_RSVD - 1] = { "iec-reserved",
		"interrupt-entry-cache descriptors are not checked for reserved bits; spec 6.5.2.7: IQE" },
	[D_DEVTLB_PFSID - 1] = { "devtlb-pfsid",
		"a device-TLB descriptor with PFSID (bits 15:12, 63:52) set is refused as reserved; "
		"spec 6.5.2.5 defines PFSID (Linux qi_flush_dev_iotlb sets it)" },
	[D_IQE_RESUME - 1] = { "iqe-clear-resume",
		"clearing FSTS.IQE does not resume the queue until the next IQT write; spec 10.4.9 and "
		"Linux dmar.c qi_check_fault: fetching resumes at IQH" },
	[D_LEAF_WINDOW - 1] = { "large-leaf-window",
		"a large leaf whose output overlaps the interrupt window blocks every address of the leaf "
		"(reason 0xE); spec 3.14 blocks the addresses that land in the window" },
	[D_FAULT_ORDER - 1] = { "fault-priority",
		"permission is checked before reserved bits at each level, so an entry without the access and "
		"with reserved bits faults 5/6; viommu checks an entry's reserved bits first (0xC), as the "
		"x86 walk does" },
	[D_ATS - 1] = { "no-ats",
		"QEMU 7.2 has no ATS requests, so reason 0xD (translation type blocks the request) cannot "
		"happen there; compared with the spec's answer only" },
};

/* Guest memory layout of every case. */
#define TABLES	UINT64_C(0x00100000)	/* tables and queue, bump allocated */
#define DATA	UINT64_C(0x08000000)	/* data pages DMA reads from and writes to */
#define OUT_IOVA UINT64_C(0x7f000)	/* where probes write what they read */
#define OUT_GPA	(DATA + 0xff000)
#define NOWHERE	UINT64_C(0x40000000)	/* unassigned on q35 with 256 MiB: reads and writes fail */
#define DID	1

static void fill(struct vg *g, uint64_t gpa, size_t len, unsigned seed)
{
	unsigned char b[4096];

	for (size_t i = 0; i < len && i < sizeof(b); i++)
		b[i] = (unsigned char)(i * 31 + seed * 7 + 1);
	g->s->mw(g->s, gpa, b, len < sizeof(b) ? len : sizeof(b));
}

/* Device @dev in domain @did with 3-level tables (OUT mapped); returns the table root. */
static uint64_t attach(struct vg *g, unsigned dev, uint16_t did)
{
	uint64_t pt = vg_page(g);

	vg_context(g, vg_dev_sid[dev], did, pt, 1, VG_TT_SL, false);
	vg_map(g, pt, 3, OUT_IOVA, OUT_GPA, VG_SZ_4K, VG_RW);
	return pt;
}

/* Root table, device 0 in domain DID, QI and translation on. Returns device 0's table root. */
static uint64_t setup(struct vg *g)
{
	vg_root(g);
	uint64_t pt = attach(g, 0, DID);

	vg_qi_enable(g, 0);
	vg_te(g, true);
	return pt;
}

/*
 * What device @dev reads at @iova (@len bytes): read into its buffer, write
 * the buffer to OUT (through the IOMMU too) and observe OUT. Faulted bytes
 * read as 0 on both sides (QEMU's unassigned access).
 */
static void probe(struct vg *g, struct vq_run *r, unsigned dev, uint64_t iova, unsigned len, const char *tag)
{
	unsigned char z[VG_BUF - 1];

	memset(z, 0, sizeof(z));
	g->s->mw(g->s, OUT_GPA, z, 4096 - 8);
	g->s->dma(g->s, dev, false, iova, 0, len);
	g->s->dma(g->s, dev, true, OUT_IOVA, 0, len);
	vq_obs_mem(r, g->s, OUT_GPA, len, tag);
}

static void st(struct vg *g, struct vq_run *r, const char *tag)
{
	vq_obs_status(r, g->s, tag);
}

static void psi(struct vg *g, uint16_t did, uint64_t addr, unsigned am)
{
	vg_qi_sync(g, vg_iotlb_page(did), vg_iotlb_page_hi(addr, am, false));
}

/* ---- registers ---------------------------------------------------------- */

static void c_regs_reset(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;
	static const unsigned regs32[] = { 0x00, 0x18, 0x1c, 0x34, 0x38, 0x3c, 0x40, 0x44, 0x9c, 0xa0, 0xa4, 0xa8, 0xac };
	static const unsigned regs64[] = { 0x08, 0x10, 0x20, 0x28, 0x80, 0x88, 0x90, 0xb8, 0xf0, 0xf8, 0x220, 0x228 };
	/* reserved and unimplemented offsets read 0 */
	static const unsigned rsvd[] = { 0x04, 0x30, 0x48, 0x58, 0x5c, 0x64, 0x68, 0x6c, 0x70, 0x78, 0x98, 0xb0, 0xc0,
					 0x100, 0x108, 0x200 };

	for (size_t i = 0; i < VQ_N(regs32); i++)
		vq_obs(r, vg_rd32(s, regs32[i]), "reg32 %#x", regs32[i]);
	for (size_t i = 0; i < VQ_N(regs64); i++)
		vq_obs(r, vg_rd64(s, regs64[i]), "reg64 %#x", regs64[i]);
	for (size_t i = 0; i < VQ_N(rsvd); i++)
		vq_obs(r, vg_rd32(s, rsvd[i]), "reserved %#x", rsvd[i]);
	/* the halves of a 64-bit register */
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_CAP), "CAP lo");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_CAP + 4), "CAP hi");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_ECAP), "ECAP lo");
}

static void c_regs_rw(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;

	/* read-only registers ignore writes */
	vg_wr32(s, 0x00, 0xffffffff);
	vg_wr64(s, 0x08, ~UINT64_C(0));
	vg_wr64(s, 0x10, ~UINT64_C(0));
	vg_wr32(s, 0x1c, 0xffffffff);
	vg_wr64(s, 0x80, ~UINT64_C(0));
	vg_wr64(s, 0x220, ~UINT64_C(0));
	vq_obs(r, vg_rd32(s, 0x00), "VER");
	vq_obs(r, vg_rd64(s, 0x08), "CAP");
	vq_obs(r, vg_rd64(s, 0x10), "ECAP");
	vq_obs(r, vg_rd32(s, 0x1c), "GSTS");
	vq_obs(r, vg_rd64(s, 0x80), "IQH");
	vq_obs(r, vg_rd64(s, 0x220), "FRCD.lo");
	/* writable fields, all ones written: reserved bits read 0 */
	vg_wr64(s, VIOMMU_VTD_REG_RTADDR, ~UINT64_C(0));
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_RTADDR), "RTADDR");
	vg_wr32(s, VIOMMU_VTD_REG_RTADDR, 0x12345000);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_RTADDR), "RTADDR lo32");
	vg_wr32(s, VIOMMU_VTD_REG_RTADDR + 4, 0x9);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_RTADDR), "RTADDR hi32");
	vg_wr32(s, VIOMMU_VTD_REG_FEDATA, 0xffffffff);
	vg_wr32(s, VIOMMU_VTD_REG_FEADDR, 0xffffffff);
	vg_wr32(s, VIOMMU_VTD_REG_FEUADDR, 0xffffffff);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FEDATA), "FEDATA");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FEADDR), "FEADDR");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FEUADDR), "FEUADDR");
	vg_wr32(s, VIOMMU_VTD_REG_IEDATA, 0xffffffff);
	vg_wr32(s, VIOMMU_VTD_REG_IEADDR, 0xffffffff);
	vg_wr32(s, VIOMMU_VTD_REG_IEUADDR, 0xffffffff);
	vq_obs_dev(r, D_IEDATA, vg_rd32(s, VIOMMU_VTD_REG_IEDATA), 0xffff, 0xffffffff, "IEDATA");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_IEADDR), "IEADDR");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_IEUADDR), "IEUADDR");
	vg_wr32(s, VIOMMU_VTD_REG_FECTL, 0xffffffff);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FECTL), "FECTL ones");
	vg_wr32(s, VIOMMU_VTD_REG_FECTL, 0);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FECTL), "FECTL zero");
	vg_wr32(s, VIOMMU_VTD_REG_IECTL, 0);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_IECTL), "IECTL zero");
	vg_wr64(s, VIOMMU_VTD_REG_IRTA, ~UINT64_C(0));
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IRTA), "IRTA");
	vg_wr64(s, VIOMMU_VTD_REG_IVA, ~UINT64_C(0));
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IVA), "IVA (write only)");
	vg_wr64(s, VIOMMU_VTD_REG_IQT, ~UINT64_C(0));
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IQT), "IQT");
	vg_wr64(s, VIOMMU_VTD_REG_IQT, 0);
	vg_wr64(s, VIOMMU_VTD_REG_IQA, 0x12345000 | 3);
	vq_obs_dev(r, D_IQA_READ, vg_rd64(s, VIOMMU_VTD_REG_IQA), 0x12345003, 0x3, "IQA before QIE");
	vg_wr32(s, VIOMMU_VTD_REG_FSTS, 0xffffffff);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FSTS), "FSTS");
	vg_wr32(s, VIOMMU_VTD_REG_ICS, 0xffffffff);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_ICS), "ICS");
	/* CCMD: FM and SID are write only; CAIG is set by hardware */
	vg_wr64(s, VIOMMU_VTD_REG_CCMD, UINT64_C(0x1fffffffffffffff));
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD without ICC");
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(0x7fffffffffffffff));
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB without IVT");
}

/* GCMD: one-shot SRTP and SIRTP, persistent TE / QIE / IRE compared with GSTS. */
static void c_gcmd(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;

	vg_root(g);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "after SRTP");
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GCMD), "GCMD reads 0");
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 1u << 31);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "TE");
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 1u << 30);	/* SRTP without TE: TE goes off */
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "SRTP alone");
	vg_wr64(s, VIOMMU_VTD_REG_IRTA, 0x200000 | 7);
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 1u << 24);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "SIRTP");
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 1u << 25);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "IRE");
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 0);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "all off");
	g->gsts = 0;
	vg_qi_enable(g, 1);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "QIE");
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IQA), "IQA after QIE");
	/* QIE cannot go off before a wait descriptor drained the queue */
	vg_qi_put(g, vg_iotlb_global(), 0);
	vg_qi_kick(g);
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 0);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "QIE off refused");
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IQH), "IQH");
	vg_qi_sync(g, vg_iotlb_global(), 0);
	vg_wr32(s, VIOMMU_VTD_REG_GCMD, 0);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "QIE off");
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IQH), "IQH reset");
	vq_obs(r, vg_r32(s, g->status), "status");
}

/* Register-based invalidation: CCMD and the IOTLB register (QI off). */
static void c_reg_invalidation(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;
	uint64_t pt;

	vg_root(g);
	pt = attach(g, 0, DID);
	vg_te(g, true);
	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	fill(g, DATA, 64, 1);
	fill(g, DATA + 0x1000, 64, 2);
	probe(g, r, 0, 0x10000, 64, "first");
	vg_map(g, pt, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	probe(g, r, 0, 0x10000, 64, "stale");
	/* page selective through IVA, AM 0 */
	vg_wr64(s, VIOMMU_VTD_REG_IVA, 0x10000);
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 | UINT64_C(3) << 60 | (uint64_t)DID << 32);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB psi");
	probe(g, r, 0, 0x10000, 64, "after psi");
	/* AM above MAMV: refused, IAIG 0 */
	vg_wr64(s, VIOMMU_VTD_REG_IVA, 19);
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 | UINT64_C(3) << 60 | (uint64_t)DID << 32);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB psi am 19");
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 | UINT64_C(2) << 60 | (uint64_t)DID << 32);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB dsi");
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 | UINT64_C(1) << 60);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB global");
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB granularity 0");
	/* 32-bit halves: the low half stores, the high half (with IVT) runs the command */
	vg_wr32(s, VIOMMU_VTD_REG_IOTLB, 0);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB lo32");
	vg_wr32(s, VIOMMU_VTD_REG_IOTLB + 4, 0x90000000u | DID);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB hi32");
	/* context cache: global, domain (done as global), device, granularity 0 */
	vg_wr64(s, VIOMMU_VTD_REG_CCMD, UINT64_C(1) << 63 | UINT64_C(1) << 61);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD global");
	vg_wr64(s, VIOMMU_VTD_REG_CCMD, UINT64_C(1) << 63 | UINT64_C(2) << 61 | DID);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD domain");
	vg_wr64(s, VIOMMU_VTD_REG_CCMD, UINT64_C(1) << 63 | UINT64_C(3) << 61 | UINT64_C(3) << 32 |
		(uint64_t)vg_dev_sid[0] << 16 | DID);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD device");
	vg_wr64(s, VIOMMU_VTD_REG_CCMD, UINT64_C(1) << 63);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD granularity 0");
	vg_wr32(s, VIOMMU_VTD_REG_CCMD, 0x5);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD lo32");
	vg_wr32(s, VIOMMU_VTD_REG_CCMD + 4, 0xa0000000u);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD hi32");
	st(g, r, "end");
}

/* While QI is enabled the register interface is ignored: ICC / IVT stay set. */
static void c_reg_invalidation_qi(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;

	setup(g);
	vg_wr64(s, VIOMMU_VTD_REG_CCMD, UINT64_C(1) << 63 | UINT64_C(1) << 61);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_CCMD), "CCMD");
	vg_wr64(s, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 | UINT64_C(1) << 60);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IOTLB), "IOTLB");
	st(g, r, "end");
}

/* FRCD F is write-1-to-clear in either half; PPF follows; FRI. */
static void c_frcd_w1c(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;

	setup(g);
	s->dma(s, 0, true, 0x50000, 0, 8);
	st(g, r, "fault");
	vg_wr64(s, VIOMMU_VTD_REG_FRCD + 8, 0x7fffffffffffffff);
	st(g, r, "hi without F");
	vg_wr32(s, VIOMMU_VTD_REG_FRCD + 8, 0xffffffff);
	st(g, r, "hi lo32");
	vg_wr64(s, VIOMMU_VTD_REG_FRCD, ~UINT64_C(0));
	st(g, r, "lo");
	vg_wr32(s, VIOMMU_VTD_REG_FRCD + 12, 0x80000000u);
	st(g, r, "F cleared");
	s->dma(s, 0, false, 0x51000, 0, 8);
	st(g, r, "second fault");
	vg_wr64(s, VIOMMU_VTD_REG_FRCD + 8, UINT64_C(1) << 63);
	st(g, r, "F cleared 64");
}

/* Fault event: IP with IM set, released when IM clears, and the conditions that are not new. */
static void c_fault_event(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;

	setup(g);
	vg_wr32(s, VIOMMU_VTD_REG_FEADDR, 0xfee00000);
	vg_wr32(s, VIOMMU_VTD_REG_FEDATA, 0x41);
	s->dma(s, 0, true, 0x50000, 0, 8);
	st(g, r, "masked fault");
	vg_wr32(s, VIOMMU_VTD_REG_FECTL, 0);
	st(g, r, "unmasked");
	s->dma(s, 1, true, 0x50000, 0, 8);	/* another requester while F is set: overflow */
	st(g, r, "overflow");
	vg_wr32(s, VIOMMU_VTD_REG_FECTL, 1u << 31);
	vq_clear_faults(s);
	st(g, r, "cleared");
	s->dma(s, 0, true, 0x50000, 0, 8);
	st(g, r, "new fault masked");
	vg_wr32(s, VIOMMU_VTD_REG_FRCD + 12, 0x80000000u);
	st(g, r, "F cleared, IP kept");
	vg_wr32(s, VIOMMU_VTD_REG_FSTS, 0);
	st(g, r, "FSTS written: no status left, IP clears");
}

/* Invalidation completion: IF sets ICS.IWC and IECTL.IP (IM set); IM clear releases it. */
static void c_completion_event(struct vg *g, struct vq_run *r)
{
	struct vg_side *s = g->s;

	setup(g);
	vg_qi_put(g, 0x10 | 5, 0);			/* IF only: SW with IF aborts QEMU 7.2 */
	vg_qi_kick(g);
	st(g, r, "IF");
	vq_obs(r, vg_r32(s, g->status), "status");
	vg_wr32(s, VIOMMU_VTD_REG_IECTL, 0);
	st(g, r, "unmasked");
	vg_qi_put(g, (uint64_t)0x77 << 32 | 0x10 | 5, 0);
	vg_qi_kick(g);
	st(g, r, "IF again, IWC still set");
	vg_wr32(s, VIOMMU_VTD_REG_ICS, 1);
	st(g, r, "IWC cleared");
	vg_wr32(s, VIOMMU_VTD_REG_IECTL, 1u << 31);
	vg_qi_put(g, 0x10 | 5, 0);
	vg_qi_kick(g);
	st(g, r, "masked");
	vg_wr32(s, VIOMMU_VTD_REG_ICS, 1);
	st(g, r, "ICS written: IP clears");
}

/* ---- translation --------------------------------------------------------- */

static void c_translate_4k(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt, 3, 0x20000, DATA + 0x10000, VG_SZ_4K, VG_RW);
	fill(g, DATA, 4096, 1);
	g->s->dma(g->s, 0, false, 0x10000 + 0x123, 0, 2000);
	g->s->dma(g->s, 0, true, 0x20000 + 0x10, 0, 2000);
	vq_obs_mem(r, g->s, DATA + 0x10000, 4096, "out");
	st(g, r, "after");
}

/* A DMA crossing into an unmapped page: the mapped part moves, the rest faults (once). */
static void c_translate_partial(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt, 3, 0x12000, DATA + 0x2000, VG_SZ_4K, VG_RW);
	fill(g, DATA + 0xf00, 256, 3);
	fill(g, DATA + 0x2000, 256, 4);
	g->s->dma(g->s, 0, false, 0x10f00, 0, 256);
	g->s->dma(g->s, 0, true, 0x10f80, 0, 256);	/* crosses into 0x11000: not mapped */
	vq_obs_mem(r, g->s, DATA + 0xf00, 256, "written");
	st(g, r, "fault");
	vq_clear_faults(g->s);
	probe(g, r, 0, 0x11f80, 256, "read across a hole");
	st(g, r, "fault 2");
}

static void c_translate_large(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x200000, DATA, VG_SZ_2M, VG_RW);
	vg_map(g, pt, 3, 0x40000000, 0, VG_SZ_1G, VG_RW);
	fill(g, DATA + 0x123000, 128, 5);
	probe(g, r, 0, 0x200000 + 0x123000, 128, "2M");
	probe(g, r, 0, 0x40000000 + DATA + 0x123000, 128, "1G");
	st(g, r, "after");
}

/* aw-bits=48: 4-level tables, an IOVA above 2^39. */
static void c_translate_4level(struct vg *g, struct vq_run *r)
{
	uint64_t pt = vg_page(g);

	vg_root(g);
	vg_context(g, vg_dev_sid[0], DID, pt, 2, VG_TT_SL, false);
	vg_map(g, pt, 4, OUT_IOVA, OUT_GPA, VG_SZ_4K, VG_RW);
	vg_map(g, pt, 4, UINT64_C(0x7f0000012000), DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt, 4, UINT64_C(0x7f0040000000), 0, VG_SZ_1G, VG_RW);
	vg_qi_enable(g, 0);
	vg_te(g, true);
	fill(g, DATA, 64, 6);
	probe(g, r, 0, UINT64_C(0x7f0000012000), 64, "4K");
	probe(g, r, 0, UINT64_C(0x7f0040000000) + DATA, 64, "1G");
	g->s->dma(g->s, 0, true, UINT64_C(0x800000000000), 0, 8);	/* beyond MGAW 48: reason 4 */
	st(g, r, "beyond");
}

static void c_passthrough(struct vg *g, struct vq_run *r)
{
	vg_root(g);
	vg_context(g, vg_dev_sid[0], DID, 0, 1, VG_TT_PT, false);
	vg_qi_enable(g, 0);
	vg_te(g, true);
	fill(g, DATA, 64, 7);
	g->s->dma(g->s, 0, false, DATA, 0, 64);
	g->s->dma(g->s, 0, true, OUT_GPA, 0, 64);
	vq_obs_mem(r, g->s, OUT_GPA, 64, "identity");
	st(g, r, "after");
}

static void c_translation_off(struct vg *g, struct vq_run *r)
{
	fill(g, DATA, 64, 8);
	g->s->dma(g->s, 0, false, DATA, 0, 64);
	g->s->dma(g->s, 0, true, OUT_GPA, 0, 64);
	vq_obs_mem(r, g->s, OUT_GPA, 64, "identity");
	vg_root(g);
	vg_te(g, true);
	g->s->dma(g->s, 0, false, DATA, 0, 64);		/* root entry not present now: 1 */
	st(g, r, "on");
	vg_te(g, false);
	vq_clear_faults(g->s);
	fill(g, DATA, 64, 9);
	g->s->dma(g->s, 0, false, DATA, 0, 64);
	g->s->dma(g->s, 0, true, OUT_GPA, 0, 64);
	vq_obs_mem(r, g->s, OUT_GPA, 64, "off again");
	st(g, r, "after");
}

/* TT = 01b (device-TLB) with ECAP.DT translates untranslated requests as TT = 00b. */
static void c_tt_devtlb(struct vg *g, struct vq_run *r)
{
	uint64_t pt = vg_page(g);

	vg_root(g);
	vg_context(g, vg_dev_sid[0], DID, pt, 1, VG_TT_DEVTLB, false);
	vg_map(g, pt, 3, OUT_IOVA, OUT_GPA, VG_SZ_4K, VG_RW);
	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_qi_enable(g, 0);
	vg_te(g, true);
	fill(g, DATA, 64, 10);
	probe(g, r, 0, 0x10000, 64, "translated");
	st(g, r, "after");
}

/* Invalid context programming: reason 3 (TT 01b without DT, TT 11b, AW not in SAGAW). */
static void c_context_invalid(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_context(g, vg_dev_sid[0], DID, pt, 1, VG_TT_DEVTLB, false);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "tt 01 without DT");
	vq_clear_faults(g->s);
	vg_context(g, vg_dev_sid[0], DID, pt, 1, 3, false);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "tt 11");
	vq_clear_faults(g->s);
	vg_context(g, vg_dev_sid[0], DID, pt, 2, VG_TT_SL, false);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "aw 48 not in SAGAW");
	vq_clear_faults(g->s);
	vg_context(g, vg_dev_sid[0], DID, pt, 1, VG_TT_SL, true);	/* FPD: 3 is qualified */
	vg_w64(g->s, vg_ctx_addr(g, vg_dev_sid[0]) + 8, (uint64_t)DID << 8 | 0);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "aw 30 with FPD");
}

/* Permissions: R only, W only, ANDed with a table entry's. */
static void c_permissions(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_R);
	vg_map(g, pt, 3, 0x11000, DATA + 0x1000, VG_SZ_4K, VG_W);
	fill(g, DATA, 64, 11);
	g->s->dma(g->s, 0, true, 0x10000, 0, 8);	/* write to R only: 5 */
	st(g, r, "write R");
	vq_clear_faults(g->s);
	probe(g, r, 0, 0x10000, 64, "read R");
	g->s->dma(g->s, 0, false, 0x11000, 0, 8);	/* read of W only: 6 */
	st(g, r, "read W");
	vq_clear_faults(g->s);
	g->s->dma(g->s, 0, true, 0x11000, 0, 64);
	vq_obs_mem(r, g->s, DATA + 0x1000, 64, "write W");
	/* a table entry granting R only: the leaf's W is ANDed away */
	vg_map(g, pt, 3, 0x40000000 + 0x10000, DATA + 0x2000, VG_SZ_4K, VG_RW);
	uint64_t pde = vg_pte_addr(g, pt, 3, 0x40000000, 3);

	vg_w64(g->s, pde, (vg_r64(g->s, pde) & ~VG_RW) | VG_R);
	g->s->dma(g->s, 0, true, 0x40010000, 0, 8);
	st(g, r, "write under an R table");
	vq_clear_faults(g->s);
	fill(g, DATA + 0x2000, 64, 12);
	probe(g, r, 0, 0x40010000, 64, "read under an R table");
	st(g, r, "end");
}

static void c_root_not_present(struct vg *g, struct vq_run *r)
{
	setup(g);
	g->s->dma(g->s, 2, false, 0x10000, 0, 8);	/* 00:04.0's bus has no entry... bus 0 does: context 2 */
	st(g, r, "context not present");
	vq_clear_faults(g->s);
	vg_w64(g->s, g->root, 0);			/* bus 0 root entry gone */
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "root not present");
}

/* FPD suppresses qualified faults only. */
static void c_fpd(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_context(g, vg_dev_sid[0], DID, pt, 1, VG_TT_SL, true);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x30000, 0, 8);	/* 6, suppressed */
	st(g, r, "fpd pte");
	vg_context_raw(g, vg_dev_sid[1], 2, 0);		/* not present, FPD set: 2 suppressed */
	g->s->dma(g->s, 1, false, 0x30000, 0, 8);
	st(g, r, "fpd not present");
	vg_context_raw(g, vg_dev_sid[1], 2 | 1 | 0x10, (uint64_t)DID << 8 | 1);	/* reserved: 0xB not qualified */
	vg_flush_all(g);
	g->s->dma(g->s, 1, false, 0x30000, 0, 8);
	st(g, r, "fpd reserved");
}

static void c_beyond_mgaw(struct vg *g, struct vq_run *r)
{
	setup(g);
	g->s->dma(g->s, 0, false, UINT64_C(1) << 39, 0, 8);
	st(g, r, "2^39");
	vq_clear_faults(g->s);
	g->s->dma(g->s, 0, true, UINT64_C(0xfffffffffffff000), 0, 8);
	st(g, r, "top");
}

static void c_reserved_root_context(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);
	uint64_t re = vg_r64(g->s, g->root);

	vg_w64(g->s, g->root, re | 0x2);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "root bit 1");
	vq_clear_faults(g->s);
	vg_w64(g->s, g->root, re);
	vg_w64(g->s, g->root + 8, 1);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "root hi");
	vq_clear_faults(g->s);
	vg_w64(g->s, g->root + 8, 0);
	vg_w64(g->s, g->root, re | UINT64_C(1) << 40);	/* beyond HAW 39 */
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "root beyond HAW");
	vq_clear_faults(g->s);
	vg_w64(g->s, g->root, re);
	vg_context_raw(g, vg_dev_sid[0], pt | 1 | 0x100, (uint64_t)DID << 8 | 1);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "context lo bit 8");
	vq_clear_faults(g->s);
	vg_context_raw(g, vg_dev_sid[0], pt | 1, (uint64_t)DID << 8 | 1 | 0x80);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "context hi bit 7");
	vq_clear_faults(g->s);
	vg_context_raw(g, vg_dev_sid[0], pt | 1, (uint64_t)DID << 8 | 1 | UINT64_C(1) << 30);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "context hi bit 30");
	vq_clear_faults(g->s);
	vg_context_raw(g, vg_dev_sid[0], pt | 1, (uint64_t)DID << 8 | 1 | 0x78);	/* 6:3 ignored */
	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_flush_all(g);
	fill(g, DATA, 16, 13);
	probe(g, r, 0, 0x10000, 16, "ignored bits");
	st(g, r, "end");
}

/* Reserved bits in second-stage entries: 0xC. */
static void c_reserved_pte(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);
	static const struct { uint64_t iova, bits, size; const char *what; } t[] = {
		{ 0x10000, VG_RW | VG_SNP, VG_SZ_4K, "SNP in a leaf" },
		{ 0x11000, VG_RW | UINT64_C(1) << 62, VG_SZ_4K, "TM without DT" },
		{ 0x12000, VG_RW | UINT64_C(1) << 39, VG_SZ_4K, "address beyond HAW" },
		{ 0x400000, VG_RW | 0x1000, VG_SZ_2M, "2M leaf bit 12" },
		{ 0x80000000, VG_RW | 0x200000, VG_SZ_1G, "1G leaf bit 21" },
		{ 0x13000, VG_RW | UINT64_C(1) << 52 | UINT64_C(1) << 63 | 0x700, VG_SZ_4K, "ignored bits" },
	};

	for (size_t i = 0; i < VQ_N(t); i++) {
		vg_map(g, pt, 3, t[i].iova, DATA, t[i].size, t[i].bits);
		g->s->dma(g->s, 0, false, t[i].iova, 0, 8);
		st(g, r, t[i].what);
		vq_clear_faults(g->s);
	}
	/* a table entry with SNP */
	vg_map(g, pt, 3, 0x20000000, DATA, VG_SZ_4K, VG_RW);
	uint64_t pde = vg_pte_addr(g, pt, 3, 0x20000000, 2);

	vg_w64(g->s, pde, vg_r64(g->s, pde) | VG_SNP);
	g->s->dma(g->s, 0, false, 0x20000000, 0, 8);
	st(g, r, "table SNP");
	vq_clear_faults(g->s);
	/* PS in a 3-level table's top entry is a 1G leaf; reserved low bits make it 0xC */
	vg_w64(g->s, pt + 5 * 8, UINT64_C(0x40000000) * 5 | VG_RW | VG_PS | 0x4000);
	g->s->dma(g->s, 0, false, UINT64_C(5) << 30, 0, 8);
	st(g, r, "1G with bit 14");
}

/* Table reads that fail: 8 root table, 9 context table, 3 the second-stage root, 7 below it. */
static void c_read_errors(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	uint64_t pde = vg_pte_addr(g, pt, 3, 0x10000, 2);
	uint64_t pde_v = vg_r64(g->s, pde);

	vg_w64(g->s, pde, NOWHERE | VG_RW);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "leaf table unreadable");
	vq_clear_faults(g->s);
	vg_w64(g->s, pde, pde_v);
	vg_context(g, vg_dev_sid[0], DID, NOWHERE, 1, VG_TT_SL, false);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "root table of the walk unreadable");
	vq_clear_faults(g->s);
	vg_w64(g->s, g->root, NOWHERE | 1);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "context table unreadable");
	vq_clear_faults(g->s);
	vg_wr64(g->s, VIOMMU_VTD_REG_RTADDR, NOWHERE);
	vg_gcmd(g, 1u << 30);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "root table unreadable");
}

/* One record per requester while F is set, overflow for another, nothing once PFO is set. */
static void c_fault_records(struct vg *g, struct vq_run *r)
{
	setup(g);
	attach(g, 1, 2);
	vg_flush_all(g);
	g->s->dma(g->s, 0, false, 0x30000, 0, 64);
	g->s->dma(g->s, 0, true, 0x31000, 0, 64);	/* collapsed: same requester */
	st(g, r, "collapsed");
	g->s->dma(g->s, 1, true, 0x31000, 0, 64);	/* other requester: PFO */
	st(g, r, "overflow");
	vg_wr32(g->s, VIOMMU_VTD_REG_FRCD + 12, 0x80000000u);
	g->s->dma(g->s, 1, true, 0x32000, 0, 64);	/* PFO still set: not recorded */
	st(g, r, "PFO set");
	vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 1);
	g->s->dma(g->s, 1, true, 0x33000, 0, 64);
	st(g, r, "recorded again");
}

/* The interrupt window: never remapped, no fault; just above it is translated. */
static void c_window(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	/* the buffer holds MSIs a halted CPU ignores: fixed delivery, vector 0x31 */
	uint32_t msi[16];

	for (unsigned i = 0; i < 16; i++)
		msi[i] = 0x31;
	g->s->mw(g->s, OUT_GPA, msi, sizeof(msi));
	g->s->dma(g->s, 0, false, OUT_IOVA, 0, 64);
	vg_map(g, pt, 3, 0xfee00000, DATA, VG_SZ_4K, VG_RW);	/* a mapping there is ignored */
	g->s->dma(g->s, 0, true, 0xfee00000, 0, 64);
	g->s->dma(g->s, 0, true, 0xfeeff000, 0, 64);
	st(g, r, "write in window");
	vq_obs_mem(r, g->s, DATA, 64, "window mapping unused");
	probe(g, r, 0, 0xfee00100, 64, "read in window");
	st(g, r, "read in window");
	g->s->dma(g->s, 0, true, 0xfef00000, 0, 8);	/* just above: translated, not mapped */
	st(g, r, "above the window");
	vq_clear_faults(g->s);
	vg_map(g, pt, 3, 0xfef00000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	fill(g, DATA + 0x1000, 64, 15);
	probe(g, r, 0, 0xfef00000, 64, "mapped above");
	g->s->dma(g->s, 0, true, 0xfedff000, 0, 8);	/* just below: not mapped */
	st(g, r, "below the window");
	/* with translation off the window still takes interrupts */
	vg_te(g, false);
	vq_clear_faults(g->s);
	g->s->dma(g->s, 0, true, 0xfee00000, 0, 64);
	st(g, r, "TE off");
}

/* An output address in the window is blocked: 0xE. */
static void c_window_output(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, 0xfee00000, VG_SZ_4K, VG_RW);
	g->s->dma(g->s, 0, true, 0x10000, 0, 8);
	st(g, r, "4K onto the window");
	vq_clear_faults(g->s);
	vg_map(g, pt, 3, 0x11000, 0xfeeff000, VG_SZ_4K, VG_R);
	g->s->dma(g->s, 0, false, 0x11000, 0, 8);
	st(g, r, "4K onto the window's last page");
}

/* A 2M leaf whose output covers the window and the 1M above it (deviation). */
static void c_window_large_leaf(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x200000, 0xfee00000, VG_SZ_2M, VG_RW);
	g->s->dma(g->s, 0, false, 0x200000 + 0x100000, 0, 8);	/* output 0xfef00000: outside the window */
	vq_obs_dev(r, D_LEAF_WINDOW, vq_frcd_hi(vg_rd64(g->s, VIOMMU_VTD_REG_FRCD + 8)), 0,
		   UINT64_C(0xc000000e00000018), "FRCD.hi above the window");
	vq_obs_dev(r, D_LEAF_WINDOW, vg_rd32(g->s, VIOMMU_VTD_REG_FSTS), 0, 2, "FSTS");
	vq_clear_faults(g->s);
	g->s->dma(g->s, 0, false, 0x200000 + 0x80000, 0, 8);	/* output in the window: both block */
	st(g, r, "in the window");
}

/* Caching mode: CAP.CM; not-present to present needs no invalidation (nothing negative is cached). */
static void c_caching_mode(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vq_obs(r, vg_rd64(g->s, VIOMMU_VTD_REG_CAP), "CAP");
	g->s->dma(g->s, 0, false, 0x10000, 0, 8);
	st(g, r, "not present");
	vq_clear_faults(g->s);
	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	fill(g, DATA, 64, 16);
	probe(g, r, 0, 0x10000, 64, "present, not invalidated");
	psi(g, DID, 0x10000, 0);
	probe(g, r, 0, 0x10000, 64, "invalidated");
	st(g, r, "end");
}

/* ---- invalidation -------------------------------------------------------- */

/* A stale IOTLB entry keeps translating until a PSI covers it (the spec allows either). */
static void c_stale_iotlb(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	fill(g, DATA, 64, 17);
	fill(g, DATA + 0x1000, 64, 18);
	probe(g, r, 0, 0x10000, 64, "first");
	vg_map(g, pt, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	probe(g, r, 0, 0x10000, 64, "stale");
	psi(g, DID, 0x11000, 0);			/* another page: no effect */
	probe(g, r, 0, 0x10000, 64, "other page invalidated");
	psi(g, DID + 1, 0x10000, 0);			/* another domain: no effect */
	probe(g, r, 0, 0x10000, 64, "other domain invalidated");
	psi(g, DID, 0x10000, 0);
	probe(g, r, 0, 0x10000, 64, "invalidated");
	st(g, r, "end");
}

/* PSI with address masks, an unaligned address (low bits masked), IH. */
static void c_psi_masks(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	for (unsigned i = 0; i < 8; i++) {
		vg_map(g, pt, 3, 0x100000 + i * 0x1000, DATA + i * 0x1000, VG_SZ_4K, VG_RW);
		fill(g, DATA + i * 0x1000, 16, 20 + i);
		fill(g, DATA + 0x10000 + i * 0x1000, 16, 40 + i);
		probe(g, r, 0, 0x100000 + i * 0x1000, 16, "first");
	}
	for (unsigned i = 0; i < 8; i++)
		vg_map(g, pt, 3, 0x100000 + i * 0x1000, DATA + 0x10000 + i * 0x1000, VG_SZ_4K, VG_RW);
	vg_qi_sync(g, vg_iotlb_page(DID), vg_iotlb_page_hi(0x102000, 1, true));	/* pages 2, 3 */
	for (unsigned i = 0; i < 8; i++)
		probe(g, r, 0, 0x100000 + i * 0x1000, 16, "am 1");
	vg_qi_sync(g, vg_iotlb_page(DID), vg_iotlb_page_hi(0x105000, 2, false));	/* unaligned: 4..7 */
	for (unsigned i = 0; i < 8; i++)
		probe(g, r, 0, 0x100000 + i * 0x1000, 16, "am 2 unaligned");
	vg_qi_sync(g, vg_iotlb_page(DID), vg_iotlb_page_hi(0, 18, false));		/* MAMV: 1G */
	for (unsigned i = 0; i < 2; i++)
		probe(g, r, 0, 0x100000 + i * 0x1000, 16, "am 18");
	st(g, r, "end");
}

/* A 2M leaf is invalidated by a PSI of any 4K page inside it. */
static void c_psi_large(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x200000, DATA, VG_SZ_2M, VG_RW);
	fill(g, DATA + 0x5000, 16, 60);
	fill(g, DATA + 0x205000, 16, 61);
	probe(g, r, 0, 0x205000, 16, "first");
	vg_map(g, pt, 3, 0x200000, DATA + 0x200000, VG_SZ_2M, VG_RW);
	probe(g, r, 0, 0x205000, 16, "stale");
	psi(g, DID, 0x3ff000, 0);
	probe(g, r, 0, 0x205000, 16, "psi in the leaf");
}

/* AM above MAMV: IQE, IQH stays at the bad descriptor, tail writes do not move it. */
static void c_psi_am_too_big(struct vg *g, struct vq_run *r)
{
	setup(g);
	vg_qi_put(g, vg_iotlb_page(DID), vg_iotlb_page_hi(0, 19, false));
	uint32_t w = vg_qi_put_wait(g, 0);

	vg_qi_kick(g);
	st(g, r, "IQE");
	vq_obs(r, vg_r32(g->s, g->status) == w, "status written");
	vg_qi_put_wait(g, 0);
	vg_qi_kick(g);
	st(g, r, "tail moved");
}

/* After IQE software fixes the descriptor and clears IQE (deviation: QEMU waits for a tail write). */
static void c_iqe_resume(struct vg *g, struct vq_run *r)
{
	setup(g);
	unsigned bad = g->tail;

	vg_qi_put(g, 0, 0);				/* type 0: invalid */
	uint32_t w = vg_qi_put_wait(g, 0);

	vg_qi_kick(g);
	st(g, r, "IQE");
	uint64_t d[2] = { 5, 0 };			/* a wait without status: a fence */

	d[0] |= 0x20 | (uint64_t)0x99 << 32;
	d[1] = g->status + 8;
	g->s->mw(g->s, g->iq + bad * 16, d, 16);
	vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 0x10);
	vq_obs_dev(r, D_IQE_RESUME, vg_rd64(g->s, VIOMMU_VTD_REG_IQH), (uint64_t)(bad + 2) << 4,
		   (uint64_t)bad << 4, "IQH after IQE cleared");
	vq_obs_dev(r, D_IQE_RESUME, vg_r32(g->s, g->status) == w, 1, 0, "status after IQE cleared");
	vg_qi_kick(g);
	st(g, r, "tail rewritten");
	vq_obs(r, vg_r32(g->s, g->status) == w, "status");
	vq_obs(r, vg_r32(g->s, g->status + 8), "fixed descriptor's status");
}

/* Domain and global IOTLB invalidation across two domains. */
static void c_dsi_global(struct vg *g, struct vq_run *r)
{
	uint64_t pt0 = setup(g), pt2 = attach(g, 2, 2);

	vg_flush_all(g);
	vg_map(g, pt0, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt2, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	for (unsigned i = 0; i < 4; i++)
		fill(g, DATA + i * 0x1000, 16, 70 + i);
	probe(g, r, 0, 0x10000, 16, "dev0 first");
	probe(g, r, 2, 0x10000, 16, "dev2 first");
	vg_map(g, pt0, 3, 0x10000, DATA + 0x2000, VG_SZ_4K, VG_RW);
	vg_map(g, pt2, 3, 0x10000, DATA + 0x3000, VG_SZ_4K, VG_RW);
	vg_qi_sync(g, vg_iotlb_domain(DID), 0);
	probe(g, r, 0, 0x10000, 16, "dev0 after dsi");
	probe(g, r, 2, 0x10000, 16, "dev2 after dsi 1");
	vg_qi_sync(g, vg_iotlb_global(), 0);
	probe(g, r, 2, 0x10000, 16, "dev2 after global");
	st(g, r, "end");
}

/* The context cache: a cached context is used until a context-cache invalidation. */
static void c_context_cache(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g), pt2 = vg_page(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt2, 3, OUT_IOVA, OUT_GPA, VG_SZ_4K, VG_RW);
	vg_map(g, pt2, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	fill(g, DATA, 16, 80);
	fill(g, DATA + 0x1000, 16, 81);
	probe(g, r, 0, 0x10000, 16, "old tables");
	vg_context(g, vg_dev_sid[0], DID + 1, pt2, 1, VG_TT_SL, false);
	vg_qi_sync(g, vg_iotlb_global(), 0);		/* IOTLB only */
	probe(g, r, 0, 0x10000, 16, "context cached");
	vg_qi_sync(g, vg_cc_domain(DID + 1), 0);	/* domain selective: carried out globally */
	vg_qi_sync(g, vg_iotlb_global(), 0);
	probe(g, r, 0, 0x10000, 16, "after cc domain");
	vg_context(g, vg_dev_sid[0], DID, pt, 1, VG_TT_SL, false);
	vg_qi_sync(g, vg_cc_global(), 0);
	vg_qi_sync(g, vg_iotlb_global(), 0);
	probe(g, r, 0, 0x10000, 16, "after cc global");
	st(g, r, "end");
}

/* Device-selective context invalidation with function masks (00:03.0 and 00:03.1). */
static void c_context_device_fm(struct vg *g, struct vq_run *r)
{
	uint64_t pt0 = setup(g), pt1 = attach(g, 1, DID), pt2 = vg_page(g);

	vg_flush_all(g);
	vg_map(g, pt0, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt1, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	vg_map(g, pt2, 3, OUT_IOVA, OUT_GPA, VG_SZ_4K, VG_RW);
	vg_map(g, pt2, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	fill(g, DATA, 16, 90);
	fill(g, DATA + 0x1000, 16, 91);
	probe(g, r, 0, 0x10000, 16, "dev0");
	probe(g, r, 1, 0x10000, 16, "dev1");
	vg_context(g, vg_dev_sid[0], DID + 1, pt2, 1, VG_TT_SL, false);
	vg_context(g, vg_dev_sid[1], DID + 1, pt2, 1, VG_TT_SL, false);
	vg_qi_sync(g, vg_cc_device(DID, vg_dev_sid[0], 0), 0);
	vg_qi_sync(g, vg_iotlb_global(), 0);
	probe(g, r, 0, 0x10000, 16, "dev0 after fm 0");
	probe(g, r, 1, 0x10000, 16, "dev1 after fm 0");
	vg_qi_sync(g, vg_cc_device(DID, vg_dev_sid[0], 3), 0);
	vg_qi_sync(g, vg_iotlb_global(), 0);
	probe(g, r, 1, 0x10000, 16, "dev1 after fm 3");
	st(g, r, "end");
}

/* Device-TLB descriptors (ECAP.DT): S = 0 and S = 1, accepted. */
static void c_devtlb(struct vg *g, struct vq_run *r)
{
	setup(g);
	vg_qi_sync(g, vg_devtlb(vg_dev_sid[0]) | 0x1f0000, 0x10000);
	vg_qi_sync(g, vg_devtlb(vg_dev_sid[0]), 0x10000 | 0x7000 | 1);	/* 64K at 0x10000 */
	vg_qi_sync(g, vg_devtlb(0x1234), UINT64_C(0x7ffffffffffff000) | 1);	/* everything, unknown device */
	st(g, r, "accepted");
	vg_qi_sync(g, vg_devtlb(vg_dev_sid[0]), 0x10000 | 0x2);		/* reserved bit 1 */
	st(g, r, "reserved");
}

static void c_devtlb_no_dt(struct vg *g, struct vq_run *r)
{
	setup(g);
	unsigned at = g->tail;

	vg_qi_sync(g, vg_devtlb(vg_dev_sid[0]), 0x10000);
	vq_obs_dev(r, D_DEVTLB_NO_DT, vg_rd32(g->s, VIOMMU_VTD_REG_FSTS), 0x10, 0, "FSTS");
	vq_obs_dev(r, D_DEVTLB_NO_DT, vg_rd64(g->s, VIOMMU_VTD_REG_IQH), (uint64_t)at << 4,
		   (uint64_t)(at + 2) << 4, "IQH");
}

static void c_devtlb_pfsid(struct vg *g, struct vq_run *r)
{
	setup(g);
	unsigned at = g->tail;
	uint16_t pfsid = vg_dev_sid[0];

	vg_qi_sync(g, vg_devtlb(vg_dev_sid[0]) | (uint64_t)(pfsid & 0xf) << 12 | (uint64_t)(pfsid >> 4) << 52,
		   0x10000);
	vq_obs_dev(r, D_DEVTLB_PFSID, vg_rd32(g->s, VIOMMU_VTD_REG_FSTS), 0, 0x10, "FSTS");
	vq_obs_dev(r, D_DEVTLB_PFSID, vg_rd64(g->s, VIOMMU_VTD_REG_IQH), (uint64_t)(at + 2) << 4,
		   (uint64_t)at << 4, "IQH");
}

/* Interrupt-entry-cache descriptors: accepted (the VMM's interrupt remapping is told). */
static void c_iec(struct vg *g, struct vq_run *r)
{
	setup(g);
	vg_qi_sync(g, 4, 0);					/* global */
	vg_qi_sync(g, (uint64_t)0x20 << 32 | 3u << 27 | 0x10 | 4, 0);	/* 8 entries at 0x20 */
	st(g, r, "accepted");
	unsigned at = g->tail;

	vg_qi_sync(g, 4 | 0x100, 0);				/* reserved bit 8 */
	vq_obs_dev(r, D_IEC_RSVD, vg_rd32(g->s, VIOMMU_VTD_REG_FSTS), 0x10, 0, "FSTS");
	vq_obs_dev(r, D_IEC_RSVD, vg_rd64(g->s, VIOMMU_VTD_REG_IQH), (uint64_t)at << 4, (uint64_t)(at + 2) << 4,
		   "IQH");
}

/* Wait descriptors: status write, IF, FN, neither (deviation), status write failing (IQE). */
static void c_wait(struct vg *g, struct vq_run *r)
{
	setup(g);
	vg_qi_put_wait(g, 0x40);				/* FN */
	vg_qi_kick(g);
	vq_obs(r, vg_r32(g->s, g->status), "status FN");
	st(g, r, "FN");
	unsigned at = g->tail;

	vg_qi_put(g, 5, 0);
	vg_qi_kick(g);
	vq_obs_dev(r, D_WAIT_NONE, vg_rd32(g->s, VIOMMU_VTD_REG_FSTS), 0, 0x10, "FSTS no SW no IF");
	vq_obs_dev(r, D_WAIT_NONE, vg_rd64(g->s, VIOMMU_VTD_REG_IQH), (uint64_t)(at + 1) << 4, (uint64_t)at << 4,
		   "IQH no SW no IF");
}

static void c_wait_failures(struct vg *g, struct vq_run *r)
{
	setup(g);
	vg_qi_put(g, (uint64_t)1 << 32 | 0x20 | 5, NOWHERE);	/* status write fails */
	vg_qi_kick(g);
	st(g, r, "status to nowhere");
	vq_clear_faults(g->s);
	vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 0x10);
	vg_qi_kick(g);
	st(g, r, "again");
}

static void c_wait_reserved(struct vg *g, struct vq_run *r)
{
	setup(g);
	vg_qi_put(g, (uint64_t)1 << 32 | 0x20 | 5, g->status | 1);	/* status address bits 1:0 */
	vg_qi_kick(g);
	st(g, r, "status address bit 0");
}

/* Unknown, unsupported and reserved-bit descriptors: IQE at the descriptor. */
static void c_bad_descriptors(struct vg *g, struct vq_run *r)
{
	static const struct { uint64_t lo, hi; const char *what; } t[] = {
		{ 0, 0, "type 0" },
		{ 8, 0, "type 8" },
		{ 15, 0, "type 15" },
		{ 1, 0, "cc granularity 0" },
		{ 1 | 0x10 | 0x40, 0, "cc reserved bit 6" },
		{ 1 | 0x10, 1, "cc hi nonzero" },
		{ 1 | 0x10 | 0x200, 0, "cc type bit 9" },
		{ 2, 0, "iotlb granularity 0" },
		{ 2 | 0x10 | 0x100, 0, "iotlb reserved bit 8" },
		{ 2 | 0x30, 0x80, "iotlb hi bit 7" },
		{ 2 | 0x10 | UINT64_C(1) << 40, 0, "iotlb reserved bit 40" },
		{ 5 | 0x20 | 0x80, 0, "wait reserved bit 7" },
	};

	setup(g);
	for (size_t i = 0; i < VQ_N(t); i++) {
		unsigned at = g->tail;

		vg_qi_put(g, t[i].lo, t[i].hi);
		vg_qi_put_wait(g, 0);
		vg_qi_kick(g);
		st(g, r, t[i].what);
		/* fix it as Linux does: the bad descriptor becomes a wait; clear IQE; kick */
		uint64_t d[2] = { (uint64_t)0x55 << 32 | 0x20 | 5, g->status + 16 };

		g->s->mw(g->s, g->iq + at * 16, d, 16);
		vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 0x10);
		vg_qi_kick(g);
		st(g, r, "recovered");
	}
}

static void c_pasid_descriptors(struct vg *g, struct vq_run *r)
{
	setup(g);
	for (unsigned type = 6; type <= 7; type++) {
		unsigned at = g->tail;

		vg_qi_sync(g, type | 0x30, 0);
		vq_obs_dev(r, D_PASID_DESC, vg_rd32(g->s, VIOMMU_VTD_REG_FSTS), 0x10, 0, "FSTS type %u", type);
		vq_obs_dev(r, D_PASID_DESC, vg_rd64(g->s, VIOMMU_VTD_REG_IQH), (uint64_t)at << 4,
			   (uint64_t)(at + 2) << 4, "IQH type %u", type);
		uint64_t d[2] = { (uint64_t)0x55 << 32 | 0x20 | 5, g->status + 16 };

		g->s->mw(g->s, g->iq + at * 16, d, 16);
		vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 0x10);
		vg_qi_kick(g);
	}
}

/* A tail beyond the queue: IQE. The queue wraps at its end. */
static void c_queue_tail_wrap(struct vg *g, struct vq_run *r)
{
	setup(g);					/* 256 entries */
	vg_wr64(g->s, VIOMMU_VTD_REG_IQT, 256 << 4);
	st(g, r, "tail 256");
	vg_wr64(g->s, VIOMMU_VTD_REG_IQT, 0);
	vg_wr32(g->s, VIOMMU_VTD_REG_FSTS, 0x10);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 120; i++)
			vg_qi_put(g, vg_iotlb_page(DID), vg_iotlb_page_hi((uint64_t)i << 12, 0, false));
		vg_qi_put_wait(g, 0);
		vg_qi_kick(g);
		vq_obs(r, vg_r32(g->s, g->status) == g->seq, "status round %u", round);
		st(g, r, "round");
	}
}

/* TE off/on and SRTP drop every cached translation. */
static void c_cache_resets(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_RW);
	fill(g, DATA, 16, 100);
	fill(g, DATA + 0x1000, 16, 101);
	fill(g, DATA + 0x2000, 16, 102);
	probe(g, r, 0, 0x10000, 16, "first");
	vg_map(g, pt, 3, 0x10000, DATA + 0x1000, VG_SZ_4K, VG_RW);
	vg_te(g, false);
	vg_te(g, true);
	probe(g, r, 0, 0x10000, 16, "after TE off/on");
	vg_map(g, pt, 3, 0x10000, DATA + 0x2000, VG_SZ_4K, VG_RW);
	vg_root(g);
	probe(g, r, 0, 0x10000, 16, "after SRTP");
	st(g, r, "end");
}

/* Deviation: a write through a read-only entry the IOTLB holds. */
static void c_iotlb_hit_permission(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_R);
	fill(g, DATA, 16, 110);
	probe(g, r, 0, 0x10000, 16, "read");
	g->s->dma(g->s, 0, true, 0x10000, 0, 16);
	vq_obs_dev(r, D_IOTLB_PERM, vq_frcd_hi(vg_rd64(g->s, VIOMMU_VTD_REG_FRCD + 8)),
		   UINT64_C(0x8000000500000018), 0, "FRCD.hi write via cached R");
	vq_obs_mem(r, g->s, DATA, 16, "unchanged");
}

/* Deviation: an R-only leaf with a reserved bit, written. */
static void c_fault_priority(struct vg *g, struct vq_run *r)
{
	uint64_t pt = setup(g);

	vg_map(g, pt, 3, 0x10000, DATA, VG_SZ_4K, VG_R | VG_SNP);
	g->s->dma(g->s, 0, true, 0x10000, 0, 8);
	vq_obs_dev(r, D_FAULT_ORDER, vq_frcd_hi(vg_rd64(g->s, VIOMMU_VTD_REG_FRCD + 8)),
		   UINT64_C(0x8000000c00000018), UINT64_C(0x8000000500000018), "FRCD.hi");
}

struct vq_case {
	const char *name;
	struct vq_cfg cfg;
	void (*fn)(struct vg *g, struct vq_run *r);
	bool spec_only;		/* QEMU cannot run it (a deviation aborts or cannot be reached) */
};

static const struct vq_case cases[] = {
	{ "regs-reset", { 0 }, c_regs_reset, false },
	{ "regs-reset-cm-dt", { true, true, 0 }, c_regs_reset, false },
	{ "regs-reset-aw48", { false, false, 48 }, c_regs_reset, false },
	{ "regs-rw", { 0 }, c_regs_rw, false },
	{ "gcmd", { 0 }, c_gcmd, false },
	{ "reg-invalidation", { 0 }, c_reg_invalidation, false },
	{ "reg-invalidation-with-qi", { 0 }, c_reg_invalidation_qi, false },
	{ "frcd-w1c", { 0 }, c_frcd_w1c, false },
	{ "fault-event", { 0 }, c_fault_event, false },
	{ "completion-event", { 0 }, c_completion_event, false },
	{ "translate-4k", { 0 }, c_translate_4k, false },
	{ "translate-partial", { 0 }, c_translate_partial, false },
	{ "translate-2m-1g", { 0 }, c_translate_large, false },
	{ "translate-4level", { false, false, 48 }, c_translate_4level, false },
	{ "passthrough", { 0 }, c_passthrough, false },
	{ "translation-off", { 0 }, c_translation_off, false },
	{ "tt-devtlb", { false, true, 0 }, c_tt_devtlb, false },
	{ "context-invalid", { 0 }, c_context_invalid, false },
	{ "permissions", { 0 }, c_permissions, false },
	{ "root-context-not-present", { 0 }, c_root_not_present, false },
	{ "fpd", { 0 }, c_fpd, false },
	{ "beyond-mgaw", { 0 }, c_beyond_mgaw, false },
	{ "reserved-root-context", { 0 }, c_reserved_root_context, false },
	{ "reserved-pte", { 0 }, c_reserved_pte, false },
	{ "read-errors", { 0 }, c_read_errors, false },
	{ "fault-records", { 0 }, c_fault_records, false },
	{ "window", { 0 }, c_window, false },
	{ "window-output", { 0 }, c_window_output, false },
	{ "window-large-leaf", { 0 }, c_window_large_leaf, false },
	{ "caching-mode", { true, false, 0 }, c_caching_mode, false },
	{ "stale-iotlb", { 0 }, c_stale_iotlb, false },
	{ "psi-masks", { 0 }, c_psi_masks, false },
	{ "psi-large-leaf", { 0 }, c_psi_large, false },
	{ "psi-am-above-mamv", { 0 }, c_psi_am_too_big, false },
	{ "iqe-resume", { 0 }, c_iqe_resume, false },
	{ "dsi-global", { 0 }, c_dsi_global, false },
	{ "context-cache", { 0 }, c_context_cache, false },
	{ "context-device-fm", { 0 }, c_context_device_fm, false },
	{ "devtlb", { false, true, 0 }, c_devtlb, false },
	{ "devtlb-without-dt", { 0 }, c_devtlb_no_dt, false },
	{ "devtlb-pfsid", { false, true, 0 }, c_devtlb_pfsid, false },
	{ "iec", { 0 }, c_iec, false },
	{ "wait", { 0 }, c_wait, false },
	{ "wait-failures", { 0 }, c_wait_failures, false },
	{ "wait-reserved", { 0 }, c_wait_reserved, false },
	{ "bad-descriptors", { 0 }, c_bad_descriptors, false },
	{ "pasid-descriptors", { 0 }, c_pasid_descriptors, false },
	{ "queue-tail-wrap", { 0 }, c_queue_tail_wrap, false },
	{ "cache-resets", { 0 }, c_cache_resets, false },
	{ "iotlb-hit-permission", { 0 }, c_iotlb_hit_permission, false },
	{ "fault-priority", { 0 }, c_fault_priority, false },
};

static int run_side(const struct vq_case *c, struct vg_side *s, struct vq_run *r)
{
	struct vg g;

	vg_init(&g, s, TABLES, DATA);
	c->fn(&g, r);
	return s->broken ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned mismatches = 0, devs = 0, unconfirmed = 0, ncases = 0, nobs = 0, broken = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	if (!qt_qemu_available())
		return qt_missing_status();
	for (size_t i = 0; i < VQ_N(cases); i++) {
		const struct vq_case *c = &cases[i];
		struct vq_run rq = { .is_qemu = true }, rm = { 0 };
		struct vg_qemu *q;
		struct vg_model *m;
		unsigned bad;

		if (only && !strstr(c->name, only))
			continue;
		ncases++;
		q = vq_new(&c->cfg);
		m = vq_model_new(&c->cfg);
		if (!q || !m) {
			fprintf(stderr, "case %s: cannot start %s\n", c->name, q ? "the model" : "QEMU");
			broken++;
			vq_free(q);
			vg_model_free(m);
			continue;
		}
		if (run_side(c, &q->side, &rq) || run_side(c, &m->side, &rm)) {
			fprintf(stderr, "case %s: a side failed (qemu %d, viommu %d)\n", c->name, q->side.broken,
				m->side.broken);
			broken++;
		}
		bad = vq_compare(c->name, &rq, &rm, deviations, &devs, &unconfirmed);
		if (getenv("VIOMMU_VTD_DUMP"))
			for (size_t k = 0; k < rq.n; k++)
				printf("  %s = %#llx\n", rq.o[k].label, (unsigned long long)rq.o[k].val);
		printf("case %-28s %3zu observations %s\n", c->name, rm.n, bad ? "MISMATCH" : "equal");
		mismatches += bad;
		nobs += (unsigned)rm.n;
		T_EQ(bad, 0);
		vq_run_free(&rq);
		vq_run_free(&rm);
		vq_free(q);
		vg_model_free(m);
	}
	T_EQ(broken, 0);
	T_EQ(unconfirmed, 0);
	printf("vtd-vs-qemu: %u cases, %u observations, %u mismatches, %u deviation observations "
	       "(%zu named deviations), %u unconfirmed\n", ncases, nobs, mismatches, devs, VQ_N(deviations),
	       unconfirmed);
	return t_done();
}
