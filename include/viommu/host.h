/* SPDX-License-Identifier: MIT */
/*
 * viommu host DMA backends: the one seam through which the library reaches the
 * host IOMMU. Three kinds share one handle type and one ops table each:
 *
 *  - the simulated host IOMMU (viommu_host_sim_new), which reproduces the
 *    errno and byte count of every case of VFIO type1 v2, type1 v1
 *    (drivers/vfio/vfio_iommu_type1.c, Linux 6.1) or iommufd
 *    (drivers/iommu/iommufd/, Linux 6.12) exactly, pins user memory as the
 *    kernel does (EFAULT when none backs the range), tracks dirty pages,
 *    keeps a timeline of calls, can fail the Nth call on request and answers
 *    "what does this IOVA translate to";
 *  - VFIO type1 over the real container/group ioctls (viommu_host_vfio_open);
 *  - iommufd over the real IOAS ioctls (viommu_host_iommufd_open).
 *
 * The map/unmap arguments mirror the kernel uAPI (iova and length as u64, not
 * a closed range) on purpose: conformance tests must be able to pass length 0
 * and lengths that overflow and get the kernel's exact errno.
 *
 * Errors: every call returns 0 or a negative errno (errno is set too). Where
 * the kernel returns an errno the backends return exactly that errno. Byte
 * counts (*unmapped) are written on every return; they are 0 whenever the
 * call fails, because neither VFIO nor iommufd copies the count back to user
 * space on failure. Every refusal is logged (viommu_set_log) with the exact
 * range and the rule or errno that refused it.
 *
 * Concurrency: the IOASes of one simulated iommufd (one container for type1)
 * share an internal mutex, so a device model may call
 * viommu_host_sim_translate() / _access() from DMA threads while another
 * thread maps and unmaps. Real backends keep no mutable state after open; the
 * kernel serialises concurrent calls on one container or IOAS.
 * viommu_host_free() needs the caller's exclusion against every other call
 * on the handle.
 */
#ifndef VIOMMU_HOST_H
#define VIOMMU_HOST_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_host;

/* Which kernel semantics a backend enforces (vfio_iommu_type1.c set_iommu types; iommufd ioas.c). */
enum viommu_host_semantics {
	VIOMMU_HOST_TYPE1V2 = 1,	/* VFIO_TYPE1v2_IOMMU: unmap must not bisect */
	VIOMMU_HOST_TYPE1V1 = 2,	/* VFIO_TYPE1_IOMMU: whole-mapping unmap quirk */
	VIOMMU_HOST_IOMMUFD = 3,	/* iommufd IOAS: areas, auto IOVA, ENOENT */
};

enum viommu_host_kind {
	VIOMMU_HOST_KIND_SIM = 1,
	VIOMMU_HOST_KIND_VFIO = 2,
	VIOMMU_HOST_KIND_IOMMUFD = 3,
};

/*
 * Device access permissions of a mapping: VIOMMU_PERM_READ / VIOMMU_PERM_WRITE
 * (include/viommu/common.h). The old names below are the same bits and stay
 * only until every caller has moved.
 */
#define VIOMMU_HOST_PROT_READ  VIOMMU_PERM_READ
#define VIOMMU_HOST_PROT_WRITE VIOMMU_PERM_WRITE

/* viommu_host_map_flags(): type1 VFIO_DMA_MAP_FLAG_VADDR. */
#define VIOMMU_HOST_MAP_VADDR	0x1u	/* give an invalidated mapping its new user address */

/* viommu_host_unmap_flags() / viommu_host_unmap_dirty(): type1 only. */
#define VIOMMU_HOST_UNMAP_ALL	0x1u	/* VFIO_DMA_UNMAP_FLAG_ALL (iova = length = 0) */
#define VIOMMU_HOST_UNMAP_VADDR	0x2u	/* VFIO_DMA_UNMAP_FLAG_VADDR: keep the mapping, invalidate its vaddr */

/* A closed IOVA range [first, last]. */
struct viommu_host_iova_range {
	uint64_t first;
	uint64_t last;
};

/* caps.flags */
#define VIOMMU_HOST_CAP_DMA_AVAIL	0x1u	/* the backend reports a mapping budget */
#define VIOMMU_HOST_CAP_UNMAP_ALL	0x2u	/* an unmap-everything form exists */
#define VIOMMU_HOST_CAP_AUTO_IOVA	0x4u	/* viommu_host_map_auto() works */
#define VIOMMU_HOST_CAP_RANGES_TRUNCATED 0x8u	/* more usable ranges than fit in @ranges */
#define VIOMMU_HOST_CAP_DIRTY_TRACKING	0x10u	/* viommu_host_dirty_tracking() can start */
#define VIOMMU_HOST_CAP_VADDR		0x20u	/* type1 VFIO_UPDATE_VADDR: live update of user addresses */
#define VIOMMU_HOST_CAP_IOAS		0x40u	/* iommufd: ioas_alloc, ioas_copy, allow_iovas */
#define VIOMMU_HOST_CAP_CHANGE_PROCESS	0x80u	/* iommufd IOMMU_IOAS_CHANGE_PROCESS exists (Linux 6.14+) */

#define VIOMMU_HOST_CAPS_MAX_RANGES 32

/*
 * What a backend offers: an output struct under the size rule of
 * src/util/opts.h. The caller sets @sz to sizeof as it was compiled; the
 * library writes min(sz, what it knows) bytes and leaves @sz alone.
 */
struct viommu_host_caps {
	size_t sz;
	enum viommu_host_kind kind;
	enum viommu_host_semantics semantics;
	/* Supported IOMMU page sizes (type1 iova_pgsizes). A real iommufd IOAS
	 * reports only its IOVA alignment, so there this is that one bit. */
	uint64_t pgsize_bitmap;
	/* Alignment every iova/length must have (the smallest page size; 1 for
	 * an iommufd IOAS with no device attached). */
	uint64_t iova_alignment;
	/* Remaining mappings before ENOSPC (type1 DMA_AVAIL); UINT64_MAX when
	 * the backend has no such budget (iommufd) or the kernel did not say. */
	uint64_t dma_avail;
	/* The budget's total (dma_entry_limit) when known, else UINT64_MAX. */
	uint64_t max_mappings;
	uint32_t flags;		/* VIOMMU_HOST_CAP_* */
	/* Usable IOVA ranges, reserved windows excluded, ascending. */
	uint32_t nranges;
	struct viommu_host_iova_range ranges[VIOMMU_HOST_CAPS_MAX_RANGES];
	/* Dirty tracking (CAP_DIRTY_TRACKING): the bitmap page sizes accepted
	 * (type1: the MIGRATION capability's pgsize_bitmap, the smallest IOMMU
	 * page; iommufd: the IOAS alignment) and the largest bitmap in bytes
	 * (type1 max_dirty_bitmap_size; 0 when the backend states none). */
	uint64_t dirty_pgsizes;
	uint64_t dirty_max_bitmap_bytes;
};

/* ---- the common API: every backend ------------------------------------- */

/*
 * Every entry point below is one kernel call on a real backend (get_caps:
 * two, GET_INFO and its re-read of DMA_AVAIL). The simulator's costs, for n
 * mappings held, k of them touched by the call and L page-table leaves
 * installed or removed (a mapping never installs more than 2^18): map
 * O(log n + L), plus the user-memory check (viommu_host_sim_opts.user_memory:
 * O(1) synthetic, O(log r + r') registered with r ranges, O(V) reading
 * /proc/self/maps with V lines); map_auto O(n + ranges) (first fit, as the
 * kernel); unmap O((k + 1) log n + L); get_caps and iova_ranges O(ranges);
 * the dirty calls O(k + bitmap words); ioas_copy O((k + 1) log n + L) plus,
 * for each of the c areas copied, a scan of the A areas of the iommufd's
 * IOASes with a device for what is already pinned (O(c (A + a log a)), a the
 * areas sharing one pages object: quadratic in the worst case, see
 * viommu_host_sim_attach); allow_iovas O(a log a) for a ranges. No call
 * allocates more than the state it adds. Each entry point below repeats its
 * own cost.
 */

/*
 * Map [iova, iova + length - 1] to the user address @vaddr with @prot
 * (VIOMMU_PERM_*). VFIO_IOMMU_MAP_DMA / IOMMU_IOAS_MAP with FIXED_IOVA.
 * Returns 0 or the kernel's negative errno (see viommu_host_map(3) for the
 * table per semantics), -EFAULT when the user range is not backed by memory
 * (the kernel pins it); -EINVAL for prot bits outside READ|WRITE.
 * Cost: one kernel call; simulated O(log n + L) plus the user-memory check.
 */
VIOMMU_API int viommu_host_map(struct viommu_host *h, uint64_t iova, uint64_t length,
			       uint64_t vaddr, unsigned prot);

/*
 * The raw form with uAPI flags: VIOMMU_HOST_MAP_VADDR (type1
 * VFIO_DMA_MAP_FLAG_VADDR, prot must be 0) gives the existing mapping of
 * exactly [iova, iova + length - 1], whose user address was invalidated with
 * VIOMMU_HOST_UNMAP_VADDR, the new user address @vaddr: nothing is unmapped
 * or pinned again (live update). -EOPNOTSUPP for flags on iommufd.
 * Cost: one kernel call; simulated as viommu_host_map(), O(log n) with VADDR.
 */
VIOMMU_API int viommu_host_map_flags(struct viommu_host *h, uint64_t iova, uint64_t length,
				     uint64_t vaddr, unsigned prot, unsigned flags);

/*
 * iommufd only: let the kernel choose the IOVA (IOMMU_IOAS_MAP without
 * FIXED_IOVA); the chosen IOVA is stored in *iova. -EOPNOTSUPP on type1.
 * Cost: one kernel call; simulated O(n + ranges) (first fit) plus a map's.
 */
VIOMMU_API int viommu_host_map_auto(struct viommu_host *h, uint64_t vaddr, uint64_t length,
				    unsigned prot, uint64_t *iova);

/*
 * Unmap what [iova, iova + length - 1] covers, by the backend's rules; the
 * bytes removed go to *unmapped (may be NULL). VFIO_IOMMU_UNMAP_DMA /
 * IOMMU_IOAS_UNMAP. Cost: one kernel call; simulated O((k + 1) log n + L).
 */
VIOMMU_API int viommu_host_unmap(struct viommu_host *h, uint64_t iova, uint64_t length,
				 uint64_t *unmapped);

/*
 * The raw form with uAPI flags (VIOMMU_HOST_UNMAP_ALL, VIOMMU_HOST_UNMAP_VADDR)
 * so that conformance can pass any combination. With UNMAP_VADDR nothing is
 * unmapped: the mappings covered keep translating, their user addresses
 * become invalid until viommu_host_map_flags(VADDR) gives new ones, and
 * *unmapped is the bytes whose address was invalidated. -EOPNOTSUPP for
 * flags on an iommufd backend, whose unmap has none. Cost: as
 * viommu_host_unmap(); with UNMAP_ALL O(n log n + L).
 */
VIOMMU_API int viommu_host_unmap_flags(struct viommu_host *h, uint64_t iova, uint64_t length,
				       unsigned flags, uint64_t *unmapped);

/*
 * Unmap everything: type1 VFIO_DMA_UNMAP_FLAG_ALL with iova = size = 0;
 * iommufd iova 0, length UINT64_MAX. Succeeds with 0 bytes when empty.
 * Cost: one kernel call; simulated O(n log n + L) for everything held.
 */
VIOMMU_API int viommu_host_unmap_all(struct viommu_host *h, uint64_t *unmapped);

/*
 * Capabilities (see struct viommu_host_caps). -EINVAL if caps is NULL or
 * caps->sz < sizeof(size_t). Cost: two kernel calls on type1 (GET_INFO, then
 * DMA_AVAIL again), one on iommufd; simulated O(ranges).
 */
VIOMMU_API int viommu_host_get_caps(struct viommu_host *h, struct viommu_host_caps *caps);

/*
 * The usable IOVA ranges, iommufd IOMMU_IOAS_IOVA_RANGES style: on entry *num
 * is the capacity of @ranges; the first min(*num, n) ranges are written, *num
 * becomes n, and -EMSGSIZE is returned if n > capacity. *alignment (may be
 * NULL) receives the required IOVA alignment. All backends. Cost: one
 * kernel call (type1: GET_INFO); O(ranges).
 */
VIOMMU_API int viommu_host_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges,
				       uint32_t *num, uint64_t *alignment);

/* ---- dirty tracking (live migration) ----------------------------------- */

/*
 * A dirty bitmap, the uAPI's layout: bit i of data (64-bit words, bit 0 of
 * word 0 first) stands for the @pgsize bytes at base + i * pgsize, base being
 * the iova of the call. @size is the buffer's length in bytes.
 */
struct viommu_host_dirty_bitmap {
	uint64_t pgsize;
	uint64_t size;
	uint64_t *data;
};

#define VIOMMU_HOST_DIRTY_START		0x1u	/* VFIO_IOMMU_DIRTY_PAGES_FLAG_START / SET_DIRTY_TRACKING ENABLE */
#define VIOMMU_HOST_DIRTY_STOP		0x2u	/* ..._FLAG_STOP / SET_DIRTY_TRACKING 0 */
#define VIOMMU_HOST_DIRTY_NO_CLEAR	0x1u	/* dirty_read: IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR */

/*
 * Start or stop dirty tracking: type1 VFIO_IOMMU_DIRTY_PAGES (v2 only: the
 * kernel answers EACCES on v1); iommufd IOMMU_HWPT_SET_DIRTY_TRACKING on the
 * handle's HWPT (EOPNOTSUPP when its domain cannot track, as on every
 * emulated VT-d without second-stage access/dirty support). @flags is passed
 * as the uAPI has it, so START|STOP gives the kernel's EINVAL on type1; on
 * iommufd, which has one bit, anything but exactly START or STOP is -EINVAL.
 * Cost: one kernel call; simulated O(n) to start on type1 (a bitmap per
 * mapping, as vfio_dma_bitmap_alloc_all), O(d) on iommufd for the d dirty
 * ranges it forgets, O(1) to stop.
 */
VIOMMU_API int viommu_host_dirty_tracking(struct viommu_host *h, unsigned flags);

/*
 * Read (and clear) the dirty bits of [iova, iova + length - 1] into @bitmap:
 * type1 VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP (every mapped page reads
 * dirty: a device without its own tracking may have written any of it);
 * iommufd IOMMU_HWPT_GET_DIRTY_BITMAP (the pages the IOMMU saw written,
 * cleared unless VIOMMU_HOST_DIRTY_NO_CLEAR). Bits of pages not mapped are
 * left as the caller set them on iommufd; type1 rewrites the 64-bit words of
 * each mapping it reports (see viommu_host_dirty_read(3) for the exact rule).
 * Cost: one kernel call; simulated O(k log n + bitmap words).
 */
VIOMMU_API int viommu_host_dirty_read(struct viommu_host *h, uint64_t iova, uint64_t length,
				      const struct viommu_host_dirty_bitmap *bitmap, unsigned flags);

/*
 * type1 only: unmap with VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, reporting the
 * dirty bits of what is unmapped into @bitmap (base @iova). @flags adds
 * VIOMMU_HOST_UNMAP_* for conformance (the kernel refuses both with EINVAL).
 * Cost: one kernel call; simulated as an unmap plus O(bitmap words).
 */
VIOMMU_API int viommu_host_unmap_dirty(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
				       const struct viommu_host_dirty_bitmap *bitmap, uint64_t *unmapped);

/* ---- iommufd IO address spaces ----------------------------------------- */

/*
 * A new IOAS in the same iommufd as @h, with no device attached
 * (IOMMU_IOAS_ALLOC): byte alignment, the whole 64-bit range usable, and
 * nothing pinned until a device attaches. Free it with viommu_host_free().
 * NULL with errno EOPNOTSUPP on type1, or the kernel's errno. Cost: one
 * kernel call; simulated O(ranges).
 */
VIOMMU_API struct viommu_host *viommu_host_ioas_alloc(struct viommu_host *h);

/* viommu_host_ioas_copy() flags */
#define VIOMMU_HOST_COPY_AUTO_IOVA 0x1u	/* the kernel chooses *dst_iova (no FIXED_IOVA) */

/*
 * IOMMU_IOAS_COPY: map in @dst the pages that [src_iova, src_iova + length -
 * 1] of @src maps (which must be covered by areas without holes; part of an
 * area is fine), at *dst_iova (or where the kernel chooses, written to
 * *dst_iova), with @prot. The pages are shared, not pinned again. Both
 * handles must come from the same iommufd (viommu_host_ioas_alloc()):
 * -EXDEV otherwise; -EOPNOTSUPP on type1. Cost: one kernel call; simulated
 * O((k + 1) log n + L) plus O(A + a log a) per area copied (see above).
 */
VIOMMU_API int viommu_host_ioas_copy(struct viommu_host *dst, uint64_t *dst_iova, struct viommu_host *src,
				     uint64_t src_iova, uint64_t length, unsigned prot, unsigned flags);

/*
 * IOMMU_IOAS_ALLOW_IOVAS: replace the IOAS's allowed ranges (automatic IOVAs
 * are chosen inside them only; a device whose reserved regions touch them can
 * no longer attach). Ranges must have first < last and must not overlap
 * (EINVAL); one that touches a reserved range (the MSI window of an attached
 * device, the aperture's outside) gives EADDRINUSE and changes nothing.
 * n = 0 clears the list. -EOPNOTSUPP on type1. Cost: one kernel call;
 * simulated O(a log a + n) for the a ranges given and the n areas checked.
 */
VIOMMU_API int viommu_host_ioas_allow_iovas(struct viommu_host *h, const struct viommu_host_iova_range *ranges,
					    uint32_t n);

/*
 * iommufd IOMMU_IOAS_CHANGE_PROCESS (Linux 6.14+): move the pin accounting of
 * every mapping in the iommufd to the calling process, for a live update by
 * exec. Only mappings of files (IOMMU_IOAS_MAP_FILE) can move, so with user
 * address mappings the kernel answers EINVAL; kernels without it ENOTTY.
 * -EOPNOTSUPP on type1, whose live update is VIOMMU_HOST_UNMAP_VADDR +
 * VIOMMU_HOST_MAP_VADDR. Cost: one kernel call; simulated O(IOASes).
 */
VIOMMU_API int viommu_host_change_process(struct viommu_host *h);

/* The rules the backend follows, and what it is. O(1), no kernel call. */
VIOMMU_API enum viommu_host_semantics viommu_host_semantics(const struct viommu_host *h);
VIOMMU_API enum viommu_host_kind viommu_host_kind(const struct viommu_host *h);

/*
 * Close the backend (real backends close their fds: the kernel then unmaps
 * and unpins what the container or IOAS held). NULL is allowed. Simulated:
 * O(n + page-table pages).
 */
VIOMMU_API void viommu_host_free(struct viommu_host *h);

/* The VFIO device cdev "iommufd" without a path opens. */
#define VIOMMU_HOST_IOMMUFD_DEFAULT_CDEV "/dev/vfio/devices/vfio0"

/*
 * Open a backend from a spec string (at most 255 bytes):
 *   sim:type1v2 | sim:type1v1 | sim:iommufd   simulated, options ,limit=N
 *                                             (dma_entry_limit) ,pgsizes=BITMAP
 *   vfio:GROUP[,v1]                           viommu_host_vfio_open(), type1 v2 or v1
 *   iommufd[:CDEV]                            viommu_host_iommufd_open(CDEV, default
 *                                             VIOMMU_HOST_IOMMUFD_DEFAULT_CDEV)
 * Numbers are decimal or 0x hex with an optional K/M/G/T suffix. NULL with
 * errno EINVAL for a malformed spec (logged with the reason), or the
 * backend's own errno. Cost: O(length of @spec) to parse, then the open's.
 */
VIOMMU_API struct viommu_host *viommu_host_open_spec(const char *spec);

/* ---- the simulated host IOMMU ------------------------------------------ */

/*
 * What backs user addresses in a simulated host, i.e. what the kernel's pin
 * (pin_user_pages) would find: a map whose user range is not wholly backed
 * fails with EFAULT and maps nothing, as on the real kernel.
 */
enum viommu_host_sim_user_memory {
	/*
	 * Synthetic addresses (the default): every address below 2^63 is
	 * backed, none at or above it (the upper half is kernel or
	 * non-canonical space on every 64-bit Linux). For tests and scenarios
	 * whose host addresses are made up; deterministic.
	 */
	VIOMMU_HOST_SIM_USER_SYNTHETIC = 0,
	/*
	 * Only what the caller registered with viommu_host_sim_user_add(),
	 * with the access it allows (a write mapping needs write access, as
	 * FOLL_WRITE does). Deterministic: the conformance tables use it.
	 */
	VIOMMU_HOST_SIM_USER_REGISTERED = 1,
	/*
	 * The calling process's own mappings, read from /proc/self/maps at
	 * each pin (readable for READ, writable for WRITE; [vsyscall] and
	 * everything at or above 2^63 never count).
	 */
	VIOMMU_HOST_SIM_USER_PROCESS = 2,
};

/* viommu_host_sim_opts.flags */
#define VIOMMU_HOST_SIM_NO_DEVICE	0x1u	/* iommufd: an IOAS with no device attached */
#define VIOMMU_HOST_SIM_DIRTY_HW	0x2u	/* iommufd: the HWPT's IOMMU tracks dirty pages */
#define VIOMMU_HOST_SIM_LIMIT_ZERO	0x4u	/* type1: dma_entry_limit is 0 (not the default) */
#define VIOMMU_HOST_SIM_CHANGE_PROCESS	0x8u	/* iommufd: model a 6.14+ kernel with CHANGE_PROCESS */

/*
 * Options; zero means default for every field. @sz = sizeof as known to the
 * caller (src/util/opts.h: a smaller struct gets defaults for what it lacks,
 * a larger one must have zeros beyond what this library knows).
 */
struct viommu_host_sim_opts {
	size_t sz;
	enum viommu_host_semantics semantics;	/* default VIOMMU_HOST_TYPE1V2 */
	uint64_t pgsize_bitmap;			/* default 0x40201000 (4K|2M|1G) */
	/* Usable IOVA ranges, ascending and disjoint; everything else is
	 * reserved. Default: x86 with VT-d as measured in the q35 guest
	 * (drivers/iommu/intel/iommu.c reserves the interrupt window
	 * 0xfee00000-0xfeefffff; QEMU's VT-d has a 39-bit aperture):
	 * [0, 0xfedfffff] and [0xfef00000, 0x7fffffffff]. */
	const struct viommu_host_iova_range *ranges;
	size_t nranges;
	/* type1 dma_entry_limit; default 65535 (VIOMMU_HOST_SIM_LIMIT_ZERO
	 * for 0). Ignored for iommufd. */
	uint32_t dma_entry_limit;
	/* Fail the Nth host call (1 = the first) with -fail_errno, changing
	 * nothing. 0 = off. See viommu_host_sim_inject(). */
	uint64_t fail_nth;
	int fail_errno;
	/* Timeline entries kept (oldest dropped first); default 4096. The
	 * ring grows as calls are recorded, up to this many. */
	uint32_t timeline_capacity;
	/* Format of the page table the mappings are installed in, an enum
	 * viommu_pt_format value (include/viommu/pgtable.h): 0 = VT-d
	 * second stage (5 levels, 52-bit output); ARM stage 1 or 2 use a 4K
	 * granule with 48-bit input and output. */
	unsigned pt_format;
	/*
	 * iommufd only: the largest alignment an automatically chosen IOVA
	 * gets (a power of two). 0 = 2 MiB, what a kernel with transparent
	 * huge pages does (HPAGE_SIZE); 4096 models a kernel without THP,
	 * which caps it at PAGE_SIZE (found against a real 6.12 kernel).
	 */
	uint64_t auto_iova_max_align;
	enum viommu_host_sim_user_memory user_memory;
	unsigned flags;				/* VIOMMU_HOST_SIM_* */
};

/* The x86 VT-d default usable ranges, for callers building their own list. */
#define VIOMMU_HOST_X86_MSI_FIRST 0xfee00000ull
#define VIOMMU_HOST_X86_MSI_LAST  0xfeefffffull

/*
 * A new simulated host IOMMU, or NULL with errno EINVAL (bad options: unknown
 * semantics, user memory mode or flags, a power-of-two-free bitmap, ranges
 * unsorted, overlapping or with first > last) or ENOMEM. @opts may be NULL.
 * Each instance is one container (type1) or one IOAS in an iommufd of its
 * own; viommu_host_ioas_alloc() adds IOASes to the same iommufd. Cost:
 * O(ranges) and a constant allocation (the timeline grows as calls are
 * recorded, up to its capacity).
 */
VIOMMU_API struct viommu_host *viommu_host_sim_new(const struct viommu_host_sim_opts *opts);

/*
 * Fail the @nth host call from now on (1 = the next one) with -@err,
 * changing nothing; nth = 0 cancels. One shot. Returns 0, -EINVAL if @h is not
 * a simulated backend or err <= 0. O(1).
 */
VIOMMU_API int viommu_host_sim_inject(struct viommu_host *h, uint64_t nth, int err);

/*
 * VIOMMU_HOST_SIM_USER_REGISTERED: user memory [vaddr, vaddr + length - 1]
 * now exists with access @perm (VIOMMU_PERM_*), or (remove) no longer does.
 * Shared by every IOAS of the simulated iommufd. Like munmap, removing memory
 * does not unmap or unpin what is already mapped. 0, -EINVAL (not simulated,
 * length 0, wrap, perm outside READ|WRITE), -EEXIST (add: overlaps memory
 * already registered), -ENOENT (remove: not exactly one registered range),
 * -ENOMEM. O(log r).
 */
VIOMMU_API int viommu_host_sim_user_add(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned perm);
VIOMMU_API int viommu_host_sim_user_remove(struct viommu_host *h, uint64_t vaddr, uint64_t length);

/*
 * What @iova translates to: *vaddr (the user address the kernel holds for the
 * mapping) and *prot, by a walk of the simulator's page table. 0, or -ENOENT
 * if nothing maps @iova; -EINVAL if not simulated; -EIO if the page table
 * disagrees with the mapping record (an internal error). O(log n) and one
 * page-table walk (at most 5 levels).
 */
VIOMMU_API int viommu_host_sim_translate(struct viommu_host *h, uint64_t iova, uint64_t *vaddr,
					 unsigned *prot);

/*
 * A device access of [iova, iova + length - 1] with @perm (VIOMMU_PERM_READ
 * or WRITE): 0 if every byte translates with that permission, else -EFAULT
 * (the DMA faults) with *fault_iova (may be NULL) the first byte that does
 * not. A write marks the page-table leaves it touches dirty when the IOMMU
 * tracks dirty pages (iommufd with VIOMMU_HOST_SIM_DIRTY_HW and tracking
 * started). Changes nothing on a fault. O(k log n) for k leaves.
 */
VIOMMU_API int viommu_host_sim_access(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned perm,
				      uint64_t *fault_iova);

/*
 * Attach a device to an iommufd IOAS (as VFIO_DEVICE_ATTACH_IOMMUFD_PT does
 * with one like the simulator's configuration: its page sizes, its usable
 * ranges). The first device gives the IOAS its domain: the alignment becomes
 * the smallest page (EADDRINUSE if an area is not aligned to it), the ranges
 * outside the usable ones become reserved (EADDRINUSE if an area or an
 * allowed range touches them), and every area is pinned (EFAULT if its user
 * memory is gone); nothing changes on failure. Later devices share the
 * domain. -EINVAL on type1 or if not simulated. Cost: O(n) checks, then for
 * each of the n areas a scan of the A areas of the iommufd's IOASes with a
 * device for what is already pinned: O(n (A + a log a)), quadratic when one
 * iommufd holds many areas (a bound, not yet an index).
 */
VIOMMU_API int viommu_host_sim_attach(struct viommu_host *h);

struct viommu_pgtable;

/*
 * The VT-d second-stage page table (include/viommu/pgtable.h) the simulator
 * installs its mappings in, user address as output address; for read-only
 * use (viommu_pgtable_lookup, viommu_pgtable_for_each, or a walk from its
 * root) while no map/unmap runs. NULL with errno EINVAL if not simulated. O(1).
 */
VIOMMU_API const struct viommu_pgtable *viommu_host_sim_pgtable(struct viommu_host *h);

/* One current mapping (a type1 vfio_dma or an iommufd area). */
struct viommu_host_mapping {
	uint64_t iova;
	uint64_t length;
	uint64_t vaddr;
	unsigned prot;
	bool vaddr_invalid;	/* type1: invalidated by VIOMMU_HOST_UNMAP_VADDR */
};

typedef void (*viommu_host_mapping_fn)(const struct viommu_host_mapping *m, void *ctx);

/*
 * Call @fn for every current mapping in ascending IOVA order (fn may be NULL).
 * Returns the number of mappings, or -EINVAL if not simulated. @fn must not
 * call back into @h. O(n) plus @fn's time, under the backend's lock.
 */
VIOMMU_API long viommu_host_sim_mappings(struct viommu_host *h, viommu_host_mapping_fn fn, void *ctx);

/* Counters of a simulated backend (an output struct under the size rule). */
struct viommu_host_sim_stats {
	size_t sz;
	uint64_t calls;		/* host calls made on this handle (every kind, failed ones too) */
	uint64_t mappings;	/* mappings (areas) held */
	/*
	 * CPU pages pinned for this handle: type1 counts each mapping's pages
	 * (vfio_lock_acct, what the process's VmLck shows); iommufd counts the
	 * pages of every pinned user range once however many areas and IOASes
	 * share it through IOMMU_IOAS_COPY (iopt_pages npinned, VmPin), over
	 * the whole iommufd.
	 */
	uint64_t pinned_pages;
};

/*
 * Fill @st (st->sz set by the caller). 0, -EINVAL (not simulated, NULL, or sz
 * too small). O(a log a) over the a areas of the iommufd for pinned_pages.
 */
VIOMMU_API int viommu_host_sim_get_stats(struct viommu_host *h, struct viommu_host_sim_stats *st);

enum viommu_host_op {
	VIOMMU_HOST_OP_MAP = 1,
	VIOMMU_HOST_OP_MAP_AUTO = 2,
	VIOMMU_HOST_OP_UNMAP = 3,
	VIOMMU_HOST_OP_DIRTY_CTL = 4,		/* flags: VIOMMU_HOST_DIRTY_START/STOP */
	VIOMMU_HOST_OP_DIRTY_READ = 5,		/* flags: NO_CLEAR */
	VIOMMU_HOST_OP_COPY = 6,		/* iova: destination; vaddr: source IOVA */
	VIOMMU_HOST_OP_ALLOW_IOVAS = 7,		/* length: number of ranges */
	VIOMMU_HOST_OP_CHANGE_PROCESS = 8,
	VIOMMU_HOST_OP_ATTACH = 9,
};

/* One recorded call. */
struct viommu_host_record {
	uint64_t seq;		/* 1 for the first host call of the instance */
	enum viommu_host_op op;
	uint64_t iova;		/* as passed; for MAP_AUTO the IOVA chosen (0 on failure) */
	uint64_t length;	/* as passed */
	uint64_t vaddr;		/* MAP, MAP_AUTO */
	unsigned prot;		/* MAP, MAP_AUTO, COPY */
	unsigned flags;		/* MAP: VIOMMU_HOST_MAP_*; UNMAP: VIOMMU_HOST_UNMAP_* (| 0x100 with a dirty bitmap) */
	int result;		/* 0 or -errno */
	uint64_t bytes;		/* UNMAP: bytes reported; MAP: bytes mapped */
	bool injected;		/* the failure came from fault injection */
};

/* Number of records held (at most the timeline capacity); -EINVAL if not simulated. O(1). */
VIOMMU_API long viommu_host_sim_timeline_count(struct viommu_host *h);
/* Record @i, 0 = oldest held. 0, -ENOENT if out of range, -EINVAL. O(1). */
VIOMMU_API int viommu_host_sim_timeline_get(struct viommu_host *h, size_t i, struct viommu_host_record *out);
/* Drop every record (the sequence numbers keep counting). O(1). */
VIOMMU_API void viommu_host_sim_timeline_clear(struct viommu_host *h);

/* ---- real kernel backends ---------------------------------------------- */

/*
 * VFIO type1: open /dev/vfio/vfio and the group (@group is a group number
 * such as "26" or a path such as "/dev/vfio/26"), check it is viable, set the
 * container and the IOMMU type (@semantics VIOMMU_HOST_TYPE1V2 or V1), then
 * read VFIO_IOMMU_GET_INFO with its capability chain. NULL with errno: the
 * kernel's errno of the first call that failed; EINVAL for bad arguments or an
 * API version mismatch; EBUSY if the group is not viable; EBADMSG if the
 * kernel's capability chain is malformed. Cost: a fixed number of kernel
 * calls (the opens, API and extension checks, group status, set container
 * and IOMMU, GET_INFO) and a parse of the capability chain, linear in the
 * buffer the kernel fills.
 */
VIOMMU_API struct viommu_host *viommu_host_vfio_open(const char *group,
						     enum viommu_host_semantics semantics);

/*
 * VFIO type1 over a container that already has its group(s) and IOMMU type
 * set. The fd is duplicated; the caller keeps its own. @semantics must say
 * which type the container was set to. Cost: a dup and VFIO_IOMMU_GET_INFO,
 * parsed as above.
 */
VIOMMU_API struct viommu_host *viommu_host_vfio_open_container(int container_fd,
							       enum viommu_host_semantics semantics);

/*
 * iommufd: open the VFIO device cdev (e.g. /dev/vfio/devices/vfio0) and
 * /dev/iommu, bind the device (VFIO_DEVICE_BIND_IOMMUFD), allocate an IOAS and
 * attach the device to it (VFIO_DEVICE_ATTACH_IOMMUFD_PT). NULL with the
 * kernel's errno of the first call that failed. Cost: a fixed number of
 * kernel calls (open, bind, IOAS alloc, attach, IOVA ranges).
 */
VIOMMU_API struct viommu_host *viommu_host_iommufd_open(const char *cdev_path);

/*
 * iommufd over an existing iommufd and IOAS id (devices attached by the
 * caller). The fd is duplicated. Fails with the kernel's errno if the IOAS
 * cannot be queried. Cost: a dup and a fixed number of queries.
 */
VIOMMU_API struct viommu_host *viommu_host_iommufd_open_ioas(int iommufd, uint32_t ioas_id);

/*
 * iommufd: the HWPT the device is attached to (the pt_id that
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT writes back), on which dirty tracking acts.
 * viommu_host_iommufd_open() knows it; a handle from _open_ioas() needs this
 * call before viommu_host_dirty_tracking(). -EINVAL if not an iommufd handle. O(1).
 */
VIOMMU_API int viommu_host_iommufd_set_hwpt(struct viommu_host *h, uint32_t hwpt_id);

/*
 * The iommufd file and the IOAS id of an iommufd handle, to bind and attach
 * more devices to it (VFIO_DEVICE_BIND_IOMMUFD with this fd,
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT with this id). The fd stays the library's:
 * valid until the last handle of the iommufd is freed. -1 / 0 if not iommufd.
 * O(1).
 */
VIOMMU_API int viommu_host_iommufd_fd(const struct viommu_host *h);
VIOMMU_API uint32_t viommu_host_iommufd_ioas_id(const struct viommu_host *h);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_HOST_H */
