/* ats-plot.h — line and bar plots of diagnostics, and labelled heat matrices
 *
 * AtsPlot: x/y line plot (several series with a legend, optional log x / log y, optional
 * +-error bands) or grouped bar plot over categories. Per-layer plots are line plots with
 * integer x ticks (ats_plot_new_per_layer()).
 *
 * AtsHeatMatrix: a [n_rows, n_cols] matrix of scalars drawn as flat coloured cells with row and
 * column labels and a colorbar: [L, H] diagnostic grids, per-head heat strips, layers x
 * tensor-kind weight deltas.
 *
 * Both draw into (0, 0, width, height) of a cairo_t; see ats-export.h to write files.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-colormap.h"

G_BEGIN_DECLS

typedef enum
{
  ATS_PLOT_LINES,
  ATS_PLOT_BARS,
} AtsPlotKind;

typedef struct _AtsPlot AtsPlot;

AtsPlot *ats_plot_new (AtsPlotKind kind);
AtsPlot *ats_plot_new_per_layer (const char *title, const char *y_label);
void     ats_plot_free (AtsPlot *plot);
void     ats_plot_set_title (AtsPlot *plot, const char *title);
void     ats_plot_set_footer (AtsPlot *plot, const char *footer);
void     ats_plot_set_x_label (AtsPlot *plot, const char *label);
void     ats_plot_set_y_label (AtsPlot *plot, const char *label);
void     ats_plot_set_log_x (AtsPlot *plot, gboolean log_x);
void     ats_plot_set_log_y (AtsPlot *plot, gboolean log_y);
void     ats_plot_set_x_integer (AtsPlot *plot, gboolean integer);
void     ats_plot_set_x_range (AtsPlot *plot, double x_min, double x_max);
void     ats_plot_set_y_range (AtsPlot *plot, double y_min, double y_max);
void     ats_plot_set_categories (AtsPlot *plot, const char *const *labels, guint n_labels);
guint
ats_plot_add_series (AtsPlot *plot, const char *name, const double *x, const double *y, guint n);
guint   ats_plot_add_series_float (AtsPlot     *plot,
                                   const char  *name,
                                   const float *x,
                                   const float *y,
                                   guint        n);
void    ats_plot_set_series_error (AtsPlot *plot, guint series, const double *err);
guint   ats_plot_get_n_series (AtsPlot *plot);
guint32 ats_plot_get_series_color (guint series);
void    ats_plot_draw (AtsPlot *plot, cairo_t *cr, double width, double height);

/* Geometry of the drawn plot, for interaction (the drawing itself is ats_plot_draw()). @cr may
 * be NULL: text is then measured on a private image surface (the same toy-font metrics). */
void     ats_plot_get_data_area (AtsPlot *plot,
                                 cairo_t *cr,
                                 double   width,
                                 double   height,
                                 double  *out_x,
                                 double  *out_y,
                                 double  *out_width,
                                 double  *out_height);
gboolean ats_plot_get_point (AtsPlot *plot,
                             cairo_t *cr,
                             double   width,
                             double   height,
                             guint    series,
                             guint    index,
                             double  *out_x,
                             double  *out_y);
gboolean ats_plot_hit_test (AtsPlot *plot,
                            cairo_t *cr,
                            double   width,
                            double   height,
                            double   x,
                            double   y,
                            double   radius,
                            guint   *out_series,
                            guint   *out_index);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsPlot, ats_plot_free)

typedef struct
{
  const float       *values; /* [n_rows, n_cols] row-major, borrowed; NaN = no value */
  int                n_rows;
  int                n_cols;
  const char *const *row_labels; /* [n_rows] or NULL: row indices */
  const char *const *col_labels; /* [n_cols] or NULL: column indices */
  const char        *row_title;  /* e.g. "layer" */
  const char        *col_title;  /* e.g. "head" */
  const char        *title;
  const char        *footer;
  const char        *colorbar_label;
  AtsColormap        colormap; /* default viridis */
  AtsScale           scale;    /* default linear, automatic [min, max] (symmetric if diverging) */
  gboolean           annotate; /* print each value in its cell when it fits */
  const char        *value_format; /* printf for annotations, default "%.2f" */
} AtsHeatMatrix;

void ats_heat_matrix_init (AtsHeatMatrix *matrix, const float *values, int n_rows, int n_cols);
void ats_heat_matrix_resolve_scale (const AtsHeatMatrix *matrix, AtsScale *out_scale);
void ats_heat_matrix_draw (const AtsHeatMatrix *matrix, cairo_t *cr, double width, double height);

G_END_DECLS
