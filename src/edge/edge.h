/* edge.h: `warren edge`, the public side of the tunnels.
 *
 * An edge listens for connectors (QUIC, ALPN warren-tunnel/1, through the
 * tunnel seam net/mux.h) and for users (HTTP/1.1 over TCP). A
 * connector connection registers for one tunnel (docs/protocol.md: the edge
 * opens the control stream and sends PING; the connector answers PONG and
 * REGISTER with an HMAC proof bound to the TLS session; the edge answers
 * REGISTERED or REGISTER_ERROR and then closes). A user request is routed by
 * its Host to the tunnel that owns the name (tunnel/routes.h), onto the
 * registered connection with the fewest requests in flight, as one request
 * stream; bodies stream both ways with backpressure.
 *
 * Answers of the edge itself: 404 for a host no tunnel owns, 502 with a short
 * page when the tunnel has no ready connection, 400/413/431/501/505 for what
 * the strict parser refuses (proto/http/http1.h), 502/503/504 for connector
 * errors. Every refusal is logged with its reason and counted. */
#ifndef WR_EDGE_EDGE_H
#define WR_EDGE_EDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "gateway/gateway.h"
#include "net/tls.h"
#include "store/blockstore.h"

/* One tunnel the edge serves. */
typedef struct wr_edge_tunnel {
  uint8_t id[16];
  const char *name;
  const uint8_t *secret;
  size_t secret_len;
  const char *const *hosts; /* exact names or "*.suffix" */
  size_t nhosts;
} wr_edge_tunnel;

#define WR_EDGE_DEFAULT_HEADER_TIMEOUT_MS 30000
#define WR_EDGE_DEFAULT_IDLE_TIMEOUT_MS 120000
#define WR_EDGE_DEFAULT_MAX_CONNS 10000
#define WR_EDGE_DEFAULT_GRACE_MS 30000
#define WR_EDGE_DEFAULT_REGISTER_TIMEOUT_MS 10000

/* Zero means "default" for every number. Everything is copied. */
typedef struct wr_edge_config {
  const struct sockaddr *listen; /* QUIC for connectors; required */
  /* HTTP/2 over TLS/TCP for connectors on networks that block UDP
   * (net/mux_h2.h); NULL: none. */
  const struct sockaddr *listen_h2;
  /* With listen_h2 NULL: listen for HTTP/2 on TCP at the address and port the
   * QUIC endpoint bound (its "TCP twin"; `warren edge`'s default). */
  int listen_h2_twin;
  const struct sockaddr *http;    /* public HTTP/1.1; required */
  const struct sockaddr *https;   /* public HTTP/1.1 over TLS (the same certificate); or NULL */
  const struct sockaddr *metrics; /* /metrics and /ready; NULL: none */
  const wr_tls_server *tls;       /* required; must outlive the edge */
  /* Users' HTTPS certificates, chosen by SNI (wr_tls_server_add_cert);
   * NULL: the edge's own certificate (tls). Must outlive the edge. */
  const wr_tls_server *https_tls;
  const char *location; /* reported to connectors; default "edge" */
  const wr_edge_tunnel *tunnels;
  size_t ntunnels;
  uint64_t header_timeout_ms; /* a request head must arrive within this */
  uint64_t idle_timeout_ms;   /* a keep-alive connection may idle this long */
  uint32_t max_conns;         /* public connections at once; more are refused */
  /* Public connections one client address (IPv6: /64) may hold; 0: 256 (or
   * max_conns when lower); UINT32_MAX: no cap. */
  uint32_t max_conns_per_client;
  uint64_t grace_ms;            /* graceful shutdown waits this long for requests */
  uint64_t register_timeout_ms; /* a connector must register within this */
  /* Connector connections (QUIC and http2): closed after this long without a
   * packet; PING after keepalive of quiet. 0: the transports' defaults (30 s,
   * a third of it). */
  uint64_t tunnel_idle_timeout_ms, tunnel_keepalive_ms;
  int disable_gso; /* 1: one UDP datagram per send (benchmarks under packet loss) */
  /* The IPFS gateway (gateway/gateway.h): the hostnames it answers for
   * (path and subdomain gateways, content sites; copied), read from bs
   * (must outlive the edge). nsites 0: no gateway. A content site whose name
   * a tunnel also claims is that tunnel's fallback. */
  const wr_gateway_site *sites;
  size_t nsites;
  wr_bs *bs;
  /* Names (gateway/nameres.h): the repo folder whose IPNS records resolve
   * /ipns/<key> (NULL: none); DNSLink lookups go to dns_resolver ("ADDR" or
   * "ADDR:PORT"; NULL: /etc/resolv.conf's) with dns_timeout_ms per lookup
   * (0: 5 s). With dnslink_any, a Host no tunnel or site claims is served
   * from its DNSLink (kubo's gateway for non-gateway hosts); the gateway
   * then runs even with nsites 0. */
  const char *repo_path;
  const char *dns_resolver;
  unsigned dns_timeout_ms;
  size_t dns_max_lookups; /* domains looked up at once (0: 256); more: 503 */
  int dnslink_any;
  /* Where the gateway gets blocks bs lacks (the IPFS node `warren edge
   * --p2p` embeds), how long a request may wait for them and how many
   * requests may wait at once (gateway.h); zeroed: the store only. */
  wr_gateway_fetcher fetcher;
  uint64_t fetch_timeout_ms;
  size_t max_fetches;
} wr_edge_config;

typedef struct wr_edge wr_edge;

/* Creates the edge on loop: the routing table, the QUIC endpoint, the HTTP
 * listener and (when configured) the metrics endpoint. Returns 0, or
 * WR_ERR_INVAL (a bad tunnel list, e.g. a hostname claimed twice),
 * WR_ERR_IO (an address cannot be bound), WR_ERR_NOMEM; err then holds one
 * sentence for the user. */
WR_MUST_CHECK int wr_edge_new(wr_edge **pe, uv_loop_t *loop, const wr_edge_config *cfg, char *err,
                              size_t errlen);

/* Bound addresses (ports picked for port 0). which: "listen", "listen-http2",
 * "http", "https", "metrics". WR_ERR_NOTFOUND for one not configured. */
WR_MUST_CHECK int wr_edge_local_addr(const wr_edge *e, const char *which,
                                     struct sockaddr_storage *out);

/* Registered connections that can take requests, over all tunnels. */
size_t wr_edge_ready(const wr_edge *e);

/* What wr_edge_set_tunnels changed. */
typedef struct wr_edge_tunnel_changes {
  size_t added, removed, changed; /* changed: secret, hostnames or name */
  size_t closed;                  /* connector connections closed */
} wr_edge_tunnel_changes;

/* Serves exactly these tunnels from now on (a reloaded tunnels file), all or
 * nothing for the routing: a tunnel no longer listed is deleted (its
 * connections close at once, its credentials are refused as an unknown
 * tunnel), a new one is accepted at once, a changed secret closes the
 * connections registered with the old one and refuses it, changed
 * hostnames route at once. Logs one line per deleted tunnel and per secret
 * change. Returns 0 with *pch filled, or WR_ERR_INVAL / WR_ERR_EXISTS (a
 * secret too short, a hostname invalid or claimed twice: err says which;
 * nothing changed), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_edge_set_tunnels(wr_edge *e, const wr_edge_tunnel *tunnels, size_t n,
                                      wr_edge_tunnel_changes *pch, char *err, size_t errlen);

/* The edge's metrics registry. */
wr_metrics *wr_edge_metrics(wr_edge *e);

/* Graceful shutdown: stop accepting users, tell connectors UNREGISTER (going
 * away), let requests in flight finish within grace_ms, then close every
 * connection and socket; done(e, arg) runs when all handles are closed and
 * the caller may then wr_edge_free. A second call ends the grace period now. */
void wr_edge_shutdown(wr_edge *e, void (*done)(wr_edge *e, void *arg), void *arg);
void wr_edge_free(wr_edge *e);

#endif
