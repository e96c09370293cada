/* ats-weight-diff-window.c — the weight-delta heatmap of two checkpoints */
#include "ats-weight-diff-window.h"

#include <math.h>

#include "ats-export.h"
#include "ats-plot.h"
#include "ats-window.h"

/* --- computation --- */

typedef struct
{
  char *base;
  char *other;
} DiffJob;

static void
diff_job_free (DiffJob *job)
{
  g_free (job->base);
  g_free (job->other);
  g_free (job);
}

static gboolean
diff_progress (double fraction, gpointer user_data)
{
  return !g_cancellable_is_cancelled (user_data);
}

static void
diff_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  DiffJob       *job = task_data;
  GError        *error = NULL;
  AtsWeightDiff *diff;

  diff = ats_weight_diff_compute (job->base, job->other, cancellable ? diff_progress : NULL,
                                  cancellable, &error);
  if (g_task_return_error_if_cancelled (task))
    {
      g_clear_pointer (&diff, ats_weight_diff_free);
      g_clear_error (&error);
    }
  else if (diff == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, diff, (GDestroyNotify) ats_weight_diff_free);
}

void
ats_weight_diff_compute_async (const char         *base_dir,
                               const char         *other_dir,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  DiffJob *job = g_new0 (DiffJob, 1);

  job->base = g_strdup (base_dir);
  job->other = g_strdup (other_dir);
  g_task_set_source_tag (task, ats_weight_diff_compute_async);
  g_task_set_task_data (task, job, (GDestroyNotify) diff_job_free);
  g_task_run_in_thread (task, diff_thread);
}

AtsWeightDiff *
ats_weight_diff_compute_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- metrics (as `attnscope-cli diff --metric`) --- */

typedef struct
{
  const char         *name;
  const char         *choice; /* the selector */
  AtsWeightDiffMetric metric;
  const char         *title;
  const char         *label;
  const char         *meaning;
  const char         *format;
  double              vmin, vmax;
} DiffMetric;

static const DiffMetric diff_metrics[] = {
  { "rel", "Relative change ‖Δ‖ / ‖base‖", ATS_WEIGHT_DIFF_RELATIVE,
    "Relative weight change ‖other − base‖ / ‖base‖", "‖Δ‖ / ‖base‖",
    "rel = ‖other − base‖ / ‖base‖ over each group's elements (0: unchanged)", "%.3g", 0.0, NAN },
  { "norm", "Change ‖Δ‖", ATS_WEIGHT_DIFF_DELTA_L2, "Weight change ‖other − base‖", "‖Δ‖",
    "norm = ‖other − base‖, the L2 norm of the delta over each group's elements", "%.3g", 0.0,
    NAN },
  { "cos", "Cosine of other and base", ATS_WEIGHT_DIFF_COS_OTHER_BASE,
    "Cosine of other and base weights", "cos(other, base)",
    "cos = ⟨other, base⟩ / (‖other‖ ‖base‖): 1 = the weights kept their direction", "%.3f", NAN,
    1.0 },
};

static const AtsTensorKind kind_order[] = {
  ATS_TENSOR_KIND_Q,    ATS_TENSOR_KIND_K,    ATS_TENSOR_KIND_V,         ATS_TENSOR_KIND_QKV,
  ATS_TENSOR_KIND_O,    ATS_TENSOR_KIND_LAZY, ATS_TENSOR_KIND_GATE,      ATS_TENSOR_KIND_UP,
  ATS_TENSOR_KIND_DOWN, ATS_TENSOR_KIND_NORM, ATS_TENSOR_KIND_EMBEDDING, ATS_TENSOR_KIND_OTHER,
};
G_STATIC_ASSERT (G_N_ELEMENTS (kind_order) == ATS_TENSOR_KIND_N);

static double
row_value (const AtsWeightDiffRow *r, AtsWeightDiffMetric metric)
{
  switch (metric)
    {
    case ATS_WEIGHT_DIFF_DELTA_L2:
      return r->delta_l2;
    case ATS_WEIGHT_DIFF_RELATIVE:
      return r->relative;
    case ATS_WEIGHT_DIFF_COS_OTHER_BASE:
      return r->cos_other_base;
    case ATS_WEIGHT_DIFF_COS_DELTA_BASE:
    default:
      return r->cos_delta_base;
    }
}

/* --- window --- */

struct _AtsWeightDiffWindow
{
  GtkWindow parent_instance;

  char         *base_dir;
  char         *other_dir;
  char         *csv_path; /* opened from a saved diff instead of two folders */
  GCancellable *cancellable;
  GtkStack     *stack;
  GtkDropDown  *metric_dropdown;
  GtkWidget    *area;
  GtkWidget    *export_button;

  AtsWeightDiff *diff;
  guint          n_rows, n_cols;
  float         *values; /* [n_rows, n_cols] */
  GPtrArray     *row_labels;
  GPtrArray     *col_labels;
  char          *title;
  char          *footer;
  AtsHeatMatrix  matrix;
};

G_DEFINE_FINAL_TYPE (AtsWeightDiffWindow, ats_weight_diff_window, GTK_TYPE_WINDOW)

static const DiffMetric *
current_metric (AtsWeightDiffWindow *self)
{
  guint i = gtk_drop_down_get_selected (self->metric_dropdown);

  return &diff_metrics[i < G_N_ELEMENTS (diff_metrics) ? i : 0];
}

static void
clear_matrix (AtsWeightDiffWindow *self)
{
  g_clear_pointer (&self->values, g_free);
  g_clear_pointer (&self->row_labels, g_ptr_array_unref);
  g_clear_pointer (&self->col_labels, g_ptr_array_unref);
  g_clear_pointer (&self->title, g_free);
  g_clear_pointer (&self->footer, g_free);
  self->n_rows = self->n_cols = 0;
}

/* The matrix of the selected metric: a "non-layer" row first when the checkpoints have tensors
 * outside the blocks, then layers 0..L-1; columns: the kinds present. */
static void
update_matrix (AtsWeightDiffWindow *self)
{
  const DiffMetric *dm = current_metric (self);
  gboolean          present[ATS_TENSOR_KIND_N] = { FALSE };
  gboolean          outside = FALSE;
  g_autofree float *layers = NULL;
  g_autofree char  *source = NULL;
  GArray           *cols;
  guint             L, r0;
  guint64           n_params = 0;
  double            delta_sq = 0, base_sq = 0;

  clear_matrix (self);
  if (self->diff == NULL)
    return;

  L = self->diff->n_layers;
  for (guint i = 0; i < self->diff->n_rows; i++)
    {
      const AtsWeightDiffRow *r = &self->diff->rows[i];

      present[r->kind] = TRUE;
      outside |= r->layer < 0;
      n_params += r->n_params;
      delta_sq += r->delta_sq;
      base_sq += r->base_sq;
    }
  cols = g_array_new (FALSE, FALSE, sizeof (AtsTensorKind));
  for (guint k = 0; k < G_N_ELEMENTS (kind_order); k++)
    if (present[kind_order[k]])
      g_array_append_val (cols, kind_order[k]);
  self->n_rows = L + (outside ? 1 : 0);
  self->n_cols = cols->len;
  r0 = outside ? 1 : 0;

  layers = ats_weight_diff_get_layer_matrix (self->diff, dm->metric); /* [L, KIND_N] */
  self->values = g_new (float, MAX (1, (gsize) self->n_rows * self->n_cols));
  for (guint c = 0; c < self->n_cols; c++)
    {
      AtsTensorKind kind = g_array_index (cols, AtsTensorKind, c);

      if (outside)
        self->values[c] = NAN;
      for (guint l = 0; l < L; l++)
        self->values[(gsize) (r0 + l) * self->n_cols + c] =
            layers[(gsize) l * ATS_TENSOR_KIND_N + kind];
    }
  for (guint i = 0; outside && i < self->diff->n_rows; i++)
    {
      const AtsWeightDiffRow *r = &self->diff->rows[i];

      if (r->layer >= 0)
        continue;
      for (guint c = 0; c < self->n_cols; c++)
        if (g_array_index (cols, AtsTensorKind, c) == r->kind)
          self->values[c] = (float) row_value (r, dm->metric);
    }

  self->row_labels = g_ptr_array_new_with_free_func (g_free);
  if (outside)
    g_ptr_array_add (self->row_labels, g_strdup ("non-layer"));
  for (guint l = 0; l < L; l++)
    g_ptr_array_add (self->row_labels, g_strdup_printf ("%u", l));
  g_ptr_array_add (self->row_labels, NULL);
  self->col_labels = g_ptr_array_new ();
  for (guint c = 0; c < self->n_cols; c++)
    g_ptr_array_add (self->col_labels,
                     (gpointer) ats_tensor_kind_to_string (g_array_index (cols, AtsTensorKind, c)));
  g_ptr_array_add (self->col_labels, NULL);
  g_array_unref (cols);

  self->title = g_strdup (dm->title);
  if (self->csv_path != NULL)
    source = g_strdup_printf ("diff: %s", self->csv_path);
  else
    source = g_strdup_printf ("base: %s\nother: %s", self->base_dir, self->other_dir);
  self->footer = g_strdup_printf (
      "%s\nmetric: %s\nper layer and tensor kind, weights and biases together, "
      "float64 sums; whole model: %" G_GUINT64_FORMAT " parameters, ‖Δ‖ = %.4g, ‖Δ‖ / ‖base‖ = "
      "%.4g%s; grey: no such tensor or undefined",
      source, dm->meaning, n_params, sqrt (delta_sq), base_sq > 0 ? sqrt (delta_sq / base_sq) : NAN,
      outside ? "\nnon-layer: tensors outside the blocks (embeddings, LM head, final norm)" : "");

  ats_heat_matrix_init (&self->matrix, self->values, self->n_rows, self->n_cols);
  self->matrix.row_labels = (const char *const *) self->row_labels->pdata;
  self->matrix.col_labels = (const char *const *) self->col_labels->pdata;
  self->matrix.row_title = "layer";
  self->matrix.col_title = "tensor kind";
  self->matrix.title = self->title;
  self->matrix.footer = self->footer;
  self->matrix.colorbar_label = dm->label;
  self->matrix.colormap = ATS_COLORMAP_VIRIDIS;
  self->matrix.scale.vmin = dm->vmin;
  self->matrix.scale.vmax = dm->vmax;
  self->matrix.annotate = TRUE;
  self->matrix.value_format = dm->format;
}

static void
draw_matrix (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer user_data)
{
  AtsWeightDiffWindow *self = user_data;

  if (self->values != NULL && self->n_rows > 0 && self->n_cols > 0)
    ats_heat_matrix_draw (&self->matrix, cr, width, height);
}

static void
draw_export (cairo_t *cr, double width, double height, gpointer user_data)
{
  ats_heat_matrix_draw (user_data, cr, width, height);
}

static void
on_metric_changed (AtsWeightDiffWindow *self, GParamSpec *pspec, GtkDropDown *dropdown)
{
  update_matrix (self);
  gtk_widget_queue_draw (self->area);
}

static void
show_export_error (AtsWeightDiffWindow *self, const char *path, const GError *error)
{
  g_autofree char *name = g_filename_display_basename (path);
  g_autofree char *title = g_strdup_printf ("Could not export “%s”", name);
  GtkWindow       *parent = gtk_window_get_transient_for (GTK_WINDOW (self));

  if (ATS_IS_WINDOW (parent))
    ats_window_show_error (ATS_WINDOW (parent), title, error);
}

static void
on_export_response (GtkNativeDialog *native, int response, AtsWeightDiffWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      g_autoptr (GError) error = NULL;

      if (path != NULL && !ats_weight_diff_window_export (self, path, &error))
        show_export_error (self, path, error);
    }
  gtk_native_dialog_destroy (native);
  g_object_unref (native);
}

static void
export_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  AtsWeightDiffWindow  *self = ATS_WEIGHT_DIFF_WINDOW (widget);
  GtkFileChooserNative *native;
  g_autofree char      *name = NULL;

  if (self->values == NULL)
    return;
  name = g_strdup_printf ("weight-diff-%s.%s", current_metric (self)->name,
                          g_variant_get_string (param, NULL));
  native = gtk_file_chooser_native_new ("Export Weight Heatmap", GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_SAVE, NULL, NULL);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (native), name);
  g_signal_connect (native, "response", G_CALLBACK (on_export_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

static void
ats_weight_diff_window_dispose (GObject *object)
{
  AtsWeightDiffWindow *self = ATS_WEIGHT_DIFF_WINDOW (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  clear_matrix (self);
  g_clear_pointer (&self->diff, ats_weight_diff_free);
  g_clear_pointer (&self->base_dir, g_free);
  g_clear_pointer (&self->other_dir, g_free);
  g_clear_pointer (&self->csv_path, g_free);
  G_OBJECT_CLASS (ats_weight_diff_window_parent_class)->dispose (object);
}

static void
ats_weight_diff_window_class_init (AtsWeightDiffWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = ats_weight_diff_window_dispose;
  gtk_widget_class_install_action (widget_class, "diff.export", "s", export_action);
}

static void
ats_weight_diff_window_init (AtsWeightDiffWindow *self)
{
  g_autoptr (GtkStringList) choices = gtk_string_list_new (NULL);
  g_autoptr (GMenu) menu = g_menu_new ();
  const char *const formats[][2] = { { "png", "Export as _PNG…" },
                                     { "svg", "Export as _SVG…" },
                                     { "pdf", "Export as P_DF…" } };
  GtkWidget        *header = gtk_header_bar_new ();
  GtkWidget        *busy = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget        *spinner = gtk_spinner_new ();

  for (guint i = 0; i < G_N_ELEMENTS (diff_metrics); i++)
    gtk_string_list_append (choices, diff_metrics[i].choice);
  self->metric_dropdown =
      GTK_DROP_DOWN (gtk_drop_down_new (G_LIST_MODEL (g_object_ref (choices)), NULL));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->metric_dropdown), "Statistic of the change");
  g_signal_connect_swapped (self->metric_dropdown, "notify::selected",
                            G_CALLBACK (on_metric_changed), self);
  gtk_header_bar_pack_start (GTK_HEADER_BAR (header), GTK_WIDGET (self->metric_dropdown));

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autoptr (GMenuItem) item = g_menu_item_new (formats[i][1], NULL);

      g_menu_item_set_action_and_target (item, "diff.export", "s", formats[i][0]);
      g_menu_append_item (menu, item);
    }
  self->export_button = gtk_menu_button_new ();
  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (self->export_button), "document-save-symbolic");
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (self->export_button), G_MENU_MODEL (menu));
  gtk_widget_set_tooltip_text (self->export_button, "Export the heatmap");
  gtk_widget_set_sensitive (self->export_button, FALSE);
  gtk_header_bar_pack_end (GTK_HEADER_BAR (header), self->export_button);
  gtk_window_set_titlebar (GTK_WINDOW (self), header);

  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_widget_set_valign (busy, GTK_ALIGN_CENTER);
  gtk_spinner_start (GTK_SPINNER (spinner));
  gtk_widget_set_size_request (spinner, 32, 32);
  gtk_box_append (GTK_BOX (busy), spinner);
  gtk_box_append (GTK_BOX (busy), gtk_label_new ("Comparing the checkpoints tensor by tensor…"));
  gtk_stack_add_named (self->stack, busy, "computing");
  self->area = gtk_drawing_area_new ();
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->area), draw_matrix, self, NULL);
  gtk_stack_add_named (self->stack, self->area, "matrix");
  gtk_window_set_child (GTK_WINDOW (self), GTK_WIDGET (self->stack));
  gtk_window_set_default_size (GTK_WINDOW (self), 820, 680);
}

GtkWidget *
ats_weight_diff_window_new (GtkWindow    *parent,
                            const char   *base_dir,
                            const char   *other_dir,
                            GCancellable *cancellable)
{
  AtsWeightDiffWindow *self = g_object_new (ATS_TYPE_WEIGHT_DIFF_WINDOW, NULL);
  g_autofree char     *base = g_path_get_basename (base_dir);
  g_autofree char     *other = g_path_get_basename (other_dir);
  g_autofree char     *title = g_strdup_printf ("Weights: %s → %s — attnscope", base, other);

  self->base_dir = g_strdup (base_dir);
  self->other_dir = g_strdup (other_dir);
  if (cancellable != NULL)
    self->cancellable = g_object_ref (cancellable);
  gtk_window_set_title (GTK_WINDOW (self), title);
  if (parent != NULL)
    {
      gtk_window_set_transient_for (GTK_WINDOW (self), parent);
      gtk_window_set_destroy_with_parent (GTK_WINDOW (self), TRUE);
    }
  return GTK_WIDGET (self);
}

GtkWidget *
ats_weight_diff_window_new_for_diff (GtkWindow *parent, const char *csv_path, AtsWeightDiff *diff)
{
  AtsWeightDiffWindow *self;
  g_autofree char     *name = NULL;
  g_autofree char     *title = NULL;

  g_return_val_if_fail (csv_path != NULL && diff != NULL, NULL);

  self = g_object_new (ATS_TYPE_WEIGHT_DIFF_WINDOW, NULL);
  name = g_filename_display_basename (csv_path);
  title = g_strdup_printf ("Weights: %s — attnscope", name);
  self->csv_path = g_filename_display_name (csv_path);
  gtk_window_set_title (GTK_WINDOW (self), title);
  if (parent != NULL)
    {
      gtk_window_set_transient_for (GTK_WINDOW (self), parent);
      gtk_window_set_destroy_with_parent (GTK_WINDOW (self), TRUE);
    }
  ats_weight_diff_window_set_diff (self, diff);
  return GTK_WIDGET (self);
}

const char *
ats_weight_diff_window_get_csv_path (AtsWeightDiffWindow *self)
{
  g_return_val_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self), NULL);

  return self->csv_path;
}

void
ats_weight_diff_window_set_diff (AtsWeightDiffWindow *self, AtsWeightDiff *diff)
{
  g_return_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self));

  if (diff != self->diff)
    g_clear_pointer (&self->diff, ats_weight_diff_free);
  self->diff = diff;
  update_matrix (self);
  gtk_widget_set_sensitive (self->export_button, self->values != NULL);
  gtk_stack_set_visible_child_name (self->stack, diff != NULL ? "matrix" : "computing");
  gtk_widget_queue_draw (self->area);
}

const AtsWeightDiff *
ats_weight_diff_window_get_diff (AtsWeightDiffWindow *self)
{
  g_return_val_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self), NULL);

  return self->diff;
}

void
ats_weight_diff_window_set_metric (AtsWeightDiffWindow *self, const char *metric)
{
  g_return_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self));

  for (guint i = 0; i < G_N_ELEMENTS (diff_metrics); i++)
    if (g_strcmp0 (diff_metrics[i].name, metric) == 0)
      gtk_drop_down_set_selected (self->metric_dropdown, i);
}

const char *
ats_weight_diff_window_get_metric (AtsWeightDiffWindow *self)
{
  g_return_val_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self), NULL);

  return current_metric (self)->name;
}

const float *
ats_weight_diff_window_get_matrix (AtsWeightDiffWindow *self,
                                   guint               *n_rows,
                                   guint               *n_cols,
                                   const char *const  **row_labels,
                                   const char *const  **col_labels)
{
  g_return_val_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self), NULL);

  if (n_rows != NULL)
    *n_rows = self->n_rows;
  if (n_cols != NULL)
    *n_cols = self->n_cols;
  if (row_labels != NULL)
    *row_labels = self->row_labels ? (const char *const *) self->row_labels->pdata : NULL;
  if (col_labels != NULL)
    *col_labels = self->col_labels ? (const char *const *) self->col_labels->pdata : NULL;
  return self->values;
}

gboolean
ats_weight_diff_window_export (AtsWeightDiffWindow *self, const char *path, GError **error)
{
  AtsExportFormat   format;
  AtsExportMetadata meta = { 0 };
  double            width = 900, height;

  g_return_val_if_fail (ATS_IS_WEIGHT_DIFF_WINDOW (self), FALSE);

  if (self->values == NULL || self->n_rows == 0 || self->n_cols == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "Nothing to export: the checkpoints are still being compared");
      return FALSE;
    }
  if (!ats_export_format_from_path (path, &format, error))
    return FALSE;
  height = CLAMP (width * 0.75 * self->n_rows / MAX (self->n_cols, 4u) + 0.3 * width, 0.45 * width,
                  3.0 * width);
  meta.title = self->title;
  meta.description = self->footer;
  return ats_export (path, format, width, height, 72.0, &meta, draw_export, &self->matrix, error);
}
