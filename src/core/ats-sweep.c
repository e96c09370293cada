/* ats-sweep.c — the /sweep group of a merge-sweep capture file (data/sweep-format.md)
 *
 * Only this group is written here; the runs are written by the capture API. Summaries: for
 * every [L, H] and [L+1] diagnostic, the mean over its non-NaN entries per run ([S, P]) and per
 * layer ([S, P, L] or [S, P, L+1]), plus the sink rate [S, P].
 */
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-sweep.h"
#include "ats-h5-private.h"

void
ats_sweep_info_free (AtsSweepInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->parameter);
  g_free (info->values);
  g_free (info->runs);
  g_free (info->only);
  g_free (info->base);
  g_strfreev (info->tuned);
  g_free (info);
}

static gboolean
attr_scalar (hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *value)
{
  hid_t  s = H5Screate (H5S_SCALAR);
  hid_t  a = H5Acreate2 (obj, name, file_type, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a < 0 ? -1 : H5Awrite (a, mem_type, value);

  if (a >= 0)
    H5Aclose (a);
  H5Sclose (s);
  return r >= 0;
}

static gboolean
attr_string_array (hid_t obj, const char *name, char *const *values)
{
  hsize_t dims[1] = { g_strv_length ((GStrv) values) };
  hid_t   t = _ats_h5_vlen_str_type ();
  hid_t   s = dims[0] > 0 ? H5Screate_simple (1, dims, NULL) : H5Screate (H5S_NULL);
  hid_t   a = H5Acreate2 (obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t  r = a < 0 ? -1 : (dims[0] > 0 ? H5Awrite (a, t, values) : 0);

  if (a >= 0)
    H5Aclose (a);
  H5Sclose (s);
  H5Tclose (t);
  return r >= 0;
}

/* Means of one metric over a run: overall and per layer (@per_layer [n_rows]). */
static void
metric_means (const AtsDiagResults    *res,
              const AtsDiagMetricInfo *info,
              guint                    n_rows,
              float                   *overall,
              float                   *per_layer)
{
  gsize         n = 0;
  gconstpointer p = ats_diag_results_get_metric (res, info->name, &n);
  guint         cols = n_rows > 0 ? (guint) (n / n_rows) : 0;
  double        sum_all = 0;
  guint64       count_all = 0;

  for (guint r = 0; r < n_rows; r++)
    {
      double  sum = 0;
      guint64 count = 0;

      for (guint c = 0; c < cols; c++)
        {
          gsize  i = (gsize) r * cols + c;
          double v = info->is_int ? (((const gint32 *) p)[i] < 0 ? NAN : ((const gint32 *) p)[i])
                                  : ((const float *) p)[i];

          if (isnan (v))
            continue;
          sum += v;
          count++;
        }
      per_layer[r] = count ? (float) (sum / count) : NAN;
      sum_all += sum;
      count_all += count;
    }
  *overall = count_all ? (float) (sum_all / count_all) : NAN;
}

static gboolean
write_summaries (hid_t group, const AtsSweepInfo *info, AtsDiagResults *const *results)
{
  guint                    n_metrics = 0;
  const AtsDiagMetricInfo *metrics = ats_diag_metrics_list (&n_metrics);
  gsize                    n_runs = (gsize) info->n_steps * info->n_prompts;
  const AtsDiagResults    *any = NULL;
  hid_t                    sum;
  gboolean                 ok = TRUE;

  for (gsize i = 0; results != NULL && i < n_runs && any == NULL; i++)
    any = results[i];
  if (any == NULL)
    return TRUE; /* nothing captured: no summaries */
  sum = H5Gcreate2 (group, "summary", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (sum < 0)
    return FALSE;

  {
    g_autofree double *rate = g_new (double, n_runs); /* [S, P] */
    hsize_t            dims[2] = { info->n_steps, info->n_prompts };

    for (gsize i = 0; i < n_runs; i++)
      rate[i] = results[i] ? results[i]->sink_rate : NAN;
    ok = _ats_h5_write_dataset (sum, "sink_rate", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, rate,
                                FALSE);
  }
  for (guint m = 0; ok && m < n_metrics; m++)
    {
      const AtsDiagMetricInfo *mi = &metrics[m];
      guint                    rows;
      g_autofree float        *overall = NULL;  /* [S, P] */
      g_autofree float        *by_layer = NULL; /* [S, P, rows] */
      g_autofree char         *layer_name = NULL;
      hsize_t                  dims[3];

      if (mi->shape == ATS_DIAG_SHAPE_LAYER_HEAD)
        rows = any->n_layers;
      else if (mi->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
        rows = any->n_layers + 1;
      else
        continue;
      overall = g_new (float, n_runs);
      by_layer = g_new (float, n_runs *rows);
      for (gsize i = 0; i < n_runs; i++)
        {
          if (results[i] == NULL)
            {
              overall[i] = NAN;
              for (guint r = 0; r < rows; r++)
                by_layer[i * rows + r] = NAN;
              continue;
            }
          metric_means (results[i], mi, rows, &overall[i], by_layer + i * rows);
        }
      dims[0] = info->n_steps;
      dims[1] = info->n_prompts;
      dims[2] = rows;
      layer_name = g_strconcat (mi->name, "_by_layer", NULL);
      ok = _ats_h5_write_dataset (sum, mi->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, overall,
                                  FALSE) &&
           _ats_h5_write_dataset (sum, layer_name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dims,
                                  by_layer, FALSE);
      if (ok)
        {
          hid_t d = H5Dopen2 (sum, mi->name, H5P_DEFAULT);

          if (d >= 0)
            {
              ok = _ats_h5_attr_string (d, "description", mi->description) &&
                   _ats_h5_attr_string (d, "reduction", "mean over non-NaN heads and layers");
              H5Dclose (d);
            }
        }
    }
  H5Gclose (sum);
  return ok;
}

gboolean
ats_sweep_file_annotate (const char            *path,
                         const AtsSweepInfo    *info,
                         AtsDiagResults *const *results,
                         GError               **error)
{
  hid_t    file, group;
  gboolean ok;
  gint64   version = ATS_SWEEP_FORMAT_VERSION;
  gint64   n_steps = info->n_steps, n_prompts = info->n_prompts, maps = info->maps;
  hsize_t  dims[2] = { info->n_steps, info->n_prompts };

  g_return_val_if_fail (path != NULL && info != NULL, FALSE);

  H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
  file = H5Fopen (path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: cannot open the capture file to add the sweep index", path);
      return FALSE;
    }
  if (H5Lexists (file, "sweep", H5P_DEFAULT) > 0)
    {
      H5Fclose (file);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: already has a /sweep group", path);
      return FALSE;
    }
  group = H5Gcreate2 (file, "sweep", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ok = group >= 0;
  if (ok)
    {
      char *const empty[] = { NULL };

      ok = _ats_h5_attr_string (group, "format", ATS_SWEEP_FORMAT) &&
           attr_scalar (group, "format_version", H5T_STD_I64LE, H5T_NATIVE_INT64, &version) &&
           _ats_h5_attr_string (group, "method", ats_merge_method_to_string (info->method)) &&
           _ats_h5_attr_string (group, "parameter", info->parameter) &&
           attr_scalar (group, "n_steps", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_steps) &&
           attr_scalar (group, "n_prompts", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_prompts) &&
           attr_scalar (group, "alpha", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &info->alpha) &&
           attr_scalar (group, "lambda", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &info->lambda) &&
           attr_scalar (group, "density", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &info->density) &&
           _ats_h5_attr_string (group, "only", info->only ? info->only : "") &&
           _ats_h5_attr_string (group, "base", info->base ? info->base : "") &&
           attr_string_array (group, "tuned", info->tuned ? info->tuned : empty) &&
           attr_scalar (group, "maps", H5T_STD_I64LE, H5T_NATIVE_INT64, &maps) &&
           _ats_h5_write_dataset (group, "values", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims,
                                  info->values, FALSE) &&
           _ats_h5_write_dataset (group, "runs", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims,
                                  info->runs, FALSE) &&
           write_summaries (group, info, results);
      H5Gclose (group);
    }
  if (H5Fclose (file) < 0)
    ok = FALSE;
  if (!ok)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                 "%s: writing the /sweep group failed", path);
  return ok;
}

static char **
read_attr_string_array (hid_t obj, const char *name)
{
  hid_t      a, s, mt;
  hssize_t   n;
  GPtrArray *out = g_ptr_array_new ();
  char     **raw;

  if (H5Aexists (obj, name) > 0)
    {
      a = H5Aopen (obj, name, H5P_DEFAULT);
      s = H5Aget_space (a);
      n = H5Sget_simple_extent_npoints (s);
      if (n > 0 && H5Sget_simple_extent_type (s) == H5S_SIMPLE)
        {
          mt = _ats_h5_vlen_str_type ();
          raw = g_new0 (char *, n);
          if (H5Aread (a, mt, raw) >= 0)
            for (hssize_t i = 0; i < n; i++)
              {
                g_ptr_array_add (out, g_strdup (raw[i] ? raw[i] : ""));
                H5free_memory (raw[i]);
              }
          g_free (raw);
          H5Tclose (mt);
        }
      H5Sclose (s);
      H5Aclose (a);
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static gboolean
read_attr_scalar (hid_t obj, const char *name, hid_t mem_type, void *out)
{
  hid_t  a;
  herr_t r;

  if (H5Aexists (obj, name) <= 0)
    return FALSE;
  a = H5Aopen (obj, name, H5P_DEFAULT);
  r = H5Aread (a, mem_type, out);
  H5Aclose (a);
  return r >= 0;
}

AtsSweepInfo *
ats_sweep_file_read_info (const char *path, GError **error)
{
  g_autoptr (AtsSweepInfo) info = g_new0 (AtsSweepInfo, 1);
  g_autofree char *format = NULL, *method = NULL;
  gint64           version = 0, n_steps = 0, n_prompts = 0, maps = 0;
  hid_t            file, group;
  gboolean         ok;

  H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
  file = H5Fopen (path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: cannot open as an HDF5 file", path);
      return NULL;
    }
  if (H5Lexists (file, "sweep", H5P_DEFAULT) <= 0)
    {
      H5Fclose (file);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: not a sweep file (no /sweep group)", path);
      return NULL;
    }
  group = H5Gopen2 (file, "sweep", H5P_DEFAULT);
  format = _ats_h5_attr_read_string (group, "format");
  method = _ats_h5_attr_read_string (group, "method");
  ok = g_strcmp0 (format, ATS_SWEEP_FORMAT) == 0 &&
       read_attr_scalar (group, "format_version", H5T_NATIVE_INT64, &version) &&
       version == ATS_SWEEP_FORMAT_VERSION &&
       read_attr_scalar (group, "n_steps", H5T_NATIVE_INT64, &n_steps) &&
       read_attr_scalar (group, "n_prompts", H5T_NATIVE_INT64, &n_prompts) && n_steps > 0 &&
       n_prompts > 0 && n_steps < G_MAXINT32 && n_prompts < G_MAXINT32 &&
       (guint64) n_steps * (guint64) n_prompts < G_MAXINT32 &&
       ats_merge_method_from_string (method, &info->method);
  if (ok)
    {
      hsize_t dims[2] = { 0, 0 };
      int     rank = 0;

      info->n_steps = n_steps;
      info->n_prompts = n_prompts;
      info->parameter = _ats_h5_attr_read_string (group, "parameter");
      info->only = _ats_h5_attr_read_string (group, "only");
      if (info->only != NULL && info->only[0] == '\0')
        g_clear_pointer (&info->only, g_free);
      info->base = _ats_h5_attr_read_string (group, "base");
      info->tuned = read_attr_string_array (group, "tuned");
      read_attr_scalar (group, "alpha", H5T_NATIVE_DOUBLE, &info->alpha);
      read_attr_scalar (group, "lambda", H5T_NATIVE_DOUBLE, &info->lambda);
      read_attr_scalar (group, "density", H5T_NATIVE_DOUBLE, &info->density);
      read_attr_scalar (group, "maps", H5T_NATIVE_INT64, &maps);
      info->maps = maps != 0;
      info->values = g_new0 (double, info->n_steps);
      info->runs = g_new0 (gint32, (gsize) info->n_steps * info->n_prompts);
      ok = H5LTget_dataset_ndims (group, "values", &rank) >= 0 && rank == 1 &&
           H5LTget_dataset_info (group, "values", dims, NULL, NULL) >= 0 &&
           dims[0] == info->n_steps &&
           H5LTread_dataset_double (group, "values", info->values) >= 0 &&
           H5LTget_dataset_ndims (group, "runs", &rank) >= 0 && rank == 2 &&
           H5LTget_dataset_info (group, "runs", dims, NULL, NULL) >= 0 &&
           dims[0] == info->n_steps && dims[1] == info->n_prompts &&
           H5LTread_dataset_int (group, "runs", info->runs) >= 0;
    }
  H5Gclose (group);
  H5Fclose (file);
  if (!ok)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: /sweep is not an %s version %d index", path, ATS_SWEEP_FORMAT,
                   ATS_SWEEP_FORMAT_VERSION);
      return NULL;
    }
  return g_steal_pointer (&info);
}

double *
ats_sweep_file_read_summary (const char *path,
                             const char *metric,
                             gboolean    by_layer,
                             guint      *n_steps,
                             guint      *n_prompts,
                             guint      *n_rows,
                             GError    **error)
{
  g_autofree char   *name = NULL;
  g_autofree double *values = NULL;
  hsize_t            dims[3] = { 0, 0, 0 };
  gint64             S = 0, P = 0;
  int                rank = 0;
  int                want = by_layer ? 3 : 2;
  hid_t              file, group, summary = -1;

  g_return_val_if_fail (path != NULL && metric != NULL, NULL);

  name = by_layer ? g_strconcat (metric, "_by_layer", NULL) : g_strdup (metric);
  H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
  file = H5Fopen (path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                   "%s: cannot open as an HDF5 file", path);
      return NULL;
    }
  if (H5Lexists (file, "sweep", H5P_DEFAULT) <= 0)
    {
      H5Fclose (file);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: not a sweep file (no /sweep group)", path);
      return NULL;
    }
  group = H5Gopen2 (file, "sweep", H5P_DEFAULT);
  if (!read_attr_scalar (group, "n_steps", H5T_NATIVE_INT64, &S) ||
      !read_attr_scalar (group, "n_prompts", H5T_NATIVE_INT64, &P) || S <= 0 || P <= 0 ||
      S >= G_MAXINT32 || P >= G_MAXINT32)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                 "%s: /sweep is not an %s version %d index", path, ATS_SWEEP_FORMAT,
                 ATS_SWEEP_FORMAT_VERSION);
  else if (H5Lexists (group, "summary", H5P_DEFAULT) <= 0)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                 "%s: the sweep has no /sweep/summary (no step was captured)", path);
  else if ((summary = H5Gopen2 (group, "summary", H5P_DEFAULT)) < 0 ||
           H5Lexists (summary, name, H5P_DEFAULT) <= 0)
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                 "%s: the sweep has no summary /sweep/summary/%s", path, name);
  else if (H5LTget_dataset_ndims (summary, name, &rank) < 0 || rank != want ||
           H5LTget_dataset_info (summary, name, dims, NULL, NULL) < 0 || dims[0] != (hsize_t) S ||
           dims[1] != (hsize_t) P || (by_layer && (dims[2] == 0 || dims[2] > 100000)))
    g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                 "%s: /sweep/summary/%s is not a [%u, %u%s] dataset", path, name, (guint) S,
                 (guint) P, by_layer ? ", layers" : "");
  else
    {
      values = g_new (double, (gsize) S *P *(by_layer ? dims[2] : 1));
      if (H5LTread_dataset_double (summary, name, values) < 0)
        {
          g_clear_pointer (&values, g_free);
          g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_IO,
                       "%s: cannot read /sweep/summary/%s", path, name);
        }
    }
  if (summary >= 0)
    H5Gclose (summary);
  H5Gclose (group);
  H5Fclose (file);
  if (values == NULL)
    return NULL;
  if (n_steps != NULL)
    *n_steps = (guint) S;
  if (n_prompts != NULL)
    *n_prompts = (guint) P;
  if (n_rows != NULL)
    *n_rows = by_layer ? (guint) dims[2] : 1;
  return g_steal_pointer (&values);
}
