/* provstore.h: provider records: which peers said they provide a key (a
 * CID's multihash bytes), with the addresses they gave and when each record
 * expires (Amino: 48 hours after the last ADD_PROVIDER).
 *
 * Kept in memory, in a hash table on the key's keyspace position. The
 * owner may attach a persistence seam (wr_provstore_sink): every record
 * added or refreshed is handed to it, and wr_provstore_add is how records
 * read back at start-up come in, so the DHT itself needs no database.
 * Single-threaded; no I/O; times are the caller's milliseconds. */
#ifndef WR_ROUTING_PROVSTORE_H
#define WR_ROUTING_PROVSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/p2p/kad.h"
#include "proto/p2p/multiaddr.h"
#include "proto/p2p/peerid.h"

#define WR_PROV_MAX_KEY 128    /* multihash bytes */
#define WR_PROV_MAX_PER_KEY 64 /* providers kept per key; the oldest goes */
#define WR_PROV_MAX_ADDRS 4

typedef struct wr_prov_rec {
  wr_peerid id;
  wr_maddr addrs[WR_PROV_MAX_ADDRS];
  size_t naddrs;
  uint64_t expires_ms;
} wr_prov_rec;

/* Told about every record added or refreshed (to persist it). */
typedef struct wr_provstore_sink {
  void (*on_put)(void *user, const uint8_t *key, size_t keylen, const wr_prov_rec *rec);
  void *user;
} wr_provstore_sink;

typedef struct wr_provstore wr_provstore;

/* max_keys: keys kept at most (0: 1,000,000). 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_provstore_new(wr_provstore **ps, size_t max_keys);
void wr_provstore_del(wr_provstore *ps);
void wr_provstore_set_sink(wr_provstore *ps, const wr_provstore_sink *sink);
/* Adds or refreshes rec for key. 0, WR_ERR_INVAL (key empty or too long),
 * WR_ERR_LIMIT (max_keys), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_provstore_add(wr_provstore *ps, const uint8_t *key, size_t keylen,
                                   const wr_prov_rec *rec);
/* Unexpired providers of key, newest first: returns how many were copied
 * into out (at most n). */
size_t wr_provstore_get(wr_provstore *ps, const uint8_t *key, size_t keylen, uint64_t now_ms,
                        wr_prov_rec *out, size_t n);
/* Drops expired records; returns how many went. */
size_t wr_provstore_expire(wr_provstore *ps, uint64_t now_ms);
/* Keys held. */
size_t wr_provstore_keys(const wr_provstore *ps);

#endif
