/* udp_bench.c: datagram rate and MB/s of the UDP datapath on loopback.
 *
 * Each round sends a burst of datagrams to a socket on 127.0.0.1 and reads
 * them all back in the same thread, so the figure is the whole cost of the
 * send and receive paths per datagram (kernel included), with no loss and no
 * dependence on thread scheduling on a shared machine. Modes:
 *
 *   sendto/recvfrom   one system call per datagram each way (the reference)
 *   sendmmsg/recvmmsg wr_udp with GSO and GRO off: one call per burst
 *   GSO, no GRO       one super-datagram per burst; the receiver's kernel splits it
 *   GSO + GRO         one super-datagram per burst, delivered whole
 *
 * Every mode sets the source address with PKTINFO as warren always does.
 * Usage: udp_bench [--seconds S] [--size BYTES] [--burst N] */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/udp.h"

typedef struct result {
  double dgrams_per_s;
  double mb_per_s;
  uint64_t dgrams;
} result;

enum { MODE_NAIVE, MODE_MMSG, MODE_GSO, MODE_GSO_GRO, NMODES };
static const char *mode_names[NMODES] = {"sendto/recvfrom", "sendmmsg/recvmmsg",
                                         "GSO, no GRO", "GSO + GRO"};

static double seconds = 1.0;
static size_t dsize = 1200;
static size_t burst = 48; /* 48 x 1200 fits one GSO send (< 64 KiB) */

static wr_addr addr(const char *s) {
  wr_addr a;
  if (wr_addr_parse(s, &a, NULL, 0) != 0)
    abort();
  return a;
}

static void die(const char *what) {
  fprintf(stderr, "udp_bench: %s\n", what);
  exit(1);
}

/* One burst of `burst` datagrams through wr_udp, received back in full.
 * Returns the datagrams received. */
static uint64_t round_wr(wr_udp_sock *tx, wr_udp_sock *rx, const uint8_t *data, int gso) {
  wr_udp_msg msgs[WR_UDP_MAX_BATCH];
  size_t nmsg = 0;
  wr_addr local = addr("127.0.0.1:0");
  if (gso) {
    wr_udp_msg m = {.data = data, .len = dsize * burst, .segsize = dsize,
                    .peer = *wr_udp_local_addr(rx), .local = local};
    msgs[nmsg++] = m;
  } else {
    for (size_t i = 0; i < burst; i++) {
      wr_udp_msg m = {.data = data + i * dsize, .len = dsize, .peer = *wr_udp_local_addr(rx),
                      .local = local};
      msgs[nmsg++] = m;
    }
  }
  if (wr_udp_send(tx, msgs, nmsg) != (int)nmsg)
    die("send did not take the whole burst");
  uint64_t got = 0;
  while (got < burst) {
    const wr_udp_dgram *d;
    int n = wr_udp_recv(rx, &d);
    if (n == WR_ERR_AGAIN) {
      struct pollfd p = {.fd = wr_udp_fd(rx), .events = POLLIN};
      if (poll(&p, 1, 1000) != 1)
        die("datagrams lost on loopback");
      continue;
    }
    if (n < 0)
      die("receive failed");
    for (int i = 0; i < n; i++)
      got += (d[i].len + d[i].segsize - 1) / d[i].segsize;
  }
  return got;
}

/* The reference: a plain socket pair, one call per datagram. The sender
 * still sets its source with IP_PKTINFO so the work compared is the same. */
static uint64_t round_naive(int tx, int rx, const struct sockaddr_in *dst, const uint8_t *data,
                            uint8_t *rbuf) {
  union {
    struct cmsghdr h;
    uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo))];
  } ctrl;
  for (size_t i = 0; i < burst; i++) {
    struct iovec iov = {(void *)(data + i * dsize), dsize};
    struct msghdr mh = {.msg_name = (void *)dst, .msg_namelen = sizeof *dst, .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = ctrl.b, .msg_controllen = sizeof ctrl.b};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    struct in_pktinfo pi = {0};
    pi.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    if (sendmsg(tx, &mh, 0) != (ssize_t)dsize)
      die("sendmsg failed");
  }
  for (size_t i = 0; i < burst; i++) {
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    if (recvfrom(rx, rbuf, 65536, 0, (struct sockaddr *)&from, &fl) != (ssize_t)dsize)
      die("recvfrom failed");
  }
  return burst;
}

static result run_mode(int mode, const uint8_t *data) {
  result best = {0};
  wr_udp_sock *tx = NULL, *rx = NULL;
  int ntx = -1, nrx = -1;
  struct sockaddr_in dst;
  uint8_t *rbuf = malloc(65536);
  if (mode == MODE_NAIVE) {
    ntx = socket(AF_INET, SOCK_DGRAM, 0);
    nrx = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof dst;
    int big = 8 << 20;
    setsockopt(nrx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    if (bind(nrx, (struct sockaddr *)&dst, sizeof dst) != 0 ||
        getsockname(nrx, (struct sockaddr *)&dst, &l) != 0)
      die("cannot bind the reference socket");
  } else {
    wr_udp_config ct = {.no_gso = mode == MODE_MMSG, .no_gro = 1, .batch = WR_UDP_MAX_BATCH};
    wr_udp_config cr = {.no_gro = mode != MODE_GSO_GRO, .batch = WR_UDP_MAX_BATCH};
    wr_addr a = addr("0.0.0.0:0"), b = addr("127.0.0.1:0");
    if (wr_udp_open(&tx, &a, &ct) != 0 || wr_udp_open(&rx, &b, &cr) != 0)
      die("cannot open sockets");
  }
  /* Three timed runs after a warm-up; the best one is the least disturbed by
   * the other programs sharing this machine. */
  for (int run = -1; run < 3; run++) {
    uint64_t n = 0, t0 = wr_now_ns(), limit = (uint64_t)(seconds / 3 * 1e9), el;
    if (run < 0)
      limit /= 4;
    do {
      for (int k = 0; k < 16; k++)
        n += mode == MODE_NAIVE ? round_naive(ntx, nrx, &dst, data, rbuf)
                                : round_wr(tx, rx, data, mode != MODE_MMSG);
      el = wr_now_ns() - t0;
    } while (el < limit);
    if (run < 0)
      continue;
    double rate = (double)n / ((double)el / 1e9);
    if (rate > best.dgrams_per_s) {
      best.dgrams_per_s = rate;
      best.mb_per_s = rate * (double)dsize / 1e6;
      best.dgrams = n;
    }
  }
  if (tx)
    wr_udp_del(tx);
  if (rx)
    wr_udp_del(rx);
  if (ntx >= 0)
    close(ntx);
  if (nrx >= 0)
    close(nrx);
  free(rbuf);
  return best;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
      dsize = (size_t)atol(argv[++i]);
    else if (strcmp(argv[i], "--burst") == 0 && i + 1 < argc)
      burst = (size_t)atol(argv[++i]);
    else {
      fprintf(stderr, "usage: udp_bench [--seconds S] [--size BYTES] [--burst N]\n");
      return 2;
    }
  }
  if (seconds <= 0 || dsize < 1 || dsize > 8192 || burst < 1 || burst > WR_UDP_MAX_SEGS ||
      dsize * burst > WR_UDP_MAX_SUPER) {
    fprintf(stderr, "udp_bench: need 0 < seconds, 1 <= size <= 8192, 1 <= burst <= %d and "
                    "size*burst <= %d\n", WR_UDP_MAX_SEGS, WR_UDP_MAX_SUPER);
    return 2;
  }
  wr_log_set_level(WR_LOG_WARN);
  uint8_t *data = malloc(dsize * burst);
  for (size_t i = 0; i < dsize * burst; i++)
    data[i] = (uint8_t)(i * 13);
  printf("UDP datapath on loopback: %zu-byte datagrams, bursts of %zu, best of 3 x %.2f s\n",
         dsize, burst, seconds / 3);
  printf("%-20s %14s %10s %9s\n", "mode", "datagrams/s", "MB/s", "vs naive");
  result r[NMODES];
  for (int m = 0; m < NMODES; m++) {
    r[m] = run_mode(m, data);
    printf("%-20s %14.0f %10.1f %8.2fx\n", mode_names[m], r[m].dgrams_per_s, r[m].mb_per_s,
           r[m].dgrams_per_s / r[0].dgrams_per_s);
    fflush(stdout);
  }
  free(data);
  return 0;
}
