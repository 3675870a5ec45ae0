/* Fuzzes the multiformats varint decoder: whatever decodes must re-encode to
 * exactly the bytes consumed (minimality), and nothing reads past the end. */
#include <stdlib.h>
#include <string.h>

#include "proto/multiformats/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_cursor c;
  wr_cursor_init(&c, data, size);
  while (wr_cursor_left(&c)) {
    const uint8_t *start = c.pos;
    uint64_t v;
    const char *why = NULL;
    if (wr_varint_decode(&c, &v, &why)) {
      if (!why || c.pos != start)
        abort();
      break;
    }
    uint8_t out[WR_VARINT_MAX_BYTES];
    int n = wr_varint_encode(out, v);
    if (n < 0 || (size_t)n != (size_t)(c.pos - start) || memcmp(out, start, (size_t)n) != 0)
      abort();
  }
  return 0;
}
