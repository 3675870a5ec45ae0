/* pinning_test.c: content/pinning — pin add checks the DAG before pinning
 * (and writes nothing when it is not whole), direct and recursive pins,
 * unpinning, listing by kind, and finding how a CID is pinned, with the
 * exact errors and the block at fault. */
#include <string.h>

#include "content/pinning.h"
#include "store/blockstore.h"
#include "store_testutil.h"
#include "test.h"

STORE_TEST_FIXTURE

static wr_cid node(const wr_cid *kids, size_t n, const char *data) {
  return store_put_node(bs, 1, kids, n, data, strlen(data));
}

static int pin_of(const wr_cid *cid) { return store_pin_of(bs, cid); }

static void test_add_checks_the_dag(void) {
  open_fresh();
  wr_cid a = store_put_raw(bs, "a"), gone;
  CHECK_EQ(wr_cid_sum(&gone, 1, WR_CODEC_RAW, "gone", 4), 0);
  wr_cid holey = node((wr_cid[]){a, gone}, 2, "holey");
  wr_pinning_fault f;
  /* A hole: NOTFOUND naming the missing block, and no pin written. */
  CHECK_EQ(wr_pinning_add(bs, &holey, WR_PIN_RECURSIVE, &f), WR_ERR_NOTFOUND);
  CHECK_EQ(f.walk, 1);
  CHECK(wr_cid_equal(&f.block, &gone));
  CHECK_EQ(pin_of(&holey), 0);
  /* A direct pin needs only the block itself. */
  CHECK_EQ(wr_pinning_add(bs, &holey, WR_PIN_DIRECT, &f), 0);
  CHECK_EQ(pin_of(&holey), WR_PIN_DIRECT);
  /* A missing root, even directly. */
  CHECK_EQ(wr_pinning_add(bs, &gone, WR_PIN_DIRECT, &f), WR_ERR_NOTFOUND);
  CHECK(wr_cid_equal(&f.block, &gone));
  /* A codec whose links warren cannot read: recursive refused, direct fine. */
  wr_cid git = store_put_block(bs, 1, 0x78 /* git-raw */, "blob", 4);
  CHECK_EQ(wr_pinning_add(bs, &git, WR_PIN_RECURSIVE, &f), WR_ERR_UNSUPPORTED);
  CHECK_EQ(f.walk, 1);
  CHECK(wr_cid_equal(&f.block, &git));
  CHECK_EQ(wr_pinning_add(bs, &git, WR_PIN_DIRECT, NULL), 0);
  /* Whole DAG: pinned; a direct pin over it is refused with EXISTS, not a
   * walk error; a recursive pin replaces a direct one. */
  wr_cid whole = node((wr_cid[]){a}, 1, "whole");
  CHECK_EQ(wr_pinning_add(bs, &whole, WR_PIN_RECURSIVE, &f), 0);
  CHECK_EQ(pin_of(&whole), WR_PIN_RECURSIVE);
  CHECK_EQ(wr_pinning_add(bs, &whole, WR_PIN_DIRECT, &f), WR_ERR_EXISTS);
  CHECK_EQ(f.walk, 0);
  CHECK_EQ(pin_of(&whole), WR_PIN_RECURSIVE);
  CHECK_EQ(wr_pinning_add(bs, &a, WR_PIN_DIRECT, &f), 0);
  CHECK_EQ(wr_pinning_add(bs, &a, WR_PIN_RECURSIVE, &f), 0);
  CHECK_EQ(pin_of(&a), WR_PIN_RECURSIVE);
  /* A corrupted block in the DAG: CORRUPT naming it. */
  wr_cid liar;
  CHECK_EQ(wr_cid_sum(&liar, 1, WR_CODEC_RAW, "truth", 5), 0);
  uint8_t key[WR_MH_MAX_BYTES];
  int klen = wr_bs_key(&liar, key);
  CHECK(klen > 0);
  CHECK_EQ(wr_bs_put(bs, key, (size_t)klen, "lies!", 5), 0);
  wr_cid over_liar = node((wr_cid[]){liar}, 1, "over");
  /* Raw leaves are only checked for presence when pinning, so the lie
   * passes there (as GC's mark); reading it is what catches it. */
  CHECK_EQ(wr_pinning_add(bs, &over_liar, WR_PIN_RECURSIVE, &f), 0);
  wr_cid pb_liar;
  CHECK_EQ(wr_cid_sum(&pb_liar, 1, WR_CODEC_DAG_PB, "\x0a\x00", 2), 0);
  klen = wr_bs_key(&pb_liar, key);
  CHECK_EQ(wr_bs_put(bs, key, (size_t)klen, "\x0a\x01", 2), 0);
  wr_cid over_pb = node((wr_cid[]){pb_liar}, 1, "over-pb");
  CHECK_EQ(wr_pinning_add(bs, &over_pb, WR_PIN_RECURSIVE, &f), WR_ERR_CORRUPT);
  CHECK(wr_cid_equal(&f.block, &pb_liar));
  CHECK_EQ(pin_of(&over_pb), 0);
  close_fresh();
}

static void test_rm(void) {
  open_fresh();
  wr_cid a = store_put_raw(bs, "a");
  wr_cid root = node((wr_cid[]){a}, 1, "root");
  CHECK_EQ(wr_pinning_add(bs, &root, WR_PIN_RECURSIVE, NULL), 0);
  /* Indirectly pinned, or never pinned: NOTFOUND. */
  CHECK_EQ(wr_pinning_rm(bs, &a), WR_ERR_NOTFOUND);
  /* Another CID version of the pinned root is not the pin. */
  wr_cid v0;
  CHECK_EQ(wr_cid_to_v0(&root, &v0), 0);
  CHECK_EQ(wr_pinning_rm(bs, &v0), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_pinning_rm(bs, &root), 0);
  CHECK_EQ(pin_of(&root), 0);
  CHECK_EQ(wr_pinning_rm(bs, &root), WR_ERR_NOTFOUND);
  close_fresh();
}

/* Records what a listing reports, as "<kind>:<index of the CID in cids>". */
typedef struct seen {
  const wr_cid *cids;
  size_t ncids;
  char log[256];
  int stop_at; /* stop with 9 at this call (1-based), or 0 */
  int calls;
} seen;

static int record(void *arg, const wr_cid *cid, int kind) {
  seen *s = arg;
  size_t i = 0;
  while (i < s->ncids && !wr_cid_equal(&s->cids[i], cid))
    i++;
  size_t n = strlen(s->log);
  snprintf(s->log + n, sizeof s->log - n, "%s%c%zu", n ? " " : "",
           kind == WR_PIN_DIRECT      ? 'D'
           : kind == WR_PIN_RECURSIVE ? 'R'
                                      : 'I',
           i);
  return ++s->calls == s->stop_at ? 9 : 0;
}

static void test_list_and_find(void) {
  open_fresh();
  /* r1 -> {x -> {a, b}, b}; r2 -> {x} (a recursive pin under another); d direct. */
  wr_cid a = store_put_raw(bs, "a"), b = store_put_raw(bs, "b");
  wr_cid x = node((wr_cid[]){a, b}, 2, "x");
  wr_cid r1 = node((wr_cid[]){x, b}, 2, "r1");
  wr_cid r2 = node((wr_cid[]){x}, 1, "r2");
  wr_cid d = store_put_raw(bs, "d");
  CHECK_EQ(wr_pinning_add(bs, &r1, WR_PIN_RECURSIVE, NULL), 0);
  CHECK_EQ(wr_pinning_add(bs, &x, WR_PIN_RECURSIVE, NULL), 0);
  CHECK_EQ(wr_pinning_add(bs, &r2, WR_PIN_RECURSIVE, NULL), 0);
  CHECK_EQ(wr_pinning_add(bs, &d, WR_PIN_DIRECT, NULL), 0);
  const wr_cid all[] = {a, b, x, r1, r2, d};
  /* Direct and recursive pins alone. */
  seen s = {all, 6, "", 0, 0};
  wr_pinning_fault f;
  CHECK_EQ(wr_pinning_list(bs, WR_PINNING_SHOW_DIRECT, record, &s, &f), 0);
  CHECK_STREQ(s.log, "D5");
  memset(s.log, 0, sizeof s.log);
  CHECK_EQ(wr_pinning_list(bs, WR_PINNING_SHOW_INDIRECT, record, &s, &f), 0);
  /* a and b once each, never x (a recursive root itself). */
  CHECK(strcmp(s.log, "I0 I1") == 0 || strcmp(s.log, "I1 I0") == 0);
  memset(s.log, 0, sizeof s.log);
  CHECK_EQ(wr_pinning_list(bs, WR_PINNING_SHOW_ALL, record, &s, &f), 0);
  CHECK_EQ(strlen(s.log), strlen("R2 R3 R4 D5 I0 I1"));
  CHECK(strstr(s.log, "R3") && strstr(s.log, "R4") && strstr(s.log, "R2") && strstr(s.log, "D5") &&
        strstr(s.log, "I0") && strstr(s.log, "I1"));
  /* The visitor's value stops the listing. */
  seen stop = {all, 6, "", 2, 0};
  CHECK_EQ(wr_pinning_list(bs, WR_PINNING_SHOW_ALL, record, &stop, &f), 9);
  CHECK_EQ(stop.calls, 2);
  /* find: direct and recursive pins by exact CID, indirect through a root,
   * a v0 CID of an indirect block counts, others are not pinned. */
  int kind;
  wr_cid root;
  CHECK_EQ(wr_pinning_find(bs, &d, &kind, &root, &f), 0);
  CHECK_EQ(kind, WR_PIN_DIRECT);
  CHECK_EQ(wr_pinning_find(bs, &x, &kind, &root, &f), 0);
  CHECK_EQ(kind, WR_PIN_RECURSIVE);
  CHECK_EQ(wr_pinning_find(bs, &a, &kind, &root, &f), 0);
  CHECK_EQ(kind, WR_PINNING_INDIRECT);
  CHECK(wr_cid_equal(&root, &r1) || wr_cid_equal(&root, &r2) || wr_cid_equal(&root, &x));
  wr_cid r1v0;
  CHECK_EQ(wr_cid_to_v0(&r1, &r1v0), 0);
  CHECK_EQ(wr_pinning_find(bs, &r1v0, &kind, NULL, &f), 0);
  CHECK_EQ(kind, 0); /* a recursive root is never indirect, in any version */
  wr_cid other;
  CHECK_EQ(wr_cid_sum(&other, 1, WR_CODEC_RAW, "other", 5), 0);
  CHECK_EQ(wr_pinning_find(bs, &other, &kind, NULL, &f), 0);
  CHECK_EQ(kind, 0);
  /* A pinned DAG that lost a block: listing indirect pins fails, naming the
   * pin and the block. */
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_rm_cid(t, &x), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  memset(s.log, 0, sizeof s.log);
  CHECK_EQ(wr_pinning_list(bs, WR_PINNING_SHOW_INDIRECT, record, &s, &f), WR_ERR_NOTFOUND);
  CHECK_EQ(f.walk, 1);
  CHECK(wr_cid_equal(&f.block, &x));
  CHECK(wr_cid_equal(&f.root, &r1) || wr_cid_equal(&f.root, &r2) || wr_cid_equal(&f.root, &x));
  CHECK_EQ(wr_pinning_find(bs, &other, &kind, NULL, &f), WR_ERR_NOTFOUND);
  CHECK_EQ(f.walk, 1);
  /* Direct and recursive pins still list: no walk needed. */
  memset(s.log, 0, sizeof s.log);
  CHECK_EQ(wr_pinning_list(bs, WR_PINNING_SHOW_DIRECT | WR_PINNING_SHOW_RECURSIVE, record, &s, &f),
           0);
  CHECK_EQ(strlen(s.log), strlen("R2 R3 R4 D5"));
  close_fresh();
}

int main(void) {
  RUN(test_add_checks_the_dag);
  RUN(test_rm);
  RUN(test_list_and_find);
  return test_done();
}
