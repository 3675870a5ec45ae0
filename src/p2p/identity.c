/* identity.c: the node's libp2p key file. */
#include "p2p/identity.h"

#include <sodium.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "io/file.h"
#include "io/random.h"

int wr_p2p_identity_load(const char *path, int create, wr_p2p_privkey *key, int *pcreated,
                         char *err, size_t errlen) {
  if (pcreated)
    *pcreated = 0;
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_file_read_all(path, 4096, &b, err, errlen);
  if (rv == WR_ERR_NOTFOUND && create) {
    uint8_t seed[32], pb[WR_P2P_PRIVKEY_ED25519_PB];
    rv = wr_random_bytes(seed, sizeof seed);
    if (rv != 0)
      return wr_errf(err, errlen, rv, "no randomness to make a key");
    wr_p2p_privkey_from_seed(key, seed);
    wr_p2p_privkey_encode(key, pb);
    rv = wr_file_write_atomic(path, pb, sizeof pb, 0600, WR_FILE_NO_REPLACE, err, errlen);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(pb, sizeof pb);
    if (rv == WR_ERR_EXISTS) /* another process made it first: use that one */
      return wr_p2p_identity_load(path, 0, key, NULL, err, errlen);
    if (rv == 0 && pcreated)
      *pcreated = 1;
    return rv;
  }
  if (rv != 0)
    return rv;
  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 077)) {
    sodium_memzero(b.data, b.len);
    wr_buf_free(&b);
    return wr_errf(err, errlen, WR_ERR_DENIED,
                   "the key file %s is readable by others (mode %o); chmod 600 it", path,
                   (unsigned)(st.st_mode & 0777));
  }
  const char *why = NULL;
  rv = wr_p2p_privkey_decode(b.data, b.len, key, &why);
  sodium_memzero(b.data, b.len);
  wr_buf_free(&b);
  if (rv != 0)
    return wr_errf(err, errlen, rv, "%s is not a libp2p Ed25519 private key: %s", path,
                   why ? why : wr_strerror(rv));
  return 0;
}
