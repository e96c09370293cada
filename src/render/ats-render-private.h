/* ats-render-private.h — helpers shared by the files of libattnscope-render
 *
 * Text is drawn with Cairo's toy font API ("Sans"); sizes are in user units of the cairo_t
 * (points for exports, logical pixels in the GUI).
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-colormap.h"

G_BEGIN_DECLS

#define _ATS_FONT "Sans"
#define _ATS_TEXT_RGB 0x222222
#define _ATS_MUTED_RGB 0x666666
#define _ATS_AXIS_RGB 0x444444
#define _ATS_MASKED_RGB 0xdcdcdc /* causal "not visible" cells */

typedef enum
{
  _ATS_ALIGN_START,
  _ATS_ALIGN_CENTER,
  _ATS_ALIGN_END,
} _AtsAlign;

void   _ats_set_rgb (cairo_t *cr, guint32 rgb);
void   _ats_set_font (cairo_t *cr, double size, gboolean bold);
double _ats_text_width (cairo_t *cr, const char *text);
void   _ats_draw_text (cairo_t    *cr,
                       const char *text,
                       double      x,
                       double      y,
                       _AtsAlign   halign,
                       _AtsAlign   valign,
                       double      angle);
char  *_ats_text_fit (cairo_t *cr, const char *text, double max_width);
char  *_ats_label_sanitize (const char *label, guint max_chars);
double _ats_draw_title (cairo_t *cr, const char *title, double width, double top, double font_size);
double _ats_footer_height (const char *footer, double font_size);
void   _ats_draw_footer (cairo_t    *cr,
                         const char *footer,
                         double      width,
                         double      height,
                         double      margin,
                         double      font_size);
double _ats_base_font_size (double width, double height);

/* Axis ticks: positions in data units, at most max_ticks, "nice" steps (1, 2, 5 x 10^k). */
guint _ats_nice_ticks (double   lo,
                       double   hi,
                       guint    max_ticks,
                       gboolean integer_only,
                       double  *ticks,
                       double  *out_step);
guint _ats_log_ticks (double lo, double hi, guint max_ticks, double *ticks);
char *_ats_format_tick (double v, double step);
char *_ats_format_log_tick (double v);

/* Downsampling: the output index of each input index, n_in -> n_out (n_out <= n_in). */
void   _ats_pool_index_map (int n_in, int n_out, int *map /* [n_in] */);
double _ats_image_scale_for (cairo_t *cr);

G_END_DECLS
