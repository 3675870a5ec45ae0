/* transport.c: a user connection's TCP or TLS stream, with gathered,
 * coalesced writes. */
#include "http/transport.h"

#include "base/mem.h"
#include "net/tls_tcp.h"

/* Bytes gathered in one turn go out at once past this much. */
#define COALESCE_MAX (64u * 1024u)
#define OBUF_LIMIT (64u * 1024u * 1024u)
/* Buffers bigger than this are freed rather than kept as spares. */
#define SPARE_CAP_MAX (1024u * 1024u)

typedef struct wreq {
  uv_write_t req;
  wr_http_transport *w;
  uint8_t *data;
  size_t len, cap;
} wreq;

static void spare_put(wr_http_wpool *pool, uint8_t *data, size_t cap) {
  if (pool->nspare < WR_HTTP_SPARES && cap <= SPARE_CAP_MAX) {
    pool->spare[pool->nspare] = data;
    pool->spare_cap[pool->nspare++] = cap;
  } else {
    wr_free(data);
  }
}

static void undirty(wr_http_transport *w) {
  if (!w->dirty)
    return;
  w->dirty = 0;
  if (w->dprev)
    w->dprev->dnext = w->dnext;
  else
    w->pool->dirty = w->dnext;
  if (w->dnext)
    w->dnext->dprev = w->dprev;
  w->dnext = w->dprev = NULL;
}

static void fail(wr_http_transport *w, int err) {
  if (w->closed)
    return;
  w->on_event(w, err);
}

static void on_written(uv_write_t *req, int status) {
  wreq *r = (wreq *)req;
  wr_http_transport *w = r->w;
  spare_put(w->pool, r->data, r->cap);
  wr_free(r);
  w->nwrites--;
  if (w->closed)
    return;
  w->on_event(w, status < 0 ? WR_ERR_IO : 0);
}

/* Hands the gathered bytes to the transport (their buffer moves to the
 * write request). Returns 0 or the error that ends the connection. */
static int flush_out(wr_http_transport *w) {
  if (!w->obuf.len || w->closed)
    return 0;
  if (w->tls) {
    while (w->obuf.len) {
      ssize_t n = wr_tls_tcp_write(w->tls, w->obuf.data, w->obuf.len);
      if (n == WR_ERR_AGAIN)
        return 0; /* on_writable */
      if (n < 0)
        return (int)n;
      wr_buf_consume(&w->obuf, (size_t)n);
    }
    return 0;
  }
  size_t off = 0;
  if (w->nwrites == 0) {
    /* Nothing queued: write at once. Taken whole (the usual case), no write
     * request is needed, and libuv never arms POLLOUT for one, which costs
     * it an epoll_ctl each time. The buffer goes back to the pool, so an
     * idle connection holds none. */
    uv_buf_t b = uv_buf_init((char *)w->obuf.data, (unsigned)w->obuf.len);
    int n = uv_try_write(w->tcp, &b, 1);
    if (n < 0 && n != UV_EAGAIN)
      return WR_ERR_IO;
    off = n > 0 ? (size_t)n : 0;
    if (off == w->obuf.len) {
      spare_put(w->pool, w->obuf.data, w->obuf.cap);
      wr_buf_init(&w->obuf, OBUF_LIMIT);
      return 0;
    }
  }
  wreq *r = wr_malloc(sizeof *r);
  if (!r)
    return WR_ERR_NOMEM;
  r->w = w;
  r->data = w->obuf.data;
  r->len = w->obuf.len - off;
  r->cap = w->obuf.cap;
  wr_buf_init(&w->obuf, OBUF_LIMIT);
  uv_buf_t ub = uv_buf_init((char *)r->data + off, (unsigned)r->len);
  if (uv_write(&r->req, w->tcp, &ub, 1, on_written) != 0) {
    wr_free(r->data);
    wr_free(r);
    return WR_ERR_IO;
  }
  w->nwrites++;
  return 0;
}

static void on_check(uv_check_t *h) {
  wr_http_wpool *pool = h->data;
  while (pool->dirty) {
    wr_http_transport *w = pool->dirty;
    undirty(w);
    int rc = flush_out(w);
    if (rc != 0)
      fail(w, rc);
    else if (!w->closed)
      w->on_event(w, 0); /* TLS writes complete silently: credit goes back once they are queued */
  }
  uv_check_stop(h);
  uv_idle_stop(&pool->nudge);
}

static void on_nudge(uv_idle_t *h) { (void)h; /* keeps the poll from blocking, see transport.h */ }

/* The end-of-turn flush: the check runs after the poll, and the idle handle
 * keeps that poll from blocking when the bytes came from a timer callback
 * (before the poll) rather than from an I/O callback (during it). */
static void schedule(wr_http_wpool *pool) {
  uv_check_start(&pool->check, on_check);
  uv_idle_start(&pool->nudge, on_nudge);
}

void wr_http_wpool_init(wr_http_wpool *pool, uv_loop_t *loop) {
  *pool = (wr_http_wpool){0};
  uv_check_init(loop, &pool->check);
  pool->check.data = pool;
  uv_idle_init(loop, &pool->nudge);
  pool->nudge.data = pool;
}

void wr_http_wpool_close(wr_http_wpool *pool, uv_close_cb cb, void *data) {
  pool->check.data = data;
  pool->nudge.data = data;
  uv_close((uv_handle_t *)&pool->check, cb);
  uv_close((uv_handle_t *)&pool->nudge, cb);
}

void wr_http_wpool_free(wr_http_wpool *pool) {
  for (size_t i = 0; i < pool->nspare; i++)
    wr_free(pool->spare[i]);
  pool->nspare = 0;
}

void wr_http_transport_init(wr_http_transport *w, wr_http_wpool *pool, uv_stream_t *tcp,
                            struct wr_tls_tcp *tls, void (*on_event)(wr_http_transport *, int),
                            void *user) {
  *w =
      (wr_http_transport){.pool = pool, .tcp = tcp, .tls = tls, .on_event = on_event, .user = user};
  wr_buf_init(&w->obuf, OBUF_LIMIT);
}

int wr_http_transport_write3(wr_http_transport *w, const void *a, size_t alen, const void *b,
                             size_t blen, const void *c, size_t clen) {
  if (w->closed)
    return WR_ERR_CLOSED;
  if (!alen && !blen && !clen)
    return 0;
  int rc = 0;
  if (w->obuf.len + alen + blen + clen > OBUF_LIMIT)
    rc = flush_out(w);
  wr_http_wpool *pool = w->pool;
  if (rc == 0 && !w->obuf.data && pool->nspare) { /* gather into a spare, not a growing buffer */
    w->obuf.data = pool->spare[--pool->nspare];
    w->obuf.cap = pool->spare_cap[pool->nspare];
  }
  if (rc == 0 && ((alen && wr_buf_append(&w->obuf, a, alen) != 0) ||
                  (blen && wr_buf_append(&w->obuf, b, blen) != 0) ||
                  (clen && wr_buf_append(&w->obuf, c, clen) != 0)))
    rc = WR_ERR_NOMEM;
  if (rc == 0 && w->obuf.len >= COALESCE_MAX)
    rc = flush_out(w);
  else if (rc == 0)
    wr_http_transport_schedule(w);
  if (rc != 0)
    fail(w, rc);
  return rc;
}

void wr_http_transport_schedule(wr_http_transport *w) {
  if (w->dirty || w->closed)
    return;
  wr_http_wpool *pool = w->pool;
  w->dirty = 1;
  w->dnext = pool->dirty;
  if (pool->dirty)
    pool->dirty->dprev = w;
  pool->dirty = w;
  schedule(pool);
}

void wr_http_transport_flush(wr_http_transport *w) {
  int rc = flush_out(w);
  if (rc != 0)
    fail(w, rc);
  else if (!w->closed)
    w->on_event(w, 0);
}

size_t wr_http_transport_queued(const wr_http_transport *w) {
  if (w->tls)
    return w->obuf.len ? WR_HTTP_QUEUE_CAP : 0;
  return uv_stream_get_write_queue_size(w->tcp) + w->obuf.len;
}

int wr_http_transport_idle(const wr_http_transport *w) {
  return w->nwrites == 0 && w->obuf.len == 0;
}

void wr_http_transport_stop(wr_http_transport *w) {
  w->closed = 1;
  undirty(w);
}

void wr_http_transport_read(wr_http_transport *t, int on, uv_alloc_cb alloc_cb,
                            uv_read_cb read_cb) {
  if (t->tls && on)
    wr_tls_tcp_read_start(t->tls);
  else if (t->tls)
    wr_tls_tcp_read_stop(t->tls);
  else if (on)
    uv_read_start(t->tcp, alloc_cb, read_cb);
  else
    uv_read_stop(t->tcp);
}

void wr_http_transport_close(wr_http_transport *t, uv_close_cb tcp_closed) {
  wr_http_transport_stop(t);
  if (t->tls)
    wr_tls_tcp_close(t->tls);
  else
    uv_close((uv_handle_t *)t->tcp, tcp_closed);
}

void wr_http_transport_free(wr_http_transport *w) {
  wr_http_transport_stop(w);
  wr_buf_free(&w->obuf);
}
