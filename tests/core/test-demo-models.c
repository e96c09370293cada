/* test-demo-models.c — the shipped trained demo checkpoints against their training script
 *
 * tests/reference/train_demo.py trained data/models/demo-softmax (HF LLaMA layout) and
 * data/models/demo-lazy (Lazy Attention, fla layout) and, on export, ran its own PyTorch
 * forward (float64, on the exported float32 weights) on a fixed prompt:
 * tests/reference/fixtures/demo-prompt.json holds the prompt and its token ids,
 * demo-{softmax,lazy}-expected.safetensors the attention [L, H, T, T], the logits [T, V] and,
 * for Elastic-Softmax, the pre-ReLU values softmax + tau / i.
 *
 * Checked here: the models load with the expected shape and attention kind, the tokenizer
 * encodes the prompt to the fixture's ids, and a capture (HDF5, float32 maps, read back from
 * the file) reproduces the PyTorch attention with max abs error <= 1e-4, with the same exact
 * zeros apart from entries whose pre-ReLU value lies within 1e-6 of the threshold; logits
 * agree to 1e-4 relative to the largest |logit|.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-model.h"
#include "attnscope/ats-safetensors.h"
#include "attnscope/ats-tokenizer.h"

#define ATTN_TOL 1e-4
#define ZERO_TOL 1e-6
#define LOGIT_TOL 1e-4
#define MAX_WEIGHT_BYTES 16000000

static char *source_path (const char *first, ...) G_GNUC_NULL_TERMINATED;

static char *
source_path (const char *first, ...)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  va_list     ap;
  const char *p;

  g_ptr_array_add (parts, (gpointer) g_getenv ("ATS_SOURCE_ROOT"));
  va_start (ap, first);
  for (p = first; p; p = va_arg (ap, const char *))
    g_ptr_array_add (parts, (gpointer) p);
  va_end (ap);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

static char *
model_dir (const char *variant)
{
  g_autofree char *name = g_strdup_printf ("demo-%s", variant);

  return source_path ("data", "models", name, NULL);
}

typedef struct
{
  char   *prompt;
  gint32 *ids;
  guint   n_ids;
} Prompt;

static void
prompt_clear (Prompt *p)
{
  g_free (p->prompt);
  g_free (p->ids);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Prompt, prompt_clear)

static void
read_prompt (Prompt *out)
{
  g_autofree char *path = source_path ("tests", "reference", "fixtures", "demo-prompt.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *root;
  JsonArray  *ids;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  out->prompt = g_strdup (json_object_get_string_member (root, "prompt"));
  ids = json_object_get_array_member (root, "ids");
  out->n_ids = json_array_get_length (ids);
  out->ids = g_new (gint32, out->n_ids);
  for (guint i = 0; i < out->n_ids; i++)
    out->ids[i] = json_array_get_int_element (ids, i);
}

static const float *
expected_tensor (AtsSafetensors *st, const char *name, gint64 numel)
{
  const AtsTensorInfo *t = ats_safetensors_lookup (st, name);

  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, ATS_DTYPE_F32);
  g_assert_cmpint (t->numel, ==, numel);
  return (const float *) t->data;
}

static void
test_load (gconstpointer data)
{
  const char      *variant = data;
  gboolean         lazy = g_str_equal (variant, "lazy");
  g_autofree char *dir = model_dir (variant);
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *card = g_build_filename (dir, "README.md", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  const AtsModelConfig *cfg;
  GStatBuf              sb;

  g_assert_no_error (error);
  cfg = ats_model_get_config (model);
  g_assert_cmpint (cfg->arch, ==, ATS_ARCH_LLAMA);
  g_assert_cmpint (cfg->norm, ==, ATS_NORM_RMS);
  g_assert_cmpint (cfg->attention, ==, lazy ? ATS_ATTENTION_ELASTIC : ATS_ATTENTION_SOFTMAX);
  g_assert_cmpuint (cfg->n_layers, >=, 2);
  g_assert_cmpuint (cfg->n_heads, >=, 2);
  g_assert_cmpfloat (cfg->rope_theta, ==, 10000.0f);
  g_assert_cmpuint (cfg->rotary_dim, ==, cfg->head_dim);
  g_assert_cmpint (cfg->bos_token_id, >=, 0);
  g_assert_false (cfg->tied_lm_head);
  g_assert_cmpint (g_stat (weights, &sb), ==, 0);
  g_assert_cmpint (sb.st_size, <=, MAX_WEIGHT_BYTES);
  g_assert_true (g_file_test (card, G_FILE_TEST_IS_REGULAR));
  if (lazy)
    {
      g_assert_cmpuint (cfg->bias_window, >, 0);
      for (guint l = 0; l < cfg->n_layers; l++)
        {
          g_assert_nonnull (ats_model_get_lazy_tau (model, l));
          g_assert_nonnull (ats_model_get_lazy_bias (model, l));
        }
    }
  else
    g_assert_cmpuint (cfg->bias_window, ==, 0);
}

static void
test_tokenizer (gconstpointer data)
{
  const char      *variant = data;
  g_autofree char *dir = model_dir (variant);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsTokenizer) tok = ats_tokenizer_load_for_model (dir, &error);
  g_autoptr (AtsModel) model = NULL;
  g_autofree gint32 *ids = NULL;
  g_auto (Prompt) prompt = { 0 };
  guint n = 0;

  g_assert_no_error (error);
  read_prompt (&prompt);
  ids = ats_tokenizer_encode (tok, prompt.prompt, ATS_TOKENIZE_DEFAULT, &n, &error);
  g_assert_no_error (error);
  /* BOS from tokenizer_config.json, then the BPE pieces */
  g_assert_cmpmem (ids, n * sizeof (gint32), prompt.ids, prompt.n_ids * sizeof (gint32));
  g_assert_cmpint (ats_tokenizer_get_bos_id (tok), ==, prompt.ids[0]);
  model = ats_model_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ats_model_get_config (model)->bos_token_id, ==, prompt.ids[0]);
  g_assert_cmpuint (ats_tokenizer_get_vocab_size (tok), ==,
                    ats_model_get_config (model)->vocab_size);
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_remove (p);
    }
  g_rmdir (dir);
}

static void
test_capture (gconstpointer data)
{
  const char      *variant = data;
  gboolean         lazy = g_str_equal (variant, "lazy");
  g_autofree char *dir = model_dir (variant);
  g_autofree char *fx_name = g_strdup_printf ("demo-%s-expected.safetensors", variant);
  g_autofree char *fx_path = source_path ("tests", "reference", "fixtures", fx_name, NULL);
  g_autofree char *tmp = g_dir_make_tmp ("ats-demo-XXXXXX", NULL);
  g_autofree char *h5 = g_build_filename (tmp, "capture.h5", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (dir, &error);
  g_autoptr (AtsTokenizer) tok = NULL;
  g_autoptr (AtsSafetensors) fx = NULL;
  g_autoptr (AtsCaptureRun) run = NULL;
  g_autoptr (GPtrArray) pieces = g_ptr_array_new_with_free_func (g_free);
  g_auto (Prompt) prompt = { 0 };
  const AtsModelConfig *cfg;
  const float          *e_attn, *e_logits, *e_pre = NULL;
  AtsCaptureFile       *file;
  AtsCaptureOptions     copts;
  AtsForwardOptions     fopts = { 0 };
  AtsObserver          *observers[2] = { NULL, NULL };
  float                *logits = NULL;
  g_autofree float     *map = NULL;
  guint                 T, L, H, V;
  double                max_abs = 0, lmax = 0, lerr = 0;
  guint                 zero_mismatch = 0, zeros = 0, near = 0;

  g_assert_no_error (error);
  cfg = ats_model_get_config (model);
  L = cfg->n_layers;
  H = cfg->n_heads;
  V = cfg->vocab_size;
  read_prompt (&prompt);
  T = prompt.n_ids;
  fx = ats_safetensors_open (fx_path, &error);
  g_assert_no_error (error);
  e_attn = expected_tensor (fx, "attention", (gint64) L * H * T * T);
  e_logits = expected_tensor (fx, "logits", (gint64) T * V);
  if (lazy)
    e_pre = expected_tensor (fx, "elastic_pre", (gint64) L * H * T * T);

  tok = ats_tokenizer_load_for_model (dir, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < T; i++)
    g_ptr_array_add (pieces, ats_tokenizer_decode_piece (tok, prompt.ids[i]));
  g_ptr_array_add (pieces, NULL);

  /* capture (float32 maps) exactly as the CLI does: one run, capture observer on the pass */
  ats_capture_options_init_default (&copts);
  copts.dtype = ATS_STORE_F32;
  file = ats_capture_file_create (h5, model, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (ats_capture_file_begin_run (
      file, prompt.prompt, prompt.ids, (const char *const *) pieces->pdata, T, &copts, &error));
  g_assert_no_error (error);
  observers[0] = ats_capture_file_get_observer (file);
  fopts.n_threads = 2;
  fopts.want_logits = TRUE;
  fopts.observers = observers;
  g_assert_true (ats_forward_run (model, prompt.ids, T, &fopts, &logits, &error));
  g_assert_no_error (error);
  if (lazy)
    {
      g_assert_true (ats_capture_file_write_run_lazy (file, 0, model, &error));
      g_assert_no_error (error);
    }
  g_assert_true (ats_capture_file_end_run (file, TRUE, &error));
  g_assert_true (ats_capture_file_close (file, &error));
  g_assert_no_error (error);

  /* read the maps back from the file */
  file = ats_capture_file_open (h5, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ats_capture_file_get_model_info (file)->attention, ==, cfg->attention);
  run = ats_capture_file_get_run (file, 0, &error);
  g_assert_no_error (error);
  g_assert_true (run->complete);
  g_assert_cmpuint (run->n_tokens, ==, T);
  g_assert_cmpmem (run->ids, T * sizeof (gint32), prompt.ids, T * sizeof (gint32));
  map = g_new (float, (gsize) T *T);
  for (guint l = 0; l < L; l++)
    for (guint h = 0; h < H; h++)
      {
        gsize base = ((gsize) l * H + h) * T * T;

        g_assert_true (ats_capture_file_read_head (file, 0, l, h, map, &error));
        g_assert_no_error (error);
        for (guint i = 0; i < T; i++)
          for (guint j = 0; j < T; j++)
            {
              gsize  k = (gsize) i * T + j;
              float  got = map[k], want = e_attn[base + k];
              double d = fabs ((double) got - want);

              if (j > i)
                {
                  g_assert_cmpfloat (got, ==, 0.0f);
                  continue;
                }
              max_abs = MAX (max_abs, d);
              if (!lazy)
                continue;
              zeros += want == 0.0f;
              if ((got == 0.0f) != (want == 0.0f))
                {
                  if (fabs (e_pre[base + k]) <= ZERO_TOL)
                    near++;
                  else
                    zero_mismatch++;
                }
            }
      }
  ats_capture_file_close (file, NULL);

  for (gsize i = 0; i < (gsize) T * V; i++)
    lmax = MAX (lmax, fabs (e_logits[i]));
  for (gsize i = 0; i < (gsize) T * V; i++)
    lerr = MAX (lerr, fabs ((double) logits[i] - e_logits[i]) / lmax);
  g_test_message ("demo-%s: %u tokens, attention max abs error %.3g, logits max rel error %.3g",
                  variant, T, max_abs, lerr);
  if (lazy)
    g_test_message ("demo-%s: %u exact zeros expected, %u zero-pattern differences within %.0e "
                    "of the threshold, %u beyond",
                    variant, zeros, near, ZERO_TOL, zero_mismatch);
  g_assert_cmpfloat (max_abs, <=, ATTN_TOL);
  g_assert_cmpuint (zero_mismatch, ==, 0);
  if (lazy)
    g_assert_cmpuint (zeros, >, 0); /* the trained Lazy model really produces exact zeros */
  g_assert_cmpfloat (lerr, <=, LOGIT_TOL);
  g_free (logits);
  remove_tree (tmp);
}

int
main (int argc, char **argv)
{
  static const char *variants[] = { "softmax", "lazy" };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      g_autofree char *p_load = g_strdup_printf ("/demo-models/%s/load", variants[i]);
      g_autofree char *p_tok = g_strdup_printf ("/demo-models/%s/tokenizer", variants[i]);
      g_autofree char *p_cap = g_strdup_printf ("/demo-models/%s/capture", variants[i]);

      g_test_add_data_func (p_load, variants[i], test_load);
      g_test_add_data_func (p_tok, variants[i], test_tokenizer);
      g_test_add_data_func (p_cap, variants[i], test_capture);
    }
  return g_test_run ();
}
