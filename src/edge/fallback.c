/* fallback.c: a tunnel request that the content answers when the origin
 * fails (edge/fallback.h).
 *
 * The proxy gets an inner wr_http_req whose writer forwards to the user's
 * (outer) one, except that a 502/503/504 head switches the exchange over:
 * the proxy's error body is dropped, and when the proxy ends its side the
 * gateway answers the outer request from the request it captured at
 * on_request (the head is gone by then). The outer sink forwards the user's
 * events to the proxy's sink while the proxy owns the exchange. */
#include "edge/fallback.h"

#include <stddef.h>
#include <stdio.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/page.h"

typedef struct fallback {
  wr_http_sink sink; /* on the outer request while the proxy has it */
  wr_http_req inner; /* what the proxy writes to */
  wr_http_req *outer;
  wr_gateway_req *greq;
  wr_metric *fallbacks;
  char host[WR_ROUTES_HOST_MAX + 1];
  int switched; /* the origin failed: content answers */
  int in_serve; /* inside wr_edge_proxy_serve */
  int done;     /* the proxy ended its side */
  int aborted;  /* ... with abort (not switched) */
} fallback;

static fallback *of_inner(wr_http_req *q) {
  return (fallback *)((char *)q - offsetof(fallback, inner));
}

static void drop(fallback *fb) {
  wr_gateway_req_del(fb->greq);
  wr_free(fb);
}

/* The proxy is done with the inner exchange: finish the outer one. */
static void settle(fallback *fb) {
  wr_http_req *o = fb->outer;
  o->sink = NULL;
  if (fb->switched) {
    WR_INFO("Serving content: the tunnel's origin is unavailable", "host=%s client=%s", fb->host,
            o->client_ip);
    wr_metric_inc(fb->fallbacks);
    wr_gateway_req *g = fb->greq;
    fb->greq = NULL;
    wr_free(fb);
    wr_gateway_answer(g, o);
    return;
  }
  if (fb->aborted)
    o->ops->abort(o);
  else
    o->ops->end(o);
  drop(fb);
}

static int i_head(wr_http_req *q, int status, const wr_h1_header *hs, size_t n, unsigned fl) {
  fallback *fb = of_inner(q);
  if (!fb->switched && (status == 502 || status == 503 || status == 504)) {
    fb->switched = 1;
    return 0;
  }
  return fb->outer->ops->head(fb->outer, status, hs, n, fl);
}

static int i_body(wr_http_req *q, const uint8_t *d, size_t n) {
  fallback *fb = of_inner(q);
  return fb->switched ? 0 : fb->outer->ops->body(fb->outer, d, n);
}

static int i_complete(const wr_http_req *q, uint64_t *pmissing) {
  fallback *fb = of_inner((wr_http_req *)q);
  if (fb->switched) {
    *pmissing = 0;
    return 1;
  }
  return fb->outer->ops->complete(fb->outer, pmissing);
}

static void i_end(wr_http_req *q) {
  fallback *fb = of_inner(q);
  fb->done = 1;
  if (!fb->in_serve)
    settle(fb);
}

static void i_abort(wr_http_req *q) {
  fallback *fb = of_inner(q);
  fb->done = 1;
  fb->aborted = 1;
  if (!fb->in_serve)
    settle(fb);
}

static void i_resume_body(wr_http_req *q) {
  fallback *fb = of_inner(q);
  fb->outer->ops->resume_body(fb->outer);
}

static void i_go_ahead(wr_http_req *q) {
  fallback *fb = of_inner(q);
  fb->outer->ops->go_ahead(fb->outer);
}

static const wr_http_req_ops inner_ops = {.head = i_head,
                                          .body = i_body,
                                          .complete = i_complete,
                                          .end = i_end,
                                          .abort = i_abort,
                                          .resume_body = i_resume_body,
                                          .go_ahead = i_go_ahead};

static ssize_t o_on_body(wr_http_sink *s, const uint8_t *d, size_t n) {
  fallback *fb = (fallback *)s;
  return fb->inner.sink ? fb->inner.sink->ops->on_body(fb->inner.sink, d, n) : (ssize_t)n;
}

static void o_on_body_end(wr_http_sink *s) {
  fallback *fb = (fallback *)s;
  if (fb->inner.sink)
    fb->inner.sink->ops->on_body_end(fb->inner.sink);
}

static void o_on_writable(wr_http_sink *s) {
  fallback *fb = (fallback *)s;
  if (fb->inner.sink)
    fb->inner.sink->ops->on_writable(fb->inner.sink);
}

static void o_on_abort(wr_http_sink *s, int why, uint64_t code) {
  fallback *fb = (fallback *)s;
  if (fb->inner.sink)
    fb->inner.sink->ops->on_abort(fb->inner.sink, why, code);
  drop(fb);
}

static const wr_http_sink_ops outer_ops = {.on_body = o_on_body,
                                           .on_body_end = o_on_body_end,
                                           .on_writable = o_on_writable,
                                           .on_abort = o_on_abort};

void wr_edge_fallback_serve(wr_edge_proxy *p, wr_route_tunnel *t, wr_http_req *q, const char *host,
                            wr_gateway *g, const wr_gateway_site *site, wr_metric *fallbacks) {
  fallback *fb = wr_calloc(1, sizeof *fb);
  if (!fb || wr_gateway_capture(g, q, site, &fb->greq) != 0) {
    wr_free(fb);
    wr_edge_proxy_serve(p, t, q, host); /* no fallback, but the tunnel still answers */
    return;
  }
  fb->sink.ops = &outer_ops;
  fb->outer = q;
  fb->fallbacks = fallbacks;
  snprintf(fb->host, sizeof fb->host, "%s", host);
  fb->inner = (wr_http_req){.ops = &inner_ops,
                            .head = q->head,
                            .protocol = q->protocol,
                            .client_ip = q->client_ip,
                            .flags = q->flags};
  fb->in_serve = 1;
  wr_edge_proxy_serve(p, t, &fb->inner, host);
  fb->in_serve = 0;
  if (fb->done) {
    settle(fb);
    return;
  }
  q->sink = &fb->sink;
}
