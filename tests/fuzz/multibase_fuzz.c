/* Fuzzes multibase decoding: a decoded text re-encodes to the same text
 * (the decoders accept one canonical text per byte string). */
#include <stdlib.h>
#include <string.h>

#include "proto/multiformats/multibase.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[1 << 16];
  static char text[1 << 18];
  if (size > 8192)
    return 0;
  size_t n;
  int base;
  const char *why = NULL;
  int rv = wr_multibase_decode((const char *)data, size, &base, out, sizeof out, &n, &why);
  if (rv) {
    if (!why)
      abort();
    return 0;
  }
  int len = wr_multibase_encode(base, out, n, text, sizeof text);
  if (len < 0 || (size_t)len != size || memcmp(text, data, size) != 0)
    abort();
  return 0;
}
