/* ats-whatif-job.h — what-if Elastic-Softmax of one head, off the UI thread
 *
 * Applies max(0, A + tau / i) (ats_whatif_transform_head()) to a head's map and summarises it
 * (ats_whatif_head_stats()) in a worker thread: both are O(T^2), about 0.1 s at T = 4096. The
 * head view shows the result with exact zeros marked and a caption made by
 * ats_whatif_format_caption().
 */
#pragma once

#include <gio/gio.h>

#include "attnscope/ats-whatif.h"
#include "ats-matrix.h"

G_BEGIN_DECLS

typedef struct
{
  AtsMatrix         *source; /* the map it was computed from */
  AtsMatrix         *map;    /* [T, T] transformed */
  float              tau;
  double             sink_eps;
  AtsWhatifHeadStats stats;
} AtsWhatifResult;

void ats_whatif_result_free (AtsWhatifResult *result);

void             ats_whatif_job_run_async (AtsMatrix          *map,
                                           float               tau,
                                           double              sink_eps,
                                           GCancellable       *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
AtsWhatifResult *ats_whatif_job_run_finish (GAsyncResult *result, GError **error);

/* "τ = −1.00 (slider) · sparsity 12.3% → 78.9% · mass removed 0.456 / row · on sinks* 61.2%
 * (3 sink keys)"; @tau_source names where tau comes from. */
char *
ats_whatif_format_caption (const AtsWhatifHeadStats *stats, float tau, const char *tau_source);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsWhatifResult, ats_whatif_result_free)

G_END_DECLS
