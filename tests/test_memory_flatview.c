// SPDX-License-Identifier: MIT
/*
 * Flat-view rendering against exact expectations: the overlap and priority
 * examples and the PC memory map of QEMU's docs/devel/memory.rst
 * (docs/reference.md §4), the same-priority rule, the full 64-bit space, and the
 * guest-physical accessors (bounds, holes, MMIO dispatch, read-only,
 * wraparound, IOMMU translation).
 */
#include <errno.h>
#include <stdlib.h>
#include <viommu/memory.h>

#include "test.h"

/* Fake host addresses: never dereferenced in the rendering tests. */
#define HOST(x) ((void *)(uintptr_t)(x))

struct expect {
	uint64_t first, last;
	const struct viommu_mr *mr;
	uint64_t offset;
};

static void check_view(struct viommu_as *as, const struct expect *e, size_t n, int line)
{
	struct viommu_flatview *v = viommu_as_get_flatview(as);
	size_t got = viommu_flatview_count(v);

	if (got != n)
		fprintf(stderr, "line %d: %zu sections, expected %zu\n", line, got, n);
	T_EQ(got, n);
	for (size_t i = 0; i < n && i < got; i++) {
		const struct viommu_mr_section *s = viommu_flatview_section(v, i);

		T_EQ_U64(s->first, e[i].first);
		T_EQ_U64(s->last, e[i].last);
		T_OK(s->mr == e[i].mr);
		T_EQ_U64(s->offset, e[i].offset);
		if (s->mr != e[i].mr)
			fprintf(stderr, "line %d: section %zu is %s\n", line, i, viommu_mr_name(s->mr));
		/* Lookup agrees at both ends. */
		T_OK(viommu_flatview_lookup(v, s->first) == s);
		T_OK(viommu_flatview_lookup(v, s->last) == s);
	}
	viommu_flatview_put(v);
}

#define CHECK_VIEW(as, ...) do {						\
	const struct expect e_[] = { { 0, 0, NULL, 0 }, __VA_ARGS__ };	\
	check_view(as, e_ + 1, sizeof(e_) / sizeof(e_[0]) - 1, __LINE__);	\
} while (0)

/*
 * memory.rst "Overlapping regions and priority": container A (0x8000) holds
 * B, a container at 0x2000 (0x4000, priority 2) with D (0x1000 @0) and E
 * (0x1000 @0x2000), and C, MMIO at 0 (0x6000, priority 1). Expected:
 * [CCCCCCCCCCCC][DDDDD][CCCCC][EEEEE][CCCCC]
 */
static void test_overlap_example(bool b_has_mmio)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *a, *b, *c, *d, *e;
	struct viommu_as *as;

	a = viommu_mr_new_container(m, "A", 0x8000);
	b = b_has_mmio ? viommu_mr_new_mmio(m, "B", 0x4000, NULL, NULL) : viommu_mr_new_container(m, "B", 0x4000);
	c = viommu_mr_new_mmio(m, "C", 0x6000, NULL, NULL);
	d = viommu_mr_new_ram(m, "D", 0x1000, HOST(0x10000000));
	e = viommu_mr_new_ram(m, "E", 0x1000, HOST(0x20000000));
	as = viommu_as_new(m, "A", a);
	T_OK(as && a && b && c && d && e);
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_add_subregion(a, 0x2000, b, 2), 0);
	T_EQ(viommu_mr_add_subregion(a, 0x0, c, 1), 0);
	T_EQ(viommu_mr_add_subregion(b, 0x0, d, 0), 0);
	T_EQ(viommu_mr_add_subregion(b, 0x2000, e, 0), 0);
	T_EQ(viommu_memory_commit(m), 0);
	if (!b_has_mmio) {
		CHECK_VIEW(as, { 0x0000, 0x1fff, c, 0x0000 }, { 0x2000, 0x2fff, d, 0 },
			   { 0x3000, 0x3fff, c, 0x3000 }, { 0x4000, 0x4fff, e, 0 },
			   { 0x5000, 0x5fff, c, 0x5000 });
	} else {
		/* "If B had provided its own MMIO operations": [C][D][B][E][B]. */
		CHECK_VIEW(as, { 0x0000, 0x1fff, c, 0x0000 }, { 0x2000, 0x2fff, d, 0 },
			   { 0x3000, 0x3fff, b, 0x1000 }, { 0x4000, 0x4fff, e, 0 },
			   { 0x5000, 0x5fff, b, 0x3000 });
	}
	/* Priorities are local to a container: D and E never compete with C. Swap B and C's order. */
	T_EQ(viommu_mr_del_subregion(a, b), 0);
	T_EQ(viommu_mr_add_subregion(a, 0x2000, b, 0), 0);
	if (!b_has_mmio)
		CHECK_VIEW(as, { 0x0000, 0x5fff, c, 0 });
	else
		CHECK_VIEW(as, { 0x0000, 0x5fff, c, 0 });
	viommu_memory_free(m);
}

/*
 * memory.rst "Example memory map" (a simplified PC): lomem/himem aliases of a
 * 4 GiB RAM, a VGA window alias at priority 1 into the PCI space (whose
 * vga-area holds two 32K aliases of vram), and the PCI hole.
 */
static void test_pc_memory_map(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *sys = viommu_mr_new_container(m, "system", UINT64_C(1) << 48);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "ram", UINT64_C(0x100000000), HOST(0x7f0000000000));
	struct viommu_mr *pci = viommu_mr_new_container(m, "pci", UINT64_C(0x100000000));
	struct viommu_mr *vram = viommu_mr_new_ram(m, "vram", 0x1000000, HOST(0x7e0000000000));
	struct viommu_mr *vga_mmio = viommu_mr_new_mmio(m, "vga-mmio", 0x10000, NULL, NULL);
	struct viommu_mr *vga_area = viommu_mr_new_container(m, "vga-area", 0x20000);
	struct viommu_mr *lomem = viommu_mr_new_alias(m, "lomem", ram, 0, 0xe0000000);
	struct viommu_mr *himem = viommu_mr_new_alias(m, "himem", ram, 0xe0000000, 0x20000000);
	struct viommu_mr *vga_win = viommu_mr_new_alias(m, "vga-window", pci, 0xa0000, 0x20000);
	struct viommu_mr *hole = viommu_mr_new_alias(m, "pci-hole", pci, 0xe0000000, 0x20000000);
	struct viommu_mr *bank0 = viommu_mr_new_alias(m, "bank0", vram, 0x10000, 0x8000);
	struct viommu_mr *bank1 = viommu_mr_new_alias(m, "bank1", vram, 0x20000, 0x8000);
	struct viommu_as *as = viommu_as_new(m, "memory", sys);

	T_OK(sys && ram && pci && vram && vga_mmio && vga_area && lomem && himem && vga_win && hole && bank0 &&
	     bank1 && as);
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_add_subregion(sys, 0, lomem, 0), 0);
	T_EQ(viommu_mr_add_subregion(sys, UINT64_C(0x100000000), himem, 0), 0);
	T_EQ(viommu_mr_add_subregion(sys, 0xa0000, vga_win, 1), 0);
	T_EQ(viommu_mr_add_subregion(sys, 0xe0000000, hole, 0), 0);
	T_EQ(viommu_mr_add_subregion(pci, 0xa0000, vga_area, 0), 0);
	T_EQ(viommu_mr_add_subregion(vga_area, 0, bank0, 0), 0);
	T_EQ(viommu_mr_add_subregion(vga_area, 0x8000, bank1, 0), 0);
	T_EQ(viommu_mr_add_subregion(pci, 0xe1000000, vram, 0), 0);
	T_EQ(viommu_mr_add_subregion(pci, 0xe2000000, vga_mmio, 0), 0);
	T_EQ(viommu_memory_commit(m), 0);
	/* 0xb0000-0xbffff is a hole in the window: lomem shows through and merges with the RAM above. */
	CHECK_VIEW(as, { 0x0, 0x9ffff, ram, 0 }, { 0xa0000, 0xa7fff, vram, 0x10000 },
		   { 0xa8000, 0xaffff, vram, 0x20000 }, { 0xb0000, 0xdfffffff, ram, 0xb0000 },
		   { 0xe1000000, 0xe1ffffff, vram, 0 }, { 0xe2000000, 0xe200ffff, vga_mmio, 0 },
		   { 0x100000000, 0x11fffffff, ram, 0xe0000000 });
	/* "The vga window can be removed by programming the memory controller": RAM is exposed. */
	T_EQ(viommu_mr_set_enabled(vga_win, false), 0);
	CHECK_VIEW(as, { 0x0, 0xdfffffff, ram, 0 }, { 0xe1000000, 0xe1ffffff, vram, 0 },
		   { 0xe2000000, 0xe200ffff, vga_mmio, 0 }, { 0x100000000, 0x11fffffff, ram, 0xe0000000 });
	/* "if the guest maps a BAR outside the PCI hole, it would not be visible". */
	T_EQ(viommu_mr_set_address(vga_mmio, 0xd0000000), 0);
	CHECK_VIEW(as, { 0x0, 0xdfffffff, ram, 0 }, { 0xe1000000, 0xe1ffffff, vram, 0 },
		   { 0x100000000, 0x11fffffff, ram, 0xe0000000 });
	/* Host addresses follow the offset. */
	{
		struct viommu_flatview *v = viommu_as_get_flatview(as);
		const struct viommu_mr_section *s = viommu_flatview_lookup(v, 0x100000123);

		T_OK(s && s->host == HOST(0x7f0000000000 + 0xe0000000));
		T_OK(viommu_flatview_lookup(v, 0xe0000000) == NULL);
		viommu_flatview_put(v);
	}
	viommu_memory_free(m);
}

/*
 * Same priority: the most recently added (or moved) subregion is on top, as
 * QEMU inserts a subregion before the first sibling of lower or equal
 * priority.
 */
static void test_same_priority(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x10000);
	struct viommu_mr *x = viommu_mr_new_ram(m, "x", 0x4000, HOST(0x100000));
	struct viommu_mr *y = viommu_mr_new_ram(m, "y", 0x4000, HOST(0x200000));
	struct viommu_mr *z = viommu_mr_new_ram(m, "z", 0x4000, HOST(0x300000));
	struct viommu_as *as = viommu_as_new(m, "as", root);

	T_EQ(viommu_mr_add_subregion(root, 0x0000, x, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x2000, y, 0), 0);
	CHECK_VIEW(as, { 0x0000, 0x1fff, x, 0 }, { 0x2000, 0x5fff, y, 0 });
	/* A lower priority added later stays below. */
	T_EQ(viommu_mr_add_subregion(root, 0x1000, z, -1), 0);
	CHECK_VIEW(as, { 0x0000, 0x1fff, x, 0 }, { 0x2000, 0x5fff, y, 0 });
	/* Moving x (even to the same address) makes it the newest of priority 0. */
	T_EQ(viommu_mr_set_address(x, 0x0000), 0);
	CHECK_VIEW(as, { 0x0000, 0x3fff, x, 0 }, { 0x4000, 0x5fff, y, 0x2000 });
	/* Disabled x: z shows through where y does not cover. */
	T_EQ(viommu_mr_set_enabled(x, false), 0);
	CHECK_VIEW(as, { 0x1000, 0x1fff, z, 0 }, { 0x2000, 0x5fff, y, 0 });
	viommu_memory_free(m);
}

/* The whole 64-bit space: size 0 means 2^64; subregions past the end are clipped. */
static void test_full_space(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0);
	struct viommu_mr *bg = viommu_mr_new_mmio(m, "bg", 0, NULL, NULL);
	static char buf[0x3000];
	struct viommu_mr *top = viommu_mr_new_ram(m, "top", 0x2000, buf);
	struct viommu_as *as = viommu_as_new(m, "as", root);
	struct viommu_flatview *v;
	char x[4];

	T_EQ_U64(viommu_mr_size(root), 0);
	T_OK(viommu_mr_new_ram(m, "bad", 0, buf) == NULL && errno == EINVAL);
	T_EQ(viommu_mr_add_subregion(root, 0, bg, -1), 0);
	CHECK_VIEW(as, { 0, UINT64_MAX, bg, 0 });
	/* RAM of 0x2000 at the last page: only one page fits. */
	T_EQ(viommu_mr_add_subregion(root, UINT64_MAX - 0xfff, top, 0), 0);
	CHECK_VIEW(as, { 0, UINT64_MAX - 0x1000, bg, 0 }, { UINT64_MAX - 0xfff, UINT64_MAX, top, 0 });
	v = viommu_as_get_flatview(as);
	T_OK(viommu_flatview_lookup(v, UINT64_MAX)->mr == top);
	viommu_flatview_put(v);
	/* Accesses may end at 2^64-1 but never wrap past it. */
	buf[0xfff] = 0x5a;
	T_EQ(viommu_as_read(as, UINT64_MAX, x, 1), 0);
	T_EQ(x[0], 0x5a);
	T_EQ(viommu_as_read(as, UINT64_MAX, x, 2), -EFAULT);
	T_EQ(errno, EFAULT);
	T_EQ(viommu_as_write(as, UINT64_MAX - 1, x, 4), -EFAULT);
	/* An alias of the whole space at an offset wraps nothing: it is clipped at its target's end. */
	struct viommu_mr *root2 = viommu_mr_new_container(m, "root2", 0);
	struct viommu_mr *al = viommu_mr_new_alias(m, "al", root, UINT64_MAX - 0xfff, 0x1000);
	struct viommu_as *as2 = viommu_as_new(m, "as2", root2);

	T_OK(viommu_mr_new_alias(m, "too-big", root, 0x1000, 0) == NULL);
	T_EQ(viommu_mr_add_subregion(root2, 0x5000, al, 0), 0);
	CHECK_VIEW(as2, { 0x5000, 0x5fff, top, 0 });
	T_EQ(viommu_as_read(as2, 0x5fff, x, 1), 0);
	T_EQ(x[0], 0x5a);
	viommu_memory_free(m);
}

/*
 * Changes reach every address space that can see them: through an alias of a
 * detached container, and in a space whose root is itself a subregion of
 * another space's root (a commit re-renders only the spaces a change can reach).
 */
static void test_reach(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x100000);
	struct viommu_mr *lib = viommu_mr_new_container(m, "lib", 0x10000);	/* detached */
	struct viommu_mr *win = viommu_mr_new_alias(m, "win", lib, 0x1000, 0x2000);
	struct viommu_mr *sub = viommu_mr_new_container(m, "sub", 0x10000);
	struct viommu_mr *r1 = viommu_mr_new_ram(m, "r1", 0x1000, HOST(0x100000));
	struct viommu_mr *r2 = viommu_mr_new_ram(m, "r2", 0x1000, HOST(0x200000));
	struct viommu_as *as = viommu_as_new(m, "as", root);
	struct viommu_as *as_sub = viommu_as_new(m, "as-sub", sub);

	T_EQ(viommu_mr_add_subregion(root, 0x40000, win, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x80000, sub, 0), 0);
	CHECK_VIEW(as);
	T_EQ(viommu_mr_add_subregion(lib, 0x2000, r1, 0), 0);
	CHECK_VIEW(as, { 0x41000, 0x41fff, r1, 0 });
	T_EQ(viommu_mr_set_size(r1, 0x800), 0);
	CHECK_VIEW(as, { 0x41000, 0x417ff, r1, 0 });
	T_EQ(viommu_mr_add_subregion(sub, 0x3000, r2, 0), 0);
	CHECK_VIEW(as, { 0x41000, 0x417ff, r1, 0 }, { 0x83000, 0x83fff, r2, 0 });
	CHECK_VIEW(as_sub, { 0x3000, 0x3fff, r2, 0 });
	T_EQ(viommu_mr_set_enabled(r2, false), 0);
	CHECK_VIEW(as, { 0x41000, 0x417ff, r1, 0 });
	CHECK_VIEW(as_sub);
	/* A region freed inside a transaction stays valid for the old view's listeners until the commit. */
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_del_subregion(lib, r1), 0);
	T_EQ(viommu_mr_free(r1), 0);
	T_EQ(viommu_memory_commit(m), 0);
	CHECK_VIEW(as);
	viommu_memory_free(m);
}

/* Argument checking and the diff of a view against itself and against nothing. */
static void test_api_edges(void)
{
	struct viommu_memory *m = viommu_memory_new(), *m2 = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x10000);
	struct viommu_mr *other = viommu_mr_new_container(m2, "other", 0x10000);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "ram", 0x2000, HOST(0x1000000));
	static const struct viommu_mr_ops short_ops = { .sz = 1 };
	struct viommu_as *as = viommu_as_new(m, "as", root);
	struct viommu_flatview *v;
	struct viommu_mr_diff *d;
	size_t n;

	T_OK(viommu_mr_new_ram(NULL, "x", 0x1000, HOST(1)) == NULL && errno == EINVAL);
	T_OK(viommu_mr_new_ram(m, NULL, 0x1000, HOST(1)) == NULL && errno == EINVAL);
	T_OK(viommu_mr_new_ram(m, "x", 0x1000, NULL) == NULL && errno == EINVAL);
	T_OK(viommu_mr_new_mmio(m, "x", 0x1000, &short_ops, NULL) == NULL && errno == EINVAL);
	T_OK(viommu_mr_new_alias(m, "x", other, 0, 0x1000) == NULL && errno == EINVAL);
	T_OK(viommu_mr_new_alias(m, "x", ram, 0x1000, 0x1001) == NULL && errno == EINVAL);
	T_OK(viommu_as_new(m, "x", other) == NULL && errno == EINVAL);
	T_EQ(viommu_mr_add_subregion(root, 0, other, 0), -EINVAL);
	T_EQ(viommu_mr_set_size(ram, 0), -EINVAL);
	T_EQ(viommu_mr_set_alias_offset(ram, 0), -EINVAL);
	T_EQ(viommu_mr_add_subregion(root, 0xf000, ram, 0), 0);	/* clipped at the parent's end */
	T_EQ_U64(viommu_mr_address(ram), 0xf000);
	T_EQ_U64(viommu_mr_size(ram), 0x2000);
	T_EQ(viommu_mr_kind(ram), VIOMMU_MR_RAM);
	CHECK_VIEW(as, { 0xf000, 0xffff, ram, 0 });
	v = viommu_as_get_flatview(as);
	T_EQ(viommu_flatview_diff(NULL, NULL, &d, &n), 0);
	T_EQ(n, 0);
	free(d);
	T_EQ(viommu_flatview_diff(v, v, &d, &n), 0);
	T_EQ(n, 0);	/* nothing changed: nothing listed */
	free(d);
	T_EQ(viommu_flatview_diff(v, NULL, &d, &n), 0);
	T_OK(n == 1 && d[0].changed && d[0].has_before && !d[0].has_after);
	free(d);
	T_OK(!viommu_mr_section_same_translation(viommu_flatview_section(v, 0), NULL));
	T_OK(viommu_flatview_section(v, 1) == NULL);
	T_OK(viommu_flatview_lookup(v, 0xefff) == NULL);
	viommu_flatview_put(v);
	viommu_memory_free(m);
	viommu_memory_free(m2);
}

/*
 * Trees deeper than VIOMMU_MEMORY_MAX_DEPTH levels: a subtree that is itself
 * too deep is refused when added; one that becomes too deep only under its
 * new parent is refused by the implied commit, which undoes the add; inside a
 * transaction the commit reports it and the views stay as they were.
 */
static void test_depth_limit(void)
{
	enum { N = VIOMMU_MEMORY_MAX_DEPTH + 1 };
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x10000);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "ram", 0x1000, HOST(0x1000000));
	struct viommu_as *as = viommu_as_new(m, "as", root);
	struct viommu_mr *c[N], *extra = viommu_mr_new_container(m, "extra", 0x10000);
	uint64_t gen;

	T_EQ(viommu_mr_add_subregion(root, 0, ram, 0), 0);
	for (int i = 0; i < N; i++) {
		c[i] = viommu_mr_new_container(m, "c", 0x10000);
		if (i)
			T_EQ(viommu_mr_add_subregion(c[i], 0, c[i - 1], 0), 0);
	}
	/* c[N-1] is N levels tall: fine on its own, one too many under the root. */
	gen = viommu_memory_generation(m);
	T_EQ(viommu_mr_add_subregion(root, 0x8000, c[N - 1], 1), -ELOOP);
	T_EQ(errno, ELOOP);
	T_EQ_U64(viommu_memory_generation(m), gen);
	T_EQ(viommu_mr_del_subregion(root, c[N - 1]), -ENOENT);	/* undone */
	CHECK_VIEW(as, { 0, 0xfff, ram, 0 });
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x8000, c[N - 1], 1), 0);
	T_EQ(viommu_memory_commit(m), -ELOOP);
	CHECK_VIEW(as, { 0, 0xfff, ram, 0 });
	/* Fixing the tree lets the next commit through. */
	T_EQ(viommu_mr_del_subregion(c[1], c[0]), 0);
	T_EQ_U64(viommu_memory_generation(m), gen + 1);
	CHECK_VIEW(as, { 0, 0xfff, ram, 0 });
	/* A subtree that alone exceeds the limit is refused when added, without rendering. */
	{
		struct viommu_mr *prev = extra;
		int refused_at = -1;

		for (int i = 0; i < N + 2 && refused_at < 0; i++) {
			struct viommu_mr *top = viommu_mr_new_container(m, "d", 0x10000);

			if (viommu_mr_add_subregion(top, 0, prev, 0) == -ELOOP)
				refused_at = i;
			prev = top;
		}
		T_EQ(refused_at, VIOMMU_MEMORY_MAX_DEPTH + 1);
	}
	viommu_memory_free(m);
}

/* ---- accessors ---- */

struct mmio_dev {
	uint8_t regs[0x100];
	unsigned reads, writes;
};

static int mmio_read(void *opaque, uint64_t off, void *buf, size_t len)
{
	struct mmio_dev *d = opaque;

	d->reads++;
	if (off + len > sizeof(d->regs))
		return -EIO;
	memcpy(buf, d->regs + off, len);
	return 0;
}

static int mmio_write(void *opaque, uint64_t off, const void *buf, size_t len)
{
	struct mmio_dev *d = opaque;

	d->writes++;
	if (off + len > sizeof(d->regs))
		return -EIO;
	memcpy(d->regs + off, buf, len);
	return 0;
}

/* An IOMMU that maps input page n to output page n + 1 of the target, read-only for page 3. */
struct toy_iommu {
	struct viommu_as *target;
	unsigned calls;
};

static int toy_translate(void *opaque, uint64_t off, bool write, struct viommu_mr_iotlb *out)
{
	struct toy_iommu *t = opaque;

	t->calls++;
	if (off >= 0x8000)
		return -EFAULT;
	out->target = t->target;
	out->iova_first = off & ~UINT64_C(0xfff);
	out->iova_last = out->iova_first + 0xfff;
	out->target_first = out->iova_first + 0x1000;
	out->readable = true;
	out->writable = out->iova_first != 0x3000;
	(void)write;
	return 0;
}

static void test_accessors(void)
{
	struct viommu_memory *m = viommu_memory_new();
	static uint8_t ram_buf[0x4000], rom_buf[0x1000];
	struct mmio_dev dev = { 0 };
	static const struct viommu_mr_ops ops = { .sz = sizeof(ops), .read = mmio_read, .write = mmio_write };
	static const struct viommu_mr_ops ro_ops = { .sz = sizeof(ro_ops), .read = mmio_read };
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x100000);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "ram", sizeof(ram_buf), ram_buf);
	struct viommu_mr *rom = viommu_mr_new_ram(m, "rom", sizeof(rom_buf), rom_buf);
	struct viommu_mr *mmio = viommu_mr_new_mmio(m, "mmio", 0x100, &ops, &dev);
	struct viommu_mr *mmio_ro = viommu_mr_new_mmio(m, "mmio-ro", 0x100, &ro_ops, &dev);
	struct viommu_as *as = viommu_as_new(m, "sys", root);
	uint8_t b[0x40];
	void *host;
	uint64_t len;

	T_OK(viommu_mr_opaque(mmio) == &dev);
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x0, ram, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x4000, mmio, 0), 0);		/* right after RAM */
	T_EQ(viommu_mr_add_subregion(root, 0x8000, rom, 0), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x9000, mmio_ro, 0), 0);
	T_EQ(viommu_mr_set_readonly(rom, true), 0);
	T_EQ(viommu_memory_commit(m), 0);

	/* A write spanning RAM and MMIO lands in both. */
	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i + 1);
	T_EQ(viommu_as_write(as, 0x3ff0, b, 0x20), 0);
	T_EQ(ram_buf[0x3ff0], 1);
	T_EQ(ram_buf[0x3fff], 0x10);
	T_EQ(dev.regs[0], 0x11);
	T_EQ(dev.regs[0xf], 0x20);
	T_EQ(dev.writes, 1);
	memset(b, 0, sizeof(b));
	T_EQ(viommu_as_read(as, 0x3ff8, b, 0x10), 0);
	T_EQ(b[0], 9);
	T_EQ(b[8], 0x11);
	T_EQ(dev.reads, 1);
	/* Holes: nothing moves, not even the part before the hole. */
	dev.writes = 0;
	T_EQ(viommu_as_write(as, 0x40f8, b, 0x10), -EFAULT);
	T_EQ(dev.writes, 0);
	T_EQ(viommu_as_read(as, 0x7000, b, 1), -EFAULT);
	T_EQ(viommu_as_read(as, 0x100000, b, 1), -EFAULT);
	/* Read-only RAM and an MMIO region without a write callback. */
	rom_buf[5] = 0xab;
	T_EQ(viommu_as_read(as, 0x8005, b, 1), 0);
	T_EQ(b[0], 0xab);
	T_EQ(viommu_as_write(as, 0x8005, b, 1), -EACCES);
	T_EQ(errno, EACCES);
	T_EQ(viommu_as_write(as, 0x9000, b, 1), -EFAULT);
	T_EQ(viommu_as_read(as, 0x9000, b, 1), 0);
	/* Callback errors are returned as is. */
	T_EQ(viommu_as_read(as, 0x40ff, b, 2), -EFAULT);	/* 0x4100 is a hole */
	T_EQ(viommu_as_read(as, 0x4000, b, 0), 0);

	/* Map: contiguous length within the section. */
	T_EQ(viommu_as_map(as, 0x3000, 0x10000, false, &host, &len), 0);
	T_OK(host == ram_buf + 0x3000);
	T_EQ_U64(len, 0x1000);
	T_EQ(viommu_as_map(as, 0x3000, 0x10, true, &host, &len), 0);
	T_EQ_U64(len, 0x10);
	T_EQ(viommu_as_map(as, 0x4000, 0x10, false, &host, &len), -ENXIO);
	T_EQ(viommu_as_map(as, 0x7000, 0x10, false, &host, &len), -EFAULT);
	T_EQ(viommu_as_map(as, 0x8000, 0x10, true, &host, &len), -EACCES);
	T_EQ(viommu_as_map(as, 0x8000, 0, false, &host, &len), -EINVAL);

	/* An IOMMU region in a device address space translating into the system space. */
	struct toy_iommu t = { .target = as };
	static const struct viommu_mr_iommu_ops iops = { .sz = sizeof(iops), .translate = toy_translate };
	struct viommu_mr *dma_root = viommu_mr_new_container(m, "dma", 0);
	struct viommu_mr *iommu = viommu_mr_new_iommu(m, "iommu", 0x10000, &iops, &t);
	struct viommu_as *das = viommu_as_new(m, "dev", dma_root);

	T_EQ(viommu_mr_add_subregion(dma_root, 0, iommu, 0), 0);
	CHECK_VIEW(das, { 0, 0xffff, iommu, 0 });
	T_EQ(viommu_as_map(das, 0x10, 1, false, &host, &len), -ENXIO);
	memset(ram_buf, 0, sizeof(ram_buf));
	ram_buf[0x1ffe] = 7;
	ram_buf[0x2000] = 8;
	/* 0xffe..0x1001 crosses an IOTLB page: two translations, 0x1ffe.. and 0x2000.. in the target. */
	t.calls = 0;
	T_EQ(viommu_as_read(das, 0xffe, b, 4), 0);
	T_EQ(b[0], 7);
	T_EQ(b[2], 8);
	T_EQ(t.calls, 2);
	T_EQ(viommu_as_write(das, 0x3000, b, 1), -EACCES);	/* read-only translation */
	T_EQ(viommu_as_read(das, 0x9000, b, 1), -EFAULT);	/* translate fault */
	T_EQ(viommu_as_read(das, 0x6000, b, 1), -EFAULT);	/* target 0x7000 is a hole */
	viommu_memory_free(m);
}

/*
 * A windowed commit whose window overlaps more old sections (100) than the
 * render's scratch holds at first (64): the scratch grows, the view is
 * exact. Catches mutant render.c:925 `no + 1` => `no` (mutation round 1),
 * which writes one section past the scratch array.
 */
static void test_window_over_many(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "system", 0), *top;
	struct viommu_as *as;
	struct viommu_flatview *v;

	T_EQ(viommu_memory_begin(m), 0);
	for (unsigned i = 0; i < 100; i++) {
		struct viommu_mr *r = viommu_mr_new_ram(m, "r", 0x1000, (void *)(uintptr_t)(0x100000000 + i * 0x1000));

		T_OK(r != NULL);
		T_EQ(viommu_mr_add_subregion(root, 0x10000 + i * 0x2000, r, 0), 0);
	}
	T_EQ(viommu_memory_commit(m), 0);
	as = viommu_as_new(m, "as", root);
	T_OK(as != NULL);
	top = viommu_mr_new_ram(m, "top", 200 * 0x1000, (void *)(uintptr_t)0x200000000);
	T_OK(top != NULL);
	/* top covers all 100 at a higher priority; enabling it again renders a window over all 100 */
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_add_subregion(root, 0x10000, top, 1), 0);
	T_EQ(viommu_memory_commit(m), 0);
	for (unsigned k = 0; k < 3; k++) {
		T_EQ(viommu_memory_begin(m), 0);
		T_EQ(viommu_mr_set_enabled(top, false), 0);
		T_EQ(viommu_memory_commit(m), 0);
		T_EQ(viommu_memory_begin(m), 0);
		T_EQ(viommu_mr_set_enabled(top, true), 0);
		T_EQ(viommu_memory_commit(m), 0);
	}
	T_EQ(viommu_memory_begin(m), 0);
	T_EQ(viommu_mr_set_enabled(top, false), 0);
	T_EQ(viommu_memory_commit(m), 0);
	v = viommu_as_get_flatview(as);
	T_EQ(viommu_flatview_count(v), 100);
	for (size_t i = 0; i < 100 && i < viommu_flatview_count(v); i++) {
		const struct viommu_mr_section *sec = viommu_flatview_section(v, i);

		T_EQ_U64(sec->first, 0x10000 + i * 0x2000);
		T_EQ_U64(sec->last, 0x10000 + i * 0x2000 + 0xfff);
		T_EQ_U64(sec->offset, 0);
		T_EQ_U64((uintptr_t)sec->host, 0x100000000 + i * 0x1000);
		T_EQ(sec->kind, VIOMMU_MR_RAM);
		T_EQ(sec->readonly, false);
	}
	viommu_flatview_put(v);
	viommu_memory_free(m);
}

int main(void)
{
	test_overlap_example(false);
	test_overlap_example(true);
	test_pc_memory_map();
	test_same_priority();
	test_full_space();
	test_reach();
	test_api_edges();
	test_depth_limit();
	test_accessors();
	test_window_over_many();
	return t_done();
}
