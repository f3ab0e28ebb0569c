// SPDX-License-Identifier: MIT
/*
 * Cases for the single-line bugs of the mutation round (tests/mutate/run.sh
 * with tests/mutate/round1.list) that the rest of the suite let through, one
 * function per surviving mutant, each named after it. Every case asserts the
 * documented behaviour exactly; each failed with its mutant planted and
 * passes without it.
 */
#include <viommu/host.h>
#include <viommu/range.h>
#include <viommu/virtio_iommu.h>

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

/*
 * src/host/sim.c, usable IOVA ranges: ranges sharing one byte overlap and are
 * refused; ranges that only touch are fine (the mutant "first < previous
 * last" accepted the one-byte overlap).
 */
static void test_sim_ranges_one_byte_overlap(void)
{
	const struct viommu_host_iova_range touch[] = { { 0, 0xfff }, { 0xfff, 0x1fff } };
	const struct viommu_host_iova_range adjacent[] = { { 0, 0xfff }, { 0x1000, 0x1fff } };
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .ranges = touch, .nranges = 2 };
	struct viommu_host *h;

	errno = 0;
	T_OK(viommu_host_sim_new(&o) == NULL);
	T_EQ(errno, EINVAL);
	o.ranges = adjacent;
	h = viommu_host_sim_new(&o);
	T_OK(h != NULL);
	viommu_host_free(h);
}

/*
 * src/host/sim.c, viommu_host_sim_access: a one-byte access is valid and
 * checked like any other; a range that wraps past 2^64-1 is refused (the
 * mutant "iova + (length - 1) <= iova" refused every one-byte access).
 */
static void test_sim_access_one_byte(void)
{
	struct viommu_host *h = viommu_host_sim_new(NULL);
	uint64_t at = 0;

	if (!h)
		T_FATAL("sim");
	T_EQ(viommu_host_map(h, 0x10000, 0x1000, 0x7f0000000000ull, VIOMMU_PERM_READ), 0);
	T_EQ(viommu_host_sim_access(h, 0x10fff, 1, VIOMMU_PERM_READ, &at), 0);
	T_EQ(viommu_host_sim_access(h, 0x11000, 1, VIOMMU_PERM_READ, &at), -EFAULT);
	T_EQ_U64(at, 0x11000);
	T_EQ(viommu_host_sim_access(h, 0x10000, 1, VIOMMU_PERM_WRITE, &at), -EFAULT);
	T_EQ_U64(at, 0x10000);
	T_EQ(viommu_host_sim_access(h, UINT64_MAX, 2, VIOMMU_PERM_READ, &at), -EINVAL);
	T_EQ(viommu_host_sim_access(h, UINT64_MAX, 1, VIOMMU_PERM_READ, &at), -EFAULT);
	viommu_host_free(h);
}

/*
 * src/virtio_iommu/virtio_iommu.c, reserved regions: two sharing one byte
 * overlap and are refused; touching ones are fine (the mutant "first <
 * previous last" accepted the overlap).
 */
static void test_virtio_resv_one_byte_overlap(void)
{
	struct viommu_virtio_iommu_resv touch[2] = { { 0x1000, 0x1fff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED },
						     { 0x1fff, 0x2fff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED } };
	struct viommu_virtio_iommu_resv adjacent[2] = { { 0x1000, 0x1fff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED },
							{ 0x2000, 0x2fff, VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_RESERVED } };
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .resv = touch, .nresv = 2 };
	struct viommu_virtio_iommu *d;

	errno = 0;
	T_OK(viommu_virtio_iommu_new(&o) == NULL);
	T_EQ(errno, EINVAL);
	o.resv = adjacent;
	d = viommu_virtio_iommu_new(&o);
	T_OK(d != NULL);
	viommu_virtio_iommu_free(d);
}

int main(void)
{
	test_iommu_listener_one_byte();
	test_sim_ranges_one_byte_overlap();
	test_sim_access_one_byte();
	test_virtio_resv_one_byte_overlap();
	return t_done();
}
