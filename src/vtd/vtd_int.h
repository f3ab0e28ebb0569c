/* SPDX-License-Identifier: MIT */
/*
 * Internal state of the VT-d remapping unit, shared by its modules:
 *   regs.c       object, register file, MMIO decode, fault recording, events (MSI)
 *   translate.c  context resolution, context cache, table walks, translate, DMA
 *   queue.c      register-based and queued invalidation, descriptors
 *   sync.c       IOMMU address spaces kept in sync (per device and per host group)
 *   host_link.c  the one seam to the host engine (passthrough backends)
 *
 * Locking: @lock (one per unit) protects every field not marked otherwise:
 * the registers, the latched root / queue state, the fault records, the
 * targets and host links. Fields marked "atomic" are also read without it
 * by viommu_vtd_translate()'s lock-free hit path: @te, @ctx_gen and the
 * context-cache entries (each a sequence lock, written under @lock). The
 * IOTLB has its own synchronisation (include/viommu/iotlb.h).
 */
#ifndef VI_VTD_INT_H
#define VI_VTD_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <viommu/iotlb.h>
#include <viommu/vtd.h>

#include "util/compiler.h"

/* Interrupt window (spec 3.14; QEMU VTD_INTERRUPT_ADDR_FIRST/LAST). */
#define VTD_WIN_FIRST	UINT64_C(0xfee00000)
#define VTD_WIN_LAST	UINT64_C(0xfeefffff)

/* GCMD / GSTS bits (spec 10.4.4, 10.4.5). */
#define VTD_GCMD_TE	(1u << 31)
#define VTD_GCMD_SRTP	(1u << 30)
#define VTD_GCMD_QIE	(1u << 26)
#define VTD_GCMD_IRE	(1u << 25)
#define VTD_GCMD_SIRTP	(1u << 24)
/* FSTS (10.4.9) */
#define VTD_FSTS_PFO	(1u << 0)
#define VTD_FSTS_PPF	(1u << 1)
#define VTD_FSTS_IQE	(1u << 4)
#define VTD_FSTS_FRI_SHIFT 8
/* FECTL / IECTL (10.4.10, 10.4.25) */
#define VTD_CTL_IM	(1u << 31)
#define VTD_CTL_IP	(1u << 30)
/* ICS (10.4.24) */
#define VTD_ICS_IWC	1u
/* Fault recording register, high quadword (10.4.14) */
#define VTD_FRCD_F	(UINT64_C(1) << 63)
#define VTD_FRCD_T	(UINT64_C(1) << 62)

/* Descriptor types (6.5.2) */
enum {
	VTD_DESC_NONE = 0,
	VTD_DESC_CC = 1,
	VTD_DESC_IOTLB = 2,
	VTD_DESC_DEVTLB = 3,
	VTD_DESC_IEC = 4,
	VTD_DESC_WAIT = 5,
};

/*
 * What a requester's DMA goes through, resolved from the root and context
 * tables. Legacy mode fills it from root entry -> context entry; scalable
 * mode would add root-entry upper half -> scalable context -> PASID
 * directory -> PASID entry in vtd_resolve() and produce the same struct
 * (FIRST_STAGE and NESTED kinds, a pasid), so translate, the caches and the
 * sync targets need no second path.
 */
enum vtd_cfg_kind {
	VTD_CFG_BLOCKED = 0,	/* requests fault with @fault */
	VTD_CFG_IDENTITY = 1,	/* translation off, or pass-through (TT = 10b) */
	VTD_CFG_SECOND = 2,	/* second-stage tables at @root */
};
struct vtd_cfg {
	uint8_t kind;
	uint8_t fault;		/* BLOCKED: VT-d fault reason */
	bool fpd;		/* the context entry's FPD (also read when not present) */
	bool devtlb;		/* TT = 01b: ATS requests allowed */
	uint8_t levels;		/* SECOND: 3..5 */
	uint8_t in_bits;	/* SECOND: min(MGAW, AGAW) */
	uint16_t did;
	uint64_t root;		/* SECOND: second-stage root table */
};

/* A context-cache entry (lock-free readers, sequence lock; writers hold v->lock). */
struct vtd_cce {
	_Atomic uint32_t seq;
	_Atomic uint32_t gen;		/* valid iff == v->ctx_gen */
	_Atomic uint64_t w0, w1;	/* packed struct vtd_cfg (translate.c) */
};
struct vtd_cce_bus {
	struct vtd_cce e[256];
};

/*
 * One of the unit's two interrupt sources, with the same rules (10.4.10-13,
 * 10.4.25-28): IM masks, IP records a message held back, data 15:0 and
 * address 31:2 (no EIM).
 */
struct vtd_event {
	uint32_t ctl, data, addr;
};

#define VTD_PEND_MAX 16

/*
 * An IOMMU address space the unit keeps in sync with the guest: a device's
 * (for its listeners) or a host group's (for its backends). @cfg is the
 * translation the space was last synced against; @pend the invalidations
 * not yet synced (disjoint, sorted; @pend_all: the whole space).
 */
struct vtd_target {
	struct viommu_vtd *v;
	struct viommu_iommu_as *ias;
	struct vtd_cfg cfg;
	bool pend_all;
	unsigned npend;
	struct { uint64_t first, last; } pend[VTD_PEND_MAX];
};

struct vtd_host_link;

/* A backend of a device, as attached. */
struct vtd_hostref {
	struct viommu_host *h;
	struct viommu_vtd_host_opts opts;
};

/* One set of host mappings: the backend @h following a group. */
struct vtd_link {
	struct viommu_host *h;
	unsigned refs;			/* devices of the group attached to @h */
	struct vtd_host_link *hl;	/* the seam's object */
};

/*
 * Devices whose contexts resolve to the same translation share one host
 * mapping set per backend: a group is keyed by its cfg (kind; domain id,
 * tables, widths), owns an IOMMU address space synced like a device's, and
 * one link per backend its members are attached to.
 */
struct vtd_group {
	struct vtd_target t;
	unsigned members;
	struct vtd_link *links;
	size_t nlinks, lcap;
};

/* A requester the unit tracks: it has listeners or host backends. */
struct vtd_dev {
	struct vtd_target t;		/* t.ias only once a listener registered */
	uint16_t sid;
	unsigned nlisteners;
	struct vtd_group *group;	/* host group (NULL if no backend or blocked) */
	struct vtd_hostref *hosts;
	size_t nhosts, hcap;
};

struct viommu_vtd {
	struct viommu_vtd_opts o;	/* defaults filled in; immutable */
	uint64_t cap, ecap;
	unsigned aw, haw;
	uint64_t haw_mask;		/* address bits below HAW */
	unsigned sagaw;

	pthread_mutex_t lock;
	struct viommu_vtd *held_prev;	/* the unit this thread held before (regs.c vtd_lock) */

	/* registers */
	uint32_t gsts, fsts, ics;
	struct vtd_event fe, ie;	/* fault event (FECTL...), invalidation completion (IECTL...) */
	uint64_t rtaddr, ccmd, iqa, iqt, irta, iotlb_reg, iva;
	uint64_t (*frcd)[2];		/* [nfr][lo, hi] */
	unsigned nfr, next_frcd;

	/* latched state */
	uint64_t root;			/* RTADDR at the last SRTP */
	_Atomic bool te;		/* atomic: translation enabled */
	bool qie;
	uint64_t iq_base;
	uint32_t iq_size, iq_head, iq_tail;
	uint8_t last_desc;

	/* caches */
	_Atomic uint32_t ctx_gen;	/* atomic */
	struct vtd_cce_bus *_Atomic cce[256];	/* atomic pointers, allocated on demand, freed at free */
	struct viommu_iotlb *iotlb;

	/* sync targets */
	struct vtd_dev **devs;
	size_t ndevs, dcap;
	struct vtd_group **groups;
	size_t ngroups, gcap;
	bool host_ok;			/* opts.memory and opts.sys given */

	uint64_t pass_reads;		/* table reads the syncs of this MMIO access may still do */
	struct viommu_vtd_stats st;	/* under @lock (iotlb_hits comes from the IOTLB) */
	_Atomic uint64_t interrupts;	/* atomic: window dwords (viommu_vtd_dma, no lock) */
};

/* ---- regs.c ---- */
void vtd_lock(struct viommu_vtd *v);
void vtd_unlock(struct viommu_vtd *v);
bool vtd_in_callback(const struct viommu_vtd *v);
/* Record a fault for requester @sid at @addr (spec 7.2.1); returns whether it was recorded. */
bool vtd_fault_record(struct viommu_vtd *v, uint16_t sid, uint64_t addr, uint8_t reason, bool is_write, bool fpd);
void vtd_queue_error(struct viommu_vtd *v);
void vtd_completion_event(struct viommu_vtd *v);

/* Guest-caused diagnostics: debug level only, so a guest cannot flood the log. */
#define vtd_guest_log(v, ...) vi_debug("vtd: " __VA_ARGS__)

/* ---- translate.c ---- */
/* Resolve requester @sid's translation (reads the tables; fills the context cache on success). */
void vtd_resolve(struct viommu_vtd *v, uint16_t sid, struct vtd_cfg *c);
bool vtd_cfg_same_view(const struct vtd_cfg *a, const struct vtd_cfg *b);
void vtd_ctx_invalidate_all(struct viommu_vtd *v);
void vtd_ctx_invalidate_device(struct viommu_vtd *v, uint16_t sid, unsigned fm);
void vtd_ctx_free(struct viommu_vtd *v);
/* Fill @view (an IOMMU read view) from @cfg's tables over [first, last]. */
int vtd_read_view(struct viommu_vtd *v, const struct vtd_cfg *cfg, uint64_t first, uint64_t last,
		  struct viommu_iommu_view *view);

/* ---- queue.c ---- */
void vtd_queue_run(struct viommu_vtd *v);
void vtd_ccmd_write(struct viommu_vtd *v);
void vtd_iotlb_reg_write(struct viommu_vtd *v);
/* Drop every cached translation (SRTP, TE change, reset). */
void vtd_caches_reset(struct viommu_vtd *v);

/* ---- sync.c ---- */
void vtd_sync_range(struct viommu_vtd *v, uint16_t did, uint64_t first, uint64_t last);
void vtd_sync_domain(struct viommu_vtd *v, uint16_t did);
void vtd_sync_all(struct viommu_vtd *v);
void vtd_sync_flush(struct viommu_vtd *v);
/* Re-resolve the targets whose requester matches (@all, or @sid under function mask @fm). */
void vtd_sync_refresh(struct viommu_vtd *v, bool all, uint16_t sid, unsigned fm);
void vtd_sync_devtlb(struct viommu_vtd *v, uint16_t sid, uint64_t first, uint64_t last);
void vtd_sync_free(struct viommu_vtd *v);

/* ---- host_link.c: the seam to the host engine ---- */
struct vtd_host_link *vtd_host_link_new(struct viommu_vtd *v, struct viommu_iommu_as *ias, struct viommu_host *h,
					uint16_t sid, const struct viommu_vtd_host_opts *opts);
void vtd_host_link_free(struct vtd_host_link *hl, bool unmap);
void vtd_host_link_stats(const struct vtd_host_link *hl, struct viommu_vtd_host_stats *acc);

#endif
