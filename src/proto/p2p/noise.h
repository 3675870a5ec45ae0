/* noise.h: the Noise XX handshake libp2p uses (libp2p specs, noise/), sans-I/O.
 *
 * Noise_XX_25519_ChaChaPoly_SHA256 with an empty prologue:
 *   -> e
 *   <- e, ee, s, es     + the responder's NoiseHandshakePayload
 *   -> s, se            + the initiator's NoiseHandshakePayload
 * Every handshake and transport message travels with a 2-byte big-endian
 * length before it (at most 65535 bytes). The payload proves the peer's
 * libp2p identity: its PublicKey protobuf and its signature over
 * "noise-libp2p-static-key:" || the Noise static key.
 *
 * The caller draws the static and ephemeral X25519 secrets (src/proto draws
 * no randomness) and moves bytes; this file hashes, mixes keys and
 * encrypts. After the third message both sides split into two cipher states
 * (wr_noise_cipher), one per direction. */
#ifndef WR_PROTO_P2P_NOISE_H
#define WR_PROTO_P2P_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/p2p/peerid.h"

#define WR_NOISE_PROTOCOL "/noise"
#define WR_NOISE_MAX_MSG 65535
#define WR_NOISE_TAG 16
/* Most plaintext one transport message carries. */
#define WR_NOISE_MAX_PLAINTEXT (WR_NOISE_MAX_MSG - WR_NOISE_TAG)
#define WR_NOISE_SIG_PREFIX "noise-libp2p-static-key:"

typedef struct wr_noise_cipher {
  uint8_t k[32];
  uint64_t n;
} wr_noise_cipher;

typedef struct wr_noise_hs {
  int initiator;
  int step; /* messages processed so far: 0..3 */
  uint8_t ck[32], h[32];
  wr_noise_cipher cs;
  int has_key;
  uint8_t s_sk[32], s_pk[32], e_sk[32], e_pk[32];
  uint8_t rs[32], re[32];
} wr_noise_hs;

/* Starts a handshake with our static and ephemeral X25519 secrets. */
void wr_noise_hs_init(wr_noise_hs *hs, int initiator, const uint8_t static_sk[32],
                      const uint8_t ephemeral_sk[32]);
/* 1 when it is our turn to write. */
int wr_noise_hs_our_turn(const wr_noise_hs *hs);
/* 1 after the third message. */
int wr_noise_hs_done(const wr_noise_hs *hs);
/* Writes our next handshake message (without the length prefix) carrying
 * payload into out. WR_ERR_INVAL (not our turn), WR_ERR_LIMIT (over 65535
 * bytes), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_noise_hs_write(wr_noise_hs *hs, const uint8_t *payload, size_t plen,
                                    wr_buf *out);
/* Reads the peer's next message (without the length prefix); the decrypted
 * payload goes to out. WR_ERR_MALFORMED (too short, a low-order key),
 * WR_ERR_DENIED (authentication failed), with *preason. */
WR_MUST_CHECK int wr_noise_hs_read(wr_noise_hs *hs, const uint8_t *msg, size_t n, wr_buf *out,
                                   const char **preason);
/* After the third message: the remote static key and the two ciphers. */
void wr_noise_hs_split(wr_noise_hs *hs, wr_noise_cipher *send, wr_noise_cipher *recv);

/* Encrypts n bytes (at most WR_NOISE_MAX_PLAINTEXT) into out (n + 16). */
void wr_noise_encrypt(wr_noise_cipher *c, const uint8_t *in, size_t n, uint8_t *out);
/* Decrypts a message of n bytes (>= 16) into out (n - 16). WR_ERR_DENIED. */
WR_MUST_CHECK int wr_noise_decrypt(wr_noise_cipher *c, const uint8_t *in, size_t n, uint8_t *out);

/* The handshake payload: our identity key and its signature of our static
 * key. Appends the protobuf to out. */
WR_MUST_CHECK int wr_noise_payload_make(const wr_p2p_privkey *id, const uint8_t static_pk[32],
                                        wr_buf *out);
/* Checks a peer's payload against its static key: 0 with *pid set;
 * WR_ERR_MALFORMED, WR_ERR_UNSUPPORTED (key type), WR_ERR_DENIED (bad
 * signature), with *preason. Unknown fields and extensions are skipped. */
WR_MUST_CHECK int wr_noise_payload_check(const uint8_t *p, size_t n, const uint8_t static_pk[32],
                                         wr_peerid *pid, const char **preason);

#endif
