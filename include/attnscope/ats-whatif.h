/* ats-whatif.h — what-if Elastic-Softmax on stored attention maps (REFERENCE §1, §3)
 *
 * Lazy Attention's Elastic-Softmax is A_ij = max(0, softmax_j + tau_h / i) with i the 1-based
 * query position and no renormalisation. The what-if transform applies the same map to weights
 * that were already computed (normally a softmax capture):
 *
 *   A'[i,j] = max(0, A[i,j] + tau / i)   for visible keys j <= i;  j > i stay 0
 *
 * evaluated in float exactly as the forward pass does (shift = tau / (float) i, then a + shift),
 * so a uniform row at tau = -1 becomes exactly 0.
 *
 * Per layer and head the accumulator reports, pooled over every row (and every run) fed:
 *   - sparsity:          fraction of visible entries (j <= i) that are exactly 0 in A'
 *                        (entries already 0 in A count); sparsity_before is the same for A.
 *   - mass_removed:      mean over rows of sum_j A[i,j] - sum_j A'[i,j] (negative for tau > 0).
 *   - sink_mass_removed: (ours) the part of it on the head's sink keys, mean over rows.
 *   - sink_share:        (ours) sink_mass_removed / mass_removed; NaN when nothing was removed.
 * The sink set S of a head (ours, REFERENCE §3 underload) is the keys k with
 * alpha[k] = 1/(T-k) sum_{i>=k} A[i,k] > sink_eps (0-based k), taken from the ORIGINAL map of
 * the same run. It is found in one streaming pass: the removed mass is kept per key, and the
 * keys are split into sink and non-sink once the head's last row has arrived. Memory is O(T)
 * per head whose rows are in flight, never a [T, T] map.
 *
 * Per-layer and model-wide values pool the same sums over heads (sparsity: zeros / visible
 * entries; mass_removed: removed / rows; sink_share: sink removed / removed).
 */
#pragma once

#include <glib.h>

#include "attnscope/ats-error.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-model.h"

G_BEGIN_DECLS

#define ATS_WHATIF_DEFAULT_SINK_EPS 0.3

/* --- single head (display) ---------------------------------------------------------------- */

/* Rows [row_start, row_start + n_rows) of one head: out[r, j] = max(0, in[r, j] + tau / i) with
 * i = row_start + r + 1 for j < i, and 0 for j >= i. @in and @out are [n_rows, T] and may be the
 * same buffer. */
void ats_whatif_transform_rows (const float *in,
                                float       *out,
                                guint        n_tokens,
                                guint        row_start,
                                guint        n_rows,
                                float        tau);
/* A whole head: @map and @out are [T, T] (may be the same buffer). */
void ats_whatif_transform_head (const float *map, float *out, guint n_tokens, float tau);

typedef struct
{
  double sparsity;          /* exact zeros among visible entries of A' */
  double sparsity_before;   /* exact zeros among visible entries of A */
  double mass_removed;      /* mean over rows of sum(A) - sum(A') */
  double sink_mass_removed; /* (ours) mean over rows, removed from sink keys */
  double sink_share;        /* (ours) sink_mass_removed / mass_removed, NaN if 0 */
  guint  n_sinks;           /* keys with alpha > sink_eps in A */
} AtsWhatifHeadStats;

/* Summary of one head's map [T, T] under @tau (for a caption next to a tau slider). */
void ats_whatif_head_stats (const float        *map,
                            guint               n_tokens,
                            float               tau,
                            double              sink_eps,
                            AtsWhatifHeadStats *out);

/* --- streaming accumulator over layers, heads and runs ------------------------------------ */

typedef struct
{
  guint  n_layers; /* L */
  guint  n_heads;  /* H */
  guint  n_runs;   /* runs fed */
  guint  n_rows;   /* query rows per head, summed over runs */
  double sink_eps;
  float *tau;                     /* [L, H] tau applied */
  float *sparsity;                /* [L, H] NaN for heads never fed */
  float *sparsity_before;         /* [L, H] */
  float *mass_removed;            /* [L, H] mean over rows */
  float *sink_mass_removed;       /* [L, H] (ours) mean over rows */
  float *sink_share;              /* [L, H] (ours) */
  float *mean_sinks;              /* [L, H] mean size of the sink set over runs */
  float *layer_sparsity;          /* [L] pooled over the layer's heads */
  float *layer_sparsity_before;   /* [L] */
  float *layer_mass_removed;      /* [L] */
  float *layer_sink_mass_removed; /* [L] */
  float *layer_sink_share;        /* [L] */
  double sparsity_all;            /* pooled over every head */
  double sparsity_before_all;
  double mass_removed_all;
  double sink_mass_removed_all;
  double sink_share_all;
} AtsWhatifResults;

void ats_whatif_results_free (AtsWhatifResults *results);

typedef struct _AtsWhatif AtsWhatif;

/* Accumulator for an [L, H] model; tau starts at -1 for every head. */
AtsWhatif *ats_whatif_new (guint n_layers, guint n_heads, double sink_eps);
void       ats_whatif_free (AtsWhatif *self);
/* One tau for every head. */
void ats_whatif_set_tau (AtsWhatif *self, float tau);
/* Per-head tau [n_layers, n_heads]; must equal the accumulator's [L, H]
 * (ATS_DIAGNOSTICS_ERROR_INPUT otherwise, naming both shapes). Copied. */
gboolean ats_whatif_set_tau_table (AtsWhatif   *self,
                                   const float *tau,
                                   guint        n_layers,
                                   guint        n_heads,
                                   GError     **error);
float    ats_whatif_get_tau (AtsWhatif *self, guint layer, guint head);
/* Starts a run of @n_tokens tokens. A head of the previous run that received only part of its
 * rows is an error (the previous run's sums are kept either way). */
gboolean ats_whatif_begin_run (AtsWhatif *self, guint n_tokens, GError **error);
/* Rows of one head (pass 1 blocks are ignored, so the forward pass's second pass is harmless).
 * Rows of one head may come in any order and block size, interleaved with other heads. */
gboolean ats_whatif_add_block (AtsWhatif *self, const AtsAttentionBlock *block, GError **error);
/* A whole [T, T] head of the current run. */
gboolean
ats_whatif_add_head (AtsWhatif *self, guint layer, guint head, const float *map, GError **error);
/* Observer for a live forward pass (begin starts a run; softmax models). Owned by @self. */
AtsObserver *ats_whatif_get_observer (AtsWhatif *self);
/* Pooled results of everything fed so far (caller owns); an incomplete head is an error. */
AtsWhatifResults *ats_whatif_finish (AtsWhatif *self, GError **error);

/* --- tau tables --------------------------------------------------------------------------- */

/* The Lazy checkpoint's tau as an [L, H] table (newly allocated); error when @model is not
 * Lazy Attention. */
float *ats_whatif_tau_table_from_model (AtsModel *model, GError **error);

/* --- text output --------------------------------------------------------------------------- */

/* Readable per-layer table (and per head with @per_head) with the (ours) footnote. */
GString *ats_whatif_results_format_table (const AtsWhatifResults *results, gboolean per_head);
/* CSV: one line per layer plus "all", or per (layer, head) with @per_head. */
GString *ats_whatif_results_format_csv (const AtsWhatifResults *results, gboolean per_head);
/* JSON object: params, per-layer arrays, [L][H] arrays, model-wide values (NaN -> null). */
char *ats_whatif_results_to_json (const AtsWhatifResults *results, gboolean pretty);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsWhatif, ats_whatif_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsWhatifResults, ats_whatif_results_free)

G_END_DECLS
