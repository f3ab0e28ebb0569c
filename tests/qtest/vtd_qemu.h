/* SPDX-License-Identifier: MIT */
/*
 * The QEMU side of the VT-d comparison (tests/qtest/qtest_vtd*.c): QEMU's
 * intel-iommu driven over the qtest protocol (tests/qtest/qtest.h) as a
 * struct vg_side (tests/vtd_guest.h), with three edu devices as the DMA
 * engines (00:03.0 and 00:03.1, one multifunction slot, and 00:04.0), and the
 * harness that runs one guest program on both sides and compares what each
 * observed.
 *
 * QEMU's unit sits at 0xfed90000 (Q35_HOST_BRIDGE_IOMMU_ADDR); the edu BARs
 * are placed at 0xe0000000 + 1 MiB * i. edu's dma_mask is set to all ones
 * so that any IOVA reaches the IOMMU (edu clamps addresses to it).
 *
 * An observation is a labelled 64-bit value a program records (a register,
 * a word of guest memory). Unless it is marked as a named deviation, the
 * two sides must record the same labels and values in the same order. A
 * deviation observation carries the value the VT-d specification gives and
 * the value QEMU 7.2 is known to give: viommu must give the first, QEMU the
 * second (so the table of deviations is checked too, not just asserted).
 */
#ifndef VIOMMU_TESTS_QTEST_VTD_QEMU_H
#define VIOMMU_TESTS_QTEST_VTD_QEMU_H

#include <stdarg.h>

#define VQ_N(a) (sizeof(a) / sizeof((a)[0]))

#include "qtest/qtest.h"
#include "vtd_guest.h"

#define VQ_VTD_BASE UINT64_C(0xfed90000)
#define VQ_BAR(i) (UINT64_C(0xe0000000) + (uint64_t)(i) * 0x100000)
#define VQ_RAM (UINT64_C(256) << 20)

/* A configuration both sides are started with. */
struct vq_cfg {
	bool caching_mode;
	bool device_iotlb;
	unsigned aw_bits;	/* 0: 39 */
};

struct vg_qemu {
	struct vg_side side;
	struct qtest *qt;
};

static inline struct qtest *vq_qt(struct vg_side *s)
{
	return ((struct vg_qemu *)(void *)s)->qt;
}

static inline void vq_check(struct vg_side *s)
{
	if (!qt_ok(vq_qt(s)))
		s->broken = true;
}

static inline uint64_t vq_rd(struct vg_side *s, unsigned off, unsigned size)
{
	uint64_t v = size == 8 ? qt_readq(vq_qt(s), VQ_VTD_BASE + off) : qt_readl(vq_qt(s), VQ_VTD_BASE + off);

	vq_check(s);
	return v;
}

static inline void vq_wr(struct vg_side *s, unsigned off, unsigned size, uint64_t val)
{
	if (size == 8)
		qt_writeq(vq_qt(s), VQ_VTD_BASE + off, val);
	else
		qt_writel(vq_qt(s), VQ_VTD_BASE + off, (uint32_t)val);
	vq_check(s);
}

static inline void vq_mw(struct vg_side *s, uint64_t gpa, const void *buf, size_t len)
{
	qt_memwrite(vq_qt(s), gpa, buf, len);
	vq_check(s);
}

static inline void vq_mr(struct vg_side *s, uint64_t gpa, void *buf, size_t len)
{
	qt_memread(vq_qt(s), gpa, buf, len);
	vq_check(s);
}

static inline void vq_dma(struct vg_side *s, unsigned dev, bool to_ram, uint64_t iova, unsigned off, unsigned len)
{
	/* QEMU 7.2's edu stops QEMU on a transfer reaching its buffer's last byte. */
	int r = dev >= VG_NDEV || off + len >= VG_BUF ? -EINVAL :
		qt_edu_dma(vq_qt(s), VQ_BAR(dev), to_ram, iova, off, len);

	if (r) {
		fprintf(stderr, "qemu: edu DMA dev %u %s iova %#llx off %u len %u failed (%d)\n", dev,
			to_ram ? "to RAM" : "from RAM", (unsigned long long)iova, off, len, r);
		s->broken = true;
	}
	vq_check(s);
}

static inline void vq_free(struct vg_qemu *q)
{
	if (!q)
		return;
	qt_quit(q->qt);
	free(q);
}

static inline struct vg_qemu *vq_new(const struct vq_cfg *c)
{
	struct vg_qemu *q = calloc(1, sizeof(*q));
	char dev[512];

	if (!q)
		return NULL;
	snprintf(dev, sizeof(dev),
		 "-device intel-iommu%s%s%s "
		 "-device edu,addr=03.0,multifunction=on,dma_mask=0xffffffffffffffff "
		 "-device edu,addr=03.1,dma_mask=0xffffffffffffffff "
		 "-device edu,addr=04.0,dma_mask=0xffffffffffffffff",
		 c->caching_mode ? ",caching-mode=on" : "", c->device_iotlb ? ",device-iotlb=on" : "",
		 c->aw_bits == 48 ? ",aw-bits=48" : "");
	q->qt = qt_start(dev);
	if (!q->qt) {
		free(q);
		return NULL;
	}
	for (unsigned i = 0; i < VG_NDEV; i++)
		qt_pci_map_bar(q->qt, vg_dev_sid[i] & 0xff, 0, VQ_BAR(i));
	q->side.name = "qemu";
	q->side.rd = vq_rd;
	q->side.wr = vq_wr;
	q->side.mw = vq_mw;
	q->side.mr = vq_mr;
	q->side.dma = vq_dma;
	if (!qt_ok(q->qt) || qt_readl(q->qt, VQ_BAR(0)) != 0x010000ed) {
		vq_free(q);
		return NULL;
	}
	return q;
}

static inline struct vg_model *vq_model_new(const struct vq_cfg *c)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .caching_mode = c->caching_mode,
				     .device_iotlb = c->device_iotlb, .aw_bits = c->aw_bits };

	return vg_model_new(&o, VQ_RAM);
}

/* ---- observations ------------------------------------------------------ */

/* A named deviation of QEMU 7.2 from the VT-d specification (docs/design.md lists the same table). */
struct vq_deviation {
	const char *id;
	const char *what;
};

struct vq_obs {
	char label[64];
	uint64_t val;
	int dev;		/* index + 1 into the deviation table, or 0 */
	uint64_t spec, qemu;	/* deviation: what each is expected to give */
};

struct vq_run {
	struct vq_obs *o;
	size_t n, cap;
	bool is_qemu;
};

static inline void vq_obs_add(struct vq_run *r, int dev, uint64_t val, uint64_t spec, uint64_t qemu, const char *fmt,
			      va_list ap)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		struct vq_obs *p = realloc(r->o, nc * sizeof(*p));

		if (!p)
			abort();
		r->o = p;
		r->cap = nc;
	}
	struct vq_obs *o = &r->o[r->n++];

	vsnprintf(o->label, sizeof(o->label), fmt, ap);
	o->val = val;
	o->dev = dev;
	o->spec = spec;
	o->qemu = qemu;
}

/* Record @val: both sides must agree. */
__attribute__((format(printf, 3, 4)))
static inline void vq_obs(struct vq_run *r, uint64_t val, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vq_obs_add(r, 0, val, 0, 0, fmt, ap);
	va_end(ap);
}

/* Record @val under named deviation @dev: viommu must give @spec, QEMU @qemu. */
__attribute__((format(printf, 6, 7)))
static inline void vq_obs_dev(struct vq_run *r, int dev, uint64_t val, uint64_t spec, uint64_t qemu, const char *fmt,
			      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vq_obs_add(r, dev, val, spec, qemu, fmt, ap);
	va_end(ap);
}

static inline void vq_run_free(struct vq_run *r)
{
	free(r->o);
	memset(r, 0, sizeof(*r));
}

/*
 * Compare the two sides' observations: returns the number of mismatches
 * outside named deviations (printed), counts the deviation observations
 * confirmed in *devs and the ones where QEMU did not behave as the table
 * says in *unconfirmed (also failures: the table would be wrong).
 */
static inline unsigned vq_compare(const char *what, const struct vq_run *q, const struct vq_run *m,
				  const struct vq_deviation *table, unsigned *devs, unsigned *unconfirmed)
{
	unsigned bad = 0;
	size_t n = q->n < m->n ? q->n : m->n;

	if (q->n != m->n) {
		fprintf(stderr, "MISMATCH %s: qemu recorded %zu observations, viommu %zu\n", what, q->n, m->n);
		bad++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct vq_obs *a = &q->o[i], *b = &m->o[i];

		if (strcmp(a->label, b->label)) {
			fprintf(stderr, "MISMATCH %s #%zu: label '%s' vs '%s'\n", what, i, a->label, b->label);
			bad++;
			break;
		}
		if (b->dev) {
			if (b->val != b->spec) {
				fprintf(stderr, "MISMATCH %s #%zu %s: viommu %#llx, the spec says %#llx (%s)\n", what,
					i, b->label, (unsigned long long)b->val, (unsigned long long)b->spec,
					table[b->dev - 1].id);
				bad++;
			}
			if (a->val != a->qemu) {
				fprintf(stderr, "UNCONFIRMED %s #%zu %s: qemu %#llx, deviation %s says %#llx\n", what,
					i, a->label, (unsigned long long)a->val, table[b->dev - 1].id,
					(unsigned long long)a->qemu);
				(*unconfirmed)++;
			} else {
				(*devs)++;
			}
			continue;
		}
		if (a->val != b->val) {
			fprintf(stderr, "MISMATCH %s #%zu %s: qemu %#llx viommu %#llx\n", what, i, a->label,
				(unsigned long long)a->val, (unsigned long long)b->val);
			bad++;
		}
	}
	return bad;
}

/*
 * The high quadword of a fault record as compared: PV (bits 59:40) is
 * relevant only when PP (bit 31) is set (spec 10.4.14); QEMU 7.2 fills it
 * with the low bits of PCI_NO_PASID, so it is masked when PP is clear.
 */
static inline uint64_t vq_frcd_hi(uint64_t hi)
{
	return hi & (UINT64_C(1) << 31) ? hi : hi & ~(UINT64_C(0xfffff) << 40);
}

/* Observe the unit's status registers and the first fault record. */
static inline void vq_obs_status(struct vq_run *r, struct vg_side *s, const char *tag)
{
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FSTS), "%s FSTS", tag);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_FECTL), "%s FECTL", tag);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_FRCD), "%s FRCD0.lo", tag);
	vq_obs(r, vq_frcd_hi(vg_rd64(s, VIOMMU_VTD_REG_FRCD + 8)), "%s FRCD0.hi", tag);
	vq_obs(r, vg_rd64(s, VIOMMU_VTD_REG_IQH), "%s IQH", tag);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_ICS), "%s ICS", tag);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_IECTL), "%s IECTL", tag);
	vq_obs(r, vg_rd32(s, VIOMMU_VTD_REG_GSTS), "%s GSTS", tag);
}

/* Observe @len bytes of guest memory at @gpa as 8-byte words. */
static inline void vq_obs_mem(struct vq_run *r, struct vg_side *s, uint64_t gpa, size_t len, const char *tag)
{
	unsigned char b[4096];

	while (len) {
		size_t n = len < sizeof(b) ? len : sizeof(b);

		s->mr(s, gpa, b, n);
		for (size_t i = 0; i < n; i += 8) {
			uint64_t w = 0;

			memcpy(&w, b + i, n - i < 8 ? n - i : 8);
			vq_obs(r, w, "%s mem[%#llx]", tag, (unsigned long long)(gpa + i));
		}
		gpa += n;
		len -= n;
	}
}

/* Clear a recorded fault (F is write-1-to-clear) and the overflow bit, as a fault handler does. */
static inline void vq_clear_faults(struct vg_side *s)
{
	vg_wr32(s, VIOMMU_VTD_REG_FRCD + 12, 0x80000000u);
	vg_wr32(s, VIOMMU_VTD_REG_FSTS, 0x11);
}

#endif /* VIOMMU_TESTS_QTEST_VTD_QEMU_H */
