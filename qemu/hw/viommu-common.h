/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * viommu integration, the part both devices share: the mode property, the
 * counters written at exit, the probe notifiers that count what a QEMU
 * IOMMU notifier receives, and the shadow-mode mismatch log.
 */
#ifndef HW_VIOMMU_COMMON_H
#define HW_VIOMMU_COMMON_H

#include "exec/memory.h"
#include "hw/pci/pci.h"

enum viommu_glue_mode {
    VIOMMU_GLUE_OFF,            /* QEMU's model; the glue only counts */
    VIOMMU_GLUE_REPLACE,        /* viommu's model answers */
    VIOMMU_GLUE_SHADOW,         /* QEMU's answers, viommu's is compared */
};

/* Parse the property: NULL -> -1 (no glue at all), else a mode or -EINVAL. */
int viommu_glue_parse_mode(const char *s, Error **errp);
const char *viommu_glue_mode_name(int mode);

/* What a probe notifier (a QEMU IOMMUNotifier, as VFIO or vhost registers one) received. */
typedef struct ViommuProbeCounts {
    uint64_t map, unmap, deviotlb;      /* events */
    uint64_t map_bytes, unmap_bytes, deviotlb_bytes;
    uint64_t pow2_unaligned;            /* events whose range is not an aligned 2^n block */
    uint64_t notifiers;                 /* probe notifiers registered (one per range) */
} ViommuProbeCounts;

typedef struct ViommuProbe {
    IOMMUNotifier n;
    ViommuProbeCounts *counts;
} ViommuProbe;

/*
 * The counters of one device, printed at exit to $VIOMMU_QEMU_STATS (one
 * line per device, "viommu-qemu DEVICE key=value ...", appended).
 */
typedef struct ViommuGlueCounts {
    const char *device;
    int mode;
    uint64_t mmio_reads, mmio_writes;   /* register accesses (VT-d) */
    uint64_t requests;                  /* virtio requests (virtio-iommu) */
    uint64_t translations, blocked;     /* translate calls; of those, no access granted */
    uint64_t compared, mismatches;      /* shadow mode */
    ViommuProbeCounts iotlb_probe;      /* MAP|UNMAP notifiers, as VFIO registers them */
    ViommuProbeCounts devtlb_probe;     /* DEVIOTLB_UNMAP notifiers, as vhost registers them */
    /* filled by the device's dump callback before printing */
    void (*extra)(void *opaque, GString *line);
    void *opaque;
    Notifier exit;
} ViommuGlueCounts;

void viommu_glue_counts_init(ViommuGlueCounts *c, const char *device, int mode,
                             void (*extra)(void *, GString *), void *opaque);

/*
 * Register the probe notifiers on @mr when $VIOMMU_QEMU_PROBE is set: MAP |
 * UNMAP on [0, 0xfedfffff] and [0xfef00000, 2^64-1] (the two sections VFIO
 * sees on x86, split by the interrupt window), replayed as VFIO does, and
 * with @devtlb DEVIOTLB_UNMAP on the same two ranges (as vhost registers).
 */
void viommu_glue_probe(ViommuGlueCounts *c, IOMMUMemoryRegion *mr, bool iotlb, bool devtlb);

/*
 * Create the IOMMU address space of every PCI device below @root now (its
 * get_address_space op, through pci_device_iommu_address_space). The glue's
 * machine-done notifier needs them, and it runs before the PCI buses' own
 * (hw/pci/pci.c pcibus_machine_done, which creates them otherwise): a
 * notifier list runs the newest first, and the buses were made before the
 * IOMMU device. Repeated calls return the same address spaces.
 */
void viommu_glue_create_address_spaces(PCIBus *root);

/*
 * Hand one viommu listener event (include/viommu/iommu.h) to QEMU's IOMMU
 * notifiers as @type (IOMMU_NOTIFIER_MAP, _UNMAP or _DEVIOTLB_UNMAP): to
 * every notifier of @mr registered for @type (viommu_glue_forward), or to
 * @n alone (viommu_glue_forward_one, replay), each time cropped to the
 * notifier's [start, end]. QEMU's memory_region_notify_iommu_one crops only
 * DEVIOTLB_UNMAP and asserts that a MAP or UNMAP lies inside the notifier,
 * while VFIO registers one notifier per section around the x86 interrupt
 * window and a viommu event may cover both (hw/vfio/listener.c).
 */
struct viommu_iommu_event;
void viommu_glue_forward(IOMMUMemoryRegion *mr, IOMMUNotifierFlag type, const struct viommu_iommu_event *ev);
void viommu_glue_forward_one(IOMMUNotifier *n, IOMMUNotifierFlag type, const struct viommu_iommu_event *ev);

/* Shadow mode: count a mismatch and log the first ones with the request. */
void viommu_glue_mismatch(ViommuGlueCounts *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* The IOMMU_RO/WO/RW flags of VIOMMU_PERM_* bits and back. */
static inline IOMMUAccessFlags viommu_glue_flags(unsigned perm)
{
    return (perm & 1 ? IOMMU_RO : 0) | (perm & 2 ? IOMMU_WO : 0);
}
static inline unsigned viommu_glue_perm(IOMMUAccessFlags f)
{
    return (f & IOMMU_RO ? 1 : 0) | (f & IOMMU_WO ? 2 : 0);
}

#endif
