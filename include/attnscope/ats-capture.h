/* ats-capture.h — the HDF5 capture file (REFERENCE §4, format_version 1)
 *
 * Writing: ats_capture_file_create() makes a new file (never clobbers an existing one unless
 * @force; a forced overwrite is written beside the target and renamed over it on close), then
 * for each prompt ats_capture_file_begin_run() / attach ats_capture_file_get_observer() to the
 * forward pass / ats_capture_file_end_run(). A run carries complete=1 only once fully written;
 * an interrupted run stays readable with complete=0.
 *
 * Reading: ats_capture_file_open() checks format and version; runs, heads, rows and metrics can
 * be read back. HDF5 calls are made from one thread at a time.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-model.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-diagnostics.h"

G_BEGIN_DECLS

#define ATS_CAPTURE_FORMAT "attnscope-capture"
#define ATS_CAPTURE_FORMAT_VERSION 1
/* Edge of the stored max-pooled previews (runs/N/preview [L, H, P, P], P = min(T, this)). */
#define ATS_CAPTURE_PREVIEW_SIZE 64

typedef enum
{
  ATS_STORE_F16,
  ATS_STORE_F32,
} AtsStoreType;

typedef struct
{
  char            *architecture;
  guint            n_layers;
  guint            n_heads;
  guint            n_kv_heads;
  guint            d_model;
  guint            head_dim;
  guint            vocab_size;
  AtsAttentionKind attention;
  char            *source;
  char            *config_json;
} AtsCaptureModelInfo;

typedef struct
{
  guint        index;
  char        *name; /* "000000" */
  char        *prompt;
  guint        n_tokens;
  gboolean     complete;
  gint32      *ids;    /* [T] */
  char       **pieces; /* [T], NULL-terminated, UTF-8 */
  gboolean     has_attention;
  gboolean     has_metrics;
  gboolean     has_scores;
  gboolean     has_logits;
  AtsStoreType attention_type;
  /* which layers/heads hold maps (all TRUE for a full capture) [L], [H] */
  gboolean *stored_layers;
  gboolean *stored_heads;
} AtsCaptureRun;

void ats_capture_run_free (AtsCaptureRun *run);

typedef struct
{
  AtsStoreType dtype;      /* attention dataset type (default f16) */
  gboolean     store_maps; /* FALSE: diagnostics only */
  gboolean     store_scores;
  gboolean     store_logits;
  gboolean    *layers;      /* [L] which layers to store, NULL = all */
  gboolean    *heads;       /* [H] which heads to store, NULL = all */
  guint        compression; /* deflate level, default 1 */
} AtsCaptureOptions;

void ats_capture_options_init_default (AtsCaptureOptions *options);

typedef struct _AtsCaptureFile AtsCaptureFile;

AtsCaptureFile *
ats_capture_file_create (const char *path, AtsModel *model, gboolean force, GError **error);
AtsCaptureFile *ats_capture_file_open (const char *path, gboolean writable, GError **error);
/* Closes (and for a forced create, renames into place). Frees @self. */
gboolean ats_capture_file_close (AtsCaptureFile *self, GError **error);
/* Closes without renaming a forced create into place (the target stays as it was). */
void                       ats_capture_file_abandon (AtsCaptureFile *self);
const char                *ats_capture_file_get_path (AtsCaptureFile *self);
const AtsCaptureModelInfo *ats_capture_file_get_model_info (AtsCaptureFile *self);

/* --- writing --- */
gboolean ats_capture_file_begin_run (AtsCaptureFile          *self,
                                     const char              *prompt,
                                     const gint32            *ids,
                                     const char *const       *pieces,
                                     guint                    n_tokens,
                                     const AtsCaptureOptions *options,
                                     GError                 **error);
/* Observer that writes attention, scores, hidden norms and logits of the open run. */
AtsObserver *ats_capture_file_get_observer (AtsCaptureFile *self);
/* Writes metrics/ of the open run (may be called before end_run). */
gboolean ats_capture_file_write_run_metrics (AtsCaptureFile       *self,
                                             guint                 run,
                                             const AtsDiagResults *results,
                                             GError              **error);
/* Lazy Attention parameters: lazy/tau [L, H], lazy/bias [L, H, W]. */
gboolean
ats_capture_file_write_run_lazy (AtsCaptureFile *self, guint run, AtsModel *model, GError **error);
gboolean ats_capture_file_end_run (AtsCaptureFile *self, gboolean complete, GError **error);

/* --- reading --- */
guint          ats_capture_file_get_n_runs (AtsCaptureFile *self);
AtsCaptureRun *ats_capture_file_get_run (AtsCaptureFile *self, guint run, GError **error);
/* One head's map into @out [T, T] (float32). */
gboolean ats_capture_file_read_head (AtsCaptureFile *self,
                                     guint           run,
                                     guint           layer,
                                     guint           head,
                                     float          *out,
                                     GError        **error);
/* Query rows [row_start, row_start + n_rows) of one head into @out [n_rows, T]. */
gboolean ats_capture_file_read_rows (AtsCaptureFile *self,
                                     guint           run,
                                     guint           layer,
                                     guint           head,
                                     guint           row_start,
                                     guint           n_rows,
                                     float          *out,
                                     GError        **error);
/* The max-pooled preview of one head into @out [P, P] (P <= ATS_CAPTURE_PREVIEW_SIZE, returned
 * in @size); ATS_CAPTURE_ERROR_MISSING for files written before previews existed. */
gboolean ats_capture_file_read_preview (AtsCaptureFile *self,
                                        guint           run,
                                        guint           layer,
                                        guint           head,
                                        float          *out,
                                        guint          *size,
                                        GError        **error);
/* hidden_norms [L+1, T], newly allocated. */
float *ats_capture_file_read_hidden_norms (AtsCaptureFile *self, guint run, GError **error);
/* lazy/ of a run (Lazy Attention captures): tau [L, H] and bias [L, H, W], newly allocated.
 * ATS_CAPTURE_ERROR_MISSING when the run has none. */
gboolean ats_capture_file_read_run_lazy (AtsCaptureFile *self,
                                         guint           run,
                                         float         **tau,
                                         float         **bias,
                                         guint          *bias_window,
                                         GError        **error);
/* metrics/ of a run, or NULL with ATS_CAPTURE_ERROR_MISSING. */
AtsDiagResults *ats_capture_file_read_run_metrics (AtsCaptureFile *self, guint run, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsCaptureRun, ats_capture_run_free)

G_END_DECLS
