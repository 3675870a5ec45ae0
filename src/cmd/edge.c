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

#include "edge/edge.h"
#include "tunnel/tunnels_file.h"
#include "edge/edge_file.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/udp.h"
#include "net/tls.h"

#define CMD "edge"

static void usage(void) {
  printf(
      "Usage: warren edge --listen ADDR:PORT [--listen-http2 ADDR:PORT] --http ADDR:PORT\n"
      "                   --tunnels TUNNELS.yml\n"
      "                   (--cert CRT --key KEY | --self-signed DIR)\n"
      "                   [--https ADDR:PORT] [--metrics ADDR:PORT] [--location NAME]\n"
      "                   [--config edge.yml]\n\n"
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
      "  --tunnels FILE         the tunnels file: ids, secrets and hostnames\n"
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
      "  --tunnel-idle-timeout DUR  close a connector connection after this long\n"
      "                         without a packet (default 30s: survives seconds of loss)\n"
      "  --tunnel-keepalive DUR  PING a quiet connector connection this often\n"
      "                         (default: a third of the idle timeout)\n"
      "  --no-gso               send one UDP datagram per packet (no GSO); for loss\n"
      "                         benchmarks, where a firewall would drop whole batches\n"
      "  --config FILE          a YAML file with the keys above (without the dashes:\n"
      "                         listen, listen-http2, http, https, tunnels, cert, key,\n"
      "                         https-cert, https-key (a file or a list of files),\n"
      "                         self-signed, metrics, location, grace-period,\n"
      "                         header-timeout, idle-timeout, max-connections,\n"
      "                         tunnel-idle-timeout, tunnel-keepalive);\n"
      "                         flags override it\n"
      "  -h, --help             this help\n\n"
      "Addresses are numeric: 0.0.0.0:7844, [::]:443, 127.0.0.1:8080. Durations as in\n"
      "cloudflared: 30s, 1m30s, 500ms.\n"
      "SIGTERM or Ctrl-C: stop accepting, let requests in flight finish, then exit;\n"
      "a second signal exits at once.\n\n"
      "Example:\n"
      "  warren tunnel create web --hostname app.example.com --tunnels tunnels.yml \\\n"
      "      --credentials-file web.json\n"
      "  warren edge --listen 0.0.0.0:7844 --http 0.0.0.0:8080 --tunnels tunnels.yml \\\n"
      "      --self-signed ./edge-tls --metrics 127.0.0.1:9090\n");
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

static uv_signal_t sig_term, sig_int;
static wr_edge *the_edge;
static int signals;

static void on_done(wr_edge *e, void *arg) {
  (void)e;
  (void)arg;
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  signals++;
  WR_INFO(signals == 1 ? "Received signal, shutting down gracefully"
                       : "Received a second signal, exiting now",
          "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  wr_edge_shutdown(the_edge, on_done, NULL);
}

int wr_cmd_edge(int argc, char **argv) {
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
      {"tunnel-idle-timeout", required_argument, NULL, 'i'},
      {"tunnel-keepalive", required_argument, NULL, 'K'},
      {"config", required_argument, NULL, 'C'},
      {"no-http2-listener", no_argument, NULL, 'N'},
      {"no-gso", no_argument, NULL, 'G'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  wr_edge_file o = {0}; /* the flags; the config file fills what they leave */
  int no_http2 = 0, no_gso = 0;
  const char *config = NULL;
  int c;
  while ((c = wr_cli_getopt(CMD, argc, argv, "h", longopts)) != -1) {
    switch (c) {
    case 'l': o.listen = optarg; break;
    case '2': o.listen_http2 = optarg; break;
    case 'N': no_http2 = 1; break;
    case 'H': o.http = optarg; break;
    case 'S': o.https = optarg; break;
    case 't': o.tunnels = optarg; break;
    case 'c': o.cert = optarg; break;
    case 'k': o.key = optarg; break;
    case 'x': file_list_add(o.https_cert, &o.n_https_cert, "--https-cert", optarg); break;
    case 'y': file_list_add(o.https_key, &o.n_https_key, "--https-key", optarg); break;
    case 's': o.self_signed = optarg; break;
    case 'm': o.metrics = optarg; break;
    case 'L': o.location = optarg; break;
    case 'g': o.grace_period = optarg; break;
    case 'T': o.header_timeout = optarg; break;
    case 'I': o.idle_timeout = optarg; break;
    case 'M': o.max_connections = optarg; break;
    case 'i': o.tunnel_idle_timeout = optarg; break;
    case 'K': o.tunnel_keepalive = optarg; break;
    case 'C': config = optarg; break;
    case 'G': no_gso = 1; break;
    case 'h': usage(); return 0;
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "unexpected argument \"%s\".", argv[optind]);
  wr_edge_file file = {0};
  if (config) {
    char ferr[512];
    if (wr_edge_file_load(&file, config, ferr, sizeof ferr) != 0) {
      wr_cli_fail("%s", ferr);
      wr_edge_file_free(&file);
      return 2;
    }
    wr_edge_file_fill(&o, &file);
  }
  if (!o.listen)
    wr_cli_usage_error(CMD, "--listen ADDR:PORT is required (the UDP address for connectors).");
  if (!o.http)
    wr_cli_usage_error(CMD, "--http ADDR:PORT is required (the TCP address for users).");
  if (!o.tunnels)
    wr_cli_usage_error(CMD, "--tunnels FILE is required (create one with `warren tunnel create`).");
  if (o.self_signed && (o.cert || o.key))
    wr_cli_usage_error(CMD, "give either --cert and --key, or --self-signed DIR, not both.");
  if (!o.self_signed && (!o.cert || !o.key))
    wr_cli_usage_error(CMD, "a certificate is required: --cert FILE --key FILE, or "
                            "--self-signed DIR for development.");
  if (o.n_https_cert != o.n_https_key)
    wr_cli_usage_error(CMD, "--https-cert and --https-key come in pairs: %zu certificate(s), "
                            "%zu key(s).", o.n_https_cert, o.n_https_key);
  if (o.n_https_cert && !o.https)
    wr_cli_usage_error(CMD, "--https-cert is for users' HTTPS: give --https ADDR:PORT too.");
  wr_addr listen = parse_addr("--listen", o.listen);
  wr_addr http = parse_addr("--http", o.http);
  wr_addr https;
  if (o.https)
    https = parse_addr("--https", o.https);
  if (no_http2 && o.listen_http2)
    wr_cli_usage_error(CMD, "give --listen-http2 or --no-http2-listener, not both.");
  wr_addr listen_h2;
  if (o.listen_http2)
    listen_h2 = parse_addr("--listen-http2", o.listen_http2);
  wr_addr metrics;
  if (o.metrics)
    metrics = parse_addr("--metrics", o.metrics);
  wr_edge_config cfg = {.listen = &listen.sa, .listen_h2 = o.listen_http2 ? &listen_h2.sa : NULL,
                        .http = &http.sa, .https = o.https ? &https.sa : NULL,
                        .metrics = o.metrics ? &metrics.sa : NULL, .location = o.location,
                        .listen_h2_twin = !no_http2, .disable_gso = no_gso};
  if (o.grace_period)
    cfg.grace_ms = parse_ms("--grace-period", o.grace_period);
  if (o.header_timeout)
    cfg.header_timeout_ms = parse_ms("--header-timeout", o.header_timeout);
  if (o.idle_timeout)
    cfg.idle_timeout_ms = parse_ms("--idle-timeout", o.idle_timeout);
  if (o.tunnel_idle_timeout)
    cfg.tunnel_idle_timeout_ms = parse_ms("--tunnel-idle-timeout", o.tunnel_idle_timeout);
  if (o.tunnel_keepalive)
    cfg.tunnel_keepalive_ms = parse_ms("--tunnel-keepalive", o.tunnel_keepalive);
  wr_cli_check_keepalive(CMD, cfg.tunnel_idle_timeout_ms, cfg.tunnel_keepalive_ms);
  if (o.max_connections)
    cfg.max_conns = (uint32_t)wr_cli_parse_uint(CMD, "--max-connections", o.max_connections, 1, 1000000);

  int ret = 1;
  char err[512];
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  wr_tls_server *tls = NULL, *https_tls = NULL;
  wr_edge_tunnel *tunnels = NULL;
  int rc = wr_tunnels_load(o.tunnels, &tf, err, sizeof err);
  if (rc == WR_ERR_NOTFOUND) {
    wr_cli_fail("the tunnels file %s does not exist; create a tunnel with `warren tunnel create "
                "NAME --hostname HOST --tunnels %s --credentials-file CRED.json`.",
                o.tunnels, o.tunnels);
    goto out;
  }
  if (rc != 0) {
    wr_cli_fail("%s", err);
    goto out;
  }
  tunnels = wr_calloc(tf.n ? tf.n : 1, sizeof *tunnels);
  if (!tunnels)
    goto out;
  for (size_t i = 0; i < tf.n; i++) {
    const wr_tunnel_entry *t = &tf.tunnels[i];
    memcpy(tunnels[i].id, t->id, 16);
    tunnels[i].name = t->name;
    tunnels[i].secret = t->secret;
    tunnels[i].secret_len = t->secret_len;
    tunnels[i].hosts = (const char *const *)t->hostnames;
    tunnels[i].nhosts = t->nhostnames;
  }
  cfg.tunnels = tunnels;
  cfg.ntunnels = tf.n;
  const char *cert = o.cert, *key = o.key;
  char cert_path[4096], key_path[4096];
  if (o.self_signed) {
    int created = 0;
    if (wr_tls_self_signed_ensure(o.self_signed, NULL, 0, &created, err, sizeof err) != 0) {
      wr_cli_fail("%s", err);
      goto out;
    }
    snprintf(cert_path, sizeof cert_path, "%s/%s", o.self_signed, WR_TLS_SELF_SIGNED_CERT);
    snprintf(key_path, sizeof key_path, "%s/%s", o.self_signed, WR_TLS_SELF_SIGNED_KEY);
    cert = cert_path;
    key = key_path;
    if (created)
      WR_INFO("Created a self-signed certificate", "cert=%s key=%s", cert, key);
  }
  if (wr_tls_server_new(&tls, cert, key, err, sizeof err) != 0) {
    wr_cli_fail("%s", err);
    goto out;
  }
  cfg.tls = tls;
  for (size_t i = 0; i < o.n_https_cert; i++) {
    const char *crt = o.https_cert[i], *k = o.https_key[i];
    rc = i == 0 ? wr_tls_server_new(&https_tls, crt, k, err, sizeof err)
                : wr_tls_server_add_cert(https_tls, crt, k, err, sizeof err);
    if (rc != 0) {
      wr_cli_fail("%s", err);
      goto out;
    }
  }
  cfg.https_tls = https_tls;
  char fp[WR_TLS_FINGERPRINT_LEN];
  wr_tls_server_fingerprint(tls, fp);

  uv_loop_t *loop = uv_default_loop();
  rc = wr_edge_new(&the_edge, loop, &cfg, err, sizeof err);
  if (rc != 0) {
    wr_cli_fail("%s", err);
    if (the_edge) {
      wr_edge_shutdown(the_edge, NULL, NULL);
      uv_run(loop, UV_RUN_DEFAULT);
      wr_edge_free(the_edge);
      the_edge = NULL;
    }
    goto out;
  }
  struct sockaddr_storage ss;
  char qa[WR_ADDR_STRLEN] = "-", ha[WR_ADDR_STRLEN] = "-",
       ma[WR_ADDR_STRLEN] = "-";
  char h2a[WR_ADDR_STRLEN] = "-", hsa[WR_ADDR_STRLEN] = "-";
  wr_addr tmp;
  if (wr_edge_local_addr(the_edge, "listen", &ss) == 0) {
    memcpy(&tmp.ss, &ss, sizeof ss);
    tmp.len = sizeof ss;
    wr_addr_format(&tmp, qa, sizeof qa);
  }
  if (wr_edge_local_addr(the_edge, "http", &ss) == 0) {
    memcpy(&tmp.ss, &ss, sizeof ss);
    tmp.len = sizeof ss;
    wr_addr_format(&tmp, ha, sizeof ha);
  }
  if (o.https && wr_edge_local_addr(the_edge, "https", &ss) == 0) {
    memcpy(&tmp.ss, &ss, sizeof ss);
    tmp.len = sizeof ss;
    wr_addr_format(&tmp, hsa, sizeof hsa);
  }
  if (wr_edge_local_addr(the_edge, "listen-http2", &ss) == 0) {
    memcpy(&tmp.ss, &ss, sizeof ss);
    tmp.len = sizeof ss;
    wr_addr_format(&tmp, h2a, sizeof h2a);
  }
  if (o.metrics && wr_edge_local_addr(the_edge, "metrics", &ss) == 0) {
    memcpy(&tmp.ss, &ss, sizeof ss);
    tmp.len = sizeof ss;
    wr_addr_format(&tmp, ma, sizeof ma);
  }
  uv_signal_init(loop, &sig_term);
  uv_signal_init(loop, &sig_int);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
  size_t nhosts = 0;
  for (size_t i = 0; i < tf.n; i++)
    nhosts += tf.tunnels[i].nhostnames;
  WR_INFO("Starting edge", "location=%s quic=%s http2=%s http=%s https=%s metrics=%s tunnels=%zu "
          "hostnames=%zu fingerprint=%s gso=%s", o.location ? o.location : "edge", qa, h2a, ha, hsa,
          ma, tf.n, nhosts, fp, no_gso ? "off" : "on");
  uv_run(loop, UV_RUN_DEFAULT);
  wr_edge_free(the_edge);
  the_edge = NULL;
  (void)uv_loop_close(loop);
  ret = 0;
out:
  wr_tls_server_del(https_tls);
  wr_tls_server_del(tls);
  wr_free(tunnels);
  wr_tunnels_free(&tf);
  wr_edge_file_free(&file);
  return ret;
}
