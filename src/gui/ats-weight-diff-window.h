/* ats-weight-diff-window.h — where did the weights move: the layers x tensor kinds heatmap of
 * two checkpoints (ats-weight-diff.h), computed off the UI thread or read from a saved
 * `attnscope-cli diff --csv` file, drawn by the render library
 * (AtsHeatMatrix) as `attnscope-cli diff --out FIG` draws it, with export.
 */
#pragma once

#include <gtk/gtk.h>

#include "attnscope/ats-weight-diff.h"

G_BEGIN_DECLS

/* Computes ats_weight_diff_compute() in a worker thread; cancelling stops it between tensors. */
void           ats_weight_diff_compute_async (const char         *base_dir,
                                              const char         *other_dir,
                                              GCancellable       *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
AtsWeightDiff *ats_weight_diff_compute_finish (GAsyncResult *result, GError **error);

#define ATS_TYPE_WEIGHT_DIFF_WINDOW (ats_weight_diff_window_get_type ())

G_DECLARE_FINAL_TYPE (AtsWeightDiffWindow,
                      ats_weight_diff_window,
                      ATS,
                      WEIGHT_DIFF_WINDOW,
                      GtkWindow)

/* A window for @base_dir vs @other_dir; shows a spinner until set_diff(). Closing it cancels
 * @cancellable (may be NULL). */
GtkWidget *ats_weight_diff_window_new (GtkWindow    *parent,
                                       const char   *base_dir,
                                       const char   *other_dir,
                                       GCancellable *cancellable);
/* A window for an already computed diff, e.g. ats_weight_diff_load_csv() of @csv_path (shown in
 * the title and the figure's footer). Takes ownership of @diff. */
GtkWidget *
ats_weight_diff_window_new_for_diff (GtkWindow *parent, const char *csv_path, AtsWeightDiff *diff);
/* The CSV file the diff was read from (display name), NULL for a computed one. */
const char *ats_weight_diff_window_get_csv_path (AtsWeightDiffWindow *self);
/* Takes ownership of @diff. */
void ats_weight_diff_window_set_diff (AtsWeightDiffWindow *self, AtsWeightDiff *diff);
const AtsWeightDiff *ats_weight_diff_window_get_diff (AtsWeightDiffWindow *self);
/* "rel", "norm" or "cos". */
void        ats_weight_diff_window_set_metric (AtsWeightDiffWindow *self, const char *metric);
const char *ats_weight_diff_window_get_metric (AtsWeightDiffWindow *self);
/* The matrix shown: [n_rows, n_cols] (rows: "non-layer" first when present, then layers;
 * columns: the tensor kinds present), NULL before the diff arrives. */
const float *ats_weight_diff_window_get_matrix (AtsWeightDiffWindow *self,
                                                guint               *n_rows,
                                                guint               *n_cols,
                                                const char *const  **row_labels,
                                                const char *const  **col_labels);
/* Writes the heatmap (format from the extension). */
gboolean
ats_weight_diff_window_export (AtsWeightDiffWindow *self, const char *path, GError **error);

G_END_DECLS
