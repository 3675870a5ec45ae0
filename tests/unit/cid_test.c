#include "proto/multiformats/cid.h"
#include "proto/multiformats/multibase.h"
#include "test.h"

static void hex(const char *h, uint8_t *out, size_t *pn) {
  *pn = strlen(h) / 2;
  if (wr_hex_decode(out, *pn, h, *pn * 2))
    *pn = 0;
}

static void test_block_vectors(void) {
  struct { const char *block; const char *cid; } v[] = {
      {"0a120802120c68656c6c6f20776f726c640a180c", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"},
      {"0a0408021800", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"},
      {"0a020801", "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t block[64];
    size_t n;
    hex(v[i].block, block, &n);
    wr_cid cid, parsed;
    CHECK_EQ(wr_cid_sum(&cid, 0, WR_CODEC_DAG_PB, block, n), 0);
    char s[WR_CID_MAX_STR];
    CHECK_EQ(wr_cid_format(&cid, 0, s, sizeof s), WR_CIDV0_STR_LEN);
    CHECK_STREQ(s, v[i].cid);
    CHECK_EQ(wr_cid_parse_str(v[i].cid, &parsed, NULL), 0);
    CHECK(wr_cid_equal(&cid, &parsed));
    CHECK_EQ(wr_cid_verify(&parsed, block, n), 0);
    CHECK_EQ(wr_cid_verify(&parsed, block, n - 1), WR_ERR_CORRUPT);
  }
}

static void test_v0_v1_conversion(void) {
  wr_cid v0, v1, back;
  CHECK_EQ(wr_cid_parse_str("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn", &v0, NULL), 0);
  CHECK_EQ(v0.version, 0);
  CHECK(v0.codec == WR_CODEC_DAG_PB);
  wr_cid_to_v1(&v0, &v1);
  char s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&v1, 0, s, sizeof s) > 0);
  CHECK_STREQ(s, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
  CHECK_EQ(wr_cid_parse_str(s, &back, NULL), 0);
  CHECK(wr_cid_equal(&back, &v1));
  CHECK(!wr_cid_equal(&back, &v0));
  CHECK(wr_cid_same_block(&back, &v0));
  CHECK_EQ(wr_cid_to_v0(&back, &back), 0);
  CHECK(wr_cid_equal(&back, &v0));
  CHECK_EQ(wr_cid_format(&v0, WR_MB_BASE32, s, sizeof s), WR_ERR_INVAL);
  /* raw codec has no v0 */
  wr_cid raw;
  CHECK_EQ(wr_cid_parse_str("bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su", &raw,
                            NULL), 0);
  CHECK_EQ(wr_cid_to_v0(&raw, &back), WR_ERR_INVAL);
  CHECK_EQ(wr_cid_sum(&back, 0, WR_CODEC_RAW, "x", 1), WR_ERR_INVAL);
}

static void test_bases(void) {
  wr_cid a, b;
  CHECK_EQ(wr_cid_parse_str("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", &a, NULL), 0);
  CHECK_EQ(wr_cid_parse_str("bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su", &b,
                            NULL), 0);
  CHECK(wr_cid_equal(&a, &b));
  CHECK(a.codec == WR_CODEC_RAW);
  CHECK_STREQ(wr_cid_codec_name(a.codec), "raw");
  char s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&a, WR_MB_BASE58BTC, s, sizeof s) > 0);
  CHECK_STREQ(s, "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA");
  CHECK(wr_cid_format(&a, WR_MB_BASE36, s, sizeof s) > 0);
  CHECK(s[0] == 'k');
  CHECK_EQ(wr_cid_parse_str(s, &b, NULL), 0);
  CHECK(wr_cid_equal(&a, &b));
  CHECK_EQ(wr_cid_format(&a, 0, s, 10), WR_ERR_LIMIT);
}

static void test_bytes(void) {
  wr_cid a, b;
  CHECK_EQ(wr_cid_parse_str("bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su", &a,
                            NULL), 0);
  uint8_t bytes[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(&a, bytes, sizeof bytes);
  CHECK_EQ(n, 36);
  CHECK_EQ(wr_cid_encoded_size(&a), 36);
  CHECK_MEMEQ(bytes, "\x01\x55\x12\x20", 4);
  CHECK_EQ(wr_cid_from_bytes(bytes, (size_t)n, &b, NULL), 0);
  CHECK(wr_cid_equal(&a, &b));
  const char *why = NULL;
  CHECK_EQ(wr_cid_from_bytes(bytes, (size_t)n - 1, &b, &why), WR_ERR_TRUNCATED);
  bytes[n] = 0;
  CHECK_EQ(wr_cid_from_bytes(bytes, (size_t)n + 1, &b, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "trailing bytes after CID");
  /* cursor decoding stops exactly after the CID */
  wr_cursor c;
  wr_cursor_init(&c, bytes, (size_t)n + 1);
  CHECK_EQ(wr_cid_decode(&c, &b, NULL), 0);
  CHECK_EQ(wr_cursor_left(&c), 1);
  bytes[0] = 2;
  CHECK_EQ(wr_cid_from_bytes(bytes, (size_t)n, &b, &why), WR_ERR_UNSUPPORTED);
  CHECK_STREQ(why, "unknown CID version");
  bytes[0] = 0;
  CHECK_EQ(wr_cid_from_bytes(bytes, (size_t)n, &b, &why), WR_ERR_MALFORMED);
  /* v0 in binary */
  wr_cid v0;
  CHECK_EQ(wr_cid_parse_str("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", &v0, NULL), 0);
  n = wr_cid_to_bytes(&v0, bytes, sizeof bytes);
  CHECK_EQ(n, 34);
  CHECK_EQ(wr_cid_from_bytes(bytes, 34, &b, NULL), 0);
  CHECK(wr_cid_equal(&v0, &b));
  CHECK_EQ(wr_cid_from_bytes(bytes, 20, &b, &why), WR_ERR_TRUNCATED);
}

static void test_parse_errors(void) {
  wr_cid c;
  const char *why = NULL;
  CHECK_EQ(wr_cid_parse_str("", &c, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "empty CID");
  CHECK_EQ(wr_cid_parse_str("xafkrei", &c, &why), WR_ERR_UNSUPPORTED);
  CHECK(strstr(why, "unknown multibase prefix") == why);
  /* 'l' is not in base58 */
  CHECK_EQ(wr_cid_parse_str("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5l", &c, &why),
           WR_ERR_MALFORMED);
  CHECK_STREQ(why, "invalid base58btc character");
  /* a v0 one character short is tried as multibase 'Q' */
  CHECK_EQ(wr_cid_parse_str("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5", &c, &why),
           WR_ERR_UNSUPPORTED);
  /* changed last char: valid base58, wrong bytes -> still a multihash of 34 bytes? */
  CHECK_EQ(wr_cid_parse_str("bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4s", &c,
                            &why), WR_ERR_MALFORMED);
  /* a CID cut short inside its digest, correctly base32-encoded */
  wr_cid full;
  CHECK_EQ(wr_cid_parse_str("bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su", &full,
                            NULL), 0);
  uint8_t bytes[WR_CID_MAX_BYTES];
  int n = wr_cid_to_bytes(&full, bytes, sizeof bytes);
  char cut[WR_CID_MAX_STR];
  CHECK(wr_multibase_encode(WR_MB_BASE32, bytes, (size_t)n - 3, cut, sizeof cut) > 0);
  CHECK_EQ(wr_cid_parse_str(cut, &c, &why), WR_ERR_TRUNCATED);
  CHECK_STREQ(why, "input ends inside a multihash digest");
  char longs[400];
  memset(longs, 'a', sizeof longs - 1);
  longs[0] = 'b';
  longs[sizeof longs - 1] = 0;
  CHECK_EQ(wr_cid_parse_str(longs, &c, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "CID text too long");
}

int main(void) {
  RUN(test_block_vectors);
  RUN(test_v0_v1_conversion);
  RUN(test_bases);
  RUN(test_bytes);
  RUN(test_parse_errors);
  return test_done();
}
