/* ats-metrics.c */
#include "ats-metrics.h"

#include <math.h>

struct _AtsMetrics
{
  gatomicrefcount ref_count;
  AtsDiagResults *results;
};

G_DEFINE_BOXED_TYPE (AtsMetrics, ats_metrics, ats_metrics_ref, ats_metrics_unref)

AtsMetrics *
ats_metrics_new_take (AtsDiagResults *results)
{
  AtsMetrics *self;

  g_return_val_if_fail (results != NULL, NULL);

  self = g_new0 (AtsMetrics, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->results = results;
  return self;
}

AtsMetrics *
ats_metrics_ref (AtsMetrics *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
ats_metrics_unref (AtsMetrics *self)
{
  g_return_if_fail (self != NULL);

  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      ats_diag_results_free (self->results);
      g_free (self);
    }
}

const AtsDiagResults *
ats_metrics_get_results (AtsMetrics *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->results;
}

double
ats_metrics_get_head (AtsMetrics *self, const char *name, guint layer, guint head)
{
  const AtsDiagMetricInfo *info;
  const AtsDiagResults    *r;
  gconstpointer            values;
  gsize                    n = 0;

  g_return_val_if_fail (self != NULL, NAN);

  r = self->results;
  info = ats_diag_metric_lookup (name);
  if (info == NULL || info->shape != ATS_DIAG_SHAPE_LAYER_HEAD || layer >= r->n_layers ||
      head >= r->n_heads)
    return NAN;

  values = ats_diag_results_get_metric (r, name, &n);
  if (values == NULL || n < (gsize) r->n_layers * r->n_heads)
    return NAN;

  if (info->is_int)
    return ((const gint32 *) values)[layer * r->n_heads + head];
  return ((const float *) values)[layer * r->n_heads + head];
}

guint
ats_metrics_get_layer_series (AtsMetrics *self, const char *name, double *out, guint n_out)
{
  const AtsDiagResults    *r;
  const AtsDiagMetricInfo *info;
  gconstpointer            values;
  gsize                    n = 0;

  g_return_val_if_fail (self != NULL, 0);

  r = self->results;

  if (g_strcmp0 (name, "sink_rate") == 0)
    {
      guint L = MIN (r->n_layers, n_out);

      for (guint l = 0; l < L; l++)
        {
          guint count = 0, seen = 0;

          for (guint h = 0; h < r->n_heads; h++)
            {
              float v = r->first_token_mass[l * r->n_heads + h];

              if (isnan (v))
                continue;
              seen++;
              if (v > r->params.sink_eps)
                count++;
            }
          out[l] = seen > 0 ? 100.0 * count / seen : NAN;
        }
      return L;
    }

  info = ats_diag_metric_lookup (name);
  if (info == NULL)
    return 0;
  values = ats_diag_results_get_metric (r, name, &n);
  if (values == NULL)
    return 0;

  if (info->shape == ATS_DIAG_SHAPE_LAYER_HEAD)
    {
      guint L = MIN (r->n_layers, n_out);

      for (guint l = 0; l < L; l++)
        {
          double sum = 0;
          guint  seen = 0;

          for (guint h = 0; h < r->n_heads; h++)
            {
              double v = info->is_int ? ((const gint32 *) values)[l * r->n_heads + h]
                                      : ((const float *) values)[l * r->n_heads + h];

              if (isnan (v))
                continue;
              sum += v;
              seen++;
            }
          out[l] = seen > 0 ? sum / seen : NAN;
        }
      return L;
    }

  if (info->shape == ATS_DIAG_SHAPE_HIDDEN_LAYER)
    {
      guint L1 = MIN (MIN (r->n_layers + 1, n_out), (guint) n);

      for (guint l = 0; l < L1; l++)
        {
          double v = info->is_int ? ((const gint32 *) values)[l] : ((const float *) values)[l];

          /* massive_count is -1 when hidden states were not seen */
          out[l] = info->is_int && v < 0 ? NAN : v;
        }
      return L1;
    }

  return 0;
}

gboolean
ats_metrics_is_sink (AtsMetrics *self, guint layer, guint head, guint key)
{
  const AtsDiagResults *r;

  g_return_val_if_fail (self != NULL, FALSE);

  r = self->results;
  if (layer >= r->n_layers || head >= r->n_heads || key >= r->n_tokens || r->sink_score == NULL)
    return FALSE;

  return r->sink_score[((gsize) layer * r->n_heads + head) * r->n_tokens + key] >
         r->params.sink_eps;
}
