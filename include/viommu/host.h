/* SPDX-License-Identifier: MIT */
/*
 * viommu host DMA backends: the one seam through which the library reaches the
 * host IOMMU (semantics.md §3). Three kinds share one handle type and one ops
 * table each:
 *
 *  - the simulated host IOMMU (viommu_host_sim_new), which reproduces the
 *    errno and byte count of every case of VFIO type1 v2, type1 v1 or iommufd
 *    exactly, keeps a timeline of calls, can fail the Nth call on request and
 *    answers "what does this IOVA translate to";
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
 * space on failure.
 *
 * Concurrency: a simulated instance has an internal mutex, so a device model
 * may call viommu_host_sim_translate() from DMA threads while another thread
 * maps and unmaps. Real backends keep no mutable state after open; the kernel
 * serialises concurrent map/unmap on one container or IOAS. viommu_host_free()
 * needs the caller's exclusion against every other call on the handle.
 */
#ifndef VIOMMU_HOST_H
#define VIOMMU_HOST_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_host;

/* Which kernel semantics a backend enforces (semantics.md §3.1, §3.2). */
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

/* Device access permissions of a mapping. At least one is required. */
#define VIOMMU_HOST_PROT_READ  0x1u
#define VIOMMU_HOST_PROT_WRITE 0x2u

/* viommu_host_unmap_flags(): VFIO_DMA_UNMAP_FLAG_ALL (type1 only). */
#define VIOMMU_HOST_UNMAP_ALL 0x1u

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

#define VIOMMU_HOST_CAPS_MAX_RANGES 32

/*
 * What a backend offers. @sz must be set by the caller to the size it knows
 * (libbpf style): the backend fills at most that many bytes.
 */
struct viommu_host_caps {
	size_t sz;
	enum viommu_host_kind kind;
	enum viommu_host_semantics semantics;
	/* Supported IOMMU page sizes (type1 iova_pgsizes). A real iommufd IOAS
	 * reports only its IOVA alignment, so there this is that one bit. */
	uint64_t pgsize_bitmap;
	/* Alignment every iova/length must have (the smallest page size). */
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
};

/* ---- the common API: every backend ------------------------------------- */

/*
 * Map [iova, iova + length - 1] to the user address @vaddr with @prot
 * (VIOMMU_HOST_PROT_*). VFIO_IOMMU_MAP_DMA / IOMMU_IOAS_MAP with FIXED_IOVA.
 * Returns 0 or the kernel's negative errno (see viommu_host_map(3) for the
 * table per semantics); -EINVAL for prot bits outside READ|WRITE.
 */
VIOMMU_API int viommu_host_map(struct viommu_host *h, uint64_t iova, uint64_t length,
			       uint64_t vaddr, unsigned prot);

/*
 * iommufd only: let the kernel choose the IOVA (IOMMU_IOAS_MAP without
 * FIXED_IOVA); the chosen IOVA is stored in *iova. -EOPNOTSUPP on type1.
 */
VIOMMU_API int viommu_host_map_auto(struct viommu_host *h, uint64_t vaddr, uint64_t length,
				    unsigned prot, uint64_t *iova);

/*
 * Unmap what [iova, iova + length - 1] covers, by the backend's rules; the
 * bytes removed go to *unmapped (may be NULL). VFIO_IOMMU_UNMAP_DMA /
 * IOMMU_IOAS_UNMAP.
 */
VIOMMU_API int viommu_host_unmap(struct viommu_host *h, uint64_t iova, uint64_t length,
				 uint64_t *unmapped);

/*
 * The raw form with uAPI flags (VIOMMU_HOST_UNMAP_ALL) so that conformance can
 * pass the flag with a non-zero iova or length. -EOPNOTSUPP for flags on an
 * iommufd backend, whose unmap has none.
 */
VIOMMU_API int viommu_host_unmap_flags(struct viommu_host *h, uint64_t iova, uint64_t length,
				       unsigned flags, uint64_t *unmapped);

/*
 * Unmap everything: type1 VFIO_DMA_UNMAP_FLAG_ALL with iova = size = 0;
 * iommufd iova 0, length UINT64_MAX. Succeeds with 0 bytes when empty.
 */
VIOMMU_API int viommu_host_unmap_all(struct viommu_host *h, uint64_t *unmapped);

/* Capabilities (see struct viommu_host_caps). -EINVAL if caps->sz is too small. */
VIOMMU_API int viommu_host_get_caps(struct viommu_host *h, struct viommu_host_caps *caps);

/*
 * The usable IOVA ranges, iommufd IOMMU_IOAS_IOVA_RANGES style: on entry *num
 * is the capacity of @ranges; the first min(*num, n) ranges are written, *num
 * becomes n, and -EMSGSIZE is returned if n > capacity. *alignment (may be
 * NULL) receives the required IOVA alignment. All backends.
 */
VIOMMU_API int viommu_host_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges,
				       uint32_t *num, uint64_t *alignment);

VIOMMU_API enum viommu_host_semantics viommu_host_semantics(const struct viommu_host *h);
VIOMMU_API enum viommu_host_kind viommu_host_kind(const struct viommu_host *h);

/* Close the backend (real backends close their fds). NULL is allowed. */
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
 * backend's own errno.
 */
VIOMMU_API struct viommu_host *viommu_host_open_spec(const char *spec);

/* ---- the simulated host IOMMU ------------------------------------------ */

/*
 * Options; zero means default for every field. @sz = sizeof as known to the
 * caller.
 */
struct viommu_host_sim_opts {
	size_t sz;
	enum viommu_host_semantics semantics;	/* default VIOMMU_HOST_TYPE1V2 */
	uint64_t pgsize_bitmap;			/* default 0x40201000 (4K|2M|1G) */
	/* Usable IOVA ranges, ascending and disjoint; everything else is
	 * reserved. Default: x86 with VT-d as measured (semantics.md §3.1):
	 * [0, 0xfedfffff] and [0xfef00000, 0x7fffffffff]. */
	const struct viommu_host_iova_range *ranges;
	size_t nranges;
	/* type1 dma_entry_limit; default 65535. Ignored for iommufd. */
	uint32_t dma_entry_limit;
	/* Fail the Nth map/unmap call (1 = the first) with -fail_errno,
	 * changing nothing. 0 = off. See viommu_host_sim_inject(). */
	uint64_t fail_nth;
	int fail_errno;
	/* Timeline entries kept (oldest dropped first); default 4096. */
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
};

/* The x86 VT-d default usable ranges, for callers building their own list. */
#define VIOMMU_HOST_X86_MSI_FIRST 0xfee00000ull
#define VIOMMU_HOST_X86_MSI_LAST  0xfeefffffull

/*
 * A new simulated host IOMMU, or NULL with errno EINVAL (bad options: unknown
 * semantics, empty or non-power-of-two-free bitmap, ranges unsorted,
 * overlapping or with first > last) or ENOMEM. @opts may be NULL.
 */
VIOMMU_API struct viommu_host *viommu_host_sim_new(const struct viommu_host_sim_opts *opts);

/*
 * Fail the @nth map/unmap call from now on (1 = the next one) with -@err,
 * changing nothing; nth = 0 cancels. One shot. Returns 0, -EINVAL if @h is not
 * a simulated backend or err <= 0.
 */
VIOMMU_API int viommu_host_sim_inject(struct viommu_host *h, uint64_t nth, int err);

/*
 * What @iova translates to: *vaddr (the user address the kernel would pin)
 * and *prot, by a walk of the simulator's page table. 0, or -ENOENT if
 * nothing maps @iova; -EINVAL if not simulated; -EIO if the page table
 * disagrees with the mapping record (an internal error).
 */
VIOMMU_API int viommu_host_sim_translate(struct viommu_host *h, uint64_t iova, uint64_t *vaddr,
					 unsigned *prot);

struct viommu_pgtable;

/*
 * The VT-d second-stage page table (include/viommu/pgtable.h) the simulator
 * installs its mappings in, user address as output address; for read-only
 * use (viommu_pgtable_lookup, viommu_pgtable_for_each, or a walk from its
 * root) while no map/unmap runs. NULL with errno EINVAL if not simulated.
 */
VIOMMU_API const struct viommu_pgtable *viommu_host_sim_pgtable(struct viommu_host *h);

/* One current mapping (a type1 vfio_dma or an iommufd area). */
struct viommu_host_mapping {
	uint64_t iova;
	uint64_t length;
	uint64_t vaddr;
	unsigned prot;
};

typedef void (*viommu_host_mapping_fn)(const struct viommu_host_mapping *m, void *ctx);

/*
 * Call @fn for every current mapping in ascending IOVA order (fn may be NULL).
 * Returns the number of mappings, or -EINVAL if not simulated. @fn must not
 * call back into @h.
 */
VIOMMU_API long viommu_host_sim_mappings(struct viommu_host *h, viommu_host_mapping_fn fn, void *ctx);

enum viommu_host_op {
	VIOMMU_HOST_OP_MAP = 1,
	VIOMMU_HOST_OP_MAP_AUTO = 2,
	VIOMMU_HOST_OP_UNMAP = 3,
};

/* One recorded call. */
struct viommu_host_record {
	uint64_t seq;		/* 1 for the first map/unmap call of the instance */
	enum viommu_host_op op;
	uint64_t iova;		/* as passed; for MAP_AUTO the IOVA chosen (0 on failure) */
	uint64_t length;	/* as passed */
	uint64_t vaddr;		/* MAP, MAP_AUTO */
	unsigned prot;		/* MAP, MAP_AUTO */
	unsigned flags;		/* UNMAP: VIOMMU_HOST_UNMAP_ALL */
	int result;		/* 0 or -errno */
	uint64_t bytes;		/* UNMAP: bytes reported; MAP: bytes mapped */
	bool injected;		/* the failure came from fault injection */
};

/* Number of records held (at most the timeline capacity); -EINVAL if not simulated. */
VIOMMU_API long viommu_host_sim_timeline_count(struct viommu_host *h);
/* Record @i, 0 = oldest held. 0, -ENOENT if out of range, -EINVAL. */
VIOMMU_API int viommu_host_sim_timeline_get(struct viommu_host *h, size_t i, struct viommu_host_record *out);
/* Drop every record (the sequence numbers keep counting). */
VIOMMU_API void viommu_host_sim_timeline_clear(struct viommu_host *h);

/* ---- real kernel backends ---------------------------------------------- */

/*
 * VFIO type1: open /dev/vfio/vfio and the group (@group is a group number
 * such as "26" or a path such as "/dev/vfio/26"), check it is viable, set the
 * container and the IOMMU type (@semantics VIOMMU_HOST_TYPE1V2 or V1), then
 * read VFIO_IOMMU_GET_INFO with its capability chain. NULL with errno: the
 * kernel's errno of the first call that failed; EINVAL for bad arguments or an
 * API version mismatch; EBUSY if the group is not viable; EBADMSG if the
 * kernel's capability chain is malformed.
 */
VIOMMU_API struct viommu_host *viommu_host_vfio_open(const char *group,
						     enum viommu_host_semantics semantics);

/*
 * VFIO type1 over a container that already has its group(s) and IOMMU type
 * set. The fd is duplicated; the caller keeps its own. @semantics must say
 * which type the container was set to.
 */
VIOMMU_API struct viommu_host *viommu_host_vfio_open_container(int container_fd,
							       enum viommu_host_semantics semantics);

/*
 * iommufd: open the VFIO device cdev (e.g. /dev/vfio/devices/vfio0) and
 * /dev/iommu, bind the device (VFIO_DEVICE_BIND_IOMMUFD), allocate an IOAS and
 * attach the device to it (VFIO_DEVICE_ATTACH_IOMMUFD_PT). NULL with the
 * kernel's errno of the first call that failed.
 */
VIOMMU_API struct viommu_host *viommu_host_iommufd_open(const char *cdev_path);

/*
 * iommufd over an existing iommufd and IOAS id (devices attached by the
 * caller). The fd is duplicated. Fails with the kernel's errno if the IOAS
 * cannot be queried.
 */
VIOMMU_API struct viommu_host *viommu_host_iommufd_open_ioas(int iommufd, uint32_t ioas_id);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_HOST_H */
