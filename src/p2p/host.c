/* host.c: the libp2p host over TCP and QUIC (p2p/host.h). */
#include "p2p/host.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"
#include "io/random.h"
#include "io/tcp.h"
#include "net/noise_stream.h"
#include "net/quic.h"
#include "net/tls.h"
#include "proto/multiformats/varint.h"
#include "proto/p2p/multistream.h"
#include "proto/p2p/noise.h"
#include "proto/p2p/tlsext.h"
#include "proto/p2p/yamux.h"

#define MAX_HANDLERS 32
#define PING_SIZE 32

typedef struct handler {
  char *protocol;
  wr_p2p_handler_fn fn;
  void *data;
} handler;

typedef struct listener {
  wr_tcp_listener *l;
  wr_quic_endpoint *ep; /* a /udp/P/quic-v1 listener instead */
  wr_maddr addr;        /* bound, port resolved */
} listener;

struct wr_p2p_host {
  uv_loop_t *loop;
  wr_p2p_host_config cfg;
  const wr_p2p_host_events *ev;
  void *user;
  wr_p2p_privkey key;
  wr_peerid id;
  handler handlers[MAX_HANDLERS];
  size_t nhandlers;
  listener listeners[WR_P2P_MAX_LISTEN];
  size_t nlisteners;
  wr_p2p_conn *conns; /* every connection, upgrading or open */
  /* libp2p TLS for QUIC, made on first use; endpoints for dials from
   * families no QUIC listener has (IPv4, IPv6). */
  wr_tls_server *tls_srv;
  wr_tls_client *tls_cli;
  wr_quic_endpoint *dial_ep[2];
  uint32_t nconns;
  int closing, pending;
  void (*close_cb)(wr_p2p_host *h, void *data);
  void *close_data;
};

enum { C_CONNECTING, C_MS_SEC, C_NOISE, C_MS_MUX, C_OPEN };

struct wr_p2p_conn {
  wr_p2p_host *h;
  wr_p2p_conn *next, *prev;
  wr_stream *s;
  wr_quic_conn *qc; /* a QUIC connection: its streams replace yamux's */
  int quic;
  int state, outbound, closing, announced, depth, pending;
  wr_ms ms;
  wr_buf msin; /* negotiation bytes received and not yet used */
  wr_buf msout;
  wr_yamux_session y;
  int y_live;
  wr_peerid peer, expected;
  int has_expected;
  wr_maddr remote;
  uv_timer_t timer; /* the upgrade deadline, then keep-alive pings */
  wr_p2p_dial_cb dial_cb;
  void *dial_data;
  wr_p2p_peer_info info;
  /* ping */
  wr_p2p_stream *ping_st;
  wr_p2p_ping_cb ping_cb;
  void *ping_data;
  uint8_t ping_sent[PING_SIZE];
  size_t ping_got;
  uint64_t ping_t0;
  int ping_wait;
  int ka_outstanding; /* a keep-alive PING awaits its ACK */
  int err;
  char reason[256];
};

struct wr_p2p_stream {
  wr_p2p_conn *c;
  wr_yamux_stream *ys;
  wr_quic_stream *qs; /* on a QUIC connection, instead of ys */
  const wr_p2p_stream_events *ev;
  void *user;
  int negotiating, inbound, manual_consume, aborted;
  wr_ms ms;
  wr_buf msin; /* negotiation bytes received and not yet used */
  const char *offer[1];
  char protocol[WR_MS_MAX_PROTO];
  int err;
  const char *reason;
};

static const char *const SEC_OFFERS[] = {WR_NOISE_PROTOCOL};
static const char *const MUX_OFFERS[] = {WR_YAMUX_PROTOCOL};

static const wr_stream_events conn_events;
static const wr_yamux_events y_events;
static void conn_after(wr_p2p_conn *c);
static void conn_fail(wr_p2p_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void start_identify(wr_p2p_conn *c);
static const wr_quic_callbacks q_conn_callbacks;

/* For results that change nothing here: a failed GO_AWAY or FIN on a
 * connection being dropped, an address we could not print. */
static void ignore_rv(long rv) { (void)rv; }

static const char *peer_str(const wr_p2p_conn *c) {
  static char b[WR_PEERID_MAX_STR];
  if (c->state < C_MS_MUX || wr_peerid_format(&c->peer, b, sizeof b) < 0)
    return "-";
  return b;
}

/* ---- connection plumbing ---- */

static void conn_fail(wr_p2p_conn *c, int err, const char *fmt, ...) {
  if (c->closing)
    return;
  c->closing = 1;
  c->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->reason, sizeof c->reason, fmt, ap);
  va_end(ap);
  if (c->y_live) {
    ignore_rv(wr_yamux_goaway(&c->y, err == 0 ? WR_YAMUX_GOAWAY_NORMAL : WR_YAMUX_GOAWAY_PROTOCOL));
    conn_after(c);
  }
  uv_timer_stop(&c->timer);
  if (c->qc)
    wr_quic_conn_close(c->qc, err == 0 ? 0 : 1, c->reason);
  if (c->s) {
    /* A live peer gets the GO_AWAY out (a graceful close); a silent one
     * would only hold the socket for the linger time. */
    if ((err == 0 || c->y_live) && err != WR_ERR_TIMEOUT)
      wr_stream_close(c->s);
    else
      wr_stream_reset(c->s);
  }
}

/* Sends what the yamux session has queued. */
static void conn_flush(wr_p2p_conn *c) {
  if (!c->s || !c->y_live)
    return;
  while (c->y.out.len > 0) {
    ssize_t w = wr_stream_write(c->s, c->y.out.data, c->y.out.len);
    if (w == WR_ERR_AGAIN)
      return;
    if (w < 0) {
      wr_buf_reset(&c->y.out);
      return;
    }
    wr_buf_consume(&c->y.out, (size_t)w);
    if (w == 0)
      return;
  }
}

/* After any work: send, wake blocked writers, and (outside callbacks)
 * announce finished streams. */
static void conn_after(wr_p2p_conn *c) {
  if (!c->y_live)
    return;
  conn_flush(c);
  if (c->depth == 0) {
    c->depth++;
    wr_yamux_out_drained(&c->y);
    conn_flush(c);
    wr_yamux_reap(&c->y);
    conn_flush(c);
    c->depth--;
  }
}

static void ms_send(wr_p2p_conn *c) {
  if (c->msout.len && c->s) {
    ssize_t w = wr_stream_write(c->s, c->msout.data, c->msout.len);
    if (w > 0)
      wr_buf_consume(&c->msout, (size_t)w);
  }
}

/* Drops one of the things a closing host waits for; the last frees it. */
static void host_unref(wr_p2p_host *h) {
  if (--h->pending > 0)
    return;
  void (*cb)(wr_p2p_host *, void *) = h->close_cb;
  void *d = h->close_data;
  for (size_t i = 0; i < h->nhandlers; i++)
    wr_free(h->handlers[i].protocol);
  memset(&h->key, 0, sizeof h->key);
  wr_tls_server_del(h->tls_srv);
  wr_tls_client_del(h->tls_cli);
  wr_free(h);
  if (cb)
    cb(NULL, d);
}

static void maybe_free_conn(wr_p2p_conn *c) {
  if (--c->pending > 0)
    return;
  wr_p2p_host *h = c->h;
  if (c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  h->nconns--;
  /* A closing host counted this connection; one that starts closing inside
   * the callbacks below did not (it was unlinked), and may be freed there. */
  int counted = h->closing;
  if (c->announced && h->ev && h->ev->on_conn_closed)
    h->ev->on_conn_closed(h, c, c->err, c->reason);
  else if (!c->announced && c->dial_cb)
    c->dial_cb(h, NULL, c->err ? c->err : WR_ERR_CLOSED, c->reason, c->dial_data);
  for (size_t i = 0; i < c->info.nprotocols; i++)
    wr_free(c->info.protocols[i]);
  wr_buf_free(&c->msin);
  wr_buf_free(&c->msout);
  if (c->y_live)
    wr_yamux_free(&c->y);
  wr_free(c);
  if (counted)
    host_unref(h);
}

static void on_conn_timer_closed(uv_handle_t *t) { maybe_free_conn(t->data); }

static void on_conn_timer(uv_timer_t *t) {
  wr_p2p_conn *c = t->data;
  if (c->state != C_OPEN) {
    conn_fail(c, WR_ERR_TIMEOUT, "the connection upgrade did not finish within %llu ms",
              (unsigned long long)c->h->cfg.handshake_timeout_ms);
    return;
  }
  /* A keep-alive PING unanswered for a whole period means the peer is
   * gone (TCP alone can take many minutes to say so). */
  if (c->ka_outstanding) {
    conn_fail(c, WR_ERR_TIMEOUT, "peer %s answered no keep-alive PING for %llu ms", peer_str(c),
              (unsigned long long)c->h->cfg.keepalive_ms);
    return;
  }
  c->ka_outstanding = 1;
  ignore_rv(wr_yamux_ping(&c->y, (uint32_t)uv_now(t->loop)));
  conn_after(c);
}

static wr_p2p_conn *conn_new(wr_p2p_host *h, wr_stream *s, int outbound) {
  wr_p2p_conn *c = wr_calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->h = h;
  c->s = s;
  c->outbound = outbound;
  c->pending = 2; /* the stream and the timer */
  wr_buf_init(&c->msin, 2 * WR_MS_MAX_MSG);
  wr_buf_init(&c->msout, 4096);
  uv_timer_init(h->loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, on_conn_timer, h->cfg.handshake_timeout_ms, 0);
  c->next = h->conns;
  if (h->conns)
    h->conns->prev = c;
  h->conns = c;
  h->nconns++;
  return c;
}

static int has_handler(void *ctx, const char *proto) {
  wr_p2p_host *h = ctx;
  for (size_t i = 0; i < h->nhandlers; i++)
    if (strcmp(h->handlers[i].protocol, proto) == 0)
      return 1;
  return 0;
}

static int is_noise(void *ctx, const char *proto) {
  (void)ctx;
  return strcmp(proto, WR_NOISE_PROTOCOL) == 0;
}

static int is_yamux(void *ctx, const char *proto) {
  (void)ctx;
  return strcmp(proto, WR_YAMUX_PROTOCOL) == 0;
}

static void conn_opened(wr_p2p_conn *c) {
  wr_p2p_host *h = c->h;
  c->state = C_OPEN;
  if (!c->quic) {
    wr_yamux_config ycfg = {.max_streams = h->cfg.max_streams};
    if (wr_yamux_init(&c->y, c->outbound, &ycfg, &y_events, c) != 0) {
      conn_fail(c, WR_ERR_NOMEM, "out of memory");
      return;
    }
    c->y_live = 1;
  }
  uv_timer_stop(&c->timer);
  /* QUIC keeps itself alive (PINGs, idle timeout); yamux needs ours. */
  if (h->cfg.keepalive_ms && !c->quic)
    uv_timer_start(&c->timer, on_conn_timer, h->cfg.keepalive_ms, h->cfg.keepalive_ms);
  c->announced = 1;
  char ma[WR_MA_MAX_STR];
  if (wr_maddr_format(&c->remote, ma, sizeof ma) < 0)
    snprintf(ma, sizeof ma, "-");
  WR_INFO("Peer connected", "peer=%s addr=%s direction=%s", peer_str(c), ma,
          c->outbound ? "outbound" : "inbound");
  if (c->dial_cb) {
    wr_p2p_dial_cb cb = c->dial_cb;
    c->dial_cb = NULL;
    cb(h, c, 0, "", c->dial_data);
  }
  if (h->ev && h->ev->on_conn_open)
    h->ev->on_conn_open(h, c);
  start_identify(c);
}

/* ---- events of the connection's byte stream (TCP, then Noise) ---- */

static void c_on_connected(wr_stream *s) {
  wr_p2p_conn *c = s->user;
  if (c->state == C_CONNECTING) {
    c->state = C_MS_SEC;
    if (wr_ms_dialer_init(&c->ms, SEC_OFFERS, 1, &c->msout) != 0) {
      conn_fail(c, WR_ERR_NOMEM, "out of memory");
      return;
    }
    ms_send(c);
    return;
  }
  if (c->state == C_NOISE) {
    c->peer = *wr_noise_stream_peer(s);
    if (c->has_expected && !wr_peerid_equal(&c->peer, &c->expected)) {
      char want[WR_PEERID_MAX_STR], got[WR_PEERID_MAX_STR];
      ignore_rv(wr_peerid_format(&c->expected, want, sizeof want));
      ignore_rv(wr_peerid_format(&c->peer, got, sizeof got));
      conn_fail(c, WR_ERR_DENIED, "dialed peer %s but %s answered", want, got);
      return;
    }
    c->state = C_MS_MUX;
    int rv = c->outbound ? wr_ms_dialer_init(&c->ms, MUX_OFFERS, 1, &c->msout)
                         : wr_ms_listener_init(&c->ms, is_yamux, NULL, &c->msout);
    if (rv != 0) {
      conn_fail(c, WR_ERR_NOMEM, "out of memory");
      return;
    }
    ms_send(c);
  }
}

static void c_on_data(wr_stream *s, const uint8_t *p, size_t n) {
  wr_p2p_conn *c = s->user;
  if (c->closing)
    return;
  if (c->state == C_OPEN) {
    const char *why = "bad yamux frame";
    c->depth++;
    int rv = wr_yamux_input(&c->y, p, n, &why);
    c->depth--;
    if (rv != 0) {
      conn_fail(c, WR_ERR_MALFORMED, "peer %s broke the yamux protocol: %s", peer_str(c), why);
      return;
    }
    conn_after(c);
    return;
  }
  if (c->state != C_MS_SEC && c->state != C_MS_MUX) {
    conn_fail(c, WR_ERR_MALFORMED, "bytes from the peer before the connection was set up");
    return;
  }
  /* Peers write a message's length and its line separately, so a
   * message may come in pieces: keep what is not used yet. */
  if (wr_buf_append(&c->msin, p, n) != 0) {
    conn_fail(c, WR_ERR_MALFORMED, "peer %s sent too much during protocol negotiation",
              wr_stream_peer_str(s));
    return;
  }
  p = c->msin.data;
  n = c->msin.len;
  size_t used = 0;
  const char *why = "multistream-select failed";
  int rv = wr_ms_input(&c->ms, p, n, &used, &c->msout, &why);
  ms_send(c);
  if (rv < 0) {
    conn_fail(c, rv == WR_ERR_NOTFOUND ? WR_ERR_UNSUPPORTED : WR_ERR_MALFORMED,
              "connection upgrade with %s failed: %s", wr_stream_peer_str(s), why);
    return;
  }
  if (rv != WR_MS_DONE) {
    wr_buf_consume(&c->msin, used);
    return;
  }
  /* What follows the last message belongs to the next layer; take it out
   * of msin before handing it on. */
  uint8_t rest[2 * WR_MS_MAX_MSG];
  size_t nrest = n - used;
  memcpy(rest, p + used, nrest);
  wr_buf_reset(&c->msin);
  p = rest;
  n = nrest;
  used = 0;
  if (c->state == C_MS_SEC) {
    c->state = C_NOISE;
    wr_noise_stream_config ncfg = {.handshake_timeout_ms = c->h->cfg.handshake_timeout_ms};
    wr_stream *ns;
    rv = wr_noise_stream_new(&ns, c->h->loop, s, c->outbound, &c->h->key, p + used, n - used, &ncfg,
                             &conn_events, c);
    if (rv != 0) {
      /* The filter closed the TCP stream; its on_closed will not reach us,
       * so finish here. */
      c->s = NULL;
      c->closing = 1;
      c->err = rv;
      snprintf(c->reason, sizeof c->reason, "cannot start Noise: %s", wr_strerror(rv));
      uv_timer_stop(&c->timer);
      maybe_free_conn(c);
      return;
    }
    c->s = ns;
    return;
  }
  conn_opened(c);
  if (!c->closing && used < n) {
    c_on_data(s, p + used, n - used);
  }
}

static void c_on_eof(wr_stream *s) {
  wr_p2p_conn *c = s->user;
  conn_fail(c, c->state == C_OPEN ? 0 : WR_ERR_CLOSED, "peer %s closed the connection",
            peer_str(c));
}

static void c_on_writable(wr_stream *s) {
  wr_p2p_conn *c = s->user;
  ms_send(c);
  conn_after(c);
}

static void c_on_closed(wr_stream *s, int err, const char *reason) {
  wr_p2p_conn *c = s->user;
  c->s = NULL;
  if (!c->closing) {
    c->closing = 1;
    c->err = err ? err : WR_ERR_CLOSED;
    snprintf(c->reason, sizeof c->reason, "%s", reason && *reason ? reason : "connection closed");
  } else if (c->err == 0 && err != 0 && err != WR_ERR_CLOSED) {
    c->err = err;
  }
  if (c->y_live) {
    wr_yamux_fail(&c->y);
    c->depth = 0;
    wr_yamux_reap(&c->y);
  }
  if (c->announced)
    WR_INFO("Peer disconnected", "peer=%s reason=\"%s\"", peer_str(c), c->reason);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
  maybe_free_conn(c);
}

static const wr_stream_events conn_events = {
    .on_connected = c_on_connected,
    .on_data = c_on_data,
    .on_eof = c_on_eof,
    .on_writable = c_on_writable,
    .on_closed = c_on_closed,
};

/* ---- streams ---- */

/* The stream operations of the two muxers: yamux inside Noise over TCP, or
 * QUIC's native streams. */
static ssize_t st_raw_write(wr_p2p_stream *st, const void *p, size_t n) {
  if (st->qs)
    return st->aborted ? WR_ERR_CLOSED : wr_quic_stream_write(st->qs, p, n);
  return wr_yamux_stream_write(st->ys, p, n);
}

static void st_raw_consume(wr_p2p_stream *st, size_t n) {
  if (st->qs)
    wr_quic_stream_consume(st->qs, n);
  else
    wr_yamux_stream_consume(st->ys, n);
}

static int st_raw_end(wr_p2p_stream *st) {
  if (st->qs)
    return st->aborted ? WR_ERR_CLOSED : wr_quic_stream_end(st->qs);
  return wr_yamux_stream_end(st->ys);
}

/* Both directions, as a yamux RST; the close follows from the loop. */
static void st_raw_reset(wr_p2p_stream *st) {
  if (st->qs) {
    if (!st->aborted)
      ignore_rv(wr_quic_stream_abort(st->qs, 0));
    st->aborted = 1;
    return;
  }
  wr_yamux_stream_reset(st->ys);
}

/* Still there after a callback that may have reset it or lost its
 * connection. */
static int st_alive(wr_p2p_stream *st) {
  if (st->qs)
    return !st->aborted && !st->c->closing;
  return st->c->y.table && wr_yamux_stream_user(st->ys) == st;
}

static wr_p2p_stream *stream_new(wr_p2p_conn *c, wr_yamux_stream *ys) {
  wr_p2p_stream *st = wr_calloc(1, sizeof *st);
  if (!st)
    return NULL;
  st->c = c;
  st->ys = ys;
  st->negotiating = 1;
  wr_buf_init(&st->msin, 2 * WR_MS_MAX_MSG);
  return st;
}

/* Negotiation bytes: nothing retries them, so on yamux they go past the
 * session's out_limit (a stream opened while bulk data fills the session
 * would otherwise lose its proposal and never open). */
static void stream_write_all(wr_p2p_stream *st, wr_buf *b) {
  if (b->len) {
    ssize_t w = st->qs ? st_raw_write(st, b->data, b->len)
                       : wr_yamux_stream_write_control(st->ys, b->data, b->len);
    if (w > 0)
      wr_buf_consume(b, (size_t)w);
  }
}

/* Hands bytes to the application; unless it consumes by hand, the peer
 * gets the window back once on_data returns. */
static void deliver(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  int manual = st->manual_consume;
  if (st->ev && st->ev->on_data)
    st->ev->on_data(st, p, n);
  else
    manual = 0;
  if (!manual)
    st_raw_consume(st, n);
}

static void y_on_open(wr_yamux_session *y, wr_yamux_stream *ys) {
  wr_p2p_conn *c = y->user;
  wr_p2p_stream *st = stream_new(c, ys);
  if (!st) {
    wr_yamux_stream_reset(ys);
    return;
  }
  st->inbound = 1;
  wr_yamux_stream_set_user(ys, st);
  wr_buf out;
  wr_buf_init(&out, 1024);
  if (wr_ms_listener_init(&st->ms, has_handler, c->h, &out) != 0)
    wr_yamux_stream_reset(ys);
  else
    stream_write_all(st, &out);
  wr_buf_free(&out);
}

/* Bytes for a stream: its multistream-select negotiation first, then the
 * application's. */
static void stream_input(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  if (!st->negotiating) {
    deliver(st, p, n);
    return;
  }
  if (wr_buf_append(&st->msin, p, n) != 0) {
    st->err = WR_ERR_MALFORMED;
    st->reason = "the peer sent too much during protocol negotiation";
    st_raw_reset(st);
    return;
  }
  wr_buf out;
  wr_buf_init(&out, 4096);
  size_t used = 0;
  const char *why = "multistream-select failed";
  int rv = wr_ms_input(&st->ms, st->msin.data, st->msin.len, &used, &out, &why);
  /* Negotiation bytes are ours; what follows them is the application's. */
  st_raw_consume(st, used);
  stream_write_all(st, &out);
  wr_buf_free(&out);
  uint8_t rest[2 * WR_MS_MAX_MSG];
  size_t nrest = st->msin.len - used;
  memcpy(rest, st->msin.data + used, nrest);
  wr_buf_consume(&st->msin, st->msin.len);
  if (rv == WR_MS_MORE && nrest)
    ignore_rv(wr_buf_append(&st->msin, rest, nrest));
  p = rest;
  n = nrest;
  used = 0;
  if (rv < 0) {
    st->err = rv == WR_ERR_NOTFOUND ? WR_ERR_NOTFOUND : WR_ERR_MALFORMED;
    st->reason = why;
    st_raw_reset(st);
    return;
  }
  if (rv != WR_MS_DONE)
    return;
  st->negotiating = 0;
  snprintf(st->protocol, sizeof st->protocol, "%s", st->ms.selected);
  if (st->inbound) {
    wr_p2p_host *h = st->c->h;
    for (size_t i = 0; i < h->nhandlers; i++)
      if (strcmp(h->handlers[i].protocol, st->protocol) == 0) {
        h->handlers[i].fn(st, h->handlers[i].data);
        break;
      }
    if (!st->ev) {
      st_raw_reset(st);
      return;
    }
  } else if (st->ev && st->ev->on_open) {
    st->ev->on_open(st);
  }
  /* The stream may have ended in the callback. */
  if (used < n && st_alive(st))
    deliver(st, p + used, n - used);
}

static void y_on_data(wr_yamux_session *y, wr_yamux_stream *ys, const uint8_t *p, size_t n) {
  (void)y;
  wr_p2p_stream *st = wr_yamux_stream_user(ys);
  if (!st) {
    wr_yamux_stream_consume(ys, n);
    return;
  }
  stream_input(st, p, n);
}

static void stream_fin(wr_p2p_stream *st) {
  if (st->negotiating) {
    st->err = WR_ERR_CLOSED;
    st->reason = "the peer ended the stream during protocol negotiation";
    st_raw_reset(st);
    return;
  }
  if (st->ev && st->ev->on_fin)
    st->ev->on_fin(st);
}

static void y_on_fin(wr_yamux_session *y, wr_yamux_stream *ys) {
  (void)y;
  wr_p2p_stream *st = wr_yamux_stream_user(ys);
  if (st)
    stream_fin(st);
}

static void y_on_writable(wr_yamux_session *y, wr_yamux_stream *ys) {
  (void)y;
  wr_p2p_stream *st = wr_yamux_stream_user(ys);
  if (st && !st->negotiating && st->ev && st->ev->on_writable)
    st->ev->on_writable(st);
}

static void stream_closed(wr_p2p_stream *st, int reset) {
  wr_p2p_conn *c = st->c;
  if (c->ping_st == st) {
    c->ping_st = NULL;
    if (c->ping_wait) {
      c->ping_wait = 0;
      if (c->ping_cb)
        c->ping_cb(c, WR_ERR_CLOSED, 0, c->ping_data);
    }
  }
  int err = st->err ? st->err : (reset ? WR_ERR_CLOSED : 0);
  const char *why = st->reason ? st->reason
                    : reset    ? (c->closing ? "the connection ended" : "the stream was reset")
                               : "";
  if (st->ev && st->ev->on_closed)
    st->ev->on_closed(st, err, why);
  wr_buf_free(&st->msin);
  wr_free(st);
}

static void y_on_close(wr_yamux_session *y, wr_yamux_stream *ys, int reset) {
  (void)y;
  wr_p2p_stream *st = wr_yamux_stream_user(ys);
  if (st)
    stream_closed(st, reset);
}

static void y_on_ping_ack(wr_yamux_session *y, uint32_t opaque) {
  wr_p2p_conn *c = y->user;
  (void)opaque;
  c->ka_outstanding = 0;
}

static void y_on_goaway(wr_yamux_session *y, uint32_t code) {
  wr_p2p_conn *c = y->user;
  WR_INFO("Peer sent GO_AWAY", "peer=%s code=%u", peer_str(c), code);
}

static const wr_yamux_events y_events = {
    .on_stream_open = y_on_open,
    .on_stream_data = y_on_data,
    .on_stream_fin = y_on_fin,
    .on_stream_writable = y_on_writable,
    .on_stream_close = y_on_close,
    .on_ping_ack = y_on_ping_ack,
    .on_goaway = y_on_goaway,
};

int wr_p2p_conn_open_stream(wr_p2p_conn *c, const char *protocol, const wr_p2p_stream_events *ev,
                            void *user, wr_p2p_stream **pst) {
  if (c->closing || c->state != C_OPEN)
    return WR_ERR_CLOSED;
  if (strlen(protocol) >= WR_MS_MAX_PROTO)
    return WR_ERR_INVAL;
  wr_yamux_stream *ys = NULL;
  wr_quic_stream *qs = NULL;
  int rv = c->qc ? wr_quic_stream_open(c->qc, 0, NULL, &qs) : wr_yamux_open(&c->y, NULL, &ys);
  if (rv != 0)
    return rv;
  wr_p2p_stream *st = stream_new(c, ys);
  if (!st) {
    if (qs)
      ignore_rv(wr_quic_stream_abort(qs, 0));
    else
      wr_yamux_stream_reset(ys);
    conn_after(c);
    return WR_ERR_NOMEM;
  }
  st->qs = qs;
  snprintf(st->protocol, sizeof st->protocol, "%s", protocol);
  st->offer[0] = st->protocol;
  st->ev = ev;
  st->user = user;
  if (qs)
    wr_quic_stream_set_user_data(qs, st);
  else
    wr_yamux_stream_set_user(ys, st);
  wr_buf out;
  wr_buf_init(&out, 1024);
  rv = wr_ms_dialer_init(&st->ms, st->offer, 1, &out);
  if (rv == 0)
    stream_write_all(st, &out);
  wr_buf_free(&out);
  if (rv != 0) {
    st->ev = NULL;
    st_raw_reset(st);
    conn_after(c);
    return rv;
  }
  conn_after(c);
  *pst = st;
  return 0;
}

void wr_p2p_stream_set_events(wr_p2p_stream *st, const wr_p2p_stream_events *ev, void *user) {
  st->ev = ev;
  st->user = user;
}
void *wr_p2p_stream_user(const wr_p2p_stream *st) { return st->user; }

void wr_p2p_stream_manual_consume(wr_p2p_stream *st) { st->manual_consume = 1; }

void wr_p2p_stream_consume(wr_p2p_stream *st, size_t n) {
  st_raw_consume(st, n);
  conn_after(st->c);
}
int wr_p2p_stream_set_window(wr_p2p_stream *st, size_t window) {
  if (st->qs) /* QUIC's stream windows come from the connection's settings */
    return 0;
  if (window > WR_YAMUX_MAX_WINDOW)
    window = WR_YAMUX_MAX_WINDOW;
  int rv = wr_yamux_stream_set_window(st->ys, (uint32_t)window);
  conn_after(st->c);
  return rv;
}

const char *wr_p2p_stream_protocol(const wr_p2p_stream *st) { return st->protocol; }
wr_p2p_conn *wr_p2p_stream_conn(const wr_p2p_stream *st) { return st->c; }

ssize_t wr_p2p_stream_write(wr_p2p_stream *st, const void *p, size_t n) {
  if (st->negotiating)
    return WR_ERR_AGAIN;
  ssize_t w = st_raw_write(st, p, n);
  conn_after(st->c);
  return w;
}

int wr_p2p_stream_end(wr_p2p_stream *st) {
  int rv = st_raw_end(st);
  conn_after(st->c);
  return rv;
}

void wr_p2p_stream_reset(wr_p2p_stream *st) {
  st_raw_reset(st);
  conn_after(st->c);
}

/* ---- identify ---- */

static int identify_message(wr_p2p_conn *c, wr_buf *out) {
  wr_p2p_host *h = c->h;
  wr_identify m;
  memset(&m, 0, sizeof m);
  uint8_t key[WR_P2P_PUBKEY_ED25519_PB];
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&h->key, &pk);
  wr_p2p_pubkey_encode(&pk, key);
  m.public_key = (wr_bytes){key, sizeof key};
  wr_maddr addrs[WR_P2P_MAX_LISTEN];
  size_t na = wr_p2p_host_addrs(h, addrs, WR_P2P_MAX_LISTEN);
  for (size_t i = 0; i < na; i++)
    m.listen_addrs[m.nlisten_addrs++] = (wr_bytes){addrs[i].bytes, addrs[i].len};
  for (size_t i = 0; i < h->nhandlers && i < WR_IDENTIFY_MAX_PROTOCOLS; i++)
    m.protocols[m.nprotocols++] =
        (wr_bytes){(const uint8_t *)h->handlers[i].protocol, strlen(h->handlers[i].protocol)};
  if (c->remote.len)
    m.observed_addr = (wr_bytes){c->remote.bytes, c->remote.len};
  m.protocol_version =
      (wr_bytes){(const uint8_t *)h->cfg.protocol_version, strlen(h->cfg.protocol_version)};
  m.agent_version = (wr_bytes){(const uint8_t *)h->cfg.agent_version, strlen(h->cfg.agent_version)};
  wr_buf body;
  wr_buf_init(&body, WR_IDENTIFY_MAX_MSG);
  int rv = wr_identify_encode(&m, &body);
  if (rv == 0)
    rv = wr_varint_put(out, body.len);
  if (rv == 0)
    rv = wr_buf_append(out, body.data, body.len);
  wr_buf_free(&body);
  return rv;
}

static void copy_str(char *dst, size_t cap, wr_bytes b) {
  size_t n = b.n < cap - 1 ? b.n : cap - 1;
  for (size_t i = 0; i < n; i++)
    dst[i] = b.p[i] >= 0x20 && b.p[i] < 0x7f ? (char)b.p[i] : '?';
  dst[n] = '\0';
}

/* Takes a received identify (or push) message into the connection's info. */
static int identify_apply(wr_p2p_conn *c, const uint8_t *p, size_t n, const char **pwhy) {
  wr_cursor cur;
  wr_cursor_init(&cur, p, n);
  uint64_t len;
  if (wr_varint_decode(&cur, &len, pwhy) != 0 || len != wr_cursor_left(&cur)) {
    *pwhy = "identify message length does not match the stream's bytes";
    return WR_ERR_MALFORMED;
  }
  wr_identify m;
  int rv = wr_identify_decode(cur.pos, (size_t)len, &m, pwhy);
  if (rv != 0)
    return rv;
  wr_p2p_peer_info *in = &c->info;
  if (m.public_key.p) {
    wr_p2p_pubkey pk;
    wr_peerid id;
    if (wr_p2p_pubkey_decode(m.public_key.p, m.public_key.n, &pk, pwhy) != 0)
      return WR_ERR_MALFORMED;
    wr_peerid_from_pubkey(&id, &pk);
    if (!wr_peerid_equal(&id, &c->peer)) {
      *pwhy = "identify carries a public key that is not the peer's";
      return WR_ERR_DENIED;
    }
  }
  if (m.agent_version.p)
    copy_str(in->agent_version, sizeof in->agent_version, m.agent_version);
  if (m.protocol_version.p)
    copy_str(in->protocol_version, sizeof in->protocol_version, m.protocol_version);
  if (m.nprotocols || !in->identified) {
    for (size_t i = 0; i < in->nprotocols; i++)
      wr_free(in->protocols[i]);
    in->nprotocols = 0;
    for (size_t i = 0; i < m.nprotocols; i++) {
      char *s = wr_malloc(m.protocols[i].n + 1);
      if (!s)
        return WR_ERR_NOMEM;
      copy_str(s, m.protocols[i].n + 1, m.protocols[i]);
      in->protocols[in->nprotocols++] = s;
    }
  }
  if (m.nlisten_addrs || !in->identified) {
    in->nlisten_addrs = 0;
    for (size_t i = 0; i < m.nlisten_addrs && in->nlisten_addrs < WR_P2P_MAX_LISTEN; i++)
      if (wr_maddr_decode(m.listen_addrs[i].p, m.listen_addrs[i].n,
                          &in->listen_addrs[in->nlisten_addrs], NULL) == 0)
        in->nlisten_addrs++;
  }
  if (m.observed_addr.p &&
      wr_maddr_decode(m.observed_addr.p, m.observed_addr.n, &in->observed_addr, NULL) != 0)
    in->observed_addr.len = 0;
  in->identified = 1;
  return 0;
}

/* A stream that collects the peer's identify message until FIN. */
typedef struct id_reader {
  wr_buf buf;
  int push;
} id_reader;

static void idr_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  id_reader *r = st->user;
  if (wr_buf_append(&r->buf, p, n) != 0)
    wr_p2p_stream_reset(st);
}

static void idr_on_fin(wr_p2p_stream *st) {
  id_reader *r = st->user;
  wr_p2p_conn *c = st->c;
  const char *why = "bad identify message";
  int rv = identify_apply(c, r->buf.data, r->buf.len, &why);
  if (rv != 0) {
    WR_INFO("Identify from a peer refused", "peer=%s reason=\"%s\"", peer_str(c), why);
    wr_p2p_stream_reset(st);
    return;
  }
  ignore_rv(wr_p2p_stream_end(st));
  if (c->h->ev && c->h->ev->on_identified)
    c->h->ev->on_identified(c->h, c);
}

static void idr_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  id_reader *r = st->user;
  if (err && !r->push)
    WR_DEBUG("Identify stream closed", "peer=%s err=%s reason=\"%s\"", peer_str(st->c),
             wr_strerror(err), reason);
  wr_buf_free(&r->buf);
  wr_free(r);
}

static const wr_p2p_stream_events idr_events = {
    .on_data = idr_on_data, .on_fin = idr_on_fin, .on_closed = idr_on_closed};

static id_reader *idr_new(int push) {
  id_reader *r = wr_calloc(1, sizeof *r);
  if (r) {
    wr_buf_init(&r->buf, WR_IDENTIFY_MAX_MSG + WR_VARINT_MAX_BYTES);
    r->push = push;
  }
  return r;
}

static void start_identify(wr_p2p_conn *c) {
  id_reader *r = idr_new(0);
  wr_p2p_stream *st;
  if (!r || wr_p2p_conn_open_stream(c, WR_IDENTIFY_PROTOCOL, &idr_events, r, &st) != 0) {
    if (r)
      wr_buf_free(&r->buf);
    wr_free(r);
  }
}

static void id_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  wr_buf out;
  wr_buf_init(&out, WR_IDENTIFY_MAX_MSG + WR_VARINT_MAX_BYTES);
  static const wr_p2p_stream_events none = {0};
  wr_p2p_stream_set_events(st, &none, NULL);
  if (identify_message(st->c, &out) != 0 ||
      wr_p2p_stream_write(st, out.data, out.len) != (ssize_t)out.len)
    wr_p2p_stream_reset(st);
  else
    ignore_rv(wr_p2p_stream_end(st));
  wr_buf_free(&out);
}

static void id_push_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  id_reader *r = idr_new(1);
  if (!r) {
    wr_p2p_stream_reset(st);
    return;
  }
  wr_p2p_stream_set_events(st, &idr_events, r);
}

/* ---- ping ---- */

static void echo_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  /* Ping payloads are 32 bytes and the window is far larger, so an echo
   * that does not fit means the peer does not read: drop it. */
  if (wr_p2p_stream_write(st, p, n) != (ssize_t)n)
    wr_p2p_stream_reset(st);
}

static void echo_on_fin(wr_p2p_stream *st) { ignore_rv(wr_p2p_stream_end(st)); }

static const wr_p2p_stream_events ping_server_events = {.on_data = echo_on_data,
                                                        .on_fin = echo_on_fin};

static void ping_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  wr_p2p_stream_set_events(st, &ping_server_events, NULL);
}

static void ping_send(wr_p2p_conn *c) {
  if (wr_random_bytes(c->ping_sent, PING_SIZE) != 0) {
    wr_p2p_stream_reset(c->ping_st);
    return;
  }
  c->ping_got = 0;
  c->ping_t0 = uv_hrtime();
  if (wr_p2p_stream_write(c->ping_st, c->ping_sent, PING_SIZE) != PING_SIZE)
    wr_p2p_stream_reset(c->ping_st);
}

static void pc_on_open(wr_p2p_stream *st) { ping_send(st->c); }

static void pc_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  wr_p2p_conn *c = st->c;
  if (!c->ping_wait || c->ping_got + n > PING_SIZE ||
      memcmp(c->ping_sent + c->ping_got, p, n) != 0) {
    st->err = WR_ERR_MALFORMED;
    st->reason = "the peer's ping answer differs from what was sent";
    wr_p2p_stream_reset(st);
    return;
  }
  c->ping_got += n;
  if (c->ping_got == PING_SIZE) {
    c->ping_wait = 0;
    uint64_t rtt = uv_hrtime() - c->ping_t0;
    if (c->ping_cb)
      c->ping_cb(c, 0, rtt, c->ping_data);
  }
}

static void pc_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)st;
  (void)err;
  (void)reason; /* y_on_close tells a waiting caller */
}

static const wr_p2p_stream_events ping_client_events = {
    .on_open = pc_on_open, .on_data = pc_on_data, .on_closed = pc_on_closed};

int wr_p2p_ping(wr_p2p_conn *c, wr_p2p_ping_cb cb, void *data) {
  if (c->ping_wait)
    return WR_ERR_AGAIN;
  c->ping_cb = cb;
  c->ping_data = data;
  c->ping_wait = 1;
  if (!c->ping_st) {
    int rv = wr_p2p_conn_open_stream(c, WR_PING_PROTOCOL, &ping_client_events, NULL, &c->ping_st);
    if (rv != 0) {
      c->ping_wait = 0;
      return rv;
    }
    return 0; /* the ping goes at on_open */
  }
  ping_send(c);
  return 0;
}

/* ---- QUIC (libp2p TLS, native streams) ---- */

static void q_on_stream_open(wr_quic_stream *qs) {
  wr_p2p_conn *c = wr_quic_conn_get_user_data(wr_quic_stream_conn(qs));
  wr_p2p_stream *st = c && c->state == C_OPEN && !c->closing ? stream_new(c, NULL) : NULL;
  if (!st) {
    ignore_rv(wr_quic_stream_abort(qs, 0));
    return;
  }
  st->qs = qs;
  st->inbound = 1;
  wr_quic_stream_set_user_data(qs, st);
  wr_buf out;
  wr_buf_init(&out, 1024);
  if (wr_ms_listener_init(&st->ms, has_handler, c->h, &out) != 0)
    st_raw_reset(st);
  else
    stream_write_all(st, &out);
  wr_buf_free(&out);
}

static void q_on_stream_data(wr_quic_stream *qs, const uint8_t *p, size_t n, int fin) {
  wr_p2p_stream *st = wr_quic_stream_get_user_data(qs);
  if (!st || st->aborted) {
    wr_quic_stream_consume(qs, n);
    return;
  }
  if (n)
    stream_input(st, p, n);
  if (fin && st_alive(st))
    stream_fin(st);
}

static void q_on_stream_writable(wr_quic_stream *qs) {
  wr_p2p_stream *st = wr_quic_stream_get_user_data(qs);
  if (st && !st->aborted && !st->negotiating && st->ev && st->ev->on_writable)
    st->ev->on_writable(st);
}

/* libp2p streams reset as a whole: a peer's RESET_STREAM ends ours too. */
static void q_on_stream_reset(wr_quic_stream *qs, uint64_t code) {
  (void)code;
  wr_p2p_stream *st = wr_quic_stream_get_user_data(qs);
  if (st)
    st_raw_reset(st);
}

static void q_on_stream_close(wr_quic_stream *qs, int has_code, uint64_t code) {
  (void)code;
  wr_p2p_stream *st = wr_quic_stream_get_user_data(qs);
  if (!st)
    return;
  wr_quic_stream_set_user_data(qs, NULL);
  stream_closed(st, has_code || st->aborted);
}

static void q_on_connected(wr_quic_conn *qc) {
  wr_p2p_conn *c = wr_quic_conn_get_user_data(qc);
  if (c->state == C_OPEN || c->closing)
    return; /* a server connection its first stream made the host's */
  const wr_tls_session *ts = wr_quic_conn_tls(qc);
  if (!ts->has_peer) {
    conn_fail(c, WR_ERR_DENIED, "the peer's certificate proved no peer ID");
    return;
  }
  c->peer = ts->peer;
  if (c->has_expected && !wr_peerid_equal(&c->peer, &c->expected)) {
    char want[WR_PEERID_MAX_STR], got[WR_PEERID_MAX_STR];
    ignore_rv(wr_peerid_format(&c->expected, want, sizeof want));
    ignore_rv(wr_peerid_format(&c->peer, got, sizeof got));
    conn_fail(c, WR_ERR_DENIED, "dialed peer %s but %s answered", want, got);
    return;
  }
  conn_opened(c);
}

static void q_on_closed(wr_quic_conn *qc, int err, const char *reason) {
  wr_p2p_conn *c = wr_quic_conn_get_user_data(qc);
  c->qc = NULL;
  if (!c->closing) {
    c->closing = 1;
    c->err = err ? err : WR_ERR_CLOSED;
    snprintf(c->reason, sizeof c->reason, "%s", reason && *reason ? reason : "connection closed");
  } else if (c->err == 0 && err != 0 && err != WR_ERR_CLOSED) {
    c->err = err;
  }
  if (c->announced)
    WR_INFO("Peer disconnected", "peer=%s reason=\"%s\"", peer_str(c), c->reason);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
  maybe_free_conn(c);
}

static const wr_quic_callbacks q_conn_callbacks = {
    .on_connected = q_on_connected,
    .on_closed = q_on_closed,
    .on_stream_open = q_on_stream_open,
    .on_stream_data = q_on_stream_data,
    .on_stream_writable = q_on_stream_writable,
    .on_stream_reset = q_on_stream_reset,
    .on_stream_close = q_on_stream_close,
};

static void sockaddr_to_maddr(const struct sockaddr *sa, int quic, wr_maddr *ma) {
  ma->len = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    ignore_rv(
        wr_maddr_from_ip(ma, AF_INET, (const uint8_t *)&in->sin_addr, ntohs(in->sin_port), quic));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    ignore_rv(wr_maddr_from_ip(ma, AF_INET6, in6->sin6_addr.s6_addr, ntohs(in6->sin6_port), quic));
  }
}

/* A server connection becomes the host's only once its handshake proved
 * the peer (the client certificate was checked); until then its user data
 * is the host. */
static void q_srv_on_connected(wr_quic_conn *qc) {
  wr_p2p_host *h = wr_quic_conn_get_user_data(qc);
  if (h->closing || h->nconns >= h->cfg.max_conns) {
    char ma[WR_MA_MAX_STR];
    wr_maddr m;
    sockaddr_to_maddr(wr_quic_conn_peer_addr(qc), 1, &m);
    if (wr_maddr_format(&m, ma, sizeof ma) < 0)
      snprintf(ma, sizeof ma, "-");
    WR_INFO("Connection refused: too many connections", "peer=%s max=%u", ma, h->cfg.max_conns);
    wr_quic_conn_set_user_data(qc, NULL);
    wr_quic_conn_close(qc, 1, "too many connections");
    return;
  }
  wr_p2p_conn *c = conn_new(h, NULL, 0);
  if (!c) {
    wr_quic_conn_set_user_data(qc, NULL);
    wr_quic_conn_close(qc, 1, "out of memory");
    return;
  }
  c->qc = qc;
  c->quic = 1;
  sockaddr_to_maddr(wr_quic_conn_peer_addr(qc), 1, &c->remote);
  wr_quic_conn_set_user_data(qc, c);
  wr_quic_conn_set_callbacks(qc, &q_conn_callbacks);
  q_on_connected(qc);
}

static void q_srv_on_closed(wr_quic_conn *qc, int err, const char *reason) {
  wr_maddr m;
  char ma[WR_MA_MAX_STR];
  sockaddr_to_maddr(wr_quic_conn_peer_addr(qc), 1, &m);
  if (wr_maddr_format(&m, ma, sizeof ma) < 0)
    snprintf(ma, sizeof ma, "-");
  WR_DEBUG("QUIC handshake failed", "peer=%s err=%s reason=\"%s\"", ma, wr_strerror(err), reason);
}

/* The client's first streams can come in the same read as its Finished,
 * before the handshake-completed event: its certificate was checked by
 * then, so the connection becomes the host's here. */
static void q_srv_on_stream_open(wr_quic_stream *qs) {
  wr_quic_conn *qc = wr_quic_stream_conn(qs);
  if (wr_quic_conn_get_user_data(qc) && wr_quic_conn_tls(qc)->has_peer) {
    q_srv_on_connected(qc);
    if (wr_quic_conn_get_user_data(qc)) {
      q_on_stream_open(qs);
      return;
    }
  }
  ignore_rv(wr_quic_stream_abort(qs, 0));
}

static const wr_quic_callbacks q_srv_callbacks = {
    .on_connected = q_srv_on_connected,
    .on_closed = q_srv_on_closed,
    .on_stream_open = q_srv_on_stream_open,
};

static int quic_tls(wr_p2p_host *h) {
  if (h->tls_srv)
    return 0;
  char err[WR_TLS_ERRLEN] = "";
  int rv = wr_tls_libp2p_new(&h->tls_srv, &h->tls_cli, &h->key, err, sizeof err);
  if (rv != 0)
    WR_ERROR("Cannot set up libp2p TLS", "reason=\"%s\"", err);
  return rv;
}

static void quic_config(const wr_p2p_host *h, wr_quic_config *q) {
  memset(q, 0, sizeof *q);
  q->alpn = WR_P2P_TLS_ALPN;
  q->handshake_timeout_ms = h->cfg.handshake_timeout_ms;
  q->max_streams_bidi = h->cfg.max_streams;
  /* libp2p addresses are per family, as kubo's /ip4 and /ip6 pairs on one
   * port: an IPv6 endpoint must leave IPv4 to its sibling. */
  q->v6only = 1;
}

/* ---- the host ---- */

static void on_accept(wr_tcp_listener *l, wr_stream *s, void *data) {
  (void)l;
  wr_p2p_host *h = data;
  if (h->closing || h->nconns >= h->cfg.max_conns) {
    WR_INFO("Connection refused: too many connections", "peer=%s max=%u", wr_stream_peer_str(s),
            h->cfg.max_conns);
    wr_stream_reset(s);
    return;
  }
  wr_p2p_conn *c = conn_new(h, s, 0);
  if (!c) {
    wr_stream_reset(s);
    return;
  }
  wr_stream_set_events(s, &conn_events, c);
  wr_addr a;
  wr_addr_from_sockaddr(wr_stream_peer_addr(s), &a);
  if (a.sa.sa_family == AF_INET)
    ignore_rv(wr_maddr_from_ip_tcp(&c->remote, AF_INET, (const uint8_t *)&a.in.sin_addr,
                                   ntohs(a.in.sin_port)));
  else if (a.sa.sa_family == AF_INET6)
    ignore_rv(wr_maddr_from_ip_tcp(&c->remote, AF_INET6, a.in6.sin6_addr.s6_addr,
                                   ntohs(a.in6.sin6_port)));
  c->state = C_MS_SEC;
  if (wr_ms_listener_init(&c->ms, is_noise, NULL, &c->msout) != 0) {
    conn_fail(c, WR_ERR_NOMEM, "out of memory");
    return;
  }
  ms_send(c);
}

int wr_p2p_host_new(wr_p2p_host **ph, uv_loop_t *loop, const wr_p2p_host_config *cfg,
                    const wr_p2p_privkey *key, const wr_p2p_host_events *ev, void *user) {
  wr_p2p_host *h = wr_calloc(1, sizeof *h);
  if (!h)
    return WR_ERR_NOMEM;
  h->loop = loop;
  if (cfg)
    h->cfg = *cfg;
  if (!h->cfg.agent_version)
    h->cfg.agent_version = "warren";
  if (!h->cfg.protocol_version)
    h->cfg.protocol_version = "ipfs/0.1.0";
  if (!h->cfg.max_conns)
    h->cfg.max_conns = 1024;
  if (!h->cfg.max_streams)
    h->cfg.max_streams = 1024;
  if (!h->cfg.handshake_timeout_ms)
    h->cfg.handshake_timeout_ms = 10000;
  if (!h->cfg.keepalive_ms)
    h->cfg.keepalive_ms = 15000;
  h->ev = ev;
  h->user = user;
  h->key = *key;
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(key, &pk);
  wr_peerid_from_pubkey(&h->id, &pk);
  int rv = wr_p2p_host_set_handler(h, WR_IDENTIFY_PROTOCOL, id_handler, NULL);
  if (rv == 0)
    rv = wr_p2p_host_set_handler(h, WR_IDENTIFY_PUSH_PROTOCOL, id_push_handler, NULL);
  if (rv == 0)
    rv = wr_p2p_host_set_handler(h, WR_PING_PROTOCOL, ping_handler, NULL);
  if (rv != 0) {
    for (size_t i = 0; i < h->nhandlers; i++)
      wr_free(h->handlers[i].protocol);
    wr_free(h);
    return rv;
  }
  *ph = h;
  return 0;
}

void *wr_p2p_host_user(const wr_p2p_host *h) { return h->user; }
const wr_peerid *wr_p2p_host_id(const wr_p2p_host *h) { return &h->id; }

int wr_p2p_host_set_handler(wr_p2p_host *h, const char *protocol, wr_p2p_handler_fn fn,
                            void *data) {
  for (size_t i = 0; i < h->nhandlers; i++)
    if (strcmp(h->handlers[i].protocol, protocol) == 0) {
      h->handlers[i].fn = fn;
      h->handlers[i].data = data;
      return 0;
    }
  if (h->nhandlers == MAX_HANDLERS)
    return WR_ERR_LIMIT;
  if (strlen(protocol) >= WR_MS_MAX_PROTO)
    return WR_ERR_INVAL;
  char *p = wr_strdup(protocol);
  if (!p)
    return WR_ERR_NOMEM;
  h->handlers[h->nhandlers++] = (handler){p, fn, data};
  return 0;
}

size_t wr_p2p_host_protocols(const wr_p2p_host *h, const char **out, size_t cap) {
  size_t n = 0;
  for (; n < h->nhandlers && n < cap; n++)
    out[n] = h->handlers[n].protocol;
  return n;
}

static int maddr_to_addr(const wr_maddr *ma, wr_addr *a, int *pquic, wr_peerid *pid, int *phas) {
  int fam;
  uint8_t ip[16];
  uint16_t port;
  int rv = wr_maddr_to_ip(ma, &fam, ip, &port, pquic, pid, phas);
  if (rv != 0)
    return rv;
  memset(a, 0, sizeof *a);
  if (fam == AF_INET) {
    a->in.sin_family = AF_INET;
    memcpy(&a->in.sin_addr, ip, 4);
    a->in.sin_port = htons(port);
    a->len = sizeof a->in;
  } else {
    a->in6.sin6_family = AF_INET6;
    memcpy(&a->in6.sin6_addr, ip, 16);
    a->in6.sin6_port = htons(port);
    a->len = sizeof a->in6;
  }
  return 0;
}

static int addr_to_maddr(const wr_addr *a, int quic, wr_maddr *ma) {
  if (a->sa.sa_family == AF_INET)
    return wr_maddr_from_ip(ma, AF_INET, (const uint8_t *)&a->in.sin_addr, ntohs(a->in.sin_port),
                            quic);
  if (a->sa.sa_family == AF_INET6)
    return wr_maddr_from_ip(ma, AF_INET6, a->in6.sin6_addr.s6_addr, ntohs(a->in6.sin6_port), quic);
  return WR_ERR_INVAL;
}

static int listen_quic(wr_p2p_host *h, listener *l, const wr_addr *a) {
  int rv = quic_tls(h);
  if (rv != 0)
    return rv;
  wr_quic_config q;
  quic_config(h, &q);
  wr_quic_server_config srv = {.tls = h->tls_srv,
                               .callbacks = q_srv_callbacks,
                               .user_data = h,
                               .max_connections = h->cfg.max_conns + 16};
  rv = wr_quic_endpoint_new(&l->ep, h->loop, &a->sa, &q, &srv);
  if (rv != 0)
    return rv;
  struct sockaddr_storage ss;
  wr_addr bound;
  if (wr_quic_endpoint_local_addr(l->ep, &ss) != 0)
    return 0;
  wr_addr_from_sockaddr((const struct sockaddr *)&ss, &bound);
  ignore_rv(addr_to_maddr(&bound, 1, &l->addr));
  return 0;
}

int wr_p2p_host_listen(wr_p2p_host *h, const wr_maddr *ma) {
  if (h->nlisteners == WR_P2P_MAX_LISTEN)
    return WR_ERR_LIMIT;
  wr_addr a;
  wr_peerid pid;
  int has, quic;
  int rv = maddr_to_addr(ma, &a, &quic, &pid, &has);
  if (rv != 0 || has)
    return WR_ERR_UNSUPPORTED;
  listener *l = &h->listeners[h->nlisteners];
  memset(l, 0, sizeof *l);
  l->addr = *ma;
  if (quic) {
    rv = listen_quic(h, l, &a);
    if (rv != 0)
      return rv;
    h->nlisteners++;
    return 0;
  }
  wr_tcp_config tcfg = {.max_connections = h->cfg.max_conns + 16};
  rv = wr_tcp_listen(&l->l, h->loop, &a, &tcfg, on_accept, h);
  if (rv != 0)
    return rv;
  wr_addr bound;
  if (wr_tcp_listener_addr(l->l, &bound) != 0 || addr_to_maddr(&bound, 0, &l->addr) != 0)
    l->addr = *ma;
  h->nlisteners++;
  return 0;
}

size_t wr_p2p_host_addrs(wr_p2p_host *h, wr_maddr *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < h->nlisteners && n < cap; i++) {
    wr_addr a;
    wr_peerid pid;
    int has, quic;
    if (maddr_to_addr(&h->listeners[i].addr, &a, &quic, &pid, &has) != 0)
      continue;
    int wild4 = a.sa.sa_family == AF_INET && a.in.sin_addr.s_addr == htonl(INADDR_ANY);
    int wild6 = a.sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a.in6.sin6_addr);
    if (!wild4 && !wild6) {
      out[n++] = h->listeners[i].addr;
      continue;
    }
    /* A wildcard listens on every interface: say which addresses those are. */
    uv_interface_address_t *ifs;
    int cnt;
    if (uv_interface_addresses(&ifs, &cnt) != 0)
      continue;
    for (int k = 0; k < cnt && n < cap; k++) {
      wr_addr x;
      wr_addr_from_sockaddr((const struct sockaddr *)&ifs[k].address, &x);
      if (x.sa.sa_family != a.sa.sa_family)
        continue;
      if (x.sa.sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&x.in6.sin6_addr))
        continue;
      wr_addr_set_port(&x, wr_addr_port(&a));
      if (addr_to_maddr(&x, quic, &out[n]) == 0)
        n++;
    }
    uv_free_interface_addresses(ifs, cnt);
  }
  return n;
}

/* The endpoint a QUIC dial leaves from: a QUIC listener of the family (so
 * the peer sees our listening port, as it would with libp2p's port reuse),
 * else one made for dialling. */
static wr_quic_endpoint *dial_endpoint(wr_p2p_host *h, int family) {
  for (size_t i = 0; i < h->nlisteners; i++) {
    listener *l = &h->listeners[i];
    if (l->ep && l->addr.len && ((family == AF_INET) == (l->addr.bytes[0] == WR_MA_IP4)))
      return l->ep;
  }
  int k = family == AF_INET ? 0 : 1;
  if (!h->dial_ep[k]) {
    wr_addr any;
    memset(&any, 0, sizeof any);
    any.sa.sa_family = (sa_family_t)family;
    any.len = family == AF_INET ? sizeof any.in : sizeof any.in6;
    wr_quic_config q;
    quic_config(h, &q);
    if (wr_quic_endpoint_new(&h->dial_ep[k], h->loop, &any.sa, &q, NULL) != 0)
      h->dial_ep[k] = NULL;
  }
  return h->dial_ep[k];
}

static int dial_quic(wr_p2p_host *h, const wr_addr *a, wr_p2p_conn **pc) {
  int rv = quic_tls(h);
  if (rv != 0)
    return rv;
  wr_quic_endpoint *ep = dial_endpoint(h, a->sa.sa_family);
  if (!ep)
    return WR_ERR_IO;
  wr_p2p_conn *c = conn_new(h, NULL, 1);
  if (!c)
    return WR_ERR_NOMEM;
  c->quic = 1;
  rv = wr_quic_connect(&c->qc, ep, &a->sa, NULL, h->tls_cli, &q_conn_callbacks, c);
  if (rv != 0) {
    /* No connection will report: undo conn_new (the timer closes from the
     * loop; nobody is told, the caller has the error). */
    c->qc = NULL;
    c->closing = 1;
    c->err = rv;
    c->pending--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
    return rv;
  }
  *pc = c;
  return 0;
}

int wr_p2p_host_dial(wr_p2p_host *h, const wr_maddr *ma, wr_p2p_dial_cb cb, void *data) {
  if (h->closing)
    return WR_ERR_CLOSED;
  if (h->nconns >= h->cfg.max_conns)
    return WR_ERR_LIMIT;
  wr_addr a;
  wr_peerid pid;
  int has, quic;
  int rv = maddr_to_addr(ma, &a, &quic, &pid, &has);
  if (rv != 0)
    return WR_ERR_UNSUPPORTED;
  wr_p2p_conn *c;
  if (quic) {
    if ((rv = dial_quic(h, &a, &c)) != 0)
      return rv;
  } else {
    wr_stream *s;
    rv = wr_tcp_connect(&s, h->loop, &a, NULL, NULL, NULL);
    if (rv != 0)
      return rv;
    c = conn_new(h, s, 1);
    if (!c) {
      wr_stream_close(s);
      return WR_ERR_NOMEM;
    }
    wr_stream_set_events(s, &conn_events, c);
  }
  c->dial_cb = cb;
  c->dial_data = data;
  c->expected = pid;
  c->has_expected = has;
  (void)addr_to_maddr(&a, quic, &c->remote);
  c->state = C_CONNECTING;
  return 0;
}

wr_p2p_conn *wr_p2p_host_conns(wr_p2p_host *h) {
  wr_p2p_conn *c = h->conns;
  while (c && (c->state != C_OPEN || c->closing))
    c = c->next;
  return c;
}

wr_p2p_conn *wr_p2p_host_find_conn(wr_p2p_host *h, const wr_peerid *peer) {
  for (wr_p2p_conn *c = wr_p2p_host_conns(h); c; c = wr_p2p_conn_next(c))
    if (wr_peerid_equal(&c->peer, peer))
      return c;
  return NULL;
}

wr_p2p_conn *wr_p2p_conn_next(wr_p2p_conn *c) {
  c = c->next;
  while (c && (c->state != C_OPEN || c->closing))
    c = c->next;
  return c;
}

static void on_listener_closed(wr_tcp_listener *l, void *data) {
  (void)l;
  host_unref(data);
}

static void on_endpoint_closed(wr_quic_endpoint *ep, void *data) {
  (void)ep;
  host_unref(data);
}

void wr_p2p_host_close(wr_p2p_host *h, void (*cb)(wr_p2p_host *h, void *data), void *data) {
  if (h->closing)
    return;
  h->closing = 1;
  h->close_cb = cb;
  h->close_data = data;
  h->pending =
      1 + (int)h->nlisteners + (int)h->nconns + (h->dial_ep[0] != NULL) + (h->dial_ep[1] != NULL);
  /* Connections first, so QUIC peers hear why; closing an endpoint then
   * ends whatever is still handshaking on it. */
  for (wr_p2p_conn *c = h->conns; c; c = c->next)
    conn_fail(c, 0, "the host is closing");
  for (size_t i = 0; i < h->nlisteners; i++) {
    if (h->listeners[i].ep)
      wr_quic_endpoint_close(h->listeners[i].ep, 0, on_endpoint_closed, h);
    else
      wr_tcp_listener_close(h->listeners[i].l, on_listener_closed, h);
  }
  for (int k = 0; k < 2; k++)
    if (h->dial_ep[k])
      wr_quic_endpoint_close(h->dial_ep[k], 0, on_endpoint_closed, h);
  /* The 1 above keeps h alive through the loop over connections. */
  host_unref(h);
}

const wr_peerid *wr_p2p_conn_peer(const wr_p2p_conn *c) { return &c->peer; }
const wr_maddr *wr_p2p_conn_remote_addr(const wr_p2p_conn *c) { return &c->remote; }
int wr_p2p_conn_outbound(const wr_p2p_conn *c) { return c->outbound; }
const wr_p2p_peer_info *wr_p2p_conn_info(const wr_p2p_conn *c) { return &c->info; }

void wr_p2p_conn_close(wr_p2p_conn *c) { conn_fail(c, 0, "closed by this side"); }
