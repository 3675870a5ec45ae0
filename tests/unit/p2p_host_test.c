/* p2p_host_test.c: two libp2p hosts in one loop over loopback TCP, then
 * over QUIC: the upgrade (or libp2p TLS), identify both ways, ping, an echo
 * stream, a refused protocol, a slow reader, a wrong peer ID, and the loop
 * ends with no live handles. The QUIC host listens on 0.0.0.0 and is dialed
 * at 127.0.0.2, so the handshake itself shows it answers from there. */
#include <sodium.h>
#include <uv.h>

#include "base/buf.h"
#include "net/quic.h"
#include "p2p/host.h"
#include "test.h"

static uv_loop_t loop;
static wr_p2p_host *A, *B;
static int identified, pinged, echo_ok, refused, dial_err, closed_hosts;
static wr_p2p_conn *conn_ab;
static wr_buf echo_back;
static wr_peerid wrong_id;
static int use_quic;
#define WR_QUIC_WINDOW WR_QUIC_DEFAULT_STREAM_WINDOW

static void key(wr_p2p_privkey *k, uint8_t seed) {
  uint8_t s[32];
  memset(s, seed, sizeof s);
  wr_p2p_privkey_from_seed(k, s);
}

/* echo on B */
static void es_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  CHECK_EQ(wr_p2p_stream_write(st, p, n), (long long)n);
}
static void es_fin(wr_p2p_stream *st) { CHECK_EQ(wr_p2p_stream_end(st), 0); }
static const wr_p2p_stream_events es_ev = {.on_data = es_data, .on_fin = es_fin};
static void echo_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  wr_p2p_stream_set_events(st, &es_ev, NULL);
}

/* A reader that never consumes: the writer is held to one window. */
static size_t held_bytes, hold_sent;
static int hold_again;
static uv_timer_t hold_timer;
static wr_p2p_stream *hold_client;
static void hold_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  (void)st;
  (void)p;
  held_bytes += n;
}
static const wr_p2p_stream_events hold_ev = {.on_data = hold_data};
static void hold_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  wr_p2p_stream_set_events(st, &hold_ev, NULL);
  wr_p2p_stream_manual_consume(st);
}

static void host_closed(wr_p2p_host *h, void *data) {
  (void)h;
  (void)data;
  closed_hosts++;
}

static void finish(void) {
  wr_p2p_host_close(A, host_closed, NULL);
  wr_p2p_host_close(B, host_closed, NULL);
}

static void after_refused(void);
static void nope_closed(wr_p2p_stream *st, int err, const char *reason);
static const wr_p2p_stream_events nope_ev = {.on_closed = nope_closed};

/* the client stream on A */
static void ec_open(wr_p2p_stream *st) {
  CHECK_EQ(wr_p2p_stream_write(st, "hello, yamux", 12), 12);
  CHECK_EQ(wr_p2p_stream_end(st), 0);
}
static void ec_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  (void)st;
  CHECK_EQ(wr_buf_append(&echo_back, p, n), 0);
}
static void ec_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)st;
  (void)reason;
  CHECK_EQ(err, 0);
  echo_ok = echo_back.len == 12 && memcmp(echo_back.data, "hello, yamux", 12) == 0;
  wr_p2p_stream *s2;
  CHECK_EQ(wr_p2p_conn_open_stream(conn_ab, "/not/served/1.0.0", &nope_ev, NULL, &s2), 0);
}
static void nope_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)st;
  CHECK_EQ(err, WR_ERR_NOTFOUND);
  CHECK_STREQ(reason, "peer supports none of the protocols offered");
  refused = 1;
  after_refused();
}
static const wr_p2p_stream_events ec_ev = {
    .on_open = ec_open, .on_data = ec_data, .on_closed = ec_closed};

static void on_ping(wr_p2p_conn *c, int err, uint64_t rtt, void *data) {
  (void)data;
  CHECK_EQ(err, 0);
  CHECK(rtt > 0);
  pinged++;
  if (pinged < 3) {
    CHECK_EQ(wr_p2p_ping(c, on_ping, NULL), 0);
    return;
  }
  wr_p2p_stream *st;
  CHECK_EQ(wr_p2p_conn_open_stream(c, "/echo/1.0.0", &ec_ev, NULL, &st), 0);
}

static void on_identified(wr_p2p_host *h, wr_p2p_conn *c) {
  const wr_p2p_peer_info *in = wr_p2p_conn_info(c);
  CHECK_STREQ(in->agent_version, h == A ? "agent-b" : "agent-a");
  int has_echo = 0;
  for (size_t i = 0; i < in->nprotocols; i++)
    has_echo |= strcmp(in->protocols[i], "/echo/1.0.0") == 0;
  CHECK_EQ(has_echo, h == A);
  CHECK(in->observed_addr.len > 0);
  char ob[WR_MA_MAX_STR];
  CHECK(wr_maddr_format(&in->observed_addr, ob, sizeof ob) > 0);
  if (use_quic) {
    CHECK(strstr(ob, "/udp/") != NULL && strstr(ob, "/quic-v1") != NULL);
    /* A reached B at 127.0.0.2 (and its answers came from there), B saw A
     * at 127.0.0.1: each tells the other. */
    CHECK(strncmp(ob, h == B ? "/ip4/127.0.0.2/udp/" : "/ip4/127.0.0.1/udp/", 19) == 0);
  } else {
    CHECK(strstr(ob, "/tcp/") != NULL);
  }
  /* Each side finds the other among its open connections by peer ID. */
  CHECK(wr_p2p_host_find_conn(h, wr_p2p_conn_peer(c)) == c);
  CHECK(wr_p2p_host_find_conn(h, wr_p2p_host_id(h)) == NULL);
  if (++identified == 2)
    CHECK_EQ(wr_p2p_ping(conn_ab, on_ping, NULL), 0);
}

static const wr_p2p_host_events hev = {.on_identified = on_identified};

static void on_wrong(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  (void)data;
  CHECK(c == NULL);
  CHECK_EQ(err, WR_ERR_DENIED);
  CHECK(strstr(reason, "but") != NULL);
  dial_err = err;
  finish();
}

static void hc_pump(wr_p2p_stream *st) {
  static uint8_t buf[65536];
  for (;;) {
    ssize_t w = wr_p2p_stream_write(st, buf, sizeof buf);
    if (w == WR_ERR_AGAIN) {
      hold_again++;
      return;
    }
    CHECK(w > 0);
    if (w <= 0)
      return;
    hold_sent += (size_t)w;
  }
}
static void hc_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)st;
  (void)err;
  (void)reason;
}
static const wr_p2p_stream_events hc_ev = {
    .on_open = hc_pump, .on_writable = hc_pump, .on_closed = hc_closed};

static void after_hold(uv_timer_t *t);

static void after_refused(void) {
  wr_p2p_stream *st;
  CHECK_EQ(wr_p2p_conn_open_stream(conn_ab, "/hold/1.0.0", &hc_ev, NULL, &st), 0);
  hold_client = st;
  uv_timer_init(&loop, &hold_timer);
  uv_timer_start(&hold_timer, after_hold, 300, 0);
}

static void after_hold(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
  /* Exactly one window went out and arrived (less the 33 bytes of our
   * multistream-select header and proposal, which used it first); the
   * writer waits. */
  if (use_quic) {
    /* QUIC: the stream's 1 MiB receive window (the 33 negotiation bytes,
     * consumed, may have come back), and the sender's queue holds more. */
    CHECK(held_bytes >= WR_QUIC_WINDOW - 33 && held_bytes <= WR_QUIC_WINDOW);
    CHECK(hold_sent > held_bytes);
  } else {
    CHECK_EQ(hold_sent, 256 * 1024 - 33);
    CHECK_EQ(held_bytes, 256 * 1024 - 33);
  }
  CHECK(hold_again >= 1);
  wr_p2p_stream_reset(hold_client);
  /* Dial B again, claiming it is someone else. */
  wr_maddr addr, bad;
  CHECK_EQ(wr_p2p_host_addrs(B, &addr, 1), 1);
  bad = addr;
  uint8_t idb[64];
  int n = wr_peerid_to_bytes(&wrong_id, idb, sizeof idb);
  CHECK(n > 0);
  CHECK_EQ(wr_maddr_push(&bad, WR_MA_P2P, idb, (size_t)n), 0);
  CHECK_EQ(wr_p2p_host_dial(A, &bad, on_wrong, NULL), 0);
}

static void on_dialed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  (void)data;
  CHECK_EQ(err, 0);
  if (err)
    fprintf(stderr, "dial: %s\n", reason);
  conn_ab = c;
  CHECK(wr_p2p_conn_outbound(c));
  char ra[WR_MA_MAX_STR];
  CHECK(wr_maddr_format(wr_p2p_conn_remote_addr(c), ra, sizeof ra) > 0);
  CHECK(strncmp(ra, use_quic ? "/ip4/127.0.0.2/udp/" : "/ip4/127.0.0.1/tcp/", 19) == 0);
  CHECK(wr_peerid_equal(wr_p2p_conn_peer(c), wr_p2p_host_id(B)));
}

static void run_two_hosts(int quic) {
  use_quic = quic;
  identified = pinged = echo_ok = refused = dial_err = closed_hosts = 0;
  held_bytes = hold_sent = 0;
  hold_again = 0;
  conn_ab = NULL;
  CHECK_EQ(uv_loop_init(&loop), 0);
  wr_buf_init(&echo_back, 1024);
  wr_p2p_privkey ka, kb, kw;
  key(&ka, 1);
  key(&kb, 2);
  key(&kw, 3);
  wr_p2p_pubkey pw;
  wr_p2p_privkey_public(&kw, &pw);
  wr_peerid_from_pubkey(&wrong_id, &pw);
  wr_p2p_host_config ca = {.agent_version = "agent-a"}, cb = {.agent_version = "agent-b"};
  CHECK_EQ(wr_p2p_host_new(&A, &loop, &ca, &ka, &hev, NULL), 0);
  CHECK_EQ(wr_p2p_host_new(&B, &loop, &cb, &kb, &hev, NULL), 0);
  CHECK_EQ(wr_p2p_host_set_handler(B, "/echo/1.0.0", echo_handler, NULL), 0);
  CHECK_EQ(wr_p2p_host_set_handler(B, "/hold/1.0.0", hold_handler, NULL), 0);
  wr_maddr l, addr;
  if (quic) {
    const char *la = "/ip4/127.0.0.1/udp/0/quic-v1", *lb = "/ip4/0.0.0.0/udp/0/quic-v1";
    CHECK_EQ(wr_maddr_parse(la, strlen(la), &l, NULL), 0);
    CHECK_EQ(wr_p2p_host_listen(A, &l), 0);
    CHECK_EQ(wr_maddr_parse(lb, strlen(lb), &l, NULL), 0);
    CHECK_EQ(wr_p2p_host_listen(B, &l), 0);
    CHECK_EQ(wr_p2p_host_addrs(B, &addr, 1), 1);
    int fam, q, has;
    uint8_t ip[16], two[4] = {127, 0, 0, 2};
    uint16_t port;
    wr_peerid pid;
    CHECK_EQ(wr_maddr_to_ip(&addr, &fam, ip, &port, &q, &pid, &has), 0);
    CHECK_EQ(q, 1);
    CHECK_EQ(wr_maddr_from_ip(&addr, AF_INET, two, port, 1), 0);
  } else {
    CHECK_EQ(wr_maddr_parse("/ip4/127.0.0.1/tcp/0", 20, &l, NULL), 0);
    CHECK_EQ(wr_p2p_host_listen(B, &l), 0);
    CHECK_EQ(wr_p2p_host_addrs(B, &addr, 1), 1);
  }
  CHECK_EQ(wr_p2p_host_dial(A, &addr, on_dialed, NULL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(identified, 2);
  CHECK_EQ(pinged, 3);
  CHECK(echo_ok);
  CHECK(refused);
  CHECK_EQ(dial_err, WR_ERR_DENIED);
  CHECK(held_bytes > 0);
  CHECK_EQ(closed_hosts, 2);
  CHECK_EQ(uv_loop_close(&loop), 0); /* no live handles */
  wr_buf_free(&echo_back);
}

static void test_two_hosts_tcp(void) { run_two_hosts(0); }
static void test_two_hosts_quic(void) { run_two_hosts(1); }

int main(void) {
  if (sodium_init() < 0)
    return 1;
  RUN(test_two_hosts_tcp);
  RUN(test_two_hosts_quic);
  return test_done();
}
