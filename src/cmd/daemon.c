/* daemon.c: `warren daemon` — runs the node (node/node.h) until SIGTERM or
 * SIGINT: the repo, the libp2p host and kubo's RPC API. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "io/file.h"
#include "node/node.h"
#include "proto/text/json.h"
#include "proto/text/yamldoc.h"
#include "rpc/apiaddr.h"

#define CMD "daemon"
#define MAX_ORIGINS 32
#define MAX_SWARM WR_NODE_MAX_SWARM

#ifndef WR_VERSION
#define WR_VERSION "0.1.0"
#endif

static void usage(void) {
  printf("Usage: warren [--repo DIR] daemon [flags]\n\n"
         "Runs the node (kubo's `ipfs daemon`): holds the repo, runs the libp2p peer (TCP with\n"
         "Noise and yamux, QUIC with libp2p TLS; identify and ping) with the repo's key, and\n"
         "serves kubo's RPC API (POST /api/v0/...) so kubo's tools and the warren CLI use it.\n"
         "The API address is written to <repo>/api, where `warren add|cat|pin|swarm ...` find\n"
         "the daemon.\n\n"
         "Flags:\n"
         "  --swarm MULTIADDR       where peers reach this node (repeatable): /ip4|ip6/ADDR/\n"
         "                          tcp/PORT or /ip4|ip6/ADDR/udp/PORT/quic-v1. Default: the\n"
         "                          repo config's Addresses.Swarm, else kubo's TCP and QUIC\n"
         "                          on 4001: /ip4/0.0.0.0/tcp/4001, /ip6/::/tcp/4001,\n"
         "                          /ip4/0.0.0.0/udp/4001/quic-v1, /ip6/::/udp/4001/quic-v1.\n"
         "                          WebTransport and WebSocket addresses are not served yet\n"
         "                          (skipped with a warning when the config has them)\n"
         "  --api ADDR              where the API listens: ADDR:PORT or a multiaddr such as\n"
         "                          /ip4/127.0.0.1/tcp/5001 (default: the repo config's\n"
         "                          Addresses.API, else 127.0.0.1:5001; loopback only unless\n"
         "                          you say otherwise)\n"
         "  --api-allow-origin O    a browser origin allowed to call the API (repeatable; \"*\"\n"
         "                          for any). Default: the API's own http(s)://127.0.0.1,\n"
         "                          localhost and [::1] origins, as kubo\n"
         "  --bootstrap MULTIADDR   a DHT peer to start from (repeatable):\n"
         "                          /ip4|ip6/ADDR/tcp/PORT/p2p/PEERID. Default: the repo\n"
         "                          config's Bootstrap (its TCP addresses), else none\n"
         "  --routing MODE          the DHT (/ipfs/kad/1.0.0): dhtserver answers queries,\n"
         "                          dhtclient only asks, none turns it off. Default: a\n"
         "                          server when the node listens on a swarm address\n"
         "  --ipns-republish-period D  how often the records of this node's keys (self and\n"
         "                          the keystore's) are signed again and put to the DHT\n"
         "                          (default: the config's Ipns.RepublishPeriod, else 4h;\n"
         "                          the first round runs a minute after start)\n"
         "  --ipns-record-lifetime D   how long a republished record is valid (default: the\n"
         "                          config's Ipns.RecordLifetime, else 48h)\n"
         "  --grace-period D        on SIGTERM/SIGINT, how long running commands may finish\n"
         "                          (default 10s; a second signal stops at once)\n"
         "  -h, --help              this help\n\n"
         "The repo config (<repo>/config, kubo's JSON) is read when present:\n"
         "Addresses.API, Addresses.Swarm, Bootstrap, Ipns.RepublishPeriod,\n"
         "Ipns.RecordLifetime and API.HTTPHeaders.Access-Control-Allow-Origin.\n");
}

static uv_signal_t sig_term, sig_int;
static wr_node *the_node;

static void on_stopped(void *arg) {
  (void)arg;
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  static int signals;
  signals++;
  WR_INFO(signals == 1 ? "Received signal, shutting down gracefully"
                       : "Received a second signal, exiting now",
          "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  wr_node_stop(the_node, on_stopped, NULL);
}

/* ADDR:PORT or a multiaddr. */
static int parse_api(const char *s, wr_addr *pa, char *err, size_t errlen) {
  if (s[0] == '/') {
    const char *why = NULL;
    int rv = wr_api_maddr_parse(s, strlen(s), pa, &why);
    if (rv)
      snprintf(err, errlen, "%s", why);
    return rv;
  }
  return wr_addr_parse(s, pa, err, errlen);
}

/* kubo's config file, when the repo has one: the API address and the
 * allowed origins. Strings are copied into store (freed by the caller). */
typedef struct repo_config {
  char api[128];
  int has_api;
  char *origins[MAX_ORIGINS];
  size_t norigins;
  char *swarm[MAX_SWARM];
  size_t nswarm;
  int has_swarm;
  char *boot[MAX_SWARM]; /* the config's Bootstrap, the TCP ones with a peer ID */
  size_t nboot;
  uint64_t repub_ms, lifetime_ms; /* Ipns.RepublishPeriod, Ipns.RecordLifetime; 0: unset */
} repo_config;

static void free_config(repo_config *rc) {
  for (size_t i = 0; i < rc->norigins; i++)
    wr_free(rc->origins[i]);
  for (size_t i = 0; i < rc->nswarm; i++)
    wr_free(rc->swarm[i]);
  for (size_t i = 0; i < rc->nboot; i++)
    wr_free(rc->boot[i]);
}

/* TCP and QUIC (/udp/P/quic-v1) are served: kubo's configs also list
 * WebTransport and WebSocket addresses, which are skipped (said once each). */
static int servable(const char *ma) {
  size_t n = strlen(ma);
  if (strstr(ma, "/udp/"))
    return n >= 8 && strcmp(ma + n - 8, "/quic-v1") == 0;
  return strstr(ma, "/tcp/") && !strstr(ma, "/ws") && !strstr(ma, "/tls");
}

static int read_config(const char *repo, repo_config *rc) {
  char path[4200], err[256];
  memset(rc, 0, sizeof *rc);
  snprintf(path, sizeof path, "%s/config", repo);
  wr_buf b;
  wr_buf_init(&b, 4 * 1024 * 1024);
  int rv = wr_file_read_all(path, 4 * 1024 * 1024, &b, err, sizeof err);
  if (rv == WR_ERR_NOTFOUND) {
    wr_buf_free(&b);
    return 0;
  }
  if (rv) {
    wr_cli_fail(CMD ": cannot read %s: %s.", path, err);
    wr_buf_free(&b);
    return rv;
  }
  wr_json *root = NULL;
  wr_json_error je;
  rv = wr_json_parse((const char *)b.data, b.len, NULL, &root, &je);
  wr_buf_free(&b);
  if (rv) {
    wr_cli_fail(CMD ": %s is not valid JSON at byte %zu: %s.", path, je.offset,
                je.msg ? je.msg : wr_strerror(rv));
    return rv;
  }
  const wr_json *api = wr_json_get(wr_json_get(root, "Addresses"), "API");
  if (api && api->type == WR_JSON_ARRAY && api->nchild > 0)
    api = api->child; /* kubo accepts one address or a list */
  if (api && api->type == WR_JSON_STRING && api->len < sizeof rc->api) {
    memcpy(rc->api, api->str, api->len + 1);
    rc->has_api = 1;
  }
  const wr_json *sw = wr_json_get(wr_json_get(root, "Addresses"), "Swarm");
  if (sw && sw->type == WR_JSON_ARRAY) {
    rc->has_swarm = 1;
    for (const wr_json *e = sw->child; e && rc->nswarm < MAX_SWARM; e = e->next) {
      if (e->type != WR_JSON_STRING)
        continue;
      if (!servable(e->str))
        WR_WARN("Skipping a swarm address warren does not serve yet", "address=%s", e->str);
      else
        rc->swarm[rc->nswarm++] = wr_strdup(e->str);
    }
  }
  /* kubo's Bootstrap list: /ip4 and /ip6 TCP addresses with /p2p/ID are
   * used; /dnsaddr and the rest are skipped (no DNS multiaddrs yet). */
  const wr_json *bs = wr_json_get(root, "Bootstrap");
  for (const wr_json *e = bs && bs->type == WR_JSON_ARRAY ? bs->child : NULL;
       e && rc->nboot < MAX_SWARM; e = e->next) {
    if (e->type != WR_JSON_STRING)
      continue;
    if ((strncmp(e->str, "/ip4/", 5) == 0 || strncmp(e->str, "/ip6/", 5) == 0) &&
        strstr(e->str, "/tcp/") && strstr(e->str, "/p2p/"))
      rc->boot[rc->nboot++] = wr_strdup(e->str);
    else
      WR_WARN("Skipping a bootstrap address warren cannot dial yet", "address=%s", e->str);
  }
  /* kubo's Ipns section: durations as Go writes them ("4h", "48h0m0s"). */
  const wr_json *ipns = wr_json_get(root, "Ipns");
  const char *const ipns_keys[2] = {"RepublishPeriod", "RecordLifetime"};
  uint64_t *ipns_out[2] = {&rc->repub_ms, &rc->lifetime_ms};
  for (int i = 0; i < 2; i++) {
    const wr_json *d = wr_json_get(ipns, ipns_keys[i]);
    uint64_t ns;
    if (!d || d->type != WR_JSON_STRING || !d->len)
      continue;
    if (wr_duration_parse(d->str, &ns) != 0 || ns < 1000000u)
      WR_WARN("Ignoring an Ipns duration that does not parse", "key=%s value=%s", ipns_keys[i],
              d->str);
    else
      *ipns_out[i] = ns / 1000000u;
  }
  const wr_json *o = wr_json_get(wr_json_get(wr_json_get(root, "API"), "HTTPHeaders"),
                                 "Access-Control-Allow-Origin");
  if (o && o->type == WR_JSON_ARRAY)
    for (const wr_json *e = o->child; e && rc->norigins < MAX_ORIGINS; e = e->next)
      if (e->type == WR_JSON_STRING)
        rc->origins[rc->norigins++] = wr_strdup(e->str);
  wr_json_del(root);
  return 0;
}

int wr_cmd_daemon(int argc, char **argv) {
  enum { O_API = 1000, O_ORIGIN, O_GRACE, O_SWARM, O_BOOT, O_ROUTING, O_REPUB, O_LIFETIME };
  static const struct option opts[] = {
      {"api", required_argument, NULL, O_API},
      {"swarm", required_argument, NULL, O_SWARM},
      {"api-allow-origin", required_argument, NULL, O_ORIGIN},
      {"grace-period", required_argument, NULL, O_GRACE},
      {"bootstrap", required_argument, NULL, O_BOOT},
      {"routing", required_argument, NULL, O_ROUTING},
      {"ipns-republish-period", required_argument, NULL, O_REPUB},
      {"ipns-record-lifetime", required_argument, NULL, O_LIFETIME},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0}};
  const char *api_flag = NULL;
  const char *origins[MAX_ORIGINS], *swarm[MAX_SWARM];
  size_t norigins = 0, nswarm = 0, nboot = 0;
  const char *boot[MAX_SWARM];
  int dht_mode = WR_NODE_DHT_AUTO;
  uint64_t grace_ms = 0, repub_ms = 0, lifetime_ms = 0;
  int c;
  while ((c = wr_cli_getopt(CMD, argc, argv, "h", opts)) != -1) {
    switch (c) {
    case O_API:
      api_flag = optarg;
      break;
    case O_SWARM:
      if (nswarm == MAX_SWARM)
        wr_cli_usage_error(CMD, "at most %d --swarm flags.", MAX_SWARM);
      swarm[nswarm++] = optarg;
      break;
    case O_BOOT:
      if (nboot == MAX_SWARM)
        wr_cli_usage_error(CMD, "at most %d --bootstrap flags.", MAX_SWARM);
      boot[nboot++] = optarg;
      break;
    case O_ROUTING:
      if (strcmp(optarg, "dhtserver") == 0 || strcmp(optarg, "dht") == 0)
        dht_mode = WR_NODE_DHT_SERVER;
      else if (strcmp(optarg, "dhtclient") == 0)
        dht_mode = WR_NODE_DHT_CLIENT;
      else if (strcmp(optarg, "none") == 0)
        dht_mode = WR_NODE_DHT_OFF;
      else if (strcmp(optarg, "auto") != 0)
        wr_cli_usage_error(CMD, "--routing takes auto, dhtserver, dhtclient or none, not \"%s\".",
                           optarg);
      break;
    case O_ORIGIN:
      if (norigins == MAX_ORIGINS)
        wr_cli_usage_error(CMD, "at most %d --api-allow-origin flags.", MAX_ORIGINS);
      origins[norigins++] = optarg;
      break;
    case O_GRACE: {
      uint64_t ns;
      if (wr_duration_parse(optarg, &ns) != 0)
        wr_cli_usage_error(CMD, "--grace-period: \"%s\" is not a duration such as 10s.", optarg);
      grace_ms = ns / 1000000u ? ns / 1000000u : 1;
      break;
    }
    case O_REPUB:
    case O_LIFETIME: {
      uint64_t ns;
      if (wr_duration_parse(optarg, &ns) != 0 || ns < 1000000u)
        wr_cli_usage_error(CMD, "--%s: \"%s\" is not a duration such as 4h.",
                           c == O_REPUB ? "ipns-republish-period" : "ipns-record-lifetime", optarg);
      *(c == O_REPUB ? &repub_ms : &lifetime_ms) = ns / 1000000u;
      break;
    }
    case 'h':
      usage();
      return 0;
    default:
      break;
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "daemon takes no arguments (\"%s\").", argv[optind]);
  char repo[4096];
  if (wr_cmd_repo_path(repo, sizeof repo) != 0)
    return 1;
  repo_config rc;
  if (read_config(repo, &rc) != 0)
    return 1;
  wr_node_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.repo_path = repo;
  cfg.version = WR_VERSION;
  cfg.grace_ms = grace_ms;
  cfg.ipns_republish_ms = repub_ms ? repub_ms : rc.repub_ms;
  cfg.ipns_lifetime_ms = lifetime_ms ? lifetime_ms : rc.lifetime_ms;
  if (nboot) {
    cfg.bootstrap = boot;
    cfg.nbootstrap = nboot;
  } else {
    cfg.bootstrap = (const char *const *)rc.boot;
    cfg.nbootstrap = rc.nboot;
  }
  cfg.dht_mode = dht_mode;
  char err[512];
  const char *api = api_flag ? api_flag : rc.has_api ? rc.api : "127.0.0.1:5001";
  if (parse_api(api, &cfg.api, err, sizeof err) != 0) {
    if (api_flag)
      wr_cli_usage_error(CMD, "--api \"%s\": %s.", api, err);
    wr_cli_fail(CMD ": the repo config's Addresses.API \"%s\": %s.", api, err);
    free_config(&rc);
    return 1;
  }
  static const char *const kubo_swarm[] = {"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001",
                                           "/ip4/0.0.0.0/udp/4001/quic-v1",
                                           "/ip6/::/udp/4001/quic-v1"};
  if (nswarm) {
    cfg.swarm = swarm;
    cfg.nswarm = nswarm;
  } else if (rc.has_swarm) {
    cfg.swarm = (const char *const *)rc.swarm;
    cfg.nswarm = rc.nswarm;
  } else {
    cfg.swarm = kubo_swarm;
    cfg.nswarm = sizeof kubo_swarm / sizeof kubo_swarm[0];
  }
  if (norigins) {
    cfg.allowed_origins = origins;
    cfg.nallowed = norigins;
  } else if (rc.norigins) {
    cfg.allowed_origins = (const char *const *)rc.origins;
    cfg.nallowed = rc.norigins;
  }
  /* A client that vanishes mid-response must not kill the daemon. */
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  int rv = wr_node_start(loop, &cfg, &the_node, err, sizeof err);
  if (rv) {
    wr_cli_fail(CMD ": %s.", err);
    free_config(&rc);
    return 1;
  }
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  wr_node_free(the_node);
  the_node = NULL;
  (void)uv_loop_close(loop);
  free_config(&rc);
  return 0;
}
