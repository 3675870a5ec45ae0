/* fallback.h: a tunnel hostname with a content fallback. The request goes
 * to the tunnel (tunnel/edge_proxy.h) through a writer that watches the
 * answer: when the origin side fails (502, 503 or 504, also the proxy's own
 * "tunnel offline" and connector errors) before anything reached the user,
 * the error is dropped and the gateway answers from the content instead.
 * Only GET and HEAD take this path (the router's rule): they are safe to
 * answer from a snapshot. */
#ifndef WR_EDGE_FALLBACK_H
#define WR_EDGE_FALLBACK_H

#include "base/metrics.h"
#include "gateway/gateway.h"
#include "http/handler.h"
#include "tunnel/edge_proxy.h"
#include "tunnel/routes.h"

/* Serves q on tunnel t, falling back to site (a content site) through g.
 * fallbacks counts the requests the content answered. As on_request: q->sink
 * set or answered. */
void wr_edge_fallback_serve(wr_edge_proxy *p, wr_route_tunnel *t, wr_http_req *q, const char *host,
                            wr_gateway *g, const wr_gateway_site *site, wr_metric *fallbacks);

#endif
