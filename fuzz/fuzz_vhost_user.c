// SPDX-License-Identifier: MIT
/*
 * The vhost-user back-end's message decoder and handler (tools/vhost_user.c)
 * under hostile input. Each operation of the input is one of:
 *
 *	a message:	[request u8] [flags u8] [size u16] [nfds u8] [payload...]
 *	0xff poke:	[offset u16] [len u8] [bytes] into guest memory (64 KiB memfd)
 *	0xfe process:	run every ring (descriptor walking, the IOTLB, the block device)
 *	0xfd ack:	[flags u8] [value u64] a reply on the back-end channel
 *
 * vu_msg_check() is compared with a model written from vhost-user.rst's
 * message table (header rules, payload size per request, file descriptors
 * per request); every message it accepts goes to vu_dev_handle(), whose
 * replies must be well formed and, for the GET requests, exact. Messages
 * carry real descriptors: copies of the guest memfd for SET_MEM_TABLE, an
 * eventfd for rings, a socket for the back-end channel (drained after each
 * step, so a MISS never blocks). At the end no descriptor may have leaked.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/eventfd.h>

#include "../tools/vhost_user.c"
#include "../tools/vhost_user_blk.c"
#include "fuzz.h"

/* The message table of vhost-user.rst, for the requests this back-end implements. */
static int model_check(const struct vu_msg *m)
{
	uint32_t n, sz;

	if ((m->flags & 3) != 1 || (m->flags & 4) || m->size > VU_MAX_PAYLOAD)
		return -EPROTO;
	switch (m->request) {
	case 1: case 3: case 4: case 15: case 17:	/* no payload */
		return m->size == 0 && !m->nfds ? 0 : -EPROTO;
	case 2: case 16:				/* u64 */
	case 8: case 10: case 11: case 18:		/* vring state */
		return m->size == 8 && !m->nfds ? 0 : -EPROTO;
	case 9:						/* vring address */
		return m->size == 40 && !m->nfds ? 0 : -EPROTO;
	case 12: case 13: case 14:			/* u64 index | NOFD, and an fd unless NOFD */
		if (m->size != 8 || m->u.u64 >> 9)
			return -EPROTO;
		return m->nfds == ((m->u.u64 & 0x100) ? 0u : 1u) ? 0 : -EPROTO;
	case 21:					/* one fd */
		return m->size == 0 && m->nfds == 1 ? 0 : -EPROTO;
	case 22:					/* struct vhost_iotlb_msg */
		return m->size == 32 && !m->nfds ? 0 : -EPROTO;
	case 5:						/* memory regions: count, padding, 32 bytes each, one fd each */
		if (m->size < 8)
			return -EPROTO;
		memcpy(&n, m->u.raw, 4);
		return n <= 8 && m->size == 8 + 32 * n && m->nfds == n ? 0 : -EPROTO;
	case 24: case 25:				/* config: offset, size, flags, size bytes */
		if (m->size < 12)
			return -EPROTO;
		memcpy(&sz, m->u.raw + 4, 4);
		return sz <= 256 && m->size == 12 + sz && !m->nfds ? 0 : -EPROTO;
	default:
		return -ENOSYS;
	}
}

static void log_sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	fprintf(stderr, "log: %s\n", msg);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vu_msg m, reply;
	static struct vblk b;
	struct fz_in in = { data, size };
	int base_fds = count_fds();
	int memfd = memfd_create("fuzz-guest", MFD_CLOEXEC), img = memfd_create("fuzz-img", MFD_CLOEXEC);
	int sv[2] = { -1, -1 };
	struct vu_dev_opts o;
	struct vu_dev *d;
	uint8_t *mem;

	if (getenv("FUZZ_DEBUG"))
		viommu_set_log(log_sink, NULL, VIOMMU_LOG_DEBUG);
	FZ_CHECK(memfd >= 0 && img >= 0 && !ftruncate(memfd, 0x10000) && !ftruncate(img, 0x10000));
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	FZ_CHECK(mem != MAP_FAILED);
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FZ_CHECK(vblk_init(&b, img, false, "fuzz", 2) == 0);
	o = (struct vu_dev_opts){ .ops = &b.ops, .dev = &b, .queues = 2, .iotlb_capacity = 16 };
	d = vu_dev_new(&o);
	FZ_CHECK(d);
	for (unsigned ops = 0; fz_left(&in) && ops < 512; ops++) {
		uint8_t op = fz_u8(&in);

		if (op == 0xff) {
			uint16_t off = (uint16_t)(fz_u8(&in) | fz_u8(&in) << 8);
			uint8_t len = fz_u8(&in);

			for (unsigned i = 0; i < len && fz_left(&in); i++)
				mem[(off + i) & 0xffff] = fz_u8(&in);
			continue;
		}
		if (op == 0xfe) {
			vu_dev_process(d);
			drain(sv[1]);
			continue;
		}
		if (op == 0xfd) {
			struct vu_msg a = { .request = VU_BACKEND_IOTLB_MSG, .size = 8 };
			uint8_t fl = fz_u8(&in);

			a.flags = fl & 1 ? VU_VERSION : VU_VERSION | VU_FLAG_REPLY;
			a.u.u64 = fz_u64(&in);
			if (vu_dev_backend_fd(d) >= 0)
				vu_dev_backend_reply(d, &a);
			vu_dev_process(d);
			drain(sv[1]);
			continue;
		}
		memset(&m, 0, offsetof(struct vu_msg, u) + 64);
		m.request = op;
		m.flags = fz_u8(&in);
		m.size = (uint32_t)(fz_u8(&in) | fz_u8(&in) << 8) % (VU_MAX_PAYLOAD + 64);
		m.nfds = fz_u8(&in) % (VU_MAX_FDS + 1);
		for (uint32_t i = 0; i < m.size && i < VU_MAX_PAYLOAD; i++)
			m.u.raw[i] = fz_u8(&in);
		for (unsigned i = 0; i < m.nfds; i++) {
			if (op == VU_SET_MEM_TABLE)
				m.fds[i] = dup(memfd);
			else if (op == VU_SET_BACKEND_REQ_FD)
				m.fds[i] = dup(sv[0]);
			else
				m.fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			FZ_CHECK(m.fds[i] >= 0);
		}
		const char *why;
		int v = vu_msg_check(&m, &why);

		FZ_CHECK(v == model_check(&m));
		if (v) {
			FZ_CHECK(why);
			vu_msg_close_fds(&m);
			continue;
		}
		int r = vu_dev_handle(d, &m, &reply);

		FZ_CHECK(r == 0 || r == 1);
		FZ_CHECK(m.nfds == 0);	/* every descriptor taken or closed */
		if (r == 1) {
			FZ_CHECK(reply.request == m.request && reply.flags == (VU_VERSION | VU_FLAG_REPLY));
			FZ_CHECK(reply.size <= 12 + VU_CONFIG_MAX);
			if (m.request == VU_GET_FEATURES)
				FZ_CHECK(reply.size == 8 && reply.u.u64 == (b.ops.features | 1ull << 32 | 1ull << 33 |
									    1ull << 28 | 1ull << 30));
			else if (m.request == VU_GET_QUEUE_NUM)
				FZ_CHECK(reply.size == 8 && reply.u.u64 == 2);
			else if (m.request == VU_GET_PROTOCOL_FEATURES)
				FZ_CHECK(reply.size == 8 && reply.u.u64 == 0x229);
			else if (m.request == VU_GET_VRING_BASE)
				FZ_CHECK(reply.size == 8 && reply.u.state.index == m.u.state.index &&
					 reply.u.state.num <= 0xffff);
			else if (m.request == VU_GET_CONFIG)
				FZ_CHECK(reply.size == 0 || reply.size == m.size);
			else
				FZ_CHECK((m.flags & VU_FLAG_NEED_REPLY) && reply.size == 8 && reply.u.u64 <= 1);
		} else {
			FZ_CHECK(!(m.flags & VU_FLAG_NEED_REPLY));
		}
		vu_dev_process(d);
		drain(sv[1]);
	}
	if (getenv("FUZZ_DEBUG")) {
		struct vu_stats st;

		vu_dev_get_stats(d, &st);
		fprintf(stderr, "messages %lu requests %lu refused %lu misses %lu failures %lu bad_rings %lu reads %lu writes %lu\n",
			(unsigned long)st.messages, (unsigned long)st.requests, (unsigned long)st.refused,
			(unsigned long)st.misses_sent, (unsigned long)st.miss_failures, (unsigned long)st.bad_rings,
			(unsigned long)b.st.reads, (unsigned long)b.st.writes);
	}
	vu_dev_free(d);
	close(sv[0]);
	close(sv[1]);
	munmap(mem, 0x10000);
	close(memfd);
	close(img);
	FZ_CHECK(count_fds() == base_fds);
	return 0;
}
