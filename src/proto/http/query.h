/* query.h: a request target's query string (`?arg=Qm...&cid-version=1`),
 * the way kubo's RPC API passes a command's arguments and options.
 *
 * wr_query_parse splits the query at '&' and '=', percent-decodes names and
 * values ('+' is a space, as in HTML forms, which Go's url.ParseQuery and
 * the JS clients follow) into one buffer the parse owns, and keeps the pairs
 * in order (`arg` may repeat). Strict: a '%' not followed by two hex digits,
 * a decoded NUL, an empty name, more than WR_QUERY_MAX_PAIRS pairs or more
 * than WR_QUERY_MAX_BYTES decoded bytes are refused with a reason. */
#ifndef WR_PROTO_HTTP_QUERY_H
#define WR_PROTO_HTTP_QUERY_H

#include <stddef.h>

#include "base/err.h"

#define WR_QUERY_MAX_PAIRS 64u
#define WR_QUERY_MAX_BYTES 16384u

typedef struct wr_query {
  size_t n;
  const char *key[WR_QUERY_MAX_PAIRS]; /* NUL-terminated, into text */
  const char *val[WR_QUERY_MAX_PAIRS]; /* NUL-terminated ("" for a bare name) */
  char text[WR_QUERY_MAX_BYTES + 2 * WR_QUERY_MAX_PAIRS];
} wr_query;

/* Parses len bytes of a query (without the '?'). Returns 0, or
 * WR_ERR_MALFORMED / WR_ERR_LIMIT with *preason (may be NULL) a static
 * sentence; q is then empty. */
WR_MUST_CHECK int wr_query_parse(wr_query *q, const char *s, size_t len, const char **preason);

/* The first value of key, or NULL. */
const char *wr_query_get(const wr_query *q, const char *key);

/* Splits a request target into its path and query (without '?'). */
void wr_query_split_target(const char *target, size_t len, size_t *ppath_len, const char **pquery,
                           size_t *pquery_len);

/* Percent-decodes len bytes of s into out (cap bytes, NUL-terminated); '+'
 * stays '+' (paths and filenames, unlike queries). Returns the decoded
 * length or WR_ERR_MALFORMED (a bad escape or a NUL) / WR_ERR_LIMIT. */
long wr_percent_decode(const char *s, size_t len, char *out, size_t cap);

#endif
