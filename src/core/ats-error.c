/* ats-error.c — error domain quarks */
#include "attnscope/ats-error.h"

#define ATS_ERROR_QUARK(fn, name)                                                                  \
  GQuark fn (void) { return g_quark_from_static_string (name); }

/* clang-format off */
ATS_ERROR_QUARK (ats_checkpoint_error_quark, "ats-checkpoint-error-quark")
ATS_ERROR_QUARK (ats_model_error_quark, "ats-model-error-quark")
ATS_ERROR_QUARK (ats_tokenizer_error_quark, "ats-tokenizer-error-quark")
ATS_ERROR_QUARK (ats_capture_error_quark, "ats-capture-error-quark")
ATS_ERROR_QUARK (ats_diagnostics_error_quark, "ats-diagnostics-error-quark")
ATS_ERROR_QUARK (ats_render_error_quark, "ats-render-error-quark")
ATS_ERROR_QUARK (ats_merge_error_quark, "ats-merge-error-quark")
/* clang-format on */
