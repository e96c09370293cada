/* ats-cli-render.c — `attnscope-cli render`: figures of a capture file (PNG, SVG, PDF)
 *
 * Modes (one per call):
 *   --layer L --head H    one head's map (token labels when they fit, colorbar, provenance)
 *   --layer L / --grid L  every head of one layer
 *   --overview            layers x heads thumbnails
 *   --plot M[,M...]       per-layer line plot of diagnostics, several captures/runs overlaid
 *   --strip M             heat matrix of a per-head metric ([L, H]; sink_score: [H, T] of a layer)
 *   --diff F2 --layer L --head H   signed difference map F2 - FILE of the same prompt
 *
 * Everything is drawn by libattnscope-render and written by ats_export(), which renders in
 * memory and renames a temporary file into place, so a failure leaves no partial output.
 * Maps of more than RENDER_FULL_CELLS cells are pooled while they are read (same rule as the
 * renderer: contiguous blocks floor(i * P / T), max or mean of the visible cells), so a
 * 16k-token head never needs 1 GiB.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"
#include "ats-cli-figures.h"
#include "ats-cli.h"
#include "ats-render.h"

/* Above this many cells per head (8192^2: 256 MiB of float) a map is pooled at read time. */
#define RENDER_FULL_CELLS ((guint64) 8192 * 8192)
/* Above this many cells for all maps of a grid, they are pooled at read time. */
#define RENDER_GRID_CELLS ((guint64) 64 << 20)
/* Rows read at once while pooling. */
#define RENDER_BLOCK_BYTES (32u << 20)

typedef struct
{
  char           *path;
  AtsCaptureFile *file;
  char           *label; /* legend name */
} Input;

static void
input_clear (gpointer data)
{
  Input *in = data;
  if (in->file != NULL)
    ats_capture_file_close (in->file, NULL);
  g_free (in->path);
  g_free (in->label);
}

typedef struct
{
  /* output */
  char           *out;
  AtsExportFormat format;
  double          width_pt;
  double          dpi;
  char           *title;
  /* heatmap look */
  AtsColormap colormap;
  gboolean    colormap_set;
  AtsScale    scale;
  AtsPooling  pooling;
} RenderOptions;

static char *
excerpt (const char *text, guint max_chars)
{
  if (text == NULL)
    return g_strdup ("");
  g_autofree char *flat = g_strdup (text);
  g_strdelimit (flat, "\n\r\t", ' ');
  if (g_utf8_strlen (flat, -1) <= max_chars)
    return g_steal_pointer (&flat);
  g_autofree char *head = g_utf8_substring (flat, 0, max_chars - 1);
  return g_strconcat (head, "…", NULL);
}

static const char *
attention_name (const AtsCaptureModelInfo *mi)
{
  return mi->attention == ATS_ATTENTION_ELASTIC ? "Elastic-Softmax" : "softmax";
}

static const char *
dtype_name (const AtsCaptureRun *run)
{
  return run->attention_type == ATS_STORE_F16 ? "float16" : "float32";
}

/* "model SOURCE (arch, attention)" */
static char *
model_line (const AtsCaptureModelInfo *mi)
{
  return g_strdup_printf ("model %s (%s, %s, %u layers × %u heads)",
                          mi->source && *mi->source ? mi->source : "(unknown source)",
                          mi->architecture ? mi->architecture : "?", attention_name (mi),
                          mi->n_layers, mi->n_heads);
}

/* Default legend label of a capture: the model folder's name. */
static char *
default_label (const AtsCaptureModelInfo *mi, const char *path)
{
  if (mi->source != NULL && *mi->source != '\0')
    {
      g_autofree char *trimmed = g_strdup (mi->source);
      gsize            n = strlen (trimmed);
      while (n > 1 && trimmed[n - 1] == '/')
        trimmed[--n] = '\0';
      return g_path_get_basename (trimmed);
    }
  return g_path_get_basename (path);
}

static gboolean
check_run (Input *in, int run, AtsCaptureRun **out_run, GError **error)
{
  guint n_runs = ats_capture_file_get_n_runs (in->file);
  if (run < 0 || (guint) run >= n_runs)
    {
      g_autofree char *range = n_runs > 1 ? g_strdup_printf (", 0..%u", n_runs - 1)
                                          : g_strdup (n_runs == 1 ? ", run 0" : "");
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: no run %d (the capture has %u run%s%s)", in->path, run, n_runs,
                   n_runs == 1 ? "" : "s", range);
      return FALSE;
    }
  *out_run = ats_capture_file_get_run (in->file, run, error);
  return *out_run != NULL;
}

static gboolean
check_layer_head (Input *in, const AtsCaptureRun *run, int layer, int head, GError **error)
{
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (in->file);
  if (layer < 0 || (guint) layer >= mi->n_layers)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: no layer %d (the model has %u layers, 0..%u)", in->path, layer,
                   mi->n_layers, mi->n_layers - 1);
      return FALSE;
    }
  if (head != -1 && (head < 0 || (guint) head >= mi->n_heads))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: no head %d (the model has %u heads, 0..%u)", in->path, head, mi->n_heads,
                   mi->n_heads - 1);
      return FALSE;
    }
  if (run == NULL)
    return TRUE;
  if (!run->has_attention)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has no attention maps (captured with --no-maps); --plot and "
                   "--strip still work from its metrics",
                   in->path, run->index);
      return FALSE;
    }
  if (!run->stored_layers[layer] || (head >= 0 && !run->stored_heads[head]))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   head >= 0 ? "%s: run %u: the map of layer %d head %d was not stored "
                               "(capture --layers/--heads)"
                             : "%s: run %u: the maps of layer %d were not stored (capture "
                               "--layers)",
                   in->path, run->index, layer, head);
      return FALSE;
    }
  return TRUE;
}

/* Reads head (layer, head) as a [side, side] map: the whole map when T * T <= @max_cells,
 * otherwise pooled at read time to side = floor(sqrt(max_cells)) by the renderer's rule
 * (query/key i goes to cell floor(i * side / T); max, mean or max-|x| of the visible cells;
 * invisible cells j > i stay 0, the renderer masks them). */
static float *
read_head_pooled (AtsCaptureFile *file,
                  guint           run,
                  guint           layer,
                  guint           head,
                  guint           T,
                  guint64         max_cells,
                  AtsPooling      pooling,
                  guint          *out_side,
                  GError        **error)
{
  if ((guint64) T * T <= max_cells)
    {
      g_autofree float *map = g_new (float, (gsize) T *T); /* [T, T] */
      if (!ats_capture_file_read_rows (file, run, layer, head, 0, T, map, error))
        return NULL;
      *out_side = T;
      return g_steal_pointer (&map);
    }
  guint side = MAX (1u, (guint) sqrt ((double) max_cells));
  side = MIN (side, T);
  gsize             n = (gsize) side * side;
  g_autofree float *acc = g_new0 (float, n);   /* [side, side] */
  g_autofree guint *count = g_new0 (guint, n); /* [side, side] visible cells seen */
  g_autofree guint *cell = g_new (guint, T);   /* [T] index -> pooled cell */
  for (guint i = 0; i < T; i++)
    cell[i] = (guint) ((guint64) i * side / T);
  guint             block = MAX (1u, MIN (T, RENDER_BLOCK_BYTES / (sizeof (float) * T)));
  g_autofree float *rows = g_new (float, (gsize) block *T); /* [block, T] */
  for (guint r0 = 0; r0 < T; r0 += block)
    {
      guint nr = MIN (block, T - r0);
      if (!ats_capture_file_read_rows (file, run, layer, head, r0, nr, rows, error))
        return NULL;
      for (guint r = 0; r < nr; r++)
        {
          guint        i = r0 + r;
          const float *row = rows + (gsize) r * T;
          float       *out = acc + (gsize) cell[i] * side;
          guint       *cnt = count + (gsize) cell[i] * side;
          for (guint j = 0; j <= i; j++)
            {
              float v = row[j];
              guint q = cell[j];
              if (isnan (v))
                continue;
              if (cnt[q] == 0)
                out[q] = v;
              else if (pooling == ATS_POOLING_MEAN)
                out[q] += v;
              else if (pooling == ATS_POOLING_MAX_ABS)
                out[q] = fabsf (v) > fabsf (out[q]) ? v : out[q];
              else
                out[q] = MAX (out[q], v);
              cnt[q]++;
            }
        }
    }
  if (pooling == ATS_POOLING_MEAN)
    for (gsize k = 0; k < n; k++)
      if (count[k] > 0)
        acc[k] /= count[k];
  *out_side = side;
  return g_steal_pointer (&acc);
}

/* Pooled labels: a cell that stands for several tokens gets the first one's piece. */
static char **
pooled_labels (const AtsCaptureRun *run, guint side)
{
  if (side == run->n_tokens)
    return g_strdupv (run->pieces);
  return NULL; /* the renderer shows index ticks */
}

static void
draw_heatmap_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heatmap_draw (data, cr, w, h);
}

static gboolean
export_heatmap (const AtsHeatmap    *hm,
                const RenderOptions *o,
                double               height_pt,
                const char          *description,
                GError             **error)
{
  AtsExportMetadata meta = { .title = hm->title, .description = description };
  return ats_export (o->out, o->format, o->width_pt, height_pt, o->dpi, &meta, draw_heatmap_cb,
                     (gpointer) hm, error);
}

/* --- one head ------------------------------------------------------------------------- */

static int
render_head (Input *in, int run_index, int layer, int head, const RenderOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCaptureRun) run = NULL;
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (in->file);
  if (!check_run (in, run_index, &run, &error) || !check_layer_head (in, run, layer, head, &error))
    return ats_cli_fail ("%s", error->message);

  guint             T = run->n_tokens, side = 0;
  g_autofree float *map = read_head_pooled (in->file, run->index, layer, head, T, RENDER_FULL_CELLS,
                                            o->pooling, &side, &error);
  if (map == NULL)
    return ats_cli_fail ("%s", error->message);
  g_auto (GStrv) labels = pooled_labels (run, side);

  g_autofree char *model = model_line (mi);
  g_autofree char *prompt = excerpt (run->prompt, 90);
  g_autofree char *pooled =
      side != T ? g_strdup_printf ("\nread: %u × %u map pooled to %u × %u cells by %s pooling", T,
                                   T, side, side, o->pooling == ATS_POOLING_MEAN ? "mean" : "max")
                : g_strdup ("");
  g_autofree char *footer =
      g_strdup_printf ("%s\nrun %u · layer %d · head %d · %u tokens · %s\nprompt: \"%s\"%s", model,
                       run->index, layer, head, T, dtype_name (run), prompt, pooled);
  g_autofree char *title = o->title ? g_strdup (o->title)
                                    : g_strdup_printf ("Attention, layer %d head %d (%s)", layer,
                                                       head, attention_name (mi));
  AtsHeatmap       hm;
  ats_heatmap_init (&hm, map, side, side);
  hm.row_labels = (const char *const *) labels;
  hm.title = title;
  hm.footer = footer;
  hm.colormap = o->colormap;
  hm.scale = o->scale;
  hm.pooling = o->pooling;
  hm.mark_zeros = mi->attention == ATS_ATTENTION_ELASTIC;
  if (side != T)
    {
      hm.x_label = "key position j (pooled cells)";
      hm.y_label = "query position i (pooled cells)";
    }
  if (!export_heatmap (&hm, o, o->width_pt * 1.04, footer, &error))
    return ats_cli_fail ("%s", error->message);
  return 0;
}

/* --- grids ------------------------------------------------------------------------------ */

static void
draw_grid_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heatmap_grid_draw (data, cr, w, h);
}

/* @layer >= 0: every head of that layer; -1: every layer x head. */
static int
render_grid (Input *in, int run_index, int layer, const RenderOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCaptureRun) run = NULL;
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (in->file);
  if (!check_run (in, run_index, &run, &error))
    return ats_cli_fail ("%s", error->message);
  if (layer >= 0 && !check_layer_head (in, run, layer, -1, &error))
    return ats_cli_fail ("%s", error->message);
  if (layer < 0 && !run->has_attention)
    return ats_cli_fail ("%s: run %u has no attention maps (captured with --no-maps); --plot "
                         "and --strip still work from its metrics",
                         in->path, run->index);

  guint   L = mi->n_layers, H = mi->n_heads, T = run->n_tokens;
  guint   l0 = layer >= 0 ? (guint) layer : 0, l1 = layer >= 0 ? (guint) layer + 1 : L;
  guint   n_maps = (l1 - l0) * H;
  guint64 per_map = MIN ((guint64) T * T, MAX ((guint64) 64 * 64, RENDER_GRID_CELLS / n_maps));
  g_autoptr (GPtrArray) maps = g_ptr_array_new_with_free_func (g_free);
  guint side = T;
  for (guint l = l0; l < l1; l++)
    for (guint h = 0; h < H; h++)
      {
        float *m = NULL;
        if (run->stored_layers[l] && run->stored_heads[h])
          {
            m = read_head_pooled (in->file, run->index, l, h, T, per_map, o->pooling, &side,
                                  &error);
            if (m == NULL)
              return ats_cli_fail ("%s", error->message);
          }
        g_ptr_array_add (maps, m); /* NULL: not stored, drawn blank */
      }

  g_autofree char *model = model_line (mi);
  g_autofree char *prompt = excerpt (run->prompt, 90);
  g_autofree char *pooled =
      side != T
          ? g_strdup_printf ("\nread: each %u × %u map pooled to %u × %u cells by %s "
                             "pooling",
                             T, T, side, side, o->pooling == ATS_POOLING_MEAN ? "mean" : "max")
          : g_strdup ("");
  g_autofree char *where = layer >= 0 ? g_strdup_printf ("layer %d · all %u heads", layer, H)
                                      : g_strdup_printf ("all %u layers × %u heads", L, H);
  g_autofree char *footer =
      g_strdup_printf ("%s\nrun %u · %s · %u tokens · %s\nprompt: \"%s\"%s", model, run->index,
                       where, T, dtype_name (run), prompt, pooled);
  g_autofree char *title =
      o->title ? g_strdup (o->title)
      : layer >= 0
          ? g_strdup_printf ("Attention of every head, layer %d (%s)", layer, attention_name (mi))
          : g_strdup_printf ("Attention overview, layers × heads (%s)", attention_name (mi));
  AtsHeatmapGrid grid;
  guint          rows, cols;
  if (layer >= 0)
    {
      ats_heatmap_grid_init_layer (&grid, (const float *const *) maps->pdata, H, side);
      cols = (guint) ceil (sqrt ((double) H));
      rows = (H + cols - 1) / cols;
    }
  else
    {
      ats_heatmap_grid_init_overview (&grid, (const float *const *) maps->pdata, L, H, side);
      cols = H;
      rows = L;
    }
  grid.title = title;
  grid.footer = footer;
  grid.colormap = o->colormap;
  grid.scale = o->scale;
  grid.pooling = o->pooling;
  double height = CLAMP (0.84 * o->width_pt * rows / cols + 0.17 * o->width_pt, 0.4 * o->width_pt,
                         4.0 * o->width_pt);
  AtsExportMetadata meta = { .title = title, .description = footer };
  if (!ats_export (o->out, o->format, o->width_pt, height, o->dpi, &meta, draw_grid_cb, &grid,
                   &error))
    return ats_cli_fail ("%s", error->message);
  return 0;
}

/* --- difference map ------------------------------------------------------------------- */

static int
render_diff (Input *a, Input *b, int run_index, int layer, int head, const RenderOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCaptureRun) ra = NULL;
  g_autoptr (AtsCaptureRun) rb = NULL;
  if (!check_run (a, run_index, &ra, &error) || !check_layer_head (a, ra, layer, head, &error) ||
      !check_run (b, run_index, &rb, &error) || !check_layer_head (b, rb, layer, head, &error))
    return ats_cli_fail ("%s", error->message);
  guint T = ra->n_tokens;
  if (rb->n_tokens != T || memcmp (ra->ids, rb->ids, sizeof (gint32) * T) != 0)
    return ats_cli_fail ("--diff: run %d of %s and of %s are not the same prompt (%u and %u "
                         "tokens%s); a difference map needs the same token ids",
                         run_index, a->path, b->path, T, rb->n_tokens,
                         rb->n_tokens == T ? ", different ids" : "");

  guint             side_a = 0, side_b = 0;
  g_autofree float *ma = read_head_pooled (a->file, ra->index, layer, head, T, RENDER_FULL_CELLS,
                                           ATS_POOLING_MEAN, &side_a, &error);
  g_autofree float *mb =
      ma ? read_head_pooled (b->file, rb->index, layer, head, T, RENDER_FULL_CELLS,
                             ATS_POOLING_MEAN, &side_b, &error)
         : NULL;
  if (mb == NULL)
    return ats_cli_fail ("%s", error->message);
  /* [side, side] signed difference b - a (pooled by mean first when huge, so that the
   * difference is of like cells) */
  double max_abs = 0.0;
  for (gsize k = 0; k < (gsize) side_a * side_a; k++)
    {
      mb[k] -= ma[k];
      max_abs = MAX (max_abs, fabs (mb[k]));
    }
  g_auto (GStrv) labels = pooled_labels (ra, side_a);

  const AtsCaptureModelInfo *mia = ats_capture_file_get_model_info (a->file);
  const AtsCaptureModelInfo *mib = ats_capture_file_get_model_info (b->file);
  g_autofree char           *model_a = model_line (mia);
  g_autofree char           *model_b = model_line (mib);
  g_autofree char           *prompt = excerpt (ra->prompt, 90);
  g_autofree char           *footer =
      g_strdup_printf ("A = %s (%s)\nB = %s (%s)\nrun %d · layer %d · head %d · %u tokens · A %s, "
                       "B %s · max |B − A| "
                       "= %.3g%s\nprompt: \"%s\"",
                       a->label, model_a, b->label, model_b, run_index, layer, head, T,
                       dtype_name (ra), dtype_name (rb), max_abs,
                       side_a != T ? " (maps pooled at read time by mean pooling)" : "", prompt);
  g_autofree char *title =
      o->title ? g_strdup (o->title)
               : g_strdup_printf ("Attention difference B − A, layer %d head %d", layer, head);
  AtsHeatmap hm;
  ats_heatmap_init (&hm, mb, side_a, side_a);
  hm.row_labels = (const char *const *) labels;
  hm.title = title;
  hm.footer = footer;
  hm.colorbar_label = "attention weight B − A";
  hm.colormap = o->colormap_set ? o->colormap : ATS_COLORMAP_RDBU;
  hm.scale = o->scale;
  hm.pooling = ATS_POOLING_MAX_ABS;
  if (!export_heatmap (&hm, o, o->width_pt * 1.06, footer, &error))
    return ats_cli_fail ("%s", error->message);
  return 0;
}

/* --- metrics: plots and strips -------------------------------------------------------- */

/* Stored metrics of a run, with a message that says how to get them. */
static AtsDiagResults *
read_metrics (Input *in, guint run, GError **error)
{
  g_autoptr (AtsCaptureRun) info = NULL;
  if (!check_run (in, run, &info, error))
    return NULL;
  if (!info->has_metrics)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                   "%s: run %u has no metrics (captured with --no-diagnostics?); run "
                   "'attnscope-cli stats %s' first",
                   in->path, run, in->path);
      return NULL;
    }
  return ats_capture_file_read_run_metrics (in->file, run, error);
}

static const AtsDiagMetricInfo *
lookup_metric (const char *name, gboolean per_layer_only)
{
  const AtsDiagMetricInfo *m = ats_diag_metric_lookup (name);
  if (m != NULL && (!per_layer_only || m->shape == ATS_DIAG_SHAPE_LAYER_HEAD ||
                    m->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER))
    return m;
  guint                    n = 0;
  const AtsDiagMetricInfo *all = ats_diag_metrics_list (&n);
  g_autoptr (GString) names = g_string_new (NULL);
  for (guint i = 0; i < n; i++)
    if (!per_layer_only || all[i].shape == ATS_DIAG_SHAPE_LAYER_HEAD ||
        all[i].shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
      g_string_append_printf (names, "%s%s", names->len ? ", " : "", all[i].name);
  if (m != NULL)
    ats_cli_fail ("metric \"%s\" is per token; a per-layer plot takes one of: %s", name,
                  names->str);
  else
    ats_cli_fail ("unknown metric \"%s\"; known metrics: %s", name, names->str);
  return NULL;
}

/* Per-layer values of metric @m for one run: mean over heads and (sample) std over heads for
 * [L, H] metrics, or that head's value when @head >= 0; the values for [L+1] metrics. */
static guint
layer_series (const AtsDiagResults *r, const AtsDiagMetricInfo *m, int head, double *y, double *err)
{
  gsize         n = 0;
  gconstpointer data = ats_diag_results_get_metric (r, m->name, &n);
  guint         L = r->n_layers, H = r->n_heads;
  if (m->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
    {
      for (guint l = 0; l <= L; l++)
        {
          y[l] = m->is_int ? (((const gint32 *) data)[l] < 0 ? NAN : ((const gint32 *) data)[l])
                           : ((const float *) data)[l];
          err[l] = NAN;
        }
      return L + 1;
    }
  const float *v = data; /* [L, H] */
  for (guint l = 0; l < L; l++)
    {
      if (head >= 0)
        {
          y[l] = v[(gsize) l * H + head];
          err[l] = NAN;
          continue;
        }
      double sum = 0, sq = 0;
      guint  k = 0;
      for (guint h = 0; h < H; h++)
        if (!isnan (v[(gsize) l * H + h]))
          {
            sum += v[(gsize) l * H + h];
            k++;
          }
      double mean = k ? sum / k : NAN;
      for (guint h = 0; h < H; h++)
        if (!isnan (v[(gsize) l * H + h]))
          sq += (v[(gsize) l * H + h] - mean) * (v[(gsize) l * H + h] - mean);
      y[l] = mean;
      err[l] = k > 1 ? sqrt (sq / (k - 1)) : NAN;
    }
  return L;
}

static void
draw_plot_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_plot_draw (data, cr, w, h);
}

typedef enum
{
  RUNS_ONE,    /* --run N (default 0) */
  RUNS_EACH,   /* --runs SPEC: one series per run */
  RUNS_CORPUS, /* --corpus: mean over runs, band = std over runs */
} RunsMode;

static int
render_plot (GArray              *inputs,
             const char          *metric_spec,
             int                  run_index,
             RunsMode             mode,
             const char          *runs_spec,
             int                  head,
             const RenderOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) names = g_strsplit (metric_spec, ",", -1);
  g_autoptr (GPtrArray) metrics = g_ptr_array_new ();
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_strstrip (names[i]);
      const AtsDiagMetricInfo *m = lookup_metric (names[i], TRUE);
      if (m == NULL)
        return 1;
      g_ptr_array_add (metrics, (gpointer) m);
    }
  if (metrics->len == 0)
    return ats_cli_fail ("--plot: no metric named");

  const AtsDiagMetricInfo *m0 = g_ptr_array_index (metrics, 0);
  gboolean                 ours = FALSE;
  for (guint i = 0; i < metrics->len; i++)
    ours |= ((const AtsDiagMetricInfo *) g_ptr_array_index (metrics, i))->ours;
  g_autofree char *ylabel = metrics->len == 1
                                ? g_strdup_printf ("%s%s", m0->name, m0->ours ? " (ours)" : "")
                                : g_strdup_printf ("value%s", ours ? " (* ours)" : "");
  const char *agg = head >= 0 ? "" : " — attention metrics: mean over heads, band ± std over heads";
  if (mode == RUNS_CORPUS)
    agg = " — mean over runs of the mean over heads, band ± std over runs";
  g_autofree char *head_part = head >= 0 ? g_strdup_printf (", head %d", head) : g_strdup ("");
  g_autofree char *joined = g_strjoinv (", ", names);
  g_autofree char *title =
      o->title ? g_strdup (o->title) : g_strdup_printf ("%s per layer%s", joined, head_part);
  g_autoptr (AtsPlot) plot = ats_plot_new_per_layer (title, ylabel);
  g_autoptr (GString) footer = g_string_new (NULL);
  gboolean hidden = FALSE;
  for (guint i = 0; i < metrics->len; i++)
    hidden |= ((const AtsDiagMetricInfo *) g_ptr_array_index (metrics, i))->shape ==
              ATS_DIAG_SHAPE_HIDDEN_LAYER;
  g_string_append_printf (footer, "layer: attention layer l%s%s",
                          hidden ? " (hidden-state metrics: residual stream entering layer l; "
                                   "last = after the last layer)"
                                 : "",
                          agg);

  for (guint f = 0; f < inputs->len; f++)
    {
      Input                     *in = &g_array_index (inputs, Input, f);
      const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (in->file);
      guint                      n_runs = ats_capture_file_get_n_runs (in->file);
      g_autofree gboolean       *mask = NULL;
      if (head >= 0 && (guint) head >= mi->n_heads)
        return ats_cli_fail ("%s: no head %d (the model has %u heads, 0..%u)", in->path, head,
                             mi->n_heads, mi->n_heads - 1);
      if (n_runs == 0)
        return ats_cli_fail ("%s: the capture has no runs", in->path);
      if (mode == RUNS_EACH)
        {
          mask = ats_cli_parse_index_spec (runs_spec, n_runs, "runs", &error);
          if (mask == NULL)
            return ats_cli_fail ("%s: %s", in->path, error->message);
        }
      else if (mode == RUNS_CORPUS)
        {
          mask = g_new (gboolean, n_runs);
          for (guint r = 0; r < n_runs; r++)
            mask[r] = TRUE;
        }
      else
        {
          if (run_index < 0 || (guint) run_index >= n_runs)
            return ats_cli_fail ("%s: no run %d (the capture has %u run%s)", in->path, run_index,
                                 n_runs, n_runs == 1 ? "" : "s");
          mask = g_new0 (gboolean, n_runs);
          mask[run_index] = TRUE;
        }
      g_autoptr (GPtrArray) results =
          g_ptr_array_new_with_free_func ((GDestroyNotify) ats_diag_results_free);
      g_autoptr (GArray) run_ids = g_array_new (FALSE, FALSE, sizeof (guint));
      for (guint r = 0; r < n_runs; r++)
        {
          if (!mask[r])
            continue;
          g_autoptr (AtsCaptureRun) info = ats_capture_file_get_run (in->file, r, &error);
          if (info == NULL)
            return ats_cli_fail ("%s", error->message);
          if (!info->complete && mode == RUNS_CORPUS)
            continue; /* an interrupted run has no final metrics */
          AtsDiagResults *res = read_metrics (in, r, &error);
          if (res == NULL)
            return ats_cli_fail ("%s", error->message);
          g_ptr_array_add (results, res);
          g_array_append_val (run_ids, r);
        }
      if (results->len == 0)
        return ats_cli_fail ("%s: no complete run with metrics", in->path);

      guint              L = mi->n_layers;
      g_autofree double *x = g_new (double, L + 1);
      g_autofree double *y = g_new (double, L + 1);
      g_autofree double *err = g_new (double, L + 1);
      for (guint l = 0; l <= L; l++)
        x[l] = l;
      for (guint k = 0; k < metrics->len; k++)
        {
          const AtsDiagMetricInfo *m = g_ptr_array_index (metrics, k);
          g_autofree char *base = metrics->len > 1 ? g_strdup_printf ("%s: %s", in->label, m->name)
                                                   : g_strdup (in->label);
          if (mode == RUNS_CORPUS && results->len > 1)
            {
              g_autoptr (AtsDiagSummary) sum = ats_diag_results_summarize (
                  (AtsDiagResults *const *) results->pdata, results->len, &error);
              if (sum == NULL)
                return ats_cli_fail ("%s: %s", in->path, error->message);
              const AtsDiagSummaryMetric *sm = ats_diag_summary_get (sum, m->name);
              guint                       n = m->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER ? L + 1 : L;
              for (guint l = 0; l < n; l++)
                {
                  if (head >= 0 && m->shape == ATS_DIAG_SHAPE_LAYER_HEAD)
                    {
                      y[l] = sm->mean[(gsize) l * mi->n_heads + head];
                      err[l] = sm->std[(gsize) l * mi->n_heads + head];
                    }
                  else
                    {
                      y[l] = sm->layer_mean[l];
                      err[l] = sm->layer_std[l];
                    }
                }
              g_autofree char *name = g_strdup_printf ("%s (%u runs)", base, results->len);
              guint            s = ats_plot_add_series (plot, name, x, y, n);
              ats_plot_set_series_error (plot, s, err);
              continue;
            }
          for (guint i = 0; i < results->len; i++)
            {
              guint            n = layer_series (g_ptr_array_index (results, i), m, head, y, err);
              g_autofree char *name =
                  mode == RUNS_EACH
                      ? g_strdup_printf ("%s, run %u", base, g_array_index (run_ids, guint, i))
                      : g_strdup (base);
              guint s = ats_plot_add_series (plot, name, x, y, n);
              ats_plot_set_series_error (plot, s, err);
            }
        }
      g_autofree char *model = model_line (mi);
      g_autofree char *runs_text =
          mode == RUNS_ONE
              ? g_strdup_printf ("run %d", run_index)
              : g_strdup_printf ("%u run%s", results->len, results->len == 1 ? "" : "s");
      AtsDiagResults *first = g_ptr_array_index (results, 0);
      g_string_append_printf (footer, "\n%s = %s · %s · eps %g", in->label, model, runs_text,
                              first->params.sink_eps);
      if (mode == RUNS_ONE)
        {
          g_autoptr (AtsCaptureRun) info = ats_capture_file_get_run (in->file, run_index, NULL);
          g_autofree char *prompt = excerpt (info ? info->prompt : NULL, 60);
          g_string_append_printf (footer, " · prompt \"%s\"", prompt);
        }
    }
  if (ours)
    g_string_append (footer, "\n(ours): attnscope's operational definition, see the README");
  ats_plot_set_footer (plot, footer->str);
  AtsExportMetadata meta = { .title = title, .description = footer->str };
  if (!ats_export (o->out, o->format, o->width_pt, o->width_pt * 0.66, o->dpi, &meta, draw_plot_cb,
                   plot, &error))
    return ats_cli_fail ("%s", error->message);
  return 0;
}

static void
draw_matrix_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heat_matrix_draw (data, cr, w, h);
}

/* [L, H] metrics as a layers x heads matrix; sink_score as heads x tokens of --layer;
 * variance_footprint / massive_max_abs as (L+1) x tokens. */
static int
render_strip (Input               *in,
              const char          *metric,
              int                  run_index,
              gboolean             corpus,
              int                  layer,
              const RenderOptions *o)
{
  g_autoptr (GError) error = NULL;
  const AtsDiagMetricInfo *m = ats_diag_metric_lookup (metric);
  if (m == NULL)
    {
      lookup_metric (metric, FALSE); /* prints the error with the known names */
      return 1;
    }
  if (m->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
    return ats_cli_fail ("--strip: %s is one value per layer; use --plot %s", metric, metric);
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (in->file);
  guint L = mi->n_layers, H = mi->n_heads, n_runs = ats_capture_file_get_n_runs (in->file);
  if (corpus && m->shape != ATS_DIAG_SHAPE_LAYER_HEAD)
    return ats_cli_fail ("--corpus: %s is per token (runs have different lengths); give --run",
                         metric);
  if (m->shape == ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN && layer < 0)
    return ats_cli_fail ("--strip %s needs --layer L (it is drawn as heads × tokens)", metric);
  if (layer >= 0 && (guint) layer >= L)
    return ats_cli_fail ("%s: no layer %d (the model has %u layers, 0..%u)", in->path, layer, L,
                         L - 1);

  g_autoptr (AtsDiagResults) res = NULL;
  g_autoptr (AtsDiagSummary) sum = NULL;
  g_autoptr (AtsCaptureRun) run = NULL;
  g_autofree float *values = NULL;
  g_auto (GStrv) col_labels = NULL;
  int         rows, cols;
  const char *row_title, *col_title;
  guint       used_runs = 0;
  if (corpus)
    {
      g_autoptr (GPtrArray) all =
          g_ptr_array_new_with_free_func ((GDestroyNotify) ats_diag_results_free);
      for (guint r = 0; r < n_runs; r++)
        {
          g_autoptr (AtsCaptureRun) info = ats_capture_file_get_run (in->file, r, &error);
          if (info == NULL)
            return ats_cli_fail ("%s", error->message);
          if (!info->complete)
            continue;
          AtsDiagResults *x = read_metrics (in, r, &error);
          if (x == NULL)
            return ats_cli_fail ("%s", error->message);
          g_ptr_array_add (all, x);
        }
      if (all->len == 0)
        return ats_cli_fail ("%s: no complete run with metrics", in->path);
      used_runs = all->len;
      sum = ats_diag_results_summarize ((AtsDiagResults *const *) all->pdata, all->len, &error);
      if (sum == NULL)
        return ats_cli_fail ("%s: %s", in->path, error->message);
      const AtsDiagSummaryMetric *sm = ats_diag_summary_get (sum, metric);
      values = g_new (float, (gsize) L *H);
      memcpy (values, sm->mean, sizeof (float) * L * H);
      rows = L;
      cols = H;
      row_title = "layer";
      col_title = "head";
    }
  else
    {
      if (!check_run (in, run_index, &run, &error))
        return ats_cli_fail ("%s", error->message);
      res = read_metrics (in, run->index, &error);
      if (res == NULL)
        return ats_cli_fail ("%s", error->message);
      const float *src = ats_diag_results_get_metric (res, metric, NULL);
      guint        T = run->n_tokens;
      switch (m->shape)
        {
        case ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN: /* [H, T] of one layer */
          rows = H;
          cols = T;
          values = g_memdup2 (src + (gsize) layer * H * T, sizeof (float) * H * T);
          row_title = "head";
          col_title = "key token";
          break;
        case ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN: /* [L+1, T] */
          rows = L + 1;
          cols = T;
          values = g_memdup2 (src, sizeof (float) * (L + 1) * T);
          row_title = "layer";
          col_title = "token";
          break;
        case ATS_DIAG_SHAPE_LAYER_HEAD:
        case ATS_DIAG_SHAPE_HIDDEN_LAYER:
        default:
          rows = L;
          cols = H;
          values = g_memdup2 (src, sizeof (float) * L * H);
          row_title = "layer";
          col_title = "head";
          break;
        }
      if (cols == (int) T)
        col_labels = g_strdupv (run->pieces);
    }

  g_autofree char *model = model_line (mi);
  g_autofree char *prompt = run ? excerpt (run->prompt, 80) : NULL;
  g_autofree char *what = corpus ? g_strdup_printf ("mean over %u runs", used_runs)
                                 : g_strdup_printf ("run %u · %u tokens · eps %g", run->index,
                                                    run->n_tokens, res->params.sink_eps);
  g_autofree char *prompt_line =
      prompt ? g_strdup_printf ("\nprompt: \"%s\"", prompt) : g_strdup ("");
  g_autofree char *footer =
      g_strdup_printf ("%s · %s%s\n%s: %s", model, what, prompt_line, metric, m->description);
  g_autofree char *layer_part = m->shape == ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN
                                    ? g_strdup_printf (", layer %d", layer)
                                    : g_strdup ("");
  g_autofree char *title = o->title
                               ? g_strdup (o->title)
                               : g_strdup_printf ("%s%s%s (%s)", metric, m->ours ? " (ours)" : "",
                                                  layer_part, attention_name (mi));
  AtsHeatMatrix    mx;
  ats_heat_matrix_init (&mx, values, rows, cols);
  mx.row_title = row_title;
  mx.col_title = col_title;
  mx.col_labels = (const char *const *) col_labels;
  mx.title = title;
  mx.footer = footer;
  mx.colorbar_label = metric;
  mx.colormap = o->colormap;
  mx.scale = o->scale;
  mx.annotate = rows * cols <= 400;
  mx.value_format = "%.2f";
  double aspect = (double) rows / cols;
  double height = CLAMP (o->width_pt * aspect * 0.85 + 0.22 * o->width_pt, 0.35 * o->width_pt,
                         3.0 * o->width_pt);
  AtsExportMetadata meta = { .title = title, .description = footer };
  if (!ats_export (o->out, o->format, o->width_pt, height, o->dpi, &meta, draw_matrix_cb, &mx,
                   &error))
    return ats_cli_fail ("%s", error->message);
  return 0;
}

/* --- main ----------------------------------------------------------------------------- */

static gboolean
open_input (GArray *inputs, const char *path, const char *label, GError **error)
{
  Input in = { 0 };
  in.file = ats_capture_file_open (path, FALSE, error);
  if (in.file == NULL)
    return FALSE;
  in.path = g_strdup (path);
  in.label =
      label ? g_strdup (label) : default_label (ats_capture_file_get_model_info (in.file), path);
  g_array_append_val (inputs, in);
  return TRUE;
}

int
ats_cli_render_main (int argc, char **argv)
{
  g_autofree char *out = NULL, *format_name = NULL, *cmap_name = NULL, *scale_name = NULL;
  g_autofree char *pool_name = NULL, *title = NULL, *plot = NULL, *strip = NULL, *diff = NULL;
  g_autofree char *runs_spec = NULL;
  g_auto (GStrv) labels = NULL;
  int      run_index = 0, layer = -1, head = -1, grid = -1, width = 0;
  double   gamma = NAN, vmin = NAN, vmax = NAN, dpi = 72.0;
  gboolean overview = FALSE, corpus = FALSE;

  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output figure (.png, .svg or .pdf)", "FILE" },
    { "format", 0, 0, G_OPTION_ARG_STRING, &format_name,
      "png, svg or pdf (default: from the file name)", "FMT" },
    { "run", 'r', 0, G_OPTION_ARG_INT, &run_index, "Run (prompt) to draw (default 0)", "N" },
    { "layer", 'l', 0, G_OPTION_ARG_INT, &layer,
      "Layer; with --head one map, alone every head of the layer", "L" },
    { "head", 'H', 0, G_OPTION_ARG_INT, &head, "Head (with --layer; with --plot: that head only)",
      "H" },
    { "grid", 'g', 0, G_OPTION_ARG_INT, &grid, "Every head of layer L (same as --layer L alone)",
      "L" },
    { "overview", 0, 0, G_OPTION_ARG_NONE, &overview, "Thumbnails of every layer x head", NULL },
    { "plot", 'p', 0, G_OPTION_ARG_STRING, &plot,
      "Per-layer line plot of diagnostics (comma-separated); further FILE.h5 arguments are "
      "overlaid",
      "METRIC[,METRIC]" },
    { "label", 0, 0, G_OPTION_ARG_STRING_ARRAY, &labels,
      "Legend name of each capture, in order (repeat; default: the model folder's name)", "NAME" },
    { "runs", 0, 0, G_OPTION_ARG_STRING, &runs_spec,
      "--plot: one series per run of these runs (e.g. 0-3 or all)", "SPEC" },
    { "corpus", 0, 0, G_OPTION_ARG_NONE, &corpus,
      "--plot/--strip: mean over every complete run (plot band: std over runs)", NULL },
    { "strip", 's', 0, G_OPTION_ARG_STRING, &strip,
      "Heat matrix of a per-head metric: layers x heads ([L, H] metrics), heads x tokens "
      "(sink_score, with --layer), layers x tokens (variance_footprint, massive_max_abs)",
      "METRIC" },
    { "diff", 'd', 0, G_OPTION_ARG_FILENAME, &diff,
      "Signed difference map F2 - FILE of one head (same prompt, --layer and --head)", "F2.h5" },
    { "colormap", 'c', 0, G_OPTION_ARG_STRING, &cmap_name,
      "viridis (default), magma, cividis, grey, rdbu", "NAME" },
    { "cmap", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &cmap_name, "Same as --colormap",
      "NAME" },
    { "scale", 0, 0, G_OPTION_ARG_STRING, &scale_name, "linear (default), log or power", "KIND" },
    { "gamma", 0, 0, G_OPTION_ARG_DOUBLE, &gamma, "Exponent of --scale power (default 0.5)", "G" },
    { "vmin", 0, 0, G_OPTION_ARG_DOUBLE, &vmin, "Colour scale minimum (default: data)", "V" },
    { "vmax", 0, 0, G_OPTION_ARG_DOUBLE, &vmax, "Colour scale maximum (default: data)", "V" },
    { "pool", 0, 0, G_OPTION_ARG_STRING, &pool_name,
      "Downsampling of maps larger than the image: max (default; keeps sink columns) or mean",
      "max|mean" },
    { "width", 'w', 0, G_OPTION_ARG_INT, &width,
      "Figure width in pixels at --dpi (default 1000; plots 900)", "PX" },
    { "dpi", 0, 0, G_OPTION_ARG_DOUBLE, &dpi,
      "Resolution: SVG/PDF pages are WIDTH x 72 / DPI points wide (default 72)", "DPI" },
    { "title", 't', 0, G_OPTION_ARG_STRING, &title, "Figure title (default: what is shown)",
      "TEXT" },
    { NULL }
  };
  if (ats_cli_render_sweep_applies (argc, argv)) /* ats-cli-render-sweep.c */
    return ats_cli_render_sweep_main (argc, argv);

  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("FILE.h5 [FILE2.h5 ...] - draw figures of a capture");
  g_option_context_set_summary (
      ctx,
      "Draws attention maps and diagnostics of a capture file to PNG, SVG or PDF:\n"
      "  --layer L --head H     one head (token labels when they fit, causal triangle grey)\n"
      "  --layer L | --grid L   every head of a layer\n"
      "  --overview             every layer x head\n"
      "  --plot METRIC [F2 ...] per-layer plot of stored diagnostics, captures overlaid\n"
      "  --strip METRIC         heat matrix of a per-head metric\n"
      "  --diff F2 --layer L --head H   signed difference F2 - FILE (diverging colormap)\n"
      "  SWEEP.h5 --plot METRIC diagnostics against alpha/lambda of a sweep file (--per-layer,\n"
      "                         --json; 'render --sweep --help')\n"
      "Maps larger than the image are downsampled by max pooling (mean with --pool mean), so a\n"
      "sink column never vanishes; the footer states the rule and the provenance (model, run,\n"
      "layer, head, prompt, dtype). Plots and strips use the metrics stored in the file (write\n"
      "them with 'attnscope-cli stats'). Metrics marked (ours) are attnscope's operational\n"
      "definitions. The figure is written completely or not at all.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("render: %s", error->message);
      return 2;
    }
  if (argc < 2)
    {
      ats_cli_fail ("render: give a capture file (see --help)");
      return 2;
    }
  if (out == NULL)
    {
      ats_cli_fail ("render: --out FILE.(png|svg|pdf) is required");
      return 2;
    }
  if (grid >= 0)
    {
      if (layer >= 0 && layer != grid)
        {
          ats_cli_fail ("render: --grid %d and --layer %d disagree", grid, layer);
          return 2;
        }
      layer = grid;
    }
  int n_modes = (plot != NULL) + (strip != NULL) + (diff != NULL) + overview +
                (plot == NULL && strip == NULL && diff == NULL && !overview && layer >= 0);
  if (n_modes != 1)
    {
      ats_cli_fail ("render: choose one of --layer L [--head H], --overview, --plot, --strip, "
                    "--diff");
      return 2;
    }
  if (argc > 2 && plot == NULL)
    {
      ats_cli_fail ("render: several capture files are only taken by --plot");
      return 2;
    }
  if (diff != NULL && (layer < 0 || head < 0))
    {
      ats_cli_fail ("render: --diff needs --layer L and --head H");
      return 2;
    }
  if ((runs_spec != NULL || corpus) && plot == NULL && strip == NULL)
    {
      ats_cli_fail ("render: --runs and --corpus apply to --plot and --strip");
      return 2;
    }
  if (runs_spec != NULL && corpus)
    {
      ats_cli_fail ("render: --runs and --corpus exclude each other");
      return 2;
    }
  if (runs_spec != NULL && strip != NULL)
    {
      ats_cli_fail ("render: --runs applies to --plot");
      return 2;
    }
  if (run_index < 0 || width < 0 || !(dpi > 0 && dpi <= 2400))
    {
      ats_cli_fail ("render: --run and --width must be >= 0 and --dpi in (0, 2400]");
      return 2;
    }
  if (labels != NULL && g_strv_length (labels) > (guint) argc - 1)
    {
      ats_cli_fail ("render: %u --label for %d capture file%s", g_strv_length (labels), argc - 1,
                    argc == 2 ? "" : "s");
      return 2;
    }

  RenderOptions o = { 0 };
  o.out = out;
  o.dpi = dpi;
  o.title = title;
  o.colormap = ATS_COLORMAP_VIRIDIS;
  o.pooling = ATS_POOLING_MAX;
  ats_scale_init (&o.scale, ATS_SCALE_LINEAR);
  if (format_name != NULL ? !ats_export_format_from_string (format_name, &o.format, &error)
                          : !ats_export_format_from_path (out, &o.format, &error))
    {
      ats_cli_fail ("render: %s", error->message);
      return 2;
    }
  if (cmap_name != NULL)
    {
      if (!ats_colormap_from_string (cmap_name, &o.colormap, &error))
        {
          ats_cli_fail ("render: --colormap: %s", error->message);
          return 2;
        }
      o.colormap_set = TRUE;
    }
  if (scale_name != NULL)
    {
      AtsScaleKind kind;
      if (!ats_scale_kind_from_string (scale_name, &kind, &error))
        {
          ats_cli_fail ("render: --scale: %s", error->message);
          return 2;
        }
      ats_scale_init (&o.scale, kind);
    }
  if (!isnan (gamma))
    {
      if (!(gamma > 0))
        {
          ats_cli_fail ("render: --gamma must be > 0");
          return 2;
        }
      o.scale.gamma = gamma;
    }
  o.scale.vmin = vmin;
  o.scale.vmax = vmax;
  if (pool_name != NULL)
    {
      if (g_str_equal (pool_name, "mean"))
        o.pooling = ATS_POOLING_MEAN;
      else if (!g_str_equal (pool_name, "max"))
        {
          ats_cli_fail ("render: --pool must be max or mean, not \"%s\"", pool_name);
          return 2;
        }
    }
  if (width == 0)
    width = plot != NULL ? 900 : 1000;
  if (width < 100 || width > 20000)
    {
      ats_cli_fail ("render: --width must be between 100 and 20000 pixels");
      return 2;
    }
  o.width_pt = width * 72.0 / dpi;

  g_autoptr (GArray) inputs = g_array_new (FALSE, TRUE, sizeof (Input));
  g_array_set_clear_func (inputs, input_clear);
  guint n_labels = labels ? g_strv_length (labels) : 0;
  for (int i = 1; i < argc; i++)
    if (!open_input (inputs, argv[i], (guint) i - 1 < n_labels ? labels[i - 1] : NULL, &error))
      return ats_cli_fail ("%s", error->message);
  if (diff != NULL && !open_input (inputs, diff, n_labels > 1 ? labels[1] : NULL, &error))
    return ats_cli_fail ("%s", error->message);
  /* the same model twice in a comparison: tell the series apart by file name */
  for (guint i = 0; i < inputs->len; i++)
    for (guint j = i + 1; j < inputs->len; j++)
      {
        Input *a = &g_array_index (inputs, Input, i), *b = &g_array_index (inputs, Input, j);
        if (g_str_equal (a->label, b->label) && (guint) n_labels <= j)
          {
            g_free (b->label);
            b->label = g_path_get_basename (b->path);
          }
      }

  Input *first = &g_array_index (inputs, Input, 0);
  if (plot != NULL)
    return render_plot (inputs, plot, run_index,
                        corpus      ? RUNS_CORPUS
                        : runs_spec ? RUNS_EACH
                                    : RUNS_ONE,
                        runs_spec, head, &o);
  if (strip != NULL)
    return render_strip (first, strip, run_index, corpus, layer, &o);
  if (diff != NULL)
    return render_diff (first, &g_array_index (inputs, Input, 1), run_index, layer, head, &o);
  if (overview)
    return render_grid (first, run_index, -1, &o);
  if (head >= 0)
    return render_head (first, run_index, layer, head, &o);
  return render_grid (first, run_index, layer, &o);
}
