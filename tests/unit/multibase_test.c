#include "proto/multiformats/multibase.h"
#include "test.h"

static void test_vectors(void) {
  const char *msg = "yes mani !";
  struct { int base; const char *want; } v[] = {
      {WR_MB_BASE32, "bpfsxgidnmfxgsibb"},
      {WR_MB_BASE36, "k2lcpzo5yikidynfl"},
      {WR_MB_BASE58BTC, "z7paNL19xttacUY"},
      {WR_MB_BASE16, "f796573206d616e692021"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char out[64];
    int n = wr_multibase_encode(v[i].base, msg, strlen(msg), out, sizeof out);
    CHECK_EQ(n, (int)strlen(v[i].want));
    CHECK_STREQ(out, v[i].want);
    uint8_t back[64];
    size_t bn = 0;
    int base = 0;
    CHECK_EQ(wr_multibase_decode(v[i].want, strlen(v[i].want), &base, back, sizeof back, &bn,
                                 NULL), 0);
    CHECK_EQ(base, v[i].base);
    CHECK_EQ(bn, strlen(msg));
    CHECK_MEMEQ(back, msg, bn);
  }
}

static void test_leading_zeros(void) {
  const uint8_t z[] = {0, 0, 1, 0};
  char out[32];
  CHECK_EQ(wr_multibase_encode(WR_MB_BASE58BTC, z, sizeof z, out, sizeof out), 5);
  CHECK_STREQ(out, "z115R");
  uint8_t back[8];
  size_t n;
  int base;
  CHECK_EQ(wr_multibase_decode(out, strlen(out), &base, back, sizeof back, &n, NULL), 0);
  CHECK_EQ(n, 4);
  CHECK_MEMEQ(back, z, 4);
  CHECK_EQ(wr_multibase_encode(WR_MB_BASE36, z, 2, out, sizeof out), 3);
  CHECK_STREQ(out, "k00");
  CHECK_EQ(wr_multibase_encode(WR_MB_BASE32, z, 0, out, sizeof out), 1);
  CHECK_STREQ(out, "b");
}

static void test_roundtrip_lengths(void) {
  uint8_t in[70], back[80];
  for (size_t n = 0; n <= sizeof in; n++) {
    for (size_t i = 0; i < n; i++)
      in[i] = (uint8_t)(i * 37 + n + (i < 2 ? 0 : 200));
    const int bases[] = {WR_MB_BASE16, WR_MB_BASE32, WR_MB_BASE36, WR_MB_BASE58BTC};
    for (size_t k = 0; k < 4; k++) {
      char out[200];
      int len = wr_multibase_encode(bases[k], in, n, out, sizeof out);
      CHECK(len > 0);
      size_t bn = 999;
      int base;
      CHECK_EQ(wr_multibase_decode(out, (size_t)len, &base, back, sizeof back, &bn, NULL), 0);
      CHECK_EQ(bn, n);
      CHECK(n == 0 || memcmp(back, in, n) == 0);
    }
  }
}

static void test_errors(void) {
  uint8_t out[64];
  size_t n;
  int base;
  const char *why = NULL;
  CHECK_EQ(wr_multibase_decode("", 0, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "empty multibase string");
  CHECK_EQ(wr_multibase_decode("xabc", 4, &base, out, sizeof out, &n, &why), WR_ERR_UNSUPPORTED);
  CHECK(strstr(why, "unknown multibase prefix") == why);
  CHECK_EQ(wr_multibase_decode("z0OIl", 5, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "invalid base58btc character");
  CHECK_EQ(wr_multibase_decode("kABC", 4, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "invalid base36 character");
  CHECK_EQ(wr_multibase_decode("bPFSX", 5, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_multibase_decode("bpfsxgidnmfxgsibb=", 18, &base, out, sizeof out, &n, &why),
           WR_ERR_MALFORMED);
  CHECK_EQ(wr_multibase_decode("ba", 2, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "impossible base32 length");
  /* "ab" carries 10 bits; 2 leftover bits must be zero: "ab" has b=1 -> nonzero */
  CHECK_EQ(wr_multibase_decode("bab", 3, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "non-zero trailing bits in base32");
  CHECK_EQ(wr_multibase_decode("fabc", 4, &base, out, sizeof out, &n, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_multibase_decode("z7paNL19xttacUY", 15, &base, out, 3, &n, &why), WR_ERR_LIMIT);
  char small[4];
  CHECK_EQ(wr_multibase_encode(WR_MB_BASE32, "yes mani !", 10, small, sizeof small),
           WR_ERR_LIMIT);
  CHECK_EQ(wr_multibase_encode('q', "y", 1, small, sizeof small), WR_ERR_INVAL);
  int b;
  CHECK_EQ(wr_multibase_from_name("base36", &b), 0);
  CHECK_EQ(b, WR_MB_BASE36);
  CHECK_EQ(wr_multibase_from_name("base64", &b), WR_ERR_INVAL);
}

static void test_put(void) {
  wr_buf b;
  wr_buf_init(&b, 1024);
  CHECK_EQ(wr_multibase_put(&b, WR_MB_BASE36, "yes mani !", 10), 0);
  CHECK_EQ(b.len, 17);
  CHECK_MEMEQ(b.data, "k2lcpzo5yikidynfl", 17);
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_vectors);
  RUN(test_leading_zeros);
  RUN(test_roundtrip_lengths);
  RUN(test_errors);
  RUN(test_put);
  return test_done();
}
