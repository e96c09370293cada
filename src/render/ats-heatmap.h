/* ats-heatmap.h — attention heatmaps: one head, and grids of heads
 *
 * A map is a row-major float matrix [n_rows, n_cols] (queries i x keys j). With @causal set,
 * cells with j > i are "not visible": drawn in a neutral grey (or hatched), never as zero.
 *
 * Downsampling rule: when a view has more rows (columns) than the image has pixels, pixel p
 * covers the inputs i with floor(i * n_pixels / n_inputs) == p (contiguous blocks of floor or
 * ceil n_inputs / n_pixels cells), and its value is the maximum (ATS_POOLING_MAX, default), the
 * mean (ATS_POOLING_MEAN) or the value of largest magnitude (ATS_POOLING_MAX_ABS, for signed
 * difference maps) of the block's visible, non-NaN cells. Max pooling keeps a one-key sink
 * column at full brightness at any size. A block with no visible cell is drawn "not visible".
 * When a view has fewer cells than pixels, the image has one pixel per cell and is drawn
 * enlarged with nearest-neighbour filtering (ats_heatmap_paint_image()).
 *
 * Every figure is a "draw into a cairo_t of width x height user units" function; see
 * ats-export.h to write one to PNG, SVG or PDF.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-colormap.h"

G_BEGIN_DECLS

typedef enum
{
  ATS_POOLING_MAX, /* default */
  ATS_POOLING_MEAN,
  ATS_POOLING_MAX_ABS,
} AtsPooling;

typedef enum
{
  ATS_MASK_STYLE_AUTO,  /* grey fill; hatched for the grey and diverging colormaps */
  ATS_MASK_STYLE_FILL,  /* neutral grey fill */
  ATS_MASK_STYLE_HATCH, /* neutral grey with diagonal hatching */
} AtsMaskStyle;

/* Neutral grey of "not visible" (causally masked) cells, 0xRRGGBB. */
#define ATS_HEATMAP_MASKED_RGB 0xdcdcdc

typedef struct
{
  int row0;   /* first row shown */
  int col0;   /* first column shown */
  int n_rows; /* rows shown; <= 0: to the last row */
  int n_cols; /* columns shown; <= 0: to the last column */
} AtsViewRect;

typedef struct
{
  const float       *data; /* [n_rows, n_cols] row-major, borrowed */
  int                n_rows;
  int                n_cols;
  const char *const *row_labels; /* [n_rows] query tokens, or NULL */
  const char *const *col_labels; /* [n_cols] key tokens, or NULL (= row_labels if square) */
  const char        *title;
  const char        *footer;         /* provenance; lines separated by '\n' */
  const char        *x_label;        /* default "key position j" */
  const char        *y_label;        /* default "query position i" */
  const char        *colorbar_label; /* default "attention weight" */
  AtsColormap        colormap;       /* default viridis */
  AtsScale           scale;          /* default linear, automatic range [min(0, min), max] */
  AtsPooling         pooling;        /* default max */
  gboolean           causal;         /* default TRUE: j > i drawn as not visible */
  AtsMaskStyle       mask_style;
  gboolean           mark_zeros;   /* visible exact zeros in zero_rgb (Elastic-Softmax) */
  guint32            zero_rgb;     /* default white */
  gboolean           show_pooling; /* default TRUE: footer line stating the downsampling */
  AtsViewRect        view;         /* default all zero: the whole map */
} AtsHeatmap;

void ats_heatmap_init (AtsHeatmap *heatmap, const float *data, int n_rows, int n_cols);
void ats_heatmap_get_view (const AtsHeatmap *heatmap, AtsViewRect *out_view);
void ats_heatmap_get_data_range (const AtsHeatmap *heatmap, double *out_min, double *out_max);
void ats_heatmap_resolve_scale (const AtsHeatmap *heatmap, AtsScale *out_scale);
cairo_surface_t *ats_heatmap_render_image (const AtsHeatmap  *heatmap,
                                           const AtsScale    *scale,
                                           const AtsViewRect *view,
                                           int                max_width,
                                           int                max_height);
void             ats_heatmap_paint_image (cairo_t         *cr,
                                          cairo_surface_t *image,
                                          double           x,
                                          double           y,
                                          double           width,
                                          double           height);
void             ats_heatmap_draw_map (const AtsHeatmap *heatmap,
                                       const AtsScale   *scale,
                                       cairo_t          *cr,
                                       double            x,
                                       double            y,
                                       double            width,
                                       double            height);
void             ats_heatmap_get_plot_rect (const AtsHeatmap *heatmap,
                                            cairo_t          *cr,
                                            double            width,
                                            double            height,
                                            double           *out_x,
                                            double           *out_y,
                                            double           *out_width,
                                            double           *out_height);
void ats_heatmap_draw (const AtsHeatmap *heatmap, cairo_t *cr, double width, double height);

typedef struct
{
  const float *const *maps; /* [n_maps] pointers, each [T, T] row-major; a NULL entry is blank */
  int                 n_maps;
  int                 T;
  int                 n_cols;            /* grid columns; <= 0: ceil(sqrt(n_maps)) */
  const char *const  *cell_labels;       /* [n_maps] captions, or NULL */
  const char         *cell_label_format; /* printf with one %d (map index), when no cell_labels */
  const char *const  *row_labels;        /* [grid rows] headers on the left, or NULL */
  const char         *row_label_format;  /* printf with one %d (grid row), when no row_labels */
  const char *const  *col_labels;        /* [n_cols] headers on top, or NULL */
  const char         *col_label_format;  /* printf with one %d (grid column), when no col_labels */
  const char         *title;
  const char         *footer;
  const char         *colorbar_label;
  AtsColormap         colormap;
  AtsScale            scale;         /* shared by all cells (automatic: over all maps) */
  gboolean            per_map_range; /* each map scaled to its own range instead */
  AtsPooling          pooling;
  gboolean            causal;
  AtsMaskStyle        mask_style;
} AtsHeatmapGrid;

void
ats_heatmap_grid_init_layer (AtsHeatmapGrid *grid, const float *const *heads, int n_heads, int T);
void ats_heatmap_grid_init_overview (AtsHeatmapGrid     *grid,
                                     const float *const *maps,
                                     int                 n_layers,
                                     int                 n_heads,
                                     int                 T);
void ats_heatmap_grid_draw (const AtsHeatmapGrid *grid, cairo_t *cr, double width, double height);

G_END_DECLS
