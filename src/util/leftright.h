/* SPDX-License-Identifier: MIT */
/*
 * Left-right: wait-free readers over two copies of a structure that has no
 * concurrency of its own (P. Ramalhete, A. Correia, "Left-Right: A
 * Concurrency Control Technique with Wait-Free Population Oblivious Reads",
 * 2015). Readers never retry, never block and never take a lock; one writer
 * at a time (the caller serialises writers) changes the copy nobody reads,
 * publishes it, waits until no reader is left in the other copy, and changes
 * that one too. What readers dereference is only ever freed by a writer that
 * has removed it from both copies, so a plain single-threaded structure (the
 * range map) needs neither atomics nor deferred freeing.
 *
 *	reader:	unsigned tok, i = vi_lr_read_begin(lr, &tok);
 *		... read copy[i] only ...
 *		vi_lr_read_end(lr, tok);
 *
 *	writer:	(lock)
 *		change copy[vi_lr_write_target(lr)];
 *		change copy[vi_lr_publish(lr)] the same way;
 *		(unlock; free what both copies dropped)
 *
 * Guarantee: once vi_lr_publish() has returned, every reader that begins
 * afterwards reads the published copy, and no reader is still inside the
 * copy it returns. So when the writer's second change is done, nothing it
 * removed can be reached by any reader, then or later.
 *
 * Reader indicators are per-thread stripes (VI_LR_STRIPES cache lines, two
 * counters each), so readers on different CPUs do not share a written line.
 * The cost of a read section is two atomic adds on the caller's own stripe;
 * the cost of a publish is two waits for readers to drain (a reader that is
 * descheduled inside its section delays the writer, never other readers).
 */
#ifndef VI_UTIL_LEFTRIGHT_H
#define VI_UTIL_LEFTRIGHT_H

#include <stdint.h>

#define VI_LR_STRIPES 16

struct vi_lr_stripe {
	long in[2];			/* readers inside, by the version they arrived on */
} __attribute__((aligned(64)));

/*
 * @live: the copy readers read (0 or 1). @version: which of the two counters
 * of every stripe new readers arrive on. Both are written only by the
 * writer, with sequentially consistent stores; the stripes are written by
 * readers with atomic adds.
 */
struct vi_lr {
	unsigned live __attribute__((aligned(64)));
	unsigned version;
	struct vi_lr_stripe stripe[VI_LR_STRIPES];
};

/* The calling thread's stripe plus one; 0 until its first use. */
extern _Thread_local unsigned vi_thread_stripe_plus1;
unsigned vi_thread_stripe_assign(void);

/* A small number for the calling thread, the same on every call: 0..VI_LR_STRIPES-1. */
static inline unsigned vi_thread_stripe(void)
{
	unsigned s = vi_thread_stripe_plus1;

	return __builtin_expect(s != 0, 1) ? s - 1 : vi_thread_stripe_assign();
}

void vi_lr_init(struct vi_lr *lr);

/*
 * Enter a read section; returns the copy to read (0 or 1) and stores in
 * *tok what vi_lr_read_end() needs. Sections may not nest on one vi_lr.
 */
static inline unsigned vi_lr_read_begin(struct vi_lr *lr, unsigned *tok)
{
	unsigned s = vi_thread_stripe(), v = __atomic_load_n(&lr->version, __ATOMIC_SEQ_CST);

	__atomic_add_fetch(&lr->stripe[s].in[v], 1, __ATOMIC_SEQ_CST);
	*tok = s << 1 | v;
	return __atomic_load_n(&lr->live, __ATOMIC_SEQ_CST);
}

static inline void vi_lr_read_end(struct vi_lr *lr, unsigned tok)
{
	__atomic_sub_fetch(&lr->stripe[tok >> 1].in[tok & 1], 1, __ATOMIC_RELEASE);
}

/* Writer only: the copy no reader reads now. */
static inline unsigned vi_lr_write_target(const struct vi_lr *lr)
{
	return !__atomic_load_n(&lr->live, __ATOMIC_RELAXED);
}

/*
 * Writer only: make the copy vi_lr_write_target() named the one readers
 * read, wait until no reader is left in the other, and return the other
 * (now free to change until the next publish).
 */
unsigned vi_lr_publish(struct vi_lr *lr);

#endif
