/* ats-sweep-view.c — diagnostics of a merge sweep against the swept parameter */
#include "ats-sweep-view.h"

#include <math.h>

#include "ats-io-private.h"
#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"

#define SWEEP_RATE "sink_rate"
#define PLOT_WIDTH 360
#define PLOT_HEIGHT 250

/* --- data --- */

static void
summary_free (AtsSweepSummary *s)
{
  g_free (s->name);
  g_free (s->description);
  g_free (s->values);
  g_free (s->by_layer);
  g_free (s);
}

void
ats_sweep_data_free (AtsSweepData *data)
{
  if (data == NULL)
    return;
  g_free (data->path);
  g_clear_pointer (&data->info, ats_sweep_info_free);
  g_clear_pointer (&data->summaries, g_ptr_array_unref);
  g_free (data);
}

static AtsSweepData *
sweep_data_read (const char *path, GError **error)
{
  g_autoptr (AtsSweepData) data = g_new0 (AtsSweepData, 1);
  guint                    n_metrics = 0;
  const AtsDiagMetricInfo *metrics = ats_diag_metrics_list (&n_metrics);
  AtsSweepSummary         *rate;

  data->path = g_strdup (path);
  data->info = ats_sweep_file_read_info (path, error);
  if (data->info == NULL)
    return NULL;
  data->summaries = g_ptr_array_new_with_free_func ((GDestroyNotify) summary_free);

  rate = g_new0 (AtsSweepSummary, 1);
  rate->name = g_strdup (SWEEP_RATE);
  rate->description = g_strdup ("percent of heads with first-token mass > eps");
  rate->values = ats_sweep_file_read_summary (path, SWEEP_RATE, FALSE, NULL, NULL, NULL, error);
  if (rate->values == NULL)
    {
      summary_free (rate);
      return NULL;
    }
  g_ptr_array_add (data->summaries, rate);

  for (guint m = 0; m < n_metrics; m++)
    {
      const AtsDiagMetricInfo *mi = &metrics[m];
      AtsSweepSummary         *s;

      if (mi->shape != ATS_DIAG_SHAPE_LAYER_HEAD && mi->shape != ATS_DIAG_SHAPE_HIDDEN_LAYER)
        continue;
      s = g_new0 (AtsSweepSummary, 1);
      s->name = g_strdup (mi->name);
      s->description = g_strdup (mi->description);
      s->ours = mi->ours;
      s->hidden = mi->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER;
      s->values = ats_sweep_file_read_summary (path, mi->name, FALSE, NULL, NULL, NULL, error);
      if (s->values != NULL)
        s->by_layer =
            ats_sweep_file_read_summary (path, mi->name, TRUE, NULL, NULL, &s->rows, error);
      if (s->by_layer == NULL)
        {
          summary_free (s);
          return NULL;
        }
      g_ptr_array_add (data->summaries, s);
    }
  return g_steal_pointer (&data);
}

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError       *error = NULL;
  AtsSweepData *data = sweep_data_read (task_data, &error);

  if (data == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, data, (GDestroyNotify) ats_sweep_data_free);
}

void
ats_sweep_data_load_async (const char         *path,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, ats_sweep_data_load_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  _ats_io_run_task (task, ATS_IO_PRIORITY_METRICS, load_thread);
}

AtsSweepData *
ats_sweep_data_load_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- statistics --- */

static int
sort_by_value (gconstpointer a, gconstpointer b, gpointer data)
{
  const double *v = data;
  double        x = v[*(const guint *) a], y = v[*(const guint *) b];

  return x < y ? -1 : x > y ? 1 : (int) *(const guint *) a - (int) *(const guint *) b;
}

/* [S] steps in increasing swept value. */
static guint *
step_order (const AtsSweepInfo *info)
{
  guint *order = g_new (guint, info->n_steps);

  for (guint i = 0; i < info->n_steps; i++)
    order[i] = i;
  g_qsort_with_data (order, info->n_steps, sizeof (guint), sort_by_value, info->values);
  return order;
}

/* Mean and sample std (NaN below two values) over the prompts of v[(s * P + p) * stride +
 * offset], NaN entries left out (as `attnscope-cli render SWEEP --plot`). */
static void
prompt_stats (const double *v,
              guint         s,
              guint         P,
              guint         stride,
              guint         offset,
              double       *mean,
              double       *std)
{
  double sum = 0, sq = 0;
  guint  k = 0;

  for (guint p = 0; p < P; p++)
    {
      double x = v[((gsize) s * P + p) * stride + offset];

      if (!isnan (x))
        {
          sum += x;
          k++;
        }
    }
  *mean = k ? sum / k : NAN;
  for (guint p = 0; p < P; p++)
    {
      double x = v[((gsize) s * P + p) * stride + offset];

      if (!isnan (x))
        sq += (x - *mean) * (x - *mean);
    }
  *std = k > 1 ? sqrt (sq / (k - 1)) : NAN;
}

static guint
n_lines (const AtsSweepSummary *s, gboolean per_layer)
{
  return per_layer && s->by_layer != NULL ? s->rows : 1;
}

/* Line @line of @s: x, y, err [S] in increasing x (err NULL for per-layer lines). */
static void
line_values (const AtsSweepData    *data,
             const AtsSweepSummary *s,
             gboolean               per_layer,
             guint                  line,
             const guint           *order,
             double                *x,
             double                *y,
             double                *err)
{
  const AtsSweepInfo *info = data->info;
  gboolean            layers = per_layer && s->by_layer != NULL;

  for (guint i = 0; i < info->n_steps; i++)
    {
      double std;

      x[i] = info->values[order[i]];
      if (layers)
        prompt_stats (s->by_layer, order[i], info->n_prompts, s->rows, line, &y[i], &std);
      else
        prompt_stats (s->values, order[i], info->n_prompts, 1, 0, &y[i], &std);
      if (err != NULL)
        err[i] = layers ? NAN : std;
    }
}

static const char *
parameter_name (const AtsSweepInfo *info)
{
  if (info->parameter != NULL && info->parameter[0] != '\0')
    return info->parameter;
  return info->method == ATS_MERGE_LINEAR ? "alpha" : "lambda";
}

static AtsPlot *
build_plot (const AtsSweepData *data, const AtsSweepSummary *s, gboolean per_layer)
{
  const AtsSweepInfo *info = data->info;
  guint               S = info->n_steps;
  g_autofree guint   *order = step_order (info);
  g_autofree double  *x = g_new (double, S);
  g_autofree double  *y = g_new (double, S);
  g_autofree double  *err = g_new (double, S);
  g_autofree char    *title = NULL;
  g_autofree char    *x_label = NULL;
  guint               lines = n_lines (s, per_layer);
  AtsPlot            *plot = ats_plot_new (ATS_PLOT_LINES);

  title = g_strdup_printf ("%s%s", s->name, s->ours ? " (ours)" : "");
  x_label = g_strdup_printf ("%s (%s merge)", parameter_name (info),
                             ats_merge_method_to_string (info->method));
  ats_plot_set_title (plot, title);
  ats_plot_set_x_label (plot, x_label);
  ats_plot_set_y_label (plot, g_str_equal (s->name, SWEEP_RATE)
                                  ? "% of heads"
                                  : (per_layer ? "mean over heads" : "mean ± std over prompts"));
  for (guint l = 0; l < lines; l++)
    {
      g_autofree char *name = NULL;
      guint            id;

      line_values (data, s, per_layer, l, order, x, y, lines > 1 ? NULL : err);
      if (lines > 1)
        name = s->hidden && l + 1 == s->rows ? g_strdup ("final") : g_strdup_printf ("layer %u", l);
      id = ats_plot_add_series (plot, name, x, y, S);
      if (lines == 1)
        ats_plot_set_series_error (plot, id, err);
    }
  return plot;
}

/* --- view --- */

struct _AtsSweepView
{
  GtkBox parent_instance;

  GtkLabel       *caption;
  GtkCheckButton *per_layer_check;
  GtkFlowBox     *plots;
  AtsSweepData   *data;
};

G_DEFINE_FINAL_TYPE (AtsSweepView, ats_sweep_view, GTK_TYPE_BOX)

static void
draw_plot (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer user_data)
{
  ats_plot_draw (user_data, cr, width, height);
}

static void
rebuild (AtsSweepView *self)
{
  GtkWidget *child;
  gboolean   per_layer = gtk_check_button_get_active (self->per_layer_check);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->plots))) != NULL)
    gtk_flow_box_remove (self->plots, child);
  if (self->data == NULL)
    {
      gtk_label_set_text (self->caption, "");
      return;
    }

  {
    g_autofree char *text = ats_sweep_view_describe (self);

    gtk_label_set_text (self->caption, text);
  }
  for (guint k = 0; k < self->data->summaries->len; k++)
    {
      AtsSweepSummary *s = g_ptr_array_index (self->data->summaries, k);
      GtkWidget       *area = gtk_drawing_area_new ();

      gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (area), PLOT_WIDTH);
      gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (area), PLOT_HEIGHT);
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), draw_plot,
                                      build_plot (self->data, s, per_layer),
                                      (GDestroyNotify) ats_plot_free);
      gtk_widget_set_tooltip_text (area, s->description);
      gtk_widget_set_name (area, s->name);
      gtk_flow_box_append (self->plots, area);
    }
}

static void
on_per_layer_toggled (AtsSweepView *self, GtkCheckButton *check)
{
  rebuild (self);
}

static void
ats_sweep_view_dispose (GObject *object)
{
  AtsSweepView *self = ATS_SWEEP_VIEW (object);

  g_clear_pointer (&self->data, ats_sweep_data_free);
  G_OBJECT_CLASS (ats_sweep_view_parent_class)->dispose (object);
}

static void
ats_sweep_view_class_init (AtsSweepViewClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = ats_sweep_view_dispose;
}

static void
ats_sweep_view_init (AtsSweepView *self)
{
  GtkWidget *bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *scrolled = gtk_scrolled_window_new ();

  gtk_orientable_set_orientation (GTK_ORIENTABLE (self), GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing (GTK_BOX (self), 6);

  gtk_widget_set_margin_start (bar, 12);
  gtk_widget_set_margin_end (bar, 12);
  gtk_widget_set_margin_top (bar, 6);
  self->caption = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->caption, 0);
  gtk_label_set_wrap (self->caption, TRUE);
  gtk_widget_set_hexpand (GTK_WIDGET (self->caption), TRUE);
  gtk_box_append (GTK_BOX (bar), GTK_WIDGET (self->caption));
  self->per_layer_check = GTK_CHECK_BUTTON (gtk_check_button_new_with_mnemonic ("Per _layer"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->per_layer_check),
                               "One line per layer (mean over heads, then over prompts) instead "
                               "of the mean over heads and layers ± std over prompts");
  g_signal_connect_swapped (self->per_layer_check, "toggled", G_CALLBACK (on_per_layer_toggled),
                            self);
  gtk_box_append (GTK_BOX (bar), GTK_WIDGET (self->per_layer_check));
  gtk_box_append (GTK_BOX (self), bar);

  self->plots = GTK_FLOW_BOX (gtk_flow_box_new ());
  gtk_flow_box_set_selection_mode (self->plots, GTK_SELECTION_NONE);
  gtk_flow_box_set_homogeneous (self->plots, TRUE);
  gtk_flow_box_set_max_children_per_line (self->plots, 4);
  gtk_widget_set_valign (GTK_WIDGET (self->plots), GTK_ALIGN_START);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (self->plots));
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_box_append (GTK_BOX (self), scrolled);
}

GtkWidget *
ats_sweep_view_new (void)
{
  return g_object_new (ATS_TYPE_SWEEP_VIEW, NULL);
}

void
ats_sweep_view_set_data (AtsSweepView *self, AtsSweepData *data)
{
  g_return_if_fail (ATS_IS_SWEEP_VIEW (self));

  if (data != self->data)
    g_clear_pointer (&self->data, ats_sweep_data_free);
  self->data = data;
  rebuild (self);
}

AtsSweepData *
ats_sweep_view_get_data (AtsSweepView *self)
{
  g_return_val_if_fail (ATS_IS_SWEEP_VIEW (self), NULL);

  return self->data;
}

void
ats_sweep_view_set_per_layer (AtsSweepView *self, gboolean per_layer)
{
  g_return_if_fail (ATS_IS_SWEEP_VIEW (self));

  gtk_check_button_set_active (self->per_layer_check, per_layer);
}

gboolean
ats_sweep_view_get_per_layer (AtsSweepView *self)
{
  g_return_val_if_fail (ATS_IS_SWEEP_VIEW (self), FALSE);

  return gtk_check_button_get_active (self->per_layer_check);
}

guint
ats_sweep_view_get_n_plots (AtsSweepView *self)
{
  guint n = 0;

  g_return_val_if_fail (ATS_IS_SWEEP_VIEW (self), 0);

  for (GtkWidget *c = gtk_widget_get_first_child (GTK_WIDGET (self->plots)); c != NULL;
       c = gtk_widget_get_next_sibling (c))
    n++;
  return n;
}

static const AtsSweepSummary *
find_summary (AtsSweepView *self, const char *metric)
{
  for (guint k = 0; self->data != NULL && k < self->data->summaries->len; k++)
    {
      const AtsSweepSummary *s = g_ptr_array_index (self->data->summaries, k);

      if (g_str_equal (s->name, metric))
        return s;
    }
  return NULL;
}

gboolean
ats_sweep_view_get_point (AtsSweepView *self,
                          const char   *metric,
                          guint         line,
                          guint         index,
                          double       *x,
                          double       *y,
                          double       *err)
{
  const AtsSweepSummary *s;
  gboolean               per_layer;
  guint                  S;

  g_return_val_if_fail (ATS_IS_SWEEP_VIEW (self), FALSE);

  s = find_summary (self, metric);
  per_layer = ats_sweep_view_get_per_layer (self);
  if (s == NULL || line >= n_lines (s, per_layer) || index >= self->data->info->n_steps)
    return FALSE;

  S = self->data->info->n_steps;
  {
    g_autofree guint  *order = step_order (self->data->info);
    g_autofree double *xs = g_new (double, S);
    g_autofree double *ys = g_new (double, S);
    g_autofree double *es = g_new (double, S);

    line_values (self->data, s, per_layer, line, order, xs, ys, es);
    if (x != NULL)
      *x = xs[index];
    if (y != NULL)
      *y = ys[index];
    if (err != NULL)
      *err = es[index];
  }
  return TRUE;
}

GPtrArray *
ats_sweep_view_build_plots (AtsSweepView *self)
{
  GPtrArray *plots = g_ptr_array_new_with_free_func ((GDestroyNotify) ats_plot_free);
  gboolean   per_layer;

  g_return_val_if_fail (ATS_IS_SWEEP_VIEW (self), plots);

  per_layer = ats_sweep_view_get_per_layer (self);
  for (guint k = 0; self->data != NULL && k < self->data->summaries->len; k++)
    g_ptr_array_add (
        plots, build_plot (self->data, g_ptr_array_index (self->data->summaries, k), per_layer));
  return plots;
}

char *
ats_sweep_view_describe (AtsSweepView *self)
{
  const AtsSweepInfo *info;
  g_autofree char    *base = NULL;
  g_autoptr (GString) tuned = g_string_new (NULL);

  g_return_val_if_fail (ATS_IS_SWEEP_VIEW (self), NULL);

  if (self->data == NULL)
    return NULL;
  info = self->data->info;
  base = g_path_get_basename (info->base != NULL && info->base[0] ? info->base : "?");
  for (guint i = 0; info->tuned != NULL && info->tuned[i] != NULL; i++)
    {
      g_autofree char *t = g_path_get_basename (info->tuned[i]);

      g_string_append_printf (tuned, "%s%s", i ? ", " : "", t);
    }
  return g_strdup_printf ("Diagnostics against %s: %s merge of base %s with %s, %u steps × %u "
                          "prompt%s. Each plot: every prompt's mean over heads and layers, "
                          "averaged over the prompts (band ± std over prompts).",
                          parameter_name (info), ats_merge_method_to_string (info->method), base,
                          tuned->len ? tuned->str : "?", info->n_steps, info->n_prompts,
                          info->n_prompts == 1 ? "" : "s");
}
