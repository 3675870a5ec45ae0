/* Fuzzes CID text parsing: a parsed CID formats back to the same text in the
 * base it came in, and its bytes parse to the same CID. */
#include <stdlib.h>
#include <string.h>

#include "proto/multiformats/cid.h"
#include "proto/multiformats/multibase.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_cid cid, again;
  const char *why = NULL;
  if (wr_cid_parse((const char *)data, size, &cid, &why)) {
    if (!why)
      abort();
    return 0;
  }
  char s[WR_CID_MAX_STR];
  int base = cid.version == 0 && size == WR_CIDV0_STR_LEN && data[0] == 'Q' ? 0 : data[0];
  int n = wr_cid_format(&cid, base, s, sizeof s);
  /* A v0 may legally arrive multibase-prefixed; it then formats as Qm... */
  if (n == WR_ERR_INVAL && cid.version == 0)
    return 0;
  if (n < 0 || (size_t)n != size || memcmp(s, data, size) != 0)
    abort();
  uint8_t b[WR_CID_MAX_BYTES];
  int bn = wr_cid_to_bytes(&cid, b, sizeof b);
  if (bn < 0 || wr_cid_from_bytes(b, (size_t)bn, &again, NULL) || !wr_cid_equal(&cid, &again))
    abort();
  return 0;
}
