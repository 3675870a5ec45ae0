/* Fuzzes the API multiaddr parser: what parses formats back to a text that
 * parses to the same address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/apiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_addr a, b;
  const char *why = NULL;
  if (wr_api_maddr_parse((const char *)data, size, &a, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  char s[WR_API_MADDR_MAX];
  wr_api_maddr_format(&a, s);
  if (wr_api_maddr_parse(s, strlen(s), &b, &why) != 0 || !wr_addr_equal(&a, &b))
    abort();
  return 0;
}
