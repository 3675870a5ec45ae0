/* tlsext.c: the libp2p TLS certificate extension (proto/p2p/tlsext.h). */
#include "proto/p2p/tlsext.h"

#include <string.h>

#include "base/mem.h"

#define TAG_SEQUENCE 0x30
#define TAG_OCTET_STRING 0x04

static int put_len(wr_buf *out, size_t n) {
  uint8_t h[3];
  size_t k;
  if (n < 0x80) {
    h[0] = (uint8_t)n;
    k = 1;
  } else if (n < 0x100) {
    h[0] = 0x81;
    h[1] = (uint8_t)n;
    k = 2;
  } else if (n < 0x10000) {
    h[0] = 0x82;
    h[1] = (uint8_t)(n >> 8);
    h[2] = (uint8_t)n;
    k = 3;
  } else {
    return WR_ERR_INVAL;
  }
  return wr_buf_append(out, h, k);
}

static size_t len_size(size_t n) { return n < 0x80 ? 1 : n < 0x100 ? 2 : 3; }

int wr_p2p_signedkey_encode(const uint8_t *pubkey, size_t npubkey, const uint8_t *sig, size_t nsig,
                            wr_buf *out) {
  if (npubkey >= 0x10000 || nsig >= 0x10000)
    return WR_ERR_INVAL;
  size_t body = 1 + len_size(npubkey) + npubkey + 1 + len_size(nsig) + nsig;
  static const uint8_t seq = TAG_SEQUENCE, oct = TAG_OCTET_STRING;
  int rv = wr_buf_append(out, &seq, 1);
  if (rv == 0)
    rv = put_len(out, body);
  if (rv == 0)
    rv = wr_buf_append(out, &oct, 1);
  if (rv == 0)
    rv = put_len(out, npubkey);
  if (rv == 0)
    rv = wr_buf_append(out, pubkey, npubkey);
  if (rv == 0)
    rv = wr_buf_append(out, &oct, 1);
  if (rv == 0)
    rv = put_len(out, nsig);
  if (rv == 0)
    rv = wr_buf_append(out, sig, nsig);
  return rv;
}

/* Reads one DER header with tag want at *pos; DER's lengths are definite
 * and minimal, and this structure never needs more than two length bytes. */
static int get_tlv(const uint8_t *p, size_t n, size_t *pos, uint8_t want, const uint8_t **pval,
                   size_t *plen, const char **why) {
  size_t i = *pos;
  if (i >= n) {
    *why = "SignedKey ends before a field";
    return WR_ERR_MALFORMED;
  }
  if (p[i] != want) {
    *why = want == TAG_SEQUENCE ? "SignedKey is not a DER SEQUENCE"
                                : "SignedKey field is not an OCTET STRING";
    return WR_ERR_MALFORMED;
  }
  i++;
  if (i >= n) {
    *why = "SignedKey ends inside a length";
    return WR_ERR_MALFORMED;
  }
  size_t len;
  uint8_t b = p[i++];
  if (b < 0x80) {
    len = b;
  } else if (b == 0x81) {
    if (i + 1 > n) {
      *why = "SignedKey ends inside a length";
      return WR_ERR_MALFORMED;
    }
    len = p[i++];
    if (len < 0x80) {
      *why = "SignedKey has a non-minimal DER length";
      return WR_ERR_MALFORMED;
    }
  } else if (b == 0x82) {
    if (i + 2 > n) {
      *why = "SignedKey ends inside a length";
      return WR_ERR_MALFORMED;
    }
    len = ((size_t)p[i] << 8) | p[i + 1];
    i += 2;
    if (len < 0x100) {
      *why = "SignedKey has a non-minimal DER length";
      return WR_ERR_MALFORMED;
    }
  } else {
    *why = b == 0x80 ? "SignedKey has an indefinite length (not DER)"
                     : "SignedKey has a length over 64 KiB";
    return WR_ERR_MALFORMED;
  }
  if (len > n - i) {
    *why = "SignedKey field is longer than its input";
    return WR_ERR_MALFORMED;
  }
  *pval = p + i;
  *plen = len;
  *pos = i + len;
  return 0;
}

int wr_p2p_signedkey_decode(const uint8_t *p, size_t n, wr_p2p_signedkey *out,
                            const char **preason) {
  const char *dummy;
  const char **why = preason ? preason : &dummy;
  memset(out, 0, sizeof *out);
  if (n > WR_P2P_SIGNEDKEY_MAX) {
    *why = "SignedKey is longer than 2048 bytes";
    return WR_ERR_MALFORMED;
  }
  size_t pos = 0;
  const uint8_t *body;
  size_t nbody;
  int rv = get_tlv(p, n, &pos, TAG_SEQUENCE, &body, &nbody, why);
  if (rv != 0)
    return rv;
  if (pos != n) {
    *why = "bytes follow the SignedKey SEQUENCE";
    return WR_ERR_MALFORMED;
  }
  size_t bpos = 0;
  if ((rv = get_tlv(body, nbody, &bpos, TAG_OCTET_STRING, &out->pubkey, &out->npubkey, why)) != 0 ||
      (rv = get_tlv(body, nbody, &bpos, TAG_OCTET_STRING, &out->sig, &out->nsig, why)) != 0)
    return rv;
  if (bpos != nbody) {
    *why = "SignedKey has more than two fields";
    return WR_ERR_MALFORMED;
  }
  return 0;
}

/* The signed message: the prefix and the certificate's key. */
static int signed_message(const uint8_t *spki, size_t nspki, wr_buf *m) {
  int rv = wr_buf_puts(m, WR_P2P_TLS_SIGN_PREFIX);
  if (rv == 0)
    rv = wr_buf_append(m, spki, nspki);
  return rv;
}

int wr_p2p_signedkey_make(const wr_p2p_privkey *sk, const uint8_t *spki, size_t nspki,
                          wr_buf *out) {
  wr_buf m;
  wr_buf_init(&m, sizeof WR_P2P_TLS_SIGN_PREFIX + nspki);
  int rv = signed_message(spki, nspki, &m);
  if (rv == 0) {
    uint8_t sig[WR_P2P_ED25519_SIG], pb[WR_P2P_PUBKEY_ED25519_PB];
    wr_p2p_pubkey pk;
    wr_p2p_sign(sk, m.data, m.len, sig);
    wr_p2p_privkey_public(sk, &pk);
    wr_p2p_pubkey_encode(&pk, pb);
    rv = wr_p2p_signedkey_encode(pb, sizeof pb, sig, sizeof sig, out);
  }
  wr_buf_free(&m);
  return rv;
}

int wr_p2p_signedkey_verify(const wr_p2p_signedkey *sk, const uint8_t *spki, size_t nspki,
                            wr_peerid *id, const char **preason) {
  const char *dummy;
  const char **why = preason ? preason : &dummy;
  wr_p2p_pubkey pk;
  int rv = wr_p2p_pubkey_decode(sk->pubkey, sk->npubkey, &pk, why);
  if (rv != 0)
    return rv == WR_ERR_UNSUPPORTED ? rv : WR_ERR_MALFORMED;
  wr_buf m;
  wr_buf_init(&m, sizeof WR_P2P_TLS_SIGN_PREFIX + nspki);
  rv = signed_message(spki, nspki, &m);
  if (rv == 0 && wr_p2p_verify(&pk, m.data, m.len, sk->sig, sk->nsig) != 0) {
    *why = "the identity key's signature over the certificate key does not verify";
    rv = WR_ERR_DENIED;
  }
  wr_buf_free(&m);
  if (rv == 0)
    wr_peerid_from_pubkey(id, &pk);
  return rv;
}

int wr_p2p_cert_tbs(const uint8_t *p, size_t n, const uint8_t **ptbs, size_t *pntbs,
                    const char **preason) {
  const char *dummy;
  const char **why = preason ? preason : &dummy;
  size_t pos = 0, ipos = 0;
  const uint8_t *body, *tbody;
  size_t nbody, ntbody;
  if (get_tlv(p, n, &pos, TAG_SEQUENCE, &body, &nbody, why) != 0 || pos != n) {
    *why = "the certificate is not one DER SEQUENCE";
    return WR_ERR_MALFORMED;
  }
  if (get_tlv(body, nbody, &ipos, TAG_SEQUENCE, &tbody, &ntbody, why) != 0) {
    *why = "the certificate does not start with a DER TBSCertificate";
    return WR_ERR_MALFORMED;
  }
  *ptbs = body;
  *pntbs = ipos;
  return 0;
}
