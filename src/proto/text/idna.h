/* idna.h: internationalised host names in their ASCII form (IDNA, RFC 5890),
 * as cloudflared matches ingress rules: a rule for "môô.example.com" also
 * matches requests for "xn--m-xgaa.example.com".
 *
 * Each label that is not plain ASCII is decoded from UTF-8 (strictly: no
 * overlong forms, surrogates or code points past U+10FFFF), encoded with
 * Punycode (RFC 3492) and prefixed "xn--"; ASCII letters are lowercased.
 * Not done: the UTS #46 mapping (case folding of non-ASCII letters, NFKC), so
 * write rules in lower case; labels are checked for length only. */
#ifndef WR_PROTO_TEXT_IDNA_H
#define WR_PROTO_TEXT_IDNA_H

#include <stddef.h>

#include "base/err.h"

/* Longest ASCII host name (RFC 1035), without the NUL. */
#define WR_IDNA_MAX 253

/* Writes the ASCII form of the len bytes at host, NUL-terminated, into out
 * (WR_IDNA_MAX + 1 bytes). Returns 0; WR_ERR_INVAL with *preason (may be
 * NULL) set to a static sentence for bad UTF-8, an empty label, a label over
 * 63 bytes or a name over 253 once encoded. */
WR_MUST_CHECK int wr_idna_to_ascii(const char *host, size_t len, char *out, const char **preason);

/* Punycode (RFC 3492) of n code points, without the "xn--" prefix, appended
 * at out[*pn] (cap bytes in all; no NUL). WR_ERR_LIMIT when it does not fit. */
WR_MUST_CHECK int wr_punycode_encode(const unsigned *cp, size_t n, char *out, size_t cap,
                                     size_t *pn);

#endif
