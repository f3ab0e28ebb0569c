// SPDX-License-Identifier: MIT
/*
 * `viommu vhost-user-blk --socket PATH --file IMAGE`: a vhost-user block
 * back-end whose every guest address goes through viommu's device IOTLB when
 * the front-end negotiates VIRTIO_F_ACCESS_PLATFORM (QEMU:
 * -device vhost-user-blk-pci,chardev=...,iommu_platform=on,ats=on).
 *
 * It listens on PATH, serves one front-end at a time and, when a front-end
 * goes away, prints what it did on one line (IOTLB updates, invalidations,
 * misses, translations, requests, refusals) and waits for the next (or
 * exits, with --once). SIGINT and SIGTERM end it (vhost-user.rst, Backend
 * program conventions).
 */
#define _GNU_SOURCE	/* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "vhost_user_blk.h"

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int verbosity;

static void log_sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if ((int)level <= verbosity)
		fprintf(stderr, "viommu vhost-user-blk: %s\n", msg);
}

static void print_stats(const struct vu_dev *d, const struct vblk *b)
{
	struct viommu_devtlb_stats t = { .sz = sizeof(t) };
	struct vu_stats s;

	vu_dev_get_stats(d, &s);
	viommu_devtlb_get_stats(vu_dev_devtlb(d), &t);
	printf("vhost-user-blk: iotlb updates=%" PRIu64 " invalidations=%" PRIu64 " to_top=%" PRIu64 " misses=%" PRIu64
	       " miss_failures=%" PRIu64 " translations=%" PRIu64 " (rings %" PRIu64 ", buffers %" PRIu64
	       ") hits=%" PRIu64 " entries=%" PRIu64 " retired=%" PRIu64 "\n",
	       s.iotlb_updates, s.iotlb_invalidates, s.invalidates_to_top, s.misses_sent, s.miss_failures, t.translations,
	       s.ring_translations, s.buffer_translations, t.hits, t.entries, t.retired);
	printf("vhost-user-blk: requests=%" PRIu64 " refused=%" PRIu64 " reads=%" PRIu64 " writes=%" PRIu64
	       " flushes=%" PRIu64 " get_id=%" PRIu64 " bad=%" PRIu64 " io_errors=%" PRIu64 " unsupported=%" PRIu64
	       " bytes_read=%" PRIu64 " bytes_written=%" PRIu64 " messages=%" PRIu64 " kicks=%" PRIu64
	       " calls=%" PRIu64 " bad_rings=%" PRIu64 "\n",
	       s.requests, s.refused, b->st.reads, b->st.writes, b->st.flushes, b->st.get_ids, b->st.bad_requests,
	       b->st.io_errors, b->st.unsupported, b->st.bytes_read, b->st.bytes_written, s.messages, s.kicks,
	       s.calls, s.bad_rings);
	fflush(stdout);
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "viommu vhost-user-blk: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	/* a stale socket from an earlier run, never any other kind of file */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)) {
		fprintf(stderr, "viommu vhost-user-blk: cannot listen on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int cmd_vhost_user_blk(int argc, char **argv)
{
	const char *sock = NULL, *file = NULL, *serial = NULL;
	uint64_t queues = 1, entries = 0;
	bool ro = false, once = false;
	struct sigaction sa = { .sa_handler = on_signal };
	struct vu_dev_opts o;
	struct vu_dev *d;
	struct vblk b;
	int lfd, fd, rc = VI_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--print-capabilities")) {
			printf("{\n  \"type\": \"block\",\n  \"features\": [\n    \"read-only\"\n  ]\n}\n");
			return VI_EXIT_OK;
		} else if (!strcmp(a, "--read-only")) {
			ro = true;
		} else if (!strcmp(a, "--once")) {
			once = true;
		} else if (!strcmp(a, "-v")) {
			verbosity++;
		} else if (i + 1 < argc && (!strcmp(a, "--socket") || !strcmp(a, "--socket-path"))) {
			sock = argv[++i];
		} else if (i + 1 < argc && (!strcmp(a, "--file") || !strcmp(a, "--blk-file"))) {
			file = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--serial")) {
			serial = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--queues")) {
			if (!vi_cli_parse_u64(argv[++i], &queues) || !queues || queues > VU_MAX_QUEUES)
				return vi_cli_usage("vhost-user-blk", "--queues takes 1..%d", VU_MAX_QUEUES);
		} else if (i + 1 < argc && !strcmp(a, "--iotlb-entries")) {
			if (!vi_cli_parse_u64(argv[++i], &entries) || entries > VIOMMU_DEVTLB_MAX_CAPACITY)
				return vi_cli_usage("vhost-user-blk", "--iotlb-entries takes 0..%u", VIOMMU_DEVTLB_MAX_CAPACITY);
		} else {
			return vi_cli_usage("vhost-user-blk", "unknown or incomplete option '%s'", a);
		}
	}
	if (!sock || !file)
		return vi_cli_usage("vhost-user-blk", "needs --socket PATH and --file IMAGE");
	viommu_set_log(log_sink, NULL, VIOMMU_LOG_DEBUG);
	verbosity += VIOMMU_LOG_WARN;
	fd = open(file, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "viommu vhost-user-blk: %s: %s\n", file, strerror(errno));
		return VI_EXIT_FAIL;
	}
	if (vblk_init(&b, fd, ro, serial, (unsigned)queues)) {
		fprintf(stderr, "viommu vhost-user-blk: %s: %s\n", file, strerror(errno));
		close(fd);
		return VI_EXIT_FAIL;
	}
	o = (struct vu_dev_opts){ .ops = &b.ops, .dev = &b, .queues = (unsigned)queues,
				  .iotlb_capacity = (uint32_t)entries };
	d = vu_dev_new(&o);
	lfd = d ? listen_on(sock) : -1;
	if (lfd < 0) {
		vu_dev_free(d);
		close(fd);
		return VI_EXIT_FAIL;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("vhost-user-blk: serving %s (%" PRIu64 " sectors%s, %u queue%s) on %s\n", file, b.sectors,
	       ro ? ", read-only" : "", (unsigned)queues, queues > 1 ? "s" : "", sock);
	fflush(stdout);
	while (!stop) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), r;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "viommu vhost-user-blk: accept: %s\n", strerror(errno));
			rc = VI_EXIT_FAIL;
			break;
		}
		r = vu_dev_serve(d, c, &stop);
		close(c);
		printf("vhost-user-blk: front-end %s\n", r ? "disconnected for a protocol error" : "went away");
		print_stats(d, &b);
		vu_dev_reset(d);
		if (r)
			rc = VI_EXIT_FAIL;
		if (once)
			break;
	}
	close(lfd);
	unlink(sock);
	vu_dev_free(d);
	close(fd);
	return rc;
}

VI_CLI_COMMAND(vhost_user_blk, .name = "vhost-user-blk", .args = "--socket PATH --file IMAGE [options]",
	       .help = "a vhost-user block back-end through viommu's device IOTLB", .run = cmd_vhost_user_blk);
