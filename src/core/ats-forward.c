/* ats-forward.c — the instrumented fp32 forward pass
 *
 * One clear loop per layer, in the spirit of llama2.c: norm -> q, k, v -> RoPE -> attention in
 * blocks of query rows (unfused, so every row of probabilities exists and is handed to the
 * observers) -> output projection -> MLP. Matrix products go through cblas_sgemm.
 *
 * Index letters: L layers, H heads, Hkv kv heads, T tokens, D model width, hs head size,
 * F MLP width, V vocab, R rows in a query block.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "attnscope/ats-forward.h"
#include "ats-model-private.h"
#include "ats-kernels-private.h"
#include "ats-parallel-private.h"

/* Provided by OpenBLAS (not declared by every cblas.h). */
extern void openblas_set_num_threads (int num_threads);

/* Query rows per attention block when the caller does not choose: whole maps up to T = 4096
 * (one block per head: no second-pass recomputation, fewer and larger sgemm calls), at most
 * ~4 M scores per block beyond (tiled: no [T, T] map is ever whole in memory). */
static guint
default_row_block (guint T)
{
  if ((guint64) T * T <= (16u << 20))
    return MAX (T, 1u);
  guint r = (4u << 20) / T;
  return CLAMP (r, MIN (64u, T), T);
}

typedef struct
{
  AtsModel                *model;
  const AtsForwardOptions *opt;
  guint                    T;
  guint                    row_block;
  gboolean                 want_scores;
  gboolean                 second_pass;
  guint                    n_observers;
  AtsObserver            **observers;
  /* work buffers */
  float *x;   /* [T, D] residual stream */
  float *h;   /* [T, D] normed input */
  float *qkv; /* [T, 3D] fused projections (GPT-2, NeoX) */
  float *q;   /* [T, H, hs] */
  float *k;   /* [T, Hkv, hs] */
  float *v;   /* [T, Hkv, hs] */
  float *att; /* [T, H, hs] attention output */
  float *tmp; /* [T, D] */
  float *ff1; /* [T, F] */
  float *ff2; /* [T, F] */
  guint  n_threads;
  float *scores; /* [n_threads, R, T] */
  float *probs;  /* [n_threads, R, T] */
  GMutex deliver_lock;
  double progress_total;
  double progress_done;
} Forward;

/* --- primitives ---------------------------------------------------------------------------- */

typedef struct
{
  const AtsLinear *lin;
  const float     *x; /* [T, in] */
  float           *y; /* [T, out] */
  guint            T;
} LinearJob;

/* Columns [begin, end) of y (in units of 16 columns): a single-threaded sgemm on that slice. */
static void
linear_cols (guint begin, guint end, guint slot, gpointer data)
{
  LinearJob       *job = data;
  const AtsLinear *lin = job->lin;
  guint            o0 = MIN (begin * 16, lin->out), o1 = MIN (end * 16, lin->out);
  if (o1 <= o0)
    return;
  if (lin->w_is_out_in) /* w [out, in]: rows o0..o1 */
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, job->T, o1 - o0, lin->in, 1.0f, job->x,
                 lin->in, lin->w + (gsize) o0 * lin->in, lin->in, 0.0f, job->y + o0, lin->out);
  else /* w [in, out]: columns o0..o1 */
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, job->T, o1 - o0, lin->in, 1.0f, job->x,
                 lin->in, lin->w + o0, lin->out, 0.0f, job->y + o0, lin->out);
  if (lin->b != NULL)
    for (guint t = 0; t < job->T; t++)
      {
        float *row = job->y + (gsize) t * lin->out;
        for (guint o = o0; o < o1; o++)
          row[o] += lin->b[o];
      }
}

/* y[T, out] = x[T, in] . W (+ b), the output columns split over the worker threads. OpenBLAS
 * itself runs single-threaded: its own workers spin (sched_yield) between calls and would take
 * the cores the attention and elementwise work need. */
static void
linear (Forward *fw, const AtsLinear *lin, const float *x, float *y)
{
  LinearJob job = { lin, x, y, fw->T };
  _ats_parallel_for ((lin->out + 15) / 16, fw->n_threads, linear_cols, &job);
}

/* out[T, D] = norm(x[T, D]) */
static void
norm_rows (const AtsModelConfig *c, const AtsNorm *n, const float *x, guint T, float *out)
{
  guint D = c->d_model;
  for (guint t = 0; t < T; t++)
    {
      const float *xr = x + (gsize) t * D;
      float       *yr = out + (gsize) t * D;
      if (c->norm == ATS_NORM_RMS)
        {
          double ss = 0;
          for (guint d = 0; d < D; d++)
            ss += (double) xr[d] * xr[d];
          float r = (float) (1.0 / sqrt (ss / D + c->norm_eps));
          for (guint d = 0; d < D; d++)
            yr[d] = (xr[d] * r) * n->w[d];
        }
      else
        {
          double mean = 0, var = 0;
          for (guint d = 0; d < D; d++)
            mean += xr[d];
          mean /= D;
          for (guint d = 0; d < D; d++)
            var += (xr[d] - mean) * (xr[d] - mean);
          var /= D;
          float r = (float) (1.0 / sqrt (var + c->norm_eps));
          float m = (float) mean;
          for (guint d = 0; d < D; d++)
            yr[d] = (xr[d] - m) * r * n->w[d] + (n->b ? n->b[d] : 0.0f);
        }
    }
}

/* Rotary embedding, HF "rotate half" layout, on the first @rot dims of each head of
 * x [T, n_heads, hs]. */
static void
rope (float *x, guint T, guint n_heads, guint hs, guint rot, double theta)
{
  guint half = rot / 2;
  if (half == 0)
    return;
  g_autofree double *inv_freq = g_new (double, half);
  for (guint d = 0; d < half; d++)
    inv_freq[d] = 1.0 / pow (theta, (2.0 * d) / rot);
  for (guint t = 0; t < T; t++)
    {
      float cs[2 * half]; /* cos, sin of position t */
      for (guint d = 0; d < half; d++)
        {
          double a = t * inv_freq[d];
          cs[2 * d] = (float) cos (a);
          cs[2 * d + 1] = (float) sin (a);
        }
      for (guint hh = 0; hh < n_heads; hh++)
        {
          float *v = x + ((gsize) t * n_heads + hh) * hs;
          for (guint d = 0; d < half; d++)
            {
              float x1 = v[d], x2 = v[d + half];
              float c = cs[2 * d], s = cs[2 * d + 1];
              v[d] = x1 * c - x2 * s;
              v[d + half] = x2 * c + x1 * s;
            }
        }
    }
}

/* exact GELU (GPT-NeoX "gelu") */
static inline float
gelu_erf (float x)
{
  return 0.5f * x * (1.0f + erff (x * 0.7071067811865476f));
}

/* --- attention ----------------------------------------------------------------------------- */

/* Computes scores and probabilities of query rows [r0, r0 + R) of head @hh into fw->scores and
 * fw->probs ([R, T], zero / -inf beyond the diagonal). */
static void
attention_rows (Forward        *fw,
                const AtsLayer *layer,
                guint           hh,
                guint           r0,
                guint           R,
                float          *scores,
                float          *probs)
{
  const AtsModelConfig *c = &fw->model->config;
  guint                 T = fw->T, H = c->n_heads, Hkv = c->n_kv_heads, hs = c->head_dim;
  guint                 g = hh / (H / Hkv);
  guint                 n_keys = r0 + R; /* keys 0 .. r0+R-1 can be visible */
  float                 scale = 1.0f / sqrtf ((float) hs);
  const float          *qh = fw->q + ((gsize) r0 * H + hh) * hs; /* rows stride H*hs */
  const float          *kg = fw->k + (gsize) g * hs;             /* rows stride Hkv*hs */

  /* scores[R, n_keys] = q[R, hs] . k[n_keys, hs]^T * scale */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, R, n_keys, hs, scale, qh, H * hs, kg,
               Hkv * hs, 0.0f, scores, T);

  const float *bias = layer->bias ? layer->bias + (gsize) hh * c->bias_window : NULL;
  float        tau = layer->tau ? layer->tau[hh] : 0.0f;
  for (guint r = 0; r < R; r++)
    {
      guint  i = r0 + r;
      float *s = scores + (gsize) r * T;
      float *p = probs + (gsize) r * T;
      if (bias != NULL)
        {
          /* s_ij += b_h[i - j] for 0 <= i - j < W */
          guint W = c->bias_window;
          for (guint dist = 0; dist < W && dist <= i; dist++)
            s[i - dist] += bias[dist];
        }
      float mx = _ats_row_max (s, i + 1);
      _ats_exp_shifted (s, mx, p, i + 1); /* p[j] = exp(s[j] - max) */
      double sum = _ats_row_sum (p, i + 1);
      float  inv = (float) (1.0 / sum);
      if (layer->tau != NULL)
        {
          /* Elastic-Softmax: max(0, softmax + tau_h / i), i 1-based, no renormalisation */
          float shift = tau / (float) (i + 1);
          for (guint j = 0; j <= i; j++)
            {
              float a = p[j] * inv + shift;
              p[j] = a > 0.0f ? a : 0.0f;
            }
        }
      else
        for (guint j = 0; j <= i; j++)
          p[j] *= inv;
      for (guint j = i + 1; j < T; j++)
        {
          p[j] = 0.0f;
          s[j] = -INFINITY;
        }
    }
}

/* Hands one block to every observer; calls to observers without concurrent_heads are serialised
 * across the worker threads. */
static gboolean
deliver (Forward     *fw,
         guint        layer,
         guint        hh,
         guint        pass,
         guint        r0,
         guint        R,
         const float *scores,
         const float *probs,
         GError     **error)
{
  AtsAttentionBlock block = {
    .layer = layer,
    .head = hh,
    .pass = pass,
    .n_tokens = fw->T,
    .row_start = r0,
    .n_rows = R,
    .probs = probs,
    .scores = fw->want_scores ? scores : NULL,
  };
  gboolean ok = TRUE;
  for (guint o = 0; ok && o < fw->n_observers; o++)
    {
      AtsObserver *obs = fw->observers[o];
      if ((pass == 1 && !obs->second_pass) || obs->attention == NULL)
        continue;
      if (obs->concurrent_heads)
        ok = obs->attention (obs, &block, error);
      else
        {
          g_mutex_lock (&fw->deliver_lock);
          ok = obs->attention (obs, &block, error);
          g_mutex_unlock (&fw->deliver_lock);
        }
    }
  return ok;
}

static gboolean
check_cancel (Forward *fw, GError **error)
{
  const AtsForwardOptions *opt = fw->opt;
  gboolean stop = opt->cancellable != NULL && g_cancellable_is_cancelled (opt->cancellable);
  if (!stop && opt->progress != NULL)
    stop = !opt->progress (MIN (1.0, fw->progress_done / fw->progress_total), opt->progress_data);
  if (stop)
    g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_CANCELLED, "cancelled");
  return !stop;
}

/* Attention of layer @l: row blocks in order; within a block the heads run in parallel, each
 * worker with its own [R, T] buffers and single-threaded BLAS calls. */
typedef struct
{
  Forward        *fw;
  const AtsLayer *layer;
  guint           l, pass, r0, R;
  guint           next_head; /* dynamic scheduling over heads */
  GError         *error;     /* first failure */
} HeadsJob;

/* One worker: takes heads one at a time; @slot picks its private [R, T] buffers. */
static void
attention_heads (guint begin, guint end, guint slot, gpointer data)
{
  HeadsJob             *job = data;
  Forward              *fw = job->fw;
  const AtsModelConfig *c = &fw->model->config;
  guint                 T = fw->T, H = c->n_heads, Hkv = c->n_kv_heads, hs = c->head_dim;
  guint                 g_size = H / Hkv, R = job->R, r0 = job->r0;
  float                *scores = fw->scores + (gsize) slot * fw->row_block * T;
  float                *probs = fw->probs + (gsize) slot * fw->row_block * T;
  guint                 hh;

  while ((hh = _ats_parallel_next (&job->next_head)) < H)
    {
      if (g_atomic_pointer_get (&job->error) != NULL)
        return;
      attention_rows (fw, job->layer, hh, r0, R, scores, probs);
      GError *local = NULL;
      if (fw->n_observers > 0 && !deliver (fw, job->l, hh, job->pass, r0, R, scores, probs, &local))
        {
          if (!g_atomic_pointer_compare_and_exchange (&job->error, NULL, local))
            g_error_free (local);
          return;
        }
      if (job->pass == 0)
        {
          /* att[r0:r0+R, hh] = probs[R, n_keys] . v[n_keys, g] */
          guint n_keys = r0 + R;
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, R, hs, n_keys, 1.0f, probs, T,
                       fw->v + (gsize) (hh / g_size) * hs, Hkv * hs, 0.0f,
                       fw->att + ((gsize) r0 * H + hh) * hs, H * hs);
        }
      /* A single block holds every row of the head: its second pass needs no recomputation. */
      if (job->pass == 0 && fw->second_pass && R == T &&
          !deliver (fw, job->l, hh, 1, r0, R, scores, probs, &local))
        {
          if (!g_atomic_pointer_compare_and_exchange (&job->error, NULL, local))
            g_error_free (local);
          return;
        }
    }
}

/* Attention of layer @l: row blocks in order; within a block the heads run in parallel, each
 * worker with its own [R, T] buffers and single-threaded BLAS calls. */
static gboolean
attention_layer (Forward *fw, guint l, GError **error)
{
  guint    T = fw->T;
  gboolean ok = TRUE;

  guint n_passes = fw->second_pass && fw->row_block < T ? 2 : 1;
  for (guint pass = 0; ok && pass < n_passes; pass++)
    for (guint r0 = 0; ok && r0 < T; r0 += fw->row_block)
      {
        HeadsJob job = { fw, &fw->model->layers[l], l, pass, r0, MIN (fw->row_block, T - r0) };
        _ats_parallel_for (fw->n_threads, fw->n_threads, attention_heads, &job);
        if (job.error != NULL)
          {
            g_propagate_error (error, job.error);
            ok = FALSE;
            break;
          }
        fw->progress_done = l + 0.5 * (double) (r0 + job.R) / T;
        ok = check_cancel (fw, error);
      }
  return ok;
}

/* q, k, v of layer @l from fw->h. */
static void
project_qkv (Forward *fw, const AtsLayer *layer)
{
  const AtsModelConfig *c = &fw->model->config;
  guint                 T = fw->T, H = c->n_heads, hs = c->head_dim, D = c->d_model;

  switch (c->arch)
    {
    case ATS_ARCH_GPT2:
      /* qkv [T, 3D] = (q | k | v) */
      linear (fw, &layer->qkv, fw->h, fw->qkv);
      for (guint t = 0; t < T; t++)
        {
          const float *row = fw->qkv + (gsize) t * 3 * D;
          memcpy (fw->q + (gsize) t * D, row, D * sizeof (float));
          memcpy (fw->k + (gsize) t * D, row + D, D * sizeof (float));
          memcpy (fw->v + (gsize) t * D, row + 2 * D, D * sizeof (float));
        }
      break;
    case ATS_ARCH_NEOX:
      /* qkv [T, H, 3, hs] */
      linear (fw, &layer->qkv, fw->h, fw->qkv);
      for (guint t = 0; t < T; t++)
        for (guint hh = 0; hh < H; hh++)
          {
            const float *src = fw->qkv + ((gsize) t * H + hh) * 3 * hs;
            gsize        dst = ((gsize) t * H + hh) * hs;
            memcpy (fw->q + dst, src, hs * sizeof (float));
            memcpy (fw->k + dst, src + hs, hs * sizeof (float));
            memcpy (fw->v + dst, src + 2 * hs, hs * sizeof (float));
          }
      rope (fw->q, T, H, hs, c->rotary_dim, c->rope_theta);
      rope (fw->k, T, H, hs, c->rotary_dim, c->rope_theta);
      break;
    case ATS_ARCH_LLAMA:
    default:
      linear (fw, &layer->q, fw->h, fw->q);
      linear (fw, &layer->k, fw->h, fw->k);
      linear (fw, &layer->v, fw->h, fw->v);
      rope (fw->q, T, H, hs, c->rotary_dim, c->rope_theta);
      rope (fw->k, T, c->n_kv_heads, hs, c->rotary_dim, c->rope_theta);
      break;
    }
}

typedef struct
{
  float   *a, *b; /* [T * F] */
  gboolean swiglu, gelu_tanh;
} ActJob;

static void
activate_range (guint begin, guint end, guint slot, gpointer data)
{
  ActJob *job = data;
  if (job->swiglu)
    _ats_swiglu (job->a + begin, job->b + begin, end - begin);
  else if (job->gelu_tanh)
    _ats_gelu_tanh (job->a + begin, end - begin);
  else
    for (guint i = begin; i < end; i++)
      job->a[i] = gelu_erf (job->a[i]);
}

/* out[T, D] = MLP(in[T, D]) */
static void
mlp (Forward *fw, const AtsLayer *layer, const float *in, float *out)
{
  const AtsModelConfig *c = &fw->model->config;
  guint                 T = fw->T, F = c->d_ff;
  ActJob                job = { fw->ff1, fw->ff2, c->arch == ATS_ARCH_LLAMA, fw->model->gelu_tanh };
  if (job.swiglu)
    {
      linear (fw, &layer->gate, in, fw->ff1);
      linear (fw, &layer->up, in, fw->ff2);
    }
  else
    linear (fw, &layer->fc, in, fw->ff1);
  _ats_parallel_for (T * F, fw->n_threads, activate_range, &job);
  linear (fw, job.swiglu ? &layer->down : &layer->proj, fw->ff1, out);
}

static gboolean
observe_residual (Forward *fw, guint l, GError **error)
{
  const AtsModelConfig *c = &fw->model->config;
  for (guint o = 0; o < fw->n_observers; o++)
    {
      AtsObserver *obs = fw->observers[o];
      if (obs->residual != NULL && !obs->residual (obs, l, fw->T, c->d_model, fw->x, error))
        return FALSE;
    }
  return TRUE;
}

static void
forward_clear (Forward *fw)
{
  g_free (fw->x);
  g_free (fw->h);
  g_free (fw->qkv);
  g_free (fw->q);
  g_free (fw->k);
  g_free (fw->v);
  g_free (fw->att);
  g_free (fw->tmp);
  g_free (fw->ff1);
  g_free (fw->ff2);
  g_free (fw->scores);
  g_free (fw->probs);
  g_mutex_clear (&fw->deliver_lock);
}

gboolean
ats_forward_run (AtsModel                *model,
                 const gint32            *ids,
                 guint                    T,
                 const AtsForwardOptions *options,
                 float                  **logits_out,
                 GError                 **error)
{
  g_return_val_if_fail (model != NULL, FALSE);
  g_return_val_if_fail (options != NULL, FALSE);
  const AtsModelConfig *c = &model->config;
  guint D = c->d_model, H = c->n_heads, Hkv = c->n_kv_heads, hs = c->head_dim, F = c->d_ff;

  if (logits_out)
    *logits_out = NULL;
  if (T == 0 || ids == NULL)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT, "empty input: no tokens");
      return FALSE;
    }
  for (guint t = 0; t < T; t++)
    if (ids[t] < 0 || (guint) ids[t] >= c->vocab_size)
      {
        g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                     "token id %d at position %u is outside the vocabulary (size %u)", ids[t], t,
                     c->vocab_size);
        return FALSE;
      }
  if (c->max_positions > 0 && T > c->max_positions)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                   "%u tokens exceed the model's %u learned positions", T, c->max_positions);
      return FALSE;
    }

  Forward fw = { 0 };
  fw.n_threads = options->n_threads ? options->n_threads : g_get_num_processors ();
  openblas_set_num_threads (1); /* we split the work ourselves (see linear()) */
  fw.model = model;
  fw.opt = options;
  fw.T = T;
  fw.row_block = options->row_block ? MIN (options->row_block, T) : default_row_block (T);
  if (options->observers != NULL)
    for (AtsObserver **o = options->observers; *o != NULL; o++)
      {
        fw.n_observers++;
        fw.want_scores |= (*o)->want_scores;
        fw.second_pass |= (*o)->second_pass;
      }
  fw.observers = options->observers;
  fw.progress_total = c->n_layers + 1;

  gsize TD = (gsize) T * D;
  fw.x = g_try_new (float, TD);
  fw.h = g_try_new (float, TD);
  fw.tmp = g_try_new (float, TD);
  fw.q = g_try_new (float, (gsize) T *H *hs);
  fw.att = g_try_new (float, (gsize) T *H *hs);
  fw.k = g_try_new (float, (gsize) T *Hkv *hs);
  fw.v = g_try_new (float, (gsize) T *Hkv *hs);
  fw.qkv = c->arch == ATS_ARCH_LLAMA ? g_new (float, 1) : g_try_new (float, TD * 3);
  fw.ff1 = g_try_new (float, (gsize) T *F);
  fw.ff2 = g_try_new (float, (gsize) T *F);
  fw.scores = g_try_new (float, (gsize) fw.n_threads *fw.row_block *T);
  fw.probs = g_try_new (float, (gsize) fw.n_threads *fw.row_block *T);
  g_mutex_init (&fw.deliver_lock);
  if (!fw.x || !fw.h || !fw.tmp || !fw.q || !fw.att || !fw.k || !fw.v || !fw.qkv || !fw.ff1 ||
      !fw.ff2 || !fw.scores || !fw.probs)
    {
      g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT, "out of memory for %u tokens", T);
      forward_clear (&fw);
      return FALSE;
    }

  gboolean ok = TRUE;
  for (guint o = 0; ok && o < fw.n_observers; o++)
    if (fw.observers[o]->begin != NULL)
      ok = fw.observers[o]->begin (fw.observers[o], model, ids, T, error);

  /* x[T, D] = embed[ids] (+ positions) */
  for (guint t = 0; ok && t < T; t++)
    {
      memcpy (fw.x + (gsize) t * D, model->tok_embed + (gsize) ids[t] * D, D * sizeof (float));
      if (model->pos_embed != NULL)
        for (guint d = 0; d < D; d++)
          fw.x[(gsize) t * D + d] += model->pos_embed[(gsize) t * D + d];
    }

  for (guint l = 0; ok && l < c->n_layers; l++)
    {
      const AtsLayer *layer = &model->layers[l];
      ok = observe_residual (&fw, l, error) && check_cancel (&fw, error);
      if (!ok)
        break;

      norm_rows (c, &layer->attn_norm, fw.x, T, fw.h);
      project_qkv (&fw, layer);
      if (!(ok = attention_layer (&fw, l, error)))
        break;
      linear (&fw, &layer->o, fw.att, fw.tmp); /* [T, D] attention output */

      if (c->parallel_residual)
        {
          /* x = x + attn(ln1(x)) + mlp(ln2(x)) */
          norm_rows (c, &layer->mlp_norm, fw.x, T, fw.h);
          for (gsize i = 0; i < TD; i++)
            fw.x[i] += fw.tmp[i];
          mlp (&fw, layer, fw.h, fw.tmp);
        }
      else
        {
          for (gsize i = 0; i < TD; i++)
            fw.x[i] += fw.tmp[i];
          norm_rows (c, &layer->mlp_norm, fw.x, T, fw.h);
          mlp (&fw, layer, fw.h, fw.tmp);
        }
      for (gsize i = 0; i < TD; i++)
        fw.x[i] += fw.tmp[i];
      fw.progress_done = l + 1;
    }

  if (ok)
    ok = observe_residual (&fw, c->n_layers, error);

  float *logits = NULL;
  if (ok && options->want_logits)
    {
      /* logits[T, V] = norm(x) . lm_head^T */
      norm_rows (c, &model->final_norm, fw.x, T, fw.h);
      logits = g_try_new (float, (gsize) T * c->vocab_size);
      if (logits == NULL)
        {
          g_set_error (error, ATS_MODEL_ERROR, ATS_MODEL_ERROR_INPUT,
                       "out of memory for [%u, %u] logits", T, c->vocab_size);
          ok = FALSE;
        }
      else
        {
          /* logits[T, V] = h[T, D] . lm_head[V, D]^T */
          AtsLinear head = { model->lm_head, NULL, D, c->vocab_size, TRUE };
          linear (&fw, &head, fw.h, logits);
        }
    }
  for (guint o = 0; ok && o < fw.n_observers; o++)
    if (fw.observers[o]->end != NULL)
      ok = fw.observers[o]->end (fw.observers[o], logits, error);
  if (ok && options->progress)
    options->progress (1.0, options->progress_data);

  forward_clear (&fw);
  if (ok && logits_out)
    *logits_out = logits;
  else
    g_free (logits);
  return ok;
}
