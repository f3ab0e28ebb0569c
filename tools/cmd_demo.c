// SPDX-License-Identifier: MIT
/*
 * `viommu demo`: what one guest invalidation costs each kind of consumer.
 * It shows the arithmetic of docs/reference.md §1.2 with the library's splitters.
 */
#include <inttypes.h>
#include <stdio.h>

#include <viommu/range.h>

#include "cli.h"

static uint64_t show_pow2(uint64_t first, uint64_t last, unsigned width, bool list)
{
	struct viommu_pow2_iter it;
	uint64_t n = 0;

	viommu_pow2_for_each(&it, first, last, 64, width) {
		if (list)
			printf("      [0x%09" PRIx64 ", 0x%09" PRIx64 "]  %" PRIu64 " KiB\n", it.addr,
			       it.addr + ((UINT64_C(1) << it.order) - 1), (UINT64_C(1) << it.order) >> 10);
		n++;
	}
	return n;
}

static int cmd_demo(int argc, char **argv)
{
	const uint64_t first = 0x1000, last = 0x2fffff;
	const uint64_t win_first = 0xfee00000, win_last = 0xfeefffff, top = (UINT64_C(1) << 48) - 1;
	struct viommu_smmu_tlbi cmds[8];
	uint64_t addr, c_first, c_last, below, above;
	unsigned am, order;
	bool s;
	int n;

	if (argc != 1)
		return vi_cli_usage("demo", "takes no arguments");
	printf("viommu %s: one guest invalidation, lowered for each consumer\n\n", viommu_version());
	printf("The guest invalidates IOVA [0x%" PRIx64 ", 0x%" PRIx64 "] (%" PRIu64 " KiB).\n\n", first, last,
	       (last - first + 1) >> 10);

	printf("  vhost-style device IOTLB (takes any range):   1 event\n");
	printf("  VFIO (needs naturally aligned powers of two): %" PRIu64 " pieces, the minimum:\n",
	       show_pow2(first, last, 64, false));
	show_pow2(first, last, 64, true);

	viommu_vtd_psi_encode(first, last, 18, &addr, &am);
	viommu_vtd_psi_decode(addr, am, 18, &c_first, &c_last);
	printf("  VT-d page-selective descriptor: ADDR 0x%" PRIx64 " AM %u, covers [0x%" PRIx64 ", 0x%" PRIx64
	       "] (%" PRIu64 " KiB more than asked)\n", addr, am, c_first, c_last,
	       ((c_last - c_first) - (last - first)) >> 10);

	viommu_range_aligned_cover(first, last, 12, &c_first, &order);
	viommu_vtd_devtlb_encode(c_first, c_first + ((UINT64_C(1) << order) - 1), &addr, &s);
	printf("  VT-d device-TLB descriptor:     ADDR 0x%" PRIx64 " S %d (one aligned block of 2^%u bytes)\n",
	       addr, s, order);

	n = viommu_smmu_tlbi_encode(first, (last - first + 1) >> 12, 12, 3, cmds, 8);
	printf("  SMMUv3 range TLBI (4K granule, leaf level 3): %d commands\n", n);
	for (int i = 0; i < n && i < 8; i++) {
		viommu_smmu_tlbi_decode(&cmds[i], &c_first, &c_last);
		printf("      SCALE %2u NUM %2u  [0x%09" PRIx64 ", 0x%09" PRIx64 "]\n", cmds[i].scale, cmds[i].num,
		       c_first, c_last);
	}

	below = show_pow2(0, win_first - 1, 48, false);
	above = show_pow2(win_last + 1, top, 48, false);
	printf("\nA global invalidation of a 48-bit x86 DMA space, with the interrupt window\n"
	       "[0x%" PRIx64 ", 0x%" PRIx64 "] never remapped (Intel VT-d spec, interrupt address range;\n"
	       "QEMU's hw/i386/intel_iommu.c and system/dma-helpers.c; docs/reference.md §1.2, §5):\n", win_first, win_last);
	printf("  QEMU today: two notifiers, %" PRIu64 " + %" PRIu64 " = %" PRIu64 " power-of-two UNMAPs\n", below,
	       above, below + above);
	printf("  viommu:     2 ranges to a listener that takes arbitrary ranges; the minimal\n"
	       "              %" PRIu64 " pieces only for a listener that needs powers of two\n", below + above);
	printf("\nTry: viommu split FIRST LAST | viommu psi FIRST LAST | viommu tlbi IOVA PAGES\n");
	return VI_EXIT_OK;
}

VI_CLI_COMMAND(demo, .name = "demo", .args = "",
	       .help = "show how one invalidation is lowered for each consumer", .run = cmd_demo);
