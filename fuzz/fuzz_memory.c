// SPDX-License-Identifier: MIT
/*
 * Fuzz target for memory transactions: input bytes become a stream of region
 * operations (create, add/del subregion, enable/readonly/unmergeable, resize,
 * move, alias offset, rename, free) grouped into transactions; after every
 * outermost commit the flat view, the delivered diff and a QEMU-style
 * listener's shadow are checked against the per-page model in
 * tests/memory_model.h (see test_memory_random.c for the properties).
 *
 * Every operation and commit also has a cost budget (memory_model.h): the
 * cycle and depth check may finish each region at most once, a render may
 * enter each distinct placement at most once per window. The corpus file
 * alias-tower (three levels of four aliases of one target, added to the
 * root) fails both budgets when the check or the render follows every
 * alias path, as they did (issue 17: 4^levels work).
 *
 * Input: a sequence of records { u8 sel; u32 a; u32 b; u32 c }. sel bit 7
 * toggles a transaction (begin if none is open, else commit) before the
 * operation; bit 6 makes the operation a no-op (so transactions can be empty).
 */
#include "fuzz.h"

#define MM_CHECK(c) FZ_CHECK(c)
#include "memory_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct mm_model mm;
	unsigned ops = 0;

	FZ_CHECK(mm_init(&mm, 256) == 0);
	while (fz_left(&in) && ops++ < 400) {
		uint8_t sel = fz_u8(&in);
		uint32_t a = fz_u32(&in), b = fz_u32(&in), c = fz_u32(&in);

		if (sel & 0x80) {
			if (mm.in_txn)
				mm_commit(&mm);
			else
				mm_begin(&mm);
		}
		if (!(sel & 0x40))
			mm_random_op(&mm, sel & 0x3f, a, b, c);
		if (!mm.in_txn)
			mm_check_commit(&mm);
	}
	if (mm.in_txn)
		mm_commit(&mm);
	mm_fini(&mm);
	return 0;
}
