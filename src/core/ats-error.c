/* ats-error.c — error domain quarks */
#include "attnscope/ats-error.h"

G_DEFINE_QUARK (ats - checkpoint - error - quark, ats_checkpoint_error)
G_DEFINE_QUARK (ats - model - error - quark, ats_model_error)
G_DEFINE_QUARK (ats - tokenizer - error - quark, ats_tokenizer_error)
G_DEFINE_QUARK (ats - capture - error - quark, ats_capture_error)
G_DEFINE_QUARK (ats - diagnostics - error - quark, ats_diagnostics_error)
G_DEFINE_QUARK (ats - render - error - quark, ats_render_error)
G_DEFINE_QUARK (ats - merge - error - quark, ats_merge_error)
