/* tls_stream.c: TLS as a filter over a byte stream, GnuTLS on memory
 * push/pull (net/tls_stream.h). */
#include "net/tls_stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"

/* Ciphertext gathered for the lower stream never exceeds the write queue
 * limit by more than a few records; this cap only stops a bug from eating
 * memory. */
#define OUT_HARD_LIMIT (64u * 1024 * 1024)
/* Ciphertext from below held while reading is paused: one lower read or a
 * few. */
#define HELD_LIMIT (4u * 1024 * 1024)
#define MAX_RECORD 16384

enum {
  ST_CONNECTING, /* the lower stream is dialing (client) */
  ST_HANDSHAKE,
  ST_OPEN,
  ST_CLOSING, /* close requested or failed: letting the last bytes out */
  ST_CLOSED,  /* the lower stream and the timer are closing; on_closed follows */
};

typedef struct tls_stream {
  wr_stream base;
  wr_stream *lower; /* NULL once its on_closed came */
  uv_timer_t timer; /* handshake deadline, resume after a pause, linger */
  wr_tls_stream_config cfg;
  wr_tls_session tls;
  int state;
  unsigned is_server : 1, connected : 1, shut : 1, peer_eof : 1, lower_eof : 1, paused : 1,
      want_writable : 1, app_gone : 1, corked : 1, eof_told : 1, lower_shut : 1, resume_pending : 1;
  int pending; /* the timer and the lower stream, until both are closed */
  int close_err;
  char close_reason[WR_TLS_ERRLEN];
  /* Ciphertext from below: the current delivery (in) or what is held. */
  const uint8_t *in;
  size_t inlen, inpos;
  wr_buf held;
  wr_buf out;           /* ciphertext the lower stream has not taken yet */
  size_t linger_queued; /* closing: our queue when the linger clock last started */
  uint64_t pushed;      /* ciphertext bytes GnuTLS produced, ever */
  struct sockaddr_storage peer, local;
  char peerstr[WR_ADDR_STRLEN + 8];
  char alpn[64];
  char sni[256];
} tls_stream;

static const wr_stream_ops tls_ops;
static const wr_stream_events lower_events;

static tls_stream *T(const wr_stream *s) { return (tls_stream *)s; }

static void process(tls_stream *t);
static void on_tick(uv_timer_t *tm);
static void fail(tls_stream *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void apply_defaults(wr_tls_stream_config *c) {
  if (!c->write_queue_limit)
    c->write_queue_limit = WR_TLS_STREAM_DEFAULT_WRITE_QUEUE;
  if (!c->handshake_timeout_ms)
    c->handshake_timeout_ms = WR_TLS_STREAM_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!c->linger_ms)
    c->linger_ms = WR_TLS_STREAM_DEFAULT_LINGER_MS;
}

/* ---- GnuTLS transport on memory ---- */

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t len) {
  tls_stream *t = p;
  if (t->inpos == t->inlen) {
    gnutls_transport_set_errno(t->tls.gs, EAGAIN);
    return -1;
  }
  size_t n = t->inlen - t->inpos;
  if (n > len)
    n = len;
  memcpy(data, t->in + t->inpos, n);
  t->inpos += n;
  return (ssize_t)n;
}

/* GnuTLS asks whether bytes wait (ms is always 0 for a non-blocking session).
 * Without this it would select() on our pointer as if it were a descriptor. */
static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms) {
  (void)ms;
  tls_stream *t = p;
  return t->inpos < t->inlen ? 1 : 0;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t len) {
  tls_stream *t = p;
  if (wr_buf_append(&t->out, data, len) != 0) {
    gnutls_transport_set_errno(t->tls.gs, ENOMEM);
    return -1;
  }
  t->pushed += len;
  return (ssize_t)len;
}

/* Our queue (ciphertext, corked plaintext) plus the lower stream's count,
 * queued or in flight. */
static size_t tls_count(const wr_stream *s, size_t (*lower_count)(const wr_stream *)) {
  const tls_stream *t = T(s);
  size_t q = t->out.len;
  if (t->lower && t->state != ST_CLOSED)
    q += lower_count(t->lower);
  if (t->corked && t->tls.gs)
    q += gnutls_record_check_corked(t->tls.gs);
  return q;
}
static size_t tls_queued(const wr_stream *s) { return tls_count(s, wr_stream_queued); }
static size_t tls_in_flight(const wr_stream *s) { return tls_count(s, wr_stream_in_flight); }

/* Hands the gathered ciphertext to the lower stream: what it does not take
 * waits in out for its on_writable. */
static void flush_out(tls_stream *t) {
  if (!t->out.len || !t->lower || t->state == ST_CLOSED || t->state == ST_CONNECTING)
    return;
  ssize_t n = wr_stream_write(t->lower, t->out.data, t->out.len);
  if (n > 0)
    wr_buf_consume(&t->out, (size_t)n);
  /* WR_ERR_CLOSED: the lower stream failed, its on_closed tells why. */
  /* The lower stream may have taken it all at once (the kernel did): then
   * no on_writable comes from below, and a writer told AGAIN hears from the
   * loop instead, never inside its own call. */
  if (t->want_writable && t->state == ST_OPEN &&
      tls_queued(&t->base) <= t->cfg.write_queue_limit / 2)
    uv_timer_start(&t->timer, on_tick, 0, 0);
}

/* ---- closing ---- */

static void maybe_free(tls_stream *t) {
  if (--t->pending > 0)
    return;
  if (t->base.ev && t->base.ev->on_closed)
    t->base.ev->on_closed(&t->base, t->close_err, t->close_reason);
  wr_tls_session_free(&t->tls);
  wr_buf_free(&t->out);
  wr_buf_free(&t->held);
  wr_free(t);
}

static void on_timer_closed(uv_handle_t *h) { maybe_free(h->data); }

/* Ends the filter: the lower stream closes (gracefully: our last bytes go
 * first) and on_closed follows once it and the timer are gone. */
static void close_all(tls_stream *t) {
  if (t->state == ST_CLOSED)
    return;
  t->state = ST_CLOSED;
  t->app_gone = 1;
  uv_timer_stop(&t->timer);
  uv_close((uv_handle_t *)&t->timer, on_timer_closed);
  if (t->lower)
    wr_stream_close(t->lower);
}

/* The wait for the last bytes runs out: while they keep going down it
 * starts again (a slow peer gets all of them, as io/tcp's close does); after
 * linger_ms without progress the filter ends. */
static size_t closing_queued(const tls_stream *t) {
  return t->out.len + (t->lower ? wr_stream_in_flight(t->lower) : 0);
}

static void on_linger_timeout(uv_timer_t *tm) {
  tls_stream *t = tm->data;
  size_t q = closing_queued(t);
  if (t->out.len > 0 && q < t->linger_queued) {
    t->linger_queued = q;
    uv_timer_start(&t->timer, on_linger_timeout, t->cfg.linger_ms, 0);
    return;
  }
  close_all(t);
}

/* Enters ST_CLOSING: lets the queued ciphertext (and an alert or
 * close_notify) go down, then closes; the timer bounds the wait. */
static void begin_close(tls_stream *t) {
  t->app_gone = 1;
  if (t->state == ST_CONNECTING || !t->lower) {
    close_all(t);
    return;
  }
  t->state = ST_CLOSING;
  flush_out(t);
  if (!t->out.len) {
    close_all(t);
    return;
  }
  t->linger_queued = closing_queued(t);
  uv_timer_start(&t->timer, on_linger_timeout, t->cfg.linger_ms, 0);
}

static void fail(tls_stream *t, int err, const char *fmt, ...) {
  if (t->state == ST_CLOSED)
    return;
  /* Keep the first reason; a close the owner asked for stays err 0. A second
   * failure while closing just ends the wait. */
  if (t->state != ST_CLOSING) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->close_reason, sizeof t->close_reason, fmt, ap);
    va_end(ap);
    t->close_err = err;
    if (err)
      WR_DEBUG("TLS connection failed", "peer=%s err=%s reason=%s", t->peerstr, wr_strerror(err),
               t->close_reason);
  }
  if (t->state == ST_CLOSING) {
    close_all(t);
    return;
  }
  begin_close(t);
}

/* ---- the handshake and records ---- */

static void handshake_failed(tls_stream *t, int grc, uint64_t pushed_before) {
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
static int do_handshake(tls_stream *t) {
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
        if (gnutls_server_name_get(t->tls.gs, t->sni, &n, &type, 0) != 0 || type != GNUTLS_NAME_DNS)
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

static void record_failed(tls_stream *t, ssize_t n) {
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
}

static void tell_eof(tls_stream *t) {
  if (t->eof_told)
    return;
  t->eof_told = 1;
  if (!t->app_gone && t->base.ev->on_eof)
    t->base.ev->on_eof(&t->base);
}

static void deliver_records(tls_stream *t) {
  uint8_t buf[MAX_RECORD + 256];
  /* Bounded work per wakeup: one lower delivery plus GnuTLS's pending
   * record; a pause stops it early. */
  for (int i = 0; i < 64; i++) {
    if (t->state == ST_CLOSED)
      return;
    int discard = t->app_gone;
    if (!discard && t->paused)
      return;
    ssize_t n = gnutls_record_recv(t->tls.gs, buf, sizeof buf);
    if (n > 0) {
      if (!discard && t->base.ev->on_data)
        t->base.ev->on_data(&t->base, buf, (size_t)n);
      continue;
    }
    if (n == 0) {
      t->peer_eof = 1;
      tell_eof(t);
      return;
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      /* GnuTLS also answers AGAIN after a post-handshake message (a TLS 1.3
       * NewSessionTicket, which OpenSSL servers send) with bytes still
       * unread: go on while there are, or the records after it would wait
       * for the next delivery, which may never come. */
      if (t->inpos < t->inlen)
        continue;
      return;
    }
    if (!gnutls_error_is_fatal((int)n))
      continue;
    record_failed(t, n);
    return;
  }
}

/* The lower stream ended (and every byte before its end was processed). */
static void lower_ended(tls_stream *t) {
  if (t->state == ST_CLOSING || t->state == ST_CLOSED) {
    if (t->state == ST_CLOSING)
      close_all(t);
    return;
  }
  if (t->paused && !t->app_gone && gnutls_record_check_pending(t->tls.gs) > 0)
    return;
  if (t->state == ST_HANDSHAKE || t->state == ST_CONNECTING) {
    fail(t, WR_ERR_CLOSED, "%s closed the connection during the TLS handshake", t->peerstr);
  } else if (!t->peer_eof && !t->cfg.eof_without_close_notify) {
    fail(t, WR_ERR_CLOSED, "%s closed the connection without TLS close_notify", t->peerstr);
  } else if (!t->peer_eof) {
    tell_eof(t);
  } else if (t->shut) {
    /* Both sides are done: nothing left to say. */
    snprintf(t->close_reason, sizeof t->close_reason, "the connection ended on both sides");
    close_all(t);
  }
}

static void process(tls_stream *t) {
  if (t->state == ST_HANDSHAKE) {
    if (!do_handshake(t))
      goto eof;
    if (!t->app_gone && t->base.ev->on_connected)
      t->base.ev->on_connected(&t->base);
  }
  if (t->state == ST_OPEN || t->state == ST_CLOSING)
    deliver_records(t);
  flush_out(t); /* alerts, key updates */
eof:
  if (t->state != ST_CLOSED && t->lower_eof && t->inpos == t->inlen)
    lower_ended(t);
}

/* Processes ciphertext: data (a lower delivery, or NULL for what is held).
 * What the records in it do not use up yet (a pause) is held, copied. */
static void take_input(tls_stream *t, const uint8_t *data, size_t len) {
  int from_held = 0;
  if (!data || t->held.len) {
    if (data && wr_buf_append(&t->held, data, len) != 0) {
      fail(t, WR_ERR_NOMEM, "out of memory while reading from %s", t->peerstr);
      return;
    }
    data = t->held.data;
    len = t->held.len;
    from_held = 1;
  }
  t->in = data;
  t->inlen = len;
  t->inpos = 0;
  process(t);
  size_t used = t->inpos, left = t->inlen - t->inpos;
  t->in = NULL;
  t->inlen = t->inpos = 0;
  if (t->state == ST_CLOSED) {
    wr_buf_free(&t->held);
    return;
  }
  if (from_held)
    wr_buf_consume(&t->held, used);
  else if (left && wr_buf_append(&t->held, data + used, left) != 0)
    fail(t, WR_ERR_NOMEM, "out of memory while reading from %s", t->peerstr);
}

/* ---- events of the lower stream ---- */

static void lower_on_connected(wr_stream *ls) {
  tls_stream *t = ls->user;
  if (t->state != ST_CONNECTING)
    return;
  memcpy(&t->local, wr_stream_local_addr(ls), sizeof t->local);
  t->state = ST_HANDSHAKE;
  process(t); /* sends the ClientHello */
}

static void lower_on_data(wr_stream *ls, const uint8_t *data, size_t len) {
  tls_stream *t = ls->user;
  if (t->state == ST_CLOSED)
    return;
  take_input(t, data, len);
  /* Paused during the handshake or by a callback just now: hold the socket
   * back too, so TCP's flow control reaches the peer. */
  if (t->paused && t->state == ST_OPEN && t->lower)
    wr_stream_read_stop(t->lower);
}

static void lower_on_eof(wr_stream *ls) {
  tls_stream *t = ls->user;
  if (t->state == ST_CLOSED)
    return;
  t->lower_eof = 1;
  if (t->held.len == 0)
    lower_ended(t);
  else if (!t->paused)
    take_input(t, NULL, 0);
}

static void shut_lower(tls_stream *t);

static void lower_on_writable(wr_stream *ls) {
  tls_stream *t = ls->user;
  flush_out(t);
  shut_lower(t);
  if (t->state == ST_CLOSING && !t->out.len) {
    close_all(t);
    return;
  }
  if (t->want_writable && t->state == ST_OPEN && !t->app_gone &&
      tls_queued(&t->base) <= t->cfg.write_queue_limit / 2) {
    t->want_writable = 0;
    if (t->base.ev->on_writable)
      t->base.ev->on_writable(&t->base);
  }
}

static void lower_on_closed(wr_stream *ls, int err, const char *reason) {
  tls_stream *t = ls->user;
  t->lower = NULL;
  if (t->state != ST_CLOSED) {
    /* It ended on its own: a connect that failed, a reset, a socket error. */
    if (t->state != ST_CLOSING) {
      if (err == 0) {
        err = WR_ERR_CLOSED;
        reason = "the connection below TLS was closed";
      }
      snprintf(t->close_reason, sizeof t->close_reason, "%s", reason);
      t->close_err = err;
    }
    close_all(t);
  }
  maybe_free(t);
}

static const wr_stream_events lower_events = {
    .on_connected = lower_on_connected,
    .on_data = lower_on_data,
    .on_eof = lower_on_eof,
    .on_writable = lower_on_writable,
    .on_closed = lower_on_closed,
};

/* ---- the owner's calls ---- */

static ssize_t tls_write(wr_stream *s, const struct iovec *iov, size_t niov) {
  tls_stream *t = T(s);
  if (t->app_gone || t->shut || t->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (!t->connected)
    return WR_ERR_AGAIN;
  size_t q = tls_queued(s);
  if (q >= t->cfg.write_queue_limit) {
    t->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  size_t room = t->cfg.write_queue_limit - q, total = 0, done = 0;
  for (size_t i = 0; i < niov; i++)
    total += iov[i].iov_len;
  size_t n = total < room ? total : room;
  for (size_t i = 0; i < niov && done < n; i++) {
    const uint8_t *p = iov[i].iov_base;
    size_t len = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
    size_t off = 0;
    while (off < len) {
      size_t m = len - off < MAX_RECORD ? len - off : MAX_RECORD;
      ssize_t r = gnutls_record_send(t->tls.gs, p + off, m);
      if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        continue; /* our push never blocks; GnuTLS retries the record */
      if (r < 0) {
        fail(t, WR_ERR_IO, "TLS error while writing to %s: %s", t->peerstr,
             gnutls_strerror((int)r));
        return WR_ERR_CLOSED;
      }
      off += (size_t)r;
    }
    done += len;
  }
  if (n < total)
    t->want_writable = 1;
  if (!t->corked)
    flush_out(t);
  return (ssize_t)n;
}

static void tls_cork(wr_stream *s) {
  tls_stream *t = T(s);
  if (t->corked || t->state != ST_OPEN)
    return;
  gnutls_record_cork(t->tls.gs);
  t->corked = 1;
}

static void tls_uncork(wr_stream *s) {
  tls_stream *t = T(s);
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

static void tls_close(wr_stream *s);

/* The lower stream's FIN follows once our close_notify went down. */
static void shut_lower(tls_stream *t) {
  if (!t->shut || t->lower_shut || t->out.len || !t->lower || t->state != ST_OPEN)
    return;
  t->lower_shut = 1;
  if (wr_stream_shutdown(t->lower) != 0)
    WR_DEBUG("The stream below TLS was shut already", "peer=%s", t->peerstr);
}

static int tls_shutdown(wr_stream *s) {
  tls_stream *t = T(s);
  if (t->shut || t->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (!t->connected) {
    tls_close(s);
    return 0;
  }
  tls_uncork(s);
  t->shut = 1;
  int rc;
  do
    rc = gnutls_bye(t->tls.gs, GNUTLS_SHUT_WR);
  while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
  flush_out(t);
  shut_lower(t);
  return 0;
}

static void tls_close(wr_stream *s) {
  tls_stream *t = T(s);
  if (t->app_gone || t->state >= ST_CLOSING)
    return;
  t->close_err = 0;
  snprintf(t->close_reason, sizeof t->close_reason, "closed");
  if (!t->connected) {
    close_all(t); /* nothing to say to a peer mid-handshake */
    return;
  }
  if (!t->shut && tls_shutdown(s) != 0)
    return; /* cannot happen: not shut and open */
  if (t->state == ST_CLOSED)
    return;
  t->paused = 0;
  begin_close(t);
}

static void tls_reset(wr_stream *s) {
  tls_stream *t = T(s);
  if (t->state == ST_CLOSED)
    return;
  t->app_gone = 1;
  if (t->close_err == 0 && !t->close_reason[0])
    snprintf(t->close_reason, sizeof t->close_reason, "reset");
  wr_stream *lower = t->lower;
  t->lower = NULL; /* so close_all leaves it to the reset below */
  close_all(t);
  t->lower = lower;
  if (lower)
    wr_stream_reset(lower);
}

/* From the loop, while open: tells a waiting writer the queue drained, and
 * delivers what was held during a pause once reading resumed. */
static void on_tick(uv_timer_t *tm) {
  tls_stream *t = tm->data;
  if (t->state != ST_OPEN)
    return;
  if (t->want_writable && !t->app_gone && tls_queued(&t->base) <= t->cfg.write_queue_limit / 2) {
    t->want_writable = 0;
    if (t->base.ev->on_writable)
      t->base.ev->on_writable(&t->base);
    if (t->state != ST_OPEN)
      return;
  }
  if (!t->resume_pending || t->paused)
    return;
  t->resume_pending = 0;
  take_input(t, NULL, 0);
  if (t->state == ST_OPEN && !t->paused && t->lower)
    wr_stream_read_start(t->lower);
}

static void tls_read_stop(wr_stream *s) {
  tls_stream *t = T(s);
  if (t->paused || t->state >= ST_CLOSING)
    return;
  t->paused = 1;
  if (t->state == ST_OPEN && t->lower)
    wr_stream_read_stop(t->lower);
}

static void tls_read_start(wr_stream *s) {
  tls_stream *t = T(s);
  if (!t->paused || t->state >= ST_CLOSING)
    return;
  t->paused = 0;
  if (t->state != ST_OPEN)
    return;
  /* Bytes read before the pause are delivered from the loop, never inside
   * this call (the caller may be in the middle of its own bookkeeping). */
  if (t->held.len || gnutls_record_check_pending(t->tls.gs) > 0 || t->lower_eof) {
    t->resume_pending = 1;
    uv_timer_start(&t->timer, on_tick, 0, 0);
  } else if (t->lower)
    wr_stream_read_start(t->lower);
}

static const struct sockaddr *tls_peer_addr(const wr_stream *s) {
  return (const struct sockaddr *)&T(s)->peer;
}
static const struct sockaddr *tls_local_addr(const wr_stream *s) {
  return (const struct sockaddr *)&T(s)->local;
}
static const char *tls_peer_str(const wr_stream *s) { return T(s)->peerstr; }

static const wr_stream_ops tls_ops = {
    .kind = "tls",
    .write = tls_write,
    .queued = tls_queued,
    .in_flight = tls_in_flight,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .reset = tls_reset,
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .cork = tls_cork,
    .uncork = tls_uncork,
    .peer_addr = tls_peer_addr,
    .local_addr = tls_local_addr,
    .peer_str = tls_peer_str,
};

/* ---- making filters ---- */

static void on_handshake_timeout(uv_timer_t *tm) {
  tls_stream *t = tm->data;
  if (t->state == ST_CONNECTING)
    fail(t, WR_ERR_TIMEOUT, "could not connect to %s within %llu ms", t->peerstr,
         (unsigned long long)t->cfg.handshake_timeout_ms);
  else
    fail(t, WR_ERR_TIMEOUT, "the TLS handshake with %s did not complete within %llu ms", t->peerstr,
         (unsigned long long)t->cfg.handshake_timeout_ms);
}

static void on_start(uv_timer_t *tm) {
  tls_stream *t = tm->data;
  uv_timer_start(&t->timer, on_handshake_timeout, t->cfg.handshake_timeout_ms, 0);
  process(t);
}

/* A filter over lower with its session started by init (client or server),
 * or NULL (then lower was closed). */
static tls_stream *filter_new(wr_stream *lower, const wr_tls_stream_config *cfg,
                              const wr_stream_events *ev, void *user) {
  tls_stream *t = wr_calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->cfg = *cfg;
  apply_defaults(&t->cfg);
  t->base.ops = &tls_ops;
  t->base.ev = ev;
  t->base.user = user;
  t->lower = lower;
  wr_buf_init(&t->out, OUT_HARD_LIMIT);
  wr_buf_init(&t->held, HELD_LIMIT);
  snprintf(t->peerstr, sizeof t->peerstr, "%s", wr_stream_peer_str(lower));
  memcpy(&t->peer, wr_stream_peer_addr(lower), sizeof t->peer);
  memcpy(&t->local, wr_stream_local_addr(lower), sizeof t->local);
  return t;
}

/* A filter that could not be made: frees it (t may be NULL) and closes lower,
 * whose owner hears nothing more of it. */
static void filter_abandon(tls_stream *t, wr_stream *lower) {
  if (t) {
    wr_tls_session_free(&t->tls);
    wr_buf_free(&t->out);
    wr_buf_free(&t->held);
    wr_free(t);
  }
  wr_stream_set_events(lower, NULL, NULL);
  wr_stream_reset(lower);
}

/* Takes lower over and starts the clock. */
static void filter_start(tls_stream *t, uv_loop_t *loop, int state, int kick) {
  gnutls_transport_set_ptr(t->tls.gs, t);
  gnutls_transport_set_push_function(t->tls.gs, push);
  gnutls_transport_set_pull_function(t->tls.gs, pull);
  gnutls_transport_set_pull_timeout_function(t->tls.gs, pull_timeout);
  wr_stream_set_events(t->lower, &lower_events, t);
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  t->pending = 2;
  t->state = state;
  if (kick) /* the ClientHello goes from the loop, never inside the call */
    uv_timer_start(&t->timer, on_start, 0, 0);
  else
    uv_timer_start(&t->timer, on_handshake_timeout, t->cfg.handshake_timeout_ms, 0);
}

int wr_tls_stream_client(wr_stream **ps, uv_loop_t *loop, wr_stream *lower, const char *server_name,
                         const wr_tls_client *tls, const wr_tls_stream_config *cfg,
                         const wr_stream_events *ev, void *user) {
  *ps = NULL;
  int rc = WR_ERR_INVAL;
  tls_stream *t = NULL;
  if (!cfg || !cfg->alpn || !tls || !server_name || !server_name[0] || !ev)
    goto fail;
  rc = WR_ERR_NOMEM;
  t = filter_new(lower, cfg, ev, user);
  if (!t)
    goto fail;
  rc = wr_tls_session_init_stream_client(&t->tls, tls, server_name, t->cfg.alpn, t->cfg.tls_flags);
  if (rc != 0)
    goto fail;
  filter_start(t, loop, cfg->lower_connected ? ST_HANDSHAKE : ST_CONNECTING, cfg->lower_connected);
  *ps = &t->base;
  return 0;
fail:
  filter_abandon(t, lower);
  return rc;
}

int wr_tls_stream_server(wr_stream **ps, uv_loop_t *loop, wr_stream *lower,
                         const wr_tls_server *tls, const wr_tls_stream_config *cfg,
                         const wr_stream_events *ev, void *user) {
  *ps = NULL;
  int rc = WR_ERR_INVAL;
  tls_stream *t = NULL;
  if (!cfg || !cfg->alpn || !tls || !ev)
    goto fail;
  rc = WR_ERR_NOMEM;
  t = filter_new(lower, cfg, ev, user);
  if (!t)
    goto fail;
  t->is_server = 1;
  rc = wr_tls_session_init_stream_server(&t->tls, tls, t->cfg.alpn, t->cfg.tls_flags);
  if (rc != 0)
    goto fail;
  filter_start(t, loop, ST_HANDSHAKE, 0);
  *ps = &t->base;
  return 0;
fail:
  filter_abandon(t, lower);
  return rc;
}

int wr_tls_stream_is(const wr_stream *s) { return s->ops == &tls_ops; }
int wr_tls_stream_is_connected(const wr_stream *s) {
  return T(s)->connected && T(s)->state == ST_OPEN;
}
int wr_tls_stream_is_server(const wr_stream *s) { return T(s)->is_server; }
const char *wr_tls_stream_alpn(const wr_stream *s) { return T(s)->alpn; }
const char *wr_tls_stream_server_name(const wr_stream *s) { return T(s)->sni; }
wr_stream *wr_tls_stream_lower(const wr_stream *s) { return T(s)->lower; }

int wr_tls_stream_export(const wr_stream *s, const char *label, const uint8_t *context,
                         size_t contextlen, uint8_t *out, size_t outlen) {
  if (!T(s)->connected)
    return WR_ERR_INVAL;
  return wr_tls_session_export(&T(s)->tls, label, context, contextlen, out, outlen);
}
