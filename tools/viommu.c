// SPDX-License-Identifier: MIT
/* viommu: command-line front end to the library. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/common.h>

#include "cli.h"
#include "util/num.h"

extern const struct vi_cli_command __start_viommu_cli_cmds[];
extern const struct vi_cli_command __stop_viommu_cli_cmds[];

#define for_each_command(c) \
	for (const struct vi_cli_command *c = __start_viommu_cli_cmds; c < __stop_viommu_cli_cmds; c++)

static const struct vi_cli_command *find_command(const char *name)
{
	for_each_command(c)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void print_help(FILE *f)
{
	fprintf(f, "usage: viommu [--help] [--version] COMMAND [ARGS...]\n\n"
		   "viommu %s: the DMA-remapping (IOMMU) stack for VMMs and userspace drivers.\n\n"
		   "Commands:\n", viommu_version());
	/* two lines per command: the arguments can be long, the table stays aligned */
	for_each_command(c)
		fprintf(f, "  %s%s%s\n      %s\n", c->name, *c->args ? " " : "", c->args, c->help);
	fprintf(f, "\nNumbers are decimal or 0x hex, with an optional K, M, G or T suffix.\n"
		   "'viommu COMMAND --help' describes one command. See viommu(1).\n");
}

int vi_cli_usage(const char *cmd, const char *fmt, ...)
{
	const struct vi_cli_command *c = cmd ? find_command(cmd) : NULL;
	va_list ap;

	fprintf(stderr, "viommu%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c)
		fprintf(stderr, "usage: viommu %s %s\n", c->name, c->args);
	else
		fprintf(stderr, "Try 'viommu --help'.\n");
	return VI_EXIT_USAGE;
}

bool vi_cli_parse_u64(const char *s, uint64_t *out)
{
	/* the library's one number parser, as scenario files use it */
	return vi_parse_u64(s, out);
}

const char *vi_cli_human(uint64_t b, char *buf, size_t n)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)b);
	else
		snprintf(buf, n, "%.2f %s", v, unit[u]);
	return buf;
}

int main(int argc, char **argv)
{
	const struct vi_cli_command *c;

	if (argc < 2)
		return print_help(stderr), VI_EXIT_USAGE;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		print_help(stdout);
		return VI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("viommu %s\n", viommu_version());
		return VI_EXIT_OK;
	}
	if (argv[1][0] == '-')
		return vi_cli_usage(NULL, "unknown option '%s'", argv[1]);
	c = find_command(argv[1]);
	if (!c)
		return vi_cli_usage(NULL, "unknown command '%s'", argv[1]);
	/* `viommu CMD --help` and `viommu CMD ARGS... --help` */
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: viommu %s %s\n%s\n", c->name, c->args, c->help);
			return VI_EXIT_OK;
		}
	return c->run(argc - 1, argv + 1);
}
