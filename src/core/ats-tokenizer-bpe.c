/* ats-tokenizer-bpe.c — the BPE model: vocabulary, merge ranks, merge loop, word cache
 *
 * A word starts as one symbol per byte (byte-level models) or per character (SentencePiece
 * style); adjacent pairs that have a merge go into a binary heap ordered by (rank, position of
 * the left symbol in the word), the same order as Hugging Face tokenizers and transformers.js.
 * Symbols live in an array linked as a list; stale heap entries are recognised by their ids.
 * Results are cached per word (the raw UTF-8 bytes of the pre-token).
 */
#include <string.h>

#include "ats-tokenizer-private.h"

/* ---- string map --------------------------------------------------------------------------- */

typedef struct
{
  guint32 hash; /* low bits of the 64-bit hash */
  guint32 len;
  guint32 off;   /* key offset in the arena */
  gint32  value; /* -1: empty slot */
} StrSlot;

struct _AtsStrMap
{
  StrSlot *slots; /* [mask + 1] */
  guint    mask;
  guint    size;
  GString *arena;
};

static inline guint64
hash_bytes (const char *key, gsize len)
{
  guint64 h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
  gsize   i = 0;

  for (; i + 8 <= len; i += 8)
    {
      guint64 w;
      memcpy (&w, key + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
      h ^= h >> 29;
    }
  guint64 tail = 0;
  for (gsize j = 0; i + j < len; j++)
    tail |= (guint64) (guchar) key[i + j] << (8 * j);
  h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 32;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 29;
  return h;
}

AtsStrMap *
_ats_str_map_new (guint expected)
{
  AtsStrMap *map = g_new0 (AtsStrMap, 1);
  guint      cap = 64;

  while (cap < expected * 2)
    cap *= 2;
  map->mask = cap - 1;
  map->slots = g_new (StrSlot, cap);
  for (guint i = 0; i < cap; i++)
    map->slots[i].value = -1;
  map->arena = g_string_sized_new (expected * 8 + 16);
  return map;
}

void
_ats_str_map_free (AtsStrMap *map)
{
  if (map == NULL)
    return;
  g_free (map->slots);
  g_string_free (map->arena, TRUE);
  g_free (map);
}

void
_ats_str_map_clear (AtsStrMap *map)
{
  for (guint i = 0; i <= map->mask; i++)
    map->slots[i].value = -1;
  map->size = 0;
  g_string_truncate (map->arena, 0);
}

guint
_ats_str_map_size (const AtsStrMap *map)
{
  return map->size;
}

static void
str_map_grow (AtsStrMap *map)
{
  guint    old_cap = map->mask + 1, cap = old_cap * 2;
  StrSlot *old = map->slots;

  map->slots = g_new (StrSlot, cap);
  map->mask = cap - 1;
  for (guint i = 0; i < cap; i++)
    map->slots[i].value = -1;
  for (guint i = 0; i < old_cap; i++)
    if (old[i].value >= 0)
      {
        guint j = old[i].hash & map->mask; /* mask < 2^32: the low bits suffice */
        while (map->slots[j].value >= 0)
          j = (j + 1) & map->mask;
        map->slots[j] = old[i];
      }
  g_free (old);
}

static inline StrSlot *
str_map_find (const AtsStrMap *map, const char *key, gsize len, guint32 hash)
{
  guint j = hash & map->mask;

  for (;;)
    {
      StrSlot *s = &map->slots[j];
      if (s->value < 0)
        return s;
      if (s->hash == hash && s->len == len && memcmp (map->arena->str + s->off, key, len) == 0)
        return s;
      j = (j + 1) & map->mask;
    }
}

void
_ats_str_map_insert (AtsStrMap *map, const char *key, gsize len, gint32 value)
{
  g_return_if_fail (value >= 0);
  g_return_if_fail (map->arena->len + len < G_MAXUINT32);

  guint32  hash = (guint32) hash_bytes (key, len);
  StrSlot *s = str_map_find (map, key, len, hash);

  if (s->value >= 0)
    {
      s->value = value;
      return;
    }
  if ((map->size + 1) * 2 > map->mask + 1)
    {
      str_map_grow (map);
      s = str_map_find (map, key, len, hash);
    }
  s->hash = hash;
  s->len = len;
  s->off = map->arena->len;
  s->value = value;
  g_string_append_len (map->arena, key, len);
  map->size++;
}

gint32
_ats_str_map_lookup (const AtsStrMap *map, const char *key, gsize len)
{
  return str_map_find (map, key, len, (guint32) hash_bytes (key, len))->value;
}

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct
{
  guint64 key; /* left << 32 | right */
  guint32 rank;
  gint32  new_id; /* -1: empty slot */
} MergeSlot;

#define CACHE_MAX_WORD 256       /* bytes; longer words are not cached */
#define CACHE_MAX_ENTRIES 200000 /* cleared when full */

struct _AtsBpe
{
  AtsStrMap *vocab;       /* token -> id */
  GPtrArray *id_to_token; /* [V] char * or NULL */

  MergeSlot *merges; /* [merges_mask + 1] */
  guint      merges_mask;
  guint      n_merges;

  gint32 byte_ids[256];     /* byte-level: id of the character standing for each byte */
  gint32 fallback_ids[256]; /* byte fallback: ids of <0xNN> */
  gint32 unk_id;

  gboolean byte_level;
  gboolean byte_fallback;
  gboolean fuse_unk;
  gboolean ignore_merges;

  GMutex     cache_lock;
  AtsStrMap *cache;     /* word -> (offset in cache_ids << 8 | count) */
  GArray    *cache_ids; /* gint32 */
};

AtsBpe *
_ats_bpe_new (void)
{
  AtsBpe *bpe = g_new0 (AtsBpe, 1);

  bpe->vocab = _ats_str_map_new (1024);
  bpe->id_to_token = g_ptr_array_new_with_free_func (g_free);
  bpe->merges_mask = 1023;
  bpe->merges = g_new (MergeSlot, bpe->merges_mask + 1);
  for (guint i = 0; i <= bpe->merges_mask; i++)
    bpe->merges[i].new_id = -1;
  bpe->unk_id = -1;
  g_mutex_init (&bpe->cache_lock);
  bpe->cache = _ats_str_map_new (4096);
  bpe->cache_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  return bpe;
}

void
_ats_bpe_free (AtsBpe *bpe)
{
  if (bpe == NULL)
    return;
  _ats_str_map_free (bpe->vocab);
  g_ptr_array_unref (bpe->id_to_token);
  g_free (bpe->merges);
  g_mutex_clear (&bpe->cache_lock);
  _ats_str_map_free (bpe->cache);
  g_array_unref (bpe->cache_ids);
  g_free (bpe);
}

void
_ats_bpe_add_token (AtsBpe *bpe, const char *token, gsize len, gint32 id)
{
  g_return_if_fail (id >= 0);

  _ats_str_map_insert (bpe->vocab, token, len, id);
  if ((guint) id >= bpe->id_to_token->len)
    g_ptr_array_set_size (bpe->id_to_token, id + 1);
  g_free (bpe->id_to_token->pdata[id]);
  bpe->id_to_token->pdata[id] = g_strndup (token, len);
}

gint32
_ats_bpe_lookup (AtsBpe *bpe, const char *token, gsize len)
{
  return (gint32) _ats_str_map_lookup (bpe->vocab, token, len);
}

const char *
_ats_bpe_id_to_token (AtsBpe *bpe, gint32 id)
{
  if (id < 0 || (guint) id >= bpe->id_to_token->len)
    return NULL;
  return bpe->id_to_token->pdata[id];
}

guint
_ats_bpe_get_n_ids (AtsBpe *bpe)
{
  return bpe->id_to_token->len;
}

gint32
_ats_bpe_get_unk_id (AtsBpe *bpe)
{
  return bpe->unk_id;
}

gboolean
_ats_bpe_get_fuse_unk (AtsBpe *bpe)
{
  return bpe->fuse_unk;
}

gboolean
_ats_bpe_get_byte_fallback (AtsBpe *bpe)
{
  return bpe->byte_fallback;
}

static inline guint64
hash_pair (guint64 key)
{
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return key;
}

static inline MergeSlot *
merge_find (MergeSlot *slots, guint mask, guint64 key)
{
  guint j = hash_pair (key) & mask;

  while (slots[j].new_id >= 0 && slots[j].key != key)
    j = (j + 1) & mask;
  return &slots[j];
}

static void
merges_grow (AtsBpe *bpe)
{
  guint      old_cap = bpe->merges_mask + 1, cap = old_cap * 2;
  MergeSlot *old = bpe->merges;

  bpe->merges = g_new (MergeSlot, cap);
  bpe->merges_mask = cap - 1;
  for (guint i = 0; i < cap; i++)
    bpe->merges[i].new_id = -1;
  for (guint i = 0; i < old_cap; i++)
    if (old[i].new_id >= 0)
      *merge_find (bpe->merges, bpe->merges_mask, old[i].key) = old[i];
  g_free (old);
}

AtsMergeStatus
_ats_bpe_add_merge (AtsBpe     *bpe,
                    const char *left,
                    gsize       left_len,
                    const char *right,
                    gsize       right_len,
                    guint32     rank)
{
  gint32 a = _ats_bpe_lookup (bpe, left, left_len);
  gint32 b = _ats_bpe_lookup (bpe, right, right_len);

  if (a < 0)
    return _ATS_MERGE_LEFT_UNKNOWN;
  if (b < 0)
    return _ATS_MERGE_RIGHT_UNKNOWN;

  char  stack[256];
  char *joined = left_len + right_len <= sizeof stack ? stack : g_malloc (left_len + right_len);
  memcpy (joined, left, left_len);
  memcpy (joined + left_len, right, right_len);
  gint32 c = _ats_bpe_lookup (bpe, joined, left_len + right_len);
  if (joined != stack)
    g_free (joined);
  if (c < 0)
    return _ATS_MERGE_RESULT_UNKNOWN;

  if ((bpe->n_merges + 1) * 2 > bpe->merges_mask + 1)
    merges_grow (bpe);
  guint64    key = (guint64) (guint32) a << 32 | (guint32) b;
  MergeSlot *s = merge_find (bpe->merges, bpe->merges_mask, key);
  if (s->new_id < 0)
    bpe->n_merges++;
  /* A repeated pair keeps its last rank, as in tokenizers and transformers.js. */
  s->key = key;
  s->rank = rank;
  s->new_id = c;
  return _ATS_MERGE_OK;
}

void
_ats_bpe_set_options (AtsBpe     *bpe,
                      gboolean    byte_level,
                      gboolean    byte_fallback,
                      gboolean    fuse_unk,
                      gboolean    ignore_merges,
                      const char *unk_token)
{
  bpe->byte_level = byte_level;
  bpe->byte_fallback = byte_fallback;
  bpe->fuse_unk = fuse_unk;
  bpe->ignore_merges = ignore_merges;
  bpe->unk_id = unk_token ? _ats_bpe_lookup (bpe, unk_token, strlen (unk_token)) : -1;
  for (guint b = 0; b < 256; b++)
    {
      char buf[8];
      int  n = g_unichar_to_utf8 (_ats_byte_to_unichar (b), buf);
      bpe->byte_ids[b] = _ats_bpe_lookup (bpe, buf, n);
      n = g_snprintf (buf, sizeof buf, "<0x%02X>", b);
      bpe->fallback_ids[b] = _ats_bpe_lookup (bpe, buf, n);
    }
  g_mutex_lock (&bpe->cache_lock);
  _ats_str_map_clear (bpe->cache);
  g_array_set_size (bpe->cache_ids, 0);
  g_mutex_unlock (&bpe->cache_lock);
}

/* ---- merge loop --------------------------------------------------------------------------- */

typedef struct
{
  gint32  id;   /* -1: a character missing from the vocabulary (never merges) */
  gint32  prev; /* index of the previous live symbol, -1 */
  gint32  next; /* index of the next live symbol, -1 */
  guint32 start;
  guint32 len; /* bytes of the word it covers; 0 once merged into its left neighbour */
} Symbol;

typedef struct
{
  guint32 rank;
  guint32 pos; /* index of the left symbol */
  gint32  left;
  gint32  right;
  gint32  new_id;
} Candidate;

typedef struct
{
  Candidate *items;
  guint      n;
  guint      cap;
} Heap;

static inline gboolean
cand_before (const Candidate *a, const Candidate *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static inline void
heap_push (Heap *h, const Candidate *c)
{
  if (h->n == h->cap)
    {
      h->cap = h->cap ? h->cap * 2 : 64;
      h->items = g_renew (Candidate, h->items, h->cap);
    }
  guint i = h->n++;
  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      if (!cand_before (c, &h->items[parent]))
        break;
      h->items[i] = h->items[parent];
      i = parent;
    }
  h->items[i] = *c;
}

static inline Candidate
heap_pop (Heap *h)
{
  Candidate top = h->items[0];
  Candidate last = h->items[--h->n];
  guint     i = 0;

  for (;;)
    {
      guint l = 2 * i + 1, best;
      if (l >= h->n)
        break;
      best = l + 1 < h->n && cand_before (&h->items[l + 1], &h->items[l]) ? l + 1 : l;
      if (!cand_before (&h->items[best], &last))
        break;
      h->items[i] = h->items[best];
      i = best;
    }
  if (h->n > 0)
    h->items[i] = last;
  return top;
}

static inline void
try_pair (AtsBpe *bpe, Heap *heap, const Symbol *syms, gint32 i)
{
  gint32 j = syms[i].next;

  if (j < 0 || syms[i].id < 0 || syms[j].id < 0)
    return;
  guint64          key = (guint64) (guint32) syms[i].id << 32 | (guint32) syms[j].id;
  const MergeSlot *m = merge_find (bpe->merges, bpe->merges_mask, key);
  if (m->new_id < 0)
    return;
  Candidate c = { m->rank, i, syms[i].id, syms[j].id, m->new_id };
  heap_push (heap, &c);
}

static void
emit_unknown (AtsBpe *bpe, const char *bytes, gsize len, GArray *out)
{
  if (bpe->byte_fallback && !bpe->byte_level)
    {
      gboolean all = TRUE;
      for (gsize i = 0; i < len && all; i++)
        all = bpe->fallback_ids[(guchar) bytes[i]] >= 0;
      if (all)
        {
          for (gsize i = 0; i < len; i++)
            g_array_append_val (out, bpe->fallback_ids[(guchar) bytes[i]]);
          return;
        }
    }
  /* Without an unknown token there is nothing to emit (tokenizers would fail; byte-level
   * vocabularies cover every byte, so this does not happen with real files). */
  if (bpe->unk_id >= 0)
    g_array_append_val (out, bpe->unk_id);
}

static void
encode_uncached (AtsBpe *bpe, const char *word, gsize len, GArray *out)
{
  if (bpe->ignore_merges)
    {
      gint32 id;
      if (bpe->byte_level)
        {
          char  stack[512] = "";
          char *mapped = len * 2 <= sizeof stack ? stack : g_malloc (len * 2);
          gsize n = 0;
          for (gsize i = 0; i < len; i++)
            n += g_unichar_to_utf8 (_ats_byte_to_unichar (word[i]), mapped + n);
          id = _ats_bpe_lookup (bpe, mapped, n);
          if (mapped != stack)
            g_free (mapped);
        }
      else
        id = _ats_bpe_lookup (bpe, word, len);
      if (id >= 0)
        {
          g_array_append_val (out, id);
          return;
        }
    }

  Symbol  stack_syms[64];
  Symbol *syms = len <= G_N_ELEMENTS (stack_syms) ? stack_syms : g_new (Symbol, len);
  gint32  n = 0;

  if (bpe->byte_level)
    {
      for (gsize i = 0; i < len; i++, n++)
        syms[n] = (Symbol){ bpe->byte_ids[(guchar) word[i]], n - 1, n + 1, i, 1 };
    }
  else
    {
      for (gsize i = 0; i < len; n++)
        {
          gsize next = g_utf8_next_char (word + i) - word;
          syms[n] =
              (Symbol){ _ats_bpe_lookup (bpe, word + i, next - i), n - 1, n + 1, i, next - i };
          i = next;
        }
    }
  if (n > 0)
    syms[n - 1].next = -1;

  Candidate stack_heap[128];
  Heap      heap = { stack_heap, 0, G_N_ELEMENTS (stack_heap) };
  gboolean  heap_on_stack = TRUE;

  for (gint32 i = 0; i + 1 < n; i++)
    {
      if (heap_on_stack && heap.n == heap.cap)
        {
          heap.items = g_memdup2 (stack_heap, sizeof stack_heap);
          heap_on_stack = FALSE;
        }
      try_pair (bpe, &heap, syms, i);
    }
  while (heap.n > 0)
    {
      Candidate c = heap_pop (&heap);
      Symbol   *s = &syms[c.pos];
      if (s->len == 0 || s->next < 0 || s->id != c.left || syms[s->next].id != c.right)
        continue;
      Symbol *r = &syms[s->next];
      s->id = c.new_id;
      s->len += r->len;
      r->len = 0;
      s->next = r->next;
      if (s->next >= 0)
        syms[s->next].prev = c.pos;
      /* At most two pushes per merge: make sure the heap can grow off the stack. */
      if (heap_on_stack && heap.n + 2 > heap.cap)
        {
          heap.items = g_memdup2 (stack_heap, sizeof stack_heap);
          heap_on_stack = FALSE;
        }
      if (s->prev >= 0)
        try_pair (bpe, &heap, syms, s->prev);
      try_pair (bpe, &heap, syms, c.pos);
    }

  for (gint32 i = 0; i >= 0 && i < n; i = syms[i].next)
    {
      if (syms[i].id >= 0)
        g_array_append_val (out, syms[i].id);
      else
        emit_unknown (bpe, word + syms[i].start, syms[i].len, out);
    }

  if (!heap_on_stack)
    g_free (heap.items);
  if (syms != stack_syms)
    g_free (syms);
}

void
_ats_bpe_encode_word (AtsBpe *bpe, const char *word, gsize len, GArray *out)
{
  if (len == 0)
    return;
  if (len >= CACHE_MAX_WORD)
    {
      encode_uncached (bpe, word, len, out);
      return;
    }

  g_mutex_lock (&bpe->cache_lock);
  gint32 v = _ats_str_map_lookup (bpe->cache, word, len);
  if (v >= 0)
    {
      g_array_append_vals (out, &g_array_index (bpe->cache_ids, gint32, v >> 8), v & 0xff);
      g_mutex_unlock (&bpe->cache_lock);
      return;
    }
  g_mutex_unlock (&bpe->cache_lock);

  guint first = out->len;
  encode_uncached (bpe, word, len, out);
  guint count = out->len - first;
  if (count > 0xff)
    return;

  g_mutex_lock (&bpe->cache_lock);
  if (_ats_str_map_size (bpe->cache) >= CACHE_MAX_ENTRIES ||
      bpe->cache_ids->len + count >= (1u << 23))
    {
      _ats_str_map_clear (bpe->cache);
      g_array_set_size (bpe->cache_ids, 0);
    }
  gint32 off = bpe->cache_ids->len;
  g_array_append_vals (bpe->cache_ids, &g_array_index (out, gint32, first), count);
  _ats_str_map_insert (bpe->cache, word, len, off << 8 | count);
  g_mutex_unlock (&bpe->cache_lock);
}
