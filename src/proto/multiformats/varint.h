/* varint.h: the unsigned varint of multiformats (unsigned LEB128).
 *
 * Multiformats allow only the minimal encoding and at most 9 bytes, so the
 * largest value is 2^63 - 1. Protobuf varints (10 bytes, non-minimal allowed)
 * live in pb.h; do not use these for protobuf fields. */
#ifndef WR_PROTO_MULTIFORMATS_VARINT_H
#define WR_PROTO_MULTIFORMATS_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_VARINT_MAX_BYTES 9
#define WR_VARINT_MAX_VALUE UINT64_C(0x7fffffffffffffff)

/* Bytes needed to encode v (1..9); v must be <= WR_VARINT_MAX_VALUE. */
size_t wr_varint_size(uint64_t v);

/* Encodes v into out (room for WR_VARINT_MAX_BYTES). Returns the number of
 * bytes written, or WR_ERR_INVAL when v > WR_VARINT_MAX_VALUE. */
WR_MUST_CHECK int wr_varint_encode(uint8_t out[WR_VARINT_MAX_BYTES], uint64_t v);

/* Appends the encoding of v to b. WR_ERR_INVAL (v too large), WR_ERR_LIMIT,
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_varint_put(wr_buf *b, uint64_t v);

/* Decodes one varint at c->pos and advances past it. Returns 0 and sets *pv;
 * WR_ERR_TRUNCATED when the input ends inside the varint (c unchanged: a
 * streaming caller may retry with more bytes); WR_ERR_MALFORMED when it is
 * not minimal ("varint is not minimally encoded") or longer than 9 bytes
 * ("varint longer than 9 bytes"). *preason (may be NULL) gets a static
 * sentence on error. */
WR_MUST_CHECK int wr_varint_decode(wr_cursor *c, uint64_t *pv, const char **preason);

#endif
