#include "proto/multiformats/varint.h"

size_t wr_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int wr_varint_encode(uint8_t out[WR_VARINT_MAX_BYTES], uint64_t v) {
  if (v > WR_VARINT_MAX_VALUE)
    return WR_ERR_INVAL;
  int n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

int wr_varint_put(wr_buf *b, uint64_t v) {
  uint8_t tmp[WR_VARINT_MAX_BYTES];
  int n = wr_varint_encode(tmp, v);
  if (n < 0)
    return n;
  return wr_buf_append(b, tmp, (size_t)n);
}

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

int wr_varint_decode(wr_cursor *c, uint64_t *pv, const char **preason) {
  uint64_t v = 0;
  size_t left = wr_cursor_left(c);
  for (size_t i = 0; i < WR_VARINT_MAX_BYTES; i++) {
    if (i >= left)
      return fail(preason, "input ends inside a varint", WR_ERR_TRUNCATED);
    uint8_t byte = c->pos[i];
    v |= (uint64_t)(byte & 0x7f) << (7 * i);
    if (!(byte & 0x80)) {
      /* A last byte of zero after the first adds nothing: the same value
       * has a shorter encoding, and multiformats demand the shortest. */
      if (byte == 0 && i > 0)
        return fail(preason, "varint is not minimally encoded", WR_ERR_MALFORMED);
      c->pos += i + 1;
      *pv = v;
      return 0;
    }
  }
  return fail(preason, "varint longer than 9 bytes", WR_ERR_MALFORMED);
}
