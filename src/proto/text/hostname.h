/* hostname.h: DNS host names as tunnels claim them. */
#ifndef WR_PROTO_TEXT_HOSTNAME_H
#define WR_PROTO_TEXT_HOSTNAME_H

#include <stddef.h>

#include "base/err.h"

#define WR_HOSTNAME_MAX 253

/* Checks a host name for a tunnel: labels of letters, digits and '-'
 * (not at either end of a label), 1-63 bytes each, 253 in all, at least two
 * labels, no trailing dot, no port. With allow_wildcard, a leading "*." is
 * accepted. Copies the lowercased name into out (WR_HOSTNAME_MAX + 1 bytes).
 * WR_ERR_INVAL with *preason (may be NULL) set to a static sentence. */
WR_MUST_CHECK int wr_hostname_check(const char *s, size_t len, int allow_wildcard, char *out,
                                    const char **preason);

#endif
