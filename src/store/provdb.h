/* provdb.h: provider records kept in the repo (the "providers" database of
 * the blockstore's LMDB environment), so a restarted node still answers for
 * what peers announced to it until the records expire.
 *
 * The store keeps bytes: the record's key (a multihash), the provider's
 * peer ID bytes, its addresses (binary multiaddrs, each prefixed with one
 * length byte) and the expiry as Unix milliseconds. One entry per (key,
 * peer); a newer put replaces the older. Every call is its own write
 * transaction (the database is created on first use, also in repos made
 * before it existed), so any thread may call them. */
#ifndef WR_STORE_PROVDB_H
#define WR_STORE_PROVDB_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/blockstore.h"

#define WR_PROVDB_MAX_KEY 128
#define WR_PROVDB_MAX_PEER 128
#define WR_PROVDB_MAX_ADDRS 2048

typedef struct wr_provdb_rec {
  const uint8_t *key, *peer, *addrs;
  size_t keylen, peerlen, addrslen;
  uint64_t expires_unix_ms;
} wr_provdb_rec;

/* Stores n records in one transaction. 0, WR_ERR_INVAL (a part too long or
 * empty), WR_ERR_IO. */
WR_MUST_CHECK int wr_provdb_put(wr_bs *bs, const wr_provdb_rec *recs, size_t n);
/* Calls fn for every record that expires after now_unix_ms (pointers valid
 * during the call) and deletes the others; *pexpired (may be NULL) counts
 * them. fn returning non-zero stops the walk with that value. 0, WR_ERR_IO,
 * or fn's value. */
typedef int (*wr_provdb_fn)(void *arg, const wr_provdb_rec *rec);
WR_MUST_CHECK int wr_provdb_load(wr_bs *bs, uint64_t now_unix_ms, wr_provdb_fn fn, void *arg,
                                 size_t *pexpired);

#endif
