/* ats-checkpoint.h — a checkpoint folder (or single .safetensors file): one or many shards
 *
 * Opens `model.safetensors`, any sharded set through `model.safetensors.index.json`
 * (weight_map: tensor -> shard), or a lone `*.safetensors`. Refuses pickle files
 * (`pytorch_model.bin`, `*.pt`, `*.pth`, `*.ckpt`) with a message explaining how to convert.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-safetensors.h"

G_BEGIN_DECLS

typedef struct _AtsCheckpoint AtsCheckpoint;

/* @path: a folder or a .safetensors file. */
AtsCheckpoint *ats_checkpoint_open (const char *path, GError **error);
AtsCheckpoint *ats_checkpoint_ref (AtsCheckpoint *self);
void           ats_checkpoint_unref (AtsCheckpoint *self);
/* The folder (for a lone file: its folder). */
const char *ats_checkpoint_get_dir (AtsCheckpoint *self);
guint       ats_checkpoint_get_n_tensors (AtsCheckpoint *self);
/* Sorted by name. */
const char *const *ats_checkpoint_get_tensor_names (AtsCheckpoint *self);
/* NULL if absent or of an unreadable dtype (no error). */
const AtsTensorInfo *ats_checkpoint_lookup (AtsCheckpoint *self, const char *name);
/* The shard that holds @name, or NULL. */
AtsSafetensors *ats_checkpoint_get_shard_for (AtsCheckpoint *self, const char *name);
guint           ats_checkpoint_get_n_shards (AtsCheckpoint *self);
AtsSafetensors *ats_checkpoint_get_shard (AtsCheckpoint *self, guint index);
/* Total bytes of tensor data. */
guint64 ats_checkpoint_get_n_bytes (AtsCheckpoint *self);

/* Looks up @name and checks its shape against @shape (@n_dims entries).
 * Errors: ATS_CHECKPOINT_ERROR_MISSING naming the tensor, ATS_CHECKPOINT_ERROR_SHAPE naming
 * the tensor with expected and actual shapes, ATS_CHECKPOINT_ERROR_UNSUPPORTED naming the
 * tensor and its dtype when it is stored in a dtype attnscope cannot read (I64, BOOL, ...). */
const AtsTensorInfo *ats_checkpoint_require (AtsCheckpoint *self,
                                             const char    *name,
                                             guint          n_dims,
                                             const gint64  *shape,
                                             GError       **error);
/* As ats_checkpoint_require() and returns a newly allocated float32 copy (g_free). */
float *ats_checkpoint_read_f32 (AtsCheckpoint *self,
                                const char    *name,
                                guint          n_dims,
                                const gint64  *shape,
                                GError       **error);

/* "[2, 3, 4]" */
char *ats_shape_to_string (guint n_dims, const gint64 *shape);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsCheckpoint, ats_checkpoint_unref)

G_END_DECLS
