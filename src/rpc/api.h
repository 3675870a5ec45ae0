/* api.h: kubo's RPC API (POST /api/v0/...) as an HTTP handler
 * (http/handler.h), so tools written for kubo (kubo-rpc-client, ipfs-webui,
 * the `warren` CLI itself) drive warren's store.
 *
 * Each request is one command from a table (version, id, add, cat, get, ls,
 * pin/add|rm|ls, block/get|put|stat, dag/export|import, repo/gc), run on a
 * thread of its own (rpc/job.h) against the repo's store, answering in
 * kubo's shapes: JSON objects or newline-delimited JSON streams, raw byte
 * streams (cat, block/get, dag/export), a tar stream (get), and errors as
 * {"Message":..,"Code":0|1,"Type":"error"} with kubo's status codes (400 for
 * a bad or missing argument, 500 for a failed command; 404 "404 page not
 * found" for an unknown command, 405 for a method other than POST).
 *
 * Browsers: a request carrying an Origin (or Referer) header is refused with
 * 403 unless that origin is allowed, as kubo does against cross-site request
 * forgery: by default only the API's own loopback origins
 * (http://127.0.0.1:PORT, http://localhost:PORT, http://[::1]:PORT and their
 * https forms); cfg.allowed_origins replaces that list ("*" allows all). */
#ifndef WR_RPC_API_H
#define WR_RPC_API_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "http/handler.h"
#include "io/loopcall.h"
#include "p2p/host.h"
#include "routing/dht.h"
#include "store/blocks.h"
#include "store/repo.h"

/* What `id` reports about the node; filled by the node's owner. The peer
 * fields stay empty when the node runs no libp2p host. */
typedef struct wr_rpc_identity {
  const char *peer_id;      /* base58 peer ID, or NULL */
  const char *public_key;   /* base64 of the protobuf public key, or NULL */
  const char *const *addrs; /* multiaddrs with /p2p/ID, may be NULL */
  size_t naddrs;
  const char *const *protocols;
  size_t nprotocols;
} wr_rpc_identity;

/* Where blocks the store lacks come from (the daemon's Bitswap), for `cat`,
 * `get`, `ls`, `pin add` and `dag export` on content the node does not
 * hold. Called on a command's thread. open wraps local (a read session of
 * bs) in a source that fetches what local lacks within timeout_ms (0: the
 * fetcher's own idle limit) and stores it in bs; error gives a sentence
 * about the last failed fetch; close ends the session. NULL open: commands
 * see the local store only. */
typedef struct wr_rpc_fetcher {
  int (*open)(void *arg, wr_bs *bs, wr_blocks *local, uint64_t timeout_ms, wr_blocks **pnet);
  const char *(*error)(void *arg, wr_blocks *net);
  void (*close)(void *arg, wr_blocks *net);
  void *arg;
} wr_rpc_fetcher;

typedef struct wr_rpc_config {
  wr_repo *repo; /* required; outlives the API */
  /* The libp2p host and the bridge its commands reach it through (they run
   * on threads; the host lives on the loop). NULL: no network commands. */
  wr_p2p_host *host;
  wr_loopcall *loopcall;
  wr_dht *dht; /* on the loop too; NULL: no routing commands */
  uint16_t api_port;                  /* for the default allowed origins */
  const char *const *allowed_origins; /* NULL: the loopback defaults */
  size_t nallowed;
  const char *version; /* warren's version */
  /* Called on the loop thread for `id` (may be NULL: empty peer fields). */
  void (*identity)(void *arg, wr_rpc_identity *out);
  void *identity_arg;
  wr_rpc_fetcher fetcher; /* zeroed: local only */
  /* The node's metrics (the DHT's, Bitswap's, the API's), served at GET
   * /debug/metrics/prometheus as kubo does; on the loop; NULL: 404. */
  wr_metrics *metrics;
} wr_rpc_config;

/* Commands running at once (each a thread with two 1 MiB buffers); more are
 * answered 503 with kubo's error object. */
#define WR_RPC_MAX_RUNNING 64

typedef struct wr_rpc_api wr_rpc_api;

/* A handler for cfg (copied; the strings it points to must outlive the API).
 * 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_rpc_api_new(uv_loop_t *loop, const wr_rpc_config *cfg, wr_rpc_api **papi);
/* The API's port, once a listener bound port 0 (for the default origins). */
void wr_rpc_api_set_port(wr_rpc_api *api, uint16_t port);
/* The handler to give the HTTP server. */
wr_http_handler *wr_rpc_api_handler(wr_rpc_api *api);
/* Commands still running (their threads): the owner waits for 0 before
 * freeing the API and closing the repo. */
size_t wr_rpc_api_running(const wr_rpc_api *api);
/* After every command has ended. NULL is fine. */
void wr_rpc_api_free(wr_rpc_api *api);

#endif
