/* ats-weight-diff.h — where did the weights move? Per layer and tensor kind statistics of the
 * difference between two checkpoints of one architecture (e.g. base and fine-tuned or merged).
 *
 * For every (layer, kind) group — kinds as classified by ats_tensor_kind_classify(), weights
 * and biases of a module together, fused qkv reported as qkv — with b the base values and o the
 * other checkpoint's, d = o - b, all sums over the group's elements in float64:
 *   delta_l2          ||d||
 *   relative          ||d|| / ||b||
 *   cos_other_base    <o, b> / (||o|| ||b||)   how much the weights kept their direction
 *   cos_delta_base    <d, b> / (||d|| ||b||)   whether the change grows (+) or shrinks (-) them
 * Undefined ratios (a zero norm) are NaN. Rows outside the blocks (embeddings, LM head, final
 * norm) have layer -1.
 */
#pragma once

#include <glib.h>
#include "attnscope/ats-merge.h"

G_BEGIN_DECLS

typedef struct
{
  int           layer; /* -1: outside the blocks */
  AtsTensorKind kind;
  guint         n_tensors;
  guint64       n_params;
  double        base_sq;        /* sum b^2 */
  double        other_sq;       /* sum o^2 */
  double        delta_sq;       /* sum d^2 */
  double        dot_base_other; /* sum b o */
  double        dot_delta_base; /* sum d b */
  /* derived */
  double delta_l2;
  double relative;
  double cos_other_base;
  double cos_delta_base;
} AtsWeightDiffRow;

typedef struct
{
  guint             n_layers; /* 1 + the largest layer index seen, 0 if none */
  guint             n_rows;
  AtsWeightDiffRow *rows; /* sorted: layer -1 first, then by layer, then by kind */
} AtsWeightDiff;

typedef enum
{
  ATS_WEIGHT_DIFF_DELTA_L2,
  ATS_WEIGHT_DIFF_RELATIVE,
  ATS_WEIGHT_DIFF_COS_OTHER_BASE,
  ATS_WEIGHT_DIFF_COS_DELTA_BASE,
} AtsWeightDiffMetric;

/* Checks the two checkpoints like a merge does (same architecture, tensor names, shapes and
 * dtypes; ATS_MERGE_ERROR_MISMATCH naming the tensor), then streams over both. @progress may be
 * NULL; returning FALSE cancels (ATS_MERGE_ERROR_INPUT "cancelled"). */
AtsWeightDiff *ats_weight_diff_compute (const char     *base_dir,
                                        const char     *other_dir,
                                        AtsProgressFunc progress,
                                        gpointer        progress_data,
                                        GError        **error);
void           ats_weight_diff_free (AtsWeightDiff *diff);
/* A table (aligned columns) or CSV with a header line:
 * layer,kind,n_tensors,n_params,delta_l2,base_l2,relative,cos_other_base,cos_delta_base
 * (layer -1 = outside the blocks). */
GString *ats_weight_diff_format (const AtsWeightDiff *diff, gboolean csv);
/* Reads a CSV written by ats_weight_diff_format (diff, TRUE) back (`attnscope-cli diff --csv`):
 * the same header and columns, one row per (layer, kind), layer -1 outside the blocks; "\r\n"
 * line ends and blank lines are accepted. The statistics are taken as written (%.9g); the sums
 * (base_sq, other_sq, delta_sq, dot_*) are derived from them. Errors: a GFileError when it cannot
 * be read, otherwise ATS_MERGE_ERROR_INPUT "FILE:LINE: what is wrong" (wrong header, wrong
 * column count, a bad number, an unknown kind, a repeated row). */
AtsWeightDiff *ats_weight_diff_load_csv (const char *path, GError **error);
/* The layers x kinds matrix of @metric for a heatmap: [n_layers, ATS_TENSOR_KIND_N], NaN where a
 * layer has no tensor of that kind. Newly allocated. */
float *ats_weight_diff_get_layer_matrix (const AtsWeightDiff *diff, AtsWeightDiffMetric metric);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AtsWeightDiff, ats_weight_diff_free)

G_END_DECLS
