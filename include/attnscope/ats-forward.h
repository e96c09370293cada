/* ats-forward.h — the instrumented forward pass and its observer API
 *
 * The forward pass runs in fp32 (cblas_sgemm). When an observer is attached, attention is
 * computed unfused and delivered in blocks of query rows: for one layer and one query head,
 * rows [row_start, row_start + n_rows) of the [T, T] map, each row of stride T with the causally
 * invisible entries (j > i) set to 0. A full T x T matrix of one head never has to exist at once.
 *
 * Observers that need every row of a head before they can finish it (sink sets for
 * underload/overload) set `second_pass`: the head's rows are delivered again with pass = 1 after
 * all its pass-0 rows — straight away from the same buffer when one block holds the whole map,
 * otherwise recomputed after every head of the layer has been delivered with pass = 0.
 */
#pragma once

#include <gio/gio.h>
#include "attnscope/ats-model.h"

G_BEGIN_DECLS

typedef struct
{
  guint        layer;     /* 0 .. L-1 */
  guint        head;      /* query head 0 .. H-1 (GQA: query heads) */
  guint        pass;      /* 0, or 1 for the second pass */
  guint        n_tokens;  /* T: row stride and number of keys */
  guint        row_start; /* first query row of this block (0-based) */
  guint        n_rows;    /* rows in the block */
  const float *probs;     /* [n_rows, T] normalised weights; j > i are 0. Elastic: rows sum <= 1 */
  const float *scores;    /* [n_rows, T] pre-softmax logits incl. scale and bias (j > i: -inf),
                             or NULL unless the observer asked for scores */
} AtsAttentionBlock;

typedef struct _AtsObserver AtsObserver;
struct _AtsObserver
{
  gboolean want_scores; /* deliver pre-softmax scores too */
  gboolean second_pass; /* deliver every layer's rows twice (pass 0, pass 1) */
  /* attention() may be called concurrently for different heads (never for the same head, and
   * the blocks of one head arrive in row order within a pass); otherwise calls are serialised */
  gboolean concurrent_heads;
  /* Called once before layer 0. */
  gboolean (*begin) (AtsObserver  *self,
                     AtsModel     *model,
                     const gint32 *ids,
                     guint         n_tokens,
                     GError      **error);
  /* Attention rows, called from worker threads; never concurrently for one observer unless it
   * sets concurrent_heads. Return FALSE (and set @error) to abort the pass. */
  gboolean (*attention) (AtsObserver *self, const AtsAttentionBlock *block, GError **error);
  /* Residual stream entering layer @layer (0..L-1), and @layer == L: after the final layer,
   * before the final norm. @hidden: [T, D]. */
  gboolean (*residual) (AtsObserver *self,
                        guint        layer,
                        guint        n_tokens,
                        guint        d_model,
                        const float *hidden,
                        GError     **error);
  /* Called after the last layer with the logits [T, V] (NULL unless want_logits was set on
   * the options). */
  gboolean (*end) (AtsObserver *self, const float *logits, GError **error);
  gpointer user_data;
};

/* progress in [0, 1]; return FALSE to cancel. Called from the calling thread. */
typedef gboolean (*AtsProgressFunc) (double fraction, gpointer user_data);

typedef struct
{
  guint           n_threads;   /* 0: all cores */
  guint           row_block;   /* query rows per attention block (0: whole T) */
  gboolean        want_logits; /* compute and return logits [T, V] */
  AtsObserver   **observers;   /* NULL-terminated, may be NULL */
  AtsProgressFunc progress;
  gpointer        progress_data;
  GCancellable   *cancellable;
} AtsForwardOptions;

/* Runs the model on @ids. On success returns TRUE and, if @logits_out is non-NULL and
 * want_logits is set, a newly allocated [T, V] float array. Cancel -> ATS_MODEL_ERROR_CANCELLED. */
gboolean ats_forward_run (AtsModel                *model,
                          const gint32            *ids,
                          guint                    n_tokens,
                          const AtsForwardOptions *options,
                          float                  **logits_out,
                          GError                 **error);

G_END_DECLS
