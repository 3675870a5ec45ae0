/* Fuzzes binary CID decoding: a decoded CID re-encodes to the bytes it was
 * read from, and round-trips through its text forms. */
#include <stdlib.h>
#include <string.h>

#include "proto/multiformats/cid.h"
#include "proto/multiformats/multibase.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_cursor c;
  wr_cursor_init(&c, data, size);
  wr_cid cid, again;
  const char *why = NULL;
  if (wr_cid_decode(&c, &cid, &why)) {
    if (!why || c.pos != data)
      abort();
    return 0;
  }
  size_t used = (size_t)(c.pos - data);
  uint8_t b[WR_CID_MAX_BYTES];
  int bn = wr_cid_to_bytes(&cid, b, sizeof b);
  if (bn < 0 || (size_t)bn != used || memcmp(b, data, used) != 0 ||
      wr_cid_encoded_size(&cid) != used)
    abort();
  const int bases[] = {0, WR_MB_BASE32, WR_MB_BASE36, WR_MB_BASE58BTC};
  for (size_t i = 0; i < 4; i++) {
    wr_cid v = cid;
    if (i)
      wr_cid_to_v1(&cid, &v);
    char s[WR_CID_MAX_STR];
    int n = wr_cid_format(&v, bases[i], s, sizeof s);
    if (n < 0 || wr_cid_parse(s, (size_t)n, &again, NULL) || !wr_cid_equal(&v, &again))
      abort();
  }
  return 0;
}
