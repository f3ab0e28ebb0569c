// SPDX-License-Identifier: MIT
/*
 * Cases for the single-line bugs of the mutation round (tests/mutate/run.sh
 * with tests/mutate/round1.list) that the rest of the suite let through, one
 * function per surviving mutant, each named after it. Every case asserts the
 * documented behaviour exactly; each failed with its mutant planted and
 * passes without it.
 */
#include <viommu/range.h>

#include "iommu_model.h"

/* src/iommu/iommu.c, listener registration: "first > last" refused, a one-byte range is valid. */
static void test_iommu_listener_one_byte(void)
{
	static struct guest g;
	static struct rec one, bad;
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g };
	struct viommu_iommu_as *ias;

	g.leaves = viommu_rangemap_new();
	ias = viommu_iommu_as_new(&o);
	if (!g.leaves || !ias)
		T_FATAL("setup");
	rec_init(&one, 0x5abc, 0x5abc, VIOMMU_IOMMU_EV_ALL, VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE);
	rec_init(&bad, 0x5abd, 0x5abc, VIOMMU_IOMMU_EV_ALL, VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE);
	T_EQ(viommu_iommu_listener_register(ias, &one.l), 0);
	T_EQ(viommu_iommu_listener_register(ias, &bad.l), -EINVAL);
	guest_map(&g, 0x5000, 0x1000, 0x80000000, VIOMMU_PERM_READ);
	T_EQ(viommu_iommu_sync(ias, 0x5000, 0x5fff), 1);
	T_STREQ(one.log, "M 5abc-5abc>80000abc/1;");
	T_EQ(viommu_iommu_deviotlb_unmap(ias, 0, UINT64_MAX), 0);
	T_STREQ(one.log, "M 5abc-5abc>80000abc/1;D 5abc-5abc>0/0;");
	T_EQ(viommu_iommu_listener_unregister(ias, &one.l), 0);
	viommu_iommu_as_free(ias);
	viommu_rangemap_free(g.leaves);
}

int main(void)
{
	test_iommu_listener_one_byte();
	return t_done();
}
