/* dnstxt.h: asynchronous DNS TXT lookups with c-ares on a libuv loop.
 *
 * io/dns resolves addresses with getaddrinfo on the thread pool; TXT records
 * need a real DNS client, and c-ares is one that leaves the sockets to the
 * caller: each of its sockets is watched with a uv_poll, and one uv_timer is
 * re-armed from ares_timeout after every step, so lookups cost no thread.
 * The answer is read by proto/dns (c-ares drops TXT TTLs), so each value
 * comes with its TTL. Lifetimes as libuv: the caller owns the resolver, every
 * query ends with exactly one callback, never from inside the call that
 * started it, and close is asynchronous. */
#ifndef WR_IO_DNSTXT_H
#define WR_IO_DNSTXT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"

/* The longest joined TXT value reported (longer ones are reported cut to
 * nothing, as malformed: DNSLink values are far shorter). */
#define WR_DNSTXT_MAX_VALUE 4096
/* At most this many TXT values per answer. */
#define WR_DNSTXT_MAX_VALUES 32

typedef struct wr_dnstxt wr_dnstxt;
typedef struct wr_dnstxt_query wr_dnstxt_query;

typedef struct wr_dnstxt_cfg {
  /* "ADDR:PORT" with a numeric address ("127.0.0.1:5353", "[::1]:53"), or
   * NULL/"" for the system's servers (/etc/resolv.conf). */
  const char *server;
  /* Whole budget of one lookup in ms (0: 5000): c-ares tries twice, the
   * second try waiting twice as long, so a try waits a third of it. */
  unsigned timeout_ms;
} wr_dnstxt_cfg;

typedef struct wr_dnstxt_value {
  const char *s; /* the character-strings joined, NUL-terminated */
  size_t n;
  uint32_t ttl;
} wr_dnstxt_value;

/* The end of one lookup, on the loop thread. status 0: n >= 1 TXT values of
 * the name (after CNAMEs) and ttl, the smallest TTL of the answer; err "".
 * Otherwise no values and err one sentence naming the name and the cause:
 * WR_ERR_NOTFOUND (NXDOMAIN, or no TXT record), WR_ERR_TIMEOUT (no answer
 * within the budget), WR_ERR_REFUSED (nothing listens at the server),
 * WR_ERR_CLOSED (cancelled or the resolver closed), WR_ERR_MALFORMED (an
 * answer that does not parse), WR_ERR_NOMEM, WR_ERR_IO (SERVFAIL, REFUSED
 * rcode, any other failure). values and err live until cb returns. */
typedef void (*wr_dnstxt_cb)(int status, const wr_dnstxt_value *values, size_t n, uint32_t ttl,
                             const char *err, void *arg);

/* Creates a resolver on loop. Returns 0 with *pr, or WR_ERR_INVAL (server
 * is not ADDR:PORT with a numeric address), WR_ERR_NOMEM or WR_ERR_IO (c-ares
 * cannot start, e.g. no usable /etc/resolv.conf) with a sentence in err
 * (errlen bytes; may be NULL). */
WR_MUST_CHECK int wr_dnstxt_new(uv_loop_t *loop, const wr_dnstxt_cfg *cfg, wr_dnstxt **pr,
                                char *err, size_t errlen);

/* Looks up the TXT records of name (a DNS name without a trailing dot);
 * cb(status, ..., arg) runs later, exactly once. *pq (pq may be NULL) is
 * valid until cb has run, for wr_dnstxt_cancel. Returns 0, or WR_ERR_INVAL
 * (empty or longer than 253 bytes), WR_ERR_CLOSED (the resolver is closing)
 * or WR_ERR_NOMEM, and then cb never runs. */
WR_MUST_CHECK int wr_dnstxt_lookup(wr_dnstxt *r, const char *name, wr_dnstxt_cb cb, void *arg,
                                   wr_dnstxt_query **pq);

/* Gives up on q: its cb runs soon with WR_ERR_CLOSED (on a later loop turn);
 * the DNS exchange itself ends in the background. Only before cb has run. */
void wr_dnstxt_cancel(wr_dnstxt_query *q);

/* Closes the resolver: every pending lookup's cb runs with WR_ERR_CLOSED,
 * then on_closed(arg) (may be NULL), after which the memory is gone. Nothing
 * runs from inside this call. */
void wr_dnstxt_close(wr_dnstxt *r, void (*on_closed)(void *arg), void *arg);

/* The server queried, for messages: the configured "ADDR:PORT", or
 * "the system resolver". */
const char *wr_dnstxt_server(const wr_dnstxt *r);

#endif
