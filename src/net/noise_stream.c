/* noise_stream.c: Noise as a byte-stream filter (net/noise_stream.h). */
#include "net/noise_stream.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rbuf.h"
#include "io/random.h"
#include "proto/p2p/noise.h"

/* One frame at most is buffered from below beyond what is being read. */
#define IN_LIMIT (4u * 1024 * 1024)
#define OUT_HARD_LIMIT (64u * 1024 * 1024)

typedef struct noise_stream {
  wr_stream base;
  wr_stream *lower;
  uv_timer_t timer; /* handshake deadline; resume after a pause */
  wr_noise_stream_config cfg;
  wr_noise_hs hs;
  wr_noise_cipher tx, rx;
  wr_p2p_privkey id;
  wr_peerid peer;
  int pending;       /* timer + lower until both closed */
  uint64_t deadline; /* loop time the handshake must finish by */
  int resume;        /* the timer runs process() next, not the deadline */
  unsigned connected : 1, failed : 1, closing : 1, paused : 1, want_writable : 1, eof : 1,
      eof_told : 1;
  int close_err;
  char close_reason[200];
  wr_buf in;  /* ciphertext from below not yet processed */
  wr_buf out; /* ciphertext the lower stream has not taken */
} noise_stream;

static const wr_stream_ops noise_ops;
static const wr_stream_events lower_events;

static noise_stream *N(const wr_stream *s) { return (noise_stream *)s; }

static void maybe_free(noise_stream *n) {
  if (--n->pending > 0)
    return;
  wr_buf_free(&n->in);
  wr_buf_free(&n->out);
  sodium_memzero(&n->hs, sizeof n->hs);
  sodium_memzero(&n->tx, sizeof n->tx);
  sodium_memzero(&n->rx, sizeof n->rx);
  sodium_memzero(&n->id, sizeof n->id);
  if (n->base.ev && n->base.ev->on_closed)
    n->base.ev->on_closed(&n->base, n->close_err, n->close_reason);
  wr_free(n);
}

static void on_timer_closed(uv_handle_t *h) { maybe_free(h->data); }

static void shut_all(noise_stream *n, int reset) {
  if (n->closing)
    return;
  n->closing = 1;
  uv_timer_stop(&n->timer);
  uv_close((uv_handle_t *)&n->timer, on_timer_closed);
  if (n->lower) {
    if (reset)
      wr_stream_reset(n->lower);
    else
      wr_stream_close(n->lower);
  }
}

static void fail(noise_stream *n, int err, const char *why) {
  if (n->closing)
    return;
  n->failed = 1;
  n->close_err = err;
  snprintf(n->close_reason, sizeof n->close_reason, "%s", why);
  shut_all(n, 1);
}

static void flush(noise_stream *n) {
  if (!n->lower || n->out.len == 0)
    return;
  ssize_t w = wr_stream_write(n->lower, n->out.data, n->out.len);
  if (w > 0)
    wr_buf_consume(&n->out, (size_t)w);
  else if (w != WR_ERR_AGAIN && w < 0)
    fail(n, WR_ERR_CLOSED, "the connection below Noise closed while writing");
}

/* Appends one framed message (length prefix + body). */
static int frame_out(noise_stream *n, const uint8_t *body, size_t len) {
  uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
  int rv = wr_buf_append(&n->out, hdr, 2);
  if (rv == 0)
    rv = wr_buf_append(&n->out, body, len);
  return rv;
}

static int hs_send(noise_stream *n) {
  wr_buf m, pl;
  wr_buf_init(&m, WR_NOISE_MAX_MSG + 1);
  wr_buf_init(&pl, 4096);
  int rv = 0;
  if (n->hs.step > 0) /* messages 2 and 3 carry our identity */
    rv = wr_noise_payload_make(&n->id, n->hs.s_pk, &pl);
  if (rv == 0)
    rv = wr_noise_hs_write(&n->hs, pl.data, pl.len, &m);
  if (rv == 0)
    rv = frame_out(n, m.data, m.len);
  wr_buf_free(&m);
  wr_buf_free(&pl);
  return rv;
}

static void handshake_done(noise_stream *n) {
  wr_noise_hs_split(&n->hs, &n->tx, &n->rx);
  n->connected = 1;
  uv_timer_stop(&n->timer);
  if (n->base.ev && n->base.ev->on_connected)
    n->base.ev->on_connected(&n->base);
}

_Static_assert(WR_RBUF_SIZE >= WR_NOISE_MAX_MSG, "a Noise message fits a read buffer");

/* Processes whole frames in n->in. Decrypted bytes go through a read buffer
 * lent for this call (base/rbuf.h): an idle connection holds no 64 KiB
 * plaintext buffer (1,000 idle peers cost 64 MB with one each). */
static void process(noise_stream *n) {
  size_t off = 0;
  uint8_t *plain = NULL;
  while (!n->closing && !n->paused && n->in.len - off >= 2) {
    size_t len = (size_t)n->in.data[off] << 8 | n->in.data[off + 1];
    if (n->in.len - off < 2 + len)
      break;
    const uint8_t *msg = n->in.data + off + 2;
    off += 2 + len;
    if (!n->connected) {
      wr_buf pl;
      wr_buf_init(&pl, WR_NOISE_MAX_MSG);
      const char *why = "Noise handshake failed";
      int rv = wr_noise_hs_read(&n->hs, msg, len, &pl, &why);
      if (rv == 0 && n->hs.step >= 2) {
        rv = wr_noise_payload_check(pl.data, pl.len, n->hs.rs, &n->peer, &why);
        if (rv == WR_ERR_UNSUPPORTED)
          rv = WR_ERR_DENIED;
      }
      wr_buf_free(&pl);
      if (rv != 0) {
        char b[200];
        snprintf(b, sizeof b, "Noise handshake with %s failed: %s", wr_stream_peer_str(n->lower),
                 why);
        fail(n, rv == WR_ERR_DENIED ? WR_ERR_DENIED : WR_ERR_MALFORMED, b);
        break;
      }
      if (wr_noise_hs_our_turn(&n->hs) && hs_send(n) != 0) {
        fail(n, WR_ERR_NOMEM, "out of memory in the Noise handshake");
        break;
      }
      flush(n);
      if (wr_noise_hs_done(&n->hs))
        handshake_done(n);
      continue;
    }
    if (!plain && !(plain = wr_rbuf_get())) {
      fail(n, WR_ERR_NOMEM, "out of memory for a Noise message");
      break;
    }
    if (len < WR_NOISE_TAG || wr_noise_decrypt(&n->rx, msg, len, plain) != 0) {
      fail(n, WR_ERR_MALFORMED, "Noise message fails authentication");
      break;
    }
    if (len > WR_NOISE_TAG && n->base.ev && n->base.ev->on_data)
      n->base.ev->on_data(&n->base, plain, len - WR_NOISE_TAG);
  }
  wr_rbuf_put(plain);
  if (off)
    wr_buf_consume(&n->in, off);
  if (!n->closing && !n->paused && n->eof && n->in.len == 0 && !n->eof_told) {
    n->eof_told = 1;
    if (!n->connected)
      fail(n, WR_ERR_CLOSED, "the peer closed the connection during the Noise handshake");
    else if (n->base.ev && n->base.ev->on_eof)
      n->base.ev->on_eof(&n->base);
  }
}

static void on_timer(uv_timer_t *t) {
  noise_stream *n = t->data;
  if (n->resume) {
    n->resume = 0;
    process(n);
    if (!n->connected && !n->closing) {
      uint64_t now = uv_now(t->loop);
      uv_timer_start(&n->timer, on_timer, n->deadline > now ? n->deadline - now : 0, 0);
    }
    return;
  }
  if (!n->connected)
    fail(n, WR_ERR_TIMEOUT, "the Noise handshake did not complete in time");
}

/* Runs process() from the loop. */
static void resume_soon(noise_stream *n) {
  n->resume = 1;
  uv_timer_start(&n->timer, on_timer, 0, 0);
}

/* ---- events from the lower stream ---- */

static void lower_on_data(wr_stream *ls, const uint8_t *p, size_t len) {
  noise_stream *n = ls->user;
  if (n->closing)
    return;
  if (wr_buf_append(&n->in, p, len) != 0) {
    fail(n, WR_ERR_LIMIT, "the peer sent more than Noise buffers");
    return;
  }
  process(n);
}

static void lower_on_eof(wr_stream *ls) {
  noise_stream *n = ls->user;
  n->eof = 1;
  process(n);
}

static void lower_on_writable(wr_stream *ls) {
  noise_stream *n = ls->user;
  flush(n);
  if (n->connected && !n->closing && n->want_writable && n->out.len == 0 &&
      wr_stream_queued(n->lower) < n->cfg.write_queue_limit / 2) {
    n->want_writable = 0;
    if (n->base.ev && n->base.ev->on_writable)
      n->base.ev->on_writable(&n->base);
  }
}

static void lower_on_closed(wr_stream *ls, int err, const char *reason) {
  noise_stream *n = ls->user;
  n->lower = NULL;
  if (!n->failed && !n->closing) {
    n->close_err = err ? err : WR_ERR_CLOSED;
    snprintf(n->close_reason, sizeof n->close_reason, "%s",
             reason ? reason : "the connection closed");
  } else if (!n->failed) {
    n->close_err = err;
    snprintf(n->close_reason, sizeof n->close_reason, "%s", reason ? reason : "");
  }
  shut_all(n, 0);
  maybe_free(n);
}

static const wr_stream_events lower_events = {
    .on_data = lower_on_data,
    .on_eof = lower_on_eof,
    .on_writable = lower_on_writable,
    .on_closed = lower_on_closed,
};

/* ---- the stream ops ---- */

static size_t n_queued(const wr_stream *s) {
  const noise_stream *n = N(s);
  return n->out.len + (n->lower ? wr_stream_queued(n->lower) : 0);
}
static size_t n_in_flight(const wr_stream *s) {
  const noise_stream *n = N(s);
  return n->out.len + (n->lower ? wr_stream_in_flight(n->lower) : 0);
}

static ssize_t n_write(wr_stream *s, const struct iovec *iov, size_t cnt) {
  noise_stream *n = N(s);
  if (n->closing || !n->lower)
    return WR_ERR_CLOSED;
  if (!n->connected || n_queued(s) >= n->cfg.write_queue_limit) {
    n->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  size_t room = n->cfg.write_queue_limit - n_queued(s);
  size_t taken = 0;
  for (size_t i = 0; i < cnt && taken < room; i++) {
    const uint8_t *p = iov[i].iov_base;
    size_t left = iov[i].iov_len;
    while (left > 0 && taken < room) {
      size_t k = left < WR_NOISE_MAX_PLAINTEXT ? left : WR_NOISE_MAX_PLAINTEXT;
      if (k > room - taken)
        k = room - taken;
      /* Encrypted in place at the queue's end: the ciphertext is not
       * copied again. */
      size_t len = k + WR_NOISE_TAG;
      if (wr_buf_reserve(&n->out, 2 + len) != 0) {
        fail(n, WR_ERR_NOMEM, "out of memory writing Noise messages");
        return taken ? (ssize_t)taken : WR_ERR_CLOSED;
      }
      uint8_t *m = n->out.data + n->out.len;
      m[0] = (uint8_t)(len >> 8);
      m[1] = (uint8_t)len;
      wr_noise_encrypt(&n->tx, p, k, m + 2);
      n->out.len += 2 + len;
      p += k;
      left -= k;
      taken += k;
    }
  }
  flush(n);
  if (n_queued(s) >= n->cfg.write_queue_limit / 2)
    n->want_writable = 1;
  return (ssize_t)taken;
}

static int n_shutdown(wr_stream *s) {
  noise_stream *n = N(s);
  if (n->closing || !n->lower)
    return WR_ERR_CLOSED;
  flush(n);
  return wr_stream_shutdown(n->lower);
}

static void n_close(wr_stream *s) {
  noise_stream *n = N(s);
  flush(n);
  shut_all(n, 0);
}

static void n_reset(wr_stream *s) { shut_all(N(s), 1); }

static void n_read_start(wr_stream *s) {
  noise_stream *n = N(s);
  if (!n->paused)
    return;
  n->paused = 0;
  if (n->lower)
    wr_stream_read_start(n->lower);
  if (!n->closing)
    resume_soon(n);
}

static void n_read_stop(wr_stream *s) {
  noise_stream *n = N(s);
  n->paused = 1;
  if (n->lower)
    wr_stream_read_stop(n->lower);
}

static void n_cork(wr_stream *s) {
  if (N(s)->lower)
    wr_stream_cork(N(s)->lower);
}
static void n_uncork(wr_stream *s) {
  if (N(s)->lower)
    wr_stream_uncork(N(s)->lower);
}

static const struct sockaddr *n_peer_addr(const wr_stream *s) {
  static const struct sockaddr none = {.sa_family = AF_UNSPEC};
  return N(s)->lower ? wr_stream_peer_addr(N(s)->lower) : &none;
}
static const struct sockaddr *n_local_addr(const wr_stream *s) {
  static const struct sockaddr none = {.sa_family = AF_UNSPEC};
  return N(s)->lower ? wr_stream_local_addr(N(s)->lower) : &none;
}
static const char *n_peer_str(const wr_stream *s) {
  return N(s)->lower ? wr_stream_peer_str(N(s)->lower) : "(closed)";
}

static const wr_stream_ops noise_ops = {
    .kind = "noise",
    .write = n_write,
    .queued = n_queued,
    .in_flight = n_in_flight,
    .shutdown = n_shutdown,
    .close = n_close,
    .reset = n_reset,
    .read_start = n_read_start,
    .read_stop = n_read_stop,
    .cork = n_cork,
    .uncork = n_uncork,
    .peer_addr = n_peer_addr,
    .local_addr = n_local_addr,
    .peer_str = n_peer_str,
};

int wr_noise_stream_new(wr_stream **ps, uv_loop_t *loop, wr_stream *lower, int initiator,
                        const wr_p2p_privkey *id, const uint8_t *early, size_t earlylen,
                        const wr_noise_stream_config *cfg, const wr_stream_events *ev, void *user) {
  noise_stream *n = wr_calloc(1, sizeof *n);
  uint8_t keys[64];
  int rv = n ? wr_random_bytes(keys, sizeof keys) : WR_ERR_NOMEM;
  if (rv != 0) {
    wr_free(n);
    wr_stream_close(lower);
    return rv;
  }
  n->base.ops = &noise_ops;
  n->base.ev = ev;
  n->base.user = user;
  if (cfg)
    n->cfg = *cfg;
  if (!n->cfg.write_queue_limit)
    n->cfg.write_queue_limit = WR_NOISE_STREAM_DEFAULT_WRITE_QUEUE;
  if (!n->cfg.handshake_timeout_ms)
    n->cfg.handshake_timeout_ms = WR_NOISE_STREAM_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  n->id = *id;
  wr_noise_hs_init(&n->hs, initiator, keys, keys + 32);
  sodium_memzero(keys, sizeof keys);
  wr_buf_init(&n->in, IN_LIMIT);
  wr_buf_init(&n->out, OUT_HARD_LIMIT);
  n->lower = lower;
  n->pending = 2;
  uv_timer_init(loop, &n->timer);
  n->timer.data = n;
  n->deadline = uv_now(loop) + n->cfg.handshake_timeout_ms;
  uv_timer_start(&n->timer, on_timer, n->cfg.handshake_timeout_ms, 0);
  wr_stream_set_events(lower, &lower_events, n);
  *ps = &n->base;
  if (initiator && hs_send(n) != 0) {
    fail(n, WR_ERR_NOMEM, "out of memory in the Noise handshake");
    return 0;
  }
  flush(n);
  if (earlylen && wr_buf_append(&n->in, early, earlylen) != 0) {
    fail(n, WR_ERR_NOMEM, "out of memory in the Noise handshake");
    return 0;
  }
  /* Early bytes are processed from the loop, so no event reaches the owner
   * inside this call. */
  if (earlylen)
    resume_soon(n);
  return 0;
}

int wr_noise_stream_is(const wr_stream *s) { return s->ops == &noise_ops; }
const wr_peerid *wr_noise_stream_peer(const wr_stream *s) { return &N(s)->peer; }
wr_stream *wr_noise_stream_lower(const wr_stream *s) { return N(s)->lower; }
