/* ats-plot-view.c */
#include "ats-plot-view.h"

#include <math.h>

typedef struct
{
  char   *name;
  double *x; /* [n] */
  double *y; /* [n] */
  guint   n;
} Series;

struct _AtsPlotView
{
  GtkWidget parent_instance;

  char      *metric;
  char      *title;
  char      *y_label;
  char      *x_label;
  double     y_min;
  double     y_max;
  GPtrArray *series; /* Series* */

  GskRenderNode *node;
  int            node_width;
  int            node_height;
};

G_DEFINE_FINAL_TYPE (AtsPlotView, ats_plot_view, GTK_TYPE_WIDGET)

#define HIT_RADIUS 10.0

enum
{
  POINT_ACTIVATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
series_free (Series *s)
{
  g_free (s->name);
  g_free (s->x);
  g_free (s->y);
  g_free (s);
}

static void
invalidate (AtsPlotView *self)
{
  g_clear_pointer (&self->node, gsk_render_node_unref);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

AtsPlot *
ats_plot_view_build_plot (AtsPlotView *self)
{
  AtsPlot *plot;

  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), NULL);

  plot = ats_plot_new_per_layer (self->title, self->y_label);
  if (self->x_label != NULL)
    ats_plot_set_x_label (plot, self->x_label);
  if (isfinite (self->y_min) || isfinite (self->y_max))
    ats_plot_set_y_range (plot, self->y_min, self->y_max);
  for (guint i = 0; i < self->series->len; i++)
    {
      Series *s = g_ptr_array_index (self->series, i);

      ats_plot_add_series (plot, s->name, s->x, s->y, s->n);
    }
  return plot;
}

static void
ats_plot_view_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  AtsPlotView *self = ATS_PLOT_VIEW (widget);
  int          width = gtk_widget_get_width (widget);
  int          height = gtk_widget_get_height (widget);

  if (width <= 0 || height <= 0)
    return;

  if (self->node == NULL || self->node_width != width || self->node_height != height)
    {
      g_autoptr (GtkSnapshot) s = gtk_snapshot_new ();
      g_autoptr (AtsPlot) plot = ats_plot_view_build_plot (self);
      cairo_t *cr;

      cr = gtk_snapshot_append_cairo (s, &GRAPHENE_RECT_INIT (0, 0, width, height));
      ats_plot_draw (plot, cr, width, height);
      cairo_destroy (cr);

      g_clear_pointer (&self->node, gsk_render_node_unref);
      self->node = gtk_snapshot_free_to_node (g_steal_pointer (&s));
      self->node_width = width;
      self->node_height = height;
    }

  if (self->node != NULL)
    gtk_snapshot_append_node (snapshot, self->node);
}

static void
ats_plot_view_measure (GtkWidget     *widget,
                       GtkOrientation orientation,
                       int            for_size,
                       int           *minimum,
                       int           *natural,
                       int           *minimum_baseline,
                       int           *natural_baseline)
{
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 240;
      *natural = 340;
    }
  else
    {
      *minimum = 170;
      *natural = 220;
    }
}

gboolean
ats_plot_view_pixel_to_point (AtsPlotView *self, double x, double y, guint *series, guint *index)
{
  g_autoptr (AtsPlot) plot = NULL;
  int width, height;

  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), FALSE);

  width = gtk_widget_get_width (GTK_WIDGET (self));
  height = gtk_widget_get_height (GTK_WIDGET (self));
  if (width <= 0 || height <= 0 || self->series->len == 0)
    return FALSE;

  /* the plot is drawn at (0, 0, width, height) of the widget */
  plot = ats_plot_view_build_plot (self);
  return ats_plot_hit_test (plot, NULL, width, height, x, y, HIT_RADIUS, series, index);
}

gboolean
ats_plot_view_point_to_pixel (AtsPlotView *self, guint series, guint index, double *x, double *y)
{
  g_autoptr (AtsPlot) plot = NULL;
  int width, height;

  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), FALSE);

  width = gtk_widget_get_width (GTK_WIDGET (self));
  height = gtk_widget_get_height (GTK_WIDGET (self));
  if (width <= 0 || height <= 0)
    return FALSE;

  plot = ats_plot_view_build_plot (self);
  return ats_plot_get_point (plot, NULL, width, height, series, index, x, y);
}

double
ats_plot_view_get_x (AtsPlotView *self, guint series, guint index)
{
  Series *s;

  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), NAN);

  if (series >= self->series->len)
    return NAN;
  s = g_ptr_array_index (self->series, series);
  return index < s->n ? s->x[index] : NAN;
}

static void
on_released (GtkGestureClick *gesture, int n_press, double x, double y, AtsPlotView *self)
{
  guint series, index;

  if (ats_plot_view_pixel_to_point (self, x, y, &series, &index))
    g_signal_emit (self, signals[POINT_ACTIVATED], 0, series, index,
                   ats_plot_view_get_x (self, series, index));
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, AtsPlotView *self)
{
  gtk_widget_set_cursor_from_name (
      GTK_WIDGET (self), ats_plot_view_pixel_to_point (self, x, y, NULL, NULL) ? "pointer" : NULL);
}

static void
ats_plot_view_dispose (GObject *object)
{
  AtsPlotView *self = ATS_PLOT_VIEW (object);

  g_clear_pointer (&self->node, gsk_render_node_unref);
  g_clear_pointer (&self->series, g_ptr_array_unref);

  G_OBJECT_CLASS (ats_plot_view_parent_class)->dispose (object);
}

static void
ats_plot_view_finalize (GObject *object)
{
  AtsPlotView *self = ATS_PLOT_VIEW (object);

  g_free (self->metric);
  g_free (self->title);
  g_free (self->y_label);
  g_free (self->x_label);

  G_OBJECT_CLASS (ats_plot_view_parent_class)->finalize (object);
}

static void
ats_plot_view_class_init (AtsPlotViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_plot_view_dispose;
  object_class->finalize = ats_plot_view_finalize;
  widget_class->snapshot = ats_plot_view_snapshot;
  widget_class->measure = ats_plot_view_measure;

  /* (series, index, x): a click on a drawn point */
  signals[POINT_ACTIVATED] =
      g_signal_new ("point-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_DOUBLE);

  gtk_widget_class_set_css_name (widget_class, "plotview");
}

static void
ats_plot_view_init (AtsPlotView *self)
{
  GtkGesture         *click = gtk_gesture_click_new ();
  GtkEventController *motion = gtk_event_controller_motion_new ();

  g_signal_connect (click, "released", G_CALLBACK (on_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  self->series = g_ptr_array_new_with_free_func ((GDestroyNotify) series_free);
  self->y_min = NAN;
  self->y_max = NAN;
}

GtkWidget *
ats_plot_view_new (const char *metric, const char *title, const char *y_label)
{
  AtsPlotView *self = g_object_new (ATS_TYPE_PLOT_VIEW, NULL);

  self->metric = g_strdup (metric);
  self->title = g_strdup (title);
  self->y_label = g_strdup (y_label);
  return GTK_WIDGET (self);
}

const char *
ats_plot_view_get_metric (AtsPlotView *self)
{
  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), NULL);

  return self->metric;
}

const char *
ats_plot_view_get_title (AtsPlotView *self)
{
  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), NULL);

  return self->title;
}

void
ats_plot_view_clear (AtsPlotView *self)
{
  g_return_if_fail (ATS_IS_PLOT_VIEW (self));

  g_ptr_array_set_size (self->series, 0);
  invalidate (self);
}

void
ats_plot_view_add_series (AtsPlotView *self, const char *name, const double *y, guint n, int x0)
{
  Series *s;

  g_return_if_fail (ATS_IS_PLOT_VIEW (self));

  s = g_new0 (Series, 1);
  s->name = g_strdup (name);
  s->n = n;
  s->x = g_new (double, MAX (n, 1));
  s->y = g_new (double, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      s->x[i] = x0 + (int) i;
      s->y[i] = y[i];
    }
  g_ptr_array_add (self->series, s);
  invalidate (self);
}

guint
ats_plot_view_get_n_series (AtsPlotView *self)
{
  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), 0);

  return self->series->len;
}

const double *
ats_plot_view_get_series (AtsPlotView *self, guint series, guint *n)
{
  Series *s;

  g_return_val_if_fail (ATS_IS_PLOT_VIEW (self), NULL);

  if (series >= self->series->len)
    return NULL;
  s = g_ptr_array_index (self->series, series);
  if (n != NULL)
    *n = s->n;
  return s->y;
}

void
ats_plot_view_set_x_label (AtsPlotView *self, const char *label)
{
  g_return_if_fail (ATS_IS_PLOT_VIEW (self));

  g_free (self->x_label);
  self->x_label = g_strdup (label);
  invalidate (self);
}

void
ats_plot_view_set_y_range (AtsPlotView *self, double y_min, double y_max)
{
  g_return_if_fail (ATS_IS_PLOT_VIEW (self));

  self->y_min = y_min;
  self->y_max = y_max;
  invalidate (self);
}
