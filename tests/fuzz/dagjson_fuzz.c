/* Fuzzes the dag-json link walker: any input either walks cleanly or gives
 * one of the documented errors with a reason, never reads past the end, and
 * every link it reports is a CID that formats. */
#include <stdlib.h>

#include "proto/ipld/dagjson.h"

static int on_link(void *arg, const wr_cid *cid) {
  size_t *count = arg;
  char s[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, s, sizeof s) < 0)
    abort();
  (*count)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t count = 0;
  const char *why = NULL;
  int rc = wr_dagjson_links(data, size, on_link, &count, &why);
  if (rc != 0 && rc != WR_ERR_TRUNCATED && rc != WR_ERR_MALFORMED && rc != WR_ERR_LIMIT)
    abort();
  if (rc != 0 && !why)
    abort();
  if (count > size)
    abort();
  return 0;
}
