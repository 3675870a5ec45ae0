/* random.h: cryptographically secure random bytes (libsodium's
 * randombytes, which reads getrandom()). For secrets and ids; src/proto
 * takes random bytes as input instead of drawing them. */
#ifndef WR_IO_RANDOM_H
#define WR_IO_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Fills p with n random bytes. WR_ERR_IO when libsodium cannot initialise
 * (no entropy source). */
WR_MUST_CHECK int wr_random_bytes(void *p, size_t n);

/* A fresh random (version 4) UUID. Errors as wr_random_bytes. */
WR_MUST_CHECK int wr_random_uuid(uint8_t id[16]);

#endif
