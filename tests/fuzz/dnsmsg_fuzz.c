/* Fuzzes the DNS response reader: whatever it keeps lies inside the
 * message, and every kept TXT value joins without reading past it. */
#include <stdlib.h>
#include <string.h>

#include "proto/dns/dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_dnsmsg_answer a;
  const char *why = NULL;
  char v[WR_DNSMSG_MAX_TXT_VALUE];
  size_t vl;
  if (wr_dnsmsg_parse_txt(data, size, &a, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  if (strlen(a.qname) >= WR_DNSMSG_MAX_NAME || a.ntxt > WR_DNSMSG_MAX_TXT)
    abort();
  for (size_t i = 0; i < a.ntxt; i++) {
    if ((size_t)a.txt[i].off + a.txt[i].len > size)
      abort();
    int rv = wr_dnsmsg_txt_value(data, &a.txt[i], v, sizeof v, &vl, &why);
    if (rv == 0 && (vl >= sizeof v || vl > a.txt[i].len))
      abort();
  }
  return 0;
}
