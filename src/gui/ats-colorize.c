/* ats-colorize.c */
#include "ats-colorize.h"

#include <math.h>

void
ats_colorize_init_heatmap (AtsHeatmap      *heatmap,
                           const AtsMatrix *matrix,
                           AtsColormap      cmap,
                           AtsScaleKind     kind,
                           double           vmin,
                           double           vmax,
                           gboolean         causal)
{
  ats_heatmap_init (heatmap, matrix->data, matrix->n_rows, matrix->n_cols);
  heatmap->colormap = cmap;
  heatmap->causal = causal && matrix->n_rows == matrix->n_cols;
  heatmap->pooling = ats_colormap_is_diverging (cmap) ? ATS_POOLING_MAX_ABS : ATS_POOLING_MAX;
  ats_scale_init (&heatmap->scale, kind);
  heatmap->scale.vmin = vmin;
  heatmap->scale.vmax = vmax;
}

void
ats_colorize_resolve_scale (const AtsHeatmap *heatmap, AtsScale *scale)
{
  double lo, hi;

  if (ats_colormap_is_diverging (heatmap->colormap) && ats_scale_is_auto (&heatmap->scale))
    {
      ats_heatmap_get_data_range (heatmap, &lo, &hi);
      if (!(MAX (fabs (lo), fabs (hi)) > 0.0))
        {
          *scale = heatmap->scale;
          scale->vmin = -1.0;
          scale->vmax = 1.0;
          ats_scale_resolve (scale, -1.0, 1.0, TRUE);
          return;
        }
    }

  ats_heatmap_resolve_scale (heatmap, scale);
}

cairo_surface_t *
ats_colorize_image (const AtsHeatmap *heatmap, const AtsScale *scale, int max_width, int max_height)
{
  AtsViewRect all = { 0, 0, 0, 0 };

  return ats_heatmap_render_image (heatmap, scale, &all, max_width, max_height);
}

guint32
ats_colorize_value (AtsColormap cmap, const AtsScale *scale, double v)
{
  double t;

  if (!isfinite (v))
    return ATS_HEATMAP_MASKED_RGB;

  t = ats_scale_normalize (scale, v);
  if (isnan (t))
    return ATS_HEATMAP_MASKED_RGB;

  return ats_colormap_lookup (cmap, t);
}
