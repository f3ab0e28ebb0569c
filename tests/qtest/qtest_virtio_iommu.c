// SPDX-License-Identifier: MIT
/*
 * viommu's virtio-iommu device against QEMU's virtio-iommu-pci (Debian's
 * qemu-system-x86 7.2), both driven by the same driver
 * (tests/qtest/virtio_iommu_drv.h) with the same bytes:
 *  1. config: QEMU's tests/qtest/virtio-iommu-test.c pci_config, the 40
 *     configuration bytes and the feature bits, byte for byte;
 *  2. the endpoint set (every devfn PROBEd) and PROBE answers, byte for byte;
 *  3. attach_detach and map_unmap of QEMU's virtio-iommu-test.c, in order;
 *  4. the spec's seven UNMAP examples at 4 KiB scale;
 *  5. every named deviation, directed (docs/design.md lists them);
 *  6. seeded random request streams, status by status and answer byte by
 *     answer byte, with edu DMA through the IOMMU at checkpoints: every
 *     mapping of the domain the edu endpoint is in, and unmapped pages,
 *     read by DMA on QEMU (data and fault events) and translated by viommu.
 * A mismatch is either one of the named deviations (recognised by its rule,
 * counted, and where it makes the two states differ, compensated with
 * ordinary requests so the comparison can go on) or a failure.
 */
#include "test.h"
#include "qtest/virtio_iommu_drv.h"

#define S(x) VIOMMU_VIRTIO_IOMMU_S_##x
#define T_(x) VIOMMU_VIRTIO_IOMMU_T_##x
#define RD VIOMMU_VIRTIO_IOMMU_MAP_F_READ
#define WR VIOMMU_VIRTIO_IOMMU_MAP_F_WRITE
#define EDU_DEVFN QT_DEVFN(3, 0)
#define EDU_EP 0x18u
#define EDU_BAR 0xe1000000ull
#define QEMU_DEVICES "-device virtio-iommu-pci,addr=04.0 -device edu,addr=03.0,dma_mask=0xffffffff"
#define PG 0x1000ull
#define PROBE_SIZE 512
#define WANT_FEATURES 0x7full

/* Guest-physical windows for the DMA checks (RAM is 256 MiB). */
#define IOVA_WIN 0x200000ull		/* random IOVAs: 64 pages from here (and the top of the space) */
#define PHYS_WIN 0x400000ull		/* random physical pages: 64 from here */
#define NWIN 64
#define SCRATCH_GPA 0x180000ull		/* where a probe's data is copied to */
#define SCRATCH_IOVA 0xc0000000ull

/* ---- the named deviations of QEMU 7.2 (docs/design.md, "virtio-iommu") ---- */
enum dev_kind {
	D_PARTIAL_UNMAP,	/* refused UNMAP: QEMU removed the mappings it passed before the split one */
	D_UNKNOWN_TYPE,		/* unknown request type: QEMU writes UNSUPP, the spec says leave it unwritten */
	D_REATTACH,		/* ATTACH to the endpoint's own domain: QEMU detaches first, losing a sole domain */
	D_BYPASS_FLAG,		/* ATTACH with an inconsistent bypass flag: QEMU detaches before refusing */
	D_DETACH_UNSEEN,	/* DETACH of an endpoint never attached since reset: QEMU NOENT, spec INVAL */
	D_UNALIGNED_MAP,	/* MAP not aligned to the granule QEMU advertises: QEMU accepts it */
	D_RESV_MAP,		/* MAP over a RESV_MEM region: QEMU accepts it */
	D_ATTACH_RESERVED,	/* ATTACH with a non-zero reserved field: QEMU ignores it */
	D_FAULT_FLAGS,		/* fault on an unmapped address: QEMU omits F_READ / F_WRITE */
	D_FAULT_UNSEEN,		/* fault of an endpoint never attached: QEMU reason UNKNOWN, spec DOMAIN */
	D_INVERTED_RANGE,	/* MAP or UNMAP with virt_start > virt_end: QEMU accepts it */
	D_SHORT_PROBE,		/* PROBE with a writable part < probe_size + 4: QEMU aborts */
	D_NO_TAIL,		/* a request without room for head or tail: QEMU marks the device broken */
	D_COUNT
};
static const char *const dev_names[D_COUNT] = {
	"partial-unmap", "unknown-type", "reattach-same-domain", "bypass-flag-detaches", "detach-unseen-endpoint",
	"unaligned-map", "map-over-resv-mem", "attach-reserved-ignored", "fault-flags", "fault-unseen-endpoint",
	"inverted-range", "short-probe-aborts", "no-tail-breaks-device",
};
static unsigned long dev_seen[D_COUNT];
static unsigned long compared, mismatches, dma_probes;

struct ans {
	int rc;			/* 0, or -EIO: the device kept the buffer */
	uint32_t used;
	uint8_t buf[PROBE_SIZE + 64];
};

struct pair {
	struct qtest *qt;
	struct vd_qemu qq;
	struct vd q;
	struct vd_viommu *vv;
	struct vd v;
	uint32_t eps[256];
	unsigned neps;
	bool seen[256];		/* endpoint attached since the last reset (QEMU knows it) */
};

static int status_of(const struct ans *a, size_t wrlen, unsigned type)
{
	if (a->rc || !a->used)
		return -1;
	if (type == T_(PROBE) && wrlen >= PROBE_SIZE + 4)
		return a->buf[PROBE_SIZE];
	return a->buf[0];
}

static void send(struct vd *d, const uint8_t *req, size_t n, size_t wrlen, struct ans *a)
{
	memset(a, 0, sizeof(*a));
	a->rc = vd_request(d, req, n, a->buf, wrlen, &a->used);
}

static bool same_answer(const struct ans *a, const struct ans *b, size_t wrlen)
{
	return a->rc == b->rc && a->used == b->used && memcmp(a->buf, b->buf, wrlen) == 0;
}

/* Send to both; true if the answers are identical. */
static bool both(struct pair *p, const uint8_t *req, size_t n, size_t wrlen, struct ans *aq, struct ans *av)
{
	send(&p->q, req, n, wrlen, aq);
	send(&p->v, req, n, wrlen, av);
	compared++;
	if (n >= 12 && req[0] == T_(ATTACH) && aq->used && !aq->buf[0])
		p->seen[m_get32(req + 8) & 0xff] = true;
	return same_answer(aq, av, wrlen);
}

/* A request both must answer alike (no deviation applies): returns the status. */
static int same(struct pair *p, const uint8_t *req, size_t n, const char *what)
{
	struct ans aq, av;
	bool ok = both(p, req, n, n && req[0] == T_(PROBE) ? PROBE_SIZE + 4 : 4, &aq, &av);

	if (!ok) {
		mismatches++;
		fprintf(stderr, "MISMATCH %s: QEMU used %u status %d, viommu used %u status %d\n", what, aq.used,
			status_of(&aq, 4, 0), av.used, status_of(&av, 4, 0));
	}
	T_OK(ok);
	return status_of(&av, PROBE_SIZE + 4, n ? req[0] : 0);
}

static int s_attach(struct pair *p, uint32_t dom, uint32_t ep)
{
	uint8_t b[20];

	enc_attach(b, T_(ATTACH), dom, ep, 0, 0);
	return same(p, b, 20, "attach");
}

static int s_detach(struct pair *p, uint32_t dom, uint32_t ep)
{
	uint8_t b[20];

	enc_attach(b, T_(DETACH), dom, ep, 0, 0);
	return same(p, b, 20, "detach");
}

static int s_map(struct pair *p, uint32_t dom, uint64_t first, uint64_t last, uint64_t phys, uint32_t flags)
{
	uint8_t b[36];

	enc_map(b, dom, first, last, phys, flags);
	return same(p, b, 36, "map");
}

static int s_unmap(struct pair *p, uint32_t dom, uint64_t first, uint64_t last)
{
	uint8_t b[28];

	enc_unmap(b, dom, first, last);
	return same(p, b, 28, "unmap");
}

/* A request to one device only (compensation, probing): its status. */
static int one(struct vd *d, const uint8_t *req, size_t n)
{
	struct ans a;

	send(d, req, n, 4, &a);
	return status_of(&a, 4, req[0]);
}

static int q_map(struct pair *p, uint32_t dom, uint64_t first, uint64_t last, uint64_t phys, uint32_t flags)
{
	uint8_t b[36];

	return one(&p->q, b, enc_map(b, dom, first, last, phys, flags));
}

static int q_unmap(struct pair *p, uint32_t dom, uint64_t first, uint64_t last)
{
	uint8_t b[28];

	return one(&p->q, b, enc_unmap(b, dom, first, last));
}

static int v_req(struct pair *p, const uint8_t *b, size_t n)
{
	return one(&p->v, b, n);
}

static void named(enum dev_kind k)
{
	dev_seen[k]++;
}

/* ---- the pair of devices ---- */

static const struct viommu_virtio_iommu_resv x86_msi = { 0xfee00000, 0xfeefffff,
							  VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI };

static struct viommu_virtio_iommu *viommu_like_qemu(uint64_t page_size_mask, const uint32_t *eps, unsigned neps,
						    struct vd_viommu *vv)
{
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .page_size_mask = page_size_mask, .boot_bypass = true,
					      .resv = &x86_msi, .nresv = 1, .event = vv_event, .event_ctx = vv };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);

	for (unsigned i = 0; d && i < neps; i++)
		if (viommu_virtio_iommu_add_endpoint(d, eps[i], NULL))
			T_FATAL("endpoint %#x", eps[i]);
	return d;
}

static bool pair_start(struct pair *p, uint64_t page_size_mask)
{
	memset(p, 0, sizeof(*p));
	p->qt = qt_start(QEMU_DEVICES);
	if (!p->qt)
		return false;
	p->qq.qt = p->qt;
	if (vd_qemu_find(&p->qq) || vd_qemu_init(&p->qq, &p->q, WANT_FEATURES) < 0)
		return false;
	p->vv = calloc(1, sizeof(*p->vv));
	/* The endpoint set: every devfn QEMU answers a PROBE for. */
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		uint8_t b[72];
		struct ans a;

		enc_probe(b, devfn);
		send(&p->q, b, 72, PROBE_SIZE + 4, &a);
		if (status_of(&a, PROBE_SIZE + 4, T_(PROBE)) == S(OK))
			p->eps[p->neps++] = devfn;
	}
	p->vv->dev = viommu_like_qemu(page_size_mask, p->eps, p->neps, p->vv);
	if (!p->vv->dev)
		return false;
	vd_viommu_init(p->vv, &p->v);
	qt_pci_map_bar(p->qt, EDU_DEVFN, 0, EDU_BAR);
	vd_post_events(&p->q, VD_EQSZ);
	vd_post_events(&p->v, VD_EQSZ);
	return qt_ok(p->qt);
}

static void pair_stop(struct pair *p)
{
	qt_quit(p->qt);
	if (p->vv)
		viommu_virtio_iommu_free(p->vv->dev);
	free(p->vv);
	p->qt = NULL;
	p->vv = NULL;
}

/* Reset both devices and set them up again (QEMU forgets every endpoint). */
static void pair_reset(struct pair *p)
{
	vd_qemu_init(&p->qq, &p->q, WANT_FEATURES);
	viommu_virtio_iommu_reset(p->vv->dev, false);
	vd_viommu_init(p->vv, &p->v);
	vd_post_events(&p->q, VD_EQSZ);
	vd_post_events(&p->v, VD_EQSZ);
	memset(p->seen, 0, sizeof(p->seen));
}

/* ---- viommu's state, for recognising deviations ---- */

static bool v_ep(struct pair *p, uint32_t ep, struct viommu_virtio_iommu_endpoint_state *st)
{
	return viommu_virtio_iommu_endpoint_state(p->vv->dev, ep, st) == 0;
}

static unsigned v_nep(struct pair *p, uint32_t dom)
{
	struct viommu_virtio_iommu_endpoint_state st;
	unsigned n = 0;

	for (unsigned i = 0; i < p->neps; i++)
		n += v_ep(p, p->eps[i], &st) && st.attached && st.domain == dom;
	return n;
}

struct mlist { struct viommu_virtio_iommu_mapping m[512]; unsigned n; };

static void add_m(void *ctx, const struct viommu_virtio_iommu_mapping *m)
{
	struct mlist *l = ctx;

	if (l->n < 512)
		l->m[l->n++] = *m;
}

/* Domain @dom's mappings (-1 if it does not exist). */
static long v_maps(struct pair *p, uint32_t dom, struct mlist *l)
{
	l->n = 0;
	return viommu_virtio_iommu_domain_mappings(p->vv->dev, dom, add_m, l);
}

/* Whether domain @dom exists in viommu, and if so whether it is a bypass domain. */
static bool v_dom(struct pair *p, uint32_t dom, bool *bypass)
{
	struct viommu_virtio_iommu_endpoint_state ts;
	struct mlist l;

	*bypass = false;
	if (v_maps(p, dom, &l) < 0)
		return false;
	for (unsigned i = 0; i < p->neps; i++)
		if (v_ep(p, p->eps[i], &ts) && ts.attached && ts.domain == dom)
			*bypass = ts.bypass;
	return true;
}

/*
 * One request to both, compared; a difference must be a named deviation,
 * recognised by its rule from viommu's state before the request, and the
 * states are brought together again where the deviation parted them.
 */
static void cmp(struct pair *p, const uint8_t *req, size_t n, size_t wrlen, const char *tag)
{
	struct viommu_virtio_iommu_endpoint_state es = { 0 };
	unsigned type = n ? req[0] : 0;
	uint32_t dom = n >= 8 ? m_get32(req + 4) : 0, ep = n >= 12 ? m_get32(req + 8) : 0;
	bool have_ep = (type == T_(ATTACH) || type == T_(DETACH)) && n >= 12 && v_ep(p, ep, &es);
	bool seen = ep < 256 && p->seen[ep];
	static struct mlist before;
	bool dom_bypass;
	long ndom = v_dom(p, dom, &dom_bypass) ? v_maps(p, dom, &before) : -1;
	struct ans aq, av;

	bool ok = both(p, req, n, wrlen, &aq, &av);
	int sq = status_of(&aq, wrlen, type), sv = status_of(&av, wrlen, type);

	if (getenv("VIOMMU_QTEST_TRACE"))
		fprintf(stderr, "%s: type %u n %zu dom %u f0 %#llx f1 %#llx ep/flags %#x fl %#x -> QEMU %d viommu %d\n", tag,
			type, n, dom, n >= 16 ? (unsigned long long)m_get64(req + 8) : 0,
			n >= 24 ? (unsigned long long)m_get64(req + 16) : 0, ep, n >= 16 ? m_get32(req + 12) : 0, sq, sv);

	if (type == T_(UNMAP) && ok && sv == S(RANGE) && n >= 28) {
		/* Both refused: did QEMU remove the mappings it passed first? Re-MAP each on QEMU to see. */
		uint64_t first = m_get64(req + 8), last = m_get64(req + 16);

		for (unsigned i = 0; i < before.n; i++) {
			const struct viommu_virtio_iommu_mapping *x = &before.m[i];

			if (x->first < first || x->last > last)
				continue;
			int r = q_map(p, dom, x->first, x->last, x->phys, x->flags);

			if (r == S(OK))
				named(D_PARTIAL_UNMAP);
			else
				T_EQ(r, S(INVAL));
		}
		return;
	}
	if (ok)
		return;
	bool explained = false;

	if (type < 1 || type > 5) {
		explained = aq.used == 4 && sq == S(UNSUPP) && av.rc == 0 && av.used == 0;
		if (explained)
			named(D_UNKNOWN_TYPE);
	} else if (type == T_(DETACH) && have_ep && !seen && !es.attached) {
		explained = sq == S(NOENT) && sv == S(INVAL);
		if (explained)
			named(D_DETACH_UNSEEN);
	} else if (type == T_(MAP) && n >= 36 && sv == S(RANGE)) {
		uint64_t first = m_get64(req + 8), last = m_get64(req + 16), phys = m_get64(req + 24);
		uint32_t flags = m_get32(req + 32);
		bool unaligned = (first | phys | (last + 1)) & (PG - 1);
		bool resv = first <= x86_msi.last && x86_msi.first <= last;
		bool overlap = false;

		for (unsigned i = 0; i < before.n; i++)
			overlap |= before.m[i].first <= last && first <= before.m[i].last;
		/* QEMU's MAP checks flags, the domain, bypass and overlap only. */
		int want = overlap ? S(INVAL) : S(OK);

		explained = first <= last && (unaligned || resv) && !(flags & ~7u) && ndom >= 0 && !dom_bypass &&
			    sq == want;
		if (explained) {
			named(unaligned ? D_UNALIGNED_MAP : D_RESV_MAP);
			if (want == S(OK))
				T_EQ(q_unmap(p, dom, first, last), S(OK));
		}
	}
	if (!explained) {
		mismatches++;
		fprintf(stderr, "MISMATCH %s: type %u n %zu wr %zu: QEMU rc %d used %u status %d; viommu rc %d used %u "
			"status %d\n", tag, type, n, wrlen, aq.rc, aq.used, sq, av.rc, av.used, sv);
	}
	T_OK(explained);
}

/*
 * ATTACH, with the two deviations recognised before sending, since they can
 * part the states even when both answers agree:
 *  - to the endpoint's own domain: QEMU detaches it first, and loses the
 *    domain and its mappings if it was the only endpoint;
 *  - with a bypass flag the existing domain does not have: QEMU detaches the
 *    endpoint from its domain first, then refuses (INVAL) - unless that
 *    removed the very domain named, which it then creates anew (OK).
 */
static void cmp_attach(struct pair *p, uint32_t dom, uint32_t ep, uint32_t flags, const char *tag)
{
	struct viommu_virtio_iommu_endpoint_state es;
	bool dom_bypass, b = flags & VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS;
	bool have_ep = v_ep(p, ep, &es), have_dom = v_dom(p, dom, &dom_bypass);
	unsigned users = v_nep(p, dom);
	struct mlist l;
	uint8_t req[20], c[28];

	enc_attach(req, T_(ATTACH), dom, ep, flags, 0);
	if (have_ep && have_dom && dom_bypass != b && !(flags & ~1u)) {
		bool recreated = es.attached && es.domain == dom && users == 1;
		struct ans aq, av;

		both(p, req, 20, 4, &aq, &av);
		p->seen[ep & 0xff] = true;	/* QEMU created its endpoint before refusing */
		int sq = status_of(&aq, 4, T_(ATTACH)), sv = status_of(&av, 4, T_(ATTACH));
		bool explained = sv == S(INVAL) && sq == (recreated ? S(OK) : S(INVAL));

		if (!explained) {
			mismatches++;
			fprintf(stderr, "MISMATCH %s (bypass flag): QEMU %d viommu %d\n", tag, sq, sv);
		}
		T_OK(explained);
		if (explained && es.attached) {
			named(D_BYPASS_FLAG);
			T_EQ(v_req(p, c, enc_attach(c, T_(DETACH), es.domain, ep, 0, 0)), S(OK));
			if (recreated)
				T_EQ(v_req(p, c, enc_attach(c, T_(ATTACH), dom, ep, flags, 0)), S(OK));
		}
		return;
	}
	bool lose = have_ep && es.attached && es.domain == dom && es.bypass == b && users == 1 && v_maps(p, dom, &l) > 0;

	cmp(p, req, 20, 4, tag);
	if (lose) {
		named(D_REATTACH);
		T_EQ(v_req(p, c, enc_unmap(c, dom, 0, UINT64_MAX)), S(OK));
	}
}

/* ---- edu DMA through the IOMMU ---- */

/* Every 8-byte word of the two windows holds its own guest-physical address. */
static void fill_patterns(struct pair *p)
{
	static uint8_t page[PG];
	const uint64_t wins[2] = { IOVA_WIN, PHYS_WIN };

	for (int w = 0; w < 2; w++) {
		for (uint64_t pg = 0; pg < NWIN; pg++) {
			uint64_t base = wins[w] + pg * PG;

			for (unsigned i = 0; i < PG; i += 8)
				m_put64(page + i, base + i);
			qt_memwrite(p->qt, base, page, PG);
		}
	}
}

static bool patterned(uint64_t gpa)
{
	return (gpa >= IOVA_WIN && gpa < IOVA_WIN + NWIN * PG) || (gpa >= PHYS_WIN && gpa < PHYS_WIN + NWIN * PG);
}

static unsigned long fault_same, fault_events, faulting_dmas, max_events;

/* Compare QEMU's first fault record of a DMA with viommu's; the deviations are recognised by rule. */
static void cmp_fault(struct pair *p, uint64_t x, const struct viommu_virtio_iommu_fault *fq, unsigned nq,
		      const struct viommu_virtio_iommu_fault *f, bool write)
{
	struct viommu_virtio_iommu_endpoint_state es;
	uint32_t dir = write ? VIOMMU_VIRTIO_IOMMU_FAULT_F_WRITE : VIOMMU_VIRTIO_IOMMU_FAULT_F_READ;

	v_ep(p, EDU_EP, &es);
	faulting_dmas++;
	fault_events += nq;
	max_events = nq > max_events ? nq : max_events;
	bool same_rec = fq[0].reason == f->reason && fq[0].endpoint == f->endpoint && fq[0].address == f->address &&
			fq[0].flags == f->flags;
	/* QEMU sets F_READ / F_WRITE only for a permission fault, not for a missing mapping or domain. */
	bool flags_dev = fq[0].reason == f->reason && fq[0].endpoint == f->endpoint && fq[0].address == f->address &&
			 fq[0].flags == VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS &&
			 f->flags == (dir | VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS);
	/* QEMU knows an endpoint only once it was attached: before that, reason UNKNOWN. */
	bool unseen_dev = !es.attached && !p->seen[EDU_EP] && fq[0].reason == VIOMMU_VIRTIO_IOMMU_FAULT_R_UNKNOWN &&
			  f->reason == VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN && fq[0].address == f->address &&
			  fq[0].endpoint == f->endpoint && fq[0].flags == VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS;

	if (same_rec) {
		fault_same++;
	} else if (flags_dev) {
		named(D_FAULT_FLAGS);
	} else if (unseen_dev) {
		named(D_FAULT_UNSEEN);
	} else {
		mismatches++;
		fprintf(stderr, "MISMATCH fault at %#llx: QEMU reason %u flags %#x ep %#x addr %#llx; viommu reason %u flags "
			"%#x ep %#x addr %#llx\n", (unsigned long long)x, fq[0].reason, fq[0].flags, fq[0].endpoint,
			(unsigned long long)fq[0].address, f->reason, f->flags, f->endpoint, (unsigned long long)f->address);
		T_OK(false);
	}
}

/*
 * One 8-byte access at IOVA @x by the edu endpoint. On QEMU an edu DMA:
 * a read copies x into edu's buffer and then out through @scratch_iova to
 * SCRATCH_GPA; a write copies a marker in through @scratch_iova and then to
 * x. The fault events it raised are taken from the event queue. On viommu a
 * translation (its fault goes through the same driver's event queue).
 * Compared: where the data went, or the fault record.
 */
static void probe(struct pair *p, uint64_t x, uint64_t scratch_iova, bool write)
{
	struct viommu_virtio_iommu_fault fq[VD_EQSZ], fv[VD_EQSZ], f;
	struct viommu_virtio_iommu_xlat xl;
	uint8_t got[8], marker[8];
	unsigned nq;

	dma_probes++;
	vd_take_events(&p->q, fq, VD_EQSZ);
	if (write) {
		m_put64(marker, 0x5a5a000000000000ull | dma_probes);
		qt_memwrite(p->qt, SCRATCH_GPA, marker, 8);
		T_EQ(qt_edu_dma(p->qt, EDU_BAR, false, scratch_iova, 0, 8), 0);
		T_EQ(vd_take_events(&p->q, fq, VD_EQSZ), 0);
		T_EQ(qt_edu_dma(p->qt, EDU_BAR, true, x, 0, 8), 0);
	} else {
		T_EQ(qt_edu_dma(p->qt, EDU_BAR, false, x, 0, 8), 0);
	}
	nq = vd_take_events(&p->q, fq, VD_EQSZ);
	int rv = viommu_virtio_iommu_translate(p->vv->dev, EDU_EP, x, write ? VIOMMU_PERM_WRITE : VIOMMU_PERM_READ,
					       &xl, &f);
	unsigned nv = vd_take_events(&p->v, fv, VD_EQSZ);

	if (nq)
		vd_post_events(&p->q, nq);
	if (nv)
		vd_post_events(&p->v, nv);
	compared++;
	if (rv == 0) {
		T_EQ(nv, 0);
		if (nq) {
			mismatches++;
			fprintf(stderr, "MISMATCH dma %#llx: QEMU faulted (reason %u), viommu translates to %#llx\n",
				(unsigned long long)x, fq[0].reason, (unsigned long long)xl.addr);
			T_OK(false);
			return;
		}
		if (!patterned(xl.addr))
			return;		/* translated outside the patterned windows: nothing to compare the data with */
		if (write) {
			qt_memread(p->qt, xl.addr, got, 8);
			T_EQ_U64(m_get64(got), m_get64(marker));
			if (m_get64(got) != m_get64(marker))
				mismatches++;
			m_put64(got, xl.addr);			/* put the pattern back */
			qt_memwrite(p->qt, xl.addr, got, 8);
			return;
		}
		T_EQ(qt_edu_dma(p->qt, EDU_BAR, true, scratch_iova, 0, 8), 0);
		qt_memread(p->qt, SCRATCH_GPA, got, 8);
		if (m_get64(got) != xl.addr) {
			mismatches++;
			fprintf(stderr, "MISMATCH dma %#llx: QEMU read GPA %#llx, viommu translates to %#llx\n",
				(unsigned long long)x, (unsigned long long)m_get64(got), (unsigned long long)xl.addr);
		}
		T_EQ_U64(m_get64(got), xl.addr);
		return;
	}
	T_EQ(rv, -EFAULT);
	T_EQ(nv, 1);			/* viommu: one event per faulting access */
	T_OK(nv && fv[0].reason == f.reason && fv[0].flags == f.flags && fv[0].address == f.address);
	if (!nq) {
		mismatches++;
		fprintf(stderr, "MISMATCH dma %#llx: QEMU translated it, viommu faults (reason %u)\n", (unsigned long long)x,
			f.reason);
		T_OK(false);
		return;
	}
	cmp_fault(p, x, fq, nq, &f, write);
}

static void probe_read(struct pair *p, uint64_t x, uint64_t scratch_iova)
{
	probe(p, x, scratch_iova, false);
}

/*
 * Probe what the edu endpoint reaches now: each mapping of its domain in the
 * 32-bit DMA range (a word in its first and last page), and unmapped pages
 * of the window; in bypass the window itself (identity).
 */
static void dma_checkpoint(struct pair *p, struct t_rng *r)
{
	struct viommu_virtio_iommu_endpoint_state es;
	static struct mlist l;

	v_ep(p, EDU_EP, &es);
	if (es.bypass) {
		for (int i = 0; i < 4; i++)
			probe(p, IOVA_WIN + t_rng_below(r, NWIN) * PG + 8 * t_rng_below(r, PG / 8), SCRATCH_GPA, i & 1);
		return;
	}
	if (!es.attached) {
		probe_read(p, IOVA_WIN + t_rng_below(r, NWIN) * PG, SCRATCH_GPA);
		return;
	}
	if (s_map(p, es.domain, SCRATCH_IOVA, SCRATCH_IOVA + PG - 1, SCRATCH_GPA, RD | WR) != S(OK))
		return;
	v_maps(p, es.domain, &l);
	for (unsigned i = 0; i < l.n; i++) {
		const struct viommu_virtio_iommu_mapping *m = &l.m[i];

		if (m->last > 0xffffffffull || m->first == SCRATCH_IOVA || !patterned(m->phys) || !patterned(m->phys + (m->last - m->first)))
			continue;
		probe_read(p, m->first + 8 * t_rng_below(r, (m->last - m->first + 1) / 8 < 512 ? 1 : 512), SCRATCH_IOVA);
		if (m->last - m->first >= PG)
			probe_read(p, (m->last & ~(PG - 1)) + 8 * t_rng_below(r, PG / 8), SCRATCH_IOVA);
		if ((m->flags & WR) || t_rng_below(r, 3) == 0)
			probe(p, m->first + 8 * t_rng_below(r, PG / 8), SCRATCH_IOVA, true);
	}
	for (int i = 0; i < 3; i++)
		probe_read(p, IOVA_WIN + t_rng_below(r, NWIN) * PG + 8 * t_rng_below(r, PG / 8), SCRATCH_IOVA);
	s_unmap(p, es.domain, SCRATCH_IOVA, SCRATCH_IOVA + PG - 1);
}

/* ---- the cases ---- */

/* 1. QEMU's pci_config, then every configuration byte and the feature bits. */
static void case_config(struct pair *p)
{
	uint8_t cq[40], cv[40];

	for (unsigned i = 0; i < 40; i++)
		cq[i] = qt_readb(p->qt, p->qq.devcfg + i);
	T_EQ(viommu_virtio_iommu_config_read(p->vv->dev, 0, cv, 40), 0);
	/* QEMU's own assertions */
	T_EQ_U64(m_get64(cq + 8), 0);
	T_OK(m_get64(cq + 16) >= UINT32_MAX);
	T_EQ(m_get32(cq + 24), 0);
	T_EQ_U64(m_get32(cq + 28), UINT32_MAX);
	T_EQ(cq[36], 1);
	compared++;
	T_EQ(memcmp(cq, cv, 40), 0);
	compared++;
	T_EQ_U64(vd_qemu_offered(&p->qq) & 0x7f, viommu_virtio_iommu_features(p->vv->dev));
	printf("config: page_size_mask %#llx input [%#llx, %#llx] domains [%u, %u] probe_size %u bypass %u, "
	       "features %#llx: identical\n", (unsigned long long)m_get64(cq), (unsigned long long)m_get64(cq + 8),
	       (unsigned long long)m_get64(cq + 16), m_get32(cq + 24), m_get32(cq + 28), m_get32(cq + 32), cq[36],
	       (unsigned long long)vd_qemu_offered(&p->qq));
}

/* 2. The endpoint set and every PROBE answer, byte for byte. */
static void case_probe(struct pair *p)
{
	unsigned ok = 0;

	printf("endpoints (devfn QEMU PROBEs OK):");
	for (unsigned i = 0; i < p->neps; i++)
		printf(" %#x", p->eps[i]);
	printf("\n");
	for (unsigned devfn = 0; devfn < 260; devfn++) {
		uint8_t b[72];
		struct ans aq, av;

		enc_probe(b, devfn);
		ok += both(p, b, 72, PROBE_SIZE + 4, &aq, &av);
	}
	T_EQ(ok, 260);
	mismatches += 260 - ok;
	/* The readable part short of 72 bytes: INVAL on both. */
	uint8_t b[72];

	enc_probe(b, EDU_EP);
	T_EQ(same(p, b, 8, "short probe"), S(INVAL));
}

/* 3a. QEMU's test_attach_detach, with its expected statuses. */
static void case_attach_detach(struct pair *p)
{
	T_EQ(s_attach(p, 0, 0), S(OK));
	T_EQ(s_attach(p, 0, 444), S(NOENT));
	T_EQ(s_detach(p, 0, 1), S(NOENT));
	T_EQ(s_attach(p, 1, 0), S(OK));
	T_EQ(s_detach(p, 0, 0), S(INVAL));
	T_EQ(s_detach(p, 1, 0), S(OK));
	T_EQ(s_attach(p, 1, 0), S(OK));
	T_EQ(s_map(p, 1, 0x0, 0xfff, 0xa1000, RD), S(OK));
	T_EQ(s_map(p, 1, 0x2000, 0x2fff, 0xb1000, RD), S(OK));
	T_EQ(s_detach(p, 1, 0), S(OK));
}

/* 3b. QEMU's test_map_unmap: the requests and the statuses QEMU's test expects. */
struct step { char op; uint32_t dom; uint64_t first, last, phys; int want; };
static const struct step map_unmap_steps[] = {
	{ 'A', 1, 0, 0, 0, S(OK) },
	{ 'M', 0, 0, 0xfff, 0xa1000, S(NOENT) },
	{ 'M', 1, 0x0, 0xfff, 0xa1000, S(OK) },
	{ 'M', 1, 0, 0xffff, 0xb1000, S(INVAL) },
	{ 'U', 4, 0x10, 0xfff, 0, S(NOENT) },
	{ 'U', 1, 0x10, 0xfff, 0, S(RANGE) },
	{ 'U', 1, 0, 0x1000, 0, S(OK) },
	{ 'U', 1, 0, 4, 0, S(OK) },				/* 1 */
	{ 'M', 1, 0, 9, 0xa1000, S(OK) },			/* 2 */
	{ 'U', 1, 0, 9, 0, S(OK) },
	{ 'M', 1, 0, 4, 0xb1000, S(OK) },			/* 3 */
	{ 'M', 1, 5, 9, 0xb2000, S(OK) },
	{ 'U', 1, 0, 9, 0, S(OK) },
	{ 'M', 1, 0, 9, 0xc1000, S(OK) },			/* 4 */
	{ 'U', 1, 0, 4, 0, S(RANGE) },
	{ 'U', 1, 0, 10, 0, S(OK) },
	{ 'M', 1, 0, 4, 0xd1000, S(OK) },			/* 5 */
	{ 'M', 1, 5, 9, 0xd2000, S(OK) },
	{ 'U', 1, 0, 4, 0, S(OK) },
	{ 'U', 1, 5, 9, 0, S(OK) },
	{ 'M', 1, 0, 4, 0xe2000, S(OK) },			/* 6 */
	{ 'U', 1, 0, 9, 0, S(OK) },
	{ 'M', 1, 0, 4, 0xf2000, S(OK) },			/* 7 */
	{ 'M', 1, 10, 14, 0xf3000, S(OK) },
	{ 'U', 1, 0, 14, 0, S(OK) },
	{ 'M', 1, 10, 14, 0xf3000, S(OK) },
	{ 'M', 1, 0, 4, 0xf2000, S(OK) },
	{ 'U', 1, 0, 4, 0, S(OK) },
	{ 'M', 1, 10, 14, 0xf3000, S(INVAL) },
	{ 'U', 1, 0, UINT64_MAX, 0, S(OK) },
};

/*
 * QEMU's test maps byte ranges like [0, 9] on a device that advertises a
 * 4 KiB granule and does not check it. @exact: viommu runs with a byte
 * granule (page_size_mask 1, the spec allows it) and must give every status
 * QEMU's test expects; otherwise viommu has QEMU's 4 KiB granule and the
 * unaligned MAPs are the named deviation, compensated.
 */
static void case_map_unmap(struct pair *p, bool exact)
{
	for (size_t i = 0; i < sizeof(map_unmap_steps) / sizeof(map_unmap_steps[0]); i++) {
		const struct step *st = &map_unmap_steps[i];
		uint8_t b[36];
		size_t n;

		if (st->op == 'A')
			n = enc_attach(b, T_(ATTACH), st->dom, 0, 0, 0);
		else if (st->op == 'M')
			n = enc_map(b, st->dom, st->first, st->last, st->phys, RD);
		else
			n = enc_unmap(b, st->dom, st->first, st->last);
		if (exact)
			T_EQ(same(p, b, n, "map_unmap"), st->want);
		else
			cmp(p, b, n, 4, "map_unmap 4K");
	}
}

/* 4. The spec's seven UNMAP examples at 4 KiB scale (a unit is a page), for the 4 KiB device. */
static void case_spec_examples(struct pair *p)
{
	const uint64_t u = PG;
#define A(x) ((x) * u)
#define E(x) ((x) * u + u - 1)
	T_EQ(s_attach(p, 7, EDU_EP), S(OK));
	T_EQ(s_unmap(p, 7, A(0), E(4)), S(OK));					/* (1) */
	T_EQ(s_map(p, 7, A(0), E(9), PHYS_WIN, RD), S(OK));			/* (2) */
	T_EQ(s_unmap(p, 7, A(0), E(9)), S(OK));
	T_EQ(s_map(p, 7, A(0), E(4), PHYS_WIN, RD), S(OK));			/* (3) */
	T_EQ(s_map(p, 7, A(5), E(9), PHYS_WIN, RD), S(OK));
	T_EQ(s_unmap(p, 7, A(0), E(9)), S(OK));
	T_EQ(s_map(p, 7, A(0), E(9), PHYS_WIN, RD), S(OK));			/* (4) */
	T_EQ(s_unmap(p, 7, A(0), E(4)), S(RANGE));
	T_EQ(s_map(p, 7, A(0), E(9), PHYS_WIN, RD), S(INVAL));		/* nothing was removed */
	T_EQ(s_unmap(p, 7, A(0), E(9)), S(OK));
	T_EQ(s_map(p, 7, A(0), E(4), PHYS_WIN, RD), S(OK));			/* (5) */
	T_EQ(s_map(p, 7, A(5), E(9), PHYS_WIN, RD), S(OK));
	T_EQ(s_unmap(p, 7, A(0), E(4)), S(OK));
	T_EQ(s_map(p, 7, A(5), E(9), PHYS_WIN, RD), S(INVAL));		/* b is still there */
	T_EQ(s_unmap(p, 7, A(5), E(9)), S(OK));
	T_EQ(s_map(p, 7, A(0), E(4), PHYS_WIN, RD), S(OK));			/* (6) */
	T_EQ(s_unmap(p, 7, A(0), E(9)), S(OK));
	T_EQ(s_map(p, 7, A(0), E(4), PHYS_WIN, RD), S(OK));			/* (7) */
	T_EQ(s_map(p, 7, A(10), E(14), PHYS_WIN, RD), S(OK));
	T_EQ(s_unmap(p, 7, A(0), E(14)), S(OK));
	T_EQ(s_map(p, 7, A(0), E(14), PHYS_WIN, RD), S(OK));			/* all gone */
	T_EQ(s_detach(p, 7, EDU_EP), S(OK));
#undef A
#undef E
}

/* 5. Each named deviation, directed (the ones that do not break QEMU). */
static void case_deviations(struct pair *p)
{
	const uint64_t A = IOVA_WIN, B = IOVA_WIN + PG, C = IOVA_WIN + 2 * PG;
	unsigned long before[D_COUNT];
	struct ans aq, av;
	uint8_t b[36];

	memcpy(before, dev_seen, sizeof(before));
	/* partial UNMAP: QEMU removes mappings it passed, then says RANGE; viommu removes nothing. */
	T_EQ(s_attach(p, 2, EDU_EP), S(OK));
	T_EQ(s_map(p, 2, A, A + PG - 1, PHYS_WIN, RD), S(OK));
	T_EQ(s_map(p, 2, B, B + PG - 1, PHYS_WIN + PG, RD), S(OK));
	T_EQ(s_map(p, 2, C, C + 4 * PG - 1, PHYS_WIN + 2 * PG, RD), S(OK));
	T_EQ(s_map(p, 2, SCRATCH_IOVA, SCRATCH_IOVA + PG - 1, SCRATCH_GPA, RD | WR), S(OK));
	enc_unmap(b, 2, A, C + PG - 1);
	T_OK(both(p, b, 28, 4, &aq, &av));
	T_EQ(status_of(&av, 4, T_(UNMAP)), S(RANGE));
	/* Before compensating: edu DMA shows what QEMU dropped while viommu still translates it. */
	unsigned dropped = 0;
	const uint64_t pages[2] = { A, B };

	for (int i = 0; i < 2; i++) {
		struct viommu_virtio_iommu_fault fq[VD_EQSZ];

		vd_take_events(&p->q, fq, VD_EQSZ);
		T_EQ(qt_edu_dma(p->qt, EDU_BAR, false, pages[i], 0, 8), 0);
		unsigned nq = vd_take_events(&p->q, fq, VD_EQSZ);

		if (nq) {
			dropped++;
			T_EQ(fq[0].reason, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING);
			vd_post_events(&p->q, nq);
		}
		T_EQ(viommu_virtio_iommu_translate(p->vv->dev, EDU_EP, pages[i], VIOMMU_PERM_READ, NULL, NULL), 0);
	}
	printf("deviation partial-unmap: QEMU dropped %u of the 2 mappings before the split one (DMA faults)\n",
	       dropped);
	T_OK(dropped >= 1);
	for (int i = 0; i < 2; i++)	/* compensate: QEMU gets them back */
		if (q_map(p, 2, pages[i], pages[i] + PG - 1, PHYS_WIN + (uint64_t)i * PG, RD) == S(OK))
			named(D_PARTIAL_UNMAP);
	T_EQ(s_unmap(p, 2, A, C + 4 * PG - 1), S(OK));
	/* unknown request type */
	memset(b, 0, sizeof(b));
	b[0] = 0x10;
	cmp(p, b, 20, 4, "unknown type");
	/* MAP not aligned to the 4 KiB granule, and MAP over the MSI region */
	enc_map(b, 2, A + 0x10, A + 0x10 + PG - 1, PHYS_WIN, RD);
	cmp(p, b, 36, 4, "unaligned map");
	enc_map(b, 2, 0xfee00000, 0xfee00fff, PHYS_WIN, RD | WR);
	cmp(p, b, 36, 4, "map over msi");
	/* fault flags on an unmapped address: DMA through the checkpoint probe */
	probe_read(p, C + 8, SCRATCH_IOVA);
	/* re-ATTACH of the sole endpoint to its own domain: QEMU loses the mappings */
	T_EQ(s_map(p, 2, A, A + PG - 1, PHYS_WIN, RD), S(OK));
	cmp_attach(p, 2, EDU_EP, 0, "reattach");
	T_EQ(s_map(p, 2, A, A + PG - 1, PHYS_WIN, RD), S(OK));	/* both empty again, so both accept */
	/* ATTACH with an inconsistent bypass flag: QEMU detaches first (here: then re-creates it as bypass) */
	cmp_attach(p, 2, EDU_EP, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, "bypass flag, sole");
	T_EQ(s_detach(p, 2, EDU_EP), S(OK));
	T_EQ(s_attach(p, 3, EDU_EP), S(OK));
	T_EQ(s_attach(p, 3, 0), S(OK));
	cmp_attach(p, 3, EDU_EP, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, "bypass flag, shared");
	/* ATTACH with a non-zero reserved field: QEMU ignores the field */
	enc_attach(b, T_(ATTACH), 5, EDU_EP, 0, 1);
	T_OK(!both(p, b, 20, 4, &aq, &av));
	T_EQ(status_of(&aq, 4, T_(ATTACH)), S(OK));
	T_EQ(status_of(&av, 4, T_(ATTACH)), S(INVAL));
	named(D_ATTACH_RESERVED);
	T_EQ(v_req(p, b, enc_attach(b, T_(ATTACH), 5, EDU_EP, 0, 0)), S(OK));
	T_EQ(s_detach(p, 5, EDU_EP), S(OK));
	T_EQ(s_detach(p, 3, 0), S(OK));
	/* after a reset: DETACH and faults of endpoints QEMU has not seen attached */
	pair_reset(p);
	cmp(p, (enc_attach(b, T_(DETACH), 1, EDU_EP, 0, 0), b), 20, 4, "detach unseen");
	uint8_t zero = 0;

	qt_writeb(p->qt, p->qq.devcfg + 36, 0);
	T_EQ(viommu_virtio_iommu_config_write(p->vv->dev, 36, &zero, 1), 0);
	probe_read(p, A, SCRATCH_GPA);
	uint8_t one = 1;

	qt_writeb(p->qt, p->qq.devcfg + 36, 1);
	T_EQ(viommu_virtio_iommu_config_write(p->vv->dev, 36, &one, 1), 0);
	for (int k = 0; k < D_COUNT; k++)
		if (k != D_INVERTED_RANGE && k != D_SHORT_PROBE && k != D_NO_TAIL)
			T_OK(dev_seen[k] > before[k]);
}

/* 5b. The deviations that leave QEMU broken or dead, each in a QEMU of its own. */
static void case_breaking(void)
{
	struct pair p;
	struct ans aq, av;
	uint8_t b[72];

	/* virt_start > virt_end: QEMU accepts the MAP (viommu INVAL) and the UNMAP */
	if (!pair_start(&p, 0))
		T_FATAL("qemu");
	T_EQ(s_attach(&p, 1, EDU_EP), S(OK));
	enc_map(b, 1, IOVA_WIN + PG, IOVA_WIN, PHYS_WIN, RD);
	T_OK(!both(&p, b, 36, 4, &aq, &av));
	printf("deviation inverted-range: MAP [%#llx, %#llx]: QEMU status %d, viommu %d\n",
	       (unsigned long long)(IOVA_WIN + PG), (unsigned long long)IOVA_WIN, status_of(&aq, 4, 3),
	       status_of(&av, 4, 3));
	T_EQ(status_of(&aq, 4, 3), S(OK));
	T_EQ(status_of(&av, 4, 3), S(INVAL));
	named(D_INVERTED_RANGE);
	/* no room for a tail: QEMU marks the device broken and keeps the buffer; viommu returns it unwritten */
	enc_attach(b, T_(ATTACH), 1, EDU_EP, 0, 0);
	send(&p.q, b, 20, 0, &aq);
	send(&p.v, b, 20, 0, &av);
	uint8_t status = qt_readb(p.qt, p.qq.common + 0x14);

	printf("deviation no-tail-breaks-device: QEMU %s, device status %#x; viommu rc %d used %u\n",
	       aq.rc ? "kept the buffer" : "returned it", status, av.rc, av.used);
	T_EQ(aq.rc, -EIO);
	T_OK(status & 0x40);		/* DEVICE_NEEDS_RESET */
	T_EQ(av.rc, 0);
	T_EQ(av.used, 0);
	named(D_NO_TAIL);
	pair_stop(&p);

	/* PROBE whose writable part is smaller than probe_size + 4: QEMU asserts and exits */
	if (!pair_start(&p, 0))
		T_FATAL("qemu");
	enc_probe(b, EDU_EP);
	send(&p.v, b, 72, 100, &av);
	T_EQ(av.used, 100);
	T_EQ(av.buf[96], S(INVAL));
	send(&p.q, b, 72, 100, &aq);
	int wst = 0;
	pid_t w = waitpid(p.qt->pid, &wst, WNOHANG);

	for (int i = 0; i < 100 && w == 0; i++) {
		usleep(20000);
		w = waitpid(p.qt->pid, &wst, WNOHANG);
	}
	printf("deviation short-probe-aborts: QEMU %s (%s %d); viommu INVAL in the last 4 bytes\n",
	       w == p.qt->pid ? "exited" : "still running", w == p.qt->pid && WIFSIGNALED(wst) ? "signal" : "status",
	       w == p.qt->pid ? (WIFSIGNALED(wst) ? WTERMSIG(wst) : WEXITSTATUS(wst)) : 0);
	T_EQ(w, p.qt->pid);
	if (w == p.qt->pid) {
		named(D_SHORT_PROBE);
		p.qt->pid = 0;		/* reaped */
	}
	pair_stop(&p);
}

/* 6. A random request over the endpoints, domains and windows; returns its length and writable size. */
static size_t gen(struct pair *p, struct t_rng *r, uint8_t *b, size_t *wr, bool *is_attach)
{
	uint32_t dom = (uint32_t)t_rng_below(r, 5);
	uint32_t ep = t_rng_below(r, 4) ? EDU_EP : t_rng_below(r, 8) ? p->eps[t_rng_below(r, p->neps)] : 0x30;
	uint64_t first = IOVA_WIN + t_rng_below(r, NWIN) * PG, len = (1 + t_rng_below(r, 4)) * PG;
	uint64_t phys = PHYS_WIN + t_rng_below(r, NWIN) * PG;

	*wr = 4;
	*is_attach = false;
	switch (t_rng_below(r, 20)) {
	case 0: case 1: case 2: case 3:
		*is_attach = true;
		return enc_attach(b, T_(ATTACH), dom, ep, t_rng_below(r, 8) ? 0 : VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0);
	case 4:
		return enc_attach(b, T_(DETACH), dom, ep, 0, (uint32_t)t_rng_below(r, 2));
	case 5: case 6: case 7: case 8: case 9: case 10: {
		uint32_t flags = t_rng_below(r, 16) ? 1 + (uint32_t)t_rng_below(r, 3) : (uint32_t)t_rng_below(r, 16);

		if (t_rng_below(r, 24) == 0)
			first += 0x10;				/* unaligned */
		if (t_rng_below(r, 30) == 0)
			first = 0xfedfe000 + t_rng_below(r, 4) * PG;	/* near the MSI window */
		if (t_rng_below(r, 30) == 0)
			first = 0xffffffffffff0000ull + t_rng_below(r, 16) * PG;	/* the top */
		uint64_t last = first + len - 1 < first ? UINT64_MAX : first + len - 1;

		return enc_map(b, dom, first, last, phys, flags);
	}
	case 11: case 12: case 13: case 14: {
		uint64_t lo = IOVA_WIN + t_rng_below(r, NWIN) * PG, hi = lo + t_rng_below(r, 8) * PG + PG - 1;

		if (t_rng_below(r, 4) == 0)
			hi -= PG / 2;				/* ends inside a page */
		if (t_rng_below(r, 20) == 0)
			lo = 0, hi = 0xbfffffffull;		/* most of the space (not the scratch page) */
		return enc_unmap(b, dom, lo, hi);
	}
	case 15: case 16:
		*wr = PROBE_SIZE + 4;
		return enc_probe(b, t_rng_below(r, 4) ? ep : (uint32_t)t_rng_below(r, 256));
	case 17:
		memset(b, 0, 36);
		b[0] = (uint8_t)(6 + t_rng_below(r, 250));	/* unknown type */
		return 20;
	default:
		/* a known type shorter than its request (at least the head) */
		enc_map(b, dom, first, first + len - 1, phys, RD);
		b[0] = (uint8_t)(1 + t_rng_below(r, 4));
		return 4 + t_rng_below(r, 16);
	}
}

static void case_random(struct pair *p, uint64_t seed, unsigned steps)
{
	struct t_rng r;
	unsigned long c0 = compared, m0 = mismatches, d0 = dma_probes;

	t_rng_init(&r, seed);
	for (unsigned i = 0; i < steps; i++) {
		uint8_t b[80];
		size_t wr;
		bool is_attach;
		uint64_t ev = t_rng_below(&r, 150);

		if (ev == 0) {
			pair_reset(p);
		} else if (ev == 1) {
			uint8_t v = (uint8_t)t_rng_below(&r, 2);

			qt_writeb(p->qt, p->qq.devcfg + 36, v);
			T_EQ(viommu_virtio_iommu_config_write(p->vv->dev, 36, &v, 1), 0);
		}
		size_t n = gen(p, &r, b, &wr, &is_attach);

		if (is_attach)
			cmp_attach(p, m_get32(b + 4), m_get32(b + 8), m_get32(b + 12), "random attach");
		else
			cmp(p, b, n, wr, "random");
		if (i % 25 == 24)
			dma_checkpoint(p, &r);
		if (!qt_ok(p->qt))
			T_FATAL("QEMU went away at step %u", i);
	}
	printf("random seed %#llx: %u requests, %lu compared, %lu DMA probes, %lu mismatches outside named deviations\n",
	       (unsigned long long)seed, steps, compared - c0, dma_probes - d0, mismatches - m0);
}

int main(void)
{
	struct pair p;

	if (!qt_qemu_available())
		return qt_missing_status();
	uint64_t seed = t_seed("qtest-virtio-iommu", 0x0b5e55ed);

	/* QEMU's configuration: 4 KiB granule, bypass 1, the x86 MSI region. */
	if (!pair_start(&p, 0))
		T_FATAL("QEMU with virtio-iommu-pci did not start");
	fill_patterns(&p);
	case_config(&p);
	case_probe(&p);
	case_attach_detach(&p);
	case_spec_examples(&p);
	case_map_unmap(&p, false);
	case_deviations(&p);
	pair_reset(&p);
	for (unsigned k = 0; k < 3; k++)
		case_random(&p, seed + k, 1000);
	pair_stop(&p);
	/* QEMU's map_unmap exactly: viommu with a byte granule. */
	if (!pair_start(&p, 1))
		T_FATAL("QEMU with virtio-iommu-pci did not start");
	case_attach_detach(&p);
	pair_reset(&p);
	case_map_unmap(&p, true);
	pair_stop(&p);
	case_breaking();

	printf("compared %lu requests and DMA probes (%lu DMA probes); mismatches outside named deviations: %lu\n",
	       compared, dma_probes, mismatches);
	printf("faulting DMAs %lu: first record identical %lu; QEMU raised %lu events for them (at most %lu for one "
	       "8-byte DMA), viommu one each\n", faulting_dmas, fault_same, fault_events, max_events);
	printf("named deviations seen:");
	for (int k = 0; k < D_COUNT; k++)
		printf(" %s %lu%s", dev_names[k], dev_seen[k], k + 1 < D_COUNT ? "," : "\n");
	T_EQ(mismatches, 0);
	return t_done();
}
