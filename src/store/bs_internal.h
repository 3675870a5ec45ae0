/* bs_internal.h: the blockstore's insides, shared only by the src/store sources (pins
 * and GC live in the same LMDB environment and write in the same
 * transactions as blocks). Nothing outside src/store includes this. */
#ifndef WR_STORE_BS_INTERNAL_H
#define WR_STORE_BS_INTERNAL_H

#include <lmdb.h>

#include "store/blockstore.h"

struct wr_bs {
  MDB_env *env;
  MDB_dbi blocks; /* multihash -> block bytes */
  MDB_dbi pins;   /* binary CID -> pin record */
  MDB_dbi meta;   /* small settings, "version" */
  MDB_dbi providers; /* DHT provider records (store/provdb), opened on first use */
  int has_providers;
  MDB_dbi records;   /* DHT records, /pk/ and /ipns/ (store/dhtdb), on first use */
  MDB_dbi reprovide; /* keys this node provides (store/dhtdb), on first use */
  int has_records, has_reprovide;
};

struct wr_bs_txn {
  wr_bs *bs;
  MDB_txn *txn;
  int mode;              /* WR_BS_READ or WR_BS_WRITE */
  uint64_t dirty_bytes;  /* block bytes written since the last commit */
};

/* Converts an LMDB error into a WR_ERR_* code and logs it with what failed. */
int wr_bs_lmdb_err(int rc, const char *what);

#endif
