/* peer_count.h: open connections per client address, with a cap.
 *
 * A listener that lets one address hold every connection locks all other
 * users out (300 sockets from one host under a 300-connection limit did).
 * This table counts the connections each client holds and refuses one more
 * past a cap. IPv4 addresses (also IPv4-mapped ones on a dual-stack socket)
 * count per address; IPv6 ones per /64, the block one host or one customer
 * usually gets (per-address counting would let a single host take 2^64
 * slots). Unix sockets are not counted.
 *
 * Open addressing keyed with SipHash (libsodium's crypto_shorthash) under a
 * random key, so a client cannot choose addresses that collide. */
#ifndef WR_IO_PEER_COUNT_H
#define WR_IO_PEER_COUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"

/* What a connection counts under (keep it to give the slot back). */
typedef struct wr_peer_key {
  uint8_t a[16]; /* IPv4 as ::ffff:a.b.c.d, IPv6 with the low 64 bits zeroed */
  uint8_t set;   /* 0: not counted (a Unix socket, or nothing taken) */
} wr_peer_key;

typedef struct wr_peer_slot {
  uint8_t a[16];
  uint32_t n; /* 0: empty */
} wr_peer_slot;

typedef struct wr_peer_count {
  wr_peer_slot *slots;
  size_t cap, used; /* cap is 0 or a power of two */
  uint8_t hkey[16];
} wr_peer_count;

/* An empty table (allocates nothing yet). */
void wr_peer_count_init(wr_peer_count *pc);
void wr_peer_count_free(wr_peer_count *pc);

/* The key sa counts under: 0, or WR_ERR_UNSUPPORTED for a family that is not
 * counted (then pkey->set is 0). */
int wr_peer_count_key(const struct sockaddr *sa, wr_peer_key *pkey);

/* Counts one more connection for sa unless max (0: no cap) are open under
 * its key already. 0 with *pkey set (pkey->set 0 for a family that is not
 * counted), WR_ERR_LIMIT (nothing counted), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_peer_count_add(wr_peer_count *pc, const struct sockaddr *sa, uint32_t max,
                                    wr_peer_key *pkey);
/* Gives back what wr_peer_count_add counted (a key with set 0 is ignored);
 * clears pkey->set. */
void wr_peer_count_remove(wr_peer_count *pc, wr_peer_key *pkey);
/* Connections counted for sa now. */
uint32_t wr_peer_count_get(const wr_peer_count *pc, const struct sockaddr *sa);
/* Distinct keys with connections. */
static inline size_t wr_peer_count_size(const wr_peer_count *pc) { return pc->used; }

#endif
