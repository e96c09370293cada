/* ats-lazy-figures.c — tau map and distance-bias curves of a Lazy Attention model */
#include <math.h>

#include "ats-lazy-figures.h"
#include "ats-plot.h"
#include "ats-render-private.h"

void
ats_lazy_figure_init (AtsLazyFigure *fig,
                      const float   *tau,
                      const float   *bias,
                      int            n_layers,
                      int            n_heads,
                      int            bias_window)
{
  g_return_if_fail (fig != NULL);

  *fig = (AtsLazyFigure){ 0 };
  fig->tau = tau;
  fig->bias = bias;
  fig->n_layers = n_layers;
  fig->n_heads = n_heads;
  fig->bias_window = bias_window;
  fig->colormap = ATS_COLORMAP_VIRIDIS;
}

void
ats_lazy_figure_layer_tau (const AtsLazyFigure *fig, double *mean, double *std)
{
  g_return_if_fail (fig != NULL && fig->tau != NULL && mean != NULL && std != NULL);

  for (int l = 0; l < fig->n_layers; l++)
    {
      const float *row = fig->tau + (gsize) l * fig->n_heads; /* [H] */
      double       sum = 0.0, sq = 0.0;

      for (int h = 0; h < fig->n_heads; h++)
        sum += row[h];
      mean[l] = sum / fig->n_heads;
      for (int h = 0; h < fig->n_heads; h++)
        sq += (row[h] - mean[l]) * (row[h] - mean[l]);
      std[l] = sqrt (sq / fig->n_heads);
    }
}

/* Title on top and footer below: returns the body rectangle between them. */
static void
draw_frame (const AtsLazyFigure *fig,
            cairo_t             *cr,
            double               W,
            double               H,
            double              *body_y,
            double              *body_h)
{
  double fs = _ats_base_font_size (W, H);
  double margin = fs * 0.9;
  double top, footer_h;

  cairo_rectangle (cr, 0, 0, W, H);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);
  top = _ats_draw_title (cr, fig->title, W, margin, fs * 1.15);
  footer_h = _ats_footer_height (fig->footer, fs * 0.72);
  _ats_draw_footer (cr, fig->footer, W, H, margin, fs * 0.72);
  *body_y = top;
  *body_h = MAX (1.0, H - top - footer_h - (footer_h > 0 ? margin : 0.0));
}

/* Runs @draw inside the rectangle (x, y, w, h) with its own origin. */
static void
draw_in (cairo_t *cr, double x, double y, double w, double h, AtsPlot *plot)
{
  cairo_save (cr);
  cairo_rectangle (cr, x, y, w, h);
  cairo_clip (cr);
  cairo_translate (cr, x, y);
  ats_plot_draw (plot, cr, w, h);
  cairo_restore (cr);
}

void
ats_lazy_draw_tau_map (const AtsLazyFigure *fig, cairo_t *cr, double W, double H)
{
  AtsHeatMatrix matrix;
  g_autoptr (AtsPlot) plot = NULL;
  g_autofree double *mean = NULL, *std = NULL, *layer = NULL; /* [L] */
  double             body_y, body_h, split;
  int                L, Hh;

  g_return_if_fail (fig != NULL && fig->tau != NULL && cr != NULL);
  g_return_if_fail (fig->n_layers > 0 && fig->n_heads > 0);

  L = fig->n_layers;
  Hh = fig->n_heads;
  cairo_save (cr);
  draw_frame (fig, cr, W, H, &body_y, &body_h);
  split = W * 0.62;

  ats_heat_matrix_init (&matrix, fig->tau, L, Hh);
  matrix.row_title = "layer";
  matrix.col_title = "head";
  matrix.title = "tau per head";
  matrix.colorbar_label = "tau";
  matrix.colormap = fig->colormap;
  matrix.annotate = TRUE;
  matrix.value_format = "%.2f";
  cairo_save (cr);
  cairo_rectangle (cr, 0, body_y, split, body_h);
  cairo_clip (cr);
  cairo_translate (cr, 0, body_y);
  ats_heat_matrix_draw (&matrix, cr, split, body_h);
  cairo_restore (cr);

  mean = g_new (double, L);
  std = g_new (double, L);
  layer = g_new (double, L);
  ats_lazy_figure_layer_tau (fig, mean, std);
  for (int l = 0; l < L; l++)
    layer[l] = l;
  plot = ats_plot_new_per_layer ("per-layer mean (± std over heads)", "tau");
  ats_plot_add_series (plot, NULL, layer, mean, L);
  ats_plot_set_series_error (plot, 0, std);
  draw_in (cr, split, body_y, W - split, body_h, plot);
  cairo_restore (cr);
}

void
ats_lazy_draw_bias_curves (const AtsLazyFigure *fig, cairo_t *cr, double W, double H)
{
  g_autofree double *x = NULL; /* [Wb] 1 + distance */
  g_autofree double *y = NULL; /* [Wb] */
  double             fs, body_y, body_h, legend_w = 0.0, lo = INFINITY, hi = -INFINITY, pad;
  double             cell_w, cell_h, swatch;
  int                L, Hh, Wb, n_cols, n_rows;

  g_return_if_fail (fig != NULL && fig->bias != NULL && cr != NULL);
  g_return_if_fail (fig->n_layers > 0 && fig->n_heads > 0 && fig->bias_window > 0);

  L = fig->n_layers;
  Hh = fig->n_heads;
  Wb = fig->bias_window;
  cairo_save (cr);
  draw_frame (fig, cr, W, H, &body_y, &body_h);
  fs = _ats_base_font_size (W, H);
  swatch = fs * 1.6;

  /* one legend for every panel: head h has series colour h */
  _ats_set_font (cr, fs * 0.7, FALSE);
  for (int h = 0; h < Hh; h++)
    {
      g_autofree char *label = g_strdup_printf ("head %d", h);

      legend_w = MAX (legend_w, _ats_text_width (cr, label));
    }
  legend_w += swatch + fs * 1.6;
  {
    double row_h = MIN (fs * 1.25, body_h / (Hh + 1));
    double ly = body_y + fs;

    _ats_set_rgb (cr, _ATS_TEXT_RGB);
    _ats_draw_text (cr, "distance bias", W - legend_w + fs * 0.4, ly, _ATS_ALIGN_START,
                    _ATS_ALIGN_CENTER, 0.0);
    for (int h = 0; h < Hh; h++)
      {
        g_autofree char *label = g_strdup_printf ("head %d", h);
        double           yy = ly + (h + 1) * row_h;

        _ats_set_rgb (cr, ats_plot_get_series_color (h));
        cairo_set_line_width (cr, MAX (1.0, fs * 0.18));
        cairo_move_to (cr, W - legend_w + fs * 0.4, yy);
        cairo_line_to (cr, W - legend_w + fs * 0.4 + swatch, yy);
        cairo_stroke (cr);
        _ats_set_rgb (cr, _ATS_TEXT_RGB);
        _ats_draw_text (cr, label, W - legend_w + fs * 0.8 + swatch, yy, _ATS_ALIGN_START,
                        _ATS_ALIGN_CENTER, 0.0);
      }
  }

  /* shared y range */
  for (gsize k = 0; k < (gsize) L * Hh * Wb; k++)
    if (isfinite (fig->bias[k]))
      {
        lo = MIN (lo, fig->bias[k]);
        hi = MAX (hi, fig->bias[k]);
      }
  if (!isfinite (lo))
    lo = hi = 0.0;
  pad = hi > lo ? 0.05 * (hi - lo) : 1.0;

  n_cols = fig->n_cols > 0 ? fig->n_cols : (int) ceil (sqrt ((double) L));
  n_cols = CLAMP (n_cols, 1, L);
  n_rows = (L + n_cols - 1) / n_cols;
  cell_w = (W - legend_w) / n_cols;
  cell_h = body_h / n_rows;
  x = g_new (double, Wb);
  y = g_new (double, Wb);
  for (int d = 0; d < Wb; d++)
    x[d] = d + 1.0;

  for (int l = 0; l < L; l++)
    {
      g_autoptr (AtsPlot) plot = ats_plot_new (ATS_PLOT_LINES);
      g_autofree char *title = g_strdup_printf ("layer %d", l);

      ats_plot_set_title (plot, title);
      ats_plot_set_x_label (plot, "1 + distance i-j (log)");
      ats_plot_set_y_label (plot, "bias");
      ats_plot_set_log_x (plot, TRUE);
      ats_plot_set_x_range (plot, 1.0, MAX (2.0, (double) Wb));
      ats_plot_set_y_range (plot, lo - pad, hi + pad);
      for (int h = 0; h < Hh; h++)
        {
          const float *b = fig->bias + ((gsize) l * Hh + h) * Wb; /* [Wb] */

          for (int d = 0; d < Wb; d++)
            y[d] = b[d];
          ats_plot_add_series (plot, NULL, x, y, Wb);
        }
      draw_in (cr, (l % n_cols) * cell_w, body_y + (l / n_cols) * cell_h, cell_w, cell_h, plot);
    }
  cairo_restore (cr);
}
