#include "tunnel/backoff.h"

void wr_backoff_init(wr_backoff *b, uint64_t base_ns, uint64_t cap_ns, uint64_t reset_after_ns) {
  b->base_ns = base_ns;
  b->cap_ns = cap_ns < base_ns ? base_ns : cap_ns;
  b->reset_after_ns = reset_after_ns;
  b->attempt = 0;
}

uint64_t wr_backoff_ceiling(const wr_backoff *b) {
  uint64_t c = b->base_ns;
  for (unsigned i = 0; i < b->attempt && c < b->cap_ns; i++)
    c = c > b->cap_ns / 2 ? b->cap_ns : c * 2;
  return c < b->cap_ns ? c : b->cap_ns;
}

uint64_t wr_backoff_next(wr_backoff *b, uint64_t rnd) {
  uint64_t ceiling = wr_backoff_ceiling(b);
  if (b->attempt < 64)
    b->attempt++;
  /* rnd * (ceiling + 1) / 2^64 without overflow: uniform in [0, ceiling]. */
  return (uint64_t)(((unsigned __int128)rnd * ((unsigned __int128)ceiling + 1)) >> 64);
}

void wr_backoff_connected_for(wr_backoff *b, uint64_t uptime_ns) {
  if (uptime_ns >= b->reset_after_ns)
    b->attempt = 0;
}
