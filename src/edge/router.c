/* router.c: Host -> tunnel, gateway, content, or the 404 page
 * (edge/router.h). */
#include "edge/router.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "edge/fallback.h"
#include "gateway/gwname.h"
#include "gateway/gwparse.h"
#include "http/page.h"

/* The site for a normalised host: an exact name (content, path or
 * subdomain gateway), else a name under a subdomain gateway's .ipfs. */
static const wr_gateway_site *find_site(const wr_edge_router *r, const char *host) {
  for (size_t i = 0; i < r->nsites; i++)
    if (strcmp(r->sites[i].host, host) == 0)
      return &r->sites[i];
  for (size_t i = 0; i < r->nsites; i++) {
    char label[64], name[WR_GW_NAME_TEXT_MAX];
    int inlined;
    if (r->sites[i].kind == WR_GW_SITE_SUBDOMAIN &&
        (wr_gw_subdomain_label(host, strlen(host), r->sites[i].host, label) != 0 ||
         wr_gw_ipns_subdomain(host, strlen(host), r->sites[i].host, name, &inlined, NULL) != 0))
      return &r->sites[i];
  }
  return NULL;
}

static void on_request(wr_http_handler *h, wr_http_req *q) {
  wr_edge_router *r = (wr_edge_router *)h;
  const wr_h1_head *hd = q->head;
  char host[WR_ROUTES_HOST_MAX + 1];
  int host_ok = wr_routes_normalize_host(hd->host.p, hd->host.len, host) == 0;
  if (!host_ok)
    snprintf(host, sizeof host, "-");
  wr_route_tunnel *t =
      hd->host.len ? wr_routes_lookup_host(r->routes, hd->host.p, hd->host.len) : NULL;
  const wr_gateway_site *site = r->gateway && host_ok ? find_site(r, host) : NULL;
  /* By text: the HTTP/2 front sets method_id for HEAD only. */
  int safe = hd->method_id == WR_H1_M_GET || hd->method_id == WR_H1_M_HEAD ||
             (hd->method.len == 3 && memcmp(hd->method.p, "GET", 3) == 0) ||
             (hd->method.len == 4 && memcmp(hd->method.p, "HEAD", 4) == 0);
  if (t) {
    if (site && (site->kind == WR_GW_SITE_CONTENT || site->kind == WR_GW_SITE_DNSLINK) && safe) {
      if (wr_routes_ready(t) == 0) {
        WR_INFO("Serving content: no connector for the tunnel", "host=%s client=%s", host,
                q->client_ip);
        wr_metric_inc(r->fallbacks);
        wr_gateway_serve(r->gateway, q, site);
        return;
      }
      wr_edge_fallback_serve(r->proxy, t, q, host, r->gateway, site, r->fallbacks);
      return;
    }
    wr_edge_proxy_serve(r->proxy, t, q, host);
    return;
  }
  if (site) {
    wr_gateway_serve(r->gateway, q, site);
    return;
  }
  if (r->dnslink_any && host_ok) {
    wr_gateway_serve(r->gateway, q, r->dnslink_any);
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
  memset(r, 0, sizeof *r);
  r->handler.ops = &router_ops;
  r->routes = routes;
  r->proxy = proxy;
  r->errors = errors;
}

void wr_edge_router_set_gateway(wr_edge_router *r, wr_gateway *g, const wr_gateway_site *sites,
                                size_t nsites, wr_metric *fallbacks) {
  r->gateway = g;
  r->sites = sites;
  r->nsites = nsites;
  r->fallbacks = fallbacks;
}
