// SPDX-License-Identifier: MIT
/*
 * Region boundaries of a flat view: sections merge pieces of one region
 * reached through different paths, the boundaries keep where those paths
 * start and end (visible, hidden or disabled), so a reconciler can keep host
 * mappings from spanning them (docs/reference.md §1.3, §1.4).
 */
#include <errno.h>

#include <viommu/memory.h>

#include "test.h"

static int events;

static void on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d, size_t n)
{
	events++;
}

static void expect_bounds(struct viommu_as *as, const uint64_t *want, size_t n, size_t sections)
{
	struct viommu_flatview *v = viommu_as_get_flatview(as);
	const uint64_t *b;
	size_t got = viommu_flatview_boundaries(v, &b);

	T_EQ(viommu_flatview_count(v), sections);
	T_EQ(got, n);
	for (size_t i = 0; i < n && i < got; i++)
		T_EQ_U64(b[i], want[i]);
	/* the O(log n) query agrees with the array: at, just before and just after each boundary */
	for (size_t i = 0; i < n; i++) {
		uint64_t probes[3] = { want[i], want[i] - 1, want[i] + 1 }, out;

		for (int k = 0; k < 3; k++) {
			size_t j = 0;

			if (k == 1 && want[i] == 0)
				continue;
			if (k == 2 && want[i] == UINT64_MAX)
				continue;
			while (j < n && want[j] < probes[k])
				j++;
			out = 0x5a5a;
			if (j < n) {
				T_EQ(viommu_flatview_next_boundary(v, probes[k], &out), 0);
				T_EQ_U64(out, want[j]);
			} else {
				T_EQ(viommu_flatview_next_boundary(v, probes[k], &out), -ENOENT);
				T_EQ_U64(out, 0x5a5a);
			}
		}
	}
	{
		uint64_t out = 0;
		int r = viommu_flatview_next_boundary(v, UINT64_MAX, &out);

		if (want[n - 1] == UINT64_MAX) {
			T_EQ(r, 0);
			T_EQ_U64(out, UINT64_MAX);
		} else {
			T_EQ(r, -ENOENT);
		}
		T_EQ(viommu_flatview_next_boundary(v, 0, NULL), -EINVAL);
		T_EQ(viommu_flatview_next_boundary(NULL, 0, &out), -EINVAL);
	}
	viommu_flatview_put(v);
}

int main(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0);
	struct viommu_as *as = viommu_as_new(m, "as", root);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "pc.ram", 0x80000000, (void *)0x100000000000);
	struct viommu_mr *low = viommu_mr_new_alias(m, "ram-below-4g", ram, 0, 0x80000000);
	/* a PAM window in RAM mode: an alias of the same RAM at the same offsets */
	struct viommu_mr *pam = viommu_mr_new_alias(m, "pam-ram", ram, 0xc0000, 0x40000);
	struct viommu_mr *rom = viommu_mr_new_ram(m, "bios", 0x40000, (void *)0x200000000000);
	struct viommu_memory_listener l = { .sz = sizeof(l), .diff = on_diff };

	T_EQ(viommu_memory_listener_register(m, &l), 0);
	events = 0;
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_add_subregion(root, 0, low, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0xc0000, pam, 1), 0);
	T_EQ(viommu_memory_commit(m), 0);
	T_EQ(events, 1);
	/* one merged section, but the PAM window's edges are kept */
	expect_bounds(as, (const uint64_t[]){ 0, 0xc0000, 0x100000, 0x80000000 }, 4, 1);

	/* a disabled region's edges count too; adding it alone changes no section: no event */
	T_EQ(viommu_mr_set_enabled(rom, false), 0);
	T_EQ(viommu_mr_add_subregion(root, 0xfffc0000, rom, 0), 0);
	T_EQ(events, 1);
	expect_bounds(as, (const uint64_t[]){ 0, 0xc0000, 0x100000, 0x80000000, 0xfffc0000, 0x100000000 }, 6, 1);

	/* a region reaching 2^64-1 has no end boundary */
	{
		struct viommu_mr *top = viommu_mr_new_mmio(m, "top", 0x1000, &(struct viommu_mr_ops){ .sz = sizeof(struct viommu_mr_ops) }, NULL);
		T_EQ(viommu_mr_add_subregion(root, UINT64_MAX - 0xfff, top, 0), 0);
		expect_bounds(as, (const uint64_t[]){ 0, 0xc0000, 0x100000, 0x80000000, 0xfffc0000, 0x100000000,
						      UINT64_MAX - 0xfff }, 7, 2);
		T_EQ(events, 2);
	}
	/* an empty view has none */
	T_EQ(viommu_flatview_boundaries(NULL, NULL), 0);
	viommu_memory_free(m);
	return t_done();
}
