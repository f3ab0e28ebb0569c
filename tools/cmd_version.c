// SPDX-License-Identifier: MIT
#include <stdio.h>

#include <viommu/common.h>

#include "cli.h"

static int cmd_version(int argc, char **argv)
{
	if (argc != 1)
		return vi_cli_usage("version", "takes no arguments");
	printf("viommu %s\n", viommu_version());
	return VI_EXIT_OK;
}

VI_CLI_COMMAND(version, .name = "version", .args = "", .help = "print the library version", .run = cmd_version);
