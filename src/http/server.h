/* server.h: the user-facing HTTP server: HTTP/1.1 over TCP, and HTTP/2 or
 * HTTP/1.1 (by ALPN) over TLS. Every request goes to one handler through the
 * seam of http/handler.h; the server owns the connections, the parsers, the
 * limits and the timeouts, and writes the answers of its own (400/408/413/
 * 431/501/505 for what the strict parser refuses, proto/http/http1.h).
 *
 * HTTP/1.1 (http/h1_conn.c): at most one request per connection at a time; a
 * pipelined next request waits in the read buffer, unparsed, until the
 * current response is written. HTTP/2 (http/h2_conn.c): nghttp2, up to 100
 * streams, extended CONNECT for WebSockets (RFC 8441).
 *
 * Lifecycle: new, listen/listen_tls, then wr_http_server_sweep from the
 * owner's timer; wr_http_server_drain for a graceful shutdown (no new
 * connections or requests, idle ones closed); wr_http_server_close closes
 * everything (async, libuv style: cb once every handle is closed); then free. */
#ifndef WR_HTTP_SERVER_H
#define WR_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "http/handler.h"
#include "net/tls.h"

/* Where the server counts; every member required, owned by the caller and
 * outliving the server. */
typedef struct wr_http_metrics {
  wr_metric_family *responses; /* counter, label: the status code */
  wr_metric_family *errors;    /* counter, label: the reason (bad_request, header_timeout, ...) */
  wr_metric *bytes_in, *bytes_out; /* body bytes from users, to users */
  wr_metric *conns_open, *conns_total;
} wr_http_metrics;

typedef struct wr_http_server_config {
  wr_http_handler *handler; /* required; must outlive the server */
  wr_http_metrics metrics;
  uint64_t header_timeout_ms; /* a request head must arrive within this */
  uint64_t idle_timeout_ms;   /* a keep-alive connection may idle this long */
  uint32_t max_conns;         /* connections at once (both listeners); more are refused */
  /* Connections one client address (IPv6: one /64) may hold at once, over
   * both listeners; more are reset at accept, counted as
   * errors{reason="client_connection_limit"} and logged at powers of two
   * (a full server refuses first, for its own reason). 0:
   * WR_HTTP_DEFAULT_PER_CLIENT (or max_conns when lower: then another client
   * is still let in by a max_conns above 256);
   * WR_HTTP_NO_PER_CLIENT_CAP: no cap. */
  uint32_t max_conns_per_client;
} wr_http_server_config;

#define WR_HTTP_DEFAULT_PER_CLIENT 256u
#define WR_HTTP_NO_PER_CLIENT_CAP UINT32_MAX

typedef struct wr_http_server wr_http_server;

/* A server on loop with cfg (copied). 0, WR_ERR_NOMEM. Owns one libuv handle
 * from here on: close it with wr_http_server_close. */
WR_MUST_CHECK int wr_http_server_new(wr_http_server **ps, uv_loop_t *loop,
                                     const wr_http_server_config *cfg);
/* Listens for HTTP/1.1 over TCP on addr. 0, WR_ERR_IO (err: one sentence). */
WR_MUST_CHECK int wr_http_server_listen(wr_http_server *s, const struct sockaddr *addr, char *err,
                                        size_t errlen);
/* Listens for TLS on addr with tls (must outlive the server): ALPN h2 first,
 * then http/1.1, none at all meaning HTTP/1.1. 0, WR_ERR_IO, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_http_server_listen_tls(wr_http_server *s, const struct sockaddr *addr,
                                            const wr_tls_server *tls, char *err, size_t errlen);
/* The bound address of the TCP (tls 0) or TLS (tls 1) listener; WR_ERR_NOTFOUND. */
WR_MUST_CHECK int wr_http_server_local_addr(const wr_http_server *s, int tls,
                                            struct sockaddr_storage *out);
/* Open user connections. */
size_t wr_http_server_conns(const wr_http_server *s);
/* Header and idle timeouts; call it every few hundred milliseconds. */
void wr_http_server_sweep(wr_http_server *s, uint64_t now_ns);
/* Graceful shutdown: stop accepting, close idle connections, GOAWAY to
 * HTTP/2 users, Connection: close on what is answered from here on. */
void wr_http_server_drain(wr_http_server *s);
/* Closes every connection and listener; cb(s, arg) once all are closed. */
void wr_http_server_close(wr_http_server *s, void (*cb)(wr_http_server *s, void *arg), void *arg);
/* After close's cb (or when nothing was ever opened but the server itself). */
void wr_http_server_free(wr_http_server *s);

#endif
