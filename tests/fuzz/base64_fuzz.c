/* Fuzzes the strict base64 decoder: what decodes re-encodes to exactly the
 * input (one text per byte string), and an error offset is inside the text. */
#include <stdlib.h>
#include <string.h>

#include "proto/text/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[6144];
  static char text[8200];
  if (size > 8192)
    return 0;
  size_t n, off = 0;
  const char *why = NULL;
  int rv = wr_base64_decode((const char *)data, size, out, sizeof out, &n, &off, &why);
  if (rv) {
    if (!why || off > size)
      abort();
    return 0;
  }
  int k = wr_base64_encode(out, n, text, sizeof text);
  if (k < 0 || (size_t)k != size || memcmp(text, data, size) != 0)
    abort();
  return 0;
}
