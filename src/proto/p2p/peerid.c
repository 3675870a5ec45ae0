/* peerid.c: libp2p keys and peer IDs. */
#include "proto/p2p/peerid.h"

#include <sodium.h>
#include <string.h>

#include "proto/ipld/pb.h"
#include "proto/multiformats/cid.h"
#include "proto/multiformats/multibase.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

void wr_p2p_privkey_from_seed(wr_p2p_privkey *sk, const uint8_t seed[32]) {
  uint8_t pk[32];
  crypto_sign_ed25519_seed_keypair(pk, sk->sk, seed);
}

void wr_p2p_privkey_public(const wr_p2p_privkey *sk, wr_p2p_pubkey *pk) {
  pk->type = WR_P2P_KEY_ED25519;
  memcpy(pk->ed25519, sk->sk + 32, 32);
}

void wr_p2p_sign(const wr_p2p_privkey *sk, const void *msg, size_t n,
                 uint8_t sig[WR_P2P_ED25519_SIG]) {
  crypto_sign_ed25519_detached(sig, NULL, msg, n, sk->sk);
}

int wr_p2p_verify(const wr_p2p_pubkey *pk, const void *msg, size_t n, const uint8_t *sig,
                  size_t siglen) {
  if (pk->type != WR_P2P_KEY_ED25519)
    return WR_ERR_UNSUPPORTED;
  if (siglen != WR_P2P_ED25519_SIG)
    return WR_ERR_DENIED;
  if (crypto_sign_ed25519_verify_detached(sig, msg, n, pk->ed25519) != 0)
    return WR_ERR_DENIED;
  return 0;
}

/* Type then Data, each exactly once, nothing else: the one encoding the spec
 * allows, so a peer ID names one byte string. */
static int key_decode(const uint8_t *p, size_t n, uint64_t *ptype, const uint8_t **pdata,
                      size_t *pdlen, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  uint32_t field;
  int wt;
  const char *why = NULL;
  if (wr_pb_get_key(&c, &field, &wt, &why) != 0 || field != 1 || wt != WR_PB_VARINT)
    FAIL(WR_ERR_MALFORMED, "key protobuf does not start with its Type field");
  if (wr_pb_get_varint(&c, ptype, &why) != 0)
    FAIL(WR_ERR_MALFORMED, "key protobuf Type is truncated");
  if (wr_pb_get_key(&c, &field, &wt, &why) != 0 || field != 2 || wt != WR_PB_LEN)
    FAIL(WR_ERR_MALFORMED, "key protobuf lacks its Data field after Type");
  if (wr_pb_get_bytes(&c, pdata, pdlen, &why) != 0)
    FAIL(WR_ERR_MALFORMED, "key protobuf Data runs past the end");
  if (wr_cursor_left(&c) != 0)
    FAIL(WR_ERR_MALFORMED, "key protobuf has bytes after Data");
  if (*ptype > WR_P2P_KEY_ECDSA)
    FAIL(WR_ERR_MALFORMED, "key protobuf has an unknown key Type");
  return 0;
}

void wr_p2p_privkey_encode(const wr_p2p_privkey *sk, uint8_t out[WR_P2P_PRIVKEY_ED25519_PB]) {
  out[0] = 0x08;
  out[1] = WR_P2P_KEY_ED25519;
  out[2] = 0x12;
  out[3] = 64;
  memcpy(out + 4, sk->sk, 64);
}

int wr_p2p_privkey_decode(const uint8_t *p, size_t n, wr_p2p_privkey *sk, const char **preason) {
  uint64_t type;
  const uint8_t *d;
  size_t dn;
  int rv = key_decode(p, n, &type, &d, &dn, preason);
  if (rv != 0)
    return rv;
  if (type != WR_P2P_KEY_ED25519)
    FAIL(WR_ERR_UNSUPPORTED, "private key is not an Ed25519 key");
  if (dn != 64)
    FAIL(WR_ERR_MALFORMED, "Ed25519 private key Data is not 64 bytes");
  wr_p2p_privkey_from_seed(sk, d);
  if (sodium_memcmp(sk->sk + 32, d + 32, 32) != 0) {
    sodium_memzero(sk, sizeof *sk);
    FAIL(WR_ERR_MALFORMED, "Ed25519 private key's public half does not match its seed");
  }
  return 0;
}

void wr_p2p_pubkey_encode(const wr_p2p_pubkey *pk, uint8_t out[WR_P2P_PUBKEY_ED25519_PB]) {
  out[0] = 0x08;
  out[1] = WR_P2P_KEY_ED25519;
  out[2] = 0x12;
  out[3] = 32;
  memcpy(out + 4, pk->ed25519, 32);
}

int wr_p2p_pubkey_decode(const uint8_t *p, size_t n, wr_p2p_pubkey *pk, const char **preason) {
  uint64_t type;
  const uint8_t *d;
  size_t dn;
  int rv = key_decode(p, n, &type, &d, &dn, preason);
  if (rv != 0)
    return rv;
  pk->type = (int)type;
  if (type != WR_P2P_KEY_ED25519)
    FAIL(WR_ERR_UNSUPPORTED, "public key type is not Ed25519 (the only one warren verifies)");
  if (dn != 32)
    FAIL(WR_ERR_MALFORMED, "Ed25519 public key Data is not 32 bytes");
  memcpy(pk->ed25519, d, 32);
  return 0;
}

void wr_peerid_from_pubkey(wr_peerid *id, const wr_p2p_pubkey *pk) {
  memset(id, 0, sizeof *id);
  id->mh.code = WR_MH_IDENTITY;
  id->mh.size = WR_P2P_PUBKEY_ED25519_PB;
  wr_p2p_pubkey_encode(pk, id->mh.digest);
}

static int check_mh(const wr_mh *mh, const char **preason) {
  if (mh->code == WR_MH_IDENTITY) {
    if (mh->size > 42)
      FAIL(WR_ERR_MALFORMED, "identity peer ID longer than 42 bytes of key");
    wr_p2p_pubkey pk;
    int rv = wr_p2p_pubkey_decode(mh->digest, mh->size, &pk, preason);
    if (rv != 0 && rv != WR_ERR_UNSUPPORTED)
      return rv;
    return 0;
  }
  if (mh->code == WR_MH_SHA2_256) {
    if (mh->size != WR_SHA256_SIZE)
      FAIL(WR_ERR_MALFORMED, "sha2-256 peer ID digest is not 32 bytes");
    return 0;
  }
  FAIL(WR_ERR_MALFORMED, "peer ID multihash is neither identity nor sha2-256");
}

int wr_peerid_decode(const uint8_t *p, size_t n, wr_peerid *id, const char **preason) {
  memset(id, 0, sizeof *id);
  int rv = wr_mh_parse(p, n, &id->mh, preason);
  if (rv != 0)
    return rv;
  return check_mh(&id->mh, preason);
}

int wr_peerid_to_bytes(const wr_peerid *id, uint8_t *out, size_t cap) {
  return wr_mh_encode(&id->mh, out, cap);
}

int wr_peerid_parse(const char *s, size_t n, wr_peerid *id, const char **preason) {
  if (n == 0)
    FAIL(WR_ERR_MALFORMED, "empty peer ID");
  memset(id, 0, sizeof *id);
  if (s[0] == '1' || s[0] == 'Q') {
    /* The legacy form: base58btc without a multibase prefix. */
    uint8_t bytes[WR_MH_MAX_BYTES];
    size_t len;
    int rv = wr_base_decode(WR_MB_BASE58BTC, s, n, bytes, sizeof bytes, &len, preason);
    if (rv != 0)
      return rv;
    return wr_peerid_decode(bytes, len, id, preason);
  }
  wr_cid cid;
  int rv = wr_cid_parse(s, n, &cid, preason);
  if (rv != 0)
    return rv == WR_ERR_UNSUPPORTED ? WR_ERR_MALFORMED : rv;
  if (cid.version != 1 || cid.codec != WR_CODEC_LIBP2P_KEY)
    FAIL(WR_ERR_MALFORMED, "peer ID CID does not have the libp2p-key codec");
  id->mh = cid.mh;
  return check_mh(&id->mh, preason);
}

int wr_peerid_format(const wr_peerid *id, char *out, size_t cap) {
  uint8_t bytes[WR_MH_MAX_BYTES];
  int n = wr_mh_encode(&id->mh, bytes, sizeof bytes);
  if (n < 0)
    return n;
  return wr_base_encode(WR_MB_BASE58BTC, bytes, (size_t)n, out, cap);
}

int wr_peerid_format_cid(const wr_peerid *id, int base, char *out, size_t cap) {
  wr_cid cid;
  int rv = wr_cid_init(&cid, 1, WR_CODEC_LIBP2P_KEY, &id->mh);
  if (rv != 0)
    return rv;
  return wr_cid_format(&cid, base, out, cap);
}

int wr_peerid_pubkey(const wr_peerid *id, wr_p2p_pubkey *pk) {
  if (id->mh.code != WR_MH_IDENTITY)
    return WR_ERR_NOTFOUND;
  return wr_p2p_pubkey_decode(id->mh.digest, id->mh.size, pk, NULL);
}

int wr_peerid_equal(const wr_peerid *a, const wr_peerid *b) { return wr_mh_equal(&a->mh, &b->mh); }
