#include "io/random.h"

#include <sodium.h>

#include "proto/text/uuid.h"

int wr_random_bytes(void *p, size_t n) {
  /* sodium_init is idempotent and thread-safe; it fails only without an
   * entropy source. */
  if (sodium_init() < 0)
    return WR_ERR_IO;
  randombytes_buf(p, n);
  return 0;
}

int wr_random_uuid(uint8_t id[16]) {
  int rv = wr_random_bytes(id, 16);
  if (rv == 0)
    wr_uuid_make_v4(id);
  return rv;
}
