// SPDX-License-Identifier: MIT
/*
 * viommu_host_open_spec: every spec form opens the backend it names with the
 * options it gives; every malformed spec is EINVAL with the reason logged;
 * real backends that cannot be opened fail with the kernel's errno. And the
 * one number parser the specs, the CLI and scenario files share.
 */
#include <unistd.h>

#include <viommu/host.h>

#include "test.h"
#include "util/num.h"

static char last_log[512];
static int nlog;

static void sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)ctx;
	nlog++;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static void good(const char *spec, enum viommu_host_semantics sem, uint64_t max_mappings, uint64_t align)
{
	struct viommu_host_caps caps = { .sz = sizeof(caps) };
	struct viommu_host *h = viommu_host_open_spec(spec);

	T_OK(h != NULL);
	if (!h)
		return;
	T_EQ(viommu_host_kind(h), VIOMMU_HOST_KIND_SIM);
	T_EQ(viommu_host_semantics(h), sem);
	T_EQ(viommu_host_get_caps(h, &caps), 0);
	T_EQ_U64(caps.max_mappings, max_mappings);
	T_EQ_U64(caps.iova_alignment, align);
	viommu_host_free(h);
}

static void bad(int line, const char *spec, const char *log)
{
	struct viommu_host *h;

	nlog = 0;
	last_log[0] = 0;
	errno = 0;
	h = viommu_host_open_spec(spec);
	if (h || errno != EINVAL || strcmp(last_log, log))
		fprintf(stderr, "line %d: '%s' -> %p errno %d log '%s'\n", line, spec ? spec : "(null)", (void *)h, errno,
			last_log);
	T_OK(h == NULL);
	T_EQ(errno, EINVAL);
	T_EQ(nlog, 1);
	T_STREQ(last_log, log);
	viommu_host_free(h);
}

#define BAD(spec, log) bad(__LINE__, spec, log)

static void test_numbers(void)
{
	uint64_t v = 0;
	const char *p = "4Kx";

	T_OK(vi_parse_u64("4096", &v) && v == 4096);
	T_OK(vi_parse_u64("0x1000", &v) && v == 4096);
	T_OK(vi_parse_u64("0X1000", &v) && v == 4096);
	T_OK(vi_parse_u64("4K", &v) && v == 4096);
	T_OK(vi_parse_u64("4k", &v) && v == 4096);
	T_OK(vi_parse_u64("2M", &v) && v == 0x200000);
	T_OK(vi_parse_u64("1G", &v) && v == 0x40000000);
	T_OK(vi_parse_u64("16T", &v) && v == 16ull << 40);
	T_OK(vi_parse_u64("010", &v) && v == 10);	/* never octal */
	T_OK(vi_parse_u64("18446744073709551615", &v) && v == UINT64_MAX);
	T_OK(vi_parse_u64("0xffffffffffffffff", &v) && v == UINT64_MAX);
	T_OK(!vi_parse_u64("18446744073709551616", &v));	/* 2^64 */
	T_OK(!vi_parse_u64("0x10000000000000000", &v));	/* 2^64 in hex (issue 17) */
	T_OK(!vi_parse_u64("16777216T", &v));			/* 2^64 by suffix */
	T_OK(vi_parse_u64("16777215T", &v) && v == 16777215ull << 40);
	T_OK(!vi_parse_u64("", &v));
	T_OK(!vi_parse_u64("0x", &v));
	T_OK(!vi_parse_u64("-1", &v));
	T_OK(!vi_parse_u64("+1", &v));
	T_OK(!vi_parse_u64(" 1", &v));
	T_OK(!vi_parse_u64("1 ", &v));
	T_OK(!vi_parse_u64("4KK", &v));
	T_OK(!vi_parse_u64("1Q", &v));
	T_OK(!vi_parse_u64(NULL, &v));
	T_OK(vi_parse_number(&p, &v) && v == 4096 && *p == 'x');
}

int main(void)
{
	test_numbers();
	viommu_set_log(sink, NULL, VIOMMU_LOG_DEBUG);
	good("sim:type1v2", VIOMMU_HOST_TYPE1V2, 65535, 0x1000);
	good("sim:type1v1,limit=8", VIOMMU_HOST_TYPE1V1, 8, 0x1000);
	good("sim:iommufd", VIOMMU_HOST_IOMMUFD, UINT64_MAX, 0x1000);
	good("sim:type1v2,limit=0x10,pgsizes=0x200000", VIOMMU_HOST_TYPE1V2, 16, 0x200000);
	good("sim:type1v2,pgsizes=2M,limit=4K", VIOMMU_HOST_TYPE1V2, 4096, 0x200000);
	T_EQ(nlog, 0);
	BAD(NULL, "backend spec '(null)': no spec");
	BAD("", "backend spec '': unknown backend (sim:type1v2, sim:type1v1, sim:iommufd, vfio:GROUP, iommufd[:CDEV])");
	BAD("sim:", "backend spec 'sim:': unknown simulated semantics (type1v2, type1v1, iommufd): ");
	BAD("sim:type9", "backend spec 'sim:type9': unknown simulated semantics (type1v2, type1v1, iommufd): type9");
	BAD("sim:type1v2,limit=0", "backend spec 'sim:type1v2,limit=0': limit must be a number from 1 to 2^32 - 1: 0");
	BAD("sim:type1v2,limit=4G",
	    "backend spec 'sim:type1v2,limit=4G': limit must be a number from 1 to 2^32 - 1: 4G");
	BAD("sim:type1v2,limit=", "backend spec 'sim:type1v2,limit=': limit must be a number from 1 to 2^32 - 1: ");
	BAD("sim:type1v2,pgsizes=0", "backend spec 'sim:type1v2,pgsizes=0': pgsizes must be a non-zero bitmap: 0");
	BAD("sim:type1v2,fast", "backend spec 'sim:type1v2,fast': unknown option (limit=N, pgsizes=BITMAP): fast");
	BAD("vfio:", "backend spec 'vfio:': no group after vfio:");
	BAD("vfio:26,v3", "backend spec 'vfio:26,v3': unknown vfio option (v1): v3");
	BAD("iommufd:", "backend spec 'iommufd:': no device after iommufd:");
	BAD("iommufdx", "backend spec 'iommufdx': unknown backend (sim:type1v2, sim:type1v1, sim:iommufd, vfio:GROUP, "
			"iommufd[:CDEV])");
	{
		char longspec[300];

		memset(longspec, 'a', sizeof(longspec) - 1);
		longspec[sizeof(longspec) - 1] = 0;
		memcpy(longspec, "sim:", 4);
		nlog = 0;
		errno = 0;
		T_OK(viommu_host_open_spec(longspec) == NULL && errno == EINVAL && nlog == 1);
	}
	/* real backends: the kernel's errno of the first failing call (no VFIO on the test machine: ENOENT) */
	if (access("/dev/vfio/vfio", F_OK) != 0) {
		errno = 0;
		T_OK(viommu_host_open_spec("vfio:26") == NULL && errno == ENOENT);
	}
	if (access("/tmp/viommu-no-such-cdev", F_OK) != 0) {
		errno = 0;
		T_OK(viommu_host_open_spec("iommufd:/tmp/viommu-no-such-cdev") == NULL && errno == ENOENT);
	}
	viommu_set_log(NULL, NULL, VIOMMU_LOG_ERROR);
	return t_done();
}
