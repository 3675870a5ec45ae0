/* backoff.h: reconnect delays with exponential backoff and full jitter.
 *
 * Attempt n (0-based) waits a uniformly random time in [0, min(cap, base*2^n)]
 * ("full jitter": many connectors that lost the same edge do not come back in
 * lockstep). A connection that stayed up for at least `reset_after` starts
 * again from attempt 0. Pure: the caller passes the randomness and the time. */
#ifndef WR_TUNNEL_BACKOFF_H
#define WR_TUNNEL_BACKOFF_H

#include <stdint.h>

typedef struct wr_backoff {
  uint64_t base_ns;        /* first ceiling, e.g. 250 ms */
  uint64_t cap_ns;         /* largest ceiling, e.g. 30 s */
  uint64_t reset_after_ns; /* uptime that forgives earlier failures */
  unsigned attempt;        /* failures in a row */
} wr_backoff;

void wr_backoff_init(wr_backoff *b, uint64_t base_ns, uint64_t cap_ns, uint64_t reset_after_ns);
/* The ceiling of the next delay, without jitter. */
uint64_t wr_backoff_ceiling(const wr_backoff *b);
/* Records a failure and returns the delay before the next attempt:
 * rnd (uniform over 64 bits) scaled into [0, ceiling]. */
uint64_t wr_backoff_next(wr_backoff *b, uint64_t rnd);
/* Records that a connection ended after `uptime_ns`: a long-lived one resets
 * the attempt counter. */
void wr_backoff_connected_for(wr_backoff *b, uint64_t uptime_ns);

#endif
