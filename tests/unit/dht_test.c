/* dht_test.c: five DHT servers on libp2p hosts in one loop over loopback
 * TCP: bootstrap, a provide sweep, findprovs, findpeer, /pk/ put and get, a
 * cancelled query, then every DHT and host closed and the loop left with
 * no live handles (so ASan sees every allocation come back). A DHT alone:
 * records kept for record_ttl_ms and told to the sink, restored ones checked
 * again and not told, the caller's keys to provide told. */
#include <uv.h>

#include "base/buf.h"
#include "p2p/host.h"
#include "routing/dht.h"
#include "test.h"

#define N 5
#define KEYS 50

static uv_loop_t loop;
static wr_p2p_host *H[N];
static wr_dht *D[N];
static wr_maddr addr0;
static int booted, provided, found_prov, provs_done, found_peer, put_done, got_value, cancelled;
static int closed_hosts;
static uint8_t keys[KEYS][34];
static uv_timer_t guard;

static void on_identified(wr_p2p_host *h, wr_p2p_conn *c) {
  for (int i = 0; i < N; i++)
    if (H[i] == h && D[i])
      wr_dht_on_identified(D[i], c);
}
static const wr_p2p_host_events hev = {.on_identified = on_identified};

static void host_closed(wr_p2p_host *h, void *data) {
  (void)h, (void)data;
  closed_hosts++;
}

static void finish(void) {
  for (int i = 0; i < N; i++) {
    wr_dht_close(D[i]);
    D[i] = NULL;
  }
  for (int i = 0; i < N; i++)
    wr_p2p_host_close(H[i], host_closed, NULL);
  uv_close((uv_handle_t *)&guard, NULL);
}

static void on_value(void *data, int err, const uint8_t *val, size_t n) {
  (void)data;
  CHECK_EQ(err, 0);
  wr_p2p_pubkey pk;
  CHECK_EQ(wr_peerid_pubkey(wr_p2p_host_id(H[2]), &pk), 0);
  uint8_t want[WR_P2P_PUBKEY_ED25519_PB];
  wr_p2p_pubkey_encode(&pk, want);
  CHECK_EQ(n, sizeof want);
  CHECK(n == sizeof want && memcmp(val, want, n) == 0);
  got_value = 1;
  finish();
}

static size_t pk_key(int i, uint8_t *key) {
  memcpy(key, "/pk/", 4);
  int n = wr_peerid_to_bytes(wr_p2p_host_id(H[i]), key + 4, 128);
  return 4 + (size_t)n;
}

static void on_put(void *data, int err) {
  (void)data;
  CHECK_EQ(err, 0);
  put_done = 1;
  uint8_t key[160];
  size_t kl = pk_key(2, key);
  CHECK_EQ(wr_dht_get_value(D[3], key, kl, on_value, NULL), 0);
}

static void on_peer(void *data, int err, const wr_dht_peer *p, size_t n) {
  (void)data;
  CHECK_EQ(err, 0);
  CHECK_EQ(n, 1);
  if (n == 1) {
    CHECK(wr_peerid_equal(&p->id, wr_p2p_host_id(H[1])));
    CHECK(p->naddrs >= 1);
  }
  found_peer = 1;
  /* /pk/ of host 2, put by host 2; a wrong one is refused at once */
  uint8_t key[160], val[WR_P2P_PUBKEY_ED25519_PB];
  wr_p2p_pubkey pk;
  CHECK_EQ(wr_peerid_pubkey(wr_p2p_host_id(H[1]), &pk), 0);
  wr_p2p_pubkey_encode(&pk, val);
  size_t kl = pk_key(2, key);
  CHECK_EQ(wr_dht_put_value(D[2], key, kl, val, sizeof val, on_put, NULL), WR_ERR_MALFORMED);
  CHECK_EQ(wr_peerid_pubkey(wr_p2p_host_id(H[2]), &pk), 0);
  wr_p2p_pubkey_encode(&pk, val);
  CHECK_EQ(wr_dht_put_value(D[2], key, kl, val, sizeof val, on_put, NULL), 0);
  CHECK_EQ(wr_dht_put_value(D[2], (const uint8_t *)"/ipns/x", 7, val, sizeof val, on_put, NULL),
           WR_ERR_UNSUPPORTED);
}

static void on_cancelled_provider(void *data, const wr_dht_peer *p) { (void)data, (void)p; }
static void on_cancelled_done(void *data, int err) {
  (void)data;
  CHECK_EQ(err, WR_ERR_CLOSED);
  cancelled++;
}

static void on_provider(void *data, const wr_dht_peer *p) {
  (void)data;
  CHECK(wr_peerid_equal(&p->id, wr_p2p_host_id(H[1])));
  CHECK(p->naddrs >= 1);
  found_prov++;
}

static void on_provs_done(void *data, int err) {
  (void)data;
  CHECK_EQ(err, 0);
  provs_done = 1;
  /* a query cancelled at once hears WR_ERR_CLOSED, once */
  wr_dht_query *q;
  CHECK_EQ(wr_dht_find_providers(D[3], keys[9], 34, 0, on_cancelled_provider, on_cancelled_done,
                                 NULL, &q),
           0);
  wr_dht_query_cancel(q);
  CHECK_EQ(wr_dht_find_peer(D[3], wr_p2p_host_id(H[1]), on_peer, NULL), 0);
}

static void on_provided(void *data, int err, const wr_dht_provide_stats *st) {
  (void)data;
  CHECK_EQ(err, 0);
  CHECK_EQ(st->keys, KEYS);
  CHECK_EQ(st->lookups, 1); /* five nodes: one region */
  CHECK_EQ(st->messages, KEYS * (N - 1));
  CHECK_EQ(st->failed, 0);
  provided = 1;
  /* by CID, as Bitswap asks: CIDv1 raw of key 7's multihash */
  wr_cid cid;
  wr_mh mh;
  uint8_t b = 7;
  wr_mh_sha256(&mh, &b, 1);
  CHECK_EQ(wr_cid_init(&cid, 1, WR_CODEC_RAW, &mh), 0);
  CHECK_EQ(wr_dht_find_providers_cid(D[4], &cid, 1, on_provider, on_provs_done, NULL, NULL), 0);
}

static void on_boot(void *data, int err) {
  (void)data;
  CHECK_EQ(err, 0);
  if (++booted < N - 1)
    return;
  const uint8_t *kp[KEYS];
  size_t lens[KEYS];
  for (int i = 0; i < KEYS; i++) {
    wr_mh mh;
    uint8_t b = (uint8_t)i;
    wr_mh_sha256(&mh, &b, 1);
    CHECK_EQ(wr_mh_encode(&mh, keys[i], 34), 34);
    kp[i] = keys[i];
    lens[i] = 34;
  }
  CHECK_EQ(wr_dht_provide(D[1], kp, lens, KEYS, on_provided, NULL), 0);
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  CHECK(!"timed out");
  finish();
}

static void test_dht_five(void) {
  CHECK_EQ(uv_loop_init(&loop), 0);
  wr_p2p_host_config cfg = {.agent_version = "warren/test"};
  wr_maddr lma;
  CHECK_EQ(wr_maddr_parse("/ip4/127.0.0.1/tcp/0", 20, &lma, NULL), 0);
  for (int i = 0; i < N; i++) {
    uint8_t seed[32];
    memset(seed, 0x40 + i, sizeof seed);
    wr_p2p_privkey k;
    wr_p2p_privkey_from_seed(&k, seed);
    CHECK_EQ(wr_p2p_host_new(&H[i], &loop, &cfg, &k, &hev, NULL), 0);
    CHECK_EQ(wr_p2p_host_listen(H[i], &lma), 0);
    wr_dht_config dc = {.server = 1, .rpc_timeout_ms = 5000};
    CHECK_EQ(wr_dht_new(&D[i], H[i], &loop, &dc), 0);
  }
  CHECK_EQ(wr_p2p_host_addrs(H[0], &addr0, 1), 1);
  uint8_t idb[64];
  int idn = wr_peerid_to_bytes(wr_p2p_host_id(H[0]), idb, sizeof idb);
  CHECK_EQ(wr_maddr_push(&addr0, WR_MA_P2P, idb, (size_t)idn), 0);
  for (int i = 1; i < N; i++)
    CHECK_EQ(wr_dht_bootstrap(D[i], &addr0, 1, on_boot, NULL), 0);
  uv_timer_init(&loop, &guard);
  uv_timer_start(&guard, on_guard, 20000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(booted, N - 1);
  CHECK(provided);
  CHECK_EQ(found_prov, 1);
  CHECK(provs_done);
  CHECK_EQ(cancelled, 1);
  CHECK(found_peer);
  CHECK(put_done);
  CHECK(got_value);
  CHECK_EQ(closed_hosts, N);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* ---- one DHT alone: record expiry, the sink, restore ---- */

static wr_dht *solo;
static wr_p2p_host *solo_host;
static int sunk_records, sunk_keys, solo_put, solo_got, solo_gone;
static uv_timer_t later;
static uint8_t solo_key[160], solo_val[WR_P2P_PUBKEY_ED25519_PB];
static size_t solo_kl;

static void sink_record(void *user, const uint8_t *key, size_t keylen, const uint8_t *val,
                        size_t vallen, uint64_t expires_ms) {
  (void)user;
  CHECK(keylen == solo_kl && memcmp(key, solo_key, keylen) == 0);
  CHECK(vallen == sizeof solo_val && memcmp(val, solo_val, vallen) == 0);
  CHECK(expires_ms > uv_now(&loop) && expires_ms <= uv_now(&loop) + 200);
  sunk_records++;
}

static void sink_keys(void *user, const uint8_t *const *k, const size_t *lens, size_t n) {
  (void)user, (void)k;
  CHECK_EQ(n, 2);
  CHECK_EQ(lens[0], 34);
  sunk_keys += (int)n;
}

static void solo_closed(wr_p2p_host *h, void *data) { (void)h, (void)data; }

static int solo_back;

static void on_solo_back(void *data, int err, const uint8_t *val, size_t n) {
  (void)data;
  CHECK_EQ(err, 0);
  CHECK(n == sizeof solo_val && memcmp(val, solo_val, n) == 0);
  solo_back = 1;
  wr_dht_close(solo);
  wr_p2p_host_close(solo_host, solo_closed, NULL);
  uv_close((uv_handle_t *)&later, NULL);
}

static void on_solo_gone(void *data, int err, const uint8_t *val, size_t n) {
  (void)data, (void)val, (void)n;
  CHECK_EQ(err, WR_ERR_NOTFOUND); /* past its 200 ms */
  solo_gone = 1;
  /* restored (as from the repo at a start): served again, the sink not told */
  CHECK_EQ(wr_dht_restore_record(solo, solo_key, solo_kl, solo_val, sizeof solo_val,
                                 uv_now(&loop) + 100000),
           0);
  CHECK_EQ(sunk_records, 1);
  CHECK_EQ(wr_dht_get_value(solo, solo_key, solo_kl, on_solo_back, NULL), 0);
}

static void on_later(uv_timer_t *t) {
  (void)t;
  CHECK_EQ(wr_dht_get_value(solo, solo_key, solo_kl, on_solo_gone, NULL), 0);
}

static void on_solo_got(void *data, int err, const uint8_t *val, size_t n) {
  (void)data;
  CHECK_EQ(err, 0);
  CHECK(n == sizeof solo_val && memcmp(val, solo_val, n) == 0);
  solo_got = 1;
  uv_timer_start(&later, on_later, 400, 0);
}

static void on_solo_put(void *data, int err) {
  (void)data;
  CHECK_EQ(err, WR_ERR_NOTFOUND); /* nobody else took it; kept here */
  solo_put = 1;
  CHECK_EQ(wr_dht_get_value(solo, solo_key, solo_kl, on_solo_got, NULL), 0);
}

static void test_dht_records_ttl(void) {
  CHECK_EQ(uv_loop_init(&loop), 0);
  wr_p2p_host_config cfg = {.agent_version = "warren/test"};
  uint8_t seed[32];
  memset(seed, 0x77, sizeof seed);
  wr_p2p_privkey k;
  wr_p2p_privkey_from_seed(&k, seed);
  CHECK_EQ(wr_p2p_host_new(&solo_host, &loop, &cfg, &k, &hev, NULL), 0);
  wr_dht_config dc = {.server = 1, .record_ttl_ms = 200};
  CHECK_EQ(wr_dht_new(&solo, solo_host, &loop, &dc), 0);
  wr_dht_sink sink = {.on_record = sink_record, .on_provide = sink_keys};
  wr_dht_set_sink(solo, &sink);
  memcpy(solo_key, "/pk/", 4);
  solo_kl = 4 + (size_t)wr_peerid_to_bytes(wr_p2p_host_id(solo_host), solo_key + 4, 128);
  wr_p2p_pubkey pk;
  CHECK_EQ(wr_peerid_pubkey(wr_p2p_host_id(solo_host), &pk), 0);
  wr_p2p_pubkey_encode(&pk, solo_val);
  /* restore: validated again, never past the TTL, and the sink does not hear of it */
  uint64_t now = uv_now(&loop);
  CHECK_EQ(wr_dht_restore_record(solo, solo_key, solo_kl, solo_val, sizeof solo_val, now),
           WR_ERR_TIMEOUT);
  uint8_t bad[sizeof solo_val];
  memcpy(bad, solo_val, sizeof bad);
  bad[sizeof bad - 1] ^= 1;
  CHECK_EQ(wr_dht_restore_record(solo, solo_key, solo_kl, bad, sizeof bad, now + 1000),
           WR_ERR_MALFORMED);
  CHECK_EQ(sunk_records, 0);
  /* the caller's keys reach the sink */
  uint8_t k1[34], k2[34];
  wr_mh mh;
  uint8_t b = 1;
  wr_mh_sha256(&mh, &b, 1);
  CHECK_EQ(wr_mh_encode(&mh, k1, 34), 34);
  b = 2;
  wr_mh_sha256(&mh, &b, 1);
  CHECK_EQ(wr_mh_encode(&mh, k2, 34), 34);
  const uint8_t *kp[2] = {k1, k2};
  size_t lens[2] = {34, 34};
  CHECK_EQ(wr_dht_provide(solo, kp, lens, 2, NULL, NULL), 0);
  CHECK_EQ(sunk_keys, 2);
  /* a put is kept (and sunk) for record_ttl_ms, then gone (with nobody to
   * ask, the callbacks run at once) */
  uv_timer_init(&loop, &later);
  CHECK_EQ(wr_dht_put_value(solo, solo_key, solo_kl, solo_val, sizeof solo_val, on_solo_put, NULL),
           0);
  CHECK_EQ(sunk_records, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(solo_put);
  CHECK(solo_got);
  CHECK(solo_gone);
  CHECK(solo_back);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN(test_dht_five);
  RUN(test_dht_records_ttl);
  return test_done();
}
