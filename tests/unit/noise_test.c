/* noise_test.c: the XX handshake between two instances, payload checks,
 * tampering, and transport ciphers. */
#include <sodium.h>

#include "proto/p2p/noise.h"
#include "test.h"

typedef struct side {
  wr_noise_hs hs;
  wr_p2p_privkey id;
  wr_peerid pid;
} side;

static void setup(side *s, int initiator, uint8_t seed) {
  uint8_t k[32], st[32], e[32];
  memset(k, seed, 32);
  memset(st, seed + 1, 32);
  memset(e, seed + 2, 32);
  wr_p2p_privkey_from_seed(&s->id, k);
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&s->id, &pk);
  wr_peerid_from_pubkey(&s->pid, &pk);
  wr_noise_hs_init(&s->hs, initiator, st, e);
}

/* Runs the three messages; tamper_at >= 0 flips that byte of message 2. */
static int run(side *a, side *b, long tamper_at, const char **pwhy) {
  wr_buf m, p, pl;
  wr_buf_init(&m, 70000);
  wr_buf_init(&p, 70000);
  wr_buf_init(&pl, 1024);
  int rv = 0;
  wr_peerid got;
  CHECK(wr_noise_hs_our_turn(&a->hs));
  CHECK(!wr_noise_hs_our_turn(&b->hs));
  CHECK_EQ(wr_noise_hs_write(&a->hs, NULL, 0, &m), 0);
  CHECK_EQ(m.len, 32);
  CHECK_EQ(wr_noise_hs_read(&b->hs, m.data, m.len, &p, pwhy), 0);
  CHECK_EQ(p.len, 0);
  wr_buf_reset(&m);
  CHECK_EQ(wr_noise_payload_make(&b->id, b->hs.s_pk, &pl), 0);
  CHECK_EQ(wr_noise_hs_write(&b->hs, pl.data, pl.len, &m), 0);
  CHECK_EQ(m.len, 32 + 48 + pl.len + 16);
  if (tamper_at >= 0)
    m.data[tamper_at] ^= 0x40;
  rv = wr_noise_hs_read(&a->hs, m.data, m.len, &p, pwhy);
  if (rv != 0)
    goto out;
  rv = wr_noise_payload_check(p.data, p.len, a->hs.rs, &got, pwhy);
  if (rv != 0)
    goto out;
  CHECK(wr_peerid_equal(&got, &b->pid));
  wr_buf_reset(&m);
  wr_buf_reset(&p);
  wr_buf_reset(&pl);
  CHECK_EQ(wr_noise_payload_make(&a->id, a->hs.s_pk, &pl), 0);
  CHECK_EQ(wr_noise_hs_write(&a->hs, pl.data, pl.len, &m), 0);
  CHECK_EQ(wr_noise_hs_read(&b->hs, m.data, m.len, &p, pwhy), 0);
  CHECK_EQ(wr_noise_payload_check(p.data, p.len, b->hs.rs, &got, pwhy), 0);
  CHECK(wr_peerid_equal(&got, &a->pid));
  CHECK(wr_noise_hs_done(&a->hs) && wr_noise_hs_done(&b->hs));
out:
  wr_buf_free(&m);
  wr_buf_free(&p);
  wr_buf_free(&pl);
  return rv;
}

static void test_handshake_and_transport(void) {
  side a, b;
  setup(&a, 1, 10);
  setup(&b, 0, 20);
  const char *why = NULL;
  CHECK_EQ(run(&a, &b, -1, &why), 0);
  CHECK(memcmp(a.hs.h, b.hs.h, 32) == 0); /* same transcript */
  wr_noise_cipher as, ar, bs, br;
  wr_noise_hs_split(&a.hs, &as, &ar);
  wr_noise_hs_split(&b.hs, &bs, &br);
  uint8_t ct[64 + 16], pt[64];
  for (int i = 0; i < 3; i++) {
    wr_noise_encrypt(&as,
                     (const uint8_t *)"0123456789abcdef0123456789abcdef0123456789abcdef0123"
                                      "456789abcdef",
                     64, ct);
    CHECK_EQ(wr_noise_decrypt(&br, ct, sizeof ct, pt), 0);
    CHECK_MEMEQ(pt, "0123456789abcdef", 16);
  }
  wr_noise_encrypt(&bs, pt, 10, ct);
  CHECK_EQ(wr_noise_decrypt(&ar, ct, 26, pt), 0);
  /* A replay (nonce already used) and a flipped byte fail. */
  CHECK_EQ(wr_noise_decrypt(&ar, ct, 26, pt), WR_ERR_DENIED);
  wr_noise_encrypt(&bs, pt, 10, ct);
  ct[3] ^= 1;
  CHECK_EQ(wr_noise_decrypt(&ar, ct, 26, pt), WR_ERR_DENIED);
  CHECK_EQ(wr_noise_decrypt(&ar, ct, 15, pt), WR_ERR_DENIED);
}

static void test_tamper(void) {
  const char *why = NULL;
  side a, b;
  setup(&a, 1, 10);
  setup(&b, 0, 20);
  CHECK_EQ(run(&a, &b, 40, &why), WR_ERR_DENIED); /* inside the encrypted static key */
  CHECK_STREQ(why, "Noise static key fails authentication");
  setup(&a, 1, 10);
  setup(&b, 0, 20);
  CHECK_EQ(run(&a, &b, 100, &why), WR_ERR_DENIED); /* inside the payload */
  CHECK_STREQ(why, "Noise handshake payload fails authentication");
}

static void test_payload(void) {
  uint8_t seed[32] = {7}, spk[32] = {9}, other[32] = {8};
  wr_p2p_privkey id;
  wr_p2p_privkey_from_seed(&id, seed);
  wr_buf pl;
  wr_buf_init(&pl, 1024);
  CHECK_EQ(wr_noise_payload_make(&id, spk, &pl), 0);
  wr_peerid pid;
  const char *why = NULL;
  CHECK_EQ(wr_noise_payload_check(pl.data, pl.len, spk, &pid, &why), 0);
  /* Signed over another static key: the peer does not own this session. */
  CHECK_EQ(wr_noise_payload_check(pl.data, pl.len, other, &pid, &why), WR_ERR_DENIED);
  CHECK_STREQ(why, "Noise payload signature does not cover the peer's static key");
  CHECK_EQ(wr_noise_payload_check(pl.data, 38, spk, &pid, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "Noise payload lacks the identity key or its signature");
  CHECK_EQ(wr_noise_payload_check(pl.data, pl.len - 1, spk, &pid, &why), WR_ERR_MALFORMED);
  wr_buf_free(&pl);
}

static void test_turns(void) {
  side a;
  setup(&a, 0, 1);
  wr_buf m;
  wr_buf_init(&m, 1024);
  CHECK_EQ(wr_noise_hs_write(&a.hs, NULL, 0, &m), WR_ERR_INVAL);
  const char *why = NULL;
  CHECK_EQ(wr_noise_hs_read(&a.hs, (const uint8_t *)"short", 5, &m, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "Noise handshake message shorter than an ephemeral key");
  /* An all-zero ephemeral key is a low-order point. */
  side b;
  setup(&b, 1, 3);
  uint8_t zero[32] = {0};
  CHECK_EQ(wr_noise_hs_write(&b.hs, NULL, 0, &m), 0);
  CHECK_EQ(wr_noise_hs_read(&a.hs, zero, 32, &m, &why), 0);
  wr_buf_reset(&m);
  CHECK_EQ(wr_noise_hs_write(&a.hs, NULL, 0, &m), WR_ERR_MALFORMED);
  wr_buf_free(&m);
}

/* The transport cipher (OpenSSL's) writes exactly what libsodium's
 * ChaCha20-Poly1305 IETF writes under Noise's nonce (4 zero bytes, then the
 * counter little-endian), and reads it back; a flipped tag bit is refused
 * and leaves no plaintext behind. */
static void test_cipher_matches_libsodium(void) {
  static uint8_t pt[WR_NOISE_MAX_PLAINTEXT], ct[WR_NOISE_MAX_MSG], ref[WR_NOISE_MAX_MSG],
      back[WR_NOISE_MAX_PLAINTEXT];
  for (size_t i = 0; i < sizeof pt; i++)
    pt[i] = (uint8_t)(i * 31 + 7);
  size_t lens[] = {0, 1, 64, 1000, WR_NOISE_MAX_PLAINTEXT};
  wr_noise_cipher tx, rx;
  memset(&tx, 0, sizeof tx);
  for (int i = 0; i < 32; i++)
    tx.k[i] = (uint8_t)(0xa0 + i);
  tx.n = 0x0102030405ull;
  rx = tx;
  for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
    size_t n = lens[t];
    uint8_t iv[12] = {0};
    for (int i = 0; i < 8; i++)
      iv[4 + i] = (uint8_t)(tx.n >> (8 * i));
    unsigned long long rl;
    crypto_aead_chacha20poly1305_ietf_encrypt(ref, &rl, pt, n, NULL, 0, NULL, iv, tx.k);
    wr_noise_encrypt(&tx, pt, n, ct);
    CHECK_EQ(rl, n + WR_NOISE_TAG);
    CHECK_MEMEQ(ct, ref, n + WR_NOISE_TAG);
    CHECK_EQ(wr_noise_decrypt(&rx, ct, n + WR_NOISE_TAG, back), 0);
    if (n)
      CHECK_MEMEQ(back, pt, n);
  }
  CHECK_EQ(tx.n, rx.n);
  wr_noise_encrypt(&tx, pt, 1000, ct);
  ct[1000 + 3] ^= 0x10;
  memset(back, 0x55, 1000);
  CHECK_EQ(wr_noise_decrypt(&rx, ct, 1000 + WR_NOISE_TAG, back), WR_ERR_DENIED);
  for (size_t i = 0; i < 1000; i++)
    CHECK_EQ(back[i], 0);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  RUN(test_handshake_and_transport);
  RUN(test_tamper);
  RUN(test_payload);
  RUN(test_turns);
  RUN(test_cipher_matches_libsodium);
  return test_done();
}
