/* ats-parallel.c — parallel-for over a shared GThreadPool (workers sleep when idle) */
#include "ats-parallel-private.h"

typedef struct
{
  AtsRangeFunc func;
  gpointer     data;
  guint        n, n_parts;
  gint         pending; /* parts not finished */
  GMutex       lock;
  GCond        done;
} Job;

typedef struct
{
  Job  *job;
  guint part;
} Part;

static void
run_part (Job *job, guint part)
{
  guint begin = (guint) ((guint64) job->n * part / job->n_parts);
  guint end = (guint) ((guint64) job->n * (part + 1) / job->n_parts);
  job->func (begin, end, part, job->data);
  g_mutex_lock (&job->lock);
  if (--job->pending == 0)
    g_cond_signal (&job->done);
  g_mutex_unlock (&job->lock);
}

static void
worker (gpointer data, gpointer user_data)
{
  Part *p = data;
  run_part (p->job, p->part);
  g_free (p);
}

static GThreadPool *
shared_pool (void)
{
  static gsize        init = 0;
  static GThreadPool *pool = NULL;
  if (g_once_init_enter (&init))
    {
      pool =
          g_thread_pool_new (worker, NULL, MAX (1, (int) g_get_num_processors () - 1), FALSE, NULL);
      g_once_init_leave (&init, 1);
    }
  return pool;
}

void
_ats_parallel_for (guint n, guint n_threads, AtsRangeFunc func, gpointer data)
{
  guint parts = MAX (1u, MIN (n_threads, n));
  if (parts == 1)
    {
      func (0, n, 0, data);
      return;
    }
  Job job = { func, data, n, parts, (gint) parts };
  g_mutex_init (&job.lock);
  g_cond_init (&job.done);
  GThreadPool *pool = shared_pool ();
  if ((guint) g_thread_pool_get_max_threads (pool) < parts - 1)
    g_thread_pool_set_max_threads (pool, parts - 1, NULL);
  for (guint p = 1; p < parts; p++)
    {
      Part *part = g_new (Part, 1);
      part->job = &job;
      part->part = p;
      g_thread_pool_push (pool, part, NULL);
    }
  run_part (&job, 0);
  g_mutex_lock (&job.lock);
  while (job.pending > 0)
    g_cond_wait (&job.done, &job.lock);
  g_mutex_unlock (&job.lock);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.done);
}

guint
_ats_parallel_next (guint *next)
{
  return (guint) g_atomic_int_add ((gint *) next, 1);
}
