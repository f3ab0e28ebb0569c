// SPDX-License-Identifier: MIT
/*
 * End to end: guest page-table changes -> IOMMU sync -> host connector ->
 * simulated VFIO type1 v2 (semantics.md §1.1, §1.4, §3.1, §5). The host must
 * always equal the guest view composed with the memory map, page by page,
 * and no host call may fail: in particular never the bisect EINVAL that
 * QEMU's VT-d shadowing provokes when a 2M mapping becomes 4K pages.
 */
#include <viommu/host.h>
#include <viommu/memory.h>

#include "iommu_model.h"

#define PG 0x1000ull
#define M2 0x200000ull
#define NPAGES 2048u
#define RW (VIOMMU_HOST_PROT_READ | VIOMMU_HOST_PROT_WRITE)
/* The simulated backend never touches host memory: fake, aligned addresses. */
#define HOSTU(n) (0x100000000000ull + (uint64_t)(n) * 0x1000000000ull)

#define RAM0 0x0ull			/* 64M */
#define RAM1 0x100000000ull		/* 32M */
#define MMIO 0x8000000ull		/* 1M of MMIO, then 1M of nothing */
#define ROM 0xc000000ull		/* 2M read-only RAM */

static struct guest g;
static struct t_rng rng;
static uint64_t base;
static bool msi;

struct fix {
	struct viommu_memory *m;
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct viommu_host *h;
	struct viommu_iommu_host *c;
	struct viommu_mr *root, *ram0;
	unsigned not_ram, unaligned, backend;
};

static bool follow_memory;	/* setup: connect with opts.memory */

static void on_report(void *ctx, const struct viommu_iommu_host_report *r)
{
	struct fix *f = ctx;

	if (r->kind == VIOMMU_IOMMU_HOST_NOT_RAM)
		f->not_ram++;
	else if (r->kind == VIOMMU_IOMMU_HOST_UNALIGNED)
		f->unaligned++;
	else
		f->backend++;
}

static void setup_sem(struct fix *f, bool with_msi, enum viommu_host_semantics sem)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .semantics = sem };
	static const struct viommu_mr_ops mmio_ops = { .sz = sizeof(mmio_ops) };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g,
					  .msi_window = with_msi };
	struct viommu_iommu_host_opts co = { .sz = sizeof(co), .report = on_report, .report_ctx = f };

	memset(f, 0, sizeof(*f));
	f->m = viommu_memory_new();
	if (follow_memory)
		co.memory = f->m;
	struct viommu_mr *root = viommu_mr_new_container(f->m, "system", 0);
	struct viommu_mr *r0 = viommu_mr_new_ram(f->m, "ram-lo", 64 << 20, (void *)(uintptr_t)HOSTU(1));
	struct viommu_mr *r1 = viommu_mr_new_ram(f->m, "ram-hi", 32 << 20, (void *)(uintptr_t)HOSTU(2));
	struct viommu_mr *io = viommu_mr_new_mmio(f->m, "mmio", 1 << 20, &mmio_ops, NULL);
	struct viommu_mr *rom = viommu_mr_new_ram(f->m, "rom", M2, (void *)(uintptr_t)HOSTU(3));

	if (!root || !r0 || !r1 || !io || !rom)
		T_FATAL("regions");
	T_EQ(viommu_mr_set_readonly(rom, true), 0);
	T_EQ(viommu_mr_add_subregion(root, RAM0, r0, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, RAM1, r1, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, MMIO, io, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, ROM, rom, 0), 0);
	f->sys = viommu_as_new(f->m, "memory", root);
	f->root = root;
	f->ram0 = r0;
	f->ias = viommu_iommu_as_new(&o);
	f->h = viommu_host_sim_new(&ho);	/* x86 usable ranges */
	if (!f->sys || !f->ias || !f->h)
		T_FATAL("setup");
	f->c = viommu_iommu_host_new(f->ias, f->sys, f->h, &co);
	if (!f->c)
		T_FATAL("connector");
}

static void setup(struct fix *f, bool with_msi)
{
	setup_sem(f, with_msi, VIOMMU_HOST_TYPE1V2);
}

static void teardown(struct fix *f)
{
	viommu_iommu_host_free(f->c, true);
	T_EQ(viommu_host_sim_mappings(f->h, NULL, NULL), 0);
	viommu_host_free(f->h);
	viommu_iommu_as_free(f->ias);
	viommu_memory_free(f->m);
	viommu_rangemap_clear(g.leaves);
}

/* The timeline since the last call, as text; every call must have succeeded. */
static void timeline(struct fix *f, char *buf, size_t cap)
{
	long n = viommu_host_sim_timeline_count(f->h);
	size_t len = 0;

	buf[0] = 0;
	for (long i = 0; i < n; i++) {
		struct viommu_host_record r;

		T_EQ(viommu_host_sim_timeline_get(f->h, (size_t)i, &r), 0);
		T_EQ(r.result, 0);
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s %" PRIx64 "+%" PRIx64 ";",
						r.op == VIOMMU_HOST_OP_UNMAP ? "U" : "M", r.iova, r.length);
	}
	viommu_host_sim_timeline_clear(f->h);
}

/* What the host must translate @iova to: the guest view composed with the memory map. */
static bool expected(struct fix *f, struct viommu_flatview *v, uint64_t iova, uint64_t *vaddr, unsigned *prot)
{
	struct viommu_range_entry e;
	bool in_w = msi && iova >= VIOMMU_HOST_X86_MSI_FIRST && iova <= VIOMMU_HOST_X86_MSI_LAST;

	(void)f;
	if (in_w || !viommu_rangemap_find(g.leaves, iova, &e))
		return false;
	uint64_t gpa = (e.value & ~3ull) + (iova - e.first);
	unsigned perm = (unsigned)(e.value & 3);

	if (msi && gpa >= VIOMMU_HOST_X86_MSI_FIRST && gpa <= VIOMMU_HOST_X86_MSI_LAST)
		return false;
	const struct viommu_mr_section *s = viommu_flatview_lookup(v, gpa);

	if (!s || (s->kind != VIOMMU_MR_RAM && s->kind != VIOMMU_MR_RAM_DEVICE))
		return false;
	*prot = 0;
	if (perm & VIOMMU_IOMMU_PERM_READ)
		*prot |= VIOMMU_HOST_PROT_READ;
	if ((perm & VIOMMU_IOMMU_PERM_WRITE) && !s->readonly)
		*prot |= VIOMMU_HOST_PROT_WRITE;
	*vaddr = (uint64_t)(uintptr_t)s->host + (gpa - s->first);
	return *prot != 0;
}

static unsigned check_host(struct fix *f, struct viommu_host *h)
{
	struct viommu_flatview *v = viommu_as_get_flatview(f->sys);
	unsigned bad = 0;

	for (size_t p = 0; p < NPAGES; p++) {
		uint64_t iova = base + p * PG, ev = 0, hv = 0;
		unsigned ep = 0, hp = 0;
		bool want = expected(f, v, iova, &ev, &ep);
		int r = viommu_host_sim_translate(h, iova, &hv, &hp);

		if (want != (r == 0) || (want && (ev != hv || ep != hp)))
			bad++;
	}
	viommu_flatview_put(v);
	return bad;
}

static void test_directed(void)
{
	struct fix f;
	char tl[512];
	struct viommu_iommu_host_stats st = { .sz = sizeof(st) };

	base = 0;
	msi = false;
	setup(&f, false);
	/* A 2M leaf: one host mapping. */
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 0+200000;");
	/*
	 * Becomes 4K pages, page 5 pointing elsewhere; the guest invalidates
	 * page 5. Exact unmap of the 2M mapping, then the three new pieces: no
	 * bisect (QEMU would unmap [0x5000, 0x5fff] here and get EINVAL).
	 */
	guest_unmap(&g, 0, M2 - 1);
	for (uint64_t i = 0; i < 512; i++)
		guest_map(&g, i * PG, PG, i == 5 ? 0x1000000 : 0x200000 + i * PG, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0x5000, 0x5fff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+200000;M 0+5000;M 5000+1000;M 6000+1fa000;");
	T_EQ(check_host(&f, f.h), 0);
	/* And back: only the changed 4K extent moves. */
	guest_unmap(&g, 0, M2 - 1);
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 5000+1000;M 5000+1000;");
	T_EQ(check_host(&f, f.h), 0);
	/* Leaves over RAM then a hole, and over MMIO then a hole: reported, never mapped. */
	guest_map(&g, 0x400000, 3 * M2, RAM0 + (64 << 20) - M2, 3);
	guest_map(&g, 0xc00000, M2, MMIO, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0x400000, 0xdfffff), 2);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 400000+200000;");
	T_EQ(f.not_ram, 3);
	/* A read-only window: mapped read-only. */
	guest_map(&g, 0xa00000, M2, ROM, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0xa00000, 0xbfffff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M a00000+200000;");
	uint64_t va;
	unsigned prot;

	T_EQ(viommu_host_sim_translate(f.h, 0xa00000, &va, &prot), 0);
	T_EQ(prot, VIOMMU_HOST_PROT_READ);
	T_EQ_U64(va, HOSTU(3));
	T_EQ(check_host(&f, f.h), 0);
	T_EQ(viommu_iommu_host_get_stats(f.c, &st), 0);
	T_EQ(st.windows, 2);
	T_EQ(st.errors, 0);
	T_EQ(st.mappings, 5);
	teardown(&f);
}

/* A backend failure is reported, and the record keeps matching the backend. */
static void test_backend_failure(void)
{
	struct fix f;
	struct viommu_iommu_host_stats st = { .sz = sizeof(st) };

	base = 0;
	msi = false;
	setup(&f, false);
	T_EQ(viommu_host_sim_inject(f.h, 1, ENOSPC), 0);
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	T_EQ(f.backend, 1);
	T_EQ(viommu_iommu_host_get_stats(f.c, &st), 0);
	T_EQ(st.errors, 1);
	T_EQ(st.mappings, 0);
	struct viommu_host_record rec;

	T_EQ(viommu_host_sim_timeline_count(f.h), 1);
	T_EQ(viommu_host_sim_timeline_get(f.h, 0, &rec), 0);
	T_EQ(rec.result, -ENOSPC);
	T_OK(rec.injected);
	viommu_host_sim_timeline_clear(f.h);
	/* Removing it later costs no backend call: nothing was recorded. */
	guest_unmap(&g, 0, M2 - 1);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	T_EQ(viommu_host_sim_timeline_count(f.h), 0);
	T_EQ(check_host(&f, f.h), 0);
	teardown(&f);
}

/* Memory-map changes under live IOMMU mappings are composed again (opts.memory). */
static void test_memory_changes(void)
{
	struct fix f;
	char tl[256];
	struct viommu_mr *hot;

	base = 0;
	msi = false;
	follow_memory = true;
	setup(&f, false);
	follow_memory = false;
	guest_map(&g, 0x1000000, M2, 0x20000000, 3);	/* nothing there yet */
	guest_map(&g, 0x1200000, M2, 0x400000, 3);	/* RAM0 */
	T_EQ(viommu_iommu_sync(f.ias, 0x1000000, 0x13fffff), 2);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 1200000+200000;");
	T_EQ(f.not_ram, 1);
	/* RAM hot-plugged where the IOMMU already points: mapped. */
	hot = viommu_mr_new_ram(f.m, "hot", M2, (void *)(uintptr_t)HOSTU(4));
	T_EQ(viommu_mr_add_subregion(f.root, 0x20000000, hot, 0), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 1000000+200000;");
	T_EQ(check_host(&f, f.h), 0);
	/* Moved away: unmapped (the new GPA is a hole, reported). */
	T_EQ(viommu_mr_set_address(hot, 0x20200000), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 1000000+200000;");
	T_EQ(check_host(&f, f.h), 0);
	/* A change nobody's output touches: no host call. */
	T_EQ(viommu_mr_set_address(hot, 0x30000000), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "");
	/* RAM0 becomes read-only: its extent is mapped again without write. */
	T_EQ(viommu_mr_set_readonly(f.ram0, true), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 1200000+200000;M 1200000+200000;");
	T_EQ(check_host(&f, f.h), 0);
	teardown(&f);
}

static uint64_t rand_gpa(void *ctx, uint64_t align_pages)
{
	(void)ctx;
	unsigned k = (unsigned)t_rng_below(&rng, 20);
	uint64_t a = align_pages * PG;

	if (msi && k < 3)	/* outputs in and around the interrupt window */
		return 0xfe000000ull + t_rng_below(&rng, 0x2000000 / a) * a;
	if (k < 10)
		return RAM0 + t_rng_below(&rng, (64 << 20) / a) * a;
	if (k < 17)
		return RAM1 + t_rng_below(&rng, (32 << 20) / a) * a;
	if (k < 18)
		return MMIO + t_rng_below(&rng, M2 / a) * a;
	return ROM + t_rng_below(&rng, M2 / a) * a;
}

static void test_random(uint64_t seed, uint64_t b, bool with_msi, unsigned iters, enum viommu_host_semantics sem)
{
	struct fix f;
	char tl[64];
	unsigned syncs = 0, bad = 0;
	bool ro = false;
	struct viommu_iommu_host_stats st = { .sz = sizeof(st) };

	t_rng_init(&rng, seed);
	base = b;
	msi = with_msi;
	setup_sem(&f, with_msi, sem);
	for (unsigned it = 0; it < iters; it++) {
		struct gmut m = { &g, &rng, base, NPAGES, rand_gpa, NULL };
		uint64_t a, z;

		if (follow_memory && t_rng_below(&rng, 16) == 0) {
			/* The memory map changes under the live mappings. */
			T_EQ(viommu_mr_set_readonly(f.ram0, !ro), 0);
			ro = !ro;
			timeline(&f, tl, sizeof(tl));
			bad += check_host(&f, f.h);
			continue;
		}
		if (!guest_mutate(&m, &a, &z))
			continue;
		T_OK(viommu_iommu_sync(f.ias, a, z) >= 0);
		syncs++;
		timeline(&f, tl, sizeof(tl));	/* asserts every host call succeeded */
		bad += check_host(&f, f.h);
	}
	T_EQ(bad, 0);
	T_EQ(f.backend, 0);
	T_EQ(f.unaligned, 0);
	/* A second backend connected late is given exactly the same state. */
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .semantics = sem };
	struct viommu_host *h2 = viommu_host_sim_new(&ho);
	struct viommu_iommu_host *c2 = viommu_iommu_host_new(f.ias, f.sys, h2, NULL);

	T_OK(c2 != NULL);
	T_EQ(check_host(&f, h2), 0);
	T_EQ(viommu_iommu_host_get_stats(f.c, &st), 0);
	printf("host round semantics %d msi %d: %u syncs, %" PRIu64 " map and %" PRIu64 " unmap calls, %" PRIu64
	       " windows, %u not-RAM reports, %" PRIu64 " mappings\n", (int)sem, with_msi, syncs, st.map_ops, st.unmap_ops,
	       st.windows, f.not_ram, st.mappings);
	T_OK(st.windows > 20 && st.map_ops > 500 && st.unmap_ops > 300 && f.not_ram > 0);
	viommu_iommu_host_free(c2, true);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 0);
	viommu_host_free(h2);
	teardown(&f);
}

int main(void)
{
	uint64_t seed = t_seed("iommu_host", 0x10330002);

	g.leaves = viommu_rangemap_new();
	test_directed();
	test_backend_failure();
	test_memory_changes();
	test_random(seed, 0, false, 1500, VIOMMU_HOST_TYPE1V2);
	/* IOVAs across the interrupt window, which the host reserves: any map there would fail. */
	test_random(seed + 1, 0xfe800000ull, true, 1500, VIOMMU_HOST_TYPE1V2);
	/* iommufd (partial covers are ENOENT) and type1 v1 (whole-mapping unmap quirk), semantics.md §3. */
	follow_memory = true;	/* with memory-map changes in between */
	test_random(seed + 2, 0, false, 800, VIOMMU_HOST_IOMMUFD);
	follow_memory = false;
	test_random(seed + 3, 0xfe800000ull, true, 800, VIOMMU_HOST_TYPE1V1);
	viommu_rangemap_free(g.leaves);
	return t_done();
}
