/* ats-render-util.c — text, ticks and layout helpers of libattnscope-render */
#include <math.h>
#include <string.h>

#include "ats-render-private.h"

void
_ats_set_rgb (cairo_t *cr, guint32 rgb)
{
  cairo_set_source_rgb (cr, ((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0,
                        (rgb & 0xff) / 255.0);
}

void
_ats_set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, _ATS_FONT, CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

double
_ats_text_width (cairo_t *cr, const char *text)
{
  cairo_text_extents_t ext;

  if (text == NULL || *text == '\0')
    return 0.0;
  cairo_text_extents (cr, text, &ext);
  return ext.x_advance;
}

/* Draws @text with its anchor at (x, y); the alignments are those of the text's own frame
 * (before rotation by @angle, in radians). Vertical alignment uses the font's ascent and
 * descent so that labels of one row share a baseline. */
void
_ats_draw_text (cairo_t    *cr,
                const char *text,
                double      x,
                double      y,
                _AtsAlign   halign,
                _AtsAlign   valign,
                double      angle)
{
  cairo_font_extents_t fext;
  double               w, dx = 0.0, dy = 0.0;

  if (text == NULL || *text == '\0')
    return;

  cairo_font_extents (cr, &fext);
  w = _ats_text_width (cr, text);

  if (halign == _ATS_ALIGN_CENTER)
    dx = -w / 2.0;
  else if (halign == _ATS_ALIGN_END)
    dx = -w;

  if (valign == _ATS_ALIGN_START)
    dy = fext.ascent;
  else if (valign == _ATS_ALIGN_CENTER)
    dy = (fext.ascent - fext.descent) / 2.0;
  else
    dy = -fext.descent;

  cairo_save (cr);
  cairo_translate (cr, x, y);
  if (angle != 0.0)
    cairo_rotate (cr, angle);
  cairo_move_to (cr, dx, dy);
  cairo_show_text (cr, text);
  cairo_new_path (cr);
  cairo_restore (cr);
}

/* Returns @text, or its longest prefix ending in "…" that is at most @max_width wide. */
char *
_ats_text_fit (cairo_t *cr, const char *text, double max_width)
{
  glong n;

  if (text == NULL)
    return g_strdup ("");
  if (_ats_text_width (cr, text) <= max_width)
    return g_strdup (text);

  n = g_utf8_strlen (text, -1);
  while (n > 0)
    {
      const char      *end = g_utf8_offset_to_pointer (text, --n);
      g_autofree char *cand = g_strdup_printf ("%.*s…", (int) (end - text), text);

      if (_ats_text_width (cr, cand) <= max_width)
        return g_steal_pointer (&cand);
    }
  return g_strdup ("");
}

/* A token piece made printable: newline -> ↵, tab -> →, other controls -> ·,
 * at most @max_chars characters (longer ones end in …). */
char *
_ats_label_sanitize (const char *label, guint max_chars)
{
  g_autofree char *valid = NULL;
  GString         *out;
  const char      *p;
  guint            n = 0;

  if (label == NULL)
    return g_strdup ("");

  valid = g_utf8_make_valid (label, -1);
  out = g_string_new (NULL);
  for (p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (n == max_chars)
        {
          g_string_append (out, "…");
          break;
        }
      if (c == '\n')
        g_string_append (out, "↵");
      else if (c == '\t')
        g_string_append (out, "→");
      else if (g_unichar_iscntrl (c))
        g_string_append (out, "·");
      else
        g_string_append_unichar (out, c);
      n++;
    }
  return g_string_free (out, FALSE);
}

/* Draws the bold centred title whose top is at @top; returns the y below it. */
double
_ats_draw_title (cairo_t *cr, const char *title, double width, double top, double font_size)
{
  g_autofree char *fit = NULL;

  if (title == NULL || *title == '\0')
    return top;

  _ats_set_font (cr, font_size, TRUE);
  _ats_set_rgb (cr, _ATS_TEXT_RGB);
  fit = _ats_text_fit (cr, title, width * 0.96);
  _ats_draw_text (cr, fit, width / 2.0, top, _ATS_ALIGN_CENTER, _ATS_ALIGN_START, 0.0);
  return top + font_size * 1.5;
}

static guint
count_lines (const char *text)
{
  guint n = 1;

  for (const char *p = text; *p != '\0'; p++)
    if (*p == '\n')
      n++;
  return n;
}

double
_ats_footer_height (const char *footer, double font_size)
{
  if (footer == NULL || *footer == '\0')
    return 0.0;
  return count_lines (footer) * font_size * 1.3 + font_size * 0.4;
}

/* Draws the provenance footer (lines separated by '\n') at the bottom, left-aligned. */
void
_ats_draw_footer (cairo_t    *cr,
                  const char *footer,
                  double      width,
                  double      height,
                  double      margin,
                  double      font_size)
{
  g_auto (GStrv) lines = NULL;
  guint  n;
  double y;

  if (footer == NULL || *footer == '\0')
    return;

  lines = g_strsplit (footer, "\n", -1);
  n = g_strv_length (lines);
  _ats_set_font (cr, font_size, FALSE);
  _ats_set_rgb (cr, _ATS_MUTED_RGB);
  y = height - margin - n * font_size * 1.3;
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *fit = _ats_text_fit (cr, lines[i], width - 2.0 * margin);

      _ats_draw_text (cr, fit, margin, y + i * font_size * 1.3, _ATS_ALIGN_START, _ATS_ALIGN_START,
                      0.0);
    }
}

/* The base font size of a figure of @width x @height user units. */
double
_ats_base_font_size (double width, double height)
{
  return CLAMP (sqrt (width * height) / 52.0, 10.0, 26.0);
}

guint
_ats_nice_ticks (double   lo,
                 double   hi,
                 guint    max_ticks,
                 gboolean integer_only,
                 double  *ticks,
                 double  *out_step)
{
  static const double mult[] = { 1.0, 2.0, 2.5, 5.0, 10.0 };
  double              range, raw, mag, step = 0.0, first;
  guint               n = 0;

  if (!isfinite (lo) || !isfinite (hi) || max_ticks < 2)
    return 0;
  if (hi < lo)
    {
      double t = lo;
      lo = hi;
      hi = t;
    }
  range = hi - lo;
  if (range <= 0.0)
    {
      ticks[0] = lo;
      if (out_step)
        *out_step = fabs (lo) > 0 ? fabs (lo) : 1.0;
      return 1;
    }

  raw = range / (max_ticks - 1);
  mag = pow (10.0, floor (log10 (raw)));
  for (guint i = 0; i < G_N_ELEMENTS (mult); i++)
    {
      step = mult[i] * mag;
      if (integer_only && mult[i] == 2.5 && mag < 1.0)
        continue;
      if (step >= raw * (1.0 - 1e-9))
        break;
    }
  if (integer_only)
    step = MAX (1.0, round (step));

  first = ceil (lo / step - 1e-9) * step;
  for (double v = first; v <= hi + step * 1e-9 && n < max_ticks + 1; v += step)
    ticks[n++] = fabs (v) < step * 1e-9 ? 0.0 : v;
  if (out_step)
    *out_step = step;
  return n;
}

guint
_ats_log_ticks (double lo, double hi, guint max_ticks, double *ticks)
{
  int   k0, k1, every;
  guint n = 0;

  if (!(lo > 0.0) || !(hi > lo))
    return 0;
  k0 = (int) ceil (log10 (lo) - 1e-9);
  k1 = (int) floor (log10 (hi) + 1e-9);
  if (k1 < k0)
    return 0;
  every = (k1 - k0) / (int) MAX (1, max_ticks - 1) + 1;
  for (int k = k0; k <= k1 && n < max_ticks + 1; k += every)
    ticks[n++] = pow (10.0, k);
  return n;
}

char *
_ats_format_tick (double v, double step)
{
  int decimals = 0;

  if (v == 0.0)
    return g_strdup ("0");
  if (fabs (v) >= 1e5 || (step > 0 && step < 1e-4))
    return g_strdup_printf ("%.2g", v);

  if (step > 0)
    {
      while (decimals < 6)
        {
          double s = step * pow (10.0, decimals);

          if (fabs (s - round (s)) < 1e-6 * MAX (1.0, s))
            break;
          decimals++;
        }
    }
  else
    decimals = 3;
  return g_strdup_printf ("%.*f", decimals, v);
}

char *
_ats_format_log_tick (double v)
{
  double k = log10 (v);

  if (fabs (k - round (k)) < 1e-9)
    {
      int ik = (int) round (k);

      if (ik >= -2 && ik <= 3)
        return _ats_format_tick (v, pow (10.0, MIN (ik, 0)));
      return g_strdup_printf ("1e%d", ik);
    }
  return g_strdup_printf ("%g", v);
}

/* Pixel p of n_out covers the inputs i with floor(i * n_out / n_in) == p: every input lands in
 * exactly one output and every output gets floor or ceil of n_in / n_out inputs. */
void
_ats_pool_index_map (int n_in, int n_out, int *map /* [n_in] */)
{
  for (int i = 0; i < n_in; i++)
    map[i] = (int) (((gint64) i * n_out) / n_in);
}

/* Device pixels per user unit for images drawn through @cr. Raster targets get exactly their
 * device resolution; vector and recording targets (PDF, SVG, the GUI's render nodes) get twice
 * it, so an embedded heatmap stays sharp when zoomed a little. */
double
_ats_image_scale_for (cairo_t *cr)
{
  double           dx = 1.0, dy = 0.0, s;
  cairo_surface_t *target = cairo_get_target (cr);

  cairo_user_to_device_distance (cr, &dx, &dy);
  s = sqrt (dx * dx + dy * dy);
  if (s <= 0.0 || !isfinite (s))
    s = 1.0;
  if (cairo_surface_get_type (target) != CAIRO_SURFACE_TYPE_IMAGE)
    s *= 2.0;
  return s;
}
