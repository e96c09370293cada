/* ats-error.h — error domains of the attnscope core
 *
 * Each area of the core reports failures in its own GError domain; messages always name the
 * file, tensor, field or line at fault.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ATS_CHECKPOINT_ERROR (ats_checkpoint_error_quark ())
#define ATS_MODEL_ERROR (ats_model_error_quark ())
#define ATS_TOKENIZER_ERROR (ats_tokenizer_error_quark ())
#define ATS_CAPTURE_ERROR (ats_capture_error_quark ())
#define ATS_DIAGNOSTICS_ERROR (ats_diagnostics_error_quark ())
#define ATS_RENDER_ERROR (ats_render_error_quark ())
#define ATS_MERGE_ERROR (ats_merge_error_quark ())

typedef enum
{
  ATS_CHECKPOINT_ERROR_IO,          /* cannot open / map / read */
  ATS_CHECKPOINT_ERROR_FORMAT,      /* malformed header, offsets, JSON */
  ATS_CHECKPOINT_ERROR_UNSUPPORTED, /* dtype or file kind we refuse (pickle) */
  ATS_CHECKPOINT_ERROR_MISSING,     /* tensor not present */
  ATS_CHECKPOINT_ERROR_SHAPE,       /* tensor has the wrong shape */
} AtsCheckpointError;

typedef enum
{
  ATS_MODEL_ERROR_CONFIG,       /* config.json malformed or inconsistent */
  ATS_MODEL_ERROR_ARCHITECTURE, /* unknown model_type */
  ATS_MODEL_ERROR_INPUT,        /* bad token ids / empty prompt */
  ATS_MODEL_ERROR_CANCELLED,    /* cancelled by the caller */
} AtsModelError;

typedef enum
{
  ATS_TOKENIZER_ERROR_IO,
  ATS_TOKENIZER_ERROR_FORMAT, /* malformed tokenizer.json / vocab / merges */
  ATS_TOKENIZER_ERROR_UNSUPPORTED,
  ATS_TOKENIZER_ERROR_INPUT, /* invalid UTF-8 input */
} AtsTokenizerError;

typedef enum
{
  ATS_CAPTURE_ERROR_IO,      /* HDF5 create/write failed, path unwritable, disk full */
  ATS_CAPTURE_ERROR_EXISTS,  /* output exists and --force not given */
  ATS_CAPTURE_ERROR_FORMAT,  /* not an attnscope capture, wrong version */
  ATS_CAPTURE_ERROR_MISSING, /* run / layer / head / dataset not present */
} AtsCaptureError;

typedef enum
{
  ATS_DIAGNOSTICS_ERROR_INPUT,
} AtsDiagnosticsError;

typedef enum
{
  ATS_RENDER_ERROR_IO,
  ATS_RENDER_ERROR_INPUT,
} AtsRenderError;

typedef enum
{
  ATS_MERGE_ERROR_MISMATCH,
  ATS_MERGE_ERROR_IO,
  ATS_MERGE_ERROR_INPUT,
} AtsMergeError;

GQuark ats_checkpoint_error_quark (void);
GQuark ats_model_error_quark (void);
GQuark ats_tokenizer_error_quark (void);
GQuark ats_capture_error_quark (void);
GQuark ats_diagnostics_error_quark (void);
GQuark ats_render_error_quark (void);
GQuark ats_merge_error_quark (void);

G_END_DECLS
