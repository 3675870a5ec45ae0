/* redirects.h: the `_redirects` file of a website (ipfs/specs
 * web-redirects-file), pure and allocation-free over the file's bytes.
 *
 * One rule a line: `FROM TO [STATUS]`, blank lines and lines starting with
 * '#' ignored, lines ending in "\n" or "\r\n", leading and trailing spaces
 * and tabs ignored. FROM is a path whose segments may be `:name`
 * placeholders (each name once) and whose last segment may be `*` (the splat);
 * TO is a path (no "." or ".." segment: a rule cannot climb out of the
 * site, and not "//host") or an http(s) URL, where `:name` and `:splat`
 * are replaced; STATUS is one of 200 (a rewrite), 301 (the default), 302,
 * 303, 307, 308, 404, 410, 451. A file over 64 KiB, or with any bad line,
 * is refused as a whole (the gateway answers 500 with the reason).
 * Fuzzed in tests/fuzz/redirects_fuzz.c. */
#ifndef WR_GATEWAY_REDIRECTS_H
#define WR_GATEWAY_REDIRECTS_H

#include <stddef.h>

#include "base/err.h"

#define WR_REDIRECTS_MAX_SIZE 65536

/* Checks every line of the file. 0, or WR_ERR_LIMIT (too large) /
 * WR_ERR_MALFORMED with a sentence in *pwhy (static) and the 1-based line
 * in *pline (0 for the size). */
WR_MUST_CHECK int wr_redirects_check(const char *text, size_t n, const char **pwhy, size_t *pline);

/* Finds the first rule whose FROM matches path (a decoded URL path,
 * "/..."; one trailing '/' does not count) in a file that passed
 * wr_redirects_check. Returns 1 with its status and TO, placeholders
 * replaced, in out (cap bytes; with escape, the values are percent-encoded
 * for a Location header), 0 when no rule matches, WR_ERR_LIMIT when TO does
 * not fit. */
WR_MUST_CHECK int wr_redirects_match(const char *text, size_t n, const char *path, int escape,
                                     int *pstatus, char *out, size_t cap);

#endif
