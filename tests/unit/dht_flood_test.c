/* dht_flood_test.c: peers flood a DHT server over loopback TCP with large
 * kad messages on many streams at once (each announces 4 MiB - 1 and sends
 * it). The server must hold at most its per-peer budget, and all peers
 * together at most its node budget, reset the streams past them (counted in
 * warren_dht_server_refusals_total), and keep answering: another peer
 * bootstraps from it afterwards. The same flood with the budgets raised to
 * 1 GiB shows what they prevent. */
#include <stdlib.h>
#include <uv.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "p2p/host.h"
#include "proto/multiformats/varint.h"
#include "routing/dht.h"
#include "test.h"

#define STREAMS 16 /* per flooding peer */
#define MAX_FLOODERS 2
#define MSG_LEN ((4u << 20) - 1)
#define CHUNK (64u * 1024)

static uv_loop_t loop;
static wr_p2p_host *S, *F[MAX_FLOODERS], *C;
static int nflooders;
static wr_dht *DS, *DC;
static wr_maddr saddr;
static uv_timer_t sampler, guard;
static size_t peak_alloc, peak_charge;
static int closed_streams, booted, boot_err, closed_hosts, finished;
static uint8_t zeros[CHUNK];

typedef struct flood {
  wr_p2p_stream *st;
  uint8_t hdr[WR_VARINT_MAX_BYTES];
  size_t hdrlen, sent, total;
} flood;
static flood fl[MAX_FLOODERS][STREAMS];

static void host_closed(wr_p2p_host *h, void *data) {
  (void)h, (void)data;
  closed_hosts++;
}

static void finish(void) {
  if (finished)
    return;
  finished = 1;
  wr_dht_close(DS);
  wr_dht_close(DC);
  wr_p2p_host_close(S, host_closed, NULL);
  for (int i = 0; i < nflooders; i++)
    wr_p2p_host_close(F[i], host_closed, NULL);
  wr_p2p_host_close(C, host_closed, NULL);
  uv_close((uv_handle_t *)&sampler, NULL);
  uv_close((uv_handle_t *)&guard, NULL);
}

static void on_boot(void *data, int err) {
  (void)data;
  booted = 1;
  boot_err = err;
  finish();
}

static void pump(wr_p2p_stream *st) {
  flood *f = wr_p2p_stream_user(st);
  while (f->sent < f->total) {
    const uint8_t *p;
    size_t n;
    if (f->sent < f->hdrlen) {
      p = f->hdr + f->sent;
      n = f->hdrlen - f->sent;
    } else {
      p = zeros;
      n = f->total - f->sent < CHUNK ? f->total - f->sent : CHUNK;
    }
    ssize_t w = wr_p2p_stream_write(st, p, n);
    if (w <= 0)
      return; /* AGAIN: on_writable; CLOSED: on_closed follows */
    f->sent += (size_t)w;
  }
}

static void fl_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)st, (void)err, (void)reason;
  if (++closed_streams == nflooders * STREAMS)
    CHECK_EQ(wr_dht_bootstrap(DC, &saddr, 1, on_boot, NULL), 0); /* is the server still up? */
}

static const wr_p2p_stream_events fl_events = {
    .on_open = pump, .on_writable = pump, .on_closed = fl_closed};

static void flood_dialed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h, (void)reason;
  flood *mine = data;
  CHECK_EQ(err, 0);
  if (err)
    return finish();
  for (int i = 0; i < STREAMS; i++) {
    flood *f = &mine[i];
    f->hdrlen = (size_t)wr_varint_encode(f->hdr, MSG_LEN);
    f->total = f->hdrlen + MSG_LEN;
    CHECK_EQ(wr_p2p_conn_open_stream(c, WR_KAD_PROTOCOL, &fl_events, f, &f->st), 0);
  }
}

static void on_sample(uv_timer_t *t) {
  (void)t;
  size_t a = wr_dht_server_allocated(DS);
  if (a > peak_alloc)
    peak_alloc = a;
  for (int i = 0; i < nflooders; i++) {
    size_t ch = wr_dht_server_buffered(DS, wr_p2p_host_id(F[i]));
    if (ch > peak_charge)
      peak_charge = ch;
  }
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  CHECK(!"timed out");
  finish();
}

static wr_p2p_host *new_host(uint8_t seed_byte) {
  wr_p2p_host_config cfg = {.agent_version = "warren/test"};
  uint8_t seed[32];
  memset(seed, seed_byte, sizeof seed);
  wr_p2p_privkey k;
  wr_p2p_privkey_from_seed(&k, seed);
  wr_p2p_host *h = NULL;
  CHECK_EQ(wr_p2p_host_new(&h, &loop, &cfg, &k, NULL, NULL), 0);
  return h;
}

/* Runs the flood of n peers against a server with these budgets (0: the
 * defaults). Returns the metrics text of the server. */
static void run_flood(int n, size_t limit, size_t total, wr_buf *metrics_text) {
  peak_alloc = peak_charge = 0;
  closed_streams = booted = closed_hosts = finished = 0;
  boot_err = -1;
  nflooders = n;
  memset(fl, 0, sizeof fl);
  CHECK_EQ(uv_loop_init(&loop), 0);
  wr_metrics *reg = wr_metrics_new();
  CHECK(reg != NULL);
  S = new_host(0x51);
  for (int i = 0; i < n; i++)
    F[i] = new_host((uint8_t)(0x60 + i));
  C = new_host(0x53);
  wr_maddr lma;
  CHECK_EQ(wr_maddr_parse("/ip4/127.0.0.1/tcp/0", 20, &lma, NULL), 0);
  CHECK_EQ(wr_p2p_host_listen(S, &lma), 0);
  wr_dht_config sc = {
      .server = 1, .peer_buffer_limit = limit, .server_buffer_limit = total, .metrics = reg};
  CHECK_EQ(wr_dht_new(&DS, S, &loop, &sc), 0);
  wr_dht_config cc = {.server = 0, .rpc_timeout_ms = 5000};
  CHECK_EQ(wr_dht_new(&DC, C, &loop, &cc), 0);
  CHECK_EQ(wr_p2p_host_addrs(S, &saddr, 1), 1);
  uint8_t idb[64];
  int idn = wr_peerid_to_bytes(wr_p2p_host_id(S), idb, sizeof idb);
  CHECK_EQ(wr_maddr_push(&saddr, WR_MA_P2P, idb, (size_t)idn), 0);
  for (int i = 0; i < n; i++)
    CHECK_EQ(wr_p2p_host_dial(F[i], &saddr, flood_dialed, fl[i]), 0);
  uv_timer_init(&loop, &sampler);
  uv_timer_start(&sampler, on_sample, 1, 1);
  uv_timer_init(&loop, &guard);
  uv_timer_start(&guard, on_guard, 60000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(closed_hosts, n + 2);
  CHECK_EQ(uv_loop_close(&loop), 0);
  CHECK_EQ(wr_metrics_render(reg, metrics_text), 0);
  wr_metrics_del(reg);
}

static double sample_value(const wr_buf *text, const char *name) {
  const char *t = (const char *)text->data;
  const char *p = memmem(t, text->len, name, strlen(name));
  return p ? strtod(p + strlen(name), NULL) : 0.0;
}

static size_t limited_peak;

static void test_flood_is_limited(void) {
  wr_buf text;
  wr_buf_init(&text, 1 << 20);
  run_flood(1, 0, 0, &text);
  size_t limit = (4u << 20) + (1u << 20); /* the documented default */
  printf("default budget: peak charged %zu bytes, peak allocated %zu bytes\n", peak_charge,
         peak_alloc);
  CHECK(peak_charge > 0);
  CHECK(peak_charge <= limit);
  /* Refused bytes are dropped, not copied: what the buffers really hold
   * stays within one stream's buffer of the budget. */
  CHECK(peak_alloc <= limit + (4u << 20) + 64);
  CHECK_EQ(closed_streams, STREAMS);
  CHECK(booted);
  CHECK_EQ(boot_err, 0); /* the server answered FIND_NODE after the flood */
  double refused =
      sample_value(&text, "warren_dht_server_refusals_total{reason=\"peer_buffer_limit\"} ");
  CHECK(refused >= 1);
  printf("refused streams (peer_buffer_limit): %.0f of %d\n", refused, STREAMS);
  limited_peak = peak_alloc;
  wr_buf_free(&text);
}

static void test_flood_without_budget(void) {
  wr_buf text;
  wr_buf_init(&text, 1 << 20);
  run_flood(1, (size_t)1 << 30, (size_t)1 << 30, &text);
  printf("1 GiB budgets: peak allocated %zu bytes\n", peak_alloc);
  /* Most of the 16 x 4 MiB arrive before any message completes. */
  CHECK(peak_alloc > 3 * limited_peak);
  CHECK_EQ(sample_value(&text, "warren_dht_server_refusals_total{reason=\"peer_buffer_limit\"} "),
           0);
  CHECK(booted);
  wr_buf_free(&text);
}

/* Two peers under their own budget (5 MiB each) but over the node's (6
 * MiB) together: the node's limit refuses, and holds. */
static void test_flood_of_two_peers_is_held_to_the_node_budget(void) {
  wr_buf text;
  wr_buf_init(&text, 1 << 20);
  size_t total = 6u << 20;
  run_flood(2, 0, total, &text);
  printf("two peers, 6 MiB node budget: peak allocated %zu bytes\n", peak_alloc);
  CHECK(peak_alloc <= total + (4u << 20) + 64);
  CHECK(peak_charge <= (5u << 20));
  double node =
      sample_value(&text, "warren_dht_server_refusals_total{reason=\"node_buffer_limit\"} ");
  printf("refused streams (node_buffer_limit): %.0f of %d\n", node, 2 * STREAMS);
  CHECK(node >= 1);
  CHECK(booted);
  CHECK_EQ(boot_err, 0);
  wr_buf_free(&text);
}

int main(void) {
  RUN(test_flood_is_limited);
  RUN(test_flood_without_budget);
  RUN(test_flood_of_two_peers_is_held_to_the_node_budget);
  return test_done();
}
