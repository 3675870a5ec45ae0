/* page.h: the server's own answers, a short HTML page (the edge's "404: no
 * tunnel serves this hostname", "502: the tunnel is offline", ...). */
#ifndef WR_HTTP_PAGE_H
#define WR_HTTP_PAGE_H

#include <stddef.h>

#include "http/handler.h"

/* The page for status into buf; returns its length (0 when cap is too small). */
int wr_http_page_format(char *buf, size_t cap, int status, const char *title, const char *detail);

/* Answers q with the page (Content-Type text/html, Content-Length,
 * Cache-Control: no-store) and ends the response: the exchange is over for
 * the caller. flags: WR_HTTP_RESP_CLOSE to end the user's connection after it. */
void wr_http_page_send(wr_http_req *q, int status, const char *title, const char *detail,
                       unsigned flags);

#endif
