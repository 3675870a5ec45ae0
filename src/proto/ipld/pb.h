/* pb.h: the few protobuf wire-format pieces dag-pb and UnixFS need.
 *
 * Protobuf varints differ from multiformats varints: up to 10 bytes, and the
 * full uint64 range (negative int64 values take 10 bytes). Decoding accepts
 * non-minimal encodings as protobuf does, but never one that overflows 64
 * bits. Only wire types 0 (varint), 2 (length-delimited) and 5 (fixed32)
 * occur in our schemas. */
#ifndef WR_PROTO_IPLD_PB_H
#define WR_PROTO_IPLD_PB_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

enum { WR_PB_VARINT = 0, WR_PB_I64 = 1, WR_PB_LEN = 2, WR_PB_I32 = 5 };

#define WR_PB_VARINT_MAX_BYTES 10

/* Bytes needed for v as a protobuf varint (1..10). */
size_t wr_pb_varint_size(uint64_t v);
/* Writes v into out (10 bytes room); returns bytes written. */
size_t wr_pb_varint_encode(uint8_t *out, uint64_t v);
/* Appends a varint / a field key / a length-delimited field. Errors as
 * wr_buf_append. */
WR_MUST_CHECK int wr_pb_put_varint(wr_buf *b, uint64_t v);
WR_MUST_CHECK int wr_pb_put_key(wr_buf *b, uint32_t field, int wiretype);
WR_MUST_CHECK int wr_pb_put_bytes(wr_buf *b, uint32_t field, const void *p, size_t n);
WR_MUST_CHECK int wr_pb_put_uint(wr_buf *b, uint32_t field, uint64_t v);

/* Reads a varint. WR_ERR_TRUNCATED, or WR_ERR_MALFORMED on overflow; the
 * reason goes to *preason (may be NULL). */
WR_MUST_CHECK int wr_pb_get_varint(wr_cursor *c, uint64_t *pv, const char **preason);
/* Reads a field key: field number (1..2^29-1) and wire type. */
WR_MUST_CHECK int wr_pb_get_key(wr_cursor *c, uint32_t *pfield, int *pwiretype,
                                const char **preason);
/* Reads a length prefix and returns the bytes it covers (pointing into c's
 * input), advancing past them. WR_ERR_TRUNCATED when they run past the end. */
WR_MUST_CHECK int wr_pb_get_bytes(wr_cursor *c, const uint8_t **pp, size_t *pn,
                                  const char **preason);

#endif
