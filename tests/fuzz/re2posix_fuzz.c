/* Fuzzes the Go-to-POSIX expression translator: a refusal always says why; a
 * translation has no NUL byte, and regcomp (which the ingress runs on it)
 * must either compile it or refuse it, never crash. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text/re2posix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64) /* regcomp's cost grows fast with nested repetition */
    return 0;
  wr_buf b;
  wr_buf_init(&b, 4096);
  int icase = 0;
  char why[256] = "";
  int rv = wr_re2_to_posix((const char *)data, size, &b, &icase, why, sizeof why);
  if (rv == WR_ERR_INVAL && !why[0])
    abort();
  if (rv == 0) {
    if (memchr(b.data, '\0', b.len))
      abort();
    char *z = malloc(b.len + 1);
    if (z) {
      memcpy(z, b.data, b.len);
      z[b.len] = '\0';
      regex_t re;
      if (regcomp(&re, z, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) == 0) {
        (void)regexec(&re, "/api/v1/users/42.json", 0, NULL, 0);
        regfree(&re);
      }
      free(z);
    }
  }
  wr_buf_free(&b);
  return 0;
}
