/* transport.c: a user connection's byte stream, with gathered, coalesced
 * writes. */
#include "http/transport.h"

#include "base/mem.h"

/* Bytes gathered in one turn go out at once past this much. */
#define COALESCE_MAX (64u * 1024u)
#define OBUF_LIMIT (64u * 1024u * 1024u)
/* Buffers bigger than this are freed rather than kept as spares. */
#define SPARE_CAP_MAX (1024u * 1024u)

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

/* Hands the gathered bytes to the stream, as many as it takes (the rest
 * waits for its on_writable). Once it took them all the buffer goes back to
 * the pool, so an idle connection holds none. Returns 0 or the error that
 * ends the connection. */
static int flush_out(wr_http_transport *w) {
  if (!w->obuf.len || w->closed)
    return 0;
  ssize_t n = wr_stream_write(w->s, w->obuf.data, w->obuf.len);
  if (n == WR_ERR_AGAIN)
    return 0;
  if (n < 0)
    return (int)n;
  if ((size_t)n == w->obuf.len) {
    spare_put(w->pool, w->obuf.data, w->obuf.cap);
    wr_buf_init(&w->obuf, OBUF_LIMIT);
    return 0;
  }
  wr_buf_consume(&w->obuf, (size_t)n);
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
      w->on_event(w, 0); /* credit goes back once the stream took the bytes */
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

void wr_http_transport_init(wr_http_transport *w, wr_http_wpool *pool, wr_stream *s,
                            void (*on_event)(wr_http_transport *, int), void *user) {
  *w = (wr_http_transport){.pool = pool, .s = s, .on_event = on_event, .user = user};
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
  return (w->closed ? 0 : wr_stream_queued(w->s)) + w->obuf.len;
}

int wr_http_transport_idle(const wr_http_transport *w) { return w->obuf.len == 0; }

void wr_http_transport_stop(wr_http_transport *w) {
  w->closed = 1;
  undirty(w);
}

void wr_http_transport_free(wr_http_transport *w) {
  wr_http_transport_stop(w);
  wr_buf_free(&w->obuf);
}
