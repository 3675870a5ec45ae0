/* diag_dht.c: `warren diag dht` — the Kademlia DHT (src/routing/dht.h) on
 * a libp2p host of its own, driven by commands on stdin, one per line, with
 * one JSON object per line on stdout. Tests run many of these as a local
 * DHT; the daemon composes the same parts. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/random.h"
#include "p2p/host.h"
#include "p2p/identity.h"
#include "proto/multiformats/cid.h"
#include "routing/dht.h"

#define CMD "diag dht"
#define MAX_LISTEN 8
#define MAX_BOOT 32
#define LINE_MAX_BYTES 65536

#ifndef WR_VERSION
#define WR_VERSION "0.1.0"
#endif

static void usage(void) {
  printf("Usage: warren diag dht [--key FILE] --listen MULTIADDR [--bootstrap MULTIADDR]...\n"
         "                       [--client] [--protocol P] [--k N] [--rpc-timeout MS]\n"
         "                       [--peer-buffer-limit BYTES] [--server-buffer-limit BYTES]\n\n"
         "Runs warren's Kademlia DHT (" WR_KAD_PROTOCOL ") on a libp2p host of its own. It\n"
         "prints {\"event\":\"started\",\"id\":..,\"addrs\":[..]}, bootstraps from the\n"
         "--bootstrap peers (/ip4/A/tcp/P/p2p/ID), then reads commands from stdin, one per\n"
         "line, and answers each with JSON lines carrying its number \"n\":\n"
         "  provide CID...         announce us as provider (one sweep)\n"
         "  provide-random N       provide N random raw CIDs (a benchmark)\n"
         "  findprovs CID [MAX]    providers as found, then a done line\n"
         "  findpeer PEERID        the peer's addresses\n"
         "  closest KEYTEXT        the k peers nearest to the key's bytes\n"
         "  put-pk                 our public key under /pk/<our ID>\n"
         "  get-pk PEERID          the /pk/ record of a peer\n"
         "  bootstrap MULTIADDR... dial and look ourselves up\n"
         "  table                  routing table peers\n"
         "EOF on stdin, SIGINT or SIGTERM end it.\n\n"
         "  --key FILE          identity key (created 0600 when missing; default fresh)\n"
         "  --listen MULTIADDR  /ip4|ip6/ADDR/tcp/PORT (port 0 picks one); repeatable\n"
         "  --bootstrap MA      a peer to start from; repeatable\n"
         "  --client            client mode: ask, never answer\n"
         "  --protocol P        the DHT protocol (default " WR_KAD_PROTOCOL ")\n"
         "  --k N               bucket size and replication (default 20)\n"
         "  --rpc-timeout MS    one request's deadline (default 10000)\n"
         "  --peer-buffer-limit BYTES  what the server buffers for one peer over all its\n"
         "                      streams (default 5 MiB); a stream past it is reset\n"
         "  --server-buffer-limit BYTES  the same over all peers together (default 64 MiB)\n"
         "  -h, --help          this help\n");
}

static struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_pipe_t in;
  wr_buf line;
  wr_p2p_host *host;
  wr_dht *dht;
  unsigned seq;
  int closing;
} D;

typedef struct job {
  unsigned n;
  uint64_t t0;
  size_t count;
  wr_peerid want;
} job;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static job *job_new(unsigned n) {
  job *j = wr_calloc(1, sizeof *j);
  if (j) {
    j->n = n;
    j->t0 = uv_hrtime();
  }
  return j;
}

static double ms_since(uint64_t t0) { return (double)(uv_hrtime() - t0) / 1e6; }

/* {"id":"..","addrs":[..]} into b. */
static void peer_json(wr_buf *b, const wr_dht_peer *p) {
  char s[WR_MA_MAX_STR];
  char id[WR_PEERID_MAX_STR];
  if (wr_peerid_format(&p->id, id, sizeof id) < 0)
    id[0] = 0;
  int rv = wr_buf_printf(b, "\"id\":\"%s\",\"addrs\":[", id);
  for (size_t i = 0; rv == 0 && i < p->naddrs; i++)
    if (wr_maddr_format(&p->addrs[i], s, sizeof s) >= 0)
      rv = wr_buf_printf(b, "%s\"%s\"", i ? "," : "", s);
  if (rv == 0)
    rv = wr_buf_puts(b, "]");
  (void)rv;
}

static void on_provided(void *data, int err, const wr_dht_provide_stats *st) {
  job *j = data;
  out("{\"n\":%u,\"cmd\":\"provide\",\"err\":%d,\"error\":\"%s\",\"keys\":%zu,\"lookups\":%zu,"
      "\"messages\":%zu,\"failed\":%zu,\"ms\":%.1f}",
      j->n, err, err ? wr_strerror(err) : "", st->keys, st->lookups, st->messages, st->failed,
      ms_since(j->t0));
  wr_free(j);
}

static void on_provider(void *data, const wr_dht_peer *p) {
  job *j = data;
  wr_buf b;
  wr_buf_init(&b, 1 << 16);
  peer_json(&b, p);
  out("{\"n\":%u,\"cmd\":\"findprovs\",\"provider\":{%.*s},\"ms\":%.1f}", j->n, (int)b.len,
      (const char *)b.data, ms_since(j->t0));
  wr_buf_free(&b);
  j->count++;
}

static void on_findprovs_done(void *data, int err) {
  job *j = data;
  out("{\"n\":%u,\"cmd\":\"findprovs\",\"done\":true,\"err\":%d,\"count\":%zu,\"ms\":%.1f}", j->n,
      err, j->count, ms_since(j->t0));
  wr_free(j);
}

static void on_peers(void *data, int err, const wr_dht_peer *peers, size_t n) {
  job *j = data;
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < n; i++) {
    if (wr_buf_puts(&b, i ? ",{" : "{") != 0)
      break;
    peer_json(&b, &peers[i]);
    if (wr_buf_puts(&b, "}") != 0)
      break;
  }
  out("{\"n\":%u,\"err\":%d,\"error\":\"%s\",\"peers\":[%.*s],\"ms\":%.1f}", j->n, err,
      err ? wr_strerror(err) : "", (int)b.len, b.data ? (const char *)b.data : "", ms_since(j->t0));
  wr_buf_free(&b);
  wr_free(j);
}

static void on_done(void *data, int err) {
  job *j = data;
  out("{\"n\":%u,\"err\":%d,\"error\":\"%s\",\"ms\":%.1f}", j->n, err, err ? wr_strerror(err) : "",
      ms_since(j->t0));
  wr_free(j);
}

static void on_value(void *data, int err, const uint8_t *val, size_t n) {
  job *j = data;
  char *hex = wr_malloc(n * 2 + 1);
  if (hex)
    wr_hex_encode(hex, val, n);
  out("{\"n\":%u,\"err\":%d,\"error\":\"%s\",\"value\":\"%s\",\"ms\":%.1f}", j->n, err,
      err ? wr_strerror(err) : "", hex && !err ? hex : "", ms_since(j->t0));
  wr_free(hex);
  wr_free(j);
}

static void fail_cmd(unsigned n, const char *why) {
  out("{\"n\":%u,\"err\":%d,\"error\":\"%s\"}", n, WR_ERR_INVAL, why);
}

static int mh_of_cid(const char *s, uint8_t *mh, size_t cap, size_t *pn) {
  wr_cid cid;
  if (wr_cid_parse_str(s, &cid, NULL) != 0)
    return WR_ERR_INVAL;
  int n = wr_mh_encode(&cid.mh, mh, cap);
  if (n <= 0)
    return WR_ERR_INVAL;
  *pn = (size_t)n;
  return 0;
}

/* Runs one command line. */
static void run(char *line) {
  unsigned n = ++D.seq;
  char *argv[4096];
  size_t argc = 0;
  for (char *t = strtok(line, " \t\r"); t && argc < 4096; t = strtok(NULL, " \t\r"))
    argv[argc++] = t;
  if (argc == 0)
    return;
  const char *cmd = argv[0];
  job *j = job_new(n);
  if (!j)
    return;
  int rv = 0;
  if (strcmp(cmd, "provide") == 0 || strcmp(cmd, "provide-random") == 0) {
    size_t nk = argc - 1;
    int random = strcmp(cmd, "provide-random") == 0;
    if (random)
      nk = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
    uint8_t(*keys)[64] = wr_calloc(nk ? nk : 1, 64);
    const uint8_t **kp = wr_calloc(nk ? nk : 1, sizeof *kp);
    size_t *lens = wr_calloc(nk ? nk : 1, sizeof *lens);
    rv = keys && kp && lens ? 0 : WR_ERR_NOMEM;
    for (size_t i = 0; rv == 0 && i < nk; i++) {
      kp[i] = keys[i];
      if (random) {
        uint8_t r[32];
        wr_mh mh;
        rv = wr_random_bytes(r, sizeof r);
        wr_mh_sha256(&mh, r, sizeof r);
        int k = rv == 0 ? wr_mh_encode(&mh, keys[i], 64) : -1;
        if (k <= 0)
          rv = WR_ERR_INVAL;
        else
          lens[i] = (size_t)k;
      } else if (mh_of_cid(argv[i + 1], keys[i], 64, &lens[i]) != 0) {
        rv = WR_ERR_INVAL;
      }
    }
    if (rv == 0)
      rv = wr_dht_provide(D.dht, kp, lens, nk, on_provided, j);
    wr_free(keys);
    wr_free(kp);
    wr_free(lens);
  } else if (strcmp(cmd, "findprovs") == 0 && argc >= 2) {
    uint8_t mh[64];
    size_t mhn;
    size_t max = argc >= 3 ? strtoul(argv[2], NULL, 10) : 20;
    rv = mh_of_cid(argv[1], mh, sizeof mh, &mhn);
    if (rv == 0)
      rv = wr_dht_find_providers(D.dht, mh, mhn, max, on_provider, on_findprovs_done, j, NULL);
  } else if (strcmp(cmd, "findpeer") == 0 && argc == 2) {
    rv = wr_peerid_parse(argv[1], strlen(argv[1]), &j->want, NULL);
    if (rv == 0)
      rv = wr_dht_find_peer(D.dht, &j->want, on_peers, j);
  } else if (strcmp(cmd, "closest") == 0 && argc == 2) {
    rv = wr_dht_closest_peers(D.dht, (const uint8_t *)argv[1], strlen(argv[1]), on_peers, j);
  } else if (strcmp(cmd, "put-pk") == 0 || (strcmp(cmd, "get-pk") == 0 && argc == 2)) {
    wr_peerid id = *wr_p2p_host_id(D.host);
    if (argc == 2)
      rv = wr_peerid_parse(argv[1], strlen(argv[1]), &id, NULL);
    uint8_t key[4 + WR_MH_MAX_BYTES] = "/pk/";
    int idn = rv == 0 ? wr_peerid_to_bytes(&id, key + 4, sizeof key - 4) : -1;
    if (idn <= 0) {
      rv = WR_ERR_INVAL;
    } else if (cmd[0] == 'p') {
      wr_p2p_pubkey pk;
      uint8_t val[WR_P2P_PUBKEY_ED25519_PB];
      rv = wr_peerid_pubkey(&id, &pk);
      if (rv == 0) {
        wr_p2p_pubkey_encode(&pk, val);
        rv = wr_dht_put_value(D.dht, key, 4 + (size_t)idn, val, sizeof val, on_done, j);
      }
    } else {
      rv = wr_dht_get_value(D.dht, key, 4 + (size_t)idn, on_value, j);
    }
  } else if (strcmp(cmd, "bootstrap") == 0 && argc >= 2) {
    wr_maddr ma[MAX_BOOT];
    size_t nm = 0;
    for (size_t i = 1; i < argc && nm < MAX_BOOT && rv == 0; i++)
      rv = wr_maddr_parse(argv[i], strlen(argv[i]), &ma[nm++], NULL);
    if (rv == 0)
      rv = wr_dht_bootstrap(D.dht, ma, nm, on_done, j);
  } else if (strcmp(cmd, "table") == 0) {
    wr_dht_peer *peers = wr_calloc(512, sizeof *peers);
    size_t np = peers ? wr_dht_routing_table_peers(D.dht, peers, 512) : 0;
    on_peers(j, 0, peers, np);
    wr_free(peers);
    return;
  } else {
    wr_free(j);
    fail_cmd(n, "unknown command or wrong arguments");
    return;
  }
  if (rv != 0) {
    out("{\"n\":%u,\"err\":%d,\"error\":\"%s\"}", n, rv, wr_strerror(rv));
    wr_free(j);
  }
}

static void shutdown_all(void) {
  if (D.closing)
    return;
  D.closing = 1;
  if (D.dht)
    wr_dht_close(D.dht);
  D.dht = NULL;
  if (D.host)
    wr_p2p_host_close(D.host, NULL, NULL);
  D.host = NULL;
  uv_close((uv_handle_t *)&D.sigint, NULL);
  uv_close((uv_handle_t *)&D.sigterm, NULL);
  if (!uv_is_closing((uv_handle_t *)&D.in))
    uv_close((uv_handle_t *)&D.in, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h, (void)signum;
  shutdown_all();
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h, (void)hint;
  static char buf[65536];
  *b = uv_buf_init(buf, sizeof buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  (void)s;
  if (nread < 0) {
    shutdown_all();
    return;
  }
  if (wr_buf_append(&D.line, b->base, (size_t)nread) != 0) {
    shutdown_all();
    return;
  }
  for (;;) {
    uint8_t *nl = memchr(D.line.data, '\n', D.line.len);
    if (!nl)
      break;
    *nl = 0;
    size_t used = (size_t)(nl - D.line.data) + 1;
    if (!D.closing)
      run((char *)D.line.data);
    wr_buf_consume(&D.line, used);
  }
}

static void host_identified(wr_p2p_host *h, wr_p2p_conn *c) {
  (void)h;
  if (D.dht)
    wr_dht_on_identified(D.dht, c);
}

static wr_maddr parse_maddr(const char *flag, const char *s) {
  wr_maddr ma;
  const char *why = NULL;
  if (wr_maddr_parse(s, strlen(s), &ma, &why) != 0)
    wr_cli_usage_error(CMD, "%s %s: %s.", flag, s, why ? why : "not a multiaddr");
  return ma;
}

static void on_boot(void *data, int err) {
  (void)data;
  out("{\"event\":\"bootstrapped\",\"err\":%d,\"table\":%zu}", err,
      D.dht ? wr_dht_routing_table_size(D.dht) : 0);
}

int wr_cmd_diag_dht(int argc, char **argv) {
  enum { OPT_KEY = 256, OPT_LISTEN, OPT_BOOT, OPT_CLIENT, OPT_PROTO, OPT_K, OPT_RPCT, OPT_PBL, OPT_SBL };
  static const struct option opts[] = {{"key", required_argument, NULL, OPT_KEY},
                                       {"listen", required_argument, NULL, OPT_LISTEN},
                                       {"bootstrap", required_argument, NULL, OPT_BOOT},
                                       {"client", no_argument, NULL, OPT_CLIENT},
                                       {"protocol", required_argument, NULL, OPT_PROTO},
                                       {"k", required_argument, NULL, OPT_K},
                                       {"rpc-timeout", required_argument, NULL, OPT_RPCT},
                                       {"peer-buffer-limit", required_argument, NULL, OPT_PBL},
                                       {"server-buffer-limit", required_argument, NULL, OPT_SBL},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *key_path = NULL, *listen[MAX_LISTEN], *boot[MAX_BOOT];
  size_t nlisten = 0, nboot = 0;
  wr_dht_config dcfg = {.server = 1};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      usage();
      return 0;
    case OPT_KEY:
      key_path = optarg;
      break;
    case OPT_LISTEN:
      if (nlisten == MAX_LISTEN)
        wr_cli_usage_error(CMD, "at most %d --listen addresses.", MAX_LISTEN);
      listen[nlisten++] = optarg;
      break;
    case OPT_BOOT:
      if (nboot == MAX_BOOT)
        wr_cli_usage_error(CMD, "at most %d --bootstrap peers.", MAX_BOOT);
      boot[nboot++] = optarg;
      break;
    case OPT_CLIENT:
      dcfg.server = 0;
      break;
    case OPT_PROTO:
      dcfg.protocol = optarg;
      break;
    case OPT_K:
      dcfg.k = wr_cli_parse_uint(CMD, "--k", optarg, 1, WR_KAD_MAX_PEERS);
      break;
    case OPT_RPCT:
      dcfg.rpc_timeout_ms = wr_cli_parse_uint(CMD, "--rpc-timeout", optarg, 1, 600000);
      break;
    case OPT_PBL:
      dcfg.peer_buffer_limit =
          (size_t)wr_cli_parse_uint(CMD, "--peer-buffer-limit", optarg, 4096, 1ull << 32);
      break;
    case OPT_SBL:
      dcfg.server_buffer_limit =
          (size_t)wr_cli_parse_uint(CMD, "--server-buffer-limit", optarg, 4096, 1ull << 34);
      break;
    default:
      wr_cli_usage_error(CMD, "unknown option.");
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "unexpected argument \"%s\".", argv[optind]);
  if (nlisten == 0)
    wr_cli_usage_error(CMD, "give --listen.");
  wr_maddr lma[MAX_LISTEN], bma[MAX_BOOT];
  for (size_t i = 0; i < nlisten; i++)
    lma[i] = parse_maddr("--listen", listen[i]);
  for (size_t i = 0; i < nboot; i++)
    bma[i] = parse_maddr("--bootstrap", boot[i]);

  wr_p2p_privkey key;
  char err[512];
  if (key_path) {
    if (wr_p2p_identity_load(key_path, 1, &key, NULL, err, sizeof err) != 0) {
      wr_cli_fail("diag dht: %s.", err);
      return 1;
    }
  } else {
    uint8_t seed[32];
    if (wr_random_bytes(seed, sizeof seed) != 0) {
      wr_cli_fail("diag dht: no randomness for a key.");
      return 1;
    }
    wr_p2p_privkey_from_seed(&key, seed);
  }
  signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&D.loop) != 0) {
    wr_cli_fail("diag dht: cannot start the event loop.");
    return 1;
  }
  wr_buf_init(&D.line, LINE_MAX_BYTES * 64);
  uv_signal_init(&D.loop, &D.sigint);
  uv_signal_init(&D.loop, &D.sigterm);
  uv_signal_start(&D.sigint, on_signal, SIGINT);
  uv_signal_start(&D.sigterm, on_signal, SIGTERM);
  uv_pipe_init(&D.loop, &D.in, 0);
  wr_p2p_host_config cfg = {.agent_version = "warren/" WR_VERSION};
  static const wr_p2p_host_events hev = {.on_identified = host_identified};
  int status = 1;
  int rv = wr_p2p_host_new(&D.host, &D.loop, &cfg, &key, &hev, NULL);
  memset(&key, 0, sizeof key);
  if (rv != 0) {
    wr_cli_fail("diag dht: cannot start the host: %s.", wr_strerror(rv));
    goto out;
  }
  for (size_t i = 0; i < nlisten; i++)
    if ((rv = wr_p2p_host_listen(D.host, &lma[i])) != 0) {
      wr_cli_fail("diag dht: cannot listen on %s: %s.", listen[i], wr_strerror(rv));
      goto out;
    }
  if ((rv = wr_dht_new(&D.dht, D.host, &D.loop, &dcfg)) != 0) {
    wr_cli_fail("diag dht: cannot start the DHT: %s.", wr_strerror(rv));
    goto out;
  }
  char id[WR_PEERID_MAX_STR];
  if (wr_peerid_format(wr_p2p_host_id(D.host), id, sizeof id) < 0)
    goto out;
  wr_maddr addrs[WR_P2P_MAX_LISTEN];
  size_t na = wr_p2p_host_addrs(D.host, addrs, WR_P2P_MAX_LISTEN);
  wr_buf b;
  wr_buf_init(&b, 1 << 16);
  for (size_t i = 0; i < na; i++) {
    char s[WR_MA_MAX_STR];
    if (wr_maddr_format(&addrs[i], s, sizeof s) >= 0)
      if (wr_buf_printf(&b, "%s\"%s/p2p/%s\"", i ? "," : "", s, id) != 0)
        break;
  }
  out("{\"event\":\"started\",\"id\":\"%s\",\"server\":%s,\"addrs\":[%.*s]}", id,
      dcfg.server ? "true" : "false", (int)b.len, b.data ? (const char *)b.data : "");
  wr_buf_free(&b);
  if (nboot && (rv = wr_dht_bootstrap(D.dht, bma, nboot, on_boot, NULL)) != 0) {
    wr_cli_fail("diag dht: cannot bootstrap: %s.", wr_strerror(rv));
    goto out;
  }
  if (uv_pipe_open(&D.in, 0) != 0 || uv_read_start((uv_stream_t *)&D.in, on_alloc, on_read) != 0) {
    wr_cli_fail("diag dht: stdin must be a pipe.");
    goto out;
  }
  uv_run(&D.loop, UV_RUN_DEFAULT);
  status = 0;
out:
  shutdown_all();
  uv_run(&D.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&D.loop) != 0)
    WR_INFO("Loop closed with live handles", "cmd=%s", CMD);
  wr_buf_free(&D.line);
  return status;
}
