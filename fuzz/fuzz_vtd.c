// SPDX-License-Identifier: MIT
/*
 * Model-based fuzz target for the VT-d unit: the input is a configuration
 * byte and a stream of operations a hostile guest and its devices can do:
 * MMIO writes and reads of any offset, size and value, guest memory writes
 * (tables, queue, anything), structured table and descriptor writes that
 * reach deep states quickly, translations and DMAs by several requesters,
 * listener registration.
 *
 * Checked against a trivially correct model:
 *  - after every operation the register file keeps its invariants: reserved
 *    bits read 0, CAP/ECAP/VER never change, FSTS.PPF is the OR of the
 *    records' F bits, FRI names a record, IQH stays inside the queue;
 *  - whenever the unit's caches were just dropped (the harness sets SRTP,
 *    which resets them) and guest memory has not been written since, every
 *    translation equals a reference walk of guest memory written here from
 *    the VT-d spec with no cache at all: kind, output page, permissions, or
 *    the fault reason;
 *  - after a register-based global context and IOTLB invalidation (QI off),
 *    a listener's view (MAP/UNMAP/CHANGE applied to a list of extents) equals
 *    the reference walk at every probe address, unless the sync refused
 *    unreadable tables (counted).
 * Nothing may crash, hang or leak (ASan, the replay's timeout).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/vtd.h>

#include "fuzz.h"

#define RAM (UINT64_C(1) << 20)
#define NSID 4
static const uint16_t sids[NSID] = { 0x0018, 0x0019, 0x0020, 0x0100 };

static unsigned char ram[RAM];

static int g_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	if (gpa >= RAM || len > RAM - gpa)
		return -EFAULT;
	memcpy(buf, ram + gpa, len);
	return 0;
}

static int g_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	if (gpa >= RAM || len > RAM - gpa)
		return -EFAULT;
	memcpy(ram + gpa, buf, len);
	return 0;
}

static void g_msi(void *ctx, uint64_t addr, uint32_t data) {}
static void g_irq(void *ctx, uint16_t sid, uint64_t addr, uint32_t data) {}

static bool rd_ok(uint64_t gpa, uint64_t *v)
{
	return g_read(NULL, gpa, v, 8) == 0;
}

/* ---- the reference: VT-d legacy translation from the spec, no caches ---- */

struct cfg {
	unsigned aw, haw;
	bool cm, dt, qi;
	unsigned nfr;
};

struct ref {
	int kind;		/* 0 fault, 1 memory, 2 interrupt */
	uint8_t reason;
	uint64_t out;		/* output of the iova */
	unsigned perm;
};

static struct ref ref_fault(uint8_t r) { return (struct ref){ 0, r, 0, 0 }; }

/* @access 0: the view (no permission fault, walk faults are holes). */
static struct ref reference(const struct cfg *c, bool te, uint64_t root, uint16_t sid, uint64_t iova,
			    unsigned access)
{
	uint64_t hawm = (UINT64_C(1) << c->haw) - 1, re[2], ce[2];
	unsigned sagaw = 0x2u | (c->aw >= 48 ? 0x4u : 0);

	if (iova >= 0xfee00000 && iova <= 0xfeefffff)
		return (struct ref){ 2, 0, 0, 0 };
	if (!te)
		return (struct ref){ 1, 0, iova, 3 };
	if (!rd_ok(root + (sid >> 8) * 16, &re[0]) || !rd_ok(root + (sid >> 8) * 16 + 8, &re[1]))
		return ref_fault(0x8);
	if (!(re[0] & 1))
		return ref_fault(0x1);
	if (re[1] || (re[0] & (0xffe | ~hawm)))
		return ref_fault(0xA);
	uint64_t ca = (re[0] & ~UINT64_C(0xfff)) + (sid & 0xff) * 16;

	if (!rd_ok(ca, &ce[0]) || !rd_ok(ca + 8, &ce[1]))
		return ref_fault(0x9);
	if (!(ce[0] & 1))
		return ref_fault(0x2);
	if ((ce[0] & (0xff0 | ~hawm)) || (ce[1] & UINT64_C(0xffffffffff000080)))
		return ref_fault(0xB);
	unsigned aw = ce[1] & 7, tt = (ce[0] >> 2) & 3;

	if (!(sagaw & (1u << aw)) || tt == 3 || (tt == 1 && !c->dt))
		return ref_fault(0x3);
	if (tt == 2)
		return (struct ref){ 1, 0, iova, 3 };
	unsigned levels = aw + 2, in = c->aw < 30 + 9 * aw ? c->aw : 30 + 9 * aw;

	if (iova >> in)
		return ref_fault(0x4);
	uint64_t table = ce[0] & ~UINT64_C(0xfff), e = 0, size = 0x1000;
	unsigned perm = 3;

	for (unsigned l = levels; l >= 1; l--) {
		uint64_t a = table + ((iova >> (12 + 9 * (l - 1))) & 511) * 8;
		bool leaf;

		if (!rd_ok(a, &e))
			return ref_fault(l == levels ? 0x3 : 0x7);
		if (!(e & 3))
			return ref_fault(access & 2 ? 0x5 : 0x6);
		leaf = l == 1 || (e & 0x80);
		size = UINT64_C(1) << (12 + 9 * (l - 1));
		/* reserved: address bits >= HAW, SNP (no ECAP.SC), TM (no DT, or not a leaf), PS above 1G, large-page low bits */
		if ((e & (UINT64_C(0x000ffffffffff000) & ~hawm)) || (e & 0x800) ||
		    ((e >> 62 & 1) && (!c->dt || !leaf)) || (leaf && l > 3) ||
		    (leaf && l > 1 && (e & (size - 1) & ~UINT64_C(0xfff))))
			return ref_fault(0xC);
		perm &= (unsigned)(e & 3);
		if (leaf)
			break;
		table = e & UINT64_C(0x000ffffffffff000);
	}
	if (access & ~perm)
		return ref_fault(access & 2 ? 0x5 : 0x6);
	uint64_t out = (e & UINT64_C(0x000ffffffffff000) & ~(size - 1)) | (iova & (size - 1));

	if (out >= 0xfee00000 && out <= 0xfeefffff)
		return ref_fault(0xE);
	return (struct ref){ 1, 0, out, perm };
}

/* ---- a listener's view as a list of extents -------------------------------- */

#define MAXEXT 4096
struct ext {
	uint64_t first, last, out;
	unsigned perm;
};
static struct ext ext[MAXEXT];
static size_t next_;

static void ext_remove(uint64_t first, uint64_t last)
{
	for (size_t i = 0; i < next_; i++) {
		if (ext[i].first == first && ext[i].last == last) {
			ext[i] = ext[--next_];
			return;
		}
	}
	FZ_CHECK(!"UNMAP/CHANGE of an extent never announced");
}

static void ext_add(uint64_t first, uint64_t last, uint64_t out, unsigned perm)
{
	for (size_t i = 0; i < next_; i++)
		FZ_CHECK(ext[i].last < first || ext[i].first > last);
	FZ_CHECK(next_ < MAXEXT);
	FZ_CHECK(!(last >= 0xfee00000 && first <= 0xfeefffff));	/* the window is never reported */
	ext[next_++] = (struct ext){ first, last, out, perm };
}

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *e)
{
	struct viommu_iommu_piece_iter it;

	switch (e->kind) {
	case VIOMMU_IOMMU_EV_MAP:
		ext_add(e->first, e->last, e->out, e->perm);
		break;
	case VIOMMU_IOMMU_EV_UNMAP:
		ext_remove(e->first, e->last);
		break;
	case VIOMMU_IOMMU_EV_CHANGE:
		ext_remove(e->first, e->last);
		viommu_iommu_event_for_each_new(&it, e)
			ext_add(it.piece.first, it.piece.last, it.piece.out, it.piece.perm);
		break;
	default:
		break;
	}
}

static const struct ext *ext_find(uint64_t a)
{
	for (size_t i = 0; i < next_; i++)
		if (a >= ext[i].first && a <= ext[i].last)
			return &ext[i];
	return NULL;
}

/* ---- the harness ------------------------------------------------------------- */

struct h {
	struct viommu_vtd *v;
	struct cfg c;
	uint64_t root;		/* RTADDR as latched by the harness's last SRTP */
	bool clean;		/* caches dropped and guest memory unchanged since */
	bool root_known;
	unsigned qtail;
	struct viommu_iommu_listener l;
	bool listening;
	uint16_t lsid;
};

static uint64_t mmio_rd(struct h *h, unsigned off, unsigned size)
{
	uint64_t v = 0;

	FZ_CHECK(viommu_vtd_mmio_read(h->v, off, size, &v) == 0);
	return v;
}

static void invariants(struct h *h, uint64_t cap, uint64_t ecap)
{
	uint32_t gsts = (uint32_t)mmio_rd(h, 0x1c, 4), fsts = (uint32_t)mmio_rd(h, 0x34, 4);
	bool anyf = false;

	FZ_CHECK(mmio_rd(h, 0x00, 4) == 0x10);
	FZ_CHECK(mmio_rd(h, 0x08, 8) == cap);
	FZ_CHECK(mmio_rd(h, 0x10, 8) == ecap);
	FZ_CHECK(mmio_rd(h, 0x18, 4) == 0);
	FZ_CHECK(!(gsts & ~0xc7000000u));
	FZ_CHECK(!(fsts & ~0xff13u));
	FZ_CHECK(((fsts >> 8) & 0xff) < h->c.nfr);
	FZ_CHECK(!(mmio_rd(h, 0x38, 4) & ~0xc0000000u));
	FZ_CHECK(mmio_rd(h, 0x3c, 4) <= 0xffff);
	FZ_CHECK(!(mmio_rd(h, 0x40, 4) & 3));
	FZ_CHECK(mmio_rd(h, 0x44, 4) == 0);
	FZ_CHECK(!(mmio_rd(h, 0x20, 8) & 0x3ff));
	FZ_CHECK(!(mmio_rd(h, 0x28, 8) & UINT64_C(0x00000003ffff0000)));
	FZ_CHECK(!(mmio_rd(h, 0x80, 8) & ~UINT64_C(0x7fff0)));
	FZ_CHECK(!(mmio_rd(h, 0x88, 8) & ~UINT64_C(0x7fff0)));
	FZ_CHECK(!(mmio_rd(h, 0x90, 8) & UINT64_C(0xff8)));
	FZ_CHECK(!(mmio_rd(h, 0x9c, 4) & ~1u));
	FZ_CHECK(!(mmio_rd(h, 0xa0, 4) & ~0xc0000000u));
	FZ_CHECK(mmio_rd(h, 0xa4, 4) <= 0xffff);
	FZ_CHECK(mmio_rd(h, 0xf0, 8) == 0);
	FZ_CHECK(!(mmio_rd(h, 0xf8, 8) & ~UINT64_C(0xb603ffff00000000)));
	for (unsigned i = 0; i < h->c.nfr; i++) {
		uint64_t lo = mmio_rd(h, 0x220 + 16 * i, 8), hi = mmio_rd(h, 0x228 + 16 * i, 8);

		FZ_CHECK(!(lo & 0xfff));
		FZ_CHECK(!(hi & UINT64_C(0x0fffff00ffff0000)));
		anyf |= hi >> 63;
	}
	FZ_CHECK(!!(fsts & 2) == anyf);
	if (gsts & (1u << 26)) {
		uint64_t iqa = mmio_rd(h, 0x90, 8);

		(void)iqa;
		FZ_CHECK((mmio_rd(h, 0x80, 8) >> 4) < 32768);
	}
}

/* SRTP with the persistent bits as they are: every cache is dropped, the root latched. */
static void flush(struct h *h)
{
	uint32_t gsts = (uint32_t)mmio_rd(h, 0x1c, 4);

	h->root = mmio_rd(h, 0x20, 8) & ((UINT64_C(1) << h->c.haw) - 1) & ~UINT64_C(0xfff);
	FZ_CHECK(viommu_vtd_mmio_write(h->v, 0x18, 4, (gsts & 0x86000000u) | (1u << 30)) == 0);
	h->root_known = true;
	h->clean = true;
}

static void check_translate(struct h *h, uint16_t sid, uint64_t iova, unsigned access, unsigned flags)
{
	struct viommu_vtd_xlat x;
	int r = viommu_vtd_translate(h->v, sid, iova, access, flags, &x);
	bool te = mmio_rd(h, 0x1c, 4) >> 31;

	FZ_CHECK(r == 0 || r == -EFAULT);
	if (!r && x.kind == VIOMMU_VTD_XLAT_MEMORY) {
		FZ_CHECK(x.first <= iova && iova <= x.last);
		FZ_CHECK(!flags ? (x.perm & access) == access : true);
	}
	if (!h->clean || !h->root_known || flags)
		return;
	struct ref e = reference(&h->c, te, h->root, sid, iova, access);

	if (e.kind == 2) {
		FZ_CHECK(r == 0 && x.kind == VIOMMU_VTD_XLAT_INTERRUPT);
	} else if (e.kind == 1) {
		FZ_CHECK(r == 0 && x.kind == VIOMMU_VTD_XLAT_MEMORY);
		FZ_CHECK(x.out + (iova - x.first) == e.out);
		if (te)
			FZ_CHECK(x.perm == e.perm || (e.perm == 3 && x.perm == 3));
	} else {
		FZ_CHECK(r == -EFAULT);
		FZ_CHECK(x.fault == e.reason);
	}
}

/* Register-based global context and IOTLB invalidation (QI off): the listener's view must be the guest's. */
static void check_view(struct h *h, uint64_t *probes, size_t n)
{
	struct viommu_vtd_stats a = { .sz = sizeof(a) }, b = { .sz = sizeof(b) };
	uint32_t gsts = (uint32_t)mmio_rd(h, 0x1c, 4);

	if (!h->listening || (gsts & (1u << 26)) || !h->root_known)
		return;
	/* the harness's root must still be the unit's: set it again */
	flush(h);
	viommu_vtd_get_stats(h->v, &a);
	viommu_vtd_mmio_write(h->v, 0x28, 8, UINT64_C(0xa000000000000000));	/* ICC, global */
	viommu_vtd_mmio_write(h->v, 0xf8, 8, UINT64_C(0x9000000000000000));	/* IVT, global */
	viommu_vtd_get_stats(h->v, &b);
	if (b.sync_errors != a.sync_errors)
		return;		/* unreadable tables: the view was kept, as documented */
	for (size_t i = 0; i < n; i++) {
		struct ref e = reference(&h->c, gsts >> 31, h->root, h->lsid, probes[i], 0);
		const struct ext *x = ext_find(probes[i]);
		bool mapped = e.kind == 1 && e.perm && e.out >> h->c.haw == 0 &&
			      !(e.out >= 0xfee00000 && e.out <= 0xfeefffff);

		if (e.kind == 1 && (gsts >> 31) == 0 && probes[i] >> h->c.haw)
			mapped = false;
		FZ_CHECK(mapped == (x != NULL));
		if (x) {
			FZ_CHECK(x->out + (probes[i] - x->first) == e.out);
			FZ_CHECK(x->perm == e.perm);
		}
	}
}

/* An IOVA from the input (each read its own statement: argument order is unspecified in C). */
static uint64_t pick_iova(struct fz_in *in)
{
	uint64_t a, b;

	switch (fz_u8(in) & 7) {
	case 0:
		return 0xfee00000 + (fz_u32(in) & 0xfffff);
	case 1:
		return fz_u64(in);
	case 2:
		a = fz_u8(in);
		b = fz_u32(in);
		return a << 21 | (b & 0xfff);
	case 3:
		a = fz_u8(in);
		b = fz_u8(in);
		return (a & 3) << 30 | (b & 15) << 12;
	default:
		a = fz_u8(in);
		b = fz_u8(in);
		return a << 12 | b;
	}
}

static const unsigned offs[] = { 0x18, 0x20, 0x24, 0x28, 0x2c, 0x34, 0x38, 0x3c, 0x40, 0x44, 0x80, 0x88, 0x8c,
				  0x90, 0x94, 0x9c, 0xa0, 0xa4, 0xa8, 0xb8, 0xf0, 0xf4, 0xf8, 0xfc, 0x220, 0x228,
				  0x22c, 0x230, 0x238 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t c0 = fz_u8(&in);
	struct h h;
	struct viommu_vtd_opts o = { .sz = sizeof(o), .read = g_read, .write = g_write, .msi = g_msi,
				     .interrupt = g_irq };
	uint64_t probes[32];
	unsigned ops = 0;

	memset(&h, 0, sizeof(h));
	memset(ram, 0, sizeof(ram));
	next_ = 0;
	h.c.cm = c0 & 1;
	h.c.dt = c0 & 2;
	h.c.qi = !(c0 & 4);
	h.c.aw = c0 & 8 ? 48 : 39;
	h.c.haw = h.c.aw;
	h.c.nfr = 1 + ((c0 >> 4) & 3);
	o.caching_mode = h.c.cm;
	o.device_iotlb = h.c.dt;
	o.no_qi = !h.c.qi;
	o.aw_bits = h.c.aw;
	o.nfr = h.c.nfr;
	o.iotlb_entries = 16 + ((c0 >> 6) & 3) * 64;	/* small: evictions happen */
	o.max_sync_reads = 1024;			/* aliased tables hit it; inputs stay fast */
	h.v = viommu_vtd_new(&o);
	FZ_CHECK(h.v);
	uint64_t cap = viommu_vtd_cap(h.v), ecap = viommu_vtd_ecap(h.v);

	for (size_t i = 0; i < 32; i++)
		probes[i] = (uint64_t)(i & 7) << 12 | (uint64_t)(i >> 3) << 21;
	h.l.sz = sizeof(h.l);
	h.l.last = UINT64_MAX;
	h.l.kinds = VIOMMU_IOMMU_EV_ALL & ~VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP;
	h.l.caps = VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE;
	h.l.notify = on_event;
	while (fz_left(&in) && ops++ < 4096) {
		uint8_t op = fz_u8(&in);
		static const uint8_t kinds[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 6, 7, 2, 11 };

		/* the low nibble picks the operation, the high one holds its flags */
		switch (kinds[op & 0xf]) {
		case 0: {	/* MMIO write anywhere */
			unsigned off = op & 0x80 ? offs[fz_u8(&in) % (sizeof(offs) / sizeof(offs[0]))] :
						  (fz_u32(&in) & 0xffc);
			unsigned sz = (op & 0x40) && !(off & 7) ? 8 : 4;
			uint64_t v = fz_u64(&in);

			FZ_CHECK(viommu_vtd_mmio_write(h.v, off, sz, v) == 0);
			h.clean = false;
			break;
		}
		case 1: {	/* MMIO read, bad accesses refused */
			uint64_t v;
			unsigned off = fz_u32(&in) & 0x1fff, sz = op & 0x10 ? 8 : (op & 0x20 ? 2 : 4);
			int r = viommu_vtd_mmio_read(h.v, off, sz, &v);

			FZ_CHECK((r == 0) == ((sz == 4 || sz == 8) && !(off & (sz - 1)) && off < 0x1000));
			break;
		}
		case 2: {	/* guest memory */
			uint64_t a = (fz_u32(&in) % RAM) & ~UINT64_C(7), v = fz_u64(&in);

			memcpy(ram + a, &v, 8);
			h.clean = false;
			break;
		}
		case 3: {	/* a structured entry: root 0x1000, context 0x2000, tables from 0x3000 */
			unsigned k = fz_u8(&in);
			uint64_t v = fz_u64(&in), a;

			switch (k & 3) {
			case 0: a = 0x1000 + (k >> 2 & 1) * 16; v = 0x2000 | 1; break;
			case 1: a = 0x2000 + (k >> 2) * 16; v = (v & UINT64_C(0x3000e)) | 0x3000 | 1;
				memcpy(ram + a + 8, &(uint64_t){ (uint64_t)(k & 0x30) << 4 | 1 | (h.c.aw == 48 && (k & 0x40) ? 1 : 0) }, 8);
				break;
			case 2: a = 0x3000 + (uint64_t)(k >> 2 & 7) * 0x1000 + (fz_u8(&in) % 8) * 8;
				v = (0x3000 + (uint64_t)((k >> 5) & 7) * 0x1000) | 3; break;
			default:	/* a leaf: R/W from v, reserved SNP and TM only when v's bits 11:8 are all set */
				a = 0x3000 + (uint64_t)(k >> 2 & 7) * 0x1000 + (fz_u8(&in) % 16) * 8;
				v = (v & ((v & 0xf00) == 0xf00 ? UINT64_C(0x400000000000087f) : 0x7f)) |
				    ((uint64_t)fz_u8(&in) << 12) | 1;
				break;
			}
			if (a + 8 <= RAM)
				memcpy(ram + a, &v, 8);
			h.clean = false;
			break;
		}
		case 4: {	/* bring up: root at 0x1000, QI at 0x80000, TE */
			viommu_vtd_mmio_write(h.v, 0x20, 8, 0x1000);
			viommu_vtd_mmio_write(h.v, 0x90, 8, 0x80000 | (fz_u8(&in) & 7));
			viommu_vtd_mmio_write(h.v, 0x18, 4, 1u << 30);
			viommu_vtd_mmio_write(h.v, 0x18, 4, (op & 0x80 ? 1u << 26 : 0) | 1u << 31);
			h.qtail = (unsigned)(mmio_rd(&h, 0x80, 8) >> 4);
			h.clean = false;
			break;
		}
		case 5: {	/* a descriptor at the tail, structured or raw */
			uint64_t d[2];

			d[0] = fz_u64(&in);
			d[1] = fz_u64(&in);

			if (op & 0x80)
				d[0] = (d[0] & ~UINT64_C(0xf) & UINT64_C(0xffffffff0000ffff)) | (1 + (op >> 4 & 3)) |
				       (op & 0x40 ? UINT64_C(0x20) : 0);
			if ((d[0] & 0xf) == 5 && (d[0] & 0x20))
				d[1] = 0x90000 + (d[1] & 0xff8);
			memcpy(ram + 0x80000 + (h.qtail % 2048) * 16, d, 16);
			h.qtail = (h.qtail + 1) % 256;
			viommu_vtd_mmio_write(h.v, 0x88, 8, (uint64_t)h.qtail << 4);
			h.clean = false;
			break;
		}
		case 6:
		case 7: {
			uint16_t sid = sids[fz_u8(&in) % NSID];
			uint64_t iova = pick_iova(&in);

			check_translate(&h, sid, iova, 1 + (op >> 4) % 3, op & 0x80 ? (op >> 6) & 1 ? 2 : 1 : 0);
			break;
		}
		case 8: {	/* a device's DMA */
			unsigned char b[256];
			size_t len = fz_u8(&in);
			uint64_t iova = pick_iova(&in);
			long r = viommu_vtd_dma(h.v, sids[op >> 4 & 3], iova, b, len, op & 0x80);

			FZ_CHECK(r >= 0 && (size_t)r <= len);
			if (op & 0x80)
				h.clean = false;
			break;
		}
		case 9:
			flush(&h);
			break;
		case 10:	/* listener */
			if (!h.listening && h.c.cm) {
				h.lsid = sids[op >> 4 & 3];
				next_ = 0;
				FZ_CHECK(viommu_vtd_listener_register(h.v, h.lsid, &h.l) == 0);
				h.listening = true;
			} else if (h.listening && (op & 0x80)) {
				FZ_CHECK(viommu_vtd_listener_unregister(h.v, h.lsid, &h.l) == 0);
				h.listening = false;
				next_ = 0;
			}
			break;
		default:
			check_view(&h, probes, 32);
			break;
		}
		invariants(&h, cap, ecap);
	}
	viommu_vtd_free(h.v);
	return 0;
}
