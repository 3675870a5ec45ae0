#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"

void wr_buf_init(wr_buf *b, size_t limit) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->limit = limit;
}

void wr_buf_free(wr_buf *b) {
  wr_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int wr_buf_reserve(wr_buf *b, size_t n) {
  if (n > b->limit - b->len || b->len > b->limit)
    return WR_ERR_LIMIT;
  size_t need = b->len + n;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > b->limit)
    cap = b->limit;
  uint8_t *d = wr_realloc(b->data, cap);
  if (!d)
    return WR_ERR_NOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int wr_buf_append(wr_buf *b, const void *p, size_t n) {
  int rv = wr_buf_reserve(b, n);
  if (rv)
    return rv;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int wr_buf_puts(wr_buf *b, const char *s) { return wr_buf_append(b, s, strlen(s)); }

int wr_buf_printf(wr_buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return WR_ERR_INVAL;
  if ((size_t)n < sizeof small)
    return wr_buf_append(b, small, (size_t)n);
  /* Too long for the stack buffer: format into a heap copy (vsnprintf needs
   * room for a NUL, which the buffer's limit does not count). */
  char *big = wr_malloc((size_t)n + 1);
  if (!big)
    return WR_ERR_NOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rv = wr_buf_append(b, big, (size_t)n);
  wr_free(big);
  return rv;
}

void wr_buf_consume(wr_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void wr_hex_encode(char *out, const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const uint8_t *s = p;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[s[i] >> 4];
    out[2 * i + 1] = digits[s[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int wr_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen) {
  if (hexlen % 2 || hexlen / 2 != outlen)
    return WR_ERR_MALFORMED;
  for (size_t i = 0; i < outlen; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return WR_ERR_MALFORMED;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}
