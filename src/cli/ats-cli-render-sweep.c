/* ats-cli-render-sweep.c — `attnscope-cli render SWEEP.h5 --plot M[,M]`: diagnostics against
 * the merge parameter
 *
 * Reads the per-step summaries of a sweep file (data/sweep-format.md): summary/<metric> [S, P]
 * (each prompt's mean over heads and layers) and summary/<metric>_by_layer [S, P, L or L+1].
 * x = the swept alpha (linear) or lambda (task arithmetic, ties), sorted.
 *   default      one line per metric: the mean over the prompts of each step, band ± the
 *                (sample) std over prompts
 *   --per-layer  one line per layer and metric: the mean over prompts of the layer's mean over
 *                heads (no band)
 * --json FILE writes the plotted numbers (FILE "-": standard output).
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-sweep.h"
#include "ats-cli-figures.h"
#include "ats-cli.h"
#include "ats-render.h"

#define SWEEP_DEFAULT_WIDTH 900
#define SWEEP_RATE "sink_rate" /* summary/sink_rate [S, P]: not in the metric catalogue */

typedef struct
{
  char    *name;
  char    *description;
  gboolean ours;
  gboolean hidden;   /* [L+1] metric: per-layer rows are residual streams */
  gboolean per_step; /* only an [S, P] summary (sink_rate) */
} SweepMetric;

static void
sweep_metric_clear (gpointer data)
{
  SweepMetric *m = data;
  g_free (m->name);
  g_free (m->description);
}

typedef struct
{
  char   *name;
  char   *metric;
  int     layer; /* -1: over all layers */
  double *y;     /* [S] in plotted (sorted) order */
  double *err;   /* [S] or NULL */
  guint  *n;     /* [S] prompts that had a value */
} SweepSeries;

static void
sweep_series_clear (gpointer data)
{
  SweepSeries *s = data;
  g_free (s->name);
  g_free (s->metric);
  g_free (s->y);
  g_free (s->err);
  g_free (s->n);
}

/* --- which render calls are sweep plots ------------------------------------------------- */

/* `render` options that take a value (the next argument unless given as --opt=VALUE). */
static const char *const value_options[] = {
  "--out",  "--format", "--run",   "--layer",    "--head",  "--grid",  "--plot",  "--label",
  "--runs", "--strip",  "--diff",  "--colormap", "--cmap",  "--scale", "--gamma", "--vmin",
  "--vmax", "--pool",   "--width", "--dpi",      "--title", "--json",  NULL,
};
static const char value_short[] = "orlHgpsdcwt";

gboolean
ats_cli_render_sweep_applies (int argc, char **argv)
{
  gboolean    plot = FALSE, per_run = FALSE, only_files = FALSE;
  const char *file = NULL;
  guint       n_files = 0;

  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      if (only_files || a[0] != '-' || a[1] == '\0')
        {
          file = a;
          n_files++;
          continue;
        }
      if (g_str_equal (a, "--"))
        {
          only_files = TRUE;
          continue;
        }
      if (a[1] != '-') /* short option(s) */
        {
          plot |= a[1] == 'p';
          per_run |= a[1] == 'r' || a[1] == 'H';
          if (a[2] == '\0' && strchr (value_short, a[1]) != NULL)
            i++;
          continue;
        }
      g_autofree char *name = g_strndup (a, strcspn (a, "="));
      if (g_str_equal (name, "--sweep") || g_str_equal (name, "--per-layer") ||
          g_str_equal (name, "--json"))
        return TRUE;
      plot |= g_str_equal (name, "--plot");
      per_run |= g_str_equal (name, "--run") || g_str_equal (name, "--runs") ||
                 g_str_equal (name, "--corpus") || g_str_equal (name, "--head");
      if (strchr (a, '=') == NULL && g_strv_contains (value_options, name))
        i++;
    }
  if (!plot || per_run || n_files != 1)
    return FALSE;
  g_autoptr (AtsSweepInfo) info = ats_sweep_file_read_info (file, NULL);
  return info != NULL;
}

/* --- metrics ---------------------------------------------------------------------------- */

static gboolean
parse_metrics (const char *spec, GArray *out, GError **error)
{
  g_auto (GStrv) names = g_strsplit (spec, ",", -1);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *name = g_strstrip (names[i]);
      SweepMetric m = { 0 };
      if (*name == '\0')
        continue;
      if (g_str_equal (name, SWEEP_RATE))
        {
          m.name = g_strdup (name);
          m.description = g_strdup ("percent of heads with first-token mass > eps");
          m.per_step = TRUE;
          g_array_append_val (out, m);
          continue;
        }
      const AtsDiagMetricInfo *info = ats_diag_metric_lookup (name);
      if (info == NULL ||
          (info->shape != ATS_DIAG_SHAPE_LAYER_HEAD && info->shape != ATS_DIAG_SHAPE_HIDDEN_LAYER))
        {
          guint                    n = 0;
          const AtsDiagMetricInfo *all = ats_diag_metrics_list (&n);
          g_autoptr (GString) known = g_string_new (SWEEP_RATE);
          for (guint k = 0; k < n; k++)
            if (all[k].shape == ATS_DIAG_SHAPE_LAYER_HEAD ||
                all[k].shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
              g_string_append_printf (known, ", %s", all[k].name);
          g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING,
                       info ? "metric \"%s\" is per token and has no sweep summary; a sweep plot "
                              "takes one of: %s"
                            : "unknown metric \"%s\"; a sweep plot takes one of: %s",
                       name, known->str);
          return FALSE;
        }
      m.name = g_strdup (info->name);
      m.description = g_strdup (info->description);
      m.ours = info->ours;
      m.hidden = info->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER;
      g_array_append_val (out, m);
    }
  if (out->len == 0)
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING, "--plot: no metric named");
      return FALSE;
    }
  return TRUE;
}

/* summary/@metric (or @metric_by_layer) of the sweep file as doubles, [S, P] or [S, P, rows]
 * (@out_rows receives rows, 0 when not @by_layer), read by the core's sweep reader. */
static double *
read_summary (const char *path,
              const char *metric,
              guint       S,
              guint       P,
              gboolean    by_layer,
              guint      *out_rows,
              GError    **error)
{
  guint   s = 0, p = 0, rows = 0;
  double *v = ats_sweep_file_read_summary (path, metric, by_layer, &s, &p, &rows, error);
  if (v == NULL)
    return NULL;
  if (s != S || p != P)
    {
      g_free (v);
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT,
                   "%s: /sweep/summary/%s%s is not a [%u, %u%s] dataset", path, metric,
                   by_layer ? "_by_layer" : "", S, P, by_layer ? ", layers" : "");
      return NULL;
    }
  if (out_rows != NULL)
    *out_rows = by_layer ? rows : 0;
  return v;
}

/* Mean, sample std (NaN below two values) and count over the prompts p of v[(s * P + p) *
 * stride + offset], NaN entries left out. */
static void
prompt_stats (const double *v,
              guint         s,
              guint         P,
              guint         stride,
              guint         offset,
              double       *mean,
              double       *std,
              guint        *count)
{
  double sum = 0, sq = 0;
  guint  k = 0;
  for (guint p = 0; p < P; p++)
    {
      double x = v[((gsize) s * P + p) * stride + offset];
      if (!isnan (x))
        {
          sum += x;
          k++;
        }
    }
  *mean = k ? sum / k : NAN;
  for (guint p = 0; p < P; p++)
    {
      double x = v[((gsize) s * P + p) * stride + offset];
      if (!isnan (x))
        sq += (x - *mean) * (x - *mean);
    }
  *std = k > 1 ? sqrt (sq / (k - 1)) : NAN;
  *count = k;
}

/* --- text ------------------------------------------------------------------------------- */

static char *
x_axis_label (const AtsSweepInfo *info)
{
  const char *p = info->parameter && *info->parameter
                      ? info->parameter
                      : (info->method == ATS_MERGE_LINEAR ? "alpha" : "lambda");
  switch (info->method)
    {
    case ATS_MERGE_LINEAR:
      return g_strdup_printf ("%s (linear merge: (1 − %s) · base + %s · tuned)", p, p, p);
    case ATS_MERGE_TASK_ARITHMETIC:
      return g_strdup_printf ("%s (task arithmetic: base + %s · Σ (tuned − base))", p, p);
    case ATS_MERGE_TIES:
    default:
      return g_strdup_printf ("%s (TIES merge scale, density %g)", p, info->density);
    }
}

static char *
folder_name (const char *dir)
{
  if (dir == NULL || *dir == '\0')
    return g_strdup ("?");
  g_autofree char *trimmed = g_strdup (dir);
  gsize            n = strlen (trimmed);
  while (n > 1 && trimmed[n - 1] == '/')
    trimmed[--n] = '\0';
  return g_path_get_basename (trimmed);
}

static char *
values_text (const double *x, guint n)
{
  g_autoptr (GString) s = g_string_new (NULL);
  if (n > 6)
    g_string_append_printf (s, "%g, %g, …, %g", x[0], x[1], x[n - 1]);
  else
    for (guint i = 0; i < n; i++)
      g_string_append_printf (s, "%s%g", i ? ", " : "", x[i]);
  return g_strdup (s->str);
}

/* --- output ----------------------------------------------------------------------------- */

static void
json_add_doubles (JsonBuilder *b, const char *member, const double *v, guint n)
{
  json_builder_set_member_name (b, member);
  if (v == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    if (isfinite (v[i]))
      json_builder_add_double_value (b, v[i]);
    else
      json_builder_add_null_value (b);
  json_builder_end_array (b);
}

static char *
series_json (const char         *path,
             const AtsSweepInfo *info,
             const double       *x,
             const guint        *order,
             gboolean            per_layer,
             GArray             *series)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint S = info->n_steps;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, path);
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, ats_merge_method_to_string (info->method));
  json_builder_set_member_name (b, "parameter");
  json_builder_add_string_value (b, info->parameter ? info->parameter : "");
  json_add_doubles (b, "values", info->values, S);
  json_add_doubles (b, "x", x, S);
  json_builder_set_member_name (b, "steps");
  json_builder_begin_array (b);
  for (guint i = 0; i < S; i++)
    json_builder_add_int_value (b, order[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "n_prompts");
  json_builder_add_int_value (b, info->n_prompts);
  json_builder_set_member_name (b, "per_layer");
  json_builder_add_boolean_value (b, per_layer);
  json_builder_set_member_name (b, "series");
  json_builder_begin_array (b);
  for (guint k = 0; k < series->len; k++)
    {
      const SweepSeries *s = &g_array_index (series, SweepSeries, k);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, s->name);
      json_builder_set_member_name (b, "metric");
      json_builder_add_string_value (b, s->metric);
      json_builder_set_member_name (b, "layer");
      if (s->layer >= 0)
        json_builder_add_int_value (b, s->layer);
      else
        json_builder_add_null_value (b);
      json_add_doubles (b, "y", s->y, S);
      json_add_doubles (b, "std", s->err, S);
      json_builder_set_member_name (b, "n");
      json_builder_begin_array (b);
      for (guint i = 0; i < S; i++)
        json_builder_add_int_value (b, s->n[i]);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  char *text = json_generator_to_data (gen, NULL);
  char *with_newline = g_strconcat (text, "\n", NULL);
  g_free (text);
  return with_newline;
}

static void
draw_plot_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_plot_draw (data, cr, w, h);
}

static int
sort_by_value (gconstpointer a, gconstpointer b, gpointer data)
{
  const double *v = data;
  double        x = v[*(const guint *) a], y = v[*(const guint *) b];
  return x < y ? -1 : x > y ? 1 : (int) *(const guint *) a - (int) *(const guint *) b;
}

/* --- main ------------------------------------------------------------------------------- */

int
ats_cli_render_sweep_main (int argc, char **argv)
{
  g_autofree char *out = NULL, *format_name = NULL, *plot_spec = NULL, *title = NULL;
  g_autofree char *json_path = NULL;
  gboolean         per_layer = FALSE, sweep = FALSE;
  int              width = 0;
  double           dpi = 72.0;
  g_autoptr (GError) error = NULL;

  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output figure (.png, .svg or .pdf)", "FILE" },
    { "format", 0, 0, G_OPTION_ARG_STRING, &format_name,
      "png, svg or pdf (default: from the file name)", "FMT" },
    { "plot", 'p', 0, G_OPTION_ARG_STRING, &plot_spec,
      "Diagnostics to plot against the merge parameter (comma-separated; sink_rate too)",
      "METRIC[,METRIC]" },
    { "sweep", 0, 0, G_OPTION_ARG_NONE, &sweep,
      "Require a sweep plot (the default for a sweep file given alone)", NULL },
    { "per-layer", 0, 0, G_OPTION_ARG_NONE, &per_layer,
      "One line per layer (mean over heads, then over prompts) instead of the mean over heads "
      "and layers with a ± std over prompts band",
      NULL },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &json_path,
      "Also write the plotted numbers as JSON (- for standard output)", "FILE" },
    { "title", 't', 0, G_OPTION_ARG_STRING, &title, "Figure title (default: what is shown)",
      "TEXT" },
    { "width", 'w', 0, G_OPTION_ARG_INT, &width, "Figure width in pixels at --dpi (default 900)",
      "PX" },
    { "dpi", 0, 0, G_OPTION_ARG_DOUBLE, &dpi,
      "Resolution: SVG/PDF pages are WIDTH x 72 / DPI points wide (default 72)", "DPI" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("SWEEP.h5 --plot METRIC[,METRIC] - diagnostics against the merge "
                            "parameter");
  g_option_context_set_summary (
      ctx, "Plots the per-step summaries of a file written by 'attnscope-cli sweep' against the\n"
           "swept alpha or lambda: by default one line per metric, the mean over prompts of\n"
           "each prompt's mean over heads and layers, with a ± std over prompts band;\n"
           "--per-layer draws one line per layer instead.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("render: %s", error->message);
      return 2;
    }
  if (argc != 2)
    {
      ats_cli_fail (argc < 2 ? "render: give the sweep file (see --help)"
                             : "render: a sweep plot takes one sweep file");
      return 2;
    }
  if (plot_spec == NULL)
    {
      ats_cli_fail ("render: a sweep plot needs --plot METRIC[,METRIC]");
      return 2;
    }
  if (out == NULL)
    {
      ats_cli_fail ("render: --out FILE.(png|svg|pdf) is required");
      return 2;
    }
  AtsExportFormat format;
  if (format_name != NULL ? !ats_export_format_from_string (format_name, &format, &error)
                          : !ats_export_format_from_path (out, &format, &error))
    {
      ats_cli_fail ("render: %s", error->message);
      return 2;
    }
  if (width == 0)
    width = SWEEP_DEFAULT_WIDTH;
  if (width < 100 || width > 20000 || !(dpi > 0 && dpi <= 2400))
    {
      ats_cli_fail ("render: --width must be between 100 and 20000 pixels and --dpi in (0, 2400]");
      return 2;
    }

  const char *path = argv[1];
  g_autoptr (GArray) metrics = g_array_new (FALSE, TRUE, sizeof (SweepMetric));
  g_array_set_clear_func (metrics, sweep_metric_clear);
  if (!parse_metrics (plot_spec, metrics, &error))
    return ats_cli_fail ("%s", error->message);
  for (guint k = 0; per_layer && k < metrics->len; k++)
    if (g_array_index (metrics, SweepMetric, k).per_step)
      return ats_cli_fail ("--per-layer: %s is one number per run (no per-layer summary); "
                           "plot it without --per-layer",
                           SWEEP_RATE);

  g_autoptr (AtsSweepInfo) info = ats_sweep_file_read_info (path, &error);
  if (info == NULL)
    {
      if (g_error_matches (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING))
        return ats_cli_fail ("%s; a sweep plot needs a file written by 'attnscope-cli sweep' (for "
                             "the per-layer plot of a capture, leave out --sweep, --per-layer and "
                             "--json)",
                             error->message);
      return ats_cli_fail ("%s", error->message);
    }
  guint S = info->n_steps, P = info->n_prompts;

  /* provenance from the capture side of the file */
  g_autofree char *model = NULL;
  double           eps = NAN;
  guint            n_missing = 0;
  {
    AtsCaptureFile *file = ats_capture_file_open (path, FALSE, &error);
    if (file == NULL)
      return ats_cli_fail ("%s", error->message);
    const AtsCaptureModelInfo *mi = ats_capture_file_get_model_info (file);
    model = g_strdup_printf ("model %s (%s, %s, %u layers × %u heads)",
                             mi->source && *mi->source ? mi->source : "(unknown source)",
                             mi->architecture ? mi->architecture : "?",
                             mi->attention == ATS_ATTENTION_ELASTIC ? "Elastic-Softmax" : "softmax",
                             mi->n_layers, mi->n_heads);
    for (gsize i = 0; i < (gsize) S * P; i++)
      {
        if (info->runs[i] < 0)
          {
            n_missing++;
            continue;
          }
        if (isnan (eps))
          {
            AtsDiagResults *r = ats_capture_file_read_run_metrics (file, info->runs[i], NULL);
            if (r != NULL)
              {
                eps = r->params.sink_eps;
                ats_diag_results_free (r);
              }
          }
      }
    ats_capture_file_close (file, NULL);
  }

  /* x: the swept values in increasing order */
  g_autofree guint  *order = g_new (guint, S); /* [S] plotted position -> step */
  g_autofree double *x = g_new (double, S);    /* [S] */
  for (guint i = 0; i < S; i++)
    order[i] = i;
  g_qsort_with_data (order, S, sizeof (guint), sort_by_value, info->values);
  for (guint i = 0; i < S; i++)
    x[i] = info->values[order[i]];

  /* the summaries */
  g_autoptr (GArray) series = g_array_new (FALSE, TRUE, sizeof (SweepSeries));
  g_array_set_clear_func (series, sweep_series_clear);
  {
    for (guint k = 0; k < metrics->len && error == NULL; k++)
      {
        const SweepMetric *m = &g_array_index (metrics, SweepMetric, k);
        guint              rows = 0;
        g_autofree double *v = read_summary (path, m->name, S, P, per_layer, &rows, &error);
        if (v == NULL)
          break;
        guint n_lines = per_layer ? rows : 1, stride = per_layer ? rows : 1;
        for (guint l = 0; l < n_lines; l++)
          {
            SweepSeries s = { 0 };
            s.metric = g_strdup (m->name);
            s.layer = per_layer ? (int) l : -1;
            s.y = g_new (double, S);
            s.err = per_layer ? NULL : g_new (double, S);
            s.n = g_new (guint, S);
            for (guint i = 0; i < S; i++)
              {
                double std;
                prompt_stats (v, order[i], P, stride, l, &s.y[i], &std, &s.n[i]);
                if (s.err != NULL)
                  s.err[i] = std;
              }
            g_autofree char *layer_name =
                m->hidden && l + 1 == rows ? g_strdup ("final") : g_strdup_printf ("layer %u", l);
            if (!per_layer)
              s.name = g_strdup_printf ("%s%s", m->name, m->ours ? " (ours)" : "");
            else
              s.name = g_strdup_printf ("%s · %s", m->name, layer_name);
            g_array_append_val (series, s);
          }
      }
    if (error != NULL)
      return ats_cli_fail ("%s", error->message);
  }

  /* the figure */
  gboolean ours = FALSE, hidden = FALSE;
  for (guint k = 0; k < metrics->len; k++)
    {
      ours |= g_array_index (metrics, SweepMetric, k).ours;
      hidden |= g_array_index (metrics, SweepMetric, k).hidden;
    }
  const SweepMetric *m0 = &g_array_index (metrics, SweepMetric, 0);
  g_autofree char   *param_label = x_axis_label (info);
  const char        *param = info->parameter && *info->parameter ? info->parameter : "alpha";
  g_autoptr (GString) names = g_string_new (NULL);
  for (guint k = 0; k < metrics->len; k++)
    g_string_append_printf (names, "%s%s", k ? ", " : "",
                            g_array_index (metrics, SweepMetric, k).name);
  g_autofree char *fig_title =
      title ? g_strdup (title)
            : g_strdup_printf ("%s against %s (%s merge)%s", names->str, param,
                               ats_merge_method_to_string (info->method),
                               per_layer ? ", per layer" : "");
  g_autofree char *y_label =
      metrics->len == 1
          ? (m0->per_step ? g_strdup ("sink_rate (% of heads)")
                          : g_strdup_printf ("%s%s", m0->name, m0->ours ? " (ours)" : ""))
          : g_strdup_printf ("value%s", ours ? " (* ours)" : "");

  g_autofree char *base_name = folder_name (info->base);
  g_autoptr (GString) tuned = g_string_new (NULL);
  for (guint i = 0; info->tuned != NULL && info->tuned[i] != NULL; i++)
    {
      g_autofree char *t = folder_name (info->tuned[i]);
      g_string_append_printf (tuned, "%s%s", i ? ", " : "", t);
    }
  g_autofree char *vals = values_text (x, S);
  g_autoptr (GString) footer = g_string_new (NULL);
  g_string_append_printf (footer, "sweep %s: %s merge of base %s with %s · %s = %s (%u steps)",
                          path, ats_merge_method_to_string (info->method), base_name,
                          tuned->len ? tuned->str : "?", param, vals, S);
  if (info->method == ATS_MERGE_TIES)
    g_string_append_printf (footer, " · density %g", info->density);
  if (info->only != NULL)
    g_string_append_printf (footer, " · only %s", info->only);
  g_string_append_printf (footer, "\n%s · %u prompt%s per step", model, P, P == 1 ? "" : "s");
  if (!isnan (eps))
    g_string_append_printf (footer, " · eps %g", eps);
  if (n_missing > 0)
    g_string_append_printf (footer, " · %u of %u runs not captured (left out)", n_missing, S * P);
  if (per_layer)
    g_string_append_printf (footer,
                            "\neach line: one layer's mean over heads, averaged over the prompts%s",
                            hidden ? " (hidden-state metrics: residual stream entering layer l, "
                                     "final = after the last layer)"
                                   : "");
  else
    g_string_append (footer, "\neach line: every prompt's mean over heads and layers (sink_rate: "
                             "percent of heads), averaged over the prompts; band ± std over "
                             "prompts");
  if (ours)
    g_string_append (footer, "\n(ours): attnscope's operational definition, see the README");

  g_autoptr (AtsPlot) plot = ats_plot_new (ATS_PLOT_LINES);
  ats_plot_set_title (plot, fig_title);
  ats_plot_set_x_label (plot, param_label);
  ats_plot_set_y_label (plot, y_label);
  ats_plot_set_footer (plot, footer->str);
  for (guint k = 0; k < series->len; k++)
    {
      const SweepSeries *s = &g_array_index (series, SweepSeries, k);
      /* a single line needs no legend: the y axis names it */
      guint id = ats_plot_add_series (plot, series->len > 1 ? s->name : NULL, x, s->y, S);
      if (s->err != NULL)
        ats_plot_set_series_error (plot, id, s->err);
    }

  double            width_pt = width * 72.0 / dpi;
  AtsExportMetadata meta = { .title = fig_title, .description = footer->str };
  if (!ats_export (out, format, width_pt, width_pt * 0.66, dpi, &meta, draw_plot_cb, plot, &error))
    return ats_cli_fail ("%s", error->message);

  if (json_path != NULL)
    {
      g_autofree char *text = series_json (path, info, x, order, per_layer, series);
      if (g_str_equal (json_path, "-"))
        fputs (text, stdout);
      else if (!g_file_set_contents (json_path, text, -1, &error))
        return ats_cli_fail ("--json: %s", error->message);
    }
  return 0;
}
