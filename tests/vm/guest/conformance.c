// SPDX-License-Identifier: MIT
/*
 * Differential conformance of the simulated host IOMMU against the real
 * kernel (issue 7). One table of cases runs through a real backend (VFIO type1
 * v2, type1 v1, and iommufd where the kernel has it) and through a simulated
 * backend in the same semantics, configured as the guest is (dma_entry_limit
 * read from the module parameter, default page sizes and VT-d ranges). Every
 * step's return code and byte count must match. The kernel's value of each
 * case's last step is also checked against what the kernel source says
 * (vfio_iommu_type1.c, iommufd io_pagetable.c), so both cannot be wrong the
 * same way.
 *
 * Output: one line per case and semantics,
 *   case type1v2 overlap_shape_1 kernel=0/0,-17/0 sim=0/0,-17/0 ok
 * listing every step as rc/bytes (bytes: unmapped bytes for unmaps, DMA_AVAIL
 * for caps reads, mappings made for a map run).
 *
 * Then the shared tables run here against the kernel and the simulator side
 * by side: tests/host_conformance.h (map/unmap rows) and
 * tests/host_uapi_cases.h (issue 15: pinning, dirty tracking, live update,
 * IOASes). For those the simulator is configured as the guest process is
 * (VIOMMU_HOST_SIM_USER_REGISTERED with the buffer's pages and their
 * protections), a second edu device is attached to a second IOAS, and pinned
 * pages are read from /proc/self/status (VmLck for type1, which accounts in
 * locked_vm; VmPin for iommufd, which accounts in pinned_vm). Lines:
 *   case uapi-type1v2 NAME kernel=STEP,STEP sim=STEP,STEP ok
 * with each step as rc/result (and the bitmap words of dirty reads).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <viommu/host.h>

#include "edu.h"
#include "host_conformance.h"
#include "host_uapi_cases.h"
#include "test.h"

/* the case table leaves unused step fields out */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define P 0x1000ull		/* the smallest IOMMU page (checked against caps) */
#define BASE 0x100000ull	/* IOVA of page index 0 */
#define BUF_PAGES 1024		/* the map/unmap cases use the first 4 MiB of the buffer */

enum op { END = 0, MAP, UNMAP, UNMAP_FLAGS, UNMAP_ALL, AVAIL, MAPN, MAP_RAW, UNMAP_MISALIGNED, MAP_AUTO, UNMAP_RAW };

/*
 * One step. Page-unit steps (MAP, UNMAP, UNMAP_FLAGS, MAPN) take page indexes
 * relative to BASE; MAP_RAW and UNMAP_RAW take raw iova/len (and a vaddr
 * offset); MAP_AUTO maps b pages at buffer page a where the kernel chooses
 * (iommufd), bytes = the IOVA chosen.
 */
struct step {
	enum op op;
	uint64_t a, b;		/* pages: first page, page count; raw: iova, length */
	uint64_t voff;		/* MAP_RAW: byte offset into the buffer */
	unsigned flags;
};

#define NOX 1			/* "no expectation" marker for expected rc */

struct ccase {
	const char *name;
	struct step s[12];
	/* kernel facts for the last step, per semantics: v2, v1, iommufd */
	int rc[3];
	int64_t bytes[3];	/* -1: not asserted */
};

#define S(...) { __VA_ARGS__ }
#define ALL3(x) { x, x, x }

static const struct ccase cases[] = {
	/* vfio_dma_do_map / iopt_map_user_pages: a plain map */
	{ "map", S({ MAP, 16, 2 }), ALL3(0), ALL3(0) },
	/* an identical re-map is an overlap: EEXIST everywhere */
	{ "remap_identical", S({ MAP, 16, 2 }, { MAP, 16, 2 }), ALL3(-EEXIST), ALL3(0) },
	/* the five overlap shapes of the iommufd selftest over [16,18) */
	{ "overlap_shape_1", S({ MAP, 16, 2 }, { MAP, 16, 2 }), ALL3(-EEXIST), ALL3(0) },
	{ "overlap_shape_2", S({ MAP, 16, 2 }, { MAP, 16, 1 }), ALL3(-EEXIST), ALL3(0) },
	{ "overlap_shape_3", S({ MAP, 16, 2 }, { MAP, 17, 1 }), ALL3(-EEXIST), ALL3(0) },
	{ "overlap_shape_4", S({ MAP, 16, 2 }, { MAP, 15, 2 }), ALL3(-EEXIST), ALL3(0) },
	{ "overlap_shape_5", S({ MAP, 16, 2 }, { MAP, 15, 3 }), ALL3(-EEXIST), ALL3(0) },
	/* a map enclosing an existing one */
	{ "overlap_enclosing", S({ MAP, 16, 2 }, { MAP, 14, 6 }), ALL3(-EEXIST), ALL3(0) },
	/* adjacent maps are fine */
	{ "adjacent", S({ MAP, 16, 2 }, { MAP, 18, 2 }, { MAP, 14, 2 }), ALL3(0), ALL3(0) },
	/* bisect from the front: v2 EINVAL; v1 removes the whole mapping
	 * (the range covers its first IOVA); iommufd ENOENT */
	{ "bisect_front", S({ MAP, 16, 4 }, { UNMAP, 16, 1 }, { UNMAP, 16, 4 }),
	  ALL3(0), { 4 * P, 0, 4 * P } },
	{ "bisect_front_only", S({ MAP, 16, 4 }, { UNMAP, 16, 1 }), { -EINVAL, 0, -ENOENT }, { 0, 4 * P, 0 } },
	/* bisect from the back: v2 EINVAL; v1 starts inside: 0 bytes */
	{ "bisect_back", S({ MAP, 16, 4 }, { UNMAP, 19, 1 }), { -EINVAL, 0, -ENOENT }, { 0, 0, 0 } },
	{ "bisect_middle", S({ MAP, 16, 4 }, { UNMAP, 17, 2 }), { -EINVAL, 0, -ENOENT }, { 0, 0, 0 } },
	/* v1: a range over the first IOVA that ends inside removes it whole */
	{ "cover_start_end_inside", S({ MAP, 16, 4 }, { UNMAP, 15, 2 }), { -EINVAL, 0, -ENOENT },
	  { 0, 4 * P, 0 } },
	/* four mappings of 8 pages, 16 apart; one unmap over all and the holes */
	{ "unmap_several_holes", S({ MAP, 16, 8 }, { MAP, 32, 8 }, { MAP, 48, 8 }, { MAP, 64, 8 },
				   { UNMAP, 8, 72 }, { AVAIL }),
	  ALL3(0), { 100, 100, -1 } },
	{ "unmap_several_exact", S({ MAP, 16, 8 }, { MAP, 32, 8 }, { MAP, 48, 8 }, { MAP, 64, 8 },
				   { UNMAP, 16, 56 }), ALL3(0), ALL3(32 * P) },
	/* partly covering the first: v2 EINVAL; iommufd ENOENT; v1 unasserted
	 * (6.1's loop finds an arbitrary overlapping mapping first) */
	{ "unmap_several_partial_first", S({ MAP, 16, 8 }, { MAP, 32, 8 }, { MAP, 48, 8 }, { MAP, 64, 8 },
					   { UNMAP, 20, 60 }), { -EINVAL, NOX, -ENOENT }, { 0, -1, 0 } },
	/* partly covering the last: v2 EINVAL; v1 removes all four whole */
	{ "unmap_several_partial_last", S({ MAP, 16, 8 }, { MAP, 32, 8 }, { MAP, 48, 8 }, { MAP, 64, 8 },
					  { UNMAP, 16, 52 }), { -EINVAL, 0, -ENOENT }, { 0, 32 * P, 0 } },
	/* unmapping nothing: type1 succeeds with 0 bytes, iommufd ENOENT */
	{ "unmap_nothing", S({ UNMAP, 16, 4 }), { 0, 0, -ENOENT }, ALL3(0) },
	{ "unmap_nothing_between", S({ MAP, 16, 2 }, { MAP, 24, 2 }, { UNMAP, 19, 4 }), { 0, 0, -ENOENT },
	  ALL3(0) },
	/* exact unmap reports the bytes; again: type1 0 bytes, iommufd ENOENT */
	{ "unmap_exact", S({ MAP, 0, 512 }, { UNMAP, 0, 512 }), ALL3(0), ALL3(0x200000) },
	{ "unmap_again", S({ MAP, 16, 2 }, { UNMAP, 16, 2 }, { UNMAP, 16, 2 }), { 0, 0, -ENOENT }, ALL3(0) },
	/* unmap-all: everything, then nothing */
	{ "unmap_all", S({ MAP, 16, 2 }, { MAP, 32, 3 }, { MAP, 200, 1 }, { UNMAP_ALL }), ALL3(0), ALL3(6 * P) },
	{ "unmap_all_empty", S({ UNMAP_ALL }), ALL3(0), ALL3(0) },
	/* VFIO_DMA_UNMAP_FLAG_ALL needs iova = size = 0; iommufd has
	 * no flags (the library says EOPNOTSUPP) */
	{ "unmap_all_flag_iova", S({ MAP, 16, 2 }, { UNMAP_FLAGS, 16, 0, 0, VIOMMU_HOST_UNMAP_ALL }),
	  { -EINVAL, -EINVAL, -EOPNOTSUPP }, ALL3(0) },
	{ "unmap_all_flag_size", S({ MAP, 16, 2 }, { UNMAP_FLAGS, 0, 2, 0, VIOMMU_HOST_UNMAP_ALL }),
	  { -EINVAL, -EINVAL, -EOPNOTSUPP }, ALL3(0) },
	/* misalignment and length 0 */
	{ "map_len0", S({ MAP_RAW, BASE, 0, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_misaligned_iova", S({ MAP_RAW, BASE + 0x800, P, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_misaligned_len", S({ MAP_RAW, BASE, P + 0x800, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_misaligned_vaddr", S({ MAP_RAW, BASE, P, 0x800 }), { -EINVAL, -EINVAL, NOX }, { 0, 0, -1 } },
	{ "unmap_misaligned_iova", S({ MAP, 16, 2 }, { UNMAP_MISALIGNED }), ALL3(NOX), ALL3(-1) },
	{ "unmap_len0", S({ MAP, 16, 2 }, { UNMAP, 16, 0 }), ALL3(NOX), ALL3(-1) },
	/* IOVA beyond the usable ranges (a 39-bit aperture: main) and inside the
	 * interrupt window 0xfee00000-0xfeefffff */
	{ "map_beyond_aperture", S({ MAP_RAW, 0x8000000000ull, P, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_last_usable_page", S({ MAP_RAW, 0x7ffffff000ull, P, 0 }), ALL3(0), ALL3(0) },
	{ "map_across_aperture_end", S({ MAP_RAW, 0x7ffffff000ull, 2 * P, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_msi_window", S({ MAP_RAW, 0xfee00000ull, P, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_into_msi_window", S({ MAP_RAW, 0xfedff000ull, 2 * P, 0 }), ALL3(-EINVAL), ALL3(0) },
	{ "map_below_msi_window", S({ MAP_RAW, 0xfedff000ull, P, 0 }), ALL3(0), ALL3(0) },
	{ "map_above_msi_window", S({ MAP_RAW, 0xfef00000ull, P, 0 }), ALL3(0), ALL3(0) },
	/* unmapping reserved or out-of-aperture IOVA: nothing is there */
	{ "unmap_msi_window", S({ UNMAP_RAW, 0xfee00000ull, P }), { 0, 0, -ENOENT }, ALL3(0) },
	{ "unmap_beyond_aperture", S({ UNMAP_RAW, 0x8000000000ull, P }), { 0, 0, -ENOENT }, ALL3(0) },
	{ "unmap_across_msi_window", S({ MAP_RAW, 0xfedff000ull, P, 0 }, { MAP_RAW, 0xfef00000ull, P, 0 },
				       { UNMAP_RAW, 0xfedff000ull, 0x102000 }), ALL3(0), ALL3(2 * P) },
	/* iommufd chooses the IOVA (iopt_alloc_iova: aligned to
	 * min(roundup_pow2(len), lowest set bit of the address), never 0);
	 * capped at HPAGE_SIZE on THP kernels (PAGE_SIZE without THP: the
	 * guest kernel has THP, as distribution kernels do); type1 has no
	 * such call (the library says EOPNOTSUPP) */
	{ "map_auto_page", S({ MAP_AUTO, 1, 1 }), { -EOPNOTSUPP, -EOPNOTSUPP, 0 }, { 0, 0, 0x1000 } },
	{ "map_auto_2m", S({ MAP_AUTO, 0, 512 }), { -EOPNOTSUPP, -EOPNOTSUPP, 0 }, { 0, 0, 0x200000 } },
	{ "map_auto_3pages", S({ MAP_AUTO, 4, 3 }, { MAP_AUTO, 8, 3 }), { -EOPNOTSUPP, -EOPNOTSUPP, 0 },
	  { 0, 0, 0x8000 } },
	{ "map_auto_after_fixed", S({ MAP_RAW, 0x1000, 0x3000, 0 }, { MAP_AUTO, 16, 4 }),
	  { -EOPNOTSUPP, -EOPNOTSUPP, 0 }, { 0, 0, 0x4000 } },
	/* iova + length wraps: type1 EINVAL, iommufd EOVERFLOW */
	{ "map_overflow", S({ MAP_RAW, 0xfffffffffffff000ull, 2 * P, 0 }), { -EINVAL, -EINVAL, -EOVERFLOW },
	  ALL3(0) },
	/* DMA_AVAIL follows the mapping count */
	{ "dma_avail", S({ AVAIL }, { MAP, 16, 2 }, { MAP, 32, 2 }, { AVAIL }, { UNMAP, 16, 2 }, { AVAIL }),
	  ALL3(0), { 99, 99, -1 } },
	/* the budget: dma_entry_limit mappings, then ENOSPC; the
	 * iommufd IOAS has none */
	{ "budget", S({ MAPN, 0, 100 }, { MAP, 300, 1 }), { -ENOSPC, -ENOSPC, 0 }, ALL3(0) },
	{ "budget_free_one", S({ MAPN, 0, 100 }, { UNMAP, 50, 1 }, { MAP, 300, 1 }, { MAP, 301, 1 }),
	  { -ENOSPC, -ENOSPC, 0 }, ALL3(0) },
};

static uint8_t *buf;
static struct guest_iommu gi;	/* the guest's IOMMU (edu.h), found in main() */

struct result {
	int rc;
	uint64_t bytes;
};

static struct result run_step(struct viommu_host *h, const struct step *s)
{
	const unsigned rw = VIOMMU_PERM_READ | VIOMMU_PERM_WRITE;
	struct result r = { 0, 0 };
	uint64_t i;

	switch (s->op) {
	case MAP:
		r.rc = viommu_host_map(h, BASE + s->a * P, s->b * P, (uint64_t)(uintptr_t)(buf + s->a * P), rw);
		break;
	case MAP_RAW:
		r.rc = viommu_host_map(h, s->a, s->b, (uint64_t)(uintptr_t)(buf + s->voff), rw);
		break;
	case UNMAP_MISALIGNED:	/* half a page into a mapping */
		r.rc = viommu_host_unmap(h, BASE + 16 * P + 0x800, P, &r.bytes);
		break;
	case UNMAP_RAW:
		r.rc = viommu_host_unmap(h, s->a, s->b, &r.bytes);
		break;
	case MAP_AUTO: {
		uint64_t iova = 0;
		r.rc = viommu_host_map_auto(h, (uint64_t)(uintptr_t)(buf + s->a * P), s->b * P, rw, &iova);
		r.bytes = r.rc ? 0 : iova;
		break;
	}
	case UNMAP:
		r.rc = viommu_host_unmap(h, BASE + s->a * P, s->b * P, &r.bytes);
		break;
	case UNMAP_FLAGS:
		r.rc = viommu_host_unmap_flags(h, s->a ? BASE + s->a * P : 0, s->b * P, s->flags, &r.bytes);
		break;
	case UNMAP_ALL:
		r.rc = viommu_host_unmap_all(h, &r.bytes);
		break;
	case AVAIL: {
		struct viommu_host_caps c = { .sz = sizeof(c) };
		r.rc = viommu_host_get_caps(h, &c);
		r.bytes = (c.flags & VIOMMU_HOST_CAP_DMA_AVAIL) ? c.dma_avail : 0;
		break;
	}
	case END:
		break;
	case MAPN:
		/* single pages; stop at the first failure: rc of that, bytes = count made */
		for (i = 0; i < s->b; i++) {
			uint64_t pg = s->a + i;
			r.rc = viommu_host_map(h, BASE + pg * P, P, (uint64_t)(uintptr_t)(buf + pg * P), rw);
			if (r.rc)
				break;
			r.bytes++;
		}
		break;
	}
	return r;
}

static const char *sem_name(enum viommu_host_semantics s)
{
	return s == VIOMMU_HOST_TYPE1V2 ? "type1v2" : s == VIOMMU_HOST_TYPE1V1 ? "type1v1" : "iommufd";
}

static int sem_index(enum viommu_host_semantics s)
{
	return s == VIOMMU_HOST_TYPE1V2 ? 0 : s == VIOMMU_HOST_TYPE1V1 ? 1 : 2;
}

static unsigned read_limit(void)
{
	FILE *f = fopen("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "r");
	unsigned v = 65535;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 65535;
		fclose(f);
	}
	return v;
}

static void print_caps(const char *who, const char *sem, const struct viommu_host_caps *c)
{
	printf("caps %s %s pgsizes=0x%llx align=0x%llx dma_avail=%s", sem, who, (unsigned long long)c->pgsize_bitmap,
	       (unsigned long long)c->iova_alignment, (c->flags & VIOMMU_HOST_CAP_DMA_AVAIL) ? "" : "none");
	if (c->flags & VIOMMU_HOST_CAP_DMA_AVAIL)
		printf("%llu", (unsigned long long)c->dma_avail);
	printf(" ranges=");
	for (uint32_t i = 0; i < c->nranges; i++)
		printf("%s[0x%llx,0x%llx]", i ? "," : "", (unsigned long long)c->ranges[i].first,
		       (unsigned long long)c->ranges[i].last);
	printf("\n");
}

/*
 * The capabilities the kernel reports must equal the simulated backend's for
 * the same configuration (issue 7). iommufd's IOAS reports no page sizes,
 * only its alignment, so there the alignment is compared.
 */
static void compare_caps(enum viommu_host_semantics sem, struct viommu_host *real, struct viommu_host *sim)
{
	struct viommu_host_caps k = { .sz = sizeof(k) }, s = { .sz = sizeof(s) };
	bool ok;

	T_EQ(viommu_host_get_caps(real, &k), 0);
	T_EQ(viommu_host_get_caps(sim, &s), 0);
	print_caps("kernel", sem_name(sem), &k);
	print_caps("sim", sem_name(sem), &s);
	printf("caps %s flags kernel=0x%x sim=0x%x dirty_pgsizes kernel=0x%llx sim=0x%llx max_bitmap kernel=0x%llx sim=0x%llx\n",
	       sem_name(sem), k.flags, s.flags, (unsigned long long)k.dirty_pgsizes, (unsigned long long)s.dirty_pgsizes,
	       (unsigned long long)k.dirty_max_bitmap_bytes, (unsigned long long)s.dirty_max_bitmap_bytes);
	ok = k.iova_alignment == s.iova_alignment && k.nranges == s.nranges && k.flags == s.flags &&
	     k.dirty_pgsizes == s.dirty_pgsizes && k.dirty_max_bitmap_bytes == s.dirty_max_bitmap_bytes &&
	     (k.flags & VIOMMU_HOST_CAP_DMA_AVAIL) == (s.flags & VIOMMU_HOST_CAP_DMA_AVAIL) &&
	     k.dma_avail == s.dma_avail;
	if (sem != VIOMMU_HOST_IOMMUFD)
		ok = ok && k.pgsize_bitmap == s.pgsize_bitmap;
	for (uint32_t i = 0; ok && i < k.nranges; i++)
		ok = k.ranges[i].first == s.ranges[i].first && k.ranges[i].last == s.ranges[i].last;
	printf("case %s caps kernel=sim %s\n", sem_name(sem), ok ? "ok" : "MISMATCH");
	T_OK(ok);
	/* what this guest's kernel reports: the IOMMU's page sizes and aperture
	 * as the device advertises them (edu.h guest_iommu), the x86 interrupt
	 * window reserved, dma_entry_limit */
	T_EQ_U64(k.iova_alignment, P);
	if (sem != VIOMMU_HOST_IOMMUFD) {
		T_EQ_U64(k.pgsize_bitmap, gi.pgsizes);
		T_EQ_U64(k.dma_avail, read_limit());
	}
	T_EQ(k.nranges, 2);
	T_EQ_U64(k.ranges[0].first, 0);
	T_EQ_U64(k.ranges[0].last, 0xfedfffff);
	T_EQ_U64(k.ranges[1].first, 0xfef00000);
	T_EQ_U64(k.ranges[1].last, gi.last);
}

static void clean(struct viommu_host *h)
{
	uint64_t n;

	if (viommu_host_unmap_all(h, &n))
		printf("warning: unmap_all failed\n");
}

static void run_table(enum viommu_host_semantics sem, struct viommu_host *real, struct viommu_host *sim)
{
	const char *sn = sem_name(sem);
	int si = sem_index(sem);

	compare_caps(sem, real, sim);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct ccase *cc = &cases[c];
		char kl[512] = "", sl[512] = "";
		size_t ko = 0, so = 0;
		struct result kr = { 0, 0 }, sr = { 0, 0 };
		bool ok = true;

		clean(real);
		clean(sim);
		for (int i = 0; i < 12 && cc->s[i].op != END; i++) {
			kr = run_step(real, &cc->s[i]);
			sr = run_step(sim, &cc->s[i]);
			if (kr.rc != sr.rc || kr.bytes != sr.bytes)
				ok = false;
			ko += (size_t)snprintf(kl + ko, sizeof(kl) - ko, "%s%d/%llu", i ? "," : "", kr.rc,
					       (unsigned long long)kr.bytes);
			so += (size_t)snprintf(sl + so, sizeof(sl) - so, "%s%d/%llu", i ? "," : "", sr.rc,
					       (unsigned long long)sr.bytes);
			if (ko >= sizeof(kl) || so >= sizeof(sl))
				ko = so = sizeof(kl) - 1;
		}
		/* the kernel's last step against the documented facts */
		bool fact = (cc->rc[si] == NOX || kr.rc == cc->rc[si]) &&
			    (cc->bytes[si] < 0 || kr.bytes == (uint64_t)cc->bytes[si]);
		printf("case %s %s kernel=%s sim=%s %s%s\n", sn, cc->name, kl, sl, ok ? "ok" : "MISMATCH",
		       fact ? "" : " (kernel differs from the kernel source's rule)");
		T_OK(ok);
		T_OK(fact);
	}
	clean(real);
	clean(sim);
}

/* ---- the shared tables: host_conformance.h and host_uapi_cases.h ---- */

/* A simulator configured as this guest process is: its buffer, its limit. */
static struct viommu_host *sim_like_guest(enum viommu_host_semantics sem, unsigned flags)
{
	struct viommu_host *h = hu_sim_new(sem, flags, (uint64_t)(uintptr_t)buf, read_limit());

	T_OK(h != NULL);
	return h;
}

struct kdev2 {
	int fd;			/* the second edu's cdev, bound to the kernel iommufd (-1: none) */
	bool attached;
};
static struct kdev2 dev2 = { -1, false };

static uint64_t kernel_pinned(struct hu_env *e)
{
	return status_pages(viommu_host_semantics(e->h[0]) == VIOMMU_HOST_IOMMUFD ? "VmPin:" : "VmLck:");
}

static int kernel_attach2(struct hu_env *e)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = viommu_host_iommufd_ioas_id(e->h[1]) };

	(void)e;
	if (dev2.fd < 0)
		return -ENODEV;
	if (ioctl(dev2.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -errno;
	dev2.attached = true;
	return 0;
}

static void kernel_detach2(void)
{
	struct vfio_device_detach_iommufd_pt d = { .argsz = sizeof(d) };

	if (dev2.attached && ioctl(dev2.fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d))
		printf("warning: detach of the second device failed: %d\n", errno);
	dev2.attached = false;
}

static int sim_attach2(struct hu_env *e)
{
	return viommu_host_sim_attach(e->h[1]);
}

static uint64_t sim_pinned(struct hu_env *e)
{
	struct viommu_host_sim_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_host_sim_get_stats(e->h[0], &st), 0);
	return st.pinned_pages;
}

/* After a case: nothing mapped, tracking stopped, no allowed ranges, device 2 detached. */
static void kernel_reset(struct viommu_host *real)
{
	uint64_t n;

	kernel_detach2();
	if (viommu_host_unmap_all(real, &n))
		printf("warning: unmap_all failed\n");
	if (viommu_host_semantics(real) == VIOMMU_HOST_TYPE1V2)
		(void)viommu_host_dirty_tracking(real, VIOMMU_HOST_DIRTY_STOP);
	if (viommu_host_semantics(real) == VIOMMU_HOST_IOMMUFD)
		(void)viommu_host_ioas_allow_iovas(real, NULL, 0);
}

static void run_uapi(enum viommu_host_semantics sem, struct viommu_host *real)
{
	const char *sn = sem_name(sem);
	int si = sem_index(sem);
	unsigned ok = 0, ran = 0, src = 0;

	for (size_t c = 0; c < sizeof(hu_cases) / sizeof(hu_cases[0]); c++) {
		const struct hu_case *hc = &hu_cases[c];
		struct hu_env ke = { .vbase = (uint64_t)(uintptr_t)buf, .attach2 = kernel_attach2, .pinned = kernel_pinned };
		struct hu_env se = { .vbase = (uint64_t)(uintptr_t)buf, .attach2 = sim_attach2, .pinned = sim_pinned };
		struct hu_result kr[9], sr[9];
		char kl[1024], sl[1024];
		bool same = true;
		int kbad, sbad;

		if (!hu_applies(hc, sem))
			continue;
		if (hc->sim_flags) {
			src++;
			continue;	/* modelled from source: no kernel here can answer */
		}
		ke.h[0] = real;
		se.h[0] = sim_like_guest(sem, 0);
		if (!se.h[0])
			continue;
		if (hc->ioas2) {
			ke.h[1] = viommu_host_ioas_alloc(real);
			se.h[1] = viommu_host_ioas_alloc(se.h[0]);
			T_OK(ke.h[1] && se.h[1]);
			if (!ke.h[1] || !se.h[1])
				goto next;
		}
		kbad = hu_run(&ke, hc, kr);
		sbad = hu_run(&se, hc, sr);
		for (int i = 0; i < 9 && hc->s[i].op != HU_END; i++)
			if (kr[i].ret != sr[i].ret || kr[i].res != sr[i].res || kr[i].bm[0] != sr[i].bm[0] ||
			    kr[i].bm[1] != sr[i].bm[1])
				same = false;
		hu_describe(kl, sizeof(kl), hc, kr, si);
		hu_describe(sl, sizeof(sl), hc, sr, si);
		printf("case uapi-%s %s kernel=%s sim=%s %s%s\n", sn, hc->name, kl, sl, same ? "ok" : "MISMATCH",
		       kbad < 0 ? "" : " (kernel differs from the table)");
		T_OK(same);
		T_EQ(kbad, -1);
		T_EQ(sbad, -1);
		ok += same && kbad < 0 && sbad < 0;
		ran++;
next:
		kernel_reset(real);
		viommu_host_free(ke.h[1]);
		viommu_host_free(se.h[1]);
		viommu_host_free(se.h[0]);
	}
	printf("case uapi-%s summary %u of %u equal (kernel = simulator = table), %u modelled from source only\n", sn,
	       ok, ran, src);
}

/* host_conformance.h: the map/unmap rows, kernel and simulator each against the table. */
static void run_hc(enum viommu_host_semantics sem, struct viommu_host *real)
{
	struct viommu_host *sim = sim_like_guest(sem, 0);
	unsigned ok = 0;

	if (!sim)
		return;
	for (size_t i = 0; i < sizeof(hc_cases) / sizeof(hc_cases[0]); i++) {
		char kw[256] = "", sw[256] = "";
		int kr = hc_run(real, &hc_cases[i], (uint64_t)(uintptr_t)buf, kw, sizeof(kw));
		int sr = hc_run(sim, &hc_cases[i], (uint64_t)(uintptr_t)buf, sw, sizeof(sw));

		if (kr || sr)
			printf("case hc-%s %s kernel: %s sim: %s MISMATCH\n", sem_name(sem), hc_cases[i].name,
			       kr ? kw : "ok", sr ? sw : "ok");
		T_EQ(kr, 0);
		T_EQ(sr, 0);
		ok += !kr && !sr;
	}
	printf("case hc-%s summary %u of %zu rows equal\n", sem_name(sem), ok, sizeof(hc_cases) / sizeof(hc_cases[0]));
	viommu_host_free(sim);
}

/*
 * dma_entry_limit 0 (a module parameter read when a container opens,
 * vfio_iommu_type1_open): DMA_AVAIL reports 0 and every map is ENOSPC.
 */
static void run_limit0(const char *group)
{
	const char *param = "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";
	unsigned old = read_limit();
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = VIOMMU_HOST_TYPE1V2,
					  .flags = VIOMMU_HOST_SIM_LIMIT_ZERO };
	struct viommu_host *real, *sim = viommu_host_sim_new(&o);
	struct viommu_host_caps kc = { .sz = sizeof(kc) }, sc = { .sz = sizeof(sc) };
	FILE *f = fopen(param, "w");
	int km, sm;

	T_OK(f != NULL && sim != NULL);
	if (!f || !sim) {
		viommu_host_free(sim);
		return;
	}
	fprintf(f, "0\n");
	fclose(f);
	real = viommu_host_vfio_open(group, VIOMMU_HOST_TYPE1V2);
	T_OK(real != NULL);
	if (real) {
		T_EQ(viommu_host_get_caps(real, &kc), 0);
		T_EQ(viommu_host_get_caps(sim, &sc), 0);
		km = viommu_host_map(real, HU_B, HU_P, (uint64_t)(uintptr_t)buf, 3);
		sm = viommu_host_map(sim, HU_B, HU_P, (uint64_t)(uintptr_t)buf, 3);
		printf("case type1v2 dma_entry_limit_0 kernel=avail %llu max %llu map %d sim=avail %llu max %llu map %d %s\n",
		       (unsigned long long)kc.dma_avail, (unsigned long long)kc.max_mappings, km,
		       (unsigned long long)sc.dma_avail, (unsigned long long)sc.max_mappings, sm,
		       kc.dma_avail == sc.dma_avail && km == sm ? "ok" : "MISMATCH");
		T_EQ_U64(kc.dma_avail, 0);
		T_EQ_U64(sc.dma_avail, 0);
		T_EQ(km, -ENOSPC);
		T_EQ(sm, -ENOSPC);
		viommu_host_free(real);
	}
	f = fopen(param, "w");
	if (f) {
		fprintf(f, "%u\n", old);
		fclose(f);
	}
	T_EQ(read_limit(), old);
	viommu_host_free(sim);
}

/* The raw VFIO_IOMMU_GET_INFO reply, for the decoder's corpus; and what it decodes to. */
static void dump_getinfo(const char *group, enum viommu_host_semantics sem)
{
	uint32_t b[64] = { 0 };
	char path[64];
	int c = open("/dev/vfio/vfio", O_RDWR), g;

	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	g = open(path, O_RDWR);
	if (c < 0 || g < 0 || ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) ||
	    ioctl(c, VFIO_SET_IOMMU, sem == VIOMMU_HOST_TYPE1V1 ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU)) {
		printf("getinfo %s: cannot open the container (%d)\n", sem_name(sem), errno);
		T_OK(0);
	} else {
		b[0] = sizeof(b);
		T_EQ(ioctl(c, VFIO_IOMMU_GET_INFO, b), 0);
		printf("getinfo %s argsz=%u hex=", sem_name(sem), b[0]);
		for (uint32_t i = 0; i < b[0] && i < sizeof(b); i++)
			printf("%02x", ((uint8_t *)b)[i]);
		printf("\n");
	}
	if (g >= 0)
		close(g);
	if (c >= 0)
		close(c);
}

static struct viommu_host *sim_for(enum viommu_host_semantics sem)
{
	/* the simulator's defaults are VT-d's ranges with a 39-bit aperture; the
	 * page sizes are the guest IOMMU's */
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .dma_entry_limit = read_limit(),
					  .pgsize_bitmap = gi.pgsizes };
	struct viommu_host *h = viommu_host_sim_new(&o);

	T_OK(h != NULL);
	return h;
}

/* Does the kernel offer this IOMMU type (v1 may be compiled out)? */
static bool type1_offered(enum viommu_host_semantics sem)
{
	int fd = open("/dev/vfio/vfio", O_RDWR), r;

	if (fd < 0)
		return false;
	r = ioctl(fd, VFIO_CHECK_EXTENSION, sem == VIOMMU_HOST_TYPE1V1 ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU);
	close(fd);
	return r == 1;
}

static void run_type1(const char *group, enum viommu_host_semantics sem)
{
	struct viommu_host *real, *sim;

	if (!type1_offered(sem)) {
		/* v2 is required; v1 is tested where the kernel offers it */
		printf("case %s SKIP: the kernel does not offer it\n", sem_name(sem));
		T_OK(sem == VIOMMU_HOST_TYPE1V1);
		return;
	}
	real = viommu_host_vfio_open(group, sem);
	if (!real) {
		printf("case %s open FAIL errno %d\n", sem_name(sem), errno);
		T_OK(0);
		return;
	}
	sim = sim_for(sem);
	if (sim)
		run_table(sem, real, sim);
	viommu_host_free(sim);
	run_hc(sem, real);
	run_uapi(sem, real);
	viommu_host_free(real);
	dump_getinfo(group, sem);
}

int main(int argc, char **argv)
{
	const char *kernel = argc > 1 ? argv[1] : "stock";
	const char *group = getenv("VIOMMU_VM_GROUP");
	const char *cdev = getenv("VIOMMU_VM_CDEV");
	void *p;

	T_OK(group != NULL);
	if (!group)
		return t_done();
	/* 2 MiB aligned so the 2 MiB case can use a huge IOMMU page; the
	 * layout of host_uapi_cases.h: HU_RW read-write, a read-only page, a
	 * PROT_NONE page (each page written first, so every pin finds a real
	 * page, never the zero page) */
	p = mmap(NULL, HU_BUF + 0x200000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_OK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return t_done();
	buf = (uint8_t *)(((uintptr_t)p + 0x1fffff) & ~(uintptr_t)0x1fffff);
	memset(buf, 0x5a, HU_BUF);
	T_EQ(mprotect(buf + HU_RO, HU_P, PROT_READ), 0);
	T_EQ(mprotect(buf + HU_NONE, HU_P, PROT_NONE), 0);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * The case table's aperture cases (map_beyond_aperture and the like)
	 * are written for a 39-bit aperture, as is the simulator's default
	 * range list: QEMU's q35 VT-d with aw-bits=39 and virtio-iommu with
	 * aw-bits=39 (input_range [0, 2^39-1]). Any other IOMMU fails here.
	 */
	T_EQ(guest_iommu(&gi), 0);
	printf("caps iommu %s %s pgsizes=0x%llx last=0x%llx\n", guest_iommu_kind_name(gi.kind), gi.name,
	       (unsigned long long)gi.pgsizes, (unsigned long long)gi.last);
	T_EQ_U64(gi.last, 0x7fffffffffull);

	run_type1(group, VIOMMU_HOST_TYPE1V2);
	run_type1(group, VIOMMU_HOST_TYPE1V1);
	run_limit0(group);
	if (!strcmp(kernel, "iommufd")) {
		struct viommu_host *real = cdev ? viommu_host_iommufd_open(cdev) : NULL, *sim;

		T_OK(real != NULL);
		if (real) {
			const char *cdev2 = getenv("VIOMMU_VM_CDEV2");

			sim = sim_for(VIOMMU_HOST_IOMMUFD);
			if (sim)
				run_table(VIOMMU_HOST_IOMMUFD, real, sim);
			viommu_host_free(sim);
			/* the second edu, bound to the same iommufd, for the second IOAS */
			dev2.fd = cdev2 ? open(cdev2, O_RDWR) : -1;
			if (dev2.fd >= 0) {
				struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind),
									 .iommufd = viommu_host_iommufd_fd(real) };

				if (ioctl(dev2.fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
					printf("case iommufd bind of the second device FAIL errno %d\n", errno);
					T_OK(0);
				}
			} else {
				printf("case iommufd no second device (VIOMMU_VM_CDEV2) FAIL\n");
				T_OK(0);
			}
			run_hc(VIOMMU_HOST_IOMMUFD, real);
			run_uapi(VIOMMU_HOST_IOMMUFD, real);
			viommu_host_free(real);
			if (dev2.fd >= 0)
				close(dev2.fd);
		} else {
			printf("case iommufd open FAIL errno %d\n", errno);
		}
	}
	return t_done();
}
