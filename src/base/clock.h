/* clock.h: time in nanoseconds. Only layers that do I/O read the clock;
 * src/proto takes `now` as an argument. */
#ifndef WR_BASE_CLOCK_H
#define WR_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

#define WR_NS_PER_MS UINT64_C(1000000)
#define WR_NS_PER_S UINT64_C(1000000000)

/* Monotonic time in nanoseconds. */
static inline uint64_t wr_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * WR_NS_PER_S + (uint64_t)ts.tv_nsec;
}

#endif
