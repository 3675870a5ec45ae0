/* router.c: Host -> tunnel, or the 404 page (edge/router.h). */
#include "edge/router.h"

#include <stdio.h>

#include "base/log.h"
#include "http/page.h"

static void on_request(wr_http_handler *h, wr_http_req *q) {
  wr_edge_router *r = (wr_edge_router *)h;
  const wr_h1_head *hd = q->head;
  char host[WR_ROUTES_HOST_MAX + 1];
  if (wr_routes_normalize_host(hd->host.p, hd->host.len, host) != 0)
    snprintf(host, sizeof host, "-");
  wr_route_tunnel *t =
      hd->host.len ? wr_routes_lookup_host(r->routes, hd->host.p, hd->host.len) : NULL;
  if (t) {
    wr_edge_proxy_serve(r->proxy, t, q, host);
    return;
  }
  WR_INFO("No tunnel for host", "host=%s client=%s status=404%s", host, q->client_ip,
          q->flags & WR_HTTP_REQ_H2 ? " protocol=h2" : "");
  wr_metric_inc(wr_metric_child(r->errors, "unknown_host"));
  wr_http_page_send(q, 404, "Not Found", "No tunnel serves this hostname on this edge.", 0);
}

static const wr_http_handler_ops router_ops = {.on_request = on_request};

void wr_edge_router_init(wr_edge_router *r, wr_routes *routes, wr_edge_proxy *proxy,
                         wr_metric_family *errors) {
  r->handler.ops = &router_ops;
  r->routes = routes;
  r->proxy = proxy;
  r->errors = errors;
}
