/* tcp.c: TCP and Unix socket streams and the TCP listener (io/tcp.h). */
#include "io/tcp.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rbuf.h"

#define REASON_LEN 256

enum {
  ST_CONNECTING,
  ST_OPEN,
  ST_CLOSING, /* the owner closed it: letting queued bytes out, waiting for the peer's FIN */
  ST_CLOSED,  /* handles closing; on_closed comes from their callbacks */
};

typedef struct tcp_stream {
  wr_stream base;
  union { /* TCP, or a Unix socket */
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
  uv_timer_t linger;
  union { /* a dial completes before a shutdown can start */
    uv_connect_t creq;
    uv_shutdown_t sreq;
  } req;
  wr_tcp_config cfg;
  wr_tcp_listener *lis; /* counts us against its cap; NULL once it is gone */
  struct tcp_stream *lnext, *lprev;
  int state;
  unsigned is_pipe : 1, shut : 1, shutdown_done : 1, eof : 1, reading : 1, paused : 1,
      want_writable : 1, corked : 1;
  int handles_open;
  size_t linger_queued; /* graceful close: bytes queued when the clock last started */
  int close_err;
  /* Why it ended, composed into a sentence only for on_closed: an idle
   * connection should not carry 256 bytes of text it may never need. */
  uint8_t close_why;
  int close_uverr;
  wr_buf cork; /* bytes written while corked */
  union {      /* TCP has no other families: no room for a sockaddr_storage */
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } peer, local;
  char peerstr[WR_ADDR_STRLEN + 8];
  uint64_t bytes_sent, bytes_recv;
} tcp_stream;

/* A listening or refused handle: TCP, or a Unix socket. */
typedef union lhandle {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
} lhandle;

struct wr_tcp_listener {
  lhandle io;
  int is_pipe;
  char path[108]; /* a Unix socket's, for log lines */
  uv_loop_t *loop;
  wr_tcp_config cfg;
  wr_tcp_accept_cb cb;
  void *data;
  tcp_stream *conns;
  wr_tcp_listener_stats stats;
  int closing, refusing;
  lhandle spare; /* refuses a connection when memory for another handle is short */
  int spare_busy;
  void (*close_cb)(wr_tcp_listener *l, void *data);
  void *close_data;
};

/* One write request with the bytes the kernel did not take at once. */
typedef struct wreq {
  uv_write_t req;
  tcp_stream *t;
  size_t len;
  uint8_t data[];
} wreq;

static const wr_stream_ops tcp_ops, unix_ops;
/* Events of a stream whose owner has not set its own yet. */
static const wr_stream_events no_events;

static tcp_stream *T(const wr_stream *s) { return (tcp_stream *)s; }

/* The sentences of on_closed: before, the peer (when named), after, and
 * libuv's error when there is one. */
enum { WHY_CLOSED, WHY_RESET, WHY_READ, WHY_READ_NOMEM, WHY_WRITE, WHY_WRITE_NOMEM, WHY_CONNECT };
static const struct {
  const char *before, *after;
  int peer;
} whys[] = {
    [WHY_CLOSED] = {"closed", "", 0},
    [WHY_RESET] = {"reset", "", 0},
    [WHY_READ] = {"reading from ", " failed", 1},
    [WHY_READ_NOMEM] = {"out of memory while reading from ", "", 1},
    [WHY_WRITE] = {"writing to ", " failed", 1},
    [WHY_WRITE_NOMEM] = {"out of memory while writing to ", "", 1},
    [WHY_CONNECT] = {"cannot connect to ", "", 1},
};

static void apply_defaults(wr_tcp_config *c) {
  if (!c->write_queue_limit)
    c->write_queue_limit = WR_TCP_DEFAULT_WRITE_QUEUE;
  if (!c->linger_ms)
    c->linger_ms = WR_TCP_DEFAULT_LINGER_MS;
  if (!c->max_connections)
    c->max_connections = WR_TCP_DEFAULT_MAX_CONNECTIONS;
}

/* ---- closing ---- */

static void listener_maybe_free(wr_tcp_listener *l) {
  if (!l->closing || l->refusing > 0 || l->io.handle.data != NULL)
    return;
  if (l->close_cb)
    l->close_cb(l, l->close_data);
  wr_free(l);
}

static void unlink_from_listener(tcp_stream *t) {
  wr_tcp_listener *l = t->lis;
  if (!l)
    return;
  if (t->lprev)
    t->lprev->lnext = t->lnext;
  else
    l->conns = t->lnext;
  if (t->lnext)
    t->lnext->lprev = t->lprev;
  l->stats.open--;
  t->lis = NULL;
}

static void on_handle_closed(uv_handle_t *h) {
  tcp_stream *t = h->data;
  if (--t->handles_open > 0)
    return;
  unlink_from_listener(t);
  if (t->base.ev && t->base.ev->on_closed) {
    char reason[REASON_LEN];
    snprintf(reason, sizeof reason, "%s%s%s%s%s", whys[t->close_why].before,
             whys[t->close_why].peer ? t->peerstr : "", whys[t->close_why].after,
             t->close_uverr ? ": " : "", t->close_uverr ? uv_strerror(t->close_uverr) : "");
    t->base.ev->on_closed(&t->base, t->close_err, reason);
  }
  wr_buf_free(&t->cork);
  wr_free(t);
}

static void close_handles(tcp_stream *t) {
  if (t->state == ST_CLOSED)
    return;
  t->state = ST_CLOSED;
  uv_timer_stop(&t->linger);
  uv_close(&t->io.handle, on_handle_closed);
  uv_close((uv_handle_t *)&t->linger, on_handle_closed);
}

/* The socket is broken (or never connected): records why and closes. The
 * first reason wins; once the owner closed, the owner's err 0 stays. */
static void fail(tcp_stream *t, int err, int why, int uverr) {
  if (t->state == ST_CLOSED)
    return;
  if (t->state != ST_CLOSING) {
    t->close_why = (uint8_t)why;
    t->close_uverr = uverr;
    t->close_err = err;
  }
  close_handles(t);
}

static size_t tcp_in_flight(const wr_stream *s);

/* The graceful close's clock runs out: while the bytes in flight keep
 * falling it starts again, so a slow peer gets every byte; after linger_ms
 * without progress (a peer that reads nothing, or sends no FIN) the socket
 * closes. */
static void on_linger_timeout(uv_timer_t *tm) {
  tcp_stream *t = tm->data;
  size_t q = tcp_in_flight(&t->base);
  if (q > 0 && q < t->linger_queued) {
    t->linger_queued = q;
    uv_timer_start(&t->linger, on_linger_timeout, t->cfg.linger_ms, 0);
    return;
  }
  close_handles(t);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  tcp_stream *t = req->data;
  if (status == UV_ECANCELED || t->state == ST_CLOSED)
    return;
  t->shutdown_done = 1;
  if (t->state == ST_CLOSING && (t->eof || status < 0))
    close_handles(t);
}

/* Sends FIN once the queued writes are done. */
static void start_shutdown(tcp_stream *t) {
  if (t->shut)
    return;
  t->shut = 1;
  t->req.sreq.data = t;
  if (uv_shutdown(&t->req.sreq, &t->io.stream, on_shutdown) < 0)
    t->shutdown_done = 1;
}

/* ---- reading ---- */

/* The read buffer is lent for one read only (base/rbuf.h): on_data's bytes
 * are valid during the call, so an idle connection holds no buffer at all,
 * only its socket's. on_read gives it back. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  (void)h;
  uint8_t *b = wr_rbuf_get();
  *buf = uv_buf_init((char *)b, b ? WR_RBUF_SIZE : 0); /* 0: libuv says UV_ENOBUFS */
}

static void read_done(tcp_stream *t, ssize_t nread, const uv_buf_t *buf);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  read_done(s->data, nread, buf);
  wr_rbuf_put((uint8_t *)buf->base);
}

static void read_done(tcp_stream *t, ssize_t nread, const uv_buf_t *buf) {
  uv_stream_t *s = &t->io.stream;
  if (t->state == ST_CLOSED || nread == 0)
    return;
  if (nread == UV_ENOBUFS) {
    fail(t, WR_ERR_NOMEM, WHY_READ_NOMEM, 0);
    return;
  }
  if (nread > 0) {
    t->bytes_recv += (uint64_t)nread;
    if (t->state == ST_OPEN && t->base.ev->on_data)
      t->base.ev->on_data(&t->base, (const uint8_t *)buf->base, (size_t)nread);
    return; /* while closing, what arrives is discarded */
  }
  if (nread == UV_EOF) {
    t->eof = 1;
    uv_read_stop(s);
    t->reading = 0;
    if (t->state == ST_CLOSING) {
      if (t->shutdown_done)
        close_handles(t);
    } else if (t->base.ev->on_eof) {
      t->base.ev->on_eof(&t->base);
    }
    return;
  }
  fail(t, nread == UV_ECONNRESET ? WR_ERR_CLOSED : WR_ERR_IO, WHY_READ, (int)nread);
}

static void ensure_reading(tcp_stream *t) {
  if (t->reading || t->eof || t->paused || t->state == ST_CONNECTING || t->state == ST_CLOSED)
    return;
  if (uv_read_start(&t->io.stream, on_alloc, on_read) == 0)
    t->reading = 1;
}

static void tcp_read_start(wr_stream *s) {
  tcp_stream *t = T(s);
  t->paused = 0;
  ensure_reading(t);
}

static void tcp_read_stop(wr_stream *s) {
  tcp_stream *t = T(s);
  if (t->state >= ST_CLOSING)
    return; /* a closing stream reads on, to see the peer's FIN */
  t->paused = 1;
  if (t->reading) {
    uv_read_stop(&t->io.stream);
    t->reading = 0;
  }
}

/* ---- writing ---- */

static size_t tcp_queued(const wr_stream *s) {
  const tcp_stream *t = T(s);
  if (t->state == ST_CLOSED)
    return 0;
  return t->cork.len + uv_stream_get_write_queue_size(&t->io.stream);
}

/* The queue and the kernel's unacknowledged bytes (SIOCOUTQ; 0 for a Unix
 * socket's error or a closed one). */
static size_t tcp_in_flight(const wr_stream *s) {
  const tcp_stream *t = T(s);
  size_t q = tcp_queued(s);
  uv_os_fd_t fd;
  int outq = 0;
  if (t->state != ST_CLOSED && uv_fileno((const uv_handle_t *)&t->io, &fd) == 0 &&
      ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0)
    q += (size_t)outq;
  return q;
}

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  tcp_stream *t = w->t;
  wr_free(w);
  if (status == UV_ECANCELED || t->state == ST_CLOSED)
    return;
  if (status < 0) {
    fail(t, status == UV_EPIPE || status == UV_ECONNRESET ? WR_ERR_CLOSED : WR_ERR_IO, WHY_WRITE,
         status);
    return;
  }
  if (t->want_writable && t->state == ST_OPEN &&
      tcp_queued(&t->base) <= t->cfg.write_queue_limit / 2) {
    t->want_writable = 0;
    if (t->base.ev->on_writable)
      t->base.ev->on_writable(&t->base);
  }
}

/* Copies up to room bytes of iov, from byte skip on, into one write
 * request. Returns the bytes queued, or WR_ERR_CLOSED (the stream failed). */
static ssize_t queue_copy(tcp_stream *t, const struct iovec *iov, size_t n, size_t skip,
                          size_t room) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += iov[i].iov_len;
  total -= skip;
  if (total > room)
    total = room;
  if (!total)
    return 0;
  wreq *w = wr_malloc(sizeof *w + total);
  if (!w) { /* dropping bytes silently would corrupt the stream: it fails */
    fail(t, WR_ERR_NOMEM, WHY_WRITE_NOMEM, 0);
    return WR_ERR_CLOSED;
  }
  w->t = t;
  w->len = total;
  size_t done = 0;
  for (size_t i = 0; i < n && done < total; i++) {
    size_t len = iov[i].iov_len, off = 0;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    off = skip;
    skip = 0;
    size_t m = len - off < total - done ? len - off : total - done;
    memcpy(w->data + done, (const uint8_t *)iov[i].iov_base + off, m);
    done += m;
  }
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)total);
  int rc = uv_write(&w->req, &t->io.stream, &b, 1, on_write);
  if (rc < 0) {
    wr_free(w);
    fail(t, WR_ERR_IO, WHY_WRITE, rc);
    return WR_ERR_CLOSED;
  }
  return (ssize_t)total;
}

#define MAX_IOV 16

static ssize_t tcp_write(wr_stream *s, const struct iovec *iov, size_t n) {
  tcp_stream *t = T(s);
  if (t->shut || t->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (t->state == ST_CONNECTING)
    return WR_ERR_AGAIN;
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += iov[i].iov_len;
  size_t q = tcp_queued(s);
  if (q >= t->cfg.write_queue_limit) {
    t->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  size_t room = t->cfg.write_queue_limit - q;
  if (t->corked) {
    size_t take = total < room ? total : room;
    size_t done = 0;
    for (size_t i = 0; i < n && done < take; i++) {
      size_t m = iov[i].iov_len < take - done ? iov[i].iov_len : take - done;
      if (wr_buf_append(&t->cork, iov[i].iov_base, m) != 0) {
        fail(t, WR_ERR_NOMEM, WHY_WRITE_NOMEM, 0);
        return WR_ERR_CLOSED;
      }
      done += m;
    }
    if (take < total)
      t->want_writable = 1;
    return (ssize_t)take;
  }
  size_t sent = 0;
  if (q == 0 && n <= MAX_IOV) {
    /* The fast path: the kernel takes it all, nothing is copied. */
    uv_buf_t bufs[MAX_IOV];
    for (size_t i = 0; i < n; i++)
      bufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
    int rc = uv_try_write(&t->io.stream, bufs, (unsigned)n);
    if (rc < 0 && rc != UV_EAGAIN) {
      fail(t, rc == UV_EPIPE || rc == UV_ECONNRESET ? WR_ERR_CLOSED : WR_ERR_IO, WHY_WRITE, rc);
      return WR_ERR_CLOSED;
    }
    sent = rc > 0 ? (size_t)rc : 0;
    t->bytes_sent += sent;
    if (sent == total)
      return (ssize_t)total;
  }
  ssize_t c = queue_copy(t, iov, n, sent, room);
  if (c < 0)
    return sent ? (ssize_t)sent : c;
  t->bytes_sent += (size_t)c;
  /* A filter above counts our queue in its own: past half the limit it
   * needs to hear when the queue drains, even though we took everything. */
  if (sent + (size_t)c < total || q + (size_t)c >= t->cfg.write_queue_limit / 2)
    t->want_writable = 1;
  return (ssize_t)(sent + (size_t)c);
}

static void tcp_cork(wr_stream *s) {
  tcp_stream *t = T(s);
  if (t->state == ST_OPEN)
    t->corked = 1;
}

static void tcp_uncork(wr_stream *s) {
  tcp_stream *t = T(s);
  if (!t->corked)
    return;
  t->corked = 0;
  if (!t->cork.len || t->state != ST_OPEN)
    return;
  wr_buf b = t->cork;
  wr_buf_init(&t->cork, b.limit);
  struct iovec v = {b.data, b.len};
  if (t->want_writable) {
    /* A writer was told AGAIN and waits for on_writable, which comes from a
     * write request's callback: queue the bytes as one request (libuv still
     * writes at once what the kernel takes), never through try_write, which
     * has no callback and would leave the writer waiting for good. */
    ssize_t c = queue_copy(t, &v, 1, 0, b.len);
    if (c > 0)
      t->bytes_sent += (size_t)c;
  } else {
    /* The corked bytes were counted as queued already: they always fit. */
    size_t save = t->cfg.write_queue_limit;
    t->cfg.write_queue_limit = SIZE_MAX;
    ssize_t n = tcp_write(s, &v, 1);
    t->cfg.write_queue_limit = save;
    (void)n;
  }
  wr_buf_free(&b);
}

static int tcp_shutdown(wr_stream *s) {
  tcp_stream *t = T(s);
  if (t->shut || t->state != ST_OPEN)
    return WR_ERR_CLOSED;
  tcp_uncork(s);
  if (t->state != ST_OPEN)
    return WR_ERR_CLOSED;
  start_shutdown(t);
  return 0;
}

static void tcp_close(wr_stream *s) {
  tcp_stream *t = T(s);
  if (t->state >= ST_CLOSING)
    return;
  t->close_err = 0;
  t->close_why = WHY_CLOSED;
  t->close_uverr = 0;
  if (t->state == ST_CONNECTING) {
    close_handles(t);
    return;
  }
  tcp_uncork(s);
  if (t->state == ST_CLOSED)
    return;
  t->state = ST_CLOSING;
  t->paused = 0;
  start_shutdown(t);
  if (t->shutdown_done && t->eof) {
    close_handles(t);
    return;
  }
  ensure_reading(t);
  t->linger_queued = tcp_in_flight(s);
  uv_timer_start(&t->linger, on_linger_timeout, t->cfg.linger_ms, 0);
}

static void tcp_reset(wr_stream *s) {
  tcp_stream *t = T(s);
  if (t->state == ST_CLOSED)
    return;
  if (t->state != ST_CLOSING) {
    t->close_err = 0;
    t->close_why = WHY_RESET;
    t->close_uverr = 0;
  }
  if (t->state == ST_CONNECTING || t->is_pipe) {
    close_handles(t);
    return;
  }
  t->state = ST_CLOSED;
  uv_timer_stop(&t->linger);
  if (uv_tcp_close_reset(&t->io.tcp, on_handle_closed) != 0)
    uv_close(&t->io.handle, on_handle_closed); /* after a shutdown: no RST */
  uv_close((uv_handle_t *)&t->linger, on_handle_closed);
}

static const struct sockaddr *tcp_peer_addr(const wr_stream *s) {
  return (const struct sockaddr *)&T(s)->peer;
}
static const struct sockaddr *tcp_local_addr(const wr_stream *s) {
  return (const struct sockaddr *)&T(s)->local;
}
static const char *tcp_peer_str(const wr_stream *s) { return T(s)->peerstr; }

/* TCP and Unix sockets differ only in their name (and in what libuv does
 * underneath). */
#define SOCKET_OPS(name)                                                                           \
  {                                                                                                \
    .kind = name, .write = tcp_write, .queued = tcp_queued, .in_flight = tcp_in_flight,            \
    .shutdown = tcp_shutdown, .close = tcp_close, .reset = tcp_reset,                              \
    .read_start = tcp_read_start, .read_stop = tcp_read_stop, .cork = tcp_cork,                    \
    .uncork = tcp_uncork, .peer_addr = tcp_peer_addr, .local_addr = tcp_local_addr,                \
    .peer_str = tcp_peer_str,                                                                      \
  }
static const wr_stream_ops tcp_ops = SOCKET_OPS("tcp");
static const wr_stream_ops unix_ops = SOCKET_OPS("unix");

int wr_tcp_is(const wr_stream *s) { return s->ops == &tcp_ops || s->ops == &unix_ops; }

/* ---- making streams ---- */

/* A stream with its handles initialised (is_pipe picks the kind). */
static tcp_stream *stream_new(uv_loop_t *loop, const wr_tcp_config *cfg, int is_pipe,
                              const wr_stream_events *ev, void *user) {
  tcp_stream *t = wr_calloc(1, sizeof *t);
  if (!t)
    return NULL;
  if (cfg)
    t->cfg = *cfg;
  apply_defaults(&t->cfg);
  t->base.ops = is_pipe ? &unix_ops : &tcp_ops;
  t->base.ev = ev ? ev : &no_events;
  t->base.user = user;
  t->is_pipe = is_pipe ? 1 : 0;
  wr_buf_init(&t->cork, t->cfg.write_queue_limit);
  if (is_pipe)
    uv_pipe_init(loop, &t->io.pipe, 0);
  else
    uv_tcp_init(loop, &t->io.tcp);
  uv_timer_init(loop, &t->linger);
  t->io.handle.data = t;
  t->linger.data = t;
  t->handles_open = 2;
  snprintf(t->peerstr, sizeof t->peerstr, "?");
  return t;
}

static void on_connect(uv_connect_t *req, int status) {
  tcp_stream *t = req->data;
  if (status == UV_ECANCELED || t->state == ST_CLOSED)
    return;
  if (status < 0) {
    /* A refusal is an answer (nothing listens), not an I/O failure. */
    fail(t, status == UV_ECONNREFUSED ? WR_ERR_REFUSED : WR_ERR_IO, WHY_CONNECT, status);
    return;
  }
  if (!t->is_pipe) {
    int len = sizeof t->local;
    uv_tcp_getsockname(&t->io.tcp, (struct sockaddr *)&t->local, &len);
  }
  t->state = ST_OPEN;
  ensure_reading(t);
  if (t->base.ev->on_connected)
    t->base.ev->on_connected(&t->base);
}

int wr_tcp_connect(wr_stream **ps, uv_loop_t *loop, const wr_addr *remote, const wr_tcp_config *cfg,
                   const wr_stream_events *ev, void *user) {
  *ps = NULL;
  if (!remote || (remote->sa.sa_family != AF_INET && remote->sa.sa_family != AF_INET6))
    return WR_ERR_INVAL;
  tcp_stream *t = stream_new(loop, cfg, 0, ev, user);
  if (!t)
    return WR_ERR_NOMEM;
  memcpy(&t->peer, &remote->ss, remote->len < sizeof t->peer ? remote->len : sizeof t->peer);
  wr_addr_format(remote, t->peerstr, sizeof t->peerstr);
  if (!t->cfg.no_nodelay)
    uv_tcp_nodelay(&t->io.tcp, 1);
  t->req.creq.data = t;
  int rc = uv_tcp_connect(&t->req.creq, &t->io.tcp, &remote->sa, on_connect);
  if (rc < 0) /* reported like any other connect failure: from the loop */
    fail(t, WR_ERR_IO, WHY_CONNECT, rc);
  *ps = &t->base;
  return 0;
}

int wr_tcp_connect_unix(wr_stream **ps, uv_loop_t *loop, const char *path, const wr_tcp_config *cfg,
                        const wr_stream_events *ev, void *user) {
  *ps = NULL;
  if (!path || !path[0])
    return WR_ERR_INVAL;
  tcp_stream *t = stream_new(loop, cfg, 1, ev, user);
  if (!t)
    return WR_ERR_NOMEM;
  snprintf(t->peerstr, sizeof t->peerstr, "unix:%.80s", path);
  t->req.creq.data = t;
  uv_pipe_connect(&t->req.creq, &t->io.pipe, path, on_connect); /* errors come to on_connect */
  *ps = &t->base;
  return 0;
}

/* ---- listener ---- */

static void on_refused_closed(uv_handle_t *h) {
  wr_tcp_listener *l = h->data;
  if (h == (uv_handle_t *)&l->spare)
    l->spare_busy = 0;
  else
    wr_free(h);
  l->refusing--;
  listener_maybe_free(l);
}

/* Takes a pending connection only to close it: libuv stops accepting until
 * the pending one is taken, so leaving it would wedge the listener. */
static void refuse(wr_tcp_listener *l, int at_limit) {
  lhandle *tmp = wr_malloc(sizeof *tmp);
  if (!tmp) {
    if (l->spare_busy) {
      WR_ERROR("Out of memory: the listener cannot even refuse a connection", "%s", "");
      return;
    }
    tmp = &l->spare;
    l->spare_busy = 1;
  }
  if (l->is_pipe)
    uv_pipe_init(l->loop, &tmp->pipe, 0);
  else
    uv_tcp_init(l->loop, &tmp->tcp);
  tmp->handle.data = l;
  l->refusing++;
  if (uv_accept(&l->io.stream, &tmp->stream) == 0) {
    uint64_t n = at_limit ? ++l->stats.refused_limit : ++l->stats.refused_nomem;
    /* Logged at powers of two, so a flood cannot flood the log too. */
    if ((n & (n - 1)) == 0) {
      if (at_limit)
        WR_WARN("Listener at its connection limit: refusing connections", "limit=%u refused=%llu",
                l->cfg.max_connections, (unsigned long long)n);
      else
        WR_WARN("Out of memory: listener refusing connections", "refused=%llu",
                (unsigned long long)n);
    }
  }
  uv_close(&tmp->handle, on_refused_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  wr_tcp_listener *l = server->data;
  if (status < 0) {
    WR_WARN("Accepting a connection failed", "error=%s", uv_strerror(status));
    return;
  }
  if (l->closing)
    return;
  if (l->stats.open >= l->cfg.max_connections) {
    refuse(l, 1);
    return;
  }
  tcp_stream *t = stream_new(l->loop, &l->cfg, l->is_pipe, NULL, NULL);
  if (!t) {
    refuse(l, 0);
    return;
  }
  t->lis = l;
  t->lnext = l->conns;
  if (l->conns)
    l->conns->lprev = t;
  l->conns = t;
  l->stats.open++;
  if (uv_accept(server, &t->io.stream) != 0) {
    close_handles(t); /* no events: never announced */
    return;
  }
  l->stats.accepted++;
  if (l->is_pipe) {
    snprintf(t->peerstr, sizeof t->peerstr, "unix:%.80s", l->path);
  } else {
    int len = sizeof t->peer;
    uv_tcp_getpeername(&t->io.tcp, (struct sockaddr *)&t->peer, &len);
    len = sizeof t->local;
    uv_tcp_getsockname(&t->io.tcp, (struct sockaddr *)&t->local, &len);
    wr_addr_format_sa((struct sockaddr *)&t->peer, 0, t->peerstr, sizeof t->peerstr);
    if (!t->cfg.no_nodelay)
      uv_tcp_nodelay(&t->io.tcp, 1);
  }
  t->state = ST_OPEN;
  l->cb(l, &t->base, l->data);
  if (t->state == ST_OPEN && t->base.ev == &no_events) {
    WR_ERROR("A listener's owner left an accepted connection without events", "peer=%s",
             t->peerstr);
    close_handles(t);
    return;
  }
  ensure_reading(t);
}

static void on_listener_closed(uv_handle_t *h) {
  wr_tcp_listener *l = h->data;
  l->io.handle.data = NULL;
  listener_maybe_free(l);
}

/* Binds (bind_addr, or path for a Unix socket) and listens. */
static int listen_on(wr_tcp_listener **pl, uv_loop_t *loop, const wr_addr *bind_addr,
                     const char *path, const wr_tcp_config *cfg, wr_tcp_accept_cb cb, void *data) {
  wr_tcp_listener *l = wr_calloc(1, sizeof *l);
  if (!l)
    return WR_ERR_NOMEM;
  l->loop = loop;
  if (cfg)
    l->cfg = *cfg;
  apply_defaults(&l->cfg);
  l->cb = cb;
  l->data = data;
  int rc;
  char where[WR_ADDR_STRLEN + 8];
  if (path) {
    l->is_pipe = 1;
    snprintf(l->path, sizeof l->path, "%s", path);
    snprintf(where, sizeof where, "unix:%.80s", path);
    uv_pipe_init(loop, &l->io.pipe, 0);
    rc = uv_pipe_bind(&l->io.pipe, path);
  } else {
    wr_addr_format(bind_addr, where, sizeof where);
    uv_tcp_init(loop, &l->io.tcp);
    rc = uv_tcp_bind(&l->io.tcp, &bind_addr->sa, 0);
  }
  l->io.handle.data = l;
  if (rc == 0)
    rc = uv_listen(&l->io.stream, 511, on_connection);
  if (rc < 0) {
    WR_ERROR("Cannot listen for connections", "address=%s error=%s", where, uv_strerror(rc));
    l->closing = 1; /* freed from the loop, with no callback */
    uv_close(&l->io.handle, on_listener_closed);
    return rc == UV_EADDRINUSE ? WR_ERR_ADDRINUSE : rc == UV_EACCES ? WR_ERR_DENIED : WR_ERR_IO;
  }
  *pl = l;
  return 0;
}

int wr_tcp_listen(wr_tcp_listener **pl, uv_loop_t *loop, const wr_addr *bind_addr,
                  const wr_tcp_config *cfg, wr_tcp_accept_cb cb, void *data) {
  *pl = NULL;
  if (!bind_addr || !cb ||
      (bind_addr->sa.sa_family != AF_INET && bind_addr->sa.sa_family != AF_INET6))
    return WR_ERR_INVAL;
  return listen_on(pl, loop, bind_addr, NULL, cfg, cb, data);
}

int wr_tcp_listen_unix(wr_tcp_listener **pl, uv_loop_t *loop, const char *path,
                       const wr_tcp_config *cfg, wr_tcp_accept_cb cb, void *data) {
  *pl = NULL;
  if (!path || !path[0] || strlen(path) >= sizeof((wr_tcp_listener *)0)->path || !cb)
    return WR_ERR_INVAL;
  return listen_on(pl, loop, NULL, path, cfg, cb, data);
}

void wr_tcp_listener_close(wr_tcp_listener *l, void (*cb)(wr_tcp_listener *l, void *data),
                           void *data) {
  if (l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  l->close_data = data;
  /* The accepted streams live on: they stop counting against us. */
  for (tcp_stream *t = l->conns, *next; t; t = next) {
    next = t->lnext;
    t->lis = NULL;
    t->lnext = t->lprev = NULL;
  }
  l->conns = NULL;
  l->stats.open = 0;
  uv_close(&l->io.handle, on_listener_closed);
}

int wr_tcp_listener_addr(const wr_tcp_listener *l, wr_addr *out) {
  int len = sizeof out->ss;
  memset(out, 0, sizeof *out);
  if (l->is_pipe || uv_tcp_getsockname(&l->io.tcp, &out->sa, &len) != 0)
    return WR_ERR_IO;
  out->len = (socklen_t)len;
  return 0;
}

void wr_tcp_listener_stats_get(const wr_tcp_listener *l, wr_tcp_listener_stats *out) {
  *out = l->stats;
}

void wr_tcp_stats_get(const wr_stream *s, wr_tcp_stats *out) {
  const tcp_stream *t = T(s);
  memset(out, 0, sizeof *out);
  out->bytes_sent = t->bytes_sent;
  out->bytes_recv = t->bytes_recv;
  uv_os_fd_t fd;
  if (t->state == ST_CLOSED || t->is_pipe || uv_fileno(&t->io.handle, &fd) != 0)
    return;
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return;
  out->rtt_ns = (uint64_t)ti.tcpi_rtt * 1000;
  out->rttvar_ns = (uint64_t)ti.tcpi_rttvar * 1000;
  out->cwnd = (uint64_t)ti.tcpi_snd_cwnd * ti.tcpi_snd_mss;
  out->retransmits = ti.tcpi_total_retrans;
  if (ti.tcpi_unacked && (ti.tcpi_retransmits || ti.tcpi_probes))
    out->unanswered_ns = (uint64_t)ti.tcpi_last_ack_recv * 1000000u;
}
