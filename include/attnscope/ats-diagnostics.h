/* ats-diagnostics.h — attention-allocation diagnostics (REFERENCE §3)
 *
 * Streaming: an AtsDiagnostics accumulates from attention row blocks and residual streams
 * (it is an AtsObserver, using the forward pass's second pass for sink-set-dependent metrics),
 * and can equally be fed from stored maps (ats_diagnostics_add_block with pass 0 then pass 1).
 * Definitions marked (ours) are attnscope's operational choices and are labelled so.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-forward.h"

G_BEGIN_DECLS

typedef struct
{
  double sink_eps;          /* sink threshold on alpha, default 0.3 */
  double underload_mass;    /* (ours) row mass on sink set to call it underloaded, default 0.5 */
  double overload_mass;     /* (ours) non-sink mass needed, default 0.5 */
  guint  overload_k;        /* (ours) non-sink keys within overload_factor of the max, default 4 */
  double overload_factor;   /* (ours) default 2 */
  double top_p;             /* (ours) top-p width coverage, default 0.9 */
  guint  min_keys;          /* rows with n_i >= min_keys count for entropy/underload/overload, 8 */
  double massive_abs;       /* massive activation: |h| > massive_abs (100) */
  double massive_ratio;     /* ... and |h| >= massive_ratio x median|h| of its layer (1000) */
} AtsDiagParams;

void ats_diag_params_init_default (AtsDiagParams *params);

/* Results for one run. Arrays are row-major, owned by the struct. */
typedef struct
{
  guint  n_layers;                 /* L */
  guint  n_heads;                  /* H */
  guint  n_tokens;                 /* T */
  AtsDiagParams params;
  float *sink_score;               /* [L, H, T] alpha */
  float *first_token_mass;         /* [L, H] alpha[.,.,0] */
  float *entropy;                  /* [L, H] normalised, rows n_i >= min_keys */
  float *row_mass;                 /* [L, H] mean row sum */
  float *sparsity;                 /* [L, H] exact zeros among visible entries */
  float *uniform_sparsity;         /* [L, H] (ours) entries < 1/n_i */
  float *underload;                /* [L, H] (ours) fraction of rows */
  float *overload;                 /* [L, H] (ours) fraction of rows */
  float *top_p_width;              /* [L, H] (ours) mean over rows */
  float *collapse_cosine;          /* [L+1] NaN when hidden states were not seen */
  float *collapse_cosine_centered; /* [L+1] */
  float *variance_footprint;       /* [L+1, T] */
  gint32 *massive_count;           /* [L+1] */
  double sink_rate;                /* percent of (l,h) with first_token_mass > eps */
} AtsDiagResults;

void ats_diag_results_free (AtsDiagResults *results);

typedef struct _AtsDiagnostics AtsDiagnostics;

AtsDiagnostics *ats_diagnostics_new (guint n_layers, guint n_heads, guint n_tokens,
                                     const AtsDiagParams *params);
void            ats_diagnostics_free (AtsDiagnostics *self);
/* The observer to attach to a forward pass (second_pass set). Owned by @self. */
AtsObserver    *ats_diagnostics_get_observer (AtsDiagnostics *self);
/* Feeds one block (pass 0 for every block of a head before its pass 1). */
gboolean        ats_diagnostics_add_block (AtsDiagnostics *self, const AtsAttentionBlock *block,
                                           GError **error);
/* Residual stream of layer @layer (0..L), [T, D]. */
void            ats_diagnostics_add_hidden (AtsDiagnostics *self, guint layer, guint d_model,
                                            const float *hidden);
/* Finalises and returns the results (caller owns). */
AtsDiagResults *ats_diagnostics_finish (AtsDiagnostics *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsDiagnostics, ats_diagnostics_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsDiagResults, ats_diag_results_free)

G_END_DECLS
