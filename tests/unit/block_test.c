/* block_test.c: content/block — checking and hashing a block for its codec,
 * put with and without a pin (in the same commit; a dag-pb pin needs its
 * links), and rm refusing blocks a pin needs, with the exact errors. */
#include <string.h>

#include "content/block.h"
#include "store/blockstore.h"
#include "store_testutil.h"
#include "test.h"

STORE_TEST_FIXTURE

static int pin_of(const wr_cid *cid) { return store_pin_of(bs, cid); }

static int has(const wr_cid *cid) { return store_has(bs, cid); }

/* A dag-pb node linking to kids, in a buffer the caller frees. */
static void pb_node(wr_buf *b, const wr_cid *kids, size_t n) {
  wr_buf_init(b, 4096);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(wr_dagpb_put_link(b, &kids[i], "k", 1, NULL), 0);
  CHECK_EQ(wr_dagpb_put_data(b, "\x08\x01", 2), 0);
}

static void test_check(void) {
  wr_cid c, want;
  const char *why = NULL;
  CHECK_EQ(wr_block_check(WR_CODEC_RAW, "hello world\n", 12, &c, &why), 0);
  CHECK_EQ(
      wr_cid_parse_str("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", &want, NULL),
      0);
  CHECK(wr_cid_equal(&c, &want));
  CHECK_EQ(wr_block_check(WR_CODEC_RAW, "", 0, &c, NULL), 0); /* empty is a block */
  CHECK_EQ(wr_block_check(WR_CODEC_DAG_PB, "\xff\xff", 2, &c, &why), WR_ERR_MALFORMED);
  CHECK(why != NULL);
  CHECK_EQ(wr_block_check(WR_CODEC_DAG_PB, "hello", 5, &c, NULL), WR_ERR_MALFORMED);
  CHECK_EQ(wr_block_check(WR_CODEC_DAG_PB, "", 0, &c, NULL), 0); /* the empty node */
  CHECK_EQ(c.codec, WR_CODEC_DAG_PB);
  CHECK_EQ(c.version, 1);
  CHECK_EQ(wr_block_check(WR_CODEC_DAG_CBOR, "\xa0", 1, &c, &why), WR_ERR_UNSUPPORTED);
}

static void test_put(void) {
  open_fresh();
  wr_cid raw, pb;
  wr_pinning_fault f;
  /* raw, unpinned, then pinned directly; putting twice is fine. */
  CHECK_EQ(wr_block_check(WR_CODEC_RAW, "leaf", 4, &raw, NULL), 0);
  CHECK_EQ(wr_block_put(bs, &raw, "leaf", 4, 0, &f), 0);
  CHECK_EQ(has(&raw), 1);
  CHECK_EQ(pin_of(&raw), 0);
  CHECK_EQ(wr_block_put(bs, &raw, "leaf", 4, 1, &f), 0);
  CHECK_EQ(pin_of(&raw), WR_PIN_DIRECT);
  /* dag-pb with --pin: recursive, and only when its links are here; on a
   * missing link nothing is stored at all. */
  wr_cid gone;
  CHECK_EQ(wr_cid_sum(&gone, 1, WR_CODEC_RAW, "gone", 4), 0);
  wr_buf b;
  pb_node(&b, (wr_cid[]){raw, gone}, 2);
  CHECK_EQ(wr_block_check(WR_CODEC_DAG_PB, b.data, b.len, &pb, NULL), 0);
  CHECK_EQ(wr_block_put(bs, &pb, b.data, b.len, 1, &f), WR_ERR_NOTFOUND);
  CHECK_EQ(f.walk, 1);
  CHECK(wr_cid_equal(&f.block, &gone));
  CHECK_EQ(has(&pb), 0);
  CHECK_EQ(pin_of(&pb), 0);
  /* Without --pin the same block stores (kubo does not check links). */
  CHECK_EQ(wr_block_put(bs, &pb, b.data, b.len, 0, &f), 0);
  CHECK_EQ(has(&pb), 1);
  wr_buf_free(&b);
  pb_node(&b, (wr_cid[]){raw}, 1);
  CHECK_EQ(wr_block_check(WR_CODEC_DAG_PB, b.data, b.len, &pb, NULL), 0);
  CHECK_EQ(wr_block_put(bs, &pb, b.data, b.len, 1, &f), 0);
  CHECK_EQ(pin_of(&pb), WR_PIN_RECURSIVE);
  /* raw --pin where a recursive pin of that CID exists leaves it. */
  CHECK_EQ(wr_pinning_add(bs, &raw, WR_PIN_RECURSIVE, NULL), 0);
  CHECK_EQ(wr_block_put(bs, &raw, "leaf", 4, 1, &f), 0);
  CHECK_EQ(pin_of(&raw), WR_PIN_RECURSIVE);
  wr_buf_free(&b);
  close_fresh();
}

static void test_rm(void) {
  open_fresh();
  wr_cid a = store_put_raw(bs, "a"), loose = store_put_raw(bs, "loose");
  wr_cid direct = store_put_raw(bs, "direct");
  wr_cid root = store_put_node(bs, 1, (wr_cid[]){a}, 1, "\x08\x01", 2);
  CHECK_EQ(wr_pinning_add(bs, &root, WR_PIN_RECURSIVE, NULL), 0);
  CHECK_EQ(wr_pinning_add(bs, &direct, WR_PIN_DIRECT, NULL), 0);
  wr_block_pinned p;
  /* Not there. */
  wr_cid absent;
  CHECK_EQ(wr_cid_sum(&absent, 1, WR_CODEC_RAW, "absent", 6), 0);
  CHECK_EQ(wr_block_rm(bs, &absent, &p), WR_ERR_NOTFOUND);
  /* A pin root, by any CID of its bytes. */
  wr_cid root_v0;
  CHECK_EQ(wr_cid_to_v0(&root, &root_v0), 0);
  CHECK_EQ(wr_block_rm(bs, &root_v0, &p), WR_ERR_DENIED);
  CHECK(wr_cid_equal(&p.root, &root));
  CHECK_EQ(p.self, 1);
  CHECK_EQ(p.type, WR_PIN_RECURSIVE);
  CHECK_EQ(p.err, 0);
  CHECK_EQ(wr_block_rm(bs, &direct, &p), WR_ERR_DENIED);
  CHECK_EQ(p.self, 1);
  CHECK_EQ(p.type, WR_PIN_DIRECT);
  /* Reached through a recursive pin; a CID of the leaf's bytes under another
   * codec names the same block. */
  CHECK_EQ(wr_block_rm(bs, &a, &p), WR_ERR_DENIED);
  CHECK(wr_cid_equal(&p.root, &root));
  CHECK_EQ(p.self, 0);
  wr_cid a_pb = a;
  a_pb.codec = WR_CODEC_DAG_PB;
  CHECK_EQ(wr_block_rm(bs, &a_pb, &p), WR_ERR_DENIED);
  CHECK(has(&a) == 1);
  /* A pinned DAG that cannot be walked might need any block: refused, with
   * the reason. */
  wr_cid git = store_put_block(bs, 1, 0x78 /* git-raw */, "tree", 4);
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_pin_put_cid(t, &git, WR_PIN_RECURSIVE), 0); /* as an older warren might */
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  CHECK_EQ(wr_block_rm(bs, &loose, &p), WR_ERR_DENIED);
  CHECK(wr_cid_equal(&p.root, &git));
  CHECK_EQ(p.err, WR_ERR_UNSUPPORTED);
  CHECK_EQ(has(&loose), 1);
  CHECK_EQ(wr_pinning_rm(bs, &git), 0);
  /* Unpinned: removed, once. */
  CHECK_EQ(wr_block_rm(bs, &loose, &p), 0);
  CHECK_EQ(has(&loose), 0);
  CHECK_EQ(wr_block_rm(bs, &loose, &p), WR_ERR_NOTFOUND);
  /* A pinned DAG missing blocks does not hold what it lacks. */
  CHECK_EQ(wr_pinning_rm(bs, &root), 0);
  CHECK_EQ(wr_block_rm(bs, &a, &p), 0);
  CHECK_EQ(wr_pinning_add(bs, &root, WR_PIN_DIRECT, NULL), 0);
  wr_cid b2 = store_put_raw(bs, "b2");
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_pin_rm_cid(t, &root), 0);
  CHECK_EQ(wr_pin_put_cid(t, &root, WR_PIN_RECURSIVE), 0); /* over a hole */
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  CHECK_EQ(wr_block_rm(bs, &b2, &p), 0);
  close_fresh();
}

int main(void) {
  RUN(test_check);
  RUN(test_put);
  RUN(test_rm);
  return test_done();
}
