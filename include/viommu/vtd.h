/* SPDX-License-Identifier: MIT */
/*
 * viommu Intel VT-d remapping unit: the guest-facing device model a VMM
 * embeds (Intel VT-d Architecture Specification, "DMA remapping" chapters 3,
 * 6, 7, 9, 10, 11; QEMU's hw/i386/intel_iommu.c is the peer it is tested
 * against, tests/qtest/qtest_vtd*.c).
 *
 * Concepts
 *  - One struct viommu_vtd is one remapping unit (one DRHD): a 4 KiB register
 *    page the VMM maps in guest-physical space and forwards MMIO to
 *    (viommu_vtd_mmio_read / _write), root and context tables and second-stage
 *    page tables the guest writes in its own memory, read back through the
 *    @read callback, and an invalidation queue of descriptors.
 *  - Devices are named by their PCI requester id (bus << 8 | devfn). A device
 *    model calls viommu_vtd_translate() (or the viommu_vtd_dma() helper) for
 *    each DMA; the unit walks the guest's tables through the project's guest
 *    walker (viommu_pgtable_walk), caches contexts and leaves (the IOTLB of
 *    include/viommu/iotlb.h), records faults with the spec's reason codes and
 *    raises the fault event through @msi.
 *  - The interrupt window 0xFEE00000-0xFEEFFFFF is never DMA-remapped:
 *    a request there is an interrupt request (viommu_vtd_dma() hands writes
 *    to @interrupt). A translation whose output lands in it is blocked
 *    (reason 0xE). It never splits an IOMMU address space.
 *  - Consumers of translations (passthrough host backends, vhost-style device
 *    IOTLBs) register IOMMU listeners per device (include/viommu/iommu.h):
 *    every invalidation becomes viommu_iommu_sync() of exactly the
 *    invalidated range on each IOMMU address space of that domain;
 *    a device-TLB descriptor becomes one DEVIOTLB_UNMAP of its decoded range.
 *    Listeners that track mappings (MAP, UNMAP, CHANGE) need caching mode:
 *    without it the guest does not invalidate new mappings.
 *  - Host backends of passthrough devices are attached per device
 *    (viommu_vtd_host_attach); devices whose contexts name the same domain
 *    and tables share one set of host mappings per backend.
 *
 * Defaults equal QEMU 7.2's `-device intel-iommu`: CAP 0x00d2008c22260206,
 * ECAP 0xf00f4a; caching_mode sets CAP bit 7, device_iotlb sets ECAP.DT.
 *
 * Concurrency: viommu_vtd_translate() and viommu_vtd_dma() may run on any
 * number of device threads while MMIO runs on vCPU threads. A translation
 * that hits the context cache and the IOTLB takes no lock; a miss, a fault,
 * every MMIO access and all queue processing serialise on one mutex per unit.
 * Guarantee: once the status of a wait descriptor has been written (or
 * viommu_vtd_mmio_write() of a register-based invalidation has returned),
 * no translation that starts afterwards returns what the invalidations
 * before it removed. Callbacks (@msi, @interrupt-free ones, listeners) run
 * under the unit's mutex, on the thread that caused them, and must not call
 * back into the same unit (such calls fail with -EDEADLK).
 */
#ifndef VIOMMU_VTD_H
#define VIOMMU_VTD_H

#include <viommu/common.h>
#include <viommu/host.h>
#include <viommu/iommu.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_vtd;

/* The register page: offsets of the architectural registers (spec 10.4). */
#define VIOMMU_VTD_REG_VER	0x00
#define VIOMMU_VTD_REG_CAP	0x08
#define VIOMMU_VTD_REG_ECAP	0x10
#define VIOMMU_VTD_REG_GCMD	0x18
#define VIOMMU_VTD_REG_GSTS	0x1c
#define VIOMMU_VTD_REG_RTADDR	0x20
#define VIOMMU_VTD_REG_CCMD	0x28
#define VIOMMU_VTD_REG_FSTS	0x34
#define VIOMMU_VTD_REG_FECTL	0x38
#define VIOMMU_VTD_REG_FEDATA	0x3c
#define VIOMMU_VTD_REG_FEADDR	0x40
#define VIOMMU_VTD_REG_FEUADDR	0x44
#define VIOMMU_VTD_REG_IQH	0x80
#define VIOMMU_VTD_REG_IQT	0x88
#define VIOMMU_VTD_REG_IQA	0x90
#define VIOMMU_VTD_REG_ICS	0x9c
#define VIOMMU_VTD_REG_IECTL	0xa0
#define VIOMMU_VTD_REG_IEDATA	0xa4
#define VIOMMU_VTD_REG_IEADDR	0xa8
#define VIOMMU_VTD_REG_IEUADDR	0xac
#define VIOMMU_VTD_REG_IRTA	0xb8
#define VIOMMU_VTD_REG_IVA	0xf0	/* CAP/ECAP IRO = 0xf0, as QEMU */
#define VIOMMU_VTD_REG_IOTLB	0xf8
#define VIOMMU_VTD_REG_FRCD	0x220	/* CAP.FRO = 0x220; 16 bytes per record */
#define VIOMMU_VTD_MMIO_SIZE	0x1000

/* Guest-physical read of @len bytes (tables, descriptors, DMA): 0 or a negative errno. */
typedef int (*viommu_vtd_read_fn)(void *ctx, uint64_t gpa, void *buf, size_t len);
/* Guest-physical write (wait-descriptor status, DMA): 0 or a negative errno. */
typedef int (*viommu_vtd_write_fn)(void *ctx, uint64_t gpa, const void *buf, size_t len);
/* An MSI the unit raises: fault event (FEADDR/FEDATA) or invalidation completion (IEADDR/IEDATA). */
typedef void (*viommu_vtd_msi_fn)(void *ctx, uint64_t addr, uint32_t data);
/* A DMA write of one dword into the interrupt window by requester @sid. */
typedef void (*viommu_vtd_interrupt_fn)(void *ctx, uint16_t sid, uint64_t addr, uint32_t data);
/* An interrupt-entry-cache invalidation descriptor: @global, else 2^@index_mask entries at @index. */
typedef void (*viommu_vtd_iec_fn)(void *ctx, bool global, uint32_t index, unsigned index_mask);

struct viommu_vtd_opts {
	size_t sz;			/* sizeof(struct viommu_vtd_opts) */
	viommu_vtd_read_fn read;	/* required */
	viommu_vtd_write_fn write;	/* required */
	viommu_vtd_msi_fn msi;		/* may be NULL: MSIs are dropped */
	viommu_vtd_interrupt_fn interrupt;	/* may be NULL */
	viommu_vtd_iec_fn iec;		/* may be NULL */
	void *ctx;			/* passed to every callback above */
	/* MGAW, the input address width: 0 -> 39 (QEMU's aw-bits); 39, 48 or 57. */
	unsigned aw_bits;
	/* CAP.SAGAW: bit 1 = 3-level (39-bit), bit 2 = 4-level, bit 3 = 5-level
	 * tables; 0 -> every width up to aw_bits (QEMU: 39 -> 0x2, 48 -> 0x6). */
	unsigned sagaw;
	/* Host address width (the ACPI DMAR table's): 0 -> min(aw_bits, 52), as QEMU; 32..52. */
	unsigned haw_bits;
	bool caching_mode;		/* CAP.CM (QEMU caching-mode=on) */
	bool device_iotlb;		/* ECAP.DT: context TT = 01 and device-TLB descriptors (device-iotlb=on) */
	bool no_pass_through;		/* clear ECAP.PT */
	bool no_psi;			/* clear CAP.PSI: page-selective requests act domain-wide */
	bool no_qi;			/* clear ECAP.QI: register-based invalidation only */
	bool no_intremap;		/* clear ECAP.IR (and MHMV) */
	unsigned nfr;			/* fault recording registers: 0 -> 1 (QEMU); 1..222 */
	unsigned mamv;			/* CAP.MAMV: 0 -> 18 (QEMU); 1..52 */
	size_t iotlb_entries;		/* IOTLB capacity: 0 -> 4096 */
	/* The host side (viommu_vtd_host_attach): the system memory model and
	 * its address space (GPA -> host address). Both or neither. */
	struct viommu_memory *memory;
	struct viommu_as *sys;
	/*
	 * Guest table entries one sync may read (0 -> 2^24: 4M 4K leaves, 16 GiB
	 * of IOVA in 4K pages; far more in large pages). Aliased tables can make
	 * a few guest pages describe 2^27 leaves, so a sync that needs more is
	 * refused (the view is kept, stats.sync_errors counts it), and one MMIO
	 * access reads at most 8 times this for all its syncs.
	 */
	uint64_t max_sync_reads;
};

/*
 * A new unit in its power-on state. NULL with errno EINVAL (bad options:
 * logged) or ENOMEM. Cost: O(1) plus the IOTLB's allocation.
 */
VIOMMU_API struct viommu_vtd *viommu_vtd_new(const struct viommu_vtd_opts *opts);
/*
 * Free the unit, its listeners' IOMMU address spaces (listeners dropped
 * without events) and its host links (mappings left in the backends). No
 * other call may be running. NULL is allowed. Cost O(n) for the n extents
 * and cache entries it holds.
 */
VIOMMU_API void viommu_vtd_free(struct viommu_vtd *v);
/*
 * System reset: registers to their power-on values, caches dropped,
 * translation and queued invalidation off. Listeners stay registered; their
 * address spaces resync to the untranslated view. 0, or -EDEADLK. Cost: the
 * caches' O(capacity) flush plus one full sync per listened address space.
 */
VIOMMU_API int viommu_vtd_reset(struct viommu_vtd *v);

/* The capability registers as the guest reads them. O(1). */
VIOMMU_API uint64_t viommu_vtd_cap(const struct viommu_vtd *v);
VIOMMU_API uint64_t viommu_vtd_ecap(const struct viommu_vtd *v);

/*
 * Guest MMIO to the register page at @offset (0..VIOMMU_VTD_MMIO_SIZE-1),
 * @size 4 or 8 bytes, aligned to @size. A 64-bit access to two 32-bit
 * registers acts as two 32-bit accesses (low first); reserved and
 * unimplemented offsets read 0 and ignore writes. Returns 0; -EINVAL (bad
 * size or alignment, offset out of range: logged at debug level, nothing
 * changes); -EDEADLK (called from inside a callback of this unit).
 * Worst case of one write: one pass over the invalidation queue (at most
 * 2^15 descriptors); each descriptor costs at most one sync per IOMMU
 * address space in its scope, each bounded by the guest tables in range
 * (and by opts.max_sync_reads). A page-selective invalidation of one whole
 * recorded extent is one sync of O(levels + log n): one walk and one shadow
 * descent (include/viommu/iommu.h). A read is O(1).
 */
VIOMMU_API int viommu_vtd_mmio_read(struct viommu_vtd *v, uint64_t offset, unsigned size, uint64_t *val);
VIOMMU_API int viommu_vtd_mmio_write(struct viommu_vtd *v, uint64_t offset, unsigned size, uint64_t val);

/* Request kinds for viommu_vtd_translate() @flags (PCIe ATS; 0: an untranslated DMA request). */
#define VIOMMU_VTD_ATS_TRANSLATION	0x1u	/* a translation request (device-TLB fill) */
#define VIOMMU_VTD_ATS_TRANSLATED	0x2u	/* a request with an already translated address */

enum viommu_vtd_xlat_kind {
	VIOMMU_VTD_XLAT_MEMORY = 0,	/* [first, last] -> out.. with perm */
	VIOMMU_VTD_XLAT_INTERRUPT = 1,	/* the interrupt window: not remapped */
};

/* The answer of a translation. */
struct viommu_vtd_xlat {
	enum viommu_vtd_xlat_kind kind;
	uint64_t first, last;		/* the input range this answer holds for (contains the iova) */
	uint64_t out;			/* output address of @first (MEMORY) */
	unsigned perm;			/* VIOMMU_PERM_* the range grants (MEMORY) */
	uint16_t did;			/* domain id used (0 when not translated) */
	uint8_t fault;			/* -EFAULT: the VT-d fault reason */
	bool recorded;			/* -EFAULT: a fault record was written */
};

/*
 * Translate @iova of requester @sid for @access (VIOMMU_PERM_READ and/or
 * _WRITE), an untranslated request unless @flags says otherwise. Returns 0
 * (*x filled: a translation granting at least @access, or the interrupt
 * window); -EFAULT (the request is blocked: x->fault is the reason, 1..0xE,
 * and x->recorded says whether it went into a fault recording register; FPD,
 * collapsing and overflow follow the spec); -EINVAL (bad @access or @flags,
 * NULL); -EDEADLK. A translation request (ATS) for a page without the
 * access is not a fault: it returns 0 with x->perm saying what is granted.
 * Cost: a context-cache and IOTLB hit is a few lock-free probes; a miss walks
 * at most 5 levels under the unit's mutex.
 */
VIOMMU_API int viommu_vtd_translate(struct viommu_vtd *v, uint16_t sid, uint64_t iova, unsigned access,
				    unsigned flags, struct viommu_vtd_xlat *x);

/*
 * A device's DMA of @len bytes at @iova, page by page through
 * viommu_vtd_translate() and the read/write callbacks, as a PCI device sees
 * it: a page that faults is skipped (read bytes become 0), the others are
 * moved; writes into the interrupt window go to @interrupt one aligned
 * dword at a time (partial dwords are dropped), reads there return 0.
 * Returns the number of bytes moved (@len when nothing faulted), or a
 * negative errno (-EINVAL, -EDEADLK). Cost: one viommu_vtd_translate() per
 * page touched plus the copies.
 */
VIOMMU_API long viommu_vtd_dma(struct viommu_vtd *v, uint16_t sid, uint64_t iova, void *buf, size_t len,
			       bool is_write);

/*
 * Register an IOMMU listener (include/viommu/iommu.h) on requester @sid's
 * IOMMU address space, created on first use and synced in full (the current
 * translation is replayed to @l as MAPs). Its view follows the device: the
 * untranslated view when translation is off or the context passes through,
 * nothing while its context faults, the second-stage tables otherwise;
 * addresses in the interrupt window are never reported.
 * Returns 0; -EINVAL (MAP, UNMAP or CHANGE in l->kinds without caching mode,
 * DEVIOTLB_UNMAP without ECAP.DT, or what viommu_iommu_listener_register
 * refuses; logged); -EEXIST; -ENOMEM; -EDEADLK. Cost: on first use one
 * full sync (a walk of the guest tables), then the replay of the n extents,
 * O(n log n).
 */
VIOMMU_API int viommu_vtd_listener_register(struct viommu_vtd *v, uint16_t sid, struct viommu_iommu_listener *l);
/* Unregister (no events). 0, -ENOENT, -EDEADLK. O(listeners). */
VIOMMU_API int viommu_vtd_listener_unregister(struct viommu_vtd *v, uint16_t sid,
					      struct viommu_iommu_listener *l);

/*
 * The host side of a passthrough device: keep backend @h equal to what
 * requester @sid can reach (IOVA -> GPA from the guest tables, GPA -> host
 * from opts.sys). Devices whose contexts resolve to the same translation
 * (domain id and tables, or untranslated) and that are attached to the same
 * backend share one set of host mappings in it; when the guest moves a
 * device to other tables its backend follows (the old mappings are removed
 * first). Needs caching mode and opts.memory / opts.sys.
 * Returns 0; -EINVAL (no caching mode, no memory model, NULL; logged);
 * -EEXIST (already attached); -ENOMEM; -EDEADLK. Cost: the reconcile
 * engine's attach, O(p log m) for the p pieces of what the device reaches.
 */
struct viommu_vtd_host_report {
	struct viommu_host *backend;
	uint16_t sid;			/* the device the attachment was made for */
	int err;			/* negative errno of the failed step */
	uint64_t first, last;		/* the IOVA range concerned */
	enum viommu_recon_report_kind kind;	/* the reconcile engine's reason (include/viommu/reconcile.h) */
	uint64_t out;			/* guest-physical address of @first */
};
typedef void (*viommu_vtd_host_report_fn)(void *ctx, const struct viommu_vtd_host_report *r);
struct viommu_vtd_host_opts {
	size_t sz;			/* sizeof(struct viommu_vtd_host_opts) */
	viommu_vtd_host_report_fn report;	/* ranges not mapped (not RAM, misaligned, backend errors); may be NULL */
	void *report_ctx;
};
VIOMMU_API int viommu_vtd_host_attach(struct viommu_vtd *v, uint16_t sid, struct viommu_host *h,
				      const struct viommu_vtd_host_opts *opts);
/*
 * Detach (the mappings only this device needed are unmapped). 0, -ENOENT,
 * -EDEADLK. Cost O(m log m) for the m host mappings unmapped.
 */
VIOMMU_API int viommu_vtd_host_detach(struct viommu_vtd *v, uint16_t sid, struct viommu_host *h);

struct viommu_vtd_host_stats {
	size_t sz;			/* sizeof(struct viommu_vtd_host_stats) */
	uint64_t links;			/* sets of host mappings kept in the backend now */
	uint64_t map_ops, unmap_ops;	/* backend calls made for it */
	uint64_t mappings;		/* host mappings held now */
	uint64_t errors;		/* failed backend calls */
};
/* Totals for backend @h. 0, -ENOENT (not attached), -EINVAL. O(attachments). */
VIOMMU_API int viommu_vtd_host_get_stats(struct viommu_vtd *v, struct viommu_host *h,
					 struct viommu_vtd_host_stats *st);

struct viommu_vtd_stats {
	size_t sz;			/* sizeof(struct viommu_vtd_stats) */
	uint64_t iotlb_hits;		/* translations answered by the IOTLB (the lock-free path) */
	uint64_t walks;			/* second-stage table walks */
	uint64_t context_fills;		/* contexts read from the guest's tables into the context cache */
	uint64_t faults;		/* requests blocked */
	uint64_t faults_recorded;	/* written to a fault recording register */
	uint64_t faults_fpd;		/* suppressed by FPD */
	uint64_t faults_collapsed;	/* not recorded: same requester already pending */
	uint64_t faults_overflow;	/* not recorded: PFO set or set now */
	uint64_t fault_events, completion_events;	/* MSIs raised (or left pending) */
	uint64_t descriptors;		/* queue descriptors processed */
	uint64_t queue_errors;		/* IQE raised */
	uint64_t waits;			/* wait descriptors completed */
	uint64_t ctx_invalidations, iotlb_invalidations, devtlb_invalidations, iec_invalidations;
	uint64_t syncs;			/* viommu_iommu_sync calls made */
	uint64_t full_syncs;		/* of those, over the whole space (domain, global, context changes) */
	uint64_t sync_bytes;		/* bytes of IOVA space the others covered */
	uint64_t sync_errors;		/* syncs refused (unreadable guest tables, or over max_sync_reads) */
	uint64_t interrupts;		/* dwords written into the interrupt window */
};
/* Counters; st->sz set by the caller. 0 or -EINVAL. O(1). */
VIOMMU_API int viommu_vtd_get_stats(struct viommu_vtd *v, struct viommu_vtd_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_VTD_H */
