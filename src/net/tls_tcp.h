/* tls_tcp.h: TLS (GnuTLS) over TCP or a Unix socket, client and server.
 *
 * A thin handle over the TLS filter (net/tls_stream.h) stacked on a socket
 * stream (io/tcp.h), kept for the code that predates the byte-stream seam
 * (http/server.c's HTTPS side); new code uses the two directly and speaks
 * io/stream.h, as net/mux_h2.c and the connector's origin connections do.
 * GnuTLS never touches the socket: its push/pull functions work on memory,
 * so nothing ever blocks. Credentials, verification, ALPN and SNI come from
 * tls.h, so a TCP client refuses a server with the same sentences as a QUIC
 * client ("server certificate refused: ...").
 *
 * Objects and lifetimes (as in libuv): a wr_tls_tcp is made by
 * wr_tls_tcp_connect or by a listener accepting; its end is always announced
 * by on_closed, after which the pointer is invalid. A listener ends with the
 * callback given to wr_tls_tcp_listener_close.
 *
 * Backpressure: wr_tls_tcp_write encrypts at once and queues the ciphertext
 * for the socket; once wr_tls_tcp_queued (ciphertext the kernel has not taken,
 * libuv's uv_stream_get_write_queue_size plus the unflushed burst) reaches
 * write_queue_limit, writes answer WR_ERR_AGAIN and on_writable follows when
 * the queue drained below half the limit. Reading can be paused, so a slow
 * consumer slows the peer through TCP's own flow control.
 *
 * Single-threaded: call everything from the loop's thread. Callbacks may call
 * any function here, including wr_tls_tcp_close on their own connection.
 *
 * Moving a user onto the seam: listen with wr_tcp_listen (io/tcp.h); in its
 * accept callback do on_accept's work and stack wr_tls_stream_server on the
 * accepted stream for HTTPS, or give the stream the same events directly
 * for plain TCP, so one code path serves both. wr_tls_tcp_write, _cork,
 * _uncork, _queued, _shutdown, _close, _reset, _read_start/_stop, _peer_addr,
 * _local_addr and _peer_str become the wr_stream_* of the same name;
 * _alpn, _server_name and _export become wr_tls_stream_*; _get_stats is
 * wr_tcp_stats_get on wr_tls_stream_lower; the user pointer is the stream's
 * (wr_stream_set_events). The listener's handshake_failed is "on_closed
 * with err != 0 before on_connected". */
#ifndef WR_NET_TLS_TCP_H
#define WR_NET_TLS_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <uv.h>

#include "base/err.h"
#include "net/tls.h"

typedef struct wr_tls_tcp wr_tls_tcp;
typedef struct wr_tls_tcp_listener wr_tls_tcp_listener;

/* Events of one connection. Any member may be NULL. */
typedef struct wr_tls_tcp_callbacks {
  /* Server only: a TCP connection was accepted and its handshake starts. The
   * place to attach state (wr_tls_tcp_set_user_data) or to refuse it. */
  void (*on_accept)(wr_tls_tcp *t);
  /* The handshake completed; on a client the server was verified. */
  void (*on_connected)(wr_tls_tcp *t);
  /* Decrypted application bytes, valid during the call only. */
  void (*on_data)(wr_tls_tcp *t, const uint8_t *data, size_t len);
  /* The peer sent close_notify: it will send nothing more (it may still read). */
  void (*on_eof)(wr_tls_tcp *t);
  /* After a write answered WR_ERR_AGAIN, the queue drained below half. */
  void (*on_writable)(wr_tls_tcp *t);
  /* The connection is gone. err is 0 when this side closed it
   * (wr_tls_tcp_close), else WR_ERR_DENIED (TLS refused: certificate, ALPN,
   * alert from the peer), WR_ERR_TIMEOUT (handshake), WR_ERR_CLOSED (the peer
   * closed or reset TCP, without close_notify when it is unexpected),
   * WR_ERR_IO (connect or socket error), WR_ERR_MALFORMED (bad TLS records).
   * reason is one sentence for a log line. t is freed after this returns. */
  void (*on_closed)(wr_tls_tcp *t, int err, const char *reason);
} wr_tls_tcp_callbacks;

#define WR_TLS_TCP_DEFAULT_WRITE_QUEUE (256 * 1024)
#define WR_TLS_TCP_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
/* How long a graceful close waits for the peer's EOF before closing anyway. */
#define WR_TLS_TCP_DEFAULT_LINGER_MS 2000
#define WR_TLS_TCP_DEFAULT_MAX_CONNECTIONS 10000

/* Settings; zero means "default". Copied. */
typedef struct wr_tls_tcp_config {
  /* Comma-separated ALPN list: a client offers it, a server accepts any of it
   * (its own order wins). Required. */
  const char *alpn;
  unsigned tls_flags;            /* WR_TLS_STREAM_* (tls.h) */
  size_t write_queue_limit;      /* ciphertext bytes queued before WR_ERR_AGAIN */
  uint64_t handshake_timeout_ms; /* TCP connect plus TLS handshake */
  uint64_t linger_ms;            /* graceful close: wait this long for the peer's EOF */
  uint32_t max_connections;      /* listener: accepted connections alive at once */
  int no_nodelay;                /* leave Nagle on (default: TCP_NODELAY set) */
} wr_tls_tcp_config;

/* Connects to remote and runs the client handshake, verifying the server
 * against tls for server_name (a DNS name, sent as SNI, or an IP literal;
 * NULL means the IP literal of remote). tls must outlive the connection. The
 * result comes later: on_connected, or on_closed with the reason. Returns 0
 * with *pt set, WR_ERR_INVAL (bad config or address), WR_ERR_IO (the socket
 * could not be made; logged), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_tls_tcp_connect(wr_tls_tcp **pt, uv_loop_t *loop,
                                     const struct sockaddr *remote, const char *server_name,
                                     const wr_tls_client *tls, const wr_tls_tcp_config *cfg,
                                     const wr_tls_tcp_callbacks *cb, void *user_data);

/* The same over a Unix socket at path; server_name (required: there is no
 * address to fall back on) is verified and sent as SNI. */
WR_MUST_CHECK int wr_tls_tcp_connect_unix(wr_tls_tcp **pt, uv_loop_t *loop, const char *path,
                                          const char *server_name, const wr_tls_client *tls,
                                          const wr_tls_tcp_config *cfg,
                                          const wr_tls_tcp_callbacks *cb, void *user_data);

/* Listens on bind_addr (port 0 picks one; "[::]" is dual-stack). Every
 * accepted connection gets cb and user_data and runs the server handshake with
 * tls's certificate; past cfg->max_connections new ones are closed at once and
 * counted (wr_tls_tcp_listener_stats). tls and cb must outlive the listener.
 * Returns 0, WR_ERR_INVAL, WR_ERR_IO (bind or listen failed; logged),
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_tls_tcp_listen(wr_tls_tcp_listener **pl, uv_loop_t *loop,
                                    const struct sockaddr *bind_addr, const wr_tls_server *tls,
                                    const wr_tls_tcp_config *cfg,
                                    const wr_tls_tcp_callbacks *cb, void *user_data);

/* Stops listening and closes every connection it accepted (each gets on_closed
 * with err 0, from the loop); cb(l, data) runs when all are gone, then l is
 * freed. */
void wr_tls_tcp_listener_close(wr_tls_tcp_listener *l,
                               void (*cb)(wr_tls_tcp_listener *l, void *data), void *data);

/* The bound address (with the port picked for port 0). */
WR_MUST_CHECK int wr_tls_tcp_listener_addr(const wr_tls_tcp_listener *l,
                                           struct sockaddr_storage *out);

typedef struct wr_tls_tcp_listener_stats {
  uint64_t accepted;         /* TCP connections accepted */
  uint64_t refused_limit;    /* closed at once: max_connections reached */
  uint64_t refused_nomem;    /* closed at once: no memory for the connection */
  uint64_t handshake_failed; /* TLS handshakes that failed or timed out */
  uint64_t open;             /* connections alive now */
} wr_tls_tcp_listener_stats;
void wr_tls_tcp_listener_stats_get(const wr_tls_tcp_listener *l, wr_tls_tcp_listener_stats *out);

/* Encrypts up to len bytes (copied) and queues them for the socket. Returns
 * the number taken (fewer than len when the queue fills), WR_ERR_AGAIN when
 * the queue is full (on_writable follows) or before the handshake completed
 * (on_connected follows), WR_ERR_CLOSED after wr_tls_tcp_shutdown or close or
 * once the connection failed. */
WR_MUST_CHECK ssize_t wr_tls_tcp_write(wr_tls_tcp *t, const void *data, size_t len);

/* Between cork and uncork, writes are gathered into full TLS records and one
 * socket write (many small writes, such as HTTP/2 frames, cost one record
 * each otherwise). uncork sends what was gathered. */
void wr_tls_tcp_cork(wr_tls_tcp *t);
void wr_tls_tcp_uncork(wr_tls_tcp *t);

/* Ciphertext written and not yet taken by the kernel. */
size_t wr_tls_tcp_queued(const wr_tls_tcp *t);

/* Sends close_notify and a TCP FIN after the queued bytes; reading goes on
 * (on_eof tells when the peer is done too). Writes then answer WR_ERR_CLOSED.
 * Returns 0, or WR_ERR_CLOSED when already shut or closed. */
WR_MUST_CHECK int wr_tls_tcp_shutdown(wr_tls_tcp *t);

/* Closes gracefully: shuts down as above if not yet done, lets the queued bytes
 * go out, waits up to linger_ms for the peer's EOF (discarding what arrives),
 * then closes the socket. No callback but on_closed (err 0, from the loop,
 * never inside this call) follows. Closing twice is harmless. */
void wr_tls_tcp_close(wr_tls_tcp *t);

/* Closes at once with a TCP RST, dropping queued bytes (a crash, for tests, or
 * a peer that is misbehaving). on_closed (err 0) follows from the loop. */
void wr_tls_tcp_reset(wr_tls_tcp *t);

/* Stops and restarts delivering on_data (and reading from the socket, so TCP
 * flow control holds the peer back). Bytes already read are kept. */
void wr_tls_tcp_read_stop(wr_tls_tcp *t);
void wr_tls_tcp_read_start(wr_tls_tcp *t);

void wr_tls_tcp_set_user_data(wr_tls_tcp *t, void *user_data);
void *wr_tls_tcp_get_user_data(const wr_tls_tcp *t);
/* Replaces the callbacks (copied). */
void wr_tls_tcp_set_callbacks(wr_tls_tcp *t, const wr_tls_tcp_callbacks *cb);
int wr_tls_tcp_is_server(const wr_tls_tcp *t);
int wr_tls_tcp_is_connected(const wr_tls_tcp *t);
/* The negotiated ALPN ("" before the handshake completes or without one). */
const char *wr_tls_tcp_alpn(const wr_tls_tcp *t);
/* Server: the SNI name the client sent ("" when none). */
const char *wr_tls_tcp_server_name(const wr_tls_tcp *t);
const struct sockaddr *wr_tls_tcp_peer_addr(const wr_tls_tcp *t);
const struct sockaddr *wr_tls_tcp_local_addr(const wr_tls_tcp *t);
/* "ADDR:PORT" of the peer, for log lines. */
const char *wr_tls_tcp_peer_str(const wr_tls_tcp *t);

/* TLS exporter (see wr_tls_session_export): both ends of one session get the
 * same bytes. WR_ERR_INVAL before on_connected. */
WR_MUST_CHECK int wr_tls_tcp_export(const wr_tls_tcp *t, const char *label,
                                    const uint8_t *context, size_t contextlen, uint8_t *out,
                                    size_t outlen);

typedef struct wr_tls_tcp_stats {
  uint64_t rtt_ns, rttvar_ns; /* kernel's smoothed RTT (TCP_INFO tcpi_rtt) */
  uint64_t cwnd;              /* congestion window in bytes (tcpi_snd_cwnd * tcpi_snd_mss) */
  uint64_t retransmits;       /* segments retransmitted (tcpi_total_retrans) */
  uint64_t bytes_sent, bytes_recv; /* ciphertext bytes written to / read from the socket */
  /* Time since the last ACK while retransmission timeouts run (the peer
   * answers nothing); 0 otherwise. */
  uint64_t unanswered_ns;
} wr_tls_tcp_stats;
/* Figures from the kernel (TCP_INFO; zero when it cannot be read) and our counts. */
void wr_tls_tcp_get_stats(const wr_tls_tcp *t, wr_tls_tcp_stats *out);

#endif
