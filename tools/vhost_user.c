// SPDX-License-Identifier: MIT
/*
 * The vhost-user back-end core (tools/vhost_user.h): wire format, memory
 * table, IOTLB messages and misses, split virtqueues.
 *
 * References: QEMU docs/interop/vhost-user.rst (messages, IOMMU support,
 * REPLY_ACK, ring states); QEMU hw/virtio/vhost-user.c (what a real front-end
 * sends: NEED_REPLY on every IOTLB_MSG and, with REPLY_ACK, on SET_MEM_TABLE;
 * a MISS answered by an UPDATE on the front-end channel and then, if asked,
 * by a u64 ack that is non-zero when the IOVA could not be translated);
 * virtio 1.1 section 2.6 (split virtqueues). DPDK lib/vhost and QEMU's
 * libvhost-user were read for how real back-ends behave; the code is ours.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* MSG_CMSG_CLOEXEC */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <viommu/rangemap.h>

#include "util/log.h"
#include "vhost_user.h"

/* ---- split virtqueue layout (virtio 1.1 2.6) ------------------------------- */

#define VRING_DESC_F_NEXT	1u
#define VRING_DESC_F_WRITE	2u
#define VRING_DESC_F_INDIRECT	4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vring_avail {
	uint16_t flags, idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id, len;
};

struct vring_used {
	uint16_t flags, idx;
	struct vring_used_elem ring[];
};

#define VU_MAX_IOV		1024	/* IOV_MAX: buffers of one request, after translation */
#define VU_MAX_INDIRECT		1024	/* descriptors in one indirect table */
#define VU_MAX_OUTSTANDING	64	/* MISS messages awaiting their ack */
#define VU_PAGE_SHIFT		12

/* ---- wire format ------------------------------------------------------------ */

const char *vu_request_name(uint32_t r)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES", [VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER", [VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE", [VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD", [VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR", [VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE", [VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL", [VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES", [VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE", [VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
		[VU_IOTLB_MSG] = "IOTLB_MSG", [VU_GET_CONFIG] = "GET_CONFIG", [VU_SET_CONFIG] = "SET_CONFIG",
	};

	return r < sizeof(names) / sizeof(names[0]) && names[r] ? names[r] : "?";
}

int vu_msg_check(const struct vu_msg *m, const char **why)
{
	uint32_t want = 0, fds = 0;

	*why = NULL;
	if ((m->flags & VU_VERSION_MASK) != VU_VERSION) {
		*why = "protocol version is not 1";
		return -EPROTO;
	}
	if (m->flags & VU_FLAG_REPLY) {
		*why = "a reply where a request was expected";
		return -EPROTO;
	}
	if (m->size > VU_MAX_PAYLOAD) {
		*why = "payload larger than any request";
		return -EPROTO;
	}
	switch (m->request) {
	case VU_GET_FEATURES:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
		break;
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
		want = 8;
		break;
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		want = sizeof(struct vu_vring_state);
		break;
	case VU_SET_VRING_ADDR:
		want = sizeof(struct vu_vring_addr);
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		want = 8;
		if (m->size == 8 && (m->u.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD))) {
			*why = "unknown bits in the vring index word";
			return -EPROTO;
		}
		fds = m->size == 8 && !(m->u.u64 & VU_VRING_NOFD);
		break;
	case VU_SET_BACKEND_REQ_FD:
		fds = 1;
		break;
	case VU_IOTLB_MSG:
		want = sizeof(struct vu_iotlb);
		break;
	case VU_SET_MEM_TABLE:
		if (m->size < 8 || m->u.mem.nregions > VU_MAX_REGIONS) {
			*why = "memory table with no header or more than 8 regions";
			return -EPROTO;
		}
		want = 8 + m->u.mem.nregions * (uint32_t)sizeof(struct vu_region);
		fds = m->u.mem.nregions;
		break;
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		if (m->size < 12 || m->u.config.size > VU_CONFIG_MAX) {
			*why = "config message with no header or more than 256 bytes";
			return -EPROTO;
		}
		want = 12 + m->u.config.size;
		break;
	default:
		*why = "request not implemented";
		return -ENOSYS;
	}
	if (m->size != want) {
		*why = "payload size does not match the request";
		return -EPROTO;
	}
	if (m->nfds != fds) {
		*why = "wrong number of file descriptors for the request";
		return -EPROTO;
	}
	return 0;
}

void vu_msg_close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

/* Read exactly @len bytes (a stream socket may deliver less at a time). */
static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = read(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPROTO;	/* the message was cut short */
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int vu_msg_recv(int fd, struct vu_msg *m)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	} ctl;
	struct iovec iov = { .iov_base = &m->request, .iov_len = VU_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	size_t got = 0;
	ssize_t r;
	int err;

	m->nfds = 0;
	do {
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < n && m->nfds < VU_MAX_FDS; i++)
			memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		vi_warn("vhost-user: more file descriptors than a message may carry: dropped");
		vu_msg_close_fds(m);
		return -EPROTO;
	}
	got = (size_t)r;
	if (got < VU_HDR_SIZE && (err = read_all(fd, (uint8_t *)&m->request + got, VU_HDR_SIZE - got))) {
		vu_msg_close_fds(m);
		return err;
	}
	if (m->size > VU_MAX_PAYLOAD) {
		vi_warn("vhost-user: %s with a %u-byte payload (at most %u): ending the connection",
			vu_request_name(m->request), m->size, VU_MAX_PAYLOAD);
		vu_msg_close_fds(m);
		return -EPROTO;
	}
	if (m->size && (err = read_all(fd, &m->u, m->size))) {
		vu_msg_close_fds(m);
		return err;
	}
	return 0;
}

int vu_msg_send(int fd, const struct vu_msg *m)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)&m->request, .iov_len = VU_HDR_SIZE },
		{ .iov_base = (void *)&m->u, .iov_len = m->size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = m->size ? 2 : 1 };
	size_t want = VU_HDR_SIZE + m->size;
	ssize_t r;

	do {
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == want ? 0 : -EIO;
}

/* ---- the connection state --------------------------------------------------- */

struct vu_mapping {
	uint64_t gpa, size, uaddr;
	uint8_t *host;		/* back-end address of the region's first byte */
	void *map;
	size_t map_len;
};

/*
 * One virtqueue. Addresses are IOVAs when the IOMMU is on, else user
 * addresses (rings) and guest-physical addresses (buffers). @desc/@avail/
 * @used are the rings mapped into back-end memory, valid while @mapped;
 * they are dropped whenever the IOTLB or memory table changes under them.
 */
struct vu_vq {
	uint32_t num;
	uint64_t desc_addr, avail_addr, used_addr;
	bool addr_set, started, enabled, broken, mapped;
	uint16_t last_avail, used_idx;
	int kick_fd, call_fd, err_fd;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/*
	 * Waiting for the answer to a miss at @stall_iova: an UPDATE covering
	 * it, or the ack of MISS number @stall_seq (0: none asked with an ack),
	 * or, @wait_ack, any ack (for room to ask).
	 */
	bool stalled, wait_ack;
	uint64_t stall_iova, stall_seq;
	/* the front-end could not translate this page: the request using it is refused */
	bool fail_set;
	uint64_t fail_page;
};

struct vu_miss_out {
	uint64_t iova, seq;
	unsigned perm;
};

struct vu_dev {
	const struct vu_device_ops *ops;
	void *dev;
	unsigned queues;
	uint64_t offered, features, protocol;
	bool features_set, iommu;
	struct vu_mapping map[VU_MAX_REGIONS];
	unsigned nmap;
	struct viommu_rangemap *by_uaddr, *by_gpa;	/* [first, last] -> mapping index */
	struct viommu_devtlb *tlb;
	int backend_fd;
	struct vu_miss_out out[VU_MAX_OUTSTANDING];	/* MISS messages awaiting their ack, in order */
	unsigned nout;
	uint64_t miss_seq;			/* numbers the MISS messages sent */
	struct vu_vq vq[VU_MAX_QUEUES];
	struct vu_stats st;
	bool more;			/* some ring has work left after its budget */
	bool no_ask;			/* a miss now refuses instead of asking (looking for a status byte) */
	/* scratch for one request */
	struct iovec iov[VU_MAX_IOV];
	struct viommu_devtlb_seg seg[VU_MAX_IOV];
	struct vring_desc itable[VU_MAX_INDIRECT];
	struct vu_msg msg, reply;
};

static unsigned vq_index(const struct vu_dev *d, const struct vu_vq *vq)
{
	return (unsigned)(vq - d->vq);
}

static const uint64_t offered_protocol = 1ull << VU_PROTOCOL_F_MQ | 1ull << VU_PROTOCOL_F_REPLY_ACK |
					  1ull << VU_PROTOCOL_F_BACKEND_REQ | 1ull << VU_PROTOCOL_F_CONFIG;

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void unmap_all(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->nmap; i++)
		munmap(d->map[i].map, d->map[i].map_len);
	d->nmap = 0;
	viommu_rangemap_clear(d->by_uaddr);
	viommu_rangemap_clear(d->by_gpa);
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
		d->vq[q].mapped = false;
}

static void vq_reset(struct vu_vq *vq)
{
	close_fd(&vq->kick_fd);
	close_fd(&vq->call_fd);
	close_fd(&vq->err_fd);
	*vq = (struct vu_vq){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
}

void vu_dev_reset(struct vu_dev *d)
{
	unmap_all(d);
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
		vq_reset(&d->vq[q]);
	close_fd(&d->backend_fd);
	viommu_devtlb_invalidate(d->tlb, 0, UINT64_MAX);
	viommu_devtlb_pending_clear(d->tlb, 0, UINT64_MAX);
	d->features = d->protocol = 0;
	d->features_set = d->iommu = false;
	d->nout = 0;
	d->more = false;
}

struct vu_dev *vu_dev_new(const struct vu_dev_opts *o)
{
	struct viommu_devtlb_opts to = { .sz = sizeof(to), .capacity = o->iotlb_capacity,
					 .page_shift = VU_PAGE_SHIFT };
	struct vu_dev *d;

	if (!o->ops || !o->queues || o->queues > VU_MAX_QUEUES)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ops = o->ops;
	d->dev = o->dev;
	d->queues = o->queues;
	d->offered = o->ops->features | 1ull << VU_F_VERSION_1 | 1ull << VU_F_ACCESS_PLATFORM |
		     1ull << VU_F_RING_INDIRECT_DESC | 1ull << VU_F_PROTOCOL_FEATURES;
	d->backend_fd = -1;
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
		d->vq[q] = (struct vu_vq){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
	d->by_uaddr = viommu_rangemap_new();
	d->by_gpa = viommu_rangemap_new();
	d->tlb = viommu_devtlb_new(&to);
	if (!d->by_uaddr || !d->by_gpa || !d->tlb) {
		vu_dev_free(d);
		return NULL;
	}
	return d;
}

void vu_dev_free(struct vu_dev *d)
{
	if (!d)
		return;
	if (d->by_uaddr && d->by_gpa && d->tlb)
		vu_dev_reset(d);
	viommu_rangemap_free(d->by_uaddr);
	viommu_rangemap_free(d->by_gpa);
	viommu_devtlb_free(d->tlb);
	free(d);
}

void vu_dev_get_stats(const struct vu_dev *d, struct vu_stats *st)
{
	*st = d->st;
}

struct viommu_devtlb *vu_dev_devtlb(const struct vu_dev *d)
{
	return d->tlb;
}

int vu_dev_backend_fd(const struct vu_dev *d)
{
	return d->backend_fd;
}

/* ---- addresses --------------------------------------------------------------- */

/*
 * [addr, addr + len - 1] of user (by_uaddr) or guest-physical (by_gpa)
 * memory as back-end iovecs appended at d->iov[*n]. Returns 0, -EFAULT if a
 * byte is in no region, -E2BIG past VU_MAX_IOV.
 */
static int table_to_iov(struct vu_dev *d, const struct viommu_rangemap *by, bool gpa, uint64_t addr,
			uint64_t len, unsigned *n)
{
	uint64_t last, cur = addr;
	struct viommu_range_entry e;

	if (!len)
		return 0;
	if (len - 1 > UINT64_MAX - addr)
		return -EFAULT;
	last = addr + (len - 1);
	for (;;) {
		const struct vu_mapping *mp;
		uint64_t end;

		if (!viommu_rangemap_find(by, cur, &e))
			return -EFAULT;
		if (*n == VU_MAX_IOV)
			return -E2BIG;
		mp = &d->map[e.value];
		end = e.last < last ? e.last : last;
		d->iov[*n].iov_base = mp->host + (cur - (gpa ? mp->gpa : mp->uaddr));
		d->iov[*n].iov_len = (size_t)(end - cur + 1);
		(*n)++;
		if (end == last)
			return 0;
		cur = end + 1;
	}
}

/* Outcomes of translating guest memory. */
#define XL_OK		0
#define XL_STALL	1	/* a miss is being asked for: try the request again later */
#define XL_REFUSE	2	/* the request cannot be served */

/*
 * Send a MISS for @iova on the back-end channel, asking for an ack. Returns
 * 1 when sent; 0 when too many await their ack (ask again after the next
 * one: a ring goes on as soon as the UPDATE lands, before its ack, so one
 * ring may have several in flight); -1 when it cannot be asked at all.
 */
static int send_miss(struct vu_dev *d, uint64_t iova, unsigned perm)
{
	struct vu_msg m = {
		.request = VU_BACKEND_IOTLB_MSG, .size = sizeof(struct vu_iotlb),
		.flags = VU_VERSION | (d->protocol & 1ull << VU_PROTOCOL_F_REPLY_ACK ? VU_FLAG_NEED_REPLY : 0),
	};
	int r;

	if (d->backend_fd < 0)
		return -1;
	if (d->nout == VU_MAX_OUTSTANDING)
		return 0;
	m.u.iotlb = (struct vu_iotlb){ .iova = iova, .perm = (uint8_t)perm, .type = VU_IOTLB_MISS };
	r = vu_msg_send(d->backend_fd, &m);
	if (r) {
		vi_warn("vhost-user: MISS for 0x%" PRIx64 " not sent: %s", iova, strerror(-r));
		return -1;
	}
	d->st.misses_sent++;
	vi_debug("vhost-user: MISS 0x%" PRIx64 " for %s", iova, perm & VU_ACCESS_WO ? "write" : "read");
	if (m.flags & VU_FLAG_NEED_REPLY)
		d->out[d->nout++] = (struct vu_miss_out){ .iova = iova, .perm = perm, .seq = ++d->miss_seq };
	return 1;
}

/*
 * Guest memory [addr, addr + len - 1] for @perm as back-end iovecs appended
 * at d->iov[*n], through the IOTLB when the IOMMU is on. A miss is asked for
 * (once per page, as the device IOTLB decides) and stalls the ring; a miss
 * on a page the front-end said it cannot translate refuses the request.
 */
static int guest_to_iov(struct vu_dev *d, struct vu_vq *vq, uint64_t addr, uint64_t len, unsigned perm,
			unsigned *n, bool ring)
{
	struct viommu_devtlb_miss miss;
	int r;

	if (!d->iommu) {
		r = table_to_iov(d, ring ? d->by_uaddr : d->by_gpa, !ring, addr, len, n);
		if (r && !d->no_ask)
			vi_warn("vhost-user: ring %u: %s [0x%" PRIx64 ", +0x%" PRIx64 "] refused: %s", vq_index(d, vq),
				ring ? "ring" : "buffer", addr, len,
				r == -E2BIG ? "more than 1024 pieces" : "not in the memory table");
		return r ? XL_REFUSE : XL_OK;
	}
	if (!len)
		return XL_OK;
	if (ring)
		d->st.ring_translations++;
	else
		d->st.buffer_translations++;
	r = viommu_devtlb_translate(d->tlb, addr, len, perm, d->seg, VU_MAX_IOV - *n, &miss);
	if (r > 0) {
		for (int i = 0; i < r; i++, (*n)++) {
			d->iov[*n].iov_base = (void *)(uintptr_t)d->seg[i].uaddr;
			d->iov[*n].iov_len = (size_t)d->seg[i].len;
		}
		return XL_OK;
	}
	if (r != -EAGAIN) {
		if (!d->no_ask)
			vi_warn("vhost-user: ring %u: %s [0x%" PRIx64 ", +0x%" PRIx64 "] for %s refused: %s",
				vq_index(d, vq), ring ? "ring" : "buffer", addr, len,
				perm & VIOMMU_PERM_WRITE ? "write" : "read",
				r == -EACCES ? "the IOTLB entry does not allow it" :
				r == -E2BIG ? "more than 1024 pieces" : "the range wraps past 2^64");
		return XL_REFUSE;
	}
	int sent = d->no_ask || (vq->fail_set && miss.iova >> VU_PAGE_SHIFT == vq->fail_page) ? -1
		   : miss.report ? send_miss(d, miss.iova, perm) : 1;

	if (sent == 0) {
		/* asked again after the next ack */
		viommu_devtlb_pending_clear(d->tlb, miss.iova, miss.iova);
		vq->stalled = vq->wait_ack = true;
		vq->stall_iova = miss.iova;
		return XL_STALL;
	}
	if (sent < 0) {
		/* not asked (or nobody to ask): nothing will answer, so it must not stay pending */
		if (miss.report)
			viommu_devtlb_pending_clear(d->tlb, miss.iova, miss.iova);
		if (!d->no_ask)
			vi_warn("vhost-user: ring %u: %s [0x%" PRIx64 ", +0x%" PRIx64 "] for %s refused: %s",
				vq_index(d, vq), ring ? "ring" : "buffer", addr, len,
				perm & VIOMMU_PERM_WRITE ? "write" : "read",
				d->backend_fd < 0 ? "IOVA not cached and no back-end channel to ask"
						  : "the front-end cannot translate IOVA");
		return XL_REFUSE;
	}
	/* the MISS whose ack answers this one: the newest asked for the page */
	vq->stall_seq = 0;
	for (unsigned i = d->nout; i--;)
		if (d->out[i].iova >> VU_PAGE_SHIFT == miss.iova >> VU_PAGE_SHIFT) {
			vq->stall_seq = d->out[i].seq;
			break;
		}
	vq->stalled = true;
	vq->stall_iova = miss.iova;
	return XL_STALL;
}

/* ---- the rings --------------------------------------------------------------- */

/* Map one ring area as a single contiguous piece of back-end memory. */
static int map_area(struct vu_dev *d, struct vu_vq *vq, uint64_t addr, uint64_t len, unsigned perm, void **out)
{
	unsigned n = 0;
	int r = guest_to_iov(d, vq, addr, len, perm, &n, true);

	if (r != XL_OK)
		return r;
	for (unsigned i = 1; i < n; i++)
		if ((uint8_t *)d->iov[i - 1].iov_base + d->iov[i - 1].iov_len != d->iov[i].iov_base)
			return XL_REFUSE;	/* not contiguous in our memory: vq_map says so */
	*out = d->iov[0].iov_base;
	return XL_OK;
}

static void vq_break(struct vu_dev *d, unsigned q, const char *why)
{
	vi_warn("vhost-user: ring %u stopped: %s", q, why);
	d->vq[q].broken = true;
	d->st.bad_rings++;
}

static int vq_map(struct vu_dev *d, unsigned q)
{
	struct vu_vq *vq = &d->vq[q];
	void *desc, *avail, *used;
	int r;

	r = map_area(d, vq, vq->desc_addr, 16ull * vq->num, VIOMMU_PERM_READ, &desc);
	if (r == XL_OK)
		r = map_area(d, vq, vq->avail_addr, 4 + 2ull * vq->num, VIOMMU_PERM_READ, &avail);
	if (r == XL_OK)
		r = map_area(d, vq, vq->used_addr, 4 + 8ull * vq->num, VIOMMU_PERM_WRITE, &used);
	if (r == XL_REFUSE)
		vq_break(d, q, "a ring is not in guest memory the device may use");
	if (r != XL_OK)
		return r;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->mapped = true;
	return XL_OK;
}

/* Drop the mapped rings that overlap [first, last] of the address space they live in. */
static void vq_unmap_overlapping(struct vu_dev *d, uint64_t first, uint64_t last)
{
	for (unsigned q = 0; q < d->queues; q++) {
		struct vu_vq *vq = &d->vq[q];
		uint64_t a[3] = { vq->desc_addr, vq->avail_addr, vq->used_addr };
		uint64_t l[3] = { 16ull * vq->num, 4 + 2ull * vq->num, 4 + 8ull * vq->num };

		for (unsigned i = 0; i < 3 && vq->mapped; i++)
			if (a[i] <= last && first <= a[i] + (l[i] - 1))
				vq->mapped = false;
	}
}

/*
 * Walks one descriptor chain: the ring's table, or an indirect table copied
 * into d->itable. At most one indirect table per chain, and at most as many
 * descriptors as the table holding them (a longer chain loops).
 */
struct chain {
	const struct vring_desc *table;
	uint32_t tnum, idx, count;
	bool indirect, done;
};

/* The next descriptor of the chain into *out: 1, 0 at the end, or XL_* negated. */
static int chain_next(struct vu_dev *d, struct vu_vq *vq, struct chain *c, struct vring_desc *out)
{
	struct vring_desc x;

	for (;;) {
		if (c->done)
			return 0;
		if (c->count++ >= c->tnum || c->idx >= c->tnum) {
			if (!d->no_ask)
				vi_warn("vhost-user: ring %u: descriptor chain refused: %s (index %u, table of %u)",
					vq_index(d, vq), c->idx >= c->tnum ? "index out of the table" : "longer than its table (a loop)",
					c->idx, c->tnum);
			return -XL_REFUSE;
		}
		memcpy(&x, &c->table[c->idx], sizeof(x));	/* read once: the guest may change it */
		if (!(x.flags & VRING_DESC_F_INDIRECT))
			break;
		/* an indirect table: the chain continues there (virtio 1.1 2.6.5.3) */
		uint32_t n = x.len / 16;
		unsigned niov = 0;
		uint8_t *dst = (uint8_t *)d->itable;
		int r;

		if (c->indirect || !(d->features & 1ull << VU_F_RING_INDIRECT_DESC) || (x.flags & VRING_DESC_F_NEXT) ||
		    !x.len || x.len % 16 || n > VU_MAX_INDIRECT) {
			if (!d->no_ask)
				vi_warn("vhost-user: ring %u: indirect table [0x%" PRIx64 ", +0x%x] refused: %s", vq_index(d, vq),
					x.addr, x.len, c->indirect ? "nested" :
					!(d->features & 1ull << VU_F_RING_INDIRECT_DESC) ? "not negotiated" :
					x.flags & VRING_DESC_F_NEXT ? "with NEXT" : "size not a multiple of 16 up to 16 KiB");
			return -XL_REFUSE;
		}
		r = guest_to_iov(d, vq, x.addr, x.len, VIOMMU_PERM_READ, &niov, false);
		if (r != XL_OK)
			return -r;
		for (unsigned i = 0; i < niov; i++) {
			memcpy(dst, d->iov[i].iov_base, d->iov[i].iov_len);
			dst += d->iov[i].iov_len;
		}
		*c = (struct chain){ .table = d->itable, .tnum = n, .indirect = true };
	}
	if (x.flags & VRING_DESC_F_NEXT)
		c->idx = x.next;
	else
		c->done = true;
	*out = x;
	return 1;
}

/*
 * Turn the chain at @head into d->iov and *req. Returns XL_OK, XL_STALL
 * (nothing consumed) or XL_REFUSE.
 */
static int walk_chain(struct vu_dev *d, struct vu_vq *vq, uint16_t head, struct vu_req *req)
{
	struct chain c = { .table = vq->desc, .tnum = vq->num, .idx = head };
	struct vring_desc x;
	bool writing = false;
	unsigned n = 0;
	int r;

	*req = (struct vu_req){ .iov = d->iov };
	while ((r = chain_next(d, vq, &c, &x)) == 1) {
		bool w = x.flags & VRING_DESC_F_WRITE;
		unsigned before = n;

		if (!w && writing) {
			/* device-readable after device-writable (virtio 1.1 2.6.4.2) */
			vi_warn("vhost-user: ring %u: descriptor chain at %u refused: device-readable after device-writable",
				vq_index(d, vq), head);
			return XL_REFUSE;
		}
		writing = w;
		r = guest_to_iov(d, vq, x.addr, x.len, w ? VIOMMU_PERM_WRITE : VIOMMU_PERM_READ, &n, false);
		if (r != XL_OK)
			return r;
		if (w)
			req->write_len += x.len;
		else
			req->read_len += x.len;
		if (!w)
			req->nread += n - before;
	}
	if (r < 0)
		return -r;
	req->niov = n;
	return XL_OK;
}

/*
 * After a refusal: the last byte of the chain's last descriptor if it is
 * device-writable and reachable, without asking for anything.
 */
static uint8_t *find_status(struct vu_dev *d, struct vu_vq *vq, uint16_t head)
{
	struct chain c = { .table = vq->desc, .tnum = vq->num, .idx = head };
	struct vring_desc x, lastd = { 0 };
	struct viommu_devtlb_seg s;
	bool any = false;
	unsigned n = 0;
	int r;

	/* an indirect table that would need a miss is not fetched: no status then */
	d->no_ask = true;
	while ((r = chain_next(d, vq, &c, &x)) == 1) {
		lastd = x;
		any = true;
	}
	d->no_ask = false;
	if (r < 0 || !any || !(lastd.flags & VRING_DESC_F_WRITE) || !lastd.len ||
	    lastd.len - 1 > UINT64_MAX - lastd.addr)
		return NULL;
	if (!d->iommu)
		return table_to_iov(d, d->by_gpa, true, lastd.addr + lastd.len - 1, 1, &n) ? NULL : d->iov[0].iov_base;
	if (viommu_devtlb_translate(d->tlb, lastd.addr + lastd.len - 1, 1, VIOMMU_PERM_WRITE, &s, 1, NULL) != 1)
		return NULL;
	return (uint8_t *)(uintptr_t)s.uaddr;
}

static bool vq_runnable(const struct vu_dev *d, const struct vu_vq *vq)
{
	return vq->started && vq->enabled && vq->addr_set && vq->num && !vq->broken && !vq->stalled &&
	       d->features_set && d->nmap;
}

/* Process up to one ring's worth of requests; returns true if more are waiting. */
static bool process_queue(struct vu_dev *d, unsigned q)
{
	struct vu_vq *vq = &d->vq[q];
	bool used_any = false, more = false;

	if (!vq_runnable(d, vq))
		return false;
	if (!vq->mapped && vq_map(d, q) != XL_OK)
		return false;
	for (uint32_t budget = vq->num; budget; budget--) {
		uint16_t avail = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE), head;
		uint32_t len;
		struct vu_req req;
		int r;

		if ((uint16_t)(avail - vq->last_avail) > vq->num) {
			vq_break(d, q, "the driver made more buffers available than the ring holds");
			break;
		}
		if (avail == vq->last_avail)
			break;
		head = __atomic_load_n(&vq->avail->ring[vq->last_avail % vq->num], __ATOMIC_RELAXED);
		if (head >= vq->num) {
			vq_break(d, q, "an available ring entry names no descriptor");
			break;
		}
		r = walk_chain(d, vq, head, &req);
		if (r == XL_STALL)
			break;
		if (r == XL_OK) {
			len = d->ops->exec(d->dev, &req);
			d->st.requests++;
		} else {
			len = d->ops->refuse(d->dev, find_status(d, vq, head));
			d->st.refused++;
		}
		vq->fail_set = false;
		vq->used->ring[vq->used_idx % vq->num] = (struct vring_used_elem){ .id = head, .len = len };
		vq->used_idx++;
		__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
		vq->last_avail++;
		used_any = true;
		if (budget == 1)
			more = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
	}
	if (used_any && vq->call_fd >= 0) {
		/*
		 * The used index must be visible before the flags are read
		 * (virtio 1.1 2.6.10.1): a sequentially consistent store and
		 * load order that (a full barrier on x86; no fence, which TSan
		 * does not model).
		 */
		__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_SEQ_CST);
		if (!(__atomic_load_n(&vq->avail->flags, __ATOMIC_SEQ_CST) & VRING_AVAIL_F_NO_INTERRUPT)) {
			uint64_t one = 1;

			if (write(vq->call_fd, &one, sizeof(one)) == sizeof(one))
				d->st.calls++;
		}
	}
	return more;
}

void vu_dev_process_queue(struct vu_dev *d, unsigned q)
{
	if (q < d->queues && process_queue(d, q))
		d->more = true;
}

void vu_dev_process(struct vu_dev *d)
{
	d->more = false;
	for (unsigned q = 0; q < d->queues; q++)
		if (process_queue(d, q))
			d->more = true;
}

/* ---- the back-end channel ------------------------------------------------------ */

int vu_dev_backend_reply(struct vu_dev *d, const struct vu_msg *m)
{
	struct vu_miss_out o;

	if (m->request != VU_BACKEND_IOTLB_MSG || (m->flags & (VU_FLAG_REPLY | VU_VERSION_MASK)) !=
						       (VU_FLAG_REPLY | VU_VERSION) || m->size != 8 || !d->nout) {
		vi_warn("vhost-user: unexpected message %u (flags 0x%x, %u bytes) on the back-end channel: closing it",
			m->request, m->flags, m->size);
		close_fd(&d->backend_fd);
		d->nout = 0;
		return -EPROTO;
	}
	o = d->out[0];
	memmove(d->out, d->out + 1, --d->nout * sizeof(d->out[0]));
	/*
	 * Answered either way: a later miss on the page may be asked again,
	 * unless a newer MISS for it is still out (this ack is then stale: the
	 * page was invalidated and asked again since).
	 */
	bool newer = false;
	for (unsigned i = 0; i < d->nout; i++)
		newer |= d->out[i].iova >> VU_PAGE_SHIFT == o.iova >> VU_PAGE_SHIFT;
	if (!newer)
		viommu_devtlb_pending_clear(d->tlb, o.iova, o.iova);
	if (m->u.u64) {
		d->st.miss_failures++;
		vi_info("vhost-user: the front-end could not translate IOVA 0x%" PRIx64 " for %s", o.iova,
			o.perm & VU_ACCESS_WO ? "write" : "read");
	}
	for (unsigned q = 0; q < d->queues; q++) {
		struct vu_vq *vq = &d->vq[q];

		if (vq->stalled && vq->wait_ack) {
			vq->stalled = vq->wait_ack = false;
			continue;
		}
		if (!vq->stalled || vq->stall_seq != o.seq)
			continue;
		vq->stalled = false;
		if (m->u.u64) {
			vq->fail_set = true;
			vq->fail_page = o.iova >> VU_PAGE_SHIFT;
		}
	}
	return 0;
}

/* ---- front-end messages ----------------------------------------------------------- */

/* A failure the front-end hears about (REPLY_ACK) but that keeps the connection. */
#define H_FAIL 1

static int h_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_mapping nm[VU_MAX_REGIONS];
	struct viommu_rangemap *bu = viommu_rangemap_new(), *bg = viommu_rangemap_new();
	unsigned n = m->u.mem.nregions, i;
	int ret = 0;

	if (!bu || !bg) {
		ret = H_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct vu_region *r = &m->u.mem.regions[i];
		const char *why = NULL;
		struct stat st;
		void *p;

		if (!r->size)
			why = "empty";
		else if (r->size - 1 > UINT64_MAX - r->gpa || r->size - 1 > UINT64_MAX - r->uaddr ||
			 r->mmap_offset > SIZE_MAX - r->size)
			why = "wraps past 2^64";
		else if (viommu_rangemap_insert(bu, r->uaddr, r->uaddr + (r->size - 1), i) ||
			 viommu_rangemap_insert(bg, r->gpa, r->gpa + (r->size - 1), i))
			why = "overlaps another region";
		else if (fstat(m->fds[i], &st) || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->mmap_offset + r->size))
			why = "beyond the end of its file (a touch would fault)";
		if (why) {
			vi_warn("vhost-user: memory region %u (guest 0x%" PRIx64 ", user 0x%" PRIx64 ", size 0x%" PRIx64
				") refused: %s", i, r->gpa, r->uaddr, r->size, why);
			ret = H_FAIL;
			break;
		}
		p = mmap(NULL, (size_t)(r->mmap_offset + r->size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 m->fds[i], 0);
		if (p == MAP_FAILED) {
			vi_warn("vhost-user: memory region %u (size 0x%" PRIx64 " at offset 0x%" PRIx64 ") not mapped: %s",
				i, r->size, r->mmap_offset, strerror(errno));
			ret = H_FAIL;
			break;
		}
		nm[i] = (struct vu_mapping){ .gpa = r->gpa, .size = r->size, .uaddr = r->uaddr,
					     .host = (uint8_t *)p + r->mmap_offset, .map = p,
					     .map_len = (size_t)(r->mmap_offset + r->size) };
	}
	if (ret) {
		while (i--)
			munmap(nm[i].map, nm[i].map_len);
		goto out;
	}
	/* The new table replaces the old; every translation into the old is gone. */
	unmap_all(d);
	memcpy(d->map, nm, n * sizeof(nm[0]));
	d->nmap = n;
	{
		struct viommu_rangemap *t = d->by_uaddr;

		d->by_uaddr = bu;
		bu = t;
		t = d->by_gpa;
		d->by_gpa = bg;
		bg = t;
	}
	viommu_devtlb_invalidate(d->tlb, 0, UINT64_MAX);
out:
	vu_msg_close_fds(m);
	viommu_rangemap_free(bu);
	viommu_rangemap_free(bg);
	return ret;
}

static int h_iotlb(struct vu_dev *d, const struct vu_iotlb *im)
{
	uint64_t first, last;

	if (im->type != VU_IOTLB_UPDATE && im->type != VU_IOTLB_INVALIDATE) {
		vi_warn("vhost-user: IOTLB message of type %u refused: only UPDATE and INVALIDATE come from the front-end",
			im->type);
		return H_FAIL;
	}
	if (!d->iommu) {
		vi_warn("vhost-user: IOTLB message without VIRTIO_F_ACCESS_PLATFORM refused");
		return H_FAIL;
	}
	if (viommu_devtlb_range(im->iova, im->size, &first, &last)) {
		vi_warn("vhost-user: IOTLB %s iova 0x%" PRIx64 " size 0x%" PRIx64 " refused: empty or past 2^64",
			im->type == VU_IOTLB_UPDATE ? "UPDATE" : "INVALIDATE", im->iova, im->size);
		return H_FAIL;
	}
	vi_debug("vhost-user: IOTLB %s [0x%" PRIx64 ", 0x%" PRIx64 "] -> 0x%" PRIx64 " perm %u",
		 im->type == VU_IOTLB_UPDATE ? "UPDATE" : "INVALIDATE", first, last, im->uaddr, im->perm);
	if (im->type == VU_IOTLB_INVALIDATE) {
		d->st.iotlb_invalidates++;
		d->st.invalidates_to_top += last == UINT64_MAX;
		viommu_devtlb_invalidate(d->tlb, first, last);
		vq_unmap_overlapping(d, first, last);
		return 0;
	}
	d->st.iotlb_updates++;
	if (im->perm & ~(VU_ACCESS_RO | VU_ACCESS_WO)) {
		vi_warn("vhost-user: IOTLB UPDATE [0x%" PRIx64 ", 0x%" PRIx64 "] refused: unknown permission 0x%x", first,
			last, im->perm);
		return H_FAIL;
	}
	/* The user range must lie in the memory table; cache it as back-end addresses, one entry per region. */
	unsigned n = 0;

	if (table_to_iov(d, d->by_uaddr, false, im->uaddr, im->size, &n)) {
		vi_warn("vhost-user: IOTLB UPDATE [0x%" PRIx64 ", 0x%" PRIx64 "] -> user 0x%" PRIx64
			" refused: not inside the memory table", first, last, im->uaddr);
		return H_FAIL;
	}
	uint64_t at = first;

	for (unsigned i = 0; i < n; i++) {
		uint64_t l = d->iov[i].iov_len;

		if (viommu_devtlb_update(d->tlb, at, at + (l - 1), (uintptr_t)d->iov[i].iov_base, im->perm))
			return H_FAIL;
		at += l;
	}
	vq_unmap_overlapping(d, first, last);
	/* rings waiting for a miss in this range may go on */
	for (unsigned q = 0; q < d->queues; q++)
		if (d->vq[q].stalled && d->vq[q].stall_iova >= first && d->vq[q].stall_iova <= last)
			d->vq[q].stalled = d->vq[q].wait_ack = false;
	return 0;
}

static struct vu_vq *vq_of(struct vu_dev *d, uint32_t index, const char *what)
{
	if (index >= d->queues) {
		vi_warn("vhost-user: %s for ring %u refused: the device has %u", what, index, d->queues);
		return NULL;
	}
	return &d->vq[index];
}

static int h_vring_fd(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_vq *vq = vq_of(d, (uint32_t)(m->u.u64 & VU_VRING_IDX_MASK), vu_request_name(m->request));
	int fd = m->nfds ? m->fds[0] : -1, *slot;

	if (!vq) {
		vu_msg_close_fds(m);
		return H_FAIL;
	}
	m->nfds = 0;
	slot = m->request == VU_SET_VRING_KICK ? &vq->kick_fd : m->request == VU_SET_VRING_CALL ? &vq->call_fd
											   : &vq->err_fd;
	close_fd(slot);
	*slot = fd;
	if (m->request == VU_SET_VRING_KICK) {
		if (fd < 0) {
			vi_warn("vhost-user: ring %u: polling instead of kicks is not supported", (unsigned)(vq - d->vq));
			return H_FAIL;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		vq->started = true;	/* a ring starts with its kick fd (vhost-user.rst, Ring states) */
	}
	return 0;
}

int vu_dev_handle(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	struct vu_vq *vq;
	int ret = 0, has_reply = 0;

	d->st.messages++;
	*reply = (struct vu_msg){ .request = m->request, .flags = VU_VERSION | VU_FLAG_REPLY };
	switch (m->request) {
	case VU_GET_FEATURES:
		reply->u.u64 = d->offered;
		reply->size = 8;
		has_reply = 1;
		break;
	case VU_SET_FEATURES:
		if (m->u.u64 & ~d->offered) {
			vi_warn("vhost-user: features 0x%" PRIx64 " refused: 0x%" PRIx64 " were not offered", m->u.u64,
				m->u.u64 & ~d->offered);
			ret = H_FAIL;
			break;
		}
		if ((m->u.u64 ^ d->features) & 1ull << VU_F_ACCESS_PLATFORM) {
			/* the meaning of every address changes */
			viommu_devtlb_invalidate(d->tlb, 0, UINT64_MAX);
			for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
				d->vq[q].mapped = false;
		}
		d->features = m->u.u64;
		d->features_set = true;
		d->iommu = m->u.u64 & 1ull << VU_F_ACCESS_PLATFORM;
		break;
	case VU_SET_OWNER:
		break;
	case VU_RESET_OWNER:	/* deprecated: stop the rings (vhost-user.rst) */
		for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
			d->vq[q].started = false;
		break;
	case VU_GET_PROTOCOL_FEATURES:
		reply->u.u64 = offered_protocol;
		reply->size = 8;
		has_reply = 1;
		break;
	case VU_SET_PROTOCOL_FEATURES:
		if (m->u.u64 & ~offered_protocol) {
			vi_warn("vhost-user: protocol features 0x%" PRIx64 " refused: not offered", m->u.u64);
			ret = H_FAIL;
			break;
		}
		d->protocol = m->u.u64;
		break;
	case VU_GET_QUEUE_NUM:
		reply->u.u64 = d->queues;
		reply->size = 8;
		has_reply = 1;
		break;
	case VU_SET_MEM_TABLE:
		ret = h_mem_table(d, m);
		break;
	case VU_SET_VRING_NUM:
		if (!(vq = vq_of(d, m->u.state.index, "SET_VRING_NUM"))) {
			ret = H_FAIL;
		} else if (!m->u.state.num || m->u.state.num > VU_MAX_QUEUE_SIZE) {
			vi_warn("vhost-user: ring %u size %u refused (1..%u)", m->u.state.index, m->u.state.num,
				VU_MAX_QUEUE_SIZE);
			ret = H_FAIL;
		} else {
			vq->num = m->u.state.num;
			vq->mapped = false;
			vq->broken = false;
		}
		break;
	case VU_SET_VRING_ADDR:
		if (!(vq = vq_of(d, m->u.addr.index, "SET_VRING_ADDR"))) {
			ret = H_FAIL;
		} else if (m->u.addr.flags || (m->u.addr.desc & 15) || (m->u.addr.avail & 1) || (m->u.addr.used & 3)) {
			vi_warn("vhost-user: ring %u addresses desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%" PRIx64
				" flags 0x%x refused: misaligned, or logging asked for", m->u.addr.index, m->u.addr.desc,
				m->u.addr.avail, m->u.addr.used, m->u.addr.flags);
			ret = H_FAIL;
		} else {
			vq->desc_addr = m->u.addr.desc;
			vq->avail_addr = m->u.addr.avail;
			vq->used_addr = m->u.addr.used;
			vq->addr_set = true;
			vq->mapped = false;
			vq->broken = false;
		}
		break;
	case VU_SET_VRING_BASE:
		if (!(vq = vq_of(d, m->u.state.index, "SET_VRING_BASE"))) {
			ret = H_FAIL;
		} else {
			vq->last_avail = vq->used_idx = (uint16_t)m->u.state.num;
		}
		break;
	case VU_GET_VRING_BASE:
		if (!(vq = vq_of(d, m->u.state.index, "GET_VRING_BASE"))) {
			/* the reply is the message's own: say nothing useful rather than nothing */
			reply->u.state = (struct vu_vring_state){ .index = m->u.state.index };
		} else {
			/* stops the ring (vhost-user.rst, Ring states) */
			vq->started = false;
			vq->stalled = vq->wait_ack = false;
			close_fd(&vq->kick_fd);
			reply->u.state = (struct vu_vring_state){ .index = m->u.state.index, .num = vq->last_avail };
		}
		reply->size = sizeof(reply->u.state);
		has_reply = 1;
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		ret = h_vring_fd(d, m);
		break;
	case VU_SET_VRING_ENABLE:
		if (!(vq = vq_of(d, m->u.state.index, "SET_VRING_ENABLE")) || m->u.state.num > 1)
			ret = H_FAIL;
		else
			vq->enabled = m->u.state.num;
		break;
	case VU_SET_BACKEND_REQ_FD:
		close_fd(&d->backend_fd);
		d->backend_fd = m->fds[0];
		m->nfds = 0;
		d->nout = 0;
		break;
	case VU_IOTLB_MSG:
		ret = h_iotlb(d, &m->u.iotlb);
		break;
	case VU_GET_CONFIG: {
		struct vu_config *c = &reply->u.config;
		uint8_t cfg[VU_CONFIG_MAX] = { 0 };

		*c = (struct vu_config){ .offset = m->u.config.offset, .size = m->u.config.size,
					 .flags = m->u.config.flags };
		if (m->u.config.offset > VU_CONFIG_MAX - m->u.config.size) {
			reply->size = 0;	/* "zero length of payload to indicate an error" */
		} else {
			d->ops->get_config(d->dev, cfg, d->ops->config_len);
			memcpy(c->region, cfg + m->u.config.offset, m->u.config.size);
			reply->size = 12 + m->u.config.size;
		}
		has_reply = 1;
		break;
	}
	case VU_SET_CONFIG:
		vi_warn("vhost-user: SET_CONFIG refused: no configuration field is writable");
		ret = H_FAIL;
		break;
	default:
		/* vu_msg_check let nothing else through */
		ret = H_FAIL;
		break;
	}
	vu_msg_close_fds(m);
	if (ret < 0)
		return ret;
	if (has_reply)
		return 1;
	if (m->flags & VU_FLAG_NEED_REPLY) {
		reply->u.u64 = ret != 0;
		reply->size = 8;
		return 1;
	}
	return 0;
}

/* ---- the event loop --------------------------------------------------------------- */

int vu_dev_serve(struct vu_dev *d, int fd, volatile int *stop)
{
	struct pollfd pfd[2 + VU_MAX_QUEUES];
	int ret = 0;

	while (!*stop) {
		unsigned n = 0, kq[VU_MAX_QUEUES];
		int r;

		pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = d->backend_fd, .events = POLLIN };
		for (unsigned q = 0; q < d->queues; q++) {
			if (d->vq[q].kick_fd >= 0 && d->vq[q].started) {
				kq[n - 2] = q;
				pfd[n++] = (struct pollfd){ .fd = d->vq[q].kick_fd, .events = POLLIN };
			}
		}
		r = poll(pfd, n, d->more ? 0 : 200);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r < 0)
			continue;
		if (pfd[0].revents) {
			const char *why;

			r = vu_msg_recv(fd, &d->msg);
			if (r == -EPIPE)
				break;
			if (r) {
				ret = r;
				break;
			}
			r = vu_msg_check(&d->msg, &why);
			if (r == -ENOSYS) {
				vi_warn("vhost-user: request %u (%s) not implemented%s", d->msg.request,
					vu_request_name(d->msg.request),
					d->msg.flags & VU_FLAG_NEED_REPLY ? ": answering failure" : ": ignored");
				vu_msg_close_fds(&d->msg);
				if (d->msg.flags & VU_FLAG_NEED_REPLY) {
					d->reply = (struct vu_msg){ .request = d->msg.request,
								    .flags = VU_VERSION | VU_FLAG_REPLY, .size = 8,
								    .u.u64 = 1 };
					vu_msg_send(fd, &d->reply);
				}
				continue;
			}
			if (r) {
				vi_warn("vhost-user: %s (%u bytes, %u fds, flags 0x%x) is malformed: %s; ending the connection",
					vu_request_name(d->msg.request), d->msg.size, d->msg.nfds, d->msg.flags, why);
				vu_msg_close_fds(&d->msg);
				ret = r;
				break;
			}
			r = vu_dev_handle(d, &d->msg, &d->reply);
			if (r < 0) {
				ret = r;
				break;
			}
			if (r == 1 && (r = vu_msg_send(fd, &d->reply))) {
				ret = r;
				break;
			}
			/* rings may run now (after an UPDATE, a new table, a kick fd) */
			vu_dev_process(d);
		}
		if (pfd[1].fd >= 0 && pfd[1].revents) {
			if (pfd[1].revents & (POLLHUP | POLLERR) && !(pfd[1].revents & POLLIN)) {
				close_fd(&d->backend_fd);
				d->nout = 0;
			} else if (vu_msg_recv(d->backend_fd, &d->msg) == 0) {
				vu_msg_close_fds(&d->msg);
				vu_dev_backend_reply(d, &d->msg);
			} else {
				close_fd(&d->backend_fd);
				d->nout = 0;
			}
			vu_dev_process(d);
		}
		for (unsigned i = 2; i < n; i++) {
			if (pfd[i].revents) {
				uint64_t v;

				while (read(pfd[i].fd, &v, sizeof(v)) == sizeof(v))
					;
				d->st.kicks++;
				vu_dev_process_queue(d, kq[i - 2]);
			}
		}
		if (d->more)
			vu_dev_process(d);
	}
	return ret;
}
