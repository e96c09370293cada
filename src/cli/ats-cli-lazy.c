/* ats-cli-lazy.c — `attnscope-cli lazy`: figures of a Lazy Attention model's parameters
 *
 * From a Lazy checkpoint folder (tau and distance-bias table of every attention layer) or a Lazy
 * capture (lazy/tau [L, H], lazy/bias [L, H, W] of a run): the tau map (layers x heads with the
 * per-layer mean) or the distance-bias curves (one panel per layer, log distance axis), written
 * to PNG, SVG or PDF.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-model.h"
#include "ats-cli.h"
#include "ats-export.h"
#include "ats-lazy-figures.h"

typedef struct
{
  guint  n_layers;
  guint  n_heads;
  guint  bias_window;
  float *tau;  /* [L, H] */
  float *bias; /* [L, H, W] */
  char  *source;
} LazyParams;

static void
lazy_params_clear (LazyParams *p)
{
  g_clear_pointer (&p->tau, g_free);
  g_clear_pointer (&p->bias, g_free);
  g_clear_pointer (&p->source, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LazyParams, lazy_params_clear)

static gboolean
load_from_model (const char *path, LazyParams *p, GError **error)
{
  g_autoptr (AtsModel) model = ats_model_load (path, error);
  const AtsModelConfig *c;
  guint                 L, H, W;

  if (model == NULL)
    return FALSE;
  c = ats_model_get_config (model);
  if (c->attention != ATS_ATTENTION_ELASTIC || c->bias_window == 0)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s is not a Lazy Attention checkpoint (its attention layers carry no tau and "
                   "distance-bias table)",
                   ats_model_get_dir (model));
      return FALSE;
    }
  L = c->n_layers;
  H = c->n_heads;
  W = c->bias_window;
  p->n_layers = L;
  p->n_heads = H;
  p->bias_window = W;
  p->tau = g_new (float, (gsize) L *H);
  p->bias = g_new (float, (gsize) L *H *W);
  for (guint l = 0; l < L; l++)
    {
      memcpy (p->tau + (gsize) l * H, ats_model_get_lazy_tau (model, l), H * sizeof (float));
      memcpy (p->bias + (gsize) l * H * W, ats_model_get_lazy_bias (model, l),
              (gsize) H * W * sizeof (float));
    }
  p->source = g_strdup_printf ("checkpoint %s (model_type %s)", ats_model_get_dir (model),
                               c->model_type ? c->model_type : "?");
  return TRUE;
}

static gboolean
load_from_capture (const char *path, guint run, LazyParams *p, GError **error)
{
  AtsCaptureFile            *f = ats_capture_file_open (path, FALSE, error);
  const AtsCaptureModelInfo *m;
  gboolean                   ok;

  if (f == NULL)
    return FALSE;
  m = ats_capture_file_get_model_info (f);
  if (run >= ats_capture_file_get_n_runs (f))
    {
      g_set_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_MISSING, "%s has no run %u", path,
                   run);
      ats_capture_file_close (f, NULL);
      return FALSE;
    }
  ok = ats_capture_file_read_run_lazy (f, run, &p->tau, &p->bias, &p->bias_window, error);
  if (ok)
    {
      p->n_layers = m->n_layers;
      p->n_heads = m->n_heads;
      p->source = g_strdup_printf ("capture %s, run %06u (model %s)", path, run,
                                   m->source ? m->source : "?");
    }
  ats_capture_file_close (f, NULL);
  return ok;
}

static void
draw_tau_cb (cairo_t *cr, double width, double height, gpointer user_data)
{
  ats_lazy_draw_tau_map (user_data, cr, width, height);
}

static void
draw_bias_cb (cairo_t *cr, double width, double height, gpointer user_data)
{
  ats_lazy_draw_bias_curves (user_data, cr, width, height);
}

int
ats_cli_lazy_main (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_autofree char *title = NULL;
  g_autofree char *cmap_name = NULL;
  gboolean         tau_map = FALSE, bias_curves = FALSE;
  int              run_index = 0, width = 0, n_cols = 0;
  double           dpi = 72.0;
  GOptionEntry     entries[] = {
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output figure (.png, .svg or .pdf)", "FILE" },
        { "tau-map", 0, 0, G_OPTION_ARG_NONE, &tau_map,
          "tau as a layers x heads map with per-layer means (default)", NULL },
        { "bias-curves", 0, 0, G_OPTION_ARG_NONE, &bias_curves,
          "Distance-bias curves per head, one panel per layer, log distance axis", NULL },
        { "run", 'r', 0, G_OPTION_ARG_INT, &run_index,
          "Run of a capture whose lazy/ parameters to draw (default 0)", "N" },
        { "columns", 0, 0, G_OPTION_ARG_INT, &n_cols,
          "Bias panels per row (default: about the square root of the layer count)", "N" },
        { "colormap", 'c', 0, G_OPTION_ARG_STRING, &cmap_name,
          "tau map colours: viridis (default), magma, cividis, grey, rdbu", "NAME" },
        { "width", 'w', 0, G_OPTION_ARG_INT, &width,
          "Figure width in pixels at --dpi (default 1000; bias curves 1200)", "PX" },
        { "dpi", 0, 0, G_OPTION_ARG_DOUBLE, &dpi,
          "Resolution: SVG/PDF pages are WIDTH x 72 / DPI points wide (default 72)", "DPI" },
        { "title", 't', 0, G_OPTION_ARG_STRING, &title, "Figure title", "TEXT" },
        { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
      "MODEL_DIR|FILE.h5 --out FIG - draw a Lazy Attention model's tau and distance bias");
  g_autoptr (GError) error = NULL;
  g_auto (LazyParams) params = { 0 };
  g_autofree char  *footer = NULL;
  AtsExportFormat   format;
  AtsLazyFigure     fig;
  AtsExportMetadata meta = { 0 };
  const char       *path;
  double            width_pt, height_pt;
  gboolean          ok;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (
      ctx, "Lazy Attention (REFERENCE §1) learns per head an Elastic-Softmax offset tau\n"
           "(A = max(0, softmax + tau/i)) and a bias b_h[i-j] added to the logits by distance.\n"
           "Reads them from a Lazy checkpoint folder or from lazy/ of a Lazy capture.");
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("lazy: %s", error->message);
      return 2;
    }
  if (argc != 2)
    {
      ats_cli_fail ("lazy: give one Lazy checkpoint folder or capture file");
      return 2;
    }
  if (out == NULL)
    {
      ats_cli_fail ("lazy: --out FIG.(png|svg|pdf) is required");
      return 2;
    }
  if (tau_map && bias_curves)
    {
      ats_cli_fail ("lazy: give one of --tau-map and --bias-curves");
      return 2;
    }
  if (run_index < 0 || width < 0 || !(dpi > 0) || n_cols < 0)
    {
      ats_cli_fail ("lazy: --run, --width, --columns and --dpi must be positive");
      return 2;
    }
  if (!ats_export_format_from_path (out, &format, &error))
    {
      ats_cli_fail ("lazy: %s", error->message);
      return 2;
    }
  path = argv[1];
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return ats_cli_fail ("lazy: %s: no such file or folder", path);

  if (g_file_test (path, G_FILE_TEST_IS_DIR) ||
      !(g_str_has_suffix (path, ".h5") || g_str_has_suffix (path, ".hdf5")))
    ok = load_from_model (path, &params, &error);
  else
    ok = load_from_capture (path, run_index, &params, &error);
  if (!ok)
    return ats_cli_fail ("lazy: %s", error->message);

  ats_lazy_figure_init (&fig, params.tau, params.bias, params.n_layers, params.n_heads,
                        params.bias_window);
  fig.n_cols = n_cols;
  if (cmap_name != NULL && !ats_colormap_from_string (cmap_name, &fig.colormap, &error))
    {
      ats_cli_fail ("lazy: %s", error->message);
      return 2;
    }
  footer = g_strdup_printf ("%s\n%u layers x %u heads, distance-bias table of %u entries "
                            "(distances 0..%u; beyond: 0)",
                            params.source, params.n_layers, params.n_heads, params.bias_window,
                            params.bias_window - 1);
  fig.footer = footer;
  if (title == NULL)
    title = g_strdup (bias_curves ? "Lazy Attention: distance bias b_h[i-j] per head"
                                  : "Lazy Attention: Elastic-Softmax tau per head");
  fig.title = title;
  meta.title = title;
  meta.description = footer;

  if (width == 0)
    width = bias_curves ? 1200 : 1000;
  width_pt = width * 72.0 / dpi;
  if (bias_curves)
    {
      int cols = n_cols > 0 ? MIN (n_cols, (int) params.n_layers)
                            : (int) ceil (sqrt ((double) params.n_layers));
      int rows = (params.n_layers + cols - 1) / cols;

      /* panels about 4:3 beside a legend column, plus title and footer */
      height_pt = width_pt * 0.85 / cols * 0.75 * rows + width_pt * 0.12;
    }
  else
    height_pt = MAX (width_pt * 0.45, width_pt * 0.62 * params.n_layers / (params.n_heads + 4.0)) +
                width_pt * 0.1;

  if (!ats_export (out, format, width_pt, height_pt, dpi, &meta,
                   bias_curves ? draw_bias_cb : draw_tau_cb, &fig, &error))
    return ats_cli_fail ("lazy: %s", error->message);
  return 0;
}
