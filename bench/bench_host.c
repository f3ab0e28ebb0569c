// SPDX-License-Identifier: MIT
/*
 * Simulated host IOMMU: ns per map and per unmap with 10^4 and 6*10^4 live
 * 4K mappings (the type1 budget is 65535, vfio_iommu_type1.c dma_entry_limit), in random
 * order.
 *
 * Baseline, measured in the same run on the same inputs: the bare data
 * structure work the simulator cannot avoid — range-map insert plus
 * page-table map of the same mapping (and range-map remove plus page-table
 * unmap), with the same VT-d table configuration. The ratio is the price of
 * everything the simulator adds per call: the kernel's argument, overlap and
 * range checks in the kernel's order, the mutex, the record pool, the
 * timeline entry and the fault-injection accounting.
 *
 * Each case reports its fastest round (after one warm-up round), so load from
 * other processes inflates neither side of a ratio.
 *
 * usage: bench_host [rounds] (default 7); seed 0xb0057 fixed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <viommu/host.h>
#include <viommu/pgtable.h>
#include <viommu/rangemap.h>

#include "bench.h"





static uint64_t sink;

static void run(size_t n, int rounds, enum viommu_host_semantics sem, const char *name)
{
	uint64_t *map_order = malloc(n * sizeof(*map_order)), *unmap_order = malloc(n * sizeof(*unmap_order));
	/* the fastest round of each case: robust against other load on the machine */
	uint64_t t_map = UINT64_MAX, t_unmap = UINT64_MAX, t_ins = UINT64_MAX, t_rem = UINT64_MAX;

	/* 4K mappings one page apart (a hole between each), shuffled */
	for (size_t i = 0; i < n; i++)
		map_order[i] = unmap_order[i] = 0x100000 + (uint64_t)i * 0x2000;
	bench_shuffle(map_order, n);
	bench_shuffle(unmap_order, n);

	/* round -1 warms the allocator and the caches and is not counted */
	for (int r = -1; r < rounds; r++) {
		uint64_t m0 = t_map, u0 = t_unmap, i0 = t_ins, r0 = t_rem, d;

		struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem };
		struct viommu_host *h = viommu_host_sim_new(&o);
		struct viommu_rangemap *m = viommu_rangemap_new();
		struct viommu_pgtable_opts po = { .sz = sizeof(po), .format = VIOMMU_PT_VTD_SL, .levels = 5,
						  .out_bits = 52, .pgsize_bitmap = 0x40201000 };
		struct viommu_pgtable *pt = viommu_pgtable_new(&po);
		uint64_t t0, b;

		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++)
			sink += (uint64_t)viommu_host_map(h, map_order[i], 0x1000, 0x7f0000000000 + map_order[i], 3);
		d = bench_now_ns() - t0;
		t_map = d < t_map ? d : t_map;
		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			sink += (uint64_t)viommu_host_unmap(h, unmap_order[i], 0x1000, &b);
			sink += b;
		}
		d = bench_now_ns() - t0;
		t_unmap = d < t_unmap ? d : t_unmap;

		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			sink += (uint64_t)viommu_rangemap_insert(m, map_order[i], map_order[i] + 0xfff, i);
			sink += (uint64_t)viommu_pgtable_map(pt, map_order[i], 0x7f0000000000 + map_order[i], 0x1000, 3,
							      NULL);
		}
		d = bench_now_ns() - t0;
		t_ins = d < t_ins ? d : t_ins;
		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			sink += (uint64_t)viommu_rangemap_remove(m, unmap_order[i], unmap_order[i] + 0xfff, NULL);
			sink += (uint64_t)viommu_pgtable_unmap(pt, unmap_order[i], 0x1000, &b);
		}
		d = bench_now_ns() - t0;
		t_rem = d < t_rem ? d : t_rem;
		viommu_host_free(h);
		viommu_rangemap_free(m);
		viommu_pgtable_free(pt);
		if (r < 0) {
			t_map = m0;
			t_unmap = u0;
			t_ins = i0;
			t_rem = r0;
		}
	}
	{
		double ops = (double)n;
		double map = t_map / ops, unmap = t_unmap / ops, ins = t_ins / ops, rem = t_rem / ops;

		printf("host.sim.%s.map.%zu %.1f ns\n", name, n, map);
		printf("host.sim.%s.map.%zu ratio %.2f\n", name, n, map / ins);
		printf("host.sim.%s.unmap.%zu %.1f ns\n", name, n, unmap);
		printf("host.sim.%s.unmap.%zu ratio %.2f\n", name, n, unmap / rem);
		printf("baseline.%s.insert+ptmap.%zu %.1f ns\n", name, n, ins);
		printf("baseline.%s.remove+ptunmap.%zu %.1f ns\n", name, n, rem);
	}
	free(map_order);
	free(unmap_order);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7;

	if (rounds < 1)
		rounds = 1;
	bench_seed(0xb0057);
	printf("seed 0xb0057 rounds %d sizes 10000 60000\n", rounds);
	run(10000, rounds, VIOMMU_HOST_TYPE1V2, "type1v2");
	run(60000, rounds, VIOMMU_HOST_TYPE1V2, "type1v2");
	run(10000, rounds, VIOMMU_HOST_IOMMUFD, "iommufd");
	run(60000, rounds, VIOMMU_HOST_IOMMUFD, "iommufd");
	printf("sink %" PRIu64 "\n", sink);
	return 0;
}
