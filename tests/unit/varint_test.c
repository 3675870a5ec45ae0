#include "proto/multiformats/varint.h"
#include "test.h"

static int dec(const uint8_t *p, size_t n, uint64_t *pv, size_t *pused, const char **why) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int rv = wr_varint_decode(&c, pv, why);
  *pused = n - wr_cursor_left(&c);
  return rv;
}

static void test_vectors(void) {
  struct { uint64_t v; const char *hex; } vec[] = {
      {0, "00"}, {1, "01"}, {127, "7f"}, {128, "8001"}, {255, "ff01"}, {300, "ac02"},
      {16384, "808001"}, {WR_VARINT_MAX_VALUE, "ffffffffffffffff7f"},
  };
  for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
    uint8_t out[WR_VARINT_MAX_BYTES], want[16];
    size_t wn = strlen(vec[i].hex) / 2;
    CHECK_EQ(wr_hex_decode(want, wn, vec[i].hex, wn * 2), 0);
    int n = wr_varint_encode(out, vec[i].v);
    CHECK_EQ(n, (int)wn);
    CHECK_EQ(wr_varint_size(vec[i].v), wn);
    CHECK_MEMEQ(out, want, wn);
    uint64_t v = 99;
    size_t used;
    CHECK_EQ(dec(want, wn, &v, &used, NULL), 0);
    CHECK(v == vec[i].v);
    CHECK_EQ(used, wn);
  }
}

static void test_too_large_to_encode(void) {
  uint8_t out[WR_VARINT_MAX_BYTES];
  CHECK_EQ(wr_varint_encode(out, WR_VARINT_MAX_VALUE + 1), WR_ERR_INVAL);
  wr_buf b;
  wr_buf_init(&b, 100);
  CHECK_EQ(wr_varint_put(&b, UINT64_MAX), WR_ERR_INVAL);
  CHECK_EQ(wr_varint_put(&b, 300), 0);
  CHECK_EQ(b.len, 2);
  wr_buf_free(&b);
}

static void test_errors(void) {
  uint64_t v;
  size_t used;
  const char *why = NULL;
  /* non-minimal: 0x80 0x00 is zero in two bytes, 0x81 0x00 is one */
  const uint8_t nm1[] = {0x80, 0x00}, nm2[] = {0x81, 0x80, 0x00};
  CHECK_EQ(dec(nm1, 2, &v, &used, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "varint is not minimally encoded");
  CHECK_EQ(dec(nm2, 3, &v, &used, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "varint is not minimally encoded");
  /* ten bytes: overlong */
  const uint8_t ol[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  CHECK_EQ(dec(ol, sizeof ol, &v, &used, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "varint longer than 9 bytes");
  /* truncated: nothing consumed so a stream can retry */
  const uint8_t tr[] = {0x80, 0x80};
  CHECK_EQ(dec(tr, 2, &v, &used, &why), WR_ERR_TRUNCATED);
  CHECK_EQ(used, 0);
  CHECK_STREQ(why, "input ends inside a varint");
  CHECK_EQ(dec(tr, 0, &v, &used, NULL), WR_ERR_TRUNCATED);
}

static void test_roundtrip_all_sizes(void) {
  for (int bits = 0; bits < 63; bits++) {
    uint64_t vals[3] = {(uint64_t)1 << bits, ((uint64_t)1 << bits) - 1, ((uint64_t)1 << bits) + 1};
    for (int k = 0; k < 3; k++) {
      uint8_t out[WR_VARINT_MAX_BYTES];
      int n = wr_varint_encode(out, vals[k]);
      CHECK(n >= 1 && n <= 9);
      uint64_t v;
      size_t used;
      CHECK_EQ(dec(out, (size_t)n, &v, &used, NULL), 0);
      CHECK(v == vals[k]);
      CHECK_EQ(used, (size_t)n);
    }
  }
}

int main(void) {
  RUN(test_vectors);
  RUN(test_too_large_to_encode);
  RUN(test_errors);
  RUN(test_roundtrip_all_sizes);
  return test_done();
}
