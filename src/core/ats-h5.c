/* ats-h5.c — small HDF5 helpers shared by the capture and sweep writers */
#include "ats-h5-private.h"

hid_t
_ats_h5_vlen_str_type (void)
{
  hid_t t = H5Tcopy (H5T_C_S1);
  H5Tset_size (t, H5T_VARIABLE);
  H5Tset_cset (t, H5T_CSET_UTF8);
  return t;
}

gboolean
_ats_h5_attr_string (hid_t obj, const char *name, const char *value)
{
  hid_t t = _ats_h5_vlen_str_type ();
  hid_t s = H5Screate (H5S_SCALAR);
  if (H5Aexists (obj, name) > 0)
    H5Adelete (obj, name);
  hid_t  a = H5Acreate2 (obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a < 0 ? -1 : H5Awrite (a, t, &value);
  if (a >= 0)
    H5Aclose (a);
  H5Sclose (s);
  H5Tclose (t);
  return r >= 0;
}

gboolean
_ats_h5_attr_write (hid_t obj, const char *name, hid_t type, const void *value)
{
  hid_t s = H5Screate (H5S_SCALAR);
  if (H5Aexists (obj, name) > 0)
    H5Adelete (obj, name);
  hid_t  a = H5Acreate2 (obj, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a < 0 ? -1 : H5Awrite (a, type, value);
  if (a >= 0)
    H5Aclose (a);
  H5Sclose (s);
  return r >= 0;
}

char *
_ats_h5_attr_read_string (hid_t obj, const char *name)
{
  if (H5Aexists (obj, name) <= 0)
    return NULL;
  hid_t a = H5Aopen (obj, name, H5P_DEFAULT);
  if (a < 0)
    return NULL;
  hid_t ft = H5Aget_type (a);
  char *result = NULL;
  if (H5Tget_class (ft) == H5T_STRING)
    {
      if (H5Tis_variable_str (ft) > 0)
        {
          hid_t mt = _ats_h5_vlen_str_type ();
          char *v = NULL;
          if (H5Aread (a, mt, &v) >= 0 && v != NULL)
            {
              result = g_strdup (v);
              H5free_memory (v);
            }
          H5Tclose (mt);
        }
      else
        {
          gsize n = H5Tget_size (ft);
          char *buf = g_malloc0 (n + 1);
          if (H5Aread (a, ft, buf) >= 0)
            result = buf;
          else
            g_free (buf);
        }
    }
  H5Tclose (ft);
  H5Aclose (a);
  return result;
}

gboolean
_ats_h5_write_dataset (hid_t          loc,
                       const char    *name,
                       hid_t          file_type,
                       hid_t          mem_type,
                       guint          rank,
                       const hsize_t *dims,
                       const void    *data,
                       gboolean       compress)
{
  hid_t s = H5Screate_simple (rank, dims, NULL);
  hid_t dcpl = H5Pcreate (H5P_DATASET_CREATE);
  gsize n = 1;
  for (guint i = 0; i < rank; i++)
    n *= dims[i];
  if (compress && n > 1024)
    {
      hsize_t chunk[4];
      for (guint i = 0; i < rank; i++)
        chunk[i] = dims[i];
      /* keep chunks near 256 KiB */
      for (guint i = 0; i < rank && n * H5Tget_size (file_type) > 262144; i++)
        {
          while (chunk[i] > 1 && n * H5Tget_size (file_type) > 262144)
            {
              n /= chunk[i];
              chunk[i] = (chunk[i] + 1) / 2;
              n *= chunk[i];
            }
        }
      H5Pset_chunk (dcpl, rank, chunk);
      H5Pset_shuffle (dcpl);
      H5Pset_deflate (dcpl, 1);
    }
  hid_t d = -1;
  if (H5Lexists (loc, name, H5P_DEFAULT) > 0)
    {
      /* rewrite in place when the shape and type match: HDF5 does not reuse freed space */
      d = H5Dopen2 (loc, name, H5P_DEFAULT);
      hid_t    old_s = d >= 0 ? H5Dget_space (d) : -1;
      hid_t    old_t = d >= 0 ? H5Dget_type (d) : -1;
      hsize_t  old_dims[8] = { 0 };
      gboolean same = old_s >= 0 && old_t >= 0 &&
                      H5Sget_simple_extent_ndims (old_s) == (int) rank &&
                      H5Tequal (old_t, file_type) > 0;
      if (same)
        {
          H5Sget_simple_extent_dims (old_s, old_dims, NULL);
          for (guint i = 0; i < rank; i++)
            same = same && old_dims[i] == dims[i];
        }
      if (old_s >= 0)
        H5Sclose (old_s);
      if (old_t >= 0)
        H5Tclose (old_t);
      if (!same)
        {
          if (d >= 0)
            H5Dclose (d);
          d = -1;
          H5Ldelete (loc, name, H5P_DEFAULT);
        }
    }
  if (d < 0)
    d = H5Dcreate2 (loc, name, file_type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  herr_t r = d < 0 ? -1 : H5Dwrite (d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (d >= 0)
    H5Dclose (d);
  H5Pclose (dcpl);
  H5Sclose (s);
  return r >= 0;
}
