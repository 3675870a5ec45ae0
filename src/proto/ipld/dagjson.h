/* dagjson.h: the links inside a dag-json block (codec 0x0129).
 *
 * Not a general JSON decoder: it checks the JSON syntax of one block (RFC
 * 8259: one value, strings with valid escapes and no control characters,
 * numbers, literals) and reports every link, an object whose only key is
 * "/" with a string value ({"/": "bafy..."}), in document order. {"/":
 * {"bytes": ...}} is bytes, not a link. Nesting is capped at
 * WR_DAGJSON_MAX_DEPTH. Used by the store to follow dag-json links. */
#ifndef WR_PROTO_IPLD_DAGJSON_H
#define WR_PROTO_IPLD_DAGJSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"

#define WR_DAGJSON_MAX_DEPTH 256

/* Called once per link; return non-zero to stop (wr_dagjson_links returns
 * that value). */
typedef int (*wr_dagjson_link_fn)(void *arg, const wr_cid *cid);

/* Walks the n bytes of a dag-json block at p and calls fn for each link.
 * Returns 0, fn's non-zero value, WR_ERR_TRUNCATED (the text ends inside a
 * value), WR_ERR_MALFORMED (bad JSON, a link whose string is not a CID,
 * trailing text), or WR_ERR_LIMIT (nesting too deep); *preason (may be NULL)
 * gets a static sentence on error. */
WR_MUST_CHECK int wr_dagjson_links(const uint8_t *p, size_t n, wr_dagjson_link_fn fn, void *arg,
                                   const char **preason);

#endif
