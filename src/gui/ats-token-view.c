/* ats-token-view.c */
#include "ats-token-view.h"

#include <math.h>

#include "ats-gui-util.h"

#define CHIP_PAD_X 6.0
#define CHIP_PAD_Y 4.0
#define CHIP_GAP 4.0
#define LINE_GAP 10.0
#define MARGIN 12.0

struct _AtsTokenView
{
  GtkWidget parent_instance;

  char       **pieces;  /* [T] */
  char       **display; /* [T] visible text */
  AtsMatrix   *matrix;  /* [T, T] */
  gboolean    *sinks;   /* [T] */
  guint        n_sinks;
  AtsTokenMode mode;
  int          selected;
  int          hover;

  /* layout cache */
  int     layout_width;
  GArray *rects; /* graphene_rect_t [T] */
  double  layout_height;
};

G_DEFINE_FINAL_TYPE (AtsTokenView, ats_token_view, GTK_TYPE_WIDGET)

enum
{
  PROP_0,
  PROP_MODE,
  PROP_SELECTED,
  N_PROPS
};

enum
{
  TOKEN_SELECTED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint       signals[N_SIGNALS];

static guint
n_tokens (AtsTokenView *self)
{
  return self->pieces != NULL ? g_strv_length (self->pieces) : 0;
}

static void
invalidate_layout (AtsTokenView *self)
{
  self->layout_width = -1;
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

static void
ensure_layout (AtsTokenView *self, int width)
{
  double x = MARGIN, y = MARGIN, line_h = 0;
  g_autoptr (PangoLayout) layout = NULL;

  if (self->layout_width == width && self->rects != NULL)
    return;

  self->layout_width = width;
  g_array_set_size (self->rects, 0);
  layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), NULL);

  for (guint i = 0; i < n_tokens (self); i++)
    {
      graphene_rect_t r;
      int             tw, th;
      double          cw, ch;

      pango_layout_set_text (layout, self->display[i], -1);
      pango_layout_get_pixel_size (layout, &tw, &th);
      cw = tw + 2 * CHIP_PAD_X;
      ch = th + 2 * CHIP_PAD_Y;
      if (x + cw > width - MARGIN && x > MARGIN)
        {
          x = MARGIN;
          y += line_h + LINE_GAP;
          line_h = 0;
        }
      graphene_rect_init (&r, x, y, cw, ch);
      g_array_append_val (self->rects, r);
      x += cw + CHIP_GAP;
      line_h = MAX (line_h, ch);
    }

  self->layout_height = y + line_h + MARGIN;
}

gboolean
ats_token_view_get_token_rect (AtsTokenView *self, guint token, graphene_rect_t *rect)
{
  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), FALSE);

  ensure_layout (self, gtk_widget_get_width (GTK_WIDGET (self)));
  if (token >= self->rects->len)
    return FALSE;
  *rect = g_array_index (self->rects, graphene_rect_t, token);
  return TRUE;
}

int
ats_token_view_pixel_to_token (AtsTokenView *self, double x, double y)
{
  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), -1);

  ensure_layout (self, gtk_widget_get_width (GTK_WIDGET (self)));
  for (guint i = 0; i < self->rects->len; i++)
    if (graphene_rect_contains_point (&g_array_index (self->rects, graphene_rect_t, i),
                                      &GRAPHENE_POINT_INIT (x, y)))
      return (int) i;
  return -1;
}

double
ats_token_view_get_weight (AtsTokenView *self, guint token)
{
  guint T;

  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), NAN);

  T = n_tokens (self);
  if (self->matrix == NULL || self->selected < 0 || token >= T || self->matrix->n_rows != T ||
      self->matrix->n_cols != T)
    return NAN;

  if (self->mode == ATS_TOKEN_MODE_QUERY)
    return token <= (guint) self->selected ? ats_matrix_get (self->matrix, self->selected, token)
                                           : NAN;
  return token >= (guint) self->selected ? ats_matrix_get (self->matrix, token, self->selected)
                                         : NAN;
}

double
ats_token_view_get_intensity (AtsTokenView *self, guint token)
{
  double best = 0, v;

  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), 0);

  v = ats_token_view_get_weight (self, token);
  if (isnan (v))
    return 0;

  for (guint i = 0; i < n_tokens (self); i++)
    {
      double w = ats_token_view_get_weight (self, i);

      if (!isnan (w) && w > best)
        best = w;
    }

  return best > 0 ? CLAMP (v / best, 0.0, 1.0) : 0.0;
}

gboolean
ats_token_view_is_sink (AtsTokenView *self, guint token)
{
  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), FALSE);

  return self->sinks != NULL && token < self->n_sinks && self->sinks[token];
}

static void
ats_token_view_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  AtsTokenView    *self = ATS_TOKEN_VIEW (widget);
  GtkStyleContext *context = gtk_widget_get_style_context (widget);
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, NULL);
  gboolean dark = ats_widget_is_dark (widget);
  GdkRGBA  fg, white = { 1, 1, 1, 1 }, chip, tint, sel, sink;
  double   best = 0;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (context, &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS

  ensure_layout (self, gtk_widget_get_width (widget));

  for (guint i = 0; i < n_tokens (self); i++)
    {
      double w = ats_token_view_get_weight (self, i);

      if (!isnan (w) && w > best)
        best = w;
    }

  chip = (GdkRGBA){ fg.red, fg.green, fg.blue, dark ? 0.10f : 0.07f };
  ats_rgba_from_rgb (&sel, 0x1c71d8, 1.0f);
  ats_rgba_from_rgb (&sink, 0xc01c28, 1.0f);

  for (guint i = 0; i < self->rects->len; i++)
    {
      const graphene_rect_t *r = &g_array_index (self->rects, graphene_rect_t, i);
      double                 w = ats_token_view_get_weight (self, i);
      double                 t = (!isnan (w) && best > 0) ? CLAMP (w / best, 0.0, 1.0) : 0.0;
      const GdkRGBA         *text_color = &fg;

      ats_snapshot_rounded_rect (snapshot, r, 5.0f, &chip);
      if (t > 0)
        {
          ats_rgba_from_rgb (&tint, 0xe66100, (float) t);
          ats_snapshot_rounded_rect (snapshot, r, 5.0f, &tint);
          if (t > 0.55)
            text_color = &white;
        }
      if ((int) i == self->selected || (int) i == self->hover)
        {
          GskRoundedRect rr;
          float          bw = (int) i == self->selected ? 2.0f : 1.0f;
          float          bws[4] = { bw, bw, bw, bw };
          GdkRGBA        c = (int) i == self->selected ? sel : fg;
          GdkRGBA        cs[4] = { c, c, c, c };

          gsk_rounded_rect_init_from_rect (&rr, r, 5.0f);
          gtk_snapshot_append_border (snapshot, &rr, bws, cs);
        }
      if (ats_token_view_is_sink (self, i))
        {
          /* sink marker: a bar under the chip and a dot in its corner */
          gtk_snapshot_append_color (snapshot, &sink,
                                     &GRAPHENE_RECT_INIT (r->origin.x + 2,
                                                          r->origin.y + r->size.height + 1,
                                                          r->size.width - 4, 3));
          ats_snapshot_rounded_rect (
              snapshot,
              &GRAPHENE_RECT_INIT (r->origin.x + r->size.width - 7, r->origin.y + 2, 5, 5), 2.5f,
              &sink);
        }

      pango_layout_set_text (layout, self->display[i], -1);
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (
          snapshot, &GRAPHENE_POINT_INIT (r->origin.x + CHIP_PAD_X, r->origin.y + CHIP_PAD_Y));
      gtk_snapshot_append_layout (snapshot, layout, text_color);
      gtk_snapshot_restore (snapshot);
    }

  if (self->hover >= 0 && (guint) self->hover < self->rects->len)
    {
      const graphene_rect_t *r = &g_array_index (self->rects, graphene_rect_t, self->hover);
      double                 w = ats_token_view_get_weight (self, self->hover);
      g_autofree char       *text = NULL;

      if (isnan (w))
        text = g_strdup_printf ("#%d “%s”%s", self->hover, self->display[self->hover],
                                ats_token_view_is_sink (self, self->hover) ? "\nsink token" : "");
      else
        text = g_strdup_printf ("#%d “%s”\n%s %.4f%s", self->hover, self->display[self->hover],
                                self->mode == ATS_TOKEN_MODE_QUERY ? "receives" : "gives", w,
                                ats_token_view_is_sink (self, self->hover) ? "\nsink token" : "");
      ats_snapshot_callout (widget, snapshot, text, r->origin.x, r->origin.y + r->size.height,
                            gtk_widget_get_width (widget), gtk_widget_get_height (widget));
    }
}

static GtkSizeRequestMode
ats_token_view_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
ats_token_view_measure (GtkWidget     *widget,
                        GtkOrientation orientation,
                        int            for_size,
                        int           *minimum,
                        int           *natural,
                        int           *minimum_baseline,
                        int           *natural_baseline)
{
  AtsTokenView *self = ATS_TOKEN_VIEW (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 160;
      *natural = 600;
      return;
    }

  ensure_layout (self, for_size > 0 ? for_size : 600);
  *minimum = *natural = (int) ceil (self->layout_height);
}

static void
ats_token_view_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  ensure_layout (ATS_TOKEN_VIEW (widget), width);
}

static void
on_released (GtkGestureClick *gesture, int n_press, double x, double y, AtsTokenView *self)
{
  int token = ats_token_view_pixel_to_token (self, x, y);

  if (token >= 0)
    {
      ats_token_view_set_selected (self, token == self->selected ? -1 : token);
      g_signal_emit (self, signals[TOKEN_SELECTED], 0, self->selected);
    }
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, AtsTokenView *self)
{
  int token = ats_token_view_pixel_to_token (self, x, y);

  if (token != self->hover)
    {
      self->hover = token;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
on_leave (GtkEventControllerMotion *controller, AtsTokenView *self)
{
  self->hover = -1;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
ats_token_view_dispose (GObject *object)
{
  AtsTokenView *self = ATS_TOKEN_VIEW (object);

  g_clear_pointer (&self->pieces, g_strfreev);
  g_clear_pointer (&self->display, g_strfreev);
  g_clear_pointer (&self->matrix, ats_matrix_unref);
  g_clear_pointer (&self->sinks, g_free);
  g_clear_pointer (&self->rects, g_array_unref);

  G_OBJECT_CLASS (ats_token_view_parent_class)->dispose (object);
}

static void
ats_token_view_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  AtsTokenView *self = ATS_TOKEN_VIEW (object);

  switch (prop_id)
    {
    case PROP_MODE:
      g_value_set_uint (value, self->mode);
      break;
    case PROP_SELECTED:
      g_value_set_int (value, self->selected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ats_token_view_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  AtsTokenView *self = ATS_TOKEN_VIEW (object);

  switch (prop_id)
    {
    case PROP_MODE:
      ats_token_view_set_mode (self, g_value_get_uint (value));
      break;
    case PROP_SELECTED:
      ats_token_view_set_selected (self, g_value_get_int (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ats_token_view_class_init (AtsTokenViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ats_token_view_dispose;
  object_class->get_property = ats_token_view_get_property;
  object_class->set_property = ats_token_view_set_property;
  widget_class->snapshot = ats_token_view_snapshot;
  widget_class->measure = ats_token_view_measure;
  widget_class->get_request_mode = ats_token_view_get_request_mode;
  widget_class->size_allocate = ats_token_view_size_allocate;

  properties[PROP_MODE] =
      g_param_spec_uint ("mode", NULL, NULL, 0, ATS_TOKEN_MODE_KEY, ATS_TOKEN_MODE_QUERY,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SELECTED] =
      g_param_spec_int ("selected", NULL, NULL, -1, G_MAXINT, -1,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[TOKEN_SELECTED] =
      g_signal_new ("token-selected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, G_TYPE_INT);

  gtk_widget_class_set_css_name (widget_class, "tokenview");
}

static void
ats_token_view_init (AtsTokenView *self)
{
  GtkGesture         *click;
  GtkEventController *motion;

  self->selected = -1;
  self->hover = -1;
  self->layout_width = -1;
  self->rects = g_array_new (FALSE, FALSE, sizeof (graphene_rect_t));

  click = gtk_gesture_click_new ();
  g_signal_connect (click, "released", G_CALLBACK (on_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
}

GtkWidget *
ats_token_view_new (void)
{
  return g_object_new (ATS_TYPE_TOKEN_VIEW, NULL);
}

void
ats_token_view_set_tokens (AtsTokenView *self, const char *const *pieces)
{
  guint T;

  g_return_if_fail (ATS_IS_TOKEN_VIEW (self));

  g_clear_pointer (&self->pieces, g_strfreev);
  g_clear_pointer (&self->display, g_strfreev);
  self->pieces = g_strdupv ((char **) pieces);
  T = n_tokens (self);
  self->display = g_new0 (char *, T + 1);
  for (guint i = 0; i < T; i++)
    self->display[i] = ats_token_display (self->pieces[i], 40);

  self->hover = -1;
  if (self->selected >= (int) T)
    ats_token_view_set_selected (self, -1);
  invalidate_layout (self);
}

guint
ats_token_view_get_n_tokens (AtsTokenView *self)
{
  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), 0);

  return n_tokens (self);
}

void
ats_token_view_set_matrix (AtsTokenView *self, AtsMatrix *matrix)
{
  g_return_if_fail (ATS_IS_TOKEN_VIEW (self));

  if (matrix != NULL)
    ats_matrix_ref (matrix);
  g_clear_pointer (&self->matrix, ats_matrix_unref);
  self->matrix = matrix;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ats_token_view_set_sinks (AtsTokenView *self, const gboolean *sinks, guint n)
{
  g_return_if_fail (ATS_IS_TOKEN_VIEW (self));

  g_clear_pointer (&self->sinks, g_free);
  self->n_sinks = 0;
  if (sinks != NULL)
    {
      self->sinks = g_memdup2 (sinks, n * sizeof (gboolean));
      self->n_sinks = n;
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
ats_token_view_set_mode (AtsTokenView *self, AtsTokenMode mode)
{
  g_return_if_fail (ATS_IS_TOKEN_VIEW (self));

  if (self->mode == mode)
    return;
  self->mode = mode;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODE]);
}

AtsTokenMode
ats_token_view_get_mode (AtsTokenView *self)
{
  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), ATS_TOKEN_MODE_QUERY);

  return self->mode;
}

void
ats_token_view_set_selected (AtsTokenView *self, int token)
{
  g_return_if_fail (ATS_IS_TOKEN_VIEW (self));

  if (token >= (int) n_tokens (self))
    token = -1;
  if (self->selected == token)
    return;
  self->selected = token;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

int
ats_token_view_get_selected (AtsTokenView *self)
{
  g_return_val_if_fail (ATS_IS_TOKEN_VIEW (self), -1);

  return self->selected;
}
