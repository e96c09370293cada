/* ats-io.c — the single I/O worker thread */
#include "ats-io-private.h"

typedef struct
{
  guint64         seq;
  int             priority;
  GTask          *task;
  GTaskThreadFunc task_func;
  GFunc           func;
  gpointer        data;
} AtsIoJob;

static GThreadPool *io_pool;
static guint64      io_seq;
static GMutex       io_lock;
static GCond        io_cond;
static guint        io_pending;

static int
ats_io_job_compare (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const AtsIoJob *ja = a;
  const AtsIoJob *jb = b;

  if (ja->priority != jb->priority)
    return ja->priority < jb->priority ? -1 : 1;
  return ja->seq < jb->seq ? -1 : (ja->seq > jb->seq ? 1 : 0);
}

static void
ats_io_worker (gpointer data, gpointer user_data)
{
  AtsIoJob *job = data;

  if (job->task != NULL)
    {
      if (!g_task_return_error_if_cancelled (job->task))
        job->task_func (job->task, g_task_get_source_object (job->task),
                        g_task_get_task_data (job->task), g_task_get_cancellable (job->task));
      g_object_unref (job->task);
    }
  else
    job->func (job->data, NULL);

  g_free (job);

  g_mutex_lock (&io_lock);
  io_pending--;
  g_cond_broadcast (&io_cond);
  g_mutex_unlock (&io_lock);
}

static void
ats_io_push (AtsIoJob *job)
{
  g_mutex_lock (&io_lock);
  if (io_pool == NULL)
    {
      io_pool = g_thread_pool_new (ats_io_worker, NULL, 1, FALSE, NULL);
      g_thread_pool_set_sort_function (io_pool, ats_io_job_compare, NULL);
    }
  job->seq = io_seq++;
  io_pending++;
  g_mutex_unlock (&io_lock);

  g_thread_pool_push (io_pool, job, NULL);
}

void
_ats_io_run_task (GTask *task, int priority, GTaskThreadFunc func)
{
  AtsIoJob *job = g_new0 (AtsIoJob, 1);

  job->priority = priority;
  job->task = g_object_ref (task);
  job->task_func = func;
  ats_io_push (job);
}

void
_ats_io_run_func (GFunc func, gpointer data, int priority)
{
  AtsIoJob *job = g_new0 (AtsIoJob, 1);

  job->priority = priority;
  job->func = func;
  job->data = data;
  ats_io_push (job);
}

void
_ats_io_flush (void)
{
  g_mutex_lock (&io_lock);
  while (io_pending > 0)
    g_cond_wait (&io_cond, &io_lock);
  g_mutex_unlock (&io_lock);
}
