/* ats-heatmap-view.h — a zoomable, pannable heatmap of one matrix (an attention head's map)
 *
 * Scroll zooms around the pointer, dragging pans, double-click fits; the hovered cell is
 * shown with a crosshair and an on-canvas tooltip (query token, key token, positions, value).
 * Arrow keys and Page Up/Down emit ::navigate; + / - / 0 zoom and fit.
 *
 * Drawing: a pyramid of colour images (2x2 max-pooled levels) is built once per matrix /
 * colormap / scale (in a worker thread for maps of more than 1024 x 1024 cells); each frame paints
 * the level closest to the zoom with nearest-neighbour filtering into a cached render node, rebuilt
 * only when the view or the size changes.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-colormap.h"
#include "ats-matrix.h"

G_BEGIN_DECLS

#define ATS_TYPE_HEATMAP_VIEW (ats_heatmap_view_get_type ())

G_DECLARE_FINAL_TYPE (AtsHeatmapView, ats_heatmap_view, ATS, HEATMAP_VIEW, GtkWidget)

GtkWidget *ats_heatmap_view_new (void);
/* @labels: [n_rows] token pieces (rows and columns of a square map), or NULL. */
void
ats_heatmap_view_set_matrix (AtsHeatmapView *self, AtsMatrix *matrix, const char *const *labels);
AtsMatrix *ats_heatmap_view_get_matrix (AtsHeatmapView *self);
/* A diverging colormap makes the range symmetric around 0 (signed difference maps). */
void         ats_heatmap_view_set_colormap (AtsHeatmapView *self, AtsColormap cmap);
AtsColormap  ats_heatmap_view_get_colormap (AtsHeatmapView *self);
void         ats_heatmap_view_set_scale_kind (AtsHeatmapView *self, AtsScaleKind kind);
AtsScaleKind ats_heatmap_view_get_scale_kind (AtsHeatmapView *self);
/* Fixed value range (NaN: from the data). */
void ats_heatmap_view_set_range (AtsHeatmapView *self, double vmin, double vmax);
/* The scale in use (resolved against the current matrix). */
void ats_heatmap_view_get_scale (AtsHeatmapView *self, AtsScale *scale);
/* Square causal map: cells above the diagonal are drawn masked. Default TRUE. */
void ats_heatmap_view_set_causal (AtsHeatmapView *self, gboolean causal);
/* Visible exact zeros drawn in the render library's zero colour (white), as Elastic-Softmax
 * figures do. Default FALSE. */
void     ats_heatmap_view_set_mark_zeros (AtsHeatmapView *self, gboolean mark_zeros);
gboolean ats_heatmap_view_get_mark_zeros (AtsHeatmapView *self);
void     ats_heatmap_view_set_crosshair (AtsHeatmapView *self, gboolean crosshair);
gboolean ats_heatmap_view_get_crosshair (AtsHeatmapView *self);
/* "weight" for attention, "difference" for compare maps. */
void ats_heatmap_view_set_value_name (AtsHeatmapView *self, const char *name);
void ats_heatmap_view_set_row_name (AtsHeatmapView *self, const char *name);
void ats_heatmap_view_set_col_name (AtsHeatmapView *self, const char *name);

/* View geometry: widget pixel <-> matrix cell. */
gboolean
ats_heatmap_view_pixel_to_cell (AtsHeatmapView *self, double x, double y, guint *row, guint *col);
gboolean
ats_heatmap_view_cell_to_pixel (AtsHeatmapView *self, guint row, guint col, double *x, double *y);
double   ats_heatmap_view_get_zoom (AtsHeatmapView *self);
void     ats_heatmap_view_zoom_at (AtsHeatmapView *self, double factor, double x, double y);
void     ats_heatmap_view_pan (AtsHeatmapView *self, double dx, double dy);
void     ats_heatmap_view_fit (AtsHeatmapView *self);
gboolean ats_heatmap_view_get_fitted (AtsHeatmapView *self);

/* TRUE while the colour pyramid of a large map (> 1024 x 1024 cells) is being built in a worker
 * thread; the map is drawn once it is ready. Smaller maps are drawn at once. */
gboolean ats_heatmap_view_get_rendering (AtsHeatmapView *self);

/* Hover as if the pointer were at (@x, @y) (also used by tests and screenshots). */
void     ats_heatmap_view_set_hover (AtsHeatmapView *self, double x, double y);
void     ats_heatmap_view_clear_hover (AtsHeatmapView *self);
gboolean ats_heatmap_view_get_hover_cell (AtsHeatmapView *self, guint *row, guint *col);
/* The tooltip text of a cell. */
char *ats_heatmap_view_format_cell (AtsHeatmapView *self, guint row, guint col);

G_END_DECLS
