/* ats-export.c — PNG / SVG / PDF export of figures, written atomically */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>

#include "attnscope/ats-error.h"
#include "ats-export.h"

#ifndef ATS_VERSION
#define ATS_VERSION "dev"
#endif

/* Largest raster we agree to allocate (pixels per side). */
#define MAX_PNG_SIDE 32767

static const char *format_names[] = { "auto", "png", "svg", "pdf" };

/**
 * ats_export_format_from_string:
 * @name: "png", "svg" or "pdf" (case-insensitive)
 */
gboolean
ats_export_format_from_string (const char *name, AtsExportFormat *out_format, GError **error)
{
  for (guint i = 1; name != NULL && i < G_N_ELEMENTS (format_names); i++)
    if (g_ascii_strcasecmp (name, format_names[i]) == 0)
      {
        *out_format = (AtsExportFormat) i;
        return TRUE;
      }
  g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT,
               "Unknown image format '%s' (expected png, svg or pdf)", name ? name : "(null)");
  return FALSE;
}

/**
 * ats_export_format_from_path:
 *
 * Picks the format from @path's extension (.png, .svg, .pdf; case-insensitive).
 */
gboolean
ats_export_format_from_path (const char *path, AtsExportFormat *out_format, GError **error)
{
  const char *dot = path ? strrchr (path, '.') : NULL;

  if (dot != NULL && strchr (dot, G_DIR_SEPARATOR) == NULL &&
      ats_export_format_from_string (dot + 1, out_format, NULL))
    return TRUE;
  g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT,
               "Cannot tell the image format of '%s' (use a .png, .svg or .pdf name)",
               path ? path : "(null)");
  return FALSE;
}

static cairo_status_t
append_bytes (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

static guint32
crc32_update (guint32 crc, const guint8 *data, gsize len)
{
  crc = ~crc;
  for (gsize i = 0; i < len; i++)
    {
      crc ^= data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  return ~crc;
}

static void
put_be32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };

  g_byte_array_append (out, b, 4);
}

/* An iTXt chunk (UTF-8 text, uncompressed). */
static void
png_append_itxt (GByteArray *out, const char *keyword, const char *text)
{
  g_autoptr (GByteArray) chunk = g_byte_array_new ();
  static const guint8 zeros[4] = { 0, 0, 0, 0 };

  g_byte_array_append (chunk, (const guint8 *) "iTXt", 4);
  g_byte_array_append (chunk, (const guint8 *) keyword, strlen (keyword));
  /* NUL, compression flag, compression method, empty language tag NUL, empty keyword NUL */
  g_byte_array_append (chunk, zeros, 4);
  g_byte_array_append (chunk, zeros, 1);
  g_byte_array_append (chunk, (const guint8 *) text, strlen (text));

  put_be32 (out, chunk->len - 4);
  g_byte_array_append (out, chunk->data, chunk->len);
  put_be32 (out, crc32_update (0, chunk->data, chunk->len));
}

/* Inserts the metadata chunks right after IHDR (signature 8 bytes + IHDR 25 bytes). */
static GByteArray *
png_add_metadata (GByteArray *png, const AtsExportMetadata *md)
{
  GByteArray *out;
  const gsize head = 8 + 25;

  if (png->len < head || memcmp (png->data + 12, "IHDR", 4) != 0)
    return g_byte_array_ref (png);
  out = g_byte_array_sized_new (png->len + 512);
  g_byte_array_append (out, png->data, head);
  if (md && md->title)
    png_append_itxt (out, "Title", md->title);
  if (md && md->description)
    png_append_itxt (out, "Description", md->description);
  png_append_itxt (out, "Software", md && md->software ? md->software : "attnscope " ATS_VERSION);
  g_byte_array_append (out, png->data + head, png->len - head);
  return out;
}

/* Inserts <title> and <desc> as the first children of the root <svg> element. */
static GByteArray *
svg_add_metadata (GByteArray *svg, const AtsExportMetadata *md)
{
  GByteArray *out;
  const char *start, *root, *end;
  GString    *meta;

  if (md == NULL || (md->title == NULL && md->description == NULL))
    return g_byte_array_ref (svg);
  start = (const char *) svg->data;
  root = g_strstr_len (start, svg->len, "<svg");
  end = root ? memchr (root, '>', svg->len - (root - start)) : NULL;
  if (end == NULL)
    return g_byte_array_ref (svg);

  meta = g_string_new ("\n");
  if (md->title)
    {
      g_autofree char *esc = g_markup_escape_text (md->title, -1);
      g_string_append_printf (meta, "<title>%s</title>\n", esc);
    }
  if (md->description)
    {
      g_autofree char *esc = g_markup_escape_text (md->description, -1);
      g_string_append_printf (meta, "<desc>%s</desc>\n", esc);
    }
  out = g_byte_array_sized_new (svg->len + meta->len);
  g_byte_array_append (out, svg->data, end + 1 - start);
  g_byte_array_append (out, (const guint8 *) meta->str, meta->len);
  g_byte_array_append (out, (const guint8 *) end + 1, svg->len - (end + 1 - start));
  g_string_free (meta, TRUE);
  return out;
}

static gboolean
check_status (cairo_status_t status, const char *what, GError **error)
{
  if (status == CAIRO_STATUS_SUCCESS)
    return TRUE;
  g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_IO, "Cannot render %s: %s", what,
               cairo_status_to_string (status));
  return FALSE;
}

/**
 * ats_export_to_bytes:
 * @format: PNG, SVG or PDF (not AUTO)
 *
 * Renders a figure into a complete file image in memory (see ats-export.h for sizes).
 *
 * Returns: (transfer full): the file contents, or %NULL with @error set
 */
GBytes *
ats_export_to_bytes (AtsExportFormat          format,
                     double                   width,
                     double                   height,
                     double                   dpi,
                     const AtsExportMetadata *metadata,
                     AtsDrawFunc              draw,
                     gpointer                 user_data,
                     GError                 **error)
{
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (GByteArray) final = NULL;
  cairo_surface_t *surface = NULL;
  cairo_t         *cr;
  cairo_status_t   status;
  double           scale = dpi > 0 ? dpi / 72.0 : 1.0;

  g_return_val_if_fail (draw != NULL, NULL);

  if (!(width > 0 && height > 0) || !isfinite (width) || !isfinite (height))
    {
      g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT, "Invalid figure size %g x %g",
                   width, height);
      return NULL;
    }

  switch (format)
    {
    case ATS_EXPORT_FORMAT_PNG:
      {
        double pw = ceil (width * scale - 1e-6), ph = ceil (height * scale - 1e-6);

        if (pw > MAX_PNG_SIDE || ph > MAX_PNG_SIDE)
          {
            g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT,
                         "PNG of %.0f x %.0f pixels is too large (at most %d per side)", pw, ph,
                         MAX_PNG_SIDE);
            return NULL;
          }
        surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) pw, (int) ph);
        break;
      }
    case ATS_EXPORT_FORMAT_SVG:
      surface = cairo_svg_surface_create_for_stream (append_bytes, buf, width, height);
      cairo_svg_surface_set_document_unit (surface, CAIRO_SVG_UNIT_PT);
      scale = 1.0;
      break;
    case ATS_EXPORT_FORMAT_PDF:
      surface = cairo_pdf_surface_create_for_stream (append_bytes, buf, width, height);
      if (metadata && metadata->title)
        cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_TITLE, metadata->title);
      if (metadata && metadata->description)
        cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_SUBJECT, metadata->description);
      cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_CREATOR,
                                      metadata && metadata->software ? metadata->software
                                                                     : "attnscope " ATS_VERSION);
      scale = 1.0;
      break;
    case ATS_EXPORT_FORMAT_AUTO:
    default:
      g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_INPUT,
                   "No image format given (png, svg or pdf)");
      return NULL;
    }

  if (!check_status (cairo_surface_status (surface), "the figure", error))
    {
      cairo_surface_destroy (surface);
      return NULL;
    }

  cr = cairo_create (surface);
  cairo_scale (cr, scale, scale);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  draw (cr, width, height, user_data);
  status = cairo_status (cr);
  cairo_destroy (cr);

  if (status == CAIRO_STATUS_SUCCESS && format == ATS_EXPORT_FORMAT_PNG)
    status = cairo_surface_write_to_png_stream (surface, append_bytes, buf);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (!check_status (status, "the figure", error))
    return NULL;

  if (format == ATS_EXPORT_FORMAT_PNG)
    final = png_add_metadata (buf, metadata);
  else if (format == ATS_EXPORT_FORMAT_SVG)
    final = svg_add_metadata (buf, metadata);
  else
    final = g_byte_array_ref (buf);
  return g_byte_array_free_to_bytes (g_steal_pointer (&final));
}

/**
 * ats_export:
 * @path: output file; its directory must exist
 * @format: the format, or %ATS_EXPORT_FORMAT_AUTO to take it from @path's extension
 * @width, @height: figure size in points; @dpi: PNG resolution (<= 0: 72)
 * @metadata: (nullable): title / provenance embedded in the file
 * @draw: the figure's draw function, called once with (cr, @width, @height, @user_data)
 *
 * Renders the figure and saves it atomically (see ats-export.h).
 *
 * Returns: %TRUE on success; else %FALSE with %ATS_RENDER_ERROR_IO naming @path (nothing is
 *   left at @path, an existing file is untouched) or %ATS_RENDER_ERROR_INPUT.
 */
gboolean
ats_export (const char              *path,
            AtsExportFormat          format,
            double                   width,
            double                   height,
            double                   dpi,
            const AtsExportMetadata *metadata,
            AtsDrawFunc              draw,
            gpointer                 user_data,
            GError                 **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local = NULL;
  gsize         size;
  gconstpointer data;

  g_return_val_if_fail (path != NULL, FALSE);

  if (format == ATS_EXPORT_FORMAT_AUTO && !ats_export_format_from_path (path, &format, error))
    return FALSE;

  bytes = ats_export_to_bytes (format, width, height, dpi, metadata, draw, user_data, error);
  if (bytes == NULL)
    return FALSE;

  data = g_bytes_get_data (bytes, &size);
  if (!g_file_set_contents_full (path, data, size, G_FILE_SET_CONTENTS_CONSISTENT, 0666, &local))
    {
      g_set_error (error, ATS_RENDER_ERROR, ATS_RENDER_ERROR_IO, "Cannot write '%s': %s", path,
                   local->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- figure wrappers ---- */

static void
draw_heatmap_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heatmap_draw (data, cr, w, h);
}

static void
draw_grid_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heatmap_grid_draw (data, cr, w, h);
}

static void
draw_plot_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_plot_draw (data, cr, w, h);
}

static void
draw_matrix_cb (cairo_t *cr, double w, double h, gpointer data)
{
  ats_heat_matrix_draw (data, cr, w, h);
}

/**
 * ats_export_heatmap:
 *
 * ats_export() of ats_heatmap_draw(). The other ats_export_*() functions are the same for
 * their figure.
 */
gboolean
ats_export_heatmap (const AtsHeatmap        *heatmap,
                    const char              *path,
                    AtsExportFormat          format,
                    double                   width,
                    double                   height,
                    double                   dpi,
                    const AtsExportMetadata *metadata,
                    GError                 **error)
{
  return ats_export (path, format, width, height, dpi, metadata, draw_heatmap_cb,
                     (gpointer) heatmap, error);
}

gboolean
ats_export_heatmap_grid (const AtsHeatmapGrid    *grid,
                         const char              *path,
                         AtsExportFormat          format,
                         double                   width,
                         double                   height,
                         double                   dpi,
                         const AtsExportMetadata *metadata,
                         GError                 **error)
{
  return ats_export (path, format, width, height, dpi, metadata, draw_grid_cb, (gpointer) grid,
                     error);
}

gboolean
ats_export_plot (AtsPlot                 *plot,
                 const char              *path,
                 AtsExportFormat          format,
                 double                   width,
                 double                   height,
                 double                   dpi,
                 const AtsExportMetadata *metadata,
                 GError                 **error)
{
  return ats_export (path, format, width, height, dpi, metadata, draw_plot_cb, plot, error);
}

gboolean
ats_export_heat_matrix (const AtsHeatMatrix     *matrix,
                        const char              *path,
                        AtsExportFormat          format,
                        double                   width,
                        double                   height,
                        double                   dpi,
                        const AtsExportMetadata *metadata,
                        GError                 **error)
{
  return ats_export (path, format, width, height, dpi, metadata, draw_matrix_cb, (gpointer) matrix,
                     error);
}
