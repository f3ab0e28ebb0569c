// SPDX-License-Identifier: MIT
/*
 * virtio-blk requests on iovecs of back-end memory (tools/vhost_user_blk.h).
 * A request is a 16-byte header (type, reserved, sector) in device-readable
 * memory, then data (device-readable for a write, device-writable for a
 * read or get-id), then one device-writable status byte: the chain's last
 * byte (virtio 1.1 5.2.6). Everything in it comes from the guest: sizes,
 * sectors and layout are checked before any I/O, and a request that does
 * not fit gets VIRTIO_BLK_S_IOERR without touching the image.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost_user_blk.h"

/* Copy the first @len bytes of the iovecs to @dst; false if they hold fewer. */
static bool iov_gather(const struct iovec *iov, unsigned n, void *dst, size_t len)
{
	uint8_t *p = dst;

	for (unsigned i = 0; i < n && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(p, iov[i].iov_base, k);
		p += k;
		len -= k;
	}
	return len == 0;
}

/* The iovecs for bytes [skip, skip + len) of @src, into b->data; the count, or -1 if too many. */
static int iov_slice(struct vblk *b, const struct iovec *src, unsigned n, uint64_t skip, uint64_t len)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (k == sizeof(b->data) / sizeof(b->data[0]))
			return -1;
		l -= skip;
		if (l > len)
			l = len;
		b->data[k].iov_base = (uint8_t *)src[i].iov_base + skip;
		b->data[k].iov_len = (size_t)l;
		k++;
		len -= l;
		skip = 0;
	}
	return (int)k;
}

/* All of @len bytes at @off, or false. */
static bool do_io(struct vblk *b, bool write, int niov, uint64_t off, uint64_t len)
{
	struct iovec *iov = b->data;

	while (len) {
		ssize_t r = write ? pwritev(b->fd, iov, niov, (off_t)off) : preadv(b->fd, iov, niov, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		off += (uint64_t)r;
		len -= (uint64_t)r;
		/* a short transfer: step past what was done */
		while (r > 0 && niov) {
			if ((size_t)r >= iov->iov_len) {
				r -= (ssize_t)iov->iov_len;
				iov++;
				niov--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + r;
				iov->iov_len -= (size_t)r;
				r = 0;
			}
		}
	}
	return true;
}

static uint32_t vblk_exec(void *dev, struct vu_req *r)
{
	struct vblk *b = dev;
	const struct iovec *wr = r->iov + r->nread;
	unsigned nw = r->niov - r->nread;
	uint8_t hdr[16], *status, s = VBLK_S_IOERR;
	uint32_t type, used = 1;
	uint64_t sector, len;
	int n;

	if (!r->write_len || !nw) {
		b->st.bad_requests++;
		return 0;	/* no status byte: nothing can be said */
	}
	status = (uint8_t *)wr[nw - 1].iov_base + wr[nw - 1].iov_len - 1;
	if (!iov_gather(r->iov, r->nread, hdr, sizeof(hdr))) {
		b->st.bad_requests++;
		goto out;
	}
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	switch (type) {
	case VBLK_T_IN:
	case VBLK_T_OUT:
		len = type == VBLK_T_IN ? r->write_len - 1 : r->read_len - 16;
		if (len % VBLK_SECTOR || sector > b->sectors || len / VBLK_SECTOR > b->sectors - sector) {
			b->st.bad_requests++;
			break;
		}
		if (type == VBLK_T_OUT && b->ro) {
			b->st.io_errors++;
			break;
		}
		n = type == VBLK_T_IN ? iov_slice(b, wr, nw, 0, len) : iov_slice(b, r->iov, r->nread, 16, len);
		if (n < 0) {
			b->st.bad_requests++;
			break;
		}
		if (!do_io(b, type == VBLK_T_OUT, n, sector * VBLK_SECTOR, len)) {
			b->st.io_errors++;
			break;
		}
		if (type == VBLK_T_IN) {
			b->st.reads++;
			b->st.bytes_read += len;
			used = (uint32_t)len + 1;
		} else {
			b->st.writes++;
			b->st.bytes_written += len;
		}
		s = VBLK_S_OK;
		break;
	case VBLK_T_FLUSH:
		b->st.flushes++;
		if (!b->ro && fdatasync(b->fd)) {
			b->st.io_errors++;
			break;
		}
		s = VBLK_S_OK;
		break;
	case VBLK_T_GET_ID: {
		uint64_t room = r->write_len - 1;

		len = room < VBLK_ID_BYTES ? room : VBLK_ID_BYTES;
		n = iov_slice(b, wr, nw, 0, len);
		for (int i = 0, off = 0; i < n; off += (int)b->data[i].iov_len, i++)
			memcpy(b->data[i].iov_base, b->serial + off, b->data[i].iov_len);
		b->st.get_ids++;
		used = (uint32_t)len + 1;
		s = VBLK_S_OK;
		break;
	}
	default:
		b->st.unsupported++;
		s = VBLK_S_UNSUPP;
		break;
	}
out:
	*status = s;
	return used;
}

static uint32_t vblk_refuse(void *dev, uint8_t *status)
{
	(void)dev;
	if (!status)
		return 0;
	*status = VBLK_S_IOERR;
	return 1;
}

/* struct virtio_blk_config (virtio 1.1 5.2.4), up to write_zeroes_may_unmap and its padding. */
#define VBLK_CONFIG_LEN 60

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void vblk_get_config(void *dev, uint8_t *cfg, size_t len)
{
	struct vblk *b = dev;
	uint16_t q = (uint16_t)b->queues;

	(void)len;
	memcpy(cfg + 0, &b->sectors, 8);	/* capacity */
	put32(cfg + 12, 254);			/* seg_max */
	put32(cfg + 20, VBLK_SECTOR);		/* blk_size */
	memcpy(cfg + 34, &q, 2);		/* num_queues */
}

int vblk_init(struct vblk *b, int fd, bool ro, const char *serial, unsigned queues)
{
	struct stat st;
	off_t size;

	memset(b, 0, sizeof(*b));
	if (fstat(fd, &st))
		return -errno;
	size = S_ISBLK(st.st_mode) ? lseek(fd, 0, SEEK_END) : st.st_size;
	if (size < 0)
		return -errno;
	b->fd = fd;
	b->sectors = (uint64_t)size / VBLK_SECTOR;
	b->ro = ro;
	b->queues = queues;
	strncpy(b->serial, serial ? serial : "viommu-vblk", sizeof(b->serial));
	b->ops = (struct vu_device_ops){
		.features = 1ull << VBLK_F_SEG_MAX | 1ull << VBLK_F_BLK_SIZE | 1ull << VBLK_F_FLUSH |
			    (ro ? 1ull << VBLK_F_RO : 0) | (queues > 1 ? 1ull << VBLK_F_MQ : 0),
		.config_len = VBLK_CONFIG_LEN,
		.get_config = vblk_get_config,
		.exec = vblk_exec,
		.refuse = vblk_refuse,
	};
	return 0;
}
