/* SPDX-License-Identifier: MIT */
/* Shared by the page-table tests: the format matrix and a leak-counting allocator. */
#ifndef VIOMMU_TEST_PT_COMMON_H
#define VIOMMU_TEST_PT_COMMON_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/pgtable.h>

struct pt_case {
	const char *name;
	enum viommu_pt_format format;
	unsigned levels, granule, in_bits;
};

/* Every format, level count and granule the engine supports. */
static const struct pt_case pt_cases[] = {
	{ "vtd-3", VIOMMU_PT_VTD_SL, 3, 0, 0 },
	{ "vtd-4", VIOMMU_PT_VTD_SL, 4, 0, 0 },
	{ "vtd-5", VIOMMU_PT_VTD_SL, 5, 0, 0 },
	{ "arm-s1-4k", VIOMMU_PT_ARM_S1, 0, 4096, 48 },
	{ "arm-s1-4k-39", VIOMMU_PT_ARM_S1, 0, 4096, 39 },
	{ "arm-s1-16k", VIOMMU_PT_ARM_S1, 0, 16384, 48 },
	{ "arm-s1-64k", VIOMMU_PT_ARM_S1, 0, 65536, 48 },
	{ "arm-s2-4k", VIOMMU_PT_ARM_S2, 0, 4096, 48 },
	{ "arm-s2-16k-40", VIOMMU_PT_ARM_S2, 0, 16384, 40 },
	{ "arm-s2-64k", VIOMMU_PT_ARM_S2, 0, 65536, 48 },
	{ "amd-3", VIOMMU_PT_AMD_V1, 3, 0, 0 },
	{ "amd-4", VIOMMU_PT_AMD_V1, 4, 0, 0 },
	{ "amd-5-52", VIOMMU_PT_AMD_V1, 5, 0, 52 },
	{ "amd-6", VIOMMU_PT_AMD_V1, 6, 0, 64 },	/* the full 64-bit input space */
};

/* Counts live table pages so a test can prove destroy freed everything. */
struct pt_mem_counter {
	long live;
	long allocs;
	long limit;	/* > 0: allocations beyond this many fail (ENOMEM injection) */
};

static inline void *pt_cnt_alloc(void *ctx, size_t size)
{
	struct pt_mem_counter *m = ctx;
	if (m->limit > 0 && m->allocs >= m->limit)
		return NULL;
	void *p = aligned_alloc(size, size);
	if (p) {
		memset(p, 0, size);
		m->live++;
		m->allocs++;
	}
	return p;
}

static inline void pt_cnt_free(void *ctx, void *page, size_t size)
{
	struct pt_mem_counter *m = ctx;
	(void)size;
	m->live--;
	free(page);
}

static inline uint64_t pt_cnt_v2p(void *ctx, void *page)
{
	(void)ctx;
	return (uint64_t)(uintptr_t)page;
}

static inline void *pt_cnt_p2v(void *ctx, uint64_t phys)
{
	(void)ctx;
	return (void *)(uintptr_t)phys;
}

static inline unsigned vi_fls64_test(uint64_t x)
{
	return 63u - (unsigned)__builtin_clzll(x);
}

static inline struct viommu_pgtable_opts pt_opts(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o;
	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.format = pc->format;
	o.levels = pc->levels;
	o.granule = pc->granule;
	o.in_bits = pc->in_bits;
	return o;
}

/* The prot a format reports back for a mapping made with @prot. */
static inline unsigned pt_norm_perm(enum viommu_pt_format f, unsigned prot)
{
	/* ARM stage 1 cannot deny reads: AP has read-only, not write-only (io-pgtable-arm.c). */
	if (f == VIOMMU_PT_ARM_S1)
		prot |= VIOMMU_PERM_READ;
	return prot;
}

/* The matrix entries with the VT-d 4-level geometry: VT-d itself and AMD mode 4. */
#define PT_CASE_VTD4 1
#define PT_CASE_AMD4 11

/* The input width a case ends up with (all formats default to what the levels cover). */
static inline unsigned pt_case_in_bits(const struct pt_case *pc)
{
	unsigned in_bits = pc->in_bits ? pc->in_bits : 12 + 9 * pc->levels;
	return in_bits > 64 ? 64 : in_bits;
}

/* The walker's read callback over host memory (owned tables: phys == VA). */
static inline int pt_read_host(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	memcpy(buf, (const void *)(uintptr_t)gpa, len);
	return 0;
}

#endif
