/* tls.h: GnuTLS credentials and per-connection TLS 1.3 sessions for QUIC.
 *
 * The server side loads a certificate chain and key from PEM files, or creates
 * a self-signed pair for development (wr_tls_self_signed_ensure). The client
 * side trusts either a CA file or pinned SHA-256 fingerprints, and refuses a
 * server that matches neither with one clear sentence (wr_tls_session.error).
 *
 * A wr_tls_session ties one gnutls_session_t to one ngtcp2_conn through
 * ngtcp2_crypto_gnutls; src/net/quic.c owns those. The credential
 * objects are shared by every session made from them and must outlive them. */
#ifndef WR_NET_TLS_H
#define WR_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "base/err.h"
#include "proto/p2p/peerid.h"

/* File names wr_tls_self_signed_ensure uses inside its directory. */
#define WR_TLS_SELF_SIGNED_CERT "edge.crt"
#define WR_TLS_SELF_SIGNED_KEY "edge.key"

/* "sha256:" + 64 hex digits + NUL. */
#define WR_TLS_FINGERPRINT_LEN 72
/* Most pins a client accepts (a rollover needs two). */
#define WR_TLS_MAX_PINS 8
/* Room for the one-sentence reasons the functions below give. */
#define WR_TLS_ERRLEN 320

typedef struct wr_tls_server wr_tls_server;
typedef struct wr_tls_client wr_tls_client;

/* Loads the server's certificate chain (leaf first) and private key from PEM
 * files and checks that the key belongs to the leaf. Returns 0 and a new object
 * in *psrv, or WR_ERR_IO (unreadable file), WR_ERR_MALFORMED (no PEM
 * certificate or key in the file), WR_ERR_INVAL (key does not match),
 * WR_ERR_NOMEM; then err (if not NULL) holds a sentence for the user. */
WR_MUST_CHECK int wr_tls_server_new(wr_tls_server **psrv, const char *cert_file,
                                    const char *key_file, char *err, size_t errlen);
void wr_tls_server_del(wr_tls_server *srv);

/* Adds another certificate chain and key (checked as wr_tls_server_new does).
 * A handshake gets the certificate whose names match the client's SNI; the
 * first one when none matches or no SNI was sent (GnuTLS chooses). The
 * fingerprint and derived secrets stay those of the first pair. */
WR_MUST_CHECK int wr_tls_server_add_cert(wr_tls_server *srv, const char *cert_file,
                                         const char *key_file, char *err, size_t errlen);

/* The leaf certificate's fingerprint, "sha256:<hex of the DER certificate>",
 * into out (WR_TLS_FINGERPRINT_LEN bytes). A client can pin it. */
void wr_tls_server_fingerprint(const wr_tls_server *srv, char *out);

/* Derives outlen (<= 32) secret bytes from the server's private key and a
 * label, with HMAC-SHA-256. The same key gives the same bytes after a restart,
 * so stateless reset tokens and Retry tokens survive it without a state file. */
WR_MUST_CHECK int wr_tls_server_derive_secret(const wr_tls_server *srv, const char *label,
                                              uint8_t *out, size_t outlen);

/* Makes sure DIR/edge.crt and DIR/edge.key exist. When both are missing it
 * creates DIR (mode 0700) if needed, and a new ECDSA P-256 key (mode 0600) and
 * a self-signed certificate that is also its own CA (CA:TRUE, keyCertSign), so
 * a client can use edge.crt as its CA file. Its subjectAltNames are localhost,
 * 127.0.0.1, ::1 and each of names (IP literals become IP SANs, the rest DNS
 * names). When both exist it leaves them alone. *pcreated (may be NULL) tells
 * which happened. Returns 0, or WR_ERR_EXISTS when only one of the two files is
 * there (nothing is overwritten), WR_ERR_IO, WR_ERR_INVAL (a bad name),
 * WR_ERR_NOMEM; err then says what failed. */
WR_MUST_CHECK int wr_tls_self_signed_ensure(const char *dir, const char *const *names,
                                            size_t nnames, int *pcreated, char *err,
                                            size_t errlen);

/* Fingerprint of the first certificate in a PEM file, as wr_tls_server_fingerprint. */
WR_MUST_CHECK int wr_tls_cert_file_fingerprint(const char *cert_file, char *out, char *err,
                                               size_t errlen);

/* How a client decides to trust a server. At least one of ca_file, pins,
 * system_trust or no_verify is needed. */
typedef struct wr_tls_client_config {
  /* PEM file of trust anchors. The chain must verify against it and the leaf
   * must carry the dialed name (or IP address) in a subjectAltName, except when
   * the leaf is itself one of these anchors: trusting a self-signed
   * certificate by its exact bytes is already a pin, so any address works. */
  const char *ca_file;
  /* Comma-separated SHA-256 pins: each "sha256:HEX" or bare HEX (colons
   * allowed), matching either the DER certificate or its SubjectPublicKeyInfo
   * (the key's pin survives a re-issued certificate). */
  const char *pins;
  /* Also trust the system's CA store (gnutls_x509_trust_list_add_system_trust),
   * with the chain and the dialed name checked as for ca_file (origins:
   * cloudflared's default when no caPool is given). */
  int system_trust;
  /* Accept any certificate (origins' noTLSVerify): the connection is
   * encrypted but the peer is not authenticated. The caller warns the user. */
  int no_verify;
} wr_tls_client_config;

/* Builds client credentials. Returns 0, or WR_ERR_INVAL (no CA file, pins,
 * system trust nor no_verify, or a malformed pin), WR_ERR_IO / WR_ERR_MALFORMED (CA file), WR_ERR_NOMEM;
 * err says which. */
WR_MUST_CHECK int wr_tls_client_new(wr_tls_client **pcli, const wr_tls_client_config *cfg,
                                    char *err, size_t errlen);
void wr_tls_client_del(wr_tls_client *cli);

/* Parses one pin ("sha256:HEX" or HEX, colons allowed) into 32 bytes.
 * WR_ERR_INVAL when it is not 64 hex digits. */
WR_MUST_CHECK int wr_tls_parse_pin(const char *pin, size_t len, uint8_t out[32]);

/* One TLS session bound to one ngtcp2 connection. conn_ref must stay first:
 * ngtcp2_crypto_gnutls finds it through gnutls_session_get_ptr. */
typedef struct wr_tls_session {
  ngtcp2_crypto_conn_ref conn_ref;
  gnutls_session_t gs;
  const wr_tls_client *client; /* NULL on the server side */
  char verify_name[256];       /* the name or IP literal the client dialed */
  char error[WR_TLS_ERRLEN];   /* why the peer was refused, "" otherwise */
  int libp2p;                  /* libp2p TLS: the peer is checked by its certificate's key */
  int has_peer;                /* libp2p: peer holds the verified peer ID */
  wr_peerid peer;
} wr_tls_session;

/* Starts a server session. alpn is a comma-separated list of protocols the
 * server accepts (its preference order); a client offering none of them is
 * refused with no_application_protocol. get_conn/user_data fill conn_ref.
 * Returns 0, WR_ERR_INVAL (empty ALPN list) or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_tls_session_init_server(wr_tls_session *s, const wr_tls_server *srv,
                                             const char *alpn, ngtcp2_crypto_get_conn get_conn,
                                             void *user_data);

/* Starts a client session that offers alpn (comma-separated) and verifies the
 * server against cli for the name `name` (a DNS name or an IP literal). SNI is
 * sent only for DNS names (RFC 6066 forbids literals). Errors as above. */
WR_MUST_CHECK int wr_tls_session_init_client(wr_tls_session *s, const wr_tls_client *cli,
                                             const char *name, const char *alpn,
                                             ngtcp2_crypto_get_conn get_conn, void *user_data);

/* Flags for sessions over a byte stream (TLS over TCP). */
#define WR_TLS_STREAM_TLS13_ONLY 0x1u    /* refuse TLS 1.2 (tunnels bind to the 1.3 exporter) */
/* Server: admit a client that offers no ALPN. Client: accept a server that
 * selects none (HTTPS origins often do not speak ALPN). */
#define WR_TLS_STREAM_ALPN_OPTIONAL 0x2u

/* Server and client sessions for TLS over a byte stream (net/tls_stream.c
 * drives them with its own push/pull functions): the same
 * credentials, ALPN rules (a client offering none of alpn is refused; one
 * offering no ALPN at all too, unless WR_TLS_STREAM_ALPN_OPTIONAL), the same
 * verification and refusal sentences (s->error) and SNI as the QUIC sessions,
 * without the QUIC glue. TLS 1.2 and 1.3 unless WR_TLS_STREAM_TLS13_ONLY.
 * The session pointer (gnutls_session_get_ptr) is s; conn_ref is unused.
 * Errors as wr_tls_session_init_server/client. */
WR_MUST_CHECK int wr_tls_session_init_stream_server(wr_tls_session *s, const wr_tls_server *srv,
                                                    const char *alpn, unsigned flags);
WR_MUST_CHECK int wr_tls_session_init_stream_client(wr_tls_session *s, const wr_tls_client *cli,
                                                    const char *name, const char *alpn,
                                                    unsigned flags);

/* libp2p TLS (libp2p specs, tls/tls.md): server and client credentials for
 * one host, sharing a fresh ECDSA P-256 key and a self-signed certificate
 * whose libp2p extension (OID 1.3.6.1.4.1.53594.1.1) carries identity's
 * public key and its signature over the certificate's SubjectPublicKeyInfo.
 * Sessions made from them present that certificate (the server asks for
 * the client's too) and accept exactly one self-signed peer certificate whose
 * extension verifies; the peer ID it proves is then in the session
 * (has_peer, peer). Comparing it with the dialed /p2p/ID is the caller's. A
 * refusal says why in s->error. 0, WR_ERR_NOMEM, WR_ERR_IO; err says which. */
WR_MUST_CHECK int wr_tls_libp2p_new(wr_tls_server **psrv, wr_tls_client **pcli,
                                    const wr_p2p_privkey *identity, char *err, size_t errlen);
/* The check a libp2p session applies to the peer's DER certificate: valid
 * now, self-signature good, no unknown critical extension, one libp2p
 * extension whose Ed25519 signature covers the certificate's key. 0 and the
 * peer ID, or WR_ERR_MALFORMED, WR_ERR_DENIED, WR_ERR_UNSUPPORTED (an
 * identity key other than Ed25519), with why. */
WR_MUST_CHECK int wr_tls_libp2p_check_cert(const uint8_t *der, size_t n, wr_peerid *peer,
                                           char *why, size_t whylen);

/* Frees the GnuTLS session (safe on a zeroed or already freed session). */
void wr_tls_session_free(wr_tls_session *s);

/* Copies the negotiated ALPN into out (NUL-terminated, "" before it is known). */
void wr_tls_session_alpn(const wr_tls_session *s, char *out, size_t outlen);

/* TLS 1.3 exporter (RFC 8446 7.5) into out[outlen]: label and context bind the
 * value to a use; both ends of one session get the same bytes, no other session
 * does. WR_ERR_INVAL before the handshake completed. */
WR_MUST_CHECK int wr_tls_session_export(const wr_tls_session *s, const char *label,
                                        const uint8_t *context, size_t contextlen, uint8_t *out,
                                        size_t outlen);

#endif
