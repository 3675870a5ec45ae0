#include <string.h>

#include "base/log.h"
#include "store/blockstore.h"
#include "store/gc.h"
#include "store/pin.h"
#include "store_testutil.h"
#include "test.h"

static char dir[4096];
static wr_bs *bs;

static wr_cid leaf(const char *text) { return store_put_raw(bs, text); }

/* A dag-pb node linking to kids (and data text), as CIDv0. */
static wr_cid node(const wr_cid *kids, size_t n, const char *data) {
  return store_put_node(bs, 0, kids, n, data, strlen(data));
}

static void pin(const wr_cid *c, wr_pin_type type) {
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_pin_put_cid(t, c, type), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
}

static int has(const wr_cid *c) { return store_has(bs, c); }

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

int main(void) {
  RUN(test_gc_marks_and_sweeps);
  RUN(test_gc_stops_on_missing_or_corrupt);
  return test_done();
}
