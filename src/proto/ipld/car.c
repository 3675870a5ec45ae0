#include "proto/ipld/car.h"

#include <string.h>

enum {
  ST_HEADER = 0,    /* at the first varint of the file */
  ST_V2_HEADER,     /* after the v2 pragma: the 40-byte header */
  ST_V2_SKIP,       /* skipping to the v2 data offset */
  ST_INNER_HEADER,  /* the v1 header inside a v2 */
  ST_SECTIONS,
  ST_END,
  ST_FAILED,
};

static int fail(wr_car_reader *r, const char **preason, const char *why, int err) {
  r->state = ST_FAILED;
  if (preason)
    *preason = why;
  return err;
}

void wr_car_reader_init(wr_car_reader *r, size_t max_section) {
  memset(r, 0, sizeof *r);
  r->state = ST_HEADER;
  r->max_section = max_section ? max_section : WR_CAR_DEFAULT_MAX_SECTION;
}

/* --- the dag-cbor subset --- */

/* Reads a CBOR head: major type and argument, in minimal form (dag-cbor
 * forbids longer encodings and indefinite lengths). */
static int cbor_head(wr_cursor *c, int *pmajor, uint64_t *parg, const char **pwhy) {
  if (!wr_cursor_left(c)) {
    *pwhy = "CAR header ends early";
    return WR_ERR_MALFORMED;
  }
  uint8_t ib = *c->pos++;
  int major = ib >> 5, info = ib & 31;
  uint64_t arg;
  size_t extra;
  if (info < 24) {
    arg = (uint64_t)info;
    extra = 0;
  } else if (info <= 27) {
    extra = (size_t)1 << (info - 24);
    if (wr_cursor_left(c) < extra) {
      *pwhy = "CAR header ends early";
      return WR_ERR_MALFORMED;
    }
    arg = 0;
    for (size_t i = 0; i < extra; i++)
      arg = arg << 8 | c->pos[i];
    c->pos += extra;
    uint64_t min = info == 24 ? 24 : info == 25 ? 0x100 : info == 26 ? 0x10000 : 0x100000000;
    if (arg < min) {
      *pwhy = "CAR header is not minimally encoded dag-cbor";
      return WR_ERR_MALFORMED;
    }
  } else {
    *pwhy = "CAR header uses CBOR indefinite lengths or reserved values";
    return WR_ERR_MALFORMED;
  }
  *pmajor = major;
  *parg = arg;
  return 0;
}

static int cbor_text_is(wr_cursor *c, const char *want, int *pis, const char **pwhy) {
  int major;
  uint64_t len;
  int rv = cbor_head(c, &major, &len, pwhy);
  if (rv)
    return rv;
  if (major != 3) {
    *pwhy = "CAR header map key is not a string";
    return WR_ERR_MALFORMED;
  }
  if (len > wr_cursor_left(c)) {
    *pwhy = "CAR header ends early";
    return WR_ERR_MALFORMED;
  }
  *pis = len == strlen(want) && memcmp(c->pos, want, (size_t)len) == 0;
  c->pos += len;
  return 0;
}

/* Parses a header map. Sets *pversion, and the roots into r when present.
 * *phas_roots says whether a roots key was seen. */
static int parse_header(wr_car_reader *r, const uint8_t *p, size_t n, uint64_t *pversion,
                        int *phas_roots, const char **pwhy) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int major;
  uint64_t npairs;
  int rv = cbor_head(&c, &major, &npairs, pwhy);
  if (rv)
    return rv;
  if (major != 5 || npairs < 1 || npairs > 2) {
    *pwhy = "CAR header is not a map of roots and version";
    return WR_ERR_MALFORMED;
  }
  int have_version = 0, have_roots = 0;
  for (uint64_t k = 0; k < npairs; k++) {
    /* Keys are "roots" or "version"; read the key's text and compare. */
    const uint8_t *key_start = c.pos;
    int is_roots;
    rv = cbor_text_is(&c, "roots", &is_roots, pwhy);
    if (rv)
      return rv;
    if (is_roots) {
      if (have_roots) {
        *pwhy = "CAR header has roots twice";
        return WR_ERR_MALFORMED;
      }
      have_roots = 1;
      uint64_t count;
      rv = cbor_head(&c, &major, &count, pwhy);
      if (rv)
        return rv;
      if (major != 4) {
        *pwhy = "CAR header roots is not an array";
        return WR_ERR_MALFORMED;
      }
      if (count > WR_CAR_MAX_ROOTS) {
        *pwhy = "CAR header has more roots than warren accepts (32)";
        return WR_ERR_LIMIT;
      }
      for (uint64_t i = 0; i < count; i++) {
        uint64_t tag, blen;
        rv = cbor_head(&c, &major, &tag, pwhy);
        if (rv)
          return rv;
        if (major != 6 || tag != 42) {
          *pwhy = "CAR header root is not a CID (tag 42)";
          return WR_ERR_MALFORMED;
        }
        rv = cbor_head(&c, &major, &blen, pwhy);
        if (rv)
          return rv;
        if (major != 2 || blen < 1 || blen > wr_cursor_left(&c) || c.pos[0] != 0) {
          *pwhy = "CAR header root is not a 0x00-prefixed CID byte string";
          return WR_ERR_MALFORMED;
        }
        const char *cwhy = NULL;
        if (wr_cid_from_bytes(c.pos + 1, (size_t)blen - 1, &r->roots[i], &cwhy)) {
          *pwhy = "CAR header root is not a valid CID";
          return WR_ERR_MALFORMED;
        }
        c.pos += blen;
      }
      r->nroots = (size_t)count;
      continue;
    }
    c.pos = key_start;
    int is_version;
    rv = cbor_text_is(&c, "version", &is_version, pwhy);
    if (rv)
      return rv;
    if (!is_version) {
      *pwhy = "CAR header has a key other than roots and version";
      return WR_ERR_MALFORMED;
    }
    if (have_version) {
      *pwhy = "CAR header has version twice";
      return WR_ERR_MALFORMED;
    }
    have_version = 1;
    rv = cbor_head(&c, &major, pversion, pwhy);
    if (rv)
      return rv;
    if (major != 0) {
      *pwhy = "CAR header version is not an unsigned integer";
      return WR_ERR_MALFORMED;
    }
  }
  if (!have_version) {
    *pwhy = "CAR header has no version";
    return WR_ERR_MALFORMED;
  }
  if (wr_cursor_left(&c)) {
    *pwhy = "trailing bytes after the CAR header";
    return WR_ERR_MALFORMED;
  }
  *phas_roots = have_roots;
  return 0;
}

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* Reads varint(len) | len bytes from p (avail bytes usable). Returns 1 with
 * *pvlen (varint bytes) and *plen set when the varint is complete, 0 when
 * more bytes are needed, negative on a bad varint. */
static int frame_len(const uint8_t *p, size_t avail, size_t *pvlen, uint64_t *plen,
                     const char **pwhy) {
  wr_cursor c;
  wr_cursor_init(&c, p, avail);
  int rv = wr_varint_decode(&c, plen, pwhy);
  if (rv == WR_ERR_TRUNCATED)
    return 0;
  if (rv)
    return rv;
  *pvlen = (size_t)(c.pos - p);
  return 1;
}

int wr_car_reader_next(wr_car_reader *r, const uint8_t *p, size_t n, int eof, size_t *pconsumed,
                       size_t *pneed, wr_car_block *pblock, const char **preason) {
  const char *why = NULL;
  size_t need_dummy;
  if (!pneed)
    pneed = &need_dummy;
  *pconsumed = 0;
  *pneed = 0;
  if (!p)
    n = 0;

  switch (r->state) {
  case ST_FAILED:
    if (preason)
      *preason = "CAR reader already failed";
    return WR_ERR_INVAL;
  case ST_END:
    return WR_CAR_EV_END;

  case ST_HEADER:
  case ST_INNER_HEADER: {
    /* bounded: the CARv2 data size, not the end of input, limits what we see */
    size_t avail = n;
    int bounded = r->state == ST_INNER_HEADER && r->data_end - r->pos <= n;
    if (bounded)
      avail = (size_t)(r->data_end - r->pos);
    int final = eof || bounded;
    size_t vlen = 0;
    uint64_t hlen = 0;
    int rv = frame_len(p, avail, &vlen, &hlen, &why);
    if (rv < 0)
      return fail(r, preason, "bad CAR header length", WR_ERR_MALFORMED);
    if (rv == 0) {
      if (bounded)
        return fail(r, preason, "CARv2 data size ends inside the header", WR_ERR_MALFORMED);
      if (final)
        return fail(r, preason, avail ? "CAR ends inside the header length" : "empty CAR",
                    WR_ERR_TRUNCATED);
      *pneed = avail + 1;
      return WR_ERR_AGAIN;
    }
    if (hlen == 0)
      return fail(r, preason, "CAR header length is zero", WR_ERR_MALFORMED);
    if (hlen > WR_CAR_MAX_HEADER)
      return fail(r, preason, "CAR header larger than 64 KiB", WR_ERR_LIMIT);
    if (avail < vlen + hlen) {
      if (bounded)
        return fail(r, preason, "CARv2 data size ends inside the header", WR_ERR_MALFORMED);
      if (final)
        return fail(r, preason, "CAR ends inside the header", WR_ERR_TRUNCATED);
      *pneed = vlen + (size_t)hlen;
      return WR_ERR_AGAIN;
    }
    uint64_t version = 0;
    int has_roots = 0;
    r->nroots = 0;
    rv = parse_header(r, p + vlen, (size_t)hlen, &version, &has_roots, &why);
    if (rv)
      return fail(r, preason, why, rv);
    size_t used = vlen + (size_t)hlen;
    if (r->state == ST_HEADER && version == 2) {
      if (has_roots || used != WR_CARV2_PRAGMA_LEN)
        return fail(r, preason, "CARv2 pragma is not exactly {version: 2}", WR_ERR_MALFORMED);
      r->version = 2;
      r->state = ST_V2_HEADER;
      r->pos += used;
      *pconsumed = used;
      *pneed = WR_CARV2_HEADER_LEN;
      return WR_ERR_AGAIN;
    }
    if (version != 1)
      return fail(r, preason,
                  r->state == ST_HEADER ? "unsupported CAR version (warren reads 1 and 2)"
                                        : "CARv2 payload is not a CARv1",
                  r->state == ST_HEADER ? WR_ERR_UNSUPPORTED : WR_ERR_MALFORMED);
    if (!has_roots)
      return fail(r, preason, "CAR header has no roots", WR_ERR_MALFORMED);
    if (r->state == ST_HEADER)
      r->version = 1;
    r->state = ST_SECTIONS;
    r->pos += used;
    *pconsumed = used;
    return WR_CAR_EV_HEADER;
  }

  case ST_V2_HEADER: {
    if (n < WR_CARV2_HEADER_LEN) {
      if (eof)
        return fail(r, preason, "CAR ends inside the CARv2 header", WR_ERR_TRUNCATED);
      *pneed = WR_CARV2_HEADER_LEN;
      return WR_ERR_AGAIN;
    }
    uint64_t off = le64(p + 16), size = le64(p + 24);
    uint64_t hdr_end = r->pos + WR_CARV2_HEADER_LEN;
    if (off < hdr_end || size == 0 || off + size < off)
      return fail(r, preason, "CARv2 header has an impossible data offset or size",
                  WR_ERR_MALFORMED);
    r->data_offset = off;
    r->data_end = off + size;
    r->pos = hdr_end;
    r->state = ST_V2_SKIP;
    *pconsumed = WR_CARV2_HEADER_LEN;
    return WR_ERR_AGAIN;
  }

  case ST_V2_SKIP: {
    uint64_t left = r->data_offset - r->pos;
    if (left == 0) {
      r->state = ST_INNER_HEADER;
      return wr_car_reader_next(r, p, n, eof, pconsumed, pneed, pblock, preason);
    }
    size_t skip = left < n ? (size_t)left : n;
    r->pos += skip;
    *pconsumed = skip;
    if (skip == left) {
      r->state = ST_INNER_HEADER;
    } else if (eof) {
      return fail(r, preason, "CAR ends before the CARv2 data offset", WR_ERR_TRUNCATED);
    }
    *pneed = 1;
    return WR_ERR_AGAIN;
  }

  case ST_SECTIONS: {
    size_t avail = n;
    int bounded = 0;
    if (r->version == 2) {
      if (r->pos >= r->data_end) {
        r->state = ST_END;
        return WR_CAR_EV_END;
      }
      bounded = r->data_end - r->pos <= n;
      if (bounded)
        avail = (size_t)(r->data_end - r->pos);
    }
    int final = eof || bounded;
    if (avail == 0 && eof) {
      if (r->version == 2)
        return fail(r, preason, "CAR ends inside the CARv2 data payload", WR_ERR_TRUNCATED);
      r->state = ST_END;
      return WR_CAR_EV_END;
    }
    size_t vlen = 0;
    uint64_t slen = 0;
    int rv = frame_len(p, avail, &vlen, &slen, &why);
    if (rv < 0)
      return fail(r, preason, "bad CAR section length", WR_ERR_MALFORMED);
    if (rv == 0) {
      if (bounded)
        return fail(r, preason, "CARv2 data size ends inside a section length",
                    WR_ERR_MALFORMED);
      if (final)
        return fail(r, preason, "CAR ends inside a section length", WR_ERR_TRUNCATED);
      *pneed = avail + 1;
      return WR_ERR_AGAIN;
    }
    if (slen == 0)
      return fail(r, preason, "zero-length CAR section", WR_ERR_MALFORMED);
    if (slen > r->max_section)
      return fail(r, preason, "CAR section larger than the block size limit", WR_ERR_LIMIT);
    if (avail < vlen + slen) {
      if (bounded)
        return fail(r, preason, "CAR section runs past the CARv2 data size", WR_ERR_MALFORMED);
      if (final)
        return fail(r, preason, "CAR ends inside a block section", WR_ERR_TRUNCATED);
      *pneed = vlen + (size_t)slen;
      return WR_ERR_AGAIN;
    }
    wr_cursor c;
    wr_cursor_init(&c, p + vlen, (size_t)slen);
    const char *cwhy = NULL;
    if (wr_cid_decode(&c, &pblock->cid, &cwhy))
      return fail(r, preason, "invalid CID in a CAR block section", WR_ERR_MALFORMED);
    pblock->data = c.pos;
    pblock->len = wr_cursor_left(&c);
    pblock->offset = r->pos;
    r->pos += vlen + slen;
    r->nblocks++;
    *pconsumed = vlen + (size_t)slen;
    return WR_CAR_EV_BLOCK;
  }
  default:
    return fail(r, preason, "CAR reader in an unknown state", WR_ERR_INVAL);
  }
}

/* --- writing --- */

static size_t cbor_head_put(uint8_t *o, int major, uint64_t arg) {
  uint8_t m = (uint8_t)(major << 5);
  if (arg < 24) {
    o[0] = (uint8_t)(m | arg);
    return 1;
  }
  if (arg < 0x100) {
    o[0] = m | 24;
    o[1] = (uint8_t)arg;
    return 2;
  }
  o[0] = m | 25; /* lengths here never reach 65536 */
  o[1] = (uint8_t)(arg >> 8);
  o[2] = (uint8_t)arg;
  return 3;
}

int wr_car_write_header(wr_buf *b, const wr_cid *roots, size_t nroots) {
  if (nroots > WR_CAR_MAX_ROOTS)
    return WR_ERR_INVAL;
  /* Build the CBOR on the stack: its size is bounded by the roots limit. */
  uint8_t cbor[32 + WR_CAR_MAX_ROOTS * (WR_CID_MAX_BYTES + 6)];
  size_t o = 0;
  o += cbor_head_put(cbor + o, 5, 2);
  /* dag-cbor orders map keys by length first: "roots" before "version". */
  o += cbor_head_put(cbor + o, 3, 5);
  memcpy(cbor + o, "roots", 5);
  o += 5;
  o += cbor_head_put(cbor + o, 4, nroots);
  for (size_t i = 0; i < nroots; i++) {
    uint8_t cid[WR_CID_MAX_BYTES];
    int cn = wr_cid_to_bytes(&roots[i], cid, sizeof cid);
    if (cn < 0)
      return WR_ERR_INVAL;
    o += cbor_head_put(cbor + o, 6, 42);
    o += cbor_head_put(cbor + o, 2, (uint64_t)cn + 1);
    cbor[o++] = 0x00; /* the multibase "identity" prefix dag-cbor puts on CIDs */
    memcpy(cbor + o, cid, (size_t)cn);
    o += (size_t)cn;
  }
  o += cbor_head_put(cbor + o, 3, 7);
  memcpy(cbor + o, "version", 7);
  o += 7;
  o += cbor_head_put(cbor + o, 0, 1);
  uint8_t vi[WR_VARINT_MAX_BYTES];
  int vn = wr_varint_encode(vi, o);
  if (vn < 0)
    return WR_ERR_INVAL;
  int rv = wr_buf_reserve(b, (size_t)vn + o);
  if (rv)
    return rv;
  rv = wr_buf_append(b, vi, (size_t)vn);
  if (!rv)
    rv = wr_buf_append(b, cbor, o);
  return rv;
}

int wr_car_section_head(uint8_t *out, size_t cap, const wr_cid *cid, size_t data_len) {
  uint8_t c[WR_CID_MAX_BYTES];
  int cn = wr_cid_to_bytes(cid, c, sizeof c);
  if (cn < 0)
    return cn;
  uint64_t slen = (uint64_t)cn + data_len;
  if (slen > WR_VARINT_MAX_VALUE)
    return WR_ERR_INVAL;
  size_t vn = wr_varint_size(slen);
  if (cap < vn + (size_t)cn)
    return WR_ERR_LIMIT;
  int w = wr_varint_encode(out, slen);
  if (w < 0)
    return w;
  memcpy(out + vn, c, (size_t)cn);
  return (int)(vn + (size_t)cn);
}

int wr_car_write_block(wr_buf *b, const wr_cid *cid, const void *data, size_t n) {
  uint8_t head[WR_CAR_SECTION_HEAD_MAX];
  int hn = wr_car_section_head(head, sizeof head, cid, n);
  if (hn < 0)
    return hn;
  int rv = wr_buf_reserve(b, (size_t)hn + n);
  if (rv)
    return rv;
  rv = wr_buf_append(b, head, (size_t)hn);
  if (!rv)
    rv = wr_buf_append(b, data, n);
  return rv;
}
