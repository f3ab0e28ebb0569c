/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct model of the virtio-iommu device's semantics (virtio
 * spec 1.2/1.3, "IOMMU device"), for the fuzz target and the random tests:
 * arrays and linear scans, every rule written out once, in the order the
 * device checks them (docs/design.md, "virtio-iommu": the status table).
 * Also the request encoders the tests use: little-endian byte layouts
 * written from the spec's structs, independent of the library.
 */
#ifndef VIOMMU_TESTS_VIRTIO_IOMMU_MODEL_H
#define VIOMMU_TESTS_VIRTIO_IOMMU_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/virtio_iommu.h>

/* ---- encoders: the spec's request structs, byte by byte ---- */

static inline void m_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void m_put32(uint8_t *p, uint32_t v) { m_put16(p, (uint16_t)v); m_put16(p + 2, (uint16_t)(v >> 16)); }
static inline void m_put64(uint8_t *p, uint64_t v) { m_put32(p, (uint32_t)v); m_put32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t m_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t m_get32(const uint8_t *p) { return m_get16(p) | (uint32_t)m_get16(p + 2) << 16; }
static inline uint64_t m_get64(const uint8_t *p) { return m_get32(p) | (uint64_t)m_get32(p + 4) << 32; }

/* struct virtio_iommu_req_attach / _detach without the tail: 20 bytes. */
static inline size_t enc_attach(uint8_t *b, uint8_t type, uint32_t domain, uint32_t ep, uint32_t flags,
				uint32_t reserved)
{
	memset(b, 0, 20);
	b[0] = type;
	m_put32(b + 4, domain);
	m_put32(b + 8, ep);
	m_put32(b + 12, flags);
	m_put32(b + 16, reserved);
	return 20;
}

/* struct virtio_iommu_req_map without the tail: 36 bytes. */
static inline size_t enc_map(uint8_t *b, uint32_t domain, uint64_t first, uint64_t last, uint64_t phys,
			     uint32_t flags)
{
	memset(b, 0, 36);
	b[0] = VIOMMU_VIRTIO_IOMMU_T_MAP;
	m_put32(b + 4, domain);
	m_put64(b + 8, first);
	m_put64(b + 16, last);
	m_put64(b + 24, phys);
	m_put32(b + 32, flags);
	return 36;
}

/* struct virtio_iommu_req_unmap without the tail: 28 bytes. */
static inline size_t enc_unmap(uint8_t *b, uint32_t domain, uint64_t first, uint64_t last)
{
	memset(b, 0, 28);
	b[0] = VIOMMU_VIRTIO_IOMMU_T_UNMAP;
	m_put32(b + 4, domain);
	m_put64(b + 8, first);
	m_put64(b + 16, last);
	return 28;
}

/* struct virtio_iommu_req_probe, device-readable part: 72 bytes. */
static inline size_t enc_probe(uint8_t *b, uint32_t ep)
{
	memset(b, 0, 72);
	b[0] = VIOMMU_VIRTIO_IOMMU_T_PROBE;
	m_put32(b + 4, ep);
	return 72;
}

/* ---- the model ---- */

#define M_MAX_EP 16
#define M_MAX_RESV 4

struct m_map { uint64_t first, last, phys; uint32_t flags; };

struct m_dom {
	uint32_t id;
	bool bypass;
	struct m_map *maps;		/* sorted by first */
	size_t n, cap;
};

struct m_ep {
	uint32_t id;
	bool attached;
	uint32_t dom;
	struct viommu_virtio_iommu_resv resv[M_MAX_RESV];
	size_t nresv;
};

struct model {
	/* configuration, as given to the device (defaults already applied) */
	uint64_t features, page_size_mask, input_first, input_last, phys_last, max_mappings;
	uint32_t domain_first, domain_last, probe_size;
	bool boot_bypass;
	struct viommu_virtio_iommu_resv resv[M_MAX_RESV];
	size_t nresv;
	/* state */
	uint8_t bypass;
	uint64_t driver_features;
	struct m_ep eps[M_MAX_EP];
	size_t neps;
	struct m_dom *doms;
	size_t ndoms, dcap;
};

#define M_F(bit) VIOMMU_VIRTIO_IOMMU_FEATURE(VIOMMU_VIRTIO_IOMMU_F_##bit)

static inline struct m_ep *m_ep(struct model *m, uint32_t id)
{
	for (size_t i = 0; i < m->neps; i++)
		if (m->eps[i].id == id)
			return &m->eps[i];
	return NULL;
}

static inline struct m_dom *m_dom(struct model *m, uint32_t id)
{
	for (size_t i = 0; i < m->ndoms; i++)
		if (m->doms[i].id == id)
			return &m->doms[i];
	return NULL;
}

static inline bool m_unattached_bypass(const struct model *m)
{
	return ((m->features & M_F(BYPASS_CONFIG)) && m->bypass) || (m->driver_features & M_F(BYPASS));
}

static inline bool m_ep_bypass(struct model *m, const struct m_ep *e)
{
	if (e->attached)
		return m_dom(m, e->dom)->bypass;
	return m_unattached_bypass(m);
}

static inline unsigned m_gshift(const struct model *m) { return (unsigned)__builtin_ctzll(m->page_size_mask); }

/* Fed to IOMMU address spaces: not MMIO, some permission, aligned to their page (2..30 bits). */
static inline bool m_fed(const struct model *m, const struct m_map *x)
{
	unsigned s = m_gshift(m);
	uint64_t pm;

	s = s < 2 ? 2 : s > 30 ? 30 : s;
	pm = (UINT64_C(1) << s) - 1;
	return !(x->flags & VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO) && (x->flags & 3) &&
	       !((x->first | (x->last + 1) | x->phys) & pm);
}

static inline void m_dom_del(struct model *m, uint32_t id)
{
	for (size_t i = 0; i < m->ndoms; i++) {
		if (m->doms[i].id == id) {
			free(m->doms[i].maps);
			m->doms[i] = m->doms[--m->ndoms];
			return;
		}
	}
}

static inline size_t m_dom_users(const struct model *m, uint32_t id)
{
	size_t n = 0;

	for (size_t i = 0; i < m->neps; i++)
		n += m->eps[i].attached && m->eps[i].dom == id;
	return n;
}

static inline void m_detach(struct model *m, struct m_ep *e)
{
	if (!e->attached)
		return;
	e->attached = false;
	if (!m_dom_users(m, e->dom))
		m_dom_del(m, e->dom);
}

static inline void m_reset(struct model *m, bool system)
{
	for (size_t i = 0; i < m->neps; i++)
		m_detach(m, &m->eps[i]);
	m->driver_features = m->features;
	if (system)
		m->bypass = m->boot_bypass;
}

static inline bool m_overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 <= b1 && b0 <= a1; }

static inline int m_attach(struct model *m, const uint8_t *r)
{
	uint32_t dom = m_get32(r + 4), id = m_get32(r + 8), flags = m_get32(r + 12);
	uint32_t known = (m->driver_features & M_F(BYPASS_CONFIG)) ? 1 : 0;
	bool bypass = flags & 1;
	struct m_ep *e;
	struct m_dom *d;

	if (m_get32(r + 16))
		return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	if (flags & ~known)
		return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	if (!(e = m_ep(m, id)))
		return VIOMMU_VIRTIO_IOMMU_S_NOENT;
	if (dom < m->domain_first || dom > m->domain_last)
		return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	d = m_dom(m, dom);
	if (d && d->bypass != bypass)
		return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	if (d && e->attached && e->dom == dom)
		return VIOMMU_VIRTIO_IOMMU_S_OK;
	if (d)
		for (size_t i = 0; i < e->nresv; i++)
			for (size_t k = 0; k < d->n; k++)
				if (m_overlaps(e->resv[i].first, e->resv[i].last, d->maps[k].first, d->maps[k].last))
					return VIOMMU_VIRTIO_IOMMU_S_UNSUPP;
	if (!d) {
		if (m->ndoms == m->dcap) {
			m->dcap = m->dcap ? 2 * m->dcap : 8;
			m->doms = realloc(m->doms, m->dcap * sizeof(*m->doms));
		}
		m->doms[m->ndoms++] = (struct m_dom){ .id = dom, .bypass = bypass };
	}
	m_detach(m, e);
	e->attached = true;
	e->dom = dom;
	return VIOMMU_VIRTIO_IOMMU_S_OK;
}

static inline int m_detach_req(struct model *m, const uint8_t *r)
{
	uint32_t dom = m_get32(r + 4), id = m_get32(r + 8);
	struct m_ep *e = m_ep(m, id);

	if (!e)
		return VIOMMU_VIRTIO_IOMMU_S_NOENT;
	if (!e->attached || e->dom != dom)
		return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	m_detach(m, e);
	return VIOMMU_VIRTIO_IOMMU_S_OK;
}

/* The checks MAP and UNMAP share, in order; NULL with *st set on refusal. */
static inline struct m_dom *m_map_dom(struct model *m, uint32_t dom, uint64_t first, uint64_t last, int *st)
{
	struct m_dom *d;

	if (!(m->driver_features & M_F(MAP_UNMAP)))
		*st = VIOMMU_VIRTIO_IOMMU_S_UNSUPP;
	else if (dom < m->domain_first || dom > m->domain_last)
		*st = VIOMMU_VIRTIO_IOMMU_S_RANGE;
	else if (!(d = m_dom(m, dom)))
		*st = VIOMMU_VIRTIO_IOMMU_S_NOENT;
	else if (d->bypass || first > last)
		*st = VIOMMU_VIRTIO_IOMMU_S_INVAL;
	else
		return d;
	return NULL;
}

static inline int m_map(struct model *m, const uint8_t *r)
{
	uint32_t dom = m_get32(r + 4), flags = m_get32(r + 32);
	uint64_t first = m_get64(r + 8), last = m_get64(r + 16), phys = m_get64(r + 24);
	uint32_t known = 3 | ((m->driver_features & M_F(MMIO)) ? 4 : 0);
	uint64_t gm = (UINT64_C(1) << m_gshift(m)) - 1;
	struct m_dom *d;
	int st;

	if (flags & ~known)
		return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	if (!(d = m_map_dom(m, dom, first, last, &st)))
		return st;
	if ((first & gm) || (phys & gm) || ((last + 1) & gm))
		return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	if (first < m->input_first || last > m->input_last)
		return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	if (phys > m->phys_last || last - first > m->phys_last - phys)
		return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	for (size_t i = 0; i < m->nresv; i++)
		if (m_overlaps(first, last, m->resv[i].first, m->resv[i].last))
			return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	for (size_t i = 0; i < m->neps; i++) {
		const struct m_ep *e = &m->eps[i];

		if (!e->attached || e->dom != dom)
			continue;
		for (size_t k = 0; k < e->nresv; k++)
			if (m_overlaps(first, last, e->resv[k].first, e->resv[k].last))
				return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	}
	for (size_t i = 0; i < d->n; i++)
		if (m_overlaps(first, last, d->maps[i].first, d->maps[i].last))
			return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	if (d->n >= m->max_mappings)
		return VIOMMU_VIRTIO_IOMMU_S_NOMEM;
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->maps = realloc(d->maps, d->cap * sizeof(*d->maps));
	}
	size_t at = 0;

	while (at < d->n && d->maps[at].first < first)
		at++;
	memmove(&d->maps[at + 1], &d->maps[at], (d->n - at) * sizeof(*d->maps));
	d->maps[at] = (struct m_map){ first, last, phys, flags };
	d->n++;
	return VIOMMU_VIRTIO_IOMMU_S_OK;
}

/* UNMAP; the removed mappings are copied to @removed (may be NULL) and counted in *nremoved. */
static inline int m_unmap(struct model *m, const uint8_t *r, struct m_map *removed, size_t *nremoved)
{
	uint32_t dom = m_get32(r + 4);
	uint64_t first = m_get64(r + 8), last = m_get64(r + 16);
	struct m_dom *d;
	size_t k = 0;
	int st;

	if (nremoved)
		*nremoved = 0;
	if (!(d = m_map_dom(m, dom, first, last, &st)))
		return st;
	for (size_t i = 0; i < d->n; i++) {
		const struct m_map *x = &d->maps[i];

		if (m_overlaps(first, last, x->first, x->last) && (x->first < first || x->last > last))
			return VIOMMU_VIRTIO_IOMMU_S_RANGE;
	}
	for (size_t i = 0; i < d->n; i++) {
		if (d->maps[i].first >= first && d->maps[i].last <= last) {
			if (removed)
				removed[*nremoved] = d->maps[i];
			if (nremoved)
				(*nremoved)++;
		} else {
			d->maps[k++] = d->maps[i];
		}
	}
	d->n = k;
	return VIOMMU_VIRTIO_IOMMU_S_OK;
}

/* The answer to a PROBE, as the device must write it: *off and *len in the writable part. */
static inline int m_probe(struct model *m, const uint8_t *r, uint64_t rdlen, uint64_t wrlen, uint8_t *out,
			  uint32_t *off, uint32_t *len)
{
	uint32_t ps = m->probe_size;

	if (wrlen < (uint64_t)ps + 4) {
		*off = (uint32_t)wrlen - 4;
		*len = 4;
		memset(out, 0, 4);
		out[0] = VIOMMU_VIRTIO_IOMMU_S_INVAL;
		return VIOMMU_VIRTIO_IOMMU_S_INVAL;
	}
	*off = 0;
	*len = ps + 4;
	memset(out, 0, *len);
	int st = VIOMMU_VIRTIO_IOMMU_S_OK;
	struct m_ep *e;

	if (rdlen < 72) {
		st = VIOMMU_VIRTIO_IOMMU_S_INVAL;
	} else if (!(e = m_ep(m, m_get32(r + 4)))) {
		st = VIOMMU_VIRTIO_IOMMU_S_NOENT;
	} else {
		uint8_t *p = out;
		/* the device-wide regions, then the endpoint's, each in ascending order */
		const struct viommu_virtio_iommu_resv *lists[2] = { m->resv, e->resv };
		size_t counts[2] = { m->nresv, e->nresv };

		for (int l = 0; l < 2; l++) {
			bool done[M_MAX_RESV] = { false };

			for (size_t n = 0; n < counts[l]; n++) {
				size_t best = SIZE_MAX;

				for (size_t i = 0; i < counts[l]; i++)
					if (!done[i] && (best == SIZE_MAX || lists[l][i].first < lists[l][best].first))
						best = i;
				done[best] = true;
				m_put16(p, 1);
				m_put16(p + 2, 20);
				p[4] = (uint8_t)lists[l][best].subtype;
				m_put64(p + 8, lists[l][best].first);
				m_put64(p + 16, lists[l][best].last);
				p += 24;
			}
		}
	}
	out[ps] = (uint8_t)st;
	return st;
}

/*
 * One request: @req the first bytes of the readable part (at least
 * min(rdlen, 72)), totals @rdlen / @wrlen. Returns the status, or -1 when
 * the buffers must come back unwritten; the answer goes to @out at *off.
 */
static inline int m_request(struct model *m, const uint8_t *req, uint64_t rdlen, uint64_t wrlen, uint8_t *out,
			    uint32_t *off, uint32_t *len, struct m_map *removed, size_t *nremoved)
{
	static const uint32_t size[6] = { 0, 20, 20, 36, 28, 72 };
	int st;

	*off = *len = 0;
	if (nremoved)
		*nremoved = 0;
	if (rdlen < 4 || wrlen < 4)
		return -1;
	unsigned type = req[0];

	if (type < 1 || type > 5 || (type == 5 && !(m->features & M_F(PROBE))))
		return -1;
	if (type == 5)
		return m_probe(m, req, rdlen, wrlen, out, off, len);
	if (rdlen < size[type])
		st = VIOMMU_VIRTIO_IOMMU_S_INVAL;
	else if (type == 1)
		st = m_attach(m, req);
	else if (type == 2)
		st = m_detach_req(m, req);
	else if (type == 3)
		st = m_map(m, req);
	else
		st = m_unmap(m, req, removed, nremoved);
	memset(out, 0, 4);
	out[0] = (uint8_t)st;
	*len = 4;
	return st;
}

/*
 * A translation: 0 with *out / *perm set, or the fault reason (>= 0) plus
 * 100, or -1 for an unknown endpoint. MSI regions give 0 with *kind MSI.
 */
static inline int m_translate(struct model *m, uint32_t id, uint64_t addr, unsigned perm, uint64_t *out,
			      unsigned *kind)
{
	struct m_ep *e = m_ep(m, id);

	if (!e)
		return -1;
	if (m_ep_bypass(m, e)) {
		*out = addr;
		*kind = VIOMMU_VIRTIO_IOMMU_XLAT_BYPASS;
		return 0;
	}
	for (int l = 0; l < 2; l++) {
		const struct viommu_virtio_iommu_resv *rs = l ? e->resv : m->resv;
		size_t n = l ? e->nresv : m->nresv;

		for (size_t i = 0; i < n; i++) {
			if (addr < rs[i].first || addr > rs[i].last)
				continue;
			if (rs[i].subtype != VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI)
				return 100 + VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING;
			*out = addr;
			*kind = VIOMMU_VIRTIO_IOMMU_XLAT_MSI;
			return 0;
		}
	}
	if (!e->attached)
		return 100 + VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN;
	struct m_dom *d = m_dom(m, e->dom);

	for (size_t i = 0; i < d->n; i++) {
		const struct m_map *x = &d->maps[i];
		unsigned p = (x->flags & 1 ? VIOMMU_PERM_READ : 0) | (x->flags & 2 ? VIOMMU_PERM_WRITE : 0);

		if (addr < x->first || addr > x->last)
			continue;
		if (perm & ~p)
			return 100 + VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING;
		*out = x->phys + (addr - x->first);
		*kind = VIOMMU_VIRTIO_IOMMU_XLAT_MAPPED;
		return 0;
	}
	return 100 + VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING;
}

static inline void m_free(struct model *m)
{
	for (size_t i = 0; i < m->ndoms; i++)
		free(m->doms[i].maps);
	free(m->doms);
	m->doms = NULL;
	m->ndoms = m->dcap = 0;
}

#endif
