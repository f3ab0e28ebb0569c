/* SPDX-License-Identifier: MIT */
/*
 * A vhost-user front-end in the test process, for tests/test_vhost_user.c
 * and bench/bench_devtlb.c: it plays QEMU's part against the real back-end
 * (tools/vhost_user.c + tools/vhost_user_blk.c, compiled in), which runs
 * vu_dev_serve() on its own thread over a socketpair, exactly as it serves
 * QEMU. The front-end owns guest memory (a memfd, shared with the back-end
 * through SET_MEM_TABLE), a guest IOMMU (a page table of IOVA -> guest
 * physical page and permission), answers the back-end's MISS messages the
 * way QEMU's vhost_device_iotlb_miss does (a 4 KiB UPDATE on the front-end
 * channel, then a u64 ack: 0, or 1 if the IOVA is not mapped for that
 * access), and drives one split virtqueue per queue as a guest driver would.
 */
#ifndef VIOMMU_TESTS_VHOST_FRONTEND_H
#define VIOMMU_TESTS_VHOST_FRONTEND_H

#define _GNU_SOURCE	/* memfd_create */
#include <signal.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tools/vhost_user.c"
#include "../tools/vhost_user_blk.c"

#define FE_MEM		(8u << 20)		/* guest memory: GPA [0, 8 MiB) */
#define FE_UADDR	0x55aa00000000ull	/* the front-end's "user address" of GPA 0 */
#define FE_PAGES	(FE_MEM >> 12)
#define FE_QSIZE	64

struct fe_vq {
	uint64_t desc, avail, used;	/* guest addresses of the rings as the device sees them */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx, used_seen, next_desc;
	int kick, call;
};

struct fe {
	int sock, peer;			/* front-end channel: ours, the back-end's */
	int bsock, bpeer;		/* back-end channel: ours, handed over with SET_BACKEND_REQ_FD */
	int memfd;
	uint8_t *mem;			/* guest memory as the front-end sees it */
	bool iommu;
	/* the guest IOMMU: per IOVA page (IOVA < FE_IOVA_SPAN), GPA page + 1 (0: unmapped) and permission */
	uint32_t pt[1u << 16];
	uint8_t perm[1u << 16];
	uint64_t misses, miss_failures, updates_sent;
	/* hold MISS acks (UPDATEs still go out at once) until nothing else happens, as a slow front-end may */
	bool delay_acks;
	uint64_t held[256];
	unsigned nheld, max_held;
	unsigned queues;
	struct fe_vq vq[VU_MAX_QUEUES];
	struct vblk blk;
	struct vu_dev *d;
	pthread_t thread;
	volatile int stop;
	int serve_ret;
};

#define FE_IOVA_BASE	0x40000000ull	/* IOVA of page 0 of the guest IOMMU's window */
#define FE_IOVA_SPAN	(1ull << 28)	/* 65536 pages */

static inline void *fe_backend_main(void *arg)
{
	struct fe *f = arg;

	f->serve_ret = vu_dev_serve(f->d, f->peer, &f->stop);
	close(f->peer);
	return NULL;
}

/*
 * One message with the header words exactly as given (@flags is the whole
 * flags word, version bits included, so tests can send what QEMU never
 * would) and @nfds descriptors attached. 0, or -EIO if it was not sent whole.
 */
static inline int fe_send_raw(struct fe *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
			      const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	} ctl;
	uint32_t hdr[3] = { req, flags, size };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(f->sock, &mh, MSG_NOSIGNAL) == (ssize_t)(sizeof(hdr) + size) ? 0 : -EIO;
}

/* A front-end message: the protocol version is added to @flags. */
static inline int fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds,
			  unsigned nfds)
{
	return fe_send_raw(f, req, VU_VERSION | flags, payload, size, fds, nfds);
}

/* Read one reply on the front-end channel (the back-end sends nothing else there). */
static inline int fe_reply(struct fe *f, struct vu_msg *r)
{
	uint32_t hdr[3];

	if (read_all(f->sock, hdr, sizeof(hdr)))
		return -EPIPE;
	r->request = hdr[0];
	r->flags = hdr[1];
	r->size = hdr[2];
	if (r->size > VU_MAX_PAYLOAD || (r->size && read_all(f->sock, &r->u, r->size)))
		return -EPROTO;
	return 0;
}

/* A request that waits for its reply (REPLY_ACK or a GET): the reply's u64, or a negative errno. */
static inline int64_t fe_call(struct fe *f, uint32_t req, const void *payload, uint32_t size, const int *fds,
		       unsigned nfds)
{
	struct vu_msg r;

	if (fe_send(f, req, VU_FLAG_NEED_REPLY, payload, size, fds, nfds) || fe_reply(f, &r))
		return -EPIPE;
	if (r.request != req || r.flags != (VU_VERSION | VU_FLAG_REPLY))
		return -EPROTO;
	return r.size == 8 ? (int64_t)r.u.u64 : r.size;
}

static inline int64_t fe_u64(struct fe *f, uint32_t req, uint64_t v)
{
	return fe_call(f, req, &v, 8, NULL, 0);
}

static inline int64_t fe_state(struct fe *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_vring_state s = { index, num };

	return fe_call(f, req, &s, sizeof(s), NULL, 0);
}

static inline int64_t fe_iotlb(struct fe *f, uint8_t type, uint64_t iova, uint64_t size, uint64_t uaddr, uint8_t perm)
{
	struct vu_iotlb m = { .iova = iova, .size = size, .uaddr = uaddr, .perm = perm, .type = type };

	if (type == VU_IOTLB_UPDATE)
		f->updates_sent++;
	return fe_call(f, VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
}

/* The guest IOMMU: map or unmap [iova, iova + len) (page granular); unmap sends the INVALIDATE. */
static inline void fe_map(struct fe *f, uint64_t iova, uint64_t gpa, uint64_t len, uint8_t perm)
{
	for (uint64_t o = 0; o < len; o += 4096) {
		uint64_t p = (iova + o - FE_IOVA_BASE) >> 12;

		if (iova + o < FE_IOVA_BASE || p >= FE_IOVA_SPAN >> 12)
			abort();	/* a mistake in the test */
		f->pt[p] = (uint32_t)((gpa + o) >> 12) + 1;
		f->perm[p] = perm;
	}
}

static inline int64_t fe_unmap(struct fe *f, uint64_t iova, uint64_t len)
{
	for (uint64_t o = 0; o < len; o += 4096) {
		uint64_t p = (iova + o - FE_IOVA_BASE) >> 12;

		if (iova + o < FE_IOVA_BASE || p >= FE_IOVA_SPAN >> 12)
			abort();
		f->pt[p] = 0;
	}
	return fe_iotlb(f, VU_IOTLB_INVALIDATE, iova, len, 0, 0);
}

static inline int fe_ack(struct fe *f, uint64_t v)
{
	uint32_t rh[3] = { VU_BACKEND_IOTLB_MSG, VU_VERSION | VU_FLAG_REPLY, 8 };

	return write(f->bsock, rh, sizeof(rh)) == sizeof(rh) && write(f->bsock, &v, 8) == 8 ? 0 : -1;
}

/* Answer one message on the back-end channel, as QEMU's backend_read does. 0, or -1 if none came. */
static inline int fe_serve_miss(struct fe *f, int timeout_ms)
{
	struct pollfd pf = { .fd = f->bsock, .events = POLLIN };
	uint32_t hdr[3];
	struct vu_iotlb m;
	uint64_t ok = 1;

	if (poll(&pf, 1, timeout_ms) != 1 || read_all(f->bsock, hdr, sizeof(hdr)) || hdr[0] != VU_BACKEND_IOTLB_MSG ||
	    hdr[2] != sizeof(m) || read_all(f->bsock, &m, sizeof(m)) || m.type != VU_IOTLB_MISS)
		return -1;
	f->misses++;
	if (getenv("FE_DEBUG"))
		fprintf(stderr, "fe: MISS 0x%llx perm %u\n", (unsigned long long)m.iova, m.perm);
	if (m.iova >= FE_IOVA_BASE && m.iova - FE_IOVA_BASE < FE_IOVA_SPAN) {
		uint64_t p = (m.iova - FE_IOVA_BASE) >> 12;
		/* QEMU: write access unless the miss asked for read only */
		uint8_t need = m.perm == VU_ACCESS_RO ? VU_ACCESS_RO : VU_ACCESS_WO;

		if (f->pt[p] && (f->perm[p] & need))
			ok = fe_iotlb(f, VU_IOTLB_UPDATE, m.iova & ~0xfffull, 4096,
				      FE_UADDR + ((uint64_t)(f->pt[p] - 1) << 12), f->perm[p]) != 0;
	}
	f->miss_failures += ok;
	if (hdr[1] & VU_FLAG_NEED_REPLY) {
		if (f->delay_acks && f->nheld < 256) {
			f->held[f->nheld++] = ok;
			if (f->nheld > f->max_held)
				f->max_held = f->nheld;
			return 0;
		}
		return fe_ack(f, ok);
	}
	return 0;
}

/* Send the held acks, in order. */
static inline void fe_flush_acks(struct fe *f)
{
	for (unsigned i = 0; i < f->nheld; i++)
		fe_ack(f, f->held[i]);
	f->nheld = 0;
}

/* Guest address of ring/buffer GPA @gpa as the device sees it: an IOVA (identity window) or the GPA. */
static inline uint64_t fe_dev_addr(const struct fe *f, uint64_t gpa)
{
	return f->iommu ? FE_IOVA_BASE + gpa : gpa;
}

/*
 * Connect a fresh back-end and negotiate: features (with or without
 * ACCESS_PLATFORM), protocol features, memory table, back-end channel and
 * @queues rings at GPA 0x10000 + q * 0x4000. With the IOMMU the rings are
 * mapped at IOVA FE_IOVA_BASE + GPA (identity window) but not announced:
 * the back-end misses on them like on everything else.
 */
static inline int fe_start(struct fe *f, int image_fd, bool iommu, unsigned queues, uint32_t iotlb_capacity)
{
	int sv[2], bv[2];
	struct vu_dev_opts o;
	uint64_t feats;

	memset(f, 0, sizeof(*f));
	f->iommu = iommu;
	f->queues = queues;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_STREAM, 0, bv))
		return -errno;
	f->sock = sv[0];
	f->peer = sv[1];
	f->bsock = bv[0];
	f->bpeer = bv[1];
	f->memfd = memfd_create("fe-guest-ram", MFD_CLOEXEC);
	if (f->memfd < 0 || ftruncate(f->memfd, FE_MEM))
		return -errno;
	f->mem = mmap(NULL, FE_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	if (f->mem == MAP_FAILED)
		return -errno;
	if (vblk_init(&f->blk, image_fd, false, "fe-serial", queues))
		return -EINVAL;
	o = (struct vu_dev_opts){ .ops = &f->blk.ops, .dev = &f->blk, .queues = queues, .iotlb_capacity = iotlb_capacity };
	f->d = vu_dev_new(&o);
	if (!f->d || pthread_create(&f->thread, NULL, fe_backend_main, f))
		return -ENOMEM;

	feats = (uint64_t)fe_call(f, VU_GET_FEATURES, NULL, 0, NULL, 0);
	if (fe_u64(f, VU_SET_PROTOCOL_FEATURES, 1ull << VU_PROTOCOL_F_MQ | 1ull << VU_PROTOCOL_F_REPLY_ACK |
						1ull << VU_PROTOCOL_F_BACKEND_REQ | 1ull << VU_PROTOCOL_F_CONFIG))
		return -EPROTO;
	if (fe_call(f, VU_SET_BACKEND_REQ_FD, NULL, 0, &f->bpeer, 1))
		return -EPROTO;
	close(f->bpeer);
	feats &= 1ull << VU_F_VERSION_1 | 1ull << VU_F_RING_INDIRECT_DESC | 1ull << VU_F_PROTOCOL_FEATURES |
		 1ull << VBLK_F_FLUSH | 1ull << VBLK_F_SEG_MAX | 1ull << VBLK_F_BLK_SIZE | 1ull << VBLK_F_MQ |
		 (iommu ? 1ull << VU_F_ACCESS_PLATFORM : 0);
	if (fe_u64(f, VU_SET_FEATURES, feats))
		return -EPROTO;
	struct {
		uint32_t n, pad;
		struct vu_region r;
	} mt = { 1, 0, { .gpa = 0, .size = FE_MEM, .uaddr = FE_UADDR, .mmap_offset = 0 } };
	if (fe_call(f, VU_SET_MEM_TABLE, &mt, sizeof(mt), &f->memfd, 1))
		return -EPROTO;
	for (unsigned q = 0; q < queues; q++) {
		struct fe_vq *v = &f->vq[q];
		uint64_t base = 0x10000 + q * 0x4000;
		struct vu_vring_addr a;

		v->desc_gpa = base;
		v->avail_gpa = base + 0x1000;
		v->used_gpa = base + 0x2000;
		v->desc = fe_dev_addr(f, v->desc_gpa);
		v->avail = fe_dev_addr(f, v->avail_gpa);
		v->used = fe_dev_addr(f, v->used_gpa);
		if (iommu)
			fe_map(f, v->desc, v->desc_gpa, 0x3000, 3);
		a = (struct vu_vring_addr){ .index = q, .desc = iommu ? v->desc : FE_UADDR + v->desc_gpa,
					    .avail = iommu ? v->avail : FE_UADDR + v->avail_gpa,
					    .used = iommu ? v->used : FE_UADDR + v->used_gpa };
		v->kick = eventfd(0, EFD_CLOEXEC);
		v->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe_state(f, VU_SET_VRING_NUM, q, FE_QSIZE) || fe_call(f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) ||
		    fe_state(f, VU_SET_VRING_BASE, q, 0) ||
		    fe_call(f, VU_SET_VRING_CALL, &(uint64_t){ q }, 8, &v->call, 1) ||
		    fe_call(f, VU_SET_VRING_KICK, &(uint64_t){ q }, 8, &v->kick, 1) ||
		    fe_state(f, VU_SET_VRING_ENABLE, q, 1))
			return -EPROTO;
	}
	return 0;
}

static inline void fe_stop(struct fe *f)
{
	f->stop = 1;
	shutdown(f->sock, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->sock);
	close(f->bsock);
	for (unsigned q = 0; q < f->queues; q++) {
		close(f->vq[q].kick);
		close(f->vq[q].call);
	}
	vu_dev_free(f->d);
	munmap(f->mem, FE_MEM);
	close(f->memfd);
}

/* One descriptor of a chain to post. */
struct fe_buf {
	uint64_t addr;			/* as the device sees it */
	uint32_t len;
	uint16_t flags;			/* VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT */
};

/* Post a chain on queue @q (descriptors from the ring's table, round robin) and kick. Returns the head. */
static inline uint16_t fe_post(struct fe *f, unsigned q, const struct fe_buf *b, unsigned n)
{
	struct fe_vq *v = &f->vq[q];
	struct vring_desc *dt = (struct vring_desc *)(f->mem + v->desc_gpa);
	struct vring_avail *av = (struct vring_avail *)(f->mem + v->avail_gpa);
	uint16_t head = v->next_desc;
	uint64_t one = 1;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % FE_QSIZE);

		dt[idx] = (struct vring_desc){ .addr = b[i].addr, .len = b[i].len,
					       .flags = (uint16_t)(b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
					       .next = (uint16_t)((idx + 1) % FE_QSIZE) };
	}
	v->next_desc = (uint16_t)((head + n) % FE_QSIZE);
	av->ring[v->avail_idx % FE_QSIZE] = head;
	__atomic_store_n(&av->idx, ++v->avail_idx, __ATOMIC_RELEASE);
	if (write(v->kick, &one, 8) != 8)
		return UINT16_MAX;
	return head;
}

/*
 * Wait until queue @q has used everything posted, answering misses
 * meanwhile. Returns the used length of the last used element, or -1 on a
 * timeout (@ms).
 */
static inline int64_t fe_wait(struct fe *f, unsigned q, int ms)
{
	struct fe_vq *v = &f->vq[q];
	struct vring_used *u = (struct vring_used *)(f->mem + v->used_gpa);
	uint16_t want = v->avail_idx;

	for (int waited = 0; __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != want; ) {
		if (fe_serve_miss(f, 1) < 0) {
			if (f->nheld)
				fe_flush_acks(f);	/* the back-end waits for them */
			else if (++waited > ms)
				return -1;
		}
	}
	fe_flush_acks(f);
	v->used_seen = want;
	return u->ring[(uint16_t)(want - 1) % FE_QSIZE].len;
}

/* A virtio-blk request with one data buffer; returns the status byte (or -1 on timeout). */
static inline int fe_blk(struct fe *f, unsigned q, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len,
		  uint64_t hdr_gpa)
{
	uint8_t *hdr = f->mem + hdr_gpa;
	struct fe_buf b[3] = {
		{ fe_dev_addr(f, hdr_gpa), 16, 0 },
		{ fe_dev_addr(f, data_gpa), len, type == VBLK_T_OUT ? 0 : VRING_DESC_F_WRITE },
		{ fe_dev_addr(f, hdr_gpa + 16), 1, VRING_DESC_F_WRITE },
	};

	memset(hdr, 0, 17);
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	hdr[16] = 0xee;
	if (!len)
		b[1] = b[2];
	fe_post(f, q, b, len ? 3 : 2);
	if (fe_wait(f, q, 5000) < 0)
		return -1;
	return hdr[16];
}

#endif
