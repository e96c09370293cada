/* ats-safetensors-private.h — helpers shared by the safetensors and checkpoint readers */
#pragma once

#include <json-glib/json-glib.h>

#include "attnscope/ats-safetensors.h"

G_BEGIN_DECLS

/* Nesting limit for JSON headers (a valid safetensors header needs 3 levels). */
#define _ATS_JSON_MAX_DEPTH 64

/* Parses @len bytes of JSON strictly (RFC 8259: no comments, no trailing data, no duplicate
 * keys, no NUL escapes, integers within gint64, nesting at most _ATS_JSON_MAX_DEPTH) and returns
 * the parser holding the root node. On failure sets ATS_CHECKPOINT_ERROR_FORMAT with a message
 * starting with "@display: @what". */
JsonParser *_ats_json_parse_strict (const char *data,
                                    gsize       len,
                                    const char *display,
                                    const char *what,
                                    GError    **error);

G_END_DECLS
