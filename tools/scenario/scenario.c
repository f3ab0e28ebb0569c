// SPDX-License-Identifier: MIT
/*
 * The scenario interpreter (docs/scenario.md), a tool: the lines of a
 * scenario file drive the memory model, the reconciler and host backends.
 * Scenario files are user input: every problem is a "FILE:LINE: reason"
 * error, nothing is printed, and loops, names, sizes and region counts are
 * bounded.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <viommu/memory.h>

#include "scenario/scenario.h"
#include "util/compiler.h"
#include "util/num.h"

#define MAX_TOKENS 16
#define NAME_MAX_LEN 63
#define FAKE_HOST_BASE 0x100000000000ull	/* 2^44: fake host addresses for simulated runs */
#define GIB 0x40000000ull

struct region {
	char name[NAME_MAX_LEN + 1];
	struct viommu_mr *mr;
	enum viommu_mr_kind kind;
	void *host;		/* RAM and RAM device */
	void *mmap_base;	/* real memory to unmap at the end (NULL if fake) */
	uint64_t mmap_len;
};

struct loop {
	size_t body;		/* index of the first line of the body */
	uint64_t count, i;
	char var[16];
};

struct line { const char *p; size_t n; };

/* One run of the interpreter: the file's lines, where it is, and what it drives. */
struct interp {
	const char *name;
	struct line *lines;
	size_t nlines;
	const struct vi_scn_opts *o;
	struct vi_scn_result *res;
	char *err;
	size_t errlen;
	unsigned lineno;	/* 1-based, of the line being executed */

	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_as *as;
	struct viommu_recon *r;
	struct viommu_recon_opts ropts;
	struct viommu_host *hosts[VI_SCN_MAX_BACKENDS];
	int nhosts;
	const char *file_backend;	/* from a `backend` line */
	char file_backend_buf[64];
	bool fake_host;
	uint64_t next_fake;

	struct region *regs;
	size_t nregs, regcap;
	uint32_t *hash;		/* open addressing: index + 1, 0 = empty */
	size_t hashcap;

	uint64_t extents;	/* host mappings the regions may imply (see VI_SCN_MAX_EXTENTS) */
	struct loop loops[VI_SCN_MAX_DEPTH];
	int nloops;
	int txn;		/* open begin blocks */
	struct viommu_recon_stats last;	/* at the previous commit */
	uint64_t reports;

	/*
	 * Where the current commit changed the view: the union of its diff
	 * entries (a listener on the address space); with each backend's host
	 * calls since the last check (the simulator's timeline), what the
	 * per-commit check covers.
	 */
	struct viommu_memory_listener diff_l;
	bool changed;
	uint64_t chg_first, chg_last;
	uint64_t seen_seq[VI_SCN_MAX_BACKENDS];	/* last host call checked, per backend */
	unsigned granule_line;	/* of the `granule` line (0: none) */
	unsigned backend_line;	/* of the `backend` line (0: none) */
};

static int fail(struct interp *s, int rc, const char *fmt, ...)
{
	va_list ap;
	int n = s->lineno ? snprintf(s->err, s->errlen, "%s:%u: ", s->name, s->lineno)
			  : snprintf(s->err, s->errlen, "%s: ", s->name);

	if (n >= 0 && (size_t)n < s->errlen) {
		va_start(ap, fmt);
		vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* A failed expectation or check: the first is kept in the result, each one goes to on_failure. */
static void failed(struct interp *s, const char *fmt, ...)
{
	char msg[sizeof(s->res->first_failure)];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "%s:%u: ", s->name, s->lineno);

	if (n >= 0 && (size_t)n < sizeof(msg)) {
		va_start(ap, fmt);
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (!s->res->first_failure[0])
		memcpy(s->res->first_failure, msg, sizeof(msg));
	if (s->o->on_failure)
		s->o->on_failure(s->o->ctx, msg);
}

#define expect_failed(s, ...) ((s)->res->expects_failed++, failed(s, __VA_ARGS__))

/* ---- numbers (src/util/num.h), combined with + - * ( ) ---- */

struct expr { const char *p; bool bad; };

static uint64_t expr_sum(struct expr *e);

static void skip_sp(struct expr *e)
{
	while (*e->p == ' ')
		e->p++;
}

static uint64_t expr_term(struct expr *e)
{
	uint64_t v = 0;

	skip_sp(e);
	if (*e->p == '(') {
		e->p++;
		v = expr_sum(e);
		skip_sp(e);
		if (*e->p != ')')
			e->bad = true;
		else
			e->p++;
		return v;
	}
	/* the one number parser of the library and its tools (src/util/num.h) */
	if (!vi_parse_number(&e->p, &v))
		e->bad = true;
	return v;
}

static uint64_t expr_product(struct expr *e)
{
	uint64_t v = expr_term(e);

	for (;;) {
		skip_sp(e);
		if (*e->p != '*')
			return v;
		e->p++;
		uint64_t w = expr_term(e);
		if (w && v > UINT64_MAX / w)
			e->bad = true;
		v *= w;
	}
}

static uint64_t expr_sum(struct expr *e)
{
	uint64_t v = expr_product(e);

	for (;;) {
		skip_sp(e);
		if (*e->p == '+') {
			e->p++;
			uint64_t w = expr_product(e);
			if (v > UINT64_MAX - w)
				e->bad = true;
			v += w;
		} else if (*e->p == '-') {
			e->p++;
			uint64_t w = expr_product(e);
			if (w > v)
				e->bad = true;
			v -= w;
		} else {
			return v;
		}
	}
}

static int parse_num(struct interp *s, const char *tok, const char *what, uint64_t *out)
{
	struct expr e = { tok, false };
	uint64_t v = expr_sum(&e);

	if (e.bad || *e.p)
		return fail(s, -EINVAL, "bad %s '%s' (a number, K/M/G/T suffix, + - * and parentheses)", what, tok);
	*out = v;
	return 0;
}

/* ---- tokens, with {var} replaced by the loop index ---- */

/* The value of repeat variable @name (@len bytes), innermost first. */
static int loop_var(struct interp *s, const char *name, size_t len, uint64_t *v)
{
	for (int k = s->nloops - 1; k >= 0; k--)
		if (strlen(s->loops[k].var) == len && !memcmp(s->loops[k].var, name, len)) {
			*v = s->loops[k].i;
			return 0;
		}
	return fail(s, -EINVAL, "'%.*s' is not a repeat variable here", (int)len, name);
}

/*
 * Replace each {EXPR} by its decimal value; EXPR is a number expression in
 * which repeat variables may appear ({i}, {i*2+1}, {j*64+i}).
 */
static int substitute(struct interp *s, const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '{') {
			char ex[128];
			size_t j = i + 1, e = 0;

			if (!memchr(in + i, '}', n - i))
				return fail(s, -EINVAL, "unterminated '{'");
			uint64_t v = 0;
			int w, rc;
			while (j < n && in[j] != '}') {
				if (isdigit((unsigned char)in[j])) {
					/* a number, its 0x prefix and K/M/G/T suffix included ({4K}, {0x1000}) */
					size_t k = j;

					if (in[k] == '0' && k + 1 < n && (in[k + 1] == 'x' || in[k + 1] == 'X'))
						for (k += 2; k < n && isxdigit((unsigned char)in[k]); k++)
							;
					else
						for (; k < n && isdigit((unsigned char)in[k]); k++)
							;
					if (k < n && strchr("KMGTkmgt", in[k]))
						k++;
					if (e + (k - j) + 1 >= sizeof(ex))
						return fail(s, -EINVAL, "expression too long");
					memcpy(ex + e, in + j, k - j);
					e += k - j;
					j = k;
					continue;
				}
				if (isalpha((unsigned char)in[j]) || in[j] == '_') {
					size_t k = j;
					uint64_t var = 0;
					while (k < n && (isalnum((unsigned char)in[k]) || in[k] == '_'))
						k++;
					if ((rc = loop_var(s, in + j, k - j, &var)))
						return rc;
					w = snprintf(ex + e, sizeof(ex) - e, "%llu", (unsigned long long)var);
					if (w < 0 || (size_t)w >= sizeof(ex) - e)
						return fail(s, -EINVAL, "expression too long");
					e += (size_t)w;
					j = k;
					continue;
				}
				if (e + 1 >= sizeof(ex))
					return fail(s, -EINVAL, "expression too long");
				ex[e++] = in[j++];
			}
			if (j == n)
				return fail(s, -EINVAL, "unterminated '{'");
			ex[e] = 0;
			if ((rc = parse_num(s, ex, "expression", &v)))
				return rc;
			w = snprintf(out + o, cap - o, "%llu", (unsigned long long)v);
			if (w < 0 || (size_t)w >= cap - o)
				return fail(s, -EINVAL, "line too long");
			o += (size_t)w;
			i = j;
			continue;
		}
		if (o + 1 >= cap)
			return fail(s, -EINVAL, "line too long");
		out[o++] = in[i];
	}
	out[o] = 0;
	return 0;
}

static int tokenize(char *buf, char **tok)
{
	int n = 0;
	char *p = buf;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == MAX_TOKENS)
			return -1;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
			p++;
		if (*p == '#') {
			*p = 0;
			return n;
		}
		if (*p)
			*p++ = 0;
	}
}

/* ---- regions by name ---- */

static uint64_t name_hash(const char *n)
{
	uint64_t h = 1469598103934665603ull;

	while (*n)
		h = (h ^ (unsigned char)*n++) * 1099511628211ull;
	return h;
}

static struct region *find_region(struct interp *s, const char *name)
{
	if (!s->hashcap)
		return NULL;
	for (size_t k = name_hash(name) & (s->hashcap - 1);; k = (k + 1) & (s->hashcap - 1)) {
		uint32_t v = s->hash[k];
		if (!v)
			return NULL;
		if (!strcmp(s->regs[v - 1].name, name))
			return &s->regs[v - 1];
	}
}

static int hash_insert(struct interp *s, size_t idx)
{
	if ((s->nregs + 1) * 2 > s->hashcap) {
		size_t nc = s->hashcap ? s->hashcap * 2 : 64;
		uint32_t *nh = calloc(nc, sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		free(s->hash);
		s->hash = nh;
		s->hashcap = nc;
		for (size_t i = 0; i < s->nregs; i++)
			if (i != idx)
				for (size_t k = name_hash(s->regs[i].name) & (nc - 1);; k = (k + 1) & (nc - 1))
					if (!nh[k]) {
						nh[k] = (uint32_t)i + 1;
						break;
					}
	}
	for (size_t k = name_hash(s->regs[idx].name) & (s->hashcap - 1);; k = (k + 1) & (s->hashcap - 1))
		if (!s->hash[k]) {
			s->hash[k] = (uint32_t)idx + 1;
			return 0;
		}
}

static int valid_name(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > NAME_MAX_LEN || !strcmp(n, "root"))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("_-.:/[]", n[i]))
			return 0;
	return 1;
}

static struct region *need_region(struct interp *s, const char *name)
{
	struct region *g = find_region(s, name);

	if (!g)
		fail(s, -EINVAL, "no region '%s'", name);
	return g;
}

/* ---- backends ---- */

/* The library's log while a backend is being opened: its last warning is the reason for a refusal. */
static char open_log[256];

static void capture_log(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= VIOMMU_LOG_WARN)
		snprintf(open_log, sizeof(open_log), "%s", msg);
}

static int open_backend(struct interp *s, const char *spec, struct viommu_host **out)
{
	char buf[VI_SCN_SPEC_MAX];
	const char *cdev = getenv("VIOMMU_IOMMUFD_CDEV");

	if (s->o->sim_only && strncmp(spec, "sim:", 4))
		return fail(s, -EPERM, "only simulated backends here, not '%s'", spec);
	/* the tool, not the library, reads the environment */
	if (!strcmp(spec, "iommufd") && cdev && *cdev) {
		if ((size_t)snprintf(buf, sizeof(buf), "iommufd:%s", cdev) >= sizeof(buf))
			return fail(s, -EINVAL, "VIOMMU_IOMMUFD_CDEV is too long");
		spec = buf;
	}
	open_log[0] = 0;
	viommu_set_log(capture_log, NULL, VIOMMU_LOG_WARN);
	*out = viommu_host_open_spec(spec);
	viommu_set_log(s->o->log, s->o->log_ctx, s->o->log_level);
	if (!*out && errno == EINVAL && open_log[0])
		return fail(s, -EINVAL, "%s", open_log);
	if (!*out)
		return fail(s, -errno, "cannot open backend '%s': %s", spec, strerror(errno));
	return 0;
}

static void on_report(void *ctx, const struct viommu_recon_report *r)
{
	struct interp *s = ctx;

	s->reports++;
	if (s->o->on_report)
		s->o->on_report(s->o->ctx, s->lineno, r);
}

static void widen(bool *any, uint64_t *lo, uint64_t *hi, uint64_t first, uint64_t last)
{
	if (!*any || first < *lo)
		*lo = first;
	if (!*any || last > *hi)
		*hi = last;
	*any = true;
}

static void on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d, size_t n)
{
	struct interp *s = l->opaque;

	(void)as;
	for (size_t i = 0; i < n; i++)
		if (d[i].changed)
			widen(&s->changed, &s->chg_first, &s->chg_last, d[i].first, d[i].last);
}

/* The model, the reconciler and the first backend come up at the first line that needs them. */
static int ensure_started(struct interp *s)
{
	const char *spec;
	int rc;

	if (s->r)
		return 0;
	spec = s->o->backend ? s->o->backend : s->file_backend ? s->file_backend : "sim:type1v2";
	s->fake_host = !strncmp(spec, "sim:", 4);
	for (size_t i = 0; i < s->nlines && s->fake_host; i++) {
		const char *p = s->lines[i].p, *e = p + s->lines[i].n;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		size_t len = (size_t)(e - p);
		if (len >= 7 && !memcmp(p, "attach ", 7) && (len < 11 || memcmp(p + 7, "sim:", 4)))
			s->fake_host = false;	/* a real backend later needs real memory */
	}
	s->next_fake = FAKE_HOST_BASE;
	snprintf(s->res->backend, sizeof(s->res->backend), "%s", spec);
	if (s->o->policy >= 0)
		s->ropts.policy = (enum viommu_recon_policy)s->o->policy;
	s->res->policy = (int)s->ropts.policy;
	s->ropts.sz = sizeof(s->ropts);
	s->ropts.report = on_report;
	s->ropts.report_ctx = s;
	s->m = viommu_memory_new();
	s->root = s->m ? viommu_mr_new_container(s->m, "root", 0) : NULL;
	s->as = s->root ? viommu_as_new(s->m, "system", s->root) : NULL;
	if (!s->as)
		return fail(s, -ENOMEM, "out of memory");
	s->diff_l = (struct viommu_memory_listener){ .sz = sizeof(s->diff_l), .as = s->as, .opaque = s,
						     .diff = on_diff };
	if ((rc = viommu_memory_listener_register(s->m, &s->diff_l)))
		return fail(s, rc, "cannot listen to the view: %s", strerror(-rc));
	s->r = viommu_recon_new(s->m, s->as, &s->ropts);
	if (!s->r)
		return fail(s, -errno, "cannot create the reconciler: %s", strerror(errno));
	{
		/* a bad --backend is the command line's fault, a bad `backend` line that line's */
		unsigned at = s->lineno;

		s->lineno = s->o->backend ? 0 : s->file_backend ? s->backend_line : at;
		rc = open_backend(s, spec, &s->hosts[0]);
		if (rc)
			return rc;
		s->lineno = at;
	}
	s->nhosts = 1;
	if ((rc = viommu_recon_attach(s->r, s->hosts[0]))) {
		if (rc == -EINVAL && s->granule_line)
			s->lineno = s->granule_line;	/* the granule is what the backend refused */
		return fail(s, rc, "cannot attach backend '%s': %s%s", spec, strerror(-rc),
			    rc == -EINVAL ? " (is the granule a power of two and at least the backend's page?)" : "");
	}
	{
		struct viommu_host_caps caps = { .sz = sizeof(caps) };
		s->res->budget_total = viommu_host_get_caps(s->hosts[0], &caps) ? UINT64_MAX : caps.max_mappings;
	}
	s->last.sz = sizeof(s->last);
	viommu_recon_get_stats(s->r, NULL, &s->last);
	return 0;
}

static int new_host_memory(struct interp *s, uint64_t size, uint64_t host_offset, void **host, void **base,
			   uint64_t *mlen)
{
	*mlen = 0;
	*base = NULL;
	if (s->fake_host) {
		uint64_t span = ((size + GIB - 1) & ~(GIB - 1)) + GIB;
		if (size > (1ull << 52) || s->next_fake > UINT64_MAX - span - (1ull << 52))
			return fail(s, -E2BIG, "host memory of the scenario passes 2^64");
		*host = (void *)(uintptr_t)(s->next_fake + host_offset);
		s->next_fake += span;
		return 0;
	} else {
		void *p;
		if (size > (1ull << 46) - host_offset)
			return fail(s, -E2BIG, "region too large for real memory");
		p = mmap(NULL, size + host_offset, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
		if (p == MAP_FAILED)
			return fail(s, -errno, "cannot allocate %llu bytes: %s", (unsigned long long)size, strerror(errno));
		*host = (char *)p + host_offset;
		*base = p;
		*mlen = size + host_offset;
		return 0;
	}
}

/* ---- commands ---- */

static int want_args(struct interp *s, int n, int lo, int hi, const char *usage)
{
	if (n < lo || n > hi)
		return fail(s, -EINVAL, "usage: %s", usage);
	return 0;
}

static int on_off(struct interp *s, const char *t, bool *out)
{
	if (!strcmp(t, "on"))
		*out = true;
	else if (!strcmp(t, "off"))
		*out = false;
	else
		return fail(s, -EINVAL, "expected on or off, not '%s'", t);
	return 0;
}

static int mem_rc(struct interp *s, int rc, const char *what)
{
	if (rc)
		return fail(s, rc, "%s failed: %s", what, strerror(-rc));
	return 0;
}

static int cmd_region(struct interp *s, int n, char **t)
{
	enum viommu_mr_kind kind;
	struct region g = { 0 };
	uint64_t size = 0, off = 0, host_offset = 0;
	struct viommu_mr *target = NULL;	/* not a struct region *: the array may move */
	bool ro = false, unm = false;
	int first_opt, rc;
	static const struct viommu_mr_ops mmio_ops = { .sz = sizeof(mmio_ops) };

	if (!strcmp(t[0], "ram"))
		kind = VIOMMU_MR_RAM;
	else if (!strcmp(t[0], "ramdev"))
		kind = VIOMMU_MR_RAM_DEVICE;
	else if (!strcmp(t[0], "mmio"))
		kind = VIOMMU_MR_MMIO;
	else if (!strcmp(t[0], "container"))
		kind = VIOMMU_MR_CONTAINER;
	else
		kind = VIOMMU_MR_ALIAS;
	if (kind == VIOMMU_MR_ALIAS) {
		if ((rc = want_args(s, n, 5, 5, "alias NAME TARGET OFFSET SIZE")))
			return rc;
		struct region *tg = need_region(s, t[2]);
		if (!tg)
			return -EINVAL;
		target = tg->mr;
		if ((rc = parse_num(s, t[3], "offset", &off)) || (rc = parse_num(s, t[4], "size", &size)))
			return rc;
		first_opt = 5;
	} else {
		if ((rc = want_args(s, n, 3, 6, "ram|ramdev|mmio|container NAME SIZE [readonly] [unmergeable] [host-offset=N]")))
			return rc;
		if ((rc = parse_num(s, t[2], "size", &size)))
			return rc;
		first_opt = 3;
	}
	for (int i = first_opt; i < n; i++) {
		if (!strcmp(t[i], "readonly"))
			ro = true;
		else if (!strcmp(t[i], "unmergeable"))
			unm = true;
		else if (!strncmp(t[i], "host-offset=", 12) && (kind == VIOMMU_MR_RAM || kind == VIOMMU_MR_RAM_DEVICE)) {
			if ((rc = parse_num(s, t[i] + 12, "host offset", &host_offset)))
				return rc;
			if (host_offset >= GIB)
				return fail(s, -EINVAL, "host-offset must be below 1G");
		} else {
			return fail(s, -EINVAL, "unknown option '%s'", t[i]);
		}
	}
	if (!valid_name(t[1]))
		return fail(s, -EINVAL, "bad region name '%s' (1-%d of A-Z a-z 0-9 _-.:/[], not 'root')", t[1],
			    NAME_MAX_LEN);
	if (find_region(s, t[1]))
		return fail(s, -EEXIST, "region '%s' exists", t[1]);
	if (s->nregs == VI_SCN_MAX_REGIONS)
		return fail(s, -E2BIG, "more than %d regions", VI_SCN_MAX_REGIONS);
	if ((rc = ensure_started(s)))
		return rc;
	if (s->nregs == s->regcap) {
		size_t nc = s->regcap ? s->regcap * 2 : 64;
		struct region *nr = realloc(s->regs, nc * sizeof(*nr));
		if (!nr)
			return fail(s, -ENOMEM, "out of memory");
		s->regs = nr;
		s->regcap = nc;
	}
	snprintf(g.name, sizeof(g.name), "%s", t[1]);
	g.kind = kind;
	switch (kind) {
	case VIOMMU_MR_RAM:
	case VIOMMU_MR_RAM_DEVICE: {
		/*
		 * A granule cuts every host mapping: bound the mappings a file can
		 * ask for (each region is at least one; aliases add none of their own).
		 */
		uint64_t gran = s->ropts.extent_granule;
		uint64_t lim = s->o->max_extents ? s->o->max_extents : VI_SCN_MAX_EXTENTS;
		uint64_t cost = gran ? size / gran + 1 : 1;
		if (size == 0)
			return fail(s, -EINVAL, "RAM needs a size");
		if (cost > lim || s->extents + cost > lim)
			return fail(s, -E2BIG, "regions would need more than %llu host mappings at granule %llu",
				    (unsigned long long)lim, (unsigned long long)gran);
		s->extents += cost;
		if ((rc = new_host_memory(s, size, host_offset, &g.host, &g.mmap_base, &g.mmap_len)))
			return rc;
		g.mr = kind == VIOMMU_MR_RAM ? viommu_mr_new_ram(s->m, g.name, size, g.host)
					     : viommu_mr_new_ram_device(s->m, g.name, size, g.host);
		break;
	}
	case VIOMMU_MR_MMIO:
		g.mr = viommu_mr_new_mmio(s->m, g.name, size, &mmio_ops, NULL);
		break;
	case VIOMMU_MR_CONTAINER:
		g.mr = viommu_mr_new_container(s->m, g.name, size);
		break;
	default:
		g.mr = viommu_mr_new_alias(s->m, g.name, target, off, size);
		break;
	}
	if (!g.mr) {
		rc = -errno;
		if (g.mmap_base)
			munmap(g.mmap_base, g.mmap_len);
		return fail(s, rc, "cannot create region '%s': %s", g.name, strerror(-rc));
	}
	if ((ro && (rc = viommu_mr_set_readonly(g.mr, true))) || (unm && (rc = viommu_mr_set_unmergeable(g.mr, true)))) {
		viommu_mr_free(g.mr);
		return mem_rc(s, rc, "setting an attribute");
	}
	s->regs[s->nregs] = g;
	if (hash_insert(s, s->nregs)) {
		viommu_mr_free(g.mr);
		return fail(s, -ENOMEM, "out of memory");
	}
	s->nregs++;
	return 0;
}

static struct viommu_mr *parent_of(struct interp *s, const char *name)
{
	struct region *g;

	if (!strcmp(name, "root"))
		return s->root;
	g = need_region(s, name);
	return g ? g->mr : NULL;
}

static int cmd_expect(struct interp *s, int n, char **t)
{
	struct viommu_host *h = s->hosts[0];
	struct viommu_recon_stats st = { .sz = sizeof(st) };
	bool sim = viommu_host_kind(h) == VIOMMU_HOST_KIND_SIM;
	uint64_t a = 0, b = 0, c = 0;
	int rc;

	s->res->expects++;
	viommu_recon_get_stats(s->r, h, &st);
	if (n >= 2 && !strcmp(t[1], "mapped")) {
		struct region *g;
		uint64_t vaddr;
		unsigned prot, want_prot;
		if ((rc = want_args(s, n, 5, 6, "expect mapped IOVA REGION OFFSET [ro|rw]")))
			return rc;
		if ((rc = parse_num(s, t[2], "IOVA", &a)) || (rc = parse_num(s, t[4], "offset", &b)))
			return rc;
		if (!(g = need_region(s, t[3])))
			return -EINVAL;
		if (!g->host)
			return fail(s, -EINVAL, "region '%s' has no host memory", t[3]);
		want_prot = n == 6 && !strcmp(t[5], "ro") ? VIOMMU_PERM_READ
							   : VIOMMU_PERM_RW;
		if (n == 6 && strcmp(t[5], "ro") && strcmp(t[5], "rw"))
			return fail(s, -EINVAL, "expected ro or rw, not '%s'", t[5]);
		if (!sim) {
			s->res->expects--;	/* not checkable on a real backend */
			return 0;
		}
		rc = viommu_host_sim_translate(h, a, &vaddr, &prot);
		if (rc || vaddr != (uint64_t)(uintptr_t)g->host + b || prot != want_prot)
			expect_failed(s, "IOVA 0x%llx: %s", (unsigned long long)a,
				      rc ? "not mapped" : "maps elsewhere or with other permissions");
	} else if (n >= 2 && !strcmp(t[1], "unmapped")) {
		uint64_t vaddr;
		unsigned prot;
		if ((rc = want_args(s, n, 3, 3, "expect unmapped IOVA")) || (rc = parse_num(s, t[2], "IOVA", &a)))
			return rc;
		if (!sim) {
			s->res->expects--;
			return 0;
		}
		if (viommu_host_sim_translate(h, a, &vaddr, &prot) == 0)
			expect_failed(s, "IOVA 0x%llx is mapped", (unsigned long long)a);
	} else if (n == 3 && (!strcmp(t[1], "mappings") || !strcmp(t[1], "windows") || !strcmp(t[1], "errors") ||
			      !strcmp(t[1], "skipped"))) {
		uint64_t got = !strcmp(t[1], "mappings") ? st.mappings : !strcmp(t[1], "windows") ? st.windows
			       : !strcmp(t[1], "errors") ? st.errors : st.skipped;
		if ((rc = parse_num(s, t[2], "count", &a)))
			return rc;
		if (got != a)
			expect_failed(s, "%s: %llu, expected %llu", t[1], (unsigned long long)got, (unsigned long long)a);
	} else if (n == 4 && !strcmp(t[1], "ops")) {
		if ((rc = parse_num(s, t[2], "map count", &b)) || (rc = parse_num(s, t[3], "unmap count", &c)))
			return rc;
		if (st.map_ops != b || st.unmap_ops != c)
			expect_failed(s, "ops: %llu map %llu unmap, expected %llu %llu", (unsigned long long)st.map_ops,
				      (unsigned long long)st.unmap_ops, (unsigned long long)b, (unsigned long long)c);
	} else {
		return fail(s, -EINVAL, "usage: expect mapped IOVA REGION OFFSET [ro|rw] | unmapped IOVA | "
					"mappings N | windows N | errors N | skipped N | ops MAPS UNMAPS");
	}
	return 0;
}

/*
 * The range backend @i changed since its last check: the view's change
 * widened by the host calls it received (its timeline). False if the
 * timeline lost records (then only a full check will do).
 */
static bool host_change(struct interp *s, int i, bool *any, uint64_t *lo, uint64_t *hi)
{
	struct viommu_host_record rec;
	long n = viommu_host_sim_timeline_count(s->hosts[i]);
	uint64_t seen = s->seen_seq[i];
	bool ok = true;

	if (n > 0 && viommu_host_sim_timeline_get(s->hosts[i], (size_t)n - 1, &rec) == 0)
		s->seen_seq[i] = rec.seq;
	for (long k = n - 1; k >= 0; k--) {
		if (viommu_host_sim_timeline_get(s->hosts[i], (size_t)k, &rec) || rec.seq <= seen)
			return ok;
		if (k == 0 && rec.seq > seen + 1)
			ok = false;	/* older calls of this commit were dropped */
		if ((rec.flags & VIOMMU_HOST_UNMAP_ALL) || !rec.length || rec.iova > UINT64_MAX - (rec.length - 1))
			widen(any, lo, hi, 0, UINT64_MAX);
		else
			widen(any, lo, hi, rec.iova, rec.iova + rec.length - 1);
	}
	return ok;
}

/*
 * Check every simulated backend against the view: all of it (@full: a
 * `check` line, --check, the end of the run), or where the last commit
 * changed it (O(change): viommu_recon_check_range).
 */
static int run_check(struct interp *s, bool full)
{
	for (int i = 0; i < s->nhosts; i++) {
		struct viommu_recon_report where;
		bool any = s->changed, whole = full;
		uint64_t lo = s->chg_first, hi = s->chg_last;
		int rc;

		if (viommu_host_kind(s->hosts[i]) != VIOMMU_HOST_KIND_SIM)
			continue;
		if (!host_change(s, i, &any, &lo, &hi))
			whole = true;
		s->res->checks++;
		if (whole || s->o->full_checks)
			rc = viommu_recon_check(s->r, s->hosts[i], &where);
		else
			rc = viommu_recon_check_range(s->r, s->hosts[i], any ? lo : 0, any ? hi : 0, &where);
		if (rc) {
			s->res->checks_failed++;
			if (rc == -EIO)
				s->res->checks_mismatch++;
			failed(s, "check: backend %d differs from the view at [0x%llx, 0x%llx]", i + 1,
			       (unsigned long long)where.first, (unsigned long long)where.last);
		}
	}
	s->changed = false;
	return 0;
}

static int exec_line(struct interp *s, int n, char **t)
{
	struct region *g;
	struct viommu_mr *p;
	uint64_t a = 0;
	bool on = false;
	int rc;

	if (!strcmp(t[0], "backend")) {
		if ((rc = want_args(s, n, 2, 2, "backend SPEC")))
			return rc;
		if (s->r)
			return fail(s, -EINVAL, "'backend' must come before the first region");
		if (strlen(t[1]) >= sizeof(s->file_backend_buf))
			return fail(s, -EINVAL, "backend spec longer than %zu bytes", sizeof(s->file_backend_buf) - 1);
		snprintf(s->file_backend_buf, sizeof(s->file_backend_buf), "%s", t[1]);
		s->backend_line = s->lineno;
		s->file_backend = s->file_backend_buf;
		return 0;
	}
	if (!strcmp(t[0], "policy") || !strcmp(t[0], "granule") || !strcmp(t[0], "coalesce") ||
	    !strcmp(t[0], "skip-ram-device")) {
		if ((rc = want_args(s, n, 2, 2, "policy minimal|naive | granule SIZE | coalesce on|off | skip-ram-device on|off")))
			return rc;
		if (s->r)
			return fail(s, -EINVAL, "'%s' must come before the first region", t[0]);
		if (!strcmp(t[0], "policy")) {
			if (!strcmp(t[1], "minimal"))
				s->ropts.policy = VIOMMU_RECON_MINIMAL;
			else if (!strcmp(t[1], "naive"))
				s->ropts.policy = VIOMMU_RECON_NAIVE;
			else
				return fail(s, -EINVAL, "policy is minimal or naive");
		} else if (!strcmp(t[0], "granule")) {
			if ((rc = parse_num(s, t[1], "granule", &a)))
				return rc;
			if (a & (a - 1))
				return fail(s, -EINVAL, "granule must be a power of two");
			s->ropts.extent_granule = a;
			s->granule_line = s->lineno;
		} else if (!strcmp(t[0], "coalesce")) {
			if ((rc = on_off(s, t[1], &on)))
				return rc;
			s->ropts.coalesce = on;
		} else {
			if ((rc = on_off(s, t[1], &on)))
				return rc;
			s->ropts.skip_ram_device = on;
		}
		return 0;
	}
	if (!strcmp(t[0], "ram") || !strcmp(t[0], "ramdev") || !strcmp(t[0], "mmio") || !strcmp(t[0], "container") ||
	    !strcmp(t[0], "alias"))
		return cmd_region(s, n, t);
	if ((rc = ensure_started(s)))
		return rc;
	if (!strcmp(t[0], "add")) {
		int64_t prio = 0;
		if ((rc = want_args(s, n, 4, 5, "add PARENT NAME OFFSET [prio=N]")))
			return rc;
		if (!(p = parent_of(s, t[1])) || !(g = need_region(s, t[2])))
			return -EINVAL;
		if ((rc = parse_num(s, t[3], "offset", &a)))
			return rc;
		if (viommu_mr_size(g->mr) && a > UINT64_MAX - (viommu_mr_size(g->mr) - 1))
			return fail(s, -EINVAL, "'%s' at 0x%llx with size 0x%llx passes 2^64 - 1", g->name,
				    (unsigned long long)a, (unsigned long long)viommu_mr_size(g->mr));
		if (n == 5) {
			char *end;
			if (strncmp(t[4], "prio=", 5))
				return fail(s, -EINVAL, "expected prio=N, not '%s'", t[4]);
			errno = 0;
			prio = strtoll(t[4] + 5, &end, 10);
			if (errno || *end || end == t[4] + 5 || prio < INT_MIN || prio > INT_MAX)
				return fail(s, -EINVAL, "bad priority '%s'", t[4] + 5);
		}
		return mem_rc(s, viommu_mr_add_subregion(p, a, g->mr, (int)prio), "add");
	}
	if (!strcmp(t[0], "del")) {
		if ((rc = want_args(s, n, 3, 3, "del PARENT NAME")))
			return rc;
		if (!(p = parent_of(s, t[1])) || !(g = need_region(s, t[2])))
			return -EINVAL;
		return mem_rc(s, viommu_mr_del_subregion(p, g->mr), "del");
	}
	if (!strcmp(t[0], "move") || !strcmp(t[0], "resize") || !strcmp(t[0], "alias-offset")) {
		if ((rc = want_args(s, n, 3, 3, "move|resize|alias-offset NAME VALUE")))
			return rc;
		if (!(g = need_region(s, t[1])) || (rc = parse_num(s, t[2], "value", &a)))
			return rc ? rc : -EINVAL;
		if (!strcmp(t[0], "move")) {
			if (viommu_mr_size(g->mr) && a > UINT64_MAX - (viommu_mr_size(g->mr) - 1))
				return fail(s, -EINVAL, "'%s' at 0x%llx with size 0x%llx passes 2^64 - 1", g->name,
					    (unsigned long long)a, (unsigned long long)viommu_mr_size(g->mr));
			return mem_rc(s, viommu_mr_set_address(g->mr, a), "move");
		}
		if (!strcmp(t[0], "alias-offset"))
			return mem_rc(s, viommu_mr_set_alias_offset(g->mr, a), "alias-offset");
		if (g->kind == VIOMMU_MR_RAM || g->kind == VIOMMU_MR_RAM_DEVICE) {
			/* host memory is a fixed allocation: RAM can shrink and grow back, not past it */
			if (g->mmap_base && a > g->mmap_len)
				return fail(s, -EINVAL, "cannot grow '%s' past its host memory", g->name);
		}
		return mem_rc(s, viommu_mr_set_size(g->mr, a), "resize");
	}
	if (!strcmp(t[0], "enable") || !strcmp(t[0], "disable")) {
		if ((rc = want_args(s, n, 2, 2, "enable|disable NAME")) || !(g = need_region(s, t[1])))
			return rc ? rc : -EINVAL;
		return mem_rc(s, viommu_mr_set_enabled(g->mr, t[0][0] == 'e'), t[0]);
	}
	if (!strcmp(t[0], "readonly") || !strcmp(t[0], "unmergeable")) {
		if ((rc = want_args(s, n, 3, 3, "readonly|unmergeable NAME on|off")) || !(g = need_region(s, t[1])) ||
		    (rc = on_off(s, t[2], &on)))
			return rc ? rc : -EINVAL;
		return mem_rc(s, t[0][0] == 'r' ? viommu_mr_set_readonly(g->mr, on) : viommu_mr_set_unmergeable(g->mr, on),
			      t[0]);
	}
	if (!strcmp(t[0], "rename")) {
		if ((rc = want_args(s, n, 3, 3, "rename NAME NEWNAME")) || !(g = need_region(s, t[1])))
			return rc ? rc : -EINVAL;
		if (!valid_name(t[2]) || find_region(s, t[2]))
			return fail(s, -EINVAL, "bad or existing name '%s'", t[2]);
		rc = viommu_mr_set_name(g->mr, t[2]);
		if (rc)
			return mem_rc(s, rc, "rename");
		/* rehash under the new name */
		snprintf(g->name, sizeof(g->name), "%s", t[2]);
		free(s->hash);
		s->hash = NULL;
		s->hashcap = 0;
		{
			size_t keep = s->nregs;
			for (s->nregs = 0; s->nregs < keep; s->nregs++)
				if (hash_insert(s, s->nregs))
					return fail(s, -ENOMEM, "out of memory");
		}
		return 0;
	}
	if (!strcmp(t[0], "begin")) {
		if ((rc = want_args(s, n, 1, 1, "begin")))
			return rc;
		if (s->txn >= 64)
			return fail(s, -E2BIG, "transactions nested more than 64 deep");
		if ((rc = viommu_memory_begin(s->m)))
			return mem_rc(s, rc, "begin");
		s->txn++;
		return 0;
	}
	if (!strcmp(t[0], "commit")) {
		if ((rc = want_args(s, n, 1, 1, "commit")))
			return rc;
		if (!s->txn)
			return fail(s, -EINVAL, "commit without begin");
		s->txn--;
		return mem_rc(s, viommu_memory_commit(s->m), "commit");
	}
	if (!strcmp(t[0], "attach")) {
		if ((rc = want_args(s, n, 2, 2, "attach BACKEND")))
			return rc;
		if (s->nhosts == VI_SCN_MAX_BACKENDS)
			return fail(s, -E2BIG, "more than %d backends", VI_SCN_MAX_BACKENDS);
		if (strncmp(t[1], "sim:", 4) && s->fake_host)
			return fail(s, -EINVAL, "internal: real backend with fake memory");
		if ((rc = open_backend(s, t[1], &s->hosts[s->nhosts])))
			return rc;
		if ((rc = viommu_recon_attach(s->r, s->hosts[s->nhosts]))) {
			viommu_host_free(s->hosts[s->nhosts]);
			return fail(s, rc, "cannot attach backend '%s': %s%s", t[1], strerror(-rc),
				    rc == -EINVAL ? " (is the granule a power of two and at least the backend's page?)"
						  : "");
		}
		s->nhosts++;
		viommu_recon_get_stats(s->r, NULL, &s->last);	/* an attach is not a commit */
		return 0;
	}
	if (!strcmp(t[0], "resync")) {
		if ((rc = want_args(s, n, 1, 1, "resync")))
			return rc;
		viommu_recon_resync(s->r);
		viommu_recon_get_stats(s->r, NULL, &s->last);
		return 0;
	}
	if (!strcmp(t[0], "check")) {
		uint64_t lim = s->o->max_steps ? s->o->max_steps : VI_SCN_MAX_STEPS;

		if ((rc = want_args(s, n, 1, 1, "check")))
			return rc;
		/* a whole check is O(mappings): it is charged as that many lines, so the step limit bounds the run */
		for (int i = 0; i < s->nhosts; i++) {
			long held = viommu_host_kind(s->hosts[i]) == VIOMMU_HOST_KIND_SIM ?
				    viommu_host_sim_mappings(s->hosts[i], NULL, NULL) : 0;
			s->res->lines += held > 0 ? (uint64_t)held : 0;
		}
		if (s->res->lines > lim)
			return fail(s, -E2BIG, "more than %llu lines executed (a check counts one per host mapping)",
				    (unsigned long long)lim);
		return run_check(s, true);
	}
	if (!strcmp(t[0], "expect"))
		return cmd_expect(s, n, t);
	return fail(s, -EINVAL, "unknown command '%s'", t[0]);
}

/* After each line: report a commit if the reconciler saw one. */
static void after_line(struct interp *s)
{
	struct viommu_recon_stats st = { .sz = sizeof(st) }, hs = { .sz = sizeof(hs) };
	struct vi_scn_commit c;

	if (!s->r)
		return;
	viommu_recon_get_stats(s->r, NULL, &st);
	if (st.commits == s->last.commits)
		return;
	viommu_recon_get_stats(s->r, s->hosts[0], &hs);
	c = (struct vi_scn_commit){
		.index = st.commits, .line = s->lineno,
		.map_ops = st.map_ops - s->last.map_ops, .unmap_ops = st.unmap_ops - s->last.unmap_ops,
		.windows = st.windows - s->last.windows, .window_bytes = st.window_bytes - s->last.window_bytes,
		.reports = (st.errors + st.skipped) - (s->last.errors + s->last.skipped), .mappings = hs.mappings,
		.hosts = s->hosts, .nhosts = s->nhosts,
	};
	s->last = st;
	s->res->commits = st.commits;
	run_check(s, false);
	if (s->o->on_commit)
		s->o->on_commit(s->o->ctx, &c);
}

static int run_lines(struct interp *s)
{
	char buf[VI_SCN_MAX_LINE + 64], *t[MAX_TOKENS];
	size_t i = 0;
	int rc;

	while (i < s->nlines) {
		int n;

		s->lineno = (unsigned)i + 1;
		if (++s->res->lines > (s->o->max_steps ? s->o->max_steps : VI_SCN_MAX_STEPS))
			return fail(s, -E2BIG, "more than %llu lines executed",
				    (unsigned long long)(s->o->max_steps ? s->o->max_steps : VI_SCN_MAX_STEPS));
		if (s->lines[i].n > VI_SCN_MAX_LINE)
			return fail(s, -EINVAL, "line longer than %d bytes", VI_SCN_MAX_LINE);
		if ((rc = substitute(s, s->lines[i].p, s->lines[i].n, buf, sizeof(buf))))
			return rc;
		n = tokenize(buf, t);
		if (n < 0)
			return fail(s, -EINVAL, "more than %d words", MAX_TOKENS);
		if (n == 0) {
			i++;
			continue;
		}
		if (!strcmp(t[0], "repeat")) {
			struct loop *l;
			uint64_t count = 0;
			if ((rc = want_args(s, n, 2, 3, "repeat COUNT [VAR]")))
				return rc;
			if (s->nloops == VI_SCN_MAX_DEPTH)
				return fail(s, -E2BIG, "repeat nested more than %d deep", VI_SCN_MAX_DEPTH);
			if ((rc = parse_num(s, t[1], "count", &count)))
				return rc;
			if (n == 3 && (strlen(t[2]) >= sizeof(l->var) || !isalpha((unsigned char)t[2][0])))
				return fail(s, -EINVAL, "bad variable name '%s'", t[2]);
			if (count == 0) {
				/* skip to the matching end */
				int depth = 0;
				size_t j;
				for (j = i + 1; j < s->nlines; j++) {
					char b2[VI_SCN_MAX_LINE + 1], *u[MAX_TOKENS];
					size_t len = VI_MIN(s->lines[j].n, (size_t)VI_SCN_MAX_LINE);
					memcpy(b2, s->lines[j].p, len);
					b2[len] = 0;
					int m = tokenize(b2, u);
					if (m > 0 && !strcmp(u[0], "repeat"))
						depth++;
					if (m > 0 && !strcmp(u[0], "end") && depth-- == 0)
						break;
				}
				if (j == s->nlines)
					return fail(s, -EINVAL, "repeat without end");
				/* the scan is work: the skipped lines count as executed (else repeat N { repeat 0 {...} } is N x body) */
				s->res->lines += j - i;
				if (s->res->lines > (s->o->max_steps ? s->o->max_steps : VI_SCN_MAX_STEPS))
					return fail(s, -E2BIG, "more than %llu lines executed",
						    (unsigned long long)(s->o->max_steps ? s->o->max_steps : VI_SCN_MAX_STEPS));
				i = j + 1;
				continue;
			}
			l = &s->loops[s->nloops++];
			l->body = i + 1;
			l->count = count;
			l->i = 0;
			snprintf(l->var, sizeof(l->var), "%s", n == 3 ? t[2] : "i");
			i++;
			continue;
		}
		if (!strcmp(t[0], "end")) {
			struct loop *l;
			if ((rc = want_args(s, n, 1, 1, "end")))
				return rc;
			if (!s->nloops)
				return fail(s, -EINVAL, "end without repeat");
			l = &s->loops[s->nloops - 1];
			if (++l->i < l->count) {
				i = l->body;
			} else {
				s->nloops--;
				i++;
			}
			continue;
		}
		rc = exec_line(s, n, t);
		if (rc)
			return rc;
		after_line(s);
		i++;
	}
	if (s->nloops) {
		s->lineno = (unsigned)s->nlines;
		return fail(s, -EINVAL, "repeat without end");
	}
	if (s->txn) {
		s->lineno = (unsigned)s->nlines;
		return fail(s, -EINVAL, "begin without commit at the end of the file");
	}
	return 0;
}

static void interp_free(struct interp *s)
{
	viommu_recon_free(s->r);
	for (int i = 0; i < s->nhosts; i++)
		viommu_host_free(s->hosts[i]);
	viommu_memory_free(s->m);
	for (size_t i = 0; i < s->nregs; i++)
		if (s->regs[i].mmap_base)
			munmap(s->regs[i].mmap_base, s->regs[i].mmap_len);
	free(s->regs);
	free(s->hash);
	free(s->lines);
}

int vi_scn_run(const char *text, size_t len, const char *name, const struct vi_scn_opts *opts,
	       struct vi_scn_result *res, char *err, size_t errlen)
{
	struct vi_scn_opts dflt = { .policy = -1 };
	struct interp s = { .name = name ? name : "scenario", .o = opts ? opts : &dflt, .res = res, .err = err,
			 .errlen = errlen };
	struct timespec t0, t1;
	size_t cap = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if (errlen)
		err[0] = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* split into lines (the text need not end in a newline, nor be NUL terminated) */
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && text[j] != '\n')
			j++;
		if (s.nlines == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct line *nl = realloc(s.lines, nc * sizeof(*nl));
			if (!nl) {
				free(s.lines);
				return fail(&s, -ENOMEM, "out of memory");
			}
			s.lines = nl;
			cap = nc;
		}
		s.lines[s.nlines++] = (struct line){ text + i, j - i };
		if (memchr(text + i, 0, j - i)) {
			s.lineno = (unsigned)s.nlines;
			rc = fail(&s, -EINVAL, "NUL byte in the file");
			interp_free(&s);
			return rc;
		}
		i = j + 1;
	}
	rc = run_lines(&s);
	if (!rc && !s.r) {
		/* no line needed the engine (an empty file, a `backend` line alone): still open and check the backend */
		s.lineno = 0;
		rc = ensure_started(&s);
	}
	if (!rc && s.r)
		run_check(&s, true);	/* the whole view once more, whatever the commits checked */
	if (!rc && s.r) {
		struct viommu_host_caps caps = { .sz = sizeof(caps) };
		struct viommu_recon_stats hs = { .sz = sizeof(hs) };
		res->stats.sz = sizeof(res->stats);
		viommu_recon_get_stats(s.r, NULL, &res->stats);
		viommu_recon_get_stats(s.r, s.hosts[0], &hs);
		res->max_mappings = hs.max_mappings;
		if (viommu_host_get_caps(s.hosts[0], &caps) == 0 && caps.max_mappings != UINT64_MAX)
			res->budget_total = caps.max_mappings;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	interp_free(&s);
	return rc;
}
