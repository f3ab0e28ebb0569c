// SPDX-License-Identifier: MIT
/*
 * Translation of a requester's DMA (Intel VT-d spec 3.4 "Root and context
 * tables", 3.6/3.7 "Second-stage translation", 3.14 "Handling requests to
 * the interrupt address range", 7.1.3 fault conditions, 9.1-9.3 and 9.8 the
 * entry formats).
 *
 *   request ──▶ window? ──▶ TE? ──▶ context cache ──▶ IOTLB ──▶ answer      (lock-free)
 *                                     │ miss           │ miss
 *                                     ▼                ▼
 *                        root + context entry     second-stage walk        (under v->lock)
 *                        (vtd_resolve)            (viommu_pgtable_walk)
 *
 * The context lookup produces a struct vtd_cfg (what the request goes
 * through); the legacy root/context format is one producer of it, so
 * scalable mode adds a producer, not a path.
 *
 * Fault order follows the spec's tables and QEMU's vtd_dev_to_context_entry:
 * root table read error (8), root entry not present (1), root reserved bits
 * (0xA), context table read error (9), context not present (2), context
 * reserved bits (0xB), unsupported AW or TT (3); then the walk: input beyond
 * min(MGAW, AGAW) (4), a table unreadable (3 at the root table, else 7),
 * reserved bits (0xC), not present or no permission (5 write, 6 read); and an
 * output in the interrupt window (0xE). The walker checks reserved bits of
 * every entry before the permissions that were ANDed down the walk.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/pgtable.h>

#include "util/log.h"
#include "vtd/vtd_int.h"

#define RW (VIOMMU_PERM_READ | VIOMMU_PERM_WRITE)
#define ECAP_DT (UINT64_C(1) << 2)
#define ECAP_PT (UINT64_C(1) << 6)

/* ---- context cache ---------------------------------------------------- */

static void cfg_pack(const struct vtd_cfg *c, uint64_t *w0, uint64_t *w1)
{
	*w0 = (c->root & ~UINT64_C(0xfff)) | c->kind | (uint64_t)c->fpd << 2 | (uint64_t)c->devtlb << 3 |
	      (uint64_t)c->levels << 4;
	*w1 = c->did | (uint64_t)c->in_bits << 16 | (uint64_t)c->fault << 24;
}

static void cfg_unpack(uint64_t w0, uint64_t w1, struct vtd_cfg *c)
{
	c->kind = w0 & 3;
	c->fpd = (w0 >> 2) & 1;
	c->devtlb = (w0 >> 3) & 1;
	c->levels = (w0 >> 4) & 7;
	c->root = w0 & ~UINT64_C(0xfff);
	c->did = (uint16_t)w1;
	c->in_bits = (uint8_t)(w1 >> 16);
	c->fault = (uint8_t)(w1 >> 24);
}

#define LDA(p) atomic_load_explicit((p), memory_order_acquire)

/* Lock-free: the cached context of @sid, if valid. */
static bool cce_get(struct viommu_vtd *v, uint16_t sid, struct vtd_cfg *c)
{
	struct vtd_cce_bus *b = LDA(&v->cce[sid >> 8]);

	if (!b)
		return false;
	struct vtd_cce *e = &b->e[sid & 0xff];

	for (;;) {
		uint32_t s1 = LDA(&e->seq), g;
		uint64_t w0, w1;

		if (s1 & 1)
			continue;
		g = LDA(&e->gen);
		w0 = LDA(&e->w0);
		w1 = LDA(&e->w1);
		if (LDA(&e->seq) != s1)
			continue;
		if (g != LDA(&v->ctx_gen) || !(w0 & 3))
			return false;
		cfg_unpack(w0, w1, c);
		return true;
	}
}

static void cce_write(struct vtd_cce *e, uint32_t gen, uint64_t w0, uint64_t w1)
{
	uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);

	atomic_store_explicit(&e->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->gen, gen, memory_order_release);
	atomic_store_explicit(&e->w0, w0, memory_order_release);
	atomic_store_explicit(&e->w1, w1, memory_order_release);
	atomic_store_explicit(&e->seq, s + 2, memory_order_release);
}

/* Under v->lock. Allocation failure only loses the caching. */
static void cce_put(struct viommu_vtd *v, uint16_t sid, const struct vtd_cfg *c)
{
	struct vtd_cce_bus *b = atomic_load_explicit(&v->cce[sid >> 8], memory_order_relaxed);
	uint64_t w0, w1;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return;
		atomic_store_explicit(&v->cce[sid >> 8], b, memory_order_release);
	}
	cfg_pack(c, &w0, &w1);
	cce_write(&b->e[sid & 0xff], atomic_load_explicit(&v->ctx_gen, memory_order_relaxed), w0, w1);
}

/* Under v->lock: every cached context becomes invalid at once. */
void vtd_ctx_invalidate_all(struct viommu_vtd *v)
{
	uint32_t g = atomic_load_explicit(&v->ctx_gen, memory_order_relaxed) + 1;

	if (g == 0) {
		/* The generation wrapped: old entries could alias, so clear them. */
		for (unsigned b = 0; b < 256; b++) {
			struct vtd_cce_bus *p = atomic_load_explicit(&v->cce[b], memory_order_relaxed);

			for (unsigned i = 0; p && i < 256; i++)
				cce_write(&p->e[i], 0, 0, 0);
		}
		g = 1;
	}
	atomic_store_explicit(&v->ctx_gen, g, memory_order_release);
}

/*
 * Device-selective (spec 6.5.2.1): @fm masks function-number bits of the
 * source id: 1 bit 2, 2 bits 2:1, 3 bits 2:0.
 */
void vtd_ctx_invalidate_device(struct viommu_vtd *v, uint16_t sid, unsigned fm)
{
	static const uint8_t masks[4] = { 0, 4, 6, 7 };
	struct vtd_cce_bus *p = atomic_load_explicit(&v->cce[sid >> 8], memory_order_relaxed);
	uint8_t m = masks[fm & 3];

	for (unsigned i = 0; p && i < 256; i++)
		if ((i & ~m & 0xff) == (sid & ~m & 0xff))
			cce_write(&p->e[i], 0, 0, 0);
}

void vtd_ctx_free(struct viommu_vtd *v)
{
	for (unsigned b = 0; b < 256; b++)
		free(atomic_load_explicit(&v->cce[b], memory_order_relaxed));
}

/* ---- root and context entries (legacy mode) --------------------------- */

static int read_entry(struct viommu_vtd *v, uint64_t gpa, uint64_t e[2])
{
	uint64_t b[2];
	int r = v->o.read(v->o.ctx, gpa, b, sizeof(b));

	if (r)
		return r;
	e[0] = b[0];	/* guest tables are little endian, as this host */
	e[1] = b[1];
	return 0;
}

static void blocked(struct vtd_cfg *c, uint8_t reason)
{
	c->kind = VTD_CFG_BLOCKED;
	c->fault = reason;
}

/* Legacy root entry -> context entry (spec 9.1, 9.3). */
static void resolve_legacy(struct viommu_vtd *v, uint16_t sid, struct vtd_cfg *c)
{
	const uint64_t hawm = v->haw_mask;
	uint64_t re[2], ce[2];

	if (read_entry(v, v->root + (uint64_t)(sid >> 8) * 16, re))
		return blocked(c, 0x8);
	if (!(re[0] & 1))
		return blocked(c, 0x1);
	if (re[1] || (re[0] & (UINT64_C(0xffe) | ~hawm)))
		return blocked(c, 0xA);
	if (read_entry(v, (re[0] & ~UINT64_C(0xfff)) + (uint64_t)(sid & 0xff) * 16, ce))
		return blocked(c, 0x9);
	/* FPD is honoured even in an entry that is not present (9.3, FPD field). */
	c->fpd = ce[0] & 2;
	if (!(ce[0] & 1))
		return blocked(c, 0x2);
	/* lo 11:4 and bits at or above HAW; hi bit 7 and 63:24 */
	if ((ce[0] & (UINT64_C(0xff0) | ~hawm)) || (ce[1] & UINT64_C(0xffffffffff000080)))
		return blocked(c, 0xB);
	unsigned aw = ce[1] & 7, tt = (ce[0] >> 2) & 3;

	if (!(v->sagaw & (1u << aw)))
		return blocked(c, 0x3);
	if (tt == 3 || (tt == 1 && !(v->ecap & ECAP_DT)) || (tt == 2 && !(v->ecap & ECAP_PT)))
		return blocked(c, 0x3);
	c->did = (uint16_t)(ce[1] >> 8);
	c->devtlb = tt == 1;
	if (tt == 2) {
		c->kind = VTD_CFG_IDENTITY;
		return;
	}
	c->kind = VTD_CFG_SECOND;
	c->levels = (uint8_t)(aw + 2);
	c->in_bits = (uint8_t)VI_MIN(v->aw, 30 + 9 * aw);
	c->root = ce[0] & ~UINT64_C(0xfff);
}

void vtd_resolve(struct viommu_vtd *v, uint16_t sid, struct vtd_cfg *c)
{
	memset(c, 0, sizeof(*c));
	if (!atomic_load_explicit(&v->te, memory_order_relaxed)) {
		c->kind = VTD_CFG_IDENTITY;
		return;
	}
	if (cce_get(v, sid, c))
		return;
	resolve_legacy(v, sid, c);
	if (c->kind != VTD_CFG_BLOCKED) {
		cce_put(v, sid, c);
		v->st.context_fills++;
	}
}

/* Do @a and @b give the same view of the address space? */
bool vtd_cfg_same_view(const struct vtd_cfg *a, const struct vtd_cfg *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind != VTD_CFG_SECOND)
		return true;
	return a->did == b->did && a->root == b->root && a->levels == b->levels && a->in_bits == b->in_bits;
}

/* ---- second-stage walks ---------------------------------------------- */

/*
 * Reads for the guest walker. Beyond what viommu_pgtable_walk checks, two
 * bits of a present entry are reserved here (spec 9.8): SNP (bit 11) in
 * every entry, since ECAP.SC is clear, and TM (bit 62) in every entry
 * without ECAP.DT and in non-leaf entries with it. Such an entry is
 * refused as a failed read, and the caller reports it as reason 0xC.
 * The level of an entry is counted from the start of a walk, which begins
 * at the root table.
 */
struct walk_ctx {
	struct viommu_vtd *v;
	uint64_t root_page;
	int levels, count;
	bool rsvd;
	uint64_t budget;	/* reads left (views: max_sync_reads; a translation needs <= 5) */
	bool over;		/* the budget ran out */
};

static int walk_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct walk_ctx *w = ctx;
	int r, level;
	uint64_t e, extra = UINT64_C(1) << 11;

	if (!w->budget || !w->v->pass_reads) {
		w->over = true;
		return -E2BIG;
	}
	w->budget--;
	w->v->pass_reads--;
	if ((gpa >> 12) == w->root_page)
		w->count = 0;
	level = w->levels - w->count++;
	r = w->v->o.read(w->v->o.ctx, gpa, buf, len);
	if (r || len != sizeof(e))
		return r;
	memcpy(&e, buf, sizeof(e));
	if (!(e & 3))
		return 0;
	if (!(w->v->ecap & ECAP_DT) || (level > 1 && !(e & (1u << 7))))
		extra |= UINT64_C(1) << 62;
	if (e & extra) {
		w->rsvd = true;
		return -EIO;
	}
	return 0;
}

/* The walker's options for @c: the one place that speaks the pgtable API. */
static void walk_opts(const struct viommu_vtd *v, const struct vtd_cfg *c, struct viommu_pgtable_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->format = VIOMMU_PT_VTD_SL;
	o->levels = c->levels;
	o->in_bits = c->in_bits;
	o->out_bits = v->haw;
}

int vtd_read_view(struct viommu_vtd *v, const struct vtd_cfg *cfg, uint64_t first, uint64_t last,
		  struct viommu_iommu_view *view)
{
	switch (cfg->kind) {
	case VTD_CFG_IDENTITY: {
		uint64_t lim = v->haw_mask;

		if (first > lim)
			return 0;
		return viommu_iommu_view_add(view, first & ~UINT64_C(0xfff), VI_MIN(last, lim) | 0xfff,
					     first & ~UINT64_C(0xfff), RW);
	}
	case VTD_CFG_SECOND: {
		struct viommu_pgtable_opts o;
		struct walk_ctx w = { v, cfg->root >> 12, cfg->levels, 0, false, v->o.max_sync_reads, false };
		struct viommu_iommu_pgtable_source src = { &o, cfg->root, walk_read, &w };
		int r;

		walk_opts(v, cfg, &o);
		r = viommu_iommu_read_pgtable(&src, first, last, view);
		if (w.over)
			vtd_guest_log(v, "sync of [%#llx, %#llx] refused: more than %llu table reads",
				      (unsigned long long)first, (unsigned long long)last,
				      (unsigned long long)v->o.max_sync_reads);
		return r;
	}
	default:
		return 0;	/* blocked: nothing reachable */
	}
}

/* ---- translate -------------------------------------------------------- */

static bool in_window(uint64_t a)
{
	return a >= VTD_WIN_FIRST && a <= VTD_WIN_LAST;
}

static void answer_identity(struct viommu_vtd_xlat *x, uint64_t iova, uint16_t did)
{
	x->kind = VIOMMU_VTD_XLAT_MEMORY;
	x->first = iova & ~UINT64_C(0xfff);
	x->last = x->first | 0xfff;
	x->out = x->first;
	x->perm = RW;
	x->did = did;
}

/*
 * Fill *x from a leaf [base, base + size - 1] -> out0. A leaf whose output
 * overlaps the interrupt window answers for the 4K page only; a page whose
 * output is in the window is blocked (3.14). Returns false for that.
 */
static bool answer_leaf(struct viommu_vtd_xlat *x, uint64_t iova, uint64_t base, uint64_t size, uint64_t out0,
			unsigned perm, uint16_t did)
{
	uint64_t oend = out0 + (size - 1);

	x->kind = VIOMMU_VTD_XLAT_MEMORY;
	x->perm = perm;
	x->did = did;
	if (oend < VTD_WIN_FIRST || out0 > VTD_WIN_LAST) {
		x->first = base;
		x->last = base + (size - 1);
		x->out = out0;
		return true;
	}
	uint64_t o = out0 + (iova - base);

	if (in_window(o))
		return false;
	x->first = iova & ~UINT64_C(0xfff);
	x->last = x->first | 0xfff;
	x->out = o & ~UINT64_C(0xfff);
	return true;
}

static int fault(struct viommu_vtd *v, uint16_t sid, uint64_t iova, uint8_t reason, unsigned access, bool fpd,
		 struct viommu_vtd_xlat *x)
{
	x->fault = reason;
	x->recorded = vtd_fault_record(v, sid, iova, reason, access & VIOMMU_PERM_WRITE, fpd);
	vtd_guest_log(v, "DMA %s by %02x:%02x.%u at %#llx blocked, reason %#x%s", access & VIOMMU_PERM_WRITE ?
		      "write" : "read", sid >> 8, (sid >> 3) & 0x1f, sid & 7, (unsigned long long)iova, reason,
		      x->recorded ? "" : " (not recorded)");
	return -EFAULT;
}

/* The slow path, under v->lock. */
static int translate_locked(struct viommu_vtd *v, uint16_t sid, uint64_t iova, unsigned access, unsigned flags,
			    struct viommu_vtd_xlat *x)
{
	struct vtd_cfg c;
	struct viommu_pgtable_opts o;
	struct viommu_pt_walk_result res;
	struct walk_ctx w;
	int r;

	vtd_resolve(v, sid, &c);
	if (c.kind == VTD_CFG_BLOCKED)
		return fault(v, sid, iova, c.fault, access, c.fpd, x);
	if (flags && !c.devtlb && atomic_load_explicit(&v->te, memory_order_relaxed))
		return fault(v, sid, iova, 0xD, access, c.fpd, x);	/* ATS needs TT = 01b */
	if (c.kind == VTD_CFG_IDENTITY || (flags & VIOMMU_VTD_ATS_TRANSLATED)) {
		answer_identity(x, iova, c.did);
		return 0;
	}
	w = (struct walk_ctx){ v, c.root >> 12, c.levels, 0, false, 8, false };	/* 5 levels at most */
	walk_opts(v, &c, &o);
	v->st.walks++;
	r = viommu_pgtable_walk(&o, c.root, walk_read, &w, iova, flags ? 0 : access, &res);
	if (r) {
		if (r != -EFAULT)
			return fault(v, sid, iova, 0x3, access, c.fpd, x);	/* not a walkable context */
		/* A translation request learns "no access"; it is not a fault (ATS). */
		if ((flags & VIOMMU_VTD_ATS_TRANSLATION) && !w.rsvd &&
		    (res.fault == VIOMMU_PT_FAULT_TRANSLATION || res.fault == VIOMMU_PT_FAULT_PERMISSION)) {
			answer_identity(x, iova, c.did);
			x->perm = 0;
			x->out = 0;
			return 0;
		}
		return fault(v, sid, iova, w.rsvd ? 0xC : res.vtd_reason, access, c.fpd, x);
	}
	unsigned perm = res.perm & RW;
	uint64_t out0 = res.phys - (iova - res.leaf_iova);

	if (perm)
		viommu_iotlb_insert(v->iotlb, &(struct viommu_iotlb_entry){ sid, c.did, res.leaf_iova, out0,
									     (uint8_t)vi_ffs64(res.size),
									     (uint8_t)perm });
	if (!answer_leaf(x, iova, res.leaf_iova, res.size, out0, perm, c.did))
		return fault(v, sid, iova, 0xE, access, c.fpd, x);
	return 0;
}

VIOMMU_API int viommu_vtd_translate(struct viommu_vtd *v, uint16_t sid, uint64_t iova, unsigned access,
				    unsigned flags, struct viommu_vtd_xlat *x)
{
	struct vtd_cfg c;
	struct viommu_iotlb_entry e;
	int r;

	if (!v || !x || !access || (access & ~RW) || flags > VIOMMU_VTD_ATS_TRANSLATED)
		return vi_errno(-EINVAL);
	memset(x, 0, sizeof(*x));
	if (in_window(iova)) {
		/* Requests without PASID there are interrupt requests, never remapped (3.14). */
		x->kind = VIOMMU_VTD_XLAT_INTERRUPT;
		x->first = VTD_WIN_FIRST;
		x->last = VTD_WIN_LAST;
		return 0;
	}
	if (!LDA(&v->te)) {
		answer_identity(x, iova, 0);
		return 0;
	}
	if (cce_get(v, sid, &c)) {
		if (c.kind == VTD_CFG_IDENTITY && !flags) {
			answer_identity(x, iova, c.did);
			return 0;
		}
		if (c.kind == VTD_CFG_SECOND && flags == VIOMMU_VTD_ATS_TRANSLATED && c.devtlb) {
			answer_identity(x, iova, c.did);
			return 0;
		}
		if (c.kind == VTD_CFG_SECOND && (!flags || (flags == VIOMMU_VTD_ATS_TRANSLATION && c.devtlb)) &&
		    viommu_iotlb_lookup(v->iotlb, sid, c.did, iova, &e) &&
		    (flags || (e.perm & access) == access) &&
		    answer_leaf(x, iova, e.iova, UINT64_C(1) << e.order, e.output, e.perm, c.did))
			return 0;
	}
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	r = translate_locked(v, sid, iova, access, flags, x);
	vtd_unlock(v);
	return vi_errno(r);
}

/* ---- the DMA helper --------------------------------------------------- */

VIOMMU_API long viommu_vtd_dma(struct viommu_vtd *v, uint16_t sid, uint64_t iova, void *buf, size_t len,
			       bool is_write)
{
	unsigned char *p = buf;
	uint64_t cur = iova;
	size_t rem = len;
	long moved = 0;

	if (!v || (!buf && len) || len > (size_t)INT64_MAX)
		return vi_errno(-EINVAL);
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	while (rem) {
		struct viommu_vtd_xlat x;
		int r = viommu_vtd_translate(v, sid, cur, is_write ? VIOMMU_PERM_WRITE : VIOMMU_PERM_READ, 0, &x);
		uint64_t avail;
		size_t chunk;

		if (r == -EFAULT)
			avail = 0xfff - (cur & 0xfff);	/* the page is skipped, as PCI drops it */
		else if (r)
			return r;
		else
			avail = x.last - cur;
		chunk = (uint64_t)rem - 1 < avail ? rem : (size_t)avail + 1;
		if (r) {
			if (!is_write)
				memset(p, 0, chunk);
		} else if (x.kind == VIOMMU_VTD_XLAT_INTERRUPT) {
			if (is_write) {
				/* Interrupt requests are aligned dwords; the rest is dropped. */
				for (uint64_t a = (cur + 3) & ~UINT64_C(3); a + 3 <= cur + (chunk - 1); a += 4) {
					uint32_t d;

					memcpy(&d, p + (a - cur), 4);
					atomic_fetch_add_explicit(&v->interrupts, 1, memory_order_relaxed);
					if (v->o.interrupt)
						v->o.interrupt(v->o.ctx, sid, a, d);
				}
			} else {
				memset(p, 0, chunk);
			}
			moved += (long)chunk;
		} else {
			uint64_t gpa = x.out + (cur - x.first);

			r = is_write ? v->o.write(v->o.ctx, gpa, p, chunk) : v->o.read(v->o.ctx, gpa, p, chunk);
			if (r && !is_write)
				memset(p, 0, chunk);
			if (!r)
				moved += (long)chunk;
		}
		p += chunk;
		rem -= chunk;
		if (rem && cur + chunk < cur)
			break;		/* the top of the space */
		cur += chunk;
	}
	return moved;
}
