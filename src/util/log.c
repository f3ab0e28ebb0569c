// SPDX-License-Identifier: MIT
/* The library's only output channel: a user-installed callback. */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

struct log_sink {
	viommu_log_fn fn;
	void *ctx;
	enum viommu_log_level max;
};

/* Swapped as a whole under the lock; readers take a copy. */
static struct log_sink sink;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

VIOMMU_API void viommu_set_log(viommu_log_fn fn, void *ctx, enum viommu_log_level max_level)
{
	pthread_mutex_lock(&sink_lock);
	sink.fn = fn;
	sink.ctx = ctx;
	sink.max = max_level;
	pthread_mutex_unlock(&sink_lock);
}

void vi_log(enum viommu_log_level level, const char *fmt, ...)
{
	struct log_sink s;
	char line[512];
	va_list ap;

	pthread_mutex_lock(&sink_lock);
	s = sink;
	pthread_mutex_unlock(&sink_lock);
	if (!s.fn || level > s.max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s.fn(level, line, s.ctx);
}

VIOMMU_API const char *viommu_version(void)
{
	return VIOMMU_VERSION_STRING;
}
