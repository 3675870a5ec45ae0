#include "proto/text/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int wr_base64_encode(const void *p, size_t n, char *out, size_t cap) {
  if (n > (SIZE_MAX - 3) / 4 * 3 || cap < WR_BASE64_ENCODED_LEN(n) + 1)
    return WR_ERR_LIMIT;
  const uint8_t *in = p;
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)in[i + 1] << 8;
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return (int)o;
}

static int value_of(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

static int bad(size_t at, const char *why, size_t *poffset, const char **preason) {
  if (poffset)
    *poffset = at;
  if (preason)
    *preason = why;
  return WR_ERR_MALFORMED;
}

int wr_base64_decode(const char *s, size_t nchars, uint8_t *out, size_t cap, size_t *pn,
                     size_t *poffset, const char **preason) {
  *pn = 0;
  if (nchars % 4 != 0)
    return bad(nchars, "the length is not a multiple of 4", poffset, preason);
  size_t pad = 0;
  if (nchars >= 4 && s[nchars - 1] == '=')
    pad = s[nchars - 2] == '=' ? 2 : 1;
  size_t need = nchars / 4 * 3 - pad;
  if (need > cap) {
    if (poffset)
      *poffset = 0;
    if (preason)
      *preason = "the decoded value is too long";
    return WR_ERR_LIMIT;
  }
  size_t o = 0;
  for (size_t i = 0; i < nchars; i += 4) {
    int last = i + 4 == nchars;
    int v[4];
    for (int k = 0; k < 4; k++) {
      char c = s[i + (size_t)k];
      if (c == '=') {
        if (!last || (size_t)k < 4 - pad)
          return bad(i + (size_t)k, "'=' padding may only end the text", poffset, preason);
        v[k] = 0;
        continue;
      }
      if ((v[k] = value_of(c)) < 0)
        return bad(i + (size_t)k, "a character outside the base64 alphabet", poffset, preason);
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    if (last && pad == 2 && (w & 0xFFFF))
      return bad(i + 1, "non-zero bits before the padding", poffset, preason);
    if (last && pad == 1 && (w & 0xFF))
      return bad(i + 2, "non-zero bits before the padding", poffset, preason);
    out[o++] = (uint8_t)(w >> 16);
    if (!(last && pad == 2))
      out[o++] = (uint8_t)(w >> 8);
    if (!(last && pad))
      out[o++] = (uint8_t)w;
  }
  *pn = o;
  return 0;
}
