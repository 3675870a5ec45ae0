#include "tunnel/proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/tcp.h"
#include "net/tls_stream.h"

/* Bytes a request may carry before the origin connection is up: the edge's
 * stream window bounds it already; this is the backstop. */
#define EARLY_LIMIT (16u * 1024 * 1024)
/* Response bytes held while the stream's send queue is full: at most one read
 * plus the message heads. */
#define PENDING_LIMIT (1u * 1024 * 1024)
#define SWEEP_MS 250
/* Request bytes an origin connection holds while its stream answers AGAIN:
 * credit for them goes back to the edge only once they are taken, so the
 * edge's stream window bounds this already; this is the backstop. */
#define OUT_LIMIT (EARLY_LIMIT + 64u * 1024)

static const char HELLO_BODY[] =
    "Hello from warren!\n\n"
    "This page comes from the connector's built-in hello_world service: your\n"
    "request went through the edge and the tunnel to the connector.\n";

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
  wr_stream *s;       /* NULL once its on_closed came */
  origin_tls *creds;  /* the TLS filter's credentials (a reference), or NULL */
  wr_buf out;         /* bytes the stream did not take yet */
  size_t owed;        /* stream credit to give once out is empty */
  struct wr_proxy *connect_p; /* holds a reference while connecting */
  int shut_pending;   /* shut the write side once out is empty */
  struct origin_conn *next, *prev; /* every conn of the ctx */
  wr_proxy_ctx *ctx;
  wr_proxy *p;       /* the request using it; NULL when idle */
  char key[400];     /* which origin: "tcp host port", "unix path" or "tls ..." */
  uint64_t deadline; /* connect timeout while connecting, idle timeout while idle */
  int connecting, idle, closing;
  int reading; /* the origin's bytes are being read (origin_read_start) */
  unsigned keepalive_conns;
  uint64_t keepalive_timeout_ms;
} origin_conn;

struct wr_proxy {
  wr_proxy_ctx *ctx;
  wr_mux_conn *c;
  wr_mux_stream *s;
  const wr_service *svc;          /* the matching rule's service */
  const wr_origin_request *orq;   /* and its originRequest settings */
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
  int req_chunked;  /* re-encode the body as chunked to the origin */
  int req_fin;      /* the edge finished the request body */
  int req_done;     /* everything including the last chunk went to the origin */
  int discard;      /* no origin wants the body: consume and drop it */

  /* response side */
  wr_h1_parser rp;
  int rp_ready;
  int responded;  /* a RESPONSE or STREAM_ERROR went out */
  int upgraded;   /* after a 101: raw bytes both ways */
  int resp_done;  /* the whole response is queued on the stream */
  int reusable;   /* the origin keeps the connection open after it */
  int fin_sent;
  int status;
  int origin_paused;
  wr_buf out_pending; /* stream bytes the send queue did not take yet */
  wr_buf in_pending;  /* origin bytes read but not parsed yet */
  int stream_closed;
  int counted; /* in ctx->inflight */
};

/* ---- bookkeeping ------------------------------------------------------- */

/* The request no longer counts as in flight: its response is complete (or
 * failed). The stream itself may linger until the edge closes its side. */
static void finished(wr_proxy *p) {
  if (p->counted) {
    p->counted = 0;
    p->ctx->inflight--;
  }
}

static void release(wr_proxy *p) {
  if (--p->refs > 0)
    return;
  wr_buf_free(&p->head);
  wr_buf_free(&p->early);
  wr_buf_free(&p->out_pending);
  wr_buf_free(&p->in_pending);
  if (p->rp_ready)
    wr_h1_parser_free(&p->rp);
  finished(p);
  wr_free(p);
}

static const wr_mux_ops *ops(const wr_proxy *p) { return p->c->ops; }

static void tls_creds_unref(wr_proxy_ctx *ctx, origin_tls *ot);

/* Unlinks and frees a connection whose stream is gone. */
static void origin_free(origin_conn *oc) {
  wr_proxy_ctx *ctx = oc->ctx;
  if (oc->prev)
    oc->prev->next = oc->next;
  else
    ctx->conns = oc->next;
  if (oc->next)
    oc->next->prev = oc->prev;
  wr_metric_add(ctx->m_origin_conns, -1);
  wr_buf_free(&oc->out);
  if (oc->creds)
    tls_creds_unref(ctx, oc->creds);
  wr_free(oc);
}

static void origin_close(origin_conn *oc) {
  if (!oc || oc->closing)
    return;
  oc->closing = 1;
  if (oc->p && oc->p->oc == oc)
    oc->p->oc = NULL;
  oc->p = NULL;
  if (oc->s)
    wr_stream_close(oc->s); /* its on_closed frees oc */
}

static size_t pool_count(wr_proxy_ctx *ctx, const char *key) {
  size_t n = 0;
  for (origin_conn *oc = ctx->conns; oc; oc = oc->next)
    n += oc->idle && !oc->closing && strcmp(oc->key, key) == 0;
  return n;
}

/* ---- the origin's byte stream ----------------------------------------- */

/* Starts delivering the origin's bytes: to the request using the connection,
 * or, while it idles in the pool, to nobody: any byte or EOF then drops it.
 * A pooled connection stays read from between requests (libuv re-arms a
 * stopped and restarted fd with two epoll_ctl calls); reads stop only while a
 * stream cannot take more. Returns 0 or WR_ERR_IO. */
static int origin_read_start(origin_conn *oc) {
  if (oc->reading)
    return 0;
  if (!oc->s)
    return WR_ERR_IO;
  wr_stream_read_start(oc->s);
  oc->reading = 1;
  return 0;
}

static void origin_read_stop(origin_conn *oc) {
  if (!oc->reading)
    return;
  oc->reading = 0;
  if (oc->s)
    wr_stream_read_stop(oc->s);
}

/* Hands n buffers to the stream in one write, keeping order: what it does
 * not take waits in out for on_writable. The stream copies what the kernel
 * does not take at once, so most writes cost no copy at all. Returns 0,
 * WR_ERR_CLOSED, or WR_ERR_LIMIT when out would grow past its bound. */
static int origin_put(origin_conn *oc, const struct iovec *iov, size_t n) {
  size_t off = 0;
  if (!oc->out.len) {
    if (!oc->s)
      return WR_ERR_CLOSED;
    ssize_t w = wr_stream_writev(oc->s, iov, n);
    if (w == WR_ERR_CLOSED)
      return WR_ERR_CLOSED;
    off = w > 0 ? (size_t)w : 0;
  }
  for (size_t i = 0; i < n; i++) {
    size_t len = iov[i].iov_len;
    if (off >= len) {
      off -= len;
      continue;
    }
    int rv = wr_buf_append(&oc->out, (const uint8_t *)iov[i].iov_base + off, len - off);
    if (rv)
      return rv;
    off = 0;
  }
  return 0;
}

/* Shuts the origin's write side (a WebSocket's request ended), after the
 * bytes still held. */
static void origin_shutdown(origin_conn *oc) {
  if (oc->out.len)
    oc->shut_pending = 1; /* on_writable shuts it once they are out */
  else if (!oc->s || wr_stream_shutdown(oc->s) != 0)
    WR_DEBUG("The origin connection was already shut", "key=\"%s\"", oc->key);
}

/* The response is complete and the request fully sent: keep the connection
 * for the next request to this origin, unless the pool is full. */
static void origin_release_to_pool(wr_proxy *p, int reusable) {
  origin_conn *oc = p->oc;
  if (!oc)
    return;
  p->oc = NULL;
  oc->p = NULL;
  if (!reusable || oc->closing || pool_count(p->ctx, oc->key) >= oc->keepalive_conns) {
    origin_close(oc);
    return;
  }
  oc->idle = 1;
  oc->deadline = wr_now_ns() + oc->keepalive_timeout_ms * WR_NS_PER_MS;
  /* Keep reading: an idle origin that closes (or talks) is dropped at once. */
  if (origin_read_start(oc) != 0)
    origin_close(oc);
}

static void fail(wr_proxy *p, uint64_t code, const char *reason);

static void sweep_cb(uv_timer_t *t) {
  wr_proxy_ctx *ctx = t->data;
  uint64_t now = wr_now_ns();
  for (origin_conn *oc = ctx->conns, *next; oc; oc = next) {
    next = oc->next;
    if (oc->closing || !(oc->idle || oc->connecting) || now < oc->deadline)
      continue;
    if (oc->connecting && oc->p) {
      wr_proxy *p = oc->p;
      WR_ERROR("Unable to reach the origin service", "error=%s originService=%s",
               "connect timeout", p->origin_name);
      /* Closes oc too; its connect callback then only drops its reference. */
      fail(p, WR_TUNNEL_ERR_ORIGIN_TIMEOUT, "connect timeout");
      continue;
    }
    origin_close(oc);
  }
}

void wr_proxy_ctx_init(wr_proxy_ctx *ctx, uv_loop_t *loop, const wr_ingress *ingress,
                       wr_metrics *metrics) {
  memset(ctx, 0, sizeof *ctx);
  ctx->loop = loop;
  ctx->ingress = ingress;
  ctx->metrics = metrics;
  if (metrics) {
    ctx->m_requests = wr_metrics_counter(metrics, "warren_tunnel_requests_total",
                                         "Requests the connector proxied to origins.");
    ctx->m_errors = wr_metrics_counter(metrics, "warren_tunnel_request_errors_total",
                                       "Requests that failed at the connector.");
    ctx->m_codes = wr_metrics_family(metrics, WR_METRIC_COUNTER,
                                     "warren_tunnel_response_by_code_total",
                                     "Responses sent back by status code.", "status_code");
    ctx->m_origin_conns = wr_metrics_gauge(metrics, "warren_origin_connections",
                                           "Open connections to origins.");
  }
  uv_timer_init(loop, &ctx->sweep);
  uv_unref((uv_handle_t *)&ctx->sweep); /* it alone must not keep the loop alive */
  ctx->sweep.data = ctx;
  uv_timer_start(&ctx->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
}

void wr_proxy_ctx_close(wr_proxy_ctx *ctx) {
  for (origin_conn *oc = ctx->conns; oc; oc = oc->next)
    if (oc->idle)
      origin_close(oc); /* frees later, from the loop (its stream's on_closed) */
  ctx->closed = 1;
  for (origin_tls **pp = &ctx->tls; *pp;) {
    origin_tls *ot = *pp;
    if (ot->refs) {
      pp = &ot->next;
      continue;
    }
    *pp = ot->next;
    wr_tls_client_del(ot->cli);
    wr_free(ot);
  }
  uv_close((uv_handle_t *)&ctx->sweep, NULL);
}

/* ---- writing to the stream --------------------------------------------- */

static void end_stream(wr_proxy *p) {
  if (p->fin_sent || p->stream_closed)
    return;
  if (p->out_pending.len) {
    p->resp_done = 1; /* on_writable sends FIN once the bytes are out */
    return;
  }
  p->fin_sent = 1;
  finished(p);
  if (ops(p)->stream_end(p->s) != 0)
    WR_DEBUG("Could not end the stream", "path=%s", p->target);
}

/* Queues bytes on the stream, keeping order: anything the send queue does
 * not take waits in out_pending. Returns 0, or WR_ERR_LIMIT when
 * out_pending would grow past its bound (a broken peer). */
static int stream_send(wr_proxy *p, const void *data, size_t len) {
  if (p->stream_closed)
    return 0;
  size_t off = 0;
  if (!p->out_pending.len) {
    ssize_t n = ops(p)->stream_write(p->s, data, len);
    if (n == WR_ERR_CLOSED)
      return WR_ERR_CLOSED;
    off = n > 0 ? (size_t)n : 0;
  }
  return off < len ? wr_buf_append(&p->out_pending, (const uint8_t *)data + off, len - off) : 0;
}

static void count_status(wr_proxy *p, int status) {
  char code[16];
  snprintf(code, sizeof code, "%d", status);
  wr_metric_inc(wr_metric_child(p->ctx->m_codes, code));
  p->status = status;
}

static int send_msg(wr_proxy *p, const wr_tunnel_msg *m) {
  wr_buf b;
  wr_buf_init(&b, WR_TUNNEL_DEFAULT_MAX_PAYLOAD + 32);
  int rv = wr_tunnel_encode(&b, m);
  if (rv == 0)
    rv = stream_send(p, b.data, b.len);
  wr_buf_free(&b);
  return rv;
}

/* Answers with STREAM_ERROR (before any response) or resets the stream
 * (mid-response), and drops the origin connection. */
static void fail(wr_proxy *p, uint64_t code, const char *reason) {
  wr_metric_inc(p->ctx->m_errors);
  origin_close(p->oc);
  p->discard = 1;
  if (p->stream_closed)
    return;
  if (!p->responded) {
    p->responded = 1;
    wr_tunnel_msg m = {.type = WR_TUNNEL_STREAM_ERROR};
    m.u.error.code = code;
    m.u.error.reason = (wr_h1_slice){reason, strlen(reason)};
    if (send_msg(p, &m) == 0) {
      end_stream(p);
      return;
    }
  }
  if (!p->fin_sent) {
    p->fin_sent = 1;
    finished(p);
    (void)ops(p)->stream_abort(p->s, WR_TUNNEL_RESET_ORIGIN_FAILED);
  }
}

/* ---- writing to the origin --------------------------------------------- */

static void release_origin(wr_proxy *p);

/* Writes prefix, data and suffix to the origin in order; consume bytes of
 * stream credit go back once the stream has taken all of them (at once,
 * nearly always; else when the held bytes drain: on_writable). */
static int origin_send(wr_proxy *p, const void *prefix, size_t plen, const void *data,
                       size_t len, const char *suffix, size_t consume) {
  origin_conn *oc = p->oc;
  struct iovec iov[3];
  size_t n = 0;
  if (plen)
    iov[n++] = (struct iovec){(void *)prefix, plen};
  if (len)
    iov[n++] = (struct iovec){(void *)data, len};
  if (suffix && *suffix)
    iov[n++] = (struct iovec){(void *)suffix, strlen(suffix)};
  int rv = n ? origin_put(oc, iov, n) : 0;
  if (rv)
    return rv == WR_ERR_CLOSED ? WR_ERR_IO : rv;
  if (oc->out.len)
    oc->owed += consume;
  else if (consume && !p->stream_closed)
    ops(p)->stream_consume(p->s, consume);
  return 0;
}

/* Request body bytes towards the origin (chunk-framed when needed). */
static int send_body(wr_proxy *p, const uint8_t *data, size_t len) {
  if (!len)
    return 0;
  if (!p->req_chunked)
    return origin_send(p, NULL, 0, data, len, NULL, len);
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  return origin_send(p, size, (size_t)n, data, len, "\r\n", len);
}

static void finish_body(wr_proxy *p) {
  if (p->req_done || !p->req_fin || !p->oc || p->oc->connecting)
    return;
  p->req_done = 1;
  if (p->req_chunked && origin_send(p, NULL, 0, NULL, 0, "0\r\n\r\n", 0) != 0)
    fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
}

/* ---- reading the response ---------------------------------------------- */

/* Fields a proxy must not pass on (http1.h's list and what the origin's
 * Connection header names); a 101 keeps Upgrade and Connection. */
static int hop_by_hop(const wr_h1_head *h, wr_h1_slice name, int keep_upgrade) {
  if (keep_upgrade && (wr_h1_slice_eq_ci(name, "upgrade") || wr_h1_slice_eq_ci(name, "connection")))
    return 0;
  return wr_h1_is_hop_by_hop(h, name);
}

static int send_response_head(wr_proxy *p, const wr_h1_head *h) {
  wr_h1_header *hs = wr_malloc((h->nheaders + 1) * sizeof *hs);
  if (!hs)
    return WR_ERR_NOMEM;
  size_t n = 0;
  for (size_t i = 0; i < h->nheaders; i++)
    if (!hop_by_hop(h, h->headers[i].name, h->status == 101))
      hs[n++] = h->headers[i];
  wr_tunnel_msg m = {.type = WR_TUNNEL_RESPONSE};
  m.u.response.status = (uint64_t)h->status;
  m.u.response.flags = (h->framing != WR_H1_BODY_NONE || h->status == 101) ? WR_TUNNEL_F_BODY : 0;
  m.u.response.headers = hs;
  m.u.response.nheaders = n;
  int rv = send_msg(p, &m);
  wr_free(hs);
  if (h->status >= 200 || h->status == 101) {
    p->responded = 1;
    count_status(p, h->status);
  }
  return rv;
}

/* Hands the origin connection back once the exchange is over: to the pool
 * when the origin keeps it alive and every request byte has been written,
 * closed when the origin will not reuse it or the request was cut short. */
static void release_origin(wr_proxy *p) {
  if (!p->oc || !p->resp_done)
    return;
  if (!p->reusable || !p->req_done)
    origin_close(p->oc);
  else if (!p->oc->out.len)
    origin_release_to_pool(p, 1);
  /* else: on_writable comes back here once the held bytes are out */
}

static void response_done(wr_proxy *p, int reusable) {
  uint64_t ms = (wr_now_ns() - p->started) / WR_NS_PER_MS;
  WR_DEBUG("Request served", "path=\"%s\" status=%d originService=%s durationMs=%llu", p->target,
           p->status, p->origin_name, (unsigned long long)ms);
  p->resp_done = 1;
  p->reusable = reusable;
  release_origin(p);
  end_stream(p);
}

static void pause_origin(wr_proxy *p, const uint8_t *rest, size_t len) {
  if (len && wr_buf_append(&p->in_pending, rest, len) != 0) {
    fail(p, WR_TUNNEL_ERR_INTERNAL, "response buffer limit");
    return;
  }
  if (!p->origin_paused && p->oc) {
    p->origin_paused = 1;
    origin_read_stop(p->oc);
  }
}

/* Parses origin bytes and moves them to the stream until the stream's send
 * queue is full; then keeps the rest and stops reading the origin. */
static void pump_response(wr_proxy *p, const uint8_t *data, size_t len) {
  /* The parser is called even with no bytes left: a message's end (DONE)
   * comes as an event of its own after its last body bytes. */
  while (!p->stream_closed && !p->discard) {
    if (p->out_pending.len) {
      pause_origin(p, data, len);
      return;
    }
    if (p->upgraded) {
      if (len && stream_send(p, data, len) != 0)
        fail(p, WR_TUNNEL_ERR_INTERNAL, "stream write failed");
      return;
    }
    size_t used = 0;
    wr_h1_event ev;
    int rv = wr_h1_parse(&p->rp, data, len, &used, &ev);
    data += used;
    len -= used;
    if (rv < 0) {
      WR_ERROR("The origin sent an invalid response", "error=\"%s\" originService=%s",
               wr_h1_parser_reason(&p->rp), p->origin_name);
      fail(p, WR_TUNNEL_ERR_ORIGIN_RESPONSE, wr_h1_parser_reason(&p->rp));
      return;
    }
    switch (rv) {
    case WR_H1_EV_HEAD:
      if (send_response_head(p, ev.head) != 0) {
        fail(p, WR_TUNNEL_ERR_INTERNAL, "response head too large");
        return;
      }
      if (ev.head->status == 101)
        p->upgraded = 1;
      /* Remember it now: the head is gone by the time the message is DONE. */
      p->reusable = !!(ev.head->flags & WR_H1_F_KEEP_ALIVE);
      break;
    case WR_H1_EV_BODY:
      if (stream_send(p, ev.data, ev.len) != 0) {
        fail(p, WR_TUNNEL_ERR_INTERNAL, "stream write failed");
        return;
      }
      break;
    case WR_H1_EV_DONE:
      if (p->responded && !p->upgraded) {
        response_done(p, p->reusable);
        return;
      }
      break;
    case WR_H1_EV_PAUSED: /* after a 101: the rest is raw */
      p->upgraded = 1;
      break;
    default: /* NEED_MORE: every byte was used */
      return;
    }
  }
}

/* The origin closed its side (eof) or failed (why says how) while p used
 * the connection (oc, or NULL when it is already gone): the end of a
 * response read until EOF, the end of an upgraded exchange, or a failure. */
static void origin_ended(wr_proxy *p, origin_conn *oc, int eof, const char *why) {
  if (p->upgraded) {
    origin_close(oc);
    end_stream(p);
    return;
  }
  wr_h1_event ev;
  int rv = eof ? wr_h1_parser_finish(&p->rp, &ev) : WR_ERR_IO;
  if (rv == WR_H1_EV_DONE && p->responded) {
    response_done(p, 0);
    return;
  }
  if (eof)
    why = "the origin closed the connection before the response ended";
  WR_ERROR("Origin connection failed", "error=\"%s\" originService=%s", why, p->origin_name);
  fail(p, WR_TUNNEL_ERR_ORIGIN_RESPONSE, why);
}

/* ---- connecting -------------------------------------------------------- */

static void start_exchange(wr_proxy *p) {
  origin_conn *oc = p->oc;
  oc->connecting = 0;
  oc->idle = 0;
  p->origin_paused = 0;
  if (origin_read_start(oc) != 0 || origin_send(p, NULL, 0, p->head.data, p->head.len, NULL, 0) != 0) {
    fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "the origin connection failed");
    return;
  }
  if (p->early.len) {
    int rv = p->req_chunked ? send_body(p, p->early.data, p->early.len)
                            : origin_send(p, NULL, 0, p->early.data, p->early.len, NULL,
                                          p->early.len);
    wr_buf_free(&p->early);
    if (rv) {
      fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
      return;
    }
  }
  finish_body(p);
}

/* ---- TLS origins -------------------------------------------------------- */

static void tls_creds_unref(wr_proxy_ctx *ctx, origin_tls *ot) {
  if (--ot->refs > 0 || !ctx->closed)
    return;
  for (origin_tls **pp = &ctx->tls; *pp; pp = &(*pp)->next) {
    if (*pp == ot) {
      *pp = ot->next;
      break;
    }
  }
  wr_tls_client_del(ot->cli);
  wr_free(ot);
}

/* The name the origin's certificate must carry (and SNI): originServerName,
 * else the service's host. */
/* The name an origin's certificate is checked for: originServerName, else the
 * service's host; a Unix socket has none, and local certificates name localhost. */
static const char *tls_name(const wr_proxy *p) {
  if (p->orq->origin_server_name && p->orq->origin_server_name[0])
    return p->orq->origin_server_name;
  return p->svc->type == WR_SERVICE_UNIX_TLS ? "localhost" : p->svc->host;
}

/* Finds or makes the credentials for p's origin: caPool (a CA file) when set,
 * else the system's CAs; noTLSVerify skips verification (warned once per
 * origin, here). Returns a new reference, or NULL after logging why. */
static origin_tls *tls_creds(wr_proxy *p, const char *key) {
  wr_proxy_ctx *ctx = p->ctx;
  for (origin_tls *ot = ctx->tls; ot; ot = ot->next) {
    if (strcmp(ot->key, key) == 0) {
      ot->refs++;
      return ot;
    }
  }
  origin_tls *ot = wr_calloc(1, sizeof *ot);
  if (!ot)
    return NULL;
  const char *ca = p->orq->ca_pool && p->orq->ca_pool[0] ? p->orq->ca_pool : NULL;
  wr_tls_client_config cc = {.ca_file = ca, .system_trust = !ca, .no_verify = p->orq->no_tls_verify};
  char err[WR_TLS_ERRLEN] = "";
  if (wr_tls_client_new(&ot->cli, &cc, err, sizeof err) != 0) {
    WR_ERROR("Cannot set up TLS to the origin", "error=\"%s\" originService=%s", err,
             p->origin_name);
    wr_free(ot);
    return NULL;
  }
  if (p->orq->no_tls_verify)
    WR_WARN("TLS verification of the origin is off (noTLSVerify): its certificate is not checked",
            "originService=%s", p->origin_name);
  snprintf(ot->key, sizeof ot->key, "%s", key);
  ot->refs = 1;
  ot->next = ctx->tls;
  ctx->tls = ot;
  return ot;
}

/* ---- the origin stream's events ----------------------------------------- */

static void origin_on_connected(wr_stream *s) {
  origin_conn *oc = s->user;
  wr_proxy *p = oc->connect_p;
  oc->connect_p = NULL;
  if (!p)
    return;
  if (p->oc != oc || p->stream_closed) { /* the request ended meanwhile */
    origin_close(oc);
    release(p);
    return;
  }
  start_exchange(p);
  release(p);
}

static void origin_on_data(wr_stream *s, const uint8_t *data, size_t len) {
  origin_conn *oc = s->user;
  if (!oc->p) { /* idle: an origin that talks out of turn is dropped */
    origin_close(oc);
    return;
  }
  pump_response(oc->p, data, len);
}

static void origin_on_eof(wr_stream *s) {
  origin_conn *oc = s->user;
  if (!oc->p) { /* idle: an origin that closes is dropped */
    origin_close(oc);
    return;
  }
  origin_ended(oc->p, oc, 1, NULL);
}

/* Moves held request bytes on; once all are taken, gives their credit back
 * and lets a finished exchange hand the connection to the pool. */
static void origin_on_writable(wr_stream *s) {
  origin_conn *oc = s->user;
  if (oc->out.len) {
    ssize_t n = wr_stream_write(s, oc->out.data, oc->out.len);
    if (n > 0)
      wr_buf_consume(&oc->out, (size_t)n);
    if (oc->out.len)
      return;
  }
  wr_proxy *p = oc->p;
  size_t owed = oc->owed;
  oc->owed = 0;
  if (oc->shut_pending) {
    oc->shut_pending = 0;
    if (wr_stream_shutdown(s) != 0)
      WR_DEBUG("The origin connection was already shut", "key=\"%s\"", oc->key);
  }
  if (!p)
    return;
  if (owed && !p->stream_closed)
    ops(p)->stream_consume(p->s, owed);
  release_origin(p);
}

static void origin_on_closed(wr_stream *s, int err, const char *reason) {
  origin_conn *oc = s->user;
  wr_proxy *cp = oc->connect_p, *p = oc->p;
  oc->connect_p = NULL;
  oc->s = NULL; /* gone: origin_close must not touch it */
  oc->closing = 1;
  if (p) {
    p->oc = NULL;
    oc->p = NULL;
  }
  if (p && cp == p) { /* the connection or its handshake failed */
    WR_ERROR("Unable to reach the origin service. The service may be down or it may not be "
             "responding to traffic from the connector",
             "error=\"%s\" originService=%s", reason, p->origin_name);
    fail(p, err == WR_ERR_TIMEOUT ? WR_TUNNEL_ERR_ORIGIN_TIMEOUT : WR_TUNNEL_ERR_ORIGIN_UNREACHABLE,
         err == WR_ERR_DENIED ? "the origin's TLS certificate was refused" : reason);
  } else if (p) {
    origin_ended(p, NULL, 0, reason);
  }
  if (cp)
    release(cp);
  origin_free(oc);
}

static const wr_stream_events origin_events = {
    .on_connected = origin_on_connected,
    .on_data = origin_on_data,
    .on_eof = origin_on_eof,
    .on_writable = origin_on_writable,
    .on_closed = origin_on_closed,
};

/* ---- connecting (continued) --------------------------------------------- */

static origin_conn *new_origin_conn(wr_proxy *p, const char *key) {
  origin_conn *oc = wr_calloc(1, sizeof *oc);
  if (!oc)
    return NULL;
  wr_proxy_ctx *ctx = p->ctx;
  oc->ctx = ctx;
  snprintf(oc->key, sizeof oc->key, "%s", key);
  oc->keepalive_conns = (unsigned)p->orq->keepalive_connections;
  oc->keepalive_timeout_ms = p->orq->keepalive_timeout_ns / WR_NS_PER_MS;
  wr_buf_init(&oc->out, OUT_LIMIT);
  oc->next = ctx->conns;
  if (ctx->conns)
    ctx->conns->prev = oc;
  ctx->conns = oc;
  wr_metric_add(ctx->m_origin_conns, 1);
  return oc;
}

/* Dials the origin for p: sa, or the service's socket when sa is NULL (unix:
 * and unix+tls:), with the TLS filter on top for https:// and unix+tls:. The
 * request goes on in origin_on_connected or fails in origin_on_closed. */
static void connect_addr(wr_proxy *p, const struct sockaddr *sa, const char *key) {
  int tls = p->svc->type == WR_SERVICE_HTTPS || p->svc->type == WR_SERVICE_UNIX_TLS;
  origin_tls *ot = NULL;
  if (tls && !(ot = tls_creds(p, key))) {
    fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "TLS to the origin cannot be set up");
    return;
  }
  origin_conn *oc = new_origin_conn(p, key);
  if (!oc) {
    if (ot)
      tls_creds_unref(p->ctx, ot);
    fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
    return;
  }
  oc->creds = ot;
  uint64_t limit_ns = p->orq->connect_timeout_ns + (tls ? p->orq->tls_timeout_ns : 0);
  /* The socket's events go to the filter when there is one. */
  const wr_stream_events *ev = tls ? NULL : &origin_events;
  wr_stream *s = NULL;
  int rv;
  if (sa) {
    wr_addr a;
    wr_addr_from_sockaddr(sa, &a);
    rv = wr_tcp_connect(&s, p->ctx->loop, &a, NULL, ev, oc);
  } else {
    rv = wr_tcp_connect_unix(&s, p->ctx->loop, p->svc->path, NULL, ev, oc);
  }
  if (rv == 0 && tls) {
    wr_tls_stream_config cfg = {.alpn = "http/1.1",
                                .tls_flags = WR_TLS_STREAM_ALPN_OPTIONAL,
                                .handshake_timeout_ms = limit_ns / WR_NS_PER_MS + 1,
                                /* many HTTPS servers end a response that way */
                                .eof_without_close_notify = 1};
    rv = wr_tls_stream_client(&s, p->ctx->loop, s, tls_name(p), ot->cli, &cfg, &origin_events,
                              oc);
  }
  if (rv) {
    origin_free(oc);
    WR_ERROR("Unable to reach the origin service", "error=\"%s\" originService=%s",
             wr_strerror(rv), p->origin_name);
    fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "the origin connection failed");
    return;
  }
  oc->s = s;
  oc->p = p;
  oc->connecting = 1;
  oc->deadline = wr_now_ns() + limit_ns;
  oc->connect_p = p;
  p->oc = oc;
  p->refs++;
}

typedef struct resolve_req {
  uv_getaddrinfo_t req;
  wr_proxy *p;
  char key[400];
} resolve_req;

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_req *rr = (resolve_req *)req;
  wr_proxy *p = rr->p;
  if (!p->stream_closed && !p->discard) {
    if (status < 0 || !res) {
      WR_ERROR("Unable to resolve the origin", "error=\"%s\" originService=%s",
               uv_strerror(status), p->origin_name);
      fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "the origin's name does not resolve");
    } else {
      connect_addr(p, res->ai_addr, rr->key);
    }
  }
  uv_freeaddrinfo(res);
  wr_free(rr);
  release(p);
}

/* Takes an idle pooled connection to this origin, or opens a new one. */
static void connect_origin(wr_proxy *p) {
  char key[400];
  const wr_service *svc = p->svc;
  if (svc->type == WR_SERVICE_UNIX)
    snprintf(key, sizeof key, "unix %s", svc->path);
  else if (svc->type == WR_SERVICE_HTTPS) /* every TLS setting: a different one is another pool */
    snprintf(key, sizeof key, "tls %.100s %u sni=%.100s verify=%d ca=%.150s", svc->host,
             svc->port, tls_name(p), !p->orq->no_tls_verify,
             p->orq->ca_pool ? p->orq->ca_pool : "system");
  else if (svc->type == WR_SERVICE_UNIX_TLS)
    snprintf(key, sizeof key, "tls unix:%.100s sni=%.100s verify=%d ca=%.150s", svc->path,
             tls_name(p), !p->orq->no_tls_verify, p->orq->ca_pool ? p->orq->ca_pool : "system");
  else
    snprintf(key, sizeof key, "tcp %s %u", svc->host, svc->port);
  for (origin_conn *oc = p->ctx->conns; oc; oc = oc->next) {
    if (oc->idle && !oc->closing && strcmp(oc->key, key) == 0) {
      oc->p = p;
      p->oc = oc;
      start_exchange(p);
      return;
    }
  }
  if (svc->type == WR_SERVICE_UNIX || svc->type == WR_SERVICE_UNIX_TLS) {
    connect_addr(p, NULL, key);
    return;
  }
  resolve_req *rr = wr_calloc(1, sizeof *rr);
  if (!rr) {
    fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
    return;
  }
  rr->p = p;
  snprintf(rr->key, sizeof rr->key, "%s", key);
  char port[8];
  snprintf(port, sizeof port, "%u", svc->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  int rv = uv_getaddrinfo(p->ctx->loop, &rr->req, resolved_cb, svc->host, port, &hints);
  if (rv) {
    wr_free(rr);
    fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, uv_strerror(rv));
    return;
  }
  p->refs++;
}

/* ---- the request ------------------------------------------------------- */

/* Serialises the origin request head from the edge's REQUEST. */
static int build_head(wr_proxy *p, const wr_tunnel_request *req, const char *host) {
  size_t n = req->nheaders;
  wr_h1_header *hs = wr_malloc((n + 4) * sizeof *hs);
  if (!hs)
    return WR_ERR_NOMEM;
  size_t k = 0;
  int has_length = 0;
  hs[k++] = (wr_h1_header){{"Host", 4}, {host, strlen(host)}};
  for (size_t i = 0; i < n; i++) {
    const wr_h1_header *h = &req->headers[i];
    if (wr_h1_slice_eq_ci(h->name, "host") || hop_by_hop(NULL, h->name, 0))
      continue;
    if (wr_h1_slice_eq_ci(h->name, "content-length"))
      has_length = 1;
    hs[k++] = *h;
  }
  if (p->websocket) {
    hs[k++] = (wr_h1_header){{"Connection", 10}, {"Upgrade", 7}};
    hs[k++] = (wr_h1_header){{"Upgrade", 7}, {"websocket", 9}};
  } else if ((req->flags & WR_TUNNEL_F_BODY) && !has_length) {
    p->req_chunked = 1;
    hs[k++] = (wr_h1_header){{"Transfer-Encoding", 17}, {"chunked", 7}};
  }
  int rv = wr_h1_write_request_head(&p->head, req->method, req->path, 1, hs, k);
  wr_free(hs);
  return rv;
}

static void respond_locally(wr_proxy *p, int status, const char *body) {
  char len[24];
  snprintf(len, sizeof len, "%zu", strlen(body));
  wr_h1_header hs[2] = {{{"Content-Type", 12}, {"text/plain; charset=utf-8", 25}},
                        {{"Content-Length", 14}, {len, strlen(len)}}};
  wr_tunnel_msg m = {.type = WR_TUNNEL_RESPONSE};
  m.u.response.status = (uint64_t)status;
  m.u.response.flags = *body ? WR_TUNNEL_F_BODY : 0;
  m.u.response.headers = hs;
  m.u.response.nheaders = 2;
  p->responded = 1;
  p->discard = 1;
  count_status(p, status);
  if (send_msg(p, &m) != 0 || stream_send(p, body, strlen(body)) != 0) {
    fail(p, WR_TUNNEL_ERR_INTERNAL, "stream write failed");
    return;
  }
  p->resp_done = 1;
  end_stream(p);
}

static void copy_slice(char *out, size_t cap, wr_h1_slice s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  memcpy(out, s.p, n);
  out[n] = '\0';
}

static wr_h1_method method_of(wr_h1_slice m) {
  static const struct { const char *name; wr_h1_method id; } ms[] = {
      {"GET", WR_H1_M_GET},         {"HEAD", WR_H1_M_HEAD},       {"POST", WR_H1_M_POST},
      {"PUT", WR_H1_M_PUT},         {"CONNECT", WR_H1_M_CONNECT}, {"OPTIONS", WR_H1_M_OPTIONS},
  };
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
    if (wr_h1_slice_eq(m, ms[i].name))
      return ms[i].id;
  return WR_H1_M_OTHER;
}

int wr_proxy_start(wr_proxy_ctx *ctx, wr_mux_conn *c, wr_mux_stream *s,
                   const wr_tunnel_request *req, size_t head_len, wr_proxy **pp) {
  wr_proxy *p = wr_calloc(1, sizeof *p);
  if (!p || wr_h1_parser_init(&p->rp, WR_H1_RESPONSE, NULL) != 0) {
    wr_free(p);
    (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_INTERNAL);
    return WR_ERR_NOMEM;
  }
  p->rp_ready = 1;
  *pp = p;
  p->ctx = ctx;
  p->c = c;
  p->s = s;
  p->refs = 1;
  p->started = wr_now_ns();
  wr_buf_init(&p->head, WR_H1_DEFAULT_MAX_HEAD + 4096);
  wr_buf_init(&p->early, EARLY_LIMIT);
  wr_buf_init(&p->out_pending, PENDING_LIMIT + WR_TUNNEL_DEFAULT_MAX_PAYLOAD);
  wr_buf_init(&p->in_pending, PENDING_LIMIT);
  ctx->inflight++;
  p->counted = 1;
  wr_metric_inc(ctx->m_requests);
  c->ops->stream_consume(s, head_len);

  char host[256], path[2048];
  copy_slice(host, sizeof host, req->dest);
  copy_slice(path, sizeof path, req->path);
  snprintf(p->target, sizeof p->target, "%.*s %.200s", (int)(req->method.len & 63),
           req->method.p, path);
  char *query = strchr(path, '?');
  if (query)
    *query = '\0';
  long idx = wr_ingress_match(ctx->ingress, host, strlen(host), *path ? path : "/");
  const wr_ingress_rule *rule = idx >= 0 ? &ctx->ingress->rules[idx] : NULL;
  p->req_fin = !(req->flags & WR_TUNNEL_F_BODY) && req->kind != WR_TUNNEL_KIND_WEBSOCKET;
  p->method_id = method_of(req->method);
  p->websocket = req->kind == WR_TUNNEL_KIND_WEBSOCKET;

  if (!rule) {
    snprintf(p->origin_name, sizeof p->origin_name, "none");
    WR_WARN("No ingress rule matches the request", "host=%s path=%s", host, path);
    fail(p, WR_TUNNEL_ERR_NO_INGRESS, "no ingress rule matches this request");
    return 0;
  }
  const wr_service *svc = p->svc = &rule->service;
  p->orq = &rule->config;
  snprintf(p->origin_name, sizeof p->origin_name, "%s", svc->text);
  switch (svc->type) {
  case WR_SERVICE_HELLO_WORLD:
    respond_locally(p, 200, HELLO_BODY);
    return 0;
  case WR_SERVICE_HTTP_STATUS:
    respond_locally(p, svc->status, "");
    return 0;
  case WR_SERVICE_HTTPS:
  case WR_SERVICE_UNIX_TLS:
  case WR_SERVICE_UNIX:
  case WR_SERVICE_HTTP:
    break;
  }
  const char *host_header = p->orq->http_host_header ? p->orq->http_host_header : host;
  if (build_head(p, req, host_header) != 0) {
    fail(p, WR_TUNNEL_ERR_BAD_REQUEST, "the request cannot be sent to the origin");
    return 0;
  }
  wr_h1_parser_set_request_method(&p->rp, p->method_id);
  connect_origin(p);
  return 0;
}

void wr_proxy_on_data(wr_proxy *p, const uint8_t *data, size_t len, int fin) {
  if (p->discard || p->req_done) {
    if (len && !p->stream_closed)
      ops(p)->stream_consume(p->s, len);
    return;
  }
  if (len) {
    int rv;
    if (!p->oc || p->oc->connecting)
      rv = wr_buf_append(&p->early, data, len); /* consumed once written */
    else
      rv = p->upgraded || p->websocket ? origin_send(p, NULL, 0, data, len, NULL, len)
                                       : send_body(p, data, len);
    if (rv) {
      fail(p, WR_TUNNEL_ERR_INTERNAL, "request body buffer limit");
      return;
    }
  }
  if (fin) {
    p->req_fin = 1;
    if (p->websocket && p->oc && !p->oc->connecting) {
      origin_shutdown(p->oc);
      p->req_done = 1;
    } else {
      finish_body(p);
    }
  }
}

void wr_proxy_on_writable(wr_proxy *p) {
  if (p->stream_closed)
    return;
  if (p->out_pending.len) {
    ssize_t n = ops(p)->stream_write(p->s, p->out_pending.data, p->out_pending.len);
    if (n > 0)
      wr_buf_consume(&p->out_pending, (size_t)n);
    if (p->out_pending.len)
      return;
  }
  if (p->in_pending.len) {
    wr_buf in = p->in_pending;
    wr_buf_init(&p->in_pending, in.limit);
    pump_response(p, in.data, in.len);
    wr_buf_free(&in);
    if (p->out_pending.len)
      return;
  }
  if (p->resp_done) {
    end_stream(p);
  } else if (p->origin_paused && p->oc) {
    p->origin_paused = 0;
    if (origin_read_start(p->oc) != 0)
      fail(p, WR_TUNNEL_ERR_ORIGIN_RESPONSE, "the origin connection failed");
  }
}

void wr_proxy_on_reset(wr_proxy *p, uint64_t code) {
  WR_DEBUG("The edge cancelled a request", "path=\"%s\" code=%llu", p->target,
           (unsigned long long)code);
  origin_close(p->oc);
  p->discard = 1;
  finished(p);
}

void wr_proxy_on_close(wr_proxy *p) {
  p->stream_closed = 1;
  if (p->resp_done)
    release_origin(p);
  else
    origin_close(p->oc);
  p->s = NULL;
  release(p);
}
