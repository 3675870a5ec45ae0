/* httpget.h: one blocking HTTP/1.1 GET, for commands that read a web site
 * (`warren publish --url` snapshots one). Not for the event loop: it blocks
 * the calling thread for up to timeout_ms per step (connect, each read).
 *
 * The response is read with the strict parser of proto/http/http1 (a
 * response it refuses is an error, never guessed at); the body, up to
 * max_body bytes, is de-chunked into the caller's buffer. One request per
 * connection (Connection: close). */
#ifndef WR_IO_HTTPGET_H
#define WR_IO_HTTPGET_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_HTTPGET_FIELD_MAX 2048

typedef struct wr_httpget_result {
  int status;
  char content_type[256];              /* the Content-Type value, "" when none */
  char location[WR_HTTPGET_FIELD_MAX]; /* the Location value, "" when none */
} wr_httpget_result;

/* GETs target ("/path?query") from connect_host:port (a name, resolved with
 * the system resolver, or an IP literal; brackets around IPv6 allowed) with
 * Host: host_header. Appends the body to body (at most max_body bytes).
 * 0 with *res filled (any status), or an error with one sentence in err:
 * WR_ERR_NOTFOUND (the name does not resolve), WR_ERR_REFUSED (nothing
 * listens), WR_ERR_TIMEOUT, WR_ERR_IO, WR_ERR_MALFORMED (not HTTP, or a
 * response the parser refuses), WR_ERR_LIMIT (body over max_body),
 * WR_ERR_TRUNCATED (the connection ended inside the response). */
WR_MUST_CHECK int wr_httpget(const char *connect_host, uint16_t port, const char *host_header,
                             const char *target, uint64_t timeout_ms, size_t max_body, wr_buf *body,
                             wr_httpget_result *res, char *err, size_t errlen);

#endif
