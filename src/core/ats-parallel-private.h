/* ats-parallel-private.h — a small parallel-for over a shared pool of sleeping worker threads
 *
 * OpenMP's workers spin between parallel regions and steal the cores OpenBLAS needs for the
 * matrix products that follow; these workers block on a queue instead.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Called for items [begin, end) by worker @slot (0 <= slot < n_slots): slot-private scratch
 * can be indexed by it. */
typedef void (*AtsRangeFunc) (guint begin, guint end, guint slot, gpointer data);

/* Runs @func over [0, n) in @n_threads contiguous ranges (the caller runs one of them) and
 * returns when all are done. */
void _ats_parallel_for (guint n, guint n_threads, AtsRangeFunc func, gpointer data);

/* Runs @func (n_threads times, slot 0 .. n_threads-1) where each call takes items one at a
 * time from [0, n) through @next (dynamic scheduling): func is called with begin = end = 0 and
 * must loop on _ats_parallel_next(). */
guint _ats_parallel_next (guint *next);

G_END_DECLS
