/* node.h: `warren daemon` — the IPFS node composed on one libuv loop: the
 * repo (store, pins), the libp2p host (its key is the repo's identity.key),
 * and kubo's RPC API on an HTTP listener, whose commands run on threads and
 * reach the host through a loopcall bridge (io/loopcall.h).
 *
 * Start: open the repo (shared lock: other warren processes may read and
 * write it through LMDB's own locking, but `gc` outside the daemon is refused
 * while it runs), listen for the API, write <repo>/api so the CLI finds the
 * daemon. Stop (wr_node_stop): refuse new connections, let running commands
 * finish within the grace period, close the API's connections (commands
 * still blocked on a user are told the user is gone), wait for every command
 * thread, close the bridge and the host (its peers are sent GO_AWAY), remove
 * <repo>/api, close the repo. */
#ifndef WR_NODE_NODE_H
#define WR_NODE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "io/addr.h"
#include "store/blocks.h"
#include "store/repo.h"

#define WR_NODE_MAX_SWARM 16

enum { WR_NODE_DHT_AUTO = 0, WR_NODE_DHT_SERVER, WR_NODE_DHT_CLIENT, WR_NODE_DHT_OFF };

typedef struct wr_node_config {
  const char *repo_path;              /* required */
  /* The repo, already open (shared lock) by the caller, who closes it after
   * the node stopped; NULL: the node opens repo_path itself. LMDB forbids
   * one process opening an environment twice, so an edge that already
   * reads the repo for its gateway hands it over. */
  wr_repo *repo;
  /* Where the RPC API listens. With no_api the node has none and writes no
   * <repo>/api (an edge embeds the node for its gateway's fetches only;
   * kubo's API has no authentication, so it is never opened by surprise). */
  wr_addr api;
  int no_api;
  /* Where Bitswap's (and the API's) metric families go, borrowed; NULL: a
   * registry of the node's own. It must outlive the node. */
  wr_metrics *metrics;
  const char *const *swarm;           /* libp2p listen multiaddrs (none: dial only) */
  size_t nswarm;
  /* The DHT (src/routing): peers to start from (/ip4|ip6/A/tcp/P/p2p/ID),
   * and its mode: server (answer queries; the default when the node
   * listens), client (ask only), or off. */
  const char *const *bootstrap;
  size_t nbootstrap;
  int dht_mode; /* WR_NODE_DHT_* */
  const char *const *allowed_origins; /* NULL: the API's own loopback origins */
  size_t nallowed;
  const char *version;
  uint64_t grace_ms; /* on stop, how long running commands get (0: 10 s) */
  /* The IPNS republisher (kubo's Ipns.RepublishPeriod and RecordLifetime):
   * every period the records of the node's keys (self and the keystore's)
   * are signed again, valid for lifetime from then, and put to the DHT;
   * the first round runs a minute after start (or after one period, when
   * that is shorter). 0: 4 h and 48 h. */
  uint64_t ipns_republish_ms;
  uint64_t ipns_lifetime_ms;
} wr_node_config;

typedef struct wr_node wr_node;

/* Starts the node on loop (cfg and the strings it points to must outlive
 * it). Returns 0, or an error with one sentence in err (the repo cannot be
 * opened, the API address is taken, ...); nothing is left open then. */
WR_MUST_CHECK int wr_node_start(uv_loop_t *loop, const wr_node_config *cfg, wr_node **pnode,
                                char *err, size_t errlen);
/* The address the API listens on (its port resolved when 0 was asked). */
void wr_node_api_addr(const wr_node *n, wr_addr *pa);
/* Graceful stop; done(arg) once everything is closed. A second call skips
 * the grace period. */
void wr_node_stop(wr_node *n, void (*done)(void *arg), void *arg);
/* After done. NULL is fine. */
void wr_node_free(wr_node *n);

/* The network blocks source for code outside the RPC API (the edge's
 * gateway): open makes a source over local (a read session of bs) that
 * fetches what the store lacks through Bitswap, storing it unpinned; a get
 * fails with WR_ERR_TIMEOUT once no block arrived for idle_ms (a bound on
 * progress, not on the whole session: a large DAG that keeps arriving is
 * never cut short); error says why the last fetch failed; close ends it. Each
 * call runs on the caller's thread, which open's source blocks while it
 * waits (never the loop's). The node does not close its network while a
 * source is open, and wakes sources with WR_ERR_CLOSED when it stops.
 * open answers WR_ERR_CLOSED once the node is stopping. */
WR_MUST_CHECK int wr_node_blocks_open(wr_node *n, wr_bs *bs, wr_blocks *local, uint64_t idle_ms,
                                      wr_blocks **pnet);
const char *wr_node_blocks_error(wr_node *n, wr_blocks *net);
void wr_node_blocks_close(wr_node *n, wr_blocks *net);

#endif
