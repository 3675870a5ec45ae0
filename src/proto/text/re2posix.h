/* re2posix.h: Go regular expressions (RE2 syntax), as cloudflared's ingress
 * paths are written, turned into POSIX extended expressions for regcomp.
 *
 * An ingress path only asks "does this expression match somewhere in the
 * path?", so constructs that change which text a match covers but not
 * whether there is one translate simply:
 *   \d \w \s and their negations     [0-9] [[:alnum:]_] [\t\n\f\r ] (also
 * inside [...])
 *   (?:x) (?P<n>x) (?<n>x)           (x)
 *   x*? x+? x?? x{m,n}?              the greedy forms
 *   (?i) at the very start           case-insensitive (REG_ICASE); (?s) (?m)
 * (?U): no effect on a path \A \z                            ^ $ (there is one
 * line)
 *   \. \/ \- \t \x41 \x{e9} \123 \Q...\E   the literal characters
 *   a '{' that does not start a repetition: a literal '{'
 * Refused as Go refuses them, in Go's words: bad escapes, back-references,
 * lookarounds, nested repetition (a++), unclosed brackets and groups, bad
 * ranges. Refused because POSIX cannot say them, naming the construct: \b \B
 * (word boundaries), \p and \P (Unicode classes), (?i) after the start,
 * (?i:...) groups, turning a flag off, \D \W \S or [:^alpha:] inside a
 * class, non-ASCII inside a class. Anything else is passed through for
 * regcomp to judge. */
#ifndef WR_PROTO_TEXT_RE2POSIX_H
#define WR_PROTO_TEXT_RE2POSIX_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* Appends the POSIX ERE for the len bytes of re2 to out (its limit applies)
 * and sets *picase to 1 when the expression asked for case-insensitive
 * matching. Returns 0; WR_ERR_INVAL with a sentence in err (errlen bytes at
 * most) in Go's words where Go refuses too ("invalid escape sequence: `\\q`"),
 * else "no POSIX equivalent for ...: `<construct>`"; WR_ERR_LIMIT or
 * WR_ERR_NOMEM from out. */
WR_MUST_CHECK int wr_re2_to_posix(const char *re2, size_t len, wr_buf *out, int *picase, char *err,
                                  size_t errlen);

#endif
