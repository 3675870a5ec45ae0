/* Fuzzes host names to ASCII (IDNA): a name that converts is ASCII, at most
 * 253 bytes, and converts again to itself; a refusal always says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text/idna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2048)
    return 0;
  char out[WR_IDNA_MAX + 1], again[WR_IDNA_MAX + 1];
  const char *why = NULL;
  if (wr_idna_to_ascii((const char *)data, size, out, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  size_t n = strlen(out);
  if (n > WR_IDNA_MAX)
    abort();
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)out[i] >= 0x80 || (out[i] >= 'A' && out[i] <= 'Z'))
      abort();
  if (wr_idna_to_ascii(out, n, again, NULL) != 0 || strcmp(out, again) != 0)
    abort();
  return 0;
}
