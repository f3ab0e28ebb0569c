/* SPDX-License-Identifier: MIT */
/*
 * A small virtio-iommu driver, the same code for both devices under test: it
 * builds split virtqueues and requests in "guest memory" and notifies the
 * device through a transport. Two transports:
 *  - QEMU's virtio-iommu-pci over the qtest protocol (virtio 1.x PCI
 *    transport, virtio spec 4.1: capabilities found by walking the PCI
 *    capability list, common configuration, notify with its multiplier;
 *    QEMU handles a request inside the notify write);
 *  - viommu's device, its guest memory a local buffer, its notify the
 *    library's split-virtqueue helper (viommu_virtio_iommu_process_queue), so
 *    the descriptor chains are the same bytes for both.
 * Written from the virtio spec (2.7 split virtqueues, 4.1 PCI transport),
 * not from QEMU's libqos.
 */
#ifndef VIOMMU_TESTS_QTEST_VIRTIO_IOMMU_DRV_H
#define VIOMMU_TESTS_QTEST_VIRTIO_IOMMU_DRV_H

#include <viommu/virtio_iommu.h>

#include "qtest/qtest.h"
#include "virtio_iommu_model.h"

/* Guest-physical layout used by the driver (both devices). */
#define VD_RQ_DESC	0x100000ull
#define VD_RQ_AVAIL	0x101000ull
#define VD_RQ_USED	0x102000ull
#define VD_EQ_DESC	0x104000ull
#define VD_EQ_AVAIL	0x105000ull
#define VD_EQ_USED	0x106000ull
#define VD_REQ_BUF	0x108000ull	/* device-readable part */
#define VD_ANS_BUF	0x10a000ull	/* device-writable part (up to 8 KiB) */
#define VD_EV_BUF	0x110000ull	/* event buffers, 64 bytes apart */
#define VD_MEM_END	0x120000ull	/* the local buffer of the viommu transport covers [VD_RQ_DESC, here) */
#define VD_QSZ		16
#define VD_EQSZ		16

struct vd_transport {
	int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t gpa, const void *buf, size_t len);
	void (*notify)(void *ctx, unsigned queue);
	void *ctx;
};

struct vd_ring {
	uint64_t desc, avail, used;
	uint16_t avail_idx;		/* driver's next available index */
	uint16_t used_seen;		/* used entries consumed */
};

struct vd {
	struct vd_transport t;
	struct vd_ring rq, eq;
	bool broken;
};

static inline void vd_desc(struct vd *d, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
			   uint16_t next)
{
	uint8_t b[16];

	m_put64(b, addr);
	m_put32(b + 8, len);
	m_put16(b + 12, flags);
	m_put16(b + 14, next);
	d->t.write(d->t.ctx, table + 16 * i, b, sizeof(b));
}

static inline uint16_t vd_rd16(struct vd *d, uint64_t gpa)
{
	uint8_t b[2] = { 0 };

	d->t.read(d->t.ctx, gpa, b, 2);
	return m_get16(b);
}

static inline void vd_wr16(struct vd *d, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	m_put16(b, v);
	d->t.write(d->t.ctx, gpa, b, 2);
}

static inline void vd_rings_init(struct vd *d)
{
	static const uint8_t zero[0x1000];

	d->rq = (struct vd_ring){ VD_RQ_DESC, VD_RQ_AVAIL, VD_RQ_USED, 0, 0 };
	d->eq = (struct vd_ring){ VD_EQ_DESC, VD_EQ_AVAIL, VD_EQ_USED, 0, 0 };
	for (uint64_t a = VD_RQ_DESC; a < VD_EV_BUF; a += sizeof(zero))
		d->t.write(d->t.ctx, a, zero, sizeof(zero));
}

/*
 * One request: @rd (device-readable, may be 0 bytes) then a writable part
 * of @wrlen bytes (may be 0), in descriptors 0 and 1. Returns 0 with the
 * used length in *used and the writable bytes in @wr, or -EIO if the device
 * did not give the buffer back (a broken device).
 */
static inline int vd_request(struct vd *d, const void *rd, size_t rdlen, void *wr, size_t wrlen, uint32_t *used)
{
	uint8_t fill[8192];
	unsigned head = rdlen ? 0 : 1;

	*used = 0;
	if (d->broken)
		return -EIO;
	if (rdlen)
		d->t.write(d->t.ctx, VD_REQ_BUF, rd, rdlen);
	memset(fill, 0xee, wrlen < sizeof(fill) ? wrlen : sizeof(fill));
	if (wrlen)
		d->t.write(d->t.ctx, VD_ANS_BUF, fill, wrlen);
	if (rdlen)
		vd_desc(d, d->rq.desc, 0, VD_REQ_BUF, (uint32_t)rdlen, wrlen ? 1 : 0, 1);
	if (wrlen)
		vd_desc(d, d->rq.desc, 1, VD_ANS_BUF, (uint32_t)wrlen, 2, 0);
	vd_wr16(d, d->rq.avail + 4 + 2 * (d->rq.avail_idx % VD_QSZ), (uint16_t)head);
	d->rq.avail_idx++;
	vd_wr16(d, d->rq.avail + 2, d->rq.avail_idx);
	d->t.notify(d->t.ctx, 0);
	if (vd_rd16(d, d->rq.used + 2) != (uint16_t)(d->rq.used_seen + 1)) {
		d->broken = true;
		return -EIO;
	}
	uint8_t e[8];

	d->t.read(d->t.ctx, d->rq.used + 4 + 8 * (d->rq.used_seen % VD_QSZ), e, 8);
	d->rq.used_seen++;
	*used = m_get32(e + 4);
	if (wrlen)
		d->t.read(d->t.ctx, VD_ANS_BUF, wr, wrlen);
	return 0;
}

/* Make @n more 24-byte event buffers available (n <= VD_EQSZ in flight). */
static inline void vd_post_events(struct vd *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = d->eq.avail_idx % VD_EQSZ;

		vd_desc(d, d->eq.desc, slot, VD_EV_BUF + 64 * slot, 24, 2, 0);
		vd_wr16(d, d->eq.avail + 4 + 2 * slot, (uint16_t)slot);
		d->eq.avail_idx++;
	}
	vd_wr16(d, d->eq.avail + 2, d->eq.avail_idx);
	d->t.notify(d->t.ctx, 1);
}

/* Take the faults the device reported since the last call (at most @max). */
static inline unsigned vd_take_events(struct vd *d, struct viommu_virtio_iommu_fault *f, unsigned max)
{
	uint16_t idx = vd_rd16(d, d->eq.used + 2);
	unsigned n = 0;

	while (d->eq.used_seen != idx) {
		uint8_t e[8], r[24];

		d->t.read(d->t.ctx, d->eq.used + 4 + 8 * (d->eq.used_seen % VD_EQSZ), e, 8);
		d->t.read(d->t.ctx, VD_EV_BUF + 64 * m_get32(e), r, 24);
		if (n < max)
			f[n] = (struct viommu_virtio_iommu_fault){ r[0], m_get32(r + 4), m_get32(r + 8), m_get64(r + 16) };
		n++;
		d->eq.used_seen++;
	}
	return n;
}

/* ---- QEMU's virtio-iommu-pci over qtest ---- */

#define VPCI_BAR_ADDR	0xe0000000ull

struct vd_qemu {
	struct qtest *qt;
	unsigned devfn;
	uint64_t common, isr, devcfg, notify;
	uint32_t notify_mult;
	uint16_t notify_off[2];
};

static inline int vq_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	return qt_memread(((struct vd_qemu *)ctx)->qt, gpa, buf, len);
}

static inline int vq_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	return qt_memwrite(((struct vd_qemu *)ctx)->qt, gpa, buf, len);
}

static inline void vq_notify(void *ctx, unsigned q)
{
	struct vd_qemu *v = ctx;

	qt_writew(v->qt, v->notify + (uint64_t)v->notify_off[q] * v->notify_mult, (uint16_t)q);
}

/* Find the device (vendor 0x1af4, device 0x1040 + 23) on bus 0 and its virtio capabilities. */
static inline int vd_qemu_find(struct vd_qemu *v)
{
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		if (qt_pci_readl(v->qt, devfn, 0) != ((0x1040u + VIOMMU_VIRTIO_ID_IOMMU) << 16 | 0x1af4u))
			continue;
		v->devfn = devfn;
		qt_pci_map_bar(v->qt, devfn, 4, VPCI_BAR_ADDR);
		/* virtio spec 4.1.4: vendor-specific capabilities, cfg_type 1..4, bar, offset */
		for (unsigned p = qt_pci_readb(v->qt, devfn, 0x34); p; p = qt_pci_readb(v->qt, devfn, p + 1)) {
			if (qt_pci_readb(v->qt, devfn, p) != 0x09)
				continue;
			unsigned type = qt_pci_readb(v->qt, devfn, p + 3), bar = qt_pci_readb(v->qt, devfn, p + 4);
			uint64_t off = qt_pci_readl(v->qt, devfn, p + 8);

			if (bar != 4)
				continue;
			if (type == 1)
				v->common = VPCI_BAR_ADDR + off;
			else if (type == 2) {
				v->notify = VPCI_BAR_ADDR + off;
				v->notify_mult = qt_pci_readl(v->qt, devfn, p + 16);
			} else if (type == 3)
				v->isr = VPCI_BAR_ADDR + off;
			else if (type == 4)
				v->devcfg = VPCI_BAR_ADDR + off;
		}
		return v->common && v->notify && v->devcfg ? 0 : -ENODEV;
	}
	return -ENODEV;
}

/*
 * Reset, negotiate (VERSION_1 and the device features in @want), set up both
 * queues at the driver's layout, DRIVER_OK. Returns the device-specific
 * feature bits accepted, or -1 on failure.
 */
static inline int64_t vd_qemu_init(struct vd_qemu *v, struct vd *d, uint64_t want)
{
	struct qtest *qt = v->qt;
	uint64_t dev_features;

	d->t = (struct vd_transport){ vq_mem_read, vq_mem_write, vq_notify, v };
	d->broken = false;
	qt_writeb(qt, v->common + 0x14, 0);			/* reset */
	qt_writeb(qt, v->common + 0x14, 1 | 2);			/* ACKNOWLEDGE | DRIVER */
	qt_writel(qt, v->common + 0x00, 0);
	dev_features = qt_readl(qt, v->common + 0x04);
	qt_writel(qt, v->common + 0x00, 1);
	dev_features |= (uint64_t)qt_readl(qt, v->common + 0x04) << 32;
	uint64_t acc = (dev_features & want & 0xffffffu) | (UINT64_C(1) << 32);	/* VIRTIO_F_VERSION_1 */

	qt_writel(qt, v->common + 0x08, 0);
	qt_writel(qt, v->common + 0x0c, (uint32_t)acc);
	qt_writel(qt, v->common + 0x08, 1);
	qt_writel(qt, v->common + 0x0c, (uint32_t)(acc >> 32));
	qt_writeb(qt, v->common + 0x14, 1 | 2 | 8);		/* FEATURES_OK */
	if (!(qt_readb(qt, v->common + 0x14) & 8))
		return -1;
	vd_rings_init(d);
	const uint64_t rings[2][3] = { { VD_RQ_DESC, VD_RQ_AVAIL, VD_RQ_USED }, { VD_EQ_DESC, VD_EQ_AVAIL, VD_EQ_USED } };

	for (unsigned q = 0; q < 2; q++) {
		qt_writew(qt, v->common + 0x16, (uint16_t)q);
		qt_writew(qt, v->common + 0x18, q ? VD_EQSZ : VD_QSZ);
		qt_writeq(qt, v->common + 0x20, rings[q][0]);
		qt_writeq(qt, v->common + 0x28, rings[q][1]);
		qt_writeq(qt, v->common + 0x30, rings[q][2]);
		v->notify_off[q] = qt_readw(qt, v->common + 0x1e);
		qt_writew(qt, v->common + 0x1c, 1);
	}
	qt_writeb(qt, v->common + 0x14, 1 | 2 | 8 | 4);		/* DRIVER_OK */
	return qt_ok(qt) ? (int64_t)(acc & 0xffffffu) : -1;
}

/* The device-specific feature bits QEMU offers (low 32 bits, without transport bits). */
static inline uint64_t vd_qemu_offered(struct vd_qemu *v)
{
	qt_writel(v->qt, v->common + 0x00, 0);
	return qt_readl(v->qt, v->common + 0x04) & 0xffffffu;
}

/* ---- viommu's device ---- */

struct vd_viommu {
	struct viommu_virtio_iommu *dev;
	uint8_t mem[VD_MEM_END - VD_RQ_DESC];
	struct viommu_virtio_mem gm;
	struct viommu_virtio_vq rq, eq;
};

static inline int vv_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct vd_viommu *v = ctx;

	if (gpa < VD_RQ_DESC || gpa > VD_MEM_END || len > VD_MEM_END - gpa)
		return -EFAULT;
	memcpy(buf, v->mem + (gpa - VD_RQ_DESC), len);
	return 0;
}

static inline int vv_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct vd_viommu *v = ctx;

	if (gpa < VD_RQ_DESC || gpa > VD_MEM_END || len > VD_MEM_END - gpa)
		return -EFAULT;
	memcpy(v->mem + (gpa - VD_RQ_DESC), buf, len);
	return 0;
}

static inline void vv_notify(void *ctx, unsigned q)
{
	struct vd_viommu *v = ctx;

	if (q == 0)
		viommu_virtio_iommu_process_queue(v->dev, &v->gm, &v->rq);
}

/* The device's event callback: the next event buffer of the driver's event queue. */
static inline int vv_event(void *ctx, const struct viommu_virtio_iommu_fault *f)
{
	struct vd_viommu *v = ctx;

	return viommu_virtio_iommu_push_event(&v->gm, &v->eq, f);
}

static inline void vd_viommu_init(struct vd_viommu *v, struct vd *d)
{
	v->gm = (struct viommu_virtio_mem){ vv_mem_read, vv_mem_write, v };
	v->rq = (struct viommu_virtio_vq){ .desc = VD_RQ_DESC, .avail = VD_RQ_AVAIL, .used = VD_RQ_USED, .size = VD_QSZ };
	v->eq = (struct viommu_virtio_vq){ .desc = VD_EQ_DESC, .avail = VD_EQ_AVAIL, .used = VD_EQ_USED,
					   .size = VD_EQSZ };
	d->t = (struct vd_transport){ vv_mem_read, vv_mem_write, vv_notify, v };
	d->broken = false;
	vd_rings_init(d);
}

#endif
