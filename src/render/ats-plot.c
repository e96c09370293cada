/* ats-plot.c — line / bar plots and labelled heat matrices */
#include <math.h>
#include <string.h>

#include "ats-heatmap.h"
#include "ats-plot.h"
#include "ats-render-private.h"

#define GRID_RGB 0xe6e6e6
#define MAX_AXIS_TICKS 16

typedef struct
{
  char   *name;
  double *x;   /* [n] */
  double *y;   /* [n] */
  double *err; /* [n] or NULL */
  guint   n;
} Series;

struct _AtsPlot
{
  AtsPlotKind kind;
  char       *title;
  char       *footer;
  char       *x_label;
  char       *y_label;
  gboolean    log_x;
  gboolean    log_y;
  gboolean    x_integer;
  double      x_min, x_max; /* NaN = automatic */
  double      y_min, y_max;
  GPtrArray  *categories; /* of char* */
  GPtrArray  *series;     /* of Series* */
};

/* Okabe & Ito's colour-blind-safe qualitative palette (yellow last: weak on white). */
static const guint32 palette[] = {
  0x0072b2, 0xd55e00, 0x009e73, 0xcc79a7, 0xe69f00, 0x56b4e9, 0x000000, 0xf0e442,
};

static void
series_free (gpointer data)
{
  Series *s = data;

  g_free (s->name);
  g_free (s->x);
  g_free (s->y);
  g_free (s->err);
  g_free (s);
}

/**
 * ats_plot_new:
 * @kind: lines (x/y) or bars (grouped bars over categories 0..n-1)
 *
 * Returns: (transfer full): an empty plot; free with ats_plot_free()
 */
AtsPlot *
ats_plot_new (AtsPlotKind kind)
{
  AtsPlot *plot = g_new0 (AtsPlot, 1);

  plot->kind = kind;
  plot->x_min = plot->x_max = NAN;
  plot->y_min = plot->y_max = NAN;
  plot->categories = g_ptr_array_new_with_free_func (g_free);
  plot->series = g_ptr_array_new_with_free_func (series_free);
  return plot;
}

/**
 * ats_plot_new_per_layer:
 *
 * Returns: (transfer full): a line plot with x = "layer" on integer ticks
 */
AtsPlot *
ats_plot_new_per_layer (const char *title, const char *y_label)
{
  AtsPlot *plot = ats_plot_new (ATS_PLOT_LINES);

  ats_plot_set_title (plot, title);
  ats_plot_set_x_label (plot, "layer");
  ats_plot_set_y_label (plot, y_label);
  plot->x_integer = TRUE;
  return plot;
}

void
ats_plot_free (AtsPlot *plot)
{
  if (plot == NULL)
    return;
  g_free (plot->title);
  g_free (plot->footer);
  g_free (plot->x_label);
  g_free (plot->y_label);
  g_ptr_array_unref (plot->categories);
  g_ptr_array_unref (plot->series);
  g_free (plot);
}

#define SETTER_STR(field)                                                                          \
  void ats_plot_set_##field (AtsPlot *plot, const char *value)                                     \
  {                                                                                                \
    g_return_if_fail (plot != NULL);                                                               \
    g_free (plot->field);                                                                          \
    plot->field = g_strdup (value);                                                                \
  }

SETTER_STR (title)
SETTER_STR (footer)
SETTER_STR (x_label)
SETTER_STR (y_label)
#undef SETTER_STR

void
ats_plot_set_log_x (AtsPlot *plot, gboolean log_x)
{
  plot->log_x = log_x;
}

void
ats_plot_set_log_y (AtsPlot *plot, gboolean log_y)
{
  plot->log_y = log_y;
}

/**
 * ats_plot_set_x_integer:
 *
 * Puts x ticks on integers only (layers, heads).
 */
void
ats_plot_set_x_integer (AtsPlot *plot, gboolean integer)
{
  plot->x_integer = integer;
}

/**
 * ats_plot_set_x_range:
 *
 * Fixes the x range; NaN for either end keeps it automatic.
 */
void
ats_plot_set_x_range (AtsPlot *plot, double x_min, double x_max)
{
  plot->x_min = x_min;
  plot->x_max = x_max;
}

void
ats_plot_set_y_range (AtsPlot *plot, double y_min, double y_max)
{
  plot->y_min = y_min;
  plot->y_max = y_max;
}

/**
 * ats_plot_set_categories:
 * @labels: [n_labels] x labels of a bar plot (copied)
 */
void
ats_plot_set_categories (AtsPlot *plot, const char *const *labels, guint n_labels)
{
  g_ptr_array_set_size (plot->categories, 0);
  for (guint i = 0; i < n_labels; i++)
    g_ptr_array_add (plot->categories, g_strdup (labels[i]));
}

/**
 * ats_plot_add_series:
 * @name: (nullable): legend entry
 * @x: (nullable): [n] x values, or %NULL for 0 .. n-1 (bar plots ignore x)
 * @y: [n] values; NaN leaves a gap
 *
 * Copies the data.
 *
 * Returns: the series index
 */
guint
ats_plot_add_series (AtsPlot *plot, const char *name, const double *x, const double *y, guint n)
{
  Series *s = g_new0 (Series, 1);

  s->name = g_strdup (name);
  s->n = n;
  s->x = g_new (double, MAX (n, 1));
  s->y = g_new (double, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      s->x[i] = x != NULL ? x[i] : (double) i;
      s->y[i] = y[i];
    }
  g_ptr_array_add (plot->series, s);
  return plot->series->len - 1;
}

/**
 * ats_plot_add_series_float:
 *
 * As ats_plot_add_series() for float arrays (the diagnostics' type).
 */
guint
ats_plot_add_series_float (AtsPlot *plot, const char *name, const float *x, const float *y, guint n)
{
  g_autofree double *dx = x ? g_new (double, MAX (n, 1)) : NULL; /* [n] */
  g_autofree double *dy = g_new (double, MAX (n, 1));            /* [n] */

  for (guint i = 0; i < n; i++)
    {
      if (dx)
        dx[i] = x[i];
      dy[i] = y[i];
    }
  return ats_plot_add_series (plot, name, dx, dy, n);
}

/**
 * ats_plot_set_series_error:
 * @err: [n] half-widths (e.g. the std over runs), copied; drawn as a band (lines) or whiskers
 *   (bars)
 */
void
ats_plot_set_series_error (AtsPlot *plot, guint series, const double *err)
{
  Series *s;

  g_return_if_fail (series < plot->series->len);
  s = g_ptr_array_index (plot->series, series);
  g_free (s->err);
  s->err = err ? g_memdup2 (err, sizeof (double) * MAX (s->n, 1)) : NULL;
}

guint
ats_plot_get_n_series (AtsPlot *plot)
{
  return plot->series->len;
}

/**
 * ats_plot_get_series_color:
 *
 * Returns: the colour 0xRRGGBB series number @series is drawn in
 */
guint32
ats_plot_get_series_color (guint series)
{
  return palette[series % G_N_ELEMENTS (palette)];
}

/* ---- axes ---- */

typedef struct
{
  double   lo, hi; /* data range shown */
  gboolean log;
  double   pos0, pos1; /* device range (user units) */
  guint    n;
  double   ticks[MAX_AXIS_TICKS + 2];
  char    *text[MAX_AXIS_TICKS + 2];
} Axis;

static double
axis_map (const Axis *a, double v)
{
  double t = a->log ? (log10 (v) - log10 (a->lo)) / (log10 (a->hi) - log10 (a->lo))
                    : (v - a->lo) / (a->hi - a->lo);

  return a->pos0 + t * (a->pos1 - a->pos0);
}

static void
axis_clear (Axis *a)
{
  for (guint i = 0; i < a->n; i++)
    g_clear_pointer (&a->text[i], g_free);
  a->n = 0;
}

static void
axis_make_ticks (Axis *a, guint max_ticks, gboolean integer)
{
  double step = 0.0;

  axis_clear (a);
  if (a->log)
    {
      a->n = _ats_log_ticks (a->lo, a->hi, max_ticks, a->ticks);
      if (a->n >= 2)
        {
          for (guint i = 0; i < a->n; i++)
            a->text[i] = _ats_format_log_tick (a->ticks[i]);
          return;
        }
    }
  a->n = _ats_nice_ticks (a->lo, a->hi, MIN (max_ticks, MAX_AXIS_TICKS), integer, a->ticks, &step);
  for (guint i = 0; i < a->n; i++)
    a->text[i] = _ats_format_tick (a->ticks[i], step);
}

/* Sets lo/hi from the data (padded by 5 %, log: by a factor), keeping fixed ends. */
static void
axis_range (Axis    *a,
            double   dmin,
            double   dmax,
            double   fixed_min,
            double   fixed_max,
            gboolean pad,
            gboolean include_zero)
{
  if (!isfinite (dmin) || !isfinite (dmax))
    {
      dmin = a->log ? 0.1 : 0.0;
      dmax = a->log ? 10.0 : 1.0;
    }
  if (include_zero && !a->log)
    {
      dmin = MIN (dmin, 0.0);
      dmax = MAX (dmax, 0.0);
    }
  if (dmax <= dmin)
    {
      if (a->log)
        {
          dmin /= 2.0;
          dmax *= 2.0;
        }
      else
        {
          double d = fabs (dmin) > 0 ? fabs (dmin) * 0.5 : 0.5;
          dmin -= d;
          dmax += d;
        }
    }
  else if (pad)
    {
      if (a->log)
        {
          double f = pow (dmax / dmin, 0.05);
          dmin /= f;
          dmax *= f;
        }
      else
        {
          double d = (dmax - dmin) * 0.05;

          if (!(include_zero && dmin == 0.0))
            dmin -= d;
          if (!(include_zero && dmax == 0.0))
            dmax += d;
        }
    }
  a->lo = isfinite (fixed_min) ? fixed_min : dmin;
  a->hi = isfinite (fixed_max) ? fixed_max : dmax;
  if (a->log && !(a->lo > 0.0))
    a->lo = a->hi > 0 ? a->hi * 1e-3 : 1e-3;
  if (!(a->hi > a->lo))
    a->hi = a->log ? a->lo * 10.0 : a->lo + 1.0;
}

static void
draw_marker (cairo_t *cr, guint kind, double x, double y, double r)
{
  switch (kind % 5)
    {
    case 0:
      cairo_new_sub_path (cr);
      cairo_arc (cr, x, y, r, 0, 2 * G_PI);
      break;
    case 1:
      cairo_rectangle (cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
      break;
    case 2:
      cairo_move_to (cr, x, y - r * 1.1);
      cairo_line_to (cr, x + r, y + r * 0.7);
      cairo_line_to (cr, x - r, y + r * 0.7);
      cairo_close_path (cr);
      break;
    case 3:
      cairo_move_to (cr, x, y - r * 1.2);
      cairo_line_to (cr, x + r, y);
      cairo_line_to (cr, x, y + r * 1.2);
      cairo_line_to (cr, x - r, y);
      cairo_close_path (cr);
      break;
    default:
      cairo_move_to (cr, x, y + r * 1.1);
      cairo_line_to (cr, x + r, y - r * 0.7);
      cairo_line_to (cr, x - r, y - r * 0.7);
      cairo_close_path (cr);
      break;
    }
  cairo_fill (cr);
}

static gboolean
usable (const AtsPlot *plot, double x, double y)
{
  if (!isfinite (y) || (plot->kind == ATS_PLOT_LINES && !isfinite (x)))
    return FALSE;
  if (plot->log_x && plot->kind == ATS_PLOT_LINES && !(x > 0.0))
    return FALSE;
  if (plot->log_y && !(y > 0.0))
    return FALSE;
  return TRUE;
}

/**
 * ats_plot_draw:
 *
 * Draws the plot into (0, 0, @width, @height): title, left and bottom axes with ticks and
 * light grid lines, the series (lines with markers and error bands, or grouped bars with
 * whiskers), a legend on the right when a series has a name, footer.
 */
void
ats_plot_draw (AtsPlot *plot, cairo_t *cr, double W, double H)
{
  Axis     ax = { 0 }, ay = { 0 };
  double   fs, margin, title_bottom, footer_h, tick_len, tick_fs, legend_w = 0.0, ylab_w = 0.0;
  double   name_w = 0.0; /* widest legend name as drawn (kept apart: w + a - a may lose an ulp) */
  double   xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  double   px, py, pw, ph, line_w, xlab_h;
  guint    n_cat = plot->categories->len, n_series = plot->series->len;
  gboolean has_names = FALSE, rotate_cats = FALSE;
  gboolean bars = plot->kind == ATS_PLOT_BARS;

  g_return_if_fail (plot != NULL && cr != NULL);

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, W, H);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);

  fs = _ats_base_font_size (W, H);
  margin = fs * 0.9;
  tick_len = fs * 0.35;
  tick_fs = fs * 0.8;
  line_w = MAX (0.75, fs * 0.14);
  title_bottom = (plot->title && *plot->title) ? margin + fs * 1.15 * 1.5 + fs * 0.2 : margin;
  footer_h = _ats_footer_height (plot->footer, fs * 0.72);

  /* data ranges */
  for (guint k = 0; k < n_series; k++)
    {
      Series *s = g_ptr_array_index (plot->series, k);

      if (s->name && *s->name)
        has_names = TRUE;
      n_cat = MAX (n_cat, s->n);
      for (guint i = 0; i < s->n; i++)
        {
          double e = s->err && isfinite (s->err[i]) ? fabs (s->err[i]) : 0.0;

          if (!usable (plot, s->x[i], s->y[i]))
            continue;
          xmin = MIN (xmin, s->x[i]);
          xmax = MAX (xmax, s->x[i]);
          ymin = MIN (ymin, (plot->log_y && s->y[i] - e <= 0) ? s->y[i] : s->y[i] - e);
          ymax = MAX (ymax, s->y[i] + e);
        }
    }

  ax.log = plot->log_x && !bars;
  ay.log = plot->log_y;
  if (bars)
    {
      ax.lo = -0.5;
      ax.hi = MAX (1, n_cat) - 0.5;
    }
  else
    {
      axis_range (&ax, xmin, xmax, plot->x_min, plot->x_max, FALSE, FALSE);
      /* a little room so that end markers are not cut by the frame */
      if (!isfinite (plot->x_min) && !isfinite (plot->x_max))
        {
          if (ax.log)
            {
              double f = pow (ax.hi / ax.lo, 0.02);
              ax.lo /= f;
              ax.hi *= f;
            }
          else
            {
              double d = (ax.hi - ax.lo) * 0.02;
              ax.lo -= d;
              ax.hi += d;
            }
        }
    }
  axis_range (&ay, ymin, ymax, plot->y_min, plot->y_max, TRUE, bars);

  /* legend width */
  _ats_set_font (cr, fs * 0.8, FALSE);
  if (has_names)
    {
      for (guint k = 0; k < n_series; k++)
        {
          Series *s = g_ptr_array_index (plot->series, k);

          legend_w = MAX (legend_w, _ats_text_width (cr, s->name ? s->name : ""));
        }
      name_w = MIN (legend_w, W * 0.3);
      legend_w = name_w + fs * 2.8;
    }

  /* y ticks decide the left margin */
  ph = H - title_bottom - footer_h - margin - fs * 3.2;
  axis_make_ticks (&ay, CLAMP ((guint) (ph / (fs * 2.2)), 2, 10), FALSE);
  _ats_set_font (cr, tick_fs, FALSE);
  for (guint i = 0; i < ay.n; i++)
    ylab_w = MAX (ylab_w, _ats_text_width (cr, ay.text[i]));

  px = margin + fs * 1.6 + ylab_w + tick_len + fs * 0.3;
  pw = W - px - margin - legend_w - (has_names ? fs * 0.8 : 0.0);
  pw = MAX (pw, 10.0);

  /* bar categories: rotate labels when they do not fit side by side */
  xlab_h = tick_fs * 1.3;
  if (bars && n_cat > 0)
    {
      double widest = 0.0;

      for (guint i = 0; i < n_cat; i++)
        {
          g_autofree char *t =
              i < plot->categories->len
                  ? _ats_label_sanitize (g_ptr_array_index (plot->categories, i), 16)
                  : g_strdup_printf ("%u", i);

          widest = MAX (widest, _ats_text_width (cr, t));
        }
      if (widest > pw / n_cat * 0.9)
        {
          rotate_cats = TRUE;
          xlab_h = MIN (widest, H * 0.25) + tick_fs * 0.3;
        }
    }

  py = title_bottom + fs * 0.3;
  ph = H - py - footer_h - margin - tick_len - xlab_h - fs * 1.8;
  ph = MAX (ph, 10.0);
  ax.pos0 = px;
  ax.pos1 = px + pw;
  ay.pos0 = py + ph;
  ay.pos1 = py;
  if (!bars)
    axis_make_ticks (&ax, CLAMP ((guint) (pw / (fs * 4.5)), 2, 12), plot->x_integer);

  _ats_draw_title (cr, plot->title, W, margin, fs * 1.15);

  /* grid lines */
  cairo_set_line_width (cr, MAX (0.5, fs * 0.06));
  _ats_set_rgb (cr, GRID_RGB);
  for (guint i = 0; i < ay.n; i++)
    {
      double y = axis_map (&ay, ay.ticks[i]);

      if (y < py - 0.5 || y > py + ph + 0.5)
        continue;
      cairo_move_to (cr, px, y);
      cairo_line_to (cr, px + pw, y);
    }
  for (guint i = 0; i < ax.n; i++)
    {
      double x = axis_map (&ax, ax.ticks[i]);

      if (x < px - 0.5 || x > px + pw + 0.5)
        continue;
      cairo_move_to (cr, x, py);
      cairo_line_to (cr, x, py + ph);
    }
  cairo_stroke (cr);

  /* series */
  cairo_save (cr);
  cairo_rectangle (cr, px, py - fs * 0.5, pw + fs * 0.5, ph + fs * 0.5);
  cairo_clip (cr);
  for (guint k = 0; k < n_series; k++)
    {
      Series *s = g_ptr_array_index (plot->series, k);
      guint32 rgb = ats_plot_get_series_color (k);
      double  r = ((rgb >> 16) & 0xff) / 255.0, g = ((rgb >> 8) & 0xff) / 255.0,
             b = (rgb & 0xff) / 255.0;

      if (bars)
        {
          double group = 0.8, bw = group / MAX (1, n_series);
          double base = axis_map (&ay, ay.log ? ay.lo : CLAMP (0.0, ay.lo, ay.hi));

          for (guint i = 0; i < s->n; i++)
            {
              double x0, x1, y;

              if (!usable (plot, i, s->y[i]))
                continue;
              x0 = axis_map (&ax, i - group / 2.0 + k * bw);
              x1 = axis_map (&ax, i - group / 2.0 + (k + 1) * bw);
              y = axis_map (&ay, s->y[i]);
              cairo_set_source_rgb (cr, r, g, b);
              cairo_rectangle (cr, x0, MIN (y, base), x1 - x0, fabs (base - y));
              cairo_fill (cr);
              if (s->err && isfinite (s->err[i]) && s->err[i] != 0.0)
                {
                  double xm = (x0 + x1) / 2.0, lo = s->y[i] - fabs (s->err[i]);
                  double yl = axis_map (&ay, ay.log && lo <= 0 ? ay.lo : lo);
                  double yh = axis_map (&ay, s->y[i] + fabs (s->err[i]));

                  _ats_set_rgb (cr, _ATS_TEXT_RGB);
                  cairo_set_line_width (cr, line_w * 0.7);
                  cairo_move_to (cr, xm, yl);
                  cairo_line_to (cr, xm, yh);
                  cairo_move_to (cr, xm - (x1 - x0) * 0.2, yl);
                  cairo_line_to (cr, xm + (x1 - x0) * 0.2, yl);
                  cairo_move_to (cr, xm - (x1 - x0) * 0.2, yh);
                  cairo_line_to (cr, xm + (x1 - x0) * 0.2, yh);
                  cairo_stroke (cr);
                }
            }
          continue;
        }

      /* error band */
      if (s->err != NULL)
        {
          gboolean open = FALSE;
          guint    start = 0;

          for (guint i = 0; i <= s->n; i++)
            {
              gboolean ok = i < s->n && usable (plot, s->x[i], s->y[i]) && isfinite (s->err[i]);

              if (ok && !open)
                {
                  open = TRUE;
                  start = i;
                }
              if (!ok && open)
                {
                  for (guint j = start; j < i; j++)
                    {
                      double hi = s->y[j] + fabs (s->err[j]);
                      cairo_line_to (cr, axis_map (&ax, s->x[j]), axis_map (&ay, hi));
                    }
                  for (guint j = i; j-- > start;)
                    {
                      double lo = s->y[j] - fabs (s->err[j]);
                      if (ay.log && lo <= 0)
                        lo = ay.lo;
                      cairo_line_to (cr, axis_map (&ax, s->x[j]), axis_map (&ay, lo));
                    }
                  cairo_close_path (cr);
                  cairo_set_source_rgba (cr, r, g, b, 0.18);
                  cairo_fill (cr);
                  open = FALSE;
                }
            }
        }

      /* line, broken at unusable points */
      cairo_set_source_rgb (cr, r, g, b);
      cairo_set_line_width (cr, line_w);
      cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
      {
        gboolean pen = FALSE;

        for (guint i = 0; i < s->n; i++)
          {
            if (!usable (plot, s->x[i], s->y[i]))
              {
                pen = FALSE;
                continue;
              }
            if (pen)
              cairo_line_to (cr, axis_map (&ax, s->x[i]), axis_map (&ay, s->y[i]));
            else
              cairo_move_to (cr, axis_map (&ax, s->x[i]), axis_map (&ay, s->y[i]));
            pen = TRUE;
          }
        cairo_stroke (cr);
      }
      if (s->n <= 64)
        for (guint i = 0; i < s->n; i++)
          if (usable (plot, s->x[i], s->y[i]))
            draw_marker (cr, k, axis_map (&ax, s->x[i]), axis_map (&ay, s->y[i]), line_w * 1.9);
    }
  cairo_restore (cr);

  /* axes: left and bottom spines with ticks */
  _ats_set_rgb (cr, _ATS_AXIS_RGB);
  cairo_set_line_width (cr, MAX (0.5, fs * 0.07));
  cairo_move_to (cr, px, py);
  cairo_line_to (cr, px, py + ph);
  cairo_line_to (cr, px + pw, py + ph);
  cairo_stroke (cr);

  _ats_set_font (cr, tick_fs, FALSE);
  for (guint i = 0; i < ay.n; i++)
    {
      double y = axis_map (&ay, ay.ticks[i]);

      if (y < py - 0.5 || y > py + ph + 0.5)
        continue;
      _ats_set_rgb (cr, _ATS_AXIS_RGB);
      cairo_move_to (cr, px, y);
      cairo_line_to (cr, px - tick_len, y);
      cairo_stroke (cr);
      _ats_set_rgb (cr, _ATS_TEXT_RGB);
      _ats_draw_text (cr, ay.text[i], px - tick_len - fs * 0.25, y, _ATS_ALIGN_END,
                      _ATS_ALIGN_CENTER, 0.0);
    }
  if (bars)
    {
      for (guint i = 0; i < n_cat; i++)
        {
          double           x = axis_map (&ax, i);
          g_autofree char *t =
              i < plot->categories->len
                  ? _ats_label_sanitize (g_ptr_array_index (plot->categories, i), 16)
                  : g_strdup_printf ("%u", i);

          _ats_set_rgb (cr, _ATS_TEXT_RGB);
          if (rotate_cats)
            _ats_draw_text (cr, t, x, py + ph + tick_len, _ATS_ALIGN_END, _ATS_ALIGN_CENTER,
                            -G_PI / 2.0);
          else
            _ats_draw_text (cr, t, x, py + ph + tick_len, _ATS_ALIGN_CENTER, _ATS_ALIGN_START, 0.0);
        }
    }
  else
    for (guint i = 0; i < ax.n; i++)
      {
        double x = axis_map (&ax, ax.ticks[i]);

        if (x < px - 0.5 || x > px + pw + 0.5)
          continue;
        _ats_set_rgb (cr, _ATS_AXIS_RGB);
        cairo_move_to (cr, x, py + ph);
        cairo_line_to (cr, x, py + ph + tick_len);
        cairo_stroke (cr);
        _ats_set_rgb (cr, _ATS_TEXT_RGB);
        _ats_draw_text (cr, ax.text[i], x, py + ph + tick_len + fs * 0.1, _ATS_ALIGN_CENTER,
                        _ATS_ALIGN_START, 0.0);
      }

  /* axis titles */
  _ats_set_font (cr, fs * 0.9, FALSE);
  _ats_set_rgb (cr, _ATS_TEXT_RGB);
  if (plot->x_label)
    _ats_draw_text (cr, plot->x_label, px + pw / 2.0, py + ph + tick_len + xlab_h + fs * 0.3,
                    _ATS_ALIGN_CENTER, _ATS_ALIGN_START, 0.0);
  if (plot->y_label)
    {
      g_autofree char *fit = _ats_text_fit (cr, plot->y_label, ph);

      _ats_draw_text (cr, fit, margin, py + ph / 2.0, _ATS_ALIGN_CENTER, _ATS_ALIGN_START,
                      -G_PI / 2.0);
    }

  /* legend */
  if (has_names)
    {
      double lx = px + pw + fs * 0.8, ly = py + fs * 0.2;

      _ats_set_font (cr, fs * 0.8, FALSE);
      for (guint k = 0; k < n_series; k++)
        {
          Series          *s = g_ptr_array_index (plot->series, k);
          double           cy = ly + k * fs * 1.4 + fs * 0.5;
          g_autofree char *fit = _ats_text_fit (cr, s->name ? s->name : "", name_w);

          _ats_set_rgb (cr, ats_plot_get_series_color (k));
          if (bars)
            {
              cairo_rectangle (cr, lx, cy - fs * 0.4, fs * 1.6, fs * 0.8);
              cairo_fill (cr);
            }
          else
            {
              cairo_set_line_width (cr, line_w);
              cairo_move_to (cr, lx, cy);
              cairo_line_to (cr, lx + fs * 1.6, cy);
              cairo_stroke (cr);
              draw_marker (cr, k, lx + fs * 0.8, cy, line_w * 1.9);
            }
          _ats_set_rgb (cr, _ATS_TEXT_RGB);
          _ats_draw_text (cr, fit, lx + fs * 2.1, cy, _ATS_ALIGN_START, _ATS_ALIGN_CENTER, 0.0);
        }
    }

  _ats_draw_footer (cr, plot->footer, W, H, margin, fs * 0.72);
  axis_clear (&ax);
  axis_clear (&ay);
  cairo_restore (cr);
}

/* ---- heat matrix ---- */

/**
 * ats_heat_matrix_init:
 * @values: [n_rows, n_cols] row-major, borrowed
 *
 * Sets the defaults: viridis, linear automatic scale, no annotations, "%.2f".
 */
void
ats_heat_matrix_init (AtsHeatMatrix *matrix, const float *values, int n_rows, int n_cols)
{
  memset (matrix, 0, sizeof *matrix);
  matrix->values = values;
  matrix->n_rows = n_rows;
  matrix->n_cols = n_cols;
  matrix->colormap = ATS_COLORMAP_VIRIDIS;
  ats_scale_init (&matrix->scale, ATS_SCALE_LINEAR);
  matrix->value_format = "%.2f";
}

/**
 * ats_heat_matrix_resolve_scale:
 *
 * Stores the matrix's scale with an automatic range filled in: [min, max] of the finite
 * values (symmetric for a diverging colormap).
 */
void
ats_heat_matrix_resolve_scale (const AtsHeatMatrix *matrix, AtsScale *out_scale)
{
  double lo = INFINITY, hi = -INFINITY;

  for (gsize k = 0; k < (gsize) matrix->n_rows * matrix->n_cols; k++)
    if (isfinite (matrix->values[k]))
      {
        lo = MIN (lo, matrix->values[k]);
        hi = MAX (hi, matrix->values[k]);
      }
  *out_scale = matrix->scale;
  ats_scale_resolve (out_scale, lo, hi, ats_colormap_is_diverging (matrix->colormap));
}

static char *
matrix_label (const char *const *labels, int k)
{
  return labels ? _ats_label_sanitize (labels[k], 20) : g_strdup_printf ("%d", k);
}

static char *
format_value (const char *format, double v)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  return g_strdup_printf (format ? format : "%.2f", v);
#pragma GCC diagnostic pop
}

/**
 * ats_heat_matrix_draw:
 *
 * Draws the matrix into (0, 0, @width, @height): title, cells (NaN in the neutral grey),
 * row labels on the left, column labels below (rotated when they do not fit), axis titles,
 * optional value annotations, colorbar, footer.
 */
void
ats_heat_matrix_draw (const AtsHeatMatrix *matrix, cairo_t *cr, double W, double H)
{
  const AtsHeatMatrix *m = matrix;
  AtsScale             scale;
  double   fs, margin, title_bottom, footer_h, lab_fs, rowlab_w = 0.0, collab_w = 0.0, collab_h;
  double   cb_bar, cb_w, avail_w, avail_h, cw, ch, gw, gh, px, py, gap, row_title_w, col_title_h;
  gboolean rotate = FALSE;
  cairo_surface_t *img;
  guint32         *pixels;
  int              stride;
  const guint32   *lut;
  const char      *cb_label;

  g_return_if_fail (matrix != NULL && cr != NULL);

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, W, H);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);
  if (m->values == NULL || m->n_rows <= 0 || m->n_cols <= 0)
    {
      cairo_restore (cr);
      return;
    }

  ats_heat_matrix_resolve_scale (m, &scale);
  cb_label = m->colorbar_label;
  fs = _ats_base_font_size (W, H);
  margin = fs * 0.9;
  gap = fs * 0.4;
  title_bottom = (m->title && *m->title) ? margin + fs * 1.15 * 1.5 + fs * 0.2 : margin;
  footer_h = _ats_footer_height (m->footer, fs * 0.72);
  row_title_w = m->row_title ? fs * 1.5 : 0.0;
  col_title_h = m->col_title ? fs * 1.6 : 0.0;
  cb_bar = fs;

  lab_fs = fs * 0.8;
  for (int iter = 0; iter < 2; iter++)
    {
      _ats_set_font (cr, lab_fs, FALSE);
      rowlab_w = collab_w = 0.0;
      for (int r = 0; r < m->n_rows; r++)
        {
          g_autofree char *t = matrix_label (m->row_labels, r);
          rowlab_w = MAX (rowlab_w, _ats_text_width (cr, t));
        }
      for (int c = 0; c < m->n_cols; c++)
        {
          g_autofree char *t = matrix_label (m->col_labels, c);
          collab_w = MAX (collab_w, _ats_text_width (cr, t));
        }
      avail_w = W - 2 * margin - row_title_w - rowlab_w - gap - fs * 1.2;
      cw = avail_w / m->n_cols;
      rotate = collab_w > cw * 0.9;
      collab_h = rotate ? collab_w + gap : lab_fs * 1.3 + gap;
      avail_h = H - title_bottom - fs * 0.3 - footer_h - margin - collab_h - col_title_h;
      cb_w = ats_colorbar_get_width (cr, cb_bar, MAX (avail_h, 10.0), &scale, cb_label, fs * 0.8);
      avail_w -= cb_w;
      avail_w = MAX (avail_w, 10.0);
      avail_h = MAX (avail_h, 10.0);
      cw = avail_w / m->n_cols;
      ch = avail_h / m->n_rows;
      /* cells no more than 3:1 either way, labels no taller than the rows */
      cw = MIN (cw, ch * 3.0);
      ch = MIN (ch, cw * 3.0);
      if (lab_fs <= MAX (ch * 0.85, 5.0) || iter == 1)
        break;
      lab_fs = MAX (ch * 0.85, 5.0);
    }

  gw = cw * m->n_cols;
  gh = ch * m->n_rows;
  px = MAX (margin + row_title_w + rowlab_w + gap,
            (W - (row_title_w + rowlab_w + gap + gw + fs * 1.2 + cb_w)) / 2.0 + row_title_w +
                rowlab_w + gap);
  py = title_bottom + fs * 0.3;

  _ats_draw_title (cr, m->title, W, margin, fs * 1.15);

  /* cells: one pixel per cell, enlarged with nearest-neighbour filtering */
  lut = ats_colormap_get_lut (m->colormap);
  img = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, m->n_cols, m->n_rows);
  cairo_surface_flush (img);
  pixels = (guint32 *) cairo_image_surface_get_data (img);
  stride = cairo_image_surface_get_stride (img) / 4;
  for (int r = 0; r < m->n_rows; r++)
    for (int c = 0; c < m->n_cols; c++)
      {
        double v = m->values[(gsize) r * m->n_cols + c];

        pixels[r * stride + c] =
            0xff000000 | (isfinite (v) ? lut[(int) (ats_scale_normalize (&scale, v) * 255.0 + 0.5)]
                                       : ATS_HEATMAP_MASKED_RGB);
      }
  cairo_surface_mark_dirty (img);
  ats_heatmap_paint_image (cr, img, px, py, gw, gh);
  cairo_surface_destroy (img);

  /* white separators between cells when cells are large */
  if (cw >= fs * 0.8 && ch >= fs * 0.8)
    {
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_set_line_width (cr, MAX (0.5, fs * 0.08));
      for (int r = 1; r < m->n_rows; r++)
        {
          cairo_move_to (cr, px, py + r * ch);
          cairo_line_to (cr, px + gw, py + r * ch);
        }
      for (int c = 1; c < m->n_cols; c++)
        {
          cairo_move_to (cr, px + c * cw, py);
          cairo_line_to (cr, px + c * cw, py + gh);
        }
      cairo_stroke (cr);
    }

  /* annotations */
  if (m->annotate)
    {
      double afs = MIN (fs * 0.7, ch * 0.5);

      _ats_set_font (cr, afs, FALSE);
      for (int r = 0; r < m->n_rows; r++)
        for (int c = 0; c < m->n_cols; c++)
          {
            double           v = m->values[(gsize) r * m->n_cols + c];
            g_autofree char *t = NULL;
            guint32          rgb;
            double           lum;

            if (!isfinite (v))
              continue;
            t = format_value (m->value_format, v);
            if (_ats_text_width (cr, t) > cw * 0.92 || afs < 5.0)
              continue;
            rgb = lut[(int) (ats_scale_normalize (&scale, v) * 255.0 + 0.5)];
            lum = 0.2126 * ((rgb >> 16) & 0xff) + 0.7152 * ((rgb >> 8) & 0xff) +
                  0.0722 * (rgb & 0xff);
            _ats_set_rgb (cr, lum > 140 ? 0x000000 : 0xffffff);
            _ats_draw_text (cr, t, px + (c + 0.5) * cw, py + (r + 0.5) * ch, _ATS_ALIGN_CENTER,
                            _ATS_ALIGN_CENTER, 0.0);
          }
    }

  /* labels */
  _ats_set_font (cr, lab_fs, FALSE);
  _ats_set_rgb (cr, _ATS_TEXT_RGB);
  for (int r = 0; r < m->n_rows; r++)
    {
      g_autofree char *t = matrix_label (m->row_labels, r);

      _ats_draw_text (cr, t, px - gap, py + (r + 0.5) * ch, _ATS_ALIGN_END, _ATS_ALIGN_CENTER, 0.0);
    }
  for (int c = 0; c < m->n_cols; c++)
    {
      g_autofree char *t = matrix_label (m->col_labels, c);

      if (rotate)
        _ats_draw_text (cr, t, px + (c + 0.5) * cw, py + gh + gap, _ATS_ALIGN_END,
                        _ATS_ALIGN_CENTER, -G_PI / 2.0);
      else
        _ats_draw_text (cr, t, px + (c + 0.5) * cw, py + gh + gap, _ATS_ALIGN_CENTER,
                        _ATS_ALIGN_START, 0.0);
    }
  _ats_set_font (cr, fs * 0.9, FALSE);
  if (m->row_title)
    _ats_draw_text (cr, m->row_title, px - gap - rowlab_w - fs * 0.4, py + gh / 2.0,
                    _ATS_ALIGN_CENTER, _ATS_ALIGN_END, -G_PI / 2.0);
  if (m->col_title)
    _ats_draw_text (cr, m->col_title, px + gw / 2.0, py + gh + collab_h + fs * 0.2,
                    _ATS_ALIGN_CENTER, _ATS_ALIGN_START, 0.0);

  ats_colorbar_draw (cr, px + gw + fs * 1.2, py, cb_bar, gh, m->colormap, &scale, cb_label,
                     fs * 0.8);
  _ats_draw_footer (cr, m->footer, W, H, margin, fs * 0.72);
  cairo_restore (cr);
}

/* ---- geometry of a drawn plot (interaction) ---- */

typedef struct
{
  Axis   ax, ay;
  double px, py, pw, ph;
} PlotLayout;

/* The layout ats_plot_draw() computes for (0, 0, W, H): the same steps, without drawing. */
static void
plot_layout (AtsPlot *plot, cairo_t *cr, double W, double H, PlotLayout *out)
{
  Axis    *ax = &out->ax, *ay = &out->ay;
  double   fs, margin, title_bottom, footer_h, tick_len, tick_fs, legend_w = 0.0, ylab_w = 0.0;
  double   xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  double   px, py, pw, ph, xlab_h;
  guint    n_cat = plot->categories->len, n_series = plot->series->len;
  gboolean has_names = FALSE;
  gboolean bars = plot->kind == ATS_PLOT_BARS;

  memset (out, 0, sizeof *out);
  cairo_save (cr);

  fs = _ats_base_font_size (W, H);
  margin = fs * 0.9;
  tick_len = fs * 0.35;
  tick_fs = fs * 0.8;
  title_bottom = (plot->title && *plot->title) ? margin + fs * 1.15 * 1.5 + fs * 0.2 : margin;
  footer_h = _ats_footer_height (plot->footer, fs * 0.72);

  for (guint k = 0; k < n_series; k++)
    {
      Series *s = g_ptr_array_index (plot->series, k);

      if (s->name && *s->name)
        has_names = TRUE;
      n_cat = MAX (n_cat, s->n);
      for (guint i = 0; i < s->n; i++)
        {
          double e = s->err && isfinite (s->err[i]) ? fabs (s->err[i]) : 0.0;

          if (!usable (plot, s->x[i], s->y[i]))
            continue;
          xmin = MIN (xmin, s->x[i]);
          xmax = MAX (xmax, s->x[i]);
          ymin = MIN (ymin, (plot->log_y && s->y[i] - e <= 0) ? s->y[i] : s->y[i] - e);
          ymax = MAX (ymax, s->y[i] + e);
        }
    }

  ax->log = plot->log_x && !bars;
  ay->log = plot->log_y;
  if (bars)
    {
      ax->lo = -0.5;
      ax->hi = MAX (1, n_cat) - 0.5;
    }
  else
    {
      axis_range (ax, xmin, xmax, plot->x_min, plot->x_max, FALSE, FALSE);
      if (!isfinite (plot->x_min) && !isfinite (plot->x_max))
        {
          if (ax->log)
            {
              double f = pow (ax->hi / ax->lo, 0.02);
              ax->lo /= f;
              ax->hi *= f;
            }
          else
            {
              double d = (ax->hi - ax->lo) * 0.02;
              ax->lo -= d;
              ax->hi += d;
            }
        }
    }
  axis_range (ay, ymin, ymax, plot->y_min, plot->y_max, TRUE, bars);

  _ats_set_font (cr, fs * 0.8, FALSE);
  if (has_names)
    {
      for (guint k = 0; k < n_series; k++)
        {
          Series *s = g_ptr_array_index (plot->series, k);

          legend_w = MAX (legend_w, _ats_text_width (cr, s->name ? s->name : ""));
        }
      legend_w = MIN (legend_w, W * 0.3) + fs * 2.8;
    }

  ph = H - title_bottom - footer_h - margin - fs * 3.2;
  axis_make_ticks (ay, CLAMP ((guint) (ph / (fs * 2.2)), 2, 10), FALSE);
  _ats_set_font (cr, tick_fs, FALSE);
  for (guint i = 0; i < ay->n; i++)
    ylab_w = MAX (ylab_w, _ats_text_width (cr, ay->text[i]));

  px = margin + fs * 1.6 + ylab_w + tick_len + fs * 0.3;
  pw = W - px - margin - legend_w - (has_names ? fs * 0.8 : 0.0);
  pw = MAX (pw, 10.0);

  xlab_h = tick_fs * 1.3;
  if (bars && n_cat > 0)
    {
      double widest = 0.0;

      for (guint i = 0; i < n_cat; i++)
        {
          g_autofree char *t =
              i < plot->categories->len
                  ? _ats_label_sanitize (g_ptr_array_index (plot->categories, i), 16)
                  : g_strdup_printf ("%u", i);

          widest = MAX (widest, _ats_text_width (cr, t));
        }
      if (widest > pw / n_cat * 0.9)
        xlab_h = MIN (widest, H * 0.25) + tick_fs * 0.3;
    }

  py = title_bottom + fs * 0.3;
  ph = H - py - footer_h - margin - tick_len - xlab_h - fs * 1.8;
  ph = MAX (ph, 10.0);
  ax->pos0 = px;
  ax->pos1 = px + pw;
  ay->pos0 = py + ph;
  ay->pos1 = py;

  out->px = px;
  out->py = py;
  out->pw = pw;
  out->ph = ph;
  cairo_restore (cr);
}

/* @cr, or a private one on a 1 x 1 image when NULL (text is measured with Cairo's toy API) */
static void
plot_layout_any (AtsPlot *plot, cairo_t *cr, double W, double H, PlotLayout *out)
{
  cairo_surface_t *surface;

  if (cr != NULL)
    {
      plot_layout (plot, cr, W, H, out);
      return;
    }
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 1, 1);
  cr = cairo_create (surface);
  plot_layout (plot, cr, W, H, out);
  cairo_destroy (cr);
  cairo_surface_destroy (surface);
}

static void
plot_layout_clear (PlotLayout *layout)
{
  axis_clear (&layout->ax);
  axis_clear (&layout->ay);
}

/**
 * ats_plot_get_data_area:
 * @cr: (nullable): the context the plot is (or will be) drawn on, for its text metrics;
 *   %NULL measures text on a private image surface
 * @width, @height: the size passed to ats_plot_draw()
 *
 * The rectangle of the data area (inside the axes) that ats_plot_draw() uses for a plot of
 * @width x @height.
 */
void
ats_plot_get_data_area (AtsPlot *plot,
                        cairo_t *cr,
                        double   width,
                        double   height,
                        double  *out_x,
                        double  *out_y,
                        double  *out_width,
                        double  *out_height)
{
  PlotLayout layout;

  g_return_if_fail (plot != NULL);

  plot_layout_any (plot, cr, width, height, &layout);
  if (out_x != NULL)
    *out_x = layout.px;
  if (out_y != NULL)
    *out_y = layout.py;
  if (out_width != NULL)
    *out_width = layout.pw;
  if (out_height != NULL)
    *out_height = layout.ph;
  plot_layout_clear (&layout);
}

/* device position of point @i of series @k (bars: the bar's top centre) */
static gboolean
point_position (AtsPlot *plot, const PlotLayout *layout, guint k, guint i, double *x, double *y)
{
  Series *s = g_ptr_array_index (plot->series, k);

  if (i >= s->n)
    return FALSE;
  if (plot->kind == ATS_PLOT_BARS)
    {
      double group = 0.8, bw = group / MAX (1, plot->series->len);

      if (!usable (plot, i, s->y[i]))
        return FALSE;
      *x = axis_map (&layout->ax, i - group / 2.0 + (k + 0.5) * bw);
    }
  else
    {
      if (!usable (plot, s->x[i], s->y[i]))
        return FALSE;
      *x = axis_map (&layout->ax, s->x[i]);
    }
  *y = axis_map (&layout->ay, s->y[i]);
  return TRUE;
}

/**
 * ats_plot_get_point:
 * @series, @index: a data point
 * @out_x, @out_y: where ats_plot_draw() puts it (for bars: the top centre of the bar)
 *
 * Returns: %FALSE when the point does not exist or is not drawn (NaN, or <= 0 on a log axis)
 */
gboolean
ats_plot_get_point (AtsPlot *plot,
                    cairo_t *cr,
                    double   width,
                    double   height,
                    guint    series,
                    guint    index,
                    double  *out_x,
                    double  *out_y)
{
  PlotLayout layout;
  double     x = 0, y = 0;
  gboolean   ok;

  g_return_val_if_fail (plot != NULL, FALSE);

  if (series >= plot->series->len)
    return FALSE;
  plot_layout_any (plot, cr, width, height, &layout);
  ok = point_position (plot, &layout, series, index, &x, &y);
  plot_layout_clear (&layout);
  if (ok && out_x != NULL)
    *out_x = x;
  if (ok && out_y != NULL)
    *out_y = y;
  return ok;
}

/**
 * ats_plot_hit_test:
 * @x, @y: a point in the plot's (0, 0, @width, @height) frame (a widget pixel)
 * @radius: how far from a marker a point still hits it (line plots), in the same units
 * @out_series, @out_index: (out) (optional): the hit point
 *
 * Line plots: the drawn point nearest to (@x, @y) within @radius. Bar plots: the bar under
 * (@x, @y) (between the axis and the bar's top, or within @radius of its top).
 *
 * Returns: %TRUE when a point was hit
 */
gboolean
ats_plot_hit_test (AtsPlot *plot,
                   cairo_t *cr,
                   double   width,
                   double   height,
                   double   x,
                   double   y,
                   double   radius,
                   guint   *out_series,
                   guint   *out_index)
{
  PlotLayout layout;
  double     best = INFINITY;
  guint      best_k = 0, best_i = 0;

  g_return_val_if_fail (plot != NULL, FALSE);

  plot_layout_any (plot, cr, width, height, &layout);
  for (guint k = 0; k < plot->series->len; k++)
    {
      Series *s = g_ptr_array_index (plot->series, k);

      for (guint i = 0; i < s->n; i++)
        {
          double mx, my, d;

          if (!point_position (plot, &layout, k, i, &mx, &my))
            continue;
          if (plot->kind == ATS_PLOT_BARS)
            {
              double group = 0.8, bw = group / MAX (1, plot->series->len);
              double x0 = axis_map (&layout.ax, i - group / 2.0 + k * bw);
              double x1 = axis_map (&layout.ax, i - group / 2.0 + (k + 1) * bw);
              double base =
                  axis_map (&layout.ay,
                            layout.ay.log ? layout.ay.lo : CLAMP (0.0, layout.ay.lo, layout.ay.hi));

              if (x < MIN (x0, x1) || x > MAX (x0, x1))
                continue;
              d = (y >= MIN (my, base) && y <= MAX (my, base)) ? 0.0 : fabs (y - my);
            }
          else
            d = hypot (x - mx, y - my);
          if (d <= radius && d < best)
            {
              best = d;
              best_k = k;
              best_i = i;
            }
        }
    }
  plot_layout_clear (&layout);

  if (!isfinite (best))
    return FALSE;
  if (out_series != NULL)
    *out_series = best_k;
  if (out_index != NULL)
    *out_index = best_i;
  return TRUE;
}
