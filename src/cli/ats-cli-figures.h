/* ats-cli-figures.h — figures of the merge tools (issue 8), shared by the subcommands
 *
 *   diff --out FIG          weight delta as a layers x tensor-kinds heat matrix
 *                           (ats-cli-diff-figure.c, called from ats-cli-diff.c)
 *   render SWEEP.h5 --plot  diagnostics against the merge parameter of a sweep file
 *                           (ats-cli-render-sweep.c, called from ats-cli-render.c)
 */
#pragma once

#include <glib.h>

#include "attnscope/ats-weight-diff.h"

G_BEGIN_DECLS

typedef struct
{
  const char *out;    /* FIG.png / .svg / .pdf */
  const char *metric; /* "rel" (default when NULL), "norm", "cos", "cos-delta" */
  const char *title;  /* NULL: from the metric */
  int         width;  /* pixels at dpi, 0: default */
  double      dpi;    /* resolution of a PNG, 72 (one pixel per point) by default */
} AtsCliDiffFigure;

/* Checks the figure options before the (long) diff runs: metric name, output format from the
 * file name, width. Prints the problem and returns 2 (usage error), or 0. */
int ats_cli_diff_figure_check (const AtsCliDiffFigure *figure);
/* Draws @diff to figure->out (written completely or not at all). Returns the exit status. */
int ats_cli_diff_figure_write (const AtsCliDiffFigure *figure,
                               const AtsWeightDiff    *diff,
                               const char             *base_dir,
                               const char             *other_dir);

/* TRUE when `render` @argv asks for a sweep plot: --sweep, --per-layer or --json is given, or
 * --plot with a single capture file that has a /sweep group and no --run/--runs/--corpus/--head
 * (those keep the per-layer plot of the file's runs). */
gboolean ats_cli_render_sweep_applies (int argc, char **argv);
/* `render SWEEP.h5 --plot METRIC[,METRIC] --out FIG [--per-layer] [--json FILE]`: each
 * diagnostic against the swept alpha / lambda. Returns the exit status. */
int ats_cli_render_sweep_main (int argc, char **argv);

G_END_DECLS
