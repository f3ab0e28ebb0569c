// SPDX-License-Identifier: MIT
/* The log sink: nothing is printed by default; the callback sees whole lines
 * at or below its level; it can be replaced and removed. */
#include <viommu/common.h>

#include "test.h"
#include "util/log.h"

static char last[256];
static int calls;
static enum viommu_log_level last_level;

static void sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	T_EQ((long)(intptr_t)ctx, 42);
	snprintf(last, sizeof(last), "%s", msg);
	last_level = level;
	calls++;
}

int main(void)
{
	vi_warn("dropped %d", 1);		/* no sink: nothing happens */
	T_EQ(calls, 0);
	viommu_set_log(sink, (void *)(intptr_t)42, VIOMMU_LOG_INFO);
	vi_info("mapped [0x%x, 0x%x]", 0x1000, 0x1fff);
	T_EQ(calls, 1);
	T_STREQ(last, "mapped [0x1000, 0x1fff]");
	T_EQ(last_level, VIOMMU_LOG_INFO);
	vi_debug("too verbose");
	T_EQ(calls, 1);
	vi_err("error %s", "kept");
	T_EQ(calls, 2);
	T_STREQ(last, "error kept");
	viommu_set_log(NULL, NULL, VIOMMU_LOG_DEBUG);
	vi_err("gone");
	T_EQ(calls, 2);
	T_OK(viommu_version()[0] == '0' + VIOMMU_VERSION_MAJOR);
	return t_done();
}
