/* bitswap.c: the Bitswap message and its framing (see bitswap.h). */
#include "proto/p2p/bitswap.h"

#include <string.h>

#include "base/mem.h"
#include "proto/ipld/pb.h"
#include "proto/multiformats/varint.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    rv = (code);                                                                                   \
    goto fail;                                                                                     \
  } while (0)

/* Skips a field of wire type wt that we do not read. */
static int skip_field(wr_cursor *c, int wt, const char **preason) {
  if (wt == WR_PB_VARINT) {
    uint64_t v;
    return wr_pb_get_varint(c, &v, preason) ? WR_ERR_MALFORMED : 0;
  }
  if (wt == WR_PB_I64 || wt == WR_PB_I32) {
    size_t k = wt == WR_PB_I64 ? 8 : 4;
    if (wr_cursor_left(c) < k) {
      if (preason)
        *preason = "bitswap fixed-size field runs past the end";
      return WR_ERR_MALFORMED;
    }
    c->pos += k;
    return 0;
  }
  if (wt == WR_PB_LEN) {
    const uint8_t *p;
    size_t n;
    if (wr_pb_get_bytes(c, &p, &n, preason)) {
      if (preason)
        *preason = "bitswap field runs past the end";
      return WR_ERR_MALFORMED;
    }
    return 0;
  }
  if (preason)
    *preason = "bitswap field has an unknown wire type";
  return WR_ERR_MALFORMED;
}

/* Grows *parr (of *pcap elements of size sz) to hold one more. */
static int grow(void **parr, size_t *pcap, size_t n, size_t sz) {
  if (n < *pcap)
    return 0;
  size_t nc = *pcap ? *pcap * 2 : 16;
  void *a = wr_realloc(*parr, nc * sz);
  if (!a)
    return WR_ERR_NOMEM;
  *parr = a;
  *pcap = nc;
  return 0;
}

static int decode_entry(const uint8_t *p, size_t n, wr_bitswap_entry *e, const char **preason) {
  int rv = 0;
  int have_cid = 0;
  memset(e, 0, sizeof *e);
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint32_t f;
    int wt;
    if (wr_pb_get_key(&c, &f, &wt, preason))
      return WR_ERR_MALFORMED;
    if (f == 1) {
      const uint8_t *b;
      size_t bn;
      if (wt != WR_PB_LEN)
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry's CID has the wrong wire type");
      if (wr_pb_get_bytes(&c, &b, &bn, preason))
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry runs past the end");
      const char *why = NULL;
      if (wr_cid_from_bytes(b, bn, &e->cid, &why))
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry names no valid CID");
      have_cid = 1;
    } else if (f >= 2 && f <= 5) {
      uint64_t v;
      if (wt != WR_PB_VARINT)
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry field has the wrong wire type");
      if (wr_pb_get_varint(&c, &v, preason))
        return WR_ERR_MALFORMED;
      if (f == 2)
        e->priority = (int32_t)(uint32_t)v; /* int32: negative values come sign-extended */
      else if (f == 3 || f == 5) {
        if (v > 1)
          FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry has a bool that is neither 0 nor 1");
        if (f == 3)
          e->cancel = (uint8_t)v;
        else
          e->send_dont_have = (uint8_t)v;
      } else {
        if (v > 1)
          FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry has an unknown wantType");
        e->want_type = (uint8_t)v;
      }
    } else if ((rv = skip_field(&c, wt, preason)) != 0) {
      return rv;
    }
  }
  if (!have_cid)
    FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry names no CID");
  return 0;
fail:
  return rv;
}

static int decode_wantlist(const uint8_t *p, size_t n, wr_bitswap_msg *m, size_t *pcap,
                           const char **preason) {
  int rv = 0;
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint32_t f;
    int wt;
    if (wr_pb_get_key(&c, &f, &wt, preason))
      return WR_ERR_MALFORMED;
    if (f == 1) {
      const uint8_t *b;
      size_t bn;
      if (wt != WR_PB_LEN)
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry has the wrong wire type");
      if (wr_pb_get_bytes(&c, &b, &bn, preason))
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist entry runs past the end");
      if (m->nentries == WR_BITSWAP_MAX_ENTRIES)
        FAIL(WR_ERR_LIMIT, "bitswap wantlist has more than 8192 entries");
      if (grow((void **)&m->entries, pcap, m->nentries, sizeof *m->entries))
        FAIL(WR_ERR_NOMEM, "out of memory");
      if ((rv = decode_entry(b, bn, &m->entries[m->nentries], preason)) != 0)
        return rv;
      m->nentries++;
    } else if (f == 2) {
      uint64_t v;
      if (wt != WR_PB_VARINT)
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist's full flag has the wrong wire type");
      if (wr_pb_get_varint(&c, &v, preason))
        return WR_ERR_MALFORMED;
      if (v > 1)
        FAIL(WR_ERR_MALFORMED, "bitswap wantlist's full flag is neither 0 nor 1");
      m->full = (int)v;
    } else if ((rv = skip_field(&c, wt, preason)) != 0) {
      return rv;
    }
  }
  return 0;
fail:
  return rv;
}

static int decode_prefix(const uint8_t *p, size_t n, wr_bitswap_prefix *px, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  uint64_t v[4];
  for (int i = 0; i < 4; i++) {
    const char *why = NULL;
    if (wr_varint_decode(&c, &v[i], &why)) {
      if (preason)
        *preason = "bitswap block prefix is not four varints";
      return WR_ERR_MALFORMED;
    }
  }
  if (wr_cursor_left(&c)) {
    if (preason)
      *preason = "bitswap block prefix has trailing bytes";
    return WR_ERR_MALFORMED;
  }
  if (v[0] > 1 ||
      (v[0] == 0 && (v[1] != WR_CODEC_DAG_PB || v[2] != WR_MH_SHA2_256 || v[3] != 32))) {
    if (preason)
      *preason = "bitswap block prefix names no CID version warren knows";
    return WR_ERR_MALFORMED;
  }
  if (v[3] > WR_MH_MAX_DIGEST) {
    if (preason)
      *preason = "bitswap block prefix's digest is longer than 128 bytes";
    return WR_ERR_MALFORMED;
  }
  px->version = (uint32_t)v[0];
  px->codec = v[1];
  px->mh_code = v[2];
  px->mh_len = v[3];
  return 0;
}

static int decode_payload(const uint8_t *p, size_t n, wr_bitswap_block *b, const char **preason) {
  int rv = 0;
  int have_prefix = 0, have_data = 0;
  memset(b, 0, sizeof *b);
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint32_t f;
    int wt;
    if (wr_pb_get_key(&c, &f, &wt, preason))
      return WR_ERR_MALFORMED;
    if (f == 1 || f == 2) {
      const uint8_t *d;
      size_t dn;
      if (wt != WR_PB_LEN)
        FAIL(WR_ERR_MALFORMED, "bitswap block field has the wrong wire type");
      if (wr_pb_get_bytes(&c, &d, &dn, preason))
        FAIL(WR_ERR_MALFORMED, "bitswap block runs past the end");
      if (f == 1) {
        if ((rv = decode_prefix(d, dn, &b->prefix, preason)) != 0)
          return rv;
        have_prefix = 1;
      } else {
        b->data = d;
        b->len = dn;
        have_data = 1;
      }
    } else if ((rv = skip_field(&c, wt, preason)) != 0) {
      return rv;
    }
  }
  if (!have_prefix)
    FAIL(WR_ERR_MALFORMED, "bitswap block has no CID prefix");
  if (!have_data)
    b->data = p + n; /* an empty block: a valid pointer, zero bytes */
  return 0;
fail:
  return rv;
}

static int decode_presence(const uint8_t *p, size_t n, wr_bitswap_presence *bp,
                           const char **preason) {
  int rv = 0;
  int have_cid = 0;
  memset(bp, 0, sizeof *bp);
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint32_t f;
    int wt;
    if (wr_pb_get_key(&c, &f, &wt, preason))
      return WR_ERR_MALFORMED;
    if (f == 1) {
      const uint8_t *d;
      size_t dn;
      if (wt != WR_PB_LEN)
        FAIL(WR_ERR_MALFORMED, "bitswap block presence's CID has the wrong wire type");
      if (wr_pb_get_bytes(&c, &d, &dn, preason))
        FAIL(WR_ERR_MALFORMED, "bitswap block presence runs past the end");
      const char *why = NULL;
      if (wr_cid_from_bytes(d, dn, &bp->cid, &why))
        FAIL(WR_ERR_MALFORMED, "bitswap block presence names no valid CID");
      have_cid = 1;
    } else if (f == 2) {
      uint64_t v;
      if (wt != WR_PB_VARINT)
        FAIL(WR_ERR_MALFORMED, "bitswap block presence's type has the wrong wire type");
      if (wr_pb_get_varint(&c, &v, preason))
        return WR_ERR_MALFORMED;
      if (v > 1)
        FAIL(WR_ERR_MALFORMED, "bitswap block presence has an unknown type");
      bp->type = (uint8_t)v;
    } else if ((rv = skip_field(&c, wt, preason)) != 0) {
      return rv;
    }
  }
  if (!have_cid)
    FAIL(WR_ERR_MALFORMED, "bitswap block presence names no CID");
  return 0;
fail:
  return rv;
}

int wr_bitswap_decode(const uint8_t *p, size_t n, wr_bitswap_msg *m, const char **preason) {
  int rv = 0;
  size_t ecap = 0, bcap = 0, pcap = 0;
  memset(m, 0, sizeof *m);
  if (n > WR_BITSWAP_MAX_MSG)
    FAIL(WR_ERR_LIMIT, "bitswap message longer than 4 MiB");
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c)) {
    uint32_t f;
    int wt;
    if (wr_pb_get_key(&c, &f, &wt, preason))
      FAIL(WR_ERR_MALFORMED, "bitswap message has a malformed field key");
    if (f >= 1 && f <= 4) {
      const uint8_t *d;
      size_t dn;
      if (wt != WR_PB_LEN)
        FAIL(WR_ERR_MALFORMED, "bitswap message field has the wrong wire type");
      if (wr_pb_get_bytes(&c, &d, &dn, preason))
        FAIL(WR_ERR_MALFORMED, "bitswap message field runs past the end");
      if (f == 1) {
        if ((rv = decode_wantlist(d, dn, m, &ecap, preason)) != 0)
          goto fail;
      } else if (f == 2 || f == 3) {
        if (m->nblocks == WR_BITSWAP_MAX_BLOCKS)
          FAIL(WR_ERR_LIMIT, "bitswap message has more than 4096 blocks");
        if (grow((void **)&m->blocks, &bcap, m->nblocks, sizeof *m->blocks))
          FAIL(WR_ERR_NOMEM, "out of memory");
        wr_bitswap_block *b = &m->blocks[m->nblocks];
        if (f == 2) {
          /* 1.0.0: the bytes alone, named by their CIDv0. */
          memset(b, 0, sizeof *b);
          b->prefix = (wr_bitswap_prefix){0, WR_CODEC_DAG_PB, WR_MH_SHA2_256, 32};
          b->data = d;
          b->len = dn;
        } else if ((rv = decode_payload(d, dn, b, preason)) != 0) {
          goto fail;
        }
        m->nblocks++;
      } else {
        if (m->npresences == WR_BITSWAP_MAX_PRESENCES)
          FAIL(WR_ERR_LIMIT, "bitswap message has more than 8192 block presences");
        if (grow((void **)&m->presences, &pcap, m->npresences, sizeof *m->presences))
          FAIL(WR_ERR_NOMEM, "out of memory");
        if ((rv = decode_presence(d, dn, &m->presences[m->npresences], preason)) != 0)
          goto fail;
        m->npresences++;
      }
    } else if (f == 5) {
      uint64_t v;
      if (wt != WR_PB_VARINT)
        FAIL(WR_ERR_MALFORMED, "bitswap pendingBytes has the wrong wire type");
      if (wr_pb_get_varint(&c, &v, preason))
        FAIL(WR_ERR_MALFORMED, "bitswap pendingBytes is a malformed varint");
      m->pending_bytes = (int32_t)(uint32_t)v;
    } else if ((rv = skip_field(&c, wt, preason)) != 0) {
      goto fail;
    }
  }
  return 0;
fail:
  wr_bitswap_msg_free(m);
  return rv;
}

void wr_bitswap_msg_free(wr_bitswap_msg *m) {
  wr_free(m->entries);
  wr_free(m->blocks);
  wr_free(m->presences);
  memset(m, 0, sizeof *m);
}

/* Appends a length-delimited field whose body is built in tmp. */
static int put_sub(wr_buf *out, uint32_t field, wr_buf *tmp) {
  return wr_pb_put_bytes(out, field, tmp->data, tmp->len);
}

static int put_cid_field(wr_buf *b, uint32_t field, const wr_cid *cid) {
  uint8_t raw[WR_CID_MAX_BYTES];
  int k = wr_cid_to_bytes(cid, raw, sizeof raw);
  if (k < 0)
    return k;
  return wr_pb_put_bytes(b, field, raw, (size_t)k);
}

void wr_bitswap_prefix_of(const wr_cid *cid, wr_bitswap_prefix *pp) {
  pp->version = cid->version;
  pp->codec = cid->codec;
  pp->mh_code = cid->mh.code;
  pp->mh_len = cid->mh.size;
}

int wr_bitswap_encode(const wr_bitswap_msg *m, unsigned flags, wr_buf *out) {
  int rv = 0;
  wr_buf tmp, sub;
  wr_buf_init(&tmp, WR_BITSWAP_MAX_MSG);
  wr_buf_init(&sub, 1024);
  if (m->nentries || m->full) {
    for (size_t i = 0; i < m->nentries && !rv; i++) {
      const wr_bitswap_entry *e = &m->entries[i];
      wr_buf_reset(&sub);
      rv = put_cid_field(&sub, 1, &e->cid);
      if (!rv && e->priority)
        rv = wr_pb_put_uint(&sub, 2, (uint64_t)(int64_t)e->priority);
      if (!rv && e->cancel)
        rv = wr_pb_put_uint(&sub, 3, 1);
      if (!rv && e->want_type && !(flags & WR_BITSWAP_ENC_V100))
        rv = wr_pb_put_uint(&sub, 4, e->want_type);
      if (!rv && e->send_dont_have && !(flags & WR_BITSWAP_ENC_V100))
        rv = wr_pb_put_uint(&sub, 5, 1);
      if (!rv)
        rv = put_sub(&tmp, 1, &sub);
    }
    if (!rv && m->full)
      rv = wr_pb_put_uint(&tmp, 2, 1);
    if (!rv)
      rv = put_sub(out, 1, &tmp);
  }
  for (size_t i = 0; i < m->nblocks && !rv; i++) {
    const wr_bitswap_block *b = &m->blocks[i];
    if (flags & WR_BITSWAP_ENC_V100) {
      const wr_bitswap_prefix *x = &b->prefix;
      if (x->version != 0 &&
          !(x->codec == WR_CODEC_DAG_PB && x->mh_code == WR_MH_SHA2_256 && x->mh_len == 32)) {
        rv = WR_ERR_INVAL;
        break;
      }
      rv = wr_pb_put_bytes(out, 2, b->data, b->len);
      continue;
    }
    uint8_t px[4 * WR_VARINT_MAX_BYTES];
    size_t pn = 0;
    uint64_t v[4] = {b->prefix.version, b->prefix.codec, b->prefix.mh_code, b->prefix.mh_len};
    for (int k = 0; k < 4; k++) {
      int w = wr_varint_encode(px + pn, v[k]);
      if (w < 0) {
        rv = WR_ERR_INVAL;
        break;
      }
      pn += (size_t)w;
    }
    /* The payload's fields go straight into out: its length is known, and
     * a sub-buffer would copy every block once more. */
    size_t inner = 2 + wr_pb_varint_size(pn) + pn + wr_pb_varint_size(b->len) + b->len;
    if (!rv)
      rv = wr_pb_put_key(out, 3, WR_PB_LEN);
    if (!rv)
      rv = wr_pb_put_varint(out, inner);
    if (!rv)
      rv = wr_pb_put_bytes(out, 1, px, pn);
    if (!rv)
      rv = wr_pb_put_bytes(out, 2, b->data, b->len);
  }
  for (size_t i = 0; i < m->npresences && !rv && !(flags & WR_BITSWAP_ENC_V100); i++) {
    wr_buf_reset(&sub);
    rv = put_cid_field(&sub, 1, &m->presences[i].cid);
    if (!rv && m->presences[i].type)
      rv = wr_pb_put_uint(&sub, 2, m->presences[i].type);
    if (!rv)
      rv = put_sub(out, 4, &sub);
  }
  if (!rv && m->pending_bytes)
    rv = wr_pb_put_uint(out, 5, (uint64_t)(int64_t)m->pending_bytes);
  wr_buf_free(&tmp);
  wr_buf_free(&sub);
  return rv;
}

int wr_bitswap_put_frame_len(wr_buf *out, size_t n) { return wr_varint_put(out, n); }

int wr_bitswap_frame(const uint8_t *p, size_t n, size_t *phdr, size_t *pbody,
                     const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  uint64_t len;
  const char *why = NULL;
  int rv = wr_varint_decode(&c, &len, &why);
  if (rv == WR_ERR_TRUNCATED)
    return WR_ERR_AGAIN;
  if (rv) {
    if (preason)
      *preason = "bitswap message length is a malformed varint";
    return WR_ERR_MALFORMED;
  }
  if (len > WR_BITSWAP_MAX_MSG) {
    if (preason)
      *preason = "bitswap message longer than 4 MiB";
    return WR_ERR_LIMIT;
  }
  size_t hdr = (size_t)(c.pos - p);
  if (n - hdr < len)
    return WR_ERR_AGAIN;
  *phdr = hdr;
  *pbody = (size_t)len;
  return 0;
}

int wr_bitswap_block_cid(const wr_bitswap_block *b, wr_cid *pcid) {
  wr_mh mh;
  int rv = wr_mh_sum(&mh, b->prefix.mh_code, b->data, b->len);
  if (rv)
    return rv;
  /* A truncated digest in the prefix would need the hash cut short: no
   * implementation sends one, and verifying it is not supported. */
  if (b->prefix.mh_code != WR_MH_IDENTITY && mh.size != b->prefix.mh_len)
    return WR_ERR_UNSUPPORTED;
  return wr_cid_init(pcid, b->prefix.version, b->prefix.codec, &mh) ? WR_ERR_MALFORMED : 0;
}
