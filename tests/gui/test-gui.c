/* test-gui.c — the desktop app under Xvfb: open captures, drive the views, check pixels
 *
 * Runs as `xvfb-run -a dbus-run-session -- test-gui` with GTK_A11Y=none (tests/gui/meson.build).
 * Sample captures come from tests/gui/make_sample_capture.py (h5py), with one known pattern
 * per head: head % 4 == 0 is an attention sink on key 0.
 */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "ats-application.h"
#include "ats-colorize.h"
#include "ats-gui-util.h"
#include "ats-sweep-view.h"
#include "ats-weight-diff-window.h"
#include "ats-plot-view.h"
#include "ats-whatif-job.h"
#include "ats-window.h"
#include "gui-test-util.h"

static char *tmp_dir;
static char *sample_path;  /* softmax, 4 x 4, 2 runs */
static char *elastic_path; /* elastic, same prompt */
static char *garbage_path; /* not HDF5 */
static char *foreign_path; /* HDF5, not a capture */
static char *nometrics_path;
static char *uniform_path; /* every row exactly uniform, f32 */

#define TIMEOUT_MS 30000

static char *
tmp_file (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

static AtsWindow *
open_window (const char *path)
{
  AtsWindow *window = ats_window_new (NULL);

  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 760);
  gtk_window_present (GTK_WINDOW (window));
  if (path != NULL)
    ats_window_open_path (window, path);
  g_assert_true (gui_test_wait_idle (window, 200, TIMEOUT_MS));
  return window;
}

static void
close_window (AtsWindow *window)
{
  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

/* The expected map, read by h5py (f16 -> f32 is exact). */
static float *
expected_head (const char *path, guint run, guint layer, guint head, gsize *n)
{
  g_autofree char *out = tmp_file ("expected.bin");
  g_autofree char *r = g_strdup_printf ("%u", run);
  g_autofree char *l = g_strdup_printf ("%u", layer);
  g_autofree char *h = g_strdup_printf ("%u", head);
  const char      *args[] = { "--dump-head", r, l, h, out, NULL };
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  g_assert_true (gui_test_make_capture (path, args));
  g_file_get_contents (out, &data, &len, &error);
  g_assert_no_error (error);
  *n = len / sizeof (float);
  return (float *) data;
}

static void
assert_matrix_equals_file (AtsMatrix *m, const char *path, guint run, guint layer, guint head)
{
  gsize             n = 0;
  g_autofree float *expected = expected_head (path, run, layer, head, &n);

  g_assert_nonnull (m);
  g_assert_cmpuint (n, ==, (gsize) m->n_rows * m->n_cols);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (m->data[i], ==, expected[i]);
}

/* --- tests --- */

static void
test_open_capture (void)
{
  AtsWindow       *window = open_window (sample_path);
  AtsDocument     *doc = ats_window_get_document (window);
  AtsOverviewGrid *grid = ats_window_get_overview_grid (window);
  AtsTokenView    *tokens = ats_window_get_token_view (window);
  AtsMetrics      *metrics;
  guint            layer, head;
  g_autofree char *text = NULL;

  g_assert_nonnull (doc);
  g_assert_cmpuint (ats_document_get_n_layers (doc), ==, 4);
  g_assert_cmpuint (ats_document_get_n_heads (doc), ==, 4);
  g_assert_cmpuint (ats_document_get_n_runs (doc), ==, 2);
  g_assert_cmpstr (ats_window_get_view (window), ==, "overview");

  /* the overview holds every head's thumbnail and the run's metrics */
  g_assert_cmpuint (ats_overview_grid_get_n_layers (grid), ==, 4);
  g_assert_cmpuint (ats_overview_grid_get_n_heads (grid), ==, 4);
  for (guint l = 0; l < 4; l++)
    for (guint h = 0; h < 4; h++)
      g_assert_nonnull (ats_overview_grid_get_thumbnail (grid, l, h));
  metrics = ats_window_get_metrics (window);
  g_assert_nonnull (metrics);
  /* head 0 is the sink head in every layer; head 1 (previous token) is not */
  for (guint l = 0; l < 4; l++)
    {
      g_assert_cmpfloat (ats_metrics_get_head (metrics, "first_token_mass", l, 0), >, 0.5);
      g_assert_cmpfloat (ats_metrics_get_head (metrics, "first_token_mass", l, 1), <, 0.2);
    }

  /* the head view shows layer 0 head 0 exactly as stored */
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 0);
  g_assert_cmpuint (head, ==, 0);
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 0, 0, 0);
  g_assert_true (ats_heatmap_view_get_matrix (ats_window_get_heatmap_view (window)) ==
                 ats_window_get_head_matrix (window));

  /* tokens of run 0 */
  g_assert_cmpuint (ats_token_view_get_n_tokens (tokens), ==, 24);
  g_assert_true (ats_token_view_is_sink (tokens, 0));
  g_assert_false (ats_token_view_is_sink (tokens, 5));

  /* overview hover text and click mapping */
  text = ats_overview_grid_format_cell (grid, 2, 0);
  g_assert_nonnull (strstr (text, "Layer 2 · head 0"));
  g_assert_nonnull (strstr (text, "First-token mass"));
  for (guint l = 0; l < 4; l++)
    for (guint h = 0; h < 4; h++)
      {
        double x, y;
        guint  rl, rh;

        g_assert_true (ats_overview_grid_cell_to_pixel (grid, l, h, &x, &y));
        g_assert_true (ats_overview_grid_pixel_to_cell (grid, x, y, &rl, &rh));
        g_assert_cmpuint (rl, ==, l);
        g_assert_cmpuint (rh, ==, h);
      }

  /* a second run switches tokens and maps */
  ats_window_select_run (window, 1);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_cmpuint (ats_token_view_get_n_tokens (tokens), ==, 19);
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 1, 0, 0);

  close_window (window);
}

static void
test_navigation (void)
{
  AtsWindow      *window = open_window (sample_path);
  AtsHeatmapView *view = ats_window_get_heatmap_view (window);
  guint           layer, head;

  ats_window_show_view (window, "head");
  g_assert_cmpstr (ats_window_get_view (window), ==, "head");

  /* the key bindings emit ::navigate (Right = next head, Page Down = next layer) */
  g_signal_emit_by_name (view, "navigate", 0, 1);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 0);
  g_assert_cmpuint (head, ==, 1);
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 0, 0, 1);

  g_signal_emit_by_name (view, "navigate", 1, 0);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 1);
  g_assert_cmpuint (head, ==, 1);
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 0, 1, 1);

  /* the same through the window actions */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "win.next-head", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "win.next-head", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "win.next-head", NULL));
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  /* head 3 + 1 wraps into the next layer */
  g_assert_cmpuint (layer, ==, 2);
  g_assert_cmpuint (head, ==, 0);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "win.previous-layer", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "win.previous-layer", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "win.previous-layer", NULL));
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 0); /* clamped */
  g_assert_cmpuint (head, ==, 0);
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 0, 0, 0);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.select-head", "(uu)", 3, 2));
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 3);
  g_assert_cmpuint (head, ==, 2);
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 0, 3, 2);

  /* overview click opens the head */
  ats_window_show_view (window, "overview");
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_signal_emit_by_name (ats_window_get_overview_grid (window), "head-activated", 1, 3);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 1);
  g_assert_cmpuint (head, ==, 3);
  g_assert_cmpstr (ats_window_get_view (window), ==, "head");

  close_window (window);
}

static void
check_mapping (AtsHeatmapView *view, AtsMatrix *m)
{
  double zoom = ats_heatmap_view_get_zoom (view);
  double x0, y0;

  /* cell (0, 0)'s top-left corner */
  g_assert_true (ats_heatmap_view_cell_to_pixel (view, 0, 0, &x0, &y0));
  x0 -= zoom / 2;
  y0 -= zoom / 2;

  for (guint r = 0; r < m->n_rows; r++)
    for (guint c = 0; c < m->n_cols; c++)
      {
        double cx, cy;
        guint  rr, rc;

        g_assert_true (ats_heatmap_view_cell_to_pixel (view, r, c, &cx, &cy));
        g_assert_true (ats_heatmap_view_pixel_to_cell (view, cx, cy, &rr, &rc));
        g_assert_cmpuint (rr, ==, r);
        g_assert_cmpuint (rc, ==, c);
        /* the cell's edges belong to it: first and last pixel position inside */
        g_assert_true (ats_heatmap_view_pixel_to_cell (view, x0 + c * zoom + 1e-6,
                                                       y0 + r * zoom + 1e-6, &rr, &rc));
        g_assert_cmpuint (rr, ==, r);
        g_assert_cmpuint (rc, ==, c);
        g_assert_true (ats_heatmap_view_pixel_to_cell (view, x0 + (c + 1) * zoom - 1e-6,
                                                       y0 + (r + 1) * zoom - 1e-6, &rr, &rc));
        g_assert_cmpuint (rr, ==, r);
        g_assert_cmpuint (rc, ==, c);
      }

  /* just outside the map */
  g_assert_false (ats_heatmap_view_pixel_to_cell (view, x0 - 0.5, y0 + 1, NULL, NULL));
  g_assert_false (
      ats_heatmap_view_pixel_to_cell (view, x0 + m->n_cols * zoom + 0.01, y0 + 1, NULL, NULL));
}

static void
test_hover_mapping (void)
{
  AtsWindow       *window = open_window (sample_path);
  AtsHeatmapView  *view = ats_window_get_heatmap_view (window);
  AtsMatrix       *m;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  double           x, y;
  guint            row, col;

  ats_window_show_view (window, "head");
  g_assert_true (gui_test_wait_idle (window, 100, TIMEOUT_MS));
  m = ats_heatmap_view_get_matrix (view);
  g_assert_nonnull (m);
  g_assert_true (ats_heatmap_view_get_fitted (view));
  g_assert_cmpfloat (ats_heatmap_view_get_zoom (view), >=, 2.0);
  check_mapping (view, m);

  /* tooltip text of a sink cell: query token, key token, positions, weight */
  text = ats_heatmap_view_format_cell (view, 4, 0);
  expected =
      g_strdup_printf ("query #4 “␣fox”\nkey #0 “<s>”\nweight %.4f", ats_matrix_get (m, 4, 0));
  g_assert_cmpstr (text, ==, expected);
  g_clear_pointer (&text, g_free);
  text = ats_heatmap_view_format_cell (view, 2, 9);
  g_assert_nonnull (strstr (text, "not visible"));

  /* hovering a pixel selects the cell under it */
  g_assert_true (ats_heatmap_view_cell_to_pixel (view, 7, 3, &x, &y));
  ats_heatmap_view_set_hover (view, x, y);
  g_assert_true (ats_heatmap_view_get_hover_cell (view, &row, &col));
  g_assert_cmpuint (row, ==, 7);
  g_assert_cmpuint (col, ==, 3);
  ats_heatmap_view_clear_hover (view);

  /* zooming around a point keeps the cell under it; panning moves the mapping exactly */
  g_assert_true (ats_heatmap_view_cell_to_pixel (view, 10, 5, &x, &y));
  ats_heatmap_view_zoom_at (view, 3.0, x + 0.3, y - 0.2);
  g_assert_false (ats_heatmap_view_get_fitted (view));
  g_assert_true (ats_heatmap_view_pixel_to_cell (view, x + 0.3, y - 0.2, &row, &col));
  g_assert_cmpuint (row, ==, 10);
  g_assert_cmpuint (col, ==, 5);
  check_mapping (view, m);
  {
    double bx, by, ax, ay;

    g_assert_true (ats_heatmap_view_cell_to_pixel (view, 10, 5, &bx, &by));
    ats_heatmap_view_pan (view, 17, -9);
    g_assert_true (ats_heatmap_view_cell_to_pixel (view, 10, 5, &ax, &ay));
    g_assert_cmpfloat_with_epsilon (ax - bx, 17, 1e-9);
    g_assert_cmpfloat_with_epsilon (ay - by, -9, 1e-9);
  }
  ats_heatmap_view_fit (view);
  g_assert_true (ats_heatmap_view_get_fitted (view));

  close_window (window);
}

static double
luminance (guint32 rgb)
{
  return 0.2126 * ((rgb >> 16) & 0xff) + 0.7152 * ((rgb >> 8) & 0xff) + 0.0722 * (rgb & 0xff);
}

static gboolean
rgb_close (guint32 a, guint32 b, int tol)
{
  for (int s = 0; s < 24; s += 8)
    if (ABS ((int) ((a >> s) & 0xff) - (int) ((b >> s) & 0xff)) > tol)
      return FALSE;
  return TRUE;
}

static void
test_pixels (void)
{
  AtsWindow      *window = open_window (sample_path);
  AtsHeatmapView *view = ats_window_get_heatmap_view (window);
  g_autoptr (GdkTexture) texture = NULL;
  AtsMatrix *m;
  AtsScale   scale;
  double     sink = 0, other = 0;

  ats_window_show_view (window, "head");
  g_assert_true (gui_test_wait_idle (window, 150, TIMEOUT_MS));
  m = ats_heatmap_view_get_matrix (view);
  ats_heatmap_view_get_scale (view, &scale);

  texture = gui_test_render_widget (GTK_WIDGET (view));
  g_assert_nonnull (texture);

  /* every cell's centre pixel has the render library's colour of its value */
  for (guint r = 0; r < m->n_rows; r++)
    for (guint c = 0; c < m->n_cols; c++)
      {
        double  x, y;
        guint32 px, want;

        g_assert_true (ats_heatmap_view_cell_to_pixel (view, r, c, &x, &y));
        px = gui_test_texture_pixel (texture, (int) x, (int) y);
        want = c > r ? ATS_HEATMAP_MASKED_RGB
                     : ats_colorize_value (ATS_COLORMAP_VIRIDIS, &scale, ats_matrix_get (m, r, c));
        if (!rgb_close (px, want, 2))
          g_error ("cell (%u, %u): pixel %06x, expected %06x", r, c, px, want);
        if (c == 0 && r >= 4)
          sink += luminance (px);
        else if (c == 2 && r >= 4)
          other += luminance (px);
      }

  /* the sink column is bright */
  g_assert_cmpfloat (sink / 20, >, 150);
  g_assert_cmpfloat (sink, >, 3 * other);

  close_window (window);
}

static void
test_compare (void)
{
  AtsWindow      *window = open_window (sample_path);
  AtsCompareView *compare = ats_window_get_compare_view (window);
  AtsHeatmapView *diff_view;
  g_autoptr (GdkTexture) texture = NULL;
  AtsMatrix *diff;
  AtsScale   scale;
  guint32    mid;

  /* identical captures: the difference is zero and drawn in the neutral middle colour */
  ats_window_open_compare (window, sample_path);
  g_assert_true (gui_test_wait_idle (window, 150, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_compare_document (window));
  g_assert_cmpstr (ats_window_get_view (window), ==, "compare");
  diff = ats_compare_view_get_difference (compare);
  g_assert_nonnull (diff);
  for (gsize i = 0; i < (gsize) diff->n_rows * diff->n_cols; i++)
    g_assert_cmpfloat (diff->data[i], ==, 0.0f);

  diff_view = ats_compare_view_get_view (compare, ATS_COMPARE_DIFFERENCE);
  ats_heatmap_view_get_scale (diff_view, &scale);
  g_assert_cmpfloat (scale.vmin, ==, -scale.vmax);
  mid = ats_colormap_lookup (ATS_COLORMAP_RDBU, 0.5);
  texture = gui_test_render_widget (GTK_WIDGET (diff_view));
  for (guint r = 0; r < diff->n_rows; r++)
    for (guint c = 0; c <= r; c++)
      {
        double x, y;

        g_assert_true (ats_heatmap_view_cell_to_pixel (diff_view, r, c, &x, &y));
        g_assert_true (rgb_close (gui_test_texture_pixel (texture, (int) x, (int) y), mid, 2));
      }

  /* softmax vs elastic: a real difference, and per-layer overlays of both */
  ats_window_open_compare (window, elastic_path);
  g_assert_true (gui_test_wait_idle (window, 150, TIMEOUT_MS));
  diff = ats_compare_view_get_difference (compare);
  g_assert_nonnull (diff);
  g_assert_cmpfloat (ats_matrix_get_abs_max (diff), >, 0.01);
  {
    GtkWidget *first =
        gtk_widget_get_first_child (GTK_WIDGET (ats_compare_view_get_plots (compare)));

    g_assert_nonnull (first);
  }

  ats_window_close_compare (window);
  g_assert_null (ats_window_get_compare_document (window));
  close_window (window);
}

static void
assert_stats_equal (const AtsWhatifHeadStats *got, const AtsWhatifHeadStats *want)
{
  g_assert_nonnull (got);
  g_assert_cmpfloat (got->sparsity, ==, want->sparsity);
  g_assert_cmpfloat (got->sparsity_before, ==, want->sparsity_before);
  g_assert_cmpfloat (got->mass_removed, ==, want->mass_removed);
  g_assert_cmpfloat (got->sink_mass_removed, ==, want->sink_mass_removed);
  g_assert_true (got->sink_share == want->sink_share ||
                 (isnan (got->sink_share) && isnan (want->sink_share)));
  g_assert_cmpuint (got->n_sinks, ==, want->n_sinks);
}

static void
test_whatif_uniform (void)
{
  AtsWindow      *window = open_window (uniform_path);
  AtsHeatmapView *view = ats_window_get_heatmap_view (window);
  g_autoptr (GdkTexture) texture = NULL;
  const AtsWhatifHeadStats *stats;
  AtsWhatifHeadStats        want;
  AtsMatrix                *raw, *shown;
  g_autofree char          *text = NULL;
  const char               *caption;
  float                     tau = 0;
  double                    eps = 0;

  ats_window_show_view (window, "head");
  ats_window_select_head (window, 1, 2);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  raw = ats_window_get_head_matrix (window);
  g_assert_nonnull (raw);
  g_assert_null (ats_window_get_whatif_stats (window, NULL, NULL));
  g_assert_null (ats_window_get_whatif_caption (window));
  /* the stored rows are exactly float32 (1 / i) */
  for (guint i = 0; i < raw->n_rows; i++)
    g_assert_cmpfloat (ats_matrix_get (raw, i, 0), ==, 1.0f / (float) (i + 1));

  /* tau = -1: the transform runs off the UI thread, then every visible cell is exactly 0 */
  ats_window_set_whatif (window, TRUE, -1.0, FALSE);
  g_assert_true (ats_window_get_busy (window));
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  shown = ats_heatmap_view_get_matrix (view);
  g_assert_true (shown != raw);
  g_assert_cmpuint (shown->n_rows, ==, raw->n_rows);
  for (guint i = 0; i < shown->n_rows; i++)
    for (guint j = 0; j <= i; j++)
      g_assert_cmpfloat (ats_matrix_get (shown, i, j), ==, 0.0f);
  g_assert_true (ats_heatmap_view_get_mark_zeros (view));

  /* the exact zeros are drawn in the render library's zero colour */
  texture = gui_test_render_widget (GTK_WIDGET (view));
  for (guint r = 0; r < shown->n_rows; r++)
    for (guint c = 0; c <= r; c++)
      {
        double  x, y;
        guint32 px;

        g_assert_true (ats_heatmap_view_cell_to_pixel (view, r, c, &x, &y));
        px = gui_test_texture_pixel (texture, (int) x, (int) y);
        if (!rgb_close (px, 0xffffff, 2))
          g_error ("what-if cell (%u, %u): pixel %06x, expected white", r, c, px);
      }

  /* the caption's numbers are ats_whatif_head_stats() of the stored map */
  stats = ats_window_get_whatif_stats (window, &tau, &eps);
  g_assert_cmpfloat (tau, ==, -1.0f);
  g_assert_cmpfloat (eps, ==, ATS_WHATIF_DEFAULT_SINK_EPS);
  ats_whatif_head_stats (raw->data, raw->n_rows, -1.0f, eps, &want);
  assert_stats_equal (stats, &want);
  g_assert_cmpfloat (want.sparsity, ==, 1.0);
  g_assert_cmpfloat (want.sparsity_before, ==, 0.0);
  g_assert_cmpfloat_with_epsilon (want.mass_removed, 1.0, 1e-6);
  caption = ats_window_get_whatif_caption (window);
  g_assert_nonnull (caption);
  g_assert_nonnull (strstr (caption, "τ = -1.00 (slider)"));
  g_assert_nonnull (strstr (caption, "sparsity 0.0% → 100.0%"));
  g_assert_nonnull (strstr (caption, "mass removed 1.000 per row"));
  text = ats_whatif_format_caption (&want, -1.0f, "slider");
  g_assert_cmpstr (caption, ==, text);

  /* a milder tau keeps part of each row: exactly the core transform */
  ats_window_set_whatif (window, TRUE, -0.25, FALSE);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  shown = ats_heatmap_view_get_matrix (view);
  {
    g_autofree float *expect = g_new (float, (gsize) raw->n_rows * raw->n_cols);

    ats_whatif_transform_head (raw->data, expect, raw->n_rows, -0.25f);
    for (gsize k = 0; k < (gsize) raw->n_rows * raw->n_cols; k++)
      g_assert_cmpfloat (shown->data[k], ==, expect[k]);
    g_assert_cmpfloat (ats_matrix_get (shown, 7, 3), ==, 0.125f - 0.25f / 8.0f);
  }
  ats_whatif_head_stats (raw->data, raw->n_rows, -0.25f, eps, &want);
  assert_stats_equal (ats_window_get_whatif_stats (window, NULL, NULL), &want);

  /* moving to another head transforms that head; switching off shows the stored map again */
  g_signal_emit_by_name (view, "navigate", 0, 1);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_whatif_stats (window, NULL, NULL));
  g_assert_true (ats_heatmap_view_get_matrix (view) != ats_window_get_head_matrix (window));
  ats_window_set_whatif (window, FALSE, -1.0, FALSE);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  g_assert_true (ats_heatmap_view_get_matrix (view) == ats_window_get_head_matrix (window));
  g_assert_false (ats_heatmap_view_get_mark_zeros (view));
  g_assert_null (ats_window_get_whatif_caption (window));
  g_assert_null (ats_window_get_whatif_stats (window, NULL, NULL));

  close_window (window);
}

static void
test_whatif_model_tau (void)
{
  AtsWindow         *window = open_window (elastic_path);
  const float       *tau_table;
  AtsMatrix         *raw;
  AtsWhatifHeadStats want;
  float              tau = 0;
  double             eps = 0;

  /* a Lazy capture offers its own per-head tau (lazy/tau: -1 + 0.1 h) */
  tau_table = ats_window_get_lazy_tau (window);
  g_assert_nonnull (tau_table);
  for (guint l = 0; l < 4; l++)
    for (guint h = 0; h < 4; h++)
      g_assert_cmpfloat_with_epsilon (tau_table[l * 4 + h], -1.0 + 0.1 * h, 1e-6);

  ats_window_show_view (window, "head");
  ats_window_select_head (window, 2, 3);
  ats_window_set_whatif (window, TRUE, -3.0, TRUE);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  raw = ats_window_get_head_matrix (window);
  g_assert_nonnull (ats_window_get_whatif_stats (window, &tau, &eps));
  g_assert_cmpfloat (tau, ==, tau_table[2 * 4 + 3]);
  ats_whatif_head_stats (raw->data, raw->n_rows, tau, eps, &want);
  assert_stats_equal (ats_window_get_whatif_stats (window, NULL, NULL), &want);
  g_assert_nonnull (strstr (ats_window_get_whatif_caption (window), "Lazy τ of this head"));

  /* the slider value again */
  ats_window_set_whatif (window, TRUE, -3.0, FALSE);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_whatif_stats (window, &tau, NULL));
  g_assert_cmpfloat (tau, ==, -3.0f);

  /* a softmax capture has no lazy/ */
  ats_window_open_path (window, sample_path);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_null (ats_window_get_lazy_tau (window));

  close_window (window);
}

static void
check_file_kind (const char *path, const char *magic)
{
  g_autofree char *data = NULL;
  gsize            len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, >, 200);
  if (g_str_equal (magic, "svg"))
    g_assert_nonnull (g_strstr_len (data, MIN (len, 4096), "<svg"));
  else
    g_assert_true (memcmp (data, magic, strlen (magic)) == 0);
}

static void
on_exported (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;
  g_autoptr (GError) error = NULL;

  g_assert_true (ats_window_export_finish (ATS_WINDOW (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static void
export_view (AtsWindow *window, const char *view, const char *base)
{
  static const char *const exts[] = { "png", "svg", "pdf" };
  static const char *const magics[] = { "\x89PNG", "svg", "%PDF" };

  ats_window_show_view (window, view);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));

  for (guint i = 0; i < G_N_ELEMENTS (exts); i++)
    {
      g_autofree char *name = g_strdup_printf ("%s.%s", base, exts[i]);
      g_autofree char *path = tmp_file (name);
      gboolean         done = FALSE;

      g_unlink (path);
      ats_window_export_async (window, path, NULL, on_exported, &done);
      g_assert_true (gui_test_wait_flag (&done, TIMEOUT_MS));
      check_file_kind (path, magics[i]);
      if (i == 0)
        {
          g_autoptr (GdkTexture) t = gdk_texture_new_from_filename (path, NULL);

          g_assert_nonnull (t);
          g_assert_cmpint (gdk_texture_get_width (t), >, 300);
        }
    }
}

static void
test_export (void)
{
  AtsWindow *window = open_window (sample_path);

  export_view (window, "head", "head");
  export_view (window, "tokens", "tokens");
  export_view (window, "overview", "overview-maps");
  ats_overview_grid_set_color_by (ats_window_get_overview_grid (window), "first_token_mass");
  export_view (window, "overview", "overview-sink");
  export_view (window, "diagnostics", "diagnostics");
  ats_window_open_compare (window, elastic_path);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  export_view (window, "compare", "difference");

  g_assert_null (ats_window_get_error_dialog (window));
  close_window (window);
}

static void
test_bad_files (void)
{
  AtsWindow  *window = open_window (NULL);
  GtkWindow  *dialog;
  const char *err;

  /* not HDF5 at all */
  ats_window_open_path (window, garbage_path);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  dialog = ats_window_get_error_dialog (window);
  g_assert_nonnull (dialog);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (dialog)));
  err = ats_window_get_last_error (window);
  g_assert_nonnull (strstr (err, "Could not open “garbage.h5”"));
  g_assert_null (ats_window_get_document (window));

  /* HDF5, but not a capture: the error names the file */
  ats_window_open_path (window, foreign_path);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_error_dialog (window));
  err = ats_window_get_last_error (window);
  g_assert_nonnull (strstr (err, "foreign.h5"));

  /* missing file */
  ats_window_open_path (window, "/nonexistent/capture.h5");
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_nonnull (strstr (ats_window_get_last_error (window), "capture.h5"));

  /* the window stays usable: a good file opens after the errors */
  gtk_window_destroy (ats_window_get_error_dialog (window));
  ats_window_open_path (window, sample_path);
  g_assert_true (gui_test_wait_idle (window, 100, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_document (window));
  g_assert_nonnull (ats_window_get_head_matrix (window));

  close_window (window);
}

static void
test_diagnostics (void)
{
  AtsWindow          *window = open_window (sample_path);
  AtsDiagnosticsView *diag = ats_window_get_diagnostics_view (window);
  AtsDiagParams       params;
  guint               layer, head, row_layer, row_head;
  double              before, after;

  ats_window_show_view (window, "diagnostics");
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_cmpuint (ats_diagnostics_view_get_n_rows (diag), ==, 16);
  g_assert_nonnull (
      gtk_widget_get_first_child (GTK_WIDGET (ats_diagnostics_view_get_plots (diag))));

  /* sorted by first-token mass, descending: the sink heads (head 0) come first */
  ats_diagnostics_view_sort_by (diag, "first_token_mass", TRUE);
  for (guint r = 0; r < 4; r++)
    {
      g_assert_true (ats_diagnostics_view_get_row (diag, r, &row_layer, &row_head));
      g_assert_cmpuint (row_head, ==, 0);
    }
  g_assert_true (ats_diagnostics_view_get_row (diag, 0, &row_layer, &row_head));
  ats_diagnostics_view_activate_row (diag, 0);
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, row_layer);
  g_assert_cmpuint (head, ==, row_head);
  g_assert_cmpstr (ats_window_get_view (window), ==, "head");

  /* recompute off the UI thread with a higher eps: fewer sinks */
  before = ats_metrics_get_results (ats_window_get_metrics (window))->sink_rate;
  ats_diagnostics_view_get_params (diag, &params);
  params.sink_eps = 0.95;
  ats_diagnostics_view_set_params (diag, &params);
  g_signal_emit_by_name (diag, "recompute");
  g_assert_true (ats_window_get_busy (window));
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  g_assert_cmpfloat (ats_metrics_get_results (ats_window_get_metrics (window))->params.sink_eps, ==,
                     0.95);
  after = ats_metrics_get_results (ats_window_get_metrics (window))->sink_rate;
  g_assert_cmpfloat (before, >, 0.0);
  g_assert_cmpfloat (after, <, before);

  close_window (window);
}

static void
test_diagnostics_plot_click (void)
{
  AtsWindow          *window = open_window (sample_path);
  AtsDiagnosticsView *diag = ats_window_get_diagnostics_view (window);
  GtkWidget          *child;
  AtsPlotView        *plot = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  guint  n = 0, series, index, layer, head;
  double x, y;

  ats_window_select_head (window, 0, 3);
  ats_window_show_view (window, "diagnostics");
  g_assert_true (gui_test_wait_idle (window, 100, TIMEOUT_MS));

  /* the first-token-mass plot: one series over the 4 layers */
  for (child = gtk_widget_get_first_child (GTK_WIDGET (ats_diagnostics_view_get_plots (diag)));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *w = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

      if (ATS_IS_PLOT_VIEW (w) &&
          g_strcmp0 (ats_plot_view_get_metric (ATS_PLOT_VIEW (w)), "first_token_mass") == 0)
        plot = ATS_PLOT_VIEW (w);
    }
  g_assert_nonnull (plot);
  g_assert_nonnull (ats_plot_view_get_series (plot, 0, &n));
  g_assert_cmpuint (n, ==, 4);

  /* the pixel of each known point is the series colour (the marker the renderer drew there),
   * and a pixel near it maps back to that point */
  texture = gui_test_render_widget (GTK_WIDGET (plot));
  for (guint i = 0; i < n; i++)
    {
      guint32 px;

      g_assert_true (ats_plot_view_point_to_pixel (plot, 0, i, &x, &y));
      px = gui_test_texture_pixel (texture, (int) x, (int) y);
      if (!rgb_close (px, ats_plot_get_series_color (0), 40))
        g_error ("point %u at (%.1f, %.1f): pixel %06x, expected the series colour %06x", i, x, y,
                 px, ats_plot_get_series_color (0));
      g_assert_true (ats_plot_view_pixel_to_point (plot, x + 2, y - 2, &series, &index));
      g_assert_cmpuint (series, ==, 0);
      g_assert_cmpuint (index, ==, i);
      g_assert_cmpfloat (ats_plot_view_get_x (plot, series, index), ==, i);
    }
  /* far from every point: no hit */
  g_assert_false (ats_plot_view_pixel_to_point (plot, 2, 2, NULL, NULL));

  /* a click on the point of layer 2 opens layer 2 in the head view (the head is kept) */
  g_assert_true (ats_plot_view_point_to_pixel (plot, 0, 2, &x, &y));
  g_assert_true (ats_plot_view_pixel_to_point (plot, x, y, &series, &index));
  g_signal_emit_by_name (plot, "point-activated", series, index,
                         ats_plot_view_get_x (plot, series, index));
  g_assert_true (gui_test_wait_idle (window, 20, TIMEOUT_MS));
  ats_window_get_head (window, &layer, &head);
  g_assert_cmpuint (layer, ==, 2);
  g_assert_cmpuint (head, ==, 3);
  g_assert_cmpstr (ats_window_get_view (window), ==, "head");
  assert_matrix_equals_file (ats_window_get_head_matrix (window), sample_path, 0, 2, 3);

  close_window (window);
}

static void
test_no_metrics (void)
{
  /* a capture without metrics/: the diagnostics are computed from the maps */
  AtsWindow  *window = open_window (nometrics_path);
  AtsMetrics *metrics = ats_window_get_metrics (window);

  g_assert_nonnull (metrics);
  g_assert_cmpfloat (ats_metrics_get_head (metrics, "first_token_mass", 1, 0), >, 0.5);
  close_window (window);
}

static void
test_token_view (void)
{
  AtsWindow    *window = open_window (sample_path);
  AtsTokenView *tokens = ats_window_get_token_view (window);
  AtsMatrix    *m = ats_window_get_head_matrix (window);
  double        best = 0;

  ats_window_show_view (window, "tokens");
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));

  ats_token_view_set_selected (tokens, 6);
  ats_token_view_set_mode (tokens, ATS_TOKEN_MODE_QUERY);
  for (guint j = 0; j <= 6; j++)
    {
      g_assert_cmpfloat (ats_token_view_get_weight (tokens, j), ==, ats_matrix_get (m, 6, j));
      best = MAX (best, ats_matrix_get (m, 6, j));
    }
  g_assert_true (isnan (ats_token_view_get_weight (tokens, 7)));
  /* the sink token receives the most: full intensity */
  g_assert_cmpfloat (ats_token_view_get_intensity (tokens, 0), ==, 1.0);
  g_assert_cmpfloat (best, ==, ats_matrix_get (m, 6, 0));

  ats_token_view_set_mode (tokens, ATS_TOKEN_MODE_KEY);
  for (guint i = 6; i < m->n_rows; i++)
    g_assert_cmpfloat (ats_token_view_get_weight (tokens, i), ==, ats_matrix_get (m, i, 6));
  g_assert_true (isnan (ats_token_view_get_weight (tokens, 2)));

  /* a click on a token's chip selects it */
  {
    graphene_rect_t rect;

    g_assert_true (ats_token_view_get_token_rect (tokens, 3, &rect));
    g_assert_cmpint (ats_token_view_pixel_to_token (tokens, rect.origin.x + rect.size.width / 2,
                                                    rect.origin.y + rect.size.height / 2),
                     ==, 3);
  }

  close_window (window);
}

static void
on_capture_waited (AtsWindow *window, const char *want_prompt)
{
  AtsDocument *doc;

  g_assert_true (gui_test_wait_idle (window, 100, TIMEOUT_MS));
  g_assert_null (ats_window_get_error_dialog (window));
  doc = ats_window_get_document (window);
  g_assert_nonnull (doc);
  g_assert_cmpuint (ats_document_get_n_runs (doc), ==, 1);
  g_assert_cmpstr (ats_document_get_run (doc, 0)->prompt, ==, want_prompt);
  g_assert_nonnull (ats_window_get_head_matrix (window));
  g_assert_nonnull (ats_window_get_metrics (window));
}

static void
test_capture_from_model (void)
{
  g_autofree char *model =
      g_build_filename (g_getenv ("ATS_SOURCE_ROOT"), "data", "models", "demo-lazy", NULL);
  AtsWindow       *window;
  g_autofree char *captures = NULL;
  GDir            *dir;
  guint            n_files = 0;

  if (!g_file_test (model, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("data/models/demo-lazy is missing");
      return;
    }

  window = open_window (model);
  g_assert_null (ats_window_get_error_dialog (window));
  g_assert_true (ats_window_get_has_model (window));

  /* an empty prompt is refused with a message */
  ats_window_run_capture (window, "   ");
  g_assert_nonnull (ats_window_get_error_dialog (window));
  gtk_window_destroy (ats_window_get_error_dialog (window));

  ats_window_run_capture (window, "The cat sat on the mat.");
  on_capture_waited (window, "The cat sat on the mat.");

  /* a cancelled capture leaves no file behind */
  captures = g_build_filename (g_get_user_cache_dir (), "attnscope", "captures", NULL);
  ats_window_run_capture (window, "Attention sinks appear when no token is relevant.");
  ats_window_cancel_capture (window);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  dir = g_dir_open (captures, 0, NULL);
  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n_files++;
  g_dir_close (dir);
  /* the first capture, plus the second only if it finished before the cancel reached it */
  g_assert_cmpuint (n_files, >=, 1);
  g_assert_cmpuint (n_files, <=, 2);
  g_assert_null (ats_window_get_error_dialog (window));

  close_window (window);
}

static void
test_demo_models (void)
{
  g_autofree char *softmax = ats_demo_model_path ("demo-softmax");
  g_autofree char *lazy = ats_demo_model_path ("demo-lazy");
  AtsWindow       *window;
  const char      *demos[] = { "demo-softmax", "demo-lazy" };

  if (softmax == NULL || lazy == NULL)
    {
      g_test_skip ("data/models/demo-softmax or demo-lazy is missing");
      return;
    }
  g_assert_true (g_file_test (softmax, G_FILE_TEST_IS_DIR));
  g_assert_true (g_str_has_suffix (lazy, "demo-lazy"));

  window = open_window (NULL);
  g_assert_nonnull (g_action_map_lookup_action (G_ACTION_MAP (window), "open-demo"));
  g_assert_nonnull (g_action_map_lookup_action (G_ACTION_MAP (window), "compare-weights"));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "open-demo"));

  for (guint i = 0; i < G_N_ELEMENTS (demos); i++)
    {
      g_action_group_activate_action (G_ACTION_GROUP (window), "open-demo",
                                      g_variant_new_string (demos[i]));
      g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
      g_assert_null (ats_window_get_error_dialog (window));
      /* the model view: the prompt box and Run */
      g_assert_true (ats_window_get_has_model (window));
      g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "run-capture"));
    }

  /* an unknown demo name: the error dialog */
  ats_window_open_demo (window, "demo-nonexistent");
  g_assert_nonnull (ats_window_get_error_dialog (window));
  gtk_window_destroy (ats_window_get_error_dialog (window));
  close_window (window);
}

/* A sweep of demo-softmax with attnscope-cli (as tests/cli/test_merge_figures.py makes one). */
static char *
make_sweep (void)
{
  g_autofree char *cli =
      g_build_filename (g_getenv ("ATS_BUILD_ROOT"), "src", "cli", "attnscope-cli", NULL);
  g_autofree char *demo = ats_demo_model_path ("demo-softmax");
  g_autofree char *prompts = tmp_file ("sweep-prompts.txt");
  char            *out = tmp_file ("sweep.h5");
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int              status = 0;

  if (demo == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_free (out);
      return NULL;
    }
  g_file_set_contents (prompts, "The cat sat on the mat.\nAttention sinks appear early.\n", -1,
                       &error);
  g_assert_no_error (error);
  {
    const char *argv[] = { cli,     "sweep",    "-q",     "--base",  demo,      "--tuned",
                           demo,    "--method", "linear", "--alpha", "1,0,0.5", "--prompts",
                           prompts, "--out",    out,      NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status,
                  &error);
  }
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("attnscope-cli sweep failed: %s", err);
  return out;
}

static void
test_sweep (void)
{
  g_autofree char         *path = make_sweep ();
  AtsWindow               *window;
  AtsSweepView            *view;
  guint                    n_metrics = 0, expected_plots = 1, S = 0, P = 0, rows = 0;
  const AtsDiagMetricInfo *metrics = ats_diag_metrics_list (&n_metrics);
  g_autofree double       *entropy = NULL;
  g_autofree double       *by_layer = NULL;
  g_autoptr (GError) error = NULL;
  double x, y, err;

  if (path == NULL)
    {
      g_test_skip ("attnscope-cli or data/models/demo-softmax is missing");
      return;
    }
  for (guint m = 0; m < n_metrics; m++)
    if (metrics[m].shape == ATS_DIAG_SHAPE_LAYER_HEAD ||
        metrics[m].shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
      expected_plots++;

  /* a plain capture has no sweep view */
  window = open_window (sample_path);
  g_assert_null (ats_sweep_view_get_data (ats_window_get_sweep_view (window)));
  g_assert_cmpstr (ats_window_get_view (window), !=, "sweep");

  ats_window_open_path (window, path);
  g_assert_true (gui_test_wait_idle (window, 100, TIMEOUT_MS));
  g_assert_null (ats_window_get_error_dialog (window));
  view = ats_window_get_sweep_view (window);
  g_assert_nonnull (ats_sweep_view_get_data (view));
  g_assert_cmpstr (ats_window_get_view (window), ==, "sweep");
  g_assert_cmpuint (ats_sweep_view_get_n_plots (view), ==, expected_plots);

  /* the plotted numbers: x sorted (the sweep was given 1,0,0.5), y = mean over prompts of
   * summary/entropy, err = the sample std over prompts */
  entropy = ats_sweep_file_read_summary (path, "entropy", FALSE, &S, &P, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (S, ==, 3);
  g_assert_cmpuint (P, ==, 2);
  {
    const double want_x[] = { 0, 0.5, 1 };
    const guint  step[] = { 1, 2, 0 }; /* file order 1, 0, 0.5 */

    for (guint i = 0; i < S; i++)
      {
        double a = entropy[step[i] * P], b = entropy[step[i] * P + 1];

        g_assert_true (ats_sweep_view_get_point (view, "entropy", 0, i, &x, &y, &err));
        g_assert_cmpfloat (x, ==, want_x[i]);
        g_assert_cmpfloat_with_epsilon (y, (a + b) / 2, 1e-12);
        g_assert_cmpfloat_with_epsilon (err, fabs (a - b) / sqrt (2.0), 1e-12);
      }
  }
  g_assert_true (ats_sweep_view_get_point (view, "sink_rate", 0, 0, &x, &y, NULL));
  g_assert_false (ats_sweep_view_get_point (view, "sink_score", 0, 0, NULL, NULL, NULL));

  /* per layer: one line per layer, the mean over prompts of summary/entropy_by_layer */
  ats_sweep_view_set_per_layer (view, TRUE);
  by_layer = ats_sweep_file_read_summary (path, "entropy", TRUE, &S, &P, &rows, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rows, ==, ats_document_get_n_layers (ats_window_get_document (window)));
  for (guint l = 0; l < rows; l++)
    {
      double a = by_layer[(1 * P + 0) * rows + l], b = by_layer[(1 * P + 1) * rows + l];

      g_assert_true (ats_sweep_view_get_point (view, "entropy", l, 0, &x, &y, NULL));
      g_assert_cmpfloat_with_epsilon (y, (a + b) / 2, 1e-12);
    }
  g_assert_false (ats_sweep_view_get_point (view, "entropy", rows, 0, NULL, NULL, NULL));

  /* export through the render library (PNG, SVG, PDF) */
  export_view (window, "sweep", "sweep");
  g_assert_null (ats_window_get_error_dialog (window));

  /* back to a plain capture: the sweep view goes away */
  ats_window_open_path (window, sample_path);
  g_assert_true (gui_test_wait_idle (window, 100, TIMEOUT_MS));
  g_assert_null (ats_sweep_view_get_data (view));
  g_assert_cmpstr (ats_window_get_view (window), !=, "sweep");
  close_window (window);
}

static void
test_weight_diff (void)
{
  const char      *root = g_getenv ("ATS_SOURCE_ROOT");
  g_autofree char *base =
      g_build_filename (root, "tests", "reference", "fixtures", "merge", "base", NULL);
  g_autofree char *tuned =
      g_build_filename (root, "tests", "reference", "fixtures", "merge", "tuned1", NULL);
  g_autofree char *demo = ats_demo_model_path ("demo-softmax");
  g_autofree char *png = tmp_file ("weight-diff.png");
  g_autofree char *svg = tmp_file ("weight-diff.svg");
  g_autoptr (AtsWeightDiff) expected = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float    *rel = NULL;
  AtsWindow           *window;
  AtsWeightDiffWindow *diff_window;
  const float         *values;
  const char *const *row_labels, *const *col_labels;
  guint n_rows = 0, n_cols = 0, checked = 0;

  expected = ats_weight_diff_compute (base, tuned, NULL, NULL, &error);
  g_assert_no_error (error);
  rel = ats_weight_diff_get_layer_matrix (expected, ATS_WEIGHT_DIFF_RELATIVE);

  window = open_window (NULL);
  ats_window_compare_weights (window, base, tuned);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_null (ats_window_get_error_dialog (window));
  g_assert_nonnull (ats_window_get_weight_diff_window (window));
  diff_window = ATS_WEIGHT_DIFF_WINDOW (ats_window_get_weight_diff_window (window));
  g_assert_nonnull (ats_weight_diff_window_get_diff (diff_window));
  g_assert_cmpstr (ats_weight_diff_window_get_metric (diff_window), ==, "rel");

  /* the heatmap's layer rows equal ats_weight_diff_get_layer_matrix() */
  values =
      ats_weight_diff_window_get_matrix (diff_window, &n_rows, &n_cols, &row_labels, &col_labels);
  g_assert_nonnull (values);
  g_assert_cmpuint (n_rows, >=, expected->n_layers);
  for (guint r = 0; r < n_rows; r++)
    {
      guint64 layer;

      if (!g_ascii_string_to_unsigned (row_labels[r], 10, 0, G_MAXUINT, &layer, NULL))
        continue;
      for (guint c = 0; c < n_cols; c++)
        for (guint k = 0; k < ATS_TENSOR_KIND_N; k++)
          if (g_str_equal (col_labels[c], ats_tensor_kind_to_string (k)))
            {
              float want = rel[layer * ATS_TENSOR_KIND_N + k];
              float got = values[r * n_cols + c];

              g_assert_true ((isnan (want) && isnan (got)) || want == got);
              checked++;
            }
    }
  g_assert_cmpuint (checked, >, 0);

  /* the metric selector */
  ats_weight_diff_window_set_metric (diff_window, "cos");
  g_assert_cmpstr (ats_weight_diff_window_get_metric (diff_window), ==, "cos");
  values = ats_weight_diff_window_get_matrix (diff_window, NULL, NULL, NULL, NULL);
  for (guint i = 0; i < n_rows * n_cols; i++)
    g_assert_true (isnan (values[i]) || (values[i] <= 1.0f + 1e-6f && values[i] >= -1.0f));
  ats_weight_diff_window_set_metric (diff_window, "norm");
  g_assert_cmpstr (ats_weight_diff_window_get_metric (diff_window), ==, "norm");

  /* export */
  g_assert_true (ats_weight_diff_window_export (diff_window, png, &error));
  g_assert_no_error (error);
  g_assert_true (ats_weight_diff_window_export (diff_window, svg, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (png, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (svg, G_FILE_TEST_IS_REGULAR));

  /* mismatched checkpoints: the error dialog, no heatmap window */
  if (demo != NULL)
    {
      ats_window_compare_weights (window, base, demo);
      g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
      g_assert_nonnull (ats_window_get_error_dialog (window));
      g_assert_null (ats_window_get_weight_diff_window (window));
      g_assert_nonnull (strstr (ats_window_get_last_error (window), "compare the weights"));
      gtk_window_destroy (ats_window_get_error_dialog (window));
    }

  /* closing the heatmap window while it computes cancels quietly */
  ats_window_compare_weights (window, base, tuned);
  gtk_window_destroy (ats_window_get_weight_diff_window (window));
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_null (ats_window_get_error_dialog (window));
  close_window (window);
}

/* The CSV of `attnscope-cli diff --csv` (the core formatter when the CLI is not built). */
static char *
make_diff_csv (const char *base, const char *other)
{
  g_autofree char *cli =
      g_build_filename (g_getenv ("ATS_BUILD_ROOT"), "src", "cli", "attnscope-cli", NULL);
  char *out = tmp_file ("weights.csv");
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *err = NULL;
  int              status = 0;

  if (g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      const char *argv[] = { cli, "diff", "--base", base, "--other", other, "--csv", NULL };

      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &text, &err, &status,
                    &error);
      g_assert_no_error (error);
      if (!g_spawn_check_wait_status (status, NULL))
        g_error ("attnscope-cli diff failed: %s", err);
    }
  else
    {
      g_autoptr (AtsWeightDiff) diff = ats_weight_diff_compute (base, other, NULL, NULL, &error);
      g_autoptr (GString) csv = NULL;

      g_assert_no_error (error);
      csv = ats_weight_diff_format (diff, TRUE);
      text = g_string_free (g_steal_pointer (&csv), FALSE);
    }
  g_assert_true (g_str_has_prefix (text, "layer,kind,"));
  g_assert_true (g_file_set_contents (out, text, -1, &error));
  g_assert_no_error (error);
  return out;
}

static void
assert_same_float (float want, float got)
{
  if (isnan (want))
    g_assert_true (isnan (got));
  else /* the CSV keeps 9 significant digits: a float, up to double rounding */
    g_assert_cmpfloat_with_epsilon (got, want, 2e-7f * fabsf (want));
}

/* Open Weight Diff: a saved `attnscope-cli diff --csv` shows the same heatmap */
static void
test_weight_diff_csv (void)
{
  const char      *root = g_getenv ("ATS_SOURCE_ROOT");
  g_autofree char *base =
      g_build_filename (root, "tests", "reference", "fixtures", "merge", "base", NULL);
  g_autofree char *tuned =
      g_build_filename (root, "tests", "reference", "fixtures", "merge", "tuned1", NULL);
  g_autofree char *csv = NULL;
  g_autofree char *bad = tmp_file ("bad-weights.csv");
  g_autofree char *png = tmp_file ("weight-diff-csv.png");
  g_autoptr (AtsWeightDiff) expected = NULL;
  g_autoptr (GError) error = NULL;
  const char *const         metrics[] = { "rel", "norm", "cos" };
  const AtsWeightDiffMetric kinds[] = { ATS_WEIGHT_DIFF_RELATIVE, ATS_WEIGHT_DIFF_DELTA_L2,
                                        ATS_WEIGHT_DIFF_COS_OTHER_BASE };
  AtsWindow                *window;
  AtsWeightDiffWindow      *diff_window;
  GAction                  *action;
  const char               *title;
  guint                     checked = 0, outside_checked = 0;

  expected = ats_weight_diff_compute (base, tuned, NULL, NULL, &error);
  g_assert_no_error (error);
  csv = make_diff_csv (base, tuned);

  window = open_window (NULL);
  action = g_action_map_lookup_action (G_ACTION_MAP (window), "open-weight-diff");
  g_assert_nonnull (action);
  g_assert_true (g_action_get_enabled (action));

  /* as from the command line or a drop: *.csv goes to the weight diff */
  ats_window_open_path (window, csv);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_null (ats_window_get_error_dialog (window));
  g_assert_null (ats_window_get_document (window));
  g_assert_nonnull (ats_window_get_weight_diff_window (window));
  diff_window = ATS_WEIGHT_DIFF_WINDOW (ats_window_get_weight_diff_window (window));
  g_assert_nonnull (ats_weight_diff_window_get_diff (diff_window));
  g_assert_nonnull (ats_weight_diff_window_get_csv_path (diff_window));
  title = gtk_window_get_title (GTK_WINDOW (diff_window));
  g_assert_nonnull (strstr (title, "weights.csv"));

  /* every metric: the heatmap cells equal the computed diff's */
  for (guint m = 0; m < G_N_ELEMENTS (metrics); m++)
    {
      g_autofree float  *want = ats_weight_diff_get_layer_matrix (expected, kinds[m]);
      const char *const *row_labels, *const *col_labels;
      const float *values;
      guint        n_rows = 0, n_cols = 0;

      ats_weight_diff_window_set_metric (diff_window, metrics[m]);
      g_assert_cmpstr (ats_weight_diff_window_get_metric (diff_window), ==, metrics[m]);
      values = ats_weight_diff_window_get_matrix (diff_window, &n_rows, &n_cols, &row_labels,
                                                  &col_labels);
      g_assert_nonnull (values);
      g_assert_cmpuint (n_rows, >=, expected->n_layers);
      for (guint r = 0; r < n_rows; r++)
        {
          guint64 layer;

          if (g_str_equal (row_labels[r], "non-layer"))
            {
              for (guint i = 0; i < expected->n_rows; i++)
                {
                  const AtsWeightDiffRow *e = &expected->rows[i];
                  double                  v = kinds[m] == ATS_WEIGHT_DIFF_RELATIVE   ? e->relative
                                              : kinds[m] == ATS_WEIGHT_DIFF_DELTA_L2 ? e->delta_l2
                                                                                     : e->cos_other_base;

                  if (e->layer >= 0)
                    continue;
                  for (guint c = 0; c < n_cols; c++)
                    if (g_str_equal (col_labels[c], ats_tensor_kind_to_string (e->kind)))
                      {
                        assert_same_float ((float) v, values[r * n_cols + c]);
                        outside_checked++;
                      }
                }
              continue;
            }
          g_assert_true (
              g_ascii_string_to_unsigned (row_labels[r], 10, 0, G_MAXUINT, &layer, NULL));
          for (guint c = 0; c < n_cols; c++)
            for (guint k = 0; k < ATS_TENSOR_KIND_N; k++)
              if (g_str_equal (col_labels[c], ats_tensor_kind_to_string (k)))
                {
                  assert_same_float (want[layer * ATS_TENSOR_KIND_N + k], values[r * n_cols + c]);
                  checked++;
                }
        }
    }
  g_assert_cmpuint (checked, >, 0);
  g_assert_cmpuint (outside_checked, >, 0);

  /* export works as for a computed diff */
  g_assert_true (ats_weight_diff_window_export (diff_window, png, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (png, G_FILE_TEST_IS_REGULAR));

  /* a malformed CSV: the error dialog names the file and line, the open heatmap stays */
  {
    g_autofree char *text = NULL;

    g_file_get_contents (csv, &text, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_str_has_suffix (text, "\n"));
    text[strlen (text) - 1] = '\0';
    {
      /* the last row's cos_delta_base becomes "…x" */
      g_autofree char *broken = g_strconcat (text, "x\n", NULL);

      g_file_set_contents (bad, broken, -1, &error);
      g_assert_no_error (error);
    }
  }
  ats_window_open_weight_diff (window, bad);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_error_dialog (window));
  g_assert_nonnull (strstr (ats_window_get_last_error (window), "bad-weights.csv"));
  g_assert_nonnull (strstr (ats_window_get_last_error (window), "bad number"));
  {
    g_autofree char *line = g_strdup_printf ("bad-weights.csv:%u:", expected->n_rows + 1);

    g_assert_nonnull (strstr (ats_window_get_last_error (window), line));
  }
  g_assert_true (ats_window_get_weight_diff_window (window) == GTK_WINDOW (diff_window));
  gtk_window_destroy (ats_window_get_error_dialog (window));

  /* a CSV that is not a weight diff, through the open path, in a fresh window */
  gtk_window_destroy (ats_window_get_weight_diff_window (window));
  g_assert_null (ats_window_get_weight_diff_window (window));
  g_file_set_contents (bad, "a,b,c\n1,2,3\n", -1, &error);
  g_assert_no_error (error);
  ats_window_open_path (window, bad);
  g_assert_true (gui_test_wait_idle (window, 50, TIMEOUT_MS));
  g_assert_nonnull (ats_window_get_error_dialog (window));
  g_assert_nonnull (strstr (ats_window_get_last_error (window), "bad-weights.csv:1:"));
  g_assert_null (ats_window_get_weight_diff_window (window));
  gtk_window_destroy (ats_window_get_error_dialog (window));
  close_window (window);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const char *elastic_args[] = { "--kind", "elastic", NULL };
  const char *garbage_args[] = { "--garbage", NULL };
  const char *corrupt_args[] = { "--corrupt", NULL };
  const char *nometrics_args[] = { "--no-metrics", "--runs", "1", NULL };
  const char *uniform_args[] = { "--kind", "uniform", "--dtype", "f32", "--runs", "1", NULL };
  int         ret;

  tmp_dir = g_dir_make_tmp ("attnscope-gui-XXXXXX", &error);
  g_assert_no_error (error);
  /* captures made from model folders go under the cache dir */
  g_setenv ("XDG_CACHE_HOME", tmp_dir, TRUE);
  g_setenv ("XDG_DATA_HOME", tmp_dir, TRUE);

  g_set_application_name ("attnscope");
  gtk_test_init (&argc, &argv, NULL);
  ats_application_init_resources ();

  sample_path = tmp_file ("sample.h5");
  elastic_path = tmp_file ("elastic.h5");
  garbage_path = tmp_file ("garbage.h5");
  foreign_path = tmp_file ("foreign.h5");
  nometrics_path = tmp_file ("nometrics.h5");
  uniform_path = tmp_file ("uniform.h5");

  if (!gui_test_make_capture (sample_path, NULL))
    {
      g_print ("1..0 # SKIP python3 with h5py and numpy is needed for the sample captures\n");
      return 77;
    }
  g_assert_true (gui_test_make_capture (elastic_path, elastic_args));
  g_assert_true (gui_test_make_capture (garbage_path, garbage_args));
  g_assert_true (gui_test_make_capture (foreign_path, corrupt_args));
  g_assert_true (gui_test_make_capture (nometrics_path, nometrics_args));
  g_assert_true (gui_test_make_capture (uniform_path, uniform_args));

  g_test_add_func ("/gui/open-capture", test_open_capture);
  g_test_add_func ("/gui/navigation", test_navigation);
  g_test_add_func ("/gui/hover-mapping", test_hover_mapping);
  g_test_add_func ("/gui/pixels", test_pixels);
  g_test_add_func ("/gui/compare", test_compare);
  g_test_add_func ("/gui/whatif-uniform", test_whatif_uniform);
  g_test_add_func ("/gui/whatif-model-tau", test_whatif_model_tau);
  g_test_add_func ("/gui/export", test_export);
  g_test_add_func ("/gui/bad-files", test_bad_files);
  g_test_add_func ("/gui/diagnostics", test_diagnostics);
  g_test_add_func ("/gui/diagnostics-plot-click", test_diagnostics_plot_click);
  g_test_add_func ("/gui/no-metrics", test_no_metrics);
  g_test_add_func ("/gui/token-view", test_token_view);
  g_test_add_func ("/gui/capture-from-model", test_capture_from_model);
  g_test_add_func ("/gui/demo-models", test_demo_models);
  g_test_add_func ("/gui/sweep", test_sweep);
  g_test_add_func ("/gui/weight-diff", test_weight_diff);
  g_test_add_func ("/gui/weight-diff-csv", test_weight_diff_csv);

  ret = g_test_run ();

  if (g_getenv ("ATS_KEEP_TMP") == NULL)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp_dir);

      /* the directory only holds files this program made */
      if (g_str_has_prefix (tmp_dir, g_get_tmp_dir ()))
        g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL);
    }
  return ret;
}
