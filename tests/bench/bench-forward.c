/* bench-forward.c — forward-pass throughput against the cblas_sgemm roofline (run by hand)
 *
 * usage: bench-forward MODEL_DIR [T=512] [threads=2] [repeats=3]
 * Prints: the sgemm roofline (GFLOP/s of the forward's own matrix shapes at T), then the forward
 * pass time and GFLOP/s with no observer and with a null observer (attention rows delivered).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "attnscope/ats-forward.h"
#include "attnscope/ats-model.h"

extern void openblas_set_num_threads (int num_threads);

static gboolean
null_attention (AtsObserver *o, const AtsAttentionBlock *b, GError **e)
{
  volatile float sink = b->probs[0];
  (void) sink;
  return TRUE;
}

/* matmul FLOPs of one forward pass (2 per multiply-add), attention counted causally */
static double
forward_flops (const AtsModelConfig *c, guint T)
{
  double D = c->d_model, F = c->d_ff, hs = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads;
  double proj = 2.0 * T * D * (H * hs + 2 * Hkv * hs) + 2.0 * T * H * hs * D;
  double mlp = (c->arch == ATS_ARCH_LLAMA ? 3.0 : 2.0) * 2.0 * T * D * F;
  double attn = 2.0 * 2.0 * H * hs * (double) T * (T + 1) / 2.0;
  return c->n_layers * (proj + mlp + attn);
}

static double
sgemm_gflops (int M, int N, int K, int reps)
{
  float *a = g_new0 (float, (gsize) M *K), *b = g_new0 (float, (gsize) K *N),
        *c = g_new0 (float, (gsize) M *N);
  for (gsize i = 0; i < (gsize) M * K; i++)
    a[i] = (i % 7) * 0.01f;
  for (gsize i = 0; i < (gsize) K * N; i++)
    b[i] = (i % 5) * 0.01f;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
  gint64 t0 = g_get_monotonic_time ();
  for (int r = 0; r < reps; r++)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
  double s = (g_get_monotonic_time () - t0) / 1e6;
  g_free (a);
  g_free (b);
  g_free (c);
  return 2.0 * M * N * K * reps / s / 1e9;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s MODEL_DIR [T] [threads] [repeats]\n", argv[0]);
      return 2;
    }
  guint T = argc > 2 ? atoi (argv[2]) : 512;
  guint threads = argc > 3 ? atoi (argv[3]) : 2;
  guint reps = argc > 4 ? atoi (argv[4]) : 3;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsModel) model = ats_model_load (argv[1], &error);
  if (!model)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  const AtsModelConfig *c = ats_model_get_config (model);
  openblas_set_num_threads (threads);
  double roof_qkv = sgemm_gflops (T, 3 * c->d_model, c->d_model, 20);
  double roof_mlp = sgemm_gflops (T, c->d_ff, c->d_model, 20);
  double roof = MAX (roof_qkv, roof_mlp);
  printf ("sgemm roofline (%u threads): [%u x %u x %u] %.1f GFLOP/s, [%u x %u x %u] %.1f GFLOP/s\n",
          threads, T, 3 * c->d_model, c->d_model, roof_qkv, T, c->d_ff, c->d_model, roof_mlp);

  gint32 *ids = g_new (gint32, T);
  for (guint t = 0; t < T; t++)
    ids[t] = (t * 7919u) % c->vocab_size;
  double      flops = forward_flops (c, T);
  AtsObserver obs = { 0 };
  obs.attention = null_attention;
  AtsObserver *observers[] = { &obs, NULL };
  for (int with_obs = 0; with_obs < 2; with_obs++)
    {
      AtsForwardOptions opt = { 0 };
      opt.n_threads = threads;
      opt.observers = with_obs ? observers : NULL;
      double best = 1e9;
      for (guint r = 0; r < reps; r++)
        {
          gint64 t0 = g_get_monotonic_time ();
          if (!ats_forward_run (model, ids, T, &opt, NULL, &error))
            {
              fprintf (stderr, "%s\n", error->message);
              return 1;
            }
          best = MIN (best, (g_get_monotonic_time () - t0) / 1e6);
        }
      printf ("forward T=%u %s: %.3f s, %.1f GFLOP/s (%.0f %% of the sgemm roofline)\n", T,
              with_obs ? "with observer" : "no observer", best, flops / best / 1e9,
              100.0 * flops / best / 1e9 / roof);
    }
  g_free (ids);
  return 0;
}
