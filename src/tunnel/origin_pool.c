/* origin_pool.c: connections to origins: dialing (a name lookup, then a TCP
 * or Unix socket stream with the TLS filter on top for TLS services), the
 * keep-alive pool with its idle and connect timeouts, and each connection's
 * stream events. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"
#include "io/tcp.h"
#include "net/tls_stream.h"
#include "tunnel/proxy_internal.h"

#define SWEEP_MS 250
/* Request bytes an origin connection holds while its stream answers AGAIN:
 * credit for them goes back to the edge only once they are taken, so the
 * edge's stream window bounds this already; this is the backstop. */
#define OUT_LIMIT (EARLY_LIMIT + 64u * 1024)
/* An origin connection we close has nothing more to give us: its socket is
 * closed at once after our FIN (what is still unread makes the kernel answer
 * with RST, as before streams), not after the tunnel's 2 s wait for the
 * peer's FIN. */
static const wr_tcp_config origin_tcp = {.linger_ms = 1};

/* Unlinks and frees a connection whose stream is gone. */
static void origin_free(origin_conn *oc) {
  wr_proxy_ctx *ctx = oc->ctx;
  for (origin_conn **pp = &ctx->corked; oc->corked && *pp; pp = &(*pp)->corked_next)
    if (*pp == oc) {
      *pp = oc->corked_next;
      break;
    }
  if (oc->prev)
    oc->prev->next = oc->next;
  else
    ctx->conns = oc->next;
  if (oc->next)
    oc->next->prev = oc->prev;
  wr_metric_add(ctx->m_origin_conns, -1);
  wr_buf_free(&oc->out);
  if (oc->creds)
    wr_origin_tls_unref(ctx, oc->creds);
  wr_free(oc);
}

void wr_origin_close(origin_conn *oc) {
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

/* Starts delivering the origin's bytes: to the request using the connection,
 * or, while it idles in the pool, to nobody: any byte or EOF then drops it.
 * A pooled connection stays read from between requests (libuv re-arms a
 * stopped and restarted fd with two epoll_ctl calls); reads stop only while a
 * stream cannot take more. Returns 0 or WR_ERR_IO. */
int wr_origin_read_start(origin_conn *oc) {
  if (oc->reading)
    return 0;
  if (!oc->s)
    return WR_ERR_IO;
  wr_stream_read_start(oc->s);
  oc->reading = 1;
  return 0;
}

void wr_origin_read_stop(origin_conn *oc) {
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
void wr_origin_shutdown(origin_conn *oc) {
  if (oc->out.len)
    oc->shut_pending = 1; /* on_writable shuts it once they are out */
  else if (!oc->s || wr_stream_shutdown(oc->s) != 0)
    WR_DEBUG("The origin connection was already shut", "key=\"%s\"", oc->key);
}

/* Writes prefix, data and suffix to the origin in order; consume bytes of
 * stream credit go back once the stream has taken all of them (at once,
 * nearly always; else when the held bytes drain: on_writable). */
int wr_origin_send(wr_proxy *p, const void *prefix, size_t plen, const void *data, size_t len,
                   const char *suffix, size_t consume) {
  origin_conn *oc = p->oc;
  /* The tunnel hands request bytes over about a packet at a time: gathered
   * in the stream until the end of the loop turn (flush_cb), they leave in
   * one system call instead of one per packet. */
  if (oc->s && !oc->corked && !oc->out.len) {
    wr_stream_cork(oc->s);
    oc->corked = 1;
    oc->corked_next = oc->ctx->corked;
    oc->ctx->corked = oc;
  }
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
    wr_proxy_ops(p)->stream_consume(p->s, consume);
  return 0;
}

/* The response is complete and the request fully sent: keep the connection
 * for the next request to this origin, unless the pool is full. */
void wr_origin_release_to_pool(wr_proxy *p, int reusable) {
  origin_conn *oc = p->oc;
  if (!oc)
    return;
  p->oc = NULL;
  oc->p = NULL;
  if (!reusable || oc->closing || pool_count(p->ctx, oc->key) >= oc->keepalive_conns) {
    wr_origin_close(oc);
    return;
  }
  oc->idle = 1;
  oc->deadline = wr_now_ns() + oc->keepalive_timeout_ms * WR_NS_PER_MS;
  /* Keep reading: an idle origin that closes (or talks) is dropped at once. */
  if (wr_origin_read_start(oc) != 0)
    wr_origin_close(oc);
}

static void sweep_cb(uv_timer_t *t) {
  wr_proxy_ctx *ctx = t->data;
  uint64_t now = wr_now_ns();
  for (origin_conn *oc = ctx->conns, *next; oc; oc = next) {
    next = oc->next;
    if (oc->closing || !(oc->idle || oc->connecting) || now < oc->deadline)
      continue;
    if (oc->connecting && oc->p) {
      wr_proxy *p = oc->p;
      WR_ERROR("Unable to reach the origin service", "error=%s originService=%s", "connect timeout",
               p->origin_name);
      /* Closes oc too; its connect callback then only drops its reference. */
      wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_TIMEOUT, "connect timeout");
      continue;
    }
    wr_origin_close(oc);
  }
}

static void origin_on_connected(wr_stream *s) {
  origin_conn *oc = s->user;
  wr_proxy *p = oc->connect_p;
  oc->connect_p = NULL;
  if (!p)
    return;
  if (p->oc != oc || p->stream_closed) { /* the request ended meanwhile */
    wr_origin_close(oc);
    wr_proxy_release(p);
    return;
  }
  wr_proxy_start_exchange(p);
  wr_proxy_release(p);
}

static void origin_on_data(wr_stream *s, const uint8_t *data, size_t len) {
  origin_conn *oc = s->user;
  if (!oc->p) { /* idle: an origin that talks out of turn is dropped */
    wr_origin_close(oc);
    return;
  }
  wr_proxy_pump_response(oc->p, data, len);
}

static void origin_on_eof(wr_stream *s) {
  origin_conn *oc = s->user;
  if (!oc->p) { /* idle: an origin that closes is dropped */
    wr_origin_close(oc);
    return;
  }
  wr_proxy_origin_ended(oc->p, oc, 1, NULL);
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
    wr_proxy_ops(p)->stream_consume(p->s, owed);
  wr_proxy_release_origin(p);
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
    wr_proxy_fail(
        p, err == WR_ERR_TIMEOUT ? WR_TUNNEL_ERR_ORIGIN_TIMEOUT : WR_TUNNEL_ERR_ORIGIN_UNREACHABLE,
        err == WR_ERR_DENIED ? "the origin's TLS certificate was refused" : reason);
  } else if (p) {
    wr_proxy_origin_ended(p, NULL, 0, reason);
  }
  if (cp)
    wr_proxy_release(cp);
  origin_free(oc);
}

static const wr_stream_events origin_events = {
    .on_connected = origin_on_connected,
    .on_data = origin_on_data,
    .on_eof = origin_on_eof,
    .on_writable = origin_on_writable,
    .on_closed = origin_on_closed,
};

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
  if (tls && !(ot = wr_origin_tls_get(p, key))) {
    wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "TLS to the origin cannot be set up");
    return;
  }
  origin_conn *oc = new_origin_conn(p, key);
  if (!oc) {
    if (ot)
      wr_origin_tls_unref(p->ctx, ot);
    wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
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
    rv = wr_tcp_connect(&s, p->ctx->loop, &a, &origin_tcp, ev, oc);
  } else {
    rv = wr_tcp_connect_unix(&s, p->ctx->loop, p->svc->path, &origin_tcp, ev, oc);
  }
  if (rv == 0 && tls) {
    wr_tls_stream_config cfg = {.alpn = "http/1.1",
                                .tls_flags = WR_TLS_STREAM_ALPN_OPTIONAL,
                                .handshake_timeout_ms = limit_ns / WR_NS_PER_MS + 1,
                                /* many HTTPS servers end a response that way */
                                .eof_without_close_notify = 1};
    rv = wr_tls_stream_client(&s, p->ctx->loop, s, wr_origin_tls_name(p), ot->cli, &cfg,
                              &origin_events, oc);
  }
  if (rv) {
    origin_free(oc);
    WR_ERROR("Unable to reach the origin service", "error=\"%s\" originService=%s", wr_strerror(rv),
             p->origin_name);
    wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "the origin connection failed");
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
      WR_ERROR("Unable to resolve the origin", "error=\"%s\" originService=%s", uv_strerror(status),
               p->origin_name);
      wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "the origin's name does not resolve");
    } else {
      connect_addr(p, res->ai_addr, rr->key);
    }
  }
  uv_freeaddrinfo(res);
  wr_free(rr);
  wr_proxy_release(p);
}

/* Takes an idle pooled connection to this origin, or opens a new one. */
void wr_origin_connect(wr_proxy *p) {
  char key[400];
  const wr_service *svc = p->svc;
  if (svc->type == WR_SERVICE_UNIX)
    snprintf(key, sizeof key, "unix %s", svc->path);
  else if (svc->type == WR_SERVICE_HTTPS) /* every TLS setting: a different one is another pool */
    snprintf(key, sizeof key, "tls %.100s %u sni=%.100s verify=%d ca=%.150s", svc->host, svc->port,
             wr_origin_tls_name(p), !p->orq->no_tls_verify,
             p->orq->ca_pool ? p->orq->ca_pool : "system");
  else if (svc->type == WR_SERVICE_UNIX_TLS)
    snprintf(key, sizeof key, "tls unix:%.100s sni=%.100s verify=%d ca=%.150s", svc->path,
             wr_origin_tls_name(p), !p->orq->no_tls_verify,
             p->orq->ca_pool ? p->orq->ca_pool : "system");
  else
    snprintf(key, sizeof key, "tcp %s %u", svc->host, svc->port);
  for (origin_conn *oc = p->ctx->conns; oc; oc = oc->next) {
    if (oc->idle && !oc->closing && strcmp(oc->key, key) == 0) {
      oc->p = p;
      p->oc = oc;
      wr_proxy_start_exchange(p);
      return;
    }
  }
  if (svc->type == WR_SERVICE_UNIX || svc->type == WR_SERVICE_UNIX_TLS) {
    connect_addr(p, NULL, key);
    return;
  }
  resolve_req *rr = wr_calloc(1, sizeof *rr);
  if (!rr) {
    wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
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
    wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, uv_strerror(rv));
    return;
  }
  p->refs++;
}

/* The end of a loop turn: what this turn wrote to origins goes out. */
static void flush_cb(uv_check_t *h) {
  wr_proxy_ctx *ctx = h->data;
  origin_conn *oc = ctx->corked;
  ctx->corked = NULL;
  while (oc) {
    origin_conn *next = oc->corked_next;
    oc->corked = 0;
    oc->corked_next = NULL;
    if (oc->s)
      wr_stream_uncork(oc->s);
    oc = next;
  }
}

void wr_origin_pool_init(wr_proxy_ctx *ctx) {
  uv_timer_init(ctx->loop, &ctx->sweep);
  uv_unref((uv_handle_t *)&ctx->sweep); /* it alone must not keep the loop alive */
  ctx->sweep.data = ctx;
  uv_timer_start(&ctx->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
  uv_check_init(ctx->loop, &ctx->flush);
  uv_unref((uv_handle_t *)&ctx->flush);
  ctx->flush.data = ctx;
  uv_check_start(&ctx->flush, flush_cb);
}

void wr_origin_pool_close(wr_proxy_ctx *ctx) {
  for (origin_conn *oc = ctx->conns; oc; oc = oc->next)
    if (oc->idle)
      wr_origin_close(oc); /* frees later, from the loop (its stream's on_closed) */
  uv_close((uv_handle_t *)&ctx->sweep, NULL);
  uv_close((uv_handle_t *)&ctx->flush, NULL);
}
