/* peerid.h: libp2p keys and peer IDs (libp2p specs, peer-ids/peer-ids.md).
 *
 * A public key travels as the protobuf PublicKey {1: KeyType Type, 2: bytes
 * Data}; a peer ID is the multihash of those bytes: the identity multihash
 * when they are at most 42 bytes (every Ed25519 key), sha2-256 otherwise.
 * Text forms: the bare base58btc multihash ("12D3KooW...", "Qm...") and the
 * CIDv1 with codec libp2p-key in any multibase ("bafzaa...", "k51...").
 * Only Ed25519 keys can sign and verify here; a peer ID of another key type
 * parses and prints, and its key answers WR_ERR_UNSUPPORTED.
 *
 * The private key is kept as libp2p's PrivateKey protobuf with Type Ed25519
 * and Data = 32-byte seed || 32-byte public key (64 bytes), the form kubo
 * stores base64-encoded in its config's Identity.PrivKey. */
#ifndef WR_PROTO_P2P_PEERID_H
#define WR_PROTO_P2P_PEERID_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/multihash.h"

enum { WR_P2P_KEY_RSA = 0, WR_P2P_KEY_ED25519 = 1, WR_P2P_KEY_SECP256K1 = 2, WR_P2P_KEY_ECDSA = 3 };

#define WR_P2P_ED25519_PUB 32
#define WR_P2P_ED25519_SIG 64
/* Encoded PublicKey of an Ed25519 key: 08 01 12 20 || 32 bytes. */
#define WR_P2P_PUBKEY_ED25519_PB 36
/* Encoded PrivateKey of an Ed25519 key: 08 01 12 40 || 64 bytes. */
#define WR_P2P_PRIVKEY_ED25519_PB 68
/* Longest peer ID text (base58 of a 132-byte multihash, or a CID). */
#define WR_PEERID_MAX_STR 256

typedef struct wr_p2p_pubkey {
  int type;                            /* WR_P2P_KEY_* */
  uint8_t ed25519[WR_P2P_ED25519_PUB]; /* when type is Ed25519 */
} wr_p2p_pubkey;

typedef struct wr_p2p_privkey {
  uint8_t sk[64]; /* libsodium's secret key: seed || public key */
} wr_p2p_privkey;

typedef struct wr_peerid {
  wr_mh mh; /* identity (inline key) or sha2-256 */
} wr_peerid;

/* Makes a key pair from a 32-byte seed (the caller draws it at random). */
void wr_p2p_privkey_from_seed(wr_p2p_privkey *sk, const uint8_t seed[32]);
void wr_p2p_privkey_public(const wr_p2p_privkey *sk, wr_p2p_pubkey *pk);
/* Ed25519 signature of msg into sig (64 bytes). */
void wr_p2p_sign(const wr_p2p_privkey *sk, const void *msg, size_t n,
                 uint8_t sig[WR_P2P_ED25519_SIG]);
/* 0 when sig is pk's signature of msg; WR_ERR_DENIED when not,
 * WR_ERR_UNSUPPORTED for a key type other than Ed25519. */
WR_MUST_CHECK int wr_p2p_verify(const wr_p2p_pubkey *pk, const void *msg, size_t n,
                                const uint8_t *sig, size_t siglen);

/* Writes the PrivateKey protobuf (68 bytes). */
void wr_p2p_privkey_encode(const wr_p2p_privkey *sk, uint8_t out[WR_P2P_PRIVKEY_ED25519_PB]);
/* Reads a PrivateKey protobuf: Type Ed25519, Data 64 bytes whose second half
 * is the public key of the first. WR_ERR_MALFORMED, WR_ERR_UNSUPPORTED (other
 * key types), with *preason. */
WR_MUST_CHECK int wr_p2p_privkey_decode(const uint8_t *p, size_t n, wr_p2p_privkey *sk,
                                        const char **preason);

/* Writes the PublicKey protobuf of an Ed25519 key (36 bytes). */
void wr_p2p_pubkey_encode(const wr_p2p_pubkey *pk, uint8_t out[WR_P2P_PUBKEY_ED25519_PB]);
/* Reads a PublicKey protobuf in the deterministic form the spec requires
 * (Type then Data, each once, nothing else). An Ed25519 key must have 32
 * bytes of Data. Other key types: WR_ERR_UNSUPPORTED. */
WR_MUST_CHECK int wr_p2p_pubkey_decode(const uint8_t *p, size_t n, wr_p2p_pubkey *pk,
                                       const char **preason);

/* The peer ID of an Ed25519 key (identity multihash). */
void wr_peerid_from_pubkey(wr_peerid *id, const wr_p2p_pubkey *pk);
/* Reads a binary peer ID (a multihash): identity over a valid PublicKey of
 * at most 42 bytes, or sha2-256 with 32 bytes. */
WR_MUST_CHECK int wr_peerid_decode(const uint8_t *p, size_t n, wr_peerid *id, const char **preason);
/* Writes the multihash bytes into out; returns the length or WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_peerid_to_bytes(const wr_peerid *id, uint8_t *out, size_t cap);
/* Parses either text form. */
WR_MUST_CHECK int wr_peerid_parse(const char *s, size_t n, wr_peerid *id, const char **preason);
/* base58btc text, NUL-terminated; returns the length or WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_peerid_format(const wr_peerid *id, char *out, size_t cap);
/* CIDv1 libp2p-key text in base (WR_MB_BASE32, WR_MB_BASE36). */
WR_MUST_CHECK int wr_peerid_format_cid(const wr_peerid *id, int base, char *out, size_t cap);
/* The public key inlined in an identity peer ID; WR_ERR_NOTFOUND for a
 * hashed one, WR_ERR_UNSUPPORTED for a non-Ed25519 key. */
WR_MUST_CHECK int wr_peerid_pubkey(const wr_peerid *id, wr_p2p_pubkey *pk);
int wr_peerid_equal(const wr_peerid *a, const wr_peerid *b);

#endif
