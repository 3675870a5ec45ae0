#include "store/blockstore.h"

#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "proto/multiformats/multibase.h"
#include "proto/multiformats/varint.h"
#include "store/bs_internal.h"

/* 1 TiB of address space: LMDB maps the whole file, and without MDB_WRITEMAP
 * the map is only a reservation of virtual addresses (the file grows as data
 * is written), so a large figure costs nothing on a 64-bit machine and the
 * store never hits MDB_MAP_FULL in practice. */
#define MAP_SIZE (UINT64_C(1) << 40)

/* Why these flags:
 *
 * MDB_NOSYNC: commits do not fsync. Measured here, a 1 GiB write takes 0.8 s
 * buffered and 2.8 s with fdatasync (~380 MB/s), so syncing at every commit
 * would cap `warren add` far below its 800 MB/s goal.
 *
 * What stays safe: LMDB never overwrites live pages (copy on write) and writes
 * the meta page that makes a transaction visible after its data pages. When
 * only the process dies (kill -9, a crash, OOM), every write it already made
 * is in the kernel's page cache and reaches the disk later regardless of any
 * sync flag, so the store is exactly as of the last completed commit: no
 * half-written block, no pin without its blocks. The robust mutexes in
 * lock.mdb release a dead writer's lock. Sync flags only matter when the
 * machine itself goes down: then, per the LMDB manual, MDB_NOSYNC without
 * MDB_WRITEMAP keeps atomicity and consistency (if the file system keeps write
 * order) and loses only the last transactions' durability. wr_bs_sync forces
 * durability when a caller needs it. MDB_WRITEMAP is not used: with
 * MDB_NOSYNC it gives up that OS-crash consistency, and it would make the data
 * file as large as the map.
 *
 * MDB_NOTLS: read transactions are tied to the handle, not the thread, so an
 * importer or gateway may use them from worker threads. */
#define WR_BS_ENV_FLAGS (MDB_NOSYNC | MDB_NOTLS)

int wr_bs_lmdb_err(int rc, const char *what) {
  if (rc == 0)
    return 0;
  if (rc == MDB_NOTFOUND)
    return WR_ERR_NOTFOUND;
  wr_log(WR_LOG_ERROR, "Blockstore operation failed", "op=%s error=\"%s\"", what,
         mdb_strerror(rc));
  if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == MDB_DBS_FULL || rc == MDB_READERS_FULL)
    return WR_ERR_LIMIT;
  if (rc == ENOMEM)
    return WR_ERR_NOMEM;
  if (rc == EACCES || rc == EPERM || rc == EROFS)
    return WR_ERR_DENIED;
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
      rc == MDB_VERSION_MISMATCH)
    return WR_ERR_CORRUPT;
  return WR_ERR_IO;
}

/* A store whose "version" says something other than "1" (outside LMDB's
 * error range). */
#define WR_BS_UNKNOWN_FORMAT (-1)

/* Opens the three databases and checks the format version, in a read
 * transaction (create == 0: MDB_NOTFOUND when the store is new) or in a write
 * transaction that creates what is missing. Returns 0, an LMDB error or
 * WR_BS_UNKNOWN_FORMAT. */
static int open_dbis(wr_bs *bs, int create) {
  MDB_txn *txn;
  unsigned dflags = create ? MDB_CREATE : 0;
  int rc = mdb_txn_begin(bs->env, NULL, create ? 0 : MDB_RDONLY, &txn);
  if (rc != 0)
    return rc;
  if ((rc = mdb_dbi_open(txn, "blocks", dflags, &bs->blocks)) != 0 ||
      (rc = mdb_dbi_open(txn, "pins", dflags, &bs->pins)) != 0 ||
      (rc = mdb_dbi_open(txn, "meta", dflags, &bs->meta)) != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  MDB_val k = {7, (void *)"version"}, v = {1, (void *)"1"}, cur;
  rc = mdb_get(txn, bs->meta, &k, &cur);
  if (rc == MDB_NOTFOUND && create)
    rc = mdb_put(txn, bs->meta, &k, &v, 0);
  else if (rc == 0 && (cur.mv_size != 1 || ((const char *)cur.mv_data)[0] != '1'))
    rc = WR_BS_UNKNOWN_FORMAT;
  if (rc != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

int wr_bs_open(const char *dir, wr_bs **pbs) {
  int rc, err;
  wr_bs *bs = wr_calloc(1, sizeof *bs);
  if (!bs)
    return WR_ERR_NOMEM;
  if ((rc = mdb_env_create(&bs->env)) != 0) {
    wr_free(bs);
    return wr_bs_lmdb_err(rc, "env_create");
  }
  if ((rc = mdb_env_set_mapsize(bs->env, MAP_SIZE)) != 0 ||
      (rc = mdb_env_set_maxdbs(bs->env, 8)) != 0 ||
      (rc = mdb_env_set_maxreaders(bs->env, 254)) != 0)
    goto fail;
  if ((rc = mdb_env_open(bs->env, dir, WR_BS_ENV_FLAGS, 0644)) != 0) {
    wr_log(WR_LOG_ERROR, "Cannot open the blockstore", "path=%s error=\"%s\"", dir,
           mdb_strerror(rc));
    err = rc == ENOENT ? WR_ERR_NOTFOUND : rc == EACCES ? WR_ERR_DENIED : WR_ERR_IO;
    mdb_env_close(bs->env);
    wr_free(bs);
    return err;
  }
  /* A process killed while reading leaves its reader slot behind, which
   * would keep LMDB from reusing pages freed since; clear such slots. */
  int dead = 0;
  if (mdb_reader_check(bs->env, &dead) == 0 && dead > 0)
    WR_DEBUG("Cleared stale blockstore readers", "count=%d", dead);
  /* An existing store is opened in a read transaction, so a reader (cat,
   * ls, the gateway) never waits behind a writer holding LMDB's write lock
   * for a long import; only a new store takes the write path to create its
   * databases. Handles opened either way stay in the environment after the
   * commit. */
  rc = open_dbis(bs, 0);
  if (rc == MDB_NOTFOUND)
    rc = open_dbis(bs, 1);
  if (rc == WR_BS_UNKNOWN_FORMAT) {
    wr_log(WR_LOG_ERROR, "The blockstore has a format this warren does not know", "path=%s", dir);
    mdb_env_close(bs->env);
    wr_free(bs);
    return WR_ERR_UNSUPPORTED;
  }
  if (rc != 0)
    goto fail;
  *pbs = bs;
  return 0;
fail:
  err = wr_bs_lmdb_err(rc, "open");
  mdb_env_close(bs->env);
  wr_free(bs);
  return err;
}

void wr_bs_close(wr_bs *bs) {
  if (!bs)
    return;
  mdb_env_close(bs->env);
  wr_free(bs);
}

int wr_bs_sync(wr_bs *bs) { return wr_bs_lmdb_err(mdb_env_sync(bs->env, 1), "sync"); }

/* --- multihash ------------------------------------------------------------ */

int wr_bs_mh_split(const uint8_t *mh, size_t mhlen, uint64_t *pcode, const uint8_t **pdigest,
                   size_t *pdigestlen) {
  if (mhlen > WR_BS_MAX_KEY)
    return WR_ERR_MALFORMED;
  /* Not wr_mh_parse: a key is split in place (no copy of the digest) and any
   * digest length the key holds is accepted, as keys written before were. */
  wr_cursor c;
  uint64_t code, len;
  int rc;
  wr_cursor_init(&c, mh, mhlen);
  if ((rc = wr_varint_decode(&c, &code, NULL)) != 0 || (rc = wr_varint_decode(&c, &len, NULL)) != 0)
    return rc;
  size_t left = wr_cursor_left(&c);
  if (left < len)
    return WR_ERR_TRUNCATED;
  if (left != len)
    return WR_ERR_MALFORMED;
  *pcode = code;
  *pdigest = c.pos;
  *pdigestlen = (size_t)len;
  return 0;
}

void wr_bs_mh_sha256(uint8_t out[34], const void *data, size_t len) {
  wr_mh mh;
  wr_mh_sha256(&mh, data, len);
  out[0] = WR_MH_SHA2_256;
  out[1] = WR_SHA256_SIZE;
  memcpy(out + 2, mh.digest, WR_SHA256_SIZE);
}

int wr_bs_verify(const uint8_t *mh, size_t mhlen, const void *data, size_t len) {
  uint64_t code;
  const uint8_t *digest;
  size_t dlen;
  if (wr_bs_mh_split(mh, mhlen, &code, &digest, &dlen) != 0)
    return WR_ERR_MALFORMED;
  if (code == WR_MH_IDENTITY)
    return dlen == len && (len == 0 || memcmp(digest, data, len) == 0) ? 0 : WR_ERR_CORRUPT;
  wr_mh got;
  if (wr_mh_sum(&got, code, data, len) != 0 || got.size != dlen)
    return WR_ERR_UNSUPPORTED; /* unknown function, or a truncated digest */
  return memcmp(got.digest, digest, dlen) == 0 ? 0 : WR_ERR_CORRUPT;
}

void wr_bs_key_string(char *out, const uint8_t *mh, size_t mhlen) {
  /* "b" + base32-lower of 0x01 0x55 mh: the CIDv1 raw-codec form kubo prints
   * for a key when it does not know the block's codec. Built from the bytes,
   * not through wr_cid, so a key that is not a valid multihash still prints. */
  uint8_t bytes[2 + WR_BS_MAX_KEY];
  if (mhlen > WR_BS_MAX_KEY)
    mhlen = WR_BS_MAX_KEY;
  bytes[0] = 0x01;
  bytes[1] = WR_CODEC_RAW;
  memcpy(bytes + 2, mh, mhlen);
  if (wr_multibase_encode(WR_MB_BASE32, bytes, mhlen + 2, out, WR_BS_KEYSTR_MAX) < 0)
    out[0] = '\0'; /* cannot happen: WR_BS_KEYSTR_MAX fits the longest key */
}

/* --- transactions ----------------------------------------------------------- */

int wr_bs_txn_begin(wr_bs *bs, int mode, wr_bs_txn **ptxn) {
  wr_bs_txn *t = wr_calloc(1, sizeof *t);
  if (!t)
    return WR_ERR_NOMEM;
  t->bs = bs;
  t->mode = mode;
  int rc = mdb_txn_begin(bs->env, NULL, mode == WR_BS_WRITE ? 0 : MDB_RDONLY, &t->txn);
  if (rc != 0) {
    wr_free(t);
    return wr_bs_lmdb_err(rc, "txn_begin");
  }
  *ptxn = t;
  return 0;
}

int wr_bs_txn_commit(wr_bs_txn *txn) {
  if (!txn->txn) { /* a failed checkpoint already ended it */
    wr_free(txn);
    return WR_ERR_IO;
  }
  int rc = mdb_txn_commit(txn->txn);
  wr_free(txn);
  return wr_bs_lmdb_err(rc, "commit");
}

void wr_bs_txn_abort(wr_bs_txn *txn) {
  if (!txn)
    return;
  if (txn->txn)
    mdb_txn_abort(txn->txn);
  wr_free(txn);
}

int wr_bs_txn_checkpoint(wr_bs_txn *txn) {
  if (txn->mode != WR_BS_WRITE)
    return WR_ERR_INVAL;
  int rc = mdb_txn_commit(txn->txn);
  txn->txn = NULL;
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "commit");
  txn->dirty_bytes = 0;
  rc = mdb_txn_begin(txn->bs->env, NULL, 0, &txn->txn);
  if (rc != 0) {
    txn->txn = NULL;
    return wr_bs_lmdb_err(rc, "txn_begin");
  }
  return 0;
}

static int check_key(const uint8_t *mh, size_t mhlen) {
  (void)mh;
  return mhlen == 0 || mhlen > WR_BS_MAX_KEY ? WR_ERR_INVAL : 0;
}

static int is_identity(const uint8_t *mh, size_t mhlen) { return mhlen >= 1 && mh[0] == 0x00; }

int wr_bs_txn_put(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen, const void *data,
                  size_t len) {
  if (txn->mode != WR_BS_WRITE || !txn->txn || check_key(mh, mhlen) != 0)
    return WR_ERR_INVAL;
  if (len > WR_BS_MAX_BLOCK)
    return WR_ERR_LIMIT;
  if (is_identity(mh, mhlen))
    return 0;
  MDB_val k = {mhlen, (void *)mh}, v = {len, (void *)data};
  /* MDB_NOOVERWRITE: an existing block is left alone (same key, same bytes by
   * construction), which also spares rewriting its pages. */
  int rc = mdb_put(txn->txn, txn->bs->blocks, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST)
    return 0;
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "put");
  txn->dirty_bytes += len;
  if (txn->dirty_bytes >= WR_BS_CHECKPOINT_BYTES)
    return wr_bs_txn_checkpoint(txn);
  return 0;
}

static void log_corrupt(const uint8_t *mh, size_t mhlen) {
  char key[WR_BS_KEYSTR_MAX];
  wr_bs_key_string(key, mh, mhlen);
  wr_log(WR_LOG_ERROR, "Stored block is corrupted: its bytes do not match its hash", "block=%s",
         key);
}

int wr_bs_txn_get(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen, const uint8_t **pdata,
                  size_t *plen) {
  if (!txn->txn || check_key(mh, mhlen) != 0)
    return WR_ERR_INVAL;
  uint64_t code;
  const uint8_t *digest;
  size_t dlen;
  if (wr_bs_mh_split(mh, mhlen, &code, &digest, &dlen) != 0)
    return WR_ERR_INVAL;
  if (code == WR_MH_IDENTITY) {
    *pdata = digest;
    *plen = dlen;
    return 0;
  }
  MDB_val k = {mhlen, (void *)mh}, v;
  int rc = mdb_get(txn->txn, txn->bs->blocks, &k, &v);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "get");
  rc = wr_bs_verify(mh, mhlen, v.mv_data, v.mv_size);
  if (rc == WR_ERR_CORRUPT)
    log_corrupt(mh, mhlen);
  if (rc != 0)
    return rc;
  *pdata = v.mv_data;
  *plen = v.mv_size;
  return 0;
}

int wr_bs_txn_size(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen, size_t *plen) {
  if (!txn->txn || check_key(mh, mhlen) != 0)
    return WR_ERR_INVAL;
  if (is_identity(mh, mhlen)) {
    uint64_t code;
    const uint8_t *digest;
    if (wr_bs_mh_split(mh, mhlen, &code, &digest, plen) != 0)
      return WR_ERR_INVAL;
    return 0;
  }
  MDB_val k = {mhlen, (void *)mh}, v;
  int rc = mdb_get(txn->txn, txn->bs->blocks, &k, &v);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "get");
  *plen = v.mv_size;
  return 0;
}

int wr_bs_txn_has(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen) {
  size_t n;
  int rc = wr_bs_txn_size(txn, mh, mhlen, &n);
  if (rc == WR_ERR_NOTFOUND)
    return 0;
  return rc == 0 ? 1 : rc;
}

int wr_bs_txn_rm(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen) {
  if (txn->mode != WR_BS_WRITE || !txn->txn || check_key(mh, mhlen) != 0)
    return WR_ERR_INVAL;
  if (is_identity(mh, mhlen))
    return WR_ERR_NOTFOUND;
  MDB_val k = {mhlen, (void *)mh};
  return wr_bs_lmdb_err(mdb_del(txn->txn, txn->bs->blocks, &k, NULL), "del");
}

int wr_bs_txn_iter(wr_bs_txn *txn, wr_bs_iter_fn fn, void *arg) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, txn->bs->blocks, &cur);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "cursor_open");
  MDB_val k, v;
  int ret = 0;
  /* MDB_GET_CURRENT on an overflow value reads only its header page, so
   * walking keys and sizes never touches block bytes. */
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    ret = fn(arg, k.mv_data, k.mv_size, v.mv_size);
    if (ret != 0)
      break;
  }
  mdb_cursor_close(cur);
  if (ret != 0)
    return ret;
  return rc == MDB_NOTFOUND ? 0 : wr_bs_lmdb_err(rc, "cursor_get");
}

static int count_cb(void *arg, const uint8_t *mh, size_t mhlen, size_t size) {
  (void)mh;
  (void)mhlen;
  uint64_t *c = arg;
  c[0]++;
  c[1] += size;
  return 0;
}

int wr_bs_txn_count(wr_bs_txn *txn, uint64_t *pblocks, uint64_t *pbytes) {
  uint64_t c[2] = {0, 0};
  int rc = wr_bs_txn_iter(txn, count_cb, c);
  if (rc == 0) {
    *pblocks = c[0];
    *pbytes = c[1];
  }
  return rc;
}

int wr_bs_txn_verify_all(wr_bs_txn *txn, wr_bs_verify_fn fn, void *arg) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn->txn, txn->bs->blocks, &cur);
  if (rc != 0)
    return wr_bs_lmdb_err(rc, "cursor_open");
  MDB_val k, v;
  int ret = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    ret = fn(arg, k.mv_data, k.mv_size, v.mv_size,
             wr_bs_verify(k.mv_data, k.mv_size, v.mv_data, v.mv_size));
  mdb_cursor_close(cur);
  if (ret != 0)
    return ret;
  return rc == MDB_NOTFOUND ? 0 : wr_bs_lmdb_err(rc, "cursor_get");
}

/* Pages a database's tree takes (branch, leaf and overflow). */
static int tree_pages(MDB_txn *txn, MDB_dbi dbi, uint64_t *pages) {
  MDB_stat st;
  int rc = mdb_stat(txn, dbi, &st);
  if (rc == 0)
    *pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
  return rc;
}

int wr_bs_txn_space(wr_bs_txn *txn, wr_bs_space *sp) {
  MDB_envinfo info;
  MDB_stat env;
  int rc;
  /* dbi 0 is LMDB's free-page tree and dbi 1 the main tree that names the
   * others (mdb_stat(1) reads them the same way). */
  uint64_t used = 2; /* the two meta pages */
  if ((rc = mdb_env_info(txn->bs->env, &info)) != 0 ||
      (rc = mdb_env_stat(txn->bs->env, &env)) != 0 || (rc = tree_pages(txn->txn, 0, &used)) != 0 ||
      (rc = tree_pages(txn->txn, 1, &used)) != 0 ||
      (rc = tree_pages(txn->txn, txn->bs->blocks, &used)) != 0 ||
      (rc = tree_pages(txn->txn, txn->bs->pins, &used)) != 0 ||
      (rc = tree_pages(txn->txn, txn->bs->meta, &used)) != 0)
    return wr_bs_lmdb_err(rc, "stat");
  uint64_t total = (uint64_t)info.me_last_pgno + 1;
  if (used > total)
    used = total;
  sp->file_bytes = total * env.ms_psize;
  sp->used_bytes = used * env.ms_psize;
  sp->free_bytes = sp->file_bytes - sp->used_bytes;
  return 0;
}

int wr_bs_compact_to(wr_bs *bs, const char *dir) {
  return wr_bs_lmdb_err(mdb_env_copy2(bs->env, dir, MDB_CP_COMPACT), "compact");
}

/* --- the blocks seam ------------------------------------------------------------ */

static int blocks_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pdata, size_t *plen) {
  return wr_bs_txn_get_cid(((wr_bs_blocks *)b)->txn, cid, pdata, plen);
}

static int blocks_size(wr_blocks *b, const wr_cid *cid, size_t *plen) {
  return wr_bs_txn_size_cid(((wr_bs_blocks *)b)->txn, cid, plen);
}

static int blocks_put(wr_blocks *b, const wr_cid *cid, const void *data, size_t len) {
  return wr_bs_txn_put_cid(((wr_bs_blocks *)b)->txn, cid, data, len);
}

static const wr_blocks_ops lmdb_blocks = {"lmdb", blocks_get, blocks_size, blocks_put};

wr_blocks *wr_bs_blocks_init(wr_bs_blocks *b, wr_bs_txn *txn) {
  b->base.ops = &lmdb_blocks;
  b->txn = txn;
  return &b->base;
}

/* --- one-shot helpers ---------------------------------------------------------- */

int wr_bs_put(wr_bs *bs, const uint8_t *mh, size_t mhlen, const void *data, size_t len) {
  wr_bs_txn *t;
  int rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t);
  if (rc != 0)
    return rc;
  if ((rc = wr_bs_txn_put(t, mh, mhlen, data, len)) != 0) {
    wr_bs_txn_abort(t);
    return rc;
  }
  return wr_bs_txn_commit(t);
}

int wr_bs_get(wr_bs *bs, const uint8_t *mh, size_t mhlen, wr_buf *out) {
  wr_bs_txn *t;
  const uint8_t *p;
  size_t n;
  int rc = wr_bs_txn_begin(bs, WR_BS_READ, &t);
  if (rc != 0)
    return rc;
  rc = wr_bs_txn_get(t, mh, mhlen, &p, &n);
  if (rc == 0)
    rc = wr_buf_append(out, p, n);
  wr_bs_txn_abort(t);
  return rc;
}

int wr_bs_has(wr_bs *bs, const uint8_t *mh, size_t mhlen) {
  wr_bs_txn *t;
  int rc = wr_bs_txn_begin(bs, WR_BS_READ, &t);
  if (rc != 0)
    return rc;
  rc = wr_bs_txn_has(t, mh, mhlen);
  wr_bs_txn_abort(t);
  return rc;
}

int wr_bs_rm(wr_bs *bs, const uint8_t *mh, size_t mhlen) {
  wr_bs_txn *t;
  int rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t);
  if (rc != 0)
    return rc;
  if ((rc = wr_bs_txn_rm(t, mh, mhlen)) != 0) {
    wr_bs_txn_abort(t);
    return rc;
  }
  return wr_bs_txn_commit(t);
}

/* --- keyed by CID ----------------------------------------------------------------- */

int wr_bs_key(const wr_cid *cid, uint8_t out[WR_MH_MAX_BYTES]) {
  int n = wr_mh_encode(&cid->mh, out, WR_MH_MAX_BYTES);
  return n > 0 ? n : WR_ERR_INVAL;
}

int wr_bs_txn_put_cid(wr_bs_txn *txn, const wr_cid *cid, const void *data, size_t len) {
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  return n < 0 ? n : wr_bs_txn_put(txn, k, (size_t)n, data, len);
}

int wr_bs_txn_get_cid(wr_bs_txn *txn, const wr_cid *cid, const uint8_t **pdata, size_t *plen) {
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  return n < 0 ? n : wr_bs_txn_get(txn, k, (size_t)n, pdata, plen);
}

int wr_bs_txn_size_cid(wr_bs_txn *txn, const wr_cid *cid, size_t *plen) {
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  return n < 0 ? n : wr_bs_txn_size(txn, k, (size_t)n, plen);
}

int wr_bs_txn_has_cid(wr_bs_txn *txn, const wr_cid *cid) {
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  return n < 0 ? n : wr_bs_txn_has(txn, k, (size_t)n);
}

int wr_bs_txn_rm_cid(wr_bs_txn *txn, const wr_cid *cid) {
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  return n < 0 ? n : wr_bs_txn_rm(txn, k, (size_t)n);
}
