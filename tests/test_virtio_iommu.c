// SPDX-License-Identifier: MIT
/*
 * The virtio-iommu device's requests, case by case, against the virtio
 * spec's "IOMMU device" section: every status, the spec's seven UNMAP
 * examples, the cases of QEMU's tests/qtest/virtio-iommu-test.c (config,
 * attach_detach, map_unmap), PROBE bytes, configuration space, buffers
 * that are short, split or missing, translation and fault records, and the
 * events an endpoint's IOMMU address space delivers.
 */
#include <viommu/iommu.h>
#include <viommu/virtio_iommu.h>

#include "test.h"
#include "virtio_iommu_model.h"

#define S(x) VIOMMU_VIRTIO_IOMMU_S_##x
#define RD VIOMMU_VIRTIO_IOMMU_MAP_F_READ
#define WR VIOMMU_VIRTIO_IOMMU_MAP_F_WRITE
#define MMIO VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO

static uint8_t g_out[1024];
static uint32_t g_used;

/* One request through the iovec handler with a writable part of @wrlen bytes. */
static int req(struct viommu_virtio_iommu *d, const uint8_t *b, size_t len, size_t wrlen)
{
	struct iovec rd = { (void *)b, len }, wr = { g_out, wrlen };

	memset(g_out, 0xee, sizeof(g_out));
	return viommu_virtio_iommu_handle_request(d, &rd, 1, &wr, 1, &g_used);
}

static int attach(struct viommu_virtio_iommu *d, uint32_t dom, uint32_t ep)
{
	uint8_t b[20];

	return req(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, dom, ep, 0, 0), 4);
}

static int attach_flags(struct viommu_virtio_iommu *d, uint32_t dom, uint32_t ep, uint32_t flags, uint32_t rsv)
{
	uint8_t b[20];

	return req(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, dom, ep, flags, rsv), 4);
}

static int detach(struct viommu_virtio_iommu *d, uint32_t dom, uint32_t ep)
{
	uint8_t b[20];

	return req(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_DETACH, dom, ep, 0, 0), 4);
}

static int map(struct viommu_virtio_iommu *d, uint32_t dom, uint64_t first, uint64_t last, uint64_t phys,
	       uint32_t flags)
{
	uint8_t b[36];

	return req(d, b, enc_map(b, dom, first, last, phys, flags), 4);
}

static int unmap(struct viommu_virtio_iommu *d, uint32_t dom, uint64_t first, uint64_t last)
{
	uint8_t b[28];

	return req(d, b, enc_unmap(b, dom, first, last), 4);
}

/* The mappings of a domain as "first-last>phys/flags;" text. */
static char g_maps[2048];
static size_t g_mlen;

static void add_map(void *ctx, const struct viommu_virtio_iommu_mapping *m)
{
	(void)ctx;
	g_mlen += (size_t)snprintf(g_maps + g_mlen, sizeof(g_maps) - g_mlen, "%" PRIx64 "-%" PRIx64 ">%" PRIx64
				   "/%u;", m->first, m->last, m->phys, m->flags);
}

static const char *maps_of(struct viommu_virtio_iommu *d, uint32_t dom)
{
	g_mlen = 0;
	g_maps[0] = 0;
	if (viommu_virtio_iommu_domain_mappings(d, dom, add_map, NULL) < 0)
		return "(none)";
	return g_maps;
}

static struct viommu_virtio_iommu *dev_new(uint64_t psm, bool bypass)
{
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .page_size_mask = psm, .boot_bypass = bypass };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);

	if (!d)
		T_FATAL("device");
	return d;
}

/* Configuration space: QEMU's test_config assertions and our exact bytes. */
static void test_config(void)
{
	struct viommu_virtio_iommu *d = dev_new(0, true);
	uint8_t c[40], one;

	T_EQ(viommu_virtio_iommu_config_read(d, 0, c, sizeof(c)), 0);
	T_EQ_U64(m_get64(c + 0), 0xfffffffffffff000ull);
	T_EQ_U64(m_get64(c + 8), 0);			/* input_range.start == 0 */
	T_EQ_U64(m_get64(c + 16), UINT64_MAX);		/* input_range.end >= UINT32_MAX */
	T_EQ(m_get32(c + 24), 0);			/* domain_range.start */
	T_EQ_U64(m_get32(c + 28), UINT32_MAX);		/* domain_range.end */
	T_EQ(m_get32(c + 32), 512);			/* probe_size */
	T_EQ(c[36], 1);					/* bypass */
	T_EQ(c[37] | c[38] | c[39], 0);
	T_EQ(viommu_virtio_iommu_config_read(d, 36, &one, 1), 0);
	T_EQ(one, 1);
	T_EQ(viommu_virtio_iommu_config_read(d, 40, &one, 1), -EINVAL);
	T_EQ(viommu_virtio_iommu_config_read(d, 39, c, 2), -EINVAL);
	T_EQ(viommu_virtio_iommu_features(d),
	     VIOMMU_VIRTIO_IOMMU_FEATURE(0) | VIOMMU_VIRTIO_IOMMU_FEATURE(1) | VIOMMU_VIRTIO_IOMMU_FEATURE(2) |
	     VIOMMU_VIRTIO_IOMMU_FEATURE(4) | VIOMMU_VIRTIO_IOMMU_FEATURE(5) | VIOMMU_VIRTIO_IOMMU_FEATURE(6));

	/* Only bypass is writable, with 0 or 1, and only with BYPASS_CONFIG. */
	one = 0;
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), 0);
	T_EQ(viommu_virtio_iommu_config_read(d, 36, &one, 1), 0);
	T_EQ(one, 0);
	one = 2;
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), -EINVAL);
	T_EQ(viommu_virtio_iommu_config_write(d, 0, c, 8), -EPERM);
	T_EQ(viommu_virtio_iommu_config_write(d, 32, c, 4), -EPERM);
	T_EQ(viommu_virtio_iommu_config_write(d, 38, c, 4), -EINVAL);
	T_EQ(viommu_virtio_iommu_set_features(d, VIOMMU_VIRTIO_IOMMU_FEATURE(2)), 0);
	one = 1;
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), -EPERM);
	T_EQ(viommu_virtio_iommu_set_features(d, VIOMMU_VIRTIO_IOMMU_FEATURE(3)), -EINVAL);	/* not offered */
	/* A device reset keeps bypass (0 now); a system reset restores boot_bypass. */
	viommu_virtio_iommu_reset(d, false);
	T_EQ(viommu_virtio_iommu_config_read(d, 36, &one, 1), 0);
	T_EQ(one, 0);
	viommu_virtio_iommu_reset(d, true);
	T_EQ(viommu_virtio_iommu_config_read(d, 36, &one, 1), 0);
	T_EQ(one, 1);
	viommu_virtio_iommu_free(d);

	/* Options out of range. */
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o) };

	o.features = VIOMMU_VIRTIO_IOMMU_FEATURE(3) | VIOMMU_VIRTIO_IOMMU_FEATURE(6);
	T_OK(!viommu_virtio_iommu_new(&o) && errno == EINVAL);
	o.features = VIOMMU_VIRTIO_IOMMU_FEATURE(2);	/* no INPUT_RANGE, yet a range */
	o.input_last = 0xffffffff;
	T_OK(!viommu_virtio_iommu_new(&o) && errno == EINVAL);
	o = (struct viommu_virtio_iommu_opts){ .sz = sizeof(o), .phys_bits = 62 };
	T_OK(!viommu_virtio_iommu_new(&o) && errno == EINVAL);
	struct viommu_virtio_iommu_resv two_msi[2] = { { 0x1000, 0x1fff, 1 }, { 0x3000, 0x3fff, 1 } };

	o = (struct viommu_virtio_iommu_opts){ .sz = sizeof(o), .resv = two_msi, .nresv = 2 };
	T_OK(!viommu_virtio_iommu_new(&o) && errno == EINVAL);
	struct viommu_virtio_iommu_resv overlap[2] = { { 0x1000, 0x2fff, 0 }, { 0x2000, 0x3fff, 1 } };

	o.resv = overlap;
	T_OK(!viommu_virtio_iommu_new(&o) && errno == EINVAL);
	o.nresv = 1;
	o.probe_size = 16;	/* one property is 24 bytes */
	T_OK(!viommu_virtio_iommu_new(&o) && errno == EINVAL);
}

/* QEMU's test_attach_detach, in order, with QEMU's expected statuses (endpoints 0 and 0x18 exist). */
static void test_qemu_attach_detach(void)
{
	struct viommu_virtio_iommu *d = dev_new(1, true);
	struct viommu_virtio_iommu_endpoint_state st;

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), -EEXIST);
	T_EQ(attach(d, 0, 0), S(OK));
	T_EQ(g_used, 4);
	T_EQ(g_out[0], 0);
	T_EQ(g_out[1] | g_out[2] | g_out[3], 0);	/* the tail's reserved bytes */
	T_EQ(g_out[4], 0xee);				/* nothing beyond the tail */
	T_EQ(attach(d, 0, 444), S(NOENT));
	T_EQ(detach(d, 0, 1), S(NOENT));
	T_EQ(attach(d, 1, 0), S(OK));			/* move ep0 from domain 0 to 1 */
	T_EQ(viommu_virtio_iommu_domain_mappings(d, 0, NULL, NULL), -ENOENT);	/* domain 0 ceased to exist */
	T_EQ(detach(d, 0, 0), S(INVAL));
	T_EQ(detach(d, 1, 0), S(OK));
	T_EQ(viommu_virtio_iommu_endpoint_state(d, 0, &st), 0);
	T_OK(!st.attached && st.bypass);
	T_EQ(attach(d, 1, 0), S(OK));
	T_EQ(map(d, 1, 0x0, 0xfff, 0xa1000, RD), S(OK));
	T_EQ(map(d, 1, 0x2000, 0x2fff, 0xb1000, RD), S(OK));
	T_STREQ(maps_of(d, 1), "0-fff>a1000/1;2000-2fff>b1000/1;");
	T_EQ(detach(d, 1, 0), S(OK));
	T_STREQ(maps_of(d, 1), "(none)");		/* the last endpoint took the domain with it */
	viommu_virtio_iommu_free(d);
}

/*
 * QEMU's test_map_unmap with its "spec example sequence". QEMU's test maps
 * byte ranges like [0, 9] on a device that advertises a 4 KiB granule and
 * does not check it; the spec allows a granule of one byte, so the device
 * runs it with page_size_mask 1 and gives every one of QEMU's statuses.
 */
static void test_qemu_map_unmap(void)
{
	struct viommu_virtio_iommu *d = dev_new(1, true);

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0, NULL), 0);
	T_EQ(attach(d, 1, 0), S(OK));
	T_EQ(map(d, 0, 0, 0xfff, 0xa1000, RD), S(NOENT));
	T_EQ(map(d, 1, 0x0, 0xfff, 0xa1000, RD), S(OK));
	T_EQ(map(d, 1, 0, 0xffff, 0xb1000, RD), S(INVAL));	/* overlaps */
	T_EQ(unmap(d, 4, 0x10, 0xfff), S(NOENT));
	T_EQ(unmap(d, 1, 0x10, 0xfff), S(RANGE));
	T_STREQ(maps_of(d, 1), "0-fff>a1000/1;");		/* RANGE removed nothing */
	T_EQ(unmap(d, 1, 0, 0x1000), S(OK));
	T_STREQ(maps_of(d, 1), "");
	/* 1 */
	T_EQ(unmap(d, 1, 0, 4), S(OK));
	/* 2 */
	T_EQ(map(d, 1, 0, 9, 0xa1000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 9), S(OK));
	T_STREQ(maps_of(d, 1), "");
	/* 3 */
	T_EQ(map(d, 1, 0, 4, 0xb1000, RD), S(OK));
	T_EQ(map(d, 1, 5, 9, 0xb2000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 9), S(OK));
	T_STREQ(maps_of(d, 1), "");
	/* 4 */
	T_EQ(map(d, 1, 0, 9, 0xc1000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 4), S(RANGE));
	T_STREQ(maps_of(d, 1), "0-9>c1000/1;");
	T_EQ(unmap(d, 1, 0, 10), S(OK));
	/* 5 */
	T_EQ(map(d, 1, 0, 4, 0xd1000, RD), S(OK));
	T_EQ(map(d, 1, 5, 9, 0xd2000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 4), S(OK));
	T_STREQ(maps_of(d, 1), "5-9>d2000/1;");
	T_EQ(unmap(d, 1, 5, 9), S(OK));
	/* 6 */
	T_EQ(map(d, 1, 0, 4, 0xe2000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 9), S(OK));
	/* 7 */
	T_EQ(map(d, 1, 0, 4, 0xf2000, RD), S(OK));
	T_EQ(map(d, 1, 10, 14, 0xf3000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 14), S(OK));
	T_STREQ(maps_of(d, 1), "");
	T_EQ(map(d, 1, 10, 14, 0xf3000, RD), S(OK));
	T_EQ(map(d, 1, 0, 4, 0xf2000, RD), S(OK));
	T_EQ(unmap(d, 1, 0, 4), S(OK));
	T_EQ(map(d, 1, 10, 14, 0xf3000, RD), S(INVAL));	/* 10-14 is still mapped */
	T_STREQ(maps_of(d, 1), "a-e>f3000/1;");
	viommu_virtio_iommu_free(d);
}

/*
 * A refused UNMAP removes nothing even when mappings it covers come before
 * the one it would split (QEMU removes those: the named deviation "partial
 * UNMAP" in docs/design.md).
 */
static void test_unmap_split_changes_nothing(void)
{
	struct viommu_virtio_iommu *d = dev_new(0, false);

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 8, NULL), 0);
	T_EQ(attach(d, 3, 8), S(OK));
	T_EQ(map(d, 3, 0x0000, 0x0fff, 0x10000, RD | WR), S(OK));
	T_EQ(map(d, 3, 0x1000, 0x1fff, 0x20000, RD | WR), S(OK));
	T_EQ(map(d, 3, 0x2000, 0x5fff, 0x30000, RD), S(OK));
	T_EQ(unmap(d, 3, 0x0000, 0x2fff), S(RANGE));	/* the third would be split */
	T_STREQ(maps_of(d, 3), "0-fff>10000/3;1000-1fff>20000/3;2000-5fff>30000/1;");
	T_EQ(unmap(d, 3, 0x1000, 0x5fff), S(OK));
	T_STREQ(maps_of(d, 3), "0-fff>10000/3;");
	/* The top of the space: [2^64 - 4K, 2^64 - 1] maps, and unmaps whole. */
	T_EQ(map(d, 3, 0xfffffffffffff000ull, UINT64_MAX, 0x40000, RD), S(OK));
	T_EQ(unmap(d, 3, 0xfffffffffffff800ull, UINT64_MAX), S(RANGE));
	T_EQ(unmap(d, 3, 0x8000, UINT64_MAX), S(OK));
	T_EQ(unmap(d, 3, 0, UINT64_MAX), S(OK));
	T_STREQ(maps_of(d, 3), "");
	viommu_virtio_iommu_free(d);
}

/* Every refusal status of the spec and the issue, each changing nothing. */
static void test_statuses(void)
{
	struct viommu_virtio_iommu_resv msi = { 0xfee00000, 0xfeefffff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI };
	struct viommu_virtio_iommu_resv own = { 0x7000000, 0x70fffff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED };
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .input_first = 0x1000, .input_last = 0xffffffffffull,
					      .domain_first = 1, .domain_last = 100, .resv = &msi, .nresv = 1,
					      .phys_bits = 40, .max_mappings = 3 };
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .resv = &own, .nresv = 1 };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	T_OK(d != NULL);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 1, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 2, &eo), 0);
	/* ATTACH */
	T_EQ(attach_flags(d, 5, 1, 0, 1), S(INVAL));			/* reserved not zero */
	T_EQ(attach_flags(d, 5, 1, 2, 0), S(INVAL));			/* unknown flag */
	T_EQ(attach(d, 5, 9), S(NOENT));				/* unknown endpoint */
	T_EQ(attach(d, 0, 1), S(RANGE));				/* domain below domain_range */
	T_EQ(attach(d, 101, 1), S(RANGE));
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.domains, 0);
	T_EQ(attach(d, 5, 1), S(OK));
	T_EQ(attach_flags(d, 5, 2, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0), S(INVAL));	/* not a bypass domain */
	T_EQ(attach_flags(d, 6, 2, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0), S(OK));	/* a bypass domain */
	T_EQ(attach(d, 6, 1), S(INVAL));				/* is a bypass domain */
	T_EQ(map(d, 6, 0x1000, 0x1fff, 0, RD), S(INVAL));		/* MAP on a bypass domain */
	T_EQ(unmap(d, 6, 0x1000, 0x1fff), S(INVAL));
	/* MAP */
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x1000, 8), S(INVAL));		/* unknown flag */
	T_EQ(map(d, 200, 0x1000, 0x1fff, 0x1000, RD), S(RANGE));	/* domain outside domain_range */
	T_EQ(map(d, 7, 0x1000, 0x1fff, 0x1000, RD), S(NOENT));		/* no such domain */
	T_EQ(map(d, 5, 0x2000, 0x1fff, 0x1000, RD), S(INVAL));		/* start > end */
	T_EQ(map(d, 5, 0x1800, 0x1fff, 0x1000, RD), S(RANGE));		/* misaligned start */
	T_EQ(map(d, 5, 0x1000, 0x1ffe, 0x1000, RD), S(RANGE));		/* misaligned end + 1 */
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x1800, RD), S(RANGE));		/* misaligned phys */
	T_EQ(map(d, 5, 0x0000, 0x0fff, 0x1000, RD), S(RANGE));		/* below input_range */
	T_EQ(map(d, 5, 0x10000000000ull, 0x10000000fffull, 0x1000, RD), S(RANGE));	/* above input_range */
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0xfffffff000ull, RD), S(OK));	/* the last page of 40 bits */
	T_EQ(unmap(d, 5, 0x1000, 0x1fff), S(OK));
	T_EQ(map(d, 5, 0x1000, 0x2fff, 0xfffffff000ull, RD), S(RANGE));	/* beyond 40 bits */
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x10000000000ull, RD), S(RANGE));
	T_EQ(map(d, 5, 0xfedff000, 0xfee00fff, 0x1000, RD), S(RANGE));	/* over the MSI region */
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x1000, MMIO | WR), S(OK));	/* MMIO is offered */
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x1000, RD), S(INVAL));		/* overlaps */
	T_EQ(map(d, 5, 0x0800000, 0x0800fff, 0x1000, 0), S(OK));	/* no permission: allowed */
	T_EQ(map(d, 5, 0x2000, 0x2fff, 0x1000, RD), S(OK));
	T_EQ(map(d, 5, 0x3000, 0x3fff, 0x1000, RD), S(NOMEM));		/* max_mappings 3 */
	/* Endpoint 2's own reserved region: an ATTACH into a domain mapping it is UNSUPP. */
	T_EQ(map(d, 5, 0x2000, 0x2fff, 0x1000, RD), S(INVAL));
	T_EQ(unmap(d, 5, 0x0800000, 0x0800fff), S(OK));
	T_EQ(map(d, 5, 0x7000000, 0x7000fff, 0x1000, RD), S(OK));
	T_EQ(attach(d, 5, 2), S(UNSUPP));
	T_EQ(unmap(d, 5, 0x7000000, 0x7000fff), S(OK));
	T_EQ(attach(d, 5, 2), S(OK));
	T_EQ(map(d, 5, 0x7000000, 0x7000fff, 0x1000, RD), S(RANGE));	/* now reserved in domain 5 */
	T_STREQ(maps_of(d, 5), "1000-1fff>1000/6;2000-2fff>1000/1;");
	/* UNMAP */
	T_EQ(unmap(d, 200, 0, 1), S(RANGE));
	T_EQ(unmap(d, 9, 0, 1), S(NOENT));
	T_EQ(unmap(d, 5, 2, 1), S(INVAL));
	/* DETACH */
	T_EQ(detach(d, 5, 9), S(NOENT));
	T_EQ(detach(d, 9, 1), S(INVAL));			/* no such domain */
	T_EQ(detach(d, 6, 1), S(INVAL));			/* attached elsewhere */
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.domains, 1);				/* 6 went when endpoint 2 left it */
	T_EQ(st.mappings, 2);
	T_EQ(st.unfed, 1);				/* the MMIO mapping */
	T_EQ(st.status[S(OK)] + st.status[S(INVAL)] + st.status[S(RANGE)] + st.status[S(NOENT)] +
	     st.status[S(UNSUPP)] + st.status[S(NOMEM)], st.requests);
	viommu_virtio_iommu_free(d);

	/* Without MMIO and BYPASS_CONFIG offered those flags are unknown; without MAP_UNMAP negotiated, UNSUPP. */
	o = (struct viommu_virtio_iommu_opts){ .sz = sizeof(o),
		.features = VIOMMU_VIRTIO_IOMMU_FEATURE(VIOMMU_VIRTIO_IOMMU_F_MAP_UNMAP) };
	d = viommu_virtio_iommu_new(&o);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 1, NULL), 0);
	T_EQ(attach_flags(d, 5, 1, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0), S(INVAL));
	T_EQ(attach(d, 5, 1), S(OK));
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x1000, MMIO | RD), S(INVAL));
	T_EQ(viommu_virtio_iommu_set_features(d, 0), 0);
	T_EQ(map(d, 5, 0x1000, 0x1fff, 0x1000, RD), S(UNSUPP));
	T_EQ(unmap(d, 5, 0x1000, 0x1fff), S(UNSUPP));
	viommu_virtio_iommu_free(d);
}

/*
 * ATTACH of an endpoint to its own domain keeps the mappings, and an
 * inconsistent bypass flag is refused before the endpoint leaves its domain
 * (QEMU detaches first in both cases, losing a domain whose last endpoint it
 * was: named deviations in docs/design.md).
 */
static void test_reattach_same_domain(void)
{
	struct viommu_virtio_iommu *d = dev_new(0, false);
	struct viommu_virtio_iommu_endpoint_state st;

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 8, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 9, NULL), 0);
	T_EQ(attach(d, 1, 8), S(OK));
	T_EQ(map(d, 1, 0x1000, 0x1fff, 0x5000, RD), S(OK));
	T_EQ(attach(d, 1, 8), S(OK));
	T_STREQ(maps_of(d, 1), "1000-1fff>5000/1;");
	T_EQ(attach(d, 2, 9), S(OK));
	T_EQ(attach_flags(d, 2, 8, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0), S(INVAL));
	T_EQ(viommu_virtio_iommu_endpoint_state(d, 8, &st), 0);
	T_OK(st.attached && st.domain == 1 && !st.bypass);
	T_STREQ(maps_of(d, 1), "1000-1fff>5000/1;");
	viommu_virtio_iommu_free(d);
}

/* Buffers: short, split over iovecs, missing parts, unknown types, PROBE bytes. */
static void test_buffers(void)
{
	struct viommu_virtio_iommu_resv msi = { 0xfee00000, 0xfeefffff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI };
	struct viommu_virtio_iommu_resv own[2] = { { 0x9000, 0x9fff, 0 }, { 0x1000, 0x1fff, 0 } };
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .resv = &msi, .nresv = 1 };
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .resv = own, .nresv = 2 };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);
	uint8_t b[80], pr[72];

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x20, &eo), 0);
	/* No head, or no room for the tail: returned unwritten. */
	T_EQ(req(d, b, 3, 4), -EINVAL);
	T_EQ(g_used, 0);
	T_EQ(g_out[0], 0xee);
	enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 0x18, 0, 0);
	T_EQ(req(d, b, 20, 3), -EINVAL);
	T_EQ(g_out[0], 0xee);
	/* Unknown types: unwritten (spec), where QEMU writes UNSUPP (a named deviation). */
	b[0] = 0;
	T_EQ(req(d, b, 20, 4), -EOPNOTSUPP);
	b[0] = 6;
	T_EQ(req(d, b, 20, 4), -EOPNOTSUPP);
	b[0] = 0xff;
	T_EQ(req(d, b, 20, 4), -EOPNOTSUPP);
	T_EQ(g_used, 0);
	T_EQ(g_out[0], 0xee);
	/* A request shorter than its type: INVAL, nothing done. */
	enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 0x18, 0, 0);
	T_EQ(req(d, b, 19, 4), S(INVAL));
	T_EQ(g_used, 4);
	enc_map(b, 1, 0, 0xfff, 0, RD);
	T_EQ(req(d, b, 35, 4), S(INVAL));
	/* A longer readable part is fine; the tail goes at the start of a longer writable part. */
	enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 0x18, 0, 0);
	T_EQ(req(d, b, 80, 64), S(OK));
	T_EQ(g_used, 4);
	T_EQ(g_out[4], 0xee);
	/* Split byte by byte over iovecs, both ways. */
	struct iovec rd[36], wr[4];
	uint8_t tail[4] = { 0xee, 0xee, 0xee, 0xee };

	enc_map(b, 1, 0x4000, 0x4fff, 0x8000, RD | WR);
	for (int i = 0; i < 36; i++)
		rd[i] = (struct iovec){ b + i, 1 };
	for (int i = 0; i < 4; i++)
		wr[i] = (struct iovec){ tail + i, 1 };
	T_EQ(viommu_virtio_iommu_handle_request(d, rd, 36, wr, 4, &g_used), S(OK));
	T_EQ(g_used, 4);
	T_EQ(tail[0] | tail[1] | tail[2] | tail[3], 0);
	T_EQ(viommu_virtio_iommu_handle_request(d, rd, 36, wr, 4, &g_used), S(INVAL));	/* now overlapping */
	T_EQ(tail[0], S(INVAL));
	T_STREQ(maps_of(d, 1), "4000-4fff>8000/3;");
	/* Empty iovecs are fine; one with a length and no address is the caller's bug: nothing happens. */
	struct iovec mix[3] = { { NULL, 0 }, { b, 36 }, { NULL, 0 } };

	enc_map(b, 1, 0x6000, 0x6fff, 0x8000, RD);
	T_EQ(viommu_virtio_iommu_handle_request(d, mix, 3, wr, 4, &g_used), S(OK));
	enc_map(b, 1, 0x7000, 0x7fff, 0x8000, RD);
	mix[2].iov_len = 8;
	T_EQ(viommu_virtio_iommu_handle_request(d, mix, 3, wr, 4, &g_used), -EINVAL);
	mix[2].iov_len = 0;
	wr[3] = (struct iovec){ NULL, 1 };
	T_EQ(viommu_virtio_iommu_handle_request(d, mix, 3, wr, 4, &g_used), -EINVAL);
	T_STREQ(maps_of(d, 1), "4000-4fff>8000/3;6000-6fff>8000/1;");

	/* PROBE: properties then the tail, exact bytes, rest zero. */
	enc_probe(pr, 0x20);
	T_EQ(req(d, pr, 72, 516), S(OK));
	T_EQ(g_used, 516);
	uint8_t want[516] = { 0 };
	const uint64_t r[3][3] = { { 1, 0xfee00000, 0xfeefffff }, { 0, 0x1000, 0x1fff }, { 0, 0x9000, 0x9fff } };

	for (int i = 0; i < 3; i++) {
		m_put16(want + 24 * i, 1);
		m_put16(want + 24 * i + 2, 20);
		want[24 * i + 4] = (uint8_t)r[i][0];
		m_put64(want + 24 * i + 8, r[i][1]);
		m_put64(want + 24 * i + 16, r[i][2]);
	}
	T_EQ(memcmp(g_out, want, sizeof(want)), 0);
	T_EQ(g_out[516], 0xee);
	/* Unknown endpoint: zeroed properties and NOENT. */
	enc_probe(pr, 0x21);
	T_EQ(req(d, pr, 72, 516), S(NOENT));
	T_EQ(g_used, 516);
	T_EQ(g_out[0] | g_out[100] | g_out[511], 0);
	T_EQ(g_out[512], S(NOENT));
	/* Readable part shorter than 72 bytes: INVAL. */
	enc_probe(pr, 0x20);
	T_EQ(req(d, pr, 8, 516), S(INVAL));
	T_EQ(g_out[0], 0);
	T_EQ(g_out[512], S(INVAL));
	/* Writable part too small for probe_size: no property, the tail at its end. */
	T_EQ(req(d, pr, 72, 100), S(INVAL));
	T_EQ(g_used, 100);
	T_EQ(g_out[0], 0xee);
	T_EQ(g_out[95], 0xee);
	T_EQ(g_out[96], S(INVAL));
	T_EQ(g_out[97] | g_out[98] | g_out[99], 0);
	viommu_virtio_iommu_free(d);

	/* PROBE without F_PROBE: unwritten. */
	o = (struct viommu_virtio_iommu_opts){ .sz = sizeof(o),
		.features = VIOMMU_VIRTIO_IOMMU_FEATURE(VIOMMU_VIRTIO_IOMMU_F_MAP_UNMAP) };
	d = viommu_virtio_iommu_new(&o);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), 0);
	enc_probe(pr, 0x18);
	T_EQ(req(d, pr, 72, 516), -EOPNOTSUPP);
	T_EQ(g_out[0], 0xee);
	viommu_virtio_iommu_free(d);
}

static struct viommu_virtio_iommu_fault g_faults[8];
static unsigned g_nfault, g_room;

static int on_fault(void *ctx, const struct viommu_virtio_iommu_fault *f)
{
	(void)ctx;
	if (g_nfault >= g_room)
		return -ENOSPC;
	g_faults[g_nfault++] = *f;
	return 0;
}

static void want_fault(unsigned i, unsigned reason, uint32_t flags, uint32_t ep, uint64_t addr)
{
	T_OK(i < g_nfault);
	if (i >= g_nfault)
		return;
	T_EQ(g_faults[i].reason, reason);
	T_EQ(g_faults[i].flags, flags);
	T_EQ(g_faults[i].endpoint, ep);
	T_EQ_U64(g_faults[i].address, addr);
}

/* Translation per endpoint state, and the fault records (spec "Fault reporting"). */
static void test_translate(void)
{
	struct viommu_virtio_iommu_resv rs[2] = { { 0xfee00000, 0xfeefffff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI },
						  { 0xa0000, 0xbffff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED } };
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .resv = rs, .nresv = 2, .event = on_fault };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);
	struct viommu_virtio_iommu_xlat x;
	struct viommu_virtio_iommu_fault f;
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };
	const uint32_t FR = VIOMMU_VIRTIO_IOMMU_FAULT_F_READ, FW = VIOMMU_VIRTIO_IOMMU_FAULT_F_WRITE,
		       FA = VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS;
	uint8_t one = 1;

	g_room = 8;
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x20, NULL), 0);
	/* Unattached, bypass 0: DOMAIN; the MSI region is a doorbell; a reserved one faults MAPPING. */
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x1234, VIOMMU_PERM_READ, &x, &f), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0xfee00004, VIOMMU_PERM_WRITE, &x, NULL), 0);
	T_EQ(x.kind, VIOMMU_VIRTIO_IOMMU_XLAT_MSI);
	T_EQ_U64(x.addr, 0xfee00004);
	T_EQ_U64(x.first, 0xfee00000);
	T_EQ_U64(x.last, 0xfeefffff);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0xa0010, VIOMMU_PERM_WRITE, &x, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x99, 0x5000, VIOMMU_PERM_WRITE, &x, NULL), -ENOENT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x5000, 0, &x, NULL), -EINVAL);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x5000, 4, &x, NULL), -EINVAL);
	T_EQ(g_nfault, 3);
	want_fault(0, VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN, FR | FA, 0x18, 0x1234);
	want_fault(1, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, FW | FA, 0x18, 0xa0010);
	want_fault(2, VIOMMU_VIRTIO_IOMMU_FAULT_R_UNKNOWN, FW | FA, 0x99, 0x5000);
	T_EQ(f.reason, VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN);
	/* bypass 1: identity over the whole space, reserved regions included. */
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), 0);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0xa0010, VIOMMU_PERM_RW, &x, NULL), 0);
	T_EQ(x.kind, VIOMMU_VIRTIO_IOMMU_XLAT_BYPASS);
	T_EQ_U64(x.addr, 0xa0010);
	T_EQ_U64(x.last, UINT64_MAX);
	/* Attached: the mapping, permission by permission. */
	T_EQ(attach(d, 1, 0x18), S(OK));
	T_EQ(map(d, 1, 0x10000, 0x1ffff, 0x300000, RD), S(OK));
	T_EQ(map(d, 1, 0x20000, 0x20fff, 0x400000, WR), S(OK));
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x10abc, VIOMMU_PERM_READ, &x, NULL), 0);
	T_EQ(x.kind, VIOMMU_VIRTIO_IOMMU_XLAT_MAPPED);
	T_EQ_U64(x.addr, 0x300abc);
	T_EQ_U64(x.first, 0x10000);
	T_EQ_U64(x.last, 0x1ffff);
	T_EQ_U64(x.out, 0x300000);
	T_EQ(x.perm, VIOMMU_PERM_READ);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x20010, VIOMMU_PERM_WRITE, &x, NULL), 0);
	T_EQ_U64(x.addr, 0x400010);
	g_nfault = 0;
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x10abc, VIOMMU_PERM_WRITE, &x, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x20010, VIOMMU_PERM_READ, &x, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x21000, VIOMMU_PERM_READ, &x, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x10abc, VIOMMU_PERM_RW, &x, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0xfee00000, VIOMMU_PERM_WRITE, &x, NULL), 0);
	T_EQ(x.kind, VIOMMU_VIRTIO_IOMMU_XLAT_MSI);
	T_EQ(g_nfault, 4);
	want_fault(0, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, FW | FA, 0x18, 0x10abc);
	want_fault(1, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, FR | FA, 0x18, 0x20010);
	want_fault(2, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, FR | FA, 0x18, 0x21000);
	want_fault(3, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, FR | FW | FA, 0x18, 0x10abc);
	/* Endpoint 0x20 is still unattached and in bypass. */
	T_EQ(viommu_virtio_iommu_translate(d, 0x20, 0x10abc, VIOMMU_PERM_WRITE, &x, NULL), 0);
	T_EQ(x.kind, VIOMMU_VIRTIO_IOMMU_XLAT_BYPASS);
	/* A bypass domain: identity for its endpoints. */
	T_EQ(attach_flags(d, 2, 0x20, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0), S(OK));
	one = 0;
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), 0);
	T_EQ(viommu_virtio_iommu_translate(d, 0x20, 0x10abc, VIOMMU_PERM_WRITE, &x, NULL), 0);
	T_EQ(x.kind, VIOMMU_VIRTIO_IOMMU_XLAT_BYPASS);
	/* A full event queue: the fault is still reported to the caller and counted as dropped. */
	g_nfault = 0;
	g_room = 1;
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x50000, VIOMMU_PERM_READ, &x, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x50000, VIOMMU_PERM_READ, &x, &f), -EFAULT);
	T_EQ(g_nfault, 1);
	T_EQ_U64(f.address, 0x50000);
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.faults, 9);
	T_EQ(st.events_dropped, 1);
	/* After DETACH the endpoint cannot reach the domain's mappings. */
	T_EQ(detach(d, 1, 0x18), S(OK));
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x10abc, VIOMMU_PERM_READ, &x, &f), -EFAULT);
	T_EQ(f.reason, VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN);
	viommu_virtio_iommu_free(d);
}

/* What an endpoint's IOMMU address space tells its listeners. */
static char g_ev[4096];
static size_t g_elen;

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	const char *k = ev->kind == VIOMMU_IOMMU_EV_MAP ? "M" : ev->kind == VIOMMU_IOMMU_EV_UNMAP ? "U" : "C";

	(void)l;
	g_elen += (size_t)snprintf(g_ev + g_elen, sizeof(g_ev) - g_elen, "%s%x:%" PRIx64 "-%" PRIx64 ">%" PRIx64
				   "/%u;", k, ev->source_id, ev->first, ev->last, ev->out, ev->perm);
}

static const char *events(void)
{
	static char copy[4096];

	memcpy(copy, g_ev, sizeof(copy));
	g_elen = 0;
	g_ev[0] = 0;
	return copy;
}

static void test_endpoint_events(void)
{
	struct viommu_virtio_iommu *d = dev_new(0, false);
	struct viommu_iommu_listener la = { .sz = sizeof(la), .first = 0, .last = UINT64_MAX,
					    .kinds = VIOMMU_IOMMU_EV_ALL, .caps = VIOMMU_IOMMU_CAP_ARBITRARY,
					    .notify = on_event };
	struct viommu_iommu_listener lb = la;
	uint8_t one = 1;

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0xa, NULL), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0xb, NULL), 0);
	T_OK(viommu_virtio_iommu_endpoint_as(d, 0xc) == NULL && errno == ENOENT);
	T_EQ(attach(d, 1, 0xa), S(OK));
	T_EQ(map(d, 1, 0x1000, 0x2fff, 0x10000, RD | WR), S(OK));
	T_EQ(map(d, 1, 0x3000, 0x3fff, 0x12000, RD | WR), S(OK));	/* contiguous: still its own extent */
	T_EQ(map(d, 1, 0x8000, 0x8fff, 0xfee00000, MMIO | WR), S(OK));	/* MMIO: not fed */
	T_EQ(map(d, 1, 0x9000, 0x9fff, 0x20000, 0), S(OK));		/* no permission: nothing to feed */
	struct viommu_iommu_as *a = viommu_virtio_iommu_endpoint_as(d, 0xa);
	struct viommu_iommu_as *b = viommu_virtio_iommu_endpoint_as(d, 0xb);

	T_OK(a && b && a != b);
	T_OK(viommu_virtio_iommu_endpoint_as(d, 0xa) == a);
	/* Registering replays what the endpoint reaches now: one MAP per mapping. */
	T_EQ(viommu_iommu_listener_register(a, &la), 0);
	T_STREQ(events(), "Ma:1000-2fff>10000/3;Ma:3000-3fff>12000/3;");
	T_EQ(viommu_iommu_listener_register(b, &lb), 0);
	T_STREQ(events(), "");					/* unattached, no bypass */
	/* MAP -> MAP; UNMAP -> exactly the removed mappings. */
	T_EQ(map(d, 1, 0x5000, 0x5fff, 0x30000, RD), S(OK));
	T_STREQ(events(), "Ma:5000-5fff>30000/1;");
	T_EQ(map(d, 1, 0x5000, 0x5fff, 0x30000, RD), S(INVAL));
	T_STREQ(events(), "");
	T_EQ(unmap(d, 1, 0x2000, 0x4fff), S(RANGE));
	T_STREQ(events(), "");
	T_EQ(unmap(d, 1, 0x0, 0x4fff), S(OK));
	T_STREQ(events(), "Ua:1000-2fff>10000/3;Ua:3000-3fff>12000/3;");
	/* attach -> replay of the domain's mappings; detach -> UNMAP of them. */
	T_EQ(attach(d, 1, 0xb), S(OK));
	T_STREQ(events(), "Mb:5000-5fff>30000/1;");
	T_EQ(map(d, 1, 0x6000, 0x6fff, 0x40000, WR), S(OK));
	T_STREQ(events(), "Mb:6000-6fff>40000/2;Ma:6000-6fff>40000/2;");	/* b joined last: first in the list */
	T_EQ(detach(d, 1, 0xa), S(OK));
	T_STREQ(events(), "Ua:5000-5fff>30000/1;Ua:6000-6fff>40000/2;");
	/* Moving b to a new domain: what it reached goes, the new domain's comes, one event per mapping. */
	T_EQ(attach(d, 2, 0xa), S(OK));
	T_EQ(map(d, 2, 0x5000, 0x5fff, 0x30000, RD), S(OK));		/* identical to domain 1's */
	T_EQ(map(d, 2, 0x7000, 0x7fff, 0x50000, RD), S(OK));
	T_STREQ(events(), "Ma:5000-5fff>30000/1;Ma:7000-7fff>50000/1;");
	T_EQ(attach(d, 2, 0xb), S(OK));				/* domain 1 ceases to exist */
	T_STREQ(events(), "Ub:5000-5fff>30000/1;Ub:6000-6fff>40000/2;Mb:5000-5fff>30000/1;Mb:7000-7fff>50000/1;");
	/* bypass: the identity map; back to blocking: removed. */
	T_EQ(detach(d, 2, 0xb), S(OK));
	T_STREQ(events(), "Ub:5000-5fff>30000/1;Ub:7000-7fff>50000/1;");
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), 0);
	T_STREQ(events(), "Mb:0-ffffffffffffffff>0/3;");
	one = 0;
	T_EQ(viommu_virtio_iommu_config_write(d, 36, &one, 1), 0);
	T_STREQ(events(), "Ub:0-ffffffffffffffff>0/3;");
	/* A device reset detaches everything. */
	viommu_virtio_iommu_reset(d, false);
	T_STREQ(events(), "Ua:5000-5fff>30000/1;Ua:7000-7fff>50000/1;");
	T_EQ(viommu_virtio_iommu_remove_endpoint(d, 0xa), 0);
	T_EQ(viommu_virtio_iommu_remove_endpoint(d, 0xa), -ENOENT);
	T_STREQ(events(), "");
	viommu_virtio_iommu_free(d);
}

/* A granule of one byte (the spec allows it): sub-4-byte mappings translate but are not fed. */
static void test_byte_granule(void)
{
	struct viommu_virtio_iommu *d = dev_new(1, false);
	struct viommu_iommu_listener l = { .sz = sizeof(l), .last = UINT64_MAX, .kinds = VIOMMU_IOMMU_EV_ALL,
					   .caps = VIOMMU_IOMMU_CAP_ARBITRARY, .notify = on_event };
	struct viommu_virtio_iommu_xlat x;
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_virtio_iommu_add_endpoint(d, 1, NULL), 0);
	T_EQ(attach(d, 1, 1), S(OK));
	T_EQ(viommu_iommu_listener_register(viommu_virtio_iommu_endpoint_as(d, 1), &l), 0);
	T_EQ(map(d, 1, 0, 9, 0xa1000, RD), S(OK));
	T_EQ(map(d, 1, 12, 15, 0xa2000, RD), S(OK));
	T_STREQ(events(), "M1:c-f>a2000/1;");
	T_EQ(viommu_virtio_iommu_translate(d, 1, 9, VIOMMU_PERM_READ, &x, NULL), 0);
	T_EQ_U64(x.addr, 0xa1009);
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.unfed, 1);
	T_EQ(unmap(d, 1, 0, 100), S(OK));
	T_STREQ(events(), "U1:c-f>a2000/1;");
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.unfed, 0);
	T_EQ(st.mappings, 0);
	viommu_virtio_iommu_free(d);
}

/* The options and stats size rule (src/util/opts.h). */
static void test_opts_rule(void)
{
	struct {
		struct viommu_virtio_iommu_opts o;
		uint64_t extra;
	} big = { .o = { .sz = sizeof(big) } };
	struct viommu_virtio_iommu *d;

	d = viommu_virtio_iommu_new(&big.o);
	T_OK(d != NULL);
	viommu_virtio_iommu_free(d);
	big.extra = 1;
	T_OK(viommu_virtio_iommu_new(&big.o) == NULL && errno == EINVAL);
	d = viommu_virtio_iommu_new(NULL);
	T_OK(d != NULL);
	struct viommu_virtio_iommu_stats st = { .sz = 2 * sizeof(uint64_t) };

	st.requests = 77;
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.requests, 0);
	T_EQ(st.sz, 2 * sizeof(uint64_t));
	viommu_virtio_iommu_free(d);
	viommu_virtio_iommu_free(NULL);
}

int main(void)
{
	test_config();
	test_qemu_attach_detach();
	test_qemu_map_unmap();
	test_unmap_split_changes_nothing();
	test_statuses();
	test_reattach_same_domain();
	test_buffers();
	test_translate();
	test_endpoint_events();
	test_byte_granule();
	test_opts_rule();
	return t_done();
}
