/* dhtdb.c: DHT records and keys to provide in LMDB (see dhtdb.h). */
#include "store/dhtdb.h"

#include <string.h>

#include "base/mem.h"
#include "store/bs_internal.h"

/* A write transaction with the named database open (created on first use;
 * write transactions are serialized, so opening the handle here is safe from
 * any thread, and it stays valid after the commit). */
static int begin(wr_bs *bs, int records, MDB_txn **ptxn, MDB_dbi *pdbi) {
  int rc = mdb_txn_begin(bs->env, NULL, 0, ptxn);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "txn_begin");
  int *has = records ? &bs->has_records : &bs->has_reprovide;
  MDB_dbi *dbi = records ? &bs->records : &bs->reprovide;
  if (!*has) {
    if ((rc = mdb_dbi_open(*ptxn, records ? "records" : "reprovide", MDB_CREATE, dbi)) != 0) {
      mdb_txn_abort(*ptxn);
      return wr_bs_lmdb_err(rc, records ? "dbi_open records" : "dbi_open reprovide");
    }
    *has = 1;
  }
  *pdbi = *dbi;
  return 0;
}

static void put_be64(uint8_t *p, uint64_t v) {
  for (int b = 0; b < 8; b++)
    p[b] = (uint8_t)(v >> (56 - 8 * b));
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int b = 0; b < 8; b++)
    v = v << 8 | p[b];
  return v;
}

int wr_dhtdb_put(wr_bs *bs, const wr_dhtdb_rec *recs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!recs[i].keylen || recs[i].keylen > WR_DHTDB_MAX_KEY || recs[i].vallen > WR_DHTDB_MAX_VALUE)
      return WR_ERR_INVAL;
  uint8_t *v = wr_malloc(8 + WR_DHTDB_MAX_VALUE);
  if (!v)
    return WR_ERR_NOMEM;
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc = begin(bs, 1, &txn, &dbi);
  if (rc != 0) {
    wr_free(v);
    return rc;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    put_be64(v, recs[i].expires_unix_ms);
    if (recs[i].vallen)
      memcpy(v + 8, recs[i].val, recs[i].vallen);
    MDB_val key = {recs[i].keylen, (void *)recs[i].key}, val = {8 + recs[i].vallen, v};
    rc = mdb_put(txn, dbi, &key, &val, 0);
  }
  wr_free(v);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "put record");
  }
  return wr_bs_lmdb_err(mdb_txn_commit(txn), "commit records");
}

int wr_dhtdb_load(wr_bs *bs, uint64_t now_unix_ms, wr_dhtdb_rec_fn fn, void *arg,
                  size_t *pexpired) {
  MDB_txn *txn;
  MDB_dbi dbi;
  size_t expired = 0;
  int rc = begin(bs, 1, &txn, &dbi);
  if (rc != 0)
    return rc;
  MDB_cursor *cur;
  if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "cursor records");
  }
  MDB_val k, v;
  int stop = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    uint64_t exp = v.mv_size >= 8 ? get_be64(v.mv_data) : 0;
    /* A malformed entry goes like an expired one. */
    if (v.mv_size < 8 || v.mv_size > 8 + WR_DHTDB_MAX_VALUE || k.mv_size == 0 ||
        k.mv_size > WR_DHTDB_MAX_KEY || exp <= now_unix_ms) {
      if ((rc = mdb_cursor_del(cur, 0)) != 0)
        break;
      expired++;
      continue;
    }
    wr_dhtdb_rec r = {.key = k.mv_data,
                      .keylen = k.mv_size,
                      .val = (const uint8_t *)v.mv_data + 8,
                      .vallen = v.mv_size - 8,
                      .expires_unix_ms = exp};
    if ((stop = fn(arg, &r)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND && !stop) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "walk records");
  }
  if (pexpired)
    *pexpired = expired;
  rc = mdb_txn_commit(txn);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "commit records");
  return stop;
}

int wr_dhtdb_provide_add(wr_bs *bs, const uint8_t *const *keys, const size_t *lens, size_t n,
                         uint64_t now_unix_ms) {
  for (size_t i = 0; i < n; i++)
    if (!lens[i] || lens[i] > WR_DHTDB_MAX_PROVIDE_KEY)
      return WR_ERR_INVAL;
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc = begin(bs, 0, &txn, &dbi);
  if (rc != 0)
    return rc;
  uint8_t t[8];
  put_be64(t, now_unix_ms);
  for (size_t i = 0; i < n && (rc == 0 || rc == MDB_KEYEXIST); i++) {
    MDB_val key = {lens[i], (void *)keys[i]}, val = {8, t};
    rc = mdb_put(txn, dbi, &key, &val, MDB_NOOVERWRITE);
  }
  if (rc != 0 && rc != MDB_KEYEXIST) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "put key to provide");
  }
  return wr_bs_lmdb_err(mdb_txn_commit(txn), "commit keys to provide");
}

int wr_dhtdb_provide_rm(wr_bs *bs, const uint8_t *key, size_t len) {
  if (!len || len > WR_DHTDB_MAX_PROVIDE_KEY)
    return 0;
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc = begin(bs, 0, &txn, &dbi);
  if (rc != 0)
    return rc;
  MDB_val k = {len, (void *)key};
  rc = mdb_del(txn, dbi, &k, NULL);
  if (rc != 0 && rc != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "delete key to provide");
  }
  return wr_bs_lmdb_err(mdb_txn_commit(txn), "commit keys to provide");
}

int wr_dhtdb_provide_load(wr_bs *bs, wr_dhtdb_key_fn fn, void *arg) {
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc = begin(bs, 0, &txn, &dbi);
  if (rc != 0)
    return rc;
  MDB_cursor *cur;
  if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "cursor keys to provide");
  }
  MDB_val k, v;
  int stop = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size == 0 || k.mv_size > WR_DHTDB_MAX_PROVIDE_KEY)
      continue;
    if ((stop = fn(arg, k.mv_data, k.mv_size, v.mv_size == 8 ? get_be64(v.mv_data) : 0)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  /* Read only: nothing to commit, but the transaction was a writer (begin
   * may have created the database). */
  if (rc != 0 && rc != MDB_NOTFOUND && !stop) {
    mdb_txn_abort(txn);
    return wr_bs_lmdb_err(rc, "walk keys to provide");
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "commit keys to provide");
  return stop;
}
