/* ats-cli-sweep.c — `attnscope-cli sweep`: diagnostics against the merge parameter
 *
 * For each value of alpha (linear) or lambda (task arithmetic, ties) the merged model is built
 * in memory (ats_merge_build_model, no files), every prompt is run through it and captured
 * (diagnostics always, attention maps with --maps) into one capture file, run = step * P +
 * prompt; the /sweep group added at the end indexes the runs by step and holds per-step
 * summaries (data/sweep-format.md).
 */
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-merge.h"
#include "attnscope/ats-sweep.h"
#include "attnscope/ats-tokenizer.h"
#include "ats-cli.h"

static volatile sig_atomic_t interrupted = 0;

static void
on_sigint (int sig)
{
  interrupted = 1;
  signal (sig, SIG_DFL);
}

static gboolean
on_progress (double fraction, gpointer user_data)
{
  return !interrupted;
}

/* "0:1:0.1" (inclusive of the end, within half a step) or "0,0.25,1" */
static double *
parse_values (const char *text, guint *n, GError **error)
{
  GArray *v = g_array_new (FALSE, FALSE, sizeof (double));

  if (strchr (text, ':') != NULL)
    {
      g_auto (GStrv) parts = g_strsplit (text, ":", -1);
      double a, b, step;
      char  *e1, *e2, *e3;

      if (g_strv_length (parts) != 3)
        goto bad;
      a = g_ascii_strtod (parts[0], &e1);
      b = g_ascii_strtod (parts[1], &e2);
      step = g_ascii_strtod (parts[2], &e3);
      if (*e1 || *e2 || *e3 || e1 == parts[0] || e2 == parts[1] || e3 == parts[2] ||
          !isfinite (a) || !isfinite (b) || !(step > 0) || (b - a) / step > 10000)
        goto bad;
      for (guint i = 0; a + i * step <= b + step * 1e-6; i++)
        {
          double x = a + i * step;

          g_array_append_val (v, x);
        }
    }
  else
    {
      g_auto (GStrv) parts = g_strsplit (text, ",", -1);

      for (guint i = 0; parts[i] != NULL; i++)
        {
          char  *end;
          double x = g_ascii_strtod (g_strstrip (parts[i]), &end);

          if (*end || end == parts[i] || !isfinite (x))
            goto bad;
          g_array_append_val (v, x);
        }
    }
  if (v->len == 0)
    goto bad;
  *n = v->len;
  return (double *) g_array_free (v, FALSE);

bad:
  g_array_free (v, TRUE);
  g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT,
               "\"%s\" is not a range START:STOP:STEP (STEP > 0) or a list like 0,0.5,1", text);
  return NULL;
}

typedef struct
{
  char   *text;
  gint32 *ids;
  guint   n_ids;
  char  **pieces;
} Prompt;

static void
prompt_clear (gpointer data)
{
  Prompt *p = data;

  g_free (p->text);
  g_free (p->ids);
  g_strfreev (p->pieces);
}

int
ats_cli_sweep_main (int argc, char **argv)
{
  g_autofree char *base = NULL, *method_text = NULL, *only = NULL, *out = NULL;
  g_autofree char *alpha_text = NULL, *lambda_text = NULL, *prompt = NULL, *prompts_file = NULL;
  g_auto (GStrv) tuned = NULL;
  gboolean       force = FALSE, quiet = FALSE, maps = FALSE;
  int            threads = 0;
  AtsMergeParams params;
  g_autoptr (GError) error = NULL;

  ats_merge_params_init_default (&params);

  GOptionEntry entries[] = {
    { "base", 'b', 0, G_OPTION_ARG_FILENAME, &base, "Base checkpoint folder", "DIR" },
    { "tuned", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &tuned,
      "Fine-tuned checkpoint folder (repeat for task-arithmetic and ties)", "DIR" },
    { "method", 'M', 0, G_OPTION_ARG_STRING, &method_text, "Merge method",
      "linear|task-arithmetic|ties" },
    { "alpha", 'a', 0, G_OPTION_ARG_STRING, &alpha_text,
      "Linear: the alpha values, START:STOP:STEP or a list", "RANGE" },
    { "lambda", 'l', 0, G_OPTION_ARG_STRING, &lambda_text,
      "Task-arithmetic / ties: the lambda values, START:STOP:STEP or a list (--alpha is "
      "accepted as a synonym)",
      "RANGE" },
    { "density", 'd', 0, G_OPTION_ARG_DOUBLE, &params.density, "Ties density (default 0.2)", "D" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Merge only attention, mlp, embeddings, norms (comma-separated) or a regex", "SPEC" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "A text prompt", "TEXT" },
    { "prompts", 0, 0, G_OPTION_ARG_FILENAME, &prompts_file,
      "A file of prompts, one per line (empty lines skipped)", "FILE" },
    { "maps", 0, 0, G_OPTION_ARG_NONE, &maps, "Also store the attention maps of every step", NULL },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output sweep file", "SWEEP.h5" },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace an existing output file", NULL },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress line or table", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- diagnostics against the merge weight");
  g_option_context_set_summary (
      ctx, "Builds each merge in memory (no files), runs the prompts through it and writes the\n"
           "attention diagnostics of every step (and with --maps the attention maps) into one\n"
           "capture file with a /sweep index (see data/sweep-format.md).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("sweep: %s", error->message);
      return 2;
    }
  if (base == NULL || tuned == NULL || out == NULL || method_text == NULL)
    {
      ats_cli_fail ("sweep: --base, --tuned, --method and --out are required (see --help)");
      return 2;
    }
  if (!ats_merge_method_from_string (method_text, &params.method))
    {
      ats_cli_fail ("sweep: --method must be linear, task-arithmetic or ties, not \"%s\"",
                    method_text);
      return 2;
    }
  if ((prompt != NULL) + (prompts_file != NULL) != 1)
    {
      ats_cli_fail ("sweep: give exactly one of --prompt, --prompts");
      return 2;
    }
  gboolean    linear = params.method == ATS_MERGE_LINEAR;
  const char *range = linear ? alpha_text : (lambda_text ? lambda_text : alpha_text);
  if (range == NULL || (linear && lambda_text != NULL))
    {
      ats_cli_fail ("sweep: give the values to sweep with %s", linear ? "--alpha" : "--lambda");
      return 2;
    }
  guint              n_steps = 0;
  g_autofree double *values = parse_values (range, &n_steps, &error);
  if (values == NULL)
    {
      ats_cli_fail ("sweep: %s: %s", linear ? "--alpha" : "--lambda", error->message);
      return 2;
    }
  if (threads < 0)
    {
      ats_cli_fail ("sweep: --threads must be positive");
      return 2;
    }
  params.only = only;
  if (g_file_test (out, G_FILE_TEST_EXISTS) && !force)
    return ats_cli_fail ("%s: file exists; not overwriting it (use --force to replace it)", out);

  g_autoptr (AtsMerge) merge = ats_merge_new (base, (const char *const *) tuned, &error);
  if (merge == NULL)
    return ats_cli_fail ("%s", error->message);
  if (!ats_merge_check_params (merge, &params, &error))
    {
      ats_cli_fail ("sweep: %s", error->message);
      return 2;
    }
  g_autoptr (AtsTokenizer) tok = ats_tokenizer_load_for_model (base, &error);
  if (tok == NULL)
    return ats_cli_fail ("%s", error->message);

  /* prompts */
  g_autoptr (GArray) prompts = g_array_new (FALSE, TRUE, sizeof (Prompt));
  g_array_set_clear_func (prompts, prompt_clear);
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
        Prompt p = { 0 };

        g_strchomp (lines[i]);
        if (lines[i][0] == '\0' && prompt == NULL)
          continue;
        p.text = g_strdup (lines[i]);
        p.ids = ats_tokenizer_encode (tok, lines[i], ATS_TOKENIZE_DEFAULT, &p.n_ids, &error);
        if (p.ids == NULL)
          return ats_cli_fail ("%s%s%u: %s", prompts_file ? prompts_file : "--prompt",
                               prompts_file ? ":" : "", i + 1, error->message);
        if (p.n_ids == 0)
          return ats_cli_fail ("prompt %u is empty (no tokens)", i + 1);
        p.pieces = g_new0 (char *, p.n_ids + 1);
        for (guint t = 0; t < p.n_ids; t++)
          p.pieces[t] = ats_tokenizer_decode_piece (tok, p.ids[t]);
        g_array_append_val (prompts, p);
      }
  }
  if (prompts->len == 0)
    return ats_cli_fail ("%s: no prompts", prompts_file ? prompts_file : "--prompt");

  /* the first step's model describes the file (/model: the base architecture) */
  if (linear)
    params.alpha = values[0];
  else
    params.lambda = values[0];
  g_autoptr (AtsModel) model = ats_merge_build_model (merge, &params, &error);
  if (model == NULL)
    return ats_cli_fail ("%s", error->message);
  const AtsModelConfig *c = ats_model_get_config (model);

  AtsCaptureFile *file = ats_capture_file_create (out, model, force, &error);
  if (file == NULL)
    return ats_cli_fail ("%s", error->message);

  signal (SIGINT, on_sigint);
  signal (SIGTERM, on_sigint);

  AtsCaptureOptions copts;
  ats_capture_options_init_default (&copts);
  copts.store_maps = maps;
  AtsDiagParams dparams;
  ats_diag_params_init_default (&dparams);

  guint              P = prompts->len;
  g_autofree gint32 *runs = g_new (gint32, (gsize) n_steps * P); /* [S, P] */
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func (
      (GDestroyNotify) ats_diag_results_free); /* [S * P], NULL where not captured */
  for (gsize i = 0; i < (gsize) n_steps * P; i++)
    {
      runs[i] = -1;
      g_ptr_array_add (results, NULL);
    }
  gboolean tty = !quiet && ats_cli_stderr_is_tty ();
  gboolean ok = TRUE;
  guint    run = 0;
  gint64   t0 = g_get_monotonic_time ();

  for (guint s = 0; ok && !interrupted && s < n_steps; s++)
    {
      if (linear)
        params.alpha = values[s];
      else
        params.lambda = values[s];
      if (s > 0)
        {
          g_clear_pointer (&model, ats_model_unref);
          model = ats_merge_build_model (merge, &params, &error);
          if (model == NULL)
            {
              ok = FALSE;
              break;
            }
        }
      for (guint p = 0; ok && !interrupted && p < P; p++)
        {
          Prompt *pr = &g_array_index (prompts, Prompt, p);

          if (tty)
            {
              fprintf (stderr, "\r  step %u/%u  %s %-8g  prompt %u/%u  %.1fs   ", s + 1, n_steps,
                       linear ? "alpha" : "lambda", values[s], p + 1, P,
                       (g_get_monotonic_time () - t0) / 1e6);
              fflush (stderr);
            }
          ok = ats_capture_file_begin_run (
              file, pr->text, pr->ids, (const char *const *) pr->pieces, pr->n_ids, &copts, &error);
          if (!ok)
            break;
          g_autoptr (AtsDiagnostics) diag =
              ats_diagnostics_new (c->n_layers, c->n_heads, pr->n_ids, &dparams);
          AtsObserver      *observers[3] = { ats_capture_file_get_observer (file),
                                             ats_diagnostics_get_observer (diag), NULL };
          AtsForwardOptions fopts = { 0 };
          fopts.n_threads = threads;
          fopts.observers = observers;
          fopts.progress = on_progress;
          ok = ats_forward_run (model, pr->ids, pr->n_ids, &fopts, NULL, &error);
          AtsDiagResults *res = ok ? ats_diagnostics_finish (diag, &error) : NULL;
          ok = ok && res != NULL && ats_capture_file_write_run_metrics (file, run, res, &error) &&
               ats_capture_file_write_run_lazy (file, run, model, &error);
          g_autoptr (GError) end_error = NULL;
          gboolean ended = ats_capture_file_end_run (file, ok, &end_error);
          if (ok && !ended)
            {
              ok = FALSE;
              g_propagate_error (&error, g_steal_pointer (&end_error));
            }
          if (ok)
            {
              runs[(gsize) s * P + p] = run;
              g_ptr_array_index (results, (gsize) s * P + p) = res;
            }
          else if (res != NULL)
            ats_diag_results_free (res);
          run++;
        }
    }
  if (tty)
    fprintf (stderr, "\r%*s\r", 78, "");

  gboolean was_interrupted =
      interrupted || (error && g_error_matches (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CANCELLED));
  guint done = 0;
  for (gsize i = 0; i < (gsize) n_steps * P; i++)
    done += runs[i] >= 0;
  if (done == 0)
    {
      ats_capture_file_abandon (file);
      if (!force)
        g_unlink (out);
      if (was_interrupted)
        {
          fprintf (stderr, "attnscope-cli: interrupted before the first run finished\n");
          return 130;
        }
      return ats_cli_fail ("%s", error ? error->message : "nothing captured");
    }
  g_autoptr (GError) close_error = NULL;
  if (!ats_capture_file_close (file, &close_error))
    return ats_cli_fail ("%s", close_error->message);

  AtsSweepInfo info = { 0 };
  info.method = params.method;
  info.parameter = (char *) (linear ? "alpha" : "lambda");
  info.n_steps = n_steps;
  info.values = values;
  info.n_prompts = P;
  info.runs = runs;
  info.alpha = linear ? NAN : params.alpha; /* the swept one is in values */
  info.lambda = linear ? params.lambda : NAN;
  info.density = params.density;
  info.only = only;
  info.base = base;
  info.tuned = tuned;
  info.maps = maps;
  g_autoptr (GError) sweep_error = NULL;
  if (!ats_sweep_file_annotate (out, &info, (AtsDiagResults *const *) results->pdata, &sweep_error))
    return ats_cli_fail ("%s", sweep_error->message);

  if (was_interrupted)
    {
      fprintf (stderr, "attnscope-cli: interrupted: %u of %u runs in %s\n", done, n_steps * P, out);
      return 130;
    }
  if (!ok)
    return ats_cli_fail ("%s (the %u finished runs are in %s)", error->message, done, out);

  if (!quiet)
    {
      fprintf (stderr, "attnscope-cli: %u steps x %u prompt%s swept into %s in %.2f s\n", n_steps,
               P, P == 1 ? "" : "s", out, (g_get_monotonic_time () - t0) / 1e6);
      printf ("%-10s %10s %10s %10s %10s %10s\n", linear ? "alpha" : "lambda", "sink_rate%",
              "entropy", "first_mass", "underload", "overload");
      for (guint s = 0; s < n_steps; s++)
        {
          double      acc[5] = { 0 };
          guint       cnt[5] = { 0 };
          const char *names[4] = { "entropy", "first_token_mass", "underload", "overload" };

          for (guint p = 0; p < P; p++)
            {
              const AtsDiagResults *r = g_ptr_array_index (results, (gsize) s * P + p);

              if (r == NULL)
                continue;
              if (!isnan (r->sink_rate))
                {
                  acc[0] += r->sink_rate;
                  cnt[0]++;
                }
              for (guint m = 0; m < 4; m++)
                {
                  gsize        n = 0;
                  const float *v = ats_diag_results_get_metric (r, names[m], &n);

                  for (gsize i = 0; i < n; i++)
                    if (!isnan (v[i]))
                      {
                        acc[m + 1] += v[i];
                        cnt[m + 1]++;
                      }
                }
            }
          printf ("%-10g", values[s]);
          for (guint m = 0; m < 5; m++)
            printf (" %10.4f", cnt[m] ? acc[m] / cnt[m] : NAN);
          printf ("\n");
        }
    }
  return 0;
}
