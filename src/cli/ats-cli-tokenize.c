/* ats-cli-tokenize.c — attnscope-cli tokenize: one JSON array of ids (or pieces) per input line
 *
 *   attnscope-cli tokenize (--model DIR | --tokenizer FILE) [--no-special] [--pieces] < lines
 *
 * Lines are split on '\n' only (a '\r' before it belongs to the line). A line that is not
 * valid UTF-8 stops the command with an error naming the line number and exit status 1.
 */
#define _GNU_SOURCE /* getline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnscope/ats-tokenizer.h"
#include "ats-cli.h"

static void
append_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++)
    switch (*p)
      {
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      case '\r':
        g_string_append (out, "\\r");
        break;
      case '\t':
        g_string_append (out, "\\t");
        break;
      default:
        if (*p < 0x20 || *p == 0x7f)
          g_string_append_printf (out, "\\u%04x", *p);
        else
          g_string_append_c (out, *p);
      }
  g_string_append_c (out, '"');
}

int
ats_cli_tokenize_main (int argc, char **argv)
{
  g_autofree char *model_dir = NULL;
  g_autofree char *tokenizer_file = NULL;
  gboolean         no_special = FALSE;
  gboolean         pieces = FALSE;
  GOptionEntry     entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir,
          "Model folder (tokenizer.json, or vocab.json + merges.txt)", "DIR" },
        { "tokenizer", 't', 0, G_OPTION_ARG_FILENAME, &tokenizer_file, "A tokenizer.json file",
          "FILE" },
        { "no-special", 0, 0, G_OPTION_ARG_NONE, &no_special, "Do not add BOS/EOS tokens", NULL },
        { "pieces", 0, 0, G_OPTION_ARG_NONE, &pieces, "Print the readable pieces instead of ids",
          NULL },
        { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("< LINES");
  g_autoptr (GError) error = NULL;

  g_option_context_set_summary (context,
                                "Tokenize UTF-8 lines from standard input; print one JSON array "
                                "of token ids (or pieces) per line.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      ats_cli_fail ("tokenize: %s", error->message);
      return 2;
    }
  if ((model_dir == NULL) == (tokenizer_file == NULL))
    {
      ats_cli_fail ("tokenize: give exactly one of --model DIR or --tokenizer FILE");
      return 2;
    }
  if (argc > 1)
    {
      ats_cli_fail ("tokenize: unexpected argument '%s' (text is read from standard input)",
                    argv[1]);
      return 2;
    }

  g_autoptr (AtsTokenizer) tok = model_dir ? ats_tokenizer_load_for_model (model_dir, &error)
                                           : ats_tokenizer_load (tokenizer_file, &error);
  if (tok == NULL)
    return ats_cli_fail ("%s", error->message);

  AtsTokenizeFlags flags = no_special ? ATS_TOKENIZE_NO_SPECIAL : ATS_TOKENIZE_DEFAULT;
  g_autoptr (GString) out = g_string_sized_new (65536);
  guint64 line_no = 0;
  char   *line = NULL;
  size_t  cap = 0;
  ssize_t n;
  int     status = 0;

  while ((n = getline (&line, &cap, stdin)) >= 0)
    {
      line_no++;
      if (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
      if ((size_t) n != strlen (line) || !g_utf8_validate_len (line, n, NULL))
        {
          status = ats_cli_fail ("tokenize: line %" G_GUINT64_FORMAT " of the input is not valid "
                                 "UTF-8 text",
                                 line_no);
          break;
        }

      guint              n_ids = 0;
      g_autofree gint32 *ids = ats_tokenizer_encode (tok, line, flags, &n_ids, &error);
      if (ids == NULL)
        {
          status =
              ats_cli_fail ("tokenize: line %" G_GUINT64_FORMAT ": %s", line_no, error->message);
          break;
        }
      g_string_append_c (out, '[');
      for (guint i = 0; i < n_ids; i++)
        {
          if (i > 0)
            g_string_append_c (out, ',');
          if (pieces)
            {
              g_autofree char *piece = ats_tokenizer_decode_piece (tok, ids[i]);
              append_json_string (out, piece);
            }
          else
            g_string_append_printf (out, "%d", ids[i]);
        }
      g_string_append (out, "]\n");
      if (out->len > 60000)
        {
          fwrite (out->str, 1, out->len, stdout);
          g_string_truncate (out, 0);
        }
    }
  free (line);
  fwrite (out->str, 1, out->len, stdout);
  if (fflush (stdout) != 0 && status == 0)
    status = ats_cli_fail ("tokenize: cannot write the output");
  return status;
}
