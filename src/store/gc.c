#include "store/gc.h"

#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "store/bs_internal.h"
#include "store/dag.h"
#include "store/pin.h"

/* Removed keys wait here (length byte, key, 8-byte size) until the commit,
 * so a report never names a block whose removal did not happen. */
#define REMOVED_LIMIT ((size_t)1 << 34)

typedef struct mark_ctx {
  wr_blocks *blocks;
  wr_dag_set *marked;
  wr_gc_stats *stats;
  wr_gc_fault *fault;
} mark_ctx;

static int count_kept(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  (void)cid;
  (void)block;
  wr_gc_stats *st = arg;
  st->kept_blocks++;
  st->kept_bytes += len;
  return 0;
}

static int mark_pin(void *arg, const uint8_t *key, size_t keylen, wr_pin_type type) {
  mark_ctx *m = arg;
  wr_cid root, bad;
  if (wr_cid_from_bytes(key, keylen, &root, NULL) != 0) {
    WR_ERROR("A pin names an unreadable CID", "keylen=%zu", keylen);
    return WR_ERR_CORRUPT;
  }
  unsigned flags = WR_DAG_NO_RAW_READ;
  if (type == WR_PIN_DIRECT)
    flags |= WR_DAG_ROOT_ONLY | WR_DAG_OPAQUE_OK;
  int rc = wr_dag_walk(m->blocks, &root, m->marked, flags, count_kept, m->stats, &bad);
  if (rc != 0 && m->fault) {
    m->fault->root = root;
    m->fault->block = bad;
  }
  return rc;
}

int wr_gc_run(wr_bs *bs, wr_gc_removed_fn removed, void *arg, wr_gc_stats *pstats,
              wr_gc_fault *pfault) {
  wr_gc_stats stats = {0};
  wr_dag_set *marked = NULL;
  wr_bs_txn *txn = NULL;
  MDB_cursor *cur = NULL;
  wr_buf gone;
  wr_buf_init(&gone, REMOVED_LIMIT);
  int rc;
  if ((rc = wr_dag_set_new(&marked)) != 0)
    goto out;
  if ((rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &txn)) != 0)
    goto out;
  wr_bs_blocks src;
  mark_ctx m = {wr_bs_blocks_init(&src, txn), marked, &stats, pfault};
  if ((rc = wr_pin_iter(txn, mark_pin, &m)) != 0)
    goto out;

  if ((rc = mdb_cursor_open(txn->txn, bs->blocks, &cur)) != 0) {
    rc = wr_bs_lmdb_err(rc, "cursor_open");
    goto out;
  }
  MDB_val k, v;
  int mrc;
  for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
       mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (wr_dag_set_has(marked, k.mv_data, k.mv_size))
      continue;
    uint8_t len8 = (uint8_t)k.mv_size;
    uint64_t size = v.mv_size;
    if ((rc = wr_buf_append(&gone, &len8, 1)) != 0 ||
        (rc = wr_buf_append(&gone, k.mv_data, k.mv_size)) != 0 ||
        (rc = wr_buf_append(&gone, &size, sizeof size)) != 0)
      goto out;
    /* After mdb_cursor_del the cursor is flagged so that the next MDB_NEXT
     * yields the entry that moved under it, not the one after. */
    if ((mrc = mdb_cursor_del(cur, 0)) != 0)
      break;
    stats.removed_blocks++;
    stats.removed_bytes += size;
  }
  if (mrc != 0 && mrc != MDB_NOTFOUND) {
    rc = wr_bs_lmdb_err(mrc, "gc sweep");
    goto out;
  }
  mdb_cursor_close(cur);
  cur = NULL;
  rc = wr_bs_txn_commit(txn);
  txn = NULL;
  if (rc != 0)
    goto out;
  if (removed) {
    for (size_t off = 0; off < gone.len;) {
      size_t klen = gone.data[off];
      uint64_t size;
      memcpy(&size, gone.data + off + 1 + klen, sizeof size);
      removed(arg, gone.data + off + 1, klen, (size_t)size);
      off += 1 + klen + sizeof size;
    }
  }
  if (pstats)
    *pstats = stats;
out:
  if (cur)
    mdb_cursor_close(cur);
  wr_bs_txn_abort(txn);
  wr_dag_set_del(marked);
  wr_buf_free(&gone);
  return rc;
}
