/* ats-colormap.h — colormaps, value scales and the colorbar of libattnscope-render
 *
 * Colormaps are 256-entry lookup tables (0xRRGGBB). viridis, magma and cividis equal
 * matplotlib's tables to the byte (see ats-colormap-gen.py for the sources); grey is linear
 * black -> white; rdbu is ColorBrewer's RdBu reversed (blue < 0 < red), meant for signed
 * difference maps with a symmetric range.
 *
 * A scale maps a data value to t in [0, 1], which picks the colour:
 *   linear: t = (v - vmin) / (vmax - vmin)
 *   log:    t = (log v - log floor) / (log vmax - log floor), v clamped to [floor, vmax];
 *           floor = log_floor if > 0, else 1e-4 * vmax
 *   power:  t = ((v - vmin) / (vmax - vmin)) ^ gamma   (gamma < 1 brightens small values)
 * t is clamped to [0, 1]; NaN stays NaN.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  ATS_COLORMAP_VIRIDIS, /* default */
  ATS_COLORMAP_MAGMA,
  ATS_COLORMAP_CIVIDIS,
  ATS_COLORMAP_GREY,
  ATS_COLORMAP_RDBU, /* diverging: blue - white - red */
} AtsColormap;

#define ATS_COLORMAP_LUT_SIZE 256

const guint32 *ats_colormap_get_lut (AtsColormap cmap);
guint32        ats_colormap_lookup (AtsColormap cmap, double t);
void           ats_colormap_set_source (AtsColormap cmap, double t, cairo_t *cr);
gboolean       ats_colormap_is_diverging (AtsColormap cmap);
const char    *ats_colormap_to_string (AtsColormap cmap);
gboolean       ats_colormap_from_string (const char *name, AtsColormap *out_cmap, GError **error);

typedef enum
{
  ATS_SCALE_LINEAR,
  ATS_SCALE_LOG,
  ATS_SCALE_POWER,
} AtsScaleKind;

typedef struct
{
  AtsScaleKind kind;
  double       vmin;      /* NaN = automatic (from the data) */
  double       vmax;      /* NaN = automatic (from the data) */
  double       gamma;     /* power scale exponent, default 0.5 */
  double       log_floor; /* log scale floor; <= 0 means 1e-4 * vmax */
} AtsScale;

void     ats_scale_init (AtsScale *scale, AtsScaleKind kind);
gboolean ats_scale_is_auto (const AtsScale *scale);
void     ats_scale_resolve (AtsScale *scale, double data_min, double data_max, gboolean symmetric);
double   ats_scale_normalize (const AtsScale *scale, double v);
double   ats_scale_get_floor (const AtsScale *scale);
const char *ats_scale_kind_to_string (AtsScaleKind kind);
gboolean    ats_scale_kind_from_string (const char *name, AtsScaleKind *out_kind, GError **error);

void   ats_colorbar_draw (cairo_t        *cr,
                          double          x,
                          double          y,
                          double          width,
                          double          height,
                          AtsColormap     cmap,
                          const AtsScale *scale,
                          const char     *label,
                          double          font_size);
double ats_colorbar_get_width (cairo_t        *cr,
                               double          bar_width,
                               double          height,
                               const AtsScale *scale,
                               const char     *label,
                               double          font_size);

G_END_DECLS
