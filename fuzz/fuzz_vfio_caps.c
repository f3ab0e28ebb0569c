// SPDX-License-Identifier: MIT
/*
 * The VFIO_IOMMU_GET_INFO decoder on arbitrary bytes, against a reference
 * decoder written here in the most literal way (a chain walk with every
 * bound as a 64-bit comparison). Both must agree on accept/reject and on
 * every decoded field; ASan catches any read outside the input.
 *
 * Input: byte 0 is the range capacity given to the decoder (0..7), the rest
 * is the reply.
 */
#include <errno.h>
#include <stdlib.h>

#include "fuzz.h"
#include "host/vfio_caps.h"

static uint64_t get(const uint8_t *p, size_t off, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[off + (size_t)i];
	return v;
}

struct ref { int ok; uint64_t pg; int has_pg, has_r, has_d, has_m; uint64_t d, nr, mpg, mmax; uint64_t r[64][2]; };

static void reference(const uint8_t *p, uint64_t len, struct ref *o)
{
	uint64_t argsz, flags, off, prev = 0;

	memset(o, 0, sizeof(*o));
	if (len < 24)
		return;
	argsz = get(p, 0, 4);
	flags = get(p, 4, 4);
	if (argsz < 24)
		return;
	if (argsz < len)
		len = argsz;
	if (flags & 1) {
		o->has_pg = 1;
		o->pg = get(p, 8, 8);
	}
	off = (flags & 2) ? get(p, 16, 4) : 0;
	while (off) {
		uint64_t id, next, end;

		if (off < 24 || off <= prev || off + 8 > len)
			return;
		id = get(p, off, 2);
		next = get(p, off + 4, 4);
		if (next && (next <= off || next > len))
			return;
		end = next ? next : len;
		if (id == 1 && !o->has_r) {
			uint64_t n;

			if (off + 16 > end)
				return;
			n = get(p, off + 8, 4);
			if (off + 16 + 16 * n > end)
				return;
			for (uint64_t i = 0; i < n; i++) {
				uint64_t s = get(p, off + 16 + 16 * i, 8), e = get(p, off + 24 + 16 * i, 8);

				if (s > e || (i && s <= get(p, off + 16 + 16 * (i - 1) + 8, 8)))
					return;
				if (i < 64) {
					o->r[i][0] = s;
					o->r[i][1] = e;
				}
			}
			o->has_r = 1;
			o->nr = n;
		} else if (id == 2 && !o->has_m) {
			/* MIGRATION: header, flags u32, pad u32, pgsize_bitmap u64, max bitmap u64 */
			if (off + 32 > end)
				return;
			o->has_m = 1;
			o->mpg = get(p, off + 16, 8);
			o->mmax = get(p, off + 24, 8);
		} else if (id == 3 && !o->has_d) {
			if (off + 12 > end)
				return;
			o->has_d = 1;
			o->d = get(p, off + 8, 4);
		}
		prev = off;
		off = next;
	}
	o->ok = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct viommu_host_iova_range r[8];
	struct vi_vfio_info info;
	static struct ref ref;
	uint32_t cap;
	uint8_t *copy;
	int ret;

	if (size < 1)
		return 0;
	cap = data[0] % 8;
	/* an exact-size heap copy so ASan sees any overrun */
	copy = calloc(1, size - 1 ? size - 1 : 1);
	FZ_CHECK(copy != NULL);
	memcpy(copy, data + 1, size - 1);
	ret = vi_vfio_parse_info(copy, size - 1, &info, r, cap);
	reference(copy, size - 1, &ref);
	FZ_CHECK((ret == 0) == (ref.ok == 1));
	FZ_CHECK(ret == 0 || ret == -EBADMSG);
	if (ret == 0) {
		FZ_CHECK(info.has_pgsizes == (bool)ref.has_pg && info.pgsizes == (ref.has_pg ? ref.pg : 0));
		FZ_CHECK(info.has_ranges == (bool)ref.has_r && info.nranges == ref.nr);
		FZ_CHECK(info.ncopied == (ref.nr < cap ? ref.nr : cap));
		for (uint32_t i = 0; i < info.ncopied; i++)
			FZ_CHECK(r[i].first == ref.r[i][0] && r[i].last == ref.r[i][1]);
		FZ_CHECK(info.has_dma_avail == (bool)ref.has_d && (!ref.has_d || info.dma_avail == ref.d));
		FZ_CHECK(info.has_migration == (bool)ref.has_m &&
			 (!ref.has_m || (info.mig_pgsizes == ref.mpg && info.mig_max_bitmap == ref.mmax)));
	}
	free(copy);
	return 0;
}
