/* h1_conn.c: one user connection speaking HTTP/1.1 over a byte stream
 * (io/stream.h: TCP, or TLS over TCP), or carrying an HTTP/2 session.
 *
 * At most one exchange at a time: a pipelined next request waits in the read
 * buffer, unparsed, until the current response is written. The request goes
 * to the server's handler as a wr_http_req (http/handler.h) embedded in the
 * connection; this file is its response writer.
 *
 * Backpressure, both ways, with bounded memory:
 * - user -> handler: body bytes the handler does not take wait in pend (at
 *   most one read buffer) and the socket is not read until resume_body.
 * - handler -> user: body() copies into the connection's write buffer
 *   (http/transport.h) and answers WR_ERR_AGAIN past WR_HTTP_QUEUE_CAP queued;
 *   on_writable follows when writes completed below it. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/fields.h"
#include "http/page.h"
#include "http/server_internal.h"
#include "io/addr.h"
#include "net/tls_stream.h"

#define HEAD_OUT_MAX (128u * 1024u)

enum { RESP_NONE = 0, RESP_LENGTH, RESP_CHUNKED, RESP_CLOSE, RESP_RAW };

static void pump(h1conn *c);

static h1conn *conn_of(const wr_http_req *q) {
  return (h1conn *)(void *)((char *)(void *)(uintptr_t)q - offsetof(h1conn, q));
}

static int conn_write(h1conn *c, const void *a, size_t alen) {
  return wr_http_transport_write3(&c->io, a, alen, NULL, 0, NULL, 0);
}

static void maybe_close_after(h1conn *c) {
  if (c->close_after && !c->active && wr_http_transport_idle(&c->io))
    wr_h1conn_close(c);
}

/* The exchange is over on the connection's side too. */
static void exchange_over(h1conn *c) {
  c->active = 0;
  c->want_writable = 0;
  wr_buf_free(&c->pend); /* a waiting connection holds no body buffer */
}

/* Gives the read buffer back once every byte in it was handled, and the
 * parser's memory once it is between requests: what an idle connection
 * costs is its structs, not 64 KiB. */
static void release_idle(h1conn *c) {
  if (c->rbuf && c->rpos == c->rlen && !c->parse_more) {
    wr_rbuf_put(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rlen = 0;
  }
  if (!c->active && !c->rbuf)
    wr_h1_parser_trim(&c->p);
}

/* The user is gone (why: WR_HTTP_GONE_*) while the handler still holds q. */
static void exchange_gone(h1conn *c, int why) {
  wr_http_sink *s = c->q.sink;
  c->q.sink = NULL;
  exchange_over(c);
  if (s)
    s->ops->on_abort(s, why, 0);
}

static void on_out_event(wr_http_transport *w, int status) {
  h1conn *c = w->user;
  if (status < 0) {
    if (!c->closing)
      WR_DEBUG("User connection write failed", "client=%s error=\"%s\"", c->ip,
               wr_strerror(status));
    wr_h1conn_close(c);
    return;
  }
  if (c->h2) { /* the carrier of an HTTP/2 session: its frames go now */
    wr_h2conn_writable(c->h2);
    return;
  }
  if (c->want_writable && c->q.sink && wr_http_transport_queued(&c->io) < WR_HTTP_QUEUE_CAP) {
    c->want_writable = 0;
    c->q.sink->ops->on_writable(c->q.sink);
  }
  maybe_close_after(c);
}

/* The server's own answer (a refusal): a short HTML page, then the
 * connection ends. */
static void respond_page(h1conn *c, int status, const char *title, const char *detail) {
  char body[1024];
  int blen = wr_http_page_format(body, sizeof body, status, title, detail);
  char head[512];
  int hlen = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                      "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                      status, wr_h1_status_text(status), blen);
  wr_http_count_response(c->srv, status);
  (void)wr_http_transport_write3(&c->io, head, (size_t)hlen, body, (size_t)blen, NULL, 0);
  c->close_after = 1;
}

/* ---- the response writer (wr_http_req_ops) ------------------------------ */

/* Copies the fields of a response head that go on, and checks its
 * Content-Length; returns how many (at most cap - 2: the caller adds
 * framing), or WR_ERR_MALFORMED for an invalid or conflicting length. */
static int filter_fields(const wr_h1_header *hs, size_t n, int upgrade, wr_h1_header *out,
                         size_t cap, const wr_h1_header **pcl, uint64_t *pclen) {
  size_t k = 0;
  const wr_h1_header *cl = NULL;
  for (size_t i = 0; i < n && k < cap - 4; i++) {
    wr_h1_slice name = hs[i].name;
    if (upgrade && (wr_h1_slice_eq_ci(name, "upgrade") || wr_h1_slice_eq_ci(name, "connection")))
      continue; /* written by the caller */
    if (wr_http_response_hop_by_hop(name))
      continue;
    if (wr_h1_slice_eq_ci(name, "content-length")) {
      if (cl && !(cl->value.len == hs[i].value.len &&
                  memcmp(cl->value.p, hs[i].value.p, cl->value.len) == 0))
        return WR_ERR_MALFORMED;
      if (cl)
        continue;
      cl = &hs[i];
    }
    out[k++] = hs[i];
  }
  uint64_t clen = 0;
  if (cl && (cl->value.len == 0 || cl->value.len > 19))
    return WR_ERR_MALFORMED;
  for (size_t i = 0; cl && i < cl->value.len; i++) {
    char ch = cl->value.p[i];
    if (ch < '0' || ch > '9')
      return WR_ERR_MALFORMED;
    clen = clen * 10 + (uint64_t)(ch - '0');
  }
  *pcl = cl;
  *pclen = clen;
  return (int)k;
}

static int w_head(wr_http_req *q, int status, const wr_h1_header *hs, size_t n, unsigned flags) {
  h1conn *c = conn_of(q);
  if (c->closing)
    return WR_ERR_CLOSED;
  int upgrade = status == 101 && c->websocket;
  if (status < 200 && !upgrade)
    return 0; /* 100 went out already (go_ahead); other interim answers are dropped */
  if (c->websocket && !upgrade) {
    /* No switch: the request was a plain one after all, and the parser
     * (paused after it) reads the next one. */
    c->req_done = 1;
    wr_h1_parser_resume(&c->p);
  }
  wr_h1_header out[WR_HTTP_MAX_RESP_FIELDS + 4];
  const wr_h1_header *cl = NULL;
  uint64_t clen = 0;
  int k = filter_fields(hs, n, upgrade, out, sizeof out / sizeof out[0], &cl, &clen);
  if (k < 0)
    return k;
  size_t nout = (size_t)k;
  int no_body = c->is_head || status == 204 || status == 304 || (status >= 100 && status < 200);
  if (upgrade) {
    c->resp_mode = RESP_RAW;
    out[nout++] = (wr_h1_header){{"Connection", 10}, {"Upgrade", 7}};
    out[nout++] = (wr_h1_header){{"Upgrade", 7}, {"websocket", 9}};
  } else if (no_body) {
    c->resp_mode = RESP_NONE;
  } else if (cl) {
    c->resp_mode = RESP_LENGTH;
    c->resp_remaining = clen;
  } else if (!(flags & WR_HTTP_RESP_BODY)) {
    c->resp_mode = RESP_LENGTH;
    c->resp_remaining = 0;
    out[nout++] = (wr_h1_header){{"Content-Length", 14}, {"0", 1}};
  } else if (c->version_minor >= 1) {
    c->resp_mode = RESP_CHUNKED;
    out[nout++] = (wr_h1_header){{"Transfer-Encoding", 17}, {"chunked", 7}};
  } else {
    c->resp_mode = RESP_CLOSE;
  }
  int close = c->close_after || c->resp_mode == RESP_CLOSE || c->srv->draining ||
              (flags & WR_HTTP_RESP_CLOSE) || (!c->req_done && c->has_body);
  if (!upgrade) {
    if (close)
      out[nout++] = (wr_h1_header){{"Connection", 10}, {"close", 5}};
    else if (c->version_minor == 0)
      out[nout++] = (wr_h1_header){{"Connection", 10}, {"keep-alive", 10}};
  }
  wr_buf hb;
  wr_buf_init(&hb, HEAD_OUT_MAX);
  int rv =
      wr_h1_write_response_head(&hb, c->version_minor, status, (wr_h1_slice){NULL, 0}, out, nout);
  if (rv != 0) {
    wr_buf_free(&hb);
    return rv == WR_ERR_MALFORMED ? WR_ERR_INVAL : rv; /* MALFORMED means the length */
  }
  if (close && !upgrade)
    c->close_after = 1;
  c->resp_head = 1;
  c->upgraded = upgrade;
  wr_http_count_response(c->srv, status);
  (void)conn_write(c, hb.data, hb.len);
  wr_buf_free(&hb);
  if (upgrade) {
    c->head_since_ns = 0;
    pump(c); /* user bytes after the handshake go raw to the handler now */
  }
  return c->closing ? WR_ERR_CLOSED : 0;
}

static int w_body(wr_http_req *q, const uint8_t *data, size_t len) {
  h1conn *c = conn_of(q);
  if (c->closing)
    return WR_ERR_CLOSED;
  if (!len || c->resp_mode == RESP_NONE)
    return 0;
  int over = 0;
  if (c->resp_mode == RESP_LENGTH && len > c->resp_remaining) {
    len = (size_t)c->resp_remaining;
    over = 1;
    c->close_after = 1;
  }
  if (c->resp_mode == RESP_LENGTH)
    c->resp_remaining -= len;
  if (c->resp_mode == RESP_CHUNKED) {
    char sz[24];
    int n = snprintf(sz, sizeof sz, "%zx\r\n", len);
    (void)wr_http_transport_write3(&c->io, sz, (size_t)n, data, len, "\r\n", 2);
  } else {
    (void)conn_write(c, data, len);
  }
  wr_metric_add(c->srv->m->bytes_out, (double)len);
  if (c->closing)
    return WR_ERR_CLOSED;
  if (over)
    return WR_ERR_LIMIT;
  if (wr_http_transport_queued(&c->io) >= WR_HTTP_QUEUE_CAP) {
    c->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  return 0;
}

static int w_complete(const wr_http_req *q, uint64_t *pmissing) {
  const h1conn *c = conn_of(q);
  *pmissing = c->resp_mode == RESP_LENGTH ? c->resp_remaining : 0;
  return c->resp_head &&
         (c->resp_mode == RESP_NONE || (c->resp_mode == RESP_LENGTH && c->resp_remaining == 0));
}

/* The handler is done with q: the exchange ends once the request is read
 * too; the connection then goes on, or closes after the writes. */
static void finish(h1conn *c) {
  c->q.sink = NULL;
  c->resp_done = 1;
  if ((!c->req_done && c->has_body) || c->upgraded || c->srv->draining) {
    /* The user still sends a body nobody reads (or the server is going): end
     * the connection. */
    c->close_after = 1;
  }
  if (c->req_done || c->close_after) {
    exchange_over(c);
    if (!c->close_after) {
      c->idle_since_ns = wr_now_ns();
      pump(c);
    }
  }
  maybe_close_after(c);
}

static void w_end(wr_http_req *q) {
  h1conn *c = conn_of(q);
  if (c->resp_mode == RESP_CHUNKED)
    (void)conn_write(c, "0\r\n\r\n", 5);
  else if ((c->resp_mode == RESP_LENGTH && c->resp_remaining) || c->resp_mode == RESP_CLOSE ||
           c->resp_mode == RESP_RAW)
    c->close_after = 1;
  finish(c);
}

/* Ends the connection at once with a TCP reset (SO_LINGER 0, then close): a
 * response cut mid-body must not end with the FIN that would make a
 * close-delimited body look complete. Queued bytes are dropped: the response
 * is broken anyway. */
static void conn_reset(h1conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  wr_http_transport_stop(&c->io);
  wr_stream_reset(c->s); /* ev_closed frees c */
}

static void w_abort(wr_http_req *q) {
  h1conn *c = conn_of(q);
  int cut = c->resp_head && c->resp_mode != RESP_NONE &&
            !(c->resp_mode == RESP_LENGTH && c->resp_remaining == 0);
  if (cut) {
    WR_DEBUG("Reset a user connection: its response was cut short", "client=%s", c->ip);
    wr_http_count_error(c->srv, "response_reset");
    c->q.sink = NULL;
    exchange_over(c);
    conn_reset(c);
    return;
  }
  c->close_after = 1;
  finish(c);
}

static void w_resume_body(wr_http_req *q) { pump(conn_of(q)); }

static void w_go_ahead(wr_http_req *q) {
  h1conn *c = conn_of(q);
  /* The body goes to the handler, whose flow control is the real "go ahead". */
  if (c->expect_continue)
    (void)conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  c->expect_continue = 0;
}

static const wr_http_req_ops h1_ops = {
    .head = w_head,
    .body = w_body,
    .complete = w_complete,
    .end = w_end,
    .abort = w_abort,
    .resume_body = w_resume_body,
    .go_ahead = w_go_ahead,
};

/* ---- reading from the user ---------------------------------------------- */

static void set_reading(h1conn *c, int on) {
  if (c->closing || c->eof || on == c->reading)
    return;
  c->reading = on;
  if (on)
    wr_stream_read_start(c->s);
  else
    wr_stream_read_stop(c->s);
}

static void parse_error(h1conn *c) {
  int status = wr_h1_parser_status(&c->p);
  const char *reason = wr_h1_parser_reason(&c->p);
  WR_WARN("Refused a request", "client=%s status=%d reason=\"%s\"", c->ip, status, reason);
  wr_http_count_error(c->srv, "bad_request");
  int answered = c->active && c->resp_head;
  if (c->active)
    exchange_gone(c, WR_HTTP_GONE_CLOSED);
  if (answered)
    c->close_after = 1;
  else
    respond_page(c, status ? status : 400, wr_h1_status_text(status ? status : 400), reason);
  maybe_close_after(c);
}

static void start_request(h1conn *c, const wr_h1_head *h) {
  wr_http_server *s = c->srv;
  c->head_since_ns = 0;
  c->nrequests++;
  c->keepalive = (h->flags & WR_H1_F_KEEP_ALIVE) && !s->draining;
  if (!c->keepalive)
    c->close_after = 1;
  c->active = 1;
  c->req_done = c->body_ended = c->resp_head = c->resp_done = c->upgraded = 0;
  c->resp_mode = RESP_NONE;
  c->resp_remaining = 0;
  c->want_writable = 0;
  c->is_head = h->method_id == WR_H1_M_HEAD;
  c->has_body = h->framing != WR_H1_BODY_NONE;
  c->version_minor = h->version_minor;
  c->expect_continue = (h->flags & WR_H1_F_EXPECT_CONTINUE) != 0;
  c->websocket = 0;
  if ((h->flags & WR_H1_F_UPGRADE) && !(h->flags & WR_H1_F_CONNECT)) {
    const wr_h1_header *up = wr_h1_find(h->headers, h->nheaders, "upgrade");
    c->websocket = up && up->value.len >= 9 && strncasecmp(up->value.p, "websocket", 9) == 0;
  }
  c->q = (wr_http_req){.ops = &h1_ops, .head = h, .client_ip = c->ip};
  c->q.flags = (c->is_tls ? WR_HTTP_REQ_TLS : 0) | (c->websocket ? WR_HTTP_REQ_WEBSOCKET : 0) |
               (h->flags & WR_H1_F_CONNECT ? WR_HTTP_REQ_CONNECT : 0) |
               (c->is_head ? WR_HTTP_REQ_HEAD : 0);
  s->handler->ops->on_request(s->handler, &c->q);
  c->q.head = NULL;
}

/* Offers the body bytes in pend to the handler; 1 when none are left. */
static int deliver_pend(h1conn *c) {
  while (c->pend.len) {
    if (!c->q.sink) {
      wr_buf_reset(&c->pend);
      break;
    }
    ssize_t n = c->q.sink->ops->on_body(c->q.sink, c->pend.data, c->pend.len);
    if (n <= 0)
      return 0;
    wr_buf_consume(&c->pend, (size_t)n);
  }
  return 1;
}

/* Tells the handler the user's bytes are over: after the request (not for a
 * WebSocket opening, whose user side ends with the connection), once pend
 * went. */
static void deliver_body_end(h1conn *c) {
  int over = c->upgraded ? c->eof : (c->req_done && !c->websocket);
  if (!c->active || !over || c->body_ended || c->pend.len || !c->q.sink)
    return;
  c->body_ended = 1;
  c->q.sink->ops->on_body_end(c->q.sink);
}

/* One parser event. 0 to go on, 1 to stop reading (a paused parser), -1
 * when the connection failed. */
static int parse_one(h1conn *c) {
  size_t used = 0;
  wr_h1_event ev;
  static const uint8_t none[1];
  const uint8_t *at = c->rbuf ? c->rbuf + c->rpos : none;
  int rv = wr_h1_parse(&c->p, at, c->rlen - c->rpos, &used, &ev);
  c->rpos += used;
  c->parse_more = rv == WR_H1_EV_HEAD || rv == WR_H1_EV_BODY;
  if (rv < 0) {
    parse_error(c);
    return -1;
  }
  if (rv == WR_H1_EV_HEAD) {
    start_request(c, ev.head);
  } else if (rv == WR_H1_EV_BODY) {
    wr_metric_add(c->srv->m->bytes_in, (double)ev.len);
    if (c->q.sink && wr_buf_append(&c->pend, ev.data, ev.len) != 0) {
      parse_error(c); /* cannot happen: pend holds at most one read */
      return -1;
    }
  } else if (rv == WR_H1_EV_DONE && c->active) {
    c->req_done = 1;
    deliver_body_end(c);
    if (c->resp_done && c->active) {
      /* answered before the request was read: the connection is free again */
      exchange_over(c);
      c->idle_since_ns = wr_now_ns();
    }
  } else if (rv == WR_H1_EV_PAUSED) {
    return 1; /* an Upgrade: wait for the handler's answer */
  }
  return 0;
}

/* Handles buffered user bytes as far as the handler and the state allow,
 * then reads more or waits. Not re-entered: a nested call (a handler that
 * answers from within on_body) leaves the work to the running loop. */
static void pump(h1conn *c) {
  if (c->pumping)
    return;
  c->pumping = 1;
  while (!c->closing) {
    if (!c->active && c->close_after)
      break; /* no new request on a connection that is ending */
    if (c->pend.len && !deliver_pend(c))
      break;
    deliver_body_end(c);
    if (c->rpos == c->rlen && !c->parse_more)
      break;
    if (c->active && c->upgraded) {
      /* WebSocket: raw bytes, as many as the handler takes. */
      if (c->rpos == c->rlen || !c->q.sink)
        break;
      ssize_t n = c->q.sink->ops->on_body(c->q.sink, c->rbuf + c->rpos, c->rlen - c->rpos);
      if (n <= 0)
        break;
      c->rpos += (size_t)n;
      continue;
    }
    if (c->active && c->req_done)
      break; /* the next request waits for this response */
    if (!c->active && c->head_since_ns == 0)
      c->head_since_ns = wr_now_ns();
    int rv = parse_one(c);
    if (rv < 0) {
      c->pumping = 0;
      return;
    }
    if (rv > 0)
      break;
  }
  c->pumping = 0;
  int want = !(c->close_after && !c->active) && c->rpos == c->rlen && c->pend.len == 0;
  if (!c->closing)
    release_idle(c);
  set_reading(c, want);
  maybe_close_after(c);
}

/* The user closed its side (or the connection failed). */
static void user_eof(h1conn *c) {
  c->eof = 1;
  if (c->active && c->upgraded) {
    /* The user half-closed a WebSocket: the handler hears it, the other way
     * goes on. */
    deliver_body_end(c);
    return;
  }
  wr_h1_event ev;
  int rv = wr_h1_parser_finish(&c->p, &ev);
  (void)rv; /* a truncated request is dealt with below */
  if (c->active && !c->req_done) {
    exchange_gone(c, WR_HTTP_GONE_EOF);
    wr_h1conn_close(c);
    return;
  }
  if (!c->active) {
    wr_h1conn_close(c);
    return;
  }
  c->close_after = 1; /* finish writing the response, then close */
}

/* ---- the stream's events ------------------------------------------------ */

/* TLS only: the handshake completed; ALPN says HTTP/1.1 or HTTP/2. */
static void ev_connected(wr_stream *st) {
  h1conn *c = st->user;
  if (c->closing)
    return;
  c->head_since_ns = wr_now_ns();
  const char *alpn = wr_tls_stream_alpn(st);
  WR_DEBUG("HTTPS user connected", "client=%s sni=%s alpn=%s", c->ip, wr_tls_stream_server_name(st),
           alpn);
  if (strcmp(alpn, "h2") == 0) {
    c->head_since_ns = 0;
    if (wr_h2conn_new(&c->h2, c->srv, st, &c->io, c->ip) != 0) {
      WR_WARN("Closed an HTTP/2 user", "client=%s reason=\"out of memory\"", c->ip);
      wr_h1conn_close(c);
    }
  }
}

static void ev_data(wr_stream *st, const uint8_t *data, size_t len) {
  h1conn *c = st->user;
  if (c->closing)
    return;
  if (c->h2) {
    wr_h2conn_recv(c->h2, data, len);
    return;
  }
  if (c->rpos == c->rlen)
    c->rpos = c->rlen = 0;
  if (!c->rbuf && !(c->rbuf = wr_rbuf_get())) {
    WR_WARN(c->is_tls ? "Closed an HTTPS user" : "Closed a user connection",
            "client=%s reason=\"out of memory\"", c->ip);
    wr_h1conn_close(c);
    return;
  }
  if (c->rlen + len > WR_HTTP_RBUF_SIZE && c->rpos) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  if (c->rlen + len > WR_HTTP_RBUF_SIZE) {
    /* Reading stops whenever bytes wait, so at most one delivery (a read, a
     * TLS record) arrives then. */
    WR_WARN(c->is_tls ? "Closed an HTTPS user" : "Closed a user connection",
            "client=%s reason=\"read buffer full\"", c->ip);
    wr_http_count_error(c->srv, "read_overflow");
    wr_h1conn_close(c);
    return;
  }
  memcpy(c->rbuf + c->rlen, data, len);
  c->rlen += len;
  pump(c);
}

static void ev_eof(wr_stream *st) {
  h1conn *c = st->user;
  if (c->closing)
    return;
  c->reading = 0;
  if (c->h2)
    wr_h1conn_close(c); /* an HTTP/2 client that stops sending is done */
  else
    user_eof(c);
}

static void ev_writable(wr_stream *st) {
  h1conn *c = st->user;
  if (c->closing)
    return;
  if (c->h2)
    wr_h2conn_writable(c->h2);
  else
    wr_http_transport_flush(&c->io);
}

/* ---- the connection's life ---------------------------------------------- */

static void conn_free(h1conn *c) {
  wr_http_server *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconns--;
  wr_metric_set(s->m->conns_open, (double)s->nconns);
  wr_peer_count_remove(&s->peers, &c->peer);
  wr_h1_parser_free(&c->p);
  wr_rbuf_put(c->rbuf);
  wr_buf_free(&c->pend);
  wr_http_transport_free(&c->io);
  wr_free(c);
  wr_http_server_maybe_finish(s);
}

static void ev_closed(wr_stream *st, int err, const char *reason) {
  h1conn *c = st->user;
  if (err && !c->closing)
    WR_DEBUG(c->is_tls ? "HTTPS user connection ended" : "User connection ended",
             "client=%s reason=\"%s\"", c->ip, reason ? reason : wr_strerror(err));
  if (!c->closing && c->active)
    exchange_gone(c, WR_HTTP_GONE_CLOSED);
  if (c->h2)
    wr_h2conn_free(c->h2);
  c->h2 = NULL;
  c->closing = 1;
  c->s = NULL;
  wr_http_transport_stop(&c->io);
  conn_free(c);
}

static const wr_stream_events conn_events = {
    .on_connected = ev_connected,
    .on_data = ev_data,
    .on_eof = ev_eof,
    .on_writable = ev_writable,
    .on_closed = ev_closed,
};

void wr_h1conn_close(h1conn *c) {
  if (c->closing)
    return;
  if (c->active)
    exchange_gone(c, WR_HTTP_GONE_CLOSED);
  c->closing = 1;
  wr_http_transport_stop(&c->io);
  wr_stream_close(c->s); /* graceful: what the stream queued goes out; ev_closed frees c */
}

h1conn *wr_h1conn_new(wr_http_server *s, wr_stream *st, int is_tls, const wr_peer_key *peer) {
  h1conn *c = wr_calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->srv = s;
  if (wr_h1_parser_init(&c->p, WR_H1_REQUEST, NULL) != 0) {
    wr_free(c);
    return NULL;
  }
  wr_buf_init(&c->pend, WR_HTTP_RBUF_SIZE);
  c->peer = *peer;
  c->s = st;
  c->is_tls = is_tls;
  c->reading = 1; /* streams read from the start */
  wr_http_transport_init(&c->io, &s->pool, st, on_out_event, c);
  wr_stream_set_events(st, &conn_events, c);
  wr_addr_format_ip_sa(wr_stream_peer_addr(st), c->ip, sizeof c->ip); /* X-Forwarded-For */
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  wr_metric_set(s->m->conns_open, (double)s->nconns);
  wr_metric_inc(s->m->conns_total);
  return c;
}

void wr_h1conn_sweep(h1conn *c, uint64_t now, uint64_t head_ns, uint64_t idle_ns) {
  if (c->closing || c->active || c->close_after)
    return;
  if (c->h2) {
    if (wr_h2conn_idle(c->h2, now, idle_ns)) {
      WR_DEBUG("Closed an idle HTTP/2 user connection", "client=%s", c->ip);
      wr_h1conn_close(c);
    }
    return;
  }
  int idle = wr_h1_parser_idle(&c->p) && c->rpos == c->rlen && c->nrequests > 0;
  if (idle && c->idle_since_ns && now - c->idle_since_ns >= idle_ns) {
    WR_DEBUG("Closed an idle user connection", "client=%s", c->ip);
    wr_h1conn_close(c);
  } else if (!idle && c->head_since_ns && now - c->head_since_ns >= head_ns) {
    WR_WARN("Refused a request",
            "client=%s status=408 reason=\"no complete request head "
            "within %llu ms\"",
            c->ip, (unsigned long long)(head_ns / WR_NS_PER_MS));
    wr_http_count_error(c->srv, "header_timeout");
    respond_page(c, 408, "Request Timeout", "The request head did not arrive in time.");
    maybe_close_after(c);
  }
}

void wr_h1conn_stop(h1conn *c, int force) {
  if (c->h2 && !force && !c->closing) {
    if (wr_h2conn_drain(c->h2) != 0)
      wr_h1conn_close(c);
    return;
  }
  if (force || (!c->active && wr_http_transport_idle(&c->io)))
    wr_h1conn_close(c);
  else
    c->close_after = c->close_after || !c->active;
}
