/* ats-screenshots.c — renders the app's views to PNG from a real window (run under Xvfb)
 *
 *   attnscope-screenshots OUT_DIR CAPTURE.h5 [A.h5 B.h5]
 *
 * Writes overview.png, overview-sink.png, head-view.png (with the hover tooltip), tokens.png,
 * diagnostics.png and, given two more captures of one prompt, compare.png (A against B) and
 * head-whatif.png (what-if Elastic-Softmax of A's head with B's lazy/tau when B has one).
 * Used by build-aux/screenshots.sh.
 */
#include <gtk/gtk.h>

#include "ats-application.h"
#include "ats-window.h"
#include "gui-test-util.h"

#define TIMEOUT_MS 60000

static gboolean
save (AtsWindow *window, const char *dir, const char *name)
{
  g_autoptr (GdkTexture) texture = NULL;
  g_autofree char *path = g_build_filename (dir, name, NULL);

  if (!gui_test_wait_idle (window, 300, TIMEOUT_MS))
    {
      g_printerr ("attnscope-screenshots: the window did not settle for %s\n", name);
      return FALSE;
    }
  texture = gui_test_render_widget (GTK_WIDGET (window));
  if (texture == NULL || !gdk_texture_save_to_png (texture, path))
    {
      g_printerr ("attnscope-screenshots: cannot write %s\n", path);
      return FALSE;
    }
  g_print ("%s\n", path);
  return TRUE;
}

int
main (int argc, char **argv)
{
  AtsWindow       *window;
  AtsHeatmapView  *heatmap;
  AtsTokenView    *tokens;
  AtsOverviewGrid *grid;
  double           x, y;
  gboolean         ok = TRUE;

  if (argc < 3)
    {
      g_printerr ("usage: %s OUT_DIR CAPTURE.h5 [A.h5 B.h5]\n", argv[0]);
      return 2;
    }

  g_set_application_name ("attnscope");
  gtk_init ();
  ats_application_init_resources ();
  {
    GtkCssProvider *provider = gtk_css_provider_new ();

    gtk_css_provider_load_from_resource (provider, "/org/attnscope/Attnscope/style.css");
    gtk_style_context_add_provider_for_display (gdk_display_get_default (),
                                                GTK_STYLE_PROVIDER (provider),
                                                GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    gtk_icon_theme_add_resource_path (gtk_icon_theme_get_for_display (gdk_display_get_default ()),
                                      "/org/attnscope/Attnscope/icons");
  }
  g_mkdir_with_parents (argv[1], 0755);

  window = ats_window_new (NULL);
  gtk_window_set_default_size (GTK_WINDOW (window), 1280, 820);
  gtk_window_present (GTK_WINDOW (window));
  ok &= save (window, argv[1], "empty.png");

  ats_window_open_path (window, argv[2]);
  if (!gui_test_wait_idle (window, 300, TIMEOUT_MS) || ats_window_get_document (window) == NULL)
    {
      g_printerr ("attnscope-screenshots: cannot open %s: %s\n", argv[2],
                  ats_window_get_last_error (window) ? ats_window_get_last_error (window) : "");
      return 1;
    }

  /* overview, hovering a sink head */
  grid = ats_window_get_overview_grid (window);
  ats_window_select_head (window, 1, 0);
  gui_test_wait_idle (window, 200, TIMEOUT_MS);
  if (ats_overview_grid_cell_to_pixel (grid, 2, 0, &x, &y))
    ats_overview_grid_set_hover (grid, x, y);
  ok &= save (window, argv[1], "overview.png");
  ats_overview_grid_clear_hover (grid);

  ats_overview_grid_set_color_by (grid, "first_token_mass");
  ok &= save (window, argv[1], "overview-sink.png");
  ats_overview_grid_set_color_by (grid, NULL);

  /* head view with the tooltip on the sink column */
  ats_window_show_view (window, "head");
  heatmap = ats_window_get_heatmap_view (window);
  gui_test_wait_idle (window, 200, TIMEOUT_MS);
  if (ats_heatmap_view_cell_to_pixel (heatmap, 11, 0, &x, &y))
    ats_heatmap_view_set_hover (heatmap, x, y);
  ok &= save (window, argv[1], "head-view.png");
  ats_heatmap_view_clear_hover (heatmap);

  /* tokens: what token 8 attends to */
  ats_window_show_view (window, "tokens");
  tokens = ats_window_get_token_view (window);
  ats_token_view_set_selected (tokens, MIN (8, ats_token_view_get_n_tokens (tokens) - 1));
  ok &= save (window, argv[1], "tokens.png");

  ats_window_show_view (window, "diagnostics");
  ok &= save (window, argv[1], "diagnostics.png");

  if (argc > 4)
    {
      ats_window_open_path (window, argv[3]);
      gui_test_wait_idle (window, 300, TIMEOUT_MS);
      ats_window_select_head (window, 2, 0);
      ats_window_open_compare (window, argv[4]);
      gui_test_wait_idle (window, 300, TIMEOUT_MS);
      ok &= save (window, argv[1], "compare.png");

      /* what-if Elastic-Softmax on the softmax capture's sink head, with the Lazy capture's own
       * tau of that head (its lazy/tau) */
      ats_window_show_view (window, "head");
      ats_window_set_whatif (window, TRUE, -1.0, ats_window_get_lazy_tau (window) != NULL);
      ok &= save (window, argv[1], "head-whatif.png");
    }

  gtk_window_destroy (GTK_WINDOW (window));
  return ok ? 0 : 1;
}
