/* fuzz-safetensors.c — libFuzzer target for the safetensors header parser
 *
 * Build with -Dfuzzing=true (see build-aux/fuzz.sh). Every input either opens, in which case
 * each tensor must lie inside the input and convert without reading past it, or fails with an
 * ATS_CHECKPOINT_ERROR naming the file.
 */
#include <stdint.h>
#include <string.h>

#include "attnscope/ats-safetensors.h"

#define CHECK(cond)                                                                                \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (!(cond))                                                                                   \
      {                                                                                            \
        g_printerr ("fuzz-safetensors: check failed: %s\n", #cond);                                \
        __builtin_trap ();                                                                         \
      }                                                                                            \
  }                                                                                                \
  G_STMT_END

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensors) st = NULL;
  GHashTableIter iter;
  gpointer       key, value;

  st = ats_safetensors_new_from_data (data, size, "fuzz-input", &error);
  if (st == NULL)
    {
      CHECK (error != NULL);
      CHECK (error->domain == ATS_CHECKPOINT_ERROR);
      CHECK (strstr (error->message, "fuzz-input") != NULL);
      return 0;
    }
  CHECK (error == NULL);

  for (guint i = 0; i < ats_safetensors_get_n_tensors (st); i++)
    {
      const AtsTensorInfo *t = ats_safetensors_get_tensor (st, i);
      g_autofree float    *buf = NULL;
      gint64               numel = 1;

      CHECK (t->name != NULL && g_utf8_validate (t->name, -1, NULL));
      CHECK (ats_safetensors_lookup (st, t->name) == t);
      CHECK (ats_safetensors_lookup_unsupported (st, t->name) == NULL);
      CHECK (t->n_dims <= ATS_MAX_DIMS);
      for (guint d = 0; d < t->n_dims; d++)
        {
          CHECK (t->shape[d] >= 0);
          numel *= t->shape[d];
        }
      CHECK (numel == t->numel);
      CHECK (t->n_bytes == (gsize) t->numel * ats_dtype_size (t->dtype));
      CHECK (t->data >= data + 8 && t->data + t->n_bytes <= data + size);
      if (i > 0)
        {
          const AtsTensorInfo *prev = ats_safetensors_get_tensor (st, i - 1);
          CHECK (prev->data + prev->n_bytes <= t->data);
        }
      /* read every byte through the converter (ASan catches reads past the input) */
      buf = g_new (float, MAX (t->numel, 1));
      ats_convert_to_f32 (t->dtype, t->data, (gsize) t->numel, buf);
    }

  g_hash_table_iter_init (&iter, ats_safetensors_get_metadata (st));
  while (g_hash_table_iter_next (&iter, &key, &value))
    CHECK (key != NULL && value != NULL && g_utf8_validate (value, -1, NULL));

  return 0;
}
