// SPDX-License-Identifier: MIT
/*
 * Simulated host IOMMU: ns per map and per unmap with 10^4 and 6*10^4 live
 * 4K mappings (the type1 budget is 65535, semantics.md §3.1), in random
 * order.
 *
 * Baseline, measured in the same run on the same inputs: bare range-map
 * insert / remove of the same intervals. The simulator stores its mappings in
 * that map, so the ratio is the price of everything it adds per call — the
 * kernel's argument and range checks, the mutex, the record pool, the
 * timeline entry and fault-injection accounting.
 *
 * usage: bench_host [rounds] (default 5); seed 0xb0057 fixed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <viommu/host.h>
#include <viommu/rangemap.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0xb0057;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void shuffle(uint64_t *a, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng() % (i + 1));
		uint64_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static uint64_t sink;

static void run(size_t n, int rounds, enum viommu_host_semantics sem, const char *name)
{
	uint64_t *map_order = malloc(n * sizeof(*map_order)), *unmap_order = malloc(n * sizeof(*unmap_order));
	uint64_t t_map = 0, t_unmap = 0, t_ins = 0, t_rem = 0;

	/* 4K mappings one page apart (a hole between each), shuffled */
	for (size_t i = 0; i < n; i++)
		map_order[i] = unmap_order[i] = 0x100000 + (uint64_t)i * 0x2000;
	shuffle(map_order, n);
	shuffle(unmap_order, n);

	for (int r = 0; r < rounds; r++) {
		struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem };
		struct viommu_host *h = viommu_host_sim_new(&o);
		struct viommu_rangemap *m = viommu_rangemap_new();
		uint64_t t0, b;

		t0 = now_ns();
		for (size_t i = 0; i < n; i++)
			sink += (uint64_t)viommu_host_map(h, map_order[i], 0x1000, 0x7f0000000000 + map_order[i], 3);
		t_map += now_ns() - t0;
		t0 = now_ns();
		for (size_t i = 0; i < n; i++) {
			sink += (uint64_t)viommu_host_unmap(h, unmap_order[i], 0x1000, &b);
			sink += b;
		}
		t_unmap += now_ns() - t0;

		t0 = now_ns();
		for (size_t i = 0; i < n; i++)
			sink += (uint64_t)viommu_rangemap_insert(m, map_order[i], map_order[i] + 0xfff, i);
		t_ins += now_ns() - t0;
		t0 = now_ns();
		for (size_t i = 0; i < n; i++)
			sink += (uint64_t)viommu_rangemap_remove(m, unmap_order[i], unmap_order[i] + 0xfff, NULL);
		t_rem += now_ns() - t0;
		viommu_host_free(h);
		viommu_rangemap_free(m);
	}
	{
		double ops = (double)n * rounds;
		double map = t_map / ops, unmap = t_unmap / ops, ins = t_ins / ops, rem = t_rem / ops;

		printf("host.sim.%s.map.%zu %.1f ns\n", name, n, map);
		printf("host.sim.%s.map.%zu ratio %.2f\n", name, n, map / ins);
		printf("host.sim.%s.unmap.%zu %.1f ns\n", name, n, unmap);
		printf("host.sim.%s.unmap.%zu ratio %.2f\n", name, n, unmap / rem);
		printf("rangemap.insert.%zu %.1f ns\n", n, ins);
		printf("rangemap.remove.%zu %.1f ns\n", n, rem);
	}
	free(map_order);
	free(unmap_order);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;

	if (rounds < 1)
		rounds = 1;
	printf("seed 0xb0057 rounds %d sizes 10000 60000\n", rounds);
	run(10000, rounds, VIOMMU_HOST_TYPE1V2, "type1v2");
	run(60000, rounds, VIOMMU_HOST_TYPE1V2, "type1v2");
	run(10000, rounds, VIOMMU_HOST_IOMMUFD, "iommufd");
	run(60000, rounds, VIOMMU_HOST_IOMMUFD, "iommufd");
	printf("sink %" PRIu64 "\n", sink);
	return 0;
}
