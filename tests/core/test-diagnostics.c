/* test-diagnostics.c — allocation diagnostics on analytic maps and against NumPy
 *
 * Closed forms: uniform rows, one-hot first-token rows, Elastic-Softmax rows with exact zeros,
 * constructed plateaus (overload), constructed hidden states (collapse, massive activations).
 * Cross-check: tests/reference/diagnostics_ref.py (independent NumPy) on random softmax and
 * elastic maps.
 */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "attnscope/ats-diagnostics.h"
#include "attnscope/ats-error.h"

#define TOL 1e-5

static void
assert_close (double got, double want, double tol, const char *what)
{
  if (isnan (want) && isnan (got))
    return;
  if (!(fabs (got - want) <= tol * MAX (1.0, fabs (want))))
    g_error ("%s: got %.9g, want %.9g", what, got, want);
}

/* [L, H, T, T] maps, every head filled by @fill (row i, key j <= i) */
static float *
maps_new (guint L, guint H, guint T)
{
  return g_new0 (float, (gsize) L *H *T *T);
}

static float *
head_ptr (float *maps, guint H, guint T, guint l, guint h)
{
  return maps + ((gsize) l * H + h) * T * T;
}

/* ---------------------------------------------------------------------------------------- */

static void
test_defaults (void)
{
  AtsDiagParams p;

  ats_diag_params_init_default (&p);
  g_assert_cmpfloat (p.sink_eps, ==, 0.3);
  g_assert_cmpfloat (p.underload_mass, ==, 0.5);
  g_assert_cmpfloat (p.overload_mass, ==, 0.5);
  g_assert_cmpuint (p.overload_k, ==, 4);
  g_assert_cmpfloat (p.overload_factor, ==, 2.0);
  g_assert_cmpfloat (p.top_p, ==, 0.9);
  g_assert_cmpuint (p.min_keys, ==, 8);
  g_assert_cmpfloat (p.massive_abs, ==, 100.0);
  g_assert_cmpfloat (p.massive_ratio, ==, 1000.0);
}

static void
test_uniform (void)
{
  const guint       T = 40, L = 1, H = 2;
  g_autofree float *maps = maps_new (L, H, T);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  double want_width = 0.0, n_rows = 0.0;

  for (guint h = 0; h < H; h++)
    for (guint i = 0; i < T; i++)
      for (guint j = 0; j <= i; j++)
        head_ptr (maps, H, T, 0, h)[i * T + j] = 1.0f / (i + 1);

  r = ats_diagnostics_compute_from_maps (maps, L, H, T, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);

  /* alpha[k] = 1/(T-k) sum_{i>=k} 1/(i+1) (0-based) */
  for (guint k = 0; k < T; k++)
    {
      double s = 0.0;

      for (guint i = k; i < T; i++)
        s += 1.0 / (i + 1);
      assert_close (r->sink_score[k], s / (T - k), TOL, "uniform sink_score");
      assert_close (r->sink_score[T + k], s / (T - k), TOL, "uniform sink_score head 1");
    }
  for (guint n = 8; n <= T; n++)
    {
      want_width += ceil (0.9 * n - 1e-9) / n;
      n_rows++;
    }
  for (guint h = 0; h < H; h++)
    {
      assert_close (r->first_token_mass[h], r->sink_score[h * T], 0, "first_token_mass");
      assert_close (r->entropy[h], 1.0, TOL, "uniform entropy");
      assert_close (r->row_mass[h], 1.0, TOL, "uniform row_mass");
      assert_close (r->sparsity[h], 0.0, 0, "uniform sparsity");
      assert_close (r->uniform_sparsity[h], 0.0, 0, "uniform uniform_sparsity");
      assert_close (r->top_p_width[h], want_width / n_rows, TOL, "uniform top_p_width");
      /* H_40 / 40 = 0.107 < eps: no sink set, so nothing is underloaded, and every row has
       * n_i >= 4 equal non-sink keys: all overloaded */
      assert_close (r->underload[h], 0.0, 0, "uniform underload");
      assert_close (r->overload[h], 1.0, 0, "uniform overload");
    }
  assert_close (r->sink_rate, 0.0, 0, "uniform sink_rate");
  g_assert_true (isnan (r->collapse_cosine[0]));
  g_assert_cmpint (r->massive_count[0], ==, -1);
}

static void
test_one_hot (void)
{
  const guint       T = 33, L = 2, H = 2;
  g_autofree float *maps = maps_new (L, H, T);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  double visible = T * (T + 1) / 2.0, want_width = 0.0;

  for (guint l = 0; l < L; l++)
    for (guint h = 0; h < H; h++)
      for (guint i = 0; i < T; i++)
        head_ptr (maps, H, T, l, h)[i * T] = 1.0f;

  r = ats_diagnostics_compute_from_maps (maps, L, H, T, NULL, 0, NULL, &error);
  g_assert_no_error (error);

  for (guint n = 8; n <= T; n++)
    want_width += 1.0 / n;
  want_width /= T - 7;
  for (guint lh = 0; lh < L * H; lh++)
    {
      assert_close (r->sink_score[lh * T], 1.0, 0, "one-hot alpha[0]");
      for (guint k = 1; k < T; k++)
        assert_close (r->sink_score[lh * T + k], 0.0, 0, "one-hot alpha[k]");
      assert_close (r->first_token_mass[lh], 1.0, 0, "one-hot first_token_mass");
      assert_close (r->entropy[lh], 0.0, TOL, "one-hot entropy");
      assert_close (r->underload[lh], 1.0, 0, "one-hot underload");
      assert_close (r->overload[lh], 0.0, 0, "one-hot overload");
      assert_close (r->row_mass[lh], 1.0, 0, "one-hot row_mass");
      assert_close (r->sparsity[lh], (visible - T) / visible, TOL, "one-hot sparsity");
      assert_close (r->uniform_sparsity[lh], (visible - T) / visible, TOL, "one-hot unif");
      assert_close (r->top_p_width[lh], want_width, TOL, "one-hot top_p_width");
    }
  assert_close (r->sink_rate, 100.0, 0, "one-hot sink_rate");
}

/* Elastic-Softmax-like rows: the first m_i = ceil(n/2) keys share mass 0.6, the rest are
 * exact zeros; row 10 abstains completely (all zero). */
static void
test_elastic_zeros (void)
{
  const guint       T = 50, L = 1, H = 1;
  g_autofree float *maps = maps_new (L, H, T);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  double visible = T * (T + 1) / 2.0, zeros = 0, ent = 0, width = 0, mass = 0;
  guint  rows = 0;

  for (guint i = 0; i < T; i++)
    {
      guint n = i + 1, m = (n + 1) / 2;

      if (i == 10)
        {
          zeros += n;
          continue;
        }
      for (guint j = 0; j < m; j++)
        maps[i * T + j] = 0.6f / m;
      zeros += n - m;
      mass += 0.6;
      if (n >= 8)
        {
          ent += log (m) / log (n);
          width += ceil (0.9 * m - 1e-9) / n;
          rows++;
        }
    }

  r = ats_diagnostics_compute_from_maps (maps, L, H, T, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_close (r->sparsity[0], zeros / visible, TOL, "elastic sparsity");
  assert_close (r->row_mass[0], mass / T, TOL, "elastic row_mass");
  assert_close (r->entropy[0], ent / rows, TOL, "elastic entropy (renormalised)");
  assert_close (r->top_p_width[0], width / rows, TOL, "elastic top_p_width");
  g_assert_cmpfloat (r->uniform_sparsity[0], >=, r->sparsity[0]);
}

/* A sink of 0.35 on key 0 and plateaus: even rows have 4 non-sink keys within a factor 2 of
 * the largest non-sink weight (overloaded), odd rows 3. */
static void
fill_plateaus (float *a /* [T, T] */, guint T)
{
  static const float even[4] = { 0.15f, 0.15f, 0.10f, 0.075f }; /* 0.075 = 0.15 / 2: counts */
  static const float odd[4] = { 0.15f, 0.15f, 0.10f, 0.07f };

  for (guint i = 0; i < T; i++)
    {
      guint        n = i + 1;
      const float *top = i % 2 == 0 ? even : odd;
      float        rest = 0.65f - (top[0] + top[1] + top[2] + top[3]);

      if (n < 8)
        {
          a[i * T] = 1.0f;
          continue;
        }
      a[i * T] = 0.35f;
      for (guint j = 1; j <= 4; j++)
        a[i * T + j] = top[j - 1];
      for (guint j = 5; j < n; j++)
        a[i * T + j] = rest / (n - 5);
    }
}

static void
test_overload_plateaus (void)
{
  const guint       T = 41;
  g_autofree float *maps = maps_new (1, 1, T);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (AtsDiagResults) r2 = NULL;
  g_autoptr (AtsDiagResults) r3 = NULL;
  g_autoptr (GError) error = NULL;
  AtsDiagParams p;
  guint         even_rows = 0, rows = 0;

  fill_plateaus (maps, T);
  for (guint i = 7; i < T; i++)
    {
      rows++;
      even_rows += i % 2 == 0;
    }

  r = ats_diagnostics_compute_from_maps (maps, 1, 1, T, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (r->sink_score[0], >, 0.3);
  for (guint k = 1; k < T; k++)
    g_assert_cmpfloat (r->sink_score[k], <, 0.3);
  assert_close (r->overload[0], (double) even_rows / rows, 0, "plateau overload");
  assert_close (r->underload[0], 0.0, 0, "plateau underload (sink mass 0.35)");

  /* parameters are honoured */
  ats_diag_params_init_default (&p);
  p.underload_mass = 0.3;
  p.overload_k = 3;
  r2 = ats_diagnostics_compute_from_maps (maps, 1, 1, T, NULL, 0, &p, &error);
  g_assert_no_error (error);
  assert_close (r2->underload[0], 1.0, 0, "plateau underload at 0.3");
  assert_close (r2->overload[0], 1.0, 0, "plateau overload with k = 3");
  g_assert_cmpfloat (r2->params.underload_mass, ==, 0.3);

  /* non-sink mass 0.65 < 0.7: nothing overloaded */
  ats_diag_params_init_default (&p);
  p.overload_mass = 0.7;
  r3 = ats_diagnostics_compute_from_maps (maps, 1, 1, T, NULL, 0, &p, &error);
  g_assert_no_error (error);
  assert_close (r3->overload[0], 0.0, 0, "plateau overload at mass 0.7");
}

static void
test_collapse_massive (void)
{
  const guint       T = 9, D = 16, L = 2;
  g_autofree float *maps = maps_new (L, 1, T);
  g_autofree float *hidden = g_new0 (float, (gsize) (L + 1) * T * D); /* [L+1, T, D] */
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  float *h0 = hidden, *h1 = hidden + T * D, *h2 = hidden + 2 * T * D; /* [T, D] each */
  double n = T - 1;

  for (guint lh = 0; lh < L; lh++)
    for (guint i = 0; i < T; i++)
      maps[lh * T * T + i * T] = 1.0f;

  /* layer 0: identical vectors on tokens 1..T-1, token 0 (left out) is different */
  for (guint d = 0; d < D; d++)
    h0[d] = d % 2 ? 50.0f : -50.0f;
  for (guint t = 1; t < T; t++)
    for (guint d = 0; d < D; d++)
      h0[t * D + d] = 0.5f + d;
  /* layer 1: orthogonal basis vectors e_t on tokens 1..T-1 */
  for (guint d = 0; d < D; d++)
    h1[d] = 3.0f;
  for (guint t = 1; t < T; t++)
    h1[t * D + t] = 2.0f;
  /* layer 2: small values of known median, two massive entries, one just below 100 */
  for (guint i = 0; i < T * D; i++)
    h2[i] = (i % 2 ? -0.05f : 0.05f) * (1 + (i % 3));
  h2[3 * D + 5] = 150.0f;
  h2[0 * D + 2] = -160.0f;
  h2[4 * D + 1] = 99.0f;

  r = ats_diagnostics_compute_from_maps (maps, L, 1, T, hidden, D, NULL, &error);
  g_assert_no_error (error);

  assert_close (r->collapse_cosine[0], 1.0, TOL, "identical -> cos 1");
  /* centring identical vectors leaves zero vectors: undefined */
  g_assert_true (isnan (r->collapse_cosine_centered[0]));
  assert_close (r->collapse_cosine[1], 0.0, TOL, "orthogonal -> cos 0");
  /* centred basis vectors: cos(e_a - m, e_b - m) = -1/(n-1) */
  assert_close (r->collapse_cosine_centered[1], -1.0 / (n - 1), TOL, "centred basis");
  /* variance of e_t over D: 4/D - 4/D^2 */
  assert_close (r->variance_footprint[1 * T + 1], 4.0 / D - 4.0 / (D * D), TOL, "variance e_t");
  assert_close (r->variance_footprint[1 * T + 0], 0.0, TOL, "variance constant");
  assert_close (r->massive_max_abs[1 * T + 0], 3.0, 0, "max |h|");
  g_assert_cmpint (r->massive_count[0], ==, 0);
  g_assert_cmpint (r->massive_count[1], ==, 0);
  /* |h| values 0.05, 0.10, 0.15 in equal thirds (144 entries; 3 replaced by large ones):
   * median 0.10, so the threshold is max(100, 1000 x 0.1) -> 150 and 160 count, 99 not */
  assert_close (r->median_abs[2], 0.10, TOL, "median |h|");
  g_assert_cmpint (r->massive_count[2], ==, 2);
  assert_close (r->massive_max_abs[2 * T + 0], 160.0, 0, "max |h| token 0");
}

/* --- random maps --------------------------------------------------------------------------- */

/* Softmax rows with a per-head temperature and first-token bonus; elastic heads apply
 * max(0, softmax + tau / n) without renormalisation. */
static float *
random_maps (GRand *rand, guint L, guint H, guint T, gboolean elastic)
{
  float             *maps = maps_new (L, H, T);
  g_autofree double *logit = g_new (double, T); /* [T] */

  for (guint l = 0; l < L; l++)
    for (guint h = 0; h < H; h++)
      {
        float *a = head_ptr (maps, H, T, l, h);
        double scale = g_rand_double_range (rand, 0.05, 3.0);
        double bonus = (h % 3 == 0) ? g_rand_double_range (rand, 2.0, 6.0) : 0.0;
        double tau = g_rand_double_range (rand, -1.0, -0.2);

        for (guint i = 0; i < T; i++)
          {
            double mx = -INFINITY, s = 0.0;

            for (guint j = 0; j <= i; j++)
              {
                logit[j] = scale * g_rand_double_range (rand, -2.0, 2.0);
                if (j == 0)
                  logit[j] += bonus + g_rand_double_range (rand, -2.0, 2.0);
                mx = MAX (mx, logit[j]);
              }
            for (guint j = 0; j <= i; j++)
              s += exp (logit[j] - mx);
            for (guint j = 0; j <= i; j++)
              {
                double v = exp (logit[j] - mx) / s;

                if (elastic)
                  v = MAX (0.0, v + tau / (i + 1));
                a[i * T + j] = (float) v;
              }
          }
      }
  return maps;
}

static void
assert_results_equal (const AtsDiagResults *a, const AtsDiagResults *b, double tol)
{
  const AtsDiagMetricInfo *list;
  guint                    n_list;

  g_assert_cmpuint (a->n_layers, ==, b->n_layers);
  g_assert_cmpuint (a->n_heads, ==, b->n_heads);
  g_assert_cmpuint (a->n_tokens, ==, b->n_tokens);
  list = ats_diag_metrics_list (&n_list);
  for (guint m = 0; m < n_list; m++)
    {
      gsize         n1, n2;
      gconstpointer p1 = ats_diag_results_get_metric (a, list[m].name, &n1);
      gconstpointer p2 = ats_diag_results_get_metric (b, list[m].name, &n2);

      g_assert_cmpuint (n1, ==, n2);
      for (gsize i = 0; i < n1; i++)
        {
          if (list[m].is_int)
            g_assert_cmpint (((const gint32 *) p1)[i], ==, ((const gint32 *) p2)[i]);
          else
            assert_close (((const float *) p1)[i], ((const float *) p2)[i], tol, list[m].name);
        }
    }
  assert_close (a->sink_rate, b->sink_rate, tol, "sink_rate");
}

/* Feeds blocks of 3 rows in a shuffled order, heads of a layer interleaved, through the
 * observer callbacks as the forward pass would; must equal whole-map feeding. */
static void
test_block_order (void)
{
  const guint L = 2, H = 3, T = 29, D = 8;
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree float *maps = random_maps (rand, L, H, T, FALSE);
  g_autofree float *hidden = g_new (float, (gsize) (L + 1) * T * D);
  g_autoptr (AtsDiagResults) whole = NULL;
  g_autoptr (AtsDiagResults) blocks = NULL;
  g_autoptr (AtsDiagnostics) diag = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) order = g_array_new (FALSE, FALSE, sizeof (guint));
  AtsObserver *obs;

  for (gsize i = 0; i < (gsize) (L + 1) * T * D; i++)
    hidden[i] = (float) g_rand_double_range (rand, -1, 1);

  whole = ats_diagnostics_compute_from_maps (maps, L, H, T, hidden, D, NULL, &error);
  g_assert_no_error (error);

  diag = ats_diagnostics_new (L, H, 5, NULL); /* begin() resizes to T */
  obs = ats_diagnostics_get_observer (diag);
  g_assert_true (obs->second_pass);
  g_assert_true (obs->begin (obs, NULL, NULL, T, &error));
  g_assert_true (obs->residual (obs, 0, T, D, hidden, &error));

  for (guint l = 0; l < L; l++)
    {
      for (guint pass = 0; pass < 2; pass++)
        {
          /* every (head, block start) of this layer and pass, shuffled */
          g_array_set_size (order, 0);
          for (guint h = 0; h < H; h++)
            for (guint s = 0; s < T; s += 3)
              {
                guint code = h * T + s;

                g_array_append_val (order, code);
              }
          for (guint k = order->len; k > 1; k--)
            {
              guint  j = g_rand_int_range (rand, 0, k);
              guint *o = (guint *) order->data, tmp = o[k - 1];

              o[k - 1] = o[j];
              o[j] = tmp;
            }
          for (guint k = 0; k < order->len; k++)
            {
              guint             code = g_array_index (order, guint, k);
              guint             h = code / T, s = code % T;
              AtsAttentionBlock block = {
                .layer = l,
                .head = h,
                .pass = pass,
                .n_tokens = T,
                .row_start = s,
                .n_rows = MIN (3, T - s),
                .probs = head_ptr (maps, H, T, l, h) + (gsize) s * T,
              };

              g_assert_true (obs->attention (obs, &block, &error));
              g_assert_no_error (error);
            }
        }
      g_assert_true (obs->residual (obs, l + 1, T, D, hidden + (gsize) (l + 1) * T * D, &error));
    }
  g_assert_true (obs->end (obs, NULL, &error));
  blocks = ats_diagnostics_finish (diag, &error);
  g_assert_no_error (error);
  assert_results_equal (blocks, whole, 1e-6);

  /* the same object serves the next run after begin() */
  g_clear_pointer (&blocks, ats_diag_results_free);
  g_assert_true (obs->begin (obs, NULL, NULL, T, &error));
  blocks = ats_diagnostics_finish (diag, &error);
  g_assert_no_error (error);
  g_assert_true (isnan (blocks->entropy[0]));
}

static void
test_errors (void)
{
  const guint       T = 12;
  g_autofree float *maps = maps_new (2, 2, T);
  g_autoptr (AtsDiagnostics) diag = ats_diagnostics_new (2, 2, T, NULL);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  AtsAttentionBlock block = {
    .layer = 0, .head = 0, .pass = 0, .n_tokens = T, .row_start = 0, .n_rows = 4, .probs = maps
  };

  for (guint i = 0; i < 4 * T; i++)
    maps[i * T] = 1.0f;

  g_assert_true (ats_diagnostics_add_block (diag, &block, &error));
  /* pass 1 before the head's pass 0 is complete */
  block.pass = 1;
  g_assert_false (ats_diagnostics_add_block (diag, &block, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_clear_error (&error);
  /* out of range */
  block.pass = 0;
  block.head = 2;
  g_assert_false (ats_diagnostics_add_block (diag, &block, &error));
  g_assert_nonnull (strstr (error->message, "head 2"));
  g_clear_error (&error);
  block.head = 0;
  block.row_start = 10;
  g_assert_false (ats_diagnostics_add_block (diag, &block, &error));
  g_clear_error (&error);
  block.row_start = 0;
  block.n_tokens = T + 1;
  g_assert_false (ats_diagnostics_add_block (diag, &block, &error));
  g_clear_error (&error);
  /* a partly fed head cannot be finished */
  r = ats_diagnostics_finish (diag, &error);
  g_assert_null (r);
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_clear_error (&error);

  /* complete head (0, 0) with pass 0 only; other heads never fed */
  block.n_tokens = T;
  block.row_start = 4;
  block.n_rows = T - 4;
  block.probs = maps + 4 * T;
  g_assert_true (ats_diagnostics_add_block (diag, &block, &error));
  /* too many rows */
  g_assert_false (ats_diagnostics_add_block (diag, &block, &error));
  g_clear_error (&error);
  r = ats_diagnostics_finish (diag, &error);
  g_assert_no_error (error);
  assert_close (r->first_token_mass[0], 1.0, 0, "pass-0-only first_token_mass");
  assert_close (r->entropy[0], 0.0, TOL, "pass-0-only entropy");
  g_assert_true (isnan (r->underload[0])); /* no second pass */
  g_assert_true (isnan (r->first_token_mass[1]));
  g_assert_true (isnan (r->entropy[3]));
  assert_close (r->sink_rate, 100.0, 0, "sink rate over fed heads");
  /* finished: needs a reset */
  block.row_start = 0;
  g_assert_false (ats_diagnostics_add_block (diag, &block, &error));
  g_clear_error (&error);
}

/* --- NumPy cross-check --------------------------------------------------------------------- */

/* Writes a float32 .npy (format 1.0, C order). */
static void
write_npy (const char *path, const float *data, const guint *shape, guint ndim)
{
  g_autoptr (GString) header = g_string_new ("{'descr': '<f4', 'fortran_order': False, 'shape': (");
  g_autoptr (GString) file = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  gsize   n = 1;
  guint16 hlen;

  for (guint d = 0; d < ndim; d++)
    {
      g_string_append_printf (header, "%u, ", shape[d]);
      n *= shape[d];
    }
  g_string_append (header, "), }");
  while ((10 + header->len + 1) % 64 != 0)
    g_string_append_c (header, ' ');
  g_string_append_c (header, '\n');
  hlen = GUINT16_TO_LE ((guint16) header->len);

  g_string_append_len (file, "\x93NUMPY\x01\x00", 8);
  g_string_append_len (file, (const char *) &hlen, 2);
  g_string_append_len (file, header->str, header->len);
  g_assert_true (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  g_string_append_len (file, (const char *) data, n * sizeof (float));
  g_file_set_contents (path, file->str, file->len, &error);
  g_assert_no_error (error);
}

static double
json_number (JsonNode *node)
{
  if (JSON_NODE_HOLDS_NULL (node))
    return NAN;
  return json_node_get_double (node);
}

/* Flattens nested JSON arrays into @out in row-major order. */
static void
json_flatten (JsonNode *node, GArray *out)
{
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *a = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (a); i++)
        json_flatten (json_array_get_element (a, i), out);
    }
  else
    {
      double v = json_number (node);

      g_array_append_val (out, v);
    }
}

static void
compare_with_numpy (const float         *maps,
                    guint                L,
                    guint                H,
                    guint                T,
                    const float         *hidden,
                    guint                D,
                    const AtsDiagParams *params)
{
  g_autofree char *dir = NULL;
  g_autofree char *attn_path = NULL;
  g_autofree char *hidden_path = NULL;
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (AtsDiagResults) r = NULL;
  const AtsDiagMetricInfo *list;
  guint                    n_list, compared = 0;
  int                      status;
  JsonObject              *root, *metrics;
  guint                    shape[4] = { L, H, T, T };
  guint                    hshape[3] = { L + 1, T, D };
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  AtsDiagParams p;

  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 not available");
      return;
    }

  dir = g_dir_make_tmp ("ats-diag-XXXXXX", &error);
  g_assert_no_error (error);
  attn_path = g_build_filename (dir, "attn.npy", NULL);
  hidden_path = g_build_filename (dir, "hidden.npy", NULL);
  script = g_test_build_filename (G_TEST_DIST, "reference", "diagnostics_ref.py", NULL);
  write_npy (attn_path, maps, shape, 4);
  write_npy (hidden_path, hidden, hshape, 3);

  if (params != NULL)
    p = *params;
  else
    ats_diag_params_init_default (&p);
  g_ptr_array_add (argv, g_strdup ("/usr/bin/python3"));
  g_ptr_array_add (argv, g_strdup (script));
  g_ptr_array_add (argv, g_strdup ("--attn"));
  g_ptr_array_add (argv, g_strdup (attn_path));
  g_ptr_array_add (argv, g_strdup ("--hidden"));
  g_ptr_array_add (argv, g_strdup (hidden_path));
#define ARG(flag, fmt, v)                                                                          \
  g_ptr_array_add (argv, g_strdup (flag));                                                         \
  g_ptr_array_add (argv, g_strdup_printf (fmt, v));
  ARG ("--eps", "%.17g", p.sink_eps);
  ARG ("--underload-mass", "%.17g", p.underload_mass);
  ARG ("--overload-mass", "%.17g", p.overload_mass);
  ARG ("--overload-k", "%u", p.overload_k);
  ARG ("--overload-factor", "%.17g", p.overload_factor);
  ARG ("--top-p", "%.17g", p.top_p);
  ARG ("--min-keys", "%u", p.min_keys);
  ARG ("--massive-abs", "%.17g", p.massive_abs);
  ARG ("--massive-ratio", "%.17g", p.massive_ratio);
#undef ARG
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  g_unlink (attn_path);
  g_unlink (hidden_path);
  g_rmdir (dir);
  if (!g_spawn_check_wait_status (status, NULL))
    {
      if (strstr (err, "No module named 'numpy'") != NULL)
        {
          g_test_skip ("numpy not available");
          return;
        }
      g_error ("diagnostics_ref.py failed: %s", err);
    }

  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  metrics = json_object_get_object_member (root, "metrics");

  r = ats_diagnostics_compute_from_maps (maps, L, H, T, hidden, D, &p, &error);
  g_assert_no_error (error);

  list = ats_diag_metrics_list (&n_list);
  for (guint m = 0; m < n_list; m++)
    {
      g_autoptr (GArray) ref = g_array_new (FALSE, FALSE, sizeof (double));
      gsize         n;
      gconstpointer p = ats_diag_results_get_metric (r, list[m].name, &n);

      g_assert_true (json_object_has_member (metrics, list[m].name));
      json_flatten (json_object_get_member (metrics, list[m].name), ref);
      g_assert_cmpuint (ref->len, ==, n);
      for (gsize i = 0; i < n; i++)
        {
          double want = g_array_index (ref, double, i);
          char   what[128];

          g_snprintf (what, sizeof what, "numpy %s[%" G_GSIZE_FORMAT "]", list[m].name, i);
          if (list[m].is_int)
            g_assert_cmpint (((const gint32 *) p)[i], ==, (gint32) want);
          else
            assert_close (((const float *) p)[i], want, TOL, what);
          compared++;
        }
    }
  assert_close (r->sink_rate, json_object_get_double_member (root, "sink_rate"), TOL,
                "numpy sink_rate");
  g_test_message ("compared %u values with the NumPy reference", compared);
}

static float *
random_hidden (GRand *rand, guint L, guint T, guint D)
{
  float *hidden = g_new (float, (gsize) (L + 1) * T * D);

  for (guint l = 0; l <= L; l++)
    for (guint t = 0; t < T; t++)
      for (guint d = 0; d < D; d++)
        {
          /* a shared direction that grows with depth (partial collapse) plus noise */
          double v = 0.2 * l * sin (d) + g_rand_double_range (rand, -1, 1);

          hidden[((gsize) l * T + t) * D + d] = (float) v;
        }
  /* massive activations on the first token of the deeper layers, and a near miss */
  for (guint l = 1; l <= L; l++)
    hidden[((gsize) l * T + 0) * D + 3] = 900.0f + l;
  hidden[((gsize) 1 * T + 5) * D + 7] = -400.0f;
  return hidden;
}

static void
test_numpy_softmax (void)
{
  const guint L = 2, H = 4, T = 45, D = 24;
  g_autoptr (GRand) rand = g_rand_new_with_seed (1234);
  g_autofree float *maps = random_maps (rand, L, H, T, FALSE);
  g_autofree float *hidden = random_hidden (rand, L, T, D);

  compare_with_numpy (maps, L, H, T, hidden, D, NULL);
}

/* every parameter away from its default, on both sides */
static void
test_numpy_params (void)
{
  const guint L = 2, H = 6, T = 31, D = 12;
  g_autoptr (GRand) rand = g_rand_new_with_seed (4321);
  g_autofree float *maps = random_maps (rand, L, H, T, FALSE);
  g_autofree float *hidden = random_hidden (rand, L, T, D);
  AtsDiagParams     p = {
        .sink_eps = 0.12,
        .underload_mass = 0.4,
        .overload_mass = 0.3,
        .overload_k = 3,
        .overload_factor = 3.0,
        .top_p = 0.75,
        .min_keys = 5,
        .massive_abs = 50.0,
        .massive_ratio = 300.0,
  };

  compare_with_numpy (maps, L, H, T, hidden, D, &p);
}

static void
test_numpy_elastic (void)
{
  const guint L = 3, H = 3, T = 38, D = 16;
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);
  g_autofree float *maps = random_maps (rand, L, H, T, TRUE);
  g_autofree float *hidden = random_hidden (rand, L, T, D);

  compare_with_numpy (maps, L, H, T, hidden, D, NULL);
}

/* --- summary and output ---------------------------------------------------------------------- */

static void
test_summary (void)
{
  AtsDiagResults *runs[3];
  g_autoptr (AtsDiagSummary) s = NULL;
  g_autoptr (GError) error = NULL;
  const AtsDiagSummaryMetric *m;
  g_autoptr (AtsDiagResults) other = ats_diag_results_new (3, 2, 4);
  AtsDiagResults *bad[2];

  for (guint k = 0; k < 3; k++)
    {
      runs[k] = ats_diag_results_new (2, 2, 5 + k);
      for (guint i = 0; i < 4; i++)
        runs[k]->entropy[i] = (float) (k + i); /* k = 0,1,2: mean i + 1, std 1 */
      runs[k]->collapse_cosine[1] = 0.5f;
      runs[k]->massive_count[2] = 2 * k;
      runs[k]->sink_rate = 10.0 * k;
    }
  runs[2]->entropy[3] = NAN; /* left out */

  s = ats_diag_results_summarize (runs, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (s->n_runs, ==, 3);
  m = ats_diag_summary_get (s, "entropy");
  g_assert_nonnull (m);
  g_assert_cmpuint (m->n_values, ==, 4);
  assert_close (m->mean[0], 1.0, 1e-6, "summary mean");
  assert_close (m->std[0], 1.0, 1e-6, "summary std");
  assert_close (m->mean[3], 3.5, 1e-6, "summary mean with NaN");
  g_assert_cmpuint (m->count[3], ==, 2);
  /* layer 0 per-run head means: 0.5, 1.5, 2.5 */
  assert_close (m->layer_mean[0], 1.5, 1e-6, "summary layer mean");
  assert_close (m->layer_std[0], 1.0, 1e-6, "summary layer std");
  m = ats_diag_summary_get (s, "massive_count");
  g_assert_nonnull (m);
  assert_close (m->mean[2], 2.0, 1e-6, "summary massive");
  g_assert_true (isnan (m->mean[0])); /* -1 = not seen */
  m = ats_diag_summary_get (s, "collapse_cosine");
  assert_close (m->std[1], 0.0, 1e-6, "summary cos std");
  g_assert_null (ats_diag_summary_get (s, "sink_score"));
  assert_close (s->sink_rate_mean, 10.0, 1e-9, "summary sink rate");

  {
    g_autoptr (GString) table = ats_diag_summary_format_table (s);
    g_autofree char *json = ats_diag_summary_to_json (s, FALSE);
    g_autoptr (JsonParser) parser = json_parser_new ();

    g_assert_nonnull (strstr (table->str, "(ours)"));
    g_assert_nonnull (strstr (table->str, "1.5000 ± 1.0000"));
    g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
    g_assert_no_error (error);
  }

  bad[0] = runs[0];
  bad[1] = other;
  g_assert_null (ats_diag_results_summarize (bad, 2, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);

  for (guint k = 0; k < 3; k++)
    ats_diag_results_free (runs[k]);
}

static void
test_output (void)
{
  const guint L = 2, H = 3, T = 20, D = 8;
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  g_autofree float *maps = random_maps (rand, L, H, T, TRUE);
  g_autofree float *hidden = random_hidden (rand, L, T, D);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) table = NULL;
  g_autoptr (GString) table_heads = NULL;
  g_autoptr (GString) csv = NULL;
  g_autoptr (GString) csv_heads = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_tokens = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_auto (GStrv) lines = NULL;
  JsonObject *root, *metrics;

  r = ats_diagnostics_compute_from_maps (maps, L, H, T, hidden, D, NULL, &error);
  g_assert_no_error (error);
  r->entropy[1] = NAN;

  table = ats_diag_results_format_table (r, FALSE);
  g_assert_nonnull (strstr (table->str, "first-tok"));
  g_assert_nonnull (strstr (table->str, "unif-sp*"));
  g_assert_nonnull (strstr (table->str, "cos-ctr"));
  g_assert_nonnull (strstr (table->str, "massive"));
  g_assert_nonnull (strstr (table->str, "* attnscope's operational definition (ours), see README"));
  g_assert_null (strstr (table->str, "nan"));
  table_heads = ats_diag_results_format_table (r, TRUE);
  g_assert_cmpuint (table_heads->len, >, table->len);
  g_assert_nonnull (strstr (table_heads->str, "head"));

  csv = ats_diag_results_format_csv (r, FALSE);
  lines = g_strsplit (csv->str, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 1 + (L + 1) + 1); /* header, rows, "" */
  g_assert_true (g_str_has_prefix (lines[0], "layer,first_token_mass,sink_rate,entropy"));
  g_assert_true (g_str_has_suffix (lines[0], ",massive_count"));
  csv_heads = ats_diag_results_format_csv (r, TRUE);
  g_clear_pointer (&lines, g_strfreev);
  lines = g_strsplit (csv_heads->str, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 1 + L * H + 1);
  /* entropy of head (0, 1) is NaN: empty field */
  g_assert_true (g_str_has_prefix (lines[2], "0,1,"));
  {
    g_auto (GStrv) f = g_strsplit (lines[2], ",", -1);

    g_assert_cmpstr (f[4], ==, "");
  }

  json = ats_diag_results_to_json (r, FALSE, FALSE);
  g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (root, "n_layers"), ==, L);
  metrics = json_object_get_object_member (root, "metrics");
  g_assert_true (json_object_has_member (metrics, "overload"));
  g_assert_false (json_object_has_member (metrics, "sink_score"));
  g_assert_true (json_node_is_null (json_array_get_element (
      json_array_get_array_element (json_object_get_array_member (metrics, "entropy"), 0), 1)));
  assert_close (
      json_array_get_double_element (
          json_array_get_array_element (json_object_get_array_member (metrics, "overload"), 1), 2),
      r->overload[1 * H + 2], 1e-6, "json overload");
  json_tokens = ats_diag_results_to_json (r, TRUE, TRUE);
  g_assert_true (json_parser_load_from_data (parser, json_tokens, -1, &error));
  root = json_node_get_object (json_parser_get_root (parser));
  metrics = json_object_get_object_member (root, "metrics");
  g_assert_true (json_object_has_member (metrics, "sink_score"));
  g_assert_true (json_object_has_member (metrics, "variance_footprint"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/diagnostics/defaults", test_defaults);
  g_test_add_func ("/diagnostics/uniform", test_uniform);
  g_test_add_func ("/diagnostics/one-hot", test_one_hot);
  g_test_add_func ("/diagnostics/elastic-zeros", test_elastic_zeros);
  g_test_add_func ("/diagnostics/overload-plateaus", test_overload_plateaus);
  g_test_add_func ("/diagnostics/collapse-massive", test_collapse_massive);
  g_test_add_func ("/diagnostics/block-order", test_block_order);
  g_test_add_func ("/diagnostics/errors", test_errors);
  g_test_add_func ("/diagnostics/numpy-softmax", test_numpy_softmax);
  g_test_add_func ("/diagnostics/numpy-elastic", test_numpy_elastic);
  g_test_add_func ("/diagnostics/numpy-params", test_numpy_params);
  g_test_add_func ("/diagnostics/summary", test_summary);
  g_test_add_func ("/diagnostics/output", test_output);

  return g_test_run ();
}
