/* provdb_test.c: provider records in the repo's LMDB: put, replace, load
 * skipping and deleting the expired, and a store that never had them. */
#include "store/provdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

typedef struct seen {
  size_t n;
  uint64_t exp[8];
  size_t addrslen[8];
} seen;

static int on_rec(void *arg, const wr_provdb_rec *r) {
  seen *s = arg;
  if (s->n < 8) {
    s->exp[s->n] = r->expires_unix_ms;
    s->addrslen[s->n] = r->addrslen;
  }
  s->n++;
  return 0;
}

static void test_put_load(void) {
  char dir[] = "/tmp/provdb_testXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  wr_bs *bs;
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  seen s = {0};
  size_t expired = 99;
  /* a store made before provider records existed */
  CHECK_EQ(wr_provdb_load(bs, 1000, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 0);
  CHECK_EQ(expired, 0);
  static const uint8_t key1[] = {0x12, 0x20, 1}, key2[] = {0x12, 0x20, 2}, peer[] = {0, 36, 8, 1};
  static const uint8_t addrs[] = {8, 0x04, 127, 0, 0, 1, 0x06, 0x10, 0x00};
  wr_provdb_rec r[3] = {
      {.key = key1,
       .keylen = 3,
       .peer = peer,
       .peerlen = 4,
       .addrs = addrs,
       .addrslen = 9,
       .expires_unix_ms = 5000},
      {.key = key2, .keylen = 3, .peer = peer, .peerlen = 4, .expires_unix_ms = 500},
      {.key = key2, .keylen = 3, .peer = key1, .peerlen = 3, .expires_unix_ms = 7000},
  };
  CHECK_EQ(wr_provdb_put(bs, r, 3), 0);
  wr_provdb_rec bad = {.key = key1, .keylen = 0, .peer = peer, .peerlen = 4};
  CHECK_EQ(wr_provdb_put(bs, &bad, 1), WR_ERR_INVAL);
  /* a newer put of (key1, peer) replaces the older */
  r[0].expires_unix_ms = 6000;
  CHECK_EQ(wr_provdb_put(bs, r, 1), 0);
  CHECK_EQ(wr_provdb_load(bs, 1000, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 2);
  CHECK_EQ(expired, 1);
  CHECK_EQ(s.exp[0], 6000);
  CHECK_EQ(s.addrslen[0], 9);
  CHECK_EQ(s.exp[1], 7000);
  wr_bs_close(bs);
  /* reopened: the expired one is gone for good */
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  memset(&s, 0, sizeof s);
  CHECK_EQ(wr_provdb_load(bs, 1000, on_rec, &s, &expired), 0);
  CHECK_EQ(s.n, 2);
  CHECK_EQ(expired, 0);
  CHECK_EQ(wr_provdb_load(bs, 6500, on_rec, &s, &expired), 0);
  CHECK_EQ(expired, 1);
  wr_bs_close(bs);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

int main(void) {
  RUN(test_put_load);
  return test_done();
}
