/* edge_proxy.h: the edge's tunnel handler. A user's request, once routed to
 * a tunnel (edge/router.c), becomes one request stream on a registered
 * connection of that tunnel (tunnel/edge_registry.h):
 *
 * - the connection with the fewest requests in flight (tunnel/routes.h);
 * - the REQUEST message (proto/tunnel/tunnel.h): method, target, host, the
 *   user's headers without hop-by-hop ones, X-Forwarded-For/-Proto and
 *   Forwarded added; an HTTP/2 extended CONNECT for a WebSocket becomes the
 *   HTTP/1.1 Upgrade an origin expects;
 * - the RESPONSE (or STREAM_ERROR) decoded once, for every front, and passed
 *   to the user through the front's writer (http/handler.h); body bytes both
 *   ways with backpressure: the stream's credit goes back only as the user's
 *   side takes the bytes;
 * - an idempotent request whose connection died before any answer goes once
 *   more on another connection; STREAM_ERROR codes map to 502/503/504/404/
 *   400 pages; requests in flight are counted here (per connection, for
 *   routing, and in the gauge).
 *
 * Log lines name the tunnel and, for HTTP/2 users, end in protocol=h2. */
#ifndef WR_TUNNEL_EDGE_PROXY_H
#define WR_TUNNEL_EDGE_PROXY_H

#include "base/err.h"
#include "base/metrics.h"
#include "http/handler.h"
#include "tunnel/routes.h"

typedef struct wr_edge_proxy wr_edge_proxy;

typedef struct wr_edge_proxy_config {
  /* The edge's metric families (must outlive the proxy). */
  wr_metric_family *requests; /* counter: tunnel */
  wr_metric_family *errors;   /* counter: reason */
  wr_metric *inflight;        /* gauge: request streams open */
} wr_edge_proxy_config;

/* 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_edge_proxy_new(wr_edge_proxy **pp, const wr_edge_proxy_config *cfg);
/* After every exchange and request stream ended. */
void wr_edge_proxy_free(wr_edge_proxy *p);
/* A connection of t registered or answers again: requests waiting for one
 * go to it now. */
void wr_edge_proxy_tunnel_ready(wr_edge_proxy *p, wr_route_tunnel *t);
/* Answers 502 to requests that waited for a connection too long (all of
 * them while draining). Call it every 250 ms or so. */
void wr_edge_proxy_sweep(wr_edge_proxy *p, uint64_t now_ns);
/* The edge is going: no retries from here on. */
void wr_edge_proxy_drain(wr_edge_proxy *p);

/* Serves q (as wr_http_handler_ops.on_request: q->sink set, or answered) on
 * tunnel t; host is the normalised Host for log lines ("-" if none). */
void wr_edge_proxy_serve(wr_edge_proxy *p, wr_route_tunnel *t, wr_http_req *q, const char *host);

#endif
