/* untar.h: reading tar archives as a stream (POSIX ustar, with PAX
 * records for long names, long link targets and large sizes), for the CLI's
 * `get` through a daemon, whose RPC API answers with a tar (tar.h writes
 * it). Sans-I/O: bytes are fed in pieces of any size and entries come out
 * through callbacks; nothing is allocated.
 *
 * Strict about what it reads: every header's checksum, the ustar magic and
 * version, octal fields, PAX records; only files, folders and symlinks (no
 * hard links, devices or FIFOs: `get` never needs them); a zero block must
 * be followed by a second one, and only zeros may follow the end. Names are
 * handed on as read: deciding which are safe to write is the caller's. */
#ifndef WR_PROTO_ARCHIVE_UNTAR_H
#define WR_PROTO_ARCHIVE_UNTAR_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/archive/tar.h"

#define WR_UNTAR_MAX_NAME 4096        /* bytes of a name or a link target */
#define WR_UNTAR_MAX_PAX (16u * 1024) /* bytes of one PAX header's records */

typedef struct wr_untar_entry {
  int type;         /* WR_TAR_FILE, WR_TAR_DIR or WR_TAR_SYMLINK */
  const char *name; /* NUL-terminated, a folder's without its trailing '/' */
  const char *link; /* a symlink's target, NUL-terminated; "" otherwise */
  uint64_t size;    /* a file's bytes, which data then receives; else 0 */
  uint32_t mode;
} wr_untar_entry;

/* The callbacks; each returns 0 or an error that stops the feed (and is
 * returned by it). The entry's strings live during the entry call only. */
typedef struct wr_untar_ops {
  int (*entry)(void *arg, const wr_untar_entry *e);
  int (*data)(void *arg, const uint8_t *p, size_t n); /* a file's bytes, in order */
  int (*end)(void *arg);                              /* the entry is complete; may be NULL */
} wr_untar_ops;

typedef struct wr_untar {
  const wr_untar_ops *ops;
  void *arg;
  int state;
  uint8_t blk[WR_TAR_BLOCK]; /* a header being gathered */
  size_t blen;
  uint64_t left; /* bytes of the current file or PAX header still to come */
  size_t pad;    /* zero padding after them */
  int zeros;     /* zero blocks seen in a row */
  /* A PAX header's records, then what they say about the next entry. */
  uint8_t pax[WR_UNTAR_MAX_PAX];
  size_t paxlen;
  int pax_path, pax_link, pax_size;
  uint64_t size;
  char name[WR_UNTAR_MAX_NAME + 1];
  char link[WR_UNTAR_MAX_NAME + 1];
} wr_untar;

/* Starts reading an archive; ops and arg stay the caller's. */
void wr_untar_init(wr_untar *u, const wr_untar_ops *ops, void *arg);

/* Reads n more bytes. 0; WR_ERR_MALFORMED with a sentence in *preason (may
 * be NULL), after which the reader is spent; or a callback's error. */
WR_MUST_CHECK int wr_untar_feed(wr_untar *u, const uint8_t *p, size_t n, const char **preason);

/* After the last byte: 0 when the archive ended properly (two zero
 * blocks), else WR_ERR_MALFORMED ("the archive ends early..."). */
WR_MUST_CHECK int wr_untar_finish(const wr_untar *u, const char **preason);

#endif
