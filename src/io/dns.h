/* dns.h: asynchronous name resolution on a libuv loop.
 *
 * uv_getaddrinfo runs getaddrinfo on libuv's thread pool, so a slow or dead
 * resolver never stalls the loop. The answer comes back on the loop as a
 * list of wr_addr (io/addr.h) or as one sentence saying what failed, ready
 * for a log line or a CLI error. Numeric addresses resolve too (without a
 * DNS query), so callers need no special case for them. */
#ifndef WR_IO_DNS_H
#define WR_IO_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "io/addr.h"

/* At most this many addresses are reported (the rest are dropped). */
#define WR_DNS_MAX_ADDRS 16
/* Longest host name wr_dns_split_hostport accepts, with its NUL. */
#define WR_DNS_MAX_HOST 256

typedef struct wr_dns_req wr_dns_req;

/* The answer to one wr_dns_resolve, called exactly once on the loop thread.
 * status 0: naddrs >= 1 addresses, in the resolver's order of preference,
 * each with the port asked for; err is "". Otherwise a negative WR_ERR_*
 * (WR_ERR_NOTFOUND: the name does not resolve; WR_ERR_CLOSED: cancelled;
 * WR_ERR_NOMEM; WR_ERR_IO: any other resolver failure), no addresses, and err
 * one sentence naming the host and the cause. addrs and err live until cb
 * returns; the request is freed right after it. */
typedef void (*wr_dns_cb)(int status, const wr_addr *addrs, size_t naddrs, const char *err,
                          void *arg);

/* Splits "HOST:PORT" or "[IPV6]:PORT" (PORT 1 to 65535, digits only; HOST
 * without blanks, '/', '[' or ']') into host (hostcap bytes, may be NULL to
 * only check) and *pport (may be NULL). Returns 0 or WR_ERR_INVAL. */
WR_MUST_CHECK int wr_dns_split_hostport(const char *s, char *host, size_t hostcap,
                                        uint16_t *pport);

/* Starts resolving hostport ("HOST:PORT" as wr_dns_split_hostport takes it)
 * on loop; cb(status, ..., arg) runs later, never from inside this call.
 * *preq (preq may be NULL) is the request, valid until cb has run: pass it
 * to wr_dns_cancel, never free it. Returns 0, or WR_ERR_INVAL (not
 * HOST:PORT), WR_ERR_NOMEM or WR_ERR_IO with a sentence in err (errlen
 * bytes; err may be NULL), and then cb never runs. */
WR_MUST_CHECK int wr_dns_resolve(uv_loop_t *loop, const char *hostport, wr_dns_cb cb, void *arg,
                                 wr_dns_req **preq, char *err, size_t errlen);

/* Gives up on req: cb still runs exactly once, with WR_ERR_CLOSED, soon
 * when the lookup has not started, else when it ends (a getaddrinfo running
 * on the thread pool cannot be interrupted). Whoever owns arg must wait for
 * that call before freeing it. Only before cb has run. */
void wr_dns_cancel(wr_dns_req *req);

#endif
