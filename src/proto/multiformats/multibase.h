/* multibase.h: text encodings of bytes with a one-character prefix naming
 * the base: 'b' base32 (RFC 4648 lower case, no padding), 'k' base36 (lower
 * case), 'z' base58btc (Bitcoin alphabet), 'f' base16 (lower case).
 *
 * Decoders are strict: one canonical text per byte string (no padding, no
 * upper case, no non-zero leftover bits in base32). base36 and base58 are
 * big-number conversions, quadratic in length, so they refuse inputs over
 * WR_MULTIBASE_MAX_BIGNUM bytes (WR_ERR_LIMIT); CIDs and keys are far
 * shorter. */
#ifndef WR_PROTO_MULTIFORMATS_MULTIBASE_H
#define WR_PROTO_MULTIFORMATS_MULTIBASE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef enum wr_multibase {
  WR_MB_BASE16 = 'f',
  WR_MB_BASE32 = 'b',
  WR_MB_BASE36 = 'k',
  WR_MB_BASE58BTC = 'z',
} wr_multibase;

#define WR_MULTIBASE_MAX_BIGNUM 4096

/* The name of a base ("base32", ...) or NULL when base is not one above. */
const char *wr_multibase_name(int base);
/* Parses a name ("base32", "base36", "base58btc", "base16") into *pbase.
 * 0 or WR_ERR_INVAL. */
WR_MUST_CHECK int wr_multibase_from_name(const char *name, int *pbase);

/* Most characters encoding n bytes takes in base (no prefix, no NUL). */
size_t wr_base_encoded_max(int base, size_t n);
/* Most bytes that nchars characters of base can decode to. */
size_t wr_base_decoded_max(int base, size_t nchars);

/* Encodes n bytes without a prefix into out, NUL-terminated. cap must be at
 * least wr_base_encoded_max(base, n) + 1. Returns the characters written
 * (without the NUL), WR_ERR_LIMIT when cap is too small or n is too large
 * for a big-number base, WR_ERR_INVAL for an unknown base. */
WR_MUST_CHECK int wr_base_encode(int base, const void *p, size_t n, char *out, size_t cap);
/* Decodes nchars characters without a prefix into out (cap bytes); sets *pn
 * to the bytes written. WR_ERR_MALFORMED for a character outside the
 * alphabet, an impossible base32 length or non-zero leftover bits;
 * WR_ERR_LIMIT when out is too small or the input too long; WR_ERR_INVAL for
 * an unknown base. *preason (may be NULL) gets a static sentence. */
WR_MUST_CHECK int wr_base_decode(int base, const char *s, size_t nchars, uint8_t *out, size_t cap,
                                 size_t *pn, const char **preason);

/* As wr_base_encode, with the base's prefix character first. cap must be at
 * least wr_base_encoded_max(base, n) + 2. */
WR_MUST_CHECK int wr_multibase_encode(int base, const void *p, size_t n, char *out, size_t cap);
/* Appends the prefixed text (no NUL) to b. Errors as wr_multibase_encode,
 * wr_buf_append. */
WR_MUST_CHECK int wr_multibase_put(wr_buf *b, int base, const void *p, size_t n);
/* Decodes a prefixed text of nchars characters; *pbase gets the prefix.
 * WR_ERR_MALFORMED "empty multibase string", WR_ERR_UNSUPPORTED "unknown
 * multibase prefix ...", else as wr_base_decode. */
WR_MUST_CHECK int wr_multibase_decode(const char *s, size_t nchars, int *pbase, uint8_t *out,
                                      size_t cap, size_t *pn, const char **preason);

#endif
