/* ats-tokenizer.c — Hugging Face compatible BPE tokenizers
 *
 * Pipeline (the Hugging Face tokenizers one, with the details transformers.js gives it):
 *   1. split the text on added tokens (longest match, left to right; lstrip/rstrip trim the
 *      neighbouring text); added tokens map straight to their ids;
 *   2. every other section: normalizers (NFC/NFD/NFKC/NFKD, Prepend, Replace, Lowercase,
 *      Strip, StripAccents), then pre-tokenizers (Split, ByteLevel, Metaspace);
 *   3. the BPE model on every pre-token (ats-tokenizer-bpe.c), unknown tokens fused when the
 *      model says fuse_unk;
 *   4. post-processing: the special tokens of the TemplateProcessing "single" template (or
 *      BertProcessing / RobertaProcessing), unless tokenizer_config.json sets add_bos_token /
 *      add_eos_token, which then decide (as transformers' Python tokenizers do).
 *
 * Pieces (ats_tokenizer_decode_piece) are for display: byte-level characters are mapped back
 * to their bytes, SentencePiece's U+2581 is shown as a space, <0xNN> byte tokens as their
 * byte, and bytes that do not form valid UTF-8 on their own as the text \xNN.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "ats-tokenizer-private.h"

#define SPIECE_UNDERLINE "\xe2\x96\x81" /* U+2581 */

typedef enum
{
  NORM_NFC,
  NORM_NFD,
  NORM_NFKC,
  NORM_NFKD,
  NORM_PREPEND,
  NORM_REPLACE,
  NORM_LOWERCASE,
  NORM_STRIP,
  NORM_STRIP_ACCENTS,
} NormKind;

typedef struct
{
  NormKind kind;
  char    *text;    /* Prepend: the prefix; Replace: the literal pattern (NULL for a regex) */
  char    *content; /* Replace: the replacement */
  GRegex  *regex;   /* Replace with a Regex pattern */
  gboolean left;    /* Strip */
  gboolean right;
} Normalizer;

typedef enum
{
  PRE_SPLIT,
  PRE_BYTE_LEVEL,
  PRE_METASPACE,
} PreKind;

typedef enum
{
  PREPEND_ALWAYS,
  PREPEND_FIRST,
  PREPEND_NEVER,
} PrependScheme;

typedef struct
{
  PreKind       kind;
  AtsSplitter  *splitter; /* Split; ByteLevel with use_regex */
  gboolean      add_prefix_space;
  char         *replacement; /* Metaspace */
  PrependScheme prepend_scheme;
} PreStep;

typedef struct
{
  char    *content;
  gsize    len;
  gint32   id;
  gboolean special;
  gboolean lstrip;
  gboolean rstrip;
} AddedToken;

struct _AtsTokenizer
{
  gint    ref_count;
  char   *source; /* the file named in messages */
  AtsBpe *bpe;

  GPtrArray *normalizers; /* Normalizer */
  GPtrArray *pre_steps;   /* PreStep */
  gboolean   byte_level;  /* pieces are byte-level characters */

  GArray     *added;              /* AddedToken, in file order */
  GArray     *added_by_byte[256]; /* indices into added, by first byte of the content */
  GArray     *special_ids;        /* gint32, sorted: special added tokens and config extras */
  GHashTable *added_ids;          /* id -> AddedToken index + 1 */

  GArray *prefix_ids; /* post-processing */
  GArray *suffix_ids;
  gint32  bos_id;
  gint32  eos_id;

  gboolean llama_non_legacy; /* transformers.js LlamaTokenizer with legacy: false */
  gint32   spiece_id;
};

static void
normalizer_free (gpointer data)
{
  Normalizer *n = data;

  g_free (n->text);
  g_free (n->content);
  g_clear_pointer (&n->regex, g_regex_unref);
  g_free (n);
}

static void
pre_step_free (gpointer data)
{
  PreStep *s = data;

  _ats_splitter_free (s->splitter);
  g_free (s->replacement);
  g_free (s);
}

static void
added_token_clear (gpointer data)
{
  g_free (((AddedToken *) data)->content);
}

static AtsTokenizer *
tokenizer_new (const char *source)
{
  AtsTokenizer *self = g_new0 (AtsTokenizer, 1);

  self->ref_count = 1;
  self->source = g_strdup (source);
  self->bpe = _ats_bpe_new ();
  self->normalizers = g_ptr_array_new_with_free_func (normalizer_free);
  self->pre_steps = g_ptr_array_new_with_free_func (pre_step_free);
  self->added = g_array_new (FALSE, TRUE, sizeof (AddedToken));
  g_array_set_clear_func (self->added, added_token_clear);
  self->special_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  self->added_ids = g_hash_table_new (NULL, NULL);
  self->prefix_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  self->suffix_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  self->bos_id = -1;
  self->eos_id = -1;
  self->spiece_id = -1;
  return self;
}

AtsTokenizer *
ats_tokenizer_ref (AtsTokenizer *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
ats_tokenizer_unref (AtsTokenizer *self)
{
  if (self == NULL || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_free (self->source);
  _ats_bpe_free (self->bpe);
  g_ptr_array_unref (self->normalizers);
  g_ptr_array_unref (self->pre_steps);
  g_array_unref (self->added);
  for (guint i = 0; i < 256; i++)
    if (self->added_by_byte[i])
      g_array_unref (self->added_by_byte[i]);
  g_array_unref (self->special_ids);
  g_hash_table_unref (self->added_ids);
  g_array_unref (self->prefix_ids);
  g_array_unref (self->suffix_ids);
  g_free (self);
}

/* ---- JSON helpers (every error names the file and field) ---------------------------------- */

static gboolean fail (GError **error, int code, const char *source, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, int code, const char *source, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, ATS_TOKENIZER_ERROR, code, "%s: %s", source, msg);
  return FALSE;
}

static JsonNode *
parse_json_file (const char *path, JsonParser **parser_out, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local_error = NULL;

  if (!json_parser_load_from_mapped_file (parser, path, &local_error))
    {
      int code = local_error->domain == JSON_PARSER_ERROR ? ATS_TOKENIZER_ERROR_FORMAT
                                                          : ATS_TOKENIZER_ERROR_IO;
      fail (error, code, path, "%s", local_error->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (error, ATS_TOKENIZER_ERROR_FORMAT, path, "the top level is not a JSON object");
      return NULL;
    }
  *parser_out = g_steal_pointer (&parser);
  return root;
}

/* The member @name of @obj if it is present and not null, else NULL. */
static JsonNode *
member (JsonObject *obj, const char *name)
{
  JsonNode *node = obj ? json_object_get_member (obj, name) : NULL;

  return node && !JSON_NODE_HOLDS_NULL (node) ? node : NULL;
}

static gboolean
member_bool (JsonObject *obj, const char *name, gboolean dflt)
{
  JsonNode *node = member (obj, name);

  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (node);
  return dflt;
}

static const char *
member_string (JsonObject *obj, const char *name)
{
  JsonNode *node = member (obj, name);

  if (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return NULL;
}

static JsonObject *
member_object (JsonObject *obj, const char *name)
{
  JsonNode *node = member (obj, name);

  return node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static gboolean
node_get_id (JsonNode *node, gint32 *id)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < 0 || v > G_MAXINT32 - 1)
    return FALSE;
  *id = (gint32) v;
  return TRUE;
}

/* bos_token and friends: a string or {"content": ...} (AddedToken). */
static const char *
config_token (JsonObject *config, const char *name)
{
  const char *s = member_string (config, name);

  if (s == NULL)
    s = member_string (member_object (config, name), "content");
  return s;
}

/* ---- loading: model --------------------------------------------------------------------- */

/* A file mapped read-only; empty files give an empty text. */
static GMappedFile *
map_file (const char *path, const char **text, gsize *len, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GMappedFile *mapped = g_mapped_file_new (path, FALSE, &local_error);

  if (mapped == NULL)
    {
      fail (error, ATS_TOKENIZER_ERROR_IO, path, "%s", local_error->message);
      return NULL;
    }
  *text = g_mapped_file_get_contents (mapped);
  *len = g_mapped_file_get_length (mapped);
  if (*text == NULL)
    *text = "";
  return mapped;
}

static gboolean
check_vocab (AtsTokenizer *self, GError **error)
{
  if (_ats_bpe_get_n_ids (self->bpe) == 0)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "the vocabulary is empty");
  return TRUE;
}

typedef struct
{
  AtsTokenizer *self;
  const char   *what; /* "model.merges[%u]" or "line %u" */
  guint         first_line;
} MergeCtx;

static gboolean
add_merge (gpointer    data,
           guint       rank,
           const char *left,
           gsize       left_len,
           const char *right,
           gsize       right_len,
           GError    **error)
{
  MergeCtx     *ctx = data;
  AtsTokenizer *self = ctx->self;
  guint         n = rank + ctx->first_line;

  if (right == NULL)
    {
      /* "left right": exactly one space between two non-empty tokens */
      const char *line = left;
      gsize       len = left_len;
      const char *space = memchr (line, ' ', len);
      if (space == NULL || space == line || space + 1 == line + len ||
          memchr (space + 1, ' ', line + len - space - 1) != NULL)
        {
          g_autofree char *what = g_strdup_printf (ctx->what, n);
          return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                       "%s: expected two tokens separated by one space, got '%.*s'", what,
                       (int) len, line);
        }
      left_len = space - line;
      right = space + 1;
      right_len = line + len - right;
    }

  AtsMergeStatus status = _ats_bpe_add_merge (self->bpe, left, left_len, right, right_len, rank);
  if (status == _ATS_MERGE_OK)
    return TRUE;

  g_autofree char *what = g_strdup_printf (ctx->what, n);
  if (status == _ATS_MERGE_RESULT_UNKNOWN)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                 "%s: merged token '%.*s%.*s' is not in the vocabulary", what, (int) left_len, left,
                 (int) right_len, right);
  gboolean is_left = status == _ATS_MERGE_LEFT_UNKNOWN;
  return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
               "%s: token '%.*s' is not in the vocabulary", what,
               is_left ? (int) left_len : (int) right_len, is_left ? left : right);
}

static gboolean
load_model (AtsTokenizer  *self,
            JsonObject    *root,
            const char    *text,
            const AtsSpan *vocab,
            const AtsSpan *merges,
            GError       **error)
{
  JsonNode *model_node = member (root, "model");

  if (model_node == NULL && vocab->start == G_MAXSIZE)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "missing field 'model'");
  if (model_node == NULL || !JSON_NODE_HOLDS_OBJECT (model_node))
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "'model' is not an object");

  JsonObject *model = json_node_get_object (model_node);
  const char *type = member_string (model, "type");
  if (type == NULL && merges->start == G_MAXSIZE)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                 "missing field 'model.type' (and no 'model.merges' to infer BPE from)");
  if (type != NULL && strcmp (type, "BPE") != 0)
    return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
                 "model.type '%s' is not supported (only 'BPE')", type);

  if (vocab->start == G_MAXSIZE)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                 "missing or non-object field 'model.vocab'");
  if (!_ats_json_read_vocab (self->source, text + vocab->start, vocab->len, self->bpe, error) ||
      !check_vocab (self, error))
    return FALSE;

  if (merges->start == G_MAXSIZE)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                 "missing or non-array field 'model.merges'");
  MergeCtx ctx = { self, "model.merges[%u]", 0 };
  if (!_ats_json_read_merges (self->source, text + merges->start, merges->len, add_merge, &ctx,
                              error))
    return FALSE;

  const char *prefix = member_string (model, "continuing_subword_prefix");
  const char *suffix = member_string (model, "end_of_word_suffix");
  if (prefix && *prefix)
    return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
                 "model.continuing_subword_prefix '%s' is not supported", prefix);
  if (suffix && *suffix)
    return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
                 "model.end_of_word_suffix '%s' is not supported", suffix);
  return TRUE;
}

/* ---- loading: normalizers and pre-tokenizers ------------------------------------------------ */

static gboolean
load_normalizer (AtsTokenizer *self, JsonObject *obj, const char *field, GError **error)
{
  const char *type = member_string (obj, "type");

  if (type == NULL)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s.type is missing", field);

  if (strcmp (type, "Sequence") == 0)
    {
      JsonNode *list = member (obj, "normalizers");
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "%s.normalizers is not an array", field);
      JsonArray *array = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode        *item = json_array_get_element (array, i);
          g_autofree char *sub = g_strdup_printf ("%s.normalizers[%u]", field, i);
          if (!JSON_NODE_HOLDS_OBJECT (item))
            return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s is not an object",
                         sub);
          if (!load_normalizer (self, json_node_get_object (item), sub, error))
            return FALSE;
        }
      return TRUE;
    }

  Normalizer *n = g_new0 (Normalizer, 1);
  g_ptr_array_add (self->normalizers, n);
  if (strcmp (type, "NFC") == 0)
    n->kind = NORM_NFC;
  else if (strcmp (type, "NFD") == 0)
    n->kind = NORM_NFD;
  else if (strcmp (type, "NFKC") == 0)
    n->kind = NORM_NFKC;
  else if (strcmp (type, "NFKD") == 0)
    n->kind = NORM_NFKD;
  else if (strcmp (type, "Lowercase") == 0)
    n->kind = NORM_LOWERCASE;
  else if (strcmp (type, "StripAccents") == 0)
    n->kind = NORM_STRIP_ACCENTS;
  else if (strcmp (type, "Strip") == 0)
    {
      n->kind = NORM_STRIP;
      n->left = member_bool (obj, "strip_left", TRUE);
      n->right = member_bool (obj, "strip_right", TRUE);
    }
  else if (strcmp (type, "Prepend") == 0)
    {
      const char *prepend = member_string (obj, "prepend");
      if (prepend == NULL)
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s.prepend is missing",
                     field);
      n->kind = NORM_PREPEND;
      n->text = g_strdup (prepend);
    }
  else if (strcmp (type, "Replace") == 0)
    {
      JsonObject *pattern = member_object (obj, "pattern");
      const char *content = member_string (obj, "content");
      const char *literal = member_string (pattern, "String");
      const char *regex = member_string (pattern, "Regex");
      if (content == NULL || (literal == NULL && regex == NULL))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "%s needs 'pattern' (String or Regex) and 'content'", field);
      n->kind = NORM_REPLACE;
      n->content = g_strdup (content);
      if (literal)
        n->text = g_strdup (literal);
      else
        {
          g_autoptr (GError) local_error = NULL;
          n->regex = g_regex_new (regex, G_REGEX_OPTIMIZE, 0, &local_error);
          if (n->regex == NULL)
            return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
                         "%s.pattern.Regex: %s", field, local_error->message);
        }
    }
  else
    return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
                 "%s.type '%s' is not supported", field, type);
  return TRUE;
}

static gboolean
load_pre_tokenizer (AtsTokenizer *self, JsonObject *obj, const char *field, GError **error)
{
  const char *type = member_string (obj, "type");

  if (type == NULL)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s.type is missing", field);

  if (strcmp (type, "Sequence") == 0)
    {
      JsonNode *list = member (obj, "pretokenizers");
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "%s.pretokenizers is not an array", field);
      JsonArray *array = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode        *item = json_array_get_element (array, i);
          g_autofree char *sub = g_strdup_printf ("%s.pretokenizers[%u]", field, i);
          if (!JSON_NODE_HOLDS_OBJECT (item))
            return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s is not an object",
                         sub);
          if (!load_pre_tokenizer (self, json_node_get_object (item), sub, error))
            return FALSE;
        }
      return TRUE;
    }

  PreStep *step = g_new0 (PreStep, 1);
  g_ptr_array_add (self->pre_steps, step);
  if (strcmp (type, "Split") == 0)
    {
      JsonObject *pattern = member_object (obj, "pattern");
      const char *literal = member_string (pattern, "String");
      const char *regex = member_string (pattern, "Regex");
      const char *behavior = member_string (obj, "behavior");
      step->kind = PRE_SPLIT;
      if (literal)
        step->splitter = _ats_splitter_new_string (literal);
      else if (regex)
        {
          g_autoptr (GError) local_error = NULL;
          step->splitter = _ats_splitter_new_regex (regex, &local_error);
          if (step->splitter == NULL)
            return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source, "%s.pattern: %s",
                         field, local_error->message);
        }
      else
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "%s.pattern needs 'String' or 'Regex'", field);
      step->splitter->invert = member_bool (obj, "invert", FALSE);
      /* transformers.js implements "Removed"; every other behaviour splits as "Isolated". */
      step->splitter->removed = behavior && g_ascii_strcasecmp (behavior, "Removed") == 0;
    }
  else if (strcmp (type, "ByteLevel") == 0)
    {
      step->kind = PRE_BYTE_LEVEL;
      step->add_prefix_space = member_bool (obj, "add_prefix_space", FALSE);
      if (member_bool (obj, "use_regex", TRUE))
        step->splitter = _ats_splitter_new_known (_ATS_SPLIT_GPT2);
      self->byte_level = TRUE;
    }
  else if (strcmp (type, "Metaspace") == 0)
    {
      const char *replacement = member_string (obj, "replacement");
      const char *scheme = member_string (obj, "prepend_scheme");
      step->kind = PRE_METASPACE;
      step->replacement = g_strdup (replacement ? replacement : SPIECE_UNDERLINE);
      step->add_prefix_space = member_bool (obj, "add_prefix_space", TRUE);
      step->prepend_scheme = scheme == NULL || strcmp (scheme, "always") == 0 ? PREPEND_ALWAYS
                             : strcmp (scheme, "first") == 0                  ? PREPEND_FIRST
                                                                              : PREPEND_NEVER;
      if (scheme && strcmp (scheme, "never") == 0)
        step->add_prefix_space = FALSE;
    }
  else
    return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
                 "%s.type '%s' is not supported", field, type);
  return TRUE;
}

/* ---- loading: added tokens and post-processing ---------------------------------------------- */

static void
add_added_token (AtsTokenizer *self,
                 const char   *content,
                 gint32        id,
                 gboolean      special,
                 gboolean      lstrip,
                 gboolean      rstrip)
{
  AddedToken t = { g_strdup (content), strlen (content), id, special, lstrip, rstrip };

  if (t.len == 0)
    {
      g_free (t.content);
      return;
    }
  _ats_bpe_add_token (self->bpe, t.content, t.len, id);
  g_array_append_val (self->added, t);
  guint8 first = (guchar) content[0];
  if (self->added_by_byte[first] == NULL)
    self->added_by_byte[first] = g_array_new (FALSE, FALSE, sizeof (guint));
  guint index = self->added->len - 1;
  g_array_append_val (self->added_by_byte[first], index);
  g_hash_table_insert (self->added_ids, GINT_TO_POINTER (id), GUINT_TO_POINTER (index + 1));
  if (special)
    g_array_append_val (self->special_ids, id);
}

static gboolean
load_added_tokens (AtsTokenizer *self, JsonObject *root, GError **error)
{
  JsonNode *list = member (root, "added_tokens");

  if (list == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (list))
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "'added_tokens' is not an array");
  JsonArray *array = json_node_get_array (list);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode   *node = json_array_get_element (array, i);
      JsonObject *obj = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *content = member_string (obj, "content");
      gint32      id;
      if (content == NULL || !node_get_id (member (obj, "id"), &id))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "added_tokens[%u] needs a string 'content' and an integer 'id'", i);
      add_added_token (self, content, id, member_bool (obj, "special", FALSE),
                       member_bool (obj, "lstrip", FALSE), member_bool (obj, "rstrip", FALSE));
    }
  return TRUE;
}

static gint32
lookup_token (AtsTokenizer *self, const char *token)
{
  return token ? _ats_bpe_lookup (self->bpe, token, strlen (token)) : -1;
}

static gboolean
load_post_processor (AtsTokenizer *self, JsonObject *obj, const char *field, GError **error)
{
  const char *type = member_string (obj, "type");

  if (type == NULL)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s.type is missing", field);
  if (strcmp (type, "ByteLevel") == 0)
    return TRUE;
  if (strcmp (type, "Sequence") == 0)
    {
      JsonNode *list = member (obj, "processors");
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "%s.processors is not an array", field);
      JsonArray *array = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode        *item = json_array_get_element (array, i);
          g_autofree char *sub = g_strdup_printf ("%s.processors[%u]", field, i);
          if (!JSON_NODE_HOLDS_OBJECT (item))
            return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s is not an object",
                         sub);
          if (!load_post_processor (self, json_node_get_object (item), sub, error))
            return FALSE;
        }
      return TRUE;
    }
  if (strcmp (type, "BertProcessing") == 0 || strcmp (type, "RobertaProcessing") == 0)
    {
      JsonNode *cls = member (obj, "cls"), *sep = member (obj, "sep");
      gint32    cls_id, sep_id;
      if (cls == NULL || sep == NULL || !JSON_NODE_HOLDS_ARRAY (cls) ||
          !JSON_NODE_HOLDS_ARRAY (sep) ||
          !node_get_id (json_array_get_element (json_node_get_array (cls), 1), &cls_id) ||
          !node_get_id (json_array_get_element (json_node_get_array (sep), 1), &sep_id))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                     "%s needs 'cls' and 'sep' as [token, id]", field);
      g_array_set_size (self->prefix_ids, 0);
      g_array_set_size (self->suffix_ids, 0);
      g_array_append_val (self->prefix_ids, cls_id);
      g_array_append_val (self->suffix_ids, sep_id);
      return TRUE;
    }
  if (strcmp (type, "TemplateProcessing") == 0)
    {
      JsonNode   *single = member (obj, "single");
      JsonObject *specials = member_object (obj, "special_tokens");
      gboolean    seen_a = FALSE;
      if (single == NULL || !JSON_NODE_HOLDS_ARRAY (single))
        return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source, "%s.single is not an array",
                     field);
      g_array_set_size (self->prefix_ids, 0);
      g_array_set_size (self->suffix_ids, 0);
      JsonArray *items = json_node_get_array (single);
      for (guint i = 0; i < json_array_get_length (items); i++)
        {
          JsonNode   *item = json_array_get_element (items, i);
          JsonObject *o = JSON_NODE_HOLDS_OBJECT (item) ? json_node_get_object (item) : NULL;
          JsonObject *special = member_object (o, "SpecialToken");
          JsonObject *sequence = member_object (o, "Sequence");
          if (sequence)
            {
              const char *which = member_string (sequence, "id");
              if (which && strcmp (which, "A") == 0)
                seen_a = TRUE;
              continue;
            }
          const char *name = member_string (special, "id");
          if (name == NULL)
            return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                         "%s.single[%u] is neither a SpecialToken nor a Sequence", field, i);
          /* transformers.js looks the name up in the vocabulary; fall back to the ids that
           * special_tokens lists for it. */
          GArray *target = seen_a ? self->suffix_ids : self->prefix_ids;
          gint32  id = lookup_token (self, name);
          if (id >= 0)
            {
              g_array_append_val (target, id);
              continue;
            }
          JsonNode *ids = member (member_object (specials, name), "ids");
          if (ids == NULL || !JSON_NODE_HOLDS_ARRAY (ids))
            return fail (error, ATS_TOKENIZER_ERROR_FORMAT, self->source,
                         "%s.single[%u]: special token '%s' is not in the vocabulary", field, i,
                         name);
          JsonArray *ids_array = json_node_get_array (ids);
          for (guint k = 0; k < json_array_get_length (ids_array); k++)
            if (node_get_id (json_array_get_element (ids_array, k), &id))
              g_array_append_val (target, id);
        }
      return TRUE;
    }
  return fail (error, ATS_TOKENIZER_ERROR_UNSUPPORTED, self->source,
               "%s.type '%s' is not supported", field, type);
}

static int
compare_ids (gconstpointer a, gconstpointer b)
{
  gint32 x = *(const gint32 *) a, y = *(const gint32 *) b;

  return (x > y) - (x < y);
}

/* tokenizer_config.json: BOS/EOS, add_bos_token/add_eos_token, LlamaTokenizer's legacy flag. */
static gboolean
apply_config (AtsTokenizer *self, const char *config_path, GError **error)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonObject *config = NULL;

  if (config_path && g_file_test (config_path, G_FILE_TEST_EXISTS))
    {
      JsonNode *root = parse_json_file (config_path, &parser, error);
      if (root == NULL)
        return FALSE;
      config = json_node_get_object (root);
    }

  const char *bos = config_token (config, "bos_token");
  const char *eos = config_token (config, "eos_token");
  self->bos_id = lookup_token (self, bos);
  self->eos_id = lookup_token (self, eos);
  if (bos && self->bos_id < 0)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, config_path,
                 "bos_token '%s' is not in the vocabulary", bos);
  if (eos && self->eos_id < 0)
    return fail (error, ATS_TOKENIZER_ERROR_FORMAT, config_path,
                 "eos_token '%s' is not in the vocabulary", eos);

  JsonNode *add_bos = member (config, "add_bos_token"), *add_eos = member (config, "add_eos_token");
  if (add_bos || add_eos)
    {
      g_array_set_size (self->prefix_ids, 0);
      g_array_set_size (self->suffix_ids, 0);
      if (member_bool (config, "add_bos_token", FALSE) && self->bos_id >= 0)
        g_array_append_val (self->prefix_ids, self->bos_id);
      if (member_bool (config, "add_eos_token", FALSE) && self->eos_id >= 0)
        g_array_append_val (self->suffix_ids, self->eos_id);
    }

  JsonNode *extra = member (config, "additional_special_tokens");
  if (extra && JSON_NODE_HOLDS_ARRAY (extra))
    {
      JsonArray *array = json_node_get_array (extra);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode   *node = json_array_get_element (array, i);
          const char *s = NULL;
          if (JSON_NODE_HOLDS_VALUE (node))
            s = json_node_get_string (node);
          else if (JSON_NODE_HOLDS_OBJECT (node))
            s = member_string (json_node_get_object (node), "content");
          gint32 id = lookup_token (self, s);
          if (id >= 0)
            g_array_append_val (self->special_ids, id);
        }
    }
  g_array_sort (self->special_ids, compare_ids);

  /* transformers.js: a LlamaTokenizer with legacy: false drops the normalizer and uses a
   * Metaspace pre-tokenizer that prepends U+2581 to the first section only. */
  const char *klass = member_string (config, "tokenizer_class");
  if (klass && g_str_has_prefix (klass, "LlamaTokenizer") && !member_bool (config, "legacy", TRUE))
    {
      PreStep *step = g_new0 (PreStep, 1);
      step->kind = PRE_METASPACE;
      step->replacement = g_strdup (SPIECE_UNDERLINE);
      step->add_prefix_space = TRUE;
      step->prepend_scheme = PREPEND_FIRST;
      g_ptr_array_set_size (self->normalizers, 0);
      g_ptr_array_set_size (self->pre_steps, 0);
      g_ptr_array_add (self->pre_steps, step);
      self->llama_non_legacy = TRUE;
      self->spiece_id = lookup_token (self, SPIECE_UNDERLINE);
    }
  return TRUE;
}

static gboolean
finish_load (AtsTokenizer *self, JsonObject *model, const char *config_path, GError **error)
{
  if (!apply_config (self, config_path, error))
    return FALSE;
  _ats_bpe_set_options (self->bpe, self->byte_level, member_bool (model, "byte_fallback", FALSE),
                        member_bool (model, "fuse_unk", FALSE),
                        member_bool (model, "ignore_merges", FALSE),
                        member_string (model, "unk_token"));
  return TRUE;
}

AtsTokenizer *
ats_tokenizer_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);

  const char *text;
  gsize       len;
  g_autoptr (GMappedFile) mapped = map_file (path, &text, &len, error);
  if (mapped == NULL)
    return NULL;

  /* model.vocab and model.merges are streamed; json-glib parses the rest. */
  AtsSpan          vocab, merges;
  g_autofree char *rest = _ats_json_split_tokenizer (path, text, len, &vocab, &merges, error);
  if (rest == NULL)
    return NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local_error = NULL;
  if (!json_parser_load_from_data (parser, rest, -1, &local_error))
    {
      fail (error, ATS_TOKENIZER_ERROR_FORMAT, path, "%s", local_error->message);
      return NULL;
    }

  g_autoptr (AtsTokenizer) self = tokenizer_new (path);
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  if (!load_model (self, root, text, &vocab, &merges, error))
    return NULL;
  /* Added tokens join the vocabulary before anything looks tokens up (template, config). */
  if (!load_added_tokens (self, root, error))
    return NULL;

  JsonObject *normalizer = member_object (root, "normalizer");
  JsonObject *pre_tokenizer = member_object (root, "pre_tokenizer");
  JsonObject *post_processor = member_object (root, "post_processor");
  JsonObject *decoder = member_object (root, "decoder");
  if (normalizer && !load_normalizer (self, normalizer, "normalizer", error))
    return NULL;
  if (pre_tokenizer && !load_pre_tokenizer (self, pre_tokenizer, "pre_tokenizer", error))
    return NULL;
  if (post_processor && !load_post_processor (self, post_processor, "post_processor", error))
    return NULL;
  if (decoder && g_strcmp0 (member_string (decoder, "type"), "ByteLevel") == 0)
    self->byte_level = TRUE;

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *config_path = g_build_filename (dir, "tokenizer_config.json", NULL);
  if (!finish_load (self, member_object (root, "model"), config_path, error))
    return NULL;
  return g_steal_pointer (&self);
}

AtsTokenizer *
ats_tokenizer_load_bpe_files (const char *vocab_path, const char *merges_path, GError **error)
{
  g_return_val_if_fail (vocab_path != NULL && merges_path != NULL, NULL);

  const char *text;
  gsize       len;
  g_autoptr (GMappedFile) vocab_map = map_file (vocab_path, &text, &len, error);
  if (vocab_map == NULL)
    return NULL;

  g_autoptr (AtsTokenizer) self = tokenizer_new (vocab_path);
  if (!g_utf8_validate_len (text, len, NULL))
    {
      fail (error, ATS_TOKENIZER_ERROR_FORMAT, vocab_path, "the file is not valid UTF-8");
      return NULL;
    }
  if (!_ats_json_read_vocab (vocab_path, text, len, self->bpe, error) || !check_vocab (self, error))
    return NULL;

  g_autoptr (GMappedFile) merges_map = map_file (merges_path, &text, &len, error);
  if (merges_map == NULL)
    return NULL;
  g_free (self->source);
  self->source = g_strdup (merges_path);
  guint    rank = 0, line_no = 0;
  MergeCtx ctx = { self, "line %u", 0 };
  for (gsize p = 0; p < len;)
    {
      const char *nl = memchr (text + p, '\n', len - p);
      gsize       end = nl ? (gsize) (nl - text) : len;
      gsize       line_len = end - p;
      line_no++;
      if (line_len > 0 && text[p + line_len - 1] == '\r')
        line_len--;
      if (line_len > 0 && !(line_no == 1 && g_str_has_prefix (text + p, "#version")))
        {
          if (!g_utf8_validate_len (text + p, line_len, NULL))
            {
              fail (error, ATS_TOKENIZER_ERROR_FORMAT, merges_path, "line %u is not valid UTF-8",
                    line_no);
              return NULL;
            }
          /* the message names the line: rank + first_line == line_no */
          ctx.first_line = line_no - rank;
          if (!add_merge (&ctx, rank++, text + p, line_len, NULL, 0, error))
            return NULL;
        }
      p = end + 1;
    }

  /* What transformers' GPT2Tokenizer does: a ByteLevel pre-tokenizer with the GPT-2 pattern,
   * and <|endoftext|> (BOS, EOS and UNK of GPT-2) as a special added token. */
  PreStep *step = g_new0 (PreStep, 1);
  step->kind = PRE_BYTE_LEVEL;
  step->splitter = _ats_splitter_new_known (_ATS_SPLIT_GPT2);
  g_ptr_array_add (self->pre_steps, step);
  self->byte_level = TRUE;
  gint32 eot = lookup_token (self, "<|endoftext|>");
  if (eot >= 0)
    add_added_token (self, "<|endoftext|>", eot, TRUE, FALSE, FALSE);

  g_autofree char *dir = g_path_get_dirname (vocab_path);
  g_autofree char *config_path = g_build_filename (dir, "tokenizer_config.json", NULL);
  if (!finish_load (self, NULL, config_path, error))
    return NULL;
  if (self->bos_id < 0)
    self->bos_id = eot;
  if (self->eos_id < 0)
    self->eos_id = eot;
  g_free (self->source);
  self->source = g_strdup (vocab_path);
  return g_steal_pointer (&self);
}

AtsTokenizer *
ats_tokenizer_load_for_model (const char *dir, GError **error)
{
  static const char *pairs[][2] = {
    { "vocab.json", "merges.txt" },
    { "encoder.json", "vocab.bpe" }, /* OpenAI's names for the same pair */
  };

  g_return_val_if_fail (dir != NULL, NULL);

  g_autofree char *json = g_build_filename (dir, "tokenizer.json", NULL);
  if (g_file_test (json, G_FILE_TEST_EXISTS))
    return ats_tokenizer_load (json, error);
  for (gsize i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autofree char *vocab = g_build_filename (dir, pairs[i][0], NULL);
      g_autofree char *merges = g_build_filename (dir, pairs[i][1], NULL);
      if (g_file_test (vocab, G_FILE_TEST_EXISTS) && g_file_test (merges, G_FILE_TEST_EXISTS))
        return ats_tokenizer_load_bpe_files (vocab, merges, error);
    }
  g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_IO,
               "%s: no tokenizer.json (nor vocab.json + merges.txt) in this folder", dir);
  return NULL;
}

/* ---- encoding ------------------------------------------------------------------------------ */

static inline gboolean
is_js_space_at (const char *s, gsize i, gsize *next)
{
  gunichar c = g_utf8_get_char (s + i);

  *next = g_utf8_next_char (s + i) - s;
  return _ats_unichar_is_js_space (c);
}

/* JavaScript trimStart / trimEnd on s[*start, *end). */
static void
trim_js (const char *s, gsize *start, gsize *end, gboolean left, gboolean right)
{
  gsize n;

  while (left && *start < *end && is_js_space_at (s, *start, &n))
    *start = n;
  while (right && *start < *end)
    {
      const char *prev = g_utf8_find_prev_char (s + *start, s + *end);
      if (prev == NULL || !is_js_space_at (s, prev - s, &n))
        break;
      *end = prev - s;
    }
}

/* Applies the normalizers; returns @text itself or a new string in *owned. */
static const char *
normalize (AtsTokenizer *self, const char *text, gsize *len, char **owned)
{
  char *cur = NULL;

  for (guint i = 0; i < self->normalizers->len; i++)
    {
      Normalizer *n = self->normalizers->pdata[i];
      const char *s = cur ? cur : text;
      char       *out = NULL;
      guchar      limit = 0;

      switch (n->kind)
        {
        case NORM_NFC:
          limit = 0xcc; /* every code point below U+0300 is already NFC */
          G_GNUC_FALLTHROUGH;
        case NORM_NFD:
          if (!limit)
            limit = 0xc3; /* below U+00C0 is already NFD */
          G_GNUC_FALLTHROUGH;
        case NORM_NFKC:
        case NORM_NFKD:
          {
            if (!limit)
              limit = 0x80;
            gsize j = 0;
            while (j < *len && (guchar) s[j] < limit)
              j++;
            if (j == *len)
              break;
            GNormalizeMode mode = n->kind == NORM_NFC    ? G_NORMALIZE_NFC
                                  : n->kind == NORM_NFD  ? G_NORMALIZE_NFD
                                  : n->kind == NORM_NFKC ? G_NORMALIZE_NFKC
                                                         : G_NORMALIZE_NFKD;
            out = g_utf8_normalize (s, *len, mode);
            break;
          }
        case NORM_PREPEND:
          {
            gsize plen = strlen (n->text);
            out = g_malloc (plen + *len + 1);
            memcpy (out, n->text, plen);
            memcpy (out + plen, s, *len);
            out[plen + *len] = '\0';
            break;
          }
        case NORM_REPLACE:
          if (n->regex)
            out = g_regex_replace_literal (n->regex, s, *len, 0, n->content, 0, NULL);
          else if (*n->text)
            {
              GString *g = g_string_sized_new (*len + 16);
              gsize    plen = strlen (n->text), p = 0;
              for (;;)
                {
                  const char *hit = memmem (s + p, *len - p, n->text, plen);
                  if (hit == NULL)
                    break;
                  g_string_append_len (g, s + p, hit - (s + p));
                  g_string_append (g, n->content);
                  p = hit - s + plen;
                }
              g_string_append_len (g, s + p, *len - p);
              out = g_string_free (g, FALSE);
            }
          break;
        case NORM_LOWERCASE:
          out = g_utf8_strdown (s, *len);
          break;
        case NORM_STRIP:
          {
            gsize a = 0, b = *len;
            trim_js (s, &a, &b, n->left, n->right);
            out = g_strndup (s + a, b - a);
            break;
          }
        case NORM_STRIP_ACCENTS:
          {
            GString *g = g_string_sized_new (*len);
            for (const char *p = s; p < s + *len; p = g_utf8_next_char (p))
              {
                GUnicodeType t = g_unichar_type (g_utf8_get_char (p));
                if (t != G_UNICODE_NON_SPACING_MARK && t != G_UNICODE_SPACING_MARK &&
                    t != G_UNICODE_ENCLOSING_MARK)
                  g_string_append_len (g, p, g_utf8_next_char (p) - p);
              }
            out = g_string_free (g, FALSE);
            break;
          }
        default:
          g_assert_not_reached ();
        }
      if (out)
        {
          g_free (cur);
          cur = out;
          *len = strlen (out);
        }
    }
  *owned = cur;
  return cur ? cur : text;
}

/* Runs the pre-tokenizers over text[0, len); the pieces are spans of the returned buffer
 * (@text itself or *owned). */
static const char *
pre_tokenize (AtsTokenizer *self,
              const char   *text,
              gsize         len,
              guint         section_index,
              GArray       *spans,
              GString     **owned)
{
  g_autoptr (GArray) tmp = g_array_new (FALSE, FALSE, sizeof (AtsSpan));
  const char *buf = text;
  AtsSpan     whole = { 0, len };

  g_array_set_size (spans, 0);
  g_array_append_val (spans, whole);

  for (guint i = 0; i < self->pre_steps->len; i++)
    {
      PreStep *step = self->pre_steps->pdata[i];

      if (step->kind == PRE_METASPACE || (step->kind == PRE_BYTE_LEVEL && step->add_prefix_space))
        {
          /* Rewrites every piece into a new buffer. */
          GString    *g = g_string_sized_new (len + 16);
          const char *rep = step->kind == PRE_METASPACE ? step->replacement : " ";
          gsize       rep_len = strlen (rep);
          g_array_set_size (tmp, 0);
          for (guint k = 0; k < spans->len; k++)
            {
              AtsSpan     sp = g_array_index (spans, AtsSpan, k);
              const char *s = buf + sp.start;
              AtsSpan     out = { g->len, 0 };
              if (step->kind == PRE_METASPACE)
                {
                  gboolean starts = sp.len >= rep_len && memcmp (s, rep, rep_len) == 0;
                  gboolean starts_space = sp.len > 0 && s[0] == ' ';
                  if (step->add_prefix_space && !starts && !starts_space &&
                      (step->prepend_scheme == PREPEND_ALWAYS ||
                       (step->prepend_scheme == PREPEND_FIRST && section_index == 0)))
                    g_string_append (g, rep);
                  for (gsize j = 0; j < sp.len; j++)
                    if (s[j] == ' ')
                      g_string_append_len (g, rep, rep_len);
                    else
                      g_string_append_c (g, s[j]);
                }
              else
                {
                  if (sp.len == 0 || s[0] != ' ')
                    g_string_append_c (g, ' ');
                  g_string_append_len (g, s, sp.len);
                }
              out.len = g->len - out.start;
              g_array_append_val (tmp, out);
            }
          if (*owned)
            g_string_free (*owned, TRUE);
          *owned = g;
          buf = g->str;
          g_array_set_size (spans, 0);
          g_array_append_vals (spans, tmp->data, tmp->len);
        }

      if (step->splitter)
        {
          g_array_set_size (tmp, 0);
          for (guint k = 0; k < spans->len; k++)
            _ats_splitter_split (step->splitter, buf, g_array_index (spans, AtsSpan, k), tmp);
          g_array_set_size (spans, 0);
          g_array_append_vals (spans, tmp->data, tmp->len);
        }
    }
  return buf;
}

static void
encode_section (AtsTokenizer *self,
                const char   *text,
                gsize         len,
                guint         section_index,
                GArray       *ids,
                GArray       *spans)
{
  g_autofree char *normalized = NULL;
  GString         *pre_owned = NULL;

  text = normalize (self, text, &len, &normalized);
  if (len == 0)
    return;

  guint       first = ids->len;
  const char *buf = pre_tokenize (self, text, len, section_index, spans, &pre_owned);
  for (guint k = 0; k < spans->len; k++)
    {
      AtsSpan sp = g_array_index (spans, AtsSpan, k);
      _ats_bpe_encode_word (self->bpe, buf + sp.start, sp.len, ids);
    }
  if (pre_owned)
    g_string_free (pre_owned, TRUE);

  /* fuse_unk: runs of unknown tokens become one (over the whole section, as transformers.js). */
  gint32 unk = _ats_bpe_get_unk_id (self->bpe);
  if (_ats_bpe_get_fuse_unk (self->bpe) && unk >= 0 && ids->len > first + 1)
    {
      gint32 *v = (gint32 *) ids->data;
      guint   w = first;
      for (guint r = first; r < ids->len; r++)
        if (!(v[r] == unk && w > first && v[w - 1] == unk))
          v[w++] = v[r];
      g_array_set_size (ids, w);
    }
}

/* The added token starting at text[i], longest first; -1 if none. */
static int
match_added (AtsTokenizer *self, const char *text, gsize i, gsize len)
{
  GArray *candidates = self->added_by_byte[(guchar) text[i]];
  int     best = -1;
  gsize   best_len = 0;

  if (candidates == NULL)
    return -1;
  for (guint k = 0; k < candidates->len; k++)
    {
      guint             index = g_array_index (candidates, guint, k);
      const AddedToken *t = &g_array_index (self->added, AddedToken, index);
      if (t->len > best_len && t->len <= len - i && memcmp (text + i, t->content, t->len) == 0)
        {
          best = index;
          best_len = t->len;
        }
    }
  return best;
}

typedef struct
{
  gsize start;
  gsize end;
  int   added; /* index into self->added, or -1 */
} Section;

static gboolean
is_special_id (AtsTokenizer *self, gint32 id)
{
  return bsearch (&id, self->special_ids->data, self->special_ids->len, sizeof (gint32),
                  compare_ids) != NULL;
}

static void
encode_text (AtsTokenizer *self, const char *text, gsize len, GArray *ids)
{
  g_autoptr (GArray) sections = g_array_new (FALSE, FALSE, sizeof (Section));
  g_autoptr (GArray) spans = g_array_new (FALSE, FALSE, sizeof (AtsSpan));
  gsize start = 0;

  for (gsize i = 0; i < len;)
    {
      int added = self->added->len ? match_added (self, text, i, len) : -1;
      if (added < 0)
        {
          i++;
          continue;
        }
      Section plain = { start, i, -1 };
      if (i > start)
        g_array_append_val (sections, plain);
      gsize   tlen = g_array_index (self->added, AddedToken, added).len;
      Section tok = { i, i + tlen, added };
      g_array_append_val (sections, tok);
      i += tlen;
      start = i;
    }
  if (start < len)
    {
      Section plain = { start, len, -1 };
      g_array_append_val (sections, plain);
    }

  Section *sec = (Section *) sections->data;
  for (guint i = 0; i < sections->len; i++)
    if (sec[i].added >= 0)
      {
        const AddedToken *t = &g_array_index (self->added, AddedToken, sec[i].added);
        if (t->lstrip && i > 0 && sec[i - 1].added < 0)
          trim_js (text, &sec[i - 1].start, &sec[i - 1].end, FALSE, TRUE);
        if (t->rstrip && i + 1 < sections->len && sec[i + 1].added < 0)
          trim_js (text, &sec[i + 1].start, &sec[i + 1].end, TRUE, FALSE);
      }

  for (guint i = 0; i < sections->len; i++)
    {
      if (sec[i].end <= sec[i].start)
        continue;
      if (sec[i].added >= 0)
        g_array_append_val (ids, g_array_index (self->added, AddedToken, sec[i].added).id);
      else
        encode_section (self, text + sec[i].start, sec[i].end - sec[i].start, i, ids, spans);
    }
}

gint32 *
ats_tokenizer_encode (AtsTokenizer    *self,
                      const char      *text,
                      AtsTokenizeFlags flags,
                      guint           *n_ids,
                      GError         **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (n_ids != NULL, NULL);

  gsize       len = strlen (text);
  const char *bad = NULL;
  *n_ids = 0;
  if (!g_utf8_validate_len (text, len, &bad))
    {
      g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_INPUT,
                   "input is not valid UTF-8 (byte %" G_GSIZE_FORMAT ")", (gsize) (bad - text));
      return NULL;
    }

  GArray  *ids = g_array_sized_new (FALSE, FALSE, sizeof (gint32), len / 3 + 8);
  gboolean specials = !(flags & ATS_TOKENIZE_NO_SPECIAL);

  if (specials)
    g_array_append_vals (ids, self->prefix_ids->data, self->prefix_ids->len);
  guint body = ids->len;

  if (self->llama_non_legacy && len > 0)
    {
      /* transformers.js LlamaTokenizer._encode_text for legacy: false */
      GString *g = g_string_new (SPIECE_UNDERLINE);
      for (const char *p = text; *p;)
        if (g_str_has_prefix (p, SPIECE_UNDERLINE))
          {
            g_string_append_c (g, ' ');
            p += strlen (SPIECE_UNDERLINE);
          }
        else
          g_string_append_c (g, *p++);
      encode_text (self, g->str, g->len, ids);
      g_string_free (g, TRUE);
      gint32 *v = (gint32 *) ids->data;
      if (ids->len > body + 1 && v[body] == self->spiece_id && is_special_id (self, v[body + 1]))
        g_array_remove_index (ids, body);
    }
  else
    encode_text (self, text, len, ids);

  if (specials)
    g_array_append_vals (ids, self->suffix_ids->data, self->suffix_ids->len);
  if ((flags & ATS_TOKENIZE_FORCE_BOS) && self->bos_id >= 0 &&
      (ids->len == 0 || g_array_index (ids, gint32, 0) != self->bos_id))
    g_array_prepend_val (ids, self->bos_id);

  *n_ids = ids->len;
  return (gint32 *) g_array_free (ids, FALSE);
}

/* ---- pieces ------------------------------------------------------------------------------ */

static gboolean
is_added_id (AtsTokenizer *self, gint32 id, const char **content)
{
  guint index = GPOINTER_TO_UINT (g_hash_table_lookup (self->added_ids, GINT_TO_POINTER (id)));

  if (index == 0)
    return FALSE;
  *content = g_array_index (self->added, AddedToken, index - 1).content;
  return TRUE;
}

char *
ats_tokenizer_decode_piece (AtsTokenizer *self, gint32 id)
{
  g_return_val_if_fail (self != NULL, NULL);

  const char *token = _ats_bpe_id_to_token (self->bpe, id);
  GString    *out = g_string_new (NULL);

  if (token == NULL)
    {
      g_string_printf (out, "<id %d>", id);
      return g_string_free (out, FALSE);
    }
  if (is_added_id (self, id, &token))
    {
      _ats_append_escaped_utf8 (out, token, strlen (token));
      return g_string_free (out, FALSE);
    }

  if (self->byte_level)
    {
      GString *bytes = g_string_new (NULL);
      for (const char *p = token; *p; p = g_utf8_next_char (p))
        {
          int b = _ats_unichar_to_byte (g_utf8_get_char (p));
          if (b >= 0)
            g_string_append_c (bytes, (char) b);
          else
            g_string_append_len (bytes, p, g_utf8_next_char (p) - p);
        }
      _ats_append_escaped_utf8 (out, bytes->str, bytes->len);
      g_string_free (bytes, TRUE);
      return g_string_free (out, FALSE);
    }

  guint byte;
  if (_ats_bpe_get_byte_fallback (self->bpe) && strlen (token) == 6 &&
      sscanf (token, "<0x%2X>", &byte) == 1 && token[5] == '>')
    {
      char b = (char) byte;
      _ats_append_escaped_utf8 (out, &b, 1);
      return g_string_free (out, FALSE);
    }
  /* SentencePiece: U+2581 stands for a space. */
  for (const char *p = token; *p;)
    if (g_str_has_prefix (p, SPIECE_UNDERLINE))
      {
        g_string_append_c (out, ' ');
        p += strlen (SPIECE_UNDERLINE);
      }
    else
      g_string_append_c (out, *p++);
  return g_string_free (out, FALSE);
}

guint
ats_tokenizer_get_vocab_size (AtsTokenizer *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return _ats_bpe_get_n_ids (self->bpe);
}

gint32
ats_tokenizer_get_bos_id (AtsTokenizer *self)
{
  g_return_val_if_fail (self != NULL, -1);
  return self->bos_id;
}

gint32
ats_tokenizer_get_eos_id (AtsTokenizer *self)
{
  g_return_val_if_fail (self != NULL, -1);
  return self->eos_id;
}

gint32
ats_tokenizer_token_to_id (AtsTokenizer *self, const char *token)
{
  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (token != NULL, -1);
  return lookup_token (self, token);
}

gboolean
ats_tokenizer_is_special (AtsTokenizer *self, gint32 id)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return is_special_id (self, id);
}
