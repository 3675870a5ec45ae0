/* tls_stream.h: TLS (GnuTLS) as a filter over any byte stream (io/stream.h).
 *
 * The filter is itself a wr_stream: what its owner writes is encrypted into
 * the stream below, what comes up from below is decrypted and delivered.
 * GnuTLS never touches a socket: its push/pull functions work on memory (pull
 * reads from the lower stream's last delivery, push appends ciphertext to a
 * buffer that goes down in one lower write per burst), so nothing blocks and
 * the lower stream may be anything: TCP, a Unix socket, another filter.
 * Credentials, verification, ALPN and SNI come from tls.h, so a client
 * refuses a server with the same sentences as a QUIC client ("server
 * certificate refused: ...").
 *
 * Ownership: the filter takes over the lower stream at once (its events and
 * user pointer), closes it with itself, and announces its own on_closed only
 * after the lower one's; the owner never touches the lower stream again. A
 * failure below (connect refused, reset) ends the filter with the lower
 * stream's err and reason. Close is graceful: close_notify, the queued bytes,
 * then the lower stream's graceful close (each gives up after its linger_ms
 * without progress, so a slow peer still gets every byte).
 *
 * Backpressure: the write queue is the ciphertext not yet taken by the lower
 * stream plus what the lower stream queued; past write_queue_limit writes
 * answer WR_ERR_AGAIN and on_writable follows once it drained below half.
 * Give the lower stream the same write_queue_limit: on_writable from below
 * comes only once its queue drained below half of its own limit, so a lower
 * limit above the filter's can leave the filter waiting for an event that
 * never comes.
 *
 * To put TLS on a listener's connections: accept a TCP stream
 * (wr_tcp_listen), then wr_tls_stream_server on it inside the accept
 * callback (http/server.c does exactly that). */
#ifndef WR_NET_TLS_STREAM_H
#define WR_NET_TLS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "io/stream.h"
#include "net/tls.h"

#define WR_TLS_STREAM_DEFAULT_WRITE_QUEUE (256 * 1024)
#define WR_TLS_STREAM_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define WR_TLS_STREAM_DEFAULT_LINGER_MS 2000

/* Settings; zero means "default". Copied. */
typedef struct wr_tls_stream_config {
  /* Comma-separated ALPN list: a client offers it, a server accepts any of it
   * (its own order wins). Required. */
  const char *alpn;
  unsigned tls_flags;            /* WR_TLS_STREAM_* (tls.h) */
  size_t write_queue_limit;      /* bytes queued before WR_ERR_AGAIN */
  uint64_t handshake_timeout_ms; /* the lower stream's connect plus the handshake */
  uint64_t linger_ms;            /* graceful close: wait this long without progress */
  /* The lower stream is connected already (a client then starts its
   * handshake from the loop; a server always assumes it). */
  int lower_connected;
  /* An end of the lower stream without close_notify is reported as on_eof
   * instead of failing with WR_ERR_CLOSED: many HTTPS servers end that way,
   * and HTTP's own framing says whether the message was complete. */
  int eof_without_close_notify;
} wr_tls_stream_config;

/* Runs a client handshake over lower (usually still dialing: the handshake
 * starts at its on_connected), verifying the server against tls for
 * server_name (a DNS name, sent as SNI, or an IP literal; required). tls must
 * outlive the filter. The result comes later: on_connected, or on_closed with
 * the reason. Returns 0 with *ps set; WR_ERR_INVAL or WR_ERR_NOMEM, and then
 * lower was closed (its owner hears nothing more of it). */
WR_MUST_CHECK int wr_tls_stream_client(wr_stream **ps, uv_loop_t *loop, wr_stream *lower,
                                       const char *server_name, const wr_tls_client *tls,
                                       const wr_tls_stream_config *cfg, const wr_stream_events *ev,
                                       void *user);

/* Runs a server handshake over lower (connected: an accepted connection)
 * with tls's certificate. Errors as wr_tls_stream_client. */
WR_MUST_CHECK int wr_tls_stream_server(wr_stream **ps, uv_loop_t *loop, wr_stream *lower,
                                       const wr_tls_server *tls, const wr_tls_stream_config *cfg,
                                       const wr_stream_events *ev, void *user);

/* 1 when s was made here. */
int wr_tls_stream_is(const wr_stream *s);
/* The handshake completed and the stream is open. */
int wr_tls_stream_is_connected(const wr_stream *s);
int wr_tls_stream_is_server(const wr_stream *s);
/* The negotiated ALPN ("" before the handshake completes or without one). */
const char *wr_tls_stream_alpn(const wr_stream *s);
/* Server: the SNI name the client sent ("" when none). */
const char *wr_tls_stream_server_name(const wr_stream *s);
/* The stream below (NULL once it is gone), for its own figures. */
wr_stream *wr_tls_stream_lower(const wr_stream *s);
/* TLS exporter (wr_tls_session_export). WR_ERR_INVAL before on_connected. */
WR_MUST_CHECK int wr_tls_stream_export(const wr_stream *s, const char *label,
                                       const uint8_t *context, size_t contextlen, uint8_t *out,
                                       size_t outlen);

#endif
