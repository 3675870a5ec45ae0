/* netblocks.h: a blocks source (store/blocks.h) that fetches what the local
 * store lacks through a Bitswap session, for commands on content the node
 * does not hold.
 *
 * get asks the local source first; on a miss it wants the block, waits on
 * the caller's thread (never the loop's) until it arrived verified or the
 * deadline passed, stores it in the blockstore unpinned (gc collects it
 * unless a pin covers it), and returns it. Blocks with links are read
 * ahead: their children that are not local are wanted at once, up to a
 * window of 128 outstanding, so a DAG walk keeps many peers busy while it
 * reads one block at a time.
 *
 * Lifetimes: bytes of a block with links stay valid for the session (a walk
 * keeps parents while it reads their children; such blocks are small);
 * bytes of a block without links stay valid until the 8th get after it.
 * One thread at a time, as every source. */
#ifndef WR_EXCHANGE_NETBLOCKS_H
#define WR_EXCHANGE_NETBLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "exchange/bitswap.h"
#include "store/blocks.h"
#include "store/blockstore.h"

typedef struct wr_netblocks wr_netblocks;

/* Makes a source over local (not owned; used as long as this one) that
 * fetches through b and stores in bs. timeout_ms bounds the whole session
 * (0: no bound but one of 120 s without any block arriving). 0,
 * WR_ERR_NOMEM, WR_ERR_CLOSED (the engine is shutting down). */
WR_MUST_CHECK int wr_netblocks_new(wr_bitswap *b, wr_bs *bs, wr_blocks *local, uint64_t timeout_ms,
                                   wr_netblocks **pn);
/* A get fails with WR_ERR_TIMEOUT after idle_ms without any block arriving
 * (0: the default, 120 s); the gateway bounds its fetches by progress this
 * way, so a large file that keeps arriving is never cut short. */
void wr_netblocks_set_idle(wr_netblocks *n, uint64_t idle_ms);
wr_blocks *wr_netblocks_blocks(wr_netblocks *n);
/* Blocks and bytes fetched from the network so far. */
void wr_netblocks_stats(const wr_netblocks *n, uint64_t *pblocks, uint64_t *pbytes);
/* A sentence about the last fetch that failed ("" when none). */
const char *wr_netblocks_error(const wr_netblocks *n);
/* Ends the session (what is still wanted is cancelled) and frees n. */
void wr_netblocks_del(wr_netblocks *n);

#endif
