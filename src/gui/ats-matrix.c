/* ats-matrix.c */
#include "ats-matrix.h"

#include <math.h>

G_DEFINE_BOXED_TYPE (AtsMatrix, ats_matrix, ats_matrix_ref, ats_matrix_unref)

static void
ats_matrix_update_range (AtsMatrix *self)
{
  gsize n = (gsize) self->n_rows * self->n_cols;
  float lo = INFINITY;
  float hi = -INFINITY;

  for (gsize i = 0; i < n; i++)
    {
      float v = self->data[i];

      if (!isfinite (v))
        continue;
      if (v < lo)
        lo = v;
      if (v > hi)
        hi = v;
    }

  if (lo > hi)
    lo = hi = 0.0f;

  self->min = lo;
  self->max = hi;
}

AtsMatrix *
ats_matrix_new_take (guint n_rows, guint n_cols, float *data)
{
  AtsMatrix *self;

  g_return_val_if_fail (data != NULL || (gsize) n_rows * n_cols == 0, NULL);

  self = g_new0 (AtsMatrix, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->n_rows = n_rows;
  self->n_cols = n_cols;
  self->data = data;
  ats_matrix_update_range (self);

  return self;
}

AtsMatrix *
ats_matrix_new_zero (guint n_rows, guint n_cols)
{
  return ats_matrix_new_take (n_rows, n_cols, g_new0 (float, (gsize) n_rows *n_cols));
}

AtsMatrix *
ats_matrix_ref (AtsMatrix *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
ats_matrix_unref (AtsMatrix *self)
{
  g_return_if_fail (self != NULL);

  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      g_free (self->data);
      g_free (self);
    }
}

void
ats_matrix_unref0 (gpointer matrix)
{
  if (matrix != NULL)
    ats_matrix_unref (matrix);
}

float
ats_matrix_get (const AtsMatrix *self, guint row, guint col)
{
  g_return_val_if_fail (self != NULL, NAN);
  g_return_val_if_fail (row < self->n_rows && col < self->n_cols, NAN);

  return self->data[(gsize) row * self->n_cols + col];
}

AtsMatrix *
ats_matrix_new_difference (const AtsMatrix *a, const AtsMatrix *b)
{
  gsize  n;
  float *out;

  g_return_val_if_fail (a != NULL && b != NULL, NULL);

  if (a->n_rows != b->n_rows || a->n_cols != b->n_cols)
    return NULL;

  n = (gsize) a->n_rows * a->n_cols;
  out = g_new (float, n); /* [R, C] */
  for (gsize i = 0; i < n; i++)
    out[i] = a->data[i] - b->data[i];

  return ats_matrix_new_take (a->n_rows, a->n_cols, out);
}

AtsMatrix *
ats_matrix_new_max_pooled (const AtsMatrix *self, guint max_size)
{
  guint  rows, cols;
  float *out;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (max_size > 0, NULL);

  rows = MIN (self->n_rows, max_size);
  cols = MIN (self->n_cols, max_size);
  out = g_new (float, (gsize) rows *cols); /* [rows, cols] */

  for (guint r = 0; r < rows; r++)
    {
      guint r0 = (guint) ((guint64) r * self->n_rows / rows);
      guint r1 = MAX (r0 + 1, (guint) ((guint64) (r + 1) * self->n_rows / rows));

      for (guint c = 0; c < cols; c++)
        {
          guint c0 = (guint) ((guint64) c * self->n_cols / cols);
          guint c1 = MAX (c0 + 1, (guint) ((guint64) (c + 1) * self->n_cols / cols));
          float best = -INFINITY;

          for (guint i = r0; i < r1; i++)
            for (guint j = c0; j < c1; j++)
              {
                float v = self->data[(gsize) i * self->n_cols + j];

                if (v > best)
                  best = v;
              }

          out[(gsize) r * cols + c] = best;
        }
    }

  return ats_matrix_new_take (rows, cols, out);
}

float
ats_matrix_get_abs_max (const AtsMatrix *self)
{
  g_return_val_if_fail (self != NULL, 0.0f);

  return MAX (fabsf (self->min), fabsf (self->max));
}
