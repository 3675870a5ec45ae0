/* tls_libp2p_test.c: the libp2p TLS certificate check (net/tls) against
 * the spec's test vectors (tls/tls.md) and broken copies of them. */
#include <sodium.h>

#include "net/tls.h"
#include "test.h"

static const char *V1 =
    "308201ae30820156a0030201020204499602d2300a06082a8648ce3d040302302031123010060355040a13096c"
    "69627032702e696f310a300806035504051301313020170d3735303130313133303030305a180f343039363031"
    "30313133303030305a302031123010060355040a13096c69627032702e696f310a3008060355040513013130593"
    "01306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132721bb9d7a8"
    "4c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd37e381569ea37c3"
    "07a3078060a2b0601040183a25a0101046a3068042408011220a77f1d92fedb59dddaea5a1c4abd1ac2fbde7d7b"
    "879ed364501809923d7c11b90440d90d2769db992d5e6195dbb08e706b6651e024fda6cfb8846694a435519941c"
    "ac215a8207792e42849cccc6cd8136c6e4bde92a58c5e08cfd4206eb5fe0bf909300a06082a8648ce3d040302034"
    "6003043021f50f6b6c52711a881778718238f650c9fb48943ae6ee6d28427dc6071ae55e702203625f116a7a454"
    "db9c56986c82a25682f7248ea1cb764d322ea983ed36a31b77";
static const char *V1_PEER = "12D3KooWM6CgA9iBFZmcYAHA6A2qvbAxqfkmrYiRQuz3XEsk4Ksv";
/* Vector 4: the extension claims an ECDSA key that did not sign it. */
static const char *V4 =
    "308201f73082019da0030201020204499602d2300a06082a8648ce3d040302302031123010060355040a13096c"
    "69627032702e696f310a300806035504051301313020170d3735303130313133303030305a180f343039363031"
    "30313133303030305a302031123010060355040a13096c69627032702e696f310a3008060355040513013130593"
    "01306072a8648ce3d020106082a8648ce3d030107034200040c901d423c831ca85e27c73c263ba132721bb9d7a8"
    "4c4f0380b2a6756fd601331c8870234dec878504c174144fa4b14b66a651691606d8173e55bd37e381569ea381c"
    "23081bf3081bc060a2b0601040183a25a01010481ad3081aa045f0803125b3059301306072a8648ce3d020106082"
    "a8648ce3d03010703420004bf30511f909414ebdd3242178fd290f093a551cf75c973155de0bb5a96fedf6cb5d52"
    "da7563e794b512f66e60c7f55ba8a3acf3dd72a801980d205e8a1ad29f204473045022100bb6e03577b7cc7a3cd1"
    "558df0da2b117dfdcc0399bc2504ebe7de6f65cade72802206de96e2a5be9b6202adba24ee0362e490641ac45c24"
    "0db71fe955f2c5cf8df6e300a06082a8648ce3d0403020348003045022100e847f267f43717358f850355bdcabbe"
    "fb2cfbf8a3c043b203a14788a092fe8db022027c1d04a2d41fd6b57a7e8b3989e470325de4406e52e084e34a3fd5"
    "6eef0d0df";

static size_t unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t n = strlen(hex) / 2;
  CHECK(n <= cap);
  CHECK_EQ(wr_hex_decode(out, n, hex, strlen(hex)), 0);
  return n;
}

static void test_vector1(void) {
  uint8_t der[1024];
  size_t n = unhex(der, sizeof der, V1);
  wr_peerid id, want;
  char why[WR_TLS_ERRLEN] = "";
  CHECK_EQ(wr_tls_libp2p_check_cert(der, n, &id, why, sizeof why), 0);
  CHECK_EQ(wr_peerid_parse(V1_PEER, strlen(V1_PEER), &want, NULL), 0);
  CHECK(wr_peerid_equal(&id, &want));
  /* The certificate's own signature broken: its last byte changed. */
  der[n - 1] ^= 0x01;
  CHECK_EQ(wr_tls_libp2p_check_cert(der, n, &id, why, sizeof why), WR_ERR_DENIED);
  CHECK(strstr(why, "self-signature does not verify") != NULL);
  der[n - 1] ^= 0x01;
  /* A byte of the extension's signature changed (also breaks the
   * certificate's signature, which is checked first). */
  uint8_t copy[1024];
  memcpy(copy, der, n);
  copy[300] ^= 0x01;
  CHECK(wr_tls_libp2p_check_cert(copy, n, &id, why, sizeof why) != 0);
  /* Truncated. */
  CHECK_EQ(wr_tls_libp2p_check_cert(der, n - 10, &id, why, sizeof why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the certificate is not valid DER X.509");
}

static void test_vector4(void) {
  uint8_t der[1024];
  size_t n = unhex(der, sizeof der, V4);
  wr_peerid id;
  char why[WR_TLS_ERRLEN] = "";
  CHECK(wr_tls_libp2p_check_cert(der, n, &id, why, sizeof why) != 0);
  CHECK(strstr(why, "libp2p extension refused") != NULL);
}

static void test_new(void) {
  uint8_t seed[32] = {3};
  wr_p2p_privkey key;
  wr_p2p_privkey_from_seed(&key, seed);
  wr_tls_server *srv;
  wr_tls_client *cli;
  char err[WR_TLS_ERRLEN] = "";
  CHECK_EQ(wr_tls_libp2p_new(&srv, &cli, &key, err, sizeof err), 0);
  char fp[WR_TLS_FINGERPRINT_LEN];
  wr_tls_server_fingerprint(srv, fp);
  CHECK(strncmp(fp, "sha256:", 7) == 0);
  wr_tls_server_del(srv);
  wr_tls_client_del(cli);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  RUN(test_vector1);
  RUN(test_vector4);
  RUN(test_new);
  return test_done();
}
