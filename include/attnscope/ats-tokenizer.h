/* ats-tokenizer.h — Hugging Face compatible tokenizers (BPE: ByteLevel and SentencePiece-style)
 *
 * Token-for-token equal to the Hugging Face tokenizers library on tokenizer.json files, and on
 * GPT-2's legacy vocab.json + merges.txt pair. Owned by the tokenizer work (issue 3).
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-error.h"

G_BEGIN_DECLS

typedef struct _AtsTokenizer AtsTokenizer;

typedef enum
{
  ATS_TOKENIZE_DEFAULT = 0,         /* BOS/EOS per tokenizer_config.json */
  ATS_TOKENIZE_NO_SPECIAL = 1 << 0, /* never add BOS/EOS */
  ATS_TOKENIZE_FORCE_BOS = 1 << 1,  /* always add BOS (if the tokenizer has one) */
} AtsTokenizeFlags;

/* A model folder: tokenizer.json (+ tokenizer_config.json), or vocab.json + merges.txt. */
AtsTokenizer *ats_tokenizer_load_for_model (const char *dir, GError **error);
/* A tokenizer.json file (tokenizer_config.json beside it is read if present). */
AtsTokenizer *ats_tokenizer_load (const char *path, GError **error);
/* The legacy GPT-2 pair (vocab.json + merges.txt, a.k.a. encoder.json + vocab.bpe): ByteLevel
 * BPE with the GPT-2 split pattern and <|endoftext|> as a special token. */
AtsTokenizer *
ats_tokenizer_load_bpe_files (const char *vocab_path, const char *merges_path, GError **error);
AtsTokenizer *ats_tokenizer_ref (AtsTokenizer *self);
void          ats_tokenizer_unref (AtsTokenizer *self);
/* Encodes UTF-8 @text; invalid UTF-8 -> ATS_TOKENIZER_ERROR_INPUT. Returns [n] ids (g_free). */
gint32 *ats_tokenizer_encode (AtsTokenizer    *self,
                              const char      *text,
                              AtsTokenizeFlags flags,
                              guint           *n_ids,
                              GError         **error);
/* The readable piece of @id: always valid UTF-8 (partial byte sequences escaped as \xNN).
 * Byte-level pieces are shown as the text of their bytes, SentencePiece's U+2581 as a space,
 * <0xNN> byte-fallback tokens as their byte, added tokens as they are written; an id outside
 * the vocabulary gives "<id N>". */
char *ats_tokenizer_decode_piece (AtsTokenizer *self, gint32 id);
/* Highest id + 1 (vocabulary and added tokens). */
guint ats_tokenizer_get_vocab_size (AtsTokenizer *self);
/* BOS / EOS ids from tokenizer_config.json (-1 when the tokenizer has none). */
gint32 ats_tokenizer_get_bos_id (AtsTokenizer *self);
gint32 ats_tokenizer_get_eos_id (AtsTokenizer *self);
/* The id of a vocabulary or added token given as its stored string, or -1. */
gint32 ats_tokenizer_token_to_id (AtsTokenizer *self, const char *token);
/* TRUE for special added tokens (BOS, EOS, <|im_start|>, ...). */
gboolean ats_tokenizer_is_special (AtsTokenizer *self, gint32 id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsTokenizer, ats_tokenizer_unref)

G_END_DECLS
