/* ats-tokenizer-private.h — internals shared by the tokenizer sources
 *
 * ats-tokenizer.c      loading (tokenizer.json, tokenizer_config.json, vocab.json + merges.txt),
 *                      added tokens, normalizers, post-processing, pieces
 * ats-tokenizer-bpe.c  the BPE model: vocabulary, merge ranks, merge loop, word cache
 * ats-tokenizer-json.c streaming reader for model.vocab / model.merges (the other members of
 *                      tokenizer.json go through json-glib)
 * ats-pretokenize.c    pre-tokenizer splitting (GPT-2 / Llama 3 / Qwen2 patterns, GRegex for
 *                      other patterns), character classes, the GPT-2 byte <-> unicode table
 *
 * Semantics follow the Hugging Face tokenizers pipeline as transformers.js implements it
 * (that is our conformance reference): regular expressions behave like JavaScript's with the
 * `u` flag (\s is JavaScript's white space set, \p{L} and \p{N} are Unicode categories).
 */
#pragma once

#include <glib.h>

#include "attnscope/ats-tokenizer.h"

G_BEGIN_DECLS

/* ---- string -> integer map (open addressing; keys copied into an arena) ---------------- */

typedef struct _AtsStrMap AtsStrMap;

AtsStrMap *_ats_str_map_new (guint expected);
void       _ats_str_map_free (AtsStrMap *map);
void       _ats_str_map_clear (AtsStrMap *map);
guint      _ats_str_map_size (const AtsStrMap *map);
/* Inserts or replaces; @value must be >= 0. */
void _ats_str_map_insert (AtsStrMap *map, const char *key, gsize len, gint32 value);
/* The value of @key, or -1. */
gint32 _ats_str_map_lookup (const AtsStrMap *map, const char *key, gsize len);

/* ---- BPE model --------------------------------------------------------------------------- */

typedef struct _AtsBpe AtsBpe;

/* Takes the vocabulary (token -> id); ids may have holes. */
AtsBpe *_ats_bpe_new (void);
void    _ats_bpe_free (AtsBpe *bpe);
/* Adds a vocabulary entry (also used for added tokens, as transformers.js does). */
void _ats_bpe_add_token (AtsBpe *bpe, const char *token, gsize len, gint32 id);
typedef enum
{
  _ATS_MERGE_OK,
  _ATS_MERGE_LEFT_UNKNOWN,   /* the left token is not in the vocabulary */
  _ATS_MERGE_RIGHT_UNKNOWN,  /* the right token is not in the vocabulary */
  _ATS_MERGE_RESULT_UNKNOWN, /* their concatenation is not in the vocabulary */
} AtsMergeStatus;

/* Adds the merge of rank @rank (a repeated pair keeps its last rank). */
AtsMergeStatus _ats_bpe_add_merge (AtsBpe     *bpe,
                                   const char *left,
                                   gsize       left_len,
                                   const char *right,
                                   gsize       right_len,
                                   guint32     rank);
/* Call once the vocabulary is complete (byte tables, unk id). */
void   _ats_bpe_set_options (AtsBpe     *bpe,
                             gboolean    byte_level,
                             gboolean    byte_fallback,
                             gboolean    fuse_unk,
                             gboolean    ignore_merges,
                             const char *unk_token);
gint32 _ats_bpe_lookup (AtsBpe *bpe, const char *token, gsize len);
/* The stored string of @id (NULL for holes / out of range). */
const char *_ats_bpe_id_to_token (AtsBpe *bpe, gint32 id);
guint       _ats_bpe_get_n_ids (AtsBpe *bpe);
gint32      _ats_bpe_get_unk_id (AtsBpe *bpe);
gboolean    _ats_bpe_get_byte_fallback (AtsBpe *bpe);
gboolean    _ats_bpe_get_fuse_unk (AtsBpe *bpe);
/* Encodes one pre-token (raw UTF-8 bytes; mapped to byte-level characters when the model is
 * byte-level) and appends its ids to @out. Thread-safe (the word cache is locked). */
void _ats_bpe_encode_word (AtsBpe *bpe, const char *word, gsize len, GArray *out);

/* ---- tokenizer.json reading (ats-tokenizer-json.c) --------------------------------------- */

typedef struct _AtsSpan AtsSpan;

/* Called for each merge; @right is NULL for the "left right" string form (then @left holds
 * the whole string). */
typedef gboolean (*AtsMergeFunc) (gpointer    user_data,
                                  guint       rank,
                                  const char *left,
                                  gsize       left_len,
                                  const char *right,
                                  gsize       right_len,
                                  GError    **error);

char *_ats_json_split_tokenizer (const char *source,
                                 const char *text,
                                 gsize       len,
                                 AtsSpan    *vocab,
                                 AtsSpan    *merges,
                                 GError    **error);
gboolean
_ats_json_read_vocab (const char *source, const char *text, gsize len, AtsBpe *bpe, GError **error);
gboolean _ats_json_read_merges (const char  *source,
                                const char  *text,
                                gsize        len,
                                AtsMergeFunc add,
                                gpointer     user_data,
                                GError     **error);

/* ---- pre-tokenizer splitting ------------------------------------------------------------- */

struct _AtsSpan
{
  gsize start;
  gsize len;
};

typedef enum
{
  _ATS_SPLIT_GPT2, /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
  _ATS_SPLIT_LLAMA3, /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                        ?[^\s\p{L}\p{N}]+[\r\n]*|... */
  _ATS_SPLIT_QWEN2,  /* as Llama 3 with \p{N} (one digit per piece) */
  _ATS_SPLIT_REGEX,  /* any other pattern: GRegex (PCRE2) */
  _ATS_SPLIT_STRING, /* a literal string */
} AtsSplitKind;

typedef struct
{
  AtsSplitKind kind;
  GRegex      *regex;   /* _ATS_SPLIT_REGEX */
  char        *literal; /* _ATS_SPLIT_STRING */
  gboolean     invert;  /* keep only the matches */
  gboolean     removed; /* behavior "Removed": drop the matches */
} AtsSplitter;

/* Builds a splitter from a tokenizer.json pattern; the known patterns get the hand-written
 * matcher unless ATS_TOKENIZER_FORCE_GREGEX is set in the environment. */
AtsSplitter *_ats_splitter_new_regex (const char *pattern, GError **error);
AtsSplitter *_ats_splitter_new_string (const char *literal);
AtsSplitter *_ats_splitter_new_known (AtsSplitKind kind);
void         _ats_splitter_free (AtsSplitter *splitter);
/* Splits text[span] and appends the resulting spans (offsets into @text) to @out. */
void _ats_splitter_split (const AtsSplitter *splitter, const char *text, AtsSpan span, GArray *out);
const char *_ats_split_pattern_source (AtsSplitKind kind);

/* JavaScript's \s (also what String.prototype.trim removes). */
gboolean _ats_unichar_is_js_space (gunichar c);

/* GPT-2 byte <-> unicode table: the code point standing for byte @b, and the inverse
 * (-1 for code points that stand for no byte). */
gunichar _ats_byte_to_unichar (guint8 b);
int      _ats_unichar_to_byte (gunichar c);

/* Appends @bytes to @out as UTF-8: valid sequences as they are, every other byte as \xNN. */
void _ats_append_escaped_utf8 (GString *out, const char *bytes, gsize len);

G_END_DECLS
