/* dnslink_resolver.h: DNSLink names resolved to content paths on a libuv
 * loop, with a TTL cache.
 *
 * Given a host ("example.com", a Host header's "example.com:8080" too), looks
 * up the TXT records of _dnslink.<host> (io/dnstxt), falls back to <host>
 * itself when that has no DNSLink (dnslink.dev allows it), chooses a record
 * (proto/text/dnslink) and, for "/ipns/<domain>", follows the chain up to
 * max_depth steps, joining the paths: /ipns/a.test/x with a.test ->
 * /ipns/b.test/y and b.test -> /ipfs/<cid>/z gives /ipfs/<cid>/z/y/x. Each
 * step's result is cached per domain for its TTL (capped), and "no DNSLink"
 * for the negative TTL; timeouts and server failures are not cached.
 * Requests needing the same uncached domain at once share one lookup. */
#ifndef WR_IO_DNSLINK_RESOLVER_H
#define WR_IO_DNSLINK_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"

/* kubo's and the specs' recursion limit. */
#define WR_DNSLINK_MAX_DEPTH 32

typedef struct wr_dnslink_resolver wr_dnslink_resolver;
typedef struct wr_dnslink_req wr_dnslink_req;

#define WR_DNSLINK_MAX_LOOKUPS 256

typedef struct wr_dnslink_cfg {
  const char *server;      /* "ADDR:PORT", or NULL for the system resolver */
  unsigned timeout_ms;     /* budget of one TXT lookup (0: 5000) */
  size_t cache_entries;    /* domains cached (0: 1024); the least recently used go first */
  uint32_t max_ttl_s;      /* a TTL above this is cut to it (0: 3600) */
  uint32_t negative_ttl_s; /* how long "no DNSLink" is remembered (0: 60) */
  unsigned max_depth;      /* /ipns/<domain> steps followed (0: WR_DNSLINK_MAX_DEPTH) */
  int no_bare_fallback;    /* 1: only _dnslink.<host>, never <host> itself */
  size_t max_lookups;      /* domains looked up at once (0: WR_DNSLINK_MAX_LOOKUPS); past
                              it a request needing another fails with WR_ERR_AGAIN */
  wr_metrics *metrics;     /* may be NULL; warren_dnslink_* families */
} wr_dnslink_cfg;

/* The end of one resolution, on the loop thread, exactly once. status 0:
 * path is the content path ("/ipfs/<cid>[/p]", or "/ipns/<key>[/p]", or with
 * recursive 0 possibly "/ipns/<domain>[/p]"), err "". Otherwise path "" and
 * err one sentence: WR_ERR_NOTFOUND (no DNSLink), WR_ERR_MALFORMED (only
 * unusable dnslink= records; the sentence says why), WR_ERR_LIMIT (more than
 * max_depth steps: a loop), WR_ERR_INVAL (host is not a DNS name), WR_ERR_AGAIN
 * (max_lookups domains are being looked up: refused without asking),
 * WR_ERR_TIMEOUT, WR_ERR_REFUSED, WR_ERR_IO (the DNS server failed),
 * WR_ERR_CLOSED (cancelled or the resolver closed), WR_ERR_NOMEM. path and
 * err live until cb returns. */
typedef void (*wr_dnslink_cb)(int status, const char *path, const char *err, void *arg);

/* Creates a resolver on loop. 0 with *pres, or WR_ERR_INVAL (bad server),
 * WR_ERR_NOMEM, WR_ERR_IO, with a sentence in err (errlen bytes). */
WR_MUST_CHECK int wr_dnslink_resolver_new(uv_loop_t *loop, const wr_dnslink_cfg *cfg,
                                          wr_dnslink_resolver **pres, char *err, size_t errlen);

/* Resolves host's DNSLink; with recursive, follows /ipns/<domain> to its
 * end. cb runs later, never from inside this call (a cached answer comes on
 * the next loop turn). *preq (may be NULL) is valid until cb has run, for
 * wr_dnslink_cancel. Returns 0, or WR_ERR_NOMEM / WR_ERR_CLOSED and cb never
 * runs (a bad host is reported through cb). */
WR_MUST_CHECK int wr_dnslink_resolve(wr_dnslink_resolver *res, const char *host, int recursive,
                                     wr_dnslink_cb cb, void *arg, wr_dnslink_req **preq);

/* The answer from the cache alone, without waiting: 0 with the path in out
 * (cap bytes), a cached failure (its status, sentence in err), or
 * WR_ERR_AGAIN when some step is not cached (then call wr_dnslink_resolve).
 * Lets a gateway serve a cached name without a loop turn. */
WR_MUST_CHECK int wr_dnslink_cached(wr_dnslink_resolver *res, const char *host, int recursive,
                                    char *out, size_t cap, char *err, size_t errlen);
/* The same, and with 0 *pttl_s the seconds the answer stays cached (the
 * soonest-expiring step's; what a gateway may give as Cache-Control). */
WR_MUST_CHECK int wr_dnslink_cached_ttl(wr_dnslink_resolver *res, const char *host, int recursive,
                                        char *out, size_t cap, uint32_t *pttl_s, char *err,
                                        size_t errlen);

/* Gives up on req: cb runs soon with WR_ERR_CLOSED. Only before cb ran. */
void wr_dnslink_cancel(wr_dnslink_req *req);

/* Closes the resolver: pending resolutions end with WR_ERR_CLOSED, then
 * on_closed(arg) (may be NULL) runs and the memory is gone. */
void wr_dnslink_resolver_close(wr_dnslink_resolver *res, void (*on_closed)(void *arg), void *arg);

/* Turns a host (a Host header value: may carry ":port" or a final dot, any
 * case) into the lowercase DNS name looked up, in out (254 bytes).
 * WR_ERR_INVAL with a static *preason for an IP address or a bad name. */
WR_MUST_CHECK int wr_dnslink_host_name(const char *host, char *out, const char **preason);

#endif
