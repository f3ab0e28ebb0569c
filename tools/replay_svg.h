/* SPDX-License-Identifier: MIT */
/*
 * `viommu replay --svg OUT`: a picture of the IOVA space over a run. Each run
 * (the chosen policy, then QEMU's naive one) and each of its backends is a
 * panel: IOVA downwards (not to scale: every band between two edges gets a
 * height that grows with the log of its size, so a 4 KiB BAR and 4 GiB of RAM
 * are both visible), commits across. Drawn from the simulated backends' own
 * timelines (the host calls they received), not from the reconciler's record:
 *   map       one rect per host mapping, from the commit that mapped it to
 *             the one that unmapped it (no backend splits a mapping: an
 *             unmap removes whole ones, as many bytes as the host said);
 *   window    red, over what one unmap call removed, in its commit, when
 *             the same commit mapped some of it again unchanged (the
 *             reconciler's "window": a device DMA there meanwhile faults);
 *   skip      a range the reconciler reported skipped, in its commit;
 *   error     a range it reported not mapped (an error), in its commit;
 *   reserved  IOVA the backend cannot map, across the whole run.
 * Deterministic: the same file gives the same bytes. Cost O(c log m) per
 * commit for c host calls and m mappings held; at most VI_SVG_MAX_RECTS
 * rects per picture (later commits are then left out, and the picture says
 * so).
 */
#ifndef VI_REPLAY_SVG_H
#define VI_REPLAY_SVG_H

#include <stdio.h>

#include "scenario/scenario.h"

#define VI_SVG_MAX_RECTS 200000

/* One host call, read from a simulated backend's timeline. */
struct vi_replay_call {
	int backend;			/* index in vi_scn_commit.hosts */
	struct viommu_host_record rec;
};

/*
 * The calls each simulated backend received since the last read: @lost[i]
 * is true when backend i's timeline dropped some (its ring is full), then
 * only its current mappings can be known.
 */
struct vi_replay_calls {
	struct vi_replay_call *v;
	size_t n, cap;
	uint64_t seen[VI_SCN_MAX_BACKENDS];
	bool lost[VI_SCN_MAX_BACKENDS];
};

/* Read what every simulated backend of @c received since the last call. 0 or -ENOMEM. */
int vi_replay_calls_read(struct vi_replay_calls *k, const struct vi_scn_commit *c);

struct vi_svg;

struct vi_svg *vi_svg_new(const char *file);
/* A new run (its panels follow the previous run's), titled @title. */
int vi_svg_run(struct vi_svg *g, const char *title);
/* Retitle the current run. */
void vi_svg_title(struct vi_svg *g, const char *title);
/* Commit @c of the current run, with the host calls it made. */
int vi_svg_commit(struct vi_svg *g, const struct vi_scn_commit *c, const struct vi_replay_calls *k);
/* A reconciler report during the current run (drawn in the next commit). */
int vi_svg_report(struct vi_svg *g, const struct viommu_recon_report *r);
/* Write the picture. 0 or -errno. */
int vi_svg_write(struct vi_svg *g, FILE *f);
void vi_svg_free(struct vi_svg *g);

#endif
