/* ats-token-view.h — the prompt as flowing token chips
 *
 * Clicking a token selects it; the other tokens are then tinted by the current head's weights:
 * in query mode by what the selected token attends to (its row), in key mode by who attends
 * to it (its column). Each tint is the weight divided by the largest weight shown. Sink tokens
 * (sink score above eps for this head) carry a marker.
 */
#pragma once

#include <gtk/gtk.h>

#include "ats-matrix.h"

G_BEGIN_DECLS

#define ATS_TYPE_TOKEN_VIEW (ats_token_view_get_type ())

G_DECLARE_FINAL_TYPE (AtsTokenView, ats_token_view, ATS, TOKEN_VIEW, GtkWidget)

typedef enum
{
  ATS_TOKEN_MODE_QUERY, /* the selected token's row: what it attends to */
  ATS_TOKEN_MODE_KEY,   /* the selected token's column: who attends to it */
} AtsTokenMode;

GtkWidget *ats_token_view_new (void);
void       ats_token_view_set_tokens (AtsTokenView *self, const char *const *pieces);
guint      ats_token_view_get_n_tokens (AtsTokenView *self);
/* The head's map [T, T] (NULL: no tint). */
void ats_token_view_set_matrix (AtsTokenView *self, AtsMatrix *matrix);
/* [T] booleans, or NULL. */
void         ats_token_view_set_sinks (AtsTokenView *self, const gboolean *sinks, guint n);
gboolean     ats_token_view_is_sink (AtsTokenView *self, guint token);
void         ats_token_view_set_mode (AtsTokenView *self, AtsTokenMode mode);
AtsTokenMode ats_token_view_get_mode (AtsTokenView *self);
/* -1: none */
void ats_token_view_set_selected (AtsTokenView *self, int token);
int  ats_token_view_get_selected (AtsTokenView *self);
/* The weight that tints @token (NaN when nothing is selected or it is not visible). */
double ats_token_view_get_weight (AtsTokenView *self, guint token);
/* The tint in [0, 1] of @token. */
double   ats_token_view_get_intensity (AtsTokenView *self, guint token);
int      ats_token_view_pixel_to_token (AtsTokenView *self, double x, double y);
gboolean ats_token_view_get_token_rect (AtsTokenView *self, guint token, graphene_rect_t *rect);

G_END_DECLS
