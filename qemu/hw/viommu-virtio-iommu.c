/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * viommu integration: QEMU's virtio-iommu device backed by libviommu's
 * virtio-iommu (include/viommu/virtio_iommu.h). See viommu-qemu.h for the
 * modes and docs/design.md, "QEMU integration".
 *
 * What the glue maps:
 *   request virtqueue elements      -> viommu_virtio_iommu_handle_request
 *                                      (QEMU's virtqueue code pops and
 *                                      pushes; the iovecs are QEMU's
 *                                      mappings of guest memory)
 *   config space, features, status  -> config_read / config_write (bypass
 *                                      byte) / features / set_features
 *   IOMMUMemoryRegionClass.translate -> viommu_virtio_iommu_translate
 *   QEMU IOMMU notifiers            -> listeners on the endpoint's IOMMU
 *                                      address space (arbitrary ranges, as
 *                                      QEMU's own model sends one event per
 *                                      mapping)
 *   faults                          -> QEMU's event queue (replace mode)
 * Endpoints are the PCI requester ids QEMU computes at the time of the
 * request (virtio_iommu_get_bdf), declared to viommu before each request.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "exec/address-spaces.h"
#include "system/system.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-iommu.h"
#include "standard-headers/linux/virtio_ids.h"
#include "hw/viommu/viommu-qemu.h"
#include "hw/viommu/viommu-common.h"

#include <viommu/virtio_iommu.h>
#include <viommu/iommu.h>

#define GLUE_CONFIG_SIZE VIOMMU_VIRTIO_IOMMU_CONFIG_SIZE
#define GLUE_BYPASS_OFF 36
/* The device-specific feature bits (virtio spec: 0..23). */
#define GLUE_DEV_FEATURES ((UINT64_C(1) << 24) - 1)

typedef struct ViommuVirtioNotifier {
    struct viommu_iommu_listener l;
    bool registered;
    IOMMUMemoryRegion *mr;
    struct ViommuVirtio *g;
} ViommuVirtioNotifier;

typedef struct ViommuVirtio {
    VirtIOIOMMU *s;
    int mode;
    ViommuGlueCounts counts;
    struct viommu_virtio_iommu *v;
    GHashTable *endpoints;                  /* requester ids declared to viommu */
    GHashTable *notifiers;                  /* sid -> ViommuVirtioNotifier */
    uint64_t events_out[2];                 /* MAP, UNMAP to QEMU notifiers */
    uint64_t faults, faults_pushed;
    Notifier machine_done;
} ViommuVirtio;

bool viommu_virtio_replaces(struct ViommuVirtio *g)
{
    return g && g->mode == VIOMMU_GLUE_REPLACE;
}

static int glue_fault(void *ctx, const struct viommu_virtio_iommu_fault *f)
{
    ViommuVirtio *g = ctx;

    g->faults++;
    if (g->faults <= 8) {
        error_report("viommu virtio-iommu: fault %" PRIu64 ": endpoint %04x address 0x%" PRIx64
                     " reason %u flags 0x%x", g->faults, f->endpoint, f->address, f->reason, f->flags);
    }
    if (g->mode == VIOMMU_GLUE_REPLACE) {
        /* shadow: QEMU's model reports its own faults */
        virtio_iommu_viommu_report_fault(g->s, f->reason, f->flags, f->endpoint, f->address);
        g->faults_pushed++;
    }
    return 0;
}

static void virtio_extra(void *opaque, GString *l)
{
    ViommuVirtio *g = opaque;
    struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

    g_string_append_printf(l, " out_map=%" PRIu64 " out_unmap=%" PRIu64 " faults=%" PRIu64
                           " faults_pushed=%" PRIu64,
                           g->events_out[0], g->events_out[1], g->faults, g->faults_pushed);
    if (!g->v || viommu_virtio_iommu_get_stats(g->v, &st)) {
        return;
    }
    g_string_append_printf(l, " v_requests=%" PRIu64 " v_ok=%" PRIu64 " v_inval=%" PRIu64 " v_range=%" PRIu64
                           " v_noent=%" PRIu64 " v_unwritten=%" PRIu64 " v_faults=%" PRIu64
                           " v_mappings=%" PRIu64,
                           st.requests, st.status[VIOMMU_VIRTIO_IOMMU_S_OK],
                           st.status[VIOMMU_VIRTIO_IOMMU_S_INVAL], st.status[VIOMMU_VIRTIO_IOMMU_S_RANGE],
                           st.status[VIOMMU_VIRTIO_IOMMU_S_NOENT], st.unwritten, st.faults, st.mappings);
}

/* Declare every device behind the IOMMU under its current requester id. */
static void virtio_glue_declare(ViommuVirtio *g)
{
    GHashTableIter it;
    gpointer key, value;

    if (!g->v) {
        return;
    }
    g_hash_table_iter_init(&it, g->s->as_by_busptr);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        IOMMUPciBus *pb = value;

        for (int devfn = 0; devfn < PCI_DEVFN_MAX; devfn++) {
            IOMMUDevice *sdev = pb->pbdev[devfn];
            uint32_t id;
            int r;

            if (!sdev) {
                continue;
            }
            id = PCI_BUILD_BDF(pci_bus_num(sdev->bus), sdev->devfn);
            if (g_hash_table_contains(g->endpoints, GUINT_TO_POINTER(id))) {
                continue;
            }
            r = viommu_virtio_iommu_add_endpoint(g->v, id, NULL);
            if (r && r != -EEXIST) {
                error_report("viommu: endpoint %04x: %s", id, strerror(-r));
                continue;
            }
            g_hash_table_add(g->endpoints, GUINT_TO_POINTER(id));
        }
    }
}

static void virtio_glue_machine_done(Notifier *n, void *data)
{
    ViommuVirtio *g = container_of(n, ViommuVirtio, machine_done);
    GHashTableIter it;
    gpointer key, value;

    viommu_glue_create_address_spaces(g->s->primary_bus);
    virtio_glue_declare(g);
    g_hash_table_iter_init(&it, g->s->as_by_busptr);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        IOMMUPciBus *pb = value;

        for (int devfn = 0; devfn < PCI_DEVFN_MAX; devfn++) {
            if (pb->pbdev[devfn] && pci_find_device(pb->bus, pci_bus_num(pb->bus), devfn)) {
                viommu_glue_probe(&g->counts, &pb->pbdev[devfn]->iommu_mr, true, false);
            }
        }
    }
}

void viommu_virtio_realize_hook(VirtIOIOMMU *s, Error **errp)
{
    ViommuVirtio *g;
    int mode = viommu_glue_parse_mode(s->viommu_mode, errp);

    if (mode < 0) {
        return;
    }
    g = g_new0(ViommuVirtio, 1);
    g->s = s;
    g->mode = mode;
    g->endpoints = g_hash_table_new(NULL, NULL);
    g->notifiers = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    if (mode != VIOMMU_GLUE_OFF) {
        g_autofree struct viommu_virtio_iommu_resv *resv =
            g_new0(struct viommu_virtio_iommu_resv, s->nr_prop_resv_regions + 1);
        struct viommu_virtio_iommu_opts o = {
            .sz = sizeof(o),
            .features = s->features & GLUE_DEV_FEATURES,
            .page_size_mask = s->config.page_size_mask,
            .input_first = s->config.input_range.start,
            .input_last = s->config.input_range.end,
            .domain_first = s->config.domain_range.start,
            .domain_last = s->config.domain_range.end,
            .probe_size = s->config.probe_size,
            .boot_bypass = s->boot_bypass,
            .resv = resv,
            .nresv = s->nr_prop_resv_regions,
            .event = glue_fault,
            .event_ctx = g,
        };

        for (uint32_t i = 0; i < s->nr_prop_resv_regions; i++) {
            resv[i].first = range_lob(&s->prop_resv_regions[i].range);
            resv[i].last = range_upb(&s->prop_resv_regions[i].range);
            resv[i].subtype = s->prop_resv_regions[i].type;
        }
        g->v = viommu_virtio_iommu_new(&o);
        if (!g->v) {
            error_setg_errno(errp, errno, "viommu=%s: viommu_virtio_iommu_new", s->viommu_mode);
            g_hash_table_destroy(g->endpoints);
            g_hash_table_destroy(g->notifiers);
            g_free(g);
            return;
        }
    }
    viommu_glue_counts_init(&g->counts, "virtio-iommu", mode, virtio_extra, g);
    g->machine_done.notify = virtio_glue_machine_done;
    qemu_add_machine_init_done_notifier(&g->machine_done);
    s->viommu_glue = g;
}

void viommu_virtio_reset_hook(struct ViommuVirtio *g, bool system)
{
    if (g && g->v) {
        viommu_virtio_iommu_reset(g->v, system);
    }
}

void viommu_virtio_add_device_hook(struct ViommuVirtio *g, PCIBus *bus, int devfn)
{
    /* bus numbers are not final yet: endpoints are declared per request */
}

bool viommu_virtio_request_hook(struct ViommuVirtio *g, VirtQueueElement *elem, size_t *used)
{
    uint32_t len = 0;
    int r;

    if (!g) {
        return false;
    }
    g->counts.requests++;
    if (g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
    virtio_glue_declare(g);
    r = viommu_virtio_iommu_handle_request(g->v, elem->out_sg, elem->out_num, elem->in_sg, elem->in_num, &len);
    if (r) {
        error_report_once("viommu: request refused: %s", strerror(-r));
    }
    *used = len;
    return true;
}

void viommu_virtio_compare_request_hook(struct ViommuVirtio *g, VirtQueueElement *elem, size_t used)
{
    size_t cap;
    g_autofree uint8_t *mine = NULL, *theirs = NULL;
    struct iovec wr;
    uint32_t len = 0;
    int r;

    if (!g || g->mode != VIOMMU_GLUE_SHADOW) {
        return;
    }
    virtio_glue_declare(g);
    cap = iov_size(elem->in_sg, elem->in_num);
    mine = g_malloc0(cap ? cap : 1);
    theirs = g_malloc0(cap ? cap : 1);
    wr = (struct iovec) { .iov_base = mine, .iov_len = cap };
    r = viommu_virtio_iommu_handle_request(g->v, elem->out_sg, elem->out_num, &wr, 1, &len);
    iov_to_buf(elem->in_sg, elem->in_num, 0, theirs, used);
    g->counts.compared++;
    if (r || len != used || memcmp(mine, theirs, used)) {
        uint8_t type = 0;

        iov_to_buf(elem->out_sg, elem->out_num, 0, &type, 1);
        viommu_glue_mismatch(&g->counts, "request type %u (%zu bytes out): qemu used %zu status %u, "
                             "viommu used %u status %u (%s)", type, iov_size(elem->out_sg, elem->out_num),
                             used, used >= 4 ? theirs[used - 4] : 0, len,
                             len >= 4 ? mine[len - 4] : 0, r ? strerror(-r) : "ok");
    }
}

void viommu_virtio_get_config_hook(struct ViommuVirtio *g, uint8_t *config)
{
    uint8_t mine[GLUE_CONFIG_SIZE];

    if (!g || !g->v || viommu_virtio_iommu_config_read(g->v, 0, mine, sizeof(mine))) {
        return;
    }
    if (g->mode == VIOMMU_GLUE_REPLACE) {
        memcpy(config, mine, sizeof(mine));
        return;
    }
    g->counts.compared++;
    if (memcmp(config, mine, sizeof(mine))) {
        viommu_glue_mismatch(&g->counts, "config space differs (bypass qemu %u viommu %u)",
                             config[GLUE_BYPASS_OFF], mine[GLUE_BYPASS_OFF]);
    }
}

bool viommu_virtio_set_config_hook(struct ViommuVirtio *g, const uint8_t *config)
{
    uint8_t cur;
    int r;

    if (!g || !g->v) {
        return false;
    }
    /* virtio-pci hands the whole structure: only the bypass byte is writable */
    if (!viommu_virtio_iommu_config_read(g->v, GLUE_BYPASS_OFF, &cur, 1) && cur != config[GLUE_BYPASS_OFF]) {
        r = viommu_virtio_iommu_config_write(g->v, GLUE_BYPASS_OFF, &config[GLUE_BYPASS_OFF], 1);
        if (r && g->mode == VIOMMU_GLUE_REPLACE) {
            virtio_error(VIRTIO_DEVICE(g->s), "cannot set config.bypass: %s", strerror(-r));
        }
    }
    /* replace: translations already go through viommu whatever the bypass state */
    return g->mode == VIOMMU_GLUE_REPLACE;
}

uint64_t viommu_virtio_get_features_hook(struct ViommuVirtio *g, uint64_t f)
{
    uint64_t mine;

    if (!g || !g->v) {
        return f;
    }
    mine = viommu_virtio_iommu_features(g->v);
    if (g->mode == VIOMMU_GLUE_REPLACE) {
        return (f & ~GLUE_DEV_FEATURES) | mine;
    }
    g->counts.compared++;
    if ((f & GLUE_DEV_FEATURES) != mine) {
        viommu_glue_mismatch(&g->counts, "features qemu 0x%" PRIx64 " viommu 0x%" PRIx64,
                             f & GLUE_DEV_FEATURES, mine);
    }
    return f;
}

void viommu_virtio_set_status_hook(struct ViommuVirtio *g, VirtIODevice *vdev, uint8_t status)
{
    if (!g || !g->v || !(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
        return;
    }
    int r = viommu_virtio_iommu_set_features(g->v, vdev->guest_features & GLUE_DEV_FEATURES);

    if (r) {
        error_report_once("viommu: set_features 0x%" PRIx64 ": %s", vdev->guest_features, strerror(-r));
    }
}

/* viommu's answer in the shape of QEMU's own (virtio_iommu_translate). */
static void virtio_answer(ViommuVirtio *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag, IOMMUTLBEntry *e,
                          int *err)
{
    struct viommu_virtio_iommu_xlat x;
    unsigned perm = viommu_glue_perm(flag) ? viommu_glue_perm(flag) : VIOMMU_PERM_READ;
    int r;

    /* a device whose address space QEMU created after the last declaration */
    if (!g_hash_table_contains(g->endpoints, GUINT_TO_POINTER(sid))) {
        virtio_glue_declare(g);
    }
    r = viommu_virtio_iommu_translate(g->v, sid, addr, perm, &x, NULL);

    *e = (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr,
        .translated_addr = addr,
        .addr_mask = (g->s->config.page_size_mask & -g->s->config.page_size_mask) - 1,
        .perm = IOMMU_NONE,
    };
    *err = r;
    if (r) {
        return;
    }
    if (x.kind == VIOMMU_VIRTIO_IOMMU_XLAT_MAPPED) {
        e->translated_addr = x.out + (addr - x.first);
    }
    e->perm = flag;
}

bool viommu_virtio_translate_hook(struct ViommuVirtio *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
                                  IOMMUTLBEntry *out)
{
    int err;

    if (!g || g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
    g->counts.translations++;
    virtio_answer(g, sid, addr, flag, out, &err);
    if (err) {
        g->counts.blocked++;
    }
    return true;
}

void viommu_virtio_compare_hook(struct ViommuVirtio *g, uint16_t sid, hwaddr addr, IOMMUAccessFlags flag,
                                const IOMMUTLBEntry *q)
{
    IOMMUTLBEntry v;
    int err;
    bool qblocked;

    if (!g) {
        return;
    }
    g->counts.translations++;
    /* QEMU answers a blocked access with perm NONE; with flag NONE it cannot be told apart */
    qblocked = q->perm == IOMMU_NONE && flag != IOMMU_NONE;
    if (qblocked) {
        g->counts.blocked++;
    }
    if (g->mode != VIOMMU_GLUE_SHADOW) {
        return;
    }
    virtio_answer(g, sid, addr, flag, &v, &err);
    g->counts.compared++;
    if (flag == IOMMU_NONE) {
        return;     /* nothing asked, nothing to compare */
    }
    if (qblocked != !!err || (!qblocked && (q->translated_addr != v.translated_addr || q->perm != v.perm))) {
        viommu_glue_mismatch(&g->counts,
                             "sid %04x iova 0x%" HWADDR_PRIx " access %d: qemu 0x%" HWADDR_PRIx
                             " perm %d, viommu 0x%" HWADDR_PRIx " perm %d (%s)",
                             sid, addr, flag, q->translated_addr, q->perm, v.translated_addr, v.perm,
                             err ? strerror(-err) : "ok");
    }
}

static void glue_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
    ViommuVirtioNotifier *vn = l->opaque;
    bool map = ev->kind == VIOMMU_IOMMU_EV_MAP;

    vn->g->events_out[map ? 0 : 1]++;
    viommu_glue_forward(vn->mr, map ? IOMMU_NOTIFIER_MAP : IOMMU_NOTIFIER_UNMAP, ev);
}

bool viommu_virtio_notify_flag_changed_hook(struct ViommuVirtio *g, uint16_t sid, IOMMUMemoryRegion *mr,
                                            IOMMUNotifierFlag old, IOMMUNotifierFlag new_flags, Error **errp,
                                            int *ret)
{
    ViommuVirtioNotifier *vn;
    struct viommu_iommu_as *ias;
    bool want = new_flags & IOMMU_NOTIFIER_IOTLB_EVENTS;

    if (!g || g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
    if (new_flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) {
        /* as QEMU's own model: virtio-iommu has no device-TLB */
        error_setg(errp, "Virtio-iommu does not support dev-iotlb yet");
        *ret = -EINVAL;
        return true;
    }
    virtio_glue_declare(g);
    vn = g_hash_table_lookup(g->notifiers, GUINT_TO_POINTER(sid));
    if (!vn) {
        vn = g_new0(ViommuVirtioNotifier, 1);
        vn->g = g;
        g_hash_table_insert(g->notifiers, GUINT_TO_POINTER(sid), vn);
    }
    vn->mr = mr;
    *ret = 0;
    ias = viommu_virtio_iommu_endpoint_as(g->v, sid);
    if (!ias) {
        error_setg_errno(errp, errno, "viommu: endpoint %04x has no address space", sid);
        *ret = -errno;
        return true;
    }
    if (want && !vn->registered) {
        vn->l = (struct viommu_iommu_listener) {
            .sz = sizeof(vn->l),
            .first = 0,
            .last = UINT64_MAX,
            .kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP,
            .caps = VIOMMU_IOMMU_CAP_ARBITRARY,
            .notify = glue_notify,
            .opaque = vn,
        };
        *ret = viommu_iommu_listener_register(ias, &vn->l);
        if (*ret) {
            error_setg_errno(errp, -*ret, "viommu: endpoint %04x: listener refused", sid);
            return true;
        }
        vn->registered = true;
    } else if (!want && vn->registered) {
        viommu_iommu_listener_unregister(ias, &vn->l);
        vn->registered = false;
    }
    return true;
}

typedef struct ViommuVirtioReplay {
    struct viommu_iommu_listener l;
    IOMMUNotifier *n;
} ViommuVirtioReplay;

static void virtio_replay_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
    ViommuVirtioReplay *rp = l->opaque;

    viommu_glue_forward_one(rp->n, IOMMU_NOTIFIER_MAP, ev);
}

bool viommu_virtio_replay_hook(struct ViommuVirtio *g, uint16_t sid, IOMMUNotifier *n)
{
    struct viommu_iommu_as *ias;
    ViommuVirtioReplay rp = { .n = n };

    if (!g || g->mode != VIOMMU_GLUE_REPLACE) {
        return false;
    }
    virtio_glue_declare(g);
    ias = viommu_virtio_iommu_endpoint_as(g->v, sid);
    if (!ias || !(n->notifier_flags & IOMMU_NOTIFIER_MAP)) {
        return true;
    }
    /* registration replays the current shadow: that is the replay */
    rp.l = (struct viommu_iommu_listener) {
        .sz = sizeof(rp.l),
        .first = n->start,
        .last = n->end,
        .kinds = VIOMMU_IOMMU_EV_MAP,
        .caps = VIOMMU_IOMMU_CAP_ARBITRARY,
        .notify = virtio_replay_notify,
        .opaque = &rp,
    };
    if (!viommu_iommu_listener_register(ias, &rp.l)) {
        viommu_iommu_listener_unregister(ias, &rp.l);
    }
    return true;
}
