// SPDX-License-Identifier: MIT
/*
 * The memory model: regions, address spaces, transactions and listeners.
 * Rendering and the diff live in render.c, guest-physical access in access.c.
 */
#include <stdlib.h>
#include <string.h>

#include "memory/memory_int.h"
#include "util/compiler.h"

VIOMMU_API struct viommu_memory *viommu_memory_new(void)
{
	struct viommu_memory *m = calloc(1, sizeof(*m));

	return m ? m : vi_null(ENOMEM);
}

static void as_destroy(struct viommu_as *as)
{
	viommu_flatview_put(as->view);
	viommu_flatview_put(as->next_view);
	free(as->diff);
	pthread_mutex_destroy(&as->view_lock);
	free(as->name);
	free(as);
}

static void mr_destroy(struct viommu_mr *mr)
{
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
		as_destroy(as);
	}
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

static bool listener_wants(const struct viommu_memory_listener *l, const struct viommu_as *as)
{
	return !l->as || l->as == as;
}

static void deliver_adaptor_del(struct viommu_memory_listener *l, struct viommu_as *as,
				const struct viommu_mr_diff *d, size_t n)
{
	if (l->diff || !l->region_del)
		return;
	for (size_t i = 0; i < n; i++)
		if (d[i].changed && d[i].has_before)
			l->region_del(l, as, &d[i].before);
}

static void deliver_adaptor_add(struct viommu_memory_listener *l, struct viommu_as *as,
				const struct viommu_mr_diff *d, size_t n)
{
	if (l->diff) {
		l->diff(l, as, d, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (d[i].changed && d[i].has_after && l->region_add)
			l->region_add(l, as, &d[i].after);
		else if (!d[i].changed && l->region_nop)
			l->region_nop(l, as, &d[i].after);
	}
}

/* Tell every listener of @as (or only @only) about @d. */
static void notify(struct viommu_memory *m, struct viommu_as *as, const struct viommu_mr_diff *d, size_t n,
		   struct viommu_memory_listener *only)
{
	struct vi_listener_node *x;

	m->notifying = true;
	for (x = m->lst_head; x; x = x->next)
		if ((!only || x->l == only) && listener_wants(x->l, as) && x->l->begin)
			x->l->begin(x->l, as);
	for (x = m->lst_tail; x; x = x->prev)
		if ((!only || x->l == only) && listener_wants(x->l, as))
			deliver_adaptor_del(x->l, as, d, n);
	for (x = m->lst_head; x; x = x->next)
		if ((!only || x->l == only) && listener_wants(x->l, as))
			deliver_adaptor_add(x->l, as, d, n);
	for (x = m->lst_head; x; x = x->next)
		if ((!only || x->l == only) && listener_wants(x->l, as) && x->l->commit)
			x->l->commit(x->l, as);
	m->notifying = false;
}

static bool as_has_listener(const struct viommu_memory *m, const struct viommu_as *as)
{
	for (const struct vi_listener_node *x = m->lst_head; x; x = x->next)
		if (listener_wants(x->l, as))
			return true;
	return false;
}

static bool bounds_equal(const struct viommu_flatview *a, const struct viommu_flatview *b)
{
	return a->nbounds == b->nbounds && (!a->nbounds || !memcmp(a->bounds, b->bounds, a->nbounds * sizeof(uint64_t)));
}

/* Same sections: listeners have nothing to hear. */
static bool views_equal(const struct viommu_flatview *a, const struct viommu_flatview *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct viommu_mr_section *x = &a->s[i], *y = &b->s[i];

		if (x->first != y->first || x->last != y->last || x->mr != y->mr || x->offset != y->offset ||
		    x->readonly != y->readonly || x->unmergeable != y->unmergeable)
			return false;
	}
	return true;
}

static void publish(struct viommu_as *as, struct viommu_flatview *nv)
{
	struct viommu_flatview *old;

	pthread_mutex_lock(&as->view_lock);
	old = as->view;
	as->view = nv;
	pthread_mutex_unlock(&as->view_lock);
	viommu_flatview_put(old);
}

/*
 * Render every address space, then publish and notify. Everything that can
 * fail happens before the first view is published, so a failure leaves all
 * views and listeners at the previous state.
 */
static int memory_update(struct viommu_memory *m)
{
	struct viommu_as *as;
	int err = 0;

	for (as = m->as_head; as && !err; as = as->next) {
		as->has_diff = false;
		if (!m->all_dirty && !as->dirty)
			continue;
		err = vi_flatview_render(as, &m->scratch, as->view->n, &as->next_view);
		if (!err && views_equal(as->view, as->next_view)) {
			/* nothing for listeners; publish quietly only if the boundaries moved */
			if (bounds_equal(as->view, as->next_view)) {
				viommu_flatview_put(as->next_view);
				as->next_view = NULL;
			}
			continue;
		}
		if (!err && as->next_view && as_has_listener(m, as)) {
			err = vi_flatview_diff_into(as->view, as->next_view, &as->diff, &as->diff_cap, &as->ndiff);
			as->has_diff = !err;
		}
	}
	if (err) {
		for (as = m->as_head; as; as = as->next) {
			viommu_flatview_put(as->next_view);
			as->next_view = NULL;
		}
		return err;
	}
	for (as = m->as_head; as; as = as->next) {
		if (!as->next_view)
			continue;
		publish(as, as->next_view);
		as->next_view = NULL;
		if (as->has_diff)
			notify(m, as, as->diff, as->ndiff, NULL);
	}
	for (as = m->as_head; as; as = as->next)
		as->dirty = false;
	m->all_dirty = false;
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
	if (m->notifying)
		return vi_errno(-EBUSY);
	m->depth++;
	return 0;
}

VIOMMU_API int viommu_memory_commit(struct viommu_memory *m)
{
	if (!m || !m->depth)
		return vi_errno(-EINVAL);
	if (m->notifying)
		return vi_errno(-EBUSY);
	if (--m->depth || !m->pending)
		return 0;
	return vi_errno(memory_update(m));
}

VIOMMU_API uint64_t viommu_memory_generation(const struct viommu_memory *m)
{
	return m ? m->generation : 0;
}

/* A mutation is its own transaction unless one is open. */
static int mutation_begin(struct viommu_memory *m)
{
	if (m->notifying)
		return -EBUSY;
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

/*
 * Record which address spaces a change at @mr can reach, so a commit renders
 * only those. @mr reaches a space if the space's root is @mr or one of its
 * ancestors; if any of them is an alias target, the change may show through
 * the alias anywhere, so every space is re-rendered.
 */
static void mark_dirty(struct viommu_mr *mr)
{
	struct viommu_memory *m = mr->m;

	for (; mr && !m->all_dirty; mr = mr->parent) {
		if (mr->alias_users) {
			m->all_dirty = true;
			return;
		}
		if (mr->as_users)
			for (struct viommu_as *as = m->as_head; as; as = as->next)
				if (as->root == mr)
					as->dirty = true;
	}
}

/* ---- regions ---- */

static struct viommu_mr *mr_new(struct viommu_memory *m, const char *name, enum viommu_mr_kind kind,
				uint64_t size)
{
	struct viommu_mr *mr;

	if (!m || !name)
		return vi_null(EINVAL);
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return vi_null(ENOMEM);
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

	if (!host || !size)
		return vi_null(EINVAL);
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

	if (ops && ops->size < sizeof(size_t))
		return vi_null(EINVAL);
	mr = mr_new(m, name, VIOMMU_MR_MMIO, size);
	if (!mr)
		return NULL;
	if (ops)
		memcpy(&mr->ops, ops, VI_MIN(ops->size, sizeof(mr->ops)));
	mr->ops.size = sizeof(mr->ops);
	mr->opaque = opaque;
	return mr;
}

VIOMMU_API struct viommu_mr *viommu_mr_new_iommu(struct viommu_memory *m, const char *name, uint64_t size,
						 const struct viommu_mr_iommu_ops *ops, void *opaque)
{
	struct viommu_mr *mr;

	if (ops && ops->size < sizeof(size_t))
		return vi_null(EINVAL);
	mr = mr_new(m, name, VIOMMU_MR_IOMMU, size);
	if (!mr)
		return NULL;
	if (ops)
		memcpy(&mr->iommu_ops, ops, VI_MIN(ops->size, sizeof(mr->iommu_ops)));
	mr->iommu_ops.size = sizeof(mr->iommu_ops);
	mr->opaque = opaque;
	return mr;
}

VIOMMU_API struct viommu_mr *viommu_mr_new_alias(struct viommu_memory *m, const char *name,
						 struct viommu_mr *target, uint64_t offset, uint64_t size)
{
	struct viommu_mr *mr;

	if (!target || target->m != m)
		return vi_null(EINVAL);
	/* The window [offset, offset + size - 1] must lie inside the target's offsets. */
	if (offset > target->last || (size - 1) > target->last - offset)
		return vi_null(EINVAL);
	mr = mr_new(m, name, VIOMMU_MR_ALIAS, size);
	if (!mr)
		return NULL;
	mr->alias_target = target;
	mr->alias_offset = offset;
	target->alias_users++;
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
	if (m->notifying || mr->parent || mr->child_head || mr->alias_users || mr->as_users)
		return vi_errno(-EBUSY);
	if (mr->alias_target)
		mr->alias_target->alias_users--;
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

/* Insert @sub into @parent's children: before the first of priority <= its own. */
static void link_child(struct viommu_mr *parent, struct viommu_mr *sub)
{
	struct viommu_mr *c = parent->child_head;

	while (c && c->priority > sub->priority)
		c = c->next_sib;
	sub->next_sib = c;
	sub->prev_sib = c ? c->prev_sib : parent->child_tail;
	if (sub->prev_sib)
		sub->prev_sib->next_sib = sub;
	else
		parent->child_head = sub;
	if (c)
		c->prev_sib = sub;
	else
		parent->child_tail = sub;
	sub->parent = parent;
	parent->nchildren++;
}

static void unlink_child(struct viommu_mr *sub)
{
	struct viommu_mr *parent = sub->parent;

	if (sub->prev_sib)
		sub->prev_sib->next_sib = sub->next_sib;
	else
		parent->child_head = sub->next_sib;
	if (sub->next_sib)
		sub->next_sib->prev_sib = sub->prev_sib;
	else
		parent->child_tail = sub->prev_sib;
	sub->prev_sib = sub->next_sib = NULL;
	sub->parent = NULL;
	parent->nchildren--;
}

/* Is @needle reachable from @from through subregions and alias targets? */
static int reaches(struct viommu_mr *from, const struct viommu_mr *needle, unsigned depth)
{
	if (from == needle)
		return 1;
	if (depth > VIOMMU_MEMORY_MAX_DEPTH)
		return -ELOOP;
	if (from->alias_target)
		return reaches(from->alias_target, needle, depth + 1);
	for (struct viommu_mr *c = from->child_head; c; c = c->next_sib) {
		int r = reaches(c, needle, depth + 1);

		if (r)
			return r;
	}
	return 0;
}

VIOMMU_API int viommu_mr_add_subregion(struct viommu_mr *parent, uint64_t offset, struct viommu_mr *sub,
				       int priority)
{
	int err;

	if (!parent || !sub || parent->m != sub->m || parent->kind == VIOMMU_MR_ALIAS)
		return vi_errno(-EINVAL);
	if (sub->parent || parent->m->notifying)
		return vi_errno(-EBUSY);
	/*
	 * A cycle would make rendering endless; the walk is bounded by the
	 * depth limit, which also refuses trees too deep to render. (Only the
	 * subtree under @sub is walked, so it stays cheap when adding leaves.)
	 */
	if (reaches(sub, parent, 0))
		return vi_errno(-ELOOP);
	err = mutation_begin(parent->m);
	if (err)
		return vi_errno(err);
	sub->addr = offset;
	sub->priority = priority;
	link_child(parent, sub);
	mark_dirty(sub);
	err = mutation_end(parent->m, true);
	if (err == -ELOOP && !parent->m->depth) {
		/* Implied commit: undo so the model stays renderable (still pending: harmless). */
		unlink_child(sub);
	}
	return vi_errno(err);
}

VIOMMU_API int viommu_mr_del_subregion(struct viommu_mr *parent, struct viommu_mr *sub)
{
	int err;

	if (!parent || !sub)
		return vi_errno(-EINVAL);
	if (sub->parent != parent)
		return vi_errno(-ENOENT);
	err = mutation_begin(parent->m);
	if (err)
		return vi_errno(err);
	mark_dirty(sub);
	unlink_child(sub);
	return vi_errno(mutation_end(parent->m, true));
}

#define MR_SETTER(field, type)								\
VIOMMU_API int viommu_mr_set_##field(struct viommu_mr *mr, type v)			\
{											\
	int err;									\
											\
	if (!mr)									\
		return vi_errno(-EINVAL);						\
	err = mutation_begin(mr->m);							\
	if (err)									\
		return vi_errno(err);							\
	bool changed = mr->field != v;							\
	mr->field = v;									\
	if (changed)									\
		mark_dirty(mr);								\
	return vi_errno(mutation_end(mr->m, changed));					\
}

MR_SETTER(enabled, bool)
MR_SETTER(readonly, bool)
MR_SETTER(unmergeable, bool)

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

	if (!mr || (!size && (mr->kind == VIOMMU_MR_RAM || mr->kind == VIOMMU_MR_RAM_DEVICE)))
		return vi_errno(-EINVAL);
	if (mr->kind == VIOMMU_MR_ALIAS && (mr->alias_offset > mr->alias_target->last ||
					   (size - 1) > mr->alias_target->last - mr->alias_offset))
		return vi_errno(-EINVAL);
	err = mutation_begin(mr->m);
	if (err)
		return vi_errno(err);
	bool changed = mr->last != size - 1;
	mr->last = size - 1;
	if (changed)
		mark_dirty(mr);
	return vi_errno(mutation_end(mr->m, changed));
}

VIOMMU_API int viommu_mr_set_address(struct viommu_mr *mr, uint64_t offset)
{
	int err;

	if (!mr)
		return vi_errno(-EINVAL);
	err = mutation_begin(mr->m);
	if (err)
		return vi_errno(err);
	mr->addr = offset;
	if (mr->parent) {
		/* As QEMU: a move is a re-add, so the region tops its priority. */
		struct viommu_mr *p = mr->parent;

		unlink_child(mr);
		link_child(p, mr);
		mark_dirty(mr);
	}
	return vi_errno(mutation_end(mr->m, mr->parent != NULL));
}

VIOMMU_API int viommu_mr_set_alias_offset(struct viommu_mr *mr, uint64_t offset)
{
	int err;

	if (!mr || mr->kind != VIOMMU_MR_ALIAS || offset > mr->alias_target->last ||
	    mr->last > mr->alias_target->last - offset)
		return vi_errno(-EINVAL);
	err = mutation_begin(mr->m);
	if (err)
		return vi_errno(err);
	bool changed = mr->alias_offset != offset;
	mr->alias_offset = offset;
	if (changed)
		mark_dirty(mr);
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

	if (!m || !name || !root || root->m != m)
		return vi_null(EINVAL);
	if (m->notifying)
		return vi_null(EBUSY);
	as = calloc(1, sizeof(*as));
	if (!as)
		return vi_null(ENOMEM);
	as->name = strdup(name);
	as->view = vi_flatview_empty();
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
	as->dirty = true;
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
	if (m->notifying)
		return vi_errno(-EBUSY);
	/* Listeners drop their mappings before the space goes (best effort under ENOMEM). */
	if (as_has_listener(m, as) && viommu_flatview_diff(as->view, NULL, &d, &n) == 0) {
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
		if (x->l->as == as)
			unlink_listener(m, x);
	}
	as->root->as_users--;
	as_destroy(as);
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

/* Replay (@adding) or retract the current state of every matching space to @l alone. */
static int replay(struct viommu_memory *m, struct viommu_memory_listener *l, bool adding)
{
	for (struct viommu_as *as = m->as_head; as; as = as->next) {
		struct viommu_mr_diff *d;
		size_t n;
		int err;

		if (!listener_wants(l, as))
			continue;
		err = adding ? viommu_flatview_diff(NULL, as->view, &d, &n)
			     : viommu_flatview_diff(as->view, NULL, &d, &n);
		if (err)
			return err;
		if (n)
			notify(m, as, d, n, l);
		free(d);
	}
	return 0;
}

VIOMMU_API int viommu_memory_listener_register(struct viommu_memory *m, struct viommu_memory_listener *l)
{
	struct vi_listener_node *n, *x;
	int err;

	if (!m || !l || l->size < sizeof(*l) || (l->as && l->as->m != m))
		return vi_errno(-EINVAL);
	if (m->notifying)
		return vi_errno(-EBUSY);
	if (find_listener(m, l))
		return vi_errno(-EEXIST);
	n = calloc(1, sizeof(*n));
	if (!n)
		return vi_errno(-ENOMEM);
	n->l = l;
	n->seq = m->listener_seq++;
	for (x = m->lst_head; x && x->l->priority <= l->priority; x = x->next)
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
	err = replay(m, l, true);
	if (err)
		unlink_listener(m, n);
	return vi_errno(err);
}

VIOMMU_API int viommu_memory_listener_unregister(struct viommu_memory *m, struct viommu_memory_listener *l)
{
	struct vi_listener_node *n;

	if (!m || !l)
		return vi_errno(-EINVAL);
	if (m->notifying)
		return vi_errno(-EBUSY);
	n = find_listener(m, l);
	if (!n)
		return vi_errno(-ENOENT);
	replay(m, l, false);
	unlink_listener(m, n);
	return 0;
}
