/* SPDX-License-Identifier: MIT */
/*
 * viommu: common definitions shared by every public header.
 *
 * Conventions of the whole API (see docs/design.md):
 *  - Functions that act return 0 (or a non-negative count) on success and a
 *    negative errno on failure; errno is set to the same positive value.
 *  - Predicates return bool. Constructors return a pointer, or NULL with errno set.
 *  - Ranges are closed, [first, last], so that 2^64-1 is reachable.
 *  - The library never prints, exits or aborts on bad input. Diagnostics go
 *    through the log callback installed with viommu_set_log().
 */
#ifndef VIOMMU_COMMON_H
#define VIOMMU_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one export macro: everything else in the library has hidden visibility. */
#define VIOMMU_API __attribute__((visibility("default")))

#define VIOMMU_VERSION_MAJOR 0
#define VIOMMU_VERSION_MINOR 1

/*
 * Access permissions, the one type every layer uses (page tables, IOMMU
 * events, host backends, device models): a translation, a mapping or an
 * access is a combination of these bits. A translation with neither is a hole.
 */
#define VIOMMU_PERM_READ  0x1u
#define VIOMMU_PERM_WRITE 0x2u
#define VIOMMU_PERM_RW	  (VIOMMU_PERM_READ | VIOMMU_PERM_WRITE)

/*
 * The x86 interrupt address range: DMA writes there are interrupt requests,
 * never memory accesses (Intel VT-d spec, "Handling Requests to Interrupt
 * Address Range"; Linux reserves it as IOMMU_RESV_MSI).
 */
#define VIOMMU_X86_MSI_FIRST 0xfee00000ull
#define VIOMMU_X86_MSI_LAST  0xfeefffffull

/* The library's version as "MAJOR.MINOR.PATCH". */
VIOMMU_API const char *viommu_version(void);

enum viommu_log_level {
	VIOMMU_LOG_ERROR = 0,
	VIOMMU_LOG_WARN = 1,
	VIOMMU_LOG_INFO = 2,
	VIOMMU_LOG_DEBUG = 3,
};

/* A log sink. @msg is a complete line without the trailing newline. */
typedef void (*viommu_log_fn)(enum viommu_log_level level, const char *msg, void *ctx);

/*
 * Install the process-wide log sink (NULL: discard, the default) and the most
 * verbose level passed to it. Safe to call at any time from any thread.
 */
VIOMMU_API void viommu_set_log(viommu_log_fn fn, void *ctx, enum viommu_log_level max_level);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_COMMON_H */
