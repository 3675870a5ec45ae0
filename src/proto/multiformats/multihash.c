#include "proto/multiformats/multihash.h"

#include <string.h>

#include "proto/multiformats/varint.h"

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

int wr_mh_decode(wr_cursor *c, wr_mh *pmh, const char **preason) {
  wr_cursor t = *c;
  uint64_t code, size;
  int rv = wr_varint_decode(&t, &code, preason);
  if (rv)
    return rv;
  rv = wr_varint_decode(&t, &size, preason);
  if (rv)
    return rv;
  if (size > WR_MH_MAX_DIGEST)
    return fail(preason, "multihash digest longer than 128 bytes", WR_ERR_UNSUPPORTED);
  if (size > wr_cursor_left(&t))
    return fail(preason, "input ends inside a multihash digest", WR_ERR_TRUNCATED);
  if (code == WR_MH_SHA2_256 && size != WR_SHA256_SIZE)
    return fail(preason, "sha2-256 multihash with a digest length other than 32",
                WR_ERR_MALFORMED);
  pmh->code = code;
  pmh->size = (uint32_t)size;
  memcpy(pmh->digest, t.pos, (size_t)size);
  t.pos += size;
  *c = t;
  return 0;
}

int wr_mh_parse(const uint8_t *p, size_t n, wr_mh *pmh, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int rv = wr_mh_decode(&c, pmh, preason);
  if (rv)
    return rv;
  if (wr_cursor_left(&c))
    return fail(preason, "trailing bytes after multihash", WR_ERR_MALFORMED);
  return 0;
}

size_t wr_mh_encoded_size(const wr_mh *mh) {
  return wr_varint_size(mh->code) + wr_varint_size(mh->size) + mh->size;
}

int wr_mh_encode(const wr_mh *mh, uint8_t *out, size_t cap) {
  if (mh->code > WR_VARINT_MAX_VALUE || mh->size > WR_MH_MAX_DIGEST)
    return WR_ERR_INVAL;
  size_t need = wr_mh_encoded_size(mh);
  if (need > cap)
    return WR_ERR_LIMIT;
  uint8_t *o = out;
  o += wr_varint_encode(o, mh->code);
  o += wr_varint_encode(o, mh->size);
  memcpy(o, mh->digest, mh->size);
  return (int)need;
}

int wr_mh_put(wr_buf *b, const wr_mh *mh) {
  uint8_t tmp[WR_MH_MAX_BYTES];
  int n = wr_mh_encode(mh, tmp, sizeof tmp);
  if (n < 0)
    return n;
  return wr_buf_append(b, tmp, (size_t)n);
}

void wr_mh_sha256(wr_mh *pmh, const void *p, size_t n) {
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, n, p);
  sha256_digest(&ctx, WR_SHA256_SIZE, pmh->digest);
  pmh->code = WR_MH_SHA2_256;
  pmh->size = WR_SHA256_SIZE;
}

int wr_mh_sum(wr_mh *pmh, uint64_t code, const void *p, size_t n) {
  switch (code) {
  case WR_MH_SHA2_256:
    wr_mh_sha256(pmh, p, n);
    return 0;
  case WR_MH_SHA2_512: {
    struct sha512_ctx ctx;
    sha512_init(&ctx);
    sha512_update(&ctx, n, p);
    sha512_digest(&ctx, WR_SHA512_SIZE, pmh->digest);
    pmh->code = WR_MH_SHA2_512;
    pmh->size = WR_SHA512_SIZE;
    return 0;
  }
  case WR_MH_IDENTITY:
    if (n > WR_MH_MAX_DIGEST)
      return WR_ERR_LIMIT;
    pmh->code = WR_MH_IDENTITY;
    pmh->size = (uint32_t)n;
    if (n)
      memcpy(pmh->digest, p, n);
    return 0;
  default:
    return WR_ERR_UNSUPPORTED;
  }
}

int wr_mh_verify(const wr_mh *mh, const void *p, size_t n) {
  wr_mh got;
  int rv = wr_mh_sum(&got, mh->code, p, n);
  if (rv == WR_ERR_LIMIT)
    return WR_ERR_CORRUPT; /* identity data longer than any digest we hold */
  if (rv)
    return rv;
  if (mh->code != WR_MH_IDENTITY && mh->size != got.size)
    return WR_ERR_UNSUPPORTED; /* a truncated hash: not checked */
  return wr_mh_equal(mh, &got) ? 0 : WR_ERR_CORRUPT;
}

int wr_mh_equal(const wr_mh *a, const wr_mh *b) {
  return a->code == b->code && a->size == b->size && memcmp(a->digest, b->digest, a->size) == 0;
}

const char *wr_mh_name(uint64_t code) {
  switch (code) {
  case WR_MH_IDENTITY: return "identity";
  case 0x11: return "sha1";
  case WR_MH_SHA2_256: return "sha2-256";
  case WR_MH_SHA2_512: return "sha2-512";
  case 0x16: return "sha3-256";
  case 0x1b: return "keccak-256";
  case 0x1e: return "blake3";
  case 0xb220: return "blake2b-256";
  default: return NULL;
  }
}

void wr_sha256_init(wr_sha256 *s) { sha256_init(&s->ctx); }

void wr_sha256_update(wr_sha256 *s, const void *p, size_t n) { sha256_update(&s->ctx, n, p); }

void wr_sha256_final(wr_sha256 *s, uint8_t out[WR_SHA256_SIZE]) {
  sha256_digest(&s->ctx, WR_SHA256_SIZE, out); /* nettle re-inits the context */
}

void wr_sha256_final_mh(wr_sha256 *s, wr_mh *pmh) {
  wr_sha256_final(s, pmh->digest);
  pmh->code = WR_MH_SHA2_256;
  pmh->size = WR_SHA256_SIZE;
}
