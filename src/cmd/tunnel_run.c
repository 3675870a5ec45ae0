/* tunnel_run.c: `warren tunnel run` — start the connector — and `warren
 * tunnel cleanup`, which dials the edges as the connector does.
 *
 * Settings come from config.yml (--config, or the default locations) and
 * flags, flags winning, as cloudflared does. The loop runs until SIGINT or
 * SIGTERM starts a graceful shutdown; a second signal forces it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/cleanup.h"
#include "tunnel/connector.h"
#include "tunnel/credentials.h"
#include "http/metrics_http.h"
#include "tunnel/run_config.h"
#include "tunnel/tunnel_config.h"
#include "proto/text/yamldoc.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/dns.h"
#include "io/udp.h"
#include "proto/text/uuid.h"
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
    "  --token TOKEN             or the same credentials as a token (`warren tunnel\n"
    "                            token NAME`), as cloudflared's\n"
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
    "  --tunnel-keepalive DUR    PING a quiet edge connection this often (default 1s,\n"
    "                            or a third of the idle timeout when shorter: a gone\n"
    "                            edge is then noticed within a second)\n"
    "  --no-gso                  send one UDP datagram per packet (no GSO); for loss\n"
    "                            benchmarks, where a firewall would drop whole batches\n"
    "\n"
    "NAME, when given, must be the tunnel the credentials are for (as the config's\n"
    "`tunnel:` key).\n"
    "\n"
    "Environment, as cloudflared reads it (a flag wins over it, it wins over the\n"
    "config file): TUNNEL_TOKEN, TUNNEL_CRED_FILE, TUNNEL_URL, TUNNEL_EDGE (commas\n"
    "between edges), TUNNEL_CACERT (--edge-ca), TUNNEL_METRICS,\n"
    "TUNNEL_TRANSPORT_PROTOCOL (--protocol), TUNNEL_GRACE_PERIOD.\n"
    "\n"
    "Example:\n"
    "  warren tunnel --edge 127.0.0.1:7844 --edge-ca certs/edge.crt \\\n"
    "      --credentials-file web.json --url http://localhost:8080 run web\n";

static const char CLEANUP_USAGE[] =
    "Usage: warren tunnel [FLAGS] cleanup [--connector-id ID] [NAME]\n"
    "\n"
    "Closes the tunnel's connections at each edge, as cloudflared's `tunnel cleanup`\n"
    "deletes stale ones: every connector's, or with --connector-id only that\n"
    "connector's (its ID as `warren tunnel info` shows it). The command dials each\n"
    "edge as the connector does and proves the tunnel secret of the credentials,\n"
    "bound to that TLS session: only the tunnel's owner can do it, and an edge that\n"
    "does not know the secret refuses. The edge drops connections whose connector\n"
    "is gone by itself; this is for the rest. A running connector reconnects right\n"
    "after (cloudflared's does too): stop it first to keep it off the edge.\n"
    "\n"
    "Flags (each overrides the same key in the config file):\n"
    "  --connector-id ID         only this connector's connections (a UUID)\n"
    "  --config FILE             config.yml (default: ~/.warren/config.yml, then\n"
    "                            /etc/warren/config.yml, when present)\n"
    "  --credentials-file FILE   the tunnel's credentials (from `warren tunnel create`)\n"
    "  --token TOKEN             or the same credentials as a token\n"
    "  --edge ADDR:PORT          an edge to clean up at (repeat for several)\n"
    "  --edge-ca FILE            trust the edge certificate issued by this CA\n"
    "  --edge-fingerprint SHA256 or trust the edge certificate with this fingerprint\n"
    "  --edge-name NAME          the name to check in the edge certificate\n"
    "  --protocol PROTO          auto (default: QUIC, then http2 when UDP gets no\n"
    "                            answer), quic or http2\n"
    "\n"
    "NAME, when given, must be the tunnel the credentials are for. Environment as\n"
    "for `tunnel run`: TUNNEL_TOKEN, TUNNEL_CRED_FILE, TUNNEL_EDGE, TUNNEL_CACERT,\n"
    "TUNNEL_TRANSPORT_PROTOCOL.\n"
    "\n"
    "Prints, per edge, how many connections it closed; exits 1 when an edge could\n"
    "not be asked or refused (wrong credentials, unknown tunnel).\n"
    "\n"
    "Example:\n"
    "  warren tunnel --edge 127.0.0.1:7844 --edge-ca certs/edge.crt \\\n"
    "      --credentials-file web.json cleanup web\n";

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
  OPT_IDLE, OPT_KEEPALIVE, OPT_TOKEN, OPT_CONNECTOR_ID, OPT_LAST
};

/* The command being run, for messages: "tunnel run" or "tunnel cleanup". */
static const char *CMD = "tunnel run";

/* The long name of option opt, for messages ("--protocol"). */
static const char *flag_name(const struct option *opts, int opt) {
  static char name[40];
  for (; opts->name; opts++)
    if (opts->val == opt) {
      snprintf(name, sizeof name, "--%s", opts->name);
      break;
    }
  return name;
}

/* One setting, from its flag or from its environment variable (name says
 * which, for the message). Usage errors exit. */
static void set_option(wr_run_config *rc, int opt, const char *val, const char *name) {
  uint64_t *d = NULL;
  switch (opt) {
  case OPT_CRED: rc->credentials_file = val; break;
  case OPT_TOKEN: rc->token = val; break;
  case OPT_EDGE:
    if (rc->nedges == WR_CONNECTOR_MAX_EDGES)
      wr_cli_usage_error(CMD, "at most %d edges are allowed.", WR_CONNECTOR_MAX_EDGES);
    if (wr_hostport_check(val) != 0)
      wr_cli_usage_error(CMD, "%s takes HOST:PORT, not \"%s\".", name, val);
    rc->edges[rc->nedges++] = val;
    break;
  case OPT_EDGE_CA: rc->edge_ca = val; break;
  case OPT_EDGE_FP: rc->edge_fingerprint = val; break;
  case OPT_EDGE_NAME: rc->edge_name = val; break;
  case OPT_URL: rc->url = val; break;
  case OPT_HA:
    rc->ha_connections = (long)wr_cli_parse_uint(CMD, name, val, 1, WR_CONNECTOR_MAX_HA);
    break;
  case OPT_GRACE:
    if (wr_duration_parse(val, &rc->grace_ns) != 0)
      wr_cli_usage_error(CMD, "%s takes a duration such as 30s or 1m30s, not \"%s\".", name,
                         val);
    break;
  case OPT_METRICS: rc->metrics = val; break;
  case OPT_NO_GSO: rc->no_gso = 1; break;
  case OPT_PROTOCOL:
    if (strcmp(val, "auto") == 0)
      rc->protocol = WR_PROTOCOL_AUTO;
    else if (strcmp(val, "quic") == 0)
      rc->protocol = WR_PROTOCOL_QUIC;
    else if (strcmp(val, "http2") == 0)
      rc->protocol = WR_PROTOCOL_HTTP2;
    else
      wr_cli_usage_error(CMD, "%s takes auto, quic or http2, not \"%s\".", name, val);
    break;
  case OPT_PROBE: d = &rc->quic_probe_interval_ns; break;
  case OPT_IDLE: d = &rc->idle_timeout_ns; break;
  case OPT_KEEPALIVE: d = &rc->keepalive_ns; break;
  case OPT_QUIC_TIMEOUT: d = &rc->quic_timeout_ns; break;
  default: break;
  }
  if (d && (wr_duration_parse(val, d) != 0 || *d < WR_NS_PER_MS))
    wr_cli_usage_error(CMD, "%s takes a duration such as 30s, not \"%s\".", name, val);
}

/* cloudflared's environment variables for the flags it reads from them: a
 * flag on the command line wins, then the variable, then the config file. */
static void apply_env(wr_run_config *rc, const int *given) {
  static const struct {
    const char *var;
    int opt;
  } vars[] = {
      {"TUNNEL_TOKEN", OPT_TOKEN},       {"TUNNEL_CRED_FILE", OPT_CRED},
      {"TUNNEL_URL", OPT_URL},           {"TUNNEL_CACERT", OPT_EDGE_CA},
      {"TUNNEL_METRICS", OPT_METRICS},   {"TUNNEL_TRANSPORT_PROTOCOL", OPT_PROTOCOL},
      {"TUNNEL_GRACE_PERIOD", OPT_GRACE}, {"TUNNEL_EDGE", OPT_EDGE},
  };
  static char edges[1024]; /* TUNNEL_EDGE's copy, cut at the commas: rc keeps pointers */
  char name[48];
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i].var);
    if (!v || !*v || given[vars[i].opt])
      continue;
    snprintf(name, sizeof name, "$%s", vars[i].var);
    if (vars[i].opt != OPT_EDGE) {
      set_option(rc, vars[i].opt, v, name);
      continue;
    }
    if (strlen(v) >= sizeof edges)
      wr_cli_usage_error(CMD, "%s is longer than %zu characters.", name, sizeof edges - 1);
    strcpy(edges, v);
    for (char *save = NULL, *e = strtok_r(edges, ",", &save); e; e = strtok_r(NULL, ",", &save))
      set_option(rc, OPT_EDGE, e, name);
  }
}

/* Parses the flags into *prc (and the config file's path into *pconfig,
 * cleanup's --connector-id into *pconnector); usage errors exit. Returns 1
 * when --help was printed, else 0. */
static int parse_flags(int argc, char **argv, int cleanup, const char **pconfig,
                       wr_run_config *prc, const char **pconnector) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, OPT_CONFIG},
      {"credentials-file", required_argument, NULL, OPT_CRED},
      {"cred-file", required_argument, NULL, OPT_CRED},
      {"token", required_argument, NULL, OPT_TOKEN},
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
      {"connector-id", required_argument, NULL, OPT_CONNECTOR_ID},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  /* What cleanup takes; the connector's other flags would be ignored. */
  static const int cleanup_opts[] = {OPT_CONFIG, OPT_CRED,      OPT_TOKEN,    OPT_EDGE,
                                     OPT_EDGE_CA, OPT_EDGE_FP,  OPT_EDGE_NAME, OPT_PROTOCOL,
                                     OPT_CONNECTOR_ID};
  wr_run_config *rc = prc;
  wr_run_config_init(rc);
  int given[OPT_LAST] = {0};
  int c;
  optind = 1;
  while ((c = wr_cli_getopt(CMD, argc, argv, "h", opts)) != -1) {
    if (c == 'h') {
      fputs(cleanup ? CLEANUP_USAGE : USAGE, stdout);
      return 1;
    }
    if (c >= OPT_CONFIG && c < OPT_LAST) {
      int ok = !cleanup && c != OPT_CONNECTOR_ID;
      for (size_t i = 0; cleanup && i < sizeof cleanup_opts / sizeof cleanup_opts[0]; i++)
        ok |= cleanup_opts[i] == c;
      if (!ok)
        wr_cli_usage_error(CMD, "%s does not take %s.", CMD, flag_name(opts, c));
    }
    if (c == OPT_CONNECTOR_ID) {
      *pconnector = optarg;
    } else if (c == OPT_CONFIG) {
      *pconfig = optarg;
    } else if (c >= OPT_CONFIG && c < OPT_LAST) {
      given[c] = 1;
      set_option(rc, c, optarg, flag_name(opts, c));
    }
  }
  apply_env(rc, given);
  /* getopt moved the words that are not flags to the end: "run" [NAME]. */
  if (optind < argc && strcmp(argv[optind], cleanup ? "cleanup" : "run") == 0)
    optind++;
  if (optind < argc - 1)
    wr_cli_usage_error(CMD, "%s takes at most one tunnel name, not \"%s\".",
                       cleanup ? "cleanup" : "run", argv[optind + 1]);
  if (optind < argc)
    prc->name = argv[optind];
  return 0;
}

/* Loads config_path into tc, or the default config when neither it nor
 * --url is given and one exists. Returns the exit code (0: go on). */
static int load_config_file(const char *config_path, const char *url, wr_tunnel_config *tc) {
  char err[512];
  char default_config[4096];
  if (!config_path && !url &&
      wr_tunnel_config_find_default(getenv("HOME"), default_config, sizeof default_config) == 0)
    config_path = default_config;
  if (!config_path)
    return 0;
  if (wr_tunnel_config_load(config_path, tc, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    return 1;
  }
  if (tc->warnings.len)
    WR_WARN("Unknown keys in the config file (ignored)", "file=%s keys=\"%.*s\"", config_path,
            (int)tc->warnings.len - 1, (const char *)tc->warnings.data);
  if (tc->has_loglevel)
    wr_log_set_level(tc->loglevel);
  return 0;
}

/* Loads the tunnel's credentials into *pcred, from the token or else the
 * file, and checks they are for the tunnel asked for (`run NAME`, else the
 * config's `tunnel:`). Returns the exit code. */
static int load_credentials(const wr_run_config *rc, const wr_tunnel_config *tc,
                            wr_credentials *pcred) {
  char err[512];
  int rv;
  if (rc->token)
    rv = wr_credentials_from_token(rc->token, strlen(rc->token), pcred, err, sizeof err);
  else if (rc->credentials_file)
    rv = wr_credentials_load(rc->credentials_file, pcred, err, sizeof err);
  else {
    wr_cli_fail("no credentials: give --credentials-file (written by `warren tunnel create`), "
                "--token (from `warren tunnel token`) or credentials-file in the config.");
    return 2;
  }
  const char *wanted = rc->name ? rc->name : tc->tunnel;
  if (rv == 0 && wanted)
    rv = wr_credentials_check_tunnel(pcred, wanted, rc->token ? "the token" : rc->credentials_file,
                                     err, sizeof err);
  if (rv != 0) {
    wr_cli_fail("%s", err);
    return 1;
  }
  return 0;
}

/* Settles the ingress rules (wr_run_config_ingress). Returns the exit code:
 * 2 for what the user left out or mistyped, 1 for rules that do not hold. */
static int choose_ingress(const wr_run_config *rc, wr_tunnel_config *tc) {
  char err[512];
  int rv = wr_run_config_ingress(rc, tc, err, sizeof err);
  if (rv == 0)
    return 0;
  wr_cli_fail("%s", err);
  return rv == WR_ERR_INVAL || rv == WR_ERR_NOTFOUND ? 2 : 1;
}

/* There is an edge and every edge resolves. Returns the exit code. */
static int check_edges(const wr_run_config *rc) {
  if (rc->nedges == 0) {
    wr_cli_fail("no edge to connect to: give --edge ADDR:PORT or edge in the config.");
    return 2;
  }
  size_t bad = first_unresolved(uv_default_loop(), rc->edges, rc->nedges);
  if (bad < rc->nedges) {
    wr_cli_fail("the edge address %s does not resolve.", rc->edges[bad]);
    return 1;
  }
  return 0;
}

/* The TLS client that verifies the edge (by CA or pinned fingerprint), in
 * *ptls for the caller to free. Returns the exit code. */
static int make_tls(const wr_run_config *rc, wr_tls_client **ptls) {
  char err[512];
  if (!rc->edge_ca && !rc->edge_fingerprint) {
    wr_cli_fail("the edge cannot be verified: give --edge-ca FILE or --edge-fingerprint SHA256.");
    return 2;
  }
  wr_tls_client_config tcc = {.ca_file = rc->edge_ca, .pins = rc->edge_fingerprint};
  if (wr_tls_client_new(ptls, &tcc, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    return 1;
  }
  return 0;
}

/* Serves /metrics, /ready and /healthcheck on addr (none when NULL) into
 * rs->mhttp. Returns the exit code. */
static int start_metrics_server(run_state *rs, const char *addr) {
  if (!addr)
    return 0;
  char err[512];
  wr_addr ma;
  if (wr_cli_listen_addr(addr, &ma, err, sizeof err) != 0) {
    wr_cli_fail("the metrics address: %s", err);
    return 2;
  }
  wr_metrics_http_config mc = {.reg = rs->metrics, .collect = collect_cb, .ready = ready_cb,
                               .user = rs};
  if (wr_metrics_http_new(&rs->mhttp, rs->loop, &ma.sa, &mc) != 0) {
    wr_cli_fail("cannot serve metrics on %s.", addr);
    return 1;
  }
  wr_addr bound = {0};
  char shown[WR_ADDR_STRLEN];
  if (wr_metrics_http_local_addr(rs->mhttp, &bound.ss) == 0) {
    bound.len = bound.ss.ss_family == AF_INET6 ? sizeof bound.in6 : sizeof bound.in;
    WR_INFO("Starting metrics server", "addr=%s", wr_addr_format(&bound, shown, sizeof shown));
  }
  return 0;
}

/* Starts the connector and runs the loop until a signal has shut it down.
 * Returns the exit code. */
static int run_connector(run_state *rs, const wr_connector_config *cc) {
  if (wr_connector_start(&rs->cn, cc) != 0) {
    wr_cli_fail("the connector could not start (see the log above).");
    if (rs->mhttp)
      wr_metrics_http_close(rs->mhttp, NULL, NULL);
    uv_run(rs->loop, UV_RUN_DEFAULT);
    return 1;
  }
  uv_signal_init(rs->loop, &rs->sigint);
  uv_signal_init(rs->loop, &rs->sigterm);
  rs->sigint.data = rs->sigterm.data = rs;
  uv_signal_start(&rs->sigint, on_signal, SIGINT);
  uv_signal_start(&rs->sigterm, on_signal, SIGTERM);
  /* An origin (or the edge) that resets a connection we write to is an
   * error on that stream, not a reason for the connector to die. */
  signal(SIGPIPE, SIG_IGN);
  uv_run(rs->loop, UV_RUN_DEFAULT);
  wr_connector_free(rs->cn);
  WR_INFO("Tunnel server stopped", "%s", "");
  return 0;
}

/* ---- tunnel cleanup ---------------------------------------------------- */

typedef struct resolved {
  int status;
  wr_addr addr;
  char err[WR_DNS_MAX_HOST + 96];
} resolved;

static void edge_resolved_once(int status, const wr_addr *addrs, size_t naddrs, const char *err,
                               void *arg) {
  resolved *r = arg;
  r->status = status;
  if (status == 0 && naddrs)
    r->addr = addrs[0];
  else
    snprintf(r->err, sizeof r->err, "%s", err);
}

/* Asks one edge; prints its answer. Returns 0 when it answered. */
static int cleanup_edge(const char *edge, wr_cleanup_config *cc, const char *tunnel) {
  resolved r = {.status = WR_ERR_IO};
  if (wr_dns_resolve(cc->loop, edge, edge_resolved_once, &r, NULL, r.err, sizeof r.err) != 0) {
    wr_cli_fail("tunnel cleanup: %s.", r.err);
    return 1;
  }
  uv_run(cc->loop, UV_RUN_DEFAULT);
  if (r.status != 0) {
    wr_cli_fail("tunnel cleanup: %s.", r.err);
    return 1;
  }
  cc->edge = &r.addr.sa;
  uint64_t closed = 0;
  char why[300];
  int rv = wr_cleanup_run(cc, &closed, why, sizeof why);
  if (rv != 0) {
    wr_cli_fail("tunnel cleanup: edge %s: %s%s", edge, why,
                rv == WR_ERR_DENIED ? " (are these the credentials of this tunnel?)." : ".");
    return 1;
  }
  printf("Closed %llu connection%s of tunnel %s at edge %s\n", (unsigned long long)closed,
         closed == 1 ? "" : "s", tunnel, edge);
  return 0;
}

static int run_cleanup(const wr_run_config *settings, const wr_credentials *cred,
                       const char *connector, const wr_tls_client *tls) {
  wr_cleanup_config cc = {.loop = uv_default_loop(),
                          .server_name = settings->edge_name,
                          .tls = tls,
                          .protocol = settings->protocol < 0 ? WR_CONNECTOR_AUTO
                                                             : settings->protocol,
                          .secret = cred->secret,
                          .secret_len = cred->secret_len};
  memcpy(cc.tunnel_id, cred->tunnel_id, sizeof cc.tunnel_id);
  if (connector && wr_uuid_parse(connector, strlen(connector), cc.connector_id) != 0)
    wr_cli_usage_error(CMD, "--connector-id takes a connector's UUID (as `warren tunnel info` "
                            "shows it), not \"%s\".", connector);
  char tid[WR_UUID_STR_LEN + 1];
  wr_uuid_format(cred->tunnel_id, tid);
  const char *name = cred->tunnel_name[0] ? cred->tunnel_name : tid;
  int rc = 0;
  for (size_t i = 0; i < settings->nedges; i++)
    rc |= cleanup_edge(settings->edges[i], &cc, name);
  return rc;
}

static int cmd_tunnel(int argc, char **argv, int cleanup) {
  const char *config_path = NULL, *connector = NULL;
  wr_run_config settings;
  CMD = cleanup ? "tunnel cleanup" : "tunnel run";
  if (parse_flags(argc, argv, cleanup, &config_path, &settings, &connector))
    return 0;
  int rc;
  wr_tunnel_config tc;
  wr_tunnel_config_init(&tc);
  wr_credentials cred;
  memset(&cred, 0, sizeof cred);
  wr_tls_client *tls = NULL;
  run_state rs = {0};
  wr_connector_config cc;

  if ((rc = load_config_file(config_path, settings.url, &tc)) != 0)
    goto out;
  /* Flags win over the file. */
  wr_run_config_merge_file(&settings, &tc);
  wr_cli_check_keepalive(CMD, settings.idle_timeout_ns / WR_NS_PER_MS,
                         settings.keepalive_ns / WR_NS_PER_MS);
  if (cleanup) {
    if ((rc = load_credentials(&settings, &tc, &cred)) == 0 &&
        (rc = check_edges(&settings)) == 0 && (rc = make_tls(&settings, &tls)) == 0)
      rc = run_cleanup(&settings, &cred, connector, tls);
    goto out;
  }
  if ((rc = load_credentials(&settings, &tc, &cred)) != 0 ||
      (rc = choose_ingress(&settings, &tc)) != 0 || (rc = check_edges(&settings)) != 0 ||
      (rc = make_tls(&settings, &tls)) != 0)
    goto out;
  if (!(rs.metrics = wr_metrics_new())) {
    wr_cli_fail("out of memory.");
    rc = 1;
    goto out;
  }
  rs.loop = uv_default_loop();
  wr_run_config_connector(&settings, &tc, &cred, rs.loop, tls, rs.metrics, &cc);
  if (settings.no_gso)
    WR_INFO("UDP GSO is off: one datagram per send", "flag=--no-gso");
  if ((rc = start_metrics_server(&rs, settings.metrics)) == 0)
    rc = run_connector(&rs, &cc);
  memset(&cc, 0, sizeof cc);
out:
  memset(&cred, 0, sizeof cred);
  wr_tls_client_del(tls);
  wr_metrics_del(rs.metrics);
  wr_tunnel_config_free(&tc);
  uv_loop_close(uv_default_loop());
  return rc;
}

int wr_cmd_tunnel_run(int argc, char **argv) { return cmd_tunnel(argc, argv, 0); }

int wr_cmd_tunnel_cleanup(int argc, char **argv) { return cmd_tunnel(argc, argv, 1); }
