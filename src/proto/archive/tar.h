/* tar.h: writing tar archives (POSIX ustar, with a PAX header for names
 * longer than ustar holds), for kubo's `get` over the RPC API, which answers
 * with a tar stream. The CLI reads it back with untar.h. */
#ifndef WR_PROTO_ARCHIVE_TAR_H
#define WR_PROTO_ARCHIVE_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_TAR_BLOCK 512u

enum {
  WR_TAR_FILE = '0',
  WR_TAR_SYMLINK = '2',
  WR_TAR_DIR = '5',
};

/* Appends the header of one entry (name: n bytes, no NUL inside; a folder's
 * name gets no trailing slash added), with a PAX record first when name does
 * not fit ustar's 100 bytes or linkname its 100. size is the file's bytes
 * (0 for folders and symlinks), mtime seconds since the epoch. 0,
 * WR_ERR_INVAL (a NUL in a name, size past 8 GiB - 1 in octal is written
 * through PAX too), or out's error. */
WR_MUST_CHECK int wr_tar_header(wr_buf *out, const char *name, size_t n, int type, uint64_t size,
                                uint32_t mode, uint64_t mtime, const char *linkname, size_t ln);

/* Bytes of zero padding that follow size bytes of file data. */
size_t wr_tar_padding(uint64_t size);

/* Appends the end of the archive (two zero blocks). */
WR_MUST_CHECK int wr_tar_end(wr_buf *out);

#endif
