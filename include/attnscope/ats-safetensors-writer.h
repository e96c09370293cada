/* ats-safetensors-writer.h — streaming safetensors output folder (REFERENCE §2)
 *
 * Usage: ats_safetensors_writer_new() on the final folder path, declare every tensor with
 * ats_safetensors_writer_add_tensor() (name, dtype, shape; in the order the data will come),
 * optionally set __metadata__ entries and the shard size, then ats_safetensors_writer_begin():
 * from here on the layout is fixed (every header is computed up front) and the tensor bytes are
 * appended with ats_safetensors_writer_write() in declaration order, in chunks of any size.
 * ats_safetensors_writer_finish() writes model.safetensors.index.json when the output is
 * sharded and renames the folder into place.
 *
 * Everything is written into a temporary sibling folder (".NAME.partial-XXXXXX") that is only
 * renamed to the final path by finish(); freeing an unfinished writer deletes it. An interrupted
 * run therefore never leaves a folder that looks complete. An existing output folder is only
 * replaced with ATS_SAFETENSORS_WRITER_FORCE, and only when it holds plain files (no
 * subfolders); the old folder is removed after the new one is in place.
 *
 * Layout of every file: 8-byte little-endian header length, JSON header (with __metadata__
 * first, padded with spaces so the data section starts at a multiple of 8), then the tensors
 * back to back in declaration order. Shards are named model-0000i-of-0000n.safetensors; a new
 * shard starts when the next tensor would push the current one's tensor data past the size limit (a
 * tensor larger than the limit gets a shard of its own). Files are not fsync'ed.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-safetensors.h"

G_BEGIN_DECLS

/* Hugging Face's default max_shard_size ("5GB"). */
#define ATS_SAFETENSORS_DEFAULT_SHARD_BYTES G_GUINT64_CONSTANT (5000000000)

typedef enum
{
  ATS_SAFETENSORS_WRITER_NONE = 0,
  ATS_SAFETENSORS_WRITER_FORCE = 1 << 0, /* replace an existing output folder */
} AtsSafetensorsWriterFlags;

typedef struct _AtsSafetensorsWriter AtsSafetensorsWriter;

/* Checks @out_dir (absent, or with FORCE a folder of plain files) and creates the temporary
 * folder beside it. Errors: ATS_CHECKPOINT_ERROR_IO naming the path. */
AtsSafetensorsWriter *
ats_safetensors_writer_new (const char *out_dir, AtsSafetensorsWriterFlags flags, GError **error);
/* Deletes the temporary folder unless finish() succeeded. */
void ats_safetensors_writer_free (AtsSafetensorsWriter *self);

/* Largest tensor data per shard in bytes (headers not counted, as in Hugging Face's
 * max_shard_size); 0 = never shard. Before begin(). */
void ats_safetensors_writer_set_shard_bytes (AtsSafetensorsWriter *self, guint64 max_bytes);
/* A __metadata__ entry of every shard ("format": "pt" is always written). Before begin(). */
void ats_safetensors_writer_set_metadata (AtsSafetensorsWriter *self,
                                          const char           *key,
                                          const char           *value);
/* Declares the next tensor. Errors (ATS_CHECKPOINT_ERROR_FORMAT): duplicate or empty name,
 * "__metadata__", too many dimensions, negative or overflowing shape. */
gboolean ats_safetensors_writer_add_tensor (AtsSafetensorsWriter *self,
                                            const char           *name,
                                            AtsDType              dtype,
                                            guint                 n_dims,
                                            const gint64         *shape,
                                            GError              **error);
/* Fixes the layout and opens the first shard. */
gboolean ats_safetensors_writer_begin (AtsSafetensorsWriter *self, GError **error);
/* Appends @n_bytes of tensor data (little-endian), continuing where the last call stopped;
 * a chunk may span tensor and shard boundaries. Writing past the declared total is an error. */
gboolean ats_safetensors_writer_write (AtsSafetensorsWriter *self,
                                       gconstpointer         data,
                                       gsize                 n_bytes,
                                       GError              **error);
/* Total bytes of tensor data declared, and written so far. */
guint64 ats_safetensors_writer_get_n_bytes (AtsSafetensorsWriter *self);
guint64 ats_safetensors_writer_get_n_written (AtsSafetensorsWriter *self);
guint   ats_safetensors_writer_get_n_shards (AtsSafetensorsWriter *self); /* after begin() */

/* Extra files of the folder (config.json, tokenizer files): written into the temporary folder.
 * @name must be a plain file name. */
gboolean ats_safetensors_writer_add_file (AtsSafetensorsWriter *self,
                                          const char           *name,
                                          const char           *contents,
                                          gssize                length,
                                          GError              **error);
gboolean ats_safetensors_writer_copy_file (AtsSafetensorsWriter *self,
                                           const char           *src_path,
                                           const char           *name,
                                           GError              **error);
/* The temporary folder (for diagnostics). */
const char *ats_safetensors_writer_get_temp_dir (AtsSafetensorsWriter *self);

/* Checks every declared byte was written, closes the files, writes the index of a sharded
 * output and renames the folder to its final path. */
gboolean ats_safetensors_writer_finish (AtsSafetensorsWriter *self, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsSafetensorsWriter, ats_safetensors_writer_free)

G_END_DECLS
