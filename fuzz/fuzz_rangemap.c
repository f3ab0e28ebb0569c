// SPDX-License-Identifier: MIT
/*
 * Model-based fuzz target of the range map: input bytes become a stream of
 * insert / remove / remove_inside / find / find_overlap / next / prev /
 * iterate / set_value / clear operations on small and edge-of-space
 * coordinates, each checked exactly against a sorted array searched by plain
 * linear scans, with vi_rangemap_check() after every operation.
 *
 * The map's source is compiled in here with 4-slot nodes so that a few dozen
 * entries already make a tree of several levels: every split, borrow, merge
 * and root change is reachable from small inputs. (The definitions here take
 * precedence; the archive's copy of rangemap.o is then never linked.)
 */
#define VI_RM_LEAF_CAP 4
#define VI_RM_INNER_CAP 4
#define VI_RM_CHUNK_MAX 4
#define VI_RM_SWEEP_EVERY 1
#include "../src/util/rangemap.c"

#include "fuzz.h"

#define MODEL_MAX 512

struct model {
	struct viommu_range_entry e[MODEL_MAX];
	size_t n;
};

static bool ov(const struct viommu_range_entry *e, uint64_t a, uint64_t b)
{
	return e->first <= b && a <= e->last;
}

static bool same(const struct viommu_range_entry *x, const struct viommu_range_entry *y)
{
	return x->first == y->first && x->last == y->last && x->value == y->value;
}

/* Small numbers, the top of the space, and a few arbitrary 64-bit values. */
static uint64_t coord(struct fz_in *in)
{
	uint8_t b = fz_u8(in);

	switch (b >> 6) {
	case 0:
	case 1:
		return b & 0x3f;
	case 2:
		return UINT64_MAX - (b & 0x3f);
	default:
		switch (b & 3) {
		case 0: return (UINT64_C(1) << 63) - 8 + ((b >> 2) & 15);
		case 1: return fz_u64(in);
		default: return 64 + ((b >> 2) & 15) * 4; /* just above the small ones */
		}
	}
}

static void collect(const struct viommu_range_entry *e, void *ctx)
{
	struct model *c = ctx;
	FZ_CHECK(c->n < MODEL_MAX);
	c->e[c->n++] = *e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct viommu_rangemap *m = viommu_rangemap_new();
	static struct model md, got;
	struct viommu_range_entry e;
	uint64_t vcount = 1;

	FZ_CHECK(m);
	md.n = 0;
	while (fz_left(&in)) {
		uint8_t op = fz_u8(&in);
		uint64_t a = coord(&in), b = coord(&in);
		size_t i, j;
		bool ok;

		switch (op % 12) {
		case 0:
		case 1:
		case 2: { /* insert (weighted so trees grow) */
			uint64_t v = vcount++;
			int want = 0;
			if (a > b)
				want = -EINVAL;
			for (i = 0; !want && i < md.n; i++)
				if (ov(&md.e[i], a, b))
					want = -EEXIST;
			if (!want && md.n == MODEL_MAX)
				break;
			FZ_CHECK(viommu_rangemap_insert(m, a, b, v) == want);
			if (!want) {
				for (i = 0; i < md.n && md.e[i].first < a; i++)
					;
				memmove(&md.e[i + 1], &md.e[i], (md.n - i) * sizeof(e));
				md.e[i] = (struct viommu_range_entry){ a, b, v };
				md.n++;
			}
			break;
		}
		case 3: { /* exact remove; op's high bits pick an existing entry */
			if (md.n && (op & 0x80)) {
				i = (op >> 4 & 7) % md.n;
				a = md.e[i].first;
				b = md.e[i].last;
			}
			uint64_t v = 0;
			for (i = 0; i < md.n && !(md.e[i].first == a && md.e[i].last == b); i++)
				;
			int rc = viommu_rangemap_remove(m, a, b, &v);
			if (i < md.n) {
				FZ_CHECK(rc == 0 && v == md.e[i].value);
				memmove(&md.e[i], &md.e[i + 1], (md.n - i - 1) * sizeof(e));
				md.n--;
			} else {
				FZ_CHECK(rc == -ENOENT);
			}
			break;
		}
		case 4: { /* remove_inside */
			got.n = 0;
			long rc = viommu_rangemap_remove_inside(m, a, b, collect, &got);
			if (a > b) {
				FZ_CHECK(rc == -EINVAL && got.n == 0);
				break;
			}
			size_t k = 0;
			for (i = j = 0; i < md.n; i++) {
				if (md.e[i].first >= a && md.e[i].last <= b) {
					FZ_CHECK(k < got.n && same(&got.e[k], &md.e[i]));
					k++;
				} else {
					md.e[j++] = md.e[i];
				}
			}
			FZ_CHECK(rc == (long)k && got.n == k);
			md.n = j;
			break;
		}
		case 5: { /* find, at a and at b */
			uint64_t pts[2] = { a, b };
			for (int q = 0; q < 2; q++) {
				for (i = 0; i < md.n && !ov(&md.e[i], pts[q], pts[q]); i++)
					;
				ok = viommu_rangemap_find(m, pts[q], &e);
				FZ_CHECK(ok == (i < md.n));
				if (ok)
					FZ_CHECK(same(&e, &md.e[i]));
			}
			break;
		}
		case 6: /* find_overlap */
			for (i = 0; i < md.n && !ov(&md.e[i], a, b); i++)
				;
			ok = viommu_rangemap_find_overlap(m, a, b, &e);
			FZ_CHECK(ok == (a <= b && i < md.n));
			if (ok)
				FZ_CHECK(same(&e, &md.e[i]));
			break;
		case 7: /* next */
			for (i = 0; i < md.n && md.e[i].first <= a; i++)
				;
			ok = viommu_rangemap_next(m, a, &e);
			FZ_CHECK(ok == (i < md.n));
			if (ok)
				FZ_CHECK(same(&e, &md.e[i]));
			break;
		case 8: /* prev */
			for (i = md.n; i > 0 && md.e[i - 1].last >= a; i--)
				;
			ok = viommu_rangemap_prev(m, a, &e);
			FZ_CHECK(ok == (i > 0));
			if (ok)
				FZ_CHECK(same(&e, &md.e[i - 1]));
			break;
		case 9: { /* iterate [a, b] forwards, set a value, then all the way back */
			struct viommu_rangemap_iter it;
			size_t idx[MODEL_MAX], k = 0, n = 0;
			for (i = 0; i < md.n; i++)
				if (a <= b && ov(&md.e[i], a, b))
					idx[n++] = i;
			viommu_rangemap_for_each(&it, m, a, b) {
				FZ_CHECK(k < n && same(&it.entry, &md.e[idx[k]]));
				if (k == (op >> 4)) {
					viommu_rangemap_iter_set_value(&it, vcount);
					FZ_CHECK(it.entry.value == vcount);
					md.e[idx[k]].value = vcount++;
				}
				k++;
			}
			FZ_CHECK(k == n);
			if (n) {
				/* The cursor stayed on the last entry. */
				FZ_CHECK(same(&it.entry, &md.e[idx[n - 1]]));
				while (viommu_rangemap_iter_prev(&it)) {
					FZ_CHECK(k > 1 && same(&it.entry, &md.e[idx[k - 2]]));
					k--;
				}
				FZ_CHECK(k == 1);
			}
			break;
		}
		case 10: { /* set_value, first/last, count */
			for (i = 0; i < md.n && !ov(&md.e[i], a, a); i++)
				;
			FZ_CHECK(viommu_rangemap_set_value(m, a, vcount) == (i < md.n ? 0 : -ENOENT));
			if (i < md.n)
				md.e[i].value = vcount;
			vcount++;
			ok = viommu_rangemap_first(m, &e);
			FZ_CHECK(ok == (md.n > 0) && (!ok || same(&e, &md.e[0])));
			ok = viommu_rangemap_last(m, &e);
			FZ_CHECK(ok == (md.n > 0) && (!ok || same(&e, &md.e[md.n - 1])));
			break;
		}
		default: /* clear, rarely */
			if ((op & 0xf0) == 0xf0) {
				viommu_rangemap_clear(m);
				md.n = 0;
			}
			break;
		}
		FZ_CHECK(viommu_rangemap_count(m) == md.n);
		FZ_CHECK(vi_rangemap_check(m) == 0);
	}
	viommu_rangemap_free(m);
	return 0;
}
