/* edge_proxy.c: a user's request through a tunnel (tunnel/edge_proxy.h).
 *
 * One preq per exchange. It is the front's sink (http/handler.h) while it
 * holds q, and its request stream's user (tunnel/edge_registry.h) until the
 * stream closes; it is freed when both are over. */
#include "tunnel/edge_proxy.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/fields.h"
#include "http/page.h"
#include "proto/tunnel/tunnel.h"
#include "tunnel/edge_registry.h"
#include "tunnel/edge_request.h"

#define HEAD_OUT_MAX (128u * 1024u)
/* Tries to open a stream on some connection of the tunnel. */
#define OPEN_TRIES 4
/* A request for a tunnel that lost its last usable connection moments ago
 * waits this long for one (a connector restarting, or reconnecting after
 * its connection died: a few hundred milliseconds) before its 502; the
 * sweep that ends the wait runs every 250 ms. */
#define OFFLINE_WAIT_NS (400 * WR_NS_PER_MS)
#define RECENTLY_LOST_NS (5 * WR_NS_PER_S)

typedef struct preq preq;

struct wr_edge_proxy {
  wr_edge_proxy_config cfg;
  int draining;
  preq *waiting; /* requests waiting for a connection (OFFLINE_WAIT_NS) */
};

struct preq {
  wr_http_sink sink;      /* the front's events */
  wr_edge_stream_user su; /* the request stream's events */
  wr_edge_proxy *px;
  wr_http_req *q; /* NULL once the exchange is over for us */
  wr_edge_conn *ec;
  wr_mux_stream *s; /* NULL once the stream closed */
  wr_route_tunnel *t;
  const char *proto_sfx; /* " protocol=h2" for HTTP/2 users, for log lines */
  wr_buf head;           /* the encoded REQUEST, kept whole for a retry */
  size_t head_sent;
  int kind;
  int req_done, fin_wanted, fin_sent, body_started, retried, idempotent;
  wr_tunnel_decoder dec;
  int got_any;   /* any byte came back on the stream */
  int resp_head; /* the final head went to the user */
  /* A retryable request's response head, held back until body bytes or the
   * end follow it (or three sweeps pass): a connection that dies between the
   * two leaves nothing sent to the user, so the request can be retried. */
  int head_held, held_ticks;
  int held_status;
  uint64_t held_flags;
  wr_h1_header *held_hs;
  size_t held_n;
  char *held_bytes;
  int upgraded;
  int full;          /* the user's side is full: credit waits for on_writable */
  size_t unconsumed; /* stream bytes not yet given back as credit */
  /* Waiting for a connection of the tunnel (park): on px->waiting. */
  int parked;
  uint64_t wait_until_ns;
  uint64_t avoid_group; /* a retry's: the connector process its connection was of */
  preq *wprev, *wnext;
};

static void count_error(wr_edge_proxy *p, const char *reason) {
  wr_metric_inc(wr_metric_child(p->cfg.errors, reason));
}

static preq *of_sink(wr_http_sink *s) { return (preq *)(void *)((char *)s - offsetof(preq, sink)); }

static preq *of_su(wr_edge_stream_user *u) {
  return (preq *)(void *)((char *)u - offsetof(preq, su));
}

static const wr_mux_ops *ops_of(const preq *r) { return r->ec->c->ops; }

static void drop_held(preq *r) {
  wr_free(r->held_hs);
  wr_free(r->held_bytes);
  r->held_hs = NULL;
  r->held_bytes = NULL;
  r->head_held = 0;
}

static void unpark(preq *r) {
  if (!r->parked)
    return;
  if (r->wprev)
    r->wprev->wnext = r->wnext;
  else
    r->px->waiting = r->wnext;
  if (r->wnext)
    r->wnext->wprev = r->wprev;
  r->wprev = r->wnext = NULL;
  r->parked = 0;
}

static void preq_free(preq *r) {
  unpark(r);
  drop_held(r);
  wr_buf_free(&r->head);
  wr_tunnel_decoder_free(&r->dec);
  wr_free(r);
}

/* ---- the request stream ------------------------------------------------- */

/* Writes the rest of the head, then FIN when wanted. 0 when all went,
 * WR_ERR_AGAIN when the stream is full, WR_ERR_CLOSED. */
static int stream_flush(preq *r) {
  if (!r->s)
    return WR_ERR_CLOSED;
  while (r->head_sent < r->head.len) {
    ssize_t n =
        ops_of(r)->stream_write(r->s, r->head.data + r->head_sent, r->head.len - r->head_sent);
    if (n < 0)
      return (int)n;
    r->head_sent += (size_t)n;
  }
  if (r->fin_wanted && !r->fin_sent) {
    r->fin_sent = 1;
    (void)ops_of(r)->stream_end(r->s);
  }
  return 0;
}

/* Which connections a stream may open on: any (a first try; the
 * unresponsive only as the last resort), or, for a retry, answering ones of
 * another connector process than r->avoid_group's (OTHER), or answering ones
 * of any process, others first (LIVE). */
enum { ANY, OTHER, LIVE };

/* Picks a connection of r->t (not avoid, and as `which` says) and opens the
 * stream on it, counting it in flight. 0, or WR_ERR_NOTFOUND when no
 * connection of the tunnel takes a stream. */
static int open_stream(preq *r, const wr_edge_conn *avoid, int which) {
  for (int tries = 0; tries < OPEN_TRIES; tries++) {
    wr_route_conn *rc = which == ANY
                            ? wr_routes_pick(r->t, avoid)
                            : wr_routes_pick_live(r->t, avoid, r->avoid_group, which == OTHER);
    if (!rc)
      return WR_ERR_NOTFOUND;
    wr_edge_conn *ec = rc->conn;
    int err = ec->c->ops->stream_open(ec->c, &r->su, &r->s);
    if (err == 0) {
      r->ec = ec;
      wr_edge_conn_track(ec, &r->su);
      rc->inflight++;
      wr_metric_add(r->px->cfg.inflight, 1);
      return 0;
    }
    WR_DEBUG("Cannot open a request stream", "connection=%s error=\"%s\"", ec->conn_id,
             wr_strerror(err));
    if (err == WR_ERR_CLOSED)
      rc->draining = 1; /* closing: its end comes soon; route nothing more to it */
    avoid = ec;
  }
  return WR_ERR_NOTFOUND;
}

/* No connection of r->t takes r now. When the tunnel lost its last one
 * moments ago (its connector restarting, or dialling again after the
 * connection died), r waits for a new one (wr_edge_proxy_tunnel_ready) up
 * to OFFLINE_WAIT_NS instead of failing at once. Returns 1 when parked. */
static int park(preq *r) {
  uint64_t now = wr_now_ns();
  if (r->px->draining || !r->t->lost_at_ns || now - r->t->lost_at_ns > RECENTLY_LOST_NS)
    return 0;
  WR_DEBUG("Waiting for a tunnel connection", "tunnel=%s retry=%d%s", r->t->name, r->retried,
           r->proto_sfx);
  r->parked = 1;
  r->wait_until_ns = now + OFFLINE_WAIT_NS;
  r->wprev = NULL;
  r->wnext = r->px->waiting;
  if (r->wnext)
    r->wnext->wprev = r;
  r->px->waiting = r;
  return 1;
}

/* The stream closed: it is no longer in flight. */
static void stream_closed(preq *r) {
  wr_edge_conn_untrack(r->ec, &r->su);
  wr_route_conn *rc = r->ec->t ? wr_routes_find(r->ec->t, r->ec) : NULL;
  if (rc && rc->inflight)
    rc->inflight--;
  wr_metric_add(r->px->cfg.inflight, -1);
  r->s = NULL;
}

/* Gives the stream the credit for bytes the user's side has taken. */
static void give_credit(preq *r) {
  if (r->s && r->unconsumed && !r->full) {
    ops_of(r)->stream_consume(r->s, r->unconsumed);
    r->unconsumed = 0;
  }
}

/* The exchange is over for us: the stream ends (FIN when abort_code is 0,
 * else a reset), or r goes now when the stream is already closed. */
static void detach(preq *r, uint64_t abort_code) {
  r->q = NULL;
  if (!r->s) {
    preq_free(r);
    return;
  }
  if (r->unconsumed) {
    ops_of(r)->stream_consume(r->s, r->unconsumed);
    r->unconsumed = 0;
  }
  if (abort_code)
    (void)ops_of(r)->stream_abort(r->s, abort_code);
  else if (!r->fin_sent) {
    r->fin_sent = 1;
    (void)ops_of(r)->stream_end(r->s);
  }
}

/* The edge's own page to the user; the exchange is over for us after it. */
static void page(preq *r, int status, const char *title, const char *detail, unsigned flags) {
  wr_http_req *q = r->q;
  r->q = NULL;
  r->resp_head = 1;
  wr_http_page_send(q, status, title, detail, flags);
}

/* The response is complete: the user goes on, the stream ends. */
static void finish(preq *r) {
  wr_http_req *q = r->q;
  r->q = NULL;
  q->ops->end(q);
  detach(r, r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
}

/* A response that cannot be passed on: a 502 page before the head, an
 * aborted response after it. */
static void bad_response(preq *r, const char *reason, uint64_t abort_code) {
  WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"%s\"%s", r->t->name, reason,
          r->proto_sfx);
  count_error(r->px, "bad_response");
  if (!r->resp_head) {
    page(r, 502, "Bad Gateway", "The tunnel sent an invalid response.", WR_HTTP_RESP_CLOSE);
  } else {
    wr_http_req *q = r->q;
    r->q = NULL;
    q->ops->abort(q);
  }
  detach(r, abort_code);
}

static void stream_error(preq *r, const wr_tunnel_error *err) {
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
    if (map[i].code == err->code) {
      status = map[i].status;
      title = map[i].title;
      detail = map[i].detail;
    }
  WR_WARN("Request failed in the tunnel", "tunnel=%s status=%d code=%llu reason=\"%.*s\"%s",
          r->t->name, status, (unsigned long long)err->code, (int)err->reason.len,
          err->reason.p ? err->reason.p : "", r->proto_sfx);
  count_error(r->px, "stream_error");
  page(r, status, title, detail, 0);
  detach(r, r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
}

/* The final response head to the user. 0, or -1 when r let go of q. */
static int emit_head(preq *r, int status, const wr_h1_header *hs, size_t n, uint64_t flags) {
  int websocket = r->kind == WR_TUNNEL_KIND_WEBSOCKET;
  if (websocket && status != 101 && !r->fin_sent) {
    /* No switch: the request was a plain one after all. */
    r->req_done = 1;
    r->fin_wanted = 1;
    (void)stream_flush(r);
  }
  int rc = r->q->ops->head(r->q, status, hs, n, flags & WR_TUNNEL_F_BODY ? WR_HTTP_RESP_BODY : 0);
  if (rc == WR_ERR_CLOSED || !r->q)
    return -1;
  if (rc != 0) {
    char why[96];
    if (rc == WR_ERR_MALFORMED)
      snprintf(why, sizeof why, "invalid Content-Length");
    else
      snprintf(why, sizeof why, "response head cannot be written: %s", wr_strerror(rc));
    WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"%s\"%s", r->t->name, why,
            r->proto_sfx);
    count_error(r->px, "bad_response");
    page(r, 502, "Bad Gateway", "The origin sent an invalid response.", WR_HTTP_RESP_CLOSE);
    detach(r, WR_TUNNEL_RESET_PROTOCOL);
    return -1;
  }
  r->resp_head = 1;
  r->upgraded = status == 101;
  return r->q ? 0 : -1;
}

/* Whether r could still be retried elsewhere (try_retry's rule, less what
 * came back on the stream, which a retry starts afresh). */
static int retryable(const preq *r) {
  return !r->retried && r->idempotent && !r->body_started && !r->px->draining &&
         r->kind != WR_TUNNEL_KIND_WEBSOCKET;
}

/* Copies resp into r's held head. 0, or WR_ERR_NOMEM (then it goes out at
 * once instead). */
static int hold_head(preq *r, const wr_tunnel_response *resp) {
  size_t bytes = 0;
  for (size_t i = 0; i < resp->nheaders; i++)
    bytes += resp->headers[i].name.len + resp->headers[i].value.len;
  r->held_hs = wr_malloc((resp->nheaders ? resp->nheaders : 1) * sizeof *r->held_hs);
  r->held_bytes = wr_malloc(bytes ? bytes : 1);
  if (!r->held_hs || !r->held_bytes) {
    drop_held(r);
    return WR_ERR_NOMEM;
  }
  char *p = r->held_bytes;
  for (size_t i = 0; i < resp->nheaders; i++) {
    const wr_h1_header *h = &resp->headers[i];
    memcpy(p, h->name.p, h->name.len);
    r->held_hs[i].name = (wr_h1_slice){p, h->name.len};
    p += h->name.len;
    memcpy(p, h->value.p, h->value.len);
    r->held_hs[i].value = (wr_h1_slice){p, h->value.len};
    p += h->value.len;
  }
  r->held_n = resp->nheaders;
  r->held_status = (int)resp->status;
  r->held_flags = resp->flags;
  r->head_held = 1;
  r->held_ticks = 0;
  return 0;
}

/* The held head goes to the user now. 0, or -1 when r let go of q. */
static int release_head(preq *r) {
  r->head_held = 0;
  int rc = emit_head(r, r->held_status, r->held_hs, r->held_n, r->held_flags);
  drop_held(r);
  return rc;
}

/* The RESPONSE head: to the user, or held while r is retryable. 0, or -1
 * when r let go of q. */
static int response_head(preq *r, const wr_tunnel_response *resp) {
  int status = (int)resp->status;
  int websocket = r->kind == WR_TUNNEL_KIND_WEBSOCKET;
  if (status < 200 && !(status == 101 && websocket))
    return 0; /* 100 went out already; other interim answers are dropped */
  if (retryable(r) && hold_head(r, resp) == 0)
    return 0;
  return emit_head(r, status, resp->headers, resp->nheaders, resp->flags);
}

/* Decodes the RESPONSE (or STREAM_ERROR) at the start of the stream; *pdata
 * and *plen advance past it. 0 to go on, -1 when r let go of q. */
static int decode_head(preq *r, const uint8_t **pdata, size_t *plen) {
  while (!r->resp_head && !r->head_held && *plen) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&r->dec, *pdata, *plen, &used, &m);
    *pdata += used;
    *plen -= used;
    if (rv < 0) {
      bad_response(r, wr_tunnel_decoder_reason(&r->dec),
                   r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
      return -1;
    }
    if (rv == 0)
      break;
    if (m.type == WR_TUNNEL_RESPONSE) {
      if (response_head(r, &m.u.response) != 0)
        return -1;
    } else if (m.type == WR_TUNNEL_STREAM_ERROR) {
      stream_error(r, &m.u.error);
      return -1;
    } else {
      char why[64];
      snprintf(why, sizeof why, "unexpected %s", wr_tunnel_msg_name(m.type));
      bad_response(r, why, r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
      return -1;
    }
  }
  return 0;
}

/* Response body bytes to the user; returns how many wait for credit. */
static size_t body_out(preq *r, const uint8_t *data, size_t len) {
  int rc = r->q->ops->body(r->q, data, len);
  if (rc == WR_ERR_LIMIT) {
    WR_WARN("Bad response from connector",
            "tunnel=%s reason=\"body longer than its Content-Length\"%s", r->t->name, r->proto_sfx);
    count_error(r->px, "bad_response");
  }
  r->full = rc == WR_ERR_AGAIN;
  if (rc == WR_ERR_NOMEM && r->q)
    bad_response(r, "response buffer full", WR_TUNNEL_RESET_CANCELLED);
  return len;
}

/* The stream ended: the response is complete, or cut short. */
static void response_fin(preq *r) {
  if (!r->resp_head) {
    WR_WARN("Bad response from connector",
            "tunnel=%s status=502 reason=\"stream ended before "
            "a response\"%s",
            r->t->name, r->proto_sfx);
    count_error(r->px, "bad_response");
    page(r, 502, "Bad Gateway", "The tunnel closed the request without a response.",
         WR_HTTP_RESP_CLOSE);
    detach(r, r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
    return;
  }
  uint64_t missing = 0;
  if (!r->q->ops->complete(r->q, &missing) && missing) {
    WR_WARN("Response truncated", "tunnel=%s missingBytes=%llu%s", r->t->name,
            (unsigned long long)missing, r->proto_sfx);
    count_error(r->px, "truncated_response");
    /* Cut short: the user's connection is reset (HTTP/2: the stream), so the
     * response cannot pass for complete. */
    wr_http_req *q = r->q;
    r->q = NULL;
    q->ops->abort(q);
    detach(r, r->req_done ? WR_TUNNEL_RESET_NO_ERROR : WR_TUNNEL_RESET_CANCELLED);
    return;
  }
  finish(r);
}

static void su_on_data(wr_edge_stream_user *u, const uint8_t *data, size_t len, int fin) {
  preq *r = of_su(u);
  wr_mux_stream *s = r->s;
  const wr_mux_ops *ops = ops_of(r);
  size_t total = len;
  if (!r->q) {
    ops->stream_consume(s, total); /* nobody reads any more */
    return;
  }
  if (len)
    r->got_any = 1;
  if (decode_head(r, &data, &len) != 0 || (r->head_held && (len || fin) && release_head(r))) {
    if (r->s)
      ops->stream_consume(s, total);
    return;
  }
  size_t held = r->resp_head && len ? body_out(r, data, len) : 0;
  if (!r->q) { /* the user went away meanwhile: detach gave the credit back */
    if (r->s)
      ops->stream_consume(s, total);
    return;
  }
  r->unconsumed += held;
  if (total > held)
    ops->stream_consume(s, total - held);
  give_credit(r);
  uint64_t missing;
  if (!fin && r->resp_head && r->q->ops->complete(r->q, &missing)) {
    /* Everything the head promised is here: the user may go on at once,
     * whenever the connector's FIN comes. */
    finish(r);
    return;
  }
  if (fin)
    response_fin(r);
}

static void su_on_writable(wr_edge_stream_user *u) {
  preq *r = of_su(u);
  if (r->q && stream_flush(r) == 0)
    r->q->ops->resume_body(r->q);
}

static void su_on_reset(wr_edge_stream_user *u, uint64_t code) {
  preq *r = of_su(u);
  WR_DEBUG("Connector reset a request stream", "code=%llu%s", (unsigned long long)code,
           r->proto_sfx);
}

/* The stream is gone before a response: once, for an idempotent method
 * when nothing came back and nothing of the body was sent (the connector
 * may have passed the head on already), the request goes to another
 * connection of the tunnel. Returns 1 when retried. */
static int try_retry(preq *r, wr_edge_conn *failed) {
  if (!retryable(r) || r->resp_head)
    return 0;
  /* What came back (part of a head, a held head) never reached the user:
   * the retry decodes its own answer from the start. */
  drop_held(r);
  if (r->got_any) {
    wr_tunnel_decoder_free(&r->dec);
    if (wr_tunnel_decoder_init(&r->dec, NULL) != 0)
      return 0;
    r->got_any = 0;
  }
  r->retried = 1;
  r->head_sent = 0;
  r->fin_sent = 0;
  /* Its connector's other connections are likely going the same way (a
   * killed connector's close one by one): another connector's, or wait a
   * moment for a new one (the same connector restarting or dialling again),
   * a sibling only as the last resort (wr_edge_proxy_sweep). */
  r->avoid_group = wr_edge_conn_group(failed);
  r->t->lost_at_ns = wr_now_ns();
  if (open_stream(r, failed, OTHER) != 0)
    return park(r);
  WR_INFO("Retrying request on another connection", "tunnel=%s connection=%s%s", r->t->name,
          r->ec->conn_id, r->proto_sfx);
  count_error(r->px, "retried");
  if (stream_flush(r) == 0)
    r->q->ops->resume_body(r->q);
  return 1;
}

static void su_on_close(wr_edge_stream_user *u, int has_code, uint64_t code) {
  preq *r = of_su(u);
  wr_edge_conn *failed = r->ec;
  stream_closed(r);
  if (!r->q) {
    preq_free(r);
    return;
  }
  r->unconsumed = 0; /* the stream's credit is moot now */
  r->full = 0;
  if (!r->resp_head && try_retry(r, failed))
    return;
  if (!r->resp_head) {
    WR_WARN("Tunnel connection lost during a request",
            "tunnel=%s status=502 reason=\"stream closed%s\" code=%llu%s", r->t->name,
            has_code ? " with a reset" : "", (unsigned long long)code, r->proto_sfx);
    count_error(r->px, "stream_lost");
    page(r, 502, "Bad Gateway", "The tunnel connection was lost.", WR_HTTP_RESP_CLOSE);
  } else {
    if (!r->upgraded) {
      WR_WARN("Response aborted by the tunnel", "tunnel=%s code=%llu%s", r->t->name,
              (unsigned long long)code, r->proto_sfx);
      count_error(r->px, "response_aborted");
    }
    wr_http_req *q = r->q;
    r->q = NULL;
    q->ops->abort(q);
  }
  preq_free(r);
}

/* r's connection stopped answering (tunnel/edge_registry.h). A response
 * under way goes on (it ends, or is cut when the connection closes); a
 * request nothing came back for yet lets go of its stream now: retried on a
 * connection that answers when the retry rule allows, else a 502, in about
 * a second instead of at the idle timeout. */
static void su_on_conn_lost(wr_edge_stream_user *u) {
  preq *r = of_su(u);
  if (!r->s || !r->q || r->resp_head)
    return;
  wr_edge_conn *failed = r->ec;
  wr_mux_stream *s = r->s;
  const wr_mux_ops *ops = ops_of(r);
  ops->stream_set_user(s, NULL); /* its late events are nobody's now */
  (void)ops->stream_abort(s, WR_TUNNEL_RESET_CANCELLED);
  stream_closed(r);
  r->unconsumed = 0;
  r->full = 0;
  if (try_retry(r, failed))
    return;
  WR_WARN("Tunnel connection lost during a request",
          "tunnel=%s status=502 reason=\"the connection stopped answering\" connection=%s%s",
          r->t->name, failed->conn_id, r->proto_sfx);
  count_error(r->px, "stream_lost");
  page(r, 502, "Bad Gateway", "The tunnel connection stopped answering.", WR_HTTP_RESP_CLOSE);
  preq_free(r);
}

/* The registry's sweep (every 250 ms): a head held over three sweeps (a
 * response whose body comes later, if at all: a stream of events, a long
 * poll) goes out, 0.5-0.75 s late. That outlasts the time a connector killed
 * right after the head takes to be found (its host's ICMP answers the
 * sweep's probe within 350 ms), so such a GET is retried, not cut. */
static void su_on_tick(wr_edge_stream_user *u) {
  preq *r = of_su(u);
  if (r->head_held && r->q && ++r->held_ticks >= 3)
    (void)release_head(r);
}

static const wr_edge_stream_events stream_events = {
    .on_data = su_on_data,
    .on_writable = su_on_writable,
    .on_reset = su_on_reset,
    .on_close = su_on_close,
};

/* ---- the user's side (wr_http_sink) ------------------------------------- */

static ssize_t sink_on_body(wr_http_sink *sk, const uint8_t *data, size_t len) {
  preq *r = of_sink(sk);
  if (r->fin_sent)
    return (ssize_t)len; /* the request ended already (no WebSocket switch): dropped */
  if (stream_flush(r) != 0)
    return WR_ERR_AGAIN; /* on_writable (or on_close) follows */
  ssize_t n = ops_of(r)->stream_write(r->s, data, len);
  if (n < 0)
    return WR_ERR_AGAIN;
  if (n > 0)
    r->body_started = 1;
  return n;
}

static void sink_on_body_end(wr_http_sink *sk) {
  preq *r = of_sink(sk);
  r->req_done = 1;
  r->fin_wanted = 1;
  (void)stream_flush(r);
}

static void sink_on_writable(wr_http_sink *sk) {
  preq *r = of_sink(sk);
  r->full = 0;
  give_credit(r);
}

static void sink_on_abort(wr_http_sink *sk, int why, uint64_t code) {
  preq *r = of_sink(sk);
  if (why == WR_HTTP_GONE_EOF && !r->req_done) {
    WR_INFO("User went away mid-request", "client=%s tunnel=%s", r->q->client_ip, r->t->name);
    count_error(r->px, "client_aborted");
  } else if (why == WR_HTTP_GONE_RESET && r->s) {
    WR_DEBUG("HTTP/2 user ended a stream early", "client=%s code=%llu", r->q->client_ip,
             (unsigned long long)code);
    count_error(r->px, "client_aborted");
  }
  detach(r, WR_TUNNEL_RESET_CLIENT_FAILED);
}

static const wr_http_sink_ops sink_ops = {
    .on_body = sink_on_body,
    .on_body_end = sink_on_body_end,
    .on_writable = sink_on_writable,
    .on_abort = sink_on_abort,
};

/* ---- serving ----------------------------------------------------------- */

/* CONNECT: only an extended one for a WebSocket is served. 0 to go on, -1
 * when q was answered. */
static int check_connect(wr_edge_proxy *p, wr_http_req *q) {
  if (!(q->flags & WR_HTTP_REQ_CONNECT))
    return 0;
  if (!(q->flags & WR_HTTP_REQ_WEBSOCKET)) {
    count_error(p, "connect");
    wr_http_page_send(q, 405, "Method Not Allowed", "CONNECT is not served here.",
                      WR_HTTP_RESP_CLOSE);
    return -1;
  }
  if (!wr_h1_slice_eq_ci(q->protocol, "websocket")) {
    count_error(p, "connect");
    wr_http_page_send(q, 501, "Not Implemented", "Only the websocket protocol is served here.", 0);
    return -1;
  }
  if (q->head->framing == WR_H1_BODY_NONE) {
    wr_http_page_send(q, 400, "Bad Request", "The WebSocket request is malformed.", 0);
    return -1;
  }
  return 0;
}

/* Encodes the REQUEST into r->head. 0, or an error after which q was
 * answered. */
static int encode_request(preq *r, wr_http_req *q, const char *host) {
  int has_body = 0;
  int rc = wr_edge_request_encode(&r->head, q, &r->kind, &has_body);
  if (rc != 0) {
    WR_WARN("Refused a request", "host=%s client=%s status=400 reason=\"%s\"%s", host, q->client_ip,
            "cannot be carried through the tunnel (field too long or invalid)", r->proto_sfx);
    count_error(r->px, "request_encode");
    wr_http_page_send(q, 400, "Bad Request", "The request cannot be carried to the origin.",
                      WR_HTTP_RESP_CLOSE);
    return rc;
  }
  /* A WebSocket opening has no body: its stream waits for the switch. */
  int websocket = r->kind == WR_TUNNEL_KIND_WEBSOCKET;
  r->req_done = websocket;
  r->fin_wanted = !has_body && !websocket;
  return 0;
}

void wr_edge_proxy_serve(wr_edge_proxy *p, wr_route_tunnel *t, wr_http_req *q, const char *host) {
  wr_metric_inc(wr_metric_child(p->cfg.requests, t->name));
  if (check_connect(p, q) != 0)
    return;
  preq *r = wr_calloc(1, sizeof *r);
  if (!r) {
    wr_http_page_send(q, 503, "Service Unavailable", "The edge is out of memory.",
                      WR_HTTP_RESP_CLOSE);
    return;
  }
  r->sink.ops = &sink_ops;
  r->su.ev = &stream_events;
  r->su.on_conn_lost = su_on_conn_lost;
  r->su.on_tick = su_on_tick;
  r->px = p;
  r->t = t;
  r->proto_sfx = q->flags & WR_HTTP_REQ_H2 ? " protocol=h2" : "";
  r->idempotent = wr_http_method_idempotent(q->head->method);
  wr_buf_init(&r->head, HEAD_OUT_MAX);
  if (wr_tunnel_decoder_init(&r->dec, NULL) != 0) {
    wr_buf_free(&r->head);
    wr_free(r);
    wr_http_page_send(q, 503, "Service Unavailable", "The edge is out of memory.",
                      WR_HTTP_RESP_CLOSE);
    return;
  }
  if (encode_request(r, q, host) != 0) {
    preq_free(r);
    return;
  }
  if (open_stream(r, NULL, ANY) != 0 && !park(r)) {
    WR_WARN("Tunnel offline", "tunnel=%s host=%s client=%s status=502%s", t->name, host,
            q->client_ip, r->proto_sfx);
    count_error(p, "tunnel_offline");
    preq_free(r);
    wr_http_page_send(q, 502, "Bad Gateway",
                      "The tunnel for this hostname is offline: no connector is connected to "
                      "this edge right now.",
                      0);
    return;
  }
  r->q = q;
  q->sink = &r->sink;
  if (r->parked)
    return; /* go ahead once a connection takes it */
  q->ops->go_ahead(q);
  (void)stream_flush(r);
}

/* A connection took the parked r's stream: the request goes on. */
static void resume_parked(preq *r) {
  unpark(r);
  wr_http_req *q = r->q;
  if (r->retried) {
    WR_INFO("Retrying request on another connection", "tunnel=%s connection=%s waited=1%s",
            r->t->name, r->ec->conn_id, r->proto_sfx);
    count_error(r->px, "retried");
  } else {
    q->ops->go_ahead(q);
  }
  if (stream_flush(r) == 0 && r->q)
    r->q->ops->resume_body(r->q);
}

void wr_edge_proxy_tunnel_ready(wr_edge_proxy *p, wr_route_tunnel *t) {
  for (preq *r = p->waiting, *next; r; r = next) {
    next = r->wnext;
    if (r->t == t && open_stream(r, NULL, r->retried ? OTHER : ANY) == 0)
      resume_parked(r);
  }
}

void wr_edge_proxy_sweep(wr_edge_proxy *p, uint64_t now_ns) {
  for (preq *r = p->waiting, *next; r; r = next) {
    next = r->wnext;
    if (now_ns < r->wait_until_ns && !p->draining)
      continue;
    /* Time is up: any connection that answers, a sibling of the failed
     * one included, rather than a 502. */
    if (!p->draining && open_stream(r, NULL, r->retried ? LIVE : ANY) == 0) {
      resume_parked(r);
      continue;
    }
    unpark(r);
    if (r->retried) {
      WR_WARN("Tunnel connection lost during a request",
              "tunnel=%s status=502 reason=\"no connection came back in time\"%s", r->t->name,
              r->proto_sfx);
      count_error(p, "stream_lost");
      page(r, 502, "Bad Gateway", "The tunnel connection was lost.", WR_HTTP_RESP_CLOSE);
    } else {
      WR_WARN("Tunnel offline", "tunnel=%s client=%s status=502 waitedMs=%llu%s", r->t->name,
              r->q->client_ip, (unsigned long long)(OFFLINE_WAIT_NS / WR_NS_PER_MS), r->proto_sfx);
      count_error(p, "tunnel_offline");
      page(r, 502, "Bad Gateway",
           "The tunnel for this hostname is offline: no connector is connected to "
           "this edge right now.",
           WR_HTTP_RESP_CLOSE);
    }
    preq_free(r);
  }
}

int wr_edge_proxy_new(wr_edge_proxy **pp, const wr_edge_proxy_config *cfg) {
  wr_edge_proxy *p = wr_calloc(1, sizeof *p);
  if (!p)
    return WR_ERR_NOMEM;
  p->cfg = *cfg;
  *pp = p;
  return 0;
}

void wr_edge_proxy_free(wr_edge_proxy *p) { wr_free(p); }

void wr_edge_proxy_drain(wr_edge_proxy *p) { p->draining = 1; }
