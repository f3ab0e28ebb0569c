// SPDX-License-Identifier: MIT
/*
 * Model-based fuzz target of the virtio-iommu device (the spec's "IOMMU
 * device" section): input bytes choose a configuration, then become a stream
 * of requests (well formed, with hostile fields, or raw bytes with any
 * lengths), requests split into descriptor chains (plain, split, indirect)
 * and malformed chains (loops, bad indexes, readable after writable),
 * translations, resets, configuration writes and feature changes. Checked
 * against tests/virtio_iommu_model.h after every step:
 *  - the status, the used length and every answer byte;
 *  - every domain's mappings, exactly;
 *  - translations and fault records;
 *  - the events each endpoint's IOMMU address space delivered: a MAP is one
 *    MAP of the mapping, an UNMAP one UNMAP per removed mapping, in order,
 *    and each listener's copy equals what the endpoint reaches;
 *  - a refused chain changes nothing and is given back with used length 0.
 */
#include <errno.h>
#include <stdbool.h>

#include <viommu/rangemap.h>
#include <viommu/iommu.h>
#include <viommu/virtio_iommu.h>

#include "fuzz.h"
#include "virtio_iommu_model.h"

/* Guest memory for the chain ops. */
#define VQ_MEM_SIZE 0x10000u
#include "virtq_guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NEP 4
static const uint32_t ep_ids[NEP] = { 0x00, 0x18, 0x20, 0xf8 };

struct ev { unsigned kind; uint64_t first, last, out; unsigned perm; };

struct lst {
	struct viommu_iommu_listener l;
	struct viommu_rangemap *copy;
	struct ev evs[256];
	unsigned nev;
	bool bad;
};
static struct lst L[NEP];

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *e)
{
	struct lst *x = (struct lst *)l;

	if (x->nev < 256)
		x->evs[x->nev++] = (struct ev){ e->kind, e->first, e->last, e->out, e->perm };
	else
		x->bad = true;
	if (e->kind == VIOMMU_IOMMU_EV_MAP) {
		x->bad |= viommu_rangemap_insert(x->copy, e->first, e->last, e->out | e->perm) != 0;
	} else if (e->kind == VIOMMU_IOMMU_EV_UNMAP) {
		uint64_t v;

		x->bad |= viommu_rangemap_remove(x->copy, e->first, e->last, &v) != 0 || v != (e->out | e->perm);
	} else {
		x->bad = true;
	}
}

static uint64_t addr_of(struct fz_in *in, uint64_t gran)
{
	uint8_t k = fz_u8(in);

	switch (k >> 6) {
	case 0: return fz_u64(in);
	case 1: return UINT64_MAX - (uint64_t)(k & 7) * gran - (gran - 1);
	default: return (uint64_t)(k & 63) * gran;
	}
}

/* A request from the input: structured (mostly) or raw. Returns its length; *wr the writable size. */
static size_t make_req(struct fz_in *in, uint8_t *b, uint64_t gran, uint32_t ps, size_t *wr)
{
	uint8_t op = fz_u8(in);
	uint32_t dom = fz_u8(in) % 6, ep = ep_ids[fz_u8(in) % NEP];
	size_t n;

	*wr = 4;
	if (op & 0x80)
		dom = fz_u32(in);
	if (op & 0x40)
		ep = fz_u32(in);
	switch (op % 8) {
	case 0: case 1: {
		uint8_t f = fz_u8(in);

		n = enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, dom, ep, f & 3, (f >> 2) & 1);
		break;
	}
	case 2:
		n = enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_DETACH, dom, ep, 0, fz_u8(in) & 1);
		break;
	case 3: case 4: {
		uint64_t first = addr_of(in, gran), len = (uint64_t)(1 + fz_u8(in) % 4) * gran;
		uint64_t last = first + len - 1 < first ? UINT64_MAX : first + len - 1;
		uint8_t f = fz_u8(in);
		uint64_t phys = (f & 0x80) ? fz_u64(in) : (uint64_t)fz_u8(in) * gran;

		if (f & 0x40)
			last -= 1;
		n = enc_map(b, dom, first, last, phys, f & 0xf);
		break;
	}
	case 5: {
		uint64_t first = addr_of(in, gran), len = (uint64_t)(fz_u8(in) % 8) * gran;
		uint8_t f = fz_u8(in);
		uint64_t last = first + len + (f & 1 ? gran - 1 : 0);

		if (last < first)
			last = (f & 2) ? first - 1 : UINT64_MAX;
		n = enc_unmap(b, dom, first, last);
		break;
	}
	case 6:
		n = enc_probe(b, ep);
		*wr = (fz_u8(in) & 7) ? ps + 4 : fz_u8(in);
		break;
	default:
		n = fz_u8(in) % 80;
		for (size_t i = 0; i < n; i++)
			b[i] = fz_u8(in);
		if (n)
			b[0] = (uint8_t)(b[0] % 8);
		*wr = fz_u8(in);
		break;
	}
	return n;
}

static struct model m;
static struct viommu_virtio_iommu *dev;
static uint64_t gran;

static void clear_events(void)
{
	for (int i = 0; i < NEP; i++)
		L[i].nev = 0;
}

/* The events of one request on endpoints that did not move: exactly the mappings added or removed. */
static void check_events(const uint8_t *req, size_t n, int st, const struct m_map *removed, size_t nrem,
			 const bool *was_attached, const uint32_t *was_dom)
{
	unsigned type = n ? req[0] : 0;

	for (int i = 0; i < NEP; i++) {
		struct m_ep *e = m_ep(&m, ep_ids[i]);
		bool moved = e->attached != was_attached[i] || (e->attached && e->dom != was_dom[i]);

		if (moved)
			continue;	/* its copy is checked against the model in check_state() */
		if (st != VIOMMU_VIRTIO_IOMMU_S_OK || (type != VIOMMU_VIRTIO_IOMMU_T_MAP && type != VIOMMU_VIRTIO_IOMMU_T_UNMAP) ||
		    !e->attached || e->dom != m_get32(req + 4)) {
			FZ_CHECK(L[i].nev == 0);
			continue;
		}
		if (type == VIOMMU_VIRTIO_IOMMU_T_MAP) {
			struct m_map x = { m_get64(req + 8), m_get64(req + 16), m_get64(req + 24), m_get32(req + 32) };

			if (!m_fed(&m, &x)) {
				FZ_CHECK(L[i].nev == 0);
				continue;
			}
			FZ_CHECK(L[i].nev == 1);
			FZ_CHECK(L[i].evs[0].kind == VIOMMU_IOMMU_EV_MAP && L[i].evs[0].first == x.first &&
				 L[i].evs[0].last == x.last && L[i].evs[0].out == x.phys && L[i].evs[0].perm == (x.flags & 3));
		} else {
			unsigned k = 0;

			for (size_t r = 0; r < nrem; r++) {
				if (!m_fed(&m, &removed[r]))
					continue;
				FZ_CHECK(k < L[i].nev);
				FZ_CHECK(L[i].evs[k].kind == VIOMMU_IOMMU_EV_UNMAP && L[i].evs[k].first == removed[r].first &&
					 L[i].evs[k].last == removed[r].last && L[i].evs[k].out == removed[r].phys);
				k++;
			}
			FZ_CHECK(k == L[i].nev);
		}
	}
}

struct cmp_ctx { const struct m_dom *d; size_t i; bool ok; };

static void cmp_map(void *ctx, const struct viommu_virtio_iommu_mapping *x)
{
	struct cmp_ctx *c = ctx;

	if (c->i >= c->d->n) {
		c->ok = false;
		return;
	}
	const struct m_map *y = &c->d->maps[c->i++];

	c->ok = c->ok && x->first == y->first && x->last == y->last && x->phys == y->phys && x->flags == y->flags;
}

static void check_state(void)
{
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	FZ_CHECK(viommu_virtio_iommu_get_stats(dev, &st) == 0);
	FZ_CHECK(st.domains == m.ndoms);
	for (size_t i = 0; i < m.ndoms; i++) {
		struct cmp_ctx c = { &m.doms[i], 0, true };
		long n = viommu_virtio_iommu_domain_mappings(dev, m.doms[i].id, cmp_map, &c);

		FZ_CHECK(n == (long)m.doms[i].n && c.ok && c.i == m.doms[i].n);
	}
	for (int i = 0; i < NEP; i++) {
		struct m_ep *e = m_ep(&m, ep_ids[i]);
		struct viommu_range_entry re;
		size_t want = 0;

		FZ_CHECK(!L[i].bad);
		if (m_ep_bypass(&m, e)) {
			FZ_CHECK(viommu_rangemap_find(L[i].copy, 0, &re) && re.last == UINT64_MAX && re.value == 3);
			want = 1;
		} else if (e->attached) {
			struct m_dom *d = m_dom(&m, e->dom);

			for (size_t k = 0; k < d->n; k++) {
				if (!m_fed(&m, &d->maps[k]))
					continue;
				want++;
				FZ_CHECK(viommu_rangemap_find(L[i].copy, d->maps[k].first, &re) && re.first == d->maps[k].first &&
					 re.last == d->maps[k].last && re.value == (d->maps[k].phys | (d->maps[k].flags & 3)));
			}
		}
		FZ_CHECK(viommu_rangemap_count(L[i].copy) == want);
	}
}

static void do_request(const uint8_t *req, size_t n, size_t wr, bool as_chain, struct fz_in *in)
{
	uint8_t out_d[600], out_m[600];
	uint32_t used = 0, off, len;
	struct m_map removed[300];
	size_t nrem;
	bool was_att[NEP];
	uint32_t was_dom[NEP];
	int sd;

	for (int i = 0; i < NEP; i++) {
		was_att[i] = m_ep(&m, ep_ids[i])->attached;
		was_dom[i] = m_ep(&m, ep_ids[i])->dom;
	}
	memset(out_d, 0xee, sizeof(out_d));
	clear_events();
	if (!as_chain) {
		struct iovec rd = { (void *)req, n }, w = { out_d, wr };

		sd = viommu_virtio_iommu_handle_request(dev, &rd, 1, &w, 1, &used);
	} else {
		/* The request split into 1..4 readable and 1..3 writable descriptors, maybe indirect. */
		struct viommu_virtio_vq vq = { .desc = 0, .avail = 0x800, .used = 0x900, .size = 16 };
		uint8_t shape = fz_u8(in);
		unsigned nr = 1 + (shape & 3), nw = 1 + ((shape >> 2) % 3), k = 0;
		uint64_t table = (shape & 0x10) ? 0x400 : 0;
		size_t pos = 0;

		vq.indirect = shape & 0x10;
		memcpy(vq_mem + 0x1000, req, n);
		memset(vq_mem + 0x2000, 0xee, 0x400);
		for (unsigned i = 0; i < nr; i++) {
			size_t part = i + 1 == nr ? n - pos : (n - pos) / 2;

			vq_desc(table, k, 0x1000 + pos, (uint32_t)part, 1, (uint16_t)(k + 1));
			pos += part;
			k++;
		}
		pos = 0;
		for (unsigned i = 0; i < nw; i++) {
			size_t part = i + 1 == nw ? wr - pos : (wr - pos) / 2;

			vq_desc(table, k, 0x2000 + pos, (uint32_t)part, (uint16_t)(2 | (i + 1 < nw ? 1 : 0)), (uint16_t)(k + 1));
			pos += part;
			k++;
		}
		if (table)
			vq_desc(0, 0, table, 16 * k, 4, 0);
		sd = viommu_virtio_iommu_process_chain(dev, &vq_gm, &vq, 0, &used);
		memcpy(out_d, vq_mem + 0x2000, wr < sizeof(out_d) ? wr : sizeof(out_d));
	}
	int sm = m_request(&m, req, n, wr, out_m, &off, &len, removed, &nrem);

	FZ_CHECK((sd < 0 ? -1 : sd) == sm);
	FZ_CHECK(used == (sm < 0 ? 0 : off + len));
	if (sm >= 0)
		FZ_CHECK(memcmp(out_d + off, out_m, len) == 0);
	check_events(req, n, sm, removed, nrem, was_att, was_dom);
}

/* A malformed chain: refused, used length 0, nothing changed. */
static void bad_chain(struct fz_in *in)
{
	struct viommu_virtio_vq vq = { .desc = 0, .avail = 0x800, .used = 0x900, .size = 16 };
	uint8_t kind = fz_u8(in), b[36];
	uint32_t used = 1;

	enc_map(b, fz_u8(in) % 6, 0, gran - 1, 0, 3);
	memcpy(vq_mem + 0x1000, b, sizeof(b));
	switch (kind % 5) {
	case 0:		/* a loop */
		vq_desc(0, 0, 0x1000, 36, 1, 1);
		vq_desc(0, 1, 0x2000, 4, 3, 0);
		break;
	case 1:		/* next out of range */
		vq_desc(0, 0, 0x1000, 36, 1, (uint16_t)(16 + fz_u8(in)));
		break;
	case 2:		/* readable after writable */
		vq_desc(0, 0, 0x2000, 4, 3, 1);
		vq_desc(0, 1, 0x1000, 36, 0, 0);
		break;
	case 3:		/* indirect with NEXT, or nested */
		vq.indirect = true;
		vq_desc(0x400, 0, 0x400, 16, 4, 0);
		vq_desc(0, 0, 0x400, 16, (kind & 8) ? 4 : 5, 1);
		break;
	default:	/* unreadable memory */
		vq_desc(0, 0, 0xfff0 + (kind & 7), 36, 1, 1);
		vq_desc(0, 1, 0x2000, 4, 2, 0);
		break;
	}
	clear_events();
	FZ_CHECK(viommu_virtio_iommu_process_chain(dev, &vq_gm, &vq, 0, &used) < 0);
	FZ_CHECK(used == 0);
	for (int i = 0; i < NEP; i++)
		FZ_CHECK(L[i].nev == 0);
}

static void do_translate(struct fz_in *in)
{
	uint32_t ep = ep_ids[fz_u8(in) % NEP];
	uint64_t a = addr_of(in, gran) + (fz_u8(in) % (gran < 256 ? gran : 256));
	unsigned perm = 1 + fz_u8(in) % 3, kind = 0;
	uint64_t want = 0;
	struct viommu_virtio_iommu_xlat x;
	struct viommu_virtio_iommu_fault f;
	int rm = m_translate(&m, ep, a, perm, &want, &kind);
	int rd = viommu_virtio_iommu_translate(dev, ep, a, perm, &x, &f);

	if (rm == 0) {
		FZ_CHECK(rd == 0 && x.addr == want && x.kind == kind);
		FZ_CHECK(x.first <= a && a <= x.last && x.out + (a - x.first) == x.addr);
	} else {
		FZ_CHECK(rd == -EFAULT && f.reason == (unsigned)(rm - 100) && f.endpoint == ep && f.address == a &&
			 f.flags == (perm | VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	static const uint64_t masks[4] = { 0xfffffffffffff000ull, 1, 0x10000, 0x201000 };
	static const struct viommu_virtio_iommu_resv msi = { 0xfee00000, 0xfeefffff, 1 };
	static const struct viommu_virtio_iommu_resv own = { 0x8000, 0x9fff, 0 };
	uint8_t c = fz_u8(&in);
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .page_size_mask = masks[c & 3], .boot_bypass = c & 4,
					      .max_mappings = (c & 8) ? 4 : 0 };

	if (c & 0x10) {
		o.resv = &msi;
		o.nresv = 1;
	}
	if (c & 0x20)
		o.features = VIOMMU_VIRTIO_IOMMU_FEATURE(2) | VIOMMU_VIRTIO_IOMMU_FEATURE(3) | VIOMMU_VIRTIO_IOMMU_FEATURE(4);
	if ((c & 0x40) && !(c & 0x20)) {
		o.domain_first = 1;
		o.domain_last = 3;
		o.input_first = 0x1000;
		o.input_last = 0xffffffffffull;
		o.phys_bits = 40;
	}
	dev = viommu_virtio_iommu_new(&o);
	FZ_CHECK(dev != NULL);
	memset(&m, 0, sizeof(m));
	m.features = o.features ? o.features : 0x77;
	m.page_size_mask = o.page_size_mask;
	m.input_first = o.input_first;
	m.input_last = o.input_last ? o.input_last : UINT64_MAX;
	m.domain_first = o.domain_first;
	m.domain_last = o.domain_last ? o.domain_last : UINT32_MAX;
	m.probe_size = 512;
	m.phys_last = (UINT64_C(1) << (o.phys_bits ? o.phys_bits : 52)) - 1;
	m.max_mappings = o.max_mappings ? o.max_mappings : UINT64_C(1) << 20;
	m.boot_bypass = o.boot_bypass;
	m.bypass = o.boot_bypass;
	m.driver_features = m.features;
	m.nresv = o.nresv;
	if (o.nresv)
		m.resv[0] = msi;
	gran = o.page_size_mask & -o.page_size_mask;
	for (int i = 0; i < NEP; i++) {
		struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo) };

		m.eps[m.neps] = (struct m_ep){ .id = ep_ids[i] };
		if (ep_ids[i] == 0x20 && (c & 0x80)) {
			eo.resv = &own;
			eo.nresv = 1;
			m.eps[m.neps].resv[0] = own;
			m.eps[m.neps].nresv = 1;
		}
		m.neps++;
		FZ_CHECK(viommu_virtio_iommu_add_endpoint(dev, ep_ids[i], &eo) == 0);
		L[i] = (struct lst){ .l = { .sz = sizeof(L[i].l), .last = UINT64_MAX,
					    .kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP,
					    .caps = VIOMMU_IOMMU_CAP_ARBITRARY, .notify = on_event },
				     .copy = viommu_rangemap_new() };
		FZ_CHECK(viommu_iommu_listener_register(viommu_virtio_iommu_endpoint_as(dev, ep_ids[i]), &L[i].l) == 0);
	}
	for (unsigned steps = 0; fz_left(&in) && steps < 2000; steps++) {
		uint8_t op = fz_u8(&in);
		uint8_t req[80];
		size_t wr, n;

		switch (op % 10) {
		case 0: case 1: case 2: case 3: case 4:
			n = make_req(&in, req, gran, m.probe_size, &wr);
			do_request(req, n, wr, false, &in);
			break;
		case 5:
			n = make_req(&in, req, gran, m.probe_size, &wr);
			if (wr > 0x400)
				wr = 0x400;
			do_request(req, n, wr, true, &in);
			break;
		case 6:
			bad_chain(&in);
			break;
		case 7: case 8:
			do_translate(&in);
			break;
		default: {
			uint8_t k = fz_u8(&in);

			clear_events();
			if (k % 3 == 0) {
				viommu_virtio_iommu_reset(dev, k & 4);
				m_reset(&m, k & 4);
			} else if (k % 3 == 1) {
				uint8_t v = (k >> 2) % 3;
				int want = !(m.driver_features & M_F(BYPASS_CONFIG)) ? -EPERM : v > 1 ? -EINVAL : 0;

				FZ_CHECK(viommu_virtio_iommu_config_write(dev, 36, &v, 1) == want);
				if (!want)
					m.bypass = v;
			} else {
				uint64_t f = m.features & fz_u8(&in);

				FZ_CHECK(viommu_virtio_iommu_set_features(dev, f) == 0);
				m.driver_features = f;
			}
			break;
		}
		}
		check_state();
	}
	viommu_virtio_iommu_free(dev);
	for (int i = 0; i < NEP; i++)
		viommu_rangemap_free(L[i].copy);
	m_free(&m);
	return 0;
}
