// SPDX-License-Identifier: MIT
/*
 * What a VMM asks the reconciler during live migration and live update
 * (issue 15), for either desired-mapping source:
 *
 *  - the dirty log: which guest pages the devices may have written since the
 *    last call. Each backend's dirty bits are read over its host mappings
 *    (type1 VFIO_IOMMU_DIRTY_PAGES, iommufd IOMMU_HWPT_GET_DIRTY_BITMAP) and
 *    carried back to guest-physical addresses through the pieces of the
 *    desired mapping the mapping came from. A backend that cannot track
 *    contributes every page it maps, as QEMU's vfio_get_dirty_bitmap does
 *    when neither the container nor the devices can track
 *    (hw/vfio/dirty-tracking.c, cpu_physical_memory_set_dirty_range);
 *  - the user-address handover: host memory reachable at a new address (the
 *    same pages, e.g. a memfd mapped again) is given to every host mapping
 *    without unmapping it (type1 VFIO_DMA_UNMAP_FLAG_VADDR, then
 *    VFIO_DMA_MAP_FLAG_VADDR), and the record follows, so the commit that
 *    moves the regions finds every mapping already as desired: no host call,
 *    no window, device DMA never stops.
 *
 * Both work on the engine's records (recon_int.h) and make their host calls
 * here; neither changes a desired mapping.
 */
#include <stdlib.h>
#include <string.h>

#include "reconcile/recon_int.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"

#define viommu_recon_dirty__last_field unattributed

#define VI_DIRTY_PAGE	 UINT64_C(4096)		/* a guest page of the dirty log */
#define VI_DIRTY_WINDOW	 (UINT64_C(1) << 15)	/* backend pages read per call: a 4 KiB bitmap */

/* ---- the dirty log ------------------------------------------------------ */

/* Per backend: can it track? (type1 v1 and a domain without dirty ops cannot) */
static bool untracked(int rc)
{
	return rc == -EOPNOTSUPP || rc == -EACCES || rc == -ENOENT;
}

VIOMMU_API int viommu_recon_dirty_start(struct viommu_recon *r)
{
	int first = 0;

	if (!r)
		return vi_errno(-EINVAL);
	for (struct vi_recon_backend *b = r->backends; b; b = b->next) {
		int rc = viommu_host_dirty_tracking(b->h, VIOMMU_HOST_DIRTY_START);

		b->dirty_untracked = rc && untracked(rc);
		b->dirty_on = rc == 0 || b->dirty_untracked;
		if (b->dirty_untracked)
			vi_info("reconcile: a backend cannot track dirty pages (%d): every page it maps counts as dirty", rc);
		else if (rc && !first)
			first = rc;
	}
	r->dirty_logging = true;
	return first ? vi_errno(first) : 0;
}

VIOMMU_API int viommu_recon_dirty_stop(struct viommu_recon *r)
{
	int first = 0;

	if (!r)
		return vi_errno(-EINVAL);
	for (struct vi_recon_backend *b = r->backends; b; b = b->next) {
		if (b->dirty_on && !b->dirty_untracked) {
			int rc = viommu_host_dirty_tracking(b->h, VIOMMU_HOST_DIRTY_STOP);

			if (rc && !first)
				first = rc;
		}
		b->dirty_on = b->dirty_untracked = false;
	}
	r->dirty_logging = false;
	return first ? vi_errno(first) : 0;
}

struct dirty_out {
	uint64_t gpa, npages;
	uint64_t *bitmap;
	struct viommu_recon_dirty *st;
};

/* Mark the guest pages of [first, last] (guest-physical) in the caller's bitmap. */
static void mark_gpa(struct dirty_out *o, uint64_t first, uint64_t last)
{
	uint64_t end = o->gpa + (o->npages * VI_DIRTY_PAGE - 1), a, b;

	if (last < o->gpa || first > end)
		return;
	a = (VI_MAX(first, o->gpa) - o->gpa) / VI_DIRTY_PAGE;
	b = (VI_MIN(last, end) - o->gpa) / VI_DIRTY_PAGE;
	for (uint64_t i = a; i <= b; i++) {
		uint64_t bit = UINT64_C(1) << (i % 64);

		if (!(o->bitmap[i / 64] & bit)) {
			o->bitmap[i / 64] |= bit;
			o->st->pages++;
		}
	}
}

/*
 * IOVA [first, last] of the extent recorded as @value was written: find the
 * guest-physical addresses through the desired mapping's pieces that still
 * translate as the record says (a piece that does not is a record the
 * desired mapping has left: its bytes are counted as unattributed).
 */
static void mark_iova(const struct viommu_recon *r, struct dirty_out *o, uint64_t first, uint64_t last,
		      uint64_t extent_first, uint64_t value)
{
	uint64_t delta = (value & ~VI_REC_FLAGS) - extent_first, cur = first;
	struct vi_recon_cursor c;
	struct vi_recon_piece p;

	memset(&c, 0, sizeof(c));
	r->src->seek(r, &c, first);
	while (cur <= last && r->src->next(r, &c, &p) && p.first <= last) {
		uint64_t a = VI_MAX(p.first, cur), b = VI_MIN(p.last, last);

		if (a > cur)
			o->st->unattributed += a - cur;
		if (p.mappable && p.delta == delta)
			mark_gpa(o, p.out + (a - p.first), p.out + (b - p.first));
		else
			o->st->unattributed += b - a + 1;
		if (b == UINT64_MAX)
			return;
		cur = b + 1;
	}
	if (cur <= last)
		o->st->unattributed += last - cur + 1;
}

/* One backend read over [first, last] (page aligned, whole extents for type1); bits go through @mark_iova. */
static int read_window(struct viommu_recon *r, struct vi_recon_backend *b, struct dirty_out *o, uint64_t first,
		       uint64_t last)
{
	uint64_t pages = (last - first) / b->page + 1, words = (pages + 63) / 64;
	struct viommu_host_dirty_bitmap bm = { .pgsize = b->page, .size = words * 8 };
	struct viommu_rangemap_iter it;
	int rc;

	bm.data = calloc(words, 8);
	if (!bm.data)
		return -ENOMEM;
	o->st->host_calls++;
	rc = viommu_host_dirty_read(b->h, first, last - first + 1, &bm, 0);
	if (!rc) {
		/* only bits inside recorded extents count: type1 may report pages after a mapping */
		viommu_rangemap_for_each(&it, b->maps, first, last) {
			uint64_t ef = VI_MAX(it.entry.first, first), el = VI_MIN(it.entry.last, last);

			for (uint64_t x = ef; x <= el; x += b->page) {
				uint64_t i = (x - first) / b->page;

				if (bm.data[i / 64] & (UINT64_C(1) << (i % 64)))
					mark_iova(r, o, x, x + (b->page - 1), it.entry.first, it.entry.value);
				if (x + b->page - 1 >= el)
					break;
			}
		}
	}
	free(bm.data);
	return rc;
}

/*
 * Read one backend: windows of back-to-back extents of at most
 * VI_DIRTY_WINDOW pages (an extent larger than that is one window: type1
 * refuses a read that bisects a mapping; iommufd stops a read at a hole).
 */
static int dirty_backend(struct viommu_recon *r, struct vi_recon_backend *b, struct dirty_out *o)
{
	struct viommu_rangemap_iter it;
	uint64_t wf = 0, wl = 0;
	bool open = false;
	int rc = 0;

	viommu_rangemap_for_each(&it, b->maps, 0, UINT64_MAX) {
		uint64_t f = it.entry.first, l = it.entry.last;

		if (b->dirty_untracked) {
			/* every page it maps: the device may have written any of it */
			mark_iova(r, o, f, l, f, it.entry.value);
			continue;
		}
		if (open && (f != wl + 1 || (l - wf) / b->page + 1 > VI_DIRTY_WINDOW)) {
			rc = read_window(r, b, o, wf, wl);
			open = false;
			if (rc)
				break;
		}
		if (!open) {
			wf = f;
			open = true;
		}
		wl = l;
	}
	if (!rc && open)
		rc = read_window(r, b, o, wf, wl);
	return rc;
}

VIOMMU_API int viommu_recon_dirty_log(struct viommu_recon *r, uint64_t gpa, uint64_t npages, uint64_t *bitmap,
				      struct viommu_recon_dirty *out)
{
	struct viommu_recon_dirty st = { .sz = sizeof(st) };
	struct dirty_out o = { .gpa = gpa, .npages = npages, .bitmap = bitmap, .st = &st };
	int first = 0;

	if (!r || !bitmap || !npages || (gpa & (VI_DIRTY_PAGE - 1)) || npages > (UINT64_MAX - gpa) / VI_DIRTY_PAGE + 1) {
		vi_warn("viommu_recon_dirty_log: refused [0x%llx, +0x%llx pages]: %s", (unsigned long long)gpa,
			(unsigned long long)npages,
			!r || !bitmap ? "NULL argument" : "not page aligned, empty, or past 2^64");
		return vi_errno(-EINVAL);
	}
	if (!r->dirty_logging) {
		vi_warn("viommu_recon_dirty_log: dirty logging was not started");
		return vi_errno(-EINVAL);
	}
	for (struct vi_recon_backend *b = r->backends; b; b = b->next) {
		int rc;

		if (!b->dirty_on)
			continue;	/* attached after the start: nothing to read yet */
		st.untracked += b->dirty_untracked;
		rc = dirty_backend(r, b, &o);
		if (rc) {
			vi_warn("reconcile: dirty read of a backend failed (%d): its pages are not in the log", rc);
			if (!first)
				first = rc;
		}
	}
	if (out && VI_OPTS_OUT(out, &st, viommu_recon_dirty))
		return vi_errno(-EINVAL);
	return first ? vi_errno(first) : 0;
}

/* ---- the user-address handover ----------------------------------------- */

struct moved {
	uint64_t first, last, old_vaddr, new_vaddr;
	unsigned flags;		/* the record's flag bits */
};

/* The extents of @b whose user range lies in [of, ol]; -EINVAL if one straddles an edge. */
static int collect(const struct vi_recon_backend *b, uint64_t of, uint64_t ol, uint64_t nf, struct moved **out,
		   size_t *n)
{
	struct viommu_rangemap_iter it;
	struct moved *v = NULL;
	size_t k = 0, cap = 0;

	viommu_rangemap_for_each(&it, b->maps, 0, UINT64_MAX) {
		uint64_t va = it.entry.value & ~VI_REC_FLAGS, len = it.entry.last - it.entry.first;

		if (va + len < of || va > ol)
			continue;
		if (va < of || va + len > ol) {
			vi_warn("reconcile: user-address handover refused: host mapping [0x%llx, 0x%llx] at user 0x%llx "
				"straddles the edge of [0x%llx, 0x%llx] and cannot be split",
				(unsigned long long)it.entry.first, (unsigned long long)it.entry.last,
				(unsigned long long)va, (unsigned long long)of, (unsigned long long)ol);
			free(v);
			return -EINVAL;
		}
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct moved *nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[k++] = (struct moved){ it.entry.first, it.entry.last, va, nf + (va - of),
					 (unsigned)(it.entry.value & VI_REC_FLAGS) };
	}
	*out = v;
	*n = k;
	return 0;
}

/*
 * type1: invalidate each run of back-to-back moved extents with one
 * UNMAP_VADDR, then give each extent its new address with MAP_VADDR. On a
 * failure the extents still invalid get their old address back, and the
 * record keeps, for each extent, the address the backend holds.
 */
static long hand_over(struct viommu_recon *r, struct vi_recon_backend *b, struct moved *v, size_t n)
{
	long calls = 0;
	size_t runs_done = 0, set = 0;
	int rc = 0;

	for (size_t i = 0; i < n && !rc;) {
		size_t j = i;
		uint64_t bytes = 0;

		while (j + 1 < n && v[j + 1].first == v[j].last + 1)
			j++;
		calls++;
		rc = viommu_host_unmap_flags(b->h, v[i].first, v[j].last - v[i].first + 1, VIOMMU_HOST_UNMAP_VADDR,
					     &bytes);
		if (!rc && bytes != v[j].last - v[i].first + 1)
			rc = -EIO;	/* it invalidated other than what is recorded there */
		if (rc) {
			struct viommu_recon_report rep = { .kind = VIOMMU_RECON_ERR_BACKEND, .err = rc,
							   .first = v[i].first, .last = v[j].last, .backend = b->h,
							   .is_unmap = true, .out = v[i].first };

			vi_warn("reconcile: [0x%llx, 0x%llx]: invalidating the user address was refused (%d)",
				(unsigned long long)v[i].first, (unsigned long long)v[j].last, rc);
			if (r->opts.report)
				r->opts.report(r->opts.report_ctx, &rep);
			break;
		}
		runs_done = j + 1;
		i = j + 1;
	}
	for (; !rc && set < runs_done; set++) {
		calls++;
		rc = viommu_host_map_flags(b->h, v[set].first, v[set].last - v[set].first + 1, v[set].new_vaddr, 0,
					   VIOMMU_HOST_MAP_VADDR);
		if (!rc) {
			viommu_rangemap_set_value(b->maps, v[set].first, v[set].new_vaddr | v[set].flags);
		} else {
			struct viommu_recon_report rep = { .kind = VIOMMU_RECON_ERR_BACKEND, .err = rc,
							   .first = v[set].first, .last = v[set].last, .backend = b->h,
							   .out = v[set].first };

			vi_warn("reconcile: [0x%llx, 0x%llx]: the new user address 0x%llx was refused (%d)",
				(unsigned long long)v[set].first, (unsigned long long)v[set].last,
				(unsigned long long)v[set].new_vaddr, rc);
			if (r->opts.report)
				r->opts.report(r->opts.report_ctx, &rep);
			break;	/* @set is still invalid: restored below with the rest */
		}
	}
	if (rc) {
		/* what is invalid now gets its old address back (the record already says the old one) */
		for (size_t k = set; k < runs_done; k++) {
			calls++;
			if (viommu_host_map_flags(b->h, v[k].first, v[k].last - v[k].first + 1, v[k].old_vaddr, 0,
						  VIOMMU_HOST_MAP_VADDR))
				vi_warn("reconcile: host mapping [0x%llx, 0x%llx] keeps an invalid user address",
					(unsigned long long)v[k].first, (unsigned long long)v[k].last);
		}
		if (!r->status)
			r->status = rc;
		return rc;
	}
	return calls;
}

VIOMMU_API long viommu_recon_update_vaddr(struct viommu_recon *r, uint64_t old_first, uint64_t old_last,
					  uint64_t new_first)
{
	long calls = 0;

	if (!r || old_last < old_first || new_first + (old_last - old_first) < new_first) {
		vi_warn("viommu_recon_update_vaddr: refused [0x%llx, 0x%llx] -> 0x%llx: %s", (unsigned long long)old_first,
			(unsigned long long)old_last, (unsigned long long)new_first,
			!r ? "NULL reconciler" : "an empty range or one that wraps");
		return vi_errno(-EINVAL);
	}
	/* every backend must be able to, or nothing is done */
	for (struct vi_recon_backend *b = r->backends; b; b = b->next) {
		struct viommu_host_caps caps = { .sz = sizeof(caps) };

		if (viommu_host_get_caps(b->h, &caps) || !(caps.flags & VIOMMU_HOST_CAP_VADDR)) {
			vi_warn("viommu_recon_update_vaddr: refused: a backend has no user-address update (iommufd's "
				"live update is IOMMU_IOAS_CHANGE_PROCESS, for file mappings)");
			return vi_errno(-EOPNOTSUPP);
		}
		if ((new_first - old_first) & (b->page - 1)) {
			vi_warn("viommu_recon_update_vaddr: refused: the move 0x%llx -> 0x%llx is not a multiple of the "
				"IOMMU page 0x%llx", (unsigned long long)old_first, (unsigned long long)new_first,
				(unsigned long long)b->page);
			return vi_errno(-EINVAL);
		}
	}
	{
		/* collect every backend's extents first: a straddling one refuses the whole call */
		size_t nb = 0, i = 0;
		struct vi_recon_backend *b;
		struct moved **v;
		size_t *n;
		int rc = 0;

		for (b = r->backends; b; b = b->next)
			nb++;
		v = calloc(nb ? nb : 1, sizeof(*v));
		n = calloc(nb ? nb : 1, sizeof(*n));
		if (!v || !n) {
			free(v);
			free(n);
			return vi_errno(-ENOMEM);
		}
		for (b = r->backends, i = 0; b && !rc; b = b->next, i++)
			rc = collect(b, old_first, old_last, new_first, &v[i], &n[i]);
		r->status = 0;
		for (b = r->backends, i = 0; b && !rc; b = b->next, i++) {
			long c = n[i] ? hand_over(r, b, v[i], n[i]) : 0;

			if (c < 0)
				rc = (int)c;
			else
				calls += c;
		}
		for (i = 0; i < nb; i++)
			free(v[i]);
		free(v);
		free(n);
		if (rc)
			return vi_errno(rc);
	}
	return calls;
}
