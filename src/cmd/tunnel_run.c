/* tunnel_run.c: `warren tunnel run` — start the connector.
 *
 * Settings come from config.yml (--config, or the default locations) and
 * flags, flags winning, as cloudflared does. The loop runs until SIGINT or
 * SIGTERM starts a graceful shutdown; a second signal forces it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/connector.h"
#include "tunnel/credentials.h"
#include "http/metrics_http.h"
#include "tunnel/tunnel_config.h"
#include "proto/text/yamldoc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/dns.h"
#include "io/udp.h"
#include "proto/tunnel/tunnel.h"
#include "net/tls.h"

static const char USAGE[] =
    "Usage: warren tunnel [FLAGS] run [FLAGS] [NAME]\n"
    "\n"
    "Runs the connector: keeps --ha-connections outbound QUIC connections to the\n"
    "edges, registers them for the tunnel in the credentials file, and proxies the\n"
    "requests the edges send to the origins named by the ingress rules (or --url).\n"
    "\n"
    "Flags (each overrides the same key in the config file):\n"
    "  --config FILE             config.yml (default: ~/.warren/config.yml, then\n"
    "                            /etc/warren/config.yml, when present)\n"
    "  --credentials-file FILE   the tunnel's credentials (from `warren tunnel create`)\n"
    "  --edge ADDR:PORT          an edge to connect to (repeat for several)\n"
    "  --edge-ca FILE            trust the edge certificate issued by this CA (an\n"
    "                            edge's --self-signed certificate works as its own CA)\n"
    "  --edge-fingerprint SHA256 or trust the edge certificate with this fingerprint\n"
    "  --edge-name NAME          the name to check in the edge certificate (default:\n"
    "                            the address dialled)\n"
    "  --url URL                 send every request to this origin (no ingress rules)\n"
    "  --ha-connections N        connections to keep (default 4)\n"
    "  --grace-period DURATION   time in-flight requests get on shutdown (default 30s)\n"
    "  --metrics ADDR:PORT       serve /metrics, /ready and /healthcheck there\n"
    "  --protocol PROTO          auto (default), quic or http2. auto starts each\n"
    "                            connection over QUIC, falls back to http2 (TLS/TCP to\n"
    "                            the same edge address) when UDP looks blocked, and\n"
    "                            returns to QUIC once a probe gets through\n"
    "  --quic-probe-interval DUR with auto: how often a connection on http2 tries QUIC\n"
    "                            again (default 60s, with jitter)\n"
    "  --quic-timeout DUR        with auto: a QUIC handshake not done within this falls\n"
    "                            back to http2 (default 5s)\n"
    "  --tunnel-idle-timeout DUR close an edge connection after this long without a\n"
    "                            packet (default 30s: survives seconds of loss)\n"
    "  --tunnel-keepalive DUR    PING a quiet edge connection this often (default: a\n"
    "                            third of the idle timeout)\n"
    "  --no-gso                  send one UDP datagram per packet (no GSO); for loss\n"
    "                            benchmarks, where a firewall would drop whole batches\n"
    "\n"
    "Example:\n"
    "  warren tunnel --edge 127.0.0.1:7844 --edge-ca certs/edge.crt \\\n"
    "      --credentials-file web.json --url http://localhost:8080 run web\n";

typedef struct run_state {
  uv_loop_t *loop;
  wr_connector *cn;
  wr_metrics *metrics;
  wr_metrics_http *mhttp;
  uv_signal_t sigint, sigterm;
  int stopping;
} run_state;

static size_t ready_cb(void *user) {
  run_state *rs = user;
  return rs->cn ? wr_connector_ready(rs->cn) : 0;
}

static void collect_cb(void *user) {
  run_state *rs = user;
  if (rs->cn)
    wr_connector_update_metrics(rs->cn);
}

static void connector_done(wr_connector *cn, void *arg) {
  (void)cn;
  run_state *rs = arg;
  uv_close((uv_handle_t *)&rs->sigint, NULL);
  uv_close((uv_handle_t *)&rs->sigterm, NULL);
  if (rs->mhttp)
    wr_metrics_http_close(rs->mhttp, NULL, NULL);
  rs->mhttp = NULL;
}

static void on_signal(uv_signal_t *h, int signum) {
  run_state *rs = h->data;
  WR_INFO(rs->stopping ? "Received a second signal" : "Received signal, shutting down",
          "signal=%s", signum == SIGINT ? "interrupt" : "terminated");
  rs->stopping = 1;
  wr_connector_shutdown(rs->cn, connector_done, rs);
}

static void edge_checked(int status, const wr_addr *addrs, size_t naddrs, const char *err,
                         void *arg) {
  (void)addrs;
  (void)naddrs;
  (void)err;
  int *failed = arg;
  *failed = status != 0;
}

/* Resolves the n edges on loop, all at once: a start-up check (the
 * connector resolves names again before each dial). Returns the index of the
 * first one that does not resolve, or n. */
static size_t first_unresolved(uv_loop_t *loop, const char *const *edges, size_t n) {
  int failed[WR_CONNECTOR_MAX_EDGES] = {0};
  for (size_t i = 0; i < n; i++)
    if (wr_dns_resolve(loop, edges[i], edge_checked, &failed[i], NULL, NULL, 0) != 0)
      failed[i] = 1;
  uv_run(loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < n; i++)
    if (failed[i])
      return i;
  return n;
}

enum {
  OPT_CONFIG = 256, OPT_CRED, OPT_EDGE, OPT_EDGE_CA, OPT_EDGE_FP, OPT_EDGE_NAME, OPT_URL,
  OPT_HA, OPT_GRACE, OPT_METRICS, OPT_PROTOCOL, OPT_PROBE, OPT_QUIC_TIMEOUT, OPT_NO_GSO,
  OPT_IDLE, OPT_KEEPALIVE,
};

int wr_cmd_tunnel_run(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, OPT_CONFIG},
      {"credentials-file", required_argument, NULL, OPT_CRED},
      {"cred-file", required_argument, NULL, OPT_CRED},
      {"edge", required_argument, NULL, OPT_EDGE},
      {"edge-ca", required_argument, NULL, OPT_EDGE_CA},
      {"edge-fingerprint", required_argument, NULL, OPT_EDGE_FP},
      {"edge-name", required_argument, NULL, OPT_EDGE_NAME},
      {"url", required_argument, NULL, OPT_URL},
      {"ha-connections", required_argument, NULL, OPT_HA},
      {"grace-period", required_argument, NULL, OPT_GRACE},
      {"metrics", required_argument, NULL, OPT_METRICS},
      {"protocol", required_argument, NULL, OPT_PROTOCOL},
      {"quic-probe-interval", required_argument, NULL, OPT_PROBE},
      {"quic-timeout", required_argument, NULL, OPT_QUIC_TIMEOUT},
      {"tunnel-idle-timeout", required_argument, NULL, OPT_IDLE},
      {"tunnel-keepalive", required_argument, NULL, OPT_KEEPALIVE},
      {"no-gso", no_argument, NULL, OPT_NO_GSO},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  const char *cmd = "tunnel run";
  const char *config_path = NULL, *cred_path = NULL, *edge_ca = NULL, *edge_fp = NULL;
  const char *edge_name = NULL, *url = NULL, *metrics_addr = NULL;
  const char *flag_edges[WR_CONNECTOR_MAX_EDGES];
  size_t nflag_edges = 0;
  long ha = -1;
  uint64_t grace_ns = 0;
  uint64_t probe_ns = 0, quic_timeout_ns = 0, idle_ns = 0, keepalive_ns = 0;
  int protocol = -1; /* not given: the config file's, else auto */
  int no_gso = 0, c;
  optind = 1;
  while ((c = wr_cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
    switch (c) {
    case 'h': fputs(USAGE, stdout); return 0;
    case OPT_CONFIG: config_path = optarg; break;
    case OPT_CRED: cred_path = optarg; break;
    case OPT_EDGE:
      if (nflag_edges == WR_CONNECTOR_MAX_EDGES)
        wr_cli_usage_error(cmd, "at most %d --edge flags are allowed.", WR_CONNECTOR_MAX_EDGES);
      if (wr_hostport_check(optarg) != 0)
        wr_cli_usage_error(cmd, "--edge takes HOST:PORT, not \"%s\".", optarg);
      flag_edges[nflag_edges++] = optarg;
      break;
    case OPT_EDGE_CA: edge_ca = optarg; break;
    case OPT_EDGE_FP: edge_fp = optarg; break;
    case OPT_EDGE_NAME: edge_name = optarg; break;
    case OPT_URL: url = optarg; break;
    case OPT_HA:
      ha = (long)wr_cli_parse_uint(cmd, "--ha-connections", optarg, 1, WR_CONNECTOR_MAX_HA);
      break;
    case OPT_GRACE:
      if (wr_duration_parse(optarg, &grace_ns) != 0)
        wr_cli_usage_error(cmd, "--grace-period takes a duration such as 30s or 1m30s, not \"%s\".",
                           optarg);
      break;
    case OPT_METRICS: metrics_addr = optarg; break;
    case OPT_NO_GSO: no_gso = 1; break;
    case OPT_PROTOCOL:
      if (strcmp(optarg, "auto") == 0)
        protocol = WR_PROTOCOL_AUTO;
      else if (strcmp(optarg, "quic") == 0)
        protocol = WR_PROTOCOL_QUIC;
      else if (strcmp(optarg, "http2") == 0)
        protocol = WR_PROTOCOL_HTTP2;
      else
        wr_cli_usage_error(cmd, "--protocol takes auto, quic or http2, not \"%s\".", optarg);
      break;
    case OPT_PROBE:
      if (wr_duration_parse(optarg, &probe_ns) != 0 || probe_ns < WR_NS_PER_MS)
        wr_cli_usage_error(cmd, "--quic-probe-interval takes a duration such as 60s, not \"%s\".",
                           optarg);
      break;
    case OPT_IDLE:
    case OPT_KEEPALIVE:
      if (wr_duration_parse(optarg, c == OPT_IDLE ? &idle_ns : &keepalive_ns) != 0 ||
          (c == OPT_IDLE ? idle_ns : keepalive_ns) < WR_NS_PER_MS)
        wr_cli_usage_error(cmd, "--%s takes a duration such as 30s, not \"%s\".",
                           c == OPT_IDLE ? "tunnel-idle-timeout" : "tunnel-keepalive", optarg);
      break;
    case OPT_QUIC_TIMEOUT:
      if (wr_duration_parse(optarg, &quic_timeout_ns) != 0 || quic_timeout_ns < WR_NS_PER_MS)
        wr_cli_usage_error(cmd, "--quic-timeout takes a duration such as 5s, not \"%s\".",
                           optarg);
      break;
    }
  }
  /* getopt moved the words that are not flags to the end: "run" [NAME]. */
  if (optind < argc && strcmp(argv[optind], "run") == 0)
    optind++;
  if (optind < argc - 1)
    wr_cli_usage_error(cmd, "run takes at most one tunnel name, not \"%s\".", argv[optind + 1]);

  int rc = 1;
  char err[512];
  char default_config[4096];
  wr_tunnel_config tc;
  wr_tunnel_config_init(&tc);
  wr_credentials cred;
  memset(&cred, 0, sizeof cred);
  wr_tls_client *tls = NULL;
  wr_metrics *metrics = NULL;
  run_state rs = {0};

  if (!config_path && !url && wr_tunnel_config_find_default(getenv("HOME"), default_config,
                                                            sizeof default_config) == 0)
    config_path = default_config;
  if (config_path) {
    if (wr_tunnel_config_load(config_path, &tc, err, sizeof err) != 0) {
      wr_cli_fail("%s", err);
      goto out;
    }
    if (tc.warnings.len)
      WR_WARN("Unknown keys in the config file (ignored)", "file=%s keys=\"%.*s\"", config_path,
              (int)tc.warnings.len - 1, (const char *)tc.warnings.data);
    if (tc.has_loglevel)
      wr_log_set_level(tc.loglevel);
  }
  /* Flags win over the file. */
  if (cred_path == NULL)
    cred_path = tc.credentials_file;
  if (url == NULL)
    url = tc.url;
  if (metrics_addr == NULL)
    metrics_addr = tc.metrics;
  if (edge_ca == NULL)
    edge_ca = tc.edge_ca;
  char fp_hex[65];
  if (edge_fp == NULL && tc.has_fingerprint) {
    wr_hex_encode(fp_hex, tc.edge_fingerprint, 32);
    edge_fp = fp_hex;
  }
  unsigned ha_conns = ha > 0 ? (unsigned)ha : tc.ha_connections;
  if (grace_ns == 0)
    grace_ns = tc.grace_period_ns;
  if (idle_ns == 0)
    idle_ns = tc.tunnel_idle_timeout_ns;
  if (keepalive_ns == 0)
    keepalive_ns = tc.tunnel_keepalive_ns;
  wr_cli_check_keepalive(cmd, idle_ns / WR_NS_PER_MS, keepalive_ns / WR_NS_PER_MS);

  if (!cred_path) {
    wr_cli_fail("no credentials: give --credentials-file (written by `warren tunnel create`) "
                "or credentials-file in the config.");
    rc = 2;
    goto out;
  }
  if (wr_credentials_load(cred_path, &cred, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    goto out;
  }
  if (url) { /* --url replaces the rules with one catch-all */
    wr_ingress_free(&tc.ingress);
    wr_ingress_init(&tc.ingress);
    if (wr_ingress_add(&tc.ingress, NULL, NULL, url, NULL, err, sizeof err) != 0) {
      wr_cli_fail("--url: %s", err);
      rc = 2;
      goto out;
    }
  } else if (tc.ingress.n == 0) {
    wr_cli_fail("nothing to serve: give --url or ingress rules in the config file.");
    rc = 2;
    goto out;
  } else if (wr_tunnel_config_validate_ingress(&tc, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    goto out;
  }

  wr_connector_config cc = {0};
  size_t nedges = nflag_edges ? nflag_edges : tc.nedges;
  if (nedges == 0) {
    wr_cli_fail("no edge to connect to: give --edge ADDR:PORT or edge in the config.");
    rc = 2;
    goto out;
  }
  for (size_t i = 0; i < nedges && i < WR_CONNECTOR_MAX_EDGES; i++)
    cc.edges[cc.nedges++] = nflag_edges ? flag_edges[i] : tc.edges[i];
  size_t bad = first_unresolved(uv_default_loop(), cc.edges, cc.nedges);
  if (bad < cc.nedges) {
    wr_cli_fail("the edge address %s does not resolve.", cc.edges[bad]);
    goto out;
  }
  if (!edge_ca && !edge_fp) {
    wr_cli_fail("the edge cannot be verified: give --edge-ca FILE or --edge-fingerprint SHA256.");
    rc = 2;
    goto out;
  }
  wr_tls_client_config tcc = {.ca_file = edge_ca, .pins = edge_fp};
  if (wr_tls_client_new(&tls, &tcc, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    goto out;
  }
  if (!(metrics = wr_metrics_new())) {
    wr_cli_fail("out of memory.");
    goto out;
  }

  rs.loop = uv_default_loop();
  rs.metrics = metrics;
  cc.loop = rs.loop;
  cc.server_name = edge_name;
  cc.tls = tls;
  memcpy(cc.tunnel_id, cred.tunnel_id, 16);
  memcpy(cc.secret, cred.secret, cred.secret_len);
  cc.secret_len = cred.secret_len;
  cc.ha_connections = ha_conns;
  cc.grace_period_ms = grace_ns / WR_NS_PER_MS;
  cc.ingress = &tc.ingress;
  cc.metrics = metrics;
  cc.protocol = protocol >= 0 ? protocol : (int)tc.protocol;
  cc.quic_probe_interval_ms = probe_ns / WR_NS_PER_MS;
  cc.quic_timeout_ms = quic_timeout_ns / WR_NS_PER_MS;
  cc.idle_timeout_ms = idle_ns / WR_NS_PER_MS;
  cc.keepalive_ms = keepalive_ns / WR_NS_PER_MS;
  cc.disable_gso = no_gso;
  if (no_gso)
    WR_INFO("UDP GSO is off: one datagram per send", "flag=--no-gso");
  if (metrics_addr) {
    wr_addr ma;
    if (wr_addr_parse(metrics_addr, &ma, err, sizeof err) != 0) {
      wr_cli_fail("--metrics: %s", err);
      rc = 2;
      goto out;
    }
    wr_metrics_http_config mc = {.reg = metrics, .collect = collect_cb, .ready = ready_cb,
                                 .user = &rs};
    if (wr_metrics_http_new(&rs.mhttp, rs.loop, &ma.sa, &mc) != 0) {
      wr_cli_fail("cannot serve metrics on %s.", metrics_addr);
      goto out;
    }
    wr_addr bound = {0};
    char shown[WR_ADDR_STRLEN];
    if (wr_metrics_http_local_addr(rs.mhttp, &bound.ss) == 0) {
      bound.len = bound.ss.ss_family == AF_INET6 ? sizeof bound.in6 : sizeof bound.in;
      WR_INFO("Starting metrics server", "addr=%s",
              wr_addr_format(&bound, shown, sizeof shown));
    }
  }
  if (wr_connector_start(&rs.cn, &cc) != 0) {
    wr_cli_fail("the connector could not start (see the log above).");
    if (rs.mhttp)
      wr_metrics_http_close(rs.mhttp, NULL, NULL);
    uv_run(rs.loop, UV_RUN_DEFAULT);
    goto out;
  }
  uv_signal_init(rs.loop, &rs.sigint);
  uv_signal_init(rs.loop, &rs.sigterm);
  rs.sigint.data = rs.sigterm.data = &rs;
  uv_signal_start(&rs.sigint, on_signal, SIGINT);
  uv_signal_start(&rs.sigterm, on_signal, SIGTERM);
  uv_run(rs.loop, UV_RUN_DEFAULT);
  wr_connector_free(rs.cn);
  rc = 0;
  WR_INFO("Tunnel server stopped", "%s", "");
out:
  memset(&cred, 0, sizeof cred);
  wr_tls_client_del(tls);
  wr_metrics_del(metrics);
  wr_tunnel_config_free(&tc);
  uv_loop_close(uv_default_loop());
  return rc;
}
