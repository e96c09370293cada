/* ats-colorize.h — the GUI's bridge to the render library's heatmap images
 *
 * Every colour the views paint comes from libattnscope-render (ats_heatmap_render_image,
 * ats_colormap_lookup), so the window shows the same pixels as an exported figure.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-colormap.h"
#include "ats-heatmap.h"
#include "ats-matrix.h"

G_BEGIN_DECLS

/* An AtsHeatmap over @matrix (borrowed) with the given colormap, scale kind and range
 * (NaN: automatic). @causal: cells above the diagonal are "not visible". */
void ats_colorize_init_heatmap (AtsHeatmap      *heatmap,
                                const AtsMatrix *matrix,
                                AtsColormap      cmap,
                                AtsScaleKind     kind,
                                double           vmin,
                                double           vmax,
                                gboolean         causal);
/* The heatmap's resolved scale; a diverging map of all zeros gets [-1, 1] (so zero is the
 * neutral middle colour rather than one end). */
void ats_colorize_resolve_scale (const AtsHeatmap *heatmap, AtsScale *scale);
/* One pixel per cell, or max-pooled down to @max_width x @max_height. */
cairo_surface_t *ats_colorize_image (const AtsHeatmap *heatmap,
                                     const AtsScale   *scale,
                                     int               max_width,
                                     int               max_height);
/* 0xRRGGBB of one value (NaN: the masked grey). */
guint32 ats_colorize_value (AtsColormap cmap, const AtsScale *scale, double v);

G_END_DECLS
