/* ats-merge-private.h — shared between the merge engine and the in-memory merged model */
#pragma once

#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-merge.h"

G_BEGIN_DECLS

struct _AtsMerge
{
  char          *base_dir;
  GPtrArray     *tuned_dirs; /* char* */
  AtsCheckpoint *base;
  GPtrArray     *tuned; /* AtsCheckpoint* */
  guint          n_unsupported;
  /* compiled `only` filter of the last params seen */
  char    *filter_text;
  gboolean filter_all;
  guint    filter_groups; /* AtsTensorGroup mask, or 0 with a regex */
  GRegex  *filter_regex;
  /* in-memory merges */
  AtsModel *template_model; /* base, loaded once */
};

/* Merges tensor @name into @dst, which holds numel x dtype-size bytes in the tensor's stored
 * dtype (little-endian). */
gboolean _ats_merge_tensor_to_memory (AtsMerge             *self,
                                      const AtsMergeParams *params,
                                      const char           *name,
                                      guint8               *dst,
                                      GError              **error);

/* Drops the pages of [p, p + n) of a read-only mapping from the process (the page cache keeps
 * them; a later access faults them back in): streaming passes stay small in RSS. */
void _ats_release_pages (const guint8 *p, gsize n);

G_END_DECLS
