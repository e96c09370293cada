/* ats-colormap.c — colormaps, value scales and the colorbar */
#include <math.h>
#include <string.h>

#include "attnscope/ats-error.h"
#include "ats-colormap.h"
#include "ats-colormap-tables.h"
#include "ats-render-private.h"

static const struct
{
  const char    *name;
  const guint32 *lut; /* [256] */
} colormaps[] = {
  [ATS_COLORMAP_VIRIDIS] = { "viridis", ats_lut_viridis },
  [ATS_COLORMAP_MAGMA] = { "magma", ats_lut_magma },
  [ATS_COLORMAP_CIVIDIS] = { "cividis", ats_lut_cividis },
  [ATS_COLORMAP_GREY] = { "grey", ats_lut_grey },
  [ATS_COLORMAP_RDBU] = { "rdbu", ats_lut_rdbu },
};

/**
 * ats_colormap_get_lut:
 * @cmap: a colormap
 *
 * Returns: (transfer none): the colormap's 256 colours as 0xRRGGBB, index 0 for t = 0.
 */
const guint32 *
ats_colormap_get_lut (AtsColormap cmap)
{
  g_return_val_if_fail ((guint) cmap < G_N_ELEMENTS (colormaps), ats_lut_viridis);
  return colormaps[cmap].lut;
}

/**
 * ats_colormap_lookup:
 * @cmap: a colormap
 * @t: position in [0, 1] (clamped)
 *
 * Returns: the colour 0xRRGGBB of entry round(t * 255) (no interpolation between entries).
 */
guint32
ats_colormap_lookup (AtsColormap cmap, double t)
{
  const guint32 *lut = ats_colormap_get_lut (cmap);

  if (!(t > 0.0))
    t = 0.0;
  if (t > 1.0)
    t = 1.0;
  return lut[(int) (t * 255.0 + 0.5)];
}

/**
 * ats_colormap_set_source:
 *
 * Sets the source of @cr to the colour of @cmap at @t.
 */
void
ats_colormap_set_source (AtsColormap cmap, double t, cairo_t *cr)
{
  _ats_set_rgb (cr, ats_colormap_lookup (cmap, t));
}

gboolean
ats_colormap_is_diverging (AtsColormap cmap)
{
  return cmap == ATS_COLORMAP_RDBU;
}

const char *
ats_colormap_to_string (AtsColormap cmap)
{
  g_return_val_if_fail ((guint) cmap < G_N_ELEMENTS (colormaps), NULL);
  return colormaps[cmap].name;
}

/**
 * ats_colormap_from_string:
 * @name: "viridis", "magma", "cividis", "grey" (or "gray"), "rdbu" (or "coolwarm",
 *   "diverging"); case-insensitive
 *
 * Returns: %TRUE and sets @out_cmap, or %FALSE with %ATS_RENDER_ERROR_INPUT naming @name.
 */
gboolean
ats_colormap_from_string (const char *name, AtsColormap *out_cmap, GError **error)
{
  g_return_val_if_fail (out_cmap != NULL, FALSE);

  if (name != NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (colormaps); i++)
        if (g_ascii_strcasecmp (name, colormaps[i].name) == 0)
          {
            *out_cmap = (AtsColormap) i;
            return TRUE;
          }
      if (g_ascii_strcasecmp (name, "gray") == 0)
        {
          *out_cmap = ATS_COLORMAP_GREY;
          return TRUE;
        }
      if (g_ascii_strcasecmp (name, "coolwarm") == 0 ||
          g_ascii_strcasecmp (name, "diverging") == 0 || g_ascii_strcasecmp (name, "rdbu_r") == 0)
        {
          *out_cmap = ATS_COLORMAP_RDBU;
          return TRUE;
        }
    }
  g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT,
               "Unknown colormap '%s' (expected viridis, magma, cividis, grey or rdbu)",
               name ? name : "(null)");
  return FALSE;
}

/**
 * ats_scale_init:
 *
 * Initialises @scale as @kind with an automatic range, gamma 0.5 and the default log floor.
 */
void
ats_scale_init (AtsScale *scale, AtsScaleKind kind)
{
  g_return_if_fail (scale != NULL);
  scale->kind = kind;
  scale->vmin = NAN;
  scale->vmax = NAN;
  scale->gamma = 0.5;
  scale->log_floor = 0.0;
}

gboolean
ats_scale_is_auto (const AtsScale *scale)
{
  return isnan (scale->vmin) || isnan (scale->vmax);
}

/**
 * ats_scale_resolve:
 * @data_min, @data_max: range of the finite data values
 * @symmetric: make the automatic range [-m, m] with m = max(|min|, |max|) (diverging maps)
 *
 * Fills an automatic (NaN) vmin / vmax from the data and makes the range non-empty.
 */
void
ats_scale_resolve (AtsScale *scale, double data_min, double data_max, gboolean symmetric)
{
  if (!isfinite (data_min) || !isfinite (data_max))
    {
      data_min = 0.0;
      data_max = 1.0;
    }
  if (symmetric)
    {
      double m = MAX (fabs (data_min), fabs (data_max));

      data_min = -m;
      data_max = m;
    }
  if (isnan (scale->vmin))
    scale->vmin = data_min;
  if (isnan (scale->vmax))
    scale->vmax = data_max;
  if (!(scale->vmax > scale->vmin))
    {
      if (scale->vmax == 0.0)
        scale->vmax = scale->vmin + 1.0;
      else
        {
          double c = scale->vmax;
          scale->vmin = MIN (c, scale->vmin) - fabs (c) * 0.5;
          scale->vmax = c + fabs (c) * 0.5;
        }
    }
  if (scale->kind == ATS_SCALE_LOG && !(scale->vmax > 0.0))
    scale->vmax = 1.0;
  if (!(scale->gamma > 0.0))
    scale->gamma = 0.5;
}

/**
 * ats_scale_get_floor:
 *
 * Returns: the lowest value a log scale distinguishes (values below take colour 0).
 */
double
ats_scale_get_floor (const AtsScale *scale)
{
  if (scale->log_floor > 0.0 && scale->log_floor < scale->vmax)
    return scale->log_floor;
  return scale->vmax * 1e-4;
}

/**
 * ats_scale_normalize:
 *
 * Returns: @v mapped to [0, 1] by @scale (see the header for the formulas), NaN for NaN.
 */
double
ats_scale_normalize (const AtsScale *scale, double v)
{
  double t;

  if (isnan (v))
    return NAN;

  switch (scale->kind)
    {
    case ATS_SCALE_LOG:
      {
        double lo = ats_scale_get_floor (scale);

        if (v <= lo)
          return 0.0;
        t = log (v / lo) / log (scale->vmax / lo);
        break;
      }
    case ATS_SCALE_POWER:
      t = (v - scale->vmin) / (scale->vmax - scale->vmin);
      if (t <= 0.0)
        return 0.0;
      t = pow (t, scale->gamma);
      break;
    case ATS_SCALE_LINEAR:
    default:
      t = (v - scale->vmin) / (scale->vmax - scale->vmin);
      break;
    }
  if (!(t > 0.0))
    return 0.0;
  return t > 1.0 ? 1.0 : t;
}

const char *
ats_scale_kind_to_string (AtsScaleKind kind)
{
  switch (kind)
    {
    case ATS_SCALE_LOG:
      return "log";
    case ATS_SCALE_POWER:
      return "power";
    case ATS_SCALE_LINEAR:
    default:
      return "linear";
    }
}

gboolean
ats_scale_kind_from_string (const char *name, AtsScaleKind *out_kind, GError **error)
{
  static const char *names[] = { "linear", "log", "power" };

  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (name, names[i]) == 0)
      {
        *out_kind = (AtsScaleKind) i;
        return TRUE;
      }
  if (name != NULL &&
      (g_ascii_strcasecmp (name, "gamma") == 0 || g_ascii_strcasecmp (name, "sqrt") == 0))
    {
      *out_kind = ATS_SCALE_POWER;
      return TRUE;
    }
  g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT,
               "Unknown scale '%s' (expected linear, log or power)", name ? name : "(null)");
  return FALSE;
}

/* ---- colorbar ---- */

#define MAX_TICKS 12

typedef struct
{
  guint  n;
  double value[MAX_TICKS + 2];
  char  *text[MAX_TICKS + 2];
} Ticks;

static void
ticks_clear (Ticks *ticks)
{
  for (guint i = 0; i < ticks->n; i++)
    g_free (ticks->text[i]);
  ticks->n = 0;
}

static void
colorbar_ticks (const AtsScale *scale, double height, double font_size, Ticks *ticks)
{
  guint  max_ticks = CLAMP ((guint) (height / (font_size * 2.6)), 2, 8);
  double step = 0.0;

  ticks->n = 0;
  if (scale->kind == ATS_SCALE_LOG)
    {
      double lo = ats_scale_get_floor (scale);

      ticks->n = _ats_log_ticks (lo, scale->vmax, max_ticks, ticks->value);
      if (ticks->n >= 2)
        {
          for (guint i = 0; i < ticks->n; i++)
            ticks->text[i] = _ats_format_log_tick (ticks->value[i]);
          return;
        }
      ticks->n = _ats_nice_ticks (lo, scale->vmax, max_ticks, FALSE, ticks->value, &step);
    }
  else
    ticks->n = _ats_nice_ticks (scale->vmin, scale->vmax, max_ticks, FALSE, ticks->value, &step);

  for (guint i = 0; i < ticks->n; i++)
    ticks->text[i] = _ats_format_tick (ticks->value[i], step);
}

/**
 * ats_colorbar_get_width:
 * @bar_width: width of the colour bar itself
 * @height: height the bar will have
 *
 * Returns: the total width ats_colorbar_draw() uses with these arguments (bar, ticks, tick
 *   labels and the rotated @label).
 */
double
ats_colorbar_get_width (cairo_t        *cr,
                        double          bar_width,
                        double          height,
                        const AtsScale *scale,
                        const char     *label,
                        double          font_size)
{
  Ticks  ticks;
  double w = 0.0;

  cairo_save (cr);
  _ats_set_font (cr, font_size, FALSE);
  colorbar_ticks (scale, height, font_size, &ticks);
  for (guint i = 0; i < ticks.n; i++)
    w = MAX (w, _ats_text_width (cr, ticks.text[i]));
  ticks_clear (&ticks);
  cairo_restore (cr);

  w += bar_width + font_size * 0.8;
  if (label != NULL && *label != '\0')
    w += font_size * 1.6;
  return w;
}

/**
 * ats_colorbar_draw:
 * @x, @y, @width, @height: the bar itself (t = 1 at the top, t = 0 at the bottom); ticks and
 *   labels go to its right (see ats_colorbar_get_width())
 * @scale: a resolved scale (no NaN range)
 * @label: (nullable): drawn rotated along the right side
 *
 * The bar is a 1 x 256 image of the colormap drawn with nearest-neighbour filtering, so its
 * top and bottom pixels are exactly the colormap's last and first colour.
 */
void
ats_colorbar_draw (cairo_t        *cr,
                   double          x,
                   double          y,
                   double          width,
                   double          height,
                   AtsColormap     cmap,
                   const AtsScale *scale,
                   const char     *label,
                   double          font_size)
{
  const guint32   *lut = ats_colormap_get_lut (cmap);
  cairo_surface_t *img;
  cairo_pattern_t *pat;
  cairo_matrix_t   m;
  guint32         *px;
  int              stride;
  Ticks            ticks;
  double           tick_len = font_size * 0.35, label_w = 0.0;

  g_return_if_fail (!ats_scale_is_auto (scale));

  img = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 1, ATS_COLORMAP_LUT_SIZE);
  cairo_surface_flush (img);
  px = (guint32 *) cairo_image_surface_get_data (img);
  stride = cairo_image_surface_get_stride (img) / 4;
  for (int i = 0; i < ATS_COLORMAP_LUT_SIZE; i++)
    px[i * stride] = 0xff000000 | lut[ATS_COLORMAP_LUT_SIZE - 1 - i];
  cairo_surface_mark_dirty (img);

  cairo_save (cr);
  pat = cairo_pattern_create_for_surface (img);
  cairo_pattern_set_filter (pat, CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend (pat, CAIRO_EXTEND_PAD);
  cairo_matrix_init_scale (&m, 1.0 / width, ATS_COLORMAP_LUT_SIZE / height);
  cairo_matrix_translate (&m, -x, -y);
  cairo_pattern_set_matrix (pat, &m);
  cairo_set_source (cr, pat);
  cairo_rectangle (cr, x, y, width, height);
  cairo_fill (cr);
  cairo_pattern_destroy (pat);
  cairo_surface_destroy (img);

  /* frame, outside the bar so that the end colours stay exact */
  {
    double lw = MAX (0.5, font_size * 0.06);

    _ats_set_rgb (cr, _ATS_AXIS_RGB);
    cairo_set_line_width (cr, lw);
    cairo_rectangle (cr, x - lw * 0.6, y - lw * 0.6, width + lw * 1.2, height + lw * 1.2);
    cairo_stroke (cr);
  }

  /* ticks */
  _ats_set_font (cr, font_size, FALSE);
  colorbar_ticks (scale, height, font_size, &ticks);
  for (guint i = 0; i < ticks.n; i++)
    {
      double t = ats_scale_normalize (scale, ticks.value[i]);
      double ty = y + height * (1.0 - t);

      _ats_set_rgb (cr, _ATS_AXIS_RGB);
      cairo_move_to (cr, x + width, ty);
      cairo_line_to (cr, x + width + tick_len, ty);
      cairo_stroke (cr);
      _ats_set_rgb (cr, _ATS_TEXT_RGB);
      _ats_draw_text (cr, ticks.text[i], x + width + tick_len + font_size * 0.3, ty,
                      _ATS_ALIGN_START, _ATS_ALIGN_CENTER, 0.0);
      label_w = MAX (label_w, _ats_text_width (cr, ticks.text[i]));
    }
  ticks_clear (&ticks);

  if (label != NULL && *label != '\0')
    {
      g_autofree char *fit = _ats_text_fit (cr, label, height);

      _ats_set_rgb (cr, _ATS_TEXT_RGB);
      _ats_draw_text (cr, fit, x + width + font_size * 0.8 + label_w + font_size * 0.4,
                      y + height / 2.0, _ATS_ALIGN_CENTER, _ATS_ALIGN_START, -G_PI / 2.0);
    }
  cairo_restore (cr);
}
