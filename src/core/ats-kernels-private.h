/* ats-kernels-private.h — vectorised elementwise kernels of the forward pass
 *
 * Built with -O3 and function multi-versioning (AVX-512 / AVX2 / baseline, chosen at load time),
 * so the exp-heavy loops (softmax, GELU, SiLU) run 8 or 16 lanes wide where the CPU allows.
 * The exp is our own: range reduction to r in [-ln2/2, ln2/2] and a degree-6 polynomial,
 * relative error below 2e-7 over the float range, inputs below -87.3 give 0.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* p[j] = exp(s[j] - shift) for j < n */
void _ats_exp_shifted (const float *s, float shift, float *p, guint n);
/* a[i] = gelu_tanh(a[i]) (GPT-2's tanh approximation) */
void _ats_gelu_tanh (float *a, gsize n);
/* a[i] = silu(a[i]) * b[i] (SwiGLU) */
void _ats_swiglu (float *a, const float *b, gsize n);

G_END_DECLS

G_BEGIN_DECLS

/* dst[i] = IEEE half of src[i], round to nearest even (F16C when the CPU has it) */
void _ats_f32_to_f16_row (const float *src, guint16 *dst, gsize n);
/* dst[p] = max(dst[p], max of row[j] for j in [edges[p], edges[p+1]) and j < n), p < n_bins */
void _ats_max_pool_row (const float *row, guint n, const guint *edges, guint n_bins, float *dst);

G_END_DECLS

G_BEGIN_DECLS

/* max of x[0..n) (n >= 1) */
float _ats_row_max (const float *x, guint n);
/* sum of x[0..n) accumulated in double */
double _ats_row_sum (const float *x, guint n);

G_END_DECLS
