/* gui-test-util.c */
#include "gui-test-util.h"

gboolean
gui_test_wait_idle (AtsWindow *window, guint min_ms, guint timeout_ms)
{
  gint64 start = g_get_monotonic_time ();
  gint64 quiet_since = 0;

  for (;;)
    {
      gint64 now = g_get_monotonic_time ();

      while (g_main_context_pending (NULL))
        g_main_context_iteration (NULL, FALSE);

      if (!ats_window_get_busy (window))
        {
          if (quiet_since == 0)
            quiet_since = now;
          /* idle for a while: frames drawn, allocations done */
          if ((now - start) / 1000 >= min_ms && (now - quiet_since) / 1000 >= 50)
            return TRUE;
        }
      else
        quiet_since = 0;

      if ((now - start) / 1000 > timeout_ms)
        return FALSE;
      g_usleep (2000);
    }
}

gboolean
gui_test_wait_flag (gboolean *done, guint timeout_ms)
{
  gint64 start = g_get_monotonic_time ();

  while (!*done)
    {
      while (g_main_context_pending (NULL))
        g_main_context_iteration (NULL, FALSE);
      if ((g_get_monotonic_time () - start) / 1000 > timeout_ms)
        return FALSE;
      g_usleep (1000);
    }
  return TRUE;
}

GdkTexture *
gui_test_render_widget (GtkWidget *widget)
{
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  int          w = gtk_widget_get_width (widget);
  int          h = gtk_widget_get_height (widget);
  g_autoptr (GskRenderNode) node = NULL;
  GskRenderer *renderer;

  g_return_val_if_fail (w > 0 && h > 0, NULL);

  gdk_paintable_snapshot (paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    return NULL;

  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  return gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, w, h));
}

guint32
gui_test_texture_pixel (GdkTexture *texture, int x, int y)
{
  int                w = gdk_texture_get_width (texture);
  int                h = gdk_texture_get_height (texture);
  g_autofree guchar *data = NULL;
  guint32            px;

  g_return_val_if_fail (x >= 0 && y >= 0 && x < w && y < h, 0);

  data = g_malloc ((gsize) w * h * 4);
  gdk_texture_download (texture, data, w * 4);
  /* cairo ARGB32 premultiplied, native endian: opaque pixels are 0xAARRGGBB */
  px = *(guint32 *) (data + ((gsize) y * w + x) * 4);
  return px & 0xffffff;
}

gboolean
gui_test_make_capture (const char *out, const char *const *args)
{
  const char      *src = g_getenv ("ATS_SOURCE_ROOT");
  const char      *python = g_getenv ("ATS_PYTHON");
  g_autofree char *script = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int status = 0;

  if (python == NULL)
    python = "/usr/bin/python3";
  script =
      g_build_filename (src != NULL ? src : ".", "tests", "gui", "make_sample_capture.py", NULL);

  g_ptr_array_add (argv, (gpointer) python);
  g_ptr_array_add (argv, script);
  g_ptr_array_add (argv, (gpointer) out);
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                     &status, &error))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}
