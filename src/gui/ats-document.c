/* ats-document.c */
#include "ats-document.h"

#include <math.h>
#include <string.h>

#include "ats-io-private.h"

#define HEAD_CACHE_BYTES ((gsize) 256 * 1024 * 1024)

struct _AtsDocument
{
  GObject parent_instance;

  char           *path;
  AtsCaptureFile *file; /* used on the I/O thread only, except the model info */
  GPtrArray      *runs; /* AtsCaptureRun* */

  /* main thread only */
  GHashTable *head_cache; /* key -> AtsMatrix */
  GQueue      head_lru;   /* keys (as pointers), most recent first */
  gsize       cache_bytes;
};

G_DEFINE_FINAL_TYPE (AtsDocument, ats_document, G_TYPE_OBJECT)

typedef struct
{
  guint         run;
  guint         layer;
  guint         head;
  guint         max_size;
  gboolean      has_params;
  AtsDiagParams params;
} AtsDocumentJob;

static guint64
head_key (guint run, guint layer, guint head)
{
  return ((guint64) run << 40) | ((guint64) layer << 20) | head;
}

static void
close_file_func (gpointer data, gpointer user_data)
{
  ats_capture_file_close (data, NULL);
}

static void
ats_document_finalize (GObject *object)
{
  AtsDocument *self = ATS_DOCUMENT (object);

  if (self->file != NULL)
    _ats_io_run_func (close_file_func, g_steal_pointer (&self->file), ATS_IO_PRIORITY_HEAD);

  g_clear_pointer (&self->runs, g_ptr_array_unref);
  g_clear_pointer (&self->head_cache, g_hash_table_unref);
  g_queue_clear (&self->head_lru);
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (ats_document_parent_class)->finalize (object);
}

static void
ats_document_class_init (AtsDocumentClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ats_document_finalize;
}

static void
ats_document_init (AtsDocument *self)
{
  self->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) ats_capture_run_free);
  self->head_cache = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                            (GDestroyNotify) ats_matrix_unref);
  g_queue_init (&self->head_lru);
}

/* --- open --- */

static void
open_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  const char *path = task_data;
  g_autoptr (AtsDocument) self = NULL;
  g_autoptr (GError) error = NULL;
  const AtsCaptureModelInfo *info;
  guint                      n_runs;

  self = g_object_new (ATS_TYPE_DOCUMENT, NULL);
  self->path = g_strdup (path);
  self->file = ats_capture_file_open (path, FALSE, &error);
  if (self->file == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  info = ats_capture_file_get_model_info (self->file);
  if (info == NULL || info->n_layers == 0 || info->n_heads == 0)
    {
      g_task_return_new_error (task, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                               "%s: the capture describes a model without layers or heads", path);
      return;
    }

  n_runs = ats_capture_file_get_n_runs (self->file);
  if (n_runs == 0)
    {
      g_task_return_new_error (task, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                               "%s: the capture holds no runs", path);
      return;
    }

  for (guint i = 0; i < n_runs; i++)
    {
      AtsCaptureRun *run;

      if (g_cancellable_set_error_if_cancelled (cancellable, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }

      run = ats_capture_file_get_run (self->file, i, &error);
      if (run == NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      g_ptr_array_add (self->runs, run);
    }

  g_task_return_pointer (task, g_steal_pointer (&self), g_object_unref);
}

void
ats_document_open_async (const char         *path,
                         GCancellable       *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_document_open_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  _ats_io_run_task (task, ATS_IO_PRIORITY_HEAD, open_thread);
}

AtsDocument *
ats_document_open_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- accessors --- */

const char *
ats_document_get_path (AtsDocument *self)
{
  g_return_val_if_fail (ATS_IS_DOCUMENT (self), NULL);

  return self->path;
}

char *
ats_document_dup_display_name (AtsDocument *self)
{
  g_return_val_if_fail (ATS_IS_DOCUMENT (self), NULL);

  return g_filename_display_basename (self->path);
}

const AtsCaptureModelInfo *
ats_document_get_model_info (AtsDocument *self)
{
  g_return_val_if_fail (ATS_IS_DOCUMENT (self), NULL);

  return ats_capture_file_get_model_info (self->file);
}

guint
ats_document_get_n_layers (AtsDocument *self)
{
  return ats_document_get_model_info (self)->n_layers;
}

guint
ats_document_get_n_heads (AtsDocument *self)
{
  return ats_document_get_model_info (self)->n_heads;
}

guint
ats_document_get_n_runs (AtsDocument *self)
{
  g_return_val_if_fail (ATS_IS_DOCUMENT (self), 0);

  return self->runs->len;
}

const AtsCaptureRun *
ats_document_get_run (AtsDocument *self, guint run)
{
  g_return_val_if_fail (ATS_IS_DOCUMENT (self), NULL);
  g_return_val_if_fail (run < self->runs->len, NULL);

  return g_ptr_array_index (self->runs, run);
}

gboolean
ats_document_has_head (AtsDocument *self, guint run, guint layer, guint head)
{
  const AtsCaptureRun *r;

  g_return_val_if_fail (ATS_IS_DOCUMENT (self), FALSE);

  if (run >= self->runs->len || layer >= ats_document_get_n_layers (self) ||
      head >= ats_document_get_n_heads (self))
    return FALSE;

  r = g_ptr_array_index (self->runs, run);
  if (!r->has_attention)
    return FALSE;
  if (r->stored_layers != NULL && !r->stored_layers[layer])
    return FALSE;
  if (r->stored_heads != NULL && !r->stored_heads[head])
    return FALSE;
  return TRUE;
}

/* --- head maps --- */

static void
cache_insert (AtsDocument *self, guint64 key, AtsMatrix *matrix)
{
  guint64 *k;

  if (g_hash_table_contains (self->head_cache, &key))
    return;

  k = g_new (guint64, 1);
  *k = key;
  g_hash_table_insert (self->head_cache, k, ats_matrix_ref (matrix));
  g_queue_push_head (&self->head_lru, k);
  self->cache_bytes += (gsize) matrix->n_rows * matrix->n_cols * sizeof (float);

  while (self->cache_bytes > HEAD_CACHE_BYTES && self->head_lru.length > 1)
    {
      guint64   *old = g_queue_pop_tail (&self->head_lru);
      AtsMatrix *m = g_hash_table_lookup (self->head_cache, old);

      self->cache_bytes -= (gsize) m->n_rows * m->n_cols * sizeof (float);
      g_hash_table_remove (self->head_cache, old);
    }
}

AtsMatrix *
ats_document_lookup_head (AtsDocument *self, guint run, guint layer, guint head)
{
  guint64    key = head_key (run, layer, head);
  AtsMatrix *m;
  GList     *link;

  g_return_val_if_fail (ATS_IS_DOCUMENT (self), NULL);

  m = g_hash_table_lookup (self->head_cache, &key);
  if (m == NULL)
    return NULL;

  for (link = self->head_lru.head; link != NULL; link = link->next)
    if (*(guint64 *) link->data == key)
      {
        g_queue_unlink (&self->head_lru, link);
        g_queue_push_head_link (&self->head_lru, link);
        break;
      }

  return ats_matrix_ref (m);
}

static gboolean
check_head (AtsDocument *self, const AtsDocumentJob *job, GError **error)
{
  if (!ats_document_has_head (self, job->run, job->layer, job->head))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u does not hold the map of layer %u, head %u", self->path, job->run,
                   job->layer, job->head);
      return FALSE;
    }
  return TRUE;
}

static AtsMatrix *
read_head (AtsDocument *self, guint run, guint layer, guint head, GError **error)
{
  const AtsCaptureRun *r = g_ptr_array_index (self->runs, run);
  guint                T = r->n_tokens;
  g_autofree float    *data = g_try_new (float, (gsize) T *T); /* [T, T] */

  if (data == NULL)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: not enough memory for a %u x %u map", self->path, T, T);
      return NULL;
    }

  if (!ats_capture_file_read_head (self->file, run, layer, head, data, error))
    return NULL;

  return ats_matrix_new_take (T, T, g_steal_pointer (&data));
}

static void
load_head_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  AtsDocument    *self = source_object;
  AtsDocumentJob *job = task_data;
  GError         *error = NULL;
  AtsMatrix      *m;

  if (!check_head (self, job, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  m = read_head (self, job->run, job->layer, job->head, &error);
  if (m == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, m, (GDestroyNotify) ats_matrix_unref);
}

void
ats_document_load_head_async (AtsDocument        *self,
                              guint               run,
                              guint               layer,
                              guint               head,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  AtsDocumentJob *job;
  AtsMatrix      *cached;

  g_return_if_fail (ATS_IS_DOCUMENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_document_load_head_async);

  cached = ats_document_lookup_head (self, run, layer, head);
  if (cached != NULL)
    {
      g_task_return_pointer (task, cached, (GDestroyNotify) ats_matrix_unref);
      return;
    }

  job = g_new0 (AtsDocumentJob, 1);
  job->run = run;
  job->layer = layer;
  job->head = head;
  g_task_set_task_data (task, job, g_free);
  _ats_io_run_task (task, ATS_IO_PRIORITY_HEAD, load_head_thread);
}

AtsMatrix *
ats_document_load_head_finish (AtsDocument *self, GAsyncResult *result, GError **error)
{
  AtsDocumentJob *job;
  AtsMatrix      *m;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  m = g_task_propagate_pointer (G_TASK (result), error);
  job = g_task_get_task_data (G_TASK (result));
  if (m != NULL && job != NULL)
    cache_insert (self, head_key (job->run, job->layer, job->head), m);

  return m;
}

/* --- metrics --- */

static AtsDiagResults *
compute_metrics (AtsDocument          *self,
                 const AtsDocumentJob *job,
                 GCancellable         *cancellable,
                 GError              **error)
{
  const AtsCaptureRun *r = g_ptr_array_index (self->runs, job->run);
  guint                L = ats_document_get_n_layers (self);
  guint                H = ats_document_get_n_heads (self);
  guint                T = r->n_tokens;
  g_autoptr (AtsDiagnostics) diag = NULL;
  g_autofree float *map = NULL;
  AtsDiagParams     params;

  if (!r->has_attention)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has neither stored metrics nor attention maps to compute them from",
                   self->path, job->run);
      return NULL;
    }

  if (job->has_params)
    params = job->params;
  else
    ats_diag_params_init_default (&params);

  diag = ats_diagnostics_new (L, H, T, &params);
  map = g_try_new (float, (gsize) T *T); /* [T, T] */
  if (map == NULL)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: not enough memory for a %u x %u map", self->path, T, T);
      return NULL;
    }

  /* one read per head: pass 0 over the whole map, then pass 1 (sink-set metrics) */
  for (guint l = 0; l < L; l++)
    for (guint h = 0; h < H; h++)
      {
        if (g_cancellable_set_error_if_cancelled (cancellable, error))
          return NULL;
        if (!ats_document_has_head (self, job->run, l, h))
          {
            g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                         "%s: run %u stores only some heads; diagnostics need every map",
                         self->path, job->run);
            return NULL;
          }
        if (!ats_capture_file_read_head (self->file, job->run, l, h, map, error))
          return NULL;

        for (guint pass = 0; pass < 2; pass++)
          {
            AtsAttentionBlock block = { 0 };

            block.layer = l;
            block.head = h;
            block.pass = pass;
            block.n_tokens = T;
            block.row_start = 0;
            block.n_rows = T;
            block.probs = map;
            if (!ats_diagnostics_add_block (diag, &block, error))
              return NULL;
          }
      }

  return ats_diagnostics_finish (diag, error);
}

/* Hidden-state metrics ([L+1] and [L+1, T]) cannot be recomputed from the maps: keep the
 * stored values. */
static void
keep_stored_layer_metrics (AtsDiagResults *computed, const AtsDiagResults *stored)
{
  const AtsDiagMetricInfo *metrics;
  guint                    n_metrics = 0;

  if (stored == NULL || stored->n_layers != computed->n_layers ||
      stored->n_tokens != computed->n_tokens)
    return;

  metrics = ats_diag_metrics_list (&n_metrics);
  for (guint i = 0; i < n_metrics; i++)
    {
      gsize         n_src = 0, n_dst = 0;
      gconstpointer src, dst;
      gsize         elem = metrics[i].is_int ? sizeof (gint32) : sizeof (float);

      if (metrics[i].shape != ATS_DIAG_SHAPE_HIDDEN_LAYER &&
          metrics[i].shape != ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN)
        continue;

      src = ats_diag_results_get_metric (stored, metrics[i].name, &n_src);
      dst = ats_diag_results_get_metric (computed, metrics[i].name, &n_dst);
      if (src != NULL && dst != NULL && n_src == n_dst)
        memcpy ((gpointer) dst, src, n_dst * elem);
    }
}

/* Runs @func on the I/O thread for @job (owned by the task); the _finish functions of these
 * jobs all return the task's pointer through finish_job(). */
static void
start_job (AtsDocument        *self,
           AtsDocumentJob     *job,
           gpointer            source_tag,
           int                 priority,
           GTaskThreadFunc     func,
           GCancellable       *cancellable,
           GAsyncReadyCallback callback,
           gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, job, g_free);
  _ats_io_run_task (task, priority, func);
}

static gpointer
finish_job (AtsDocument *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
load_metrics_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  AtsDocument    *self = source_object;
  AtsDocumentJob *job = task_data;
  g_autoptr (AtsDiagResults) stored = NULL;
  g_autoptr (GError) stored_error = NULL;
  GError         *error = NULL;
  AtsDiagResults *computed;

  stored = ats_capture_file_read_run_metrics (self->file, job->run, &stored_error);
  if (stored == NULL &&
      !g_error_matches (stored_error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING))
    {
      g_task_return_error (task, g_steal_pointer (&stored_error));
      return;
    }

  if (stored != NULL && !job->has_params)
    {
      g_task_return_pointer (task, g_steal_pointer (&stored),
                             (GDestroyNotify) ats_diag_results_free);
      return;
    }

  computed = compute_metrics (self, job, cancellable, &error);
  if (computed == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  keep_stored_layer_metrics (computed, stored);
  g_task_return_pointer (task, computed, (GDestroyNotify) ats_diag_results_free);
}

void
ats_document_load_metrics_async (AtsDocument         *self,
                                 guint                run,
                                 const AtsDiagParams *params,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  AtsDocumentJob *job;

  g_return_if_fail (ATS_IS_DOCUMENT (self));
  g_return_if_fail (run < self->runs->len);

  job = g_new0 (AtsDocumentJob, 1);
  job->run = run;
  if (params != NULL)
    {
      job->has_params = TRUE;
      job->params = *params;
    }

  start_job (self, job, ats_document_load_metrics_async, ATS_IO_PRIORITY_METRICS,
             load_metrics_thread, cancellable, callback, user_data);
}

AtsDiagResults *
ats_document_load_metrics_finish (AtsDocument *self, GAsyncResult *result, GError **error)
{
  return finish_job (self, result, error);
}

/* --- thumbnails --- */

/* Thumbnails of maps larger than this are read in blocks of THUMB_BLOCK_ROWS query rows (one
 * chunk row of the core's [128, 128] chunks) and pooled as they arrive, so a thumbnail never
 * holds a whole [T, T] head in memory. */
#define THUMB_BLOCK_MIN_TOKENS 1024
#define THUMB_BLOCK_ROWS 128

/* block index of every input index, n -> out (as ats_matrix_new_max_pooled) */
static void
pool_index_map (guint n, guint out, guint *map /* [n] */)
{
  for (guint p = 0; p < out; p++)
    {
      guint i0 = (guint) ((guint64) p * n / out);
      guint i1 = MAX (i0 + 1, (guint) ((guint64) (p + 1) * n / out));

      for (guint i = i0; i < i1 && i < n; i++)
        map[i] = p;
    }
}

static AtsMatrix *
read_thumbnail_blocked (AtsDocument  *self,
                        guint         run,
                        guint         layer,
                        guint         head,
                        guint         max_size,
                        GCancellable *cancellable,
                        GError      **error)
{
  const AtsCaptureRun *r = g_ptr_array_index (self->runs, run);
  guint                T = r->n_tokens;
  guint                size = MIN (T, max_size);
  g_autofree guint    *map = g_new (guint, T);                                 /* [T] */
  g_autofree float    *block = g_try_new (float, (gsize) THUMB_BLOCK_ROWS *T); /* [B, T] */
  float               *out = g_new (float, (gsize) size *size);                /* [size, size] */

  if (block == NULL)
    {
      g_free (out);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: not enough memory to read rows of a %u x %u map", self->path, T, T);
      return NULL;
    }

  pool_index_map (T, size, map);
  for (gsize k = 0; k < (gsize) size * size; k++)
    out[k] = -INFINITY;

  for (guint row0 = 0; row0 < T; row0 += THUMB_BLOCK_ROWS)
    {
      guint n_rows = MIN (THUMB_BLOCK_ROWS, T - row0);

      if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
          !ats_capture_file_read_rows (self->file, run, layer, head, row0, n_rows, block, error))
        {
          g_free (out);
          return NULL;
        }
      for (guint i = 0; i < n_rows; i++)
        {
          const float *src = block + (gsize) i * T;              /* [T] */
          float       *dst = out + (gsize) map[row0 + i] * size; /* [size] */

          for (guint j = 0; j < T; j++)
            if (src[j] > dst[map[j]])
              dst[map[j]] = src[j];
        }
    }

  return ats_matrix_new_take (size, size, out);
}

static AtsMatrix *
read_thumbnail (AtsDocument  *self,
                guint         run,
                guint         layer,
                guint         head,
                guint         max_size,
                GCancellable *cancellable,
                GError      **error)
{
  const AtsCaptureRun *r = g_ptr_array_index (self->runs, run);
  g_autoptr (AtsMatrix) full = NULL;

  if (r->n_tokens > THUMB_BLOCK_MIN_TOKENS && r->n_tokens > max_size)
    {
      /* the capture's stored max-pooled preview, when it has one, spares reading the head */
      float *pv = g_new (float, ATS_CAPTURE_PREVIEW_SIZE *ATS_CAPTURE_PREVIEW_SIZE);
      guint  P = 0;
      if (ats_capture_file_read_preview (self->file, run, layer, head, pv, &P, NULL) &&
          P >= MIN (max_size, r->n_tokens))
        {
          g_autoptr (AtsMatrix) preview = ats_matrix_new_take (P, P, pv);
          if (P <= max_size)
            return g_steal_pointer (&preview);
          return ats_matrix_new_max_pooled (preview, max_size);
        }
      g_free (pv);
      return read_thumbnail_blocked (self, run, layer, head, max_size, cancellable, error);
    }

  full = read_head (self, run, layer, head, error);
  if (full == NULL)
    return NULL;
  if (full->n_rows <= max_size && full->n_cols <= max_size)
    return g_steal_pointer (&full);
  return ats_matrix_new_max_pooled (full, max_size);
}

/* Heads of layers [layer0, layer1), max-pooled, appended to @out. */
static gboolean
read_pooled_heads (AtsDocument  *self,
                   guint         run,
                   guint         layer0,
                   guint         layer1,
                   guint         max_size,
                   GPtrArray    *out,
                   GCancellable *cancellable,
                   GError      **error)
{
  guint H = ats_document_get_n_heads (self);

  for (guint l = layer0; l < layer1; l++)
    for (guint h = 0; h < H; h++)
      {
        AtsMatrix *m;

        if (g_cancellable_set_error_if_cancelled (cancellable, error))
          return FALSE;

        if (!ats_document_has_head (self, run, l, h))
          {
            g_ptr_array_add (out, NULL);
            continue;
          }

        m = read_thumbnail (self, run, l, h, max_size, cancellable, error);
        if (m == NULL)
          return FALSE;
        g_ptr_array_add (out, m);
      }

  return TRUE;
}

static void
load_thumbnail_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  AtsDocument    *self = source_object;
  AtsDocumentJob *job = task_data;
  GError         *error = NULL;
  AtsMatrix      *m;

  if (!check_head (self, job, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  m = read_thumbnail (self, job->run, job->layer, job->head, job->max_size, cancellable, &error);
  if (m == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, m, (GDestroyNotify) ats_matrix_unref);
}

static void
load_maps_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  AtsDocument    *self = source_object;
  AtsDocumentJob *job = task_data;
  g_autoptr (GPtrArray) maps = NULL;
  GError *error = NULL;

  maps = g_ptr_array_new_with_free_func (ats_matrix_unref0);
  if (!read_pooled_heads (self, job->run, 0, ats_document_get_n_layers (self), job->max_size, maps,
                          cancellable, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_pointer (task, g_steal_pointer (&maps), (GDestroyNotify) g_ptr_array_unref);
}

void
ats_document_load_maps_async (AtsDocument        *self,
                              guint               run,
                              guint               max_size,
                              GCancellable       *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer            user_data)
{
  AtsDocumentJob *job;

  g_return_if_fail (ATS_IS_DOCUMENT (self));
  g_return_if_fail (max_size > 0);

  job = g_new0 (AtsDocumentJob, 1);
  job->run = run;
  job->max_size = max_size;

  start_job (self, job, ats_document_load_maps_async, ATS_IO_PRIORITY_METRICS, load_maps_thread,
             cancellable, callback, user_data);
}

GPtrArray *
ats_document_load_maps_finish (AtsDocument *self, GAsyncResult *result, GError **error)
{
  return finish_job (self, result, error);
}

void
ats_document_load_thumbnail_async (AtsDocument        *self,
                                   guint               run,
                                   guint               layer,
                                   guint               head,
                                   guint               max_size,
                                   GCancellable       *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer            user_data)
{
  AtsDocumentJob *job;

  g_return_if_fail (ATS_IS_DOCUMENT (self));
  g_return_if_fail (max_size > 0);

  job = g_new0 (AtsDocumentJob, 1);
  job->run = run;
  job->layer = layer;
  job->head = head;
  job->max_size = max_size;

  start_job (self, job, ats_document_load_thumbnail_async, ATS_IO_PRIORITY_THUMBNAILS,
             load_thumbnail_thread, cancellable, callback, user_data);
}

AtsMatrix *
ats_document_load_thumbnail_finish (AtsDocument *self, GAsyncResult *result, GError **error)
{
  return finish_job (self, result, error);
}

/* --- Lazy Attention parameters --- */

static void
load_lazy_tau_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  AtsDocument    *self = source_object;
  AtsDocumentJob *job = task_data;
  GError         *error = NULL;
  float          *tau = NULL;
  float          *bias = NULL;
  guint           window = 0;

  if (!ats_capture_file_read_run_lazy (self->file, job->run, &tau, &bias, &window, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_free (bias);
  g_task_return_pointer (task, tau, g_free);
}

void
ats_document_load_lazy_tau_async (AtsDocument        *self,
                                  guint               run,
                                  GCancellable       *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer            user_data)
{
  AtsDocumentJob *job;

  g_return_if_fail (ATS_IS_DOCUMENT (self));
  g_return_if_fail (run < self->runs->len);

  job = g_new0 (AtsDocumentJob, 1);
  job->run = run;

  start_job (self, job, ats_document_load_lazy_tau_async, ATS_IO_PRIORITY_METRICS,
             load_lazy_tau_thread, cancellable, callback, user_data);
}

float *
ats_document_load_lazy_tau_finish (AtsDocument *self, GAsyncResult *result, GError **error)
{
  return finish_job (self, result, error);
}

/* --- hidden norms --- */

static void
load_hidden_norms_thread (GTask        *task,
                          gpointer      source_object,
                          gpointer      task_data,
                          GCancellable *cancellable)
{
  AtsDocument         *self = source_object;
  AtsDocumentJob      *job = task_data;
  const AtsCaptureRun *r = g_ptr_array_index (self->runs, job->run);
  GError              *error = NULL;
  float               *norms;

  norms = ats_capture_file_read_hidden_norms (self->file, job->run, &error); /* [L+1, T] */
  if (norms == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (
        task, ats_matrix_new_take (ats_document_get_n_layers (self) + 1, r->n_tokens, norms),
        (GDestroyNotify) ats_matrix_unref);
}

void
ats_document_load_hidden_norms_async (AtsDocument        *self,
                                      guint               run,
                                      GCancellable       *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data)
{
  AtsDocumentJob *job;

  g_return_if_fail (ATS_IS_DOCUMENT (self));
  g_return_if_fail (run < self->runs->len);

  job = g_new0 (AtsDocumentJob, 1);
  job->run = run;

  start_job (self, job, ats_document_load_hidden_norms_async, ATS_IO_PRIORITY_METRICS,
             load_hidden_norms_thread, cancellable, callback, user_data);
}

AtsMatrix *
ats_document_load_hidden_norms_finish (AtsDocument *self, GAsyncResult *result, GError **error)
{
  return finish_job (self, result, error);
}
