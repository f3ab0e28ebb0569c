// SPDX-License-Identifier: MIT
/*
 * Out of memory anywhere in the IOMMU path: the reconcile engine, its IOMMU
 * source and output index, the IOMMU layer and the range maps (records,
 * shadow, the simulator's own) are compiled here with an allocator that fails
 * after a random budget during each operation (and 4-slot range-map nodes, so
 * inserts need new nodes often). Whatever fails, each record keeps equal to
 * its backend (the check never answers -EIO), every failure is reported or
 * returned, and once memory is back a sync of the whole IOVA space and a
 * resync restore exactly the desired mapping, page by page. (The definitions
 * here take precedence over the library archive's copies, which are never
 * linked.)
 */
#include <stdlib.h>

#include "test.h"

#include "alloc_budget.h"
#include "../src/util/rangemap.c"
#include "../src/iommu/iommu.c"
#include "../src/reconcile/out_index.c"
#include "../src/reconcile/reconcile.c"
#include "../src/reconcile/source_iommu.c"
#include "../src/reconcile/source_flat.c"
#include "alloc_budget_end.h"

#include "iommu_model.h"

#define NPAGES 1024u
#define PG 0x1000ull
#define HOSTU(n) (0x100000000000ull + (uint64_t)(n) * 0x1000000000ull)

static struct guest g;
static struct t_rng rng;
static unsigned long reported;

static void on_report(void *ctx, const struct viommu_recon_report *rep)
{
	(void)ctx;
	if (rep->kind == VIOMMU_RECON_ERR_BACKEND)
		reported++;
}

/* Outputs in two RAM regions and the hole between them. */
static uint64_t rand_out(void *ctx, uint64_t align_pages)
{
	(void)ctx;
	return t_rng_below(&rng, 3 * 0x200000 / (align_pages * PG)) * align_pages * PG;
}

struct page { bool mapped; uint64_t vaddr; unsigned prot; };

static void desired(struct viommu_as *sys, struct page *d)
{
	struct viommu_flatview *v = viommu_as_get_flatview(sys);

	for (uint64_t p = 0; p < NPAGES; p++) {
		struct viommu_range_entry e;
		const struct viommu_mr_section *s;
		uint64_t gpa;

		d[p] = (struct page){ 0 };
		if (!viommu_rangemap_find(g.leaves, p * PG, &e))
			continue;
		gpa = (e.value & ~3ull) + (p * PG - e.first);
		s = viommu_flatview_lookup(v, gpa);
		if (!s || s->kind != VIOMMU_MR_RAM)
			continue;
		d[p].prot = (unsigned)(e.value & 3) & (s->readonly ? VIOMMU_PERM_READ : VIOMMU_PERM_RW);
		d[p].mapped = d[p].prot != 0;
		d[p].vaddr = (uint64_t)(uintptr_t)s->host + (gpa - s->first);
	}
	viommu_flatview_put(v);
}

static unsigned compare_host(struct viommu_host *h, const struct page *d)
{
	unsigned bad = 0;

	for (uint64_t p = 0; p < NPAGES; p++) {
		uint64_t va;
		unsigned prot;
		int rc = viommu_host_sim_translate(h, p * PG, &va, &prot);

		if ((rc == 0) != d[p].mapped || (d[p].mapped && (va != d[p].vaddr || prot != d[p].prot)))
			bad++;
	}
	return bad;
}

int main(void)
{
	uint64_t seed = t_seed("reconcile_nomem", 0x10330041);
	static const struct viommu_mr_ops mmio_ops = { .sz = sizeof(mmio_ops) };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g };
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .report = on_report };
	static struct page d[NPAGES];
	unsigned long nomem_syncs = 0, eio = 0, ops = 0, bad = 0;
	struct viommu_memory *m;
	struct viommu_mr *root, *ram0, *ram1, *ov;
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct viommu_host *h;
	struct viommu_recon *r;
	bool ov_in = false, ro0 = false;

	t_rng_init(&rng, seed);
	g.leaves = viommu_rangemap_new();
	m = viommu_memory_new();
	root = viommu_mr_new_container(m, "system", 0);
	ram0 = viommu_mr_new_ram(m, "ram0", 0x200000, (void *)(uintptr_t)HOSTU(1));
	ram1 = viommu_mr_new_ram(m, "ram1", 0x200000, (void *)(uintptr_t)HOSTU(2));
	ov = viommu_mr_new_mmio(m, "overlay", 0x10000, &mmio_ops, NULL);
	if (!g.leaves || !m || !root || !ram0 || !ram1 || !ov)
		T_FATAL("setup");
	T_EQ(viommu_mr_add_subregion(root, 0, ram0, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x400000, ram1, 0), 0);
	sys = viommu_as_new(m, "memory", root);
	ias = viommu_iommu_as_new(&o);
	h = viommu_host_sim_new(NULL);
	r = viommu_recon_new_iommu(m, sys, ias, &ro);
	if (!sys || !ias || !h || !r || viommu_recon_attach(r, h))
		T_FATAL("setup");
	for (unsigned it = 0; it < 3000; it++) {
		struct gmut gm = { &g, &rng, 0, NPAGES, rand_out, NULL };
		uint64_t a, z;
		int rc;

		long budget = (long)t_rng_below(&rng, 40);

		if (t_rng_below(&rng, 5) == 0) {
			alloc_budget = budget;
			/* the memory map changes under the live mappings */
			if (t_rng_below(&rng, 2)) {
				rc = ov_in ? viommu_mr_del_subregion(ram0, ov)
					   : viommu_mr_add_subregion(ram0, t_rng_below(&rng, 32) * 0x10000, ov, 1);
				if (!rc)
					ov_in = !ov_in;
			} else if (!viommu_mr_set_readonly(ram1, !ro0)) {
				ro0 = !ro0;
			}
		} else if (guest_mutate(&gm, &a, &z)) {	/* the guest's table has all the memory it needs */
			alloc_budget = budget;
			rc = viommu_iommu_sync(ias, a, z);
			T_OK(rc >= 0 || rc == -ENOMEM);
			nomem_syncs += rc == -ENOMEM;
		}
		alloc_budget = -1;
		ops++;
		/* the record always equals the backend, whatever failed */
		rc = viommu_recon_check(r, h, NULL);
		if (rc == -EIO)
			eio++;
		T_OK(rc == 0 || rc == -ENOENT || rc == -ESTALE || rc == -EIO);
	}
	/* memory is back: one sync of everything repairs the shadow, a resync the backend */
	T_OK(viommu_iommu_sync(ias, 0, NPAGES * PG - 1) >= 0);
	T_EQ(viommu_recon_resync(r), 0);
	desired(sys, d);
	bad = compare_host(h, d);
	T_EQ(bad, 0);
	T_EQ(eio, 0);
	T_EQ(viommu_recon_check(r, h, NULL), 0);
	printf("%lu operations, %lu allocations refused, %lu syncs failed with ENOMEM, %lu backend reports\n", ops,
	       failures, nomem_syncs, reported);
	/*
	 * It exercised what it claims. (The output index allocates a chunk of
	 * nodes at a time, not one per extent, so fewer allocations are there
	 * to refuse; test_reconcile_out_index_pool refuses its chunk directly.)
	 */
	T_OK(failures > 150 && nomem_syncs > 5 && reported > 100);
	viommu_recon_free(r);
	viommu_host_free(h);
	viommu_iommu_as_free(ias);
	viommu_memory_free(m);
	viommu_rangemap_free(g.leaves);
	return t_done();
}
