/* SPDX-License-Identifier: MIT */
/*
 * The scenario interpreter: runs a scenario file (docs/scenario.md) through
 * the memory model, the reconciler and one or more host backends. A tool,
 * not part of libviommu: the static helper library of `viommu replay`, the
 * tests, the fuzz target and the benchmark. The file format is the
 * interface, not these functions.
 *
 * Hostile input: every error is a message "FILE:LINE: reason" and an error
 * return; nothing is printed; loops and sizes are bounded (VI_SCN_MAX_*).
 */
#ifndef VI_SCENARIO_H
#define VI_SCENARIO_H

#include <stdio.h>

#include <viommu/host.h>
#include <viommu/reconcile.h>

#define VI_SCN_MAX_REGIONS 100000
#define VI_SCN_MAX_BACKENDS 8
#define VI_SCN_MAX_STEPS 10000000ull	/* lines executed, repeats included */
#define VI_SCN_MAX_DEPTH 8		/* nested repeat blocks */
#define VI_SCN_MAX_LINE 1024
#define VI_SCN_SPEC_MAX 256		/* a backend spec (viommu_host_open_spec) */
#define VI_SCN_MAX_EXTENTS (1ull << 22)	/* host mappings the regions may imply */

/* One commit as the replay report shows it (deltas over the commit, all backends). */
struct vi_scn_commit {
	uint64_t index;			/* 1 for the first commit */
	unsigned line;			/* the line that ended it */
	uint64_t map_ops, unmap_ops, windows, window_bytes, reports;
	uint64_t mappings;		/* held now by the first backend */
	/* The run's backends, the first one first: valid during the callback, to read (a simulator's timeline). */
	struct viommu_host *const *hosts;
	int nhosts;
};

struct vi_scn_opts {
	/* Backend of the run ("sim:type1v2", "sim:type1v1", "sim:iommufd",
	 * "vfio:GROUP", "iommufd[:CDEV]"); NULL: the file's `backend` line, or
	 * sim:type1v2. */
	const char *backend;
	/* Policy override (-1: the file's `policy` line, or minimal). */
	int policy;
	/* Called after each commit that changed the view (may be NULL). */
	void (*on_commit)(void *ctx, const struct vi_scn_commit *c);
	/* Lines executed at most (0: VI_SCN_MAX_STEPS). */
	uint64_t max_steps;
	/* Host mappings the file's regions may imply at its granule (0: VI_SCN_MAX_EXTENTS). */
	uint64_t max_extents;
	/*
	 * Check all of every simulated backend after every commit (O(n) each:
	 * the run is quadratic); false: only where the commit changed
	 * (O(change)), and all of it at `check` lines and at the end.
	 */
	bool full_checks;
	/* Refuse real backends (tests and fuzzing stay hermetic). */
	bool sim_only;
	/* Called for each reconciler report (may be NULL). */
	void (*on_report)(void *ctx, unsigned line, const struct viommu_recon_report *r);
	/* Called for each failed expectation and check with "FILE:LINE: what" (may be NULL). */
	void (*on_failure)(void *ctx, const char *msg);
	void *ctx;
	/*
	 * While it runs, vi_scn_run owns the process's library log sink
	 * (viommu_set_log): it is this (NULL: none), taken over only while a
	 * backend is opened, to put the library's reason into the error.
	 */
	viommu_log_fn log;
	void *log_ctx;
	enum viommu_log_level log_level;
};

struct vi_scn_result {
	uint64_t commits;
	uint64_t lines;			/* lines executed */
	uint64_t checks, checks_failed;	/* `check` lines, checks after commits and at the end */
	uint64_t checks_mismatch;	/* failed checks where the host differs from the record (-EIO) */
	uint64_t expects, expects_failed;
	struct viommu_recon_stats stats;	/* all backends */
	uint64_t budget_total;		/* first backend's mapping limit (UINT64_MAX: none) */
	uint64_t max_mappings;		/* the most the first backend held */
	char backend[64];		/* the first backend's spec */
	int policy;
	double seconds;			/* time in the engine, backends included */
	char first_failure[256];	/* "FILE:LINE: ..." of the first failed expect/check */
};

/*
 * Run @len bytes of scenario text named @name. Returns 0 when the scenario
 * ran to its end (expectations may still have failed: see @res), or a
 * negative errno with "NAME:LINE: reason" in @err: -EINVAL for a malformed
 * file, -E2BIG for a limit, or the error of a backend that could not be
 * opened.
 */
int vi_scn_run(const char *text, size_t len, const char *name, const struct vi_scn_opts *opts,
	       struct vi_scn_result *res, char *err, size_t errlen);

#endif
