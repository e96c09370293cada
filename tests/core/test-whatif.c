/* test-whatif.c — what-if Elastic-Softmax A' = max(0, A + tau/i) on analytic maps
 *
 * Closed forms (1-based query position i, T tokens, H_n the n-th harmonic number):
 *   - uniform rows (1/i) at tau = -1 vanish exactly: sparsity 1, mass removed 1 per row;
 *   - one-hot rows keep 1 - 1/i on their hot key: zeros T(T-1)/2 + 1, removed H_T / T per row;
 *     hot key on the first token: every removed unit is on the sink (share 1); hot key on the
 *     diagonal: alpha_k = 1/(T-k+1), the sinks are the keys with that above eps;
 *   - "half on the first token" rows (1 on row 1; 0.5 on key 1 and 0.5/(i-1) elsewhere):
 *     removed from key 1: sum_i min(a_i, 1/i) = H_T, elsewhere 0.5 (T-1);
 *   - a per-head tau table, pooling over runs, errors (shape mismatch, partial heads).
 */
#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-error.h"
#include "attnscope/ats-model.h"
#include "attnscope/ats-whatif.h"

static void
assert_close (double got, double want, double tol, const char *what)
{
  if (isnan (want) && isnan (got))
    return;
  if (!(fabs (got - want) <= tol * MAX (1.0, fabs (want))))
    g_error ("%s: got %.9g, want %.9g", what, got, want);
}

static double
harmonic (guint n)
{
  double s = 0.0;

  for (guint k = 1; k <= n; k++)
    s += 1.0 / k;
  return s;
}

/* [T, T] maps, row i (0-based) over keys j <= i */
static float *
uniform_map (guint T)
{
  float *m = g_new0 (float, (gsize) T *T);

  for (guint i = 0; i < T; i++)
    for (guint j = 0; j <= i; j++)
      m[(gsize) i * T + j] = 1.0f / (float) (i + 1);
  return m;
}

/* hot key of row i: 0 (first token) or i (diagonal) */
static float *
one_hot_map (guint T, gboolean diagonal)
{
  float *m = g_new0 (float, (gsize) T *T);

  for (guint i = 0; i < T; i++)
    m[(gsize) i * T + (diagonal ? i : 0)] = 1.0f;
  return m;
}

static float *
half_first_map (guint T)
{
  float *m = g_new0 (float, (gsize) T *T);

  m[0] = 1.0f;
  for (guint i = 1; i < T; i++)
    {
      m[(gsize) i * T] = 0.5f;
      for (guint j = 1; j <= i; j++)
        m[(gsize) i * T + j] = 0.5f / (float) i;
    }
  return m;
}

static guint64
n_visible (guint T)
{
  return (guint64) T * (T + 1) / 2;
}

/* ---------------------------------------------------------------------------------------- */

static void
test_uniform_vanishes (void)
{
  /* every length up to 300: 1/i - 1/i is exactly 0 in float */
  for (guint T = 1; T <= 300; T += (T < 20 ? 1 : 37))
    {
      g_autofree float *m = uniform_map (T);
      g_autofree float *out = g_new (float, (gsize) T *T);

      ats_whatif_transform_head (m, out, T, -1.0f);
      for (gsize k = 0; k < (gsize) T * T; k++)
        if (out[k] != 0.0f)
          g_error ("T = %u: entry %" G_GSIZE_FORMAT " is %g, not 0", T, k, out[k]);
    }

  /* T = 1: the single weight 1 + (-1)/1 = 0 */
  {
    float              one = 1.0f, out = 7.0f;
    AtsWhatifHeadStats st;

    ats_whatif_transform_head (&one, &out, 1, -1.0f);
    g_assert_cmpfloat (out, ==, 0.0f);
    ats_whatif_head_stats (&one, 1, -1.0f, 0.3, &st);
    g_assert_cmpfloat (st.sparsity, ==, 1.0);
    assert_close (st.mass_removed, 1.0, 1e-7, "T=1 removed");
    g_assert_cmpuint (st.n_sinks, ==, 1); /* alpha = 1 */
    assert_close (st.sink_share, 1.0, 1e-7, "T=1 share");
  }

  /* T = 16: alpha_k = mean of 1/i over i >= k, largest at k = 1: H_16 / 16 = 0.211 < 0.3, so no
   * sinks and no removed mass on sinks */
  {
    guint              T = 16;
    g_autofree float  *m = uniform_map (T);
    AtsWhatifHeadStats st;

    g_assert_cmpfloat (harmonic (T) / T, <, 0.3);
    ats_whatif_head_stats (m, T, -1.0f, 0.3, &st);
    g_assert_cmpfloat (st.sparsity, ==, 1.0);
    g_assert_cmpfloat (st.sparsity_before, ==, 0.0);
    assert_close (st.mass_removed, 1.0, 1e-6, "uniform removed");
    g_assert_cmpuint (st.n_sinks, ==, 0);
    g_assert_cmpfloat (st.sink_mass_removed, ==, 0.0);
    g_assert_cmpfloat (st.sink_share, ==, 0.0);

    /* eps 0.2 < H_16/16: the first key is the only sink; it loses 1/i on every row */
    ats_whatif_head_stats (m, T, -1.0f, 0.2, &st);
    g_assert_cmpuint (st.n_sinks, ==, 1);
    assert_close (st.sink_mass_removed, harmonic (T) / T, 1e-6, "uniform sink removed");
    assert_close (st.sink_share, harmonic (T) / T, 1e-6, "uniform sink share");
  }
}

static void
test_one_hot (void)
{
  guint T = 24;

  for (int diagonal = 0; diagonal <= 1; diagonal++)
    {
      g_autofree float  *m = one_hot_map (T, diagonal);
      g_autofree float  *out = g_new (float, (gsize) T *T);
      AtsWhatifHeadStats st;
      double             sink_removed = 0.0;
      guint              n_sinks = 0;

      ats_whatif_transform_head (m, out, T, -1.0f);
      for (guint i = 0; i < T; i++)
        for (guint j = 0; j < T; j++)
          {
            guint  hot = diagonal ? i : 0;
            double want = j == hot ? 1.0 - 1.0 / (i + 1) : 0.0;

            assert_close (out[(gsize) i * T + j], want, 1e-7, "one-hot kept weight");
            if (j != hot)
              g_assert_cmpfloat (out[(gsize) i * T + j], ==, 0.0f);
          }
      g_assert_cmpfloat (out[0], ==, 0.0f); /* i = 1: 1 - 1/1 */

      ats_whatif_head_stats (m, T, -1.0f, 0.3, &st);
      assert_close (st.sparsity, ((double) T * (T - 1) / 2 + 1) / n_visible (T), 1e-12,
                    "one-hot sparsity");
      assert_close (st.sparsity_before, ((double) T * (T - 1) / 2) / n_visible (T), 1e-12,
                    "one-hot sparsity before");
      assert_close (st.mass_removed, harmonic (T) / T, 1e-6, "one-hot removed");
      if (!diagonal)
        {
          /* alpha_1 = 1, every other key 0: all removed mass is on the sink */
          g_assert_cmpuint (st.n_sinks, ==, 1);
          assert_close (st.sink_share, 1.0, 1e-6, "first-token share");
          continue;
        }
      /* diagonal: key k (1-based) gets 1 from row k only: alpha_k = 1/(T-k+1); it loses 1/k */
      for (guint k = 1; k <= T; k++)
        if (1.0 / (T - k + 1) > 0.3)
          {
            n_sinks++;
            sink_removed += 1.0 / k;
          }
      g_assert_cmpuint (n_sinks, ==, 3); /* 1, 1/2, 1/3 > 0.3 > 1/4 */
      g_assert_cmpuint (st.n_sinks, ==, n_sinks);
      assert_close (st.sink_mass_removed, sink_removed / T, 1e-6, "diagonal sink removed");
      assert_close (st.sink_share, sink_removed / harmonic (T), 1e-6, "diagonal share");
    }
}

static void
test_half_first (void)
{
  guint              T = 32;
  g_autofree float  *m = half_first_map (T);
  AtsWhatifHeadStats st;
  double             H_T = harmonic (T), zeros = 1 + 2;
  double             alpha1 = (1.0 + 0.5 * (T - 1)) / T;
  double             alpha2 = 0.5 * harmonic (T - 1) / (T - 1); /* largest of keys 2..T */

  g_assert_cmpfloat (alpha1, >, 0.3);
  g_assert_cmpfloat (alpha2, <, 0.3);
  for (guint i = 3; i <= T; i++)
    zeros += i - 1; /* rows i > 2 keep only key 1 (0.5 - 1/i > 0) */

  ats_whatif_head_stats (m, T, -1.0f, 0.3, &st);
  g_assert_cmpuint (st.n_sinks, ==, 1);
  assert_close (st.sparsity, zeros / n_visible (T), 1e-12, "half-first sparsity");
  g_assert_cmpfloat (st.sparsity_before, ==, 0.0);
  assert_close (st.mass_removed, (H_T + 0.5 * (T - 1)) / T, 1e-6, "half-first removed");
  assert_close (st.sink_mass_removed, H_T / T, 1e-6, "half-first sink removed");
  assert_close (st.sink_share, H_T / (H_T + 0.5 * (T - 1)), 1e-6, "half-first share");
}

static void
test_transform_rows (void)
{
  guint             T = 20;
  g_autofree float *m = half_first_map (T);
  g_autofree float *whole = g_new (float, (gsize) T *T);
  g_autofree float *rows = g_memdup2 (m, (gsize) T * T * sizeof (float));

  ats_whatif_transform_head (m, whole, T, -0.7f);
  /* in place, in blocks of 3 rows starting mid-map */
  for (guint r0 = 0; r0 < T; r0 += 3)
    {
      guint n = MIN (3, T - r0);

      ats_whatif_transform_rows (rows + (gsize) r0 * T, rows + (gsize) r0 * T, T, r0, n, -0.7f);
    }
  g_assert_cmpmem (whole, (gsize) T * T * sizeof (float), rows, (gsize) T * T * sizeof (float));
  /* spot check against the formula in double */
  for (guint i = 0; i < T; i++)
    for (guint j = 0; j <= i; j++)
      assert_close (whole[(gsize) i * T + j], MAX (0.0, m[(gsize) i * T + j] - 0.7 / (i + 1)), 1e-6,
                    "transform formula");

  /* tau > 0 adds tau/i to every visible entry: removed mass is negative, nothing is zeroed */
  {
    g_autofree float  *u = uniform_map (T);
    AtsWhatifHeadStats st;

    ats_whatif_head_stats (u, T, 0.5f, 0.3, &st);
    g_assert_cmpfloat (st.sparsity, ==, 0.0);
    assert_close (st.mass_removed, -0.5, 1e-6, "tau > 0 removed");
  }
}

/* Feeds @maps ([L, H, T, T]) head-interleaved in blocks of @block rows, last block first. */
static void
feed_interleaved (AtsWhatif *w, float *const *maps, guint L, guint H, guint T, guint block)
{
  g_autoptr (GError) error = NULL;
  guint n_blocks = (T + block - 1) / block;

  g_assert_true (ats_whatif_begin_run (w, T, &error));
  g_assert_no_error (error);
  for (guint b = n_blocks; b-- > 0;)
    for (guint l = 0; l < L; l++)
      for (guint h = 0; h < H; h++)
        {
          AtsAttentionBlock blk = { 0 };
          guint             r0 = b * block;

          blk.layer = l;
          blk.head = h;
          blk.n_tokens = T;
          blk.row_start = r0;
          blk.n_rows = MIN (block, T - r0);
          blk.probs = maps[l * H + h] + (gsize) r0 * T;
          g_assert_true (ats_whatif_add_block (w, &blk, &error));
          g_assert_no_error (error);
          /* a second-pass block is ignored */
          blk.pass = 1;
          g_assert_true (ats_whatif_add_block (w, &blk, &error));
        }
}

static void
test_tau_table (void)
{
  guint L = 2, H = 2, T = 16;
  /* [L, H] */
  const float       tau[] = { -1.0f, 0.0f, -0.5f, -2.0f };
  g_autofree float *u = uniform_map (T);
  float            *maps[4] = { u, u, u, u };
  g_autoptr (AtsWhatif) w = ats_whatif_new (L, H, 0.3);
  g_autoptr (AtsWhatifResults) r = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpfloat (ats_whatif_get_tau (w, 1, 1), ==, -1.0f); /* default */
  g_assert_true (ats_whatif_set_tau_table (w, tau, L, H, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (ats_whatif_get_tau (w, 1, 0), ==, -0.5f);
  feed_interleaved (w, maps, L, H, T, 5);
  r = ats_whatif_finish (w, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);

  /* uniform rows: tau <= -1 zeroes everything; -0.5 keeps 0.5/i; 0 changes nothing */
  {
    const double sparsity[] = { 1, 0, 0, 1 };
    const double removed[] = { 1, 0, 0.5, 1 };

    for (guint i = 0; i < 4; i++)
      {
        g_assert_cmpfloat (r->tau[i], ==, tau[i]);
        g_assert_cmpfloat (r->sparsity[i], ==, sparsity[i]);
        g_assert_cmpfloat (r->sparsity_before[i], ==, 0.0);
        assert_close (r->mass_removed[i], removed[i], 1e-6, "table removed");
        g_assert_cmpfloat (r->mean_sinks[i], ==, 0.0); /* H_16/16 < 0.3 */
      }
    g_assert_true (isnan (r->sink_share[1])); /* nothing removed */
    g_assert_cmpfloat (r->sink_share[0], ==, 0.0);
  }
  /* layers pool their heads */
  assert_close (r->layer_sparsity[0], 0.5, 1e-12, "layer 0 sparsity");
  assert_close (r->layer_sparsity[1], 0.5, 1e-12, "layer 1 sparsity");
  assert_close (r->layer_mass_removed[0], 0.5, 1e-6, "layer 0 removed");
  assert_close (r->layer_mass_removed[1], 0.75, 1e-6, "layer 1 removed");
  assert_close (r->mass_removed_all, 0.625, 1e-6, "all removed");
  assert_close (r->sparsity_all, 0.5, 1e-12, "all sparsity");
  g_assert_cmpuint (r->n_runs, ==, 1);
  g_assert_cmpuint (r->n_rows, ==, T);

  /* text outputs carry the numbers */
  {
    g_autoptr (GString) table = ats_whatif_results_format_table (r, TRUE);
    g_autoptr (GString) csv = ats_whatif_results_format_csv (r, FALSE);
    g_autofree char *json = ats_whatif_results_to_json (r, FALSE);
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *root, *layers;

    g_assert_nonnull (strstr (table->str, "(ours)"));
    g_assert_nonnull (strstr (csv->str, "\n1,-1.25,0.5,0,0.75,0,0\n"));
    g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
    g_assert_no_error (error);
    root = json_node_get_object (json_parser_get_root (parser));
    layers = json_object_get_object_member (root, "layers");
    assert_close (
        json_array_get_double_element (json_object_get_array_member (layers, "mass_removed"), 1),
        0.75, 1e-6, "json layer removed");
    g_assert_true (json_array_get_null_element (
        json_array_get_array_element (
            json_object_get_array_member (json_object_get_object_member (root, "heads"),
                                          "sink_share"),
            0),
        1));
  }
}

static void
test_shape_mismatch (void)
{
  g_autoptr (AtsWhatif) w = ats_whatif_new (2, 2, 0.3);
  g_autoptr (GError) error = NULL;
  const float tau6[6] = { -1, -1, -1, -1, -1, -1 };
  const float bad[4] = { -1, NAN, -1, -1 };

  g_assert_false (ats_whatif_set_tau_table (w, tau6, 3, 2, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "[3, 2]"));
  g_assert_nonnull (strstr (error->message, "[2, 2]"));
  g_clear_error (&error);
  g_assert_false (ats_whatif_set_tau_table (w, tau6, 2, 3, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (ats_whatif_set_tau_table (w, bad, 2, 2, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "layer 0 head 1"));
  /* the table was left as it was */
  g_assert_cmpfloat (ats_whatif_get_tau (w, 0, 1), ==, -1.0f);
}

static void
test_errors (void)
{
  guint             T = 6;
  g_autofree float *u = uniform_map (T);
  g_autoptr (AtsWhatif) w = ats_whatif_new (1, 2, 0.3);
  g_autoptr (GError) error = NULL;
  AtsAttentionBlock blk = { 0 };

  /* rows before a run */
  g_assert_false (ats_whatif_add_head (w, 0, 0, u, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_clear_error (&error);

  g_assert_true (ats_whatif_begin_run (w, T, &error));
  /* a head outside the model, a block of the wrong length */
  g_assert_false (ats_whatif_add_head (w, 0, 2, u, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_clear_error (&error);
  blk.n_tokens = T + 1;
  blk.n_rows = 1;
  blk.probs = u;
  g_assert_false (ats_whatif_add_block (w, &blk, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_clear_error (&error);

  /* rows given twice */
  blk.n_tokens = T;
  blk.n_rows = 4;
  g_assert_true (ats_whatif_add_block (w, &blk, &error));
  g_assert_false (ats_whatif_add_block (w, &blk, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "layer 0 head 0"));
  g_clear_error (&error);

  /* head 0 got 4 of 6 rows: finishing is an error naming it */
  g_assert_null (ats_whatif_finish (w, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "4 of its 6"));
  g_clear_error (&error);

  g_assert_false (ats_whatif_begin_run (w, 0, &error));
  g_assert_error (error, ATS_DIAGNOSTICS_ERROR, ATS_DIAGNOSTICS_ERROR_INPUT);
}

static void
test_runs_pool (void)
{
  /* one-hot first-token rows in runs of 4 and 8 tokens, fed through the observer */
  g_autofree float *a = one_hot_map (4, FALSE);
  g_autofree float *b = one_hot_map (8, FALSE);
  g_autoptr (AtsWhatif) w = ats_whatif_new (1, 1, 0.3);
  g_autoptr (AtsWhatifResults) r = NULL;
  g_autoptr (GError) error = NULL;
  AtsObserver *obs = ats_whatif_get_observer (w);
  const float *runs[] = { a, b };
  const guint  Ts[] = { 4, 8 };
  double       zeros = 0, visible = 0;

  ats_whatif_set_tau (w, -1.0f);
  for (guint k = 0; k < 2; k++)
    {
      AtsAttentionBlock blk = { 0 };

      g_assert_true (obs->begin (obs, NULL, NULL, Ts[k], &error));
      blk.n_tokens = Ts[k];
      blk.n_rows = Ts[k];
      blk.probs = runs[k];
      g_assert_true (obs->attention (obs, &blk, &error));
      g_assert_no_error (error);
      zeros += (double) Ts[k] * (Ts[k] - 1) / 2 + 1;
      visible += n_visible (Ts[k]);
    }
  r = ats_whatif_finish (w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r->n_runs, ==, 2);
  g_assert_cmpuint (r->n_rows, ==, 12);
  assert_close (r->sparsity[0], zeros / visible, 1e-7, "pooled sparsity");
  assert_close (r->mass_removed[0], (harmonic (4) + harmonic (8)) / 12, 1e-6, "pooled removed");
  assert_close (r->sink_share[0], 1.0, 1e-6, "pooled share");
  g_assert_cmpfloat (r->mean_sinks[0], ==, 1.0);
}

static void
test_tau_from_model (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("ATS_SOURCE_ROOT"), "tests", "reference",
                                           "fixtures", "lazy-fla", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  g_autoptr (AtsCheckpoint) ckpt = ats_checkpoint_open (dir, &error);
  g_autofree float     *tau = NULL;
  const AtsModelConfig *c;

  g_assert_no_error (error);
  c = ats_model_get_config (model);
  tau = ats_whatif_tau_table_from_model (model, &error);
  g_assert_no_error (error);
  for (guint l = 0; l < c->n_layers; l++)
    {
      g_autofree char  *name = g_strdup_printf ("model.layers.%u.attn.tau", l);
      gint64            shape[1] = { c->n_heads };
      g_autofree float *want = ats_checkpoint_read_f32 (ckpt, name, 1, shape, &error);

      g_assert_no_error (error);
      g_assert_cmpmem (tau + (gsize) l * c->n_heads, c->n_heads * sizeof (float), want,
                       c->n_heads * sizeof (float));
    }

  /* a softmax model has no tau table */
  {
    g_autofree char *sdir = g_build_filename (g_getenv ("ATS_SOURCE_ROOT"), "tests", "reference",
                                              "fixtures", "llama", NULL);
    g_autoptr (AtsModel) soft = ats_model_load (sdir, &error);

    g_assert_no_error (error);
    g_assert_null (ats_whatif_tau_table_from_model (soft, &error));
    g_assert_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG);
    g_assert_nonnull (strstr (error->message, "not a Lazy Attention"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/whatif/uniform-vanishes", test_uniform_vanishes);
  g_test_add_func ("/whatif/one-hot", test_one_hot);
  g_test_add_func ("/whatif/half-first", test_half_first);
  g_test_add_func ("/whatif/transform-rows", test_transform_rows);
  g_test_add_func ("/whatif/tau-table", test_tau_table);
  g_test_add_func ("/whatif/shape-mismatch", test_shape_mismatch);
  g_test_add_func ("/whatif/errors", test_errors);
  g_test_add_func ("/whatif/runs-pool", test_runs_pool);
  g_test_add_func ("/whatif/tau-from-model", test_tau_from_model);
  return g_test_run ();
}
