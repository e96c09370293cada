/* test-forward.c — the forward pass against the PyTorch reference fixtures
 *
 * tests/reference/make_fixtures.py wrote, for every family, a tiny random checkpoint and the
 * attention probabilities, scores, hidden states and logits computed by an independent PyTorch
 * implementation. Tolerances: attention max abs error <= 1e-5, logits max rel error <= 1e-4
 * (relative to the largest |logit|), identical zero pattern for Elastic-Softmax apart from
 * entries within 1e-6 of the ReLU threshold.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-model.h"
#include "ats-kernels-private.h"

typedef struct
{
  AtsObserver obs;
  guint       L, H, T;
  float      *attn;   /* [L, H, T, T] */
  float      *scores; /* [L, H, T, T] */
  guint       calls_pass1;
} Collector;

static gboolean
collect_attention (AtsObserver *o, const AtsAttentionBlock *b, GError **error)
{
  Collector *c = (Collector *) o;
  if (b->pass == 1)
    {
      c->calls_pass1++;
      return TRUE;
    }
  g_assert_cmpuint (b->n_tokens, ==, c->T);
  for (guint r = 0; r < b->n_rows; r++)
    {
      guint i = b->row_start + r;
      gsize off = (((gsize) b->layer * c->H + b->head) * c->T + i) * c->T;
      memcpy (c->attn + off, b->probs + (gsize) r * c->T, c->T * sizeof (float));
      if (b->scores)
        memcpy (c->scores + off, b->scores + (gsize) r * c->T, c->T * sizeof (float));
    }
  return TRUE;
}

static char *
fixture_dir (const char *name)
{
  return g_build_filename (g_getenv ("ATS_SOURCE_ROOT"), "tests", "reference", "fixtures", name,
                           NULL);
}

static gint32 *
read_ids (const char *dir, guint *n)
{
  g_autofree char *path = g_build_filename (dir, "expected.json", NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_file (p, path, NULL));
  JsonArray *a =
      json_object_get_array_member (json_node_get_object (json_parser_get_root (p)), "ids");
  *n = json_array_get_length (a);
  gint32 *ids = g_new (gint32, *n);
  for (guint i = 0; i < *n; i++)
    ids[i] = json_array_get_int_element (a, i);
  return ids;
}

static const float *
expected (AtsSafetensors *st, const char *name, gint64 numel)
{
  const AtsTensorInfo *t = ats_safetensors_lookup (st, name);
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, ATS_DTYPE_F32);
  g_assert_cmpint (t->numel, ==, numel);
  return (const float *) t->data;
}

static void
check_fixture (gconstpointer data)
{
  const char      *name = data;
  g_autofree char *dir = fixture_dir (name);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  g_assert_no_error (error);
  const AtsModelConfig *cfg = ats_model_get_config (model);
  guint                 T;
  g_autofree gint32    *ids = read_ids (dir, &T);
  guint                 L = cfg->n_layers, H = cfg->n_heads, V = cfg->vocab_size;
  gsize                 n_maps = (gsize) L * H * T * T;

  g_autofree char *exp_path = g_build_filename (dir, "expected.safetensors", NULL);
  g_autoptr (AtsSafetensors) exp = ats_safetensors_open (exp_path, &error);
  g_assert_no_error (error);
  const float *e_attn = expected (exp, "attention", n_maps);
  const float *e_scores = expected (exp, "scores", n_maps);
  const float *e_logits = expected (exp, "logits", (gint64) T * V);

  /* Row blocks of 5 so that several blocks per head are exercised. */
  for (guint rb = 0; rb < 2; rb++)
    {
      Collector col = { 0 };
      col.L = L;
      col.H = H;
      col.T = T;
      col.attn = g_new0 (float, n_maps);
      col.scores = g_new0 (float, n_maps);
      col.obs.attention = collect_attention;
      col.obs.want_scores = TRUE;
      col.obs.second_pass = TRUE;
      AtsObserver      *observers[] = { &col.obs, NULL };
      AtsForwardOptions opt = { 0 };
      opt.n_threads = 1;
      opt.row_block = rb == 0 ? 5 : 0;
      opt.want_logits = TRUE;
      opt.observers = observers;
      float *logits = NULL;
      g_assert_true (ats_forward_run (model, ids, T, &opt, &logits, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (col.calls_pass1, >, 0);

      double max_abs = 0, max_score = 0;
      guint  zero_mismatch = 0;
      for (gsize i = 0; i < n_maps; i++)
        {
          double d = fabs ((double) col.attn[i] - e_attn[i]);
          max_abs = MAX (max_abs, d);
          if ((col.attn[i] == 0.0f) != (e_attn[i] == 0.0f) && d > 1e-6)
            zero_mismatch++;
          gsize j = i % T, row = (i / T) % T;
          if (j > row)
            {
              g_assert_cmpfloat (col.attn[i], ==, 0.0f);
              g_assert_true (isinf (col.scores[i]) && col.scores[i] < 0);
            }
          else
            max_score = MAX (max_score, fabs ((double) col.scores[i] - e_scores[i]));
        }
      g_test_message ("%s: attention max abs error %.3g, scores %.3g", name, max_abs, max_score);
      g_assert_cmpfloat (max_abs, <=, 1e-5);
      g_assert_cmpfloat (max_score, <=, 1e-4);
      g_assert_cmpuint (zero_mismatch, ==, 0);
      if (cfg->attention == ATS_ATTENTION_ELASTIC)
        {
          guint zeros = 0;
          for (gsize i = 0; i < n_maps; i++)
            zeros += e_attn[i] == 0.0f && (i % T) <= (i / T) % T;
          g_assert_cmpuint (zeros, >, 0); /* the fixture really exercises exact zeros */
        }

      double lmax = 0, lerr = 0;
      for (gsize i = 0; i < (gsize) T * V; i++)
        lmax = MAX (lmax, fabs (e_logits[i]));
      for (gsize i = 0; i < (gsize) T * V; i++)
        lerr = MAX (lerr, fabs ((double) logits[i] - e_logits[i]) / lmax);
      g_test_message ("%s: logits max rel error %.3g", name, lerr);
      g_assert_cmpfloat (lerr, <=, 1e-4);
      g_free (logits);
      g_free (col.attn);
      g_free (col.scores);
    }
}

static void
test_bad_ids (void)
{
  g_autofree char *dir = fixture_dir ("llama");
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  g_assert_no_error (error);
  gint32            ids[] = { 1, 2, 100000 };
  AtsForwardOptions opt = { 0 };
  g_assert_false (ats_forward_run (model, ids, 3, &opt, NULL, &error));
  g_assert_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "100000"));
  g_clear_error (&error);
  g_assert_false (ats_forward_run (model, ids, 0, &opt, NULL, &error));
  g_assert_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT);
}

static gboolean
cancel_at_half (double fraction, gpointer data)
{
  return fraction < 0.5;
}

static void
test_cancel (void)
{
  g_autofree char *dir = fixture_dir ("gpt2");
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  gint32            ids[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  AtsForwardOptions opt = { 0 };
  opt.progress = cancel_at_half;
  g_assert_false (ats_forward_run (model, ids, 8, &opt, NULL, &error));
  g_assert_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CANCELLED);
}

/* Copies fixture @name into a temporary folder with config.json replaced by @config. */
static char *
fixture_with_config (const char *name, const char *config)
{
  g_autofree char *src = fixture_dir (name);
  char            *tmp = g_dir_make_tmp ("ats-model-XXXXXX", NULL);
  g_autofree char *st_src = g_build_filename (src, "model.safetensors", NULL);
  g_autofree char *st_dst = g_build_filename (tmp, "model.safetensors", NULL);
  g_autofree char *contents = NULL;
  gsize            len;
  g_assert_true (g_file_get_contents (st_src, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (st_dst, contents, len, NULL));
  g_autofree char *cfg = g_build_filename (tmp, "config.json", NULL);
  g_assert_true (g_file_set_contents (cfg, config, -1, NULL));
  return tmp;
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *n;
  while (d && (n = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, n, NULL);
      g_remove (p);
    }
  g_rmdir (dir);
}

static void
test_bad_configs (void)
{
  struct
  {
    const char *config;
    GQuark      domain;
    int         code;
    const char *needle;
  } cases[] = {
    { "{\"model_type\": \"bert\"}", ATS_MODEL_ERROR, ATS_MODEL_ERROR_ARCHITECTURE, "bert" },
    { "[1, 2]", ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG, "JSON object" },
    { "{\"model_type\": \"llama\", ", ATS_MODEL_ERROR, ATS_MODEL_ERROR_CONFIG, "malformed JSON" },
    { "{\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 2}", ATS_MODEL_ERROR,
      ATS_MODEL_ERROR_CONFIG, "num_attention_heads" },
    /* shapes that disagree with the tensors: an error naming the tensor and both shapes */
    { "{\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 2, "
      "\"num_attention_heads\": 4, \"num_key_value_heads\": 4, \"intermediate_size\": 64, "
      "\"vocab_size\": 80}",
      ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_SHAPE, "k_proj.weight" },
    /* more layers than the checkpoint holds */
    { "{\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 3, "
      "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 80}",
      ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING, "model.layers.2" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = fixture_with_config ("llama", cases[i].config);
      g_autoptr (GError) error = NULL;
      g_autoptr (AtsModel) model = ats_model_load (dir, &error);
      g_assert_null (model);
      g_assert_error (error, cases[i].domain, cases[i].code);
      g_test_message ("case %u: %s", i, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].needle));
      remove_dir (dir);
    }
}

/* A long context in several row blocks gives exactly the untiled result. */
static void
test_tiled_exact (void)
{
  g_autofree char *dir = fixture_dir ("lazy-hf");
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  g_assert_no_error (error);
  const AtsModelConfig *cfg = ats_model_get_config (model);
  guint                 T = 300, L = cfg->n_layers, H = cfg->n_heads;
  gsize                 n_maps = (gsize) L * H * T * T;
  g_autofree gint32    *ids = g_new (gint32, T);
  for (guint t = 0; t < T; t++)
    ids[t] = (t * 37u + 11u) % cfg->vocab_size;
  float *maps[2];
  float *logits[2];
  guint  blocks[2] = { 0, 48 }; /* whole map vs 7 blocks of 48 rows (the last one partial) */
  for (guint k = 0; k < 2; k++)
    {
      Collector col = { 0 };
      col.L = L;
      col.H = H;
      col.T = T;
      col.attn = g_new0 (float, n_maps);
      col.scores = g_new0 (float, n_maps);
      col.obs.attention = collect_attention;
      AtsObserver      *observers[] = { &col.obs, NULL };
      AtsForwardOptions opt = { 0 };
      opt.n_threads = 2;
      opt.row_block = blocks[k];
      opt.want_logits = TRUE;
      opt.observers = observers;
      g_assert_true (ats_forward_run (model, ids, T, &opt, &logits[k], &error));
      maps[k] = col.attn;
      g_free (col.scores);
    }
  g_assert_cmpmem (maps[0], n_maps * sizeof (float), maps[1], n_maps * sizeof (float));
  g_assert_cmpmem (logits[0], (gsize) T * cfg->vocab_size * sizeof (float), logits[1],
                   (gsize) T * cfg->vocab_size * sizeof (float));
  for (guint k = 0; k < 2; k++)
    {
      g_free (maps[k]);
      g_free (logits[k]);
    }
}

/* Our vectorised exp against libm over the whole useful range (softmax arguments are <= 0). */
static void
test_exp_kernel (void)
{
  guint             n = 200001;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  for (guint i = 0; i < n; i++)
    x[i] = -100.0f + 188.0f * i / (n - 1);
  _ats_exp_shifted (x, 0.0f, y, n);
  double worst = 0;
  for (guint i = 0; i < n; i++)
    {
      double ref = exp ((double) x[i]);
      if (x[i] <= -87.3f)
        g_assert_cmpfloat (y[i], ==, 0.0f);
      else if (ref > 1e-37)
        worst = MAX (worst, fabs (y[i] - ref) / ref);
    }
  g_test_message ("exp kernel: max relative error %.3g", worst);
  g_assert_cmpfloat (worst, <, 3e-7);
  float one = 0.0f, r;
  _ats_exp_shifted (&one, 0.0f, &r, 1);
  g_assert_cmpfloat (r, ==, 1.0f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const char *fixtures[] = {
    "gpt2",    "gpt2-buffers", "gpt2-bf16", "llama",    "llama-sharded", "llama-tied-bf16", "qwen2",
    "mistral", "mistral-f16",  "neox",      "neox-seq", "lazy-fla",      "lazy-hf"
  };
  for (guint i = 0; i < G_N_ELEMENTS (fixtures); i++)
    {
      g_autofree char *path = g_strdup_printf ("/forward/reference/%s", fixtures[i]);
      g_test_add_data_func (path, fixtures[i], check_fixture);
    }
  g_test_add_func ("/forward/bad-ids", test_bad_ids);
  g_test_add_func ("/forward/cancel", test_cancel);
  g_test_add_func ("/forward/tiled-exact", test_tiled_exact);
  g_test_add_func ("/forward/exp-kernel", test_exp_kernel);
  g_test_add_func ("/model/bad-configs", test_bad_configs);
  return g_test_run ();
}
