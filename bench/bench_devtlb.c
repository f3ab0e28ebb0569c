// SPDX-License-Identifier: MIT
/*
 * Device IOTLB benchmark, in two parts.
 *
 * 1. viommu_devtlb against a DPDK-style IOTLB built here and run in the same
 *    process, at 16, 1,024 and 65,536 entries (or the sizes given): translate
 *    hit, translate miss (of a page already pending), update (a new entry)
 *    and invalidate (one entry). The baseline follows DPDK v22.11
 *    lib/vhost/iotlb.c as Debian 12's dpdk package ships it: a TAILQ sorted by
 *    IOVA searched linearly (vhost_user_iotlb_cache_find / _insert / _remove),
 *    a pending list searched linearly (vhost_user_iotlb_pending_miss), entries
 *    from a preallocated pool behind a spinlock, and the rte_rwlock of
 *    lib/eal/include/generic/rte_rwlock.h (readers: a CAS-free add on one
 *    shared word) taken around every lookup, as __vhost_iova_to_vva's callers
 *    do per burst. Its pool is sized to the entries (DPDK's own
 *    IOTLB_CACHE_SIZE is 2048). Ratios are ours / DPDK-style, lower is better.
 *
 * 2. The back-end's CPU time per 4 KiB read request with the IOTLB on
 *    (VIRTIO_F_ACCESS_PLATFORM: every ring and buffer address translated by
 *    the device IOTLB, warm) against the same back-end with it off (guest
 *    physical addresses through the memory table), same run: the real
 *    back-end (tools/vhost_user.c) on its own thread, driven through a
 *    socketpair and eventfds by the in-process front-end of
 *    tests/vhost_frontend.h, 16 requests per kick, image in a memfd. The
 *    figure is the back-end thread's CPU time (pthread_getcpuclockid) over the
 *    requests, so the front-end's own work does not count.
 *
 *	bench_devtlb [entries...]	default 16 1024 65536; seed fixed (0xde71b)
 */
#include "../tests/vhost_frontend.h"
#include "bench.h"

#include <sys/queue.h>
#include <time.h>

#define REPS 3
#define IMG (4u << 20)	/* the image of part 2 */

/* ---- the DPDK-style baseline (lib/vhost/iotlb.c, v22.11) -------------------- */

typedef struct {
	int32_t cnt;
} d_rwlock;

#define D_RW_WAIT 0x1
#define D_RW_WRITE 0x2
#define D_RW_MASK (D_RW_WAIT | D_RW_WRITE)
#define D_RW_READ 0x4

static inline void d_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void d_read_lock(d_rwlock *l)
{
	for (;;) {
		while (__atomic_load_n(&l->cnt, __ATOMIC_RELAXED) & D_RW_MASK)
			d_pause();
		if (!(__atomic_add_fetch(&l->cnt, D_RW_READ, __ATOMIC_ACQUIRE) & D_RW_MASK))
			return;
		__atomic_fetch_sub(&l->cnt, D_RW_READ, __ATOMIC_RELAXED);
	}
}

static void d_read_unlock(d_rwlock *l)
{
	__atomic_fetch_sub(&l->cnt, D_RW_READ, __ATOMIC_RELEASE);
}

static void d_write_lock(d_rwlock *l)
{
	for (;;) {
		int32_t x = __atomic_load_n(&l->cnt, __ATOMIC_RELAXED);

		if (x < D_RW_WRITE) {
			if (__atomic_compare_exchange_n(&l->cnt, &x, D_RW_WRITE, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return;
		} else if (!(x & D_RW_WAIT)) {
			__atomic_fetch_or(&l->cnt, D_RW_WAIT, __ATOMIC_RELAXED);
		}
		while (__atomic_load_n(&l->cnt, __ATOMIC_RELAXED) > D_RW_WAIT)
			d_pause();
	}
}

static void d_write_unlock(d_rwlock *l)
{
	__atomic_fetch_sub(&l->cnt, D_RW_WRITE, __ATOMIC_RELEASE);
}

struct d_entry {
	TAILQ_ENTRY(d_entry) next;
	SLIST_ENTRY(d_entry) next_free;
	uint64_t iova, uaddr, size;
	uint8_t perm;
};

struct d_iotlb {
	d_rwlock lock, pending_lock;
	int free_lock;			/* rte_spinlock */
	TAILQ_HEAD(, d_entry) list, pending;
	SLIST_HEAD(, d_entry) free_list;
	struct d_entry *pool;
	size_t nr;
};

static void d_spin_lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		d_pause();
}

static void d_spin_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static void d_init(struct d_iotlb *t, size_t pool)
{
	memset(t, 0, sizeof(*t));
	TAILQ_INIT(&t->list);
	TAILQ_INIT(&t->pending);
	SLIST_INIT(&t->free_list);
	t->pool = calloc(pool, sizeof(*t->pool));
	for (size_t i = 0; i < pool; i++)
		SLIST_INSERT_HEAD(&t->free_list, &t->pool[i], next_free);
}

static struct d_entry *d_pool_get(struct d_iotlb *t)
{
	struct d_entry *e;

	d_spin_lock(&t->free_lock);
	e = SLIST_FIRST(&t->free_list);
	if (e)
		SLIST_REMOVE_HEAD(&t->free_list, next_free);
	d_spin_unlock(&t->free_lock);
	return e;
}

static void d_pool_put(struct d_iotlb *t, struct d_entry *e)
{
	d_spin_lock(&t->free_lock);
	SLIST_INSERT_HEAD(&t->free_list, e, next_free);
	d_spin_unlock(&t->free_lock);
}

/* vhost_user_iotlb_pending_remove */
static void d_pending_remove(struct d_iotlb *t, uint64_t iova, uint64_t size, uint8_t perm)
{
	struct d_entry *e, *n;

	d_write_lock(&t->pending_lock);
	for (e = TAILQ_FIRST(&t->pending); e; e = n) {
		n = TAILQ_NEXT(e, next);
		if (e->iova < iova || e->iova >= iova + size || (e->perm & perm) != e->perm)
			continue;
		TAILQ_REMOVE(&t->pending, e, next);
		d_pool_put(t, e);
	}
	d_write_unlock(&t->pending_lock);
}

/* vhost_user_iotlb_cache_insert */
static void d_insert(struct d_iotlb *t, uint64_t iova, uint64_t uaddr, uint64_t size, uint8_t perm)
{
	struct d_entry *e, *n = d_pool_get(t);

	if (!n)
		return;
	*n = (struct d_entry){ .iova = iova, .uaddr = uaddr, .size = size, .perm = perm };
	d_write_lock(&t->lock);
	TAILQ_FOREACH(e, &t->list, next) {
		if (e->iova == n->iova) {	/* "assume identical" */
			d_pool_put(t, n);
			goto unlock;
		} else if (e->iova > n->iova) {
			TAILQ_INSERT_BEFORE(e, n, next);
			t->nr++;
			goto unlock;
		}
	}
	TAILQ_INSERT_TAIL(&t->list, n, next);
	t->nr++;
unlock:
	d_pending_remove(t, iova, size, perm);
	d_write_unlock(&t->lock);
}

/*
 * Setup only: the list d_insert would build from @n entries inserted in any
 * order (sorted by IOVA), without its O(n^2) walks; pool entries are taken in
 * insertion order, so list order and memory order differ as in a cache
 * filled miss by miss.
 */
static void d_build(struct d_iotlb *t, const uint64_t *pages, size_t n)
{
	struct d_entry **by_page = calloc(2 * n + 2, sizeof(*by_page));

	for (size_t i = 0; i < n; i++) {
		struct d_entry *e = d_pool_get(t);

		*e = (struct d_entry){ .iova = pages[i] << 12, .uaddr = 0x7f0000000000ull + (i << 12), .size = 4096,
				       .perm = 3 };
		by_page[pages[i]] = e;
	}
	for (size_t p = 0; p < 2 * n + 2; p++)
		if (by_page[p]) {
			TAILQ_INSERT_TAIL(&t->list, by_page[p], next);
			t->nr++;
		}
	free(by_page);
}

/* vhost_user_iotlb_cache_remove */
static void d_remove(struct d_iotlb *t, uint64_t iova, uint64_t size)
{
	struct d_entry *e, *n;

	d_write_lock(&t->lock);
	for (e = TAILQ_FIRST(&t->list); e; e = n) {
		n = TAILQ_NEXT(e, next);
		if (iova + size < e->iova)
			break;
		if (iova < e->iova + e->size) {
			TAILQ_REMOVE(&t->list, e, next);
			d_pool_put(t, e);
			t->nr--;
		}
	}
	d_write_unlock(&t->lock);
}

/* vhost_user_iotlb_cache_find under the read lock, then the pending check on a miss (__vhost_iova_to_vva) */
static uint64_t d_translate(struct d_iotlb *t, uint64_t iova, uint64_t size, uint8_t perm)
{
	struct d_entry *e;
	uint64_t vva = 0, mapped = 0, cur = iova;
	bool pending = false;

	d_read_lock(&t->lock);
	TAILQ_FOREACH(e, &t->list, next) {
		if (cur < e->iova)
			break;
		if (cur >= e->iova + e->size)
			continue;
		if ((perm & e->perm) != perm) {
			vva = 0;
			break;
		}
		if (!vva)
			vva = e->uaddr + (cur - e->iova);
		mapped += e->size - (cur - e->iova);
		cur = e->iova + e->size;
		if (mapped >= size)
			break;
	}
	d_read_unlock(&t->lock);
	if (mapped >= size)
		return vva;
	d_read_lock(&t->pending_lock);
	TAILQ_FOREACH(e, &t->pending, next)
		if (e->iova == iova + mapped && e->perm == perm) {
			pending = true;
			break;
		}
	d_read_unlock(&t->pending_lock);
	if (!pending) {
		struct d_entry *p = d_pool_get(t);

		if (p) {
			*p = (struct d_entry){ .iova = iova + mapped, .perm = perm };
			d_write_lock(&t->pending_lock);
			TAILQ_INSERT_TAIL(&t->pending, p, next);
			d_write_unlock(&t->pending_lock);
		}
	}
	return 0;
}

/* ---- part 1 ------------------------------------------------------------------ */

static uint64_t sink;

static double median3(double a, double b, double c)
{
	return a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}

static void line(const char *name, double ours, double base)
{
	printf("%s %.1f ns\n", name, ours);
	printf("%s.dpdk %.1f ns\n", name, base);
	printf("%s ratio %.4f\n", name, ours / base);
}

/* N entries: pages at even page numbers 0, 2, 4, ... scattered by a shuffle of insertion order. */
static void run_size(size_t n)
{
	size_t k = n < 512 ? n : n > 16384 ? 128 : 512;	/* updates / invalidations per round */
	uint64_t *pages = malloc(n * sizeof(*pages)), *probe = malloc(4096 * sizeof(*probe));
	double r_hit[2][REPS], r_miss[2][REPS], r_upd[2][REPS], r_inv[2][REPS];
	struct viommu_devtlb_opts o = { .sz = sizeof(o), .capacity = (uint32_t)(n + k + 16),
					.pending_capacity = 64 };
	char name[64];

	bench_seed(0xde71b + n);
	for (size_t i = 0; i < n; i++)
		pages[i] = 2 * i;
	bench_shuffle(pages, n);
	for (unsigned i = 0; i < 4096; i++)
		probe[i] = pages[bench_below(n)];
	for (unsigned rep = 0; rep < REPS; rep++) {
		struct viommu_devtlb *t = viommu_devtlb_new(&o);
		struct d_iotlb d;
		struct viommu_devtlb_seg s;
		struct viommu_devtlb_miss m;
		unsigned reps = n <= 1024 ? 400000 : n <= 16384 ? 20000 : 400;
		uint64_t t0;

		d_init(&d, n + k + 64);
		for (size_t i = 0; i < n; i++)
			viommu_devtlb_update(t, pages[i] << 12, (pages[i] << 12) | 0xfff, 0x7f0000000000ull + (i << 12), 3);
		d_build(&d, pages, n);
		/* translate hit: 8 bytes inside a random entry */
		t0 = bench_cpu_ns();
		for (unsigned i = 0; i < reps; i++) {
			viommu_devtlb_translate(t, (probe[i & 4095] << 12) + 64, 8, VIOMMU_PERM_READ, &s, 1, NULL);
			sink += s.uaddr;
		}
		r_hit[0][rep] = (double)(bench_cpu_ns() - t0) / reps;
		t0 = bench_cpu_ns();
		for (unsigned i = 0; i < reps; i++)
			sink += d_translate(&d, (probe[i & 4095] << 12) + 64, 8, 1);
		r_hit[1][rep] = (double)(bench_cpu_ns() - t0) / reps;
		/* translate miss: the odd page after an entry, already pending (asked once, before timing) */
		for (unsigned i = 0; i < 32; i++) {
			viommu_devtlb_translate(t, (probe[i] + 1) << 12, 8, VIOMMU_PERM_READ, &s, 1, &m);
			d_translate(&d, (probe[i] + 1) << 12, 8, 1);
		}
		t0 = bench_cpu_ns();
		for (unsigned i = 0; i < reps / 4; i++)
			sink += viommu_devtlb_translate(t, (probe[i & 31] + 1) << 12, 8, VIOMMU_PERM_READ, &s, 1, &m);
		r_miss[0][rep] = (double)(bench_cpu_ns() - t0) / (reps / 4);
		t0 = bench_cpu_ns();
		for (unsigned i = 0; i < reps / 4; i++)
			sink += d_translate(&d, (probe[i & 31] + 1) << 12, 8, 1);
		r_miss[1][rep] = (double)(bench_cpu_ns() - t0) / (reps / 4);
		/*
		 * update: k new entries on odd pages at random places; invalidate:
		 * the same k, one by one (so the cache is back at n); rounds until
		 * 4096 of each were timed.
		 */
		uint64_t tu[2] = { 0, 0 }, ti[2] = { 0, 0 };
		unsigned rounds = n > 16384 ? 1 : k >= 4096 ? 1 : (unsigned)(4096 / k);

		for (unsigned r = 0; r < rounds; r++) {
			t0 = bench_cpu_ns();
			for (size_t i = 0; i < k; i++)
				viommu_devtlb_update(t, (probe[i] + 1) << 12, ((probe[i] + 1) << 12) | 0xfff,
						     0x7e0000000000ull + (i << 12), 3);
			tu[0] += bench_cpu_ns() - t0;
			t0 = bench_cpu_ns();
			for (size_t i = 0; i < k; i++)
				d_insert(&d, (probe[i] + 1) << 12, 0x7e0000000000ull + (i << 12), 4096, 3);
			tu[1] += bench_cpu_ns() - t0;
			t0 = bench_cpu_ns();
			for (size_t i = 0; i < k; i++)
				viommu_devtlb_invalidate(t, (probe[i] + 1) << 12, ((probe[i] + 1) << 12) | 0xfff);
			ti[0] += bench_cpu_ns() - t0;
			t0 = bench_cpu_ns();
			for (size_t i = 0; i < k; i++)
				d_remove(&d, (probe[i] + 1) << 12, 4096);
			ti[1] += bench_cpu_ns() - t0;
		}
		for (unsigned w = 0; w < 2; w++) {
			r_upd[w][rep] = (double)tu[w] / ((double)k * rounds);
			r_inv[w][rep] = (double)ti[w] / ((double)k * rounds);
		}
		viommu_devtlb_free(t);
		free(d.pool);
	}
#define MED(a, w) median3(a[w][0], a[w][1], a[w][2])
	snprintf(name, sizeof(name), "devtlb.%zu.translate_hit", n);
	line(name, MED(r_hit, 0), MED(r_hit, 1));
	snprintf(name, sizeof(name), "devtlb.%zu.translate_miss", n);
	line(name, MED(r_miss, 0), MED(r_miss, 1));
	snprintf(name, sizeof(name), "devtlb.%zu.update", n);
	line(name, MED(r_upd, 0), MED(r_upd, 1));
	snprintf(name, sizeof(name), "devtlb.%zu.invalidate", n);
	line(name, MED(r_inv, 0), MED(r_inv, 1));
	free(pages);
	free(probe);
}

/* ---- part 2: the back-end per 4 KiB request, IOTLB on and off -------------------- */

static double backend_ns_per_request(bool iommu, int image_fd, unsigned nreq)
{
	struct fe f;
	clockid_t clk;
	struct timespec a, b;
	const unsigned batch = 16;
	uint64_t sector = 0;

	if (fe_start(&f, image_fd, iommu, 1, 0) || pthread_getcpuclockid(f.thread, &clk))
		return -1;
	/* 16 header/status slots and 16 data pages, mapped in the guest IOMMU */
	if (iommu) {
		fe_map(&f, fe_dev_addr(&f, 0x300000), 0x300000, 0x1000, 3);
		fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, batch * 4096, 3);
	}
	for (unsigned pass = 0; pass < 2; pass++) {	/* pass 0 warms the IOTLB and the page cache */
		unsigned n = pass ? nreq : 4 * batch;

		clock_gettime(clk, &a);
		for (unsigned i = 0; i < n; i += batch) {
			for (unsigned j = 0; j < batch; j++) {
				uint8_t *hdr = f.mem + 0x300000 + j * 32;
				uint32_t type = VBLK_T_IN;
				struct fe_buf bb[3] = {
					{ fe_dev_addr(&f, 0x300000 + j * 32), 16, 0 },
					{ fe_dev_addr(&f, 0x100000 + j * 4096), 4096, VRING_DESC_F_WRITE },
					{ fe_dev_addr(&f, 0x300000 + j * 32 + 16), 1, VRING_DESC_F_WRITE },
				};

				sector = (sector + 8 * 37) % (IMG / 512 - 8);
				memcpy(hdr, &type, 4);
				memcpy(hdr + 8, &sector, 8);
				fe_post(&f, 0, bb, 3);
			}
			if (fe_wait(&f, 0, 5000) < 0)
				return -1;
		}
		clock_gettime(clk, &b);
	}
	fe_stop(&f);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / nreq;
}

int main(int argc, char **argv)
{
	size_t sizes[8] = { 16, 1024, 65536 };
	unsigned ns = 3;
	double on[REPS], off[REPS];
	int img = memfd_create("bench-image", MFD_CLOEXEC);

	if (argc > 1) {
		ns = 0;
		for (int i = 1; i < argc && ns < 8; i++)
			sizes[ns++] = strtoull(argv[i], NULL, 0);
	}
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < ns; i++)
		run_size(sizes[i]);

	if (img < 0 || ftruncate(img, IMG))
		return 1;
	for (unsigned rep = 0; rep < REPS; rep++) {
		off[rep] = backend_ns_per_request(false, img, 8192);
		on[rep] = backend_ns_per_request(true, img, 8192);
	}
	printf("vhost_blk.read4k.iotlb_on %.0f ns cpu\n", median3(on[0], on[1], on[2]));
	printf("vhost_blk.read4k.iotlb_off %.0f ns cpu\n", median3(off[0], off[1], off[2]));
	printf("vhost_blk.read4k ratio %.3f\n", median3(on[0], on[1], on[2]) / median3(off[0], off[1], off[2]));
	printf("(sink %llu)\n", (unsigned long long)(sink & 1));
	return 0;
}
