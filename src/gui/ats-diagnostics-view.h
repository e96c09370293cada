/* ats-diagnostics-view.h — per-layer plots and a sortable per-head table of one run
 *
 * The parameters (sink eps, underload/overload thresholds) are edited here; ::recompute asks
 * the owner to recompute the diagnostics off the UI thread with ats_diagnostics_view_get_params().
 * Clicking a table row emits ::head-activated; clicking a point of a per-layer plot emits
 * ::layer-activated with that layer.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-metrics.h"

G_BEGIN_DECLS

typedef struct
{
  const char *metric; /* AtsMetrics layer-series name */
  const char *title;
  const char *y_label;
} AtsLayerPlotInfo;

/* The per-layer plots shown by the diagnostics and compare views, in order. */
const AtsLayerPlotInfo *ats_layer_plots_list (guint *n_plots);
/* A friendly column title for an [L, H] metric ("(ours)" marked with *). */
const char *ats_metric_title (const char *metric);
/* Replaces the children of @box with one AtsPlotView per layer plot; series "name_a" from @a
 * and, when @b is non-NULL, "name_b" from @b (overlay). */
void ats_layer_plots_fill (GtkFlowBox *box,
                           AtsMetrics *a,
                           const char *name_a,
                           AtsMetrics *b,
                           const char *name_b);

#define ATS_TYPE_DIAGNOSTICS_VIEW (ats_diagnostics_view_get_type ())

G_DECLARE_FINAL_TYPE (AtsDiagnosticsView, ats_diagnostics_view, ATS, DIAGNOSTICS_VIEW, GtkWidget)

GtkWidget  *ats_diagnostics_view_new (void);
void        ats_diagnostics_view_set_metrics (AtsDiagnosticsView *self, AtsMetrics *metrics);
AtsMetrics *ats_diagnostics_view_get_metrics (AtsDiagnosticsView *self);
void        ats_diagnostics_view_get_params (AtsDiagnosticsView *self, AtsDiagParams *params);
void        ats_diagnostics_view_set_params (AtsDiagnosticsView *self, const AtsDiagParams *params);
void        ats_diagnostics_view_set_busy (AtsDiagnosticsView *self, gboolean busy);
/* The table (sorted as shown): number of rows, and the (layer, head) of row @row. */
guint ats_diagnostics_view_get_n_rows (AtsDiagnosticsView *self);
gboolean
ats_diagnostics_view_get_row (AtsDiagnosticsView *self, guint row, guint *layer, guint *head);
/* Sorts the table by column @metric ("layer", "head" or an [L, H] metric). */
void
ats_diagnostics_view_sort_by (AtsDiagnosticsView *self, const char *metric, gboolean descending);
/* Emits ::head-activated for table row @row (as a click does). */
void        ats_diagnostics_view_activate_row (AtsDiagnosticsView *self, guint row);
GtkFlowBox *ats_diagnostics_view_get_plots (AtsDiagnosticsView *self);

G_END_DECLS
