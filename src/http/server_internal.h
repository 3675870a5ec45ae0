/* server_internal.h: what the HTTP server's files share (server.c: listeners,
 * accept, timeouts; h1_conn.c: one HTTP/1.1 connection; h2_conn.c: one
 * HTTP/2 connection). Private to src/http/. Calls go server.c -> h1_conn.c
 * -> h2_conn.c, never back. */
#ifndef WR_HTTP_SERVER_INTERNAL_H
#define WR_HTTP_SERVER_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "base/buf.h"
#include "base/rbuf.h"
#include "http/handler.h"
#include "http/server.h"
#include "http/transport.h"
#include "io/peer_count.h"
#include "proto/http/http1.h"

struct wr_tcp_listener;
typedef struct h1conn h1conn;
typedef struct h2conn h2conn;

#define WR_HTTP_RBUF_SIZE WR_RBUF_SIZE

struct wr_http_server {
  uv_loop_t *loop;
  wr_http_server_config cfg;
  wr_http_handler *handler;
  const wr_http_metrics *m;             /* &cfg.metrics */
  struct wr_tcp_listener *http, *https; /* NULL until listening, and once closing */
  const wr_tls_server *tls;             /* the HTTPS listener's certificates */
  wr_http_wpool pool;
  int handles; /* libuv handles of the server itself not yet closed */
  h1conn *conns;
  size_t nconns;
  wr_peer_count peers;        /* open connections per client address */
  uint32_t per_client;        /* the cap (0: none) */
  uint64_t refused_per_client, refused_limit;
  int draining, closing, finished;
  void (*closed_cb)(wr_http_server *s, void *arg);
  void *closed_arg;
};

/* One user connection: HTTP/1.1, or the TLS carrier of an HTTP/2 session. */
struct h1conn {
  wr_http_server *srv;
  h1conn *prev, *next;
  wr_stream *s; /* owned; TCP, or TLS over TCP for HTTPS users */
  int is_tls;
  h2conn *h2; /* HTTPS users who chose HTTP/2 */
  wr_h1_parser p;
  char ip[64];
  wr_peer_key peer; /* what it counts under in srv->peers */
  /* Received bytes not parsed yet: a buffer lent (base/rbuf.h) only while
   * some wait, so an idle connection holds none. */
  uint8_t *rbuf;
  size_t rpos, rlen;
  wr_buf pend; /* request body bytes the handler has not taken yet */
  wr_http_transport io;
  int reading, closing, eof, close_after;
  int parse_more; /* the parser may have an event without new bytes */
  int pumping;    /* inside pump: a nested call leaves the work to it */
  uint64_t head_since_ns, idle_since_ns;
  unsigned nrequests;
  /* The exchange in progress (active). The handler holds q while q.sink is
   * set; the connection holds the exchange until the request and the
   * response are both complete. */
  wr_http_req q;
  int active, req_done, body_ended, websocket, expect_continue;
  int is_head, has_body, version_minor, keepalive;
  int resp_head, resp_done, resp_mode, upgraded, want_writable;
  uint64_t resp_remaining;
};

/* Calls the owner's close callback once the server is closing and nothing
 * of it is left. */
static inline void wr_http_server_maybe_finish(wr_http_server *s) {
  if (!s->closing || s->finished || s->handles > 0 || s->conns)
    return;
  s->finished = 1;
  if (s->closed_cb)
    s->closed_cb(s, s->closed_arg);
}

/* h1_conn.c */
/* A new connection's state over the accepted stream st (TLS when is_tls),
 * linked into s; it takes st's events and owns it from now on, and the
 * slot *peer counts in s->peers (given back when it is freed). NULL when
 * out of memory (st and the slot are then still the caller's). */
h1conn *wr_h1conn_new(wr_http_server *s, wr_stream *st, int is_tls, const wr_peer_key *peer);
/* Closes c (async; freed at its stream's on_closed). */
void wr_h1conn_close(h1conn *c);
/* Timeouts. */
void wr_h1conn_sweep(h1conn *c, uint64_t now, uint64_t head_ns, uint64_t idle_ns);
/* Graceful shutdown (force 0) or close (force 1). */
void wr_h1conn_stop(h1conn *c, int force);

/* h2_conn.c: an HTTP/2 server session over a byte stream (TLS, ALPN "h2"). */
/* Starts a session on st (connected; borrowed from the h1conn carrying it)
 * for the user at ip (copied); io is the carrier's transport, whose
 * end-of-turn flush sends the session's frames (the carrier calls
 * wr_h2conn_writable from its on_event). 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_h2conn_new(h2conn **ph, wr_http_server *s, wr_stream *st,
                                wr_http_transport *io, const char *ip);
/* Bytes from the user. May close the stream (wr_stream_close). */
void wr_h2conn_recv(h2conn *h, const uint8_t *data, size_t len);
/* The stream's queue drained, or the turn ends: send what waits. */
void wr_h2conn_writable(h2conn *h);
/* Graceful shutdown: GOAWAY, no new streams. Returns 1 when no stream is left
 * (the caller closes the connection), else 0 (it closes itself later). */
int wr_h2conn_drain(h2conn *h);
/* 1 when the session has had no stream for idle_ns. */
int wr_h2conn_idle(h2conn *h, uint64_t now_ns, uint64_t idle_ns);
/* The stream is gone: abandons every exchange and frees h. */
void wr_h2conn_free(h2conn *h);

static inline void wr_http_count_response(wr_http_server *s, int status) {
  char code[16];
  snprintf(code, sizeof code, "%d", status);
  wr_metric_inc(wr_metric_child(s->m->responses, code));
}

static inline void wr_http_count_error(wr_http_server *s, const char *reason) {
  wr_metric_inc(wr_metric_child(s->m->errors, reason));
}

#endif
