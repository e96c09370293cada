/* ats-safetensors.c — validated, memory-mapped safetensors files (REFERENCE §2)
 *
 * Layout: 8-byte little-endian u64 N, N bytes of UTF-8 JSON (an object, possibly padded with
 * spaces), then the data section. Every entry of the header is checked at open time so the
 * AtsTensorInfo records handed out afterwards can be trusted without further bounds checks.
 */
#include <stdlib.h>
#include <string.h>

#include "attnscope/ats-safetensors.h"
#include "ats-safetensors-private.h"

#define MAX_HEADER_LEN G_GUINT64_CONSTANT (100000000)

struct _AtsSafetensors
{
  gatomicrefcount ref_count;
  char           *path;
  GMappedFile    *mapped; /* NULL for ats_safetensors_new_from_data() */
  const guint8   *data;   /* whole file image */
  gsize           len;
  GStringChunk   *strings;
  AtsTensorInfo  *tensors; /* [n_tensors], sorted by data offset */
  guint           n_tensors;
  GHashTable     *by_name;     /* name -> AtsTensorInfo* */
  GHashTable     *unsupported; /* name -> reason (in strings) */
  GHashTable     *metadata;    /* string -> string */
};

/* Every dtype the safetensors format defines. Sizes in bits (F4/F6 pack below a byte). */
typedef struct
{
  const char *name;
  guint       bits;
  int         ats; /* AtsDType, or -1 when attnscope cannot read it */
} DTypeDesc;

static const DTypeDesc dtype_table[] = {
  { "F32", 32, ATS_DTYPE_F32 },
  { "F16", 16, ATS_DTYPE_F16 },
  { "BF16", 16, ATS_DTYPE_BF16 },
  { "F64", 64, -1 },
  { "I64", 64, -1 },
  { "U64", 64, -1 },
  { "I32", 32, -1 },
  { "U32", 32, -1 },
  { "I16", 16, -1 },
  { "U16", 16, -1 },
  { "I8", 8, -1 },
  { "U8", 8, -1 },
  { "BOOL", 8, -1 },
  { "F8_E4M3", 8, -1 },
  { "F8_E5M2", 8, -1 },
  { "F8_E8M0", 8, -1 },
  { "F6_E2M3", 6, -1 },
  { "F6_E3M2", 6, -1 },
  { "F4", 4, -1 },
  { "C64", 64, -1 },
};

/* One header entry while validating, including tensors of unsupported dtypes. */
typedef struct
{
  const char      *name; /* in self->strings */
  const DTypeDesc *dtype;
  guint            n_dims;
  gint64           shape[ATS_MAX_DIMS];
  guint64          numel;
  guint64          begin;
  guint64          end;
  gboolean         too_many_dims;
} Entry;

/* ------------------------------------------------------------------------------------------ */
/* Strict JSON syntax check                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct
{
  const guchar *start;
  const guchar *p;
  const guchar *end;
  guint         depth;
  char         *message; /* first problem found */
} Scan;

static gboolean
scan_fail (Scan *s, const char *what)
{
  if (s->message == NULL)
    {
      if (s->p >= s->end)
        s->message = g_strdup_printf ("%s: unexpected end at byte %" G_GSIZE_FORMAT, what,
                                      (gsize) (s->p - s->start));
      else if (*s->p >= 0x20 && *s->p < 0x7f)
        s->message = g_strdup_printf ("%s: unexpected character '%c' at byte %" G_GSIZE_FORMAT,
                                      what, *s->p, (gsize) (s->p - s->start));
      else
        s->message = g_strdup_printf ("%s: unexpected byte 0x%02x at byte %" G_GSIZE_FORMAT, what,
                                      *s->p, (gsize) (s->p - s->start));
    }
  return FALSE;
}

/* For problems that are not about an unexpected character. */
static gboolean
scan_fail_here (Scan *s, const char *what)
{
  if (s->message == NULL)
    s->message = g_strdup_printf ("%s at byte %" G_GSIZE_FORMAT, what, (gsize) (s->p - s->start));
  return FALSE;
}

static void
scan_ws (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

/* Reads the 4 hex digits of a \\u escape (s->p is on the first); -1 on error. */
static int
scan_hex4 (Scan *s)
{
  int value = 0;

  for (guint i = 0; i < 4; i++, s->p++)
    {
      if (s->p >= s->end || !g_ascii_isxdigit (*s->p))
        {
          scan_fail (s, "bad \\u escape");
          return -1;
        }
      value = value * 16 + g_ascii_xdigit_value (*s->p);
    }
  return value;
}

static gboolean
scan_string (Scan *s)
{
  if (s->p >= s->end || *s->p != '"')
    return scan_fail (s, "expected a string");
  s->p++;
  while (s->p < s->end)
    {
      guchar c = *s->p;

      if (c == '"')
        {
          s->p++;
          return TRUE;
        }
      if (c < 0x20)
        return scan_fail (s, "control character in string");
      if (c == '\\')
        {
          s->p++;
          if (s->p >= s->end)
            break;
          if (*s->p == 'u')
            {
              const guchar *escape = s->p - 1;
              int           value;

              s->p++;
              value = scan_hex4 (s);

              if (value < 0)
                return FALSE;
              if (value == 0)
                {
                  s->p = escape;
                  return scan_fail_here (s, "NUL character (\\u0000) in string");
                }
              /* UTF-16 surrogates must pair up, or the decoded string is not UTF-8 */
              if (value >= 0xdc00 && value <= 0xdfff)
                {
                  s->p = escape;
                  return scan_fail_here (s, "unpaired UTF-16 surrogate escape in string");
                }
              if (value >= 0xd800 && value <= 0xdbff)
                {
                  int low = -1;

                  if (s->end - s->p >= 2 && s->p[0] == '\\' && s->p[1] == 'u')
                    {
                      s->p += 2;
                      low = scan_hex4 (s);
                      if (low < 0)
                        return FALSE;
                    }
                  if (low < 0xdc00 || low > 0xdfff)
                    {
                      s->p = escape;
                      return scan_fail_here (s, "unpaired UTF-16 surrogate escape in string");
                    }
                }
              continue;
            }
          if (strchr ("\"\\/bfnrt", *s->p) == NULL || *s->p == '\0')
            return scan_fail (s, "bad escape in string");
        }
      s->p++;
    }
  return scan_fail (s, "unterminated string");
}

static gboolean
scan_number (Scan *s)
{
  gboolean      negative = FALSE;
  gboolean      integral = TRUE;
  guint64       magnitude = 0;
  gboolean      too_large = FALSE;
  const guchar *number_start = s->p;

  if (s->p < s->end && *s->p == '-')
    {
      negative = TRUE;
      s->p++;
    }
  if (s->p >= s->end || !g_ascii_isdigit (*s->p))
    return scan_fail (s, "bad number");
  if (*s->p == '0')
    s->p++;
  else
    while (s->p < s->end && g_ascii_isdigit (*s->p))
      {
        guint digit = *s->p - '0';

        if (magnitude > (G_MAXUINT64 - digit) / 10)
          too_large = TRUE;
        else
          magnitude = magnitude * 10 + digit;
        s->p++;
      }
  if (s->p < s->end && *s->p == '.')
    {
      integral = FALSE;
      s->p++;
      if (s->p >= s->end || !g_ascii_isdigit (*s->p))
        return scan_fail (s, "bad number");
      while (s->p < s->end && g_ascii_isdigit (*s->p))
        s->p++;
    }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
    {
      integral = FALSE;
      s->p++;
      if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
        s->p++;
      if (s->p >= s->end || !g_ascii_isdigit (*s->p))
        return scan_fail (s, "bad number");
      while (s->p < s->end && g_ascii_isdigit (*s->p))
        s->p++;
    }
  /* json-glib saturates integers outside gint64 silently; refuse them here instead. */
  if (integral && (too_large || magnitude > (guint64) G_MAXINT64 + (negative ? 1 : 0)))
    {
      s->p = number_start;
      return scan_fail_here (s, "integer out of 64-bit range");
    }
  return TRUE;
}

static gboolean
scan_literal (Scan *s, const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return scan_fail (s, "bad literal");
  s->p += n;
  return TRUE;
}

static gboolean scan_value (Scan *s);

static gboolean
scan_object (Scan *s)
{
  s->p++; /* '{' */
  scan_ws (s);
  if (s->p < s->end && *s->p == '}')
    {
      s->p++;
      return TRUE;
    }
  for (;;)
    {
      scan_ws (s);
      if (!scan_string (s))
        return FALSE;
      scan_ws (s);
      if (s->p >= s->end || *s->p != ':')
        return scan_fail (s, "expected ':'");
      s->p++;
      if (!scan_value (s))
        return FALSE;
      if (s->p < s->end && *s->p == ',')
        {
          s->p++;
          continue;
        }
      if (s->p < s->end && *s->p == '}')
        {
          s->p++;
          return TRUE;
        }
      return scan_fail (s, "expected ',' or '}'");
    }
}

static gboolean
scan_array (Scan *s)
{
  s->p++; /* '[' */
  scan_ws (s);
  if (s->p < s->end && *s->p == ']')
    {
      s->p++;
      return TRUE;
    }
  for (;;)
    {
      if (!scan_value (s))
        return FALSE;
      if (s->p < s->end && *s->p == ',')
        {
          s->p++;
          continue;
        }
      if (s->p < s->end && *s->p == ']')
        {
          s->p++;
          return TRUE;
        }
      return scan_fail (s, "expected ',' or ']'");
    }
}

/* value with surrounding whitespace */
static gboolean
scan_value (Scan *s)
{
  gboolean ok;

  scan_ws (s);
  if (s->p >= s->end)
    return scan_fail (s, "expected a value");
  switch (*s->p)
    {
    case '{':
    case '[':
      if (++s->depth > _ATS_JSON_MAX_DEPTH)
        return scan_fail_here (
            s, "nested more than " G_STRINGIFY (_ATS_JSON_MAX_DEPTH) " levels deep");
      ok = *s->p == '{' ? scan_object (s) : scan_array (s);
      s->depth--;
      break;
    case '"':
      ok = scan_string (s);
      break;
    case 't':
      ok = scan_literal (s, "true");
      break;
    case 'f':
      ok = scan_literal (s, "false");
      break;
    case 'n':
      ok = scan_literal (s, "null");
      break;
    default:
      ok = scan_number (s);
      break;
    }
  if (ok)
    scan_ws (s);
  return ok;
}

/* Counts members added per object so a repeated key (json-glib replaces it silently) shows. */
typedef struct
{
  GHashTable *counts; /* JsonObject* -> count */
  char       *duplicate;
} DupCheck;

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer user_data)
{
  DupCheck *check = user_data;
  guint     count = GPOINTER_TO_UINT (g_hash_table_lookup (check->counts, object)) + 1;

  g_hash_table_insert (check->counts, object, GUINT_TO_POINTER (count));
  if (json_object_get_size (object) != count && check->duplicate == NULL)
    check->duplicate = g_strdup (name);
}

JsonParser *
_ats_json_parse_strict (const char *data,
                        gsize       len,
                        const char *display,
                        const char *what,
                        GError    **error)
{
  Scan     scan = { (const guchar *) data, (const guchar *) data, (const guchar *) data + len, 0,
                    NULL };
  DupCheck check = { NULL, NULL };
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local_error = NULL;

  if (!g_utf8_validate_len (data, len, NULL))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: %s is not valid UTF-8 text (or contains a NUL byte)", display, what);
      return NULL;
    }
  if (!scan_value (&scan) || scan.p != scan.end)
    {
      if (scan.message == NULL)
        scan_fail (&scan, "trailing data after the JSON value");
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: %s is not valid JSON (%s)", display, what, scan.message);
      g_free (scan.message);
      return NULL;
    }

  parser = json_parser_new_immutable ();
  check.counts = g_hash_table_new (NULL, NULL);
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &check);
  json_parser_load_from_data (parser, data, (gssize) len, &local_error);
  g_signal_handlers_disconnect_by_func (parser, on_object_member, &check);
  g_hash_table_unref (check.counts);

  if (local_error != NULL)
    {
      g_free (check.duplicate);
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: %s is not valid JSON (%s)", display, what, local_error->message);
      return NULL;
    }
  if (check.duplicate != NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: %s has the key '%s' more than once in one object", display, what,
                   check.duplicate);
      g_free (check.duplicate);
      return NULL;
    }
  if (json_parser_get_root (parser) == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT, "%s: %s is empty",
                   display, what);
      return NULL;
    }
  return g_steal_pointer (&parser);
}

/* ------------------------------------------------------------------------------------------ */
/* Header validation                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char *
node_kind (JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
    default:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_STRING:
          return "a string";
        case G_TYPE_BOOLEAN:
          return "a boolean";
        case G_TYPE_INT64:
          return "an integer";
        default:
          return "a non-integer number";
        }
    }
}

static gboolean
node_get_count (JsonNode *node, guint64 *out)
{
  gint64 v;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static const DTypeDesc *
find_dtype (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (strcmp (dtype_table[i].name, name) == 0)
      return &dtype_table[i];
  return NULL;
}

static char *
entry_shape_string (JsonArray *shape)
{
  GString *s = g_string_new ("[");

  for (guint i = 0; i < json_array_get_length (shape); i++)
    {
      JsonNode *n = json_array_get_element (shape, i);

      if (i > 0)
        g_string_append (s, ", ");
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
        g_string_append_printf (s, "%" G_GINT64_FORMAT, json_node_get_int (n));
      else
        g_string_append (s, "?");
    }
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

#define ENTRY_ERROR(...)                                                                           \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *detail_ = g_strdup_printf (__VA_ARGS__);                                      \
    g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT, "%s: tensor '%s': %s",  \
                 self->path, name, detail_);                                                       \
    return FALSE;                                                                                  \
  }                                                                                                \
  G_STMT_END

static gboolean
parse_entry (AtsSafetensors *self,
             const char     *name,
             JsonNode       *node,
             guint64         data_len,
             Entry          *e,
             GError        **error)
{
  JsonObject *obj;
  JsonNode   *dtype_node, *shape_node, *offsets_node;
  JsonArray  *shape, *offsets;
  guint       n_dims;
  guint64     numel = 1, bits, n_bytes;
  gboolean    overflow = FALSE;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    ENTRY_ERROR ("entry is %s, expected an object with dtype, shape and data_offsets",
                 node_kind (node));
  obj = json_node_get_object (node);

  {
    g_autoptr (GList) members = json_object_get_members (obj);

    for (GList *l = members; l != NULL; l = l->next)
      if (strcmp (l->data, "dtype") != 0 && strcmp (l->data, "shape") != 0 &&
          strcmp (l->data, "data_offsets") != 0)
        ENTRY_ERROR ("unexpected field '%s' (allowed: dtype, shape, data_offsets)",
                     (const char *) l->data);
  }

  dtype_node = json_object_get_member (obj, "dtype");
  shape_node = json_object_get_member (obj, "shape");
  offsets_node = json_object_get_member (obj, "data_offsets");
  if (dtype_node == NULL)
    ENTRY_ERROR ("field 'dtype' is missing");
  if (shape_node == NULL)
    ENTRY_ERROR ("field 'shape' is missing");
  if (offsets_node == NULL)
    ENTRY_ERROR ("field 'data_offsets' is missing");

  /* dtype */
  if (!JSON_NODE_HOLDS_VALUE (dtype_node) || json_node_get_value_type (dtype_node) != G_TYPE_STRING)
    ENTRY_ERROR ("field 'dtype' is %s, expected a string", node_kind (dtype_node));
  e->dtype = find_dtype (json_node_get_string (dtype_node));
  if (e->dtype == NULL)
    ENTRY_ERROR ("field 'dtype' has the unknown value '%s'", json_node_get_string (dtype_node));

  /* shape */
  if (!JSON_NODE_HOLDS_ARRAY (shape_node))
    ENTRY_ERROR ("field 'shape' is %s, expected an array of non-negative integers",
                 node_kind (shape_node));
  shape = json_node_get_array (shape_node);
  n_dims = json_array_get_length (shape);
  for (guint i = 0; i < n_dims; i++)
    {
      JsonNode *dim_node = json_array_get_element (shape, i);
      guint64   dim;

      if (!node_get_count (dim_node, &dim))
        {
          if (JSON_NODE_HOLDS_VALUE (dim_node) &&
              json_node_get_value_type (dim_node) == G_TYPE_INT64)
            ENTRY_ERROR ("field 'shape' has the negative dimension %" G_GINT64_FORMAT
                         " at index %u",
                         json_node_get_int (dim_node), i);
          ENTRY_ERROR ("field 'shape' has %s at index %u, expected a non-negative integer",
                       node_kind (dim_node), i);
        }
      if (i < ATS_MAX_DIMS)
        e->shape[i] = (gint64) dim;
      /* every partial product must fit in gint64 too, so callers may multiply dims freely */
      if (!g_uint64_checked_mul (&numel, numel, dim) || numel > (guint64) G_MAXINT64)
        overflow = TRUE;
    }
  e->n_dims = MIN (n_dims, ATS_MAX_DIMS);
  e->too_many_dims = n_dims > ATS_MAX_DIMS;
  bits = e->dtype->bits;
  if (overflow || numel > (guint64) G_MAXINT64 || !g_uint64_checked_mul (&n_bytes, numel, bits))
    {
      g_autofree char *s = entry_shape_string (shape);
      ENTRY_ERROR ("field 'shape' %s has too many elements (the element count overflows 64 bits)",
                   s);
    }
  if (n_bytes % 8 != 0)
    {
      g_autofree char *s = entry_shape_string (shape);
      ENTRY_ERROR ("shape %s of dtype %s does not fill a whole number of bytes", s, e->dtype->name);
    }
  n_bytes /= 8;
  e->numel = numel;

  /* data_offsets */
  if (!JSON_NODE_HOLDS_ARRAY (offsets_node))
    ENTRY_ERROR ("field 'data_offsets' is %s, expected [begin, end]", node_kind (offsets_node));
  offsets = json_node_get_array (offsets_node);
  if (json_array_get_length (offsets) != 2)
    ENTRY_ERROR ("field 'data_offsets' has %u elements, expected [begin, end]",
                 json_array_get_length (offsets));
  if (!node_get_count (json_array_get_element (offsets, 0), &e->begin) ||
      !node_get_count (json_array_get_element (offsets, 1), &e->end))
    ENTRY_ERROR ("field 'data_offsets' must hold two non-negative integers");
  if (e->begin > e->end)
    ENTRY_ERROR ("data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] begin is after end",
                 e->begin, e->end);
  if (e->end > data_len)
    ENTRY_ERROR ("data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                 "] lie outside the data section of %" G_GUINT64_FORMAT " bytes",
                 e->begin, e->end, data_len);
  if (e->end - e->begin != n_bytes)
    {
      g_autofree char *s = entry_shape_string (shape);
      ENTRY_ERROR ("data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                   "] span %" G_GUINT64_FORMAT
                   " bytes but dtype %s with shape %s needs %" G_GUINT64_FORMAT " bytes",
                   e->begin, e->end, e->end - e->begin, e->dtype->name, s, n_bytes);
    }
  return TRUE;
}

#undef ENTRY_ERROR

static gboolean
parse_metadata (AtsSafetensors *self, JsonNode *node, GError **error)
{
  JsonObject *obj;
  g_autoptr (GList) members = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: __metadata__ is %s, expected an object of strings", self->path,
                   node_kind (node));
      return FALSE;
    }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (obj, l->data);

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                       "%s: __metadata__ field '%s' is %s, expected a string", self->path,
                       (const char *) l->data, node_kind (value));
          return FALSE;
        }
      g_hash_table_insert (self->metadata, g_strdup (l->data),
                           g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

static int
compare_entries (const void *a, const void *b)
{
  const Entry *x = a, *y = b;

  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return strcmp (x->name, y->name);
}

static gboolean
parse_header (AtsSafetensors *self, GError **error)
{
  guint64       header_len;
  guint64       data_len;
  const guint8 *data_section;
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GList) members = NULL;
  g_autofree Entry *entries = NULL;
  JsonObject       *root_obj;
  JsonNode         *root;
  guint             n_entries = 0, n_supported = 0;

  if (self->len < 8)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: file is %" G_GSIZE_FORMAT
                   " bytes, too short for the 8-byte safetensors header length",
                   self->path, self->len);
      return FALSE;
    }
  memcpy (&header_len, self->data, 8);
  header_len = GUINT64_FROM_LE (header_len);
  if (header_len > MAX_HEADER_LEN)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: header length %" G_GUINT64_FORMAT " exceeds the limit of %" G_GUINT64_FORMAT
                   " bytes (not a safetensors file?)",
                   self->path, header_len, MAX_HEADER_LEN);
      return FALSE;
    }
  if (header_len > self->len - 8)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: header length %" G_GUINT64_FORMAT
                   " runs past the end of the file (%" G_GSIZE_FORMAT " bytes; truncated?)",
                   self->path, header_len, self->len);
      return FALSE;
    }
  if (header_len == 0)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: header is empty (length 0)", self->path);
      return FALSE;
    }
  data_section = self->data + 8 + header_len;
  data_len = self->len - 8 - header_len;

  parser = _ats_json_parse_strict ((const char *) self->data + 8, header_len, self->path, "header",
                                   error);
  if (parser == NULL)
    return FALSE;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                   "%s: header is %s, expected a JSON object", self->path, node_kind (root));
      return FALSE;
    }
  root_obj = json_node_get_object (root);
  members = json_object_get_members (root_obj);
  entries = g_new0 (Entry, json_object_get_size (root_obj) + 1);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode   *node = json_object_get_member (root_obj, name);
      Entry      *e;

      if (strcmp (name, "__metadata__") == 0)
        {
          if (!parse_metadata (self, node, error))
            return FALSE;
          continue;
        }
      e = &entries[n_entries];
      e->name = g_string_chunk_insert (self->strings, name);
      if (!parse_entry (self, e->name, node, data_len, e, error))
        return FALSE;
      n_entries++;
    }

  qsort (entries, n_entries, sizeof (Entry), compare_entries);
  for (guint i = 1; i < n_entries; i++)
    if (entries[i].begin < entries[i - 1].end)
      {
        g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT,
                     "%s: tensor '%s': data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                     "] overlap those of tensor '%s' [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                     "]",
                     self->path, entries[i].name, entries[i].begin, entries[i].end,
                     entries[i - 1].name, entries[i - 1].begin, entries[i - 1].end);
        return FALSE;
      }

  self->tensors = g_new0 (AtsTensorInfo, n_entries + 1);
  for (guint i = 0; i < n_entries; i++)
    {
      const Entry   *e = &entries[i];
      AtsTensorInfo *t;

      if (e->dtype->ats < 0 || e->too_many_dims)
        {
          char *reason;

          if (e->dtype->ats < 0)
            reason = g_strdup_printf ("it has dtype %s (attnscope reads F32, F16 and BF16)",
                                      e->dtype->name);
          else
            reason = g_strdup_printf ("it has more than %d dimensions", ATS_MAX_DIMS);
          g_hash_table_insert (self->unsupported, (char *) e->name,
                               g_string_chunk_insert (self->strings, reason));
          g_free (reason);
          continue;
        }
      t = &self->tensors[n_supported++];
      t->name = e->name;
      t->dtype = (AtsDType) e->dtype->ats;
      t->n_dims = e->n_dims;
      memcpy (t->shape, e->shape, sizeof t->shape);
      t->numel = (gint64) e->numel;
      t->data = data_section + e->begin;
      t->n_bytes = (gsize) (e->end - e->begin);
    }
  self->n_tensors = n_supported;
  for (guint i = 0; i < n_supported; i++)
    g_hash_table_insert (self->by_name, (char *) self->tensors[i].name, &self->tensors[i]);
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static AtsSafetensors *
safetensors_alloc (const char *path)
{
  AtsSafetensors *self = g_new0 (AtsSafetensors, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->path = g_strdup (path);
  self->strings = g_string_chunk_new (4096);
  self->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  self->unsupported = g_hash_table_new (g_str_hash, g_str_equal);
  self->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

AtsSafetensors *
ats_safetensors_new_from_data (const guint8 *data,
                               gsize         len,
                               const char   *display_name,
                               GError      **error)
{
  g_autoptr (AtsSafetensors) self = NULL;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = safetensors_alloc (display_name != NULL ? display_name : "<memory>");
  self->data = data;
  self->len = len;
  if (!parse_header (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

AtsSafetensors *
ats_safetensors_open (const char *path, GError **error)
{
  g_autoptr (AtsSafetensors) self = NULL;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = safetensors_alloc (path);
  self->mapped = g_mapped_file_new (path, FALSE, &local_error);
  if (self->mapped == NULL)
    {
      g_set_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO, "Cannot map %s: %s", path,
                   local_error->message);
      return NULL;
    }
  self->data = (const guint8 *) g_mapped_file_get_contents (self->mapped);
  self->len = g_mapped_file_get_length (self->mapped);
  if (!parse_header (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

AtsSafetensors *
ats_safetensors_ref (AtsSafetensors *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
ats_safetensors_unref (AtsSafetensors *self)
{
  g_return_if_fail (self != NULL);
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_clear_pointer (&self->mapped, g_mapped_file_unref);
  g_hash_table_unref (self->by_name);
  g_hash_table_unref (self->unsupported);
  g_hash_table_unref (self->metadata);
  g_string_chunk_free (self->strings);
  g_free (self->tensors);
  g_free (self->path);
  g_free (self);
}

const char *
ats_safetensors_get_path (AtsSafetensors *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->path;
}

guint
ats_safetensors_get_n_tensors (AtsSafetensors *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_tensors;
}

const AtsTensorInfo *
ats_safetensors_get_tensor (AtsSafetensors *self, guint index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->n_tensors, NULL);
  return &self->tensors[index];
}

const AtsTensorInfo *
ats_safetensors_lookup (AtsSafetensors *self, const char *name)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (self->by_name, name);
}

const char *
ats_safetensors_lookup_unsupported (AtsSafetensors *self, const char *name)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (self->unsupported, name);
}

guint
ats_safetensors_get_n_unsupported (AtsSafetensors *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return g_hash_table_size (self->unsupported);
}

GHashTable *
ats_safetensors_get_metadata (AtsSafetensors *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->metadata;
}

const char *
ats_dtype_to_string (AtsDType dtype)
{
  switch (dtype)
    {
    case ATS_DTYPE_F32:
      return "F32";
    case ATS_DTYPE_F16:
      return "F16";
    case ATS_DTYPE_BF16:
      return "BF16";
    default:
      return "?";
    }
}

gsize
ats_dtype_size (AtsDType dtype)
{
  switch (dtype)
    {
    case ATS_DTYPE_F32:
      return 4;
    case ATS_DTYPE_F16:
    case ATS_DTYPE_BF16:
      return 2;
    default:
      return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Conversions                                                                                */
/* ------------------------------------------------------------------------------------------ */

static inline float
bits_to_f32 (guint32 u)
{
  float f;

  memcpy (&f, &u, 4);
  return f;
}

static inline guint32
f32_to_bits (float f)
{
  guint32 u;

  memcpy (&u, &f, 4);
  return u;
}

float
ats_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 exponent = (h >> 10) & 0x1f;
  guint32 mantissa = h & 0x3ff;

  if (exponent == 0)
    {
      /* zero or subnormal: mantissa x 2^-24, exact in float32 */
      float v = (float) mantissa * (1.0f / 16777216.0f);

      return sign ? -v : v;
    }
  if (exponent == 31) /* inf, or NaN with its payload kept */
    return bits_to_f32 (sign | 0x7f800000u | (mantissa << 13));
  return bits_to_f32 (sign | ((exponent + 112) << 23) | (mantissa << 13));
}

guint16
ats_f32_to_f16 (float f)
{
  guint32 u = f32_to_bits (f);
  guint32 sign = (u >> 16) & 0x8000;
  guint32 a = u & 0x7fffffffu;

  if (a > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
    return (guint16) (sign | 0x7e00 | ((a >> 13) & 0x3ff));
  if (a >= 0x477ff000u) /* >= 65520 rounds to infinity (ties to even go up from 65504) */
    return (guint16) (sign | 0x7c00);
  if (a < 0x38800000u) /* below 2^-14: subnormal half or zero */
    {
      guint32 shift, m, q, rem, half;

      if (a <= 0x33000000u) /* <= 2^-25 rounds to zero (the tie goes to even zero) */
        return (guint16) sign;
      /* value = m x 2^(e-150); in units of 2^-24 that is m >> (126 - e) */
      m = (a & 0x7fffffu) | 0x800000u;
      shift = 126 - (a >> 23);
      q = m >> shift;
      rem = m & ((1u << shift) - 1);
      half = 1u << (shift - 1);
      if (rem > half || (rem == half && (q & 1)))
        q++;
      return (guint16) (sign | q); /* q == 0x400 becomes the smallest normal */
    }
  {
    guint32 h = (a >> 13) - (112u << 10);
    guint32 rem = a & 0x1fff;

    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
      h++;
    return (guint16) (sign | h);
  }
}

float
ats_bf16_to_f32 (guint16 b)
{
  return bits_to_f32 ((guint32) b << 16);
}

guint16
ats_f32_to_bf16 (float f)
{
  guint32 u = f32_to_bits (f);

  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (guint16) ((u >> 16) | 0x0040); /* stay NaN even if the payload was in the low half */
  u += 0x7fffu + ((u >> 16) & 1);
  return (guint16) (u >> 16);
}

static float *f16_table; /* [65536] */

static const float *
get_f16_table (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      f16_table = g_new (float, 65536);
      for (guint i = 0; i < 65536; i++)
        f16_table[i] = ats_f16_to_f32 ((guint16) i);
      g_once_init_leave (&initialized, 1);
    }
  return f16_table;
}

void
ats_convert_to_f32 (AtsDType dtype, const guint8 *src, gsize n, float *dst)
{
  switch (dtype)
    {
    case ATS_DTYPE_F32:
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
      if (n > 0)
        memcpy (dst, src, n * 4);
#else
      for (gsize i = 0; i < n; i++)
        dst[i] = bits_to_f32 ((guint32) src[4 * i] | (guint32) src[4 * i + 1] << 8 |
                              (guint32) src[4 * i + 2] << 16 | (guint32) src[4 * i + 3] << 24);
#endif
      break;
    case ATS_DTYPE_F16:
      {
        const float *table = get_f16_table ();

        for (gsize i = 0; i < n; i++)
          dst[i] = table[src[2 * i] | (src[2 * i + 1] << 8)];
      }
      break;
    case ATS_DTYPE_BF16:
      for (gsize i = 0; i < n; i++)
        dst[i] = bits_to_f32 ((guint32) src[2 * i] << 16 | (guint32) src[2 * i + 1] << 24);
      break;
    default:
      g_return_if_reached ();
    }
}
