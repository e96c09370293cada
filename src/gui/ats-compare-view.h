/* ats-compare-view.h — two captures of the same prompt side by side
 *
 * The same head of capture A and capture B on a shared scale, their signed difference A − B
 * on a diverging colormap (symmetric range, zero in the neutral middle), and per-layer
 * overlays of every diagnostic.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-heatmap-view.h"
#include "ats-metrics.h"

G_BEGIN_DECLS

#define ATS_TYPE_COMPARE_VIEW (ats_compare_view_get_type ())

G_DECLARE_FINAL_TYPE (AtsCompareView, ats_compare_view, ATS, COMPARE_VIEW, GtkWidget)

typedef enum
{
  ATS_COMPARE_A,
  ATS_COMPARE_B,
  ATS_COMPARE_DIFFERENCE,
} AtsCompareSide;

GtkWidget *ats_compare_view_new (void);
/* @name_b NULL: nothing to compare (the empty state). */
void     ats_compare_view_set_names (AtsCompareView *self, const char *name_a, const char *name_b);
gboolean ats_compare_view_get_active (AtsCompareView *self);
/* The maps of the current head (NULL while loading); the difference is computed here. */
void            ats_compare_view_set_maps (AtsCompareView    *self,
                                           AtsMatrix         *a,
                                           AtsMatrix         *b,
                                           const char *const *labels,
                                           const char        *head_title);
void            ats_compare_view_set_metrics (AtsCompareView *self, AtsMetrics *a, AtsMetrics *b);
AtsHeatmapView *ats_compare_view_get_view (AtsCompareView *self, AtsCompareSide side);
AtsMatrix      *ats_compare_view_get_difference (AtsCompareView *self);
GtkFlowBox     *ats_compare_view_get_plots (AtsCompareView *self);

G_END_DECLS
