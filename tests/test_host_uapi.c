// SPDX-License-Identifier: MIT
/*
 * The simulated host's models behind the issue-15 uAPI, beyond the
 * conformance rows (tests/host_uapi_cases.h): the three user-memory models
 * (synthetic, registered, the process's own /proc/self/maps), pinned-page
 * accounting, device accesses and their faults, the timeline that grows
 * instead of being allocated up front (issue 17), the options rule, and the
 * log line every refusal leaves.
 */
#include <sys/mman.h>
#include <unistd.h>

#include <viommu/host.h>

#include "test.h"

#define K4 UINT64_C(0x1000)
#define M2 UINT64_C(0x200000)
#define G1 UINT64_C(0x40000000)
#define RW VIOMMU_PERM_RW

static struct viommu_host *mk(enum viommu_host_semantics sem, enum viommu_host_sim_user_memory um, unsigned flags)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .user_memory = um, .flags = flags };
	struct viommu_host *h = viommu_host_sim_new(&o);

	if (!h)
		T_FATAL("viommu_host_sim_new");
	return h;
}

static const enum viommu_host_semantics all_sem[] = { VIOMMU_HOST_TYPE1V2, VIOMMU_HOST_TYPE1V1, VIOMMU_HOST_IOMMUFD };

static uint64_t pins(struct viommu_host *h)
{
	struct viommu_host_sim_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_host_sim_get_stats(h, &st), 0);
	return st.pinned_pages;
}

/* Synthetic memory: everything below 2^63, nothing above; the EFAULT is the last check. */
static void test_synthetic(void)
{
	for (size_t i = 0; i < 3; i++) {
		struct viommu_host *h = mk(all_sem[i], VIOMMU_HOST_SIM_USER_SYNTHETIC, 0);
		bool fd = all_sem[i] == VIOMMU_HOST_IOMMUFD;
		uint64_t b;

		T_EQ(viommu_host_map(h, G1, K4, 0x10000, RW), 0);
		T_EQ(viommu_host_map(h, G1 + K4, K4, UINT64_C(0x7ffffffffffff000), RW), 0);
		T_EQ(viommu_host_map(h, G1 + 2 * K4, K4, UINT64_C(0x8000000000000000), RW), -EFAULT);
		/* the last page straddles 2^63: EFAULT, and nothing of it mapped */
		T_EQ(viommu_host_map(h, G1 + 4 * K4, 2 * K4, UINT64_C(0x7ffffffffffff000), RW), -EFAULT);
		T_EQ(viommu_host_sim_translate(h, G1 + 4 * K4, NULL, NULL), -ENOENT);
		/* the checks before pinning still win: overlap, then the pin */
		T_EQ(viommu_host_map(h, G1, K4, UINT64_C(0x8000000000000000), RW), -EEXIST);
		/* outside the usable ranges beats the pin for type1 (vfio_iommu_iova_dma_valid first) */
		T_EQ(viommu_host_map(h, UINT64_C(0x8000000000), K4, UINT64_C(0x8000000000000000), RW), -EINVAL);
		T_EQ(pins(h), 2);
		T_EQ(viommu_host_unmap_all(h, &b), 0);
		T_EQ_U64(b, 2 * K4);
		T_EQ(pins(h), 0);
		if (fd) {
			uint64_t iova = 0;

			T_EQ(viommu_host_map_auto(h, UINT64_C(0x8000000000000000), K4, RW, &iova), -EFAULT);
			T_EQ_U64(iova, 0);
		}
		viommu_host_free(h);
	}
}

/* Registered memory: exact coverage, access rights, add/remove rules. */
static void test_registered(void)
{
	const uint64_t va = UINT64_C(0x7f0000000000);

	for (size_t i = 0; i < 3; i++) {
		struct viommu_host *h = mk(all_sem[i], VIOMMU_HOST_SIM_USER_REGISTERED, 0);

		T_EQ(viommu_host_map(h, G1, K4, va, RW), -EFAULT);
		T_EQ(viommu_host_sim_user_add(h, va, 4 * K4, RW), 0);
		T_EQ(viommu_host_sim_user_add(h, va + 4 * K4, 2 * K4, VIOMMU_PERM_READ), 0);
		T_EQ(viommu_host_sim_user_add(h, va + K4, K4, RW), -EEXIST);
		T_EQ(viommu_host_sim_user_add(h, va, 0, RW), -EINVAL);
		T_EQ(viommu_host_sim_user_add(h, UINT64_MAX, 2, RW), -EINVAL);
		T_EQ(viommu_host_sim_user_add(h, va + M2, K4, 4), -EINVAL);
		/* two registered ranges back to back cover a mapping across them */
		T_EQ(viommu_host_map(h, G1, 6 * K4, va, VIOMMU_PERM_READ), 0);
		T_EQ(viommu_host_unmap_all(h, NULL), 0);
		/* but a write needs write access everywhere */
		T_EQ(viommu_host_map(h, G1, 6 * K4, va, RW), -EFAULT);
		T_EQ(viommu_host_map(h, G1, 6 * K4, va, VIOMMU_PERM_WRITE), -EFAULT);
		/* one page past the registered memory */
		T_EQ(viommu_host_map(h, G1, 7 * K4, va, VIOMMU_PERM_READ), -EFAULT);
		T_EQ(viommu_host_sim_mappings(h, NULL, NULL), 0);
		/* removing memory does not unmap what is mapped (as munmap of pinned pages) */
		T_EQ(viommu_host_map(h, G1, 4 * K4, va, RW), 0);
		T_EQ(viommu_host_sim_user_remove(h, va, 4 * K4), 0);
		T_EQ(viommu_host_sim_user_remove(h, va, 4 * K4), -ENOENT);
		T_EQ(viommu_host_sim_translate(h, G1 + 8, NULL, NULL), 0);
		T_EQ(viommu_host_map(h, G1 + M2, 4 * K4, va, RW), -EFAULT);
		T_EQ(pins(h), 4);
		viommu_host_free(h);
	}
	T_EQ(viommu_host_sim_user_add(NULL, va, K4, RW), -EINVAL);
}

/* The process's own mappings: an mmap is backed, its protection counts, munmap ends it. */
static void test_process(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, 4 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t a = (uint64_t)(uintptr_t)p;

	T_OK(p != MAP_FAILED);
	if (p == MAP_FAILED || pg != 4096)
		return;
	T_EQ(mprotect(p + 2 * pg, (size_t)pg, PROT_READ), 0);
	T_EQ(munmap(p + 3 * pg, (size_t)pg), 0);
	for (size_t i = 0; i < 3; i++) {
		struct viommu_host *h = mk(all_sem[i], VIOMMU_HOST_SIM_USER_PROCESS, 0);

		T_EQ(viommu_host_map(h, G1, 2 * K4, a, RW), 0);
		T_EQ(viommu_host_map(h, G1 + M2, 3 * K4, a, RW), -EFAULT);		/* read-only page */
		T_EQ(viommu_host_map(h, G1 + M2, 3 * K4, a, VIOMMU_PERM_READ), 0);
		T_EQ(viommu_host_map(h, 2 * G1, 4 * K4, a, VIOMMU_PERM_READ), -EFAULT);	/* unmapped page */
		T_EQ(viommu_host_map(h, 3 * G1, K4, 0x10000, VIOMMU_PERM_READ), -EFAULT);
		/* a mapping of code pages: readable, not writable */
		{
			uint64_t code = (uint64_t)(uintptr_t)&test_process & ~(K4 - 1);

			T_EQ(viommu_host_map(h, 4 * G1, K4, code, VIOMMU_PERM_READ), 0);
			T_EQ(viommu_host_map(h, 5 * G1, K4, code, RW), -EFAULT);
		}
		viommu_host_free(h);
	}
	munmap(p, 3 * (size_t)pg);
}

static void test_pins_and_stats(void)
{
	struct viommu_host *h = mk(VIOMMU_HOST_TYPE1V2, 0, 0), *f = mk(VIOMMU_HOST_IOMMUFD, 0, 0), *f2;
	struct viommu_host_sim_stats st;
	uint64_t iova = G1;

	/* type1: each vfio_dma accounts its pages, even for the same user memory */
	T_EQ(viommu_host_map(h, G1, M2, UINT64_C(0x7f0000000000), RW), 0);
	T_EQ(viommu_host_map(h, G1 + M2, M2, UINT64_C(0x7f0000000000), RW), 0);
	T_EQ(pins(h), 1024);
	/* a map that spans pages partly (iommufd page offsets) counts every page touched */
	T_EQ(viommu_host_map(f, G1, 2 * K4, UINT64_C(0x7f0000000000), RW), 0);
	T_EQ(pins(f), 2);
	f2 = viommu_host_ioas_alloc(f);
	T_OK(f2 != NULL);
	/* copy into an IOAS without a device: no pin; attach: still one iopt_pages */
	T_EQ(viommu_host_ioas_copy(f2, &iova, f, G1 + K4, K4, RW, 0), 0);
	T_EQ(pins(f), 2);
	T_EQ(viommu_host_sim_attach(f2), 0);
	T_EQ(pins(f2), 2);		/* the whole iommufd, from either handle */
	T_EQ(viommu_host_sim_attach(f2), 0);	/* a second device shares the domain */
	T_EQ(viommu_host_unmap_all(f, NULL), 0);
	T_EQ(pins(f), 1);		/* the copy still holds its page */
	memset(&st, 0xff, sizeof(st));
	st.sz = sizeof(st);
	T_EQ(viommu_host_sim_get_stats(f2, &st), 0);
	T_EQ_U64(st.mappings, 1);
	T_EQ_U64(st.calls, 3);		/* copy, attach, attach */
	/* an older caller's smaller stats struct */
	{
		struct { size_t sz; uint64_t calls; } old = { .sz = sizeof(old) };

		T_EQ(viommu_host_sim_get_stats(f2, (struct viommu_host_sim_stats *)&old), 0);
		T_EQ_U64(old.calls, 3);
	}
	st.sz = 4;
	T_EQ(viommu_host_sim_get_stats(f2, &st), -EINVAL);
	T_EQ(viommu_host_sim_attach(h), -EINVAL);	/* type1 */
	viommu_host_free(f2);
	viommu_host_free(f);
	viommu_host_free(h);
}

static void test_access(void)
{
	struct viommu_host *h = mk(VIOMMU_HOST_TYPE1V2, 0, 0);
	uint64_t fault = 0;

	T_EQ(viommu_host_map(h, G1, 2 * K4, UINT64_C(0x7f0000000000), VIOMMU_PERM_READ), 0);
	T_EQ(viommu_host_map(h, G1 + 2 * K4, K4, UINT64_C(0x7f0000100000), RW), 0);
	T_EQ(viommu_host_sim_access(h, G1, 3 * K4, VIOMMU_PERM_READ, &fault), 0);
	T_EQ(viommu_host_sim_access(h, G1 + 2 * K4, 8, VIOMMU_PERM_WRITE, &fault), 0);
	T_EQ(viommu_host_sim_access(h, G1 + K4, 2 * K4, VIOMMU_PERM_WRITE, &fault), -EFAULT);
	T_EQ_U64(fault, G1 + K4);
	T_EQ(viommu_host_sim_access(h, G1 + 2 * K4, 2 * K4, VIOMMU_PERM_READ, &fault), -EFAULT);
	T_EQ_U64(fault, G1 + 3 * K4);
	T_EQ(viommu_host_sim_access(h, G1, 0, VIOMMU_PERM_READ, NULL), -EINVAL);
	T_EQ(viommu_host_sim_access(h, G1, K4, 0, NULL), -EINVAL);
	T_EQ(viommu_host_sim_access(h, UINT64_MAX, 2, VIOMMU_PERM_READ, NULL), -EINVAL);
	viommu_host_free(h);
}

/* Issue 17: the timeline's capacity is a bound, not an allocation. */
static void test_timeline_grows(void)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .timeline_capacity = UINT32_MAX };
	struct viommu_host *h = viommu_host_sim_new(&o);	/* 309 GB if allocated up front */
	struct viommu_host_record r;

	T_OK(h != NULL);
	if (!h)
		return;
	for (int i = 0; i < 5000; i++)
		T_EQ(viommu_host_map(h, G1 + (uint64_t)i * K4, K4, UINT64_C(0x7f0000000000), RW), 0);
	T_EQ(viommu_host_sim_timeline_count(h), 5000);
	T_EQ(viommu_host_sim_timeline_get(h, 4999, &r), 0);
	T_EQ_U64(r.seq, 5000);
	T_EQ_U64(r.iova, G1 + 4999 * K4);
	viommu_host_free(h);
	/* a small ring still drops the oldest, across the growth steps */
	o.timeline_capacity = 40;
	h = viommu_host_sim_new(&o);
	for (int i = 0; i < 100; i++)
		viommu_host_unmap(h, G1, K4, NULL);
	T_EQ(viommu_host_sim_timeline_count(h), 40);
	T_EQ(viommu_host_sim_timeline_get(h, 0, &r), 0);
	T_EQ_U64(r.seq, 61);
	T_EQ(viommu_host_sim_timeline_get(h, 39, &r), 0);
	T_EQ_U64(r.seq, 100);
	viommu_host_sim_timeline_clear(h);
	T_EQ(viommu_host_sim_timeline_count(h), 0);
	viommu_host_unmap(h, G1, K4, NULL);
	T_EQ(viommu_host_sim_timeline_get(h, 0, &r), 0);
	T_EQ_U64(r.seq, 101);
	viommu_host_free(h);
}

static void test_options_rule(void)
{
	struct {
		struct viommu_host_sim_opts o;
		uint64_t extra;
	} big = { .o = { .sz = sizeof(big) } };
	struct viommu_host_sim_opts o = { .sz = sizeof(o) };
	struct viommu_host *h;

	/* a newer caller's larger struct: fine while the unknown bytes are zero */
	h = viommu_host_sim_new(&big.o);
	T_OK(h != NULL);
	viommu_host_free(h);
	big.extra = 1;
	errno = 0;
	T_OK(viommu_host_sim_new(&big.o) == NULL && errno == EINVAL);
	o.sz = 2;
	T_OK(viommu_host_sim_new(&o) == NULL && errno == EINVAL);
	o.sz = sizeof(o);
	o.flags = 0x100;
	T_OK(viommu_host_sim_new(&o) == NULL && errno == EINVAL);
	o.flags = 0;
	o.user_memory = 7;
	T_OK(viommu_host_sim_new(&o) == NULL && errno == EINVAL);
	o.user_memory = 0;
	o.nranges = 2;		/* a count without ranges */
	T_OK(viommu_host_sim_new(&o) == NULL && errno == EINVAL);
	/* caps: an older caller's struct without the dirty fields is filled up to its size */
	{
		struct viommu_host_caps c;
		struct viommu_host *t = mk(VIOMMU_HOST_TYPE1V2, 0, 0);

		memset(&c, 0xee, sizeof(c));
		c.sz = offsetof(struct viommu_host_caps, dirty_pgsizes);
		T_EQ(viommu_host_get_caps(t, &c), 0);
		T_EQ(c.nranges, 2);
		T_EQ_U64(c.dirty_pgsizes, UINT64_C(0xeeeeeeeeeeeeeeee));
		c.sz = sizeof(c);
		T_EQ(viommu_host_get_caps(t, &c), 0);
		T_EQ_U64(c.dirty_pgsizes, K4);
		T_EQ_U64(c.dirty_max_bitmap_bytes, UINT64_C(0x10000000));
		T_OK(c.flags & VIOMMU_HOST_CAP_DIRTY_TRACKING);
		T_OK(c.flags & VIOMMU_HOST_CAP_VADDR);
		viommu_host_free(t);
	}
}

static char g_log[512];
static int g_nlog;

static void sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == VIOMMU_LOG_WARN) {
		g_nlog++;
		snprintf(g_log, sizeof(g_log), "%s", msg);
	}
}

/* Every refusal leaves one line with the exact range and the rule. */
static void test_refusal_log(void)
{
	struct viommu_host *h = mk(VIOMMU_HOST_TYPE1V2, VIOMMU_HOST_SIM_USER_REGISTERED, 0);
	struct viommu_host *f = mk(VIOMMU_HOST_IOMMUFD, 0, 0);

	viommu_set_log(sink, NULL, VIOMMU_LOG_DEBUG);
	g_nlog = 0;
	T_EQ(viommu_host_map(h, G1, 2 * K4, 0x10000, RW), -EFAULT);
	T_EQ(g_nlog, 1);
	T_OK(strstr(g_log, "[0x40000000, 0x40001fff]") != NULL);
	T_OK(strstr(g_log, "EFAULT") != NULL);
	T_OK(strstr(g_log, "vfio_pin_pages_remote") != NULL);
	T_EQ(viommu_host_map(h, G1, 0, 0x10000, RW), -EINVAL);
	T_EQ(g_nlog, 2);
	T_OK(strstr(g_log, "(empty)") != NULL);
	T_EQ(viommu_host_unmap(f, G1, K4, NULL), -ENOENT);
	T_OK(strstr(g_log, "sim iommufd: unmap") != NULL && strstr(g_log, "nothing mapped") != NULL);
	T_EQ(viommu_host_map(h, G1, K4, 0x10000, 8), -EINVAL);	/* library policy */
	T_OK(strstr(g_log, "permission bits") != NULL);
	T_EQ(viommu_host_ioas_alloc(h) == NULL, 1);
	T_OK(strstr(g_log, "ioas_alloc") != NULL && strstr(g_log, "EOPNOTSUPP") != NULL);
	/* success is silent */
	g_nlog = 0;
	T_EQ(viommu_host_unmap_all(f, NULL), 0);
	T_EQ(g_nlog, 0);
	viommu_set_log(NULL, NULL, VIOMMU_LOG_ERROR);
	viommu_host_free(f);
	viommu_host_free(h);
}

/* IOASes of different iommufds cannot copy from each other; type1 cannot at all. */
static void test_copy_contexts(void)
{
	struct viommu_host *a = mk(VIOMMU_HOST_IOMMUFD, 0, 0), *b = mk(VIOMMU_HOST_IOMMUFD, 0, 0);
	struct viommu_host *t = mk(VIOMMU_HOST_TYPE1V2, 0, 0);
	uint64_t iova = G1;

	T_EQ(viommu_host_map(a, G1, K4, UINT64_C(0x7f0000000000), RW), 0);
	T_EQ(viommu_host_ioas_copy(b, &iova, a, G1, K4, RW, 0), -EXDEV);
	T_EQ(viommu_host_ioas_copy(t, &iova, a, G1, K4, RW, 0), -EOPNOTSUPP);
	T_EQ(viommu_host_ioas_copy(a, &iova, t, G1, K4, RW, 0), -EXDEV);
	T_EQ(viommu_host_ioas_copy(a, NULL, a, G1, K4, RW, 0), -EINVAL);
	T_EQ(viommu_host_ioas_copy(a, &iova, a, G1, K4, RW, 2), -EINVAL);
	/* a copy inside one IOAS is allowed (a second IOVA for the same pages) */
	iova = 2 * G1;
	T_EQ(viommu_host_ioas_copy(a, &iova, a, G1, K4, RW, 0), 0);
	T_EQ(pins(a), 1);
	/* freeing the first IOAS of an iommufd leaves the others working */
	{
		struct viommu_host *c = viommu_host_ioas_alloc(a);

		viommu_host_free(a);
		T_OK(c != NULL);
		T_EQ(viommu_host_map(c, G1, 1, 0x10000, RW), 0);
		viommu_host_free(c);
	}
	viommu_host_free(b);
	viommu_host_free(t);
}

int main(void)
{
	test_synthetic();
	test_registered();
	test_process();
	test_pins_and_stats();
	test_access();
	test_timeline_grows();
	test_options_rule();
	test_refusal_log();
	test_copy_contexts();
	return t_done();
}
