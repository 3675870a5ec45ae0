/* diag.c: `warren diag udp` — see whether UDP replies come back from the
 * address they were sent to.
 *
 * --listen answers every datagram (an echo) through the datapath, with the
 * source address set explicitly, and prints what it saw and what it did.
 * --connect sends probes from a connected socket (which, like a QUIC client,
 * drops replies from any other address) and from an unconnected one (which
 * sees them), so it can say both "replies are missing" and "they come from
 * X instead". */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/addr.h"
#include "io/udp.h"

#define CMD "diag udp"
#define PROBE_MAGIC "warren-diag-udp"

static void usage(void) {
  printf(
      "Usage: warren diag udp --listen ADDR:PORT [--sendto-reply] [--count N] [--buffer SIZE]\n"
      "       warren diag udp --connect ADDR:PORT [--count N] [--interval MS] [--timeout MS]\n"
      "                       [--bind ADDR:PORT]\n\n"
      "Checks that UDP replies leave from the address the request was sent to. A server on\n"
      "a wildcard address (0.0.0.0 or [::]) that lets the kernel pick the reply's source can\n"
      "answer from another address of the host; clients drop such replies, and QUIC reports\n"
      "\"no recent network activity\".\n\n"
      "  --listen ADDR:PORT   echo every datagram back, setting the reply's source to the\n"
      "                       address it was sent to, and print one line per datagram:\n"
      "                       peer, local address, interface, ECN, and the reply's source.\n"
      "                       Port 0 picks a free port; the first line says which.\n"
      "  --sendto-reply       (with --listen) answer with plain sendto() instead, letting the\n"
      "                       kernel choose the source: shows the bug on purpose.\n"
      "  --connect ADDR:PORT  send probes to a --listen server from a connected socket and\n"
      "                       from an unconnected one; report whether replies come back from\n"
      "                       ADDR:PORT, and from where if not. Exit 0 when every probe got\n"
      "                       its reply from the right address, 1 otherwise.\n"
      "  --count N            probes to send (default 5); with --listen, exit after N datagrams\n"
      "                       (default: run until Ctrl-C)\n"
      "  --interval MS        time between probes (default 200)\n"
      "  --timeout MS         how long to wait for each reply (default 1000)\n"
      "  --bind ADDR:PORT     (with --connect) local address of the probe sockets\n"
      "  --buffer SIZE        socket buffer size to ask for (default 8M)\n"
      "  -h, --help           this help\n\n"
      "Addresses are numeric: 192.0.2.1:7000, [2001:db8::1]:7000, [fe80::1%%eth0]:7000.\n");
}

static wr_addr parse_addr(const char *flag, const char *s) {
  wr_addr a;
  char err[256];
  if (wr_addr_parse(s, &a, err, sizeof err) != 0)
    wr_cli_usage_error(CMD, "%s: %s.", flag, err);
  return a;
}

static const char *ecn_name(uint8_t ecn) {
  static const char *names[] = {"not-ECT", "ECT(1)", "ECT(0)", "CE"};
  return names[ecn & 3];
}

/* The address the kernel's routing table would use as the source of a reply
 * to peer: what a plain sendto() puts on the wire. Learnt by connecting a
 * throwaway socket (no packet is sent). 0 or -1. */
static int kernel_source(int family, const wr_addr *peer, wr_addr *psrc) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int rv = -1;
  psrc->len = sizeof psrc->ss;
  if (connect(fd, &peer->sa, peer->len) == 0 && getsockname(fd, &psrc->sa, &psrc->len) == 0)
    rv = 0;
  close(fd);
  return rv;
}

/* ------------------------------------------------------------------ listen */

typedef struct listener {
  wr_udp_sock *sock;
  uv_signal_t sigint, sigterm;
  int sendto_reply;
  uint64_t count, seen;
  int done;
} listener;

static void listener_shutdown(listener *l) {
  if (l->done)
    return;
  l->done = 1;
  wr_udp_close(l->sock, NULL, NULL);
  uv_close((uv_handle_t *)&l->sigint, NULL);
  uv_close((uv_handle_t *)&l->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  listener_shutdown(h->data);
}

static void on_datagrams(wr_udp_sock *s, const wr_udp_dgram *d, size_t n, void *user) {
  listener *l = user;
  char peer[WR_ADDR_STRLEN], local[WR_ADDR_STRLEN], src[WR_ADDR_STRLEN],
      kern[WR_ADDR_STRLEN], ifname[IF_NAMESIZE];
  for (size_t i = 0; i < n && !l->done; i++) {
    WR_UDP_DGRAM_FOREACH_SEG(&d[i], p, len) {
      wr_addr ksrc;
      int have_k = kernel_source(wr_udp_family(s), &d[i].peer, &ksrc) == 0;
      const char *via;
      if (l->sendto_reply) {
        ssize_t rv;
        do {
          rv = sendto(wr_udp_fd(s), p, len, MSG_DONTWAIT, &d[i].peer.sa, d[i].peer.len);
        } while (rv < 0 && errno == EINTR);
        via = rv < 0 ? "sendto-failed" : "sendto";
        snprintf(src, sizeof src, "%s",
                 have_k ? wr_addr_format_ip_sa(&ksrc.sa, kern, sizeof kern)
                        : "unknown");
      } else {
        wr_udp_msg m = {.data = p, .len = len, .peer = d[i].peer, .local = d[i].local,
                        .ecn = d[i].ecn};
        /* A link-local source only works on the interface it belongs to. */
        if (d[i].local.sa.sa_family == AF_INET6 &&
            IN6_IS_ADDR_LINKLOCAL(&d[i].local.in6.sin6_addr))
          m.ifindex = d[i].ifindex;
        int rv = wr_udp_send(s, &m, 1);
        via = rv == 1 && wr_udp_get_stats(s)->tx_errors == 0 ? "pktinfo"
              : rv == 1                                      ? "pktinfo-refused"
                                                             : "pktinfo-failed";
        wr_addr_format_ip_sa(&d[i].local.sa, src, sizeof src);
      }
      if (!d[i].ifindex || !if_indextoname(d[i].ifindex, ifname))
        snprintf(ifname, sizeof ifname, "?");
      printf("datagram from=%s to=%s iface=%s ifindex=%u ecn=%s len=%zu "
             "reply_src=%s via=%s "
             "kernel_choice=%s%s\n",
             wr_addr_format_sa(&d[i].peer.sa, 1, peer, sizeof peer),
             wr_addr_format_sa(&d[i].local.sa, 1, local, sizeof local), ifname,
             d[i].ifindex, ecn_name(d[i].ecn), len, src, via,
             have_k ? wr_addr_format_ip_sa(&ksrc.sa, kern, sizeof kern)
                    : "unknown",
             have_k && !wr_addr_equal_ip(&ksrc, &d[i].local)
                 ? " note=plain-sendto-would-answer-from-the-wrong-address"
                 : "");
      l->seen++;
      if (l->count && l->seen >= l->count) {
        listener_shutdown(l);
        break;
      }
    }
  }
}

static int run_listen(const wr_addr *bind_addr, const wr_udp_config *cfg,
                      int sendto_reply, uint64_t count) {
  listener l = {.sendto_reply = sendto_reply, .count = count};
  uv_loop_t loop;
  char buf[WR_ADDR_STRLEN];
  if (uv_loop_init(&loop) != 0) {
    wr_cli_fail("diag udp: cannot start the event loop.");
    return 1;
  }
  int rv = wr_udp_open(&l.sock, bind_addr, cfg);
  if (rv != 0) {
    wr_cli_fail(
        "diag udp: cannot listen on %s: %s%s.",
        wr_addr_format(bind_addr, buf, sizeof buf), wr_strerror(rv),
        rv == WR_ERR_ADDRINUSE ? " (another program uses this port; pick another)"
        : rv == WR_ERR_INVAL ? " (is this address configured on this machine?)"
                             : "");
    uv_loop_close(&loop);
    return 1;
  }
  rv = wr_udp_start(l.sock, &loop, on_datagrams, &l);
  uv_signal_init(&loop, &l.sigint);
  uv_signal_init(&loop, &l.sigterm);
  l.sigint.data = l.sigterm.data = &l;
  uv_signal_start(&l.sigint, on_signal, SIGINT);
  uv_signal_start(&l.sigterm, on_signal, SIGTERM);
  if (rv != 0) {
    wr_cli_fail("diag udp: cannot watch the socket: %s.", wr_strerror(rv));
    listener_shutdown(&l);
  } else {
    printf("listening on %s (replies %s)\n",
           wr_addr_format(wr_udp_local_addr(l.sock), buf, sizeof buf),
           sendto_reply ? "with plain sendto(): the kernel picks the source"
                        : "from the address each datagram was sent to");
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rv != 0;
}

/* ----------------------------------------------------------------- connect */

/* Waits until one of the two sockets has data or the deadline passes.
 * Returns a bit mask: 1 connected, 2 unconnected; 0 on timeout. */
static int wait_either(wr_udp_sock *a, wr_udp_sock *b, uint64_t deadline_ns) {
  uint64_t now = wr_now_ns();
  if (now >= deadline_ns)
    return 0;
  struct pollfd p[2] = {{.fd = wr_udp_fd(a), .events = POLLIN},
                        {.fd = wr_udp_fd(b), .events = POLLIN}};
  int ms = (int)((deadline_ns - now + WR_NS_PER_MS - 1) / WR_NS_PER_MS);
  int rv = poll(p, 2, ms);
  if (rv <= 0)
    return 0;
  return (p[0].revents ? 1 : 0) | (p[1].revents ? 2 : 0);
}

typedef struct probe_state {
  int conn_ok;         /* reply on the connected socket */
  int unconn_ok;       /* reply on the unconnected socket from the target */
  int unconn_wrong;    /* reply on the unconnected socket from another address */
  wr_addr wrong;       /* where that one came from */
  int refused;         /* ICMP port unreachable */
  double rtt_ms;
} probe_state;

/* Reads what is queued on s and marks the probe whose payload matches. */
static void take_replies(wr_udp_sock *s, int connected, const wr_addr *target,
                         const char *nonce, probe_state *st, uint64_t nsent,
                         const uint64_t *sent_at) {
  const wr_udp_dgram *d;
  int n;
  while ((n = wr_udp_recv(s, &d)) != WR_ERR_AGAIN) {
    if (n == WR_ERR_CLOSED) {
      /* The ICMP error answers the probes sent so far, not later ones. */
      for (uint64_t i = 0; i < nsent; i++)
        st[i].refused = 1;
      continue;
    }
    if (n < 0)
      return;
    for (int i = 0; i < n; i++) {
      char tag;
      unsigned long long seq;
      char got_nonce[32];
      char text[128];
      size_t tl = d[i].len < sizeof text - 1 ? d[i].len : sizeof text - 1;
      memcpy(text, d[i].data, tl);
      text[tl] = '\0';
      if (sscanf(text, PROBE_MAGIC " %llu %c %31s", &seq, &tag, got_nonce) != 3 ||
          strcmp(got_nonce, nonce) != 0 || seq == 0 || seq > nsent)
        continue;
      probe_state *p = &st[seq - 1];
      if (connected && tag == 'c') {
        p->conn_ok = 1;
        p->rtt_ms = (double)(wr_now_ns() - sent_at[seq - 1]) / 1e6;
      } else if (!connected && tag == 'u') {
        if (wr_addr_equal(&d[i].peer, target)) {
          p->unconn_ok = 1;
        } else {
          p->unconn_wrong = 1;
          p->wrong = d[i].peer;
        }
      }
    }
  }
}

/* Sends probe seq on both sockets: conn is connected to target, unconn is
 * not (so a reply from another address reaches it). */
static void send_probes(wr_udp_sock *conn, wr_udp_sock *unconn, const wr_addr *target,
                        const char *nonce, uint64_t seq) {
  char payload[96];
  int n = snprintf(payload, sizeof payload, PROBE_MAGIC " %llu c %s", (unsigned long long)seq,
                   nonce);
  wr_udp_msg m = {.data = (const uint8_t *)payload, .len = (size_t)n, .ecn = WR_UDP_ECN_ECT0};
  if (wr_udp_send(conn, &m, 1) != 1)
    WR_WARN("Probe not sent", "socket=connected seq=%llu", (unsigned long long)seq);
  char payload2[96];
  int n2 = snprintf(payload2, sizeof payload2, PROBE_MAGIC " %llu u %s", (unsigned long long)seq,
                    nonce);
  wr_udp_msg m2 = {.data = (const uint8_t *)payload2, .len = (size_t)n2, .peer = *target,
                   .ecn = WR_UDP_ECN_ECT0};
  if (wr_udp_send(unconn, &m2, 1) != 1)
    WR_WARN("Probe not sent", "socket=unconnected seq=%llu", (unsigned long long)seq);
}

/* One line per probe: what came back for probe seq. */
static void print_probe(const probe_state *p, uint64_t seq, const char *tbuf,
                        uint64_t timeout_ms) {
  char buf[WR_ADDR_STRLEN];
  if (p->conn_ok)
    printf("probe %llu: reply from %s in %.2f ms: ok\n", (unsigned long long)seq, tbuf,
           p->rtt_ms);
  else if (p->refused)
    printf("probe %llu: refused: nothing listens on %s (ICMP port unreachable)\n",
           (unsigned long long)seq, tbuf);
  else if (p->unconn_wrong)
    printf("probe %llu: no reply on the connected socket; the reply came "
           "from %s instead of "
           "%s\n",
           (unsigned long long)seq, wr_addr_format_sa(&p->wrong.sa, 1, buf, sizeof buf), tbuf);
  else
    printf("probe %llu: no reply within %llu ms\n", (unsigned long long)seq,
           (unsigned long long)timeout_ms);
}

/* The verdict over all count probes, with what to do about a failure.
 * Returns the exit code. */
static int print_summary(const probe_state *st, uint64_t count, const char *tbuf) {
  char buf[WR_ADDR_STRLEN];
  uint64_t ok = 0, wrong = 0, refused = 0;
  wr_addr wrong_from = {0};
  for (uint64_t i = 0; i < count; i++) {
    ok += st[i].conn_ok;
    if (!st[i].conn_ok && st[i].unconn_wrong) {
      wrong++;
      wrong_from = st[i].wrong;
    }
    refused += st[i].refused && !st[i].conn_ok;
  }
  if (ok == count) {
    printf("OK: %llu/%llu replies came back from %s\n", (unsigned long long)ok,
           (unsigned long long)count, tbuf);
    return 0;
  } else if (wrong) {
    printf("FAIL: %llu/%llu replies came back from %s; %llu came from %s "
           "instead. The server "
           "answers from an address the client did not talk to (its kernel "
           "picked the source "
           "from the routing table), so a connected client or a QUIC "
           "connection drops them: "
           "the server must set the reply's source address "
           "(IP_PKTINFO/IPV6_PKTINFO).\n",
           (unsigned long long)ok, (unsigned long long)count, tbuf,
           (unsigned long long)wrong,
           wr_addr_format_sa(&wrong_from.sa, 1, buf, sizeof buf));
  } else if (refused) {
    printf("FAIL: nothing listens on %s (the host answered with ICMP port unreachable).\n",
           tbuf);
  } else {
    printf("FAIL: %llu/%llu replies came back from %s, and no reply came from anywhere else: "
           "is a server running there, and does a firewall let UDP through?\n",
           (unsigned long long)ok, (unsigned long long)count, tbuf);
  }
  return 1;
}

static int run_connect(const wr_addr *target, const wr_addr *bind_opt,
                       const wr_udp_config *cfg, uint64_t count,
                       uint64_t interval_ms, uint64_t timeout_ms) {
  wr_udp_sock *conn = NULL, *unconn = NULL;
  probe_state *st = NULL;
  uint64_t *sent_at = NULL;
  char tbuf[WR_ADDR_STRLEN], buf[WR_ADDR_STRLEN], buf2[WR_ADDR_STRLEN];
  int exit_code = 1;
  wr_addr bind_addr;
  if (bind_opt) {
    bind_addr = *bind_opt;
    if (bind_addr.sa.sa_family != target->sa.sa_family)
      wr_cli_usage_error(CMD, "--bind and --connect must both be IPv4 or both IPv6.");
  } else {
    char err[64];
    if (wr_addr_parse(target->sa.sa_family == AF_INET ? "0.0.0.0:0" : "[::]:0",
                      &bind_addr, err, sizeof err) != 0)
      return 1;
  }
  wr_udp_config c = *cfg;
  c.batch = 8;
  c.v6only = 1; /* the probe sockets speak the target's family only */
  wr_addr_format_sa(&target->sa, 1, tbuf, sizeof tbuf);
  int rv = wr_udp_open(&conn, &bind_addr, &c);
  if (rv == 0)
    rv = wr_udp_connect(conn, target);
  if (rv != 0) {
    wr_cli_fail("diag udp: cannot open a socket connected to %s: %s.", tbuf, wr_strerror(rv));
    goto out;
  }
  if (bind_opt)
    wr_addr_set_port(&bind_addr, 0);
  rv = wr_udp_open(&unconn, &bind_addr, &c);
  if (rv != 0) {
    wr_cli_fail("diag udp: cannot open the second probe socket: %s.", wr_strerror(rv));
    goto out;
  }
  st = wr_calloc(count, sizeof *st);
  sent_at = wr_calloc(count, sizeof *sent_at);
  if (!st || !sent_at) {
    wr_cli_fail("diag udp: out of memory.");
    goto out;
  }
  char nonce[32];
  snprintf(nonce, sizeof nonce, "%08lx%04x", (unsigned long)wr_now_ns() & 0xffffffffUL,
           (unsigned)getpid() & 0xffff);
  printf(
      "probing %s: %llu probes from %s (connected) and %s (unconnected)\n",
      tbuf, (unsigned long long)count,
      wr_addr_format_sa(&wr_udp_local_addr(conn)->sa, 1, buf, sizeof buf),
      wr_addr_format_sa(&wr_udp_local_addr(unconn)->sa, 1, buf2, sizeof buf2));

  for (uint64_t i = 0; i < count; i++) {
    uint64_t start = wr_now_ns();
    sent_at[i] = start;
    send_probes(conn, unconn, target, nonce, i + 1);

    uint64_t deadline = start + timeout_ms * WR_NS_PER_MS;
    probe_state *p = &st[i];
    while (!(p->conn_ok && (p->unconn_ok || p->unconn_wrong)) && !p->refused) {
      int ready = wait_either(conn, unconn, deadline);
      if (!ready)
        break;
      if (ready & 1)
        take_replies(conn, 1, target, nonce, st, i + 1, sent_at);
      if (ready & 2)
        take_replies(unconn, 0, target, nonce, st, i + 1, sent_at);
    }
    print_probe(p, i + 1, tbuf, timeout_ms);
    uint64_t next = start + interval_ms * WR_NS_PER_MS;
    if (i + 1 < count) {
      while (wr_now_ns() < next) {
        int ready = wait_either(conn, unconn, next);
        if (ready & 1)
          take_replies(conn, 1, target, nonce, st, i + 1, sent_at);
        if (ready & 2)
          take_replies(unconn, 0, target, nonce, st, i + 1, sent_at);
      }
    }
  }

  exit_code = print_summary(st, count, tbuf);
out:
  wr_free(st);
  wr_free(sent_at);
  wr_udp_del(conn);
  wr_udp_del(unconn);
  return exit_code;
}

/* --------------------------------------------------------------- dispatch */

static int diag_udp(int argc, char **argv) {
  enum { O_LISTEN = 256, O_CONNECT, O_COUNT, O_INTERVAL, O_TIMEOUT, O_BIND, O_BUFFER, O_SENDTO };
  static const struct option opts[] = {
      {"listen", required_argument, NULL, O_LISTEN},
      {"connect", required_argument, NULL, O_CONNECT},
      {"count", required_argument, NULL, O_COUNT},
      {"interval", required_argument, NULL, O_INTERVAL},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"bind", required_argument, NULL, O_BIND},
      {"buffer", required_argument, NULL, O_BUFFER},
      {"sendto-reply", no_argument, NULL, O_SENDTO},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0}};
  const char *listen_s = NULL, *connect_s = NULL, *bind_s = NULL;
  uint64_t count = 0, interval = 200, timeout = 1000;
  int have_count = 0, sendto_reply = 0, client_only = 0;
  wr_udp_config cfg = {0};
  int c;
  while ((c = wr_cli_getopt(CMD, argc, argv, "h", opts)) != -1) {
    switch (c) {
    case 'h': usage(); return 0;
    case O_LISTEN: listen_s = optarg; break;
    case O_CONNECT: connect_s = optarg; break;
    case O_COUNT:
      count = wr_cli_parse_uint(CMD, "--count", optarg, 1, 1000000);
      have_count = 1;
      break;
    case O_INTERVAL:
      interval = wr_cli_parse_uint(CMD, "--interval", optarg, 0, 3600000);
      client_only = 1;
      break;
    case O_TIMEOUT:
      timeout = wr_cli_parse_uint(CMD, "--timeout", optarg, 1, 3600000);
      client_only = 1;
      break;
    case O_BIND:
      bind_s = optarg;
      client_only = 1;
      break;
    case O_BUFFER: {
      uint64_t v = wr_cli_parse_size(CMD, "--buffer", optarg);
      if (v < 4096 || v > (1u << 30))
        wr_cli_usage_error(CMD, "--buffer must be between 4K and 1G, not \"%s\".", optarg);
      cfg.rcvbuf = cfg.sndbuf = (size_t)v;
      break;
    }
    case O_SENDTO: sendto_reply = 1; break;
    default: break;
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "unexpected argument \"%s\".", argv[optind]);
  if (!!listen_s + !!connect_s != 1)
    wr_cli_usage_error(CMD, "give exactly one of --listen ADDR:PORT or --connect ADDR:PORT.");
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (listen_s) {
    if (client_only)
      wr_cli_usage_error(CMD, "--interval, --timeout and --bind go with --connect, not --listen.");
    wr_addr a = parse_addr("--listen", listen_s);
    return run_listen(&a, &cfg, sendto_reply, count);
  }
  if (sendto_reply)
    wr_cli_usage_error(CMD, "--sendto-reply goes with --listen, not --connect.");
  wr_addr target = parse_addr("--connect", connect_s);
  /* [::ffff:a.b.c.d] is an IPv4 peer: probe it from IPv4 sockets. */
  wr_addr_unmap(&target, &target);
  if (wr_addr_port(&target) == 0)
    wr_cli_usage_error(CMD, "--connect needs a port other than 0.");
  wr_addr b;
  if (bind_s)
    b = parse_addr("--bind", bind_s);
  return run_connect(&target, bind_s ? &b : NULL, &cfg, have_count ? count : 5, interval,
                     timeout);
}

static void diag_usage(FILE *f) {
  fprintf(f, "Usage: warren diag udp|quic --listen ADDR:PORT | --connect ADDR:PORT [...]\n"
             "       warren diag p2p --listen MULTIADDR | --dial MULTIADDR [...]\n\n"
             "Diagnostics:\n"
             "  udp    check that UDP replies come back from the address they were sent to\n"
             "  quic   QUIC echo server and client: handshake, certificates, throughput\n"
             "  p2p    libp2p host over TCP (Noise, yamux): peer ID, ping, identify, echo\n"
             "  dht    the Kademlia DHT on a host of its own, driven by commands on stdin\n\n"
             "Run 'warren diag udp|quic|p2p --help' for the flags.\n");
}

int wr_cmd_diag(int argc, char **argv) {
  static const wr_subcommand subs[] = {
      {"udp", diag_udp},
      {"quic", wr_cmd_diag_quic},
      {"p2p", wr_cmd_diag_p2p},
      {"dht", wr_cmd_diag_dht},
  };
  return wr_cli_dispatch("diag", argc, argv, subs, sizeof subs / sizeof subs[0], diag_usage);
}
