/* edge.c: the edge's composition and lifecycle. It makes the parts and
 * wires them: the connector listeners (QUIC, HTTP/2) feed the registry
 * (tunnel/edge_registry.h); the user-facing HTTP server (http/server.h)
 * calls the router (edge/router.h), which hands a tunnel's requests to the
 * tunnel proxy (tunnel/edge_proxy.h). It owns the routing table, the metric
 * families, the periodic sweep and the graceful shutdown. */
#include "edge/edge.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "edge/router.h"
#include "http/metrics_http.h"
#include "http/server.h"
#include "io/addr.h"
#include "io/twin_port.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"
#include "net/quic.h"
#include "proto/tunnel/tunnel.h"
#include "tunnel/edge_proxy.h"
#include "tunnel/edge_registry.h"
#include "tunnel/routes.h"

#define SWEEP_MS 250

enum { EDGE_RUNNING = 0, EDGE_DRAINING, EDGE_CLOSING };

struct wr_edge {
  uv_loop_t *loop;
  wr_edge_config cfg; /* numbers with defaults applied; pointers not kept */
  char *location;
  wr_routes *routes;
  wr_edge_registry *registry;
  wr_edge_proxy *proxy;
  wr_edge_router router;
  wr_gateway *gateway;
  wr_dnslink_resolver *dnslink; /* the gateway's DNSLink resolver */
  wr_gateway_site dnslink_site; /* --dnslink: any host, from its DNSLink */
  wr_gateway_site *sites;       /* copies of cfg's, strings owned */
  size_t nsites;
  wr_http_server *server;
  wr_quic_endpoint *ep;
  wr_mux_quic_listener listener;
  wr_mux_h2_listener *h2;
  wr_metrics *reg;
  wr_metrics_http *mh;
  uv_timer_t sweep;
  int handles; /* libuv handles of the edge itself not yet closed */
  int state;
  uint64_t grace_deadline_ns;
  void (*done)(wr_edge *e, void *arg);
  void *done_arg;
  int ep_closed, mh_closed, h2_closed, server_closed, dns_closed, finished;
  /* metrics */
  wr_metric_family *m_conns;           /* gauge tunnel,protocol */
  wr_metric_family *m_regs;            /* counter result */
  wr_metric_family *m_requests;        /* counter tunnel */
  wr_metric_family *m_responses;       /* counter code */
  wr_metric_family *m_errors;          /* counter reason */
  wr_metric_family *m_cleanups;        /* counter result */
  wr_metric *m_bytes_in, *m_bytes_out; /* body bytes from users, to users */
  wr_metric *m_pub_open, *m_pub_total, *m_inflight;
  wr_metric *m_fallbacks; /* requests a tunnel's content fallback answered */
};

/* ---- lifecycle ---------------------------------------------------------- */

static void maybe_finish(wr_edge *e) {
  if (e->state != EDGE_CLOSING || e->finished)
    return;
  if (e->handles > 0 || !e->ep_closed || !e->mh_closed || !e->h2_closed || !e->server_closed ||
      !e->dns_closed)
    return;
  e->finished = 1;
  WR_INFO("Edge stopped", "location=%s", e->location);
  if (e->done)
    e->done(e, e->done_arg);
}

static void handle_closed(uv_handle_t *h) {
  wr_edge *e = h->data;
  e->handles--;
  maybe_finish(e);
}

static void ep_closed(wr_quic_endpoint *ep, void *data) {
  (void)ep;
  wr_edge *e = data;
  e->ep = NULL;
  e->ep_closed = 1;
  maybe_finish(e);
}

static void h2_closed(wr_mux_h2_listener *l, void *data) {
  (void)l;
  wr_edge *e = data;
  e->h2 = NULL;
  e->h2_closed = 1;
  maybe_finish(e);
}

static void mh_closed(void *data) {
  wr_edge *e = data;
  e->mh = NULL;
  e->mh_closed = 1;
  maybe_finish(e);
}

static void dns_closed(void *data) {
  wr_edge *e = data;
  e->dnslink = NULL;
  e->dns_closed = 1;
  maybe_finish(e);
}

static void server_closed(wr_http_server *s, void *data) {
  (void)s;
  wr_edge *e = data;
  e->server_closed = 1;
  maybe_finish(e);
}

static size_t user_conns(const wr_edge *e) {
  return e->server ? wr_http_server_conns(e->server) : 0;
}

static void begin_close(wr_edge *e) {
  if (e->state == EDGE_CLOSING)
    return;
  e->state = EDGE_CLOSING;
  if (e->server)
    wr_http_server_close(e->server, server_closed, e);
  else
    e->server_closed = 1;
  uv_timer_stop(&e->sweep);
  uv_close((uv_handle_t *)&e->sweep, handle_closed);
  if (e->ep)
    wr_quic_endpoint_close(e->ep, 0, ep_closed, e);
  else
    e->ep_closed = 1;
  if (e->mh)
    wr_metrics_http_close(e->mh, mh_closed, e);
  else
    e->mh_closed = 1;
  if (e->h2)
    wr_mux_h2_listener_close(e->h2, h2_closed, e);
  else
    e->h2_closed = 1;
  /* after the server: its exchanges let go of their lookups first */
  if (e->dnslink)
    wr_dnslink_resolver_close(e->dnslink, dns_closed, e);
  else
    e->dns_closed = 1;
  maybe_finish(e);
}

static void on_sweep(uv_timer_t *t) {
  wr_edge *e = t->data;
  uint64_t now = wr_now_ns();
  wr_edge_registry_sweep(e->registry, now);
  wr_edge_proxy_sweep(e->proxy, now);
  /* A fresh clock: the proxy's sweep may just have answered a request (a
   * parked one's 502, or a content fallback's page), and a connection made
   * idle after `now` must not look idle since before it (the unsigned
   * difference would close it at once, before its response is flushed). */
  wr_http_server_sweep(e->server, wr_now_ns());
  size_t open = user_conns(e);
  if (e->state == EDGE_DRAINING && (!open || now >= e->grace_deadline_ns)) {
    if (open)
      WR_WARN("Grace period over", "openConnections=%zu", open);
    begin_close(e);
  }
}

/* ---- metrics ------------------------------------------------------------ */

static size_t mh_ready(void *user) { return wr_edge_ready(user); }
static int mh_tunnels(void *user, wr_buf *out) {
  return wr_edge_registry_json(((wr_edge *)user)->registry, out);
}

static int setup_metrics(wr_edge *e) {
  wr_metrics *r = e->reg;
  e->m_conns = wr_metrics_family(r, WR_METRIC_GAUGE, "warren_edge_tunnel_connections",
                                 "Registered connector connections.", "tunnel,protocol");
  e->m_regs = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_registrations_total",
                                "Connector registrations by result.", "result");
  e->m_requests = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_requests_total",
                                    "Requests routed to a tunnel.", "tunnel");
  e->m_responses = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_responses_total",
                                     "Responses sent to users, by status code.", "code");
  e->m_errors = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_errors_total",
                                  "Requests that failed or were refused, by reason.", "reason");
  e->m_cleanups =
      wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_tunnel_cleanups_total",
                        "Tunnel cleanup requests (tunnel cleanup) by result.", "result");
  e->m_bytes_in = wr_metrics_counter(r, "warren_edge_request_body_bytes_total",
                                     "Request body bytes received from users.");
  e->m_bytes_out = wr_metrics_counter(r, "warren_edge_response_body_bytes_total",
                                      "Response body bytes sent to users.");
  e->m_pub_open = wr_metrics_gauge(r, "warren_edge_http_connections",
                                   "Open user connections on the HTTP listener.");
  e->m_pub_total =
      wr_metrics_counter(r, "warren_edge_http_connections_total", "User connections accepted.");
  e->m_inflight =
      wr_metrics_gauge(r, "warren_edge_requests_in_flight", "Request streams open to connectors.");
  e->m_fallbacks =
      wr_metrics_counter(r, "warren_edge_content_fallbacks_total",
                         "Tunnel requests answered from content (origin unavailable).");
  return e->m_conns && e->m_regs && e->m_requests && e->m_responses && e->m_errors &&
                 e->m_cleanups && e->m_bytes_in && e->m_bytes_out && e->m_pub_open &&
                 e->m_pub_total && e->m_inflight && e->m_fallbacks
             ? 0
             : WR_ERR_NOMEM;
}

/* ---- making the parts --------------------------------------------------- */

/* The routing table and the secrets from cfg's tunnels. */
static int add_tunnels(wr_edge *e, const wr_edge_config *cfg, char *err, size_t errlen) {
  for (size_t i = 0; i < cfg->ntunnels; i++) {
    const wr_edge_tunnel *t = &cfg->tunnels[i];
    const char *conflict = NULL;
    if (t->secret_len < WR_TUNNEL_MIN_SECRET) {
      snprintf(err, errlen, "tunnel \"%s\": its secret is shorter than %u bytes", t->name,
               WR_TUNNEL_MIN_SECRET);
      return WR_ERR_INVAL;
    }
    int rc = wr_routes_add_tunnel(e->routes, t->id, t->name, t->hosts, t->nhosts, &conflict);
    if (rc != 0) {
      if (rc == WR_ERR_EXISTS)
        snprintf(err, errlen, "tunnel \"%s\": %s is already taken by another tunnel", t->name,
                 conflict ? conflict : "its id");
      else if (rc == WR_ERR_INVAL)
        snprintf(err, errlen, "tunnel \"%s\": a hostname is not valid", t->name);
      else
        snprintf(err, errlen, "out of memory");
      return rc;
    }
    rc = wr_edge_registry_add_secret(e->registry, wr_routes_lookup_id(e->routes, t->id), t->secret,
                                     t->secret_len);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void tunnel_ready(void *arg, wr_route_tunnel *t) {
  wr_edge *e = arg;
  if (e->proxy)
    wr_edge_proxy_tunnel_ready(e->proxy, t);
}

/* The registry, the proxy, the router and the HTTP server (no socket yet). */
static int make_parts(wr_edge *e) {
  wr_edge_registry_config rc = {.routes = e->routes,
                                .location = e->location,
                                .register_timeout_ms = e->cfg.register_timeout_ms,
                                .conns = e->m_conns,
                                .regs = e->m_regs,
                                .errors = e->m_errors,
                                .cleanups = e->m_cleanups,
                                .on_ready = tunnel_ready,
                                .ready_arg = e};
  if (wr_edge_registry_new(&e->registry, &rc) != 0)
    return WR_ERR_NOMEM;
  wr_edge_proxy_config pc = {
      .requests = e->m_requests, .errors = e->m_errors, .inflight = e->m_inflight};
  if (wr_edge_proxy_new(&e->proxy, &pc) != 0)
    return WR_ERR_NOMEM;
  wr_edge_router_init(&e->router, e->routes, e->proxy, e->m_errors);
  return 0;
}

/* The gateway and its hostnames, when cfg names any. */
static int make_gateway(wr_edge *e, const wr_edge_config *cfg, char *err, size_t errlen) {
  if (!cfg->nsites && !cfg->dnslink_any)
    return 0;
  if (!cfg->bs) {
    snprintf(err, errlen, "the gateway needs a store (--repo)");
    return WR_ERR_INVAL;
  }
  e->sites = wr_calloc(cfg->nsites ? cfg->nsites : 1, sizeof *e->sites);
  if (!e->sites)
    return WR_ERR_NOMEM;
  for (size_t i = 0; i < cfg->nsites; i++) {
    const wr_gateway_site *s = &cfg->sites[i];
    for (size_t j = 0; j < i; j++)
      if (strcmp(cfg->sites[j].host, s->host) == 0) {
        snprintf(err, errlen, "the hostname %s is given to the gateway twice", s->host);
        return WR_ERR_INVAL;
      }
    e->sites[i].kind = s->kind;
    e->sites[i].host = wr_strdup(s->host);
    e->sites[i].root = s->root ? wr_strdup(s->root) : NULL;
    e->nsites = i + 1;
    if (!e->sites[i].host || (s->root && !e->sites[i].root))
      return WR_ERR_NOMEM;
  }
  wr_dnslink_cfg dc = {.server = cfg->dns_resolver,
                       .timeout_ms = cfg->dns_timeout_ms,
                       .max_lookups = cfg->dns_max_lookups,
                       .metrics = e->reg};
  char derr[256];
  int rc = wr_dnslink_resolver_new(e->loop, &dc, &e->dnslink, derr, sizeof derr);
  if (rc) {
    snprintf(err, errlen, "DNSLink: %s", derr);
    return rc;
  }
  e->dns_closed = 0;
  wr_gateway_config gc = {.bs = cfg->bs,
                          .reg = e->reg,
                          .repo = cfg->repo_path,
                          .dnslink = e->dnslink,
                          .fetcher = cfg->fetcher,
                          .loop = e->loop,
                          .fetch_timeout_ms = cfg->fetch_timeout_ms,
                          .max_fetches = cfg->max_fetches};
  rc = wr_gateway_new(&e->gateway, &gc);
  if (rc)
    return rc;
  wr_edge_router_set_gateway(&e->router, e->gateway, e->sites, e->nsites, e->m_fallbacks);
  if (cfg->dnslink_any) {
    e->dnslink_site = (wr_gateway_site){.kind = WR_GW_SITE_DNSLINK};
    e->router.dnslink_any = &e->dnslink_site;
  }
  return 0;
}

static int start_server(wr_edge *e) {
  wr_http_server_config sc = {
      .handler = &e->router.handler,
      .metrics = {.responses = e->m_responses,
                  .errors = e->m_errors,
                  .bytes_in = e->m_bytes_in,
                  .bytes_out = e->m_bytes_out,
                  .conns_open = e->m_pub_open,
                  .conns_total = e->m_pub_total},
      .header_timeout_ms = e->cfg.header_timeout_ms,
      .idle_timeout_ms = e->cfg.idle_timeout_ms,
      .max_conns = e->cfg.max_conns,
      .max_conns_per_client = e->cfg.max_conns_per_client,
  };
  int rc = wr_http_server_new(&e->server, e->loop, &sc);
  if (rc == 0)
    e->server_closed = 0;
  return rc;
}

/* The keep-alive on connector connections: as given, else a PING after a
 * second of quiet (a third of the idle timeout when that is shorter), as
 * the connector's. A connector that was killed then answers within a second
 * with ICMP port unreachable or a TCP reset, so its connections leave the
 * routing table before a request finds them; a live connector's own PINGs
 * keep the connection busy, so this costs next to nothing. */
static uint64_t tunnel_keepalive_ms(const wr_edge_config *cfg) {
  if (cfg->tunnel_keepalive_ms)
    return cfg->tunnel_keepalive_ms;
  uint64_t idle = cfg->tunnel_idle_timeout_ms ? cfg->tunnel_idle_timeout_ms : 30000;
  return idle / 3 < 1000 ? idle / 3 : 1000;
}

/* Listens for connectors: QUIC, and HTTP/2 over TLS/TCP when configured. */
static int listen_connectors(wr_edge *e, const wr_edge_config *cfg, char *err, size_t errlen) {
  wr_mux_quic_listener_init(&e->listener, wr_edge_registry_events(), e->registry);
  wr_quic_config qc = {.alpn = WR_TUNNEL_ALPN,
                       .idle_timeout_ms = cfg->tunnel_idle_timeout_ms,
                       .keepalive_ms = tunnel_keepalive_ms(cfg),
                       .disable_gso = cfg->disable_gso};
  wr_quic_server_config sc = {.tls = cfg->tls, .user_data = &e->listener};
  sc.callbacks = *wr_mux_quic_server_callbacks();
  char abuf[80];
  const struct sockaddr *listen = cfg->listen;
  wr_addr asked, picked;
  wr_addr_from_sockaddr(cfg->listen, &asked);
  int rc;
  if (!cfg->listen_h2 && cfg->listen_h2_twin && wr_addr_port(&asked) == 0) {
    if ((rc = wr_twin_port_pick(&asked, &picked)) != 0) {
      wr_addr_format_sa(cfg->listen, 0, abuf, sizeof abuf);
      snprintf(err, errlen, "cannot find a port free for both UDP and TCP on %s: %s", abuf,
               wr_strerror(rc));
      return rc;
    }
    listen = &picked.sa;
  }
  rc = wr_quic_endpoint_new(&e->ep, e->loop, listen, &qc, &sc);
  if (rc != 0) {
    wr_addr_format_sa(listen, 0, abuf, sizeof abuf);
    snprintf(err, errlen, "cannot listen for connectors on %s (UDP): %s", abuf,
             rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                             : wr_strerror(rc));
    return rc;
  }
  e->ep_closed = 0;
  const struct sockaddr *h2addr = cfg->listen_h2;
  struct sockaddr_storage twin = {0};
  if (!h2addr && cfg->listen_h2_twin) {
    /* The bound address, so port 0 gives one port for both transports. */
    rc = wr_quic_endpoint_local_addr(e->ep, &twin);
    if (rc != 0) {
      snprintf(err, errlen, "cannot read the QUIC endpoint's address: %s", wr_strerror(rc));
      return rc;
    }
    h2addr = (const struct sockaddr *)&twin;
  }
  if (!h2addr)
    return 0;
  wr_mux_h2_config hc = {.idle_timeout_ms = cfg->tunnel_idle_timeout_ms,
                         .keepalive_ms = tunnel_keepalive_ms(cfg)};
  rc = wr_mux_h2_listen(&e->h2, e->loop, h2addr, cfg->tls, &hc, wr_edge_registry_events(),
                        e->registry);
  if (rc != 0) {
    wr_addr_format_sa(h2addr, 0, abuf, sizeof abuf);
    snprintf(err, errlen, "cannot listen for connectors on %s (TCP, HTTP/2): %s", abuf,
             rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                             : wr_strerror(rc));
    return rc;
  }
  e->h2_closed = 0;
  return 0;
}

/* Listens for users (HTTP, HTTPS) and for metrics scrapers. */
static int listen_users(wr_edge *e, const wr_edge_config *cfg, char *err, size_t errlen) {
  int rc = wr_http_server_listen(e->server, cfg->http, err, errlen);
  if (rc == 0 && cfg->https)
    rc = wr_http_server_listen_tls(e->server, cfg->https,
                                   cfg->https_tls ? cfg->https_tls : cfg->tls, err, errlen);
  if (rc != 0 || !cfg->metrics)
    return rc;
  /* /tunnels: the live connections, for `warren tunnel info`. */
  wr_metrics_http_config mc = {
      .reg = e->reg, .ready = mh_ready, .json_path = "/tunnels", .json = mh_tunnels, .user = e};
  rc = wr_metrics_http_new(&e->mh, e->loop, cfg->metrics, &mc);
  if (rc != 0) {
    char abuf[80];
    wr_addr_format_sa(cfg->metrics, 0, abuf, sizeof abuf);
    snprintf(err, errlen, "cannot serve metrics on %s: the address cannot be bound", abuf);
    return rc;
  }
  e->mh_closed = 0;
  return 0;
}

int wr_edge_new(wr_edge **pe, uv_loop_t *loop, const wr_edge_config *cfg, char *err,
                size_t errlen) {
  *pe = NULL;
  if (!cfg->listen || !cfg->http || !cfg->tls) {
    snprintf(err, errlen, "the edge needs a QUIC address, an HTTP address and a certificate");
    return WR_ERR_INVAL;
  }
  wr_edge *e = wr_calloc(1, sizeof *e);
  if (!e)
    return WR_ERR_NOMEM;
  e->loop = loop;
  e->cfg = *cfg;
  e->cfg.listen = e->cfg.listen_h2 = e->cfg.http = e->cfg.https = e->cfg.metrics = NULL;
  e->cfg.tunnels = NULL;
  e->cfg.location = NULL;
#define DEF(f, v)                                                                                  \
  if (!e->cfg.f)                                                                                   \
  e->cfg.f = (v)
  DEF(header_timeout_ms, WR_EDGE_DEFAULT_HEADER_TIMEOUT_MS);
  DEF(idle_timeout_ms, WR_EDGE_DEFAULT_IDLE_TIMEOUT_MS);
  DEF(max_conns, WR_EDGE_DEFAULT_MAX_CONNS);
  DEF(grace_ms, WR_EDGE_DEFAULT_GRACE_MS);
  DEF(register_timeout_ms, WR_EDGE_DEFAULT_REGISTER_TIMEOUT_MS);
#undef DEF
  /* closed until they exist */
  e->ep_closed = e->mh_closed = e->h2_closed = e->server_closed = e->dns_closed = 1;
  int rc = WR_ERR_NOMEM;
  e->location = wr_strdup(cfg->location && *cfg->location ? cfg->location : "edge");
  e->routes = wr_routes_new();
  e->reg = wr_metrics_new();
  if (!e->location || !e->routes || !e->reg || setup_metrics(e) != 0 || make_parts(e) != 0)
    goto fail;
  rc = add_tunnels(e, cfg, err, errlen);
  if (rc == 0)
    rc = make_gateway(e, cfg, err, errlen);
  if (rc != 0)
    goto fail;
  rc = start_server(e);
  if (rc != 0)
    goto fail;
  uv_timer_init(loop, &e->sweep);
  e->sweep.data = e;
  e->handles = 1;
  rc = listen_connectors(e, cfg, err, errlen);
  if (rc == 0)
    rc = listen_users(e, cfg, err, errlen);
  if (rc != 0) {
    /* Handles close asynchronously: the caller runs the loop, then frees.
     * The edge is handed back so wr_edge_shutdown/free can finish the job. */
    e->state = EDGE_DRAINING;
    wr_edge_registry_drain(e->registry);
    wr_edge_proxy_drain(e->proxy);
    begin_close(e);
    *pe = e;
    return rc;
  }
  uv_timer_start(&e->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  *pe = e;
  return 0;
fail:
  if (rc == WR_ERR_NOMEM)
    snprintf(err, errlen, "out of memory");
  wr_edge_free(e);
  return rc;
}

int wr_edge_local_addr(const wr_edge *e, const char *which, struct sockaddr_storage *out) {
  if (strcmp(which, "listen") == 0)
    return e->ep ? wr_quic_endpoint_local_addr(e->ep, out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "https") == 0 || strcmp(which, "http") == 0)
    return e->server ? wr_http_server_local_addr(e->server, which[4] == 's', out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "listen-http2") == 0)
    return e->h2 ? wr_mux_h2_listener_addr(e->h2, out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "metrics") == 0)
    return e->mh ? wr_metrics_http_local_addr(e->mh, out) : WR_ERR_NOTFOUND;
  return WR_ERR_INVAL;
}

size_t wr_edge_ready(const wr_edge *e) { return wr_edge_registry_ready(e->registry); }

int wr_edge_set_tunnels(wr_edge *e, const wr_edge_tunnel *tunnels, size_t n,
                        wr_edge_tunnel_changes *pch, char *err, size_t errlen) {
  memset(pch, 0, sizeof *pch);
  for (size_t i = 0; i < n; i++)
    if (tunnels[i].secret_len < WR_TUNNEL_MIN_SECRET) {
      snprintf(err, errlen, "tunnel \"%s\": its secret is shorter than %u bytes", tunnels[i].name,
               WR_TUNNEL_MIN_SECRET);
      return WR_ERR_INVAL;
    }
  wr_routes_spec *v = wr_calloc(n ? n : 1, sizeof *v);
  unsigned *flags = wr_calloc(n ? n : 1, sizeof *flags);
  int rc = WR_ERR_NOMEM;
  if (!v || !flags) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    v[i] = (wr_routes_spec){
        .name = tunnels[i].name, .hosts = tunnels[i].hosts, .nhosts = tunnels[i].nhosts};
  for (size_t i = 0; i < n; i++)
    memcpy(v[i].id, tunnels[i].id, 16);
  wr_route_tunnel *const *retired;
  size_t before = wr_routes_retired(e->routes, &retired);
  const char *conflict = NULL;
  rc = wr_routes_sync(e->routes, v, n, flags, &conflict);
  if (rc != 0) {
    if (rc == WR_ERR_EXISTS)
      snprintf(err, errlen, "%s is claimed twice", conflict ? conflict : "a tunnel id");
    else if (rc == WR_ERR_INVAL)
      snprintf(err, errlen, "\"%s\" is not a valid hostname", conflict ? conflict : "?");
    else
      snprintf(err, errlen, "out of memory");
    goto out;
  }
  size_t after = wr_routes_retired(e->routes, &retired);
  for (size_t i = before; i < after; i++) {
    size_t closed = wr_edge_registry_revoke(e->registry, retired[i], "tunnel deleted");
    WR_INFO("Tunnel deleted", "tunnel=%s closedConnections=%zu", retired[i]->name, closed);
    pch->closed += closed;
    pch->removed++;
  }
  for (size_t i = 0; i < n; i++) {
    wr_route_tunnel *t = wr_routes_lookup_id(e->routes, tunnels[i].id);
    int changed = 0;
    int src = wr_edge_registry_set_secret(e->registry, t, tunnels[i].secret, tunnels[i].secret_len,
                                          &changed);
    if (src != 0) { /* the tunnel routes, but refuses every connector until the next reload */
      WR_ERROR("Cannot set a tunnel's secret", "tunnel=%s error=\"out of memory\"", t->name);
      rc = src;
    }
    if (flags[i] & WR_ROUTES_ADDED) {
      WR_INFO("Tunnel added", "tunnel=%s hostnames=%zu", t->name, tunnels[i].nhosts);
      pch->added++;
      continue;
    }
    if (changed) {
      size_t closed = wr_edge_registry_close_tunnel(e->registry, t, "tunnel secret changed");
      WR_INFO("Tunnel secret changed: the old one is refused", "tunnel=%s closedConnections=%zu",
              t->name, closed);
      pch->closed += closed;
    }
    if (changed || flags[i])
      pch->changed++;
  }
  if (rc != 0)
    snprintf(err, errlen, "out of memory");
out:
  wr_free(v);
  wr_free(flags);
  return rc;
}

wr_metrics *wr_edge_metrics(wr_edge *e) { return e->reg; }

void wr_edge_shutdown(wr_edge *e, void (*done)(wr_edge *e, void *arg), void *arg) {
  e->done = done;
  e->done_arg = arg;
  if (e->state == EDGE_CLOSING) {
    maybe_finish(e);
    return;
  }
  if (e->state == EDGE_DRAINING) {
    WR_INFO("Shutting down now", "openConnections=%zu", user_conns(e));
    begin_close(e);
    return;
  }
  e->state = EDGE_DRAINING;
  e->grace_deadline_ns = wr_now_ns() + e->cfg.grace_ms * WR_NS_PER_MS;
  WR_INFO("Initiating graceful shutdown", "gracePeriodMs=%llu openConnections=%zu",
          (unsigned long long)e->cfg.grace_ms, user_conns(e));
  wr_http_server_drain(e->server);
  wr_edge_proxy_drain(e->proxy);
  wr_edge_registry_drain(e->registry);
  if (!user_conns(e))
    begin_close(e);
}

void wr_edge_free(wr_edge *e) {
  if (!e)
    return;
  if (e->dnslink) /* an edge that failed to start: its handles close on the loop */
    wr_dnslink_resolver_close(e->dnslink, NULL, NULL);
  wr_http_server_free(e->server);
  wr_edge_proxy_free(e->proxy);
  wr_edge_registry_free(e->registry);
  wr_gateway_free(e->gateway);
  for (size_t i = 0; i < e->nsites; i++) {
    wr_free((char *)e->sites[i].host);
    wr_free((char *)e->sites[i].root);
  }
  wr_free(e->sites);
  wr_routes_del(e->routes);
  wr_metrics_del(e->reg);
  wr_free(e->location);
  wr_free(e);
}
