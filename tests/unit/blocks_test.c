/* blocks_test.c: the blocks seam (store/blocks) over the LMDB source: put
 * verifies unless trusted, get verifies, has and size, a read-only source,
 * and get's bytes living as long as the transaction. */
#include <string.h>

#include "store/blockstore.h"
#include "store_testutil.h"
#include "test.h"

STORE_TEST_FIXTURE

static const wr_blocks_ops read_only_ops = {"read-only", NULL, NULL, NULL};

static void test_put_verifies(void) {
  open_fresh();
  wr_bs_txn *t;
  wr_bs_blocks src;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  wr_blocks *b = wr_bs_blocks_init(&src, t);
  CHECK_STREQ(b->ops->name, "lmdb");
  wr_cid c;
  CHECK_EQ(wr_cid_sum(&c, 1, WR_CODEC_RAW, "right", 5), 0);
  /* Wrong bytes: refused, nothing stored. */
  CHECK_EQ(wr_blocks_put(b, &c, "wrong", 5, 0), WR_ERR_CORRUPT);
  CHECK_EQ(wr_blocks_has(b, &c), 0);
  /* A hash warren cannot compute: refused unless trusted. */
  wr_cid odd = c;
  odd.mh.code = 0xb220; /* blake2b-256 */
  CHECK_EQ(wr_blocks_put(b, &odd, "right", 5, 0), WR_ERR_UNSUPPORTED);
  CHECK_EQ(wr_blocks_put(b, &odd, "right", 5, WR_BLOCKS_TRUSTED), 0);
  /* Right bytes: stored; has, size and get agree. */
  CHECK_EQ(wr_blocks_put(b, &c, "right", 5, 0), 0);
  CHECK_EQ(wr_blocks_has(b, &c), 1);
  size_t n = 0;
  CHECK_EQ(wr_blocks_size(b, &c, &n), 0);
  CHECK_EQ(n, 5);
  const uint8_t *p = NULL;
  CHECK_EQ(wr_blocks_get(b, &c, &p, &n), 0);
  CHECK_EQ(n, 5);
  CHECK_MEMEQ(p, "right", 5);
  /* Trusted puts are not hashed: the lie is stored, and get catches it. */
  wr_cid liar;
  CHECK_EQ(wr_cid_sum(&liar, 1, WR_CODEC_RAW, "truth", 5), 0);
  CHECK_EQ(wr_blocks_put(b, &liar, "lies!", 5, WR_BLOCKS_TRUSTED), 0);
  CHECK_EQ(wr_blocks_has(b, &liar), 1);
  CHECK_EQ(wr_blocks_get(b, &liar, &p, &n), WR_ERR_CORRUPT);
  /* Identity CIDs hold their bytes: never stored, always there. */
  wr_cid id;
  CHECK_EQ(wr_cid_init(&id, 1, WR_CODEC_RAW, &(wr_mh){WR_MH_IDENTITY, 2, "hi"}), 0);
  CHECK_EQ(wr_blocks_put(b, &id, "hi", 2, 0), 0);
  CHECK_EQ(wr_blocks_get(b, &id, &p, &n), 0);
  CHECK_EQ(n, 2);
  CHECK_EQ(wr_blocks_put(b, &id, "ho", 2, 0), WR_ERR_CORRUPT);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  /* A read transaction's source refuses puts (the store's INVAL). */
  wr_cid other;
  CHECK_EQ(wr_cid_sum(&other, 1, WR_CODEC_RAW, "other", 5), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  b = wr_bs_blocks_init(&src, t);
  CHECK_EQ(wr_blocks_put(b, &other, "other", 5, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_blocks_get(b, &c, &p, &n), 0);
  CHECK_EQ(wr_blocks_has(b, &other), 0);
  CHECK_EQ(wr_blocks_size(b, &other, &n), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_blocks_get(b, &other, &p, &n), WR_ERR_NOTFOUND);
  wr_bs_txn_abort(t);
  /* A source without put is read-only: DENIED before any hashing. */
  wr_blocks ro = {&read_only_ops};
  CHECK_EQ(wr_blocks_put(&ro, &other, "other", 5, 0), WR_ERR_DENIED);
  close_fresh();
}

int main(void) {
  RUN(test_put_verifies);
  return test_done();
}
