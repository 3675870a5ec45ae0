/* server.c: the HTTP server's listeners (TCP for HTTP/1.1, TLS for h2 or
 * http/1.1 by ALPN), admission, timeouts and shutdown. Both listeners are
 * io/tcp.h's; an HTTPS connection gets the TLS filter (net/tls_stream.h)
 * stacked on its TCP stream here, and from then on every connection is one
 * wr_stream to h1_conn.c (a TLS connection that chose h2 carries an
 * h2_conn.c session). */
#include "http/server.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/server_internal.h"
#include "io/addr.h"
#include "io/tcp.h"
#include "net/tls_stream.h"

/* 0 when the connection may stay; else it was refused (and is closing). */
static int admit(h1conn *c) {
  wr_http_server *s = c->srv;
  if (s->nconns > s->cfg.max_conns || s->draining) {
    if (!s->draining) {
      uint64_t n = ++s->refused_limit;
      if ((n & (n - 1)) == 0) /* powers of two: a flood does not flood the log */
        WR_WARN("Refused a user connection",
                "client=%s reason=\"connection limit reached\" limit=%u refused=%llu", c->ip,
                s->cfg.max_conns, (unsigned long long)n);
      wr_http_count_error(s, "connection_limit");
    }
    wr_h1conn_close(c);
    return -1;
  }
  c->head_since_ns = wr_now_ns();
  return 0;
}

/* Counts the new connection st under its client's address; past the
 * per-client cap (or out of memory for the count) it is reset at once, before
 * any TLS work, and 0 is returned; else 1 with *pkey set. */
static int admit_client(wr_http_server *s, wr_stream *st, wr_peer_key *pkey) {
  if (s->nconns >= s->cfg.max_conns || s->draining) {
    pkey->set = 0; /* admit refuses it, for the server's own reason */
    return 1;
  }
  int rc = wr_peer_count_add(&s->peers, wr_stream_peer_addr(st), s->per_client, pkey);
  if (rc == 0)
    return 1;
  char ip[64];
  wr_addr_format_ip_sa(wr_stream_peer_addr(st), ip, sizeof ip);
  if (rc == WR_ERR_LIMIT) {
    uint64_t n = ++s->refused_per_client;
    if ((n & (n - 1)) == 0)
      WR_WARN("Refused a user connection",
              "client=%s reason=\"too many connections from this client\" limit=%u refused=%llu",
              ip, s->per_client, (unsigned long long)n);
    wr_http_count_error(s, "client_connection_limit");
  } else {
    WR_WARN("Refused a user connection", "client=%s reason=\"out of memory\"", ip);
  }
  wr_stream_reset(st);
  return 0;
}

/* Events of an HTTPS stream between its making and its h1conn taking it
 * over (nothing is announced in between: events come from the loop), or when
 * no h1conn could be made for it (its on_closed then goes nowhere). */
static const wr_stream_events unowned;

/* A connection (the accepted TCP stream, or the TLS filter on it) becomes
 * an h1conn, or is dropped for want of memory. */
static void take(wr_http_server *s, wr_stream *st, int is_tls, wr_peer_key *pkey) {
  h1conn *c = wr_h1conn_new(s, st, is_tls, pkey);
  if (!c) {
    wr_peer_count_remove(&s->peers, pkey);
    wr_stream_reset(st);
    return;
  }
  (void)admit(c);
}

static void on_http_accept(wr_tcp_listener *l, wr_stream *st, void *data) {
  (void)l;
  wr_peer_key k;
  if (admit_client(data, st, &k))
    take(data, st, 0, &k);
}

static void on_https_accept(wr_tcp_listener *l, wr_stream *lower, void *data) {
  (void)l;
  wr_http_server *s = data;
  wr_peer_key k;
  if (!admit_client(s, lower, &k))
    return;
  /* h2 first: a client offering both gets HTTP/2; one offering no ALPN at
   * all gets HTTP/1.1. */
  wr_tls_stream_config tc = {.alpn = "h2,http/1.1",
                             .tls_flags = WR_TLS_STREAM_ALPN_OPTIONAL,
                             .write_queue_limit = WR_HTTP_QUEUE_CAP};
  wr_stream *st;
  if (wr_tls_stream_server(&st, s->loop, lower, s->tls, &tc, &unowned, NULL) != 0) {
    wr_peer_count_remove(&s->peers, &k);
    return; /* out of memory: lower was closed */
  }
  take(s, st, 1, &k);
}

/* The listeners' own cap is one above the server's, so that the server
 * (admit) is what refuses, with its log line and count; the listener's cap
 * only bounds the refused ones that are still closing. */
static void listener_config(const wr_http_server *s, wr_tcp_config *tc) {
  uint32_t cap = s->cfg.max_conns < UINT32_MAX ? s->cfg.max_conns + 1 : s->cfg.max_conns;
  *tc = (wr_tcp_config){.write_queue_limit = WR_HTTP_QUEUE_CAP, .max_connections = cap};
}

/* ---- the server --------------------------------------------------------- */

int wr_http_server_new(wr_http_server **ps, uv_loop_t *loop, const wr_http_server_config *cfg) {
  wr_http_server *s = wr_calloc(1, sizeof *s);
  if (!s)
    return WR_ERR_NOMEM;
  s->loop = loop;
  s->cfg = *cfg;
  s->handler = cfg->handler;
  s->m = &s->cfg.metrics;
  wr_peer_count_init(&s->peers);
  s->per_client = cfg->max_conns_per_client;
  if (s->per_client == WR_HTTP_NO_PER_CLIENT_CAP) {
    s->per_client = 0;
  } else if (!s->per_client) {
    s->per_client = cfg->max_conns && cfg->max_conns < WR_HTTP_DEFAULT_PER_CLIENT
                        ? cfg->max_conns
                        : WR_HTTP_DEFAULT_PER_CLIENT;
  }
  wr_http_wpool_init(&s->pool, loop);
  s->handles = WR_HTTP_WPOOL_HANDLES;
  *ps = s;
  return 0;
}

int wr_http_server_listen(wr_http_server *s, const struct sockaddr *addr, char *err,
                          size_t errlen) {
  wr_tcp_config tc;
  listener_config(s, &tc);
  wr_addr a;
  wr_addr_from_sockaddr(addr, &a);
  int rc = wr_tcp_listen(&s->http, s->loop, &a, &tc, on_http_accept, s);
  if (rc != 0) {
    char abuf[80];
    wr_addr_format_sa(addr, 0, abuf, sizeof abuf);
    snprintf(err, errlen, "cannot listen for HTTP on %s: %s", abuf,
             rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                             : wr_strerror(rc));
    return rc;
  }
  s->handles++;
  return 0;
}

int wr_http_server_listen_tls(wr_http_server *s, const struct sockaddr *addr,
                              const wr_tls_server *tls, char *err, size_t errlen) {
  wr_tcp_config tc;
  listener_config(s, &tc);
  wr_addr a;
  wr_addr_from_sockaddr(addr, &a);
  s->tls = tls;
  int rc = wr_tcp_listen(&s->https, s->loop, &a, &tc, on_https_accept, s);
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
  const wr_tcp_listener *l = tls ? s->https : s->http;
  wr_addr a;
  if (!l)
    return WR_ERR_NOTFOUND;
  if (wr_tcp_listener_addr(l, &a) != 0)
    return WR_ERR_IO;
  memcpy(out, &a.ss, sizeof *out);
  return 0;
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

static void listener_closed(wr_tcp_listener *l, void *data) {
  (void)l;
  wr_http_server *s = data;
  s->handles--;
  wr_http_server_maybe_finish(s);
}

/* Stops accepting HTTP (and HTTPS with force: a draining server keeps
 * answering TLS handshakes, refusing the connections in admit); closes idle
 * connections (every one with force). */
static void stop(wr_http_server *s, int force) {
  if (force && s->https) {
    wr_tcp_listener *l = s->https;
    s->https = NULL; /* listener_closed still counts the handle down */
    wr_tcp_listener_close(l, listener_closed, s);
  }
  if (s->http) {
    wr_tcp_listener *l = s->http;
    s->http = NULL;
    wr_tcp_listener_close(l, listener_closed, s);
  }
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
  wr_peer_count_free(&s->peers);
  wr_free(s);
}
