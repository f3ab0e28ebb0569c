// SPDX-License-Identifier: MIT
/*
 * The VT-d model's concurrency guarantee (include/viommu/vtd.h): translate
 * runs on device threads while the guest, on a vCPU thread, keeps changing
 * a page's translation and invalidating it; once the status of the wait
 * descriptor after an invalidation has been written (or the register-based
 * invalidation returned), no translation that starts afterwards returns what
 * that invalidation removed.
 *
 * Step k maps the page to output k << 12 (so outputs only grow) and
 * invalidates it (PSI, domain, global, or a move of the device to the other
 * table set with a context-cache invalidation), then a wait descriptor
 * writes k as its status. A device thread reads the status s (acquire) and
 * then translates: the output step must be >= s. Each device thread does a
 * fixed number of translations; the vCPU thread runs until they finish.
 * Guest memory is accessed with atomics (as hardware and the guest race on
 * it for real), so TSan checks the library's own synchronisation.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "vtd_guest.h"

#define RAM (UINT64_C(16) << 20)
#define TABLES UINT64_C(0x100000)
#define PAGE UINT64_C(0x40000)		/* the page that keeps changing */
#define STABLE UINT64_C(0x80000)	/* a page that never changes */
#define SID0 0x0018
#define READERS 2
#define OPS 200000

static unsigned char *ram;
static _Atomic uint64_t published;	/* register-based phase: the last step whose invalidation returned */
static _Atomic int readers_left;
static _Atomic unsigned long violations, faults, checked;
static pthread_barrier_t start;

/* Guest memory through 8-byte (or smaller) atomic accesses. */
static int mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	unsigned char *b = buf;

	if (gpa >= RAM || len > RAM - gpa)
		return -EFAULT;
	for (size_t i = 0; i < len;) {
		if (!((gpa + i) & 7) && len - i >= 8) {
			uint64_t v = __atomic_load_n((uint64_t *)(void *)(ram + gpa + i), __ATOMIC_ACQUIRE);

			memcpy(b + i, &v, 8);
			i += 8;
		} else {
			b[i] = __atomic_load_n(ram + gpa + i, __ATOMIC_ACQUIRE);
			i++;
		}
	}
	return 0;
}

static int mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	const unsigned char *b = buf;

	if (gpa >= RAM || len > RAM - gpa)
		return -EFAULT;
	for (size_t i = 0; i < len;) {
		if (!((gpa + i) & 3) && len - i >= 4) {
			uint32_t v;

			memcpy(&v, b + i, 4);
			__atomic_store_n((uint32_t *)(void *)(ram + gpa + i), v, __ATOMIC_RELEASE);
			i += 4;
		} else {
			__atomic_store_n(ram + gpa + i, b[i], __ATOMIC_RELEASE);
			i++;
		}
	}
	return 0;
}

/* A side whose guest memory is the shared atomic RAM. */
struct tside {
	struct vg_side side;
	struct viommu_vtd *v;
};

static uint64_t t_rd(struct vg_side *s, unsigned off, unsigned size)
{
	uint64_t v = 0;

	viommu_vtd_mmio_read(((struct tside *)(void *)s)->v, off, size, &v);
	return v;
}

static void t_wr(struct vg_side *s, unsigned off, unsigned size, uint64_t val)
{
	viommu_vtd_mmio_write(((struct tside *)(void *)s)->v, off, size, val);
}

static void t_mw(struct vg_side *s, uint64_t gpa, const void *buf, size_t len) { mem_write(NULL, gpa, buf, len); }
static void t_mr(struct vg_side *s, uint64_t gpa, void *buf, size_t len) { mem_read(NULL, gpa, buf, len); }

struct reader_arg {
	struct viommu_vtd *v;
	struct vg *g;
	bool qi;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;

	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < OPS; i++) {
		uint64_t s;
		struct viommu_vtd_xlat x;

		if (a->qi)
			s = __atomic_load_n((uint32_t *)(void *)(ram + a->g->status), __ATOMIC_ACQUIRE);
		else
			s = atomic_load_explicit(&published, memory_order_acquire);
		if (viommu_vtd_translate(a->v, SID0, PAGE + (i & 0xfff), VIOMMU_PERM_READ, 0, &x)) {
			atomic_fetch_add(&faults, 1);
			continue;
		}
		if ((x.out >> 12) < s)
			atomic_fetch_add(&violations, 1);
		if (viommu_vtd_translate(a->v, SID0, STABLE, VIOMMU_PERM_WRITE, 0, &x) || x.out != 0x1000)
			atomic_fetch_add(&violations, 1);
		atomic_fetch_add(&checked, 1);
	}
	atomic_fetch_sub(&readers_left, 1);
	return NULL;
}

static void run(bool qi)
{
	struct viommu_vtd_opts o = { .sz = sizeof(o), .read = mem_read, .write = mem_write, .no_qi = !qi };
	struct tside ts;
	struct vg g;
	struct reader_arg a;
	pthread_t th[READERS];
	uint64_t pt[2], step = 1;

	memset(ram, 0, RAM);
	memset(&ts, 0, sizeof(ts));
	ts.v = viommu_vtd_new(&o);
	if (!ts.v)
		T_FATAL("unit");
	ts.side.rd = t_rd;
	ts.side.wr = t_wr;
	ts.side.mw = t_mw;
	ts.side.mr = t_mr;
	vg_init(&g, &ts.side, TABLES, RAM);
	pt[0] = vg_page(&g);
	pt[1] = vg_page(&g);
	for (int t = 0; t < 2; t++) {
		vg_map(&g, pt[t], 3, PAGE, step << 12, VG_SZ_4K, VG_RW);
		vg_map(&g, pt[t], 3, STABLE, 0x1000, VG_SZ_4K, VG_RW);
	}
	vg_root(&g);
	vg_context(&g, SID0, 1, pt[0], 1, VG_TT_SL, false);
	if (qi)
		vg_qi_enable(&g, 3);
	vg_te(&g, true);
	atomic_store(&published, 0);
	atomic_store(&readers_left, READERS);
	a = (struct reader_arg){ ts.v, &g, qi };
	pthread_barrier_init(&start, NULL, READERS + 1);
	for (int i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, &a);
	unsigned cur = 0;

	pthread_barrier_wait(&start);
	while (atomic_load(&readers_left)) {
		unsigned kind = (unsigned)(step % 5);

		step++;
		if (kind == 4) {
			/*
			 * Move the device to the other tables: context entry, context
			 * cache, IOTLB. The entry is rewritten in place while devices
			 * translate, in 4-byte stores, so a walk may read it torn (the
			 * new domain id with the old table) and cache leaves under the
			 * new domain id: both domains are invalidated, as software must
			 * when it changes a present entry non-atomically (the spec's chapter 6,
			 * "Guidance to Software for Invalidations").
			 */
			cur ^= 1;
			vg_map(&g, pt[cur], 3, PAGE, step << 12, VG_SZ_4K, VG_RW);
			vg_context(&g, SID0, (uint16_t)(1 + cur), pt[cur], 1, VG_TT_SL, false);
			if (qi) {
				vg_qi_put(&g, vg_cc_device(0, SID0, 0), 0);
				vg_qi_put(&g, vg_iotlb_domain((uint16_t)(2 - cur)), 0);
				vg_qi_put(&g, vg_iotlb_domain((uint16_t)(1 + cur)), 0);
			} else {
				vg_wr64(&ts.side, VIOMMU_VTD_REG_CCMD, UINT64_C(0xe000000000000000) | (uint64_t)SID0 << 16);
				for (unsigned d = 1; d <= 2; d++)
					vg_wr64(&ts.side, VIOMMU_VTD_REG_IOTLB, UINT64_C(0xa000000000000000) |
						(uint64_t)d << 32);
			}
		} else {
			vg_map(&g, pt[cur], 3, PAGE, step << 12, VG_SZ_4K, VG_RW);
			uint16_t did = (uint16_t)(1 + cur);

			if (qi) {
				uint64_t lo = kind == 0 ? vg_iotlb_global() : kind == 1 ? vg_iotlb_domain(did) :
					      vg_iotlb_page(did);

				vg_qi_put(&g, lo, kind >= 2 ? vg_iotlb_page_hi(PAGE, kind - 2, false) : 0);
			} else {
				if (kind >= 2)
					vg_wr64(&ts.side, VIOMMU_VTD_REG_IVA, PAGE | (kind - 2));
				vg_wr64(&ts.side, VIOMMU_VTD_REG_IOTLB, UINT64_C(1) << 63 |
					(uint64_t)(kind == 0 ? 1 : kind == 1 ? 2 : 3) << 60 | (uint64_t)did << 32);
			}
		}
		if (qi) {
			g.seq = (uint32_t)step - 1;	/* the wait writes this step */
			vg_qi_put_wait(&g, 0);
			vg_qi_kick(&g);
		} else {
			atomic_store_explicit(&published, step, memory_order_release);
		}
	}
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	printf("%s: %llu guest steps, %lu translations checked\n", qi ? "queued" : "register-based",
	       (unsigned long long)step, atomic_load(&checked));
	T_EQ(atomic_load(&violations), 0);
	T_EQ(atomic_load(&faults), 0);
	T_EQ(atomic_load(&checked), READERS * OPS);
	T_EQ(vg_rd32(&ts.side, VIOMMU_VTD_REG_FSTS), 0);
	atomic_store(&checked, 0);
	viommu_vtd_free(ts.v);
}

int main(void)
{
	ram = calloc(1, RAM);
	if (!ram)
		return t_skip("no memory");
	run(true);
	run(false);
	free(ram);
	return t_done();
}
