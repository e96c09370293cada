/* ats-whatif.c — what-if Elastic-Softmax: A' = max(0, A + tau / i) on stored attention maps
 *
 * See ats-whatif.h for the definitions. Every row is processed once: per head in flight the
 * accumulator keeps two [T] columns (the column sums of A, which give the sink scores alpha,
 * and the mass removed from each key), so the sink/non-sink split of the removed mass can be
 * made when the head's last row arrives, without a second pass over the map.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-whatif.h"

/* One head of the current run, while its rows arrive. */
typedef struct
{
  double *col_sum;     /* [T] sum_i A[i, k] */
  double *col_removed; /* [T] sum_i (A - A')[i, k] */
  guint   rows;        /* rows seen in this run */
} HeadRun;

/* One head, summed over every run. */
typedef struct
{
  gboolean fed;
  guint    runs;
  guint64  rows;
  guint64  visible;
  guint64  zeros;
  guint64  zeros_before;
  double   removed;
  double   sink_removed;
  double   sinks;
} HeadTotal;

struct _AtsWhatif
{
  guint       n_layers; /* L */
  guint       n_heads;  /* H */
  double      sink_eps;
  float      *tau;     /* [L, H] */
  guint       T;       /* tokens of the current run, 0 before the first run */
  HeadRun   **current; /* [L, H] NULL when not in flight */
  HeadTotal  *totals;  /* [L, H] */
  guint       n_runs;
  guint64     n_rows;
  AtsObserver observer;
};

/* --- the transform -------------------------------------------------------------------------- */

/* Elastic-Softmax of one weight, in float as in the forward pass. */
static inline float
elastic (float a, float shift)
{
  float v = a + shift;
  return v > 0.0f ? v : 0.0f;
}

void
ats_whatif_transform_rows (const float *in,
                           float       *out,
                           guint        n_tokens,
                           guint        row_start,
                           guint        n_rows,
                           float        tau)
{
  g_return_if_fail (in != NULL && out != NULL);
  g_return_if_fail (row_start + n_rows <= n_tokens);

  for (guint r = 0; r < n_rows; r++)
    {
      guint        n = row_start + r + 1; /* visible keys = 1-based query position */
      float        shift = tau / (float) n;
      const float *a = in + (gsize) r * n_tokens;  /* [T] */
      float       *b = out + (gsize) r * n_tokens; /* [T] */

      for (guint j = 0; j < n; j++)
        b[j] = elastic (a[j], shift);
      for (guint j = n; j < n_tokens; j++)
        b[j] = 0.0f;
    }
}

void
ats_whatif_transform_head (const float *map, float *out, guint n_tokens, float tau)
{
  ats_whatif_transform_rows (map, out, n_tokens, 0, n_tokens, tau);
}

/* --- per-head accumulation ------------------------------------------------------------------ */

static HeadRun *
head_run_new (guint T)
{
  HeadRun *hr = g_new0 (HeadRun, 1);

  hr->col_sum = g_new0 (double, T);
  hr->col_removed = g_new0 (double, T);
  return hr;
}

static void
head_run_free (HeadRun *hr)
{
  if (hr == NULL)
    return;
  g_free (hr->col_sum);
  g_free (hr->col_removed);
  g_free (hr);
}

/* One query row @a [T] at 0-based position @i into @hr (and the entry counts into @tot). */
static void
accumulate_row (HeadRun *hr, HeadTotal *tot, const float *a, guint i, float tau)
{
  guint  n = i + 1;
  float  shift = tau / (float) n;
  double removed = 0.0;

  for (guint j = 0; j < n; j++)
    {
      float  v = elastic (a[j], shift);
      double d = (double) a[j] - (double) v;

      tot->zeros_before += a[j] == 0.0f;
      tot->zeros += v == 0.0f;
      hr->col_sum[j] += a[j];
      hr->col_removed[j] += d;
      removed += d;
    }
  tot->visible += n;
  tot->removed += removed;
  tot->rows++;
  hr->rows++;
}

/* The head's last row has arrived: split the removed mass by the sink set of A. */
static void
head_run_close (HeadRun *hr, HeadTotal *tot, guint T, double eps)
{
  guint n_sinks = 0;

  for (guint k = 0; k < T; k++)
    {
      double alpha = hr->col_sum[k] / (double) (T - k);

      if (alpha > eps)
        {
          tot->sink_removed += hr->col_removed[k];
          n_sinks++;
        }
    }
  tot->sinks += n_sinks;
  tot->runs++;
  tot->fed = TRUE;
}

void
ats_whatif_head_stats (const float        *map,
                       guint               n_tokens,
                       float               tau,
                       double              sink_eps,
                       AtsWhatifHeadStats *out)
{
  HeadTotal tot = { 0 };
  HeadRun  *hr;

  g_return_if_fail (map != NULL && out != NULL);

  memset (out, 0, sizeof *out);
  if (n_tokens == 0)
    {
      out->sparsity = out->sparsity_before = out->mass_removed = NAN;
      out->sink_mass_removed = out->sink_share = NAN;
      return;
    }
  hr = head_run_new (n_tokens);
  for (guint i = 0; i < n_tokens; i++)
    accumulate_row (hr, &tot, map + (gsize) i * n_tokens, i, tau);
  head_run_close (hr, &tot, n_tokens, sink_eps);
  head_run_free (hr);

  out->sparsity = (double) tot.zeros / tot.visible;
  out->sparsity_before = (double) tot.zeros_before / tot.visible;
  out->mass_removed = tot.removed / tot.rows;
  out->sink_mass_removed = tot.sink_removed / tot.rows;
  out->sink_share = tot.removed != 0.0 ? tot.sink_removed / tot.removed : NAN;
  out->n_sinks = (guint) tot.sinks;
}

/* --- accumulator ---------------------------------------------------------------------------- */

static gboolean
observer_begin (AtsObserver  *observer,
                AtsModel     *model,
                const gint32 *ids,
                guint         n_tokens,
                GError      **error)
{
  return ats_whatif_begin_run (observer->user_data, n_tokens, error);
}

static gboolean
observer_attention (AtsObserver *observer, const AtsAttentionBlock *block, GError **error)
{
  return ats_whatif_add_block (observer->user_data, block, error);
}

AtsWhatif *
ats_whatif_new (guint n_layers, guint n_heads, double sink_eps)
{
  AtsWhatif *self;
  gsize      n = (gsize) n_layers * n_heads;

  g_return_val_if_fail (n_layers > 0 && n_heads > 0, NULL);

  self = g_new0 (AtsWhatif, 1);
  self->n_layers = n_layers;
  self->n_heads = n_heads;
  self->sink_eps = sink_eps;
  self->tau = g_new (float, n);
  self->current = g_new0 (HeadRun *, n);
  self->totals = g_new0 (HeadTotal, n);
  ats_whatif_set_tau (self, -1.0f);
  self->observer.begin = observer_begin;
  self->observer.attention = observer_attention;
  self->observer.user_data = self;
  return self;
}

static void
drop_current (AtsWhatif *self)
{
  for (gsize i = 0; i < (gsize) self->n_layers * self->n_heads; i++)
    g_clear_pointer (&self->current[i], head_run_free);
}

void
ats_whatif_free (AtsWhatif *self)
{
  if (self == NULL)
    return;
  drop_current (self);
  g_free (self->current);
  g_free (self->totals);
  g_free (self->tau);
  g_free (self);
}

void
ats_whatif_set_tau (AtsWhatif *self, float tau)
{
  g_return_if_fail (self != NULL);

  for (gsize i = 0; i < (gsize) self->n_layers * self->n_heads; i++)
    self->tau[i] = tau;
}

gboolean
ats_whatif_set_tau_table (AtsWhatif   *self,
                          const float *tau,
                          guint        n_layers,
                          guint        n_heads,
                          GError     **error)
{
  g_return_val_if_fail (self != NULL && tau != NULL, FALSE);

  if (n_layers != self->n_layers || n_heads != self->n_heads)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "tau table has shape [%u, %u] (layers, heads) but the attention maps have "
                   "[%u, %u]",
                   n_layers, n_heads, self->n_layers, self->n_heads);
      return FALSE;
    }
  for (gsize i = 0; i < (gsize) n_layers * n_heads; i++)
    if (!isfinite (tau[i]))
      {
        g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                     "tau table: layer %u head %u is not a finite number", (guint) (i / n_heads),
                     (guint) (i % n_heads));
        return FALSE;
      }
  memcpy (self->tau, tau, (gsize) n_layers * n_heads * sizeof (float));
  return TRUE;
}

float
ats_whatif_get_tau (AtsWhatif *self, guint layer, guint head)
{
  g_return_val_if_fail (self != NULL && layer < self->n_layers && head < self->n_heads, NAN);

  return self->tau[(gsize) layer * self->n_heads + head];
}

/* FALSE (and drops the partial heads) when a head of the current run is incomplete. */
static gboolean
check_current (AtsWhatif *self, GError **error)
{
  for (gsize i = 0; i < (gsize) self->n_layers * self->n_heads; i++)
    if (self->current[i] != NULL)
      {
        g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                     "what-if: layer %u head %u received %u of its %u query rows",
                     (guint) (i / self->n_heads), (guint) (i % self->n_heads),
                     self->current[i]->rows, self->T);
        drop_current (self);
        return FALSE;
      }
  return TRUE;
}

gboolean
ats_whatif_begin_run (AtsWhatif *self, guint n_tokens, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (self != NULL, FALSE);

  ok = check_current (self, error);
  if (n_tokens == 0)
    {
      if (ok)
        g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                     "what-if: a run has no tokens");
      self->T = 0;
      return FALSE;
    }
  self->T = n_tokens;
  self->n_runs++;
  self->n_rows += n_tokens;
  return ok;
}

gboolean
ats_whatif_add_block (AtsWhatif *self, const AtsAttentionBlock *block, GError **error)
{
  gsize      idx;
  HeadRun   *hr;
  HeadTotal *tot;
  float      tau;

  g_return_val_if_fail (self != NULL && block != NULL, FALSE);

  if (block->pass != 0)
    return TRUE;
  if (self->T == 0)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "what-if: attention rows arrived before a run was begun");
      return FALSE;
    }
  if (block->layer >= self->n_layers || block->head >= self->n_heads ||
      block->n_tokens != self->T || block->row_start + block->n_rows > self->T ||
      block->probs == NULL)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "what-if: block of layer %u head %u rows %u..%u of T = %u does not fit a run "
                   "of %u layers x %u heads x %u tokens",
                   block->layer, block->head, block->row_start, block->row_start + block->n_rows,
                   block->n_tokens, self->n_layers, self->n_heads, self->T);
      return FALSE;
    }
  if (block->n_rows == 0)
    return TRUE;

  idx = (gsize) block->layer * self->n_heads + block->head;
  tau = self->tau[idx];
  tot = &self->totals[idx];
  if (self->current[idx] == NULL)
    self->current[idx] = head_run_new (self->T);
  hr = self->current[idx];
  if (hr->rows + block->n_rows > self->T)
    {
      g_set_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT,
                   "what-if: layer %u head %u received more than its %u query rows", block->layer,
                   block->head, self->T);
      return FALSE;
    }
  for (guint r = 0; r < block->n_rows; r++)
    accumulate_row (hr, tot, block->probs + (gsize) r * block->n_tokens, block->row_start + r, tau);
  if (hr->rows == self->T)
    {
      head_run_close (hr, tot, self->T, self->sink_eps);
      g_clear_pointer (&self->current[idx], head_run_free);
    }
  return TRUE;
}

gboolean
ats_whatif_add_head (AtsWhatif *self, guint layer, guint head, const float *map, GError **error)
{
  AtsAttentionBlock block = { 0 };

  g_return_val_if_fail (self != NULL && map != NULL, FALSE);

  block.layer = layer;
  block.head = head;
  block.n_tokens = self->T;
  block.row_start = 0;
  block.n_rows = self->T;
  block.probs = map;
  return ats_whatif_add_block (self, &block, error);
}

AtsObserver *
ats_whatif_get_observer (AtsWhatif *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return &self->observer;
}

void
ats_whatif_results_free (AtsWhatifResults *r)
{
  if (r == NULL)
    return;
  g_free (r->tau);
  g_free (r->sparsity);
  g_free (r->sparsity_before);
  g_free (r->mass_removed);
  g_free (r->sink_mass_removed);
  g_free (r->sink_share);
  g_free (r->mean_sinks);
  g_free (r->layer_sparsity);
  g_free (r->layer_sparsity_before);
  g_free (r->layer_mass_removed);
  g_free (r->layer_sink_mass_removed);
  g_free (r->layer_sink_share);
  g_free (r);
}

/* Sums of several heads, and the ratios they give. */
typedef struct
{
  guint64 rows, visible, zeros, zeros_before;
  double  removed, sink_removed;
} Pool;

static void
pool_add (Pool *p, const HeadTotal *t)
{
  if (!t->fed)
    return;
  p->rows += t->rows;
  p->visible += t->visible;
  p->zeros += t->zeros;
  p->zeros_before += t->zeros_before;
  p->removed += t->removed;
  p->sink_removed += t->sink_removed;
}

static void
pool_values (const Pool *p,
             double     *sparsity,
             double     *before,
             double     *removed,
             double     *sink_removed,
             double     *share)
{
  if (p->rows == 0)
    {
      *sparsity = *before = *removed = *sink_removed = *share = NAN;
      return;
    }
  *sparsity = (double) p->zeros / p->visible;
  *before = (double) p->zeros_before / p->visible;
  *removed = p->removed / p->rows;
  *sink_removed = p->sink_removed / p->rows;
  *share = p->removed != 0.0 ? p->sink_removed / p->removed : NAN;
}

AtsWhatifResults *
ats_whatif_finish (AtsWhatif *self, GError **error)
{
  AtsWhatifResults *r;
  guint             L, H;
  Pool              all = { 0 };

  g_return_val_if_fail (self != NULL, NULL);

  if (!check_current (self, error))
    return NULL;

  L = self->n_layers;
  H = self->n_heads;
  r = g_new0 (AtsWhatifResults, 1);
  r->n_layers = L;
  r->n_heads = H;
  r->n_runs = self->n_runs;
  r->n_rows = self->n_rows;
  r->sink_eps = self->sink_eps;
  r->tau = g_memdup2 (self->tau, (gsize) L * H * sizeof (float));
  r->sparsity = g_new (float, (gsize) L *H);
  r->sparsity_before = g_new (float, (gsize) L *H);
  r->mass_removed = g_new (float, (gsize) L *H);
  r->sink_mass_removed = g_new (float, (gsize) L *H);
  r->sink_share = g_new (float, (gsize) L *H);
  r->mean_sinks = g_new (float, (gsize) L *H);
  r->layer_sparsity = g_new (float, L);
  r->layer_sparsity_before = g_new (float, L);
  r->layer_mass_removed = g_new (float, L);
  r->layer_sink_mass_removed = g_new (float, L);
  r->layer_sink_share = g_new (float, L);

  for (guint l = 0; l < L; l++)
    {
      Pool   layer = { 0 };
      double v[5];

      for (guint h = 0; h < H; h++)
        {
          gsize            i = (gsize) l * H + h;
          const HeadTotal *t = &self->totals[i];
          Pool             head = { 0 };

          pool_add (&head, t);
          pool_add (&layer, t);
          pool_add (&all, t);
          pool_values (&head, &v[0], &v[1], &v[2], &v[3], &v[4]);
          r->sparsity[i] = v[0];
          r->sparsity_before[i] = v[1];
          r->mass_removed[i] = v[2];
          r->sink_mass_removed[i] = v[3];
          r->sink_share[i] = v[4];
          r->mean_sinks[i] = t->runs ? t->sinks / t->runs : NAN;
        }
      pool_values (&layer, &v[0], &v[1], &v[2], &v[3], &v[4]);
      r->layer_sparsity[l] = v[0];
      r->layer_sparsity_before[l] = v[1];
      r->layer_mass_removed[l] = v[2];
      r->layer_sink_mass_removed[l] = v[3];
      r->layer_sink_share[l] = v[4];
    }
  pool_values (&all, &r->sparsity_all, &r->sparsity_before_all, &r->mass_removed_all,
               &r->sink_mass_removed_all, &r->sink_share_all);
  return r;
}

/* --- tau tables ----------------------------------------------------------------------------- */

float *
ats_whatif_tau_table_from_model (AtsModel *model, GError **error)
{
  const AtsModelConfig *c;
  float                *tau; /* [L, H] */

  g_return_val_if_fail (model != NULL, NULL);

  c = ats_model_get_config (model);
  if (c->attention != ATS_ATTENTION_ELASTIC || ats_model_get_lazy_tau (model, 0) == NULL)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG,
                   "%s is not a Lazy Attention checkpoint (its attention layers carry no tau)",
                   ats_model_get_dir (model));
      return NULL;
    }
  tau = g_new (float, (gsize) c->n_layers * c->n_heads);
  for (guint l = 0; l < c->n_layers; l++)
    memcpy (tau + (gsize) l * c->n_heads, ats_model_get_lazy_tau (model, l),
            c->n_heads * sizeof (float));
  return tau;
}

/* --- text output ---------------------------------------------------------------------------- */

static void
append_value (GString *s, const char *format, double v, int width)
{
  if (isnan (v))
    g_string_append_printf (s, " %*s", width, "-");
  else
    g_string_append_printf (s, format, width, v);
}

static double
layer_tau_mean (const AtsWhatifResults *r, guint l)
{
  double sum = 0.0;

  for (guint h = 0; h < r->n_heads; h++)
    sum += r->tau[(gsize) l * r->n_heads + h];
  return sum / r->n_heads;
}

static void
append_row (GString *s,
            double   tau,
            double   sparsity,
            double   before,
            double   removed,
            double   sink_removed,
            double   share)
{
  append_value (s, " %*.3f", tau, 7);
  append_value (s, " %*.4f", sparsity, 9);
  append_value (s, " %*.4f", before, 8);
  append_value (s, " %*.4f", removed, 13);
  append_value (s, " %*.4f", sink_removed, 11);
  append_value (s, " %*.4f", share, 12);
}

GString *
ats_whatif_results_format_table (const AtsWhatifResults *r, gboolean per_head)
{
  GString *s;
  guint    L, H;

  g_return_val_if_fail (r != NULL, NULL);

  L = r->n_layers;
  H = r->n_heads;
  s = g_string_new (NULL);
  g_string_append_printf (s,
                          "what-if Elastic-Softmax: A' = max(0, A + tau/i), no renormalisation\n"
                          "%u layers x %u heads, %u run%s, %" G_GUINT64_FORMAT
                          " query rows per head; sink set (ours): keys with alpha > %g in A\n\n",
                          L, H, r->n_runs, r->n_runs == 1 ? "" : "s", (guint64) r->n_rows,
                          r->sink_eps);
  g_string_append_printf (s, "%5s %7s %9s %8s %13s %11s %12s\n", "layer", "tau", "sparsity",
                          "before", "mass-removed", "on-sinks*", "sink-share*");
  for (guint l = 0; l < L; l++)
    {
      g_string_append_printf (s, "%5u", l);
      append_row (s, layer_tau_mean (r, l), r->layer_sparsity[l], r->layer_sparsity_before[l],
                  r->layer_mass_removed[l], r->layer_sink_mass_removed[l], r->layer_sink_share[l]);
      g_string_append_c (s, '\n');
    }
  {
    double tau_sum = 0.0;

    for (guint l = 0; l < L; l++)
      tau_sum += layer_tau_mean (r, l);
    g_string_append_printf (s, "%5s", "all");
    append_row (s, tau_sum / L, r->sparsity_all, r->sparsity_before_all, r->mass_removed_all,
                r->sink_mass_removed_all, r->sink_share_all);
    g_string_append_c (s, '\n');
  }

  if (per_head)
    {
      g_string_append_printf (s, "\n%5s %4s %7s %9s %8s %13s %11s %12s %7s\n", "layer", "head",
                              "tau", "sparsity", "before", "mass-removed", "on-sinks*",
                              "sink-share*", "sinks*");
      for (guint l = 0; l < L; l++)
        for (guint h = 0; h < H; h++)
          {
            gsize i = (gsize) l * H + h;

            g_string_append_printf (s, "%5u %4u", l, h);
            append_row (s, r->tau[i], r->sparsity[i], r->sparsity_before[i], r->mass_removed[i],
                        r->sink_mass_removed[i], r->sink_share[i]);
            append_value (s, " %*.1f", r->mean_sinks[i], 7);
            g_string_append_c (s, '\n');
          }
    }
  g_string_append (
      s, "\nlayer rows: tau is the mean over heads; the other columns pool the heads' sums.\n"
         "sparsity: visible entries (j <= i) exactly 0 after the transform (before: in A).\n"
         "mass-removed: mean over rows of sum(A) - sum(A').\n"
         "* (ours): on-sinks = removed mass on the head's sink keys (mean per row); sink-share "
         "= on-sinks / mass-removed;\n  sinks = size of the sink set (mean over runs).\n");
  return s;
}

static void
csv_value (GString *s, double v)
{
  if (isnan (v))
    g_string_append (s, ",");
  else
    g_string_append_printf (s, ",%.6g", v);
}

GString *
ats_whatif_results_format_csv (const AtsWhatifResults *r, gboolean per_head)
{
  GString *s;
  guint    L, H;

  g_return_val_if_fail (r != NULL, NULL);

  L = r->n_layers;
  H = r->n_heads;
  s = g_string_new (NULL);
  if (per_head)
    {
      g_string_append (s, "layer,head,tau,sparsity,sparsity_before,mass_removed,"
                          "sink_mass_removed,sink_share,sinks\n");
      for (guint l = 0; l < L; l++)
        for (guint h = 0; h < H; h++)
          {
            gsize i = (gsize) l * H + h;

            g_string_append_printf (s, "%u,%u", l, h);
            csv_value (s, r->tau[i]);
            csv_value (s, r->sparsity[i]);
            csv_value (s, r->sparsity_before[i]);
            csv_value (s, r->mass_removed[i]);
            csv_value (s, r->sink_mass_removed[i]);
            csv_value (s, r->sink_share[i]);
            csv_value (s, r->mean_sinks[i]);
            g_string_append_c (s, '\n');
          }
      return s;
    }
  g_string_append (s, "layer,tau_mean,sparsity,sparsity_before,mass_removed,sink_mass_removed,"
                      "sink_share\n");
  for (guint l = 0; l < L; l++)
    {
      g_string_append_printf (s, "%u", l);
      csv_value (s, layer_tau_mean (r, l));
      csv_value (s, r->layer_sparsity[l]);
      csv_value (s, r->layer_sparsity_before[l]);
      csv_value (s, r->layer_mass_removed[l]);
      csv_value (s, r->layer_sink_mass_removed[l]);
      csv_value (s, r->layer_sink_share[l]);
      g_string_append_c (s, '\n');
    }
  {
    double tau_sum = 0.0;

    for (guint l = 0; l < L; l++)
      tau_sum += layer_tau_mean (r, l);
    g_string_append (s, "all");
    csv_value (s, tau_sum / L);
    csv_value (s, r->sparsity_all);
    csv_value (s, r->sparsity_before_all);
    csv_value (s, r->mass_removed_all);
    csv_value (s, r->sink_mass_removed_all);
    csv_value (s, r->sink_share_all);
    g_string_append_c (s, '\n');
  }
  return s;
}

static void
json_number (JsonBuilder *b, double v)
{
  if (isnan (v) || isinf (v))
    json_builder_add_null_value (b);
  else
    json_builder_add_double_value (b, v);
}

static void
json_array (JsonBuilder *b, const char *name, const float *v, guint n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    json_number (b, v[i]);
  json_builder_end_array (b);
}

/* [L][H] nested array */
static void
json_matrix (JsonBuilder *b, const char *name, const float *v, guint L, guint H)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint l = 0; l < L; l++)
    {
      json_builder_begin_array (b);
      for (guint h = 0; h < H; h++)
        json_number (b, v[(gsize) l * H + h]);
      json_builder_end_array (b);
    }
  json_builder_end_array (b);
}

static void
json_member_number (JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name (b, name);
  json_number (b, v);
}

char *
ats_whatif_results_to_json (const AtsWhatifResults *r, gboolean pretty)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree float *layer_tau = NULL; /* [L] */
  guint             L, H;

  g_return_val_if_fail (r != NULL, NULL);

  L = r->n_layers;
  H = r->n_heads;
  layer_tau = g_new (float, L);
  for (guint l = 0; l < L; l++)
    layer_tau[l] = layer_tau_mean (r, l);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "transform");
  json_builder_add_string_value (b, "max(0, A + tau/i)");
  json_member_number (b, "sink_eps", r->sink_eps);
  json_builder_set_member_name (b, "n_layers");
  json_builder_add_int_value (b, L);
  json_builder_set_member_name (b, "n_heads");
  json_builder_add_int_value (b, H);
  json_builder_set_member_name (b, "n_runs");
  json_builder_add_int_value (b, r->n_runs);
  json_builder_set_member_name (b, "n_rows");
  json_builder_add_int_value (b, r->n_rows);
  json_builder_set_member_name (b, "ours");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, "sink_mass_removed");
  json_builder_add_string_value (b, "sink_share");
  json_builder_add_string_value (b, "sinks");
  json_builder_end_array (b);

  json_builder_set_member_name (b, "heads");
  json_builder_begin_object (b);
  json_matrix (b, "tau", r->tau, L, H);
  json_matrix (b, "sparsity", r->sparsity, L, H);
  json_matrix (b, "sparsity_before", r->sparsity_before, L, H);
  json_matrix (b, "mass_removed", r->mass_removed, L, H);
  json_matrix (b, "sink_mass_removed", r->sink_mass_removed, L, H);
  json_matrix (b, "sink_share", r->sink_share, L, H);
  json_matrix (b, "sinks", r->mean_sinks, L, H);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "layers");
  json_builder_begin_object (b);
  json_array (b, "tau_mean", layer_tau, L);
  json_array (b, "sparsity", r->layer_sparsity, L);
  json_array (b, "sparsity_before", r->layer_sparsity_before, L);
  json_array (b, "mass_removed", r->layer_mass_removed, L);
  json_array (b, "sink_mass_removed", r->layer_sink_mass_removed, L);
  json_array (b, "sink_share", r->layer_sink_share, L);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "all");
  json_builder_begin_object (b);
  json_member_number (b, "sparsity", r->sparsity_all);
  json_member_number (b, "sparsity_before", r->sparsity_before_all);
  json_member_number (b, "mass_removed", r->mass_removed_all);
  json_member_number (b, "sink_mass_removed", r->sink_mass_removed_all);
  json_member_number (b, "sink_share", r->sink_share_all);
  json_builder_end_object (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, pretty);
  return json_generator_to_data (gen, NULL);
}
