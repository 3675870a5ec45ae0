/* connector.h: `warren tunnel run`, the private side of a tunnel.
 *
 * Keeps ha_connections outbound connections to the edges (spread over them,
 * connection i starting at edge i mod nedges), registers each one for the
 * tunnel with a proof of the tunnel secret bound to that connection's TLS
 * session, and serves the request streams the edges open (tunnel/proxy.h).
 *
 * Connection 0 registers first; the others dial once it has registered (or
 * has failed once), so a bad secret or CA shows up as one clear error rather
 * than ha_connections of them. A connection that ends is dialled again after
 * an exponential backoff with full jitter (250 ms doubling to 30 s; at most
 * a second after a refusal, ICMP port unreachable or a TCP reset, which says
 * the edge is down and costs a packet to ask again), on the next edge in the
 * list after a failure. The control stream is opened by the edge:
 * its first message is a PING, which the connector answers with PONG and
 * REGISTER.
 *
 * Protocol (cfg.protocol): quic, http2 (TLS/TCP to the same edge address,
 * mux_h2.h), or auto (the default). With auto each connection slot runs
 * this small state machine on top of the dial/register cycle above:
 *
 *   QUIC --(handshake not done in quic_timeout, or the QUIC dial closes
 *           before its handshake, not for the certificate: UDP looks
 *           blocked)--> HTTP2
 *   QUIC --(refused with ICMP port unreachable: one http2 dial at once; it
 *           registers: a firewall rejects UDP)--> HTTP2
 *        --(the http2 dial is refused too: the edge is down)--> QUIC after
 *           the backoff (at most a second after a refusal)
 *   HTTP2 --(every quic_probe_interval, jittered: dial a QUIC "probe"
 *            connection beside the http2 one; it registers)--> QUIC
 *
 * The first fallback logs one warning per connector; later slots start on
 * http2 directly until a probe succeeds (or an http2 dial fails too: then
 * the edge looks down rather than UDP blocked, and the next try is QUIC). On a switch the slot
 * takes the probe's connection at once, sends UNREGISTER on the http2 one (the edge routes no new
 * request to it) and closes it once its streams are done (or after grace_period). A failed probe is
 * retried after the next interval.
 *
 * Shutdown is graceful: UNREGISTER on every connection (the edge stops routing
 * new requests to it), then in-flight requests get grace_period to finish,
 * then the connections close. */
#ifndef WR_TUNNEL_CONNECTOR_H
#define WR_TUNNEL_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tunnel/proxy.h"
#include "base/err.h"
#include "base/metrics.h"
#include "net/tls.h"

#define WR_CONNECTOR_MAX_EDGES 16
#define WR_CONNECTOR_MAX_HA 64

typedef struct wr_connector_config {
  uv_loop_t *loop;
  /* Edges, "ADDR:PORT" or "NAME:PORT" (strings that must outlive the
   * connector). A name is resolved again (io/dns) before every dial of it, so
   * an edge whose address changes is followed; logs show the address
   * dialled. */
  const char *edges[WR_CONNECTOR_MAX_EDGES];
  size_t nedges;
  /* Name to verify the edge certificate against; NULL: the dialled address. */
  const char *server_name;
  const wr_tls_client *tls; /* must outlive the connector */
  uint8_t tunnel_id[16];
  uint8_t secret[64];
  size_t secret_len;
  unsigned ha_connections;  /* default 4 */
  uint64_t grace_period_ms; /* default 30 s */
  /* Edge connections (QUIC and http2): closed after this long without a
   * packet; PING after keepalive of quiet. 0: 30 s, and 1 s (a third of the
   * idle timeout when that is shorter). */
  uint64_t idle_timeout_ms, keepalive_ms;
  int disable_gso; /* 1: one UDP datagram per send (benchmarks under packet loss) */
  const wr_ingress *ingress; /* must outlive the connector */
  wr_metrics *metrics; /* may be NULL */
  int protocol; /* WR_CONNECTOR_AUTO (0), WR_CONNECTOR_QUIC, WR_CONNECTOR_HTTP2 */
  uint64_t quic_timeout_ms;        /* auto: QUIC handshake bound; default 5 s */
  uint64_t quic_probe_interval_ms; /* auto: QUIC probe period on http2; default 60 s */
} wr_connector_config;

/* Same values as wr_tunnel_protocol (tunnel/tunnel_config.h). */
enum { WR_CONNECTOR_AUTO = 0, WR_CONNECTOR_QUIC = 1, WR_CONNECTOR_HTTP2 = 2 };

typedef struct wr_connector wr_connector;

/* Creates the connector (copies cfg) and starts dialling. Returns 0, or
 * WR_ERR_INVAL (no edges, an edge that is not HOST:PORT, a short secret:
 * logged), WR_ERR_IO (no UDP socket, no randomness), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_connector_start(wr_connector **pcn, const wr_connector_config *cfg);

/* Starts a graceful shutdown; done(cn, arg) runs once every connection and
 * socket is closed, after which the caller frees with wr_connector_free.
 * A second call cuts the grace period short. */
void wr_connector_shutdown(wr_connector *cn, void (*done)(wr_connector *cn, void *arg),
                           void *arg);
void wr_connector_free(wr_connector *cn);

/* Registered connections right now (for /ready). */
size_t wr_connector_ready(const wr_connector *cn);
/* Refreshes the per-connection gauges (RTT, cwnd, loss) before a scrape. */
void wr_connector_update_metrics(wr_connector *cn);

#endif
