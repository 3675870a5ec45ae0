/* Fuzzes the small text parsers a tunnel's files and flags go through:
 * host names (a name that passes is lowercase and passes again unchanged),
 * UUIDs (parse, format, parse round trip) and Go-style durations. */
#include <stdlib.h>
#include <string.h>

#include "proto/text/yamldoc.h"
#include "proto/text/hostname.h"
#include "proto/text/uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1024)
    return 0;
  const char *s = (const char *)data;
  char out[WR_HOSTNAME_MAX + 1], again[WR_HOSTNAME_MAX + 1];
  const char *why = NULL;
  for (int wild = 0; wild < 2; wild++) {
    if (wr_hostname_check(s, size, wild, out, &why) == 0) {
      size_t n = strlen(out);
      if (n != size || wr_hostname_check(out, n, wild, again, NULL) != 0 || strcmp(out, again))
        abort();
    } else if (!why) {
      abort();
    }
  }
  uint8_t id[16], id2[16];
  if (wr_uuid_parse(s, size, id) == 0) {
    char txt[WR_UUID_STR_LEN + 1];
    wr_uuid_format(id, txt);
    if (wr_uuid_parse(txt, strlen(txt), id2) != 0 || memcmp(id, id2, 16) != 0)
      abort();
  }
  char *z = malloc(size + 1); /* wr_duration_parse takes a C string */
  if (!z)
    return 0;
  memcpy(z, data, size);
  z[size] = '\0';
  uint64_t ns;
  (void)wr_duration_parse(z, &ns);
  free(z);
  return 0;
}
