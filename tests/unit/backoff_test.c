#include "tunnel/backoff.h"
#include "base/clock.h"
#include "test.h"

static void test_ceiling_doubles_to_cap(void) {
  wr_backoff b;
  wr_backoff_init(&b, 1 * WR_NS_PER_S, 60 * WR_NS_PER_S, 30 * WR_NS_PER_S);
  uint64_t want[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    CHECK_EQ(wr_backoff_ceiling(&b), want[i] * WR_NS_PER_S);
    (void)wr_backoff_next(&b, 0);
  }
  for (int i = 0; i < 200; i++) /* attempts saturate without overflow */
    (void)wr_backoff_next(&b, 0);
  CHECK_EQ(wr_backoff_ceiling(&b), 60 * WR_NS_PER_S);
}

static void test_full_jitter_range(void) {
  wr_backoff b;
  wr_backoff_init(&b, 1000, 8000, 1);
  CHECK_EQ(wr_backoff_next(&b, 0), 0);
  CHECK_EQ(wr_backoff_next(&b, UINT64_MAX), 2000); /* ceiling 2000, top of range */
  CHECK_EQ(wr_backoff_next(&b, UINT64_MAX / 2), 2000); /* ceiling 4000, middle */
}

static void test_long_uptime_resets(void) {
  wr_backoff b;
  wr_backoff_init(&b, 1000, 8000, 5000);
  (void)wr_backoff_next(&b, 0);
  (void)wr_backoff_next(&b, 0);
  wr_backoff_connected_for(&b, 4999);
  CHECK_EQ(wr_backoff_ceiling(&b), 4000);
  wr_backoff_connected_for(&b, 5000);
  CHECK_EQ(wr_backoff_ceiling(&b), 1000);
}

int main(void) {
  RUN(test_ceiling_doubles_to_cap);
  RUN(test_full_jitter_range);
  RUN(test_long_uptime_resets);
  return test_done();
}
