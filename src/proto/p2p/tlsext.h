/* tlsext.h: the libp2p public key extension of libp2p TLS certificates
 * (libp2p specs, tls/tls.md).
 *
 * A libp2p TLS peer presents a self-signed certificate whose key is
 * unrelated to its identity; the extension (OID 1.3.6.1.4.1.53594.1.1)
 * carries the DER SignedKey ::= SEQUENCE { publicKey OCTET STRING,
 * signature OCTET STRING }: the identity's PublicKey protobuf and its
 * signature over "libp2p-tls-handshake:" || the certificate's
 * SubjectPublicKeyInfo (DER). This module encodes and strictly decodes
 * that structure and checks the signature; certificates themselves are
 * net/tls's business. Sans-I/O. */
#ifndef WR_PROTO_P2P_TLSEXT_H
#define WR_PROTO_P2P_TLSEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/p2p/peerid.h"

#define WR_P2P_TLS_EXT_OID "1.3.6.1.4.1.53594.1.1"
#define WR_P2P_TLS_SIGN_PREFIX "libp2p-tls-handshake:"
#define WR_P2P_TLS_ALPN "libp2p"
/* Largest extension value accepted (an RSA-4096 key and signature fit). */
#define WR_P2P_SIGNEDKEY_MAX 2048

/* A decoded SignedKey: views into the input. */
typedef struct wr_p2p_signedkey {
  const uint8_t *pubkey; /* PublicKey protobuf */
  size_t npubkey;
  const uint8_t *sig;
  size_t nsig;
} wr_p2p_signedkey;

/* Appends the DER SignedKey to out. 0, WR_ERR_INVAL (a field over 64 KiB),
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_p2p_signedkey_encode(const uint8_t *pubkey, size_t npubkey, const uint8_t *sig,
                                          size_t nsig, wr_buf *out);
/* Reads a DER SignedKey: one SEQUENCE of exactly two OCTET STRINGs, minimal
 * definite lengths, nothing after it. 0 or WR_ERR_MALFORMED with *preason. */
WR_MUST_CHECK int wr_p2p_signedkey_decode(const uint8_t *p, size_t n, wr_p2p_signedkey *out,
                                          const char **preason);
/* Makes the extension value for identity key sk and certificate key spki
 * (DER SubjectPublicKeyInfo). 0, WR_ERR_INVAL, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_p2p_signedkey_make(const wr_p2p_privkey *sk, const uint8_t *spki, size_t nspki,
                                        wr_buf *out);
/* Checks that sk's signature covers spki with sk's identity key and gives
 * the peer ID. 0; WR_ERR_MALFORMED (bad PublicKey), WR_ERR_UNSUPPORTED (a
 * key type other than Ed25519), WR_ERR_DENIED (bad signature); *preason. */
WR_MUST_CHECK int wr_p2p_signedkey_verify(const wr_p2p_signedkey *sk, const uint8_t *spki,
                                          size_t nspki, wr_peerid *id, const char **preason);
/* The DER TBSCertificate (header included) of a DER certificate: the bytes
 * its signature covers. Certificates up to 64 KiB. 0 or WR_ERR_MALFORMED. */
WR_MUST_CHECK int wr_p2p_cert_tbs(const uint8_t *p, size_t n, const uint8_t **ptbs, size_t *pntbs,
                                  const char **preason);

#endif
