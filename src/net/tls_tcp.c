/* tls_tcp.c: TLS over libuv TCP with GnuTLS on memory push/pull. */
#include "net/tls_tcp.h"

#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"

#define RBUF_SIZE (64 * 1024)
/* Ciphertext gathered between two socket writes never exceeds the write
 * queue limit by more than a few records; this cap only stops a bug from
 * eating memory. */
#define OUT_HARD_LIMIT (64u * 1024 * 1024)
#define MAX_RECORD 16384

enum {
  ST_CONNECTING, /* TCP connect in progress (client) */
  ST_HANDSHAKE,
  ST_OPEN,
  ST_CLOSING, /* close requested or failed: letting the last bytes out */
  ST_CLOSED,  /* handles closing; on_closed comes from their callbacks */
};

struct wr_tls_tcp {
  union { /* TCP, or a Unix socket for wr_tls_tcp_connect_unix */
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
  uv_timer_t timer; /* handshake deadline, resume after a pause, linger */
  uv_loop_t *loop;
  wr_tls_tcp_listener *lis;
  wr_tls_tcp *lnext, *lprev;
  wr_tls_tcp_callbacks cb;
  void *user;
  wr_tls_tcp_config cfg;
  wr_tls_session tls;
  int state;
  unsigned is_server : 1, connected : 1, shut : 1, shutdown_started : 1, shutdown_done : 1,
      peer_eof : 1, tcp_eof : 1, reading : 1, paused : 1, want_writable : 1, app_gone : 1,
      corked : 1, handles_inited : 1, is_pipe : 1;
  int handles_open;
  int close_err;
  char close_reason[WR_TLS_ERRLEN];
  uint8_t *rbuf;
  size_t rpos, rlen;
  wr_buf out; /* ciphertext not yet handed to uv_write */
  uint64_t pushed; /* ciphertext bytes GnuTLS produced, ever */
  uv_connect_t creq;
  uv_shutdown_t sreq;
  struct sockaddr_storage peer, local;
  char peerstr[64];
  char alpn[64];
  char sni[256];
  uint64_t bytes_sent, bytes_recv;
};

struct wr_tls_tcp_listener {
  uv_tcp_t tcp;
  uv_loop_t *loop;
  const wr_tls_server *tls;
  wr_tls_tcp_config cfg;
  wr_tls_tcp_callbacks cb;
  void *user;
  wr_tls_tcp *conns;
  wr_tls_tcp_listener_stats stats;
  int closing, handle_closed;
  uv_tcp_t spare; /* refuses a connection when memory for another handle is short */
  int spare_busy, refusing;
  void (*close_cb)(wr_tls_tcp_listener *l, void *data);
  void *close_data;
};

typedef struct wreq {
  uv_write_t req;
  wr_tls_tcp *t;
  uint8_t *data;
} wreq;

static void process(wr_tls_tcp *t);
static void fail(wr_tls_tcp *t, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void close_handles(wr_tls_tcp *t);
static void ensure_reading(wr_tls_tcp *t);

/* ---- small helpers ---- */

static socklen_t addr_len(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void apply_defaults(wr_tls_tcp_config *c) {
  if (!c->write_queue_limit)
    c->write_queue_limit = WR_TLS_TCP_DEFAULT_WRITE_QUEUE;
  if (!c->handshake_timeout_ms)
    c->handshake_timeout_ms = WR_TLS_TCP_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!c->linger_ms)
    c->linger_ms = WR_TLS_TCP_DEFAULT_LINGER_MS;
  if (!c->max_connections)
    c->max_connections = WR_TLS_TCP_DEFAULT_MAX_CONNECTIONS;
}

/* ---- GnuTLS transport on memory ---- */

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t len) {
  wr_tls_tcp *t = p;
  if (t->rpos == t->rlen) {
    gnutls_transport_set_errno(t->tls.gs, EAGAIN);
    return -1;
  }
  size_t n = t->rlen - t->rpos;
  if (n > len)
    n = len;
  memcpy(data, t->rbuf + t->rpos, n);
  t->rpos += n;
  return (ssize_t)n;
}

/* GnuTLS asks whether bytes wait (ms is always 0 for a non-blocking session).
 * Without this it would select() on our pointer as if it were a descriptor. */
static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms) {
  (void)ms;
  wr_tls_tcp *t = p;
  return t->rpos < t->rlen ? 1 : 0;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t len) {
  wr_tls_tcp *t = p;
  if (wr_buf_append(&t->out, data, len) != 0) {
    gnutls_transport_set_errno(t->tls.gs, ENOMEM);
    return -1;
  }
  t->pushed += len;
  return (ssize_t)len;
}

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  wr_tls_tcp *t = w->t;
  wr_free(w->data);
  wr_free(w);
  if (status == UV_ECANCELED || t->state == ST_CLOSED)
    return;
  if (status < 0) {
    fail(t, status == UV_EPIPE || status == UV_ECONNRESET ? WR_ERR_CLOSED : WR_ERR_IO,
         "writing to %s failed: %s", t->peerstr, uv_strerror(status));
    return;
  }
  if (t->want_writable && !t->app_gone && t->state == ST_OPEN &&
      wr_tls_tcp_queued(t) <= t->cfg.write_queue_limit / 2) {
    t->want_writable = 0;
    if (t->cb.on_writable)
      t->cb.on_writable(t);
  }
}

/* Hands the gathered ciphertext to the socket in one write. */
static void flush_out(wr_tls_tcp *t) {
  if (t->out.len == 0 || t->state == ST_CLOSED || t->state == ST_CONNECTING)
    return;
  wreq *w = wr_malloc(sizeof *w);
  if (!w) {
    fail(t, WR_ERR_NOMEM, "out of memory while writing to %s", t->peerstr);
    return;
  }
  w->t = t;
  w->data = t->out.data;
  uv_buf_t b = uv_buf_init((char *)t->out.data, (unsigned)t->out.len);
  size_t len = t->out.len;
  wr_buf_init(&t->out, OUT_HARD_LIMIT); /* the bytes now belong to the request */
  int rc = uv_write(&w->req, &t->io.stream, &b, 1, on_write);
  if (rc < 0) {
    wr_free(w->data);
    wr_free(w);
    fail(t, WR_ERR_IO, "writing to %s failed: %s", t->peerstr, uv_strerror(rc));
    return;
  }
  t->bytes_sent += len;
}

/* ---- closing ---- */

static void listener_maybe_free(wr_tls_tcp_listener *l) {
  if (!l->closing || !l->handle_closed || l->stats.open > 0 || l->refusing > 0)
    return;
  if (l->close_cb)
    l->close_cb(l, l->close_data);
  wr_free(l);
}

static void conn_free(wr_tls_tcp *t) {
  wr_tls_tcp_listener *l = t->lis;
  if (l) {
    if (t->lprev)
      t->lprev->lnext = t->lnext;
    else
      l->conns = t->lnext;
    if (t->lnext)
      t->lnext->lprev = t->lprev;
    l->stats.open--;
  }
  wr_tls_session_free(&t->tls);
  wr_buf_free(&t->out);
  wr_free(t->rbuf);
  wr_free(t);
  if (l)
    listener_maybe_free(l);
}

static void on_handle_closed(uv_handle_t *h) {
  wr_tls_tcp *t = h->data;
  if (--t->handles_open > 0)
    return;
  if (t->cb.on_closed)
    t->cb.on_closed(t, t->close_err, t->close_reason);
  conn_free(t);
}

static void close_handles(wr_tls_tcp *t) {
  if (t->state == ST_CLOSED)
    return;
  t->state = ST_CLOSED;
  t->app_gone = 1;
  uv_timer_stop(&t->timer);
  uv_close(&t->io.handle, on_handle_closed);
  uv_close((uv_handle_t *)&t->timer, on_handle_closed);
}

static void on_linger_timeout(uv_timer_t *tm) { close_handles(tm->data); }

static void on_shutdown(uv_shutdown_t *req, int status) {
  wr_tls_tcp *t = req->data;
  if (status == UV_ECANCELED || t->state == ST_CLOSED)
    return;
  t->shutdown_done = 1;
  /* A closing connection is done once our bytes are out and the peer has
   * closed too (or failed: then there is no one left to wait for). */
  if (t->state == ST_CLOSING && (t->tcp_eof || t->close_err != 0 || status < 0))
    close_handles(t);
}

/* Sends a TCP FIN once the queued writes are done. */
static void start_shutdown(wr_tls_tcp *t) {
  if (t->shutdown_started)
    return;
  t->shutdown_started = 1;
  t->sreq.data = t;
  if (uv_shutdown(&t->sreq, &t->io.stream, on_shutdown) < 0)
    t->shutdown_done = 1;
}

/* Enters ST_CLOSING: lets the queued bytes (and an alert or close_notify) go
 * out, then closes; the linger timer bounds the wait. */
static void begin_close(wr_tls_tcp *t) {
  t->app_gone = 1;
  if (t->state == ST_CONNECTING || !t->handles_inited) {
    close_handles(t);
    return;
  }
  t->state = ST_CLOSING;
  flush_out(t);
  if (t->state == ST_CLOSED)
    return;
  start_shutdown(t);
  if (t->shutdown_done && (t->tcp_eof || t->close_err != 0)) {
    close_handles(t);
    return;
  }
  ensure_reading(t);
  uv_timer_start(&t->timer, on_linger_timeout, t->cfg.linger_ms, 0);
}

static void fail(wr_tls_tcp *t, int err, const char *fmt, ...) {
  if (t->state == ST_CLOSED)
    return;
  /* Keep the first reason; a close the application asked for stays err 0. A
   * second failure while closing just ends the wait. */
  if (t->state != ST_CLOSING) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->close_reason, sizeof t->close_reason, fmt, ap);
    va_end(ap);
    t->close_err = err;
    if (err)
      WR_DEBUG("TLS connection failed", "peer=%s err=%s reason=%s", t->peerstr,
               wr_strerror(err), t->close_reason);
  }
  if (!t->connected && t->lis && t->state != ST_CLOSING)
    t->lis->stats.handshake_failed++;
  if (t->state == ST_CLOSING) {
    close_handles(t);
    return;
  }
  begin_close(t);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  wr_tls_tcp *t = h->data;
  if (t->rpos == t->rlen)
    t->rpos = t->rlen = 0;
  *buf = uv_buf_init((char *)t->rbuf + t->rlen, (unsigned)(RBUF_SIZE - t->rlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  wr_tls_tcp *t = s->data;
  if (t->state == ST_CLOSED)
    return;
  if (nread > 0) {
    t->rlen += (size_t)nread;
    t->bytes_recv += (uint64_t)nread;
  } else if (nread == UV_EOF) {
    t->tcp_eof = 1;
    uv_read_stop(s);
    t->reading = 0;
  } else if (nread < 0) {
    fail(t, nread == UV_ECONNRESET ? WR_ERR_CLOSED : WR_ERR_IO, "reading from %s failed: %s",
         t->peerstr, uv_strerror((int)nread));
    return;
  }
  process(t);
  if (t->state != ST_CLOSED && t->paused && t->reading && t->state == ST_OPEN) {
    uv_read_stop(s);
    t->reading = 0;
  }
}

static void ensure_reading(wr_tls_tcp *t) {
  if (t->reading || t->tcp_eof || t->state == ST_CLOSED || t->state == ST_CONNECTING)
    return;
  if (uv_read_start(&t->io.stream, on_alloc, on_read) == 0)
    t->reading = 1;
}

static void handshake_failed(wr_tls_tcp *t, int grc, uint64_t pushed_before) {
  if (t->tls.error[0]) {
    /* Our verification refused the server: the sentence says why. */
    if (t->pushed == pushed_before)
      gnutls_alert_send(t->tls.gs, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
    fail(t, WR_ERR_DENIED, "%s", t->tls.error);
    return;
  }
  if (grc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
    gnutls_alert_description_t a = gnutls_alert_get(t->tls.gs);
    const char *name = gnutls_alert_get_name(a);
    fail(t, WR_ERR_DENIED, "the peer refused the TLS handshake: alert %u (%s)", (unsigned)a,
         name ? name : "unknown");
    return;
  }
  if (grc == GNUTLS_E_PREMATURE_TERMINATION || grc == GNUTLS_E_PULL_ERROR) {
    fail(t, WR_ERR_CLOSED, "%s closed the connection during the TLS handshake", t->peerstr);
    return;
  }
  if (t->pushed == pushed_before)
    gnutls_alert_send_appropriate(t->tls.gs, grc);
  if (grc == GNUTLS_E_NO_APPLICATION_PROTOCOL)
    fail(t, WR_ERR_DENIED,
         "the TLS handshake with %s failed: no common application protocol (ALPN; we speak %s)",
         t->peerstr, t->cfg.alpn);
  else
    fail(t, WR_ERR_DENIED, "the TLS handshake with %s failed: %s", t->peerstr,
         gnutls_strerror(grc));
}

/* Runs the handshake as far as the bytes allow. 1 when it completed now. */
static int do_handshake(wr_tls_tcp *t) {
  for (int i = 0; i < 8; i++) {
    uint64_t before = t->pushed;
    int grc = gnutls_handshake(t->tls.gs);
    flush_out(t);
    if (t->state >= ST_CLOSING)
      return 0;
    if (grc == 0) {
      t->connected = 1;
      t->state = ST_OPEN;
      uv_timer_stop(&t->timer);
      gnutls_datum_t sel;
      if (gnutls_alpn_get_selected_protocol(t->tls.gs, &sel) == 0)
        snprintf(t->alpn, sizeof t->alpn, "%.*s", (int)sel.size, (const char *)sel.data);
      if (t->is_server) {
        size_t n = sizeof t->sni - 1;
        unsigned type = 0;
        if (gnutls_server_name_get(t->tls.gs, t->sni, &n, &type, 0) != 0 ||
            type != GNUTLS_NAME_DNS)
          t->sni[0] = '\0';
      }
      return 1;
    }
    if (grc == GNUTLS_E_AGAIN || grc == GNUTLS_E_INTERRUPTED)
      return 0;
    if (!gnutls_error_is_fatal(grc))
      continue;
    handshake_failed(t, grc, before);
    return 0;
  }
  return 0;
}

static void deliver_records(wr_tls_tcp *t) {
  uint8_t buf[MAX_RECORD + 256];
  /* Bounded work per wakeup: the 64 KiB read buffer plus GnuTLS's pending
   * record; a pause stops it early. */
  for (int i = 0; i < 64; i++) {
    if (t->state == ST_CLOSED)
      return;
    int discard = t->app_gone;
    if (!discard && t->paused)
      return;
    ssize_t n = gnutls_record_recv(t->tls.gs, buf, sizeof buf);
    if (n > 0) {
      if (!discard && t->cb.on_data)
        t->cb.on_data(t, buf, (size_t)n);
      continue;
    }
    if (n == 0) {
      if (!t->peer_eof) {
        t->peer_eof = 1;
        if (!discard && t->cb.on_eof)
          t->cb.on_eof(t);
      }
      return;
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      /* GnuTLS also answers AGAIN after a post-handshake message (a TLS 1.3
       * NewSessionTicket, which OpenSSL servers send) with bytes still
       * unread: go on while there are, or the records after it would wait
       * for the next TCP read, which may never come. */
      if (t->rpos < t->rlen)
        continue;
      return;
    }
    if (!gnutls_error_is_fatal((int)n))
      continue;
    if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
      gnutls_alert_description_t a = gnutls_alert_get(t->tls.gs);
      const char *name = gnutls_alert_get_name(a);
      fail(t, WR_ERR_CLOSED, "%s sent the TLS alert %u (%s)", t->peerstr, (unsigned)a,
           name ? name : "unknown");
    } else if (n == GNUTLS_E_PREMATURE_TERMINATION) {
      fail(t, WR_ERR_CLOSED, "%s closed the connection without TLS close_notify", t->peerstr);
    } else {
      fail(t, WR_ERR_MALFORMED, "TLS error on the connection with %s: %s", t->peerstr,
           gnutls_strerror((int)n));
    }
    return;
  }
}

static void process(wr_tls_tcp *t) {
  if (t->state == ST_HANDSHAKE) {
    if (!do_handshake(t))
      goto eof;
    if (!t->app_gone && t->cb.on_connected)
      t->cb.on_connected(t);
  }
  if (t->state == ST_OPEN || t->state == ST_CLOSING)
    deliver_records(t);
  flush_out(t); /* alerts, key updates */
eof:
  if (t->state == ST_CLOSED || !t->tcp_eof || t->rpos < t->rlen)
    return;
  if (t->paused && !t->app_gone && gnutls_record_check_pending(t->tls.gs) > 0)
    return;
  if (t->state == ST_CLOSING) {
    if (t->shutdown_done)
      close_handles(t);
    return;
  }
  if (t->state == ST_HANDSHAKE)
    fail(t, WR_ERR_CLOSED, "%s closed the connection during the TLS handshake", t->peerstr);
  else if (!t->peer_eof)
    fail(t, WR_ERR_CLOSED, "%s closed the connection without TLS close_notify", t->peerstr);
  else if (t->shut && t->shutdown_done) {
    /* Both sides are done: nothing left to say. */
    snprintf(t->close_reason, sizeof t->close_reason, "the connection ended on both sides");
    close_handles(t);
  }
}

static void on_handshake_timeout(uv_timer_t *tm) {
  wr_tls_tcp *t = tm->data;
  if (t->state == ST_CONNECTING)
    fail(t, WR_ERR_TIMEOUT, "could not connect to %s within %llu ms", t->peerstr,
         (unsigned long long)t->cfg.handshake_timeout_ms);
  else
    fail(t, WR_ERR_TIMEOUT, "the TLS handshake with %s did not complete within %llu ms",
         t->peerstr, (unsigned long long)t->cfg.handshake_timeout_ms);
}

/* ---- making connections ---- */

static wr_tls_tcp *conn_alloc(uv_loop_t *loop, const wr_tls_tcp_config *cfg,
                              const wr_tls_tcp_callbacks *cb, void *user_data) {
  wr_tls_tcp *t = wr_calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->rbuf = wr_malloc(RBUF_SIZE);
  if (!t->rbuf) {
    wr_free(t);
    return NULL;
  }
  t->loop = loop;
  t->cfg = *cfg;
  apply_defaults(&t->cfg);
  if (cb)
    t->cb = *cb;
  t->user = user_data;
  wr_buf_init(&t->out, OUT_HARD_LIMIT);
  snprintf(t->peerstr, sizeof t->peerstr, "?");
  return t;
}

static void init_handles(wr_tls_tcp *t) {
  if (t->is_pipe)
    uv_pipe_init(t->loop, &t->io.pipe, 0);
  else
    uv_tcp_init(t->loop, &t->io.tcp);
  uv_timer_init(t->loop, &t->timer);
  t->io.handle.data = t;
  t->timer.data = t;
  t->handles_open = 2;
  t->handles_inited = 1;
}

static void session_io(wr_tls_tcp *t) {
  gnutls_transport_set_ptr(t->tls.gs, t);
  gnutls_transport_set_push_function(t->tls.gs, push);
  gnutls_transport_set_pull_function(t->tls.gs, pull);
  gnutls_transport_set_pull_timeout_function(t->tls.gs, pull_timeout);
}

static void on_connect(uv_connect_t *req, int status) {
  wr_tls_tcp *t = req->data;
  if (status == UV_ECANCELED || t->state == ST_CLOSED)
    return;
  if (status < 0) {
    fail(t, WR_ERR_IO, "cannot connect to %s: %s", t->peerstr, uv_strerror(status));
    return;
  }
  int len = sizeof t->local;
  if (!t->is_pipe)
    uv_tcp_getsockname(&t->io.tcp, (struct sockaddr *)&t->local, &len);
  t->state = ST_HANDSHAKE;
  ensure_reading(t);
  process(t); /* sends the ClientHello */
}

/* A client connection not yet dialed: its session and handles are set up. */
static int client_new(wr_tls_tcp **pt, uv_loop_t *loop, const char *server_name,
                      const wr_tls_client *tls, const wr_tls_tcp_config *cfg,
                      const wr_tls_tcp_callbacks *cb, void *user_data, int is_pipe) {
  wr_tls_tcp *t = conn_alloc(loop, cfg, cb, user_data);
  if (!t)
    return WR_ERR_NOMEM;
  int rc = wr_tls_session_init_stream_client(&t->tls, tls, server_name, t->cfg.alpn,
                                             t->cfg.tls_flags);
  if (rc != 0) {
    wr_buf_free(&t->out);
    wr_free(t->rbuf);
    wr_free(t);
    return rc;
  }
  session_io(t);
  t->is_pipe = is_pipe ? 1 : 0;
  init_handles(t);
  t->state = ST_CONNECTING;
  uv_timer_start(&t->timer, on_handshake_timeout, t->cfg.handshake_timeout_ms, 0);
  t->creq.data = t;
  *pt = t;
  return 0;
}

int wr_tls_tcp_connect(wr_tls_tcp **pt, uv_loop_t *loop, const struct sockaddr *remote,
                       const char *server_name, const wr_tls_client *tls,
                       const wr_tls_tcp_config *cfg, const wr_tls_tcp_callbacks *cb,
                       void *user_data) {
  *pt = NULL;
  if (!cfg || !cfg->alpn || !tls || !remote ||
      (remote->sa_family != AF_INET && remote->sa_family != AF_INET6))
    return WR_ERR_INVAL;
  char ipname[INET6_ADDRSTRLEN] = "";
  if (!server_name || !server_name[0]) {
    if (remote->sa_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)remote, ipname, sizeof ipname);
    else
      uv_ip4_name((const struct sockaddr_in *)remote, ipname, sizeof ipname);
    server_name = ipname;
  }
  wr_tls_tcp *t;
  int rc = client_new(&t, loop, server_name, tls, cfg, cb, user_data, 0);
  if (rc != 0)
    return rc;
  memcpy(&t->peer, remote, addr_len(remote));
  wr_addr_format_sa(remote, 0, t->peerstr, sizeof t->peerstr);
  if (!t->cfg.no_nodelay)
    uv_tcp_nodelay(&t->io.tcp, 1);
  int urc = uv_tcp_connect(&t->creq, &t->io.tcp, remote, on_connect);
  if (urc < 0) {
    /* Reported like any other connect failure: from the loop, by on_closed. */
    fail(t, WR_ERR_IO, "cannot connect to %s: %s", t->peerstr, uv_strerror(urc));
  }
  *pt = t;
  return 0;
}

int wr_tls_tcp_connect_unix(wr_tls_tcp **pt, uv_loop_t *loop, const char *path,
                            const char *server_name, const wr_tls_client *tls,
                            const wr_tls_tcp_config *cfg, const wr_tls_tcp_callbacks *cb,
                            void *user_data) {
  *pt = NULL;
  if (!cfg || !cfg->alpn || !tls || !path || !path[0] || !server_name || !server_name[0])
    return WR_ERR_INVAL;
  wr_tls_tcp *t;
  int rc = client_new(&t, loop, server_name, tls, cfg, cb, user_data, 1);
  if (rc != 0)
    return rc;
  snprintf(t->peerstr, sizeof t->peerstr, "unix:%.58s", path);
  uv_pipe_connect(&t->creq, &t->io.pipe, path, on_connect); /* errors come to on_connect */
  *pt = t;
  return 0;
}

/* ---- listener ---- */

static void on_refused_closed(uv_handle_t *h) {
  wr_tls_tcp_listener *l = h->data;
  if (h == (uv_handle_t *)&l->spare)
    l->spare_busy = 0;
  else
    wr_free(h);
  l->refusing--;
  listener_maybe_free(l);
}

/* Takes a pending connection only to close it: libuv stops accepting until
 * the pending one is taken, so leaving it would wedge the listener. */
static void refuse(wr_tls_tcp_listener *l, uv_stream_t *server, int at_limit) {
  uv_tcp_t *tmp = wr_malloc(sizeof *tmp);
  if (!tmp) {
    if (l->spare_busy) {
      WR_ERROR("Out of memory: the TLS listener cannot even refuse a connection", "%s", "");
      return;
    }
    tmp = &l->spare;
    l->spare_busy = 1;
  }
  uv_tcp_init(l->loop, tmp);
  tmp->data = l;
  l->refusing++;
  if (uv_accept(server, (uv_stream_t *)tmp) == 0) {
    uint64_t n = at_limit ? ++l->stats.refused_limit : ++l->stats.refused_nomem;
    /* Logged at powers of two, so a flood cannot flood the log too. */
    if ((n & (n - 1)) == 0) {
      if (at_limit)
        WR_WARN("TLS listener at its connection limit: refusing connections",
                "limit=%u refused=%llu", l->cfg.max_connections, (unsigned long long)n);
      else
        WR_WARN("Out of memory: TLS listener refusing connections", "refused=%llu",
                (unsigned long long)n);
    }
  }
  uv_close((uv_handle_t *)tmp, on_refused_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  wr_tls_tcp_listener *l = server->data;
  if (status < 0) {
    WR_WARN("Accepting a TCP connection failed", "error=%s", uv_strerror(status));
    return;
  }
  if (l->closing)
    return;
  if (l->stats.open >= l->cfg.max_connections) {
    refuse(l, server, 1);
    return;
  }
  wr_tls_tcp *t = conn_alloc(l->loop, &l->cfg, &l->cb, l->user);
  if (!t) {
    refuse(l, server, 0);
    return;
  }
  t->is_server = 1;
  if (wr_tls_session_init_stream_server(&t->tls, l->tls, t->cfg.alpn, t->cfg.tls_flags) != 0) {
    wr_buf_free(&t->out);
    wr_free(t->rbuf);
    wr_free(t);
    refuse(l, server, 0);
    return;
  }
  session_io(t);
  init_handles(t);
  t->state = ST_HANDSHAKE;
  t->lis = l;
  t->lnext = l->conns;
  if (l->conns)
    l->conns->lprev = t;
  l->conns = t;
  l->stats.open++;
  if (uv_accept(server, &t->io.stream) != 0) {
    close_handles(t); /* on_closed is not wanted for a connection never announced */
    t->cb.on_closed = NULL;
    return;
  }
  l->stats.accepted++;
  int len = sizeof t->peer;
  uv_tcp_getpeername(&t->io.tcp, (struct sockaddr *)&t->peer, &len);
  len = sizeof t->local;
  uv_tcp_getsockname(&t->io.tcp, (struct sockaddr *)&t->local, &len);
  wr_addr_format_sa((struct sockaddr *)&t->peer, 0, t->peerstr,
                    sizeof t->peerstr);
  if (!t->cfg.no_nodelay)
    uv_tcp_nodelay(&t->io.tcp, 1);
  uv_timer_start(&t->timer, on_handshake_timeout, t->cfg.handshake_timeout_ms, 0);
  if (t->cb.on_accept)
    t->cb.on_accept(t);
  if (t->state != ST_HANDSHAKE)
    return;
  ensure_reading(t);
}

static void free_listener_handle(uv_handle_t *h) { wr_free(h->data); }

int wr_tls_tcp_listen(wr_tls_tcp_listener **pl, uv_loop_t *loop, const struct sockaddr *bind_addr,
                      const wr_tls_server *tls, const wr_tls_tcp_config *cfg,
                      const wr_tls_tcp_callbacks *cb, void *user_data) {
  *pl = NULL;
  if (!cfg || !cfg->alpn || !tls || !bind_addr ||
      (bind_addr->sa_family != AF_INET && bind_addr->sa_family != AF_INET6))
    return WR_ERR_INVAL;
  wr_tls_tcp_listener *l = wr_calloc(1, sizeof *l);
  if (!l)
    return WR_ERR_NOMEM;
  l->loop = loop;
  l->tls = tls;
  l->cfg = *cfg;
  apply_defaults(&l->cfg);
  if (cb)
    l->cb = *cb;
  l->user = user_data;
  uv_tcp_init(loop, &l->tcp);
  l->tcp.data = l;
  char where[64];
  wr_addr_format_sa(bind_addr, 0, where, sizeof where);
  int rc = uv_tcp_bind(&l->tcp, bind_addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
  if (rc < 0) {
    WR_ERROR("Cannot listen for TLS over TCP", "address=%s error=%s", where, uv_strerror(rc));
    l->closing = 1;
    l->close_cb = NULL;
    /* Freed by the close callback below. */
    uv_close((uv_handle_t *)&l->tcp, free_listener_handle);
    return WR_ERR_IO;
  }
  *pl = l;
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  wr_tls_tcp_listener *l = h->data;
  l->handle_closed = 1;
  listener_maybe_free(l);
}

void wr_tls_tcp_listener_close(wr_tls_tcp_listener *l,
                               void (*cb)(wr_tls_tcp_listener *l, void *data), void *data) {
  if (l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  l->close_data = data;
  for (wr_tls_tcp *t = l->conns; t; t = t->lnext)
    wr_tls_tcp_close(t);
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

int wr_tls_tcp_listener_addr(const wr_tls_tcp_listener *l, struct sockaddr_storage *out) {
  int len = sizeof *out;
  return uv_tcp_getsockname(&l->tcp, (struct sockaddr *)out, &len) == 0 ? 0 : WR_ERR_IO;
}

void wr_tls_tcp_listener_stats_get(const wr_tls_tcp_listener *l, wr_tls_tcp_listener_stats *out) {
  *out = l->stats;
}

/* ---- the application's calls ---- */

size_t wr_tls_tcp_queued(const wr_tls_tcp *t) {
  size_t q = t->out.len;
  if (t->handles_inited && t->state != ST_CLOSED)
    q += uv_stream_get_write_queue_size(&t->io.stream);
  if (t->corked && t->tls.gs)
    q += gnutls_record_check_corked(t->tls.gs);
  return q;
}

ssize_t wr_tls_tcp_write(wr_tls_tcp *t, const void *data, size_t len) {
  if (t->app_gone || t->shut || t->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (!t->connected)
    return WR_ERR_AGAIN;
  size_t q = wr_tls_tcp_queued(t);
  if (q >= t->cfg.write_queue_limit) {
    t->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  size_t n = len;
  if (n > t->cfg.write_queue_limit - q)
    n = t->cfg.write_queue_limit - q;
  const uint8_t *p = data;
  size_t done = 0;
  while (done < n) {
    size_t m = n - done;
    if (m > MAX_RECORD)
      m = MAX_RECORD;
    ssize_t r = gnutls_record_send(t->tls.gs, p + done, m);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      continue; /* our push never blocks; GnuTLS retries the record */
    if (r < 0) {
      fail(t, WR_ERR_IO, "TLS error while writing to %s: %s", t->peerstr,
           gnutls_strerror((int)r));
      return WR_ERR_CLOSED;
    }
    done += (size_t)r;
  }
  if (n < len)
    t->want_writable = 1;
  if (!t->corked)
    flush_out(t);
  return (ssize_t)n;
}

void wr_tls_tcp_cork(wr_tls_tcp *t) {
  if (t->corked || t->state != ST_OPEN)
    return;
  gnutls_record_cork(t->tls.gs);
  t->corked = 1;
}

void wr_tls_tcp_uncork(wr_tls_tcp *t) {
  if (!t->corked)
    return;
  t->corked = 0;
  if (t->state == ST_CLOSED)
    return;
  int rc;
  do
    rc = gnutls_record_uncork(t->tls.gs, 0);
  while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
  if (rc < 0) {
    fail(t, WR_ERR_IO, "TLS error while writing to %s: %s", t->peerstr, gnutls_strerror(rc));
    return;
  }
  flush_out(t);
}

int wr_tls_tcp_shutdown(wr_tls_tcp *t) {
  if (t->shut || t->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (!t->connected) {
    wr_tls_tcp_close(t);
    return 0;
  }
  wr_tls_tcp_uncork(t);
  t->shut = 1;
  int rc;
  do
    rc = gnutls_bye(t->tls.gs, GNUTLS_SHUT_WR);
  while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
  flush_out(t);
  if (t->state == ST_OPEN)
    start_shutdown(t);
  return 0;
}

void wr_tls_tcp_close(wr_tls_tcp *t) {
  if (t->app_gone || t->state >= ST_CLOSING)
    return;
  t->close_err = 0;
  snprintf(t->close_reason, sizeof t->close_reason, "closed");
  if (!t->connected) {
    close_handles(t); /* nothing to say to a peer mid-handshake */
    return;
  }
  if (!t->shut && wr_tls_tcp_shutdown(t) != 0)
    return; /* cannot happen: not shut and open */
  if (t->state == ST_CLOSED)
    return;
  t->paused = 0;
  begin_close(t);
}

void wr_tls_tcp_reset(wr_tls_tcp *t) {
  if (t->state == ST_CLOSED)
    return;
  t->app_gone = 1;
  if (t->close_err == 0 && !t->close_reason[0])
    snprintf(t->close_reason, sizeof t->close_reason, "reset");
  if (t->state != ST_CONNECTING && t->handles_inited) {
    t->state = ST_CLOSED;
    uv_timer_stop(&t->timer);
    if (t->is_pipe || uv_tcp_close_reset(&t->io.tcp, on_handle_closed) != 0)
      uv_close(&t->io.handle, on_handle_closed); /* after a shutdown: no RST */
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    return;
  }
  close_handles(t);
}

static void on_resume(uv_timer_t *tm) {
  wr_tls_tcp *t = tm->data;
  if (t->state != ST_OPEN || t->paused)
    return;
  process(t);
  if (t->state == ST_OPEN && !t->paused)
    ensure_reading(t);
}

void wr_tls_tcp_read_stop(wr_tls_tcp *t) {
  if (t->paused || t->state >= ST_CLOSING)
    return;
  t->paused = 1;
  if (t->reading && t->state == ST_OPEN) {
    uv_read_stop(&t->io.stream);
    t->reading = 0;
  }
}

void wr_tls_tcp_read_start(wr_tls_tcp *t) {
  if (!t->paused || t->state >= ST_CLOSING)
    return;
  t->paused = 0;
  if (t->state != ST_OPEN) {
    ensure_reading(t);
    return;
  }
  /* Bytes read before the pause are delivered from the loop, never inside
   * this call (the caller may be in the middle of its own bookkeeping). */
  if (t->rpos < t->rlen || gnutls_record_check_pending(t->tls.gs) > 0 || t->tcp_eof)
    uv_timer_start(&t->timer, on_resume, 0, 0);
  else
    ensure_reading(t);
}

void wr_tls_tcp_set_user_data(wr_tls_tcp *t, void *user_data) { t->user = user_data; }
void *wr_tls_tcp_get_user_data(const wr_tls_tcp *t) { return t->user; }
void wr_tls_tcp_set_callbacks(wr_tls_tcp *t, const wr_tls_tcp_callbacks *cb) { t->cb = *cb; }
int wr_tls_tcp_is_server(const wr_tls_tcp *t) { return t->is_server; }
int wr_tls_tcp_is_connected(const wr_tls_tcp *t) { return t->connected && t->state == ST_OPEN; }
const char *wr_tls_tcp_alpn(const wr_tls_tcp *t) { return t->alpn; }
const char *wr_tls_tcp_server_name(const wr_tls_tcp *t) { return t->sni; }
const struct sockaddr *wr_tls_tcp_peer_addr(const wr_tls_tcp *t) {
  return (const struct sockaddr *)&t->peer;
}
const struct sockaddr *wr_tls_tcp_local_addr(const wr_tls_tcp *t) {
  return (const struct sockaddr *)&t->local;
}
const char *wr_tls_tcp_peer_str(const wr_tls_tcp *t) { return t->peerstr; }

int wr_tls_tcp_export(const wr_tls_tcp *t, const char *label, const uint8_t *context,
                      size_t contextlen, uint8_t *out, size_t outlen) {
  if (!t->connected)
    return WR_ERR_INVAL;
  return wr_tls_session_export(&t->tls, label, context, contextlen, out, outlen);
}

void wr_tls_tcp_get_stats(const wr_tls_tcp *t, wr_tls_tcp_stats *out) {
  memset(out, 0, sizeof *out);
  out->bytes_sent = t->bytes_sent;
  out->bytes_recv = t->bytes_recv;
  uv_os_fd_t fd;
  if (!t->handles_inited || t->state == ST_CLOSED || t->is_pipe ||
      uv_fileno(&t->io.handle, &fd) != 0)
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
