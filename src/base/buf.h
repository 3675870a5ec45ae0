/* buf.h: bounded byte buffers.
 *
 * wr_buf is a growable buffer with a named cap: appending past the cap fails
 * with WR_ERR_LIMIT instead of growing memory without bound. */
#ifndef WR_BASE_BUF_H
#define WR_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct wr_buf {
  uint8_t *data;
  size_t len;
  size_t cap;   /* bytes allocated */
  size_t limit; /* most bytes this buffer may ever hold */
} wr_buf;

/* Initialises an empty buffer that may hold at most limit bytes. */
void wr_buf_init(wr_buf *b, size_t limit);
/* Frees the buffer's memory; the buffer is empty and reusable afterwards. */
void wr_buf_free(wr_buf *b);
/* Makes room for n more bytes. WR_ERR_LIMIT past the limit, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_buf_reserve(wr_buf *b, size_t n);
/* Appends n bytes (copied). Errors as wr_buf_reserve. */
WR_MUST_CHECK int wr_buf_append(wr_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string without its NUL. */
WR_MUST_CHECK int wr_buf_puts(wr_buf *b, const char *s);
/* Appends printf-formatted text. */
WR_MUST_CHECK int wr_buf_printf(wr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
void wr_buf_consume(wr_buf *b, size_t n);
static inline void wr_buf_reset(wr_buf *b) { b->len = 0; }

/* A read cursor over bytes someone else owns. Decoders check the whole
 * length first, then read, so no read ever passes end. */
typedef struct wr_cursor {
  const uint8_t *pos;
  const uint8_t *end;
} wr_cursor;

static inline void wr_cursor_init(wr_cursor *c, const void *p, size_t n) {
  c->pos = (const uint8_t *)p;
  c->end = c->pos + n;
}
static inline size_t wr_cursor_left(const wr_cursor *c) { return (size_t)(c->end - c->pos); }

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void wr_hex_encode(char *out, const void *p, size_t n);
/* Decodes 2n hex digits into n bytes. WR_ERR_MALFORMED on a bad digit or odd length. */
WR_MUST_CHECK int wr_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen);

#endif
