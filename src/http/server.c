/* server.c: the HTTP server's listeners (TCP for HTTP/1.1, TLS for h2 or
 * http/1.1 by ALPN), admission, timeouts and shutdown. Connections are
 * h1_conn.c's; a TLS connection that chose h2 carries an h2_conn.c session.
 * The two transports meet here and in http/transport.c only. */
#include "http/server.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/server_internal.h"
#include "io/addr.h"
#include "net/tls_tcp.h"

#define LISTEN_BACKLOG 511

/* 0 when the connection may stay; else it was refused (and is closing). */
static int admit(h1conn *c) {
  wr_http_server *s = c->srv;
  if (s->nconns > s->cfg.max_conns || s->draining) {
    if (!s->draining) {
      WR_WARN("Refused a user connection", "client=%s reason=\"connection limit reached\" limit=%u",
              c->ip, s->cfg.max_conns);
      wr_http_count_error(s, "connection_limit");
    }
    wr_h1conn_close(c);
    return -1;
  }
  c->head_since_ns = wr_now_ns();
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  wr_http_server *s = server->data;
  if (status < 0) {
    WR_WARN("Accept failed", "error=\"%s\"", uv_strerror(status));
    return;
  }
  h1conn *c = wr_h1conn_new(s);
  if (!c)
    return; /* libuv keeps the connection queued; the next accept takes it */
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  wr_h1conn_start_tcp(c);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    wr_h1conn_close(c);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
    wr_addr_format_ip_sa((struct sockaddr *)&ss, c->ip, sizeof c->ip);
  if (admit(c) != 0)
    return;
  uv_tcp_nodelay(&c->tcp, 1);
  wr_h1conn_read(c);
}

/* ---- HTTPS users (net/tls_tcp.h) ---------------------------------------- */

static void tls_on_accept(wr_tls_tcp *t) {
  wr_http_server *s = wr_tls_tcp_get_user_data(t);
  h1conn *c = wr_h1conn_new(s);
  if (!c) {
    wr_tls_tcp_set_user_data(t, NULL);
    wr_tls_tcp_reset(t);
    return;
  }
  wr_h1conn_use_tls(c, t);
  wr_tls_tcp_set_user_data(t, c);
  wr_addr_format_ip_sa(wr_tls_tcp_peer_addr(t), c->ip, sizeof c->ip);
  (void)admit(c);
}

static void tls_on_connected(wr_tls_tcp *t) {
  h1conn *c = wr_tls_tcp_get_user_data(t);
  if (c)
    wr_h1conn_tls_connected(c);
}

static void tls_on_data(wr_tls_tcp *t, const uint8_t *data, size_t len) {
  h1conn *c = wr_tls_tcp_get_user_data(t);
  if (c)
    wr_h1conn_tls_data(c, data, len);
}

static void tls_on_eof(wr_tls_tcp *t) {
  h1conn *c = wr_tls_tcp_get_user_data(t);
  if (c)
    wr_h1conn_tls_eof(c);
}

static void tls_on_writable(wr_tls_tcp *t) {
  h1conn *c = wr_tls_tcp_get_user_data(t);
  if (c)
    wr_h1conn_tls_writable(c);
}

static void tls_on_closed(wr_tls_tcp *t, int err, const char *reason) {
  h1conn *c = wr_tls_tcp_get_user_data(t);
  if (c)
    wr_h1conn_tls_closed(c, err, reason);
}

static const wr_tls_tcp_callbacks tls_callbacks = {
    .on_accept = tls_on_accept,
    .on_connected = tls_on_connected,
    .on_data = tls_on_data,
    .on_eof = tls_on_eof,
    .on_writable = tls_on_writable,
    .on_closed = tls_on_closed,
};

/* ---- the server --------------------------------------------------------- */

int wr_http_server_new(wr_http_server **ps, uv_loop_t *loop, const wr_http_server_config *cfg) {
  wr_http_server *s = wr_calloc(1, sizeof *s);
  if (!s)
    return WR_ERR_NOMEM;
  s->loop = loop;
  s->cfg = *cfg;
  s->handler = cfg->handler;
  s->m = &s->cfg.metrics;
  wr_http_wpool_init(&s->pool, loop);
  s->handles = WR_HTTP_WPOOL_HANDLES;
  *ps = s;
  return 0;
}

int wr_http_server_listen(wr_http_server *s, const struct sockaddr *addr, char *err,
                          size_t errlen) {
  uv_tcp_init(s->loop, &s->http);
  s->http.data = s;
  s->http_open = 1;
  s->handles++;
  int rc = uv_tcp_bind(&s->http, addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&s->http, LISTEN_BACKLOG, on_connection);
  if (rc != 0) {
    char abuf[80];
    wr_addr_format_sa(addr, 0, abuf, sizeof abuf);
    snprintf(err, errlen, "cannot listen for HTTP on %s: %s", abuf, uv_strerror(rc));
    return WR_ERR_IO;
  }
  return 0;
}

int wr_http_server_listen_tls(wr_http_server *s, const struct sockaddr *addr,
                              const wr_tls_server *tls, char *err, size_t errlen) {
  /* h2 first: a client offering both gets HTTP/2; one offering no ALPN at
   * all gets HTTP/1.1. */
  wr_tls_tcp_config tc = {.alpn = "h2,http/1.1",
                          .tls_flags = WR_TLS_STREAM_ALPN_OPTIONAL,
                          .write_queue_limit = WR_HTTP_QUEUE_CAP,
                          .max_connections = s->cfg.max_conns};
  int rc = wr_tls_tcp_listen(&s->https, s->loop, addr, tls, &tc, &tls_callbacks, s);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen for HTTPS: %s",
             rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                             : wr_strerror(rc));
    return rc;
  }
  s->handles++;
  return 0;
}

int wr_http_server_local_addr(const wr_http_server *s, int tls, struct sockaddr_storage *out) {
  if (tls)
    return s->https ? wr_tls_tcp_listener_addr(s->https, out) : WR_ERR_NOTFOUND;
  if (!s->http_open)
    return WR_ERR_NOTFOUND;
  int len = sizeof *out;
  return uv_tcp_getsockname(&s->http, (struct sockaddr *)out, &len) == 0 ? 0 : WR_ERR_IO;
}

size_t wr_http_server_conns(const wr_http_server *s) { return s->nconns; }

void wr_http_server_sweep(wr_http_server *s, uint64_t now) {
  uint64_t head_ns = s->cfg.header_timeout_ms * WR_NS_PER_MS;
  uint64_t idle_ns = s->cfg.idle_timeout_ms * WR_NS_PER_MS;
  for (h1conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    wr_h1conn_sweep(c, now, head_ns, idle_ns);
  }
}

static void handle_closed(uv_handle_t *h) {
  wr_http_server *s = h->data;
  s->handles--;
  wr_http_server_maybe_finish(s);
}

static void https_closed(wr_tls_tcp_listener *l, void *data) {
  (void)l;
  wr_http_server *s = data;
  s->handles--;
  wr_http_server_maybe_finish(s);
}

/* Stops accepting; closes idle connections (every one with force). */
static void stop(wr_http_server *s, int force) {
  if (force && s->https) {
    wr_tls_tcp_listener *l = s->https;
    s->https = NULL; /* https_closed still counts the handle down */
    wr_tls_tcp_listener_close(l, https_closed, s);
  }
  if (s->http_open && !uv_is_closing((uv_handle_t *)&s->http))
    uv_close((uv_handle_t *)&s->http, handle_closed);
  for (h1conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    wr_h1conn_stop(c, force);
  }
}

void wr_http_server_drain(wr_http_server *s) {
  s->draining = 1;
  stop(s, 0);
}

void wr_http_server_close(wr_http_server *s, void (*cb)(wr_http_server *s, void *arg), void *arg) {
  s->draining = 1;
  if (!s->closing) {
    s->closing = 1;
    s->closed_cb = cb;
    s->closed_arg = arg;
    stop(s, 1);
    wr_http_wpool_close(&s->pool, handle_closed, s);
  }
  wr_http_server_maybe_finish(s);
}

void wr_http_server_free(wr_http_server *s) {
  if (!s)
    return;
  wr_http_wpool_free(&s->pool);
  wr_free(s);
}
