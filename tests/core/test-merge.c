/* test-merge.c — checkpoint merging, the safetensors writer and in-memory merged models
 *
 * - Merges of tests/reference/fixtures/merge (F32, BF16, F16 tensors, two tuned models) against
 *   the independent NumPy/PyTorch reference (tests/reference/merge_ref.py, expected files made
 *   by make_merge_fixtures.py): F32 within 1 ulp, BF16/F16 bit-identical.
 * - Merged folders of real fixtures load with ats_model_load(); linear merges at alpha 0 and 1
 *   reproduce the base and tuned forward passes bit for bit (attention maps and logits), and
 *   in-memory merged models equal the models loaded from merged folders.
 * - The writer: sharding with an index, chunks spanning tensors, temporary folders removed,
 *   existing outputs kept without force.
 * - Bad inputs: mismatched shapes, dtypes, tensor sets and architectures name the tensor/key;
 *   unwritable and existing outputs fail cleanly and leave nothing behind.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-forward.h"
#include "attnscope/ats-merge.h"
#include "attnscope/ats-model.h"
#include "attnscope/ats-safetensors-writer.h"
#include "attnscope/ats-sweep.h"
#include "attnscope/ats-weight-diff.h"

static char *
fixture_dir (const char *name)
{
  return g_build_filename (g_getenv ("ATS_SOURCE_ROOT"), "tests", "reference", "fixtures", name,
                           NULL);
}

static char *
make_tmp (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("ats-merge-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;

  if (d != NULL)
    {
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *p = g_build_filename (path, name, NULL);

          if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
            rm_rf (p);
          else
            g_unlink (p);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* Number of entries of @dir whose name contains @part. */
static guint
count_entries (const char *dir, const char *part)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint       n = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    n += strstr (name, part) != NULL;
  return n;
}

static guint32
f32_bits (float f)
{
  guint32 u;

  memcpy (&u, &f, 4);
  return u;
}

/* Distance in units in the last place between two finite floats. */
static guint64
ulp_distance (float a, float b)
{
  gint64 ia = f32_bits (a), ib = f32_bits (b);

  if (ia & 0x80000000)
    ia = 0x80000000 - ia;
  if (ib & 0x80000000)
    ib = 0x80000000 - ib;
  return (guint64) (ia > ib ? ia - ib : ib - ia);
}

/* --- writing test checkpoints ------------------------------------------------------------- */

typedef float (*Perturb) (const char *name, gsize i, float v, gpointer data);

/* Copies checkpoint @src into @dst (tensors in name order) with every value passed through
 * @perturb and rounded back to the tensor's dtype; config.json is copied. */
static void
write_variant (const char *src, const char *dst, Perturb perturb, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = ats_checkpoint_open (src, &error);
  g_autoptr (AtsSafetensorsWriter) w = NULL;
  const char *const *names;
  g_autofree char   *cfg = g_build_filename (src, "config.json", NULL);

  g_assert_no_error (error);
  w = ats_safetensors_writer_new (dst, ATS_SAFETENSORS_WRITER_NONE, &error);
  g_assert_no_error (error);
  names = ats_checkpoint_get_tensor_names (ck);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const AtsTensorInfo *t = ats_checkpoint_lookup (ck, names[i]);

      g_assert_true (
          ats_safetensors_writer_add_tensor (w, t->name, t->dtype, t->n_dims, t->shape, &error));
    }
  g_assert_true (ats_safetensors_writer_begin (w, &error));
  for (guint i = 0; names[i] != NULL; i++)
    {
      const AtsTensorInfo *t = ats_checkpoint_lookup (ck, names[i]);
      g_autofree float    *v = g_new (float, MAX (t->numel, 1));
      g_autofree guint8   *raw = g_new (guint8, MAX (t->n_bytes, 1));

      ats_convert_to_f32 (t->dtype, t->data, t->numel, v);
      for (gsize k = 0; k < (gsize) t->numel; k++)
        {
          float   f = perturb ? perturb (t->name, k, v[k], data) : v[k];
          guint16 h;

          if (t->dtype == ATS_DTYPE_F32)
            memcpy (raw + 4 * k, &f, 4);
          else
            {
              h = t->dtype == ATS_DTYPE_BF16 ? ats_f32_to_bf16 (f) : ats_f32_to_f16 (f);
              memcpy (raw + 2 * k, &h, 2);
            }
        }
      g_assert_true (ats_safetensors_writer_write (w, raw, t->n_bytes, &error));
    }
  if (g_file_test (cfg, G_FILE_TEST_EXISTS))
    g_assert_true (ats_safetensors_writer_copy_file (w, cfg, "config.json", &error));
  g_assert_true (ats_safetensors_writer_finish (w, &error));
  g_assert_no_error (error);
}

/* Deterministic relative noise of about 2 %, different per tensor and element. */
static float
perturb_noise (const char *name, gsize i, float v, gpointer data)
{
  guint32 h = g_str_hash (name) ^ (guint32) (i * 2654435761u) ^ GPOINTER_TO_UINT (data);

  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return v * (1.0f + 0.04f * ((h & 0xffff) / 65535.0f - 0.5f)) + 0.001f;
}

/* --- reference merges ----------------------------------------------------------------------- */

static void
test_reference (void)
{
  g_autofree char *root = fixture_dir ("merge");
  g_autofree char *recipes_path = g_build_filename (root, "recipes.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = make_tmp ();
  JsonArray       *recipes;
  guint            n_f32 = 0, n_16 = 0;
  guint64          worst_ulp = 0;

  g_assert_true (json_parser_load_from_file (parser, recipes_path, &error));
  recipes = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "recipes");
  g_assert_cmpuint (json_array_get_length (recipes), >=, 6);

  for (guint r = 0; r < json_array_get_length (recipes); r++)
    {
      JsonObject      *rec = json_array_get_object_element (recipes, r);
      const char      *rname = json_object_get_string_member (rec, "name");
      JsonArray       *tuned_a = json_object_get_array_member (rec, "tuned");
      g_autofree char *base = g_build_filename (root, "base", NULL);
      g_autoptr (GPtrArray) tuned = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *out = g_build_filename (tmp, rname, NULL);
      g_autofree char *exp_path =
          g_build_filename (root, json_object_get_string_member (rec, "expected"), NULL);
      AtsMergeParams params;
      g_autoptr (AtsMerge) merge = NULL;
      g_autoptr (AtsCheckpoint) got = NULL;
      g_autoptr (AtsSafetensors) exp = NULL;
      GHashTable *meta;

      for (guint k = 0; k < json_array_get_length (tuned_a); k++)
        g_ptr_array_add (tuned,
                         g_build_filename (root, json_array_get_string_element (tuned_a, k), NULL));
      g_ptr_array_add (tuned, NULL);
      ats_merge_params_init_default (&params);
      g_assert_true (ats_merge_method_from_string (json_object_get_string_member (rec, "method"),
                                                   &params.method));
      params.alpha = json_object_get_double_member (rec, "alpha");
      params.lambda = json_object_get_double_member (rec, "lambda");
      params.density = json_object_get_double_member (rec, "density");
      params.only = json_object_get_null_member (rec, "only")
                        ? NULL
                        : json_object_get_string_member (rec, "only");

      merge = ats_merge_new (base, (const char *const *) tuned->pdata, &error);
      g_assert_no_error (error);
      g_assert_true (ats_merge_write (merge, &params, out, NULL, &error));
      g_assert_no_error (error);

      got = ats_checkpoint_open (out, &error);
      g_assert_no_error (error);
      exp = ats_safetensors_open (exp_path, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ats_checkpoint_get_n_tensors (got), ==,
                        ats_safetensors_get_n_tensors (exp));
      meta = ats_safetensors_get_metadata (ats_checkpoint_get_shard (got, 0));
      g_assert_nonnull (g_hash_table_lookup (meta, "attnscope_merge"));
      g_assert_nonnull (strstr (g_hash_table_lookup (meta, "attnscope_merge"),
                                ats_merge_method_to_string (params.method)));

      for (guint i = 0; i < ats_safetensors_get_n_tensors (exp); i++)
        {
          const AtsTensorInfo *e = ats_safetensors_get_tensor (exp, i);
          const AtsTensorInfo *g = ats_checkpoint_lookup (got, e->name);
          g_autofree float    *mem = NULL;
          g_autofree float    *ef = g_new (float, MAX (e->numel, 1));
          gsize                n_mem = 0;

          g_assert_nonnull (g);
          g_assert_cmpint (g->dtype, ==, e->dtype);
          g_assert_cmpint (g->numel, ==, e->numel);
          g_assert_cmpuint (g->n_dims, ==, e->n_dims);
          if (e->dtype == ATS_DTYPE_F32)
            {
              for (gsize k = 0; k < (gsize) e->numel; k++)
                {
                  float a, b;

                  memcpy (&a, g->data + 4 * k, 4);
                  memcpy (&b, e->data + 4 * k, 4);
                  worst_ulp = MAX (worst_ulp, ulp_distance (a, b));
                  if (ulp_distance (a, b) > 1)
                    g_error ("%s: tensor %s[%" G_GSIZE_FORMAT "] = %.9g, reference %.9g", rname,
                             e->name, k, a, b);
                }
              n_f32++;
            }
          else
            {
              if (memcmp (g->data, e->data, e->n_bytes) != 0)
                g_error ("%s: %s tensor %s differs from the reference", rname,
                         ats_dtype_to_string (e->dtype), e->name);
              n_16++;
            }
          /* the in-memory path gives the same values */
          mem = ats_merge_compute_f32 (merge, &params, e->name, &n_mem, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (n_mem, ==, (gsize) e->numel);
          ats_convert_to_f32 (g->dtype, g->data, g->numel, ef);
          g_assert_cmpmem (mem, n_mem * 4, ef, n_mem * 4);
        }
    }
  g_test_message ("%u F32 and %u 16-bit tensor comparisons; worst F32 distance %" G_GUINT64_FORMAT
                  " ulp",
                  n_f32, n_16, worst_ulp);
  g_assert_cmpuint (n_f32, >, 0);
  g_assert_cmpuint (n_16, >, 0);
  rm_rf (tmp);
}

static void
write_floats (const char *dir, const float *v, gint64 n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensorsWriter) w =
      ats_safetensors_writer_new (dir, ATS_SAFETENSORS_WRITER_NONE, &error);

  g_assert_true (ats_safetensors_writer_add_tensor (w, "w", ATS_DTYPE_F32, 1, &n, &error));
  g_assert_true (ats_safetensors_writer_begin (w, &error));
  g_assert_true (ats_safetensors_writer_write (w, v, n * sizeof (float), &error));
  g_assert_true (ats_safetensors_writer_finish (w, &error));
}

/* TIES ranks magnitudes in float64 even where they round to the same float32: |1 - 2^-30| and
 * |1 - 0| are both 1.0f, but only the second is the largest. Equal magnitudes go to the lower
 * index. */
static void
test_ties_precision (void)
{
  g_autofree char *tmp = make_tmp ();
  g_autofree char *b = g_build_filename (tmp, "b", NULL);
  g_autofree char *t = g_build_filename (tmp, "t", NULL);
  const char      *tl[] = { t, NULL };
  float            base[6] = { 0x1p-30f, 0, 0, 0, 0, 0 };           /* [6] */
  float            tuned[6] = { 1.0f, 1.0f, 0.5f, -0.5f, 0.5f, 0 }; /* [6] */
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = NULL;
  g_autofree float *out = NULL;
  AtsMergeParams    p;

  write_floats (b, base, 6);
  write_floats (t, tuned, 6);
  merge = ats_merge_new (b, tl, &error);
  g_assert_no_error (error);
  ats_merge_params_init_default (&p);
  p.method = ATS_MERGE_TIES;
  p.density = 1.0 / 6.0; /* keeps 1 */
  out = ats_merge_compute_f32 (merge, &p, "w", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (out[0], ==, 0x1p-30f);
  g_assert_cmpfloat (out[1], ==, 1.0f);
  g_assert_cmpfloat (out[2], ==, 0.0f);
  g_clear_pointer (&out, g_free);
  p.density = 0.5; /* keeps 3: indices 1, 0, then the first of the three 0.5 magnitudes */
  out = ats_merge_compute_f32 (merge, &p, "w", NULL, &error);
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_assert_cmpfloat (out[1], ==, 1.0f);
  g_assert_cmpfloat (out[2], ==, 0.5f);
  g_assert_cmpfloat (out[3], ==, 0.0f);
  g_assert_cmpfloat (out[4], ==, 0.0f);
  rm_rf (tmp);
}

/* The selection filter and the classification of names of every family. */
static void
test_classify (void)
{
  static const struct
  {
    const char   *name;
    AtsTensorKind kind;
    int           layer;
  } cases[] = {
    { "wte.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
    { "transformer.wpe.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
    { "h.3.attn.c_attn.weight", ATS_TENSOR_KIND_QKV, 3 },
    { "h.3.attn.c_attn.bias", ATS_TENSOR_KIND_QKV, 3 },
    { "h.0.attn.c_proj.weight", ATS_TENSOR_KIND_O, 0 },
    { "h.0.mlp.c_proj.weight", ATS_TENSOR_KIND_DOWN, 0 },
    { "h.0.mlp.c_fc.bias", ATS_TENSOR_KIND_UP, 0 },
    { "h.1.ln_1.weight", ATS_TENSOR_KIND_NORM, 1 },
    { "ln_f.bias", ATS_TENSOR_KIND_NORM, -1 },
    { "h.1.attn.bias", ATS_TENSOR_KIND_OTHER, 1 },
    { "h.1.attn.masked_bias", ATS_TENSOR_KIND_OTHER, 1 },
    { "model.embed_tokens.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
    { "model.layers.12.self_attn.q_proj.weight", ATS_TENSOR_KIND_Q, 12 },
    { "model.layers.12.self_attn.k_proj.bias", ATS_TENSOR_KIND_K, 12 },
    { "model.layers.12.self_attn.v_proj.weight", ATS_TENSOR_KIND_V, 12 },
    { "model.layers.12.self_attn.o_proj.weight", ATS_TENSOR_KIND_O, 12 },
    { "model.layers.2.mlp.gate_proj.weight", ATS_TENSOR_KIND_GATE, 2 },
    { "model.layers.2.mlp.up_proj.weight", ATS_TENSOR_KIND_UP, 2 },
    { "model.layers.2.mlp.down_proj.weight", ATS_TENSOR_KIND_DOWN, 2 },
    { "model.layers.2.input_layernorm.weight", ATS_TENSOR_KIND_NORM, 2 },
    { "model.layers.2.post_attention_layernorm.weight", ATS_TENSOR_KIND_NORM, 2 },
    { "model.layers.2.self_attn.tau", ATS_TENSOR_KIND_LAZY, 2 },
    { "model.layers.2.self_attn.attention_biases", ATS_TENSOR_KIND_LAZY, 2 },
    { "model.norm.weight", ATS_TENSOR_KIND_NORM, -1 },
    { "lm_head.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
    { "model.embeddings.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
    { "model.layers.0.attn_norm.weight", ATS_TENSOR_KIND_NORM, 0 },
    { "model.layers.0.attn.q_proj.weight", ATS_TENSOR_KIND_Q, 0 },
    { "model.layers.0.attn.bias", ATS_TENSOR_KIND_LAZY, 0 },
    { "model.layers.0.attn.tau", ATS_TENSOR_KIND_LAZY, 0 },
    { "model.layers.0.mlp_norm.weight", ATS_TENSOR_KIND_NORM, 0 },
    { "gpt_neox.embed_in.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
    { "gpt_neox.layers.5.attention.query_key_value.weight", ATS_TENSOR_KIND_QKV, 5 },
    { "gpt_neox.layers.5.attention.dense.bias", ATS_TENSOR_KIND_O, 5 },
    { "gpt_neox.layers.5.mlp.dense_h_to_4h.weight", ATS_TENSOR_KIND_UP, 5 },
    { "gpt_neox.layers.5.mlp.dense_4h_to_h.weight", ATS_TENSOR_KIND_DOWN, 5 },
    { "gpt_neox.layers.5.input_layernorm.bias", ATS_TENSOR_KIND_NORM, 5 },
    { "gpt_neox.layers.5.attention.rotary_emb.inv_freq", ATS_TENSOR_KIND_OTHER, 5 },
    { "gpt_neox.final_layer_norm.weight", ATS_TENSOR_KIND_NORM, -1 },
    { "embed_out.weight", ATS_TENSOR_KIND_EMBEDDING, -1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      int           layer = -7;
      AtsTensorKind kind = ats_tensor_kind_classify (cases[i].name, &layer);

      if (kind != cases[i].kind || layer != cases[i].layer)
        g_error ("%s: classified %s layer %d, expected %s layer %d", cases[i].name,
                 ats_tensor_kind_to_string (kind), layer, ats_tensor_kind_to_string (cases[i].kind),
                 cases[i].layer);
    }
  g_assert_cmpint (ats_tensor_kind_get_group (ATS_TENSOR_KIND_QKV), ==, ATS_TENSOR_GROUP_ATTENTION);
  g_assert_cmpint (ats_tensor_kind_get_group (ATS_TENSOR_KIND_OTHER), ==, 0);
}

static void
test_filter (void)
{
  g_autofree char *dir = fixture_dir ("llama");
  const char      *tuned[] = { dir, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = ats_merge_new (dir, tuned, &error);
  AtsMergeParams params;

  g_assert_no_error (error);
  ats_merge_params_init_default (&params);
  g_assert_cmpuint (ats_merge_count_selected (merge, &params), ==, 21);
  params.only = "attention";
  g_assert_true (ats_merge_check_params (merge, &params, &error));
  g_assert_cmpuint (ats_merge_count_selected (merge, &params), ==, 8); /* 2 x q k v o */
  g_assert_true (ats_merge_selects (merge, &params, "model.layers.1.self_attn.o_proj.weight"));
  g_assert_false (ats_merge_selects (merge, &params, "model.layers.1.mlp.up_proj.weight"));
  params.only = "mlp, norms";
  g_assert_true (ats_merge_check_params (merge, &params, &error));
  g_assert_cmpuint (ats_merge_count_selected (merge, &params), ==, 6 + 5);
  params.only = "embeddings";
  g_assert_cmpuint (ats_merge_count_selected (merge, &params), ==, 2);
  params.only = "layers\\.1\\..*_proj";
  g_assert_true (ats_merge_check_params (merge, &params, &error));
  g_assert_cmpuint (ats_merge_count_selected (merge, &params), ==, 7);
  params.only = "layers.(";
  g_assert_false (ats_merge_check_params (merge, &params, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "layers.("));
}

/* The weight diff against the NumPy reference (expected/diff-base-tuned1.json), and against
 * itself (all deltas zero). */
static void
test_diff (void)
{
  g_autofree char *root = fixture_dir ("merge");
  g_autofree char *base = g_build_filename (root, "base", NULL);
  g_autofree char *tuned = g_build_filename (root, "tuned1", NULL);
  g_autofree char *exp_path = g_build_filename (root, "expected", "diff-base-tuned1.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsWeightDiff) diff = ats_weight_diff_compute (base, tuned, NULL, NULL, &error);
  g_autoptr (AtsWeightDiff) self_diff = ats_weight_diff_compute (base, base, NULL, NULL, &error);
  JsonArray *rows;
  guint      matched = 0;

  g_assert_no_error (error);
  g_assert_true (json_parser_load_from_file (parser, exp_path, &error));
  rows = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (diff->n_rows, ==, json_array_get_length (rows));
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *e = json_array_get_object_element (rows, i);

      for (guint r = 0; r < diff->n_rows; r++)
        {
          const AtsWeightDiffRow *g = &diff->rows[r];

          if (g->layer != json_object_get_int_member (e, "layer") ||
              !g_str_equal (ats_tensor_kind_to_string (g->kind),
                            json_object_get_string_member (e, "kind")))
            continue;
          g_assert_cmpuint (g->n_params, ==, json_object_get_int_member (e, "n_params"));
          g_assert_cmpfloat_with_epsilon (g->delta_l2,
                                          json_object_get_double_member (e, "delta_l2"),
                                          1e-12 * g->delta_l2 + 1e-15);
          g_assert_cmpfloat_with_epsilon (g->relative,
                                          json_object_get_double_member (e, "relative"), 1e-12);
          g_assert_cmpfloat_with_epsilon (
              g->cos_other_base, json_object_get_double_member (e, "cos_other_base"), 1e-12);
          g_assert_cmpfloat_with_epsilon (
              g->cos_delta_base, json_object_get_double_member (e, "cos_delta_base"), 1e-12);
          matched++;
        }
    }
  g_assert_cmpuint (matched, ==, diff->n_rows);

  for (guint r = 0; r < self_diff->n_rows; r++)
    {
      g_assert_cmpfloat (self_diff->rows[r].delta_l2, ==, 0.0);
      g_assert_true (isnan (self_diff->rows[r].cos_delta_base));
    }
  {
    g_autofree float *m = ats_weight_diff_get_layer_matrix (diff, ATS_WEIGHT_DIFF_RELATIVE);
    g_autoptr (GString) csv = ats_weight_diff_format (diff, TRUE);

    g_assert_cmpuint (diff->n_layers, ==, 1);
    g_assert_false (isnan (m[ATS_TENSOR_KIND_Q]));
    g_assert_true (isnan (m[ATS_TENSOR_KIND_QKV]));
    g_assert_true (g_str_has_prefix (csv->str, "layer,kind,"));
    g_assert_nonnull (strstr (csv->str, "\n0,v,1,128,"));
  }
}

static char *
write_tmp (const char *dir, const char *name, const char *contents)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  g_assert_no_error (error);
  return path;
}

static void
assert_csv_error (const char *dir, const char *name, const char *contents, const char *needle)
{
  g_autofree char *path = write_tmp (dir, name, contents);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsWeightDiff) diff = ats_weight_diff_load_csv (path, &error);

  g_assert_null (diff);
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, name));
  if (strstr (error->message, needle) == NULL)
    g_error ("“%s” does not contain “%s”", error->message, needle);
  g_unlink (path);
}

/* ats_weight_diff_load_csv() reads ats_weight_diff_format (diff, TRUE) back */
static void
test_diff_csv (void)
{
  g_autofree char *root = fixture_dir ("merge");
  g_autofree char *base = g_build_filename (root, "base", NULL);
  g_autofree char *tuned = g_build_filename (root, "tuned1", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsWeightDiff) diff = ats_weight_diff_compute (base, tuned, NULL, NULL, &error);
  g_autoptr (AtsWeightDiff) loaded = NULL;
  g_autoptr (GString) csv = NULL;
  g_autoptr (GString) again = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *crlf = NULL;
  g_autofree char *bad = NULL;
  const char      *header =
      "layer,kind,n_tensors,n_params,delta_l2,base_l2,relative,cos_other_base,cos_delta_base\n";
  const AtsWeightDiffMetric metrics[] = { ATS_WEIGHT_DIFF_DELTA_L2, ATS_WEIGHT_DIFF_RELATIVE,
                                          ATS_WEIGHT_DIFF_COS_OTHER_BASE,
                                          ATS_WEIGHT_DIFF_COS_DELTA_BASE };
  gboolean                  outside = FALSE;

  g_assert_no_error (error);
  g_assert_nonnull (diff);
  dir = g_dir_make_tmp ("attnscope-diff-csv-XXXXXX", &error);
  g_assert_no_error (error);
  csv = ats_weight_diff_format (diff, TRUE);
  path = write_tmp (dir, "diff.csv", csv->str);
  loaded = ats_weight_diff_load_csv (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);

  /* the same rows, the same matrices */
  g_assert_cmpuint (loaded->n_layers, ==, diff->n_layers);
  g_assert_cmpuint (loaded->n_rows, ==, diff->n_rows);
  for (guint i = 0; i < diff->n_rows; i++)
    {
      const AtsWeightDiffRow *a = &diff->rows[i], *b = &loaded->rows[i];

      outside |= a->layer < 0;
      g_assert_cmpint (b->layer, ==, a->layer);
      g_assert_cmpint (b->kind, ==, a->kind);
      g_assert_cmpuint (b->n_tensors, ==, a->n_tensors);
      g_assert_cmpuint (b->n_params, ==, a->n_params);
      g_assert_cmpfloat_with_epsilon (b->delta_sq, a->delta_sq, 1e-7 * a->delta_sq + 1e-300);
      g_assert_cmpfloat_with_epsilon (b->base_sq, a->base_sq, 1e-7 * a->base_sq + 1e-300);
      if (!isnan (a->cos_delta_base))
        {
          g_assert_cmpfloat_with_epsilon (b->other_sq, a->other_sq, 1e-6 * a->other_sq);
          g_assert_cmpfloat_with_epsilon (b->dot_base_other, a->dot_base_other,
                                          1e-6 * fabs (a->base_sq));
        }
    }
  g_assert_true (outside); /* layer -1 rows round trip too */
  for (guint m = 0; m < G_N_ELEMENTS (metrics); m++)
    {
      g_autofree float *want = ats_weight_diff_get_layer_matrix (diff, metrics[m]);
      g_autofree float *got = ats_weight_diff_get_layer_matrix (loaded, metrics[m]);

      for (gsize i = 0; i < (gsize) diff->n_layers * ATS_TENSOR_KIND_N; i++)
        {
          if (isnan (want[i]))
            g_assert_true (isnan (got[i]));
          else /* %.9g keeps a float exactly, up to double rounding of the double behind it */
            g_assert_cmpfloat_with_epsilon (got[i], want[i], 2e-7f * fabsf (want[i]));
        }
    }
  /* and it formats to the same text */
  again = ats_weight_diff_format (loaded, TRUE);
  g_assert_cmpstr (again->str, ==, csv->str);

  /* CRLF line ends */
  {
    g_autofree char *text = NULL;
    g_auto (GStrv) parts = g_strsplit (csv->str, "\n", -1);
    g_autoptr (AtsWeightDiff) d = NULL;

    text = g_strjoinv ("\r\n", parts);
    crlf = write_tmp (dir, "crlf.csv", text);
    d = ats_weight_diff_load_csv (crlf, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (d->n_rows, ==, diff->n_rows);
    g_unlink (crlf);
  }

  /* malformed files: errors naming the file and line */
  assert_csv_error (dir, "empty.csv", "", "empty file");
  assert_csv_error (dir, "header.csv", "layer,kind,delta\n0,q,1,2,3,4,5,6,7\n", ":1: not a weight");
  {
    g_autofree char *text =
        g_strconcat (header, "-1,embeddings,1,64,1,2,0.5,0.9,0.1\n", "0,q,1,16,0.5,2\n", NULL);

    assert_csv_error (dir, "columns.csv", text, ":3: 6 columns, expected 9");
  }
  {
    g_autofree char *text =
        g_strconcat (header, "0,q,1,16,0.5,2,0.25,0.9,0.1\n", "0,k,1,16,0.5,2,abc,0.9,0.1\n", NULL);

    assert_csv_error (dir, "number.csv", text, ":3: bad number “abc” in column relative");
  }
  {
    g_autofree char *text = g_strconcat (header, "x,q,1,16,0.5,2,0.25,0.9,0.1\n", NULL);

    assert_csv_error (dir, "layer.csv", text, ":2: bad layer “x”");
  }
  {
    g_autofree char *text = g_strconcat (header, "0,query,1,16,0.5,2,0.25,0.9,0.1\n", NULL);

    assert_csv_error (dir, "kind.csv", text, ":2: unknown tensor kind “query”");
  }
  {
    g_autofree char *text = g_strconcat (header, "0,q,1,16,0.5,2,0.25,0.9,0.1\n\n",
                                         "0,q,1,16,0.5,2,0.25,0.9,0.1\n", NULL);

    assert_csv_error (dir, "twice.csv", text, ":4: a second row for layer 0, kind q");
  }

  /* an unreadable file: the file error */
  bad = g_build_filename (dir, "missing.csv", NULL);
  g_assert_null (ats_weight_diff_load_csv (bad, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  g_unlink (path);
  g_rmdir (dir);
}

/* --- merged models in the forward pass ------------------------------------------------------ */

typedef struct
{
  AtsObserver obs;
  guint       H, T;
  float      *attn; /* [L, H, T, T] */
} Collector;

static gboolean
collect (AtsObserver *o, const AtsAttentionBlock *b, GError **error)
{
  Collector *c = (Collector *) o;

  if (b->pass != 0)
    return TRUE;
  for (guint r = 0; r < b->n_rows; r++)
    memcpy (c->attn + (((gsize) b->layer * c->H + b->head) * c->T + b->row_start + r) * c->T,
            b->probs + (gsize) r * c->T, c->T * sizeof (float));
  return TRUE;
}

typedef struct
{
  float *attn;   /* [L, H, T, T] */
  float *logits; /* [T, V] */
  gsize  n_attn, n_logits;
} Outputs;

static void
outputs_clear (Outputs *o)
{
  g_free (o->attn);
  g_free (o->logits);
}

static Outputs
run_model (AtsModel *model)
{
  const AtsModelConfig *c = ats_model_get_config (model);
  guint                 T = 12;
  gint32                ids[12];
  Collector             col = { 0 };
  AtsObserver          *observers[] = { &col.obs, NULL };
  AtsForwardOptions     opt = { 0 };
  Outputs               out = { 0 };
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < T; i++)
    ids[i] = (gint32) ((i * 7 + 3) % c->vocab_size);
  col.H = c->n_heads;
  col.T = T;
  out.n_attn = (gsize) c->n_layers * c->n_heads * T * T;
  out.n_logits = (gsize) T * c->vocab_size;
  col.attn = g_new0 (float, out.n_attn);
  col.obs.attention = collect;
  opt.n_threads = 1;
  opt.want_logits = TRUE;
  opt.observers = observers;
  g_assert_true (ats_forward_run (model, ids, T, &opt, &out.logits, &error));
  g_assert_no_error (error);
  out.attn = col.attn;
  return out;
}

static void
assert_same_outputs (const Outputs *a, const Outputs *b, const char *what)
{
  g_assert_cmpuint (a->n_attn, ==, b->n_attn);
  if (memcmp (a->attn, b->attn, a->n_attn * 4) != 0)
    g_error ("%s: attention maps differ", what);
  if (memcmp (a->logits, b->logits, a->n_logits * 4) != 0)
    g_error ("%s: logits differ", what);
}

static Outputs
run_dir (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) m = ats_model_load (dir, &error);

  g_assert_no_error (error);
  return run_model (m);
}

static void
merge_to (AtsMerge *merge, const AtsMergeParams *params, const char *out)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (ats_merge_write (merge, params, out, NULL, &error));
  g_assert_no_error (error);
}

static void
test_forward (gconstpointer data)
{
  const char      *fixture = data;
  g_autofree char *base = fixture_dir (fixture);
  g_autofree char *tmp = make_tmp ();
  g_autofree char *tuned = g_build_filename (tmp, "tuned", NULL);
  g_autofree char *tuned2 = g_build_filename (tmp, "tuned2", NULL);
  g_autofree char *m0 = g_build_filename (tmp, "alpha0", NULL);
  g_autofree char *m1 = g_build_filename (tmp, "alpha1", NULL);
  g_autofree char *mh = g_build_filename (tmp, "alpha-0.37", NULL);
  g_autofree char *mt = g_build_filename (tmp, "ties", NULL);
  const char      *tuned_list[] = { tuned, NULL };
  const char      *tuned_pair[] = { tuned, tuned2, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = NULL;
  g_autoptr (AtsMerge) merge2 = NULL;
  AtsMergeParams params;
  Outputs        ob, ot, o0, o1, oh, omem, oties, omem_ties;

  write_variant (base, tuned, perturb_noise, GUINT_TO_POINTER (1));
  write_variant (base, tuned2, perturb_noise, GUINT_TO_POINTER (2));
  merge = ats_merge_new (base, tuned_list, &error);
  g_assert_no_error (error);
  ats_merge_params_init_default (&params);

  ob = run_dir (base);
  ot = run_dir (tuned);
  params.alpha = 0.0;
  merge_to (merge, &params, m0);
  params.alpha = 1.0;
  merge_to (merge, &params, m1);
  o0 = run_dir (m0);
  o1 = run_dir (m1);
  assert_same_outputs (&o0, &ob, "alpha 0 vs base");
  assert_same_outputs (&o1, &ot, "alpha 1 vs tuned");
  /* the tuned model really differs (the test could fail) */
  g_assert_true (memcmp (ob.logits, ot.logits, ob.n_logits * 4) != 0);

  /* in memory == loaded from the merged folder */
  params.alpha = 0.37;
  merge_to (merge, &params, mh);
  oh = run_dir (mh);
  {
    g_autoptr (AtsModel) mem = ats_merge_build_model (merge, &params, &error);

    g_assert_no_error (error);
    omem = run_model (mem);
    assert_same_outputs (&omem, &oh, "in-memory linear 0.37 vs folder");
  }
  {
    params.alpha = 0.0;
    g_autoptr (AtsModel) mem0 = ats_merge_build_model (merge, &params, &error);
    Outputs o = run_model (mem0);

    assert_same_outputs (&o, &ob, "in-memory alpha 0 vs base");
    outputs_clear (&o);
  }

  merge2 = ats_merge_new (base, tuned_pair, &error);
  g_assert_no_error (error);
  params.method = ATS_MERGE_TIES;
  params.density = 0.4;
  params.lambda = 0.9;
  params.only = "attention,mlp";
  merge_to (merge2, &params, mt);
  oties = run_dir (mt);
  {
    g_autoptr (AtsModel) mem = ats_merge_build_model (merge2, &params, &error);

    g_assert_no_error (error);
    omem_ties = run_model (mem);
    assert_same_outputs (&omem_ties, &oties, "in-memory ties vs folder");
  }

  outputs_clear (&ob);
  outputs_clear (&ot);
  outputs_clear (&o0);
  outputs_clear (&o1);
  outputs_clear (&oh);
  outputs_clear (&omem);
  outputs_clear (&oties);
  outputs_clear (&omem_ties);
  rm_rf (tmp);
}

/* A two-step sweep written the way `attnscope-cli sweep` does it: the runs through the capture
 * API, then /sweep; read back, and the alpha 0 step's diagnostics equal the base model's. */
static void
test_sweep_file (void)
{
  g_autofree char *base = fixture_dir ("llama");
  g_autofree char *tmp = make_tmp ();
  g_autofree char *tuned = g_build_filename (tmp, "tuned", NULL);
  g_autofree char *path = g_build_filename (tmp, "sweep.h5", NULL);
  const char      *tuned_list[] = { tuned, NULL };
  char            *tuned_strv[] = { tuned, NULL };
  double           values[2] = { 0.0, 1.0 };    /* [S] */
  gint32           runs[2] = { 0, 1 };          /* [S, P] with P = 1 */
  AtsDiagResults  *results[2] = { NULL, NULL }; /* [S * P] */
  gint32           ids[10] = { 1, 5, 9, 2, 7, 3, 11, 4, 8, 6 };
  const char      *pieces[11] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = NULL;
  g_autoptr (AtsModel) base_model = ats_model_load (base, &error);
  g_autoptr (AtsSweepInfo) back = NULL;
  g_autoptr (AtsDiagResults) base_res = NULL;
  AtsCaptureFile   *file;
  AtsCaptureOptions copts;
  AtsDiagParams     dparams;
  AtsMergeParams    params;
  AtsSweepInfo      info = { 0 };

  g_assert_no_error (error);
  write_variant (base, tuned, perturb_noise, GUINT_TO_POINTER (3));
  merge = ats_merge_new (base, tuned_list, &error);
  g_assert_no_error (error);
  ats_merge_params_init_default (&params);
  ats_capture_options_init_default (&copts);
  copts.store_maps = FALSE;
  ats_diag_params_init_default (&dparams);
  file = ats_capture_file_create (path, base_model, FALSE, &error);
  g_assert_no_error (error);
  for (guint s = 0; s < 3; s++)
    {
      g_autoptr (AtsModel) m = NULL;
      g_autoptr (AtsDiagnostics) diag = ats_diagnostics_new (2, 4, 10, &dparams);
      AtsObserver      *observers[] = { ats_diagnostics_get_observer (diag), NULL, NULL };
      AtsForwardOptions fopts = { 0 };

      params.alpha = s < 2 ? values[s] : 0.0;
      m = s < 2 ? ats_merge_build_model (merge, &params, &error) : ats_model_ref (base_model);
      g_assert_no_error (error);
      fopts.n_threads = 1;
      fopts.observers = observers;
      if (s < 2)
        {
          observers[1] = ats_capture_file_get_observer (file);
          g_assert_true (ats_capture_file_begin_run (file, "p", ids, pieces, 10, &copts, &error));
        }
      g_assert_true (ats_forward_run (m, ids, 10, &fopts, NULL, &error));
      if (s < 2)
        {
          results[s] = ats_diagnostics_finish (diag, &error);
          g_assert_true (ats_capture_file_write_run_metrics (file, s, results[s], &error));
          g_assert_true (ats_capture_file_end_run (file, TRUE, &error));
        }
      else
        base_res = ats_diagnostics_finish (diag, &error);
      g_assert_no_error (error);
    }
  g_assert_true (ats_capture_file_close (file, &error));

  info.method = ATS_MERGE_LINEAR;
  info.parameter = (char *) "alpha";
  info.n_steps = 2;
  info.values = values;
  info.n_prompts = 1;
  info.runs = runs;
  info.alpha = NAN;
  info.lambda = 1.0;
  info.density = 0.2;
  info.base = base;
  info.tuned = tuned_strv;
  g_assert_true (ats_sweep_file_annotate (path, &info, results, &error));
  g_assert_no_error (error);
  g_assert_false (ats_sweep_file_annotate (path, &info, results, &error));
  g_assert_error (error, ATS_CAPTURE_ERROR, ATS_CAPTURE_ERROR_FORMAT);
  g_clear_error (&error);

  back = ats_sweep_file_read_info (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->method, ==, ATS_MERGE_LINEAR);
  g_assert_cmpstr (back->parameter, ==, "alpha");
  g_assert_cmpuint (back->n_steps, ==, 2);
  g_assert_cmpuint (back->n_prompts, ==, 1);
  g_assert_cmpfloat (back->values[1], ==, 1.0);
  g_assert_cmpint (back->runs[1], ==, 1);
  g_assert_cmpstr (back->tuned[0], ==, tuned);
  g_assert_null (back->tuned[1]);
  g_assert_null (back->only);
  g_assert_true (isnan (back->alpha));

  /* the capture side is intact and the alpha 0 step is the base model */
  file = ats_capture_file_open (path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_capture_file_get_n_runs (file), ==, 2);
  {
    g_autoptr (AtsDiagResults) r0 = ats_capture_file_read_run_metrics (file, 0, &error);
    g_autoptr (AtsDiagResults) r1 = ats_capture_file_read_run_metrics (file, 1, &error);

    g_assert_no_error (error);
    g_assert_cmpmem (r0->entropy, 8 * sizeof (float), base_res->entropy, 8 * sizeof (float));
    g_assert_true (memcmp (r1->entropy, base_res->entropy, 8 * sizeof (float)) != 0);
  }
  ats_capture_file_close (file, NULL);
  ats_diag_results_free (results[0]);
  ats_diag_results_free (results[1]);
  rm_rf (tmp);
}

/* --- the writer ----------------------------------------------------------------------------- */

static void
test_writer_shards (void)
{
  g_autofree char *tmp = make_tmp ();
  g_autofree char *out = g_build_filename (tmp, "sharded", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensorsWriter) w = NULL;
  g_autoptr (AtsCheckpoint) ck = NULL;
  /* five tensors of 100 floats = 400 bytes each, limit 1000 bytes -> 2 + 2 + 1 */
  float  data[5][100]; /* [5 tensors, 100] */
  gint64 shape[2] = { 10, 10 };

  w = ats_safetensors_writer_new (out, ATS_SAFETENSORS_WRITER_NONE, &error);
  g_assert_no_error (error);
  ats_safetensors_writer_set_shard_bytes (w, 1000);
  ats_safetensors_writer_set_metadata (w, "note", "quote \" and backslash \\");
  for (guint t = 0; t < 5; t++)
    {
      g_autofree char *name = g_strdup_printf ("t%u.weight", t);

      for (guint i = 0; i < 100; i++)
        data[t][i] = t * 1000.0f + i;
      g_assert_true (ats_safetensors_writer_add_tensor (w, name, ATS_DTYPE_F32, 2, shape, &error));
    }
  g_assert_false (
      ats_safetensors_writer_add_tensor (w, "t0.weight", ATS_DTYPE_F32, 2, shape, &error));
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "t0.weight"));
  g_clear_error (&error);
  g_assert_true (ats_safetensors_writer_begin (w, &error));
  g_assert_cmpuint (ats_safetensors_writer_get_n_shards (w), ==, 3);
  /* chunks of 333 bytes span tensor and shard boundaries */
  for (gsize off = 0; off < sizeof data; off += 333)
    g_assert_true (ats_safetensors_writer_write (w, (guint8 *) data + off,
                                                 MIN (333, sizeof data - off), &error));
  g_assert_false (ats_safetensors_writer_write (w, data, 1, &error));
  g_clear_error (&error);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS)); /* not before finish */
  g_assert_true (ats_safetensors_writer_finish (w, &error));
  g_assert_no_error (error);

  ck = ats_checkpoint_open (out, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_checkpoint_get_n_shards (ck), ==, 3);
  for (guint t = 0; t < 5; t++)
    {
      g_autofree char  *name = g_strdup_printf ("t%u.weight", t);
      g_autofree float *v = ats_checkpoint_read_f32 (ck, name, 2, shape, &error);

      g_assert_no_error (error);
      g_assert_cmpmem (v, 400, data[t], 400);
    }
  g_assert_cmpstr (
      g_hash_table_lookup (ats_safetensors_get_metadata (ats_checkpoint_get_shard (ck, 2)), "note"),
      ==, "quote \" and backslash \\");
  g_assert_cmpuint (count_entries (tmp, "partial"), ==, 0);
  rm_rf (tmp);
}

static void
test_writer_abandon (void)
{
  g_autofree char *tmp = make_tmp ();
  g_autofree char *out = g_build_filename (tmp, "out", NULL);
  g_autoptr (GError) error = NULL;
  gint64 shape[1] = { 4 };
  float  v[4] = { 1, 2, 3, 4 }; /* [4] */

  {
    g_autoptr (AtsSafetensorsWriter) w =
        ats_safetensors_writer_new (out, ATS_SAFETENSORS_WRITER_NONE, &error);

    g_assert_true (ats_safetensors_writer_add_tensor (w, "a", ATS_DTYPE_F32, 1, shape, &error));
    g_assert_true (ats_safetensors_writer_add_tensor (w, "b", ATS_DTYPE_F32, 1, shape, &error));
    g_assert_true (ats_safetensors_writer_begin (w, &error));
    g_assert_true (ats_safetensors_writer_write (w, v, sizeof v, &error));
    g_assert_cmpuint (count_entries (tmp, "partial"), ==, 1);
    /* tensor b never arrives */
    g_assert_false (ats_safetensors_writer_finish (w, &error));
    g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT);
    g_assert_nonnull (strstr (error->message, "'b'"));
  }
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_entries (tmp, "partial"), ==, 0);
  rm_rf (tmp);
}

/* --- bad inputs ----------------------------------------------------------------------------- */

static float
perturb_none (const char *name, gsize i, float v, gpointer data)
{
  return v;
}

/* Writes a copy of llama where @drop is left out, @reshape gets shape [numel] and @retype is
 * stored as BF16, and @extra is added. */
static void
write_altered (const char *dst,
               const char *drop,
               const char *reshape,
               const char *retype,
               const char *extra)
{
  g_autofree char *src = fixture_dir ("llama");
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = ats_checkpoint_open (src, &error);
  g_autoptr (AtsSafetensorsWriter) w =
      ats_safetensors_writer_new (dst, ATS_SAFETENSORS_WRITER_NONE, &error);
  const char *const *names = ats_checkpoint_get_tensor_names (ck);
  g_autofree char   *cfg = g_build_filename (src, "config.json", NULL);
  gint64             one = 1;
  float              zero = 0;

  g_assert_no_error (error);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const AtsTensorInfo *t = ats_checkpoint_lookup (ck, names[i]);
      gint64               flat = t->numel;

      if (g_strcmp0 (names[i], drop) == 0)
        continue;
      if (g_strcmp0 (names[i], reshape) == 0)
        ats_safetensors_writer_add_tensor (w, t->name, t->dtype, 1, &flat, &error);
      else
        ats_safetensors_writer_add_tensor (
            w, t->name, g_strcmp0 (names[i], retype) == 0 ? ATS_DTYPE_BF16 : t->dtype, t->n_dims,
            t->shape, &error);
      g_assert_no_error (error);
    }
  if (extra != NULL)
    ats_safetensors_writer_add_tensor (w, extra, ATS_DTYPE_F32, 1, &one, &error);
  g_assert_true (ats_safetensors_writer_begin (w, &error));
  for (guint i = 0; names[i] != NULL; i++)
    {
      const AtsTensorInfo *t = ats_checkpoint_lookup (ck, names[i]);

      if (g_strcmp0 (names[i], drop) == 0)
        continue;
      ats_safetensors_writer_write (
          w, t->data, g_strcmp0 (names[i], retype) == 0 ? t->n_bytes / 2 : t->n_bytes, &error);
      g_assert_no_error (error);
    }
  if (extra != NULL)
    ats_safetensors_writer_write (w, &zero, 4, &error);
  ats_safetensors_writer_copy_file (w, cfg, "config.json", &error);
  g_assert_true (ats_safetensors_writer_finish (w, &error));
}

static void
expect_mismatch (const char *base, const char *tuned, const char *needle, const char *needle2)
{
  const char *list[] = { tuned, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = ats_merge_new (base, list, &error);

  g_assert_null (merge);
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_MISMATCH);
  if (strstr (error->message, needle) == NULL || strstr (error->message, needle2) == NULL)
    g_error ("message \"%s\" does not name \"%s\" and \"%s\"", error->message, needle, needle2);
}

static void
test_bad_inputs (void)
{
  g_autofree char *base = fixture_dir ("llama");
  g_autofree char *tmp = make_tmp ();
  g_autofree char *d_drop = g_build_filename (tmp, "drop", NULL);
  g_autofree char *d_shape = g_build_filename (tmp, "shape", NULL);
  g_autofree char *d_dtype = g_build_filename (tmp, "dtype", NULL);
  g_autofree char *d_extra = g_build_filename (tmp, "extra", NULL);
  g_autofree char *d_arch = g_build_filename (tmp, "arch", NULL);
  g_autofree char *arch_cfg = g_build_filename (d_arch, "config.json", NULL);
  g_autofree char *gpt2 = fixture_dir ("gpt2");

  write_altered (d_drop, "model.layers.1.mlp.up_proj.weight", NULL, NULL, NULL);
  write_altered (d_shape, NULL, "model.layers.0.self_attn.k_proj.weight", NULL, NULL);
  write_altered (d_dtype, NULL, NULL, "model.norm.weight", NULL);
  write_altered (d_extra, NULL, NULL, NULL, "model.layers.0.extra");
  write_variant (base, d_arch, perturb_none, NULL);
  g_assert_true (g_file_set_contents (arch_cfg, "{\"model_type\": \"mistral\"}", -1, NULL));

  expect_mismatch (base, d_drop, "model.layers.1.mlp.up_proj.weight", "missing");
  expect_mismatch (base, d_shape, "model.layers.0.self_attn.k_proj.weight", "[16, 32]");
  expect_mismatch (base, d_dtype, "model.norm.weight", "BF16");
  expect_mismatch (base, d_extra, "model.layers.0.extra", "lacks");
  expect_mismatch (base, d_arch, "model_type", "mistral");
  expect_mismatch (base, gpt2, "model_type", "gpt2");

  /* linear with two tuned models, density out of range */
  {
    const char *two[] = { base, base, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (AtsMerge) merge = ats_merge_new (base, two, &error);
    AtsMergeParams p;

    g_assert_no_error (error);
    ats_merge_params_init_default (&p);
    g_assert_false (ats_merge_check_params (merge, &p, &error));
    g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT);
    g_clear_error (&error);
    p.method = ATS_MERGE_TIES;
    p.density = 0.0;
    g_assert_false (ats_merge_check_params (merge, &p, &error));
    g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT);
    g_assert_nonnull (strstr (error->message, "density"));
  }
  rm_rf (tmp);
}

static gboolean
cancel_midway (double fraction, gpointer data)
{
  return fraction < 0.5;
}

static void
test_bad_outputs (void)
{
  g_autofree char *base = fixture_dir ("llama");
  g_autofree char *tmp = make_tmp ();
  g_autofree char *file = g_build_filename (tmp, "a-file", NULL);
  g_autofree char *under_file = g_build_filename (file, "out", NULL);
  g_autofree char *missing_parent = g_build_filename (tmp, "no", "such", "out", NULL);
  g_autofree char *existing = g_build_filename (tmp, "existing", NULL);
  g_autofree char *marker = g_build_filename (existing, "keep-me.txt", NULL);
  g_autofree char *nested = g_build_filename (existing, "sub", NULL);
  g_autofree char *cancelled = g_build_filename (tmp, "cancelled", NULL);
  const char      *tuned[] = { base, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = ats_merge_new (base, tuned, &error);
  AtsMergeParams       params;
  AtsMergeWriteOptions opts = { 0 };
  g_autofree char     *text = NULL;

  g_assert_no_error (error);
  ats_merge_params_init_default (&params);
  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  g_assert_cmpint (g_mkdir (existing, 0755), ==, 0);
  g_assert_true (g_file_set_contents (marker, "precious", -1, NULL));

  /* unwritable: below a regular file, below a missing folder */
  g_assert_false (ats_merge_write (merge, &params, under_file, NULL, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, under_file));
  g_clear_error (&error);
  g_assert_false (ats_merge_write (merge, &params, missing_parent, NULL, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO);
  g_clear_error (&error);

  /* existing without force: refused, untouched */
  g_assert_false (ats_merge_write (merge, &params, existing, NULL, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "--force"));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (marker, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "precious");

  /* the base folder itself is never an output */
  opts.force = TRUE;
  g_assert_false (ats_merge_write (merge, &params, base, &opts, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT);
  g_clear_error (&error);

  /* a folder with subfolders is not replaced even with force */
  g_assert_cmpint (g_mkdir (nested, 0755), ==, 0);
  g_assert_false (ats_merge_write (merge, &params, existing, &opts, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "sub"));
  g_clear_error (&error);
  g_rmdir (nested);

  /* cancelled halfway: nothing left */
  opts.progress = cancel_midway;
  g_assert_false (ats_merge_write (merge, &params, cancelled, &opts, &error));
  g_assert_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (g_file_test (cancelled, G_FILE_TEST_EXISTS));
  opts.progress = NULL;

  /* force replaces a plain folder */
  g_assert_true (ats_merge_write (merge, &params, existing, &opts, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  {
    g_autoptr (AtsModel) m = ats_model_load (existing, &error);

    g_assert_no_error (error);
  }
  g_assert_cmpuint (count_entries (tmp, "partial"), ==, 0);
  g_assert_cmpuint (count_entries (tmp, ".old-"), ==, 0);
  rm_rf (tmp);
}

static void
test_sharded_output (void)
{
  g_autofree char *base = fixture_dir ("llama-sharded");
  g_autofree char *single = fixture_dir ("llama");
  g_autofree char *tmp = make_tmp ();
  g_autofree char *out = g_build_filename (tmp, "out", NULL);
  const char      *tuned[] = { single, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsMerge) merge = ats_merge_new (base, tuned, &error);
  AtsMergeParams       params;
  AtsMergeWriteOptions opts = { 0 };
  Outputs              a, b;

  g_assert_no_error (error);
  ats_merge_params_init_default (&params);
  params.alpha = 1.0;
  opts.shard_bytes = 30000;
  g_assert_true (ats_merge_write (merge, &params, out, &opts, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_entries (out, "-of-"), >=, 3);
  g_assert_cmpuint (count_entries (out, "index.json"), ==, 1);
  a = run_dir (out);
  b = run_dir (single);
  assert_same_outputs (&a, &b, "sharded alpha 1 vs tuned");
  outputs_clear (&a);
  outputs_clear (&b);
  rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  static const char *fixtures[] = { "gpt2",   "gpt2-bf16",   "llama", "llama-tied-bf16",
                                    "qwen2",  "mistral-f16", "neox",  "lazy-fla",
                                    "lazy-hf" };

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/merge/reference", test_reference);
  g_test_add_func ("/merge/ties-precision", test_ties_precision);
  g_test_add_func ("/merge/classify", test_classify);
  g_test_add_func ("/merge/filter", test_filter);
  g_test_add_func ("/merge/diff", test_diff);
  g_test_add_func ("/merge/diff-csv", test_diff_csv);
  for (guint i = 0; i < G_N_ELEMENTS (fixtures); i++)
    {
      g_autofree char *path = g_strdup_printf ("/merge/forward/%s", fixtures[i]);

      g_test_add_data_func (path, fixtures[i], test_forward);
    }
  g_test_add_func ("/merge/sharded-output", test_sharded_output);
  g_test_add_func ("/merge/sweep-file", test_sweep_file);
  g_test_add_func ("/merge/writer/shards", test_writer_shards);
  g_test_add_func ("/merge/writer/abandon", test_writer_abandon);
  g_test_add_func ("/merge/bad-inputs", test_bad_inputs);
  g_test_add_func ("/merge/bad-outputs", test_bad_outputs);
  return g_test_run ();
}
