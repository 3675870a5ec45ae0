/* Fuzzes DNSLink values: the input is split at '\n' into TXT values and
 * chosen from; every value that parses formats back into a content path that
 * parses to the same link, and a choice never depends on the order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text/dnslink.h"

static void check_one(const char *s, size_t n) {
  wr_dnslink l, again;
  const char *why = NULL;
  char out[WR_DNSLINK_MAX_STR + 1];
  int rv = wr_dnslink_parse_txt(s, n, &l, &why);
  if (rv != 0) {
    if (!why)
      abort();
    return;
  }
  int len = wr_dnslink_format(&l, NULL, out, sizeof out);
  if (len < 0 || wr_dnslink_parse_path(out, (size_t)len, &again, NULL) != 0 || again.ns != l.ns ||
      again.is_domain != l.is_domain || strcmp(again.id, l.id) || strcmp(again.path, l.path))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192)
    return 0;
  wr_dnslink_txt t[16], r[16];
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= size && n < 16; i++) {
    if (i == size || data[i] == '\n') {
      t[n].s = (const char *)data + start;
      t[n].n = i - start;
      check_one(t[n].s, t[n].n);
      n++;
      start = i + 1;
    }
  }
  wr_dnslink a, b;
  size_t ia = 0, ib = 0;
  const char *why = NULL;
  int ra = wr_dnslink_select(t, n, &a, &ia, NULL, NULL, &why);
  for (size_t i = 0; i < n; i++)
    r[i] = t[n - 1 - i];
  int rb = wr_dnslink_select(r, n, &b, &ib, NULL, NULL, &why);
  if (ra != rb)
    abort();
  if (ra == 0 && (t[ia].n != r[ib].n || memcmp(t[ia].s, r[ib].s, t[ia].n)))
    abort();
  return 0;
}
