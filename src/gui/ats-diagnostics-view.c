/* ats-diagnostics-view.c */
#include "ats-diagnostics-view.h"

#include <math.h>

#include "ats-plot-view.h"

/* --- layer plot catalogue --- */

static const AtsLayerPlotInfo layer_plots[] = {
  { "sink_rate", "Sink rate", "% heads, first-token mass > ε" },
  { "first_token_mass", "First-token mass", "mean over heads" },
  { "entropy", "Normalised entropy", "mean over heads" },
  { "sparsity", "Sparsity (exact zeros)", "mean over heads" },
  { "uniform_sparsity", "Uniform-share sparsity (ours)", "mean over heads" },
  { "overload", "Overload (ours)", "fraction of rows" },
  { "underload", "Underload (ours)", "fraction of rows" },
  { "top_p_width", "Top-p width (ours)", "share of keys" },
  { "collapse_cosine", "Collapse: token cosine", "mean pairwise cosine" },
};

static const struct
{
  const char *metric;
  const char *title;
} metric_titles[] = {
  { "first_token_mass", "First-token mass" },
  { "entropy", "Entropy" },
  { "row_mass", "Row mass" },
  { "sparsity", "Sparsity" },
  { "uniform_sparsity", "Uniform sparsity*" },
  { "underload", "Underload*" },
  { "overload", "Overload*" },
  { "top_p_width", "Top-p width*" },
};

const AtsLayerPlotInfo *
ats_layer_plots_list (guint *n_plots)
{
  *n_plots = G_N_ELEMENTS (layer_plots);
  return layer_plots;
}

const char *
ats_metric_title (const char *metric)
{
  const AtsDiagMetricInfo *info;

  for (guint i = 0; i < G_N_ELEMENTS (metric_titles); i++)
    if (g_strcmp0 (metric_titles[i].metric, metric) == 0)
      return metric_titles[i].title;

  info = ats_diag_metric_lookup (metric);
  return info != NULL ? info->label : metric;
}

void
ats_layer_plots_fill (GtkFlowBox *box,
                      AtsMetrics *a,
                      const char *name_a,
                      AtsMetrics *b,
                      const char *name_b)
{
  GtkWidget *child;
  guint      L;

  g_return_if_fail (GTK_IS_FLOW_BOX (box));

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (box))) != NULL)
    gtk_flow_box_remove (box, child);

  if (a == NULL)
    return;

  L = ats_metrics_get_results (a)->n_layers;
  for (guint i = 0; i < G_N_ELEMENTS (layer_plots); i++)
    {
      const AtsLayerPlotInfo *p = &layer_plots[i];
      g_autofree double      *ya = g_new (double, L + 1); /* [L] or [L+1] */
      g_autofree double      *yb = g_new (double, L + 1);
      gboolean                hidden = g_str_has_prefix (p->metric, "collapse");
      GtkWidget              *plot;
      guint                   na, nb = 0;
      gboolean                any = FALSE;

      na = ats_metrics_get_layer_series (a, p->metric, ya, L + 1);
      if (b != NULL)
        nb = ats_metrics_get_layer_series (b, p->metric, yb, L + 1);
      for (guint k = 0; k < na; k++)
        any |= !isnan (ya[k]);
      for (guint k = 0; k < nb; k++)
        any |= !isnan (yb[k]);
      if (!any)
        continue;

      plot = ats_plot_view_new (p->metric, p->title, p->y_label);
      ats_plot_view_set_x_label (ATS_PLOT_VIEW (plot), hidden ? "layer (0 = embeddings)" : "layer");
      ats_plot_view_add_series (ATS_PLOT_VIEW (plot), b != NULL ? name_a : NULL, ya, na, 0);
      if (b != NULL)
        ats_plot_view_add_series (ATS_PLOT_VIEW (plot), name_b, yb, nb, 0);
      else if (hidden)
        {
          guint nc = ats_metrics_get_layer_series (a, "collapse_cosine_centered", yb, L + 1);

          ats_plot_view_clear (ATS_PLOT_VIEW (plot));
          ats_plot_view_add_series (ATS_PLOT_VIEW (plot), "raw", ya, na, 0);
          ats_plot_view_add_series (ATS_PLOT_VIEW (plot), "mean-centred", yb, nc, 0);
        }
      gtk_flow_box_append (box, plot);
    }
}

/* --- table rows --- */

#define ATS_TYPE_HEAD_ROW (ats_head_row_get_type ())
G_DECLARE_FINAL_TYPE (AtsHeadRow, ats_head_row, ATS, HEAD_ROW, GObject)

struct _AtsHeadRow
{
  GObject parent_instance;
  guint   layer;
  guint   head;
  double *values; /* [n_columns] of the metric columns */
};

G_DEFINE_FINAL_TYPE (AtsHeadRow, ats_head_row, G_TYPE_OBJECT)

static void
ats_head_row_finalize (GObject *object)
{
  g_free (ATS_HEAD_ROW (object)->values);
  G_OBJECT_CLASS (ats_head_row_parent_class)->finalize (object);
}

static void
ats_head_row_class_init (AtsHeadRowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ats_head_row_finalize;
}

static void
ats_head_row_init (AtsHeadRow *self)
{
}

/* --- the view --- */

struct _AtsDiagnosticsView
{
  GtkWidget parent_instance;

  GtkWidget     *box;
  GtkSpinButton *eps_spin;
  GtkSpinButton *under_spin;
  GtkSpinButton *over_spin;
  GtkSpinButton *k_spin;
  GtkSpinButton *factor_spin;
  GtkWidget     *recompute_button;
  GtkSpinner    *spinner;
  GtkFlowBox    *plots_box;
  GtkColumnView *table;

  AtsMetrics       *metrics;
  AtsDiagParams     params; /* full parameter set; the spins edit a part of it */
  GListStore       *rows;
  GtkSortListModel *sorted;
  GPtrArray        *columns; /* metric names of the value columns */
};

G_DEFINE_FINAL_TYPE (AtsDiagnosticsView, ats_diagnostics_view, GTK_TYPE_WIDGET)

enum
{
  RECOMPUTE,
  HEAD_ACTIVATED,
  LAYER_ACTIVATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static int
compare_rows (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const AtsHeadRow *ra = a;
  const AtsHeadRow *rb = b;
  int               col = GPOINTER_TO_INT (user_data);
  double            va, vb;

  if (col == -2)
    return ra->layer != rb->layer ? (ra->layer < rb->layer ? -1 : 1)
                                  : (ra->head < rb->head ? -1 : ra->head > rb->head);
  if (col == -1)
    return ra->head != rb->head ? (ra->head < rb->head ? -1 : 1)
                                : (ra->layer < rb->layer ? -1 : ra->layer > rb->layer);

  va = ra->values[col];
  vb = rb->values[col];
  /* NaN sorts last */
  if (isnan (va) || isnan (vb))
    return isnan (va) - isnan (vb);
  return va < vb ? -1 : (va > vb ? 1 : 0);
}

static void
setup_label (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 1.0);
  gtk_widget_add_css_class (label, "numeric");
  gtk_list_item_set_child (item, label);
}

static void
bind_label (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  AtsHeadRow      *row = gtk_list_item_get_item (item);
  GtkWidget       *label = gtk_list_item_get_child (item);
  int              col = GPOINTER_TO_INT (user_data);
  g_autofree char *text = NULL;

  if (col == -2)
    text = g_strdup_printf ("%u", row->layer);
  else if (col == -1)
    text = g_strdup_printf ("%u", row->head);
  else if (isnan (row->values[col]))
    text = g_strdup ("—");
  else
    text = g_strdup_printf ("%.3f", row->values[col]);

  gtk_label_set_text (GTK_LABEL (label), text);
}

static void
add_column (AtsDiagnosticsView *self, const char *id, const char *title, int col)
{
  g_autoptr (GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();
  g_autoptr (GtkColumnViewColumn) column = NULL;
  g_autoptr (GtkSorter) sorter = NULL;

  g_signal_connect (factory, "setup", G_CALLBACK (setup_label), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_label), GINT_TO_POINTER (col));

  column = gtk_column_view_column_new (title, g_object_ref (factory));
  sorter = GTK_SORTER (gtk_custom_sorter_new (compare_rows, GINT_TO_POINTER (col), NULL));
  gtk_column_view_column_set_sorter (column, sorter);
  gtk_column_view_column_set_resizable (column, TRUE);
  g_object_set_data_full (G_OBJECT (column), "ats-id", g_strdup (id), g_free);
  gtk_column_view_append_column (self->table, column);
}

static void
build_columns (AtsDiagnosticsView *self)
{
  const AtsDiagMetricInfo *metrics;
  guint                    n_metrics = 0;

  add_column (self, "layer", "Layer", -2);
  add_column (self, "head", "Head", -1);

  metrics = ats_diag_metrics_list (&n_metrics);
  for (guint i = 0; i < n_metrics; i++)
    {
      if (metrics[i].shape != ATS_DIAG_SHAPE_LAYER_HEAD)
        continue;
      g_ptr_array_add (self->columns, (gpointer) metrics[i].name);
      add_column (self, metrics[i].name, ats_metric_title (metrics[i].name),
                  (int) self->columns->len - 1);
    }
}

static void
on_recompute_clicked (AtsDiagnosticsView *self, GtkButton *button)
{
  g_signal_emit (self, signals[RECOMPUTE], 0);
}

static void
on_table_activate (AtsDiagnosticsView *self, guint position, GtkColumnView *table)
{
  ats_diagnostics_view_activate_row (self, position);
}

static void
on_plot_point_activated (AtsPlotView        *plot,
                         guint               series,
                         guint               index,
                         double              x,
                         AtsDiagnosticsView *self)
{
  guint n_layers;

  if (self->metrics == NULL || !isfinite (x) || x < 0)
    return;

  /* hidden-state plots have L + 1 points (0 = embeddings): the last one is the last layer's */
  n_layers = ats_metrics_get_results (self->metrics)->n_layers;
  g_signal_emit (self, signals[LAYER_ACTIVATED], 0, MIN ((guint) x, n_layers - 1));
}

static void
ats_diagnostics_view_dispose (GObject *object)
{
  AtsDiagnosticsView *self = ATS_DIAGNOSTICS_VIEW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), ATS_TYPE_DIAGNOSTICS_VIEW);
  g_clear_pointer (&self->metrics, ats_metrics_unref);
  g_clear_object (&self->rows);
  g_clear_object (&self->sorted);
  g_clear_pointer (&self->columns, g_ptr_array_unref);

  G_OBJECT_CLASS (ats_diagnostics_view_parent_class)->dispose (object);
}

static void
ats_diagnostics_view_class_init (AtsDiagnosticsViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_diagnostics_view_dispose;

  signals[RECOMPUTE] = g_signal_new ("recompute", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                     NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[HEAD_ACTIVATED] =
      g_signal_new ("head-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);
  /* (layer): a click on a point of a per-layer plot */
  signals[LAYER_ACTIVATED] =
      g_signal_new ("layer-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, G_TYPE_UINT);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/attnscope/Attnscope/ats-diagnostics-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, box);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, eps_spin);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, under_spin);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, over_spin);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, k_spin);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, factor_spin);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, recompute_button);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, spinner);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, plots_box);
  gtk_widget_class_bind_template_child (widget_class, AtsDiagnosticsView, table);
  gtk_widget_class_bind_template_callback (widget_class, on_recompute_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_table_activate);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "diagnosticsview");
}

static void
ats_diagnostics_view_init (AtsDiagnosticsView *self)
{
  g_autoptr (GtkSingleSelection) selection = NULL;
  GtkSorter *sorter;

  gtk_widget_init_template (GTK_WIDGET (self));

  ats_diag_params_init_default (&self->params);
  ats_diagnostics_view_set_params (self, &self->params);

  self->columns = g_ptr_array_new ();
  self->rows = g_list_store_new (ATS_TYPE_HEAD_ROW);
  build_columns (self);

  sorter = gtk_column_view_get_sorter (self->table);
  self->sorted =
      gtk_sort_list_model_new (g_object_ref (G_LIST_MODEL (self->rows)), g_object_ref (sorter));
  selection = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->sorted)));
  gtk_single_selection_set_autoselect (selection, FALSE);
  gtk_single_selection_set_can_unselect (selection, TRUE);
  gtk_column_view_set_model (self->table, GTK_SELECTION_MODEL (selection));
}

GtkWidget *
ats_diagnostics_view_new (void)
{
  return g_object_new (ATS_TYPE_DIAGNOSTICS_VIEW, NULL);
}

void
ats_diagnostics_view_set_metrics (AtsDiagnosticsView *self, AtsMetrics *metrics)
{
  const AtsDiagResults *r;

  g_return_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self));

  if (metrics != NULL)
    ats_metrics_ref (metrics);
  g_clear_pointer (&self->metrics, ats_metrics_unref);
  self->metrics = metrics;

  g_list_store_remove_all (self->rows);
  ats_layer_plots_fill (self->plots_box, metrics, NULL, NULL, NULL);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->plots_box)); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *plot = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

      if (ATS_IS_PLOT_VIEW (plot))
        g_signal_connect (plot, "point-activated", G_CALLBACK (on_plot_point_activated), self);
    }
  if (metrics == NULL)
    return;

  r = ats_metrics_get_results (metrics);
  ats_diagnostics_view_set_params (self, &r->params);

  {
    g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);

    for (guint l = 0; l < r->n_layers; l++)
      for (guint h = 0; h < r->n_heads; h++)
        {
          AtsHeadRow *row = g_object_new (ATS_TYPE_HEAD_ROW, NULL);

          row->layer = l;
          row->head = h;
          row->values = g_new (double, MAX (1, self->columns->len));
          for (guint c = 0; c < self->columns->len; c++)
            row->values[c] =
                ats_metrics_get_head (metrics, g_ptr_array_index (self->columns, c), l, h);
          g_ptr_array_add (items, row);
        }
    g_list_store_splice (self->rows, 0, 0, items->pdata, items->len);
  }
}

AtsMetrics *
ats_diagnostics_view_get_metrics (AtsDiagnosticsView *self)
{
  g_return_val_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self), NULL);

  return self->metrics;
}

void
ats_diagnostics_view_get_params (AtsDiagnosticsView *self, AtsDiagParams *params)
{
  g_return_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self));

  *params = self->params;
  params->sink_eps = gtk_spin_button_get_value (self->eps_spin);
  params->underload_mass = gtk_spin_button_get_value (self->under_spin);
  params->overload_mass = gtk_spin_button_get_value (self->over_spin);
  params->overload_k = (guint) gtk_spin_button_get_value_as_int (self->k_spin);
  params->overload_factor = gtk_spin_button_get_value (self->factor_spin);
}

void
ats_diagnostics_view_set_params (AtsDiagnosticsView *self, const AtsDiagParams *params)
{
  g_return_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self));

  self->params = *params;
  gtk_spin_button_set_value (self->eps_spin, params->sink_eps);
  gtk_spin_button_set_value (self->under_spin, params->underload_mass);
  gtk_spin_button_set_value (self->over_spin, params->overload_mass);
  gtk_spin_button_set_value (self->k_spin, params->overload_k);
  gtk_spin_button_set_value (self->factor_spin, params->overload_factor);
}

void
ats_diagnostics_view_set_busy (AtsDiagnosticsView *self, gboolean busy)
{
  g_return_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self));

  gtk_spinner_set_spinning (self->spinner, busy);
  gtk_widget_set_sensitive (self->recompute_button, !busy);
}

guint
ats_diagnostics_view_get_n_rows (AtsDiagnosticsView *self)
{
  g_return_val_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self), 0);

  return g_list_model_get_n_items (G_LIST_MODEL (self->sorted));
}

gboolean
ats_diagnostics_view_get_row (AtsDiagnosticsView *self, guint row, guint *layer, guint *head)
{
  g_autoptr (AtsHeadRow) item = NULL;

  g_return_val_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self), FALSE);

  item = g_list_model_get_item (G_LIST_MODEL (self->sorted), row);
  if (item == NULL)
    return FALSE;
  if (layer != NULL)
    *layer = item->layer;
  if (head != NULL)
    *head = item->head;
  return TRUE;
}

void
ats_diagnostics_view_sort_by (AtsDiagnosticsView *self, const char *metric, gboolean descending)
{
  GListModel *columns;

  g_return_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self));

  columns = gtk_column_view_get_columns (self->table);
  for (guint i = 0; i < g_list_model_get_n_items (columns); i++)
    {
      g_autoptr (GtkColumnViewColumn) column = g_list_model_get_item (columns, i);

      if (g_strcmp0 (g_object_get_data (G_OBJECT (column), "ats-id"), metric) == 0)
        {
          gtk_column_view_sort_by_column (self->table, column,
                                          descending ? GTK_SORT_DESCENDING : GTK_SORT_ASCENDING);
          return;
        }
    }
}

void
ats_diagnostics_view_activate_row (AtsDiagnosticsView *self, guint row)
{
  guint layer, head;

  g_return_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self));

  if (ats_diagnostics_view_get_row (self, row, &layer, &head))
    g_signal_emit (self, signals[HEAD_ACTIVATED], 0, layer, head);
}

GtkFlowBox *
ats_diagnostics_view_get_plots (AtsDiagnosticsView *self)
{
  g_return_val_if_fail (ATS_IS_DIAGNOSTICS_VIEW (self), NULL);

  return self->plots_box;
}
