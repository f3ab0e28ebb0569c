// SPDX-License-Identifier: MIT
/*
 * Model-based fuzz target of the IOMMU source's output index
 * (src/reconcile/out_index.c, an AVL interval tree): input bytes become
 * insert / remove / query / clear operations on small and edge-of-space
 * coordinates, each checked exactly against an unsorted array searched by
 * linear scans, with the tree's invariants (order, balance, heights, the
 * subtree maxima) checked after every operation. A query's answers must be
 * exactly the model's overlapping entries, in (output first, IOVA) order.
 */
#include <errno.h>

#include "reconcile/out_index.h"

#include "fuzz.h"

#define MODEL_MAX 256

struct entry { uint64_t of, ol, iova; };

struct model {
	struct entry e[MODEL_MAX];
	size_t n;
};

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
		return (b & 1) ? fz_u64(in) : 64 + (uint64_t)((b >> 1) & 31) * 8;
	}
}

static int before(const struct entry *a, const struct entry *b)
{
	return a->of != b->of ? a->of < b->of : a->iova < b->iova;
}

struct got {
	struct entry e[MODEL_MAX];
	size_t n;
};

static void collect(void *ctx, const struct vi_out_node *n)
{
	struct got *g = ctx;

	FZ_CHECK(g->n < MODEL_MAX);
	g->e[g->n++] = (struct entry){ n->out_first, n->out_last, n->iova };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct vi_out_index x = { 0 };
	static struct model md;
	static struct got g, want;

	md.n = 0;
	while (fz_left(&in)) {
		uint8_t op = fz_u8(&in);
		uint64_t a = coord(&in), b = coord(&in), c = coord(&in);
		size_t i;

		if (a > b) {
			uint64_t t = a;

			a = b;
			b = t;
		}
		switch (op % 5) {
		case 0:
		case 1: { /* insert [a, b] at IOVA c */
			int rc;

			for (i = 0; i < md.n; i++)
				if (md.e[i].of == a && md.e[i].iova == c)
					break;
			if (i == md.n && md.n == MODEL_MAX)
				break;
			rc = vi_out_index_insert(&x, a, b, c);
			if (i < md.n) {
				FZ_CHECK(rc == -EEXIST);
			} else {
				FZ_CHECK(rc == 0);
				md.e[md.n++] = (struct entry){ a, b, c };
			}
			break;
		}
		case 2: { /* remove a present key (chosen by c) or an absent one */
			bool found;

			if (md.n && (op & 8)) {
				i = c % md.n;
				a = md.e[i].of;
				c = md.e[i].iova;
			}
			for (i = 0; i < md.n; i++)
				if (md.e[i].of == a && md.e[i].iova == c)
					break;
			found = vi_out_index_remove(&x, a, c);
			FZ_CHECK(found == (i < md.n));
			if (found)
				md.e[i] = md.e[--md.n];
			break;
		}
		case 3: /* query [a, b] */
			g.n = 0;
			want.n = 0;
			vi_out_index_query(&x, a, b, collect, &g);
			for (i = 0; i < md.n; i++)
				if (md.e[i].of <= b && a <= md.e[i].ol)
					want.e[want.n++] = md.e[i];
			/* the model's answers in key order (insertion sort: small) */
			for (size_t k = 1; k < want.n; k++)
				for (size_t j = k; j > 0 && before(&want.e[j], &want.e[j - 1]); j--) {
					struct entry t = want.e[j];

					want.e[j] = want.e[j - 1];
					want.e[j - 1] = t;
				}
			FZ_CHECK(g.n == want.n);
			for (i = 0; i < g.n; i++)
				FZ_CHECK(g.e[i].of == want.e[i].of && g.e[i].ol == want.e[i].ol &&
					 g.e[i].iova == want.e[i].iova);
			break;
		default:
			if ((op & 0xf0) == 0xf0) {
				vi_out_index_clear(&x);
				md.n = 0;
			}
			break;
		}
		FZ_CHECK(x.n == md.n);
		FZ_CHECK(vi_out_index_valid(&x));
	}
	vi_out_index_clear(&x);
	return 0;
}
