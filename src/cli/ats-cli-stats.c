/* ats-cli-stats.c — `attnscope-cli stats`: recompute the diagnostics of a capture file
 *
 * For every run that holds attention maps, each stored head is read back in blocks of query
 * rows and fed to an AtsDiagnostics (pass 0, then pass 1 with the head's sink set), so memory
 * stays O(L*H*T) plus one block of rows whatever T is. Hidden-state metrics (collapse, variance
 * footprint, massive activations) need the residual stream, which a capture does not store (only
 * its norms): they are carried over from the metrics written at capture time.
 *
 * The file is first read only; metrics are written back (metrics/ of each recomputed run, with
 * the parameters as attributes) once every run has been computed, so an error on input leaves
 * the file untouched.
 */
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"
#include "ats-cli.h"

/* Bytes of attention rows read at once (one block of query rows of one head). */
#define STATS_BLOCK_BYTES (32u << 20)

typedef enum
{
  SOURCE_RECOMPUTED, /* every stored head recomputed */
  SOURCE_STORED,     /* no maps: the metrics written at capture time */
  SOURCE_SKIPPED,    /* incomplete run, or no maps and no metrics */
} StatsSource;

typedef struct
{
  AtsCaptureRun  *run;
  AtsDiagResults *results; /* NULL when skipped */
  StatsSource     source;
  GPtrArray      *notes; /* char *, one line each */
} RunStats;

static void
run_stats_clear (gpointer data)
{
  RunStats *s = data;
  g_clear_pointer (&s->run, ats_capture_run_free);
  g_clear_pointer (&s->results, ats_diag_results_free);
  g_clear_pointer (&s->notes, g_ptr_array_unref);
}

static gboolean
params_equal (const AtsDiagParams *a, const AtsDiagParams *b)
{
  return a->sink_eps == b->sink_eps && a->underload_mass == b->underload_mass &&
         a->overload_mass == b->overload_mass && a->overload_k == b->overload_k &&
         a->overload_factor == b->overload_factor && a->top_p == b->top_p &&
         a->min_keys == b->min_keys;
}

static void
copy_floats (float *dst, const float *src, gsize n)
{
  memcpy (dst, src, n * sizeof (float));
}

/* Hidden-state metrics cannot be recomputed from a capture: take them from @stored. */
static void
carry_hidden_metrics (AtsDiagResults *r, const AtsDiagResults *stored)
{
  gsize l1 = (gsize) r->n_layers + 1, l1t = l1 * r->n_tokens;

  copy_floats (r->collapse_cosine, stored->collapse_cosine, l1);
  copy_floats (r->collapse_cosine_centered, stored->collapse_cosine_centered, l1);
  copy_floats (r->variance_footprint, stored->variance_footprint, l1t);
  copy_floats (r->massive_max_abs, stored->massive_max_abs, l1t);
  copy_floats (r->median_abs, stored->median_abs, l1);
  memcpy (r->massive_count, stored->massive_count, l1 * sizeof (gint32));
  r->params.massive_abs = stored->params.massive_abs;
  r->params.massive_ratio = stored->params.massive_ratio;
}

/* Copies head (l, h) of every [L, H] and [L, H, T] metric from @stored. */
static void
carry_head (AtsDiagResults *r, const AtsDiagResults *stored, guint l, guint h)
{
  guint                    n_metrics = 0;
  const AtsDiagMetricInfo *metrics = ats_diag_metrics_list (&n_metrics);
  gsize                    i = (gsize) l * r->n_heads + h;

  for (guint m = 0; m < n_metrics; m++)
    {
      float       *dst;
      const float *src;

      if (metrics[m].is_int)
        continue;
      dst = (float *) ats_diag_results_get_metric (r, metrics[m].name, NULL);
      src = ats_diag_results_get_metric (stored, metrics[m].name, NULL);
      if (metrics[m].shape == ATS_DIAG_SHAPE_LAYER_HEAD)
        dst[i] = src[i];
      else if (metrics[m].shape == ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN)
        copy_floats (dst + i * r->n_tokens, src + i * r->n_tokens, r->n_tokens);
    }
}

typedef struct
{
  gboolean tty;
  guint    run;
  guint    n_runs;
} StatsProgress;

/* Feeds every stored head of @run to a fresh AtsDiagnostics and returns the results. */
static AtsDiagResults *
recompute_run (AtsCaptureFile      *file,
               const AtsCaptureRun *run,
               const AtsDiagParams *params,
               StatsProgress       *progress,
               GError             **error)
{
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (file);
  guint                      L = mi->n_layers, H = mi->n_heads, T = run->n_tokens;
  g_autoptr (AtsDiagnostics) diag = ats_diagnostics_new (L, H, T, params);
  guint             block_rows = MAX (1u, MIN (T, STATS_BLOCK_BYTES / (sizeof (float) * T)));
  g_autofree float *rows = g_new (float, (gsize) block_rows *T); /* [block_rows, T] */

  for (guint l = 0; l < L; l++)
    {
      if (!run->stored_layers[l])
        continue;
      if (progress->tty)
        {
          fprintf (stderr, "\r  run %u/%u  layer %u/%u   ", progress->run + 1, progress->n_runs,
                   l + 1, L);
          fflush (stderr);
        }
      for (guint h = 0; h < H; h++)
        {
          if (!run->stored_heads[h])
            continue;
          AtsAttentionBlock block = { .layer = l, .head = h, .n_tokens = T, .probs = rows };
          /* a head that fits in one block is read once and fed twice */
          gboolean whole = block_rows >= T;
          for (guint pass = 0; pass < 2; pass++)
            for (guint r0 = 0; r0 < T; r0 += block_rows)
              {
                guint n = MIN (block_rows, T - r0);
                if ((!whole || pass == 0) &&
                    !ats_capture_file_read_rows (file, run->index, l, h, r0, n, rows, error))
                  return NULL;
                block.pass = pass;
                block.row_start = r0;
                block.n_rows = n;
                if (!ats_diagnostics_add_block (diag, &block, error))
                  return NULL;
              }
        }
    }
  return ats_diagnostics_finish (diag, error);
}

static void add_note (RunStats *s, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
add_note (RunStats *s, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_ptr_array_add (s->notes, g_strdup_vprintf (format, args));
  va_end (args);
}

static gboolean
compute_run (AtsCaptureFile      *file,
             guint                index,
             const AtsDiagParams *params,
             StatsProgress       *progress,
             RunStats            *s,
             GError             **error)
{
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (file);
  guint                      L = mi->n_layers, H = mi->n_heads;

  s->notes = g_ptr_array_new_with_free_func (g_free);
  s->run = ats_capture_file_get_run (file, index, error);
  if (s->run == NULL)
    return FALSE;
  if (!s->run->complete)
    {
      s->source = SOURCE_SKIPPED;
      add_note (s, "incomplete (interrupted capture): skipped");
      return TRUE;
    }

  g_autoptr (GError) stored_error = NULL;
  g_autoptr (AtsDiagResults) stored = NULL;
  if (s->run->has_metrics)
    {
      stored = ats_capture_file_read_run_metrics (file, index, &stored_error);
      if (stored == NULL)
        {
          g_propagate_error (error, g_steal_pointer (&stored_error));
          return FALSE;
        }
    }

  if (!s->run->has_attention)
    {
      if (stored == NULL)
        {
          s->source = SOURCE_SKIPPED;
          add_note (s, "neither attention maps nor metrics: skipped");
          return TRUE;
        }
      s->source = SOURCE_STORED;
      if (!params_equal (&stored->params, params))
        add_note (s,
                  "no attention maps (--no-maps capture): the metrics stored at capture time "
                  "(eps %g, top-p %g, ...) are shown; other parameters cannot be applied",
                  stored->params.sink_eps, stored->params.top_p);
      else
        add_note (s, "no attention maps: the metrics stored at capture time are used");
      s->results = g_steal_pointer (&stored);
      return TRUE;
    }

  s->results = recompute_run (file, s->run, params, progress, error);
  if (s->results == NULL)
    return FALSE;
  s->source = SOURCE_RECOMPUTED;

  if (stored != NULL)
    carry_hidden_metrics (s->results, stored);
  else
    add_note (s, "no stored metrics (captured with --no-diagnostics): the hidden-state metrics "
                 "(collapse, variance, massive) are not available");

  /* heads whose maps were not stored (capture --layers/--heads) */
  guint missing = 0;
  for (guint l = 0; l < L; l++)
    for (guint h = 0; h < H; h++)
      missing += !(s->run->stored_layers[l] && s->run->stored_heads[h]);
  if (missing > 0)
    {
      gboolean same = stored != NULL && params_equal (&stored->params, params);
      if (same)
        for (guint l = 0; l < L; l++)
          for (guint h = 0; h < H; h++)
            if (!(s->run->stored_layers[l] && s->run->stored_heads[h]))
              carry_head (s->results, stored, l, h);
      add_note (s,
                same ? "%u of %u heads have no stored map; their capture-time metrics "
                       "(same parameters) are kept"
                     : "%u of %u heads have no stored map and cannot be recomputed with "
                       "these parameters: left empty (NaN)",
                missing, L * H);
    }
  ats_diag_results_update_sink_rate (s->results);
  return TRUE;
}

/* Notes on stderr, one line per distinct note with the runs it applies to ("runs 0-3, 7"). */
static void
print_notes (GArray *stats)
{
  g_autoptr (GPtrArray) texts = g_ptr_array_new ();
  for (guint i = 0; i < stats->len; i++)
    {
      RunStats *s = &g_array_index (stats, RunStats, i);
      for (guint n = 0; n < s->notes->len; n++)
        if (!g_ptr_array_find_with_equal_func (texts, g_ptr_array_index (s->notes, n), g_str_equal,
                                               NULL))
          g_ptr_array_add (texts, g_ptr_array_index (s->notes, n));
    }
  for (guint t = 0; t < texts->len; t++)
    {
      const char *text = g_ptr_array_index (texts, t);
      g_autoptr (GString) runs = g_string_new (NULL);
      guint    n_runs = 0, range_start = 0, prev = 0;
      gboolean open = FALSE;
      for (guint i = 0; i < stats->len; i++)
        {
          RunStats *s = &g_array_index (stats, RunStats, i);
          if (!g_ptr_array_find_with_equal_func (s->notes, text, g_str_equal, NULL))
            continue;
          guint r = s->run->index;
          n_runs++;
          if (open && r == prev + 1)
            {
              prev = r;
              continue;
            }
          if (open)
            g_string_append_printf (runs, range_start == prev ? "%u, " : "%u-%u, ", range_start,
                                    prev);
          range_start = prev = r;
          open = TRUE;
        }
      if (open)
        g_string_append_printf (runs, range_start == prev ? "%u" : "%u-%u", range_start, prev);
      fprintf (stderr, "attnscope-cli: run%s %s: %s\n", n_runs == 1 ? "" : "s", runs->str, text);
    }
}

static char *
excerpt (const char *text, guint max_chars)
{
  if (text == NULL)
    return g_strdup ("");
  g_autofree char *flat = g_strdup (text);
  g_strdelimit (flat, "\n\r\t", ' ');
  if (g_utf8_strlen (flat, -1) <= max_chars)
    return g_steal_pointer (&flat);
  g_autofree char *head = g_utf8_substring (flat, 0, max_chars - 1);
  return g_strconcat (head, "…", NULL);
}

static const char *
source_name (StatsSource source)
{
  switch (source)
    {
    case SOURCE_RECOMPUTED:
      return "recomputed";
    case SOURCE_STORED:
      return "stored";
    case SOURCE_SKIPPED:
    default:
      return "skipped";
    }
}

static void
print_json (const char                *path,
            const AtsCaptureModelInfo *mi,
            GArray                    *stats,
            const AtsDiagSummary      *summary,
            gboolean                   per_token)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, path);
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, mi->source ? mi->source : "");
  json_builder_set_member_name (b, "architecture");
  json_builder_add_string_value (b, mi->architecture ? mi->architecture : "");
  json_builder_set_member_name (b, "attention");
  json_builder_add_string_value (b, mi->attention == ATS_ATTENTION_ELASTIC ? "elastic" : "softmax");
  json_builder_end_object (b);
  json_builder_set_member_name (b, "runs");
  json_builder_begin_array (b);
  for (guint i = 0; i < stats->len; i++)
    {
      RunStats *s = &g_array_index (stats, RunStats, i);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "run");
      json_builder_add_int_value (b, s->run->index);
      json_builder_set_member_name (b, "prompt");
      json_builder_add_string_value (b, s->run->prompt ? s->run->prompt : "");
      json_builder_set_member_name (b, "n_tokens");
      json_builder_add_int_value (b, s->run->n_tokens);
      json_builder_set_member_name (b, "source");
      json_builder_add_string_value (b, source_name (s->source));
      json_builder_set_member_name (b, "notes");
      json_builder_begin_array (b);
      for (guint n = 0; n < s->notes->len; n++)
        json_builder_add_string_value (b, g_ptr_array_index (s->notes, n));
      json_builder_end_array (b);
      json_builder_set_member_name (b, "diagnostics");
      if (s->results != NULL)
        {
          g_autofree char *text = ats_diag_results_to_json (s->results, per_token, FALSE);
          json_builder_add_value (b, json_from_string (text, NULL));
        }
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  if (summary != NULL)
    {
      g_autofree char *text = ats_diag_summary_to_json (summary, FALSE);
      json_builder_set_member_name (b, "summary");
      json_builder_add_value (b, json_from_string (text, NULL));
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  g_autofree char *out = json_generator_to_data (gen, NULL);
  fputs (out, stdout);
  fputc ('\n', stdout);
}

/* CSV of every run with a leading run column (one header). */
static void
print_csv (GArray *stats, gboolean per_head)
{
  gboolean header_done = FALSE;
  for (guint i = 0; i < stats->len; i++)
    {
      RunStats *s = &g_array_index (stats, RunStats, i);
      if (s->results == NULL)
        continue;
      g_autoptr (GString) csv = ats_diag_results_format_csv (s->results, per_head);
      g_auto (GStrv) lines = g_strsplit (csv->str, "\n", -1);
      for (guint n = 0; lines[n] != NULL; n++)
        {
          if (lines[n][0] == '\0')
            continue;
          if (n == 0)
            {
              if (!header_done)
                printf ("run,%s\n", lines[n]);
              header_done = TRUE;
            }
          else
            printf ("%u,%s\n", s->run->index, lines[n]);
        }
    }
}

int
ats_cli_stats_main (int argc, char **argv)
{
  gboolean      json = FALSE, csv = FALSE, per_head = FALSE, no_write = FALSE, summary_only = FALSE;
  gboolean      per_token = FALSE, quiet = FALSE;
  int           run_index = -1;
  AtsDiagParams params;
  ats_diag_params_init_default (&params);
  int overload_k = params.overload_k, min_keys = params.min_keys;

  GOptionEntry entries[] = {
    { "eps", 0, 0, G_OPTION_ARG_DOUBLE, &params.sink_eps, "Sink threshold on alpha (default 0.3)",
      "EPS" },
    { "underload-mass", 0, 0, G_OPTION_ARG_DOUBLE, &params.underload_mass,
      "Underload (ours): sink-set mass of a row (default 0.5)", "M" },
    { "overload-mass", 0, 0, G_OPTION_ARG_DOUBLE, &params.overload_mass,
      "Overload (ours): non-sink mass (default 0.5)", "M" },
    { "overload-k", 0, 0, G_OPTION_ARG_INT, &overload_k,
      "Overload (ours): keys near the top (default 4)", "K" },
    { "overload-factor", 0, 0, G_OPTION_ARG_DOUBLE, &params.overload_factor,
      "Overload (ours): within this factor of the top (default 2)", "F" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &params.top_p,
      "Top-p width (ours) coverage (default 0.9)", "P" },
    { "min-keys", 0, 0, G_OPTION_ARG_INT, &min_keys,
      "Rows with at least this many visible keys count for entropy, top-p, under/overload "
      "(default 8)",
      "N" },
    { "run", 'r', 0, G_OPTION_ARG_INT, &run_index, "Only this run (default: every run)", "N" },
    { "heads", 0, 0, G_OPTION_ARG_NONE, &per_head, "Also print the per-head table", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON instead of a table", NULL },
    { "per-token", 0, 0, G_OPTION_ARG_NONE, &per_token,
      "With --json: include the per-token arrays (sink_score, variance_footprint, ...)", NULL },
    { "csv", 0, 0, G_OPTION_ARG_NONE, &csv, "Print CSV (one line per run and layer, or head)",
      NULL },
    { "summary", 's', 0, G_OPTION_ARG_NONE, &summary_only,
      "With several runs, print only the corpus summary", NULL },
    { "no-write", 'n', 0, G_OPTION_ARG_NONE, &no_write,
      "Only print; do not write the metrics into the file", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress line or notes", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE.h5 - recompute the diagnostics");
  g_option_context_set_summary (
      ctx,
      "Recomputes every attention diagnostic of REFERENCE section 3 from the maps stored in a "
      "capture\n"
      "file (run by run, head by head, in blocks of rows), writes them into the file (metrics/ of\n"
      "each run, with the parameters as attributes) and prints a per-layer table, and with "
      "several\n"
      "runs a corpus summary (mean +- sample std over runs).\n"
      "\n"
      "Hidden-state metrics (collapse_cosine, collapse_cosine_centered, variance_footprint,\n"
      "massive_count) cannot be recomputed from a capture, which stores only the hidden-state\n"
      "norms: the values written at capture time are kept. Runs captured with --no-maps have only\n"
      "their capture-time metrics, which are shown unchanged (the parameters cannot change them).\n"
      "With f16 maps the recomputed values differ from the capture-time ones (computed in f32)\n"
      "by the storage rounding.\n"
      "\n"
      "Definitions marked (ours) (uniform_sparsity, underload, overload, top_p_width) are\n"
      "attnscope's operational definitions; see the README.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("stats: %s", error->message);
      return 2;
    }
  if (argc != 2)
    {
      ats_cli_fail ("stats: give exactly one capture file (see --help)");
      return 2;
    }
  if (json && csv)
    {
      ats_cli_fail ("stats: --json and --csv exclude each other");
      return 2;
    }
  if (overload_k < 1 || min_keys < 1 || !(params.top_p > 0 && params.top_p <= 1) ||
      !(params.sink_eps >= 0) || !(params.overload_factor >= 1) || !(params.underload_mass >= 0) ||
      !(params.overload_mass >= 0))
    {
      ats_cli_fail ("stats: parameters out of range (--overload-k and --min-keys >= 1, 0 < "
                    "--top-p <= 1, --overload-factor >= 1, masses and --eps >= 0)");
      return 2;
    }
  params.overload_k = overload_k;
  params.min_keys = min_keys;
  const char *path = argv[1];

  /* Everything is computed from a read-only handle first. */
  AtsCaptureFile *file = ats_capture_file_open (path, FALSE, &error);
  if (file == NULL)
    return ats_cli_fail ("%s", error->message);
  const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (file);
  guint                      n_runs = ats_capture_file_get_n_runs (file);
  if (n_runs == 0)
    {
      ats_capture_file_close (file, NULL);
      return ats_cli_fail ("%s: the capture has no runs", path);
    }
  if (run_index >= 0 && (guint) run_index >= n_runs)
    {
      ats_capture_file_close (file, NULL);
      return ats_cli_fail ("%s: no run %d (the capture has %u run%s, 0..%u)", path, run_index,
                           n_runs, n_runs == 1 ? "" : "s", n_runs - 1);
    }
  if (run_index < -1)
    {
      ats_capture_file_close (file, NULL);
      ats_cli_fail ("stats: --run must be >= 0");
      return 2;
    }

  g_autoptr (GArray) stats = g_array_new (FALSE, TRUE, sizeof (RunStats));
  g_array_set_clear_func (stats, run_stats_clear);
  guint         first = run_index >= 0 ? (guint) run_index : 0;
  guint         last = run_index >= 0 ? (guint) run_index : n_runs - 1;
  StatsProgress progress = { .tty = !quiet && ats_cli_stderr_is_tty (),
                             .n_runs = last - first + 1 };
  gint64        t0 = g_get_monotonic_time ();
  gboolean      ok = TRUE;
  for (guint i = first; ok && i <= last; i++)
    {
      RunStats s = { 0 };
      progress.run = i - first;
      ok = compute_run (file, i, &params, &progress, &s, &error);
      g_array_append_val (stats, s);
    }
  if (progress.tty)
    fprintf (stderr, "\r%*s\r", 60, "");
  double secs = (g_get_monotonic_time () - t0) / 1e6;
  /* model info is needed after the file is closed */
  g_autofree char    *source = g_strdup (mi->source);
  g_autofree char    *architecture = g_strdup (mi->architecture);
  AtsCaptureModelInfo info = *mi;
  info.source = source;
  info.architecture = architecture;
  info.config_json = NULL;
  ats_capture_file_close (file, NULL);
  if (!ok)
    return ats_cli_fail ("%s", error->message);

  /* Write back the recomputed runs. */
  guint n_recomputed = 0;
  for (guint i = 0; i < stats->len; i++)
    n_recomputed += g_array_index (stats, RunStats, i).source == SOURCE_RECOMPUTED;
  if (!no_write && n_recomputed > 0)
    {
      AtsCaptureFile *wfile = ats_capture_file_open (path, TRUE, &error);
      if (wfile == NULL)
        return ats_cli_fail ("%s (use --no-write to only print the diagnostics)", error->message);
      for (guint i = 0; ok && i < stats->len; i++)
        {
          RunStats *s = &g_array_index (stats, RunStats, i);
          if (s->source == SOURCE_RECOMPUTED)
            ok = ats_capture_file_write_run_metrics (wfile, s->run->index, s->results, &error);
        }
      g_autoptr (GError) close_error = NULL;
      if (!ats_capture_file_close (wfile, &close_error) && ok)
        {
          ok = FALSE;
          error = g_steal_pointer (&close_error);
        }
      if (!ok)
        return ats_cli_fail ("%s: writing the metrics failed: %s", path, error->message);
    }

  if (!quiet)
    {
      print_notes (stats);
      fprintf (stderr,
               "attnscope-cli: %u of %u run%s recomputed from the stored maps in %.2f s%s\n",
               n_recomputed, stats->len, stats->len == 1 ? "" : "s", secs,
               no_write || n_recomputed == 0 ? "" : "; metrics written to the file");
    }

  /* Corpus summary over the runs that have results. */
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  for (guint i = 0; i < stats->len; i++)
    if (g_array_index (stats, RunStats, i).results != NULL)
      g_ptr_array_add (all, g_array_index (stats, RunStats, i).results);
  g_autoptr (AtsDiagSummary) summary = NULL;
  if (all->len > 1)
    {
      summary = ats_diag_results_summarize ((AtsDiagResults *const *) all->pdata, all->len, &error);
      if (summary == NULL)
        return ats_cli_fail ("%s: corpus summary: %s", path, error->message);
    }

  if (json)
    print_json (path, &info, stats, summary, per_token);
  else if (csv)
    print_csv (stats, per_head);
  else
    {
      gboolean first_table = TRUE;
      for (guint i = 0; !(summary_only && summary) && i < stats->len; i++)
        {
          RunStats *s = &g_array_index (stats, RunStats, i);
          if (s->results == NULL)
            continue;
          g_autofree char *ex = excerpt (s->run->prompt, 60);
          printf ("%s== run %06u (%s, %s) \"%s\"\n", first_table ? "" : "\n", s->run->index,
                  s->source == SOURCE_RECOMPUTED
                      ? (s->run->attention_type == ATS_STORE_F16 ? "recomputed from f16 maps"
                                                                 : "recomputed from f32 maps")
                      : "stored metrics, no maps",
                  info.attention == ATS_ATTENTION_ELASTIC ? "Elastic-Softmax" : "softmax", ex);
          g_autoptr (GString) table = ats_diag_results_format_table (s->results, per_head);
          fputs (table->str, stdout);
          first_table = FALSE;
        }
      if (summary != NULL)
        {
          g_autoptr (GString) table = ats_diag_summary_format_table (summary);
          printf ("%s== ", first_table ? "" : "\n");
          fputs (table->str, stdout);
        }
    }
  return 0;
}
