/* SPDX-License-Identifier: MIT */
/*
 * A file-backed virtio-blk device for the vhost-user back-end core
 * (tools/vhost_user.h): read, write, flush and get-id on a file or block
 * device, 512-byte sectors (virtio 1.1 section 5.2).
 */
#ifndef VIOMMU_TOOLS_VHOST_USER_BLK_H
#define VIOMMU_TOOLS_VHOST_USER_BLK_H

#include "vhost_user.h"

#define VBLK_T_IN		0
#define VBLK_T_OUT		1
#define VBLK_T_FLUSH		4
#define VBLK_T_GET_ID		8
#define VBLK_S_OK		0
#define VBLK_S_IOERR		1
#define VBLK_S_UNSUPP		2
#define VBLK_ID_BYTES		20
#define VBLK_SECTOR		512

/* Device feature bits (virtio 1.1 5.2.3). */
#define VBLK_F_SEG_MAX		2
#define VBLK_F_RO		5
#define VBLK_F_BLK_SIZE		6
#define VBLK_F_FLUSH		9
#define VBLK_F_MQ		12

struct vblk_stats {
	uint64_t reads, writes, flushes, get_ids, unsupported, bad_requests, io_errors;
	uint64_t bytes_read, bytes_written;
};

struct vblk {
	int fd;
	uint64_t sectors;
	bool ro;
	unsigned queues;
	char serial[VBLK_ID_BYTES];
	struct vu_device_ops ops;
	struct vblk_stats st;
	struct iovec data[1024];	/* the data part of one request */
};

/* Serve @fd (a file or block device open for reading, and writing unless @ro). 0 or a negative errno. */
int vblk_init(struct vblk *b, int fd, bool ro, const char *serial, unsigned queues);

#endif
