/* ats-cli-diff-figure.c — `attnscope-cli diff --out FIG`: where did the weights move, as a picture
 *
 * A heat matrix of one statistic of ats-weight-diff.h: rows are the blocks (layer 0 at the top)
 * plus, first, a "non-layer" row for the tensors outside the blocks (embeddings, LM head, final
 * norm) when the checkpoints have any; columns are the tensor kinds present, in the order q, k,
 * v, qkv, o, lazy, gate, up, down, norms, embeddings, other. Cells without such a tensor (or with
 * an undefined ratio) are grey. Values are printed in the cells when they fit.
 */
#include <math.h>
#include <string.h>

#include "ats-cli-figures.h"
#include "ats-cli.h"
#include "ats-render.h"

typedef struct
{
  const char         *name;
  AtsWeightDiffMetric metric;
  const char         *title;      /* figure title */
  const char         *label;      /* colorbar */
  const char         *meaning;    /* footer */
  const char         *format;     /* annotation */
  AtsColormap         colormap;   /* sequential, or diverging for signed values */
  double              vmin, vmax; /* fixed ends of the colour scale, NaN: from the data */
} DiffMetric;

static const DiffMetric diff_metrics[] = {
  { "rel", ATS_WEIGHT_DIFF_RELATIVE, "Relative weight change ‖other − base‖ / ‖base‖",
    "‖Δ‖ / ‖base‖", "rel = ‖other − base‖ / ‖base‖ over each group's elements (0: unchanged)",
    "%.3g", ATS_COLORMAP_VIRIDIS, 0.0, NAN },
  { "norm", ATS_WEIGHT_DIFF_DELTA_L2, "Weight change ‖other − base‖", "‖Δ‖",
    "norm = ‖other − base‖, the L2 norm of the delta over each group's elements", "%.3g",
    ATS_COLORMAP_VIRIDIS, 0.0, NAN },
  { "cos", ATS_WEIGHT_DIFF_COS_OTHER_BASE, "Cosine of other and base weights", "cos(other, base)",
    "cos = ⟨other, base⟩ / (‖other‖ ‖base‖): 1 = the weights kept their direction", "%.3f",
    ATS_COLORMAP_VIRIDIS, NAN, 1.0 },
  { "cos-delta", ATS_WEIGHT_DIFF_COS_DELTA_BASE, "Cosine of the weight change and base",
    "cos(Δ, base)",
    "cos-delta = ⟨other − base, base⟩ / (‖Δ‖ ‖base‖): > 0 the weights grew along themselves, "
    "< 0 they shrank",
    "%.2f", ATS_COLORMAP_RDBU, -1.0, 1.0 },
};

/* Column order of the kinds. */
static const AtsTensorKind kind_order[] = {
  ATS_TENSOR_KIND_Q,    ATS_TENSOR_KIND_K,    ATS_TENSOR_KIND_V,         ATS_TENSOR_KIND_QKV,
  ATS_TENSOR_KIND_O,    ATS_TENSOR_KIND_LAZY, ATS_TENSOR_KIND_GATE,      ATS_TENSOR_KIND_UP,
  ATS_TENSOR_KIND_DOWN, ATS_TENSOR_KIND_NORM, ATS_TENSOR_KIND_EMBEDDING, ATS_TENSOR_KIND_OTHER,
};
G_STATIC_ASSERT (G_N_ELEMENTS (kind_order) == ATS_TENSOR_KIND_N);

#define DIFF_DEFAULT_WIDTH 900

static const DiffMetric *
find_metric (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (diff_metrics); i++)
    if (g_str_equal (diff_metrics[i].name, name))
      return &diff_metrics[i];
  return NULL;
}

int
ats_cli_diff_figure_check (const AtsCliDiffFigure *figure)
{
  g_autoptr (GError) error = NULL;
  AtsExportFormat format;

  if (figure->metric != NULL && find_metric (figure->metric) == NULL)
    {
      ats_cli_fail ("diff: --metric must be rel, norm, cos or cos-delta, not \"%s\"",
                    figure->metric);
      return 2;
    }
  if (figure->out == NULL)
    {
      if (figure->metric != NULL || figure->title != NULL || figure->width != 0)
        {
          ats_cli_fail ("diff: --metric, --title and --width apply to the figure (--out FIG)");
          return 2;
        }
      return 0;
    }
  if (!ats_export_format_from_path (figure->out, &format, &error))
    {
      ats_cli_fail ("diff: %s", error->message);
      return 2;
    }
  if (figure->width != 0 && (figure->width < 100 || figure->width > 20000))
    {
      ats_cli_fail ("diff: --width must be between 100 and 20000 pixels");
      return 2;
    }
  if (!(figure->dpi > 0 && figure->dpi <= 2400))
    {
      ats_cli_fail ("diff: --dpi must be in (0, 2400]");
      return 2;
    }
  return 0;
}

static double
row_value (const AtsWeightDiffRow *r, AtsWeightDiffMetric metric)
{
  switch (metric)
    {
    case ATS_WEIGHT_DIFF_DELTA_L2:
      return r->delta_l2;
    case ATS_WEIGHT_DIFF_RELATIVE:
      return r->relative;
    case ATS_WEIGHT_DIFF_COS_OTHER_BASE:
      return r->cos_other_base;
    case ATS_WEIGHT_DIFF_COS_DELTA_BASE:
    default:
      return r->cos_delta_base;
    }
}

static void
draw_matrix_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heat_matrix_draw (data, cr, w, h);
}

int
ats_cli_diff_figure_write (const AtsCliDiffFigure *figure,
                           const AtsWeightDiff    *diff,
                           const char             *base_dir,
                           const char             *other_dir)
{
  g_autoptr (GError) error = NULL;
  const DiffMetric *dm = find_metric (figure->metric ? figure->metric : "rel");
  gboolean          present[ATS_TENSOR_KIND_N] = { FALSE };
  gboolean          outside = FALSE;
  guint             L = diff->n_layers;

  g_return_val_if_fail (dm != NULL, 2);
  for (guint i = 0; i < diff->n_rows; i++)
    {
      present[diff->rows[i].kind] = TRUE;
      outside |= diff->rows[i].layer < 0;
    }
  g_autoptr (GArray) cols = g_array_new (FALSE, FALSE, sizeof (AtsTensorKind));
  for (guint k = 0; k < G_N_ELEMENTS (kind_order); k++)
    if (present[kind_order[k]])
      g_array_append_val (cols, kind_order[k]);
  guint n_rows = L + (outside ? 1 : 0), n_cols = cols->len;
  if (n_rows == 0 || n_cols == 0)
    return ats_cli_fail ("diff: %s and %s have no tensors to compare", base_dir, other_dir);

  /* [n_rows, n_cols]: the non-layer row first, then layers 0..L-1 */
  g_autofree float *layers = ats_weight_diff_get_layer_matrix (diff, dm->metric); /* [L, KIND_N] */
  g_autofree float *values = g_new (float, (gsize) n_rows *n_cols);
  guint             r0 = outside ? 1 : 0;
  for (guint c = 0; c < n_cols; c++)
    {
      AtsTensorKind kind = g_array_index (cols, AtsTensorKind, c);
      if (outside)
        values[c] = NAN;
      for (guint l = 0; l < L; l++)
        values[(gsize) (r0 + l) * n_cols + c] = layers[(gsize) l * ATS_TENSOR_KIND_N + kind];
    }
  for (guint i = 0; outside && i < diff->n_rows; i++)
    {
      const AtsWeightDiffRow *r = &diff->rows[i];
      if (r->layer >= 0)
        continue;
      for (guint c = 0; c < n_cols; c++)
        if (g_array_index (cols, AtsTensorKind, c) == r->kind)
          values[c] = (float) row_value (r, dm->metric);
    }

  g_autoptr (GPtrArray) row_labels = g_ptr_array_new_with_free_func (g_free);
  if (outside)
    g_ptr_array_add (row_labels, g_strdup ("non-layer"));
  for (guint l = 0; l < L; l++)
    g_ptr_array_add (row_labels, g_strdup_printf ("%u", l));
  g_autoptr (GPtrArray) col_labels = g_ptr_array_new ();
  for (guint c = 0; c < n_cols; c++)
    g_ptr_array_add (col_labels,
                     (gpointer) ats_tensor_kind_to_string (g_array_index (cols, AtsTensorKind, c)));

  guint64 n_params = 0;
  double  delta_sq = 0, base_sq = 0;
  for (guint i = 0; i < diff->n_rows; i++)
    {
      n_params += diff->rows[i].n_params;
      delta_sq += diff->rows[i].delta_sq;
      base_sq += diff->rows[i].base_sq;
    }
  g_autofree char *footer = g_strdup_printf (
      "base: %s\nother: %s\nmetric: %s\nper layer and tensor kind, weights and biases together, "
      "float64 sums; whole model: %" G_GUINT64_FORMAT " parameters, ‖Δ‖ = %.4g, ‖Δ‖ / ‖base‖ = "
      "%.4g%s; grey: no such tensor or undefined",
      base_dir, other_dir, dm->meaning, n_params, sqrt (delta_sq),
      base_sq > 0 ? sqrt (delta_sq / base_sq) : NAN,
      outside ? "\nnon-layer: tensors outside the blocks (embeddings, LM head, final norm)" : "");
  g_autofree char *title = g_strdup (figure->title ? figure->title : dm->title);

  AtsHeatMatrix mx;
  ats_heat_matrix_init (&mx, values, n_rows, n_cols);
  mx.row_labels = (const char *const *) row_labels->pdata;
  mx.col_labels = (const char *const *) col_labels->pdata;
  mx.row_title = "layer";
  mx.col_title = "tensor kind";
  mx.title = title;
  mx.footer = footer;
  mx.colorbar_label = dm->label;
  mx.colormap = dm->colormap;
  mx.scale.vmin = dm->vmin;
  mx.scale.vmax = dm->vmax;
  mx.annotate = TRUE; /* the renderer leaves out values that do not fit their cell */
  mx.value_format = dm->format;

  double dpi = figure->dpi > 0 ? figure->dpi : 72.0;
  double width = (figure->width > 0 ? figure->width : DIFF_DEFAULT_WIDTH) * 72.0 / dpi;
  double height =
      CLAMP (width * 0.75 * n_rows / MAX (n_cols, 4u) + 0.3 * width, 0.45 * width, 3.0 * width);
  AtsExportFormat format;
  if (!ats_export_format_from_path (figure->out, &format, &error))
    return ats_cli_fail ("diff: %s", error->message);
  AtsExportMetadata meta = { .title = title, .description = footer };
  if (!ats_export (figure->out, format, width, height, dpi, &meta, draw_matrix_cb, &mx, &error))
    return ats_cli_fail ("%s", error->message);
  return 0;
}
