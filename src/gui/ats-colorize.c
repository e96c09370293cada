/* ats-colorize.c */
#include "ats-colorize.h"

#include <math.h>

void
ats_colorize_resolve_scale (AtsScale        *scale,
                            AtsScaleKind     kind,
                            const AtsMatrix *matrix,
                            double           vmin,
                            double           vmax,
                            gboolean         symmetric)
{
  double lo = matrix != NULL ? matrix->min : 0.0;
  double hi = matrix != NULL ? matrix->max : 1.0;

  ats_scale_init (scale, kind);
  if (isfinite (vmin))
    scale->vmin = vmin;
  if (isfinite (vmax))
    scale->vmax = vmax;

  if (symmetric && isnan (scale->vmin) && isnan (scale->vmax) && MAX (fabs (lo), fabs (hi)) == 0.0)
    {
      scale->vmin = -1.0;
      scale->vmax = 1.0;
    }

  ats_scale_resolve (scale, lo, hi, symmetric);
}

guint32
ats_colorize_value (AtsColormap cmap, const AtsScale *scale, double v)
{
  double t;

  if (!isfinite (v))
    return ATS_COLORIZE_MASKED_RGB;

  t = ats_scale_normalize (scale, v);
  if (isnan (t))
    return ATS_COLORIZE_MASKED_RGB;

  return ats_colormap_lookup (cmap, t);
}

cairo_surface_t *
ats_colorize_matrix (const AtsMatrix *matrix, AtsColormap cmap, const AtsScale *scale,
                     gboolean causal)
{
  cairo_surface_t *surface;
  guchar *pixels;
  int stride;

  g_return_val_if_fail (matrix != NULL, NULL);

  surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, MAX (1, matrix->n_cols),
                                        MAX (1, matrix->n_rows));
  cairo_surface_flush (surface);
  pixels = cairo_image_surface_get_data (surface);
  stride = cairo_image_surface_get_stride (surface);

  for (guint r = 0; r < matrix->n_rows; r++)
    {
      guint32 *row = (guint32 *) (pixels + (gsize) r * stride);
      const float *values = matrix->data + (gsize) r * matrix->n_cols; /* [C] */

      for (guint c = 0; c < matrix->n_cols; c++)
        {
          if (causal && c > r)
            row[c] = 0xff000000u | ATS_COLORIZE_MASKED_RGB;
          else
            row[c] = 0xff000000u | ats_colorize_value (cmap, scale, values[c]);
        }
    }

  cairo_surface_mark_dirty (surface);
  return surface;
}

AtsMatrix *
ats_colorize_halve (const AtsMatrix *matrix)
{
  guint rows = (matrix->n_rows + 1) / 2;
  guint cols = (matrix->n_cols + 1) / 2;
  float *out = g_new (float, (gsize) rows * cols); /* [rows, cols] */
  AtsMatrix *result;

  for (guint r = 0; r < rows; r++)
    for (guint c = 0; c < cols; c++)
      {
        float best = NAN;

        for (guint i = 2 * r; i < MIN (2 * r + 2, matrix->n_rows); i++)
          for (guint j = 2 * c; j < MIN (2 * c + 2, matrix->n_cols); j++)
            {
              float v = matrix->data[(gsize) i * matrix->n_cols + j];

              if (!isnan (v) && (isnan (best) || v > best))
                best = v;
            }

        out[(gsize) r * cols + c] = best;
      }

  result = ats_matrix_new_take (rows, cols, out);
  return result;
}

AtsMatrix *
ats_colorize_mask_causal (const AtsMatrix *matrix)
{
  gsize n = (gsize) matrix->n_rows * matrix->n_cols;
  float *out = g_memdup2 (matrix->data, n * sizeof (float)); /* [R, C] */

  for (guint r = 0; r < matrix->n_rows; r++)
    for (guint c = r + 1; c < matrix->n_cols; c++)
      out[(gsize) r * matrix->n_cols + c] = NAN;

  return ats_matrix_new_take (matrix->n_rows, matrix->n_cols, out);
}
