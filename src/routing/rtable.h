/* rtable.h: the Kademlia routing table: peers by their distance from us,
 * in buckets of at most k (20, Amino's) by the length of the prefix their
 * keyspace position shares with ours.
 *
 * Only peers known to answer DHT queries belong here: the DHT adds a peer
 * when it answered a query or when identify showed it serves the kad
 * protocol, and removes it when a query to it failed. A full bucket keeps
 * its peers (the old ones are the ones that stay up, Kademlia's lesson) and
 * the newcomer is dropped. Single-threaded; no I/O. */
#ifndef WR_ROUTING_RTABLE_H
#define WR_ROUTING_RTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/p2p/kad.h"
#include "proto/p2p/multiaddr.h"
#include "proto/p2p/peerid.h"

#define WR_RT_K 20
#define WR_RT_MAX_ADDRS 4
#define WR_RT_BUCKETS (WR_KAD_KEY_BYTES * 8)

typedef struct wr_rt_peer {
  wr_peerid id;
  uint8_t key[WR_KAD_KEY_BYTES];
  wr_maddr addrs[WR_RT_MAX_ADDRS];
  size_t naddrs;
  uint64_t seen_ms; /* last answer or identify */
} wr_rt_peer;

typedef struct wr_rtable {
  uint8_t self[WR_KAD_KEY_BYTES];
  size_t k;
  wr_rt_peer *bucket[WR_RT_BUCKETS]; /* each k entries, allocated on first use */
  size_t count[WR_RT_BUCKETS];
  size_t size;
} wr_rtable;

/* The position of a peer: SHA-256 of its peer ID's multihash bytes. */
void wr_rt_peer_key(const wr_peerid *id, uint8_t out[WR_KAD_KEY_BYTES]);

/* k 0 means WR_RT_K. */
void wr_rtable_init(wr_rtable *rt, const wr_peerid *self, size_t k);
void wr_rtable_free(wr_rtable *rt);
/* Adds or refreshes a peer (its addresses replace the known ones when any
 * are given). 1 added, 0 refreshed, WR_ERR_LIMIT (bucket full),
 * WR_ERR_INVAL (ourselves), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_rtable_add(wr_rtable *rt, const wr_peerid *id, const wr_maddr *addrs,
                                size_t naddrs, uint64_t now_ms);
/* 1 removed, 0 not there. */
int wr_rtable_remove(wr_rtable *rt, const wr_peerid *id);
wr_rt_peer *wr_rtable_find(wr_rtable *rt, const wr_peerid *id);
/* Up to n peers nearest to target, nearest first; returns how many. The
 * pointers stay valid until the table next changes. */
size_t wr_rtable_closest(wr_rtable *rt, const uint8_t target[WR_KAD_KEY_BYTES], wr_rt_peer **out,
                         size_t n);

#endif
