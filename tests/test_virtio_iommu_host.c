// SPDX-License-Identifier: MIT
/*
 * The virtio-iommu device's host side, on simulated VFIO type1 v2 backends:
 * each domain's mappings composed with the memory map, one host mapping set
 * per domain and backend however many endpoints share it (cloud-hypervisor
 * maps every guest MAP once per endpoint), the identity map in bypass, a
 * shared backend emptied while its endpoints disagree, and a MAP the host
 * refuses (out of mappings, or failing) taken back whole.
 */
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/iommu.h>
#include <viommu/virtio_iommu.h>

#include "test.h"
#include "virtio_iommu_model.h"

#define S(x) VIOMMU_VIRTIO_IOMMU_S_##x
#define RW (VIOMMU_VIRTIO_IOMMU_MAP_F_READ | VIOMMU_VIRTIO_IOMMU_MAP_F_WRITE)
/* The simulated backend never touches host memory: fake, aligned addresses. */
#define HOST_LO 0x100000000000ull
#define HOST_HI 0x200000000000ull

struct fix {
	struct viommu_memory *m;
	struct viommu_as *sys;
	struct viommu_virtio_iommu *d;
};

static void setup(struct fix *f, bool bypass)
{
	static const struct viommu_mr_ops mmio_ops = { .sz = sizeof(mmio_ops) };

	f->m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(f->m, "system", 0);
	struct viommu_mr *lo = viommu_mr_new_ram(f->m, "ram-lo", 64 << 20, (void *)(uintptr_t)HOST_LO);
	struct viommu_mr *hi = viommu_mr_new_ram(f->m, "ram-hi", 16 << 20, (void *)(uintptr_t)HOST_HI);
	struct viommu_mr *io = viommu_mr_new_mmio(f->m, "mmio", 1 << 20, &mmio_ops, NULL);

	if (!root || !lo || !hi || !io)
		T_FATAL("regions");
	T_EQ(viommu_mr_add_subregion(root, 0, lo, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x100000000ull, hi, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0xe0000000ull, io, 0), 0);
	f->sys = viommu_as_new(f->m, "memory", root);
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .boot_bypass = bypass, .memory = f->m,
					      .sys = f->sys };

	f->d = viommu_virtio_iommu_new(&o);
	if (!f->sys || !f->d)
		T_FATAL("setup");
}

static void teardown(struct fix *f)
{
	viommu_virtio_iommu_free(f->d);
	viommu_memory_free(f->m);
}

static struct viommu_host *sim(uint32_t limit)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .dma_entry_limit = limit };
	struct viommu_host *h = viommu_host_sim_new(&o);

	if (!h)
		T_FATAL("sim");
	return h;
}

static int rq(struct viommu_virtio_iommu *d, const uint8_t *b, size_t n)
{
	uint8_t tail[4];
	uint32_t used;
	struct iovec rd = { (void *)b, n }, wr = { tail, 4 };

	return viommu_virtio_iommu_handle_request(d, &rd, 1, &wr, 1, &used);
}

static int attach(struct viommu_virtio_iommu *d, uint32_t dom, uint32_t ep)
{
	uint8_t b[20];

	return rq(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, dom, ep, 0, 0));
}

static int detach(struct viommu_virtio_iommu *d, uint32_t dom, uint32_t ep)
{
	uint8_t b[20];

	return rq(d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_DETACH, dom, ep, 0, 0));
}

static int map(struct viommu_virtio_iommu *d, uint32_t dom, uint64_t first, uint64_t last, uint64_t phys,
	       uint32_t flags)
{
	uint8_t b[36];

	return rq(d, b, enc_map(b, dom, first, last, phys, flags));
}

static int unmap(struct viommu_virtio_iommu *d, uint32_t dom, uint64_t first, uint64_t last)
{
	uint8_t b[28];

	return rq(d, b, enc_unmap(b, dom, first, last));
}

/* The backend's mappings as "iova+len>vaddr/prot;" text. */
static char g_txt[4096];
static size_t g_tlen;

static void add_one(const struct viommu_host_mapping *m, void *ctx)
{
	(void)ctx;
	g_tlen += (size_t)snprintf(g_txt + g_tlen, sizeof(g_txt) - g_tlen, "%" PRIx64 "+%" PRIx64 ">%" PRIx64 "/%u;",
				   m->iova, m->length, m->vaddr, m->prot);
}

static const char *host_maps(struct viommu_host *h)
{
	g_tlen = 0;
	g_txt[0] = 0;
	viommu_host_sim_mappings(h, add_one, NULL);
	return g_txt;
}

static long calls(struct viommu_host *h)
{
	long n = viommu_host_sim_timeline_count(h);

	viommu_host_sim_timeline_clear(h);
	return n;
}

static struct viommu_virtio_iommu_stats stats(struct viommu_virtio_iommu *d)
{
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	return st;
}

/* Two endpoints sharing a backend cost one host mapping set; two backends cost two. */
static void test_shared_backend(void)
{
	struct fix f;
	struct viommu_host *h = sim(0), *h2 = sim(0);
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .backend = h };

	setup(&f, false);
	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x18, &eo), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x20, &eo), 0);
	T_EQ(attach(f.d, 1, 0x18), S(OK));
	T_EQ(attach(f.d, 1, 0x20), S(OK));
	T_EQ(calls(h), 0);
	T_EQ(map(f.d, 1, 0x10000, 0x10fff, 0x200000, RW), S(OK));
	T_EQ(map(f.d, 1, 0x20000, 0x21fff, 0x100001000ull, VIOMMU_VIRTIO_IOMMU_MAP_F_READ), S(OK));
	T_STREQ(host_maps(h), "10000+1000>100000200000/3;20000+2000>200000001000/1;");
	T_EQ(calls(h), 2);
	struct viommu_virtio_iommu_stats st = stats(f.d);

	T_EQ(st.host_mappings, 2);
	T_EQ(st.host_map_ops, 2);
	/* UNMAP -> exactly the removed mapping. */
	T_EQ(unmap(f.d, 1, 0x10000, 0x1ffff), S(OK));
	T_STREQ(host_maps(h), "20000+2000>200000001000/1;");
	T_EQ(calls(h), 1);
	/* A second backend for a third endpoint of the domain: its own copy, replayed at attach. */
	struct viommu_virtio_iommu_endpoint_opts eo2 = { .sz = sizeof(eo2), .backend = h2 };

	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x28, &eo2), 0);
	T_EQ(attach(f.d, 1, 0x28), S(OK));
	T_STREQ(host_maps(h2), "20000+2000>200000001000/1;");
	T_EQ(map(f.d, 1, 0x30000, 0x30fff, 0x300000, RW), S(OK));
	T_EQ(viommu_host_sim_mappings(h, NULL, NULL), 2);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 2);
	T_EQ(stats(f.d).host_mappings, 4);
	/* GPA that is not RAM: the mapping exists for the guest, nothing on the host. */
	T_EQ(map(f.d, 1, 0x40000, 0x40fff, 0xe0000000ull, RW), S(OK));
	T_EQ(viommu_host_sim_mappings(h, NULL, NULL), 2);
	/* Detach the last endpoint of h2: h2 is emptied. */
	T_EQ(detach(f.d, 1, 0x28), S(OK));
	T_STREQ(host_maps(h2), "");
	teardown(&f);
	T_STREQ(host_maps(h), "");
	viommu_host_free(h);
	viommu_host_free(h2);
}

/* Endpoints sharing a backend in different contexts: it holds nothing until they agree again. */
static void test_conflict(void)
{
	struct fix f;
	struct viommu_host *h = sim(0);
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .backend = h };

	setup(&f, false);
	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x18, &eo), 0);
	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x20, &eo), 0);
	T_EQ(attach(f.d, 1, 0x18), S(OK));		/* 0x20 unattached: they disagree */
	T_EQ(map(f.d, 1, 0x10000, 0x10fff, 0x200000, RW), S(OK));
	T_STREQ(host_maps(h), "");
	T_EQ(stats(f.d).host_conflicts, 1);
	T_EQ(attach(f.d, 1, 0x20), S(OK));		/* agree: the domain is replayed */
	T_STREQ(host_maps(h), "10000+1000>100000200000/3;");
	T_EQ(attach(f.d, 2, 0x20), S(OK));		/* disagree again */
	T_STREQ(host_maps(h), "");
	T_EQ(stats(f.d).host_conflicts, 2);
	T_EQ(attach(f.d, 2, 0x18), S(OK));		/* both in 2, domain 1 gone */
	T_STREQ(host_maps(h), "");
	T_EQ(map(f.d, 2, 0x50000, 0x50fff, 0x201000, RW), S(OK));
	T_STREQ(host_maps(h), "50000+1000>100000201000/3;");
	/* Removing one endpoint leaves the other's context. */
	T_EQ(viommu_virtio_iommu_remove_endpoint(f.d, 0x20), 0);
	T_STREQ(host_maps(h), "50000+1000>100000201000/3;");
	T_EQ(viommu_virtio_iommu_remove_endpoint(f.d, 0x18), 0);
	T_STREQ(host_maps(h), "");
	teardown(&f);
	viommu_host_free(h);
}

/* In bypass the backend holds the identity map of guest RAM; leaving bypass removes it. */
static void test_bypass_identity(void)
{
	struct fix f;
	struct viommu_host *h = sim(0);
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .backend = h };
	uint8_t zero = 0;

	setup(&f, true);
	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x18, &eo), 0);
	T_STREQ(host_maps(h), "0+4000000>100000000000/3;100000000+1000000>200000000000/3;");
	T_EQ(attach(f.d, 1, 0x18), S(OK));
	T_STREQ(host_maps(h), "");
	T_EQ(map(f.d, 1, 0x10000, 0x10fff, 0x200000, RW), S(OK));
	T_STREQ(host_maps(h), "10000+1000>100000200000/3;");
	T_EQ(detach(f.d, 1, 0x18), S(OK));
	T_STREQ(host_maps(h), "0+4000000>100000000000/3;100000000+1000000>200000000000/3;");
	T_EQ(viommu_virtio_iommu_config_write(f.d, 36, &zero, 1), 0);
	T_STREQ(host_maps(h), "");
	/* A bypass domain is the identity map too. */
	uint8_t b[20];

	T_EQ(rq(f.d, b, enc_attach(b, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 3, 0x18, VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS, 0)),
	     S(OK));
	T_STREQ(host_maps(h), "0+4000000>100000000000/3;100000000+1000000>200000000000/3;");
	viommu_virtio_iommu_reset(f.d, false);
	T_STREQ(host_maps(h), "");
	teardown(&f);
	viommu_host_free(h);
}

static char g_ev[1024];
static size_t g_elen;

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	(void)l;
	g_elen += (size_t)snprintf(g_ev + g_elen, sizeof(g_ev) - g_elen, "%s%" PRIx64 ";",
				   ev->kind == VIOMMU_IOMMU_EV_MAP ? "M" : "U", ev->first);
}

/* A MAP the host refuses is taken back whole; the endpoint's listeners never see it. */
static void test_host_refuses(void)
{
	struct fix f;
	struct viommu_host *h = sim(2);
	struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .backend = h };
	struct viommu_iommu_listener l = { .sz = sizeof(l), .last = UINT64_MAX, .kinds = VIOMMU_IOMMU_EV_ALL,
					   .caps = VIOMMU_IOMMU_CAP_ARBITRARY, .notify = on_event };

	setup(&f, false);
	T_EQ(viommu_virtio_iommu_add_endpoint(f.d, 0x18, &eo), 0);
	T_EQ(attach(f.d, 1, 0x18), S(OK));
	T_EQ(viommu_iommu_listener_register(viommu_virtio_iommu_endpoint_as(f.d, 0x18), &l), 0);
	T_EQ(map(f.d, 1, 0x10000, 0x10fff, 0x200000, RW), S(OK));
	T_EQ(map(f.d, 1, 0x20000, 0x20fff, 0x201000, RW), S(OK));
	/* dma_entry_limit 2: the host says ENOSPC, the guest NOMEM, nothing changed. */
	T_EQ(map(f.d, 1, 0x30000, 0x30fff, 0x202000, RW), S(NOMEM));
	T_EQ(viommu_virtio_iommu_domain_mappings(f.d, 1, NULL, NULL), 2);
	T_STREQ(host_maps(h), "10000+1000>100000200000/3;20000+1000>100000201000/3;");
	T_STREQ(g_ev, "M10000;M20000;");
	struct viommu_virtio_iommu_xlat x;

	T_EQ(viommu_virtio_iommu_translate(f.d, 0x18, 0x30000, VIOMMU_PERM_READ, &x, NULL), -EFAULT);
	/* Half RAM, half hole: the RAM half is mapped, the hole only reported. */
	T_EQ(unmap(f.d, 1, 0x20000, 0x20fff), S(OK));
	T_EQ(map(f.d, 1, 0x40000, 0x41fff, 0x3fff000, RW), S(OK));	/* the last page of ram-lo, then a hole */
	T_EQ(viommu_host_sim_mappings(h, NULL, NULL), 2);
	T_EQ(unmap(f.d, 1, 0x40000, 0x41fff), S(OK));
	calls(h);
	/* An IOVA outside the backend's usable ranges (the x86 default ends at 2^39 - 1): RANGE, taken back. */
	T_EQ(map(f.d, 1, 0x8000000000ull, 0x8000000fffull, 0x204000, RW), S(RANGE));
	T_EQ(viommu_virtio_iommu_domain_mappings(f.d, 1, NULL, NULL), 1);
	T_EQ(calls(h), 0);
	/* An injected failure: DEVERR, taken back. */
	T_EQ(viommu_host_sim_inject(h, 1, EIO), 0);
	T_EQ(map(f.d, 1, 0x50000, 0x50fff, 0x203000, RW), S(DEVERR));
	T_EQ(viommu_virtio_iommu_domain_mappings(f.d, 1, NULL, NULL), 1);
	T_STREQ(host_maps(h), "10000+1000>100000200000/3;");
	struct viommu_virtio_iommu_stats st = stats(f.d);

	T_EQ(st.host_errors, 3);		/* ENOSPC, the reserved IOVA, EIO */
	T_EQ(st.mappings, 1);
	T_EQ(st.status[S(NOMEM)], 1);
	T_EQ(st.status[S(DEVERR)], 1);
	T_EQ(st.status[S(RANGE)], 1);
	T_STREQ(g_ev, "M10000;M20000;U20000;M40000;U40000;");
	teardown(&f);
	viommu_host_free(h);
}

int main(void)
{
	test_shared_backend();
	test_conflict();
	test_bypass_identity();
	test_host_refuses();
	return t_done();
}
