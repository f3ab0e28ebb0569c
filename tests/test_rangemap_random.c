// SPDX-License-Identifier: MIT
/*
 * Randomised differential test of the range map against a sorted array: every
 * operation of include/viommu/rangemap.h, with exact results compared after
 * each one and vi_rangemap_check() run periodically. Address distributions
 * change by phase so the tree sees dense collisions near 0, the top of the
 * 64-bit space (closed ranges: last may be 2^64-1), huge
 * ranges, and sizes from one leaf up to a height-3 tree.
 */
#include <errno.h>
#include <viommu/rangemap.h>

#include "test.h"
#include "util/rangemap_internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#ifndef RANGEMAP_TEST_MIN_HEIGHT /* test_rangemap_small_nodes.c builds deeper trees */
#define RANGEMAP_TEST_MIN_HEIGHT 2
#endif

/*
 * Sanitizers make the model's memmoves slow: fewer ops and a smaller big
 * phase there (never below 10^6 ops).
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RANGEMAP_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(RANGEMAP_TEST_SANITIZED)
#define OPS_TOTAL 1000000ul
#define LARGE_TARGET 12000u
#else
#define OPS_TOTAL 1600000ul
#define LARGE_TARGET 20000u
#endif

/* ---- the model: a sorted array, searched by plain binary searches ---- */

struct model {
	struct viommu_range_entry *e;
	size_t n, cap;
};

/* Index of the first entry with last >= key (n if none). */
static size_t m_lb_last(const struct model *md, uint64_t key)
{
	size_t lo = 0, hi = md->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (md->e[mid].last < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first entry with first > key (n if none). */
static size_t m_ub_first(const struct model *md, uint64_t key)
{
	size_t lo = 0, hi = md->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (md->e[mid].first <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool m_overlaps(const struct viommu_range_entry *e, uint64_t a, uint64_t b)
{
	return e->first <= b && a <= e->last;
}

static int m_insert(struct model *md, uint64_t a, uint64_t b, uint64_t v)
{
	if (a > b)
		return -EINVAL;
	/* Overlap: the entry just before the insertion point by `first`, or the one at it. */
	size_t i = m_ub_first(md, a);
	if (i > 0 && m_overlaps(&md->e[i - 1], a, b))
		return -EEXIST;
	if (i < md->n && m_overlaps(&md->e[i], a, b))
		return -EEXIST;
	if (md->n == md->cap) {
		md->cap = md->cap ? md->cap * 2 : 1024;
		md->e = realloc(md->e, md->cap * sizeof(*md->e));
		if (!md->e)
			T_FATAL("oom");
	}
	memmove(&md->e[i + 1], &md->e[i], (md->n - i) * sizeof(*md->e));
	md->e[i] = (struct viommu_range_entry){ a, b, v };
	md->n++;
	return 0;
}

static void m_erase(struct model *md, size_t i, size_t j)
{
	memmove(&md->e[i], &md->e[j], (md->n - j) * sizeof(*md->e));
	md->n -= j - i;
}

/* Index of the entry containing addr, or n. */
static size_t m_find(const struct model *md, uint64_t addr)
{
	size_t i = m_ub_first(md, addr);
	if (i > 0 && md->e[i - 1].last >= addr)
		return i - 1;
	return md->n;
}

/* ---- address distributions ---- */

enum dist { D_DENSE, D_TOP, D_HUGE, D_MEDIUM, D_ENDS, D_LARGE, D_NR };

struct gen {
	struct t_rng r;
	enum dist d;
};

static uint64_t g_addr(struct gen *g)
{
	switch (g->d) {
	case D_DENSE:
		return t_rng_below(&g->r, 256);
	case D_TOP:
		return UINT64_MAX - t_rng_below(&g->r, 256);
	case D_HUGE:
		return t_rng_next(&g->r);
	case D_MEDIUM:
		return t_rng_below(&g->r, 1u << 20);
	case D_ENDS:
		return t_rng_below(&g->r, 2) ? t_rng_below(&g->r, 64) : UINT64_MAX - t_rng_below(&g->r, 64);
	case D_LARGE:
	default:
		return t_rng_below(&g->r, 1u << 26);
	}
}

static uint64_t g_len(struct gen *g)
{
	switch (g->d) {
	case D_DENSE:
	case D_TOP:
	case D_ENDS:
		return t_rng_below(&g->r, 8);
	case D_HUGE:
		return t_rng_below(&g->r, 4) ? t_rng_next(&g->r) >> t_rng_below(&g->r, 64) : t_rng_next(&g->r);
	case D_MEDIUM:
		return t_rng_below(&g->r, 2) ? t_rng_below(&g->r, 4) : t_rng_below(&g->r, 4096);
	case D_LARGE:
	default:
		return t_rng_below(&g->r, 64);
	}
}

/* A range [a, b]; sometimes reaching 0 or UINT64_MAX, rarely inverted. */
static void g_range(struct gen *g, uint64_t *a, uint64_t *b)
{
	uint64_t x = g_addr(g), len = g_len(g);

	*a = x;
	*b = len > UINT64_MAX - x ? UINT64_MAX : x + len;
	switch (t_rng_below(&g->r, 64)) {
	case 0: *a = 0; break;
	case 1: *b = UINT64_MAX; break;
	case 2: { uint64_t t = *a; *a = *b; *b = t; break; } /* inverted when len > 0 */
	default: break;
	}
}

/* ---- the comparison ---- */

struct collect {
	struct viommu_range_entry e[4096];
	size_t n;
	bool overflow;
};

static void collect_fn(const struct viommu_range_entry *e, void *ctx)
{
	struct collect *c = ctx;
	if (c->n < ARRAY_LEN(c->e))
		c->e[c->n++] = *e;
	else
		c->overflow = true;
}

static unsigned long mismatches;

#define CMP(cond, ...) do {							\
	if (!(cond)) {								\
		if (mismatches++ < 20) {					\
			fprintf(stderr, "op %lu: ", op);			\
			fprintf(stderr, __VA_ARGS__);				\
			fprintf(stderr, "\n");					\
		}								\
		T_OK(cond);							\
	}									\
} while (0)

static bool same(const struct viommu_range_entry *x, const struct viommu_range_entry *y)
{
	return x->first == y->first && x->last == y->last && x->value == y->value;
}

static unsigned long op;
/* What the run exercised, printed so a reviewer sees the mix is not degenerate. */
static unsigned long n_ins_ok, n_ins_exist, n_rm_ok, n_rmi_entries, n_found, max_height;
static size_t max_entries;

static void run_op(struct viommu_rangemap *m, struct model *md, struct gen *g, size_t target)
{
	struct viommu_range_entry got;
	uint64_t a, b, v;
	unsigned kind;
	bool ok;
	size_t i;

	/* Grow towards target, then churn around it. */
	unsigned ins_pct = md->n < target ? 75 : 35;

	if (t_rng_below(&g->r, 100) < ins_pct)
		kind = 0;
	else
		kind = 1 + (unsigned)t_rng_below(&g->r, 11);

	g_range(g, &a, &b);
	v = t_rng_next(&g->r);
	switch (kind) {
	case 0: { /* insert */
		int want = m_insert(md, a, b, v);
		int rc = viommu_rangemap_insert(m, a, b, v);
		CMP(rc == want, "insert [%#llx,%#llx] rc %d want %d", (unsigned long long)a,
		    (unsigned long long)b, rc, want);
		n_ins_ok += rc == 0;
		n_ins_exist += rc == -EEXIST;
		if (md->n > max_entries)
			max_entries = md->n;
		if (vi_rangemap_height(m) > max_height)
			max_height = vi_rangemap_height(m);
		break;
	}
	case 1: /* exact remove, mostly of an existing entry */
	case 2: {
		if (md->n && t_rng_below(&g->r, 4)) {
			i = t_rng_below(&g->r, md->n);
			a = md->e[i].first;
			b = md->e[i].last;
			if (t_rng_below(&g->r, 8) == 0) /* near miss */
				b = b == UINT64_MAX ? b - (b > a) : b + 1;
		}
		size_t j = m_lb_last(md, a);
		int want = (j < md->n && md->e[j].first == a && md->e[j].last == b) ? 0 : -ENOENT;
		uint64_t wv = want ? 0 : md->e[j].value, gv = 0;
		int rc = viommu_rangemap_remove(m, a, b, &gv);
		CMP(rc == want, "remove [%#llx,%#llx] rc %d want %d", (unsigned long long)a,
		    (unsigned long long)b, rc, want);
		if (!want) {
			CMP(gv == wv, "remove value");
			n_rm_ok++;
			m_erase(md, j, j + 1);
		}
		break;
	}
	case 3: { /* remove_inside: mostly local, rarely wide (it empties the map) */
		if (t_rng_below(&g->r, 512) == 0 && a <= b) {
			uint64_t w = t_rng_next(&g->r) >> t_rng_below(&g->r, 64);
			b = w > UINT64_MAX - a ? UINT64_MAX : a + w;
		} else if (t_rng_below(&g->r, 16) && (a == 0 || b == UINT64_MAX) && a <= b) {
			uint64_t x = g_addr(g), len = g_len(g);
			a = x;
			b = len > UINT64_MAX - x ? UINT64_MAX : x + len;
		}
		struct collect *c = calloc(1, sizeof(*c));
		long want = 0;
		size_t s = 0, e = 0;
		if (a <= b) {
			for (s = m_lb_last(md, a); s < md->n && md->e[s].first < a; s++)
				;
			for (e = s; e < md->n && md->e[e].last <= b; e++)
				;
			want = (long)(e - s);
		} else {
			want = -EINVAL;
		}
		long rc = viommu_rangemap_remove_inside(m, a, b, collect_fn, c);
		CMP(rc == want, "remove_inside [%#llx,%#llx] rc %ld want %ld", (unsigned long long)a,
		    (unsigned long long)b, rc, want);
		if (rc == want && want > 0) {
			if (!c->overflow) {
				CMP(c->n == (size_t)want, "remove_inside callbacks");
				for (size_t k = 0; k < c->n; k++)
					CMP(same(&c->e[k], &md->e[s + k]), "remove_inside entry %zu", k);
			}
			m_erase(md, s, e);
			n_rmi_entries += (unsigned long)want;
		}
		free(c);
		break;
	}
	case 4: { /* find */
		i = m_find(md, a);
		ok = viommu_rangemap_find(m, a, &got);
		CMP(ok == (i < md->n), "find %#llx", (unsigned long long)a);
		n_found += ok;
		if (ok && i < md->n)
			CMP(same(&got, &md->e[i]), "find entry");
		break;
	}
	case 5: { /* find_overlap */
		if (a > b)
			break;
		i = m_lb_last(md, a);
		bool want = i < md->n && md->e[i].first <= b;
		ok = viommu_rangemap_find_overlap(m, a, b, &got);
		CMP(ok == want, "find_overlap");
		if (ok && want)
			CMP(same(&got, &md->e[i]), "find_overlap entry");
		break;
	}
	case 6: { /* next */
		i = m_ub_first(md, a);
		ok = viommu_rangemap_next(m, a, &got);
		CMP(ok == (i < md->n), "next %#llx", (unsigned long long)a);
		if (ok && i < md->n)
			CMP(same(&got, &md->e[i]), "next entry");
		break;
	}
	case 7: { /* prev */
		i = m_lb_last(md, a);
		ok = viommu_rangemap_prev(m, a, &got);
		CMP(ok == (i > 0), "prev %#llx", (unsigned long long)a);
		if (ok && i > 0)
			CMP(same(&got, &md->e[i - 1]), "prev entry");
		break;
	}
	case 8: { /* iterate forward (bounded), then back */
		struct viommu_rangemap_iter it;
		size_t s = m_lb_last(md, a), k = 0;
		if (a > b) {
			CMP(!viommu_rangemap_iter_start(&it, m, a, b), "iter inverted");
			break;
		}
		ok = viommu_rangemap_iter_start(&it, m, a, b);
		for (; ok && k < 48; k++, ok = viommu_rangemap_iter_next(&it)) {
			CMP(s + k < md->n && md->e[s + k].first <= b, "iter too many");
			if (s + k >= md->n)
				break;
			CMP(same(&it.entry, &md->e[s + k]), "iter entry %zu", k);
			if (k == 2 && t_rng_below(&g->r, 2)) {
				uint64_t nv = t_rng_next(&g->r);
				viommu_rangemap_iter_set_value(&it, nv);
				md->e[s + k].value = nv;
				CMP(it.entry.value == nv, "iter_set_value entry");
			}
		}
		if (!ok)
			CMP(!(s + k < md->n && md->e[s + k].first <= b), "iter ended early at %zu", k);
		/* Walk back from where the cursor stands. */
		if (k > 0) {
			size_t at = s + k - (ok ? 0 : 1);
			size_t back = 0;
			while (back < 8 && viommu_rangemap_iter_prev(&it)) {
				back++;
				CMP(at >= back && same(&it.entry, &md->e[at - back]), "iter_prev entry");
			}
			if (back < 8)
				CMP(at - back == s, "iter_prev stopped at %zu, want %zu", at - back, s);
		}
		break;
	}
	case 9: { /* set_value */
		i = m_find(md, a);
		int rc = viommu_rangemap_set_value(m, a, v);
		CMP(rc == (i < md->n ? 0 : -ENOENT), "set_value");
		if (i < md->n)
			md->e[i].value = v;
		break;
	}
	case 10: { /* first / last / count */
		ok = viommu_rangemap_first(m, &got);
		CMP(ok == (md->n > 0) && (!ok || same(&got, &md->e[0])), "first");
		ok = viommu_rangemap_last(m, &got);
		CMP(ok == (md->n > 0) && (!ok || same(&got, &md->e[md->n - 1])), "last");
		CMP(viommu_rangemap_count(m) == md->n, "count");
		break;
	}
	default: /* 11: point probes at existing entries' edges */
		if (md->n) {
			i = t_rng_below(&g->r, md->n);
			uint64_t pts[4] = { md->e[i].first, md->e[i].last, md->e[i].first - 1, md->e[i].last + 1 };
			for (int q = 0; q < 4; q++) {
				size_t j = m_find(md, pts[q]);
				ok = viommu_rangemap_find(m, pts[q], &got);
				CMP(ok == (j < md->n) && (!ok || same(&got, &md->e[j])), "edge find");
			}
		}
		break;
	}
}

int main(void)
{
	struct gen g;
	struct model md = { 0 };
	struct viommu_rangemap *m = viommu_rangemap_new();
	uint64_t seed = t_seed("rangemap_random", 0x5eed0001);
	/* (distribution, target size, ops) phases, repeated until OPS_TOTAL. */
	static const struct { enum dist d; unsigned target; unsigned ops; } phases[] = {
		{ D_DENSE, 64, 40000 },	    { D_TOP, 64, 40000 },     { D_ENDS, 40, 20000 },
		{ D_HUGE, 2000, 60000 },    { D_MEDIUM, 3000, 80000 }, { D_LARGE, LARGE_TARGET, 120000 },
		{ D_DENSE, 200, 20000 },    { D_HUGE, 300, 40000 },
	};

	t_rng_init(&g.r, seed);
	T_OK(m != NULL);
	for (unsigned ph = 0; op < OPS_TOTAL; ph++) {
		unsigned k = ph % ARRAY_LEN(phases);
		g.d = phases[k].d;
		/* Keep entries from the previous phase sometimes, so distributions mix. */
		if (t_rng_below(&g.r, 3) == 0) {
			viommu_rangemap_clear(m);
			md.n = 0;
			T_EQ(viommu_rangemap_count(m), 0);
		}
		for (unsigned j = 0; j < phases[k].ops && op < OPS_TOTAL; j++, op++) {
			run_op(m, &md, &g, phases[k].target);
			if (op % 4096 == 0 || md.n < 40) {
				int rc = vi_rangemap_check(m);
				if (rc) {
					T_EQ(rc, 0);
					T_FATAL("invariant check failed at op %lu (line %d)", op, -rc);
				}
			}
		}
		T_EQ(vi_rangemap_check(m), 0);
		T_EQ(viommu_rangemap_count(m), md.n);
	}
	printf("ops %lu, mismatches %lu; inserted %lu, refused %lu, removed %lu + %lu inside, "
	       "finds hit %lu; max entries %zu, max height %lu\n", op, mismatches, n_ins_ok, n_ins_exist,
	       n_rm_ok, n_rmi_entries, n_found, max_entries, max_height);
	/* The mix must reach a multi-level tree and every outcome, or it proves little. */
	T_OK(max_height >= RANGEMAP_TEST_MIN_HEIGHT);
	T_OK(n_ins_exist > 1000 && n_rm_ok > 1000 && n_rmi_entries > 1000 && n_found > 1000);
	T_EQ(mismatches, 0);
	viommu_rangemap_free(m);
	free(md.e);
	return t_done();
}
