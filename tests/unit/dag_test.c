/* dag_test.c: store/dag — the visited set, and walks over the blocks seam
 * (order and dedup, the codecs whose links are followed, missing and bad
 * blocks with the block at fault, flags, visitors that stop, a NULL
 * visitor, a set shared between walks). */
#include <string.h>

#include "store/blockstore.h"
#include "store/dag.h"
#include "store_testutil.h"
#include "test.h"

STORE_TEST_FIXTURE

static wr_cid leaf(const char *text) { return store_put_raw(bs, text); }

/* A dag-pb node linking to kids (and data text), as CIDv0. */
static wr_cid node(const wr_cid *kids, size_t n, const char *data) {
  return store_put_node(bs, 0, kids, n, data, strlen(data));
}

/* Writes the CIDs of cids, one a line, into want. */
static void want_order(wr_buf *want, const wr_cid *const *cids, size_t n) {
  want->len = 0;
  for (size_t i = 0; i < n; i++) {
    char s[WR_CID_MAX_STR];
    CHECK(wr_cid_format(cids[i], 0, s, sizeof s) > 0);
    CHECK_EQ(wr_buf_printf(want, "%s\n", s), 0);
  }
}

static int order_cb(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  (void)block;
  (void)len;
  wr_buf *b = arg;
  char s[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, s, sizeof s) < 0)
    return -100;
  return wr_buf_printf(b, "%s\n", s);
}

static void test_walk_order_dedup(void) {
  open_fresh();
  wr_cid a = leaf("a"), b = leaf("b");
  wr_cid x = node((wr_cid[]){a, b}, 2, "x");
  wr_cid root = node((wr_cid[]){x, b, x, a}, 4, "root");
  wr_buf got, want;
  wr_buf_init(&got, 1 << 16);
  wr_buf_init(&want, 1 << 16);
  want_order(&want, (const wr_cid *[]){&root, &x, &a, &b}, 4);
  wr_bs_txn *t;
  wr_bs_blocks src;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &root, NULL, 0, order_cb, &got, NULL), 0);
  CHECK_EQ(got.len, want.len);
  CHECK_MEMEQ(got.data, want.data, want.len);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &root, NULL, 0, NULL, NULL, NULL),
           0); /* no visitor: a check only */
  wr_bs_txn_abort(t);
  /* A git-raw block (codec 0x78) cannot be followed unless the caller says so. */
  wr_cid json;
  CHECK_EQ(wr_cid_sum(&json, 1, 0x78, "{}", 2), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &json, "{}", 2), 0);
  wr_cid bad;
  got.len = 0;
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &json, NULL, 0, order_cb, &got, &bad),
           WR_ERR_UNSUPPORTED);
  CHECK(wr_cid_equal(&bad, &json));
  CHECK_EQ(
      wr_dag_walk(wr_bs_blocks_init(&src, t), &json, NULL, WR_DAG_OPAQUE_OK, order_cb, &got, &bad),
      0);
  /* A dag-cbor block's links are followed: [link(a), link(x)] */
  uint8_t cbor[128], abytes[64], xbytes[64];
  int alen = wr_cid_to_bytes(&a, abytes, sizeof abytes);
  int xlen = wr_cid_to_bytes(&x, xbytes, sizeof xbytes);
  CHECK(alen > 0 && alen < 100 && xlen > 0 && xlen < 100);
  size_t n = 0;
  cbor[n++] = 0x82;
  cbor[n++] = 0xd8;
  cbor[n++] = 0x2a;
  cbor[n++] = 0x58;
  cbor[n++] = (uint8_t)(alen + 1);
  cbor[n++] = 0x00;
  memcpy(cbor + n, abytes, (size_t)alen);
  n += (size_t)alen;
  cbor[n++] = 0xd8;
  cbor[n++] = 0x2a;
  cbor[n++] = 0x58;
  cbor[n++] = (uint8_t)(xlen + 1);
  cbor[n++] = 0x00;
  memcpy(cbor + n, xbytes, (size_t)xlen);
  n += (size_t)xlen;
  wr_cid cb;
  CHECK_EQ(wr_cid_sum(&cb, 1, WR_CODEC_DAG_CBOR, cbor, n), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &cb, cbor, n), 0);
  got.len = 0;
  want_order(&want, (const wr_cid *[]){&cb, &a, &x, &b}, 4);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &cb, NULL, 0, order_cb, &got, &bad), 0);
  CHECK_EQ(got.len, want.len);
  CHECK_MEMEQ(got.data, want.data, want.len);
  /* dag-json links are followed too. */
  char jtext[256], xs[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&x, 0, xs, sizeof xs) > 0);
  int jn = snprintf(jtext, sizeof jtext, "{\"k\":[1,{\"/\":\"%s\"}]}", xs);
  wr_cid js;
  CHECK_EQ(wr_cid_sum(&js, 1, WR_CODEC_DAG_JSON, jtext, (size_t)jn), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &js, jtext, (size_t)jn), 0);
  got.len = 0;
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &js, NULL, 0, order_cb, &got, &bad), 0);
  /* visited: the dag-json block, then x and x's children a and b */
  want_order(&want, (const wr_cid *[]){&js, &x, &a, &b}, 4);
  CHECK_EQ(got.len, want.len);
  CHECK_MEMEQ(got.data, want.data, want.len);
  /* A malformed dag-cbor block stops the walk, naming it. */
  wr_cid broken;
  CHECK_EQ(wr_cid_sum(&broken, 1, WR_CODEC_DAG_CBOR, "\x9f\x01\xff", 3), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &broken, "\x9f\x01\xff", 3), 0);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &broken, NULL, 0, order_cb, &got, &bad),
           WR_ERR_MALFORMED);
  CHECK(wr_cid_equal(&bad, &broken));
  wr_bs_txn_abort(t);
  wr_buf_free(&got);
  wr_buf_free(&want);
  close_fresh();
}

static void test_set_grows(void) {
  wr_dag_set *s;
  CHECK_EQ(wr_dag_set_new(&s), 0);
  for (uint32_t i = 0; i < 5000; i++) {
    uint8_t mh[34];
    wr_bs_mh_sha256(mh, &i, sizeof i);
    CHECK_EQ(wr_dag_set_add(s, mh, sizeof mh), 1);
    CHECK_EQ(wr_dag_set_add(s, mh, sizeof mh), 0);
  }
  CHECK_EQ(wr_dag_set_count(s), 5000);
  uint8_t mh[34];
  uint32_t i = 77;
  wr_bs_mh_sha256(mh, &i, sizeof i);
  CHECK_EQ(wr_dag_set_has(s, mh, sizeof mh), 1);
  i = 5001;
  wr_bs_mh_sha256(mh, &i, sizeof i);
  CHECK_EQ(wr_dag_set_has(s, mh, sizeof mh), 0);
  wr_dag_set_del(s);
}

/* Counts visits; stops with stop_at's value at visit number stop_n. */
typedef struct counter {
  int visits, raw_null, stop_n, stop_at;
  size_t bytes;
} counter;

static int count_cb(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  counter *c = arg;
  c->visits++;
  c->bytes += len;
  if (cid->codec == WR_CODEC_RAW && !block)
    c->raw_null++;
  return c->visits == c->stop_n ? c->stop_at : 0;
}

static void test_walk_missing_and_corrupt(void) {
  open_fresh();
  wr_cid a = leaf("present");
  wr_cid gone;
  CHECK_EQ(wr_cid_sum(&gone, 1, WR_CODEC_RAW, "never stored", 12), 0);
  wr_cid mid = node((wr_cid[]){a, gone}, 2, "mid");
  wr_cid root = node((wr_cid[]){mid}, 1, "root");
  wr_bs_txn *t;
  wr_bs_blocks src;
  wr_cid bad;
  memset(&bad, 0, sizeof bad);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  wr_blocks *b = wr_bs_blocks_init(&src, t);
  /* A missing leaf: NOTFOUND naming it, with or without a visitor, and
   * whether raw blocks are read or only checked for presence. */
  CHECK_EQ(wr_dag_walk(b, &root, NULL, 0, NULL, NULL, &bad), WR_ERR_NOTFOUND);
  CHECK(wr_cid_equal(&bad, &gone));
  counter c = {0};
  CHECK_EQ(wr_dag_walk(b, &root, NULL, WR_DAG_NO_RAW_READ, count_cb, &c, &bad), WR_ERR_NOTFOUND);
  CHECK(wr_cid_equal(&bad, &gone));
  CHECK_EQ(c.visits, 3); /* root, mid, a: the walk got that far */
  /* A missing root, and pbad may be NULL. */
  CHECK_EQ(wr_dag_walk(b, &gone, NULL, 0, NULL, NULL, NULL), WR_ERR_NOTFOUND);
  /* ROOT_ONLY does not descend, so the hole below is not seen. */
  CHECK_EQ(wr_dag_walk(b, &root, NULL, WR_DAG_ROOT_ONLY, NULL, NULL, &bad), 0);
  wr_bs_txn_abort(t);
  /* A block whose bytes do not match its CID: CORRUPT, naming it. */
  wr_cid liar;
  CHECK_EQ(wr_cid_sum(&liar, 1, WR_CODEC_DAG_PB, "\x0a\x00", 2), 0);
  uint8_t key[WR_MH_MAX_BYTES];
  int klen = wr_bs_key(&liar, key);
  CHECK(klen > 0);
  CHECK_EQ(wr_bs_put(bs, key, (size_t)klen, "\x0a\x01", 2), 0); /* put trusts the key */
  wr_cid top = node((wr_cid[]){liar}, 1, "top");
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  b = wr_bs_blocks_init(&src, t);
  CHECK_EQ(wr_dag_walk(b, &top, NULL, 0, NULL, NULL, &bad), WR_ERR_CORRUPT);
  CHECK(wr_cid_equal(&bad, &liar));
  wr_bs_txn_abort(t);
  close_fresh();
}

static void test_walk_flags_and_visitors(void) {
  open_fresh();
  wr_cid a = leaf("aaaa"), b2 = leaf("bb");
  wr_cid root = node((wr_cid[]){a, b2}, 2, "r");
  wr_bs_txn *t;
  wr_bs_blocks src;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  wr_blocks *b = wr_bs_blocks_init(&src, t);
  /* Raw blocks are read (bytes given) unless NO_RAW_READ, which still gives
   * their size. */
  counter c = {0};
  CHECK_EQ(wr_dag_walk(b, &root, NULL, 0, count_cb, &c, NULL), 0);
  CHECK_EQ(c.visits, 3);
  CHECK_EQ(c.raw_null, 0);
  size_t all = c.bytes;
  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_dag_walk(b, &root, NULL, WR_DAG_NO_RAW_READ, count_cb, &c, NULL), 0);
  CHECK_EQ(c.visits, 3);
  CHECK_EQ(c.raw_null, 2);
  CHECK_EQ(c.bytes, all);
  /* ROOT_ONLY visits the root alone. */
  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_dag_walk(b, &root, NULL, WR_DAG_ROOT_ONLY, count_cb, &c, NULL), 0);
  CHECK_EQ(c.visits, 1);
  /* A visitor's non-zero value stops the walk and is returned, positive or
   * negative, without naming a bad block. */
  c = (counter){.stop_n = 2, .stop_at = 7};
  wr_cid bad = root;
  CHECK_EQ(wr_dag_walk(b, &root, NULL, 0, count_cb, &c, &bad), 7);
  CHECK_EQ(c.visits, 2);
  CHECK(wr_cid_equal(&bad, &root));
  c = (counter){.stop_n = 1, .stop_at = WR_ERR_IO};
  CHECK_EQ(wr_dag_walk(b, &root, NULL, 0, count_cb, &c, NULL), WR_ERR_IO);
  /* A shared set: a second walk skips what the first visited, and a root
   * already in the set is not visited at all. */
  wr_dag_set *seen;
  CHECK_EQ(wr_dag_set_new(&seen), 0);
  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_dag_walk(b, &a, seen, 0, count_cb, &c, NULL), 0);
  CHECK_EQ(wr_dag_walk(b, &root, seen, 0, count_cb, &c, NULL), 0);
  CHECK_EQ(c.visits, 3); /* a, then root and b2 */
  CHECK_EQ(wr_dag_set_count(seen), 3);
  CHECK_EQ(wr_dag_walk(b, &root, seen, 0, count_cb, &c, NULL), 0);
  CHECK_EQ(c.visits, 3);
  wr_dag_set_del(seen);
  /* The v0 and v1 CIDs of one block are one block: visited once. */
  wr_cid v1;
  wr_cid_to_v1(&root, &v1);
  wr_cid twice = node((wr_cid[]){root, v1}, 2, "twice");
  wr_bs_txn_abort(t);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  b = wr_bs_blocks_init(&src, t);
  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_dag_walk(b, &twice, NULL, 0, count_cb, &c, NULL), 0);
  CHECK_EQ(c.visits, 4);
  wr_bs_txn_abort(t);
  close_fresh();
}

int main(void) {
  RUN(test_walk_order_dedup);
  RUN(test_walk_missing_and_corrupt);
  RUN(test_walk_flags_and_visitors);
  RUN(test_set_grows);
  return test_done();
}
