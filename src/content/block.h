/* block.h: the node's policy for raw blocks — what `warren block put|rm`
 * decide (kubo's `ipfs block`), for any front end.
 *
 * put: the bytes are checked for the codec they claim (dag-pb must decode),
 * hashed into their CID, stored, and optionally pinned in the same commit
 * (directly for raw, recursively for dag-pb, whose links must then be in the
 * store). rm: a block is removed only when no pin needs it: not a pin root
 * itself, not reachable from a recursive pin, and not possibly reachable
 * from a pinned DAG that cannot be walked. Each function that takes bs runs
 * its own transaction; nothing returned points into the store. */
#ifndef WR_CONTENT_BLOCK_H
#define WR_CONTENT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "content/pinning.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"

/* Checks that len bytes are a valid block of codec (WR_CODEC_RAW: always;
 * WR_CODEC_DAG_PB: must decode) and computes their CIDv1 (sha2-256) into
 * *pcid. Touches no store. Returns 0, WR_ERR_MALFORMED (*preason, may be
 * NULL, gets a static sentence), WR_ERR_UNSUPPORTED (another codec),
 * WR_ERR_LIMIT (larger than WR_BS_MAX_BLOCK). */
WR_MUST_CHECK int wr_block_check(uint64_t codec, const void *data, size_t len, wr_cid *pcid,
                                 const char **preason);

/* Stores len bytes as the block cid, which the caller has just computed from
 * them (wr_block_check), so they are not hashed again. With pin, pins it in
 * the same commit: recursively for dag-pb (the DAG must be whole), directly
 * otherwise; an existing stronger pin is left as it is. Returns 0, a walk
 * error with pf->walk = 1 (see wr_pinning_add; nothing is stored), or the
 * store's error (WR_ERR_LIMIT, WR_ERR_IO, ...). */
WR_MUST_CHECK int wr_block_put(wr_bs *bs, const wr_cid *cid, const void *data, size_t len, int pin,
                               wr_pinning_fault *pf);

/* Why wr_block_rm refused (filled on WR_ERR_DENIED). */
typedef struct wr_block_pinned {
  wr_cid root;      /* the pin that needs the block */
  wr_pin_type type; /* that pin's type */
  int self;         /* 1: root is the block itself (same multihash), 0: reached through it */
  int err;          /* non-zero: root's DAG cannot be walked (this error), so it may need
                     * the block */
} wr_block_pinned;

/* Removes the block cid (any CID of the same multihash names it) unless a
 * pin needs it. Returns 0, WR_ERR_NOTFOUND (not in the store),
 * WR_ERR_DENIED (pinned: *pp says by what), or the store's error. */
WR_MUST_CHECK int wr_block_rm(wr_bs *bs, const wr_cid *cid, wr_block_pinned *pp);

#endif
