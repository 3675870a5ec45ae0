/* Fuzzes multiaddrs: binary that decodes prints as text that parses back to
 * the same bytes; text that parses prints back to itself, except that /p2p
 * IDs given as CIDs print as base58. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/multiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_maddr a, b;
  const char *why = NULL;
  char s[WR_MA_MAX_STR * 2];
  if (wr_maddr_decode(data, size, &a, &why) == 0) {
    int n = wr_maddr_format(&a, s, sizeof s);
    if (n < 0)
      abort();
    if (wr_maddr_parse(s, (size_t)n, &b, NULL) == 0 &&
        (b.len != a.len || memcmp(a.bytes, b.bytes, a.len) != 0))
      abort();
  } else if (!why) {
    abort();
  }
  why = NULL;
  if (wr_maddr_parse((const char *)data, size, &a, &why) == 0) {
    int n = wr_maddr_format(&a, s, sizeof s);
    if (n < 0 || wr_maddr_decode(a.bytes, a.len, &b, NULL) != 0)
      abort();
    if (!memmem(data, size, "/p2p/", 5) && ((size_t)n != size || memcmp(s, data, size) != 0))
      abort();
  } else if (!why) {
    abort();
  }
  return 0;
}
