/* uuid_test: parse/format and the v4 bits; wr_random_uuid draws real ones. */
#include "test.h"

#include "io/random.h"
#include "proto/text/uuid.h"

static void test_round_trip(void) {
  uint8_t id[16];
  const char *s = "6FF42AE2-765D-4ADF-8112-31C55C1551EF";
  CHECK_EQ(wr_uuid_parse(s, strlen(s), id), 0);
  CHECK_EQ(id[0], 0x6f);
  CHECK_EQ(id[15], 0xef);
  char out[WR_UUID_STR_LEN + 1];
  wr_uuid_format(id, out);
  CHECK_STREQ(out, "6ff42ae2-765d-4adf-8112-31c55c1551ef");
}

static void test_refusals(void) {
  uint8_t id[16];
  static const char *const bad[] = {
      "6ff42ae2765d4adf811231c55c1551ef",       /* no dashes */
      "6ff42ae2-765d-4adf-8112-31c55c1551e",    /* short */
      "6ff42ae2-765d-4adf-8112-31c55c1551eff",  /* long */
      "6ff42ae2-765d-4adf-8112_31c55c1551ef",   /* wrong separator */
      "6ff42ae2-765d-4adf-8112-31c55c1551eg",   /* not hex */
      "{ff42ae2-765d-4adf-8112-31c55c1551e}",
      "6ff42ae-2765d-4adf-8112-31c55c1551ef",   /* dash moved */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ(wr_uuid_parse(bad[i], strlen(bad[i]), id), WR_ERR_MALFORMED);
}

static void test_v4(void) {
  uint8_t a[16], b[16];
  memset(a, 0xff, 16);
  wr_uuid_make_v4(a);
  CHECK_EQ(a[6], 0x4f);
  CHECK_EQ(a[8], 0xbf);
  memset(a, 0, 16);
  wr_uuid_make_v4(a);
  CHECK_EQ(a[6], 0x40);
  CHECK_EQ(a[8], 0x80);
  CHECK_EQ(wr_random_uuid(a), 0);
  CHECK_EQ(wr_random_uuid(b), 0);
  CHECK(memcmp(a, b, 16) != 0);
  CHECK_EQ(a[6] >> 4, 4);
  CHECK_EQ(a[8] >> 6, 2);
  char s[WR_UUID_STR_LEN + 1];
  wr_uuid_format(a, s);
  CHECK_EQ(s[14], '4');
  uint8_t back[16];
  CHECK_EQ(wr_uuid_parse(s, strlen(s), back), 0);
  CHECK_MEMEQ(back, a, 16);
}

int main(void) {
  RUN(test_round_trip);
  RUN(test_refusals);
  RUN(test_v4);
  return test_done();
}
