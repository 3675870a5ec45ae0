/* Fuzzes the gateway's request grammar (gateway/gwparse.h): the input is
 * split at its first two NUL bytes into a target, an Accept value and a
 * Range value. Every refusal says why; a split path is NUL-terminated and
 * fits; a parsed range lies inside the size; entity ranges too. */
#include <stdlib.h>
#include <string.h>

#include "gateway/gwparse.h"
#include "gateway/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  const char *z1 = memchr(p, 0, size);
  size_t tn = z1 ? (size_t)(z1 - p) : size;
  const char *acc = z1 ? z1 + 1 : p + size;
  size_t rest = (size_t)(p + size - acc);
  const char *z2 = memchr(acc, 0, rest);
  size_t an = z2 ? (size_t)(z2 - acc) : rest;
  const char *rng = z2 ? z2 + 1 : acc + an;
  size_t rn = (size_t)(p + size - rng);

  char path[WR_GW_PATH_MAX];
  const char *q = NULL, *why = NULL;
  size_t qn = 0;
  int rc = wr_gw_split_target(p, tn, path, sizeof path, &q, &qn, &why);
  if (rc != 0 && !why)
    abort();
  wr_gw_params prm;
  memset(&prm, 0, sizeof prm);
  prm.car_dups = -1;
  prm.download = -1;
  if (rc == 0) {
    if (strlen(path) >= sizeof path || q < p || q + qn > p + tn)
      abort();
    why = NULL;
    if (wr_gw_parse_query(q, qn, &prm, &why) != 0 && !why)
      abort();
    if (strlen(prm.filename) > WR_GW_NAME_MAX)
      abort();
  }
  why = NULL;
  if (wr_gw_parse_accept(acc, an, &prm, &why) != 0 && !why)
    abort();
  uint64_t sizes[] = {0, 1, 1000, UINT64_MAX / 2};
  for (size_t i = 0; i < 4; i++) {
    uint64_t a = 0, b = 0;
    int k = wr_gw_parse_range(rng, rn, sizes[i], &a, &b);
    if (k == 1 && (a > b || b >= sizes[i]))
      abort();
    if (wr_gw_entity_range(&prm, sizes[i], &a, &b) == 1 && (a > b || b >= sizes[i]))
      abort();
  }
  (void)wr_gw_etag_match(acc, an, "\"bafy\"");
  char label[64];
  int l = wr_gw_subdomain_label(p, tn, "gw.example", label);
  if (l == 1 && strlen(label) > 63)
    abort();
  (void)wr_mime_sniff(data, size);
  return 0;
}
