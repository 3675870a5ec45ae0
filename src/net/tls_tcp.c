/* tls_tcp.c: TLS over TCP, the TLS filter (net/tls_stream.h) on a TCP or
 * Unix socket stream (io/tcp.h) behind the wr_tls_tcp names its users know.
 * Each wr_tls_tcp is a small handle over its filter that turns the stream
 * events into wr_tls_tcp callbacks; the listener adds the handshake figures
 * to the TCP listener's. */
#include "net/tls_tcp.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"
#include "io/tcp.h"
#include "net/tls_stream.h"

struct wr_tls_tcp {
  wr_stream *s; /* the TLS filter; it owns the socket stream below */
  wr_tls_tcp_listener *lis;
  wr_tls_tcp *lnext, *lprev;
  wr_tls_tcp_callbacks cb;
  void *user;
};

struct wr_tls_tcp_listener {
  wr_tcp_listener *tl; /* NULL once it is closed */
  uv_loop_t *loop;
  const wr_tls_server *tls;
  wr_tls_tcp_config cfg;
  wr_tls_tcp_callbacks cb;
  void *user;
  wr_tls_tcp *conns;
  wr_tls_tcp_listener_stats stats; /* handshake_failed, open and our own refusals */
  wr_tcp_listener_stats tcp_last;  /* the TCP listener's, kept when it closes */
  int closing;
  void (*close_cb)(wr_tls_tcp_listener *l, void *data);
  void *close_data;
};

static void split_config(const wr_tls_tcp_config *c, wr_tcp_config *tc, wr_tls_stream_config *sc) {
  *tc = (wr_tcp_config){.write_queue_limit = c->write_queue_limit,
                        .linger_ms = c->linger_ms,
                        .max_connections = c->max_connections,
                        .no_nodelay = c->no_nodelay};
  *sc = (wr_tls_stream_config){.alpn = c->alpn,
                               .tls_flags = c->tls_flags,
                               .write_queue_limit = c->write_queue_limit,
                               .handshake_timeout_ms = c->handshake_timeout_ms,
                               .linger_ms = c->linger_ms};
}

/* ---- the filter's events, as callbacks ---- */

static void listener_maybe_free(wr_tls_tcp_listener *l) {
  if (!l->closing || l->tl || l->stats.open > 0)
    return;
  if (l->close_cb)
    l->close_cb(l, l->close_data);
  wr_free(l);
}

static void ev_connected(wr_stream *s) {
  wr_tls_tcp *t = s->user;
  if (t->cb.on_connected)
    t->cb.on_connected(t);
}

static void ev_data(wr_stream *s, const uint8_t *data, size_t len) {
  wr_tls_tcp *t = s->user;
  if (t->cb.on_data)
    t->cb.on_data(t, data, len);
}

static void ev_eof(wr_stream *s) {
  wr_tls_tcp *t = s->user;
  if (t->cb.on_eof)
    t->cb.on_eof(t);
}

static void ev_writable(wr_stream *s) {
  wr_tls_tcp *t = s->user;
  if (t->cb.on_writable)
    t->cb.on_writable(t);
}

static void ev_closed(wr_stream *s, int err, const char *reason) {
  wr_tls_tcp *t = s->user;
  wr_tls_tcp_listener *l = t->lis;
  if (l && err && !wr_tls_stream_is_connected(s))
    l->stats.handshake_failed++;
  if (t->cb.on_closed)
    t->cb.on_closed(t, err, reason);
  if (l) {
    if (t->lprev)
      t->lprev->lnext = t->lnext;
    else
      l->conns = t->lnext;
    if (t->lnext)
      t->lnext->lprev = t->lprev;
    l->stats.open--;
  }
  wr_free(t);
  if (l)
    listener_maybe_free(l);
}

static const wr_stream_events tls_events = {
    .on_connected = ev_connected,
    .on_data = ev_data,
    .on_eof = ev_eof,
    .on_writable = ev_writable,
    .on_closed = ev_closed,
};

/* ---- making connections ---- */

/* Puts the TLS client filter on lower (dialing) for a new handle. */
static int client_over(wr_tls_tcp **pt, uv_loop_t *loop, wr_stream *lower, const char *server_name,
                       const wr_tls_client *tls, const wr_tls_tcp_config *cfg,
                       const wr_tls_tcp_callbacks *cb, void *user_data) {
  wr_tls_tcp *t = wr_calloc(1, sizeof *t);
  if (!t) {
    wr_stream_reset(lower);
    return WR_ERR_NOMEM;
  }
  if (cb)
    t->cb = *cb;
  t->user = user_data;
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  split_config(cfg, &tc, &sc);
  int rc = wr_tls_stream_client(&t->s, loop, lower, server_name, tls, &sc, &tls_events, t);
  if (rc != 0) { /* lower is closed */
    wr_free(t);
    return rc;
  }
  *pt = t;
  return 0;
}

int wr_tls_tcp_connect(wr_tls_tcp **pt, uv_loop_t *loop, const struct sockaddr *remote,
                       const char *server_name, const wr_tls_client *tls,
                       const wr_tls_tcp_config *cfg, const wr_tls_tcp_callbacks *cb,
                       void *user_data) {
  *pt = NULL;
  if (!cfg || !cfg->alpn || !tls || !remote ||
      (remote->sa_family != AF_INET && remote->sa_family != AF_INET6))
    return WR_ERR_INVAL;
  wr_addr a;
  wr_addr_from_sockaddr(remote, &a);
  char ipname[WR_ADDR_STRLEN];
  if (!server_name || !server_name[0])
    server_name = wr_addr_format_ip(&a, ipname, sizeof ipname);
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  split_config(cfg, &tc, &sc);
  wr_stream *lower;
  int rc = wr_tcp_connect(&lower, loop, &a, &tc, NULL, NULL);
  if (rc != 0)
    return rc;
  return client_over(pt, loop, lower, server_name, tls, cfg, cb, user_data);
}

int wr_tls_tcp_connect_unix(wr_tls_tcp **pt, uv_loop_t *loop, const char *path,
                            const char *server_name, const wr_tls_client *tls,
                            const wr_tls_tcp_config *cfg, const wr_tls_tcp_callbacks *cb,
                            void *user_data) {
  *pt = NULL;
  if (!cfg || !cfg->alpn || !tls || !path || !path[0] || !server_name || !server_name[0])
    return WR_ERR_INVAL;
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  split_config(cfg, &tc, &sc);
  wr_stream *lower;
  int rc = wr_tcp_connect_unix(&lower, loop, path, &tc, NULL, NULL);
  if (rc != 0)
    return rc;
  return client_over(pt, loop, lower, server_name, tls, cfg, cb, user_data);
}

/* ---- listener ---- */

static void on_tcp_accept(wr_tcp_listener *tl, wr_stream *lower, void *data) {
  (void)tl;
  wr_tls_tcp_listener *l = data;
  wr_tls_tcp *t = wr_calloc(1, sizeof *t);
  if (!t) {
    l->stats.refused_nomem++;
    wr_stream_reset(lower);
    return;
  }
  t->cb = l->cb;
  t->user = l->user;
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  split_config(&l->cfg, &tc, &sc);
  if (wr_tls_stream_server(&t->s, l->loop, lower, l->tls, &sc, &tls_events, t) != 0) {
    l->stats.refused_nomem++; /* lower is closed */
    wr_free(t);
    return;
  }
  t->lis = l;
  t->lnext = l->conns;
  if (l->conns)
    l->conns->lprev = t;
  l->conns = t;
  l->stats.open++;
  if (t->cb.on_accept)
    t->cb.on_accept(t);
}

int wr_tls_tcp_listen(wr_tls_tcp_listener **pl, uv_loop_t *loop, const struct sockaddr *bind_addr,
                      const wr_tls_server *tls, const wr_tls_tcp_config *cfg,
                      const wr_tls_tcp_callbacks *cb, void *user_data) {
  *pl = NULL;
  if (!cfg || !cfg->alpn || !tls || !bind_addr ||
      (bind_addr->sa_family != AF_INET && bind_addr->sa_family != AF_INET6))
    return WR_ERR_INVAL;
  wr_tls_tcp_listener *l = wr_calloc(1, sizeof *l);
  if (!l)
    return WR_ERR_NOMEM;
  l->loop = loop;
  l->tls = tls;
  l->cfg = *cfg;
  if (cb)
    l->cb = *cb;
  l->user = user_data;
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  split_config(cfg, &tc, &sc);
  wr_addr a;
  wr_addr_from_sockaddr(bind_addr, &a);
  int rc = wr_tcp_listen(&l->tl, loop, &a, &tc, on_tcp_accept, l);
  if (rc != 0) {
    wr_free(l);
    return rc;
  }
  *pl = l;
  return 0;
}

static void on_tl_closed(wr_tcp_listener *tl, void *data) {
  (void)tl;
  wr_tls_tcp_listener *l = data;
  l->tl = NULL;
  listener_maybe_free(l);
}

void wr_tls_tcp_listener_close(wr_tls_tcp_listener *l,
                               void (*cb)(wr_tls_tcp_listener *l, void *data), void *data) {
  if (l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  l->close_data = data;
  for (wr_tls_tcp *t = l->conns; t; t = t->lnext)
    wr_tls_tcp_close(t);
  wr_tcp_listener_stats_get(l->tl, &l->tcp_last);
  wr_tcp_listener_close(l->tl, on_tl_closed, l);
}

int wr_tls_tcp_listener_addr(const wr_tls_tcp_listener *l, struct sockaddr_storage *out) {
  wr_addr a;
  if (!l->tl || wr_tcp_listener_addr(l->tl, &a) != 0)
    return WR_ERR_IO;
  memcpy(out, &a.ss, sizeof *out);
  return 0;
}

void wr_tls_tcp_listener_stats_get(const wr_tls_tcp_listener *l, wr_tls_tcp_listener_stats *out) {
  wr_tcp_listener_stats ts = l->tcp_last;
  if (l->tl)
    wr_tcp_listener_stats_get(l->tl, &ts);
  *out = l->stats;
  out->accepted = ts.accepted;
  out->refused_limit = ts.refused_limit;
  out->refused_nomem += ts.refused_nomem;
}

/* ---- the application's calls ---- */

size_t wr_tls_tcp_queued(const wr_tls_tcp *t) { return wr_stream_queued(t->s); }
ssize_t wr_tls_tcp_write(wr_tls_tcp *t, const void *data, size_t len) {
  return wr_stream_write(t->s, data, len);
}
void wr_tls_tcp_cork(wr_tls_tcp *t) { wr_stream_cork(t->s); }
void wr_tls_tcp_uncork(wr_tls_tcp *t) { wr_stream_uncork(t->s); }
int wr_tls_tcp_shutdown(wr_tls_tcp *t) { return wr_stream_shutdown(t->s); }
void wr_tls_tcp_close(wr_tls_tcp *t) { wr_stream_close(t->s); }
void wr_tls_tcp_reset(wr_tls_tcp *t) { wr_stream_reset(t->s); }
void wr_tls_tcp_read_stop(wr_tls_tcp *t) { wr_stream_read_stop(t->s); }
void wr_tls_tcp_read_start(wr_tls_tcp *t) { wr_stream_read_start(t->s); }
void wr_tls_tcp_set_user_data(wr_tls_tcp *t, void *user_data) { t->user = user_data; }
void *wr_tls_tcp_get_user_data(const wr_tls_tcp *t) { return t->user; }
void wr_tls_tcp_set_callbacks(wr_tls_tcp *t, const wr_tls_tcp_callbacks *cb) { t->cb = *cb; }
int wr_tls_tcp_is_server(const wr_tls_tcp *t) { return wr_tls_stream_is_server(t->s); }
int wr_tls_tcp_is_connected(const wr_tls_tcp *t) { return wr_tls_stream_is_connected(t->s); }
const char *wr_tls_tcp_alpn(const wr_tls_tcp *t) { return wr_tls_stream_alpn(t->s); }
const char *wr_tls_tcp_server_name(const wr_tls_tcp *t) { return wr_tls_stream_server_name(t->s); }
const struct sockaddr *wr_tls_tcp_peer_addr(const wr_tls_tcp *t) {
  return wr_stream_peer_addr(t->s);
}
const struct sockaddr *wr_tls_tcp_local_addr(const wr_tls_tcp *t) {
  return wr_stream_local_addr(t->s);
}
const char *wr_tls_tcp_peer_str(const wr_tls_tcp *t) { return wr_stream_peer_str(t->s); }

int wr_tls_tcp_export(const wr_tls_tcp *t, const char *label, const uint8_t *context,
                      size_t contextlen, uint8_t *out, size_t outlen) {
  return wr_tls_stream_export(t->s, label, context, contextlen, out, outlen);
}

void wr_tls_tcp_get_stats(const wr_tls_tcp *t, wr_tls_tcp_stats *out) {
  memset(out, 0, sizeof *out);
  wr_stream *lower = wr_tls_stream_lower(t->s);
  if (!lower)
    return;
  wr_tcp_stats ts;
  wr_tcp_stats_get(lower, &ts);
  out->rtt_ns = ts.rtt_ns;
  out->rttvar_ns = ts.rttvar_ns;
  out->cwnd = ts.cwnd;
  out->retransmits = ts.retransmits;
  out->bytes_sent = ts.bytes_sent;
  out->bytes_recv = ts.bytes_recv;
  out->unanswered_ns = ts.unanswered_ns;
}
