/* ats-merge.h — checkpoint merging for knowledge editing (REFERENCE §1)
 *
 * Methods, applied per tensor to the weights b (base) and t_k (tuned, k = 1..K):
 *   linear            (1 - alpha) * b + alpha * t_1                          (K = 1)
 *   task-arithmetic   b + lambda * sum_k (t_k - b)
 *   ties              b + lambda * m, where for every tuned model the delta d_k = t_k - b is
 *                     trimmed to its round(density * n) largest-magnitude entries (n = the
 *                     tensor's element count, round half up); ties in magnitude are broken by
 *                     the flat (row-major) index: the lower index is kept. The sign of each
 *                     entry is elected as the sign of sum_k trimmed(d_k) (the sign with the
 *                     larger summed magnitude; 0 -> the entry does not move), and m is the mean
 *                     of the trimmed deltas that are non-zero and carry the elected sign.
 *                     With one tuned model this is the MM4KE merge b + lambda * prune_d(t - b).
 *
 * Arithmetic: every element is computed in double precision from the exactly widened inputs,
 * in the order written above, and rounded once to float32 (round to nearest even); F16 and
 * BF16 tensors are then rounded from that float32 to their own type (round to nearest even),
 * which is what PyTorch's `.to(torch.bfloat16)` of a float64 tensor does. The output keeps each
 * tensor's dtype. Tensors outside the `only` filter are copied from base byte for byte.
 *
 * Streaming: a merge to disk holds a few MiB of buffers for linear and task arithmetic, and for
 * ties one float32 per element of the tensor being merged (plus the entries whose magnitude
 * rounds to the threshold), whatever the model size. Inputs are memory-mapped and the pages
 * already merged are released from the process as it goes; writing runs on its own thread.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-error.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-model.h"

G_BEGIN_DECLS

/* --- tensor kinds (shared with the weight diff) --- */

typedef enum
{
  ATS_TENSOR_KIND_EMBEDDING, /* token/position embeddings and the LM head */
  ATS_TENSOR_KIND_Q,
  ATS_TENSOR_KIND_K,
  ATS_TENSOR_KIND_V,
  ATS_TENSOR_KIND_QKV, /* fused: GPT-2 c_attn, NeoX query_key_value */
  ATS_TENSOR_KIND_O,
  ATS_TENSOR_KIND_LAZY, /* Lazy Attention tau and distance-bias table */
  ATS_TENSOR_KIND_GATE,
  ATS_TENSOR_KIND_UP,   /* also GPT-2 mlp.c_fc, NeoX dense_h_to_4h */
  ATS_TENSOR_KIND_DOWN, /* also GPT-2 mlp.c_proj, NeoX dense_4h_to_h */
  ATS_TENSOR_KIND_NORM,
  ATS_TENSOR_KIND_OTHER, /* buffers (causal masks, inv_freq) and anything unrecognised */
  ATS_TENSOR_KIND_N
} AtsTensorKind;

typedef enum
{
  ATS_TENSOR_GROUP_ATTENTION = 1 << 0,  /* q, k, v, qkv, o, lazy */
  ATS_TENSOR_GROUP_MLP = 1 << 1,        /* gate, up, down */
  ATS_TENSOR_GROUP_EMBEDDINGS = 1 << 2, /* embedding */
  ATS_TENSOR_GROUP_NORMS = 1 << 3,      /* norm */
} AtsTensorGroup;

/* Classifies a tensor by its name (GPT-2, LLaMA family, GPT-NeoX and fla naming, with or
 * without "transformer." / "model." prefixes, weights and biases alike). @layer receives the
 * block index, or -1 for tensors outside the blocks (embeddings, final norm, LM head). */
AtsTensorKind ats_tensor_kind_classify (const char *name, int *layer);
/* "embeddings", "q", "k", "v", "qkv", "o", "lazy", "gate", "up", "down", "norms", "other" */
const char    *ats_tensor_kind_to_string (AtsTensorKind kind);
AtsTensorGroup ats_tensor_kind_get_group (AtsTensorKind kind); /* 0 for OTHER */

/* --- recipes --- */

typedef enum
{
  ATS_MERGE_LINEAR,
  ATS_MERGE_TASK_ARITHMETIC,
  ATS_MERGE_TIES,
} AtsMergeMethod;

typedef struct
{
  AtsMergeMethod method;
  double         alpha;   /* linear, default 0.5 */
  double         lambda;  /* task arithmetic and ties, default 1.0 */
  double         density; /* ties: fraction kept per tensor and tuned model, default 0.2 */
  /* NULL: every tensor. Otherwise a comma-separated list of groups ("attention", "mlp",
   * "embeddings", "norms"), or else a GRegex searched in each tensor name. */
  const char *only;
} AtsMergeParams;

void ats_merge_params_init_default (AtsMergeParams *params);
/* "linear", "task-arithmetic", "ties" */
const char *ats_merge_method_to_string (AtsMergeMethod method);
gboolean    ats_merge_method_from_string (const char *text, AtsMergeMethod *method);

/* --- merging --- */

typedef struct _AtsMerge AtsMerge;

/* Opens the base and tuned checkpoints (@tuned_dirs NULL-terminated, at least one) and checks
 * they are mergeable: same model_type / architectures in config.json (when present), same tensor
 * names, shapes and dtypes. Errors: ATS_MERGE_ERROR_MISMATCH naming the tensor or config key,
 * checkpoint errors as they come. */
AtsMerge   *ats_merge_new (const char *base_dir, const char *const *tuned_dirs, GError **error);
void        ats_merge_free (AtsMerge *self);
guint       ats_merge_get_n_tuned (AtsMerge *self);
const char *ats_merge_get_base_dir (AtsMerge *self);
const char *ats_merge_get_tuned_dir (AtsMerge *self, guint index);
/* Tensor names of base, sorted. */
const char *const *ats_merge_get_tensor_names (AtsMerge *self);
/* Tensors of base of a dtype attnscope cannot read (left out of merges). */
guint ats_merge_get_n_unsupported (AtsMerge *self);

/* Checks the parameters against the inputs (linear needs one tuned model, density in (0, 1],
 * finite numbers, a valid regex). Errors: ATS_MERGE_ERROR_INPUT. */
gboolean ats_merge_check_params (AtsMerge *self, const AtsMergeParams *params, GError **error);
/* Whether @name is merged under @params (inside the `only` filter). @params must have passed
 * ats_merge_check_params(). */
gboolean ats_merge_selects (AtsMerge *self, const AtsMergeParams *params, const char *name);
/* Number of tensors selected. */
guint ats_merge_count_selected (AtsMerge *self, const AtsMergeParams *params);
/* The recipe as a JSON object (method, parameters, only, base, tuned), as stored under
 * __metadata__["attnscope_merge"]. */
char *ats_merge_describe (AtsMerge *self, const AtsMergeParams *params);

typedef struct
{
  gboolean        force;       /* replace an existing output folder */
  guint64         shard_bytes; /* 0: ATS_SAFETENSORS_DEFAULT_SHARD_BYTES */
  AtsProgressFunc progress;    /* fraction of bytes done; return FALSE to cancel */
  gpointer        progress_data;
} AtsMergeWriteOptions;

/* Merges into @out_dir: safetensors (sharded past shard_bytes), config.json, generation_config
 * and tokenizer files copied from base, the recipe in __metadata__. Written into a temporary
 * folder renamed at the end; on error or cancel nothing is left behind. Cancel ->
 * ATS_MERGE_ERROR_INPUT "cancelled". I/O -> ATS_MERGE_ERROR_IO. */
gboolean ats_merge_write (AtsMerge                   *self,
                          const AtsMergeParams       *params,
                          const char                 *out_dir,
                          const AtsMergeWriteOptions *options,
                          GError                    **error);

/* In memory: the merged tensor @name, rounded to its stored dtype and widened to float32 (the
 * values a model loaded from the merged folder sees). Newly allocated, @n_values elements. */
float *ats_merge_compute_f32 (AtsMerge             *self,
                              const AtsMergeParams *params,
                              const char           *name,
                              gsize                *n_values,
                              GError              **error);
/* In memory: a complete merged model, equal to ats_model_load() of the folder that
 * ats_merge_write() would produce (no files are written). The base model is loaded once and
 * kept by @self as the template. */
AtsModel *ats_merge_build_model (AtsMerge *self, const AtsMergeParams *params, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsMerge, ats_merge_free)

G_END_DECLS
