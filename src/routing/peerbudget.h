/* peerbudget.h: how many bytes the DHT server holds for each peer.
 *
 * A served stream buffers the requests it has not parsed yet and the
 * answers the peer has not read yet, each up to a kad message (4 MiB); a
 * peer may open a thousand streams per connection, so without a budget one
 * peer could make the node hold gigabytes. Every stream of a peer charges its
 * buffered bytes to the peer's entry here, and a charge that would take the
 * peer over the limit is refused (the stream is reset by the caller). A
 * second limit bounds all peers together, so many peers (one host with many
 * identities) cannot add up what one may not hold.
 *
 * Entries exist while a peer has streams (join/leave); a linear list, since
 * only peers with a served stream open are on it. Single-threaded; no I/O. */
#ifndef WR_ROUTING_PEERBUDGET_H
#define WR_ROUTING_PEERBUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/p2p/peerid.h"

typedef struct wr_peerbudget_entry {
  struct wr_peerbudget_entry *next, *prev;
  wr_peerid id;
  size_t bytes;     /* charged by the peer's streams together */
  unsigned streams; /* joined and not left */
} wr_peerbudget_entry;

typedef struct wr_peerbudget {
  size_t limit;       /* bytes per peer */
  size_t total_limit; /* bytes over all peers; 0: no such limit */
  size_t total;       /* charged over all peers */
  wr_peerbudget_entry *peers;
  size_t npeers;
  uint64_t refused; /* charges refused, over all peers */
  /* Why the last charge was refused: "peer_buffer_limit" or
   * "node_buffer_limit" (static). */
  const char *refused_why;
} wr_peerbudget;

void wr_peerbudget_init(wr_peerbudget *b, size_t limit, size_t total_limit);
/* Frees the entries (every stream should have left). */
void wr_peerbudget_free(wr_peerbudget *b);

/* A stream of peer id opens: its entry (made on the peer's first stream),
 * with nothing charged for the stream yet. NULL: out of memory. */
wr_peerbudget_entry *wr_peerbudget_join(wr_peerbudget *b, const wr_peerid *id);
/* The stream that charged *pheld to e closes: the bytes are given back, and
 * the entry goes with the peer's last stream. */
void wr_peerbudget_leave(wr_peerbudget *b, wr_peerbudget_entry *e, size_t *pheld);

/* Sets what one stream holds from *pheld to want bytes. 0, or WR_ERR_LIMIT
 * when the peer's streams together would hold more than the limit, or all
 * peers more than total_limit (nothing changes; counted in b->refused, the
 * reason in b->refused_why). Lowering always succeeds. */
WR_MUST_CHECK int wr_peerbudget_resize(wr_peerbudget *b, wr_peerbudget_entry *e, size_t *pheld,
                                       size_t want);

/* Bytes charged to peer id (0 when it has no stream). */
size_t wr_peerbudget_used(const wr_peerbudget *b, const wr_peerid *id);

#endif
