/* ats-checkpoint.c — a checkpoint folder (or one .safetensors file): one or many shards
 *
 * Looks, in order, for `model.safetensors`, `model.safetensors.index.json` (weight_map:
 * tensor -> shard file in the same folder) and a lone `*.safetensors`. PyTorch pickle files are
 * refused by name only: their content is never read.
 */
#include <string.h>
#include <glib/gstdio.h>

#include "attnscope/ats-checkpoint.h"
#include "ats-safetensors-private.h"

#define MAX_INDEX_LEN (100 * 1024 * 1024)

typedef struct
{
  AtsSafetensors      *shard;
  const AtsTensorInfo *info; /* NULL for an unreadable tensor (find_slot() only) */
} Slot;

struct _AtsCheckpoint
{
  gatomicrefcount ref_count;
  char           *dir;
  GPtrArray      *shards;  /* AtsSafetensors* */
  GHashTable     *tensors; /* name (owned by a shard) -> Slot* (readable tensors only) */
  const char    **names;   /* readable tensor names, sorted, NULL-terminated */
  guint           n_names;
  guint64         n_bytes;
};

static const char pickle_advice[] =
    "PyTorch pickle files can execute arbitrary code when loaded, so attnscope never opens "
    "them. Convert the checkpoint to safetensors first, e.g. with transformers: "
    "`AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, "
    "safe_serialization=True)`, or with Python and the safetensors package: "
    "`import torch; from safetensors.torch import save_file; "
    "save_file(torch.load(\"pytorch_model.bin\"), \"model.safetensors\")`";

static gboolean
is_pickle_name (const char *name)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);

  if (g_str_has_prefix (lower, "pytorch_model") && g_str_has_suffix (lower, ".bin"))
    return TRUE;
  return g_str_has_suffix (lower, ".pt") || g_str_has_suffix (lower, ".pth") ||
         g_str_has_suffix (lower, ".ckpt");
}

static AtsCheckpoint *
checkpoint_alloc (const char *dir)
{
  AtsCheckpoint *self = g_new0 (AtsCheckpoint, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->dir = g_strdup (dir);
  self->shards = g_ptr_array_new_with_free_func ((GDestroyNotify) ats_safetensors_unref);
  self->tensors = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  return self;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Builds the sorted list of readable names and the byte total once all slots are in. */
static void
checkpoint_finish (AtsCheckpoint *self)
{
  GHashTableIter iter;
  gpointer       key, value;
  guint          i = 0;

  self->names = g_new0 (const char *, g_hash_table_size (self->tensors) + 1);
  g_hash_table_iter_init (&iter, self->tensors);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Slot *slot = value;

      self->names[i++] = key;
      self->n_bytes += slot->info->n_bytes;
    }
  self->n_names = i;
  qsort (self->names, i, sizeof (char *), compare_names);
}

static void
add_slot (AtsCheckpoint *self, AtsSafetensors *shard, const char *name)
{
  const AtsTensorInfo *info = ats_safetensors_lookup (shard, name);
  Slot                *slot = g_new0 (Slot, 1);

  slot->shard = shard;
  slot->info = info;
  /* the key must live as long as the shard: take it from the shard */
  g_hash_table_insert (self->tensors, (char *) info->name, slot);
}

static gboolean
add_whole_file (AtsCheckpoint *self, const char *path, GError **error)
{
  AtsSafetensors *st = ats_safetensors_open (path, error);

  if (st == NULL)
    return FALSE;
  g_ptr_array_add (self->shards, st);
  for (guint i = 0; i < ats_safetensors_get_n_tensors (st); i++)
    add_slot (self, st, ats_safetensors_get_tensor (st, i)->name);
  return TRUE;
}

static gboolean
shard_name_is_safe (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL && strchr (name, '\\') == NULL &&
         strstr (name, "..") == NULL && strcmp (name, ".") != 0;
}

static gboolean
load_index (AtsCheckpoint *self, const char *index_path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize            len = 0;
  GStatBuf         st;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GHashTable) shard_by_file = NULL; /* file name -> AtsSafetensors* (borrowed) */
  g_autoptr (GList) members = NULL;
  g_autoptr (GPtrArray) files = NULL;
  JsonNode   *root, *map_node;
  JsonObject *map;

  if (g_stat (index_path, &st) == 0 && st.st_size > MAX_INDEX_LEN)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: index file is larger than %d bytes", index_path, MAX_INDEX_LEN);
      return FALSE;
    }
  if (!g_file_get_contents (index_path, &contents, &len, &local_error))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO, "Cannot read %s: %s",
                   index_path, local_error->message);
      return FALSE;
    }
  parser = _ats_json_parse_strict (contents, len, index_path, "index", error);
  if (parser == NULL)
    return FALSE;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: index is not a JSON object", index_path);
      return FALSE;
    }
  map_node = json_object_get_member (json_node_get_object (root), "weight_map");
  if (map_node == NULL || !JSON_NODE_HOLDS_OBJECT (map_node))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: field 'weight_map' is %s", index_path,
                   map_node == NULL ? "missing" : "not an object");
      return FALSE;
    }
  map = json_node_get_object (map_node);
  members = json_object_get_members (map);

  /* Check every entry and collect the distinct shard files. */
  shard_by_file = g_hash_table_new (g_str_hash, g_str_equal);
  files = g_ptr_array_new ();
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode   *value = json_object_get_member (map, l->data);
      const char *file;

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                       "%s: weight_map entry for tensor '%s' is not a file name string", index_path,
                       (const char *) l->data);
          return FALSE;
        }
      file = json_node_get_string (value);
      if (!shard_name_is_safe (file))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                       "%s: weight_map maps tensor '%s' to '%s', which is not a plain file name "
                       "in the checkpoint folder (no '/', '\\' or '..' allowed)",
                       index_path, (const char *) l->data, file);
          return FALSE;
        }
      if (is_pickle_name (file))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED,
                       "%s: weight_map maps tensor '%s' to the pickle file '%s'. %s", index_path,
                       (const char *) l->data, file, pickle_advice);
          return FALSE;
        }
      if (!g_str_has_suffix (file, ".safetensors"))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                       "%s: weight_map maps tensor '%s' to '%s', which is not a .safetensors file",
                       index_path, (const char *) l->data, file);
          return FALSE;
        }
      if (!g_hash_table_contains (shard_by_file, file))
        {
          g_hash_table_insert (shard_by_file, (char *) file, NULL);
          g_ptr_array_add (files, (char *) file);
        }
    }
  if (files->len == 0)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: weight_map is empty", index_path);
      return FALSE;
    }

  /* Open and validate every shard, in name order. */
  g_ptr_array_sort (files, compare_names);
  for (guint i = 0; i < files->len; i++)
    {
      g_autofree char *path = g_build_filename (self->dir, files->pdata[i], NULL);
      AtsSafetensors  *shard;

      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
                       "%s: shard '%s' listed in the weight_map does not exist", index_path,
                       (const char *) files->pdata[i]);
          return FALSE;
        }
      shard = ats_safetensors_open (path, error);
      if (shard == NULL)
        return FALSE;
      g_ptr_array_add (self->shards, shard);
      g_hash_table_insert (shard_by_file, files->pdata[i], shard);
    }

  /* Every mapped tensor must be in the shard it is mapped to. */
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char     *name = l->data;
      const char     *file = json_node_get_string (json_object_get_member (map, name));
      AtsSafetensors *shard = g_hash_table_lookup (shard_by_file, file);

      if (ats_safetensors_lookup (shard, name) != NULL)
        add_slot (self, shard, name);
      else if (ats_safetensors_lookup_unsupported (shard, name) != NULL)
        {
          /* present but unreadable: find_slot() reports it when it is asked for */
        }
      else
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                       "%s: weight_map says tensor '%s' is in '%s', but that shard has no such "
                       "tensor",
                       index_path, name, file);
          return FALSE;
        }
    }
  return TRUE;
}

/* Unreadable tensors (dtype or rank attnscope cannot handle) are not in self->tensors; they are
 * found by asking the shards. */
static const Slot *
find_slot (AtsCheckpoint *self, const char *name, Slot *tmp)
{
  const Slot *slot = g_hash_table_lookup (self->tensors, name);

  if (slot != NULL)
    return slot;
  for (guint i = 0; i < self->shards->len; i++)
    if (ats_safetensors_lookup_unsupported (self->shards->pdata[i], name) != NULL)
      {
        tmp->shard = self->shards->pdata[i];
        tmp->info = NULL;
        return tmp;
      }
  return NULL;
}

static AtsCheckpoint *
open_dir (const char *dir, GError **error)
{
  g_autoptr (AtsCheckpoint) self = checkpoint_alloc (dir);
  g_autofree char *single = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = NULL;
  g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) pickles = g_ptr_array_new_with_free_func (g_free);
  const char *entry;

  if (g_file_test (single, G_FILE_TEST_IS_REGULAR))
    {
      if (!add_whole_file (self, single, error))
        return NULL;
      checkpoint_finish (self);
      return g_steal_pointer (&self);
    }
  if (g_file_test (index, G_FILE_TEST_IS_REGULAR))
    {
      if (!load_index (self, index, error))
        return NULL;
      checkpoint_finish (self);
      return g_steal_pointer (&self);
    }

  d = g_dir_open (dir, 0, &local_error);
  if (d == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "Cannot list checkpoint folder %s: %s", dir, local_error->message);
      return NULL;
    }
  while ((entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      if (g_str_has_suffix (entry, ".safetensors"))
        g_ptr_array_add (candidates, g_strdup (entry));
      else if (is_pickle_name (entry))
        g_ptr_array_add (pickles, g_strdup (entry));
    }
  g_ptr_array_sort (candidates, compare_names);
  g_ptr_array_sort (pickles, compare_names);

  if (candidates->len == 1)
    {
      g_autofree char *path = g_build_filename (dir, candidates->pdata[0], NULL);

      if (!add_whole_file (self, path, error))
        return NULL;
      checkpoint_finish (self);
      return g_steal_pointer (&self);
    }
  if (candidates->len > 1)
    {
      g_ptr_array_add (candidates, NULL);
      g_autofree char *list = g_strjoinv (", ", (char **) candidates->pdata);
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: the folder has several .safetensors files (%s) but no "
                   "model.safetensors.index.json saying which tensor is where",
                   dir, list);
      return NULL;
    }
  if (pickles->len > 0)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED,
                   "%s: the folder only has PyTorch pickle weights ('%s'). %s", dir,
                   (const char *) pickles->pdata[0], pickle_advice);
      return NULL;
    }
  g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
               "%s: no model weights found (expected model.safetensors, "
               "model.safetensors.index.json or one *.safetensors file)",
               dir);
  return NULL;
}

AtsCheckpoint *
ats_checkpoint_open (const char *path, GError **error)
{
  g_autofree char *base = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "%s: no such file or folder", path);
      return NULL;
    }
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return open_dir (path, error);

  base = g_path_get_basename (path);
  dir = g_path_get_dirname (path);
  if (is_pickle_name (base))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED,
                   "%s: this is a PyTorch pickle file. %s", path, pickle_advice);
      return NULL;
    }
  if (g_str_has_suffix (base, ".safetensors.index.json"))
    {
      g_autoptr (AtsCheckpoint) self = checkpoint_alloc (dir);

      if (!load_index (self, path, error))
        return NULL;
      checkpoint_finish (self);
      return g_steal_pointer (&self);
    }
  if (g_str_has_suffix (base, ".safetensors"))
    {
      g_autoptr (AtsCheckpoint) self = checkpoint_alloc (dir);

      if (!add_whole_file (self, path, error))
        return NULL;
      checkpoint_finish (self);
      return g_steal_pointer (&self);
    }
  g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED,
               "%s: not a checkpoint this reader opens (expected a folder, a .safetensors file "
               "or a model.safetensors.index.json)",
               path);
  return NULL;
}

AtsCheckpoint *
ats_checkpoint_ref (AtsCheckpoint *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
ats_checkpoint_unref (AtsCheckpoint *self)
{
  g_return_if_fail (self != NULL);
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_hash_table_unref (self->tensors);
  g_ptr_array_unref (self->shards);
  g_free (self->names);
  g_free (self->dir);
  g_free (self);
}

const char *
ats_checkpoint_get_dir (AtsCheckpoint *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->dir;
}

guint
ats_checkpoint_get_n_tensors (AtsCheckpoint *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_names;
}

const char *const *
ats_checkpoint_get_tensor_names (AtsCheckpoint *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->names;
}

const AtsTensorInfo *
ats_checkpoint_lookup (AtsCheckpoint *self, const char *name)
{
  const Slot *slot;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  slot = g_hash_table_lookup (self->tensors, name);
  return slot != NULL ? slot->info : NULL;
}

AtsSafetensors *
ats_checkpoint_get_shard_for (AtsCheckpoint *self, const char *name)
{
  Slot        tmp;
  const Slot *slot;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  slot = find_slot (self, name, &tmp);
  return slot != NULL ? slot->shard : NULL;
}

guint
ats_checkpoint_get_n_shards (AtsCheckpoint *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->shards->len;
}

AtsSafetensors *
ats_checkpoint_get_shard (AtsCheckpoint *self, guint index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->shards->len, NULL);
  return self->shards->pdata[index];
}

guint64
ats_checkpoint_get_n_bytes (AtsCheckpoint *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_bytes;
}

char *
ats_shape_to_string (guint n_dims, const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (guint i = 0; i < n_dims; i++)
    g_string_append_printf (s, i == 0 ? "%" G_GINT64_FORMAT : ", %" G_GINT64_FORMAT, shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

const AtsTensorInfo *
ats_checkpoint_require (AtsCheckpoint *self,
                        const char    *name,
                        guint          n_dims,
                        const gint64  *shape,
                        GError       **error)
{
  Slot        tmp;
  const Slot *slot;
  gboolean    same;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (shape != NULL || n_dims == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  slot = find_slot (self, name, &tmp);
  if (slot == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
                   "%s: tensor '%s' is missing from the checkpoint", self->dir, name);
      return NULL;
    }
  if (slot->info == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED,
                   "%s: tensor '%s' cannot be read: %s", ats_safetensors_get_path (slot->shard),
                   name, ats_safetensors_lookup_unsupported (slot->shard, name));
      return NULL;
    }
  same = slot->info->n_dims == n_dims;
  for (guint i = 0; same && i < n_dims; i++)
    same = slot->info->shape[i] == shape[i];
  if (!same)
    {
      g_autofree char *expected = ats_shape_to_string (n_dims, shape);
      g_autofree char *actual = ats_shape_to_string (slot->info->n_dims, slot->info->shape);

      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_SHAPE,
                   "%s: tensor '%s' has shape %s, expected %s",
                   ats_safetensors_get_path (slot->shard), name, actual, expected);
      return NULL;
    }
  return slot->info;
}

float *
ats_checkpoint_read_f32 (AtsCheckpoint *self,
                         const char    *name,
                         guint          n_dims,
                         const gint64  *shape,
                         GError       **error)
{
  const AtsTensorInfo *info = ats_checkpoint_require (self, name, n_dims, shape, error);
  float               *out;

  if (info == NULL)
    return NULL;
  out = g_try_malloc_n (MAX (info->numel, 1), sizeof (float));
  if (out == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "%s: not enough memory to read tensor '%s' (%" G_GINT64_FORMAT " values)",
                   self->dir, name, info->numel);
      return NULL;
    }
  ats_convert_to_f32 (info->dtype, info->data, (gsize) info->numel, out);
  return out;
}
