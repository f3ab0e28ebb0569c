// SPDX-License-Identifier: MIT
/*
 * Scenario files are user input. Arbitrary bytes run through the engine with
 * simulated backends only: no crash, no hang (the step limit), every error
 * is "NAME:LINE: reason", and whatever the file did, the simulated host
 * equals the flat view after every commit (the engine checks it; the model
 * is the view itself, page by page in viommu_recon_check).
 */
#include <string.h>

#include "fuzz.h"
#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vi_scn_opts o = { .policy = -1, .sim_only = true, .max_steps = 4000, .max_extents = 4096 };
	struct vi_scn_result res;
	char err[512];
	int rc;

	if (size > 16384)
		return 0;
	/* both policies must keep the host equal to the view */
	for (int policy = 0; policy <= 1; policy++) {
		o.policy = policy;
		rc = vi_scn_run((const char *)data, size, "fuzz", &o, &res, err, sizeof(err));
		if (rc) {
			FZ_CHECK(rc < 0);
			FZ_CHECK(!strncmp(err, "fuzz:", 5));
			FZ_CHECK(strstr(err, ": ") != NULL);
		} else {
			FZ_CHECK(err[0] == 0);
			/* the record always equals the host; something left unmapped only after an error */
			FZ_CHECK(res.checks_mismatch == 0);
			FZ_CHECK(res.checks_failed == 0 || res.stats.errors > 0);
			FZ_CHECK(res.lines <= 4000);
		}
	}
	return 0;
}
