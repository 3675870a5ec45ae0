#include "http/metrics_http.h"

#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"

#define HEAD_MAX 8192
#define READ_TIMEOUT_MS 10000
/* A /metrics body is a few KiB per tunnel; the cap only stops a runaway. */
#define BODY_MAX (16u * 1024u * 1024u)

typedef struct mconn mconn;

struct wr_metrics_http {
  uv_tcp_t tcp;
  wr_metrics_http_config cfg;
  mconn *conns; /* open connections, for close */
  int closing;
  int pending; /* handles not yet closed */
  void (*close_cb)(void *data);
  void *close_data;
};

struct mconn {
  wr_metrics_http *m;
  mconn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  char head[HEAD_MAX];
  size_t len;
  int pending; /* handles not yet closed */
  int closing;
  int answered;
  wr_buf out;
};

static void maybe_done(wr_metrics_http *m) {
  if (m->closing && m->pending == 0 && !m->conns) {
    void (*cb)(void *) = m->close_cb;
    void *data = m->close_data;
    wr_free(m);
    if (cb)
      cb(data);
  }
}

static void conn_handle_closed(uv_handle_t *h) {
  mconn *c = h->data;
  if (--c->pending > 0)
    return;
  wr_metrics_http *m = c->m;
  if (c->prev)
    c->prev->next = c->next;
  else
    m->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  wr_buf_free(&c->out);
  wr_free(c);
  maybe_done(m);
}

static void conn_close(mconn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  conn_close(req->data);
}

/* Queues one whole response and closes once it is written. */
static void respond(mconn *c, int status, const char *reason, const char *ctype,
                    const char *body, size_t blen, int head_only) {
  c->answered = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_stop(&c->timer);
  wr_buf_reset(&c->out);
  if (wr_buf_printf(&c->out,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    status, reason, ctype, blen) != 0 ||
      (!head_only && wr_buf_append(&c->out, body, blen) != 0)) {
    conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    conn_close(c);
}

static void answer(mconn *c) {
  wr_metrics_http *m = c->m;
  /* Request line: METHOD SP target SP HTTP/1.x CRLF. Headers are not needed. */
  char *eol = memchr(c->head, '\r', c->len);
  char *sp1 = memchr(c->head, ' ', c->len);
  char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(c->head + c->len - sp1 - 1)) : NULL;
  if (!eol || !sp1 || !sp2 || sp2 > eol || (size_t)(eol - sp2 - 1) != 8 ||
      memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
    WR_WARN("Refused a bad metrics request", "reason=%s", "malformed request line");
    respond(c, 400, "Bad Request", "text/plain", "bad request\n", 12, 0);
    return;
  }
  size_t mlen = (size_t)(sp1 - c->head);
  int is_get = mlen == 3 && memcmp(c->head, "GET", 3) == 0;
  int is_head = mlen == 4 && memcmp(c->head, "HEAD", 4) == 0;
  if (!is_get && !is_head) {
    respond(c, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19, 0);
    return;
  }
  char path[64];
  size_t plen = (size_t)(sp2 - sp1 - 1);
  const char *q = memchr(sp1 + 1, '?', plen);
  if (q)
    plen = (size_t)(q - sp1 - 1);
  if (plen >= sizeof path)
    plen = sizeof path - 1;
  memcpy(path, sp1 + 1, plen);
  path[plen] = '\0';
  if (strcmp(path, "/metrics") == 0) {
    if (m->cfg.collect)
      m->cfg.collect(m->cfg.user);
    wr_buf body;
    wr_buf_init(&body, BODY_MAX);
    if (wr_metrics_render(m->cfg.reg, &body) != 0) {
      wr_buf_free(&body);
      respond(c, 500, "Internal Server Error", "text/plain", "render failed\n", 14, 0);
      return;
    }
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", (const char *)body.data,
            body.len, is_head);
    wr_buf_free(&body);
  } else if (strcmp(path, "/ready") == 0) {
    size_t n = m->cfg.ready ? m->cfg.ready(m->cfg.user) : 0;
    int st = n > 0 ? 200 : 503;
    char body[96];
    int blen = snprintf(body, sizeof body, "{\"status\":%d,\"readyConnections\":%zu}\n", st, n);
    respond(c, st, st == 200 ? "OK" : "Service Unavailable", "application/json", body,
            (size_t)blen, is_head);
  } else if (strcmp(path, "/healthcheck") == 0) {
    respond(c, 200, "OK", "text/plain", "OK\n", 3, is_head);
  } else if (m->cfg.json && m->cfg.json_path && strcmp(path, m->cfg.json_path) == 0) {
    wr_buf body;
    wr_buf_init(&body, BODY_MAX);
    if (m->cfg.json(m->cfg.user, &body) != 0)
      respond(c, 500, "Internal Server Error", "text/plain", "render failed\n", 14, 0);
    else
      respond(c, 200, "OK", "application/json", (const char *)body.data, body.len, is_head);
    wr_buf_free(&body);
  } else {
    respond(c, 404, "Not Found", "text/plain", "404 page not found\n", 19, is_head);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  mconn *c = h->data;
  buf->base = c->head + c->len;
  buf->len = HEAD_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  mconn *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (n == 0 || c->answered)
    return;
  c->len += (size_t)n;
  size_t from = c->len - (size_t)n >= 3 ? c->len - (size_t)n - 3 : 0;
  for (size_t i = from; i + 4 <= c->len; i++) {
    if (memcmp(c->head + i, "\r\n\r\n", 4) == 0) {
      answer(c);
      return;
    }
  }
  if (c->len == HEAD_MAX) {
    WR_WARN("Refused a metrics request", "reason=%s", "request head larger than 8 KiB");
    respond(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10, 0);
  }
}

static void on_timeout(uv_timer_t *t) {
  mconn *c = t->data;
  WR_DEBUG("Dropped a slow metrics request", "timeoutMs=%d", READ_TIMEOUT_MS);
  conn_close(c);
}

static void on_connection(uv_stream_t *server, int status) {
  wr_metrics_http *m = server->data;
  if (status < 0 || m->closing)
    return;
  mconn *c = wr_calloc(1, sizeof *c);
  if (!c)
    return;
  c->m = m;
  wr_buf_init(&c->out, BODY_MAX + 512);
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->pending = 2;
  c->next = m->conns;
  if (m->conns)
    m->conns->prev = c;
  m->conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, READ_TIMEOUT_MS, 0);
}

static void server_closed(uv_handle_t *h) {
  wr_metrics_http *m = h->data;
  m->pending--;
  maybe_done(m);
}

int wr_metrics_http_new(wr_metrics_http **pm, uv_loop_t *loop, const struct sockaddr *addr,
                        const wr_metrics_http_config *cfg) {
  *pm = NULL;
  if (!cfg || !cfg->reg)
    return WR_ERR_INVAL;
  wr_metrics_http *m = wr_calloc(1, sizeof *m);
  if (!m)
    return WR_ERR_NOMEM;
  m->cfg = *cfg;
  uv_tcp_init(loop, &m->tcp);
  m->tcp.data = m;
  m->pending = 1;
  int rc = uv_tcp_bind(&m->tcp, addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&m->tcp, 64, on_connection);
  if (rc != 0) {
    WR_ERROR("Cannot listen for metrics", "error=\"%s\"", uv_strerror(rc));
    m->closing = 1;
    uv_close((uv_handle_t *)&m->tcp, server_closed);
    return WR_ERR_IO;
  }
  *pm = m;
  return 0;
}

int wr_metrics_http_local_addr(const wr_metrics_http *m, struct sockaddr_storage *out) {
  int len = sizeof *out;
  return uv_tcp_getsockname(&m->tcp, (struct sockaddr *)out, &len) == 0 ? 0 : WR_ERR_IO;
}

void wr_metrics_http_close(wr_metrics_http *m, void (*cb)(void *data), void *data) {
  if (!m || m->closing)
    return;
  m->closing = 1;
  m->close_cb = cb;
  m->close_data = data;
  for (mconn *c = m->conns; c; c = c->next)
    conn_close(c);
  uv_close((uv_handle_t *)&m->tcp, server_closed);
}
