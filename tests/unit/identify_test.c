/* identify_test.c: the identify protobuf both ways. */
#include "proto/p2p/identify.h"
#include "test.h"

static wr_bytes S(const char *s) { return (wr_bytes){(const uint8_t *)s, strlen(s)}; }

static void test_roundtrip(void) {
  wr_identify a;
  memset(&a, 0, sizeof a);
  a.protocol_version = S("ipfs/0.1.0");
  a.agent_version = S("warren/0.1");
  a.public_key = S("KEY");
  a.observed_addr = (wr_bytes){(const uint8_t *)"\x04\x7f\x00\x00\x01\x06\x0f\xa1", 8};
  a.listen_addrs[a.nlisten_addrs++] = S("A1");
  a.listen_addrs[a.nlisten_addrs++] = S("A2");
  a.protocols[a.nprotocols++] = S("/ipfs/ping/1.0.0");
  a.protocols[a.nprotocols++] = S("/ipfs/id/1.0.0");
  wr_buf b;
  wr_buf_init(&b, 8192);
  CHECK_EQ(wr_identify_encode(&a, &b), 0);
  /* Field 1 first, with its length. */
  CHECK_MEMEQ(b.data,
              "\x0a\x03KEY\x12\x02"
              "A1",
              9);
  wr_identify d;
  CHECK_EQ(wr_identify_decode(b.data, b.len, &d, NULL), 0);
  CHECK_EQ(d.nlisten_addrs, 2);
  CHECK_EQ(d.nprotocols, 2);
  CHECK_EQ(d.agent_version.n, 10);
  CHECK_MEMEQ(d.agent_version.p, "warren/0.1", 10);
  CHECK_MEMEQ(d.protocols[1].p, "/ipfs/id/1.0.0", 14);
  CHECK_EQ(d.observed_addr.n, 8);
  wr_buf_free(&b);
}

static void test_errors(void) {
  wr_identify d;
  const char *why = NULL;
  /* Unknown fields are skipped. */
  CHECK_EQ(wr_identify_decode((const uint8_t *)"\x48\x05\x52\x01x", 5, &d, &why), 0);
  CHECK_EQ(wr_identify_decode((const uint8_t *)"\x08\x01", 2, &d, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "identify field has the wrong wire type");
  CHECK_EQ(wr_identify_decode((const uint8_t *)"\x0a\x05KE", 4, &d, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "identify field runs past the end");
  uint8_t many[3 * 65];
  for (int i = 0; i < 65; i++) {
    many[3 * i] = 0x12;
    many[3 * i + 1] = 1;
    many[3 * i + 2] = 'a';
  }
  CHECK_EQ(wr_identify_decode(many, sizeof many, &d, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "identify message lists more than 64 addresses");
}

int main(void) {
  RUN(test_roundtrip);
  RUN(test_errors);
  return test_done();
}
