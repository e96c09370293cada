/* ats-merge-model.c — merged models built in memory (for sweeps), without writing files
 *
 * The base model is loaded once with ats_model_load() and serves as the template: config,
 * layer table and norm kinds all come from it. The loader records which tensor every weight
 * field holds (AtsModel.weight_slots); a merged model is a copy of the template whose every
 * weight is the merged tensor, rounded to its stored dtype and widened to float32, exactly what
 * loading the merged folder from disk gives.
 */
#include <string.h>

#include "ats-merge-private.h"
#include "ats-model-private.h"

/* Loads the template model once. */
static gboolean
ensure_template (AtsMerge *self, GError **error)
{
  if (self->template_model != NULL)
    return TRUE;
  self->template_model = ats_model_load (self->base_dir, error);
  return self->template_model != NULL;
}

AtsModel *
ats_merge_build_model (AtsMerge *self, const AtsMergeParams *params, GError **error)
{
  AtsModel *t, *m;

  g_return_val_if_fail (self != NULL && params != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!ats_merge_check_params (self, params, error) || !ensure_template (self, error))
    return NULL;
  t = self->template_model;

  m = g_new0 (AtsModel, 1);
  *m = *t;
  m->ref_count = 1;
  m->dir = g_strdup (t->dir);
  m->config_json = g_strdup (t->config_json);
  m->config.model_type = g_strdup (t->config.model_type);
  m->checkpoint = t->checkpoint != NULL ? ats_checkpoint_ref (t->checkpoint) : NULL;
  m->owned = g_ptr_array_new_with_free_func (g_free);
  m->weight_slots = g_ptr_array_ref (t->weight_slots);
  m->layers = g_memdup2 (t->layers, sizeof (AtsLayer) * t->config.n_layers);

  for (guint i = 0; i < t->weight_slots->len; i++)
    {
      const AtsWeightSlot *s = t->weight_slots->pdata[i];
      const AtsTensorInfo *info = ats_checkpoint_lookup (self->base, s->tensor);
      g_autofree guint8   *raw = g_try_malloc (MAX (info->n_bytes, 1));
      float               *w = raw ? g_try_new (float, MAX (info->numel, 1)) : NULL;

      if (w == NULL)
        {
          g_set_error (error, ATS_MERGE_ERROR, ATS_MERGE_ERROR_IO,
                       "not enough memory to merge tensor '%s'", s->tensor);
          ats_model_unref (m);
          return NULL;
        }
      g_ptr_array_add (m->owned, w);
      if (!_ats_merge_tensor_to_memory (self, params, s->tensor, raw, error))
        {
          ats_model_unref (m);
          return NULL;
        }
      ats_convert_to_f32 (info->dtype, raw, (gsize) info->numel, w);
      *_ats_weight_slot_field (m, s) = w;
    }
  if (t->lm_head == t->tok_embed)
    m->lm_head = m->tok_embed;
  return m;
}
