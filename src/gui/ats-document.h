/* ats-document.h — an open capture file, read lazily off the UI thread
 *
 * Opening reads the model attributes and each run's tokens; maps, metrics and thumbnails are
 * read on demand on the I/O thread (ats-io-private.h). Recently read maps are kept in a small
 * cache so that moving back and forth between heads does not touch the disk.
 */
#pragma once

#include <gio/gio.h>

#include "attnscope/ats-capture.h"
#include "ats-matrix.h"

G_BEGIN_DECLS

#define ATS_TYPE_DOCUMENT (ats_document_get_type ())

G_DECLARE_FINAL_TYPE (AtsDocument, ats_document, ATS, DOCUMENT, GObject)

void         ats_document_open_async (const char         *path,
                                      GCancellable       *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data);
AtsDocument *ats_document_open_finish (GAsyncResult *result, GError **error);

const char                *ats_document_get_path (AtsDocument *self);
char                      *ats_document_dup_display_name (AtsDocument *self);
const AtsCaptureModelInfo *ats_document_get_model_info (AtsDocument *self);
guint                      ats_document_get_n_layers (AtsDocument *self);
guint                      ats_document_get_n_heads (AtsDocument *self);
guint                      ats_document_get_n_runs (AtsDocument *self);
const AtsCaptureRun       *ats_document_get_run (AtsDocument *self, guint run);
gboolean ats_document_has_head (AtsDocument *self, guint run, guint layer, guint head);

/* One head's map [T, T]. */
void       ats_document_load_head_async (AtsDocument        *self,
                                         guint               run,
                                         guint               layer,
                                         guint               head,
                                         GCancellable       *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer            user_data);
AtsMatrix *ats_document_load_head_finish (AtsDocument *self, GAsyncResult *result, GError **error);
/* The cached map, or NULL (no I/O). */
AtsMatrix *ats_document_lookup_head (AtsDocument *self, guint run, guint layer, guint head);

/* Diagnostics of a run. @params NULL: the stored metrics/ (computed from the maps when the
 * file has none); otherwise recomputed from the maps with @params (stored per-layer collapse
 * values are kept, since hidden states are not in the file). */
void ats_document_load_metrics_async (AtsDocument         *self,
                                      guint                run,
                                      const AtsDiagParams *params,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
AtsDiagResults *
ats_document_load_metrics_finish (AtsDocument *self, GAsyncResult *result, GError **error);

/* A max-pooled thumbnail (at most @max_size square) of one head. Runs at the lowest I/O
 * priority, one head per job, so that opening a head never waits behind a layer of thumbnails.
 * Maps of more than 1024 tokens are read in blocks of query rows and pooled as they arrive
 * (never a whole [T, T] head in memory). */
void ats_document_load_thumbnail_async (AtsDocument        *self,
                                        guint               run,
                                        guint               layer,
                                        guint               head,
                                        guint               max_size,
                                        GCancellable       *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
AtsMatrix *
ats_document_load_thumbnail_finish (AtsDocument *self, GAsyncResult *result, GError **error);

/* lazy/tau of a run (Lazy Attention captures): [L, H], newly allocated;
 * ATS_CAPTURE_ERROR_MISSING when the run has none. */
void   ats_document_load_lazy_tau_async (AtsDocument        *self,
                                         guint               run,
                                         GCancellable       *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer            user_data);
float *ats_document_load_lazy_tau_finish (AtsDocument *self, GAsyncResult *result, GError **error);

/* Every head of a run, max-pooled to at most @max_size (full maps when T <= @max_size):
 * a GPtrArray of L * H AtsMatrix (NULL entries for heads the file does not hold). */
void       ats_document_load_maps_async (AtsDocument        *self,
                                         guint               run,
                                         guint               max_size,
                                         GCancellable       *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer            user_data);
GPtrArray *ats_document_load_maps_finish (AtsDocument *self, GAsyncResult *result, GError **error);

/* hidden_norms [L+1, T] as a matrix. */
void ats_document_load_hidden_norms_async (AtsDocument        *self,
                                           guint               run,
                                           GCancellable       *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
AtsMatrix *
ats_document_load_hidden_norms_finish (AtsDocument *self, GAsyncResult *result, GError **error);

G_END_DECLS
