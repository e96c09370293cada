/* ats-plot-view.h — a per-layer line plot drawn by the render library (AtsPlot)
 *
 * One or more series over layers (x = x0 + i). Drawn exactly as ats_export_plot() writes it.
 * Clicking a point emits ::point-activated (series, index, x).
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-plot.h"

G_BEGIN_DECLS

#define ATS_TYPE_PLOT_VIEW (ats_plot_view_get_type ())

G_DECLARE_FINAL_TYPE (AtsPlotView, ats_plot_view, ATS, PLOT_VIEW, GtkWidget)

GtkWidget  *ats_plot_view_new (const char *metric, const char *title, const char *y_label);
const char *ats_plot_view_get_metric (AtsPlotView *self);
const char *ats_plot_view_get_title (AtsPlotView *self);
void        ats_plot_view_clear (AtsPlotView *self);
/* @y [n], x = @x0 + i; NaN points are gaps. */
void
ats_plot_view_add_series (AtsPlotView *self, const char *name, const double *y, guint n, int x0);
guint ats_plot_view_get_n_series (AtsPlotView *self);
/* The y values of series @series (NULL if out of range); @n receives the length. */
const double *ats_plot_view_get_series (AtsPlotView *self, guint series, guint *n);
void          ats_plot_view_set_x_label (AtsPlotView *self, const char *label);
void          ats_plot_view_set_y_range (AtsPlotView *self, double y_min, double y_max);
/* Widget pixel <-> data point (through ats_plot_hit_test() / ats_plot_get_point() of the render
 * library, so the mapping is the drawing's). A click on a point emits ::point-activated. */
gboolean
ats_plot_view_pixel_to_point (AtsPlotView *self, double x, double y, guint *series, guint *index);
gboolean
ats_plot_view_point_to_pixel (AtsPlotView *self, guint series, guint index, double *x, double *y);
/* The x value (layer) of a point, NaN if out of range. */
double ats_plot_view_get_x (AtsPlotView *self, guint series, guint index);
/* A new AtsPlot with this view's content (for export). */
AtsPlot *ats_plot_view_build_plot (AtsPlotView *self);

G_END_DECLS
