/* test-render.c — libattnscope-render: colormaps, scales, pooling, figures, export */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "attnscope/ats-error.h"
#include "ats-render.h"

/* ---- helpers ---- */

static guint32
pixel_at (cairo_surface_t *s, int x, int y)
{
  guint8 *data = cairo_image_surface_get_data (s);
  int     stride = cairo_image_surface_get_stride (s);

  g_assert_cmpint (x, >=, 0);
  g_assert_cmpint (y, >=, 0);
  g_assert_cmpint (x, <, cairo_image_surface_get_width (s));
  g_assert_cmpint (y, <, cairo_image_surface_get_height (s));
  return ((guint32 *) (data + (gsize) y * stride))[x] & 0xffffff;
}

/* A causal attention-like map [T, T]: row i spreads small random weights over j <= i and puts
 * @sink on key 0; masked entries hold garbage (they must not be drawn). */
static float *
make_sink_map (int T, float sink, guint seed)
{
  float *a = g_new (float, (gsize) T *T); /* [T, T] */
  GRand *r = g_rand_new_with_seed (seed);

  for (int i = 0; i < T; i++)
    for (int j = 0; j < T; j++)
      {
        float v;

        if (j > i)
          v = 0.75f; /* must never show: causally masked */
        else if (j == 0)
          v = sink;
        else
          v = (float) g_rand_double_range (r, 0.0, 0.02);
        a[(gsize) i * T + j] = v;
      }
  g_rand_free (r);
  return a;
}

static cairo_surface_t *
draw_to_image (int w,
               int h,
               void (*draw) (gconstpointer, cairo_t *, double, double),
               gconstpointer obj)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  cairo_t         *cr = cairo_create (s);

  draw (obj, cr, w, h);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_flush (s);
  return s;
}

static void
heatmap_draw_cb (gconstpointer obj, cairo_t *cr, double w, double h)
{
  ats_heatmap_draw (obj, cr, w, h);
}

static guint
count_color (cairo_surface_t *s, guint32 rgb)
{
  guint n = 0;

  for (int y = 0; y < cairo_image_surface_get_height (s); y++)
    for (int x = 0; x < cairo_image_surface_get_width (s); x++)
      if (pixel_at (s, x, y) == rgb)
        n++;
  return n;
}

/* ---- colormaps and scales ---- */

static void
test_colormap_spot_values (void)
{
  /* matplotlib 3.6: matplotlib.colors.to_hex(cm.<name>(0.0 / 0.5 / 1.0)) */
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, 0.0), ==, 0x440154);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, 0.5), ==, 0x21918c);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, 1.0), ==, 0xfde725);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_MAGMA, 0.0), ==, 0x000004);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_MAGMA, 1.0), ==, 0xfcfdbf);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_CIVIDIS, 0.0), ==, 0x00224e);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_CIVIDIS, 1.0), ==, 0xfee838);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_GREY, 0.0), ==, 0x000000);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_GREY, 1.0), ==, 0xffffff);
  /* ColorBrewer RdBu reversed: dark blue, near-white middle, dark red */
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_RDBU, 0.0), ==, 0x053061);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_RDBU, 1.0), ==, 0x67001f);
  {
    guint32 mid = ats_colormap_lookup (ATS_COLORMAP_RDBU, 0.5);

    g_assert_cmpint ((mid >> 16) & 0xff, >=, 0xf0);
    g_assert_cmpint ((mid >> 8) & 0xff, >=, 0xf0);
    g_assert_cmpint (mid & 0xff, >=, 0xf0);
  }
  /* out of range and NaN clamp to the ends */
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, -3.0), ==, 0x440154);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, 7.0), ==, 0xfde725);
  g_assert_cmphex (ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, NAN), ==, 0x440154);
}

static void
test_colormap_names (void)
{
  AtsColormap  cmap;
  AtsScaleKind kind;
  g_autoptr (GError) error = NULL;

  g_assert_true (ats_colormap_from_string ("Magma", &cmap, NULL));
  g_assert_cmpint (cmap, ==, ATS_COLORMAP_MAGMA);
  g_assert_true (ats_colormap_from_string ("gray", &cmap, NULL));
  g_assert_cmpint (cmap, ==, ATS_COLORMAP_GREY);
  g_assert_true (ats_colormap_from_string ("coolwarm", &cmap, NULL));
  g_assert_cmpint (cmap, ==, ATS_COLORMAP_RDBU);
  g_assert_true (ats_colormap_is_diverging (cmap));
  g_assert_false (ats_colormap_from_string ("jet", &cmap, &error));
  g_assert_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "jet"));
  g_clear_error (&error);

  g_assert_true (ats_scale_kind_from_string ("log", &kind, NULL));
  g_assert_cmpint (kind, ==, ATS_SCALE_LOG);
  g_assert_false (ats_scale_kind_from_string ("cubic", &kind, &error));
  g_assert_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT);
}

static void
test_scales (void)
{
  AtsScale s;

  ats_scale_init (&s, ATS_SCALE_LINEAR);
  g_assert_true (ats_scale_is_auto (&s));
  ats_scale_resolve (&s, 0.0, 2.0, FALSE);
  g_assert_cmpfloat_with_epsilon (ats_scale_normalize (&s, 0.5), 0.25, 1e-12);
  g_assert_cmpfloat (ats_scale_normalize (&s, -1.0), ==, 0.0);
  g_assert_cmpfloat (ats_scale_normalize (&s, 5.0), ==, 1.0);
  g_assert_true (isnan (ats_scale_normalize (&s, NAN)));

  /* symmetric automatic range for diverging maps */
  ats_scale_init (&s, ATS_SCALE_LINEAR);
  ats_scale_resolve (&s, -0.1, 0.4, TRUE);
  g_assert_cmpfloat (s.vmin, ==, -0.4);
  g_assert_cmpfloat (s.vmax, ==, 0.4);
  g_assert_cmpfloat_with_epsilon (ats_scale_normalize (&s, 0.0), 0.5, 1e-12);

  /* log: floor 1e-4 * vmax; 1e-2 is half way (in decades) between 1e-4 and 1 */
  ats_scale_init (&s, ATS_SCALE_LOG);
  ats_scale_resolve (&s, 0.0, 1.0, FALSE);
  g_assert_cmpfloat_with_epsilon (ats_scale_get_floor (&s), 1e-4, 1e-18);
  g_assert_cmpfloat_with_epsilon (ats_scale_normalize (&s, 1e-2), 0.5, 1e-12);
  g_assert_cmpfloat (ats_scale_normalize (&s, 0.0), ==, 0.0);
  g_assert_cmpfloat (ats_scale_normalize (&s, 1e-6), ==, 0.0);
  s.log_floor = 1e-3;
  g_assert_cmpfloat_with_epsilon (ats_scale_normalize (&s, 1e-2), 1.0 / 3.0, 1e-12);

  /* power: gamma 0.5 is a square root */
  ats_scale_init (&s, ATS_SCALE_POWER);
  ats_scale_resolve (&s, 0.0, 1.0, FALSE);
  g_assert_cmpfloat_with_epsilon (ats_scale_normalize (&s, 0.25), 0.5, 1e-12);
  s.gamma = 2.0;
  g_assert_cmpfloat_with_epsilon (ats_scale_normalize (&s, 0.5), 0.25, 1e-12);

  /* degenerate data range still gives a usable scale */
  ats_scale_init (&s, ATS_SCALE_LINEAR);
  ats_scale_resolve (&s, 0.0, 0.0, FALSE);
  g_assert_cmpfloat (s.vmax, >, s.vmin);
}

static void
test_colorbar_ends (void)
{
  const AtsColormap cmaps[] = { ATS_COLORMAP_VIRIDIS, ATS_COLORMAP_MAGMA, ATS_COLORMAP_CIVIDIS,
                                ATS_COLORMAP_GREY, ATS_COLORMAP_RDBU };

  for (guint k = 0; k < G_N_ELEMENTS (cmaps); k++)
    {
      const guint32   *lut = ats_colormap_get_lut (cmaps[k]);
      cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 200, 400);
      cairo_t         *cr = cairo_create (s);
      AtsScale         scale;

      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_paint (cr);
      ats_scale_init (&scale, k == 1 ? ATS_SCALE_LOG : ATS_SCALE_LINEAR);
      ats_scale_resolve (&scale, 0.0, 1.0, FALSE);
      ats_colorbar_draw (cr, 20, 50, 20, 300, cmaps[k], &scale, "weight", 12);
      cairo_destroy (cr);
      cairo_surface_flush (s);

      /* the bar spans y 50 .. 350: its top pixel row is the last colour, its bottom row the
       * first (each of the 256 colours gets 300 / 256 rows) */
      g_assert_cmphex (pixel_at (s, 30, 50), ==, lut[255]);
      g_assert_cmphex (pixel_at (s, 30, 349), ==, lut[0]);
      /* the middle is neither end */
      g_assert_cmphex (pixel_at (s, 30, 200), !=, lut[255]);
      g_assert_cmphex (pixel_at (s, 30, 200), !=, lut[0]);
      /* tick labels are drawn to the right of the bar */
      g_assert_cmpuint (count_color (s, 0xffffff), <, 200 * 400 - 20 * 300 - 50);
      cairo_surface_destroy (s);
    }
}

/* ---- heatmap image and pooling ---- */

static void
test_image_sink_column_max_pooling (void)
{
  const int         T = 4096;
  g_autofree float *map = make_sink_map (T, 1.0f, 7); /* [T, T] */
  const guint32    *lut = ats_colormap_get_lut (ATS_COLORMAP_VIRIDIS);
  AtsHeatmap        hm;
  cairo_surface_t  *img;
  guint32           masked = ATS_HEATMAP_MASKED_RGB;

  ats_heatmap_init (&hm, map, T, T);
  img = ats_heatmap_render_image (&hm, NULL, NULL, 400, 400);
  g_assert_cmpint (cairo_image_surface_get_width (img), ==, 400);
  g_assert_cmpint (cairo_image_surface_get_height (img), ==, 400);
  cairo_surface_flush (img);

  /* scale is [0, 1] (auto: max of the visible cells is the sink; the 0.75 of the masked
   * triangle must not count) and every pixel of column 0 shows the sink */
  for (int y = 0; y < 400; y++)
    g_assert_cmphex (pixel_at (img, 0, y), ==, lut[255]);
  /* the rest of the lower triangle is dark (values <= 0.02) */
  {
    guint32 c = pixel_at (img, 100, 300);
    g_assert_cmphex (c, !=, lut[255]);
    g_assert_cmpuint (((c >> 8) & 0xff), <, 0x40); /* dark end of viridis */
  }
  /* upper triangle: not visible, neutral grey, never the 0.75 garbage or zero */
  g_assert_cmphex (pixel_at (img, 399, 0), ==, masked);
  g_assert_cmphex (pixel_at (img, 300, 100), ==, masked);
  g_assert_cmphex (pixel_at (img, 300, 100), !=, lut[0]);
  cairo_surface_destroy (img);

  /* mean pooling dilutes the one-key column over its ~10-key block: not the brightest */
  hm.pooling = ATS_POOLING_MEAN;
  img = ats_heatmap_render_image (&hm, NULL, NULL, 400, 400);
  cairo_surface_flush (img);
  g_assert_cmphex (pixel_at (img, 0, 200), !=, lut[255]);
  cairo_surface_destroy (img);
}

static void
test_image_small_map_nearest (void)
{
  /* 4 x 4 non-causal map, values 0, 1/15, ..., 1 */
  float            map[16]; /* [4, 4] */
  const guint32   *lut = ats_colormap_get_lut (ATS_COLORMAP_MAGMA);
  AtsHeatmap       hm;
  AtsScale         scale;
  cairo_surface_t *img, *target;
  cairo_t         *cr;

  for (int k = 0; k < 16; k++)
    map[k] = k / 15.0f;
  ats_heatmap_init (&hm, map, 4, 4);
  hm.causal = FALSE;
  hm.colormap = ATS_COLORMAP_MAGMA;

  img = ats_heatmap_render_image (&hm, NULL, NULL, 400, 400);
  g_assert_cmpint (cairo_image_surface_get_width (img), ==, 4); /* one pixel per cell */
  ats_heatmap_resolve_scale (&hm, &scale);

  target = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 400, 400);
  cr = cairo_create (target);
  ats_heatmap_paint_image (cr, img, 0, 0, 400, 400);
  cairo_destroy (cr);
  cairo_surface_flush (target);

  /* nearest neighbour: even next to a cell border the colour is the cell's, unblended */
  for (int k = 0; k < 16; k++)
    {
      int     r = k / 4, c = k % 4;
      guint32 want = lut[(int) (ats_scale_normalize (&scale, map[k]) * 255.0 + 0.5)];

      g_assert_cmphex (pixel_at (target, c * 100 + 50, r * 100 + 50), ==, want);
      g_assert_cmphex (pixel_at (target, c * 100 + 1, r * 100 + 98), ==, want);
      g_assert_cmphex (pixel_at (target, c * 100 + 98, r * 100 + 1), ==, want);
    }
  g_assert_cmphex (pixel_at (target, 50, 50), ==, lut[0]);
  g_assert_cmphex (pixel_at (target, 350, 350), ==, lut[255]);
  cairo_surface_destroy (target);
  cairo_surface_destroy (img);
}

static void
test_image_view_and_zeros (void)
{
  /* Elastic-Softmax-like 8 x 8 rows with exact zeros */
  float            map[64] = { 0 }; /* [8, 8] */
  AtsHeatmap       hm;
  AtsViewRect      view = { 4, 0, 4, 2 }; /* rows 4..7, cols 0..1 */
  cairo_surface_t *img;

  for (int i = 0; i < 8; i++)
    map[i * 8 + 0] = 0.5f; /* column 0 non-zero, the rest exact zeros */
  ats_heatmap_init (&hm, map, 8, 8);
  hm.mark_zeros = TRUE;
  hm.zero_rgb = 0xff00ff;

  img = ats_heatmap_render_image (&hm, NULL, NULL, 100, 100);
  cairo_surface_flush (img);
  g_assert_cmphex (pixel_at (img, 1, 3), ==, 0xff00ff);               /* visible zero */
  g_assert_cmphex (pixel_at (img, 5, 3), ==, ATS_HEATMAP_MASKED_RGB); /* masked */
  g_assert_cmphex (pixel_at (img, 0, 3), ==, ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, 1.0));
  cairo_surface_destroy (img);

  img = ats_heatmap_render_image (&hm, NULL, &view, 100, 100);
  g_assert_cmpint (cairo_image_surface_get_width (img), ==, 2);
  g_assert_cmpint (cairo_image_surface_get_height (img), ==, 4);
  cairo_surface_flush (img);
  g_assert_cmphex (pixel_at (img, 0, 0), ==, ats_colormap_lookup (ATS_COLORMAP_VIRIDIS, 1.0));
  g_assert_cmphex (pixel_at (img, 1, 2), ==, 0xff00ff);
  cairo_surface_destroy (img);
}

static void
test_figure_sink_and_mask (void)
{
  const int         T = 4096;
  g_autofree float *map = make_sink_map (T, 1.0f, 11); /* [T, T] */
  const guint32    *lut = ats_colormap_get_lut (ATS_COLORMAP_VIRIDIS);
  AtsHeatmap        hm;
  cairo_surface_t  *s;
  cairo_t          *cr;
  double            x, y, w, h;
  int               px, py, pw, ph;

  ats_heatmap_init (&hm, map, T, T);
  hm.title = "sink head";
  hm.footer = "model test · run 0 · layer 0 · head 0 · float32";

  s = draw_to_image (560, 520, heatmap_draw_cb, &hm);
  cr = cairo_create (s);
  ats_heatmap_get_plot_rect (&hm, cr, 560, 520, &x, &y, &w, &h);
  cairo_destroy (cr);
  px = (int) x, py = (int) y, pw = (int) w, ph = (int) h;
  g_assert_cmpfloat (x, ==, px); /* snapped to pixels */
  g_assert_cmpint (pw, >, 200);
  g_assert_cmpint (pw, <, T); /* so it is downsampled */

  /* the first pixel column of the map is the sink's colour from top to bottom */
  for (int yy = py; yy < py + ph; yy++)
    g_assert_cmphex (pixel_at (s, px, yy), ==, lut[255]);
  /* upper right: not visible; lower left: dark visible cells */
  g_assert_cmphex (pixel_at (s, px + pw - 3, py + 2), ==, ATS_HEATMAP_MASKED_RGB);
  g_assert_cmphex (pixel_at (s, px + pw * 3 / 4, py + ph / 4), ==, ATS_HEATMAP_MASKED_RGB);
  g_assert_cmphex (pixel_at (s, px + pw / 4, py + ph * 3 / 4), !=, ATS_HEATMAP_MASKED_RGB);
  g_assert_cmphex (pixel_at (s, px + pw / 4, py + ph * 3 / 4), !=, lut[255]);
  /* the colorbar is in the figure: its ends appear */
  g_assert_cmpuint (count_color (s, lut[0]), >, 0);
  cairo_surface_destroy (s);
}

/* Total darkness of the dark grey (text) pixels of a figure in the band of the plot's rows
 * left of the plot (row labels, y axis title) and below it (column labels). */
static guint64
label_ink (const AtsHeatmap *hm, cairo_surface_t *s)
{
  cairo_t *cr = cairo_create (s);
  double   x, y, w, h;
  guint64  ink = 0;

  ats_heatmap_get_plot_rect (hm, cr, cairo_image_surface_get_width (s),
                             cairo_image_surface_get_height (s), &x, &y, &w, &h);
  cairo_destroy (cr);
  for (int py = 0; py < cairo_image_surface_get_height (s); py++)
    for (int px = 0; px < cairo_image_surface_get_width (s); px++)
      {
        guint32  c = pixel_at (s, px, py);
        guint    r = c >> 16, g = (c >> 8) & 0xff, b = c & 0xff;
        gboolean left = px < x - 3 && py >= y && py < y + h;
        gboolean below = py > y + h + 3 && px >= x && px < x + w;

        if ((left || below) && r == g && g == b && r < 0xb0)
          ink += 255 - r;
      }
  return ink;
}

static void
test_figure_token_labels (void)
{
  static const char *toks[] = {
    "<|endoftext|>", "The", " cat", " sat", "\n", " on", " the", " mat"
  };
  float             map[64];                            /* [8, 8] */
  g_autofree float *big = make_sink_map (256, 0.5f, 5); /* [256, 256] */
  g_autofree char **big_toks = g_new0 (char *, 257);
  AtsHeatmap        hm;
  cairo_surface_t  *with, *without;
  guint64           ink_without;

  for (int k = 0; k < 64; k++)
    map[k] = (k % 8 == 0) ? 0.9f : 0.02f;
  ats_heatmap_init (&hm, map, 8, 8);
  without = draw_to_image (500, 450, heatmap_draw_cb, &hm);
  ink_without = label_ink (&hm, without);
  hm.row_labels = toks; /* square map: used for the columns too */
  with = draw_to_image (500, 450, heatmap_draw_cb, &hm);
  /* 8 token labels on each axis carry much more text than the 4 + 4 index ticks */
  g_assert_cmpuint (label_ink (&hm, with), >, ink_without * 3 / 2);
  cairo_surface_destroy (with);
  cairo_surface_destroy (without);

  /* 256 labels do not fit in 450 px: the figure falls back to index ticks, same pixels */
  for (int k = 0; k < 256; k++)
    big_toks[k] = g_strdup_printf ("tok%d", k);
  ats_heatmap_init (&hm, big, 256, 256);
  without = draw_to_image (500, 450, heatmap_draw_cb, &hm);
  hm.row_labels = (const char *const *) big_toks;
  with = draw_to_image (500, 450, heatmap_draw_cb, &hm);
  g_assert_cmpint (memcmp (cairo_image_surface_get_data (with),
                           cairo_image_surface_get_data (without),
                           (gsize) cairo_image_surface_get_stride (with) * 450),
                   ==, 0);
  cairo_surface_destroy (with);
  cairo_surface_destroy (without);
  for (int k = 0; k < 256; k++)
    g_free (big_toks[k]);
}

/* ---- grids, plots, matrices draw without errors and show their data ---- */

static void
grid_draw_cb (gconstpointer obj, cairo_t *cr, double w, double h)
{
  ats_heatmap_grid_draw (obj, cr, w, h);
}

static void
plot_draw_cb (gconstpointer obj, cairo_t *cr, double w, double h)
{
  ats_plot_draw ((AtsPlot *) obj, cr, w, h);
}

static void
matrix_draw_cb (gconstpointer obj, cairo_t *cr, double w, double h)
{
  ats_heat_matrix_draw (obj, cr, w, h);
}

static void
test_grids (void)
{
  const int        L = 3, H = 4, T = 64;
  float           *store[12];
  const float     *maps[12];
  AtsHeatmapGrid   grid;
  cairo_surface_t *s;
  const guint32   *lut = ats_colormap_get_lut (ATS_COLORMAP_VIRIDIS);

  for (int k = 0; k < L * H; k++)
    maps[k] = store[k] = make_sink_map (T, 1.0f, k);

  ats_heatmap_grid_init_layer (&grid, maps, H, T);
  grid.title = "layer 0";
  s = draw_to_image (700, 600, grid_draw_cb, &grid);
  g_assert_cmpuint (count_color (s, lut[255]), >, H * 20);
  g_assert_cmpuint (count_color (s, ATS_HEATMAP_MASKED_RGB), >, 1000);
  cairo_surface_destroy (s);

  ats_heatmap_grid_init_overview (&grid, maps, L, H, T);
  grid.per_map_range = TRUE;
  maps[5] = NULL; /* a missing head leaves a blank cell */
  s = draw_to_image (800, 600, grid_draw_cb, &grid);
  g_assert_cmpuint (count_color (s, lut[255]), >, (L * H - 1) * 10);
  cairo_surface_destroy (s);

  for (int k = 0; k < L * H; k++)
    g_free (store[k]);
}

static void
test_plots (void)
{
  g_autoptr (AtsPlot) plot = ats_plot_new_per_layer ("first-token mass", "mass");
  double           y1[6] = { 0.1, 0.5, 0.7, NAN, 0.8, 0.85 };
  double           y2[6] = { 0.05, 0.1, 0.12, 0.15, 0.2, 0.2 };
  double           err[6] = { 0.02, 0.02, 0.03, 0.03, 0.02, 0.01 };
  double           x[5] = { -1, 1, 10, 100, 1000 }, yl[5] = { 1, 2, 3, 4, 5 };
  cairo_surface_t *s;

  ats_plot_set_series_error (plot, ats_plot_add_series (plot, "standard", NULL, y1, 6), err);
  ats_plot_add_series (plot, "Lazy Attention", NULL, y2, 6);
  g_assert_cmpuint (ats_plot_get_n_series (plot), ==, 2);
  s = draw_to_image (640, 400, plot_draw_cb, plot);
  g_assert_cmpuint (count_color (s, ats_plot_get_series_color (0)), >, 50);
  g_assert_cmpuint (count_color (s, ats_plot_get_series_color (1)), >, 50);
  cairo_surface_destroy (s);
  g_clear_pointer (&plot, ats_plot_free);

  /* log x: the point at x = -1 is left out, no error */
  plot = ats_plot_new (ATS_PLOT_LINES);
  ats_plot_set_log_x (plot, TRUE);
  ats_plot_add_series (plot, NULL, x, yl, 5);
  s = draw_to_image (640, 400, plot_draw_cb, plot);
  g_assert_cmpuint (count_color (s, ats_plot_get_series_color (0)), >, 50);
  cairo_surface_destroy (s);
  g_clear_pointer (&plot, ats_plot_free);

  plot = ats_plot_new (ATS_PLOT_BARS);
  ats_plot_add_series (plot, "base", NULL, y2, 6);
  ats_plot_add_series (plot, "merged", NULL, y1, 6);
  s = draw_to_image (640, 400, plot_draw_cb, plot);
  g_assert_cmpuint (count_color (s, ats_plot_get_series_color (1)), >, 500);
  cairo_surface_destroy (s);
}

static void
test_heat_matrix (void)
{
  float            v[6] = { 0.0f, 1.0f, NAN, 0.5f, 0.25f, 0.75f }; /* [2, 3] */
  const char      *cols[3] = { "q_proj", "k_proj", "v_proj" };
  AtsHeatMatrix    m;
  cairo_surface_t *s;
  const guint32   *lut = ats_colormap_get_lut (ATS_COLORMAP_CIVIDIS);

  ats_heat_matrix_init (&m, v, 2, 3);
  m.col_labels = cols;
  m.colormap = ATS_COLORMAP_CIVIDIS;
  m.annotate = TRUE;
  s = draw_to_image (600, 400, matrix_draw_cb, &m);
  g_assert_cmpuint (count_color (s, lut[0]), >, 1000);                 /* the 0 cell */
  g_assert_cmpuint (count_color (s, lut[255]), >, 1000);               /* the 1 cell */
  g_assert_cmpuint (count_color (s, ATS_HEATMAP_MASKED_RGB), >, 1000); /* NaN cell */
  cairo_surface_destroy (s);
}

/* ---- export ---- */

static gboolean
has_bytes (const char *data, gsize len, const char *needle)
{
  gsize n = strlen (needle);

  for (gsize i = 0; i + n <= len; i++)
    if (memcmp (data + i, needle, n) == 0)
      return TRUE;
  return FALSE;
}

static char *
tmp_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("ats-render-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_dir (const char *dir)
{
  GDir       *d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}

static guint
count_dir_entries (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d && g_dir_read_name (d))
    n++;
  if (d)
    g_dir_close (d);
  return n;
}

typedef struct
{
  gboolean saw_svg_root;
  gboolean saw_title;
  int      depth;
} SvgCheck;

static void
svg_start (GMarkupParseContext *ctx,
           const char          *element,
           const char         **names,
           const char         **values,
           gpointer             data,
           GError             **error)
{
  SvgCheck *c = data;

  if (c->depth == 0 && g_strcmp0 (element, "svg") == 0)
    c->saw_svg_root = TRUE;
  if (g_strcmp0 (element, "title") == 0)
    c->saw_title = TRUE;
  c->depth++;
}

static void
svg_end (GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
  ((SvgCheck *) data)->depth--;
}

static void
test_export_formats (void)
{
  g_autofree char  *dir = tmp_dir ();
  g_autofree char  *png = g_build_filename (dir, "head.png", NULL);
  g_autofree char  *svg = g_build_filename (dir, "head.svg", NULL);
  g_autofree char  *pdf = g_build_filename (dir, "head.pdf", NULL);
  g_autofree float *map = make_sink_map (96, 0.8f, 3); /* [96, 96] */
  AtsExportMetadata md = { "L0 H0 <sink> & co", "model test · prompt “héllo” · float32", NULL };
  AtsHeatmap        hm;
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize            len;

  ats_heatmap_init (&hm, map, 96, 96);
  hm.title = "export test";
  hm.footer = "model test";

  /* PNG: 300 x 200 pt at 144 dpi = 600 x 400 px, metadata chunk present, cairo reads it */
  g_assert_true (ats_export_heatmap (&hm, png, ATS_EXPORT_FORMAT_AUTO, 300, 200, 144, &md, &error));
  g_assert_no_error (error);
  {
    cairo_surface_t *back = cairo_image_surface_create_from_png (png);

    g_assert_cmpint (cairo_surface_status (back), ==, CAIRO_STATUS_SUCCESS);
    g_assert_cmpint (cairo_image_surface_get_width (back), ==, 600);
    g_assert_cmpint (cairo_image_surface_get_height (back), ==, 400);
    cairo_surface_destroy (back);
  }
  g_assert_true (g_file_get_contents (png, &contents, &len, NULL));
  g_assert_cmpmem (contents, 8, "\x89PNG\r\n\x1a\n", 8);
  g_assert_true (has_bytes (contents, len, "iTXtDescription"));
  g_clear_pointer (&contents, g_free);

  /* SVG parses as XML and carries the (escaped) title */
  g_assert_true (ats_export_heatmap (&hm, svg, ATS_EXPORT_FORMAT_AUTO, 300, 200, 0, &md, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (svg, &contents, &len, NULL));
  {
    GMarkupParser        parser = { svg_start, svg_end, NULL, NULL, NULL };
    SvgCheck             check = { 0 };
    GMarkupParseContext *ctx = g_markup_parse_context_new (&parser, 0, &check, NULL);

    g_assert_true (g_markup_parse_context_parse (ctx, contents, len, &error));
    g_assert_no_error (error);
    g_assert_true (g_markup_parse_context_end_parse (ctx, &error));
    g_assert_no_error (error);
    g_markup_parse_context_free (ctx);
    g_assert_true (check.saw_svg_root);
    g_assert_true (check.saw_title);
  }
  g_clear_pointer (&contents, g_free);

  /* PDF starts with %PDF and pdfinfo accepts it */
  g_assert_true (ats_export_heatmap (&hm, pdf, ATS_EXPORT_FORMAT_PDF, 300, 200, 0, &md, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (pdf, &contents, &len, NULL));
  g_assert_cmpmem (contents, 5, "%PDF-", 5);
  g_clear_pointer (&contents, g_free);
  {
    g_autofree char *pdfinfo = g_find_program_in_path ("pdfinfo");

    if (pdfinfo == NULL)
      g_test_message ("pdfinfo (poppler-utils) not installed: PDF checked by header only");
    else
      {
        const char      *argv[] = { pdfinfo, pdf, NULL };
        g_autofree char *out = NULL, *err = NULL;
        int              status = -1;

        g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                                     &err, &status, &error));
        g_assert_no_error (error);
        g_assert_true (g_spawn_check_wait_status (status, NULL));
        g_assert_nonnull (strstr (out, "Pages:"));
        g_assert_nonnull (strstr (out, "L0 H0 <sink> & co"));
        g_assert_nonnull (strstr (out, "300 x 200 pts"));
      }
  }

  /* no temporary files left next to the outputs */
  g_assert_cmpuint (count_dir_entries (dir), ==, 3);
  remove_dir (dir);
}

static void
test_export_errors (void)
{
  g_autofree char *dir = tmp_dir ();
  g_autofree char *missing = g_build_filename (dir, "no-such-dir", "out.png", NULL);
  g_autofree char *blocker = g_build_filename (dir, "file.txt", NULL);
  g_autofree char *under_file = g_build_filename (blocker, "out.pdf", NULL);
  g_autofree char *existing = g_build_filename (dir, "keep.png", NULL);
  g_autofree char *contents = NULL;
  float            map[4] = { 1, 0, 0.5f, 0.5f }; /* [2, 2] */
  AtsHeatmap       hm;
  AtsExportFormat  fmt;
  g_autoptr (GError) error = NULL;

  ats_heatmap_init (&hm, map, 2, 2);

  /* unwritable: directory does not exist */
  g_assert_false (
      ats_export_heatmap (&hm, missing, ATS_EXPORT_FORMAT_AUTO, 200, 200, 0, NULL, &error));
  g_assert_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));

  /* unwritable: parent is a regular file */
  g_assert_true (g_file_set_contents (blocker, "x", 1, NULL));
  g_assert_false (
      ats_export_heatmap (&hm, under_file, ATS_EXPORT_FORMAT_AUTO, 200, 200, 0, NULL, &error));
  g_assert_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_IO);
  g_assert_nonnull (strstr (error->message, under_file));
  g_clear_error (&error);

  /* a failing export leaves an existing file untouched */
  g_assert_true (g_file_set_contents (existing, "old", 3, NULL));
  g_assert_false (
      ats_export_heatmap (&hm, existing, ATS_EXPORT_FORMAT_AUTO, -5, 200, 0, NULL, &error));
  g_assert_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (existing, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "old");

  /* unknown extension */
  g_assert_false (ats_export_format_from_path ("figure.jpg", &fmt, &error));
  g_assert_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (ats_export_format_from_path ("dir.png/figure", &fmt, &error));
  g_clear_error (&error);
  g_assert_true (ats_export_format_from_path ("Figure.PDF", &fmt, NULL));
  g_assert_cmpint (fmt, ==, ATS_EXPORT_FORMAT_PDF);

  /* only the two files this test made */
  g_assert_cmpuint (count_dir_entries (dir), ==, 2);
  remove_dir (dir);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/render/colormap/spot-values", test_colormap_spot_values);
  g_test_add_func ("/render/colormap/names", test_colormap_names);
  g_test_add_func ("/render/scale/normalize", test_scales);
  g_test_add_func ("/render/colorbar/ends", test_colorbar_ends);
  g_test_add_func ("/render/heatmap/sink-column-max-pooling", test_image_sink_column_max_pooling);
  g_test_add_func ("/render/heatmap/small-map-nearest", test_image_small_map_nearest);
  g_test_add_func ("/render/heatmap/view-and-zeros", test_image_view_and_zeros);
  g_test_add_func ("/render/heatmap/figure-sink-and-mask", test_figure_sink_and_mask);
  g_test_add_func ("/render/heatmap/figure-token-labels", test_figure_token_labels);
  g_test_add_func ("/render/grid/draw", test_grids);
  g_test_add_func ("/render/plot/draw", test_plots);
  g_test_add_func ("/render/matrix/draw", test_heat_matrix);
  g_test_add_func ("/render/export/formats", test_export_formats);
  g_test_add_func ("/render/export/errors", test_export_errors);

  return g_test_run ();
}
