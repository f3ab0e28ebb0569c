/* SPDX-License-Identifier: MIT */
/* The end of the sources compiled with the budgeted allocator (alloc_budget.h). */
#undef malloc
#undef calloc
#undef realloc
