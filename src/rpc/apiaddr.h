/* apiaddr.h: where the RPC API listens, in kubo's terms: a multiaddr
 * (/ip4/127.0.0.1/tcp/5001, /ip6/::1/tcp/5001) in the repo's `api` file and
 * in kubo's config (Addresses.API), or warren's ADDR:PORT on the command
 * line. Only these TCP forms: the API is plain HTTP over TCP.
 *
 * The `api` file is how the CLI finds a running daemon (as kubo's): the
 * daemon writes it once it listens and removes it when it stops; a stale
 * one (the daemon was killed) is recognized because nothing answers there. */
#ifndef WR_RPC_APIADDR_H
#define WR_RPC_APIADDR_H

#include <stddef.h>

#include "base/err.h"
#include "io/addr.h"

/* Longest multiaddr text written here, with its NUL. */
#define WR_API_MADDR_MAX 96

/* Parses "/ip4/A/tcp/P" or "/ip6/A/tcp/P" (numeric) into *pa. Returns 0, or
 * WR_ERR_INVAL with *preason (may be NULL) a static sentence. */
WR_MUST_CHECK int wr_api_maddr_parse(const char *s, size_t n, wr_addr *pa, const char **preason);
/* Writes a's multiaddr into out (WR_API_MADDR_MAX bytes). */
void wr_api_maddr_format(const wr_addr *a, char *out);

/* Writes "<repo>/api" with a's multiaddr (atomically). 0, or WR_ERR_IO with
 * a sentence in err. */
WR_MUST_CHECK int wr_api_file_write(const char *repo, const wr_addr *a, char *err, size_t errlen);
/* Reads "<repo>/api" into *pa: 0, WR_ERR_NOTFOUND (no daemon recorded),
 * WR_ERR_INVAL (a file that is not one address: err says so), WR_ERR_IO. */
WR_MUST_CHECK int wr_api_file_read(const char *repo, wr_addr *pa, char *err, size_t errlen);
/* Removes "<repo>/api" (a missing file is fine). */
void wr_api_file_remove(const char *repo);

#endif
