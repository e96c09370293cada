/* ats-sweep-view.h — every diagnostic of a merge sweep against the swept alpha / lambda
 *
 * A sweep file (data/sweep-format.md) is a capture with a /sweep group of per-step summaries.
 * AtsSweepData holds them (read on the GUI's I/O thread through ats_sweep_file_read_summary());
 * AtsSweepView draws one render-library plot (AtsPlot) per diagnostic: the mean over prompts
 * with a ± std over prompts band, or one line per layer.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-plot.h"
#include "attnscope/ats-sweep.h"

G_BEGIN_DECLS

typedef struct
{
  char    *name; /* "sink_rate" or a diagnostic of ats_diag_metrics_list() */
  char    *description;
  gboolean ours;
  gboolean hidden;   /* [L+1] metric: the last row is the final residual stream */
  double  *values;   /* [S, P] */
  double  *by_layer; /* [S, P, rows] or NULL (sink_rate) */
  guint    rows;
} AtsSweepSummary;

typedef struct
{
  char         *path;
  AtsSweepInfo *info;
  GPtrArray    *summaries; /* AtsSweepSummary*, in catalogue order, sink_rate first */
} AtsSweepData;

void ats_sweep_data_free (AtsSweepData *data);
/* Reads /sweep of @path on the I/O thread; ATS_CAPTURE_ERROR_MISSING for a plain capture. */
void          ats_sweep_data_load_async (const char         *path,
                                         GCancellable       *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer            user_data);
AtsSweepData *ats_sweep_data_load_finish (GAsyncResult *result, GError **error);

#define ATS_TYPE_SWEEP_VIEW (ats_sweep_view_get_type ())

G_DECLARE_FINAL_TYPE (AtsSweepView, ats_sweep_view, ATS, SWEEP_VIEW, GtkBox)

GtkWidget *ats_sweep_view_new (void);
/* Takes ownership of @data (NULL clears the view). */
void          ats_sweep_view_set_data (AtsSweepView *self, AtsSweepData *data);
AtsSweepData *ats_sweep_view_get_data (AtsSweepView *self);
void          ats_sweep_view_set_per_layer (AtsSweepView *self, gboolean per_layer);
gboolean      ats_sweep_view_get_per_layer (AtsSweepView *self);
/* The plots shown (one per summary). */
guint ats_sweep_view_get_n_plots (AtsSweepView *self);
/* Point @index (in increasing x) of line @line of @metric's plot: x = the swept value, y = the
 * mean over prompts (of the layer's value with per-layer lines), @err = the std over prompts
 * (NaN per layer). FALSE when out of range. */
gboolean ats_sweep_view_get_point (AtsSweepView *self,
                                   const char   *metric,
                                   guint         line,
                                   guint         index,
                                   double       *x,
                                   double       *y,
                                   double       *err);
/* New AtsPlot of every plot shown (for export), a GPtrArray freeing them. */
GPtrArray *ats_sweep_view_build_plots (AtsSweepView *self);
/* "entropy … against alpha (linear merge)" style description of the sweep (NULL if none). */
char *ats_sweep_view_describe (AtsSweepView *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsSweepData, ats_sweep_data_free)

G_END_DECLS
