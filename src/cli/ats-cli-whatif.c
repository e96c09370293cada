/* ats-cli-whatif.c — `attnscope-cli whatif`: what-if Elastic-Softmax on a capture's maps
 *
 * Applies A' = max(0, A + tau/i) (Lazy Attention's Elastic-Softmax without renormalisation, i the
 * 1-based query position) to the stored attention maps and reports per layer (and per head) the
 * sparsity it would reach, the mass it removes and the share of the removed mass that sat on
 * sink keys (ours). tau is one value for every head, or the per-head [L, H] table of a Lazy
 * Attention checkpoint (model.layers.N.attn.tau) or capture (lazy/tau).
 *
 * Each stored head is read in blocks of query rows (at most WHATIF_BLOCK_BYTES), so memory stays
 * bounded whatever T is; the file is only read.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-model.h"
#include "attnscope/ats-whatif.h"
#include "ats-cli.h"

/* Bytes of attention rows read at once (one block of query rows of one head). */
#define WHATIF_BLOCK_BYTES (32u << 20)
/* Row blocks are multiples of the capture's chunk edge when they can be. */
#define WHATIF_ROW_ALIGN 128u

static gboolean
is_capture_path (const char *path)
{
  return !g_file_test (path, G_FILE_TEST_IS_DIR) &&
         (g_str_has_suffix (path, ".h5") || g_str_has_suffix (path, ".hdf5"));
}

/* The [L, H] tau table of a Lazy checkpoint folder or a Lazy capture (its first run). */
static float *
load_tau_table (const char *path, guint *out_layers, guint *out_heads, GError **error)
{
  if (is_capture_path (path))
    {
      AtsCaptureFile            *f = ats_capture_file_open (path, FALSE, error);
      const AtsCaptureModelInfo *m;
      float                     *tau = NULL, *bias = NULL;
      guint                      W = 0;

      if (f == NULL)
        return NULL;
      m = ats_capture_file_get_model_info (f);
      if (ats_capture_file_get_n_runs (f) == 0)
        g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                     "%s holds no runs, hence no lazy/tau", path);
      else if (ats_capture_file_read_run_lazy (f, 0, &tau, &bias, &W, error))
        {
          *out_layers = m->n_layers;
          *out_heads = m->n_heads;
        }
      g_free (bias);
      ats_capture_file_close (f, NULL);
      return tau;
    }
  else
    {
      g_autoptr (AtsModel) model = ats_model_load (path, error);
      const AtsModelConfig *c;
      float                *tau;

      if (model == NULL)
        return NULL;
      tau = ats_whatif_tau_table_from_model (model, error);
      if (tau == NULL)
        return NULL;
      c = ats_model_get_config (model);
      *out_layers = c->n_layers;
      *out_heads = c->n_heads;
      return tau;
    }
}

static guint
rows_per_block (guint T)
{
  guint rows = MAX (1u, WHATIF_BLOCK_BYTES / ((guint64) T * sizeof (float)));

  if (rows >= WHATIF_ROW_ALIGN)
    rows -= rows % WHATIF_ROW_ALIGN;
  return MIN (rows, T);
}

/* Feeds every stored head of run @r to @w, block by block. */
static gboolean
feed_run (AtsCaptureFile *f, const AtsCaptureRun *r, AtsWhatif *w, guint L, guint H, GError **error)
{
  guint             T = r->n_tokens;
  guint             B = rows_per_block (T);
  g_autofree float *rows = g_new (float, (gsize) B *T); /* [B, T] */
  gboolean          tty = ats_cli_stderr_is_tty ();

  if (!ats_whatif_begin_run (w, T, error))
    return FALSE;
  for (guint l = 0; l < L; l++)
    {
      if (r->stored_layers && !r->stored_layers[l])
        continue;
      if (tty)
        fprintf (stderr, "\r  run %s  layer %u/%u   ", r->name, l + 1, L);
      for (guint h = 0; h < H; h++)
        {
          if (r->stored_heads && !r->stored_heads[h])
            continue;
          for (guint r0 = 0; r0 < T; r0 += B)
            {
              AtsAttentionBlock block = { 0 };
              guint             n = MIN (B, T - r0);

              if (!ats_capture_file_read_rows (f, r->index, l, h, r0, n, rows, error))
                return FALSE;
              block.layer = l;
              block.head = h;
              block.n_tokens = T;
              block.row_start = r0;
              block.n_rows = n;
              block.probs = rows;
              if (!ats_whatif_add_block (w, &block, error))
                return FALSE;
            }
        }
    }
  if (tty)
    fprintf (stderr, "\r%40s\r", "");
  return TRUE;
}

/* The core JSON plus where the maps and tau came from. */
static char *
results_json (const AtsWhatifResults *res,
              const char             *capture,
              const char             *tau_source,
              GArray                 *run_indices)
{
  g_autofree char *core = ats_whatif_results_to_json (res, FALSE);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  JsonObject *root;
  JsonArray  *runs;

  if (!json_parser_load_from_data (parser, core, -1, NULL))
    return g_steal_pointer (&core);
  root = json_node_get_object (json_parser_get_root (parser));
  json_object_set_string_member (root, "capture", capture);
  json_object_set_string_member (root, "tau_source", tau_source);
  runs = json_array_new ();
  for (guint i = 0; i < run_indices->len; i++)
    json_array_add_int_element (runs, g_array_index (run_indices, guint, i));
  json_object_set_array_member (root, "runs", runs);
  json_generator_set_root (gen, json_parser_get_root (parser));
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

int
ats_cli_whatif_main (int argc, char **argv)
{
  double           tau = NAN, eps = ATS_WHATIF_DEFAULT_SINK_EPS;
  g_autofree char *tau_from = NULL;
  int              run_index = -1;
  gboolean         per_head = FALSE, json = FALSE, csv = FALSE;
  GOptionEntry     entries[] = {
        { "tau", 't', 0, G_OPTION_ARG_DOUBLE, &tau, "One tau for every head (Lazy Attention init: -1)",
          "T" },
        { "tau-from", 0, 0, G_OPTION_ARG_FILENAME, &tau_from,
          "Per-head tau [L, H] of a Lazy Attention checkpoint folder or capture (lazy/tau)",
          "DIR|FILE.h5" },
        { "run", 'r', 0, G_OPTION_ARG_INT, &run_index, "Only this run (default: every complete run)",
          "N" },
        { "eps", 0, 0, G_OPTION_ARG_DOUBLE, &eps,
          "Sink set (ours): keys with alpha > EPS in the original map (default 0.3)", "EPS" },
        { "heads", 0, 0, G_OPTION_ARG_NONE, &per_head, "Also print the per-head table", NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON instead of a table", NULL },
        { "csv", 0, 0, G_OPTION_ARG_NONE, &csv, "Print CSV (per layer, or per head with --heads)",
          NULL },
        { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
      "FILE.h5 (--tau T | --tau-from DIR|FILE.h5) - what-if Elastic-Softmax on stored maps");
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsWhatif) w = NULL;
  g_autoptr (AtsWhatifResults) res = NULL;
  g_autoptr (GArray) fed = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autofree char           *tau_source = NULL;
  const AtsCaptureModelInfo *m;
  AtsCaptureFile            *f;
  guint                      n_runs;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (
      ctx, "Applies A' = max(0, A + tau/i) (i = 1-based query position, no renormalisation) to\n"
           "the stored attention maps and reports per layer and head: the sparsity reached\n"
           "(visible entries exactly 0), the mass removed (mean over rows of sum A - sum A'),\n"
           "and the share of the removed mass on sink keys (ours: keys with alpha > eps in the\n"
           "original map).");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("whatif: %s", error->message);
      return 2;
    }
  if (argc != 2)
    {
      ats_cli_fail ("whatif: give one capture file");
      return 2;
    }
  if (isnan (tau) == (tau_from == NULL))
    {
      ats_cli_fail ("whatif: give exactly one of --tau T and --tau-from DIR|FILE.h5");
      return 2;
    }
  if (json && csv)
    {
      ats_cli_fail ("whatif: --json and --csv exclude each other");
      return 2;
    }
  if (!isnan (tau) && !isfinite (tau))
    {
      ats_cli_fail ("whatif: --tau must be a finite number");
      return 2;
    }

  f = ats_capture_file_open (argv[1], FALSE, &error);
  if (f == NULL)
    return ats_cli_fail ("whatif: %s", error->message);
  m = ats_capture_file_get_model_info (f);
  w = ats_whatif_new (m->n_layers, m->n_heads, eps);

  if (tau_from != NULL)
    {
      guint             tl = 0, th = 0;
      g_autofree float *table = load_tau_table (tau_from, &tl, &th, &error);

      if (table == NULL)
        {
          ats_capture_file_close (f, NULL);
          return ats_cli_fail ("whatif: --tau-from %s: %s", tau_from, error->message);
        }
      if (!ats_whatif_set_tau_table (w, table, tl, th, &error))
        {
          ats_capture_file_close (f, NULL);
          return ats_cli_fail ("whatif: --tau-from %s: %s (%s)", tau_from, error->message, argv[1]);
        }
      tau_source = g_strdup (tau_from);
    }
  else
    {
      ats_whatif_set_tau (w, (float) tau);
      tau_source = g_strdup_printf ("%g for every head", tau);
    }
  if (m->attention == ATS_ATTENTION_ELASTIC)
    fprintf (stderr,
             "attnscope-cli: whatif: note: %s holds Elastic-Softmax maps (Lazy Attention); the "
             "transform applies on top of them\n",
             argv[1]);

  n_runs = ats_capture_file_get_n_runs (f);
  if (run_index >= 0 && (guint) run_index >= n_runs)
    {
      ats_capture_file_close (f, NULL);
      return ats_cli_fail ("whatif: %s has %u run%s, no run %d", argv[1], n_runs,
                           n_runs == 1 ? "" : "s", run_index);
    }
  for (guint i = 0; i < n_runs; i++)
    {
      g_autoptr (AtsCaptureRun) r = NULL;

      if (run_index >= 0 && i != (guint) run_index)
        continue;
      r = ats_capture_file_get_run (f, i, &error);
      if (r == NULL)
        {
          ats_capture_file_close (f, NULL);
          return ats_cli_fail ("whatif: %s", error->message);
        }
      if (!r->has_attention || (!r->complete && run_index < 0))
        {
          if (run_index >= 0)
            {
              ats_capture_file_close (f, NULL);
              return ats_cli_fail ("whatif: %s: run %u has no attention maps (captured with "
                                   "--no-maps?)",
                                   argv[1], i);
            }
          fprintf (stderr, "attnscope-cli: whatif: skipping run %s (%s)\n", r->name,
                   r->has_attention ? "incomplete" : "no attention maps");
          continue;
        }
      if (!feed_run (f, r, w, m->n_layers, m->n_heads, &error))
        {
          ats_capture_file_close (f, NULL);
          return ats_cli_fail ("whatif: %s", error->message);
        }
      g_array_append_val (fed, i);
    }
  if (fed->len == 0)
    {
      ats_capture_file_close (f, NULL);
      return ats_cli_fail ("whatif: %s: no complete run with attention maps", argv[1]);
    }
  res = ats_whatif_finish (w, &error);
  if (res == NULL)
    {
      ats_capture_file_close (f, NULL);
      return ats_cli_fail ("whatif: %s", error->message);
    }

  if (json)
    {
      g_autofree char *text = results_json (res, argv[1], tau_source, fed);

      printf ("%s\n", text);
    }
  else if (csv)
    {
      g_autoptr (GString) text = ats_whatif_results_format_csv (res, per_head);

      fputs (text->str, stdout);
    }
  else
    {
      g_autoptr (GString) text = ats_whatif_results_format_table (res, per_head);

      printf ("capture  %s (%s attention, model %s)\ntau      %s\n", argv[1],
              ats_attention_kind_to_string (m->attention), m->source ? m->source : "?", tau_source);
      if (tau_from != NULL)
        {
          double lo = INFINITY, hi = -INFINITY;

          for (gsize k = 0; k < (gsize) res->n_layers * res->n_heads; k++)
            {
              lo = MIN (lo, res->tau[k]);
              hi = MAX (hi, res->tau[k]);
            }
          printf ("         per-head table, from %.3f to %.3f\n", lo, hi);
        }
      fputs (text->str, stdout);
    }
  ats_capture_file_close (f, NULL);
  return 0;
}
