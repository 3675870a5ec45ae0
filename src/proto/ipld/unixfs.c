#include "proto/ipld/unixfs.h"

#include <string.h>

#include "proto/ipld/pb.h"

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

const char *wr_unixfs_type_name(int type) {
  switch (type) {
  case WR_UNIXFS_RAW: return "raw";
  case WR_UNIXFS_DIRECTORY: return "directory";
  case WR_UNIXFS_FILE: return "file";
  case WR_UNIXFS_METADATA: return "metadata";
  case WR_UNIXFS_SYMLINK: return "symlink";
  case WR_UNIXFS_HAMTSHARD: return "hamt-sharded-directory";
  default: return NULL;
  }
}

static int decode_mtime(const uint8_t *p, size_t n, wr_unixfs *u, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int have_sec = 0;
  while (wr_cursor_left(&c)) {
    uint32_t field;
    int wt;
    int rv = wr_pb_get_key(&c, &field, &wt, preason);
    if (rv)
      return rv;
    if (field == 1) {
      if (have_sec)
        return fail(preason, "duplicate mtime Seconds", WR_ERR_MALFORMED);
      if (wt != WR_PB_VARINT)
        return fail(preason, "mtime Seconds has the wrong wire type", WR_ERR_MALFORMED);
      uint64_t v;
      rv = wr_pb_get_varint(&c, &v, preason);
      if (rv)
        return rv;
      u->mtime_sec = (int64_t)v; /* int64 travels as two's complement */
      have_sec = 1;
    } else if (field == 2) {
      if (u->has_mtime_nsec)
        return fail(preason, "duplicate mtime FractionalNanoseconds", WR_ERR_MALFORMED);
      if (wt != WR_PB_I32)
        return fail(preason, "mtime FractionalNanoseconds has the wrong wire type",
                    WR_ERR_MALFORMED);
      if (wr_cursor_left(&c) < 4)
        return fail(preason, "input ends inside mtime FractionalNanoseconds", WR_ERR_TRUNCATED);
      uint32_t ns = (uint32_t)c.pos[0] | (uint32_t)c.pos[1] << 8 | (uint32_t)c.pos[2] << 16 |
                    (uint32_t)c.pos[3] << 24;
      c.pos += 4;
      if (ns > 999999999)
        return fail(preason, "mtime FractionalNanoseconds out of range", WR_ERR_MALFORMED);
      u->mtime_nsec = ns;
      u->has_mtime_nsec = 1;
    } else {
      return fail(preason, "unknown field in UnixFS mtime", WR_ERR_MALFORMED);
    }
  }
  if (!have_sec)
    return fail(preason, "UnixFS mtime without Seconds", WR_ERR_MALFORMED);
  return 0;
}

/* Counts a packed run of varints, checking each. */
static int count_packed(const uint8_t *p, size_t n, size_t *pcount, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint64_t v;
    int rv = wr_pb_get_varint(&c, &v, preason);
    if (rv)
      return rv == WR_ERR_TRUNCATED ? fail(preason, "packed blocksizes end inside a varint",
                                           WR_ERR_MALFORMED)
                                    : rv;
    (*pcount)++;
  }
  return 0;
}

int wr_unixfs_decode(const uint8_t *p, size_t n, wr_unixfs *pu, const char **preason) {
  wr_unixfs u;
  memset(&u, 0, sizeof u);
  u.msg = p;
  u.msg_len = n;
  int have_type = 0, have_mtime = 0;
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint32_t field;
    int wt;
    uint64_t v = 0;
    const uint8_t *bp = NULL;
    size_t bn = 0;
    int rv = wr_pb_get_key(&c, &field, &wt, preason);
    if (rv)
      return rv;
    if (field < 1 || field > 8)
      return fail(preason, "unknown field in UnixFS Data", WR_ERR_MALFORMED);
    /* Which wire type each field takes: bytes for 2 and 8, varint for the rest
     * (blocksizes, field 4, may also be packed). */
    int want = (field == 2 || field == 8) ? WR_PB_LEN : WR_PB_VARINT;
    if (wt != want && !(field == 4 && wt == WR_PB_LEN))
      return fail(preason, "UnixFS field has the wrong wire type", WR_ERR_MALFORMED);
    if (wt == WR_PB_LEN)
      rv = wr_pb_get_bytes(&c, &bp, &bn, preason);
    else
      rv = wr_pb_get_varint(&c, &v, preason);
    if (rv)
      return rv;
    switch (field) {
    case 1:
      if (have_type)
        return fail(preason, "duplicate UnixFS Type", WR_ERR_MALFORMED);
      if (v > WR_UNIXFS_HAMTSHARD)
        return fail(preason, "unknown UnixFS Type", WR_ERR_UNSUPPORTED);
      u.type = (int)v;
      have_type = 1;
      break;
    case 2:
      if (u.has_data)
        return fail(preason, "duplicate UnixFS Data", WR_ERR_MALFORMED);
      u.data = bp;
      u.data_len = bn;
      u.has_data = 1;
      break;
    case 3:
      if (u.has_filesize)
        return fail(preason, "duplicate UnixFS filesize", WR_ERR_MALFORMED);
      u.filesize = v;
      u.has_filesize = 1;
      break;
    case 4:
      if (wt == WR_PB_LEN) {
        rv = count_packed(bp, bn, &u.nblocksizes, preason);
        if (rv)
          return rv;
      } else {
        u.nblocksizes++;
      }
      break;
    case 5:
      if (u.has_hash_type)
        return fail(preason, "duplicate UnixFS hashType", WR_ERR_MALFORMED);
      u.hash_type = v;
      u.has_hash_type = 1;
      break;
    case 6:
      if (u.has_fanout)
        return fail(preason, "duplicate UnixFS fanout", WR_ERR_MALFORMED);
      u.fanout = v;
      u.has_fanout = 1;
      break;
    case 7:
      if (u.has_mode)
        return fail(preason, "duplicate UnixFS mode", WR_ERR_MALFORMED);
      if (v > UINT32_MAX)
        return fail(preason, "UnixFS mode does not fit 32 bits", WR_ERR_MALFORMED);
      u.mode = (uint32_t)v;
      u.has_mode = 1;
      break;
    case 8:
      if (have_mtime)
        return fail(preason, "duplicate UnixFS mtime", WR_ERR_MALFORMED);
      rv = decode_mtime(bp, bn, &u, preason);
      if (rv)
        return rv;
      have_mtime = u.has_mtime = 1;
      break;
    }
  }
  if (!have_type)
    return fail(preason, "UnixFS Data without Type", WR_ERR_MALFORMED);
  *pu = u;
  return 0;
}

void wr_unixfs_bs_init(wr_unixfs_bs_iter *it, const wr_unixfs *u) {
  static const uint8_t none[1];
  /* Cursors never hold NULL: pointer arithmetic on NULL is undefined. */
  const uint8_t *m = u->msg ? u->msg : none;
  wr_cursor_init(&it->msg, m, u->msg ? u->msg_len : 0);
  wr_cursor_init(&it->packed, m, 0);
}

int wr_unixfs_bs_next(wr_unixfs_bs_iter *it, uint64_t *pv) {
  for (;;) {
    if (wr_cursor_left(&it->packed))
      return wr_pb_get_varint(&it->packed, pv, NULL) ? WR_ERR_MALFORMED : 1;
    if (!wr_cursor_left(&it->msg))
      return 0;
    uint32_t field;
    int wt;
    uint64_t v;
    const uint8_t *bp;
    size_t bn;
    if (wr_pb_get_key(&it->msg, &field, &wt, NULL))
      return WR_ERR_MALFORMED;
    if (wt == WR_PB_VARINT) {
      if (wr_pb_get_varint(&it->msg, &v, NULL))
        return WR_ERR_MALFORMED;
      if (field == 4) {
        *pv = v;
        return 1;
      }
    } else if (wt == WR_PB_LEN) {
      if (wr_pb_get_bytes(&it->msg, &bp, &bn, NULL))
        return WR_ERR_MALFORMED;
      if (field == 4)
        wr_cursor_init(&it->packed, bp, bn);
    } else {
      return WR_ERR_MALFORMED;
    }
  }
}

static size_t mtime_body_size(const wr_unixfs *u) {
  size_t n = 1 + wr_pb_varint_size((uint64_t)u->mtime_sec);
  if (u->has_mtime_nsec)
    n += 1 + 4;
  return n;
}

size_t wr_unixfs_encoded_size(const wr_unixfs *u) {
  size_t n = 1 + wr_pb_varint_size((uint64_t)u->type);
  if (u->has_data)
    n += 1 + wr_pb_varint_size(u->data_len) + u->data_len;
  if (u->has_filesize)
    n += 1 + wr_pb_varint_size(u->filesize);
  for (size_t i = 0; u->blocksizes && i < u->nblocksizes; i++)
    n += 1 + wr_pb_varint_size(u->blocksizes[i]);
  if (u->has_hash_type)
    n += 1 + wr_pb_varint_size(u->hash_type);
  if (u->has_fanout)
    n += 1 + wr_pb_varint_size(u->fanout);
  if (u->has_mode)
    n += 1 + wr_pb_varint_size(u->mode);
  if (u->has_mtime) {
    size_t m = mtime_body_size(u);
    n += 1 + wr_pb_varint_size(m) + m;
  }
  return n;
}

int wr_unixfs_encode(wr_buf *b, const wr_unixfs *u) {
  if (!wr_unixfs_type_name(u->type) || (u->has_mtime_nsec && u->mtime_nsec > 999999999) ||
      (u->nblocksizes && !u->blocksizes))
    return WR_ERR_INVAL;
  size_t start = b->len;
  int rv = wr_buf_reserve(b, wr_unixfs_encoded_size(u));
  if (!rv)
    rv = wr_pb_put_uint(b, 1, (uint64_t)u->type);
  if (!rv && u->has_data)
    rv = wr_pb_put_bytes(b, 2, u->data, u->data_len);
  if (!rv && u->has_filesize)
    rv = wr_pb_put_uint(b, 3, u->filesize);
  for (size_t i = 0; !rv && i < u->nblocksizes; i++)
    rv = wr_pb_put_uint(b, 4, u->blocksizes[i]);
  if (!rv && u->has_hash_type)
    rv = wr_pb_put_uint(b, 5, u->hash_type);
  if (!rv && u->has_fanout)
    rv = wr_pb_put_uint(b, 6, u->fanout);
  if (!rv && u->has_mode)
    rv = wr_pb_put_uint(b, 7, u->mode);
  if (!rv && u->has_mtime) {
    rv = wr_pb_put_key(b, 8, WR_PB_LEN);
    if (!rv)
      rv = wr_pb_put_varint(b, mtime_body_size(u));
    if (!rv)
      rv = wr_pb_put_uint(b, 1, (uint64_t)u->mtime_sec);
    if (!rv && u->has_mtime_nsec) {
      uint8_t ns[4] = {(uint8_t)u->mtime_nsec, (uint8_t)(u->mtime_nsec >> 8),
                       (uint8_t)(u->mtime_nsec >> 16), (uint8_t)(u->mtime_nsec >> 24)};
      rv = wr_pb_put_key(b, 2, WR_PB_I32);
      if (!rv)
        rv = wr_buf_append(b, ns, 4);
    }
  }
  if (rv)
    b->len = start;
  return rv;
}
