/* ats-tokenizer-json.c — fast reading of the big members of tokenizer.json
 *
 * A tokenizer.json is ~99 % model.vocab and model.merges (10 MB for Qwen3 / Llama 3). Building
 * a json-glib tree of those costs most of a second, so this scanner splits the file: the
 * vocabulary and the merges are streamed straight into the BPE model, and everything else is
 * re-assembled into a small JSON text that json-glib parses as usual.
 */
#include <string.h>

#include "ats-tokenizer-private.h"

typedef struct
{
  const char *base;
  const char *p;
  const char *end;
  const char *source;
  GError    **error;
} Scan;

static gboolean
scan_fail (Scan *s, const char *what)
{
  guint line = 1, column = 1;

  for (const char *q = s->base; q < s->p && q < s->end; q++)
    if (*q == '\n')
      {
        line++;
        column = 1;
      }
    else
      column++;
  g_set_error (s->error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT,
               "%s: invalid JSON at line %u, column %u: %s", s->source, line, column, what);
  return FALSE;
}

static inline void
skip_ws (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

static inline gboolean
expect (Scan *s, char c)
{
  skip_ws (s);
  if (s->p >= s->end || *s->p != c)
    {
      char what[32];
      g_snprintf (what, sizeof what, "expected '%c'", c);
      return scan_fail (s, what);
    }
  s->p++;
  return TRUE;
}

static int
hex4 (const char *p)
{
  int v = 0;

  for (int i = 0; i < 4; i++)
    {
      int d = g_ascii_xdigit_value (p[i]);
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

/* Reads a string at s->p (after white space) into @out (unescaped). */
static gboolean
read_string (Scan *s, GString *out)
{
  skip_ws (s);
  if (s->p >= s->end || *s->p != '"')
    return scan_fail (s, "expected a string");
  s->p++;
  g_string_truncate (out, 0);
  for (;;)
    {
      const char *q = s->p;
      while (q < s->end && *q != '"' && *q != '\\' && (guchar) *q >= 0x20)
        q++;
      g_string_append_len (out, s->p, q - s->p);
      s->p = q;
      if (q >= s->end)
        return scan_fail (s, "unterminated string");
      if (*q == '"')
        {
          s->p++;
          return TRUE;
        }
      if ((guchar) *q < 0x20)
        return scan_fail (s, "control character in a string");
      /* an escape */
      if (q + 1 >= s->end)
        return scan_fail (s, "unterminated string");
      char c = q[1];
      s->p = q + 2;
      switch (c)
        {
        case '"':
          g_string_append_c (out, '"');
          break;
        case '\\':
          g_string_append_c (out, '\\');
          break;
        case '/':
          g_string_append_c (out, '/');
          break;
        case 'b':
          g_string_append_c (out, '\b');
          break;
        case 'f':
          g_string_append_c (out, '\f');
          break;
        case 'n':
          g_string_append_c (out, '\n');
          break;
        case 'r':
          g_string_append_c (out, '\r');
          break;
        case 't':
          g_string_append_c (out, '\t');
          break;
        case 'u':
          {
            int u = s->end - s->p >= 4 ? hex4 (s->p) : -1;
            if (u < 0)
              return scan_fail (s, "bad \\u escape");
            s->p += 4;
            gunichar ch = u;
            if (u >= 0xd800 && u < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' &&
                s->p[1] == 'u')
              {
                int lo = hex4 (s->p + 2);
                if (lo >= 0xdc00 && lo < 0xe000)
                  {
                    ch = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                    s->p += 6;
                  }
              }
            if (ch >= 0xd800 && ch < 0xe000)
              ch = 0xfffd; /* lone surrogate */
            g_string_append_unichar (out, ch);
            break;
          }
        default:
          return scan_fail (s, "bad escape in a string");
        }
    }
}

/* Skips any value; checks the nesting and the strings, not every detail of numbers. */
static gboolean
skip_value (Scan *s)
{
  int      depth = 0;
  GString *tmp = NULL;

  skip_ws (s);
  const char *start = s->p;
  if (s->p >= s->end)
    return scan_fail (s, "expected a value");
  do
    {
      skip_ws (s);
      if (s->p >= s->end)
        {
          if (tmp)
            g_string_free (tmp, TRUE);
          return scan_fail (s, "unexpected end of file");
        }
      char c = *s->p;
      if (c == '{' || c == '[')
        {
          depth++;
          s->p++;
        }
      else if (c == '}' || c == ']')
        {
          if (depth == 0)
            break;
          depth--;
          s->p++;
        }
      else if (c == '"')
        {
          if (tmp == NULL)
            tmp = g_string_new (NULL);
          if (!read_string (s, tmp))
            {
              g_string_free (tmp, TRUE);
              return FALSE;
            }
        }
      else if (c == ',' || c == ':')
        {
          if (depth == 0)
            break;
          s->p++;
        }
      else
        {
          const char *q = s->p;
          while (q < s->end && (g_ascii_isalnum (*q) || *q == '-' || *q == '+' || *q == '.'))
            q++;
          if (q == s->p)
            {
              if (tmp)
                g_string_free (tmp, TRUE);
              return scan_fail (s, "unexpected character");
            }
          s->p = q;
        }
    }
  while (depth > 0);
  if (tmp)
    g_string_free (tmp, TRUE);
  if (s->p == start)
    return scan_fail (s, "expected a value");
  return TRUE;
}

static void
append_raw_member (GString *json, const char *key, const char *start, const char *end)
{
  if (json->len > 1)
    g_string_append_c (json, ',');
  g_string_append_c (json, '"');
  for (const char *k = key; *k; k++)
    {
      if (*k == '"' || *k == '\\')
        g_string_append_c (json, '\\');
      g_string_append_c (json, *k);
    }
  g_string_append (json, "\":");
  g_string_append_len (json, start, end - start);
}

gboolean
_ats_json_read_vocab (const char *source, const char *text, gsize len, AtsBpe *bpe, GError **error)
{
  Scan     s = { text, text, text + len, source, error };
  GString *key = g_string_new (NULL);
  gboolean ok = FALSE;

  if (!expect (&s, '{'))
    goto out;
  skip_ws (&s);
  if (s.p < s.end && *s.p == '}')
    {
      ok = TRUE;
      goto out;
    }
  for (;;)
    {
      if (!read_string (&s, key) || !expect (&s, ':'))
        goto out;
      skip_ws (&s);
      gint64      id = 0;
      const char *q = s.p;
      while (q < s.end && g_ascii_isdigit (*q) && id <= G_MAXINT32)
        id = id * 10 + (*q++ - '0');
      if (q == s.p || id > G_MAXINT32 - 1 ||
          (q < s.end && (*q == '.' || *q == 'e' || *q == 'E' || g_ascii_isdigit (*q))))
        {
          g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT,
                       "%s: model.vocab: the id of token '%s' is not a non-negative integer",
                       source, key->str);
          goto out;
        }
      s.p = q;
      _ats_bpe_add_token (bpe, key->str, key->len, (gint32) id);
      skip_ws (&s);
      if (s.p < s.end && *s.p == ',')
        {
          s.p++;
          continue;
        }
      if (!expect (&s, '}'))
        goto out;
      break;
    }
  ok = TRUE;
out:
  g_string_free (key, TRUE);
  return ok;
}

/* Calls @add for every merge: "left right" strings are split at their only space. */
gboolean
_ats_json_read_merges (const char  *source,
                       const char  *text,
                       gsize        len,
                       AtsMergeFunc add,
                       gpointer     user_data,
                       GError     **error)
{
  Scan     s = { text, text, text + len, source, error };
  GString *a = g_string_new (NULL), *b = g_string_new (NULL);
  gboolean ok = FALSE;
  guint    rank = 0;

  if (!expect (&s, '['))
    goto out;
  skip_ws (&s);
  if (s.p < s.end && *s.p == ']')
    {
      ok = TRUE;
      goto out;
    }
  for (;; rank++)
    {
      skip_ws (&s);
      if (s.p < s.end && *s.p == '[')
        {
          s.p++;
          if (!read_string (&s, a) || !expect (&s, ',') || !read_string (&s, b) ||
              !expect (&s, ']'))
            goto out;
          if (!add (user_data, rank, a->str, a->len, b->str, b->len, error))
            goto out;
        }
      else if (s.p < s.end && *s.p == '"')
        {
          if (!read_string (&s, a))
            goto out;
          if (!add (user_data, rank, a->str, a->len, NULL, 0, error))
            goto out;
        }
      else
        {
          g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT,
                       "%s: model.merges[%u]: expected \"left right\" or [left, right]", source,
                       rank);
          goto out;
        }
      skip_ws (&s);
      if (s.p < s.end && *s.p == ',')
        {
          s.p++;
          continue;
        }
      if (!expect (&s, ']'))
        goto out;
      break;
    }
  ok = TRUE;
out:
  g_string_free (a, TRUE);
  g_string_free (b, TRUE);
  return ok;
}

/* Splits tokenizer.json: returns the JSON text of everything but model.vocab and
 * model.merges, and the spans of those two values (start NULL when absent). */
char *
_ats_json_split_tokenizer (const char *source,
                           const char *text,
                           gsize       len,
                           AtsSpan    *vocab,
                           AtsSpan    *merges,
                           GError    **error)
{
  Scan     s = { text, text, text + len, source, error };
  GString *json = g_string_new ("{");
  GString *key = g_string_new (NULL);
  GString *model = NULL;

  vocab->start = merges->start = G_MAXSIZE;
  vocab->len = merges->len = 0;
  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT,
                   "%s: the file is not valid UTF-8", source);
      goto fail;
    }
  skip_ws (&s);
  if (s.p >= s.end || *s.p != '{')
    {
      g_set_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT,
                   "%s: the top level is not a JSON object", source);
      goto fail;
    }
  s.p++;
  skip_ws (&s);
  if (s.p < s.end && *s.p == '}')
    s.p++;
  else
    for (;;)
      {
        if (!read_string (&s, key) || !expect (&s, ':'))
          goto fail;
        skip_ws (&s);
        const char *vs = s.p;
        if (strcmp (key->str, "model") == 0 && s.p < s.end && *s.p == '{')
          {
            GString *mkey = g_string_new (NULL);
            model = g_string_new ("{");
            s.p++;
            skip_ws (&s);
            if (s.p < s.end && *s.p == '}')
              s.p++;
            else
              for (;;)
                {
                  if (!read_string (&s, mkey) || !expect (&s, ':'))
                    {
                      g_string_free (mkey, TRUE);
                      goto fail;
                    }
                  skip_ws (&s);
                  const char *ms = s.p;
                  if (!skip_value (&s))
                    {
                      g_string_free (mkey, TRUE);
                      goto fail;
                    }
                  AtsSpan span = { ms - text, s.p - ms };
                  if (strcmp (mkey->str, "vocab") == 0 && *ms == '{')
                    *vocab = span;
                  else if (strcmp (mkey->str, "merges") == 0 && *ms == '[')
                    *merges = span;
                  else
                    append_raw_member (model, mkey->str, ms, s.p);
                  skip_ws (&s);
                  if (s.p < s.end && *s.p == ',')
                    {
                      s.p++;
                      continue;
                    }
                  if (!expect (&s, '}'))
                    {
                      g_string_free (mkey, TRUE);
                      goto fail;
                    }
                  break;
                }
            g_string_free (mkey, TRUE);
            g_string_append_c (model, '}');
            append_raw_member (json, "model", model->str, model->str + model->len);
            g_string_free (model, TRUE);
            model = NULL;
          }
        else
          {
            if (!skip_value (&s))
              goto fail;
            append_raw_member (json, key->str, vs, s.p);
          }
        skip_ws (&s);
        if (s.p < s.end && *s.p == ',')
          {
            s.p++;
            continue;
          }
        if (!expect (&s, '}'))
          goto fail;
        break;
      }
  skip_ws (&s);
  if (s.p != s.end)
    {
      scan_fail (&s, "trailing data after the top-level object");
      goto fail;
    }
  g_string_append_c (json, '}');
  g_string_free (key, TRUE);
  return g_string_free (json, FALSE);

fail:
  if (model)
    g_string_free (model, TRUE);
  g_string_free (key, TRUE);
  g_string_free (json, TRUE);
  return NULL;
}
