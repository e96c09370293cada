/* ats-model.h — a loaded transformer checkpoint: config + fp32 weights
 *
 * Supported families (REFERENCE §2): GPT-2; LLaMA family (Llama 2/3, Mistral, Qwen2 with q/k/v
 * biases, SmolLM, TinyLlama); GPT-NeoX / Pythia; Lazy Attention (fla or HF LLaMA naming with a
 * per-head `tau` and distance-bias table). F16/BF16 weights are widened to fp32 at load.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-error.h"
#include "attnscope/ats-checkpoint.h"

G_BEGIN_DECLS

typedef enum
{
  ATS_ARCH_GPT2,
  ATS_ARCH_LLAMA, /* also Mistral, Qwen2, SmolLM, TinyLlama, Lazy Attention (fla) */
  ATS_ARCH_NEOX,
} AtsArch;

typedef enum
{
  ATS_ATTENTION_SOFTMAX,
  ATS_ATTENTION_ELASTIC, /* Lazy Attention: max(0, softmax + tau_h / i), no renormalisation */
} AtsAttentionKind;

typedef enum
{
  ATS_NORM_LAYER, /* LayerNorm with bias */
  ATS_NORM_RMS,
} AtsNormKind;

typedef struct
{
  AtsArch          arch;
  char            *model_type; /* as in config.json */
  AtsAttentionKind attention;
  AtsNormKind      norm;
  guint            n_layers;      /* L */
  guint            n_heads;       /* H */
  guint            n_kv_heads;    /* Hkv */
  guint            d_model;       /* D */
  guint            head_dim;      /* hs */
  guint            d_ff;          /* MLP hidden width */
  guint            vocab_size;    /* V */
  guint            max_positions; /* learned positions (GPT-2), 0 if unbounded */
  float            norm_eps;
  float            rope_theta;
  guint            rotary_dim; /* dims per head that rotate (hs for full RoPE; NeoX partial) */
  gboolean         qkv_bias;   /* Qwen2 */
  gboolean         parallel_residual; /* NeoX */
  gboolean         tied_lm_head;
  guint            bias_window;  /* Lazy: distance-bias table length (W or W+1), 0 if none */
  int              bos_token_id; /* -1 if unknown */
} AtsModelConfig;

typedef struct _AtsModel AtsModel;

/* Loads config.json and weights from @dir (or a checkpoint file's folder). */
AtsModel             *ats_model_load (const char *dir, GError **error);
AtsModel             *ats_model_ref (AtsModel *self);
void                  ats_model_unref (AtsModel *self);
const AtsModelConfig *ats_model_get_config (AtsModel *self);
const char           *ats_model_get_dir (AtsModel *self);
/* The raw config.json text (for the capture file). */
const char *ats_model_get_config_json (AtsModel *self);
const char *ats_arch_to_string (AtsArch arch);                    /* "gpt2", "llama", "neox" */
const char *ats_attention_kind_to_string (AtsAttentionKind kind); /* "softmax", "elastic" */
/* Bytes of fp32 weights held. */
guint64 ats_model_get_weight_bytes (AtsModel *self);
/* Lazy Attention parameters of layer @layer: tau [H] and bias [H, W]; NULL for softmax models. */
const float *ats_model_get_lazy_tau (AtsModel *self, guint layer);
const float *ats_model_get_lazy_bias (AtsModel *self, guint layer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsModel, ats_model_unref)

G_END_DECLS
