/* dagcbor.h: the links inside a dag-cbor block (codec 0x71).
 *
 * Not a general CBOR decoder: it walks the item structure of one block and
 * reports every CID link (tag 42 around a byte string whose first byte is the
 * 0x00 multibase identity prefix) in document order, which for dag-cbor's
 * canonical map-key order is the order kubo traverses. It checks what a walk
 * depends on: heads well formed, lengths inside the block, definite lengths
 * only (dag-cbor forbids indefinite ones), exactly one top-level item, and
 * nesting at most WR_DAGCBOR_MAX_DEPTH. Used by the store to follow dag-cbor
 * links for pins, GC and dag export. */
#ifndef WR_PROTO_IPLD_DAGCBOR_H
#define WR_PROTO_IPLD_DAGCBOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"

#define WR_DAGCBOR_MAX_DEPTH 256

/* Called once per link; return non-zero to stop (wr_dagcbor_links returns
 * that value). */
typedef int (*wr_dagcbor_link_fn)(void *arg, const wr_cid *cid);

/* Walks the n bytes of a dag-cbor block at p and calls fn for each link.
 * Returns 0, fn's non-zero value, WR_ERR_TRUNCATED (an item runs past the
 * end), WR_ERR_MALFORMED (a reserved or indefinite head, a tag 42 that is not
 * a 0x00-prefixed CID byte string, trailing bytes), or WR_ERR_LIMIT (nesting
 * too deep); *preason (may be NULL) gets a static sentence on error. */
WR_MUST_CHECK int wr_dagcbor_links(const uint8_t *p, size_t n, wr_dagcbor_link_fn fn,
                                   void *arg, const char **preason);

#endif
