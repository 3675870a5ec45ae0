/* router.h: the edge's request router, the handler its HTTP server calls
 * (http/handler.h). By the request's Host:
 *
 * - a tunnel's hostname (tunnel/routes.h) goes to the tunnel
 *   (tunnel/edge_proxy.h); when the same name also has a content root, GET
 *   and HEAD fall back to the content: at once when no connector is
 *   registered, else when the origin side answers 502/503/504
 *   (edge/fallback.h);
 * - a content hostname, a path gateway's, a subdomain gateway's or a name
 *   under its .ipfs. or .ipns. goes to the gateway (gateway/gateway.h);
 * - any other name is served from its DNSLink when the edge runs with
 *   --dnslink (the gateway answers 404 when it has none), else gets the
 *   edge's 404 page. */
#ifndef WR_EDGE_ROUTER_H
#define WR_EDGE_ROUTER_H

#include "base/metrics.h"
#include "gateway/gateway.h"
#include "http/handler.h"
#include "tunnel/edge_proxy.h"
#include "tunnel/routes.h"

typedef struct wr_edge_router {
  wr_http_handler handler; /* first: the server calls through it */
  wr_routes *routes;       /* the edge's; outlive the router */
  wr_edge_proxy *proxy;
  wr_metric_family *errors;     /* counter: reason */
  wr_gateway *gateway;          /* NULL: no content served */
  const wr_gateway_site *sites; /* the gateway's hostnames (outlive the router) */
  size_t nsites;
  wr_metric *fallbacks; /* counter: requests a content fallback answered */
  /* --dnslink: a Host no tunnel or site claims is served from its DNSLink
   * (a DNSLINK site with no host); NULL: such hosts get the 404 page. */
  const wr_gateway_site *dnslink_any;
} wr_edge_router;

/* Sets r up (nothing to free); gateway, sites and fallbacks may be NULL/0. */
void wr_edge_router_init(wr_edge_router *r, wr_routes *routes, wr_edge_proxy *proxy,
                         wr_metric_family *errors);
void wr_edge_router_set_gateway(wr_edge_router *r, wr_gateway *g, const wr_gateway_site *sites,
                                size_t nsites, wr_metric *fallbacks);

#endif
