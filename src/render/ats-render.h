/* ats-render.h — libattnscope-render: colormaps, heatmaps, plots and PNG/SVG/PDF export
 *
 * Cairo only (no GTK, no HDF5): the CLI and the GTK app draw through the same functions, so an
 * exported figure and the window show the same pixels.
 */
#pragma once

#include "ats-colormap.h"
#include "ats-export.h"
#include "ats-heatmap.h"
#include "ats-plot.h"
