/* Fuzzes weblinks: a URL parses or fails with a reason; a parsed URL
 * formats, and the formatted text parses back to the same URL; every
 * reference resolved against it gives an http URL of a clean path (it
 * starts with '/', no "." or ".." segment); the HTML walk ends, giving
 * values no longer than a URL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/weblinks.h"

static wr_url base;

static int clean(const wr_url *u) {
  if (u->path[0] != '/')
    return 0;
  for (const char *p = u->path; (p = strchr(p, '/')) != NULL; p++)
    if (strncmp(p, "/./", 3) == 0 || strncmp(p, "/../", 4) == 0 || strcmp(p, "/.") == 0 ||
        strcmp(p, "/..") == 0)
      return 0;
  return 1;
}

static int on_link(void *arg, const char *v, size_t n) {
  (void)arg;
  if (n >= WR_URL_PATH_MAX || strlen(v) != n)
    abort();
  wr_url u;
  const char *why = NULL;
  int rv = wr_url_resolve(&base, v, n, &u, &why);
  if (rv ? why == NULL : !clean(&u))
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *why = NULL;
  wr_url u, back;
  int rv = wr_url_parse((const char *)data, size, &u, &why);
  if (rv) {
    if (!why)
      abort();
  } else {
    static char text[3 * WR_URL_PATH_MAX + WR_URL_HOST_MAX];
    long n = wr_url_format(&u, text, sizeof text);
    if (n < 0 || !clean(&u) || wr_url_parse(text, (size_t)n, &back, &why) != 0 ||
        strcmp(back.host, u.host) != 0 || back.port != u.port || strcmp(back.path, u.path) != 0 ||
        back.has_query != u.has_query || strcmp(back.query, u.query) != 0)
      abort();
  }
  (void)wr_url_parse("http://example.com/a/b/index.html", 33, &base, NULL);
  rv = wr_html_links(data, size, 64, on_link, NULL, &why);
  if (rv != 0 && rv != WR_ERR_LIMIT && rv != WR_ERR_MALFORMED)
    abort();
  return 0;
}
