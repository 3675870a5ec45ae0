#include "store/pin.h"

#include "base/log.h"
#include "store/bs_internal.h"

static int check(const uint8_t *cid, size_t cidlen) {
  return cidlen == 0 || cidlen > WR_PIN_MAX_CID || !cid ? WR_ERR_INVAL : 0;
}

static int decode(const MDB_val *v, wr_pin_type *ptype) {
  if (v->mv_size < 1)
    return WR_ERR_CORRUPT;
  char c = ((const char *)v->mv_data)[0];
  if (c == 'R')
    *ptype = WR_PIN_RECURSIVE;
  else if (c == 'D')
    *ptype = WR_PIN_DIRECT;
  else
    return WR_ERR_CORRUPT;
  return 0;
}

int wr_pin_get(wr_bs_txn *txn, const uint8_t *cid, size_t cidlen, wr_pin_type *ptype) {
  if (check(cid, cidlen) != 0)
    return WR_ERR_INVAL;
  MDB_val k = {cidlen, (void *)cid}, v;
  int rc = mdb_get(txn->txn, txn->bs->pins, &k, &v);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "pin_get");
  return decode(&v, ptype);
}

int wr_pin_put(wr_bs_txn *txn, const uint8_t *cid, size_t cidlen, wr_pin_type type) {
  if (txn->mode != WR_BS_WRITE || check(cid, cidlen) != 0 ||
      (type != WR_PIN_DIRECT && type != WR_PIN_RECURSIVE))
    return WR_ERR_INVAL;
  wr_pin_type cur;
  int rc = wr_pin_get(txn, cid, cidlen, &cur);
  if (rc == 0 && cur == WR_PIN_RECURSIVE && type == WR_PIN_DIRECT)
    return WR_ERR_EXISTS;
  if (rc == 0 && cur == type)
    return 0;
  if (rc != 0 && rc != WR_ERR_NOTFOUND && rc != WR_ERR_CORRUPT)
    return rc;
  MDB_val k = {cidlen, (void *)cid}, v = {1, (void *)(type == WR_PIN_RECURSIVE ? "R" : "D")};
  return wr_bs_lmdb_err(mdb_put(txn->txn, txn->bs->pins, &k, &v, 0), "pin_put");
}

int wr_pin_rm(wr_bs_txn *txn, const uint8_t *cid, size_t cidlen) {
  if (txn->mode != WR_BS_WRITE || check(cid, cidlen) != 0)
    return WR_ERR_INVAL;
  MDB_val k = {cidlen, (void *)cid};
  return wr_bs_lmdb_err(mdb_del(txn->txn, txn->bs->pins, &k, NULL), "pin_del");
}

int wr_pin_iter(wr_bs_txn *txn, wr_pin_iter_fn fn, void *arg) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, txn->bs->pins, &cur);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "cursor_open");
  MDB_val k, v;
  int ret = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    wr_pin_type type;
    if ((ret = decode(&v, &type)) != 0) {
      WR_ERROR("A pin record is damaged", "keylen=%zu", k.mv_size);
      break;
    }
    if ((ret = fn(arg, k.mv_data, k.mv_size, type)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  if (ret != 0)
    return ret;
  return rc == MDB_NOTFOUND ? 0 : wr_bs_lmdb_err(rc, "cursor_get");
}

const char *wr_pin_type_name(wr_pin_type type) {
  return type == WR_PIN_RECURSIVE ? "recursive" : type == WR_PIN_DIRECT ? "direct" : "unknown";
}

int wr_pin_put_cid(wr_bs_txn *txn, const wr_cid *cid, wr_pin_type type) {
  uint8_t k[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(cid, k, sizeof k);
  return n <= 0 ? WR_ERR_INVAL : wr_pin_put(txn, k, (size_t)n, type);
}

int wr_pin_get_cid(wr_bs_txn *txn, const wr_cid *cid, wr_pin_type *ptype) {
  uint8_t k[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(cid, k, sizeof k);
  return n <= 0 ? WR_ERR_INVAL : wr_pin_get(txn, k, (size_t)n, ptype);
}

int wr_pin_rm_cid(wr_bs_txn *txn, const wr_cid *cid) {
  uint8_t k[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(cid, k, sizeof k);
  return n <= 0 ? WR_ERR_INVAL : wr_pin_rm(txn, k, (size_t)n);
}
