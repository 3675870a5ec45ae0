/* page.c: the server's own HTML answers. */
#include "http/page.h"

#include <stdio.h>
#include <string.h>

int wr_http_page_format(char *buf, size_t cap, int status, const char *title, const char *detail) {
  int n = snprintf(buf, cap,
                   "<!doctype html>\n<html><head><title>%d %s</title></head>\n"
                   "<body><h1>%d %s</h1>\n<p>%s</p>\n<hr><p>warren edge</p></body></html>\n",
                   status, title, status, title, detail);
  return n < 0 || (size_t)n >= cap ? 0 : n;
}

void wr_http_page_send(wr_http_req *q, int status, const char *title, const char *detail,
                       unsigned flags) {
  char body[1024];
  int blen = wr_http_page_format(body, sizeof body, status, title, detail);
  char cl[24];
  snprintf(cl, sizeof cl, "%d", blen);
  wr_h1_header hs[3] = {{{"Content-Type", 12}, {"text/html; charset=utf-8", 24}},
                        {{"Content-Length", 14}, {cl, strlen(cl)}},
                        {{"Cache-Control", 13}, {"no-store", 8}}};
  if (q->ops->head(q, status, hs, 3, flags | WR_HTTP_RESP_BODY) != 0) {
    q->ops->abort(q);
    return;
  }
  (void)q->ops->body(q, (const uint8_t *)body, (size_t)blen);
  q->ops->end(q);
}
