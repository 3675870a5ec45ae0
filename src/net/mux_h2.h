/* mux_h2.h: the http2 tunnel transport behind the tunnel seam (mux.h).
 *
 * For networks that block UDP. As in cloudflared, the connector dials the edge
 * over TLS on TCP (net/tls_stream.h on io/tcp.h; ALPN WR_MUX_H2_ALPN) and
 * then acts as the HTTP/2 SERVER on that connection, while the edge acts as
 * the HTTP/2 client and opens every stream. Each wr_tt stream is one HTTP/2 stream: a POST to
 * WR_MUX_H2_PATH with no other meaning; DATA frames carry raw bytes both ways,
 * END_STREAM is FIN, RST_STREAM is an abort with the code (codes above
 * 2^32-1 are sent as 2^32-1). The connector sends the response HEADERS
 * (":status 200") when it first writes or ends a stream. To the tunnel logic a
 * stream is just a bidirectional byte pipe, as over QUIC.
 *
 * Protocol decision (both transports): the control stream is opened by the
 * edge right after the handshake, because an HTTP/2 server cannot open
 * streams. On a connector connection (wr_mux_h2_connect) ops->stream_open
 * answers WR_ERR_UNSUPPORTED.
 *
 * Flow control is HTTP/2's own, end to end: received DATA gives credit back
 * (WINDOW_UPDATE) only when the tunnel logic calls ops->stream_consume, so at
 * most stream_window unconsumed bytes wait per stream (conn_window per
 * connection); writes copy into a bounded per-stream queue (send_queue_limit,
 * then WR_ERR_AGAIN and on_stream_writable) that nghttp2 pulls from as the
 * peer's window and the socket allow (ciphertext queued for the socket is
 * bounded by tls_queue_limit).
 *
 * Lifetimes as in mux.h. A dialed connection always ends with
 * on_closed (a refused certificate gives WR_ERR_DENIED and the same sentence
 * as over QUIC); an accepted connection that never completed its handshake
 * ends silently, as in mux_quic.c. Stats: RTT and cwnd from the kernel
 * (TCP_INFO), lost_packets = retransmitted segments, bytes = TLS bytes. */
#ifndef WR_NET_MUX_H2_H
#define WR_NET_MUX_H2_H

#include <uv.h>

#include "net/tls.h"
#include "net/mux.h"

#define WR_MUX_H2_ALPN "warren-tunnel-h2/1"
#define WR_MUX_H2_PATH "/warren-tunnel"

#define WR_MUX_H2_DEFAULT_STREAM_WINDOW (1024 * 1024)
#define WR_MUX_H2_DEFAULT_CONN_WINDOW (16 * 1024 * 1024)
#define WR_MUX_H2_DEFAULT_MAX_STREAMS 1000
#define WR_MUX_H2_DEFAULT_SEND_QUEUE (1024 * 1024)
#define WR_MUX_H2_DEFAULT_TLS_QUEUE (256 * 1024)
/* As over QUIC: survives a few seconds of loss (TCP retransmits meanwhile). */
#define WR_MUX_H2_DEFAULT_IDLE_TIMEOUT_MS 30000
/* keepalive_ms value that turns keep-alive PINGs off. */
#define WR_MUX_H2_NO_KEEPALIVE UINT64_MAX

/* Settings; zero means "default". Copied. */
typedef struct wr_mux_h2_config {
  const char *alpn;              /* default WR_MUX_H2_ALPN */
  uint64_t handshake_timeout_ms; /* TCP connect plus TLS handshake; default 10 s */
  uint32_t stream_window;        /* receive window per stream (HTTP/2 max 2^31-1) */
  uint32_t conn_window;          /* receive window per connection */
  uint32_t max_streams;          /* streams the edge may have open on a connector at once */
  size_t send_queue_limit;       /* per-stream bytes written and not yet framed */
  size_t tls_queue_limit;        /* ciphertext queued for the socket */
  /* Nothing heard from the peer this long closes the connection
   * (WR_ERR_TIMEOUT): TCP alone keeps a dead peer's connection open until a
   * write fails. Default 30 s. */
  uint64_t idle_timeout_ms;
  /* An HTTP/2 PING after this much quiet keeps the peer talking (and NAT
   * state alive); default idle_timeout_ms / 3. */
  uint64_t keepalive_ms;
} wr_mux_h2_config;

/* Connector side: dials remote over TCP, verifies the edge against tls for
 * server_name (DNS name, sent as SNI, or IP literal; NULL = remote's IP),
 * and serves HTTP/2 on the connection. Events arrive on ev with c->user ==
 * user; on_connected once TLS is up and the HTTP/2 session started. tls must
 * outlive the connection. Returns 0 with *pc, WR_ERR_INVAL, WR_ERR_NOMEM;
 * every other failure comes as on_closed. */
WR_MUST_CHECK int wr_mux_h2_connect(wr_mux_conn **pc, uv_loop_t *loop,
                                   const struct sockaddr *remote, const char *server_name,
                                   const wr_tls_client *tls, const wr_mux_h2_config *cfg,
                                   const wr_mux_events *ev, void *user);

typedef struct wr_mux_h2_listener wr_mux_h2_listener;

/* Edge side: listens on bind_addr over TCP (the same ADDR:PORT as the QUIC
 * listener works: TCP and UDP ports are separate; port 0 picks one), runs
 * TLS with tls's certificate and acts as the HTTP/2 client on each accepted
 * connection. Every accepted connection starts with ev and user. tls and ev
 * must outlive the listener. Returns 0, WR_ERR_INVAL, WR_ERR_IO (bind failed;
 * logged), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_mux_h2_listen(wr_mux_h2_listener **pl, uv_loop_t *loop,
                                  const struct sockaddr *bind_addr, const wr_tls_server *tls,
                                  const wr_mux_h2_config *cfg, const wr_mux_events *ev,
                                  void *user);

/* Stops listening and closes every connection (GOAWAY; each gets on_closed
 * with err 0); cb(l, data) runs when all are gone, then l is freed. */
void wr_mux_h2_listener_close(wr_mux_h2_listener *l, void (*cb)(wr_mux_h2_listener *l, void *data),
                             void *data);

/* The bound address (with the port picked for port 0). */
WR_MUST_CHECK int wr_mux_h2_listener_addr(const wr_mux_h2_listener *l,
                                         struct sockaddr_storage *out);

/* Whether c is an http2 connection (its ops are this transport's). */
int wr_mux_is_h2(const wr_mux_conn *c);

#endif
