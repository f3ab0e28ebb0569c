// SPDX-License-Identifier: MIT
/*
 * The reconcile engine on the IOMMU path against a per-page model: random
 * guest page-table changes (4K and 2M leaves, splits, merges, unmaps; the
 * guest invalidates what it changed, sometimes only the one page) interleaved
 * with random memory-map changes under the live mappings (random region trees
 * with RAM, RAM devices, MMIO and aliases, misaligned and partial pages), for
 * each host semantics, fixed printed seed:
 *  - after every operation the simulated host maps exactly the pages the
 *    composition (guest leaf, then flat view) makes mappable, with the right
 *    host address and permissions;
 *  - the operation made exactly the minimum of calls: one unmap per host
 *    extent whose translation changed somewhere, one map per maximal run of
 *    unmapped desired pages that one host mapping may hold (one IOMMU extent,
 *    one section, no region boundary, granule or reserved window inside);
 *  - windows arise only from extents that really changed;
 *  - with a failure injected at every host call index in turn, the failure
 *    is reported with its exact range, the check never finds a bug (-EIO)
 *    and names a failed unmap exactly (-ESTALE), and a resync restores the
 *    exact state.
 */
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "iommu_model.h"

#define PG 4096ull
#define NPAGES 2048u			/* IOVA pages modelled: four 2M blocks */
#define PLACE 512			/* regions are placed in the first PLACE guest-physical pages */
#define SPACE (PLACE * PG)
#define NREG 14
#define HOSTBASE(n) (0x100000000000ull + (uint64_t)(n) * 0x10000000ull)

/* usable IOVA: everything below 2^39 but a reserved hole at pages 200..207 */
static const struct viommu_host_iova_range usable[] = {
	{ 0, 200 * PG - 1 },
	{ 208 * PG, 0x7fffffffffull },
};

struct world {
	unsigned long backend_errors, eio_reports;
	struct viommu_recon_report last_backend_error;
	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct guest g;
	struct viommu_host *h;
	struct viommu_recon *r;
	struct viommu_mr *reg[NREG];
	bool attached[NREG];
	enum viommu_mr_kind kind[NREG];
	uint64_t granule;
	struct t_rng *rng;
};

static void on_report(void *ctx, const struct viommu_recon_report *rep)
{
	struct world *w = ctx;

	if (rep->kind == VIOMMU_RECON_ERR_BACKEND) {
		w->backend_errors++;
		w->last_backend_error = *rep;
	}
}

static const struct viommu_mr_ops mmio_ops = { .sz = sizeof(mmio_ops) };

/* An output address aligned to @align_pages pages: regions, the space above them, some of it nothing. */
static uint64_t rand_out(void *ctx, uint64_t align_pages)
{
	struct world *w = ctx;
	uint64_t a = align_pages * PG;

	return t_rng_below(w->rng, 2 * SPACE / a) * a;
}

static void world_init(struct world *w, struct t_rng *rng, enum viommu_host_semantics sem, uint64_t granule)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .semantics = sem, .ranges = usable, .nranges = 2,
					   .timeline_capacity = 1u << 16 };
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .extent_granule = granule, .report = on_report,
					.report_ctx = w };

	memset(w, 0, sizeof(*w));
	w->rng = rng;
	w->granule = granule;
	w->g.leaves = viommu_rangemap_new();
	struct viommu_iommu_as_opts io = { .sz = sizeof(io), .read = guest_read, .read_ctx = &w->g };

	w->m = viommu_memory_new();
	w->root = viommu_mr_new_container(w->m, "root", 0);
	w->sys = viommu_as_new(w->m, "sys", w->root);
	w->ias = viommu_iommu_as_new(&io);
	w->h = viommu_host_sim_new(&ho);
	w->r = viommu_recon_new_iommu(w->m, w->sys, w->ias, &ro);
	if (!w->g.leaves || !w->m || !w->root || !w->sys || !w->ias || !w->h || !w->r)
		T_FATAL("world_init");
	T_EQ(viommu_recon_attach(w->r, w->h), 0);
	for (int i = 0; i < NREG; i++) {
		uint64_t size = (1 + t_rng_below(rng, 96)) * PG;
		uint64_t host = HOSTBASE(i);

		if (t_rng_below(rng, 6) == 0)
			size += PG / 2;		/* a RAM or BAR not a whole number of pages */
		if (t_rng_below(rng, 8) == 0)
			host += PG / 2;		/* host memory misaligned to the IOVA */
		if (i < 6) {
			w->kind[i] = VIOMMU_MR_RAM;
			w->reg[i] = viommu_mr_new_ram(w->m, "ram", size, (void *)(uintptr_t)host);
		} else if (i < 8) {
			w->kind[i] = VIOMMU_MR_RAM_DEVICE;
			w->reg[i] = viommu_mr_new_ram_device(w->m, "bar", size, (void *)(uintptr_t)host);
		} else if (i < 11) {
			w->kind[i] = VIOMMU_MR_MMIO;
			w->reg[i] = viommu_mr_new_mmio(w->m, "mmio", size, &mmio_ops, NULL);
		} else {
			struct viommu_mr *t = w->reg[t_rng_below(rng, 6)];
			uint64_t tsz = viommu_mr_size(t), off = t_rng_below(rng, tsz / PG) * PG;

			w->kind[i] = VIOMMU_MR_ALIAS;
			w->reg[i] = viommu_mr_new_alias(w->m, "alias", t, off, 1 + t_rng_below(rng, tsz - off));
		}
		if (!w->reg[i])
			T_FATAL("region %d", i);
	}
}

static void world_free(struct world *w)
{
	viommu_recon_free(w->r);
	viommu_host_free(w->h);
	viommu_iommu_as_free(w->ias);
	viommu_memory_free(w->m);
	viommu_rangemap_free(w->g.leaves);
}

/* One random memory-map change (errors from the memory API change nothing). */
static void memory_op(struct world *w)
{
	struct t_rng *rng = w->rng;
	int i = (int)t_rng_below(rng, NREG);
	struct viommu_mr *mr = w->reg[i];
	uint64_t size = viommu_mr_size(mr);
	uint64_t off = t_rng_below(rng, PLACE) * PG + (t_rng_below(rng, 10) == 0 ? PG / 2 : 0);

	if (size >= SPACE)
		size = SPACE / 2;
	if (off + size > SPACE)
		off = SPACE - size;
	switch (t_rng_below(rng, 9)) {
	case 0: case 1: case 2:
		if (!w->attached[i]) {
			if (viommu_mr_add_subregion(w->root, off, mr, (int)t_rng_below(rng, 4) - 1) == 0)
				w->attached[i] = true;
		} else if (viommu_mr_del_subregion(w->root, mr) == 0) {
			w->attached[i] = false;
		}
		break;
	case 3: case 4:
		viommu_mr_set_address(mr, off);
		break;
	case 5:
		viommu_mr_set_enabled(mr, !viommu_mr_is_enabled(mr));
		break;
	case 6:
		viommu_mr_set_readonly(mr, t_rng_below(rng, 2));
		break;
	case 7:
		if (w->kind[i] == VIOMMU_MR_RAM || w->kind[i] == VIOMMU_MR_RAM_DEVICE)
			viommu_mr_set_size(mr, (1 + t_rng_below(rng, 96)) * PG + (t_rng_below(rng, 8) ? 0 : PG / 2));
		break;
	default:
		viommu_mr_set_unmergeable(mr, t_rng_below(rng, 2));
		break;
	}
}

/* One random operation: a memory transaction (1 in 4) or a guest change and its invalidation. */
static void random_op(struct world *w)
{
	if (t_rng_below(w->rng, 4) == 0) {
		int nops = 1 + (int)t_rng_below(w->rng, 3);

		viommu_memory_begin(w->m);
		for (int k = 0; k < nops; k++)
			memory_op(w);
		T_EQ(viommu_memory_commit(w->m), 0);
		return;
	}
	struct gmut gm = { &w->g, w->rng, 0, NPAGES, rand_out, w };
	uint64_t a, b;

	for (int tries = 0; tries < 64; tries++) {
		if (guest_mutate(&gm, &a, &b)) {
			T_OK(viommu_iommu_sync(w->ias, a, b) >= 0);
			return;
		}
	}
}

/* ---- the model ------------------------------------------------------------ */

struct page {
	bool mapped;
	uint64_t vaddr;
	unsigned prot;
	uint64_t run;		/* pages one host mapping may hold together share this */
};

static bool page_usable(uint64_t p)
{
	return p < 200 || p >= 208;
}

static bool sec_mappable(const struct viommu_mr_section *s)
{
	return s && (s->kind == VIOMMU_MR_RAM || s->kind == VIOMMU_MR_RAM_DEVICE);
}

static uint64_t sec_delta(const struct viommu_mr_section *s)
{
	return (uint64_t)(uintptr_t)s->host - s->first;
}

static bool is_boundary(const uint64_t *bd, size_t nb, uint64_t a)
{
	size_t lo = 0, hi = nb;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (bd[mid] < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nb && bd[lo] == a;
}

/*
 * IOVA page p is desired when the guest maps it, every byte of its
 * guest-physical page lies in mappable sections of one translation (kind,
 * host delta, read-only), that delta is page aligned, the permissions left
 * after read-only are not empty, and the IOVA is usable. A run continues
 * from page p - 1 to p when both are desired, in one IOMMU extent, with no
 * section or page-aligned region boundary at p's guest-physical address, and
 * p is not a multiple of the granule.
 */
static void desired(struct world *w, struct page *out)
{
	struct viommu_flatview *v = viommu_as_get_flatview(w->sys);
	const uint64_t *bd;
	size_t nb = viommu_flatview_boundaries(v, &bd);
	uint64_t run = 0, prev_extent = UINT64_MAX;

	for (uint64_t p = 0; p < NPAGES; p++) {
		struct viommu_range_entry e;
		struct viommu_iommu_xlat x;
		const struct viommu_mr_section *s, *t, *before;
		uint64_t gpa, ext;
		unsigned perm;
		bool ok;

		out[p] = (struct page){ 0 };
		if (!viommu_rangemap_find(w->g.leaves, p * PG, &e) || !viommu_iommu_lookup(w->ias, p * PG, &x)) {
			prev_extent = UINT64_MAX;
			run++;
			continue;
		}
		gpa = (e.value & ~3ull) + (p * PG - e.first);
		perm = (unsigned)(e.value & 3);
		ext = x.first;
		s = t = viommu_flatview_lookup(v, gpa);
		ok = sec_mappable(s) && page_usable(p) && sec_delta(s) % PG == 0;
		while (ok && t->last < gpa + PG - 1) {
			const struct viommu_mr_section *n = viommu_flatview_lookup(v, t->last + 1);

			ok = sec_mappable(n) && n->kind == s->kind && sec_delta(n) == sec_delta(s) &&
			     n->readonly == s->readonly;
			t = n;
		}
		if (ok)
			perm &= s->readonly ? VIOMMU_PERM_READ : VIOMMU_PERM_RW;
		before = gpa ? viommu_flatview_lookup(v, gpa - 1) : NULL;
		if (ext != prev_extent || before != s || is_boundary(bd, nb, gpa) ||
		    (w->granule && (p * PG) % w->granule == 0) || !page_usable(p) || (p && !page_usable(p - 1)))
			run++;
		prev_extent = ext;
		if (!ok || !perm)
			continue;
		out[p] = (struct page){ true, sec_delta(s) + gpa, perm, run };
	}
	viommu_flatview_put(v);
}

struct extents { struct viommu_host_mapping e[NPAGES + 8]; size_t n; bool overflow; };

static void collect(const struct viommu_host_mapping *m, void *ctx)
{
	struct extents *x = ctx;

	if (x->n < NPAGES + 8)
		x->e[x->n++] = *m;
	else
		x->overflow = true;
}

static void host_extents(struct world *w, struct extents *x)
{
	x->n = 0;
	x->overflow = false;
	viommu_host_sim_mappings(w->h, collect, x);
	T_OK(!x->overflow);
}

static bool extent_valid(const struct viommu_host_mapping *e, const struct page *d)
{
	for (uint64_t a = e->iova; a < e->iova + e->length; a += PG) {
		const struct page *pg = &d[a / PG];

		if (a / PG >= NPAGES || !pg->mapped || pg->vaddr != e->vaddr + (a - e->iova) || pg->prot != e->prot)
			return false;
	}
	return true;
}

/* The host must map exactly the desired pages. Returns the number of differing pages. */
static unsigned compare_host(const struct extents *x, const struct page *d)
{
	static struct page got[NPAGES];
	unsigned bad = 0;

	memset(got, 0, sizeof(got));
	for (size_t k = 0; k < x->n; k++)
		for (uint64_t a = x->e[k].iova; a < x->e[k].iova + x->e[k].length; a += PG) {
			if (a / PG >= NPAGES) {
				bad++;
				continue;
			}
			got[a / PG] = (struct page){ true, x->e[k].vaddr + (a - x->e[k].iova), x->e[k].prot, 0 };
		}
	for (unsigned p = 0; p < NPAGES; p++)
		if (got[p].mapped != d[p].mapped ||
		    (d[p].mapped && (got[p].vaddr != d[p].vaddr || got[p].prot != d[p].prot)))
			bad++;
	return bad;
}

struct counts { uint64_t maps, unmaps; };

/* The minimum for the operation that went from host extents @before to desired pages @d. */
static struct counts minimum(const struct extents *before, const struct page *d)
{
	static bool covered[NPAGES];
	struct counts c = { 0, 0 };

	memset(covered, 0, sizeof(covered));
	for (size_t k = 0; k < before->n; k++) {
		if (!extent_valid(&before->e[k], d)) {
			c.unmaps++;
			continue;
		}
		for (uint64_t a = before->e[k].iova; a < before->e[k].iova + before->e[k].length; a += PG)
			covered[a / PG] = true;
	}
	for (uint64_t p = 0; p < NPAGES; p++) {
		if (!d[p].mapped || covered[p])
			continue;
		if (!(p > 0 && d[p - 1].mapped && !covered[p - 1] && d[p - 1].run == d[p].run))
			c.maps++;
	}
	return c;
}

static struct counts timeline_counts(struct world *w, long from, long to)
{
	struct counts c = { 0, 0 };
	struct viommu_host_record rec;

	for (long i = from; i < to; i++) {
		if (viommu_host_sim_timeline_get(w->h, (size_t)i, &rec))
			continue;
		if (rec.op == VIOMMU_HOST_OP_UNMAP)
			c.unmaps++;
		else
			c.maps++;
	}
	return c;
}

/*
 * Enough work for the run to mean what it claims: windows, skips and
 * plenty of host calls. How many operations that takes depends on the seed's
 * world (a world whose RAM is small or misaligned to the host maps little),
 * so a run goes on past its operation count until this holds, up to four
 * times the count; every operation is checked the same way.
 */
static bool exercised(const struct viommu_recon_stats *st)
{
	return st->windows > 0 && st->skipped > 0 && st->map_ops > 1000 && st->unmap_ops > 500;
}

static void run_random(uint64_t seed, enum viommu_host_semantics sem, uint64_t granule, int nops)
{
	static struct page d[NPAGES];
	static struct extents before, after;
	struct t_rng rng;
	struct world w;
	unsigned long bad_state = 0, not_minimal = 0, bad_windows = 0, ops = 0;
	struct viommu_recon_stats st0 = { .sz = sizeof(st0) }, st1 = { .sz = sizeof(st1) };

	t_rng_init(&rng, seed);
	world_init(&w, &rng, sem, granule);
	for (int t = 0; t < nops || (t < 4 * nops && !exercised(&st1)); t++) {
		long tl0 = viommu_host_sim_timeline_count(w.h);
		struct counts want, got;

		host_extents(&w, &before);
		viommu_recon_get_stats(w.r, w.h, &st0);
		random_op(&w);
		ops++;
		desired(&w, d);
		host_extents(&w, &after);
		if (compare_host(&after, d) && bad_state++ < 5)
			fprintf(stderr, "op %d: the host differs from the model\n", t);
		want = minimum(&before, d);
		got = timeline_counts(&w, tl0, viommu_host_sim_timeline_count(w.h));
		if ((want.maps != got.maps || want.unmaps != got.unmaps) && not_minimal++ < 5)
			fprintf(stderr, "op %d: maps %llu unmaps %llu, minimum %llu / %llu\n", t,
				(unsigned long long)got.maps, (unsigned long long)got.unmaps,
				(unsigned long long)want.maps, (unsigned long long)want.unmaps);
		viommu_recon_get_stats(w.r, w.h, &st1);
		if (st1.windows - st0.windows > want.unmaps)
			bad_windows++;
		T_EQ(viommu_recon_check(w.r, w.h, NULL), 0);
	}
	T_EQ(w.backend_errors, 0);
	T_EQ(bad_state, 0);
	T_EQ(not_minimal, 0);
	T_EQ(bad_windows, 0);
	printf("iommu random sem %d granule %llu: %lu ops, %llu maps, %llu unmaps, %llu windows (%llu bytes), "
	       "%llu skipped\n", sem, (unsigned long long)granule, ops, (unsigned long long)st1.map_ops,
	       (unsigned long long)st1.unmap_ops, (unsigned long long)st1.windows,
	       (unsigned long long)st1.window_bytes, (unsigned long long)st1.skipped);
	/* the run must have exercised what it claims to */
	T_OK(exercised(&st1));
	/* a backend attached late gets exactly the current state */
	{
		struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .semantics = sem, .ranges = usable, .nranges = 2 };
		struct viommu_host *h2 = viommu_host_sim_new(&ho);

		struct viommu_recon_report first;
		int rc;

		T_OK(h2 != NULL);
		/* the first error, if any, is RAM the guest points at that cannot be mapped, never the backend */
		rc = viommu_recon_attach(w.r, h2);
		T_EQ(viommu_recon_status(w.r, &first), rc);
		T_OK(rc == 0 || (rc == -EINVAL && (first.kind == VIOMMU_RECON_ERR_UNALIGNED_RAM ||
						   first.kind == VIOMMU_RECON_ERR_RESERVED_RAM)));
		T_EQ(viommu_recon_check(w.r, h2, NULL), 0);
		T_EQ(viommu_recon_detach(w.r, h2, true), 0);
		T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 0);
		viommu_host_free(h2);
	}
	world_free(&w);
}

/*
 * Fail host call N, for every N of a fixed run: the failure is reported
 * with the failing call's exact range; right after it the check names a
 * failed unmap exactly (-ESTALE), a failed map as missing (-ENOENT), and for
 * the 25 operations that follow never finds a bug (-EIO); a resync then
 * restores the exact state.
 */
static void run_fault_injection(uint64_t seed, enum viommu_host_semantics sem, int nops)
{
	static struct page d[NPAGES];
	static struct extents x;
	struct t_rng rng;
	struct world w;
	long total;
	unsigned long bad = 0, eio = 0, stale = 0;

	/* enough host calls to fail (a light world needs more operations: up to four times @nops) */
	t_rng_init(&rng, seed);
	world_init(&w, &rng, sem, 0);
	for (int t = 0; t < nops || (t < 4 * nops && viommu_host_sim_timeline_count(w.h) <= 50); t++) {
		random_op(&w);
		if (t >= nops)
			nops = t + 1;
	}
	total = viommu_host_sim_timeline_count(w.h);
	world_free(&w);
	T_OK(total > 50);

	for (long n = 1; n <= total; n++) {
		struct viommu_host_record rec;
		unsigned long injected = 0;

		t_rng_init(&rng, seed);
		world_init(&w, &rng, sem, 0);
		viommu_host_sim_inject(w.h, (uint64_t)n, n % 2 ? EIO : ENOMEM);
		/* until the failure, the clean run (run_random checks that); then 25 operations more */
		for (int t = 0, after = 0; t < nops && after < 25; t++) {
			long tl0 = viommu_host_sim_timeline_count(w.h);
			unsigned long errs0 = w.backend_errors;
			struct viommu_recon_report where = { 0 };
			int rc = 0;

			random_op(&w);
			if (injected || w.backend_errors != errs0) {
				after++;
				rc = viommu_recon_check(w.r, w.h, &where);
				if (rc == -EIO)
					eio++;
			}
			for (long i = tl0; i < viommu_host_sim_timeline_count(w.h); i++) {
				if (viommu_host_sim_timeline_get(w.h, (size_t)i, &rec) || !rec.injected)
					continue;
				injected++;
				if (w.backend_errors != errs0 + 1 || w.last_backend_error.err != rec.result ||
				    w.last_backend_error.first != rec.iova ||
				    w.last_backend_error.last != rec.iova + rec.length - 1 ||
				    w.last_backend_error.is_unmap != (rec.op == VIOMMU_HOST_OP_UNMAP))
					bad++;
				if (rec.op == VIOMMU_HOST_OP_UNMAP) {
					stale++;
					if (rc != -ESTALE || where.first != rec.iova || where.last != rec.iova + rec.length - 1)
						bad++;
				} else if (rc != -ENOENT || where.first != rec.iova) {
					bad++;
				}
			}
		}
		if (injected != 1)
			bad++;
		viommu_recon_resync(w.r);
		if (w.backend_errors != 1)
			bad++;
		desired(&w, d);
		host_extents(&w, &x);
		if (compare_host(&x, d) || viommu_recon_check(w.r, w.h, NULL) != 0)
			bad++;
		world_free(&w);
	}
	T_EQ(bad, 0);
	T_EQ(eio, 0);
	T_OK(stale > 0);
	printf("iommu fault injection sem %d: %ld call indices, %lu failed unmaps\n", sem, total, stale);
}

int main(void)
{
	uint64_t seed = t_seed("test_reconcile_iommu_random", 0x10330017);

	run_random(seed, VIOMMU_HOST_TYPE1V2, 0, 2500);
	run_random(seed + 1, VIOMMU_HOST_TYPE1V1, 0, 2500);
	run_random(seed + 2, VIOMMU_HOST_IOMMUFD, 0, 2500);
	run_random(seed + 3, VIOMMU_HOST_TYPE1V2, 16 * PG, 2500);
	run_fault_injection(seed + 4, VIOMMU_HOST_TYPE1V2, 150);
	run_fault_injection(seed + 5, VIOMMU_HOST_TYPE1V1, 200);
	run_fault_injection(seed + 6, VIOMMU_HOST_IOMMUFD, 200);
	return t_done();
}
