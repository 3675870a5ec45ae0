/* tlsext_test.c: the libp2p TLS certificate extension against the spec's
 * test vector (tls/tls.md, vector 1), round trips and strict DER. */
#include <sodium.h>

#include "proto/p2p/tlsext.h"
#include "test.h"

/* From vector 1's certificate: its SubjectPublicKeyInfo and the value of
 * its 1.3.6.1.4.1.53594.1.1 extension; the peer is the spec's. */
static const char *V1_SPKI =
    "3059301306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132"
    "721bb9d7a84c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd"
    "37e381569e";
static const char *V1_EXT =
    "3068042408011220a77f1d92fedb59dddaea5a1c4abd1ac2fbde7d7b879ed364501809923d7c11b90440d9"
    "0d2769db992d5e6195dbb08e706b6651e024fda6cfb8846694a435519941cac215a8207792e42849cccc6c"
    "d8136c6e4bde92a58c5e08cfd4206eb5fe0bf909";
static const char *V1_PEER = "12D3KooWM6CgA9iBFZmcYAHA6A2qvbAxqfkmrYiRQuz3XEsk4Ksv";

static size_t unhex(uint8_t *out, const char *hex) {
  size_t n = strlen(hex) / 2;
  CHECK_EQ(wr_hex_decode(out, n, hex, strlen(hex)), 0);
  return n;
}

static void test_spec_vector(void) {
  uint8_t spki[128], ext[128];
  size_t nspki = unhex(spki, V1_SPKI), next = unhex(ext, V1_EXT);
  wr_p2p_signedkey sk;
  const char *why = NULL;
  CHECK_EQ(wr_p2p_signedkey_decode(ext, next, &sk, &why), 0);
  CHECK_EQ(sk.npubkey, 36);
  CHECK_EQ(sk.nsig, 64);
  wr_peerid id, want;
  CHECK_EQ(wr_p2p_signedkey_verify(&sk, spki, nspki, &id, &why), 0);
  CHECK_EQ(wr_peerid_parse(V1_PEER, strlen(V1_PEER), &want, NULL), 0);
  CHECK(wr_peerid_equal(&id, &want));
  /* Re-encoding gives the same bytes. */
  wr_buf out;
  wr_buf_init(&out, 4096);
  CHECK_EQ(wr_p2p_signedkey_encode(sk.pubkey, sk.npubkey, sk.sig, sk.nsig, &out), 0);
  CHECK_EQ(out.len, next);
  CHECK_MEMEQ(out.data, ext, next);
  wr_buf_free(&out);
  /* Another certificate key: the signature no longer covers it. */
  spki[nspki - 1] ^= 1;
  CHECK_EQ(wr_p2p_signedkey_verify(&sk, spki, nspki, &id, &why), WR_ERR_DENIED);
  CHECK_STREQ(why, "the identity key's signature over the certificate key does not verify");
}

static void test_make_verify(void) {
  uint8_t seed[32] = {7}, spki[300];
  memset(spki, 0xa5, sizeof spki); /* long enough for two-byte lengths */
  wr_p2p_privkey key;
  wr_p2p_privkey_from_seed(&key, seed);
  wr_buf out;
  wr_buf_init(&out, 4096);
  CHECK_EQ(wr_p2p_signedkey_make(&key, spki, sizeof spki, &out), 0);
  wr_p2p_signedkey sk;
  CHECK_EQ(wr_p2p_signedkey_decode(out.data, out.len, &sk, NULL), 0);
  wr_peerid id, want;
  CHECK_EQ(wr_p2p_signedkey_verify(&sk, spki, sizeof spki, &id, NULL), 0);
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&key, &pk);
  wr_peerid_from_pubkey(&want, &pk);
  CHECK(wr_peerid_equal(&id, &want));
  /* A field of 200 bytes takes the 0x81 form; 300 bytes the 0x82 form. */
  wr_buf_reset(&out);
  uint8_t big[300] = {0};
  CHECK_EQ(wr_p2p_signedkey_encode(big, 200, big, 300, &out), 0);
  CHECK_EQ(out.data[0], 0x30);
  CHECK_EQ(out.data[1], 0x82);
  CHECK_EQ(out.data[4], 0x04);
  CHECK_EQ(out.data[5], 0x81);
  CHECK_EQ(wr_p2p_signedkey_decode(out.data, out.len, &sk, NULL), 0);
  CHECK_EQ(sk.npubkey, 200);
  CHECK_EQ(sk.nsig, 300);
  wr_buf_free(&out);
}

static void expect_bad(const char *hex, const char *reason) {
  uint8_t b[64];
  size_t n = unhex(b, hex);
  wr_p2p_signedkey sk;
  const char *why = NULL;
  CHECK_EQ(wr_p2p_signedkey_decode(b, n, &sk, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, reason);
}

static void test_strict(void) {
  expect_bad("", "SignedKey ends before a field");
  expect_bad("3106040100040100", "SignedKey is not a DER SEQUENCE");
  expect_bad("30060401000401", "SignedKey field is longer than its input");
  expect_bad("3006040100040100ff", "bytes follow the SignedKey SEQUENCE");
  expect_bad("300604010002010000", "bytes follow the SignedKey SEQUENCE");
  expect_bad("3006040100020100", "SignedKey field is not an OCTET STRING");
  expect_bad("3009040100040100040100", "SignedKey has more than two fields");
  expect_bad("3003040100", "SignedKey ends before a field");
  expect_bad("308106040100040100", "SignedKey has a non-minimal DER length");
  expect_bad("3080040100040100", "SignedKey has an indefinite length (not DER)");
  expect_bad("30830000000401000401", "SignedKey has a length over 64 KiB");
  expect_bad("30080482000100040100", "SignedKey has a non-minimal DER length");
  expect_bad("30", "SignedKey ends inside a length");
  /* The smallest well-formed one: two empty strings. */
  uint8_t ok[] = {0x30, 0x04, 0x04, 0x00, 0x04, 0x00};
  wr_p2p_signedkey sk;
  CHECK_EQ(wr_p2p_signedkey_decode(ok, sizeof ok, &sk, NULL), 0);
  const char *why = NULL;
  wr_peerid id;
  CHECK_EQ(wr_p2p_signedkey_verify(&sk, ok, sizeof ok, &id, &why), WR_ERR_MALFORMED);
  CHECK(why != NULL);
}

static void test_cert_tbs(void) {
  uint8_t ok[] = {0x30, 0x07, 0x30, 0x03, 0x02, 0x01, 0x00, 0x05, 0x00};
  const uint8_t *tbs;
  size_t ntbs;
  const char *why = NULL;
  CHECK_EQ(wr_p2p_cert_tbs(ok, sizeof ok, &tbs, &ntbs, &why), 0);
  CHECK(tbs == ok + 2);
  CHECK_EQ(ntbs, 5);
  uint8_t notseq[] = {0x30, 0x03, 0x02, 0x01, 0x00};
  CHECK_EQ(wr_p2p_cert_tbs(notseq, sizeof notseq, &tbs, &ntbs, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the certificate does not start with a DER TBSCertificate");
  uint8_t trailing[] = {0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00, 0xff};
  CHECK_EQ(wr_p2p_cert_tbs(trailing, sizeof trailing, &tbs, &ntbs, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the certificate is not one DER SEQUENCE");
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  RUN(test_spec_vector);
  RUN(test_make_verify);
  RUN(test_strict);
  RUN(test_cert_tbs);
  return test_done();
}
