/* ats-merge-model.c — merged models built in memory (for sweeps), without writing files
 *
 * The base model is loaded once with ats_model_load() and serves as the template: config,
 * layer table and norms kinds all come from it. Each weight field of the template is paired
 * with the tensor name the loader read it from (the slot table below follows the naming of
 * ats-model.c per family), and the pairing is verified once against the base checkpoint, value
 * for value, so a loader change that this table does not follow is reported instead of
 * producing a wrong model. A merged model is a copy of the template whose every weight is the
 * merged tensor, rounded to its stored dtype and widened to float32, exactly what loading the
 * merged folder from disk gives.
 */
#include <stddef.h>
#include <string.h>

#include "ats-merge-private.h"
#include "ats-model-private.h"

typedef struct
{
  char *name;
  int   layer;  /* -1: a field of AtsModel, else of AtsLayer layers[layer] */
  gsize offset; /* of the `const float *` field */
} Slot;

static void
slot_free (gpointer data)
{
  Slot *s = data;

  g_free (s->name);
  g_free (s);
}

static const float **
slot_field (AtsModel *model, const Slot *s)
{
  guint8 *base = s->layer < 0 ? (guint8 *) model : (guint8 *) &model->layers[s->layer];

  return (const float **) (base + s->offset);
}

static void G_GNUC_PRINTF (4, 5)
    add_slot (GPtrArray *slots, int layer, gsize offset, const char *format, ...)
{
  Slot   *s = g_new0 (Slot, 1);
  va_list args;

  va_start (args, format);
  s->name = g_strdup_vprintf (format, args);
  va_end (args);
  s->layer = layer;
  s->offset = offset;
  g_ptr_array_add (slots, s);
}

#define LAYER(field) offsetof (AtsLayer, field)
#define MODEL(field) offsetof (AtsModel, field)

static gboolean
has (AtsMerge *self, const char *name)
{
  return ats_checkpoint_lookup (self->base, name) != NULL;
}

static void
slots_gpt2 (AtsMerge *self, AtsModel *t, GPtrArray *slots)
{
  const char *prefixes[] = { "", "transformer.", "model.", "model.transformer." };
  const char *p = "";

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      g_autofree char *n = g_strconcat (prefixes[i], "wte.weight", NULL);

      if (has (self, n))
        {
          p = prefixes[i];
          break;
        }
    }
  add_slot (slots, -1, MODEL (tok_embed), "%swte.weight", p);
  add_slot (slots, -1, MODEL (pos_embed), "%swpe.weight", p);
  for (guint l = 0; l < t->config.n_layers; l++)
    {
      add_slot (slots, l, LAYER (attn_norm.w), "%sh.%u.ln_1.weight", p, l);
      add_slot (slots, l, LAYER (attn_norm.b), "%sh.%u.ln_1.bias", p, l);
      add_slot (slots, l, LAYER (mlp_norm.w), "%sh.%u.ln_2.weight", p, l);
      add_slot (slots, l, LAYER (mlp_norm.b), "%sh.%u.ln_2.bias", p, l);
      add_slot (slots, l, LAYER (qkv.w), "%sh.%u.attn.c_attn.weight", p, l);
      add_slot (slots, l, LAYER (qkv.b), "%sh.%u.attn.c_attn.bias", p, l);
      add_slot (slots, l, LAYER (o.w), "%sh.%u.attn.c_proj.weight", p, l);
      add_slot (slots, l, LAYER (o.b), "%sh.%u.attn.c_proj.bias", p, l);
      add_slot (slots, l, LAYER (fc.w), "%sh.%u.mlp.c_fc.weight", p, l);
      add_slot (slots, l, LAYER (fc.b), "%sh.%u.mlp.c_fc.bias", p, l);
      add_slot (slots, l, LAYER (proj.w), "%sh.%u.mlp.c_proj.weight", p, l);
      add_slot (slots, l, LAYER (proj.b), "%sh.%u.mlp.c_proj.bias", p, l);
    }
  add_slot (slots, -1, MODEL (final_norm.w), "%sln_f.weight", p);
  add_slot (slots, -1, MODEL (final_norm.b), "%sln_f.bias", p);
}

static void
slots_llama (AtsMerge *self, AtsModel *t, GPtrArray *slots)
{
  gboolean fla =
      has (self, "model.embeddings.weight") && has (self, "model.layers.0.attn.q_proj.weight");
  const char *attn = fla ? "attn" : "self_attn";
  const char *ln1 = fla ? "attn_norm" : "input_layernorm";
  const char *ln2 = fla ? "mlp_norm" : "post_attention_layernorm";
  const char *bias_leaf = "bias";
  gboolean    qkv_bias = t->config.qkv_bias;

  if (t->config.attention == ATS_ATTENTION_ELASTIC)
    {
      g_autofree char     *n = g_strdup_printf ("model.layers.0.%s.bias", attn);
      const AtsTensorInfo *info = ats_checkpoint_lookup (self->base, n);

      if (info == NULL || info->n_dims != 2)
        bias_leaf = "attention_biases";
    }
  add_slot (slots, -1, MODEL (tok_embed), "%s",
            fla ? "model.embeddings.weight" : "model.embed_tokens.weight");
  for (guint l = 0; l < t->config.n_layers; l++)
    {
      add_slot (slots, l, LAYER (attn_norm.w), "model.layers.%u.%s.weight", l, ln1);
      add_slot (slots, l, LAYER (mlp_norm.w), "model.layers.%u.%s.weight", l, ln2);
      add_slot (slots, l, LAYER (q.w), "model.layers.%u.%s.q_proj.weight", l, attn);
      add_slot (slots, l, LAYER (k.w), "model.layers.%u.%s.k_proj.weight", l, attn);
      add_slot (slots, l, LAYER (v.w), "model.layers.%u.%s.v_proj.weight", l, attn);
      if (qkv_bias)
        {
          add_slot (slots, l, LAYER (q.b), "model.layers.%u.%s.q_proj.bias", l, attn);
          add_slot (slots, l, LAYER (k.b), "model.layers.%u.%s.k_proj.bias", l, attn);
          add_slot (slots, l, LAYER (v.b), "model.layers.%u.%s.v_proj.bias", l, attn);
        }
      add_slot (slots, l, LAYER (o.w), "model.layers.%u.%s.o_proj.weight", l, attn);
      add_slot (slots, l, LAYER (gate.w), "model.layers.%u.mlp.gate_proj.weight", l);
      add_slot (slots, l, LAYER (up.w), "model.layers.%u.mlp.up_proj.weight", l);
      add_slot (slots, l, LAYER (down.w), "model.layers.%u.mlp.down_proj.weight", l);
      if (t->config.attention == ATS_ATTENTION_ELASTIC)
        {
          add_slot (slots, l, LAYER (tau), "model.layers.%u.%s.tau", l, attn);
          add_slot (slots, l, LAYER (bias), "model.layers.%u.%s.%s", l, attn, bias_leaf);
        }
    }
  add_slot (slots, -1, MODEL (final_norm.w), "model.norm.weight");
  if (t->lm_head != t->tok_embed)
    add_slot (slots, -1, MODEL (lm_head), "lm_head.weight");
}

static void
slots_neox (AtsMerge *self, AtsModel *t, GPtrArray *slots)
{
  add_slot (slots, -1, MODEL (tok_embed), "gpt_neox.embed_in.weight");
  for (guint l = 0; l < t->config.n_layers; l++)
    {
      const char *p = "gpt_neox.layers";

      add_slot (slots, l, LAYER (attn_norm.w), "%s.%u.input_layernorm.weight", p, l);
      add_slot (slots, l, LAYER (attn_norm.b), "%s.%u.input_layernorm.bias", p, l);
      add_slot (slots, l, LAYER (mlp_norm.w), "%s.%u.post_attention_layernorm.weight", p, l);
      add_slot (slots, l, LAYER (mlp_norm.b), "%s.%u.post_attention_layernorm.bias", p, l);
      add_slot (slots, l, LAYER (qkv.w), "%s.%u.attention.query_key_value.weight", p, l);
      add_slot (slots, l, LAYER (qkv.b), "%s.%u.attention.query_key_value.bias", p, l);
      add_slot (slots, l, LAYER (o.w), "%s.%u.attention.dense.weight", p, l);
      add_slot (slots, l, LAYER (o.b), "%s.%u.attention.dense.bias", p, l);
      add_slot (slots, l, LAYER (fc.w), "%s.%u.mlp.dense_h_to_4h.weight", p, l);
      add_slot (slots, l, LAYER (fc.b), "%s.%u.mlp.dense_h_to_4h.bias", p, l);
      add_slot (slots, l, LAYER (proj.w), "%s.%u.mlp.dense_4h_to_h.weight", p, l);
      add_slot (slots, l, LAYER (proj.b), "%s.%u.mlp.dense_4h_to_h.bias", p, l);
    }
  add_slot (slots, -1, MODEL (final_norm.w), "gpt_neox.final_layer_norm.weight");
  add_slot (slots, -1, MODEL (final_norm.b), "gpt_neox.final_layer_norm.bias");
  if (t->lm_head != t->tok_embed)
    add_slot (slots, -1, MODEL (lm_head), "embed_out.weight");
}

/* Loads the template and checks every slot holds exactly the base tensor of its name. */
static gboolean
ensure_template (AtsMerge *self, GError **error)
{
  g_autoptr (AtsModel) t = NULL;
  g_autoptr (GPtrArray) slots = NULL;
  g_autofree float *buf = NULL;

  if (self->template_model != NULL)
    return TRUE;
  t = ats_model_load (self->base_dir, error);
  if (t == NULL)
    return FALSE;
  slots = g_ptr_array_new_with_free_func (slot_free);
  switch (t->config.arch)
    {
    case ATS_ARCH_GPT2:
      slots_gpt2 (self, t, slots);
      break;
    case ATS_ARCH_NEOX:
      slots_neox (self, t, slots);
      break;
    case ATS_ARCH_LLAMA:
    default:
      slots_llama (self, t, slots);
      break;
    }

  buf = g_new (float, 1 << 16);
  for (guint i = 0; i < slots->len; i++)
    {
      const Slot          *s = slots->pdata[i];
      const AtsTensorInfo *info = ats_checkpoint_lookup (self->base, s->name);
      const float         *have = *slot_field (t, s);
      gsize                n;

      if (info == NULL || have == NULL)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                       "%s: in-memory merges cannot place tensor '%s' (the model loader and the "
                       "merge disagree on the weight layout)",
                       self->base_dir, s->name);
          return FALSE;
        }
      n = (gsize) info->numel;
      for (gsize start = 0; start < n; start += 1 << 16)
        {
          gsize c = MIN ((gsize) 1 << 16, n - start);

          ats_convert_to_f32 (info->dtype, info->data + start * ats_dtype_size (info->dtype), c,
                              buf);
          if (memcmp (buf, have + start, c * sizeof (float)) != 0)
            {
              g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
                           "%s: in-memory merges: the loaded weight paired with tensor '%s' "
                           "holds other values (the model loader and the merge disagree on the "
                           "weight layout)",
                           self->base_dir, s->name);
              return FALSE;
            }
        }
    }
  self->template_model = g_steal_pointer (&t);
  self->slots = g_steal_pointer (&slots);
  return TRUE;
}

AtsModel *
ats_merge_build_model (AtsMerge *self, const AtsMergeParams *params, GError **error)
{
  AtsModel *t, *m;

  g_return_val_if_fail (self != NULL && params != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!ats_merge_check_params (self, params, error) || !ensure_template (self, error))
    return NULL;
  t = self->template_model;

  m = g_new0 (AtsModel, 1);
  *m = *t;
  m->ref_count = 1;
  m->dir = g_strdup (t->dir);
  m->config_json = g_strdup (t->config_json);
  m->config.model_type = g_strdup (t->config.model_type);
  m->checkpoint = t->checkpoint != NULL ? ats_checkpoint_ref (t->checkpoint) : NULL;
  m->owned = g_ptr_array_new_with_free_func (g_free);
  m->layers = g_memdup2 (t->layers, sizeof (AtsLayer) * t->config.n_layers);

  for (guint i = 0; i < self->slots->len; i++)
    {
      const Slot          *s = self->slots->pdata[i];
      const AtsTensorInfo *info = ats_checkpoint_lookup (self->base, s->name);
      g_autofree guint8   *raw = g_try_malloc (MAX (info->n_bytes, 1));
      float               *w = raw ? g_try_new (float, MAX (info->numel, 1)) : NULL;

      if (w == NULL)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO,
                       "not enough memory to merge tensor '%s'", s->name);
          ats_model_unref (m);
          return NULL;
        }
      g_ptr_array_add (m->owned, w);
      if (!_ats_merge_tensor_to_memory (self, params, s->name, raw, error))
        {
          ats_model_unref (m);
          return NULL;
        }
      ats_convert_to_f32 (info->dtype, raw, (gsize) info->numel, w);
      *slot_field (m, s) = w;
    }
  if (t->lm_head == t->tok_embed)
    m->lm_head = m->tok_embed;
  return m;
}
