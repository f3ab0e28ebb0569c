// SPDX-License-Identifier: MIT
/*
 * Range arithmetic from the command line: how one invalidation range is
 * lowered for each kind of consumer (docs/reference.md §1.2, §6.1, §6.2).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <viommu/range.h>

#include "cli.h"

/* Parse "--name VALUE" options after the positional arguments. */
static int opt_u64(const char *cmd, int argc, char **argv, int *i, const char *name, uint64_t *out)
{
	if (strcmp(argv[*i], name))
		return 0;
	if (*i + 1 >= argc || !vi_cli_parse_u64(argv[*i + 1], out))
		return -vi_cli_usage(cmd, "%s needs a number", name);
	*i += 1;
	return 1;
}

static int parse_positional(const char *cmd, char **argv, int n, uint64_t *vals, const char *const *names)
{
	for (int k = 0; k < n; k++)
		if (!vi_cli_parse_u64(argv[k + 1], &vals[k]))
			return vi_cli_usage(cmd, "bad %s '%s'", names[k], argv[k + 1]);
	return 0;
}

static void print_block(uint64_t addr, unsigned order)
{
	uint64_t last = addr + (order >= 64 ? UINT64_MAX : (UINT64_C(1) << order) - 1);

	printf("  [0x%016" PRIx64 ", 0x%016" PRIx64 "]  2^%u\n", addr, last, order);
}

static int cmd_split(int argc, char **argv)
{
	static const char *const names[] = { "FIRST", "LAST" };
	uint64_t v[2], max_order = 64, width = 64;
	struct viommu_pow2_iter it;
	uint64_t n = 0;
	int rc;

	if (argc < 3)
		return vi_cli_usage("split", "needs FIRST and LAST");
	if ((rc = parse_positional("split", argv, 2, v, names)))
		return rc;
	for (int i = 3; i < argc; i++) {
		int r = opt_u64("split", argc, argv, &i, "--max-order", &max_order);
		if (!r)
			r = opt_u64("split", argc, argv, &i, "--width", &width);
		if (r < 0)
			return -r;
		if (!r)
			return vi_cli_usage("split", "unknown option '%s'", argv[i]);
	}
	rc = viommu_pow2_start(&it, v[0], v[1], max_order > 64 ? 65 : (unsigned)max_order,
			       width > 64 ? 65 : (unsigned)width);
	if (rc)
		return vi_cli_usage("split", "%s", rc == -ERANGE ? "LAST is beyond the address width"
								  : "need FIRST <= LAST, --max-order <= 64, 1 <= --width <= 64");
	printf("minimal power-of-two cover of [0x%" PRIx64 ", 0x%" PRIx64 "]:\n", v[0], v[1]);
	while (viommu_pow2_next(&it)) {
		print_block(it.addr, it.order);
		if (++n == 1000) {
			printf("  ... (stopping after 1000 blocks)\n");
			break;
		}
	}
	printf("%" PRIu64 " block%s\n", n, n == 1 ? "" : "s");
	return VI_EXIT_OK;
}

static int cmd_psi(int argc, char **argv)
{
	static const char *const names[] = { "FIRST", "LAST" };
	uint64_t v[2], mamv = 18, addr, first, last;
	unsigned am;
	int rc;

	if (argc < 3)
		return vi_cli_usage("psi", "needs FIRST and LAST");
	if ((rc = parse_positional("psi", argv, 2, v, names)))
		return rc;
	for (int i = 3; i < argc; i++) {
		int r = opt_u64("psi", argc, argv, &i, "--mamv", &mamv);
		if (r < 0)
			return -r;
		if (!r)
			return vi_cli_usage("psi", "unknown option '%s'", argv[i]);
	}
	rc = viommu_vtd_psi_encode(v[0], v[1], mamv > 64 ? 64 : (unsigned)mamv, &addr, &am);
	if (rc == -EINVAL)
		return vi_cli_usage("psi", "need FIRST <= LAST");
	if (rc == -ERANGE) {
		printf("needs AM above MAMV %" PRIu64 ": use a domain-selective invalidation\n", mamv);
		return VI_EXIT_OK;
	}
	viommu_vtd_psi_decode(addr, am, 64, &first, &last);
	printf("page-selective invalidation: ADDR 0x%" PRIx64 " AM %u covers [0x%" PRIx64 ", 0x%" PRIx64 "]\n",
	       addr, am, first, last);
	return VI_EXIT_OK;
}

static int cmd_devtlb(int argc, char **argv)
{
	static const char *const names[] = { "FIRST", "LAST" };
	uint64_t v[2], addr, first, last;
	bool s;
	int rc;

	if (argc != 3)
		return vi_cli_usage("devtlb", "needs FIRST and LAST");
	if ((rc = parse_positional("devtlb", argv, 2, v, names)))
		return rc;
	if (viommu_vtd_devtlb_encode(v[0], v[1], &addr, &s))
		return vi_cli_usage("devtlb", "[FIRST, LAST] must be one naturally aligned block of at least 4K");
	viommu_vtd_devtlb_decode(addr, s, &first, &last);
	printf("device-TLB invalidation: ADDR 0x%" PRIx64 " S %d covers [0x%" PRIx64 ", 0x%" PRIx64 "]\n",
	       addr, s, first, last);
	return VI_EXIT_OK;
}

static int cmd_tlbi(int argc, char **argv)
{
	static const char *const names[] = { "IOVA", "PAGES" };
	uint64_t v[2], granule = 4096, ttl = 0, first, last;
	struct viommu_smmu_tlbi cmds[64];
	unsigned gs;
	int rc, n;

	if (argc < 3)
		return vi_cli_usage("tlbi", "needs IOVA and PAGES");
	if ((rc = parse_positional("tlbi", argv, 2, v, names)))
		return rc;
	for (int i = 3; i < argc; i++) {
		int r = opt_u64("tlbi", argc, argv, &i, "--granule", &granule);
		if (!r)
			r = opt_u64("tlbi", argc, argv, &i, "--ttl", &ttl);
		if (r < 0)
			return -r;
		if (!r)
			return vi_cli_usage("tlbi", "unknown option '%s'", argv[i]);
	}
	gs = granule == 4096 ? 12 : granule == 16384 ? 14 : granule == 65536 ? 16 : 0;
	if (!gs || ttl > 3)
		return vi_cli_usage("tlbi", "--granule is 4K, 16K or 64K; --ttl is 0..3");
	n = viommu_smmu_tlbi_encode(v[0], v[1], gs, (unsigned)ttl, cmds, 64);
	if (n < 0)
		return vi_cli_usage("tlbi", "%s", n == -ERANGE ? "the range passes 2^64"
							   : "PAGES must be >= 1 and IOVA granule aligned");
	printf("SMMUv3 range invalidation of %" PRIu64 " granules at 0x%" PRIx64 ": %d command%s\n",
	       v[1], v[0], n, n == 1 ? "" : "s");
	for (int i = 0; i < n && i < 64; i++) {
		viommu_smmu_tlbi_decode(&cmds[i], &first, &last);
		printf("  ADDR 0x%016" PRIx64 " TG %u SCALE %2u NUM %2u TTL %u  [0x%" PRIx64 ", 0x%" PRIx64 "]\n",
		       cmds[i].addr, cmds[i].tg, cmds[i].scale, cmds[i].num, cmds[i].ttl, first,
		       cmds[i].tg ? last : first + granule - 1);
	}
	if (n > 64)
		printf("  ... (%d more)\n", n - 64);
	return VI_EXIT_OK;
}

VI_CLI_COMMAND(split, .name = "split", .args = "FIRST LAST [--max-order N] [--width N]",
	       .help = "minimal naturally aligned power-of-two cover", .run = cmd_split);
VI_CLI_COMMAND(psi, .name = "psi", .args = "FIRST LAST [--mamv N]",
	       .help = "VT-d page-selective invalidation covering a range", .run = cmd_psi);
VI_CLI_COMMAND(devtlb, .name = "devtlb", .args = "FIRST LAST",
	       .help = "VT-d device-TLB invalidation address encoding", .run = cmd_devtlb);
VI_CLI_COMMAND(tlbi, .name = "tlbi", .args = "IOVA PAGES [--granule 4K] [--ttl N]",
	       .help = "SMMUv3 range invalidation commands", .run = cmd_tlbi);
