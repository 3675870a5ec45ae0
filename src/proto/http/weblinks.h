/* weblinks.h: the grammar a site snapshot needs (`warren publish --url`):
 * http URLs, references resolved against the URL of the page they are on
 * (RFC 3986 section 5.2, dot segments removed), and the href and src
 * attribute values of an HTML page. Pure: no I/O, no allocation.
 *
 * Strict where it decides what is fetched: only http URLs (https, mailto:,
 * javascript: and the rest are refused with a reason), no user info, a
 * host of letters, digits, '-' and '.' (or an [IPv6] literal), a port up to
 * 65535, paths and queries of URL characters only (a space or a byte over
 * 0x7e must come percent-encoded). Lenient only where HTML is: attribute
 * values may be quoted or not, with character references. */
#ifndef WR_PROTO_HTTP_WEBLINKS_H
#define WR_PROTO_HTTP_WEBLINKS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define WR_URL_HOST_MAX 256
#define WR_URL_PATH_MAX 2048

typedef struct wr_url {
  char host[WR_URL_HOST_MAX]; /* lower case; an IPv6 literal keeps its brackets */
  uint16_t port;              /* 80 when not written */
  char path[WR_URL_PATH_MAX]; /* starts with '/', no dot segments; escapes kept */
  char query[WR_URL_PATH_MAX];
  int has_query; /* a '?' was written (the query may be empty) */
} wr_url;

/* Parses an absolute http URL (the fragment is dropped). 0,
 * WR_ERR_UNSUPPORTED (another scheme), WR_ERR_MALFORMED, WR_ERR_LIMIT (a
 * part too long); *preason (may be NULL) gets a sentence. */
WR_MUST_CHECK int wr_url_parse(const char *s, size_t n, wr_url *u, const char **preason);

/* Resolves the reference ref (n bytes; surrounding ASCII whitespace ignored,
 * as browsers do) against base into *out. Errors as wr_url_parse. */
WR_MUST_CHECK int wr_url_resolve(const wr_url *base, const char *ref, size_t n, wr_url *out,
                                 const char **preason);

/* 1 when a and b have the same host and port. */
int wr_url_same_origin(const wr_url *a, const wr_url *b);

/* Writes "http://host[:port]/path[?query]" into out. Returns its length or
 * WR_ERR_LIMIT when cap is too small. */
WR_MUST_CHECK long wr_url_format(const wr_url *u, char *out, size_t cap);

/* The value of each href and src attribute in an HTML page, in document
 * order, with character references decoded (&amp;, &lt;, &gt;, &quot;,
 * &apos;, &#N;, &#xN; for ASCII), comments and the text of script and style
 * elements skipped; values longer than WR_URL_PATH_MAX are passed over. fn
 * returning non-zero stops the walk with that value. 0, fn's value,
 * WR_ERR_MALFORMED (a NUL byte: not a text page), WR_ERR_LIMIT (more than
 * max_links values). */
typedef int (*wr_html_link_fn)(void *arg, const char *v, size_t n);
WR_MUST_CHECK int wr_html_links(const uint8_t *p, size_t n, size_t max_links, wr_html_link_fn fn,
                                void *arg, const char **preason);

#endif
