// SPDX-License-Identifier: MIT
/* Left-right (src/util/leftright.h): the writer's publish and the thread stripes. */
#include <sched.h>
#include <string.h>

#include "util/leftright.h"

_Thread_local unsigned vi_thread_stripe_plus1;

/* Threads get stripes round robin in the order they first ask. */
unsigned vi_thread_stripe_assign(void)
{
	static unsigned next;
	unsigned s = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % VI_LR_STRIPES;

	vi_thread_stripe_plus1 = s + 1;
	return s;
}

void vi_lr_init(struct vi_lr *lr)
{
	memset(lr, 0, sizeof(*lr));
}

/* Wait until no reader that arrived on counter @v is inside. */
static void drain(struct vi_lr *lr, unsigned v)
{
	for (unsigned s = 0; s < VI_LR_STRIPES; s++) {
		for (unsigned spins = 0; __atomic_load_n(&lr->stripe[s].in[v], __ATOMIC_SEQ_CST); spins++) {
			if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#endif
			} else {
				sched_yield();	/* the reader may be descheduled */
			}
		}
	}
}

unsigned vi_lr_publish(struct vi_lr *lr)
{
	unsigned old = __atomic_load_n(&lr->live, __ATOMIC_RELAXED);
	unsigned v = __atomic_load_n(&lr->version, __ATOMIC_RELAXED);

	__atomic_store_n(&lr->live, !old, __ATOMIC_SEQ_CST);
	/*
	 * A reader that read the old @live arrived before the store above on
	 * either counter (it may have read @version before the previous
	 * toggle). Draining the idle counter, toggling, then draining the
	 * counter that was current catches both cases.
	 */
	drain(lr, !v);
	__atomic_store_n(&lr->version, !v, __ATOMIC_SEQ_CST);
	drain(lr, v);
	return old;
}
