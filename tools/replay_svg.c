// SPDX-License-Identifier: MIT
/*
 * `viommu replay --svg`: the IOVA space over a run, from the host calls the
 * simulated backends received (replay_svg.h says what is drawn).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/rangemap.h>

#include "cli.h"
#include "replay_svg.h"

#define MAX_RUNS 2
#define MAX_PANELS (MAX_RUNS * VI_SCN_MAX_BACKENDS)

/* Colours (also the legend's), matched by tests/svg/run.sh on the rendered picture. */
#define FILL_MAP "#4878d0"
#define FILL_MAP_RO "#8fb8e8"
#define FILL_WINDOW "#d62728"
#define FILL_SKIP "#f0a030"
#define FILL_ERROR "#8b008b"
#define FILL_RESERVED "#a0a0a0"

enum cls { C_RESERVED, C_MAP, C_SKIP, C_ERROR, C_WINDOW, C_NR };	/* drawing order */
static const char *const cls_name[C_NR] = { "reserved", "map", "skip", "error", "window" };

struct rect {
	uint64_t first, last;
	uint64_t vaddr;		/* map: the host address of @first */
	uint64_t bytes;		/* window: unchanged bytes unmapped */
	uint32_t c0, c1;	/* columns (commits), inclusive; c1 = 0 while a mapping is live */
	uint16_t panel;
	uint8_t cls;
	bool ro;
	unsigned line;		/* of the commit (window, skip, error) */
	int kind;		/* skip, error: enum viommu_recon_report_kind */
	char region[24];
};

struct panel {
	int run;
	char name[64];
	const struct viommu_host *host;
	struct viommu_rangemap *live;	/* live mappings -> rect index */
	uint32_t lost_at;	/* first commit whose calls the timeline lost (0: none) */
};

struct pending {
	struct rect r;
	const struct viommu_host *backend;
};

struct run {
	char title[64];
	int panel0, npanels;
	uint32_t commits;
	uint32_t stopped_at;	/* the rect cap was reached before this commit (0: not) */
	struct pending *pend;
	size_t npend, pendcap;
};

/* What one unmap call removed: pieces of mappings, to see whether the commit put them back. */
struct removed {
	uint64_t first, last, vaddr;
	bool ro;
	size_t call;
};

struct vi_svg {
	char file[256];
	struct rect *r;
	size_t n, cap;
	struct panel p[MAX_PANELS];
	int npanels;
	struct run runs[MAX_RUNS];
	int nruns;
	struct removed *rm;
	size_t nrm, rmcap;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 256;
	void *nv = realloc(*v, nc * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

int vi_replay_calls_read(struct vi_replay_calls *k, const struct vi_scn_commit *c)
{
	k->n = 0;
	for (int b = 0; b < c->nhosts && b < VI_SCN_MAX_BACKENDS; b++) {
		struct viommu_host *h = c->hosts[b];
		struct viommu_host_record rec;
		long n, k0;

		k->lost[b] = false;
		if (viommu_host_kind(h) != VIOMMU_HOST_KIND_SIM)
			continue;
		n = viommu_host_sim_timeline_count(h);
		/* the newest records first, back to the last one read */
		for (k0 = n; k0 > 0; k0--)
			if (viommu_host_sim_timeline_get(h, (size_t)k0 - 1, &rec) || rec.seq <= k->seen[b])
				break;
		if (k0 == 0 && n > 0 && viommu_host_sim_timeline_get(h, 0, &rec) == 0 && rec.seq > k->seen[b] + 1)
			k->lost[b] = true;
		for (long i = k0; i < n; i++) {
			if (viommu_host_sim_timeline_get(h, (size_t)i, &rec))
				break;
			if (grow((void **)&k->v, &k->cap, k->n, sizeof(*k->v)))
				return -ENOMEM;
			k->v[k->n++] = (struct vi_replay_call){ b, rec };
			k->seen[b] = rec.seq;
		}
	}
	return 0;
}

struct vi_svg *vi_svg_new(const char *file)
{
	struct vi_svg *g = calloc(1, sizeof(*g));

	if (g)
		snprintf(g->file, sizeof(g->file), "%s", file);
	return g;
}

void vi_svg_free(struct vi_svg *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->npanels; i++)
		viommu_rangemap_free(g->p[i].live);
	for (int i = 0; i < g->nruns; i++)
		free(g->runs[i].pend);
	free(g->r);
	free(g->rm);
	free(g);
}

int vi_svg_run(struct vi_svg *g, const char *title)
{
	struct run *u;

	if (g->nruns == MAX_RUNS)
		return -E2BIG;
	u = &g->runs[g->nruns++];
	snprintf(u->title, sizeof(u->title), "%s", title);
	u->panel0 = g->npanels;
	return 0;
}

void vi_svg_title(struct vi_svg *g, const char *title)
{
	snprintf(g->runs[g->nruns - 1].title, sizeof(g->runs[0].title), "%s", title);
}

static struct rect *add_rect(struct vi_svg *g, int panel, enum cls cls, uint64_t first, uint64_t last, uint32_t c0,
			     uint32_t c1)
{
	struct rect *r;

	if (grow((void **)&g->r, &g->cap, g->n, sizeof(*g->r)))
		return NULL;
	r = &g->r[g->n++];
	*r = (struct rect){ .first = first, .last = last, .c0 = c0, .c1 = c1, .panel = (uint16_t)panel,
			    .cls = (uint8_t)cls };
	return r;
}

static const char *backend_name(const struct viommu_host *h)
{
	enum viommu_host_semantics s = viommu_host_semantics(h);

	switch (viommu_host_kind(h)) {
	case VIOMMU_HOST_KIND_SIM:
		return s == VIOMMU_HOST_TYPE1V2 ? "sim:type1v2" : s == VIOMMU_HOST_TYPE1V1 ? "sim:type1v1" : "sim:iommufd";
	case VIOMMU_HOST_KIND_VFIO:
		return s == VIOMMU_HOST_TYPE1V1 ? "vfio (type1 v1)" : "vfio (type1 v2)";
	default:
		return "iommufd";
	}
}

/* A panel for each backend the run has now; a new one gets its reserved ranges, from this commit on. */
static int add_panels(struct vi_svg *g, struct run *u, const struct vi_scn_commit *c)
{
	while (u->npanels < c->nhosts) {
		struct viommu_host_caps caps = { .sz = sizeof(caps) };
		struct viommu_host *h = c->hosts[u->npanels];
		int i = u->panel0 + u->npanels;
		struct panel *p = &g->p[i];
		uint64_t at = 0;
		bool end = false;

		if (i >= MAX_PANELS)
			return -E2BIG;
		*p = (struct panel){ .run = (int)(u - g->runs), .host = h, .live = viommu_rangemap_new() };
		if (!p->live)
			return -ENOMEM;
		g->npanels++;
		u->npanels++;
		snprintf(p->name, sizeof(p->name), "backend %d: %s", u->npanels, backend_name(h));
		if (viommu_host_get_caps(h, &caps) || !caps.nranges)
			continue;
		/* the gaps between the usable ranges, and past the last */
		for (uint32_t k = 0; k < caps.nranges && !end; k++) {
			if (caps.ranges[k].first > at && !add_rect(g, i, C_RESERVED, at, caps.ranges[k].first - 1, c->index, 0))
				return -ENOMEM;
			if (caps.ranges[k].last == UINT64_MAX)
				end = true;
			at = caps.ranges[k].last + 1;
		}
		if (!end && !add_rect(g, i, C_RESERVED, at, UINT64_MAX, c->index, 0))
			return -ENOMEM;
	}
	return 0;
}

/* A live mapping leaves the picture at column @col (the commit that unmapped it). */
static int close_map(struct vi_svg *g, struct panel *p, const struct viommu_range_entry *e, uint32_t col)
{
	struct rect *r = &g->r[e->value];

	r->c1 = col;
	return viommu_rangemap_remove(p->live, e->first, e->last, NULL);
}

static int open_map(struct vi_svg *g, int panel, uint64_t first, uint64_t last, uint64_t vaddr, bool ro,
		    uint32_t c0)
{
	struct rect *r = add_rect(g, panel, C_MAP, first, last, c0, 0);

	if (!r)
		return -ENOMEM;
	r->vaddr = vaddr;
	r->ro = ro;
	/* a map the host accepted never overlaps a live one; if it did, the picture keeps the older */
	if (viommu_rangemap_insert(g->p[panel].live, first, last, g->n - 1) == -ENOMEM)
		return -ENOMEM;
	return 0;
}

/*
 * Unmap [first, last] on @panel as the host did it: whole mappings (no
 * backend splits one), lowest first, as many bytes as it reported removed
 * (type1 v1 stops at a mapping that starts before @first, and removes one
 * that ends past @last whole).
 */
static int unmap(struct vi_svg *g, int panel, uint64_t first, uint64_t last, uint64_t bytes, uint32_t col,
		 size_t call)
{
	struct panel *p = &g->p[panel];
	struct viommu_range_entry e;
	uint64_t done = 0;
	int rc;

	while (done < bytes && viommu_rangemap_find_overlap(p->live, first, last, &e)) {
		const struct rect *r = &g->r[e.value];

		if (grow((void **)&g->rm, &g->rmcap, g->nrm, sizeof(*g->rm)))
			return -ENOMEM;
		g->rm[g->nrm++] = (struct removed){ e.first, e.last, r->vaddr, r->ro, call };
		done += e.last - e.first + 1;
		if ((rc = close_map(g, p, &e, col)))
			return rc;
	}
	return 0;
}

struct snap { struct vi_svg *g; int panel; uint32_t col; int rc; };

static void snap_one(const struct viommu_host_mapping *m, void *ctx)
{
	struct snap *s = ctx;

	if (!s->rc)
		s->rc = open_map(s->g, s->panel, m->iova, m->iova + m->length - 1, m->vaddr,
				 !(m->prot & VIOMMU_PERM_WRITE), s->col);
}

/* The timeline lost calls: redraw the panel's mappings from what the backend holds now. */
static int resnapshot(struct vi_svg *g, int panel, struct viommu_host *h, uint32_t col)
{
	struct panel *p = &g->p[panel];
	struct viommu_range_entry e;
	struct snap s = { g, panel, col, 0 };
	int rc;

	while (viommu_rangemap_first(p->live, &e))
		if ((rc = close_map(g, p, &e, col)))
			return rc;
	if (!p->lost_at)
		p->lost_at = col;
	viommu_host_sim_mappings(h, snap_one, &s);
	return s.rc;
}

/* Bytes of @m that @p's live mappings hold again with the same translation. */
static uint64_t restored(struct vi_svg *g, struct panel *p, const struct removed *m)
{
	struct viommu_rangemap_iter it;
	uint64_t bytes = 0;

	viommu_rangemap_for_each(&it, p->live, m->first, m->last) {
		const struct rect *r = &g->r[it.entry.value];
		uint64_t lo = it.entry.first > m->first ? it.entry.first : m->first;
		uint64_t hi = it.entry.last < m->last ? it.entry.last : m->last;

		if (r->ro == m->ro && r->vaddr - r->first == m->vaddr - m->first)
			bytes += hi - lo + 1;
	}
	return bytes;
}

int vi_svg_commit(struct vi_svg *g, const struct vi_scn_commit *c, const struct vi_replay_calls *k)
{
	struct run *u = &g->runs[g->nruns - 1];
	uint32_t col = (uint32_t)c->index;
	int rc;

	if (u->stopped_at)
		return 0;
	if (g->n >= VI_SVG_MAX_RECTS) {
		u->stopped_at = col;
		return 0;
	}
	if ((rc = add_panels(g, u, c)))
		return rc;
	g->nrm = 0;
	for (size_t i = 0; i < k->n; i++) {
		const struct viommu_host_record *rec = &k->v[i].rec;
		int panel = u->panel0 + k->v[i].backend;

		if (rec->result || k->lost[k->v[i].backend])
			continue;
		if (rec->op == VIOMMU_HOST_OP_MAP || rec->op == VIOMMU_HOST_OP_MAP_AUTO) {
			if (rec->length && (rc = open_map(g, panel, rec->iova, rec->iova + rec->length - 1, rec->vaddr,
							 !(rec->prot & VIOMMU_PERM_WRITE), col)))
				return rc;
		} else if (rec->op == VIOMMU_HOST_OP_UNMAP && !(rec->flags & VIOMMU_HOST_UNMAP_VADDR)) {
			/* (UNMAP_VADDR only invalidates the user addresses: the mappings stay) */
			bool all = (rec->flags & VIOMMU_HOST_UNMAP_ALL) || !rec->length ||
				   rec->iova > UINT64_MAX - (rec->length - 1);
			if ((rc = unmap(g, panel, all ? 0 : rec->iova, all ? UINT64_MAX : rec->iova + rec->length - 1,
					rec->bytes, col, i)))
				return rc;
		}
	}
	for (int b = 0; b < c->nhosts && b < VI_SCN_MAX_BACKENDS; b++)
		if (k->lost[b] && (rc = resnapshot(g, u->panel0 + b, c->hosts[b], col)))
			return rc;
	/* windows: an unmap call whose translation the same commit put back; drawn over what it removed */
	for (size_t j = 0; j < g->nrm;) {
		size_t call = g->rm[j].call;
		int panel = u->panel0 + k->v[call].backend;
		uint64_t bytes = 0, lo = g->rm[j].first, hi = g->rm[j].last;

		for (; j < g->nrm && g->rm[j].call == call; j++) {
			bytes += restored(g, &g->p[panel], &g->rm[j]);
			hi = g->rm[j].last;
		}
		if (bytes) {
			struct rect *w = add_rect(g, panel, C_WINDOW, lo, hi, col, col);
			if (!w)
				return -ENOMEM;
			w->bytes = bytes;
			w->line = c->line;
		}
	}
	/* the reports made during this commit */
	for (size_t j = 0; j < u->npend; j++)
		for (int b = 0; b < u->npanels; b++) {
			struct rect *r;

			if (u->pend[j].backend && u->pend[j].backend != g->p[u->panel0 + b].host)
				continue;
			if (!(r = add_rect(g, u->panel0 + b, C_SKIP, 0, 0, col, col)))
				return -ENOMEM;
			*r = u->pend[j].r;
			r->panel = (uint16_t)(u->panel0 + b);
			r->c0 = r->c1 = col;
			r->line = c->line;
		}
	u->npend = 0;
	u->commits = col;
	return 0;
}

int vi_svg_report(struct vi_svg *g, const struct viommu_recon_report *rep)
{
	struct run *u = &g->runs[g->nruns - 1];
	struct pending *p;

	if (u->stopped_at)
		return 0;
	if (grow((void **)&u->pend, &u->pendcap, u->npend, sizeof(*u->pend)))
		return -ENOMEM;
	p = &u->pend[u->npend++];
	*p = (struct pending){ .backend = rep->backend };
	p->r.first = rep->first;
	p->r.last = rep->last;
	p->r.kind = (int)rep->kind;
	p->r.cls = rep->kind == VIOMMU_RECON_SKIP_UNALIGNED_DEVICE || rep->kind == VIOMMU_RECON_SKIP_RESERVED_DEVICE ||
			   rep->kind == VIOMMU_RECON_SKIP_NOT_RAM ? C_SKIP : C_ERROR;
	if (rep->region)
		snprintf(p->r.region, sizeof(p->r.region), "%s", rep->region);
	return 0;
}

/* ---- layout and output ---- */

#define LEFT 150	/* IOVA labels */
#define TOP 96		/* title, legend, panel titles */
#define GAP 40		/* between panels */
#define BOTTOM 40
#define LEGEND_WIDTH 1000	/* the legend's one line */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Height of a band of @size bytes (0: 2^64): 3 px, plus 2 px per bit past 4 KiB. */
static unsigned band_height(uint64_t size)
{
	unsigned bits = size ? 64 - (unsigned)__builtin_clzll(size) : 65;

	return 3 + (bits > 13 ? (bits - 13) * 2 : 0);
}

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s < 0x20)
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

struct layout {
	uint64_t *b;		/* band starts, ascending, b[0] = 0 */
	unsigned *y;		/* y of band i's top; y[nb] is the bottom of the last */
	size_t nb;
	unsigned px[MAX_PANELS];	/* left edge of each panel */
	unsigned pw[MAX_PANELS];	/* and its width */
	unsigned width, height;
};

static size_t band_of(const struct layout *l, uint64_t a)
{
	size_t lo = 0, hi = l->nb;	/* the last band start <= a */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->b[mid] <= a)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static unsigned y_top(const struct layout *l, uint64_t first)
{
	return l->y[band_of(l, first)];
}

static unsigned y_bottom(const struct layout *l, uint64_t last)
{
	return last == UINT64_MAX ? l->y[l->nb] : l->y[band_of(l, last + 1)];
}

static uint32_t cols(const struct vi_svg *g, int run)
{
	return g->runs[run].commits;
}

/* Left edge of column @c (1-based; c = n + 1 is the panel's right edge). */
static unsigned x_of(const struct vi_svg *g, const struct layout *l, int panel, uint32_t c)
{
	uint64_t n = cols(g, g->p[panel].run) ? cols(g, g->p[panel].run) : 1;

	return l->px[panel] + (unsigned)((uint64_t)(c - 1) * l->pw[panel] / n);
}

static int make_layout(struct vi_svg *g, struct layout *l)
{
	uint32_t maxc = 1;
	size_t n = 1, total = 0;

	l->b = malloc((2 * g->n + 1) * sizeof(*l->b));
	if (!l->b)
		return -ENOMEM;
	l->b[0] = 0;
	for (size_t i = 0; i < g->n; i++) {
		l->b[n++] = g->r[i].first;
		if (g->r[i].last != UINT64_MAX)
			l->b[n++] = g->r[i].last + 1;
	}
	qsort(l->b, n, sizeof(*l->b), cmp_u64);
	l->nb = 0;
	for (size_t i = 0; i < n; i++)
		if (!l->nb || l->b[i] != l->b[l->nb - 1])
			l->b[l->nb++] = l->b[i];
	l->y = malloc((l->nb + 1) * sizeof(*l->y));
	if (!l->y)
		return -ENOMEM;
	for (size_t i = 0; i < l->nb; i++)
		total += band_height(i + 1 < l->nb ? l->b[i + 1] - l->b[i] : 0 - l->b[i]);
	/* many bands: scale down to about 2000 px, each band at least 1 px */
	l->y[0] = TOP;
	for (size_t i = 0; i < l->nb; i++) {
		size_t h = band_height(i + 1 < l->nb ? l->b[i + 1] - l->b[i] : 0 - l->b[i]);
		if (total > 2000)
			h = h * 2000 / total ? h * 2000 / total : 1;
		l->y[i + 1] = l->y[i] + (unsigned)h;
	}
	/* columns of 40 px, fewer for many commits; a panel is at most 960 px (then commits share pixels) */
	for (int r = 0; r < g->nruns; r++)
		maxc = cols(g, r) > maxc ? cols(g, r) : maxc;
	l->width = LEFT;
	for (int i = 0; i < g->npanels; i++) {
		uint64_t c = cols(g, g->p[i].run) ? cols(g, g->p[i].run) : 1;
		uint64_t cw = 480 / maxc < 2 ? 2 : 480 / maxc > 40 ? 40 : 480 / maxc;
		l->px[i] = l->width;
		l->pw[i] = (unsigned)(c * cw > 960 ? 960 : c * cw);
		l->width += l->pw[i] + GAP;
	}
	if (l->width < LEGEND_WIDTH)
		l->width = LEGEND_WIDTH;
	l->height = l->y[l->nb] + BOTTOM + 16 * (unsigned)g->nruns;
	return 0;
}

static void rect_title(FILE *f, const struct vi_svg *g, const struct rect *r)
{
	char sz[32];
	uint64_t len = r->last - r->first + 1;

	fprintf(f, "<title>%s [0x%" PRIx64 ", 0x%" PRIx64 "]", cls_name[r->cls], r->first, r->last);
	if (len)
		fprintf(f, " %s", vi_cli_human(len, sz, sizeof(sz)));
	switch (r->cls) {
	case C_MAP:
		fprintf(f, " %s, commits %u-%u", r->ro ? "read-only" : "read-write", r->c0,
			r->c1 ? r->c1 : cols(g, g->p[r->panel].run));
		break;
	case C_WINDOW:
		fprintf(f, ": %s of unchanged translation unmapped and mapped again in commit %u (line %u): a device DMA there faults meanwhile",
			vi_cli_human(r->bytes, sz, sizeof(sz)), r->c0, r->line);
		break;
	case C_SKIP:
	case C_ERROR:
		fprintf(f, ": %s", vi_replay_report_text((enum viommu_recon_report_kind)r->kind));
		if (r->region[0]) {
			fputs(", region '", f);
			esc(f, r->region);
			fputc('\'', f);
		}
		fprintf(f, " (commit %u, line %u)", r->c0, r->line);
		break;
	default:
		fputs(": the backend cannot map this IOVA", f);
	}
	fputs("</title>", f);
}

static const char *fill_of(const struct rect *r)
{
	switch (r->cls) {
	case C_MAP: return r->ro ? FILL_MAP_RO : FILL_MAP;
	case C_WINDOW: return FILL_WINDOW;
	case C_SKIP: return FILL_SKIP;
	case C_ERROR: return FILL_ERROR;
	default: return FILL_RESERVED;
	}
}

int vi_svg_write(struct vi_svg *g, FILE *f)
{
	static const struct { const char *fill, *text; } legend[] = {
		{ FILL_MAP, "host mapping" }, { FILL_MAP_RO, "read-only" },
		{ FILL_WINDOW, "window: unchanged translation unmapped, DMA there faults" },
		{ FILL_SKIP, "skipped" }, { FILL_ERROR, "error: not mapped" }, { FILL_RESERVED, "reserved IOVA" },
	};
	struct layout l = { 0 };
	unsigned last_label = 0, lx = 10;
	int rc;

	if ((rc = make_layout(g, &l))) {
		free(l.b);
		free(l.y);
		return rc;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" "
		   "font-family=\"monospace\" font-size=\"11\">\n",
		l.width, l.height, l.width, l.height);
	fprintf(f, "<rect class=\"background\" x=\"0\" y=\"0\" width=\"%u\" height=\"%u\" fill=\"#ffffff\"/>\n", l.width,
		l.height);
	fputs("<text x=\"10\" y=\"18\" font-size=\"13\">viommu replay ", f);
	esc(f, g->file);
	fputs(": the IOVA space (down, not to scale) over the commits (across)</text>\n", f);
	for (size_t i = 0; i < sizeof(legend) / sizeof(legend[0]); i++) {
		fprintf(f, "<rect class=\"legend\" x=\"%u\" y=\"30\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			   "<text x=\"%u\" y=\"40\">%s</text>\n",
			lx, legend[i].fill, lx + 16, legend[i].text);
		lx += 16 + 7 * (unsigned)strlen(legend[i].text) + 14;
	}
	/* the IOVA axis: band edges, labelled where there is room */
	for (size_t i = 0; i <= l.nb; i++) {
		unsigned y = l.y[i];
		if (i && y < last_label + 12 && i != l.nb)
			continue;
		if (i == l.nb)
			fprintf(f, "<text class=\"iova\" x=\"%u\" y=\"%u\" text-anchor=\"end\">2^64</text>\n", LEFT - 6,
				y + 4);
		else
			fprintf(f, "<text class=\"iova\" x=\"%u\" y=\"%u\" text-anchor=\"end\">0x%" PRIx64 "</text>\n",
				LEFT - 6, y + 4, l.b[i]);
		last_label = y;
	}
	for (int i = 0; i < g->npanels; i++) {
		const struct panel *p = &g->p[i];
		const struct run *u = &g->runs[p->run];
		uint32_t c = cols(g, p->run);
		unsigned w = l.pw[i];

		fprintf(f, "<g class=\"panel\" data-run=\"%d\" data-backend=\"%d\">\n", p->run + 1, i - u->panel0 + 1);
		fprintf(f, "<text x=\"%u\" y=\"%u\">", l.px[i], TOP - 24);
		esc(f, u->title);
		fprintf(f, "</text>\n<text x=\"%u\" y=\"%u\">", l.px[i], TOP - 10);
		esc(f, p->name);
		fputs("</text>\n", f);
		fprintf(f, "<rect class=\"frame\" x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"none\" stroke=\"#404040\"/>\n",
			l.px[i], TOP, w, l.y[l.nb] - TOP);
		for (int k = 0; k < C_NR; k++)
			for (size_t j = 0; j < g->n; j++) {
				const struct rect *r = &g->r[j];
				uint32_t c1 = r->c1 ? r->c1 : c;

				if (r->panel != i || r->cls != k)
					continue;
				unsigned x0 = x_of(g, &l, i, r->c0), x1 = x_of(g, &l, i, c1 + 1);
				fprintf(f, "<rect class=\"%s\" x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"%s\"",
					cls_name[k], x0, y_top(&l, r->first), x1 > x0 ? x1 - x0 : 1,
					y_bottom(&l, r->last) - y_top(&l, r->first), fill_of(r));
				/* machine-readable: the IOVA range, and a window's unchanged bytes */
				fprintf(f, " data-first=\"0x%" PRIx64 "\" data-last=\"0x%" PRIx64 "\"", r->first, r->last);
				if (k == C_WINDOW)
					fprintf(f, " data-bytes=\"%" PRIu64 "\"", r->bytes);
				fputc('>', f);
				rect_title(f, g, r);
				fputs("</rect>\n", f);
			}
		fprintf(f, "<text x=\"%u\" y=\"%u\">commits 1-%u</text>\n", l.px[i], l.y[l.nb] + 14, c);
		if (p->lost_at)
			fprintf(f, "<text x=\"%u\" y=\"%u\">host calls not recorded from commit %u: redrawn from the backend</text>\n",
				l.px[i], l.y[l.nb] + 28, p->lost_at);
		fputs("</g>\n", f);
	}
	for (int r = 0; r < g->nruns; r++)
		if (g->runs[r].stopped_at)
			fprintf(f, "<text x=\"10\" y=\"%u\">%s: commits from %u on not drawn (more than %d rects)</text>\n",
				l.y[l.nb] + 30 + 16 * (unsigned)r, g->runs[r].title, g->runs[r].stopped_at,
				VI_SVG_MAX_RECTS);
	fputs("</svg>\n", f);
	free(l.b);
	free(l.y);
	return ferror(f) ? -EIO : 0;
}
