/* ats-gui-util.c */
#include "ats-gui-util.h"

char *
ats_token_display (const char *piece, guint max_chars)
{
  GString *s = g_string_new (NULL);
  guint    n = 0;

  if (piece == NULL)
    return g_string_free (s, FALSE);

  for (const char *p = piece; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (max_chars > 0 && n >= max_chars)
        {
          g_string_append (s, "…");
          break;
        }

      if (c == ' ')
        g_string_append (s, "␣");
      else if (c == '\n')
        g_string_append (s, "↵");
      else if (c == '\t')
        g_string_append (s, "⇥");
      else if (c == '\r')
        g_string_append (s, "␍");
      else if (g_unichar_iscntrl (c))
        g_string_append_printf (s, "\\x%02x", (guint) c);
      else
        g_string_append_unichar (s, c);
      n++;
    }

  return g_string_free (s, FALSE);
}

void
ats_snapshot_rounded_rect (GtkSnapshot           *snapshot,
                           const graphene_rect_t *rect,
                           float                  radius,
                           const GdkRGBA         *color)
{
  GskRoundedRect rr;

  gsk_rounded_rect_init_from_rect (&rr, rect, radius);
  gtk_snapshot_push_rounded_clip (snapshot, &rr);
  gtk_snapshot_append_color (snapshot, color, rect);
  gtk_snapshot_pop (snapshot);
}

void
ats_snapshot_callout (GtkWidget   *widget,
                      GtkSnapshot *snapshot,
                      const char  *text,
                      double       x,
                      double       y,
                      double       width,
                      double       height)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, text);
  GdkRGBA     bg = { 0.12f, 0.12f, 0.14f, 0.92f };
  GdkRGBA     fg = { 1.0f, 1.0f, 1.0f, 1.0f };
  const float pad = 6.0f;
  int         tw, th;
  float       bw, bh, bx, by;

  pango_layout_get_pixel_size (layout, &tw, &th);
  bw = tw + 2 * pad;
  bh = th + 2 * pad;
  bx = x + 16;
  by = y + 16;
  if (bx + bw > width)
    bx = x - 12 - bw;
  if (by + bh > height)
    by = y - 12 - bh;
  bx = CLAMP (bx, 0, MAX (0, width - bw));
  by = CLAMP (by, 0, MAX (0, height - bh));

  ats_snapshot_rounded_rect (snapshot, &GRAPHENE_RECT_INIT (bx, by, bw, bh), 5.0f, &bg);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (bx + pad, by + pad));
  gtk_snapshot_append_layout (snapshot, layout, &fg);
  gtk_snapshot_restore (snapshot);
}

void
ats_rgba_from_rgb (GdkRGBA *rgba, guint32 rgb, float alpha)
{
  rgba->red = ((rgb >> 16) & 0xff) / 255.0f;
  rgba->green = ((rgb >> 8) & 0xff) / 255.0f;
  rgba->blue = (rgb & 0xff) / 255.0f;
  rgba->alpha = alpha;
}

gboolean
ats_widget_is_dark (GtkWidget *widget)
{
  GtkStyleContext *context = gtk_widget_get_style_context (widget);
  GdkRGBA          fg;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (context, &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS

  return (fg.red + fg.green + fg.blue) / 3.0f > 0.5f;
}

char *
ats_demo_model_path (const char *name)
{
  const char *const dirs[] = { ATS_DEMO_MODELS_DIR, ATS_SOURCE_MODELS_DIR };

  g_return_val_if_fail (name != NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *config = g_build_filename (dirs[i], name, "config.json", NULL);

      if (g_file_test (config, G_FILE_TEST_IS_REGULAR))
        return g_build_filename (dirs[i], name, NULL);
    }
  return NULL;
}
