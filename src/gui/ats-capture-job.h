/* ats-capture-job.h — a loaded model folder and background captures of prompts
 *
 * Loading the model and running the forward pass happen on worker threads (GTask); the
 * "progress" property (0..1) is updated on the main thread and can be bound to a
 * GtkProgressBar. Cancelling the GCancellable stops the forward pass; a cancelled or failed
 * capture leaves no file behind.
 */
#pragma once

#include <gio/gio.h>

#include "attnscope/ats-model.h"

G_BEGIN_DECLS

#define ATS_TYPE_CAPTURE_JOB (ats_capture_job_get_type ())

G_DECLARE_FINAL_TYPE (AtsCaptureJob, ats_capture_job, ATS, CAPTURE_JOB, GObject)

void           ats_capture_job_load_async (const char         *model_dir,
                                           GCancellable       *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);
AtsCaptureJob *ats_capture_job_load_finish (GAsyncResult *result, GError **error);

const char *ats_capture_job_get_model_dir (AtsCaptureJob *self);
char       *ats_capture_job_dup_display_name (AtsCaptureJob *self);
AtsModel   *ats_capture_job_get_model (AtsCaptureJob *self);
double      ats_capture_job_get_progress (AtsCaptureJob *self);
gboolean    ats_capture_job_get_running (AtsCaptureJob *self);

/* Captures @prompt into a new capture file at @out_path (maps, hidden norms, diagnostics).
 * Returns the path on success. */
void  ats_capture_job_run_async (AtsCaptureJob      *self,
                                 const char         *prompt,
                                 const char         *out_path,
                                 GCancellable       *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer            user_data);
char *ats_capture_job_run_finish (AtsCaptureJob *self, GAsyncResult *result, GError **error);

/* A fresh path under the user cache ($XDG_CACHE_HOME/attnscope/captures/). */
char *ats_capture_job_make_output_path (AtsCaptureJob *self, GError **error);

G_END_DECLS
