/* ats-pretokenize.c — pre-tokenizer splitting, character classes, the byte-level table
 *
 * The three split patterns that real ByteLevel BPE tokenizers ship (GPT-2, Llama 3, Qwen2/3)
 * are recognised by their source text and run by a hand-written matcher that reproduces the
 * backtracking of a JavaScript `u`-flag regular expression exactly (transformers.js is our
 * conformance reference), at a fraction of the cost of a regex engine. Any other pattern is
 * compiled with GRegex (PCRE2).
 */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "ats-tokenizer-private.h"

/* The split patterns exactly as tokenizer.json files spell them. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *
_ats_split_pattern_source (AtsSplitKind kind)
{
  switch (kind)
    {
    case _ATS_SPLIT_GPT2:
      return gpt2_pattern;
    case _ATS_SPLIT_LLAMA3:
      return llama3_pattern;
    case _ATS_SPLIT_QWEN2:
      return qwen2_pattern;
    case _ATS_SPLIT_REGEX:
    case _ATS_SPLIT_STRING:
    default:
      return NULL;
    }
}

/* ---- character classes ------------------------------------------------------------------ */

enum
{
  CC_L = 1 << 0,    /* \p{L} */
  CC_N = 1 << 1,    /* \p{N} */
  CC_S = 1 << 2,    /* JavaScript \s */
  CC_CRLF = 1 << 3, /* \r or \n */
};

gboolean
_ats_unichar_is_js_space (gunichar c)
{
  switch (c)
    {
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x20:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
    case 0xfeff:
      return TRUE;
    default:
      return c >= 0x2000 && c <= 0x200a;
    }
}

static guint8 ascii_class[128];

static void
init_ascii_class (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      for (guint c = 0; c < 128; c++)
        {
          guint8 k = 0;
          if (g_ascii_isalpha (c))
            k |= CC_L;
          if (g_ascii_isdigit (c))
            k |= CC_N;
          if (_ats_unichar_is_js_space (c))
            k |= CC_S;
          if (c == '\r' || c == '\n')
            k |= CC_CRLF;
          ascii_class[c] = k;
        }
      g_once_init_leave (&done, 1);
    }
}

static inline guint
char_class (gunichar c)
{
  if (c < 128)
    return ascii_class[c];
  switch (g_unichar_type (c))
    {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
      return CC_L;
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return CC_N;
    default:
      return _ats_unichar_is_js_space (c) ? CC_S : 0;
    }
}

/* The class of the character at @p (p < end) and the offset after it. Input is valid UTF-8. */
static inline guint
class_at (const char *text, gsize p, gsize *next)
{
  guchar b = (guchar) text[p];

  if (b < 0x80)
    {
      *next = p + 1;
      return ascii_class[b];
    }
  gunichar c = g_utf8_get_char (text + p);
  *next = (const char *) g_utf8_next_char (text + p) - text;
  return char_class (c);
}

/* "Punctuation" of the patterns: [^\s\p{L}\p{N}] */
#define IS_P(k) (((k) & (CC_L | CC_N | CC_S)) == 0)

/* Extends a run of characters whose class satisfies @mask from @p; returns its end. */
static inline gsize
run_of (const char *text, gsize p, gsize end, guint mask)
{
  while (p < end)
    {
      gsize n;
      if (!(class_at (text, p, &n) & mask))
        break;
      p = n;
    }
  return p;
}

static inline gsize
run_of_punct (const char *text, gsize p, gsize end)
{
  while (p < end)
    {
      gsize n;
      if (!IS_P (class_at (text, p, &n)))
        break;
      p = n;
    }
  return p;
}

static inline gsize
run_of_crlf (const char *text, gsize p, gsize end)
{
  while (p < end && (text[p] == '\r' || text[p] == '\n'))
    p++;
  return p;
}

/* 's 't 're 've 'm 'll 'd after the apostrophe at @p; returns the match end or 0. */
static inline gsize
match_contraction (const char *text, gsize p, gsize end, gboolean ignore_case)
{
  if (p + 1 >= end)
    return 0;
  char a = text[p + 1];
  char b = p + 2 < end ? text[p + 2] : 0;
  if (ignore_case)
    {
      a = g_ascii_tolower (a);
      b = g_ascii_tolower (b);
    }
  switch (a)
    {
    case 's':
    case 't':
    case 'm':
    case 'd':
      return p + 2;
    case 'r':
    case 'v':
      return b == 'e' ? p + 3 : 0;
    case 'l':
      return b == 'l' ? p + 3 : 0;
    default:
      return 0;
    }
}

/* \s+(?!\S) | \s+ for a white space run starting at @p. */
static inline gsize
match_space_tail (const char *text, gsize p, gsize end)
{
  gsize q = p, last = p;

  while (q < end)
    {
      gsize n;
      if (!(class_at (text, q, &n) & CC_S))
        break;
      last = q;
      q = n;
    }
  if (q == end)
    return q;
  /* Followed by a non-space: give the last space back to the next piece, unless it is the
   * only one (then the plain \s+ alternative takes it). */
  return last > p ? last : q;
}

static gsize
match_gpt2 (const char *text, gsize p, gsize end)
{
  gsize p1;
  guint k0 = class_at (text, p, &p1);

  if (text[p] == '\'')
    {
      gsize q = match_contraction (text, p, end, FALSE);
      if (q)
        return q;
    }
  if (text[p] == ' ' && p1 < end)
    {
      gsize p2;
      guint k1 = class_at (text, p1, &p2);
      if (k1 & CC_L)
        return run_of (text, p2, end, CC_L);
      if (k1 & CC_N)
        return run_of (text, p2, end, CC_N);
      if (IS_P (k1))
        return run_of_punct (text, p2, end);
    }
  if (k0 & CC_L)
    return run_of (text, p1, end, CC_L);
  if (k0 & CC_N)
    return run_of (text, p1, end, CC_N);
  if (IS_P (k0))
    return run_of_punct (text, p1, end);
  return match_space_tail (text, p, end);
}

static gsize
match_llama3 (const char *text, gsize p, gsize end, guint max_digits)
{
  gsize p1;
  guint k0 = class_at (text, p, &p1);

  /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
  if (text[p] == '\'')
    {
      gsize q = match_contraction (text, p, end, TRUE);
      if (q)
        return q;
    }
  /* [^\r\n\p{L}\p{N}]?\p{L}+ */
  if (!(k0 & (CC_CRLF | CC_L | CC_N)) && p1 < end)
    {
      gsize p2;
      if (class_at (text, p1, &p2) & CC_L)
        return run_of (text, p2, end, CC_L);
    }
  if (k0 & CC_L)
    return run_of (text, p1, end, CC_L);
  /* \p{N}{1,max} */
  if (k0 & CC_N)
    {
      gsize q = p1;
      for (guint i = 1; i < max_digits && q < end; i++)
        {
          gsize n;
          if (!(class_at (text, q, &n) & CC_N))
            break;
          q = n;
        }
      return q;
    }
  /* ` ?[^\s\p{L}\p{N}]+[\r\n]*` */
  if (text[p] == ' ' && p1 < end)
    {
      gsize p2;
      if (IS_P (class_at (text, p1, &p2)))
        return run_of_crlf (text, run_of_punct (text, p2, end), end);
    }
  if (IS_P (k0))
    return run_of_crlf (text, run_of_punct (text, p1, end), end);

  /* k0 is white space: \s*[\r\n]+ takes the run up to its last line break, if any. */
  gsize    q = p, last_crlf = 0;
  gboolean has_crlf = FALSE;
  while (q < end)
    {
      gsize n;
      guint k = class_at (text, q, &n);
      if (!(k & CC_S))
        break;
      if (k & CC_CRLF)
        {
          has_crlf = TRUE;
          last_crlf = q;
        }
      q = n;
    }
  if (has_crlf)
    return last_crlf + 1;
  /* \s+(?!\S) | \s+ */
  return match_space_tail (text, p, end);
}

/* ---- splitters --------------------------------------------------------------------------- */

AtsSplitter *
_ats_splitter_new_known (AtsSplitKind kind)
{
  AtsSplitter *self = g_new0 (AtsSplitter, 1);

  init_ascii_class ();
  self->kind = kind;
  return self;
}

AtsSplitter *
_ats_splitter_new_regex (const char *pattern, GError **error)
{
  static const AtsSplitKind known[] = { _ATS_SPLIT_GPT2, _ATS_SPLIT_LLAMA3, _ATS_SPLIT_QWEN2 };

  init_ascii_class ();
  if (g_getenv ("ATS_TOKENIZER_FORCE_GREGEX") == NULL)
    for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
      if (strcmp (pattern, _ats_split_pattern_source (known[i])) == 0)
        return _ats_splitter_new_known (known[i]);

  g_autoptr (GError) local_error = NULL;
  GRegex *regex = g_regex_new (pattern, G_REGEX_OPTIMIZE, 0, &local_error);
  if (regex == NULL)
    {
      g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_UNSUPPORTED,
                   "split pattern '%s' cannot be compiled: %s", pattern, local_error->message);
      return NULL;
    }
  AtsSplitter *self = g_new0 (AtsSplitter, 1);
  self->kind = _ATS_SPLIT_REGEX;
  self->regex = regex;
  return self;
}

AtsSplitter *
_ats_splitter_new_string (const char *literal)
{
  AtsSplitter *self = g_new0 (AtsSplitter, 1);

  init_ascii_class ();
  self->kind = _ATS_SPLIT_STRING;
  self->literal = g_strdup (literal);
  return self;
}

void
_ats_splitter_free (AtsSplitter *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->regex, g_regex_unref);
  g_free (self->literal);
  g_free (self);
}

static inline void
push_span (GArray *out, gsize start, gsize len)
{
  if (len > 0)
    {
      AtsSpan s = { start, len };
      g_array_append_val (out, s);
    }
}

/* Emits a match [ms, me) found after the gap [prev, ms). */
static inline void
emit_match (const AtsSplitter *self, GArray *out, gsize prev, gsize ms, gsize me)
{
  if (!self->invert)
    push_span (out, prev, ms - prev);
  if (!self->removed || self->invert)
    push_span (out, ms, me - ms);
}

void
_ats_splitter_split (const AtsSplitter *self, const char *text, AtsSpan span, GArray *out)
{
  gsize p = span.start, end = span.start + span.len, prev = p;

  switch (self->kind)
    {
    case _ATS_SPLIT_GPT2:
    case _ATS_SPLIT_LLAMA3:
    case _ATS_SPLIT_QWEN2:
      /* Every character starts a match of these patterns, so there are no gaps. */
      while (p < end)
        {
          gsize q = self->kind == _ATS_SPLIT_GPT2     ? match_gpt2 (text, p, end)
                    : self->kind == _ATS_SPLIT_LLAMA3 ? match_llama3 (text, p, end, 3)
                                                      : match_llama3 (text, p, end, 1);
          emit_match (self, out, p, p, q);
          p = q;
        }
      return;

    case _ATS_SPLIT_STRING:
      {
        gsize n = strlen (self->literal);
        if (n == 0)
          break;
        while (p + n <= end)
          {
            const char *hit = memmem (text + p, end - p, self->literal, n);
            if (hit == NULL)
              break;
            gsize ms = hit - text;
            emit_match (self, out, prev, ms, ms + n);
            p = prev = ms + n;
          }
        break;
      }

    case _ATS_SPLIT_REGEX:
      {
        g_autoptr (GMatchInfo) info = NULL;
        g_regex_match_full (self->regex, text, end, p, 0, &info, NULL);
        while (g_match_info_matches (info))
          {
            int ms, me;
            g_match_info_fetch_pos (info, 0, &ms, &me);
            if (me > ms)
              {
                emit_match (self, out, prev, ms, me);
                prev = me;
              }
            if (!g_match_info_next (info, NULL))
              break;
          }
        break;
      }

    default:
      g_assert_not_reached ();
    }

  if (!self->invert)
    push_span (out, prev, end - prev);
}

/* ---- byte-level table -------------------------------------------------------------------- */

static gunichar byte_to_char[256];
static gint16   char_to_byte[324];

static void
init_byte_table (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      guint n = 0;
      for (guint c = 0; c < G_N_ELEMENTS (char_to_byte); c++)
        char_to_byte[c] = -1;
      for (guint b = 0; b < 256; b++)
        {
          gboolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
          byte_to_char[b] = printable ? b : 256 + n++;
          char_to_byte[byte_to_char[b]] = b;
        }
      g_once_init_leave (&done, 1);
    }
}

gunichar
_ats_byte_to_unichar (guint8 b)
{
  init_byte_table ();
  return byte_to_char[b];
}

int
_ats_unichar_to_byte (gunichar c)
{
  init_byte_table ();
  return c < G_N_ELEMENTS (char_to_byte) ? char_to_byte[c] : -1;
}

void
_ats_append_escaped_utf8 (GString *out, const char *bytes, gsize len)
{
  const char *p = bytes, *end = bytes + len;

  while (p < end)
    {
      const char *bad;
      if (g_utf8_validate_len (p, end - p, &bad))
        {
          g_string_append_len (out, p, end - p);
          return;
        }
      g_string_append_len (out, p, bad - p);
      if (*bad == '\0')
        g_string_append (out, "\\x00");
      else
        g_string_append_printf (out, "\\x%02X", (guchar) *bad);
      p = bad + 1;
    }
}
