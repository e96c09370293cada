/* ats-h5-private.h — small HDF5 helpers shared by the capture and sweep writers */
#pragma once

#include <glib.h>
#include <hdf5.h>

G_BEGIN_DECLS

/* variable-length UTF-8 string type (close with H5Tclose) */
hid_t _ats_h5_vlen_str_type (void);
/* scalar UTF-8 string attribute, replacing an existing one */
gboolean _ats_h5_attr_string (hid_t obj, const char *name, const char *value);
/* scalar attribute of @type written from @value of the same type, replacing an existing one */
gboolean _ats_h5_attr_write (hid_t obj, const char *name, hid_t type, const void *value);
/* a string attribute (variable or fixed length), or NULL */
char *_ats_h5_attr_read_string (hid_t obj, const char *name);
/* writes a whole dataset @name [dims] (rewritten in place when shape and type match, else
 * replaced); @compress: chunked (~256 KiB), shuffle + deflate 1 */
gboolean _ats_h5_write_dataset (hid_t          loc,
                                const char    *name,
                                hid_t          file_type,
                                hid_t          mem_type,
                                guint          rank,
                                const hsize_t *dims,
                                const void    *data,
                                gboolean       compress);

G_END_DECLS
