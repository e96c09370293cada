/* ats-cli-diff.c — `attnscope-cli diff`: where did the weights move between two checkpoints?
 *
 * Per layer and tensor kind (q, k, v, qkv, o, gate, up, down, norms, embeddings, ...): the
 * delta's L2 norm, its norm relative to base and the cosines, as a table or CSV.
 */
#include <stdio.h>

#include "attnscope/ats-weight-diff.h"
#include "ats-cli-figures.h"
#include "ats-cli.h"

int
ats_cli_diff_main (int argc, char **argv)
{
  g_autofree char *base = NULL, *other = NULL;
  gboolean         csv = FALSE;
  g_autofree char *fig_out = NULL, *metric = NULL, *title = NULL;
  int              width = 0;
  double           dpi = 72.0;
  g_autoptr (GError) error = NULL;

  GOptionEntry entries[] = {
    { "base", 'b', 0, G_OPTION_ARG_FILENAME, &base, "Base checkpoint folder", "DIR" },
    { "other", 'o', 0, G_OPTION_ARG_FILENAME, &other,
      "Checkpoint to compare (fine-tuned or merged)", "DIR" },
    { "csv", 0, 0, G_OPTION_ARG_NONE, &csv,
      "CSV: layer,kind,n_tensors,n_params,delta_l2,base_l2,relative,cos_other_base,"
      "cos_delta_base (layer -1 = embeddings, LM head, final norm)",
      NULL },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &fig_out,
      "Draw a layers x tensor-kinds heatmap to FIG (.png, .svg or .pdf) instead of the table",
      "FIG" },
    { "metric", 'm', 0, G_OPTION_ARG_STRING, &metric,
      "Heatmap value: rel (default, |delta|/|base|), norm (|delta|), cos (cos(o,b)) or cos-delta",
      "rel|norm|cos|cos-delta" },
    { "title", 't', 0, G_OPTION_ARG_STRING, &title, "Heatmap title", "TEXT" },
    { "width", 'w', 0, G_OPTION_ARG_INT, &width, "Heatmap width in pixels (default 900)", "PX" },
    { "dpi", 0, 0, G_OPTION_ARG_DOUBLE, &dpi, "Heatmap resolution (default 72)", "DPI" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("- compare the weights of two checkpoints");
  g_option_context_set_summary (
      ctx, "For every layer and tensor kind (weights and biases together; fused qkv as qkv):\n"
           "|delta| = ||other - base||, relative = |delta| / ||base||, cos(o,b) = cosine of other\n"
           "and base, cos(d,b) = cosine of the delta and base (> 0: the weights grew along\n"
           "themselves). Sums are float64.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("diff: %s", error->message);
      return 2;
    }
  if (base == NULL || other == NULL)
    {
      ats_cli_fail ("diff: --base and --other are required (see --help)");
      return 2;
    }
  if (argc > 1)
    {
      ats_cli_fail ("diff: unexpected argument \"%s\"", argv[1]);
      return 2;
    }

  AtsCliDiffFigure figure = { fig_out, metric, title, width, dpi };
  int              status = ats_cli_diff_figure_check (&figure);
  if (status != 0)
    return status;

  g_autoptr (AtsWeightDiff) diff = ats_weight_diff_compute (base, other, NULL, NULL, &error);
  if (diff == NULL)
    return ats_cli_fail ("%s", error->message);
  if (figure.out != NULL && !csv)
    return ats_cli_diff_figure_write (&figure, diff, base, other);
  g_autoptr (GString) text = ats_weight_diff_format (diff, csv);
  fputs (text->str, stdout);
  return figure.out != NULL ? ats_cli_diff_figure_write (&figure, diff, base, other) : 0;
}
