/* ats-safetensors-writer.c — streaming safetensors output folder
 *
 * The layout (which tensor goes to which shard, every header and data offset) is computed in
 * begin() from the declared tensors; the data is then appended tensor by tensor with plain
 * write(2) calls, so memory use does not depend on the model size. The folder is assembled
 * under a temporary name and renamed into place by finish().
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-safetensors-writer.h"

typedef struct
{
  char    *name;
  AtsDType dtype;
  guint    n_dims;
  gint64   shape[ATS_MAX_DIMS];
  guint64  n_bytes;
  guint    shard;  /* index into shards */
  guint64  offset; /* begin, relative to the shard's data section */
} Entry;

typedef struct
{
  char    *file_name; /* "model.safetensors" or "model-00001-of-00003.safetensors" */
  GString *header;    /* 8-byte length + padded JSON, written when the shard is opened */
  guint64  n_data;    /* bytes of tensor data */
} Shard;

struct _AtsSafetensorsWriter
{
  char       *out_dir;  /* final path, no trailing slash */
  char       *parent;   /* folder holding out_dir */
  char       *base;     /* last component of out_dir */
  char       *temp_dir; /* "<parent>/.<base>.partial-XXXXXX" */
  gboolean    force;
  gboolean    begun;
  gboolean    finished;
  guint64     max_shard_bytes;
  GPtrArray  *meta_keys;   /* char*, in insertion order */
  GHashTable *meta;        /* key -> value (owned) */
  GArray     *entries;     /* Entry */
  GHashTable *entry_names; /* name (owned by the entry) -> NULL */
  GArray     *shards;      /* Shard */
  guint64     n_bytes;     /* declared total */
  guint64     n_written;
  guint       cur_entry;   /* tensor receiving data */
  guint64     cur_written; /* bytes of cur_entry written so far */
  int         fd;          /* open shard or -1 */
  guint       fd_shard;
};

static void
entry_clear (gpointer data)
{
  Entry *e = data;

  g_free (e->name);
}

static void
shard_clear (gpointer data)
{
  Shard *s = data;

  g_free (s->file_name);
  if (s->header != NULL)
    g_string_free (s->header, TRUE);
}

static gboolean
set_io_error (GError **error, const char *path, const char *what, int errsv)
{
  g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO, "%s: %s: %s", path, what,
               g_strerror (errsv));
  return FALSE;
}

/* Every entry of @dir is a regular file (symlinks count as files, they are not followed). */
static gboolean
folder_is_flat (const char *dir, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local_error);
  const char *name;

  if (d == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO, "%s: cannot list: %s", dir,
                   local_error->message);
      return FALSE;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      GStatBuf         st;

      if (g_lstat (path, &st) == 0 && S_ISDIR (st.st_mode))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                       "%s: exists and contains the subfolder '%s'; not replacing a folder that "
                       "is not a plain checkpoint folder (choose another output path)",
                       dir, name);
          return FALSE;
        }
    }
  return TRUE;
}

/* Removes the files of a flat folder, then the folder. Best effort. */
static void
remove_flat_folder (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (d != NULL)
    while ((name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);

        g_unlink (path);
      }
  g_rmdir (dir);
}

AtsSafetensorsWriter *
ats_safetensors_writer_new (const char *out_dir, AtsSafetensorsWriterFlags flags, GError **error)
{
  g_autoptr (AtsSafetensorsWriter) self = NULL;
  g_autofree char *clean = NULL;
  g_autofree char *templ = NULL;
  GStatBuf         st;
  gsize            len;

  g_return_val_if_fail (out_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  clean = g_strdup (out_dir);
  len = strlen (clean);
  while (len > 1 && clean[len - 1] == '/')
    clean[--len] = '\0';
  if (len == 0 || g_str_equal (clean, "/") || g_str_equal (clean, ".") || g_str_equal (clean, ".."))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "'%s' is not usable as an output folder", out_dir);
      return NULL;
    }

  self = g_new0 (AtsSafetensorsWriter, 1);
  self->fd = -1;
  self->out_dir = g_steal_pointer (&clean);
  self->parent = g_path_get_dirname (self->out_dir);
  self->base = g_path_get_basename (self->out_dir);
  self->force = (flags & ATS_SAFETENSORS_WRITER_FORCE) != 0;
  self->max_shard_bytes = ATS_SAFETENSORS_DEFAULT_SHARD_BYTES;
  self->meta_keys = g_ptr_array_new_with_free_func (g_free);
  self->meta = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  self->entries = g_array_new (FALSE, TRUE, sizeof (Entry));
  g_array_set_clear_func (self->entries, entry_clear);
  self->entry_names = g_hash_table_new (g_str_hash, g_str_equal);
  self->shards = g_array_new (FALSE, TRUE, sizeof (Shard));
  g_array_set_clear_func (self->shards, shard_clear);

  if (g_lstat (self->out_dir, &st) == 0)
    {
      if (!self->force)
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                       "%s: already exists; not replacing it (use --force to replace it)",
                       self->out_dir);
          return NULL;
        }
      if (S_ISLNK (st.st_mode) || !S_ISDIR (st.st_mode))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                       "%s: exists and is not a folder; not replacing it", self->out_dir);
          return NULL;
        }
      if (!folder_is_flat (self->out_dir, error))
        return NULL;
    }
  if (g_stat (self->parent, &st) != 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "%s: cannot create the output folder: '%s' is not an existing folder",
                   self->out_dir, self->parent);
      return NULL;
    }
  templ = g_strdup_printf ("%s/.%s.partial-XXXXXX", self->parent, self->base);
  if (g_mkdtemp_full (templ, 0755) == NULL)
    {
      int errsv = errno;

      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "%s: cannot create a folder in '%s': %s", self->out_dir, self->parent,
                   g_strerror (errsv));
      return NULL;
    }
  self->temp_dir = g_steal_pointer (&templ);
  return g_steal_pointer (&self);
}

void
ats_safetensors_writer_free (AtsSafetensorsWriter *self)
{
  if (self == NULL)
    return;
  if (self->fd >= 0)
    close (self->fd);
  if (self->temp_dir != NULL && !self->finished)
    remove_flat_folder (self->temp_dir);
  g_free (self->out_dir);
  g_free (self->parent);
  g_free (self->base);
  g_free (self->temp_dir);
  g_ptr_array_unref (self->meta_keys);
  g_hash_table_unref (self->meta);
  g_hash_table_unref (self->entry_names);
  g_array_unref (self->entries);
  g_array_unref (self->shards);
  g_free (self);
}

void
ats_safetensors_writer_set_shard_bytes (AtsSafetensorsWriter *self, guint64 max_bytes)
{
  g_return_if_fail (self != NULL && !self->begun);
  self->max_shard_bytes = max_bytes;
}

void
ats_safetensors_writer_set_metadata (AtsSafetensorsWriter *self, const char *key, const char *value)
{
  g_return_if_fail (self != NULL && !self->begun);
  g_return_if_fail (key != NULL && value != NULL);

  if (!g_hash_table_contains (self->meta, key))
    g_ptr_array_add (self->meta_keys, g_strdup (key));
  for (guint i = 0; i < self->meta_keys->len; i++)
    if (g_str_equal (self->meta_keys->pdata[i], key))
      g_hash_table_insert (self->meta, self->meta_keys->pdata[i], g_strdup (value));
}

gboolean
ats_safetensors_writer_add_tensor (AtsSafetensorsWriter *self,
                                   const char           *name,
                                   AtsDType              dtype,
                                   guint                 n_dims,
                                   const gint64         *shape,
                                   GError              **error)
{
  Entry   e = { 0 };
  guint64 numel = 1;

  g_return_val_if_fail (self != NULL && !self->begun, FALSE);
  g_return_val_if_fail (name != NULL && (shape != NULL || n_dims == 0), FALSE);

  if (name[0] == '\0' || g_str_equal (name, "__metadata__") || !g_utf8_validate (name, -1, NULL))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: '%s' is not a valid tensor name", self->out_dir, name);
      return FALSE;
    }
  if (g_hash_table_contains (self->entry_names, name))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: tensor '%s' is declared twice", self->out_dir, name);
      return FALSE;
    }
  if (n_dims > ATS_MAX_DIMS)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: tensor '%s' has %u dimensions (at most %d)", self->out_dir, name, n_dims,
                   ATS_MAX_DIMS);
      return FALSE;
    }
  for (guint i = 0; i < n_dims; i++)
    {
      if (shape[i] < 0 || (shape[i] > 0 && numel > G_MAXINT64 / 8 / (guint64) shape[i]))
        {
          g_autofree char *s = ats_shape_to_string (n_dims, shape);

          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                       "%s: tensor '%s' has an invalid shape %s", self->out_dir, name, s);
          return FALSE;
        }
      numel *= (guint64) shape[i];
      e.shape[i] = shape[i];
    }
  e.name = g_strdup (name);
  e.dtype = dtype;
  e.n_dims = n_dims;
  e.n_bytes = numel * ats_dtype_size (dtype);
  g_array_append_val (self->entries, e);
  g_hash_table_add (self->entry_names,
                    g_array_index (self->entries, Entry, self->entries->len - 1).name);
  self->n_bytes += e.n_bytes;
  return TRUE;
}

/* JSON string literal of UTF-8 @s. */
static void
append_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        {
          g_string_append_c (out, '\\');
          g_string_append_c (out, *p);
        }
      else if (*p < 0x20)
        g_string_append_printf (out, "\\u%04x", *p);
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
append_metadata (AtsSafetensorsWriter *self, GString *json)
{
  append_json_string (json, "format");
  g_string_append (json, ":\"pt\"");
  for (guint i = 0; i < self->meta_keys->len; i++)
    {
      const char *key = self->meta_keys->pdata[i];

      if (g_str_equal (key, "format"))
        continue;
      g_string_append_c (json, ',');
      append_json_string (json, key);
      g_string_append_c (json, ':');
      append_json_string (json, g_hash_table_lookup (self->meta, key));
    }
}

static GString *
build_header (AtsSafetensorsWriter *self, guint shard)
{
  GString *json = g_string_new ("{\"__metadata__\":{");
  GString *out;
  guint64  len;

  append_metadata (self, json);
  g_string_append_c (json, '}');
  for (guint i = 0; i < self->entries->len; i++)
    {
      const Entry *e = &g_array_index (self->entries, Entry, i);

      if (e->shard != shard)
        continue;
      g_string_append_c (json, ',');
      append_json_string (json, e->name);
      g_string_append_printf (json, ":{\"dtype\":\"%s\",\"shape\":[",
                              ats_dtype_to_string (e->dtype));
      for (guint d = 0; d < e->n_dims; d++)
        g_string_append_printf (json, d == 0 ? "%" G_GINT64_FORMAT : ",%" G_GINT64_FORMAT,
                                e->shape[d]);
      g_string_append_printf (json,
                              "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]}",
                              e->offset, e->offset + e->n_bytes);
    }
  g_string_append_c (json, '}');
  /* pad so the data section starts at a multiple of 8 */
  while ((8 + json->len) % 8 != 0)
    g_string_append_c (json, ' ');

  out = g_string_sized_new (8 + json->len);
  len = json->len;
  for (guint i = 0; i < 8; i++)
    g_string_append_c (out, (char) ((len >> (8 * i)) & 0xff));
  g_string_append_len (out, json->str, json->len);
  g_string_free (json, TRUE);
  return out;
}

gboolean
ats_safetensors_writer_begin (AtsSafetensorsWriter *self, GError **error)
{
  guint n_shards = 0;

  g_return_val_if_fail (self != NULL && !self->begun, FALSE);

  /* Assign shards in declaration order: a new shard when the next tensor would push the
   * current one past the limit. */
  {
    guint64  cur = 0;
    gboolean open = FALSE;

    for (guint i = 0; i < self->entries->len; i++)
      {
        Entry *e = &g_array_index (self->entries, Entry, i);

        if (open && self->max_shard_bytes > 0 && cur > 0 &&
            cur + e->n_bytes > self->max_shard_bytes)
          open = FALSE;
        if (!open)
          {
            n_shards++;
            cur = 0;
            open = TRUE;
          }
        e->shard = n_shards - 1;
        e->offset = cur;
        cur += e->n_bytes;
      }
    if (n_shards == 0)
      n_shards = 1; /* no tensors: one file with only __metadata__ */
  }
  for (guint s = 0; s < n_shards; s++)
    {
      Shard sh = { 0 };

      sh.file_name = n_shards == 1
                         ? g_strdup ("model.safetensors")
                         : g_strdup_printf ("model-%05u-of-%05u.safetensors", s + 1, n_shards);
      g_array_append_val (self->shards, sh);
    }
  for (guint i = 0; i < self->entries->len; i++)
    {
      Entry *e = &g_array_index (self->entries, Entry, i);

      g_array_index (self->shards, Shard, e->shard).n_data += e->n_bytes;
    }
  for (guint s = 0; s < n_shards; s++)
    g_array_index (self->shards, Shard, s).header = build_header (self, s);
  self->begun = TRUE;
  return TRUE;
}

static gboolean
write_all (int fd, const guint8 *data, gsize n, const char *path, GError **error)
{
  while (n > 0)
    {
      gssize w = write (fd, data, MIN (n, (gsize) 1 << 30));

      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return set_io_error (error, path, "write failed", errno);
        }
      data += w;
      n -= (gsize) w;
    }
  return TRUE;
}

static gboolean
close_shard (AtsSafetensorsWriter *self, GError **error)
{
  if (self->fd < 0)
    return TRUE;
  if (close (self->fd) != 0)
    {
      int              errsv = errno;
      g_autofree char *path = g_build_filename (
          self->temp_dir, g_array_index (self->shards, Shard, self->fd_shard).file_name, NULL);

      self->fd = -1;
      return set_io_error (error, path, "close failed", errsv);
    }
  self->fd = -1;
  return TRUE;
}

static gboolean
open_shard (AtsSafetensorsWriter *self, guint shard, GError **error)
{
  Shard           *sh = &g_array_index (self->shards, Shard, shard);
  g_autofree char *path = g_build_filename (self->temp_dir, sh->file_name, NULL);

  if (!close_shard (self, error))
    return FALSE;
  self->fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (self->fd < 0)
    return set_io_error (error, path, "cannot create", errno);
  self->fd_shard = shard;
  return write_all (self->fd, (const guint8 *) sh->header->str, sh->header->len, path, error);
}

/* Moves on past finished tensors, opening the shard of the next one. */
static gboolean
advance (AtsSafetensorsWriter *self, GError **error)
{
  while (self->cur_entry < self->entries->len)
    {
      Entry *e = &g_array_index (self->entries, Entry, self->cur_entry);

      if (self->fd < 0 || self->fd_shard != e->shard)
        if (!open_shard (self, e->shard, error))
          return FALSE;
      if (self->cur_written < e->n_bytes)
        return TRUE;
      self->cur_entry++;
      self->cur_written = 0;
    }
  return TRUE;
}

gboolean
ats_safetensors_writer_write (AtsSafetensorsWriter *self,
                              gconstpointer         data,
                              gsize                 n_bytes,
                              GError              **error)
{
  const guint8 *p = data;

  g_return_val_if_fail (self != NULL && self->begun && !self->finished, FALSE);

  if (n_bytes > self->n_bytes - self->n_written)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: %" G_GSIZE_FORMAT " bytes written past the %" G_GUINT64_FORMAT
                   " declared bytes of tensor data",
                   self->out_dir, n_bytes - (gsize) (self->n_bytes - self->n_written),
                   self->n_bytes);
      return FALSE;
    }
  while (n_bytes > 0)
    {
      Entry           *e;
      gsize            take;
      g_autofree char *path = NULL;

      if (!advance (self, error))
        return FALSE;
      e = &g_array_index (self->entries, Entry, self->cur_entry);
      take = (gsize) MIN ((guint64) n_bytes, e->n_bytes - self->cur_written);
      path = g_build_filename (self->temp_dir,
                               g_array_index (self->shards, Shard, e->shard).file_name, NULL);
      if (!write_all (self->fd, p, take, path, error))
        return FALSE;
      p += take;
      n_bytes -= take;
      self->cur_written += take;
      self->n_written += take;
    }
  return TRUE;
}

guint64
ats_safetensors_writer_get_n_bytes (AtsSafetensorsWriter *self)
{
  return self->n_bytes;
}

guint64
ats_safetensors_writer_get_n_written (AtsSafetensorsWriter *self)
{
  return self->n_written;
}

guint
ats_safetensors_writer_get_n_shards (AtsSafetensorsWriter *self)
{
  return self->shards->len;
}

const char *
ats_safetensors_writer_get_temp_dir (AtsSafetensorsWriter *self)
{
  return self->temp_dir;
}

static gboolean
check_file_name (AtsSafetensorsWriter *self, const char *name, GError **error)
{
  if (name[0] == '\0' || strchr (name, '/') != NULL || g_str_equal (name, ".") ||
      g_str_equal (name, ".."))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "%s: '%s' is not a plain file name", self->out_dir, name);
      return FALSE;
    }
  return TRUE;
}

gboolean
ats_safetensors_writer_add_file (AtsSafetensorsWriter *self,
                                 const char           *name,
                                 const char           *contents,
                                 gssize                length,
                                 GError              **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (self != NULL && !self->finished, FALSE);
  if (!check_file_name (self, name, error))
    return FALSE;
  path = g_build_filename (self->temp_dir, name, NULL);
  if (!g_file_set_contents (path, contents, length, &local_error))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO, "%s",
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
ats_safetensors_writer_copy_file (AtsSafetensorsWriter *self,
                                  const char           *src_path,
                                  const char           *name,
                                  GError              **error)
{
  g_autofree char *contents = NULL;
  gsize            len = 0;
  g_autoptr (GError) local_error = NULL;

  if (!g_file_get_contents (src_path, &contents, &len, &local_error))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO, "%s",
                   local_error->message);
      return FALSE;
    }
  return ats_safetensors_writer_add_file (self, name, contents, (gssize) len, error);
}

static gboolean
write_index (AtsSafetensorsWriter *self, GError **error)
{
  GString         *json = g_string_new ("{\n  \"metadata\": {\n    \"total_size\": ");
  g_autofree char *text = NULL;

  g_string_append_printf (json, "%" G_GUINT64_FORMAT, self->n_bytes);
  for (guint i = 0; i < self->meta_keys->len; i++)
    {
      const char *key = self->meta_keys->pdata[i];

      g_string_append (json, ",\n    ");
      append_json_string (json, key);
      g_string_append (json, ": ");
      append_json_string (json, g_hash_table_lookup (self->meta, key));
    }
  g_string_append (json, "\n  },\n  \"weight_map\": {");
  for (guint i = 0; i < self->entries->len; i++)
    {
      const Entry *e = &g_array_index (self->entries, Entry, i);

      g_string_append (json, i == 0 ? "\n    " : ",\n    ");
      append_json_string (json, e->name);
      g_string_append (json, ": ");
      append_json_string (json, g_array_index (self->shards, Shard, e->shard).file_name);
    }
  g_string_append (json, "\n  }\n}\n");
  text = g_string_free (json, FALSE);
  return ats_safetensors_writer_add_file (self, "model.safetensors.index.json", text, -1, error);
}

gboolean
ats_safetensors_writer_finish (AtsSafetensorsWriter *self, GError **error)
{
  GStatBuf         st;
  g_autofree char *old = NULL;

  g_return_val_if_fail (self != NULL && self->begun && !self->finished, FALSE);

  if (!advance (self, error))
    return FALSE;
  if (self->cur_entry < self->entries->len || self->n_written != self->n_bytes)
    {
      const Entry *e = &g_array_index (self->entries, Entry, self->cur_entry);

      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: incomplete output: tensor '%s' received %" G_GUINT64_FORMAT
                   " of its %" G_GUINT64_FORMAT " bytes",
                   self->out_dir, e->name, self->cur_written, e->n_bytes);
      return FALSE;
    }
  /* a file with no tensors at all still gets written */
  if (self->entries->len == 0 && !open_shard (self, 0, error))
    return FALSE;
  if (!close_shard (self, error))
    return FALSE;
  if (self->shards->len > 1 && !write_index (self, error))
    return FALSE;

  if (g_lstat (self->out_dir, &st) == 0)
    {
      if (!self->force)
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                       "%s: appeared while writing; not replacing it", self->out_dir);
          return FALSE;
        }
      old = g_strdup_printf ("%s/.%s.old-XXXXXX", self->parent, self->base);
      if (g_mkdtemp_full (old, 0700) == NULL)
        return set_io_error (error, self->parent, "cannot create a folder", errno);
      if (g_rename (self->out_dir, old) != 0)
        {
          int errsv = errno;

          g_rmdir (old);
          return set_io_error (error, self->out_dir, "cannot move the old folder aside", errsv);
        }
    }
  if (g_rename (self->temp_dir, self->out_dir) != 0)
    {
      int errsv = errno;

      if (old != NULL)
        g_rename (old, self->out_dir);
      return set_io_error (error, self->out_dir, "cannot rename the finished folder into place",
                           errsv);
    }
  self->finished = TRUE;
  if (old != NULL)
    remove_flat_folder (old);
  return TRUE;
}
