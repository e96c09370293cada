/* ats-export.h — write figures to PNG, SVG or PDF
 *
 * Every figure of libattnscope-render is a function drawing into (0, 0, width, height) of a
 * cairo_t (AtsDrawFunc); ats_export() runs one against a PNG, SVG or PDF surface. Sizes are in
 * points (1/72 inch): a PNG has ceil(width * dpi / 72) x ceil(height * dpi / 72) pixels
 * (dpi <= 0 means 72: one pixel per point); SVG and PDF pages are width x height points, text
 * stays text (PDF: embedded font subset; SVG: cairo emits glyph outlines) and heatmaps are
 * embedded as images.
 *
 * The file is written completely in memory first, then saved atomically (temporary file in the
 * target's directory, renamed on success), so a failed export never leaves a partial file and
 * never clobbers an existing one. Metadata goes into the PDF info dictionary, PNG iTXt chunks
 * (Title, Description, Software) and SVG <title>/<desc>.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ats-heatmap.h"
#include "ats-plot.h"

G_BEGIN_DECLS

typedef enum
{
  ATS_EXPORT_FORMAT_AUTO, /* from the file name's extension */
  ATS_EXPORT_FORMAT_PNG,
  ATS_EXPORT_FORMAT_SVG,
  ATS_EXPORT_FORMAT_PDF,
} AtsExportFormat;

typedef void (*AtsDrawFunc) (cairo_t *cr, double width, double height, gpointer user_data);

typedef struct
{
  const char *title;       /* nullable */
  const char *description; /* nullable: provenance (model, run, layer, head, prompt, dtype) */
  const char *software;    /* nullable: default "attnscope <version>" */
} AtsExportMetadata;

gboolean
ats_export_format_from_path (const char *path, AtsExportFormat *out_format, GError **error);
gboolean
ats_export_format_from_string (const char *name, AtsExportFormat *out_format, GError **error);
gboolean ats_export (const char              *path,
                     AtsExportFormat          format,
                     double                   width,
                     double                   height,
                     double                   dpi,
                     const AtsExportMetadata *metadata,
                     AtsDrawFunc              draw,
                     gpointer                 user_data,
                     GError                 **error);
GBytes  *ats_export_to_bytes (AtsExportFormat          format,
                              double                   width,
                              double                   height,
                              double                   dpi,
                              const AtsExportMetadata *metadata,
                              AtsDrawFunc              draw,
                              gpointer                 user_data,
                              GError                 **error);

gboolean ats_export_heatmap (const AtsHeatmap        *heatmap,
                             const char              *path,
                             AtsExportFormat          format,
                             double                   width,
                             double                   height,
                             double                   dpi,
                             const AtsExportMetadata *metadata,
                             GError                 **error);
gboolean ats_export_heatmap_grid (const AtsHeatmapGrid    *grid,
                                  const char              *path,
                                  AtsExportFormat          format,
                                  double                   width,
                                  double                   height,
                                  double                   dpi,
                                  const AtsExportMetadata *metadata,
                                  GError                 **error);
gboolean ats_export_plot (AtsPlot                 *plot,
                          const char              *path,
                          AtsExportFormat          format,
                          double                   width,
                          double                   height,
                          double                   dpi,
                          const AtsExportMetadata *metadata,
                          GError                 **error);
gboolean ats_export_heat_matrix (const AtsHeatMatrix     *matrix,
                                 const char              *path,
                                 AtsExportFormat          format,
                                 double                   width,
                                 double                   height,
                                 double                   dpi,
                                 const AtsExportMetadata *metadata,
                                 GError                 **error);

G_END_DECLS
