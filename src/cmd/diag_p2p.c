/* diag_p2p.c: `warren diag p2p` — the libp2p host (src/p2p/host.h) on its
 * own, to check interop with other libp2p peers: listen and print our peer
 * ID and addresses, dial, ping, identify, and an echo protocol for stream
 * tests. Output lines are "KEY value ..." so a script can read them. */
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

#define CMD "diag p2p"
#define ECHO_PROTOCOL "/warren/echo/1.0.0"
#define ECHO_PENDING_LIMIT (4u * 1024 * 1024)
#define MAX_LISTEN 8

#ifndef WR_VERSION
#define WR_VERSION "0.1.0"
#endif

static void usage(void) {
  printf("Usage: warren diag p2p [--key FILE] [--listen MULTIADDR]... [--dial MULTIADDR]\n"
         "                       [--ping N] [--identify] [--streams N --bytes SIZE]\n"
         "                       [--protocol P] [--timeout MS] [--max-conns N]\n"
         "                       [--handshake-timeout MS] [--keepalive MS]\n\n"
         "Runs warren's libp2p host (TCP, Noise, yamux; identify and ping) on its own.\n"
         "It always serves identify, ping and an echo protocol (" ECHO_PROTOCOL ": every\n"
         "stream's bytes come back, FIN for FIN). Lines printed:\n"
         "  id PEERID                  our peer ID\n"
         "  listen MULTIADDR/p2p/ID    one per address we listen on\n"
         "  connected PEERID MULTIADDR a connection is up (listening: each one)\n"
         "  identify KEY VALUE         what the dialed peer told: agent, protocol-version,\n"
         "                             protocol, listen, observed\n"
         "  ping N rtt_ms=MS           one per ping\n"
         "  echo streams=N bytes=B ok=K failed=F ms=T\n\n"
         "  --key FILE          identity key (libp2p PrivateKey protobuf), created 0600 when\n"
         "                      missing; default a fresh key each run\n"
         "  --listen MULTIADDR  /ip4|ip6/ADDR/tcp/PORT or /ip4|ip6/ADDR/udp/PORT/quic-v1 (port 0\n"
         "                      picks one); repeatable; without --dial the host serves until\n"
         "                      SIGINT or SIGTERM\n"
         "  --dial MULTIADDR    /ip4|ip6/ADDR/tcp/PORT[/p2p/ID] or .../udp/PORT/quic-v1[/p2p/ID];\n"
         "                      then the checks below, and exit\n"
         "                      0 when all passed\n"
         "  --identify          wait for the peer's identify and print it\n"
         "  --ping N            ping N times, one after the other\n"
         "  --streams N         open N streams at once on --protocol, send --bytes on each,\n"
         "                      check the echo byte for byte\n"
         "  --bytes SIZE        bytes per stream (default 64K)\n"
         "  --protocol P        protocol for --streams (default " ECHO_PROTOCOL ")\n"
         "  --timeout MS        (dial) give up after MS (default 30000)\n"
         "  --max-conns N       connections at once (default 1024)\n"
         "  --handshake-timeout MS  TCP connect and upgrade must finish in MS (default 10000)\n"
         "  --peers N           with --dial only: N peers (fresh keys) connect and stay idle\n"
         "                      until SIGINT/SIGTERM; prints \"held N\" once all are up\n"
         "  --keepalive MS      yamux PING period; a peer that leaves one unanswered for a\n"
         "                      period is dropped (default 15000)\n"
         "  -h, --help          this help\n");
}

typedef struct echo_server {
  wr_buf pending;
  int fin;
} echo_server;

typedef struct echo_client {
  unsigned idx;
  uint64_t sent, received;
  int done, failed, finned;
} echo_client;

static struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t deadline;
  wr_p2p_host *host;
  int dialing;
  wr_p2p_conn *conn;
  int want_identify, identified;
  unsigned pings, pinged;
  unsigned nstreams, streams_done, streams_ok;
  uint64_t bytes;
  const char *protocol;
  echo_client *clients;
  uint64_t t_streams;
  int failed, finished, closing;
  char reason[300];
} D;

static void shutdown_all(void);

static void finish(int failed, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void finish(int failed, const char *fmt, ...) {
  if (D.finished)
    return;
  D.finished = 1;
  D.failed = failed;
  if (fmt) {
    /* Through a copy: callers pass D.reason itself as an argument. */
    char b[sizeof D.reason];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    memcpy(D.reason, b, sizeof b);
  }
  shutdown_all();
}

/* What each echo stream sends: a fixed random pattern of PATTERN bytes,
 * read from an offset that depends on the stream, so the client checks
 * the echo with memcmp without keeping what it sent (and fast enough
 * that the check does not hide the transport's speed). */
#define PATTERN (1u << 20)
static uint8_t pattern[PATTERN];

static void pattern_init(void) {
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < PATTERN; i++) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    pattern[i] = (uint8_t)((s * 0x2545F4914F6CDD1DULL) >> 56);
  }
}

/* The pattern's bytes for [pos, pos + n) of stream idx, in runs. */
static size_t pattern_at(unsigned idx, uint64_t pos, const uint8_t **p, size_t n) {
  size_t off = (size_t)((pos + (uint64_t)idx * 104729u) % PATTERN);
  *p = pattern + off;
  return n < PATTERN - off ? n : PATTERN - off;
}

/* ---- echo server ---- */

static void es_flush(wr_p2p_stream *st) {
  echo_server *e = wr_p2p_stream_user(st);
  while (e->pending.len) {
    ssize_t w = wr_p2p_stream_write(st, e->pending.data, e->pending.len);
    if (w == WR_ERR_AGAIN)
      return;
    if (w < 0) {
      wr_buf_reset(&e->pending);
      return;
    }
    wr_buf_consume(&e->pending, (size_t)w);
    /* Only what went back out frees window: a client that sends faster
     * than it reads is held to one window plus this buffer. */
    wr_p2p_stream_consume(st, (size_t)w);
  }
  if (e->fin && wr_p2p_stream_end(st) != 0) {
    e->fin = 0;
  }
}

static void es_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  echo_server *e = wr_p2p_stream_user(st);
  if (wr_buf_append(&e->pending, p, n) != 0) {
    wr_p2p_stream_reset(st);
    return;
  }
  es_flush(st);
}

static void es_on_fin(wr_p2p_stream *st) {
  echo_server *e = wr_p2p_stream_user(st);
  e->fin = 1;
  es_flush(st);
}

static void es_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)err;
  (void)reason;
  echo_server *e = wr_p2p_stream_user(st);
  wr_buf_free(&e->pending);
  wr_free(e);
}

static const wr_p2p_stream_events es_events = {
    .on_data = es_on_data, .on_fin = es_on_fin, .on_writable = es_flush, .on_closed = es_on_closed};

static void echo_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  echo_server *e = wr_calloc(1, sizeof *e);
  if (!e) {
    wr_p2p_stream_reset(st);
    return;
  }
  wr_buf_init(&e->pending, ECHO_PENDING_LIMIT);
  wr_p2p_stream_set_events(st, &es_events, e);
  wr_p2p_stream_manual_consume(st);
}

/* ---- echo client ---- */

static void check_done(void);

static void ec_pump(wr_p2p_stream *st) {
  echo_client *e = wr_p2p_stream_user(st);
  while (e->sent < D.bytes) {
    const uint8_t *p;
    size_t k = pattern_at(e->idx, e->sent, &p, (size_t)(D.bytes - e->sent));
    ssize_t w = wr_p2p_stream_write(st, p, k);
    if (w < 0) {
      if (w != WR_ERR_AGAIN)
        wr_p2p_stream_reset(st);
      return;
    }
    e->sent += (uint64_t)w;
  }
  if (!e->finned) {
    e->finned = 1;
    if (wr_p2p_stream_end(st) != 0)
      wr_p2p_stream_reset(st);
  }
}

static void ec_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  echo_client *e = wr_p2p_stream_user(st);
  if (e->received + n > D.bytes) {
    e->failed = 1;
    snprintf(D.reason, sizeof D.reason, "stream %u: more bytes came back than were sent", e->idx);
    wr_p2p_stream_reset(st);
    return;
  }
  size_t done = 0;
  while (done < n) {
    const uint8_t *want;
    size_t k = pattern_at(e->idx, e->received + done, &want, n - done);
    if (memcmp(p + done, want, k) != 0) {
      e->failed = 1;
      snprintf(D.reason, sizeof D.reason, "stream %u: the echo differs near byte %llu", e->idx,
               (unsigned long long)(e->received + done));
      wr_p2p_stream_reset(st);
      return;
    }
    done += k;
  }
  e->received += n;
}

static void ec_on_fin(wr_p2p_stream *st) {
  echo_client *e = wr_p2p_stream_user(st);
  if (e->received != D.bytes) {
    e->failed = 1;
    snprintf(D.reason, sizeof D.reason, "stream %u: the peer ended it after %llu of %llu bytes",
             e->idx, (unsigned long long)e->received, (unsigned long long)D.bytes);
  }
}

static void ec_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  echo_client *e = wr_p2p_stream_user(st);
  if (err || e->received != D.bytes) {
    e->failed = 1;
    if (!D.reason[0])
      snprintf(D.reason, sizeof D.reason, "stream %u: %s (%s), %llu of %llu bytes back", e->idx,
               reason, wr_strerror(err), (unsigned long long)e->received,
               (unsigned long long)D.bytes);
  }
  e->done = 1;
  D.streams_done++;
  if (!e->failed)
    D.streams_ok++;
  if (D.streams_done == D.nstreams) {
    printf("echo streams=%u bytes=%llu ok=%u failed=%u ms=%.1f\n", D.nstreams,
           (unsigned long long)D.bytes, D.streams_ok, D.nstreams - D.streams_ok,
           (double)(uv_hrtime() - D.t_streams) / 1e6);
    fflush(stdout);
    check_done();
  }
}

static const wr_p2p_stream_events ec_events = {.on_open = ec_pump,
                                               .on_data = ec_on_data,
                                               .on_fin = ec_on_fin,
                                               .on_writable = ec_pump,
                                               .on_closed = ec_on_closed};

/* ---- the dialer's checks, in order: identify, ping, streams ---- */

static void next_check(void);

static void check_done(void) { next_check(); }

static void on_ping(wr_p2p_conn *c, int err, uint64_t rtt_ns, void *data) {
  (void)data;
  if (err) {
    finish(1, "ping %u failed: %s", D.pinged + 1, wr_strerror(err));
    return;
  }
  D.pinged++;
  printf("ping %u rtt_ms=%.3f\n", D.pinged, (double)rtt_ns / 1e6);
  fflush(stdout);
  if (D.pinged < D.pings) {
    int rv = wr_p2p_ping(c, on_ping, NULL);
    if (rv != 0)
      finish(1, "ping %u failed: %s", D.pinged + 1, wr_strerror(rv));
    return;
  }
  next_check();
}

static void print_identify(wr_p2p_conn *c) {
  const wr_p2p_peer_info *in = wr_p2p_conn_info(c);
  printf("identify agent %s\n", in->agent_version);
  printf("identify protocol-version %s\n", in->protocol_version);
  for (size_t i = 0; i < in->nprotocols; i++)
    printf("identify protocol %s\n", in->protocols[i]);
  char s[WR_MA_MAX_STR];
  for (size_t i = 0; i < in->nlisten_addrs; i++)
    if (wr_maddr_format(&in->listen_addrs[i], s, sizeof s) >= 0)
      printf("identify listen %s\n", s);
  if (in->observed_addr.len && wr_maddr_format(&in->observed_addr, s, sizeof s) >= 0)
    printf("identify observed %s\n", s);
  fflush(stdout);
}

static void next_check(void) {
  if (D.finished || !D.conn)
    return;
  if (D.want_identify && !D.identified)
    return; /* on_identified comes back here */
  if (D.pinged < D.pings) {
    if (D.pinged == 0) {
      int rv = wr_p2p_ping(D.conn, on_ping, NULL);
      if (rv != 0 && rv != WR_ERR_AGAIN)
        finish(1, "ping failed: %s", wr_strerror(rv));
    }
    return;
  }
  if (D.nstreams && !D.clients) {
    D.clients = wr_calloc(D.nstreams, sizeof *D.clients);
    if (!D.clients) {
      finish(1, "out of memory");
      return;
    }
    D.t_streams = uv_hrtime();
    for (unsigned i = 0; i < D.nstreams; i++) {
      echo_client *e = &D.clients[i];
      e->idx = i;
      wr_p2p_stream *st;
      int rv = wr_p2p_conn_open_stream(D.conn, D.protocol, &ec_events, e, &st);
      if (rv != 0) {
        finish(1, "cannot open stream %u: %s", i, wr_strerror(rv));
        return;
      }
    }
    return;
  }
  if (D.nstreams && D.streams_done < D.nstreams)
    return;
  if (D.nstreams && D.streams_ok != D.nstreams) {
    finish(1, "%s", D.reason[0] ? D.reason : "echo streams failed");
    return;
  }
  finish(0, NULL);
}

/* ---- host events ---- */

static void on_conn_open(wr_p2p_host *h, wr_p2p_conn *c) {
  (void)h;
  char id[WR_PEERID_MAX_STR], ma[WR_MA_MAX_STR];
  if (wr_peerid_format(wr_p2p_conn_peer(c), id, sizeof id) < 0)
    snprintf(id, sizeof id, "-");
  if (wr_maddr_format(wr_p2p_conn_remote_addr(c), ma, sizeof ma) < 0)
    snprintf(ma, sizeof ma, "-");
  printf("connected %s %s\n", id, ma);
  fflush(stdout);
}

static void on_identified(wr_p2p_host *h, wr_p2p_conn *c) {
  (void)h;
  if (c != D.conn || D.identified)
    return;
  D.identified = 1;
  if (D.want_identify) {
    print_identify(c);
    next_check();
  }
}

static void on_conn_closed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason) {
  (void)h;
  char id[WR_PEERID_MAX_STR];
  if (wr_peerid_format(wr_p2p_conn_peer(c), id, sizeof id) < 0)
    snprintf(id, sizeof id, "-");
  printf("disconnected %s err=%s reason=%s\n", id, err ? wr_strerror(err) : "none", reason);
  fflush(stdout);
  if (c == D.conn) {
    D.conn = NULL;
    if (!D.finished)
      finish(1, "the connection closed: %s", reason);
  }
}

static const wr_p2p_host_events host_events = {
    .on_conn_open = on_conn_open, .on_identified = on_identified, .on_conn_closed = on_conn_closed};

static void on_dialed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  (void)data;
  if (err) {
    finish(1, "cannot connect: %s", reason);
    return;
  }
  D.conn = c;
  if (wr_p2p_conn_info(c)->identified)
    D.identified = 1;
  next_check();
}

static void on_host_closed(wr_p2p_host *h, void *data) {
  (void)h;
  (void)data;
}

static void shutdown_all(void) {
  if (D.closing)
    return;
  D.closing = 1;
  if (D.host)
    wr_p2p_host_close(D.host, on_host_closed, NULL);
  D.host = NULL;
  uv_close((uv_handle_t *)&D.sigint, NULL);
  uv_close((uv_handle_t *)&D.sigterm, NULL);
  uv_close((uv_handle_t *)&D.deadline, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  finish(0, NULL);
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  finish(1, "timed out");
}

/* --peers N: N hosts, each with a fresh key, dial the target and hold their
 * connection idle until SIGINT/SIGTERM ("held N" once all are up): many
 * distinct peers from one process, to measure what idle peers cost the
 * other side. */
static struct {
  wr_p2p_host **hosts;
  size_t n, up, closed;
  int failed;
} H;

static void held_dialed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  (void)c;
  (void)data;
  if (err) {
    H.failed = 1;
    fprintf(stderr, "warren: diag p2p: a peer could not connect: %s.\n",
            reason ? reason : wr_strerror(err));
  } else if (++H.up == H.n) {
    printf("held %zu\n", H.n);
    fflush(stdout);
  }
}

static void held_closed(wr_p2p_host *h, void *data) {
  (void)h;
  (void)data;
  if (++H.closed == H.n) {
    uv_close((uv_handle_t *)&D.sigint, NULL);
    uv_close((uv_handle_t *)&D.sigterm, NULL);
  }
}

static void held_signal(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  for (size_t i = 0; i < H.n; i++)
    wr_p2p_host_close(H.hosts[i], held_closed, NULL);
}

static int hold_peers(const wr_maddr *target, size_t n) {
  H.hosts = wr_calloc(n, sizeof *H.hosts);
  if (!H.hosts || uv_loop_init(&D.loop) != 0)
    return 1;
  H.n = n;
  wr_p2p_host_config cfg = {.agent_version = "warren/" WR_VERSION};
  for (size_t i = 0; i < n; i++) {
    uint8_t seed[32];
    wr_p2p_privkey key;
    if (wr_random_bytes(seed, sizeof seed) != 0)
      return 1;
    wr_p2p_privkey_from_seed(&key, seed);
    if (wr_p2p_host_new(&H.hosts[i], &D.loop, &cfg, &key, NULL, NULL) != 0 ||
        wr_p2p_host_dial(H.hosts[i], target, held_dialed, NULL) != 0) {
      wr_cli_fail("diag p2p: cannot start peer %zu.", i);
      return 1;
    }
  }
  uv_signal_init(&D.loop, &D.sigint);
  uv_signal_init(&D.loop, &D.sigterm);
  uv_signal_start(&D.sigint, held_signal, SIGINT);
  uv_signal_start(&D.sigterm, held_signal, SIGTERM);
  uv_run(&D.loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(&D.loop);
  wr_free(H.hosts);
  return H.failed ? 1 : 0;
}

static wr_maddr parse_maddr(const char *flag, const char *s) {
  wr_maddr ma;
  const char *why = NULL;
  if (wr_maddr_parse(s, strlen(s), &ma, &why) != 0)
    wr_cli_usage_error(CMD, "%s: \"%s\" is not a multiaddr: %s.", flag, s, why ? why : "bad");
  return ma;
}

/* The key from --key, or a fresh one. */
static int load_key(const char *path, wr_p2p_privkey *key) {
  if (path) {
    char err[512];
    if (wr_p2p_identity_load(path, 1, key, NULL, err, sizeof err) != 0) {
      wr_cli_fail("diag p2p: %s.", err);
      return 1;
    }
    return 0;
  }
  uint8_t seed[32];
  if (wr_random_bytes(seed, sizeof seed) != 0) {
    wr_cli_fail("diag p2p: no randomness for a key.");
    return 1;
  }
  wr_p2p_privkey_from_seed(key, seed);
  return 0;
}

/* Listens on every --listen and prints the bound addresses, ports filled
 * in, as dialable multiaddrs: the tests and a second diag read them. */
static int listen_all(const wr_maddr *lma, const char **text, size_t n) {
  char id[WR_PEERID_MAX_STR];
  if (wr_peerid_format(wr_p2p_host_id(D.host), id, sizeof id) < 0)
    return 1;
  printf("id %s\n", id);
  for (size_t i = 0; i < n; i++) {
    int rv = wr_p2p_host_listen(D.host, &lma[i]);
    if (rv != 0) {
      wr_cli_fail("diag p2p: cannot listen on %s: %s.", text[i], wr_strerror(rv));
      return 1;
    }
  }
  wr_maddr addrs[WR_P2P_MAX_LISTEN];
  size_t na = wr_p2p_host_addrs(D.host, addrs, WR_P2P_MAX_LISTEN);
  for (size_t i = 0; i < na; i++) {
    char s[WR_MA_MAX_STR];
    if (wr_maddr_format(&addrs[i], s, sizeof s) >= 0)
      printf("listen %s/p2p/%s\n", s, id);
  }
  fflush(stdout);
  return 0;
}

int wr_cmd_diag_p2p(int argc, char **argv) {
  enum {
    OPT_KEY = 256,
    OPT_PING,
    OPT_IDENTIFY,
    OPT_STREAMS,
    OPT_BYTES,
    OPT_PROTO,
    OPT_TIMEOUT,
    OPT_MAXC,
    OPT_HS,
    OPT_KA,
    OPT_PEERS
  };
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                       {"key", required_argument, NULL, OPT_KEY},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"dial", required_argument, NULL, 'd'},
                                       {"ping", required_argument, NULL, OPT_PING},
                                       {"identify", no_argument, NULL, OPT_IDENTIFY},
                                       {"streams", required_argument, NULL, OPT_STREAMS},
                                       {"bytes", required_argument, NULL, OPT_BYTES},
                                       {"protocol", required_argument, NULL, OPT_PROTO},
                                       {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                       {"max-conns", required_argument, NULL, OPT_MAXC},
                                       {"handshake-timeout", required_argument, NULL, OPT_HS},
                                       {"keepalive", required_argument, NULL, OPT_KA},
                                       {"peers", required_argument, NULL, OPT_PEERS},
                                       {0, 0, 0, 0}};
  const char *key_path = NULL, *dial = NULL;
  const char *listen[MAX_LISTEN];
  size_t nlisten = 0;
  uint64_t timeout = 30000, max_conns = 1024, hs_timeout = 10000, keepalive = 15000, peers = 0;
  memset(&D, 0, sizeof D);
  D.bytes = 65536;
  D.protocol = ECHO_PROTOCOL;
  int opt;
  while ((opt = wr_cli_getopt(CMD, argc, argv, "hl:d:", opts)) != -1) {
    switch (opt) {
    case 'h':
      usage();
      return 0;
    case OPT_KEY:
      key_path = optarg;
      break;
    case 'l':
      if (nlisten == MAX_LISTEN)
        wr_cli_usage_error(CMD, "at most %d --listen flags.", MAX_LISTEN);
      listen[nlisten++] = optarg;
      break;
    case 'd':
      dial = optarg;
      break;
    case OPT_PING:
      D.pings = (unsigned)wr_cli_parse_uint(CMD, "--ping", optarg, 1, 100000);
      break;
    case OPT_IDENTIFY:
      D.want_identify = 1;
      break;
    case OPT_STREAMS:
      D.nstreams = (unsigned)wr_cli_parse_uint(CMD, "--streams", optarg, 1, 1000);
      break;
    case OPT_BYTES:
      D.bytes = wr_cli_parse_size(CMD, "--bytes", optarg);
      break;
    case OPT_PROTO:
      D.protocol = optarg;
      break;
    case OPT_TIMEOUT:
      timeout = wr_cli_parse_uint(CMD, "--timeout", optarg, 1, 86400000);
      break;
    case OPT_MAXC:
      max_conns = wr_cli_parse_uint(CMD, "--max-conns", optarg, 1, 100000);
      break;
    case OPT_HS:
      hs_timeout = wr_cli_parse_uint(CMD, "--handshake-timeout", optarg, 1, 600000);
      break;
    case OPT_KA:
      keepalive = wr_cli_parse_uint(CMD, "--keepalive", optarg, 1, 600000);
      break;
    case OPT_PEERS:
      peers = wr_cli_parse_uint(CMD, "--peers", optarg, 1, 10000);
      break;
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "unexpected argument \"%s\".", argv[optind]);
  if (!dial && nlisten == 0)
    wr_cli_usage_error(CMD, "give --listen, --dial, or both.");
  if (!dial && (D.pings || D.want_identify || D.nstreams))
    wr_cli_usage_error(CMD, "--ping, --identify and --streams need --dial.");
  wr_maddr lma[MAX_LISTEN], dma;
  for (size_t i = 0; i < nlisten; i++)
    lma[i] = parse_maddr("--listen", listen[i]);
  if (dial)
    dma = parse_maddr("--dial", dial);
  if (peers) {
    if (!dial || nlisten || D.pings || D.want_identify || D.nstreams)
      wr_cli_usage_error(CMD, "--peers N takes --dial and nothing else.");
    return hold_peers(&dma, (size_t)peers);
  }

  wr_p2p_privkey key;
  if (load_key(key_path, &key) != 0)
    return 1;
  pattern_init();
  if (uv_loop_init(&D.loop) != 0) {
    wr_cli_fail("diag p2p: cannot start the event loop.");
    return 1;
  }
  uv_signal_init(&D.loop, &D.sigint);
  uv_signal_init(&D.loop, &D.sigterm);
  uv_timer_init(&D.loop, &D.deadline);
  uv_signal_start(&D.sigint, on_signal, SIGINT);
  uv_signal_start(&D.sigterm, on_signal, SIGTERM);
  wr_p2p_host_config cfg = {.agent_version = "warren/" WR_VERSION,
                            .max_conns = (uint32_t)max_conns,
                            .handshake_timeout_ms = hs_timeout,
                            .keepalive_ms = keepalive};
  int status = 1;
  int rv = wr_p2p_host_new(&D.host, &D.loop, &cfg, &key, &host_events, NULL);
  memset(&key, 0, sizeof key);
  if (rv == 0)
    rv = wr_p2p_host_set_handler(D.host, ECHO_PROTOCOL, echo_handler, NULL);
  if (rv != 0) {
    wr_cli_fail("diag p2p: cannot start the host: %s.", wr_strerror(rv));
    goto out;
  }
  if (listen_all(lma, listen, nlisten) != 0)
    goto out;
  if (dial) {
    uv_timer_start(&D.deadline, on_deadline, timeout, 0);
    rv = wr_p2p_host_dial(D.host, &dma, on_dialed, NULL);
    if (rv != 0) {
      wr_cli_fail("diag p2p: cannot dial %s: %s.", dial, wr_strerror(rv));
      goto out;
    }
  }
  uv_run(&D.loop, UV_RUN_DEFAULT);
  status = D.failed ? 1 : 0;
  if (D.failed)
    wr_cli_fail("diag p2p: %s.", D.reason);
out:
  shutdown_all();
  uv_run(&D.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&D.loop) != 0)
    WR_INFO("Loop closed with live handles", "cmd=%s", CMD);
  wr_free(D.clients);
  return status;
}
