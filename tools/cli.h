/* SPDX-License-Identifier: MIT */
/*
 * viommu CLI: each subcommand lives in its own tools/cmd_*.c and registers
 * itself with VI_CLI_COMMAND; the dispatcher in viommu.c finds them through
 * the linker section, so adding a command edits no shared table.
 *
 * Exit codes: 0 success, 1 the operation failed (or an expectation did not
 * hold), 2 usage error.
 */
#ifndef VIOMMU_CLI_H
#define VIOMMU_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vi_cli_command {
	const char *name;
	const char *args;	/* one-line synopsis of the arguments */
	const char *help;	/* one-line description */
	int (*run)(int argc, char **argv);	/* argv[0] is the command name */
};

#define VI_CLI_COMMAND(ident, ...)						\
	static const struct vi_cli_command vi_cli_cmd_##ident			\
	__attribute__((used, section("viommu_cli_cmds"), aligned(sizeof(void *)))) = { __VA_ARGS__ }

#define VI_EXIT_OK 0
#define VI_EXIT_FAIL 1
#define VI_EXIT_USAGE 2

/* Print "viommu CMD: MSG" and the command's synopsis to stderr; returns VI_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
int vi_cli_usage(const char *cmd, const char *fmt, ...);

/* Parse a number (decimal, 0x hex, optional K/M/G/T suffix). false on junk or overflow. */
bool vi_cli_parse_u64(const char *s, uint64_t *out);

/* @b bytes for people: "512 B", "256.00 KiB", "6.50 GiB"; returns @buf. */
const char *vi_cli_human(uint64_t b, char *buf, size_t n);

enum viommu_recon_report_kind;
/* What a reconciler report means, in one phrase (tools/cmd_replay.c). */
const char *vi_replay_report_text(enum viommu_recon_report_kind k);

#endif
