#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content/dagio.h"
#include "base/log.h"
#include "proto/ipld/dagpb.h"
#include "store/blockstore.h"
#include "store/pin.h"
#include "store_testutil.h"
#include "test.h"

static char dir[4096];
static wr_bs *bs;

static wr_cid put_raw(const char *text) { return store_put_raw(bs, text); }

static wr_cid put_node(const wr_cid *kids, size_t n) {
  return store_put_node(bs, 1, kids, n, "\x08\x01", 2);
}

/* Exports root from bs into a memory file; returns its bytes in *pbuf. */
static int export_to(const wr_cid *root, char **pbuf, size_t *plen, wr_dagio_error *err) {
  FILE *f = open_memstream(pbuf, plen);
  int rc = wr_dagio_export(bs, root, f, err);
  fclose(f);
  return rc;
}

/* Imports n bytes (written to a temp file first) into the store `into`. */
static int import_bytes(wr_bs *into, const void *p, size_t n, int pin,
                        wr_dagio_import_result *res, wr_dagio_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/in.car", dir);
  FILE *f = fopen(path, "wb");
  fwrite(p, 1, n, f);
  fclose(f);
  FILE *r = fopen(path, "rb");
  int rc = wr_dagio_import(into, fileno(r), "in.car", pin, res, err);
  fclose(r);
  return rc;
}

static void test_round_trip_and_bad_input(void) {
  tmpdir_make(dir, sizeof dir);
  char sub[4200], sub2[4200];
  snprintf(sub, sizeof sub, "%s/a", dir);
  snprintf(sub2, sizeof sub2, "%s/b", dir);
  CHECK_EQ(mkdir(sub, 0755), 0);
  CHECK_EQ(mkdir(sub2, 0755), 0);
  CHECK_EQ(wr_bs_open(sub, &bs), 0);
  wr_cid a = put_raw("alpha"), b = put_raw("beta");
  wr_cid mid = put_node((wr_cid[]){a, b}, 2);
  wr_cid root = put_node((wr_cid[]){mid, a}, 2);
  char *car = NULL;
  size_t carlen = 0;
  wr_dagio_error err;
  CHECK_EQ(export_to(&root, &car, &carlen, &err), 0);

  wr_bs *other;
  CHECK_EQ(wr_bs_open(sub2, &other), 0);
  static wr_dagio_import_result res;
  wr_bs_txn *t;
  wr_pin_type type;
  /* Truncations at every length: an error, never a pin. */
  for (size_t k = 0; k < carlen; k += 7) {
    int rc = import_bytes(other, car, k, 1, &res, &err);
    CHECK(rc == WR_ERR_TRUNCATED || rc == WR_ERR_MALFORMED);
    CHECK(strlen(err.msg) > 0);
    CHECK_EQ(wr_bs_txn_begin(other, WR_BS_READ, &t), 0);
    CHECK_EQ(wr_pin_get_cid(t, &root, &type), WR_ERR_NOTFOUND);
    wr_bs_txn_abort(t);
  }
  /* A flipped byte in the last block: a hash mismatch, no pin. */
  car[carlen - 1] ^= 1;
  CHECK_EQ(import_bytes(other, car, carlen, 1, &res, &err), WR_ERR_CORRUPT);
  CHECK(strstr(err.msg, "does not match its CID") != NULL);
  car[carlen - 1] ^= 1;
  /* The whole file: four blocks, root pinned, and it exports identically. */
  CHECK_EQ(import_bytes(other, car, carlen, 1, &res, &err), 0);
  CHECK_EQ(res.blocks, 4);
  CHECK_EQ(res.nroots, 1);
  CHECK_EQ(res.pin_err[0], 0);
  CHECK(wr_cid_equal(&res.roots[0], &root));
  CHECK_EQ(wr_bs_txn_begin(other, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_pin_get_cid(t, &root, &type), 0);
  CHECK_EQ(type, WR_PIN_RECURSIVE);
  wr_bs_txn_abort(t);
  wr_bs *save = bs;
  bs = other;
  char *car2 = NULL;
  size_t car2len = 0;
  CHECK_EQ(export_to(&root, &car2, &car2len, &err), 0);
  CHECK_EQ(car2len, carlen);
  CHECK(car2 && memcmp(car, car2, carlen) == 0);
  bs = save;
  free(car2);

  /* Export of a DAG with a hole names the missing block. */
  wr_bs_txn *w;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &w), 0);
  CHECK_EQ(wr_bs_txn_rm_cid(w, &b), 0);
  CHECK_EQ(wr_bs_txn_commit(w), 0);
  char *car3 = NULL;
  size_t car3len = 0;
  CHECK_EQ(export_to(&root, &car3, &car3len, &err), WR_ERR_NOTFOUND);
  CHECK(strstr(err.msg, "is not in the local store") != NULL);
  free(car3);
  /* Import of a CAR whose DAG lacks a block: imported, root not pinned. */
  wr_bs *third;
  char sub3[4200];
  snprintf(sub3, sizeof sub3, "%s/c", dir);
  CHECK_EQ(mkdir(sub3, 0755), 0);
  CHECK_EQ(wr_bs_open(sub3, &third), 0);
  wr_buf partial;
  wr_buf_init(&partial, 1 << 20);
  CHECK_EQ(wr_car_write_header(&partial, &root, 1), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  const wr_cid *have[] = {&root, &mid, &a};
  for (size_t i = 0; i < 3; i++) {
    const uint8_t *p;
    size_t n;
    CHECK_EQ(wr_bs_txn_get_cid(t, have[i], &p, &n), 0);
    CHECK_EQ(wr_car_write_block(&partial, have[i], p, n), 0);
  }
  wr_bs_txn_abort(t);
  CHECK_EQ(import_bytes(third, partial.data, partial.len, 1, &res, &err), 0);
  CHECK_EQ(res.blocks, 3);
  CHECK_EQ(res.pin_err[0], WR_ERR_NOTFOUND);
  CHECK(strstr(res.pin_msg[0], "is not in the local store") != NULL);
  CHECK_EQ(wr_bs_txn_begin(third, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_pin_get_cid(t, &root, &type), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_bs_txn_has_cid(t, &mid), 1);
  wr_bs_txn_abort(t);
  wr_buf_free(&partial);
  wr_bs_close(third);
  free(car);
  wr_bs_close(other);
  wr_bs_close(bs);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(test_round_trip_and_bad_input);
  return test_done();
}
