/* ats-figure.h — what the window exports: a render-library figure plus its metadata
 *
 * Each figure is drawn by libattnscope-render (heatmap, heatmap grid, heat matrix or plots),
 * so the files written here equal the CLI's output for the same data.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-export.h"
#include "ats-matrix.h"
#include "ats-metrics.h"

G_BEGIN_DECLS

typedef struct _AtsFigure AtsFigure;

/* One map; @vmin/@vmax NaN for automatic. */
AtsFigure *ats_figure_new_heatmap (AtsMatrix         *matrix,
                                   const char *const *labels,
                                   AtsColormap        cmap,
                                   AtsScaleKind       scale_kind,
                                   double             vmin,
                                   double             vmax,
                                   const char        *title,
                                   const char        *value_label,
                                   const char        *footer);
/* The layers x heads grid: @maps holds L * H AtsMatrix of one size (NULL entries blank). */
AtsFigure *ats_figure_new_grid (GPtrArray  *maps,
                                guint       n_layers,
                                guint       n_heads,
                                AtsColormap cmap,
                                const char *title,
                                const char *footer);
/* An [L, H] metric as a labelled matrix. */
AtsFigure *ats_figure_new_heat_matrix (AtsMetrics *metrics,
                                       const char *metric,
                                       AtsColormap cmap,
                                       const char *title,
                                       const char *footer);
/* Several plots tiled in a grid (takes ownership of the AtsPlot* in @plots). */
AtsFigure *ats_figure_new_plots (GPtrArray *plots, const char *title);
void       ats_figure_free (AtsFigure *figure);

void        ats_figure_set_size (AtsFigure *figure, double width, double height);
void        ats_figure_get_size (AtsFigure *figure, double *width, double *height);
void        ats_figure_set_description (AtsFigure *figure, const char *description);
const char *ats_figure_get_title (AtsFigure *figure);
/* "layer3-head1" style base name for file choosers. */
void        ats_figure_set_basename (AtsFigure *figure, const char *basename);
const char *ats_figure_get_basename (AtsFigure *figure);

gboolean
ats_figure_export (AtsFigure *figure, const char *path, AtsExportFormat format, GError **error);
/* Rendered as PNG at @dpi (for the clipboard). */
GdkTexture *ats_figure_to_texture (AtsFigure *figure, double dpi, GError **error);
/* Draws into (0, 0, width, height) of @cr. */
void ats_figure_draw (AtsFigure *figure, cairo_t *cr, double width, double height);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsFigure, ats_figure_free)

G_END_DECLS
