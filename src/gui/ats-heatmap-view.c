/* ats-heatmap-view.c */
#include "ats-heatmap-view.h"

#include <math.h>

#include "ats-colorize.h"
#include "ats-gui-util.h"

#define PAD 8.0
#define COLORBAR_W 84.0
#define MIN_ZOOM_PX 0.02 /* pixels per cell */
#define MAX_ZOOM_PX 256.0
#define DRAG_SLOP 4.0

struct _AtsHeatmapView
{
  GtkWidget parent_instance;

  AtsMatrix   *matrix;
  char       **labels; /* [n_rows] or NULL */
  AtsColormap  cmap;
  AtsScaleKind scale_kind;
  double       vmin; /* NaN: auto */
  double       vmax;
  gboolean     causal;
  gboolean     mark_zeros;
  gboolean     crosshair;
  char        *value_name;
  char        *row_name;
  char        *col_name;
  AtsScale     scale; /* resolved */

  /* view: cell (r, c) covers [ox + c * zoom, oy + r * zoom) */
  double   zoom;
  double   ox;
  double   oy;
  gboolean fitted;
  int      last_width;
  int      last_height;

  /* pyramid of colour images, level k is 2^k cells per pixel block */
  GPtrArray     *pyramid;             /* cairo_surface_t* */
  guint          pyramid_serial;      /* bumped when the data cache is dropped */
  GCancellable  *pyramid_cancellable; /* a pyramid being built in a worker thread */
  GskRenderNode *map_node;            /* cached for the current view and size */
  GskRenderNode *bar_node;

  /* pointer */
  gboolean hovering;
  double   hover_x;
  double   hover_y;
  double   drag_ox;
  double   drag_oy;
};

G_DEFINE_FINAL_TYPE (AtsHeatmapView, ats_heatmap_view, GTK_TYPE_WIDGET)

enum
{
  PROP_0,
  PROP_COLORMAP,
  PROP_SCALE_KIND,
  PROP_CROSSHAIR,
  PROP_ZOOM,
  N_PROPS
};

enum
{
  HOVER_CHANGED,
  CELL_ACTIVATED,
  NAVIGATE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint       signals[N_SIGNALS];

static void
drop_view_cache (AtsHeatmapView *self)
{
  g_clear_pointer (&self->map_node, gsk_render_node_unref);
}

static void
drop_data_cache (AtsHeatmapView *self)
{
  drop_view_cache (self);
  g_clear_pointer (&self->bar_node, gsk_render_node_unref);
  g_clear_pointer (&self->pyramid, g_ptr_array_unref);
  self->pyramid_serial++;
  if (self->pyramid_cancellable != NULL)
    {
      g_cancellable_cancel (self->pyramid_cancellable);
      g_clear_object (&self->pyramid_cancellable);
    }
}

static void
plot_area (AtsHeatmapView *self, graphene_rect_t *area)
{
  double w = gtk_widget_get_width (GTK_WIDGET (self));
  double h = gtk_widget_get_height (GTK_WIDGET (self));
  double bar = w > 3 * COLORBAR_W ? COLORBAR_W : 0.0;

  graphene_rect_init (area, PAD, PAD, MAX (1.0, w - 2 * PAD - bar), MAX (1.0, h - 2 * PAD));
}

static void
init_heatmap (AtsHeatmapView *self, AtsHeatmap *heatmap)
{
  ats_colorize_init_heatmap (heatmap, self->matrix, self->cmap, self->scale_kind, self->vmin,
                             self->vmax, self->causal);
  heatmap->mark_zeros = self->mark_zeros;
}

static void
resolve_scale (AtsHeatmapView *self)
{
  AtsHeatmap heatmap;

  if (self->matrix == NULL)
    {
      ats_scale_init (&self->scale, self->scale_kind);
      ats_scale_resolve (&self->scale, 0.0, 1.0, ats_colormap_is_diverging (self->cmap));
      return;
    }

  init_heatmap (self, &heatmap);
  ats_colorize_resolve_scale (&heatmap, &self->scale);
}

static void
emit_hover (AtsHeatmapView *self)
{
  guint row, col;

  if (ats_heatmap_view_get_hover_cell (self, &row, &col))
    g_signal_emit (self, signals[HOVER_CHANGED], 0, (int) row, (int) col);
  else
    g_signal_emit (self, signals[HOVER_CHANGED], 0, -1, -1);
}

/* --- geometry --- */

static double
min_zoom (AtsHeatmapView *self)
{
  graphene_rect_t area;
  double          fit;

  if (self->matrix == NULL || self->matrix->n_rows == 0 || self->matrix->n_cols == 0)
    return MIN_ZOOM_PX;

  plot_area (self, &area);
  fit = MIN (area.size.width / self->matrix->n_cols, area.size.height / self->matrix->n_rows);
  return MAX (MIN_ZOOM_PX, MIN (fit * 0.25, 1.0));
}

static void
clamp_view (AtsHeatmapView *self)
{
  graphene_rect_t area;
  double          mw, mh;

  if (self->matrix == NULL)
    return;

  plot_area (self, &area);
  mw = self->matrix->n_cols * self->zoom;
  mh = self->matrix->n_rows * self->zoom;

  /* keep at least a quarter of the plot area covered by the map */
  self->ox = CLAMP (self->ox, area.origin.x - mw + area.size.width * 0.25,
                    area.origin.x + area.size.width * 0.75);
  self->oy = CLAMP (self->oy, area.origin.y - mh + area.size.height * 0.25,
                    area.origin.y + area.size.height * 0.75);
}

void
ats_heatmap_view_fit (AtsHeatmapView *self)
{
  graphene_rect_t area;

  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  self->fitted = TRUE;
  if (self->matrix == NULL || self->matrix->n_rows == 0 || self->matrix->n_cols == 0)
    return;

  plot_area (self, &area);
  self->zoom =
      MIN (area.size.width / self->matrix->n_cols, area.size.height / self->matrix->n_rows);
  self->zoom = CLAMP (self->zoom, MIN_ZOOM_PX, MAX_ZOOM_PX);
  /* whole pixels per cell when cells are large, so that every cell has the same size */
  if (self->zoom >= 2.0)
    self->zoom = floor (self->zoom);
  self->ox = floor (area.origin.x + (area.size.width - self->matrix->n_cols * self->zoom) / 2);
  self->oy = floor (area.origin.y + (area.size.height - self->matrix->n_rows * self->zoom) / 2);

  drop_view_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

gboolean
ats_heatmap_view_get_fitted (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  return self->fitted;
}

gboolean
ats_heatmap_view_pixel_to_cell (AtsHeatmapView *self, double x, double y, guint *row, guint *col)
{
  double c, r;

  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  if (self->matrix == NULL || self->zoom <= 0)
    return FALSE;

  c = floor ((x - self->ox) / self->zoom);
  r = floor ((y - self->oy) / self->zoom);
  if (c < 0 || r < 0 || c >= self->matrix->n_cols || r >= self->matrix->n_rows)
    return FALSE;

  if (row != NULL)
    *row = (guint) r;
  if (col != NULL)
    *col = (guint) c;
  return TRUE;
}

gboolean
ats_heatmap_view_cell_to_pixel (AtsHeatmapView *self, guint row, guint col, double *x, double *y)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  if (self->matrix == NULL || row >= self->matrix->n_rows || col >= self->matrix->n_cols)
    return FALSE;

  if (x != NULL)
    *x = self->ox + (col + 0.5) * self->zoom;
  if (y != NULL)
    *y = self->oy + (row + 0.5) * self->zoom;
  return TRUE;
}

double
ats_heatmap_view_get_zoom (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), 1.0);

  return self->zoom;
}

void
ats_heatmap_view_zoom_at (AtsHeatmapView *self, double factor, double x, double y)
{
  double new_zoom;

  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  if (self->matrix == NULL || !(factor > 0))
    return;

  new_zoom = CLAMP (self->zoom * factor, min_zoom (self), MAX_ZOOM_PX);
  if (new_zoom == self->zoom)
    return;

  /* the data point under (x, y) stays under (x, y) */
  self->ox = x - (x - self->ox) * (new_zoom / self->zoom);
  self->oy = y - (y - self->oy) * (new_zoom / self->zoom);
  self->zoom = new_zoom;
  self->fitted = FALSE;
  clamp_view (self);

  drop_view_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  emit_hover (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

void
ats_heatmap_view_pan (AtsHeatmapView *self, double dx, double dy)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  if (self->matrix == NULL || (dx == 0 && dy == 0))
    return;

  self->ox += dx;
  self->oy += dy;
  self->fitted = FALSE;
  clamp_view (self);

  drop_view_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  emit_hover (self);
}

/* --- hover --- */

void
ats_heatmap_view_set_hover (AtsHeatmapView *self, double x, double y)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  self->hovering = TRUE;
  self->hover_x = x;
  self->hover_y = y;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  emit_hover (self);
}

void
ats_heatmap_view_clear_hover (AtsHeatmapView *self)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  if (!self->hovering)
    return;
  self->hovering = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  emit_hover (self);
}

gboolean
ats_heatmap_view_get_hover_cell (AtsHeatmapView *self, guint *row, guint *col)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  return self->hovering &&
         ats_heatmap_view_pixel_to_cell (self, self->hover_x, self->hover_y, row, col);
}

static char *
label_for (AtsHeatmapView *self, guint index)
{
  if (self->labels == NULL || index >= g_strv_length (self->labels))
    return g_strdup ("");
  return ats_token_display (self->labels[index], 24);
}

char *
ats_heatmap_view_format_cell (AtsHeatmapView *self, guint row, guint col)
{
  g_autofree char *rl = NULL;
  g_autofree char *cl = NULL;
  float            v;

  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), NULL);
  g_return_val_if_fail (self->matrix != NULL, NULL);
  g_return_val_if_fail (row < self->matrix->n_rows && col < self->matrix->n_cols, NULL);

  rl = label_for (self, row);
  cl = label_for (self, col);
  v = ats_matrix_get (self->matrix, row, col);

  if (self->causal && col > row)
    return g_strdup_printf ("%s #%u “%s”\n%s #%u “%s”\nnot visible (causal mask)", self->row_name,
                            row, rl, self->col_name, col, cl);

  return g_strdup_printf ("%s #%u “%s”\n%s #%u “%s”\n%s %.4f", self->row_name, row, rl,
                          self->col_name, col, cl, self->value_name, v);
}

/* --- drawing --- */

/* Maps of more cells than this get their pyramid built in a worker thread (about 0.5 s at
 * 4096 x 4096): the UI thread keeps drawing, and the map appears when it is ready. */
#define SYNC_PYRAMID_CELLS ((gsize) 1024 * 1024)

typedef struct
{
  AtsMatrix *matrix;
  AtsHeatmap heatmap; /* its data points into matrix */
  AtsScale   scale;
} PyramidJob;

static void
pyramid_job_free (PyramidJob *job)
{
  ats_matrix_unref (job->matrix);
  g_free (job);
}

static GPtrArray *
pyramid_build (const AtsHeatmap *heatmap, const AtsScale *scale, GCancellable *cancellable)
{
  GPtrArray *pyramid = g_ptr_array_new_with_free_func ((GDestroyNotify) cairo_surface_destroy);
  int        w = heatmap->n_cols;
  int        h = heatmap->n_rows;

  /* level k: at most ceil(n / 2^k) pixels a side, max-pooled by the renderer */
  for (;;)
    {
      if (g_cancellable_is_cancelled (cancellable))
        {
          g_ptr_array_unref (pyramid);
          return NULL;
        }
      g_ptr_array_add (pyramid, ats_colorize_image (heatmap, scale, w, h));
      if (w <= 16 && h <= 16)
        break;
      w = (w + 1) / 2;
      h = (h + 1) / 2;
    }
  return pyramid;
}

static void
pyramid_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  PyramidJob *job = task_data;
  GPtrArray  *pyramid = pyramid_build (&job->heatmap, &job->scale, cancellable);

  if (pyramid == NULL)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
  else
    g_task_return_pointer (task, pyramid, (GDestroyNotify) g_ptr_array_unref);
}

static void
on_pyramid_built (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (source);
  guint           serial = GPOINTER_TO_UINT (user_data);
  GPtrArray      *pyramid = g_task_propagate_pointer (G_TASK (result), NULL);

  if (pyramid == NULL)
    return;
  if (serial != self->pyramid_serial || self->pyramid != NULL)
    {
      g_ptr_array_unref (pyramid);
      return;
    }
  g_clear_object (&self->pyramid_cancellable);
  self->pyramid = pyramid;
  drop_view_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* The pyramid, built here for small maps; for large ones a worker thread is started (once) and
 * NULL is returned until it is done. */
static GPtrArray *
ensure_pyramid (AtsHeatmapView *self)
{
  PyramidJob *job;
  g_autoptr (GTask) task = NULL;

  if (self->pyramid != NULL)
    return self->pyramid;

  if ((gsize) self->matrix->n_rows * self->matrix->n_cols <= SYNC_PYRAMID_CELLS)
    {
      AtsHeatmap heatmap;

      init_heatmap (self, &heatmap);
      self->pyramid = pyramid_build (&heatmap, &self->scale, NULL);
      return self->pyramid;
    }

  if (self->pyramid_cancellable != NULL)
    return NULL;

  job = g_new0 (PyramidJob, 1);
  job->matrix = ats_matrix_ref (self->matrix);
  init_heatmap (self, &job->heatmap);
  job->scale = self->scale;
  self->pyramid_cancellable = g_cancellable_new ();
  task = g_task_new (self, self->pyramid_cancellable, on_pyramid_built,
                     GUINT_TO_POINTER (self->pyramid_serial));
  g_task_set_task_data (task, job, (GDestroyNotify) pyramid_job_free);
  g_task_run_in_thread (task, pyramid_thread);
  return NULL;
}

gboolean
ats_heatmap_view_get_rendering (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  return self->pyramid_cancellable != NULL;
}

static GskRenderNode *
build_map_node (AtsHeatmapView *self, int width, int height)
{
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  graphene_rect_t  area;
  cairo_surface_t *surface;
  cairo_t         *cr;
  guint            level = 0;
  double           x0, y0, x1, y1;

  plot_area (self, &area);

  if (ensure_pyramid (self) == NULL)
    return NULL;

  /* the coarsest level that still has at least ~1 image pixel per screen pixel */
  while (level + 1 < self->pyramid->len && self->zoom * (1u << (level + 1)) <= 1.0)
    level++;
  surface = g_ptr_array_index (self->pyramid, level);

  /* visible part of the map, clipped to the plot area */
  x0 = MAX (area.origin.x, self->ox);
  y0 = MAX (area.origin.y, self->oy);
  x1 = MIN (area.origin.x + area.size.width, self->ox + self->matrix->n_cols * self->zoom);
  y1 = MIN (area.origin.y + area.size.height, self->oy + self->matrix->n_rows * self->zoom);
  if (x1 <= x0 || y1 <= y0)
    return NULL;

  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (x0, y0, x1 - x0, y1 - y0));
  cairo_rectangle (cr, x0, y0, x1 - x0, y1 - y0);
  cairo_clip (cr);
  ats_heatmap_paint_image (cr, surface, self->ox, self->oy, self->matrix->n_cols * self->zoom,
                           self->matrix->n_rows * self->zoom);
  cairo_destroy (cr);

  return gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
}

static GskRenderNode *
build_bar_node (AtsHeatmapView *self, int width, int height)
{
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  double   bar_h = MIN (height - 2 * PAD - 24, 360.0);
  double   x = width - COLORBAR_W + 8;
  cairo_t *cr;

  if (width <= 3 * COLORBAR_W || bar_h < 40)
    return NULL;

  cr = gtk_snapshot_append_cairo (snapshot,
                                  &GRAPHENE_RECT_INIT (width - COLORBAR_W, 0, COLORBAR_W, height));
  if (ats_widget_is_dark (GTK_WIDGET (self)))
    {
      /* the renderer draws dark text for paper; give it a light card on dark themes */
      cairo_set_source_rgba (cr, 1, 1, 1, 0.92);
      cairo_rectangle (cr, width - COLORBAR_W + 2, PAD, COLORBAR_W - 4,
                       bar_h + (self->mark_zeros ? 44 : 24));
      cairo_fill (cr);
    }
  ats_colorbar_draw (cr, x, PAD + 12, 14, bar_h, self->cmap, &self->scale, self->value_name, 10.0);
  if (self->mark_zeros)
    {
      /* the swatch of exact zeros, under the bar (the render library's zero colour) */
      double sy = PAD + 12 + bar_h + 8;

      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_rectangle (cr, x, sy, 14, 10);
      cairo_fill_preserve (cr);
      cairo_set_source_rgb (cr, 0.4, 0.4, 0.4);
      cairo_set_line_width (cr, 1.0);
      cairo_stroke (cr);
      cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
      cairo_set_font_size (cr, 10.0);
      cairo_set_source_rgb (cr, 0.13, 0.13, 0.13);
      cairo_move_to (cr, x + 18, sy + 9);
      cairo_show_text (cr, "exactly 0");
    }
  cairo_destroy (cr);

  return gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
}

static void
snapshot_crosshair (AtsHeatmapView *self, GtkSnapshot *snapshot, guint row, guint col)
{
  graphene_rect_t area;
  GdkRGBA         band = { 1.0f, 1.0f, 1.0f, 0.22f };
  GdkRGBA         outline = { 1.0f, 1.0f, 1.0f, 1.0f };
  GdkRGBA         outline_dark = { 0.0f, 0.0f, 0.0f, 1.0f };
  double          cx = self->ox + col * self->zoom;
  double          cy = self->oy + row * self->zoom;
  double          mx0, my0, mx1, my1;

  plot_area (self, &area);
  mx0 = MAX (area.origin.x, self->ox);
  my0 = MAX (area.origin.y, self->oy);
  mx1 = MIN (area.origin.x + area.size.width, self->ox + self->matrix->n_cols * self->zoom);
  my1 = MIN (area.origin.y + area.size.height, self->oy + self->matrix->n_rows * self->zoom);

  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (mx0, my0, mx1 - mx0, my1 - my0));
  if (self->crosshair)
    {
      double band_w = MAX (self->zoom, 1.0);

      gtk_snapshot_append_color (snapshot, &band, &GRAPHENE_RECT_INIT (mx0, cy, mx1 - mx0, band_w));
      gtk_snapshot_append_color (snapshot, &band, &GRAPHENE_RECT_INIT (cx, my0, band_w, my1 - my0));
    }
  if (self->zoom >= 4.0)
    {
      GskRoundedRect rr;
      float          w1[4] = { 1, 1, 1, 1 };
      GdkRGBA        c1[4] = { outline_dark, outline_dark, outline_dark, outline_dark };
      GdkRGBA        c2[4] = { outline, outline, outline, outline };

      gsk_rounded_rect_init_from_rect (
          &rr, &GRAPHENE_RECT_INIT (cx - 1, cy - 1, self->zoom + 2, self->zoom + 2), 0);
      gtk_snapshot_append_border (snapshot, &rr, w1, c1);
      gsk_rounded_rect_init_from_rect (&rr, &GRAPHENE_RECT_INIT (cx, cy, self->zoom, self->zoom),
                                       0);
      gtk_snapshot_append_border (snapshot, &rr, w1, c2);
    }
  gtk_snapshot_pop (snapshot);
}

static void
ats_heatmap_view_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (widget);
  int             width = gtk_widget_get_width (widget);
  int             height = gtk_widget_get_height (widget);
  guint           row, col;

  if (self->matrix == NULL || self->matrix->n_rows == 0 || width <= 0 || height <= 0)
    return;

  if (width != self->last_width || height != self->last_height)
    {
      self->last_width = width;
      self->last_height = height;
      drop_view_cache (self);
      g_clear_pointer (&self->bar_node, gsk_render_node_unref);
    }

  if (self->map_node == NULL)
    self->map_node = build_map_node (self, width, height);
  if (self->bar_node == NULL)
    self->bar_node = build_bar_node (self, width, height);

  if (self->map_node != NULL)
    gtk_snapshot_append_node (snapshot, self->map_node);
  if (self->bar_node != NULL)
    gtk_snapshot_append_node (snapshot, self->bar_node);

  if (ats_heatmap_view_get_hover_cell (self, &row, &col))
    {
      g_autofree char *text = ats_heatmap_view_format_cell (self, row, col);

      snapshot_crosshair (self, snapshot, row, col);
      ats_snapshot_callout (widget, snapshot, text, self->hover_x, self->hover_y, width, height);
    }
}

static void
ats_heatmap_view_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (widget);

  drop_view_cache (self);
  g_clear_pointer (&self->bar_node, gsk_render_node_unref);
  if (self->fitted)
    ats_heatmap_view_fit (self);
  else
    clamp_view (self);
}

static void
ats_heatmap_view_measure (GtkWidget     *widget,
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

/* --- input --- */

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, AtsHeatmapView *self)
{
  ats_heatmap_view_set_hover (self, x, y);
}

static void
on_leave (GtkEventControllerMotion *controller, AtsHeatmapView *self)
{
  ats_heatmap_view_clear_hover (self);
}

static gboolean
on_scroll (GtkEventControllerScroll *controller, double dx, double dy, AtsHeatmapView *self)
{
  GdkModifierType state =
      gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));
  double x = self->hovering ? self->hover_x : gtk_widget_get_width (GTK_WIDGET (self)) / 2.0;
  double y = self->hovering ? self->hover_y : gtk_widget_get_height (GTK_WIDGET (self)) / 2.0;

  if (self->matrix == NULL)
    return FALSE;

  if (state & GDK_SHIFT_MASK)
    ats_heatmap_view_pan (self, -dy * 40, -dx * 40);
  else
    ats_heatmap_view_zoom_at (self, pow (1.15, -dy), x, y);
  return TRUE;
}

static void
on_drag_begin (GtkGestureDrag *gesture, double x, double y, AtsHeatmapView *self)
{
  self->drag_ox = self->ox;
  self->drag_oy = self->oy;
  gtk_widget_grab_focus (GTK_WIDGET (self));
}

static void
on_drag_update (GtkGestureDrag *gesture, double dx, double dy, AtsHeatmapView *self)
{
  if (hypot (dx, dy) < DRAG_SLOP && self->fitted)
    return;
  ats_heatmap_view_pan (self, self->drag_ox + dx - self->ox, self->drag_oy + dy - self->oy);
}

static void
on_drag_end (GtkGestureDrag *gesture, double dx, double dy, AtsHeatmapView *self)
{
  double sx, sy;
  guint  row, col;

  if (hypot (dx, dy) >= DRAG_SLOP)
    return;

  gtk_gesture_drag_get_start_point (gesture, &sx, &sy);
  if (ats_heatmap_view_pixel_to_cell (self, sx, sy, &row, &col))
    g_signal_emit (self, signals[CELL_ACTIVATED], 0, row, col);
}

static void
on_pressed (GtkGestureClick *gesture, int n_press, double x, double y, AtsHeatmapView *self)
{
  if (n_press == 2)
    ats_heatmap_view_fit (self);
}

static gboolean
zoom_in_cb (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (widget);

  ats_heatmap_view_zoom_at (self, 1.25, gtk_widget_get_width (widget) / 2.0,
                            gtk_widget_get_height (widget) / 2.0);
  return TRUE;
}

static gboolean
zoom_out_cb (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (widget);

  ats_heatmap_view_zoom_at (self, 0.8, gtk_widget_get_width (widget) / 2.0,
                            gtk_widget_get_height (widget) / 2.0);
  return TRUE;
}

static gboolean
fit_cb (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  ats_heatmap_view_fit (ATS_HEATMAP_VIEW (widget));
  return TRUE;
}

/* --- GObject --- */

static void
ats_heatmap_view_dispose (GObject *object)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (object);

  drop_data_cache (self);
  g_clear_pointer (&self->matrix, ats_matrix_unref);
  g_clear_pointer (&self->labels, g_strfreev);

  G_OBJECT_CLASS (ats_heatmap_view_parent_class)->dispose (object);
}

static void
ats_heatmap_view_finalize (GObject *object)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (object);

  g_free (self->value_name);
  g_free (self->row_name);
  g_free (self->col_name);

  G_OBJECT_CLASS (ats_heatmap_view_parent_class)->finalize (object);
}

static void
ats_heatmap_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (object);

  switch (prop_id)
    {
    case PROP_COLORMAP:
      g_value_set_uint (value, self->cmap);
      break;
    case PROP_SCALE_KIND:
      g_value_set_uint (value, self->scale_kind);
      break;
    case PROP_CROSSHAIR:
      g_value_set_boolean (value, self->crosshair);
      break;
    case PROP_ZOOM:
      g_value_set_double (value, self->zoom);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ats_heatmap_view_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  AtsHeatmapView *self = ATS_HEATMAP_VIEW (object);

  switch (prop_id)
    {
    case PROP_COLORMAP:
      ats_heatmap_view_set_colormap (self, g_value_get_uint (value));
      break;
    case PROP_SCALE_KIND:
      ats_heatmap_view_set_scale_kind (self, g_value_get_uint (value));
      break;
    case PROP_CROSSHAIR:
      ats_heatmap_view_set_crosshair (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ats_heatmap_view_class_init (AtsHeatmapViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_heatmap_view_dispose;
  object_class->finalize = ats_heatmap_view_finalize;
  object_class->get_property = ats_heatmap_view_get_property;
  object_class->set_property = ats_heatmap_view_set_property;

  widget_class->snapshot = ats_heatmap_view_snapshot;
  widget_class->size_allocate = ats_heatmap_view_size_allocate;
  widget_class->measure = ats_heatmap_view_measure;

  properties[PROP_COLORMAP] =
      g_param_spec_uint ("colormap", NULL, NULL, 0, ATS_COLORMAP_RDBU, ATS_COLORMAP_VIRIDIS,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SCALE_KIND] =
      g_param_spec_uint ("scale-kind", NULL, NULL, 0, ATS_SCALE_POWER, ATS_SCALE_LINEAR,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CROSSHAIR] =
      g_param_spec_boolean ("crosshair", NULL, NULL, TRUE,
                            G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ZOOM] = g_param_spec_double ("zoom", NULL, NULL, 0, G_MAXDOUBLE, 1.0,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* (row, col), -1 when the pointer is off the map */
  signals[HOVER_CHANGED] =
      g_signal_new ("hover-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
  signals[CELL_ACTIVATED] =
      g_signal_new ("cell-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_UINT);
  /* (d_layer, d_head) */
  signals[NAVIGATE] =
      g_signal_new ("navigate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);

  gtk_widget_class_add_binding_signal (widget_class, GDK_KEY_Left, 0, "navigate", "(ii)", 0, -1);
  gtk_widget_class_add_binding_signal (widget_class, GDK_KEY_Right, 0, "navigate", "(ii)", 0, 1);
  gtk_widget_class_add_binding_signal (widget_class, GDK_KEY_Up, 0, "navigate", "(ii)", -1, 0);
  gtk_widget_class_add_binding_signal (widget_class, GDK_KEY_Down, 0, "navigate", "(ii)", 1, 0);
  gtk_widget_class_add_binding_signal (widget_class, GDK_KEY_Page_Up, 0, "navigate", "(ii)", -1, 0);
  gtk_widget_class_add_binding_signal (widget_class, GDK_KEY_Page_Down, 0, "navigate", "(ii)", 1,
                                       0);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_plus, 0, zoom_in_cb, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_equal, 0, zoom_in_cb, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_KP_Add, 0, zoom_in_cb, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_minus, 0, zoom_out_cb, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_KP_Subtract, 0, zoom_out_cb, NULL);
  gtk_widget_class_add_binding (widget_class, GDK_KEY_0, 0, fit_cb, NULL);

  gtk_widget_class_set_css_name (widget_class, "heatmapview");
}

static void
ats_heatmap_view_init (AtsHeatmapView *self)
{
  GtkEventController *motion, *scroll;
  GtkGesture         *drag, *click;

  self->cmap = ATS_COLORMAP_VIRIDIS;
  self->scale_kind = ATS_SCALE_LINEAR;
  self->vmin = NAN;
  self->vmax = NAN;
  self->causal = TRUE;
  self->crosshair = TRUE;
  self->fitted = TRUE;
  self->zoom = 1.0;
  self->value_name = g_strdup ("weight");
  self->row_name = g_strdup ("query");
  self->col_name = g_strdup ("key");
  resolve_scale (self);

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);

  motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);

  drag = gtk_gesture_drag_new ();
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (on_drag_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  click = gtk_gesture_click_new ();
  g_signal_connect (click, "pressed", G_CALLBACK (on_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
}

GtkWidget *
ats_heatmap_view_new (void)
{
  return g_object_new (ATS_TYPE_HEATMAP_VIEW, NULL);
}

/* --- setters --- */

void
ats_heatmap_view_set_matrix (AtsHeatmapView *self, AtsMatrix *matrix, const char *const *labels)
{
  gboolean same_shape;

  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  same_shape = matrix != NULL && self->matrix != NULL && matrix->n_rows == self->matrix->n_rows &&
               matrix->n_cols == self->matrix->n_cols;

  if (matrix != NULL)
    ats_matrix_ref (matrix);
  g_clear_pointer (&self->matrix, ats_matrix_unref);
  self->matrix = matrix;

  g_clear_pointer (&self->labels, g_strfreev);
  self->labels = g_strdupv ((char **) labels);

  drop_data_cache (self);
  resolve_scale (self);

  /* keep the view when only the head changes, so that one can flip through heads */
  if (!same_shape)
    ats_heatmap_view_fit (self);

  gtk_widget_queue_draw (GTK_WIDGET (self));
  emit_hover (self);
}

AtsMatrix *
ats_heatmap_view_get_matrix (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), NULL);

  return self->matrix;
}

void
ats_heatmap_view_set_colormap (AtsHeatmapView *self, AtsColormap cmap)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));
  g_return_if_fail (cmap <= ATS_COLORMAP_RDBU);

  if (self->cmap == cmap)
    return;
  self->cmap = cmap;
  resolve_scale (self);
  drop_data_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLORMAP]);
}

AtsColormap
ats_heatmap_view_get_colormap (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), ATS_COLORMAP_VIRIDIS);

  return self->cmap;
}

void
ats_heatmap_view_set_scale_kind (AtsHeatmapView *self, AtsScaleKind kind)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));
  g_return_if_fail (kind <= ATS_SCALE_POWER);

  if (self->scale_kind == kind)
    return;
  self->scale_kind = kind;
  resolve_scale (self);
  drop_data_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCALE_KIND]);
}

AtsScaleKind
ats_heatmap_view_get_scale_kind (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), ATS_SCALE_LINEAR);

  return self->scale_kind;
}

void
ats_heatmap_view_set_range (AtsHeatmapView *self, double vmin, double vmax)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  self->vmin = vmin;
  self->vmax = vmax;
  resolve_scale (self);
  drop_data_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ats_heatmap_view_get_scale (AtsHeatmapView *self, AtsScale *scale)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  *scale = self->scale;
}

void
ats_heatmap_view_set_causal (AtsHeatmapView *self, gboolean causal)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  self->causal = !!causal;
  resolve_scale (self);
  drop_data_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ats_heatmap_view_set_mark_zeros (AtsHeatmapView *self, gboolean mark_zeros)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  mark_zeros = !!mark_zeros;
  if (self->mark_zeros == mark_zeros)
    return;
  self->mark_zeros = mark_zeros;
  drop_data_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
ats_heatmap_view_get_mark_zeros (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  return self->mark_zeros;
}

void
ats_heatmap_view_set_crosshair (AtsHeatmapView *self, gboolean crosshair)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));

  crosshair = !!crosshair;
  if (self->crosshair == crosshair)
    return;
  self->crosshair = crosshair;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CROSSHAIR]);
}

gboolean
ats_heatmap_view_get_crosshair (AtsHeatmapView *self)
{
  g_return_val_if_fail (ATS_IS_HEATMAP_VIEW (self), FALSE);

  return self->crosshair;
}

static void
set_name (AtsHeatmapView *self, char **field, const char *name)
{
  g_free (*field);
  *field = g_strdup (name != NULL ? name : "");
  g_clear_pointer (&self->bar_node, gsk_render_node_unref);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ats_heatmap_view_set_value_name (AtsHeatmapView *self, const char *name)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));
  set_name (self, &self->value_name, name);
}

void
ats_heatmap_view_set_row_name (AtsHeatmapView *self, const char *name)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));
  set_name (self, &self->row_name, name);
}

void
ats_heatmap_view_set_col_name (AtsHeatmapView *self, const char *name)
{
  g_return_if_fail (ATS_IS_HEATMAP_VIEW (self));
  set_name (self, &self->col_name, name);
}
