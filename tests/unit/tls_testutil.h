/* tls_testutil.h: a throwaway self-signed certificate and key for tests
 * that run a TLS or QUIC server on loopback, and credentials made from
 * them. */
#ifndef WR_TLS_TESTUTIL_H
#define WR_TLS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/tls.h"

typedef struct test_tls_files {
  char dir[64], crt[128], key[128];
} test_tls_files;

/* Creates a fresh folder under /tmp (named after prefix) holding a
 * self-signed pair. Returns 0, or 1 after printing why. */
static inline int test_tls_files_make(test_tls_files *f, const char *prefix) {
  snprintf(f->dir, sizeof f->dir, "/tmp/%s.XXXXXX", prefix);
  if (!mkdtemp(f->dir)) {
    perror("mkdtemp");
    return 1;
  }
  char err[WR_TLS_ERRLEN];
  if (wr_tls_self_signed_ensure(f->dir, NULL, 0, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  snprintf(f->crt, sizeof f->crt, "%s/%s", f->dir, WR_TLS_SELF_SIGNED_CERT);
  snprintf(f->key, sizeof f->key, "%s/%s", f->dir, WR_TLS_SELF_SIGNED_KEY);
  return 0;
}

/* Removes the pair and its folder. */
static inline void test_tls_files_remove(const test_tls_files *f) {
  unlink(f->crt);
  unlink(f->key);
  rmdir(f->dir);
}

/* Such a pair with server credentials for it and client credentials that
 * trust it (its CA file). */
typedef struct test_tls {
  test_tls_files f;
  wr_tls_server *srv;
  wr_tls_client *cli;
} test_tls;

/* Returns 0, or 1 after printing why. */
static inline int test_tls_init(test_tls *t, const char *prefix) {
  t->srv = NULL;
  t->cli = NULL;
  if (test_tls_files_make(&t->f, prefix) != 0)
    return 1;
  char err[WR_TLS_ERRLEN];
  wr_tls_client_config cc = {.ca_file = t->f.crt};
  if (wr_tls_server_new(&t->srv, t->f.crt, t->f.key, err, sizeof err) != 0 ||
      wr_tls_client_new(&t->cli, &cc, err, sizeof err) != 0) {
    fprintf(stderr, "credentials: %s\n", err);
    return 1;
  }
  return 0;
}

/* Frees the credentials and removes the pair. */
static inline void test_tls_free(test_tls *t) {
  wr_tls_server_del(t->srv);
  wr_tls_client_del(t->cli);
  test_tls_files_remove(&t->f);
}

#endif
