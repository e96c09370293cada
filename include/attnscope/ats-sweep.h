/* ats-sweep.h — merge sweeps: one capture file, one group of runs per merge step
 *
 * A sweep file is an attnscope capture file (REFERENCE §4, readable by every capture reader)
 * whose runs are ordered step-major (run = step * n_prompts + prompt) plus a /sweep group that
 * says which run belongs to which merge step and holds per-step summaries of every diagnostic
 * (layout: data/sweep-format.md). The capture API writes the runs; this module only adds and
 * reads /sweep, after the capture file has been closed. HDF5 calls stay on the calling thread.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-merge.h"

G_BEGIN_DECLS

#define ATS_SWEEP_FORMAT "attnscope-sweep"
#define ATS_SWEEP_FORMAT_VERSION 1

typedef struct
{
  AtsMergeMethod method;
  char          *parameter; /* the swept parameter: "alpha" (linear) or "lambda" */
  guint          n_steps;   /* S */
  double        *values;    /* [S] the parameter at each step */
  guint          n_prompts; /* P */
  gint32        *runs;      /* [S, P] run index under /runs, -1 = not captured */
  double         alpha;     /* fixed parameters of the recipe; the swept one is NaN here */
  double         lambda;
  double         density;
  char          *only; /* NULL: all tensors */
  char          *base;
  char         **tuned; /* NULL-terminated */
  gboolean       maps;  /* attention maps stored */
} AtsSweepInfo;

void ats_sweep_info_free (AtsSweepInfo *info);

/* Adds /sweep to the closed capture file at @path: attributes, values [S], runs [S, P] and the
 * summaries computed from @results ([S * P], entries may be NULL for runs not captured). Errors:
 * ATS_CAPTURE_ERROR_IO (cannot open or write), ATS_CAPTURE_ERROR_FORMAT (/sweep exists). */
gboolean ats_sweep_file_annotate (const char            *path,
                                  const AtsSweepInfo    *info,
                                  AtsDiagResults *const *results,
                                  GError               **error);
/* Reads /sweep back. ATS_CAPTURE_ERROR_MISSING when the file is a capture without /sweep,
 * ATS_CAPTURE_ERROR_FORMAT for another format or version. */
AtsSweepInfo *ats_sweep_file_read_info (const char *path, GError **error);
/* Reads /sweep/summary/@metric (@by_layer FALSE: [S, P]) or /sweep/summary/@metric_by_layer
 * (@by_layer TRUE: [S, P, rows], rows = L or L+1) as doubles, newly allocated; NaN entries are
 * runs not captured. @metric is "sink_rate" or an [L, H] / [L+1] diagnostic of
 * ats_diag_metrics_list(). @n_steps, @n_prompts, @n_rows (1 when not @by_layer) may be NULL.
 * Errors: ATS_CAPTURE_ERROR_IO (cannot open or read), ATS_CAPTURE_ERROR_MISSING (no /sweep, no
 * /sweep/summary, or no such summary), ATS_CAPTURE_ERROR_FORMAT (the dataset is not
 * [n_steps, n_prompts(, rows)]). */
double *ats_sweep_file_read_summary (const char *path,
                                     const char *metric,
                                     gboolean    by_layer,
                                     guint      *n_steps,
                                     guint      *n_prompts,
                                     guint      *n_rows,
                                     GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsSweepInfo, ats_sweep_info_free)

G_END_DECLS
