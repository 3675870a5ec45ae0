/* yamux_test.c: yamux headers and two sessions wired back to back. */
#include "proto/p2p/yamux.h"
#include "test.h"

typedef struct rec {
  int opened, fins, closes, resets, writable, pings, goaways;
  uint32_t ping_opaque, goaway_code;
  size_t got;
  uint8_t data[2 * 1024 * 1024];
  int consume; /* give credit back at once */
  wr_yamux_stream *last;
} rec;

static void on_open(wr_yamux_session *y, wr_yamux_stream *st) {
  rec *r = y->user;
  r->opened++;
  r->last = st;
}
static void on_data(wr_yamux_session *y, wr_yamux_stream *st, const uint8_t *p, size_t n) {
  rec *r = y->user;
  if (r->got + n <= sizeof r->data)
    memcpy(r->data + r->got, p, n);
  r->got += n;
  if (r->consume)
    wr_yamux_stream_consume(st, n);
}
static void on_fin(wr_yamux_session *y, wr_yamux_stream *st) {
  (void)st;
  ((rec *)y->user)->fins++;
}
static void on_writable(wr_yamux_session *y, wr_yamux_stream *st) {
  (void)st;
  ((rec *)y->user)->writable++;
}
static void on_close(wr_yamux_session *y, wr_yamux_stream *st, int reset) {
  rec *r = y->user;
  (void)st;
  r->closes++;
  r->resets += reset;
  if (r->last == st)
    r->last = NULL;
}
static void on_ping(wr_yamux_session *y, uint32_t o) {
  rec *r = y->user;
  r->pings++;
  r->ping_opaque = o;
}
static void on_goaway(wr_yamux_session *y, uint32_t code) {
  rec *r = y->user;
  r->goaways++;
  r->goaway_code = code;
}

static const wr_yamux_events ev = {on_open,  on_data, on_fin,   on_writable,
                                   on_close, on_ping, on_goaway};

/* Moves everything each side has to send to the other, in small pieces. */
static int pump(wr_yamux_session *a, wr_yamux_session *b) {
  int moved = 1, rounds = 0;
  while (moved && rounds++ < 10000) {
    moved = 0;
    wr_yamux_session *s[2] = {a, b};
    for (int i = 0; i < 2; i++) {
      wr_yamux_session *from = s[i], *to = s[1 - i];
      while (from->out.len) {
        size_t k = from->out.len < 7000 ? from->out.len : 7000;
        uint8_t tmp[7000];
        memcpy(tmp, from->out.data, k);
        wr_buf_consume(&from->out, k);
        int rv = wr_yamux_input(to, tmp, k, NULL);
        if (rv != 0)
          return rv;
        moved = 1;
      }
      wr_yamux_out_drained(from);
      wr_yamux_reap(from);
      wr_yamux_reap(to);
    }
  }
  return 0;
}

static rec ra, rb;

static void test_header(void) {
  wr_yamux_hdr h = {0, WR_YAMUX_WINDOW_UPDATE, WR_YAMUX_SYN | WR_YAMUX_FIN, 0x01020304, 0xa0b0c0d0},
               g;
  uint8_t b[12];
  wr_yamux_hdr_encode(&h, b);
  CHECK_MEMEQ(b, "\x00\x01\x00\x05\x01\x02\x03\x04\xa0\xb0\xc0\xd0", 12);
  CHECK_EQ(wr_yamux_hdr_decode(b, &g, NULL), 0);
  CHECK_EQ(g.stream_id, 0x01020304);
  CHECK_EQ(g.length, 0xa0b0c0d0u);
  const char *why = NULL;
  b[0] = 1;
  CHECK_EQ(wr_yamux_hdr_decode(b, &g, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "yamux frame has a version other than 0");
  b[0] = 0;
  b[1] = 4;
  CHECK_EQ(wr_yamux_hdr_decode(b, &g, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "yamux frame has an unknown type");
  b[1] = 0;
  b[2] = 1;
  CHECK_EQ(wr_yamux_hdr_decode(b, &g, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "yamux frame has unknown flags");
}

static void test_stream_data_and_windows(void) {
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  wr_yamux_session a, b;
  CHECK_EQ(wr_yamux_init(&a, 1, NULL, &ev, &ra), 0);
  CHECK_EQ(wr_yamux_init(&b, 0, NULL, &ev, &rb), 0);
  wr_yamux_stream *st;
  CHECK_EQ(wr_yamux_open(&a, NULL, &st), 0);
  CHECK_EQ(wr_yamux_stream_id(st), 1);
  static uint8_t big[1024 * 1024];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 7 + i / 251);
  /* Without consuming, exactly one window gets through. */
  size_t sent = 0;
  for (;;) {
    ssize_t n = wr_yamux_stream_write(st, big + sent, sizeof big - sent);
    if (n == WR_ERR_AGAIN)
      break;
    CHECK(n > 0);
    sent += (size_t)n;
    CHECK_EQ(pump(&a, &b), 0);
  }
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(sent, WR_YAMUX_INITIAL_WINDOW);
  CHECK_EQ(rb.opened, 1);
  CHECK_EQ(rb.got, WR_YAMUX_INITIAL_WINDOW);
  /* Consuming gives credit back; the writer hears on_stream_writable. */
  wr_yamux_stream_consume(rb.last, rb.got);
  rb.consume = 1;
  CHECK_EQ(pump(&a, &b), 0);
  CHECK(ra.writable >= 1);
  while (sent < sizeof big) {
    ssize_t n = wr_yamux_stream_write(st, big + sent, sizeof big - sent);
    if (n > 0)
      sent += (size_t)n;
    CHECK_EQ(pump(&a, &b), 0);
  }
  CHECK_EQ(rb.got, sizeof big);
  CHECK_MEMEQ(rb.data, big, sizeof big);
  /* FIN both ways closes the stream on both sides. */
  CHECK_EQ(wr_yamux_stream_end(st), 0);
  CHECK_EQ(wr_yamux_stream_write(st, big, 1), WR_ERR_CLOSED);
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(rb.fins, 1);
  CHECK_EQ(wr_yamux_stream_end(rb.last), 0);
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(ra.fins, 1);
  CHECK_EQ(ra.closes, 1);
  CHECK_EQ(rb.closes, 1);
  CHECK_EQ(ra.resets + rb.resets, 0);
  CHECK_EQ(a.nstreams + b.nstreams, 0);
  wr_yamux_free(&a);
  wr_yamux_free(&b);
}

static void test_reset_ping_goaway_limit(void) {
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  wr_yamux_session a, b;
  wr_yamux_config cfg = {.max_streams = 2};
  CHECK_EQ(wr_yamux_init(&a, 1, NULL, &ev, &ra), 0);
  CHECK_EQ(wr_yamux_init(&b, 0, &cfg, &ev, &rb), 0);
  wr_yamux_stream *s1, *s2, *s3;
  CHECK_EQ(wr_yamux_open(&a, NULL, &s1), 0);
  CHECK_EQ(wr_yamux_open(&a, NULL, &s2), 0);
  CHECK_EQ(wr_yamux_open(&a, NULL, &s3), 0);
  CHECK_EQ(pump(&a, &b), 0);
  /* The third is over b's limit: refused with RST. */
  CHECK_EQ(rb.opened, 2);
  CHECK_EQ(ra.closes, 1);
  CHECK_EQ(ra.resets, 1);
  wr_yamux_stream_reset(s1);
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(rb.resets, 1);
  CHECK_EQ(wr_yamux_ping(&a, 0xdeadbeef), 0);
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(ra.pings, 1);
  CHECK_EQ(ra.ping_opaque, 0xdeadbeefu);
  CHECK_EQ(wr_yamux_goaway(&b, WR_YAMUX_GOAWAY_NORMAL), 0);
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(ra.goaways, 1);
  wr_yamux_stream *s4;
  CHECK_EQ(wr_yamux_open(&a, NULL, &s4), WR_ERR_CLOSED);
  /* A lost connection resets what is left. */
  wr_yamux_fail(&a);
  wr_yamux_reap(&a);
  CHECK_EQ(ra.closes, 3);
  wr_yamux_free(&a);
  wr_yamux_free(&b);
}

static void test_protocol_errors(void) {
  memset(&rb, 0, sizeof rb);
  wr_yamux_session b;
  const char *why = NULL;
  CHECK_EQ(wr_yamux_init(&b, 0, NULL, &ev, &rb), 0);
  /* A client's SYN with an even (the listener's) ID. */
  const uint8_t syn_even[12] = {0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
  CHECK_EQ(wr_yamux_input(&b, syn_even, 12, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "yamux SYN for a stream ID in use or of our own parity");
  /* The GO_AWAY with the protocol-error code went out. */
  CHECK_EQ(b.out.len, 12);
  CHECK_EQ(b.out.data[1], WR_YAMUX_GO_AWAY);
  CHECK_EQ(b.out.data[11], WR_YAMUX_GOAWAY_PROTOCOL);
  wr_yamux_free(&b);
  CHECK_EQ(wr_yamux_init(&b, 0, NULL, &ev, &rb), 0);
  /* More data than the window. */
  const uint8_t over[12] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 4, 0, 1};
  CHECK_EQ(wr_yamux_input(&b, over, 12, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "yamux peer sent more than the stream's window");
  wr_yamux_reap(&b);
  wr_yamux_free(&b);
  CHECK_EQ(wr_yamux_init(&b, 0, NULL, &ev, &rb), 0);
  const uint8_t garbage[12] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1'};
  CHECK_EQ(wr_yamux_input(&b, garbage, 12, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_yamux_input(&b, garbage, 12, &why), WR_ERR_CLOSED);
  wr_yamux_free(&b);
}

/* A reader may widen a stream's window; negotiation bytes pass a full
 * session; a window update that comes while the session is over its
 * out_limit still wakes the writer once the session drains. */
static void test_wider_window_and_busy_session(void) {
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  wr_yamux_session a, b;
  wr_yamux_config small = {.out_limit = 64 * 1024};
  CHECK_EQ(wr_yamux_init(&a, 1, &small, &ev, &ra), 0);
  CHECK_EQ(wr_yamux_init(&b, 0, NULL, &ev, &rb), 0);
  wr_yamux_stream *st;
  CHECK_EQ(wr_yamux_open(&a, NULL, &st), 0);
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(rb.opened, 1);
  wr_yamux_stream *peer = rb.last;
  CHECK_EQ(wr_yamux_stream_set_window(rb.last, WR_YAMUX_MAX_WINDOW + 1), WR_ERR_INVAL);
  CHECK_EQ(wr_yamux_stream_set_window(rb.last, 1024 * 1024), 0);
  CHECK_EQ(wr_yamux_stream_set_window(rb.last, 512 * 1024), 0); /* never shrinks */
  CHECK_EQ(pump(&a, &b), 0);
  /* Without consuming, the wider window gets through, not 256 KiB. */
  static uint8_t big[2 * 1024 * 1024];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 13 + i / 509);
  size_t sent = 0;
  for (;;) {
    ssize_t n = wr_yamux_stream_write(st, big + sent, sizeof big - sent);
    if (n == WR_ERR_AGAIN) {
      if (a.out.len == 0)
        break; /* out of window, not of room */
      CHECK_EQ(pump(&a, &b), 0);
      continue;
    }
    CHECK(n > 0);
    sent += (size_t)n;
  }
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(sent, 1024 * 1024);
  CHECK_EQ(rb.got, 1024 * 1024);
  CHECK_MEMEQ(rb.data, big, 1024 * 1024);

  /* Fill a's session past its out_limit with a second stream's data. */
  wr_yamux_stream *st2;
  CHECK_EQ(wr_yamux_open(&a, NULL, &st2), 0);
  while (wr_yamux_stream_write(st2, big, 16 * 1024) > 0)
    ;
  CHECK(a.out.len >= small.out_limit);
  /* Negotiation bytes still go out; a plain write is refused. */
  CHECK_EQ(wr_yamux_stream_write(st2, big, 10), WR_ERR_AGAIN);
  CHECK_EQ(wr_yamux_stream_write_control(st2, (const uint8_t *)"/proto\n", 7), 7);
  /* st waits for window (and a is not full: not marked blocked)... */
  CHECK_EQ(pump(&a, &b), 0);
  CHECK_EQ(wr_yamux_stream_write(st, big, 1), WR_ERR_AGAIN);
  /* ...then a goes over out_limit without a refused write... */
  CHECK_EQ(wr_yamux_stream_write_control(st2, big, 80 * 1024), 80 * 1024);
  CHECK(a.out.len > small.out_limit);
  /* ...and st's window update arrives. */
  int before = ra.writable;
  wr_yamux_stream_consume(peer, 1024 * 1024);
  wr_buf upd = b.out; /* hand b's update to a without draining a */
  CHECK_EQ(wr_yamux_input(&a, upd.data, upd.len, NULL), 0);
  wr_buf_consume(&b.out, b.out.len);
  CHECK_EQ(ra.writable, before); /* not yet: a is still full */
  CHECK_EQ(pump(&a, &b), 0);     /* drains a: now it hears */
  CHECK(ra.writable > before);
  CHECK(wr_yamux_stream_write(st, big, 1) == 1);
  wr_yamux_free(&a);
  wr_yamux_free(&b);
}

int main(void) {
  RUN(test_header);
  RUN(test_stream_data_and_windows);
  RUN(test_wider_window_and_busy_session);
  RUN(test_reset_ping_goaway_limit);
  RUN(test_protocol_errors);
  return test_done();
}
