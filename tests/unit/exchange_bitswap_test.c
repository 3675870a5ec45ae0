/* exchange_bitswap_test.c: two hosts with Bitswap engines in one loop over
 * loopback TCP. A holds 40 blocks; a session on a worker thread of B (as a
 * daemon command would run) wants them all and gets each byte for byte,
 * times out on a block nobody has, then the engines and hosts close and the
 * loop ends with no live handles. */
#include <pthread.h>
#include <sodium.h>
#include <uv.h>

#include "base/mem.h"
#include "exchange/bitswap.h"
#include "store_testutil.h"
#include "test.h"

#define NBLOCKS 40
#define BLOCK (100 * 1024)

static uv_loop_t loop;
static wr_p2p_host *A, *B;
static wr_bitswap *bsA, *bsB;
static wr_bs *storeA, *storeB;
static uint8_t *blocks[NBLOCKS];
static wr_cid cids[NBLOCKS];
static pthread_t worker;
static uv_async_t done_async;
static int worker_started, got_ok, timeout_ok, closed;

static void on_conn_closed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason) {
  (void)err;
  (void)reason;
  wr_bitswap *b = h == A ? bsA : bsB;
  if (b)
    wr_bitswap_conn_closed(b, c);
}

static void *run_session(void *arg) {
  (void)arg;
  wr_bitswap_session *s;
  CHECK_EQ(wr_bitswap_session_new(bsB, &s), 0);
  CHECK_EQ(wr_bitswap_session_want(s, cids, NBLOCKS), 0);
  uint64_t deadline = uv_hrtime() + 20ull * 1000000000ull;
  int ok = 0;
  for (int i = 0; i < NBLOCKS; i++) {
    uint8_t *d = NULL;
    size_t n = 0;
    int rv = wr_bitswap_session_take(s, &cids[i], deadline, &d, &n);
    CHECK_EQ(rv, 0);
    if (rv == 0 && n == BLOCK && memcmp(d, blocks[i], n) == 0)
      ok++;
    wr_free(d);
  }
  got_ok = ok == NBLOCKS;
  /* A block nobody has: the wait ends at its deadline. */
  wr_cid none;
  CHECK_EQ(wr_cid_sum(&none, 1, WR_CODEC_RAW, "nobody has this", 15), 0);
  CHECK_EQ(wr_bitswap_session_want(s, &none, 1), 0);
  uint8_t *d = NULL;
  size_t n = 0;
  uint64_t t0 = uv_hrtime();
  int rv = wr_bitswap_session_take(s, &none, t0 + 300ull * 1000000ull, &d, &n);
  timeout_ok = rv == WR_ERR_TIMEOUT && uv_hrtime() - t0 >= 300ull * 1000000ull;
  size_t asked, gave;
  wr_bitswap_session_peers(s, &asked, &gave);
  CHECK_EQ(asked, 1);
  CHECK_EQ(gave, 1);
  wr_bitswap_session_close(s);
  uv_async_send(&done_async);
  return NULL;
}

static void host_closed(wr_p2p_host *h, void *data) {
  (void)h;
  (void)data;
  closed++;
}

static void bitswap_closed(void *arg) {
  wr_p2p_host *h = arg;
  if (h == A)
    bsA = NULL;
  else
    bsB = NULL;
  wr_p2p_host_close(h, host_closed, NULL);
}

static void on_done(uv_async_t *a) {
  wr_bitswap_stats sa, sb;
  wr_bitswap_get_stats(bsA, &sa);
  wr_bitswap_get_stats(bsB, &sb);
  CHECK_EQ(sb.blocks_received, NBLOCKS);
  CHECK_EQ(sb.bytes_received, (uint64_t)NBLOCKS * BLOCK);
  CHECK(sa.blocks_sent >= NBLOCKS);
  CHECK_EQ(sb.bad_blocks, 0);
  CHECK_EQ(sa.bad_blocks, 0);
  uv_close((uv_handle_t *)a, NULL);
  wr_bitswap_close(bsA, bitswap_closed, A);
  wr_bitswap_close(bsB, bitswap_closed, B);
}

/* B starts asking once identify told it A speaks Bitswap. */
static void on_identified(wr_p2p_host *h, wr_p2p_conn *c) {
  (void)c;
  if (h != B || worker_started)
    return;
  worker_started = 1;
  CHECK_EQ(pthread_create(&worker, NULL, run_session, NULL), 0);
}

static const wr_p2p_host_events hev = {.on_identified = on_identified,
                                       .on_conn_closed = on_conn_closed};

static void test_fetch(void) {
  char da[256], db[256];
  tmpdir_make(da, sizeof da);
  tmpdir_make(db, sizeof db);
  CHECK_EQ(wr_bs_open(da, &storeA), 0);
  CHECK_EQ(wr_bs_open(db, &storeB), 0);
  for (int i = 0; i < NBLOCKS; i++) {
    blocks[i] = wr_malloc(BLOCK);
    randombytes_buf(blocks[i], BLOCK);
    CHECK_EQ(wr_cid_sum(&cids[i], 1, WR_CODEC_RAW, blocks[i], BLOCK), 0);
    uint8_t k[WR_MH_MAX_BYTES];
    int kl = wr_mh_encode(&cids[i].mh, k, sizeof k);
    CHECK(kl > 0);
    CHECK_EQ(wr_bs_put(storeA, k, (size_t)kl, blocks[i], BLOCK), 0);
  }
  CHECK_EQ(uv_loop_init(&loop), 0);
  uint8_t s[32];
  wr_p2p_privkey ka, kb;
  memset(s, 7, sizeof s);
  wr_p2p_privkey_from_seed(&ka, s);
  memset(s, 8, sizeof s);
  wr_p2p_privkey_from_seed(&kb, s);
  wr_p2p_host_config cfg = {.agent_version = "test"};
  CHECK_EQ(wr_p2p_host_new(&A, &loop, &cfg, &ka, &hev, NULL), 0);
  CHECK_EQ(wr_p2p_host_new(&B, &loop, &cfg, &kb, &hev, NULL), 0);
  wr_bitswap_config bc = {.block_timeout_ms = 2000};
  CHECK_EQ(wr_bitswap_new(&loop, A, storeA, &bc, &bsA), 0);
  CHECK_EQ(wr_bitswap_new(&loop, B, storeB, &bc, &bsB), 0);
  uv_async_init(&loop, &done_async, on_done);
  wr_maddr l, addr;
  CHECK_EQ(wr_maddr_parse("/ip4/127.0.0.1/tcp/0", 20, &l, NULL), 0);
  CHECK_EQ(wr_p2p_host_listen(A, &l), 0);
  CHECK_EQ(wr_p2p_host_addrs(A, &addr, 1), 1);
  CHECK_EQ(wr_p2p_host_dial(B, &addr, NULL, NULL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (worker_started)
    pthread_join(worker, NULL);
  CHECK(got_ok);
  CHECK(timeout_ok);
  CHECK_EQ(closed, 2);
  CHECK_EQ(uv_loop_close(&loop), 0); /* no live handles */
  for (int i = 0; i < NBLOCKS; i++)
    wr_free(blocks[i]);
  wr_bs_close(storeA);
  wr_bs_close(storeB);
  tmpdir_remove(da);
  tmpdir_remove(db);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  RUN(test_fetch);
  return test_done();
}
