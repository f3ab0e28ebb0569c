/* SPDX-License-Identifier: MIT */
/*
 * The guest side of a split virtqueue (virtio 1.2, 2.7 "Split Virtqueues")
 * over one flat guest memory array, for the tests and the fuzz target that
 * drive viommu's virtio-iommu device: the memory callbacks, descriptor
 * writes and the available ring. Descriptor layout (2.7.5): le64 addr,
 * le32 len, le16 flags, le16 next; available ring (2.7.6): le16 flags,
 * le16 idx, le16 ring[]. The includer may set VQ_MEM_SIZE first.
 * Include after <viommu/virtio_iommu.h> and the m_put / m_get helpers.
 */
#ifndef VIOMMU_TESTS_VIRTQ_GUEST_H
#define VIOMMU_TESTS_VIRTQ_GUEST_H

#include <string.h>

#ifndef VQ_MEM_SIZE
#define VQ_MEM_SIZE 0x100000u
#endif

#define VQ_F_NEXT 1
#define VQ_F_WRITE 2
#define VQ_F_INDIRECT 4

static uint8_t vq_mem[VQ_MEM_SIZE];
static unsigned long vq_mem_reads;	/* reads the device made, for bounds on its work */

static int vq_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	vq_mem_reads++;
	if (gpa > VQ_MEM_SIZE || len > VQ_MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, vq_mem + gpa, len);
	return 0;
}

static int vq_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	(void)ctx;
	if (gpa > VQ_MEM_SIZE || len > VQ_MEM_SIZE - gpa)
		return -EFAULT;
	memcpy(vq_mem + gpa, buf, len);
	return 0;
}

static const struct viommu_virtio_mem vq_gm = { vq_mem_read, vq_mem_write, NULL };

/* Write descriptor @i of the table at @table. */
static inline void vq_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = vq_mem + table + 16 * i;

	m_put64(d, addr);
	m_put32(d + 8, len);
	m_put16(d + 12, flags);
	m_put16(d + 14, next);
}

/* Make chain @head available on the ring of @size entries at @avail. */
static inline void vq_offer(uint64_t avail, unsigned size, uint16_t head)
{
	uint16_t idx = m_get16(vq_mem + avail + 2);

	m_put16(vq_mem + avail + 4 + 2 * (idx % size), head);
	m_put16(vq_mem + avail + 2, (uint16_t)(idx + 1));
}

#endif
