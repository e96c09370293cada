/* test-safetensors.c — safetensors reader, checkpoint folders, dtype conversions
 *
 * The malformed corpus is generated here into a temporary folder: every case writes a file,
 * opens it and checks the error domain, code and that the message names the file and the
 * problem. Expected conversion bit patterns come from numpy 1.24 (float16) and torch 1.13
 * (bfloat16), computed offline with /usr/bin/python3 and pasted below.
 */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "attnscope/ats-checkpoint.h"
#include "attnscope/ats-safetensors.h"

static char *tmp_root;

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static char *
make_dir (const char *name)
{
  char *path = g_build_filename (tmp_root, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

/* A safetensors image: u64 LE length, @header padded with @pad spaces, @data_len data bytes
 * (filled with @data when given, else a byte pattern). */
static GBytes *
build_image (const char *header, gsize pad, const void *data, gsize data_len)
{
  gsize       hlen = strlen (header);
  guint64     n = GUINT64_TO_LE ((guint64) (hlen + pad));
  GByteArray *a = g_byte_array_new ();

  g_byte_array_append (a, (const guint8 *) &n, 8);
  g_byte_array_append (a, (const guint8 *) header, hlen);
  for (gsize i = 0; i < pad; i++)
    g_byte_array_append (a, (const guint8 *) " ", 1);
  for (gsize i = 0; i < data_len; i++)
    {
      guint8 b = data != NULL ? ((const guint8 *) data)[i] : (guint8) (i * 7 + 1);
      g_byte_array_append (a, &b, 1);
    }
  return g_byte_array_free_to_bytes (a);
}

static char *
write_bytes (const char *dir, const char *name, GBytes *bytes)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  gsize       len;
  const char *data = g_bytes_get_data (bytes, &len);

  g_file_set_contents (path, data != NULL ? data : "", len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
write_image (const char *dir, const char *name, const char *header, const void *data, gsize len)
{
  g_autoptr (GBytes) bytes = build_image (header, 0, data, len);
  return write_bytes (dir, name, bytes);
}

static void
assert_message_has (const GError *error, const char *needle)
{
  if (needle != NULL && strstr (error->message, needle) == NULL)
    g_error ("error message \"%s\" does not mention \"%s\"", error->message, needle);
}

static guint32
f32_bits (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  return u;
}

static float
bits_f32 (guint32 u)
{
  float f;
  memcpy (&f, &u, 4);
  return f;
}

/* ------------------------------------------------------------------------------------------ */
/* conversions                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* numpy: np.array([bits], np.uint32).view(np.float32).astype(np.float16) */
static const struct
{
  guint32 f32;
  guint16 f16;
} f32_to_f16_cases[] = {
  { 0x00000000u, 0x0000 }, /* 0.0 */
  { 0x80000000u, 0x8000 }, /* -0.0 */
  { 0x3f800000u, 0x3c00 }, /* 1.0 */
  { 0x477fe000u, 0x7bff }, /* 65504.0 (largest half) */
  { 0x477fefffu, 0x7bff }, /* 65519.996 */
  { 0x477ff000u, 0x7c00 }, /* 65520.0 -> inf */
  { 0x501502f9u, 0x7c00 }, /* 1e10 -> inf */
  { 0x7f800000u, 0x7c00 }, /* inf */
  { 0xff800000u, 0xfc00 }, /* -inf */
  { 0x33800000u, 0x0001 }, /* 2^-24, smallest subnormal */
  { 0x33000000u, 0x0000 }, /* 2^-25: tie, to even (zero) */
  { 0x33000001u, 0x0001 }, /* just above 2^-25 */
  { 0x33c00000u, 0x0002 }, /* 1.5 x 2^-24: tie, to even */
  { 0x34200000u, 0x0002 }, /* 2.5 x 2^-24: tie, to even */
  { 0x387fffffu, 0x0400 }, /* rounds up to the smallest normal */
  { 0x38800000u, 0x0400 }, /* 2^-14 */
  { 0x387fc000u, 0x03ff }, /* largest subnormal */
  { 0x3f801000u, 0x3c00 }, /* 1 + 2^-11: tie, to even */
  { 0x3f803000u, 0x3c02 }, /* 1 + 3 x 2^-11: tie, to even (up) */
  { 0x3f801001u, 0x3c01 }, /* just above the tie */
  { 0x3dcccccdu, 0x2e66 }, /* 0.1 */
  { 0x40490fdbu, 0x4248 }, /* pi */
  { 0xb6278000u, 0x802a }, /* -2.4959445e-06 (subnormal) */
  { 0xc2f6e979u, 0xd7b7 }, /* -123.456 */
  { 0x00000001u, 0x0000 }, /* smallest float32 subnormal */
  { 0x3effffffu, 0x3800 }, /* 0.49999997 */
};

/* numpy: np.array([h], np.uint16).view(np.float16).astype(np.float32) */
static const struct
{
  guint16 f16;
  guint32 f32;
} f16_to_f32_cases[] = {
  { 0x0000, 0x00000000u }, { 0x8000, 0x80000000u }, { 0x0001, 0x33800000u },
  { 0x8001, 0xb3800000u }, { 0x03ff, 0x387fc000u }, { 0x0400, 0x38800000u },
  { 0x3c00, 0x3f800000u }, { 0x3555, 0x3eaaa000u }, { 0x7bff, 0x477fe000u },
  { 0x7c00, 0x7f800000u }, { 0xfc00, 0xff800000u }, { 0xc000, 0xc0000000u },
  { 0x3bff, 0x3f7fe000u }, { 0x1234, 0x3a468000u }, { 0xabcd, 0xbd79a000u },
  { 0x0200, 0x38000000u },
};

/* torch: tensor(f32).to(torch.bfloat16) */
static const struct
{
  guint32 f32;
  guint16 bf16;
} f32_to_bf16_cases[] = {
  { 0x3f800000u, 0x3f80 }, { 0x3f808000u, 0x3f80 },                          /* tie, to even */
  { 0x3f818000u, 0x3f82 },                                                   /* tie, to even (up) */
  { 0x3f808001u, 0x3f81 }, { 0x3f80ffffu, 0x3f81 }, { 0x7f7fffffu, 0x7f80 }, /* FLT_MAX -> inf */
  { 0xff7fffffu, 0xff80 }, { 0x7f800000u, 0x7f80 }, { 0x00000001u, 0x0000 },
  { 0x807fffffu, 0x8080 }, { 0x40490fdbu, 0x4049 }, { 0xbdcccccdu, 0xbdcd },
  { 0x7f7f8000u, 0x7f80 },
};

static void
test_f16_known (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (f32_to_f16_cases); i++)
    {
      guint16 got = ats_f32_to_f16 (bits_f32 (f32_to_f16_cases[i].f32));
      if (got != f32_to_f16_cases[i].f16)
        g_error ("f32 0x%08x -> f16 0x%04x, expected 0x%04x", f32_to_f16_cases[i].f32, got,
                 f32_to_f16_cases[i].f16);
    }
  for (guint i = 0; i < G_N_ELEMENTS (f16_to_f32_cases); i++)
    g_assert_cmphex (f32_bits (ats_f16_to_f32 (f16_to_f32_cases[i].f16)), ==,
                     f16_to_f32_cases[i].f32);

  /* NaN stays NaN both ways */
  g_assert_true (isnan (ats_f16_to_f32 (0x7e00)));
  g_assert_true (isnan (ats_f16_to_f32 (0xfc01)));
  g_assert_cmphex (ats_f32_to_f16 (bits_f32 (0x7fc00000u)) & 0x7c00, ==, 0x7c00);
  g_assert_cmphex (ats_f32_to_f16 (bits_f32 (0x7f800001u)) & 0x3ff, !=, 0);
}

static void
test_f16_exhaustive (void)
{
  g_autofree float *table = g_new (float, 65536);
  guint8            src[2 * 65536];

  for (guint i = 0; i < 65536; i++)
    {
      src[2 * i] = i & 0xff;
      src[2 * i + 1] = i >> 8;
    }
  ats_convert_to_f32 (ATS_DTYPE_F16, src, 65536, table);

  for (guint i = 0; i < 65536; i++)
    {
      float    f = ats_f16_to_f32 ((guint16) i);
      gboolean is_nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0;

      /* the table and the function agree bit for bit */
      g_assert_cmphex (f32_bits (table[i]), ==, f32_bits (f));
      g_assert_true (isnan (f) == is_nan);
      if (!is_nan)
        g_assert_cmphex (ats_f32_to_f16 (f), ==, i);
    }

#ifdef __FLT16_MAX__
  /* Against the compiler's own float -> _Float16 conversion (round to nearest even), over a
   * spread of float32 bit patterns. */
  for (guint64 u = 0; u <= G_MAXUINT32; u += 4093)
    {
      float    f = bits_f32 ((guint32) u);
      _Float16 ref = (_Float16) f;
      guint16  ref_bits;

      if (isnan (f))
        continue;
      memcpy (&ref_bits, &ref, 2);
      if (ats_f32_to_f16 (f) != ref_bits)
        g_error ("f32 0x%08x -> 0x%04x, compiler gives 0x%04x", (guint32) u, ats_f32_to_f16 (f),
                 ref_bits);
    }
#endif
}

static void
test_bf16 (void)
{
  guint8 src[4] = { 0x80, 0x3f, 0x49, 0xc0 }; /* 0x3f80, 0xc049 little-endian */
  float  dst[2];

  for (guint i = 0; i < G_N_ELEMENTS (f32_to_bf16_cases); i++)
    g_assert_cmphex (ats_f32_to_bf16 (bits_f32 (f32_to_bf16_cases[i].f32)), ==,
                     f32_to_bf16_cases[i].bf16);
  /* NaN kept, including one whose payload lives only in the low 16 bits */
  g_assert_true (isnan (ats_bf16_to_f32 (ats_f32_to_bf16 (bits_f32 (0x7fc00000u)))));
  g_assert_true (isnan (ats_bf16_to_f32 (ats_f32_to_bf16 (bits_f32 (0x7f800001u)))));

  /* torch: tensor([0x3f80, 0xc049]).view(bfloat16).float() == [1.0, -3.140625] */
  g_assert_cmpfloat (ats_bf16_to_f32 (0x3f80), ==, 1.0f);
  g_assert_cmpfloat (ats_bf16_to_f32 (0xc049), ==, -3.140625f);
  g_assert_cmphex (f32_bits (ats_bf16_to_f32 (0x8000)), ==, 0x80000000u);
  g_assert_true (isinf (ats_bf16_to_f32 (0x7f80)));
  ats_convert_to_f32 (ATS_DTYPE_BF16, src, 2, dst);
  g_assert_cmpfloat (dst[0], ==, 1.0f);
  g_assert_cmpfloat (dst[1], ==, -3.140625f);

  for (guint i = 0; i < 65536; i++)
    {
      float f = ats_bf16_to_f32 ((guint16) i);
      if (!isnan (f))
        g_assert_cmphex (ats_f32_to_bf16 (f), ==, i);
    }
}

static void
test_dtype_names (void)
{
  g_assert_cmpstr (ats_dtype_to_string (ATS_DTYPE_F32), ==, "F32");
  g_assert_cmpstr (ats_dtype_to_string (ATS_DTYPE_F16), ==, "F16");
  g_assert_cmpstr (ats_dtype_to_string (ATS_DTYPE_BF16), ==, "BF16");
  g_assert_cmpuint (ats_dtype_size (ATS_DTYPE_F32), ==, 4);
  g_assert_cmpuint (ats_dtype_size (ATS_DTYPE_F16), ==, 2);
  g_assert_cmpuint (ats_dtype_size (ATS_DTYPE_BF16), ==, 2);
}

/* ------------------------------------------------------------------------------------------ */
/* valid files                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Data: f32 [2, 3] = 0..5 at 0, f16 [2] = {1, -2} at 24, bf16 [2] = {1, -3.140625} at 28. The
 * header lists them out of order and is padded with spaces (HF pads to a multiple of 8). */
static GBytes *
make_valid_image (gsize pad)
{
  const char *header = "{\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
                       "\"__metadata__\":{\"format\":\"pt\",\"note\":\"hello\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]}}";
  guint8      data[32];

  for (guint i = 0; i < 6; i++)
    {
      guint32 u = GUINT32_TO_LE (f32_bits ((float) i));
      memcpy (data + 4 * i, &u, 4);
    }
  data[24] = 0x00, data[25] = 0x3c; /* 1.0 */
  data[26] = 0x00, data[27] = 0xc0; /* -2.0 */
  data[28] = 0x80, data[29] = 0x3f; /* 1.0 */
  data[30] = 0x49, data[31] = 0xc0; /* -3.140625 */
  return build_image (header, pad, data, sizeof data);
}

static void
check_valid (AtsSafetensors *st)
{
  const AtsTensorInfo *a, *b, *c;
  float                buf[6];
  GHashTable          *meta;

  g_assert_cmpuint (ats_safetensors_get_n_tensors (st), ==, 3);
  /* file order of data_offsets */
  g_assert_cmpstr (ats_safetensors_get_tensor (st, 0)->name, ==, "a");
  g_assert_cmpstr (ats_safetensors_get_tensor (st, 1)->name, ==, "b");
  g_assert_cmpstr (ats_safetensors_get_tensor (st, 2)->name, ==, "c");

  a = ats_safetensors_lookup (st, "a");
  g_assert_nonnull (a);
  g_assert_cmpint (a->dtype, ==, ATS_DTYPE_F32);
  g_assert_cmpuint (a->n_dims, ==, 2);
  g_assert_cmpint (a->shape[0], ==, 2);
  g_assert_cmpint (a->shape[1], ==, 3);
  g_assert_cmpint (a->numel, ==, 6);
  g_assert_cmpuint (a->n_bytes, ==, 24);
  ats_convert_to_f32 (a->dtype, a->data, 6, buf);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpfloat (buf[i], ==, (float) i);

  b = ats_safetensors_lookup (st, "b");
  g_assert_cmpint (b->dtype, ==, ATS_DTYPE_F16);
  ats_convert_to_f32 (b->dtype, b->data, 2, buf);
  g_assert_cmpfloat (buf[0], ==, 1.0f);
  g_assert_cmpfloat (buf[1], ==, -2.0f);

  c = ats_safetensors_lookup (st, "c");
  g_assert_cmpint (c->dtype, ==, ATS_DTYPE_BF16);
  ats_convert_to_f32 (c->dtype, c->data, 2, buf);
  g_assert_cmpfloat (buf[0], ==, 1.0f);
  g_assert_cmpfloat (buf[1], ==, -3.140625f);

  g_assert_null (ats_safetensors_lookup (st, "__metadata__"));
  g_assert_null (ats_safetensors_lookup (st, "d"));
  meta = ats_safetensors_get_metadata (st);
  g_assert_cmpuint (g_hash_table_size (meta), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (meta, "format"), ==, "pt");
  g_assert_cmpstr (g_hash_table_lookup (meta, "note"), ==, "hello");
}

static void
test_valid (void)
{
  g_autofree char *dir = make_dir ("valid");

  /* pad 0 leaves the data section unaligned; 5 gives a header padded to a multiple of 8 */
  for (gsize pad = 0; pad <= 5; pad += 5)
    {
      g_autoptr (GBytes) bytes = make_valid_image (pad);
      g_autofree char *path = write_bytes (dir, "model.safetensors", bytes);
      g_autoptr (GError) error = NULL;
      g_autoptr (AtsSafetensors) st = NULL;
      g_autoptr (AtsSafetensors) mem = NULL;

      st = ats_safetensors_open (path, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (ats_safetensors_get_path (st), ==, path);
      check_valid (st);

      mem = ats_safetensors_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                           "mem", &error);
      g_assert_no_error (error);
      check_valid (mem);
      g_assert_true (ats_safetensors_ref (mem) == mem);
      ats_safetensors_unref (mem);
    }
}

static void
test_empty_and_zero_size (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensors) st = NULL;
  g_autoptr (GBytes) empty = build_image ("{}", 6, NULL, 0);
  g_autoptr (GBytes) zero =
      build_image ("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[4,4]},"
                   "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]},"
                   "\"e\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[2,2]}}",
                   0, NULL, 4);

  st = ats_safetensors_new_from_data (g_bytes_get_data (empty, NULL), g_bytes_get_size (empty),
                                      "empty", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_safetensors_get_n_tensors (st), ==, 0);
  g_assert_cmpuint (g_hash_table_size (ats_safetensors_get_metadata (st)), ==, 0);
  g_clear_pointer (&st, ats_safetensors_unref);

  st = ats_safetensors_new_from_data (g_bytes_get_data (zero, NULL), g_bytes_get_size (zero),
                                      "zero", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_safetensors_get_n_tensors (st), ==, 3);
  g_assert_cmpint (ats_safetensors_lookup (st, "z")->numel, ==, 0);
  g_assert_cmpint (ats_safetensors_lookup (st, "s")->numel, ==, 1);
  g_assert_cmpuint (ats_safetensors_lookup (st, "s")->n_dims, ==, 0);
  g_assert_cmpint (ats_safetensors_lookup (st, "e")->numel, ==, 0);
}

static void
test_escapes (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensors) st = NULL;
  g_autoptr (GBytes) bytes =
      build_image ("{\"__metadata__\":{\"k\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\/\"},"
                   "\"caf\\u00e9.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                   0, NULL, 4);

  st = ats_safetensors_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                      "escapes", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_hash_table_lookup (ats_safetensors_get_metadata (st), "k"), ==,
                   "\u00e9\U0001F600\n\"/");
  g_assert_nonnull (ats_safetensors_lookup (st, "caf\u00e9.w"));
}

/* Tensors of dtypes attnscope cannot read (Pythia's BOOL attention.bias buffers, I64
 * position ids) leave the file openable; asking for them fails with UNSUPPORTED. */
static void
test_unsupported_dtype (void)
{
  g_autofree char *dir = make_dir ("unsupported");
  g_autofree char *path = write_image (
      dir, "model.safetensors",
      "{\"layers.0.attention.bias\":{\"dtype\":\"BOOL\",\"shape\":[1,1,2,2],\"data_offsets\":[0,4]}"
      ","
      "\"position_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[4,20]},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]},"
      "\"nine\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[24,28]},"
      "\"f4\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[28,30]}}",
      NULL, 30);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensors) st = ats_safetensors_open (path, &error);
  g_autoptr (AtsCheckpoint) ck = NULL;
  const gint64 shape[] = { 1, 2 };

  g_assert_no_error (error);
  g_assert_cmpuint (ats_safetensors_get_n_tensors (st), ==, 1);
  g_assert_cmpuint (ats_safetensors_get_n_unsupported (st), ==, 4);
  g_assert_null (ats_safetensors_lookup (st, "position_ids"));
  g_assert_nonnull (strstr (ats_safetensors_lookup_unsupported (st, "position_ids"), "I64"));
  g_assert_nonnull (strstr (ats_safetensors_lookup_unsupported (st, "f4"), "F4"));
  g_assert_nonnull (
      strstr (ats_safetensors_lookup_unsupported (st, "layers.0.attention.bias"), "BOOL"));
  g_assert_nonnull (strstr (ats_safetensors_lookup_unsupported (st, "nine"), "dimensions"));
  g_assert_null (ats_safetensors_lookup_unsupported (st, "w"));

  ck = ats_checkpoint_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_checkpoint_get_n_tensors (ck), ==, 1);
  g_assert_null (ats_checkpoint_lookup (ck, "position_ids"));
  g_assert_true (ats_checkpoint_get_shard_for (ck, "position_ids") ==
                 ats_checkpoint_get_shard (ck, 0));
  g_assert_null (ats_checkpoint_require (ck, "position_ids", 2, shape, &error));
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED);
  assert_message_has (error, "position_ids");
  assert_message_has (error, "I64");
  assert_message_has (error, path);
  g_clear_error (&error);
  g_assert_null (ats_checkpoint_read_f32 (ck, "layers.0.attention.bias", 0, NULL, &error));
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED);
  assert_message_has (error, "BOOL");
}

/* ------------------------------------------------------------------------------------------ */
/* malformed corpus                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* a raw byte string literal and its length (it may contain NULs) */
#define RAW(s) s, sizeof (s) - 1

#define T(dtype, shape, b, e)                                                                      \
  "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

typedef struct
{
  const char *name;
  const char *header; /* JSON text; NULL -> raw bytes in @raw/@raw_len */
  gsize       data_len;
  const char *raw;
  gsize       raw_len;
  int         code;
  const char *needle1;
  const char *needle2;
} BadCase;

static const BadCase bad_cases[] = {
  /* length prefix */
  { "short-file", NULL, 0, RAW ("\x10\0\0\0\0"), ATS_CHECKPOINT_ERROR_FORMAT, "5 bytes",
    "too short" },
  { "empty-file", NULL, 0, RAW (""), ATS_CHECKPOINT_ERROR_FORMAT, "0 bytes", "too short" },
  { "truncated-header", NULL, 0, RAW ("\x40\0\0\0\0\0\0\0{\"a\":"), ATS_CHECKPOINT_ERROR_FORMAT,
    "header length 64", "past the end" },
  { "length-beyond-file", NULL, 0, RAW ("\xff\xff\xff\x00\0\0\0\0{}"), ATS_CHECKPOINT_ERROR_FORMAT,
    "header length 16777215", "past the end" },
  { "length-over-limit", NULL, 0, RAW ("\x01\xe1\xf5\x05\0\0\0\0{}"), ATS_CHECKPOINT_ERROR_FORMAT,
    "100000001", "limit" },
  { "length-huge", NULL, 0, RAW ("\xff\xff\xff\xff\xff\xff\xff\xff{}"), ATS_CHECKPOINT_ERROR_FORMAT,
    "18446744073709551615", "limit" },
  { "length-zero", NULL, 0, RAW ("\0\0\0\0\0\0\0\0"), ATS_CHECKPOINT_ERROR_FORMAT,
    "header is empty", NULL },
  { "nul-padding", NULL, 0, RAW ("\x04\0\0\0\0\0\0\0{}\0\0"), ATS_CHECKPOINT_ERROR_FORMAT, "NUL",
    NULL },
  { "invalid-utf8", NULL, 0, RAW ("\x07\0\0\0\0\0\0\0{\"\xff\":1}"), ATS_CHECKPOINT_ERROR_FORMAT,
    "UTF-8", NULL },

  /* not a JSON object / not JSON */
  { "json-array", "[1, 2]", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "an array",
    "expected a JSON object" },
  { "json-string", "\"abc\"", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "a string",
    "expected a JSON object" },
  { "json-number", "42", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "an integer",
    "expected a JSON object" },
  { "json-null", "null", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "null",
    "expected a JSON object" },
  { "json-spaces", "     ", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON",
    "unexpected end" },
  { "json-unterminated", "{\"a\": {\"dtype\": \"F32\"", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "not valid JSON", "byte" },
  { "json-trailing-junk", "{} x", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON",
    "'x' at byte 3" },
  { "json-two-objects", "{}{}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON",
    "'{' at byte 2" },
  { "json-comment", "{/* hi */}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON",
    "'/'" },
  { "json-single-quotes", "{'a': 1}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON",
    NULL },
  { "json-trailing-comma", "{\"a\": " T ("F32", "[1]", 0, 4) ",}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON", NULL },
  { "json-hex-number", "{\"a\": {\"dtype\":\"F32\",\"shape\":[0x1],\"data_offsets\":[0,4]}}", 4,
    NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON", NULL },
  { "json-deep-nesting",
    "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "nested more than 64 levels deep at byte", NULL },
  { "json-nul-escape", "{\"a\\u0000b\": " T ("F32", "[1]", 0, 4) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "NUL", NULL },
  { "json-lone-high-surrogate", "{\"a\\ud800\": " T ("F32", "[1]", 0, 4) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "unpaired UTF-16 surrogate", NULL },
  { "json-lone-low-surrogate", "{\"__metadata__\":{\"k\":\"\\udc00x\"}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "unpaired UTF-16 surrogate", NULL },
  { "json-reversed-surrogates", "{\"__metadata__\":{\"k\":\"\\udc00\\ud800\"}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "unpaired UTF-16 surrogate", NULL },
  { "json-bad-escape", "{\"__metadata__\":{\"k\":\"\\x41\"}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "bad escape", NULL },
  { "json-bad-u-escape", "{\"__metadata__\":{\"k\":\"\\u12G4\"}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "bad \\u escape", NULL },
  { "json-control-char", "{\"__metadata__\":{\"k\":\"a\tb\"}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "control character", NULL },
  { "json-int-overflow", "{\"a\": " T ("F32", "[1]", 0, 99999999999999999999) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "64-bit range", NULL },

  /* duplicate-ish */
  { "duplicate-tensor", "{\"a\":" T ("F32", "[1]", 0, 4) ",\"a\":" T ("F32", "[1]", 4, 8) "}", 8,
    NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "'a' more than once", NULL },
  { "duplicate-field",
    "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],"
    "\"data_offsets\":[0,4]}}",
    4, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "'dtype' more than once", NULL },
  { "same-offsets", "{\"a\":" T ("F32", "[1]", 0, 4) ",\"b\":" T ("F32", "[1]", 0, 4) "}", 4, NULL,
    0, ATS_CHECKPOINT_ERROR_FORMAT, "overlap", "tensor 'b'" },
  { "duplicate-metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "'__metadata__' more than once", NULL },

  /* offsets */
  { "overlap", "{\"a\":" T ("F32", "[2]", 0, 8) ",\"b\":" T ("F32", "[2]", 4, 12) "}", 12, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "overlap", "'a'" },
  { "zero-size-inside", "{\"a\":" T ("F32", "[2]", 0, 8) ",\"b\":" T ("F32", "[0]", 4, 4) "}", 8,
    NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "overlap", "'b'" },
  { "out-of-range", "{\"w\":" T ("F32", "[2]", 0, 8) "}", 4, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "tensor 'w'", "outside the data section of 4 bytes" },
  { "far-out-of-range", "{\"w\":" T ("F32", "[2]", 1000000000000, 1000000000008) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "outside" },
  { "begin-after-end", "{\"w\":" T ("F32", "[0]", 8, 0) "}", 8, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "begin is after end" },
  { "wrong-byte-count", "{\"w\":" T ("F32", "[3]", 0, 8) "}", 8, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "needs 12 bytes" },
  { "wrong-byte-count-f16", "{\"w\":" T ("F16", "[2, 2]", 0, 16) "}", 16, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "shape [2, 2] needs 8 bytes", NULL },
  { "offsets-negative", "{\"w\":" T ("F32", "[1]", -4, 0) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "data_offsets" },
  { "offsets-one", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "has 1 elements" },
  { "offsets-three", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, NULL,
    0, ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "has 3 elements" },
  { "offsets-string", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0-4\"}}", 4, NULL,
    0, ATS_CHECKPOINT_ERROR_FORMAT, "'data_offsets' is a string", NULL },
  { "offsets-float", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4, NULL,
    0, ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "non-negative integers" },

  /* shapes */
  { "shape-overflow-wraps-to-zero", "{\"w\":" T ("F32", "[4294967296, 4294967296]", 0, 0) "}", 0,
    NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "overflows 64 bits" },
  { "shape-overflow-3d", "{\"w\":" T ("F32", "[4294967296, 4294967296, 16]", 0, 0) "}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "[4294967296, 4294967296, 16]", "overflows" },
  { "shape-overflow-bytes", "{\"w\":" T ("F32", "[2305843009213693952]", 0, 0) "}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "overflows" },
  { "shape-int64-max", "{\"w\":" T ("BF16", "[9223372036854775807, 2]", 0, 0) "}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "overflows" },
  { "shape-partial-overflow-then-zero",
    "{\"w\":" T ("F32", "[3037000500, 3037000500, 0]", 0, 0) "}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "overflows" },
  { "shape-negative", "{\"w\":" T ("F32", "[-1, 4]", 0, 4) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "negative dimension -1 at index 0" },
  { "shape-negative-pair", "{\"w\":" T ("F32", "[-2, -2]", 0, 16) "}", 16, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "negative dimension" },
  { "shape-float", "{\"w\":" T ("F32", "[1, 2.5]", 0, 8) "}", 8, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "non-integer number at index 1" },
  { "shape-string-dim", "{\"w\":" T ("F32", "[\"2\"]", 0, 8) "}", 8, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "a string at index 0" },
  { "shape-null-dim", "{\"w\":" T ("F32", "[null]", 0, 4) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "null at index 0" },
  { "shape-not-array", "{\"w\":" T ("F32", "4", 0, 16) "}", 16, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "'shape' is an integer" },
  { "shape-object", "{\"w\":" T ("F32", "{}", 0, 4) "}", 4, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "tensor 'w'", "'shape' is an object" },

  /* fields */
  { "missing-dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "'dtype' is missing" },
  { "missing-shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "'shape' is missing" },
  { "missing-offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "'data_offsets' is missing" },
  { "extra-field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
    NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "unexpected field 'x'" },
  { "dtype-number", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "'dtype' is an integer" },
  { "dtype-unknown", "{\"w\":" T ("F17", "[1]", 0, 4) "}", 4, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "tensor 'w'", "unknown value 'F17'" },
  { "dtype-lowercase", "{\"w\":" T ("f32", "[1]", 0, 4) "}", 4, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'", "'f32'" },
  { "entry-array", "{\"w\":[1,2,3]}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'",
    "entry is an array" },
  { "entry-string", "{\"w\":\"F32\"}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'w'",
    "entry is a string" },
  { "unsupported-bad-size", "{\"ids\":" T ("I64", "[2]", 0, 8) "}", 8, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "tensor 'ids'", "needs 16 bytes" },
  { "f4-half-byte", "{\"q\":" T ("F4", "[3]", 0, 2) "}", 2, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "tensor 'q'", "whole number of bytes" },

  /* __metadata__ */
  { "metadata-array", "{\"__metadata__\":[\"a\"]}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "__metadata__ is an array", NULL },
  { "metadata-string", "{\"__metadata__\":\"pt\"}", 0, NULL, 0, ATS_CHECKPOINT_ERROR_FORMAT,
    "__metadata__ is a string", NULL },
  { "metadata-number-value", "{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "__metadata__ field 'n'", "an integer" },
  { "metadata-null-value", "{\"__metadata__\":{\"n\":null}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "__metadata__ field 'n'", "null" },
  { "metadata-nested", "{\"__metadata__\":{\"n\":{\"a\":\"b\"}}}", 0, NULL, 0,
    ATS_CHECKPOINT_ERROR_FORMAT, "__metadata__ field 'n'", "an object" },
};

#undef T
#undef RAW

static void
test_malformed (gconstpointer data)
{
  const BadCase   *c = data;
  g_autofree char *dir = make_dir ("malformed");
  g_autofree char *file = g_strconcat (c->name, ".safetensors", NULL);
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsSafetensors) st = NULL;
  g_autoptr (AtsCheckpoint) ck = NULL;

  if (c->header != NULL)
    bytes = build_image (c->header, 0, NULL, c->data_len);
  else
    bytes = g_bytes_new (c->raw, c->raw_len);
  path = write_bytes (dir, file, bytes);

  st = ats_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, c->code);
  g_test_message ("%s", error->message);
  assert_message_has (error, path);
  assert_message_has (error, c->needle1);
  assert_message_has (error, c->needle2);
  g_clear_error (&error);

  /* the in-memory entry point (used by the fuzzer) says the same */
  st = ats_safetensors_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                      "in-memory", &error);
  g_assert_null (st);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, c->code);
  assert_message_has (error, "in-memory");
  assert_message_has (error, c->needle1);
  g_clear_error (&error);

  /* and the checkpoint reader passes it through */
  ck = ats_checkpoint_open (path, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, c->code);
  assert_message_has (error, path);
}

/* ------------------------------------------------------------------------------------------ */
/* checkpoint folders                                                                         */
/* ------------------------------------------------------------------------------------------ */

static void
write_f32 (guint8 *dst, float v)
{
  guint32 u = GUINT32_TO_LE (f32_bits (v));
  memcpy (dst, &u, 4);
}

/* shard 1: wte [2, 3] F32 = 0..5, ln.bias [3] F16 = {1, 1, 1}
 * shard 2: h.0.w [3, 2] BF16 = {1, -3.140625, ...}, ln.weight [3] F32 = {7, 8, 9} */
static void
make_sharded (const char *dir, const char *index_json)
{
  guint8           d1[30], d2[24];
  g_autofree char *p1 = NULL, *p2 = NULL, *pi = NULL;
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < 6; i++)
    write_f32 (d1 + 4 * i, (float) i);
  for (guint i = 0; i < 3; i++)
    d1[24 + 2 * i] = 0x00, d1[25 + 2 * i] = 0x3c;
  for (guint i = 0; i < 3; i++)
    d2[2 * i] = 0x80, d2[2 * i + 1] = 0x3f, d2[6 + 2 * i] = 0x49, d2[7 + 2 * i] = 0xc0;
  for (guint i = 0; i < 3; i++)
    write_f32 (d2 + 12 + 4 * i, 7.0f + i);

  p1 = write_image (dir, "model-00001-of-00002.safetensors",
                    "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"ln.bias\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]}}",
                    d1, sizeof d1);
  p2 = write_image (dir, "model-00002-of-00002.safetensors",
                    "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"h.0.w\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,12]},"
                    "\"ln.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]}}",
                    d2, sizeof d2);
  pi = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_file_set_contents (pi, index_json, -1, &error);
  g_assert_no_error (error);
}

static const char good_index[] = "{\"metadata\":{\"total_size\":54},\"weight_map\":{"
                                 "\"wte.weight\":\"model-00001-of-00002.safetensors\","
                                 "\"ln.bias\":\"model-00001-of-00002.safetensors\","
                                 "\"h.0.w\":\"model-00002-of-00002.safetensors\","
                                 "\"ln.weight\":\"model-00002-of-00002.safetensors\"}}";

static void
test_sharded (void)
{
  g_autofree char *dir = make_dir ("sharded");
  g_autofree char *index = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = NULL;
  g_autoptr (AtsCheckpoint) ck2 = NULL;
  const char *const *names;
  const gint64       wte_shape[] = { 2, 3 };
  const gint64       w_shape[] = { 3, 2 };
  const gint64       v_shape[] = { 3 };
  g_autofree float  *wte = NULL, *w = NULL, *lnw = NULL, *lnb = NULL;

  make_sharded (dir, good_index);
  ck = ats_checkpoint_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ats_checkpoint_get_dir (ck), ==, dir);
  g_assert_cmpuint (ats_checkpoint_get_n_shards (ck), ==, 2);
  g_assert_cmpuint (ats_checkpoint_get_n_tensors (ck), ==, 4);
  g_assert_cmpuint (ats_checkpoint_get_n_bytes (ck), ==, 54);

  names = ats_checkpoint_get_tensor_names (ck);
  g_assert_cmpstr (names[0], ==, "h.0.w");
  g_assert_cmpstr (names[1], ==, "ln.bias");
  g_assert_cmpstr (names[2], ==, "ln.weight");
  g_assert_cmpstr (names[3], ==, "wte.weight");
  g_assert_null (names[4]);

  g_assert_true (
      g_str_has_suffix (ats_safetensors_get_path (ats_checkpoint_get_shard_for (ck, "wte.weight")),
                        "model-00001-of-00002.safetensors"));
  g_assert_true (
      g_str_has_suffix (ats_safetensors_get_path (ats_checkpoint_get_shard_for (ck, "h.0.w")),
                        "model-00002-of-00002.safetensors"));
  g_assert_null (ats_checkpoint_get_shard_for (ck, "nope"));
  g_assert_null (ats_checkpoint_lookup (ck, "nope"));
  g_assert_cmpint (ats_checkpoint_lookup (ck, "h.0.w")->dtype, ==, ATS_DTYPE_BF16);

  wte = ats_checkpoint_read_f32 (ck, "wte.weight", 2, wte_shape, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpfloat (wte[i], ==, (float) i);
  w = ats_checkpoint_read_f32 (ck, "h.0.w", 2, w_shape, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (w[0], ==, 1.0f);
  g_assert_cmpfloat (w[5], ==, -3.140625f);
  lnw = ats_checkpoint_read_f32 (ck, "ln.weight", 1, v_shape, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (lnw[2], ==, 9.0f);
  lnb = ats_checkpoint_read_f32 (ck, "ln.bias", 1, v_shape, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (lnb[1], ==, 1.0f);

  /* the index file itself is also accepted as the path */
  index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  ck2 = ats_checkpoint_open (index, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_checkpoint_get_n_tensors (ck2), ==, 4);
}

typedef struct
{
  const char *name;
  const char *index;
  int         code;
  const char *needle1;
  const char *needle2;
} BadIndex;

static const BadIndex bad_indexes[] = {
  { "escape-dotdot", "{\"weight_map\":{\"wte.weight\":\"../model-00001-of-00002.safetensors\"}}",
    ATS_CHECKPOINT_ERROR_FORMAT, "'wte.weight'", "../model-00001-of-00002.safetensors" },
  { "escape-slash", "{\"weight_map\":{\"wte.weight\":\"/etc/model.safetensors\"}}",
    ATS_CHECKPOINT_ERROR_FORMAT, "'wte.weight'", "/etc/model.safetensors" },
  { "escape-subdir", "{\"weight_map\":{\"wte.weight\":\"sub/x.safetensors\"}}",
    ATS_CHECKPOINT_ERROR_FORMAT, "not a plain file name", NULL },
  { "missing-shard", "{\"weight_map\":{\"wte.weight\":\"model-00003-of-00002.safetensors\"}}",
    ATS_CHECKPOINT_ERROR_MISSING, "model-00003-of-00002.safetensors", "does not exist" },
  { "wrong-shard", "{\"weight_map\":{\"wte.weight\":\"model-00002-of-00002.safetensors\"}}",
    ATS_CHECKPOINT_ERROR_FORMAT, "'wte.weight'", "no such tensor" },
  { "no-weight-map", "{\"metadata\":{}}", ATS_CHECKPOINT_ERROR_FORMAT, "'weight_map' is missing",
    NULL },
  { "weight-map-array", "{\"weight_map\":[]}", ATS_CHECKPOINT_ERROR_FORMAT, "not an object", NULL },
  { "weight-map-number", "{\"weight_map\":{\"wte.weight\":1}}", ATS_CHECKPOINT_ERROR_FORMAT,
    "'wte.weight'", "not a file name" },
  { "empty-weight-map", "{\"weight_map\":{}}", ATS_CHECKPOINT_ERROR_FORMAT, "empty", NULL },
  { "pickle-shard", "{\"weight_map\":{\"wte.weight\":\"pytorch_model-00001-of-00002.bin\"}}",
    ATS_CHECKPOINT_ERROR_UNSUPPORTED, "pickle", "safetensors" },
  { "not-safetensors", "{\"weight_map\":{\"wte.weight\":\"model.gguf\"}}",
    ATS_CHECKPOINT_ERROR_FORMAT, "not a .safetensors file", NULL },
  { "invalid-json", "{\"weight_map\":{", ATS_CHECKPOINT_ERROR_FORMAT, "not valid JSON", NULL },
  { "duplicate-tensor",
    "{\"weight_map\":{\"wte.weight\":\"model-00001-of-00002.safetensors\","
    "\"wte.weight\":\"model-00002-of-00002.safetensors\"}}",
    ATS_CHECKPOINT_ERROR_FORMAT, "'wte.weight' more than once", NULL },
  { "array-root", "[]", ATS_CHECKPOINT_ERROR_FORMAT, "not a JSON object", NULL },
};

static void
test_bad_index (gconstpointer data)
{
  const BadIndex  *c = data;
  g_autofree char *sub = g_strconcat ("bad-index-", c->name, NULL);
  g_autofree char *dir = make_dir (sub);
  g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = NULL;

  make_sharded (dir, c->index);
  ck = ats_checkpoint_open (dir, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, c->code);
  g_test_message ("%s", error->message);
  assert_message_has (error, c->needle1);
  assert_message_has (error, c->needle2);
  if (c->code != ATS_CHECKPOINT_ERROR_IO)
    assert_message_has (error, index);
}

static void
test_bad_shard (void)
{
  g_autofree char *dir = make_dir ("bad-shard");
  g_autofree char *bad = NULL;
  g_autoptr (GBytes) bytes = g_bytes_new_static ("\x02\0\0\0\0\0\0\0[]", 10);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = NULL;

  make_sharded (dir, good_index);
  bad = write_bytes (dir, "model-00002-of-00002.safetensors", bytes);
  ck = ats_checkpoint_open (dir, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT);
  assert_message_has (error, bad);
}

static void
assert_pickle_refusal (const GError *error, const char *file)
{
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED);
  assert_message_has (error, file);
  assert_message_has (error, "execute");
  assert_message_has (error, "save_pretrained");
  assert_message_has (error, "safe_serialization=True");
  assert_message_has (error, "save_file");
}

static void
test_pickle_refused (void)
{
  const char *names[] = { "pytorch_model.bin", "weights.pt", "model.pth", "last.ckpt" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *sub = g_strdup_printf ("pickle-%u", i);
      g_autofree char *dir = make_dir (sub);
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      g_autofree char *config = g_build_filename (dir, "config.json", NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (AtsCheckpoint) ck = NULL;

      /* a pickle stub: must never be read, so its content does not matter */
      g_file_set_contents (path, "\x80\x02}q\x00.", 6, &error);
      g_file_set_contents (config, "{}", -1, &error);
      g_assert_no_error (error);

      ck = ats_checkpoint_open (dir, &error);
      g_assert_null (ck);
      assert_pickle_refusal (error, names[i]);
      assert_message_has (error, dir);
      g_clear_error (&error);

      ck = ats_checkpoint_open (path, &error);
      g_assert_null (ck);
      assert_pickle_refusal (error, path);
    }
}

static void
test_folder_kinds (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = NULL;
  g_autoptr (GBytes) valid = make_valid_image (5);
  g_autofree char *lone_dir = make_dir ("lone");
  g_autofree char *lone = write_bytes (lone_dir, "weights.safetensors", valid);
  g_autofree char *two_dir = make_dir ("two");
  g_autofree char *empty_dir = make_dir ("empty");
  g_autofree char *both_dir = make_dir ("both");
  g_autofree char *missing = g_build_filename (tmp_root, "does-not-exist", NULL);
  g_autofree char *txt = NULL;
  g_autofree char *p = NULL;

  g_free (write_bytes (two_dir, "a.safetensors", valid));
  g_free (write_bytes (two_dir, "b.safetensors", valid));
  /* model.safetensors wins over a pickle next to it */
  g_free (write_bytes (both_dir, "model.safetensors", valid));
  p = g_build_filename (both_dir, "pytorch_model.bin", NULL);
  g_file_set_contents (p, "not read", -1, NULL);

  /* a lone *.safetensors in the folder */
  ck = ats_checkpoint_open (lone_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ats_checkpoint_get_n_tensors (ck), ==, 3);
  g_clear_pointer (&ck, ats_checkpoint_unref);

  /* a path to the file: the folder is its parent */
  ck = ats_checkpoint_open (lone, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ats_checkpoint_get_dir (ck), ==, lone_dir);
  g_assert_cmpuint (ats_checkpoint_get_n_shards (ck), ==, 1);
  g_assert_true (ats_checkpoint_ref (ck) == ck);
  ats_checkpoint_unref (ck);
  g_clear_pointer (&ck, ats_checkpoint_unref);

  ck = ats_checkpoint_open (both_dir, &error);
  g_assert_no_error (error);
  g_clear_pointer (&ck, ats_checkpoint_unref);

  ck = ats_checkpoint_open (two_dir, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_FORMAT);
  assert_message_has (error, "a.safetensors, b.safetensors");
  assert_message_has (error, "model.safetensors.index.json");
  g_clear_error (&error);

  ck = ats_checkpoint_open (empty_dir, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING);
  assert_message_has (error, empty_dir);
  assert_message_has (error, "no model weights");
  g_clear_error (&error);

  ck = ats_checkpoint_open (missing, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO);
  assert_message_has (error, missing);
  g_clear_error (&error);

  txt = g_build_filename (empty_dir, "notes.txt", NULL);
  g_file_set_contents (txt, "hi", -1, NULL);
  ck = ats_checkpoint_open (txt, &error);
  g_assert_null (ck);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_UNSUPPORTED);
  assert_message_has (error, txt);
  g_clear_error (&error);

  /* mapping a folder or a missing file is an IO error */
  {
    g_autoptr (AtsSafetensors) st = ats_safetensors_open (missing, &error);
    g_assert_null (st);
    g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO);
    assert_message_has (error, missing);
    g_clear_error (&error);
    st = ats_safetensors_open (empty_dir, &error);
    g_assert_null (st);
    g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_IO);
  }
}

static void
test_require (void)
{
  g_autofree char *dir = make_dir ("require");
  g_autoptr (GBytes) valid = make_valid_image (5);
  g_autofree char *path = write_bytes (dir, "model.safetensors", valid);
  g_autoptr (GError) error = NULL;
  g_autoptr (AtsCheckpoint) ck = ats_checkpoint_open (dir, &error);
  const gint64     good[] = { 2, 3 };
  const gint64     big[] = { 768, 2304 };
  const gint64     flat[] = { 6 };
  g_autofree char *s = NULL;
  float           *f;

  g_assert_no_error (error);
  g_assert_nonnull (ats_checkpoint_require (ck, "a", 2, good, &error));
  g_assert_no_error (error);

  g_assert_null (ats_checkpoint_require (ck, "a", 2, big, &error));
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_SHAPE);
  assert_message_has (error, "'a'");
  assert_message_has (error, "has shape [2, 3], expected [768, 2304]");
  assert_message_has (error, path);
  g_clear_error (&error);

  f = ats_checkpoint_read_f32 (ck, "a", 1, flat, &error);
  g_assert_null (f);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_SHAPE);
  assert_message_has (error, "has shape [2, 3], expected [6]");
  g_clear_error (&error);

  f = ats_checkpoint_read_f32 (ck, "h.0.attn.c_attn.weight", 2, big, &error);
  g_assert_null (f);
  g_assert_error (error, ATS_CHECKPOINT_ERROR, ATS_CHECKPOINT_ERROR_MISSING);
  assert_message_has (error, "'h.0.attn.c_attn.weight'");
  assert_message_has (error, dir);
  g_clear_error (&error);

  s = ats_shape_to_string (3, (const gint64[]){ 2, 3, 4 });
  g_assert_cmpstr (s, ==, "[2, 3, 4]");
  g_free (g_steal_pointer (&s));
  s = ats_shape_to_string (0, NULL);
  g_assert_cmpstr (s, ==, "[]");
}

/* Checkpoints written by the PyTorch reference script (tests/reference/make_fixtures.py) must
 * open; skipped when the fixtures are absent. */
static void
test_reference_fixtures (void)
{
  const char      *root = g_getenv ("ATS_SOURCE_ROOT");
  g_autofree char *fixtures = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;
  guint       n = 0;

  if (root == NULL)
    {
      g_test_skip ("ATS_SOURCE_ROOT not set");
      return;
    }
  fixtures = g_build_filename (root, "tests", "reference", "fixtures", NULL);
  dir = g_dir_open (fixtures, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *model = g_build_filename (fixtures, name, "model.safetensors", NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (AtsCheckpoint) ck = NULL;

      if (!g_file_test (model, G_FILE_TEST_IS_REGULAR))
        continue;
      ck = ats_checkpoint_open (model, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ats_checkpoint_get_n_tensors (ck), >, 0);
      g_assert_cmpstr (
          g_hash_table_lookup (ats_safetensors_get_metadata (ats_checkpoint_get_shard (ck, 0)),
                               "format"),
          ==, "pt");
      n++;
    }
  if (n == 0)
    g_test_skip ("no reference fixtures");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  tmp_root = g_dir_make_tmp ("attnscope-st-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/safetensors/convert/f16-known", test_f16_known);
  g_test_add_func ("/safetensors/convert/f16-exhaustive", test_f16_exhaustive);
  g_test_add_func ("/safetensors/convert/bf16", test_bf16);
  g_test_add_func ("/safetensors/convert/dtype-names", test_dtype_names);
  g_test_add_func ("/safetensors/valid/values-metadata-padding", test_valid);
  g_test_add_func ("/safetensors/valid/empty-and-zero-size", test_empty_and_zero_size);
  g_test_add_func ("/safetensors/valid/escapes", test_escapes);
  g_test_add_func ("/safetensors/valid/unsupported-dtype", test_unsupported_dtype);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/safetensors/malformed/", bad_cases[i].name, NULL);
      g_test_add_data_func (path, &bad_cases[i], test_malformed);
    }
  g_test_add_func ("/checkpoint/sharded", test_sharded);
  for (guint i = 0; i < G_N_ELEMENTS (bad_indexes); i++)
    {
      g_autofree char *path = g_strconcat ("/checkpoint/bad-index/", bad_indexes[i].name, NULL);
      g_test_add_data_func (path, &bad_indexes[i], test_bad_index);
    }
  g_test_add_func ("/checkpoint/bad-shard", test_bad_shard);
  g_test_add_func ("/checkpoint/pickle-refused", test_pickle_refused);
  g_test_add_func ("/checkpoint/folder-kinds", test_folder_kinds);
  g_test_add_func ("/checkpoint/require", test_require);
  g_test_add_func ("/checkpoint/reference-fixtures", test_reference_fixtures);

  ret = g_test_run ();
  rm_rf (tmp_root);
  g_free (tmp_root);
  return ret;
}
