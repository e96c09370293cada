/* ats-gui-util.h — small helpers shared by the GUI views */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* A token piece made visible: spaces as "␣", newlines as "↵", tabs as "⇥", at most
 * @max_chars characters (0: no limit, "…" when cut). */
char *ats_token_display (const char *piece, guint max_chars);
/* Fills a rounded rectangle. */
void ats_snapshot_rounded_rect (GtkSnapshot           *snapshot,
                                const graphene_rect_t *rect,
                                float                  radius,
                                const GdkRGBA         *color);
/* A floating, tooltip-like label at (@x, @y), kept inside @width x @height. */
void ats_snapshot_callout (GtkWidget   *widget,
                           GtkSnapshot *snapshot,
                           const char  *text,
                           double       x,
                           double       y,
                           double       width,
                           double       height);
/* 0xRRGGBB -> GdkRGBA */
void ats_rgba_from_rgb (GdkRGBA *rgba, guint32 rgb, float alpha);
/* Whether the widget's theme is dark (from its CSS colour). */
gboolean ats_widget_is_dark (GtkWidget *widget);

/* The folder of a shipped demo checkpoint ("demo-softmax", "demo-lazy"): the installed copy
 * (datadir/attnscope/models), else the source tree's data/models for an uninstalled build.
 * NULL when neither exists. */
char *ats_demo_model_path (const char *name);

G_END_DECLS
