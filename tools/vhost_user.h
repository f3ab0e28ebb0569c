/* SPDX-License-Identifier: MIT */
/*
 * A vhost-user back-end core for `viommu vhost-user-blk`: the protocol
 * (QEMU docs/interop/vhost-user.rst), the memory table, split virtqueues
 * and the device IOTLB (include/viommu/devtlb.h) that every guest address
 * goes through when VIRTIO_F_ACCESS_PLATFORM is negotiated.
 *
 * One thread does everything: it reads a front-end message, acts on it,
 * answers, and processes rings between messages. So when an IOTLB
 * INVALIDATE is acknowledged no request is still using a translation it
 * removed (requests run to completion before the next message is read),
 * which is what a device-TLB invalidation's completion promises the IOMMU.
 *
 * Everything received is hostile: a malformed message ends the connection
 * (vu_msg_check), a request the device cannot honour gets an error reply
 * when the front-end asked for one, a guest request whose descriptors are
 * malformed, loop, or point outside the IOTLB gets VIRTIO_BLK_S_IOERR (or
 * no status at all when even the status byte is unreachable), and a ring
 * that cannot be read is stopped. Nothing received can make the back-end
 * crash, spin, or allocate without bound.
 *
 * The layers: vu_msg_* (wire format, pure, fuzzed by fuzz/fuzz_vhost_user.c),
 * vu_dev (connection state and message handling), the virtqueue walker
 * (chains -> iovecs of back-end memory), and a device (tools/vhost_user_blk.c)
 * that executes one request on iovecs.
 */
#ifndef VIOMMU_TOOLS_VHOST_USER_H
#define VIOMMU_TOOLS_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <viommu/devtlb.h>

/* ---- the wire format ------------------------------------------------------- */

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
};

/* Back-end to front-end, on the channel SET_BACKEND_REQ_FD gave. */
#define VU_BACKEND_IOTLB_MSG	1

#define VU_VERSION		0x1u
#define VU_VERSION_MASK		0x3u
#define VU_FLAG_REPLY		0x4u
#define VU_FLAG_NEED_REPLY	0x8u

#define VU_HDR_SIZE		12
#define VU_MAX_PAYLOAD		4096	/* more than any message we accept (QEMU's largest is ~1.6K) */
#define VU_MAX_FDS		8
#define VU_MAX_REGIONS		8	/* VHOST_MEMORY_BASELINE_NREGIONS: we do not offer CONFIGURE_MEM_SLOTS */
#define VU_MAX_QUEUES		8
#define VU_MAX_QUEUE_SIZE	32768	/* virtio 1.1 2.6: Queue Size <= 32768 */
#define VU_CONFIG_MAX		256	/* VHOST_USER_MAX_CONFIG_SIZE */
#define VU_VRING_IDX_MASK	0xffu
#define VU_VRING_NOFD		0x100u

/* Protocol feature bits we implement. */
#define VU_PROTOCOL_F_MQ		0
#define VU_PROTOCOL_F_REPLY_ACK		3
#define VU_PROTOCOL_F_BACKEND_REQ	5
#define VU_PROTOCOL_F_CONFIG		9

/* Feature bits (virtio 1.1 6, vhost-user.rst). */
#define VU_F_RING_INDIRECT_DESC		28
#define VU_F_PROTOCOL_FEATURES		30
#define VU_F_VERSION_1			32
#define VU_F_ACCESS_PLATFORM		33

/* struct vhost_iotlb_msg (linux/vhost_types.h): 26 bytes, 32 with padding. */
#define VU_IOTLB_MISS		1
#define VU_IOTLB_UPDATE		2
#define VU_IOTLB_INVALIDATE	3
#define VU_IOTLB_ACCESS_FAIL	4
/* VHOST_ACCESS_RO / _WO: the same bits as VIOMMU_PERM_READ / _WRITE. */
#define VU_ACCESS_RO		0x1u
#define VU_ACCESS_WO		0x2u

struct vu_iotlb {
	uint64_t iova, size, uaddr;
	uint8_t perm, type;
	uint8_t pad[6];
};

struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

struct vu_vring_state {
	uint32_t index, num;
};

struct vu_vring_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};

struct vu_config {
	uint32_t offset, size, flags;
	uint8_t region[VU_CONFIG_MAX];
};

/*
 * One message as received or to send. The header is the first 12 bytes;
 * the payload follows it on the wire, but here starts at @u (aligned).
 * Received file descriptors are owned by the message until consumed
 * (set to -1 by whoever takes one); vu_msg_close_fds closes the rest.
 */
struct vu_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct {
			uint32_t nregions, padding;
			struct vu_region regions[VU_MAX_REGIONS];
		} mem;
		struct vu_iotlb iotlb;
		struct vu_config config;
		uint8_t raw[VU_MAX_PAYLOAD];
	} u;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

/*
 * Is @m a well-formed request? Checks the header (version 1, not a reply),
 * the payload size each request type must have, and the number of file
 * descriptors it must carry. Returns 0; -EPROTO for a malformed message
 * (the connection should end) or -ENOSYS for a request this back-end does
 * not implement; *why says which rule failed. Pure: no I/O, O(1).
 */
int vu_msg_check(const struct vu_msg *m, const char **why);

/* The name of a front-end request, for logs ("?" if unknown). */
const char *vu_request_name(uint32_t request);

/*
 * Receive one message from @fd (blocking): the header with any file
 * descriptors, then exactly @size payload bytes. Returns 0, -EPIPE on an
 * orderly end of the connection, -EPROTO on a truncated or oversized
 * message (fds closed), or another negative errno.
 */
int vu_msg_recv(int fd, struct vu_msg *m);
/* Send @m (header + size bytes of payload, no fds). Returns 0 or a negative errno. */
int vu_msg_send(int fd, const struct vu_msg *m);
void vu_msg_close_fds(struct vu_msg *m);

/* ---- the device a back-end serves ------------------------------------------ */

/*
 * One request, as the walker hands it to the device: the chain's buffers
 * as iovecs of back-end memory in chain order, the first @nread of them
 * device-readable (read_len bytes), the rest device-writable (write_len).
 */
struct vu_req {
	struct iovec *iov;
	unsigned niov, nread;
	uint64_t read_len, write_len;
};

struct vu_device_ops {
	uint64_t features;			/* device feature bits offered (besides the transport's) */
	size_t config_len;
	void (*get_config)(void *dev, uint8_t *cfg, size_t len);
	/* Execute @r; return the bytes written into its writable part (the used length). */
	uint32_t (*exec)(void *dev, struct vu_req *r);
	/*
	 * The request could not be executed (a descriptor was refused);
	 * @status is the last device-writable byte of the chain when it could
	 * be reached, else NULL. Returns the used length (0 or 1).
	 */
	uint32_t (*refuse)(void *dev, uint8_t *status);
};

/* ---- the connection -------------------------------------------------------- */

struct vu_stats {
	uint64_t messages, iotlb_updates, iotlb_invalidates, misses_sent, miss_failures;
	uint64_t invalidates_to_top;	/* INVALIDATEs whose range ends at 2^64 - 1 (iova + size wraps to 0) */
	uint64_t requests, refused, bad_rings, kicks, calls;
	uint64_t ring_translations;	/* translations of ring areas (desc, avail, used) */
	uint64_t buffer_translations;	/* translations of request buffers */
};

struct vu_dev;

struct vu_dev_opts {
	const struct vu_device_ops *ops;
	void *dev;
	unsigned queues;		/* 1..VU_MAX_QUEUES */
	uint32_t iotlb_capacity;	/* 0: the devtlb default */
};

struct vu_dev *vu_dev_new(const struct vu_dev_opts *o);
void vu_dev_free(struct vu_dev *d);

/*
 * Act on one received, checked message. Fills *reply and returns 1 when a
 * reply must be sent, 0 when not, or a negative errno when the connection
 * must end (the reason is logged). Takes ownership of the message's fds.
 */
int vu_dev_handle(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply);

/*
 * Serve one connected front-end on @fd until it disconnects or *stop
 * becomes true (checked between events). Returns 0 on an orderly end, or a
 * negative errno when the connection was ended for a protocol error.
 */
int vu_dev_serve(struct vu_dev *d, int fd, volatile int *stop);

/* Forget the connection's state (memory table, rings, IOTLB, channel), keeping the counters. */
void vu_dev_reset(struct vu_dev *d);

/* Process every runnable ring once (after a kick, an IOTLB update, a MISS answer). */
void vu_dev_process(struct vu_dev *d);
/* Process ring @q (for a driver in the same process, e.g. the benchmark). */
void vu_dev_process_queue(struct vu_dev *d, unsigned q);

/* The backend-channel fd (-1 if none) and the handling of one message read from it. */
int vu_dev_backend_fd(const struct vu_dev *d);
int vu_dev_backend_reply(struct vu_dev *d, const struct vu_msg *m);

void vu_dev_get_stats(const struct vu_dev *d, struct vu_stats *st);
/* The device IOTLB (NULL until features with VIRTIO_F_ACCESS_PLATFORM are set). */
struct viommu_devtlb *vu_dev_devtlb(const struct vu_dev *d);

#endif
