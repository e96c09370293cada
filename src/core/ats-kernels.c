/* ats-kernels.c — vectorised elementwise kernels (see ats-kernels-private.h) */
#include <math.h>
#include <string.h>

#include "attnscope/ats-safetensors.h"
#include "ats-kernels-private.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ATS_MULTIVERSION __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#else
#define ATS_MULTIVERSION
#endif

/* exp(x) as 2^n * p(r), x = n ln2 + r; branch-free so loops around it vectorise. */
static inline float
exp_approx (float x)
{
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  /* round to nearest through the 1.5 * 2^23 trick: no libm call, so the loop vectorises */
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;   /* ln2, high part */
  r = r - n * 1.42860682030941723212e-6f; /* ln2, low part */
  /* Taylor-like minimax coefficients of exp on [-ln2/2, ln2/2] */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  gint32 bits = ((gint32) n + 127) << 23;
  float  scale;
  memcpy (&scale, &bits, sizeof scale);
  float y = p * scale;
  return x <= -87.3f ? 0.0f : y;
}

ATS_MULTIVERSION void
_ats_exp_shifted (const float *s, float shift, float *p, guint n)
{
  for (guint j = 0; j < n; j++)
    p[j] = exp_approx (s[j] - shift);
}

ATS_MULTIVERSION void
_ats_gelu_tanh (float *a, gsize n)
{
  /* 0.5 x (1 + tanh u) == x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3) */
  for (gsize i = 0; i < n; i++)
    {
      float x = a[i];
      float u = -1.5957691216057308f * (x + 0.044715f * x * x * x);
      a[i] = x / (1.0f + exp_approx (u));
    }
}

ATS_MULTIVERSION void
_ats_swiglu (float *a, const float *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    a[i] = a[i] / (1.0f + exp_approx (-a[i])) * b[i];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__ ((target ("avx,f16c"))) static void
f32_to_f16_f16c (const float *src, guint16 *dst, gsize n)
{
  gsize i = 0;
  for (; i + 8 <= n; i += 8)
    {
      __m256  x = _mm256_loadu_ps (src + i);
      __m128i h = _mm256_cvtps_ph (x, _MM_FROUND_TO_NEAREST_INT);
      _mm_storeu_si128 ((__m128i *) (dst + i), h);
    }
  for (; i < n; i++)
    dst[i] = ats_f32_to_f16 (src[i]);
}
#endif

void
_ats_f32_to_f16_row (const float *src, guint16 *dst, gsize n)
{
#if defined(__x86_64__) && defined(__GNUC__)
  static int has_f16c = -1;
  if (has_f16c < 0)
    {
      __builtin_cpu_init ();
      has_f16c = __builtin_cpu_supports ("f16c") && __builtin_cpu_supports ("avx");
    }
  if (has_f16c)
    {
      f32_to_f16_f16c (src, dst, n);
      return;
    }
#endif
  for (gsize i = 0; i < n; i++)
    dst[i] = ats_f32_to_f16 (src[i]);
}

ATS_MULTIVERSION void
_ats_max_pool_row (const float *row, guint n, const guint *edges, guint n_bins, float *dst)
{
  for (guint p = 0; p < n_bins && edges[p] < n; p++)
    {
      guint j = edges[p], end = MIN (edges[p + 1], n);
      /* eight independent maxima: no reassociation needed for the loop to vectorise */
      float m[8] = { dst[p], dst[p], dst[p], dst[p], dst[p], dst[p], dst[p], dst[p] };
      for (; j + 8 <= end; j += 8)
        for (guint k = 0; k < 8; k++)
          m[k] = row[j + k] > m[k] ? row[j + k] : m[k];
      for (; j < end; j++)
        m[0] = row[j] > m[0] ? row[j] : m[0];
      float best = m[0];
      for (guint k = 1; k < 8; k++)
        best = m[k] > best ? m[k] : best;
      dst[p] = best;
    }
}

ATS_MULTIVERSION float
_ats_row_max (const float *x, guint n)
{
  float m[8];
  guint j = 0;
  for (guint k = 0; k < 8; k++)
    m[k] = x[0];
  for (; j + 8 <= n; j += 8)
    for (guint k = 0; k < 8; k++)
      m[k] = x[j + k] > m[k] ? x[j + k] : m[k];
  for (; j < n; j++)
    m[0] = x[j] > m[0] ? x[j] : m[0];
  float best = m[0];
  for (guint k = 1; k < 8; k++)
    best = m[k] > best ? m[k] : best;
  return best;
}

ATS_MULTIVERSION double
_ats_row_sum (const float *x, guint n)
{
  double s[8] = { 0 };
  guint  j = 0;
  for (; j + 8 <= n; j += 8)
    for (guint k = 0; k < 8; k++)
      s[k] += x[j + k];
  for (; j < n; j++)
    s[0] += x[j];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
