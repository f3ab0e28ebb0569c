// SPDX-License-Identifier: MIT
/*
 * `viommu memory`: render QEMU memory.rst's PC memory map and show what a
 * listener is told when two RAM ranges are merged into one (A + B -> A'),
 * the change QEMU reports to VFIO as delete + delete + add.
 */
#include <inttypes.h>
#include <stdio.h>

#include <viommu/memory.h>

#include "cli.h"

static const char *kind_name(enum viommu_mr_kind k)
{
	switch (k) {
	case VIOMMU_MR_RAM: return "ram";
	case VIOMMU_MR_RAM_DEVICE: return "ram-device";
	case VIOMMU_MR_MMIO: return "mmio";
	case VIOMMU_MR_IOMMU: return "iommu";
	default: return "?";
	}
}

static void print_view(struct viommu_as *as)
{
	struct viommu_flatview *v = viommu_as_get_flatview(as);

	printf("flat view of %s:\n", viommu_as_name(as));
	for (size_t i = 0; i < viommu_flatview_count(v); i++) {
		const struct viommu_mr_section *s = viommu_flatview_section(v, i);

		printf("  [0x%016" PRIx64 "-0x%016" PRIx64 "] %-10s %-8s +0x%" PRIx64 "%s\n", s->first, s->last,
		       kind_name(s->kind), viommu_mr_name(s->mr), s->offset, s->readonly ? " ro" : "");
	}
	viommu_flatview_put(v);
}

static void on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		    size_t n)
{
	(void)l;
	(void)as;
	for (size_t i = 0; i < n; i++)
		printf("  [0x%" PRIx64 "-0x%" PRIx64 "] %s@0x%" PRIx64 " -> %s@0x%" PRIx64 ": %s\n", d[i].first,
		       d[i].last, d[i].has_before ? viommu_mr_name(d[i].before.mr) : "-", d[i].before.offset,
		       d[i].has_after ? viommu_mr_name(d[i].after.mr) : "-", d[i].after.offset,
		       d[i].changed ? "changed" : "unchanged");
}

static int cmd_memory(int argc, char **argv)
{
	static char host[0x2000];
	/* Fake host addresses for the PC map: rendered, never dereferenced. */
	void *ram_host = (void *)(uintptr_t)0x7f0000000000, *vram_host = (void *)(uintptr_t)0x7e0000000000;
	struct viommu_memory *m;
	struct viommu_mr *sys, *ram, *pci, *vram, *area, *a, *b, *a2;
	struct viommu_as *as;
	struct viommu_memory_listener l = { .sz = sizeof(l), .diff = on_diff };
	int err = 0;

	(void)argv;
	if (argc != 1)
		return vi_cli_usage("memory", "takes no arguments");
	m = viommu_memory_new();
	if (!m)
		return VI_EXIT_FAIL;
	sys = viommu_mr_new_container(m, "system", UINT64_C(1) << 48);
	ram = viommu_mr_new_ram(m, "ram", UINT64_C(0x100000000), ram_host);
	pci = viommu_mr_new_container(m, "pci", UINT64_C(0x100000000));
	vram = viommu_mr_new_ram(m, "vram", 0x1000000, vram_host);
	area = viommu_mr_new_container(m, "vga-area", 0x20000);
	as = viommu_as_new(m, "system", sys);
	err |= viommu_memory_begin(m);
	err |= viommu_mr_add_subregion(sys, 0, viommu_mr_new_alias(m, "lomem", ram, 0, 0xe0000000), 0);
	err |= viommu_mr_add_subregion(sys, UINT64_C(0x100000000),
				       viommu_mr_new_alias(m, "himem", ram, 0xe0000000, 0x20000000), 0);
	err |= viommu_mr_add_subregion(sys, 0xa0000, viommu_mr_new_alias(m, "vga-window", pci, 0xa0000, 0x20000), 1);
	err |= viommu_mr_add_subregion(sys, 0xe0000000,
				       viommu_mr_new_alias(m, "pci-hole", pci, 0xe0000000, 0x20000000), 0);
	err |= viommu_mr_add_subregion(pci, 0xa0000, area, 0);
	err |= viommu_mr_add_subregion(area, 0, viommu_mr_new_alias(m, "bank0", vram, 0x10000, 0x8000), 0);
	err |= viommu_mr_add_subregion(area, 0x8000, viommu_mr_new_alias(m, "bank1", vram, 0x20000, 0x8000), 0);
	err |= viommu_mr_add_subregion(pci, 0xe1000000, vram, 0);
	err |= viommu_mr_add_subregion(pci, 0xe2000000, viommu_mr_new_mmio(m, "vga-mmio", 0x10000, NULL, NULL), 0);
	err |= viommu_memory_commit(m);
	if (err || !as) {
		fprintf(stderr, "viommu memory: building the map failed\n");
		viommu_memory_free(m);
		return VI_EXIT_FAIL;
	}
	printf("QEMU memory.rst example memory map\n");
	print_view(as);

	/* A + B -> A' on a fresh machine, watched by a diff listener. */
	viommu_memory_free(m);
	m = viommu_memory_new();
	sys = viommu_mr_new_container(m, "system", 0);
	as = viommu_as_new(m, "dma", sys);
	a = viommu_mr_new_ram(m, "A", 0x1000, host);
	b = viommu_mr_new_ram(m, "B", 0x1000, host + 0x1000);
	a2 = viommu_mr_new_ram(m, "A'", 0x2000, host);
	err |= viommu_mr_add_subregion(sys, 0, a, 0);
	err |= viommu_mr_add_subregion(sys, 0x1000, b, 0);
	printf("\nA and B: two RAM regions over contiguous host memory\n");
	print_view(as);
	printf("replayed to a late listener:\n");
	err |= viommu_memory_listener_register(m, &l);
	err |= viommu_memory_begin(m);
	err |= viommu_mr_del_subregion(sys, a);
	err |= viommu_mr_del_subregion(sys, b);
	err |= viommu_mr_add_subregion(sys, 0, a2, 0);
	printf("replaced by A' in one transaction; the listener is told:\n");
	err |= viommu_memory_commit(m);
	print_view(as);
	viommu_memory_free(m);
	return err ? VI_EXIT_FAIL : VI_EXIT_OK;
}

VI_CLI_COMMAND(memory, .name = "memory", .args = "",
	       .help = "render QEMU's example memory map and the diff of merging two RAM ranges", .run = cmd_memory);
