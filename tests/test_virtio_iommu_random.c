// SPDX-License-Identifier: MIT
/*
 * Seeded random request streams against the model of the spec's semantics
 * (tests/virtio_iommu_model.h): every answer byte, every domain's mappings,
 * translations at random addresses and what each endpoint's IOMMU address
 * space has told a listener, after every request. Several device
 * configurations: QEMU's (4 KiB granule), a byte granule, narrow ranges and
 * reserved regions, no BYPASS_CONFIG.
 */
#include <viommu/rangemap.h>
#include <viommu/iommu.h>
#include <viommu/virtio_iommu.h>

#include "test.h"
#include "virtio_iommu_model.h"

#define NEP 4
static const uint32_t ep_ids[NEP] = { 0x00, 0x18, 0x20, 0xf8 };

struct mirror {
	struct viommu_iommu_listener l;
	struct viommu_rangemap *map;	/* what the listener was told: first..last -> out | perm */
	bool bad;
};

static char g_hist[64][160];
static unsigned g_nhist;
#define HIST(...) snprintf(g_hist[g_nhist++ % 64], 160, __VA_ARGS__)

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct mirror *mi = (struct mirror *)l;

	HIST("  ev %x kind %u %" PRIx64 "-%" PRIx64 ">%" PRIx64, ev->source_id, ev->kind, ev->first, ev->last, ev->out);

	if (ev->kind == VIOMMU_IOMMU_EV_MAP) {
		if (viommu_rangemap_insert(mi->map, ev->first, ev->last, ev->out | ev->perm))
			mi->bad = true;
	} else if (ev->kind == VIOMMU_IOMMU_EV_UNMAP) {
		uint64_t v;

		if (viommu_rangemap_remove(mi->map, ev->first, ev->last, &v) || v != (ev->out | ev->perm))
			mi->bad = true;
	} else {
		mi->bad = true;	/* no CHANGE asked for */
	}
}

struct cfg {
	const char *name;
	struct viommu_virtio_iommu_opts o;
	struct viommu_virtio_iommu_resv own;	/* endpoint 0x20's own region, if own.last */
};

static uint64_t pick_addr(struct t_rng *r, uint64_t gran)
{
	switch (t_rng_below(r, 8)) {
	case 0: return t_rng_next(r);					/* anything */
	case 1: return UINT64_MAX - t_rng_below(r, 4) * gran - (gran - 1);	/* the top */
	case 2: return 0xfee00000ull + t_rng_below(r, 4) * gran;	/* near the MSI window */
	default: return t_rng_below(r, 64) * gran;			/* a small aligned space */
	}
}

/* One random request, mostly plausible; sometimes hostile in length or bytes. */
static size_t gen(struct t_rng *r, uint8_t *b, uint64_t gran, size_t *wr, uint32_t probe_size)
{
	uint32_t dom = (uint32_t)t_rng_below(r, 5);
	uint32_t ep = t_rng_below(r, 10) ? ep_ids[t_rng_below(r, NEP)] : (uint32_t)t_rng_next(r);
	size_t n = 0;

	*wr = 4;
	if (t_rng_below(r, 50) == 0)
		dom = (uint32_t)t_rng_next(r);
	switch (t_rng_below(r, 12)) {
	case 0: case 1: case 2:
		n = enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, dom, ep, t_rng_below(r, 8) ? 0 : (uint32_t)t_rng_below(r, 3),
			       t_rng_below(r, 20) ? 0 : 1);
		break;
	case 3:
		n = enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_DETACH, dom, ep, 0, (uint32_t)t_rng_below(r, 2));
		break;
	case 4: case 5: case 6: case 7: {
		uint64_t first = pick_addr(r, gran), len = (1 + t_rng_below(r, 4)) * gran;
		uint64_t last = first + len - 1 < first ? UINT64_MAX : first + len - 1;
		uint64_t phys = t_rng_below(r, 4096) * gran;

		if (t_rng_below(r, 10) == 0)
			last -= t_rng_below(r, 2);
		if (t_rng_below(r, 10) == 0)
			phys = t_rng_next(r);
		n = enc_map(b, dom, first, last, phys, t_rng_below(r, 10) ? 1 + (uint32_t)t_rng_below(r, 3)
								      : (uint32_t)t_rng_below(r, 16));
		break;
	}
	case 8: case 9: case 10: {
		uint64_t first = pick_addr(r, gran), len = t_rng_below(r, 8) * gran;
		uint64_t last = first + len < first ? UINT64_MAX : first + len + (t_rng_below(r, 4) ? gran - 1 : 0);

		if (t_rng_below(r, 20) == 0)
			last = first - 1;
		n = enc_unmap(b, dom, first, last);
		break;
	}
	default:
		n = enc_probe(b, ep);
		*wr = probe_size + 4;
		if (t_rng_below(r, 6) == 0)
			*wr = t_rng_below(r, probe_size + 8);
		break;
	}
	/* Hostile lengths and bytes. */
	switch (t_rng_below(r, 30)) {
	case 0: n = t_rng_below(r, n + 1); break;
	case 1: *wr = t_rng_below(r, 6); break;
	case 2: b[0] = (uint8_t)t_rng_next(r); break;
	case 3: b[t_rng_below(r, n ? n : 1)] ^= (uint8_t)(1u << t_rng_below(r, 8)); break;
	default: break;
	}
	return n;
}

static struct t_rng g_rng;

static void run(struct cfg *c, unsigned steps)
{
	struct model m = { 0 };
	struct viommu_virtio_iommu_opts o = c->o;
	struct viommu_virtio_iommu *d;
	struct mirror mi[NEP];
	uint8_t req[80], out_d[600], out_m[600];
	unsigned mismatches = 0;

	o.sz = sizeof(o);
	d = viommu_virtio_iommu_new(&o);
	if (!d)
		T_FATAL("%s: device", c->name);
	/* The model with the device's defaults applied. */
	m.features = o.features ? o.features
				: (M_F(INPUT_RANGE) | M_F(DOMAIN_RANGE) | M_F(MAP_UNMAP) | M_F(PROBE) | M_F(MMIO) |
				   M_F(BYPASS_CONFIG));
	m.page_size_mask = o.page_size_mask ? o.page_size_mask : 0xfffffffffffff000ull;
	m.input_first = o.input_first;
	m.input_last = o.input_first || o.input_last ? o.input_last : UINT64_MAX;
	m.domain_first = o.domain_first;
	m.domain_last = o.domain_first || o.domain_last ? o.domain_last : UINT32_MAX;
	m.probe_size = o.probe_size ? o.probe_size : 512;
	m.phys_last = (UINT64_C(1) << (o.phys_bits ? o.phys_bits : 52)) - 1;
	m.max_mappings = o.max_mappings ? o.max_mappings : UINT64_C(1) << 20;
	m.boot_bypass = o.boot_bypass;
	m.bypass = o.boot_bypass;
	m.driver_features = m.features;
	m.nresv = o.nresv;
	if (o.nresv)
		memcpy(m.resv, o.resv, o.nresv * sizeof(*o.resv));
	for (int i = 0; i < NEP; i++) {
		struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo) };

		m.eps[m.neps] = (struct m_ep){ .id = ep_ids[i] };
		if (ep_ids[i] == 0x20 && c->own.last) {
			eo.resv = &c->own;
			eo.nresv = 1;
			m.eps[m.neps].resv[0] = c->own;
			m.eps[m.neps].nresv = 1;
		}
		m.neps++;
		T_EQ(viommu_virtio_iommu_add_endpoint(d, ep_ids[i], &eo), 0);
		mi[i] = (struct mirror){ .l = { .sz = sizeof(mi[i].l), .last = UINT64_MAX,
						.kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP,
						.caps = VIOMMU_IOMMU_CAP_ARBITRARY, .notify = on_event },
					 .map = viommu_rangemap_new() };
		T_EQ(viommu_iommu_listener_register(viommu_virtio_iommu_endpoint_as(d, ep_ids[i]), &mi[i].l), 0);
	}
	uint64_t gran = m.page_size_mask & -m.page_size_mask;

	for (unsigned step = 0; step < steps; step++) {
		size_t wr;
		uint32_t off_m, len_m, used;

		/* Now and then, a transport event instead of a request. */
		uint64_t ev = t_rng_below(&g_rng, 200);

		if (ev == 0) {
			bool sys = t_rng_below(&g_rng, 2);

			viommu_virtio_iommu_reset(d, sys);
			m_reset(&m, sys);
		} else if (ev == 1) {
			uint8_t v = (uint8_t)t_rng_below(&g_rng, 3);
			int want = !(m.driver_features & M_F(BYPASS_CONFIG)) ? -EPERM : v > 1 ? -EINVAL : 0;

			T_EQ(viommu_virtio_iommu_config_write(d, 36, &v, 1), want);
			if (!want)
				m.bypass = v;
		} else if (ev == 2) {
			uint64_t f = m.features & t_rng_next(&g_rng);

			T_EQ(viommu_virtio_iommu_set_features(d, f), 0);
			m.driver_features = f;
		}
		size_t n = gen(&g_rng, req, gran, &wr, m.probe_size);
		struct iovec rd = { req, n }, wv = { out_d, wr };
		struct m_map removed[64];
		size_t nrem;

		memset(out_d, 0xee, sizeof(out_d));
		memset(out_m, 0xee, sizeof(out_m));
		int sd = viommu_virtio_iommu_handle_request(d, &rd, 1, &wv, 1, &used);
		int sm = m_request(&m, req, n, wr, out_m, &off_m, &len_m, removed, &nrem);

		HIST("step %u type %u n %zu dom %u f0 %" PRIx64 " f1 %" PRIx64 " ep/flags %x -> %d", step, n ? req[0] : 0, n,
		     n >= 8 ? m_get32(req + 4) : 0, n >= 16 ? m_get64(req + 8) : 0, n >= 24 ? m_get64(req + 16) : 0,
		     n >= 12 ? m_get32(req + 8) : 0, sd);
		bool ok = (sd < 0 ? -1 : sd) == sm && used == (sm < 0 ? 0 : off_m + len_m) &&
			  (sm < 0 || memcmp(out_d + off_m, out_m, len_m) == 0);

		if (!ok && mismatches++ < 10) {
			fprintf(stderr, "%s step %u: type %u n %zu wr %zu: device %d used %u, model %d used %u\n", c->name,
				step, n ? req[0] : 0, n, wr, sd, used, sm, sm < 0 ? 0 : off_m + len_m);
		}
		T_OK(ok);
		/* Every domain's mappings, exactly. */
		for (size_t i = 0; i < m.ndoms; i++) {
			struct m_dom *md = &m.doms[i];
			long cnt = viommu_virtio_iommu_domain_mappings(d, md->id, NULL, NULL);

			T_EQ(cnt, md->bypass ? 0 : (long)md->n);
		}
		struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

		T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
		T_EQ(st.domains, m.ndoms);
		/* Translations at a few addresses, per endpoint. */
		for (int k = 0; k < 4; k++) {
			uint32_t ep = ep_ids[t_rng_below(&g_rng, NEP)];
			uint64_t a = pick_addr(&g_rng, gran) + t_rng_below(&g_rng, gran);
			unsigned perm = 1 + (unsigned)t_rng_below(&g_rng, 3), kind = 0;
			uint64_t want = 0;
			struct viommu_virtio_iommu_xlat x;
			struct viommu_virtio_iommu_fault f;
			int rm = m_translate(&m, ep, a, perm, &want, &kind);
			int rd_ = viommu_virtio_iommu_translate(d, ep, a, perm, &x, &f);

			if (rm == 0) {
				T_EQ(rd_, 0);
				T_EQ_U64(x.addr, want);
				T_EQ(x.kind, kind);
			} else {
				T_EQ(rd_, -EFAULT);
				T_EQ(f.reason, rm - 100);
				T_EQ(f.endpoint, ep);
				T_EQ_U64(f.address, a);
				T_EQ(f.flags, perm | VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS);
			}
		}
		/* Each endpoint's listener holds exactly what the endpoint reaches. */
		if (step % 16 == 0 || step + 1 == steps) {
			for (int i = 0; i < NEP; i++) {
				struct m_ep *e = m_ep(&m, ep_ids[i]);
				size_t want = 0;
				bool same = !mi[i].bad;

				if (m_ep_bypass(&m, e)) {
					struct viommu_range_entry re;

					/* The identity map, one extent. */
					want = 1;
					same = same && viommu_rangemap_find(mi[i].map, 0, &re) && re.last == UINT64_MAX &&
					       re.value == 3;
				} else if (e->attached) {
					struct m_dom *md = m_dom(&m, e->dom);

					for (size_t k = 0; k < md->n; k++) {
						struct viommu_range_entry re;

						if (!m_fed(&m, &md->maps[k]))
							continue;
						want++;
						same = same && viommu_rangemap_find(mi[i].map, md->maps[k].first, &re) &&
						       re.first == md->maps[k].first && re.last == md->maps[k].last &&
						       re.value == (md->maps[k].phys | (md->maps[k].flags & 3));
					}
				}
				if (!(same && viommu_rangemap_count(mi[i].map) == want) && mismatches++ < 10) {
					struct viommu_rangemap_iter it;

					fprintf(stderr, "%s step %u: endpoint %#x (%s%s) listener holds %zu, want %zu%s:", c->name,
						step, e->id, e->attached ? "attached" : "unattached",
						m_ep_bypass(&m, e) ? ", bypass" : "", viommu_rangemap_count(mi[i].map), want,
						mi[i].bad ? " (bad event)" : "");
					viommu_rangemap_for_each(&it, mi[i].map, 0, UINT64_MAX)
						fprintf(stderr, " %" PRIx64 "-%" PRIx64 ">%" PRIx64, it.entry.first, it.entry.last,
							it.entry.value);
					fprintf(stderr, "\n");
					for (unsigned h = g_nhist > 64 ? g_nhist - 64 : 0; h < g_nhist; h++)
						fprintf(stderr, "%s\n", g_hist[h % 64]);
				}
				T_OK(same && viommu_rangemap_count(mi[i].map) == want);
			}
		}
	}
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	viommu_virtio_iommu_get_stats(d, &st);
	printf("%s: %u steps, %u mismatches; statuses OK %" PRIu64 " UNSUPP %" PRIu64 " INVAL %" PRIu64 " RANGE %" PRIu64
	       " NOENT %" PRIu64 " NOMEM %" PRIu64 ", unwritten %" PRIu64 "\n", c->name, steps, mismatches,
	       st.status[0], st.status[2], st.status[4], st.status[5], st.status[6], st.status[8], st.unwritten);
	viommu_virtio_iommu_free(d);
	for (int i = 0; i < NEP; i++)
		viommu_rangemap_free(mi[i].map);
	m_free(&m);
}

static void sink(enum viommu_log_level l, const char *msg, void *ctx)
{
	(void)ctx;
	if (l <= VIOMMU_LOG_WARN)
		fprintf(stderr, "log: %s\n", msg);
}

int main(void)
{
	viommu_set_log(sink, NULL, VIOMMU_LOG_WARN);
	static const struct viommu_virtio_iommu_resv msi = { 0xfee00000, 0xfeefffff, 1 };
	struct cfg cfgs[] = {
		{ .name = "qemu-like", .o = { .boot_bypass = true, .resv = &msi, .nresv = 1 } },
		{ .name = "byte-granule", .o = { .page_size_mask = 1 } },
		{ .name = "narrow", .o = { .page_size_mask = 0x201000, .input_first = 0x1000,
					   .input_last = 0xffffffffffull, .domain_first = 1, .domain_last = 3,
					   .phys_bits = 36, .max_mappings = 6, .probe_size = 64, .resv = &msi,
					   .nresv = 1 },
		  .own = { 0x8000, 0x9fff, 0 } },
		{ .name = "no-bypass-config",
		  .o = { .features = VIOMMU_VIRTIO_IOMMU_FEATURE(2) | VIOMMU_VIRTIO_IOMMU_FEATURE(3) |
				     VIOMMU_VIRTIO_IOMMU_FEATURE(4) } },
	};

	t_rng_init(&g_rng, t_seed("virtio-iommu-random", 0x7172a0f1));
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		run(&cfgs[i], 20000);
	return t_done();
}
