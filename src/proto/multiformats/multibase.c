#include "proto/multiformats/multibase.h"

#include <string.h>

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char B36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char B58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char B16[] = "0123456789abcdef";

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

const char *wr_multibase_name(int base) {
  switch (base) {
  case WR_MB_BASE16: return "base16";
  case WR_MB_BASE32: return "base32";
  case WR_MB_BASE36: return "base36";
  case WR_MB_BASE58BTC: return "base58btc";
  default: return NULL;
  }
}

int wr_multibase_from_name(const char *name, int *pbase) {
  static const int bases[] = {WR_MB_BASE16, WR_MB_BASE32, WR_MB_BASE36, WR_MB_BASE58BTC};
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
    if (strcmp(name, wr_multibase_name(bases[i])) == 0) {
      *pbase = bases[i];
      return 0;
    }
  }
  return WR_ERR_INVAL;
}

size_t wr_base_encoded_max(int base, size_t n) {
  switch (base) {
  case WR_MB_BASE16: return 2 * n;
  case WR_MB_BASE32: return (n * 8 + 4) / 5;
  /* log(256)/log(36) = 1.5474; log(256)/log(58) = 1.3657 */
  case WR_MB_BASE36: return n * 155 / 100 + 1;
  case WR_MB_BASE58BTC: return n * 137 / 100 + 1;
  default: return 0;
  }
}

size_t wr_base_decoded_max(int base, size_t nchars) {
  switch (base) {
  case WR_MB_BASE16: return nchars / 2;
  case WR_MB_BASE32: return nchars * 5 / 8;
  /* leading zero characters decode to one byte each */
  case WR_MB_BASE36:
  case WR_MB_BASE58BTC: return nchars;
  default: return 0;
  }
}

static int digit_of(const char *alpha, char ch) {
  if (ch == '\0')
    return -1;
  const char *q = strchr(alpha, ch);
  return q ? (int)(q - alpha) : -1;
}

/* Big-number base conversion, bytes -> digits of `radix`. Leading zero
 * bytes become leading zero digits, one each, which is what makes the
 * encoding of base36/base58 bijective. */
static int bignum_encode(const char *alpha, unsigned radix, const uint8_t *p, size_t n, char *out,
                         size_t cap) {
  if (n > WR_MULTIBASE_MAX_BIGNUM)
    return WR_ERR_LIMIT;
  size_t zeros = 0;
  while (zeros < n && p[zeros] == 0)
    zeros++;
  size_t max = (radix == 36 ? wr_base_encoded_max(WR_MB_BASE36, n)
                            : wr_base_encoded_max(WR_MB_BASE58BTC, n));
  if (cap < max + 1)
    return WR_ERR_LIMIT;
  /* out[0..len) holds the digits of the non-zero part, least significant first. */
  uint8_t *dig = (uint8_t *)out;
  size_t len = 0;
  for (size_t i = zeros; i < n; i++) {
    unsigned carry = p[i];
    for (size_t j = 0; j < len; j++) {
      carry += (unsigned)dig[j] * 256u;
      dig[j] = (uint8_t)(carry % radix);
      carry /= radix;
    }
    while (carry) {
      dig[len++] = (uint8_t)(carry % radix);
      carry /= radix;
    }
  }
  /* Most significant first, after the zero characters. */
  for (size_t j = 0; j < len / 2; j++) {
    uint8_t t = dig[j];
    dig[j] = dig[len - 1 - j];
    dig[len - 1 - j] = t;
  }
  memmove(out + zeros, dig, len);
  memset(out, alpha[0], zeros);
  for (size_t j = zeros; j < zeros + len; j++)
    out[j] = alpha[(uint8_t)out[j]];
  out[zeros + len] = '\0';
  return (int)(zeros + len);
}

static int bignum_decode(const char *alpha, unsigned radix, const char *name, const char *s,
                         size_t nchars, uint8_t *out, size_t cap, size_t *pn,
                         const char **preason) {
  (void)name;
  if (nchars > WR_MULTIBASE_MAX_BIGNUM * 2)
    return fail(preason, "multibase text too long", WR_ERR_LIMIT);
  size_t zeros = 0;
  while (zeros < nchars && s[zeros] == alpha[0])
    zeros++;
  if (zeros > cap)
    return fail(preason, "decoded bytes do not fit", WR_ERR_LIMIT);
  uint8_t *num = out + zeros; /* least significant byte first */
  size_t room = cap - zeros, len = 0;
  for (size_t i = zeros; i < nchars; i++) {
    int d = digit_of(alpha, s[i]);
    if (d < 0)
      return fail(preason,
                  radix == 58 ? "invalid base58btc character" : "invalid base36 character",
                  WR_ERR_MALFORMED);
    unsigned carry = (unsigned)d;
    for (size_t j = 0; j < len; j++) {
      carry += (unsigned)num[j] * radix;
      num[j] = (uint8_t)(carry & 0xff);
      carry >>= 8;
    }
    while (carry) {
      if (len >= room)
        return fail(preason, "decoded bytes do not fit", WR_ERR_LIMIT);
      num[len++] = (uint8_t)(carry & 0xff);
      carry >>= 8;
    }
  }
  for (size_t j = 0; j < len / 2; j++) {
    uint8_t t = num[j];
    num[j] = num[len - 1 - j];
    num[len - 1 - j] = t;
  }
  memset(out, 0, zeros);
  *pn = zeros + len;
  return 0;
}

static int b32_encode(const uint8_t *p, size_t n, char *out, size_t cap) {
  size_t need = wr_base_encoded_max(WR_MB_BASE32, n);
  if (cap < need + 1)
    return WR_ERR_LIMIT;
  size_t o = 0;
  unsigned acc = 0, bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[o++] = B32[(acc >> bits) & 31];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits)
    out[o++] = B32[(acc << (5 - bits)) & 31];
  out[o] = '\0';
  return (int)o;
}

static int b32_decode(const char *s, size_t nchars, uint8_t *out, size_t cap, size_t *pn,
                      const char **preason) {
  size_t r = nchars % 8;
  if (r == 1 || r == 3 || r == 6)
    return fail(preason, "impossible base32 length", WR_ERR_MALFORMED);
  if (wr_base_decoded_max(WR_MB_BASE32, nchars) > cap)
    return fail(preason, "decoded bytes do not fit", WR_ERR_LIMIT);
  size_t o = 0;
  unsigned acc = 0, bits = 0;
  for (size_t i = 0; i < nchars; i++) {
    int d = digit_of(B32, s[i]);
    if (d < 0)
      return fail(preason, "invalid base32 character (lower case, no padding)", WR_ERR_MALFORMED);
    acc = (acc << 5) | (unsigned)d;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* Leftover bits must be zero, or two texts would decode to the same bytes. */
  if (acc)
    return fail(preason, "non-zero trailing bits in base32", WR_ERR_MALFORMED);
  *pn = o;
  return 0;
}

static int b16_encode(const uint8_t *p, size_t n, char *out, size_t cap) {
  if (cap < 2 * n + 1)
    return WR_ERR_LIMIT;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = B16[p[i] >> 4];
    out[2 * i + 1] = B16[p[i] & 15];
  }
  out[2 * n] = '\0';
  return (int)(2 * n);
}

static int b16_decode(const char *s, size_t nchars, uint8_t *out, size_t cap, size_t *pn,
                      const char **preason) {
  if (nchars % 2)
    return fail(preason, "odd base16 length", WR_ERR_MALFORMED);
  if (nchars / 2 > cap)
    return fail(preason, "decoded bytes do not fit", WR_ERR_LIMIT);
  for (size_t i = 0; i < nchars; i += 2) {
    int hi = digit_of(B16, s[i]), lo = digit_of(B16, s[i + 1]);
    if (hi < 0 || lo < 0)
      return fail(preason, "invalid base16 character (lower case)", WR_ERR_MALFORMED);
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  *pn = nchars / 2;
  return 0;
}

int wr_base_encode(int base, const void *p, size_t n, char *out, size_t cap) {
  if (n > (size_t)1 << 28)
    return WR_ERR_LIMIT; /* keeps every length below INT_MAX */
  switch (base) {
  case WR_MB_BASE16: return b16_encode(p, n, out, cap);
  case WR_MB_BASE32: return b32_encode(p, n, out, cap);
  case WR_MB_BASE36: return bignum_encode(B36, 36, p, n, out, cap);
  case WR_MB_BASE58BTC: return bignum_encode(B58, 58, p, n, out, cap);
  default: return WR_ERR_INVAL;
  }
}

int wr_base_decode(int base, const char *s, size_t nchars, uint8_t *out, size_t cap, size_t *pn,
                   const char **preason) {
  switch (base) {
  case WR_MB_BASE16: return b16_decode(s, nchars, out, cap, pn, preason);
  case WR_MB_BASE32: return b32_decode(s, nchars, out, cap, pn, preason);
  case WR_MB_BASE36: return bignum_decode(B36, 36, "base36", s, nchars, out, cap, pn, preason);
  case WR_MB_BASE58BTC:
    return bignum_decode(B58, 58, "base58btc", s, nchars, out, cap, pn, preason);
  default: return fail(preason, "unknown base", WR_ERR_INVAL);
  }
}

int wr_multibase_encode(int base, const void *p, size_t n, char *out, size_t cap) {
  if (!wr_multibase_name(base))
    return WR_ERR_INVAL;
  if (cap < 2)
    return WR_ERR_LIMIT;
  int rv = wr_base_encode(base, p, n, out + 1, cap - 1);
  if (rv < 0)
    return rv;
  out[0] = (char)base;
  return rv + 1;
}

int wr_multibase_put(wr_buf *b, int base, const void *p, size_t n) {
  if (!wr_multibase_name(base))
    return WR_ERR_INVAL;
  if (n > WR_MULTIBASE_MAX_BIGNUM * 64)
    return WR_ERR_LIMIT;
  size_t need = wr_base_encoded_max(base, n) + 2;
  int rv = wr_buf_reserve(b, need);
  if (rv)
    return rv;
  rv = wr_multibase_encode(base, p, n, (char *)b->data + b->len, need);
  if (rv < 0)
    return rv;
  b->len += (size_t)rv;
  return 0;
}

int wr_multibase_decode(const char *s, size_t nchars, int *pbase, uint8_t *out, size_t cap,
                        size_t *pn, const char **preason) {
  if (nchars == 0)
    return fail(preason, "empty multibase string", WR_ERR_MALFORMED);
  int base = (unsigned char)s[0];
  if (!wr_multibase_name(base))
    return fail(preason, "unknown multibase prefix (warren reads b base32, k base36, "
                         "z base58btc, f base16)",
                WR_ERR_UNSUPPORTED);
  int rv = wr_base_decode(base, s + 1, nchars - 1, out, cap, pn, preason);
  if (rv)
    return rv;
  *pbase = base;
  return 0;
}
