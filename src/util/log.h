/* SPDX-License-Identifier: MIT */
#ifndef VI_UTIL_LOG_H
#define VI_UTIL_LOG_H

#include <pthread.h>
#include <viommu/common.h>

__attribute__((format(printf, 2, 3)))
void vi_log(enum viommu_log_level level, const char *fmt, ...);

#define vi_err(...)   vi_log(VIOMMU_LOG_ERROR, __VA_ARGS__)
#define vi_warn(...)  vi_log(VIOMMU_LOG_WARN, __VA_ARGS__)
#define vi_info(...)  vi_log(VIOMMU_LOG_INFO, __VA_ARGS__)
#define vi_debug(...) vi_log(VIOMMU_LOG_DEBUG, __VA_ARGS__)

#endif
