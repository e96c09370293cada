/* ats-diagnostics.h — attention-allocation diagnostics (REFERENCE §3)
 *
 * Streaming: an AtsDiagnostics accumulates from attention row blocks and residual streams
 * (it is an AtsObserver, using the forward pass's second pass for sink-set-dependent metrics),
 * and can equally be fed from stored maps (ats_diagnostics_add_block with pass 0 then pass 1).
 * No [T, T] map is ever kept: memory is O(L*H*T) plus one row of scratch.
 * Definitions marked (ours) are attnscope's operational choices and are labelled so.
 *
 * Which rows count (0-based query row i sees n_i = i + 1 keys):
 *   - row_mass, sparsity, uniform_sparsity: every row / every visible entry (j <= i).
 *   - entropy, top_p_width, underload, overload: rows with n_i >= min_keys (and n_i >= 2 for
 *     entropy); rows whose mass is exactly 0 (possible with Elastic-Softmax) are skipped by
 *     entropy and top_p_width (there is no distribution), but count (as not under/overloaded)
 *     for underload and overload.
 *   - entropy renormalises each row by its mass first; top_p_width covers p of the row's own
 *     mass. underload and overload use the raw weights (abstained Elastic mass counts nowhere).
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-forward.h"

G_BEGIN_DECLS

typedef struct
{
  double sink_eps;        /* sink threshold on alpha, default 0.3 */
  double underload_mass;  /* (ours) row mass on sink set to call it underloaded, default 0.5 */
  double overload_mass;   /* (ours) non-sink mass needed, default 0.5 */
  guint  overload_k;      /* (ours) non-sink keys within overload_factor of the max, default 4 */
  double overload_factor; /* (ours) default 2 */
  double top_p;           /* (ours) top-p width coverage, default 0.9 */
  guint  min_keys;        /* rows with n_i >= min_keys count for entropy/underload/overload, 8 */
  double massive_abs;     /* massive activation: |h| > massive_abs (100) */
  double massive_ratio;   /* ... and |h| >= massive_ratio x median|h| of its layer (1000) */
} AtsDiagParams;

void ats_diag_params_init_default (AtsDiagParams *params);

/* Results for one run. Arrays are row-major, owned by the struct. Float entries are NaN where
 * a metric is undefined (head never fed, no qualifying rows, hidden states not seen, no second
 * pass for underload/overload). */
typedef struct
{
  guint         n_layers; /* L */
  guint         n_heads;  /* H */
  guint         n_tokens; /* T */
  AtsDiagParams params;
  float        *sink_score;               /* [L, H, T] alpha */
  float        *first_token_mass;         /* [L, H] alpha[.,.,0] */
  float        *entropy;                  /* [L, H] normalised, rows n_i >= min_keys */
  float        *row_mass;                 /* [L, H] mean row sum */
  float        *sparsity;                 /* [L, H] exact zeros among visible entries */
  float        *uniform_sparsity;         /* [L, H] (ours) entries < 1/n_i */
  float        *underload;                /* [L, H] (ours) fraction of rows */
  float        *overload;                 /* [L, H] (ours) fraction of rows */
  float        *top_p_width;              /* [L, H] (ours) mean over rows */
  float        *collapse_cosine;          /* [L+1] NaN when hidden states were not seen */
  float        *collapse_cosine_centered; /* [L+1] */
  float        *variance_footprint;       /* [L+1, T] population variance over D */
  gint32       *massive_count;            /* [L+1] -1 when hidden states were not seen */
  float        *massive_max_abs;          /* [L+1, T] largest |h| of each token (top values) */
  float        *median_abs;               /* [L+1] median |h| of the layer (massive threshold) */
  double        sink_rate;                /* percent of (l,h) with first_token_mass > eps */
} AtsDiagResults;

/* Allocates results with every float NaN and massive_count -1 (e.g. to read from a file). */
AtsDiagResults *ats_diag_results_new (guint n_layers, guint n_heads, guint n_tokens);
void            ats_diag_results_free (AtsDiagResults *results);
/* Recomputes sink_rate from first_token_mass and params.sink_eps (NaN heads are left out). */
void ats_diag_results_update_sink_rate (AtsDiagResults *results);

/* --- metric catalogue (names equal the AtsDiagResults fields and the metrics/ datasets) --- */

typedef enum
{
  ATS_DIAG_SHAPE_LAYER_HEAD,        /* [L, H] */
  ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN,  /* [L, H, T] */
  ATS_DIAG_SHAPE_HIDDEN_LAYER,      /* [L+1] */
  ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN /* [L+1, T] */
} AtsDiagShape;

typedef struct
{
  const char  *name;  /* field / dataset name */
  const char  *label; /* short column label for tables */
  AtsDiagShape shape;
  gboolean     ours;        /* attnscope's operational definition (ours) */
  gboolean     is_int;      /* gint32 array (massive_count), otherwise float */
  const char  *description; /* one line, for help texts and HDF5 attributes */
} AtsDiagMetricInfo;

/* The metrics in a fixed order; @n_metrics receives the count. */
const AtsDiagMetricInfo *ats_diag_metrics_list (guint *n_metrics);
const AtsDiagMetricInfo *ats_diag_metric_lookup (const char *name);
/* Pointer to the array of metric @name inside @results (float * or gint32 *), its element
 * count in @n_values; NULL for an unknown name. */
gconstpointer
ats_diag_results_get_metric (const AtsDiagResults *results, const char *name, gsize *n_values);

/* --- streaming computation --- */

typedef struct _AtsDiagnostics AtsDiagnostics;

AtsDiagnostics *
ats_diagnostics_new (guint n_layers, guint n_heads, guint n_tokens, const AtsDiagParams *params);
void ats_diagnostics_free (AtsDiagnostics *self);
/* Drops everything accumulated and starts a new run of @n_tokens tokens (the observer's
 * begin callback does this, so one AtsDiagnostics serves several prompts in turn). */
void ats_diagnostics_reset (AtsDiagnostics *self, guint n_tokens);
/* The observer to attach to a forward pass (second_pass set). Owned by @self. */
AtsObserver *ats_diagnostics_get_observer (AtsDiagnostics *self);
/* Feeds one block (pass 0 for every row of a head before any of its pass 1). Rows of one head
 * may arrive in any order and in any block sizes within a pass. */
gboolean
ats_diagnostics_add_block (AtsDiagnostics *self, const AtsAttentionBlock *block, GError **error);
/* Residual stream of layer @layer (0..L), [T, D]. */
void
ats_diagnostics_add_hidden (AtsDiagnostics *self, guint layer, guint d_model, const float *hidden);
/* Finalises and returns the results (caller owns). Heads never fed stay NaN; a head fed only
 * part of its rows is an error (ATS_DIAGNOSTICS_ERROR_INPUT). Call reset() before reuse. */
AtsDiagResults *ats_diagnostics_finish (AtsDiagnostics *self, GError **error);

/* Convenience for tests and recomputation: feeds whole maps, head by head, pass 0 then pass 1.
 * @hidden may be NULL (hidden-state metrics stay NaN). */
AtsDiagResults *ats_diagnostics_compute_from_maps (const float         *attn, /* [L, H, T, T] */
                                                   guint                n_layers,
                                                   guint                n_heads,
                                                   guint                n_tokens,
                                                   const float         *hidden, /* [L+1, T, D] */
                                                   guint                d_model,
                                                   const AtsDiagParams *params,
                                                   GError             **error);

/* --- corpus summary (several runs of one model) --- */

typedef struct
{
  const AtsDiagMetricInfo *info; /* [L, H] or [L+1] metrics only (no per-token ones) */
  guint                    n_values;
  float                   *mean;  /* [n_values] over runs, NaN values left out */
  float                   *std;   /* [n_values] sample std (n-1); NaN with fewer than 2 runs */
  guint                   *count; /* [n_values] runs that had a value */
  /* per layer ([L] for [L, H] metrics, [L+1] for hidden ones): mean and sample std over runs
   * of the run's mean over heads (for hidden metrics equal to mean/std) */
  float *layer_mean;
  float *layer_std;
} AtsDiagSummaryMetric;

typedef struct
{
  guint                 n_layers;
  guint                 n_heads;
  guint                 n_runs;
  AtsDiagParams         params; /* of the first run */
  guint                 n_metrics;
  AtsDiagSummaryMetric *metrics; /* [n_metrics] in catalogue order */
  double                sink_rate_mean;
  double                sink_rate_std;
} AtsDiagSummary;

/* Mean and spread per layer/head of every [L, H] and [L+1] metric over @n_runs results of the
 * same L and H (T may differ). */
AtsDiagSummary *
ats_diag_results_summarize (AtsDiagResults *const *runs, guint n_runs, GError **error);
const AtsDiagSummaryMetric *ats_diag_summary_get (const AtsDiagSummary *summary, const char *name);
void                        ats_diag_summary_free (AtsDiagSummary *summary);

/* --- text output for the CLI --- */

/* Readable per-layer table (and a per-head table when @per_head), with the (ours) footnote. */
GString *ats_diag_results_format_table (const AtsDiagResults *results, gboolean per_head);
/* Same columns as CSV: one line per layer, or per (layer, head) when @per_head. */
GString *ats_diag_results_format_csv (const AtsDiagResults *results, gboolean per_head);
/* JSON object with params, sink_rate and every metric as nested arrays (NaN -> null);
 * per-token arrays ([L,H,T], [L+1,T]) only with @per_token. */
char *ats_diag_results_to_json (const AtsDiagResults *results, gboolean per_token, gboolean pretty);
/* Corpus summary: per-layer table of mean ± std over runs. */
GString *ats_diag_summary_format_table (const AtsDiagSummary *summary);
char    *ats_diag_summary_to_json (const AtsDiagSummary *summary, gboolean pretty);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsDiagnostics, ats_diagnostics_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsDiagResults, ats_diag_results_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsDiagSummary, ats_diag_summary_free)

G_END_DECLS
