// SPDX-License-Identifier: MIT
/*
 * End-to-end DMA through the reconciler, on the real kernel (issue 7).
 *
 * The program describes a small machine memory map over its own buffers
 * (IOVA = guest-physical address of the model), lets the reconciler map it
 * into a real container (stock kernel: VFIO type1 v2) or IOAS (iommufd
 * kernel), and has the edu device DMA into and out of it:
 *
 *  - dma_in_out: data written by the program reaches the device and comes
 *    back into another mapped range;
 *  - blocked: a DMA to an IOVA the model does not map, and to one whose region
 *    was just removed, is blocked: the memory behind it is untouched and the
 *    guest kernel records a DMAR fault (fault interrupt and log line);
 *  - race_minimal / race_naive: the merge race of QEMU's VFIO listener
 *    (hw/vfio/listener.c region_del then region_add) for real. One thread keeps
 *    the device copying through two ranges whose translation never changes
 *    (source in region A, destination in region B); the main thread commits
 *    memory-map changes around them back to back: A+B merged into A' and
 *    split back, a neighbour hot-plugged and removed, a BAR moved and moved
 *    back. At least VIOMMU_VM_RACE_DMAS (default 300) device DMAs land while
 *    commits run. With the reconciler's minimal policy there must be no DMAR
 *    fault and no wrong byte; with QEMU's delete-then-add policy the faults
 *    and lost transfers are counted and printed.
 *
 *  - dirty_log (issue 15): the reconciler's dirty log while the device writes
 *    into B: the page it wrote must be in the log, in guest-physical pages,
 *    and the log holds exactly the pages the host maps (neither guest kernel
 *    can see a device's writes: type1 reports every mapped page, and QEMU's
 *    VT-d gives iommufd no dirty-tracking domain, so every mapped page counts);
 *  - race_vaddr (issue 15, live update): the guest memory is a memfd mapped
 *    twice; while the device keeps copying through A and B, the main thread
 *    hands every host mapping to the other mapping's addresses
 *    (viommu_recon_update_vaddr: VFIO_DMA_UNMAP_FLAG_VADDR +
 *    VFIO_DMA_MAP_FLAG_VADDR) and commits the regions moved there, back and
 *    forth: no fault, no wrong byte, no window, no map or unmap. iommufd has
 *    no per-mapping address update: the call must say EOPNOTSUPP.
 *
 * Output lines: "case e2e BACKEND NAME ... ok|FAIL" and
 * "race BACKEND POLICY dmas=N commits=N faults=N kmsg=N bad=N windows=N".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "edu.h"
#include "test.h"

#define MiB 0x100000ull
/* edu masks DMA addresses to 28 bits: keep every IOVA below 256 MiB */
#define SPACE		(256 * MiB)
#define GPA_A		(16 * MiB)		/* A: 1 MiB, then B: 1 MiB */
#define GPA_B		(17 * MiB)
#define GPA_N		(18 * MiB)		/* hot-plugged neighbour, 64 KiB */
#define GPA_BAR		(32 * MiB)		/* a RAM-device BAR, 64 KiB, moved to +1 MiB */
#define GPA_X		(40 * MiB)		/* a region removed before a DMA */
#define GPA_HOLE	(48 * MiB)		/* never mapped */
#define SRC		(GPA_A + 0x10000)	/* DMA source inside A */
#define DST		(GPA_B + 0x10000)	/* DMA destination inside B */
#define XFER		EDU_MAX_XFER

static uint8_t *hostmem;	/* 8 MiB of a memfd, 2 MiB aligned: A, B, N, BAR, X */
static uint8_t *hostmem2;	/* the same memfd pages at a second address */
#define H_A	(hostmem)
#define H_B	(hostmem + 1 * MiB)
#define H_N	(hostmem + 4 * MiB)
#define H_BAR	(hostmem + 5 * MiB)
#define H_X	(hostmem + 6 * MiB)

struct machine {
	struct viommu_memory *m;
	struct viommu_mr *root, *a, *b, *ab, *n, *bar, *x;
	struct viommu_as *as;
	struct viommu_recon *r;
};

static void report(void *ctx, const struct viommu_recon_report *r)
{
	(void)ctx;
	printf("recon report kind %d err %d [0x%llx, 0x%llx] %s\n", r->kind, r->err, (unsigned long long)r->first,
	       (unsigned long long)r->last, r->region ? r->region : "");
}

static int machine_new(struct machine *mc, enum viommu_recon_policy policy)
{
	struct viommu_recon_opts o = { .sz = sizeof(o), .policy = policy, .report = report };

	memset(mc, 0, sizeof(*mc));
	mc->m = viommu_memory_new();
	if (!mc->m)
		return -ENOMEM;
	mc->root = viommu_mr_new_container(mc->m, "system", SPACE);
	mc->a = viommu_mr_new_ram(mc->m, "A", 1 * MiB, H_A);
	mc->b = viommu_mr_new_ram(mc->m, "B", 1 * MiB, H_B);
	mc->ab = viommu_mr_new_ram(mc->m, "A'", 2 * MiB, H_A);
	mc->n = viommu_mr_new_ram(mc->m, "hotplug", 64 * 1024, H_N);
	mc->bar = viommu_mr_new_ram_device(mc->m, "bar", 64 * 1024, H_BAR);
	mc->x = viommu_mr_new_ram(mc->m, "X", 64 * 1024, H_X);
	if (!mc->root || !mc->a || !mc->b || !mc->ab || !mc->n || !mc->bar || !mc->x)
		return -ENOMEM;
	T_EQ(viommu_mr_set_unmergeable(mc->n, true), 0);
	mc->as = viommu_as_new(mc->m, "dma", mc->root);
	if (!mc->as)
		return -ENOMEM;
	T_EQ(viommu_memory_begin(mc->m), 0);
	T_EQ(viommu_mr_add_subregion(mc->root, GPA_A, mc->a, 0), 0);
	T_EQ(viommu_mr_add_subregion(mc->root, GPA_B, mc->b, 0), 0);
	T_EQ(viommu_mr_add_subregion(mc->root, GPA_BAR, mc->bar, 0), 0);
	T_EQ(viommu_memory_commit(mc->m), 0);
	mc->r = viommu_recon_new(mc->m, mc->as, &o);
	return mc->r ? 0 : -errno;
}

static void machine_free(struct machine *mc, struct viommu_host *h)
{
	T_EQ(viommu_recon_detach(mc->r, h, true), 0);
	viommu_recon_free(mc->r);
	viommu_memory_free(mc->m);
}

static const char *backend;	/* "type1v2" or "iommufd" */
static struct edu dev;

/* Copy SRC -> device -> DST and check DST: 0 if the bytes arrived. */
static int round_trip(uint32_t seed)
{
	uint8_t *s = H_A + (SRC - GPA_A), *d = H_B + (DST - GPA_B);

	for (uint32_t i = 0; i < XFER; i++)
		s[i] = (uint8_t)(seed * 131 + i * 7 + 1);
	memset(d, 0, XFER);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (edu_dma(&dev, SRC, 0, XFER, false) || edu_dma(&dev, DST, 0, XFER, true))
		return -ETIMEDOUT;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return memcmp(s, d, XFER) ? -EIO : 0;
}

static void test_dma_in_out(struct machine *mc)
{
	int rc;

	T_EQ(viommu_recon_status(mc->r, NULL), 0);
	rc = round_trip(1);
	T_EQ(rc, 0);
	printf("case e2e %s dma_in_out rc=%d %s\n", backend, rc, rc ? "FAIL" : "ok");
	/* the device buffer really holds the data: read it back to X's range too */
}

/*
 * A fault count as printed: exact on VT-d; on virtio-iommu, where the device
 * chooses how many events a blocked DMA gives, only whether there were any
 * (so the result lines of two models compare).
 */
static const char *count_str(char *b, size_t n, uint64_t v)
{
	struct guest_iommu gi = { 0 };

	if (guest_iommu(&gi) == 0 && gi.kind == GUEST_IOMMU_VIRTIO)
		snprintf(b, n, "%s", v ? "some" : "0");
	else
		snprintf(b, n, "%llu", (unsigned long long)v);
	return b;
}

/* The fault log lines: exact on VT-d; on virtio-iommu rate limited away, not compared. */
static const char *kmsg_str(char *b, size_t n, uint64_t v)
{
	struct guest_iommu gi = { 0 };

	if (guest_iommu(&gi) == 0 && gi.kind == GUEST_IOMMU_VIRTIO)
		snprintf(b, n, "unasserted");
	else
		snprintf(b, n, "%llu", (unsigned long long)v);
	return b;
}

static void test_blocked(struct machine *mc, int kfd)
{
	struct guest_iommu gi = { 0 };
	uint64_t f0, f1, f2;
	unsigned k1, k2;
	char c1[24], c2[24];
	bool ok;

	T_EQ(guest_iommu(&gi), 0);

	/* a mapped region X: DMA lands */
	memset(H_X, 0, XFER);
	T_EQ(viommu_mr_add_subregion(mc->root, GPA_X, mc->x, 0), 0);
	T_EQ(viommu_recon_status(mc->r, NULL), 0);
	T_EQ(edu_dma(&dev, GPA_X, 0, XFER, true), 0);
	T_EQ(memcmp(H_X, H_B + (DST - GPA_B), XFER), 0);
	kmsg_iommu_faults(kfd, false);
	f0 = iommu_fault_irqs();

	/* X removed: the reconciler unmapped it; the same DMA is blocked */
	memset(H_X, 0xee, XFER);
	T_EQ(viommu_mr_del_subregion(mc->root, mc->x), 0);
	T_EQ(viommu_recon_status(mc->r, NULL), 0);
	T_EQ(edu_dma(&dev, GPA_X, 0, XFER, true), 0);
	usleep(100 * 1000);
	f1 = iommu_fault_irqs();
	k1 = kmsg_iommu_faults(kfd, true);
	/* VT-d: the blocked DMA is one fault record, one interrupt, a log line;
	 * virtio-iommu: at least one fault event (edu.h, guest_iommu) */
	ok = H_X[0] == 0xee && H_X[XFER - 1] == 0xee && f1 > f0 && (k1 >= 1 || gi.kind != GUEST_IOMMU_VTD);
	printf("case e2e %s blocked_after_unmap untouched=%d fault_irqs=%s kmsg=%s %s\n", backend,
	       H_X[0] == 0xee && H_X[XFER - 1] == 0xee, count_str(c1, sizeof(c1), f1 - f0),
	       kmsg_str(c2, sizeof(c2), k1), ok ? "ok" : "FAIL");
	T_OK(ok);

	/* an IOVA the model never mapped, in both directions */
	T_EQ(edu_dma(&dev, GPA_HOLE, 0, XFER, true), 0);
	T_EQ(edu_dma(&dev, GPA_HOLE, 0, XFER, false), 0);
	usleep(100 * 1000);
	f2 = iommu_fault_irqs();
	k2 = kmsg_iommu_faults(kfd, true);
	/* virtio-iommu: tens of events per blocked DMA exhaust the log's rate
	 * limit (10 per 5 s), so only the interrupt count is asserted there */
	ok = gi.kind == GUEST_IOMMU_VTD ? f2 - f1 == 2 && k2 == 2 : f2 - f1 >= 1;
	printf("case e2e %s blocked_never_mapped fault_irqs=%s kmsg=%s %s\n", backend,
	       count_str(c1, sizeof(c1), f2 - f1), kmsg_str(c2, sizeof(c2), k2), ok ? "ok" : "FAIL");
	T_OK(ok);
	/* and a mapped range still works afterwards */
	T_EQ(round_trip(2), 0);
}

/* ---- the race ---- */

static atomic_bool stop;
static atomic_uint dmas, bad, timeouts;
static unsigned race_target = 300;

static void *dma_thread(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; atomic_load(&dmas) < race_target; i++) {
		int rc = round_trip(1000 + i);
		if (rc == -ETIMEDOUT)
			atomic_fetch_add(&timeouts, 1);
		else if (rc)
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add(&dmas, 2);
		if (atomic_load(&timeouts) > 3)
			break;
	}
	atomic_store(&stop, true);
	return NULL;
}

/* Reset the counters, note the fault count and the time, start the DMA thread: the fault count. */
static uint64_t race_start(int kfd, pthread_t *t, struct timespec *t0)
{
	uint64_t f0;

	atomic_store(&stop, false);
	atomic_store(&dmas, 0);
	atomic_store(&bad, 0);
	atomic_store(&timeouts, 0);
	kmsg_iommu_faults(kfd, false);
	f0 = iommu_faults_settle();
	clock_gettime(CLOCK_MONOTONIC, t0);
	T_EQ(pthread_create(t, NULL, dma_thread, NULL), 0);
	return f0;
}

/* One memory-map change around SRC/DST; none changes their translation. */
static int commit_step(struct machine *mc, unsigned step)
{
	int rc = 0;

	switch (step % 6) {
	case 0: /* merge A + B into A' (same host memory: an identity change) */
		viommu_memory_begin(mc->m);
		rc |= viommu_mr_del_subregion(mc->root, mc->a);
		rc |= viommu_mr_del_subregion(mc->root, mc->b);
		rc |= viommu_mr_add_subregion(mc->root, GPA_A, mc->ab, 0);
		rc |= viommu_memory_commit(mc->m);
		break;
	case 1: /* split back */
		viommu_memory_begin(mc->m);
		rc |= viommu_mr_del_subregion(mc->root, mc->ab);
		rc |= viommu_mr_add_subregion(mc->root, GPA_A, mc->a, 0);
		rc |= viommu_mr_add_subregion(mc->root, GPA_B, mc->b, 0);
		rc |= viommu_memory_commit(mc->m);
		break;
	case 2: /* hot-plug a neighbour right after B */
		rc = viommu_mr_add_subregion(mc->root, GPA_N, mc->n, 0);
		break;
	case 3:
		rc = viommu_mr_del_subregion(mc->root, mc->n);
		break;
	case 4: /* the firmware moves a BAR */
		rc = viommu_mr_set_address(mc->bar, GPA_BAR + MiB);
		break;
	case 5:
		rc = viommu_mr_set_address(mc->bar, GPA_BAR);
		break;
	}
	return rc ? rc : viommu_recon_status(mc->r, NULL);
}

static void race(enum viommu_recon_policy policy, int kfd)
{
	const char *pn = policy == VIOMMU_RECON_MINIMAL ? "minimal" : "naive";
	struct viommu_recon_stats st = { .sz = sizeof(st) };
	struct machine mc;
	pthread_t t;
	uint64_t f0, f1, commits = 0, commit_errors = 0;
	unsigned k;
	struct timespec t0, t1;

	if (machine_new(&mc, policy)) {
		T_OK(0);
		return;
	}
	T_EQ(viommu_recon_attach(mc.r, dev.host), 0);
	T_EQ(round_trip(3), 0);
	f0 = race_start(kfd, &t, &t0);
	for (unsigned step = 0; !atomic_load(&stop); step++) {
		if (commit_step(&mc, step))
			commit_errors++;
		commits++;
	}
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* leave the map as it started (step count may end mid-cycle) */
	while (commits % 6) {
		if (commit_step(&mc, (unsigned)commits))
			commit_errors++;
		commits++;
	}
	usleep(100 * 1000);
	f1 = iommu_fault_irqs();
	k = kmsg_iommu_faults(kfd, false);
	T_EQ(viommu_recon_get_stats(mc.r, dev.host, &st), 0);
	printf("race %s %s dmas=%u commits=%llu faults=%llu kmsg=%u bad=%u timeouts=%u windows=%llu "
	       "window_bytes=%llu map_ops=%llu unmap_ops=%llu commit_errors=%llu seconds=%.1f\n",
	       backend, pn, atomic_load(&dmas), (unsigned long long)commits, (unsigned long long)(f1 - f0), k,
	       atomic_load(&bad), atomic_load(&timeouts), (unsigned long long)st.windows,
	       (unsigned long long)st.window_bytes, (unsigned long long)st.map_ops,
	       (unsigned long long)st.unmap_ops, (unsigned long long)commit_errors,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	T_EQ(atomic_load(&timeouts), 0);
	T_OK(atomic_load(&dmas) >= race_target);
	T_EQ_U64(commit_errors, 0);
	T_OK(commits >= 6);
	if (policy == VIOMMU_RECON_MINIMAL) {
		/* no window over an unchanged translation, so no fault */
		bool ok = f1 == f0 && atomic_load(&bad) == 0 && st.windows == 0;
		printf("case e2e %s race_minimal faults=%llu bad=%u %s\n", backend, (unsigned long long)(f1 - f0),
		       atomic_load(&bad), ok ? "ok" : "FAIL");
		T_OK(ok);
	} else {
		/* delete-then-add opens windows over SRC and DST on every merge and split */
		printf("case e2e %s race_naive faults=%llu bad=%u windows=%llu %s\n", backend,
		       (unsigned long long)(f1 - f0), atomic_load(&bad), (unsigned long long)st.windows,
		       st.windows > 0 ? "ok" : "FAIL");
		T_OK(st.windows > 0);
	}
	/* after the race the map works again */
	T_EQ(round_trip(4), 0);
	machine_free(&mc, dev.host);
}

/* ---- issue 15: the dirty log and the user-address handover ---- */

#define LOG_PAGES (SPACE / 0x1000)
static uint64_t dlog[LOG_PAGES / 64];

static bool page_set(uint64_t gpa)
{
	uint64_t i = gpa / 0x1000;

	return dlog[i / 64] & (UINT64_C(1) << (i % 64));
}

static uint64_t count_range(uint64_t first, uint64_t len)
{
	uint64_t n = 0;

	for (uint64_t a = first; a < first + len; a += 0x1000)
		n += page_set(a);
	return n;
}

static void test_dirty_log(struct machine *mc)
{
	struct viommu_recon_dirty st = { .sz = sizeof(st) };
	uint64_t total = 0, mapped;
	bool ok;
	int rc;

	T_EQ(viommu_recon_dirty_start(mc->r), 0);
	memset(dlog, 0, sizeof(dlog));
	/* the device writes its buffer into B at DST */
	T_EQ(edu_dma(&dev, DST, 0, XFER, true), 0);
	rc = viommu_recon_dirty_log(mc->r, 0, LOG_PAGES, dlog, &st);
	T_EQ(rc, 0);
	for (size_t i = 0; i < LOG_PAGES / 64; i++)
		total += (uint64_t)__builtin_popcountll(dlog[i]);
	/* A, B and the BAR are what the host maps now */
	mapped = count_range(GPA_A, MiB) + count_range(GPA_B, MiB) + count_range(GPA_BAR, 64 * 1024);
	ok = rc == 0 && page_set(DST) && total == 256 + 256 + 16 && mapped == total && st.pages == total;
	printf("dirty %s log pages=%llu dst_page=%d mapped_pages=%llu untracked=%u host_calls=%llu unattributed=%llu %s\n",
	       backend, (unsigned long long)total, page_set(DST), (unsigned long long)mapped, st.untracked,
	       (unsigned long long)st.host_calls, (unsigned long long)st.unattributed, ok ? "ok" : "FAIL");
	printf("case e2e %s dirty_log %s\n", backend, ok ? "ok" : "FAIL");
	T_OK(ok);
	/* type1 has dirty tracking (and reports everything); iommufd here has none */
	T_EQ(st.untracked, strcmp(backend, "iommufd") ? 0 : 1);
	/* the next call reports the same: nothing can tell a device's writes apart here */
	memset(dlog, 0, sizeof(dlog));
	T_EQ(viommu_recon_dirty_log(mc->r, 0, LOG_PAGES, dlog, &st), 0);
	T_EQ_U64(st.pages, total);
	T_EQ(viommu_recon_dirty_stop(mc->r), 0);
}

/* A and B at the first or the second address of the memfd. */
struct vmachine {
	struct viommu_memory *m;
	struct viommu_mr *root, *a[2], *b[2];
	struct viommu_as *as;
	struct viommu_recon *r;
	int cur;
};

static int vmachine_new(struct vmachine *v)
{
	struct viommu_recon_opts o = { .sz = sizeof(o), .report = report };
	uint8_t *base[2] = { hostmem, hostmem2 };

	memset(v, 0, sizeof(*v));
	v->m = viommu_memory_new();
	if (!v->m)
		return -ENOMEM;
	v->root = viommu_mr_new_container(v->m, "system", SPACE);
	for (int i = 0; i < 2; i++) {
		v->a[i] = viommu_mr_new_ram(v->m, i ? "A@2" : "A@1", MiB, base[i]);
		v->b[i] = viommu_mr_new_ram(v->m, i ? "B@2" : "B@1", MiB, base[i] + MiB);
		if (!v->a[i] || !v->b[i])
			return -ENOMEM;
	}
	v->as = viommu_as_new(v->m, "dma", v->root);
	if (!v->root || !v->as)
		return -ENOMEM;
	T_EQ(viommu_memory_begin(v->m), 0);
	T_EQ(viommu_mr_add_subregion(v->root, GPA_A, v->a[0], 0), 0);
	T_EQ(viommu_mr_add_subregion(v->root, GPA_B, v->b[0], 0), 0);
	T_EQ(viommu_memory_commit(v->m), 0);
	v->r = viommu_recon_new(v->m, v->as, &o);
	return v->r ? 0 : -errno;
}

/* One live update: hand the host mappings over, then move the regions. Returns the host calls, or -errno. */
static long vswap(struct vmachine *v)
{
	uint8_t *base[2] = { hostmem, hostmem2 };
	int to = 1 - v->cur;
	long calls = viommu_recon_update_vaddr(v->r, (uint64_t)(uintptr_t)base[v->cur],
					       (uint64_t)(uintptr_t)base[v->cur] + 2 * MiB - 1,
					       (uint64_t)(uintptr_t)base[to]);
	int rc = 0;

	if (calls < 0)
		return calls;
	rc |= viommu_memory_begin(v->m);
	rc |= viommu_mr_del_subregion(v->root, v->a[v->cur]);
	rc |= viommu_mr_del_subregion(v->root, v->b[v->cur]);
	rc |= viommu_mr_add_subregion(v->root, GPA_A, v->a[to], 0);
	rc |= viommu_mr_add_subregion(v->root, GPA_B, v->b[to], 0);
	rc |= viommu_memory_commit(v->m);
	v->cur = to;
	rc = rc ? rc : viommu_recon_status(v->r, NULL);
	return rc ? rc : calls;
}

static void race_vaddr(int kfd)
{
	struct viommu_recon_stats s0 = { .sz = sizeof(s0) }, s1 = { .sz = sizeof(s1) };
	struct vmachine v;
	pthread_t t;
	uint64_t f0, f1, swaps = 0, calls = 0, errors = 0;
	struct timespec t0, t1;
	unsigned k;
	long c;

	if (vmachine_new(&v)) {
		T_OK(0);
		return;
	}
	T_EQ(viommu_recon_attach(v.r, dev.host), 0);
	T_EQ(round_trip(5), 0);
	if (!strcmp(backend, "iommufd")) {
		/* no per-mapping user address in iommufd; CHANGE_PROCESS is 6.14 and for file mappings */
		c = viommu_recon_update_vaddr(v.r, (uint64_t)(uintptr_t)hostmem, (uint64_t)(uintptr_t)hostmem + 2 * MiB - 1,
					      (uint64_t)(uintptr_t)hostmem2);
		printf("case e2e %s race_vaddr update_vaddr=%ld change_process=%d %s\n", backend, c,
		       viommu_host_change_process(dev.host), c == -EOPNOTSUPP ? "ok" : "FAIL");
		T_EQ(c, -EOPNOTSUPP);
		T_EQ(viommu_host_change_process(dev.host), -ENOTTY);
		T_EQ(round_trip(6), 0);
		goto out;
	}
	T_EQ(viommu_recon_get_stats(v.r, dev.host, &s0), 0);
	f0 = race_start(kfd, &t, &t0);
	while (!atomic_load(&stop)) {
		c = vswap(&v);
		if (c < 0)
			errors++;
		else
			calls += (uint64_t)c;
		swaps++;
	}
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	usleep(100 * 1000);
	f1 = iommu_fault_irqs();
	k = kmsg_iommu_faults(kfd, false);
	T_EQ(viommu_recon_get_stats(v.r, dev.host, &s1), 0);
	{
		bool ok = f1 == f0 && atomic_load(&bad) == 0 && s1.windows == 0 && errors == 0 &&
			  s1.map_ops == s0.map_ops && s1.unmap_ops == s0.unmap_ops && atomic_load(&timeouts) == 0 &&
			  atomic_load(&dmas) >= race_target && swaps > 0 && calls == 3 * swaps;

		printf("race %s vaddr dmas=%u swaps=%llu host_calls=%llu faults=%llu kmsg=%u bad=%u timeouts=%u "
		       "windows=%llu map_ops=%llu unmap_ops=%llu errors=%llu seconds=%.1f\n", backend, atomic_load(&dmas),
		       (unsigned long long)swaps, (unsigned long long)calls, (unsigned long long)(f1 - f0), k,
		       atomic_load(&bad), atomic_load(&timeouts), (unsigned long long)s1.windows,
		       (unsigned long long)(s1.map_ops - s0.map_ops), (unsigned long long)(s1.unmap_ops - s0.unmap_ops),
		       (unsigned long long)errors,
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		printf("case e2e %s race_vaddr faults=%llu bad=%u windows=%llu %s\n", backend,
		       (unsigned long long)(f1 - f0), atomic_load(&bad), (unsigned long long)s1.windows, ok ? "ok" : "FAIL");
		T_OK(ok);
	}
	T_EQ(round_trip(7), 0);
out:
	T_EQ(viommu_recon_detach(v.r, dev.host, true), 0);
	viommu_recon_free(v.r);
	viommu_memory_free(v.m);
}

/* A memfd of @size mapped at a 2 MiB-aligned address, MAP_SHARED. */
static uint8_t *map_memfd(int fd, size_t size)
{
	uint8_t *p = mmap(NULL, size + 2 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	if (mmap(a, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		return NULL;
	return a;
}

int main(int argc, char **argv)
{
	const char *kernel = argc > 1 ? argv[1] : "stock";
	const char *group = getenv("VIOMMU_VM_GROUP"), *bdf = getenv("VIOMMU_VM_BDF");
	const char *cdev = getenv("VIOMMU_VM_CDEV"), *n = getenv("VIOMMU_VM_RACE_DMAS");
	struct machine mc;
	int rc, kfd;

	if (n && atoi(n) > 0)
		race_target = (unsigned)atoi(n);
	setvbuf(stdout, NULL, _IOLBF, 0);
	{
		int fd = (int)syscall(SYS_memfd_create, "guest-ram", 0);

		T_OK(fd >= 0 && ftruncate(fd, 8 * MiB) == 0);
		hostmem = fd >= 0 ? map_memfd(fd, 8 * MiB) : NULL;
		hostmem2 = fd >= 0 ? map_memfd(fd, 8 * MiB) : NULL;
		T_OK(hostmem && hostmem2);
		if (!hostmem || !hostmem2)
			return t_done();
	}
	memset(hostmem, 0, 8 * MiB);

	if (!strcmp(kernel, "iommufd")) {
		backend = "iommufd";
		rc = cdev ? edu_open_iommufd(&dev, cdev) : -ENODEV;
	} else {
		backend = "type1v2";
		rc = group && bdf ? edu_open_type1(&dev, group, bdf, VIOMMU_HOST_TYPE1V2) : -ENODEV;
	}
	printf("case e2e %s open rc=%d %s\n", backend, rc, rc ? "FAIL" : "ok");
	T_EQ(rc, 0);
	if (rc)
		return t_done();
	kfd = kmsg_open();
	T_OK(kfd >= 0);

	T_EQ(machine_new(&mc, VIOMMU_RECON_MINIMAL), 0);
	T_EQ(viommu_recon_attach(mc.r, dev.host), 0);
	test_dma_in_out(&mc);
	test_dirty_log(&mc);
	test_blocked(&mc, kfd);
	machine_free(&mc, dev.host);

	race(VIOMMU_RECON_MINIMAL, kfd);
	race(VIOMMU_RECON_NAIVE, kfd);
	race_vaddr(kfd);
	edu_close(&dev);
	return t_done();
}
