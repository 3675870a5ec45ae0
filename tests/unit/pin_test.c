#include <string.h>

#include "store/blockstore.h"
#include "store/pin.h"
#include "store_testutil.h"
#include "test.h"

static char dir[4096];
static wr_bs *bs;

static const uint8_t cid_a[] = {0x01, 0x70, 0x12, 0x20, 0xaa}; /* shapes only: */
static const uint8_t cid_b[] = {0x01, 0x55, 0x12, 0x20, 0xbb}; /* pins store bytes */

static int count_cb(void *arg, const uint8_t *cid, size_t cidlen, wr_pin_type type) {
  int *c = arg;
  c[0]++;
  if (cidlen == sizeof cid_a && memcmp(cid, cid_a, cidlen) == 0)
    c[1] = (int)type;
  if (cidlen == sizeof cid_b && memcmp(cid, cid_b, cidlen) == 0)
    c[2] = (int)type;
  return 0;
}

static int stop_cb(void *arg, const uint8_t *cid, size_t cidlen, wr_pin_type type) {
  (void)arg;
  (void)cid;
  (void)cidlen;
  (void)type;
  return 42;
}

static void test_pin_lifecycle(void) {
  tmpdir_make(dir, sizeof dir);
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  wr_bs_txn *t;
  wr_pin_type type;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_pin_get(t, cid_a, sizeof cid_a, &type), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_pin_put(t, cid_a, sizeof cid_a, WR_PIN_DIRECT), 0);
  CHECK_EQ(wr_pin_put(t, cid_b, sizeof cid_b, WR_PIN_RECURSIVE), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);

  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_pin_get(t, cid_a, sizeof cid_a, &type), 0);
  CHECK_EQ(type, WR_PIN_DIRECT);
  CHECK_EQ(wr_pin_put(t, cid_a, sizeof cid_a, WR_PIN_DIRECT), WR_ERR_INVAL); /* read txn */
  int c[3] = {0, 0, 0};
  CHECK_EQ(wr_pin_iter(t, count_cb, c), 0);
  CHECK_EQ(c[0], 2);
  CHECK_EQ(c[1], WR_PIN_DIRECT);
  CHECK_EQ(c[2], WR_PIN_RECURSIVE);
  CHECK_EQ(wr_pin_iter(t, stop_cb, NULL), 42);
  wr_bs_txn_abort(t);

  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  /* direct -> recursive upgrades; recursive -> direct is refused */
  CHECK_EQ(wr_pin_put(t, cid_a, sizeof cid_a, WR_PIN_RECURSIVE), 0);
  CHECK_EQ(wr_pin_put(t, cid_a, sizeof cid_a, WR_PIN_DIRECT), WR_ERR_EXISTS);
  CHECK_EQ(wr_pin_get(t, cid_a, sizeof cid_a, &type), 0);
  CHECK_EQ(type, WR_PIN_RECURSIVE);
  CHECK_EQ(wr_pin_rm(t, cid_b, sizeof cid_b), 0);
  CHECK_EQ(wr_pin_rm(t, cid_b, sizeof cid_b), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_pin_put(t, cid_a, 0, WR_PIN_DIRECT), WR_ERR_INVAL);
  CHECK_EQ(wr_pin_put(t, cid_a, sizeof cid_a, (wr_pin_type)7), WR_ERR_INVAL);
  wr_bs_txn_abort(t); /* nothing of that happened */

  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_pin_get(t, cid_a, sizeof cid_a, &type), 0);
  CHECK_EQ(type, WR_PIN_DIRECT);
  CHECK_EQ(wr_pin_get(t, cid_b, sizeof cid_b, &type), 0);
  wr_bs_txn_abort(t);
  CHECK_STREQ(wr_pin_type_name(WR_PIN_RECURSIVE), "recursive");
  CHECK_STREQ(wr_pin_type_name(WR_PIN_DIRECT), "direct");
  wr_bs_close(bs);
  /* Pins survive reopening. */
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_pin_get(t, cid_b, sizeof cid_b, &type), 0);
  CHECK_EQ(type, WR_PIN_RECURSIVE);
  wr_bs_txn_abort(t);
  wr_bs_close(bs);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(test_pin_lifecycle);
  return test_done();
}
