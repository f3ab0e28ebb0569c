/* SPDX-License-Identifier: GPL-2.0-or-later */
/* viommu integration: the part both devices share (viommu-common.h). */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/notify.h"
#include "system/system.h"
#include "hw/pci/pci.h"
#include "exec/address-spaces.h"
#include "hw/viommu/viommu-common.h"

#include <viommu/iommu.h>

/* Mismatches logged in full per device; the rest are only counted. */
#define VIOMMU_GLUE_LOG_MAX 32

int viommu_glue_parse_mode(const char *s, Error **errp)
{
    if (!s) {
        return -1;
    }
    if (!strcmp(s, "off")) {
        return VIOMMU_GLUE_OFF;
    }
    if (!strcmp(s, "replace")) {
        return VIOMMU_GLUE_REPLACE;
    }
    if (!strcmp(s, "shadow")) {
        return VIOMMU_GLUE_SHADOW;
    }
    error_setg(errp, "viommu=%s: expected off, replace or shadow", s);
    return -EINVAL;
}

const char *viommu_glue_mode_name(int mode)
{
    switch (mode) {
    case VIOMMU_GLUE_OFF:
        return "off";
    case VIOMMU_GLUE_REPLACE:
        return "replace";
    default:
        return "shadow";
    }
}

static void probe_line(GString *l, const char *name, const ViommuProbeCounts *p)
{
    g_string_append_printf(l, " %s_notifiers=%" PRIu64 " %s_map=%" PRIu64 " %s_unmap=%" PRIu64 " %s_deviotlb=%" PRIu64
                           " %s_unmap_bytes=%" PRIu64 " %s_deviotlb_bytes=%" PRIu64
                           " %s_unaligned=%" PRIu64,
                           name, p->notifiers, name, p->map, name, p->unmap, name, p->deviotlb, name, p->unmap_bytes,
                           name, p->deviotlb_bytes, name, p->pow2_unaligned);
}

static void viommu_glue_exit(Notifier *n, void *data)
{
    ViommuGlueCounts *c = container_of(n, ViommuGlueCounts, exit);
    const char *path = getenv("VIOMMU_QEMU_STATS");
    g_autoptr(GString) l = g_string_new(NULL);
    FILE *f;

    if (!path) {
        return;
    }
    g_string_append_printf(l, "viommu-qemu %s mode=%s mmio_reads=%" PRIu64 " mmio_writes=%" PRIu64
                           " requests=%" PRIu64 " translations=%" PRIu64 " blocked=%" PRIu64
                           " compared=%" PRIu64 " mismatches=%" PRIu64,
                           c->device, viommu_glue_mode_name(c->mode), c->mmio_reads, c->mmio_writes,
                           c->requests, c->translations, c->blocked, c->compared, c->mismatches);
    probe_line(l, "iotlb_probe", &c->iotlb_probe);
    probe_line(l, "devtlb_probe", &c->devtlb_probe);
    if (c->extra) {
        c->extra(c->opaque, l);
    }
    f = fopen(path, "a");
    if (!f) {
        error_report("viommu: cannot write %s: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%s\n", l->str);
    fclose(f);
}

void viommu_glue_counts_init(ViommuGlueCounts *c, const char *device, int mode,
                             void (*extra)(void *, GString *), void *opaque)
{
    memset(c, 0, sizeof(*c));
    c->device = device;
    c->mode = mode;
    c->extra = extra;
    c->opaque = opaque;
    c->exit.notify = viommu_glue_exit;
    qemu_add_exit_notifier(&c->exit);
}

static bool pow2_aligned(hwaddr iova, hwaddr mask)
{
    return ((mask + 1) & mask) == 0 && (iova & mask) == 0;
}

static void viommu_probe_notify(IOMMUNotifier *n, IOMMUTLBEntry *e)
{
    ViommuProbe *p = container_of(n, ViommuProbe, n);
    ViommuProbeCounts *c = p->counts;
    uint64_t bytes = e->addr_mask + 1;

    if (!pow2_aligned(e->iova, e->addr_mask)) {
        c->pow2_unaligned++;
    }
    if (n->notifier_flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) {
        c->deviotlb++;
        c->deviotlb_bytes += bytes;
    } else if (e->perm == IOMMU_NONE) {
        c->unmap++;
        c->unmap_bytes += bytes;
    } else {
        c->map++;
        c->map_bytes += bytes;
    }
}

static void probe_add(IOMMUMemoryRegion *mr, ViommuProbeCounts *counts, IOMMUNotifierFlag flags,
                      hwaddr first, hwaddr last, bool replay)
{
    ViommuProbe *p = g_new0(ViommuProbe, 1);
    Error *err = NULL;

    p->counts = counts;
    iommu_notifier_init(&p->n, viommu_probe_notify, flags, first, last, 0);
    if (memory_region_register_iommu_notifier(MEMORY_REGION(mr), &p->n, &err)) {
        error_report_err(err);
        g_free(p);
        return;
    }
    counts->notifiers++;
    if (replay) {
        memory_region_iommu_replay(mr, &p->n);
    }
}

void viommu_glue_probe(ViommuGlueCounts *c, IOMMUMemoryRegion *mr, bool iotlb, bool devtlb)
{
    if (!getenv("VIOMMU_QEMU_PROBE")) {
        return;
    }
    if (iotlb) {
        probe_add(mr, &c->iotlb_probe, IOMMU_NOTIFIER_IOTLB_EVENTS, 0, 0xfedfffffULL, true);
        probe_add(mr, &c->iotlb_probe, IOMMU_NOTIFIER_IOTLB_EVENTS, 0xfef00000ULL, HWADDR_MAX, true);
    }
    if (devtlb) {
        probe_add(mr, &c->devtlb_probe, IOMMU_NOTIFIER_DEVIOTLB_UNMAP, 0, 0xfedfffffULL, false);
        probe_add(mr, &c->devtlb_probe, IOMMU_NOTIFIER_DEVIOTLB_UNMAP, 0xfef00000ULL, HWADDR_MAX, false);
    }
}

static void create_as_dev(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    pci_device_iommu_address_space(dev);
}

static void create_as_bus(PCIBus *bus, void *opaque)
{
    pci_for_each_device_under_bus(bus, create_as_dev, NULL);
}

void viommu_glue_create_address_spaces(PCIBus *root)
{
    if (root) {
        pci_for_each_bus(root, create_as_bus, NULL);
    }
}

void viommu_glue_forward_one(IOMMUNotifier *n, IOMMUNotifierFlag type, const struct viommu_iommu_event *ev)
{
    uint64_t first = MAX(ev->first, (uint64_t)n->start), last = MIN(ev->last, (uint64_t)n->end);
    IOMMUTLBEvent event = {
        .type = type,
        .entry = {
            .target_as = &address_space_memory,
            .iova = first,
            .translated_addr = type == IOMMU_NOTIFIER_MAP ? ev->out + (first - ev->first) : 0,
            .addr_mask = last - first,
            .perm = type == IOMMU_NOTIFIER_MAP ? viommu_glue_flags(ev->perm) : IOMMU_NONE,
        },
    };

    if (first > last || !(n->notifier_flags & type)) {
        return;     /* outside this notifier, or not its kind */
    }
    memory_region_notify_iommu_one(n, &event);
}

void viommu_glue_forward(IOMMUMemoryRegion *mr, IOMMUNotifierFlag type, const struct viommu_iommu_event *ev)
{
    IOMMUNotifier *n;

    IOMMU_NOTIFIER_FOREACH(n, mr) {
        if (n->iommu_idx == 0) {
            viommu_glue_forward_one(n, type, ev);
        }
    }
}

void viommu_glue_mismatch(ViommuGlueCounts *c, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    c->mismatches++;
    if (c->mismatches > VIOMMU_GLUE_LOG_MAX) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_report("viommu shadow %s: mismatch %" PRIu64 ": %s", c->device, c->mismatches, msg);
}
