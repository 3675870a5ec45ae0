/* gwfetch.c: missing blocks from the IPFS network for the gateway
 * (gateway/gateway.h, the fetcher). A request that meets a missing block
 * is parked while a libuv worker reads what its response needs through the
 * fetcher (gateway/prefetch), then answered again from the store; requests
 * needing the same fetch wait on the one running. */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "content/exporter.h"
#include "gateway/gw_internal.h"
#include "gateway/prefetch.h"

/* On a worker thread: reads through the fetcher what the response needs;
 * the fetcher gives up when no block arrived for the fetch timeout. */
static void fetch_work(uv_work_t *w) {
  wr_gateway_req *r = w->data;
  wr_gateway *g = r->g;
  const resolved *rs = r->fetch_rs;
  r->fetch_err[0] = '\0';
  if (wr_now_ns() - r->fetch_start_ns >= g->fetch_timeout_ms * WR_NS_PER_MS) {
    /* Queued behind other work for the whole time. */
    r->fetch_rc = WR_ERR_TIMEOUT;
    snprintf(r->fetch_err, sizeof r->fetch_err, "the fetch could not start in time");
    return;
  }
  wr_export ex;
  wr_blocks *net = NULL;
  int rc = wr_export_begin(&ex, g->bs);
  if (rc == 0)
    rc = g->fetcher.open(g->fetcher.arg, g->bs, ex.blocks, g->fetch_timeout_ms, &net);
  if (rc == 0) {
    ex.blocks = net;
    rc = r->fetch_file ? wr_gw_prefetch_dag(&ex, &r->cid)
                       : wr_gw_prefetch(&ex, &rs->root, rs->rest, &rs->prm);
    const char *why = rc && g->fetcher.error ? g->fetcher.error(g->fetcher.arg, net) : NULL;
    snprintf(r->fetch_err, sizeof r->fetch_err, "%s", why && *why ? why : ex.err);
    g->fetcher.close(g->fetcher.arg, net);
  } else {
    snprintf(r->fetch_err, sizeof r->fetch_err, "the IPFS node cannot be asked: %s",
             wr_strerror(rc));
  }
  wr_export_end(&ex);
  r->fetch_rc = rc;
}

/* Back on the loop: answers from the store what was fetched, or 504 when
 * the network did not give it in time. */
static void fetch_finish(wr_gateway_req *r, int rc, int file, int shared);

static void fetch_done(uv_work_t *w, int status) {
  wr_gateway_req *r = w->data;
  wr_gateway *g = r->g;
  g->fetching--;
  wr_metric_set(g->m_fetching, (double)g->fetching);
  for (wr_gateway_req **pp = &g->leaders; *pp; pp = &(*pp)->next_leader)
    if (*pp == r) {
      *pp = r->next_leader;
      break;
    }
  int rc = status == UV_ECANCELED ? WR_ERR_CLOSED : r->fetch_rc;
  int file = r->fetch_file;
  r->fetch_file = 0;
  /* Those who waited on this fetch go on as the fetcher does. */
  wr_gateway_req *wl = r->waiters;
  r->waiters = NULL;
  while (wl) {
    wr_gateway_req *next = wl->next_waiter;
    wl->next_waiter = NULL;
    wl->fetch_rc = rc;
    memcpy(wl->fetch_err, r->fetch_err, sizeof wl->fetch_err);
    int wfile = wl->fetch_file; /* its head may be out: its body goes on */
    wl->fetch_file = 0;
    fetch_finish(wl, rc, wfile, 1);
    wl = next;
  }
  fetch_finish(r, rc, file, 0);
}

/* Ends r's wait on the network with rc (its own fetch's, or the one it
 * shared) and answers or goes on. */
static void fetch_finish(wr_gateway_req *r, int rc, int file, int shared) {
  wr_gateway *g = r->g;
  double secs = (double)(wr_now_ns() - r->fetch_start_ns) / 1e9;
  wr_metric_add(g->m_fetch_seconds, secs);
  r->fetch_state = FETCH_DONE;
  wr_free(r->fetch_rs);
  r->fetch_rs = NULL;
  const char *result = shared                 ? "shared"
                       : rc == 0              ? "ok"
                       : rc == WR_ERR_TIMEOUT ? "timeout"
                                              : "error";
  if (r->gone) {
    wr_metric_inc(wr_metric_child(g->m_fetches, shared ? "shared" : "cancelled"));
    wr_gw_req_free(r);
    return;
  }
  wr_metric_inc(wr_metric_child(g->m_fetches, result));
  WR_INFO("Gateway fetch from the IPFS network done",
          "target=%s for=%s result=%s seconds=%.3f%s%s%s", r->target,
          file ? "rest-of-file" : "request",
          shared ? (rc == 0 ? "shared-ok" : "shared-failed") : result, secs, rc ? " reason=\"" : "",
          rc ? r->fetch_err : "", rc ? "\"" : "");
  if (file) {
    /* The head is out: the body goes on, or is cut where the block is
     * missing (the user sees the stream end, as for any late miss). */
    if (rc == 0) {
      wr_gw_pump(r);
    } else {
      WR_WARN("Gateway response cut", "host=%s target=%s reason=\"%s\"", r->host, r->target,
              r->fetch_err);
      wr_gw_finish(r, 0);
    }
    return;
  }
  r->q->sink = NULL;
  if (rc == WR_ERR_TIMEOUT) {
    wr_gw_error_page(
        r, 504, "Gateway Timeout",
        "The content was not found on the IPFS network: no block arrived for %llu s (the "
        "gateway's fetch timeout): %s.",
        (unsigned long long)((g->fetch_timeout_ms + 999) / 1000), r->fetch_err);
    return;
  }
  if (rc == WR_ERR_CLOSED) {
    wr_gw_error_page(
        r, 503, "Service Unavailable",
        "The edge is stopping: the content could not be fetched from the IPFS network.");
    return;
  }
  /* Fetched, or a miss that is not the network's (a name the folder lacks):
   * answered from the store, where a block still missing is a 404. */
  wr_gw_answer(r);
}

/* 1 when a and b make the same prefetch (gateway/prefetch reads only the
 * root, the path, the format and the scope). */
static int same_fetch(const resolved *a, const resolved *b) {
  return a && wr_cid_equal(&a->root, &b->root) && strcmp(a->rest, b->rest) == 0 &&
         a->prm.format == b->prm.format && a->prm.scope == b->prm.scope;
}

/* Hands r to a worker (fetch_work) and counts it. 0, or libuv's error. */
static int queue_fetch(wr_gateway_req *r) {
  wr_gateway *g = r->g;
  r->fetch_state = FETCH_RUNNING;
  r->fetch_rounds++;
  r->fetch_start_ns = wr_now_ns();
  r->q->sink = &r->sink;
  r->work.data = r;
  int rc = uv_queue_work(g->loop, &r->work, fetch_work, fetch_done);
  if (rc != 0) {
    r->fetch_state = FETCH_DONE;
    return rc;
  }
  g->fetching++;
  wr_metric_set(g->m_fetching, (double)g->fetching);
  if (!r->fetch_file) {
    r->next_leader = g->leaders;
    g->leaders = r;
  }
  WR_DEBUG("Gateway fetching from the IPFS network", "target=%s running=%zu file=%d", r->target,
           g->fetching, r->fetch_file);
  return 0;
}

/* r waits on leader l's fetch (no worker of its own); fetch_done goes on
 * with it as with l. */
static void wait_on(wr_gateway_req *r, wr_gateway_req *l) {
  r->fetch_state = FETCH_RUNNING;
  r->fetch_rounds++;
  r->fetch_start_ns = wr_now_ns();
  r->q->sink = &r->sink;
  r->next_waiter = l->waiters;
  l->waiters = r;
  WR_DEBUG("Gateway waits on a fetch already running", "target=%s", r->target);
}

/* Parks r (the exchange stays ours: the sink is set, so a user who leaves
 * is heard) while a worker fetches what rs needs; rs is r's from here on. */
void wr_gw_park(wr_gateway_req *r, resolved *rs) {
  wr_gateway *g = r->g;
  for (wr_gateway_req *l = g->leaders; l; l = l->next_leader)
    if (same_fetch(l->fetch_rs, rs)) {
      /* Someone fetches exactly this already: wait for it (no worker). */
      wr_free(rs);
      wait_on(r, l);
      return;
    }
  if (g->fetching >= g->max_fetches) {
    wr_free(rs);
    r->fetch_state = FETCH_DONE;
    wr_metric_inc(wr_metric_child(g->m_fetches, "busy"));
    wr_gw_error_page(
        r, 503, "Service Unavailable",
        "The content is not in this gateway's store and %zu fetches from the IPFS network "
        "are running already (the limit); try again shortly.",
        g->fetching);
    return;
  }
  r->fetch_rs = rs;
  int rc = queue_fetch(r);
  if (rc != 0) {
    r->fetch_rs = NULL;
    wr_free(rs);
    wr_gw_error_page(r, 500, "Internal Server Error", "The fetch could not start: %s.",
                     uv_strerror(rc));
  }
}

/* A file response met a missing block after its head went out (the store
 * holds part of the file: an earlier fetch timed out, or the user left
 * it): the rest of the file's DAG is fetched and the body goes on from
 * where it stopped. 1 when parked, 0 when the response is to be cut. */
int wr_gw_park_file(wr_gateway_req *r) {
  wr_gateway *g = r->g;
  if (!g->fetcher.open || r->fetch_state == FETCH_RUNNING || r->fetch_rounds >= MAX_FETCH_ROUNDS)
    return 0;
  r->fetch_file = 1;
  /* The file's DAG is being fetched for another request (it asked for
   * this file as its root, and its blocks are arriving): wait for that. */
  for (wr_gateway_req *l = g->leaders; l; l = l->next_leader)
    if (l->fetch_rs && !l->fetch_rs->rest[0] && wr_cid_equal(&l->fetch_rs->root, &r->cid)) {
      wait_on(r, l);
      return 1;
    }
  if (g->fetching >= g->max_fetches) {
    r->fetch_file = 0;
    wr_metric_inc(wr_metric_child(g->m_fetches, "busy"));
    return 0;
  }
  if (queue_fetch(r) != 0) {
    r->fetch_file = 0;
    return 0;
  }
  return 1;
}

/* Resolves and answers (inside a pump-like read transaction). */
