/* ats-merge.c — linear, task-arithmetic and TIES merges, streamed tensor by tensor
 *
 * Every tensor is merged in chunks of CHUNK elements: the inputs are widened exactly to float32
 * (then to double in the arithmetic), the result is rounded once to float32 and then, for F16
 * and BF16 tensors, to the stored type. TIES needs the whole tensor once per tuned model to find
 * its magnitude threshold (a quickselect over one double per element); the merge itself is then
 * again a chunked pass. The merged chunks go to a sink: the safetensors writer (ats_merge_write)
 * or a memory buffer (in-memory merges).
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attnscope/ats-safetensors-writer.h"
#include "ats-merge-private.h"

#define CHUNK ((gsize) 1 << 18) /* elements per merge step */

/* --- tensor kinds ------------------------------------------------------------------------- */

static const char *const kind_names[ATS_TENSOR_KIND_N] = {
  [ATS_TENSOR_KIND_EMBEDDING] = "embeddings",
  [ATS_TENSOR_KIND_Q] = "q",
  [ATS_TENSOR_KIND_K] = "k",
  [ATS_TENSOR_KIND_V] = "v",
  [ATS_TENSOR_KIND_QKV] = "qkv",
  [ATS_TENSOR_KIND_O] = "o",
  [ATS_TENSOR_KIND_LAZY] = "lazy",
  [ATS_TENSOR_KIND_GATE] = "gate",
  [ATS_TENSOR_KIND_UP] = "up",
  [ATS_TENSOR_KIND_DOWN] = "down",
  [ATS_TENSOR_KIND_NORM] = "norms",
  [ATS_TENSOR_KIND_OTHER] = "other",
};

const char *
ats_tensor_kind_to_string (AtsTensorKind kind)
{
  g_return_val_if_fail (kind < ATS_TENSOR_KIND_N, "other");
  return kind_names[kind];
}

AtsTensorGroup
ats_tensor_kind_get_group (AtsTensorKind kind)
{
  switch (kind)
    {
    case ATS_TENSOR_KIND_Q:
    case ATS_TENSOR_KIND_K:
    case ATS_TENSOR_KIND_V:
    case ATS_TENSOR_KIND_QKV:
    case ATS_TENSOR_KIND_O:
    case ATS_TENSOR_KIND_LAZY:
      return ATS_TENSOR_GROUP_ATTENTION;
    case ATS_TENSOR_KIND_GATE:
    case ATS_TENSOR_KIND_UP:
    case ATS_TENSOR_KIND_DOWN:
      return ATS_TENSOR_GROUP_MLP;
    case ATS_TENSOR_KIND_EMBEDDING:
      return ATS_TENSOR_GROUP_EMBEDDINGS;
    case ATS_TENSOR_KIND_NORM:
      return ATS_TENSOR_GROUP_NORMS;
    case ATS_TENSOR_KIND_OTHER:
    case ATS_TENSOR_KIND_N:
    default:
      return 0;
    }
}

static gboolean
is_digits (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

static gboolean
name_in (const char *s, const char *const *list)
{
  return s != NULL && g_strv_contains (list, s);
}

AtsTensorKind
ats_tensor_kind_classify (const char *name, int *layer)
{
  static const char *const containers[] = { "h", "layers", "layer", "blocks", NULL };
  static const char *const leaves[] = { "weight", "bias", NULL };
  static const char *const q_names[] = { "q_proj", "query", "wq", NULL };
  static const char *const k_names[] = { "k_proj", "key", "wk", NULL };
  static const char *const v_names[] = { "v_proj", "value", "wv", NULL };
  static const char *const qkv_names[] = { "c_attn", "query_key_value", "qkv_proj", "Wqkv", "qkv",
                                           NULL };
  static const char *const o_names[] = { "o_proj", "out_proj", "wo", NULL };
  static const char *const gate_names[] = { "gate_proj", "w1", NULL };
  static const char *const up_names[] = { "up_proj", "c_fc", "dense_h_to_4h", "fc1", "w3", NULL };
  static const char *const down_names[] = { "down_proj", "dense_4h_to_h", "fc2", "w2", NULL };
  static const char *const embed_names[] = {
    "wte",       "wpe",     "embed_tokens",    "embeddings",     "embed_in",
    "embed_out", "lm_head", "word_embeddings", "tok_embeddings", NULL
  };
  static const char *const attn_names[] = { "attn", "self_attn", "attention", NULL };
  g_auto (GStrv) parts = g_strsplit (name, ".", -1);
  guint       n = g_strv_length (parts);
  int         at_layer = -1;
  const char *container = NULL;
  const char *leaf, *module, *parent;

  for (guint i = 0; i + 1 < n; i++)
    if (name_in (parts[i], containers) && is_digits (parts[i + 1]))
      {
        at_layer = (int) MIN (g_ascii_strtoull (parts[i + 1], NULL, 10), (guint64) G_MAXINT);
        container = parts[i];
        break;
      }
  if (layer != NULL)
    *layer = at_layer;
  if (n == 0)
    return ATS_TENSOR_KIND_OTHER;

  leaf = parts[n - 1];
  /* "x.weight" / "x.bias": the module is x; a bare leaf such as "tau" is its own module */
  if (n >= 2 && name_in (leaf, leaves))
    {
      module = parts[n - 2];
      parent = n >= 3 ? parts[n - 3] : NULL;
    }
  else
    {
      module = leaf;
      parent = n >= 2 ? parts[n - 2] : NULL;
    }

  /* Lazy Attention: attn.tau, attn.bias ([H, W]) and attn.attention_biases. GPT-2's
   * h.N.attn.bias and attn.masked_bias are causal-mask buffers. */
  if (g_str_equal (module, "tau") || g_str_equal (module, "attention_biases"))
    return ATS_TENSOR_KIND_LAZY;
  if (name_in (module, attn_names) && g_str_equal (leaf, "bias"))
    return g_strcmp0 (container, "h") == 0 ? ATS_TENSOR_KIND_OTHER : ATS_TENSOR_KIND_LAZY;
  if (g_str_equal (module, "masked_bias") || g_str_equal (module, "inv_freq"))
    return ATS_TENSOR_KIND_OTHER;

  if (name_in (module, qkv_names))
    return ATS_TENSOR_KIND_QKV;
  if (name_in (module, q_names))
    return ATS_TENSOR_KIND_Q;
  if (name_in (module, k_names))
    return ATS_TENSOR_KIND_K;
  if (name_in (module, v_names))
    return ATS_TENSOR_KIND_V;
  if (name_in (module, o_names))
    return ATS_TENSOR_KIND_O;
  if (g_str_equal (module, "dense") && name_in (parent, attn_names))
    return ATS_TENSOR_KIND_O;
  if (g_str_equal (module, "c_proj"))
    return name_in (parent, attn_names) ? ATS_TENSOR_KIND_O : ATS_TENSOR_KIND_DOWN;
  if (name_in (module, gate_names))
    return ATS_TENSOR_KIND_GATE;
  if (name_in (module, up_names))
    return ATS_TENSOR_KIND_UP;
  if (name_in (module, down_names))
    return ATS_TENSOR_KIND_DOWN;
  if (name_in (module, embed_names))
    return ATS_TENSOR_KIND_EMBEDDING;
  if (strstr (module, "norm") != NULL || g_str_has_prefix (module, "ln_") ||
      g_str_equal (module, "ln1") || g_str_equal (module, "ln2"))
    return ATS_TENSOR_KIND_NORM;
  return ATS_TENSOR_KIND_OTHER;
}

/* --- parameters ---------------------------------------------------------------------------- */

void
ats_merge_params_init_default (AtsMergeParams *params)
{
  memset (params, 0, sizeof *params);
  params->method = ATS_MERGE_LINEAR;
  params->alpha = 0.5;
  params->lambda = 1.0;
  params->density = 0.2;
  params->only = NULL;
}

const char *
ats_merge_method_to_string (AtsMergeMethod method)
{
  switch (method)
    {
    case ATS_MERGE_LINEAR:
      return "linear";
    case ATS_MERGE_TASK_ARITHMETIC:
      return "task-arithmetic";
    case ATS_MERGE_TIES:
      return "ties";
    default:
      return "unknown";
    }
}

gboolean
ats_merge_method_from_string (const char *text, AtsMergeMethod *method)
{
  if (g_strcmp0 (text, "linear") == 0)
    *method = ATS_MERGE_LINEAR;
  else if (g_strcmp0 (text, "task-arithmetic") == 0 || g_strcmp0 (text, "task_arithmetic") == 0)
    *method = ATS_MERGE_TASK_ARITHMETIC;
  else if (g_strcmp0 (text, "ties") == 0)
    *method = ATS_MERGE_TIES;
  else
    return FALSE;
  return TRUE;
}

/* --- opening and checking ------------------------------------------------------------------ */

/* config.json as an object, or NULL when the folder has none. */
static JsonParser *
read_config (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local_error = NULL;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR) || !g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, path, &local_error))
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "%s: malformed JSON: %s", path,
                   local_error->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                   "%s: expected a JSON object at the top level", path);
      return NULL;
    }
  return g_steal_pointer (&parser);
}

static char *
config_member_text (JsonParser *parser, const char *key)
{
  JsonObject *obj = json_node_get_object (json_parser_get_root (parser));
  JsonNode   *node = json_object_get_member (obj, key);

  return node != NULL ? json_to_string (node, FALSE) : g_strdup ("(absent)");
}

static gboolean
check_configs (AtsMerge *self, const char *tuned_dir, GError **error)
{
  static const char *const keys[] = { "model_type", "architectures" };
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonParser) base_cfg = read_config (self->base_dir, &local_error);
  g_autoptr (JsonParser) tuned_cfg = NULL;

  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  tuned_cfg = read_config (tuned_dir, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (base_cfg == NULL || tuned_cfg == NULL)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *a = config_member_text (base_cfg, keys[i]);
      g_autofree char *b = config_member_text (tuned_cfg, keys[i]);

      if (!g_str_equal (a, b))
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_MISMATCH,
                       "architectures differ: config.json \"%s\" is %s in base %s but %s in "
                       "tuned %s",
                       keys[i], a, self->base_dir, b, tuned_dir);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_tensors (AtsMerge *self, AtsCheckpoint *tuned, const char *tuned_dir, GError **error)
{
  const char *const *names = ats_checkpoint_get_tensor_names (self->base);
  const char *const *tnames = ats_checkpoint_get_tensor_names (tuned);

  for (guint i = 0; names[i] != NULL; i++)
    {
      const AtsTensorInfo *b = ats_checkpoint_lookup (self->base, names[i]);
      const AtsTensorInfo *t = ats_checkpoint_lookup (tuned, names[i]);
      gboolean             same_shape;

      if (t == NULL)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_MISMATCH,
                       "tensor sets differ: tensor '%s' of base %s is missing from tuned %s",
                       names[i], self->base_dir, tuned_dir);
          return FALSE;
        }
      if (b->dtype != t->dtype)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_MISMATCH,
                       "dtypes differ: tensor '%s' is %s in base %s but %s in tuned %s "
                       "(convert both checkpoints to the same dtype first)",
                       names[i], ats_dtype_to_string (b->dtype), self->base_dir,
                       ats_dtype_to_string (t->dtype), tuned_dir);
          return FALSE;
        }
      same_shape = b->n_dims == t->n_dims;
      for (guint d = 0; same_shape && d < b->n_dims; d++)
        same_shape = b->shape[d] == t->shape[d];
      if (!same_shape)
        {
          g_autofree char *bs = ats_shape_to_string (b->n_dims, b->shape);
          g_autofree char *ts = ats_shape_to_string (t->n_dims, t->shape);

          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_MISMATCH,
                       "shapes differ: tensor '%s' has shape %s in base %s but %s in tuned %s",
                       names[i], bs, self->base_dir, ts, tuned_dir);
          return FALSE;
        }
    }
  for (guint i = 0; tnames[i] != NULL; i++)
    if (ats_checkpoint_lookup (self->base, tnames[i]) == NULL)
      {
        g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_MISMATCH,
                     "tensor sets differ: tuned %s has tensor '%s' that base %s lacks", tuned_dir,
                     tnames[i], self->base_dir);
        return FALSE;
      }
  return TRUE;
}

AtsMerge *
ats_merge_new (const char *base_dir, const char *const *tuned_dirs, GError **error)
{
  g_autoptr (AtsMerge) self = NULL;

  g_return_val_if_fail (base_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (tuned_dirs == NULL || tuned_dirs[0] == NULL)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                   "a merge needs at least one tuned checkpoint");
      return NULL;
    }
  self = g_new0 (AtsMerge, 1);
  self->base_dir = g_strdup (base_dir);
  self->tuned_dirs = g_ptr_array_new_with_free_func (g_free);
  self->tuned = g_ptr_array_new_with_free_func ((GDestroyNotify) ats_checkpoint_unref);
  self->base = ats_checkpoint_open (base_dir, error);
  if (self->base == NULL)
    return NULL;
  for (guint s = 0; s < ats_checkpoint_get_n_shards (self->base); s++)
    self->n_unsupported +=
        ats_safetensors_get_n_unsupported (ats_checkpoint_get_shard (self->base, s));
  for (guint k = 0; tuned_dirs[k] != NULL; k++)
    {
      AtsCheckpoint *t;

      if (!check_configs (self, tuned_dirs[k], error))
        return NULL;
      t = ats_checkpoint_open (tuned_dirs[k], error);
      if (t == NULL)
        return NULL;
      g_ptr_array_add (self->tuned, t);
      g_ptr_array_add (self->tuned_dirs, g_strdup (tuned_dirs[k]));
      if (!check_tensors (self, t, tuned_dirs[k], error))
        return NULL;
    }
  return g_steal_pointer (&self);
}

void
ats_merge_free (AtsMerge *self)
{
  if (self == NULL)
    return;
  g_free (self->base_dir);
  g_ptr_array_unref (self->tuned_dirs);
  g_ptr_array_unref (self->tuned);
  if (self->base != NULL)
    ats_checkpoint_unref (self->base);
  g_free (self->filter_text);
  if (self->filter_regex != NULL)
    g_regex_unref (self->filter_regex);
  if (self->template_model != NULL)
    ats_model_unref (self->template_model);
  g_free (self);
}

guint
ats_merge_get_n_tuned (AtsMerge *self)
{
  return self->tuned->len;
}

const char *
ats_merge_get_base_dir (AtsMerge *self)
{
  return self->base_dir;
}

const char *
ats_merge_get_tuned_dir (AtsMerge *self, guint index)
{
  g_return_val_if_fail (index < self->tuned_dirs->len, NULL);
  return self->tuned_dirs->pdata[index];
}

const char *const *
ats_merge_get_tensor_names (AtsMerge *self)
{
  return ats_checkpoint_get_tensor_names (self->base);
}

guint
ats_merge_get_n_unsupported (AtsMerge *self)
{
  return self->n_unsupported;
}

/* --- the `only` filter ---------------------------------------------------------------------- */

static guint
group_from_name (const char *name)
{
  if (g_str_equal (name, "attention") || g_str_equal (name, "attn"))
    return ATS_TENSOR_GROUP_ATTENTION;
  if (g_str_equal (name, "mlp"))
    return ATS_TENSOR_GROUP_MLP;
  if (g_str_equal (name, "embeddings") || g_str_equal (name, "embedding"))
    return ATS_TENSOR_GROUP_EMBEDDINGS;
  if (g_str_equal (name, "norms") || g_str_equal (name, "norm"))
    return ATS_TENSOR_GROUP_NORMS;
  return 0;
}

static gboolean
compile_filter (AtsMerge *self, const char *only, GError **error)
{
  g_auto (GStrv) parts = NULL;
  guint    groups = 0;
  gboolean all_groups = TRUE;

  if (self->filter_text != NULL && g_strcmp0 (self->filter_text, only) == 0)
    return TRUE;
  if (only == NULL && self->filter_text == NULL && self->filter_all)
    return TRUE;
  g_clear_pointer (&self->filter_text, g_free);
  g_clear_pointer (&self->filter_regex, g_regex_unref);
  self->filter_groups = 0;
  self->filter_all = FALSE;
  if (only == NULL || only[0] == '\0')
    {
      self->filter_all = TRUE;
      return TRUE;
    }
  parts = g_strsplit (only, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint g = group_from_name (g_strstrip (parts[i]));

      if (g == 0)
        all_groups = FALSE;
      groups |= g;
    }
  if (all_groups)
    self->filter_groups = groups;
  else
    {
      g_autoptr (GError) local_error = NULL;

      self->filter_regex = g_regex_new (only, G_REGEX_OPTIMIZE, 0, &local_error);
      if (self->filter_regex == NULL)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                       "--only: '%s' is neither a list of attention, mlp, embeddings, norms nor "
                       "a valid regular expression: %s",
                       only, local_error->message);
          return FALSE;
        }
    }
  self->filter_text = g_strdup (only);
  return TRUE;
}

gboolean
ats_merge_check_params (AtsMerge *self, const AtsMergeParams *params, GError **error)
{
  if (!isfinite (params->alpha) || !isfinite (params->lambda) || !isfinite (params->density))
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                   "merge parameters must be finite numbers");
      return FALSE;
    }
  switch (params->method)
    {
    case ATS_MERGE_LINEAR:
      if (self->tuned->len != 1)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                       "linear merges take exactly one tuned checkpoint (got %u); use "
                       "task-arithmetic or ties for several",
                       self->tuned->len);
          return FALSE;
        }
      break;
    case ATS_MERGE_TIES:
      if (!(params->density > 0.0 && params->density <= 1.0))
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                       "ties: density %g is outside (0, 1]", params->density);
          return FALSE;
        }
      break;
    case ATS_MERGE_TASK_ARITHMETIC:
      break;
    default:
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "unknown merge method %d",
                   (int) params->method);
      return FALSE;
    }
  return compile_filter (self, params->only, error);
}

gboolean
ats_merge_selects (AtsMerge *self, const AtsMergeParams *params, const char *name)
{
  if (!compile_filter (self, params->only, NULL))
    return FALSE;
  if (self->filter_all)
    return TRUE;
  if (self->filter_regex != NULL)
    return g_regex_match (self->filter_regex, name, 0, NULL);
  return (ats_tensor_kind_get_group (ats_tensor_kind_classify (name, NULL)) &
          self->filter_groups) != 0;
}

guint
ats_merge_count_selected (AtsMerge *self, const AtsMergeParams *params)
{
  const char *const *names = ats_checkpoint_get_tensor_names (self->base);
  guint              n = 0;

  for (guint i = 0; names[i] != NULL; i++)
    n += ats_merge_selects (self, params, names[i]);
  return n;
}

char *
ats_merge_describe (AtsMerge *self, const AtsMergeParams *params)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "tool");
  json_builder_add_string_value (b, "attnscope " ATS_VERSION);
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, ats_merge_method_to_string (params->method));
  if (params->method == ATS_MERGE_LINEAR)
    {
      json_builder_set_member_name (b, "alpha");
      json_builder_add_double_value (b, params->alpha);
    }
  else
    {
      json_builder_set_member_name (b, "lambda");
      json_builder_add_double_value (b, params->lambda);
    }
  if (params->method == ATS_MERGE_TIES)
    {
      json_builder_set_member_name (b, "density");
      json_builder_add_double_value (b, params->density);
      json_builder_set_member_name (b, "tie_break");
      json_builder_add_string_value (b, "equal magnitudes: lower flat index kept");
    }
  json_builder_set_member_name (b, "only");
  if (params->only != NULL && params->only[0] != '\0')
    json_builder_add_string_value (b, params->only);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "base");
  json_builder_add_string_value (b, self->base_dir);
  json_builder_set_member_name (b, "tuned");
  json_builder_begin_array (b);
  for (guint k = 0; k < self->tuned_dirs->len; k++)
    json_builder_add_string_value (b, self->tuned_dirs->pdata[k]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "arithmetic");
  json_builder_add_string_value (b, "float64, rounded to float32 then to the stored dtype "
                                    "(round to nearest even)");
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

/* --- the kernels ---------------------------------------------------------------------------- */

/* Where merged chunks go: get() hands out room for @n_bytes (at most CHUNK elements), commit()
 * takes it back filled. */
typedef struct
{
  guint8 *(*get) (gpointer self, gsize n_bytes);
  gboolean (*commit) (gpointer self, guint8 *data, gsize n_bytes, GError **error);
  gpointer self;
} Sink;

/* Rounds @n float32 values into @dtype at @dst (little-endian). */
static void
store_f32 (AtsDType dtype, const float *src, gsize n, guint8 *dst)
{
  switch (dtype)
    {
    case ATS_DTYPE_F32:
      memcpy (dst, src, n * sizeof (float));
      break;
    case ATS_DTYPE_BF16:
      for (gsize i = 0; i < n; i++)
        {
          guint16 h = GUINT16_TO_LE (ats_f32_to_bf16 (src[i]));

          memcpy (dst + 2 * i, &h, 2);
        }
      break;
    case ATS_DTYPE_F16:
      for (gsize i = 0; i < n; i++)
        {
          guint16 h = GUINT16_TO_LE (ats_f32_to_f16 (src[i]));

          memcpy (dst + 2 * i, &h, 2);
        }
      break;
    default:
      g_return_if_reached ();
    }
}

/* Drops the pages of [p, p + n) from this process (the page cache keeps them). The mappings are
 * read-only, so a later access simply faults the same bytes back in. */
void
_ats_release_pages (const guint8 *p, gsize n)
{
#ifdef MADV_DONTNEED
  static gsize page = 0;
  guintptr     start, end;

  if (page == 0)
    page = (gsize) sysconf (_SC_PAGESIZE);
  start = ((guintptr) p + page - 1) / page * page;
  end = ((guintptr) p + n) / page * page;
  if (end > start)
    madvise ((void *) start, end - start, MADV_DONTNEED);
#endif
}

typedef struct
{
  const AtsTensorInfo  *base;
  const AtsTensorInfo **tuned; /* [K] */
  guint                 n_tuned;
  gsize                 esize;
  gboolean              release; /* drop input pages once read (streaming to disk) */
  float                *bf;      /* [CHUNK] base, widened */
  float               **tf;      /* [K][CHUNK] tuned, widened */
  const float          *bp;      /* [CHUNK] the base chunk: bf, or the mapping itself (F32) */
  const float         **tp;      /* [K][CHUNK] the tuned chunks likewise */
  float                *rf;      /* [CHUNK] result, float32 */
  float                *rp;      /* [CHUNK] where the kernels write: rf, or the output (F32) */
  /* ties: per tuned model the magnitude threshold and how many entries equal to it are kept
   * (the first ones in flat index order), and a running count of those seen */
  double   *thr;       /* [K] */
  gint64   *eq_keep;   /* [K] */
  gint64   *eq_seen;   /* [K] */
  gboolean *keep_all;  /* [K] */
  gboolean *keep_none; /* [K] */
} Job;

static void
job_clear (Job *job)
{
  g_free (job->bf);
  if (job->tf != NULL)
    for (guint k = 0; k < job->n_tuned; k++)
      g_free (job->tf[k]);
  g_free (job->tf);
  g_free (job->tp);
  g_free (job->rf);
  g_free (job->tuned);
  g_free (job->thr);
  g_free (job->eq_keep);
  g_free (job->eq_seen);
  g_free (job->keep_all);
  g_free (job->keep_none);
}

/* Elements [start, start + n) of @info as float32: the mapping itself for aligned
 * little-endian F32 data, else the widened copy in @buf. */
static const float *
chunk_f32 (const AtsTensorInfo *info, gsize esize, gsize start, gsize n, float *buf)
{
  const guint8 *src = info->data + start * esize;

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  if (info->dtype == ATS_DTYPE_F32 && ((guintptr) src % sizeof (float)) == 0)
    return (const float *) src;
#endif
  ats_convert_to_f32 (info->dtype, src, n, buf);
  return buf;
}

/* Loads elements [start, start + n) of every input. */
static void
job_load (Job *job, gsize start, gsize n)
{
  job->bp = chunk_f32 (job->base, job->esize, start, n, job->bf);
  for (guint k = 0; k < job->n_tuned; k++)
    job->tp[k] = chunk_f32 (job->tuned[k], job->esize, start, n, job->tf[k]);
}

/* Loads elements [start, start + n) of base and tuned model @k. */
static void
job_load_one (Job *job, guint k, gsize start, gsize n)
{
  job->bp = chunk_f32 (job->base, job->esize, start, n, job->bf);
  job->tp[k] = chunk_f32 (job->tuned[k], job->esize, start, n, job->tf[k]);
}

static void
job_release_one (Job *job, guint k, gsize start, gsize n)
{
  if (!job->release)
    return;
  _ats_release_pages (job->base->data + start * job->esize, n * job->esize);
  _ats_release_pages (job->tuned[k]->data + start * job->esize, n * job->esize);
}

/* The element loops of linear and single-model task arithmetic are worth vectorising (they run
 * once per byte of a large merge); -O2 leaves them scalar with GCC 12. */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORIZE __attribute__ ((optimize ("tree-vectorize")))
#else
#define VECTORIZE
#endif

static void VECTORIZE
kernel_linear (Job *job, double alpha, gsize n)
{
  const float *b = job->bp, *t = job->tp[0];
  float       *r = job->rp;
  double       beta = 1.0 - alpha;

  for (gsize i = 0; i < n; i++)
    r[i] = (float) (beta * (double) b[i] + alpha * (double) t[i]);
}

static void VECTORIZE
kernel_task_arithmetic (Job *job, double lambda, gsize n)
{
  const float *b = job->bp;
  float       *r = job->rp;

  if (job->n_tuned == 1)
    {
      const float *t = job->tp[0];

      for (gsize i = 0; i < n; i++)
        r[i] = (float) ((double) b[i] + lambda * (0.0 + ((double) t[i] - (double) b[i])));
      return;
    }
  for (gsize i = 0; i < n; i++)
    {
      double bi = b[i], sum = 0.0;

      for (guint k = 0; k < job->n_tuned; k++)
        sum += (double) job->tp[k][i] - bi;
      r[i] = (float) (bi + lambda * sum);
    }
}

/* Elements must be visited in flat index order (the tie-break counters). */
static void
kernel_ties (Job *job, double lambda, gsize n)
{
  const float *b = job->bp;
  float       *r = job->rp;
  guint        K = job->n_tuned;
  double       kept[16]; /* [K] trimmed deltas of this element (K <= 16 checked earlier) */

  for (gsize i = 0; i < n; i++)
    {
      double bi = b[i], total = 0.0, agree = 0.0;
      guint  count = 0;

      for (guint k = 0; k < K; k++)
        {
          double   d = (double) job->tp[k][i] - bi, m = fabs (d);
          gboolean keep;

          if (job->keep_all[k])
            keep = TRUE;
          else if (job->keep_none[k])
            keep = FALSE;
          else if (m > job->thr[k])
            keep = TRUE;
          else if (m == job->thr[k] && job->eq_seen[k] < job->eq_keep[k])
            {
              job->eq_seen[k]++;
              keep = TRUE;
            }
          else
            keep = FALSE;
          kept[k] = keep ? d : 0.0;
          total += kept[k];
        }
      if (total != 0.0)
        for (guint k = 0; k < K; k++)
          if (kept[k] != 0.0 && (kept[k] > 0.0) == (total > 0.0))
            {
              agree += kept[k];
              count++;
            }
      r[i] = (float) (bi + lambda * (count > 0 ? agree / count : 0.0));
    }
}

/* Rearranges v[0..n) so that the value of rank @k in descending order (0-based) is at v[k]
 * and returns it: a three-way quickselect (fine with many equal values). */
#define DEFINE_SELECT_DESCENDING(fname, T)                                                         \
  static T fname (T *v, gsize n, gsize k)                                                          \
  {                                                                                                \
    gsize   lo = 0, hi = n; /* search in [lo, hi) */                                               \
    guint32 seed = 0x9e3779b9u;                                                                    \
                                                                                                   \
    while (hi - lo > 1)                                                                            \
      {                                                                                            \
        gsize lt = lo, i = lo, gt = hi;                                                            \
        T     pivot, tmp;                                                                          \
                                                                                                   \
        seed = seed * 1664525u + 1013904223u;                                                      \
        pivot = v[lo + seed % (hi - lo)];                                                          \
        /* [lo, lt) > pivot, [lt, i) == pivot, [gt, hi) < pivot */                                 \
        while (i < gt)                                                                             \
          {                                                                                        \
            if (v[i] > pivot)                                                                      \
              {                                                                                    \
                tmp = v[i], v[i] = v[lt], v[lt] = tmp;                                             \
                i++, lt++;                                                                         \
              }                                                                                    \
            else if (v[i] < pivot)                                                                 \
              {                                                                                    \
                gt--;                                                                              \
                tmp = v[i], v[i] = v[gt], v[gt] = tmp;                                             \
              }                                                                                    \
            else                                                                                   \
              i++;                                                                                 \
          }                                                                                        \
        if (k < lt)                                                                                \
          hi = lt;                                                                                 \
        else if (k >= gt)                                                                          \
          lo = gt;                                                                                 \
        else                                                                                       \
          return pivot;                                                                            \
      }                                                                                            \
    return v[k];                                                                                   \
  }

DEFINE_SELECT_DESCENDING (select_descending_f, float)
DEFINE_SELECT_DESCENDING (select_descending_d, double)

/* TIES trimming of tuned model @k: the round(density * n) largest |t - b| (float64), equal
 * magnitudes by lower flat index. Result: the float64 threshold and how many entries equal to
 * it are kept (the first ones in index order).
 *
 * Memory: the magnitudes are ranked as float32 first (4 bytes per element); rounding to float32
 * is monotonic, so every entry whose float32 magnitude is above the float32 threshold is kept
 * and every entry below is dropped. Only the entries that round to the threshold itself are
 * ranked again in float64, which makes the result identical to ranking in float64. */
static gboolean
ties_prepare (Job *job, guint k, double density, GError **error)
{
  gsize   n = (gsize) job->base->numel;
  double  want = floor (density * (double) n + 0.5);
  gsize   n_keep = want >= (double) n ? n : (gsize) want;
  float  *mag; /* [n] float32 magnitudes, permuted by the selection */
  float   thr_f;
  gsize   n_gt_f = 0, need, n_gt_d = 0;
  GArray *cand; /* double magnitudes of the entries at the float32 threshold */
  double  thr_d;

  job->keep_all[k] = n_keep == n;
  job->keep_none[k] = n_keep == 0;
  job->eq_seen[k] = 0;
  if (job->keep_all[k] || job->keep_none[k])
    return TRUE;
  mag = g_try_new (float, n);
  if (mag == NULL)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO,
                   "not enough memory for the magnitudes of tensor '%s' (%" G_GSIZE_FORMAT
                   " values)",
                   job->base->name, n);
      return FALSE;
    }
  for (gsize start = 0; start < n; start += CHUNK)
    {
      gsize c = MIN (CHUNK, n - start);

      job_load_one (job, k, start, c);
      for (gsize i = 0; i < c; i++)
        mag[start + i] = (float) fabs ((double) job->tp[k][i] - (double) job->bp[i]);
      job_release_one (job, k, start, c);
    }
  thr_f = select_descending_f (mag, n, n_keep - 1);
  for (gsize i = 0; i < n; i++)
    n_gt_f += mag[i] > thr_f;
  g_free (mag);
  need = n_keep - n_gt_f; /* >= 1 */

  cand = g_array_new (FALSE, FALSE, sizeof (double));
  for (gsize start = 0; start < n; start += CHUNK)
    {
      gsize c = MIN (CHUNK, n - start);

      job_load_one (job, k, start, c);
      for (gsize i = 0; i < c; i++)
        {
          double m = fabs ((double) job->tp[k][i] - (double) job->bp[i]);

          if ((float) m == thr_f)
            g_array_append_val (cand, m);
        }
      job_release_one (job, k, start, c);
    }
  thr_d = select_descending_d ((double *) cand->data, cand->len, need - 1);
  for (guint i = 0; i < cand->len; i++)
    n_gt_d += g_array_index (cand, double, i) > thr_d;
  g_array_free (cand, TRUE);
  job->thr[k] = thr_d;
  job->eq_keep[k] = (gint64) (need - n_gt_d);
  return TRUE;
}

/* Merges one tensor (or copies it from base when it is outside the filter) into @sink. */
static gboolean
merge_tensor (AtsMerge             *self,
              const AtsMergeParams *params,
              const char           *name,
              gboolean              release,
              const Sink           *sink,
              GError              **error)
{
  Job      job = { 0 };
  gsize    n;
  gboolean ok = TRUE;

  job.base = ats_checkpoint_lookup (self->base, name);
  if (job.base == NULL)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "tensor '%s' is not in base %s",
                   name, self->base_dir);
      return FALSE;
    }
  n = (gsize) job.base->numel;
  job.esize = ats_dtype_size (job.base->dtype);
  job.release = release;

  if (!ats_merge_selects (self, params, name))
    {
      for (gsize start = 0; ok && start < n; start += CHUNK)
        {
          gsize c = MIN (CHUNK, n - start);

          guint8 *out = sink->get (sink->self, c * job.esize);

          memcpy (out, job.base->data + start * job.esize, c * job.esize);
          ok = sink->commit (sink->self, out, c * job.esize, error);
          if (release)
            _ats_release_pages (job.base->data + start * job.esize, c * job.esize);
        }
      return ok;
    }

  job.n_tuned = params->method == ATS_MERGE_LINEAR ? 1 : self->tuned->len;
  if (params->method == ATS_MERGE_TIES && job.n_tuned > 16)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                   "ties merges at most 16 tuned checkpoints (got %u)", job.n_tuned);
      return FALSE;
    }
  job.tuned = g_new0 (const AtsTensorInfo *, job.n_tuned);
  job.tf = g_new0 (float *, job.n_tuned);
  job.tp = g_new0 (const float *, job.n_tuned);
  for (guint k = 0; k < job.n_tuned; k++)
    {
      job.tuned[k] = ats_checkpoint_lookup (self->tuned->pdata[k], name);
      job.tf[k] = g_new (float, CHUNK);
    }
  job.bf = g_new (float, CHUNK);
  job.rf = g_new (float, CHUNK);
  job.thr = g_new0 (double, job.n_tuned);
  job.eq_keep = g_new0 (gint64, job.n_tuned);
  job.eq_seen = g_new0 (gint64, job.n_tuned);
  job.keep_all = g_new0 (gboolean, job.n_tuned);
  job.keep_none = g_new0 (gboolean, job.n_tuned);

  if (params->method == ATS_MERGE_TIES)
    for (guint k = 0; ok && k < job.n_tuned; k++)
      ok = ties_prepare (&job, k, params->density, error);

  for (gsize start = 0; ok && start < n; start += CHUNK)
    {
      gsize c = MIN (CHUNK, n - start);

      guint8 *out = sink->get (sink->self, c * job.esize);

      job.rp = job.base->dtype == ATS_DTYPE_F32 && G_BYTE_ORDER == G_LITTLE_ENDIAN &&
                       (guintptr) out % sizeof (float) == 0
                   ? (float *) out
                   : job.rf;
      job_load (&job, start, c);
      switch (params->method)
        {
        case ATS_MERGE_LINEAR:
          kernel_linear (&job, params->alpha, c);
          break;
        case ATS_MERGE_TASK_ARITHMETIC:
          kernel_task_arithmetic (&job, params->lambda, c);
          break;
        case ATS_MERGE_TIES:
        default:
          kernel_ties (&job, params->lambda, c);
          break;
        }
      if (job.rp != (float *) out)
        store_f32 (job.base->dtype, job.rf, c, out);
      ok = sink->commit (sink->self, out, c * job.esize, error);
      if (release)
        {
          _ats_release_pages (job.base->data + start * job.esize, c * job.esize);
          for (guint k = 0; k < job.n_tuned; k++)
            _ats_release_pages (job.tuned[k]->data + start * job.esize, c * job.esize);
        }
    }
  job_clear (&job);
  return ok;
}

/* --- in memory ------------------------------------------------------------------------------ */

static guint8 *
memory_get (gpointer self, gsize n_bytes)
{
  return *(guint8 **) self;
}

static gboolean
memory_commit (gpointer self, guint8 *data, gsize n_bytes, GError **error)
{
  *(guint8 **) self += n_bytes;
  return TRUE;
}

gboolean
_ats_merge_tensor_to_memory (AtsMerge             *self,
                             const AtsMergeParams *params,
                             const char           *name,
                             guint8               *dst,
                             GError              **error)
{
  guint8 *cursor = dst;
  Sink    sink = { memory_get, memory_commit, &cursor };

  return merge_tensor (self, params, name, FALSE, &sink, error);
}

float *
ats_merge_compute_f32 (AtsMerge             *self,
                       const AtsMergeParams *params,
                       const char           *name,
                       gsize                *n_values,
                       GError              **error)
{
  const AtsTensorInfo *info;
  g_autofree guint8   *raw = NULL;
  float               *out;

  g_return_val_if_fail (self != NULL && params != NULL && name != NULL, NULL);

  if (!ats_merge_check_params (self, params, error))
    return NULL;
  info = ats_checkpoint_lookup (self->base, name);
  if (info == NULL)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "tensor '%s' is not in base %s",
                   name, self->base_dir);
      return NULL;
    }
  raw = g_try_malloc (MAX (info->n_bytes, 1));
  out = raw ? g_try_new (float, MAX (info->numel, 1)) : NULL;
  if (out == NULL)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO,
                   "not enough memory to merge tensor '%s'", name);
      return NULL;
    }
  if (!_ats_merge_tensor_to_memory (self, params, name, raw, error))
    {
      g_free (out);
      return NULL;
    }
  ats_convert_to_f32 (info->dtype, raw, (gsize) info->numel, out);
  if (n_values != NULL)
    *n_values = (gsize) info->numel;
  return out;
}

/* --- to disk -------------------------------------------------------------------------------- */

/* The output side runs on its own thread: merged chunks are handed over in a ring of
 * N_BUFFERS buffers, so computing the next chunk overlaps with write(2) of the last one. */
#define N_BUFFERS 4

typedef struct
{
  AtsSafetensorsWriter       *writer;
  const AtsMergeWriteOptions *options;
  guint64                     total;
  guint64                     done;
  gboolean                    cancelled;
  GThread                    *thread;
  GAsyncQueue                *full;  /* Chunk*, a Chunk with data == NULL ends the thread */
  GAsyncQueue                *empty; /* guint8* buffers of CHUNK * 4 bytes */
  guint8                     *buffers[N_BUFFERS]; /* [N_BUFFERS][CHUNK * 4] */
  GMutex                      lock;
  GError                     *write_error; /* first error of the writer thread */
} WriteState;

typedef struct
{
  guint8 *data;
  gsize   n_bytes;
} Chunk;

static gpointer
writer_thread (gpointer user_data)
{
  WriteState *ws = user_data;

  for (;;)
    {
      Chunk   *c = g_async_queue_pop (ws->full);
      guint8  *data = c->data;
      gsize    n = c->n_bytes;
      gboolean failed;

      g_free (c);
      if (data == NULL)
        break;
      g_mutex_lock (&ws->lock);
      failed = ws->write_error != NULL;
      g_mutex_unlock (&ws->lock);
      if (!failed)
        {
          GError *error = NULL;

          if (!ats_safetensors_writer_write (ws->writer, data, n, &error))
            {
              g_mutex_lock (&ws->lock);
              ws->write_error = error;
              g_mutex_unlock (&ws->lock);
            }
        }
      g_async_queue_push (ws->empty, data);
    }
  return NULL;
}

static guint8 *
writer_get (gpointer self, gsize n_bytes)
{
  WriteState *ws = self;

  return g_async_queue_pop (ws->empty);
}

static gboolean
writer_commit (gpointer self, guint8 *data, gsize n_bytes, GError **error)
{
  WriteState *ws = self;
  Chunk      *c = g_new (Chunk, 1);
  gboolean    failed;

  c->data = data;
  c->n_bytes = n_bytes;
  g_async_queue_push (ws->full, c);
  g_mutex_lock (&ws->lock);
  failed = ws->write_error != NULL;
  if (failed)
    g_set_error_literal (error, ws->write_error->domain, ws->write_error->code,
                         ws->write_error->message);
  g_mutex_unlock (&ws->lock);
  if (failed)
    return FALSE;
  ws->done += n_bytes;
  if (ws->options->progress != NULL &&
      !ws->options->progress (ws->total ? (double) ws->done / ws->total : 1.0,
                              ws->options->progress_data))
    {
      ws->cancelled = TRUE;
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT, "cancelled");
      return FALSE;
    }
  return TRUE;
}

static void
writer_start (WriteState *ws)
{
  g_mutex_init (&ws->lock);
  ws->full = g_async_queue_new ();
  ws->empty = g_async_queue_new ();
  for (guint i = 0; i < N_BUFFERS; i++)
    {
      ws->buffers[i] = g_malloc (CHUNK * sizeof (float));
      g_async_queue_push (ws->empty, ws->buffers[i]);
    }
  ws->thread = g_thread_new ("ats-merge-writer", writer_thread, ws);
}

/* Waits for the writer thread; returns its error, if any. */
static gboolean
writer_stop (WriteState *ws, GError **error)
{
  Chunk   *end = g_new0 (Chunk, 1);
  gboolean ok = TRUE;

  g_async_queue_push (ws->full, end);
  g_thread_join (ws->thread);
  if (ws->write_error != NULL)
    {
      ok = FALSE;
      g_propagate_error (error, ws->write_error);
    }
  for (guint i = 0; i < N_BUFFERS; i++)
    g_free (ws->buffers[i]);
  g_async_queue_unref (ws->full);
  g_async_queue_unref (ws->empty);
  g_mutex_clear (&ws->lock);
  return ok;
}

/* Files of a model folder other than weights that a merged folder needs. */
static const char *const side_files[] = {
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  "vocab.txt",
  "chat_template.jinja",
  NULL,
};

static gboolean
same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;

  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

/* Base tensors in file order (shard by shard, by data offset): sequential reads. */
static GPtrArray *
tensors_in_file_order (AtsMerge *self)
{
  GPtrArray *names = g_ptr_array_new ();

  for (guint s = 0; s < ats_checkpoint_get_n_shards (self->base); s++)
    {
      AtsSafetensors *shard = ats_checkpoint_get_shard (self->base, s);

      for (guint i = 0; i < ats_safetensors_get_n_tensors (shard); i++)
        {
          const AtsTensorInfo *info = ats_safetensors_get_tensor (shard, i);

          /* a tensor mapped to another shard by the index is not ours here */
          if (ats_checkpoint_lookup (self->base, info->name) == info)
            g_ptr_array_add (names, (char *) info->name);
        }
    }
  return names;
}

gboolean
ats_merge_write (AtsMerge                   *self,
                 const AtsMergeParams       *params,
                 const char                 *out_dir,
                 const AtsMergeWriteOptions *options,
                 GError                    **error)
{
  AtsMergeWriteOptions defaults = { 0 };
  g_autoptr (AtsSafetensorsWriter) writer = NULL;
  g_autoptr (GPtrArray) order = NULL;
  g_autofree char *recipe = NULL;
  g_autoptr (GError) local_error = NULL;
  WriteState ws = { 0 };

  g_return_val_if_fail (self != NULL && params != NULL && out_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (options == NULL)
    options = &defaults;
  if (!ats_merge_check_params (self, params, error))
    return FALSE;

  /* never write over an input */
  if (same_file (out_dir, self->base_dir) ||
      same_file (out_dir, ats_checkpoint_get_dir (self->base)))
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                   "%s: the output folder is the base checkpoint", out_dir);
      return FALSE;
    }
  for (guint k = 0; k < self->tuned->len; k++)
    if (same_file (out_dir, self->tuned_dirs->pdata[k]) ||
        same_file (out_dir, ats_checkpoint_get_dir (self->tuned->pdata[k])))
      {
        g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                     "%s: the output folder is the tuned checkpoint %s", out_dir,
                     (const char *) self->tuned_dirs->pdata[k]);
        return FALSE;
      }

  writer = ats_safetensors_writer_new (
      out_dir, options->force ? ATS_SAFETENSORS_WRITER_FORCE : ATS_SAFETENSORS_WRITER_NONE,
      &local_error);
  if (writer == NULL)
    {
      g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO, "%s", local_error->message);
      return FALSE;
    }
  ats_safetensors_writer_set_shard_bytes (
      writer, options->shard_bytes ? options->shard_bytes : ATS_SAFETENSORS_DEFAULT_SHARD_BYTES);
  recipe = ats_merge_describe (self, params);
  ats_safetensors_writer_set_metadata (writer, "attnscope_merge", recipe);

  order = tensors_in_file_order (self);
  for (guint i = 0; i < order->len; i++)
    {
      const AtsTensorInfo *info = ats_checkpoint_lookup (self->base, order->pdata[i]);

      if (!ats_safetensors_writer_add_tensor (writer, info->name, info->dtype, info->n_dims,
                                              info->shape, &local_error))
        break;
    }
  if (local_error == NULL)
    ats_safetensors_writer_begin (writer, &local_error);

  ws.writer = writer;
  ws.options = options;
  ws.total = ats_safetensors_writer_get_n_bytes (writer);
  if (local_error == NULL)
    {
      Sink sink = { writer_get, writer_commit, &ws };
      g_autoptr (GError) thread_error = NULL;

      writer_start (&ws);
      for (guint i = 0; local_error == NULL && i < order->len; i++)
        merge_tensor (self, params, order->pdata[i], TRUE, &sink, &local_error);
      if (!writer_stop (&ws, &thread_error) && local_error == NULL)
        local_error = g_steal_pointer (&thread_error);
    }

  /* config, generation config and tokenizer files of base */
  if (local_error == NULL && g_file_test (self->base_dir, G_FILE_TEST_IS_DIR))
    for (guint i = 0; local_error == NULL && side_files[i] != NULL; i++)
      {
        g_autofree char *src = g_build_filename (self->base_dir, side_files[i], NULL);

        if (g_file_test (src, G_FILE_TEST_IS_REGULAR))
          ats_safetensors_writer_copy_file (writer, src, side_files[i], &local_error);
      }
  if (local_error == NULL)
    ats_safetensors_writer_finish (writer, &local_error);

  if (local_error != NULL)
    {
      if (ws.cancelled || local_error->domain == ATS_MERGE_ERROR)
        g_propagate_error (error, g_steal_pointer (&local_error));
      else
        g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO, "%s", local_error->message);
      return FALSE; /* the writer deletes its temporary folder */
    }
  return TRUE;
}
