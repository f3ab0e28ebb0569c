/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * viommu integration: QEMU's intel-iommu device backed by libviommu's VT-d
 * remapping unit (include/viommu/vtd.h). See viommu-qemu.h for the modes and
 * docs/design.md, "QEMU integration", for the path of a guest register write.
 *
 * What the glue maps:
 *   guest MMIO to the register page  -> viommu_vtd_mmio_read / _write
 *   guest memory (tables, queue)     -> address_space_rw(&address_space_memory)
 *   fault / completion MSIs          -> a dword store to the MSI address, as
 *                                       QEMU's own vtd_generate_msi_interrupt
 *                                       does with interrupt remapping off
 *   IOMMUMemoryRegionClass.translate -> viommu_vtd_translate (one 4 KiB page)
 *   QEMU IOMMU notifiers             -> viommu IOMMU listeners (MAP / UNMAP
 *                                       in aligned 2^n blocks, DEVIOTLB_UNMAP
 *                                       with any range)
 * Interrupt remapping is not part of viommu's VT-d: the unit is created with
 * no_intremap and the check-qemu guests run with intremap=off on both models.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "exec/address-spaces.h"
#include "system/system.h"
#include "hw/i386/intel_iommu.h"
#include "hw/i386/x86-iommu.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci-host/q35.h"
#include "hw/i386/pc.h"
#include "hw/qdev-core.h"
#include "hw/viommu/viommu-qemu.h"
#include "hw/viommu/viommu-common.h"

#if __has_include(<viommu/vtd.h>)
#include <viommu/vtd.h>
#define VIOMMU_HAVE_VTD 1
#endif

#define VTD_GLUE_PAGE 0xfffULL

/* One QEMU IOMMU notifier set on one device, fed from a viommu listener. */
typedef struct ViommuVtdNotifier {
#ifdef VIOMMU_HAVE_VTD
    struct viommu_iommu_listener iotlb;     /* MAP | UNMAP, aligned 2^n blocks */
    struct viommu_iommu_listener devtlb;    /* DEVIOTLB_UNMAP, any range */
#endif
    bool has_iotlb, has_devtlb;
    IOMMUMemoryRegion *mr;
    uint16_t sid;
    struct ViommuVtd *g;
} ViommuVtdNotifier;

typedef struct ViommuVtd {
    IntelIOMMUState *s;
    int mode;
    ViommuGlueCounts counts;
#ifdef VIOMMU_HAVE_VTD
    struct viommu_vtd *v;
#endif
    GHashTable *notifiers;                  /* sid -> ViommuVtdNotifier */
    uint64_t events_out[4];                 /* MAP, UNMAP, CHANGE, DEVIOTLB to QEMU notifiers */
    Notifier machine_done;
} ViommuVtd;

bool viommu_vtd_replaces(struct ViommuVtd *g)
{
    return g && g->mode == VIOMMU_GLUE_REPLACE;
}

#ifdef VIOMMU_HAVE_VTD
static int glue_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    MemTxResult r = address_space_rw(&address_space_memory, gpa, MEMTXATTRS_UNSPECIFIED, buf, len, false);

    return r == MEMTX_OK ? 0 : -EFAULT;
}

static int glue_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    ViommuVtd *g = ctx;
    MemTxResult r;

    if (g->mode != VIOMMU_GLUE_REPLACE) {
        return 0;   /* shadow: QEMU's model writes the guest's memory */
    }
    r = address_space_rw(&address_space_memory, gpa, MEMTXATTRS_UNSPECIFIED, (void *)buf, len, true);
    return r == MEMTX_OK ? 0 : -EFAULT;
}

static void glue_msi(void *ctx, uint64_t addr, uint32_t data)
{
    ViommuVtd *g = ctx;

    if (g->mode != VIOMMU_GLUE_REPLACE) {
        return;     /* shadow: QEMU's model raises the guest's interrupts */
    }
    address_space_stl_le(&address_space_memory, addr, data, MEMTXATTRS_UNSPECIFIED, NULL);
}

static void vtd_extra(void *opaque, GString *l)
{
    ViommuVtd *g = opaque;
    struct viommu_vtd_stats st = { .sz = sizeof(st) };

    g_string_append_printf(l, " out_map=%" PRIu64 " out_unmap=%" PRIu64 " out_deviotlb=%" PRIu64,
                           g->events_out[0], g->events_out[1], g->events_out[3]);
    if (!g->v || viommu_vtd_get_stats(g->v, &st)) {
        return;
    }
    g_string_append_printf(l, " descriptors=%" PRIu64 " waits=%" PRIu64 " ctx_inv=%" PRIu64
                           " iotlb_inv=%" PRIu64 " devtlb_inv=%" PRIu64 " syncs=%" PRIu64
                           " faults=%" PRIu64 " faults_recorded=%" PRIu64 " iotlb_hits=%" PRIu64
                           " walks=%" PRIu64 " queue_errors=%" PRIu64 " sync_errors=%" PRIu64,
                           st.descriptors, st.waits, st.ctx_invalidations, st.iotlb_invalidations,
                           st.devtlb_invalidations, st.syncs, st.faults, st.faults_recorded,
                           st.iotlb_hits, st.walks, st.queue_errors, st.sync_errors);
}
#else
static void vtd_extra(void *opaque, GString *l)
{
}
#endif

/* Every device behind the unit gets the probe notifiers once the machine is built. */
static void vtd_glue_machine_done(Notifier *n, void *data)
{
    ViommuVtd *g = container_of(n, ViommuVtd, machine_done);
    X86IOMMUState *x86 = X86_IOMMU_DEVICE(g->s);
    GHashTableIter it;
    gpointer key, value;
    PCMachineState *pcms = PC_MACHINE(object_dynamic_cast(qdev_get_machine(), TYPE_PC_MACHINE));
    GPtrArray *as = g_ptr_array_new();

    viommu_glue_create_address_spaces(pcms ? pcms->pcibus : NULL);
    g_hash_table_iter_init(&it, g->s->vtd_address_spaces);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        VTDAddressSpace *vtd_as = value;

        if (vtd_as->pasid == PCI_NO_PASID && vtd_as->devfn != Q35_PSEUDO_DEVFN_IOAPIC &&
            pci_find_device(vtd_as->bus, pci_bus_num(vtd_as->bus), vtd_as->devfn)) {
            g_ptr_array_add(as, vtd_as);
        }
    }
    /* registering changes the hash table's users, not the table: still iterate a copy */
    for (guint i = 0; i < as->len; i++) {
        VTDAddressSpace *vtd_as = g_ptr_array_index(as, i);

        viommu_glue_probe(&g->counts, &vtd_as->iommu, g->s->caching_mode, x86->dt_supported);
    }
    g_ptr_array_free(as, true);
}

void viommu_vtd_realize_hook(IntelIOMMUState *s, Error **errp)
{
    X86IOMMUState *x86 = X86_IOMMU_DEVICE(s);
    ViommuVtd *g;
    int mode = viommu_glue_parse_mode(s->viommu_mode, errp);

    if (mode < 0) {
        return;     /* no property (-1) or a bad one (errp set) */
    }
    if (mode != VIOMMU_GLUE_OFF && x86_iommu_ir_supported(x86)) {
        error_setg(errp, "viommu=%s: viommu's VT-d has no interrupt remapping; use intremap=off",
                   s->viommu_mode);
        return;
    }
    if (mode != VIOMMU_GLUE_OFF && (s->scalable_mode || s->pasid || s->snoop_control)) {
        error_setg(errp, "viommu=%s: scalable mode, PASID and snoop control are not modelled",
                   s->viommu_mode);
        return;
    }
#ifndef VIOMMU_HAVE_VTD
    if (mode != VIOMMU_GLUE_OFF) {
        error_setg(errp, "viommu=%s: this libviommu has no VT-d model (include/viommu/vtd.h)",
                   s->viommu_mode);
        return;
    }
#endif
    g = g_new0(ViommuVtd, 1);
    g->s = s;
    g->mode = mode;
    g->notifiers = g_hash_table_new_full(NULL, NULL, NULL, g_free);
#ifdef VIOMMU_HAVE_VTD
    if (mode != VIOMMU_GLUE_OFF) {
        struct viommu_vtd_opts o = {
            .sz = sizeof(o),
            .read = glue_read,
            .write = glue_write,
            .msi = glue_msi,
            .ctx = g,
            .aw_bits = s->aw_bits,
            .caching_mode = s->caching_mode,
            .device_iotlb = x86->dt_supported,
            .no_intremap = true,
        };

        g->v = viommu_vtd_new(&o);
        if (!g->v) {
            error_setg_errno(errp, errno, "viommu=%s: viommu_vtd_new", s->viommu_mode);
            g_hash_table_destroy(g->notifiers);
            g_free(g);
            return;
        }
    }
#endif
    viommu_glue_counts_init(&g->counts, "intel-iommu", mode, vtd_extra, g);
    g->machine_done.notify = vtd_glue_machine_done;
    qemu_add_machine_init_done_notifier(&g->machine_done);
    s->viommu = g;
}

void viommu_vtd_reset_hook(struct ViommuVtd *g)
{
#ifdef VIOMMU_HAVE_VTD
    if (g && g->v) {
        int r = viommu_vtd_reset(g->v);

        if (r) {
            error_report("viommu: viommu_vtd_reset: %s", strerror(-r));
        }
    }
#endif
}

bool viommu_vtd_mmio_read_hook(struct ViommuVtd *g, hwaddr addr, unsigned size, uint64_t *val)
{
    if (!g) {
        return false;
    }
    g->counts.mmio_reads++;
#ifdef VIOMMU_HAVE_VTD
    if (g->mode == VIOMMU_GLUE_REPLACE) {
        int r = viommu_vtd_mmio_read(g->v, addr, size, val);

        if (r) {
            error_report_once("viommu: register read 0x%" HWADDR_PRIx "/%u: %s", addr, size, strerror(-r));
            *val = 0;
        }
        return true;
    }
#endif
    return false;
}

bool viommu_vtd_mmio_write_hook(struct ViommuVtd *g, hwaddr addr, uint64_t val, unsigned size)
{
    if (!g) {
        return false;
    }
    g->counts.mmio_writes++;
#ifdef VIOMMU_HAVE_VTD
    if (g->v) {
        int r = viommu_vtd_mmio_write(g->v, addr, size, val);

        if (r) {
            error_report_once("viommu: register write 0x%" HWADDR_PRIx "/%u = 0x%" PRIx64 ": %s",
                              addr, size, val, strerror(-r));
        }
        return g->mode == VIOMMU_GLUE_REPLACE;
    }
#endif
    return false;
}

#ifdef VIOMMU_HAVE_VTD
/* viommu's answer for one access as QEMU's IOMMUTLBEntry of the 4 KiB page. */
static void vtd_answer(ViommuVtd *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag, IOMMUTLBEntry *e,
                       int *err)
{
    struct viommu_vtd_xlat x;
    unsigned access = viommu_glue_perm(flag) ? viommu_glue_perm(flag) : VIOMMU_PERM_READ;
    hwaddr page = addr & ~VTD_GLUE_PAGE;
    int r = viommu_vtd_translate(g->v, sid, addr, access, 0, &x);

    *e = (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = page,
        .addr_mask = VTD_GLUE_PAGE,
        .perm = IOMMU_NONE,
    };
    *err = r;
    if (r) {
        return;
    }
    if (x.kind == VIOMMU_VTD_XLAT_INTERRUPT) {
        e->translated_addr = page;
        e->perm = IOMMU_RW;
        return;
    }
    e->translated_addr = x.out + (page - x.first);
    e->perm = viommu_glue_flags(x.perm);
}
#endif

bool viommu_vtd_translate_hook(struct ViommuVtd *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
                               IOMMUTLBEntry *out)
{
    if (!g || g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
#ifdef VIOMMU_HAVE_VTD
    int err;

    g->counts.translations++;
    vtd_answer(g, sid, addr, flag, out, &err);
    if (out->perm == IOMMU_NONE) {
        g->counts.blocked++;
    }
    return true;
#else
    return false;
#endif
}

void viommu_vtd_compare_hook(struct ViommuVtd *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
                             const IOMMUTLBEntry *q)
{
    if (!g) {
        return;
    }
    g->counts.translations++;
    if (q->perm == IOMMU_NONE) {
        g->counts.blocked++;
    }
#ifdef VIOMMU_HAVE_VTD
    if (g->mode == VIOMMU_GLUE_SHADOW) {
        IOMMUTLBEntry v;
        int err;
        hwaddr qpage = (q->translated_addr & ~q->addr_mask) | (addr & q->addr_mask & ~VTD_GLUE_PAGE);

        vtd_answer(g, sid, addr, flag, &v, &err);
        g->counts.compared++;
        /* A blocked access compares by itself; a granted one by page and permission. */
        if ((q->perm == IOMMU_NONE) != (v.perm == IOMMU_NONE) ||
            (q->perm != IOMMU_NONE && (qpage != v.translated_addr || q->perm != v.perm))) {
            viommu_glue_mismatch(&g->counts,
                                 "sid %04x iova 0x%" HWADDR_PRIx " access %s: qemu 0x%" HWADDR_PRIx
                                 " perm %d, viommu 0x%" HWADDR_PRIx " perm %d (%s)",
                                 sid, addr, flag & IOMMU_WO ? "write" : "read", qpage, q->perm,
                                 v.translated_addr, v.perm, err ? strerror(-err) : "ok");
        }
    }
#endif
}

#ifdef VIOMMU_HAVE_VTD
static void vtd_notify_iotlb(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
    ViommuVtdNotifier *vn = l->opaque;

    if (ev->kind == VIOMMU_IOMMU_EV_MAP) {
        vn->g->events_out[0]++;
        viommu_glue_forward(vn->mr, IOMMU_NOTIFIER_MAP, ev);
    } else if (ev->kind == VIOMMU_IOMMU_EV_UNMAP) {
        vn->g->events_out[1]++;
        viommu_glue_forward(vn->mr, IOMMU_NOTIFIER_UNMAP, ev);
    }
}

static void vtd_notify_devtlb(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
    ViommuVtdNotifier *vn = l->opaque;

    vn->g->events_out[3]++;
    viommu_glue_forward(vn->mr, IOMMU_NOTIFIER_DEVIOTLB_UNMAP, ev);
}

static void vtd_listener_init(struct viommu_iommu_listener *l, unsigned kinds, unsigned caps,
                              viommu_iommu_notify_fn fn, void *opaque)
{
    *l = (struct viommu_iommu_listener) {
        .sz = sizeof(*l),
        .first = 0,
        .last = UINT64_MAX,
        .kinds = kinds,
        .caps = caps,
        .notify = fn,
        .opaque = opaque,
    };
}
#endif

bool viommu_vtd_notify_flag_changed_hook(struct ViommuVtd *g, uint16_t sid, IOMMUMemoryRegion *mr,
                                         IOMMUNotifierFlag old, IOMMUNotifierFlag new_flags, Error **errp,
                                         int *ret)
{
    if (!g || g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
#ifdef VIOMMU_HAVE_VTD
    ViommuVtdNotifier *vn = g_hash_table_lookup(g->notifiers, GUINT_TO_POINTER(sid));
    bool want_iotlb = new_flags & IOMMU_NOTIFIER_IOTLB_EVENTS;
    bool want_devtlb = new_flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP;
    int r = 0;

    if (!vn) {
        vn = g_new0(ViommuVtdNotifier, 1);
        vn->g = g;
        vn->sid = sid;
        g_hash_table_insert(g->notifiers, GUINT_TO_POINTER(sid), vn);
    }
    vn->mr = mr;
    /*
     * QEMU's notifiers take what the guest invalidated: IOTLB events as
     * aligned 2^n blocks (VFIO maps and unmaps them one by one), device-TLB
     * invalidations with any range (vhost's IOTLB takes any).
     */
    if (want_iotlb && !vn->has_iotlb) {
        vtd_listener_init(&vn->iotlb, VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP, 0, vtd_notify_iotlb, vn);
        r = viommu_vtd_listener_register(g->v, sid, &vn->iotlb);
        if (r) {
            error_setg_errno(errp, -r, "viommu: device %04x: IOTLB listener refused%s", sid,
                             g->s->caching_mode ? "" : " (needs caching-mode=on)");
            *ret = r;
            return true;
        }
        vn->has_iotlb = true;
    } else if (!want_iotlb && vn->has_iotlb) {
        viommu_vtd_listener_unregister(g->v, sid, &vn->iotlb);
        vn->has_iotlb = false;
    }
    if (want_devtlb && !vn->has_devtlb) {
        vtd_listener_init(&vn->devtlb, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, VIOMMU_IOMMU_CAP_ARBITRARY,
                          vtd_notify_devtlb, vn);
        r = viommu_vtd_listener_register(g->v, sid, &vn->devtlb);
        if (r) {
            error_setg_errno(errp, -r, "viommu: device %04x: device-TLB listener refused%s", sid,
                             X86_IOMMU_DEVICE(g->s)->dt_supported ? "" : " (needs device-iotlb=on)");
            *ret = r;
            return true;
        }
        vn->has_devtlb = true;
    } else if (!want_devtlb && vn->has_devtlb) {
        viommu_vtd_listener_unregister(g->v, sid, &vn->devtlb);
        vn->has_devtlb = false;
    }
    *ret = 0;
    return true;
#else
    return false;
#endif
}

#ifdef VIOMMU_HAVE_VTD
typedef struct ViommuVtdReplay {
    struct viommu_iommu_listener l;
    IOMMUNotifier *n;
} ViommuVtdReplay;

static void vtd_replay_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
    ViommuVtdReplay *rp = l->opaque;

    viommu_glue_forward_one(rp->n, IOMMU_NOTIFIER_MAP, ev);
}
#endif

bool viommu_vtd_replay_hook(struct ViommuVtd *g, uint16_t sid, IOMMUNotifier *n)
{
    if (!g || g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
#ifdef VIOMMU_HAVE_VTD
    /* Replay = what a new MAP listener is told on registration, in aligned blocks. */
    if (n->notifier_flags & IOMMU_NOTIFIER_MAP) {
        ViommuVtdReplay rp = { .n = n };
        int r;

        vtd_listener_init(&rp.l, VIOMMU_IOMMU_EV_MAP, 0, vtd_replay_notify, &rp);
        rp.l.first = n->start;
        rp.l.last = n->end;
        r = viommu_vtd_listener_register(g->v, sid, &rp.l);
        if (r) {
            error_report("viommu: device %04x: replay refused: %s", sid, strerror(-r));
        } else {
            viommu_vtd_listener_unregister(g->v, sid, &rp.l);
        }
    }
    return true;
#else
    return false;
#endif
}
