/* dht_tables_test.c: the DHT's routing table, provider store and /pk/
 * validator (the parts of src/routing that need no network; the DHT's
 * network side runs in tests/e2e/test_dht.py against js kad-dht). */
#include <stdlib.h>
#include <string.h>

#include "proto/multiformats/multihash.h"
#include "routing/dht.h"
#include "routing/provstore.h"
#include "routing/rtable.h"
#include "test.h"

static wr_peerid peer_n(unsigned n) {
  uint8_t seed[32] = {0};
  memcpy(seed, &n, sizeof n);
  wr_p2p_privkey sk;
  wr_p2p_pubkey pk;
  wr_p2p_privkey_from_seed(&sk, seed);
  wr_p2p_privkey_public(&sk, &pk);
  wr_peerid id;
  wr_peerid_from_pubkey(&id, &pk);
  return id;
}

static void test_rtable(void) {
  wr_peerid self = peer_n(0);
  wr_rtable rt;
  wr_rtable_init(&rt, &self, 4);
  CHECK_EQ(wr_rtable_add(&rt, &self, NULL, 0, 1), WR_ERR_INVAL);
  size_t added = 0, full = 0;
  for (unsigned i = 1; i <= 200; i++) {
    wr_peerid p = peer_n(i);
    int rv = wr_rtable_add(&rt, &p, NULL, 0, i);
    if (rv == 1)
      added++;
    else if (rv == WR_ERR_LIMIT)
      full++;
    else
      CHECK(0);
  }
  CHECK_EQ(added, rt.size);
  /* about half of all peers share no prefix bit with us: bucket 0 fills */
  CHECK_EQ(rt.count[0], 4);
  CHECK(full > 0);
  for (size_t b = 0; b < WR_RT_BUCKETS; b++)
    CHECK(rt.count[b] <= 4);
  /* refresh: no new entry */
  wr_peerid p1 = peer_n(1);
  if (wr_rtable_find(&rt, &p1)) {
    CHECK_EQ(wr_rtable_add(&rt, &p1, NULL, 0, 999), 0);
    CHECK_EQ(wr_rtable_find(&rt, &p1)->seen_ms, 999);
  }
  /* closest: sorted by distance, and nothing nearer left out */
  uint8_t target[32];
  wr_kad_key("target", 6, target);
  wr_rt_peer *near[8];
  size_t n = wr_rtable_closest(&rt, target, near, 8);
  CHECK_EQ(n, 8);
  for (size_t i = 1; i < n; i++)
    CHECK(wr_kad_closer(target, near[i - 1]->key, near[i]->key) < 0);
  for (size_t b = 0; b < WR_RT_BUCKETS; b++)
    for (size_t i = 0; i < rt.count[b]; i++) {
      int in = 0;
      for (size_t j = 0; j < n; j++)
        in |= near[j] == &rt.bucket[b][i];
      if (!in)
        CHECK(wr_kad_closer(target, rt.bucket[b][i].key, near[n - 1]->key) > 0);
    }
  size_t before = rt.size;
  CHECK_EQ(wr_rtable_remove(&rt, &near[0]->id), 1);
  CHECK_EQ(rt.size, before - 1);
  wr_rtable_free(&rt);
}

static unsigned sink_calls;
static void on_put(void *user, const uint8_t *key, size_t keylen, const wr_prov_rec *rec) {
  (void)user, (void)key, (void)keylen, (void)rec;
  sink_calls++;
}

static void test_provstore(void) {
  wr_provstore *ps;
  CHECK_EQ(wr_provstore_new(&ps, 3000), 0);
  wr_provstore_sink sink = {.on_put = on_put};
  wr_provstore_set_sink(ps, &sink);
  uint8_t key[34] = {0x12, 0x20};
  wr_prov_rec r = {.id = peer_n(1), .expires_ms = 1000};
  CHECK_EQ(wr_provstore_add(ps, key, 0, &r), WR_ERR_INVAL);
  for (unsigned i = 0; i < 3000; i++) {
    memcpy(key + 2, &i, sizeof i);
    CHECK_EQ(wr_provstore_add(ps, key, sizeof key, &r), 0);
  }
  CHECK_EQ(wr_provstore_keys(ps), 3000);
  CHECK_EQ(sink_calls, 3000);
  unsigned extra = 5000;
  memcpy(key + 2, &extra, sizeof extra);
  CHECK_EQ(wr_provstore_add(ps, key, sizeof key, &r), WR_ERR_LIMIT);
  unsigned k7 = 7;
  memcpy(key + 2, &k7, sizeof k7);
  /* a second provider, newer and living longer; a refresh moves a peer */
  wr_prov_rec r2 = {.id = peer_n(2), .expires_ms = 5000};
  CHECK_EQ(wr_provstore_add(ps, key, sizeof key, &r2), 0);
  wr_prov_rec out[4];
  CHECK_EQ(wr_provstore_get(ps, key, sizeof key, 10, out, 4), 2);
  CHECK(wr_peerid_equal(&out[0].id, &r2.id));
  CHECK_EQ(wr_provstore_get(ps, key, sizeof key, 2000, out, 4), 1);
  CHECK_EQ(wr_provstore_get(ps, key, sizeof key, 10, out, 1), 1);
  /* expiry: everything but key 7's second record goes */
  CHECK_EQ(wr_provstore_expire(ps, 2000), 3000);
  CHECK_EQ(wr_provstore_keys(ps), 1);
  CHECK_EQ(wr_provstore_get(ps, key, sizeof key, 2000, out, 4), 1);
  /* at most 64 providers per key: the oldest goes */
  for (unsigned i = 10; i < 110; i++) {
    wr_prov_rec ri = {.id = peer_n(i), .expires_ms = 10000 + i};
    CHECK_EQ(wr_provstore_add(ps, key, sizeof key, &ri), 0);
  }
  wr_prov_rec many[100];
  CHECK_EQ(wr_provstore_get(ps, key, sizeof key, 0, many, 100), WR_PROV_MAX_PER_KEY);
  wr_peerid newest = peer_n(109);
  CHECK(wr_peerid_equal(&many[0].id, &newest));
  wr_provstore_del(ps);
}

static void test_pk_validator(void) {
  uint8_t seed[32] = {7};
  wr_p2p_privkey sk;
  wr_p2p_pubkey pk;
  wr_p2p_privkey_from_seed(&sk, seed);
  wr_p2p_privkey_public(&sk, &pk);
  wr_peerid id;
  wr_peerid_from_pubkey(&id, &pk);
  uint8_t val[WR_P2P_PUBKEY_ED25519_PB];
  wr_p2p_pubkey_encode(&pk, val);
  uint8_t key[64] = "/pk/";
  int n = wr_peerid_to_bytes(&id, key + 4, sizeof key - 4);
  CHECK(n > 0);
  size_t klen = 4 + (size_t)n;
  const char *why = NULL;
  CHECK_EQ(wr_dht_validate_pk(key, klen, val, sizeof val, &why), 0);
  /* another peer's key under this ID */
  wr_peerid other = peer_n(3);
  uint8_t key2[64] = "/pk/";
  int n2 = wr_peerid_to_bytes(&other, key2 + 4, sizeof key2 - 4);
  CHECK_EQ(wr_dht_validate_pk(key2, 4 + (size_t)n2, val, sizeof val, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the /pk/ value's key does not hash to the key's peer ID");
  CHECK_EQ(wr_dht_validate_pk(key, klen, val, sizeof val - 1, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the /pk/ value is not a public key");
  CHECK_EQ(wr_dht_validate_pk((const uint8_t *)"/ipns/x", 7, val, sizeof val, &why),
           WR_ERR_MALFORMED);
  CHECK_STREQ(why, "a /pk/ key starts with /pk/ and a peer ID");
  CHECK_EQ(wr_dht_validate_pk(key, 6, val, sizeof val, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the /pk/ key does not end with a peer ID");
}

int main(void) {
  RUN(test_rtable);
  RUN(test_provstore);
  RUN(test_pk_validator);
  return test_done();
}
