/* nameres.h: the gateway's resolver step: a mutable content path
 * ("/ipns/<key>[/rest]", "/ipns/<domain>[/rest]") turned into an immutable
 * one ("/ipfs/<cid>[/path]/rest") before the gateway serves it.
 *
 * Keys go through the node's IPNS records (content/names: the repo's files,
 * each record validated at the wall clock), domains through DNSLink
 * (io/dnslink_resolver: c-ares on the loop, its TTL cache). The two
 * alternate as the values say (a key whose record names /ipns/<domain>, a
 * DNSLink whose value is /ipns/<key>), at most WR_GW_NAMERES_MAX_STEPS in
 * all. A resolution that needs only local records and cached DNS answers is
 * done inside the call; one that must ask DNS finishes later on the loop.
 *
 * Failures carry the HTTP status the gateway answers with: 400 (not a
 * name), 404 (no record or no DNSLink: retrying cannot help, as for a
 * missing block), 502 (a record refused: forged, expired, V1-only; a
 * malformed DNSLink; a loop; the DNS server failed), 504 (DNS timed
 * out). */
#ifndef WR_GATEWAY_NAMERES_H
#define WR_GATEWAY_NAMERES_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "io/dnslink_resolver.h"

#define WR_GW_NAMERES_MAX_STEPS 32
#define WR_GW_NAMERES_PATH_MAX 4096

typedef struct wr_gw_nameres_result {
  int status;                        /* 0: resolved; else the HTTP status of the failure */
  char path[WR_GW_NAMERES_PATH_MAX]; /* status 0: "/ipfs/<cid>[/...]" */
  int has_ttl; /* a record or DNSLink was on the way: ttl_ns is the smallest TTL (IPNS
                * records' TTL field, DNSLink answers' remaining cache time) */
  uint64_t ttl_ns;
  int via_dnslink; /* a DNSLink step was on the way */
  char err[400];   /* status != 0: one sentence */
} wr_gw_nameres_result;

typedef struct wr_gw_nameres_req wr_gw_nameres_req;

/* Records validated earlier, so a busy name is not read and its signature
 * not checked on every request (that cost 3/4 of an /ipns/ request): an
 * entry is used only while its file is the same one (device, inode, size,
 * mtime by stat(2), which is taken before reading) and its record has not
 * expired, so a record published or put meanwhile is seen at once. Bounded
 * (WR_GW_NAMECACHE_ENTRIES, least recently used go first); one per
 * gateway, on its loop. */
#define WR_GW_NAMECACHE_ENTRIES 64
typedef struct wr_gw_namecache wr_gw_namecache;
/* 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_gw_namecache_new(wr_gw_namecache **pc);
void wr_gw_namecache_free(wr_gw_namecache *c);

/* A finished resolution, on the loop, once, unless cancelled; res lives
 * until it returns. */
typedef void (*wr_gw_nameres_cb)(const wr_gw_nameres_result *res, void *arg);

/* Resolves path ("/ipns/NAME[/rest]"; an "/ipfs/" path is returned as
 * is). repo: the repo folder holding IPNS records (NULL: no key
 * resolves); cache: validated records (may be NULL); dnslink: the
 * resolver (NULL: no domain resolves). Returns 0
 * with *res filled (resolved or failed), or WR_ERR_AGAIN: the answer goes
 * to cb later and *preq may be cancelled until then. WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_gw_nameres_start(const char *repo, wr_gw_namecache *cache,
                                      wr_dnslink_resolver *dnslink, const char *path,
                                      wr_gw_nameres_result *res, wr_gw_nameres_cb cb, void *arg,
                                      wr_gw_nameres_req **preq);

/* Gives up on req: cb never runs; the DNS lookup goes on in the background
 * (its answer is cached) and req's memory goes when it ends. */
void wr_gw_nameres_cancel(wr_gw_nameres_req *req);

/* Largest IPNS record served (proto/ipns's bound). */
#define WR_GW_RECORD_MAX 10240

/* The stored record of key (a canonical key name) appended to rec, checked
 * at the wall clock (a forged or expired record is not served); *pttl_ns
 * its TTL. 0, or the HTTP status of the failure (404 none kept, 502
 * refused, 500) with a sentence in err. */
WR_MUST_CHECK int wr_gw_nameres_record(const char *repo, const char *key, wr_buf *rec,
                                       uint64_t *pttl_ns, char *err, size_t errlen);

/* A 64-bit hash of a record's bytes, for its Etag. */
uint64_t wr_gw_record_etag(const wr_buf *rec);

#endif
