/* gw_internal.h: the gateway handler's state, shared by its files:
 * gateway.c (requests and answers) and gwfetch.c (missing blocks from the
 * network). Not for other modules. */
#ifndef WR_GATEWAY_GW_INTERNAL_H
#define WR_GATEWAY_GW_INTERNAL_H

#include <uv.h>

#include "base/metrics.h"
#include "gateway/carwalk.h"
#include "gateway/dirwalk.h"
#include "gateway/gateway.h"
#include "gateway/gwname.h"
#include "gateway/gwparse.h"
#include "gateway/nameres.h"

struct wr_gateway {
  wr_bs *bs;
  wr_metric_family *m_responses; /* code */
  wr_metric_family *m_kinds;     /* kind */
  wr_metric *m_bytes;
  size_t live;
  char *repo;                   /* IPNS records; NULL: none */
  wr_gw_namecache *names;       /* records validated earlier */
  wr_dnslink_resolver *dnslink; /* NULL: no DNSLink */
  /* fetching missing blocks (fetcher.open NULL: none) */
  wr_gateway_fetcher fetcher;
  uv_loop_t *loop;
  uint64_t fetch_timeout_ms;
  size_t max_fetches, fetching;
  wr_metric_family *m_fetches; /* result: ok, timeout, error, busy, cancelled, shared */
  /* Requests whose fetch runs on a worker now; another request that needs
   * the same fetch waits on one of them rather than fetch it again. */
  struct wr_gateway_req *leaders;
  wr_metric *m_fetching;
  wr_metric *m_fetch_seconds;
};

/* A request's fetch from the network: none yet, asked for by a miss while
 * answering, running on a worker, done (once before the response starts;
 * a file response that then meets a missing block fetches again, up to
 * MAX_FETCH_ROUNDS in all). */
enum { FETCH_NONE = 0, FETCH_WANTED, FETCH_RUNNING, FETCH_DONE };
#define MAX_FETCH_ROUNDS 3

enum { P_NONE = 0, P_FILE, P_LIST, P_CAR };

struct wr_gateway_req {
  wr_http_sink sink; /* first */
  wr_gateway *g;
  wr_http_req *q;
  const wr_gateway_site *site;
  /* the request, copied */
  int is_head, method_ok, tls;
  char *target, *host, *accept, *range, *inm, *xfproto, *sw, *cache_control;
  /* the response in progress */
  int producer;
  int in_pump, gone, finished;
  wr_cid cid;        /* the terminal node */
  uint64_t off, end; /* P_FILE: next byte, end (exclusive) */
  uint64_t listed;   /* P_LIST: entries sent */
  int list_phase;    /* 0 head, 1 entries, 2 foot */
  char *list_title;  /* P_LIST: the path shown */
  int list_parent;   /* P_LIST: a ".." row */
  wr_dirwalk *dir;   /* P_LIST: where the listing stands */
  wr_carwalk *walk;  /* P_CAR */
  wr_cid *pathblk;   /* P_CAR: blocks on the path, sent first */
  size_t npath, path_sent;
  int car_header_sent;
  uint64_t bytes;
  unsigned pumps;              /* bursts of output, for the debug line */
  wr_gw_nameres_req *nreq;     /* a name being resolved (gateway/nameres.h) */
  wr_gw_nameres_result *named; /* what the name resolved to */
  int forced_status;           /* a _redirects rule's 404/410/451 (0: as served) */
  /* A parked request: what to fetch (rs, owned while running), the
   * worker's result and its sentence. The worker reads rs and the
   * gateway's constant fields and writes fetch_rc/fetch_err only; the loop
   * touches neither until fetch_done. */
  int fetch_state;
  int fetch_file;        /* the fetch is for a file response that started (r->cid's DAG) */
  unsigned fetch_rounds; /* fetches of this request so far */
  uint64_t fetch_start_ns;
  struct resolved *fetch_rs; /* the request's fetch: what it asked */
  int fetch_rc;
  char fetch_err[512];
  uv_work_t work;
  struct wr_gateway_req *next_leader; /* in g->leaders while its fetch runs */
  struct wr_gateway_req *waiters;     /* requests waiting on this one's fetch */
  struct wr_gateway_req *next_waiter;
};

typedef struct resolved {
  char content_path[WR_GW_PATH_MAX + 128]; /* /ipfs/<cid>/<path>, decoded */
  char xpath[WR_GW_PATH_MAX + 128];        /* the same as asked, still escaped (X-Ipfs-Path) */
  wr_cid root;
  char rest[WR_GW_PATH_MAX]; /* the path below root, decoded, "" or "/a/b" */
  int trailing_slash;
  wr_gw_params prm;
  const char *query;
  size_t qlen;
  wr_gw_plan plan;               /* the name the request carries, if any */
  char url_path[WR_GW_PATH_MAX]; /* the decoded request path (for _redirects) */
} resolved;

/* gateway.c */
void wr_gw_error_page(wr_gateway_req *r, int status, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Resolves and answers r from the store (again, after a fetch). */
void wr_gw_answer(wr_gateway_req *r);

/* gwbody.c: the exchange's end and its bodies (it needs nothing from
 * gateway.c). */
void wr_gw_req_free(wr_gateway_req *r);
/* Ends the response (ok: completely) and frees r unless a pump runs. */
void wr_gw_finish(wr_gateway_req *r, int ok);
/* The CID as text ("-" if it cannot be written). Returns buf. */
const char *wr_gw_cidstr(const wr_cid *c, char *buf, size_t n);
/* Runs the producer until the front's queue is full. */
void wr_gw_pump(wr_gateway_req *r);
/* The exchange's sink: request bodies dropped, on_writable pumps, an abort
 * frees the request unless a pump or a fetch still uses it. */
extern const wr_http_sink_ops wr_gw_sink_ops;

/* gwfetch.c: parks r while a worker fetches what rs needs (rs is r's from
 * here on); a 503 when too many fetches run. */
void wr_gw_park(wr_gateway_req *r, resolved *rs);
/* A file response met a missing block after its head went out: fetches the
 * rest of the file's DAG and goes on. 1 when parked, 0 when the response
 * is to be cut. */
int wr_gw_park_file(wr_gateway_req *r);

#endif
