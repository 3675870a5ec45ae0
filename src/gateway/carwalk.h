/* carwalk.h: the blocks of a trustless CAR response, one at a time, so the
 * gateway can stop whenever the user's side is full and go on later (the
 * walk keeps CIDs and link positions, never block bytes, between calls).
 *
 * Order: depth-first, pre-order, children in link order (order=dfs), the
 * order `dag export` writes. Within one session of the source (one read
 * transaction) the nodes on the walk's stack stay decoded, so each is read
 * and hashed once per session, however many children it has. With dups=n a block reached again is
 * skipped (a set of multihashes, the only state that grows with the DAG); with dups=y it is sent
 * every time it occurs.
 *
 * Scope (trustless-gateway spec, dag-scope): all follows every link (dag-pb,
 * dag-cbor, dag-json); block sends the root only; entity sends what a
 * UnixFS entity needs: a file's whole DAG (or, with a byte range, only the
 * children whose bytes meet the range, found through blocksizes), a
 * HAMT-sharded folder's shard nodes (not its entries), a plain folder's or
 * any other block alone. */
#ifndef WR_GATEWAY_CARWALK_H
#define WR_GATEWAY_CARWALK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "gateway/gwparse.h"
#include "proto/multiformats/cid.h"
#include "store/blocks.h"

/* Deeper walks are refused (a hostile DAG); a balanced 2^64-byte file is
 * about 8 levels. */
#define WR_CARWALK_MAX_DEPTH 4096

typedef struct wr_carwalk wr_carwalk;

typedef struct wr_carwalk_config {
  wr_gw_scope scope;
  int dups;      /* 1: send duplicates */
  int has_range; /* entity scope on a file: only [first, last] */
  uint64_t first, last;
} wr_carwalk_config;

/* A walk from root. 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_carwalk_new(wr_carwalk **pw, const wr_cid *root, const wr_carwalk_config *cfg);
void wr_carwalk_del(wr_carwalk *w);

/* Records a block as sent already (the path blocks before the walk), so
 * dups=n does not send it again. 0, WR_ERR_NOMEM, WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_carwalk_mark(wr_carwalk *w, const wr_cid *cid);

/* Says that bytes got from the source before are gone (the caller ended
 * its read transaction): the walk reads the nodes it stands in again. Call
 * it whenever a new session of the source begins. */
void wr_carwalk_new_session(wr_carwalk *w);

/* The next block to send, read from b: returns 1 with its CID and verified
 * bytes (valid as b's gets are), 0 when the walk is over, or an error:
 * WR_ERR_NOTFOUND (a block is missing; *pbad names it), WR_ERR_CORRUPT,
 * WR_ERR_MALFORMED, WR_ERR_LIMIT, WR_ERR_NOMEM. A call after an error
 * repeats it. */
WR_MUST_CHECK int wr_carwalk_next(wr_carwalk *w, wr_blocks *b, wr_cid *pcid, const uint8_t **pdata,
                                  size_t *plen, wr_cid *pbad);

#endif
