/* edge.c: `warren edge` — the public side of the tunnels (edge/edge.h).
 *
 * Flags, or the same keys in a YAML file given with --config (flags win),
 * are turned into a wr_edge_config; then the loop runs until SIGTERM/SIGINT
 * (graceful: in-flight requests finish within the grace period) or a second
 * signal (now). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "edge/edge.h"
#include "edge/edge_file.h"
#include "edge/tunnels_watch.h"
#include "gateway/gateway.h"
#include "io/udp.h"
#include "net/tls.h"
#include "node/node.h"
#include "store/repo.h"
#include "tunnel/tunnels_file.h"

#ifndef WR_VERSION
#define WR_VERSION "0.1.0"
#endif

#define CMD "edge"

static void usage(void) {
  printf("Usage: warren edge --listen ADDR:PORT [--listen-http2 ADDR:PORT] --http ADDR:PORT\n"
         "                   [--tunnels TUNNELS.yml]\n"
         "                   (--cert CRT --key KEY | --self-signed DIR)\n"
         "                   [--https ADDR:PORT] [--metrics ADDR:PORT] [--location NAME]\n"
         "                   [--gateway HOST]... [--subdomain-gateway HOST]...\n"
         "                   [--content HOST=/ipfs/CID|/ipns/NAME|dnslink]... [--dnslink]\n"
         "                   [--dns-resolver ADDR[:PORT]] [--repo DIR] [--config edge.yml]\n"
         "                   [--p2p] [--swarm MULTIADDR]... [--bootstrap MULTIADDR]...\n"
         "                   [--gateway-timeout DUR] [--gateway-fetches N]\n\n"
         "Runs an edge: connectors (`warren tunnel run`) connect to it over QUIC and register\n"
         "for their tunnel; users' HTTP requests are routed by Host to a connector of the\n"
         "tunnel that owns the hostname (the tunnels file, see `warren tunnel create`).\n\n"
         "  --listen ADDR:PORT     UDP address for connectors (QUIC, ALPN warren-tunnel/1)\n"
         "  --listen-http2 ADDR:PORT  TCP address for connectors on networks that block UDP\n"
         "                         (HTTP/2 over TLS, ALPN warren-tunnel-h2/1). Default: TCP\n"
         "                         at --listen's address and port (the connector's\n"
         "                         --protocol auto falls back there)\n"
         "  --no-http2-listener    serve connectors over QUIC only (no TCP listener)\n"
         "  --http ADDR:PORT       TCP address for users' HTTP/1.1\n"
         "  --https ADDR:PORT      TCP address for users' HTTPS: HTTP/2 (ALPN h2) or\n"
         "                         HTTP/1.1 over TLS (certificates: --https-cert, else\n"
         "                         the edge's own, which must then name the hostnames)\n"
         "  --tunnels FILE         the tunnels file: ids, secrets and hostnames (default:\n"
         "                         ~/.warren/tunnels.yml, else /etc/warren/tunnels.yml)\n"
         "  --cert FILE, --key FILE  the edge's TLS certificate chain and key (PEM)\n"
         "  --https-cert FILE, --https-key FILE  a certificate chain and key for users'\n"
         "                         HTTPS instead of the edge's own; repeat the pair for\n"
         "                         more hostnames: each handshake gets the certificate\n"
         "                         that names the SNI hostname, else the first pair\n"
         "  --self-signed DIR      use DIR/edge.crt and DIR/edge.key, creating a self-signed\n"
         "                         pair there when none exists (development; connectors can\n"
         "                         trust DIR/edge.crt with --edge-ca)\n"
         "  --metrics ADDR:PORT    serve /metrics (Prometheus) and /ready (JSON) there\n"
         "  --location NAME        this edge's name, told to connectors (default \"edge\")\n"
         "  --grace-period DUR     how long a shutdown waits for requests (default 30s)\n"
         "  --header-timeout DUR   time for a user to send a request head (default 30s)\n"
         "  --idle-timeout DUR     time a keep-alive user connection may idle (default 2m)\n"
         "  --max-connections N    user connections at once (default 10000)\n"
         "  --max-connections-per-client N  user connections one client address (IPv6:\n"
         "                         one /64) may hold at once (default 256; 0: no cap)\n"
         "  --tunnel-idle-timeout DUR  close a connector connection after this long\n"
         "                         without a packet (default 30s: survives seconds of loss)\n"
         "  --tunnel-keepalive DUR  PING a quiet connector connection this often\n"
         "                         (default 1s, or a third of the idle timeout when\n"
         "                         shorter: a killed connector is noticed at once)\n"
         "  --no-gso               send one UDP datagram per packet (no GSO); for loss\n"
         "                         benchmarks, where a firewall would drop whole batches\n"
         "  --gateway HOST         serve the IPFS path gateway on HOST: GET/HEAD\n"
         "                         /ipfs/CID[/path] from the local store (files, Range,\n"
         "                         folders, ?format=raw|car|ipns-record, dag-scope,\n"
         "                         entity-bytes) and /ipns/KEY|DOMAIN[/path] (IPNS records\n"
         "                         in the repo, DNSLink)\n"
         "  --subdomain-gateway HOST  serve CID.ipfs.HOST and NAME.ipns.HOST (one origin\n"
         "                         per CID or name); HOST's /ipfs/ and /ipns/ URLs\n"
         "                         redirect there\n"
         "  --content HOST=ROOT    serve ROOT as HOST's site: /ipfs/CID[/path],\n"
         "                         /ipns/NAME[/path] (resolved per request), or dnslink\n"
         "                         (HOST's own _dnslink TXT record). If a tunnel also\n"
         "                         owns HOST, the content is its fallback: GET/HEAD are\n"
         "                         answered from it when no connector is attached or the\n"
         "                         origin answers 502/503/504\n"
         "  --dnslink              serve any other Host that has a DNSLink (a _dnslink\n"
         "                         TXT record) from its content, as kubo's gateway does\n"
         "  --dns-resolver ADDR[:PORT]  DNS server for DNSLink (default: /etc/resolv.conf)\n"
         "  --dns-timeout DUR      how long one DNSLink lookup may take (default 5s);\n"
         "                         past it the gateway answers 504\n"
         "  --dns-max-lookups N    DNSLink domains looked up at once (default 256); a\n"
         "                         request needing one more is answered 503 at once\n"
         "  --repo DIR             the store the gateway reads (default $WARREN_PATH,\n"
         "                         else ~/.warren); fill it with `warren add`\n"
         "  --p2p                  run an IPFS node in the edge (libp2p host, DHT, Bitswap,\n"
         "                         with the repo's identity.key): blocks the store lacks\n"
         "                         are fetched from the network for the gateway and kept\n"
         "                         unpinned (gc removes them); no RPC API is opened\n"
         "  --swarm MULTIADDR      where peers reach the edge's node (repeatable;\n"
         "                         implies --p2p; default: none, the node only dials)\n"
         "  --bootstrap MULTIADDR  a peer to start the DHT from, /ip4|ip6/A/tcp/P/p2p/ID\n"
         "                         (repeatable; implies --p2p)\n"
         "  --gateway-timeout DUR  how long a request waiting on the network may go\n"
         "                         without a block arriving before it is a 504 (or,\n"
         "                         once the body started, cut); default 60s\n"
         "  --gateway-fetches N    requests that may wait on the network at once; more\n"
         "                         are answered 503 (default 16)\n"
         "  --config FILE          a YAML file with the keys above (without the dashes:\n"
         "                         listen, listen-http2, http, https, tunnels, cert, key,\n"
         "                         https-cert, https-key (a file or a list of files),\n"
         "                         self-signed, metrics, location, grace-period,\n"
         "                         header-timeout, idle-timeout, max-connections,\n"
         "                         max-connections-per-client,\n"
         "                         tunnel-idle-timeout, tunnel-keepalive, repo,\n"
         "                         gateway, subdomain-gateway (a name or a list),\n"
         "                         content (a list of HOST=ROOT, or a mapping\n"
         "                         HOST: ROOT), dnslink (true), dns-resolver,\n"
         "                         dns-timeout, dns-max-lookups, p2p (true or false),\n"
         "                         swarm and bootstrap (a multiaddr or a list),\n"
         "                         gateway-timeout, gateway-fetches);\n"
         "                         flags override it\n"
         "  -h, --help             this help\n\n"
         "Addresses are numeric: 0.0.0.0:7844, [::]:443, 127.0.0.1:8080. Durations as in\n"
         "cloudflared: 30s, 1m30s, 500ms.\n"
         "SIGTERM or Ctrl-C: stop accepting, let requests in flight finish, then exit;\n"
         "a second signal exits at once.\n"
         "The tunnels file is watched: `warren tunnel create` and `tunnel delete` (or an\n"
         "edit) take effect at once, and SIGHUP reloads it too. A deleted tunnel's\n"
         "connectors are disconnected and refused; a file that does not load changes\n"
         "nothing (the log says why).\n\n"
         "Example:\n"
         "  warren tunnel create web --hostname app.example.com --tunnels tunnels.yml \\\n"
         "      --credentials-file web.json\n"
         "  warren edge --listen 0.0.0.0:7844 --http 0.0.0.0:8080 --tunnels tunnels.yml \\\n"
         "      --self-signed ./edge-tls --metrics 127.0.0.1:9090\n"
         "  warren add -r ./site     # prints the folder's CID\n"
         "  warren edge --listen 0.0.0.0:7844 --http 0.0.0.0:8080 --self-signed ./edge-tls \\\n"
         "      --gateway gw.example.com --content www.example.com=/ipfs/bafy...\n");
}

static void file_list_add(const char **list, size_t *n, const char *flag, const char *path) {
  if (*n == WR_EDGE_FILE_MAX_CERTS)
    wr_cli_usage_error(CMD, "%s: at most %d files.", flag, WR_EDGE_FILE_MAX_CERTS);
  list[(*n)++] = path;
}

static wr_addr parse_addr(const char *flag, const char *s) {
  wr_addr a;
  char err[256];
  if (wr_addr_parse(s, &a, err, sizeof err) != 0)
    wr_cli_usage_error(CMD, "%s: %s", flag, err);
  return a;
}

static uint64_t parse_ms(const char *flag, const char *s) {
  uint64_t ns;
  if (wr_duration_parse(s, &ns) != 0 || ns == 0)
    wr_cli_usage_error(CMD, "%s: \"%s\" is not a duration such as 30s or 1m30s.", flag, s);
  return ns / 1000000u ? ns / 1000000u : 1;
}

/* The command line: the flags (the config file fills what they leave). */
typedef struct edge_flags {
  wr_edge_file o;
  const char *config;
  int no_http2, no_gso;
  int p2p; /* the embedded IPFS node: --p2p, swarm, bootstrap or p2p: true */
} edge_flags;

static uv_signal_t sig_term, sig_int;
static wr_edge *the_edge;
static wr_node *the_node; /* --p2p: stopped once the edge is done */
static wr_tunnels_watch *the_watch;
static int signals;

static void on_done(wr_edge *e, void *arg) {
  (void)e;
  (void)arg;
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
  wr_tunnels_watch_close(the_watch);
  the_watch = NULL;
  /* After the edge: requests still waiting on the network hear that it is
   * going (503), and the node closes once their fetches ended. */
  if (the_node)
    wr_node_stop(the_node, NULL, NULL);
}

/* The gateway's fetcher over the embedded node (gateway.h's seam; the
 * gateway never sees exchange/ or node/). The node starts after the edge
 * (it registers its metrics in the edge's registry) and before the loop
 * runs, so no request can find the_node unset; it is freed after the loop
 * ended, when no fetch runs. */
static int node_open(void *arg, wr_bs *bs, wr_blocks *local, uint64_t idle_ms, wr_blocks **pnet) {
  (void)arg;
  if (!the_node)
    return WR_ERR_CLOSED;
  return wr_node_blocks_open(the_node, bs, local, idle_ms, pnet);
}
static const char *node_error(void *arg, wr_blocks *net) {
  (void)arg;
  return wr_node_blocks_error(the_node, net);
}
static void node_close(void *arg, wr_blocks *net) {
  (void)arg;
  wr_node_blocks_close(the_node, net);
}

/* Starts the IPFS node on loop over the edge's repo (LMDB allows one
 * environment per process), its metrics in reg. Returns 0, or 1 after
 * telling the user. */
static int start_node(uv_loop_t *loop, const edge_flags *f, wr_repo *repo, wr_metrics *reg) {
  static wr_node_config nc;
  nc = (wr_node_config){.repo_path = repo->path,
                        .repo = repo,
                        .no_api = 1,
                        .metrics = reg,
                        .swarm = f->o.swarm,
                        .nswarm = f->o.n_swarm,
                        .bootstrap = f->o.bootstrap,
                        .nbootstrap = f->o.n_bootstrap,
                        .version = WR_VERSION};
  char err[512];
  if (wr_node_start(loop, &nc, &the_node, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    return 1;
  }
  return 0;
}

/* Runs the loop until the node (when there is one) has closed, then frees
 * it. */
static void end_node(uv_loop_t *loop) {
  if (!the_node)
    return;
  uv_run(loop, UV_RUN_DEFAULT);
  wr_node_free(the_node);
  the_node = NULL;
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  signals++;
  WR_INFO(signals == 1 ? "Received signal, shutting down gracefully"
                       : "Received a second signal, exiting now",
          "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  wr_edge_shutdown(the_edge, on_done, NULL);
}

/* Parses argv into *pf; usage errors exit. Returns 1 when --help was
 * printed, else 0. */
static int parse_flags(int argc, char **argv, edge_flags *pf) {
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, 'l'},
      {"listen-http2", required_argument, NULL, '2'},
      {"http", required_argument, NULL, 'H'},
      {"https", required_argument, NULL, 'S'},
      {"tunnels", required_argument, NULL, 't'},
      {"cert", required_argument, NULL, 'c'},
      {"key", required_argument, NULL, 'k'},
      {"https-cert", required_argument, NULL, 'x'},
      {"https-key", required_argument, NULL, 'y'},
      {"self-signed", required_argument, NULL, 's'},
      {"metrics", required_argument, NULL, 'm'},
      {"location", required_argument, NULL, 'L'},
      {"grace-period", required_argument, NULL, 'g'},
      {"header-timeout", required_argument, NULL, 'T'},
      {"idle-timeout", required_argument, NULL, 'I'},
      {"max-connections", required_argument, NULL, 'M'},
      {"max-connections-per-client", required_argument, NULL, 'P'},
      {"tunnel-idle-timeout", required_argument, NULL, 'i'},
      {"tunnel-keepalive", required_argument, NULL, 'K'},
      {"config", required_argument, NULL, 'C'},
      {"gateway", required_argument, NULL, 'w'},
      {"subdomain-gateway", required_argument, NULL, 'W'},
      {"content", required_argument, NULL, 'o'},
      {"dnslink", no_argument, NULL, 'D'},
      {"dns-resolver", required_argument, NULL, 'R'},
      {"dns-timeout", required_argument, NULL, 'O'},
      {"dns-max-lookups", required_argument, NULL, 'Q'},
      {"no-http2-listener", no_argument, NULL, 'N'},
      {"no-gso", no_argument, NULL, 'G'},
      {"p2p", no_argument, NULL, 'p'},
      {"swarm", required_argument, NULL, 'r'},
      {"bootstrap", required_argument, NULL, 'b'},
      {"gateway-timeout", required_argument, NULL, 'u'},
      {"gateway-fetches", required_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  wr_edge_file *o = &pf->o;
  int c;
  while ((c = wr_cli_getopt(CMD, argc, argv, "h", longopts)) != -1) {
    switch (c) {
    case 'l':
      o->listen = optarg;
      break;
    case '2':
      o->listen_http2 = optarg;
      break;
    case 'N':
      pf->no_http2 = 1;
      break;
    case 'H':
      o->http = optarg;
      break;
    case 'S':
      o->https = optarg;
      break;
    case 't':
      o->tunnels = optarg;
      break;
    case 'c':
      o->cert = optarg;
      break;
    case 'k':
      o->key = optarg;
      break;
    case 'x':
      file_list_add(o->https_cert, &o->n_https_cert, "--https-cert", optarg);
      break;
    case 'y':
      file_list_add(o->https_key, &o->n_https_key, "--https-key", optarg);
      break;
    case 's':
      o->self_signed = optarg;
      break;
    case 'm':
      o->metrics = optarg;
      break;
    case 'L':
      o->location = optarg;
      break;
    case 'g':
      o->grace_period = optarg;
      break;
    case 'T':
      o->header_timeout = optarg;
      break;
    case 'I':
      o->idle_timeout = optarg;
      break;
    case 'M':
      o->max_connections = optarg;
      break;
    case 'P':
      o->max_connections_per_client = optarg;
      break;
    case 'i':
      o->tunnel_idle_timeout = optarg;
      break;
    case 'K':
      o->tunnel_keepalive = optarg;
      break;
    case 'C':
      pf->config = optarg;
      break;
    case 'w':
      file_list_add(o->gateway, &o->n_gateway, "--gateway", optarg);
      break;
    case 'W':
      file_list_add(o->subdomain_gateway, &o->n_subdomain_gateway, "--subdomain-gateway", optarg);
      break;
    case 'o':
      file_list_add(o->content, &o->n_content, "--content", optarg);
      break;
    case 'D':
      o->dnslink = "true";
      break;
    case 'R':
      o->dns_resolver = optarg;
      break;
    case 'O':
      o->dns_timeout = optarg;
      break;
    case 'Q':
      o->dns_max_lookups = optarg;
      break;
    case 'G':
      pf->no_gso = 1;
      break;
    case 'p':
      o->p2p = "true";
      break;
    case 'r':
      file_list_add(o->swarm, &o->n_swarm, "--swarm", optarg);
      break;
    case 'b':
      file_list_add(o->bootstrap, &o->n_bootstrap, "--bootstrap", optarg);
      break;
    case 'u':
      o->gateway_timeout = optarg;
      break;
    case 'f':
      o->gateway_fetches = optarg;
      break;
    case 'h':
      usage();
      return 1;
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "unexpected argument \"%s\".", argv[optind]);
  return 0;
}

/* The parsed addresses a wr_edge_config points to. */
typedef struct edge_addrs {
  wr_addr listen, http, https, listen_h2, metrics;
} edge_addrs;

/* Parses the checked settings into *pcfg (pointing into *pa); a value that
 * does not parse is a usage error and exits. */
static void build_config(const edge_flags *f, edge_addrs *pa, wr_edge_config *pcfg) {
  const wr_edge_file *o = &f->o;
  pa->listen = parse_addr("--listen", o->listen);
  pa->http = parse_addr("--http", o->http);
  if (o->https)
    pa->https = parse_addr("--https", o->https);
  if (f->no_http2 && o->listen_http2)
    wr_cli_usage_error(CMD, "give --listen-http2 or --no-http2-listener, not both.");
  if (o->listen_http2)
    pa->listen_h2 = parse_addr("--listen-http2", o->listen_http2);
  if (o->metrics)
    pa->metrics = parse_addr("--metrics", o->metrics);
  wr_edge_config cfg = {.listen = &pa->listen.sa,
                        .listen_h2 = o->listen_http2 ? &pa->listen_h2.sa : NULL,
                        .http = &pa->http.sa,
                        .https = o->https ? &pa->https.sa : NULL,
                        .metrics = o->metrics ? &pa->metrics.sa : NULL,
                        .location = o->location,
                        .listen_h2_twin = !f->no_http2,
                        .disable_gso = f->no_gso};
  if (o->grace_period)
    cfg.grace_ms = parse_ms("--grace-period", o->grace_period);
  if (o->header_timeout)
    cfg.header_timeout_ms = parse_ms("--header-timeout", o->header_timeout);
  if (o->idle_timeout)
    cfg.idle_timeout_ms = parse_ms("--idle-timeout", o->idle_timeout);
  if (o->tunnel_idle_timeout)
    cfg.tunnel_idle_timeout_ms = parse_ms("--tunnel-idle-timeout", o->tunnel_idle_timeout);
  if (o->tunnel_keepalive)
    cfg.tunnel_keepalive_ms = parse_ms("--tunnel-keepalive", o->tunnel_keepalive);
  wr_cli_check_keepalive(CMD, cfg.tunnel_idle_timeout_ms, cfg.tunnel_keepalive_ms);
  if (o->max_connections)
    cfg.max_conns =
        (uint32_t)wr_cli_parse_uint(CMD, "--max-connections", o->max_connections, 1, 1000000);
  if (o->max_connections_per_client) {
    uint32_t n = (uint32_t)wr_cli_parse_uint(CMD, "--max-connections-per-client",
                                             o->max_connections_per_client, 0, 1000000);
    cfg.max_conns_per_client = n ? n : UINT32_MAX; /* 0: no cap */
  }
  if (o->dnslink) {
    if (strcmp(o->dnslink, "true") == 0 || strcmp(o->dnslink, "yes") == 0)
      cfg.dnslink_any = 1;
    else if (strcmp(o->dnslink, "false") != 0 && strcmp(o->dnslink, "no") != 0)
      wr_cli_usage_error(CMD, "dnslink: \"%s\" is not true or false.", o->dnslink);
  }
  if (o->dns_resolver) {
    /* ADDR alone means port 53 */
    static char server[80];
    const char *s = o->dns_resolver;
    int has_port = s[0] == '[' ? strstr(s, "]:") != NULL
                               : strchr(s, ':') != NULL && strchr(s, ':') == strrchr(s, ':');
    int v6 = s[0] != '[' && strchr(s, ':') != strrchr(s, ':');
    if (snprintf(server, sizeof server,
                 has_port ? "%s"
                 : v6     ? "[%s]:53"
                          : "%s:53",
                 s) >= (int)sizeof server)
      wr_cli_usage_error(CMD, "--dns-resolver: \"%s\" is too long.", s);
    cfg.dns_resolver = server;
  }
  if (o->dns_timeout)
    cfg.dns_timeout_ms = (unsigned)parse_ms("--dns-timeout", o->dns_timeout);
  if (o->dns_max_lookups)
    cfg.dns_max_lookups =
        (size_t)wr_cli_parse_uint(CMD, "--dns-max-lookups", o->dns_max_lookups, 1, 100000);
  if ((o->gateway_timeout || o->gateway_fetches) && !f->p2p)
    wr_cli_usage_error(CMD, "--gateway-timeout and --gateway-fetches bound fetches from the "
                            "IPFS network: give --p2p too.");
  if (o->gateway_timeout)
    cfg.fetch_timeout_ms = parse_ms("--gateway-timeout", o->gateway_timeout);
  if (o->gateway_fetches)
    cfg.max_fetches =
        (size_t)wr_cli_parse_uint(CMD, "--gateway-fetches", o->gateway_fetches, 1, 1000);
  *pcfg = cfg;
}

/* Loads the tunnels file into *ptf and the edge's view of it into
 * *ptunnels (an array the caller frees; its strings are *ptf's). Returns 0,
 * or 1 after telling the user. */
static int load_tunnels(const char *path, int optional, wr_tunnels_file *ptf,
                        wr_edge_tunnel **ptunnels) {
  char err[512];
  int rc = path ? wr_tunnels_load(path, ptf, err, sizeof err) : WR_ERR_NOTFOUND;
  if (rc == WR_ERR_NOTFOUND && optional) {
    *ptunnels = wr_calloc(1, sizeof **ptunnels);
    return *ptunnels ? 0 : 1;
  }
  if (rc == WR_ERR_NOTFOUND) {
    wr_cli_fail("the tunnels file %s does not exist; create a tunnel with `warren tunnel create "
                "NAME --hostname HOST --tunnels %s --credentials-file CRED.json`.",
                path, path);
    return 1;
  }
  if (rc != 0) {
    wr_cli_fail("%s", err);
    return 1;
  }
  wr_edge_tunnel *tunnels = wr_calloc(ptf->n ? ptf->n : 1, sizeof *tunnels);
  if (!tunnels)
    return 1;
  for (size_t i = 0; i < ptf->n; i++) {
    const wr_tunnel_entry *t = &ptf->tunnels[i];
    memcpy(tunnels[i].id, t->id, 16);
    tunnels[i].name = t->name;
    tunnels[i].secret = t->secret;
    tunnels[i].secret_len = t->secret_len;
    tunnels[i].hosts = (const char *const *)t->hostnames;
    tunnels[i].nhosts = t->nhostnames;
  }
  *ptunnels = tunnels;
  return 0;
}

/* The edge's certificate (given, or self-signed in a folder and created
 * when missing) into *ptls, and the users' HTTPS ones into *phttps (NULL
 * without any). The caller frees both. Returns 0, or 1 after telling the
 * user. */
static int load_certificates(const wr_edge_file *o, wr_tls_server **ptls, wr_tls_server **phttps) {
  char err[512];
  const char *cert = o->cert, *key = o->key;
  char cert_path[WR_CLI_PATH_MAX], key_path[WR_CLI_PATH_MAX];
  if (o->self_signed) {
    int created = 0;
    if (wr_cli_self_signed(o->self_signed, cert_path, key_path, &created, err, sizeof err) != 0) {
      wr_cli_fail("%s", err);
      return 1;
    }
    cert = cert_path;
    key = key_path;
    if (created)
      WR_INFO("Created a self-signed certificate", "cert=%s key=%s", cert, key);
  }
  if (wr_tls_server_new(ptls, cert, key, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    return 1;
  }
  for (size_t i = 0; i < o->n_https_cert; i++) {
    const char *crt = o->https_cert[i], *k = o->https_key[i];
    int rc = i == 0 ? wr_tls_server_new(phttps, crt, k, err, sizeof err)
                    : wr_tls_server_add_cert(*phttps, crt, k, err, sizeof err);
    if (rc != 0) {
      wr_cli_fail("%s", err);
      return 1;
    }
  }
  return 0;
}

/* Lowercases a hostname flag value into out (a name, no port). */
static void host_arg(const char *flag, const char *s, size_t n, char *out, size_t cap) {
  if (n == 0 || n >= cap)
    wr_cli_usage_error(CMD, "%s: \"%.*s\" is not a host name.", flag, (int)n, s);
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      wr_cli_usage_error(CMD, "%s: \"%.*s\" is not a host name.", flag, (int)n, s);
    out[i] = c;
  }
  out[n] = '\0';
}

/* The gateway's hostnames from the flags and the file; *psites is an array
 * the caller frees (strings in *pnames, also freed by the caller). Usage
 * errors exit. */
static size_t build_sites(const wr_edge_file *o, wr_gateway_site **psites, char ***pnames) {
  size_t n = o->n_gateway + o->n_subdomain_gateway + o->n_content, k = 0;
  *psites = NULL;
  *pnames = NULL;
  if (!n)
    return 0;
  wr_gateway_site *sites = wr_calloc(n, sizeof *sites);
  char **names = wr_calloc(n, sizeof *names);
  if (!sites || !names)
    wr_cli_usage_error(CMD, "out of memory.");
  for (size_t i = 0; i < n; i++)
    if (!(names[i] = wr_malloc(256)))
      wr_cli_usage_error(CMD, "out of memory.");
  for (size_t i = 0; i < o->n_gateway; i++, k++) {
    host_arg("--gateway", o->gateway[i], strlen(o->gateway[i]), names[k], 256);
    sites[k] = (wr_gateway_site){.kind = WR_GW_SITE_PATH, .host = names[k]};
  }
  for (size_t i = 0; i < o->n_subdomain_gateway; i++, k++) {
    const char *h = o->subdomain_gateway[i];
    host_arg("--subdomain-gateway", h, strlen(h), names[k], 256);
    sites[k] = (wr_gateway_site){.kind = WR_GW_SITE_SUBDOMAIN, .host = names[k]};
  }
  for (size_t i = 0; i < o->n_content; i++, k++) {
    const char *c = o->content[i], *eq = strchr(c, '=');
    if (!eq)
      wr_cli_usage_error(CMD, "--content: \"%s\" is not HOST=/ipfs/CID.", c);
    host_arg("--content", c, (size_t)(eq - c), names[k], 256);
    if (strcmp(eq + 1, "dnslink") == 0) {
      sites[k] = (wr_gateway_site){.kind = WR_GW_SITE_DNSLINK, .host = names[k]};
      continue;
    }
    const char *why = NULL;
    if (wr_gateway_check_root(eq + 1, &why) != 0)
      wr_cli_usage_error(CMD, "--content %s: %s.", c, why);
    sites[k] = (wr_gateway_site){.kind = WR_GW_SITE_CONTENT, .host = names[k], .root = eq + 1};
  }
  *psites = sites;
  *pnames = names;
  return n;
}

/* The address the edge bound for which (edge.h) into buf, or "-". */
static void format_bound(const wr_edge *e, const char *which, char buf[WR_ADDR_STRLEN]) {
  wr_addr a;
  if (wr_edge_local_addr(e, which, &a.ss) != 0)
    return;
  a.len = sizeof a.ss;
  wr_addr_format(&a, buf, WR_ADDR_STRLEN);
}

static void log_start(const wr_edge *e, const edge_flags *f, const wr_tunnels_file *tf,
                      const wr_tls_server *tls) {
  char fp[WR_TLS_FINGERPRINT_LEN];
  wr_tls_server_fingerprint(tls, fp);
  char qa[WR_ADDR_STRLEN] = "-", ha[WR_ADDR_STRLEN] = "-", ma[WR_ADDR_STRLEN] = "-";
  char h2a[WR_ADDR_STRLEN] = "-", hsa[WR_ADDR_STRLEN] = "-";
  format_bound(e, "listen", qa);
  format_bound(e, "http", ha);
  if (f->o.https)
    format_bound(e, "https", hsa);
  format_bound(e, "listen-http2", h2a);
  if (f->o.metrics)
    format_bound(e, "metrics", ma);
  size_t nhosts = 0;
  for (size_t i = 0; i < tf->n; i++)
    nhosts += tf->tunnels[i].nhostnames;
  WR_INFO("Starting edge",
          "location=%s quic=%s http2=%s http=%s https=%s metrics=%s tunnels=%zu "
          "hostnames=%zu fingerprint=%s gso=%s gatewaySites=%zu",
          f->o.location ? f->o.location : "edge", qa, h2a, ha, hsa, ma, tf->n, nhosts, fp,
          f->no_gso ? "off" : "on", f->o.n_gateway + f->o.n_subdomain_gateway + f->o.n_content);
}

/* Creates the edge and runs the loop until a signal has shut it down.
 * Returns 0, or 1 after telling the user. */
static int run_edge(const wr_edge_config *cfg0, const edge_flags *f, const wr_tunnels_file *tf,
                    wr_repo *repo) {
  char err[512];
  uv_loop_t *loop = uv_default_loop();
  wr_edge_config ecfg = *cfg0, *cfg = &ecfg;
  if (f->p2p)
    ecfg.fetcher =
        (wr_gateway_fetcher){.open = node_open, .error = node_error, .close = node_close};
  int failed = wr_edge_new(&the_edge, loop, cfg, err, sizeof err) != 0;
  if (failed)
    wr_cli_fail("%s", err);
  else if (f->p2p && (failed = start_node(loop, f, repo, wr_edge_metrics(the_edge)) != 0) == 0)
    WR_INFO("Gateway fetches missing blocks from the IPFS network", "timeoutMs=%llu maxFetches=%zu",
            (unsigned long long)(cfg->fetch_timeout_ms ? cfg->fetch_timeout_ms
                                                       : WR_GATEWAY_DEFAULT_FETCH_TIMEOUT_MS),
            cfg->max_fetches ? cfg->max_fetches : (size_t)WR_GATEWAY_DEFAULT_MAX_FETCHES);
  if (failed) {
    if (the_edge) {
      wr_edge_shutdown(the_edge, NULL, NULL);
      uv_run(loop, UV_RUN_DEFAULT);
      wr_edge_free(the_edge);
      the_edge = NULL;
    }
    return 1;
  }
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
  /* Live tunnel changes: the file is watched, SIGHUP reloads it. A folder
   * that cannot be watched was logged; SIGHUP works anyway. (A content-only
   * edge without HOME has no tunnels file to watch.) */
  if (f->o.tunnels &&
      wr_tunnels_watch_new(&the_watch, loop, the_edge, f->o.tunnels) == WR_ERR_NOMEM) {
    wr_cli_fail("out of memory");
    wr_edge_shutdown(the_edge, on_done, NULL);
  }
  log_start(the_edge, f, tf, cfg->tls);
  uv_run(loop, UV_RUN_DEFAULT);
  end_node(loop);
  wr_edge_free(the_edge);
  the_edge = NULL;
  (void)uv_loop_close(loop);
  return 0;
}

int wr_cmd_edge(int argc, char **argv) {
  edge_flags f = {0};
  if (parse_flags(argc, argv, &f))
    return 0;
  wr_edge_file file = {0};
  char err[512];
  if (f.config) {
    if (wr_edge_file_load(&file, f.config, err, sizeof err) != 0) {
      wr_cli_fail("%s", err);
      wr_edge_file_free(&file);
      return 2;
    }
    wr_edge_file_fill(&f.o, &file);
  }
  /* The file `warren tunnel create` writes when it is given none (an edge
   * that serves content may run without it). */
  static char default_tunnels[4096];
  int tunnels_given = f.o.tunnels != NULL;
  if (!f.o.tunnels &&
      wr_tunnels_default_path(getenv("HOME"), default_tunnels, sizeof default_tunnels) == 0)
    f.o.tunnels = default_tunnels;
  if (f.o.repo && !wr_cmd_repo_flag())
    wr_cmd_set_repo_flag(f.o.repo);
  if (wr_edge_file_check(&f.o, err, sizeof err) != 0)
    wr_cli_usage_error(CMD, "%s", err);
  if (f.o.p2p && strcmp(f.o.p2p, "true") != 0 && strcmp(f.o.p2p, "false") != 0)
    wr_cli_usage_error(CMD, "p2p takes true or false, not \"%s\".", f.o.p2p);
  f.p2p = (f.o.p2p && strcmp(f.o.p2p, "true") == 0) || f.o.n_swarm || f.o.n_bootstrap;
  edge_addrs addrs;
  wr_edge_config cfg;
  build_config(&f, &addrs, &cfg);

  wr_gateway_site *sites = NULL;
  char **names = NULL;
  size_t nsites = build_sites(&f.o, &sites, &names);
  wr_repo *repo = NULL;
  int ret = 1;
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  wr_tls_server *tls = NULL, *https_tls = NULL;
  wr_edge_tunnel *tunnels = NULL;
  if (load_tunnels(f.o.tunnels, (nsites || cfg.dnslink_any) && !tunnels_given, &tf, &tunnels) !=
          0 ||
      load_certificates(&f.o, &tls, &https_tls) != 0)
    goto out;
  if (f.p2p && !nsites && !cfg.dnslink_any)
    wr_cli_usage_error(CMD, "--p2p fetches blocks for the gateway: give --gateway, "
                            "--subdomain-gateway, --content or --dnslink too.");
  if (f.p2p && !getenv("UV_THREADPOOL_SIZE")) {
    /* Each fetch holds a libuv worker while it waits on the network; the
     * pool (4 by default) must not leave DNS lookups waiting behind them.
     * libuv reads this at its first queued work, which comes later. */
    char n[16];
    snprintf(n, sizeof n, "%zu",
             (cfg.max_fetches ? cfg.max_fetches : WR_GATEWAY_DEFAULT_MAX_FETCHES) + 4);
    setenv("UV_THREADPOOL_SIZE", n, 1);
  }
  if (nsites || cfg.dnslink_any) {
    repo = wr_cmd_repo_open(CMD, WR_REPO_SHARED);
    if (!repo)
      goto out;
    cfg.sites = sites;
    cfg.nsites = nsites;
    cfg.bs = repo->bs;
    cfg.repo_path = repo->path;
  }
  cfg.tunnels = tunnels;
  cfg.ntunnels = tf.n;
  cfg.tls = tls;
  cfg.https_tls = https_tls;
  ret = run_edge(&cfg, &f, &tf, repo);
out:
  wr_repo_close(repo);
  for (size_t i = 0; i < nsites; i++)
    wr_free(names[i]);
  wr_free(names);
  wr_free(sites);
  wr_tls_server_del(https_tls);
  wr_tls_server_del(tls);
  wr_free(tunnels);
  wr_tunnels_free(&tf);
  wr_edge_file_free(&file);
  return ret;
}
