/* dhtdb_test.c: the DHT's records and keys to provide in the repo's LMDB:
 * put, replace, load skipping and deleting the expired, refusals, keys added
 * twice and removed, and a store that never had them. */
#include "store/dhtdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

typedef struct seen {
  size_t n;
  uint64_t exp[8];
  uint8_t val0[8];
  size_t vallen[8];
  uint8_t key0[8];
} seen;

static int on_rec(void *arg, const wr_dhtdb_rec *r) {
  seen *s = arg;
  if (s->n < 8) {
    s->exp[s->n] = r->expires_unix_ms;
    s->vallen[s->n] = r->vallen;
    s->val0[s->n] = r->vallen ? r->val[0] : 0;
    s->key0[s->n] = r->key[r->keylen - 1];
  }
  s->n++;
  return 0;
}

static int stop_at_first(void *arg, const wr_dhtdb_rec *r) {
  (void)arg, (void)r;
  return 7;
}

static void test_records(void) {
  char dir[] = "/tmp/dhtdb_testXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  wr_bs *bs;
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  seen s = {0};
  size_t expired = 99;
  /* a store made before records were kept */
  CHECK_EQ(wr_dhtdb_load(bs, 1000, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 0);
  CHECK_EQ(expired, 0);
  static const uint8_t k1[] = "/pk/a", k2[] = "/ipns/b", k3[] = "/ipns/c";
  static const uint8_t v1[] = {1, 2, 3}, v2[] = {9};
  wr_dhtdb_rec r[3] = {
      {.key = k1, .keylen = 5, .val = v1, .vallen = 3, .expires_unix_ms = 5000},
      {.key = k2, .keylen = 7, .val = v2, .vallen = 1, .expires_unix_ms = 500},
      {.key = k3, .keylen = 7, .val = v2, .vallen = 0, .expires_unix_ms = 7000},
  };
  CHECK_EQ(wr_dhtdb_put(bs, r, 3), 0);
  wr_dhtdb_rec bad = {.key = k1, .keylen = 0, .val = v1, .vallen = 3};
  CHECK_EQ(wr_dhtdb_put(bs, &bad, 1), WR_ERR_INVAL);
  bad.keylen = WR_DHTDB_MAX_KEY + 1;
  CHECK_EQ(wr_dhtdb_put(bs, &bad, 1), WR_ERR_INVAL);
  bad.keylen = 5;
  bad.vallen = WR_DHTDB_MAX_VALUE + 1;
  CHECK_EQ(wr_dhtdb_put(bs, &bad, 1), WR_ERR_INVAL);
  /* a value of the largest size goes in and comes back */
  uint8_t *big = calloc(1, WR_DHTDB_MAX_VALUE);
  CHECK(big != NULL);
  big[0] = 0x42;
  /* a newer put of k1 replaces the older */
  wr_dhtdb_rec r1 = {
      .key = k1, .keylen = 5, .val = big, .vallen = WR_DHTDB_MAX_VALUE, .expires_unix_ms = 6000};
  CHECK_EQ(wr_dhtdb_put(bs, &r1, 1), 0);
  free(big);
  CHECK_EQ(wr_dhtdb_load(bs, 1000, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 2);
  CHECK_EQ(expired, 1);
  /* byte order: "/ipns/c" < "/pk/a" */
  CHECK_EQ(s.key0[0], 'c');
  CHECK_EQ(s.exp[0], 7000);
  CHECK_EQ(s.vallen[0], 0);
  CHECK_EQ(s.key0[1], 'a');
  CHECK_EQ(s.exp[1], 6000);
  CHECK_EQ(s.vallen[1], WR_DHTDB_MAX_VALUE);
  CHECK_EQ(s.val0[1], 0x42);
  CHECK_EQ(wr_dhtdb_load(bs, 1000, stop_at_first, NULL, NULL), 7);
  wr_bs_close(bs);
  /* reopened: the expired one is gone for good */
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  memset(&s, 0, sizeof s);
  CHECK_EQ(wr_dhtdb_load(bs, 1000, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 2);
  CHECK_EQ(expired, 0);
  memset(&s, 0, sizeof s);
  CHECK_EQ(wr_dhtdb_load(bs, 6500, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 1);
  CHECK_EQ(expired, 1);
  wr_bs_close(bs);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

typedef struct keys {
  size_t n;
  size_t len[8];
  uint8_t last[8];
  uint64_t since[8];
} keys;

static int on_key(void *arg, const uint8_t *key, size_t len, uint64_t since) {
  keys *k = arg;
  if (k->n < 8) {
    k->len[k->n] = len;
    k->last[k->n] = key[len - 1];
    k->since[k->n] = since;
  }
  k->n++;
  return 0;
}

static void test_provide_keys(void) {
  char dir[] = "/tmp/dhtdb_testXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  wr_bs *bs;
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  keys k = {0};
  CHECK_EQ(wr_dhtdb_provide_load(bs, on_key, &k), 0);
  CHECK_EQ(k.n, 0);
  static const uint8_t a[] = {0x12, 0x20, 2}, b[] = {0x12, 0x20, 1}, c[] = {0x12, 0x20, 3};
  const uint8_t *ks[3] = {a, b, a};
  size_t ls[3] = {3, 3, 3};
  CHECK_EQ(wr_dhtdb_provide_add(bs, ks, ls, 3, 100), 0);
  /* added again later: keeps its first time */
  const uint8_t *ks2[2] = {b, c};
  CHECK_EQ(wr_dhtdb_provide_add(bs, ks2, ls, 2, 200), 0);
  size_t zero = 0, big = WR_DHTDB_MAX_PROVIDE_KEY + 1;
  CHECK_EQ(wr_dhtdb_provide_add(bs, ks, &zero, 1, 300), WR_ERR_INVAL);
  CHECK_EQ(wr_dhtdb_provide_add(bs, ks, &big, 1, 300), WR_ERR_INVAL);
  CHECK_EQ(wr_dhtdb_provide_load(bs, on_key, &k), 0);
  CHECK_EQ(k.n, 3);
  CHECK_EQ(k.last[0], 1);
  CHECK_EQ(k.since[0], 100);
  CHECK_EQ(k.last[1], 2);
  CHECK_EQ(k.since[1], 100);
  CHECK_EQ(k.last[2], 3);
  CHECK_EQ(k.since[2], 200);
  CHECK_EQ(wr_dhtdb_provide_rm(bs, a, 3), 0);
  CHECK_EQ(wr_dhtdb_provide_rm(bs, a, 3), 0); /* gone already: fine */
  wr_bs_close(bs);
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  memset(&k, 0, sizeof k);
  CHECK_EQ(wr_dhtdb_provide_load(bs, on_key, &k), 0);
  CHECK_EQ(k.n, 2);
  CHECK_EQ(k.last[0], 1);
  CHECK_EQ(k.last[1], 3);
  wr_bs_close(bs);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

int main(void) {
  RUN(test_records);
  RUN(test_provide_keys);
  return test_done();
}
