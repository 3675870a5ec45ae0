/* Fuzzes the `_redirects` file (gateway/redirects.h): the input is split at
 * its last NUL into a file and a request path. A refusal says why and on
 * which line; a file that passes matches any path without fault, and a
 * match is a supported status with a NUL-terminated target that is a path
 * or an http(s) URL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/redirects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  size_t fn = size;
  char path[512] = "/";
  for (size_t i = size; i-- > 0;)
    if (p[i] == '\0') {
      fn = i;
      size_t pl = size - i - 1;
      if (pl > sizeof path - 2)
        pl = sizeof path - 2;
      path[0] = '/';
      memcpy(path + 1, p + i + 1, pl);
      path[pl + 1] = '\0';
      break;
    }
  const char *why = NULL;
  size_t line = 0;
  int rc = wr_redirects_check(p, fn, &why, &line);
  if (rc != 0) {
    if (!why || (rc == WR_ERR_MALFORMED && line == 0))
      abort();
    return 0;
  }
  char out[1024];
  for (int escape = 0; escape < 2; escape++) {
    int st = 0;
    int m = wr_redirects_match(p, fn, path, escape, &st, out, sizeof out);
    if (m == 1) {
      if (strlen(out) >= sizeof out)
        abort();
      if (st != 200 && st != 301 && st != 302 && st != 303 && st != 307 && st != 308 && st != 404 &&
          st != 410 && st != 451)
        abort();
      if (out[0] != '/' && strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)
        abort();
    } else if (m != 0 && m != WR_ERR_LIMIT) {
      abort();
    }
  }
  return 0;
}
