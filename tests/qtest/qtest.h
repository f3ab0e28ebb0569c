/* SPDX-License-Identifier: MIT */
/*
 * A client of QEMU's qtest protocol, so that viommu's device models can be
 * compared with QEMU's own, case by case, with no guest code running.
 *
 * QEMU is started as `qemu-system-x86_64 -machine q35 -accel tcg -bios BLOB
 * -icount shift=0,sleep=off -qtest stdio ...` where BLOB is a 64 KiB image
 * whose reset vector (offset 0xfff0) halts the CPU for good (cli; hlt;
 * jmp $-2): the machine exists, its devices answer MMIO, port I/O and DMA, and
 * nothing executes. Debian's QEMU is built without the qtest accelerator, but
 * the qtest protocol works on TCG as long as no guest code runs; -icount makes
 * timers (edu's 100 ms DMA) complete in well under a millisecond of host time.
 *
 * The protocol (QEMU system/qtest.c, docs/devel/testing/qtest.rst): one
 * command per line on QEMU's stdin, one reply line on its stdout:
 * "OK", "OK <value>" or "FAIL <reason>". Used here: readb/w/l/q ADDR,
 * writeb/w/l/q ADDR VAL, inb/w/l PORT, outb/w/l PORT VAL, read ADDR SIZE
 * (reply OK 0x<hex bytes>), write ADDR SIZE 0x<hex bytes>, memset ADDR SIZE
 * BYTE. QEMU does not exit when the pipe closes, so qt_quit() kills it.
 *
 * Header-only, like tests/test.h. Every call that fails to talk to QEMU
 * marks the session broken (qt->err) and returns 0: callers check qt_ok()
 * once per case and the comparison harness reports it as a failure.
 */
#ifndef VIOMMU_TESTS_QTEST_H
#define VIOMMU_TESTS_QTEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct qtest {
	pid_t pid;
	FILE *to;		/* QEMU's stdin */
	FILE *from;		/* QEMU's stdout */
	int err;		/* 0, or the first error (negative errno) */
	char last[256];		/* the command that failed */
	char bios[64];		/* path of the halting BIOS image */
	uint64_t cmds;		/* commands sent */
};

/* The QEMU binary: $VIOMMU_QEMU, else qemu-system-x86_64 from PATH. */
static inline const char *qt_qemu_binary(void)
{
	const char *q = getenv("VIOMMU_QEMU");

	return q && *q ? q : "qemu-system-x86_64";
}

/* True if the QEMU binary can be run at all (for skip decisions). */
static inline bool qt_qemu_available(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "'%s' --version >/dev/null 2>&1", qt_qemu_binary());
	return system(cmd) == 0;
}

/*
 * Exit status for "QEMU is not here": 77 (skip) when run by plain ctest, 1 when
 * the make target that installs QEMU runs the test (VIOMMU_QTEST_REQUIRED=1),
 * so that an oracle test can never pass by not running.
 */
static inline int qt_missing_status(void)
{
	const char *r = getenv("VIOMMU_QTEST_REQUIRED");

	fprintf(stderr, "SKIP: %s cannot be run\n", qt_qemu_binary());
	return r && *r == '1' ? 1 : 77;
}

static inline int qt_write_bios(struct qtest *qt)
{
	static unsigned char img[0x10000];
	int fd;

	memset(img, 0xf4, sizeof(img));		/* hlt */
	img[0xfff0] = 0xfa;			/* cli */
	img[0xfff1] = 0xf4;			/* hlt */
	img[0xfff2] = 0xeb;			/* jmp $-2 (back to hlt) */
	img[0xfff3] = 0xfd;
	snprintf(qt->bios, sizeof(qt->bios), "/tmp/viommu-qtest-bios.XXXXXX");
	fd = mkstemp(qt->bios);
	if (fd < 0)
		return -errno;
	if (write(fd, img, sizeof(img)) != (ssize_t)sizeof(img)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/*
 * Start QEMU with @devices appended to the fixed command line (e.g.
 * "-device intel-iommu,caching-mode=on -device edu,addr=03.0,dma_mask=0xffffffff").
 * Returns NULL with errno set if QEMU cannot be started or does not answer.
 */
static inline struct qtest *qt_start(const char *devices)
{
	struct qtest *qt = calloc(1, sizeof(*qt));
	int in[2], out[2];
	char cmd[2048];

	if (!qt)
		return NULL;
	if (qt_write_bios(qt) || pipe(in) || pipe(out)) {
		free(qt);
		errno = EIO;
		return NULL;
	}
	snprintf(cmd, sizeof(cmd),
		 "exec '%s' -machine q35 -accel tcg -bios %s -icount shift=0,sleep=off -nodefaults "
		 "-display none -m 256M -qtest stdio -qtest-log /dev/null -monitor none -serial none %s",
		 qt_qemu_binary(), qt->bios, devices ? devices : "");
	qt->pid = fork();
	if (qt->pid < 0) {
		free(qt);
		return NULL;
	}
	if (qt->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	qt->to = fdopen(in[1], "w");
	qt->from = fdopen(out[0], "r");
	signal(SIGPIPE, SIG_IGN);
	return qt;
}

static inline void qt_quit(struct qtest *qt)
{
	if (!qt)
		return;
	if (qt->to)
		fclose(qt->to);
	if (qt->pid > 0) {
		kill(qt->pid, SIGTERM);
		waitpid(qt->pid, NULL, 0);
	}
	if (qt->from)
		fclose(qt->from);
	if (qt->bios[0])
		unlink(qt->bios);
	free(qt);
}

static inline bool qt_ok(const struct qtest *qt) { return qt && qt->err == 0; }

/*
 * Send one command and read its reply into @reply (without "OK "). Returns 0,
 * or a negative errno when QEMU is gone or answered FAIL (the session is then
 * broken and every later command fails too).
 */
__attribute__((format(printf, 4, 5)))
static inline int qt_cmd(struct qtest *qt, char *reply, size_t rsz, const char *fmt, ...)
{
	static char line[1 << 16];
	va_list ap;

	if (qt->err)
		return qt->err;
	va_start(ap, fmt);
	vsnprintf(qt->last, sizeof(qt->last), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vfprintf(qt->to, fmt, ap);
	va_end(ap);
	fputc('\n', qt->to);
	fflush(qt->to);
	qt->cmds++;
	for (;;) {
		if (!fgets(line, sizeof(line), qt->from)) {
			qt->err = -EPIPE;
			fprintf(stderr, "qtest: QEMU gave no reply to '%s'\n", qt->last);
			return qt->err;
		}
		/* Asynchronous lines (IRQ ...) are not replies. */
		if (strncmp(line, "IRQ ", 4) == 0)
			continue;
		break;
	}
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, "OK", 2) != 0) {
		qt->err = -EIO;
		fprintf(stderr, "qtest: '%s' -> '%s'\n", qt->last, line);
		return qt->err;
	}
	if (reply && rsz) {
		const char *v = line[2] == ' ' ? line + 3 : line + 2;
		snprintf(reply, rsz, "%s", v);
	}
	return 0;
}

static inline uint64_t qt_read_n(struct qtest *qt, char w, uint64_t addr)
{
	char r[64];

	if (qt_cmd(qt, r, sizeof(r), "read%c 0x%" PRIx64, w, addr))
		return 0;
	return strtoull(r, NULL, 0);
}

static inline void qt_write_n(struct qtest *qt, char w, uint64_t addr, uint64_t val)
{
	qt_cmd(qt, NULL, 0, "write%c 0x%" PRIx64 " 0x%" PRIx64, w, addr, val);
}

static inline uint8_t qt_readb(struct qtest *qt, uint64_t a) { return (uint8_t)qt_read_n(qt, 'b', a); }
static inline uint16_t qt_readw(struct qtest *qt, uint64_t a) { return (uint16_t)qt_read_n(qt, 'w', a); }
static inline uint32_t qt_readl(struct qtest *qt, uint64_t a) { return (uint32_t)qt_read_n(qt, 'l', a); }
static inline uint64_t qt_readq(struct qtest *qt, uint64_t a) { return qt_read_n(qt, 'q', a); }
static inline void qt_writeb(struct qtest *qt, uint64_t a, uint8_t v) { qt_write_n(qt, 'b', a, v); }
static inline void qt_writew(struct qtest *qt, uint64_t a, uint16_t v) { qt_write_n(qt, 'w', a, v); }
static inline void qt_writel(struct qtest *qt, uint64_t a, uint32_t v) { qt_write_n(qt, 'l', a, v); }
static inline void qt_writeq(struct qtest *qt, uint64_t a, uint64_t v) { qt_write_n(qt, 'q', a, v); }

static inline uint32_t qt_in(struct qtest *qt, char w, uint16_t port)
{
	char r[64];

	if (qt_cmd(qt, r, sizeof(r), "in%c 0x%x", w, port))
		return 0;
	return (uint32_t)strtoul(r, NULL, 0);
}

static inline void qt_out(struct qtest *qt, char w, uint16_t port, uint32_t val)
{
	qt_cmd(qt, NULL, 0, "out%c 0x%x 0x%x", w, port, val);
}

/* Guest-physical memory, any length (hex on the wire: fine for test sizes). */
static inline int qt_memread(struct qtest *qt, uint64_t addr, void *buf, size_t len)
{
	static char r[1 << 16];
	unsigned char *b = buf;

	while (len) {
		size_t n = len > 8192 ? 8192 : len;

		if (qt_cmd(qt, r, sizeof(r), "read 0x%" PRIx64 " 0x%zx", addr, n))
			return qt->err;
		if (strncmp(r, "0x", 2) != 0 || strlen(r) != 2 + 2 * n) {
			qt->err = -EIO;
			return qt->err;
		}
		for (size_t i = 0; i < n; i++) {
			char h[3] = { r[2 + 2 * i], r[3 + 2 * i], 0 };
			b[i] = (unsigned char)strtoul(h, NULL, 16);
		}
		b += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static inline int qt_memwrite(struct qtest *qt, uint64_t addr, const void *buf, size_t len)
{
	static char hex[2 * 8192 + 1];
	const unsigned char *b = buf;

	while (len) {
		size_t n = len > 8192 ? 8192 : len;

		for (size_t i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", b[i]);
		if (qt_cmd(qt, NULL, 0, "write 0x%" PRIx64 " 0x%zx 0x%s", addr, n, hex))
			return qt->err;
		b += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static inline int qt_memset(struct qtest *qt, uint64_t addr, size_t len, uint8_t byte)
{
	return qt_cmd(qt, NULL, 0, "memset 0x%" PRIx64 " 0x%zx 0x%02x", addr, len, byte);
}

/* ---- PCI configuration space through ports 0xcf8 / 0xcfc (bus 0) ---- */

static inline uint32_t qt_pci_addr(unsigned devfn, unsigned off)
{
	return 0x80000000u | (devfn << 8) | (off & 0xfc);
}

static inline uint32_t qt_pci_readl(struct qtest *qt, unsigned devfn, unsigned off)
{
	qt_out(qt, 'l', 0xcf8, qt_pci_addr(devfn, off));
	return qt_in(qt, 'l', 0xcfc);
}

static inline void qt_pci_writel(struct qtest *qt, unsigned devfn, unsigned off, uint32_t v)
{
	qt_out(qt, 'l', 0xcf8, qt_pci_addr(devfn, off));
	qt_out(qt, 'l', 0xcfc, v);
}

static inline uint16_t qt_pci_readw(struct qtest *qt, unsigned devfn, unsigned off)
{
	qt_out(qt, 'l', 0xcf8, qt_pci_addr(devfn, off));
	return (uint16_t)qt_in(qt, 'w', (uint16_t)(0xcfc + (off & 2)));
}

static inline void qt_pci_writew(struct qtest *qt, unsigned devfn, unsigned off, uint16_t v)
{
	qt_out(qt, 'l', 0xcf8, qt_pci_addr(devfn, off));
	qt_out(qt, 'w', (uint16_t)(0xcfc + (off & 2)), v);
}

static inline uint8_t qt_pci_readb(struct qtest *qt, unsigned devfn, unsigned off)
{
	qt_out(qt, 'l', 0xcf8, qt_pci_addr(devfn, off));
	return (uint8_t)qt_in(qt, 'b', (uint16_t)(0xcfc + (off & 3)));
}

#define QT_DEVFN(dev, fn) ((unsigned)((dev) << 3 | (fn)))

/*
 * Place a 32-bit (or the low half of a 64-bit) memory BAR @bar of @devfn at
 * @addr and enable memory decoding and bus mastering.
 */
static inline void qt_pci_map_bar(struct qtest *qt, unsigned devfn, unsigned bar, uint64_t addr)
{
	unsigned off = 0x10 + 4 * bar;
	uint32_t lo = qt_pci_readl(qt, devfn, off);

	qt_pci_writel(qt, devfn, off, (uint32_t)addr);
	if ((lo & 0x6) == 0x4)		/* 64-bit BAR: the high half */
		qt_pci_writel(qt, devfn, off + 4, (uint32_t)(addr >> 32));
	qt_pci_writew(qt, devfn, 0x04, (uint16_t)(qt_pci_readw(qt, devfn, 0x04) | 0x6));
}

/* ---- QEMU's edu device as a DMA engine (docs/specs/edu.rst) ---- */

#define QT_EDU_ID		0x00
#define QT_EDU_DMA_SRC		0x80
#define QT_EDU_DMA_DST		0x88
#define QT_EDU_DMA_CNT		0x90
#define QT_EDU_DMA_CMD		0x98
#define QT_EDU_CMD_START	0x1
#define QT_EDU_CMD_TO_RAM	0x2	/* from the device buffer to RAM; 0: RAM to the buffer */
#define QT_EDU_BUF		0x40000	/* the device's 4 KiB buffer in its own address space */

/*
 * One edu DMA of @len bytes (QEMU 7.2's edu stops QEMU on a 4096-byte transfer:
 * keep len <= 4095). to_ram: buffer -> IOVA @iova; else IOVA -> buffer. Polls
 * the start bit until done (edu's timer completes under -icount).
 * Returns 0, or -ETIMEDOUT if the bit never clears.
 */
static inline int qt_edu_dma(struct qtest *qt, uint64_t bar, bool to_ram, uint64_t iova, uint64_t buf_off,
			     uint32_t len)
{
	qt_writeq(qt, bar + QT_EDU_DMA_SRC, to_ram ? QT_EDU_BUF + buf_off : iova);
	qt_writeq(qt, bar + QT_EDU_DMA_DST, to_ram ? iova : QT_EDU_BUF + buf_off);
	qt_writeq(qt, bar + QT_EDU_DMA_CNT, len);
	qt_writeq(qt, bar + QT_EDU_DMA_CMD, QT_EDU_CMD_START | (to_ram ? QT_EDU_CMD_TO_RAM : 0));
	for (int i = 0; i < 100000 && qt_ok(qt); i++)
		if (!(qt_readq(qt, bar + QT_EDU_DMA_CMD) & QT_EDU_CMD_START))
			return 0;
	return qt_ok(qt) ? -ETIMEDOUT : qt->err;
}

#endif /* VIOMMU_TESTS_QTEST_H */
