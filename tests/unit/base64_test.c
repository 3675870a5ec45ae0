/* base64_test: RFC 4648 vectors and the strict decoder's refusals. */
#include "test.h"

#include "proto/text/base64.h"

static void test_vectors(void) {
  static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (size_t i = 0; i < 7; i++) {
    char enc[16];
    CHECK_EQ(wr_base64_encode(in[i], strlen(in[i]), enc, sizeof enc), (int)strlen(out[i]));
    CHECK_STREQ(enc, out[i]);
    uint8_t dec[16];
    size_t n;
    CHECK_EQ(wr_base64_decode(out[i], strlen(out[i]), dec, sizeof dec, &n, NULL, NULL), 0);
    CHECK_EQ(n, strlen(in[i]));
    CHECK_MEMEQ(dec, in[i], n);
  }
  uint8_t all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)i;
  char enc[WR_BASE64_ENCODED_LEN(256) + 1];
  CHECK_EQ(wr_base64_encode(all, 256, enc, sizeof enc), WR_BASE64_ENCODED_LEN(256));
  uint8_t back[256];
  size_t n;
  CHECK_EQ(wr_base64_decode(enc, strlen(enc), back, sizeof back, &n, NULL, NULL), 0);
  CHECK_EQ(n, 256);
  CHECK_MEMEQ(back, all, 256);
  CHECK_EQ(wr_base64_encode(all, 3, enc, 4), WR_ERR_LIMIT); /* no room for the NUL */
}

static void bad(const char *s, int code, size_t off) {
  uint8_t out[64];
  size_t n = 99, o = 99;
  const char *why = NULL;
  CHECK_EQ(wr_base64_decode(s, strlen(s), out, sizeof out, &n, &o, &why), code);
  CHECK_EQ(n, 0);
  CHECK_EQ(o, off);
  CHECK(why != NULL);
}

static void test_strict(void) {
  bad("Zg=", WR_ERR_MALFORMED, 3);      /* length */
  bad("Zg", WR_ERR_MALFORMED, 2);       /* unpadded */
  bad("Zh==", WR_ERR_MALFORMED, 1);     /* leftover bits */
  bad("Zm9=", WR_ERR_MALFORMED, 2);     /* leftover bits */
  bad("Z===", WR_ERR_MALFORMED, 1);     /* too much padding */
  bad("Zg==Zg==", WR_ERR_MALFORMED, 2); /* padding in the middle */
  bad("Zm=v", WR_ERR_MALFORMED, 2);
  bad("Zm9v\n", WR_ERR_MALFORMED, 5);
  bad("Zm 9", WR_ERR_MALFORMED, 2);
  bad("Zm-_", WR_ERR_MALFORMED, 2);     /* the URL alphabet */
  bad("====", WR_ERR_MALFORMED, 0);
  uint8_t out[2];
  size_t n;
  CHECK_EQ(wr_base64_decode("Zm9v", 4, out, sizeof out, &n, NULL, NULL), WR_ERR_LIMIT);
}

int main(void) {
  RUN(test_vectors);
  RUN(test_strict);
  return test_done();
}
