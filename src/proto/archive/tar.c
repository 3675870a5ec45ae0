/* tar.c: ustar headers with PAX records for long names (see tar.h). */
#include "proto/archive/tar.h"

#include <stdio.h>
#include <string.h>

static void octal(uint8_t *field, size_t width, uint64_t v) {
  /* width - 1 digits and a NUL, zero-padded, as GNU and Go write them */
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = (uint8_t)('0' + (v & 7));
    v >>= 3;
  }
  field[width - 1] = 0;
}

static int ustar(wr_buf *out, const char *name, size_t n, int type, uint64_t size, uint32_t mode,
                 uint64_t mtime, const char *link, size_t ln) {
  uint8_t h[WR_TAR_BLOCK];
  memset(h, 0, sizeof h);
  memcpy(h, name, n < 100 ? n : 100);
  octal(h + 100, 8, mode);
  octal(h + 108, 8, 0);
  octal(h + 116, 8, 0);
  octal(h + 124, 12, size);
  octal(h + 136, 12, mtime);
  memset(h + 148, ' ', 8);
  h[156] = (uint8_t)type;
  if (link)
    memcpy(h + 157, link, ln < 100 ? ln : 100);
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof h; i++)
    sum += h[i];
  octal(h + 148, 7, sum);
  h[155] = ' ';
  return wr_buf_append(out, h, sizeof h);
}

/* One PAX record "LEN key=value\n", where LEN counts itself. */
static int pax_record(wr_buf *b, const char *key, const char *v, size_t vn) {
  size_t base = strlen(key) + vn + 3; /* ' ', '=', '\n' */
  size_t len = base + 1;
  for (;;) {
    char digits[24];
    int d = snprintf(digits, sizeof digits, "%zu", len);
    if (base + (size_t)d == len)
      break;
    len = base + (size_t)d;
  }
  int rv = wr_buf_printf(b, "%zu %s=", len, key);
  if (!rv)
    rv = wr_buf_append(b, v, vn);
  if (!rv)
    rv = wr_buf_append(b, "\n", 1);
  return rv;
}

int wr_tar_header(wr_buf *out, const char *name, size_t n, int type, uint64_t size, uint32_t mode,
                  uint64_t mtime, const char *linkname, size_t ln) {
  if (memchr(name, 0, n) || (linkname && memchr(linkname, 0, ln)))
    return WR_ERR_INVAL;
  size_t old = out->len;
  int rv = 0;
  int big = size > 077777777777ull;
  if (n > 100 || (linkname && ln > 100) || big) {
    wr_buf pax;
    wr_buf_init(&pax, 64 * 1024);
    if (n > 100)
      rv = pax_record(&pax, "path", name, n);
    if (!rv && linkname && ln > 100)
      rv = pax_record(&pax, "linkpath", linkname, ln);
    if (!rv && big) {
      char num[24];
      int d = snprintf(num, sizeof num, "%llu", (unsigned long long)size);
      rv = pax_record(&pax, "size", num, (size_t)d);
    }
    if (!rv)
      rv = ustar(out, "PaxHeaders/entry", 16, 'x', pax.len, 0644, mtime, NULL, 0);
    if (!rv)
      rv = wr_buf_append(out, pax.data, pax.len);
    if (!rv && wr_tar_padding(pax.len)) {
      static const uint8_t zero[WR_TAR_BLOCK];
      rv = wr_buf_append(out, zero, wr_tar_padding(pax.len));
    }
    wr_buf_free(&pax);
  }
  if (!rv)
    rv = ustar(out, name, n, type, big ? 0 : size, mode, mtime, linkname, ln);
  if (rv)
    out->len = old;
  return rv;
}

size_t wr_tar_padding(uint64_t size) {
  return (size_t)((WR_TAR_BLOCK - size % WR_TAR_BLOCK) % WR_TAR_BLOCK);
}

int wr_tar_end(wr_buf *out) {
  static const uint8_t zero[2 * WR_TAR_BLOCK];
  return wr_buf_append(out, zero, sizeof zero);
}
