/* finder.h: the provider-finder seam — who else has a CID.
 *
 * Bitswap sessions first ask the peers they are connected to; when nobody
 * has a block they ask a finder, dial what it names, and ask those peers
 * too. The Kademlia DHT plugs in here (GET_PROVIDERS); so could a delegated
 * routing client or a static list. Without a finder a session asks only
 * connected peers.
 *
 * Everything runs on the loop's thread: find starts a query and returns at
 * once; found is called for each provider as it is learnt (maybe none), then
 * done exactly once, unless the query is cancelled first (then neither is
 * called again). done never runs inside find: a query that ends at once
 * (nobody to ask) makes find return an error instead. A provider's strings
 * and addresses live only during the call. */
#ifndef WR_EXCHANGE_FINDER_H
#define WR_EXCHANGE_FINDER_H

#include <stddef.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "proto/p2p/multiaddr.h"
#include "proto/p2p/peerid.h"

typedef struct wr_provider {
  wr_peerid id;
  const wr_maddr *addrs; /* where it may be dialed; may be empty when already connected */
  size_t naddrs;
} wr_provider;

typedef struct wr_finder_query wr_finder_query;
typedef void (*wr_finder_found_fn)(void *arg, const wr_provider *p);
typedef void (*wr_finder_done_fn)(void *arg, int err);

typedef struct wr_finder {
  /* Starts looking for at most max providers of cid. 0 and *pq, or an
   * error (WR_ERR_NOMEM, WR_ERR_LIMIT when too many queries run). */
  int (*find)(struct wr_finder *f, const wr_cid *cid, size_t max, wr_finder_found_fn found,
              wr_finder_done_fn done, void *arg, wr_finder_query **pq);
  /* Stops a query that has not called done; its callbacks are not called. */
  void (*cancel)(struct wr_finder *f, wr_finder_query *q);
} wr_finder;

#endif
