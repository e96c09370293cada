/* ats-colorize.h — value matrices to Cairo images through the render library's colormaps
 *
 * The colours come from libattnscope-render (ats_colormap_lookup over ats_scale_normalize),
 * so the window shows the same colours as an exported figure. Causally invisible cells
 * (j > i of a square map) and NaN are drawn in the renderer's masked grey.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-colormap.h"
#include "ats-matrix.h"

G_BEGIN_DECLS

#define ATS_COLORIZE_MASKED_RGB 0xdcdcdc

/* The resolved scale of @matrix for @kind: vmin/vmax from the data unless @vmin/@vmax are
 * finite, symmetric around 0 when @symmetric (an all-zero difference gives [-1, 1]). */
void             ats_colorize_resolve_scale (AtsScale        *scale,
                                             AtsScaleKind     kind,
                                             const AtsMatrix *matrix,
                                             double           vmin,
                                             double           vmax,
                                             gboolean         symmetric);
/* An ARGB32 image, one pixel per cell. @causal: cells with col > row are masked. */
cairo_surface_t *ats_colorize_matrix (const AtsMatrix *matrix,
                                      AtsColormap      cmap,
                                      const AtsScale  *scale,
                                      gboolean         causal);
/* 2x2 max-pool of values; NaN (masked) only when all four inputs are NaN. */
AtsMatrix       *ats_colorize_halve (const AtsMatrix *matrix);
/* A copy with the causally invisible cells (col > row) set to NaN. */
AtsMatrix       *ats_colorize_mask_causal (const AtsMatrix *matrix);
/* 0xRRGGBB of one value. */
guint32          ats_colorize_value (AtsColormap cmap, const AtsScale *scale, double v);

G_END_DECLS
