/* ats-overview-grid.c */
#include "ats-overview-grid.h"

#include <math.h>

#include "ats-colorize.h"
#include "ats-diagnostics-view.h"
#include "ats-gui-util.h"

#define PAD 8.0
#define LEFT_W 44.0
#define TOP_H 24.0
#define COLORBAR_W 84.0

struct _AtsOverviewGrid
{
  GtkWidget parent_instance;

  guint       n_layers;
  guint       n_heads;
  GPtrArray  *thumbs;     /* [L * H] AtsMatrix* or NULL */
  GPtrArray  *thumb_imgs; /* [L * H] cairo_surface_t* or NULL, built lazily */
  AtsMetrics *metrics;
  char       *color_by;
  AtsColormap cmap;

  guint    sel_layer;
  guint    sel_head;
  gboolean has_selection;

  gboolean hovering;
  double   hover_x;
  double   hover_y;

  GskRenderNode *node;
  int            node_width;
  int            node_height;
};

G_DEFINE_FINAL_TYPE (AtsOverviewGrid, ats_overview_grid, GTK_TYPE_WIDGET)

enum
{
  HEAD_ACTIVATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct
{
  double x0;
  double y0;
  double cell;
  double gap;
} Geometry;

static void
drop_node (AtsOverviewGrid *self)
{
  g_clear_pointer (&self->node, gsk_render_node_unref);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
drop_images (AtsOverviewGrid *self)
{
  if (self->thumb_imgs != NULL)
    for (guint i = 0; i < self->thumb_imgs->len; i++)
      g_clear_pointer (&g_ptr_array_index (self->thumb_imgs, i), cairo_surface_destroy);
  drop_node (self);
}

static gboolean
metric_mode (AtsOverviewGrid *self)
{
  return self->color_by != NULL && self->metrics != NULL;
}

static gboolean
get_geometry (AtsOverviewGrid *self, Geometry *g)
{
  double w = gtk_widget_get_width (GTK_WIDGET (self));
  double h = gtk_widget_get_height (GTK_WIDGET (self));
  double bar = metric_mode (self) ? COLORBAR_W : 0.0;
  double aw, ah;

  if (self->n_layers == 0 || self->n_heads == 0)
    return FALSE;

  aw = w - LEFT_W - bar - PAD;
  ah = h - TOP_H - PAD;
  g->cell = floor (MIN (aw / self->n_heads, ah / self->n_layers));
  if (g->cell < 2)
    return FALSE;
  g->cell = MIN (g->cell, 160.0);
  g->gap = g->cell >= 12 ? 2.0 : (g->cell >= 6 ? 1.0 : 0.0);
  g->x0 = floor (LEFT_W + (aw - g->cell * self->n_heads) / 2);
  g->y0 = TOP_H;
  return TRUE;
}

gboolean
ats_overview_grid_pixel_to_cell (AtsOverviewGrid *self,
                                 double           x,
                                 double           y,
                                 guint           *layer,
                                 guint           *head)
{
  Geometry g;
  double   c, r;

  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), FALSE);

  if (!get_geometry (self, &g))
    return FALSE;

  c = floor ((x - g.x0) / g.cell);
  r = floor ((y - g.y0) / g.cell);
  if (c < 0 || r < 0 || c >= self->n_heads || r >= self->n_layers)
    return FALSE;

  if (layer != NULL)
    *layer = (guint) r;
  if (head != NULL)
    *head = (guint) c;
  return TRUE;
}

gboolean
ats_overview_grid_cell_to_pixel (AtsOverviewGrid *self,
                                 guint            layer,
                                 guint            head,
                                 double          *x,
                                 double          *y)
{
  Geometry g;

  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), FALSE);

  if (!get_geometry (self, &g) || layer >= self->n_layers || head >= self->n_heads)
    return FALSE;

  if (x != NULL)
    *x = g.x0 + (head + 0.5) * g.cell;
  if (y != NULL)
    *y = g.y0 + (layer + 0.5) * g.cell;
  return TRUE;
}

static cairo_surface_t *
thumb_image (AtsOverviewGrid *self, guint index)
{
  cairo_surface_t *img = g_ptr_array_index (self->thumb_imgs, index);
  AtsMatrix       *thumb = g_ptr_array_index (self->thumbs, index);

  if (img == NULL && thumb != NULL)
    {
      AtsHeatmap heatmap;
      AtsScale   scale;

      /* each head on its own range, so that weak heads still show their pattern */
      ats_colorize_init_heatmap (&heatmap, thumb, self->cmap, ATS_SCALE_LINEAR, NAN, NAN, TRUE);
      ats_colorize_resolve_scale (&heatmap, &scale);
      img = ats_colorize_image (&heatmap, &scale, thumb->n_cols, thumb->n_rows);
      g_ptr_array_index (self->thumb_imgs, index) = img;
    }

  return img;
}

static void
append_text (AtsOverviewGrid *self,
             GtkSnapshot     *snapshot,
             const char      *text,
             double           x,
             double           y,
             gboolean         right_align,
             const GdkRGBA   *color)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  int tw, th;

  pango_layout_get_pixel_size (layout, &tw, &th);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot,
                          &GRAPHENE_POINT_INIT (right_align ? x - tw : x - tw / 2.0, y - th / 2.0));
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
}

static GskRenderNode *
build_node (AtsOverviewGrid *self, int width, int height)
{
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  GtkStyleContext *context = gtk_widget_get_style_context (GTK_WIDGET (self));
  GdkRGBA          fg;
  AtsScale         scale;
  Geometry         g;
  guint            label_step;

  if (!get_geometry (self, &g))
    return NULL;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (context, &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS

  ats_scale_init (&scale, ATS_SCALE_LINEAR);
  ats_scale_resolve (&scale, 0.0, 1.0, FALSE);

  for (guint l = 0; l < self->n_layers; l++)
    for (guint h = 0; h < self->n_heads; h++)
      {
        graphene_rect_t rect = GRAPHENE_RECT_INIT (g.x0 + h * g.cell, g.y0 + l * g.cell,
                                                   g.cell - g.gap, g.cell - g.gap);
        GdkRGBA         color;

        if (metric_mode (self))
          {
            double v = ats_metrics_get_head (self->metrics, self->color_by, l, h);

            ats_rgba_from_rgb (&color, ats_colorize_value (self->cmap, &scale, v), 1.0f);
            gtk_snapshot_append_color (snapshot, &color, &rect);
          }
        else
          {
            cairo_surface_t *img = thumb_image (self, l * self->n_heads + h);

            if (img == NULL && self->metrics != NULL)
              {
                /* until the thumbnail arrives: the stored first-token mass, faded */
                double v = ats_metrics_get_head (self->metrics, "first_token_mass", l, h);

                ats_rgba_from_rgb (&color, ats_colorize_value (self->cmap, &scale, v), 0.45f);
                gtk_snapshot_append_color (snapshot, &color, &rect);
              }
            else if (img == NULL)
              {
                ats_rgba_from_rgb (&color, 0x808080, 0.25f);
                gtk_snapshot_append_color (snapshot, &color, &rect);
              }
            else
              {
                cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &rect);
                int      iw = cairo_image_surface_get_width (img);
                int      ih = cairo_image_surface_get_height (img);

                cairo_translate (cr, rect.origin.x, rect.origin.y);
                cairo_scale (cr, rect.size.width / iw, rect.size.height / ih);
                cairo_set_source_surface (cr, img, 0, 0);
                cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
                cairo_paint (cr);
                cairo_destroy (cr);
              }
          }
      }

  /* axis labels: every head / layer when there is room, else every k-th */
  label_step = (guint) ceil (22.0 / g.cell);
  for (guint h = 0; h < self->n_heads; h += MAX (1, label_step))
    {
      g_autofree char *t = g_strdup_printf ("h%u", h);

      append_text (self, snapshot, t, g.x0 + (h + 0.5) * g.cell - g.gap / 2, TOP_H / 2, FALSE, &fg);
    }
  label_step = (guint) ceil (16.0 / g.cell);
  for (guint l = 0; l < self->n_layers; l += MAX (1, label_step))
    {
      g_autofree char *t = g_strdup_printf ("L%u", l);

      append_text (self, snapshot, t, g.x0 - 6, g.y0 + (l + 0.5) * g.cell - g.gap / 2, TRUE, &fg);
    }

  if (metric_mode (self))
    {
      const AtsDiagMetricInfo *info = ats_diag_metric_lookup (self->color_by);
      double                   bar_h = MIN (height - TOP_H - PAD - 24, 300.0);
      graphene_rect_t          r = GRAPHENE_RECT_INIT (width - COLORBAR_W, 0, COLORBAR_W, height);

      if (bar_h > 40)
        {
          cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &r);

          if (ats_widget_is_dark (GTK_WIDGET (self)))
            {
              cairo_set_source_rgba (cr, 1, 1, 1, 0.92);
              cairo_rectangle (cr, width - COLORBAR_W + 2, TOP_H - 4, COLORBAR_W - 4, bar_h + 24);
              cairo_fill (cr);
            }
          ats_colorbar_draw (cr, width - COLORBAR_W + 8, TOP_H + 8, 14, bar_h, self->cmap, &scale,
                             info != NULL ? ats_metric_title (info->name) : self->color_by, 10.0);
          cairo_destroy (cr);
        }
    }

  return gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
}

char *
ats_overview_grid_format_cell (AtsOverviewGrid *self, guint layer, guint head)
{
  GString                 *s;
  const AtsDiagMetricInfo *metrics;
  guint                    n_metrics = 0;

  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), NULL);

  s = g_string_new (NULL);
  g_string_append_printf (s, "Layer %u · head %u", layer, head);
  if (self->metrics == NULL)
    return g_string_free (s, FALSE);

  metrics = ats_diag_metrics_list (&n_metrics);
  for (guint i = 0; i < n_metrics; i++)
    {
      double v;

      if (metrics[i].shape != ATS_DIAG_SHAPE_LAYER_HEAD)
        continue;
      v = ats_metrics_get_head (self->metrics, metrics[i].name, layer, head);
      g_string_append_printf (s, "\n%s  %s", ats_metric_title (metrics[i].name),
                              isnan (v) ? "—" : "");
      if (!isnan (v))
        g_string_append_printf (s, "%.3f", v);
    }

  return g_string_free (s, FALSE);
}

static void
ats_overview_grid_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  AtsOverviewGrid *self = ATS_OVERVIEW_GRID (widget);
  int              width = gtk_widget_get_width (widget);
  int              height = gtk_widget_get_height (widget);
  Geometry         g;
  guint            layer, head;

  if (self->node == NULL || self->node_width != width || self->node_height != height)
    {
      g_clear_pointer (&self->node, gsk_render_node_unref);
      self->node = build_node (self, width, height);
      self->node_width = width;
      self->node_height = height;
    }
  if (self->node != NULL)
    gtk_snapshot_append_node (snapshot, self->node);

  if (!get_geometry (self, &g))
    return;

  if (self->has_selection)
    {
      GskRoundedRect rr;
      float          bw[4] = { 2, 2, 2, 2 };
      GdkRGBA        c = { 0.95f, 0.26f, 0.21f, 1.0f };
      GdkRGBA        cs[4] = { c, c, c, c };

      gsk_rounded_rect_init_from_rect (&rr,
                                       &GRAPHENE_RECT_INIT (g.x0 + self->sel_head * g.cell - 2,
                                                            g.y0 + self->sel_layer * g.cell - 2,
                                                            g.cell - g.gap + 4, g.cell - g.gap + 4),
                                       2);
      gtk_snapshot_append_border (snapshot, &rr, bw, cs);
    }

  if (self->hovering &&
      ats_overview_grid_pixel_to_cell (self, self->hover_x, self->hover_y, &layer, &head))
    {
      g_autofree char *text = ats_overview_grid_format_cell (self, layer, head);
      GskRoundedRect   rr;
      float            bw[4] = { 1, 1, 1, 1 };
      GdkRGBA          c = { 1, 1, 1, 1 };
      GdkRGBA          cs[4] = { c, c, c, c };

      gsk_rounded_rect_init_from_rect (&rr,
                                       &GRAPHENE_RECT_INIT (g.x0 + head * g.cell - 1,
                                                            g.y0 + layer * g.cell - 1,
                                                            g.cell - g.gap + 2, g.cell - g.gap + 2),
                                       1);
      gtk_snapshot_append_border (snapshot, &rr, bw, cs);
      ats_snapshot_callout (widget, snapshot, text, self->hover_x, self->hover_y, width, height);
    }
}

static void
ats_overview_grid_measure (GtkWidget     *widget,
                           GtkOrientation orientation,
                           int            for_size,
                           int           *minimum,
                           int           *natural,
                           int           *minimum_baseline,
                           int           *natural_baseline)
{
  *minimum = 120;
  *natural = 480;
}

void
ats_overview_grid_set_hover (AtsOverviewGrid *self, double x, double y)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  self->hovering = TRUE;
  self->hover_x = x;
  self->hover_y = y;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ats_overview_grid_clear_hover (AtsOverviewGrid *self)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  self->hovering = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, AtsOverviewGrid *self)
{
  ats_overview_grid_set_hover (self, x, y);
}

static void
on_leave (GtkEventControllerMotion *controller, AtsOverviewGrid *self)
{
  ats_overview_grid_clear_hover (self);
}

static void
on_released (GtkGestureClick *gesture, int n_press, double x, double y, AtsOverviewGrid *self)
{
  guint layer, head;

  if (ats_overview_grid_pixel_to_cell (self, x, y, &layer, &head))
    {
      ats_overview_grid_set_selected (self, layer, head);
      g_signal_emit (self, signals[HEAD_ACTIVATED], 0, layer, head);
    }
}

static void
ats_overview_grid_dispose (GObject *object)
{
  AtsOverviewGrid *self = ATS_OVERVIEW_GRID (object);

  drop_images (self);
  g_clear_pointer (&self->thumb_imgs, g_ptr_array_unref);
  g_clear_pointer (&self->thumbs, g_ptr_array_unref);
  g_clear_pointer (&self->metrics, ats_metrics_unref);
  g_clear_pointer (&self->color_by, g_free);
  g_clear_pointer (&self->node, gsk_render_node_unref);

  G_OBJECT_CLASS (ats_overview_grid_parent_class)->dispose (object);
}

static void
ats_overview_grid_class_init (AtsOverviewGridClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_overview_grid_dispose;
  widget_class->snapshot = ats_overview_grid_snapshot;
  widget_class->measure = ats_overview_grid_measure;

  signals[HEAD_ACTIVATED] =
      g_signal_new ("head-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);

  gtk_widget_class_set_css_name (widget_class, "overviewgrid");
}

static void
ats_overview_grid_init (AtsOverviewGrid *self)
{
  GtkEventController *motion;
  GtkGesture         *click;

  self->cmap = ATS_COLORMAP_VIRIDIS;
  self->thumbs = g_ptr_array_new_with_free_func (ats_matrix_unref0);
  self->thumb_imgs = g_ptr_array_new ();

  motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  click = gtk_gesture_click_new ();
  g_signal_connect (click, "released", G_CALLBACK (on_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
}

GtkWidget *
ats_overview_grid_new (void)
{
  return g_object_new (ATS_TYPE_OVERVIEW_GRID, NULL);
}

void
ats_overview_grid_set_shape (AtsOverviewGrid *self, guint n_layers, guint n_heads)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  drop_images (self);
  self->n_layers = n_layers;
  self->n_heads = n_heads;
  g_ptr_array_set_size (self->thumbs, 0);
  g_ptr_array_set_size (self->thumbs, n_layers * n_heads);
  g_ptr_array_set_size (self->thumb_imgs, 0);
  g_ptr_array_set_size (self->thumb_imgs, n_layers * n_heads);
  self->has_selection = FALSE;
  drop_node (self);
}

guint
ats_overview_grid_get_n_layers (AtsOverviewGrid *self)
{
  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), 0);

  return self->n_layers;
}

guint
ats_overview_grid_get_n_heads (AtsOverviewGrid *self)
{
  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), 0);

  return self->n_heads;
}

void
ats_overview_grid_set_thumbnail (AtsOverviewGrid *self,
                                 guint            layer,
                                 guint            head,
                                 AtsMatrix       *thumbnail)
{
  guint index;

  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));
  g_return_if_fail (layer < self->n_layers && head < self->n_heads);

  index = layer * self->n_heads + head;
  g_clear_pointer (&g_ptr_array_index (self->thumbs, index), ats_matrix_unref);
  g_clear_pointer (&g_ptr_array_index (self->thumb_imgs, index), cairo_surface_destroy);
  if (thumbnail != NULL)
    g_ptr_array_index (self->thumbs, index) = ats_matrix_ref (thumbnail);

  if (!metric_mode (self))
    drop_node (self);
}

AtsMatrix *
ats_overview_grid_get_thumbnail (AtsOverviewGrid *self, guint layer, guint head)
{
  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), NULL);

  if (layer >= self->n_layers || head >= self->n_heads)
    return NULL;
  return g_ptr_array_index (self->thumbs, layer * self->n_heads + head);
}

void
ats_overview_grid_set_metrics (AtsOverviewGrid *self, AtsMetrics *metrics)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  if (metrics != NULL)
    ats_metrics_ref (metrics);
  g_clear_pointer (&self->metrics, ats_metrics_unref);
  self->metrics = metrics;
  drop_node (self);
}

void
ats_overview_grid_set_color_by (AtsOverviewGrid *self, const char *metric)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  g_free (self->color_by);
  self->color_by = g_strdup (metric);
  drop_node (self);
}

const char *
ats_overview_grid_get_color_by (AtsOverviewGrid *self)
{
  g_return_val_if_fail (ATS_IS_OVERVIEW_GRID (self), NULL);

  return self->color_by;
}

void
ats_overview_grid_set_colormap (AtsOverviewGrid *self, AtsColormap cmap)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  self->cmap = cmap;
  drop_images (self);
}

void
ats_overview_grid_set_selected (AtsOverviewGrid *self, guint layer, guint head)
{
  g_return_if_fail (ATS_IS_OVERVIEW_GRID (self));

  self->has_selection = layer < self->n_layers && head < self->n_heads;
  self->sel_layer = layer;
  self->sel_head = head;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
