/* ats-safetensors.h — validated, memory-mapped safetensors files (REFERENCE §2)
 *
 * The header is parsed and checked completely at open time: length bounds, JSON object,
 * every entry's dtype/shape/data_offsets, offsets inside the data section, byte counts equal to
 * numel x dtype size (with overflow checks), no overlaps. After a successful open every
 * AtsTensorInfo can be trusted. Nothing is ever unpickled.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-error.h"

G_BEGIN_DECLS

#define ATS_MAX_DIMS 8

typedef enum
{
  ATS_DTYPE_F32,
  ATS_DTYPE_F16,
  ATS_DTYPE_BF16,
} AtsDType;

typedef struct
{
  const char   *name; /* owned by the file */
  AtsDType      dtype;
  guint         n_dims;
  gint64        shape[ATS_MAX_DIMS];
  gint64        numel;
  const guint8 *data; /* points into the mapping; little-endian */
  gsize         n_bytes;
} AtsTensorInfo;

typedef struct _AtsSafetensors AtsSafetensors;

/* Parses a complete file image held in memory (@data stays owned by the caller and must
 * outlive the result). @display_name is used in error messages. Used by the fuzzer. */
AtsSafetensors *ats_safetensors_new_from_data (const guint8 *data,
                                               gsize         len,
                                               const char   *display_name,
                                               GError      **error);
/* Maps @path read-only and validates it. */
AtsSafetensors *ats_safetensors_open (const char *path, GError **error);
AtsSafetensors *ats_safetensors_ref (AtsSafetensors *self);
void            ats_safetensors_unref (AtsSafetensors *self);
const char     *ats_safetensors_get_path (AtsSafetensors *self);
guint           ats_safetensors_get_n_tensors (AtsSafetensors *self);
/* Tensors in file order of data_offsets. */
const AtsTensorInfo *ats_safetensors_get_tensor (AtsSafetensors *self, guint index);
const AtsTensorInfo *ats_safetensors_lookup (AtsSafetensors *self, const char *name);
/* Tensors whose dtype attnscope cannot read (I64, BOOL, F8_E4M3, ...; e.g. the BOOL
 * `attention.bias` buffers in Pythia checkpoints) do not stop the file from opening; they are
 * left out of the tensor list and lookup(). This returns why @name is unreadable ("it has dtype
 * I64 (attnscope reads F32, F16 and BF16)"), or NULL if @name is readable or absent. */
const char *ats_safetensors_lookup_unsupported (AtsSafetensors *self, const char *name);
guint       ats_safetensors_get_n_unsupported (AtsSafetensors *self);
/* __metadata__ (string -> string), may be NULL-free empty table; owned by @self. */
GHashTable *ats_safetensors_get_metadata (AtsSafetensors *self);

const char *ats_dtype_to_string (AtsDType dtype); /* "F32", "F16", "BF16" */
gsize       ats_dtype_size (AtsDType dtype);

/* Conversions (no HDF5 soft conversion). */
float   ats_f16_to_f32 (guint16 h);
guint16 ats_f32_to_f16 (float f); /* round to nearest even */
float   ats_bf16_to_f32 (guint16 b);
guint16 ats_f32_to_bf16 (float f); /* round to nearest even, NaN kept */
/* Widens @n elements of @src (of @dtype, little-endian) into @dst. */
void ats_convert_to_f32 (AtsDType dtype, const guint8 *src, gsize n, float *dst);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsSafetensors, ats_safetensors_unref)

G_END_DECLS
