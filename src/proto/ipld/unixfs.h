/* unixfs.h: the UnixFS Data message carried in a dag-pb node's Data field.
 *
 *   message Data {
 *     required DataType Type = 1;      Raw 0, Directory 1, File 2, Metadata 3,
 *                                      Symlink 4, HAMTShard 5
 *     optional bytes Data = 2;
 *     optional uint64 filesize = 3;
 *     repeated uint64 blocksizes = 4;
 *     optional uint64 hashType = 5;
 *     optional uint64 fanout = 6;
 *     optional uint32 mode = 7;
 *     optional UnixTime mtime = 8;     { required int64 Seconds = 1;
 *                                        optional fixed32 FractionalNanoseconds = 2; }
 *   }
 *
 * The encoder writes fields in number order, blocksizes unpacked, as kubo and
 * the JS importer do, so equal inputs give byte-identical blocks (and CIDs).
 * The decoder is strict: Type required and known, every singular field at
 * most once, no unknown fields, wire types as declared (blocksizes may also
 * come packed, which protobuf allows). It does not allocate: blocksizes are
 * read back with an iterator over the message. */
#ifndef WR_PROTO_IPLD_UNIXFS_H
#define WR_PROTO_IPLD_UNIXFS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef enum wr_unixfs_type {
  WR_UNIXFS_RAW = 0,
  WR_UNIXFS_DIRECTORY = 1,
  WR_UNIXFS_FILE = 2,
  WR_UNIXFS_METADATA = 3,
  WR_UNIXFS_SYMLINK = 4,
  WR_UNIXFS_HAMTSHARD = 5,
} wr_unixfs_type;

typedef struct wr_unixfs {
  int type; /* wr_unixfs_type */
  const uint8_t *data; /* has_data: bytes (not owned) */
  size_t data_len;
  int has_data;
  uint64_t filesize;
  int has_filesize;
  /* Encoding: an array of nblocksizes values (not owned). Decoding: NULL;
   * nblocksizes counts them and wr_unixfs_bs_next reads them. */
  const uint64_t *blocksizes;
  size_t nblocksizes;
  uint64_t hash_type;
  int has_hash_type;
  uint64_t fanout;
  int has_fanout;
  uint32_t mode;
  int has_mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  int has_mtime;      /* the mtime message is present */
  int has_mtime_nsec; /* it carries FractionalNanoseconds */
  const uint8_t *msg; /* decoding: the whole message, for the blocksizes iterator */
  size_t msg_len;
} wr_unixfs;

/* "raw", "directory", "file", "metadata", "symlink", "hamt-sharded-directory",
 * or NULL. */
const char *wr_unixfs_type_name(int type);

/* Decodes n bytes (usually a dag-pb node's Data) into *pu; pointers in *pu
 * point into p. 0, or WR_ERR_MALFORMED / WR_ERR_TRUNCATED with a static
 * *preason (may be NULL), WR_ERR_UNSUPPORTED for an unknown Type. */
WR_MUST_CHECK int wr_unixfs_decode(const uint8_t *p, size_t n, wr_unixfs *pu,
                                   const char **preason);

/* Walks a decoded message's blocksizes in order. */
typedef struct wr_unixfs_bs_iter {
  wr_cursor msg;    /* the rest of the message */
  wr_cursor packed; /* the rest of a packed run, if inside one */
} wr_unixfs_bs_iter;
void wr_unixfs_bs_init(wr_unixfs_bs_iter *it, const wr_unixfs *u);
/* 1 and *pv set, 0 at the end, negative only if the message changed since
 * it was decoded. */
WR_MUST_CHECK int wr_unixfs_bs_next(wr_unixfs_bs_iter *it, uint64_t *pv);

/* Bytes wr_unixfs_encode will append for u. */
size_t wr_unixfs_encoded_size(const wr_unixfs *u);
/* Appends u's encoding to b; nothing is appended on error. WR_ERR_INVAL
 * for an unknown type or nanoseconds >= 10^9, else errors of wr_buf. */
WR_MUST_CHECK int wr_unixfs_encode(wr_buf *b, const wr_unixfs *u);

#endif
