// SPDX-License-Identifier: MIT
/*
 * The concurrency contract of memory.h: readers (viommu_as_read, held flat
 * views) run without exclusion while another thread commits. A page is
 * switched between two RAM regions (all bytes 0xaa / all bytes 0xbb) and
 * toggled on and off; every read sees one whole view: 8 equal bytes from one
 * region, or -EFAULT when the page is absent, never a mix or a freed view.
 * Run under TSan in CI to catch races.
 *
 * What is asserted is the library's guarantee, never what the scheduler did:
 * each reader makes exactly READS reads and every one of them is either a
 * whole view or a hole; the writer keeps committing until every reader is
 * done, so the reads overlap commits whenever the scheduler lets them.
 */
#include <errno.h>
#include <pthread.h>
#include <viommu/memory.h>

#include "test.h"

static struct viommu_as *g_as;
#define READS 20000
#define MIN_COMMITS 20000
static int g_readers_left = 2;
static unsigned long g_reads[2], g_bad[2], g_holes[2];

static void *reader(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int n = 0; n < READS; n++) {
		uint8_t b[8];
		int r = viommu_as_read(g_as, 0x10000 + 0x100, b, sizeof(b));

		if (r == -EFAULT) {
			g_holes[id]++;
			continue;
		}
		g_reads[id]++;
		if (r != 0 || (b[0] != 0xaa && b[0] != 0xbb) || memcmp(b, b + 1, 7) != 0)
			g_bad[id]++;
		/* A held view stays consistent across commits. */
		struct viommu_flatview *v = viommu_as_get_flatview(g_as);
		const struct viommu_mr_section *s = viommu_flatview_lookup(v, 0x10000);
		if (s && (s->first != 0x10000 || s->last != 0x10fff))
			g_bad[id]++;
		viommu_flatview_put(v);
	}
	__atomic_sub_fetch(&g_readers_left, 1, __ATOMIC_RELEASE);
	return NULL;
}

int main(void)
{
	static uint8_t a[0x1000], bb[0x1000];
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x100000);
	struct viommu_mr *ra = viommu_mr_new_ram(m, "a", sizeof(a), a);
	struct viommu_mr *rb = viommu_mr_new_ram(m, "b", sizeof(bb), bb);
	pthread_t th[2];

	memset(a, 0xaa, sizeof(a));
	memset(bb, 0xbb, sizeof(bb));
	g_as = viommu_as_new(m, "sys", root);
	T_EQ(viommu_mr_add_subregion(root, 0x10000, ra, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x10000, rb, 1), 0);
	for (int i = 0; i < 2; i++)
		T_EQ(pthread_create(&th[i], NULL, reader, (void *)(intptr_t)i), 0);
	for (int k = 0; k < MIN_COMMITS || __atomic_load_n(&g_readers_left, __ATOMIC_ACQUIRE); k++) {
		switch (k % 3) {
		case 0:
			T_EQ(viommu_mr_set_enabled(rb, !viommu_mr_is_enabled(rb)), 0);
			break;
		case 1:
			T_EQ(viommu_mr_set_enabled(ra, !viommu_mr_is_enabled(ra)), 0);
			break;
		default:
			T_EQ(viommu_memory_begin(m), 0);
			T_EQ(viommu_mr_set_enabled(ra, true), 0);
			T_EQ(viommu_mr_set_enabled(rb, k % 2 == 0), 0);
			T_EQ(viommu_memory_commit(m), 0);
			break;
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("reads %lu + %lu, holes %lu + %lu\n", g_reads[0], g_reads[1], g_holes[0], g_holes[1]);
	T_EQ(g_bad[0] + g_bad[1], 0);
	T_EQ(g_reads[0] + g_holes[0], READS);
	T_EQ(g_reads[1] + g_holes[1], READS);
	viommu_memory_free(m);
	return t_done();
}
