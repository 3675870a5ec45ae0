/* netdelay: add a fixed delay to packets, for benchmarks on a kernel without
 * netem. A firewall rule sends packets to an NFQUEUE; this program holds each
 * one for --delay milliseconds and then lets it go, in arrival order.
 *
 *   iptables -A OUTPUT -o veth0 -j NFQUEUE --queue-num 7
 *   netdelay --queue 7 --delay 20
 *
 * (iptables, not nft: the kernel here lacks nft's `queue` expression but has
 * the xtables NFQUEUE target, which iptables-nft reaches through nft compat.)
 *
 * A constant delay keeps packets in order, so the pending packets form a FIFO:
 * a ring of (packet id, release time). When the ring is full a packet is let
 * through at once and counted, rather than dropped silently. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RING 65536

static struct {
  uint32_t id[RING];
  uint64_t due[RING];
  size_t head, len;
} q;
static uint64_t delay_ns, held, overflow;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data) {
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph)
    return 0;
  uint32_t id = ntohl(ph->packet_id);
  if (q.len == RING) {
    overflow++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  }
  size_t tail = (q.head + q.len) % RING;
  q.id[tail] = id;
  q.due[tail] = now_ns() + delay_ns;
  q.len++;
  held++;
  return 0;
}

static void release_due(struct nfq_q_handle *qh, uint64_t now) {
  while (q.len && q.due[q.head] <= now) {
    nfq_set_verdict(qh, q.id[q.head], NF_ACCEPT, 0, NULL);
    q.head = (q.head + 1) % RING;
    q.len--;
  }
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  int queue = -1;
  double delay_ms = -1;
  static const struct option opts[] = {
      {"queue", required_argument, NULL, 'q'},
      {"delay", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "q:d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'q': queue = atoi(optarg); break;
    case 'd': delay_ms = atof(optarg); break;
    case 'h':
      printf("Usage: netdelay --queue N --delay MS\n"
             "Holds every packet an `-j NFQUEUE --queue-num N` rule sends here for MS\n"
             "milliseconds, then accepts it. Runs until SIGINT/SIGTERM.\n");
      return 0;
    default: return 2;
    }
  }
  if (queue < 0 || queue > 65535 || delay_ms < 0) {
    fprintf(stderr, "netdelay: --queue 0..65535 and --delay MS (>= 0) are required\n");
    return 2;
  }
  delay_ns = (uint64_t)(delay_ms * 1e6);

  struct nfq_handle *h = nfq_open();
  if (!h) {
    perror("netdelay: nfq_open");
    return 1;
  }
  struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
  if (!qh) {
    fprintf(stderr, "netdelay: cannot bind queue %d (is another program on it?)\n", queue);
    return 1;
  }
  /* Only the metadata is needed: the verdict leaves the packet unchanged. */
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, RING) < 0) {
    perror("netdelay: nfq_set_mode");
    return 1;
  }
  int fd = nfq_fd(h);
  int big = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("netdelay: queue %d, delay %.1f ms\n", queue, delay_ms);
  fflush(stdout);

  char buf[4096] __attribute__((aligned));
  while (!stop) {
    uint64_t now = now_ns();
    release_due(qh, now);
    int timeout = -1;
    if (q.len) {
      uint64_t wait = q.due[q.head] > now ? q.due[q.head] - now : 0;
      timeout = (int)((wait + 999999) / 1000000);
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, timeout);
    if (n < 0 && errno != EINTR)
      break;
    /* Drain what is queued without blocking, so a burst is stamped together. */
    for (int i = 0; i < 256 && n > 0; i++) {
      ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r <= 0)
        break;
      nfq_handle_packet(h, buf, (int)r);
    }
  }
  release_due(qh, UINT64_MAX);
  printf("netdelay: held %llu packets, %llu passed undelayed (queue full)\n",
         (unsigned long long)held, (unsigned long long)overflow);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
