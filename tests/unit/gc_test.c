#include <string.h>

#include "base/log.h"
#include "proto/ipld/dagpb.h"
#include "store/blockstore.h"
#include "store/dag.h"
#include "store/gc.h"
#include "store/pin.h"
#include "store_testutil.h"
#include "test.h"

static char dir[4096];
static wr_bs *bs;

/* Stores a raw leaf with the given text and returns its CIDv1. */
static wr_cid leaf(const char *text) {
  wr_cid c;
  wr_bs_txn *t;
  CHECK_EQ(wr_cid_sum(&c, 1, WR_CODEC_RAW, text, strlen(text)), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &c, text, strlen(text)), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  return c;
}

/* Stores a dag-pb node linking to kids (and data text) and returns its CIDv0. */
static wr_cid node(const wr_cid *kids, size_t n, const char *data) {
  wr_buf b;
  wr_buf_init(&b, 1 << 16);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(wr_dagpb_put_link(&b, &kids[i], "", 0, NULL), 0);
  CHECK_EQ(wr_dagpb_put_data(&b, data, strlen(data)), 0);
  wr_cid c;
  CHECK_EQ(wr_cid_sum(&c, 0, WR_CODEC_DAG_PB, b.data, b.len), 0);
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &c, b.data, b.len), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  wr_buf_free(&b);
  return c;
}

static void pin(const wr_cid *c, wr_pin_type type) {
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_pin_put_cid(t, c, type), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
}

static int has(const wr_cid *c) {
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  int rc = wr_bs_txn_has_cid(t, c);
  wr_bs_txn_abort(t);
  return rc;
}

static int nremoved;
static void on_removed(void *arg, const uint8_t *mh, size_t mhlen, size_t size) {
  (void)arg;
  (void)mh;
  (void)mhlen;
  (void)size;
  nremoved++;
}

static void test_gc_marks_and_sweeps(void) {
  tmpdir_make(dir, sizeof dir);
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  wr_cid a = leaf("a"), b = leaf("b"), c = leaf("c"), g1 = leaf("garbage 1");
  wr_cid g2 = leaf("garbage 2"), g3 = leaf("garbage 3"), d = leaf("direct only");
  wr_cid shared = node((wr_cid[]){a, b}, 2, "shared");
  wr_cid root1 = node((wr_cid[]){shared, c}, 2, "root1");
  wr_cid root2 = node((wr_cid[]){shared}, 1, "root2"); /* unpinned parent of shared */
  wr_cid dnode = node((wr_cid[]){g3}, 1, "direct node"); /* direct: g3 not kept */
  pin(&root1, WR_PIN_RECURSIVE);
  pin(&d, WR_PIN_DIRECT);
  pin(&dnode, WR_PIN_DIRECT);
  size_t root2_size = 0;
  wr_bs_txn *rt;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &rt), 0);
  CHECK_EQ(wr_bs_txn_size_cid(rt, &root2, &root2_size), 0);
  wr_bs_txn_abort(rt);
  CHECK(root2_size > 0);
  wr_gc_stats st;
  nremoved = 0;
  CHECK_EQ(wr_gc_run(bs, on_removed, NULL, &st, NULL), 0);
  CHECK_EQ(st.removed_blocks, 4); /* g1 g2 g3 root2 */
  CHECK_EQ(nremoved, 4);
  CHECK_EQ(st.removed_bytes, 9 + 9 + 9 + root2_size);
  CHECK_EQ(st.kept_blocks, 7); /* root1 shared a b c, d, dnode */
  CHECK_EQ(has(&g1), 0);
  CHECK_EQ(has(&g2), 0);
  CHECK_EQ(has(&g3), 0);
  CHECK_EQ(has(&root2), 0);
  CHECK_EQ(has(&root1), 1);
  CHECK_EQ(has(&shared), 1);
  CHECK_EQ(has(&a), 1);
  CHECK_EQ(has(&b), 1);
  CHECK_EQ(has(&c), 1);
  CHECK_EQ(has(&d), 1);
  CHECK_EQ(has(&dnode), 1);
  /* A second run frees nothing. */
  CHECK_EQ(wr_gc_run(bs, NULL, NULL, &st, NULL), 0);
  CHECK_EQ(st.removed_blocks, 0);
  /* Unpin everything: all goes. */
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_pin_rm_cid(t, &root1), 0);
  CHECK_EQ(wr_pin_rm_cid(t, &d), 0);
  CHECK_EQ(wr_pin_rm_cid(t, &dnode), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  CHECK_EQ(wr_gc_run(bs, NULL, NULL, &st, NULL), 0);
  CHECK_EQ(st.removed_blocks, 7);
  CHECK_EQ(st.kept_blocks, 0);
  wr_bs_close(bs);
  tmpdir_remove(dir);
}

static void test_gc_stops_on_missing_or_corrupt(void) {
  tmpdir_make(dir, sizeof dir);
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  wr_cid a = leaf("a"), g = leaf("garbage");
  wr_cid mid = node((wr_cid[]){a}, 1, "mid");
  wr_cid root = node((wr_cid[]){mid}, 1, "root");
  pin(&root, WR_PIN_RECURSIVE);
  /* Remove the middle node behind GC's back: its child cannot be reached. */
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_rm_cid(t, &mid), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  wr_gc_fault f;
  wr_gc_stats st = {0};
  CHECK_EQ(wr_gc_run(bs, NULL, NULL, &st, &f), WR_ERR_NOTFOUND);
  CHECK(wr_cid_equal(&f.root, &root));
  CHECK(wr_cid_equal(&f.block, &mid));
  CHECK_EQ(has(&g), 1); /* nothing removed */
  CHECK_EQ(has(&a), 1);
  /* Put mid back with wrong bytes: corrupt. */
  uint8_t key[WR_MH_MAX_BYTES];
  int klen = wr_bs_key(&mid, key);
  CHECK(klen > 0);
  CHECK_EQ(wr_bs_put(bs, key, (size_t)klen, "rotten", 6), 0);
  wr_log_set_level(WR_LOG_ERROR + 1);
  CHECK_EQ(wr_gc_run(bs, NULL, NULL, &st, &f), WR_ERR_CORRUPT);
  wr_log_set_level(WR_LOG_INFO);
  CHECK(wr_cid_equal(&f.block, &mid));
  CHECK_EQ(has(&g), 1);
  wr_bs_close(bs);
  tmpdir_remove(dir);
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
  tmpdir_make(dir, sizeof dir);
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  wr_cid a = leaf("a"), b = leaf("b");
  wr_cid x = node((wr_cid[]){a, b}, 2, "x");
  wr_cid root = node((wr_cid[]){x, b, x, a}, 4, "root");
  wr_buf got, want;
  wr_buf_init(&got, 1 << 16);
  wr_buf_init(&want, 1 << 16);
  const wr_cid *order[] = {&root, &x, &a, &b};
  for (size_t i = 0; i < 4; i++) {
    char s[WR_CID_MAX_STR];
    CHECK(wr_cid_format(order[i], 0, s, sizeof s) > 0);
    CHECK_EQ(wr_buf_printf(&want, "%s\n", s), 0);
  }
  wr_bs_txn *t;
  wr_bs_blocks src;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &root, NULL, 0, order_cb, &got, NULL), 0);
  CHECK_EQ(got.len, want.len);
  CHECK_MEMEQ(got.data, want.data, want.len);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &root, NULL, 0, NULL, NULL, NULL), 0); /* no visitor: a check only */
  wr_bs_txn_abort(t);
  /* A git-raw block (codec 0x78) cannot be followed unless the caller says so. */
  wr_cid json;
  CHECK_EQ(wr_cid_sum(&json, 1, 0x78, "{}", 2), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &json, "{}", 2), 0);
  wr_cid bad;
  got.len = 0;
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &json, NULL, 0, order_cb, &got, &bad), WR_ERR_UNSUPPORTED);
  CHECK(wr_cid_equal(&bad, &json));
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &json, NULL, WR_DAG_OPAQUE_OK, order_cb, &got, &bad), 0);
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
  want.len = 0;
  const wr_cid *corder[] = {&cb, &a, &x, &b};
  for (size_t i = 0; i < 4; i++) {
    char s[WR_CID_MAX_STR];
    CHECK(wr_cid_format(corder[i], 0, s, sizeof s) > 0);
    CHECK_EQ(wr_buf_printf(&want, "%s\n", s), 0);
  }
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
  char jss[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&js, 0, jss, sizeof jss) > 0);
  char as[WR_CID_MAX_STR], bs2[WR_CID_MAX_STR], wantj[1024];
  CHECK(wr_cid_format(&a, 0, as, sizeof as) > 0);
  CHECK(wr_cid_format(&b, 0, bs2, sizeof bs2) > 0);
  int wn = snprintf(wantj, sizeof wantj, "%s\n%s\n%s\n%s\n", jss, xs, as, bs2);
  CHECK_EQ(got.len, (size_t)wn);
  CHECK_MEMEQ(got.data, wantj, (size_t)wn);
  /* A malformed dag-cbor block stops the walk, naming it. */
  wr_cid broken;
  CHECK_EQ(wr_cid_sum(&broken, 1, WR_CODEC_DAG_CBOR, "\x9f\x01\xff", 3), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &broken, "\x9f\x01\xff", 3), 0);
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, t), &broken, NULL, 0, order_cb, &got, &bad), WR_ERR_MALFORMED);
  CHECK(wr_cid_equal(&bad, &broken));
  wr_bs_txn_abort(t);
  wr_buf_free(&got);
  wr_buf_free(&want);
  wr_bs_close(bs);
  tmpdir_remove(dir);
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

int main(void) {
  RUN(test_gc_marks_and_sweeps);
  RUN(test_gc_stops_on_missing_or_corrupt);
  RUN(test_walk_order_dedup);
  RUN(test_set_grows);
  return test_done();
}
