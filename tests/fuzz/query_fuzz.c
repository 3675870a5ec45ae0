/* Fuzzes the query parser and percent-decoding: a parse either fails with a
 * reason and no pairs, or gives pairs whose names are non-empty and whose
 * text stays inside the parse's own buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static wr_query q;
  const char *why = NULL;
  int rv = wr_query_parse(&q, (const char *)data, size, &why);
  if (rv) {
    if (!why || q.n != 0)
      abort();
  } else {
    for (size_t i = 0; i < q.n; i++) {
      if (!q.key[i][0] || q.key[i] < q.text || q.val[i] < q.text ||
          q.val[i] + strlen(q.val[i]) >= q.text + sizeof q.text)
        abort();
      if (wr_query_get(&q, q.key[i]) == NULL)
        abort();
    }
  }
  char out[256];
  long n = wr_percent_decode((const char *)data, size, out, sizeof out);
  if (n >= 0 && ((size_t)n >= sizeof out || strlen(out) != (size_t)n))
    abort();
  return 0;
}
