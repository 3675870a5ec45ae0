/* provdb.c: provider records in LMDB. Key: keylen (1 byte), key, peer ID
 * bytes. Value: expiry (8 bytes, big-endian Unix ms), then the addresses. */
#include "store/provdb.h"

#include <string.h>

#include "store/bs_internal.h"

static int begin(wr_bs *bs, MDB_txn **ptxn) {
  int rc = mdb_txn_begin(bs->env, NULL, 0, ptxn);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "txn_begin");
  /* Write transactions are serialized, so opening the handle here is safe
   * from any thread; it stays valid after the commit. */
  if (!bs->has_providers) {
    if ((rc = mdb_dbi_open(*ptxn, "providers", MDB_CREATE, &bs->providers)) != 0) {
      mdb_txn_abort(*ptxn);
      return wr_bs_lmdb_err(rc, "dbi_open providers");
    }
    bs->has_providers = 1;
  }
  return 0;
}

int wr_provdb_put(wr_bs *bs, const wr_provdb_rec *recs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!recs[i].keylen || recs[i].keylen > WR_PROVDB_MAX_KEY || !recs[i].peerlen ||
        recs[i].peerlen > WR_PROVDB_MAX_PEER || recs[i].addrslen > WR_PROVDB_MAX_ADDRS)
      return WR_ERR_INVAL;
  MDB_txn *txn;
  int rc = begin(bs, &txn);
  if (rc != 0)
    return rc;
  uint8_t k[1 + WR_PROVDB_MAX_KEY + WR_PROVDB_MAX_PEER], v[8 + WR_PROVDB_MAX_ADDRS];
  for (size_t i = 0; i < n && rc == 0; i++) {
    const wr_provdb_rec *r = &recs[i];
    k[0] = (uint8_t)r->keylen;
    memcpy(k + 1, r->key, r->keylen);
    memcpy(k + 1 + r->keylen, r->peer, r->peerlen);
    for (int b = 0; b < 8; b++)
      v[b] = (uint8_t)(r->expires_unix_ms >> (56 - 8 * b));
    if (r->addrslen)
      memcpy(v + 8, r->addrs, r->addrslen);
    MDB_val key = {1 + r->keylen + r->peerlen, k}, val = {8 + r->addrslen, v};
    rc = mdb_put(txn, bs->providers, &key, &val, 0);
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "put provider");
  }
  return wr_bs_lmdb_err(mdb_txn_commit(txn), "commit providers");
}

int wr_provdb_load(wr_bs *bs, uint64_t now_unix_ms, wr_provdb_fn fn, void *arg, size_t *pexpired) {
  MDB_txn *txn;
  size_t expired = 0;
  int rc = begin(bs, &txn);
  if (rc != 0)
    return rc;
  MDB_cursor *cur;
  if ((rc = mdb_cursor_open(txn, bs->providers, &cur)) != 0) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "cursor providers");
  }
  MDB_val k, v;
  int stop = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *kp = k.mv_data, *vp = v.mv_data;
    uint64_t exp = 0;
    for (int b = 0; v.mv_size >= 8 && b < 8; b++)
      exp = exp << 8 | vp[b];
    /* A malformed entry (from a crash mid-format change) goes like an
     * expired one. */
    if (k.mv_size < 2 || kp[0] == 0 || (size_t)kp[0] + 1 >= k.mv_size || v.mv_size < 8 ||
        exp <= now_unix_ms) {
      if ((rc = mdb_cursor_del(cur, 0)) != 0)
        break;
      expired++;
      continue;
    }
    wr_provdb_rec r = {.key = kp + 1,
                       .keylen = kp[0],
                       .peer = kp + 1 + kp[0],
                       .peerlen = k.mv_size - 1 - kp[0],
                       .addrs = vp + 8,
                       .addrslen = v.mv_size - 8,
                       .expires_unix_ms = exp};
    if ((stop = fn(arg, &r)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND && !stop) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "walk providers");
  }
  if (pexpired)
    *pexpired = expired;
  rc = mdb_txn_commit(txn);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "commit providers");
  return stop;
}
