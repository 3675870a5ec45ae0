/* node.c: `warren daemon`'s composition (see node.h). */
#include "node/node.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "http/server.h"
#include "rpc/api.h"
#include "rpc/apiaddr.h"
#include "store/repo.h"

#define SWEEP_MS 250
#define DEFAULT_GRACE_MS 10000

struct wr_node {
  uv_loop_t *loop;
  wr_node_config cfg;
  wr_repo *repo;
  wr_rpc_api *api;
  wr_http_server *server;
  wr_metrics *reg;
  wr_addr api_addr;
  uv_timer_t sweep;
  int sweep_open;
  /* The libp2p host (src/p2p) is composed here when it lands: created after
   * the repo is open (its identity key lives in the repo), started before
   * the API so `id` can report it, and stopped before the repo closes. Its
   * peer ID, public key, listen addresses and protocols then fill
   * node_identity() below. */
  int stopping, server_closing_started, server_closed;
  uint64_t stop_ns;
  void (*done)(void *arg);
  void *done_arg;
};

/* `id`'s node fields. Until the libp2p host lands there is no peer identity,
 * and the API reports empty fields rather than a made-up ID. */
static void node_identity(void *arg, wr_rpc_identity *out) {
  (void)arg;
  memset(out, 0, sizeof *out);
}

static void server_closed(wr_http_server *s, void *arg) {
  (void)s;
  wr_node *n = arg;
  n->server_closed = 1;
}

static void sweep_closed(uv_handle_t *h) {
  wr_node *n = h->data;
  n->sweep_open = 0;
  wr_api_file_remove(n->cfg.repo_path);
  wr_repo_close(n->repo);
  n->repo = NULL;
  wr_log(WR_LOG_INFO, "Daemon stopped", "repo=%s", n->cfg.repo_path);
  if (n->done)
    n->done(n->done_arg);
}

static void on_sweep(uv_timer_t *t) {
  wr_node *n = t->data;
  uint64_t now = wr_now_ns();
  if (n->server && !n->server_closed)
    wr_http_server_sweep(n->server, now);
  if (!n->stopping)
    return;
  uint64_t grace = (n->cfg.grace_ms ? n->cfg.grace_ms : DEFAULT_GRACE_MS) * WR_NS_PER_MS;
  size_t running = wr_rpc_api_running(n->api);
  if (n->server && !n->server_closed && n->server_closing_started == 0 &&
      ((running == 0 && wr_http_server_conns(n->server) == 0) || now - n->stop_ns >= grace)) {
    n->server_closing_started = 1;
    wr_http_server_close(n->server, server_closed, n);
  }
  /* Every command thread must be done before the repo closes. */
  if (n->server_closed && running == 0) {
    uv_timer_stop(&n->sweep);
    uv_close((uv_handle_t *)&n->sweep, sweep_closed);
  }
}

static int make_metrics(wr_node *n, wr_http_metrics *m) {
  wr_metrics *r = n->reg;
  m->responses = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_api_responses_total",
                                   "RPC API responses, by status code.", "code");
  m->errors =
      wr_metrics_family(r, WR_METRIC_COUNTER, "warren_api_errors_total",
                        "RPC API requests refused by the HTTP server, by reason.", "reason");
  m->bytes_in = wr_metrics_counter(r, "warren_api_request_body_bytes_total",
                                   "Request body bytes received by the RPC API.");
  m->bytes_out = wr_metrics_counter(r, "warren_api_response_body_bytes_total",
                                    "Response body bytes sent by the RPC API.");
  m->conns_open = wr_metrics_gauge(r, "warren_api_connections", "Open RPC API connections.");
  m->conns_total =
      wr_metrics_counter(r, "warren_api_connections_total", "RPC API connections accepted.");
  return m->responses && m->errors && m->bytes_in && m->bytes_out && m->conns_open && m->conns_total
             ? 0
             : WR_ERR_NOMEM;
}

int wr_node_start(uv_loop_t *loop, const wr_node_config *cfg, wr_node **pnode, char *err,
                  size_t errlen) {
  *pnode = NULL;
  wr_node *n = wr_calloc(1, sizeof *n);
  if (!n) {
    snprintf(err, errlen, "out of memory");
    return WR_ERR_NOMEM;
  }
  n->loop = loop;
  n->cfg = *cfg;
  int rv = wr_repo_open(cfg->repo_path, WR_REPO_SHARED, &n->repo);
  if (rv) {
    snprintf(err, errlen, "cannot open the repo %s: %s", cfg->repo_path, wr_strerror(rv));
    goto fail;
  }
  n->reg = wr_metrics_new();
  wr_http_metrics hm;
  if (!n->reg || (rv = make_metrics(n, &hm)) != 0) {
    rv = WR_ERR_NOMEM;
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  wr_rpc_config rc = {
      .repo = n->repo,
      .api_port = wr_addr_port(&cfg->api),
      .allowed_origins = cfg->allowed_origins,
      .nallowed = cfg->nallowed,
      .version = cfg->version,
      .identity = node_identity,
      .identity_arg = n,
  };
  if ((rv = wr_rpc_api_new(loop, &rc, &n->api)) != 0) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  wr_http_server_config sc = {
      .handler = wr_rpc_api_handler(n->api),
      .metrics = hm,
      .header_timeout_ms = 10000,
      .idle_timeout_ms = 60000,
      .max_conns = 256,
  };
  if ((rv = wr_http_server_new(&n->server, loop, &sc)) != 0) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  char why[256];
  if ((rv = wr_http_server_listen(n->server, &cfg->api.sa, why, sizeof why)) != 0) {
    char a[WR_ADDR_STRLEN];
    snprintf(err, errlen, "cannot serve the RPC API on %s: %s",
             wr_addr_format(&cfg->api, a, sizeof a), why);
    goto fail;
  }
  struct sockaddr_storage bound;
  if (wr_http_server_local_addr(n->server, 0, &bound) == 0)
    wr_addr_from_sockaddr((struct sockaddr *)&bound, &n->api_addr);
  else
    n->api_addr = cfg->api;
  /* A port of 0 is resolved now: kubo's default allowed origins name it. */
  wr_rpc_api_set_port(n->api, wr_addr_port(&n->api_addr));
  if ((rv = wr_api_file_write(cfg->repo_path, &n->api_addr, why, sizeof why)) != 0) {
    snprintf(err, errlen, "cannot write the API file in the repo: %s", why);
    goto fail;
  }
  uv_timer_init(loop, &n->sweep);
  n->sweep.data = n;
  n->sweep_open = 1;
  uv_timer_start(&n->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  char m[WR_API_MADDR_MAX];
  wr_api_maddr_format(&n->api_addr, m);
  wr_log(WR_LOG_INFO, "RPC API server listening", "address=%s repo=%s", m, cfg->repo_path);
  wr_log(WR_LOG_INFO, "Daemon is ready", "api=%s", m);
  *pnode = n;
  return 0;
fail:
  if (n->server) {
    /* Nothing listens or is connected yet: closing finishes on the loop's
     * next turn; run it so the handles are gone before we free. */
    wr_http_server_close(n->server, server_closed, n);
    while (!n->server_closed)
      uv_run(loop, UV_RUN_ONCE);
    wr_http_server_free(n->server);
  }
  wr_rpc_api_free(n->api);
  wr_metrics_del(n->reg);
  wr_repo_close(n->repo);
  wr_free(n);
  return rv;
}

void wr_node_api_addr(const wr_node *n, wr_addr *pa) { *pa = n->api_addr; }

void wr_node_stop(wr_node *n, void (*done)(void *arg), void *arg) {
  if (n->stopping) {
    /* A second signal: no more grace. */
    n->stop_ns = 0;
    n->cfg.grace_ms = 1;
    return;
  }
  n->stopping = 1;
  n->stop_ns = wr_now_ns();
  n->done = done;
  n->done_arg = arg;
  wr_log(WR_LOG_INFO, "Daemon is stopping", "commands_running=%zu", wr_rpc_api_running(n->api));
  wr_http_server_drain(n->server);
}

void wr_node_free(wr_node *n) {
  if (!n)
    return;
  wr_http_server_free(n->server);
  wr_rpc_api_free(n->api);
  wr_metrics_del(n->reg);
  wr_repo_close(n->repo);
  wr_free(n);
}
