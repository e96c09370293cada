/* ats-weight-diff.c — per layer and tensor kind statistics of the difference of two checkpoints
 *
 * Streams over the tensors in chunks (float64 sums), grouping by (layer, kind).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-weight-diff.h"
#include "ats-merge-private.h"

#define CHUNK ((gsize) 1 << 18) /* elements per step */

static int
compare_rows (gconstpointer a, gconstpointer b)
{
  const AtsWeightDiffRow *x = a, *y = b;

  if (x->layer != y->layer)
    return x->layer < y->layer ? -1 : 1;
  return (int) x->kind - (int) y->kind;
}

static double
safe_ratio (double num, double den)
{
  return den > 0.0 ? num / den : NAN;
}

AtsWeightDiff *
ats_weight_diff_compute (const char     *base_dir,
                         const char     *other_dir,
                         AtsProgressFunc progress,
                         gpointer        progress_data,
                         GError        **error)
{
  const char *others[] = { other_dir, NULL };
  g_autoptr (AtsMerge) merge = NULL;
  g_autoptr (GHashTable) groups = NULL; /* "layer/kind" -> row index */
  g_autoptr (GArray) rows = NULL;
  g_autofree float  *bf = NULL, *of = NULL; /* [CHUNK] */
  const char *const *names;
  AtsCheckpoint     *other;
  guint64            total, done = 0;
  AtsWeightDiff     *diff;

  g_return_val_if_fail (base_dir != NULL && other_dir != NULL, NULL);

  merge = ats_merge_new (base_dir, others, error);
  if (merge == NULL)
    return NULL;
  other = merge->tuned->pdata[0];
  names = ats_checkpoint_get_tensor_names (merge->base);
  total = ats_checkpoint_get_n_bytes (merge->base);
  groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  rows = g_array_new (FALSE, TRUE, sizeof (AtsWeightDiffRow));
  bf = g_new (float, CHUNK);
  of = g_new (float, CHUNK);

  for (guint i = 0; names[i] != NULL; i++)
    {
      const AtsTensorInfo *b = ats_checkpoint_lookup (merge->base, names[i]);
      const AtsTensorInfo *o = ats_checkpoint_lookup (other, names[i]);
      gsize                esize = ats_dtype_size (b->dtype);
      int                  layer;
      AtsTensorKind        kind = ats_tensor_kind_classify (names[i], &layer);
      g_autofree char     *key = g_strdup_printf ("%d/%d", layer, (int) kind);
      gpointer             idx;
      AtsWeightDiffRow    *row;

      if (!g_hash_table_lookup_extended (groups, key, NULL, &idx))
        {
          AtsWeightDiffRow r = { 0 };

          r.layer = layer;
          r.kind = kind;
          g_array_append_val (rows, r);
          idx = GUINT_TO_POINTER (rows->len - 1);
          g_hash_table_insert (groups, g_steal_pointer (&key), idx);
        }
      row = &g_array_index (rows, AtsWeightDiffRow, GPOINTER_TO_UINT (idx));
      row->n_tensors++;
      row->n_params += (guint64) b->numel;
      for (gsize start = 0; start < (gsize) b->numel; start += CHUNK)
        {
          gsize  c = MIN (CHUNK, (gsize) b->numel - start);
          double bb = 0, oo = 0, dd = 0, bo = 0, db = 0;

          ats_convert_to_f32 (b->dtype, b->data + start * esize, c, bf);
          ats_convert_to_f32 (o->dtype, o->data + start * esize, c, of);
          for (gsize k = 0; k < c; k++)
            {
              double x = bf[k], y = of[k], d = y - x;

              bb += x * x;
              oo += y * y;
              dd += d * d;
              bo += x * y;
              db += d * x;
            }
          row->base_sq += bb;
          row->other_sq += oo;
          row->delta_sq += dd;
          row->dot_base_other += bo;
          row->dot_delta_base += db;
          _ats_release_pages (b->data + start * esize, c * esize);
          _ats_release_pages (o->data + start * esize, c * esize);
          done += c * esize;
          if (progress != NULL && !progress (total ? (double) done / total : 1.0, progress_data))
            {
              g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "cancelled");
              return NULL;
            }
        }
    }

  g_array_sort (rows, compare_rows);
  diff = g_new0 (AtsWeightDiff, 1);
  diff->n_rows = rows->len;
  for (guint i = 0; i < rows->len; i++)
    {
      AtsWeightDiffRow *r = &g_array_index (rows, AtsWeightDiffRow, i);

      r->delta_l2 = sqrt (r->delta_sq);
      r->relative = safe_ratio (r->delta_l2, sqrt (r->base_sq));
      r->cos_other_base = safe_ratio (r->dot_base_other, sqrt (r->base_sq) * sqrt (r->other_sq));
      r->cos_delta_base = safe_ratio (r->dot_delta_base, sqrt (r->delta_sq) * sqrt (r->base_sq));
      if (r->layer >= 0)
        diff->n_layers = MAX (diff->n_layers, (guint) r->layer + 1);
    }
  diff->rows = (AtsWeightDiffRow *) g_array_free (g_steal_pointer (&rows), FALSE);
  return diff;
}

void
ats_weight_diff_free (AtsWeightDiff *diff)
{
  if (diff == NULL)
    return;
  g_free (diff->rows);
  g_free (diff);
}

GString *
ats_weight_diff_format (const AtsWeightDiff *diff, gboolean csv)
{
  GString *s = g_string_new (NULL);

  if (csv)
    g_string_append (s, "layer,kind,n_tensors,n_params,delta_l2,base_l2,relative,"
                        "cos_other_base,cos_delta_base\n");
  else
    g_string_append_printf (s, "%-5s %-10s %10s %12s %12s %10s %10s %10s\n", "layer", "kind",
                            "params", "|delta|", "|base|", "relative", "cos(o,b)", "cos(d,b)");
  for (guint i = 0; i < diff->n_rows; i++)
    {
      const AtsWeightDiffRow *r = &diff->rows[i];
      const char             *kind = ats_tensor_kind_to_string (r->kind);

      if (csv)
        g_string_append_printf (s, "%d,%s,%u,%" G_GUINT64_FORMAT ",%.9g,%.9g,%.9g,%.9g,%.9g\n",
                                r->layer, kind, r->n_tensors, r->n_params, r->delta_l2,
                                sqrt (r->base_sq), r->relative, r->cos_other_base,
                                r->cos_delta_base);
      else
        {
          char layer[16];

          if (r->layer < 0)
            g_strlcpy (layer, "-", sizeof layer);
          else
            g_snprintf (layer, sizeof layer, "%d", r->layer);
          g_string_append_printf (
              s, "%-5s %-10s %10" G_GUINT64_FORMAT " %12.4e %12.4e %10.3e %10.6f %10.4f\n", layer,
              kind, r->n_params, r->delta_l2, sqrt (r->base_sq), r->relative, r->cos_other_base,
              r->cos_delta_base);
        }
    }
  return s;
}

/* --- reading the CSV back --- */

#define CSV_HEADER                                                                                 \
  "layer,kind,n_tensors,n_params,delta_l2,base_l2,relative,cos_other_base,cos_delta_base"
#define CSV_N_COLUMNS 9

static const char *const csv_columns[CSV_N_COLUMNS] = {
  "layer",   "kind",     "n_tensors",      "n_params",       "delta_l2",
  "base_l2", "relative", "cos_other_base", "cos_delta_base",
};

static gboolean G_GNUC_PRINTF (4, 5)
    csv_error (GError **error, const char *path, guint line, const char *format, ...)
{
  g_autofree char *name = g_filename_display_name (path);
  g_autofree char *msg = NULL;
  va_list          args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "%s:%u: %s", name, line, msg);
  return FALSE;
}

static gboolean
csv_double (const char *field, double *out)
{
  char *end = NULL;

  if (*field == '\0' || g_ascii_isspace (*field))
    return FALSE;
  errno = 0;
  *out = g_ascii_strtod (field, &end);
  return end != NULL && *end == '\0' && errno != ERANGE;
}

static gboolean
csv_parse_row (const char *path, guint line, char **fields, AtsWeightDiffRow *r, GError **error)
{
  gint64   layer;
  guint64  n_tensors, n_params;
  double   v[5]; /* delta_l2, base_l2, relative, cos_other_base, cos_delta_base */
  gboolean found = FALSE;

  if (!g_ascii_string_to_signed (fields[0], 10, -1, G_MAXINT, &layer, NULL))
    return csv_error (error, path, line, "bad layer “%s” (an integer, -1 outside the blocks)",
                      fields[0]);
  for (int k = 0; k < ATS_TENSOR_KIND_N && !found; k++)
    if (g_str_equal (fields[1], ats_tensor_kind_to_string ((AtsTensorKind) k)))
      {
        r->kind = (AtsTensorKind) k;
        found = TRUE;
      }
  if (!found)
    return csv_error (error, path, line, "unknown tensor kind “%s”", fields[1]);
  if (!g_ascii_string_to_unsigned (fields[2], 10, 0, G_MAXUINT, &n_tensors, NULL))
    return csv_error (error, path, line, "bad n_tensors “%s”", fields[2]);
  if (!g_ascii_string_to_unsigned (fields[3], 10, 0, G_MAXUINT64, &n_params, NULL))
    return csv_error (error, path, line, "bad n_params “%s”", fields[3]);
  for (guint i = 0; i < G_N_ELEMENTS (v); i++)
    if (!csv_double (fields[4 + i], &v[i]))
      return csv_error (error, path, line, "bad number “%s” in column %s", fields[4 + i],
                        csv_columns[4 + i]);
  if (!(v[0] >= 0.0) || !(v[1] >= 0.0))
    return csv_error (error, path, line, "norms must be non-negative numbers (%s, %s)", fields[4],
                      fields[5]);

  r->layer = (int) layer;
  r->n_tensors = (guint) n_tensors;
  r->n_params = n_params;
  r->delta_l2 = v[0];
  r->relative = v[2];
  r->cos_other_base = v[3];
  r->cos_delta_base = v[4];
  /* the sums, as far as the written statistics determine them: <d, b> from cos(d, b), then
   * ||o||^2 = ||b||^2 + 2 <d, b> + ||d||^2 and <b, o> = ||b||^2 + <d, b> */
  r->delta_sq = v[0] * v[0];
  r->base_sq = v[1] * v[1];
  r->dot_delta_base = isnan (v[4]) ? 0.0 : v[4] * v[0] * v[1];
  r->other_sq = MAX (0.0, r->base_sq + 2.0 * r->dot_delta_base + r->delta_sq);
  r->dot_base_other = r->base_sq + r->dot_delta_base;
  return TRUE;
}

AtsWeightDiff *
ats_weight_diff_load_csv (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GArray) rows = NULL;
  g_autoptr (GHashTable) seen = NULL; /* "layer/kind" */
  gboolean       header = FALSE;
  AtsWeightDiff *diff;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;
  if (!g_utf8_validate (contents, -1, NULL))
    {
      csv_error (error, path, 1, "not a text file");
      return NULL;
    }
  lines = g_strsplit (contents, "\n", -1);
  rows = g_array_new (FALSE, TRUE, sizeof (AtsWeightDiffRow));
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
      guint lineno = i + 1;
      gsize len = strlen (line);
      g_auto (GStrv) fields = NULL;
      AtsWeightDiffRow r = { 0 };
      char            *key;

      if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
      if (i == 0 && g_str_has_prefix (line, "\xef\xbb\xbf")) /* a byte order mark */
        line += 3;
      if (!header)
        {
          if (!g_str_equal (line, CSV_HEADER))
            {
              g_autofree char *shown = g_strndup (line, 80);

              csv_error (error, path, lineno,
                         "not a weight diff CSV: the header must be “%s”, found “%s”", CSV_HEADER,
                         shown);
              return NULL;
            }
          header = TRUE;
          continue;
        }
      if (*line == '\0')
        continue;
      fields = g_strsplit (line, ",", -1);
      if (g_strv_length (fields) != CSV_N_COLUMNS)
        {
          csv_error (error, path, lineno, "%u columns, expected %d", g_strv_length (fields),
                     CSV_N_COLUMNS);
          return NULL;
        }
      if (!csv_parse_row (path, lineno, fields, &r, error))
        return NULL;
      key = g_strdup_printf ("%d/%d", r.layer, (int) r.kind);
      if (g_hash_table_contains (seen, key))
        {
          csv_error (error, path, lineno, "a second row for layer %d, kind %s", r.layer, fields[1]);
          g_free (key);
          return NULL;
        }
      g_hash_table_add (seen, key);
      g_array_append_val (rows, r);
    }
  if (!header)
    {
      csv_error (error, path, 1, "empty file, expected the header “%s”", CSV_HEADER);
      return NULL;
    }

  g_array_sort (rows, compare_rows);
  diff = g_new0 (AtsWeightDiff, 1);
  diff->n_rows = rows->len;
  for (guint i = 0; i < rows->len; i++)
    {
      const AtsWeightDiffRow *r = &g_array_index (rows, AtsWeightDiffRow, i);

      if (r->layer >= 0)
        diff->n_layers = MAX (diff->n_layers, (guint) r->layer + 1);
    }
  diff->rows = (AtsWeightDiffRow *) g_array_free (g_steal_pointer (&rows), FALSE);
  return diff;
}

float *
ats_weight_diff_get_layer_matrix (const AtsWeightDiff *diff, AtsWeightDiffMetric metric)
{
  gsize  n = (gsize) diff->n_layers * ATS_TENSOR_KIND_N;
  float *m = g_new (float, MAX (n, 1)); /* [n_layers, ATS_TENSOR_KIND_N] */

  for (gsize i = 0; i < n; i++)
    m[i] = NAN;
  for (guint i = 0; i < diff->n_rows; i++)
    {
      const AtsWeightDiffRow *r = &diff->rows[i];
      double                  v;

      if (r->layer < 0)
        continue;
      switch (metric)
        {
        case ATS_WEIGHT_DIFF_DELTA_L2:
          v = r->delta_l2;
          break;
        case ATS_WEIGHT_DIFF_RELATIVE:
          v = r->relative;
          break;
        case ATS_WEIGHT_DIFF_COS_OTHER_BASE:
          v = r->cos_other_base;
          break;
        case ATS_WEIGHT_DIFF_COS_DELTA_BASE:
        default:
          v = r->cos_delta_base;
          break;
        }
      m[(gsize) r->layer * ATS_TENSOR_KIND_N + r->kind] = (float) v;
    }
  return m;
}
