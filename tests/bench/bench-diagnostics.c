/* bench-diagnostics.c — cost of the streaming attention diagnostics per head
 *
 * Feeds softmax heads (random logits of varied sharpness, some with a first-token sink) in
 * blocks of 64 query rows, pass 0 then pass 1, as the forward pass does, and reports the time
 * per head. GPT-2 small at T = 512 has 144 heads.
 *
 *   bench-diagnostics [T ...]     (default: 512 4096)
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "attnscope/ats-diagnostics.h"

#define ROW_BLOCK 64

/* CPU time of this thread: steadier than wall time on a shared machine */
static double
cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
fill_head (GRand *rand, float *a /* [T, T] */, guint T, double scale, double bonus)
{
  for (guint i = 0; i < T; i++)
    {
      float *row = a + (gsize) i * T; /* [T] */
      double mx = -INFINITY, s = 0.0;

      for (guint j = 0; j <= i; j++)
        {
          row[j] = (float) (scale * g_rand_double_range (rand, -2, 2) + (j == 0 ? bonus : 0));
          mx = MAX (mx, row[j]);
        }
      for (guint j = 0; j <= i; j++)
        {
          row[j] = expf (row[j] - (float) mx);
          s += row[j];
        }
      for (guint j = 0; j <= i; j++)
        row[j] = (float) (row[j] / s);
      for (guint j = i + 1; j < T; j++)
        row[j] = 0.0f;
    }
}

static void
bench (guint T, guint n_heads)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  g_autofree float *maps = g_new (float, (gsize) n_heads *T *T); /* [H, T, T] */
  g_autoptr (AtsDiagnostics) diag = ats_diagnostics_new (1, n_heads, T, NULL);
  g_autoptr (AtsDiagResults) r = NULL;
  g_autoptr (GError) error = NULL;
  double t0, t1;

  for (guint h = 0; h < n_heads; h++)
    fill_head (rand, maps + (gsize) h * T * T, T, 0.3 + h % 4, h % 3 == 0 ? 4.0 : 0.0);

  t0 = cpu_seconds ();
  for (guint pass = 0; pass < 2; pass++)
    for (guint h = 0; h < n_heads; h++)
      for (guint s = 0; s < T; s += ROW_BLOCK)
        {
          AtsAttentionBlock block = {
            .layer = 0,
            .head = h,
            .pass = pass,
            .n_tokens = T,
            .row_start = s,
            .n_rows = MIN (ROW_BLOCK, T - s),
            .probs = maps + ((gsize) h * T + s) * T,
          };

          if (!ats_diagnostics_add_block (diag, &block, &error))
            g_error ("%s", error->message);
        }
  r = ats_diagnostics_finish (diag, &error);
  t1 = cpu_seconds ();
  g_assert_no_error (error);

  g_print ("T = %5u: %.2f ms CPU per head (%u heads, pass 0 + pass 1; %.1f ns per visible entry)"
           "  mean entropy %.3f top-p %.3f\n",
           T, 1e3 * (t1 - t0) / n_heads, n_heads, 1e9 * (t1 - t0) / (n_heads * (T * (T + 1) / 2.0)),
           r->entropy[0], r->top_p_width[0]);
  if (T == 512)
    g_print ("          GPT-2 small (144 heads): %.3f s\n", 144 * (t1 - t0) / n_heads);
}

int
main (int argc, char **argv)
{
  if (argc > 1)
    for (int i = 1; i < argc; i++)
      bench ((guint) atoi (argv[i]), 8);
  else
    {
      bench (512, 24);
      bench (4096, 4);
    }
  return 0;
}
