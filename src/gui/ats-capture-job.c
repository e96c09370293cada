/* ats-capture-job.c */
#include "ats-capture-job.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-tokenizer.h"

struct _AtsCaptureJob
{
  GObject parent_instance;

  char         *model_dir;
  AtsModel     *model;
  AtsTokenizer *tokenizer;

  double   progress;
  gboolean running;

  /* written by the worker, read by the main-thread idle */
  GMutex lock;
  double pending_progress;
  guint  progress_source;
};

G_DEFINE_FINAL_TYPE (AtsCaptureJob, ats_capture_job, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_PROGRESS,
  PROP_RUNNING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
set_progress (AtsCaptureJob *self, double progress)
{
  if (self->progress == progress)
    return;
  self->progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

static void
set_running (AtsCaptureJob *self, gboolean running)
{
  if (self->running == running)
    return;
  self->running = running;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

static void
ats_capture_job_finalize (GObject *object)
{
  AtsCaptureJob *self = ATS_CAPTURE_JOB (object);

  g_clear_handle_id (&self->progress_source, g_source_remove);
  g_clear_pointer (&self->model, ats_model_unref);
  g_clear_pointer (&self->tokenizer, ats_tokenizer_unref);
  g_free (self->model_dir);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (ats_capture_job_parent_class)->finalize (object);
}

static void
ats_capture_job_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  AtsCaptureJob *self = ATS_CAPTURE_JOB (object);

  switch (prop_id)
    {
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ats_capture_job_class_init (AtsCaptureJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ats_capture_job_finalize;
  object_class->get_property = ats_capture_job_get_property;

  properties[PROP_PROGRESS] =
      g_param_spec_double ("progress", NULL, NULL, 0.0, 1.0, 0.0,
                           G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RUNNING] =
      g_param_spec_boolean ("running", NULL, NULL, FALSE,
                            G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ats_capture_job_init (AtsCaptureJob *self)
{
  g_mutex_init (&self->lock);
}

/* --- loading --- */

static void
load_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  const char *dir = task_data;
  g_autoptr (AtsCaptureJob) self = NULL;
  GError *error = NULL;

  self = g_object_new (ATS_TYPE_CAPTURE_JOB, NULL);
  self->model_dir = g_strdup (dir);
  self->model = ats_model_load (dir, &error);
  if (self->model == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  self->tokenizer = ats_tokenizer_load_for_model (dir, &error);
  if (self->tokenizer == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;

  g_task_return_pointer (task, g_steal_pointer (&self), g_object_unref);
}

void
ats_capture_job_load_async (const char         *model_dir,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (model_dir != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_capture_job_load_async);
  g_task_set_task_data (task, g_strdup (model_dir), g_free);
  g_task_run_in_thread (task, load_thread);
}

AtsCaptureJob *
ats_capture_job_load_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

const char *
ats_capture_job_get_model_dir (AtsCaptureJob *self)
{
  g_return_val_if_fail (ATS_IS_CAPTURE_JOB (self), NULL);

  return self->model_dir;
}

char *
ats_capture_job_dup_display_name (AtsCaptureJob *self)
{
  g_return_val_if_fail (ATS_IS_CAPTURE_JOB (self), NULL);

  return g_filename_display_basename (self->model_dir);
}

AtsModel *
ats_capture_job_get_model (AtsCaptureJob *self)
{
  g_return_val_if_fail (ATS_IS_CAPTURE_JOB (self), NULL);

  return self->model;
}

double
ats_capture_job_get_progress (AtsCaptureJob *self)
{
  g_return_val_if_fail (ATS_IS_CAPTURE_JOB (self), 0.0);

  return self->progress;
}

gboolean
ats_capture_job_get_running (AtsCaptureJob *self)
{
  g_return_val_if_fail (ATS_IS_CAPTURE_JOB (self), FALSE);

  return self->running;
}

char *
ats_capture_job_make_output_path (AtsCaptureJob *self, GError **error)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "attnscope", "captures", NULL);
  g_autofree char *base = g_path_get_basename (self->model_dir);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "%s: %s", dir,
                   g_strerror (errsv));
      return NULL;
    }

  for (guint i = 0;; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup_printf ("%s-%s.h5", base, stamp)
                                     : g_strdup_printf ("%s-%s-%u.h5", base, stamp, i);
      char            *path = g_build_filename (dir, name, NULL);

      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        return path;
      g_free (path);
    }
}

/* --- running --- */

typedef struct
{
  AtsCaptureJob *self; /* borrowed: the task holds a reference */
  char          *prompt;
  char          *out_path;
  GCancellable  *cancellable;
} RunData;

static void
run_data_free (RunData *data)
{
  g_free (data->prompt);
  g_free (data->out_path);
  g_clear_object (&data->cancellable);
  g_free (data);
}

static gboolean
progress_idle (gpointer user_data)
{
  AtsCaptureJob *self = user_data;
  double         progress;

  g_mutex_lock (&self->lock);
  progress = self->pending_progress;
  self->progress_source = 0;
  g_mutex_unlock (&self->lock);

  if (self->running)
    set_progress (self, progress);
  return G_SOURCE_REMOVE;
}

static gboolean
on_forward_progress (double fraction, gpointer user_data)
{
  RunData       *data = user_data;
  AtsCaptureJob *self = data->self;

  g_mutex_lock (&self->lock);
  self->pending_progress = CLAMP (fraction, 0.0, 1.0);
  if (self->progress_source == 0)
    self->progress_source =
        g_idle_add_full (G_PRIORITY_DEFAULT, progress_idle, g_object_ref (self), g_object_unref);
  g_mutex_unlock (&self->lock);

  return !g_cancellable_is_cancelled (data->cancellable);
}

static gboolean
capture_prompt (RunData *data, GError **error)
{
  AtsCaptureJob        *self = data->self;
  const AtsModelConfig *c = ats_model_get_config (self->model);
  g_autofree gint32    *ids = NULL;
  g_auto (GStrv) pieces = NULL;
  g_autoptr (AtsDiagnostics) diag = NULL;
  g_autoptr (AtsDiagResults) results = NULL;
  AtsCaptureOptions copts;
  AtsForwardOptions fopts = { 0 };
  AtsObserver      *observers[3];
  AtsDiagParams     params;
  AtsCaptureFile   *file;
  guint             n_ids = 0;
  gboolean          ok;

  ids = ats_tokenizer_encode (self->tokenizer, data->prompt, ATS_TOKENIZE_DEFAULT, &n_ids, error);
  if (ids == NULL)
    return FALSE;
  if (n_ids == 0)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                   "The prompt is empty: it has no tokens");
      return FALSE;
    }

  pieces = g_new0 (char *, n_ids + 1);
  for (guint t = 0; t < n_ids; t++)
    pieces[t] = ats_tokenizer_decode_piece (self->tokenizer, ids[t]);

  file = ats_capture_file_create (data->out_path, self->model, FALSE, error);
  if (file == NULL)
    return FALSE;

  ats_capture_options_init_default (&copts);
  ok = ats_capture_file_begin_run (file, data->prompt, ids, (const char *const *) pieces, n_ids,
                                   &copts, error);
  if (ok)
    {
      ats_diag_params_init_default (&params);
      diag = ats_diagnostics_new (c->n_layers, c->n_heads, n_ids, &params);
      observers[0] = ats_capture_file_get_observer (file);
      observers[1] = ats_diagnostics_get_observer (diag);
      observers[2] = NULL;

      fopts.observers = observers;
      fopts.progress = on_forward_progress;
      fopts.progress_data = data;
      fopts.cancellable = data->cancellable;
      ok = ats_forward_run (self->model, ids, n_ids, &fopts, NULL, error);
      if (ok)
        {
          results = ats_diagnostics_finish (diag, error);
          ok = results != NULL && ats_capture_file_write_run_metrics (file, 0, results, error);
        }
      if (ok)
        ok = ats_capture_file_write_run_lazy (file, 0, self->model, error);
      if (ok)
        ok = ats_capture_file_end_run (file, TRUE, error);
    }

  if (!ok)
    {
      ats_capture_file_abandon (file);
      g_unlink (data->out_path);
      return FALSE;
    }

  if (!ats_capture_file_close (file, error))
    {
      g_unlink (data->out_path);
      return FALSE;
    }

  return TRUE;
}

static void
run_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  RunData *data = task_data;
  GError  *error = NULL;

  if (!capture_prompt (data, &error))
    {
      if (g_error_matches (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CANCELLED) ||
          g_cancellable_is_cancelled (cancellable))
        {
          g_clear_error (&error);
          g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "The capture was cancelled");
        }
      g_task_return_error (task, error);
      return;
    }

  g_task_return_pointer (task, g_strdup (data->out_path), g_free);
}

void
ats_capture_job_run_async (AtsCaptureJob      *self,
                           const char         *prompt,
                           const char         *out_path,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  RunData *data;

  g_return_if_fail (ATS_IS_CAPTURE_JOB (self));
  g_return_if_fail (prompt != NULL && out_path != NULL);
  g_return_if_fail (!self->running);

  data = g_new0 (RunData, 1);
  data->self = self;
  data->prompt = g_strdup (prompt);
  data->out_path = g_strdup (out_path);
  data->cancellable = cancellable != NULL ? g_object_ref (cancellable) : g_cancellable_new ();

  task = g_task_new (self, data->cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_capture_job_run_async);
  g_task_set_task_data (task, data, (GDestroyNotify) run_data_free);
  /* the result is wanted even when cancelled, so that the file is cleaned up first */
  g_task_set_return_on_cancel (task, FALSE);

  set_progress (self, 0.0);
  set_running (self, TRUE);
  g_task_run_in_thread (task, run_thread);
}

char *
ats_capture_job_run_finish (AtsCaptureJob *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  set_running (self, FALSE);
  if (!g_task_had_error (G_TASK (result)))
    set_progress (self, 1.0);
  return g_task_propagate_pointer (G_TASK (result), error);
}
