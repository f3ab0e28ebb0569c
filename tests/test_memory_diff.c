// SPDX-License-Identifier: MIT
/*
 * Exact listener event lists for the scenarios that hurt VFIO in QEMU
 * (docs/reference.md §1.3, §4): two RAM ranges merged into one (A + B -> A') and
 * split back, a BAR move, a RAM resize, hot-plug blocks marked unmergeable,
 * a rename and a re-parent. Each must report exactly the ranges that
 * changed, and nothing else: a range whose region or flags changed but not
 * its translation is "unchanged" (region_nop), never delete + add; a range
 * the commit did not touch is not reported at all (QEMU calls region_nop for
 * every section on every commit). Also: replay at
 * registration, removal at unregistration, listener order, -EBUSY from
 * callbacks, one render per outermost commit.
 */
#include <errno.h>
#include <stdarg.h>
#include <viommu/memory.h>

#include "test.h"

static char log_buf[8192];
static size_t log_len;
static struct viommu_memory *g_m;
static int busy_result;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_len += (size_t)vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len, fmt, ap);
	va_end(ap);
	if (log_len >= sizeof(log_buf))
		log_len = sizeof(log_buf) - 1;
}

static const char *sec(const struct viommu_mr_section *s, bool present, char *b, size_t n)
{
	if (!present)
		return "-";
	snprintf(b, n, "%s@%" PRIx64 "%s", viommu_mr_name(s->mr), s->offset, s->readonly ? ":ro" : "");
	return b;
}

static void on_begin(struct viommu_memory_listener *l, struct viommu_as *as)
{
	logf_("%s:begin;", (const char *)l->opaque);
	(void)as;
}

static void on_commit(struct viommu_memory_listener *l, struct viommu_as *as)
{
	logf_("%s:commit;", (const char *)l->opaque);
	(void)as;
}

static void on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		    size_t n)
{
	char a[64], b[64];

	(void)as;
	for (size_t i = 0; i < n; i++)
		logf_("%s:%" PRIx64 "-%" PRIx64 " %s>%s %s;", (const char *)l->opaque, d[i].first, d[i].last,
		      sec(&d[i].before, d[i].has_before, a, sizeof(a)), sec(&d[i].after, d[i].has_after, b, sizeof(b)),
		      d[i].changed ? "changed" : "same");
	busy_result = viommu_mr_set_enabled(viommu_as_root(as), false);
}

static void on_sec(struct viommu_memory_listener *l, const char *what, const struct viommu_mr_section *s)
{
	char a[64];

	logf_("%s:%s %" PRIx64 "-%" PRIx64 " %s;", (const char *)l->opaque, what, s->first, s->last,
	      sec(s, true, a, sizeof(a)));
}

static void on_add(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_section *s)
{
	(void)as;
	on_sec(l, "add", s);
}

static void on_del(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_section *s)
{
	(void)as;
	on_sec(l, "del", s);
}

static void on_nop(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_section *s)
{
	(void)as;
	on_sec(l, "nop", s);
}

#define EXPECT_LOG(str) do {							\
	T_STREQ(log_buf, str);							\
	log_len = 0;								\
	log_buf[0] = 0;								\
} while (0)

static struct viommu_memory_listener ld = { .sz = sizeof(ld), .opaque = "d", .begin = on_begin,
					    .diff = on_diff, .commit = on_commit };
static struct viommu_memory_listener lq = { .sz = sizeof(lq), .opaque = "q", .priority = 10,
					    .begin = on_begin, .region_add = on_add, .region_del = on_del,
					    .region_nop = on_nop, .commit = on_commit };

static char host[0x40000];

struct fixture {
	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_as *as;
};

static void setup(struct fixture *f, bool qemu_style)
{
	f->m = g_m = viommu_memory_new();
	f->root = viommu_mr_new_container(f->m, "root", UINT64_C(1) << 40);
	f->as = viommu_as_new(f->m, "sys", f->root);
	T_OK(f->as != NULL);
	ld.as = lq.as = f->as;
	T_EQ(viommu_memory_listener_register(f->m, qemu_style ? &lq : &ld), 0);
	log_len = 0;
	log_buf[0] = 0;
}

/* A + B -> A' and back: same host memory, so nothing changes (the QEMU VFIO defect, docs/reference.md §1.3). */
static void test_merge_split(bool qemu_style)
{
	struct fixture f;
	struct viommu_mr *a, *b, *a2;

	setup(&f, qemu_style);
	a = viommu_mr_new_ram(f.m, "A", 0x1000, host);
	b = viommu_mr_new_ram(f.m, "B", 0x1000, host + 0x1000);
	a2 = viommu_mr_new_ram(f.m, "A'", 0x2000, host);
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, a, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0x1000, b, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	if (qemu_style)
		EXPECT_LOG("q:begin;q:add 0-fff A@0;q:add 1000-1fff B@0;q:commit;");
	else
		EXPECT_LOG("d:begin;d:0-fff ->A@0 changed;d:1000-1fff ->B@0 changed;d:commit;");

	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_del_subregion(f.root, a), 0);
	T_EQ(viommu_mr_del_subregion(f.root, b), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, a2, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	if (qemu_style)
		EXPECT_LOG("q:begin;q:nop 0-fff A'@0;q:nop 1000-1fff A'@1000;q:commit;");
	else
		EXPECT_LOG("d:begin;d:0-fff A@0>A'@0 same;d:1000-1fff B@0>A'@1000 same;d:commit;");

	/* Split back. */
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_del_subregion(f.root, a2), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, a, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0x1000, b, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	if (qemu_style)
		EXPECT_LOG("q:begin;q:nop 0-fff A@0;q:nop 1000-1fff B@0;q:commit;");
	else
		EXPECT_LOG("d:begin;d:0-fff A'@0>A@0 same;d:1000-1fff A'@1000>B@0 same;d:commit;");
	/* Listener callbacks cannot change the model. */
	if (!qemu_style)
		T_EQ(busy_result, -EBUSY);
	viommu_memory_free(f.m);
}

/* A RAM-device BAR moves: exactly one range goes, one comes. */
static void test_bar_move(void)
{
	struct fixture f;
	struct viommu_mr *ram, *bar;

	setup(&f, true);
	ram = viommu_mr_new_ram(f.m, "ram", 0x10000, host);
	bar = viommu_mr_new_ram_device(f.m, "bar", 0x4000, host + 0x20000);
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	/* Only what changed is reported: the RAM the BAR does not touch is not mentioned. */
	EXPECT_LOG("q:begin;q:add 0-ffff ram@0;q:commit;q:begin;q:add e0000000-e0003fff bar@0;q:commit;");
	T_EQ(viommu_mr_set_address(bar, 0xf0000000), 0);
	EXPECT_LOG("q:begin;q:del e0000000-e0003fff bar@0;q:add f0000000-f0003fff bar@0;q:commit;");
	/* The same move seen as a diff. */
	T_EQ(viommu_memory_listener_register(f.m, &ld), 0);
	EXPECT_LOG("d:begin;d:0-ffff ->ram@0 changed;d:f0000000-f0003fff ->bar@0 changed;d:commit;");
	T_EQ(viommu_mr_set_address(bar, 0xe0000000), 0);
	/* Delete pass first (listeners in reverse order), then diffs and adds in order. */
	EXPECT_LOG("d:begin;q:begin;q:del f0000000-f0003fff bar@0;"
		   "d:e0000000-e0003fff ->bar@0 changed;d:f0000000-f0003fff bar@0>- changed;"
		   "q:add e0000000-e0003fff bar@0;d:commit;q:commit;");
	viommu_memory_free(f.m);
}

/* RAM grows and shrinks: only the tail changes. */
static void test_ram_resize(void)
{
	struct fixture f;
	struct viommu_mr *ram;

	setup(&f, false);
	ram = viommu_mr_new_ram(f.m, "ram", 0x2000, host);
	T_EQ(viommu_mr_add_subregion(f.root, 0x100000, ram, 0), 0);
	EXPECT_LOG("d:begin;d:100000-101fff ->ram@0 changed;d:commit;");
	T_EQ(viommu_mr_set_size(ram, 0x4000), 0);
	EXPECT_LOG("d:begin;d:102000-103fff ->ram@2000 changed;d:commit;");
	T_EQ(viommu_mr_set_size(ram, 0x1000), 0);
	EXPECT_LOG("d:begin;d:101000-103fff ram@1000>- changed;d:commit;");
	/* Setting the same size is no change: no notification at all. */
	T_EQ(viommu_mr_set_size(ram, 0x1000), 0);
	EXPECT_LOG("");
	viommu_memory_free(f.m);
}

/*
 * Hot-plug blocks (virtio-mem style): aliases of one RAM backing, marked
 * unmergeable so each block stays its own flat range; adding or removing a
 * block touches exactly that block.
 */
static void test_hotplug_blocks(void)
{
	struct fixture f;
	struct viommu_mr *backing, *blk[3];

	setup(&f, true);
	backing = viommu_mr_new_ram(f.m, "mem", 0x30000, host);
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "blk%d", i);
		blk[i] = viommu_mr_new_alias(f.m, name, backing, (uint64_t)i * 0x10000, 0x10000);
		T_EQ(viommu_mr_set_unmergeable(blk[i], true), 0);
	}
	T_EQ(viommu_mr_add_subregion(f.root, 0x100000000, blk[0], 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0x100010000, blk[1], 0), 0);
	EXPECT_LOG("q:begin;q:add 100000000-10000ffff mem@0;q:commit;"
		   "q:begin;q:add 100010000-10001ffff mem@10000;q:commit;");
	{
		struct viommu_flatview *v = viommu_as_get_flatview(f.as);

		T_EQ(viommu_flatview_count(v), 2);	/* unmergeable: never merged */
		T_OK(viommu_flatview_section(v, 0)->unmergeable);
		viommu_flatview_put(v);
	}
	T_EQ(viommu_mr_add_subregion(f.root, 0x100020000, blk[2], 0), 0);
	EXPECT_LOG("q:begin;q:add 100020000-10002ffff mem@20000;q:commit;");
	T_EQ(viommu_mr_del_subregion(f.root, blk[1]), 0);
	EXPECT_LOG("q:begin;q:del 100010000-10001ffff mem@10000;q:commit;");
	/*
	 * Clearing unmergeable changes no translation: region_nop for the
	 * blocks that are mapped (their flag changed). Then the blocks merge in
	 * the flat view, yet the old blocks are not reported at all: the new
	 * one is the only add.
	 */
	T_EQ(viommu_memory_begin(f.m), 0);
	for (int i = 0; i < 3; i++)
		T_EQ(viommu_mr_set_unmergeable(blk[i], false), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	EXPECT_LOG("q:begin;q:nop 100000000-10000ffff mem@0;q:nop 100020000-10002ffff mem@20000;q:commit;");
	T_EQ(viommu_mr_add_subregion(f.root, 0x100010000, blk[1], 0), 0);
	EXPECT_LOG("q:begin;q:add 100010000-10001ffff mem@10000;q:commit;");
	{
		struct viommu_flatview *v = viommu_as_get_flatview(f.as);

		T_EQ(viommu_flatview_count(v), 1);
		viommu_flatview_put(v);
	}
	viommu_memory_free(f.m);
}

/* Renaming changes nothing; re-parenting at the same address is unchanged; read-only is a change. */
static void test_rename_reparent(void)
{
	struct fixture f;
	struct viommu_mr *c1, *c2, *ram, *mmio1, *mmio2;
	uint64_t gen;

	setup(&f, false);
	c1 = viommu_mr_new_container(f.m, "c1", 0x100000);
	c2 = viommu_mr_new_container(f.m, "c2", 0x100000);
	ram = viommu_mr_new_ram(f.m, "ram", 0x1000, host);
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, c1, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0x100000, c2, 0), 0);
	T_EQ(viommu_mr_add_subregion(c1, 0x5000, ram, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	EXPECT_LOG("d:begin;d:5000-5fff ->ram@0 changed;d:commit;");
	gen = viommu_memory_generation(f.m);
	T_EQ(viommu_mr_set_name(ram, "ram2"), 0);
	T_EQ_U64(viommu_memory_generation(f.m), gen);	/* no render */
	EXPECT_LOG("");
	/* Move c2 over c1's place and the RAM into c2 at the matching offset: same translation. */
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_memory_begin(f.m), 0);	/* nested */
	T_EQ(viommu_mr_del_subregion(c1, ram), 0);
	T_EQ(viommu_mr_set_address(c2, 0x4000), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	T_EQ_U64(viommu_memory_generation(f.m), gen);	/* inner commit renders nothing */
	T_EQ(viommu_mr_add_subregion(c2, 0x1000, ram, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	T_EQ_U64(viommu_memory_generation(f.m), gen + 1);
	EXPECT_LOG("");		/* the view is identical: not even begin/commit */
	T_EQ(viommu_mr_set_readonly(c2, true), 0);
	EXPECT_LOG("d:begin;d:5000-5fff ram2@0>ram2@0:ro changed;d:commit;");
	T_EQ(viommu_mr_set_readonly(c2, false), 0);
	EXPECT_LOG("d:begin;d:5000-5fff ram2@0:ro>ram2@0 changed;d:commit;");
	/* Two MMIO regions are two translations even at the same offset. */
	mmio1 = viommu_mr_new_mmio(f.m, "m1", 0x1000, NULL, NULL);
	mmio2 = viommu_mr_new_mmio(f.m, "m2", 0x1000, NULL, NULL);
	T_EQ(viommu_mr_add_subregion(f.root, 0x9000, mmio1, 0), 0);
	EXPECT_LOG("d:begin;d:9000-9fff ->m1@0 changed;d:commit;");
	T_EQ(viommu_mr_add_subregion(f.root, 0x9000, mmio2, 1), 0);
	EXPECT_LOG("d:begin;d:9000-9fff m1@0>m2@0 changed;d:commit;");
	/* Two RAM regions over the same host memory are one translation. */
	struct viommu_mr *alt = viommu_mr_new_ram(f.m, "alt", 0x1000, host);
	T_EQ(viommu_mr_add_subregion(f.root, 0x5000, alt, 5), 0);
	EXPECT_LOG("d:begin;d:5000-5fff ram2@0>alt@0 same;d:commit;");
	/* Freeing: busy while attached. */
	T_EQ(viommu_mr_free(alt), -EBUSY);
	T_EQ(viommu_mr_free(c2), -EBUSY);
	T_EQ(viommu_mr_del_subregion(f.root, alt), 0);
	log_len = 0;
	log_buf[0] = 0;
	T_EQ(viommu_mr_free(alt), 0);
	T_EQ(viommu_mr_del_subregion(f.root, ram), -ENOENT);	/* ram lives in c2 */
	viommu_memory_free(f.m);
}

/* Replay on registration, removal on unregistration and address-space removal, ordering. */
static void test_listener_lifecycle(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x100000);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "ram", 0x2000, host);
	struct viommu_mr *loop = viommu_mr_new_alias(m, "loop", root, 0, 0x1000);
	struct viommu_as *as = viommu_as_new(m, "sys", root);
	struct viommu_as *as2;

	T_EQ(viommu_mr_add_subregion(root, 0x3000, ram, 0), 0);
	ld.as = NULL;
	lq.as = NULL;
	T_EQ(viommu_memory_listener_register(m, &lq), 0);
	EXPECT_LOG("q:begin;q:add 3000-4fff ram@0;q:commit;");
	T_EQ(viommu_memory_listener_register(m, &lq), -EEXIST);
	/* A late device sees the current state. */
	T_EQ(viommu_memory_listener_register(m, &ld), 0);
	EXPECT_LOG("d:begin;d:3000-4fff ->ram@0 changed;d:commit;");
	/* A second space over the same root: both listeners (no filter) hear about it, in priority order. */
	as2 = viommu_as_new(m, "dev", root);
	T_OK(as2 != NULL);
	EXPECT_LOG("d:begin;q:begin;d:3000-4fff ->ram@0 changed;q:add 3000-4fff ram@0;d:commit;q:commit;");
	T_EQ(viommu_as_free(as2), 0);
	EXPECT_LOG("d:begin;q:begin;q:del 3000-4fff ram@0;d:3000-4fff ram@0>- changed;d:commit;q:commit;");
	/* Cycles are refused. */
	T_EQ(viommu_mr_add_subregion(root, 0x8000, loop, 0), -ELOOP);
	T_EQ(viommu_mr_add_subregion(root, 0x8000, root, 0), -ELOOP);
	T_EQ(viommu_mr_add_subregion(loop, 0, ram, 0), -EINVAL);
	T_EQ(viommu_mr_add_subregion(root, 0x8000, ram, 0), -EBUSY);
	EXPECT_LOG("");
	T_EQ(viommu_memory_listener_unregister(m, &ld), 0);
	EXPECT_LOG("d:begin;d:3000-4fff ram@0>- changed;d:commit;");
	T_EQ(viommu_memory_listener_unregister(m, &ld), -ENOENT);
	T_EQ(viommu_memory_commit(m), -EINVAL);	/* no open transaction */
	T_EQ(viommu_mr_free(root), -EBUSY);	/* an address-space root and an alias target */
	T_EQ(viommu_as_free(as), 0);
	EXPECT_LOG("q:begin;q:del 3000-4fff ram@0;q:commit;");
	viommu_memory_free(m);
}

int main(void)
{
	test_merge_split(false);
	test_merge_split(true);
	test_bar_move();
	test_ram_resize();
	test_hotplug_blocks();
	test_rename_reparent();
	test_listener_lifecycle();
	return t_done();
}
