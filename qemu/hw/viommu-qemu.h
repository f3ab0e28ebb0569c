/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * viommu integration: the hooks QEMU's intel-iommu (hw/i386/intel_iommu.c)
 * and virtio-iommu (hw/virtio/virtio-iommu.c) call, implemented in
 * viommu-vtd.c and viommu-virtio-iommu.c (docs/design.md, "QEMU
 * integration"). Each device has a property `viommu`:
 *   unset or "off"  QEMU's model, untouched (with "off" the glue only counts);
 *   "replace"       viommu's model answers the guest, QEMU's is not used;
 *   "shadow"        QEMU's model answers, viommu's sees every access and each
 *                   translation (and virtio request) is compared.
 * A hook that returns true has done the work (replace mode); false lets
 * QEMU's code run. With the property unset every hook is a NULL check.
 */
#ifndef HW_VIOMMU_QEMU_H
#define HW_VIOMMU_QEMU_H

#include "exec/memory.h"
#include "hw/pci/pci.h"
#include "hw/virtio/virtio.h"

struct IntelIOMMUState;
struct VirtIOIOMMU;
struct ViommuVtd;
struct ViommuVirtio;

/* ---- intel-iommu ---- */
void viommu_vtd_realize_hook(struct IntelIOMMUState *s, Error **errp);
void viommu_vtd_reset_hook(struct ViommuVtd *g);
bool viommu_vtd_replaces(struct ViommuVtd *g);
bool viommu_vtd_mmio_read_hook(struct ViommuVtd *g, hwaddr addr, unsigned size, uint64_t *val);
bool viommu_vtd_mmio_write_hook(struct ViommuVtd *g, hwaddr addr, uint64_t val, unsigned size);
bool viommu_vtd_translate_hook(struct ViommuVtd *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
			       IOMMUTLBEntry *out);
void viommu_vtd_compare_hook(struct ViommuVtd *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
			     const IOMMUTLBEntry *qemu);
bool viommu_vtd_notify_flag_changed_hook(struct ViommuVtd *g, uint16_t sid, IOMMUMemoryRegion *mr,
					 IOMMUNotifierFlag old, IOMMUNotifierFlag new_flags, Error **errp,
					 int *ret);
bool viommu_vtd_replay_hook(struct ViommuVtd *g, uint16_t sid, IOMMUNotifier *n);

/* ---- virtio-iommu ---- */
void viommu_virtio_realize_hook(struct VirtIOIOMMU *s, Error **errp);
void viommu_virtio_reset_hook(struct ViommuVirtio *g, bool system);
bool viommu_virtio_replaces(struct ViommuVirtio *g);
void viommu_virtio_add_device_hook(struct ViommuVirtio *g, PCIBus *bus, int devfn);
bool viommu_virtio_request_hook(struct ViommuVirtio *g, VirtQueueElement *elem, size_t *used);
void viommu_virtio_compare_request_hook(struct ViommuVirtio *g, VirtQueueElement *elem, size_t used);
void viommu_virtio_get_config_hook(struct ViommuVirtio *g, uint8_t *config);
bool viommu_virtio_set_config_hook(struct ViommuVirtio *g, const uint8_t *config);
uint64_t viommu_virtio_get_features_hook(struct ViommuVirtio *g, uint64_t f);
void viommu_virtio_set_status_hook(struct ViommuVirtio *g, VirtIODevice *vdev, uint8_t status);
bool viommu_virtio_translate_hook(struct ViommuVirtio *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
				  IOMMUTLBEntry *out);
void viommu_virtio_compare_hook(struct ViommuVirtio *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
				const IOMMUTLBEntry *qemu);
bool viommu_virtio_notify_flag_changed_hook(struct ViommuVirtio *g, uint16_t sid, IOMMUMemoryRegion *mr,
					    IOMMUNotifierFlag old, IOMMUNotifierFlag new_flags, Error **errp,
					    int *ret);
bool viommu_virtio_replay_hook(struct ViommuVirtio *g, uint16_t sid, IOMMUNotifier *n);
/* QEMU's side (hw/virtio/virtio-iommu.c): a fault on the device's event queue */
void virtio_iommu_viommu_report_fault(struct VirtIOIOMMU *s, uint8_t reason, int flags, uint32_t endpoint,
                                      uint64_t address);

#endif
