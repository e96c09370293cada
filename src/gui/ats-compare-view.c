/* ats-compare-view.c */
#include "ats-compare-view.h"

#include <math.h>

#include "ats-diagnostics-view.h"

struct _AtsCompareView
{
  GtkWidget parent_instance;

  GtkStack       *stack;
  GtkLabel       *a_label;
  GtkLabel       *b_label;
  GtkLabel       *diff_label;
  AtsHeatmapView *a_view;
  AtsHeatmapView *b_view;
  AtsHeatmapView *diff_view;
  GtkFlowBox     *plots_box;

  char      *name_a;
  char      *name_b;
  AtsMatrix *difference;
};

G_DEFINE_FINAL_TYPE (AtsCompareView, ats_compare_view, GTK_TYPE_WIDGET)

static void
ats_compare_view_dispose (GObject *object)
{
  AtsCompareView *self = ATS_COMPARE_VIEW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), ATS_TYPE_COMPARE_VIEW);
  g_clear_pointer (&self->difference, ats_matrix_unref);
  g_clear_pointer (&self->name_a, g_free);
  g_clear_pointer (&self->name_b, g_free);

  G_OBJECT_CLASS (ats_compare_view_parent_class)->dispose (object);
}

static void
ats_compare_view_class_init (AtsCompareViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_compare_view_dispose;

  g_type_ensure (ATS_TYPE_HEATMAP_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/attnscope/Attnscope/ats-compare-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, stack);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, a_label);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, b_label);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, diff_label);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, a_view);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, b_view);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, diff_view);
  gtk_widget_class_bind_template_child (widget_class, AtsCompareView, plots_box);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "compareview");
}

static void
ats_compare_view_init (AtsCompareView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  ats_heatmap_view_set_colormap (self->diff_view, ATS_COLORMAP_RDBU);
  ats_heatmap_view_set_value_name (self->diff_view, "A − B");
  gtk_stack_set_visible_child_name (self->stack, "empty");
}

GtkWidget *
ats_compare_view_new (void)
{
  return g_object_new (ATS_TYPE_COMPARE_VIEW, NULL);
}

void
ats_compare_view_set_names (AtsCompareView *self, const char *name_a, const char *name_b)
{
  g_return_if_fail (ATS_IS_COMPARE_VIEW (self));

  g_free (self->name_a);
  g_free (self->name_b);
  self->name_a = g_strdup (name_a);
  self->name_b = g_strdup (name_b);

  if (name_b == NULL)
    {
      ats_compare_view_set_maps (self, NULL, NULL, NULL, NULL);
      ats_compare_view_set_metrics (self, NULL, NULL);
      gtk_stack_set_visible_child_name (self->stack, "empty");
      return;
    }

  gtk_stack_set_visible_child_name (self->stack, "compare");
}

gboolean
ats_compare_view_get_active (AtsCompareView *self)
{
  g_return_val_if_fail (ATS_IS_COMPARE_VIEW (self), FALSE);

  return self->name_b != NULL;
}

void
ats_compare_view_set_maps (AtsCompareView    *self,
                           AtsMatrix         *a,
                           AtsMatrix         *b,
                           const char *const *labels,
                           const char        *head_title)
{
  g_autofree char *ta = NULL;
  g_autofree char *tb = NULL;

  g_return_if_fail (ATS_IS_COMPARE_VIEW (self));

  g_clear_pointer (&self->difference, ats_matrix_unref);

  ta = g_strdup_printf ("A: %s%s%s", self->name_a ? self->name_a : "", head_title ? " · " : "",
                        head_title ? head_title : "");
  tb = g_strdup_printf ("B: %s%s%s", self->name_b ? self->name_b : "", head_title ? " · " : "",
                        head_title ? head_title : "");
  gtk_label_set_text (self->a_label, ta);
  gtk_label_set_text (self->b_label, tb);

  if (a != NULL && b != NULL)
    {
      double hi = MAX (a->max, b->max);

      /* one scale for both sides, so that equal colours mean equal weights */
      ats_heatmap_view_set_range (self->a_view, MIN (0.0, MIN (a->min, b->min)), hi);
      ats_heatmap_view_set_range (self->b_view, MIN (0.0, MIN (a->min, b->min)), hi);
      self->difference = ats_matrix_new_difference (a, b);
    }

  ats_heatmap_view_set_matrix (self->a_view, a, labels);
  ats_heatmap_view_set_matrix (self->b_view, b, labels);
  ats_heatmap_view_set_matrix (self->diff_view, self->difference, labels);

  if (a != NULL && b != NULL && self->difference == NULL)
    gtk_label_set_text (self->diff_label, "Difference: the maps have different sizes");
  else
    gtk_label_set_text (self->diff_label, "Difference A − B");
}

void
ats_compare_view_set_metrics (AtsCompareView *self, AtsMetrics *a, AtsMetrics *b)
{
  g_return_if_fail (ATS_IS_COMPARE_VIEW (self));

  if (a == NULL || b == NULL)
    ats_layer_plots_fill (self->plots_box, NULL, NULL, NULL, NULL);
  else
    ats_layer_plots_fill (self->plots_box, a, "A", b, "B");
}

AtsHeatmapView *
ats_compare_view_get_view (AtsCompareView *self, AtsCompareSide side)
{
  g_return_val_if_fail (ATS_IS_COMPARE_VIEW (self), NULL);

  switch (side)
    {
    case ATS_COMPARE_A:
      return self->a_view;
    case ATS_COMPARE_B:
      return self->b_view;
    case ATS_COMPARE_DIFFERENCE:
    default:
      return self->diff_view;
    }
}

AtsMatrix *
ats_compare_view_get_difference (AtsCompareView *self)
{
  g_return_val_if_fail (ATS_IS_COMPARE_VIEW (self), NULL);

  return self->difference;
}

GtkFlowBox *
ats_compare_view_get_plots (AtsCompareView *self)
{
  g_return_val_if_fail (ATS_IS_COMPARE_VIEW (self), NULL);

  return self->plots_box;
}
