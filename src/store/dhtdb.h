/* dhtdb.h: the DHT's own state kept in the repo, so a restarted node keeps
 * it: the records peers stored here with PUT_VALUE (/pk/, /ipns/), each with
 * its expiry, and the keys this node provides (what it announces again after
 * a start). Provider records have their own table (store/provdb.h).
 *
 * Two databases of the blockstore's LMDB environment, created on first use
 * (also in repos made before they existed): "records" (key: the record key;
 * value: expiry as 8 bytes of big-endian Unix ms, then the value) and
 * "reprovide" (key: a multihash; value: when it was first provided, Unix ms,
 * 8 bytes). Every call is its own write transaction, so any thread may call
 * them; none should run on an event loop (an import may hold LMDB's writer
 * lock for seconds). */
#ifndef WR_STORE_DHTDB_H
#define WR_STORE_DHTDB_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/blockstore.h"

#define WR_DHTDB_MAX_KEY 256
#define WR_DHTDB_MAX_VALUE (64u * 1024)
#define WR_DHTDB_MAX_PROVIDE_KEY 128

typedef struct wr_dhtdb_rec {
  const uint8_t *key, *val;
  size_t keylen, vallen;
  uint64_t expires_unix_ms;
} wr_dhtdb_rec;

/* Stores n records in one transaction, each replacing what the key held.
 * 0, WR_ERR_INVAL (a key empty or over WR_DHTDB_MAX_KEY, a value over
 * WR_DHTDB_MAX_VALUE), WR_ERR_IO. */
WR_MUST_CHECK int wr_dhtdb_put(wr_bs *bs, const wr_dhtdb_rec *recs, size_t n);

/* Calls fn for every record that expires after now_unix_ms (pointers valid
 * during the call) and deletes the others (and malformed entries); *pexpired
 * (may be NULL) counts them. fn returning non-zero stops the walk with that
 * value. 0, WR_ERR_IO, or fn's value. */
typedef int (*wr_dhtdb_rec_fn)(void *arg, const wr_dhtdb_rec *rec);
WR_MUST_CHECK int wr_dhtdb_load(wr_bs *bs, uint64_t now_unix_ms, wr_dhtdb_rec_fn fn, void *arg,
                                size_t *pexpired);

/* Adds n keys to provide (multihash bytes; a key already there keeps its
 * first time). 0, WR_ERR_INVAL (empty or over WR_DHTDB_MAX_PROVIDE_KEY),
 * WR_ERR_IO. */
WR_MUST_CHECK int wr_dhtdb_provide_add(wr_bs *bs, const uint8_t *const *keys, const size_t *lens,
                                       size_t n, uint64_t now_unix_ms);
/* Removes one key to provide. 0 (also when it was not there), WR_ERR_IO. */
WR_MUST_CHECK int wr_dhtdb_provide_rm(wr_bs *bs, const uint8_t *key, size_t len);
/* Calls fn for every key to provide, in byte order; non-zero stops the walk
 * with that value. 0, WR_ERR_IO, or fn's value. */
typedef int (*wr_dhtdb_key_fn)(void *arg, const uint8_t *key, size_t len, uint64_t since_unix_ms);
WR_MUST_CHECK int wr_dhtdb_provide_load(wr_bs *bs, wr_dhtdb_key_fn fn, void *arg);

#endif
