/* ats-lazy-figures.h — figures of Lazy Attention's learned parameters (REFERENCE §1)
 *
 * tau map: the per-head Elastic-Softmax offsets tau [L, H] as a layers x heads heat matrix, with
 * a side plot of the per-layer mean over heads (± the standard deviation over heads).
 *
 * bias curves: the learned distance bias b_h[d] (d = i - j, entry d of the [L, H, W] table) per
 * head against distance, one panel per layer, log x axis. A log axis cannot show d = 0, so the
 * x coordinate is d + 1 and the axis says so. All panels share one y range; head h has the same
 * colour in every panel (one legend on the right). Distances beyond the table have bias 0.
 *
 * Both draw into (0, 0, width, height) of a cairo_t (an AtsDrawFunc with the figure as
 * user_data; see ats-export.h).
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-colormap.h"

G_BEGIN_DECLS

typedef struct
{
  const float *tau;  /* [n_layers, n_heads], borrowed; needed for the tau map */
  const float *bias; /* [n_layers, n_heads, bias_window], borrowed; needed for the curves */
  int          n_layers;
  int          n_heads;
  int          bias_window; /* entries per head (distances 0 .. bias_window - 1) */
  const char  *title;       /* nullable */
  const char  *footer;      /* nullable: provenance, lines separated by '\n' */
  AtsColormap  colormap;    /* tau map colours, default viridis */
  int          n_cols;      /* bias panels per row; <= 0: ceil(sqrt(n_layers)) */
} AtsLazyFigure;

void ats_lazy_figure_init (AtsLazyFigure *fig,
                           const float   *tau,
                           const float   *bias,
                           int            n_layers,
                           int            n_heads,
                           int            bias_window);
/* Per-layer mean and standard deviation (population, over heads) of tau: [n_layers] each. */
void ats_lazy_figure_layer_tau (const AtsLazyFigure *fig, double *mean, double *std);
void ats_lazy_draw_tau_map (const AtsLazyFigure *fig, cairo_t *cr, double width, double height);
void ats_lazy_draw_bias_curves (const AtsLazyFigure *fig, cairo_t *cr, double width, double height);

G_END_DECLS
