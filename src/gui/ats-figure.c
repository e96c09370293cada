/* ats-figure.c */
#include "ats-figure.h"

#include <math.h>

typedef enum
{
  FIGURE_HEATMAP,
  FIGURE_GRID,
  FIGURE_HEAT_MATRIX,
  FIGURE_PLOTS,
} FigureKind;

struct _AtsFigure
{
  FigureKind kind;
  double     width;
  double     height;
  char      *title;
  char      *footer;
  char      *description;
  char      *basename;
  char      *value_label;

  /* heatmap */
  AtsMatrix   *matrix;
  char       **labels;
  AtsColormap  cmap;
  AtsScaleKind scale_kind;
  double       vmin;
  double       vmax;

  /* grid */
  GPtrArray *maps; /* AtsMatrix* */
  guint      n_layers;
  guint      n_heads;

  /* heat matrix */
  float *values; /* [L, H] */

  /* plots */
  GPtrArray *plots; /* AtsPlot* */
};

static AtsFigure *
figure_new (FigureKind kind, const char *title, const char *footer)
{
  AtsFigure *figure = g_new0 (AtsFigure, 1);

  figure->kind = kind;
  figure->title = g_strdup (title);
  figure->footer = g_strdup (footer);
  figure->width = 560;
  figure->height = 520;
  figure->basename = g_strdup ("attnscope-figure");
  return figure;
}

AtsFigure *
ats_figure_new_heatmap (AtsMatrix         *matrix,
                        const char *const *labels,
                        AtsColormap        cmap,
                        AtsScaleKind       scale_kind,
                        double             vmin,
                        double             vmax,
                        const char        *title,
                        const char        *value_label,
                        const char        *footer)
{
  AtsFigure *figure;

  g_return_val_if_fail (matrix != NULL, NULL);

  figure = figure_new (FIGURE_HEATMAP, title, footer);
  figure->matrix = ats_matrix_ref (matrix);
  figure->labels = g_strdupv ((char **) labels);
  figure->cmap = cmap;
  figure->scale_kind = scale_kind;
  figure->vmin = vmin;
  figure->vmax = vmax;
  figure->value_label = g_strdup (value_label);
  return figure;
}

AtsFigure *
ats_figure_new_grid (GPtrArray  *maps,
                     guint       n_layers,
                     guint       n_heads,
                     AtsColormap cmap,
                     const char *title,
                     const char *footer)
{
  AtsFigure *figure;

  g_return_val_if_fail (maps != NULL && maps->len == n_layers * n_heads, NULL);

  figure = figure_new (FIGURE_GRID, title, footer);
  figure->maps = g_ptr_array_ref (maps);
  figure->n_layers = n_layers;
  figure->n_heads = n_heads;
  figure->cmap = cmap;
  figure->width = MAX (360, 40 + 90.0 * n_heads);
  figure->height = MAX (320, 110 + 90.0 * n_layers);
  return figure;
}

AtsFigure *
ats_figure_new_heat_matrix (AtsMetrics *metrics,
                            const char *metric,
                            AtsColormap cmap,
                            const char *title,
                            const char *footer)
{
  const AtsDiagResults *r;
  AtsFigure            *figure;

  g_return_val_if_fail (metrics != NULL, NULL);

  r = ats_metrics_get_results (metrics);
  figure = figure_new (FIGURE_HEAT_MATRIX, title, footer);
  figure->n_layers = r->n_layers;
  figure->n_heads = r->n_heads;
  figure->cmap = cmap;
  figure->value_label = g_strdup (metric);
  figure->values = g_new (float, (gsize) r->n_layers * r->n_heads); /* [L, H] */
  for (guint l = 0; l < r->n_layers; l++)
    for (guint h = 0; h < r->n_heads; h++)
      figure->values[l * r->n_heads + h] = ats_metrics_get_head (metrics, metric, l, h);
  figure->width = MAX (360, 120 + 48.0 * r->n_heads);
  figure->height = MAX (300, 110 + 32.0 * r->n_layers);
  return figure;
}

AtsFigure *
ats_figure_new_plots (GPtrArray *plots, const char *title)
{
  AtsFigure *figure;
  guint      cols, rows;

  g_return_val_if_fail (plots != NULL, NULL);

  figure = figure_new (FIGURE_PLOTS, title, NULL);
  figure->plots = g_ptr_array_ref (plots);
  cols = MIN (3, MAX (1, plots->len));
  rows = (plots->len + cols - 1) / cols;
  figure->width = 320.0 * cols;
  figure->height = 220.0 * MAX (1, rows);
  return figure;
}

void
ats_figure_free (AtsFigure *figure)
{
  if (figure == NULL)
    return;

  g_clear_pointer (&figure->matrix, ats_matrix_unref);
  g_clear_pointer (&figure->maps, g_ptr_array_unref);
  g_clear_pointer (&figure->plots, g_ptr_array_unref);
  g_strfreev (figure->labels);
  g_free (figure->values);
  g_free (figure->title);
  g_free (figure->footer);
  g_free (figure->description);
  g_free (figure->basename);
  g_free (figure->value_label);
  g_free (figure);
}

void
ats_figure_set_size (AtsFigure *figure, double width, double height)
{
  figure->width = width;
  figure->height = height;
}

void
ats_figure_get_size (AtsFigure *figure, double *width, double *height)
{
  *width = figure->width;
  *height = figure->height;
}

void
ats_figure_set_description (AtsFigure *figure, const char *description)
{
  g_free (figure->description);
  figure->description = g_strdup (description);
}

const char *
ats_figure_get_title (AtsFigure *figure)
{
  return figure->title;
}

void
ats_figure_set_basename (AtsFigure *figure, const char *basename)
{
  g_free (figure->basename);
  figure->basename = g_strdup (basename);
}

const char *
ats_figure_get_basename (AtsFigure *figure)
{
  return figure->basename;
}

void
ats_figure_draw (AtsFigure *figure, cairo_t *cr, double width, double height)
{
  switch (figure->kind)
    {
    case FIGURE_HEATMAP:
      {
        AtsHeatmap heatmap;

        ats_heatmap_init (&heatmap, figure->matrix->data, figure->matrix->n_rows,
                          figure->matrix->n_cols);
        heatmap.row_labels = (const char *const *) figure->labels;
        heatmap.title = figure->title;
        heatmap.footer = figure->footer;
        heatmap.colorbar_label = figure->value_label;
        heatmap.colormap = figure->cmap;
        heatmap.causal = figure->matrix->n_rows == figure->matrix->n_cols;
        heatmap.pooling =
            ats_colormap_is_diverging (figure->cmap) ? ATS_POOLING_MAX_ABS : ATS_POOLING_MAX;
        ats_scale_init (&heatmap.scale, figure->scale_kind);
        heatmap.scale.vmin = figure->vmin;
        heatmap.scale.vmax = figure->vmax;
        if (ats_colormap_is_diverging (figure->cmap) && isnan (figure->vmin) &&
            ats_matrix_get_abs_max (figure->matrix) == 0.0f)
          {
            heatmap.scale.vmin = -1.0;
            heatmap.scale.vmax = 1.0;
          }
        ats_heatmap_draw (&heatmap, cr, width, height);
        break;
      }

    case FIGURE_GRID:
      {
        g_autofree const float **maps = g_new0 (const float *, figure->maps->len);
        AtsHeatmapGrid           grid;
        int                      T = 0;

        for (guint i = 0; i < figure->maps->len; i++)
          {
            AtsMatrix *m = g_ptr_array_index (figure->maps, i);

            if (m == NULL)
              continue;
            if (T == 0)
              T = m->n_rows;
            if ((int) m->n_rows == T && (int) m->n_cols == T)
              maps[i] = m->data;
          }
        ats_heatmap_grid_init_overview (&grid, maps, figure->n_layers, figure->n_heads, MAX (T, 1));
        grid.title = figure->title;
        grid.footer = figure->footer;
        grid.colormap = figure->cmap;
        grid.per_map_range = TRUE;
        ats_heatmap_grid_draw (&grid, cr, width, height);
        break;
      }

    case FIGURE_HEAT_MATRIX:
      {
        AtsHeatMatrix matrix;

        ats_heat_matrix_init (&matrix, figure->values, figure->n_layers, figure->n_heads);
        matrix.row_title = "layer";
        matrix.col_title = "head";
        matrix.title = figure->title;
        matrix.footer = figure->footer;
        matrix.colorbar_label = figure->value_label;
        matrix.colormap = figure->cmap;
        matrix.scale.vmin = 0.0;
        matrix.scale.vmax = 1.0;
        matrix.annotate = figure->n_heads <= 16 && figure->n_layers <= 32;
        ats_heat_matrix_draw (&matrix, cr, width, height);
        break;
      }

    case FIGURE_PLOTS:
      {
        guint  n = figure->plots->len;
        guint  cols = MIN (3, MAX (1, n));
        guint  rows = (n + cols - 1) / cols;
        double cw = width / cols;
        double ch = height / MAX (1, rows);

        cairo_save (cr);
        cairo_set_source_rgb (cr, 1, 1, 1);
        cairo_paint (cr);
        cairo_restore (cr);
        for (guint i = 0; i < n; i++)
          {
            cairo_save (cr);
            cairo_translate (cr, (i % cols) * cw, (i / cols) * ch);
            cairo_rectangle (cr, 0, 0, cw, ch);
            cairo_clip (cr);
            ats_plot_draw (g_ptr_array_index (figure->plots, i), cr, cw, ch);
            cairo_restore (cr);
          }
        break;
      }
    }
}

static void
draw_func (cairo_t *cr, double width, double height, gpointer user_data)
{
  ats_figure_draw (user_data, cr, width, height);
}

gboolean
ats_figure_export (AtsFigure *figure, const char *path, AtsExportFormat format, GError **error)
{
  AtsExportMetadata meta = { 0 };

  g_return_val_if_fail (figure != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (format == ATS_EXPORT_FORMAT_AUTO && !ats_export_format_from_path (path, &format, error))
    return FALSE;

  meta.title = figure->title;
  meta.description = figure->description;
  return ats_export (path, format, figure->width, figure->height,
                     format == ATS_EXPORT_FORMAT_PNG ? 144 : 0, &meta, draw_func, figure, error);
}

GdkTexture *
ats_figure_to_texture (AtsFigure *figure, double dpi, GError **error)
{
  AtsExportMetadata meta = { 0 };
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (figure != NULL, NULL);

  meta.title = figure->title;
  meta.description = figure->description;
  bytes = ats_export_to_bytes (ATS_EXPORT_FORMAT_PNG, figure->width, figure->height, dpi, &meta,
                               draw_func, figure, error);
  if (bytes == NULL)
    return NULL;

  return gdk_texture_new_from_bytes (bytes, error);
}
