/* ats-capture.c — the HDF5 capture file (REFERENCE §4)
 *
 * Attention maps are written chunk by chunk with H5Dwrite_chunk: chunks of [1, 1, C, C] are
 * byte-shuffled and deflated by a small pool of worker threads (the same filter pipeline HDF5
 * declares on the dataset, so h5py and h5dump read them with stock filters), and chunks that lie
 * entirely above the causal diagonal are never written: they are the dataset's fill value 0 and
 * take no space. Every HDF5 call is made under one lock, so HDF5 is used by one thread at a time.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <libdeflate.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-safetensors.h"
#include "ats-h5-private.h"
#include "ats-kernels-private.h"

#define CHUNK_MAX 128
#define MAX_IN_FLIGHT 64

typedef struct
{
  hid_t   dset;
  hsize_t offset[4];
  guint8 *raw; /* [C, C] elements, shuffled+deflated by the worker */
  gsize   n_bytes;
  guint   elem;
} ChunkJob;

/* Staging of one stream of [L, H, T, T] maps (attention or scores). */
typedef struct
{
  hid_t    dset;
  guint    elem; /* 2 (f16) or 4 (f32) */
  gboolean is_f16;
  guint8  *stage;     /* [H, C, T] elements: the current chunk row of every head */
  guint   *filled;    /* [H] rows staged in the current chunk row */
  guint   *chunk_row; /* [H] index of the chunk row being staged */
  guint   *cur_layer; /* [H] layer being staged for each head */
} MapStream;

struct _AtsCaptureFile
{
  char               *path;       /* the target */
  char               *write_path; /* where we write (== path, or a temporary beside it) */
  gboolean            writable;
  hid_t               file;
  AtsCaptureModelInfo info;
  AtsModel           *model;

  /* writing state of the open run */
  gboolean          run_open;
  guint             run_index;
  hid_t             run_group;
  guint             T;
  guint             C; /* chunk edge */
  AtsCaptureOptions opts;
  gboolean         *layers; /* [L] */
  gboolean         *heads;  /* [H] */
  MapStream         attn;
  MapStream         scores;
  float            *hidden_norms; /* [L+1, T] */
  float            *preview;      /* [L, H, P, P] max-pooled maps, P = preview_size */
  guint             preview_size;
  guint            *preview_bin;  /* [T] bin of each row / key index */
  guint            *preview_edge; /* [P+1] first index of each bin */
  float            *logits;       /* [T, V] (borrowed in end callback, written there) */
  AtsObserver       observer;

  /* chunk writer pool */
  GThreadPool *pool;
  GMutex       h5_lock;
  GMutex       flight_lock;
  GCond        flight_cond;
  guint        in_flight;
  char        *pool_error; /* first failure, under flight_lock */
};

static GOnce h5_once = G_ONCE_INIT;

static gpointer
h5_init (gpointer data)
{
  /* No library shutdown at exit: after a failed close (disk full) HDF5's atexit handler would
   * retry on a broken file and crash; every file we open is closed explicitly. */
  H5dont_atexit ();
  return NULL;
}

/* HDF5's automatic error printing is per thread in the thread-safe build: turn it off on every
 * thread that calls HDF5 (our errors carry their own messages). */
static void
h5_quiet (void)
{
  static GPrivate quiet_key;
  g_once (&h5_once, h5_init, NULL);
  if (g_private_get (&quiet_key) == NULL)
    {
      H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
      g_private_set (&quiet_key, GINT_TO_POINTER (1));
    }
}

/* --- small HDF5 helpers -------------------------------------------------------------------- */

static hid_t
f16_type (void)
{
  /* IEEE half: sign 15, exponent 10..14 (bias 15), mantissa 0..9 — h5py reads it as float16 */
  hid_t t = H5Tcopy (H5T_IEEE_F32LE);
  H5Tset_fields (t, 15, 10, 5, 0, 10);
  H5Tset_size (t, 2);
  H5Tset_ebias (t, 15);
  return t;
}

static gboolean
attr_int (hid_t obj, const char *name, gint64 v)
{
  return _ats_h5_attr_write (obj, name, H5T_NATIVE_INT64, &v);
}

static gboolean
attr_double (hid_t obj, const char *name, double v)
{
  return _ats_h5_attr_write (obj, name, H5T_NATIVE_DOUBLE, &v);
}

static gboolean
attr_int_array (hid_t obj, const char *name, const gint32 *v, guint n)
{
  hsize_t dims[1] = { n };
  hid_t   s = n > 0 ? H5Screate_simple (1, dims, NULL) : H5Screate (H5S_NULL);
  hid_t   a = H5Acreate2 (obj, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t  r = a < 0 ? -1 : (n > 0 ? H5Awrite (a, H5T_NATIVE_INT32, v) : 0);
  if (a >= 0)
    H5Aclose (a);
  H5Sclose (s);
  return r >= 0;
}

static gboolean
attr_read_int (hid_t obj, const char *name, gint64 *out)
{
  if (H5Aexists (obj, name) <= 0)
    return FALSE;
  hid_t a = H5Aopen (obj, name, H5P_DEFAULT);
  if (a < 0)
    return FALSE;
  hid_t    ft = H5Aget_type (a);
  gboolean ok = H5Tget_class (ft) == H5T_INTEGER && H5Aread (a, H5T_NATIVE_INT64, out) >= 0;
  H5Tclose (ft);
  H5Aclose (a);
  return ok;
}

/* Plain (contiguous or deflated-chunked) dataset written in one go. */

static void
set_io_error (GError **error, AtsCaptureFile *self, const char *what)
{
  g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
               "%s: cannot write %s (disk full or file not writable?)", self->path, what);
}

/* --- chunk writer pool --------------------------------------------------------------------- */

typedef struct
{
  int                           level;
  struct libdeflate_compressor *compressor;
} ThreadCompressor;

static void
thread_compressor_free (gpointer data)
{
  ThreadCompressor *tc = data;
  libdeflate_free_compressor (tc->compressor);
  g_free (tc);
}

/* libdeflate compressors are not thread-safe: one per worker thread and level */
static struct libdeflate_compressor *
thread_compressor (int level)
{
  static GPrivate   key = G_PRIVATE_INIT (thread_compressor_free);
  ThreadCompressor *tc = g_private_get (&key);
  if (tc == NULL || tc->level != level)
    {
      tc = g_new (ThreadCompressor, 1);
      tc->level = level;
      tc->compressor = libdeflate_alloc_compressor (level);
      g_private_replace (&key, tc);
    }
  return tc->compressor;
}

static void
chunk_job_run (gpointer data, gpointer user_data)
{
  ChunkJob       *job = data;
  AtsCaptureFile *self = user_data;
  gsize           n = job->n_bytes, n_elem = n / job->elem;

  /* shuffle: byte k of every element together */
  g_autofree guint8 *shuf = g_malloc (n);
  for (guint b = 0; b < job->elem; b++)
    {
      guint8       *dst = shuf + b * n_elem;
      const guint8 *src = job->raw + b;
      for (gsize i = 0; i < n_elem; i++)
        dst[i] = src[i * job->elem];
    }
  /* zlib-format deflate through libdeflate (2-3x faster than zlib at the same level); HDF5's
   * standard deflate filter reads it */
  struct libdeflate_compressor *zc = thread_compressor (self->opts.compression);
  gsize                         cap = libdeflate_zlib_compress_bound (zc, n);
  g_autofree guint8            *z = g_malloc (cap);
  gsize                         zlen = libdeflate_zlib_compress (zc, shuf, n, z, cap);

  gboolean zok = zlen > 0, ok = zok;
  if (ok)
    {
      h5_quiet ();
      g_mutex_lock (&self->h5_lock);
      ok = H5Dwrite_chunk (job->dset, H5P_DEFAULT, 0, job->offset, zlen, z) >= 0;
      g_mutex_unlock (&self->h5_lock);
    }
  g_free (job->raw);
  g_free (job);

  g_mutex_lock (&self->flight_lock);
  if (!ok && self->pool_error == NULL)
    self->pool_error = g_strdup (zok ? "attention chunk" : "attention chunk (deflate)");
  self->in_flight--;
  g_cond_broadcast (&self->flight_cond);
  g_mutex_unlock (&self->flight_lock);
}

static void
pool_push (AtsCaptureFile *self, ChunkJob *job)
{
  g_mutex_lock (&self->flight_lock);
  while (self->in_flight >= MAX_IN_FLIGHT)
    g_cond_wait (&self->flight_cond, &self->flight_lock);
  self->in_flight++;
  g_mutex_unlock (&self->flight_lock);
  g_thread_pool_push (self->pool, job, NULL);
}

static gboolean
pool_drain (AtsCaptureFile *self, GError **error)
{
  g_mutex_lock (&self->flight_lock);
  while (self->in_flight > 0)
    g_cond_wait (&self->flight_cond, &self->flight_lock);
  g_autofree char *err = g_steal_pointer (&self->pool_error);
  g_mutex_unlock (&self->flight_lock);
  if (err != NULL)
    {
      set_io_error (error, self, err);
      return FALSE;
    }
  return TRUE;
}

/* --- model info ---------------------------------------------------------------------------- */

static void
model_info_clear (AtsCaptureModelInfo *info)
{
  g_clear_pointer (&info->architecture, g_free);
  g_clear_pointer (&info->source, g_free);
  g_clear_pointer (&info->config_json, g_free);
}

const AtsCaptureModelInfo *
ats_capture_file_get_model_info (AtsCaptureFile *self)
{
  return &self->info;
}

const char *
ats_capture_file_get_path (AtsCaptureFile *self)
{
  return self->path;
}

void
ats_capture_options_init_default (AtsCaptureOptions *options)
{
  memset (options, 0, sizeof *options);
  options->dtype = ATS_STORE_F16;
  options->store_maps = TRUE;
  options->compression = 1;
}

void
ats_capture_run_free (AtsCaptureRun *run)
{
  if (run == NULL)
    return;
  g_free (run->name);
  g_free (run->prompt);
  g_free (run->ids);
  g_strfreev (run->pieces);
  g_free (run->stored_layers);
  g_free (run->stored_heads);
  g_free (run);
}

/* --- create / open / close ----------------------------------------------------------------- */

static AtsCaptureFile *
capture_new (const char *path)
{
  AtsCaptureFile *self = g_new0 (AtsCaptureFile, 1);
  self->path = g_strdup (path);
  self->file = -1;
  self->run_group = -1;
  g_mutex_init (&self->h5_lock);
  g_mutex_init (&self->flight_lock);
  g_cond_init (&self->flight_cond);
  return self;
}

static void
capture_free (AtsCaptureFile *self)
{
  if (self->pool)
    g_thread_pool_free (self->pool, FALSE, TRUE);
  if (self->file >= 0)
    H5Fclose (self->file);
  model_info_clear (&self->info);
  if (self->model)
    ats_model_unref (self->model);
  g_free (self->path);
  g_free (self->write_path);
  g_free (self->hidden_norms);
  g_free (self->preview);
  g_free (self->preview_bin);
  g_free (self->preview_edge);
  g_mutex_clear (&self->h5_lock);
  g_mutex_clear (&self->flight_lock);
  g_cond_clear (&self->flight_cond);
  g_free (self);
}

static gboolean observer_begin (AtsObserver *, AtsModel *, const gint32 *, guint, GError **);
static gboolean observer_attention (AtsObserver *, const AtsAttentionBlock *, GError **);
static gboolean observer_residual (AtsObserver *, guint, guint, guint, const float *, GError **);
static gboolean observer_end (AtsObserver *, const float *, GError **);

/* Explains why @path cannot be created, naming it. */
static void
set_create_error (GError **error, const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int              saved = 0;
  const char      *why;
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    why = "its folder does not exist";
  else if (g_access (dir, W_OK) != 0)
    {
      saved = errno;
      why = saved == EROFS ? "the file system is read-only" : "its folder is not writable";
    }
  else
    why = "HDF5 could not create it";
  g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
               "%s: cannot create the capture "
               "file: %s",
               path, why);
}

AtsCaptureFile *
ats_capture_file_create (const char *path, AtsModel *model, gboolean force, GError **error)
{
  g_return_val_if_fail (path != NULL && model != NULL, NULL);
  h5_quiet ();

  gboolean exists = g_file_test (path, G_FILE_TEST_EXISTS);
  if (exists && !force)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_EXISTS,
                   "%s: file exists; not overwriting it (use --force to replace it)", path);
      return NULL;
    }
  if (exists && g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO, "%s: is a folder", path);
      return NULL;
    }

  AtsCaptureFile *self = capture_new (path);
  self->writable = TRUE;
  self->model = ats_model_ref (model);
  /* A forced overwrite is written beside the target and renamed over it on close. */
  self->write_path =
      exists ? g_strdup_printf ("%s.tmp-%d", path, (int) getpid ()) : g_strdup (path);
  self->file = H5Fcreate (self->write_path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (self->file < 0)
    {
      set_create_error (error, self->write_path);
      capture_free (self);
      return NULL;
    }

  const AtsModelConfig *c = ats_model_get_config (model);
  self->info.architecture = g_strdup (ats_arch_to_string (c->arch));
  self->info.n_layers = c->n_layers;
  self->info.n_heads = c->n_heads;
  self->info.n_kv_heads = c->n_kv_heads;
  self->info.d_model = c->d_model;
  self->info.head_dim = c->head_dim;
  self->info.vocab_size = c->vocab_size;
  self->info.attention = c->attention;
  self->info.source = g_canonicalize_filename (ats_model_get_dir (model), NULL);
  self->info.config_json = g_strdup (ats_model_get_config_json (model));

  g_autofree char *producer = g_strdup_printf ("attnscope %s", ATS_VERSION);
  hid_t            root = self->file;
  gboolean         ok = _ats_h5_attr_string (root, "format", ATS_CAPTURE_FORMAT) &&
                attr_int (root, "format_version", ATS_CAPTURE_FORMAT_VERSION) &&
                _ats_h5_attr_string (root, "producer", producer);
  hid_t g = ok ? H5Gcreate2 (root, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  ok = g >= 0 && _ats_h5_attr_string (g, "architecture", self->info.architecture) &&
       _ats_h5_attr_string (g, "model_type", c->model_type) &&
       attr_int (g, "n_layers", c->n_layers) && attr_int (g, "n_heads", c->n_heads) &&
       attr_int (g, "n_kv_heads", c->n_kv_heads) && attr_int (g, "d_model", c->d_model) &&
       attr_int (g, "head_dim", c->head_dim) && attr_int (g, "vocab_size", c->vocab_size) &&
       _ats_h5_attr_string (g, "attention", ats_attention_kind_to_string (c->attention)) &&
       _ats_h5_attr_string (g, "source", self->info.source) &&
       _ats_h5_attr_string (g, "config_json", self->info.config_json);
  if (g >= 0)
    H5Gclose (g);
  g = ok ? H5Gcreate2 (root, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  ok = g >= 0;
  if (g >= 0)
    H5Gclose (g);
  if (!ok || H5Fflush (self->file, H5F_SCOPE_GLOBAL) < 0)
    {
      set_io_error (error, self, "the file header");
      ats_capture_file_abandon (self);
      return NULL;
    }

  self->pool =
      g_thread_pool_new (chunk_job_run, self, MAX (1, (int) g_get_num_processors ()), FALSE, NULL);
  self->observer.begin = observer_begin;
  self->observer.attention = observer_attention;
  self->observer.residual = observer_residual;
  self->observer.end = observer_end;
  self->observer.concurrent_heads = TRUE;
  self->observer.user_data = self;
  return self;
}

AtsCaptureFile *
ats_capture_file_open (const char *path, gboolean writable, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  h5_quiet ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO, "%s: no such file", path);
      return NULL;
    }
  if (H5Fis_hdf5 (path) <= 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: not an HDF5 file (expected an attnscope capture)", path);
      return NULL;
    }
  AtsCaptureFile *self = capture_new (path);
  self->writable = writable;
  self->write_path = g_strdup (path);
  self->file = H5Fopen (path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (self->file < 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO, "%s: cannot open%s", path,
                   writable ? " for writing" : "");
      capture_free (self);
      return NULL;
    }
  g_autofree char *format = _ats_h5_attr_read_string (self->file, "format");
  gint64           version = 0;
  if (g_strcmp0 (format, ATS_CAPTURE_FORMAT) != 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: not an attnscope capture (root attribute format is %s%s%s)", path,
                   format ? "\"" : "", format ? format : "missing", format ? "\"" : "");
      capture_free (self);
      return NULL;
    }
  if (!attr_read_int (self->file, "format_version", &version) ||
      version != ATS_CAPTURE_FORMAT_VERSION)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: capture format_version %" G_GINT64_FORMAT " is not supported (this "
                   "attnscope reads version %d)",
                   path, version, ATS_CAPTURE_FORMAT_VERSION);
      capture_free (self);
      return NULL;
    }
  hid_t    g = H5Oexists_by_name (self->file, "model", H5P_DEFAULT) > 0
                   ? H5Gopen2 (self->file, "model", H5P_DEFAULT)
                   : -1;
  gint64   v;
  gboolean ok = g >= 0;
#define READ_U(field)                                                                              \
  ok = ok && attr_read_int (g, #field, &v) && v > 0 && v < G_MAXINT32;                             \
  if (ok)                                                                                          \
    self->info.field = v;
  READ_U (n_layers);
  READ_U (n_heads);
  READ_U (n_kv_heads);
  READ_U (d_model);
  READ_U (head_dim);
  READ_U (vocab_size);
#undef READ_U
  if (ok)
    {
      self->info.architecture = _ats_h5_attr_read_string (g, "architecture");
      self->info.source = _ats_h5_attr_read_string (g, "source");
      self->info.config_json = _ats_h5_attr_read_string (g, "config_json");
      g_autofree char *att = _ats_h5_attr_read_string (g, "attention");
      self->info.attention =
          g_strcmp0 (att, "elastic") == 0 ? ATS_ATTENTION_ELASTIC : ATS_ATTENTION_SOFTMAX;
    }
  if (g >= 0)
    H5Gclose (g);
  if (!ok || self->info.n_layers > 4096 || self->info.n_heads > 4096)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: the /model group is missing or lacks its size attributes", path);
      capture_free (self);
      return NULL;
    }
  if (writable)
    self->pool = g_thread_pool_new (chunk_job_run, self, 1, FALSE, NULL);
  return self;
}

void
ats_capture_file_abandon (AtsCaptureFile *self)
{
  if (self == NULL)
    return;
  if (self->run_open)
    ats_capture_file_end_run (self, FALSE, NULL);
  if (self->pool)
    {
      pool_drain (self, NULL);
      g_thread_pool_free (self->pool, FALSE, TRUE);
      self->pool = NULL;
    }
  if (self->file >= 0)
    H5Fclose (self->file);
  self->file = -1;
  if (self->write_path && g_strcmp0 (self->write_path, self->path) != 0)
    g_unlink (self->write_path);
  capture_free (self);
}

gboolean
ats_capture_file_close (AtsCaptureFile *self, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  gboolean ok = TRUE;
  if (self->run_open)
    ok = ats_capture_file_end_run (self, FALSE, error);
  if (self->pool)
    {
      ok = pool_drain (self, ok ? error : NULL) && ok;
      g_thread_pool_free (self->pool, FALSE, TRUE);
      self->pool = NULL;
    }
  if (self->file >= 0)
    {
      if (H5Fclose (self->file) < 0 && ok)
        {
          set_io_error (error, self, "the file on close");
          ok = FALSE;
        }
      self->file = -1;
    }
  if (self->writable && g_strcmp0 (self->write_path, self->path) != 0)
    {
      if (ok && g_rename (self->write_path, self->path) != 0)
        {
          int e = errno;
          g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                       "%s: cannot replace it with the new capture: %s", self->path,
                       g_strerror (e));
          ok = FALSE;
        }
      if (!ok)
        g_unlink (self->write_path);
    }
  capture_free (self);
  return ok;
}

/* --- writing a run ------------------------------------------------------------------------- */

static gboolean
map_stream_open (AtsCaptureFile *self,
                 MapStream      *ms,
                 const char     *name,
                 gboolean        f16,
                 gboolean        is_scores)
{
  guint   L = self->info.n_layers, H = self->info.n_heads, T = self->T, C = self->C;
  hsize_t dims[4] = { L, H, T, T };
  hsize_t chunk[4] = { 1, 1, C, C };
  hid_t   s = H5Screate_simple (4, dims, NULL);
  hid_t   dcpl = H5Pcreate (H5P_DATASET_CREATE);
  H5Pset_chunk (dcpl, 4, chunk);
  H5Pset_shuffle (dcpl);
  H5Pset_deflate (dcpl, self->opts.compression);
  hid_t ft = f16 ? f16_type () : H5Tcopy (H5T_IEEE_F32LE);
  if (is_scores)
    {
      float fill = -INFINITY;
      H5Pset_fill_value (dcpl, H5T_NATIVE_FLOAT, &fill);
    }
  else
    {
      float fill = 0.0f;
      H5Pset_fill_value (dcpl, H5T_NATIVE_FLOAT, &fill);
    }
  ms->dset = H5Dcreate2 (self->run_group, name, ft, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Tclose (ft);
  H5Pclose (dcpl);
  H5Sclose (s);
  if (ms->dset < 0)
    return FALSE;
  H5DSset_label (ms->dset, 0, "layer");
  H5DSset_label (ms->dset, 1, "head");
  H5DSset_label (ms->dset, 2, "query");
  H5DSset_label (ms->dset, 3, "key");
  ms->elem = f16 ? 2 : 4;
  ms->is_f16 = f16;
  ms->stage = g_malloc0 ((gsize) H * C * T * ms->elem);
  ms->filled = g_new0 (guint, H);
  ms->chunk_row = g_new0 (guint, H);
  ms->cur_layer = g_new0 (guint, H);
  return TRUE;
}

static void
map_stream_close (MapStream *ms)
{
  if (ms->dset > 0)
    H5Dclose (ms->dset);
  g_clear_pointer (&ms->stage, g_free);
  g_clear_pointer (&ms->filled, g_free);
  g_clear_pointer (&ms->chunk_row, g_free);
  g_clear_pointer (&ms->cur_layer, g_free);
  memset (ms, 0, sizeof *ms);
}

/* Cuts the staged chunk row of head @hh into [C, C] chunks (only those that reach the lower
 * triangle) and queues them. */
static void
map_stream_flush_head (AtsCaptureFile *self, MapStream *ms, guint layer, guint hh)
{
  guint         C = self->C, T = self->T, cr = ms->chunk_row[hh];
  guint         rows = ms->filled[hh];
  guint         row0 = cr * C;
  const guint8 *stage = ms->stage + (gsize) hh * C * T * ms->elem;
  guint         last_col_chunk = (row0 + rows - 1) / C; /* keys up to the last row's diagonal */
  for (guint cc = 0; cc <= last_col_chunk; cc++)
    {
      ChunkJob *job = g_new0 (ChunkJob, 1);
      job->dset = ms->dset;
      job->offset[0] = layer;
      job->offset[1] = hh;
      job->offset[2] = row0;
      job->offset[3] = (hsize_t) cc * C;
      job->elem = ms->elem;
      job->n_bytes = (gsize) C * C * ms->elem;
      job->raw = g_malloc0 (job->n_bytes);
      guint col0 = cc * C, ncols = MIN (C, T - col0);
      for (guint r = 0; r < rows; r++)
        memcpy (job->raw + (gsize) r * C * ms->elem, stage + ((gsize) r * T + col0) * ms->elem,
                (gsize) ncols * ms->elem);
      if (rows < C || ncols < C)
        {
          /* edge chunk: pad with the fill value pattern */
          if (ms->elem == 4 && ms == &self->scores)
            {
              float ninf = -INFINITY;
              for (guint r = 0; r < C; r++)
                for (guint k = (r < rows ? ncols : 0); k < C; k++)
                  memcpy (job->raw + ((gsize) r * C + k) * 4, &ninf, 4);
            }
        }
      pool_push (self, job);
    }
  ms->filled[hh] = 0;
  ms->chunk_row[hh]++;
}

static void
map_stream_put (AtsCaptureFile *self, MapStream *ms, const AtsAttentionBlock *b, const float *rows)
{
  guint C = self->C, T = self->T, hh = b->head;
  /* only this head's staging state is touched: heads may arrive concurrently */
  if (b->layer != ms->cur_layer[hh])
    {
      ms->cur_layer[hh] = b->layer;
      ms->filled[hh] = 0;
      ms->chunk_row[hh] = 0;
    }
  for (guint r = 0; r < b->n_rows; r++)
    {
      guint        i = b->row_start + r;
      guint        local = i - ms->chunk_row[hh] * C;
      const float *src = rows + (gsize) r * T;
      guint8      *dst = ms->stage + ((gsize) hh * C + local) * T * ms->elem;
      if (ms->is_f16)
        _ats_f32_to_f16_row (src, (guint16 *) dst, T);
      else
        memcpy (dst, src, (gsize) T * sizeof (float));
      ms->filled[hh]++;
      if (ms->filled[hh] == C || i == T - 1)
        map_stream_flush_head (self, ms, b->layer, hh);
    }
}

gboolean
ats_capture_file_begin_run (AtsCaptureFile          *self,
                            const char              *prompt,
                            const gint32            *ids,
                            const char *const       *pieces,
                            guint                    T,
                            const AtsCaptureOptions *options,
                            GError                 **error)
{
  g_return_val_if_fail (self != NULL && self->writable && !self->run_open, FALSE);
  if (T == 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO, "%s: empty run (no tokens)",
                   self->path);
      return FALSE;
    }
  AtsCaptureOptions defaults;
  ats_capture_options_init_default (&defaults);
  self->opts = options ? *options : defaults;
  if (self->opts.compression > 9)
    self->opts.compression = 9;
  guint L = self->info.n_layers, H = self->info.n_heads;
  self->T = T;
  self->C = MIN (T, CHUNK_MAX);
  self->layers = g_new (gboolean, L);
  self->heads = g_new (gboolean, H);
  for (guint l = 0; l < L; l++)
    self->layers[l] = options && options->layers ? options->layers[l] : TRUE;
  for (guint h = 0; h < H; h++)
    self->heads[h] = options && options->heads ? options->heads[h] : TRUE;
  self->opts.layers = self->layers;
  self->opts.heads = self->heads;

  self->run_index = ats_capture_file_get_n_runs (self);
  g_autofree char *name = g_strdup_printf ("runs/%06u", self->run_index);
  hid_t            g = H5Gcreate2 (self->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  gboolean         ok = g >= 0;
  self->run_group = g;
  ok = ok && _ats_h5_attr_string (g, "prompt", prompt ? prompt : "") &&
       attr_int (g, "n_tokens", T) && attr_int (g, "complete", 0);
  hid_t tg = ok ? H5Gcreate2 (g, "tokens", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  ok = ok && tg >= 0;
  hsize_t dims[1] = { T };
  ok =
      ok && _ats_h5_write_dataset (tg, "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, ids, FALSE);
  if (ok)
    {
      g_autofree const char **text = g_new0 (const char *, T + 1);
      for (guint t = 0; t < T; t++)
        text[t] = pieces && pieces[t] ? pieces[t] : "";
      hid_t st = _ats_h5_vlen_str_type ();
      ok = _ats_h5_write_dataset (tg, "text", st, st, 1, dims, text, FALSE);
      H5Tclose (st);
    }
  if (tg >= 0)
    H5Gclose (tg);

  if (ok && self->opts.store_maps)
    {
      ok = map_stream_open (self, &self->attn, "attention", self->opts.dtype == ATS_STORE_F16,
                            FALSE);
      if (ok)
        {
          g_autofree gint32 *sl = g_new (gint32, L);
          g_autofree gint32 *sh = g_new (gint32, H);
          guint              nl = 0, nh = 0;
          for (guint l = 0; l < L; l++)
            if (self->layers[l])
              sl[nl++] = l;
          for (guint h = 0; h < H; h++)
            if (self->heads[h])
              sh[nh++] = h;
          ok = attr_int_array (self->attn.dset, "stored_layers", sl, nl) &&
               attr_int_array (self->attn.dset, "stored_heads", sh, nh);
        }
    }
  if (ok && self->opts.store_scores)
    ok = map_stream_open (self, &self->scores, "scores", FALSE, TRUE);
  if (!ok)
    {
      set_io_error (error, self, "a new run");
      map_stream_close (&self->attn);
      map_stream_close (&self->scores);
      if (g >= 0)
        H5Gclose (g);
      self->run_group = -1;
      g_clear_pointer (&self->layers, g_free);
      g_clear_pointer (&self->heads, g_free);
      return FALSE;
    }
  self->hidden_norms = g_new0 (float, (gsize) (L + 1) * T);
  if (self->opts.store_maps)
    {
      /* a max-pooled preview of every stored map: overviews of long captures need not read
       * (and decompress) whole heads; max pooling keeps sink columns visible */
      guint P = MIN (T, ATS_CAPTURE_PREVIEW_SIZE);
      self->preview_size = P;
      self->preview = g_new0 (float, (gsize) L *H *P *P);
      self->preview_bin = g_new (guint, T);
      for (guint i = 0; i < T; i++)
        self->preview_bin[i] = (guint) ((guint64) i * P / T);
      self->preview_edge = g_new (guint, P + 1);
      for (guint p = 0; p <= P; p++)
        self->preview_edge[p] = (guint) (((guint64) p * T + P - 1) / P);
    }
  self->observer.want_scores = self->opts.store_scores;
  self->run_open = TRUE;
  return TRUE;
}

AtsObserver *
ats_capture_file_get_observer (AtsCaptureFile *self)
{
  return &self->observer;
}

static gboolean
observer_begin (AtsObserver *obs, AtsModel *model, const gint32 *ids, guint T, GError **error)
{
  AtsCaptureFile *self = obs->user_data;
  if (!self->run_open || T != self->T)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: forward pass of %u tokens does not match the open run", self->path, T);
      return FALSE;
    }
  return TRUE;
}

static gboolean
observer_attention (AtsObserver *obs, const AtsAttentionBlock *b, GError **error)
{
  AtsCaptureFile *self = obs->user_data;
  if (b->pass != 0 || !self->layers[b->layer] || !self->heads[b->head])
    return TRUE;
  if (self->attn.stage != NULL)
    map_stream_put (self, &self->attn, b, b->probs);
  if (self->preview != NULL)
    {
      guint  T = self->T, P = self->preview_size;
      float *pv = self->preview + ((gsize) b->layer * self->info.n_heads + b->head) * P * P;
      for (guint r = 0; r < b->n_rows; r++)
        {
          guint        i = b->row_start + r;
          const float *row = b->probs + (gsize) r * T;
          float       *dst = pv + (gsize) self->preview_bin[i] * P;
          _ats_max_pool_row (row, i + 1, self->preview_edge, P, dst);
        }
    }
  if (self->scores.stage != NULL && b->scores != NULL)
    map_stream_put (self, &self->scores, b, b->scores);
  /* surface a writer failure (disk full) as soon as it happens */
  g_mutex_lock (&self->flight_lock);
  gboolean failed = self->pool_error != NULL;
  g_mutex_unlock (&self->flight_lock);
  if (failed)
    return pool_drain (self, error);
  return TRUE;
}

static gboolean
observer_residual (AtsObserver *obs, guint layer, guint T, guint D, const float *x, GError **error)
{
  AtsCaptureFile *self = obs->user_data;
  float          *out = self->hidden_norms + (gsize) layer * T;
  for (guint t = 0; t < T; t++)
    {
      double       ss = 0;
      const float *row = x + (gsize) t * D;
      for (guint d = 0; d < D; d++)
        ss += (double) row[d] * row[d];
      out[t] = (float) sqrt (ss);
    }
  return TRUE;
}

static gboolean
observer_end (AtsObserver *obs, const float *logits, GError **error)
{
  AtsCaptureFile *self = obs->user_data;
  if (logits == NULL || !self->opts.store_logits)
    return TRUE;
  if (!pool_drain (self, error))
    return FALSE;
  hsize_t dims[2] = { self->T, self->info.vocab_size };
  g_mutex_lock (&self->h5_lock);
  gboolean ok = _ats_h5_write_dataset (self->run_group, "logits", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                       2, dims, logits, TRUE);
  g_mutex_unlock (&self->h5_lock);
  if (!ok)
    set_io_error (error, self, "logits");
  return ok;
}

gboolean
ats_capture_file_end_run (AtsCaptureFile *self, gboolean complete, GError **error)
{
  g_return_val_if_fail (self != NULL && self->run_open, FALSE);
  g_autoptr (GError) local = NULL;
  gboolean ok = pool_drain (self, &local);
  if (ok)
    {
      hsize_t dims[2] = { self->info.n_layers + 1, self->T };
      ok = _ats_h5_write_dataset (self->run_group, "hidden_norms", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                  2, dims, self->hidden_norms, TRUE);
      if (!ok)
        set_io_error (&local, self, "hidden_norms");
    }
  if (ok && self->preview != NULL)
    {
      guint   P = self->preview_size;
      hsize_t pdims[4] = { self->info.n_layers, self->info.n_heads, P, P };
      ok = _ats_h5_write_dataset (self->run_group, "preview", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4,
                                  pdims, self->preview, TRUE);
      if (ok)
        {
          hid_t d = H5Dopen2 (self->run_group, "preview", H5P_DEFAULT);
          ok = d >= 0 && _ats_h5_attr_string (
                             d, "description",
                             "max-pooled attention maps for overviews: preview[l,h,p,q] is the "
                             "largest weight of query rows [p*T/P, (p+1)*T/P) on keys "
                             "[q*T/P, (q+1)*T/P)");
          if (d >= 0)
            H5Dclose (d);
        }
      if (!ok)
        set_io_error (&local, self, "preview");
    }
  g_clear_pointer (&self->preview, g_free);
  g_clear_pointer (&self->preview_bin, g_free);
  g_clear_pointer (&self->preview_edge, g_free);
  map_stream_close (&self->attn);
  map_stream_close (&self->scores);
  if (ok && complete)
    ok = attr_int (self->run_group, "complete", 1);
  H5Gclose (self->run_group);
  self->run_group = -1;
  if (H5Fflush (self->file, H5F_SCOPE_GLOBAL) < 0 && ok)
    {
      set_io_error (&local, self, "the run");
      ok = FALSE;
    }
  g_clear_pointer (&self->hidden_norms, g_free);
  g_clear_pointer (&self->layers, g_free);
  g_clear_pointer (&self->heads, g_free);
  self->run_open = FALSE;
  if (!ok && local != NULL)
    g_propagate_error (error, g_steal_pointer (&local));
  return ok;
}

/* --- metrics and lazy parameters ----------------------------------------------------------- */

static hid_t
open_run_group (AtsCaptureFile *self, guint run, GError **error)
{
  g_autofree char *name = g_strdup_printf ("runs/%06u", run);
  if (H5Lexists (self->file, "runs", H5P_DEFAULT) <= 0 ||
      H5Lexists (self->file, name, H5P_DEFAULT) <= 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING, "%s: no run %u", self->path,
                   run);
      return -1;
    }
  hid_t g = H5Gopen2 (self->file, name, H5P_DEFAULT);
  if (g < 0)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT, "%s: run %u is unreadable",
                 self->path, run);
  return g;
}

static guint
metric_dims (const AtsDiagMetricInfo *m, const AtsDiagResults *r, hsize_t *dims)
{
  switch (m->shape)
    {
    case ATS_DIAG_SHAPE_HIDDEN_LAYER:
      dims[0] = r->n_layers + 1;
      return 1;
    case ATS_DIAG_SHAPE_LAYER_HEAD:
      dims[0] = r->n_layers;
      dims[1] = r->n_heads;
      return 2;
    case ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN:
      dims[0] = r->n_layers;
      dims[1] = r->n_heads;
      dims[2] = r->n_tokens;
      return 3;
    case ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN:
    default:
      dims[0] = r->n_layers + 1;
      dims[1] = r->n_tokens;
      return 2;
    }
}

gboolean
ats_capture_file_write_run_metrics (AtsCaptureFile       *self,
                                    guint                 run,
                                    const AtsDiagResults *r,
                                    GError              **error)
{
  g_return_val_if_fail (self != NULL && r != NULL, FALSE);
  if (!self->writable)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO, "%s: opened read-only",
                   self->path);
      return FALSE;
    }
  gboolean own_group = !(self->run_open && run == self->run_index);
  hid_t    g = own_group ? open_run_group (self, run, error) : self->run_group;
  if (g < 0)
    return FALSE;
  g_mutex_lock (&self->h5_lock);
  hid_t                    mg = H5Lexists (g, "metrics", H5P_DEFAULT) > 0
                                    ? H5Gopen2 (g, "metrics", H5P_DEFAULT)
                                    : H5Gcreate2 (g, "metrics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  gboolean                 ok = mg >= 0;
  guint                    n_metrics = 0;
  const AtsDiagMetricInfo *metrics = ats_diag_metrics_list (&n_metrics);
  for (guint i = 0; ok && i < n_metrics; i++)
    {
      const AtsDiagMetricInfo *m = &metrics[i];
      gsize                    n = 0;
      gconstpointer            data = ats_diag_results_get_metric (r, m->name, &n);
      if (data == NULL)
        continue;
      hsize_t dims[3];
      guint   rank = metric_dims (m, r, dims);
      ok = _ats_h5_write_dataset (mg, m->name, m->is_int ? H5T_STD_I32LE : H5T_IEEE_F32LE,
                                  m->is_int ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, rank, dims, data,
                                  rank >= 2 && n > 65536);
      if (ok)
        {
          hid_t d = H5Dopen2 (mg, m->name, H5P_DEFAULT);
          ok = d >= 0 && _ats_h5_attr_string (d, "description", m->description) &&
               (!m->ours ||
                _ats_h5_attr_string (d, "definition",
                                     "ours: attnscope's operational definition (see README)"));
          if (d >= 0)
            H5Dclose (d);
        }
    }
  const AtsDiagParams *p = &r->params;
  ok = ok && attr_double (mg, "sink_rate", r->sink_rate) && attr_double (mg, "eps", p->sink_eps) &&
       attr_double (mg, "underload_mass", p->underload_mass) &&
       attr_double (mg, "overload_mass", p->overload_mass) &&
       attr_int (mg, "overload_k", p->overload_k) &&
       attr_double (mg, "overload_factor", p->overload_factor) &&
       attr_double (mg, "top_p", p->top_p) && attr_int (mg, "min_keys", p->min_keys) &&
       attr_double (mg, "massive_abs", p->massive_abs) &&
       attr_double (mg, "massive_ratio", p->massive_ratio);
  if (mg >= 0)
    H5Gclose (mg);
  if (own_group)
    H5Gclose (g);
  if (ok)
    ok = H5Fflush (self->file, H5F_SCOPE_GLOBAL) >= 0;
  g_mutex_unlock (&self->h5_lock);
  if (!ok)
    set_io_error (error, self, "metrics");
  return ok;
}

static gboolean
read_dataset (hid_t loc, const char *name, hid_t mem_type, gsize n, void *out)
{
  if (H5Lexists (loc, name, H5P_DEFAULT) <= 0)
    return FALSE;
  hid_t d = H5Dopen2 (loc, name, H5P_DEFAULT);
  if (d < 0)
    return FALSE;
  hid_t    s = H5Dget_space (d);
  gboolean ok = H5Sget_simple_extent_npoints (s) == (hssize_t) n &&
                H5Dread (d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
  H5Sclose (s);
  H5Dclose (d);
  return ok;
}

static gboolean
read_attr_double (hid_t obj, const char *name, double *out)
{
  if (H5Aexists (obj, name) <= 0)
    return FALSE;
  hid_t    a = H5Aopen (obj, name, H5P_DEFAULT);
  gboolean ok = a >= 0 && H5Aread (a, H5T_NATIVE_DOUBLE, out) >= 0;
  if (a >= 0)
    H5Aclose (a);
  return ok;
}

AtsDiagResults *
ats_capture_file_read_run_metrics (AtsCaptureFile *self, guint run, GError **error)
{
  g_autoptr (AtsCaptureRun) info = ats_capture_file_get_run (self, run, error);
  if (info == NULL)
    return NULL;
  hid_t g = open_run_group (self, run, error);
  if (g < 0)
    return NULL;
  if (H5Lexists (g, "metrics", H5P_DEFAULT) <= 0)
    {
      H5Gclose (g);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has no metrics (run 'attnscope-cli stats' on it)", self->path, run);
      return NULL;
    }
  hid_t           mg = H5Gopen2 (g, "metrics", H5P_DEFAULT);
  AtsDiagResults *r =
      ats_diag_results_new (self->info.n_layers, self->info.n_heads, info->n_tokens);
  gboolean                 ok = TRUE;
  guint                    n_metrics = 0;
  const AtsDiagMetricInfo *metrics = ats_diag_metrics_list (&n_metrics);
  for (guint i = 0; ok && i < n_metrics; i++)
    {
      const AtsDiagMetricInfo *m = &metrics[i];
      gsize                    n = 0;
      gpointer                 buf = (gpointer) ats_diag_results_get_metric (r, m->name, &n);
      if (buf == NULL)
        continue;
      /* metrics added after a file was written may be absent: they stay NaN / -1 */
      if (H5Lexists (mg, m->name, H5P_DEFAULT) <= 0 && !g_str_equal (m->name, "sink_score") &&
          !g_str_equal (m->name, "first_token_mass"))
        continue;
      ok = read_dataset (mg, m->name, m->is_int ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, n, buf);
      if (!ok)
        g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                     "%s: run %u: metrics/%s is missing or has the wrong shape", self->path, run,
                     m->name);
    }
  if (ok)
    {
      AtsDiagParams *p = &r->params;
      double         v;
      read_attr_double (mg, "sink_rate", &r->sink_rate);
      read_attr_double (mg, "eps", &p->sink_eps);
      read_attr_double (mg, "underload_mass", &p->underload_mass);
      read_attr_double (mg, "overload_mass", &p->overload_mass);
      if (read_attr_double (mg, "overload_k", &v))
        p->overload_k = v;
      read_attr_double (mg, "overload_factor", &p->overload_factor);
      read_attr_double (mg, "top_p", &p->top_p);
      if (read_attr_double (mg, "min_keys", &v))
        p->min_keys = v;
      read_attr_double (mg, "massive_abs", &p->massive_abs);
      read_attr_double (mg, "massive_ratio", &p->massive_ratio);
    }
  H5Gclose (mg);
  H5Gclose (g);
  if (!ok)
    {
      ats_diag_results_free (r);
      return NULL;
    }
  return r;
}

gboolean
ats_capture_file_write_run_lazy (AtsCaptureFile *self, guint run, AtsModel *model, GError **error)
{
  const AtsModelConfig *c = ats_model_get_config (model);
  if (c->attention != ATS_ATTENTION_ELASTIC)
    return TRUE;
  gboolean own_group = !(self->run_open && run == self->run_index);
  hid_t    g = own_group ? open_run_group (self, run, error) : self->run_group;
  if (g < 0)
    return FALSE;
  guint             L = c->n_layers, H = c->n_heads, W = c->bias_window;
  g_autofree float *tau = g_new (float, (gsize) L *H);
  g_autofree float *bias = g_new (float, (gsize) L *H *W);
  for (guint l = 0; l < L; l++)
    {
      memcpy (tau + (gsize) l * H, ats_model_get_lazy_tau (model, l), H * sizeof (float));
      memcpy (bias + (gsize) l * H * W, ats_model_get_lazy_bias (model, l),
              (gsize) H * W * sizeof (float));
    }
  g_mutex_lock (&self->h5_lock);
  if (H5Lexists (g, "lazy", H5P_DEFAULT) > 0)
    H5Ldelete (g, "lazy", H5P_DEFAULT);
  hid_t    lg = H5Gcreate2 (g, "lazy", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t  d2[2] = { L, H }, d3[3] = { L, H, W };
  gboolean ok =
      lg >= 0 &&
      _ats_h5_write_dataset (lg, "tau", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, tau, FALSE) &&
      _ats_h5_write_dataset (lg, "bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d3, bias, FALSE);
  if (lg >= 0)
    {
      _ats_h5_attr_string (
          lg, "description",
          "Lazy Attention: Elastic-Softmax tau per head; distance bias b_h[d] added to "
          "the logit of keys at distance d = i - j < W");
      H5Gclose (lg);
    }
  if (own_group)
    H5Gclose (g);
  g_mutex_unlock (&self->h5_lock);
  if (!ok)
    set_io_error (error, self, "lazy/");
  return ok;
}

/* --- reading ------------------------------------------------------------------------------- */

guint
ats_capture_file_get_n_runs (AtsCaptureFile *self)
{
  if (H5Lexists (self->file, "runs", H5P_DEFAULT) <= 0)
    return 0;
  hid_t g = H5Gopen2 (self->file, "runs", H5P_DEFAULT);
  if (g < 0)
    return 0;
  H5G_info_t gi;
  guint      n = H5Gget_info (g, &gi) >= 0 ? (guint) gi.nlinks : 0;
  H5Gclose (g);
  /* runs are numbered densely from 000000 */
  guint count = 0;
  while (count < n)
    {
      g_autofree char *name = g_strdup_printf ("runs/%06u", count);
      if (H5Lexists (self->file, name, H5P_DEFAULT) <= 0)
        break;
      count++;
    }
  return count;
}

static gboolean
read_attr_int_array (hid_t obj, const char *name, guint limit, gboolean *mask)
{
  if (H5Aexists (obj, name) <= 0)
    return FALSE;
  hid_t    a = H5Aopen (obj, name, H5P_DEFAULT);
  hid_t    s = H5Aget_space (a);
  hssize_t n = H5Sget_simple_extent_npoints (s);
  gboolean ok = n >= 0 && n <= limit;
  if (ok && n > 0)
    {
      g_autofree gint32 *v = g_new (gint32, n);
      ok = H5Aread (a, H5T_NATIVE_INT32, v) >= 0;
      for (hssize_t i = 0; ok && i < n; i++)
        if (v[i] >= 0 && (guint) v[i] < limit)
          mask[v[i]] = TRUE;
    }
  H5Sclose (s);
  H5Aclose (a);
  return ok;
}

AtsCaptureRun *
ats_capture_file_get_run (AtsCaptureFile *self, guint run, GError **error)
{
  hid_t g = open_run_group (self, run, error);
  if (g < 0)
    return NULL;
  AtsCaptureRun *r = g_new0 (AtsCaptureRun, 1);
  r->index = run;
  r->name = g_strdup_printf ("%06u", run);
  r->prompt = _ats_h5_attr_read_string (g, "prompt");
  gint64   v = 0;
  gboolean ok = attr_read_int (g, "n_tokens", &v) && v > 0 && v <= G_MAXINT32;
  r->n_tokens = ok ? v : 0;
  r->complete = attr_read_int (g, "complete", &v) && v == 1;
  guint T = r->n_tokens;
  if (ok)
    {
      r->ids = g_new0 (gint32, T);
      ok = read_dataset (g, "tokens/ids", H5T_NATIVE_INT32, T, r->ids);
    }
  if (ok)
    {
      char **text = g_new0 (char *, T + 1);
      hid_t  st = _ats_h5_vlen_str_type ();
      if (read_dataset (g, "tokens/text", st, T, text))
        {
          r->pieces = g_new0 (char *, T + 1);
          for (guint t = 0; t < T; t++)
            {
              r->pieces[t] = g_strdup (text[t] ? text[t] : "");
              if (text[t])
                H5free_memory (text[t]);
            }
        }
      else
        {
          r->pieces = g_new0 (char *, T + 1);
          for (guint t = 0; t < T; t++)
            r->pieces[t] = g_strdup_printf ("%d", r->ids[t]);
        }
      g_free (text);
      H5Tclose (st);
    }
  if (ok)
    {
      guint L = self->info.n_layers, H = self->info.n_heads;
      r->stored_layers = g_new0 (gboolean, L);
      r->stored_heads = g_new0 (gboolean, H);
      r->has_attention = H5Lexists (g, "attention", H5P_DEFAULT) > 0;
      if (r->has_attention)
        {
          hid_t    d = H5Dopen2 (g, "attention", H5P_DEFAULT);
          hid_t    s = H5Dget_space (d);
          hsize_t  dims[4];
          gboolean shape_ok = H5Sget_simple_extent_ndims (s) == 4 &&
                              H5Sget_simple_extent_dims (s, dims, NULL) == 4 && dims[0] == L &&
                              dims[1] == H && dims[2] == T && dims[3] == T;
          hid_t ft = H5Dget_type (d);
          r->attention_type = H5Tget_size (ft) == 2 ? ATS_STORE_F16 : ATS_STORE_F32;
          H5Tclose (ft);
          if (!read_attr_int_array (d, "stored_layers", L, r->stored_layers))
            for (guint l = 0; l < L; l++)
              r->stored_layers[l] = TRUE;
          if (!read_attr_int_array (d, "stored_heads", H, r->stored_heads))
            for (guint h = 0; h < H; h++)
              r->stored_heads[h] = TRUE;
          H5Sclose (s);
          H5Dclose (d);
          if (!shape_ok)
            {
              g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                           "%s: run %u: attention is not [%u, %u, %u, %u]", self->path, run, L, H,
                           T, T);
              H5Gclose (g);
              ats_capture_run_free (r);
              return NULL;
            }
        }
      r->has_metrics = H5Lexists (g, "metrics", H5P_DEFAULT) > 0;
      r->has_scores = H5Lexists (g, "scores", H5P_DEFAULT) > 0;
      r->has_logits = H5Lexists (g, "logits", H5P_DEFAULT) > 0;
    }
  H5Gclose (g);
  if (!ok)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: run %u lacks n_tokens or tokens/ids", self->path, run);
      ats_capture_run_free (r);
      return NULL;
    }
  return r;
}

gboolean
ats_capture_file_read_rows (AtsCaptureFile *self,
                            guint           run,
                            guint           layer,
                            guint           head,
                            guint           row_start,
                            guint           n_rows,
                            float          *out,
                            GError        **error)
{
  if (layer >= self->info.n_layers || head >= self->info.n_heads)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: no layer %u / head %u (the model has %u layers and %u heads)", self->path,
                   layer, head, self->info.n_layers, self->info.n_heads);
      return FALSE;
    }
  hid_t g = open_run_group (self, run, error);
  if (g < 0)
    return FALSE;
  if (H5Lexists (g, "attention", H5P_DEFAULT) <= 0)
    {
      H5Gclose (g);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has no attention maps (captured with --no-maps?)", self->path, run);
      return FALSE;
    }
  hid_t dapl = H5Pcreate (H5P_DATASET_ACCESS);
  H5Pset_chunk_cache (dapl, 12421, 64 << 20, 1.0);
  hid_t d = H5Dopen2 (g, "attention", dapl);
  H5Pclose (dapl);
  hid_t   s = H5Dget_space (d);
  hsize_t dims[4] = { 0 };
  H5Sget_simple_extent_dims (s, dims, NULL);
  guint    T = dims[3];
  gboolean ok = H5Sget_simple_extent_ndims (s) == 4 && row_start + n_rows <= dims[2];
  if (ok)
    {
      hsize_t start[4] = { layer, head, row_start, 0 }, count[4] = { 1, 1, n_rows, T };
      H5Sselect_hyperslab (s, H5S_SELECT_SET, start, NULL, count, NULL);
      hsize_t mdims[4] = { 1, 1, n_rows, T }; /* the selection's own shape: HDF5's fast path */
      hid_t   ms = H5Screate_simple (4, mdims, NULL);
      hid_t   ft = H5Dget_type (d);
      if (H5Tget_size (ft) == 2)
        {
          /* read the raw halves and widen them ourselves (HDF5's soft conversion is slow) */
          gsize    n = (gsize) n_rows * T;
          guint16 *raw = (guint16 *) out + n; /* upper half of @out as scratch */
          hid_t    mt = f16_type ();
          ok = H5Dread (d, mt, ms, s, H5P_DEFAULT, raw) >= 0;
          H5Tclose (mt);
          for (gsize i = 0; ok && i < n; i++)
            out[i] = ats_f16_to_f32 (raw[i]);
        }
      else
        ok = H5Dread (d, H5T_NATIVE_FLOAT, ms, s, H5P_DEFAULT, out) >= 0;
      H5Tclose (ft);
      H5Sclose (ms);
    }
  H5Sclose (s);
  H5Dclose (d);
  H5Gclose (g);
  if (!ok)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                 "%s: run %u: cannot read rows %u..%u of layer %u head %u", self->path, run,
                 row_start, row_start + n_rows, layer, head);
  return ok;
}

gboolean
ats_capture_file_read_head (AtsCaptureFile *self,
                            guint           run,
                            guint           layer,
                            guint           head,
                            float          *out,
                            GError        **error)
{
  g_autoptr (AtsCaptureRun) r = ats_capture_file_get_run (self, run, error);
  if (r == NULL)
    return FALSE;
  return ats_capture_file_read_rows (self, run, layer, head, 0, r->n_tokens, out, error);
}

float *
ats_capture_file_read_hidden_norms (AtsCaptureFile *self, guint run, GError **error)
{
  g_autoptr (AtsCaptureRun) r = ats_capture_file_get_run (self, run, error);
  if (r == NULL)
    return NULL;
  hid_t g = open_run_group (self, run, error);
  if (g < 0)
    return NULL;
  gsize  n = (gsize) (self->info.n_layers + 1) * r->n_tokens;
  float *out = g_new (float, n);
  if (!read_dataset (g, "hidden_norms", H5T_NATIVE_FLOAT, n, out))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has no hidden_norms [L+1, T]", self->path, run);
      g_clear_pointer (&out, g_free);
    }
  H5Gclose (g);
  return out;
}

gboolean
ats_capture_file_read_run_lazy (AtsCaptureFile *self,
                                guint           run,
                                float         **tau,
                                float         **bias,
                                guint          *bias_window,
                                GError        **error)
{
  hid_t g = open_run_group (self, run, error);
  if (g < 0)
    return FALSE;
  guint    L = self->info.n_layers, H = self->info.n_heads;
  gboolean ok = H5Lexists (g, "lazy", H5P_DEFAULT) > 0;
  hsize_t  dims[3] = { 0 };
  if (ok)
    {
      hid_t d = H5Dopen2 (g, "lazy/bias", H5P_DEFAULT);
      hid_t s = d >= 0 ? H5Dget_space (d) : -1;
      ok = s >= 0 && H5Sget_simple_extent_ndims (s) == 3 &&
           H5Sget_simple_extent_dims (s, dims, NULL) == 3 && dims[0] == L && dims[1] == H &&
           dims[2] > 0 && dims[2] < G_MAXINT32;
      if (s >= 0)
        H5Sclose (s);
      if (d >= 0)
        H5Dclose (d);
    }
  float *t = NULL, *b = NULL;
  if (ok)
    {
      t = g_new (float, (gsize) L *H);
      b = g_new (float, (gsize) L *H *dims[2]);
      ok = read_dataset (g, "lazy/tau", H5T_NATIVE_FLOAT, (gsize) L * H, t) &&
           read_dataset (g, "lazy/bias", H5T_NATIVE_FLOAT, (gsize) L * H * dims[2], b);
    }
  H5Gclose (g);
  if (!ok)
    {
      g_free (t);
      g_free (b);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has no Lazy Attention parameters (lazy/tau [L, H], lazy/bias "
                   "[L, H, W]); it was not captured from a Lazy Attention model",
                   self->path, run);
      return FALSE;
    }
  *tau = t;
  *bias = b;
  *bias_window = dims[2];
  return TRUE;
}

gboolean
ats_capture_file_read_preview (AtsCaptureFile *self,
                               guint           run,
                               guint           layer,
                               guint           head,
                               float          *out,
                               guint          *size,
                               GError        **error)
{
  hid_t g = open_run_group (self, run, error);
  if (g < 0)
    return FALSE;
  gboolean ok = H5Lexists (g, "preview", H5P_DEFAULT) > 0;
  hid_t    d = ok ? H5Dopen2 (g, "preview", H5P_DEFAULT) : -1;
  hid_t    s = d >= 0 ? H5Dget_space (d) : -1;
  hsize_t  dims[4] = { 0 };
  ok = s >= 0 && H5Sget_simple_extent_ndims (s) == 4 &&
       H5Sget_simple_extent_dims (s, dims, NULL) == 4 && layer < dims[0] && head < dims[1] &&
       dims[2] == dims[3] && dims[2] <= ATS_CAPTURE_PREVIEW_SIZE;
  if (ok)
    {
      hsize_t start[4] = { layer, head, 0, 0 }, count[4] = { 1, 1, dims[2], dims[3] };
      hid_t   ms = H5Screate_simple (4, count, NULL);
      H5Sselect_hyperslab (s, H5S_SELECT_SET, start, NULL, count, NULL);
      ok = H5Dread (d, H5T_NATIVE_FLOAT, ms, s, H5P_DEFAULT, out) >= 0;
      H5Sclose (ms);
      *size = dims[2];
    }
  if (s >= 0)
    H5Sclose (s);
  if (d >= 0)
    H5Dclose (d);
  H5Gclose (g);
  if (!ok)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                 "%s: run %u has no preview of layer %u head %u", self->path, run, layer, head);
  return ok;
}
