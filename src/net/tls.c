/* tls.c: GnuTLS credentials, self-signed certificates and QUIC TLS sessions. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "base/buf.h"
#include "base/mem.h"
#include "io/file.h"
#include "io/random.h"
#include "proto/p2p/tlsext.h"

/* TLS 1.3 only (QUIC needs it), the AEADs ngtcp2 supports, no middlebox
 * compatibility mode (RFC 9001 8.4 forbids it). */
static const char priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:%DISABLE_TLS13_COMPAT_MODE";

#define MAX_ALPN 8
#define MAX_ANCHORS 64

struct wr_tls_server {
  gnutls_certificate_credentials_t cred;
  int libp2p; /* require a client certificate and check it as libp2p's */
  uint8_t fingerprint[32];
  uint8_t master[32]; /* HMAC key for wr_tls_server_derive_secret */
};

struct wr_tls_client {
  gnutls_certificate_credentials_t cred;
  int libp2p;                     /* present our certificate and check the server's as libp2p's */
  gnutls_x509_trust_list_t trust; /* NULL without a CA file or system trust */
  char ca_file[256];
  char trust_desc[320]; /* "the CA file F", "the system's CAs", or both, for refusals */
  int no_verify;
  uint8_t anchor_hash[MAX_ANCHORS][32]; /* SHA-256 of each anchor's DER */
  size_t nanchors;
  uint8_t pins[WR_TLS_MAX_PINS][32];
  size_t npins;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Reads a whole (small) file into d, allocated with gnutls_malloc so it can be
 * released with gnutls_free. WR_ERR_IO with err set when it cannot be read. */
static int read_file(const char *path, gnutls_datum_t *d, const char *what, char *err,
                     size_t errlen) {
  d->data = NULL;
  d->size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "cannot read the %s file %s: %s", what, path, strerror(errno));
    return errno == ENOMEM ? WR_ERR_NOMEM : WR_ERR_IO;
  }
  size_t cap = 0, len = 0;
  uint8_t *buf = NULL;
  int rc = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= (1u << 24)) { /* 16 MiB of PEM is not a certificate */
        set_err(err, errlen, "the %s file %s is too large", what, path);
        rc = WR_ERR_LIMIT;
        break;
      }
      cap = cap ? cap * 2 : 8192;
      uint8_t *nb = gnutls_realloc(buf, cap + 1);
      if (!nb) {
        rc = WR_ERR_NOMEM;
        break;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        set_err(err, errlen, "cannot read the %s file %s: %s", what, path, strerror(errno));
        rc = WR_ERR_IO;
      }
      break;
    }
  }
  fclose(f);
  if (rc != 0) {
    gnutls_free(buf);
    return rc;
  }
  if (!buf && !(buf = gnutls_malloc(1)))
    return WR_ERR_NOMEM;
  buf[len] = 0;
  d->data = buf;
  d->size = (unsigned)len;
  return 0;
}

static void hex_fingerprint(char *out, const uint8_t hash[32]) {
  memcpy(out, "sha256:", 7);
  wr_hex_encode(out + 7, hash, 32);
}

static int sha256(const void *p, size_t n, uint8_t out[32]) {
  return gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, out) == 0 ? 0 : WR_ERR_NOMEM;
}

/* SHA-256 of a certificate's SubjectPublicKeyInfo (the HPKP "pin-sha256"). */
static int spki_hash(gnutls_x509_crt_t crt, uint8_t out[32]) {
  gnutls_pubkey_t pk = NULL;
  gnutls_datum_t der = {NULL, 0};
  int rc = WR_ERR_MALFORMED;
  if (gnutls_pubkey_init(&pk) < 0)
    return WR_ERR_NOMEM;
  if (gnutls_pubkey_import_x509(pk, crt, 0) >= 0 &&
      gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &der) >= 0)
    rc = sha256(der.data, der.size, out);
  gnutls_free(der.data);
  gnutls_pubkey_deinit(pk);
  return rc;
}

static int crt_hash(gnutls_x509_crt_t crt, uint8_t out[32]) {
  size_t n = 32;
  return gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, out, &n) == 0 && n == 32
             ? 0
             : WR_ERR_MALFORMED;
}

/* Imports every certificate of a PEM file. */
static int import_crts(const char *path, const char *what, gnutls_x509_crt_t **pcrts, unsigned *pn,
                       char *err, size_t errlen) {
  gnutls_datum_t d;
  int rc = read_file(path, &d, what, err, errlen);
  if (rc != 0)
    return rc;
  int grc = gnutls_x509_crt_list_import2(pcrts, pn, &d, GNUTLS_X509_FMT_PEM, 0);
  gnutls_free(d.data);
  if (grc < 0 || *pn == 0) {
    set_err(err, errlen, "the %s file %s holds no PEM certificate (%s)", what, path,
            grc < 0 ? gnutls_strerror(grc) : "empty");
    *pcrts = NULL;
    *pn = 0;
    return grc == GNUTLS_E_MEMORY_ERROR ? WR_ERR_NOMEM : WR_ERR_MALFORMED;
  }
  return 0;
}

static void free_crts(gnutls_x509_crt_t *crts, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    gnutls_x509_crt_deinit(crts[i]);
  gnutls_free(crts);
}

/* A certificate chain and its private key, read from PEM files and checked
 * to belong together. */
typedef struct cert_pair {
  gnutls_x509_crt_t *crts;
  unsigned ncrts;
  gnutls_x509_privkey_t key;
} cert_pair;

static void pair_free(cert_pair *p) {
  if (p->key)
    gnutls_x509_privkey_deinit(p->key);
  free_crts(p->crts, p->ncrts);
  memset(p, 0, sizeof *p);
}

static int pair_load(cert_pair *p, const char *cert_file, const char *key_file, char *err,
                     size_t errlen) {
  memset(p, 0, sizeof *p);
  gnutls_datum_t kd = {NULL, 0};
  int rc = import_crts(cert_file, "certificate", &p->crts, &p->ncrts, err, errlen);
  if (rc != 0)
    goto out;
  if ((rc = read_file(key_file, &kd, "key", err, errlen)) != 0)
    goto out;
  if (gnutls_x509_privkey_init(&p->key) < 0) {
    p->key = NULL;
    rc = WR_ERR_NOMEM;
    goto out;
  }
  int grc = gnutls_x509_privkey_import2(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
  if (grc < 0) {
    set_err(err, errlen, "the key file %s holds no unencrypted PEM private key (%s)", key_file,
            gnutls_strerror(grc));
    rc = WR_ERR_MALFORMED;
    goto out;
  }
  uint8_t kid[32], cid[32];
  size_t kidlen = sizeof kid, cidlen = sizeof cid;
  if (gnutls_x509_privkey_get_key_id(p->key, GNUTLS_KEYID_USE_SHA256, kid, &kidlen) < 0 ||
      gnutls_x509_crt_get_key_id(p->crts[0], GNUTLS_KEYID_USE_SHA256, cid, &cidlen) < 0 ||
      kidlen != cidlen || memcmp(kid, cid, kidlen) != 0) {
    set_err(err, errlen, "the key in %s does not belong to the certificate in %s", key_file,
            cert_file);
    rc = WR_ERR_INVAL;
  }
out:
  if (kd.data) {
    gnutls_memset(kd.data, 0, kd.size);
    gnutls_free(kd.data);
  }
  if (rc)
    pair_free(p);
  return rc;
}

/* Adds a loaded pair to the server's credentials (GnuTLS copies it). */
static int pair_use(wr_tls_server *srv, const cert_pair *p, const char *cert_file,
                    const char *key_file, char *err, size_t errlen) {
  int grc = gnutls_certificate_set_x509_key(srv->cred, p->crts, (int)p->ncrts, p->key);
  if (grc < 0) {
    set_err(err, errlen, "cannot use the certificate %s with the key %s: %s", cert_file, key_file,
            gnutls_strerror(grc));
    return WR_ERR_INVAL;
  }
  return 0;
}

int wr_tls_server_new(wr_tls_server **psrv, const char *cert_file, const char *key_file, char *err,
                      size_t errlen) {
  *psrv = NULL;
  gnutls_datum_t kder = {NULL, 0};
  wr_tls_server *srv = NULL;
  cert_pair p;
  int rc = pair_load(&p, cert_file, key_file, err, errlen);
  if (rc != 0)
    return rc;
  srv = wr_calloc(1, sizeof *srv);
  if (!srv) {
    rc = WR_ERR_NOMEM;
    goto out;
  }
  if (gnutls_certificate_allocate_credentials(&srv->cred) < 0) {
    srv->cred = NULL;
    rc = WR_ERR_NOMEM;
    goto out;
  }
  if ((rc = pair_use(srv, &p, cert_file, key_file, err, errlen)) != 0)
    goto out;
  if ((rc = crt_hash(p.crts[0], srv->fingerprint)) != 0)
    goto out;
  if (gnutls_x509_privkey_export2(p.key, GNUTLS_X509_FMT_DER, &kder) < 0 ||
      gnutls_hmac_fast(GNUTLS_MAC_SHA256, kder.data, kder.size, "warren secret", 13, srv->master) <
          0) {
    rc = WR_ERR_NOMEM;
    goto out;
  }
  *psrv = srv;
  srv = NULL;
  rc = 0;
out:
  if (kder.data) {
    gnutls_memset(kder.data, 0, kder.size);
    gnutls_free(kder.data);
  }
  pair_free(&p);
  wr_tls_server_del(srv);
  return rc;
}

int wr_tls_server_add_cert(wr_tls_server *srv, const char *cert_file, const char *key_file,
                           char *err, size_t errlen) {
  cert_pair p;
  int rc = pair_load(&p, cert_file, key_file, err, errlen);
  if (rc == 0)
    rc = pair_use(srv, &p, cert_file, key_file, err, errlen);
  pair_free(&p);
  return rc;
}

void wr_tls_server_del(wr_tls_server *srv) {
  if (!srv)
    return;
  if (srv->cred)
    gnutls_certificate_free_credentials(srv->cred);
  gnutls_memset(srv->master, 0, sizeof srv->master);
  wr_free(srv);
}

void wr_tls_server_fingerprint(const wr_tls_server *srv, char *out) {
  hex_fingerprint(out, srv->fingerprint);
}

int wr_tls_server_derive_secret(const wr_tls_server *srv, const char *label, uint8_t *out,
                                size_t outlen) {
  uint8_t full[32];
  if (outlen > sizeof full)
    return WR_ERR_INVAL;
  if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, srv->master, sizeof srv->master, label, strlen(label),
                       full) < 0)
    return WR_ERR_NOMEM;
  memcpy(out, full, outlen);
  gnutls_memset(full, 0, sizeof full);
  return 0;
}

int wr_tls_cert_file_fingerprint(const char *cert_file, char *out, char *err, size_t errlen) {
  gnutls_x509_crt_t *crts = NULL;
  unsigned n = 0;
  uint8_t h[32];
  int rc = import_crts(cert_file, "certificate", &crts, &n, err, errlen);
  if (rc == 0 && (rc = crt_hash(crts[0], h)) == 0)
    hex_fingerprint(out, h);
  free_crts(crts, n);
  return rc;
}

/* ---- self-signed certificates ---- */

/* A DNS name we are willing to put in a certificate: letters, digits, '-',
 * '.', and a leading "*." wildcard. */
static int valid_dns_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return 0;
  if (s[0] == '*' && s[1] == '.')
    s += 2;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.'))
      return 0;
  }
  return 1;
}

static int add_san(gnutls_x509_crt_t crt, const char *name, char *err, size_t errlen) {
  uint8_t ip[16];
  int grc;
  if (inet_pton(AF_INET, name, ip) == 1) {
    grc =
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
  } else if (inet_pton(AF_INET6, name, ip) == 1) {
    grc =
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16, GNUTLS_FSAN_APPEND);
  } else if (valid_dns_name(name)) {
    grc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
                                               (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
  } else {
    set_err(err, errlen, "\"%s\" is neither a DNS name nor an IP address", name);
    return WR_ERR_INVAL;
  }
  if (grc < 0) {
    set_err(err, errlen, "cannot add the name %s to the certificate: %s", name,
            gnutls_strerror(grc));
    return WR_ERR_NOMEM;
  }
  return 0;
}

static int make_self_signed(const char *cert_path, const char *key_path, const char *const *names,
                            size_t nnames, char *err, size_t errlen) {
  gnutls_x509_privkey_t key = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t kpem = {NULL, 0}, cpem = {NULL, 0};
  int rc = WR_ERR_NOMEM, grc;
  static const char *const defaults[] = {"localhost", "127.0.0.1", "::1"};

  if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
    goto out;
  grc = gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA,
                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0);
  if (grc < 0) {
    set_err(err, errlen, "cannot generate a key: %s", gnutls_strerror(grc));
    goto out;
  }
  uint8_t serial[16];
  if (wr_random_bytes(serial, sizeof serial) != 0) {
    rc = WR_ERR_IO;
    set_err(err, errlen, "no random bytes for the certificate serial number");
    goto out;
  }
  serial[0] &= 0x7f; /* a positive INTEGER */
  serial[0] |= 0x01; /* and no leading zero byte */
  time_t now = time(NULL);
  const char *cn = nnames > 0 && valid_dns_name(names[0]) ? names[0] : "warren edge";
  if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
      gnutls_x509_crt_set_serial(crt, serial, sizeof serial) < 0 ||
      gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
      gnutls_x509_crt_set_expiration_time(crt, now + (time_t)5 * 365 * 24 * 3600) < 0 ||
      gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn)) <
          0 ||
      gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "warren self-signed",
                                    18) < 0 ||
      gnutls_x509_crt_set_key(crt, key) < 0 ||
      /* Its own CA, so a client can name this very file as its CA file. */
      gnutls_x509_crt_set_basic_constraints(crt, 1, -1) < 0 ||
      gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_CERT_SIGN) <
          0 ||
      gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
    goto out;
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    if ((rc = add_san(crt, defaults[i], err, errlen)) != 0)
      goto out;
  for (size_t i = 0; i < nnames; i++)
    if ((rc = add_san(crt, names[i], err, errlen)) != 0)
      goto out;
  rc = WR_ERR_NOMEM;
  uint8_t kid[32];
  size_t kidlen = sizeof kid;
  if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kidlen) < 0 ||
      gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen) < 0)
    goto out;
  grc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
  if (grc < 0) {
    set_err(err, errlen, "cannot sign the certificate: %s", gnutls_strerror(grc));
    goto out;
  }
  if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kpem) <
          0 ||
      gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem) < 0)
    goto out;
  /* Key first: a certificate without its key would block the next start. */
  if ((rc = wr_file_write_atomic(key_path, kpem.data, kpem.size, 0600, WR_FILE_REPLACE, err,
                                 errlen)) != 0)
    goto out;
  if ((rc = wr_file_write_atomic(cert_path, cpem.data, cpem.size, 0644, WR_FILE_REPLACE, err,
                                 errlen)) != 0) {
    unlink(key_path);
    goto out;
  }
  rc = 0;
out:
  if (rc == WR_ERR_NOMEM && err && errlen && !err[0])
    set_err(err, errlen, "out of memory while creating a self-signed certificate");
  if (kpem.data) {
    gnutls_memset(kpem.data, 0, kpem.size);
    gnutls_free(kpem.data);
  }
  gnutls_free(cpem.data);
  if (crt)
    gnutls_x509_crt_deinit(crt);
  if (key)
    gnutls_x509_privkey_deinit(key);
  return rc;
}

int wr_tls_self_signed_ensure(const char *dir, const char *const *names, size_t nnames,
                              int *pcreated, char *err, size_t errlen) {
  char cert_path[4096], key_path[4096];
  struct stat st;
  if (pcreated)
    *pcreated = 0;
  if (err && errlen)
    err[0] = '\0';
  if (snprintf(cert_path, sizeof cert_path, "%s/%s", dir, WR_TLS_SELF_SIGNED_CERT) >=
          (int)sizeof cert_path ||
      snprintf(key_path, sizeof key_path, "%s/%s", dir, WR_TLS_SELF_SIGNED_KEY) >=
          (int)sizeof key_path) {
    set_err(err, errlen, "the directory name %s is too long", dir);
    return WR_ERR_INVAL;
  }
  for (size_t i = 0; i < nnames; i++) {
    uint8_t ip[16];
    if (inet_pton(AF_INET, names[i], ip) != 1 && inet_pton(AF_INET6, names[i], ip) != 1 &&
        !valid_dns_name(names[i])) {
      set_err(err, errlen, "\"%s\" is neither a DNS name nor an IP address", names[i]);
      return WR_ERR_INVAL;
    }
  }
  int have_cert = stat(cert_path, &st) == 0, have_key = stat(key_path, &st) == 0;
  if (have_cert && have_key)
    return 0;
  if (have_cert != have_key) {
    set_err(err, errlen,
            "%s holds %s but not %s; remove it to have a new pair made, or supply both", dir,
            have_cert ? WR_TLS_SELF_SIGNED_CERT : WR_TLS_SELF_SIGNED_KEY,
            have_cert ? WR_TLS_SELF_SIGNED_KEY : WR_TLS_SELF_SIGNED_CERT);
    return WR_ERR_EXISTS;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    set_err(err, errlen, "cannot create the directory %s: %s", dir, strerror(errno));
    return WR_ERR_IO;
  }
  int rc = make_self_signed(cert_path, key_path, names, nnames, err, errlen);
  if (rc == 0 && pcreated)
    *pcreated = 1;
  return rc;
}

/* ---- client trust ---- */

int wr_tls_parse_pin(const char *pin, size_t len, uint8_t out[32]) {
  while (len > 0 && (*pin == ' ' || *pin == '\t')) {
    pin++;
    len--;
  }
  while (len > 0 && (pin[len - 1] == ' ' || pin[len - 1] == '\t'))
    len--;
  if (len >= 7 && strncasecmp(pin, "sha256:", 7) == 0) {
    pin += 7;
    len -= 7;
  }
  char hex[65];
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (pin[i] == ':')
      continue;
    if (n == 64)
      return WR_ERR_INVAL;
    hex[n++] = pin[i];
  }
  if (n != 64)
    return WR_ERR_INVAL;
  return wr_hex_decode(out, 32, hex, 64) == 0 ? 0 : WR_ERR_INVAL;
}

static int verify_cb(gnutls_session_t gs);

int wr_tls_client_new(wr_tls_client **pcli, const wr_tls_client_config *cfg, char *err,
                      size_t errlen) {
  *pcli = NULL;
  int rc = 0;
  gnutls_x509_crt_t *crts = NULL;
  unsigned ncrts = 0;
  int has_ca = cfg->ca_file && cfg->ca_file[0];
  int has_pins = cfg->pins && cfg->pins[0];
  if (!has_ca && !has_pins && !cfg->system_trust && !cfg->no_verify) {
    set_err(err, errlen,
            "no way to verify the server: give a CA file or a pinned sha256 fingerprint");
    return WR_ERR_INVAL;
  }
  wr_tls_client *cli = wr_calloc(1, sizeof *cli);
  if (!cli)
    return WR_ERR_NOMEM;
  if (has_pins) {
    const char *p = cfg->pins;
    while (*p) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      if (cli->npins == WR_TLS_MAX_PINS) {
        set_err(err, errlen, "too many pins (at most %d)", WR_TLS_MAX_PINS);
        rc = WR_ERR_INVAL;
        goto out;
      }
      if (wr_tls_parse_pin(p, len, cli->pins[cli->npins]) != 0) {
        set_err(err, errlen,
                "the pin \"%.*s\" is not a SHA-256 fingerprint (sha256: and 64 hex digits)",
                (int)(len > 80 ? 80 : len), p);
        rc = WR_ERR_INVAL;
        goto out;
      }
      cli->npins++;
      p = comma ? comma + 1 : p + len;
    }
  }
  if (has_ca) {
    snprintf(cli->ca_file, sizeof cli->ca_file, "%s", cfg->ca_file);
    if ((rc = import_crts(cfg->ca_file, "CA", &crts, &ncrts, err, errlen)) != 0)
      goto out;
    if (ncrts > MAX_ANCHORS) {
      set_err(err, errlen, "the CA file %s holds more than %d certificates", cfg->ca_file,
              MAX_ANCHORS);
      rc = WR_ERR_LIMIT;
      goto out;
    }
    for (unsigned i = 0; i < ncrts; i++)
      if ((rc = crt_hash(crts[i], cli->anchor_hash[i])) != 0)
        goto out;
    cli->nanchors = ncrts;
    if (gnutls_x509_trust_list_init(&cli->trust, 0) < 0) {
      cli->trust = NULL;
      rc = WR_ERR_NOMEM;
      goto out;
    }
    /* The list takes the certificates over. */
    int grc = gnutls_x509_trust_list_add_cas(cli->trust, crts, ncrts, 0);
    gnutls_free(crts); /* the list owns the certificates now */
    crts = NULL;
    ncrts = 0;
    if (grc < 0) {
      set_err(err, errlen, "cannot use the CA file %s: %s", cfg->ca_file, gnutls_strerror(grc));
      rc = WR_ERR_NOMEM;
      goto out;
    }
    snprintf(cli->trust_desc, sizeof cli->trust_desc, "the CA file %s", cfg->ca_file);
  }
  if (cfg->system_trust) {
    if (!cli->trust && gnutls_x509_trust_list_init(&cli->trust, 0) < 0) {
      cli->trust = NULL;
      rc = WR_ERR_NOMEM;
      goto out;
    }
    /* No system CAs at all is not an error here: every server is then
     * refused with a sentence naming the system's CAs. */
    int grc = gnutls_x509_trust_list_add_system_trust(cli->trust, 0, 0);
    if (grc < 0 && grc != GNUTLS_E_UNIMPLEMENTED_FEATURE) {
      set_err(err, errlen, "cannot load the system's trusted CAs: %s", gnutls_strerror(grc));
      rc = WR_ERR_IO;
      goto out;
    }
    if (has_ca)
      snprintf(cli->trust_desc, sizeof cli->trust_desc, "the CA file %.250s or the system's CAs",
               cfg->ca_file);
    else
      snprintf(cli->trust_desc, sizeof cli->trust_desc, "the system's CAs");
  }
  cli->no_verify = cfg->no_verify;
  if (gnutls_certificate_allocate_credentials(&cli->cred) < 0) {
    cli->cred = NULL;
    rc = WR_ERR_NOMEM;
    goto out;
  }
  gnutls_certificate_set_verify_function(cli->cred, verify_cb);
  *pcli = cli;
  cli = NULL;
out:
  free_crts(crts, ncrts);
  wr_tls_client_del(cli);
  return rc;
}

void wr_tls_client_del(wr_tls_client *cli) {
  if (!cli)
    return;
  if (cli->cred)
    gnutls_certificate_free_credentials(cli->cred);
  if (cli->trust)
    gnutls_x509_trust_list_deinit(cli->trust, 1);
  wr_free(cli);
}

static int pinned(const wr_tls_client *cli, const uint8_t h[32]) {
  int hit = 0;
  for (size_t i = 0; i < cli->npins; i++)
    hit |= gnutls_memcmp(cli->pins[i], h, 32) == 0;
  return hit;
}

/* Checks the chain against the CA file and the dialed name. Returns 1 when
 * trusted; otherwise 0 with why[] explaining. */
static int ca_trusted(const wr_tls_client *cli, const char *name, gnutls_x509_crt_t *chain,
                      unsigned n, const uint8_t leaf_hash[32], char *why, size_t whylen) {
  unsigned status = 0;
  int grc = gnutls_x509_trust_list_verify_crt2(cli->trust, chain, n, NULL, 0, 0, &status, NULL);
  if (grc < 0 || status != 0) {
    gnutls_datum_t txt = {NULL, 0};
    if (grc >= 0)
      gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0);
    set_err(why, whylen, "it does not verify against %s (%s)", cli->trust_desc,
            txt.data ? (const char *)txt.data : gnutls_strerror(grc));
    gnutls_free(txt.data);
    return 0;
  }
  for (size_t i = 0; i < cli->nanchors; i++)
    if (memcmp(cli->anchor_hash[i], leaf_hash, 32) == 0)
      return 1; /* the leaf is itself a trust anchor: as good as a pin */
  if (!name[0]) {
    set_err(why, whylen, "no server name to check it against");
    return 0;
  }
  uint8_t ip[16];
  int ok;
  if (inet_pton(AF_INET, name, ip) == 1)
    ok = gnutls_x509_crt_check_ip(chain[0], ip, 4, 0);
  else if (inet_pton(AF_INET6, name, ip) == 1)
    ok = gnutls_x509_crt_check_ip(chain[0], ip, 16, 0);
  else
    ok = gnutls_x509_crt_check_hostname2(chain[0], name, 0);
  if (!ok)
    set_err(why, whylen, "it is valid under %s but not issued for %s", cli->trust_desc, name);
  return ok != 0;
}

static int libp2p_verify(wr_tls_session *s);

static int verify_cb(gnutls_session_t gs) {
  wr_tls_session *s = gnutls_session_get_ptr(gs);
  if (s->libp2p)
    return libp2p_verify(s);
  const wr_tls_client *cli = s->client;
  unsigned n = 0;
  const gnutls_datum_t *peers = gnutls_certificate_get_peers(gs, &n);
  gnutls_x509_crt_t chain[16];
  unsigned nchain = 0;
  int trusted = 0;
  char why[WR_TLS_ERRLEN] = "";
  if (!cli || cli->no_verify)
    return 0; /* no_verify: the caller chose not to authenticate the peer */
  if (!peers || n == 0) {
    set_err(s->error, sizeof s->error, "the server sent no certificate");
    return -1;
  }
  if (n > 16)
    n = 16;
  for (; nchain < n; nchain++) {
    if (gnutls_x509_crt_init(&chain[nchain]) < 0)
      goto out;
    if (gnutls_x509_crt_import(chain[nchain], &peers[nchain], GNUTLS_X509_FMT_DER) < 0) {
      gnutls_x509_crt_deinit(chain[nchain]);
      set_err(s->error, sizeof s->error, "the server sent a malformed certificate");
      goto out;
    }
  }
  uint8_t leaf[32], key[32];
  if (sha256(peers[0].data, peers[0].size, leaf) != 0 || spki_hash(chain[0], key) != 0) {
    set_err(s->error, sizeof s->error, "cannot hash the server certificate");
    goto out;
  }
  if (cli->npins && (pinned(cli, leaf) || pinned(cli, key))) {
    trusted = 1;
    goto out;
  }
  if (cli->trust && ca_trusted(cli, s->verify_name, chain, nchain, leaf, why, sizeof why)) {
    trusted = 1;
    goto out;
  }
  char fp[WR_TLS_FINGERPRINT_LEN], kp[WR_TLS_FINGERPRINT_LEN];
  hex_fingerprint(fp, leaf);
  hex_fingerprint(kp, key);
  if (cli->trust && cli->npins)
    set_err(s->error, sizeof s->error,
            "server certificate refused: %s, and neither its fingerprint %s nor its key's %s "
            "is pinned",
            why, fp, kp);
  else if (cli->trust)
    set_err(s->error, sizeof s->error, "server certificate refused: %s", why);
  else
    set_err(s->error, sizeof s->error,
            "server certificate refused: its fingerprint %s (key %s) matches no pinned "
            "fingerprint",
            fp, kp);
out:
  for (unsigned i = 0; i < nchain; i++)
    gnutls_x509_crt_deinit(chain[i]);
  if (!trusted && !s->error[0])
    set_err(s->error, sizeof s->error, "server certificate refused: out of memory");
  return trusted ? 0 : -1;
}

/* ---- sessions ---- */

static int parse_alpn(const char *alpn, gnutls_datum_t *out, size_t *pn) {
  size_t n = 0;
  const char *p = alpn ? alpn : "";
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == 0 || len > 255 || n == MAX_ALPN)
      return WR_ERR_INVAL;
    out[n].data = (unsigned char *)(uintptr_t)p;
    out[n].size = (unsigned)len;
    n++;
    p = comma ? comma + 1 : p + len;
  }
  if (n == 0)
    return WR_ERR_INVAL;
  *pn = n;
  return 0;
}

/* RFC 9001 8.1: a server must not complete a handshake without ALPN. GnuTLS's
 * MANDATORY flag refuses a mismatch but lets a ClientHello without the
 * extension through, so check after the ClientHello was processed. */
static int client_hello_hook(gnutls_session_t gs, unsigned htype, unsigned when, unsigned incoming,
                             const gnutls_datum_t *msg) {
  (void)htype;
  (void)when;
  (void)incoming;
  (void)msg;
  gnutls_datum_t sel;
  if (gnutls_alpn_get_selected_protocol(gs, &sel) != 0) {
    gnutls_alert_send(gs, GNUTLS_AL_FATAL, GNUTLS_A_NO_APPLICATION_PROTOCOL);
    return GNUTLS_E_NO_APPLICATION_PROTOCOL;
  }
  return 0;
}

static int session_common(wr_tls_session *s, unsigned flags, const char *alpn, unsigned alpn_flags,
                          gnutls_certificate_credentials_t cred, ngtcp2_crypto_get_conn get_conn,
                          void *user_data) {
  gnutls_datum_t protos[MAX_ALPN];
  size_t nprotos = 0;
  memset(s, 0, sizeof *s);
  s->conn_ref.get_conn = get_conn;
  s->conn_ref.user_data = user_data;
  if (parse_alpn(alpn, protos, &nprotos) != 0)
    return WR_ERR_INVAL;
  if (gnutls_init(&s->gs, flags | GNUTLS_NO_TICKETS) < 0) {
    s->gs = NULL;
    return WR_ERR_NOMEM;
  }
  if (gnutls_priority_set_direct(s->gs, priority, NULL) < 0 ||
      gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
      gnutls_alpn_set_protocols(s->gs, protos, (unsigned)nprotos, alpn_flags) < 0)
    goto fail;
  int rc = (flags & GNUTLS_SERVER) ? ngtcp2_crypto_gnutls_configure_server_session(s->gs)
                                   : ngtcp2_crypto_gnutls_configure_client_session(s->gs);
  if (rc != 0)
    goto fail;
  gnutls_session_set_ptr(s->gs, &s->conn_ref);
  return 0;
fail:
  gnutls_deinit(s->gs);
  s->gs = NULL;
  return WR_ERR_NOMEM;
}

int wr_tls_session_init_server(wr_tls_session *s, const wr_tls_server *srv, const char *alpn,
                               ngtcp2_crypto_get_conn get_conn, void *user_data) {
  int rc =
      session_common(s, GNUTLS_SERVER, alpn, GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE,
                     srv->cred, get_conn, user_data);
  if (rc == 0)
    gnutls_handshake_set_hook_function(s->gs, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                       client_hello_hook);
  if (rc == 0 && srv->libp2p) {
    /* libp2p authenticates both ends: no client certificate, no peer. */
    s->libp2p = 1;
    gnutls_certificate_server_set_request(s->gs, GNUTLS_CERT_REQUIRE);
  }
  return rc;
}

int wr_tls_session_init_client(wr_tls_session *s, const wr_tls_client *cli, const char *name,
                               const char *alpn, ngtcp2_crypto_get_conn get_conn, void *user_data) {
  int rc =
      session_common(s, GNUTLS_CLIENT, alpn, GNUTLS_ALPN_MANDATORY, cli->cred, get_conn, user_data);
  if (rc != 0)
    return rc;
  s->client = cli;
  s->libp2p = cli->libp2p;
  snprintf(s->verify_name, sizeof s->verify_name, "%s", name ? name : "");
  uint8_t ip[16];
  if (cli->libp2p)
    return 0; /* the peer is named by its key, never by SNI */
  if (name && name[0] && inet_pton(AF_INET, name, ip) != 1 && inet_pton(AF_INET6, name, ip) != 1 &&
      gnutls_server_name_set(s->gs, GNUTLS_NAME_DNS, name, strlen(name)) < 0) {
    wr_tls_session_free(s);
    return WR_ERR_NOMEM;
  }
  return 0;
}

void wr_tls_session_free(wr_tls_session *s) {
  if (s->gs)
    gnutls_deinit(s->gs);
  s->gs = NULL;
}

void wr_tls_session_alpn(const wr_tls_session *s, char *out, size_t outlen) {
  gnutls_datum_t sel;
  if (outlen == 0)
    return;
  out[0] = '\0';
  if (s->gs && gnutls_alpn_get_selected_protocol(s->gs, &sel) == 0)
    snprintf(out, outlen, "%.*s", (int)sel.size, (const char *)sel.data);
}

int wr_tls_session_export(const wr_tls_session *s, const char *label, const uint8_t *context,
                          size_t contextlen, uint8_t *out, size_t outlen) {
  if (!s->gs)
    return WR_ERR_INVAL;
  int grc = gnutls_prf_rfc5705(s->gs, strlen(label), label, contextlen, (const char *)context,
                               outlen, (char *)out);
  return grc < 0 ? WR_ERR_INVAL : 0;
}

/* ---- sessions over a byte stream (TLS over TCP) ---- */

/* The same ciphers as QUIC; TLS 1.2 too unless the caller asks for 1.3 only
 * (the public HTTPS side meets old clients; tunnels bind registration to a
 * TLS 1.3 exporter). */
static const char stream_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305";
static const char stream_priority13[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305";

static int stream_session(wr_tls_session *s, unsigned gflags, const char *alpn, unsigned alpn_flags,
                          gnutls_certificate_credentials_t cred, unsigned flags) {
  gnutls_datum_t protos[MAX_ALPN];
  size_t nprotos = 0;
  memset(s, 0, sizeof *s);
  if (parse_alpn(alpn, protos, &nprotos) != 0)
    return WR_ERR_INVAL;
  if (gnutls_init(&s->gs, gflags | GNUTLS_NO_TICKETS | GNUTLS_NONBLOCK) < 0) {
    s->gs = NULL;
    return WR_ERR_NOMEM;
  }
  const char *prio = (flags & WR_TLS_STREAM_TLS13_ONLY) ? stream_priority13 : stream_priority;
  if (gnutls_priority_set_direct(s->gs, prio, NULL) < 0 ||
      gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
      gnutls_alpn_set_protocols(s->gs, protos, (unsigned)nprotos, alpn_flags) < 0) {
    wr_tls_session_free(s);
    return WR_ERR_NOMEM;
  }
  /* verify_cb finds the session here (conn_ref is first, so this is s). */
  gnutls_session_set_ptr(s->gs, &s->conn_ref);
  return 0;
}

int wr_tls_session_init_stream_server(wr_tls_session *s, const wr_tls_server *srv, const char *alpn,
                                      unsigned flags) {
  int rc = stream_session(s, GNUTLS_SERVER, alpn,
                          GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE, srv->cred, flags);
  if (rc == 0 && !(flags & WR_TLS_STREAM_ALPN_OPTIONAL))
    gnutls_handshake_set_hook_function(s->gs, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                       client_hello_hook);
  return rc;
}

int wr_tls_session_init_stream_client(wr_tls_session *s, const wr_tls_client *cli, const char *name,
                                      const char *alpn, unsigned flags) {
  unsigned alpn_flags = (flags & WR_TLS_STREAM_ALPN_OPTIONAL) ? 0 : GNUTLS_ALPN_MANDATORY;
  int rc = stream_session(s, GNUTLS_CLIENT, alpn, alpn_flags, cli->cred, flags);
  if (rc != 0)
    return rc;
  s->client = cli;
  snprintf(s->verify_name, sizeof s->verify_name, "%s", name ? name : "");
  uint8_t ip[16];
  /* SNI only for DNS names: RFC 6066 forbids IP literals. */
  if (name && name[0] && inet_pton(AF_INET, name, ip) != 1 && inet_pton(AF_INET6, name, ip) != 1 &&
      gnutls_server_name_set(s->gs, GNUTLS_NAME_DNS, name, strlen(name)) < 0) {
    wr_tls_session_free(s);
    return WR_ERR_NOMEM;
  }
  return 0;
}

/* ---- libp2p TLS (libp2p specs, tls/tls.md) ---- */

/* A fresh ECDSA P-256 key and a self-signed certificate for it carrying the
 * libp2p extension: the identity key's signature over the certificate's
 * SubjectPublicKeyInfo. */
static int libp2p_make_cert(const wr_p2p_privkey *identity, gnutls_x509_crt_t *pcrt,
                            gnutls_x509_privkey_t *pkey, char *err, size_t errlen) {
  gnutls_x509_privkey_t key = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t spki = {NULL, 0};
  wr_buf ext;
  wr_buf_init(&ext, WR_P2P_SIGNEDKEY_MAX);
  int rc = WR_ERR_NOMEM;
  uint8_t serial[16];
  if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0 ||
      gnutls_pubkey_init(&pub) < 0)
    goto out;
  if (gnutls_x509_privkey_generate2(
          key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0) < 0) {
    set_err(err, errlen, "cannot generate the libp2p TLS certificate key");
    goto out;
  }
  if (wr_random_bytes(serial, sizeof serial) != 0) {
    rc = WR_ERR_IO;
    set_err(err, errlen, "no random bytes for the certificate serial number");
    goto out;
  }
  serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01);
  time_t now = time(NULL);
  /* Valid an hour back (clock skew) and for a long time ahead: the key is
   * per process, and the peer checks the extension, not the dates' meaning. */
  if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
      gnutls_x509_crt_set_serial(crt, serial, sizeof serial) < 0 ||
      gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
      gnutls_x509_crt_set_expiration_time(crt, now + (time_t)100 * 365 * 24 * 3600) < 0 ||
      gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "libp2p", 6) < 0 ||
      gnutls_x509_crt_set_key(crt, key) < 0 || gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
      gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0)
    goto out;
  if ((rc = wr_p2p_signedkey_make(identity, spki.data, spki.size, &ext)) != 0)
    goto out;
  rc = WR_ERR_NOMEM;
  /* Critical, as rust-libp2p marks it: a peer that cannot check it must not
   * accept the certificate. */
  if (gnutls_x509_crt_set_extension_by_oid(crt, WR_P2P_TLS_EXT_OID, ext.data, ext.len, 1) < 0)
    goto out;
  if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0) {
    set_err(err, errlen, "cannot sign the libp2p TLS certificate");
    goto out;
  }
  *pcrt = crt;
  *pkey = key;
  crt = NULL;
  key = NULL;
  rc = 0;
out:
  if (rc == WR_ERR_NOMEM && err && errlen && !err[0])
    set_err(err, errlen, "out of memory while making the libp2p TLS certificate");
  gnutls_free(spki.data);
  wr_buf_free(&ext);
  if (pub)
    gnutls_pubkey_deinit(pub);
  if (crt)
    gnutls_x509_crt_deinit(crt);
  if (key)
    gnutls_x509_privkey_deinit(key);
  return rc;
}

int wr_tls_libp2p_new(wr_tls_server **psrv, wr_tls_client **pcli, const wr_p2p_privkey *identity,
                      char *err, size_t errlen) {
  *psrv = NULL;
  *pcli = NULL;
  gnutls_x509_crt_t crt = NULL;
  gnutls_x509_privkey_t key = NULL;
  gnutls_datum_t kder = {NULL, 0};
  wr_tls_server *srv = wr_calloc(1, sizeof *srv);
  wr_tls_client *cli = wr_calloc(1, sizeof *cli);
  int rc = WR_ERR_NOMEM;
  if (!srv || !cli)
    goto out;
  if (gnutls_certificate_allocate_credentials(&srv->cred) < 0) {
    srv->cred = NULL;
    goto out;
  }
  if (gnutls_certificate_allocate_credentials(&cli->cred) < 0) {
    cli->cred = NULL;
    goto out;
  }
  if ((rc = libp2p_make_cert(identity, &crt, &key, err, errlen)) != 0)
    goto out;
  rc = WR_ERR_NOMEM;
  if (gnutls_certificate_set_x509_key(srv->cred, &crt, 1, key) < 0 ||
      gnutls_certificate_set_x509_key(cli->cred, &crt, 1, key) < 0 ||
      crt_hash(crt, srv->fingerprint) != 0 ||
      gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_DER, &kder) < 0 ||
      gnutls_hmac_fast(GNUTLS_MAC_SHA256, kder.data, kder.size, "warren secret", 13, srv->master) <
          0)
    goto out;
  gnutls_certificate_set_verify_function(srv->cred, verify_cb);
  gnutls_certificate_set_verify_function(cli->cred, verify_cb);
  srv->libp2p = 1;
  cli->libp2p = 1;
  *psrv = srv;
  *pcli = cli;
  srv = NULL;
  cli = NULL;
  rc = 0;
out:
  if (rc == WR_ERR_NOMEM && err && errlen && !err[0])
    set_err(err, errlen, "out of memory while setting up libp2p TLS");
  if (kder.data) {
    gnutls_memset(kder.data, 0, kder.size);
    gnutls_free(kder.data);
  }
  if (crt)
    gnutls_x509_crt_deinit(crt);
  if (key)
    gnutls_x509_privkey_deinit(key);
  wr_tls_server_del(srv);
  wr_tls_client_del(cli);
  return rc;
}

/* Critical extensions this check understands (or GnuTLS enforces). */
static int known_critical(const char *oid) {
  static const char *const known[] = {WR_P2P_TLS_EXT_OID, "2.5.29.19" /* basicConstraints */,
                                      "2.5.29.15" /* keyUsage */, "2.5.29.37" /* extKeyUsage */,
                                      "2.5.29.17" /* subjectAltName */};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(oid, known[i]) == 0)
      return 1;
  return 0;
}

int wr_tls_libp2p_check_cert(const uint8_t *der, size_t n, wr_peerid *peer, char *why,
                             size_t whylen) {
  gnutls_x509_crt_t crt = NULL;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t spki = {NULL, 0}, ext = {NULL, 0};
  gnutls_datum_t d = {(unsigned char *)(uintptr_t)der, (unsigned)n};
  int rc = WR_ERR_NOMEM;
  if (gnutls_x509_crt_init(&crt) < 0 || gnutls_pubkey_init(&pub) < 0)
    goto out;
  rc = WR_ERR_MALFORMED;
  if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
    set_err(why, whylen, "the certificate is not valid DER X.509");
    goto out;
  }
  time_t now = time(NULL);
  if (gnutls_x509_crt_get_activation_time(crt) > now) {
    rc = WR_ERR_DENIED;
    set_err(why, whylen, "the certificate is not valid yet");
    goto out;
  }
  if (gnutls_x509_crt_get_expiration_time(crt) < now) {
    rc = WR_ERR_DENIED;
    set_err(why, whylen, "the certificate has expired");
    goto out;
  }
  /* Self-signed: the signature over the TBSCertificate checked with the
   * certificate's own key (by hand: GnuTLS's chain check refuses the
   * critical libp2p extension it does not know). */
  const uint8_t *tbs;
  size_t ntbs;
  const char *tr = NULL;
  uint8_t sigb[1024];
  size_t nsig = sizeof sigb;
  int salg = gnutls_x509_crt_get_signature_algorithm(crt);
  if (wr_p2p_cert_tbs(der, n, &tbs, &ntbs, &tr) != 0) {
    set_err(why, whylen, "%s", tr);
    goto out;
  }
  if (gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
      gnutls_x509_crt_get_signature(crt, (char *)sigb, &nsig) < 0) {
    set_err(why, whylen, "the certificate's key or signature cannot be read");
    goto out;
  }
  gnutls_datum_t td = {(unsigned char *)(uintptr_t)tbs, (unsigned)ntbs};
  gnutls_datum_t sd = {sigb, (unsigned)nsig};
  if (salg <= 0 ||
      gnutls_pubkey_verify_data2(pub, (gnutls_sign_algorithm_t)salg, 0, &td, &sd) < 0) {
    rc = WR_ERR_DENIED;
    set_err(why, whylen, "the certificate's self-signature does not verify");
    goto out;
  }
  int found = 0;
  for (unsigned i = 0;; i++) {
    char oid[128];
    size_t olen = sizeof oid;
    unsigned critical = 0;
    int grc = gnutls_x509_crt_get_extension_info(crt, i, oid, &olen, &critical);
    if (grc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
      break;
    if (grc < 0) {
      set_err(why, whylen, "the certificate's extensions cannot be read");
      goto out;
    }
    if (strcmp(oid, WR_P2P_TLS_EXT_OID) == 0) {
      if (found++) {
        set_err(why, whylen, "the certificate has two libp2p extensions");
        goto out;
      }
      if (gnutls_x509_crt_get_extension_data2(crt, i, &ext) < 0) {
        set_err(why, whylen, "the libp2p extension cannot be read");
        goto out;
      }
    } else if (critical && !known_critical(oid)) {
      rc = WR_ERR_DENIED;
      set_err(why, whylen, "the certificate has an unknown critical extension %s", oid);
      goto out;
    }
  }
  if (!found) {
    rc = WR_ERR_DENIED;
    set_err(why, whylen, "the certificate carries no libp2p public key extension");
    goto out;
  }
  if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0) {
    set_err(why, whylen, "the certificate's public key cannot be read");
    goto out;
  }
  wr_p2p_signedkey sk;
  const char *r = "bad libp2p extension";
  rc = wr_p2p_signedkey_decode(ext.data, ext.size, &sk, &r);
  if (rc == 0)
    rc = wr_p2p_signedkey_verify(&sk, spki.data, spki.size, peer, &r);
  if (rc != 0)
    set_err(why, whylen, "libp2p extension refused: %s", r);
out:
  if (rc == WR_ERR_NOMEM)
    set_err(why, whylen, "out of memory while checking the certificate");
  gnutls_free(spki.data);
  gnutls_free(ext.data);
  if (pub)
    gnutls_pubkey_deinit(pub);
  if (crt)
    gnutls_x509_crt_deinit(crt);
  return rc;
}

/* The peer's certificate, either side: exactly one, libp2p's checks. */
static int libp2p_verify(wr_tls_session *s) {
  unsigned n = 0;
  const gnutls_datum_t *peers = gnutls_certificate_get_peers(s->gs, &n);
  const char *who = s->client ? "server" : "client";
  char why[WR_TLS_ERRLEN];
  if (!peers || n == 0) {
    set_err(s->error, sizeof s->error, "the %s sent no certificate", who);
    return -1;
  }
  if (n != 1) {
    set_err(s->error, sizeof s->error, "the %s sent %u certificates; libp2p allows one", who, n);
    return -1;
  }
  if (wr_tls_libp2p_check_cert(peers[0].data, peers[0].size, &s->peer, why, sizeof why) != 0) {
    set_err(s->error, sizeof s->error, "%s certificate refused: %s", who, why);
    return -1;
  }
  s->has_peer = 1;
  return 0;
}
