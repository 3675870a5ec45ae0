/* uuid.h: RFC 9562 UUIDs as 16 bytes, with the canonical text form
 * "6ff42ae2-765d-4adf-8112-31c55c1551ef". Tunnel ids are version 4 (random);
 * the random bytes come from the caller, since src/proto draws none. */
#ifndef WR_PROTO_TEXT_UUID_H
#define WR_PROTO_TEXT_UUID_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define WR_UUID_STR_LEN 36 /* without the NUL */

/* Parses the 36-character 8-4-4-4-12 hex form (either case; no braces, no
 * "urn:uuid:"). WR_ERR_MALFORMED otherwise. Any version is accepted. */
WR_MUST_CHECK int wr_uuid_parse(const char *s, size_t len, uint8_t out[16]);

/* Writes the lowercase canonical form and a NUL into out (37 bytes). */
void wr_uuid_format(const uint8_t id[16], char out[WR_UUID_STR_LEN + 1]);

/* Turns 16 random bytes into a version 4 UUID in place (sets the version
 * and variant bits). */
void wr_uuid_make_v4(uint8_t id[16]);

#endif
