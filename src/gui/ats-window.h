/* ats-window.h — the main window: one capture (and optionally a second one to compare) */
#pragma once

#include <gtk/gtk.h>

#include "ats-compare-view.h"
#include "ats-diagnostics-view.h"
#include "ats-document.h"
#include "ats-figure.h"
#include "ats-heatmap-view.h"
#include "ats-overview-grid.h"
#include "ats-sweep-view.h"
#include "ats-token-view.h"
#include "attnscope/ats-whatif.h"

G_BEGIN_DECLS

#define ATS_TYPE_WINDOW (ats_window_get_type ())

G_DECLARE_FINAL_TYPE (AtsWindow, ats_window, ATS, WINDOW, GtkApplicationWindow)

AtsWindow *ats_window_new (GtkApplication *application);
/* A capture file, a model folder or a weight diff (*.csv, see ats_window_open_weight_diff());
 * errors are shown in a dialog. */
void ats_window_open_path (AtsWindow *self, const char *path);
/* A second capture to compare with. */
void ats_window_open_compare (AtsWindow *self, const char *path);
void ats_window_close_compare (AtsWindow *self);

AtsDocument *ats_window_get_document (AtsWindow *self);
AtsDocument *ats_window_get_compare_document (AtsWindow *self);
guint        ats_window_get_run (AtsWindow *self);
void         ats_window_select_run (AtsWindow *self, guint run);
void         ats_window_select_head (AtsWindow *self, guint layer, guint head);
void         ats_window_get_head (AtsWindow *self, guint *layer, guint *head);
/* The map shown in the head view (NULL while loading). */
AtsMatrix  *ats_window_get_head_matrix (AtsWindow *self);
AtsMetrics *ats_window_get_metrics (AtsWindow *self);
/* "overview", "head", "tokens", "diagnostics", "compare", "sweep" (sweep files only) */
void        ats_window_show_view (AtsWindow *self, const char *name);
const char *ats_window_get_view (AtsWindow *self);
/* TRUE while files, maps, thumbnails or diagnostics are being read or computed. */
gboolean ats_window_get_busy (AtsWindow *self);

/* What-if Elastic-Softmax on the head view: max(0, A + tau / i) of the current head, with
 * @tau from the slider, or the Lazy capture's own tau of the head when @model_tau and the run
 * (or the compared capture) has lazy/tau. Transformed off the UI thread. */
void ats_window_set_whatif (AtsWindow *self, gboolean active, double tau, gboolean model_tau);
/* The statistics of the what-if map on screen (NULL when none is shown) and its tau / sink eps. */
const AtsWhatifHeadStats *
ats_window_get_whatif_stats (AtsWindow *self, float *tau, double *sink_eps);
/* The caption under the toolbar (NULL when hidden). */
const char *ats_window_get_whatif_caption (AtsWindow *self);
/* lazy/tau [L, H] offered as "Model τ", or NULL. */
const float *ats_window_get_lazy_tau (AtsWindow *self);

AtsHeatmapView     *ats_window_get_heatmap_view (AtsWindow *self);
AtsOverviewGrid    *ats_window_get_overview_grid (AtsWindow *self);
AtsTokenView       *ats_window_get_token_view (AtsWindow *self);
AtsDiagnosticsView *ats_window_get_diagnostics_view (AtsWindow *self);
AtsCompareView     *ats_window_get_compare_view (AtsWindow *self);
GtkWidget          *ats_window_get_status_label (AtsWindow *self);

/* The figure of the visible view (NULL when there is nothing to export). Figures of the
 * overview in thumbnail mode need every map: use the async variant. */
void       ats_window_build_figure_async (AtsWindow          *self,
                                          GCancellable       *cancellable,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
AtsFigure *ats_window_build_figure_finish (AtsWindow *self, GAsyncResult *result, GError **error);
/* Exports the visible view's figure to @path (format from the extension); errors are also
 * shown in a dialog. */
void     ats_window_export_async (AtsWindow          *self,
                                  const char         *path,
                                  GCancellable       *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer            user_data);
gboolean ats_window_export_finish (AtsWindow *self, GAsyncResult *result, GError **error);

/* Errors: the dialog currently shown (NULL if none) and the last message. */
GtkWindow  *ats_window_get_error_dialog (AtsWindow *self);
const char *ats_window_get_last_error (AtsWindow *self);
void        ats_window_show_error (AtsWindow *self, const char *title, const GError *error);

/* Model folders: the capture bar. */
gboolean ats_window_get_has_model (AtsWindow *self);
void     ats_window_run_capture (AtsWindow *self, const char *prompt);
void     ats_window_cancel_capture (AtsWindow *self);

/* The shipped demo checkpoints ("demo-softmax", "demo-lazy", see ats_demo_model_path()):
 * opens the model folder (prompt box + Run); an error dialog when it is not found. */
void ats_window_open_demo (AtsWindow *self, const char *name);

/* The sweep view (shown as "sweep" when the capture has a /sweep group). */
AtsSweepView *ats_window_get_sweep_view (AtsWindow *self);

/* Compare Weights: computes ats_weight_diff_compute() of the two checkpoint folders off the UI
 * thread and shows the layers x tensor kinds heatmap in its own window (closing it cancels);
 * errors (e.g. mismatched checkpoints) go to the error dialog. */
void ats_window_compare_weights (AtsWindow *self, const char *base_dir, const char *other_dir);
GtkWindow *ats_window_get_weight_diff_window (AtsWindow *self);
/* Open Weight Diff: a CSV written by `attnscope-cli diff --csv` (ats_weight_diff_load_csv()),
 * shown in the same heatmap window; ats_window_open_path() (command line, drops, recent files)
 * sends *.csv files here. Malformed files go to the error dialog naming the line. */
void ats_window_open_weight_diff (AtsWindow *self, const char *csv_path);

G_END_DECLS
