/* ats-cli-merge.c — `attnscope-cli merge`: base + tuned checkpoints -> merged checkpoint folder
 *
 * Streams tensor by tensor through ats_merge_write(); the output folder is assembled under a
 * temporary name and only renamed into place once complete, so an interrupted merge leaves
 * nothing that looks like a checkpoint.
 */
#include <signal.h>
#include <stdio.h>

#include "attnscope/ats-merge.h"
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
  guint64  total;
  gint64   start_us;
  int      last_percent;
} Progress;

static gboolean
on_progress (double fraction, gpointer user_data)
{
  Progress *p = user_data;
  int       percent = (int) (fraction * 100.0);
  char      bar[31];
  int       fill = (int) (fraction * 30);

  if (interrupted)
    return FALSE;
  if (!p->tty || percent == p->last_percent)
    return TRUE;
  p->last_percent = percent;
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[30] = 0;
  {
    g_autofree char *done = g_format_size ((guint64) (fraction * p->total));
    g_autofree char *total = g_format_size (p->total);

    fprintf (stderr, "\r  merging [%s] %3d%%  %s of %s  %.1fs   ", bar, percent, done, total,
             (g_get_monotonic_time () - p->start_us) / 1e6);
  }
  fflush (stderr);
  return TRUE;
}

/* "5GB", "500MB", "2GiB", "1000000" -> bytes */
static gboolean
parse_size (const char *text, guint64 *out)
{
  static const struct
  {
    const char *suffix;
    guint64     factor;
  } units[] = {
    { "KiB", 1024ull },
    { "MiB", 1024ull * 1024 },
    { "GiB", 1024ull * 1024 * 1024 },
    { "KB", 1000ull },
    { "MB", 1000ull * 1000 },
    { "GB", 1000ull * 1000 * 1000 },
    { "K", 1000ull },
    { "M", 1000ull * 1000 },
    { "G", 1000ull * 1000 * 1000 },
    { "B", 1 },
    { "", 1 },
  };
  char  *end = NULL;
  double v = g_ascii_strtod (text, &end);

  if (end == text || !(v >= 0) || v > 1e18)
    return FALSE;
  while (*end == ' ')
    end++;
  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_ascii_strcasecmp (end, units[i].suffix) == 0)
      {
        *out = (guint64) (v * units[i].factor);
        return TRUE;
      }
  return FALSE;
}

int
ats_cli_merge_main (int argc, char **argv)
{
  g_autofree char *base = NULL, *method_text = NULL, *only = NULL, *out = NULL;
  g_autofree char *shard_text = NULL;
  g_auto (GStrv) tuned = NULL;
  gboolean       force = FALSE, quiet = FALSE;
  AtsMergeParams params;
  g_autoptr (GError) error = NULL;

  ats_merge_params_init_default (&params);

  GOptionEntry entries[] = {
    { "base", 'b', 0, G_OPTION_ARG_FILENAME, &base, "Base checkpoint folder", "DIR" },
    { "tuned", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &tuned,
      "Fine-tuned checkpoint folder (repeat for task-arithmetic and ties)", "DIR" },
    { "method", 'M', 0, G_OPTION_ARG_STRING, &method_text,
      "linear: (1-A)*base + A*tuned; task-arithmetic: base + L*sum(tuned_k - base); "
      "ties: trim each delta to its top-D magnitudes, elect signs, average the agreeing "
      "entries, scale by L",
      "linear|task-arithmetic|ties" },
    { "alpha", 'a', 0, G_OPTION_ARG_DOUBLE, &params.alpha, "Linear weight of tuned (default 0.5)",
      "A" },
    { "lambda", 'l', 0, G_OPTION_ARG_DOUBLE, &params.lambda,
      "Task-arithmetic / ties scale (default 1)", "L" },
    { "density", 'd', 0, G_OPTION_ARG_DOUBLE, &params.density,
      "Ties: fraction of each delta kept, by magnitude (default 0.2; equal magnitudes: the "
      "lower flat index is kept)",
      "D" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Merge only these tensors (the rest stays as base): attention, mlp, embeddings, norms "
      "(comma-separated), or a regular expression searched in tensor names",
      "GROUPS|REGEX" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output checkpoint folder", "DIR" },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace an existing output folder", NULL },
    { "shard-size", 0, 0, G_OPTION_ARG_STRING, &shard_text,
      "Largest safetensors shard before splitting (default 5GB)", "SIZE" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress line or summary", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- merge checkpoints");
  g_option_context_set_summary (
      ctx,
      "Merges a base checkpoint with fine-tuned ones tensor by tensor (streaming; memory does\n"
      "not grow with the model) and writes a safetensors checkpoint folder with config and\n"
      "tokenizer files copied from base and the recipe in __metadata__. Dtypes are kept\n"
      "(BF16 stays BF16, rounded to nearest even). Arithmetic is float64.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("merge: %s", error->message);
      return 2;
    }
  if (base == NULL || tuned == NULL || out == NULL || method_text == NULL)
    {
      ats_cli_fail ("merge: --base, --tuned, --method and --out are required (see --help)");
      return 2;
    }
  if (!ats_merge_method_from_string (method_text, &params.method))
    {
      ats_cli_fail ("merge: --method must be linear, task-arithmetic or ties, not \"%s\"",
                    method_text);
      return 2;
    }
  if (argc > 1)
    {
      ats_cli_fail ("merge: unexpected argument \"%s\"", argv[1]);
      return 2;
    }
  AtsMergeWriteOptions wopts = { 0 };
  if (shard_text != NULL && !parse_size (shard_text, &wopts.shard_bytes))
    {
      ats_cli_fail ("merge: --shard-size \"%s\" is not a size like 2GB or 500MiB", shard_text);
      return 2;
    }
  params.only = only;

  g_autoptr (AtsMerge) merge = ats_merge_new (base, (const char *const *) tuned, &error);
  if (merge == NULL)
    return ats_cli_fail ("%s", error->message);
  if (!ats_merge_check_params (merge, &params, &error))
    {
      ats_cli_fail ("merge: %s", error->message);
      return 2;
    }
  guint n_selected = ats_merge_count_selected (merge, &params);
  guint n_tensors = g_strv_length ((GStrv) ats_merge_get_tensor_names (merge));
  if (n_selected == 0)
    return ats_cli_fail ("merge: --only \"%s\" selects none of the %u tensors", only, n_tensors);

  signal (SIGINT, on_sigint);
  signal (SIGTERM, on_sigint);
  Progress progress = { .tty = !quiet && ats_cli_stderr_is_tty (), .last_percent = -1 };
  progress.start_us = g_get_monotonic_time ();
  {
    g_autoptr (AtsCheckpoint) ck = ats_checkpoint_open (base, NULL);
    progress.total = ck ? ats_checkpoint_get_n_bytes (ck) : 0;
  }
  wopts.force = force;
  wopts.progress = on_progress;
  wopts.progress_data = &progress;
  gboolean ok = ats_merge_write (merge, &params, out, &wopts, &error);
  if (progress.tty)
    fprintf (stderr, "\r%*s\r", 78, "");
  if (!ok && interrupted)
    {
      fprintf (stderr, "attnscope-cli: interrupted; nothing was written to %s\n", out);
      return 130;
    }
  if (!ok)
    return ats_cli_fail ("%s", error->message);

  if (!quiet)
    {
      g_autofree char *size = g_format_size (progress.total);
      double           secs = (g_get_monotonic_time () - progress.start_us) / 1e6;

      fprintf (stderr, "attnscope-cli: %s merge of %u of %u tensors (%s) written to %s in %.2f s\n",
               ats_merge_method_to_string (params.method), n_selected, n_tensors, size, out, secs);
      if (ats_merge_get_n_unsupported (merge) > 0)
        fprintf (stderr,
                 "attnscope-cli: %u tensor%s of a dtype attnscope cannot read (e.g. BOOL mask "
                 "buffers) left out of the merged checkpoint\n",
                 ats_merge_get_n_unsupported (merge),
                 ats_merge_get_n_unsupported (merge) == 1 ? "" : "s");
    }
  return 0;
}
