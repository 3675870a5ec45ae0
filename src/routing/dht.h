/* dht.h: the Kademlia DHT of the IPFS network (Amino: /ipfs/kad/1.0.0,
 * k = 20, alpha = 3, provider records kept 48 hours) on the libp2p host.
 *
 * Server mode registers the protocol on the host, so identify advertises it
 * and other peers put us in their routing tables and query us; client mode
 * only asks. The server holds at most peer_buffer_limit bytes for one peer
 * over all its streams (routing/peerbudget.h); a stream past it is reset,
 * counted and logged. Every request goes on a stream of its own (length-prefixed
 * messages, proto/p2p/kad); a served stream may carry many requests, each
 * answered in order.
 *
 * Lookups are iterative: the k nearest known peers seed the query, alpha
 * requests are in flight at once, every answer's closer peers join the
 * candidates, and the query ends when the k nearest candidates that did not
 * fail have all answered. Peers join the routing table when they answer
 * or when identify shows that they serve the protocol, and leave it when a
 * request to them fails.
 *
 * Providing sweeps: wr_dht_provide sorts its keys by keyspace position and
 * runs one lookup per region; every key whose k nearest peers provably lie
 * inside what that lookup saw (see dht.c, covered()) is announced to them
 * without a lookup of its own, and each peer gets all its ADD_PROVIDER
 * messages on one stream. Provided keys are kept and provided again every
 * reprovide_interval_ms (22 h; records live 48 h).
 *
 * The owner forwards the host's identify and connection events, and closes
 * the DHT before the host. Single-threaded, on the host's loop. */
#ifndef WR_ROUTING_DHT_H
#define WR_ROUTING_DHT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "p2p/host.h"
#include "proto/multiformats/cid.h"
#include "proto/p2p/kad.h"
#include "routing/provstore.h"

#define WR_DHT_MAX_ADDRS 4
#define WR_DHT_MAX_VALUE (64u * 1024)

typedef struct wr_dht wr_dht;
typedef struct wr_dht_query wr_dht_query;

typedef struct wr_dht_config {
  int server;                     /* answer queries (register the protocol) */
  const char *protocol;           /* default WR_KAD_PROTOCOL */
  size_t k;                       /* bucket size and replication; default 20 */
  size_t alpha;                   /* requests in flight per lookup; default 3 */
  uint64_t rpc_timeout_ms;        /* one request; default 10000 */
  uint64_t provider_ttl_ms;       /* default 48 h */
  uint64_t reprovide_interval_ms; /* default 22 h; 0 keeps the default */
  uint64_t record_ttl_ms;         /* how long a PUT_VALUE record is kept; default 48 h */
  /* Bytes the server buffers for one peer over all its streams (requests
   * not parsed yet, answers not read yet): a stream that would take the
   * peer past it is reset. Default 5 MiB (one largest message, 4 MiB, and
   * room for its answer). */
  size_t peer_buffer_limit;
  /* The same over all peers together; default 64 MiB. */
  size_t server_buffer_limit;
  /* warren_dht_server_refusals_total{reason} goes here; may be NULL. */
  wr_metrics *metrics;
} wr_dht_config;

/* A peer as the DHT tells it: ID and the addresses it is known by. */
typedef struct wr_dht_peer {
  wr_peerid id;
  wr_maddr addrs[WR_DHT_MAX_ADDRS];
  size_t naddrs;
} wr_dht_peer;

/* A namespace's record rules (/pk/ is built in; /ipns/ comes from its
 * owner). validate: 0 when value may be stored under key, else an error
 * with *preason. select: the index of the best of n values for key. */
typedef struct wr_dht_validator {
  const char *ns; /* "pk", "ipns": the key starts with "/" ns "/" */
  int (*validate)(void *user, const uint8_t *key, size_t keylen, const uint8_t *val, size_t vallen,
                  const char **preason);
  size_t (*select)(void *user, const uint8_t *key, size_t keylen, const uint8_t *const *vals,
                   const size_t *lens, size_t n);
  void *user;
} wr_dht_validator;

/* What a provide round did. */
typedef struct wr_dht_provide_stats {
  size_t keys;     /* keys announced */
  size_t lookups;  /* lookups run for them */
  size_t messages; /* ADD_PROVIDER messages sent */
  size_t failed;   /* peers that could not be reached */
  uint64_t ms;     /* wall time */
} wr_dht_provide_stats;

typedef void (*wr_dht_done_cb)(void *data, int err);
typedef void (*wr_dht_peers_cb)(void *data, int err, const wr_dht_peer *peers, size_t n);
typedef void (*wr_dht_provider_cb)(void *data, const wr_dht_peer *provider);
typedef void (*wr_dht_provided_cb)(void *data, int err, const wr_dht_provide_stats *st);
typedef void (*wr_dht_value_cb)(void *data, int err, const uint8_t *val, size_t n);

/* What the owner keeps for the DHT across restarts (the daemon: the repo).
 * on_record: a record was stored here (ours or a peer's PUT_VALUE; the
 * pointers live for the call), to keep until expires_ms (loop time).
 * on_provide: the caller of wr_dht_provide asked for these keys (not the
 * reprovide rounds). Either may be NULL. */
typedef struct wr_dht_sink {
  void (*on_record)(void *user, const uint8_t *key, size_t keylen, const uint8_t *val,
                    size_t vallen, uint64_t expires_ms);
  void (*on_provide)(void *user, const uint8_t *const *keys, const size_t *lens, size_t n);
  void *user;
} wr_dht_sink;

/* Makes the DHT on host (which must outlive it). 0, WR_ERR_NOMEM,
 * WR_ERR_LIMIT (the host's handler table). */
WR_MUST_CHECK int wr_dht_new(wr_dht **pd, wr_p2p_host *host, uv_loop_t *loop,
                             const wr_dht_config *cfg);
/* Ends every query (their callbacks hear WR_ERR_CLOSED), resets the
 * DHT's streams, and frees d once the last pending dial or stream is gone. */
void wr_dht_close(wr_dht *d);
int wr_dht_is_server(const wr_dht *d);
/* For tests and diagnostics: the bytes charged to peer now, the streams
 * the server reset so far, and the buffers its streams have allocated
 * (counted from the buffers themselves, not from the charges). */
size_t wr_dht_server_buffered(const wr_dht *d, const wr_peerid *peer);
uint64_t wr_dht_server_refusals(const wr_dht *d);
size_t wr_dht_server_allocated(const wr_dht *d);

/* The owner's hooks: identify answered (a peer serving the protocol joins
 * the routing table). */
void wr_dht_on_identified(wr_dht *d, wr_p2p_conn *c);

/* Registers a validator (copied; the namespace string must outlive d).
 * 0, WR_ERR_LIMIT (8 namespaces). */
WR_MUST_CHECK int wr_dht_add_validator(wr_dht *d, const wr_dht_validator *v);
/* Sets (copies) or clears (NULL) the owner's sink. */
void wr_dht_set_sink(wr_dht *d, const wr_dht_sink *s);
/* Puts back a record the owner kept (validated again: a record that
 * expired meanwhile is refused), to keep until expires_ms (loop time; the
 * record TTL caps it); the sink does not hear of it. 0, or record_put's
 * errors (WR_ERR_UNSUPPORTED, WR_ERR_MALFORMED, WR_ERR_LIMIT). */
WR_MUST_CHECK int wr_dht_restore_record(wr_dht *d, const uint8_t *key, size_t keylen,
                                        const uint8_t *val, size_t vallen, uint64_t expires_ms);
/* The provider records this node holds (for the owner's persistence). */
wr_provstore *wr_dht_providers(wr_dht *d);
size_t wr_dht_routing_table_size(const wr_dht *d);
/* The routing table's peers, nearest to us first (at most cap). */
size_t wr_dht_routing_table_peers(wr_dht *d, wr_dht_peer *out, size_t cap);

/* Dials each address (/ip4|ip6/A/tcp/P/p2p/ID), then looks up our own ID
 * to fill the table. cb(err) once done: 0 when at least one peer answered,
 * WR_ERR_NOTFOUND when none did. */
WR_MUST_CHECK int wr_dht_bootstrap(wr_dht *d, const wr_maddr *addrs, size_t n, wr_dht_done_cb cb,
                                   void *data);

/* The k peers nearest to key (any bytes), from a lookup. */
WR_MUST_CHECK int wr_dht_closest_peers(wr_dht *d, const uint8_t *key, size_t keylen,
                                       wr_dht_peers_cb cb, void *data);
/* The addresses of peer id (connected, in the table, or found by a
 * lookup); cb with one peer or WR_ERR_NOTFOUND. */
WR_MUST_CHECK int wr_dht_find_peer(wr_dht *d, const wr_peerid *id, wr_dht_peers_cb cb, void *data);

/* Finds providers of mh (a CID's multihash bytes): on_provider for each new
 * one as it is learnt (our own records first), on_done once: 0 after max
 * providers (0: no limit) or the lookup's end, WR_ERR_CLOSED when
 * cancelled or closed. *pq (may be NULL) can cancel it until on_done. This
 * is the provider finder Bitswap's sessions use. */
WR_MUST_CHECK int wr_dht_find_providers(wr_dht *d, const uint8_t *mh, size_t mhlen, size_t max,
                                        wr_dht_provider_cb on_provider, wr_dht_done_cb on_done,
                                        void *data, wr_dht_query **pq);
/* The same for a CID (its multihash: every CID of the same block shares the
 * providers). WR_ERR_INVAL for a multihash over 128 bytes. */
WR_MUST_CHECK int wr_dht_find_providers_cid(wr_dht *d, const wr_cid *cid, size_t max,
                                            wr_dht_provider_cb on_provider, wr_dht_done_cb on_done,
                                            void *data, wr_dht_query **pq);
/* Cancels a query: its on_done runs (WR_ERR_CLOSED) before this returns. */
void wr_dht_query_cancel(wr_dht_query *q);

/* Announces us as provider of n keys (multihash bytes; copied) in one
 * sweep, and keeps them to provide again before the records expire. cb
 * (may be NULL)
 * once the round ended. 0, WR_ERR_INVAL (a key empty or over 128 bytes),
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_dht_provide(wr_dht *d, const uint8_t *const *keys, const size_t *lens,
                                 size_t n, wr_dht_provided_cb cb, void *data);

/* Stores a record on the k peers nearest to key (and here), after the
 * namespace's validator accepted it; cb(err): 0 when at least one peer
 * took it. WR_ERR_UNSUPPORTED (no validator for the key's namespace),
 * WR_ERR_MALFORMED (refused by it, the reason logged), WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_dht_put_value(wr_dht *d, const uint8_t *key, size_t keylen, const uint8_t *val,
                                   size_t vallen, wr_dht_done_cb cb, void *data);
/* Looks the record up (here and along a lookup) and gives the best valid
 * one, or WR_ERR_NOTFOUND. */
WR_MUST_CHECK int wr_dht_get_value(wr_dht *d, const uint8_t *key, size_t keylen, wr_dht_value_cb cb,
                                   void *data);

/* The /pk/ validator's check: the value is a PublicKey protobuf whose peer
 * ID is the key's suffix. 0 or WR_ERR_MALFORMED with *preason. */
WR_MUST_CHECK int wr_dht_validate_pk(const uint8_t *key, size_t keylen, const uint8_t *val,
                                     size_t vallen, const char **preason);

#endif
