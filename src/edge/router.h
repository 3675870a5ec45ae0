/* router.h: the edge's request router, the handler its HTTP server calls
 * (http/handler.h). A request goes by its Host to the tunnel that owns the
 * name (tunnel/routes.h, served by tunnel/edge_proxy.h); a name no tunnel
 * owns gets the edge's 404 page. Another kind of backend (a content gateway)
 * joins here, as one more branch of wr_edge_router's on_request. */
#ifndef WR_EDGE_ROUTER_H
#define WR_EDGE_ROUTER_H

#include "base/metrics.h"
#include "http/handler.h"
#include "tunnel/edge_proxy.h"
#include "tunnel/routes.h"

typedef struct wr_edge_router {
  wr_http_handler handler; /* first: the server calls through it */
  wr_routes *routes;       /* the edge's; outlive the router */
  wr_edge_proxy *proxy;
  wr_metric_family *errors; /* counter: reason */
} wr_edge_router;

/* Sets r up (nothing to free). */
void wr_edge_router_init(wr_edge_router *r, wr_routes *routes, wr_edge_proxy *proxy,
                         wr_metric_family *errors);

#endif
