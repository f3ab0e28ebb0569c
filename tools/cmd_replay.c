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
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "replay_svg.h"
#include "scenario/scenario.h"

/* What one run prints and records while it goes (the callbacks' context). */
struct replay_out {
	bool quiet, json, verbose;
	FILE *rows;			/* the commit table, printed after the overview (NULL: none) */
	struct vi_svg *svg;		/* NULL: no picture */
	struct vi_replay_calls calls;
	int err;			/* first error of the recording (-ENOMEM) */
	/* failed expectations and checks, "FILE:LINE: what" */
	char (*fail)[sizeof(((struct vi_scn_result *)0)->first_failure)];
	size_t nfail, failcap;
	/* the progress line: on a terminal, once the run takes longer than a second */
	bool progress;
	double after;			/* seconds before the first progress line */
	const char *label;		/* "viommu" or "naive" */
	size_t nlines;
	struct timespec t0, shown;
	bool printed;
};

#define FAIL_SHOWN 10		/* failed expectations listed per run */

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress(struct replay_out *o, const struct vi_scn_commit *c)
{
	struct timespec now;
	double t;

	if (!o->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	t = since(&o->t0, &now);
	/* after the first second, ten times a second */
	if (t < o->after || (o->printed && since(&o->shown, &now) < 0.1))
		return;
	o->shown = now;
	o->printed = true;
	fprintf(stderr, "\rviommu replay: %s run, commit %" PRIu64 ", line %u of %zu, %.1f s\033[K", o->label,
		c->index, c->line, o->nlines, t);
	fflush(stderr);
}

static void progress_done(struct replay_out *o)
{
	if (o->printed)
		fputs("\r\033[K", stderr);
	o->printed = false;
}

static const char *op_name(enum viommu_host_op op)
{
	switch (op) {
	case VIOMMU_HOST_OP_MAP: return "map";
	case VIOMMU_HOST_OP_MAP_AUTO: return "map-auto";
	case VIOMMU_HOST_OP_UNMAP: return "unmap";
	case VIOMMU_HOST_OP_DIRTY_CTL: return "dirty-ctl";
	case VIOMMU_HOST_OP_DIRTY_READ: return "dirty-read";
	case VIOMMU_HOST_OP_COPY: return "copy";
	case VIOMMU_HOST_OP_ALLOW_IOVAS: return "allow-iovas";
	case VIOMMU_HOST_OP_CHANGE_PROCESS: return "change-process";
	case VIOMMU_HOST_OP_ATTACH: return "attach";
	}
	return "?";
}

/* --verbose: the host calls of one commit, under its row. */
static void print_calls(struct replay_out *o, const struct vi_scn_commit *c)
{
	char sz[32];

	for (int b = 0; b < c->nhosts; b++)
		if (o->calls.lost[b])
			fprintf(o->rows, "           backend %d: some host calls of this commit were not recorded (timeline full)\n",
				b + 1);
	for (size_t i = 0; i < o->calls.n; i++) {
		const struct viommu_host_record *r = &o->calls.v[i].rec;
		bool map = r->op == VIOMMU_HOST_OP_MAP || r->op == VIOMMU_HOST_OP_MAP_AUTO;

		fprintf(o->rows, "           ");
		if (c->nhosts > 1)
			fprintf(o->rows, "backend %d: ", o->calls.v[i].backend + 1);
		if (r->op == VIOMMU_HOST_OP_UNMAP && (r->flags & VIOMMU_HOST_UNMAP_ALL))
			fprintf(o->rows, "unmap all");
		else if (map || r->op == VIOMMU_HOST_OP_UNMAP)
			fprintf(o->rows, "%-5s [0x%" PRIx64 ", 0x%" PRIx64 "] %s", op_name(r->op), r->iova,
				r->iova + r->length - 1, vi_cli_human(r->length, sz, sizeof(sz)));
		else
			fprintf(o->rows, "%s", op_name(r->op));
		if (map)
			fprintf(o->rows, " %s host 0x%" PRIx64, r->prot & VIOMMU_PERM_WRITE ? "rw" : "ro", r->vaddr);
		if (r->result)
			fprintf(o->rows, ": %s%s", strerror(-r->result), r->injected ? " (injected)" : "");
		fputc('\n', o->rows);
	}
}

static void on_commit(void *ctx, const struct vi_scn_commit *c)
{
	struct replay_out *o = ctx;
	int rc;

	progress(o, c);
	if (o->err)
		return;
	if (o->verbose || o->svg) {
		if ((rc = vi_replay_calls_read(&o->calls, c)) || (o->svg && (rc = vi_svg_commit(o->svg, c, &o->calls)))) {
			o->err = rc;
			return;
		}
	}
	if (!o->rows)
		return;
	if (c->index == 1)
		fprintf(o->rows, "  commit   line    map  unmap  windows  mappings  reports\n");
	fprintf(o->rows, "  %6" PRIu64 " %6u %6" PRIu64 " %6" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8" PRIu64 "\n",
		c->index, c->line, c->map_ops, c->unmap_ops, c->windows, c->mappings, c->reports);
	if (o->verbose)
		print_calls(o, c);
}

const char *vi_replay_report_text(enum viommu_recon_report_kind k)
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

static void on_report(void *ctx, unsigned line, const struct viommu_recon_report *r)
{
	struct replay_out *o = ctx;
	int rc;

	if (o->svg && !o->err && (rc = vi_svg_report(o->svg, r)))
		o->err = rc;
	if (!o->rows)
		return;
	fprintf(o->rows, "  line %u: %s: [0x%" PRIx64 ", 0x%" PRIx64 "]%s%s%s%s%s\n", line,
		vi_replay_report_text(r->kind), r->first, r->last, r->region ? " region '" : "",
		r->region ? r->region : "", r->region ? "'" : "", r->kind == VIOMMU_RECON_ERR_BACKEND ? " " : "",
		r->kind == VIOMMU_RECON_ERR_BACKEND ? strerror(-r->err) : "");
}

static void on_failure(void *ctx, const char *msg)
{
	struct replay_out *o = ctx;

	/* the first few are shown; the rest are counted in the result */
	if (o->nfail == FAIL_SHOWN)
		return;
	if (o->nfail == o->failcap) {
		void *nf = realloc(o->fail, FAIL_SHOWN * sizeof(*o->fail));
		if (!nf)
			return;
		o->fail = nf;
		o->failcap = FAIL_SHOWN;
	}
	snprintf(o->fail[o->nfail++], sizeof(*o->fail), "%s", msg);
}

/* The run's failed expectations and checks: which, at which FILE:LINE, what was seen. */
static void print_failures(const struct replay_out *o, const struct vi_scn_result *r, const char *who)
{
	uint64_t n = r->expects_failed + r->checks_failed;

	if (!n)
		return;
	printf("\n%s: %" PRIu64 " of %" PRIu64 " expectations and %" PRIu64 " of %" PRIu64 " invariant checks failed\n",
	       who, r->expects_failed, r->expects, r->checks_failed, r->checks);
	for (size_t i = 0; i < o->nfail; i++)
		printf("  %s\n", o->fail[i]);
	if (n > o->nfail)
		printf("  and %" PRIu64 " more\n", n - o->nfail);
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
	printf("  host map calls      %8" PRIu64 "  (%s)\n", r->stats.map_ops, vi_cli_human(r->stats.map_bytes, a, sizeof(a)));
	printf("  host unmap calls    %8" PRIu64 "  (%s)\n", r->stats.unmap_ops,
	       vi_cli_human(r->stats.unmap_bytes, b, sizeof(b)));
	printf("  windows opened      %8" PRIu64 "  (%s of unchanged translation unmapped; expected 0)\n",
	       r->stats.windows, vi_cli_human(r->stats.window_bytes, a, sizeof(a)));
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

/* The file's opening comment (what the scenario does, in its author's words), at most 6 lines. */
static void print_description(const char *text, size_t len)
{
	size_t i = 0;

	for (int n = 0; n < 6 && i < len && text[i] == '#'; n++) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		size_t k = i + 1 + (i + 1 < j && text[i + 1] == ' ');
		if (k < j)
			printf("  %.*s\n", (int)(j - k), text + k);
		i = j + 1;
	}
}

/* The first screen: what ran, whether it held, the host calls against QEMU's policy, and why windows matter. */
static void print_overview(const struct vi_scn_result *r, const struct vi_scn_result *naive)
{
	char a[32], b[32];
	uint64_t ok = !r->expects_failed && !r->checks_failed && !r->stats.errors;

	printf("\n%" PRIu64 " commit%s on %s, policy %s: ", r->commits, r->commits == 1 ? "" : "s", r->backend,
	       r->policy ? "naive (QEMU)" : "minimal");
	if (ok)
		printf("%" PRIu64 " expectation%s and %" PRIu64 " invariant check%s held, no host errors\n", r->expects,
		       r->expects == 1 ? "" : "s", r->checks, r->checks == 1 ? "" : "s");
	else
		printf("%" PRIu64 " of %" PRIu64 " expectations and %" PRIu64 " of %" PRIu64
		       " invariant checks FAILED, %" PRIu64 " host error%s\n",
		       r->expects_failed, r->expects, r->checks_failed, r->checks, r->stats.errors,
		       r->stats.errors == 1 ? "" : "s");
	printf("\n  %-20s%10s%s\n", "", "viommu", naive ? "       naive  (QEMU's delete-then-add listener)" : "");
#define ROW(name, x) do {								\
		printf("  %-20s%10" PRIu64, name, r->x);				\
		if (naive)								\
			printf("  %10" PRIu64, naive->x);				\
		putchar('\n');								\
	} while (0)
	ROW("host map calls", stats.map_ops);
	ROW("host unmap calls", stats.unmap_ops);
	ROW("windows opened", stats.windows);
	printf("  %-20s%10s", "unchanged unmapped", vi_cli_human(r->stats.window_bytes, a, sizeof(a)));
	if (naive)
		printf("  %10s", vi_cli_human(naive->stats.window_bytes, b, sizeof(b)));
	putchar('\n');
	ROW("host errors", stats.errors);
	ROW("expectations failed", expects_failed);
#undef ROW
	printf("A window: a translation that did not change, unmapped and mapped again; a device DMA into that hole faults.\n");
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

/* One run of the scenario with its output context; 0 or the run's exit status. */
static int run_one(const char *text, size_t len, const char *file, struct vi_scn_opts *o, struct replay_out *out,
		   struct vi_scn_result *res, const char *label)
{
	char err[512];
	int rc;

	out->label = label;
	out->nlines = len && text[len - 1] != '\n';	/* lines as the interpreter counts them */
	for (size_t i = 0; i < len; i++)
		out->nlines += text[i] == '\n';
	clock_gettime(CLOCK_MONOTONIC, &out->t0);
	o->ctx = out;
	rc = vi_scn_run(text, len, file, o, res, err, sizeof(err));
	progress_done(out);
	if (rc) {
		fprintf(stderr, "viommu replay%s: %s\n", strcmp(label, "naive") ? "" : " (naive)", err);
		return rc == -EINVAL || rc == -E2BIG || rc == -EEXIST ? VI_EXIT_USAGE : VI_EXIT_FAIL;
	}
	if (out->err) {
		fprintf(stderr, "viommu replay: recording the run: %s\n", strerror(-out->err));
		return VI_EXIT_FAIL;
	}
	return 0;
}

static void out_free(struct replay_out *o)
{
	if (o->rows)
		fclose(o->rows);
	free(o->calls.v);
	free(o->fail);
}

static int cmd_replay(int argc, char **argv)
{
	struct replay_out out = { 0 }, nout = { 0 };
	struct vi_scn_opts o = { .policy = -1, .on_commit = on_commit, .on_report = on_report, .on_failure = on_failure };
	struct vi_scn_result res, naive;
	const char *file = NULL, *svg_path = NULL;
	bool compare = false, have_naive = false;
	FILE *svg_f = NULL;
	size_t len;
	char *text;
	int rc;

	for (int i = 1; i < argc; i++) {
		static const char *const with_value[] = { "--backend", "--policy", "--svg" };
		const char *val = NULL;
		int which = -1;

		/* --opt VALUE and --opt=VALUE */
		for (int k = 0; k < 3 && which < 0; k++) {
			size_t n = strlen(with_value[k]);
			if (!strncmp(argv[i], with_value[k], n) && (argv[i][n] == '=' || !argv[i][n])) {
				which = k;
				if (argv[i][n] == '=') {
					val = argv[i] + n + 1;
				} else {
					if (i + 1 == argc)
						return vi_cli_usage("replay", "%s needs a value", argv[i]);
					val = argv[++i];
				}
			}
		}
		if (which == 0) {
			if (!*val)
				return vi_cli_usage("replay", "--backend needs a value");
			o.backend = val;
		} else if (which == 1) {
			if (!strcmp(val, "minimal"))
				o.policy = 0;
			else if (!strcmp(val, "naive"))
				o.policy = 1;
			else
				return vi_cli_usage("replay", "--policy is minimal or naive, not '%s'", val);
		} else if (which == 2) {
			if (!*val)
				return vi_cli_usage("replay", "--svg needs a file");
			svg_path = val;
		} else if (!strcmp(argv[i], "--compare-naive")) {
			compare = true;
		} else if (!strcmp(argv[i], "--check")) {
			o.full_checks = true;
		} else if (!strcmp(argv[i], "--json")) {
			out.json = true;
		} else if (!strcmp(argv[i], "--quiet")) {
			out.quiet = true;
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			out.verbose = true;
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
	if (svg_path && !(svg_f = fopen(svg_path, "w"))) {
		fprintf(stderr, "viommu replay: %s: %s\n", svg_path, strerror(errno));
		free(text);
		return VI_EXIT_USAGE;
	}
	out.progress = nout.progress = isatty(STDERR_FILENO);
	out.after = nout.after = 1.0;
	{
		/* viommu(1) ENVIRONMENT: when the progress line starts (scripts and tests) */
		const char *e = getenv("VIOMMU_PROGRESS_AFTER");
		char *end;
		double v = e ? strtod(e, &end) : 0;

		if (e && *e && !*end && v >= 0)
			out.after = nout.after = v;
	}
	/* the commit table is printed after the overview: it waits in a temporary file */
	if (!out.json && !out.quiet && !(out.rows = tmpfile())) {
		fprintf(stderr, "viommu replay: no temporary file for the commit table: %s\n", strerror(errno));
		rc = VI_EXIT_FAIL;
		goto done;
	}
	if (svg_path && (!(out.svg = vi_svg_new(file)) || vi_svg_run(out.svg, "viommu (reconciler)"))) {
		rc = VI_EXIT_FAIL;
		goto done;
	}
	if ((rc = run_one(text, len, file, &o, &out, &res, "viommu")))
		goto done;
	if (svg_path && res.policy)
		vi_svg_title(out.svg, "naive (QEMU's delete-then-add listener)");	/* the file's `policy naive` */
	if (compare || (svg_path && !res.policy)) {
		struct vi_scn_opts no = o;

		no.policy = 1;
		nout.svg = svg_path && !res.policy ? out.svg : NULL;
		if (nout.svg && vi_svg_run(nout.svg, "naive (QEMU's delete-then-add listener)")) {
			rc = VI_EXIT_FAIL;
			goto done;
		}
		if ((rc = run_one(text, len, file, &no, &nout, &naive, "naive"))) {
			rc = VI_EXIT_FAIL;
			goto done;
		}
		have_naive = compare;
	}
	if (!out.json) {
		printf("viommu replay %s\n", file);
		print_description(text, len);
		print_overview(&res, have_naive ? &naive : NULL);
		print_failures(&out, &res, "this run");
		if (have_naive)
			print_failures(&nout, &naive, "the naive run");
		if (out.rows && ftell(out.rows) > 0) {
			char buf[8192];
			size_t n;

			printf("\ncommits (host calls and reports over all backends%s)\n",
			       out.verbose ? "" : "; --verbose lists each host call");
			rewind(out.rows);
			while ((n = fread(buf, 1, sizeof(buf), out.rows)) > 0)
				fwrite(buf, 1, n, stdout);
		}
		print_summary(&res);
	} else {
		print_json(file, &res, have_naive ? &naive : NULL);
	}
	if (svg_f) {
		int w = vi_svg_write(out.svg, svg_f);
		if (fclose(svg_f) || w) {
			fprintf(stderr, "viommu replay: %s: %s\n", svg_path, strerror(w ? -w : errno));
			svg_f = NULL;
			rc = VI_EXIT_FAIL;
			goto done;
		}
		svg_f = NULL;
	}
	/* viommu(1): a failed operation (an expectation, a check, a host call or a region left unmapped) exits 1 */
	rc = res.expects_failed || res.checks_failed || res.stats.errors ? VI_EXIT_FAIL : VI_EXIT_OK;
done:
	if (svg_f) {
		fclose(svg_f);
		remove(svg_path);
	}
	vi_svg_free(out.svg);
	out_free(&out);
	out_free(&nout);
	free(text);
	return rc;
}

VI_CLI_COMMAND(replay, .name = "replay",
	       .args = "FILE [--backend SPEC] [--policy minimal|naive] [--compare-naive] [--check] [--verbose] [--svg OUT] [--json] [--quiet]",
	       .help = "replay a scenario through the stack (docs/scenario.md)", .run = cmd_replay);
