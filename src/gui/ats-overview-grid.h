/* ats-overview-grid.h — the layers x heads grid of a run
 *
 * Each cell is either a thumbnail of the head's map (max-pooled, each head on its own scale)
 * or a colour for a per-head diagnostic ([L, H] metric, fixed range [0, 1]). Hovering shows
 * the head's values; clicking emits ::head-activated.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-colormap.h"
#include "ats-matrix.h"
#include "ats-metrics.h"

G_BEGIN_DECLS

#define ATS_TYPE_OVERVIEW_GRID (ats_overview_grid_get_type ())

G_DECLARE_FINAL_TYPE (AtsOverviewGrid, ats_overview_grid, ATS, OVERVIEW_GRID, GtkWidget)

GtkWidget *ats_overview_grid_new (void);
/* Resets thumbnails and selection. */
void       ats_overview_grid_set_shape (AtsOverviewGrid *self, guint n_layers, guint n_heads);
guint      ats_overview_grid_get_n_layers (AtsOverviewGrid *self);
guint      ats_overview_grid_get_n_heads (AtsOverviewGrid *self);
void       ats_overview_grid_set_thumbnail (AtsOverviewGrid *self,
                                            guint            layer,
                                            guint            head,
                                            AtsMatrix       *thumbnail);
AtsMatrix *ats_overview_grid_get_thumbnail (AtsOverviewGrid *self, guint layer, guint head);
void       ats_overview_grid_set_metrics (AtsOverviewGrid *self, AtsMetrics *metrics);
/* An [L, H] metric name of the diagnostics catalogue, or NULL for thumbnails. */
void        ats_overview_grid_set_color_by (AtsOverviewGrid *self, const char *metric);
const char *ats_overview_grid_get_color_by (AtsOverviewGrid *self);
void        ats_overview_grid_set_colormap (AtsOverviewGrid *self, AtsColormap cmap);
void        ats_overview_grid_set_selected (AtsOverviewGrid *self, guint layer, guint head);
gboolean    ats_overview_grid_pixel_to_cell (AtsOverviewGrid *self,
                                             double           x,
                                             double           y,
                                             guint           *layer,
                                             guint           *head);
gboolean    ats_overview_grid_cell_to_pixel (AtsOverviewGrid *self,
                                             guint            layer,
                                             guint            head,
                                             double          *x,
                                             double          *y);
void        ats_overview_grid_set_hover (AtsOverviewGrid *self, double x, double y);
void        ats_overview_grid_clear_hover (AtsOverviewGrid *self);
char       *ats_overview_grid_format_cell (AtsOverviewGrid *self, guint layer, guint head);

G_END_DECLS
