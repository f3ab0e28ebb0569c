// SPDX-License-Identifier: MIT
/*
 * The memory model: regions, address spaces, transactions and listeners.
 * Rendering and the diff live in render.c, guest-physical access in access.c.
 *
 * Every mutation records the address windows it can change in each address
 * space (touch(): the region's placements, found by walking up through
 * parents and the aliases of every ancestor), so a commit re-renders only
 * those windows (render.c). A walk that would exceed VI_TOUCH_BUDGET steps
 * (a region reachable through very many alias paths, or a tree deeper than
 * any renderable one) gives up and marks everything for a full render.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "memory/memory_int.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"

#define viommu_mr_ops__last_field write
#define viommu_mr_iommu_ops__last_field translate
#define viommu_memory_listener__last_field commit

/* Placement steps one mutation may take before it marks everything for a full render. */
#define VI_TOUCH_BUDGET 1024u
/* Windows an address space of @n sections collects before a full render is cheaper. */
#define VI_WIN_LIMIT(n) (16 + (n) / 32)

VIOMMU_API struct viommu_memory *viommu_memory_new(void)
{
	struct viommu_memory *m = calloc(1, sizeof(*m));

	return m ? m : vi_null(ENOMEM);
}

/*
 * Free an address space. Its chain of views goes to the model's graveyard
 * (readers may still hold some), or, when the model itself goes, is freed.
 */
static void as_destroy(struct viommu_as *as, bool model_gone)
{
	struct viommu_memory *m = as->m;

	vi_as_drop_next(as);
	as->view->dies_whole = true;	/* no newer view will share its nodes */
	viommu_flatview_put(as->view);	/* the space's own reference */
	if (model_gone) {
		vi_views_free_all(as->oldest);
	} else {
		struct viommu_flatview **tail = &m->grave;

		while (*tail)
			tail = &(*tail)->newer;
		*tail = as->oldest;
		m->grave = vi_views_reclaim(m->grave, false);
	}
	free(as->diff);
	free(as->win);
	pthread_mutex_destroy(&as->view_lock);
	free(as->name);
	free(as);
}

static void mr_destroy(struct viommu_mr *mr)
{
	vi_kx_free(mr->kids);	/* viommu_memory_free frees regions that still hold subregions */
	free(mr->name);
	free(mr);
}

VIOMMU_API void viommu_memory_free(struct viommu_memory *m)
{
	if (!m)
		return;
	while (m->as_head) {
		struct viommu_as *as = m->as_head;

		m->as_head = as->next;
		as_destroy(as, true);
	}
	vi_views_free_all(m->grave);
	while (m->regions) {
		struct viommu_mr *mr = m->regions;

		m->regions = mr->all_next;
		mr_destroy(mr);
	}
	while (m->zombies) {
		struct viommu_mr *mr = m->zombies;

		m->zombies = mr->all_next;
		mr_destroy(mr);
	}
	while (m->lst_head) {
		struct vi_listener_node *n = m->lst_head;

		m->lst_head = n->next;
		free(n);
	}
	vi_scratch_free(&m->scratch);
	free(m);
}

const struct vi_memory_work *vi_memory_work(const struct viommu_memory *m)
{
	return &m->work;
}

/* ---- notification ---- */

static void unlink_listener(struct viommu_memory *m, struct vi_listener_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		m->lst_head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		m->lst_tail = n->prev;
	free(n);
}

static bool listener_wants(const struct vi_listener_node *x, const struct viommu_as *as)
{
	return !x->cfg.as || x->cfg.as == as;
}

static void deliver_adaptor_del(const struct vi_listener_node *x, struct viommu_as *as,
				const struct viommu_mr_diff *d, size_t n)
{
	if (x->cfg.diff || !x->cfg.region_del)
		return;
	for (size_t i = 0; i < n; i++)
		if (d[i].changed && d[i].has_before)
			x->cfg.region_del(x->l, as, &d[i].before);
}

static void deliver_adaptor_add(const struct vi_listener_node *x, struct viommu_as *as,
				const struct viommu_mr_diff *d, size_t n)
{
	if (x->cfg.diff) {
		x->cfg.diff(x->l, as, d, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (d[i].changed && d[i].has_after && x->cfg.region_add)
			x->cfg.region_add(x->l, as, &d[i].after);
		else if (!d[i].changed && x->cfg.region_nop)
			x->cfg.region_nop(x->l, as, &d[i].after);
	}
}

/* Tell every listener of @as (or only @only) about @d. */
static void notify(struct viommu_memory *m, struct viommu_as *as, const struct viommu_mr_diff *d, size_t n,
		   const struct viommu_memory_listener *only)
{
	struct vi_listener_node *x;

	m->notifying = true;
	for (x = m->lst_head; x; x = x->next)
		if ((!only || x->l == only) && listener_wants(x, as) && x->cfg.begin)
			x->cfg.begin(x->l, as);
	for (x = m->lst_tail; x; x = x->prev)
		if ((!only || x->l == only) && listener_wants(x, as))
			deliver_adaptor_del(x, as, d, n);
	for (x = m->lst_head; x; x = x->next)
		if ((!only || x->l == only) && listener_wants(x, as))
			deliver_adaptor_add(x, as, d, n);
	for (x = m->lst_head; x; x = x->next)
		if ((!only || x->l == only) && listener_wants(x, as) && x->cfg.commit)
			x->cfg.commit(x->l, as);
	m->notifying = false;
}

static bool as_has_listener(const struct viommu_memory *m, const struct viommu_as *as)
{
	for (const struct vi_listener_node *x = m->lst_head; x; x = x->next)
		if (listener_wants(x, as))
			return true;
	return false;
}

static void as_clear_changes(struct viommu_as *as)
{
	as->full = false;
	as->nwin = 0;
}

/*
 * Render what changed in every address space, then publish and notify.
 * Everything that can fail happens before the first view is published, so a
 * failure leaves all views and listeners at the previous state (and the
 * recorded changes pending for the next commit).
 */
static int memory_update(struct viommu_memory *m)
{
	struct viommu_as *as;
	int err = 0;

	for (as = m->as_head; as && !err; as = as->next) {
		as->has_diff = false;
		if (!m->all_full && !as->full && !as->nwin)
			continue;
		if (m->all_full)
			as->full = true;
		err = vi_as_render(as, as_has_listener(m, as));
	}
	if (err) {
		for (as = m->as_head; as; as = as->next)
			vi_as_drop_next(as);
		vi_warn("memory: commit failed (%s): the views stay as they were",
			err == -ELOOP ? "a region is nested deeper than VIOMMU_MEMORY_MAX_DEPTH"
				      : "out of memory or over the render limit");
		return err;
	}
	for (as = m->as_head; as; as = as->next) {
		if (!as->next_view)
			continue;
		vi_as_publish_next(as);
		if (as->has_diff && as->ndiff)
			notify(m, as, as->diff, as->ndiff, NULL);
	}
	for (as = m->as_head; as; as = as->next) {
		as_clear_changes(as);
		as->oldest = vi_views_reclaim(as->oldest, true);
	}
	m->grave = vi_views_reclaim(m->grave, false);
	m->all_full = false;
	/* No published view names a freed region any more. */
	while (m->zombies) {
		struct viommu_mr *mr = m->zombies;

		m->zombies = mr->all_next;
		mr_destroy(mr);
	}
	m->pending = false;
	m->generation++;
	return 0;
}

VIOMMU_API int viommu_memory_begin(struct viommu_memory *m)
{
	if (!m)
		return vi_errno(-EINVAL);
	if (m->notifying) {
		vi_warn("memory: begin from inside a listener callback refused");
		return vi_errno(-EBUSY);
	}
	m->depth++;
	return 0;
}

VIOMMU_API int viommu_memory_commit(struct viommu_memory *m)
{
	if (!m || !m->depth) {
		vi_warn("memory: commit without a matching begin");
		return vi_errno(-EINVAL);
	}
	if (m->notifying) {
		vi_warn("memory: commit from inside a listener callback refused");
		return vi_errno(-EBUSY);
	}
	if (--m->depth || !m->pending)
		return 0;
	return vi_errno(memory_update(m));
}

VIOMMU_API uint64_t viommu_memory_generation(const struct viommu_memory *m)
{
	return m ? m->generation : 0;
}

/* A mutation is its own transaction unless one is open. */
static int mutation_begin(struct viommu_memory *m, const struct viommu_mr *mr, const char *what)
{
	if (m->notifying) {
		vi_warn("memory: %s of region %s from inside a listener callback refused", what, mr->name);
		return -EBUSY;
	}
	m->depth++;
	return 0;
}

static int mutation_end(struct viommu_memory *m, bool changed)
{
	if (changed)
		m->pending = true;
	if (--m->depth || !m->pending)
		return 0;
	return memory_update(m);
}

/* ---- the windows a change reaches ---- */

static void as_add_window(struct viommu_as *as, uint64_t first, uint64_t last, bool bounds)
{
	if (as->full)
		return;
	if (as->nwin >= VI_WIN_LIMIT(as->view->n)) {
		as->full = true;	/* so many windows that a full render is cheaper */
		return;
	}
	if (as->nwin == as->win_cap) {
		size_t nc = as->win_cap ? 2 * as->win_cap : 8;
		struct vi_win *nw = realloc(as->win, nc * sizeof(*nw));

		if (!nw) {
			as->full = true;	/* no room to remember: render everything */
			return;
		}
		as->win = nw;
		as->win_cap = nc;
	}
	as->win[as->nwin++] = (struct vi_win){ first, last, bounds };
}

/*
 * Record that offsets [first, last] of @mr may render differently: in every
 * address space that sees them, at every place they are seen (through the
 * parent chain, and through every alias of @mr or of an ancestor).
 */
static void touch_window(struct viommu_memory *m, const struct viommu_mr *mr, uint64_t first, uint64_t last,
			 bool bounds, unsigned *budget)
{
	if (m->all_full)
		return;
	if (!*budget) {
		m->all_full = true;
		return;
	}
	(*budget)--;
	m->work.touch++;
	if (first > mr->last)
		return;
	if (last > mr->last)
		last = mr->last;
	if (mr->as_users)
		for (struct viommu_as *as = m->as_head; as; as = as->next)
			if (as->root == mr)
				as_add_window(as, first, last, bounds);
	if (mr->parent) {
		uint64_t pf = first + mr->addr, pl = last + mr->addr;

		if (pf >= mr->addr) {		/* else it starts past 2^64-1 of the parent: invisible */
			if (pl < pf)
				pl = UINT64_MAX;
			touch_window(m, mr->parent, pf, pl, bounds, budget);
		}
	}
	for (const struct viommu_mr *a = mr->alias_users; a; a = a->alias_next) {
		uint64_t af = VI_MAX(first, a->alias_offset), al = VI_MIN(last, a->alias_offset + a->last);

		if (af <= al)
			touch_window(m, a, af - a->alias_offset, al - a->alias_offset, bounds, budget);
	}
}

static void touch(const struct viommu_mr *mr)
{
	unsigned budget = VI_TOUCH_BUDGET;

	touch_window(mr->m, mr, 0, mr->last, true, &budget);
}

/*
 * A flag of @mr changed. Only enabling or disabling a region that has
 * subregions or is an alias can move boundaries (a disabled region's own
 * edges count, what lies below it does not).
 */
static void touch_flag(const struct viommu_mr *mr, bool enabled_flag)
{
	unsigned budget = VI_TOUCH_BUDGET;

	touch_window(mr->m, mr, 0, mr->last, enabled_flag && (mr->kids || mr->alias_target), &budget);
}

/* ---- regions ---- */

static struct viommu_mr *mr_new(struct viommu_memory *m, const char *name, enum viommu_mr_kind kind,
				uint64_t size)
{
	struct viommu_mr *mr;

	if (!m || !name) {
		vi_warn("memory: a region needs a model and a name");
		return vi_null(EINVAL);
	}
	/* cache-line aligned: the fields a render reads share one line */
	mr = aligned_alloc(64, (sizeof(*mr) + 63) & ~(size_t)63);
	if (!mr)
		return vi_null(ENOMEM);
	memset(mr, 0, sizeof(*mr));
	mr->name = strdup(name);
	if (!mr->name) {
		free(mr);
		return vi_null(ENOMEM);
	}
	mr->m = m;
	mr->kind = kind;
	mr->last = size - 1;
	mr->enabled = true;
	mr->all_next = m->regions;
	if (m->regions)
		m->regions->all_prev = mr;
	m->regions = mr;
	return mr;
}

static struct viommu_mr *mr_new_ram_kind(struct viommu_memory *m, const char *name, uint64_t size, void *host,
					 enum viommu_mr_kind kind)
{
	struct viommu_mr *mr;

	if (!host || !size) {
		vi_warn("memory: RAM region %s refused: %s", name ? name : "(null)",
			!host ? "no host memory" : "size 0 (2^64 bytes) cannot be host memory");
		return vi_null(EINVAL);
	}
	mr = mr_new(m, name, kind, size);
	if (mr)
		mr->host = host;
	return mr;
}

VIOMMU_API struct viommu_mr *viommu_mr_new_ram(struct viommu_memory *m, const char *name, uint64_t size,
					       void *host)
{
	return mr_new_ram_kind(m, name, size, host, VIOMMU_MR_RAM);
}

VIOMMU_API struct viommu_mr *viommu_mr_new_ram_device(struct viommu_memory *m, const char *name,
						      uint64_t size, void *host)
{
	return mr_new_ram_kind(m, name, size, host, VIOMMU_MR_RAM_DEVICE);
}

VIOMMU_API struct viommu_mr *viommu_mr_new_mmio(struct viommu_memory *m, const char *name, uint64_t size,
						const struct viommu_mr_ops *ops, void *opaque)
{
	struct viommu_mr *mr;

	if (!VI_OPTS_VALID(ops, viommu_mr_ops))
		return vi_null(EINVAL);
	mr = mr_new(m, name, VIOMMU_MR_MMIO, size);
	if (!mr)
		return NULL;
	VI_OPTS_COPY(&mr->ops, ops);
	mr->ops.sz = sizeof(mr->ops);
	mr->opaque = opaque;
	return mr;
}

VIOMMU_API struct viommu_mr *viommu_mr_new_iommu(struct viommu_memory *m, const char *name, uint64_t size,
						 const struct viommu_mr_iommu_ops *ops, void *opaque)
{
	struct viommu_mr *mr;

	if (!VI_OPTS_VALID(ops, viommu_mr_iommu_ops))
		return vi_null(EINVAL);
	mr = mr_new(m, name, VIOMMU_MR_IOMMU, size);
	if (!mr)
		return NULL;
	VI_OPTS_COPY(&mr->iommu_ops, ops);
	mr->iommu_ops.sz = sizeof(mr->iommu_ops);
	mr->opaque = opaque;
	return mr;
}

/* Does the window [offset, offset + size - 1] lie inside @target's offsets? */
static bool alias_fits(const struct viommu_mr *target, uint64_t offset, uint64_t size)
{
	return offset <= target->last && (size - 1) <= target->last - offset;
}

VIOMMU_API struct viommu_mr *viommu_mr_new_alias(struct viommu_memory *m, const char *name,
						 struct viommu_mr *target, uint64_t offset, uint64_t size)
{
	struct viommu_mr *mr;

	if (!target || target->m != m) {
		vi_warn("memory: alias %s refused: %s", name ? name : "(null)",
			!target ? "no target" : "the target belongs to another model");
		return vi_null(EINVAL);
	}
	if (!alias_fits(target, offset, size)) {
		vi_warn("memory: alias %s refused: window [0x%" PRIx64 ", 0x%" PRIx64 "] does not fit in %s "
			"[0, 0x%" PRIx64 "]", name ? name : "(null)", offset, offset + (size - 1), target->name,
			target->last);
		return vi_null(EINVAL);
	}
	mr = mr_new(m, name, VIOMMU_MR_ALIAS, size);
	if (!mr)
		return NULL;
	mr->alias_target = target;
	mr->alias_offset = offset;
	mr->alias_next = target->alias_users;
	if (target->alias_users)
		target->alias_users->alias_prev = mr;
	target->alias_users = mr;
	target->nalias_users++;
	return mr;
}

VIOMMU_API struct viommu_mr *viommu_mr_new_container(struct viommu_memory *m, const char *name, uint64_t size)
{
	return mr_new(m, name, VIOMMU_MR_CONTAINER, size);
}

VIOMMU_API int viommu_mr_free(struct viommu_mr *mr)
{
	struct viommu_memory *m;

	if (!mr)
		return 0;
	m = mr->m;
	if (m->notifying || mr->parent || mr->kids || mr->nalias_users || mr->as_users) {
		vi_warn("memory: free of region %s refused: %s", mr->name,
			m->notifying ? "inside a listener callback" : mr->parent ? "it is still a subregion" :
			mr->kids ? "it has subregions" : mr->nalias_users ? "aliases point at it" :
			"it is an address-space root");
		return vi_errno(-EBUSY);
	}
	if (mr->alias_target) {
		struct viommu_mr *t = mr->alias_target;

		if (mr->alias_prev)
			mr->alias_prev->alias_next = mr->alias_next;
		else
			t->alias_users = mr->alias_next;
		if (mr->alias_next)
			mr->alias_next->alias_prev = mr->alias_prev;
		t->nalias_users--;
	}
	if (mr->all_prev)
		mr->all_prev->all_next = mr->all_next;
	else
		m->regions = mr->all_next;
	if (mr->all_next)
		mr->all_next->all_prev = mr->all_prev;
	if (m->depth || m->pending) {
		/* The published views may still name it until the next commit. */
		mr->all_next = m->zombies;
		m->zombies = mr;
		return 0;
	}
	mr_destroy(mr);
	return 0;
}

/* Insert @sub among @parent's children as the newest of its priority. 0 or -ENOMEM. */
static int link_child(struct viommu_mr *parent, struct viommu_mr *sub)
{
	uint64_t seq = parent->m->seq + 1;
	int err = vi_kx_insert(&parent->kids, sub, sub->addr, seq, vi_mr_end(sub), sub->priority);

	if (err)
		return err;
	parent->m->seq = seq;
	sub->seq = seq;
	sub->parent = parent;
	parent->nchildren++;
	return 0;
}

static void unlink_child(struct viommu_mr *sub)
{
	struct viommu_mr *parent = sub->parent;

	vi_kx_remove(&parent->kids, sub->addr, sub->seq);
	sub->parent = NULL;
	parent->nchildren--;
}

/*
 * The cycle and depth check: is @needle reachable from @x (depth @depth
 * below the region being added) through subregions and alias targets, or
 * is anything below @x deeper than VIOMMU_MEMORY_MAX_DEPTH? Each region is
 * finished once per check (the epoch mark memoises the longest path below
 * it), so the check is linear in the regions and links below the subregion,
 * however many alias paths lead to them. Recursion stops at the depth limit.
 */
static int check_walk(struct viommu_memory *m, struct viommu_mr *x, const struct viommu_mr *needle,
		      unsigned depth);

struct check_ctx {
	struct viommu_memory *m;
	const struct viommu_mr *needle;
	unsigned depth;		/* of the children */
	unsigned height;	/* the longest path below the parent so far */
};

static int check_kid(void *p, void *item)
{
	struct check_ctx *c = p;
	struct viommu_mr *k = item;
	int r = check_walk(c->m, k, c->needle, c->depth);

	if (!r && 1 + k->mark_height > c->height)
		c->height = 1 + k->mark_height;
	return r;
}

static int check_walk(struct viommu_memory *m, struct viommu_mr *x, const struct viommu_mr *needle,
		      unsigned depth)
{
	unsigned height = 0;
	int r;

	if (x == needle)
		return 1;
	if (depth > VIOMMU_MEMORY_MAX_DEPTH)
		return -ELOOP;
	if (x->mark == m->epoch)
		return depth + x->mark_height > VIOMMU_MEMORY_MAX_DEPTH ? -ELOOP : 0;
	m->work.check++;
	if (x->alias_target) {
		r = check_walk(m, x->alias_target, needle, depth + 1);
		if (r)
			return r;
		height = 1 + x->alias_target->mark_height;
	}
	struct check_ctx c = { .m = m, .needle = needle, .depth = depth + 1, .height = height };

	r = vi_kx_walk(x->kids, check_kid, &c);
	if (r)
		return r;
	x->mark = m->epoch;
	x->mark_height = c.height;
	return 0;
}

VIOMMU_API int viommu_mr_add_subregion(struct viommu_mr *parent, uint64_t offset, struct viommu_mr *sub,
				       int priority)
{
	struct viommu_memory *m;
	int err;

	if (!parent || !sub || parent->m != sub->m || parent->kind == VIOMMU_MR_ALIAS) {
		vi_warn("memory: subregion %s at 0x%" PRIx64 " of %s refused: %s", sub ? sub->name : "(null)", offset,
			parent ? parent->name : "(null)",
			!parent || !sub ? "NULL region" : parent->m != sub->m ? "regions of different models" :
			"an alias cannot hold subregions");
		return vi_errno(-EINVAL);
	}
	m = parent->m;
	if (sub->parent || m->notifying) {
		vi_warn("memory: subregion %s at 0x%" PRIx64 " of %s refused: %s", sub->name, offset, parent->name,
			m->notifying ? "inside a listener callback" : "it already has a parent");
		return vi_errno(-EBUSY);
	}
	/*
	 * A cycle would make rendering endless, and a subtree deeper than the
	 * limit cannot render: refuse both before anything changes. Only the
	 * regions below @sub are walked, each once.
	 */
	m->epoch++;
	err = check_walk(m, sub, parent, 0);
	if (err) {
		vi_warn("memory: subregion %s [0x%" PRIx64 ", 0x%" PRIx64 "] of %s refused: %s", sub->name, offset,
			offset + sub->last, parent->name,
			err == 1 ? "the parent is inside it (a cycle)" : "nested deeper than VIOMMU_MEMORY_MAX_DEPTH");
		return vi_errno(-ELOOP);
	}
	err = mutation_begin(m, sub, "add");
	if (err)
		return vi_errno(err);
	sub->addr = offset;
	sub->priority = priority;
	err = link_child(parent, sub);
	if (err) {
		mutation_end(m, false);
		return vi_errno(err);
	}
	touch(sub);
	err = mutation_end(m, true);
	if (err && !m->depth) {
		/*
		 * The implied commit failed (too deep, over the render limit, or
		 * out of memory): undo, so the model stays renderable and the
		 * call changes nothing (still pending: the next commit renders
		 * the same views).
		 */
		unlink_child(sub);
	}
	return vi_errno(err);
}

VIOMMU_API int viommu_mr_del_subregion(struct viommu_mr *parent, struct viommu_mr *sub)
{
	int err;

	if (!parent || !sub)
		return vi_errno(-EINVAL);
	if (sub->parent != parent) {
		vi_warn("memory: removing %s from %s refused: not its subregion", sub->name, parent->name);
		return vi_errno(-ENOENT);
	}
	err = mutation_begin(parent->m, sub, "removal");
	if (err)
		return vi_errno(err);
	touch(sub);
	unlink_child(sub);
	return vi_errno(mutation_end(parent->m, true));
}

#define MR_SETTER(field, type, is_enabled)						\
VIOMMU_API int viommu_mr_set_##field(struct viommu_mr *mr, type v)			\
{											\
	int err;									\
											\
	if (!mr)									\
		return vi_errno(-EINVAL);						\
	err = mutation_begin(mr->m, mr, "set_" #field);					\
	if (err)									\
		return vi_errno(err);							\
	bool changed = mr->field != v;							\
	mr->field = v;									\
	if (changed)									\
		touch_flag(mr, is_enabled);						\
	return vi_errno(mutation_end(mr->m, changed));					\
}

MR_SETTER(enabled, bool, true)
MR_SETTER(readonly, bool, false)
MR_SETTER(unmergeable, bool, false)

VIOMMU_API int viommu_mr_set_name(struct viommu_mr *mr, const char *name)
{
	char *n;

	if (!mr || !name)
		return vi_errno(-EINVAL);
	n = strdup(name);
	if (!n)
		return vi_errno(-ENOMEM);
	free(mr->name);
	mr->name = n;
	return 0;
}

VIOMMU_API int viommu_mr_set_size(struct viommu_mr *mr, uint64_t size)
{
	int err;

	if (!mr)
		return vi_errno(-EINVAL);
	if (!size && (mr->kind == VIOMMU_MR_RAM || mr->kind == VIOMMU_MR_RAM_DEVICE)) {
		vi_warn("memory: resizing RAM region %s to 2^64 bytes refused", mr->name);
		return vi_errno(-EINVAL);
	}
	if (mr->kind == VIOMMU_MR_ALIAS && !alias_fits(mr->alias_target, mr->alias_offset, size)) {
		vi_warn("memory: resizing alias %s refused: window [0x%" PRIx64 ", 0x%" PRIx64 "] does not fit in "
			"%s [0, 0x%" PRIx64 "]", mr->name, mr->alias_offset, mr->alias_offset + (size - 1),
			mr->alias_target->name, mr->alias_target->last);
		return vi_errno(-EINVAL);
	}
	err = mutation_begin(mr->m, mr, "resize");
	if (err)
		return vi_errno(err);
	bool changed = mr->last != size - 1;
	if (changed) {
		struct viommu_mr *p = mr->parent;

		touch(mr);		/* the old window */
		mr->last = size - 1;
		if (p)			/* the parent's index holds the window end */
			vi_kx_set_end(p->kids, mr->addr, mr->seq, vi_mr_end(mr));
		touch(mr);		/* the new one */
	}
	return vi_errno(mutation_end(mr->m, changed));
}

VIOMMU_API int viommu_mr_set_address(struct viommu_mr *mr, uint64_t offset)
{
	int err;

	if (!mr)
		return vi_errno(-EINVAL);
	err = mutation_begin(mr->m, mr, "move");
	if (err)
		return vi_errno(err);
	if (mr->parent) {
		/*
		 * As QEMU: a move is a re-add, so the region tops its priority.
		 * The new entry goes in first: only that can fail.
		 */
		struct viommu_mr *p = mr->parent;
		uint64_t oaddr = mr->addr, oseq = mr->seq, nseq = mr->m->seq + 1;

		mr->addr = offset;
		err = vi_kx_insert(&p->kids, mr, offset, nseq, vi_mr_end(mr), mr->priority);
		mr->addr = oaddr;
		if (err) {
			mutation_end(mr->m, false);
			return vi_errno(err);
		}
		touch(mr);
		vi_kx_remove(&p->kids, oaddr, oseq);
		mr->addr = offset;
		mr->seq = nseq;
		mr->m->seq = nseq;
		touch(mr);
	}
	mr->addr = offset;
	return vi_errno(mutation_end(mr->m, mr->parent != NULL));
}

VIOMMU_API int viommu_mr_set_alias_offset(struct viommu_mr *mr, uint64_t offset)
{
	int err;

	if (!mr)
		return vi_errno(-EINVAL);
	if (mr->kind != VIOMMU_MR_ALIAS || !alias_fits(mr->alias_target, offset, mr->last + 1)) {
		if (mr->kind != VIOMMU_MR_ALIAS)
			vi_warn("memory: alias offset of %s refused: not an alias", mr->name);
		else
			vi_warn("memory: alias offset of %s refused: window [0x%" PRIx64 ", 0x%" PRIx64 "] does not "
				"fit in %s [0, 0x%" PRIx64 "]", mr->name, offset, offset + mr->last,
				mr->alias_target->name, mr->alias_target->last);
		return vi_errno(-EINVAL);
	}
	err = mutation_begin(mr->m, mr, "alias offset");
	if (err)
		return vi_errno(err);
	bool changed = mr->alias_offset != offset;
	mr->alias_offset = offset;
	if (changed)
		touch(mr);
	return vi_errno(mutation_end(mr->m, changed));
}

VIOMMU_API const char *viommu_mr_name(const struct viommu_mr *mr) { return mr ? mr->name : NULL; }
VIOMMU_API enum viommu_mr_kind viommu_mr_kind(const struct viommu_mr *mr) { return mr ? mr->kind : 0; }
VIOMMU_API uint64_t viommu_mr_size(const struct viommu_mr *mr) { return mr ? mr->last + 1 : 0; }
VIOMMU_API uint64_t viommu_mr_address(const struct viommu_mr *mr) { return mr && mr->parent ? mr->addr : 0; }
VIOMMU_API void *viommu_mr_opaque(const struct viommu_mr *mr) { return mr ? mr->opaque : NULL; }
VIOMMU_API bool viommu_mr_is_enabled(const struct viommu_mr *mr) { return mr && mr->enabled; }

/* ---- address spaces ---- */

VIOMMU_API struct viommu_as *viommu_as_new(struct viommu_memory *m, const char *name, struct viommu_mr *root)
{
	struct viommu_as *as;
	int err;

	if (!m || !name || !root || root->m != m) {
		vi_warn("memory: address space %s refused: %s", name ? name : "(null)",
			!m || !name || !root ? "NULL model, name or root" : "the root belongs to another model");
		return vi_null(EINVAL);
	}
	if (m->notifying) {
		vi_warn("memory: address space %s refused: inside a listener callback", name);
		return vi_null(EBUSY);
	}
	as = calloc(1, sizeof(*as));
	if (!as)
		return vi_null(ENOMEM);
	as->name = strdup(name);
	as->view = as->oldest = vi_flatview_empty();
	if (!as->name || !as->view || pthread_mutex_init(&as->view_lock, NULL)) {
		free(as->name);
		free(as->view);
		free(as);
		return vi_null(ENOMEM);
	}
	as->m = m;
	as->root = root;
	root->as_users++;
	as->prev = m->as_tail;
	if (m->as_tail)
		m->as_tail->next = as;
	else
		m->as_head = as;
	m->as_tail = as;
	as->full = true;
	m->depth++;
	err = mutation_end(m, true);
	if (err && !m->depth) {
		viommu_as_free(as);
		return vi_null(-err);
	}
	return as;
}

VIOMMU_API int viommu_as_free(struct viommu_as *as)
{
	struct viommu_memory *m;
	struct viommu_mr_diff *d;
	size_t n;

	if (!as)
		return 0;
	m = as->m;
	if (m->notifying) {
		vi_warn("memory: freeing address space %s refused: inside a listener callback", as->name);
		return vi_errno(-EBUSY);
	}
	/*
	 * Listeners drop their mappings before the space goes (best effort
	 * under ENOMEM). The space shows an empty view first, so a listener
	 * that looks at it from its callbacks sees what the diff says.
	 */
	if (as_has_listener(m, as) && viommu_flatview_diff(as->view, NULL, &d, &n) == 0) {
		struct viommu_flatview *empty = vi_flatview_empty();

		if (empty)
			vi_as_publish_whole(as, empty);
		if (n)
			notify(m, as, d, n, NULL);
		free(d);
	}
	if (as->prev)
		as->prev->next = as->next;
	else
		m->as_head = as->next;
	if (as->next)
		as->next->prev = as->prev;
	else
		m->as_tail = as->prev;
	/* Listeners filtered to this space are done: a later space may reuse its address. */
	for (struct vi_listener_node *x = m->lst_head, *nx; x; x = nx) {
		nx = x->next;
		if (x->cfg.as == as)
			unlink_listener(m, x);
	}
	as->root->as_users--;
	as_destroy(as, false);
	return 0;
}

VIOMMU_API const char *viommu_as_name(const struct viommu_as *as) { return as ? as->name : NULL; }
VIOMMU_API struct viommu_mr *viommu_as_root(const struct viommu_as *as) { return as ? as->root : NULL; }

VIOMMU_API struct viommu_flatview *viommu_as_get_flatview(struct viommu_as *as)
{
	struct viommu_flatview *v;

	if (!as)
		return vi_null(EINVAL);
	pthread_mutex_lock(&as->view_lock);
	v = vi_flatview_ref(as->view);
	pthread_mutex_unlock(&as->view_lock);
	return v;
}

/* ---- listeners ---- */

static struct vi_listener_node *find_listener(struct viommu_memory *m, const struct viommu_memory_listener *l)
{
	for (struct vi_listener_node *x = m->lst_head; x; x = x->next)
		if (x->l == l)
			return x;
	return NULL;
}

/* Replay (@adding) or retract the current state of every matching space to @x alone. */
static int replay(struct viommu_memory *m, const struct vi_listener_node *x, bool adding)
{
	for (struct viommu_as *as = m->as_head; as; as = as->next) {
		struct viommu_mr_diff *d;
		size_t n;
		int err;

		if (!listener_wants(x, as))
			continue;
		err = adding ? viommu_flatview_diff(NULL, as->view, &d, &n)
			     : viommu_flatview_diff(as->view, NULL, &d, &n);
		if (err)
			return err;
		if (n)
			notify(m, as, d, n, x->l);
		free(d);
	}
	return 0;
}

VIOMMU_API int viommu_memory_listener_register(struct viommu_memory *m, struct viommu_memory_listener *l)
{
	struct vi_listener_node *n, *x;
	int err;

	if (!m || !l || !VI_OPTS_VALID(l, viommu_memory_listener)) {
		vi_warn("memory: listener refused: %s", !m || !l ? "NULL model or listener" : "bad sz");
		return vi_errno(-EINVAL);
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return vi_errno(-ENOMEM);
	VI_OPTS_COPY(&n->cfg, l);
	if (n->cfg.as && n->cfg.as->m != m) {
		vi_warn("memory: listener refused: its address space %s belongs to another model", n->cfg.as->name);
		free(n);
		return vi_errno(-EINVAL);
	}
	if (m->notifying || find_listener(m, l)) {
		vi_warn("memory: listener refused: %s",
			m->notifying ? "registration inside a listener callback" : "already registered");
		free(n);
		return vi_errno(m->notifying ? -EBUSY : -EEXIST);
	}
	n->l = l;
	n->seq = m->listener_seq++;
	for (x = m->lst_head; x && x->cfg.priority <= n->cfg.priority; x = x->next)
		;
	n->next = x;
	n->prev = x ? x->prev : m->lst_tail;
	if (n->prev)
		n->prev->next = n;
	else
		m->lst_head = n;
	if (x)
		x->prev = n;
	else
		m->lst_tail = n;
	err = replay(m, n, true);
	if (err)
		unlink_listener(m, n);
	return vi_errno(err);
}

VIOMMU_API int viommu_memory_listener_unregister(struct viommu_memory *m, struct viommu_memory_listener *l)
{
	struct vi_listener_node *n;

	if (!m || !l)
		return vi_errno(-EINVAL);
	if (m->notifying) {
		vi_warn("memory: listener unregistration inside a listener callback refused");
		return vi_errno(-EBUSY);
	}
	n = find_listener(m, l);
	if (!n) {
		vi_warn("memory: unregistering a listener that is not registered");
		return vi_errno(-ENOENT);
	}
	replay(m, n, false);
	unlink_listener(m, n);
	return 0;
}
