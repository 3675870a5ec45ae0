/* yamux.c: yamux frames and the session state machine. */
#include "proto/p2p/yamux.h"

#include <string.h>

#include "base/mem.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

struct wr_yamux_stream {
  wr_yamux_session *y;
  uint32_t id;
  void *user;
  uint32_t send_window;
  uint32_t recv_window; /* what the peer may still send */
  uint32_t window;      /* the receive window this stream keeps up */
  uint32_t unacked;     /* consumed, not yet given back */
  int fin_sent, fin_recv, reset, finished, want_write, need_ack;
  wr_yamux_stream *next; /* hash chain, or the done list */
};

int wr_yamux_hdr_decode(const uint8_t p[WR_YAMUX_HDR], wr_yamux_hdr *h, const char **preason) {
  h->version = p[0];
  h->type = p[1];
  h->flags = (uint16_t)(p[2] << 8 | p[3]);
  h->stream_id = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
  h->length = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
  if (h->version != 0)
    FAIL(WR_ERR_MALFORMED, "yamux frame has a version other than 0");
  if (h->type > WR_YAMUX_GO_AWAY)
    FAIL(WR_ERR_MALFORMED, "yamux frame has an unknown type");
  if (h->flags & ~0xfu)
    FAIL(WR_ERR_MALFORMED, "yamux frame has unknown flags");
  return 0;
}

void wr_yamux_hdr_encode(const wr_yamux_hdr *h, uint8_t out[WR_YAMUX_HDR]) {
  out[0] = h->version;
  out[1] = h->type;
  out[2] = (uint8_t)(h->flags >> 8);
  out[3] = (uint8_t)h->flags;
  for (int i = 0; i < 4; i++) {
    out[4 + i] = (uint8_t)(h->stream_id >> (24 - 8 * i));
    out[8 + i] = (uint8_t)(h->length >> (24 - 8 * i));
  }
}

static int put_frame(wr_yamux_session *y, uint8_t type, uint16_t flags, uint32_t id,
                     uint32_t length, const uint8_t *body, size_t n) {
  wr_yamux_hdr h = {0, type, flags, id, length};
  uint8_t b[WR_YAMUX_HDR];
  wr_yamux_hdr_encode(&h, b);
  int rv = wr_buf_reserve(&y->out, WR_YAMUX_HDR + n);
  if (rv != 0)
    return rv;
  memcpy(y->out.data + y->out.len, b, WR_YAMUX_HDR);
  if (n)
    memcpy(y->out.data + y->out.len + WR_YAMUX_HDR, body, n);
  y->out.len += WR_YAMUX_HDR + n;
  return 0;
}

int wr_yamux_init(wr_yamux_session *y, int client, const wr_yamux_config *cfg,
                  const wr_yamux_events *ev, void *user) {
  memset(y, 0, sizeof *y);
  y->client = client;
  y->ev = ev;
  y->user = user;
  y->cfg.max_streams = cfg && cfg->max_streams ? cfg->max_streams : 1024;
  y->cfg.out_limit = cfg && cfg->out_limit ? cfg->out_limit : 1024 * 1024;
  /* Windows larger than the initial one would need announcing; not yet. */
  y->cfg.window = WR_YAMUX_INITIAL_WINDOW;
  y->next_id = client ? 1 : 2;
  /* Control frames may still go out past out_limit, so the hard cap is
   * above it; a peer that never reads fills it and the session fails. */
  wr_buf_init(&y->out, y->cfg.out_limit * 4 + 64 * 1024);
  y->table_size = 256;
  y->table = wr_calloc(y->table_size, sizeof *y->table);
  return y->table ? 0 : WR_ERR_NOMEM;
}

static wr_yamux_stream **slot(wr_yamux_session *y, uint32_t id) {
  wr_yamux_stream **pp = &y->table[id % y->table_size];
  while (*pp && (*pp)->id != id)
    pp = &(*pp)->next;
  return pp;
}

static wr_yamux_stream *find(wr_yamux_session *y, uint32_t id) { return *slot(y, id); }

static wr_yamux_stream *add(wr_yamux_session *y, uint32_t id, void *user) {
  wr_yamux_stream *st = wr_calloc(1, sizeof *st);
  if (!st)
    return NULL;
  st->y = y;
  st->id = id;
  st->user = user;
  st->send_window = WR_YAMUX_INITIAL_WINDOW;
  st->recv_window = WR_YAMUX_INITIAL_WINDOW;
  st->window = WR_YAMUX_INITIAL_WINDOW;
  wr_yamux_stream **pp = slot(y, id);
  *pp = st;
  y->nstreams++;
  return st;
}

/* Moves a stream from the table to the done list. */
static void finish(wr_yamux_stream *st) {
  if (st->finished)
    return;
  wr_yamux_session *y = st->y;
  wr_yamux_stream **pp = slot(y, st->id);
  if (*pp == st)
    *pp = st->next;
  st->finished = 1;
  st->next = y->done;
  y->done = st;
  y->nstreams--;
}

static void maybe_finish(wr_yamux_stream *st) {
  if (st->reset || (st->fin_sent && st->fin_recv))
    finish(st);
}

void wr_yamux_free(wr_yamux_session *y) {
  for (size_t i = 0; y->table && i < y->table_size; i++) {
    wr_yamux_stream *st = y->table[i];
    while (st) {
      wr_yamux_stream *n = st->next;
      wr_free(st);
      st = n;
    }
  }
  while (y->done) {
    wr_yamux_stream *n = y->done->next;
    wr_free(y->done);
    y->done = n;
  }
  wr_free(y->table);
  y->table = NULL;
  wr_buf_free(&y->out);
}

void wr_yamux_reap(wr_yamux_session *y) {
  while (y->done) {
    wr_yamux_stream *st = y->done;
    y->done = st->next;
    if (y->ev->on_stream_close)
      y->ev->on_stream_close(y, st, st->reset);
    wr_free(st);
  }
}

void wr_yamux_fail(wr_yamux_session *y) {
  y->failed = 1;
  for (size_t i = 0; i < y->table_size; i++)
    while (y->table[i]) {
      y->table[i]->reset = 1;
      finish(y->table[i]);
    }
}

static int fail_protocol(wr_yamux_session *y) {
  if (!y->goaway_sent) {
    y->goaway_sent = 1;
    (void)put_frame(y, WR_YAMUX_GO_AWAY, 0, 0, WR_YAMUX_GOAWAY_PROTOCOL, NULL, 0);
  }
  wr_yamux_fail(y);
  return WR_ERR_MALFORMED;
}

void wr_yamux_out_drained(wr_yamux_session *y) {
  if (!y->blocked || y->out.len > y->cfg.out_limit / 2)
    return;
  y->blocked = 0;
  /* Streams may finish inside the callbacks (moving to the done list), so
   * collect ids first and look each up again. */
  for (size_t i = 0; i < y->table_size; i++) {
    uint32_t ids[64];
    size_t k = 0;
    for (wr_yamux_stream *st = y->table[i]; st && k < 64; st = st->next)
      if (st->want_write && st->send_window > 0)
        ids[k++] = st->id;
    for (size_t j = 0; j < k; j++) {
      wr_yamux_stream *st = find(y, ids[j]);
      if (st && st->want_write) {
        st->want_write = 0;
        if (y->ev->on_stream_writable)
          y->ev->on_stream_writable(y, st);
      }
    }
  }
}

/* Handles SYN/ACK/FIN/RST of a DATA or WINDOW_UPDATE frame before its
 * body; returns the stream (NULL when the frame is for a stream we do not
 * know or refused) or an error through *perr. */
static wr_yamux_stream *stream_flags_head(wr_yamux_session *y, const wr_yamux_hdr *h, int *perr,
                                          const char **preason) {
  *perr = 0;
  wr_yamux_stream *st = find(y, h->stream_id);
  if (h->flags & WR_YAMUX_SYN) {
    if (st || h->stream_id == 0 || (h->stream_id % 2 == 1) == (y->client != 0)) {
      if (preason)
        *preason = "yamux SYN for a stream ID in use or of our own parity";
      *perr = fail_protocol(y);
      return NULL;
    }
    if (y->goaway_sent || y->nstreams >= y->cfg.max_streams) {
      (void)put_frame(y, WR_YAMUX_WINDOW_UPDATE, WR_YAMUX_RST, h->stream_id, 0, NULL, 0);
      return NULL;
    }
    st = add(y, h->stream_id, NULL);
    if (!st) {
      *perr = WR_ERR_NOMEM;
      return NULL;
    }
    st->need_ack = 1;
    /* The ACK goes out at once, so the peer's open completes even if we
     * never write. */
    if (put_frame(y, WR_YAMUX_WINDOW_UPDATE, WR_YAMUX_ACK, st->id, 0, NULL, 0) == 0)
      st->need_ack = 0;
    uint32_t id = st->id;
    if (y->ev->on_stream_open)
      y->ev->on_stream_open(y, st);
    st = find(y, id);
  }
  return st;
}

static void stream_flags_tail(wr_yamux_session *y, uint32_t id, uint16_t flags) {
  wr_yamux_stream *st = find(y, id);
  if (!st)
    return;
  if (flags & WR_YAMUX_RST) {
    st->reset = 1;
    finish(st);
    return;
  }
  if ((flags & WR_YAMUX_FIN) && !st->fin_recv) {
    st->fin_recv = 1;
    if (y->ev->on_stream_fin)
      y->ev->on_stream_fin(y, st);
    st = find(y, id);
    if (st)
      maybe_finish(st);
  }
}

static int frame(wr_yamux_session *y, const wr_yamux_hdr *h, const char **preason) {
  int err;
  switch (h->type) {
  case WR_YAMUX_PING:
    if (h->stream_id != 0)
      FAIL(fail_protocol(y), "yamux PING on a stream other than 0");
    if (h->flags & WR_YAMUX_SYN)
      return put_frame(y, WR_YAMUX_PING, WR_YAMUX_ACK, 0, h->length, NULL, 0);
    if ((h->flags & WR_YAMUX_ACK) && y->ev->on_ping_ack)
      y->ev->on_ping_ack(y, h->length);
    return 0;
  case WR_YAMUX_GO_AWAY:
    if (h->stream_id != 0)
      FAIL(fail_protocol(y), "yamux GO_AWAY on a stream other than 0");
    y->goaway_recv = 1;
    if (y->ev->on_goaway)
      y->ev->on_goaway(y, h->length);
    return 0;
  case WR_YAMUX_WINDOW_UPDATE: {
    if (h->stream_id == 0)
      FAIL(fail_protocol(y), "yamux WINDOW_UPDATE on stream 0");
    wr_yamux_stream *st = stream_flags_head(y, h, &err, preason);
    if (err)
      return err;
    if (st) {
      uint64_t w = (uint64_t)st->send_window + h->length;
      if (w > UINT32_MAX)
        FAIL(fail_protocol(y), "yamux window update past 4 GiB");
      st->send_window = (uint32_t)w;
      if (st->want_write && st->send_window > 0) {
        if (y->out.len <= y->cfg.out_limit) {
          st->want_write = 0;
          if (y->ev->on_stream_writable)
            y->ev->on_stream_writable(y, st);
        } else {
          /* A write may end past out_limit without having been refused,
           * so blocked may be clear: set it, or the drain would never
           * wake this stream and it would wait forever. */
          y->blocked = 1;
        }
      }
    }
    stream_flags_tail(y, h->stream_id, h->flags);
    return 0;
  }
  default: /* DATA: the head here, the body as it comes */
    if (h->stream_id == 0)
      FAIL(fail_protocol(y), "yamux DATA on stream 0");
    {
      wr_yamux_stream *st = stream_flags_head(y, h, &err, preason);
      if (err)
        return err;
      y->body_stream = h->stream_id;
      y->body_left = h->length;
      y->body_deliver = 0;
      if (st) {
        if (h->length > st->recv_window)
          FAIL(fail_protocol(y), "yamux peer sent more than the stream's window");
        if (st->fin_recv && h->length)
          FAIL(fail_protocol(y), "yamux DATA after FIN");
        st->recv_window -= h->length;
        y->body_deliver = 1;
      }
    }
    return 0;
  }
}

int wr_yamux_input(wr_yamux_session *y, const uint8_t *p, size_t n, const char **preason) {
  if (y->failed)
    FAIL(WR_ERR_CLOSED, "yamux session already failed");
  size_t off = 0;
  while (off < n) {
    if (y->body_left > 0) {
      size_t take = n - off < y->body_left ? n - off : y->body_left;
      y->body_left -= (uint32_t)take;
      wr_yamux_stream *st = y->body_deliver ? find(y, y->body_stream) : NULL;
      if (st && !st->reset && y->ev->on_stream_data)
        y->ev->on_stream_data(y, st, p + off, take);
      off += take;
      if (y->body_left == 0)
        stream_flags_tail(y, y->body_stream, (uint16_t)(y->hdr[2] << 8 | y->hdr[3]));
      if (y->failed)
        return WR_ERR_CLOSED;
      continue;
    }
    size_t take = WR_YAMUX_HDR - y->hdr_have;
    if (take > n - off)
      take = n - off;
    memcpy(y->hdr + y->hdr_have, p + off, take);
    y->hdr_have += take;
    off += take;
    if (y->hdr_have < WR_YAMUX_HDR)
      break;
    y->hdr_have = 0;
    wr_yamux_hdr h;
    int rv = wr_yamux_hdr_decode(y->hdr, &h, preason);
    if (rv != 0) {
      fail_protocol(y);
      return rv;
    }
    rv = frame(y, &h, preason);
    if (rv != 0)
      return rv;
    if (h.type == WR_YAMUX_DATA && h.length == 0)
      stream_flags_tail(y, h.stream_id, h.flags);
    if (y->failed)
      return WR_ERR_CLOSED;
  }
  return 0;
}

int wr_yamux_open(wr_yamux_session *y, void *user, wr_yamux_stream **pst) {
  if (y->failed || y->goaway_recv || y->goaway_sent)
    return WR_ERR_CLOSED;
  if (y->nstreams >= y->cfg.max_streams || y->next_id > UINT32_MAX - 2)
    return WR_ERR_LIMIT;
  wr_yamux_stream *st = add(y, y->next_id, user);
  if (!st)
    return WR_ERR_NOMEM;
  y->next_id += 2;
  int rv = put_frame(y, WR_YAMUX_WINDOW_UPDATE, WR_YAMUX_SYN, st->id, 0, NULL, 0);
  if (rv != 0) {
    st->reset = 1;
    finish(st);
    return rv;
  }
  *pst = st;
  return 0;
}

static ssize_t stream_write(wr_yamux_stream *st, const uint8_t *p, size_t n, size_t limit) {
  wr_yamux_session *y = st->y;
  if (st->finished || st->fin_sent || y->failed)
    return WR_ERR_CLOSED;
  size_t done = 0;
  while (done < n) {
    if (st->send_window == 0 || y->out.len >= limit) {
      if (y->out.len >= y->cfg.out_limit)
        y->blocked = 1;
      st->want_write = 1;
      break;
    }
    size_t k = n - done;
    if (k > st->send_window)
      k = st->send_window;
    if (k > WR_YAMUX_MAX_FRAME)
      k = WR_YAMUX_MAX_FRAME;
    int rv = put_frame(y, WR_YAMUX_DATA, 0, st->id, (uint32_t)k, p + done, k);
    if (rv != 0)
      return done ? (ssize_t)done : rv;
    st->send_window -= (uint32_t)k;
    done += k;
  }
  return done ? (ssize_t)done : WR_ERR_AGAIN;
}

ssize_t wr_yamux_stream_write(wr_yamux_stream *st, const uint8_t *p, size_t n) {
  return stream_write(st, p, n, st->y->cfg.out_limit);
}

ssize_t wr_yamux_stream_write_control(wr_yamux_stream *st, const uint8_t *p, size_t n) {
  /* Up to the out buffer's hard cap, as control frames: a few hundred bytes
   * of protocol negotiation must never wait behind bulk data. */
  return stream_write(st, p, n, st->y->out.limit);
}

int wr_yamux_stream_end(wr_yamux_stream *st) {
  if (st->finished || st->fin_sent)
    return WR_ERR_CLOSED;
  int rv = put_frame(st->y, WR_YAMUX_WINDOW_UPDATE, WR_YAMUX_FIN, st->id, 0, NULL, 0);
  if (rv != 0)
    return rv;
  st->fin_sent = 1;
  maybe_finish(st);
  return 0;
}

void wr_yamux_stream_reset(wr_yamux_stream *st) {
  if (st->finished)
    return;
  (void)put_frame(st->y, WR_YAMUX_WINDOW_UPDATE, WR_YAMUX_RST, st->id, 0, NULL, 0);
  st->reset = 1;
  finish(st);
}

void wr_yamux_stream_consume(wr_yamux_stream *st, size_t n) {
  if (st->finished || st->fin_recv)
    return;
  st->unacked += (uint32_t)n;
  /* Credit goes back in halves of the window: fewer frames, and the peer
   * never stalls while the other half is in flight. */
  if (st->unacked >= st->window / 2 &&
      put_frame(st->y, WR_YAMUX_WINDOW_UPDATE, 0, st->id, st->unacked, NULL, 0) == 0) {
    st->recv_window += st->unacked;
    st->unacked = 0;
  }
}

int wr_yamux_stream_set_window(wr_yamux_stream *st, uint32_t window) {
  if (st->finished || st->fin_recv)
    return WR_ERR_CLOSED;
  if (window > WR_YAMUX_MAX_WINDOW)
    return WR_ERR_INVAL;
  if (window <= st->window)
    return 0;
  uint32_t delta = window - st->window;
  int rv = put_frame(st->y, WR_YAMUX_WINDOW_UPDATE, 0, st->id, delta, NULL, 0);
  if (rv != 0)
    return rv;
  st->recv_window += delta;
  st->window = window;
  return 0;
}

uint32_t wr_yamux_stream_id(const wr_yamux_stream *st) { return st->id; }
void *wr_yamux_stream_user(const wr_yamux_stream *st) { return st->user; }
void wr_yamux_stream_set_user(wr_yamux_stream *st, void *user) { st->user = user; }
wr_yamux_session *wr_yamux_stream_session(const wr_yamux_stream *st) { return st->y; }

int wr_yamux_ping(wr_yamux_session *y, uint32_t opaque) {
  return put_frame(y, WR_YAMUX_PING, WR_YAMUX_SYN, 0, opaque, NULL, 0);
}

int wr_yamux_goaway(wr_yamux_session *y, uint32_t code) {
  if (y->goaway_sent)
    return 0;
  y->goaway_sent = 1;
  return put_frame(y, WR_YAMUX_GO_AWAY, 0, 0, code, NULL, 0);
}
