/* keystore.c: named keys as files in REPO/keystore (kubo's layout). */
#include "store/keystore.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "io/file.h"
#include "io/random.h"
#include "proto/multiformats/multibase.h"

#define PREFIX "key_"

int wr_keystore_check_name(const char *name, const char **preason) {
  const char *why = NULL;
  size_t n = strlen(name);
  if (n == 0)
    why = "a key name cannot be empty";
  else if (n > WR_KEYSTORE_NAME_MAX)
    why = "a key name is at most 128 bytes";
  else if (strcmp(name, "self") == 0)
    why = "\"self\" is the node's own key (the repo's identity.key)";
  else if (strchr(name, '/'))
    why = "a key name cannot contain '/'";
  else if (name[0] == '.')
    why = "a key name cannot start with '.'";
  if (why) {
    if (preason)
      *preason = why;
    return WR_ERR_INVAL;
  }
  return 0;
}

static int key_path(const char *repo, const char *name, char *out, size_t cap, char *err,
                    size_t errlen) {
  const char *why = NULL;
  if (wr_keystore_check_name(name, &why) != 0) {
    snprintf(err, errlen, "invalid key name \"%s\": %s", name, why);
    return WR_ERR_INVAL;
  }
  char enc[2 * WR_KEYSTORE_NAME_MAX + 8];
  int n = wr_base_encode(WR_MB_BASE32, name, strlen(name), enc, sizeof enc);
  if (n < 0 ||
      (size_t)snprintf(out, cap, "%s/%s/" PREFIX "%s", repo, WR_KEYSTORE_DIR, enc) >= cap) {
    snprintf(err, errlen, "the repo path is too long");
    return WR_ERR_INVAL;
  }
  return 0;
}

int wr_keystore_gen(const char *repo, const char *name, wr_p2p_privkey *sk, char *err,
                    size_t errlen) {
  char path[4096 + 300], dir[4096 + 16];
  int rv = key_path(repo, name, path, sizeof path, err, errlen);
  if (rv != 0)
    return rv;
  snprintf(dir, sizeof dir, "%s/%s", repo, WR_KEYSTORE_DIR);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return WR_ERR_IO;
  }
  uint8_t seed[32], pb[WR_P2P_PRIVKEY_ED25519_PB];
  if ((rv = wr_random_bytes(seed, sizeof seed)) != 0) {
    snprintf(err, errlen, "no randomness for a new key");
    return rv;
  }
  wr_p2p_privkey_from_seed(sk, seed);
  wr_p2p_privkey_encode(sk, pb);
  rv = wr_file_write_atomic(path, pb, sizeof pb, 0600, WR_FILE_NO_REPLACE, err, errlen);
  if (rv == WR_ERR_EXISTS)
    snprintf(err, errlen, "a key named \"%s\" already exists", name);
  memset(seed, 0, sizeof seed);
  memset(pb, 0, sizeof pb);
  return rv;
}

static int load_file(const char *path, const char *name, wr_p2p_privkey *sk, char *err,
                     size_t errlen) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_file_read_all(path, 4096, &b, err, errlen);
  if (rv == WR_ERR_NOTFOUND)
    snprintf(err, errlen, "no key named \"%s\" (see `warren key list`)", name);
  if (rv == 0) {
    const char *why = NULL;
    rv = wr_p2p_privkey_decode(b.data, b.len, sk, &why);
    if (rv != 0)
      snprintf(err, errlen, "key \"%s\" (%s) is not an Ed25519 key: %s", name, path, why);
  }
  if (b.data)
    memset(b.data, 0, b.len);
  wr_buf_free(&b);
  return rv;
}

int wr_keystore_load(const char *repo, const char *name, wr_p2p_privkey *sk, char *err,
                     size_t errlen) {
  char path[4096 + 300];
  int rv = key_path(repo, name, path, sizeof path, err, errlen);
  return rv ? rv : load_file(path, name, sk, err, errlen);
}

int wr_keystore_rm(const char *repo, const char *name, char *err, size_t errlen) {
  char path[4096 + 300];
  int rv = key_path(repo, name, path, sizeof path, err, errlen);
  if (rv != 0)
    return rv;
  if (unlink(path) != 0) {
    if (errno == ENOENT) {
      snprintf(err, errlen, "no key named \"%s\"", name);
      return WR_ERR_NOTFOUND;
    }
    snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    return WR_ERR_IO;
  }
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int wr_keystore_list(const char *repo, wr_keystore_fn fn, void *arg, char *err, size_t errlen) {
  char dir[4096 + 16];
  snprintf(dir, sizeof dir, "%s/%s", repo, WR_KEYSTORE_DIR);
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT)
      return 0;
    snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
    return WR_ERR_IO;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rv = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, PREFIX, 4) != 0)
      continue;
    char name[WR_KEYSTORE_NAME_MAX + 1];
    size_t len = 0;
    const char *enc = e->d_name + 4;
    if (wr_base_decode(WR_MB_BASE32, enc, strlen(enc), (uint8_t *)name, WR_KEYSTORE_NAME_MAX, &len,
                       NULL) != 0)
      continue;
    name[len] = '\0';
    if (strlen(name) != len || wr_keystore_check_name(name, NULL) != 0)
      continue;
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      char **nn = wr_realloc(names, ncap * sizeof *nn);
      if (!nn) {
        rv = WR_ERR_NOMEM;
        break;
      }
      names = nn, cap = ncap;
    }
    if (!(names[n] = wr_strdup(name))) {
      rv = WR_ERR_NOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (rv == 0 && n)
    qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n && rv == 0; i++) {
    wr_p2p_privkey sk;
    char path[4096 + 300], lerr[512];
    if (key_path(repo, names[i], path, sizeof path, lerr, sizeof lerr) != 0 ||
        load_file(path, names[i], &sk, lerr, sizeof lerr) != 0) {
      WR_WARN("Skipping a key that does not load", "name=%s err=\"%s\"", names[i], lerr);
      continue;
    }
    rv = fn(arg, names[i], &sk);
    memset(&sk, 0, sizeof sk);
  }
  for (size_t i = 0; i < n; i++)
    wr_free(names[i]);
  wr_free(names);
  (void)err, (void)errlen;
  return rv;
}
