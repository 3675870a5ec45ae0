/* peerid_test.c: libp2p keys and peer IDs against the spec's test vectors. */
#include <sodium.h>

#include "proto/multiformats/multibase.h"
#include "proto/p2p/peerid.h"
#include "test.h"

static const char *SK_HEX = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da6"
                            "0fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474f"
                            "ce27e";
static const char *PK_HEX =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
/* base58btc and CIDv1 base32 of 0x00 0x24 || PK, computed with Python. */
static const char *ID_B58 = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
static const char *ID_CID = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";

static void unhex(uint8_t *out, size_t n, const char *hex) {
  CHECK_EQ(wr_hex_decode(out, n, hex, strlen(hex)), 0);
}

static void test_spec_vector(void) {
  uint8_t skpb[68], pkpb[36], enc[68], penc[36];
  unhex(skpb, sizeof skpb, SK_HEX);
  unhex(pkpb, sizeof pkpb, PK_HEX);
  wr_p2p_privkey sk;
  CHECK_EQ(wr_p2p_privkey_decode(skpb, sizeof skpb, &sk, NULL), 0);
  wr_p2p_privkey_encode(&sk, enc);
  CHECK_MEMEQ(enc, skpb, sizeof skpb);
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&sk, &pk);
  wr_p2p_pubkey_encode(&pk, penc);
  CHECK_MEMEQ(penc, pkpb, sizeof pkpb);
  wr_peerid id;
  wr_peerid_from_pubkey(&id, &pk);
  char s[WR_PEERID_MAX_STR];
  CHECK(wr_peerid_format(&id, s, sizeof s) > 0);
  CHECK_STREQ(s, ID_B58);
  CHECK(wr_peerid_format_cid(&id, WR_MB_BASE32, s, sizeof s) > 0);
  CHECK_STREQ(s, ID_CID);
  wr_peerid a, b;
  CHECK_EQ(wr_peerid_parse(ID_B58, strlen(ID_B58), &a, NULL), 0);
  CHECK_EQ(wr_peerid_parse(ID_CID, strlen(ID_CID), &b, NULL), 0);
  CHECK(wr_peerid_equal(&a, &id));
  CHECK(wr_peerid_equal(&b, &id));
  wr_p2p_pubkey back;
  CHECK_EQ(wr_peerid_pubkey(&a, &back), 0);
  CHECK_MEMEQ(back.ed25519, pk.ed25519, 32);
}

static void test_sign_verify(void) {
  uint8_t seed[32] = {1, 2, 3};
  wr_p2p_privkey sk;
  wr_p2p_privkey_from_seed(&sk, seed);
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&sk, &pk);
  uint8_t sig[64];
  wr_p2p_sign(&sk, "hello", 5, sig);
  CHECK_EQ(wr_p2p_verify(&pk, "hello", 5, sig, 64), 0);
  CHECK_EQ(wr_p2p_verify(&pk, "hellO", 5, sig, 64), WR_ERR_DENIED);
  CHECK_EQ(wr_p2p_verify(&pk, "hello", 5, sig, 63), WR_ERR_DENIED);
}

static void test_strict(void) {
  const char *why = NULL;
  uint8_t pkpb[36];
  unhex(pkpb, sizeof pkpb, PK_HEX);
  wr_p2p_pubkey pk;
  /* Data before Type is not the deterministic encoding. */
  uint8_t swapped[36];
  memcpy(swapped, pkpb + 2, 34);
  memcpy(swapped + 34, pkpb, 2);
  CHECK_EQ(wr_p2p_pubkey_decode(swapped, sizeof swapped, &pk, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "key protobuf does not start with its Type field");
  CHECK_EQ(wr_p2p_pubkey_decode(pkpb, 35, &pk, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "key protobuf Data runs past the end");
  uint8_t longer[37];
  memcpy(longer, pkpb, 36);
  longer[36] = 0;
  CHECK_EQ(wr_p2p_pubkey_decode(longer, 37, &pk, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "key protobuf has bytes after Data");
  uint8_t secp[37];
  unhex(secp, sizeof secp,
        "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99");
  CHECK_EQ(wr_p2p_pubkey_decode(secp, sizeof secp, &pk, &why), WR_ERR_UNSUPPORTED);
  /* A secp256k1 peer ID still parses and prints. */
  uint8_t mh[39] = {0, 37};
  memcpy(mh + 2, secp, 37);
  wr_peerid id;
  CHECK_EQ(wr_peerid_decode(mh, sizeof mh, &id, &why), 0);
  CHECK_EQ(wr_peerid_pubkey(&id, &pk), WR_ERR_UNSUPPORTED);
  /* A private key whose public half is not its seed's. */
  uint8_t skpb[68];
  unhex(skpb, sizeof skpb, SK_HEX);
  skpb[67] ^= 1;
  wr_p2p_privkey sk;
  CHECK_EQ(wr_p2p_privkey_decode(skpb, sizeof skpb, &sk, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "Ed25519 private key's public half does not match its seed");
  /* sha2-256 peer IDs (RSA keys) and their Qm text. */
  uint8_t sh[34] = {0x12, 0x20};
  CHECK_EQ(wr_peerid_decode(sh, sizeof sh, &id, &why), 0);
  char s[WR_PEERID_MAX_STR];
  CHECK(wr_peerid_format(&id, s, sizeof s) > 0);
  CHECK(s[0] == 'Q' && s[1] == 'm');
  wr_peerid id2;
  CHECK_EQ(wr_peerid_parse(s, strlen(s), &id2, NULL), 0);
  CHECK(wr_peerid_equal(&id, &id2));
  CHECK_EQ(wr_peerid_decode(sh, 33, &id, &why), WR_ERR_TRUNCATED);
  uint8_t md5ish[18] = {0x14, 0x10};
  CHECK_EQ(wr_peerid_decode(md5ish, sizeof md5ish, &id, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "peer ID multihash is neither identity nor sha2-256");
  /* A CID of another codec is no peer ID. */
  const char *rawcid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
  CHECK_EQ(wr_peerid_parse(rawcid, strlen(rawcid), &id, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "peer ID CID does not have the libp2p-key codec");
  CHECK_EQ(wr_peerid_parse("", 0, &id, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_peerid_parse("12D3KooW0", 9, &id, &why), WR_ERR_MALFORMED);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  RUN(test_spec_vector);
  RUN(test_sign_verify);
  RUN(test_strict);
  return test_done();
}
