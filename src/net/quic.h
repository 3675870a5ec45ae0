/* quic.h: QUIC connections and streams on the UDP datapath (ngtcp2 0.12 + GnuTLS).
 *
 * A wr_quic_endpoint is one UDP socket on a libuv loop with its connections:
 * server connections (when it was given a wr_quic_server_config) and client
 * connections it dials (wr_quic_connect). Every packet of a connection leaves
 * from the local address the peer reached it on (the datagram's PKTINFO
 * destination becomes ngtcp2_path.local, and each send sets that source), so a
 * server on 0.0.0.0 reached at 127.0.0.2 answers from 127.0.0.2.
 *
 * Objects and their lifetimes (as in libuv: the caller owns handles, the end
 * is always announced by a callback, memory goes after that callback returns):
 * - wr_quic_endpoint: wr_quic_endpoint_new ... wr_quic_endpoint_close(cb).
 * - wr_quic_conn: made by wr_quic_connect or by a server accepting; ends with
 *   on_closed, after which the pointer is invalid.
 * - wr_quic_stream: made by wr_quic_stream_open or announced by
 *   on_stream_open; ends with on_stream_close, after which it is invalid.
 *   Every stream gets on_stream_close before its connection's on_closed.
 *
 * Flow control crosses the API both ways, so a slow reader slows the writer end
 * to end and nothing grows without bound:
 * - Sending copies bytes into a bounded per-stream queue that holds them until
 *   the peer acknowledges them (retransmissions read from it). A full queue
 *   answers WR_ERR_AGAIN; on_stream_writable says when there is room again.
 * - Received bytes are handed to on_stream_data; the peer gets credit for
 *   them only when the application calls wr_quic_stream_consume, so at most
 *   the receive window (config stream_window, auto-tuned up to
 *   max_stream_window) is ever unconsumed per stream.
 *
 * Single-threaded: call everything from the loop's thread. Callbacks may call
 * any function here, including closing the object the callback is about. */
#ifndef WR_NET_QUIC_H
#define WR_NET_QUIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <uv.h>

#include "base/err.h"
#include "net/tls.h"

typedef struct wr_quic_endpoint wr_quic_endpoint;
typedef struct wr_quic_conn wr_quic_conn;
typedef struct wr_quic_stream wr_quic_stream;

/* What a connection reports, for logs and metrics. */
typedef struct wr_quic_conn_stats {
  uint64_t smoothed_rtt_ns;
  uint64_t min_rtt_ns;
  uint64_t latest_rtt_ns;
  uint64_t rttvar_ns;
  uint64_t cwnd;            /* congestion window, bytes */
  uint64_t bytes_in_flight; /* sent, not yet acknowledged or lost */
  uint64_t lost_packets;    /* packets carrying stream data declared lost */
  uint64_t congestion_events;
  uint64_t pkts_sent, pkts_recv;
  uint64_t bytes_sent, bytes_recv; /* UDP payload bytes */
  uint64_t send_batches;           /* send calls (a GSO batch counts once) */
  uint64_t streams_open;
  size_t max_udp_payload; /* current packet size on the path */
  /* How long data in flight has waited without a single packet from the
   * peer (0 when nothing is in flight): a frozen or vanished peer shows here
   * long before the idle timeout. */
  uint64_t unanswered_ns;
  uint64_t heard_ago_ns; /* since the last packet from the peer */
} wr_quic_conn_stats;

/* Figures for a whole endpoint; every limit hit is counted here. */
typedef struct wr_quic_endpoint_stats {
  uint64_t conns_open;
  uint64_t handshakes_in_progress;
  uint64_t conns_accepted;      /* server connections created */
  uint64_t retries_sent;        /* Retry packets (address validation) */
  uint64_t bad_tokens;          /* Initials with an invalid Retry token */
  uint64_t stateless_resets_sent;
  uint64_t version_negotiations_sent;
  uint64_t refused_conn_limit;  /* Initials refused: max_connections reached */
  uint64_t dropped_unknown;     /* packets for no connection, not answered */
  uint64_t datagrams_recv;
  uint64_t send_errors;         /* sends the datapath failed (counted, packets are lost) */
  uint64_t icmp_refused;        /* ICMP port unreachables for packets sent */
} wr_quic_endpoint_stats;

/* Events for one connection and its streams. Any member may be NULL. */
typedef struct wr_quic_callbacks {
  /* The handshake completed; on a client the server was verified. */
  void (*on_connected)(wr_quic_conn *c);
  /* The connection is gone. err is 0 when this side closed it
   * (wr_quic_conn_close, wr_quic_endpoint_close), else WR_ERR_CLOSED (peer
   * closed or reset it), WR_ERR_TIMEOUT (idle or handshake timeout),
   * WR_ERR_DENIED (TLS refused: certificate, ALPN), WR_ERR_REFUSED (the
   * peer's host answered ICMP port unreachable: during the handshake, at
   * once; later, three times with nothing from the peer between), WR_ERR_IO
   * or WR_ERR_MALFORMED (protocol error). reason is one sentence for a log line.
   * c is freed after this returns. */
  void (*on_closed)(wr_quic_conn *c, int err, const char *reason);
  /* The peer may now open more of our streams: wr_quic_stream_open that
   * failed with WR_ERR_LIMIT can be retried. */
  void (*on_streams_available)(wr_quic_conn *c);
  /* The peer opened stream s (attach state with wr_quic_stream_set_user_data). */
  void (*on_stream_open)(wr_quic_stream *s);
  /* Bytes arrived in order; len may be 0 when only fin is set. data is valid
   * during the call only. Give credit back with wr_quic_stream_consume once
   * the bytes are dealt with (at once, or later when an outbound buffer
   * drained). fin: the peer will send nothing more. */
  void (*on_stream_data)(wr_quic_stream *s, const uint8_t *data, size_t len, int fin);
  /* After a write answered WR_ERR_AGAIN, the send queue has room again. */
  void (*on_stream_writable)(wr_quic_stream *s);
  /* The peer reset its sending side (RESET_STREAM) with app_code: no more
   * data will arrive and some may have been lost. */
  void (*on_stream_reset)(wr_quic_stream *s, uint64_t app_code);
  /* The peer stopped reading (STOP_SENDING): queued data was discarded and
   * writes now fail with WR_ERR_CLOSED. ngtcp2 0.12 answers STOP_SENDING
   * itself and does not report it, so this fires when the layer next tries to
   * send on the stream (at once if data is queued) and app_code is 0; the
   * peer's code arrives with on_stream_close. Our receiving side stays open. */
  void (*on_stream_stop_sending)(wr_quic_stream *s, uint64_t app_code);
  /* The stream is finished both ways (or its connection closed). app_code is
   * the code of a reset in either direction when has_code. s is freed after
   * this returns. */
  void (*on_stream_close)(wr_quic_stream *s, int has_code, uint64_t app_code);
} wr_quic_callbacks;

#define WR_QUIC_DEFAULT_IDLE_TIMEOUT_MS 30000
#define WR_QUIC_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define WR_QUIC_DEFAULT_STREAM_WINDOW (1024 * 1024)
#define WR_QUIC_DEFAULT_MAX_STREAM_WINDOW (8 * 1024 * 1024)
#define WR_QUIC_DEFAULT_CONN_WINDOW (4 * 1024 * 1024)
#define WR_QUIC_DEFAULT_MAX_CONN_WINDOW (32 * 1024 * 1024)
#define WR_QUIC_DEFAULT_MAX_STREAMS 1000
#define WR_QUIC_DEFAULT_SEND_QUEUE (1024 * 1024)
/* keepalive_ms value that turns keep-alive PINGs off. */
#define WR_QUIC_NO_KEEPALIVE UINT64_MAX

/* Settings shared by every connection of an endpoint. Zero means "default". */
typedef struct wr_quic_config {
  /* Comma-separated ALPN list: a client offers it, a server accepts any of it
   * (its own order wins). Required. The tunnel uses "warren-tunnel/1". */
  const char *alpn;
  uint64_t idle_timeout_ms;      /* default 30 s: survives a few seconds of loss */
  uint64_t keepalive_ms;         /* PING after this much quiet; default idle/3 */
  uint64_t handshake_timeout_ms; /* default 10 s */
  uint64_t stream_window;        /* initial receive window per stream */
  uint64_t max_stream_window;    /* auto-tuning ceiling per stream */
  uint64_t conn_window;          /* initial receive window per connection */
  uint64_t max_conn_window;      /* auto-tuning ceiling per connection */
  uint64_t max_streams_bidi;     /* bidirectional streams the peer may open at once */
  uint64_t max_streams_uni;      /* unidirectional ones (default 0; HTTP/3 peers need 3) */
  size_t send_queue_limit;       /* per-stream bytes queued before writes answer AGAIN */
  int disable_gso;               /* send one datagram per packet (loss tests, benchmarks) */
  int reuseport;                 /* SO_REUSEPORT: one endpoint per loop on the same port */
  int v6only;                    /* an IPv6 endpoint takes no IPv4 (default dual-stack) */
  size_t udp_buffer;             /* socket buffers to ask for (default 8 MiB each way) */
} wr_quic_config;

typedef enum wr_quic_retry_mode {
  WR_QUIC_RETRY_UNDER_LOAD = 0, /* Retry once retry_threshold handshakes are in progress */
  WR_QUIC_RETRY_ALWAYS,         /* validate every client address (tests, hostile networks) */
  WR_QUIC_RETRY_NEVER,
} wr_quic_retry_mode;

#define WR_QUIC_DEFAULT_RETRY_THRESHOLD 64
#define WR_QUIC_DEFAULT_MAX_CONNECTIONS 10000

/* Makes an endpoint accept connections. */
typedef struct wr_quic_server_config {
  const wr_tls_server *tls; /* required; must outlive the endpoint */
  wr_quic_callbacks callbacks;
  void *user_data; /* initial user data of every accepted connection */
  uint32_t max_connections;
  wr_quic_retry_mode retry;
  uint32_t retry_threshold;
  /* Key for stateless reset tokens and Retry tokens. All zero: derived from
   * the TLS key, so resets still work after a restart with the same key. */
  uint8_t static_secret[32];
} wr_quic_server_config;

/* Opens a UDP socket bound to bind_addr (port 0 picks one) on loop and makes
 * an endpoint of it; cfg is copied. With srv it also accepts connections.
 * Returns 0, WR_ERR_INVAL (bad config), WR_ERR_IO (bind failed; logged),
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_quic_endpoint_new(wr_quic_endpoint **pep, uv_loop_t *loop,
                                       const struct sockaddr *bind_addr,
                                       const wr_quic_config *cfg,
                                       const wr_quic_server_config *srv);

/* Closes every connection (each peer gets a CONNECTION_CLOSE with app_code 0
 * and on_closed runs with err 0), then the socket; cb(ep, data) runs when all
 * memory is about to be freed (ep is invalid afterwards). With abrupt, no
 * CONNECTION_CLOSE is sent: the connections vanish as in a crash (tests use it
 * to exercise stateless reset). */
void wr_quic_endpoint_close(wr_quic_endpoint *ep, int abrupt,
                            void (*cb)(wr_quic_endpoint *ep, void *data), void *data);

/* The address the socket is bound to (with the port picked for port 0). */
WR_MUST_CHECK int wr_quic_endpoint_local_addr(const wr_quic_endpoint *ep,
                                              struct sockaddr_storage *out);
void wr_quic_endpoint_get_stats(const wr_quic_endpoint *ep, wr_quic_endpoint_stats *out);
/* Hands one datagram to the endpoint as if the datapath had received it from
 * peer, sent to local (tests and fuzzers; the real path is the same code).
 * Replies really go out of the socket. */
void wr_quic_endpoint_inject(wr_quic_endpoint *ep, const uint8_t *data, size_t len,
                             const struct sockaddr *local, const struct sockaddr *peer);

/* The endpoint's UDP socket, for its figures (wr_udp_rcvbuf, wr_udp_sndbuf,
 * wr_udp_get_stats, wr_udp_gso_enabled); NULL once closing. Do not close it. */
const struct wr_udp_sock *wr_quic_endpoint_socket(const wr_quic_endpoint *ep);

/* Dials remote. server_name is the name to verify the certificate against (a
 * DNS name or IP literal; NULL means the IP literal of remote). tls must
 * outlive the connection. The result comes later: on_connected, or on_closed
 * with the reason. Returns 0 with *pc set, WR_ERR_INVAL (no route to remote,
 * an IPv6 peer on an IPv4 endpoint, closing endpoint), WR_ERR_IO, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_quic_connect(wr_quic_conn **pc, wr_quic_endpoint *ep,
                                  const struct sockaddr *remote, const char *server_name,
                                  const wr_tls_client *tls, const wr_quic_callbacks *cb,
                                  void *user_data);

/* Closes the connection with an application error code (0 = no error) and a
 * reason the peer sees. Queued data not yet sent is dropped: end streams and
 * wait for their close first for a graceful finish. on_closed follows, from
 * the loop (never from inside this call). Closing twice is harmless. */
void wr_quic_conn_close(wr_quic_conn *c, uint64_t app_code, const char *reason);

void wr_quic_conn_set_user_data(wr_quic_conn *c, void *user_data);
void *wr_quic_conn_get_user_data(const wr_quic_conn *c);
/* Replaces the callbacks (e.g. a server choosing per connection). Copied. */
void wr_quic_conn_set_callbacks(wr_quic_conn *c, const wr_quic_callbacks *cb);
int wr_quic_conn_is_server(const wr_quic_conn *c);
int wr_quic_conn_is_connected(const wr_quic_conn *c);
/* The negotiated ALPN ("" before the handshake completes). */
const char *wr_quic_conn_alpn(const wr_quic_conn *c);
/* The path's addresses: the peer, and our address the peer talks to. */
const struct sockaddr *wr_quic_conn_peer_addr(const wr_quic_conn *c);
const struct sockaddr *wr_quic_conn_local_addr(const wr_quic_conn *c);
/* A short id for log lines (hex of our first connection ID). */
const char *wr_quic_conn_id(const wr_quic_conn *c);
void wr_quic_conn_get_stats(const wr_quic_conn *c, wr_quic_conn_stats *out);
/* The connection's TLS session (libp2p's verified peer ID is there). */
const wr_tls_session *wr_quic_conn_tls(const wr_quic_conn *c);
/* Sends a PING with the next packet (at once if nothing else is due), so a
 * peer that has gone silent shows in unanswered_ns even when nothing else
 * is in flight. A no-op once the connection is closing. */
void wr_quic_conn_ping(wr_quic_conn *c);
/* TLS exporter of the connection's session (see wr_tls_session_export). Both
 * ends get the same bytes for the same label and context. WR_ERR_INVAL before
 * on_connected. */
WR_MUST_CHECK int wr_quic_conn_export(const wr_quic_conn *c, const char *label,
                                      const uint8_t *context, size_t contextlen, uint8_t *out,
                                      size_t outlen);

/* Opens a stream (bidirectional, or unidirectional when uni). Returns 0 with
 * *ps, WR_ERR_LIMIT when the peer allows no more streams now (see
 * on_streams_available), WR_ERR_CLOSED when the connection is closing or
 * WR_ERR_AGAIN before the handshake keys exist, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_quic_stream_open(wr_quic_conn *c, int uni, void *user_data,
                                      wr_quic_stream **ps);

/* Queues up to len bytes (copied) for sending. Returns the number taken (it
 * may be less than len when the queue fills), WR_ERR_AGAIN when the queue is
 * full (on_stream_writable follows), WR_ERR_CLOSED when the write side is done
 * (ended, reset, peer stopped reading, connection closing). */
WR_MUST_CHECK ssize_t wr_quic_stream_write(wr_quic_stream *s, const void *data, size_t len);
/* Sends FIN after the queued bytes. Further writes answer WR_ERR_CLOSED. */
WR_MUST_CHECK int wr_quic_stream_end(wr_quic_stream *s);
/* Aborts the sending side with app_code (RESET_STREAM); queued bytes are dropped. */
WR_MUST_CHECK int wr_quic_stream_reset(wr_quic_stream *s, uint64_t app_code);
/* Asks the peer to stop sending (STOP_SENDING); later data is discarded. */
WR_MUST_CHECK int wr_quic_stream_stop_sending(wr_quic_stream *s, uint64_t app_code);
/* Both of the above. */
WR_MUST_CHECK int wr_quic_stream_abort(wr_quic_stream *s, uint64_t app_code);
/* Gives the peer credit for n more bytes: the application is done with n bytes
 * received by on_stream_data. */
void wr_quic_stream_consume(wr_quic_stream *s, size_t n);
/* Bytes in the send queue (written, not yet acknowledged). */
size_t wr_quic_stream_queued(const wr_quic_stream *s);
int64_t wr_quic_stream_id(const wr_quic_stream *s);
wr_quic_conn *wr_quic_stream_conn(const wr_quic_stream *s);
void wr_quic_stream_set_user_data(wr_quic_stream *s, void *user_data);
void *wr_quic_stream_get_user_data(const wr_quic_stream *s);

#endif
