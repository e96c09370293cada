/* ats-window.c */
#include "ats-window.h"

#include <math.h>

#include "ats-capture-job.h"
#include "ats-gui-util.h"
#include "ats-plot-view.h"
#include "ats-sweep-view.h"
#include "ats-weight-diff-window.h"
#include "ats-whatif-job.h"

#define THUMB_SIZE 48
#define EXPORT_MAP_SIZE 512

struct _AtsWindow
{
  GtkApplicationWindow parent_instance;

  /* template */
  GtkDropDown        *run_dropdown;
  GtkRevealer        *capture_revealer;
  GtkLabel           *model_label;
  GtkEntry           *prompt_entry;
  GtkProgressBar     *progress_bar;
  GtkStack           *main_stack;
  GtkSpinner         *loading_spinner;
  GtkLabel           *loading_label;
  GtkLabel           *empty_label;
  GtkStack           *view_stack;
  GtkDropDown        *color_by_dropdown;
  AtsOverviewGrid    *overview_grid;
  GtkSpinButton      *layer_spin;
  GtkSpinButton      *head_spin;
  GtkDropDown        *colormap_dropdown;
  GtkDropDown        *scale_dropdown;
  GtkToggleButton    *crosshair_toggle;
  GtkToggleButton    *whatif_toggle;
  GtkScale           *tau_scale;
  GtkCheckButton     *model_tau_check;
  GtkLabel           *whatif_caption;
  AtsHeatmapView     *heatmap_view;
  GtkDropDown        *token_mode_dropdown;
  AtsTokenView       *token_view;
  AtsDiagnosticsView *diagnostics_view;
  AtsCompareView     *compare_view;
  GtkStackPage       *sweep_page;
  AtsSweepView       *sweep_view;
  GtkLabel           *status_label;
  GtkLabel           *position_label;
  GMenu              *open_menu;

  /* the capture */
  AtsDocument  *document;
  guint         run;
  guint         generation; /* bumped when the document or run changes */
  guint         layer;
  guint         head;
  AtsMatrix    *head_matrix;
  AtsMetrics   *metrics;
  GCancellable *run_cancellable;
  GCancellable *head_cancellable;

  /* what-if Elastic-Softmax of the head view */
  float           *lazy_tau; /* [L, H] lazy/tau of the run (or of the compared capture), or NULL */
  char            *lazy_tau_source;
  gboolean         lazy_tau_compare; /* lazy_tau is the compared capture's */
  AtsWhatifResult *whatif;           /* the transform shown (or last computed) */
  gboolean         whatif_running;
  gboolean         whatif_dirty; /* parameters changed while a transform was running */

  /* the second capture */
  AtsDocument  *compare_doc;
  AtsMetrics   *compare_metrics;
  AtsMatrix    *compare_matrix;
  GCancellable *compare_cancellable;

  /* the /sweep group of a sweep file */
  GCancellable *sweep_cancellable;

  /* Compare Weights: the base folder between the two choosers, the heatmap window */
  char         *weights_base;
  GtkWidget    *weight_diff_window;
  GCancellable *weights_cancellable;

  /* a model folder */
  AtsCaptureJob *job;
  GCancellable  *capture_cancellable;
  GBinding      *progress_binding;

  guint      pending;
  GtkWidget *error_dialog;
  char      *last_error;
  GPtrArray *color_by_metrics; /* [n] metric names, entry 0 NULL = thumbnails */
  GMenu     *recent_section;
  gboolean   updating;
};

G_DEFINE_FINAL_TYPE (AtsWindow, ats_window, GTK_TYPE_APPLICATION_WINDOW)

static void load_head (AtsWindow *self);
static void update_actions (AtsWindow *self);
static void update_whatif (AtsWindow *self);
static void load_sweep (AtsWindow *self);
static void open_model (AtsWindow *self, const char *path);

/* --- helpers --- */

static void
begin_pending (AtsWindow *self)
{
  self->pending++;
}

static void
end_pending (AtsWindow *self)
{
  g_return_if_fail (self->pending > 0);
  self->pending--;
}

static gboolean
is_cancelled (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
reset_cancellable (GCancellable **cancellable)
{
  if (*cancellable != NULL)
    g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
  *cancellable = g_cancellable_new ();
}

static void
set_status (AtsWindow *self, const char *text)
{
  gtk_label_set_text (self->status_label, text != NULL ? text : "");
}

static void
on_error_dialog_response (GtkDialog *dialog, int response, AtsWindow *self)
{
  gtk_window_destroy (GTK_WINDOW (dialog));
}

static void
on_error_dialog_destroy (GtkWidget *dialog, AtsWindow *self)
{
  if (self->error_dialog == dialog)
    self->error_dialog = NULL;
}

void
ats_window_show_error (AtsWindow *self, const char *title, const GError *error)
{
  GtkWidget *dialog;

  g_return_if_fail (ATS_IS_WINDOW (self));

  g_free (self->last_error);
  self->last_error = g_strdup_printf ("%s\n%s", title, error != NULL ? error->message : "");
  set_status (self, title);

  if (self->error_dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (self->error_dialog));

  dialog =
      gtk_message_dialog_new (GTK_WINDOW (self), GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                              GTK_MESSAGE_ERROR, GTK_BUTTONS_CLOSE, "%s", title);
  if (error != NULL)
    gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", error->message);
  gtk_widget_add_css_class (dialog, "error-dialog");
  g_signal_connect (dialog, "response", G_CALLBACK (on_error_dialog_response), self);
  g_signal_connect (dialog, "destroy", G_CALLBACK (on_error_dialog_destroy), self);
  self->error_dialog = dialog;
  gtk_window_present (GTK_WINDOW (dialog));
}

GtkWindow *
ats_window_get_error_dialog (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->error_dialog != NULL ? GTK_WINDOW (self->error_dialog) : NULL;
}

const char *
ats_window_get_last_error (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->last_error;
}

static void
add_recent (const char *path)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autofree char *uri = g_file_get_uri (file);
  const char      *app = g_get_application_name ();
  GtkRecentData    data = { 0 };

  /* explicit application data: gtk_recent_manager_add_item() takes the program name, and a
   * NULL one (a test or tool without GApplication) writes an entry GLib cannot read back */
  data.mime_type =
      (char *) (g_file_test (path, G_FILE_TEST_IS_DIR) ? "inode/directory" : "application/x-hdf5");
  data.app_name = (char *) (app != NULL ? app : "attnscope");
  data.app_exec = (char *) "attnscope %u";
  gtk_recent_manager_add_full (gtk_recent_manager_get_default (), uri, &data);
}

static char *
run_title (const AtsCaptureRun *run)
{
  g_autofree char *prompt =
      g_utf8_substring (run->prompt != NULL ? run->prompt : "", 0,
                        MIN (40, g_utf8_strlen (run->prompt ? run->prompt : "", -1)));

  return g_strdup_printf ("Run %u · %u tokens%s · %s%s", run->index, run->n_tokens,
                          run->complete ? "" : " (incomplete)", prompt,
                          run->prompt != NULL && g_utf8_strlen (run->prompt, -1) > 40 ? "…" : "");
}

static char *
provenance (AtsWindow *self)
{
  const AtsCaptureModelInfo *info = ats_document_get_model_info (self->document);
  g_autofree char           *name = ats_document_dup_display_name (self->document);

  return g_strdup_printf ("%s · run %u · %s, %s attention, %u layers x %u heads", name, self->run,
                          info->architecture ? info->architecture : "model",
                          info->attention == ATS_ATTENTION_ELASTIC ? "elastic" : "softmax",
                          info->n_layers, info->n_heads);
}

/* --- head --- */

static void
update_position (AtsWindow *self)
{
  g_autofree char *text = NULL;

  if (self->document == NULL)
    {
      gtk_label_set_text (self->position_label, "");
      return;
    }

  text = g_strdup_printf ("Run %u · layer %u · head %u", self->run, self->layer, self->head);
  gtk_label_set_text (self->position_label, text);
}

static void
update_token_sinks (AtsWindow *self)
{
  const AtsCaptureRun *run;
  g_autofree gboolean *sinks = NULL;

  if (self->document == NULL || self->metrics == NULL)
    {
      ats_token_view_set_sinks (self->token_view, NULL, 0);
      return;
    }

  run = ats_document_get_run (self->document, self->run);
  sinks = g_new0 (gboolean, MAX (1, run->n_tokens));
  for (guint k = 0; k < run->n_tokens; k++)
    sinks[k] = ats_metrics_is_sink (self->metrics, self->layer, self->head, k);
  ats_token_view_set_sinks (self->token_view, sinks, run->n_tokens);
}

static void
update_compare_maps (AtsWindow *self)
{
  const AtsCaptureRun *run;
  g_autofree char     *title = NULL;

  if (self->document == NULL || self->compare_doc == NULL)
    return;

  run = ats_document_get_run (self->document, self->run);
  title = g_strdup_printf ("layer %u, head %u", self->layer, self->head);
  ats_compare_view_set_maps (self->compare_view, self->head_matrix, self->compare_matrix,
                             (const char *const *) run->pieces, title);
}

typedef struct
{
  AtsWindow *self;
  guint      generation;
  guint      layer;
  guint      head;
} HeadRequest;

static HeadRequest *
head_request_new (AtsWindow *self)
{
  HeadRequest *req = g_new0 (HeadRequest, 1);

  req->self = g_object_ref (self);
  req->generation = self->generation;
  req->layer = self->layer;
  req->head = self->head;
  begin_pending (self);
  return req;
}

static void
head_request_free (HeadRequest *req)
{
  end_pending (req->self);
  g_object_unref (req->self);
  g_free (req);
}

static gboolean
head_request_current (HeadRequest *req)
{
  return req->generation == req->self->generation && req->layer == req->self->layer &&
         req->head == req->self->head;
}

/* --- what-if Elastic-Softmax --- */

static void
show_head_matrix (AtsWindow *self)
{
  const AtsCaptureRun *run = ats_document_get_run (self->document, self->run);
  gboolean             elastic =
      ats_document_get_model_info (self->document)->attention == ATS_ATTENTION_ELASTIC;

  gtk_widget_set_visible (GTK_WIDGET (self->whatif_caption), FALSE);
  ats_heatmap_view_set_value_name (self->heatmap_view, "weight");
  /* Elastic-Softmax captures have exact zeros of their own */
  ats_heatmap_view_set_mark_zeros (self->heatmap_view, elastic);
  ats_heatmap_view_set_matrix (self->heatmap_view, self->head_matrix,
                               (const char *const *) run->pieces);
}

static float
whatif_tau (AtsWindow *self, const char **source)
{
  if (self->lazy_tau != NULL && gtk_check_button_get_active (self->model_tau_check))
    {
      *source = self->lazy_tau_source;
      return self->lazy_tau[self->layer * ats_document_get_n_heads (self->document) + self->head];
    }
  *source = "slider";
  return (float) gtk_range_get_value (GTK_RANGE (self->tau_scale));
}

static double
whatif_sink_eps (AtsWindow *self)
{
  AtsDiagParams params;

  ats_diagnostics_view_get_params (self->diagnostics_view, &params);
  return params.sink_eps;
}

static void
show_whatif (AtsWindow *self)
{
  const AtsCaptureRun *run = ats_document_get_run (self->document, self->run);
  const char          *source = NULL;
  g_autofree char     *caption = NULL;

  whatif_tau (self, &source);
  caption = ats_whatif_format_caption (&self->whatif->stats, self->whatif->tau, source);
  gtk_label_set_text (self->whatif_caption, caption);
  gtk_widget_set_visible (GTK_WIDGET (self->whatif_caption), TRUE);
  ats_heatmap_view_set_value_name (self->heatmap_view, "what-if weight");
  ats_heatmap_view_set_mark_zeros (self->heatmap_view, TRUE);
  if (ats_heatmap_view_get_matrix (self->heatmap_view) != self->whatif->map)
    ats_heatmap_view_set_matrix (self->heatmap_view, self->whatif->map,
                                 (const char *const *) run->pieces);
}

static void
on_whatif_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AtsWindow *self = user_data;
  g_autoptr (GError) error = NULL;
  AtsWhatifResult *res;

  res = ats_whatif_job_run_finish (result, &error);
  self->whatif_running = FALSE;
  if (res == NULL)
    {
      if (!is_cancelled (error))
        set_status (self, error->message);
    }
  else if (self->document != NULL && res->source == self->head_matrix)
    {
      g_clear_pointer (&self->whatif, ats_whatif_result_free);
      self->whatif = g_steal_pointer (&res);
    }
  g_clear_pointer (&res, ats_whatif_result_free);

  /* shows the result, or starts the transform for parameters changed in the meantime */
  self->whatif_dirty = FALSE;
  update_whatif (self);
  end_pending (self);
  g_object_unref (self);
}

static void
update_whatif (AtsWindow *self)
{
  const char *source = NULL;
  float       tau;
  double      eps;

  if (self->document == NULL || self->head_matrix == NULL)
    return;

  if (!gtk_toggle_button_get_active (self->whatif_toggle))
    {
      if (ats_heatmap_view_get_matrix (self->heatmap_view) != self->head_matrix)
        show_head_matrix (self);
      gtk_widget_set_visible (GTK_WIDGET (self->whatif_caption), FALSE);
      return;
    }

  tau = whatif_tau (self, &source);
  eps = whatif_sink_eps (self);
  if (self->whatif != NULL && self->whatif->source == self->head_matrix &&
      self->whatif->tau == tau && self->whatif->sink_eps == eps)
    {
      show_whatif (self);
      return;
    }

  /* one transform at a time: a slider drag at large T coalesces into the latest value */
  if (self->whatif_running)
    {
      self->whatif_dirty = TRUE;
      return;
    }
  self->whatif_running = TRUE;
  begin_pending (self);
  set_status (self, "Computing the what-if Elastic-Softmax map…");
  ats_whatif_job_run_async (self->head_matrix, tau, eps, NULL, on_whatif_done, g_object_ref (self));
}

static void
on_whatif_changed (AtsWindow *self, GtkWidget *widget)
{
  update_whatif (self);
}

void
ats_window_set_whatif (AtsWindow *self, gboolean active, double tau, gboolean model_tau)
{
  g_return_if_fail (ATS_IS_WINDOW (self));

  gtk_range_set_value (GTK_RANGE (self->tau_scale), tau);
  gtk_check_button_set_active (self->model_tau_check, model_tau && self->lazy_tau != NULL);
  gtk_toggle_button_set_active (self->whatif_toggle, active);
  update_whatif (self);
}

const AtsWhatifHeadStats *
ats_window_get_whatif_stats (AtsWindow *self, float *tau, double *sink_eps)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  if (self->whatif == NULL || !gtk_toggle_button_get_active (self->whatif_toggle) ||
      ats_heatmap_view_get_matrix (self->heatmap_view) != self->whatif->map)
    return NULL;
  if (tau != NULL)
    *tau = self->whatif->tau;
  if (sink_eps != NULL)
    *sink_eps = self->whatif->sink_eps;
  return &self->whatif->stats;
}

const char *
ats_window_get_whatif_caption (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  if (!gtk_widget_get_visible (GTK_WIDGET (self->whatif_caption)))
    return NULL;
  return gtk_label_get_text (self->whatif_caption);
}

const float *
ats_window_get_lazy_tau (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->lazy_tau;
}

static void
set_lazy_tau (AtsWindow *self, float *tau, const char *source, gboolean compare)
{
  g_clear_pointer (&self->lazy_tau, g_free);
  g_clear_pointer (&self->lazy_tau_source, g_free);
  self->lazy_tau = tau;
  self->lazy_tau_source = g_strdup (source);
  self->lazy_tau_compare = compare;
  gtk_widget_set_visible (GTK_WIDGET (self->model_tau_check), tau != NULL);
  if (tau == NULL)
    gtk_check_button_set_active (self->model_tau_check, FALSE);
  update_whatif (self);
}

typedef struct
{
  AtsWindow *self;
  guint      generation;
  gboolean   compare;
} TauRequest;

static void
on_lazy_tau_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  TauRequest       *req = user_data;
  AtsWindow        *self = req->self;
  g_autofree float *tau = NULL;

  /* a capture without lazy/ is the common case, not an error */
  tau = ats_document_load_lazy_tau_finish (ATS_DOCUMENT (source), result, NULL);
  if (tau != NULL && req->generation == self->generation &&
      ATS_DOCUMENT (source) == (req->compare ? self->compare_doc : self->document) &&
      (self->lazy_tau == NULL || !req->compare))
    {
      g_autofree char *name = ats_document_dup_display_name (ATS_DOCUMENT (source));
      g_autofree char *label = g_strdup_printf ("Lazy τ of this head, %s", name);

      set_lazy_tau (self, g_steal_pointer (&tau), label, req->compare);
    }

  end_pending (self);
  g_object_unref (self);
  g_free (req);
}

static void
load_lazy_tau (AtsWindow *self, AtsDocument *document, gboolean compare)
{
  TauRequest *req;

  if (document == NULL || self->run >= ats_document_get_n_runs (document))
    return;

  req = g_new0 (TauRequest, 1);
  req->self = g_object_ref (self);
  req->generation = self->generation;
  req->compare = compare;
  begin_pending (self);
  ats_document_load_lazy_tau_async (document, self->run,
                                    compare ? self->compare_cancellable : self->run_cancellable,
                                    on_lazy_tau_loaded, req);
}

static void
on_head_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HeadRequest *req = user_data;
  AtsWindow   *self = req->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMatrix) matrix = NULL;

  matrix = ats_document_load_head_finish (ATS_DOCUMENT (source), result, &error);
  if (head_request_current (req) && ATS_DOCUMENT (source) == self->document)
    {
      if (matrix == NULL && !is_cancelled (error))
        {
          set_status (self, error->message);
          ats_heatmap_view_set_matrix (self->heatmap_view, NULL, NULL);
          ats_token_view_set_matrix (self->token_view, NULL);
        }
      else if (matrix != NULL)
        {
          g_clear_pointer (&self->head_matrix, ats_matrix_unref);
          self->head_matrix = ats_matrix_ref (matrix);
          /* with the what-if on, the view keeps the previous map until the transform is done */
          if (!gtk_toggle_button_get_active (self->whatif_toggle))
            show_head_matrix (self);
          ats_token_view_set_matrix (self->token_view, matrix);
          update_compare_maps (self);
          update_whatif (self);
        }
    }

  head_request_free (req);
}

static void
on_compare_head_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HeadRequest *req = user_data;
  AtsWindow   *self = req->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMatrix) matrix = NULL;

  matrix = ats_document_load_head_finish (ATS_DOCUMENT (source), result, &error);
  if (head_request_current (req) && ATS_DOCUMENT (source) == self->compare_doc)
    {
      if (matrix == NULL && !is_cancelled (error))
        set_status (self, error->message);
      g_clear_pointer (&self->compare_matrix, ats_matrix_unref);
      if (matrix != NULL)
        self->compare_matrix = ats_matrix_ref (matrix);
      update_compare_maps (self);
    }

  head_request_free (req);
}

static void
load_head (AtsWindow *self)
{
  if (self->document == NULL)
    return;

  reset_cancellable (&self->head_cancellable);
  g_clear_pointer (&self->head_matrix, ats_matrix_unref);
  ats_document_load_head_async (self->document, self->run, self->layer, self->head,
                                self->head_cancellable, on_head_loaded, head_request_new (self));

  if (self->compare_doc != NULL)
    {
      g_clear_pointer (&self->compare_matrix, ats_matrix_unref);
      if (self->run < ats_document_get_n_runs (self->compare_doc))
        ats_document_load_head_async (self->compare_doc, self->run, self->layer, self->head,
                                      self->head_cancellable, on_compare_head_loaded,
                                      head_request_new (self));
    }
}

void
ats_window_select_head (AtsWindow *self, guint layer, guint head)
{
  guint L, H;

  g_return_if_fail (ATS_IS_WINDOW (self));

  if (self->document == NULL)
    return;

  L = ats_document_get_n_layers (self->document);
  H = ats_document_get_n_heads (self->document);
  self->layer = MIN (layer, L - 1);
  self->head = MIN (head, H - 1);

  self->updating = TRUE;
  gtk_spin_button_set_value (self->layer_spin, self->layer);
  gtk_spin_button_set_value (self->head_spin, self->head);
  self->updating = FALSE;

  ats_overview_grid_set_selected (self->overview_grid, self->layer, self->head);
  update_position (self);
  update_token_sinks (self);
  load_head (self);
}

void
ats_window_get_head (AtsWindow *self, guint *layer, guint *head)
{
  g_return_if_fail (ATS_IS_WINDOW (self));

  if (layer != NULL)
    *layer = self->layer;
  if (head != NULL)
    *head = self->head;
}

AtsMatrix *
ats_window_get_head_matrix (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->head_matrix;
}

static void
navigate (AtsWindow *self, int d_layer, int d_head)
{
  int L, H, layer, head;

  if (self->document == NULL)
    return;

  L = ats_document_get_n_layers (self->document);
  H = ats_document_get_n_heads (self->document);
  layer = CLAMP ((int) self->layer + d_layer, 0, L - 1);
  head = (int) self->head + d_head;
  /* heads wrap into the neighbouring layer, so that arrows walk the whole model */
  if (head < 0 && layer > 0 && d_layer == 0)
    {
      layer--;
      head = H - 1;
    }
  else if (head >= H && layer < L - 1 && d_layer == 0)
    {
      layer++;
      head = 0;
    }
  head = CLAMP (head, 0, H - 1);

  if ((guint) layer != self->layer || (guint) head != self->head)
    ats_window_select_head (self, layer, head);
}

/* --- run --- */

typedef struct
{
  AtsWindow *self;
  guint      generation;
  guint      layer;
  guint      head;
} RunRequest;

static RunRequest *
run_request_new (AtsWindow *self, guint layer)
{
  RunRequest *req = g_new0 (RunRequest, 1);

  req->self = g_object_ref (self);
  req->generation = self->generation;
  req->layer = layer;
  begin_pending (self);
  return req;
}

static void
run_request_free (RunRequest *req)
{
  end_pending (req->self);
  g_object_unref (req->self);
  g_free (req);
}

static void
on_thumbnails_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunRequest *req = user_data;
  AtsWindow  *self = req->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMatrix) thumb = NULL;

  thumb = ats_document_load_thumbnail_finish (ATS_DOCUMENT (source), result, &error);
  if (req->generation == self->generation)
    {
      if (thumb == NULL && !is_cancelled (error) &&
          !g_error_matches (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING))
        set_status (self, error->message);
      if (thumb != NULL)
        ats_overview_grid_set_thumbnail (self->overview_grid, req->layer, req->head, thumb);
    }

  run_request_free (req);
}

static void
set_metrics (AtsWindow *self, AtsMetrics *metrics)
{
  if (metrics != NULL)
    ats_metrics_ref (metrics);
  g_clear_pointer (&self->metrics, ats_metrics_unref);
  self->metrics = metrics;

  ats_overview_grid_set_metrics (self->overview_grid, metrics);
  ats_diagnostics_view_set_metrics (self->diagnostics_view, metrics);
  ats_compare_view_set_metrics (self->compare_view, metrics, self->compare_metrics);
  update_token_sinks (self);
}

static void
on_metrics_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunRequest *req = user_data;
  AtsWindow  *self = req->self;
  g_autoptr (GError) error = NULL;
  AtsDiagResults *results;

  results = ats_document_load_metrics_finish (ATS_DOCUMENT (source), result, &error);
  if (req->generation == self->generation)
    {
      ats_diagnostics_view_set_busy (self->diagnostics_view, FALSE);
      if (results != NULL)
        {
          g_autoptr (AtsMetrics) metrics = ats_metrics_new_take (results);

          results = NULL;
          set_metrics (self, metrics);
        }
      else if (!is_cancelled (error))
        set_status (self, error->message);
    }
  g_clear_pointer (&results, ats_diag_results_free);

  run_request_free (req);
}

static void
on_compare_metrics_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunRequest *req = user_data;
  AtsWindow  *self = req->self;
  g_autoptr (GError) error = NULL;
  AtsDiagResults *results;

  results = ats_document_load_metrics_finish (ATS_DOCUMENT (source), result, &error);
  if (req->generation == self->generation && ATS_DOCUMENT (source) == self->compare_doc &&
      results != NULL)
    {
      g_clear_pointer (&self->compare_metrics, ats_metrics_unref);
      self->compare_metrics = ats_metrics_new_take (results);
      results = NULL;
      ats_compare_view_set_metrics (self->compare_view, self->metrics, self->compare_metrics);
    }
  else if (results == NULL && !is_cancelled (error))
    set_status (self, error->message);
  g_clear_pointer (&results, ats_diag_results_free);

  run_request_free (req);
}

static void
load_compare_metrics (AtsWindow *self)
{
  g_clear_pointer (&self->compare_metrics, ats_metrics_unref);
  if (self->compare_doc == NULL || self->run >= ats_document_get_n_runs (self->compare_doc))
    return;

  reset_cancellable (&self->compare_cancellable);
  ats_document_load_metrics_async (self->compare_doc, self->run, NULL, self->compare_cancellable,
                                   on_compare_metrics_loaded, run_request_new (self, 0));
}

void
ats_window_select_run (AtsWindow *self, guint run)
{
  const AtsCaptureRun *r;
  guint                L, H;

  g_return_if_fail (ATS_IS_WINDOW (self));

  if (self->document == NULL || run >= ats_document_get_n_runs (self->document))
    return;

  self->run = run;
  self->generation++;
  reset_cancellable (&self->run_cancellable);

  if (gtk_drop_down_get_selected (self->run_dropdown) != run)
    {
      self->updating = TRUE;
      gtk_drop_down_set_selected (self->run_dropdown, run);
      self->updating = FALSE;
    }

  r = ats_document_get_run (self->document, run);
  L = ats_document_get_n_layers (self->document);
  H = ats_document_get_n_heads (self->document);

  ats_token_view_set_tokens (self->token_view, (const char *const *) r->pieces);
  ats_token_view_set_selected (self->token_view, -1);
  ats_overview_grid_set_shape (self->overview_grid, L, H);
  set_metrics (self, NULL);

  ats_document_load_metrics_async (self->document, run, NULL, self->run_cancellable,
                                   on_metrics_loaded, run_request_new (self, 0));
  /* one job per head at the lowest I/O priority: the head the user opens goes first, and the
   * grid shows the stored metrics' colours until a head's thumbnail arrives */
  for (guint l = 0; l < L && r->has_attention; l++)
    for (guint h = 0; h < H; h++)
      {
        RunRequest *req;

        if (!ats_document_has_head (self->document, run, l, h))
          continue;
        req = run_request_new (self, l);
        req->head = h;
        ats_document_load_thumbnail_async (self->document, run, l, h, THUMB_SIZE,
                                           self->run_cancellable, on_thumbnails_loaded, req);
      }
  load_compare_metrics (self);
  set_lazy_tau (self, NULL, NULL, FALSE);
  g_clear_pointer (&self->whatif, ats_whatif_result_free);
  load_lazy_tau (self, self->document, FALSE);
  load_lazy_tau (self, self->compare_doc, TRUE);

  ats_window_select_head (self, self->layer, self->head);
}

guint
ats_window_get_run (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), 0);

  return self->run;
}

/* --- sweep files --- */

typedef struct
{
  AtsWindow   *self;
  AtsDocument *document;
} SweepRequest;

static void
on_sweep_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SweepRequest *req = user_data;
  AtsWindow    *self = req->self;
  g_autoptr (GError) error = NULL;
  AtsSweepData *data;

  data = ats_sweep_data_load_finish (result, &error);
  if (data != NULL && req->document == self->document)
    {
      ats_sweep_view_set_data (self->sweep_view, data);
      gtk_stack_page_set_visible (self->sweep_page, TRUE);
      ats_window_show_view (self, "sweep");
      set_status (self, "A merge sweep: every diagnostic against the swept parameter");
    }
  else
    {
      g_clear_pointer (&data, ats_sweep_data_free);
      /* a plain capture (no /sweep) is the common case, not an error */
      if (error != NULL && !is_cancelled (error) &&
          !g_error_matches (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING) &&
          req->document == self->document)
        set_status (self, error->message);
    }

  end_pending (self);
  g_object_unref (req->document);
  g_object_unref (self);
  g_free (req);
}

static void
load_sweep (AtsWindow *self)
{
  SweepRequest *req = g_new0 (SweepRequest, 1);

  reset_cancellable (&self->sweep_cancellable);
  if (g_strcmp0 (ats_window_get_view (self), "sweep") == 0)
    ats_window_show_view (self, "overview");
  gtk_stack_page_set_visible (self->sweep_page, FALSE);
  ats_sweep_view_set_data (self->sweep_view, NULL);

  req->self = g_object_ref (self);
  req->document = g_object_ref (self->document);
  begin_pending (self);
  ats_sweep_data_load_async (ats_document_get_path (self->document), self->sweep_cancellable,
                             on_sweep_loaded, req);
}

AtsSweepView *
ats_window_get_sweep_view (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->sweep_view;
}

/* --- document --- */

static void
set_document (AtsWindow *self, AtsDocument *document)
{
  g_autoptr (GtkStringList) runs = gtk_string_list_new (NULL);
  g_autofree char           *name = ats_document_dup_display_name (document);
  const AtsCaptureModelInfo *info = ats_document_get_model_info (document);
  g_autofree char           *subtitle = NULL;

  g_set_object (&self->document, document);
  self->generation++;
  self->layer = 0;
  self->head = 0;
  self->run = 0;

  for (guint i = 0; i < ats_document_get_n_runs (document); i++)
    {
      g_autofree char *t = run_title (ats_document_get_run (document, i));

      gtk_string_list_append (runs, t);
    }

  self->updating = TRUE;
  gtk_drop_down_set_model (self->run_dropdown, G_LIST_MODEL (runs));
  gtk_widget_set_visible (GTK_WIDGET (self->run_dropdown), TRUE);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->layer_spin), info->n_layers - 1);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->head_spin), info->n_heads - 1);
  self->updating = FALSE;

  subtitle = g_strdup_printf ("%s — attnscope", name);
  gtk_window_set_title (GTK_WINDOW (self), subtitle);
  gtk_stack_set_visible_child_name (self->main_stack, "views");

  ats_window_select_run (self, 0);
  load_sweep (self);
  update_actions (self);
}

AtsDocument *
ats_window_get_document (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->document;
}

AtsDocument *
ats_window_get_compare_document (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->compare_doc;
}

static void
show_idle_page (AtsWindow *self)
{
  gtk_spinner_stop (self->loading_spinner);
  gtk_stack_set_visible_child_name (self->main_stack, self->document != NULL ? "views" : "empty");
}

typedef struct
{
  AtsWindow *self;
  char      *path;
  gboolean   compare;
} OpenRequest;

static void
open_request_free (OpenRequest *req)
{
  end_pending (req->self);
  g_object_unref (req->self);
  g_free (req->path);
  g_free (req);
}

static void
on_document_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  OpenRequest *req = user_data;
  AtsWindow   *self = req->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsDocument) document = NULL;

  document = ats_document_open_finish (result, &error);
  show_idle_page (self);

  if (document == NULL)
    {
      g_autofree char *name = g_filename_display_basename (req->path);
      g_autofree char *title = g_strdup_printf ("Could not open “%s”", name);

      ats_window_show_error (self, title, error);
    }
  else if (req->compare)
    {
      g_autofree char           *name_a = ats_document_dup_display_name (self->document);
      g_autofree char           *name_b = ats_document_dup_display_name (document);
      const AtsCaptureModelInfo *a = ats_document_get_model_info (self->document);
      const AtsCaptureModelInfo *b = ats_document_get_model_info (document);

      add_recent (req->path);
      if (a->n_layers != b->n_layers || a->n_heads != b->n_heads)
        {
          g_autoptr (GError) mismatch = NULL;
          g_autofree char *title = g_strdup_printf ("Cannot compare with “%s”", name_b);

          mismatch = g_error_new (ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                                  "%s has %u layers x %u heads, %s has %u x %u: compare captures "
                                  "of models with the same shape",
                                  name_a, a->n_layers, a->n_heads, name_b, b->n_layers, b->n_heads);
          ats_window_show_error (self, title, mismatch);
        }
      else
        {
          g_set_object (&self->compare_doc, document);
          g_clear_pointer (&self->compare_matrix, ats_matrix_unref);
          ats_compare_view_set_names (self->compare_view, name_a, name_b);
          load_compare_metrics (self);
          if (self->lazy_tau_compare)
            set_lazy_tau (self, NULL, NULL, FALSE);
          load_lazy_tau (self, document, TRUE);
          load_head (self);
          ats_window_show_view (self, "compare");
          update_actions (self);
        }
    }
  else
    {
      add_recent (req->path);
      ats_window_close_compare (self);
      set_document (self, document);
    }

  open_request_free (req);
}

static void
open_document (AtsWindow *self, const char *path, gboolean compare)
{
  OpenRequest     *req = g_new0 (OpenRequest, 1);
  g_autofree char *name = g_filename_display_basename (path);
  g_autofree char *text = g_strdup_printf ("Opening %s…", name);

  req->self = g_object_ref (self);
  req->path = g_strdup (path);
  req->compare = compare;
  begin_pending (self);

  if (!compare)
    {
      gtk_label_set_text (self->loading_label, text);
      gtk_spinner_start (self->loading_spinner);
      gtk_stack_set_visible_child_name (self->main_stack, "loading");
    }
  set_status (self, text);
  ats_document_open_async (path, NULL, on_document_opened, req);
}

/* --- model folders --- */

static void
on_job_running (AtsCaptureJob *job, GParamSpec *pspec, AtsWindow *self)
{
  update_actions (self);
}

static void
on_model_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  OpenRequest *req = user_data;
  AtsWindow   *self = req->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCaptureJob) job = NULL;

  job = ats_capture_job_load_finish (result, &error);
  show_idle_page (self);

  if (job == NULL)
    {
      g_autofree char *name = g_filename_display_basename (req->path);
      g_autofree char *title = g_strdup_printf ("Could not load the model “%s”", name);

      ats_window_show_error (self, title, error);
    }
  else
    {
      g_autofree char      *name = ats_capture_job_dup_display_name (job);
      const AtsModelConfig *c = ats_model_get_config (ats_capture_job_get_model (job));
      g_autofree char      *label = g_strdup_printf ("%s · %u×%u", name, c->n_layers, c->n_heads);
      g_autofree char *hint = g_strdup_printf ("Model “%s” is loaded. Type a prompt above and "
                                               "press Run to capture its attention.",
                                               name);

      if (self->job != NULL)
        g_signal_handlers_disconnect_by_data (self->job, self);
      g_clear_pointer (&self->progress_binding, g_binding_unbind);
      g_set_object (&self->job, job);
      self->progress_binding = g_object_bind_property (job, "progress", self->progress_bar,
                                                       "fraction", G_BINDING_SYNC_CREATE);
      g_signal_connect (job, "notify::running", G_CALLBACK (on_job_running), self);

      add_recent (req->path);
      gtk_label_set_text (self->model_label, label);
      gtk_label_set_text (self->empty_label, hint);
      gtk_revealer_set_reveal_child (self->capture_revealer, TRUE);
      gtk_progress_bar_set_text (self->progress_bar, NULL);
      gtk_widget_grab_focus (GTK_WIDGET (self->prompt_entry));
      set_status (self, hint);
      update_actions (self);
    }

  open_request_free (req);
}

static void
open_model (AtsWindow *self, const char *path)
{
  OpenRequest     *req = g_new0 (OpenRequest, 1);
  g_autofree char *name = g_filename_display_basename (path);
  g_autofree char *text = g_strdup_printf ("Loading model %s…", name);

  req->self = g_object_ref (self);
  req->path = g_strdup (path);
  begin_pending (self);

  gtk_label_set_text (self->loading_label, text);
  gtk_spinner_start (self->loading_spinner);
  if (self->document == NULL)
    gtk_stack_set_visible_child_name (self->main_stack, "loading");
  set_status (self, text);
  ats_capture_job_load_async (path, NULL, on_model_loaded, req);
}

gboolean
ats_window_get_has_model (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), FALSE);

  return self->job != NULL;
}

static void
on_capture_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AtsWindow *self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  path = ats_capture_job_run_finish (ATS_CAPTURE_JOB (source), result, &error);
  if (path != NULL)
    {
      gtk_progress_bar_set_text (self->progress_bar, "Done");
      open_document (self, path, FALSE);
    }
  else if (is_cancelled (error))
    {
      gtk_progress_bar_set_text (self->progress_bar, "Cancelled");
      set_status (self, "The capture was cancelled; nothing was written.");
    }
  else
    {
      gtk_progress_bar_set_text (self->progress_bar, "Failed");
      ats_window_show_error (self, "The capture failed", error);
    }

  update_actions (self);
  end_pending (self);
  g_object_unref (self);
}

void
ats_window_run_capture (AtsWindow *self, const char *prompt)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *stripped = g_strstrip (g_strdup (prompt != NULL ? prompt : ""));

  g_return_if_fail (ATS_IS_WINDOW (self));

  if (self->job == NULL || ats_capture_job_get_running (self->job))
    return;

  if (stripped[0] == '\0')
    {
      g_autoptr (GError) empty = g_error_new_literal (ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                                                      "Type a prompt first: the prompt is empty.");

      ats_window_show_error (self, "Nothing to capture", empty);
      return;
    }

  out = ats_capture_job_make_output_path (self->job, &error);
  if (out == NULL)
    {
      ats_window_show_error (self, "Cannot write the capture", error);
      return;
    }

  reset_cancellable (&self->capture_cancellable);
  gtk_progress_bar_set_text (self->progress_bar, NULL);
  begin_pending (self);
  set_status (self, "Capturing…");
  ats_capture_job_run_async (self->job, prompt, out, self->capture_cancellable, on_capture_done,
                             g_object_ref (self));
  update_actions (self);
}

void
ats_window_cancel_capture (AtsWindow *self)
{
  g_return_if_fail (ATS_IS_WINDOW (self));

  if (self->capture_cancellable != NULL)
    g_cancellable_cancel (self->capture_cancellable);
}

/* --- demo models --- */

void
ats_window_open_demo (AtsWindow *self, const char *name)
{
  g_autofree char *path = NULL;

  g_return_if_fail (ATS_IS_WINDOW (self));

  path = ats_demo_model_path (name);
  if (path == NULL)
    {
      g_autoptr (GError) error =
          g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       "The demo checkpoint “%s” is neither installed (%s) nor in the source "
                       "tree (%s).",
                       name, ATS_DEMO_MODELS_DIR, ATS_SOURCE_MODELS_DIR);

      ats_window_show_error (self, "Demo model not found", error);
      return;
    }
  open_model (self, path);
}

/* --- weight comparison --- */

static void
on_weight_diff_window_destroy (GtkWidget *window, AtsWindow *self)
{
  if (self->weight_diff_window == window)
    self->weight_diff_window = NULL;
}

typedef struct
{
  AtsWindow *self;
  GtkWidget *window;
} WeightsRequest;

static void
on_weights_compared (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WeightsRequest *req = user_data;
  AtsWindow      *self = req->self;
  g_autoptr (GError) error = NULL;
  AtsWeightDiff *diff;

  diff = ats_weight_diff_compute_finish (result, &error);
  if (diff != NULL && req->window == self->weight_diff_window)
    {
      ats_weight_diff_window_set_diff (ATS_WEIGHT_DIFF_WINDOW (req->window), diff);
      set_status (self, "Weight change per layer and tensor kind");
    }
  else
    {
      g_clear_pointer (&diff, ats_weight_diff_free);
      if (error != NULL && !is_cancelled (error))
        {
          if (req->window == self->weight_diff_window && self->weight_diff_window != NULL)
            gtk_window_destroy (GTK_WINDOW (self->weight_diff_window));
          ats_window_show_error (self, "Could not compare the weights", error);
        }
    }

  end_pending (self);
  g_object_unref (req->window);
  g_object_unref (self);
  g_free (req);
}

void
ats_window_compare_weights (AtsWindow *self, const char *base_dir, const char *other_dir)
{
  WeightsRequest *req;

  g_return_if_fail (ATS_IS_WINDOW (self));
  g_return_if_fail (base_dir != NULL && other_dir != NULL);

  if (self->weight_diff_window != NULL)
    gtk_window_destroy (GTK_WINDOW (self->weight_diff_window));
  reset_cancellable (&self->weights_cancellable);

  self->weight_diff_window = ats_weight_diff_window_new (GTK_WINDOW (self), base_dir, other_dir,
                                                         self->weights_cancellable);
  g_signal_connect (self->weight_diff_window, "destroy", G_CALLBACK (on_weight_diff_window_destroy),
                    self);
  gtk_window_present (GTK_WINDOW (self->weight_diff_window));

  req = g_new0 (WeightsRequest, 1);
  req->self = g_object_ref (self);
  req->window = g_object_ref (self->weight_diff_window);
  begin_pending (self);
  set_status (self, "Comparing the weights…");
  ats_weight_diff_compute_async (base_dir, other_dir, self->weights_cancellable,
                                 on_weights_compared, req);
}

/* a saved diff: small, read on the spot */
void
ats_window_open_weight_diff (AtsWindow *self, const char *csv_path)
{
  g_autoptr (GError) error = NULL;
  AtsWeightDiff *diff;

  g_return_if_fail (ATS_IS_WINDOW (self));
  g_return_if_fail (csv_path != NULL);

  diff = ats_weight_diff_load_csv (csv_path, &error);
  if (diff == NULL)
    {
      g_autofree char *name = g_filename_display_basename (csv_path);
      g_autofree char *title = g_strdup_printf ("Could not open the weight diff “%s”", name);

      ats_window_show_error (self, title, error);
      return;
    }

  if (self->weight_diff_window != NULL)
    gtk_window_destroy (GTK_WINDOW (self->weight_diff_window));
  self->weight_diff_window =
      ats_weight_diff_window_new_for_diff (GTK_WINDOW (self), csv_path, diff);
  g_signal_connect (self->weight_diff_window, "destroy", G_CALLBACK (on_weight_diff_window_destroy),
                    self);
  gtk_window_present (GTK_WINDOW (self->weight_diff_window));
  set_status (self, "Weight change per layer and tensor kind");
}

GtkWindow *
ats_window_get_weight_diff_window (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->weight_diff_window != NULL ? GTK_WINDOW (self->weight_diff_window) : NULL;
}

/* --- public --- */

/* `attnscope-cli diff --csv` output, by its extension (captures are HDF5) */
static gboolean
is_weight_diff_path (const char *path)
{
  gsize n = strlen (path);

  return n >= 4 && g_ascii_strcasecmp (path + n - 4, ".csv") == 0;
}

void
ats_window_open_path (AtsWindow *self, const char *path)
{
  g_return_if_fail (ATS_IS_WINDOW (self));
  g_return_if_fail (path != NULL);

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    open_model (self, path);
  else if (is_weight_diff_path (path))
    ats_window_open_weight_diff (self, path);
  else
    open_document (self, path, FALSE);
}

void
ats_window_open_compare (AtsWindow *self, const char *path)
{
  g_return_if_fail (ATS_IS_WINDOW (self));

  if (self->document == NULL)
    {
      ats_window_open_path (self, path);
      return;
    }
  open_document (self, path, TRUE);
}

void
ats_window_close_compare (AtsWindow *self)
{
  g_return_if_fail (ATS_IS_WINDOW (self));

  if (self->compare_cancellable != NULL)
    g_cancellable_cancel (self->compare_cancellable);
  g_clear_object (&self->compare_doc);
  g_clear_pointer (&self->compare_metrics, ats_metrics_unref);
  g_clear_pointer (&self->compare_matrix, ats_matrix_unref);
  ats_compare_view_set_names (self->compare_view, NULL, NULL);
  if (self->lazy_tau_compare)
    set_lazy_tau (self, NULL, NULL, FALSE);
  update_actions (self);
}

AtsMetrics *
ats_window_get_metrics (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return self->metrics;
}

void
ats_window_show_view (AtsWindow *self, const char *name)
{
  g_return_if_fail (ATS_IS_WINDOW (self));

  gtk_stack_set_visible_child_name (self->view_stack, name);
}

const char *
ats_window_get_view (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), NULL);

  return gtk_stack_get_visible_child_name (self->view_stack);
}

gboolean
ats_window_get_busy (AtsWindow *self)
{
  g_return_val_if_fail (ATS_IS_WINDOW (self), FALSE);

  return self->pending > 0;
}

AtsHeatmapView *
ats_window_get_heatmap_view (AtsWindow *self)
{
  return self->heatmap_view;
}

AtsOverviewGrid *
ats_window_get_overview_grid (AtsWindow *self)
{
  return self->overview_grid;
}

AtsTokenView *
ats_window_get_token_view (AtsWindow *self)
{
  return self->token_view;
}

AtsDiagnosticsView *
ats_window_get_diagnostics_view (AtsWindow *self)
{
  return self->diagnostics_view;
}

AtsCompareView *
ats_window_get_compare_view (AtsWindow *self)
{
  return self->compare_view;
}

GtkWidget *
ats_window_get_status_label (AtsWindow *self)
{
  return GTK_WIDGET (self->status_label);
}

/* --- figures and export --- */

static void
on_export_maps_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  AtsWindow *self = g_task_get_source_object (task);
  g_autoptr (GPtrArray) maps = NULL;
  g_autofree char *footer = NULL;
  GError          *error = NULL;
  AtsFigure       *figure;

  maps = ats_document_load_maps_finish (ATS_DOCUMENT (source), result, &error);
  if (maps == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  footer = provenance (self);
  figure = ats_figure_new_grid (
      maps, ats_document_get_n_layers (self->document), ats_document_get_n_heads (self->document),
      ats_heatmap_view_get_colormap (self->heatmap_view), "Attention maps, layers x heads", footer);
  ats_figure_set_description (figure, footer);
  ats_figure_set_basename (figure, "overview");
  g_task_return_pointer (task, figure, (GDestroyNotify) ats_figure_free);
}

void
ats_window_build_figure_async (AtsWindow          *self,
                               GCancellable       *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer            user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *footer = NULL;
  const char      *view;
  AtsFigure       *figure = NULL;

  g_return_if_fail (ATS_IS_WINDOW (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_window_build_figure_async);

  if (self->document == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                               "Nothing to export: open a capture first");
      return;
    }

  footer = provenance (self);
  view = ats_window_get_view (self);

  if (g_strcmp0 (view, "overview") == 0)
    {
      const char *metric = ats_overview_grid_get_color_by (self->overview_grid);

      if (metric != NULL && self->metrics != NULL)
        {
          g_autofree char *title = g_strdup_printf ("%s per head", ats_metric_title (metric));
          g_autofree char *base = g_strdup_printf ("overview-%s", metric);

          figure = ats_figure_new_heat_matrix (self->metrics, metric,
                                               ats_heatmap_view_get_colormap (self->heatmap_view),
                                               title, footer);
          ats_figure_set_basename (figure, base);
        }
      else
        {
          /* the grid needs every map: read them on the I/O thread */
          ats_document_load_maps_async (self->document, self->run, EXPORT_MAP_SIZE, cancellable,
                                        on_export_maps_loaded, g_steal_pointer (&task));
          return;
        }
    }
  else if (g_strcmp0 (view, "sweep") == 0)
    {
      g_autoptr (GPtrArray) plots = ats_sweep_view_build_plots (self->sweep_view);
      g_autofree char *title = NULL;
      AtsSweepData    *data = ats_sweep_view_get_data (self->sweep_view);

      if (plots->len == 0 || data == NULL)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                   "Nothing to export: the sweep is not loaded yet");
          return;
        }
      title =
          g_strdup_printf ("Diagnostics against %s (%s merge)%s",
                           data->info->parameter ? data->info->parameter : "alpha",
                           ats_merge_method_to_string (data->info->method),
                           ats_sweep_view_get_per_layer (self->sweep_view) ? ", per layer" : "");
      figure = ats_figure_new_plots (plots, title);
      ats_figure_set_basename (figure, "sweep");
      g_free (footer);
      footer = ats_sweep_view_describe (self->sweep_view);
    }
  else if (g_strcmp0 (view, "diagnostics") == 0 ||
           (g_strcmp0 (view, "compare") == 0 &&
            ats_compare_view_get_difference (self->compare_view) == NULL &&
            self->compare_metrics != NULL))
    {
      GtkFlowBox *box = g_strcmp0 (view, "diagnostics") == 0
                            ? ats_diagnostics_view_get_plots (self->diagnostics_view)
                            : ats_compare_view_get_plots (self->compare_view);
      g_autoptr (GPtrArray) plots = g_ptr_array_new_with_free_func ((GDestroyNotify) ats_plot_free);

      for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (box)); child != NULL;
           child = gtk_widget_get_next_sibling (child))
        {
          GtkWidget *plot = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

          if (ATS_IS_PLOT_VIEW (plot))
            g_ptr_array_add (plots, ats_plot_view_build_plot (ATS_PLOT_VIEW (plot)));
        }
      if (plots->len == 0)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                   "Nothing to export: the diagnostics are not loaded yet");
          return;
        }
      figure = ats_figure_new_plots (plots, "Diagnostics per layer");
      ats_figure_set_basename (figure, "diagnostics");
    }
  else if (g_strcmp0 (view, "compare") == 0)
    {
      AtsMatrix           *diff = ats_compare_view_get_difference (self->compare_view);
      const AtsCaptureRun *run = ats_document_get_run (self->document, self->run);
      g_autofree char     *title = NULL;
      g_autofree char     *base = NULL;

      if (diff == NULL)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                   "Nothing to export: open a second capture to compare first");
          return;
        }
      title = g_strdup_printf ("Difference A − B, layer %u, head %u", self->layer, self->head);
      base = g_strdup_printf ("difference-layer%u-head%u", self->layer, self->head);
      figure = ats_figure_new_heatmap (diff, (const char *const *) run->pieces, ATS_COLORMAP_RDBU,
                                       ATS_SCALE_LINEAR, NAN, NAN, title, "A − B", footer);
      ats_figure_set_basename (figure, base);
    }
  else
    {
      const AtsCaptureRun *run = ats_document_get_run (self->document, self->run);
      g_autofree char     *title = NULL;
      g_autofree char     *base = NULL;

      if (self->head_matrix == NULL)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                   "Nothing to export: the map is not loaded yet");
          return;
        }
      if (ats_window_get_whatif_stats (self, NULL, NULL) != NULL)
        {
          title = g_strdup_printf ("Layer %u, head %u: what-if Elastic-Softmax, τ = %.2f",
                                   self->layer, self->head, self->whatif->tau);
          base = g_strdup_printf ("layer%u-head%u-whatif", self->layer, self->head);
        }
      else
        {
          title = g_strdup_printf ("Layer %u, head %u", self->layer, self->head);
          base = g_strdup_printf ("layer%u-head%u", self->layer, self->head);
        }
      figure = ats_figure_new_heatmap (ats_heatmap_view_get_matrix (self->heatmap_view),
                                       (const char *const *) run->pieces,
                                       ats_heatmap_view_get_colormap (self->heatmap_view),
                                       ats_heatmap_view_get_scale_kind (self->heatmap_view), NAN,
                                       NAN, title, "attention weight", footer);
      ats_figure_set_basename (figure, base);
    }

  ats_figure_set_description (figure, footer);
  g_task_return_pointer (task, figure, (GDestroyNotify) ats_figure_free);
}

AtsFigure *
ats_window_build_figure_finish (AtsWindow *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_export_figure (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  AtsWindow *self = ATS_WINDOW (source);
  g_autoptr (AtsFigure) figure = NULL;
  GError     *error = NULL;
  const char *path = g_task_get_task_data (task);

  figure = ats_window_build_figure_finish (self, result, &error);
  if (figure == NULL || !ats_figure_export (figure, path, ATS_EXPORT_FORMAT_AUTO, &error))
    {
      g_autofree char *name = g_filename_display_basename (path);
      g_autofree char *title = g_strdup_printf ("Could not export “%s”", name);

      ats_window_show_error (self, title, error);
      g_task_return_error (task, error);
    }
  else
    {
      g_autofree char *name = g_filename_display_basename (path);
      g_autofree char *text = g_strdup_printf ("Exported %s", name);

      set_status (self, text);
      g_task_return_boolean (task, TRUE);
    }
  end_pending (self);
}

void
ats_window_export_async (AtsWindow          *self,
                         const char         *path,
                         GCancellable       *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  GTask *task;

  g_return_if_fail (ATS_IS_WINDOW (self));
  g_return_if_fail (path != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ats_window_export_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  begin_pending (self);
  ats_window_build_figure_async (self, cancellable, on_export_figure, task);
}

gboolean
ats_window_export_finish (AtsWindow *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- file choosers --- */

typedef enum
{
  CHOOSE_CAPTURE,
  CHOOSE_MODEL,
  CHOOSE_COMPARE,
  CHOOSE_EXPORT,
  CHOOSE_SAVE_CAPTURE,
  CHOOSE_WEIGHTS_BASE,
  CHOOSE_WEIGHTS_OTHER,
  CHOOSE_WEIGHT_DIFF,
} ChooseKind;

static void choose (AtsWindow *self, ChooseKind kind, const char *title, const char *suggested);

static void
on_export_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  /* errors were shown by the window already */
  ats_window_export_finish (ATS_WINDOW (source), result, NULL);
}

static void
on_capture_copied (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AtsWindow *self = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_file_copy_finish (G_FILE (source), result, &error))
    ats_window_show_error (self, "Could not save the capture", error);
  else
    set_status (self, "Capture saved");
  g_object_unref (self);
}

static void
on_chooser_response (GtkNativeDialog *native, int response, AtsWindow *self)
{
  ChooseKind kind = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (native), "ats-kind"));
  g_autoptr (GFile) file = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      path = file != NULL ? g_file_get_path (file) : NULL;
    }

  if (path != NULL)
    switch (kind)
      {
      case CHOOSE_CAPTURE:
      case CHOOSE_MODEL:
        ats_window_open_path (self, path);
        break;
      case CHOOSE_COMPARE:
        ats_window_open_compare (self, path);
        break;
      case CHOOSE_EXPORT:
        ats_window_export_async (self, path, NULL, on_export_done, NULL);
        break;
      case CHOOSE_WEIGHTS_BASE:
        g_free (self->weights_base);
        self->weights_base = g_strdup (path);
        choose (self, CHOOSE_WEIGHTS_OTHER, "Compare Weights: the Other Checkpoint", NULL);
        break;
      case CHOOSE_WEIGHTS_OTHER:
        if (self->weights_base != NULL)
          ats_window_compare_weights (self, self->weights_base, path);
        break;
      case CHOOSE_WEIGHT_DIFF:
        ats_window_open_weight_diff (self, path);
        break;
      case CHOOSE_SAVE_CAPTURE:
        if (self->document != NULL)
          {
            g_autoptr (GFile) src = g_file_new_for_path (ats_document_get_path (self->document));

            g_file_copy_async (src, file, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, NULL, NULL,
                               NULL, on_capture_copied, g_object_ref (self));
          }
        break;
      default:
        break;
      }

  gtk_native_dialog_destroy (native);
  g_object_unref (native);
}

static void
choose (AtsWindow *self, ChooseKind kind, const char *title, const char *suggested)
{
  GtkFileChooserAction  action = GTK_FILE_CHOOSER_ACTION_OPEN;
  GtkFileChooserNative *native;

  if (kind == CHOOSE_MODEL || kind == CHOOSE_WEIGHTS_BASE || kind == CHOOSE_WEIGHTS_OTHER)
    action = GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER;
  else if (kind == CHOOSE_EXPORT || kind == CHOOSE_SAVE_CAPTURE)
    action = GTK_FILE_CHOOSER_ACTION_SAVE;

  native = gtk_file_chooser_native_new (title, GTK_WINDOW (self), action, NULL, NULL);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  g_object_set_data (G_OBJECT (native), "ats-kind", GINT_TO_POINTER (kind));

  if (kind == CHOOSE_CAPTURE || kind == CHOOSE_COMPARE)
    {
      GtkFileFilter *h5 = gtk_file_filter_new ();
      GtkFileFilter *all = gtk_file_filter_new ();

      gtk_file_filter_set_name (h5, "attnscope captures (*.h5, *.hdf5)");
      gtk_file_filter_add_pattern (h5, "*.h5");
      gtk_file_filter_add_pattern (h5, "*.hdf5");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), h5);
      gtk_file_filter_set_name (all, "All files");
      gtk_file_filter_add_pattern (all, "*");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), all);
      g_object_unref (h5);
      g_object_unref (all);
    }
  if (kind == CHOOSE_WEIGHT_DIFF)
    {
      GtkFileFilter *csv = gtk_file_filter_new ();
      GtkFileFilter *all = gtk_file_filter_new ();

      gtk_file_filter_set_name (csv, "Weight diffs (attnscope-cli diff --csv, *.csv)");
      gtk_file_filter_add_pattern (csv, "*.csv");
      gtk_file_filter_add_pattern (csv, "*.CSV");
      gtk_file_filter_add_mime_type (csv, "text/csv");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), csv);
      gtk_file_filter_set_name (all, "All files");
      gtk_file_filter_add_pattern (all, "*");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), all);
      g_object_unref (csv);
      g_object_unref (all);
    }
  if (action == GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER)
    {
      /* the shipped demo checkpoints, one click away */
      const char *const demos[] = { "demo-softmax", "demo-lazy" };

      for (guint i = 0; i < G_N_ELEMENTS (demos); i++)
        {
          g_autofree char *dir = ats_demo_model_path (demos[i]);
          g_autoptr (GFile) folder = dir != NULL ? g_file_new_for_path (dir) : NULL;

          if (folder != NULL)
            gtk_file_chooser_add_shortcut_folder (GTK_FILE_CHOOSER (native), folder, NULL);
        }
    }
  if (suggested != NULL)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (native), suggested);

  g_signal_connect (native, "response", G_CALLBACK (on_chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

/* --- actions --- */

static void
update_actions (AtsWindow *self)
{
  gboolean has_doc = self->document != NULL;
  gboolean running = self->job != NULL && ats_capture_job_get_running (self->job);
  struct
  {
    const char *name;
    gboolean    enabled;
  } states[] = {
    { "export", has_doc },         { "copy-image", has_doc },
    { "compare", has_doc },        { "close-compare", self->compare_doc != NULL },
    { "save-capture", has_doc },   { "run-capture", self->job != NULL && !running },
    { "cancel-capture", running },
  };

  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), states[i].name);

      if (action != NULL)
        g_simple_action_set_enabled (G_SIMPLE_ACTION (action), states[i].enabled);
    }
}

static void
open_capture_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  choose (ATS_WINDOW (user_data), CHOOSE_CAPTURE, "Open Capture", NULL);
}

static void
open_model_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  choose (ATS_WINDOW (user_data), CHOOSE_MODEL, "Open Model Folder", NULL);
}

static void
open_demo_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ats_window_open_demo (ATS_WINDOW (user_data), g_variant_get_string (param, NULL));
}

static void
compare_weights_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  choose (ATS_WINDOW (user_data), CHOOSE_WEIGHTS_BASE, "Compare Weights: the Base Checkpoint",
          NULL);
}

static void
open_weight_diff_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  choose (ATS_WINDOW (user_data), CHOOSE_WEIGHT_DIFF, "Open Weight Diff", NULL);
}

static void
open_recent_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ats_window_open_path (ATS_WINDOW (user_data), g_variant_get_string (param, NULL));
}

static void
compare_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  choose (ATS_WINDOW (user_data), CHOOSE_COMPARE, "Compare With Capture", NULL);
}

static void
close_compare_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ats_window_close_compare (ATS_WINDOW (user_data));
}

static void
save_capture_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  AtsWindow       *self = ATS_WINDOW (user_data);
  g_autofree char *name = NULL;

  if (self->document == NULL)
    return;
  name = g_path_get_basename (ats_document_get_path (self->document));
  choose (self, CHOOSE_SAVE_CAPTURE, "Save Capture As", name);
}

static void
on_figure_for_chooser (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AtsWindow       *self = ATS_WINDOW (source);
  g_autofree char *format = user_data;
  g_autoptr (AtsFigure) figure = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;

  figure = ats_window_build_figure_finish (self, result, &error);
  if (figure == NULL)
    {
      ats_window_show_error (self, "Nothing to export", error);
      return;
    }
  name = g_strdup_printf ("%s.%s", ats_figure_get_basename (figure), format);
  choose (self, CHOOSE_EXPORT, "Export Figure", name);
}

static void
export_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  AtsWindow *self = ATS_WINDOW (user_data);

  /* the figure is built once to name the file; the export builds it again for the path */
  if (g_strcmp0 (ats_window_get_view (self), "overview") == 0 &&
      ats_overview_grid_get_color_by (self->overview_grid) == NULL)
    {
      g_autofree char *name = g_strdup_printf ("overview.%s", g_variant_get_string (param, NULL));

      choose (self, CHOOSE_EXPORT, "Export Figure", name);
      return;
    }
  ats_window_build_figure_async (self, NULL, on_figure_for_chooser,
                                 g_strdup (g_variant_get_string (param, NULL)));
}

static void
on_figure_for_clipboard (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AtsWindow *self = ATS_WINDOW (source);
  g_autoptr (AtsFigure) figure = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GError) error = NULL;

  figure = ats_window_build_figure_finish (self, result, &error);
  if (figure != NULL)
    texture = ats_figure_to_texture (figure, 144, &error);
  if (texture == NULL)
    {
      ats_window_show_error (self, "Could not copy the figure", error);
      return;
    }
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (self)), texture);
  set_status (self, "Figure copied to the clipboard");
}

static void
copy_image_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ats_window_build_figure_async (ATS_WINDOW (user_data), NULL, on_figure_for_clipboard, NULL);
}

static void
run_capture_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  AtsWindow *self = ATS_WINDOW (user_data);

  ats_window_run_capture (self, gtk_editable_get_text (GTK_EDITABLE (self->prompt_entry)));
}

static void
cancel_capture_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ats_window_cancel_capture (ATS_WINDOW (user_data));
}

static void
show_view_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  AtsWindow *self = ATS_WINDOW (user_data);

  if (self->document != NULL)
    ats_window_show_view (self, g_variant_get_string (param, NULL));
}

static void
navigate_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  const char *name = g_action_get_name (G_ACTION (action));
  AtsWindow  *self = ATS_WINDOW (user_data);

  if (g_str_equal (name, "next-head"))
    navigate (self, 0, 1);
  else if (g_str_equal (name, "previous-head"))
    navigate (self, 0, -1);
  else if (g_str_equal (name, "next-layer"))
    navigate (self, 1, 0);
  else if (g_str_equal (name, "previous-layer"))
    navigate (self, -1, 0);
}

static void
select_head_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  guint layer, head;

  g_variant_get (param, "(uu)", &layer, &head);
  ats_window_select_head (ATS_WINDOW (user_data), layer, head);
  ats_window_show_view (ATS_WINDOW (user_data), "head");
}

static void
zoom_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  AtsWindow  *self = ATS_WINDOW (user_data);
  const char *name = g_action_get_name (G_ACTION (action));
  GtkWidget  *view = GTK_WIDGET (self->heatmap_view);
  double      cx = gtk_widget_get_width (view) / 2.0;
  double      cy = gtk_widget_get_height (view) / 2.0;

  if (g_str_equal (name, "zoom-in"))
    ats_heatmap_view_zoom_at (self->heatmap_view, 1.25, cx, cy);
  else if (g_str_equal (name, "zoom-out"))
    ats_heatmap_view_zoom_at (self->heatmap_view, 0.8, cx, cy);
  else
    ats_heatmap_view_fit (self->heatmap_view);
}

static const GActionEntry win_actions[] = {
  { "open-capture", open_capture_action },
  { "open-model", open_model_action },
  { "open-recent", open_recent_action, "s" },
  { "open-demo", open_demo_action, "s" },
  { "compare-weights", compare_weights_action },
  { "open-weight-diff", open_weight_diff_action },
  { "compare", compare_action },
  { "close-compare", close_compare_action },
  { "save-capture", save_capture_action },
  { "export", export_action, "s" },
  { "copy-image", copy_image_action },
  { "run-capture", run_capture_action },
  { "cancel-capture", cancel_capture_action },
  { "show-view", show_view_action, "s" },
  { "next-head", navigate_action },
  { "previous-head", navigate_action },
  { "next-layer", navigate_action },
  { "previous-layer", navigate_action },
  { "select-head", select_head_action, "(uu)" },
  { "zoom-in", zoom_action },
  { "zoom-out", zoom_action },
  { "zoom-fit", zoom_action },
};

/* --- recent files --- */

static void
update_recent (AtsWindow *self)
{
  GtkRecentManager *manager = gtk_recent_manager_get_default ();
  GList            *items = gtk_recent_manager_get_items (manager);
  const char       *app = g_get_application_name ();
  guint             n = 0;

  g_menu_remove_all (self->recent_section);
  for (GList *l = items; l != NULL && n < 8; l = l->next)
    {
      GtkRecentInfo   *info = l->data;
      g_autofree char *path = NULL;
      g_autoptr (GMenuItem) item = NULL;
      g_autofree char *label = NULL;

      if (app != NULL && !gtk_recent_info_has_application (info, app))
        continue;
      path = g_filename_from_uri (gtk_recent_info_get_uri (info), NULL, NULL);
      if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS))
        continue;

      label = g_filename_display_basename (path);
      item = g_menu_item_new (label, NULL);
      g_menu_item_set_action_and_target (item, "win.open-recent", "s", path);
      g_menu_append_item (self->recent_section, item);
      n++;
    }
  g_list_free_full (items, (GDestroyNotify) gtk_recent_info_unref);
}

/* --- template callbacks --- */

static void
on_prompt_activate (AtsWindow *self, GtkEntry *entry)
{
  ats_window_run_capture (self, gtk_editable_get_text (GTK_EDITABLE (entry)));
}

static void
on_view_changed (AtsWindow *self, GParamSpec *pspec, GtkStack *stack)
{
  const char *name = gtk_stack_get_visible_child_name (stack);

  if (g_strcmp0 (name, "head") == 0)
    gtk_widget_grab_focus (GTK_WIDGET (self->heatmap_view));
}

static void
on_color_by_changed (AtsWindow *self, GParamSpec *pspec, GtkDropDown *dropdown)
{
  guint selected = gtk_drop_down_get_selected (dropdown);

  if (self->color_by_metrics == NULL || selected >= self->color_by_metrics->len)
    return;
  ats_overview_grid_set_color_by (self->overview_grid,
                                  g_ptr_array_index (self->color_by_metrics, selected));
}

static void
on_overview_head_activated (AtsWindow *self, guint layer, guint head, GtkWidget *source)
{
  ats_window_select_head (self, layer, head);
  ats_window_show_view (self, "head");
}

static void
on_diagnostics_layer_activated (AtsWindow *self, guint layer, GtkWidget *source)
{
  g_autofree char *text = NULL;

  ats_window_select_head (self, layer, self->head);
  ats_window_show_view (self, "head");
  text = g_strdup_printf ("Layer %u from the diagnostics plot", self->layer);
  set_status (self, text);
}

static void
on_head_spin_changed (AtsWindow *self, GtkSpinButton *spin)
{
  if (self->updating)
    return;
  ats_window_select_head (self, gtk_spin_button_get_value_as_int (self->layer_spin),
                          gtk_spin_button_get_value_as_int (self->head_spin));
}

static void
on_heatmap_navigate (AtsWindow *self, int d_layer, int d_head, AtsHeatmapView *view)
{
  navigate (self, d_layer, d_head);
}

static void
on_heatmap_hover (AtsWindow *self, int row, int col, AtsHeatmapView *view)
{
  g_autofree char *text = NULL;

  if (row < 0 || col < 0)
    {
      set_status (self, NULL);
      return;
    }
  text = ats_heatmap_view_format_cell (view, row, col);
  g_strdelimit (text, "\n", ' ');
  set_status (self, text);
}

static void
on_heatmap_cell_activated (AtsWindow *self, guint row, guint col, AtsHeatmapView *view)
{
  ats_token_view_set_selected (self->token_view, row);
}

static void
on_diagnostics_recompute (AtsWindow *self, AtsDiagnosticsView *view)
{
  AtsDiagParams params;

  if (self->document == NULL)
    return;

  ats_diagnostics_view_get_params (view, &params);
  ats_diagnostics_view_set_busy (view, TRUE);
  set_status (self, "Recomputing diagnostics from the stored maps…");
  ats_document_load_metrics_async (self->document, self->run, &params, self->run_cancellable,
                                   on_metrics_loaded, run_request_new (self, 0));
}

static void
on_run_selected (AtsWindow *self, GParamSpec *pspec, GtkDropDown *dropdown)
{
  guint selected = gtk_drop_down_get_selected (dropdown);

  if (self->updating || selected == GTK_INVALID_LIST_POSITION || selected == self->run)
    return;
  ats_window_select_run (self, selected);
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, AtsWindow *self)
{
  g_autofree char *path = NULL;

  if (!G_VALUE_HOLDS (value, G_TYPE_FILE))
    return FALSE;
  path = g_file_get_path (g_value_get_object (value));
  if (path == NULL)
    return FALSE;
  ats_window_open_path (self, path);
  return TRUE;
}

/* --- GObject --- */

static void
ats_window_dispose (GObject *object)
{
  AtsWindow *self = ATS_WINDOW (object);

  if (self->run_cancellable != NULL)
    g_cancellable_cancel (self->run_cancellable);
  if (self->head_cancellable != NULL)
    g_cancellable_cancel (self->head_cancellable);
  if (self->compare_cancellable != NULL)
    g_cancellable_cancel (self->compare_cancellable);
  if (self->capture_cancellable != NULL)
    g_cancellable_cancel (self->capture_cancellable);
  if (self->sweep_cancellable != NULL)
    g_cancellable_cancel (self->sweep_cancellable);
  if (self->weights_cancellable != NULL)
    g_cancellable_cancel (self->weights_cancellable);
  if (self->weight_diff_window != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->weight_diff_window, self);
      gtk_window_destroy (GTK_WINDOW (g_steal_pointer (&self->weight_diff_window)));
    }

  if (self->job != NULL)
    g_signal_handlers_disconnect_by_data (self->job, self);
  g_signal_handlers_disconnect_by_data (gtk_recent_manager_get_default (), self);
  if (self->error_dialog != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->error_dialog, self);
      gtk_window_destroy (GTK_WINDOW (g_steal_pointer (&self->error_dialog)));
    }
  g_clear_pointer (&self->progress_binding, g_binding_unbind);

  gtk_widget_dispose_template (GTK_WIDGET (self), ATS_TYPE_WINDOW);

  g_clear_object (&self->document);
  g_clear_object (&self->compare_doc);
  g_clear_object (&self->job);
  g_clear_pointer (&self->head_matrix, ats_matrix_unref);
  g_clear_pointer (&self->compare_matrix, ats_matrix_unref);
  g_clear_pointer (&self->whatif, ats_whatif_result_free);
  g_clear_pointer (&self->lazy_tau, g_free);
  g_clear_pointer (&self->lazy_tau_source, g_free);
  g_clear_pointer (&self->metrics, ats_metrics_unref);
  g_clear_pointer (&self->compare_metrics, ats_metrics_unref);
  g_clear_object (&self->run_cancellable);
  g_clear_object (&self->head_cancellable);
  g_clear_object (&self->compare_cancellable);
  g_clear_object (&self->capture_cancellable);
  g_clear_object (&self->sweep_cancellable);
  g_clear_object (&self->weights_cancellable);
  g_clear_pointer (&self->weights_base, g_free);
  g_clear_pointer (&self->color_by_metrics, g_ptr_array_unref);
  g_clear_object (&self->recent_section);
  g_clear_pointer (&self->last_error, g_free);

  G_OBJECT_CLASS (ats_window_parent_class)->dispose (object);
}

static void
ats_window_class_init (AtsWindowClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_window_dispose;

  g_type_ensure (ATS_TYPE_HEATMAP_VIEW);
  g_type_ensure (ATS_TYPE_OVERVIEW_GRID);
  g_type_ensure (ATS_TYPE_TOKEN_VIEW);
  g_type_ensure (ATS_TYPE_DIAGNOSTICS_VIEW);
  g_type_ensure (ATS_TYPE_COMPARE_VIEW);
  g_type_ensure (ATS_TYPE_SWEEP_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/attnscope/Attnscope/ats-window.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, AtsWindow, name)
  BIND (run_dropdown);
  BIND (capture_revealer);
  BIND (model_label);
  BIND (prompt_entry);
  BIND (progress_bar);
  BIND (main_stack);
  BIND (loading_spinner);
  BIND (loading_label);
  BIND (empty_label);
  BIND (view_stack);
  BIND (color_by_dropdown);
  BIND (overview_grid);
  BIND (layer_spin);
  BIND (head_spin);
  BIND (colormap_dropdown);
  BIND (scale_dropdown);
  BIND (crosshair_toggle);
  BIND (whatif_toggle);
  BIND (tau_scale);
  BIND (model_tau_check);
  BIND (whatif_caption);
  BIND (heatmap_view);
  BIND (token_mode_dropdown);
  BIND (token_view);
  BIND (diagnostics_view);
  BIND (compare_view);
  BIND (sweep_page);
  BIND (sweep_view);
  BIND (status_label);
  BIND (position_label);
  BIND (open_menu);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, on_prompt_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_view_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_color_by_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_overview_head_activated);
  gtk_widget_class_bind_template_callback (widget_class, on_head_spin_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_heatmap_navigate);
  gtk_widget_class_bind_template_callback (widget_class, on_heatmap_hover);
  gtk_widget_class_bind_template_callback (widget_class, on_heatmap_cell_activated);
  gtk_widget_class_bind_template_callback (widget_class, on_diagnostics_recompute);
  gtk_widget_class_bind_template_callback (widget_class, on_whatif_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_diagnostics_layer_activated);
}

static void
ats_window_init (AtsWindow *self)
{
  g_autoptr (GtkStringList) color_by = gtk_string_list_new (NULL);
  const AtsDiagMetricInfo *metrics;
  guint                    n_metrics = 0;
  GtkDropTarget           *drop;

  gtk_widget_init_template (GTK_WIDGET (self));

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions, G_N_ELEMENTS (win_actions),
                                   self);

  /* colour-by choices: thumbnails, then every per-head metric of the catalogue */
  self->color_by_metrics = g_ptr_array_new ();
  g_ptr_array_add (self->color_by_metrics, NULL);
  gtk_string_list_append (color_by, "Map thumbnails");
  metrics = ats_diag_metrics_list (&n_metrics);
  for (guint i = 0; i < n_metrics; i++)
    if (metrics[i].shape == ATS_DIAG_SHAPE_LAYER_HEAD)
      {
        g_ptr_array_add (self->color_by_metrics, (gpointer) metrics[i].name);
        gtk_string_list_append (color_by, ats_metric_title (metrics[i].name));
      }
  gtk_drop_down_set_model (self->color_by_dropdown, G_LIST_MODEL (color_by));

  g_object_bind_property (self->colormap_dropdown, "selected", self->heatmap_view, "colormap",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->scale_dropdown, "selected", self->heatmap_view, "scale-kind",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->crosshair_toggle, "active", self->heatmap_view, "crosshair",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->token_mode_dropdown, "selected", self->token_view, "mode",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_signal_connect_swapped (self->run_dropdown, "notify::selected", G_CALLBACK (on_run_selected),
                            self);

  /* recent files under the Open menu */
  self->recent_section = g_menu_new ();
  g_menu_append_section (self->open_menu, "Recent", G_MENU_MODEL (self->recent_section));
  g_signal_connect_swapped (gtk_recent_manager_get_default (), "changed",
                            G_CALLBACK (update_recent), self);
  update_recent (self);

  drop = gtk_drop_target_new (G_TYPE_FILE, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));

  update_actions (self);
}

AtsWindow *
ats_window_new (GtkApplication *application)
{
  return g_object_new (ATS_TYPE_WINDOW, "application", application, NULL);
}
