/* ats-whatif-job.c */
#include "ats-whatif-job.h"

#include <math.h>

typedef struct
{
  AtsMatrix *map;
  float      tau;
  double     sink_eps;
} Job;

static void
job_free (Job *job)
{
  ats_matrix_unref (job->map);
  g_free (job);
}

void
ats_whatif_result_free (AtsWhatifResult *result)
{
  if (result == NULL)
    return;
  g_clear_pointer (&result->source, ats_matrix_unref);
  g_clear_pointer (&result->map, ats_matrix_unref);
  g_free (result);
}

static void
run_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  Job             *job = task_data;
  guint            T = job->map->n_rows;
  float           *out = g_try_new (float, (gsize) T *T); /* [T, T] */
  AtsWhatifResult *result;

  if (out == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                               "Not enough memory for the what-if map (%u x %u)", T, T);
      return;
    }

  result = g_new0 (AtsWhatifResult, 1);
  result->source = ats_matrix_ref (job->map);
  result->tau = job->tau;
  result->sink_eps = job->sink_eps;
  ats_whatif_transform_head (job->map->data, out, T, job->tau);
  if (g_task_return_error_if_cancelled (task))
    {
      g_free (out);
      ats_whatif_result_free (result);
      return;
    }
  ats_whatif_head_stats (job->map->data, T, job->tau, job->sink_eps, &result->stats);
  result->map = ats_matrix_new_take (T, T, out);
  g_task_return_pointer (task, result, (GDestroyNotify) ats_whatif_result_free);
}

void
ats_whatif_job_run_async (AtsMatrix          *map,
                          float               tau,
                          double              sink_eps,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  Job *job;

  g_return_if_fail (map != NULL);
  g_return_if_fail (map->n_rows == map->n_cols);

  job = g_new0 (Job, 1);
  job->map = ats_matrix_ref (map);
  job->tau = tau;
  job->sink_eps = sink_eps;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_whatif_job_run_async);
  g_task_set_task_data (task, job, (GDestroyNotify) job_free);
  g_task_run_in_thread (task, run_thread);
}

AtsWhatifResult *
ats_whatif_job_run_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

char *
ats_whatif_format_caption (const AtsWhatifHeadStats *stats, float tau, const char *tau_source)
{
  g_autofree char *share = NULL;

  g_return_val_if_fail (stats != NULL, NULL);

  if (isnan (stats->sink_share))
    share = g_strdup ("—");
  else
    share = g_strdup_printf ("%.1f%%", 100.0 * stats->sink_share);

  return g_strdup_printf ("What-if Elastic-Softmax max(0, A + τ/i), τ = %.2f%s%s%s · "
                          "sparsity %.1f%% → %.1f%% · mass removed %.3f per row · "
                          "share on sinks* %s (%u sink key%s) · white: exactly 0 · "
                          "*ours",
                          tau, tau_source != NULL ? " (" : "", tau_source != NULL ? tau_source : "",
                          tau_source != NULL ? ")" : "", 100.0 * stats->sparsity_before,
                          100.0 * stats->sparsity, stats->mass_removed, share, stats->n_sinks,
                          stats->n_sinks == 1 ? "" : "s");
}
