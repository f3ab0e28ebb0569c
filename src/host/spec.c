// SPDX-License-Identifier: MIT
/*
 * A backend from a spec string (viommu_host_open_spec): the one place that
 * turns "sim:type1v2,limit=8", "vfio:26,v1" or "iommufd:/dev/vfio/devices/vfio0"
 * into a backend, for the CLI, scenario files and any VMM that takes the
 * backend from its command line. Every refusal is logged with the reason.
 */
#include <string.h>

#include <viommu/host.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/num.h"

#define SPEC_MAX 256

static void *refuse(const char *spec, const char *why, const char *what)
{
	vi_warn("backend spec '%s': %s%s%s", spec, why, what ? " " : "", what ? what : "");
	return vi_null(EINVAL);
}

/* "type1v2,limit=N,pgsizes=N" after "sim:". */
static struct viommu_host *open_sim(const char *spec, char *rest)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho) };
	char *opt = strchr(rest, ',');

	if (opt)
		*opt++ = 0;
	if (!strcmp(rest, "type1v2"))
		ho.semantics = VIOMMU_HOST_TYPE1V2;
	else if (!strcmp(rest, "type1v1"))
		ho.semantics = VIOMMU_HOST_TYPE1V1;
	else if (!strcmp(rest, "iommufd"))
		ho.semantics = VIOMMU_HOST_IOMMUFD;
	else
		return refuse(spec, "unknown simulated semantics (type1v2, type1v1, iommufd):", rest);
	while (opt && *opt) {
		char *next = strchr(opt, ',');
		uint64_t v;

		if (next)
			*next++ = 0;
		if (!strncmp(opt, "limit=", 6)) {
			if (!vi_parse_u64(opt + 6, &v) || v == 0 || v > UINT32_MAX)
				return refuse(spec, "limit must be a number from 1 to 2^32 - 1:", opt + 6);
			ho.dma_entry_limit = (uint32_t)v;
		} else if (!strncmp(opt, "pgsizes=", 8)) {
			if (!vi_parse_u64(opt + 8, &v) || v == 0)
				return refuse(spec, "pgsizes must be a non-zero bitmap:", opt + 8);
			ho.pgsize_bitmap = v;
		} else {
			return refuse(spec, "unknown option (limit=N, pgsizes=BITMAP):", opt);
		}
		opt = next;
	}
	return viommu_host_sim_new(&ho);
}

VIOMMU_API struct viommu_host *viommu_host_open_spec(const char *spec)
{
	char buf[SPEC_MAX];
	char *opt;

	if (!spec)
		return refuse("(null)", "no spec", NULL);
	if (strlen(spec) >= sizeof(buf))
		return refuse(spec, "longer than 255 bytes", NULL);
	strcpy(buf, spec);
	if (!strncmp(buf, "sim:", 4))
		return open_sim(spec, buf + 4);
	if (!strncmp(buf, "vfio:", 5)) {
		enum viommu_host_semantics sem = VIOMMU_HOST_TYPE1V2;

		opt = strchr(buf + 5, ',');
		if (opt)
			*opt++ = 0;
		if (opt && !strcmp(opt, "v1"))
			sem = VIOMMU_HOST_TYPE1V1;
		else if (opt)
			return refuse(spec, "unknown vfio option (v1):", opt);
		if (!buf[5])
			return refuse(spec, "no group after vfio:", NULL);
		return viommu_host_vfio_open(buf + 5, sem);
	}
	if (!strcmp(buf, "iommufd"))
		return viommu_host_iommufd_open(VIOMMU_HOST_IOMMUFD_DEFAULT_CDEV);
	if (!strncmp(buf, "iommufd:", 8)) {
		if (!buf[8])
			return refuse(spec, "no device after iommufd:", NULL);
		return viommu_host_iommufd_open(buf + 8);
	}
	return refuse(spec, "unknown backend (sim:type1v2, sim:type1v1, sim:iommufd, vfio:GROUP, iommufd[:CDEV])",
		      NULL);
}
