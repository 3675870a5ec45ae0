/* base64.h: RFC 4648 base64, standard alphabet with '=' padding.
 *
 * The decoder is strict, so one byte string has exactly one accepted text:
 * the length must be a multiple of 4, '=' may only pad the last group, no
 * whitespace or line breaks, and the bits that padding leaves over must be
 * zero. (cloudflared writes TunnelSecret with Go's StdEncoding, which is
 * this format.) */
#ifndef WR_PROTO_TEXT_BASE64_H
#define WR_PROTO_TEXT_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Characters (without NUL) that n bytes encode to. */
#define WR_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
/* Most bytes that n characters can decode to. */
#define WR_BASE64_DECODED_MAX(n) (((n) / 4) * 3)

/* Encodes n bytes into out, NUL-terminated; cap must be at least
 * WR_BASE64_ENCODED_LEN(n) + 1. Returns the characters written (without the
 * NUL), or WR_ERR_LIMIT when cap is too small. */
WR_MUST_CHECK int wr_base64_encode(const void *p, size_t n, char *out, size_t cap);

/* Decodes nchars characters into out (cap bytes) and sets *pn to the bytes
 * written. WR_ERR_MALFORMED for a length that is not a multiple of 4, a
 * character outside the alphabet, misplaced padding or non-zero leftover
 * bits; WR_ERR_LIMIT when out is too small. On error *poffset (may be NULL)
 * gets the offending character's position and *preason (may be NULL) a
 * static sentence. */
WR_MUST_CHECK int wr_base64_decode(const char *s, size_t nchars, uint8_t *out, size_t cap,
                                   size_t *pn, size_t *poffset, const char **preason);

#endif
