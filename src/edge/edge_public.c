/* edge_public.c: the users' side of the edge, HTTP/1.1 over libuv TCP.
 *
 * One pconn per user connection, at most one request on it at a time (a
 * pipelined next request waits in the read buffer, unparsed, until the
 * current response is written). A request is a preq with one tunnel stream.
 *
 * Backpressure, both ways, with bounded memory:
 * - user -> connector: body bytes go to the stream; what the stream does not
 *   take (WR_ERR_AGAIN) waits in pend (at most one read buffer) and the socket
 *   is not read until on_stream_writable drained it.
 * - connector -> user: stream bytes are copied into uv_write requests; they
 *   are consumed (credit back to the connector) at once while the socket's
 *   write queue is under WRITE_QUEUE_CAP, later (when writes complete)
 *   otherwise. So at most the cap plus one stream window sits in memory.
 *
 * Lifetimes: a preq is attached to its pconn until its response is complete
 * (or the user connection dies) and to its stream until on_stream_close; it
 * is freed when both are over. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "edge/edge_internal.h"
#include "io/addr.h"
#include "net/tls_tcp.h"
#include "proto/http/http1.h"

#define RBUF_SIZE (64u * 1024u)
#define WRITE_QUEUE_CAP (256u * 1024u)
/* Bytes written to a user in one loop turn are gathered (QUIC hands them over
 * a packet at a time) and sent with one uv_write per turn, or at once past
 * this much. */
#define COALESCE_MAX (64u * 1024u)
#define OBUF_LIMIT (64u * 1024u * 1024u)
#define HEAD_OUT_MAX (128u * 1024u)
#define MAX_FWD_HEADERS (WR_H1_DEFAULT_MAX_HEADERS + 8u)

enum { RESP_NONE = 0, RESP_LENGTH, RESP_CHUNKED, RESP_CLOSE, RESP_RAW };

typedef struct preq preq;

struct pconn {
  wr_edge *e;
  pconn *prev, *next;
  uv_tcp_t tcp;
  wr_tls_tcp *tls; /* HTTPS users: the TLS connection instead of tcp */
  edge_h2 *h2;     /* HTTPS users who chose HTTP/2 (edge_h2.c) */
  wr_h1_parser p;
  char ip[64];
  uint8_t rbuf[RBUF_SIZE];
  size_t rpos, rlen;
  wr_buf pend; /* request body bytes the stream has not taken yet */
  preq *req;
  int reading, closing, eof, close_after;
  int parse_more; /* the parser may have an event without new bytes */
  size_t nwrites; /* uv_write requests in flight */
  wr_buf obuf;    /* gathered, not yet handed to uv_write */
  int dirty;      /* obuf waits for the end of the loop turn */
  uint64_t head_since_ns, idle_since_ns;
  unsigned nrequests;
};

struct preq {
  uint32_t magic;
  pconn *pc;
  econn *ec;
  wr_mux_stream *s;
  wr_route_tunnel *t;
  wr_buf head; /* the encoded REQUEST, kept whole for a retry */
  size_t head_sent;
  int kind;
  int has_body, body_started, req_done, fin_wanted, fin_sent, retried, idempotent;
  int is_head, version_minor, keepalive, expect_continue;
  wr_tunnel_decoder dec;
  int got_any;   /* any byte came back on the stream */
  int resp_head; /* the final head went to the user */
  int resp_status, resp_mode, resp_done, upgraded;
  uint64_t resp_remaining;
  size_t unconsumed; /* stream bytes not yet given back as credit */
  uint64_t started_ns;
};

typedef struct wreq {
  uv_write_t req;
  pconn *pc;
  uint8_t *data;
  size_t len, cap;
} wreq;

static void pump(pconn *pc);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void pc_close(pconn *pc);
static void preq_detach(preq *r, uint64_t abort_code);

/* ---- writing to the user ------------------------------------------------ */

static size_t queue_size(pconn *pc) {
  if (pc->tls) /* the TLS queue is bounded by its own limit (AGAIN, on_writable) */
    return pc->obuf.len ? WRITE_QUEUE_CAP : 0;
  return uv_stream_get_write_queue_size((uv_stream_t *)&pc->tcp) + pc->obuf.len;
}

static void give_credit(preq *r) {
  if (r->s && r->unconsumed && (!r->pc || queue_size(r->pc) < WRITE_QUEUE_CAP)) {
    r->ec->c->ops->stream_consume(r->s, r->unconsumed);
    r->unconsumed = 0;
  }
}

static void maybe_close_after(pconn *pc) {
  if (pc->close_after && !pc->req && pc->nwrites == 0 && pc->obuf.len == 0)
    pc_close(pc);
}

/* Buffers bigger than this are freed rather than kept as spares. */
#define SPARE_CAP_MAX (1024u * 1024u)

/* Keeps a written buffer for the next bytes gathered (tcp_write3), or frees it. */
static void spare_put(wr_edge *e, uint8_t *data, size_t cap) {
  if (e->nspare < WR_EDGE_SPARE_BUFS && cap <= SPARE_CAP_MAX) {
    e->spare[e->nspare] = data;
    e->spare_cap[e->nspare++] = cap;
  } else {
    wr_free(data);
  }
}

static void on_written(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  pconn *pc = w->pc;
  spare_put(pc->e, w->data, w->cap);
  wr_free(w);
  pc->nwrites--;
  if (status < 0) {
    if (!pc->closing)
      WR_DEBUG("User connection write failed", "client=%s error=\"%s\"", pc->ip,
               uv_strerror(status));
    pc_close(pc);
    return;
  }
  if (pc->req)
    give_credit(pc->req);
  maybe_close_after(pc);
}

/* Hands the gathered bytes to libuv (their buffer moves to the request). */
static void flush_out(pconn *pc) {
  if (!pc->obuf.len || pc->closing)
    return;
  if (pc->tls) {
    while (pc->obuf.len) {
      ssize_t n = wr_tls_tcp_write(pc->tls, pc->obuf.data, pc->obuf.len);
      if (n == WR_ERR_AGAIN)
        return; /* on_writable */
      if (n < 0) {
        pc_close(pc);
        return;
      }
      wr_buf_consume(&pc->obuf, (size_t)n);
    }
    return;
  }
  size_t off = 0;
  if (pc->nwrites == 0) {
    /* Nothing queued: write at once. Taken whole (the usual case), no write
     * request is needed, and libuv never arms POLLOUT for one, which costs
     * it an epoll_ctl each time. The buffer goes back to the pool, so an
     * idle connection holds none. */
    uv_buf_t b = uv_buf_init((char *)pc->obuf.data, (unsigned)pc->obuf.len);
    int n = uv_try_write((uv_stream_t *)&pc->tcp, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
      pc_close(pc);
      return;
    }
    off = n > 0 ? (size_t)n : 0;
    if (off == pc->obuf.len) {
      spare_put(pc->e, pc->obuf.data, pc->obuf.cap);
      wr_buf_init(&pc->obuf, OBUF_LIMIT);
      return;
    }
  }
  wreq *w = wr_malloc(sizeof *w);
  if (!w) {
    pc_close(pc);
    return;
  }
  w->pc = pc;
  w->data = pc->obuf.data;
  w->len = pc->obuf.len - off;
  w->cap = pc->obuf.cap;
  wr_buf_init(&pc->obuf, OBUF_LIMIT);
  uv_buf_t ub = uv_buf_init((char *)w->data + off, (unsigned)w->len);
  if (uv_write(&w->req, (uv_stream_t *)&pc->tcp, &ub, 1, on_written) != 0) {
    wr_free(w->data);
    wr_free(w);
    pc_close(pc);
    return;
  }
  pc->nwrites++;
}

static void on_flush_check(uv_check_t *h) {
  wr_edge *e = h->data;
  for (pconn *pc = e->pconns; pc; pc = pc->next) {
    if (!pc->dirty)
      continue;
    pc->dirty = 0;
    flush_out(pc);
    if (pc->req) /* TLS writes complete silently: credit goes back once they are queued */
      give_credit(pc->req);
    maybe_close_after(pc);
  }
  uv_check_stop(h);
}

/* Queues the concatenation of up to three byte ranges (copied). */
static int tcp_write3(pconn *pc, const void *a, size_t alen, const void *b, size_t blen,
                      const void *c, size_t clen) {
  if (pc->closing)
    return WR_ERR_CLOSED;
  if (!alen && !blen && !clen)
    return 0;
  if (pc->obuf.len + alen + blen + clen > OBUF_LIMIT)
    flush_out(pc);
  wr_edge *e = pc->e;
  if (!pc->obuf.data && e->nspare) { /* gather into a spare buffer, not a growing one */
    pc->obuf.data = e->spare[--e->nspare];
    pc->obuf.cap = e->spare_cap[e->nspare];
  }
  if ((alen && wr_buf_append(&pc->obuf, a, alen) != 0) ||
      (blen && wr_buf_append(&pc->obuf, b, blen) != 0) ||
      (clen && wr_buf_append(&pc->obuf, c, clen) != 0)) {
    pc_close(pc);
    return WR_ERR_NOMEM;
  }
  if (pc->obuf.len >= COALESCE_MAX) {
    flush_out(pc);
  } else if (!pc->dirty) {
    pc->dirty = 1;
    uv_check_start(&pc->e->flush_check, on_flush_check);
  }
  return 0;
}

static int tcp_write(pconn *pc, const void *a, size_t alen) {
  return tcp_write3(pc, a, alen, NULL, 0, NULL, 0);
}

int wr_edge_local_page(char *buf, size_t cap, int status, const char *title,
                       const char *detail) {
  int n = snprintf(buf, cap,
                   "<!doctype html>\n<html><head><title>%d %s</title></head>\n"
                   "<body><h1>%d %s</h1>\n<p>%s</p>\n<hr><p>warren edge</p></body></html>\n",
                   status, title, status, title, detail);
  return n < 0 || (size_t)n >= cap ? 0 : n;
}

/* The edge's own answer: a short HTML page. close: Connection: close and the
 * connection ends after it. */
static void respond_local(pconn *pc, int status, const char *title, const char *detail,
                          int close) {
  wr_edge *e = pc->e;
  char body[1024];
  int blen = wr_edge_local_page(body, sizeof body, status, title, detail);
  if (e->state != EDGE_RUNNING)
    close = 1;
  char head[512];
  int hlen = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                      "Content-Length: %d\r\nCache-Control: no-store\r\n%s\r\n",
                      status, wr_h1_status_text(status), blen,
                      close ? "Connection: close\r\n" : "");
  wr_edge_count_response(e, status);
  (void)tcp_write3(pc, head, (size_t)hlen, body, (size_t)blen, NULL, 0);
  if (close)
    pc->close_after = 1;
}

/* ---- request streams ---------------------------------------------------- */

static void preq_free(preq *r) {
  wr_buf_free(&r->head);
  wr_tunnel_decoder_free(&r->dec);
  r->magic = 0;
  wr_free(r);
}

/* Writes what is pending to the stream: the rest of the head, then body bytes
 * in pc->pend, then FIN. Returns 0 when everything went, WR_ERR_AGAIN when the
 * stream is full, WR_ERR_CLOSED when it cannot take more. */
static int stream_flush(preq *r) {
  if (!r->s)
    return WR_ERR_CLOSED;
  const wr_mux_ops *ops = r->ec->c->ops;
  while (r->head_sent < r->head.len) {
    ssize_t n = ops->stream_write(r->s, r->head.data + r->head_sent, r->head.len - r->head_sent);
    if (n < 0)
      return (int)n;
    r->head_sent += (size_t)n;
  }
  pconn *pc = r->pc;
  while (pc && pc->pend.len) {
    ssize_t n = ops->stream_write(r->s, pc->pend.data, pc->pend.len);
    if (n < 0)
      return (int)n;
    r->body_started = 1;
    wr_buf_consume(&pc->pend, (size_t)n);
  }
  if (r->fin_wanted && !r->fin_sent) {
    r->fin_sent = 1;
    (void)ops->stream_end(r->s);
  }
  return 0;
}

static const char *hop_by_hop[] = {"connection",       "keep-alive", "transfer-encoding",
                                   "te",               "trailer",    "proxy-connection",
                                   "upgrade",          "expect",     "x-forwarded-for",
                                   "x-forwarded-proto", "forwarded", "proxy-authorization",
                                   NULL};

static int is_listed(const char *const *list, wr_h1_slice name) {
  for (size_t i = 0; list[i]; i++)
    if (wr_h1_slice_eq_ci(name, list[i]))
      return 1;
  return 0;
}

/* 1 when name is one of the comma-separated tokens of a Connection value. */
static int in_connection(const wr_h1_header *conn, wr_h1_slice name) {
  if (!conn || !name.len)
    return 0;
  const char *p = conn->value.p, *end = p + conn->value.len;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
      p++;
    const char *tok = p;
    while (p < end && *p != ',' && *p != ' ' && *p != '\t')
      p++;
    if ((size_t)(p - tok) == name.len && strncasecmp(tok, name.p, name.len) == 0)
      return 1;
  }
  return 0;
}

int wr_edge_build_request(wr_buf *out, int kind, int has_body, const wr_h1_head *h,
                          const char *ip, int websocket, int https) {
  const char *proto = https ? "https" : "http";
  wr_h1_header fwd[MAX_FWD_HEADERS];
  size_t n = 0;
  const wr_h1_header *conn = wr_h1_find(h->headers, h->nheaders, "connection");
  for (size_t i = 0; i < h->nheaders && n < MAX_FWD_HEADERS - 5; i++) {
    wr_h1_slice name = h->headers[i].name;
    if (websocket && wr_h1_slice_eq_ci(name, "upgrade")) {
      fwd[n++] = h->headers[i];
      continue;
    }
    if (is_listed(hop_by_hop, name) || in_connection(conn, name))
      continue;
    if (wr_h1_slice_eq_ci(name, "content-length") && h->framing != WR_H1_BODY_LENGTH)
      continue;
    fwd[n++] = h->headers[i];
  }
  if (websocket)
    fwd[n++] = (wr_h1_header){{"Connection", 10}, {"Upgrade", 7}};
  fwd[n++] = (wr_h1_header){{"X-Forwarded-For", 15}, {ip, strlen(ip)}};
  fwd[n++] = (wr_h1_header){{"X-Forwarded-Proto", 17}, {proto, strlen(proto)}};
  char fwdv[WR_ROUTES_HOST_MAX + 128];
  int v6 = strchr(ip, ':') != NULL;
  int flen = snprintf(fwdv, sizeof fwdv, "for=%s%s%s;proto=%s", v6 ? "\"[" : "", ip,
                      v6 ? "]\"" : "", proto);
  fwd[n++] = (wr_h1_header){{"Forwarded", 9}, {fwdv, (size_t)flen}};
  wr_tunnel_msg m = {.type = WR_TUNNEL_REQUEST};
  m.u.request.kind = (uint64_t)kind;
  m.u.request.flags = (has_body ? WR_TUNNEL_F_BODY : 0) | (https ? WR_TUNNEL_F_TLS : 0);
  m.u.request.dest = h->host;
  m.u.request.method = h->method;
  m.u.request.path = h->target;
  m.u.request.headers = fwd;
  m.u.request.nheaders = n;
  return wr_tunnel_encode(out, &m);
}

int wr_edge_pick_and_open(wr_route_tunnel *t, const void *avoid, void *user, econn **pec,
                          wr_mux_stream **ps) {
  for (int tries = 0; tries < 4; tries++) {
    wr_route_conn *rc = wr_routes_pick(t, avoid);
    if (!rc)
      return WR_ERR_NOTFOUND;
    econn *ec = rc->conn;
    int err = wr_edge_open_stream(ec, user, ps);
    if (err == 0) {
      *pec = ec;
      return 0;
    }
    WR_DEBUG("Cannot open a request stream", "connection=%s error=\"%s\"", ec->conn_id,
             wr_strerror(err));
    avoid = ec;
  }
  return WR_ERR_NOTFOUND;
}

/* Picks a connection of r->t (not avoid) and opens the stream. */
static int open_on_tunnel(preq *r, const void *avoid) {
  return wr_edge_pick_and_open(r->t, avoid, r, &r->ec, &r->s);
}

/* Answers r locally. With close the connection ends after the answer (the
 * user may still be sending a body nobody wants); otherwise r stays until its
 * (empty) request is complete and the connection goes on. */
static void local_answer(pconn *pc, preq *r, int status, const char *title, const char *detail,
                         int close) {
  r->resp_done = 1;
  r->resp_head = 1;
  respond_local(pc, status, title, detail, close);
  if (close)
    preq_detach(r, 0);
}

static void start_request(pconn *pc, const wr_h1_head *h) {
  wr_edge *e = pc->e;
  pc->head_since_ns = 0;
  pc->nrequests++;
  int keepalive = (h->flags & WR_H1_F_KEEP_ALIVE) && e->state == EDGE_RUNNING;
  int has_body = h->framing != WR_H1_BODY_NONE;
  wr_route_tunnel *t = h->host.len ? wr_routes_lookup_host(e->routes, h->host.p, h->host.len) : NULL;
  preq *r = wr_calloc(1, sizeof *r);
  if (!r) {
    respond_local(pc, 503, "Service Unavailable", "The edge is out of memory.", 1);
    pc->close_after = 1;
    return;
  }
  r->magic = PREQ_MAGIC;
  r->pc = pc;
  r->t = t;
  r->version_minor = h->version_minor;
  r->keepalive = keepalive;
  r->is_head = h->method_id == WR_H1_M_HEAD;
  r->idempotent = wr_edge_method_idempotent(h->method);
  r->has_body = has_body;
  r->started_ns = wr_now_ns();
  wr_buf_init(&r->head, HEAD_OUT_MAX);
  pc->req = r;
  if (!keepalive)
    pc->close_after = 1;
  char host[WR_ROUTES_HOST_MAX + 1];
  if (wr_routes_normalize_host(h->host.p, h->host.len, host) != 0)
    snprintf(host, sizeof host, "-");
  if (!t) {
    WR_INFO("No tunnel for host", "host=%s client=%s status=404", host, pc->ip);
    wr_edge_count_error(e, "unknown_host");
    local_answer(pc, r, 404, "Not Found", "No tunnel serves this hostname on this edge.",
                 has_body || !keepalive);
    return;
  }
  wr_metric_inc(wr_metric_child(e->m_requests, t->name));
  if (h->flags & WR_H1_F_CONNECT) {
    wr_edge_count_error(e, "connect");
    local_answer(pc, r, 405, "Method Not Allowed", "CONNECT is not served here.", 1);
    return;
  }
  int websocket = 0;
  if (h->flags & WR_H1_F_UPGRADE) {
    const wr_h1_header *up = wr_h1_find(h->headers, h->nheaders, "upgrade");
    websocket = up && up->value.len >= 9 && strncasecmp(up->value.p, "websocket", 9) == 0;
  }
  r->kind = websocket ? WR_TUNNEL_KIND_WEBSOCKET : WR_TUNNEL_KIND_HTTP;
  if (wr_edge_build_request(&r->head, r->kind, r->has_body, h, pc->ip, websocket,
                            pc->tls != NULL) != 0) {
    WR_WARN("Refused a request", "host=%s client=%s status=400 reason=\"%s\"", host, pc->ip,
            "cannot be carried through the tunnel (field too long or invalid)");
    wr_edge_count_error(e, "request_encode");
    local_answer(pc, r, 400, "Bad Request", "The request cannot be carried to the origin.", 1);
    return;
  }
  if (wr_tunnel_decoder_init(&r->dec, NULL) != 0 || open_on_tunnel(r, NULL) != 0) {
    WR_WARN("Tunnel offline", "tunnel=%s host=%s client=%s status=502", t->name, host, pc->ip);
    wr_edge_count_error(e, "tunnel_offline");
    local_answer(pc, r, 502, "Bad Gateway",
                 "The tunnel for this hostname is offline: no connector is connected to this "
                 "edge right now.",
                 has_body || !keepalive);
    return;
  }
  /* The edge answers 100 Continue itself: the body goes into the tunnel,
   * whose flow control is the real "go ahead". */
  if (h->flags & WR_H1_F_EXPECT_CONTINUE)
    (void)tcp_write(pc, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  if (!has_body && !websocket)
    r->fin_wanted = 1;
  (void)stream_flush(r);
}

/* The stream is gone before a response: retry once elsewhere when the method
 * is idempotent, nothing came back and nothing of the body was sent (the
 * connector may have passed the head on already); otherwise answer 502.
 * Returns 1 when retried. */
static int try_retry(preq *r) {
  pconn *pc = r->pc;
  if (r->retried || !r->idempotent || r->got_any || r->body_started || !r->t ||
      pc->e->state != EDGE_RUNNING)
    return 0;
  econn *failed = r->ec;
  r->retried = 1;
  r->s = NULL;
  r->head_sent = 0;
  r->fin_sent = 0;
  if (open_on_tunnel(r, failed) != 0)
    return 0;
  WR_INFO("Retrying request on another connection", "tunnel=%s connection=%s", r->t->name,
          r->ec->conn_id);
  wr_edge_count_error(pc->e, "retried");
  (void)stream_flush(r);
  return 1;
}

/* The response is complete (or abandoned): the connection moves on. */
static void finish_response(preq *r) {
  pconn *pc = r->pc;
  r->resp_done = 1;
  if (!pc)
    return;
  if (!r->req_done || r->upgraded || pc->e->state != EDGE_RUNNING) {
    /* The user still sends a body nobody reads (or the edge is going): end
     * the connection. */
    pc->close_after = 1;
  }
  preq_detach(r, r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
  if (!pc->close_after) {
    pc->idle_since_ns = wr_now_ns();
    pump(pc);
  }
  maybe_close_after(pc);
}

/* Separates r from its pconn. A stream that is still open and not finished
 * cleanly is aborted with abort_code (0: left to finish). */
static void preq_detach(preq *r, uint64_t abort_code) {
  pconn *pc = r->pc;
  if (pc && pc->req == r)
    pc->req = NULL;
  r->pc = NULL;
  if (pc)
    wr_buf_reset(&pc->pend);
  if (!r->s) {
    preq_free(r);
    return;
  }
  if (r->unconsumed) {
    r->ec->c->ops->stream_consume(r->s, r->unconsumed);
    r->unconsumed = 0;
  }
  if (abort_code)
    (void)r->ec->c->ops->stream_abort(r->s, abort_code);
  else if (!r->fin_sent) {
    r->fin_sent = 1;
    (void)r->ec->c->ops->stream_end(r->s);
  }
}

int wr_edge_method_idempotent(wr_h1_slice m) {
  static const char *const names[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (m.len == strlen(names[i]) && memcmp(m.p, names[i], m.len) == 0)
      return 1;
  return 0;
}

int wr_edge_response_hop_by_hop(wr_h1_slice name) {
  return wr_h1_slice_eq_ci(name, "connection") || wr_h1_slice_eq_ci(name, "keep-alive") ||
         wr_h1_slice_eq_ci(name, "transfer-encoding") || wr_h1_slice_eq_ci(name, "te") ||
         wr_h1_slice_eq_ci(name, "trailer") || wr_h1_slice_eq_ci(name, "proxy-connection") ||
         wr_h1_slice_eq_ci(name, "upgrade");
}

static void write_response_head(preq *r, const wr_tunnel_response *resp) {
  pconn *pc = r->pc;
  wr_edge *e = pc->e;
  int status = (int)resp->status;
  int upgrade = status == 101;
  wr_h1_header out[WR_TUNNEL_DEFAULT_MAX_HEADERS + 4];
  size_t n = 0;
  const wr_h1_header *cl = NULL;
  for (size_t i = 0; i < resp->nheaders && n < WR_TUNNEL_DEFAULT_MAX_HEADERS; i++) {
    wr_h1_slice name = resp->headers[i].name;
    if (upgrade && (wr_h1_slice_eq_ci(name, "upgrade") || wr_h1_slice_eq_ci(name, "connection"))) {
      continue; /* written below */
    }
    if (wr_edge_response_hop_by_hop(name))
      continue;
    if (wr_h1_slice_eq_ci(name, "content-length")) {
      if (cl && !(cl->value.len == resp->headers[i].value.len &&
                  memcmp(cl->value.p, resp->headers[i].value.p, cl->value.len) == 0)) {
        cl = (const wr_h1_header *)-1;
        break;
      }
      if (cl)
        continue;
      cl = &resp->headers[i];
    }
    out[n++] = resp->headers[i];
  }
  uint64_t clen = 0;
  int cl_ok = cl && cl != (const wr_h1_header *)-1 && cl->value.len > 0 && cl->value.len <= 19;
  for (size_t i = 0; cl_ok && i < cl->value.len; i++) {
    char c = cl->value.p[i];
    if (c < '0' || c > '9')
      cl_ok = 0;
    else
      clen = clen * 10 + (uint64_t)(c - '0');
  }
  if (cl && !cl_ok) {
    WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"invalid Content-Length\"",
            r->t->name);
    wr_edge_count_error(e, "bad_response");
    r->resp_head = 1;
    respond_local(pc, 502, "Bad Gateway", "The origin sent an invalid response.", 1);
    preq_detach(r, WR_TUNNEL_RESET_PROTOCOL);
    maybe_close_after(pc);
    return;
  }
  int no_body = r->is_head || status == 204 || status == 304 || (status >= 100 && status < 200);
  if (upgrade) {
    r->resp_mode = RESP_RAW;
    r->upgraded = 1;
    out[n++] = (wr_h1_header){{"Connection", 10}, {"Upgrade", 7}};
    out[n++] = (wr_h1_header){{"Upgrade", 7}, {"websocket", 9}};
  } else if (no_body) {
    r->resp_mode = RESP_NONE;
  } else if (cl) {
    r->resp_mode = RESP_LENGTH;
    r->resp_remaining = clen;
  } else if (!(resp->flags & WR_TUNNEL_F_BODY)) {
    r->resp_mode = RESP_LENGTH;
    r->resp_remaining = 0;
    out[n++] = (wr_h1_header){{"Content-Length", 14}, {"0", 1}};
  } else if (r->version_minor >= 1) {
    r->resp_mode = RESP_CHUNKED;
    out[n++] = (wr_h1_header){{"Transfer-Encoding", 17}, {"chunked", 7}};
  } else {
    r->resp_mode = RESP_CLOSE;
    pc->close_after = 1;
  }
  if (!upgrade) {
    if (e->state != EDGE_RUNNING || !r->req_done)
      pc->close_after = 1;
    if (pc->close_after)
      out[n++] = (wr_h1_header){{"Connection", 10}, {"close", 5}};
    else if (r->version_minor == 0)
      out[n++] = (wr_h1_header){{"Connection", 10}, {"keep-alive", 10}};
  }
  wr_buf hb;
  wr_buf_init(&hb, HEAD_OUT_MAX);
  int rv = wr_h1_write_response_head(&hb, r->version_minor, status, (wr_h1_slice){NULL, 0}, out, n);
  if (rv != 0) {
    wr_buf_free(&hb);
    WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"response head cannot be "
            "written: %s\"", r->t->name, wr_strerror(rv));
    wr_edge_count_error(e, "bad_response");
    r->resp_head = 1;
    respond_local(pc, 502, "Bad Gateway", "The origin sent an invalid response.", 1);
    preq_detach(r, WR_TUNNEL_RESET_PROTOCOL);
    maybe_close_after(pc);
    return;
  }
  r->resp_head = 1;
  r->resp_status = status;
  wr_edge_count_response(e, status);
  (void)tcp_write(pc, hb.data, hb.len);
  wr_buf_free(&hb);
  if (upgrade) {
    pc->head_since_ns = 0;
    pump(pc); /* client bytes after the handshake go raw to the stream now */
  }
}

void wr_edge_stream_error_status(uint64_t code, int *pstatus, const char **ptitle,
                                 const char **pdetail) {
  static const struct {
    uint64_t code;
    int status;
    const char *title, *detail;
  } map[] = {
      {WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, 502, "Bad Gateway", "The origin cannot be reached."},
      {WR_TUNNEL_ERR_NO_INGRESS, 404, "Not Found", "The tunnel has no route for this request."},
      {WR_TUNNEL_ERR_ORIGIN_TIMEOUT, 504, "Gateway Timeout", "The origin did not answer in time."},
      {WR_TUNNEL_ERR_BAD_REQUEST, 400, "Bad Request", "The request cannot be sent to the origin."},
      {WR_TUNNEL_ERR_ORIGIN_RESPONSE, 502, "Bad Gateway", "The origin sent an invalid response."},
      {WR_TUNNEL_ERR_OVERLOADED, 503, "Service Unavailable", "The tunnel is overloaded."},
  };
  int status = 502;
  const char *title = "Bad Gateway", *detail = "The tunnel could not serve this request.";
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (map[i].code == code) {
      status = map[i].status;
      title = map[i].title;
      detail = map[i].detail;
    }
  *pstatus = status;
  *ptitle = title;
  *pdetail = detail;
}

static void stream_error_response(preq *r, const wr_tunnel_error *err) {
  int status;
  const char *title, *detail;
  wr_edge_stream_error_status(err->code, &status, &title, &detail);
  WR_WARN("Request failed in the tunnel", "tunnel=%s status=%d code=%llu reason=\"%.*s\"",
          r->t->name, status, (unsigned long long)err->code, (int)err->reason.len,
          err->reason.p ? err->reason.p : "");
  wr_edge_count_error(r->pc->e, "stream_error");
  r->resp_head = 1;
  respond_local(r->pc, status, title, detail, !r->req_done);
}

/* Response body bytes to the user in the framing chosen. */
static void body_out(preq *r, const uint8_t *data, size_t len) {
  pconn *pc = r->pc;
  if (!len)
    return;
  switch (r->resp_mode) {
  case RESP_NONE:
    return;
  case RESP_LENGTH:
    if (len > r->resp_remaining) {
      WR_WARN("Bad response from connector", "tunnel=%s reason=\"body longer than its Content-Length\"",
              r->t->name);
      wr_edge_count_error(pc->e, "bad_response");
      len = (size_t)r->resp_remaining;
      pc->close_after = 1;
    }
    r->resp_remaining -= len;
    (void)tcp_write(pc, data, len);
    break;
  case RESP_CHUNKED: {
    char sz[24];
    int n = snprintf(sz, sizeof sz, "%zx\r\n", len);
    (void)tcp_write3(pc, sz, (size_t)n, data, len, "\r\n", 2);
    break;
  }
  default:
    (void)tcp_write(pc, data, len);
    break;
  }
  wr_metric_add(pc->e->m_bytes_out, (double)len);
}

void wr_edge_public_stream_data(void *u, const uint8_t *data, size_t len, int fin) {
  if (*(uint32_t *)u == H2REQ_MAGIC) {
    wr_edge_h2_stream_data(u, data, len, fin);
    return;
  }
  preq *r = u;
  size_t total = len;
  if (!r->pc || r->resp_done) {
    /* Nobody reads any more: give the credit back and let it finish. */
    r->ec->c->ops->stream_consume(r->s, total);
    return;
  }
  if (len)
    r->got_any = 1;
  pconn *pc = r->pc;
  size_t held = 0; /* bytes now sitting in uv_write requests */
  while (!r->resp_head && len) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&r->dec, data, len, &used, &m);
    data += used;
    len -= used;
    if (rv < 0) {
      WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"%s\"", r->t->name,
              wr_tunnel_decoder_reason(&r->dec));
      wr_edge_count_error(pc->e, "bad_response");
      r->resp_head = 1;
      respond_local(pc, 502, "Bad Gateway", "The tunnel sent an invalid response.", 1);
      r->ec->c->ops->stream_consume(r->s, total);
      finish_response(r);
      return;
    }
    if (rv == 0)
      break;
    if (m.type == WR_TUNNEL_RESPONSE) {
      if (m.u.response.status == 101 && r->kind == WR_TUNNEL_KIND_WEBSOCKET) {
        write_response_head(r, &m.u.response);
      } else if (m.u.response.status < 200) {
        continue; /* 100 went out already; other interim answers are dropped */
      } else {
        if (r->kind == WR_TUNNEL_KIND_WEBSOCKET) {
          /* No switch: the request was a plain one after all. */
          r->req_done = 1;
          r->fin_wanted = 1;
          wr_h1_parser_resume(&pc->p);
          (void)stream_flush(r);
        }
        write_response_head(r, &m.u.response);
      }
      if (!r->pc) { /* the head was refused and r detached */
        if (r->s)
          r->ec->c->ops->stream_consume(r->s, total);
        return;
      }
    } else if (m.type == WR_TUNNEL_STREAM_ERROR) {
      stream_error_response(r, &m.u.error);
      r->ec->c->ops->stream_consume(r->s, total);
      finish_response(r);
      return;
    } else {
      WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"unexpected %s\"",
              r->t->name, wr_tunnel_msg_name(m.type));
      wr_edge_count_error(pc->e, "bad_response");
      r->resp_head = 1;
      respond_local(pc, 502, "Bad Gateway", "The tunnel sent an invalid response.", 1);
      r->ec->c->ops->stream_consume(r->s, total);
      finish_response(r);
      return;
    }
  }
  if (r->resp_head && len) {
    body_out(r, data, len);
    held = len;
  }
  r->unconsumed += held;
  if (total > held)
    r->ec->c->ops->stream_consume(r->s, total - held);
  give_credit(r);
  if (!r->pc || r->resp_done)
    return;
  int complete = r->resp_head && (r->resp_mode == RESP_NONE ||
                                  (r->resp_mode == RESP_LENGTH && r->resp_remaining == 0));
  if (complete && !fin) {
    /* Everything the head promised is here: the user may go on at once,
     * whenever the connector's FIN comes. */
    finish_response(r);
    return;
  }
  if (fin) {
    if (!r->resp_head) {
      WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"stream ended before "
              "a response\"", r->t->name);
      wr_edge_count_error(pc->e, "bad_response");
      r->resp_head = 1;
      respond_local(pc, 502, "Bad Gateway", "The tunnel closed the request without a response.", 1);
    } else if (r->resp_mode == RESP_CHUNKED) {
      (void)tcp_write(pc, "0\r\n\r\n", 5);
    } else if (r->resp_mode == RESP_LENGTH && r->resp_remaining) {
      WR_WARN("Response truncated", "tunnel=%s missingBytes=%llu", r->t->name,
              (unsigned long long)r->resp_remaining);
      wr_edge_count_error(pc->e, "truncated_response");
      pc->close_after = 1;
    } else if (r->resp_mode == RESP_CLOSE || r->resp_mode == RESP_RAW) {
      pc->close_after = 1;
    }
    finish_response(r);
  }
}

void wr_edge_public_stream_writable(void *u) {
  if (*(uint32_t *)u == H2REQ_MAGIC) {
    wr_edge_h2_stream_writable(u);
    return;
  }
  preq *r = u;
  if (!r->pc)
    return;
  if (stream_flush(r) == 0)
    pump(r->pc);
}

void wr_edge_public_stream_reset(void *u, uint64_t code) {
  if (*(uint32_t *)u == H2REQ_MAGIC) {
    wr_edge_h2_stream_reset(u, code);
    return;
  }
  preq *r = u;
  WR_DEBUG("Connector reset a request stream", "code=%llu", (unsigned long long)code);
  (void)r;
}

void wr_edge_public_stream_close(void *u, int has_code, uint64_t code) {
  if (*(uint32_t *)u == H2REQ_MAGIC) {
    wr_edge_h2_stream_close(u, has_code, code);
    return;
  }
  preq *r = u;
  r->s = NULL;
  pconn *pc = r->pc;
  if (!pc) {
    preq_free(r);
    return;
  }
  if (r->resp_done)
    return;
  if (!r->resp_head && try_retry(r))
    return;
  if (!r->resp_head) {
    WR_WARN("Tunnel connection lost during a request",
            "tunnel=%s status=502 reason=\"stream closed%s\" code=%llu", r->t ? r->t->name : "-",
            has_code ? " with a reset" : "", (unsigned long long)code);
    wr_edge_count_error(pc->e, "stream_lost");
    r->resp_head = 1;
    respond_local(pc, 502, "Bad Gateway", "The tunnel connection was lost.", 1);
  } else {
    if (r->resp_mode != RESP_RAW) {
      WR_WARN("Response aborted by the tunnel", "tunnel=%s code=%llu", r->t->name,
              (unsigned long long)code);
      wr_edge_count_error(pc->e, "response_aborted");
    }
    pc->close_after = 1;
  }
  finish_response(r);
}

/* ---- reading from the user ---------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  pconn *pc = h->data;
  /* Reads happen only when rbuf was fully dealt with. */
  pc->rpos = pc->rlen = 0;
  buf->base = (char *)pc->rbuf;
  buf->len = RBUF_SIZE;
}

static void set_reading(pconn *pc, int on) {
  if (pc->closing || pc->eof || on == pc->reading)
    return;
  pc->reading = on;
  if (pc->tls) {
    if (on)
      wr_tls_tcp_read_start(pc->tls);
    else
      wr_tls_tcp_read_stop(pc->tls);
  } else if (on)
    uv_read_start((uv_stream_t *)&pc->tcp, on_alloc, on_read);
  else
    uv_read_stop((uv_stream_t *)&pc->tcp);
}

static void parse_error(pconn *pc) {
  wr_edge *e = pc->e;
  int status = wr_h1_parser_status(&pc->p);
  const char *reason = wr_h1_parser_reason(&pc->p);
  WR_WARN("Refused a request", "client=%s status=%d reason=\"%s\"", pc->ip, status, reason);
  wr_edge_count_error(e, "bad_request");
  preq *r = pc->req;
  if (r && r->resp_head) {
    preq_detach(r, WR_TUNNEL_RESET_CLIENT_FAILED);
    pc->close_after = 1;
    maybe_close_after(pc);
    return;
  }
  if (r) {
    r->resp_head = 1;
    preq_detach(r, WR_TUNNEL_RESET_CLIENT_FAILED);
  }
  respond_local(pc, status ? status : 400, wr_h1_status_text(status ? status : 400), reason, 1);
  maybe_close_after(pc);
}

/* Handles buffered user bytes as far as the stream and the state allow,
 * then reads more or waits. */
static void pump(pconn *pc) {
  while (!pc->closing) {
    preq *r = pc->req;
    if (!r && pc->close_after)
      break; /* no new request on a connection that is ending */
    if (pc->pend.len) {
      if (!r || stream_flush(r) != 0)
        break;
    }
    if (pc->rpos == pc->rlen && !pc->parse_more)
      break;
    if (r && r->upgraded) {
      if (pc->rpos == pc->rlen)
        break;
      /* WebSocket: raw bytes, as many as the stream takes. */
      if (!r->s)
        break;
      ssize_t n = r->ec->c->ops->stream_write(r->s, pc->rbuf + pc->rpos, pc->rlen - pc->rpos);
      if (n < 0)
        break;
      pc->rpos += (size_t)n;
      continue;
    }
    if (r && r->req_done)
      break; /* the next request waits for this response */
    if (!r && pc->head_since_ns == 0)
      pc->head_since_ns = wr_now_ns();
    size_t used = 0;
    wr_h1_event ev;
    int rv = wr_h1_parse(&pc->p, pc->rbuf + pc->rpos, pc->rlen - pc->rpos, &used, &ev);
    pc->rpos += used;
    pc->parse_more = rv == WR_H1_EV_HEAD || rv == WR_H1_EV_BODY;
    if (rv < 0) {
      parse_error(pc);
      return;
    }
    if (rv == WR_H1_EV_HEAD) {
      start_request(pc, ev.head);
    } else if (rv == WR_H1_EV_BODY) {
      wr_metric_add(pc->e->m_bytes_in, (double)ev.len);
      if (r && r->s && !r->resp_done && wr_buf_append(&pc->pend, ev.data, ev.len) != 0) {
        parse_error(pc); /* cannot happen: pend holds at most one read */
        return;
      }
    } else if (rv == WR_H1_EV_DONE) {
      if (r) {
        r->req_done = 1;
        if (r->kind != WR_TUNNEL_KIND_WEBSOCKET)
          r->fin_wanted = 1;
        if (r->s)
          (void)stream_flush(r);
        if (r->resp_done && pc->req == r) {
          /* answered locally: the connection is free again */
          preq_detach(r, 0);
          pc->idle_since_ns = wr_now_ns();
        }
      }
    } else if (rv == WR_H1_EV_PAUSED) {
      break; /* an Upgrade: wait for the connector's answer */
    }
  }
  int want = !(pc->close_after && !pc->req) && pc->rpos == pc->rlen && pc->pend.len == 0;
  set_reading(pc, want);
  maybe_close_after(pc);
}

/* The user closed its side (or the connection failed). */
static void user_eof(pconn *pc) {
  {
    pc->eof = 1;
    preq *r = pc->req;
    if (r && r->upgraded && r->s) {
      /* The user half-closed a WebSocket: pass FIN on, the other way goes on. */
      r->fin_wanted = 1;
      (void)stream_flush(r);
      return;
    }
    wr_h1_event ev;
    int rv = wr_h1_parser_finish(&pc->p, &ev);
    if (r && !r->req_done) {
      WR_INFO("User went away mid-request", "client=%s tunnel=%s", pc->ip,
              r->t ? r->t->name : "-");
      wr_edge_count_error(pc->e, "client_aborted");
      preq_detach(r, WR_TUNNEL_RESET_CLIENT_FAILED);
      pc_close(pc);
      return;
    }
    (void)rv;
    if (!r) {
      pc_close(pc);
      return;
    }
    pc->close_after = 1; /* finish writing the response, then close */
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  pconn *pc = s->data;
  if (n == 0)
    return;
  if (n < 0) {
    pc->reading = 0;
    uv_read_stop(s);
    user_eof(pc);
    return;
  }
  pc->rlen = (size_t)n;
  pc->rpos = 0;
  pump(pc);
}

/* ---- connections -------------------------------------------------------- */

static void pc_free(pconn *pc) {
  wr_edge *e = pc->e;
  if (pc->prev)
    pc->prev->next = pc->next;
  else
    e->pconns = pc->next;
  if (pc->next)
    pc->next->prev = pc->prev;
  e->npconns--;
  wr_metric_set(e->m_pub_open, (double)e->npconns);
  wr_h1_parser_free(&pc->p);
  wr_buf_free(&pc->pend);
  wr_buf_free(&pc->obuf);
  wr_free(pc);
  wr_edge_maybe_finish(e);
}

static void pc_closed(uv_handle_t *h) { pc_free(h->data); }

static void pc_close(pconn *pc) {
  if (pc->closing)
    return;
  if (pc->req)
    preq_detach(pc->req, WR_TUNNEL_RESET_CLIENT_FAILED);
  pc->closing = 1;
  if (pc->tls)
    wr_tls_tcp_close(pc->tls); /* on_closed frees pc */
  else
    uv_close((uv_handle_t *)&pc->tcp, pc_closed);
}

/* A new user connection's state, in the edge's list. NULL when out of memory. */
static pconn *pc_new(wr_edge *e) {
  pconn *pc = wr_calloc(1, sizeof *pc);
  if (!pc)
    return NULL;
  pc->e = e;
  if (wr_h1_parser_init(&pc->p, WR_H1_REQUEST, NULL) != 0) {
    wr_free(pc);
    return NULL;
  }
  wr_buf_init(&pc->pend, RBUF_SIZE);
  wr_buf_init(&pc->obuf, OBUF_LIMIT);
  snprintf(pc->ip, sizeof pc->ip, "-");
  pc->next = e->pconns;
  if (e->pconns)
    e->pconns->prev = pc;
  e->pconns = pc;
  e->npconns++;
  wr_metric_set(e->m_pub_open, (double)e->npconns);
  wr_metric_inc(e->m_pub_total);
  return pc;
}

/* 0 when the connection may stay; else it was refused (and is closing). */
static int pc_admit(pconn *pc) {
  wr_edge *e = pc->e;
  if (e->npconns > e->cfg.max_conns || e->state != EDGE_RUNNING) {
    if (e->state == EDGE_RUNNING) {
      WR_WARN("Refused a user connection",
              "client=%s reason=\"connection limit reached\" limit=%u", pc->ip,
              e->cfg.max_conns);
      wr_edge_count_error(e, "connection_limit");
    }
    pc_close(pc);
    return -1;
  }
  pc->head_since_ns = wr_now_ns();
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  wr_edge *e = server->data;
  if (status < 0) {
    WR_WARN("Accept failed", "error=\"%s\"", uv_strerror(status));
    return;
  }
  pconn *pc = pc_new(e);
  if (!pc)
    return; /* libuv keeps the connection queued; the next accept takes it */
  uv_tcp_init(e->loop, &pc->tcp);
  pc->tcp.data = pc;
  if (uv_accept(server, (uv_stream_t *)&pc->tcp) != 0) {
    pc_close(pc);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&pc->tcp, (struct sockaddr *)&ss, &len) == 0)
    wr_addr_format_ip_sa((struct sockaddr *)&ss, pc->ip, sizeof pc->ip);
  if (pc_admit(pc) != 0)
    return;
  uv_tcp_nodelay(&pc->tcp, 1);
  set_reading(pc, 1);
}

/* ---- HTTPS users (net/tls_tcp.h) ---------------------------------- */

static void tls_on_accept(wr_tls_tcp *t) {
  wr_edge *e = wr_tls_tcp_get_user_data(t);
  pconn *pc = pc_new(e);
  if (!pc) {
    wr_tls_tcp_set_user_data(t, NULL);
    wr_tls_tcp_reset(t);
    return;
  }
  pc->tls = t;
  pc->reading = 1; /* tls_tcp reads from the start */
  wr_tls_tcp_set_user_data(t, pc);
  wr_addr_format_ip_sa(wr_tls_tcp_peer_addr(t), pc->ip, sizeof pc->ip);
  (void)pc_admit(pc);
}

static void tls_on_connected(wr_tls_tcp *t) {
  pconn *pc = wr_tls_tcp_get_user_data(t);
  if (pc && !pc->closing) {
    pc->head_since_ns = wr_now_ns();
    WR_DEBUG("HTTPS user connected", "client=%s sni=%s alpn=%s", pc->ip,
             wr_tls_tcp_server_name(t), wr_tls_tcp_alpn(t));
    if (strcmp(wr_tls_tcp_alpn(t), "h2") == 0) {
      pc->head_since_ns = 0;
      if (wr_edge_h2_new(&pc->h2, pc->e, t, pc->ip) != 0) {
        WR_WARN("Closed an HTTP/2 user", "client=%s reason=\"out of memory\"", pc->ip);
        pc_close(pc);
      }
    }
  }
}

static void tls_on_data(wr_tls_tcp *t, const uint8_t *data, size_t len) {
  pconn *pc = wr_tls_tcp_get_user_data(t);
  if (!pc || pc->closing)
    return;
  if (pc->h2) {
    wr_edge_h2_recv(pc->h2, data, len);
    return;
  }
  if (pc->rpos == pc->rlen)
    pc->rpos = pc->rlen = 0;
  if (pc->rlen + len > RBUF_SIZE && pc->rpos) {
    memmove(pc->rbuf, pc->rbuf + pc->rpos, pc->rlen - pc->rpos);
    pc->rlen -= pc->rpos;
    pc->rpos = 0;
  }
  if (pc->rlen + len > RBUF_SIZE) {
    /* Reading stops whenever bytes wait, so at most a record arrives then. */
    WR_WARN("Closed an HTTPS user", "client=%s reason=\"read buffer full\"", pc->ip);
    wr_edge_count_error(pc->e, "read_overflow");
    pc_close(pc);
    return;
  }
  memcpy(pc->rbuf + pc->rlen, data, len);
  pc->rlen += len;
  pump(pc);
}

static void tls_on_eof(wr_tls_tcp *t) {
  pconn *pc = wr_tls_tcp_get_user_data(t);
  if (pc && !pc->closing && pc->h2)
    pc_close(pc); /* an HTTP/2 client that stops sending is done */
  else if (pc && !pc->closing)
    user_eof(pc);
}

static void tls_on_writable(wr_tls_tcp *t) {
  pconn *pc = wr_tls_tcp_get_user_data(t);
  if (!pc || pc->closing)
    return;
  if (pc->h2) {
    wr_edge_h2_writable(pc->h2);
    return;
  }
  flush_out(pc);
  if (pc->req)
    give_credit(pc->req);
  maybe_close_after(pc);
}

static void tls_on_closed(wr_tls_tcp *t, int err, const char *reason) {
  pconn *pc = wr_tls_tcp_get_user_data(t);
  if (!pc)
    return;
  if (err && !pc->closing)
    WR_DEBUG("HTTPS user connection ended", "client=%s reason=\"%s\"", pc->ip,
             reason ? reason : wr_strerror(err));
  if (!pc->closing && pc->req)
    preq_detach(pc->req, WR_TUNNEL_RESET_CLIENT_FAILED);
  if (pc->h2)
    wr_edge_h2_free(pc->h2);
  pc->h2 = NULL;
  pc->closing = 1;
  pc->tls = NULL;
  pc_free(pc);
}

static const wr_tls_tcp_callbacks tls_callbacks = {
    .on_accept = tls_on_accept,
    .on_connected = tls_on_connected,
    .on_data = tls_on_data,
    .on_eof = tls_on_eof,
    .on_writable = tls_on_writable,
    .on_closed = tls_on_closed,
};

static void https_closed(wr_tls_tcp_listener *l, void *data) {
  (void)l;
  wr_edge *e = data;
  e->https = NULL;
  e->handles--;
  wr_edge_maybe_finish(e);
}

int wr_edge_https_start(wr_edge *e, const struct sockaddr *addr, const wr_tls_server *tls,
                        char *err, size_t errlen) {
  /* h2 first: a client offering both gets HTTP/2; one offering no ALPN at
   * all gets HTTP/1.1. */
  wr_tls_tcp_config tc = {.alpn = "h2,http/1.1", .tls_flags = WR_TLS_STREAM_ALPN_OPTIONAL,
                          .write_queue_limit = WRITE_QUEUE_CAP,
                          .max_connections = e->cfg.max_conns};
  int rc = wr_tls_tcp_listen(&e->https, e->loop, addr, tls, &tc, &tls_callbacks, e);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen for HTTPS: %s",
             rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                             : wr_strerror(rc));
    return rc;
  }
  e->handles++;
  return 0;
}

int wr_edge_public_start(wr_edge *e, const struct sockaddr *addr, char *err, size_t errlen) {
  uv_check_init(e->loop, &e->flush_check);
  e->flush_check.data = e;
  e->check_open = 1;
  e->handles++;
  uv_tcp_init(e->loop, &e->http);
  e->http.data = e;
  e->handles++;
  int rc = uv_tcp_bind(&e->http, addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&e->http, 511, on_connection);
  if (rc != 0) {
    char ip[64] = "-";
    int port = 0;
    if (addr->sa_family == AF_INET) {
      uv_ip4_name((const struct sockaddr_in *)addr, ip, sizeof ip);
      port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    } else {
      uv_ip6_name((const struct sockaddr_in6 *)addr, ip, sizeof ip);
      port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    }
    snprintf(err, errlen, "cannot listen for HTTP on %s%s%s:%d: %s",
             addr->sa_family == AF_INET6 ? "[" : "", ip, addr->sa_family == AF_INET6 ? "]" : "",
             port, uv_strerror(rc));
    return WR_ERR_IO;
  }
  return 0;
}

static void listener_closed(uv_handle_t *h) {
  wr_edge *e = h->data;
  e->handles--;
  wr_edge_maybe_finish(e);
}

void wr_edge_public_stop(wr_edge *e, int force) {
  if (force && e->https) {
    wr_tls_tcp_listener *l = e->https;
    e->https = NULL; /* https_closed still counts the handle down */
    wr_tls_tcp_listener_close(l, https_closed, e);
  }
  if (force && e->check_open) {
    e->check_open = 0;
    uv_close((uv_handle_t *)&e->flush_check, listener_closed);
  }
  if (e->http.loop && !uv_is_closing((uv_handle_t *)&e->http))
    uv_close((uv_handle_t *)&e->http, listener_closed);
  for (pconn *pc = e->pconns, *next; pc; pc = next) {
    next = pc->next;
    if (pc->h2 && !force && !pc->closing) {
      if (wr_edge_h2_drain(pc->h2) != 0)
        pc_close(pc);
      continue;
    }
    if (force || (!pc->req && pc->nwrites == 0 && pc->obuf.len == 0))
      pc_close(pc);
    else
      pc->close_after = pc->close_after || !pc->req;
  }
}

void wr_edge_public_sweep(wr_edge *e, uint64_t now) {
  uint64_t head_ns = e->cfg.header_timeout_ms * WR_NS_PER_MS;
  uint64_t idle_ns = e->cfg.idle_timeout_ms * WR_NS_PER_MS;
  for (pconn *pc = e->pconns, *next; pc; pc = next) {
    next = pc->next;
    if (pc->closing || pc->req || pc->close_after)
      continue;
    if (pc->h2) {
      if (wr_edge_h2_idle(pc->h2, now, idle_ns)) {
        WR_DEBUG("Closed an idle HTTP/2 user connection", "client=%s", pc->ip);
        pc_close(pc);
      }
      continue;
    }
    int idle = wr_h1_parser_idle(&pc->p) && pc->rpos == pc->rlen && pc->nrequests > 0;
    if (idle && pc->idle_since_ns && now - pc->idle_since_ns >= idle_ns) {
      WR_DEBUG("Closed an idle user connection", "client=%s", pc->ip);
      pc_close(pc);
    } else if (!idle && pc->head_since_ns && now - pc->head_since_ns >= head_ns) {
      WR_WARN("Refused a request", "client=%s status=408 reason=\"no complete request head "
              "within %llu ms\"", pc->ip, (unsigned long long)e->cfg.header_timeout_ms);
      wr_edge_count_error(e, "header_timeout");
      respond_local(pc, 408, "Request Timeout", "The request head did not arrive in time.", 1);
      maybe_close_after(pc);
    }
  }
}
