#include "proto/ipld/pb.h"

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

size_t wr_pb_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

size_t wr_pb_varint_encode(uint8_t *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

int wr_pb_put_varint(wr_buf *b, uint64_t v) {
  uint8_t tmp[WR_PB_VARINT_MAX_BYTES];
  return wr_buf_append(b, tmp, wr_pb_varint_encode(tmp, v));
}

int wr_pb_put_key(wr_buf *b, uint32_t field, int wiretype) {
  return wr_pb_put_varint(b, ((uint64_t)field << 3) | (uint64_t)wiretype);
}

int wr_pb_put_bytes(wr_buf *b, uint32_t field, const void *p, size_t n) {
  int rv = wr_pb_put_key(b, field, WR_PB_LEN);
  if (!rv)
    rv = wr_pb_put_varint(b, n);
  if (!rv)
    rv = wr_buf_append(b, p, n);
  return rv;
}

int wr_pb_put_uint(wr_buf *b, uint32_t field, uint64_t v) {
  int rv = wr_pb_put_key(b, field, WR_PB_VARINT);
  if (!rv)
    rv = wr_pb_put_varint(b, v);
  return rv;
}

int wr_pb_get_varint(wr_cursor *c, uint64_t *pv, const char **preason) {
  uint64_t v = 0;
  size_t left = wr_cursor_left(c);
  for (size_t i = 0; i < WR_PB_VARINT_MAX_BYTES; i++) {
    if (i >= left)
      return fail(preason, "input ends inside a protobuf varint", WR_ERR_TRUNCATED);
    uint8_t byte = c->pos[i];
    /* The tenth byte holds only the top bit of a uint64. */
    if (i == 9 && byte > 1)
      return fail(preason, "protobuf varint overflows 64 bits", WR_ERR_MALFORMED);
    v |= (uint64_t)(byte & 0x7f) << (7 * i);
    if (!(byte & 0x80)) {
      c->pos += i + 1;
      *pv = v;
      return 0;
    }
  }
  return fail(preason, "protobuf varint overflows 64 bits", WR_ERR_MALFORMED);
}

int wr_pb_get_key(wr_cursor *c, uint32_t *pfield, int *pwiretype, const char **preason) {
  uint64_t k;
  int rv = wr_pb_get_varint(c, &k, preason);
  if (rv)
    return rv;
  uint64_t field = k >> 3;
  if (field == 0 || field > 0x1fffffff)
    return fail(preason, "protobuf field number out of range", WR_ERR_MALFORMED);
  *pfield = (uint32_t)field;
  *pwiretype = (int)(k & 7);
  return 0;
}

int wr_pb_get_bytes(wr_cursor *c, const uint8_t **pp, size_t *pn, const char **preason) {
  uint64_t n;
  int rv = wr_pb_get_varint(c, &n, preason);
  if (rv)
    return rv;
  if (n > wr_cursor_left(c))
    return fail(preason, "protobuf field runs past the end of its message", WR_ERR_TRUNCATED);
  *pp = c->pos;
  *pn = (size_t)n;
  c->pos += n;
  return 0;
}
