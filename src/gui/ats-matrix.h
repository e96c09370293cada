/* ats-matrix.h — a refcounted float matrix shown by the GUI views
 *
 * Immutable once built: views share it by reference. Values are row-major [n_rows, n_cols].
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define ATS_TYPE_MATRIX (ats_matrix_get_type ())

typedef struct
{
  /*< private >*/
  gatomicrefcount ref_count;
  /*< public >*/
  guint  n_rows;
  guint  n_cols;
  float *data; /* [n_rows, n_cols] */
  float  min;  /* over finite values */
  float  max;
} AtsMatrix;

GType ats_matrix_get_type (void) G_GNUC_CONST;
/* Takes ownership of @data ([n_rows, n_cols], g_malloc'd). */
AtsMatrix *ats_matrix_new_take (guint n_rows, guint n_cols, float *data);
AtsMatrix *ats_matrix_new_zero (guint n_rows, guint n_cols);
AtsMatrix *ats_matrix_ref (AtsMatrix *self);
void       ats_matrix_unref (AtsMatrix *self);
/* GDestroyNotify for arrays that may hold NULL entries. */
void  ats_matrix_unref0 (gpointer matrix);
float ats_matrix_get (const AtsMatrix *self, guint row, guint col);
/* a - b, element-wise; NULL if the shapes differ. */
AtsMatrix *ats_matrix_new_difference (const AtsMatrix *a, const AtsMatrix *b);
/* Max-pools to at most @max_size x @max_size (a copy when already small enough). */
AtsMatrix *ats_matrix_new_max_pooled (const AtsMatrix *self, guint max_size);
/* Largest |value| over finite entries. */
float ats_matrix_get_abs_max (const AtsMatrix *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsMatrix, ats_matrix_unref)

G_END_DECLS
