/* ats-cli-capture.c — `attnscope-cli capture`: prompts -> forward pass -> HDF5 capture file
 *
 * One run per prompt; streaming diagnostics are computed during the pass and stored under
 * metrics/. Ctrl-C stops after marking the interrupted run incomplete; every finished run stays
 * readable. An existing output file is never replaced without --force.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-model.h"
#include "attnscope/ats-tokenizer.h"
#include "ats-cli.h"

static volatile sig_atomic_t interrupted = 0;

static void
on_sigint (int sig)
{
  interrupted = 1;
  signal (sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

typedef struct
{
  gboolean tty;
  guint    run;
  guint    n_runs;
  guint    n_tokens;
  gint64   start_us;
  int      last_percent;
} Progress;

static gboolean
on_progress (double fraction, gpointer user_data)
{
  Progress *p = user_data;
  if (interrupted)
    return FALSE;
  if (!p->tty)
    return TRUE;
  int percent = (int) (fraction * 100.0);
  if (percent == p->last_percent)
    return TRUE;
  p->last_percent = percent;
  double secs = (g_get_monotonic_time () - p->start_us) / 1e6;
  char   bar[31];
  int    fill = (int) (fraction * 30);
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[30] = 0;
  fprintf (stderr, "\r  run %u/%u  %u tokens  [%s] %3d%%  %.1fs   ", p->run + 1, p->n_runs,
           p->n_tokens, bar, percent, secs);
  fflush (stderr);
  return TRUE;
}

/* "1,2,3" -> ids */
static gint32 *
parse_ids (const char *text, guint *n, GError **error)
{
  g_auto (GStrv) parts = g_strsplit_set (text, ", ", -1);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0')
        continue;
      gint64 v;
      if (!g_ascii_string_to_signed (parts[i], 10, 0, G_MAXINT32, &v, NULL))
        {
          g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                       "--ids: \"%s\" is not a non-negative token id", parts[i]);
          g_array_free (ids, TRUE);
          return NULL;
        }
      gint32 id = v;
      g_array_append_val (ids, id);
    }
  *n = ids->len;
  return (gint32 *) g_array_free (ids, FALSE);
}

/* "0,2,5-7" or "all" -> mask of @n */
gboolean *
ats_cli_parse_index_spec (const char *spec, guint n, const char *what, GError **error)
{
  gboolean *mask = g_new0 (gboolean, n);
  if (spec == NULL || g_str_equal (spec, "all"))
    {
      for (guint i = 0; i < n; i++)
        mask[i] = TRUE;
      return mask;
    }
  g_auto (GStrv) parts = g_strsplit (spec, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 a, b;
      g_auto (GStrv) range = g_strsplit (parts[i], "-", 2);
      if (!g_ascii_string_to_unsigned (range[0], 10, 0, G_MAXUINT32, &a, NULL) ||
          (range[1] != NULL &&
           !g_ascii_string_to_unsigned (range[1], 10, 0, G_MAXUINT32, &b, NULL)))
        {
          g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                       "--%s: \"%s\" is not an index or a range like 2-5", what, parts[i]);
          g_free (mask);
          return NULL;
        }
      if (range[1] == NULL)
        b = a;
      if (a > b || b >= n)
        {
          g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                       "--%s: \"%s\" is outside 0..%u", what, parts[i], n - 1);
          g_free (mask);
          return NULL;
        }
      for (guint64 k = a; k <= b; k++)
        mask[k] = TRUE;
    }
  return mask;
}

typedef struct
{
  char   *prompt; /* NULL for --ids */
  gint32 *ids;
  guint   n_ids;
} Prompt;

static void
prompt_clear (gpointer data)
{
  Prompt *p = data;
  g_free (p->prompt);
  g_free (p->ids);
}

int
ats_cli_capture_main (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *ids_text = NULL, *prompt = NULL, *prompts_file = NULL;
  g_autofree char *ids_file = NULL;
  g_autofree char *out = NULL, *dtype = NULL, *layers_spec = NULL, *heads_spec = NULL;
  gboolean      logits = FALSE, scores = FALSE, force = FALSE, no_maps = FALSE, no_special = FALSE;
  gboolean      bos = FALSE, quiet = FALSE, no_diag = FALSE, ignore_space = FALSE;
  int           threads = 0, row_block = 0, compression = 1;
  AtsDiagParams params;
  ats_diag_params_init_default (&params);
  int overload_k = params.overload_k;

  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "Checkpoint folder", "DIR" },
    { "ids", 0, 0, G_OPTION_ARG_STRING, &ids_text, "Token ids, e.g. 1,2,3", "IDS" },
    { "ids-file", 0, 0, G_OPTION_ARG_FILENAME, &ids_file,
      "A file of token-id runs, one comma-separated run per line", "FILE" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "A text prompt", "TEXT" },
    { "prompts", 0, 0, G_OPTION_ARG_FILENAME, &prompts_file,
      "A file of prompts, one per line (empty lines skipped)", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output capture file", "FILE.h5" },
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype, "Stored attention type: f16 (default) or f32",
      "f16|f32" },
    { "logits", 0, 0, G_OPTION_ARG_NONE, &logits, "Also store the logits [T, V]", NULL },
    { "scores", 0, 0, G_OPTION_ARG_NONE, &scores,
      "Also store pre-softmax scores [L, H, T, T] (float32)", NULL },
    { "layers", 0, 0, G_OPTION_ARG_STRING, &layers_spec, "Store maps of these layers only",
      "0,2,4-6" },
    { "heads", 0, 0, G_OPTION_ARG_STRING, &heads_spec, "Store maps of these heads only", "0-3" },
    { "no-maps", 0, 0, G_OPTION_ARG_NONE, &no_maps,
      "Store diagnostics only, no attention maps (corpus mode)", NULL },
    { "no-diagnostics", 0, 0, G_OPTION_ARG_NONE, &no_diag,
      "Do not compute diagnostics while capturing", NULL },
    { "no-special", 0, 0, G_OPTION_ARG_NONE, &no_special, "Do not add BOS/EOS tokens", NULL },
    { "bos", 0, 0, G_OPTION_ARG_NONE, &bos, "Always add the BOS token", NULL },
    { "eps", 0, 0, G_OPTION_ARG_DOUBLE, &params.sink_eps, "Sink threshold (default 0.3)", "EPS" },
    { "underload-mass", 0, 0, G_OPTION_ARG_DOUBLE, &params.underload_mass,
      "Underload (ours): sink-set mass of a row (default 0.5)", "M" },
    { "overload-mass", 0, 0, G_OPTION_ARG_DOUBLE, &params.overload_mass,
      "Overload (ours): non-sink mass (default 0.5)", "M" },
    { "overload-k", 0, 0, G_OPTION_ARG_INT, &overload_k,
      "Overload (ours): keys near the top (default 4)", "K" },
    { "overload-factor", 0, 0, G_OPTION_ARG_DOUBLE, &params.overload_factor,
      "Overload (ours): within this factor of the top (default 2)", "F" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &params.top_p, "Top-p width (ours) coverage (0.9)", "P" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "N" },
    { "compression", 0, 0, G_OPTION_ARG_INT, &compression,
      "Deflate level of the maps, 1 (fast, default) to 9 (smallest)", "1-9" },
    { "row-block", 0, 0, G_OPTION_ARG_INT, &row_block,
      "Query rows per attention block (default: whole map up to 4096 tokens)", "R" },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace an existing output file", NULL },
    { "ignore-space", 0, 0, G_OPTION_ARG_NONE, &ignore_space,
      "Start even when the estimated size exceeds the free disk space", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress line or table", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- capture attention maps to HDF5");
  g_option_context_set_summary (
      ctx, "Runs each prompt through the model and writes every head's attention map, the\n"
           "residual-stream norms and the allocation diagnostics to an HDF5 capture file\n"
           "(format attnscope-capture v1). Diagnostics marked (ours) are attnscope's own\n"
           "operational definitions; see the README.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("capture: %s", error->message);
      return 2;
    }
  if (model_dir == NULL || out == NULL)
    {
      ats_cli_fail ("capture: --model and --out are required (see --help)");
      return 2;
    }
  if ((ids_text != NULL) + (ids_file != NULL) + (prompt != NULL) + (prompts_file != NULL) != 1)
    {
      ats_cli_fail ("capture: give exactly one of --ids, --ids-file, --prompt, --prompts");
      return 2;
    }
  AtsStoreType store = ATS_STORE_F16;
  if (dtype != NULL && g_str_equal (dtype, "f32"))
    store = ATS_STORE_F32;
  else if (dtype != NULL && !g_str_equal (dtype, "f16"))
    {
      ats_cli_fail ("capture: --dtype must be f16 or f32, not \"%s\"", dtype);
      return 2;
    }
  if (threads < 0 || row_block < 0 || overload_k < 1)
    {
      ats_cli_fail ("capture: --threads, --row-block and --overload-k must be positive");
      return 2;
    }
  params.overload_k = overload_k;
  if (g_file_test (out, G_FILE_TEST_EXISTS) && !force)
    return ats_cli_fail ("%s: file exists; not overwriting it (use --force to replace it)", out);

  g_autoptr (AtsModel) model = ats_model_load (model_dir, &error);
  if (model == NULL)
    return ats_cli_fail ("%s", error->message);
  const AtsModelConfig *c = ats_model_get_config (model);

  /* The tokenizer is needed for text prompts, and names the pieces of --ids when present. */
  g_autoptr (AtsTokenizer) tok = ats_tokenizer_load_for_model (model_dir, &error);
  if (tok == NULL && ids_text == NULL && ids_file == NULL)
    return ats_cli_fail ("%s", error->message);
  g_clear_error (&error);

  AtsTokenizeFlags flags =
      no_special ? ATS_TOKENIZE_NO_SPECIAL : (bos ? ATS_TOKENIZE_FORCE_BOS : ATS_TOKENIZE_DEFAULT);
  g_autoptr (GArray) prompts = g_array_new (FALSE, TRUE, sizeof (Prompt));
  g_array_set_clear_func (prompts, prompt_clear);
  if (ids_text != NULL)
    {
      Prompt p = { 0 };
      p.ids = parse_ids (ids_text, &p.n_ids, &error);
      if (p.ids == NULL)
        return ats_cli_fail ("%s", error->message);
      g_array_append_val (prompts, p);
    }
  else if (ids_file != NULL)
    {
      g_autofree char *text = NULL;
      if (!g_file_get_contents (ids_file, &text, NULL, &error))
        return ats_cli_fail ("%s", error->message);
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          g_strstrip (lines[i]);
          if (lines[i][0] == '\0')
            continue;
          Prompt p = { 0 };
          p.ids = parse_ids (lines[i], &p.n_ids, &error);
          if (p.ids == NULL)
            return ats_cli_fail ("%s:%u: %s", ids_file, i + 1, error->message);
          g_array_append_val (prompts, p);
        }
    }
  else
    {
      g_auto (GStrv) lines = NULL;
      if (prompt != NULL)
        {
          lines = g_new0 (char *, 2);
          lines[0] = g_strdup (prompt);
        }
      else
        {
          g_autofree char *text = NULL;
          if (!g_file_get_contents (prompts_file, &text, NULL, &error))
            return ats_cli_fail ("%s", error->message);
          lines = g_strsplit (text, "\n", -1);
        }
      for (guint i = 0; lines[i] != NULL; i++)
        {
          g_strchomp (lines[i]); /* also drops a CR of CRLF files */
          if (lines[i][0] == '\0' && prompt == NULL)
            continue;
          Prompt p = { 0 };
          p.prompt = g_strdup (lines[i]);
          p.ids = ats_tokenizer_encode (tok, lines[i], flags, &p.n_ids, &error);
          if (p.ids == NULL)
            return ats_cli_fail ("%s%s%u: %s", prompts_file ? prompts_file : "--prompt",
                                 prompts_file ? ":" : "", i + 1, error->message);
          g_array_append_val (prompts, p);
        }
    }
  for (guint i = 0; i < prompts->len; i++)
    if (g_array_index (prompts, Prompt, i).n_ids == 0)
      return ats_cli_fail ("prompt %u is empty (no tokens)", i + 1);
  if (prompts->len == 0)
    return ats_cli_fail ("%s: no prompts",
                         prompts_file ? prompts_file : (ids_file ? ids_file : "--prompt"));

  AtsCaptureOptions copts;
  ats_capture_options_init_default (&copts);
  copts.dtype = store;
  copts.store_maps = !no_maps;
  copts.store_scores = scores;
  copts.store_logits = logits;
  if (compression < 1 || compression > 9)
    return ats_cli_fail ("capture: --compression must be between 1 and 9");
  copts.compression = compression;
  g_autofree gboolean *layer_mask =
      ats_cli_parse_index_spec (layers_spec, c->n_layers, "layers", &error);
  g_autofree gboolean *head_mask =
      layer_mask ? ats_cli_parse_index_spec (heads_spec, c->n_heads, "heads", &error) : NULL;
  if (head_mask == NULL)
    return ats_cli_fail ("%s", error->message);
  copts.layers = layer_mask;
  copts.heads = head_mask;

  /* Size estimate: the lower-triangle chunks of every stored map, uncompressed (the worst case;
   * deflate typically makes attention maps 2-10x smaller). */
  guint64 estimate = 0;
  {
    guint n_l = 0, n_h = 0;
    for (guint l = 0; l < c->n_layers; l++)
      n_l += layer_mask[l];
    for (guint h = 0; h < c->n_heads; h++)
      n_h += head_mask[h];
    for (guint i = 0; i < prompts->len; i++)
      {
        guint64 T = g_array_index (prompts, Prompt, i).n_ids;
        guint64 C = MIN (T, 128), nb = (T + C - 1) / C;
        guint64 per_map = nb * (nb + 1) / 2 * C * C;
        if (!no_maps)
          estimate += per_map * n_l * n_h * (store == ATS_STORE_F16 ? 2 : 4);
        if (scores)
          estimate += per_map * n_l * n_h * 4;
        if (logits)
          estimate += T * c->vocab_size * 4;
        estimate += (guint64) T * (c->n_layers * c->n_heads + 64) * 4;
      }
    g_autofree char *dir = g_path_get_dirname (out);
    g_autoptr (GFile) gdir = g_file_new_for_path (dir);
    g_autoptr (GFileInfo) fs =
        g_file_query_filesystem_info (gdir, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, NULL);
    guint64 free_bytes =
        fs ? g_file_info_get_attribute_uint64 (fs, G_FILE_ATTRIBUTE_FILESYSTEM_FREE) : 0;
    g_autofree char *est = g_format_size (estimate);
    if (fs != NULL && estimate > free_bytes && !ignore_space)
      {
        g_autofree char *avail = g_format_size (free_bytes);
        return ats_cli_fail ("%s: the capture may need up to %s (uncompressed maps) but only %s "
                             "is free there; store fewer maps (--layers/--heads/--no-maps), or "
                             "start anyway with --ignore-space",
                             out, est, avail);
      }
    if (!quiet && ats_cli_stderr_is_tty ())
      fprintf (stderr, "attnscope-cli: %u prompt%s, estimated size up to %s before compression\n",
               prompts->len, prompts->len == 1 ? "" : "s", est);
  }

  AtsCaptureFile *file = ats_capture_file_create (out, model, force, &error);
  if (file == NULL)
    return ats_cli_fail ("%s", error->message);

  signal (SIGINT, on_sigint);
  signal (SIGTERM, on_sigint);

  Progress progress = { .tty = !quiet && ats_cli_stderr_is_tty (), .n_runs = prompts->len };
  g_autoptr (GPtrArray) all_results =
      g_ptr_array_new_with_free_func ((GDestroyNotify) ats_diag_results_free);
  gboolean ok = TRUE;
  guint    done = 0;
  gint64   t0 = g_get_monotonic_time ();
  for (guint i = 0; ok && i < prompts->len; i++)
    {
      Prompt *p = &g_array_index (prompts, Prompt, i);
      g_auto (GStrv) pieces = g_new0 (char *, p->n_ids + 1);
      for (guint t = 0; t < p->n_ids; t++)
        pieces[t] =
            tok ? ats_tokenizer_decode_piece (tok, p->ids[t]) : g_strdup_printf ("%d", p->ids[t]);
      g_autofree char *ids_prompt = NULL;
      if (p->prompt == NULL)
        ids_prompt = g_strjoinv (tok ? "" : " ", pieces);
      ok = ats_capture_file_begin_run (file, p->prompt ? p->prompt : ids_prompt, p->ids,
                                       (const char *const *) pieces, p->n_ids, &copts, &error);
      if (!ok)
        break;

      g_autoptr (AtsDiagnostics) diag =
          no_diag ? NULL : ats_diagnostics_new (c->n_layers, c->n_heads, p->n_ids, &params);
      AtsObserver      *observers[3] = { ats_capture_file_get_observer (file),
                                    diag ? ats_diagnostics_get_observer (diag) : NULL, NULL };
      AtsForwardOptions fopts = { 0 };
      fopts.n_threads = threads;
      fopts.row_block = row_block;
      fopts.want_logits = logits;
      fopts.observers = observers;
      fopts.progress = on_progress;
      fopts.progress_data = &progress;
      progress.run = i;
      progress.n_tokens = p->n_ids;
      progress.start_us = g_get_monotonic_time ();
      progress.last_percent = -1;

      ok = ats_forward_run (model, p->ids, p->n_ids, &fopts, NULL, &error);
      if (ok && diag != NULL)
        {
          AtsDiagResults *res = ats_diagnostics_finish (diag, &error);
          ok = res != NULL && ats_capture_file_write_run_metrics (file, i, res, &error);
          if (res != NULL)
            g_ptr_array_add (all_results, res);
        }
      if (ok)
        ok = ats_capture_file_write_run_lazy (file, i, model, &error);
      g_autoptr (GError) end_error = NULL;
      gboolean ended = ats_capture_file_end_run (file, ok, &end_error);
      if (ok && !ended)
        {
          ok = FALSE;
          g_propagate_error (&error, g_steal_pointer (&end_error));
        }
      if (ok)
        done++;
    }
  double secs = (g_get_monotonic_time () - t0) / 1e6;
  if (progress.tty)
    fprintf (stderr, "\r%*s\r", 78, "");

  gboolean was_interrupted =
      interrupted || (error && g_error_matches (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CANCELLED));
  g_autoptr (GError) close_error = NULL;
  if (done == 0 && !was_interrupted)
    {
      /* nothing useful was written: leave no file that looks like a capture */
      ats_capture_file_abandon (file);
      if (!force)
        g_unlink (out);
    }
  else if (!ats_capture_file_close (file, &close_error) && ok)
    {
      ok = FALSE;
      error = g_steal_pointer (&close_error);
    }

  if (was_interrupted)
    {
      fprintf (stderr,
               "attnscope-cli: interrupted: %u of %u runs complete in %s (the interrupted run is "
               "marked complete=0)\n",
               done, prompts->len, out);
      return 130;
    }
  if (!ok)
    return ats_cli_fail ("%s", error->message);

  if (!quiet)
    {
      fprintf (stderr, "attnscope-cli: %u run%s captured to %s in %.2f s\n", done,
               done == 1 ? "" : "s", out, secs);
      if (all_results->len == 1)
        {
          g_autoptr (GString) table =
              ats_diag_results_format_table (g_ptr_array_index (all_results, 0), FALSE);
          fputs (table->str, stdout);
        }
      else if (all_results->len > 1)
        {
          g_autoptr (AtsDiagSummary) sum = ats_diag_results_summarize (
              (AtsDiagResults *const *) all_results->pdata, all_results->len, NULL);
          if (sum != NULL)
            {
              g_autoptr (GString) table = ats_diag_summary_format_table (sum);
              fputs (table->str, stdout);
            }
        }
    }
  return 0;
}
