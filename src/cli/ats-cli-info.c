/* ats-cli-info.c — `attnscope-cli info DIR|FILE.h5`: what a checkpoint or capture holds */
#include <stdio.h>
#include <string.h>

#include "attnscope/ats-capture.h"
#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-model.h"
#include "ats-cli.h"

static void
print_model_config (const AtsModelConfig *c)
{
  printf ("architecture   %s (model_type \"%s\")\n", ats_arch_to_string (c->arch), c->model_type);
  printf ("attention      %s%s\n", ats_attention_kind_to_string (c->attention),
          c->attention == ATS_ATTENTION_ELASTIC
              ? " (Lazy Attention: Elastic-Softmax + distance bias)"
              : "");
  printf ("layers         %u\n", c->n_layers);
  printf ("heads          %u (kv heads %u)\n", c->n_heads, c->n_kv_heads);
  printf ("width          %u (head size %u, MLP %u)\n", c->d_model, c->head_dim, c->d_ff);
  printf ("vocab          %u\n", c->vocab_size);
  printf ("norm           %s, eps %g\n", c->norm == ATS_NORM_RMS ? "RMSNorm" : "LayerNorm",
          c->norm_eps);
  if (c->arch != ATS_ARCH_GPT2)
    printf ("rope           theta %g, %u of %u dims rotate\n", c->rope_theta, c->rotary_dim,
            c->head_dim);
  else
    printf ("positions      %u learned\n", c->max_positions);
  if (c->arch == ATS_ARCH_NEOX)
    printf ("residual       %s\n", c->parallel_residual ? "parallel" : "sequential");
  if (c->bias_window)
    printf ("distance bias  %u entries per head\n", c->bias_window);
  printf ("lm head        %s\n", c->tied_lm_head ? "tied to the embedding" : "separate");
}

static int
info_checkpoint (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ckpt = ats_checkpoint_open (path, &error);
  if (ckpt == NULL)
    return ats_cli_fail ("%s", error->message);
  printf ("checkpoint     %s\n", ats_checkpoint_get_dir (ckpt));
  guint              n = ats_checkpoint_get_n_tensors (ckpt);
  const char *const *names = ats_checkpoint_get_tensor_names (ckpt);
  guint64            counts[3] = { 0 };
  for (guint i = 0; i < n; i++)
    {
      const AtsTensorInfo *t = ats_checkpoint_lookup (ckpt, names[i]);
      counts[t->dtype] += t->numel;
    }
  printf ("tensors        %u in %u shard%s, %.1f MB", n, ats_checkpoint_get_n_shards (ckpt),
          ats_checkpoint_get_n_shards (ckpt) == 1 ? "" : "s",
          ats_checkpoint_get_n_bytes (ckpt) / 1e6);
  for (guint d = 0; d < 3; d++)
    if (counts[d])
      printf (", %s %.2fM params", ats_dtype_to_string (d), counts[d] / 1e6);
  printf ("\n");

  g_autoptr (AtsModel) model = ats_model_load (path, &error);
  if (model == NULL)
    {
      fflush (stdout);
      return ats_cli_fail ("%s", error->message);
    }
  print_model_config (ats_model_get_config (model));
  printf ("memory         %.1f MB of fp32 weights once loaded\n",
          ats_model_get_weight_bytes (model) / 1e6);
  const char *tok_files[] = { "tokenizer.json", "vocab.json", NULL };
  const char *found = NULL;
  for (guint i = 0; tok_files[i]; i++)
    {
      g_autofree char *p = g_build_filename (ats_model_get_dir (model), tok_files[i], NULL);
      if (g_file_test (p, G_FILE_TEST_EXISTS))
        {
          found = tok_files[i];
          break;
        }
    }
  printf ("tokenizer      %s\n", found ? found : "none (use --ids with capture)");
  return 0;
}

static int
info_capture (const char *path)
{
  g_autoptr (GError) error = NULL;
  AtsCaptureFile *f = ats_capture_file_open (path, FALSE, &error);
  if (f == NULL)
    return ats_cli_fail ("%s", error->message);
  const AtsCaptureModelInfo *m = ats_capture_file_get_model_info (f);
  printf ("capture        %s (attnscope-capture v%d)\n", path, ATS_CAPTURE_FORMAT_VERSION);
  printf ("model          %s, %s attention, %u layers x %u heads (kv %u), width %u, vocab %u\n",
          m->architecture ? m->architecture : "?", ats_attention_kind_to_string (m->attention),
          m->n_layers, m->n_heads, m->n_kv_heads, m->d_model, m->vocab_size);
  printf ("source         %s\n", m->source ? m->source : "?");
  guint n = ats_capture_file_get_n_runs (f);
  printf ("runs           %u\n", n);
  int status = 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) run_error = NULL;
      g_autoptr (AtsCaptureRun) r = ats_capture_file_get_run (f, i, &run_error);
      if (r == NULL)
        {
          printf ("  %06u  unreadable: %s\n", i, run_error->message);
          status = 1;
          continue;
        }
      g_autoptr (GString) what = g_string_new (NULL);
      if (r->has_attention)
        g_string_append_printf (what, "maps %s",
                                r->attention_type == ATS_STORE_F16 ? "f16" : "f32");
      if (r->has_scores)
        g_string_append (what, what->len ? ", scores" : "scores");
      if (r->has_logits)
        g_string_append (what, what->len ? ", logits" : "logits");
      if (r->has_metrics)
        g_string_append (what, what->len ? ", metrics" : "metrics");
      g_autofree char *excerpt = NULL;
      const char      *prompt = r->prompt ? r->prompt : "";
      if (g_utf8_strlen (prompt, -1) > 48)
        {
          g_autofree char *head = g_utf8_substring (prompt, 0, 47);
          excerpt = g_strconcat (head, "…", NULL);
        }
      else
        excerpt = g_strdup (prompt);
      for (char *c = excerpt; *c; c++)
        if (*c == '\n' || *c == '\t')
          *c = ' ';
      printf ("  %s  %5u tokens  %-10s  %-30s  \"%s\"\n", r->name, r->n_tokens,
              r->complete ? "complete" : "INCOMPLETE", what->str, excerpt);
    }
  ats_capture_file_close (f, NULL);
  return status;
}

int
ats_cli_info_main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("DIR|FILE.h5 - describe a checkpoint or capture");
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      ats_cli_fail ("info: %s", error->message);
      return 2;
    }
  if (argc != 2)
    {
      ats_cli_fail ("info: give one checkpoint folder or capture file");
      return 2;
    }
  const char *path = argv[1];
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return ats_cli_fail ("%s: no such file or folder", path);
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR) && !g_str_has_suffix (path, ".safetensors"))
    return info_capture (path);
  return info_checkpoint (path);
}
