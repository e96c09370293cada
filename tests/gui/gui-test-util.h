/* gui-test-util.h — helpers shared by the gui test program and the screenshot tool */
#pragma once

#include <gtk/gtk.h>

#include "ats-window.h"

G_BEGIN_DECLS

/* Spins the main loop until @window has no pending work (and at least @min_ms passed). */
gboolean gui_test_wait_idle (AtsWindow *window, guint min_ms, guint timeout_ms);
/* Spins the main loop until @done is TRUE. */
gboolean gui_test_wait_flag (gboolean *done, guint timeout_ms);
/* Renders @widget off-screen (gtk_widget_paintable_new -> gsk_renderer_render_texture). */
GdkTexture *gui_test_render_widget (GtkWidget *widget);
/* 0xRRGGBB of the pixel (@x, @y) of a texture (downloaded once into @pixels if NULL). */
guint32 gui_test_texture_pixel (GdkTexture *texture, int x, int y);
/* Generates a sample capture with tests/gui/make_sample_capture.py; FALSE if python3+h5py
 * are missing. @args: extra arguments, NULL-terminated. */
gboolean gui_test_make_capture (const char *out, const char *const *args);

G_END_DECLS
