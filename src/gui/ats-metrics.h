/* ats-metrics.h — a shared, immutable handle on one run's diagnostics (AtsDiagResults)
 *
 * The views hold references; the results are freed with the last one.
 */
#pragma once

#include <glib-object.h>

#include "attnscope/ats-diagnostics.h"

G_BEGIN_DECLS

#define ATS_TYPE_METRICS (ats_metrics_get_type ())

typedef struct _AtsMetrics AtsMetrics;

GType ats_metrics_get_type (void) G_GNUC_CONST;
/* Takes ownership of @results. */
AtsMetrics           *ats_metrics_new_take (AtsDiagResults *results);
AtsMetrics           *ats_metrics_ref (AtsMetrics *self);
void                  ats_metrics_unref (AtsMetrics *self);
const AtsDiagResults *ats_metrics_get_results (AtsMetrics *self);
/* Value of a per-head metric ([L, H] shape) by catalogue name; NaN when absent. */
double ats_metrics_get_head (AtsMetrics *self, const char *name, guint layer, guint head);
/* Per-layer series of metric @name into @out [n]: [L, H] metrics are averaged over the
 * heads (NaN heads left out), [L+1] metrics are copied, and "sink_rate" is the percentage of
 * heads of each layer whose first-token mass exceeds eps. Returns n (0 for unknown names). */
guint ats_metrics_get_layer_series (AtsMetrics *self, const char *name, double *out, guint n_out);
/* sink_score[l, h, k] > eps */
gboolean ats_metrics_is_sink (AtsMetrics *self, guint layer, guint head, guint key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsMetrics, ats_metrics_unref)

G_END_DECLS
