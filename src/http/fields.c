/* fields.c: methods and fields by their HTTP semantics. */
#include "http/fields.h"

#include <string.h>

int wr_http_method_idempotent(wr_h1_slice m) {
  static const char *const names[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (m.len == strlen(names[i]) && memcmp(m.p, names[i], m.len) == 0)
      return 1;
  return 0;
}

int wr_http_response_hop_by_hop(wr_h1_slice name) {
  return wr_h1_slice_eq_ci(name, "connection") || wr_h1_slice_eq_ci(name, "keep-alive") ||
         wr_h1_slice_eq_ci(name, "transfer-encoding") || wr_h1_slice_eq_ci(name, "te") ||
         wr_h1_slice_eq_ci(name, "trailer") || wr_h1_slice_eq_ci(name, "proxy-connection") ||
         wr_h1_slice_eq_ci(name, "upgrade");
}
