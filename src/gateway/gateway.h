/* gateway.h: the IPFS HTTP gateway, a handler behind the HTTP handler seam
 * (http/handler.h) that the edge's router calls for a gateway's hostnames.
 * It reads the local store (store/blockstore.h, one short read transaction
 * per burst of output) through the exporter (content/exporter.h).
 *
 * What it answers (ipfs/specs http-gateways):
 * - path gateway: GET/HEAD /ipfs/<cid>[/path]: UnixFS files with a
 *   Content-Type by extension or sniffed, Range requests (206, 416; of
 *   several ranges the first is answered), folders as their index.html or a
 *   generated listing (301 to the trailing-slash URL first), Etag and
 *   If-None-Match (304), Cache-Control immutable, X-Ipfs-Path,
 *   X-Ipfs-Roots, ?filename= and ?download=; ?format= and Accept:
 * - trustless responses: application/vnd.ipld.raw (one block, Range too)
 *   and application/vnd.ipld.car (CARv1, order=dfs, dups=y|n,
 *   dag-scope=all|entity|block, entity-bytes), Content-Disposition
 *   attachment, X-Content-Type-Options nosniff; dag-json, dag-cbor, json and
 *   cbor blocks as themselves when the codec matches (406 otherwise);
 * - subdomain gateway: <cidv1-base32>.ipfs.<host>; path requests on <host>
 *   and CIDs not in canonical base32 are redirected (301) there; labels
 *   over 63 characters are a 400;
 * - content sites: a hostname whose root is /ipfs/<cid>[/path] or
 *   /ipns/<name>[/path];
 * - names (gateway/nameres.h): /ipns/<key-or-domain>[/path] on a path
 *   gateway, <name>.ipns.<host> on a subdomain gateway (DNS names inlined
 *   as the subdomain spec says; /ipns/ paths and non-canonical keys are
 *   redirected), a host served from its own DNSLink; X-Ipfs-Path keeps the
 *   /ipns/ path, Cache-Control is the name's TTL (record or DNS; never
 *   immutable),
 *   and ?format=ipns-record (or Accept) answers a key's signed record.
 * - `_redirects` (gateway/redirstep.h): a missing path on a site with an
 *   origin of its own (subdomain, DNSLink, content host) follows the site's
 *   rules: redirects, rewrites, custom 404/410/451 pages.
 *
 * Blocks missing from the store: without a fetcher, a 404 (the spec's rule
 * for a non-recursive gateway) before the response starts. With one (the
 * edge's embedded IPFS node), the request is parked, a worker thread reads
 * through the fetcher what the response needs (gateway/prefetch.h), and
 * the request is then answered from the store; a fetch during which no
 * block arrived for fetch_timeout_ms is a 504, more than max_fetches at
 * once a 503. A block missing once the response has started cuts it (the user sees
 * the stream end).
 *
 * Bodies stream with backpressure: the gateway writes until the front
 * answers WR_ERR_AGAIN and goes on at on_writable, so a file or a CAR of any
 * size costs one front queue, and a folder listing is produced a burst at a
 * time (gateway/dirwalk keeps its position). */
#ifndef WR_GATEWAY_GATEWAY_H
#define WR_GATEWAY_GATEWAY_H

#include <uv.h>

#include "base/err.h"
#include "base/metrics.h"
#include "http/handler.h"
#include "io/dnslink_resolver.h"
#include "store/blocks.h"
#include "store/blockstore.h"

typedef struct wr_gateway wr_gateway;

typedef enum wr_gateway_kind {
  WR_GW_SITE_PATH = 1,      /* host serves /ipfs/<cid>[/path] */
  WR_GW_SITE_SUBDOMAIN = 2, /* host redirects to, and *.ipfs.host serves, subdomains */
  WR_GW_SITE_CONTENT = 3,   /* host serves one DAG (or a name's) as its site root */
  WR_GW_SITE_DNSLINK = 4,   /* host serves what its DNSLink names (host NULL: any host) */
} wr_gateway_kind;

/* One hostname the gateway answers for; the router keeps these (they
 * must outlive the requests it hands over). */
typedef struct wr_gateway_site {
  wr_gateway_kind kind;
  const char *host; /* lowercase, no port: the gateway's (or the site's) name */
  const char *root; /* CONTENT: "/ipfs/<cid>[/path]" or "/ipns/<name>[/path]" */
} wr_gateway_site;

/* Where missing blocks come from: the three run on a worker thread. open
 * makes a source over local (a read session of bs) that fetches what the
 * store lacks and stores it, and whose get fails with WR_ERR_TIMEOUT once
 * no block arrived for idle_ms; error gives a sentence about its last
 * failed fetch (or NULL); close ends it. */
typedef struct wr_gateway_fetcher {
  int (*open)(void *arg, wr_bs *bs, wr_blocks *local, uint64_t idle_ms, wr_blocks **pnet);
  const char *(*error)(void *arg, wr_blocks *net);
  void (*close)(void *arg, wr_blocks *net);
  void *arg;
} wr_gateway_fetcher;

#define WR_GATEWAY_DEFAULT_FETCH_TIMEOUT_MS 60000
#define WR_GATEWAY_DEFAULT_MAX_FETCHES 16

typedef struct wr_gateway_config {
  wr_bs *bs;        /* the local store; outlives the gateway */
  wr_metrics *reg;  /* where the gateway's metric families go */
  const char *repo; /* the repo folder with IPNS records (copied); NULL: keys do not resolve */
  wr_dnslink_resolver *dnslink; /* outlives the gateway; NULL: DNSLink names do not resolve */
  /* Missing blocks from the network: fetcher.open NULL (zeroed) means the
   * local store only. With it, loop is where parked requests resume (the
   * fetches run through uv_queue_work, so the loop runs until the last one
   * ended). 0 for the numbers: the defaults above. */
  wr_gateway_fetcher fetcher;
  uv_loop_t *loop;
  uint64_t fetch_timeout_ms;
  size_t max_fetches;
} wr_gateway_config;

/* 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_gateway_new(wr_gateway **pg, const wr_gateway_config *cfg);
/* After every exchange ended. NULL is fine. */
void wr_gateway_free(wr_gateway *g);

/* Checks a content site's root ("/ipfs/<cid>[/path]", "/ipns/<name>[/path]"). 0 or WR_ERR_INVAL
 * with a sentence in *pwhy. */
WR_MUST_CHECK int wr_gateway_check_root(const char *root, const char **pwhy);

/* Serves q for site (as wr_http_handler_ops.on_request: q->sink set, or
 * answered). host is the request's normalised host (for subdomains). */
void wr_gateway_serve(wr_gateway *g, wr_http_req *q, const wr_gateway_site *site);

/* A request captured during on_request to be answered later (a tunnel's
 * content fallback: the head is gone by the time the origin fails). */
typedef struct wr_gateway_req wr_gateway_req;
/* Copies what the gateway needs from q. 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_gateway_capture(wr_gateway *g, const wr_http_req *q,
                                     const wr_gateway_site *site, wr_gateway_req **pr);
/* Answers q (the same exchange, nothing sent yet) with r, which it owns
 * from here on: q->sink is set or the response ended. */
void wr_gateway_answer(wr_gateway_req *r, wr_http_req *q);
/* Drops a captured request never answered. NULL is fine. */
void wr_gateway_req_del(wr_gateway_req *r);

#endif
