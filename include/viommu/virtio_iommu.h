/* SPDX-License-Identifier: MIT */
/*
 * viommu virtio-iommu: the paravirtual IOMMU device of the virtio
 * specification (virtio 1.2/1.3, section "IOMMU device"), exact to the spec,
 * for a VMM to put behind its own virtio transport.
 *
 * Concepts
 *  - An endpoint is a DMA requester behind the device (on PCI: the requester
 *    id). The VMM declares them; the guest can only name declared ones.
 *  - A domain is an address space the guest creates by attaching an endpoint
 *    to a new domain id; it ceases to exist when its last endpoint leaves.
 *    A bypass domain (ATTACH_F_BYPASS) translates by identity and takes no
 *    mappings.
 *  - A mapping is exactly what one MAP created: [virt_start, virt_end] ->
 *    phys_start with READ / WRITE / MMIO. An UNMAP removes every mapping
 *    wholly inside its range (holes are fine) and, if any mapping would be
 *    split, removes nothing and answers RANGE.
 *  - Every request either succeeds completely or is refused with a status
 *    and changes nothing (a refusal is also logged with the exact range and
 *    the reason, through viommu_set_log()).
 *  - Each domain's mappings feed an IOMMU address space (include/viommu/iommu.h):
 *    MAP becomes a MAP event, UNMAP becomes one UNMAP event per removed
 *    mapping. A host backend given to an endpoint (a VFIO container or an
 *    iommufd IOAS) holds the domain's mappings composed with the system
 *    address space: one host mapping set per domain and backend, however
 *    many endpoints of the domain share that backend; in bypass it holds
 *    the identity map of guest RAM.
 *  - Per endpoint, viommu_virtio_iommu_endpoint_as() gives an IOMMU address
 *    space that follows what that endpoint can reach: attach replays the
 *    domain's mappings to its listeners, detach unmaps them.
 *  - Translation (viommu_virtio_iommu_translate) is per endpoint: bypass
 *    (identity), unattached (fault DOMAIN) or attached (the domain's
 *    mappings; fault MAPPING). Faults go to the event callback as
 *    virtio_iommu_fault records; an event the callback cannot queue is
 *    counted (stats.events_dropped), never lost silently.
 *
 * Guest input is hostile: any request bytes, short or oversized buffers,
 * malformed or looping descriptor chains give a status (or buffers returned
 * unwritten where the spec says so), bounded work and no state change.
 *
 * Concurrency: none inside. One thread at a time per device, as for the
 * IOMMU address spaces it drives; callbacks (event, IOMMU listeners, guest
 * memory) run inside the call and must not call back into the device.
 * Device threads that translate concurrently use an IOTLB
 * (include/viommu/iotlb.h) fed from the endpoint address spaces.
 */
#ifndef VIOMMU_VIRTIO_IOMMU_H
#define VIOMMU_VIRTIO_IOMMU_H

#include <sys/uio.h>

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defined in viommu/host.h, viommu/memory.h and viommu/iommu.h. */
struct viommu_host;
struct viommu_memory;
struct viommu_as;
struct viommu_iommu_as;

/* ---- wire values (virtio spec, "IOMMU device") --------------------------- */

#define VIOMMU_VIRTIO_ID_IOMMU			23

/* Feature bit numbers. */
#define VIOMMU_VIRTIO_IOMMU_F_INPUT_RANGE	0
#define VIOMMU_VIRTIO_IOMMU_F_DOMAIN_RANGE	1
#define VIOMMU_VIRTIO_IOMMU_F_MAP_UNMAP		2
#define VIOMMU_VIRTIO_IOMMU_F_BYPASS		3
#define VIOMMU_VIRTIO_IOMMU_F_PROBE		4
#define VIOMMU_VIRTIO_IOMMU_F_MMIO		5
#define VIOMMU_VIRTIO_IOMMU_F_BYPASS_CONFIG	6
#define VIOMMU_VIRTIO_IOMMU_FEATURE(bit)	(UINT64_C(1) << (bit))

/* Request types. */
#define VIOMMU_VIRTIO_IOMMU_T_ATTACH		1
#define VIOMMU_VIRTIO_IOMMU_T_DETACH		2
#define VIOMMU_VIRTIO_IOMMU_T_MAP		3
#define VIOMMU_VIRTIO_IOMMU_T_UNMAP		4
#define VIOMMU_VIRTIO_IOMMU_T_PROBE		5

/* Status codes written in a request's tail. */
#define VIOMMU_VIRTIO_IOMMU_S_OK		0
#define VIOMMU_VIRTIO_IOMMU_S_IOERR		1
#define VIOMMU_VIRTIO_IOMMU_S_UNSUPP		2
#define VIOMMU_VIRTIO_IOMMU_S_DEVERR		3
#define VIOMMU_VIRTIO_IOMMU_S_INVAL		4
#define VIOMMU_VIRTIO_IOMMU_S_RANGE		5
#define VIOMMU_VIRTIO_IOMMU_S_NOENT		6
#define VIOMMU_VIRTIO_IOMMU_S_FAULT		7
#define VIOMMU_VIRTIO_IOMMU_S_NOMEM		8
#define VIOMMU_VIRTIO_IOMMU_S_COUNT		9

#define VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS	0x1u
#define VIOMMU_VIRTIO_IOMMU_MAP_F_READ		0x1u
#define VIOMMU_VIRTIO_IOMMU_MAP_F_WRITE		0x2u
#define VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO		0x4u

#define VIOMMU_VIRTIO_IOMMU_PROBE_T_RESV_MEM	1
#define VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED	0
#define VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI	1

#define VIOMMU_VIRTIO_IOMMU_FAULT_R_UNKNOWN	0
#define VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN	1
#define VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING	2
#define VIOMMU_VIRTIO_IOMMU_FAULT_F_READ	0x1u
#define VIOMMU_VIRTIO_IOMMU_FAULT_F_WRITE	0x2u
#define VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS	0x100u

/*
 * Sizes on the wire: the device-readable part of each request (head and
 * fields, without the tail), the tail, struct virtio_iommu_config, one
 * RESV_MEM property (header included) and struct virtio_iommu_fault.
 */
#define VIOMMU_VIRTIO_IOMMU_ATTACH_SIZE		20
#define VIOMMU_VIRTIO_IOMMU_DETACH_SIZE		20
#define VIOMMU_VIRTIO_IOMMU_MAP_SIZE		36
#define VIOMMU_VIRTIO_IOMMU_UNMAP_SIZE		28
#define VIOMMU_VIRTIO_IOMMU_PROBE_SIZE		72
#define VIOMMU_VIRTIO_IOMMU_TAIL_SIZE		4
#define VIOMMU_VIRTIO_IOMMU_CONFIG_SIZE		40
#define VIOMMU_VIRTIO_IOMMU_RESV_PROP_SIZE	24
#define VIOMMU_VIRTIO_IOMMU_FAULT_SIZE		24

/* ---- the device ------------------------------------------------------------ */

struct viommu_virtio_iommu;

/* A RESV_MEM region: [first, last] of the input (IOVA) space. */
struct viommu_virtio_iommu_resv {
	uint64_t first;
	uint64_t last;
	unsigned subtype;		/* VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_* */
};

/* A fault, as reported on the event queue. */
struct viommu_virtio_iommu_fault {
	unsigned reason;		/* VIOMMU_VIRTIO_IOMMU_FAULT_R_* */
	uint32_t flags;			/* VIOMMU_VIRTIO_IOMMU_FAULT_F_* */
	uint32_t endpoint;
	uint64_t address;		/* valid with FAULT_F_ADDRESS */
};

/*
 * Queue a fault on the event queue. Return 0 if it was queued, a negative
 * errno if not (no buffer: -ENOSPC); the device counts the drop.
 */
typedef int (*viommu_virtio_iommu_event_fn)(void *ctx, const struct viommu_virtio_iommu_fault *f);

struct viommu_virtio_iommu_opts {
	size_t sz;			/* sizeof(struct viommu_virtio_iommu_opts) */
	/*
	 * Feature bits offered (VIOMMU_VIRTIO_IOMMU_FEATURE(F_*)); 0: QEMU's
	 * set, INPUT_RANGE | DOMAIN_RANGE | MAP_UNMAP | PROBE | MMIO |
	 * BYPASS_CONFIG. BYPASS and BYPASS_CONFIG together are refused (the
	 * spec says a device SHOULD NOT offer both).
	 */
	uint64_t features;
	uint64_t page_size_mask;	/* 0: 0xfffffffffffff000 (4 KiB granule); any non-zero mask */
	uint64_t input_first, input_last;	/* both 0: [0, 2^64-1] */
	uint32_t domain_first, domain_last;	/* both 0: [0, 2^32-1] */
	uint32_t probe_size;		/* bytes of PROBE properties; 0: 512 */
	bool boot_bypass;		/* config.bypass after a system reset (default 0: translate) */
	/*
	 * Width of the guest-physical space: a MAP whose physical range ends
	 * above 2^phys_bits - 1 is refused with RANGE. 1..61; 0: 52.
	 */
	unsigned phys_bits;
	/* Reserved regions of every endpoint (then each endpoint's own). */
	const struct viommu_virtio_iommu_resv *resv;
	size_t nresv;
	/* Mappings per domain before MAP answers NOMEM; 0: 2^20. */
	uint64_t max_mappings;
	/* Descriptors per chain the virtqueue helpers follow; 0: 1024. */
	unsigned max_chain;
	viommu_virtio_iommu_event_fn event;	/* may be NULL: every fault is a drop */
	void *event_ctx;
	/*
	 * The memory model and system address space host backends resolve
	 * guest-physical addresses in. Required once an endpoint has a
	 * backend; the device must then be freed before them.
	 */
	struct viommu_memory *memory;
	struct viommu_as *sys;
};

/*
 * A new device with no endpoint, after a system reset. NULL with errno
 * EINVAL (an option out of range, a bad reserved region, both bypass
 * features) or ENOMEM. Cost O(nresv log nresv).
 */
VIOMMU_API struct viommu_virtio_iommu *viommu_virtio_iommu_new(const struct viommu_virtio_iommu_opts *opts);
/*
 * Free the device: endpoints detached (their IOMMU address spaces freed,
 * host backends unmapped). NULL is allowed. Cost O(mappings + endpoints).
 */
VIOMMU_API void viommu_virtio_iommu_free(struct viommu_virtio_iommu *dev);

struct viommu_virtio_iommu_endpoint_opts {
	size_t sz;			/* sizeof(struct viommu_virtio_iommu_endpoint_opts) */
	/*
	 * The host IOMMU backend of a passthrough device (or NULL). Endpoints
	 * given the same backend share one host mapping set per domain; while
	 * they are in different domains (or one in bypass) the backend holds
	 * nothing, which is counted and logged (a backend cannot isolate them).
	 */
	struct viommu_host *backend;
	/* This endpoint's reserved regions, in addition to the device's. */
	const struct viommu_virtio_iommu_resv *resv;
	size_t nresv;
};

/*
 * Declare endpoint @id. 0; -EEXIST; -EINVAL (bad options, regions that
 * overlap each other or do not fit probe_size, more than one MSI region,
 * a backend without opts.memory / opts.sys); -ENOMEM. The endpoint starts
 * unattached (in bypass if config.bypass is 1). Cost O((r + R) log (r + R))
 * for its r regions and the device's R, plus O(log e) among e endpoints;
 * a backend joining a host mapping set maps what that set holds (the
 * reconcile engine's attach, include/viommu/reconcile.h).
 */
VIOMMU_API int viommu_virtio_iommu_add_endpoint(struct viommu_virtio_iommu *dev, uint32_t id,
						const struct viommu_virtio_iommu_endpoint_opts *opts);
/*
 * Hot-unplug endpoint @id: detached, its address space freed. 0 or -ENOENT.
 * Cost O(n) for the n mappings its address space and backend held, plus
 * O(log e).
 */
VIOMMU_API int viommu_virtio_iommu_remove_endpoint(struct viommu_virtio_iommu *dev, uint32_t id);

/* ---- the transport's side ------------------------------------------------- */

/* The feature bits offered. O(1). */
VIOMMU_API uint64_t viommu_virtio_iommu_features(const struct viommu_virtio_iommu *dev);
/*
 * The features the driver accepted (FEATURES_OK). Until called, and after
 * each reset, the device assumes every offered feature. 0, or -EINVAL if
 * @features is not a subset of the offer. O(1).
 */
VIOMMU_API int viommu_virtio_iommu_set_features(struct viommu_virtio_iommu *dev, uint64_t features);
/*
 * Device reset (@system false): every endpoint detached, every domain
 * gone, config.bypass kept. System reset (@system true): also
 * config.bypass back to opts.boot_bypass. Cost O(mappings + endpoints).
 */
VIOMMU_API void viommu_virtio_iommu_reset(struct viommu_virtio_iommu *dev, bool system);
/*
 * Read @len bytes of struct virtio_iommu_config at @offset (little endian).
 * 0, or -EINVAL if [offset, offset + len) is not inside its 40 bytes. O(len).
 */
VIOMMU_API int viommu_virtio_iommu_config_read(const struct viommu_virtio_iommu *dev, uint32_t offset, void *buf,
					       size_t len);
/*
 * A driver's write to the configuration: only the byte `bypass` (offset
 * 36) is writable, with 0 or 1, and only when BYPASS_CONFIG was
 * negotiated. 0; -EPERM (a read-only field, or bypass without the
 * feature); -EINVAL (outside the structure, or a value other than 0/1).
 * Refused writes change nothing and are logged. O(1), or when bypass
 * changes, the resync of every endpoint it moves: O(mappings + endpoints).
 */
VIOMMU_API int viommu_virtio_iommu_config_write(struct viommu_virtio_iommu *dev, uint32_t offset,
						const void *buf, size_t len);

/*
 * Handle one request: @rd / @nrd are its device-readable buffers, @wr /
 * @nwr its device-writable ones (any split into iovecs). The answer (for
 * PROBE the properties, then the tail) is written at the start of the
 * writable part and its length stored in *used_len.
 * Returns the status written (>= 0, VIOMMU_VIRTIO_IOMMU_S_*), or a negative
 * errno when the buffers are returned unwritten (*used_len = 0), as the
 * spec asks: -EINVAL (no room for a head or a tail), -EOPNOTSUPP (an
 * unknown request type, or PROBE without F_PROBE). Cost: O(log n) for
 * ATTACH, DETACH and PROBE (PROBE: plus its probe_size bytes), O(log n +
 * E log r) for a MAP (E endpoints in the domain, r reserved regions each,
 * searched by bisection), O(log n) for an UNMAP of exactly one mapping and
 * O(log n + k) for one removing k (n: mappings in the domain), plus what the
 * IOMMU listeners and host backends do (one IOMMU event per fed mapping
 * changed, each O(log n) in the IOMMU layer and O(log m) per host backend in
 * the reconcile engine, m its host mappings); an ATTACH or DETACH that moves
 * an endpoint with an address space or a backend re-reads the domains
 * concerned, O(n).
 */
VIOMMU_API int viommu_virtio_iommu_handle_request(struct viommu_virtio_iommu *dev, const struct iovec *rd,
						  size_t nrd, const struct iovec *wr, size_t nwr,
						  uint32_t *used_len);

/* ---- translation ------------------------------------------------------------ */

enum viommu_virtio_iommu_xlat_kind {
	VIOMMU_VIRTIO_IOMMU_XLAT_MAPPED = 1,	/* through a mapping of the endpoint's domain */
	VIOMMU_VIRTIO_IOMMU_XLAT_BYPASS,	/* identity: the endpoint is in bypass */
	VIOMMU_VIRTIO_IOMMU_XLAT_MSI,		/* an MSI doorbell region: deliver as an interrupt */
};

/*
 * An allowed access: @addr is its guest-physical address. [first, last] is
 * the input range translated the same way (the mapping, the whole space in
 * bypass, the MSI region), @out the output of @first, @perm its
 * permissions (VIOMMU_PERM_*), so the result may be cached for that range.
 */
struct viommu_virtio_iommu_xlat {
	enum viommu_virtio_iommu_xlat_kind kind;
	uint64_t addr;
	uint64_t first, last;
	uint64_t out;
	unsigned perm;
	bool mmio;			/* the mapping has MAP_F_MMIO */
};

/*
 * Translate an access by endpoint @ep at IOVA @addr with @perm
 * (VIOMMU_PERM_READ and/or WRITE). Returns 0 with *x filled (may be NULL);
 * -EFAULT for a fault (*fault filled if not NULL, and the fault sent to the
 * event callback); -ENOENT if @ep was never declared (a fault with reason
 * UNKNOWN is reported); -EINVAL if @perm is empty or has unknown bits.
 * Cost O(log n + log r), r the endpoint's reserved regions.
 */
VIOMMU_API int viommu_virtio_iommu_translate(struct viommu_virtio_iommu *dev, uint32_t ep, uint64_t addr,
					     unsigned perm, struct viommu_virtio_iommu_xlat *x,
					     struct viommu_virtio_iommu_fault *fault);

/*
 * The IOMMU address space of endpoint @ep (created on first call, owned by
 * the device, freed with the endpoint): its shadow is what the endpoint can
 * reach (the domain's mappings except MMIO ones, the identity map in
 * bypass, nothing when unattached and not in bypass), its events' source_id
 * is @ep. Register listeners on it (include/viommu/iommu.h); do not sync
 * it yourself. NULL with errno ENOENT or ENOMEM. Cost O(log e), and on the
 * first call the replay of what the endpoint reaches: O(n log n).
 */
VIOMMU_API struct viommu_iommu_as *viommu_virtio_iommu_endpoint_as(struct viommu_virtio_iommu *dev, uint32_t ep);

/* ---- inspection ------------------------------------------------------------- */

struct viommu_virtio_iommu_mapping {
	uint64_t first, last;		/* virt_start, virt_end */
	uint64_t phys;			/* phys_start */
	uint32_t flags;			/* VIOMMU_VIRTIO_IOMMU_MAP_F_* */
};
typedef void (*viommu_virtio_iommu_mapping_fn)(void *ctx, const struct viommu_virtio_iommu_mapping *m);

/*
 * Call @fn (may be NULL) for each mapping of domain @domain, ascending.
 * Returns the number of mappings (0 for a bypass domain), or -ENOENT if
 * the domain does not exist. Cost O(log d + n).
 */
VIOMMU_API long viommu_virtio_iommu_domain_mappings(const struct viommu_virtio_iommu *dev, uint32_t domain,
						   viommu_virtio_iommu_mapping_fn fn, void *ctx);

struct viommu_virtio_iommu_endpoint_state {
	bool attached;
	uint32_t domain;		/* if attached */
	bool bypass;			/* accesses translate by identity */
};
/* The state of endpoint @ep. 0 or -ENOENT. O(log e). */
VIOMMU_API int viommu_virtio_iommu_endpoint_state(const struct viommu_virtio_iommu *dev, uint32_t ep,
						  struct viommu_virtio_iommu_endpoint_state *st);

struct viommu_virtio_iommu_stats {
	size_t sz;			/* sizeof(struct viommu_virtio_iommu_stats) */
	uint64_t requests;		/* requests answered with a status */
	uint64_t status[VIOMMU_VIRTIO_IOMMU_S_COUNT];	/* of those, per status */
	uint64_t unwritten;		/* requests whose buffers were returned unwritten */
	uint64_t bad_chains;		/* descriptor chains refused by the virtqueue helpers */
	uint64_t endpoints, domains, mappings;	/* now */
	uint64_t unfed;			/* mappings now not fed to IOMMU address spaces (MMIO, sub-4-byte) */
	uint64_t faults;		/* faults reported */
	uint64_t events_dropped;	/* faults the event callback could not queue */
	uint64_t host_mappings;		/* host mappings held now, every backend */
	uint64_t host_map_ops, host_unmap_ops;	/* backend calls made */
	uint64_t host_errors;		/* backend calls that failed */
	uint64_t host_conflicts;	/* times a shared backend was emptied (endpoints disagree) */
};
/* Statistics (the size rule of src/util/opts.h). 0 or -EINVAL. O(backends + domains). */
VIOMMU_API int viommu_virtio_iommu_get_stats(const struct viommu_virtio_iommu *dev,
					     struct viommu_virtio_iommu_stats *st);

/* ---- split virtqueues, for VMMs without their own virtqueue code ------------ */

/* Guest memory: copy @len bytes at guest-physical @gpa. 0 or a negative errno. */
struct viommu_virtio_mem {
	int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t gpa, const void *buf, size_t len);
	void *ctx;
};

/*
 * One split virtqueue as the driver set it up (virtio spec 2.7): the
 * guest-physical addresses of its descriptor table, available ring and used
 * ring, its size (a power of two, at most 32768), whether
 * VIRTIO_RING_F_INDIRECT_DESC was negotiated, and the device's positions
 * (start both at 0; the helpers advance them). VIRTIO_RING_F_EVENT_IDX is
 * not implemented: do not offer it with these helpers.
 */
struct viommu_virtio_vq {
	uint64_t desc, avail, used;
	uint16_t size;
	bool indirect;
	uint16_t last_avail;		/* next available-ring entry to consume */
	uint16_t used_idx;		/* next used-ring index to write */
};

/*
 * Process the request whose descriptor chain starts at @head: the chain is
 * followed through @mem (at most min(opts.max_chain, queue size)
 * descriptors, and min(opts.max_chain, its length) in an indirect table;
 * a loop, a readable descriptor after a writable one, a bad indirect table
 * or an index out of range refuse the chain), the request handled as by viommu_virtio_iommu_handle_request() and the
 * answer written into the chain's writable descriptors. Returns the status,
 * or a negative errno with *used_len = 0: the handler's, -EINVAL for a
 * refused chain, a guest-memory callback's error. Does not touch the rings.
 * Cost: O(min(max_chain, queue size)) descriptor reads and the copy of the
 * request's bytes, plus the request's own cost.
 */
VIOMMU_API int viommu_virtio_iommu_process_chain(struct viommu_virtio_iommu *dev, const struct viommu_virtio_mem *mem,
						 const struct viommu_virtio_vq *vq, uint16_t head,
						 uint32_t *used_len);
/*
 * Consume every chain made available on request queue @vq (at most
 * vq->size per call): each is processed and put on the used ring with its
 * used length (0 for a refused chain). Returns the number of chains
 * consumed, or a negative errno when the rings themselves are unusable (an
 * available index more than vq->size ahead, a head out of range, a ring
 * that cannot be read or written): the transport should then set
 * DEVICE_NEEDS_RESET. Whether to interrupt the driver is the caller's call.
 * Cost: at most vq->size chains, each as viommu_virtio_iommu_process_chain().
 */
VIOMMU_API long viommu_virtio_iommu_process_queue(struct viommu_virtio_iommu *dev, const struct viommu_virtio_mem *mem,
						  struct viommu_virtio_vq *vq);
/*
 * Put fault @f in the next buffer of event queue @eq and on its used ring.
 * 0; -ENOSPC (no buffer available); -EINVAL (a refused chain, or one with
 * fewer than 24 writable bytes: the buffer is returned with used length
 * 0); a guest-memory callback's error. Usable as the device's event
 * callback through a small wrapper that passes @mem and @eq. Cost: one chain
 * walk as viommu_virtio_iommu_process_chain() and a 24-byte write.
 */
VIOMMU_API int viommu_virtio_iommu_push_event(const struct viommu_virtio_mem *mem, struct viommu_virtio_vq *eq,
					      const struct viommu_virtio_iommu_fault *f);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_VIRTIO_IOMMU_H */
