/* proxy_internal.h: what the files of the connector's proxy share (private
 * to src/tunnel/). One request (struct wr_proxy) moves through them:
 *
 *   proxy.c          the request's state machine: start, the stream's events,
 *                    failing, writing to the stream
 *   proxy_local.c    built-in services (hello_world, http_status)
 *   proxy_request.c  the request towards the origin: head, body, chunking
 *   proxy_response.c the origin's response back to the stream, keep-alive
 *                    decisions, the raw bytes after a 101 (WebSocket)
 *   origin_pool.c    origin connections: dialing, the keep-alive pool, each
 *                    connection's byte stream (io/stream.h) and its events
 *   origin_tls.c     client credentials shared by a TLS origin's connections
 *
 * Lifetimes: a wr_proxy is reference counted (refs): the stream holds one
 * until wr_proxy_on_close, a dial or name lookup in flight holds one each.
 * An origin_conn belongs to the context (ctx->conns) from dialing until its
 * stream's on_closed; while a request uses it, p->oc and oc->p point at each
 * other, and wr_origin_close breaks that link before the stream closes. */
#ifndef WR_TUNNEL_PROXY_INTERNAL_H
#define WR_TUNNEL_PROXY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/buf.h"
#include "io/stream.h"
#include "net/tls.h"
#include "proto/http/http1.h"
#include "tunnel/proxy.h"

/* Bytes a request may carry before the origin connection is up: the edge's
 * stream window bounds it already; this is the backstop. */
#define EARLY_LIMIT (16u * 1024 * 1024)
/* Response bytes held while the stream's send queue is full: at most one read
 * plus the message heads. */
#define PENDING_LIMIT (1u * 1024 * 1024)

/* Client credentials for one TLS origin (service, SNI name, verify mode, CA
 * file): made at its first connection, shared by all of them, freed with the
 * last one once the context is closed. */
typedef struct origin_tls {
  struct origin_tls *next;
  char key[400];
  wr_tls_client *cli;
  size_t refs; /* connections using cli */
} origin_tls;

/* One connection to an origin: in use by one request, or idle in the pool.
 * Its byte stream (io/stream.h) is a TCP or Unix socket, with the TLS filter
 * on top for https:// and unix+tls: services: chosen once, when it is
 * dialed, so the HTTP logic is one path. */
typedef struct origin_conn {
  wr_stream *s;                    /* NULL once its on_closed came */
  origin_tls *creds;               /* the TLS filter's credentials (a reference), or NULL */
  wr_buf out;                      /* bytes the stream did not take yet */
  size_t owed;                     /* stream credit to give once out is empty */
  struct wr_proxy *connect_p;      /* holds a reference while connecting */
  int shut_pending;                /* shut the write side once out is empty */
  struct origin_conn *next, *prev; /* every conn of the ctx */
  wr_proxy_ctx *ctx;
  wr_proxy *p;       /* the request using it; NULL when idle */
  char key[400];     /* which origin: "tcp host port", "unix path" or "tls ..." */
  uint64_t deadline; /* connect timeout while connecting, idle timeout while idle */
  int connecting, idle, closing;
  int reading; /* the origin's bytes are being read (origin_read_start) */
  int corked;  /* written to in this loop turn: on ctx->corked, sent at its end */
  struct origin_conn *corked_next;
  unsigned keepalive_conns;
  uint64_t keepalive_timeout_ms;
} origin_conn;

struct wr_proxy {
  wr_proxy_ctx *ctx;
  wr_mux_conn *c;
  wr_mux_stream *s;
  const wr_service *svc;        /* the matching rule's service */
  const wr_origin_request *orq; /* and its originRequest settings */
  origin_conn *oc;
  int refs;
  uint64_t started;
  char target[300]; /* for log lines: method and path */
  char origin_name[400];

  /* request side */
  wr_buf head;  /* origin request head, written once connected */
  wr_buf early; /* body bytes received before that (not yet consumed) */
  wr_h1_method method_id;
  int websocket;
  int req_chunked; /* re-encode the body as chunked to the origin */
  int req_fin;     /* the edge finished the request body */
  int req_done;    /* everything including the last chunk went to the origin */
  int discard;     /* no origin wants the body: consume and drop it */

  /* response side */
  wr_h1_parser rp;
  int rp_ready;
  int responded; /* a RESPONSE or STREAM_ERROR went out */
  int upgraded;  /* after a 101: raw bytes both ways */
  int resp_done; /* the whole response is queued on the stream */
  int reusable;  /* the origin keeps the connection open after it */
  int fin_sent;
  int status;
  int origin_paused;
  wr_buf out_pending; /* stream bytes the send queue did not take yet */
  wr_buf in_pending;  /* origin bytes read but not parsed yet */
  int stream_closed;
  int counted; /* in ctx->inflight */
};

static inline const wr_mux_ops *wr_proxy_ops(const wr_proxy *p) { return p->c->ops; }

/* ---- proxy.c ---- */

/* The request no longer counts as in flight (its response is complete or
 * failed); the stream itself may linger until the edge closes its side. */
void wr_proxy_finished(wr_proxy *p);
/* Drops a reference; the last one frees p. */
void wr_proxy_release(wr_proxy *p);
/* Answers with STREAM_ERROR (before any response) or resets the stream
 * (mid-response), and drops the origin connection. */
void wr_proxy_fail(wr_proxy *p, uint64_t code, const char *reason);
/* FIN on the stream once the bytes held for it are out. */
void wr_proxy_end_stream(wr_proxy *p);
/* Queues bytes on the stream, keeping order (copied). 0, WR_ERR_CLOSED, or
 * WR_ERR_LIMIT when the held bytes would pass their bound. */
WR_MUST_CHECK int wr_proxy_stream_send(wr_proxy *p, const void *data, size_t len);
/* Encodes m (proto/tunnel) and queues it on the stream. Errors as above. */
WR_MUST_CHECK int wr_proxy_send_msg(wr_proxy *p, const wr_tunnel_msg *m);
/* Counts the response status (metrics) and remembers it for the log line. */
void wr_proxy_count_status(wr_proxy *p, int status);

/* ---- proxy_local.c ---- */

/* Answers p itself when its service is a built-in one (hello_world,
 * http_status): 1 then, else 0 (an origin must answer). */
int wr_proxy_serve_builtin(wr_proxy *p);

/* ---- proxy_request.c ---- */

/* Serialises the origin request head from the edge's REQUEST into p->head.
 * 0 or WR_ERR_NOMEM / WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_proxy_build_head(wr_proxy *p, const wr_tunnel_request *req, const char *host);
/* Request body bytes towards the origin (chunk-framed when needed); their
 * credit goes back once the origin's stream took them. */
WR_MUST_CHECK int wr_proxy_send_body(wr_proxy *p, const uint8_t *data, size_t len);
/* The edge finished the body: the last chunk (a WebSocket: the origin's
 * write side shut), once the origin connection is up. */
void wr_proxy_finish_body(wr_proxy *p);
/* p->oc is ready (dialed or taken from the pool): head, early body, end. */
void wr_proxy_start_exchange(wr_proxy *p);

/* ---- proxy_response.c ---- */

/* 1 for fields a proxy must not pass on; a 101 keeps Upgrade and Connection. */
int wr_proxy_hop_by_hop(const wr_h1_head *h, wr_h1_slice name, int keep_upgrade);
/* Parses origin bytes and moves them to the stream until its send queue is
 * full; then keeps the rest (copied) and stops reading the origin. */
void wr_proxy_pump_response(wr_proxy *p, const uint8_t *data, size_t len);
/* The origin closed its side (eof) or failed (why) while p used oc (or NULL
 * when it is gone already). */
void wr_proxy_origin_ended(wr_proxy *p, origin_conn *oc, int eof, const char *why);
/* Hands the origin connection back once the exchange is over: to the pool,
 * or closed. */
void wr_proxy_release_origin(wr_proxy *p);

/* ---- origin_pool.c ---- */

/* The sweep timer (idle and connect timeouts) of ctx; and closing the idle
 * connections and the timer (in-use ones end with their requests). */
void wr_origin_pool_init(wr_proxy_ctx *ctx);
void wr_origin_pool_close(wr_proxy_ctx *ctx);
/* Takes an idle pooled connection to p's origin, or dials a new one; the
 * exchange starts (wr_proxy_start_exchange) or p fails. */
void wr_origin_connect(wr_proxy *p);
/* Closes oc gracefully (NULL is fine) and unlinks it from its request; it is
 * freed from the loop. */
void wr_origin_close(origin_conn *oc);
/* Reading the origin's bytes on and off (backpressure). 0 or WR_ERR_IO. */
WR_MUST_CHECK int wr_origin_read_start(origin_conn *oc);
void wr_origin_read_stop(origin_conn *oc);
/* Shuts the origin's write side after the bytes still held. */
void wr_origin_shutdown(origin_conn *oc);
/* Writes prefix, data and suffix (each may be empty/NULL) to p's origin in
 * order, giving consume bytes of stream credit back once all are taken. 0,
 * WR_ERR_IO, WR_ERR_LIMIT, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_origin_send(wr_proxy *p, const void *prefix, size_t plen, const void *data,
                                 size_t len, const char *suffix, size_t consume);
/* The exchange on p->oc is over: pool it (reusable, room left) or close it. */
void wr_origin_release_to_pool(wr_proxy *p, int reusable);

/* ---- origin_tls.c ---- */

/* A new reference to the credentials for p's TLS origin (key names every
 * setting), made at first use; NULL after logging why. */
origin_tls *wr_origin_tls_get(wr_proxy *p, const char *key);
/* Drops a reference; after wr_proxy_ctx_close the last one frees them. */
void wr_origin_tls_unref(wr_proxy_ctx *ctx, origin_tls *ot);
/* The name an origin's certificate is checked for (and SNI). */
const char *wr_origin_tls_name(const wr_proxy *p);
/* Frees the credentials no connection uses (wr_proxy_ctx_close). */
void wr_origin_tls_free_unused(wr_proxy_ctx *ctx);

#endif
