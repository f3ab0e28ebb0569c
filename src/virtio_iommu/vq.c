// SPDX-License-Identifier: MIT
/*
 * Split virtqueues (virtio spec 1.2 section 2.7) for VMMs without their own
 * virtqueue code: follow a descriptor chain through guest-memory
 * callbacks, hand the request to the device, write the answer back, and
 * keep the used ring.
 *
 * Everything the driver wrote is hostile. A chain is followed at most
 * min(max_chain, queue size) descriptors (the spec forbids longer chains,
 * 2.7.5.3.1), and an indirect table at most min(max_chain, its length), so
 * a loop costs that much and is refused; so are an index beyond its table, a readable descriptor after a
 * writable one (2.7.4.2), an indirect descriptor with NEXT set, inside an
 * indirect table, without the feature, or with a length that is not a
 * non-zero multiple of 16. A chain is walked twice (read the request,
 * then write the answer) with no state kept in between but its head, so no
 * allocation depends on guest input.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/virtio_iommu.h>

#include "util/compiler.h"
#include "util/log.h"
#include "virtio_iommu/virtio_iommu_int.h"

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define DESC_SIZE		16

struct seg {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/* A walk along one chain. */
struct walk {
	const struct viommu_virtio_mem *mem;
	uint64_t table;			/* the descriptor table being followed */
	uint32_t tsize;			/* its entries */
	uint32_t idx;			/* next descriptor */
	uint32_t left;			/* descriptors still allowed */
	uint32_t max;			/* the bound per table */
	bool indirect_ok, in_indirect, seen_write, done;
};

static void walk_start(struct walk *w, const struct viommu_virtio_mem *mem, const struct viommu_virtio_vq *vq,
		       uint16_t head, uint32_t max)
{
	*w = (struct walk){ .mem = mem, .table = vq->desc, .tsize = vq->size, .idx = head,
			    .left = VI_MIN(max, (uint32_t)vq->size), .max = max, .indirect_ok = vq->indirect };
}

/* The next segment: 1 with *s filled, 0 at the end of the chain, or a negative errno. */
static int walk_next(struct walk *w, struct seg *s)
{
	uint8_t d[DESC_SIZE];

	for (;;) {
		if (w->done)
			return 0;
		if (w->idx >= w->tsize) {
			vi_info("virtio-iommu: descriptor %u beyond its table of %u", w->idx, w->tsize);
			return -EINVAL;
		}
		if (!w->left) {
			vi_info("virtio-iommu: descriptor chain longer than its bound (a loop?)");
			return -EINVAL;
		}
		w->left--;
		int r = w->mem->read(w->mem->ctx, w->table + (uint64_t)w->idx * DESC_SIZE, d, sizeof(d));

		if (r)
			return r < 0 ? r : -EIO;
		uint64_t addr = vi_le64(d);
		uint32_t len = vi_le32(d + 8);
		uint16_t flags = vi_le16(d + 12), next = vi_le16(d + 14);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (!w->indirect_ok || w->in_indirect || (flags & VRING_DESC_F_NEXT) || !len ||
			    len % DESC_SIZE) {
				vi_info("virtio-iommu: bad indirect descriptor (len %u flags %#x%s)", len, flags,
					w->in_indirect ? ", nested" : "");
				return -EINVAL;
			}
			w->table = addr;
			w->tsize = len / DESC_SIZE;
			w->idx = 0;
			w->in_indirect = true;
			/* An indirect table is bounded by its own length (as QEMU's virtqueue_pop does). */
			w->left = VI_MIN(w->max, w->tsize);
			continue;
		}
		bool write = flags & VRING_DESC_F_WRITE;

		if (!write && w->seen_write) {
			vi_info("virtio-iommu: device-readable descriptor after a device-writable one");
			return -EINVAL;
		}
		w->seen_write |= write;
		*s = (struct seg){ addr, len, write };
		if (flags & VRING_DESC_F_NEXT)
			w->idx = next;
		else
			w->done = true;
		return 1;
	}
}

VIOMMU_API int viommu_virtio_iommu_process_chain(struct viommu_virtio_iommu *dev, const struct viommu_virtio_mem *mem,
						 const struct viommu_virtio_vq *vq, uint16_t head,
						 uint32_t *used_len)
{
	uint8_t req[VIO_REQ_MAX] = { 0 };
	uint64_t rdlen = 0, wrlen = 0;
	uint32_t got = 0, off, len;
	struct walk w;
	struct seg s;
	int r;

	if (used_len)
		*used_len = 0;
	if (!dev || !mem || !mem->read || !mem->write || !vq || !vq->size || (vq->size & (vq->size - 1)))
		return vi_errno(-EINVAL);
	/* Pass 1: the readable prefix the handler needs, and both totals. */
	walk_start(&w, mem, vq, head, dev->opts.max_chain);
	while ((r = walk_next(&w, &s)) > 0) {
		if (s.write) {
			wrlen += s.len;
			continue;
		}
		rdlen += s.len;
		uint32_t k = VI_MIN(s.len, (uint32_t)sizeof(req) - got);

		if (k && (r = mem->read(mem->ctx, s.addr, req + got, k)))
			break;
		got += k;
	}
	if (r) {
		dev->st.bad_chains++;
		return vi_errno(r < 0 ? r : -EIO);
	}
	r = vio_handle(dev, req, rdlen, wrlen, &off, &len);
	if (r < 0)
		return r;
	/* Pass 2: the answer into the writable descriptors, at its offset. */
	int status = r;
	const uint8_t *src = dev->outbuf;
	uint64_t pos = 0, end = (uint64_t)off + len;

	walk_start(&w, mem, vq, head, dev->opts.max_chain);
	while (pos < end && (r = walk_next(&w, &s)) > 0) {
		if (!s.write)
			continue;
		uint64_t a = pos, b = pos + s.len;

		pos = b;
		if (b <= off)
			continue;
		uint64_t from = VI_MAX(a, (uint64_t)off), to = VI_MIN(b, end);

		if ((r = mem->write(mem->ctx, s.addr + (from - a), src + (from - off), (size_t)(to - from)))) {
			r = r < 0 ? r : -EIO;
			break;
		}
		r = 1;
	}
	if (r < 0 || pos < end) {
		/* The request took effect; the driver sees no status (its buffer was bad or changed). */
		r = r < 0 ? r : -EINVAL;
		dev->st.bad_chains++;
		return vi_errno(r);
	}
	if (used_len)
		*used_len = (uint32_t)end;
	return status;
}

static int rd16(const struct viommu_virtio_mem *mem, uint64_t gpa, uint16_t *v)
{
	uint8_t b[2];
	int r = mem->read(mem->ctx, gpa, b, 2);

	if (r)
		return r < 0 ? r : -EIO;
	*v = vi_le16(b);
	return 0;
}

static int wr16(const struct viommu_virtio_mem *mem, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	vi_put16(b, v);
	int r = mem->write(mem->ctx, gpa, b, 2);

	return r ? (r < 0 ? r : -EIO) : 0;
}

/* Put chain @head on the used ring with @len: the element first, then the index. */
static int push_used(const struct viommu_virtio_mem *mem, struct viommu_virtio_vq *vq, uint16_t head, uint32_t len)
{
	uint8_t e[8];
	uint64_t at = vq->used + 4 + (uint64_t)(vq->used_idx & (vq->size - 1)) * 8;

	vi_put32(e, head);
	vi_put32(e + 4, len);
	int r = mem->write(mem->ctx, at, e, sizeof(e));

	if (r)
		return r < 0 ? r : -EIO;
	if ((r = wr16(mem, vq->used + 2, (uint16_t)(vq->used_idx + 1))))
		return r;
	vq->used_idx++;
	return 0;
}

/* The next available head, 0, or -ENOSPC when none is available; a negative errno for a broken ring. */
static int next_avail(const struct viommu_virtio_mem *mem, const struct viommu_virtio_vq *vq, uint16_t *head,
		      uint16_t *pending)
{
	uint16_t idx;
	int r;

	if ((r = rd16(mem, vq->avail + 2, &idx)))
		return r;
	*pending = (uint16_t)(idx - vq->last_avail);
	if (*pending > vq->size) {
		vi_warn("virtio-iommu: available index %u is %u ahead of %u, more than the queue size %u", idx,
			*pending, vq->last_avail, vq->size);
		return -EINVAL;
	}
	if (!*pending)
		return -ENOSPC;
	if ((r = rd16(mem, vq->avail + 4 + (uint64_t)(vq->last_avail & (vq->size - 1)) * 2, head)))
		return r;
	if (*head >= vq->size) {
		vi_warn("virtio-iommu: available head %u beyond the queue size %u", *head, vq->size);
		return -EINVAL;
	}
	return 0;
}

static bool vq_ok(const struct viommu_virtio_mem *mem, const struct viommu_virtio_vq *vq)
{
	return mem && mem->read && mem->write && vq && vq->size && !(vq->size & (vq->size - 1));
}

VIOMMU_API long viommu_virtio_iommu_process_queue(struct viommu_virtio_iommu *dev, const struct viommu_virtio_mem *mem,
						  struct viommu_virtio_vq *vq)
{
	long done = 0;

	if (!dev || !vq_ok(mem, vq))
		return vi_errno(-EINVAL);
	while (done < vq->size) {
		uint16_t head, pending;
		uint32_t used = 0;
		int r = next_avail(mem, vq, &head, &pending);

		if (r == -ENOSPC)
			break;
		if (r)
			return vi_errno(r);
		/* A refused chain is returned with used length 0. */
		viommu_virtio_iommu_process_chain(dev, mem, vq, head, &used);
		vq->last_avail++;
		if ((r = push_used(mem, vq, head, used)))
			return vi_errno(r);
		done++;
	}
	return done;
}

VIOMMU_API int viommu_virtio_iommu_push_event(const struct viommu_virtio_mem *mem, struct viommu_virtio_vq *eq,
					      const struct viommu_virtio_iommu_fault *f)
{
	uint8_t rec[VIOMMU_VIRTIO_IOMMU_FAULT_SIZE] = { 0 };
	uint16_t head, pending;
	uint64_t room = 0;
	struct walk w;
	struct seg s;
	int r;

	if (!vq_ok(mem, eq) || !f)
		return vi_errno(-EINVAL);
	if ((r = next_avail(mem, eq, &head, &pending)))
		return vi_errno(r);
	rec[0] = (uint8_t)f->reason;
	vi_put32(rec + 4, f->flags);
	vi_put32(rec + 8, f->endpoint);
	vi_put64(rec + 16, f->address);
	/* Pass 1: the buffer must be writable only and hold the whole record. */
	walk_start(&w, mem, eq, head, eq->size);
	while ((r = walk_next(&w, &s)) > 0 && s.write)
		room += s.len;
	if (r || room < sizeof(rec)) {
		vi_info("virtio-iommu: event buffer %u refused (%s)", head,
			r ? "malformed or device-readable" : "shorter than a fault record");
		eq->last_avail++;
		r = push_used(mem, eq, head, 0);
		return vi_errno(r ? r : -EINVAL);
	}
	uint64_t pos = 0;

	walk_start(&w, mem, eq, head, eq->size);
	while (pos < sizeof(rec) && walk_next(&w, &s) > 0) {
		uint32_t k = (uint32_t)VI_MIN((uint64_t)s.len, sizeof(rec) - pos);

		if (k && (r = mem->write(mem->ctx, s.addr, rec + pos, k)))
			return vi_errno(r < 0 ? r : -EIO);
		pos += k;
	}
	eq->last_avail++;
	return vi_errno(push_used(mem, eq, head, sizeof(rec)));
}
