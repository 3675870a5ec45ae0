#include "proto/multiformats/cid.h"

#include <string.h>

#include "proto/multiformats/multibase.h"
#include "proto/multiformats/varint.h"

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

static int v0_ok(uint64_t codec, const wr_mh *mh) {
  return codec == WR_CODEC_DAG_PB && mh->code == WR_MH_SHA2_256 && mh->size == WR_SHA256_SIZE;
}

int wr_cid_init(wr_cid *pcid, uint32_t version, uint64_t codec, const wr_mh *mh) {
  if (version > 1 || (version == 0 && !v0_ok(codec, mh)) || codec > WR_VARINT_MAX_VALUE ||
      mh->size > WR_MH_MAX_DIGEST)
    return WR_ERR_INVAL;
  pcid->version = version;
  pcid->codec = codec;
  pcid->mh = *mh;
  return 0;
}

int wr_cid_sum(wr_cid *pcid, uint32_t version, uint64_t codec, const void *block, size_t n) {
  wr_mh mh;
  wr_mh_sha256(&mh, block, n);
  return wr_cid_init(pcid, version, codec, &mh);
}

int wr_cid_verify(const wr_cid *cid, const void *block, size_t n) {
  return wr_mh_verify(&cid->mh, block, n);
}

int wr_cid_decode(wr_cursor *c, wr_cid *pcid, const char **preason) {
  size_t left = wr_cursor_left(c);
  if (left == 0)
    return fail(preason, "empty CID", WR_ERR_TRUNCATED);
  /* A CIDv0 in binary is the bare multihash 0x12 0x20 <32 bytes>. */
  if (left >= 2 && c->pos[0] == WR_MH_SHA2_256 && c->pos[1] == WR_SHA256_SIZE) {
    if (left < 2 + WR_SHA256_SIZE)
      return fail(preason, "input ends inside a CIDv0", WR_ERR_TRUNCATED);
    pcid->version = 0;
    pcid->codec = WR_CODEC_DAG_PB;
    pcid->mh.code = WR_MH_SHA2_256;
    pcid->mh.size = WR_SHA256_SIZE;
    memcpy(pcid->mh.digest, c->pos + 2, WR_SHA256_SIZE);
    c->pos += 2 + WR_SHA256_SIZE;
    return 0;
  }
  wr_cursor t = *c;
  uint64_t version, codec;
  int rv = wr_varint_decode(&t, &version, preason);
  if (rv)
    return rv;
  if (version == 0)
    return fail(preason, "CIDv0 must be a bare sha2-256 multihash", WR_ERR_MALFORMED);
  if (version == WR_MH_SHA2_256)
    return fail(preason, "sha2-256 multihash of the wrong length where a CID was expected",
                WR_ERR_MALFORMED);
  if (version != 1)
    return fail(preason, "unknown CID version", WR_ERR_UNSUPPORTED);
  rv = wr_varint_decode(&t, &codec, preason);
  if (rv)
    return rv;
  wr_mh mh;
  rv = wr_mh_decode(&t, &mh, preason);
  if (rv)
    return rv;
  pcid->version = 1;
  pcid->codec = codec;
  pcid->mh = mh;
  *c = t;
  return 0;
}

int wr_cid_from_bytes(const uint8_t *p, size_t n, wr_cid *pcid, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int rv = wr_cid_decode(&c, pcid, preason);
  if (rv)
    return rv;
  if (wr_cursor_left(&c))
    return fail(preason, "trailing bytes after CID", WR_ERR_MALFORMED);
  return 0;
}

int wr_cid_parse(const char *s, size_t n, wr_cid *pcid, const char **preason) {
  uint8_t bytes[WR_CID_MAX_BYTES];
  size_t nb;
  int rv;
  if (n == 0)
    return fail(preason, "empty CID", WR_ERR_MALFORMED);
  if (n == WR_CIDV0_STR_LEN && s[0] == 'Q' && s[1] == 'm') {
    rv = wr_base_decode(WR_MB_BASE58BTC, s, n, bytes, sizeof bytes, &nb, preason);
    if (rv == WR_ERR_LIMIT)
      return fail(preason, "CIDv0 too long", WR_ERR_MALFORMED);
    if (rv)
      return rv;
    if (nb != 2 + WR_SHA256_SIZE || bytes[0] != WR_MH_SHA2_256 || bytes[1] != WR_SHA256_SIZE)
      return fail(preason, "CIDv0 is not a sha2-256 multihash", WR_ERR_MALFORMED);
    return wr_cid_from_bytes(bytes, nb, pcid, preason);
  }
  if (n > WR_CID_MAX_STR)
    return fail(preason, "CID text too long", WR_ERR_MALFORMED);
  int base;
  rv = wr_multibase_decode(s, n, &base, bytes, sizeof bytes, &nb, preason);
  if (rv == WR_ERR_LIMIT)
    return fail(preason, "CID too long", WR_ERR_MALFORMED);
  if (rv)
    return rv;
  return wr_cid_from_bytes(bytes, nb, pcid, preason);
}

int wr_cid_parse_str(const char *s, wr_cid *pcid, const char **preason) {
  return wr_cid_parse(s, strlen(s), pcid, preason);
}

size_t wr_cid_encoded_size(const wr_cid *cid) {
  if (cid->version == 0)
    return wr_mh_encoded_size(&cid->mh);
  return wr_varint_size(cid->version) + wr_varint_size(cid->codec) + wr_mh_encoded_size(&cid->mh);
}

int wr_cid_to_bytes(const wr_cid *cid, uint8_t *out, size_t cap) {
  if (cid->version == 0) {
    if (!v0_ok(cid->codec, &cid->mh))
      return WR_ERR_INVAL;
    return wr_mh_encode(&cid->mh, out, cap);
  }
  if (cid->version != 1 || cid->codec > WR_VARINT_MAX_VALUE)
    return WR_ERR_INVAL;
  size_t need = wr_cid_encoded_size(cid);
  if (need > cap)
    return WR_ERR_LIMIT;
  size_t o = 0;
  o += (size_t)wr_varint_encode(out + o, cid->version);
  o += (size_t)wr_varint_encode(out + o, cid->codec);
  int rv = wr_mh_encode(&cid->mh, out + o, cap - o);
  if (rv < 0)
    return rv;
  return (int)(o + (size_t)rv);
}

int wr_cid_put(wr_buf *b, const wr_cid *cid) {
  uint8_t tmp[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(cid, tmp, sizeof tmp);
  if (n < 0)
    return n;
  return wr_buf_append(b, tmp, (size_t)n);
}

int wr_cid_format(const wr_cid *cid, int base, char *out, size_t cap) {
  uint8_t bytes[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(cid, bytes, sizeof bytes);
  if (n < 0)
    return n;
  if (cid->version == 0) {
    if (base != 0 && base != WR_MB_BASE58BTC)
      return WR_ERR_INVAL;
    return wr_base_encode(WR_MB_BASE58BTC, bytes, (size_t)n, out, cap);
  }
  return wr_multibase_encode(base ? base : WR_MB_BASE32, bytes, (size_t)n, out, cap);
}

void wr_cid_to_v1(const wr_cid *cid, wr_cid *pout) {
  *pout = *cid;
  pout->version = 1;
}

int wr_cid_to_v0(const wr_cid *cid, wr_cid *pout) {
  if (!v0_ok(cid->codec, &cid->mh))
    return WR_ERR_INVAL;
  *pout = *cid;
  pout->version = 0;
  return 0;
}

int wr_cid_equal(const wr_cid *a, const wr_cid *b) {
  return a->version == b->version && wr_cid_same_block(a, b);
}

int wr_cid_same_block(const wr_cid *a, const wr_cid *b) {
  return a->codec == b->codec && wr_mh_equal(&a->mh, &b->mh);
}

const char *wr_cid_codec_name(uint64_t codec) {
  switch (codec) {
  case WR_CODEC_RAW: return "raw";
  case WR_CODEC_DAG_PB: return "dag-pb";
  case WR_CODEC_DAG_CBOR: return "dag-cbor";
  case WR_CODEC_LIBP2P_KEY: return "libp2p-key";
  case WR_CODEC_DAG_JSON: return "dag-json";
  default: return NULL;
  }
}
