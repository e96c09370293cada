/* ats-heatmap.c — attention heatmaps of one head and grids of heads */
#include <math.h>
#include <string.h>

#include "ats-heatmap.h"
#include "ats-render-private.h"

#define LABEL_MAX_CHARS 14
#define HATCH_RGB 0xa8a8a8

/**
 * ats_heatmap_init:
 * @data: (array): [n_rows, n_cols] row-major, borrowed for the life of @heatmap
 *
 * Sets every field to its default (see ats-heatmap.h): viridis, linear automatic scale,
 * max pooling, causal masking, the whole map.
 */
void
ats_heatmap_init (AtsHeatmap *heatmap, const float *data, int n_rows, int n_cols)
{
  g_return_if_fail (heatmap != NULL);

  memset (heatmap, 0, sizeof *heatmap);
  heatmap->data = data;
  heatmap->n_rows = n_rows;
  heatmap->n_cols = n_cols;
  heatmap->colormap = ATS_COLORMAP_VIRIDIS;
  ats_scale_init (&heatmap->scale, ATS_SCALE_LINEAR);
  heatmap->pooling = ATS_POOLING_MAX;
  heatmap->causal = TRUE;
  heatmap->mask_style = ATS_MASK_STYLE_AUTO;
  heatmap->zero_rgb = 0xffffff;
  heatmap->show_pooling = TRUE;
}

static void
resolve_view (const AtsHeatmap *hm, const AtsViewRect *in, AtsViewRect *out)
{
  AtsViewRect v = in != NULL ? *in : hm->view;

  v.row0 = CLAMP (v.row0, 0, MAX (0, hm->n_rows - 1));
  v.col0 = CLAMP (v.col0, 0, MAX (0, hm->n_cols - 1));
  if (v.n_rows <= 0 || v.row0 + v.n_rows > hm->n_rows)
    v.n_rows = hm->n_rows - v.row0;
  if (v.n_cols <= 0 || v.col0 + v.n_cols > hm->n_cols)
    v.n_cols = hm->n_cols - v.col0;
  *out = v;
}

/**
 * ats_heatmap_get_view:
 *
 * Stores the heatmap's view rectangle clamped to the map, with explicit sizes.
 */
void
ats_heatmap_get_view (const AtsHeatmap *heatmap, AtsViewRect *out_view)
{
  resolve_view (heatmap, NULL, out_view);
}

/**
 * ats_heatmap_get_data_range:
 *
 * Stores the smallest and largest finite value among the visible cells of the whole map
 * (not only the view, so that zooming keeps the colours); NaN when there is none.
 */
void
ats_heatmap_get_data_range (const AtsHeatmap *heatmap, double *out_min, double *out_max)
{
  float lo = INFINITY, hi = -INFINITY;

  for (int i = 0; i < heatmap->n_rows; i++)
    {
      const float *row = heatmap->data + (gsize) i * heatmap->n_cols; /* [n_cols] */
      int          jend = heatmap->causal ? MIN (heatmap->n_cols, i + 1) : heatmap->n_cols;

      for (int j = 0; j < jend; j++)
        {
          float v = row[j];

          if (v < lo)
            lo = v;
          if (v > hi)
            hi = v;
        }
    }
  if (isinf (lo) || isinf (hi))
    {
      /* all NaN or infinite: look again for finite values only */
      lo = INFINITY;
      hi = -INFINITY;
      for (gsize k = 0; k < (gsize) heatmap->n_rows * heatmap->n_cols; k++)
        if (isfinite (heatmap->data[k]))
          {
            lo = MIN (lo, heatmap->data[k]);
            hi = MAX (hi, heatmap->data[k]);
          }
    }
  *out_min = isfinite (lo) ? lo : NAN;
  *out_max = isfinite (hi) ? hi : NAN;
}

/**
 * ats_heatmap_resolve_scale:
 *
 * Stores the heatmap's scale with an automatic range filled in: [min(0, min), max] of the
 * visible data, or [-m, m] for a diverging colormap.
 */
void
ats_heatmap_resolve_scale (const AtsHeatmap *heatmap, AtsScale *out_scale)
{
  double lo = 0.0, hi = 1.0;

  *out_scale = heatmap->scale;
  if (ats_scale_is_auto (out_scale))
    {
      ats_heatmap_get_data_range (heatmap, &lo, &hi);
      if (isfinite (lo) && !ats_colormap_is_diverging (heatmap->colormap))
        lo = MIN (0.0, lo);
    }
  ats_scale_resolve (out_scale, lo, hi, ats_colormap_is_diverging (heatmap->colormap));
}

static gboolean
use_hatch (AtsMaskStyle style, AtsColormap cmap)
{
  if (style == ATS_MASK_STYLE_AUTO)
    return cmap == ATS_COLORMAP_GREY || ats_colormap_is_diverging (cmap);
  return style == ATS_MASK_STYLE_HATCH;
}

typedef struct
{
  const guint32 *lut;
  AtsScale       scale;
  gboolean       mark_zeros;
  guint32        zero_px;
  guint32        masked_px;
} PixelRule;

static inline guint32
pixel_for (const PixelRule *rule, double v)
{
  double t;

  if (rule->mark_zeros && v == 0.0)
    return rule->zero_px;
  t = ats_scale_normalize (&rule->scale, v);
  return 0xff000000 | rule->lut[(int) (t * 255.0 + 0.5)];
}

/**
 * ats_heatmap_render_image:
 * @scale: (nullable): a resolved scale, or %NULL for ats_heatmap_resolve_scale()
 * @view: (nullable): the cells to show, or %NULL for @heatmap's view
 * @max_width, @max_height: the pixel size the image will be shown at
 *
 * Renders the heatmap image alone, pooled by the rule in ats-heatmap.h. The image is
 * min(view columns, @max_width) x min(view rows, @max_height) pixels, opaque ARGB32; draw it
 * onto the target rectangle with ats_heatmap_paint_image() (nearest-neighbour filtering).
 *
 * Returns: (transfer full): a new image surface
 */
cairo_surface_t *
ats_heatmap_render_image (const AtsHeatmap  *heatmap,
                          const AtsScale    *scale,
                          const AtsViewRect *view,
                          int                max_width,
                          int                max_height)
{
  AtsViewRect         v;
  PixelRule           rule;
  cairo_surface_t    *surface;
  guint8             *pixels;
  int                 stride, out_w, out_h, py = 0;
  g_autofree int     *colmap = NULL; /* [v.n_cols] */
  g_autofree int     *rowmap = NULL; /* [v.n_rows] */
  g_autofree float   *acc = NULL;    /* [out_w] */
  g_autofree guint32 *cnt = NULL;    /* [out_w] */

  g_return_val_if_fail (heatmap != NULL && heatmap->data != NULL, NULL);
  g_return_val_if_fail (heatmap->n_rows > 0 && heatmap->n_cols > 0, NULL);

  resolve_view (heatmap, view, &v);
  out_w = CLAMP (v.n_cols, 1, MAX (1, max_width));
  out_h = CLAMP (v.n_rows, 1, MAX (1, max_height));

  if (scale != NULL && !ats_scale_is_auto (scale))
    rule.scale = *scale;
  else
    ats_heatmap_resolve_scale (heatmap, &rule.scale);
  rule.lut = ats_colormap_get_lut (heatmap->colormap);
  rule.mark_zeros = heatmap->mark_zeros;
  rule.zero_px = 0xff000000 | heatmap->zero_rgb;
  rule.masked_px = 0xff000000 | ATS_HEATMAP_MASKED_RGB;

  colmap = g_new (int, v.n_cols);
  rowmap = g_new (int, v.n_rows);
  _ats_pool_index_map (v.n_cols, out_w, colmap);
  _ats_pool_index_map (v.n_rows, out_h, rowmap);
  acc = g_new (float, out_w);
  cnt = g_new (guint32, out_w);

  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, out_w, out_h);
  cairo_surface_flush (surface);
  pixels = cairo_image_surface_get_data (surface);
  stride = cairo_image_surface_get_stride (surface);

#define RESET_ROW()                                                                                \
  G_STMT_START                                                                                     \
  {                                                                                                \
    for (int p = 0; p < out_w; p++)                                                                \
      acc[p] = heatmap->pooling == ATS_POOLING_MAX ? -INFINITY : 0.0f;                             \
    memset (cnt, 0, sizeof (guint32) * out_w);                                                     \
  }                                                                                                \
  G_STMT_END

  RESET_ROW ();
  for (int r = 0; r <= v.n_rows; r++)
    {
      int          i = v.row0 + r;
      int          jend;
      const float *row;

      if (r == v.n_rows || rowmap[r] != py)
        {
          guint32 *dst = (guint32 *) (pixels + (gsize) py * stride); /* [out_w] */

          for (int p = 0; p < out_w; p++)
            {
              gboolean have = heatmap->pooling == ATS_POOLING_MAX ? acc[p] > -INFINITY : cnt[p] > 0;

              if (!have)
                dst[p] = rule.masked_px;
              else if (heatmap->pooling == ATS_POOLING_MEAN)
                dst[p] = pixel_for (&rule, acc[p] / cnt[p]);
              else
                dst[p] = pixel_for (&rule, acc[p]);
            }
          if (r == v.n_rows)
            break;
          py = rowmap[r];
          RESET_ROW ();
        }

      row = heatmap->data + (gsize) i * heatmap->n_cols; /* [n_cols] */
      jend = v.col0 + v.n_cols;
      if (heatmap->causal && jend > i + 1)
        jend = i + 1;

      switch (heatmap->pooling)
        {
        case ATS_POOLING_MEAN:
          for (int j = v.col0; j < jend; j++)
            {
              float x = row[j];

              if (x == x)
                {
                  int p = colmap[j - v.col0];

                  acc[p] += x;
                  cnt[p]++;
                }
            }
          break;
        case ATS_POOLING_MAX_ABS:
          for (int j = v.col0; j < jend; j++)
            {
              float x = row[j];

              if (x == x)
                {
                  int p = colmap[j - v.col0];

                  if (fabsf (x) > fabsf (acc[p]))
                    acc[p] = x;
                  cnt[p]++;
                }
            }
          break;
        case ATS_POOLING_MAX:
        default:
          for (int j = v.col0; j < jend; j++)
            {
              float x = row[j];
              int   p = colmap[j - v.col0];

              if (x > acc[p])
                acc[p] = x;
            }
          break;
        }
    }
#undef RESET_ROW

  cairo_surface_mark_dirty (surface);
  return surface;
}

/**
 * ats_heatmap_paint_image:
 * @image: an image from ats_heatmap_render_image()
 *
 * Paints @image stretched onto the rectangle, with nearest-neighbour filtering so that cells
 * stay sharp squares when enlarged.
 */
void
ats_heatmap_paint_image (cairo_t         *cr,
                         cairo_surface_t *image,
                         double           x,
                         double           y,
                         double           width,
                         double           height)
{
  int iw = cairo_image_surface_get_width (image);
  int ih = cairo_image_surface_get_height (image);

  if (iw <= 0 || ih <= 0 || width <= 0 || height <= 0)
    return;

  cairo_save (cr);
  cairo_rectangle (cr, x, y, width, height);
  cairo_clip (cr);
  cairo_translate (cr, x, y);
  cairo_scale (cr, width / iw, height / ih);
  cairo_set_source_surface (cr, image, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
  cairo_paint (cr);
  cairo_restore (cr);
}

/* The masked region (j > i) of view @v drawn into (x, y, w, h), as a path. */
static void
masked_region_path (cairo_t *cr, const AtsViewRect *v, double x, double y, double w, double h)
{
  double sx = w / v->n_cols, sy = h / v->n_rows;
  double right = x + w + 1.0;

#define BX(i) (x + ((i) + 1 - v->col0) * sx)
  if (v->n_rows <= 512)
    {
      cairo_move_to (cr, right, y);
      for (int r = 0; r < v->n_rows; r++)
        {
          double bx = CLAMP (BX (v->row0 + r), x, right);

          cairo_line_to (cr, bx, y + r * sy);
          cairo_line_to (cr, bx, y + (r + 1) * sy);
        }
      cairo_line_to (cr, right, y + h);
    }
  else
    {
      cairo_move_to (cr, right, y);
      cairo_line_to (cr, BX (v->row0), y);
      cairo_line_to (cr, BX (v->row0 + v->n_rows - 1), y + h);
      cairo_line_to (cr, MAX (right, BX (v->row0 + v->n_rows - 1)), y + h);
    }
#undef BX
  cairo_close_path (cr);
}

static void
draw_hatch (cairo_t *cr, const AtsViewRect *v, double x, double y, double w, double h)
{
  double spacing = CLAMP (MIN (w, h) / 40.0, 2.0, 8.0);

  if (v->col0 + v->n_cols - 1 <= v->row0)
    return; /* nothing masked in view */

  cairo_save (cr);
  cairo_rectangle (cr, x, y, w, h);
  cairo_clip (cr);
  masked_region_path (cr, v, x, y, w, h);
  cairo_clip (cr);
  _ats_set_rgb (cr, ATS_HEATMAP_MASKED_RGB);
  cairo_paint (cr);
  _ats_set_rgb (cr, HATCH_RGB);
  cairo_set_line_width (cr, spacing * 0.18);
  for (double k = -h; k < w; k += spacing)
    {
      cairo_move_to (cr, x + k, y + h);
      cairo_line_to (cr, x + k + h, y);
    }
  cairo_stroke (cr);
  cairo_restore (cr);
}

/* Rounds a rectangle to whole device pixels (when the transformation has no rotation), so
 * that an image of exactly the device size maps 1:1 and no pooled column gets dropped. */
static void
snap_rect (cairo_t *cr, double *x, double *y, double *w, double *h)
{
  double x0 = *x, y0 = *y, x1 = *x + *w, y1 = *y + *h;

  cairo_user_to_device (cr, &x0, &y0);
  cairo_user_to_device (cr, &x1, &y1);
  x0 = round (x0);
  y0 = round (y0);
  x1 = round (x1);
  y1 = round (y1);
  cairo_device_to_user (cr, &x0, &y0);
  cairo_device_to_user (cr, &x1, &y1);
  if (x1 > x0 && y1 > y0)
    {
      *x = x0;
      *y = y0;
      *w = x1 - x0;
      *h = y1 - y0;
    }
}

static void
image_size_for (cairo_t *cr, double w, double h, int *pw, int *ph)
{
  double s = _ats_image_scale_for (cr);

  *pw = MAX (1, (int) round (w * s));
  *ph = MAX (1, (int) round (h * s));
}

/**
 * ats_heatmap_draw_map:
 * @scale: (nullable): a resolved scale, or %NULL for ats_heatmap_resolve_scale()
 *
 * Draws only the map (the view of @heatmap) into the rectangle: pooled image and, with
 * hatching, the hatched causal triangle. No frame, labels or colorbar.
 */
void
ats_heatmap_draw_map (const AtsHeatmap *heatmap,
                      const AtsScale   *scale,
                      cairo_t          *cr,
                      double            x,
                      double            y,
                      double            width,
                      double            height)
{
  cairo_surface_t *img;
  AtsViewRect      v;
  int              pw, ph;

  image_size_for (cr, width, height, &pw, &ph);
  img = ats_heatmap_render_image (heatmap, scale, NULL, pw, ph);
  ats_heatmap_paint_image (cr, img, x, y, width, height);
  cairo_surface_destroy (img);

  resolve_view (heatmap, NULL, &v);
  if (heatmap->causal && use_hatch (heatmap->mask_style, heatmap->colormap))
    draw_hatch (cr, &v, x, y, width, height);
}

/* ---- single-head figure ---- */

typedef struct
{
  double   fs; /* base font size */
  double   margin;
  double   title_bottom;
  double   footer_h;
  double   legend_h;
  double   label_fs;   /* tick / token label font size */
  gboolean tokens;     /* token labels (else numeric index ticks) */
  double   ylab_w;     /* width of row labels */
  double   xlab_h;     /* height of (rotated) column labels */
  double   axis_title; /* room for an axis title */
  double   cb_bar;
  double   cb_w;
  double   px, py, pw, ph; /* plot rectangle */
} Layout;

static double
max_label_width (cairo_t *cr, char **labels, int n, double font_size)
{
  double w = 0.0;

  _ats_set_font (cr, font_size, FALSE);
  for (int k = 0; k < n; k++)
    w = MAX (w, _ats_text_width (cr, labels[k]));
  return w;
}

static void
layout_heatmap (const AtsHeatmap  *hm,
                const AtsScale    *scale,
                const AtsViewRect *v,
                char             **rlab, /* [v->n_rows] or NULL */
                char             **clab, /* [v->n_cols] or NULL */
                const char        *footer,
                cairo_t           *cr,
                double             W,
                double             H,
                Layout            *L)
{
  double   aspect = CLAMP ((double) v->n_cols / v->n_rows, 0.25, 4.0);
  double   gap, avail_w, avail_h, min_label_fs;
  gboolean has_legend;

  L->fs = _ats_base_font_size (W, H);
  L->margin = L->fs * 0.9;
  L->title_bottom =
      (hm->title && *hm->title) ? L->margin + L->fs * 1.15 * 1.5 + L->fs * 0.2 : L->margin;
  L->footer_h = _ats_footer_height (footer, L->fs * 0.72);
  has_legend = (hm->causal && v->col0 + v->n_cols - 1 > v->row0) || hm->mark_zeros;
  L->legend_h = has_legend ? L->fs * 1.4 : 0.0;
  L->axis_title = L->fs * 1.5;
  L->cb_bar = L->fs * 1.0;
  gap = L->fs * 0.4;
  min_label_fs = MAX (5.5, L->fs * 0.55);

  L->tokens = rlab != NULL && clab != NULL;
  L->label_fs = L->fs * 0.8;
  for (int iter = 0; iter < 3; iter++)
    {
      double cell;

      if (L->tokens)
        {
          L->ylab_w = max_label_width (cr, rlab, v->n_rows, L->label_fs);
          L->xlab_h = max_label_width (cr, clab, v->n_cols, L->label_fs);
        }
      else
        {
          g_autofree char *big =
              g_strdup_printf ("%d", MAX (v->row0 + v->n_rows, v->col0 + v->n_cols));

          _ats_set_font (cr, L->label_fs, FALSE);
          L->ylab_w = _ats_text_width (cr, big) + L->fs * 0.3;
          L->xlab_h = L->label_fs * 1.2 + L->fs * 0.3;
        }

      avail_h = H - L->title_bottom - L->footer_h - L->legend_h - L->margin - L->xlab_h - gap -
                L->axis_title;
      L->cb_w = ats_colorbar_get_width (
          cr, L->cb_bar, MAX (avail_h, 10.0), scale,
          hm->colorbar_label ? hm->colorbar_label : "attention weight", L->fs * 0.8);
      avail_w = W - 2.0 * L->margin - L->axis_title - L->ylab_w - gap - L->fs * 1.2 - L->cb_w;
      avail_w = MAX (avail_w, 10.0);
      avail_h = MAX (avail_h, 10.0);
      L->pw = MIN (avail_w, avail_h * aspect);
      L->ph = L->pw / aspect;

      if (!L->tokens)
        break;
      cell = MIN (L->pw / v->n_cols, L->ph / v->n_rows);
      if (cell * 0.85 < min_label_fs)
        {
          L->tokens = FALSE; /* labels do not fit: numeric index ticks instead */
          L->label_fs = L->fs * 0.8;
          continue;
        }
      if (cell * 0.85 >= L->label_fs || iter == 2)
        break;
      L->label_fs = cell * 0.85;
    }

  {
    double total_w = L->axis_title + L->ylab_w + gap + L->pw + L->fs * 1.2 + L->cb_w;
    double left = MAX (L->margin, (W - total_w) / 2.0);

    L->px = left + L->axis_title + L->ylab_w + gap;
    L->py = L->title_bottom + L->fs * 0.3;
  }
}

static char **
make_labels (const char *const *labels, int first, int n)
{
  char **out;

  if (labels == NULL)
    return NULL;
  out = g_new0 (char *, n + 1);
  for (int k = 0; k < n; k++)
    out[k] = _ats_label_sanitize (labels[first + k], LABEL_MAX_CHARS);
  return out;
}

static void
draw_legend_item (cairo_t    *cr,
                  double      x,
                  double      y,
                  double      fs,
                  guint32     rgb,
                  gboolean    hatch,
                  const char *text,
                  double     *out_end)
{
  double s = fs * 0.9;

  _ats_set_rgb (cr, rgb);
  cairo_rectangle (cr, x, y, s, s);
  cairo_fill (cr);
  if (hatch)
    {
      cairo_save (cr);
      cairo_rectangle (cr, x, y, s, s);
      cairo_clip (cr);
      _ats_set_rgb (cr, HATCH_RGB);
      cairo_set_line_width (cr, s * 0.08);
      for (double k = -s; k < s; k += s / 3.0)
        {
          cairo_move_to (cr, x + k, y + s);
          cairo_line_to (cr, x + k + s, y);
        }
      cairo_stroke (cr);
      cairo_restore (cr);
    }
  _ats_set_rgb (cr, _ATS_AXIS_RGB);
  cairo_set_line_width (cr, MAX (0.5, fs * 0.05));
  cairo_rectangle (cr, x, y, s, s);
  cairo_stroke (cr);
  _ats_set_font (cr, fs * 0.8, FALSE);
  _ats_set_rgb (cr, _ATS_TEXT_RGB);
  _ats_draw_text (cr, text, x + s + fs * 0.4, y + s / 2.0, _ATS_ALIGN_START, _ATS_ALIGN_CENTER,
                  0.0);
  *out_end = x + s + fs * 0.4 + _ats_text_width (cr, text) + fs * 1.5;
}

static void
draw_numeric_ticks (cairo_t *cr,
                    int      first,
                    int      n,
                    double   start,
                    double   length,
                    double   edge,
                    gboolean vertical,
                    double   fs,
                    double   label_fs)
{
  double ticks[16], step = 1.0, cell = length / n, tick_len = fs * 0.3;
  guint  nt, max_ticks = CLAMP ((guint) (length / (fs * (vertical ? 2.5 : 4.0))), 2, 12);

  nt = _ats_nice_ticks (first, first + n - 1, max_ticks, TRUE, ticks, &step);
  _ats_set_font (cr, label_fs, FALSE);
  cairo_set_line_width (cr, MAX (0.5, fs * 0.06));
  for (guint k = 0; k < nt; k++)
    {
      double           pos = start + (ticks[k] - first + 0.5) * cell;
      g_autofree char *txt = g_strdup_printf ("%d", (int) ticks[k]);

      _ats_set_rgb (cr, _ATS_AXIS_RGB);
      if (vertical)
        {
          cairo_move_to (cr, edge, pos);
          cairo_line_to (cr, edge - tick_len, pos);
          cairo_stroke (cr);
          _ats_set_rgb (cr, _ATS_TEXT_RGB);
          _ats_draw_text (cr, txt, edge - tick_len - fs * 0.2, pos, _ATS_ALIGN_END,
                          _ATS_ALIGN_CENTER, 0.0);
        }
      else
        {
          cairo_move_to (cr, pos, edge);
          cairo_line_to (cr, pos, edge + tick_len);
          cairo_stroke (cr);
          _ats_set_rgb (cr, _ATS_TEXT_RGB);
          _ats_draw_text (cr, txt, pos, edge + tick_len + fs * 0.1, _ATS_ALIGN_CENTER,
                          _ATS_ALIGN_START, 0.0);
        }
    }
}

static char *
pooling_note (const AtsHeatmap *hm, const AtsViewRect *v, int pw, int ph)
{
  static const char *names[] = { "max", "mean", "max-|x|" };
  g_autofree char   *range = NULL;

  if (!hm->show_pooling || (v->n_cols <= pw && v->n_rows <= ph))
    return NULL;
  if (v->n_rows != hm->n_rows || v->n_cols != hm->n_cols)
    range = g_strdup_printf (" (rows %d–%d, cols %d–%d)", v->row0, v->row0 + v->n_rows - 1, v->col0,
                             v->col0 + v->n_cols - 1);
  return g_strdup_printf ("display: %d × %d cells%s shown at %d × %d px by %s pooling", v->n_rows,
                          v->n_cols, range ? range : "", MIN (ph, v->n_rows), MIN (pw, v->n_cols),
                          names[CLAMP ((int) hm->pooling, 0, 2)]);
}

typedef struct
{
  AtsScale    scale;
  AtsViewRect v;
  Layout      L;
  char      **rlab;   /* [v.n_rows] sanitized, or NULL */
  char      **clab;   /* [v.n_cols] sanitized, or NULL */
  char       *footer; /* footer with the pooling note */
} Figure;

static void
figure_clear (Figure *f)
{
  g_clear_pointer (&f->rlab, g_strfreev);
  g_clear_pointer (&f->clab, g_strfreev);
  g_clear_pointer (&f->footer, g_free);
}

static char *
footer_with_note (const AtsHeatmap *hm, const char *note)
{
  if (note == NULL)
    return g_strdup (hm->footer);
  if (hm->footer != NULL && *hm->footer != '\0')
    return g_strdup_printf ("%s\n%s", hm->footer, note);
  return g_strdup (note);
}

/* The whole layout of the one-head figure; the plot rectangle is snapped to device pixels. */
static void
figure_layout (const AtsHeatmap *hm, cairo_t *cr, double W, double H, Figure *f)
{
  const char *const *col_src;
  int                pw_px, ph_px;

  memset (f, 0, sizeof *f);
  resolve_view (hm, NULL, &f->v);
  ats_heatmap_resolve_scale (hm, &f->scale);

  col_src = hm->col_labels;
  if (col_src == NULL && hm->n_rows == hm->n_cols)
    col_src = hm->row_labels;
  if (hm->row_labels != NULL && col_src != NULL)
    {
      f->rlab = make_labels (hm->row_labels, f->v.row0, f->v.n_rows);
      f->clab = make_labels (col_src, f->v.col0, f->v.n_cols);
    }

  cairo_save (cr);
  /* lay out without the pooling note, then again with it if the map gets downsampled */
  layout_heatmap (hm, &f->scale, &f->v, f->rlab, f->clab, hm->footer, cr, W, H, &f->L);
  image_size_for (cr, f->L.pw, f->L.ph, &pw_px, &ph_px);
  {
    g_autofree char *note = pooling_note (hm, &f->v, pw_px, ph_px);

    if (note != NULL)
      {
        g_autofree char *tmp = footer_with_note (hm, note);
        g_autofree char *note2 = NULL;

        layout_heatmap (hm, &f->scale, &f->v, f->rlab, f->clab, tmp, cr, W, H, &f->L);
        image_size_for (cr, f->L.pw, f->L.ph, &pw_px, &ph_px);
        note2 = pooling_note (hm, &f->v, pw_px, ph_px);
        f->footer = footer_with_note (hm, note2);
      }
    else
      f->footer = g_strdup (hm->footer);
  }
  cairo_restore (cr);
  snap_rect (cr, &f->L.px, &f->L.py, &f->L.pw, &f->L.ph);
}

/**
 * ats_heatmap_get_plot_rect:
 * @cr: the cairo_t the figure is (or will be) drawn with (for text metrics and pixel snapping)
 *
 * Stores where ats_heatmap_draw() puts the map of the view in a @width x @height figure, in
 * user units of @cr: cell (i, j) of the view covers x + (j - col0) * w / n_cols ... . The GUI
 * uses it to map the pointer to a cell.
 */
void
ats_heatmap_get_plot_rect (const AtsHeatmap *heatmap,
                           cairo_t          *cr,
                           double            width,
                           double            height,
                           double           *out_x,
                           double           *out_y,
                           double           *out_width,
                           double           *out_height)
{
  Figure f;

  g_return_if_fail (heatmap != NULL && heatmap->data != NULL && cr != NULL);

  figure_layout (heatmap, cr, width, height, &f);
  *out_x = f.L.px;
  *out_y = f.L.py;
  *out_width = f.L.pw;
  *out_height = f.L.ph;
  figure_clear (&f);
}

/**
 * ats_heatmap_draw:
 *
 * Draws the one-head figure into (0, 0, @width, @height) of @cr: white background, title,
 * the map with token labels on both axes when they fit (rotated on x; else numeric index
 * ticks), colorbar with ticks, legend of the not-visible / zero styles, provenance footer
 * (with a line stating the downsampling when the map is pooled).
 */
void
ats_heatmap_draw (const AtsHeatmap *heatmap, cairo_t *cr, double W, double H)
{
  const AtsHeatmap *hm = heatmap;
  Figure            f;
  Layout            L;
  AtsViewRect       v;
  double            gap, lw;
  char            **rlab, **clab;

  g_return_if_fail (heatmap != NULL && cr != NULL);

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, W, H);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);

  if (hm->data == NULL || hm->n_rows <= 0 || hm->n_cols <= 0)
    {
      cairo_restore (cr);
      return;
    }

  figure_layout (hm, cr, W, H, &f);
  L = f.L;
  v = f.v;
  rlab = f.rlab;
  clab = f.clab;
  gap = L.fs * 0.4;

  _ats_draw_title (cr, hm->title, W, L.margin, L.fs * 1.15);

  ats_heatmap_draw_map (hm, &f.scale, cr, L.px, L.py, L.pw, L.ph);

  /* frame, outside the map so that it never covers the first or last row / column */
  lw = MAX (0.5, L.fs * 0.06);
  _ats_set_rgb (cr, _ATS_AXIS_RGB);
  cairo_set_line_width (cr, lw);
  /* (0.6 lw off the edge: rasterizer rounding must not touch the edge pixels) */
  cairo_rectangle (cr, L.px - lw * 0.6, L.py - lw * 0.6, L.pw + lw * 1.2, L.ph + lw * 1.2);
  cairo_stroke (cr);

  /* axis labels */
  if (L.tokens)
    {
      double ch = L.ph / v.n_rows, cw = L.pw / v.n_cols;

      _ats_set_font (cr, L.label_fs, FALSE);
      _ats_set_rgb (cr, _ATS_TEXT_RGB);
      for (int r = 0; r < v.n_rows; r++)
        _ats_draw_text (cr, rlab[r], L.px - gap * 0.6, L.py + (r + 0.5) * ch, _ATS_ALIGN_END,
                        _ATS_ALIGN_CENTER, 0.0);
      for (int c = 0; c < v.n_cols; c++)
        _ats_draw_text (cr, clab[c], L.px + (c + 0.5) * cw, L.py + L.ph + gap * 0.6, _ATS_ALIGN_END,
                        _ATS_ALIGN_CENTER, -G_PI / 2.0);
    }
  else
    {
      draw_numeric_ticks (cr, v.row0, v.n_rows, L.py, L.ph, L.px, TRUE, L.fs, L.label_fs);
      draw_numeric_ticks (cr, v.col0, v.n_cols, L.px, L.pw, L.py + L.ph, FALSE, L.fs, L.label_fs);
    }

  _ats_set_font (cr, L.fs * 0.9, FALSE);
  _ats_set_rgb (cr, _ATS_TEXT_RGB);
  _ats_draw_text (cr, hm->y_label ? hm->y_label : "query position i",
                  L.px - gap - L.ylab_w - L.axis_title * 0.35, L.py + L.ph / 2.0, _ATS_ALIGN_CENTER,
                  _ATS_ALIGN_END, -G_PI / 2.0);
  _ats_draw_text (cr, hm->x_label ? hm->x_label : "key position j", L.px + L.pw / 2.0,
                  L.py + L.ph + gap + L.xlab_h + L.axis_title * 0.15, _ATS_ALIGN_CENTER,
                  _ATS_ALIGN_START, 0.0);

  /* colorbar */
  ats_colorbar_draw (cr, L.px + L.pw + L.fs * 1.2, L.py, L.cb_bar, L.ph, hm->colormap, &f.scale,
                     hm->colorbar_label ? hm->colorbar_label : "attention weight", L.fs * 0.8);

  /* legend of the special styles */
  if (L.legend_h > 0.0)
    {
      double lx = L.px, ly = L.py + L.ph + gap + L.xlab_h + L.axis_title + L.fs * 0.1;

      if (hm->causal && v.col0 + v.n_cols - 1 > v.row0)
        draw_legend_item (cr, lx, ly, L.fs, ATS_HEATMAP_MASKED_RGB,
                          use_hatch (hm->mask_style, hm->colormap), "not visible (j > i)", &lx);
      if (hm->mark_zeros)
        draw_legend_item (cr, lx, ly, L.fs, hm->zero_rgb, FALSE, "exactly 0", &lx);
    }

  _ats_draw_footer (cr, f.footer, W, H, L.margin, L.fs * 0.72);

  figure_clear (&f);
  cairo_restore (cr);
}

/* ---- grids ---- */

static void
grid_init_common (AtsHeatmapGrid *grid, const float *const *maps, int n_maps, int T)
{
  memset (grid, 0, sizeof *grid);
  grid->maps = maps;
  grid->n_maps = n_maps;
  grid->T = T;
  grid->colormap = ATS_COLORMAP_VIRIDIS;
  ats_scale_init (&grid->scale, ATS_SCALE_LINEAR);
  grid->pooling = ATS_POOLING_MAX;
  grid->causal = TRUE;
  grid->mask_style = ATS_MASK_STYLE_AUTO;
}

/**
 * ats_heatmap_grid_init_layer:
 * @heads: [n_heads] pointers to [T, T] maps (borrowed)
 *
 * A grid of all heads of one layer, about square, each captioned "head h".
 */
void
ats_heatmap_grid_init_layer (AtsHeatmapGrid *grid, const float *const *heads, int n_heads, int T)
{
  grid_init_common (grid, heads, n_heads, T);
  grid->cell_label_format = "head %d";
}

/**
 * ats_heatmap_grid_init_overview:
 * @maps: [n_layers * n_heads] pointers to [T, T] maps, layer-major (borrowed)
 *
 * A layers x heads thumbnail grid with "L l" row and "H h" column headers.
 */
void
ats_heatmap_grid_init_overview (AtsHeatmapGrid     *grid,
                                const float *const *maps,
                                int                 n_layers,
                                int                 n_heads,
                                int                 T)
{
  grid_init_common (grid, maps, n_layers * n_heads, T);
  grid->n_cols = n_heads;
  grid->row_label_format = "L%d";
  grid->col_label_format = "H%d";
}

static char *
grid_label (const char *const *labels, const char *format, int k)
{
  if (labels != NULL)
    return _ats_label_sanitize (labels[k], 24);
  if (format != NULL)
    {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      return g_strdup_printf (format, k);
#pragma GCC diagnostic pop
    }
  return NULL;
}

/* Resolved shared scale of a grid: automatic range over the visible cells of all maps. */
static void
grid_resolve_scale (const AtsHeatmapGrid *grid, AtsScale *out)
{
  double   lo = INFINITY, hi = -INFINITY;
  gboolean diverging = ats_colormap_is_diverging (grid->colormap);

  *out = grid->scale;
  if (ats_scale_is_auto (out))
    {
      for (int k = 0; k < grid->n_maps; k++)
        {
          AtsHeatmap hm;
          double     a, b;

          if (grid->maps[k] == NULL)
            continue;
          ats_heatmap_init (&hm, grid->maps[k], grid->T, grid->T);
          hm.causal = grid->causal;
          ats_heatmap_get_data_range (&hm, &a, &b);
          if (isfinite (a))
            {
              lo = MIN (lo, a);
              hi = MAX (hi, b);
            }
        }
      if (isfinite (lo) && !diverging)
        lo = MIN (0.0, lo);
    }
  ats_scale_resolve (out, lo, hi, diverging);
}

/**
 * ats_heatmap_grid_draw:
 *
 * Draws the grid figure into (0, 0, @width, @height): title, small heatmaps (no axis labels)
 * with captions and/or row and column headers, one colorbar, footer. With a shared scale the
 * colorbar is in data units; with @per_map_range it shows each map's normalised position.
 */
void
ats_heatmap_grid_draw (const AtsHeatmapGrid *grid, cairo_t *cr, double W, double H)
{
  AtsScale    shared, bar_scale;
  double      fs, margin, title_bottom, footer_h, gap, hdr_fs, cap_fs, cap_h = 0.0;
  double      rowhdr_w = 0.0, colhdr_h = 0.0, cb_bar, cb_w, avail_w, avail_h, side = 0.0;
  double      grid_w, grid_h, x0, y0, line_w;
  int         nc, nr;
  gboolean    row_hdr, col_hdr, caps;
  const char *cb_label;

  g_return_if_fail (grid != NULL && cr != NULL);

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, W, H);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);
  if (grid->n_maps <= 0 || grid->T <= 0 || grid->maps == NULL)
    {
      cairo_restore (cr);
      return;
    }

  nc = grid->n_cols > 0 ? MIN (grid->n_cols, grid->n_maps) : (int) ceil (sqrt (grid->n_maps));
  nr = (grid->n_maps + nc - 1) / nc;
  row_hdr = grid->row_labels != NULL || grid->row_label_format != NULL;
  col_hdr = grid->col_labels != NULL || grid->col_label_format != NULL;
  caps = grid->cell_labels != NULL || grid->cell_label_format != NULL;

  fs = _ats_base_font_size (W, H);
  margin = fs * 0.9;
  title_bottom = (grid->title && *grid->title) ? margin + fs * 1.15 * 1.5 + fs * 0.2 : margin;
  footer_h = _ats_footer_height (grid->footer, fs * 0.72);
  gap = fs * 0.35;
  cb_bar = fs;

  if (grid->per_map_range)
    {
      ats_scale_init (&bar_scale, ATS_SCALE_LINEAR);
      bar_scale.vmin = 0.0;
      bar_scale.vmax = 1.0;
      cb_label = grid->colorbar_label ? grid->colorbar_label : "position in each map's range";
    }
  else
    {
      grid_resolve_scale (grid, &shared);
      bar_scale = shared;
      cb_label = grid->colorbar_label ? grid->colorbar_label : "attention weight";
    }

  hdr_fs = fs * 0.8;
  cap_fs = fs * 0.75;
  for (int iter = 0; iter < 2; iter++)
    {
      rowhdr_w = 0.0;
      if (row_hdr)
        {
          _ats_set_font (cr, hdr_fs, FALSE);
          for (int r = 0; r < nr; r++)
            {
              g_autofree char *t = grid_label (grid->row_labels, grid->row_label_format, r);

              rowhdr_w = MAX (rowhdr_w, _ats_text_width (cr, t));
            }
          rowhdr_w += gap * 1.5;
        }
      colhdr_h = col_hdr ? hdr_fs * 1.5 : 0.0;
      cap_h = caps ? cap_fs * 1.4 : 0.0;
      avail_h = H - title_bottom - footer_h - margin - colhdr_h;
      cb_w =
          ats_colorbar_get_width (cr, cb_bar, MAX (avail_h, 10.0), &bar_scale, cb_label, fs * 0.8);
      avail_w = W - 2.0 * margin - rowhdr_w - fs * 1.2 - cb_w;
      side = MIN ((avail_w - (nc - 1) * gap) / nc, (avail_h - (nr - 1) * gap) / nr - cap_h);
      side = MAX (side, 2.0);
      /* headers and captions no larger than the cells */
      hdr_fs = CLAMP (side * 0.35, 5.0, fs * 0.8);
      cap_fs = CLAMP (side * 0.2, 5.0, fs * 0.75);
    }

  grid_w = nc * side + (nc - 1) * gap;
  grid_h = nr * (side + cap_h) + (nr - 1) * gap;
  x0 = MAX (margin + rowhdr_w, (W - (rowhdr_w + grid_w + fs * 1.2 + cb_w)) / 2.0 + rowhdr_w);
  y0 = title_bottom + colhdr_h + fs * 0.2;
  line_w = MAX (0.4, fs * 0.04);

  _ats_draw_title (cr, grid->title, W, margin, fs * 1.15);

  for (int k = 0; k < grid->n_maps; k++)
    {
      int    r = k / nc, c = k % nc;
      double cx = x0 + c * (side + gap), cy = y0 + r * (side + cap_h + gap) + cap_h;
      double sx = cx, sy = cy, sw = side, sh = side;

      if (caps)
        {
          g_autofree char *t = grid_label (grid->cell_labels, grid->cell_label_format, k);
          g_autofree char *fit = NULL;

          _ats_set_font (cr, cap_fs, FALSE);
          _ats_set_rgb (cr, _ATS_TEXT_RGB);
          fit = _ats_text_fit (cr, t, side + gap * 0.8);
          _ats_draw_text (cr, fit, cx + side / 2.0, cy - cap_fs * 0.25, _ATS_ALIGN_CENTER,
                          _ATS_ALIGN_END, 0.0);
        }
      if (grid->maps[k] != NULL)
        {
          AtsHeatmap hm;

          ats_heatmap_init (&hm, grid->maps[k], grid->T, grid->T);
          hm.colormap = grid->colormap;
          hm.pooling = grid->pooling;
          hm.causal = grid->causal;
          hm.mask_style = grid->mask_style;
          hm.scale = grid->scale;
          snap_rect (cr, &sx, &sy, &sw, &sh);
          ats_heatmap_draw_map (&hm, grid->per_map_range ? NULL : &shared, cr, sx, sy, sw, sh);
        }
      _ats_set_rgb (cr, _ATS_MUTED_RGB);
      cairo_set_line_width (cr, line_w);
      cairo_rectangle (cr, sx, sy, sw, sh);
      cairo_stroke (cr);
    }

  if (row_hdr)
    {
      _ats_set_font (cr, hdr_fs, FALSE);
      _ats_set_rgb (cr, _ATS_TEXT_RGB);
      for (int r = 0; r < nr; r++)
        {
          g_autofree char *t = grid_label (grid->row_labels, grid->row_label_format, r);

          _ats_draw_text (cr, t, x0 - gap * 1.5, y0 + r * (side + cap_h + gap) + cap_h + side / 2.0,
                          _ATS_ALIGN_END, _ATS_ALIGN_CENTER, 0.0);
        }
    }
  if (col_hdr)
    {
      _ats_set_font (cr, hdr_fs, FALSE);
      _ats_set_rgb (cr, _ATS_TEXT_RGB);
      for (int c = 0; c < nc; c++)
        {
          g_autofree char *t = grid_label (grid->col_labels, grid->col_label_format, c);
          g_autofree char *fit = _ats_text_fit (cr, t, side + gap);

          _ats_draw_text (cr, fit, x0 + c * (side + gap) + side / 2.0, y0 - fs * 0.25,
                          _ATS_ALIGN_CENTER, _ATS_ALIGN_END, 0.0);
        }
    }

  ats_colorbar_draw (cr, x0 + grid_w + fs * 1.2, y0 + cap_h, cb_bar, MAX (grid_h - cap_h, fs * 4),
                     grid->colormap, &bar_scale, cb_label, fs * 0.8);
  _ats_draw_footer (cr, grid->footer, W, H, margin, fs * 0.72);
  cairo_restore (cr);
}
