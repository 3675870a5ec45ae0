/* bitswap.h: Bitswap over the libp2p host — the server that answers peers'
 * wants from the blockstore, and the client whose sessions fetch blocks the
 * node lacks.
 *
 * Server: every inbound /ipfs/bitswap/1.2.0 (also 1.1.0, 1.0.0 and the bare
 * /ipfs/bitswap) stream carries framed messages (proto/p2p/bitswap). A
 * peer's wantlist is a FIFO queue, served in messages of up to 1 MiB of
 * blocks on a stream we open to it, while less than 1 MiB is waiting to be
 * sent to that peer (bounded outstanding bytes per peer; the yamux window
 * bounds the rest). want-have is answered HAVE, or DONT_HAVE when the peer
 * asked for it; cancels remove entries; `full` replaces the queue.
 *
 * Client: a session (one per command that reads content) names the blocks
 * it wants; the engine sends want-have with sendDontHave to every connected
 * peer, or want-block straight away to the least loaded peer that already
 * sent this session a block; HAVE answers get a want-block, spread over the
 * peers that have blocks by their outstanding want-blocks; DONT_HAVE drops
 * a peer for that block; a want-block unanswered within block_timeout_ms
 * marks the peer slow for it and moves it on, or, when nobody else has the
 * block, is asked of the same peer again (it may have lost it) with backoff;
 * a peer that owes blocks and sends nothing for block_timeout_ms is silent:
 * it gets no new want-blocks while another peer has them, until it speaks;
 * a peer that goes away has its wants moved at once; unanswered wants are asked again every
 * rebroadcast_ms, and the finder (finder.h) is asked for providers. Every
 * block is hashed with its prefix's function and must match a CID some
 * session wants (or wanted a moment ago): a peer that sends any other
 * block is disconnected and counted (warren_bitswap_bad_blocks_total).
 *
 * Threads: the engine lives on the loop. Sessions are driven from other
 * threads (the RPC commands' workers): wants go to the loop through a
 * uv_async, blocks come back under the session's mutex, and a worker waits
 * on a condition variable with a deadline. Blocks are not stored here: the
 * session's user stores what it takes (netblocks.h does). */
#ifndef WR_EXCHANGE_BITSWAP_H
#define WR_EXCHANGE_BITSWAP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "exchange/finder.h"
#include "p2p/host.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"

typedef struct wr_bitswap wr_bitswap;
typedef struct wr_bitswap_session wr_bitswap_session;

typedef struct wr_bitswap_config {
  uint64_t block_timeout_ms; /* a want-block unanswered this long moves on; default 5000 */
  uint64_t rebroadcast_ms;   /* unanswered wants are asked again; default 1000 */
  wr_finder *finder;         /* may be NULL: only connected peers are asked */
  wr_metrics *metrics;       /* may be NULL */
} wr_bitswap_config;

/* Makes the engine on loop, serving blocks from bs (a read transaction per
 * message) and registering its protocols on host. 0, WR_ERR_NOMEM, or
 * the host's error. */
WR_MUST_CHECK int wr_bitswap_new(uv_loop_t *loop, wr_p2p_host *host, wr_bs *bs,
                                 const wr_bitswap_config *cfg, wr_bitswap **pb);
/* The owner forwards the host's on_conn_closed: the peer's wants move on
 * and its state goes. */
void wr_bitswap_conn_closed(wr_bitswap *b, wr_p2p_conn *c);
/* Wakes every waiting session with WR_ERR_CLOSED and refuses new wants
 * (any thread). The daemon calls it when it starts stopping, so commands
 * waiting on the network end. */
void wr_bitswap_shutdown(wr_bitswap *b);
/* Closes the loop handles; cb runs once they are gone, then b is freed.
 * Every session must be closed first. */
void wr_bitswap_close(wr_bitswap *b, void (*cb)(void *arg), void *arg);

/* Counters, for tests and logs (loop thread). */
typedef struct wr_bitswap_stats {
  uint64_t blocks_received, bytes_received, blocks_sent, bytes_sent;
  uint64_t bad_blocks, duplicate_blocks, want_timeouts, want_reasks, peers;
} wr_bitswap_stats;
void wr_bitswap_get_stats(wr_bitswap *b, wr_bitswap_stats *st);

/* --- sessions (any thread but the loop's) --- */

/* Opens a session. 0, WR_ERR_NOMEM, WR_ERR_CLOSED (shutting down). */
WR_MUST_CHECK int wr_bitswap_session_new(wr_bitswap *b, wr_bitswap_session **ps);
/* Asks for n blocks (the loop starts on them soon). A CID asked twice is
 * wanted once. 0, WR_ERR_NOMEM, WR_ERR_CLOSED. */
WR_MUST_CHECK int wr_bitswap_session_want(wr_bitswap_session *s, const wr_cid *cids, size_t n);
/* Waits until the block named by cid arrived (verified) or deadline_ns
 * (uv_hrtime's clock) passed. 0 with *pdata (wr_malloc'd, the caller frees
 * it with wr_free) and *plen; WR_ERR_TIMEOUT; WR_ERR_CLOSED (the engine is
 * shutting down). The block must have been wanted. */
WR_MUST_CHECK int wr_bitswap_session_take(wr_bitswap_session *s, const wr_cid *cid,
                                          uint64_t deadline_ns, uint8_t **pdata, size_t *plen);
/* How many peers this session asked and heard blocks from (for messages). */
void wr_bitswap_session_peers(wr_bitswap_session *s, size_t *pasked, size_t *pgave);
/* Cancels what is still wanted and frees the session. */
void wr_bitswap_session_close(wr_bitswap_session *s);

#endif
