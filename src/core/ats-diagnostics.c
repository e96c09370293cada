/* ats-diagnostics.c — streaming attention-allocation diagnostics (REFERENCE §3)
 *
 * Per head (l, h) we keep only:
 *   - the pass-0 column sums [T] in double (freed once the head's sink scores are final),
 *   - the head's sink set (key indices with alpha > eps, ascending),
 *   - a handful of counters and sums (rows, zeros, entropy sum, ...).
 * Everything else is computed row by row from the delivered blocks, so the total memory is
 * O(L*H*T) for the results plus O(T) scratch, whatever T is, and no [T, T] map is ever kept.
 *
 * Row order independence: counters are integers; sums are accumulated in double, so results
 * do not depend on the order of blocks beyond double rounding (far below float precision).
 */
#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-error.h"

/* top_p_width: relative slack on the covering target, so that exact ties (a uniform row of
 * float weights 1/n) are not pushed one key further by float rounding. */
#define TOP_P_REL_SLACK 1e-6

typedef struct
{
  double  *col_sum; /* [T] pass-0 column sums; NULL before the first row and once final */
  guint   *sinks;   /* [n_sinks] sink key indices (alpha > eps), ascending */
  guint    n_sinks;
  gboolean final;         /* sink scores computed */
  guint    rows[2];       /* rows delivered per pass */
  double   mass_sum;      /* sum of row masses (all rows) */
  guint64  zeros;         /* visible entries exactly 0 */
  guint64  below_uniform; /* visible entries < 1/n_i */
  double   entropy_sum;
  guint64  entropy_rows;
  double   top_p_sum;
  guint64  top_p_rows;
  guint64  underloaded;
  guint64  overloaded;
  guint64  load_rows; /* pass-1 rows with n_i >= min_keys */
} HeadAcc;

struct _AtsDiagnostics
{
  AtsObserver     observer;
  AtsDiagParams   params;
  guint           n_layers; /* L */
  guint           n_heads;  /* H */
  guint           n_tokens; /* T */
  HeadAcc        *heads;    /* [L, H] */
  AtsDiagResults *results;  /* being filled */
  guint32        *hist;     /* [65536] radix-select histogram (hidden states, one thread) */
  /* Top-p scratch sets: blocks of different heads may be fed concurrently (the observer sets
   * concurrent_heads), so each call borrows a set of its own. */
  GMutex     scratch_lock;
  GPtrArray *scratch_free; /* of Scratch */
};

void
ats_diag_params_init_default (AtsDiagParams *params)
{
  g_return_if_fail (params != NULL);

  params->sink_eps = 0.3;
  params->underload_mass = 0.5;
  params->overload_mass = 0.5;
  params->overload_k = 4;
  params->overload_factor = 2.0;
  params->top_p = 0.9;
  params->min_keys = 8;
  params->massive_abs = 100.0;
  params->massive_ratio = 1000.0;
}

/* --- results --------------------------------------------------------------------------- */

static float *
nan_array (gsize n)
{
  float *a = g_new (float, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    a[i] = NAN;
  return a;
}

AtsDiagResults *
ats_diag_results_new (guint n_layers, guint n_heads, guint n_tokens)
{
  AtsDiagResults *r = g_new0 (AtsDiagResults, 1);
  gsize           lh = (gsize) n_layers * n_heads;
  gsize           l1 = (gsize) n_layers + 1;

  r->n_layers = n_layers;
  r->n_heads = n_heads;
  r->n_tokens = n_tokens;
  ats_diag_params_init_default (&r->params);
  r->sink_score = nan_array (lh * n_tokens);
  r->first_token_mass = nan_array (lh);
  r->entropy = nan_array (lh);
  r->row_mass = nan_array (lh);
  r->sparsity = nan_array (lh);
  r->uniform_sparsity = nan_array (lh);
  r->underload = nan_array (lh);
  r->overload = nan_array (lh);
  r->top_p_width = nan_array (lh);
  r->collapse_cosine = nan_array (l1);
  r->collapse_cosine_centered = nan_array (l1);
  r->variance_footprint = nan_array (l1 * n_tokens);
  r->massive_count = g_new (gint32, l1);
  for (gsize i = 0; i < l1; i++)
    r->massive_count[i] = -1;
  r->massive_max_abs = nan_array (l1 * n_tokens);
  r->median_abs = nan_array (l1);
  r->sink_rate = NAN;
  return r;
}

void
ats_diag_results_free (AtsDiagResults *results)
{
  if (results == NULL)
    return;
  g_free (results->sink_score);
  g_free (results->first_token_mass);
  g_free (results->entropy);
  g_free (results->row_mass);
  g_free (results->sparsity);
  g_free (results->uniform_sparsity);
  g_free (results->underload);
  g_free (results->overload);
  g_free (results->top_p_width);
  g_free (results->collapse_cosine);
  g_free (results->collapse_cosine_centered);
  g_free (results->variance_footprint);
  g_free (results->massive_count);
  g_free (results->massive_max_abs);
  g_free (results->median_abs);
  g_free (results);
}

void
ats_diag_results_update_sink_rate (AtsDiagResults *results)
{
  gsize lh, n = 0, sinks = 0;

  g_return_if_fail (results != NULL);

  lh = (gsize) results->n_layers * results->n_heads;
  for (gsize i = 0; i < lh; i++)
    {
      float f = results->first_token_mass[i];

      if (isnan (f))
        continue;
      n++;
      if ((double) f > results->params.sink_eps)
        sinks++;
    }
  results->sink_rate = n > 0 ? 100.0 * (double) sinks / (double) n : NAN;
}

/* --- metric catalogue ------------------------------------------------------------------ */

static const AtsDiagMetricInfo metric_info[] = {
  { "sink_score", "alpha", ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN, FALSE, FALSE,
    "sink score alpha[l,h,k]: mean weight key k receives from the queries that see it" },
  { "first_token_mass", "first-tok", ATS_DIAG_SHAPE_LAYER_HEAD, FALSE, FALSE,
    "sink score of the first token, alpha[l,h,0]" },
  { "entropy", "entropy", ATS_DIAG_SHAPE_LAYER_HEAD, FALSE, FALSE,
    "normalised row entropy -sum A log A / log n_i (rows renormalised, n_i >= min_keys)" },
  { "row_mass", "row-mass", ATS_DIAG_SHAPE_LAYER_HEAD, FALSE, FALSE,
    "mean row sum (1 for softmax; Elastic-Softmax abstains 1 - mass)" },
  { "sparsity", "sparsity", ATS_DIAG_SHAPE_LAYER_HEAD, FALSE, FALSE,
    "fraction of causally visible entries that are exactly 0" },
  { "uniform_sparsity", "unif-sp*", ATS_DIAG_SHAPE_LAYER_HEAD, TRUE, FALSE,
    "(ours) fraction of visible entries below the uniform share 1/n_i" },
  { "underload", "under*", ATS_DIAG_SHAPE_LAYER_HEAD, TRUE, FALSE,
    "(ours) fraction of rows putting >= underload_mass on the head's sink set" },
  { "overload", "over*", ATS_DIAG_SHAPE_LAYER_HEAD, TRUE, FALSE,
    "(ours) fraction of rows with non-sink mass >= overload_mass and >= overload_k non-sink "
    "keys within overload_factor of the largest non-sink weight" },
  { "top_p_width", "top-p*", ATS_DIAG_SHAPE_LAYER_HEAD, TRUE, FALSE,
    "(ours) smallest number of keys covering top_p of the row mass, divided by n_i" },
  { "collapse_cosine", "cos", ATS_DIAG_SHAPE_HIDDEN_LAYER, FALSE, FALSE,
    "mean pairwise cosine similarity of hidden states over tokens 2..T" },
  { "collapse_cosine_centered", "cos-c", ATS_DIAG_SHAPE_HIDDEN_LAYER, FALSE, FALSE,
    "mean pairwise cosine similarity after subtracting the mean over tokens 2..T" },
  { "variance_footprint", "var", ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN, FALSE, FALSE,
    "per-token variance of the hidden state across the model width" },
  { "massive_count", "massive", ATS_DIAG_SHAPE_HIDDEN_LAYER, FALSE, TRUE,
    "hidden entries with |h| > massive_abs and |h| >= massive_ratio x median|h| of the layer" },
  { "massive_max_abs", "max|h|", ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN, FALSE, FALSE,
    "largest |h| of each token" },
  { "median_abs", "median|h|", ATS_DIAG_SHAPE_HIDDEN_LAYER, FALSE, FALSE,
    "median |h| over all entries of the layer" },
};

/* offsets of the arrays in AtsDiagResults, in metric_info order */
static const goffset metric_offset[] = {
  G_STRUCT_OFFSET (AtsDiagResults, sink_score),
  G_STRUCT_OFFSET (AtsDiagResults, first_token_mass),
  G_STRUCT_OFFSET (AtsDiagResults, entropy),
  G_STRUCT_OFFSET (AtsDiagResults, row_mass),
  G_STRUCT_OFFSET (AtsDiagResults, sparsity),
  G_STRUCT_OFFSET (AtsDiagResults, uniform_sparsity),
  G_STRUCT_OFFSET (AtsDiagResults, underload),
  G_STRUCT_OFFSET (AtsDiagResults, overload),
  G_STRUCT_OFFSET (AtsDiagResults, top_p_width),
  G_STRUCT_OFFSET (AtsDiagResults, collapse_cosine),
  G_STRUCT_OFFSET (AtsDiagResults, collapse_cosine_centered),
  G_STRUCT_OFFSET (AtsDiagResults, variance_footprint),
  G_STRUCT_OFFSET (AtsDiagResults, massive_count),
  G_STRUCT_OFFSET (AtsDiagResults, massive_max_abs),
  G_STRUCT_OFFSET (AtsDiagResults, median_abs),
};
G_STATIC_ASSERT (G_N_ELEMENTS (metric_offset) == G_N_ELEMENTS (metric_info));

const AtsDiagMetricInfo *
ats_diag_metrics_list (guint *n_metrics)
{
  if (n_metrics != NULL)
    *n_metrics = G_N_ELEMENTS (metric_info);
  return metric_info;
}

const AtsDiagMetricInfo *
ats_diag_metric_lookup (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (metric_info); i++)
    if (g_str_equal (metric_info[i].name, name))
      return &metric_info[i];
  return NULL;
}

static gsize
shape_size (AtsDiagShape shape, guint L, guint H, guint T)
{
  switch (shape)
    {
    case ATS_DIAG_SHAPE_LAYER_HEAD:
      return (gsize) L * H;
    case ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN:
      return (gsize) L * H * T;
    case ATS_DIAG_SHAPE_HIDDEN_LAYER:
      return (gsize) L + 1;
    case ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN:
      return ((gsize) L + 1) * T;
    default:
      g_return_val_if_reached (0);
    }
}

gconstpointer
ats_diag_results_get_metric (const AtsDiagResults *results, const char *name, gsize *n_values)
{
  const AtsDiagMetricInfo *info;
  gconstpointer            p = NULL;

  g_return_val_if_fail (results != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  info = ats_diag_metric_lookup (name);
  if (info == NULL)
    return NULL;

  p = G_STRUCT_MEMBER (gpointer, results, metric_offset[info - metric_info]);

  if (n_values != NULL)
    *n_values = shape_size (info->shape, results->n_layers, results->n_heads, results->n_tokens);
  return p;
}

/* --- row kernels ----------------------------------------------------------------------- */

/* Smallest m such that the m largest of @v [n] (all > 0) sum to >= @target.
 * Exact selection by three-way quickselect on sums: expected O(n), @v is reordered. */
static guint
top_p_count (float *v, guint n, double target)
{
  guint   lo = 0, hi = n, m = 0;
  guint32 rng = 0x9e3779b9u ^ n;

  while (hi > lo)
    {
      guint  len = hi - lo;
      float  a, b, c, pivot;
      guint  lt, gt, i;
      double sum_gt = 0.0;

      /* median of three pseudo-random samples */
      rng = rng * 1664525u + 1013904223u;
      a = v[lo + (rng >> 8) % len];
      rng = rng * 1664525u + 1013904223u;
      b = v[lo + (rng >> 8) % len];
      rng = rng * 1664525u + 1013904223u;
      c = v[lo + (rng >> 8) % len];
      pivot = MAX (MIN (a, b), MIN (MAX (a, b), c));

      /* three-way partition of [lo, hi): [lo, gt) > pivot, [gt, i) == pivot, [lt, hi) < pivot */
      gt = lo;
      i = lo;
      lt = hi;
      while (i < lt)
        {
          float x = v[i];

          if (x > pivot)
            {
              v[i] = v[gt];
              v[gt] = x;
              sum_gt += x;
              gt++;
              i++;
            }
          else if (x < pivot)
            {
              lt--;
              v[i] = v[lt];
              v[lt] = x;
            }
          else
            i++;
        }

      if (gt > lo && sum_gt >= target)
        {
          hi = gt; /* the answer lies among the larger values */
          continue;
        }

      {
        guint  n_eq = lt - gt;
        double need = target - sum_gt;
        double eq_sum = (double) n_eq * pivot;

        m += gt - lo;
        if (eq_sum >= need)
          {
            guint k = (guint) ceil (need / pivot);

            k = CLAMP (k, 1, n_eq);
            while (k > 1 && (double) (k - 1) * pivot >= need)
              k--;
            while (k < n_eq && (double) k * pivot < need)
              k++;
            return m + k;
          }
        m += n_eq;
        target = need - eq_sum;
        lo = lt;
      }
    }

  return m; /* rounding left the target unreached: every key */
}

/* --- row statistics kernel (GCC/Clang vector extensions, 4 floats wide) ------------------ */

typedef float  v4f __attribute__ ((vector_size (16)));
typedef gint32 v4i __attribute__ ((vector_size (16)));

/* x log x for 4 lanes; 0 for x < FLT_MIN (zeros and subnormals, whose share of the row's
 * sum a log a is below 1e-36, i.e. below double rounding of any row). log is computed as
 * e ln 2 + 2 atanh ((m - 1) / (m + 1)) with m in [sqrt(1/2), sqrt(2)): relative error ~1e-7,
 * the same as logf. */
static inline v4f
v4_xlogx (v4f x)
{
  const v4f one = { 1, 1, 1, 1 };
  v4i       bits = (v4i) x;
  v4i       e = ((bits >> 23) & 0xff) - 127;
  v4f       m = (v4f) ((bits & 0x7fffff) | 0x3f800000);
  v4i       big = m > 1.41421356f; /* -1 where true */
  v4f       f, sv, s2, poly, lg;
  v4i       ok;

  m = (v4f) (((v4i) (m * 0.5f) & big) | ((v4i) m & ~big));
  e -= big;
  f = m - one;
  sv = f / (f + 2.0f);
  s2 = sv * sv;
  poly = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
  lg = 2.0f * sv * poly + __builtin_convertvector(e, v4f) * 0.693147180559945f;
  ok = x >= 1.17549435e-38f;
  return (v4f) ((v4i) (x * lg) & ok);
}

typedef struct
{
  double mass;  /* sum x */
  double alog;  /* sum x log x (x > 0) */
  guint  zeros; /* x == 0 */
  guint  below; /* x < uniform */
  float  max;
} RowStats;

/* Statistics of @row [n]; @with_log adds sum x log x. Partial sums are kept in float for at
 * most 4 elements per lane, then added in double. */
static void
row_stats (const float *row, guint n, float uniform, gboolean with_log, RowStats *st)
{
  const v4f zero = { 0, 0, 0, 0 };
  v4f       vmax = zero;
  v4i       vzeros = { 0, 0, 0, 0 }, vbelow = { 0, 0, 0, 0 };
  double    mass = 0.0, alog = 0.0;
  float     mx = 0.0f;
  guint     j = 0;

  for (; j + 16 <= n; j += 16)
    {
      v4f vm = zero, vl = zero;

      for (guint k = 0; k < 16; k += 4)
        {
          v4f x;

          memcpy (&x, row + j + k, sizeof x);
          vm += x;
          vzeros -= x == zero;
          vbelow -= x < uniform;
          vmax = (v4f) (((v4i) x & (x > vmax)) | ((v4i) vmax & ~(x > vmax)));
          if (with_log)
            vl += v4_xlogx (x);
        }
      mass += ((double) vm[0] + vm[1]) + ((double) vm[2] + vm[3]);
      alog += ((double) vl[0] + vl[1]) + ((double) vl[2] + vl[3]);
    }
  for (; j < n; j++)
    {
      float x = row[j];

      mass += x;
      vzeros[0] += x == 0.0f;
      vbelow[0] += x < uniform;
      mx = MAX (mx, x);
      if (with_log && x >= 1.17549435e-38f)
        alog += x * logf (x);
    }
  st->mass = mass;
  st->alog = alog;
  st->zeros = vzeros[0] + vzeros[1] + vzeros[2] + vzeros[3];
  st->below = vbelow[0] + vbelow[1] + vbelow[2] + vbelow[3];
  st->max = MAX (MAX (MAX (vmax[0], vmax[1]), MAX (vmax[2], vmax[3])), mx);
}

typedef struct
{
  float   *row;       /* [T] row copy for top-p selection */
  guint32 *bin_count; /* [TOP_P_BINS + 1] top-p histogram, kept zeroed */
  double  *bin_sum;   /* [TOP_P_BINS + 1] */
} Scratch;

/* Bins of the histogram stage of top_p_width: 1/8 octave each below the row maximum, the last
 * bin open-ended; one more bin collects exact zeros (never counted). */
#define TOP_P_BINS 256
#define TOP_P_SUBBITS 3

static inline guint
top_p_bin (float x, guint32 key_max)
{
  guint32 bits, rel;

  memcpy (&bits, &x, sizeof bits);
  rel = key_max - (bits >> (23 - TOP_P_SUBBITS));
  rel = MIN (rel, TOP_P_BINS - 1);
  return x > 0.0f ? rel : TOP_P_BINS;
}

/* Smallest number of keys of @row [n] (weights >= 0, largest @mx) whose sum reaches @target.
 * Exact, in two stages: a histogram over the float bit pattern (monotone in the value) finds
 * the bin where the covering set ends, with every larger bin taken whole; that bin's entries
 * are then resolved by quickselect. O(n) per row, no sort. */
static guint
top_p_width (Scratch *sc, const float *row, guint n, float mx, double target)
{
  guint32 *counts = sc->bin_count; /* [TOP_P_BINS + 1], all 0 between rows */
  double  *sums = sc->bin_sum;     /* [TOP_P_BINS + 1], all 0 between rows */
  guint32  key_max;
  double   cum = 0.0;
  guint    m = 0, b, k = 0, hi = 0;

  memcpy (&key_max, &mx, sizeof key_max);
  key_max >>= 23 - TOP_P_SUBBITS;
  for (guint j = 0; j < n; j++)
    {
      guint bin = top_p_bin (row[j], key_max);

      counts[bin]++;
      sums[bin] += row[j];
      hi = MAX (hi, bin);
    }
  hi = MIN (hi, TOP_P_BINS - 1); /* the zeros' bin is never read */

  for (b = 0; b <= hi; b++)
    {
      if (cum + sums[b] >= target)
        break;
      cum += sums[b];
      m += counts[b];
    }
  /* leave the tables clean; bins above hi were never touched */
  memset (counts, 0, sizeof (guint32) * (hi + 1));
  memset (sums, 0, sizeof (double) * (hi + 1));
  counts[TOP_P_BINS] = 0;
  sums[TOP_P_BINS] = 0.0;
  if (b > hi)
    return m; /* rounding left the target unreached: every positive key */

  for (guint j = 0; j < n; j++)
    if (top_p_bin (row[j], key_max) == b)
      sc->row[k++] = row[j];
  return m + top_p_count (sc->row, k, target - cum);
}

/* Pass 0 over one row: row [n] are the visible entries of query row i (n = i + 1). */
static void
row_pass0 (AtsDiagnostics *self, Scratch *sc, HeadAcc *acc, const float *row, guint n)
{
  const AtsDiagParams *p = &self->params;
  double              *col = acc->col_sum;
  const float          uniform = (float) (1.0 / n);
  gboolean             qualifies = n >= p->min_keys;
  RowStats             st;
  double               mass, alog;
  float                mx;

  for (guint j = 0; j < n; j++)
    col[j] += row[j];

  row_stats (row, n, uniform, qualifies, &st);
  mass = st.mass;
  alog = st.alog;
  mx = st.max;
  acc->mass_sum += mass;
  acc->zeros += st.zeros;
  acc->below_uniform += st.below;
  if (!qualifies || mass <= 0.0)
    return;

  /* entropy of the renormalised row: -sum (a/s) log (a/s) = log s - (sum a log a) / s */
  if (n >= 2)
    {
      acc->entropy_sum += (log (mass) - alog / mass) / log ((double) n);
      acc->entropy_rows++;
    }

  {
    double target = p->top_p * mass * (1.0 - TOP_P_REL_SLACK);
    guint  m = (double) mx >= target ? 1 : top_p_width (sc, row, n, mx, target);

    acc->top_p_sum += (double) m / (double) n;
    acc->top_p_rows++;
  }
}

/* Adds the sum of @row [start, end) to @sum and raises @max to its largest entry; four
 * independent accumulators keep the double additions from serialising. */
static inline void
segment_sum_max (const float *row, guint start, guint end, double *sum, float *max)
{
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  float  m0 = *max, m1 = *max;
  guint  j = start;

  for (; j + 4 <= end; j += 4)
    {
      s0 += row[j];
      s1 += row[j + 1];
      s2 += row[j + 2];
      s3 += row[j + 3];
      m0 = MAX (m0, MAX (row[j], row[j + 1]));
      m1 = MAX (m1, MAX (row[j + 2], row[j + 3]));
    }
  for (; j < end; j++)
    {
      s0 += row[j];
      m0 = MAX (m0, row[j]);
    }
  *sum += (s0 + s1) + (s2 + s3);
  *max = MAX (m0, m1);
}

/* Pass 1 over one row (n >= min_keys): underload and overload against the head's sink set. */
static void
row_pass1 (AtsDiagnostics *self, HeadAcc *acc, const float *row, guint n)
{
  const AtsDiagParams *p = &self->params;
  double               sink_mass = 0.0, free_mass = 0.0;
  float                free_max = 0.0f;
  guint                start = 0;

  acc->load_rows++;

  /* non-sink keys are the segments between consecutive sink indices */
  for (guint s = 0; s <= acc->n_sinks; s++)
    {
      guint end = s < acc->n_sinks ? MIN (acc->sinks[s], n) : n;

      segment_sum_max (row, start, end, &free_mass, &free_max);
      if (s < acc->n_sinks && acc->sinks[s] < n)
        sink_mass += row[acc->sinks[s]];
      if (end >= n)
        break;
      start = end + 1;
    }

  if (sink_mass >= p->underload_mass)
    acc->underloaded++;

  if (free_mass >= p->overload_mass && free_max > 0.0f)
    {
      double thr = (double) free_max / p->overload_factor;
      guint  count = 0;

      start = 0;
      for (guint s = 0; s <= acc->n_sinks && count < p->overload_k; s++)
        {
          guint end = s < acc->n_sinks ? MIN (acc->sinks[s], n) : n;

          for (guint j = start; j < end; j++)
            count += (double) row[j] >= thr;
          if (end >= n)
            break;
          start = end + 1;
        }
      if (count >= p->overload_k)
        acc->overloaded++;
    }
}

/* All pass-0 rows of head (l, h) are in: sink scores and the sink set become final. */
static void
finalise_head (AtsDiagnostics *self, HeadAcc *acc, float *alpha /* [T] */)
{
  guint   T = self->n_tokens;
  GArray *sinks;

  if (acc->final)
    return;

  sinks = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint k = 0; k < T; k++)
    {
      double a = acc->col_sum[k] / (double) (T - k);

      alpha[k] = (float) a;
      if (a > self->params.sink_eps)
        g_array_append_val (sinks, k);
    }
  acc->n_sinks = sinks->len;
  acc->sinks = (guint *) g_array_free (sinks, FALSE);
  g_clear_pointer (&acc->col_sum, g_free);
  acc->final = TRUE;
}

/* --- streaming API --------------------------------------------------------------------- */

static gboolean
observer_begin (AtsObserver  *observer,
                AtsModel     *model,
                const gint32 *ids,
                guint         n_tokens,
                GError      **error)
{
  ats_diagnostics_reset (observer->user_data, n_tokens);
  return TRUE;
}

static gboolean
observer_attention (AtsObserver *observer, const AtsAttentionBlock *block, GError **error)
{
  return ats_diagnostics_add_block (observer->user_data, block, error);
}

static gboolean
observer_residual (AtsObserver *observer,
                   guint        layer,
                   guint        n_tokens,
                   guint        d_model,
                   const float *hidden,
                   GError     **error)
{
  AtsDiagnostics *self = observer->user_data;

  if (n_tokens != self->n_tokens || layer > self->n_layers)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "diagnostics: residual stream of layer %u with %u tokens does not fit a run "
                   "of %u layers and %u tokens",
                   layer, n_tokens, self->n_layers, self->n_tokens);
      return FALSE;
    }
  ats_diagnostics_add_hidden (self, layer, d_model, hidden);
  return TRUE;
}

static gboolean
observer_end (AtsObserver *observer, const float *logits, GError **error)
{
  return TRUE;
}

static void
clear_state (AtsDiagnostics *self)
{
  if (self->heads != NULL)
    {
      gsize lh = (gsize) self->n_layers * self->n_heads;

      for (gsize i = 0; i < lh; i++)
        {
          g_free (self->heads[i].col_sum);
          g_free (self->heads[i].sinks);
        }
      g_clear_pointer (&self->heads, g_free);
    }
  g_clear_pointer (&self->results, ats_diag_results_free);
  if (self->scratch_free != NULL)
    g_ptr_array_set_size (self->scratch_free, 0);
}

static void
scratch_free (gpointer data)
{
  Scratch *sc = data;
  g_free (sc->row);
  g_free (sc->bin_count);
  g_free (sc->bin_sum);
  g_free (sc);
}

static Scratch *
scratch_take (AtsDiagnostics *self)
{
  Scratch *sc = NULL;
  g_mutex_lock (&self->scratch_lock);
  if (self->scratch_free->len > 0)
    sc = g_ptr_array_steal_index_fast (self->scratch_free, self->scratch_free->len - 1);
  g_mutex_unlock (&self->scratch_lock);
  if (sc == NULL)
    {
      sc = g_new (Scratch, 1);
      sc->row = g_new (float, MAX (self->n_tokens, 1));
      sc->bin_count = g_new0 (guint32, TOP_P_BINS + 1);
      sc->bin_sum = g_new0 (double, TOP_P_BINS + 1);
    }
  return sc;
}

static void
scratch_give (AtsDiagnostics *self, Scratch *sc)
{
  g_mutex_lock (&self->scratch_lock);
  g_ptr_array_add (self->scratch_free, sc);
  g_mutex_unlock (&self->scratch_lock);
}

void
ats_diagnostics_reset (AtsDiagnostics *self, guint n_tokens)
{
  g_return_if_fail (self != NULL);

  clear_state (self);
  self->n_tokens = n_tokens;
  self->heads = g_new0 (HeadAcc, (gsize) self->n_layers * self->n_heads);
  self->results = ats_diag_results_new (self->n_layers, self->n_heads, n_tokens);
  self->results->params = self->params;
}

AtsDiagnostics *
ats_diagnostics_new (guint n_layers, guint n_heads, guint n_tokens, const AtsDiagParams *params)
{
  AtsDiagnostics *self;

  g_return_val_if_fail (n_layers > 0 && n_heads > 0, NULL);

  self = g_new0 (AtsDiagnostics, 1);
  if (params != NULL)
    self->params = *params;
  else
    ats_diag_params_init_default (&self->params);
  self->n_layers = n_layers;
  self->n_heads = n_heads;
  self->hist = g_new (guint32, 65536);
  g_mutex_init (&self->scratch_lock);
  self->scratch_free = g_ptr_array_new_with_free_func (scratch_free);

  self->observer.want_scores = FALSE;
  self->observer.second_pass = TRUE;
  self->observer.concurrent_heads = TRUE;
  self->observer.begin = observer_begin;
  self->observer.attention = observer_attention;
  self->observer.residual = observer_residual;
  self->observer.end = observer_end;
  self->observer.user_data = self;

  ats_diagnostics_reset (self, n_tokens);
  return self;
}

void
ats_diagnostics_free (AtsDiagnostics *self)
{
  if (self == NULL)
    return;
  clear_state (self);
  g_free (self->hist);
  g_ptr_array_unref (self->scratch_free);
  g_mutex_clear (&self->scratch_lock);
  g_free (self);
}

AtsObserver *
ats_diagnostics_get_observer (AtsDiagnostics *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return &self->observer;
}

gboolean
ats_diagnostics_add_block (AtsDiagnostics *self, const AtsAttentionBlock *block, GError **error)
{
  HeadAcc *acc;
  guint    T;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (block != NULL, FALSE);

  T = self->n_tokens;
  if (self->results == NULL)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "diagnostics: block after finish without reset");
      return FALSE;
    }
  if (block->layer >= self->n_layers || block->head >= self->n_heads || block->pass > 1 ||
      block->n_tokens != T || block->row_start > T || block->n_rows > T - block->row_start ||
      (block->probs == NULL && block->n_rows > 0))
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "diagnostics: attention block (layer %u, head %u, pass %u, %u tokens, rows "
                   "%u+%u) does not fit %u layers x %u heads x %u tokens",
                   block->layer, block->head, block->pass, block->n_tokens, block->row_start,
                   block->n_rows, self->n_layers, self->n_heads, T);
      return FALSE;
    }

  acc = &self->heads[(gsize) block->layer * self->n_heads + block->head];
  if (acc->rows[block->pass] + block->n_rows > T)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "diagnostics: layer %u head %u received more than %u rows in pass %u",
                   block->layer, block->head, T, block->pass);
      return FALSE;
    }

  if (block->pass == 0)
    {
      if (acc->final)
        {
          g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                       "diagnostics: layer %u head %u received pass-0 rows after pass 1 began",
                       block->layer, block->head);
          return FALSE;
        }
      if (acc->col_sum == NULL)
        acc->col_sum = g_new0 (double, MAX (T, 1)); /* [T] */
      Scratch *sc = scratch_take (self);
      for (guint r = 0; r < block->n_rows; r++)
        {
          guint i = block->row_start + r;

          row_pass0 (self, sc, acc, block->probs + (gsize) r * T, i + 1);
        }
      scratch_give (self, sc);
      acc->rows[0] += block->n_rows;
      return TRUE;
    }

  /* pass 1 */
  if (!acc->final)
    {
      if (acc->rows[0] != T)
        {
          g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                       "diagnostics: layer %u head %u: pass 1 began after only %u of %u pass-0 "
                       "rows",
                       block->layer, block->head, acc->rows[0], T);
          return FALSE;
        }
      finalise_head (self, acc,
                     self->results->sink_score +
                         ((gsize) block->layer * self->n_heads + block->head) * T);
    }
  for (guint r = 0; r < block->n_rows; r++)
    {
      guint i = block->row_start + r;

      if (i + 1 >= self->params.min_keys)
        row_pass1 (self, acc, block->probs + (gsize) r * T, i + 1);
    }
  acc->rows[1] += block->n_rows;
  return TRUE;
}

/* k-th smallest (0-based) of |x| over @x [n], exact, by a two-level radix select on the bit
 * pattern of |x| (non-negative floats order like their bits). O(n), no copy of @x. */
static float
abs_select (guint32 *hist /* [65536] */, const float *x, gsize n, gsize k)
{
  guint32 hi_bin = 0, bits;
  gsize   below = 0;

  memset (hist, 0, 65536 * sizeof (guint32));
  for (gsize i = 0; i < n; i++)
    {
      guint32 b;

      memcpy (&b, &x[i], sizeof b);
      hist[(b & 0x7fffffffu) >> 16]++;
    }
  for (hi_bin = 0; hi_bin < 65536; hi_bin++)
    {
      if (below + hist[hi_bin] > k)
        break;
      below += hist[hi_bin];
    }

  memset (hist, 0, 65536 * sizeof (guint32));
  for (gsize i = 0; i < n; i++)
    {
      guint32 b;

      memcpy (&b, &x[i], sizeof b);
      b &= 0x7fffffffu;
      if ((b >> 16) == hi_bin)
        hist[b & 0xffffu]++;
    }
  for (guint32 lo = 0; lo < 65536; lo++)
    {
      if (below + hist[lo] > k)
        {
          float v;

          bits = (hi_bin << 16) | lo;
          memcpy (&v, &bits, sizeof v);
          return v;
        }
      below += hist[lo];
    }
  g_return_val_if_reached (NAN);
}

/* Mean pairwise cosine over distinct pairs of rows t in [1, T) of @h [T, D], after subtracting
 * @center [D] (may be NULL): (|sum u|^2 - n) / (n (n - 1)) with u the unit vectors.
 * Zero vectors are left out. NaN with fewer than 2 vectors. */
static double
mean_pairwise_cosine (const float *h, guint T, guint D, const double *center, double *usum)
{
  guint  n = 0;
  double s2 = 0.0;

  memset (usum, 0, sizeof (double) * D);
  for (guint t = 1; t < T; t++)
    {
      const float *x = h + (gsize) t * D; /* [D] */
      double       norm2 = 0.0, inv;

      if (center != NULL)
        for (guint d = 0; d < D; d++)
          norm2 += (x[d] - center[d]) * (x[d] - center[d]);
      else
        for (guint d = 0; d < D; d++)
          norm2 += (double) x[d] * x[d];
      if (norm2 <= 0.0)
        continue;
      inv = 1.0 / sqrt (norm2);
      if (center != NULL)
        for (guint d = 0; d < D; d++)
          usum[d] += (x[d] - center[d]) * inv;
      else
        for (guint d = 0; d < D; d++)
          usum[d] += x[d] * inv;
      n++;
    }
  if (n < 2)
    return NAN;
  for (guint d = 0; d < D; d++)
    s2 += usum[d] * usum[d];
  return (s2 - n) / ((double) n * (n - 1));
}

void
ats_diagnostics_add_hidden (AtsDiagnostics *self, guint layer, guint d_model, const float *hidden)
{
  AtsDiagResults    *r;
  guint              T, D = d_model;
  gsize              N;
  g_autofree double *vec = NULL;  /* [D] */
  g_autofree double *mean = NULL; /* [D] */
  double             median, thr;
  gint32             count = 0;

  g_return_if_fail (self != NULL);
  g_return_if_fail (self->results != NULL);
  g_return_if_fail (layer <= self->n_layers);
  g_return_if_fail (hidden != NULL || self->n_tokens == 0 || d_model == 0);

  r = self->results;
  T = self->n_tokens;
  N = (gsize) T * D;
  if (N == 0)
    return;

  vec = g_new (double, D);
  mean = g_new0 (double, D);

  /* variance footprint and per-token max |h| */
  for (guint t = 0; t < T; t++)
    {
      const float *x = hidden + (gsize) t * D; /* [D] */
      double       m = 0.0, v = 0.0;
      float        mx = 0.0f;

      for (guint d = 0; d < D; d++)
        {
          m += x[d];
          mx = MAX (mx, fabsf (x[d]));
        }
      m /= D;
      for (guint d = 0; d < D; d++)
        v += (x[d] - m) * (x[d] - m);
      r->variance_footprint[(gsize) layer * T + t] = (float) (v / D);
      r->massive_max_abs[(gsize) layer * T + t] = mx;
    }

  /* collapse: raw, then centred on the mean over tokens 1..T-1 */
  r->collapse_cosine[layer] = (float) mean_pairwise_cosine (hidden, T, D, NULL, vec);
  if (T >= 2)
    {
      for (guint t = 1; t < T; t++)
        for (guint d = 0; d < D; d++)
          mean[d] += hidden[(gsize) t * D + d];
      for (guint d = 0; d < D; d++)
        mean[d] /= (T - 1);
    }
  r->collapse_cosine_centered[layer] = (float) mean_pairwise_cosine (hidden, T, D, mean, vec);

  /* massive activations against the exact median |h| of the layer */
  if (N % 2 == 1)
    median = abs_select (self->hist, hidden, N, N / 2);
  else
    median = 0.5 * ((double) abs_select (self->hist, hidden, N, N / 2 - 1) +
                    (double) abs_select (self->hist, hidden, N, N / 2));
  r->median_abs[layer] = (float) median;
  thr = MAX (self->params.massive_ratio * median, 0.0);
  for (gsize i = 0; i < N; i++)
    {
      double a = fabsf (hidden[i]);

      count += a > self->params.massive_abs && a >= thr;
    }
  r->massive_count[layer] = count;
}

AtsDiagResults *
ats_diagnostics_finish (AtsDiagnostics *self, GError **error)
{
  AtsDiagResults *r;
  guint           T, H;

  g_return_val_if_fail (self != NULL, NULL);

  if (self->results == NULL)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "diagnostics: finish called twice without reset");
      return NULL;
    }

  T = self->n_tokens;
  H = self->n_heads;
  for (guint l = 0; l < self->n_layers; l++)
    for (guint h = 0; h < H; h++)
      {
        HeadAcc *acc = &self->heads[(gsize) l * H + h];

        if (acc->rows[0] == 0 && acc->rows[1] == 0)
          continue; /* never fed (e.g. a head not stored in a file): stays NaN */
        if (acc->rows[0] != T || (acc->rows[1] != 0 && acc->rows[1] != T))
          {
            g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                         "diagnostics: layer %u head %u received %u of %u rows in pass 0 and "
                         "%u in pass 1",
                         l, h, acc->rows[0], T, acc->rows[1]);
            return NULL;
          }
      }

  r = g_steal_pointer (&self->results);
  for (guint l = 0; l < self->n_layers; l++)
    for (guint h = 0; h < H; h++)
      {
        gsize    i = (gsize) l * H + h;
        HeadAcc *acc = &self->heads[i];
        guint64  visible = (guint64) T * (T + 1) / 2;

        if (acc->rows[0] == 0)
          continue;
        finalise_head (self, acc, r->sink_score + i * T);
        r->first_token_mass[i] = T > 0 ? r->sink_score[i * T] : NAN;
        r->row_mass[i] = (float) (acc->mass_sum / T);
        r->sparsity[i] = (float) ((double) acc->zeros / visible);
        r->uniform_sparsity[i] = (float) ((double) acc->below_uniform / visible);
        r->entropy[i] = acc->entropy_rows ? (float) (acc->entropy_sum / acc->entropy_rows) : NAN;
        r->top_p_width[i] = acc->top_p_rows ? (float) (acc->top_p_sum / acc->top_p_rows) : NAN;
        if (acc->rows[1] == T && acc->load_rows > 0)
          {
            r->underload[i] = (float) ((double) acc->underloaded / acc->load_rows);
            r->overload[i] = (float) ((double) acc->overloaded / acc->load_rows);
          }
      }
  ats_diag_results_update_sink_rate (r);
  return r;
}

AtsDiagResults *
ats_diagnostics_compute_from_maps (const float         *attn,
                                   guint                n_layers,
                                   guint                n_heads,
                                   guint                n_tokens,
                                   const float         *hidden,
                                   guint                d_model,
                                   const AtsDiagParams *params,
                                   GError             **error)
{
  g_autoptr (AtsDiagnostics) self = NULL;
  gsize T = n_tokens;

  g_return_val_if_fail (attn != NULL || n_tokens == 0, NULL);

  self = ats_diagnostics_new (n_layers, n_heads, n_tokens, params);
  for (guint l = 0; l < n_layers; l++)
    for (guint h = 0; h < n_heads; h++)
      for (guint pass = 0; pass < 2; pass++)
        {
          AtsAttentionBlock block = {
            .layer = l,
            .head = h,
            .pass = pass,
            .n_tokens = n_tokens,
            .row_start = 0,
            .n_rows = n_tokens,
            .probs = attn + ((gsize) l * n_heads + h) * T * T, /* [T, T] */
          };

          if (!ats_diagnostics_add_block (self, &block, error))
            return NULL;
        }
  if (hidden != NULL)
    for (guint l = 0; l <= n_layers; l++)
      ats_diagnostics_add_hidden (self, l, d_model, hidden + (gsize) l * T * d_model);
  return ats_diagnostics_finish (self, error);
}

/* --- corpus summary -------------------------------------------------------------------- */

/* Mean over heads of layer @l of an [L, H] array, NaN heads left out. */
static double
layer_mean (const float *a /* [L, H] */, guint H, guint l)
{
  double s = 0.0;
  guint  n = 0;

  for (guint h = 0; h < H; h++)
    {
      float v = a[(gsize) l * H + h];

      if (!isnan (v))
        {
          s += v;
          n++;
        }
    }
  return n > 0 ? s / n : NAN;
}

/* Mean and sample std of @n values of @x with stride @stride, NaN left out. */
static void
mean_std (const double *x, guint n, double *mean, double *std, guint *count)
{
  double s = 0.0, ss = 0.0;
  guint  c = 0;

  for (guint i = 0; i < n; i++)
    if (!isnan (x[i]))
      {
        s += x[i];
        c++;
      }
  *mean = c > 0 ? s / c : NAN;
  for (guint i = 0; i < n; i++)
    if (!isnan (x[i]))
      ss += (x[i] - *mean) * (x[i] - *mean);
  *std = c > 1 ? sqrt (ss / (c - 1)) : NAN;
  if (count != NULL)
    *count = c;
}

static double
metric_value (const AtsDiagResults *r, const AtsDiagMetricInfo *info, gsize i)
{
  gconstpointer p = ats_diag_results_get_metric (r, info->name, NULL);

  if (info->is_int)
    {
      gint32 v = ((const gint32 *) p)[i];

      return v < 0 ? NAN : (double) v;
    }
  return ((const float *) p)[i];
}

AtsDiagSummary *
ats_diag_results_summarize (AtsDiagResults *const *runs, guint n_runs, GError **error)
{
  AtsDiagSummary          *s;
  const AtsDiagMetricInfo *list;
  guint                    n_list, L, H;
  g_autofree double       *x = NULL; /* [n_runs] */
  GArray                  *metrics;

  g_return_val_if_fail (runs != NULL || n_runs == 0, NULL);

  if (n_runs == 0)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "diagnostics summary: no runs");
      return NULL;
    }
  L = runs[0]->n_layers;
  H = runs[0]->n_heads;
  for (guint k = 1; k < n_runs; k++)
    if (runs[k]->n_layers != L || runs[k]->n_heads != H)
      {
        g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                     "diagnostics summary: run %u has %u layers x %u heads, run 0 has %u x %u", k,
                     runs[k]->n_layers, runs[k]->n_heads, L, H);
        return NULL;
      }

  s = g_new0 (AtsDiagSummary, 1);
  s->n_layers = L;
  s->n_heads = H;
  s->n_runs = n_runs;
  s->params = runs[0]->params;
  x = g_new (double, n_runs);

  list = ats_diag_metrics_list (&n_list);
  metrics = g_array_new (FALSE, TRUE, sizeof (AtsDiagSummaryMetric));
  for (guint m = 0; m < n_list; m++)
    {
      const AtsDiagMetricInfo *info = &list[m];
      AtsDiagSummaryMetric     sm = { .info = info };
      gboolean                 per_head = info->shape == ATS_DIAG_SHAPE_LAYER_HEAD;
      guint                    n_layer_rows = per_head ? L : L + 1;

      if (info->shape != ATS_DIAG_SHAPE_LAYER_HEAD && info->shape != ATS_DIAG_SHAPE_HIDDEN_LAYER)
        continue; /* per-token metrics: T differs between runs */

      sm.n_values = (guint) shape_size (info->shape, L, H, 0);
      sm.mean = g_new (float, sm.n_values);
      sm.std = g_new (float, sm.n_values);
      sm.count = g_new (guint, sm.n_values);
      sm.layer_mean = g_new (float, n_layer_rows);
      sm.layer_std = g_new (float, n_layer_rows);
      for (guint i = 0; i < sm.n_values; i++)
        {
          double mean, std;

          for (guint k = 0; k < n_runs; k++)
            x[k] = metric_value (runs[k], info, i);
          mean_std (x, n_runs, &mean, &std, &sm.count[i]);
          sm.mean[i] = (float) mean;
          sm.std[i] = (float) std;
        }
      for (guint l = 0; l < n_layer_rows; l++)
        {
          double mean, std;

          for (guint k = 0; k < n_runs; k++)
            x[k] = per_head
                       ? layer_mean (ats_diag_results_get_metric (runs[k], info->name, NULL), H, l)
                       : metric_value (runs[k], info, l);
          mean_std (x, n_runs, &mean, &std, NULL);
          sm.layer_mean[l] = (float) mean;
          sm.layer_std[l] = (float) std;
        }
      g_array_append_val (metrics, sm);
    }
  s->n_metrics = metrics->len;
  s->metrics = (AtsDiagSummaryMetric *) g_array_free (metrics, FALSE);

  for (guint k = 0; k < n_runs; k++)
    x[k] = runs[k]->sink_rate;
  mean_std (x, n_runs, &s->sink_rate_mean, &s->sink_rate_std, NULL);
  return s;
}

const AtsDiagSummaryMetric *
ats_diag_summary_get (const AtsDiagSummary *summary, const char *name)
{
  g_return_val_if_fail (summary != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  for (guint m = 0; m < summary->n_metrics; m++)
    if (g_str_equal (summary->metrics[m].info->name, name))
      return &summary->metrics[m];
  return NULL;
}

void
ats_diag_summary_free (AtsDiagSummary *summary)
{
  if (summary == NULL)
    return;
  for (guint m = 0; m < summary->n_metrics; m++)
    {
      g_free (summary->metrics[m].mean);
      g_free (summary->metrics[m].std);
      g_free (summary->metrics[m].count);
      g_free (summary->metrics[m].layer_mean);
      g_free (summary->metrics[m].layer_std);
    }
  g_free (summary->metrics);
  g_free (summary);
}

/* --- text output ----------------------------------------------------------------------- */

#define OURS_FOOTNOTE "* attnscope's operational definition (ours), see README.\n"

/* columns of the per-layer / per-head tables: [L, H] metrics first, then hidden ones */
static const char *const head_columns[] = {
  "first_token_mass", "entropy",   "row_mass", "sparsity",
  "uniform_sparsity", "underload", "overload", "top_p_width",
};
static const char *const hidden_columns[] = {
  "collapse_cosine",
  "collapse_cosine_centered",
  "massive_count",
};

static void
append_value (GString *s, const char *fmt_width, double v, int width)
{
  if (isnan (v))
    g_string_append_printf (s, " %*s", width, "-");
  else
    g_string_append_printf (s, fmt_width, width, v);
}

static double
layer_sink_rate (const AtsDiagResults *r, guint l)
{
  guint n = 0, sinks = 0;

  for (guint h = 0; h < r->n_heads; h++)
    {
      float f = r->first_token_mass[(gsize) l * r->n_heads + h];

      if (isnan (f))
        continue;
      n++;
      sinks += (double) f > r->params.sink_eps;
    }
  return n > 0 ? 100.0 * sinks / n : NAN;
}

static void
append_params (GString *s, const AtsDiagParams *p)
{
  g_string_append_printf (s,
                          "parameters: sink eps %g, min keys %u, top-p %g, underload mass %g, "
                          "overload mass %g k %u factor %g, massive |h| > %g and >= %g x median\n",
                          p->sink_eps, p->min_keys, p->top_p, p->underload_mass, p->overload_mass,
                          p->overload_k, p->overload_factor, p->massive_abs, p->massive_ratio);
}

GString *
ats_diag_results_format_table (const AtsDiagResults *r, gboolean per_head)
{
  GString *s;
  guint    L, H;

  g_return_val_if_fail (r != NULL, NULL);

  L = r->n_layers;
  H = r->n_heads;
  s = g_string_new (NULL);
  g_string_append_printf (s, "%u layers x %u heads, %u tokens; first-token sink rate ", L, H,
                          r->n_tokens);
  if (isnan (r->sink_rate))
    g_string_append (s, "-\n");
  else
    g_string_append_printf (s, "%.1f %% (eps %g)\n", r->sink_rate, r->params.sink_eps);
  append_params (s, &r->params);
  g_string_append_c (s, '\n');

  g_string_append_printf (s, "%5s %9s %6s %8s %8s %8s %8s %7s %7s %7s %8s %8s %7s\n", "layer",
                          "first-tok", "sink%", "entropy", "row-mass", "sparsity", "unif-sp*",
                          "under*", "over*", "top-p*", "cos", "cos-ctr", "massive");
  for (guint l = 0; l <= L; l++)
    {
      static const int widths[] = { 9, 8, 8, 8, 8, 7, 7, 7 };

      g_string_append_printf (s, "%5u", l);
      for (guint c = 0; c < G_N_ELEMENTS (head_columns); c++)
        {
          double v = l < L
                         ? layer_mean (ats_diag_results_get_metric (r, head_columns[c], NULL), H, l)
                         : NAN;

          append_value (s, " %*.4f", v, widths[c]);
          if (c == 0)
            append_value (s, " %*.1f", l < L ? layer_sink_rate (r, l) : NAN, 6);
        }
      append_value (s, " %*.4f", r->collapse_cosine[l], 8);
      append_value (s, " %*.4f", r->collapse_cosine_centered[l], 8);
      append_value (s, " %*.0f", r->massive_count[l] < 0 ? NAN : r->massive_count[l], 7);
      g_string_append_c (s, '\n');
    }
  g_string_append (s, "\nAttention columns: mean over the layer's heads. cos, cos-ctr, massive: "
                      "residual stream entering the layer\n(last row: after the last layer, "
                      "before the final norm); cos over tokens 2..T.\n");

  if (per_head)
    {
      g_string_append_printf (s, "\n%5s %4s %9s %4s %8s %8s %8s %8s %7s %7s %7s\n", "layer", "head",
                              "first-tok", "sink", "entropy", "row-mass", "sparsity", "unif-sp*",
                              "under*", "over*", "top-p*");
      for (guint l = 0; l < L; l++)
        for (guint h = 0; h < H; h++)
          {
            static const int widths[] = { 9, 8, 8, 8, 8, 7, 7, 7 };
            gsize            i = (gsize) l * H + h;
            float            ftm = r->first_token_mass[i];

            g_string_append_printf (s, "%5u %4u", l, h);
            for (guint c = 0; c < G_N_ELEMENTS (head_columns); c++)
              {
                const float *a = ats_diag_results_get_metric (r, head_columns[c], NULL);

                append_value (s, " %*.4f", a[i], widths[c]);
                if (c == 0)
                  g_string_append_printf (s, " %4s",
                                          isnan (ftm)                         ? "-"
                                          : (double) ftm > r->params.sink_eps ? "yes"
                                                                              : "no");
              }
            g_string_append_c (s, '\n');
          }
    }

  g_string_append_c (s, '\n');
  g_string_append (s, OURS_FOOTNOTE);
  return s;
}

static void
csv_value (GString *s, double v, gboolean is_int)
{
  g_string_append_c (s, ',');
  if (isnan (v))
    return;
  if (is_int)
    g_string_append_printf (s, "%.0f", v);
  else
    g_string_append_printf (s, "%.9g", v);
}

GString *
ats_diag_results_format_csv (const AtsDiagResults *r, gboolean per_head)
{
  GString *s;
  guint    L, H;

  g_return_val_if_fail (r != NULL, NULL);

  L = r->n_layers;
  H = r->n_heads;
  s = g_string_new (per_head ? "layer,head" : "layer");
  for (guint c = 0; c < G_N_ELEMENTS (head_columns); c++)
    {
      g_string_append_printf (s, ",%s", head_columns[c]);
      if (c == 0)
        g_string_append (s, per_head ? ",sink" : ",sink_rate");
    }
  if (!per_head)
    for (guint c = 0; c < G_N_ELEMENTS (hidden_columns); c++)
      g_string_append_printf (s, ",%s", hidden_columns[c]);
  g_string_append_c (s, '\n');

  if (!per_head)
    {
      for (guint l = 0; l <= L; l++)
        {
          g_string_append_printf (s, "%u", l);
          for (guint c = 0; c < G_N_ELEMENTS (head_columns); c++)
            {
              csv_value (
                  s,
                  l < L ? layer_mean (ats_diag_results_get_metric (r, head_columns[c], NULL), H, l)
                        : NAN,
                  FALSE);
              if (c == 0)
                csv_value (s, l < L ? layer_sink_rate (r, l) : NAN, FALSE);
            }
          csv_value (s, r->collapse_cosine[l], FALSE);
          csv_value (s, r->collapse_cosine_centered[l], FALSE);
          csv_value (s, r->massive_count[l] < 0 ? NAN : r->massive_count[l], TRUE);
          g_string_append_c (s, '\n');
        }
      return s;
    }

  for (guint l = 0; l < L; l++)
    for (guint h = 0; h < H; h++)
      {
        gsize i = (gsize) l * H + h;
        float ftm = r->first_token_mass[i];

        g_string_append_printf (s, "%u,%u", l, h);
        for (guint c = 0; c < G_N_ELEMENTS (head_columns); c++)
          {
            const float *a = ats_diag_results_get_metric (r, head_columns[c], NULL);

            csv_value (s, a[i], FALSE);
            if (c == 0)
              csv_value (s, isnan (ftm) ? NAN : (double) ftm > r->params.sink_eps, TRUE);
          }
        g_string_append_c (s, '\n');
      }
  return s;
}

static void
json_add_number (JsonBuilder *b, double v)
{
  if (isnan (v) || isinf (v))
    json_builder_add_null_value (b);
  else
    json_builder_add_double_value (b, v);
}

static void
json_add_params (JsonBuilder *b, const AtsDiagParams *p)
{
  json_builder_set_member_name (b, "params");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "sink_eps");
  json_builder_add_double_value (b, p->sink_eps);
  json_builder_set_member_name (b, "underload_mass");
  json_builder_add_double_value (b, p->underload_mass);
  json_builder_set_member_name (b, "overload_mass");
  json_builder_add_double_value (b, p->overload_mass);
  json_builder_set_member_name (b, "overload_k");
  json_builder_add_int_value (b, p->overload_k);
  json_builder_set_member_name (b, "overload_factor");
  json_builder_add_double_value (b, p->overload_factor);
  json_builder_set_member_name (b, "top_p");
  json_builder_add_double_value (b, p->top_p);
  json_builder_set_member_name (b, "min_keys");
  json_builder_add_int_value (b, p->min_keys);
  json_builder_set_member_name (b, "massive_abs");
  json_builder_add_double_value (b, p->massive_abs);
  json_builder_set_member_name (b, "massive_ratio");
  json_builder_add_double_value (b, p->massive_ratio);
  json_builder_end_object (b);
}

static void
json_add_ours (JsonBuilder *b)
{
  json_builder_set_member_name (b, "ours");
  json_builder_begin_array (b);
  for (guint m = 0; m < G_N_ELEMENTS (metric_info); m++)
    if (metric_info[m].ours)
      json_builder_add_string_value (b, metric_info[m].name);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "ours_note");
  json_builder_add_string_value (b, "attnscope's operational definitions (ours), see README");
}

/* Nested arrays of @n0 x @n1 [x @n2] values (@n1 or @n2 may be 0 for fewer dimensions). */
static void
json_add_array (JsonBuilder *b, gconstpointer data, gboolean is_int, guint n0, guint n1, guint n2)
{
  gsize i = 0;

  json_builder_begin_array (b);
  for (guint a = 0; a < n0; a++)
    {
      if (n1 > 0)
        json_builder_begin_array (b);
      for (guint c = 0; c < MAX (n1, 1); c++)
        {
          if (n2 > 0)
            json_builder_begin_array (b);
          for (guint d = 0; d < MAX (n2, 1); d++, i++)
            {
              if (is_int)
                json_builder_add_int_value (b, ((const gint32 *) data)[i]);
              else
                json_add_number (b, ((const float *) data)[i]);
            }
          if (n2 > 0)
            json_builder_end_array (b);
        }
      if (n1 > 0)
        json_builder_end_array (b);
    }
  json_builder_end_array (b);
}

static char *
json_finish (JsonBuilder *b, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);

  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

char *
ats_diag_results_to_json (const AtsDiagResults *r, gboolean per_token, gboolean pretty)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint L, H, T;

  g_return_val_if_fail (r != NULL, NULL);

  L = r->n_layers;
  H = r->n_heads;
  T = r->n_tokens;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "n_layers");
  json_builder_add_int_value (b, L);
  json_builder_set_member_name (b, "n_heads");
  json_builder_add_int_value (b, H);
  json_builder_set_member_name (b, "n_tokens");
  json_builder_add_int_value (b, T);
  json_add_params (b, &r->params);
  json_builder_set_member_name (b, "sink_rate");
  json_add_number (b, r->sink_rate);
  json_add_ours (b);
  json_builder_set_member_name (b, "metrics");
  json_builder_begin_object (b);
  for (guint m = 0; m < G_N_ELEMENTS (metric_info); m++)
    {
      const AtsDiagMetricInfo *info = &metric_info[m];
      gconstpointer            data = ats_diag_results_get_metric (r, info->name, NULL);

      switch (info->shape)
        {
        case ATS_DIAG_SHAPE_LAYER_HEAD:
          json_builder_set_member_name (b, info->name);
          json_add_array (b, data, info->is_int, L, H, 0);
          break;
        case ATS_DIAG_SHAPE_HIDDEN_LAYER:
          json_builder_set_member_name (b, info->name);
          json_add_array (b, data, info->is_int, L + 1, 0, 0);
          break;
        case ATS_DIAG_SHAPE_LAYER_HEAD_TOKEN:
          if (!per_token)
            break;
          json_builder_set_member_name (b, info->name);
          json_add_array (b, data, info->is_int, L, H, T);
          break;
        case ATS_DIAG_SHAPE_HIDDEN_LAYER_TOKEN:
          if (!per_token)
            break;
          json_builder_set_member_name (b, info->name);
          json_add_array (b, data, info->is_int, L + 1, T, 0);
          break;
        default:
          g_assert_not_reached ();
        }
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_finish (b, pretty);
}

GString *
ats_diag_summary_format_table (const AtsDiagSummary *summary)
{
  static const char *const labels[] = { "first-tok", "entropy", "row-mass", "sparsity",
                                        "unif-sp*",  "under*",  "over*",    "top-p*" };
  GString                 *s;
  guint                    L;

  g_return_val_if_fail (summary != NULL, NULL);

  L = summary->n_layers;
  s = g_string_new (NULL);
  g_string_append_printf (s,
                          "corpus summary over %u runs (%u layers x %u heads): mean ± sample std "
                          "over runs\nfirst-token sink rate %.1f ± %.1f %%\n",
                          summary->n_runs, L, summary->n_heads, summary->sink_rate_mean,
                          summary->sink_rate_std);
  append_params (s, &summary->params);
  g_string_append_printf (s, "\n%5s", "layer");
  for (guint c = 0; c < G_N_ELEMENTS (labels); c++)
    g_string_append_printf (s, " %17s", labels[c]);
  g_string_append_printf (s, " %17s %17s %15s\n", "cos", "cos-ctr", "massive");

  for (guint l = 0; l <= L; l++)
    {
      g_string_append_printf (s, "%5u", l);
      for (guint c = 0; c < G_N_ELEMENTS (head_columns) + G_N_ELEMENTS (hidden_columns); c++)
        {
          const char                 *name = c < G_N_ELEMENTS (head_columns)
                                                 ? head_columns[c]
                                                 : hidden_columns[c - G_N_ELEMENTS (head_columns)];
          const AtsDiagSummaryMetric *m = ats_diag_summary_get (summary, name);
          gboolean                    hidden = c >= G_N_ELEMENTS (head_columns);
          double                      mean = NAN, std = NAN;
          g_autofree char            *cell = NULL;

          if (m != NULL && (hidden || l < L))
            {
              mean = m->layer_mean[l];
              std = m->layer_std[l];
            }
          if (isnan (mean))
            cell = g_strdup ("-");
          else if (g_str_equal (name, "massive_count"))
            cell = isnan (std) ? g_strdup_printf ("%.1f", mean)
                               : g_strdup_printf ("%.1f ± %.1f", mean, std);
          else
            cell = isnan (std) ? g_strdup_printf ("%.4f", mean)
                               : g_strdup_printf ("%.4f ± %.4f", mean, std);
          /* "±" is two bytes but one column */
          g_string_append_printf (s, " %*s",
                                  (hidden && c == G_N_ELEMENTS (head_columns) + 2 ? 15 : 17) +
                                      (strstr (cell, "±") != NULL ? 1 : 0),
                                  cell);
        }
      g_string_append_c (s, '\n');
    }
  g_string_append (s, "\nAttention columns: per run the mean over the layer's heads, then mean ± "
                      "std over runs.\n");
  g_string_append_c (s, '\n');
  g_string_append (s, OURS_FOOTNOTE);
  return s;
}

char *
ats_diag_summary_to_json (const AtsDiagSummary *summary, gboolean pretty)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint L, H;

  g_return_val_if_fail (summary != NULL, NULL);

  L = summary->n_layers;
  H = summary->n_heads;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "n_runs");
  json_builder_add_int_value (b, summary->n_runs);
  json_builder_set_member_name (b, "n_layers");
  json_builder_add_int_value (b, L);
  json_builder_set_member_name (b, "n_heads");
  json_builder_add_int_value (b, H);
  json_add_params (b, &summary->params);
  json_builder_set_member_name (b, "sink_rate_mean");
  json_add_number (b, summary->sink_rate_mean);
  json_builder_set_member_name (b, "sink_rate_std");
  json_add_number (b, summary->sink_rate_std);
  json_add_ours (b);
  json_builder_set_member_name (b, "metrics");
  json_builder_begin_object (b);
  for (guint m = 0; m < summary->n_metrics; m++)
    {
      const AtsDiagSummaryMetric *sm = &summary->metrics[m];
      gboolean                    per_head = sm->info->shape == ATS_DIAG_SHAPE_LAYER_HEAD;
      guint                       n0 = per_head ? L : L + 1, n1 = per_head ? H : 0;

      json_builder_set_member_name (b, sm->info->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "mean");
      json_add_array (b, sm->mean, FALSE, n0, n1, 0);
      json_builder_set_member_name (b, "std");
      json_add_array (b, sm->std, FALSE, n0, n1, 0);
      json_builder_set_member_name (b, "layer_mean");
      json_add_array (b, sm->layer_mean, FALSE, n0, 0, 0);
      json_builder_set_member_name (b, "layer_std");
      json_add_array (b, sm->layer_std, FALSE, n0, 0, 0);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_finish (b, pretty);
}
