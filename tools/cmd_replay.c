// SPDX-License-Identifier: MIT
/*
 * `viommu replay`: the main job. Runs a scenario (docs/scenario.md) through
 * the memory model, the reconciler and a host backend, and reports what the
 * host saw; with --compare-naive, the same scenario under QEMU's
 * delete-then-add policy beside it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "scenario/scenario.h"

struct replay_out {
	bool quiet, json;
};

static const char *human(uint64_t b, char *buf, size_t n)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%" PRIu64 " B", b);
	else
		snprintf(buf, n, "%.2f %s", v, unit[u]);
	return buf;
}

static void print_commit(void *ctx, const struct vi_scn_commit *c)
{
	struct replay_out *o = ctx;

	if (o->quiet || o->json)
		return;
	if (c->index == 1)
		printf("  commit   line    map  unmap  windows  mappings  reports\n");
	printf("  %6" PRIu64 " %6u %6" PRIu64 " %6" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8" PRIu64 "\n", c->index, c->line,
	       c->map_ops, c->unmap_ops, c->windows, c->mappings, c->reports);
}

static const char *report_text(enum viommu_recon_report_kind k)
{
	switch (k) {
	case VIOMMU_RECON_SKIP_UNALIGNED_DEVICE: return "skipped RAM device: not aligned to the IOMMU page (no P2P there)";
	case VIOMMU_RECON_SKIP_RESERVED_DEVICE: return "skipped RAM device: inside a reserved IOVA window";
	case VIOMMU_RECON_ERR_UNALIGNED_RAM: return "ERROR RAM not aligned to the IOMMU page: not mapped";
	case VIOMMU_RECON_ERR_RESERVED_RAM: return "ERROR RAM inside a reserved IOVA window: not mapped";
	case VIOMMU_RECON_ERR_BACKEND: return "ERROR host call failed";
	case VIOMMU_RECON_SKIP_NOT_RAM: return "skipped IOMMU translation onto memory that is not RAM";
	}
	return "?";
}

static void print_report(void *ctx, unsigned line, const struct viommu_recon_report *r)
{
	struct replay_out *o = ctx;

	if (o->json)
		return;
	printf("  line %u: %s: [0x%" PRIx64 ", 0x%" PRIx64 "]%s%s%s%s%s\n", line, report_text(r->kind), r->first,
	       r->last, r->region ? " region '" : "", r->region ? r->region : "", r->region ? "'" : "",
	       r->kind == VIOMMU_RECON_ERR_BACKEND ? " " : "",
	       r->kind == VIOMMU_RECON_ERR_BACKEND ? strerror(-r->err) : "");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			if (cap > (64u << 20)) {
				errno = EFBIG;
				break;
			}
			nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0) {
			if (ferror(f))
				break;
			fclose(f);
			*len = n;
			return buf;
		}
	}
	fclose(f);
	free(buf);
	return NULL;
}

static void print_summary(const struct vi_scn_result *r)
{
	char a[32], b[32];

	printf("\nsummary\n");
	printf("  commits             %8" PRIu64 "\n", r->commits);
	printf("  host map calls      %8" PRIu64 "  (%s)\n", r->stats.map_ops, human(r->stats.map_bytes, a, sizeof(a)));
	printf("  host unmap calls    %8" PRIu64 "  (%s)\n", r->stats.unmap_ops, human(r->stats.unmap_bytes, b, sizeof(b)));
	printf("  windows opened      %8" PRIu64 "  (%s of unchanged translation unmapped; expected 0)\n",
	       r->stats.windows, human(r->stats.window_bytes, a, sizeof(a)));
	if (r->budget_total != UINT64_MAX)
		printf("  mapping budget      %8" PRIu64 "  now, %" PRIu64 " at most, of %" PRIu64 "\n",
		       r->stats.mappings, r->max_mappings, r->budget_total);
	else
		printf("  host mappings       %8" PRIu64 "  now, %" PRIu64 " at most (no budget)\n", r->stats.mappings,
		       r->max_mappings);
	printf("  reports             %8" PRIu64 "  skipped, %" PRIu64 " errors\n", r->stats.skipped, r->stats.errors);
	printf("  invariant checks    %8" PRIu64 "  passed, %" PRIu64 " failed\n", r->checks - r->checks_failed,
	       r->checks_failed);
	printf("  expectations        %8" PRIu64 "  passed, %" PRIu64 " failed\n", r->expects - r->expects_failed,
	       r->expects_failed);
	printf("  time                %8.3f  ms\n", r->seconds * 1e3);
	if (r->first_failure[0])
		printf("  first failure: %s\n", r->first_failure);
}

static void print_json(const char *file, const struct vi_scn_result *r, const struct vi_scn_result *naive)
{
	const struct vi_scn_result *runs[2] = { r, naive };

	printf("{\"file\": \"%s\"", file);
	for (int i = 0; i < 2; i++) {
		const struct vi_scn_result *x = runs[i];
		if (!x)
			continue;
		printf(", \"%s\": {\"backend\": \"%s\", \"commits\": %" PRIu64 ", \"map_ops\": %" PRIu64
		       ", \"unmap_ops\": %" PRIu64 ", \"map_bytes\": %" PRIu64 ", \"unmap_bytes\": %" PRIu64
		       ", \"windows\": %" PRIu64 ", \"window_bytes\": %" PRIu64 ", \"mappings\": %" PRIu64
		       ", \"max_mappings\": %" PRIu64 ", \"skipped\": %" PRIu64 ", \"errors\": %" PRIu64
		       ", \"checks\": %" PRIu64 ", \"checks_failed\": %" PRIu64 ", \"expects\": %" PRIu64
		       ", \"expects_failed\": %" PRIu64 ", \"seconds\": %.6f}",
		       i ? "naive" : "result", x->backend, x->commits, x->stats.map_ops, x->stats.unmap_ops,
		       x->stats.map_bytes, x->stats.unmap_bytes, x->stats.windows, x->stats.window_bytes,
		       x->stats.mappings, x->max_mappings, x->stats.skipped, x->stats.errors, x->checks,
		       x->checks_failed, x->expects, x->expects_failed, x->seconds);
	}
	printf("}\n");
}

static int cmd_replay(int argc, char **argv)
{
	struct replay_out out = { 0 };
	struct vi_scn_opts o = { .policy = -1, .on_commit = print_commit, .on_report = print_report, .ctx = &out };
	struct vi_scn_result res, naive;
	const char *file = NULL;
	bool compare = false;
	char err[512];
	size_t len;
	char *text;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *val = NULL;
		bool backend = false;

		/* --opt VALUE and --opt=VALUE */
		if (!strncmp(argv[i], "--backend", 9) || !strncmp(argv[i], "--policy", 8)) {
			const char *rest = argv[i] + (argv[i][2] == 'b' ? 9 : 8);

			backend = argv[i][2] == 'b';
			if (*rest == '=') {
				val = rest + 1;
			} else if (!*rest) {
				if (i + 1 == argc)
					return vi_cli_usage("replay", "%s needs a value", argv[i]);
				val = argv[++i];
			}
		}
		if (val && backend) {
			if (!*val)
				return vi_cli_usage("replay", "--backend needs a value");
			o.backend = val;
		} else if (val) {
			if (!strcmp(val, "minimal"))
				o.policy = 0;
			else if (!strcmp(val, "naive"))
				o.policy = 1;
			else
				return vi_cli_usage("replay", "--policy is minimal or naive, not '%s'", val);
		} else if (!strcmp(argv[i], "--compare-naive")) {
			compare = true;
		} else if (!strcmp(argv[i], "--check")) {
			o.full_checks = true;
		} else if (!strcmp(argv[i], "--json")) {
			out.json = true;
		} else if (!strcmp(argv[i], "--quiet")) {
			out.quiet = true;
		} else if (argv[i][0] == '-' || file) {
			return vi_cli_usage("replay", "unexpected '%s'", argv[i]);
		} else {
			file = argv[i];
		}
	}
	if (!file)
		return vi_cli_usage("replay", "needs a scenario FILE");
	text = read_file(file, &len);
	if (!text) {
		/* a FILE that cannot be read is a usage error, like a malformed one */
		fprintf(stderr, "viommu replay: %s: %s\n", file, strerror(errno));
		return VI_EXIT_USAGE;
	}
	if (!out.json)
		printf("viommu replay %s\n", file);
	rc = vi_scn_run(text, len, file, &o, &res, err, sizeof(err));
	if (rc) {
		free(text);
		fprintf(stderr, "viommu replay: %s\n", err);
		return rc == -EINVAL || rc == -E2BIG || rc == -EEXIST ? VI_EXIT_USAGE : VI_EXIT_FAIL;
	}
	if (!out.json) {
		printf("  backend %s, policy %s\n", res.backend, res.policy ? "naive (QEMU)" : "minimal");
		print_summary(&res);
	}
	if (compare) {
		struct replay_out quiet = { .quiet = true, .json = true };
		struct vi_scn_opts no = o;
		char a[32], b[32];
		no.policy = 1;
		no.ctx = &quiet;
		rc = vi_scn_run(text, len, file, &no, &naive, err, sizeof(err));
		if (rc) {
			free(text);
			fprintf(stderr, "viommu replay (naive): %s\n", err);
			return VI_EXIT_FAIL;
		}
		if (!out.json) {
			printf("\ncompared with QEMU's delete-then-add listener (same scenario, same backend)\n");
			printf("                          viommu        naive\n");
			printf("  host map calls      %10" PRIu64 "   %10" PRIu64 "\n", res.stats.map_ops, naive.stats.map_ops);
			printf("  host unmap calls    %10" PRIu64 "   %10" PRIu64 "\n", res.stats.unmap_ops, naive.stats.unmap_ops);
			printf("  windows opened      %10" PRIu64 "   %10" PRIu64 "\n", res.stats.windows, naive.stats.windows);
			printf("  unchanged unmapped  %10s   %10s\n", human(res.stats.window_bytes, a, sizeof(a)),
			       human(naive.stats.window_bytes, b, sizeof(b)));
			printf("  host errors         %10" PRIu64 "   %10" PRIu64 "\n", res.stats.errors, naive.stats.errors);
		}
	}
	if (out.json)
		print_json(file, &res, compare ? &naive : NULL);
	free(text);
	/* viommu(1): a failed operation (an expectation, a check, a host call or a region left unmapped) exits 1 */
	return res.expects_failed || res.checks_failed || res.stats.errors ? VI_EXIT_FAIL : VI_EXIT_OK;
}

VI_CLI_COMMAND(replay, .name = "replay",
	       .args = "FILE [--backend SPEC] [--policy minimal|naive] [--compare-naive] [--check] [--json] [--quiet]",
	       .help = "replay a scenario through the stack (docs/scenario.md)", .run = cmd_replay);
