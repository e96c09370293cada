/* ats-model.c — config.json parsing and weight loading for every supported family
 *
 * Sizes come from config.json and are cross-checked against the tensor shapes; sizes a config
 * leaves out (fla Lazy Attention configs often do) are read from the shapes. F32 tensors that
 * are 4-byte aligned in the mapping are used in place; F16/BF16 ones are widened to fp32.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ats-model-private.h"

typedef struct
{
  AtsModel   *model;
  const char *prefix; /* "", "transformer.", "model." ... tried for GPT-2 names */
} Loader;

static gboolean
json_get_uint (JsonObject *obj, const char *key, guint *out)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE)
    return FALSE;
  GType t = json_node_get_value_type (node);
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return FALSE;
  double v = json_node_get_double (node);
  if (t == G_TYPE_INT64)
    v = (double) json_node_get_int (node);
  if (v < 0 || v > G_MAXINT32 || v != floor (v))
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

static gboolean
json_get_double (JsonObject *obj, const char *key, double *out)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE)
    return FALSE;
  GType t = json_node_get_value_type (node);
  if (t == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else if (t == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return FALSE;
  return TRUE;
}

static gboolean
json_get_bool (JsonObject *obj, const char *key, gboolean *out)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE ||
      json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* Required unsigned size: error naming the key and file. */
static gboolean
need_uint (JsonObject *obj, const char *path, const char *key, guint *out, GError **error)
{
  if (json_get_uint (obj, key, out) && *out > 0)
    return TRUE;
  g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
               "%s: \"%s\" is missing or not a positive integer", path, key);
  return FALSE;
}

const char *
ats_arch_to_string (AtsArch arch)
{
  switch (arch)
    {
    case ATS_ARCH_GPT2:
      return "gpt2";
    case ATS_ARCH_LLAMA:
      return "llama";
    case ATS_ARCH_NEOX:
      return "gpt_neox";
    default:
      return "unknown";
    }
}

const char *
ats_attention_kind_to_string (AtsAttentionKind kind)
{
  return kind == ATS_ATTENTION_ELASTIC ? "elastic" : "softmax";
}

/* --- weights ------------------------------------------------------------------------------ */

static const float *
load_tensor (AtsModel *self, const char *name, guint n_dims, const gint64 *shape, GError **error)
{
  const AtsTensorInfo *info = ats_checkpoint_require (self->checkpoint, name, n_dims, shape, error);
  if (info == NULL)
    return NULL;
  self->weight_bytes += (guint64) info->numel * sizeof (float);
  if (info->dtype == ATS_DTYPE_F32 && ((guintptr) info->data % sizeof (float)) == 0)
    return (const float *) info->data;
  float *buf = g_try_new (float, info->numel);
  if (buf == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO,
                   "%s: out of memory widening tensor \"%s\"", self->dir, name);
      return NULL;
    }
  ats_convert_to_f32 (info->dtype, info->data, info->numel, buf);
  g_ptr_array_add (self->owned, buf);
  return buf;
}

static void
weight_slot_free (gpointer data)
{
  AtsWeightSlot *slot = data;
  g_free (slot->tensor);
  g_free (slot);
}

/* Stores @value in @field and remembers which tensor the field holds. */
static const float *
set_weight (AtsModel *self, const float **field, const char *name, const float *value)
{
  *field = value;
  if (value == NULL)
    return NULL;
  AtsWeightSlot *slot = g_new0 (AtsWeightSlot, 1);
  guint8        *addr = (guint8 *) field;
  slot->tensor = g_strdup (name);
  if (addr >= (guint8 *) self && addr < (guint8 *) (self + 1))
    {
      slot->layer = -1;
      slot->offset = addr - (guint8 *) self;
    }
  else
    {
      gsize rel = addr - (guint8 *) self->layers;
      slot->layer = rel / sizeof (AtsLayer);
      slot->offset = rel % sizeof (AtsLayer);
    }
  g_ptr_array_add (self->weight_slots, slot);
  return value;
}

static const float *
load_1d (AtsModel *self, const float **field, const char *name, guint n, GError **error)
{
  gint64 shape[1] = { n };
  return set_weight (self, field, name, load_tensor (self, name, 1, shape, error));
}

static const float *
load_2d (AtsModel *self, const float **field, const char *name, guint a, guint b, GError **error)
{
  gint64 shape[2] = { a, b };
  return set_weight (self, field, name, load_tensor (self, name, 2, shape, error));
}

/* nn.Linear: weight [out, in], optional bias [out]. */
static gboolean
load_linear (AtsModel   *self,
             AtsLinear  *lin,
             const char *prefix,
             guint       in,
             guint       out,
             gboolean    with_bias,
             GError    **error)
{
  g_autofree char *wname = g_strconcat (prefix, ".weight", NULL);
  lin->in = in;
  lin->out = out;
  lin->w_is_out_in = TRUE;
  load_2d (self, &lin->w, wname, out, in, error);
  if (lin->w == NULL)
    return FALSE;
  lin->b = NULL;
  if (with_bias)
    {
      g_autofree char *bname = g_strconcat (prefix, ".bias", NULL);
      load_1d (self, &lin->b, bname, out, error);
      if (lin->b == NULL)
        return FALSE;
    }
  return TRUE;
}

/* GPT-2 Conv1D: weight [in, out], bias [out]. */
static gboolean
load_conv1d (AtsModel   *self,
             AtsLinear  *lin,
             const char *prefix,
             guint       in,
             guint       out,
             GError    **error)
{
  g_autofree char *wname = g_strconcat (prefix, ".weight", NULL);
  g_autofree char *bname = g_strconcat (prefix, ".bias", NULL);
  lin->in = in;
  lin->out = out;
  lin->w_is_out_in = FALSE;
  load_2d (self, &lin->w, wname, in, out, error);
  if (lin->w == NULL)
    return FALSE;
  load_1d (self, &lin->b, bname, out, error);
  return lin->b != NULL;
}

static gboolean
load_norm (AtsModel   *self,
           AtsNorm    *norm,
           const char *prefix,
           guint       d,
           gboolean    with_bias,
           GError    **error)
{
  g_autofree char *wname = g_strconcat (prefix, ".weight", NULL);
  load_1d (self, &norm->w, wname, d, error);
  if (norm->w == NULL)
    return FALSE;
  norm->b = NULL;
  if (with_bias)
    {
      g_autofree char *bname = g_strconcat (prefix, ".bias", NULL);
      load_1d (self, &norm->b, bname, d, error);
      if (norm->b == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
has_tensor (AtsModel *self, const char *name)
{
  return ats_checkpoint_lookup (self->checkpoint, name) != NULL;
}

/* Shape of a tensor, or FALSE. */
static gboolean
tensor_dims (AtsModel *self, const char *name, guint n_dims, gint64 *shape)
{
  const AtsTensorInfo *info = ats_checkpoint_lookup (self->checkpoint, name);
  if (info == NULL || info->n_dims != n_dims)
    return FALSE;
  memcpy (shape, info->shape, n_dims * sizeof (gint64));
  return TRUE;
}

/* Allocates the layer table once n_layers is known; bounds hostile sizes. */
static gboolean
alloc_layers (AtsModel *self, const char *path, GError **error)
{
  AtsModelConfig *c = &self->config;
  if (c->n_layers > 4096 || c->n_heads > 4096 || c->d_model > 1u << 20)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: implausible sizes (%u layers, %u heads, width %u)", path, c->n_layers,
                   c->n_heads, c->d_model);
      return FALSE;
    }
  self->layers = g_new0 (AtsLayer, c->n_layers);
  return TRUE;
}

/* --- GPT-2 --------------------------------------------------------------------------------- */

static gboolean
load_gpt2 (AtsModel *self, JsonObject *cfg, const char *path, GError **error)
{
  AtsModelConfig *c = &self->config;
  if (!need_uint (cfg, path, "n_embd", &c->d_model, error) ||
      !need_uint (cfg, path, "n_layer", &c->n_layers, error) ||
      !need_uint (cfg, path, "n_head", &c->n_heads, error) ||
      !need_uint (cfg, path, "vocab_size", &c->vocab_size, error) ||
      !alloc_layers (self, path, error))
    return FALSE;
  if (!json_get_uint (cfg, "n_positions", &c->max_positions) &&
      !json_get_uint (cfg, "n_ctx", &c->max_positions))
    c->max_positions = 1024;
  if (!json_get_uint (cfg, "n_inner", &c->d_ff) || c->d_ff == 0)
    c->d_ff = 4 * c->d_model;
  double eps = 1e-5;
  json_get_double (cfg, "layer_norm_epsilon", &eps);
  c->norm_eps = eps;
  c->norm = ATS_NORM_LAYER;
  c->n_kv_heads = c->n_heads;
  c->tied_lm_head = TRUE;
  self->gelu_tanh = TRUE;
  if (c->d_model % c->n_heads != 0)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: n_embd %u is not divisible by n_head %u", path, c->d_model, c->n_heads);
      return FALSE;
    }
  c->head_dim = c->d_model / c->n_heads;

  /* Names may carry a "transformer." (or "model.") prefix. */
  const char *prefixes[] = { "", "transformer.", "model.", "model.transformer." };
  const char *p = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      g_autofree char *n = g_strconcat (prefixes[i], "wte.weight", NULL);
      if (has_tensor (self, n))
        {
          p = prefixes[i];
          break;
        }
    }
  if (p == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
                   "%s: tensor \"wte.weight\" (GPT-2 token embedding) not found", self->dir);
      return FALSE;
    }
  guint            D = c->d_model;
  g_autofree char *wte = g_strconcat (p, "wte.weight", NULL);
  g_autofree char *wpe = g_strconcat (p, "wpe.weight", NULL);
  gint64           wpe_shape[2];
  if (tensor_dims (self, wpe, 2, wpe_shape) && wpe_shape[0] > 0 && wpe_shape[1] == D)
    c->max_positions = MIN ((guint) wpe_shape[0], c->max_positions ? c->max_positions : G_MAXUINT);
  if (!(load_2d (self, &self->tok_embed, wte, c->vocab_size, D, error)) ||
      !(load_2d (self, &self->pos_embed, wpe, c->max_positions, D, error)))
    return FALSE;
  for (guint l = 0; l < c->n_layers; l++)
    {
      AtsLayer        *L = &self->layers[l];
      g_autofree char *h = g_strdup_printf ("%sh.%u", p, l);
      g_autofree char *ln1 = g_strconcat (h, ".ln_1", NULL);
      g_autofree char *ln2 = g_strconcat (h, ".ln_2", NULL);
      g_autofree char *cattn = g_strconcat (h, ".attn.c_attn", NULL);
      g_autofree char *cproj = g_strconcat (h, ".attn.c_proj", NULL);
      g_autofree char *cfc = g_strconcat (h, ".mlp.c_fc", NULL);
      g_autofree char *mproj = g_strconcat (h, ".mlp.c_proj", NULL);
      if (!load_norm (self, &L->attn_norm, ln1, D, TRUE, error) ||
          !load_norm (self, &L->mlp_norm, ln2, D, TRUE, error) ||
          !load_conv1d (self, &L->qkv, cattn, D, 3 * D, error) ||
          !load_conv1d (self, &L->o, cproj, D, D, error) ||
          !load_conv1d (self, &L->fc, cfc, D, c->d_ff, error) ||
          !load_conv1d (self, &L->proj, mproj, c->d_ff, D, error))
        return FALSE;
    }
  g_autofree char *lnf = g_strconcat (p, "ln_f", NULL);
  if (!load_norm (self, &self->final_norm, lnf, D, TRUE, error))
    return FALSE;
  self->lm_head = self->tok_embed;
  return TRUE;
}

/* --- LLaMA family and Lazy Attention ------------------------------------------------------- */

typedef struct
{
  const char *embed; /* token embedding */
  const char *layer; /* "model.layers.%u" */
  const char *attn;  /* "self_attn" | "attn" */
  const char *ln1;   /* "input_layernorm" | "attn_norm" */
  const char *ln2;   /* "post_attention_layernorm" | "mlp_norm" */
} LlamaNames;

static const LlamaNames hf_names = { "model.embed_tokens.weight", "model.layers.%u", "self_attn",
                                     "input_layernorm", "post_attention_layernorm" };
static const LlamaNames fla_names = { "model.embeddings.weight", "model.layers.%u", "attn",
                                      "attn_norm", "mlp_norm" };

static gboolean
load_llama (AtsModel *self, JsonObject *cfg, const char *path, gboolean fla, GError **error)
{
  AtsModelConfig   *c = &self->config;
  const LlamaNames *names = fla ? &fla_names : &hf_names;
  const char       *heads_key = fla ? "num_heads" : "num_attention_heads";
  const char       *kv_key = fla ? "num_kv_heads" : "num_key_value_heads";

  if (!need_uint (cfg, path, "hidden_size", &c->d_model, error) ||
      !need_uint (cfg, path, "num_hidden_layers", &c->n_layers, error) ||
      !need_uint (cfg, path, heads_key, &c->n_heads, error) || !alloc_layers (self, path, error))
    return FALSE;
  if (!json_get_uint (cfg, kv_key, &c->n_kv_heads) || c->n_kv_heads == 0)
    c->n_kv_heads = c->n_heads;
  if (c->n_heads % c->n_kv_heads != 0)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: %s %u is not a multiple of %s %u", path, heads_key, c->n_heads, kv_key,
                   c->n_kv_heads);
      return FALSE;
    }
  if (!json_get_uint (cfg, "head_dim", &c->head_dim) || c->head_dim == 0)
    {
      if (c->d_model % c->n_heads != 0)
        {
          g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                       "%s: hidden_size %u is not divisible by %s %u", path, c->d_model, heads_key,
                       c->n_heads);
          return FALSE;
        }
      c->head_dim = c->d_model / c->n_heads;
    }
  if (c->head_dim % 2 != 0)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: head size %u is odd; RoPE needs an even head size", path, c->head_dim);
      return FALSE;
    }
  c->rotary_dim = c->head_dim;
  double v = 10000.0;
  json_get_double (cfg, "rope_theta", &v);
  c->rope_theta = v;
  v = 1e-6;
  if (!json_get_double (cfg, fla ? "norm_eps" : "rms_norm_eps", &v))
    json_get_double (cfg, "rms_norm_eps", &v);
  c->norm_eps = v;
  c->norm = ATS_NORM_RMS;
  c->tied_lm_head = FALSE;
  json_get_bool (cfg, "tie_word_embeddings", &c->tied_lm_head);
  c->qkv_bias = g_strcmp0 (c->model_type, "qwen2") == 0;
  json_get_bool (cfg, "attention_bias", &c->qkv_bias);

  /* Sizes the config may leave out are read from the shapes. */
  gint64 shape[2];
  if (!json_get_uint (cfg, "vocab_size", &c->vocab_size) || c->vocab_size == 0)
    {
      if (!tensor_dims (self, names->embed, 2, shape))
        return need_uint (cfg, path, "vocab_size", &c->vocab_size, error);
      c->vocab_size = shape[0];
    }
  g_autofree char *gate0 = g_strdup_printf ("model.layers.0.mlp.gate_proj.weight");
  if (!json_get_uint (cfg, "intermediate_size", &c->d_ff) || c->d_ff == 0)
    {
      if (!tensor_dims (self, gate0, 2, shape))
        return need_uint (cfg, path, "intermediate_size", &c->d_ff, error);
      c->d_ff = shape[0];
    }

  /* Lazy Attention: tau [H] and a distance-bias table [H, W] (bias) or [H, W+1]
   * (attention_biases) on every attention layer. */
  g_autofree char *tau0 = g_strdup_printf ("model.layers.0.%s.tau", names->attn);
  const char      *bias_leaf = NULL;
  if (has_tensor (self, tau0))
    {
      const char *leaves[] = { "bias", "attention_biases" };
      for (guint i = 0; i < G_N_ELEMENTS (leaves); i++)
        {
          g_autofree char *n = g_strdup_printf ("model.layers.0.%s.%s", names->attn, leaves[i]);
          if (tensor_dims (self, n, 2, shape))
            {
              bias_leaf = leaves[i];
              if (shape[0] != c->n_heads || shape[1] <= 0 || shape[1] > G_MAXINT32)
                {
                  g_autofree char *got = ats_shape_to_string (2, shape);
                  g_set_error (
                      error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_SHAPE,
                      "%s: tensor \"%s\" has shape %s, expected [%u, W] (one distance-bias "
                      "row per head)",
                      self->dir, n, got, c->n_heads);
                  return FALSE;
                }
              c->bias_window = shape[1];
              break;
            }
        }
      if (bias_leaf == NULL)
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
                       "%s: \"%s\" is present but no distance-bias table "
                       "(model.layers.0.%s.bias or .attention_biases) was found",
                       self->dir, tau0, names->attn);
          return FALSE;
        }
      c->attention = ATS_ATTENTION_ELASTIC;
    }
  else if (fla)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
                   "%s: fla-style checkpoint without \"%s\": only Lazy Attention fla models are "
                   "supported",
                   self->dir, tau0);
      return FALSE;
    }

  guint D = c->d_model, H = c->n_heads, Hkv = c->n_kv_heads, hs = c->head_dim;
  if (!(load_2d (self, &self->tok_embed, names->embed, c->vocab_size, D, error)))
    return FALSE;
  for (guint l = 0; l < c->n_layers; l++)
    {
      AtsLayer        *L = &self->layers[l];
      g_autofree char *lp = g_strdup_printf (names->layer, l);
      g_autofree char *ln1 = g_strdup_printf ("%s.%s", lp, names->ln1);
      g_autofree char *ln2 = g_strdup_printf ("%s.%s", lp, names->ln2);
      g_autofree char *q = g_strdup_printf ("%s.%s.q_proj", lp, names->attn);
      g_autofree char *k = g_strdup_printf ("%s.%s.k_proj", lp, names->attn);
      g_autofree char *vv = g_strdup_printf ("%s.%s.v_proj", lp, names->attn);
      g_autofree char *o = g_strdup_printf ("%s.%s.o_proj", lp, names->attn);
      g_autofree char *gate = g_strdup_printf ("%s.mlp.gate_proj", lp);
      g_autofree char *up = g_strdup_printf ("%s.mlp.up_proj", lp);
      g_autofree char *down = g_strdup_printf ("%s.mlp.down_proj", lp);
      if (!load_norm (self, &L->attn_norm, ln1, D, FALSE, error) ||
          !load_norm (self, &L->mlp_norm, ln2, D, FALSE, error) ||
          !load_linear (self, &L->q, q, D, H * hs, c->qkv_bias, error) ||
          !load_linear (self, &L->k, k, D, Hkv * hs, c->qkv_bias, error) ||
          !load_linear (self, &L->v, vv, D, Hkv * hs, c->qkv_bias, error) ||
          !load_linear (self, &L->o, o, H * hs, D, FALSE, error) ||
          !load_linear (self, &L->gate, gate, D, c->d_ff, FALSE, error) ||
          !load_linear (self, &L->up, up, D, c->d_ff, FALSE, error) ||
          !load_linear (self, &L->down, down, c->d_ff, D, FALSE, error))
        return FALSE;
      if (c->attention == ATS_ATTENTION_ELASTIC)
        {
          g_autofree char *tau = g_strdup_printf ("%s.%s.tau", lp, names->attn);
          g_autofree char *bias = g_strdup_printf ("%s.%s.%s", lp, names->attn, bias_leaf);
          if (!(load_1d (self, &L->tau, tau, H, error)) ||
              !(load_2d (self, &L->bias, bias, H, c->bias_window, error)))
            return FALSE;
        }
    }
  if (!load_norm (self, &self->final_norm, "model.norm", D, FALSE, error))
    return FALSE;
  if (c->tied_lm_head || !has_tensor (self, "lm_head.weight"))
    {
      if (!c->tied_lm_head && !has_tensor (self, "lm_head.weight"))
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING,
                       "%s: tensor \"lm_head.weight\" not found and tie_word_embeddings is false",
                       self->dir);
          return FALSE;
        }
      self->lm_head = self->tok_embed;
    }
  else if (!(load_2d (self, &self->lm_head, "lm_head.weight", c->vocab_size, D, error)))
    return FALSE;
  return TRUE;
}

/* --- GPT-NeoX / Pythia --------------------------------------------------------------------- */

static gboolean
load_neox (AtsModel *self, JsonObject *cfg, const char *path, GError **error)
{
  AtsModelConfig *c = &self->config;
  if (!need_uint (cfg, path, "hidden_size", &c->d_model, error) ||
      !need_uint (cfg, path, "num_hidden_layers", &c->n_layers, error) ||
      !need_uint (cfg, path, "num_attention_heads", &c->n_heads, error) ||
      !need_uint (cfg, path, "vocab_size", &c->vocab_size, error) ||
      !alloc_layers (self, path, error))
    return FALSE;
  if (!json_get_uint (cfg, "intermediate_size", &c->d_ff) || c->d_ff == 0)
    c->d_ff = 4 * c->d_model;
  if (c->d_model % c->n_heads != 0)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: hidden_size %u is not divisible by num_attention_heads %u", path,
                   c->d_model, c->n_heads);
      return FALSE;
    }
  c->n_kv_heads = c->n_heads;
  c->head_dim = c->d_model / c->n_heads;
  double pct = 0.25, v;
  json_get_double (cfg, "rotary_pct", &pct);
  if (pct < 0 || pct > 1)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: rotary_pct %g is outside [0, 1]", path, pct);
      return FALSE;
    }
  c->rotary_dim = (guint) (c->head_dim * pct); /* as int(head_size * rotary_pct) */
  c->rotary_dim &= ~1u;
  v = 10000.0;
  if (!json_get_double (cfg, "rotary_emb_base", &v))
    json_get_double (cfg, "rope_theta", &v);
  c->rope_theta = v;
  v = 1e-5;
  json_get_double (cfg, "layer_norm_eps", &v);
  c->norm_eps = v;
  c->norm = ATS_NORM_LAYER;
  c->parallel_residual = TRUE;
  json_get_bool (cfg, "use_parallel_residual", &c->parallel_residual);
  c->tied_lm_head = FALSE;
  json_get_bool (cfg, "tie_word_embeddings", &c->tied_lm_head);
  self->gelu_tanh = FALSE;
  {
    JsonNode   *act = json_object_get_member (cfg, "hidden_act");
    const char *a = act && JSON_NODE_HOLDS_VALUE (act) ? json_node_get_string (act) : NULL;
    if (a != NULL && (g_str_equal (a, "gelu_new") || g_str_equal (a, "gelu_pytorch_tanh") ||
                      g_str_equal (a, "gelu_fast")))
      self->gelu_tanh = TRUE;
  }

  guint D = c->d_model;
  if (!(load_2d (self, &self->tok_embed, "gpt_neox.embed_in.weight", c->vocab_size, D, error)))
    return FALSE;
  for (guint l = 0; l < c->n_layers; l++)
    {
      AtsLayer        *L = &self->layers[l];
      g_autofree char *lp = g_strdup_printf ("gpt_neox.layers.%u", l);
      g_autofree char *ln1 = g_strconcat (lp, ".input_layernorm", NULL);
      g_autofree char *ln2 = g_strconcat (lp, ".post_attention_layernorm", NULL);
      g_autofree char *qkv = g_strconcat (lp, ".attention.query_key_value", NULL);
      g_autofree char *dense = g_strconcat (lp, ".attention.dense", NULL);
      g_autofree char *fc = g_strconcat (lp, ".mlp.dense_h_to_4h", NULL);
      g_autofree char *proj = g_strconcat (lp, ".mlp.dense_4h_to_h", NULL);
      if (!load_norm (self, &L->attn_norm, ln1, D, TRUE, error) ||
          !load_norm (self, &L->mlp_norm, ln2, D, TRUE, error) ||
          !load_linear (self, &L->qkv, qkv, D, 3 * D, TRUE, error) ||
          !load_linear (self, &L->o, dense, D, D, TRUE, error) ||
          !load_linear (self, &L->fc, fc, D, c->d_ff, TRUE, error) ||
          !load_linear (self, &L->proj, proj, c->d_ff, D, TRUE, error))
        return FALSE;
    }
  if (!load_norm (self, &self->final_norm, "gpt_neox.final_layer_norm", D, TRUE, error))
    return FALSE;
  if (c->tied_lm_head)
    self->lm_head = self->tok_embed;
  else if (!(load_2d (self, &self->lm_head, "embed_out.weight", c->vocab_size, D, error)))
    return FALSE;
  return TRUE;
}

/* --- entry points -------------------------------------------------------------------------- */

static void
model_free (AtsModel *self)
{
  g_free (self->dir);
  g_free (self->config_json);
  g_free (self->config.model_type);
  g_free (self->layers);
  if (self->owned)
    g_ptr_array_unref (self->owned);
  if (self->weight_slots)
    g_ptr_array_unref (self->weight_slots);
  if (self->checkpoint)
    ats_checkpoint_unref (self->checkpoint);
  g_free (self);
}

AtsModel *
ats_model_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);

  g_autofree char *dir =
      g_file_test (path, G_FILE_TEST_IS_DIR) ? g_strdup (path) : g_path_get_dirname (path);
  g_autofree char *cfg_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *text = NULL;
  gsize            len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (cfg_path, &text, &len, &local))
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG, "%s: cannot read: %s", cfg_path,
                   local->message);
      return NULL;
    }
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, len, &local))
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG, "%s: malformed JSON: %s",
                   cfg_path, local->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s: expected a JSON object at the top level", cfg_path);
      return NULL;
    }
  JsonObject *cfg = json_node_get_object (root);

  AtsCheckpoint *ckpt = ats_checkpoint_open (path, error);
  if (ckpt == NULL)
    return NULL;

  AtsModel *self = g_new0 (AtsModel, 1);
  self->ref_count = 1;
  self->dir = g_steal_pointer (&dir);
  self->config_json = g_steal_pointer (&text);
  self->checkpoint = ckpt;
  self->owned = g_ptr_array_new_with_free_func (g_free);
  self->weight_slots = g_ptr_array_new_with_free_func (weight_slot_free);
  AtsModelConfig *c = &self->config;
  c->bos_token_id = -1;
  c->rope_theta = 10000.0f;
  c->attention = ATS_ATTENTION_SOFTMAX;
  {
    guint bos;
    if (json_get_uint (cfg, "bos_token_id", &bos))
      c->bos_token_id = bos;
  }

  JsonNode   *mt = json_object_get_member (cfg, "model_type");
  const char *model_type =
      mt && JSON_NODE_HOLDS_VALUE (mt) && json_node_get_value_type (mt) == G_TYPE_STRING
          ? json_node_get_string (mt)
          : NULL;
  c->model_type = g_strdup (model_type ? model_type : "");

  /* fla (flash-linear-attention) checkpoints are recognised by their tensor names, since
   * their model_type is the trainer's own. */
  gboolean fla = has_tensor (self, "model.embeddings.weight") &&
                 has_tensor (self, "model.layers.0.attn.q_proj.weight");
  static const char *llama_types[] = { "llama",   "mistral",   "qwen2",          "smollm",
                                       "smollm2", "tinyllama", "lazy_attention", NULL };
  gboolean           ok;

  if (fla)
    {
      c->arch = ATS_ARCH_LLAMA;
      ok = load_llama (self, cfg, cfg_path, TRUE, error);
    }
  else if (model_type == NULL)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_ARCHITECTURE,
                   "%s: no \"model_type\" given and the tensor names match no supported "
                   "architecture",
                   cfg_path);
      ok = FALSE;
    }
  else if (g_str_equal (model_type, "gpt2"))
    {
      c->arch = ATS_ARCH_GPT2;
      ok = load_gpt2 (self, cfg, cfg_path, error);
    }
  else if (g_strv_contains (llama_types, model_type))
    {
      c->arch = ATS_ARCH_LLAMA;
      ok = load_llama (self, cfg, cfg_path, FALSE, error);
    }
  else if (g_str_equal (model_type, "gpt_neox"))
    {
      c->arch = ATS_ARCH_NEOX;
      ok = load_neox (self, cfg, cfg_path, error);
    }
  else
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_ARCHITECTURE,
                   "%s: unknown model_type \"%s\" (supported: gpt2, llama, mistral, qwen2, "
                   "gpt_neox, and Lazy Attention checkpoints in fla or LLaMA naming)",
                   cfg_path, model_type);
      ok = FALSE;
    }
  if (!ok)
    {
      model_free (self);
      return NULL;
    }
  return self;
}

AtsModel *
ats_model_ref (AtsModel *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
ats_model_unref (AtsModel *self)
{
  if (self != NULL && g_atomic_int_dec_and_test (&self->ref_count))
    model_free (self);
}

const AtsModelConfig *
ats_model_get_config (AtsModel *self)
{
  return &self->config;
}

const char *
ats_model_get_dir (AtsModel *self)
{
  return self->dir;
}

const char *
ats_model_get_config_json (AtsModel *self)
{
  return self->config_json;
}

guint64
ats_model_get_weight_bytes (AtsModel *self)
{
  return self->weight_bytes;
}

const float *
ats_model_get_lazy_tau (AtsModel *self, guint layer)
{
  g_return_val_if_fail (layer < self->config.n_layers, NULL);
  return self->layers[layer].tau;
}

const float *
ats_model_get_lazy_bias (AtsModel *self, guint layer)
{
  g_return_val_if_fail (layer < self->config.n_layers, NULL);
  return self->layers[layer].bias;
}
