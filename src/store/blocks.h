/* blocks.h: the blocks seam — where content reads and writes blocks by CID,
 * whatever holds them.
 *
 * A source is a small table of functions (wr_blocks_ops) behind a wr_blocks
 * handle. The LMDB blockstore is the first (wr_bs_blocks_init in
 * store/blockstore.h, bound to one transaction); a network fetcher (Bitswap,
 * src/p2p/) plugs in later as a source that, on a miss, fetches the block,
 * verifies it and puts it into the source it caches in. Content code
 * (content/, the gateway) and store/dag walk a wr_blocks and never know
 * which.
 *
 * Lifetimes: a source is used from one thread at a time. Bytes got from a
 * source stay valid until its session ends (for LMDB, the transaction) or
 * the next put on it, whichever comes first; the caller never frees them
 * and must copy what it keeps longer. get is synchronous.
 *
 * Verification: every get returns bytes that hash to the CID's multihash
 * (the source checks them, or WR_ERR_CORRUPT). wr_blocks_put verifies the
 * bytes against the CID before the source sees them, unless the caller
 * passes WR_BLOCKS_TRUSTED because it has just computed the CID from those
 * very bytes (the importer: hashing twice would halve `warren add`). */
#ifndef WR_STORE_BLOCKS_H
#define WR_STORE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"

typedef struct wr_blocks wr_blocks;

/* What a source implements. Each function gets the wr_blocks it was called
 * on (an implementation embeds wr_blocks first in its own struct). */
typedef struct wr_blocks_ops {
  const char *name; /* for logs: "lmdb", ... */
  /* Finds a block and verifies it; bytes live as the top comment says.
   * 0, WR_ERR_NOTFOUND, WR_ERR_CORRUPT, WR_ERR_UNSUPPORTED (a hash warren
   * cannot compute), or the source's own error (WR_ERR_IO, ...). */
  int (*get)(wr_blocks *b, const wr_cid *cid, const uint8_t **pdata, size_t *plen);
  /* The stored size without reading or hashing. 0 or WR_ERR_NOTFOUND, ... */
  int (*size)(wr_blocks *b, const wr_cid *cid, size_t *plen);
  /* Stores bytes already verified (by wr_blocks_put); storing a block that
   * is there is a no-op. NULL for a read-only source. */
  int (*put)(wr_blocks *b, const wr_cid *cid, const void *data, size_t len);
} wr_blocks_ops;

struct wr_blocks {
  const wr_blocks_ops *ops;
};

enum {
  /* put: the caller computed cid from these bytes just now; do not hash again. */
  WR_BLOCKS_TRUSTED = 1,
};

/* Reads the block cid: *pdata and *plen get its verified bytes (see the top
 * comment for how long they live). Errors as wr_blocks_ops.get. */
WR_MUST_CHECK int wr_blocks_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pdata,
                                size_t *plen);
/* The block's size, without hashing it. 0, WR_ERR_NOTFOUND, or the source's
 * error. */
WR_MUST_CHECK int wr_blocks_size(wr_blocks *b, const wr_cid *cid, size_t *plen);
/* 1 when the source has the block, 0 when not, or a negative WR_ERR_*. */
WR_MUST_CHECK int wr_blocks_has(wr_blocks *b, const wr_cid *cid);
/* Stores len bytes as the block cid; the source copies them (data may be
 * reused once this returns). Unless flags has WR_BLOCKS_TRUSTED the bytes are
 * checked first: WR_ERR_CORRUPT when they do not hash to cid,
 * WR_ERR_UNSUPPORTED when warren cannot compute cid's hash, and nothing is
 * stored. Otherwise 0, WR_ERR_DENIED (a read-only source), or the source's
 * error (WR_ERR_LIMIT for an oversize block, WR_ERR_IO, ...). */
WR_MUST_CHECK int wr_blocks_put(wr_blocks *b, const wr_cid *cid, const void *data, size_t len,
                                unsigned flags);

#endif
