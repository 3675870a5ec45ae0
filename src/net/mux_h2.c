/* mux_h2.c: tunnel streams as HTTP/2 streams (nghttp2) over the TLS filter
 * (net/tls_stream.h) on a TCP stream (io/tcp.h). */
#include "net/mux_h2.h"

#include <stdio.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "base/buf.h"
#include "base/chunk.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"
#include "io/random.h"
#include "io/tcp.h"
#include "net/tls_stream.h"

#define CONN_MAGIC 0x6832636eu /* "h2cn" */
#define MAX_FREE_CHUNKS 64 /* send queue chunks kept per connection */
#define REASON_LEN WR_TLS_ERRLEN

typedef struct h2conn h2conn;

typedef struct h2stream {
  h2conn *c;
  int32_t id;
  void *user;
  struct h2stream *next, *prev; /* the connection's streams */
  struct h2stream *wnext;       /* streams owed on_stream_writable */
  wr_chunk *head, *tail;        /* written bytes not yet framed */
  size_t head_off, queued;
  uint64_t rx_delivered, rx_consumed;
  uint32_t reset_code;
  unsigned local : 1, announced : 1, bad : 1, fin_queued : 1, fin_sent : 1, provider : 1,
      deferred : 1, want_writable : 1, in_wq : 1, write_shut : 1, reset_seen : 1, rx_fin : 1;
} h2stream;

struct h2conn {
  uint32_t magic;
  wr_mux_conn base;
  uv_loop_t *loop;
  wr_stream *t; /* TLS over TCP; NULL once its on_closed came */
  nghttp2_session *ng;
  wr_mux_h2_config cfg;
  uv_timer_t kick;
  uv_timer_t idle; /* keep-alive PINGs and the idle timeout */
  uint64_t last_recv_ms, last_ping_ms;
  /* When the PING now awaiting its ACK went out (0: none): the peer's
   * application answers it, where TCP's ACKs come from its kernel even when
   * the process is frozen. */
  uint64_t ping_out_ms, ping_acked_ms;
  wr_mux_h2_listener *lis;
  h2conn *lnext, *lprev;
  h2stream *streams;
  h2stream *wq;
  size_t nstreams, nlocal;
  wr_chunk_pool chunks;
  struct sockaddr_storage peer;
  char id[20];
  char peerstr[64];
  int is_edge;
  unsigned connected : 1, app_gone : 1, close_requested : 1, tls_gone : 1, kick_closed : 1,
      idle_closed : 1, want_streams : 1, in_send : 1;
  uint64_t close_code;
  char close_reason[REASON_LEN];
  char goaway_reason[REASON_LEN];
};

struct wr_mux_h2_listener {
  uv_loop_t *loop;
  wr_tcp_listener *tl;
  const wr_tls_server *tls;
  const wr_mux_events *ev;
  void *user;
  wr_mux_h2_config cfg;
  h2conn *conns;
  size_t nconns;
  int closing, tl_gone;
  void (*close_cb)(wr_mux_h2_listener *l, void *data);
  void *close_data;
};

static const wr_mux_ops h2_ops;

#define H2CONN(cp) ((h2conn *)((char *)(cp) - offsetof(h2conn, base)))
#define HS(s) ((h2stream *)(s))
#define TS(s) ((wr_mux_stream *)(s))
#define EV(c, name) (!(c)->app_gone && (c)->base.ev && (c)->base.ev->name)

static void kick(h2conn *c);
static void flush_send(h2conn *c);
static void finish(h2conn *c, int err, const char *reason);
static void maybe_free(h2conn *c);

static void apply_defaults(wr_mux_h2_config *cfg) {
  if (!cfg->alpn)
    cfg->alpn = WR_MUX_H2_ALPN;
  if (!cfg->stream_window)
    cfg->stream_window = WR_MUX_H2_DEFAULT_STREAM_WINDOW;
  if (cfg->stream_window > NGHTTP2_MAX_WINDOW_SIZE)
    cfg->stream_window = NGHTTP2_MAX_WINDOW_SIZE;
  if (!cfg->conn_window)
    cfg->conn_window = WR_MUX_H2_DEFAULT_CONN_WINDOW;
  if (cfg->conn_window > NGHTTP2_MAX_WINDOW_SIZE)
    cfg->conn_window = NGHTTP2_MAX_WINDOW_SIZE;
  if (!cfg->max_streams)
    cfg->max_streams = WR_MUX_H2_DEFAULT_MAX_STREAMS;
  if (!cfg->send_queue_limit)
    cfg->send_queue_limit = WR_MUX_H2_DEFAULT_SEND_QUEUE;
  if (!cfg->tls_queue_limit)
    cfg->tls_queue_limit = WR_MUX_H2_DEFAULT_TLS_QUEUE;
  if (!cfg->idle_timeout_ms)
    cfg->idle_timeout_ms = WR_MUX_H2_DEFAULT_IDLE_TIMEOUT_MS;
  if (!cfg->keepalive_ms)
    cfg->keepalive_ms = cfg->idle_timeout_ms / 3 ? cfg->idle_timeout_ms / 3 : 1;
}

static uint32_t h2_code(uint64_t code) { return code > UINT32_MAX ? UINT32_MAX : (uint32_t)code; }

/* ---- send queues ---- */

static void stream_drop_queue(h2stream *s) {
  wr_chunk_put_list(&s->c->chunks, s->head);
  s->head = NULL;
  s->tail = NULL;
  s->head_off = 0;
  s->queued = 0;
}

/* ---- streams ---- */

static h2stream *stream_new(h2conn *c, int32_t id, void *user) {
  h2stream *s = wr_calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->c = c;
  s->id = id;
  s->user = user;
  s->next = c->streams;
  if (c->streams)
    c->streams->prev = s;
  c->streams = s;
  c->nstreams++;
  return s;
}

static void stream_free(h2stream *s) {
  h2conn *c = s->c;
  if (s->in_wq) {
    for (h2stream **pp = &c->wq; *pp; pp = &(*pp)->wnext)
      if (*pp == s) {
        *pp = s->wnext;
        break;
      }
  }
  if (s->prev)
    s->prev->next = s->next;
  else
    c->streams = s->next;
  if (s->next)
    s->next->prev = s->prev;
  c->nstreams--;
  if (s->local)
    c->nlocal--;
  if (c->ng && s->id > 0)
    nghttp2_session_set_stream_user_data(c->ng, s->id, NULL);
  stream_drop_queue(s);
  wr_free(s);
}

static h2stream *stream_of(h2conn *c, int32_t id) {
  return c->ng ? nghttp2_session_get_stream_user_data(c->ng, id) : NULL;
}

static void wq_add(h2stream *s) {
  if (s->in_wq)
    return;
  s->in_wq = 1;
  s->wnext = s->c->wq;
  s->c->wq = s;
}

/* nghttp2 pulls a stream's bytes from here as windows and the socket allow. */
static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
  (void)ng;
  (void)src;
  h2conn *c = ud;
  h2stream *s = stream_of(c, id);
  if (!s)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets a stream nobody owns */
  size_t n = 0;
  while (n < length && s->head) {
    wr_chunk *k = s->head;
    size_t m = k->len - s->head_off;
    if (m == 0)
      break; /* the last, partly filled chunk is kept for the next write */
    if (m > length - n)
      m = length - n;
    memcpy(buf + n, k->data + s->head_off, m);
    n += m;
    s->head_off += m;
    if (s->head_off == k->len && (k->next || k->len == WR_CHUNK_SIZE)) {
      s->head = k->next;
      if (!s->head)
        s->tail = NULL;
      s->head_off = 0;
      wr_chunk_put(&c->chunks, k);
    }
  }
  s->queued -= n;
  if (s->queued == 0 && s->fin_queued) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    s->fin_sent = 1;
  } else if (n == 0) {
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (s->want_writable && s->queued <= c->cfg.send_queue_limit / 2)
    wq_add(s);
  return (ssize_t)n;
}

/* Gives the stream a data provider: the edge's request has one from the
 * start; the connector submits its response (":status 200") now. */
static int provide(h2stream *s) {
  h2conn *c = s->c;
  nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = data_read};
  if (!s->provider) {
    static const uint8_t status[] = ":status", ok[] = "200";
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)status, (uint8_t *)(uintptr_t)ok, 7, 3,
                     NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    int rv = nghttp2_submit_response(c->ng, s->id, &nv, 1, &prd);
    if (rv != 0)
      return rv == NGHTTP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_CLOSED;
    s->provider = 1;
  } else if (s->deferred) {
    s->deferred = 0;
    if (nghttp2_session_resume_data(c->ng, s->id) != 0)
      return WR_ERR_CLOSED;
  }
  kick(c);
  return 0;
}

/* ---- nghttp2 callbacks ---- */

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
                       void *ud) {
  (void)ng;
  (void)flags;
  h2conn *c = ud;
  if (!c->t)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  ssize_t n = wr_stream_write(c->t, data, len);
  if (n == WR_ERR_AGAIN)
    return NGHTTP2_ERR_WOULDBLOCK; /* on_writable resumes */
  if (n < 0)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

static int begin_headers_cb(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  h2conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || c->is_edge)
    return 0;
  if (c->app_gone || c->close_requested) {
    nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  h2stream *s = stream_new(c, f->hd.stream_id, NULL);
  if (!s)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, s);
  return 0;
}

static int header_cb(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  (void)ng;
  (void)flags;
  h2conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS || c->is_edge)
    return 0;
  h2stream *s = stream_of(c, f->hd.stream_id);
  if (!s)
    return 0;
  if (namelen == 5 && memcmp(name, ":path", 5) == 0 &&
      (valuelen != strlen(WR_MUX_H2_PATH) || memcmp(value, WR_MUX_H2_PATH, valuelen) != 0))
    s->bad = 1;
  if (namelen == 7 && memcmp(name, ":method", 7) == 0 &&
      (valuelen != 4 || memcmp(value, "POST", 4) != 0))
    s->bad = 1;
  return 0;
}

static void deliver_fin(h2conn *c, h2stream *s) {
  if (s->rx_fin)
    return;
  s->rx_fin = 1;
  if (s->announced && EV(c, on_stream_data))
    c->base.ev->on_stream_data(&c->base, TS(s), (const uint8_t *)"", 0, 1);
}

static int frame_recv_cb(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  h2conn *c = ud;
  h2stream *s = f->hd.stream_id ? stream_of(c, f->hd.stream_id) : NULL;
  switch (f->hd.type) {
  case NGHTTP2_HEADERS:
    if (!s)
      break;
    if (!c->is_edge && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      if (s->bad) {
        WR_DEBUG("Refusing an HTTP/2 stream that is not a tunnel stream", "connection=%s",
                 c->id);
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
        s->write_shut = 1;
        break;
      }
      s->announced = 1;
      if (EV(c, on_stream_open))
        c->base.ev->on_stream_open(&c->base, TS(s));
      else
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
    }
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
      deliver_fin(c, s);
    break;
  case NGHTTP2_DATA:
    if (s && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
      deliver_fin(c, s);
    break;
  case NGHTTP2_PING:
    if (f->hd.flags & NGHTTP2_FLAG_ACK) {
      c->ping_out_ms = 0;
      c->ping_acked_ms = uv_now(c->loop);
    }
    break;
  case NGHTTP2_RST_STREAM:
    if (!s || s->reset_seen)
      break;
    s->reset_seen = 1;
    s->reset_code = f->rst_stream.error_code;
    s->write_shut = 1;
    stream_drop_queue(s);
    if (s->announced && EV(c, on_stream_reset))
      c->base.ev->on_stream_reset(&c->base, TS(s), f->rst_stream.error_code);
    break;
  case NGHTTP2_GOAWAY: {
    const nghttp2_goaway *g = &f->goaway;
    size_t n = g->opaque_data_len > 200 ? 200 : g->opaque_data_len;
    snprintf(c->goaway_reason, sizeof c->goaway_reason,
             "closed by the peer with application code %u%s%.*s", g->error_code, n ? ": " : "",
             (int)n, n ? (const char *)g->opaque_data : "");
    break;
  }
  case NGHTTP2_SETTINGS:
    if (c->want_streams && c->is_edge && !(f->hd.flags & NGHTTP2_FLAG_ACK) &&
        nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) >
            c->nlocal) {
      c->want_streams = 0;
      if (EV(c, on_streams_available))
        c->base.ev->on_streams_available(&c->base);
    }
    break;
  default:
    break;
  }
  return 0;
}

static int data_chunk_cb(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud) {
  (void)flags;
  h2conn *c = ud;
  h2stream *s = stream_of(c, id);
  if (!s || !s->announced || s->reset_seen || c->app_gone || !EV(c, on_stream_data)) {
    nghttp2_session_consume(ng, id, len); /* nobody will: give the credit back now */
    return 0;
  }
  s->rx_delivered += len;
  c->base.ev->on_stream_data(&c->base, TS(s), data, len, 0);
  return 0;
}

static int stream_close_cb(nghttp2_session *ng, int32_t id, uint32_t code, void *ud) {
  h2conn *c = ud;
  h2stream *s = stream_of(c, id);
  if (!s)
    return 0;
  /* Bytes delivered but never consumed still hold the connection window. */
  if (s->rx_delivered > s->rx_consumed)
    nghttp2_session_consume_connection(ng, (size_t)(s->rx_delivered - s->rx_consumed));
  int has_code = s->reset_seen || code != NGHTTP2_NO_ERROR;
  uint64_t rcode = s->reset_seen ? s->reset_code : code;
  int was_local = s->local;
  if (s->announced && EV(c, on_stream_close))
    c->base.ev->on_stream_close(&c->base, TS(s), has_code, rcode);
  stream_free(s);
  if (was_local && c->want_streams && c->ng &&
      nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) >
          c->nlocal) {
    c->want_streams = 0;
    if (EV(c, on_streams_available))
      c->base.ev->on_streams_available(&c->base);
  }
  return 0;
}

/* A local abort: RST_STREAM went out; remember the code for on_stream_close. */
static int frame_send_cb(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  (void)ng;
  h2conn *c = ud;
  if (f->hd.type == NGHTTP2_RST_STREAM) {
    h2stream *s = stream_of(c, f->hd.stream_id);
    if (s && !s->reset_seen) {
      s->reset_seen = 1;
      s->reset_code = f->rst_stream.error_code;
    }
  }
  return 0;
}

/* ---- the connection ---- */

static int session_start(h2conn *c) {
  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *opt = NULL;
  int rv = WR_ERR_NOMEM;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
    goto out;
  nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, frame_send_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
  /* Credit goes back only when the tunnel logic consumes (stream_consume). */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  if (c->is_edge)
    nghttp2_option_set_peer_max_concurrent_streams(opt, c->cfg.max_streams);
  int nrv = c->is_edge ? nghttp2_session_client_new2(&c->ng, cbs, c, opt)
                       : nghttp2_session_server_new2(&c->ng, cbs, c, opt);
  if (nrv != 0) {
    c->ng = NULL;
    goto out;
  }
  nghttp2_settings_entry iv[3];
  size_t niv = 0;
  iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->cfg.stream_window};
  if (c->is_edge) {
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0};
  } else {
    iv[niv++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                         c->cfg.max_streams};
  }
  if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
      nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0,
                                            (int32_t)c->cfg.conn_window) != 0)
    goto out;
  rv = 0;
out:
  if (cbs)
    nghttp2_session_callbacks_del(cbs);
  if (opt)
    nghttp2_option_del(opt);
  return rv;
}

static void deliver_writables(h2conn *c) {
  while (c->wq) {
    h2stream *s = c->wq;
    c->wq = s->wnext;
    s->in_wq = 0;
    if (!s->want_writable || s->write_shut || c->app_gone)
      continue;
    s->want_writable = 0;
    if (EV(c, on_stream_writable))
      c->base.ev->on_stream_writable(&c->base, TS(s));
  }
}

/* Frames everything nghttp2 wants to send (as far as the socket queue takes
 * it), gathered into full TLS records, then tells writers about room. */
static void flush_send(h2conn *c) {
  if (!c->ng || !c->t || c->in_send)
    return;
  c->in_send = 1;
  for (int round = 0; round < 4; round++) {
    wr_stream_cork(c->t);
    int rv = nghttp2_session_send(c->ng);
    if (c->t)
      wr_stream_uncork(c->t);
    if (rv != 0) {
      c->in_send = 0;
      char why[REASON_LEN];
      snprintf(why, sizeof why, "HTTP/2 send error on the connection with %s: %s", c->peerstr,
               nghttp2_strerror(rv));
      finish(c, rv == NGHTTP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_IO, why);
      return;
    }
    if (!c->wq)
      break;
    deliver_writables(c);
  }
  c->in_send = 0;
  if (c->wq)
    kick(c);
  if (c->app_gone)
    return;
  if (c->close_requested && !nghttp2_session_want_write(c->ng)) {
    finish(c, 0, c->close_reason);
    return;
  }
  if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
    finish(c, WR_ERR_CLOSED,
           c->goaway_reason[0] ? c->goaway_reason : "the HTTP/2 session ended");
}

static void on_kick(uv_timer_t *tm) {
  h2conn *c = tm->data;
  if (c->app_gone)
    return;
  if (c->close_requested && !c->ng) {
    finish(c, 0, c->close_reason);
    return;
  }
  flush_send(c);
}

static void kick(h2conn *c) {
  if (!c->kick_closed && !c->app_gone)
    uv_timer_start(&c->kick, on_kick, 0, 0);
}

static void on_kick_closed(uv_handle_t *h) {
  h2conn *c = h->data;
  c->kick_closed = 1;
  maybe_free(c);
}

static void on_idle_closed(uv_handle_t *h) {
  h2conn *c = h->data;
  c->idle_closed = 1;
  maybe_free(c);
}

/* Queues a PING unless one is awaiting its ACK; 1 when queued (to flush). */
static int queue_ping(h2conn *c) {
  if (c->ping_out_ms || nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL) != 0)
    return 0;
  c->ping_out_ms = uv_now(c->loop) ? uv_now(c->loop) : 1;
  return 1;
}

/* Runs every keepalive_ms (at most every second) once connected: a PING
 * after keepalive_ms of quiet, the end after idle_timeout_ms. */
static void on_idle(uv_timer_t *tm) {
  h2conn *c = tm->data;
  if (c->app_gone || !c->ng)
    return;
  uint64_t now = uv_now(c->loop), quiet = now - c->last_recv_ms;
  if (quiet >= c->cfg.idle_timeout_ms) {
    char why[REASON_LEN];
    snprintf(why, sizeof why, "idle timeout: nothing heard from %s for %llu ms", c->peerstr,
             (unsigned long long)c->cfg.idle_timeout_ms);
    finish(c, WR_ERR_TIMEOUT, why);
    return;
  }
  if (c->cfg.keepalive_ms != WR_MUX_H2_NO_KEEPALIVE && quiet >= c->cfg.keepalive_ms &&
      now - c->last_ping_ms >= c->cfg.keepalive_ms) {
    c->last_ping_ms = now;
    if (queue_ping(c))
      flush_send(c);
  }
}

static void idle_start(h2conn *c) {
  uint64_t every = c->cfg.keepalive_ms;
  if (every == WR_MUX_H2_NO_KEEPALIVE || every > c->cfg.idle_timeout_ms / 4)
    every = c->cfg.idle_timeout_ms / 4;
  if (every > 1000)
    every = 1000;
  if (every == 0)
    every = 1;
  c->last_recv_ms = uv_now(c->loop);
  uv_timer_start(&c->idle, on_idle, every, every);
}

/* Tells the tunnel logic the connection is gone (every stream first), then
 * closes TLS; memory goes once TLS and the timer are closed. */
static void finish(h2conn *c, int err, const char *reason) {
  if (c->app_gone)
    return;
  if (c->ng && c->t && !c->in_send) {
    /* A GOAWAY or RST we queued still gets its chance to leave. */
    c->in_send = 1;
    wr_stream_cork(c->t);
    (void)nghttp2_session_send(c->ng);
    if (c->t)
      wr_stream_uncork(c->t);
    c->in_send = 0;
  }
  if (c->close_requested) { /* whatever broke on the way out, this side closed it */
    err = 0;
    reason = c->close_reason;
  }
  int tell = c->connected || !c->lis; /* accepted and never up: nothing to tell */
  c->app_gone = 1;
  char why[REASON_LEN];
  snprintf(why, sizeof why, "%s", reason ? reason : "");
  while (c->streams) {
    h2stream *s = c->streams;
    if (s->announced && tell && c->base.ev && c->base.ev->on_stream_close)
      c->base.ev->on_stream_close(&c->base, TS(s), 0, 0);
    stream_free(s);
  }
  if (err && err != WR_ERR_CLOSED)
    WR_DEBUG("HTTP/2 tunnel connection closed", "connection=%s err=%s reason=%s", c->id,
             wr_strerror(err), why);
  if (tell && c->base.ev && c->base.ev->on_closed)
    c->base.ev->on_closed(&c->base, err, why);
  uv_timer_stop(&c->kick);
  uv_close((uv_handle_t *)&c->kick, on_kick_closed);
  uv_timer_stop(&c->idle);
  uv_close((uv_handle_t *)&c->idle, on_idle_closed);
  if (c->t)
    wr_stream_close(c->t);
  maybe_free(c);
}

static void maybe_free(h2conn *c) {
  if (!c->app_gone || !c->tls_gone || !c->kick_closed || !c->idle_closed)
    return;
  if (c->ng)
    nghttp2_session_del(c->ng);
  wr_chunk_pool_free(&c->chunks);
  wr_mux_h2_listener *l = c->lis;
  if (l) {
    if (c->lprev)
      c->lprev->lnext = c->lnext;
    else
      l->conns = c->lnext;
    if (c->lnext)
      c->lnext->lprev = c->lprev;
    l->nconns--;
  }
  c->magic = 0;
  wr_free(c);
  if (l && l->closing && l->tl_gone && l->nconns == 0) {
    if (l->close_cb)
      l->close_cb(l, l->close_data);
    wr_free(l);
  }
}

/* ---- TLS events ---- */

static void t_on_connected(wr_stream *t) {
  h2conn *c = t->user;
  if (strcmp(wr_tls_stream_alpn(t), c->cfg.alpn) != 0) {
    char why[REASON_LEN];
    snprintf(why, sizeof why, "%s speaks \"%s\", not the tunnel protocol %s", c->peerstr,
             wr_tls_stream_alpn(t), c->cfg.alpn);
    finish(c, WR_ERR_UNSUPPORTED, why);
    return;
  }
  if (session_start(c) != 0) {
    finish(c, WR_ERR_NOMEM, "out of memory while starting the HTTP/2 session");
    return;
  }
  c->connected = 1;
  idle_start(c);
  flush_send(c); /* preface and SETTINGS */
  if (EV(c, on_connected))
    c->base.ev->on_connected(&c->base);
}

static void t_on_data(wr_stream *t, const uint8_t *data, size_t len) {
  h2conn *c = t->user;
  if (c->app_gone || !c->ng)
    return;
  c->last_recv_ms = uv_now(c->loop);
  ssize_t rv = nghttp2_session_mem_recv(c->ng, data, len);
  if (rv < 0) {
    char why[REASON_LEN];
    snprintf(why, sizeof why, "HTTP/2 protocol error from %s: %s", c->peerstr,
             nghttp2_strerror((int)rv));
    finish(c, rv == NGHTTP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_MALFORMED, why);
    return;
  }
  flush_send(c);
}

static void t_on_eof(wr_stream *t) {
  h2conn *c = t->user;
  finish(c, c->close_requested ? 0 : WR_ERR_CLOSED,
         c->close_requested    ? c->close_reason
         : c->goaway_reason[0] ? c->goaway_reason
                               : "the peer closed the connection");
}

static void t_on_writable(wr_stream *t) { flush_send(t->user); }

static void t_on_closed(wr_stream *t, int err, const char *reason) {
  h2conn *c = t->user;
  c->t = NULL;
  c->tls_gone = 1;
  if (c->close_requested)
    finish(c, 0, c->close_reason);
  else if (c->goaway_reason[0] && err == WR_ERR_CLOSED)
    finish(c, err, c->goaway_reason);
  else
    finish(c, err ? err : WR_ERR_CLOSED, reason);
  maybe_free(c);
}

static const wr_stream_events tls_events = {
    .on_connected = t_on_connected,
    .on_data = t_on_data,
    .on_eof = t_on_eof,
    .on_writable = t_on_writable,
    .on_closed = t_on_closed,
};

static h2conn *conn_new(uv_loop_t *loop, const wr_mux_h2_config *cfg, int is_edge) {
  h2conn *c = wr_calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->magic = CONN_MAGIC;
  c->loop = loop;
  wr_chunk_pool_init(&c->chunks, MAX_FREE_CHUNKS);
  if (cfg)
    c->cfg = *cfg;
  apply_defaults(&c->cfg);
  c->is_edge = is_edge;
  c->base.ops = &h2_ops;
  uint8_t rnd[8];
  if (wr_random_bytes(rnd, sizeof rnd) != 0)
    memset(rnd, 0, sizeof rnd);
  wr_hex_encode(c->id, rnd, sizeof rnd);
  uv_timer_init(loop, &c->kick);
  c->kick.data = c;
  uv_timer_init(loop, &c->idle);
  c->idle.data = c;
  return c;
}

/* The socket's settings and the TLS filter's for a connection. */
static void stream_configs(const wr_mux_h2_config *cfg, wr_tcp_config *tc,
                           wr_tls_stream_config *sc) {
  *tc = (wr_tcp_config){.write_queue_limit = cfg->tls_queue_limit};
  *sc = (wr_tls_stream_config){
      .alpn = cfg->alpn,
      .tls_flags = WR_TLS_STREAM_TLS13_ONLY,
      .write_queue_limit = cfg->tls_queue_limit,
      .handshake_timeout_ms = cfg->handshake_timeout_ms,
  };
}

/* A connection that was never announced: its timers close, it is freed
 * quietly. */
static void conn_drop(h2conn *c) {
  c->app_gone = 1;
  c->tls_gone = 1;
  uv_close((uv_handle_t *)&c->kick, on_kick_closed);
  uv_close((uv_handle_t *)&c->idle, on_idle_closed);
}

int wr_mux_h2_connect(wr_mux_conn **pc, uv_loop_t *loop, const struct sockaddr *remote,
                     const char *server_name, const wr_tls_client *tls,
                     const wr_mux_h2_config *cfg, const wr_mux_events *ev, void *user) {
  *pc = NULL;
  if (!remote || !tls ||
      (remote->sa_family != AF_INET && remote->sa_family != AF_INET6))
    return WR_ERR_INVAL;
  h2conn *c = conn_new(loop, cfg, 0);
  if (!c)
    return WR_ERR_NOMEM;
  c->base.ev = ev;
  c->base.user = user;
  memcpy(&c->peer, remote,
         remote->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  stream_configs(&c->cfg, &tc, &sc);
  wr_addr a;
  wr_addr_from_sockaddr(remote, &a);
  char ipname[WR_ADDR_STRLEN];
  if (!server_name || !server_name[0]) /* verified against the IP literal */
    server_name = wr_addr_format_ip(&a, ipname, sizeof ipname);
  wr_stream *lower = NULL;
  int rv = wr_tcp_connect(&lower, loop, &a, &tc, NULL, NULL);
  if (rv == 0) /* takes lower over, or closes it */
    rv = wr_tls_stream_client(&c->t, loop, lower, server_name, tls, &sc, &tls_events, c);
  if (rv != 0) {
    conn_drop(c);
    return rv;
  }
  snprintf(c->peerstr, sizeof c->peerstr, "%s", wr_stream_peer_str(c->t));
  *pc = &c->base;
  return 0;
}

/* ---- the edge's listener ---- */

/* A TCP connection came in: the TLS server handshake starts on it. */
static void on_tcp_accept(wr_tcp_listener *tl, wr_stream *lower, void *data) {
  (void)tl;
  wr_mux_h2_listener *l = data;
  h2conn *c = conn_new(l->loop, &l->cfg, 1);
  if (!c) {
    WR_WARN("Out of memory: dropping an HTTP/2 tunnel connection", "peer=%s",
            wr_stream_peer_str(lower));
    wr_stream_reset(lower);
    return;
  }
  memcpy(&c->peer, wr_stream_peer_addr(lower), sizeof c->peer);
  snprintf(c->peerstr, sizeof c->peerstr, "%s", wr_stream_peer_str(lower));
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  stream_configs(&c->cfg, &tc, &sc);
  if (wr_tls_stream_server(&c->t, l->loop, lower, l->tls, &sc, &tls_events, c) != 0) {
    WR_WARN("Out of memory: dropping an HTTP/2 tunnel connection", "peer=%s", c->peerstr);
    conn_drop(c); /* lower is closed */
    return;
  }
  c->base.ev = l->ev;
  c->base.user = l->user;
  c->lis = l;
  c->lnext = l->conns;
  if (l->conns)
    l->conns->lprev = c;
  l->conns = c;
  l->nconns++;
}

int wr_mux_h2_listen(wr_mux_h2_listener **pl, uv_loop_t *loop, const struct sockaddr *bind_addr,
                    const wr_tls_server *tls, const wr_mux_h2_config *cfg, const wr_mux_events *ev,
                    void *user) {
  *pl = NULL;
  if (!tls || !bind_addr)
    return WR_ERR_INVAL;
  wr_mux_h2_listener *l = wr_calloc(1, sizeof *l);
  if (!l)
    return WR_ERR_NOMEM;
  l->loop = loop;
  l->ev = ev;
  l->user = user;
  if (cfg)
    l->cfg = *cfg;
  apply_defaults(&l->cfg);
  l->tls = tls;
  wr_tcp_config tc;
  wr_tls_stream_config sc;
  stream_configs(&l->cfg, &tc, &sc);
  wr_addr a;
  wr_addr_from_sockaddr(bind_addr, &a);
  int rv = wr_tcp_listen(&l->tl, loop, &a, &tc, on_tcp_accept, l);
  if (rv != 0) {
    wr_free(l);
    return rv;
  }
  *pl = l;
  return 0;
}

static void on_tl_closed(wr_tcp_listener *tl, void *data) {
  (void)tl;
  wr_mux_h2_listener *l = data;
  l->tl_gone = 1;
  if (l->nconns == 0) {
    if (l->close_cb)
      l->close_cb(l, l->close_data);
    wr_free(l);
  }
}

static void op_close(wr_mux_conn *cp, uint64_t code, const char *reason);

void wr_mux_h2_listener_close(wr_mux_h2_listener *l, void (*cb)(wr_mux_h2_listener *l, void *data),
                             void *data) {
  if (l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  l->close_data = data;
  for (h2conn *c = l->conns; c; c = c->lnext)
    op_close(&c->base, 0, "the edge is shutting down");
  wr_tcp_listener_close(l->tl, on_tl_closed, l);
}

int wr_mux_h2_listener_addr(const wr_mux_h2_listener *l, struct sockaddr_storage *out) {
  wr_addr a;
  if (wr_tcp_listener_addr(l->tl, &a) != 0)
    return WR_ERR_IO;
  memcpy(out, &a.ss, sizeof *out);
  return 0;
}

int wr_mux_is_h2(const wr_mux_conn *c) { return c && c->ops == &h2_ops; }

/* ---- the seam's operations ---- */

static int op_stream_open(wr_mux_conn *cp, void *user, wr_mux_stream **ps) {
  h2conn *c = H2CONN(cp);
  if (!c->is_edge)
    return WR_ERR_UNSUPPORTED; /* an HTTP/2 server cannot open streams */
  if (c->app_gone || c->close_requested)
    return WR_ERR_CLOSED;
  if (!c->connected || !c->ng)
    return WR_ERR_AGAIN;
  if (c->goaway_reason[0] || nghttp2_session_get_next_stream_id(c->ng) > INT32_MAX)
    return WR_ERR_CLOSED; /* no new streams on this connection: dial another */
  if (c->nlocal >=
      nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)) {
    c->want_streams = 1;
    return WR_ERR_LIMIT;
  }
  h2stream *s = stream_new(c, 0, user);
  if (!s)
    return WR_ERR_NOMEM;
  static const char authority[] = "warren-tunnel";
#define NV(n, v)                                                                                \
  {(uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), sizeof(n) - 1, sizeof(v) - 1,        \
   NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE}
  const nghttp2_nv nva[] = {NV(":method", "POST"), NV(":scheme", "https"),
                            NV(":authority", authority), NV(":path", WR_MUX_H2_PATH)};
#undef NV
  nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = data_read};
  int32_t id = nghttp2_submit_request(c->ng, NULL, nva, sizeof nva / sizeof nva[0], &prd, s);
  if (id < 0) {
    stream_free(s);
    return id == NGHTTP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_CLOSED;
  }
  s->id = id;
  s->local = 1;
  s->announced = 1;
  s->provider = 1;
  c->nlocal++;
  kick(c);
  *ps = TS(s);
  return 0;
}

static ssize_t op_stream_write(wr_mux_stream *sp, const void *data, size_t len) {
  h2stream *s = HS(sp);
  h2conn *c = s->c;
  if (s->write_shut || s->fin_queued || c->app_gone || c->close_requested || !c->ng)
    return WR_ERR_CLOSED;
  size_t limit = c->cfg.send_queue_limit;
  if (s->queued >= limit) {
    s->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  size_t n = len < limit - s->queued ? len : limit - s->queued;
  const uint8_t *p = data;
  size_t left = n;
  while (left > 0) {
    wr_chunk *k = s->tail;
    if (!k || k->len == WR_CHUNK_SIZE) {
      wr_chunk *nk = wr_chunk_get(&c->chunks);
      if (!nk)
        break;
      if (k)
        k->next = nk;
      else
        s->head = nk;
      s->tail = k = nk;
    }
    size_t m = WR_CHUNK_SIZE - k->len;
    if (m > left)
      m = left;
    memcpy(k->data + k->len, p, m);
    k->len += m;
    p += m;
    left -= m;
  }
  n -= left;
  if (n == 0 && len > 0)
    return WR_ERR_NOMEM;
  s->queued += n;
  if (n < len)
    s->want_writable = 1;
  int rv = provide(s);
  if (rv != 0)
    return rv;
  return (ssize_t)n;
}

static int op_stream_end(wr_mux_stream *sp) {
  h2stream *s = HS(sp);
  h2conn *c = s->c;
  if (s->write_shut || c->app_gone || !c->ng)
    return WR_ERR_CLOSED;
  if (s->fin_queued)
    return 0;
  s->fin_queued = 1;
  return provide(s);
}

static int op_stream_abort(wr_mux_stream *sp, uint64_t code) {
  h2stream *s = HS(sp);
  h2conn *c = s->c;
  if (c->app_gone || !c->ng)
    return WR_ERR_CLOSED;
  if (s->write_shut && s->reset_seen)
    return 0; /* already reset, by either side */
  s->write_shut = 1;
  s->want_writable = 0;
  stream_drop_queue(s);
  int rv = nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, h2_code(code));
  kick(c);
  return rv == 0 ? 0 : rv == NGHTTP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_CLOSED;
}

static void op_stream_consume(wr_mux_stream *sp, size_t n) {
  h2stream *s = HS(sp);
  h2conn *c = s->c;
  if (n > s->rx_delivered - s->rx_consumed)
    n = (size_t)(s->rx_delivered - s->rx_consumed);
  if (n == 0 || c->app_gone || !c->ng)
    return;
  s->rx_consumed += n;
  nghttp2_session_consume(c->ng, s->id, n);
  kick(c);
}

static size_t op_stream_queued(const wr_mux_stream *sp) { return HS(sp)->queued; }
static void op_stream_set_user(wr_mux_stream *sp, void *user) { HS(sp)->user = user; }
static void *op_stream_user(const wr_mux_stream *sp) { return HS(sp)->user; }

static void op_close(wr_mux_conn *cp, uint64_t code, const char *reason) {
  h2conn *c = H2CONN(cp);
  if (c->app_gone || c->close_requested)
    return;
  c->close_requested = 1;
  c->close_code = code;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "closed");
  if (c->ng) {
    size_t n = strlen(c->close_reason);
    (void)nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(c->ng), h2_code(code),
                                (const uint8_t *)c->close_reason, n > 200 ? 200 : n);
  }
  kick(c);
}

static int op_export_keying(wr_mux_conn *cp, const char *label, const uint8_t *ctx, size_t ctxlen,
                            uint8_t *out, size_t outlen) {
  h2conn *c = H2CONN(cp);
  if (!c->t || !c->connected)
    return WR_ERR_INVAL;
  return wr_tls_stream_export(c->t, label, ctx, ctxlen, out, outlen);
}

static void op_stats(wr_mux_conn *cp, wr_mux_stats *out) {
  h2conn *c = H2CONN(cp);
  memset(out, 0, sizeof *out);
  wr_stream *sock = c->t ? wr_tls_stream_lower(c->t) : NULL;
  if (sock) {
    wr_tcp_stats ts;
    wr_tcp_stats_get(sock, &ts);
    out->rtt_ns = ts.rtt_ns;
    out->cwnd = ts.cwnd;
    out->lost_packets = ts.retransmits;
    out->bytes_sent = ts.bytes_sent;
    out->bytes_recv = ts.bytes_recv;
    out->unanswered_ns = ts.unanswered_ns;
  }
  if (c->ping_out_ms) {
    uint64_t waited = (uv_now(c->loop) - c->ping_out_ms) * 1000000u;
    if (waited > out->unanswered_ns)
      out->unanswered_ns = waited;
  }
  out->streams_open = c->nstreams;
  uint64_t now = uv_now(c->loop);
  if (c->last_recv_ms && now > c->last_recv_ms)
    out->heard_ago_ns = (now - c->last_recv_ms) * 1000000u;
}

/* A PING unless one is out or one was answered within the last second. */
static void op_probe(wr_mux_conn *cp) {
  h2conn *c = H2CONN(cp);
  if (c->app_gone || !c->ng || uv_now(c->loop) - c->ping_acked_ms < 1000)
    return;
  if (queue_ping(c))
    flush_send(c);
}

static const char *op_id(const wr_mux_conn *cp) { return H2CONN(cp)->id; }

static const struct sockaddr *op_peer_addr(const wr_mux_conn *cp) {
  return (const struct sockaddr *)&H2CONN(cp)->peer;
}

static const wr_mux_ops h2_ops = {
    .protocol = "http2",
    .stream_open = op_stream_open,
    .stream_write = op_stream_write,
    .stream_end = op_stream_end,
    .stream_abort = op_stream_abort,
    .stream_consume = op_stream_consume,
    .stream_queued = op_stream_queued,
    .stream_set_user = op_stream_set_user,
    .stream_user = op_stream_user,
    .close = op_close,
    .export_keying = op_export_keying,
    .stats = op_stats,
    .probe = op_probe,
    .id = op_id,
    .peer_addr = op_peer_addr,
};
