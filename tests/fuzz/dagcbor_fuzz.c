/* Fuzzes the dag-cbor link walker: any input either walks cleanly or gives
 * one of the documented errors, never reads past the end, and reports every
 * link as a CID that formats. */
#include <stdlib.h>

#include "proto/ipld/dagcbor.h"

static int on_link(void *arg, const wr_cid *cid) {
  size_t *count = arg;
  char s[WR_CID_MAX_STR];
  if (cid->version == 1 && wr_cid_format(cid, 0, s, sizeof s) < 0)
    abort();
  (*count)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t count = 0;
  const char *why = NULL;
  int rc = wr_dagcbor_links(data, size, on_link, &count, &why);
  if (rc != 0 && rc != WR_ERR_TRUNCATED && rc != WR_ERR_MALFORMED && rc != WR_ERR_LIMIT)
    abort();
  if (rc != 0 && !why)
    abort();
  if (count > size)
    abort();
  return 0;
}
