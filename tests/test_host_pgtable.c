// SPDX-License-Identifier: MIT
/*
 * The simulator's mappings live in a real VT-d second-stage page table
 * (include/viommu/pgtable.h): leaves chosen as iommu_pgsize does
 * (iommu_pgsize, drivers/iommu/iommu.c) with the user address as output, removed on unmap, and
 * translate answered by the walk. Mappings the table cannot hold (a user
 * address beyond 52 bits) still translate, from their record.
 */
#include <viommu/host.h>
#include <viommu/pgtable.h>

#include "test.h"

#define K4 UINT64_C(0x1000)
#define M2 UINT64_C(0x200000)
#define VA UINT64_C(0x7f0000000000)

int main(void)
{
	struct viommu_host *h = viommu_host_sim_new(NULL);
	const struct viommu_pgtable *pt = viommu_host_sim_pgtable(h);
	struct viommu_pt_mapping m;
	uint64_t va, b;
	unsigned prot;

	T_OK(pt != NULL);
	/* 2M-aligned on both sides: one 2M leaf */
	T_EQ(viommu_host_map(h, 2 * M2, M2, VA + M2, VIOMMU_PERM_READ), 0);
	T_EQ(viommu_pgtable_lookup(pt, 2 * M2 + 0x1234, &m), 0);
	T_EQ_U64(m.iova, 2 * M2);
	T_EQ_U64(m.size, M2);
	T_EQ_U64(m.phys, VA + M2);
	T_EQ(m.perm & 3, VIOMMU_PERM_READ);
	/* user address only 4K-aligned: 4K leaves */
	T_EQ(viommu_host_map(h, 8 * M2, M2, VA + K4, 3), 0);
	T_EQ(viommu_pgtable_lookup(pt, 8 * M2 + 5 * K4 + 7, &m), 0);
	T_EQ_U64(m.size, K4);
	T_EQ_U64(m.phys, VA + 6 * K4);
	T_EQ(viommu_host_sim_translate(h, 8 * M2 + 5 * K4 + 7, &va, &prot), 0);
	T_EQ_U64(va, VA + 6 * K4 + 7);
	T_EQ(prot, 3);
	/* a user address beyond the 52-bit output width: not in the table */
	T_EQ(viommu_host_map(h, 16 * M2, K4, UINT64_C(0x7ff0000000000000), 3), 0);
	T_EQ(viommu_pgtable_lookup(pt, 16 * M2, &m), -ENOENT);
	T_EQ(viommu_host_sim_translate(h, 16 * M2 + 8, &va, &prot), 0);
	T_EQ_U64(va, UINT64_C(0x7ff0000000000008));
	/* 2G of 4K-aligned user memory would need 2^19 leaves: kept out of the table */
	T_EQ(viommu_host_map(h, UINT64_C(0x100000000), UINT64_C(0x80000000), VA + K4, 3), 0);
	T_EQ(viommu_pgtable_lookup(pt, UINT64_C(0x100000000), &m), -ENOENT);
	T_EQ(viommu_host_sim_translate(h, UINT64_C(0x17fffffff), &va, &prot), 0);
	T_EQ_U64(va, VA + K4 + UINT64_C(0x7fffffff));
	T_EQ(viommu_host_unmap(h, UINT64_C(0x100000000), UINT64_C(0x80000000), &b), 0);
	/* the same with 1G-aligned addresses: two 1G leaves */
	T_EQ(viommu_host_map(h, UINT64_C(0x100000000), UINT64_C(0x80000000), UINT64_C(0x7f0040000000), 3), 0);
	T_EQ(viommu_pgtable_lookup(pt, UINT64_C(0x17fffffff), &m), 0);
	T_EQ_U64(m.size, UINT64_C(0x40000000));
	T_EQ_U64(m.phys, UINT64_C(0x7f0080000000));
	T_EQ(viommu_host_unmap(h, UINT64_C(0x100000000), UINT64_C(0x80000000), &b), 0);
	/* unmap removes the leaves */
	T_EQ(viommu_host_unmap(h, 8 * M2, M2, &b), 0);
	T_EQ(viommu_pgtable_lookup(pt, 8 * M2 + 5 * K4, &m), -ENOENT);
	T_EQ(viommu_host_sim_translate(h, 8 * M2, &va, &prot), -ENOENT);
	T_EQ(viommu_host_unmap_all(h, &b), 0);
	T_EQ_U64(b, M2 + K4);
	T_EQ(viommu_pgtable_lookup(pt, 2 * M2, &m), -ENOENT);
	{
		struct viommu_pgtable_stats st;

		viommu_pgtable_get_stats(pt, &st);
		T_EQ(st.table_pages, 1);	/* empty tables were freed: only the root */
	}
	T_OK(viommu_host_sim_pgtable(NULL) == NULL);
	viommu_host_free(h);

	/* ARM LPAE stage 2 instead of VT-d: same answers from a different walker */
	{
		struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = VIOMMU_HOST_IOMMUFD,
						  .pt_format = VIOMMU_PT_ARM_S2 };

		h = viommu_host_sim_new(&o);
		T_OK(h != NULL);
		pt = viommu_host_sim_pgtable(h);
		T_EQ(viommu_host_map(h, 2 * M2, M2, VA + M2, 3), 0);
		T_EQ(viommu_pgtable_lookup(pt, 2 * M2 + 0x10, &m), 0);
		T_EQ_U64(m.size, M2);
		T_EQ(viommu_host_sim_translate(h, 2 * M2 + 0x10, &va, &prot), 0);
		T_EQ_U64(va, VA + M2 + 0x10);
		T_EQ(prot, 3);
		viommu_host_free(h);
		o.pt_format = 99;
		errno = 0;
		T_OK(viommu_host_sim_new(&o) == NULL && errno == EINVAL);
	}
	return t_done();
}
