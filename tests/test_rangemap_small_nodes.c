// SPDX-License-Identifier: MIT
/*
 * The randomised differential test of test_rangemap_random.c run against the
 * range map compiled with 4-slot nodes: the same operations then build trees
 * of ten and more levels, so splits, borrows, merges and root changes happen
 * at every level, not only at the bottom two. (The map's definitions here take
 * precedence over the library archive's copy, which is never linked.)
 */
#define VI_RM_LEAF_CAP 4
#define VI_RM_INNER_CAP 4
#define VI_RM_CHUNK_MAX 4
#define VI_RM_SWEEP_EVERY 1
#define RANGEMAP_TEST_MIN_HEIGHT 6
#include "../src/util/rangemap.c"
#include "test_rangemap_random.c"
