/* ats-model-private.h — weights layout shared by the loader and the forward pass */
#pragma once

#include "attnscope/ats-model.h"

G_BEGIN_DECLS

/* A linear map y = x W^T + b (nn.Linear, w [out, in]) or y = x W + b (GPT-2 Conv1D,
 * w [in, out], transposed == FALSE). Weights are fp32, either borrowed from the mapping
 * (F32 checkpoints, aligned) or owned (widened F16/BF16). */
typedef struct
{
  const float *w;
  const float *b; /* [out] or NULL */
  guint        in;
  guint        out;
  gboolean     w_is_out_in; /* TRUE: w is [out, in] (nn.Linear) */
} AtsLinear;

typedef struct
{
  const float *w; /* [D] */
  const float *b; /* [D] (LayerNorm) or NULL (RMSNorm) */
} AtsNorm;

typedef struct
{
  AtsNorm attn_norm;
  AtsNorm mlp_norm;
  /* Attention projections. GPT-2 and NeoX have a fused qkv; LLaMA-family separate q, k, v. */
  AtsLinear qkv; /* fused: GPT-2 [D] -> [3D] (q | k | v); NeoX [D] -> [H, 3, hs] */
  AtsLinear q, k, v;
  AtsLinear o;
  /* MLP: GPT-2/NeoX fc + proj (GELU); LLaMA gate, up, down (SwiGLU). */
  AtsLinear fc, proj;
  AtsLinear gate, up, down;
  /* Lazy Attention */
  const float *tau;  /* [H] */
  const float *bias; /* [H, W] distance bias, W = config.bias_window */
} AtsLayer;

/* Where the loader put a tensor: a `const float *` field of AtsModel (layer -1) or of
 * AtsLayer layers[layer], at @offset. In-memory merges replace weights through these. */
typedef struct
{
  char *tensor;
  int   layer;
  gsize offset;
} AtsWeightSlot;

struct _AtsModel
{
  gint           ref_count;
  char          *dir;
  char          *config_json;
  AtsModelConfig config;
  AtsCheckpoint *checkpoint; /* kept while weights are borrowed from it */
  GPtrArray     *owned;      /* widened buffers */
  guint64        weight_bytes;
  const float   *tok_embed; /* [V, D] */
  const float   *pos_embed; /* [P, D] GPT-2, or NULL */
  AtsLayer      *layers;    /* [L] */
  AtsNorm        final_norm;
  const float   *lm_head;      /* [V, D] (tied: == tok_embed) */
  gboolean       gelu_tanh;    /* GPT-2: tanh approximation; NeoX: exact erf */
  GPtrArray     *weight_slots; /* of AtsWeightSlot, in load order */
};

/* The field a slot names inside @model. */
static inline const float **
_ats_weight_slot_field (AtsModel *model, const AtsWeightSlot *slot)
{
  guint8 *base = slot->layer < 0 ? (guint8 *) model : (guint8 *) &model->layers[slot->layer];
  return (const float **) (base + slot->offset);
}

G_END_DECLS
