// SPDX-License-Identifier: MIT
/*
 * IOTLB benchmark against QEMU's VT-d IOTLB as QEMU has it: the same
 * GHashTable from GLib, QEMU's key, hash and equality, its 1024-entry cap
 * with a wholesale reset, its page / domain / global invalidation and its
 * one mutex, re-created below from hw/i386/intel_iommu.c (both hash
 * versions: v7.2.0's and v8.1.0's). Both sides hold the same leaves, see the
 * same addresses in the same order and are timed in the same run,
 * alternating rep by rep; each case prints
 *
 *	iotlb.CASE N ns			ours
 *	iotlb.CASE.qemu72 N ns		QEMU v7.2.0 .. v8.0.x hash
 *	iotlb.CASE.qemu81 N ns		QEMU v8.1.0 and later hash
 *	iotlb.CASE.vs_qemu72 ratio R	ours / baseline (lower is better)
 *	iotlb.CASE.vs_qemu81 ratio R
 *
 * Our cache is given QEMU's capacity (VTD_IOTLB_MAX_SIZE, 1024 entries), so
 * each side has the same budget; the fill cases sweep working sets from 512
 * to MAX_WS 4K pages to show what each does past it. The devices are 8 (or
 * 128 for the invalidation cases) PCI functions, each in its own domain, as a
 * guest's VT-d driver sets them up in legacy mode. The walk a miss implies is
 * left out on both sides.
 *
 * The floor: iotlb.l1probe is one probe of an L1-resident open-addressing
 * table of 64-bit keys (one multiply, one compare), the least a cached
 * translation can cost; iotlb.hit.4k.vs_l1probe is the 4K hit against it.
 *
 *	bench_iotlb [max_ws [seed]]	default 8192 pages, seed 0x10b5eed
 *
 * Built only where GLib is installed (`make bench` installs libglib2.0-dev);
 * nothing else in the tree needs GLib.
 */
#include <glib.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/iotlb.h>

#include "bench.h"

/*
 * Each side is timed in many short reps and keeps its best: on a shared
 * machine a rep that was preempted or found its cache lines evicted only
 * ever reads slower, never faster.
 */
#define REPS 7
#define LOOKUP_REPS 15
#define NLOOK 100000u
#define CAP 1024		/* VTD_IOTLB_MAX_SIZE, hw/i386/intel_iommu_internal.h */

static uint64_t sink;

/* ---- QEMU's VT-d IOTLB, re-created on GLib ------------------------------ */
/*
 * Written here from QEMU's hw/i386/intel_iommu.c, intel_iommu_internal.h and
 * include/hw/i386/intel_iommu.h (QEMU's code is GPL; this is a re-creation of
 * its structure, not a copy):
 *
 *  - The key, struct vtd_iotlb_key, came with 1b2b12376c8 ("intel-iommu:
 *    PASID support", first released in v7.2.0) as { gfn; pasid; level
 *    (uint32_t); sid }; vtd_iotlb_hash() returned gfn | sid << 20 | level <<
 *    28 | pasid << 30 (VTD_IOTLB_SID_SHIFT, _LVL_SHIFT, _PASID_SHIFT)
 *    computed in 32-bit arithmetic and truncated to a guint. ec1a78cee97
 *    ("intel_iommu: refine iotlb hash calculation", posted "for 8.1", pulled
 *    after v8.0.0 was tagged, first released in v8.1.0) made level a uint8_t
 *    and the hash the xor of the two 32-bit halves of gfn | sid << 26 |
 *    (level - 1) << 42 | pasid << 44. vtd_iotlb_equal() compares sid, pasid,
 *    level and gfn in both.
 *  - vtd_realize(): s->iotlb = g_hash_table_new_full(vtd_iotlb_hash,
 *    vtd_iotlb_equal, g_free, g_free): GLib's default size, growing as
 *    entries arrive.
 *  - vtd_lookup_iotlb(): for level = 1 .. 3 (VTD_SL_PT_LEVEL up to, not
 *    including, VTD_SL_PML4_LEVEL) look up { gfn of addr at that level,
 *    level, sid, pasid }; the first hit wins. So a 4K hit costs one hash
 *    lookup, a 2M hit two, a 1G hit and every miss three.
 *  - vtd_update_iotlb(): g_malloc the entry (VTDIOTLBEntry) and the key; if
 *    g_hash_table_size() >= VTD_IOTLB_MAX_SIZE (1024) call
 *    vtd_reset_iotlb_locked() (g_hash_table_remove_all); then
 *    g_hash_table_replace().
 *  - vtd_do_iommu_translate() holds s->iommu_lock (vtd_iommu_lock) from the
 *    lookup to the update, so a hit is lock, lookup(s), unlock, and a miss
 *    lock, three lookups, (walk), update, unlock.
 *  - vtd_iotlb_page_invalidate(): under the lock,
 *    g_hash_table_foreach_remove(vtd_hash_remove_by_page) with
 *    VTDIOTLBPageInvInfo { domain_id, addr, mask = ~((1 << am) - 1) };
 *    vtd_iotlb_domain_invalidate(): g_hash_table_foreach_remove(
 *    vtd_hash_remove_by_domain); vtd_iotlb_global_invalidate():
 *    vtd_reset_iotlb() (g_hash_table_remove_all under the lock).
 *    VTDIOTLBPageInvInfo.mask is a uint8_t in both versions (d7258f7a25
 *    made it uint64_t in v9.1.0), so a page invalidation also removes the
 *    domain's entries whose gfn agrees in its low 8 bits; the bench keeps
 *    each domain below 256 pages so that it removes exactly the page asked,
 *    as ours does (the bench checks the counts).
 *  - Legacy (non-scalable) mode: an address space's pasid is PCI_NO_PASID
 *    (UINT32_MAX, include/hw/pci/pci.h) and vtd_do_iommu_translate() uses it
 *    in every key.
 *
 * Left out on purpose (each would only make the baseline slower): tracing,
 * the context-cache checks of vtd_do_iommu_translate(), the notifier walks
 * after an invalidation, and qemu_mutex_lock()'s indirection through its
 * lock profiler (a plain pthread mutex here).
 */
#define PCI_NO_PASID UINT32_MAX
#define VTD_PAGE_SHIFT_4K 12
#define VTD_SL_LEVEL_BITS 9
#define VTD_SL_PT_LEVEL 1
#define VTD_SL_PML4_LEVEL 4

struct vtd_iotlb_entry {	/* VTDIOTLBEntry */
	uint64_t gfn;
	uint16_t domain_id;
	uint32_t pasid;
	uint64_t slpte;
	uint64_t mask;
	uint8_t access_flags;
};

struct vtd_key72 {		/* struct vtd_iotlb_key, v7.2.0 .. v8.0.x */
	uint64_t gfn;
	uint32_t pasid;
	uint32_t level;
	uint16_t sid;
};

struct vtd_key81 {		/* struct vtd_iotlb_key, v8.1.0 and later */
	uint64_t gfn;
	uint32_t pasid;
	uint16_t sid;
	uint8_t level;
};

static guint vtd_iotlb_hash72(gconstpointer v)
{
	const struct vtd_key72 *key = v;

	/* QEMU's int/uint32_t shifts, truncated to 32 bits by the guint return */
	return (guint)key->gfn | (uint32_t)key->sid << 20 | key->level << 28 | key->pasid << 30;
}

static gboolean vtd_iotlb_equal72(gconstpointer v1, gconstpointer v2)
{
	const struct vtd_key72 *key1 = v1, *key2 = v2;

	return key1->sid == key2->sid && key1->pasid == key2->pasid && key1->level == key2->level &&
	       key1->gfn == key2->gfn;
}

static guint vtd_iotlb_hash81(gconstpointer v)
{
	const struct vtd_key81 *key = v;
	uint64_t hash64 = key->gfn | (uint64_t)key->sid << 26 | (uint64_t)(key->level - 1) << 42 |
			  (uint64_t)key->pasid << 44;

	return (guint)((hash64 >> 32) ^ (hash64 & 0xffffffffU));
}

static gboolean vtd_iotlb_equal81(gconstpointer v1, gconstpointer v2)
{
	const struct vtd_key81 *key1 = v1, *key2 = v2;

	return key1->sid == key2->sid && key1->pasid == key2->pasid && key1->level == key2->level &&
	       key1->gfn == key2->gfn;
}

struct vtd_state {		/* the IOTLB part of IntelIOMMUState */
	pthread_mutex_t iommu_lock;
	GHashTable *iotlb;
	bool v81;
};

union vtd_key {
	struct vtd_key72 k72;
	struct vtd_key81 k81;
};

static void vtd_init(struct vtd_state *s, bool v81)
{
	pthread_mutex_init(&s->iommu_lock, NULL);
	s->v81 = v81;
	s->iotlb = v81 ? g_hash_table_new_full(vtd_iotlb_hash81, vtd_iotlb_equal81, g_free, g_free)
		       : g_hash_table_new_full(vtd_iotlb_hash72, vtd_iotlb_equal72, g_free, g_free);
}

static void vtd_fini(struct vtd_state *s)
{
	g_hash_table_destroy(s->iotlb);
	pthread_mutex_destroy(&s->iommu_lock);
}

static inline uint64_t vtd_slpt_level_page_mask(uint32_t level)
{
	return ~((UINT64_C(1) << (VTD_PAGE_SHIFT_4K + (level - 1) * VTD_SL_LEVEL_BITS)) - 1);
}

static inline uint64_t vtd_get_iotlb_gfn(uint64_t addr, uint32_t level)
{
	return (addr & vtd_slpt_level_page_mask(level)) >> VTD_PAGE_SHIFT_4K;
}

static inline void vtd_fill_key(const struct vtd_state *s, union vtd_key *k, uint64_t gfn, uint16_t sid,
				uint32_t level, uint32_t pasid)
{
	if (s->v81)
		k->k81 = (struct vtd_key81){ .gfn = gfn, .pasid = pasid, .sid = sid, .level = (uint8_t)level };
	else
		k->k72 = (struct vtd_key72){ .gfn = gfn, .pasid = pasid, .level = level, .sid = sid };
}

/* vtd_lookup_iotlb(); the lock is held */
static struct vtd_iotlb_entry *vtd_lookup_iotlb(struct vtd_state *s, uint16_t source_id, uint32_t pasid,
						uint64_t addr)
{
	struct vtd_iotlb_entry *entry = NULL;
	union vtd_key key;

	for (uint32_t level = VTD_SL_PT_LEVEL; level < VTD_SL_PML4_LEVEL; level++) {
		vtd_fill_key(s, &key, vtd_get_iotlb_gfn(addr, level), source_id, level, pasid);
		entry = g_hash_table_lookup(s->iotlb, &key);
		if (entry)
			break;
	}
	return entry;
}

/* vtd_update_iotlb(); the lock is held */
static void vtd_update_iotlb(struct vtd_state *s, uint16_t source_id, uint16_t domain_id, uint64_t addr,
			     uint64_t slpte, uint8_t access_flags, uint32_t level, uint32_t pasid)
{
	struct vtd_iotlb_entry *entry = g_malloc(sizeof(*entry));
	union vtd_key *key = g_malloc(s->v81 ? sizeof(struct vtd_key81) : sizeof(struct vtd_key72));
	uint64_t gfn = vtd_get_iotlb_gfn(addr, level);

	if (g_hash_table_size(s->iotlb) >= CAP)
		g_hash_table_remove_all(s->iotlb);	/* vtd_reset_iotlb_locked() */
	entry->gfn = gfn;
	entry->domain_id = domain_id;
	entry->slpte = slpte;
	entry->access_flags = access_flags;
	entry->mask = vtd_slpt_level_page_mask(level);
	entry->pasid = pasid;
	vtd_fill_key(s, key, gfn, source_id, level, pasid);
	g_hash_table_replace(s->iotlb, key, entry);
}

struct vtd_page_inv_info {	/* VTDIOTLBPageInvInfo of v7.2.0 .. v9.0.x */
	uint16_t domain_id;
	uint32_t pasid;
	uint64_t addr;
	uint8_t mask;
};

static gboolean vtd_hash_remove_by_page(gpointer key, gpointer value, gpointer user_data)
{
	struct vtd_iotlb_entry *entry = value;
	struct vtd_page_inv_info *info = user_data;
	uint64_t gfn = (info->addr >> VTD_PAGE_SHIFT_4K) & info->mask;	/* the uint8_t mask: low 8 bits */
	uint64_t gfn_tlb = (info->addr & entry->mask) >> VTD_PAGE_SHIFT_4K;

	(void)key;
	return entry->domain_id == info->domain_id && ((entry->gfn & info->mask) == gfn || entry->gfn == gfn_tlb);
}

static gboolean vtd_hash_remove_by_domain(gpointer key, gpointer value, gpointer user_data)
{
	struct vtd_iotlb_entry *entry = value;

	(void)key;
	return entry->domain_id == *(uint16_t *)user_data;
}

/* vtd_iotlb_page_invalidate() without the notifier part */
static unsigned vtd_iotlb_page_invalidate(struct vtd_state *s, uint16_t domain_id, uint64_t addr, uint8_t am)
{
	struct vtd_page_inv_info info = { .domain_id = domain_id, .addr = addr, .mask = (uint8_t)~((1u << am) - 1) };
	unsigned n;

	pthread_mutex_lock(&s->iommu_lock);
	n = g_hash_table_foreach_remove(s->iotlb, vtd_hash_remove_by_page, &info);
	pthread_mutex_unlock(&s->iommu_lock);
	return n;
}

static unsigned vtd_iotlb_domain_invalidate(struct vtd_state *s, uint16_t domain_id)
{
	unsigned n;

	pthread_mutex_lock(&s->iommu_lock);
	n = g_hash_table_foreach_remove(s->iotlb, vtd_hash_remove_by_domain, &domain_id);
	pthread_mutex_unlock(&s->iommu_lock);
	return n;
}

static unsigned vtd_iotlb_global_invalidate(struct vtd_state *s)
{
	unsigned n;

	pthread_mutex_lock(&s->iommu_lock);
	n = g_hash_table_size(s->iotlb);
	g_hash_table_remove_all(s->iotlb);	/* vtd_reset_iotlb() */
	pthread_mutex_unlock(&s->iommu_lock);
	return n;
}

/* ---- the leaves both sides cache ------------------------------------------ */

#define NSIDE 3			/* ours, qemu72, qemu81 */
static const char *const side_name[NSIDE] = { "", ".qemu72", ".qemu81" };

struct leaf {
	uint16_t sid, domain;
	uint8_t order;
	uint64_t iova, out;
};

struct sides {
	struct viommu_iotlb *c;
	struct vtd_state q[2];
};

/* One access of a timed loop, read sequentially (the same 16 bytes per access for every loop). */
struct probe {
	uint64_t addr;
	uint16_t sid, domain;
	uint32_t leaf;
};

static struct leaf *leaves;
static size_t nleaves;
static struct probe *probe;	/* NLOOK accesses */

static void set_probe(size_t i, uint32_t leaf, uint64_t addr)
{
	probe[i] = (struct probe){ .addr = addr, .sid = leaves[leaf].sid, .domain = leaves[leaf].domain, .leaf = leaf };
}

/* Device d: PCI function 00:(d/8).(d%8) on bus 1, in domain d + 1. */
static uint16_t dev_sid(unsigned d) { return (uint16_t)(0x100 + d); }
static uint16_t dev_domain(unsigned d) { return (uint16_t)(d + 1); }

static struct leaf make_leaf(unsigned dev, unsigned order, uint64_t index)
{
	static const uint64_t region[3] = { UINT64_C(0x100000000), UINT64_C(0x8000000000),
					    UINT64_C(0x10000000000) };
	unsigned r = order == 12 ? 0 : order == 21 ? 1 : 2;
	struct leaf l = { .sid = dev_sid(dev), .domain = dev_domain(dev), .order = (uint8_t)order,
			  .iova = region[r] + (index << order) };

	l.out = (UINT64_C(0x3f) << 40) + (uint64_t)dev * (UINT64_C(1) << 34) + (l.iova & ((UINT64_C(1) << 34) - 1));
	return l;
}

static unsigned level_of(unsigned order) { return (order - VTD_PAGE_SHIFT_4K) / VTD_SL_LEVEL_BITS + 1; }

static int ours_insert(struct viommu_iotlb *c, const struct leaf *l)
{
	struct viommu_iotlb_entry e = { .source = l->sid, .domain = l->domain, .iova = l->iova, .output = l->out,
					.order = l->order, .perm = VIOMMU_PERM_RW };
	return viommu_iotlb_insert(c, &e);
}

/* What vtd_do_iommu_translate() does on a miss after its walk: update under the lock. */
static void qemu_insert(struct vtd_state *s, const struct leaf *l)
{
	pthread_mutex_lock(&s->iommu_lock);
	vtd_update_iotlb(s, l->sid, l->domain, l->iova, l->out | 3, 3, level_of(l->order), PCI_NO_PASID);
	pthread_mutex_unlock(&s->iommu_lock);
}

static void fill_all(struct sides *sd)
{
	for (size_t i = 0; i < nleaves; i++) {
		if (ours_insert(sd->c, &leaves[i]))
			printf("MISMATCH insert failed\n");
		qemu_insert(&sd->q[0], &leaves[i]);
		qemu_insert(&sd->q[1], &leaves[i]);
	}
}

static void sides_init(struct sides *sd)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = CAP };

	sd->c = viommu_iotlb_new(&o);
	vtd_init(&sd->q[0], false);
	vtd_init(&sd->q[1], true);
	if (!sd->c) {
		fprintf(stderr, "viommu_iotlb_new failed\n");
		exit(1);
	}
}

static void sides_fini(struct sides *sd)
{
	viommu_iotlb_free(sd->c);
	vtd_fini(&sd->q[0]);
	vtd_fini(&sd->q[1]);
}

static void line3(const char *name, const double *v, const char *unit)
{
	for (int s = 0; s < NSIDE; s++)
		printf("%s%s %.1f %s\n", name, side_name[s], v[s], unit);
	printf("%s.vs_qemu72 ratio %.3f\n", name, v[0] / v[1]);
	printf("%s.vs_qemu81 ratio %.3f\n", name, v[0] / v[2]);
}

/* ---- lookups ---------------------------------------------------------------- */

/* One translation on each side; returns the output address (0 on a miss). */
static inline uint64_t ours_translate(struct viommu_iotlb *c, uint16_t sid, uint16_t dom, uint64_t addr)
{
	struct viommu_iotlb_entry e;

	if (!viommu_iotlb_lookup(c, sid, dom, addr, &e))
		return 0;
	return e.output + (addr - e.iova);
}

static inline uint64_t qemu_translate(struct vtd_state *s, uint16_t sid, uint64_t addr)
{
	struct vtd_iotlb_entry *e;
	uint64_t out = 0;

	pthread_mutex_lock(&s->iommu_lock);
	e = vtd_lookup_iotlb(s, sid, PCI_NO_PASID, addr);
	if (e)
		out = ((e->slpte & ~UINT64_C(0xfff)) & e->mask) | (addr & ~e->mask);
	pthread_mutex_unlock(&s->iommu_lock);
	return out;
}

/* Time NLOOK translations of probe[] on side @s; ns per lookup. */
static double time_lookups(struct sides *sd, int s, uint64_t *hits)
{
	uint64_t t0 = bench_cpu_ns(), sum = 0, h = 0;

	for (size_t i = 0; i < NLOOK; i++) {
		const struct probe *p = &probe[i];
		uint64_t out = s == 0 ? ours_translate(sd->c, p->sid, p->domain, p->addr)
				      : qemu_translate(&sd->q[s - 1], p->sid, p->addr);
		sum += out;
		h += out != 0;
	}
	sink += sum;
	*hits = h;
	return (double)(bench_cpu_ns() - t0) / NLOOK;
}

/*
 * The floor: an L1-resident open-addressing table (256 slots of 16 B, 128
 * random keys), one multiply-shift hash and one probe per lookup, the keys
 * read from the same 16-byte records as the translations read theirs.
 */
struct l1slot {
	uint64_t key, val;
};

static struct l1slot l1tab[256];
static struct probe *l1keys;	/* NLOOK */
#define L1MUL 0x9e3779b97f4a7c15ull

static void l1probe_setup(void)
{
	uint64_t keys[128];

	for (unsigned i = 0; i < 128; i++) {
		uint64_t k = bench_rng() | 1, j = (k * L1MUL) >> 56;

		while (l1tab[j].key)
			j = (j + 1) & 255;
		l1tab[j] = (struct l1slot){ .key = k, .val = k ^ 0x5a5a };
		keys[i] = k;
	}
	for (size_t i = 0; i < NLOOK; i++)
		l1keys[i] = (struct probe){ .addr = keys[bench_below(128)] };
}

static double l1probe_ns(void)
{
	uint64_t t0 = bench_cpu_ns(), sum = 0;

	for (size_t i = 0; i < NLOOK; i++) {
		uint64_t k = l1keys[i].addr;

		for (uint64_t j = (k * L1MUL) >> 56;; j = (j + 1) & 255) {
			if (l1tab[j].key == k) {
				sum += l1tab[j].val;
				break;
			}
			if (!l1tab[j].key)
				break;
		}
	}
	sink += sum;
	return (double)(bench_cpu_ns() - t0) / NLOOK;
}

/* min over LOOKUP_REPS, the three sides (and the floor, if @l1) alternating */
static void time_lookups3(struct sides *sd, double *best, uint64_t *hits, double *l1)
{
	for (int s = 0; s < NSIDE; s++)
		best[s] = 1e300;
	if (l1)
		*l1 = 1e300;
	for (int rep = 0; rep < LOOKUP_REPS; rep++) {
		for (int s = 0; s < NSIDE; s++) {
			double d = time_lookups(sd, s, &hits[s]);
			best[s] = d < best[s] ? d : best[s];
		}
		if (l1) {
			double d = l1probe_ns();
			*l1 = d < *l1 ? d : *l1;
		}
	}
}

/*
 * The lookup cases: 1024 leaves (QEMU's whole capacity), 512 of 4K, 256 of
 * 2M and 256 of 1G over 8 devices, so both sides hold every size and probe
 * in the same order; lookups at a random page of a random leaf of one size,
 * and misses at pages no leaf covers.
 */
static void bench_lookups(void)
{
	struct sides sd;
	static const unsigned ord[3] = { 12, 21, 30 };
	static const char *const name[3] = { "4k", "2m", "1g" };
	size_t first[4] = { 0, 512, 768, 1024 };
	double best[NSIDE], l1 = 0;
	uint64_t hits[NSIDE];
	char buf[64];

	nleaves = 0;
	for (int k = 0; k < 3; k++)
		for (size_t i = first[k]; i < first[k + 1]; i++)
			leaves[nleaves++] = make_leaf((unsigned)(i % 8), ord[k], (i - first[k]) / 8);
	sides_init(&sd);
	fill_all(&sd);
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < NLOOK; i++) {
			uint32_t li = (uint32_t)(first[k] + bench_below(first[k + 1] - first[k]));
			uint64_t off = bench_below(UINT64_C(1) << (ord[k] - 12)) << 12;

			set_probe(i, li, leaves[li].iova + off + bench_below(4096));
		}
		time_lookups3(&sd, best, hits, k == 0 ? &l1 : NULL);
		for (int s = 0; s < NSIDE; s++)
			if (hits[s] != NLOOK)
				printf("MISMATCH hit.%s side %d: %" PRIu64 " hits of %u\n", name[k], s, hits[s], NLOOK);
		snprintf(buf, sizeof(buf), "iotlb.hit.%s", name[k]);
		line3(buf, best, "ns");
		if (k == 0) {
			printf("iotlb.l1probe %.2f ns\n", l1);
			printf("iotlb.hit.4k.vs_l1probe ratio %.2f\n", best[0] / l1);
		}
	}
	/* misses: a page in a region no leaf covers, of a device that has leaves */
	for (size_t i = 0; i < NLOOK; i++) {
		uint32_t li = (uint32_t)bench_below(nleaves);

		set_probe(i, li, UINT64_C(0x4000000000) + (bench_below(1u << 20) << 12));
	}
	time_lookups3(&sd, best, hits, NULL);
	for (int s = 0; s < NSIDE; s++)
		if (hits[s])
			printf("MISMATCH miss side %d: %" PRIu64 " hits\n", s, hits[s]);
	line3("iotlb.miss", best, "ns");
	sides_fini(&sd);
}

/* @n 4K leaves over 8 devices, and NLOOK accesses at uniformly random ones. */
static void uniform_4k(size_t n)
{
	nleaves = n;
	for (size_t i = 0; i < n; i++)
		leaves[i] = make_leaf((unsigned)(i % 8), 12, i / 8);
	for (size_t i = 0; i < NLOOK; i++) {
		uint32_t li = (uint32_t)bench_below(n);

		set_probe(i, li, leaves[li].iova + bench_below(4096));
	}
}

/* ---- insert and lookup + fill ---------------------------------------------- */

/* 1024 4K leaves into an empty cache (QEMU's table just reset: GLib's smallest size). */
static void bench_insert(void)
{
	struct sides sd;
	double best[NSIDE] = { 1e300, 1e300, 1e300 };

	nleaves = CAP;
	/* distinct pages per device: a replacement would not be an insert */
	for (size_t i = 0; i < nleaves; i++)
		leaves[i] = make_leaf((unsigned)(i % 8), 12, i / 8 * 7 + 3);
	sides_init(&sd);
	for (int rep = 0; rep < REPS; rep++) {
		for (int s = 0; s < NSIDE; s++) {
			uint64_t t0;

			if (s == 0)
				viommu_iotlb_invalidate_all(sd.c);
			else
				vtd_iotlb_global_invalidate(&sd.q[s - 1]);
			t0 = bench_cpu_ns();
			for (size_t i = 0; i < nleaves; i++) {
				if (s == 0)
					ours_insert(sd.c, &leaves[i]);
				else
					qemu_insert(&sd.q[s - 1], &leaves[i]);
			}
			double d = (double)(bench_cpu_ns() - t0) / (double)nleaves;
			best[s] = d < best[s] ? d : best[s];
		}
	}
	line3("iotlb.insert.4k", best, "ns");
	struct viommu_iotlb_stats st = { .sz = sizeof(st) };
	viommu_iotlb_get_stats(sd.c, &st);
	if (st.entries != CAP || st.evictions || g_hash_table_size(sd.q[0].iotlb) != CAP ||
	    g_hash_table_size(sd.q[1].iotlb) != CAP)
		printf("MISMATCH insert: entries %" PRIu64 " evictions %" PRIu64 "\n", st.entries, st.evictions);
	sides_fini(&sd);
}

/*
 * A working set of @ws 4K pages over 8 devices, uniform random accesses; a
 * miss is followed by the fill a walker does. Each side starts cold; the
 * first NLOOK accesses warm it up untimed.
 */
static void bench_fill(size_t ws)
{
	struct sides sd;
	double best[NSIDE] = { 1e300, 1e300, 1e300 };
	uint64_t hits[NSIDE] = { 0 }, looks[NSIDE] = { 0 };
	char buf[64];

	uniform_4k(ws);
	sides_init(&sd);
	for (int rep = 0; rep <= REPS; rep++) {
		for (int s = 0; s < NSIDE; s++) {
			uint64_t t0 = bench_cpu_ns(), h = 0, sum = 0;

			for (size_t i = 0; i < NLOOK; i++) {
				const struct probe *p = &probe[i];
				const struct leaf *l = &leaves[p->leaf];
				uint64_t out;

				if (s == 0) {
					out = ours_translate(sd.c, p->sid, p->domain, p->addr);
					if (!out) {
						ours_insert(sd.c, l);
						out = l->out + (p->addr - l->iova);
					} else {
						h++;
					}
				} else {
					struct vtd_state *q = &sd.q[s - 1];
					struct vtd_iotlb_entry *e;

					pthread_mutex_lock(&q->iommu_lock);
					e = vtd_lookup_iotlb(q, p->sid, PCI_NO_PASID, p->addr);
					if (e) {
						out = ((e->slpte & ~UINT64_C(0xfff)) & e->mask) | (p->addr & ~e->mask);
						h++;
					} else {
						vtd_update_iotlb(q, l->sid, l->domain, l->iova, l->out | 3, 3, 1,
								 PCI_NO_PASID);
						out = l->out + (p->addr - l->iova);
					}
					pthread_mutex_unlock(&q->iommu_lock);
				}
				sum += out;
			}
			sink += sum;
			if (rep == 0)
				continue;	/* warm-up */
			double d = (double)(bench_cpu_ns() - t0) / NLOOK;
			best[s] = d < best[s] ? d : best[s];
			hits[s] += h;
			looks[s] += NLOOK;
		}
	}
	snprintf(buf, sizeof(buf), "iotlb.fill.ws%zu", ws);
	line3(buf, best, "ns");
	for (int s = 0; s < NSIDE; s++)
		printf("%s.hit_rate%s %.3f hits/lookup\n", buf, side_name[s], (double)hits[s] / (double)looks[s]);
	sides_fini(&sd);
}

/* ---- invalidation ---------------------------------------------------------- */

static void refill(struct sides *sd, const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct leaf *l = &leaves[idx[i]];

		ours_insert(sd->c, l);
		qemu_insert(&sd->q[0], l);
		qemu_insert(&sd->q[1], l);
	}
}

/*
 * A full cache, 1024 4K leaves over @ndev devices (one domain each): one
 * page, one domain, everything. Each timed batch is followed by an untimed
 * refill of what it removed; both sides must remove the same count.
 */
static void bench_invalidate(unsigned ndev)
{
	struct sides sd;
	const size_t per = CAP / ndev;
	size_t *idx = calloc(CAP, sizeof(*idx));
	char buf[64];

	nleaves = CAP;
	for (size_t i = 0; i < CAP; i++)
		leaves[i] = make_leaf((unsigned)(i % ndev), 12, i / ndev);
	sides_init(&sd);
	fill_all(&sd);
	for (int kind = 0; kind < 3; kind++) {
		double best[NSIDE] = { 1e300, 1e300, 1e300 };
		unsigned ops = kind == 0 ? 64 : kind == 1 ? (ndev < 16 ? ndev : 16) : 1;
		uint64_t removed[NSIDE] = { 0 };

		for (int rep = 0; rep < 3 * REPS; rep++) {
			unsigned dev0 = (unsigned)bench_below(ndev);
			size_t n = 0;

			/* the batch: pages of distinct (device, page), distinct domains, or all */
			if (kind == 0) {
				for (unsigned i = 0; i < ops; i++)
					idx[n++] = (size_t)((dev0 + i) % ndev) + ndev * ((i * 7 + (unsigned)rep) % per);
			} else if (kind == 1) {
				for (unsigned i = 0; i < ops; i++)
					for (size_t p = 0; p < per; p++)
						idx[n++] = (dev0 + i) % ndev + ndev * p;
			} else {
				for (size_t i = 0; i < CAP; i++)
					idx[n++] = i;
			}
			for (int s = 0; s < NSIDE; s++) {
				uint64_t t0 = bench_now_ns(), r = 0;

				for (unsigned i = 0; i < ops; i++) {
					unsigned dev = (dev0 + i) % ndev;
					const struct leaf *l = &leaves[idx[i]];

					if (kind == 0)
						r += (uint64_t)(s == 0 ? viommu_iotlb_invalidate_range(sd.c, l->domain,
									l->iova, l->iova + 4095)
								: vtd_iotlb_page_invalidate(&sd.q[s - 1], l->domain,
											    l->iova, 0));
					else if (kind == 1)
						r += (uint64_t)(s == 0 ? viommu_iotlb_invalidate_domain(sd.c, dev_domain(dev))
								: vtd_iotlb_domain_invalidate(&sd.q[s - 1],
											      dev_domain(dev)));
					else
						r += (uint64_t)(s == 0 ? viommu_iotlb_invalidate_all(sd.c)
								: vtd_iotlb_global_invalidate(&sd.q[s - 1]));
				}
				double d = (double)(bench_now_ns() - t0) / ops;
				best[s] = d < best[s] ? d : best[s];
				removed[s] += r;
			}
			refill(&sd, idx, n);
		}
		if (removed[0] != removed[1] || removed[0] != removed[2])
			printf("MISMATCH invalidate kind %d: removed %" PRIu64 " / %" PRIu64 " / %" PRIu64 "\n", kind,
			       removed[0], removed[1], removed[2]);
		snprintf(buf, sizeof(buf), "iotlb.invalidate.%s.d%u", kind == 0 ? "page" : kind == 1 ? "domain" : "all",
			 ndev);
		line3(buf, best, "ns");
	}
	free(idx);
	sides_fini(&sd);
}

/* ---- two threads translating at once ---------------------------------------- */

struct thr {
	struct sides *sd;
	int side;
	unsigned id;
	uint64_t sum;
};

static pthread_barrier_t barrier;

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	uint64_t sum = 0;

	pthread_barrier_wait(&barrier);
	for (size_t i = 0; i < NLOOK; i++) {
		size_t k = (i + t->id * 7919) % NLOOK;
		const struct probe *p = &probe[k];

		sum += t->side == 0 ? ours_translate(t->sd->c, p->sid, p->domain, p->addr)
				    : qemu_translate(&t->sd->q[t->side - 1], p->sid, p->addr);
	}
	t->sum = sum;
	return NULL;
}

/* 4K hits from two threads on one cache: wall time per lookup per thread. */
static void bench_threads(void)
{
	struct sides sd;
	double best[NSIDE] = { 1e300, 1e300, 1e300 };

	uniform_4k(CAP);
	sides_init(&sd);
	fill_all(&sd);
	for (int rep = 0; rep < REPS; rep++) {
		for (int s = 0; s < NSIDE; s++) {
			pthread_t tid[2];
			struct thr t[2];

			pthread_barrier_init(&barrier, NULL, 3);
			for (unsigned i = 0; i < 2; i++) {
				t[i] = (struct thr){ .sd = &sd, .side = s, .id = i };
				pthread_create(&tid[i], NULL, thr_main, &t[i]);
			}
			uint64_t t0 = bench_now_ns();
			pthread_barrier_wait(&barrier);
			for (unsigned i = 0; i < 2; i++) {
				pthread_join(tid[i], NULL);
				sink += t[i].sum;
			}
			double d = (double)(bench_now_ns() - t0) / NLOOK;
			best[s] = d < best[s] ? d : best[s];
			pthread_barrier_destroy(&barrier);
		}
	}
	line3("iotlb.hit.4k.threads2", best, "ns");
	sides_fini(&sd);
}

int main(int argc, char **argv)
{
	size_t max_ws = argc > 1 ? strtoull(argv[1], NULL, 0) : 8192;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x10b5eed;

	if (max_ws < 512)
		max_ws = 512;
	printf("seed 0x%" PRIx64 "\n", seed);
	printf("capacity %u max_ws %zu lookups %u glib %u.%u.%u\n", CAP, max_ws, NLOOK, glib_major_version,
	       glib_minor_version, glib_micro_version);
	bench_seed(seed);
	leaves = calloc(max_ws > CAP ? max_ws : CAP, sizeof(*leaves));
	probe = calloc(NLOOK, sizeof(*probe));
	l1keys = calloc(NLOOK, sizeof(*l1keys));
	if (!leaves || !probe || !l1keys)
		return 1;
	l1probe_setup();
	bench_lookups();
	bench_insert();
	for (size_t ws = 512; ws <= max_ws; ws *= 2)
		bench_fill(ws);
	bench_invalidate(8);
	bench_invalidate(128);
	bench_threads();
	printf("sink %" PRIu64 "\n", sink);
	free(leaves);
	free(probe);
	free(l1keys);
	return 0;
}
