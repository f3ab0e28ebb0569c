// SPDX-License-Identifier: MIT
/*
 * Guest page-table walk fed arbitrary table bytes: the input picks a format
 * and geometry, then becomes guest memory (at guest-physical 0, root at 0) and
 * a few probe addresses. For each probe, viommu_pgtable_walk() must not crash
 * or hang (at most one read per level), and its result must equal a
 * deliberately plain reference walker written below from the VT-d ("Second-
 * Stage Paging Entries"), Arm (VMSAv8-64 descriptors) and AMD ("I/O Page
 * Tables for Host Translations") specifications, without any of the engine's
 * tables or helpers.
 *
 * Input: [fmt] [geometry] [out_bits] [4 x 8-byte iova] [access bits] memory...
 * fmt % 3: 0 VT-d (AMD v1 if bit 7 is set too), 1 ARM S1, 2 ARM S2.
 */
#include <errno.h>

#include <viommu/pgtable.h>

#include "fuzz.h"

struct mem {
	const uint8_t *p;
	size_t n;
	unsigned reads;
};

static int mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct mem *m = ctx;
	m->reads++;
	if (gpa >= m->n || m->n - gpa < len)
		return -EFAULT;
	memcpy(buf, m->p + gpa, len);
	return 0;
}

struct ref {
	enum viommu_pt_fault fault;
	int level;		/* format numbering */
	uint8_t reason;
	uint64_t phys, size, entry_addr;
	unsigned perm;
};

static uint64_t bits(unsigned hi, unsigned lo)	/* mask of bits hi..lo, hi < 64 */
{
	uint64_t m = hi >= 63 ? UINT64_MAX : (UINT64_C(1) << (hi + 1)) - 1;
	return m & ~((UINT64_C(1) << lo) - 1);
}

static uint8_t vtd_reason(enum viommu_pt_fault f, unsigned access, int root)
{
	switch (f) {
	case VIOMMU_PT_FAULT_INPUT_RANGE: return 4;
	case VIOMMU_PT_FAULT_TRANSLATION:
	case VIOMMU_PT_FAULT_PERMISSION: return (access & 2) ? 5 : 6;
	case VIOMMU_PT_FAULT_RESERVED:
	case VIOMMU_PT_FAULT_ADDR_SIZE: return 0xC;
	case VIOMMU_PT_FAULT_WALK_ABORT: return root ? 3 : 7;
	default: return 0;
	}
}

/* The reference: levels counted top-down as the specifications do. */
static void ref_walk(int vtd, int s1, unsigned gs, unsigned nlevels, unsigned in_bits, unsigned out_bits, uint64_t bitmap,
		     const struct mem *m, uint64_t iova, unsigned access, struct ref *r)
{
	unsigned bpl = gs - 3, top_bits = vtd ? 9 : in_bits - gs - (nlevels - 1) * bpl;
	unsigned prot = 7;
	uint64_t table;

	memset(r, 0, sizeof(*r));
#define LVL(l) (vtd ? (int)(l) + 1 : 3 - (int)(l))
#define FAULT(f, l, a) do { r->fault = (f); r->level = LVL(l); r->entry_addr = (a); \
	r->reason = vtd ? vtd_reason((f), access, (unsigned)(l) == nlevels - 1) : 0; return; } while (0)
	if (iova >> in_bits)
		FAULT(VIOMMU_PT_FAULT_INPUT_RANGE, nlevels - 1, 0);
	table = 0;
	for (int l = (int)nlevels - 1; l >= 0; l--) {
		unsigned sh = gs + (unsigned)l * bpl;
		unsigned nb = l == (int)nlevels - 1 ? top_bits : bpl;
		uint64_t idx = (iova >> sh) & ((UINT64_C(1) << nb) - 1);
		uint64_t addr = table + idx * 8, e, size = UINT64_C(1) << sh;

		if (addr >= m->n || m->n - addr < 8)
			FAULT(VIOMMU_PT_FAULT_WALK_ABORT, l, addr);
		memcpy(&e, m->p + addr, 8);
		if (vtd) {
			int leaf = l == 0 || (e & 0x80);
			if (!(e & 3))
				FAULT(VIOMMU_PT_FAULT_TRANSLATION, l, addr);
			if (e & bits(51, out_bits))
				FAULT(VIOMMU_PT_FAULT_RESERVED, l, addr);
			if (!leaf) {
				if (e & 0x800)
					FAULT(VIOMMU_PT_FAULT_RESERVED, l, addr);
				prot &= (unsigned)(e & 3) | 4;
				table = e & bits(out_bits - 1, 12);
				continue;
			}
			if (l > 0 && (!(bitmap & size) || (e & bits(sh - 1, 12))))
				FAULT(VIOMMU_PT_FAULT_RESERVED, l, addr);
			prot &= (unsigned)(e & 3) | ((e & 0x800) ? 4 : 0);
		} else {
			int is_table = l > 0 && (e & 3) == 3;
			if (!(e & 1))
				FAULT(VIOMMU_PT_FAULT_TRANSLATION, l, addr);
			if (!is_table) {
				int blocks_here = gs == 12 ? l <= 2 : l <= 1;
				if ((l == 0 && (e & 3) != 3) || !blocks_here)
					FAULT(VIOMMU_PT_FAULT_TRANSLATION, l, addr);
			}
			if (e & (bits(51, out_bits) | bits(gs - 1, 12)))
				FAULT(VIOMMU_PT_FAULT_ADDR_SIZE, l, addr);
			if (is_table) {
				if (s1 && (e >> 62 & 1))
					prot &= ~2u;
				table = e & bits(out_bits - 1, gs);
				continue;
			}
			if (!(e & (1u << 10)))
				FAULT(VIOMMU_PT_FAULT_ACCESS_FLAG, l, addr);
			if (s1)
				prot &= 1u | ((e & 0x80) ? 0 : 2u) | (((e >> 2) & 7) == 1 ? 4u : 0);
			else
				prot &= ((e >> 6) & 1 ? 1u : 0) | ((e >> 7) & 1 ? 2u : 0) | (((e >> 2) & 0xf) == 0xf ? 4u : 0);
		}
		if (access & 3 & ~prot)
			FAULT(VIOMMU_PT_FAULT_PERMISSION, l, addr);
		r->fault = VIOMMU_PT_FAULT_NONE;
		r->level = LVL(l);
		r->size = size;
		r->phys = (e & bits(out_bits - 1, gs) & ~(size - 1)) | (iova & (size - 1));
		r->perm = prot;
		r->entry_addr = addr;
		return;
	}
#undef FAULT
#undef LVL
	FZ_CHECK(0);
}

/*
 * AMD v1 reference, AMD level numbering (1 = 4K PTEs, root = mode): PR, the
 * reserved bits 58:52, then a PDE (Next Level 1..6 above level 1) checks
 * its address, that NL is below the current level and that skipped levels'
 * address bits are zero; a PTE is NL 0 (default size, low address bits
 * clear) or NL 7 (size from the run of ones at bit 12: above one entry, at
 * most the table), anything else at level 1 is an illegal level.
 */
static void ref_walk_amd(unsigned mode, unsigned in_bits, unsigned out_bits, unsigned deny, const struct mem *m,
			 uint64_t iova, unsigned access, struct ref *r)
{
	unsigned prot = 7u & ~deny, lvl = mode;
	uint64_t table = 0;

	memset(r, 0, sizeof(*r));
#define FAULT(f, l, a) do { r->fault = (f); r->level = (int)(l); r->entry_addr = (a); return; } while (0)
	if (in_bits < 64 && (iova >> in_bits))
		FAULT(VIOMMU_PT_FAULT_INPUT_RANGE, mode, 0);
	for (;;) {
		unsigned sh = 12 + 9 * (lvl - 1);
		unsigned nb = lvl == mode && 64 - sh < 9 ? 64 - sh : 9;
		uint64_t addr = table + ((iova >> sh) & ((UINT64_C(1) << nb) - 1)) * 8, e;
		unsigned nl, psh;

		if (addr >= m->n || m->n - addr < 8)
			FAULT(VIOMMU_PT_FAULT_WALK_ABORT, lvl, addr);
		memcpy(&e, m->p + addr, 8);
		if (!(e & 1))
			FAULT(VIOMMU_PT_FAULT_TRANSLATION, lvl, addr);
		if (e & bits(58, 52))
			FAULT(VIOMMU_PT_FAULT_RESERVED, lvl, addr);
		nl = (unsigned)(e >> 9) & 7;
		if (nl >= 1 && nl <= 6 && lvl > 1) {
			if (e & bits(51, out_bits))
				FAULT(VIOMMU_PT_FAULT_ADDR_SIZE, lvl, addr);
			if (nl >= lvl)
				FAULT(VIOMMU_PT_FAULT_LEVEL, lvl, addr);
			for (unsigned b = 12 + 9 * nl; b < sh; b++)
				if ((iova >> b) & 1)
					FAULT(VIOMMU_PT_FAULT_TRANSLATION, lvl, addr);
			prot &= (unsigned)((e >> 61) & 3) | 4;
			table = e & bits(out_bits - 1, 12);
			lvl = nl;
			continue;
		}
		if (nl != 0 && nl != 7)
			FAULT(VIOMMU_PT_FAULT_LEVEL, lvl, addr);
		psh = sh;
		if (nl == 7) {
			psh = 13;
			while (psh < 53 && ((e >> (psh - 1)) & 1))
				psh++;
			if (psh <= sh || psh > sh + nb || psh > 52)
				FAULT(VIOMMU_PT_FAULT_RESERVED, lvl, addr);
		} else if (sh > 12 && (e & bits(sh - 1, 12))) {
			FAULT(VIOMMU_PT_FAULT_RESERVED, lvl, addr);
		}
		if (e & bits(51, out_bits) & ~((UINT64_C(1) << psh) - 1))
			FAULT(VIOMMU_PT_FAULT_ADDR_SIZE, lvl, addr);
		prot &= (unsigned)((e >> 61) & 3) | ((e >> 60) & 1 ? 4u : 0);
		if (access & 3 & ~prot)
			FAULT(VIOMMU_PT_FAULT_PERMISSION, lvl, addr);
		r->fault = VIOMMU_PT_FAULT_NONE;
		r->level = (int)lvl;
		r->size = UINT64_C(1) << psh;
		r->phys = (e & bits(out_bits - 1, 12) & ~(r->size - 1)) | (iova & (r->size - 1));
		r->perm = prot;
		r->entry_addr = addr;
		return;
	}
#undef FAULT
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct viommu_pgtable_opts o;
	uint8_t sel = fz_u8(&in), geo = fz_u8(&in), out_bitsb = fz_u8(&in);
	uint64_t iovas[4];
	uint8_t acc;
	int vtd, s1, amd;
	unsigned gs, levels, in_bits, out_bits;
	uint64_t bitmap;

	for (int i = 0; i < 4; i++)
		iovas[i] = fz_u64(&in);
	acc = fz_u8(&in);

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	switch (sel % 3) {
	case 0: o.format = VIOMMU_PT_VTD_SL; break;
	case 1: o.format = VIOMMU_PT_ARM_S1; break;
	default: o.format = VIOMMU_PT_ARM_S2; break;
	}
	amd = sel % 3 == 0 && (sel & 0x80);
	if (amd)
		o.format = VIOMMU_PT_AMD_V1;
	vtd = o.format == VIOMMU_PT_VTD_SL;
	s1 = o.format == VIOMMU_PT_ARM_S1;
	if (amd) {
		gs = 12;
		levels = 1 + geo % 6;
		o.levels = levels;
		in_bits = 12 + 9 * levels > 64 ? 64 : 12 + 9 * levels;
		if ((geo & 0x10) && in_bits - 1 - (geo >> 5) >= 21) {
			in_bits -= 1 + (geo >> 5);
			o.in_bits = in_bits;
		}
		out_bits = 32 + out_bitsb % 21;
		o.root_deny = (sel >> 2) & 3;	/* the DTE's IR/IW */
		bitmap = 0;
	} else if (vtd) {
		gs = 12;
		levels = 3 + geo % 3;
		o.levels = levels;
		in_bits = 12 + 9 * levels;
		if (geo & 0x10) {	/* MGAW below AGAW */
			in_bits -= 1 + (geo >> 5);
			o.in_bits = in_bits;
		}
		out_bits = 39 + out_bitsb % 14;
		bitmap = (sel & 0x40) ? 0x201000 : 0x40201000;
		o.pgsize_bitmap = bitmap;
	} else {
		static const unsigned g[3] = { 12, 14, 16 };
		gs = g[(sel >> 2) % 3];
		o.granule = 1u << gs;
		in_bits = 25 + geo % 24;
		o.in_bits = in_bits;
		out_bits = 32 + out_bitsb % 17;
		levels = (in_bits - gs + (gs - 3) - 1) / (gs - 3);
		bitmap = 0;
	}
	o.out_bits = out_bits;
	struct mem m = { in.p, in.n, 0 };
	for (int i = 0; i < 4; i++) {
		struct viommu_pt_walk_result res;
		struct ref r;
		unsigned access = (acc >> (2 * i)) & 3;
		/* Keep most probes inside the input width so the tables matter. */
		uint64_t iova = (acc & 0x80) || in_bits >= 64 ? iovas[i] : iovas[i] & ((UINT64_C(1) << in_bits) - 1);
		int rc;

		m.reads = 0;
		rc = viommu_pgtable_walk(&o, 0, mem_read, &m, iova, access, &res);
		FZ_CHECK(rc == 0 || rc == -EFAULT);
		FZ_CHECK(m.reads <= levels);
		if (amd)
			ref_walk_amd(levels, in_bits, out_bits, o.root_deny, &m, iova, access, &r);
		else
			ref_walk(vtd, s1, gs, levels, in_bits, out_bits, bitmap, &m, iova, access, &r);
		FZ_CHECK(res.fault == r.fault);
		FZ_CHECK((rc == 0) == (r.fault == VIOMMU_PT_FAULT_NONE));
		FZ_CHECK(res.level == r.level);
		FZ_CHECK(res.vtd_reason == r.reason);
		FZ_CHECK(res.entry_addr == r.entry_addr);
		if (rc == 0) {
			FZ_CHECK(res.phys == r.phys);
			FZ_CHECK(res.size == r.size);
			FZ_CHECK(res.perm == r.perm);
			FZ_CHECK(res.leaf_iova == (iova & ~(r.size - 1)));
		}
	}
	return 0;
}
