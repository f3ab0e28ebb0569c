// SPDX-License-Identifier: MIT
/*
 * The simulator's locking: a writer maps and unmaps while readers translate
 * and read the timeline, as a device model's DMA threads would during a
 * remap (the window a device DMA faults in). Every translation must be either "not mapped" or
 * exactly one of the two mappings the writer alternates between — never a
 * torn record. Meant for the TSan build too. Each reader translates exactly
 * READS times and the writer keeps remapping until both are done: the test
 * asserts the guarantee for every read, never how the scheduler interleaved.
 */
#include <pthread.h>

#include <viommu/host.h>

#include "test.h"

#define ITERS 20000
#define READS 20000
#define IOVA UINT64_C(0x200000)
#define VA1 UINT64_C(0x7f0000000000)
#define VA2 UINT64_C(0x7f1000000000)

static struct viommu_host *h;
static int readers_left = 2;
static unsigned long bad, seen_none, seen_map;

static void *reader(void *arg)
{
	unsigned long b = 0, none = 0, mapped = 0;

	(void)arg;
	for (int n = 0; n < READS; n++) {
		struct viommu_host_record r;
		uint64_t va = 0;
		unsigned prot = 0;
		int ret = viommu_host_sim_translate(h, IOVA + 0x1234, &va, &prot);

		if (ret == -ENOENT) {
			none++;
		} else if (ret == 0 && ((va == VA1 + 0x1234 && prot == 1) || (va == VA2 + 0x1234 && prot == 3))) {
			mapped++;
		} else {
			b++;
		}
		if (viommu_host_sim_timeline_get(h, 0, &r) == 0 && r.op != VIOMMU_HOST_OP_MAP &&
		    r.op != VIOMMU_HOST_OP_UNMAP)
			b++;
	}
	__atomic_fetch_add(&bad, b, __ATOMIC_RELAXED);
	__atomic_fetch_add(&seen_none, none, __ATOMIC_RELAXED);
	__atomic_fetch_add(&seen_map, mapped, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&readers_left, 1, __ATOMIC_RELEASE);
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	unsigned long wbad = 0;

	h = viommu_host_sim_new(NULL);
	T_OK(h != NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < ITERS || __atomic_load_n(&readers_left, __ATOMIC_ACQUIRE); i++) {
		uint64_t b = 0;

		wbad += viommu_host_map(h, IOVA, 0x200000, (i & 1) ? VA2 : VA1, (i & 1) ? 3 : 1) != 0;
		wbad += viommu_host_unmap(h, IOVA, 0x200000, &b) != 0 || b != 0x200000;
		if (i % 1000 == 0)
			viommu_host_sim_timeline_clear(h);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("readers saw %lu unmapped, %lu mapped\n", seen_none, seen_map);
	T_EQ(wbad, 0);
	T_EQ(bad, 0);
	T_EQ(seen_none + seen_map, 2 * READS);
	viommu_host_free(h);
	return t_done();
}
