/* ats-io-private.h — the GUI's one HDF5 thread
 *
 * HDF5 1.10 on Debian serialises every call behind one global lock, so the GUI keeps all of
 * its capture-file I/O on a single worker thread: the UI thread never waits on HDF5, and
 * reads never contend with each other. Jobs run by priority (lower first), then in order.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ATS_IO_PRIORITY_HEAD 0 /* the map the user is looking at */
#define ATS_IO_PRIORITY_METRICS 1
#define ATS_IO_PRIORITY_THUMBNAILS 2

/* Runs @func for @task on the I/O thread (unless @task's cancellable is already cancelled,
 * in which case the task returns G_IO_ERROR_CANCELLED). Takes a reference on @task. */
void _ats_io_run_task (GTask *task, int priority, GTaskThreadFunc func);
/* Runs @func (@data, NULL) on the I/O thread; @func owns @data. */
void _ats_io_run_func (GFunc func, gpointer data, int priority);
/* Blocks until every job queued so far has run (tests and shutdown only). */
void _ats_io_flush (void);

G_END_DECLS
