/* car.h: Content Addressable aRchives, v1 read/write and v2 read.
 *
 * CARv1: varint(len) | dag-cbor header {roots: [CID...], version: 1}, then
 * sections varint(len) | CID bytes | block bytes. CARv2: an 11-byte pragma
 * (a v1-style header saying version 2), a 40-byte header (16 bytes of
 * characteristics, then data offset, data size and index offset as
 * little-endian uint64), and a whole CARv1 payload at the data offset. The
 * index after it is ignored.
 *
 * Only the tiny dag-cbor subset the header needs is read and written here,
 * strictly: definite lengths in minimal form, tag 42 CIDs with the 0x00
 * prefix, no other keys, no duplicates.
 *
 * The reader is sans-I/O and bounded: the caller holds a buffer of bytes not
 * yet consumed, and calls wr_car_reader_next with them. Each call returns an
 * event (header, block, end), or WR_ERR_AGAIN with the number of bytes it
 * needs to see next, and says how many bytes the caller may drop. No section
 * larger than the reader's limit is ever asked for, so memory stays bounded
 * whatever the file. Blocks are not hash-checked here (wr_cid_verify). */
#ifndef WR_PROTO_IPLD_CAR_H
#define WR_PROTO_IPLD_CAR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "proto/multiformats/varint.h"

#define WR_CAR_MAX_ROOTS 32
/* Largest header (v1 CBOR) accepted. */
#define WR_CAR_MAX_HEADER 65536
/* Default largest section: a 2 MiB block (bitswap's limit is 2 MiB) plus
 * its CID. */
#define WR_CAR_DEFAULT_MAX_SECTION ((size_t)2 * 1024 * 1024 + WR_CID_MAX_BYTES)
/* Longest section head: varint(len) | CID. */
#define WR_CAR_SECTION_HEAD_MAX (WR_VARINT_MAX_BYTES + WR_CID_MAX_BYTES)
#define WR_CARV2_PRAGMA_LEN 11
#define WR_CARV2_HEADER_LEN 40

enum {
  WR_CAR_EV_HEADER = 1, /* roots are in the reader (r->roots, r->nroots) */
  WR_CAR_EV_BLOCK = 2,  /* *pblock holds one block */
  WR_CAR_EV_END = 3,    /* the payload ended cleanly */
};

typedef struct wr_car_block {
  wr_cid cid;
  const uint8_t *data; /* points into the caller's bytes; valid until they are dropped */
  size_t len;
  uint64_t offset; /* where the section starts in the file */
} wr_car_block;

typedef struct wr_car_reader {
  int state;       /* internal */
  int version;     /* 1 or 2 once the header is read, else 0 */
  uint64_t pos;    /* bytes consumed from the start of the file */
  uint64_t data_offset, data_end; /* v2: where the v1 payload lives */
  size_t max_section;
  uint64_t nblocks;
  size_t nroots;
  wr_cid roots[WR_CAR_MAX_ROOTS];
} wr_car_reader;

/* Initialises a reader; max_section 0 means WR_CAR_DEFAULT_MAX_SECTION. */
void wr_car_reader_init(wr_car_reader *r, size_t max_section);

/* Advances the reader over p[0..n), the caller's bytes not yet dropped; eof
 * says no bytes will follow them. Always sets *pconsumed: the caller drops
 * that many bytes from the front after handling the result (event pointers
 * stay valid until then).
 *
 * Returns WR_CAR_EV_HEADER once, then WR_CAR_EV_BLOCK per block, then
 * WR_CAR_EV_END (and again if called after it); or WR_ERR_AGAIN: read more,
 * so that at least *pneed bytes (may be NULL) are held, then call again
 * (*pconsumed may be non-zero, e.g. when skipping CARv2 padding). Errors:
 * WR_ERR_TRUNCATED when eof comes inside the header or a section,
 * WR_ERR_MALFORMED (a bad header, a bad CID in a section, a zero-length
 * section, ...), WR_ERR_LIMIT (header or section over its limit, too many
 * roots), WR_ERR_UNSUPPORTED (CAR version other than 1 and 2); *preason
 * (may be NULL) gets a static sentence. After an error the reader is stuck
 * in it. */
WR_MUST_CHECK int wr_car_reader_next(wr_car_reader *r, const uint8_t *p, size_t n, int eof,
                                     size_t *pconsumed, size_t *pneed, wr_car_block *pblock,
                                     const char **preason);

/* Appends a CARv1 header naming nroots roots (0..WR_CAR_MAX_ROOTS). Errors:
 * WR_ERR_INVAL (too many roots, a bad CID), errors of wr_buf; nothing is
 * appended on error. */
WR_MUST_CHECK int wr_car_write_header(wr_buf *b, const wr_cid *roots, size_t nroots);
/* Writes a section head (varint(len) | CID) for a block of data_len bytes
 * into out, so a writer can send the block's bytes after it without copying.
 * Returns bytes written (<= WR_CAR_SECTION_HEAD_MAX), WR_ERR_LIMIT,
 * WR_ERR_INVAL. */
WR_MUST_CHECK int wr_car_section_head(uint8_t *out, size_t cap, const wr_cid *cid,
                                      size_t data_len);
/* Appends a whole section (head and block). Nothing appended on error. */
WR_MUST_CHECK int wr_car_write_block(wr_buf *b, const wr_cid *cid, const void *data, size_t n);

#endif
