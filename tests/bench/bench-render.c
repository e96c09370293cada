/* bench-render.c — time rendering one 4096 x 4096 causal head to a 1600-px PNG
 *
 * Usage: bench-render [OUT.png] [T] [PIXELS]
 *   default OUT: a temporary file (removed afterwards), T = 4096, PIXELS = 1600
 * Prints the time of the pooled heatmap image alone, of the whole figure drawn in memory, and
 * of the full export (figure + PNG encoding + atomic write); best of 3 runs each.
 * Target (issue 4): the full export under 0.5 s.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "ats-render.h"

/* A random-ish causal map [T, T]: softmax rows of noise plus a first-token sink and a local
 * diagonal band. */
static float *
make_map (int T)
{
  float *a = g_new0 (float, (gsize) T *T); /* [T, T] */
  GRand *r = g_rand_new_with_seed (42);

  for (int i = 0; i < T; i++)
    {
      float *row = a + (gsize) i * T; /* [T] */
      double sum = 0.0;

      for (int j = 0; j <= i; j++)
        {
          double s = g_rand_double (r) * 2.0 + (j == 0 ? 6.0 : 0.0) + (i - j < 4 ? 2.0 : 0.0);

          row[j] = (float) exp (s);
          sum += row[j];
        }
      for (int j = 0; j <= i; j++)
        row[j] = (float) (row[j] / sum);
    }
  g_rand_free (r);
  return a;
}

static void
draw_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heatmap_draw (data, cr, w, h);
}

int
main (int argc, char *argv[])
{
  const int         T = argc > 2 ? atoi (argv[2]) : 4096;
  const int         px = argc > 3 ? atoi (argv[3]) : 1600;
  g_autofree char  *tmpdir = NULL;
  g_autofree char  *out = NULL;
  g_autofree float *map = NULL;
  g_autoptr (GError) error = NULL;
  AtsHeatmap hm;
  double     best_img = INFINITY, best_mem = INFINITY, best_file = INFINITY;

  if (T <= 0 || px <= 0)
    {
      fprintf (stderr, "usage: bench-render [OUT.png] [T] [PIXELS]\n");
      return 2;
    }
  if (argc > 1)
    out = g_strdup (argv[1]);
  else
    {
      tmpdir = g_dir_make_tmp ("ats-bench-render-XXXXXX", &error);
      if (tmpdir == NULL)
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      out = g_build_filename (tmpdir, "head.png", NULL);
    }

  map = make_map (T);
  ats_heatmap_init (&hm, map, T, T);
  hm.title = "bench: random causal head with a first-token sink";
  hm.footer = "model synthetic · run 0 · layer 0 · head 0 · float32";

  for (int rep = 0; rep < 3; rep++)
    {
      gint64           t0, t1, t2, t3;
      cairo_surface_t *img;
      GBytes          *bytes;

      t0 = g_get_monotonic_time ();
      img = ats_heatmap_render_image (&hm, NULL, NULL, px, px);
      t1 = g_get_monotonic_time ();
      cairo_surface_destroy (img);

      bytes = ats_export_to_bytes (ATS_EXPORT_FORMAT_PNG, px, px, 72, NULL, draw_cb, &hm, &error);
      t2 = g_get_monotonic_time ();
      if (bytes == NULL)
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      g_bytes_unref (bytes);

      if (!ats_export_heatmap (&hm, out, ATS_EXPORT_FORMAT_PNG, px, px, 72, NULL, &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      t3 = g_get_monotonic_time ();

      best_img = MIN (best_img, (t1 - t0) / 1e6);
      best_mem = MIN (best_mem, (t2 - t1) / 1e6);
      best_file = MIN (best_file, (t3 - t2) / 1e6);
    }

  printf ("map %d x %d -> %d x %d px PNG (best of 3)\n", T, T, px, px);
  printf ("  pooled image only (%d px max pooling): %.3f s\n", px, best_img);
  printf ("  figure to PNG bytes in memory:          %.3f s\n", best_mem);
  printf ("  full export to %s: %.3f s\n", argc > 1 ? out : "a temporary file", best_file);

  if (tmpdir != NULL)
    {
      g_unlink (out);
      g_rmdir (tmpdir);
    }
  return 0;
}
