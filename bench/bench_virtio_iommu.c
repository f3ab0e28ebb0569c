// SPDX-License-Identifier: MIT
/*
 * virtio-iommu benchmark: what one guest MAP / UNMAP of 4 KiB costs end to
 * end, against what the host backend alone costs for it.
 *
 *	bench_virtio_iommu [mappings [seed]]	default 100000 mappings, seed 0x71a0b001
 *
 * Cases (ns per request, thread CPU time, best of 3 passes, IOVAs in a
 * shuffled order built before the timed loop):
 *   map_4k / unmap_4k   a request through viommu_virtio_iommu_handle_request:
 *                       decode, the domain's mapping set, the IOMMU address
 *                       space's events, the host connector, the simulated
 *                       VFIO type1 v2 backend (src/host/sim.c);
 *   sim.map_4k / sim.unmap_4k   the same IOVAs and host addresses given to
 *                       the simulated backend directly: its record and its
 *                       page table, the floor any device model pays (the
 *                       baseline; "ratio" lines divide by it).
 *   map_4k.no_host / unmap_4k.no_host   the same requests with no backend:
 *                       the library's own work (decode, mapping set, events).
 * Growth: map_4k and unmap_4k at 1/100, 1/10 and all of the mappings in one
 * domain; "growth" is ns per request at the full size over the smallest (1.0:
 * linear total cost), for the device and for the backend alone (whose own
 * tree and page table grow the same way).
 * Sharing: two endpoints attached to one domain with one shared backend
 * (one VFIO container) hold one host mapping per guest mapping; the same two
 * endpoints with a backend each hold two, the cost of cloud-hypervisor's one
 * container per endpoint. Counted in the simulated backends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/virtio_iommu.h>

#include "bench.h"

#define PG 0x1000ull
#define REPS 3
#define RAM_SIZE (1ull << 30)
#define HOST_BASE 0x100000000000ull

static uint64_t sink;

struct world {
	struct viommu_memory *m;
	struct viommu_as *sys;
	struct viommu_virtio_iommu *d;
	struct viommu_host *h[2];
};

static struct viommu_host *sim_new(void)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .dma_entry_limit = 1u << 30, .timeline_capacity = 1 };
	struct viommu_host *h = viommu_host_sim_new(&o);

	if (!h) {
		fprintf(stderr, "sim\n");
		exit(1);
	}
	return h;
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static int request(struct viommu_virtio_iommu *d, const uint8_t *b, size_t n)
{
	uint8_t tail[4];
	uint32_t used;
	struct iovec rd = { (void *)b, n }, wr = { tail, sizeof(tail) };

	return viommu_virtio_iommu_handle_request(d, &rd, 1, &wr, 1, &used);
}

static int attach(struct viommu_virtio_iommu *d, uint32_t dom, uint32_t ep)
{
	uint8_t b[20] = { 1 };

	put32(b + 4, dom);
	put32(b + 8, ep);
	return request(d, b, sizeof(b));
}

/* A world: RAM at GPA 0, a device with @neps endpoints on @nb backends (0: none), all in domain 1. */
static void world_new(struct world *w, unsigned neps, unsigned nb)
{
	memset(w, 0, sizeof(*w));
	w->m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(w->m, "system", 0);
	struct viommu_mr *ram = viommu_mr_new_ram(w->m, "ram", RAM_SIZE, (void *)(uintptr_t)HOST_BASE);

	viommu_mr_add_subregion(root, 0, ram, 0);
	w->sys = viommu_as_new(w->m, "memory", root);
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .memory = w->m, .sys = w->sys };

	w->d = viommu_virtio_iommu_new(&o);
	for (unsigned i = 0; i < nb; i++)
		w->h[i] = sim_new();
	for (unsigned e = 0; e < neps; e++) {
		struct viommu_virtio_iommu_endpoint_opts eo = { .sz = sizeof(eo), .backend = nb ? w->h[e % nb] : NULL };

		if (!w->d || viommu_virtio_iommu_add_endpoint(w->d, 8 * (e + 1), &eo) || attach(w->d, 1, 8 * (e + 1))) {
			fprintf(stderr, "setup\n");
			exit(1);
		}
	}
}

static void world_free(struct world *w)
{
	viommu_virtio_iommu_free(w->d);
	for (int i = 0; i < 2; i++)
		viommu_host_free(w->h[i]);
	viommu_memory_free(w->m);
}

static uint64_t *order;		/* page numbers, shuffled */
static uint8_t (*maps)[36];	/* the MAP requests, prebuilt */
static uint8_t (*unmaps)[28];	/* the UNMAP requests, prebuilt */

static void build(size_t n)
{
	order = malloc(n * sizeof(*order));
	maps = malloc(n * sizeof(*maps));
	unmaps = malloc(n * sizeof(*unmaps));
	if (!order || !maps || !unmaps)
		exit(1);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	bench_shuffle(order, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t iova = 0x100000000ull + order[i] * PG, gpa = (order[i] * PG) % RAM_SIZE;

		memset(maps[i], 0, 36);
		maps[i][0] = 3;
		put32(maps[i] + 4, 1);
		put64(maps[i] + 8, iova);
		put64(maps[i] + 16, iova + PG - 1);
		put64(maps[i] + 24, gpa);
		put32(maps[i] + 32, 3);
		memset(unmaps[i], 0, 28);
		unmaps[i][0] = 4;
		put32(unmaps[i] + 4, 1);
		put64(unmaps[i] + 8, iova);
		put64(unmaps[i] + 16, iova + PG - 1);
	}
}

struct pass { double map_ns, unmap_ns, sim_map_ns, sim_unmap_ns, bare_map_ns, bare_unmap_ns; };

/* One pass over the first @n requests: the device, then the simulated backend alone. */
static struct pass run(size_t n)
{
	struct pass p;
	struct world w;
	uint64_t t0, t1;

	world_new(&w, 1, 1);
	t0 = bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		sink += (uint64_t)request(w.d, maps[i], 36);
	t1 = bench_cpu_ns();
	p.map_ns = (double)(t1 - t0) / (double)n;
	if (viommu_host_sim_mappings(w.h[0], NULL, NULL) != (long)n || sink) {
		fprintf(stderr, "map: the host holds %ld of %zu\n", viommu_host_sim_mappings(w.h[0], NULL, NULL), n);
		exit(1);
	}
	t0 = bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		sink += (uint64_t)request(w.d, unmaps[i], 28);
	t1 = bench_cpu_ns();
	p.unmap_ns = (double)(t1 - t0) / (double)n;
	if (viommu_host_sim_mappings(w.h[0], NULL, NULL) != 0 || sink) {
		fprintf(stderr, "unmap\n");
		exit(1);
	}
	world_free(&w);

	/* The device and its IOMMU address space without a backend: the library's own work. */
	world_new(&w, 1, 0);
	t0 = bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		sink += (uint64_t)request(w.d, maps[i], 36);
	t1 = bench_cpu_ns();
	p.bare_map_ns = (double)(t1 - t0) / (double)n;
	t0 = bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		sink += (uint64_t)request(w.d, unmaps[i], 28);
	t1 = bench_cpu_ns();
	p.bare_unmap_ns = (double)(t1 - t0) / (double)n;
	world_free(&w);

	struct viommu_host *h = sim_new();

	t0 = bench_cpu_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t iova = 0x100000000ull + order[i] * PG, gpa = (order[i] * PG) % RAM_SIZE;

		sink += (uint64_t)viommu_host_map(h, iova, PG, HOST_BASE + gpa, VIOMMU_PERM_RW);
	}
	t1 = bench_cpu_ns();
	p.sim_map_ns = (double)(t1 - t0) / (double)n;
	t0 = bench_cpu_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t unmapped;

		sink += (uint64_t)viommu_host_unmap(h, 0x100000000ull + order[i] * PG, PG, &unmapped);
	}
	t1 = bench_cpu_ns();
	p.sim_unmap_ns = (double)(t1 - t0) / (double)n;
	viommu_host_free(h);
	if (sink) {
		fprintf(stderr, "sim\n");
		exit(1);
	}
	return p;
}

static struct pass best(size_t n)
{
	struct pass b = run(n);

	for (int r = 1; r < REPS; r++) {
		struct pass p = run(n);

		b.map_ns = p.map_ns < b.map_ns ? p.map_ns : b.map_ns;
		b.unmap_ns = p.unmap_ns < b.unmap_ns ? p.unmap_ns : b.unmap_ns;
		b.sim_map_ns = p.sim_map_ns < b.sim_map_ns ? p.sim_map_ns : b.sim_map_ns;
		b.sim_unmap_ns = p.sim_unmap_ns < b.sim_unmap_ns ? p.sim_unmap_ns : b.sim_unmap_ns;
		b.bare_map_ns = p.bare_map_ns < b.bare_map_ns ? p.bare_map_ns : b.bare_map_ns;
		b.bare_unmap_ns = p.bare_unmap_ns < b.bare_unmap_ns ? p.bare_unmap_ns : b.bare_unmap_ns;
	}
	return b;
}

/* Host mappings held after @n guest MAPs with two endpoints on @nb backends. */
static long shared(size_t n, unsigned nb)
{
	struct world w;
	long held = 0;

	world_new(&w, 2, nb);
	for (size_t i = 0; i < n; i++)
		sink += (uint64_t)request(w.d, maps[i], 36);
	for (unsigned i = 0; i < nb; i++)
		held += viommu_host_sim_mappings(w.h[i], NULL, NULL);
	world_free(&w);
	return held;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x71a0b001;

	if (n < 100)
		n = 100;
	bench_seed(seed);
	printf("seed %#" PRIx64 " mappings %zu\n", seed, n);
	build(n);
	struct pass full = best(n), small = best(n / 100), mid = best(n / 10);

	printf("virtio_iommu.map_4k %.1f ns\n", full.map_ns);
	printf("virtio_iommu.sim.map_4k %.1f ns\n", full.sim_map_ns);
	printf("virtio_iommu.map_4k ratio %.2f\n", full.map_ns / full.sim_map_ns);
	printf("virtio_iommu.unmap_4k %.1f ns\n", full.unmap_ns);
	printf("virtio_iommu.sim.unmap_4k %.1f ns\n", full.sim_unmap_ns);
	printf("virtio_iommu.unmap_4k ratio %.2f\n", full.unmap_ns / full.sim_unmap_ns);
	printf("virtio_iommu.map_4k.no_host %.1f ns\n", full.bare_map_ns);
	printf("virtio_iommu.unmap_4k.no_host %.1f ns\n", full.bare_unmap_ns);
	printf("virtio_iommu.map_4k.at_%zu %.1f ns\n", n / 100, small.map_ns);
	printf("virtio_iommu.map_4k.at_%zu %.1f ns\n", n / 10, mid.map_ns);
	printf("virtio_iommu.map_4k.at_%zu %.1f ns\n", n, full.map_ns);
	printf("virtio_iommu.map_4k growth %.2f\n", full.map_ns / small.map_ns);
	printf("virtio_iommu.sim.map_4k growth %.2f\n", full.sim_map_ns / small.sim_map_ns);
	printf("virtio_iommu.unmap_4k.at_%zu %.1f ns\n", n / 100, small.unmap_ns);
	printf("virtio_iommu.unmap_4k.at_%zu %.1f ns\n", n / 10, mid.unmap_ns);
	printf("virtio_iommu.unmap_4k growth %.2f\n", full.unmap_ns / small.unmap_ns);
	printf("virtio_iommu.sim.unmap_4k growth %.2f\n", full.sim_unmap_ns / small.sim_unmap_ns);
	size_t k = n < 10000 ? n : 10000;
	long one = shared(k, 1), two = shared(k, 2);

	printf("virtio_iommu.shared_backend.host_mappings %ld mappings\n", one);
	printf("virtio_iommu.backend_per_endpoint.host_mappings %ld mappings\n", two);
	printf("virtio_iommu.shared_backend.host_mappings ratio %.2f\n", (double)one / (double)two);
	free(order);
	free(maps);
	free(unmaps);
	return sink != 0;
}
