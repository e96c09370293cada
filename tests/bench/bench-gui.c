/* bench-gui.c — issue 5's speed targets, measured on a real window (run by hand under Xvfb)
 *
 *   xvfb-run -a -s '-screen 0 1600x1200x24' dbus-run-session -- \
 *     env GTK_A11Y=none build/tests/bench/bench-gui CAPTURE.h5 [FRAMES]
 *
 * Reports, with g_get_monotonic_time():
 *   - open: time from ats_window_open_path() to the first painted frame of the overview with
 *     the stored metrics (the grid's colours), and until every thumbnail has arrived;
 *   - the longest gap between two runs of a 2 ms main-loop timer while the file opens, the
 *     thumbnails stream in and a head loads (the UI thread's longest stall);
 *   - head view: time to the first painted frame of head (0, 0);
 *   - pan / zoom: per frame, the time from the frame clock's before-paint phase to after-paint
 *     (layout, snapshot of the window, GSK render), over FRAMES alternating zoom and pan steps;
 *   - the what-if Elastic-Softmax transform of the head (worker thread) until painted.
 */
#include <gtk/gtk.h>
#include <math.h>

#include "ats-application.h"
#include "ats-window.h"

static gint64  layout_end;
static gint64  last_frame_us;
static guint   n_painted;
static gint64  last_tick;
static gint64  max_gap;
static GArray *frame_times; /* double, ms */

static void
on_layout (GdkFrameClock *clock, gpointer user_data)
{
  layout_end = g_get_monotonic_time ();
}

static void
on_after_paint (GdkFrameClock *clock, gpointer user_data)
{
  last_frame_us = g_get_monotonic_time () - layout_end;
  n_painted++;
}

static gboolean
tick (gpointer user_data)
{
  gint64 now = g_get_monotonic_time ();

  if (last_tick > 0)
    max_gap = MAX (max_gap, now - last_tick);
  last_tick = now;
  return G_SOURCE_CONTINUE;
}

static void
reset_gap (void)
{
  last_tick = 0;
  max_gap = 0;
}

static gboolean
spin_until (gboolean (*cond) (AtsWindow *), AtsWindow *window, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (!cond (window))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      g_main_context_iteration (NULL, TRUE);
    }
  return TRUE;
}

static void
wait_frame (void)
{
  guint n = n_painted;

  while (n_painted == n)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
has_metrics (AtsWindow *window)
{
  return ats_window_get_metrics (window) != NULL;
}

static gboolean
has_head (AtsWindow *window)
{
  AtsHeatmapView *view = ats_window_get_heatmap_view (window);

  /* the map is read, and its colour pyramid (built in a worker thread at large T) is ready */
  return ats_window_get_head_matrix (window) != NULL &&
         ats_heatmap_view_get_matrix (view) == ats_window_get_head_matrix (window) &&
         !ats_heatmap_view_get_rendering (view);
}

static gboolean
has_whatif (AtsWindow *window)
{
  return ats_window_get_whatif_stats (window, NULL, NULL) != NULL &&
         !ats_heatmap_view_get_rendering (ats_window_get_heatmap_view (window));
}

static guint
count_thumbnails (AtsWindow *window)
{
  AtsOverviewGrid *grid = ats_window_get_overview_grid (window);
  guint            n = 0;

  for (guint l = 0; l < ats_overview_grid_get_n_layers (grid); l++)
    for (guint h = 0; h < ats_overview_grid_get_n_heads (grid); h++)
      n += ats_overview_grid_get_thumbnail (grid, l, h) != NULL;
  return n;
}

static gboolean
all_thumbnails (AtsWindow *window)
{
  AtsOverviewGrid *grid = ats_window_get_overview_grid (window);

  return count_thumbnails (window) ==
         ats_overview_grid_get_n_layers (grid) * ats_overview_grid_get_n_heads (grid);
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  AtsWindow      *window;
  AtsHeatmapView *view;
  GdkFrameClock  *clock;
  gint64          t0, t_doc, t_overview, t_thumbs = 0;
  guint           n_frames = argc > 2 ? (guint) atoi (argv[2]) : 200;
  double          sum = 0, worst = 0;
  guint           T;
  const char     *renderer;

  if (argc < 2)
    {
      g_printerr ("usage: %s CAPTURE.h5 [FRAMES]\n", argv[0]);
      return 2;
    }

  /* a program name for the recent-files entry GTK writes on open (no GApplication here) */
  g_set_prgname ("attnscope");
  g_set_application_name ("attnscope");
  gtk_init ();
  ats_application_init_resources ();
  frame_times = g_array_new (FALSE, FALSE, sizeof (double));

  window = ats_window_new (NULL);
  gtk_window_set_default_size (GTK_WINDOW (window), 1280, 820);
  gtk_window_present (GTK_WINDOW (window));
  clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  /* before-paint and after-paint run in every frame (layout and paint only when requested) */
  g_signal_connect_after (clock, "before-paint", G_CALLBACK (on_layout), NULL);
  g_signal_connect_after (clock, "after-paint", G_CALLBACK (on_after_paint), NULL);
  wait_frame ();
  renderer = G_OBJECT_TYPE_NAME (gtk_native_get_renderer (GTK_NATIVE (window)));
  g_timeout_add (2, tick, NULL);

  /* --- open to overview --- */
  reset_gap ();
  t0 = g_get_monotonic_time ();
  ats_window_open_path (window, argv[1]);
  if (!spin_until (has_metrics, window, 120))
    {
      g_printerr ("bench-gui: %s did not open: %s\n", argv[1],
                  ats_window_get_last_error (window) ? ats_window_get_last_error (window) : "");
      return 1;
    }
  t_doc = g_get_monotonic_time ();
  wait_frame ();
  t_overview = g_get_monotonic_time ();
  T = ats_document_get_run (ats_window_get_document (window), 0)->n_tokens;
  g_print ("capture: %s, %u layers x %u heads, T = %u; GSK renderer %s\n", argv[1],
           ats_document_get_n_layers (ats_window_get_document (window)),
           ats_document_get_n_heads (ats_window_get_document (window)), T, renderer);
  g_print ("open -> metrics loaded:                 %8.1f ms\n", (t_doc - t0) / 1000.0);
  g_print ("open -> overview painted (metric cells): %8.1f ms (thumbnails so far: %u)\n",
           (t_overview - t0) / 1000.0, count_thumbnails (window));
  /* ATS_BENCH_SKIP_THUMBNAILS=1: go on while they load (the head then competes with them) */
  if (g_getenv ("ATS_BENCH_SKIP_THUMBNAILS") == NULL)
    {
      if (spin_until (all_thumbnails, window, 600))
        t_thumbs = g_get_monotonic_time ();
      g_print ("open -> all thumbnails:                 %8.1f ms\n", (t_thumbs - t0) / 1000.0);
    }
  g_print ("longest UI-thread stall while opening:  %8.1f ms\n", max_gap / 1000.0);

  /* --- head view --- */
  reset_gap ();
  t0 = g_get_monotonic_time ();
  ats_window_show_view (window, "head");
  ats_window_select_head (window, 0, 1);
  spin_until (has_head, window, 120);
  wait_frame ();
  g_print ("head (0, 1): loaded and painted:       %8.1f ms (last frame %.1f ms)\n",
           (g_get_monotonic_time () - t0) / 1000.0, last_frame_us / 1000.0);
  g_print ("longest UI-thread stall (head open):    %8.1f ms\n", max_gap / 1000.0);

  /* --- pan / zoom --- */
  view = ats_window_get_heatmap_view (window);
  {
    double cx = gtk_widget_get_width (GTK_WIDGET (view)) / 2.0;
    double cy = gtk_widget_get_height (GTK_WIDGET (view)) / 2.0;

    for (guint i = 0; i < n_frames; i++)
      {
        double ms;

        /* zoom in for a while, pan around, zoom back out */
        if (i % 40 < 15)
          ats_heatmap_view_zoom_at (view, 1.25, cx + 30 * sin (i), cy + 30 * cos (i));
        else if (i % 40 < 25)
          ats_heatmap_view_pan (view, 23, -17);
        else
          ats_heatmap_view_zoom_at (view, 0.8, cx, cy);
        wait_frame ();
        ms = last_frame_us / 1000.0;
        g_array_append_val (frame_times, ms);
        sum += ms;
        worst = MAX (worst, ms);
      }
    g_array_sort (frame_times, compare_double);
    g_print (
        "pan/zoom frames (before-paint -> after-paint), %u frames: mean %.2f ms, median %.2f ms, "
        "p95 %.2f ms, max %.2f ms\n",
        n_frames, sum / n_frames, g_array_index (frame_times, double, n_frames / 2),
        g_array_index (frame_times, double, (guint) (n_frames * 0.95)), worst);
  }

  /* --- baseline: frames that only move the hover crosshair (the map node stays cached) --- */
  {
    double cx = gtk_widget_get_width (GTK_WIDGET (view)) / 2.0;
    double cy = gtk_widget_get_height (GTK_WIDGET (view)) / 2.0;
    double hsum = 0, hworst = 0;

    for (guint i = 0; i < 60; i++)
      {
        ats_heatmap_view_set_hover (view, cx + 40 * sin (i * 0.3), cy + 40 * cos (i * 0.3));
        wait_frame ();
        hsum += last_frame_us / 1000.0;
        hworst = MAX (hworst, last_frame_us / 1000.0);
      }
    ats_heatmap_view_clear_hover (view);
    g_print (
        "hover-only frames (same window, no map redraw), 60 frames: mean %.2f ms, max %.2f ms\n",
        hsum / 60, hworst);
  }

  /* --- what-if --- */
  reset_gap ();
  t0 = g_get_monotonic_time ();
  ats_window_set_whatif (window, TRUE, -1.0, FALSE);
  spin_until (has_whatif, window, 120);
  wait_frame ();
  g_print ("what-if tau = -1 on a %u x %u head: painted after %.1f ms; longest UI stall %.1f ms\n",
           T, T, (g_get_monotonic_time () - t0) / 1000.0, max_gap / 1000.0);

  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}
