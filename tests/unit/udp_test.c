/* udp_test.c: the UDP datapath on loopback. The checks look at what actually
 * arrives at plain kernel sockets (connected clients, a raw recvmsg with
 * IP_RECVTOS), not at what our code meant to send. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "io/udp.h"
#include "loop_testutil.h"
#include "test.h"

static wr_addr addr(const char *s) {
  wr_addr a;
  char err[200];
  if (wr_addr_parse(s, &a, err, sizeof err) != 0) {
    fprintf(stderr, "bad test address %s: %s\n", s, err);
    abort();
  }
  return a;
}

/* A plain kernel client socket connected to dst from src (port 0). */
static int client(const char *src, const wr_addr *dst) {
  wr_addr s = addr(src);
  int fd = socket(s.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (bind(fd, &s.sa, s.len) != 0 || connect(fd, &dst->sa, dst->len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Waits up to ms for fd to be readable. */
static int readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 1;
}

/* Receives from a wr_udp socket, waiting up to ms. */
static int srv_recv(wr_udp_sock *s, const wr_udp_dgram **pd, int ms) {
  if (!readable(wr_udp_fd(s), ms))
    return WR_ERR_TIMEOUT;
  return wr_udp_recv(s, pd);
}

/* 1 when this host can bind ::1 (IPv6 may be disabled in some containers);
 * otherwise prints why the IPv6 case is skipped. */
static int have_ipv6(const char *what) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  if (!ok)
    printf("  skipped %s: IPv6 is not available on this host\n", what);
  return ok;
}

static wr_udp_sock *open_sock(const char *bind_s, const wr_udp_config *cfg) {
  wr_udp_sock *s = NULL;
  wr_addr a = addr(bind_s);
  int rv = wr_udp_open(&s, &a, cfg);
  if (rv != 0) {
    fprintf(stderr, "wr_udp_open %s: %s\n", bind_s, wr_strerror(rv));
    return NULL;
  }
  return s;
}

static void test_addr_parse(void) {
  wr_addr a;
  char err[200], buf[WR_ADDR_STRLEN];
  CHECK_EQ(wr_addr_parse("127.0.0.2:7000", &a, err, sizeof err), 0);
  CHECK_EQ(a.sa.sa_family, AF_INET);
  CHECK_EQ(wr_addr_port(&a), 7000);
  CHECK_STREQ(wr_addr_format(&a, buf, sizeof buf), "127.0.0.2:7000");
  CHECK_EQ(wr_addr_parse("[::1]:443", &a, err, sizeof err), 0);
  CHECK_EQ(a.sa.sa_family, AF_INET6);
  CHECK_STREQ(wr_addr_format(&a, buf, sizeof buf), "[::1]:443");
  CHECK_EQ(wr_addr_parse("[::]:0", &a, err, sizeof err), 0);
  CHECK_EQ(wr_addr_parse("[fe80::1%1]:9", &a, err, sizeof err), 0);
  CHECK_EQ(a.in6.sin6_scope_id, 1);
  CHECK_EQ(wr_addr_parse("[fe80::1%lo]:9", &a, err, sizeof err), 0);
  CHECK_EQ(a.in6.sin6_scope_id, 1);
  CHECK_EQ(wr_addr_parse("0.0.0.0:65535", &a, NULL, 0), 0);

  CHECK_EQ(wr_addr_parse("127.0.0.1", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "needs a port") != NULL);
  CHECK_EQ(wr_addr_parse("::1:80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "[IPv6]:PORT") != NULL);
  CHECK_EQ(wr_addr_parse("127.0.0.1:65536", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "bad port") != NULL);
  CHECK_EQ(wr_addr_parse("127.0.0.1:", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse("127.0.0.1:80x", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse("localhost:80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "not a numeric IPv4") != NULL);
  CHECK_EQ(wr_addr_parse("[::1:80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse("[::1]80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse("[]:80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse("[1.2.3.4]:80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse("[fe80::1%nosuchif0]:80", &a, err, sizeof err),
           WR_ERR_INVAL);
  CHECK(strstr(err, "not a network interface") != NULL);
  CHECK_EQ(wr_addr_parse("", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_addr_parse(":80", &a, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(a.sa.sa_family, AF_UNSPEC);
}

static void test_addr_compare(void) {
  wr_addr v4 = addr("127.0.0.2:80"), mapped = addr("[::ffff:127.0.0.2]:80"), u;
  char buf[WR_ADDR_STRLEN];
  CHECK(wr_addr_equal(&v4, &mapped));
  CHECK_STREQ(wr_addr_format(&mapped, buf, sizeof buf),
              "[::ffff:127.0.0.2]:80");
  wr_addr_unmap(&mapped, &u);
  CHECK_STREQ(wr_addr_format(&u, buf, sizeof buf), "127.0.0.2:80");
  CHECK_STREQ(wr_addr_format_ip(&u, buf, sizeof buf), "127.0.0.2");
  wr_addr other = addr("127.0.0.2:81");
  CHECK(!wr_addr_equal(&v4, &other));
  CHECK(wr_addr_equal_ip(&v4, &other));
  wr_addr_set_port(&other, 80);
  CHECK(wr_addr_equal(&v4, &other));
}

/* The seed bug, on loopback: a wildcard server, clients connected to
 * 127.0.0.2 and 127.0.0.3. Replies through wr_udp_send reach every client;
 * the control case (plain sendto on the same socket) reaches none, which
 * shows this test can fail. */
static void seed_bug_case(const char *bind_s) {
  wr_udp_sock *s = open_sock(bind_s, NULL);
  CHECK(s != NULL);
  if (!s)
    return;
  uint16_t port = wr_addr_port(wr_udp_local_addr(s));
  const char *targets[] = {"127.0.0.2", "127.0.0.3"};
  for (int t = 0; t < 2; t++) {
    char dst_s[64];
    snprintf(dst_s, sizeof dst_s, "%s:%u", targets[t], port);
    wr_addr dst = addr(dst_s);
    int c = client("127.0.0.1:0", &dst);
    CHECK(c >= 0);
    for (int i = 0; i < 5; i++) {
      char probe[32];
      int n = snprintf(probe, sizeof probe, "probe %d %d", t, i);
      CHECK_EQ(send(c, probe, (size_t)n, 0), n);
      const wr_udp_dgram *d;
      CHECK_EQ(srv_recv(s, &d, 2000), 1);
      char lbuf[WR_ADDR_STRLEN];
      wr_addr lu;
      wr_addr_unmap(&d[0].local, &lu);
      CHECK_STREQ(wr_addr_format(&lu, lbuf, sizeof lbuf), dst_s);
      CHECK(d[0].ifindex > 0);
      wr_udp_msg m = {.data = d[0].data, .len = d[0].len, .peer = d[0].peer,
                      .local = d[0].local};
      CHECK_EQ(wr_udp_send(s, &m, 1), 1);
      char reply[64];
      CHECK(readable(c, 2000));
      CHECK_EQ(recv(c, reply, sizeof reply, MSG_DONTWAIT), n);
      CHECK_MEMEQ(reply, probe, (size_t)n);
    }
    /* Control: plain sendto lets the kernel pick 127.0.0.1 as the source,
     * and the connected client never sees the reply. */
    CHECK_EQ(send(c, "control", 7, 0), 7);
    const wr_udp_dgram *d;
    CHECK_EQ(srv_recv(s, &d, 2000), 1);
    CHECK_EQ(sendto(wr_udp_fd(s), "control", 7, 0, &d[0].peer.sa, d[0].peer.len), 7);
    CHECK(!readable(c, 200));
    close(c);
  }
  CHECK_EQ(wr_udp_get_stats(s)->tx_errors, 0);
  wr_udp_del(s);
}

static void test_seed_bug_ipv4(void) { seed_bug_case("0.0.0.0:0"); }
static void test_seed_bug_dualstack(void) {
  if (have_ipv6("dual-stack seed bug"))
    seed_bug_case("[::]:0");
}

/* ECN: a client marks ECT(0); the server sees it, answers with CE, and the
 * client's kernel sees CE on the reply. Checked on IPv4 and dual-stack. */
static void ecn_case(const char *bind_s) {
  wr_udp_sock *s = open_sock(bind_s, NULL);
  CHECK(s != NULL);
  if (!s)
    return;
  char dst_s[64];
  snprintf(dst_s, sizeof dst_s, "127.0.0.2:%u",
           wr_addr_port(wr_udp_local_addr(s)));
  wr_addr dst = addr(dst_s);
  int c = client("127.0.0.1:0", &dst);
  int tos = WR_UDP_ECN_ECT0, on = 1;
  CHECK_EQ(setsockopt(c, IPPROTO_IP, IP_TOS, &tos, sizeof tos), 0);
  CHECK_EQ(setsockopt(c, IPPROTO_IP, IP_RECVTOS, &on, sizeof on), 0);
  CHECK_EQ(send(c, "ecn", 3, 0), 3);
  const wr_udp_dgram *d;
  CHECK_EQ(srv_recv(s, &d, 2000), 1);
  CHECK_EQ(d[0].ecn, WR_UDP_ECN_ECT0);
  wr_udp_msg m = {.data = d[0].data, .len = d[0].len, .peer = d[0].peer, .local = d[0].local,
                  .ecn = WR_UDP_ECN_CE};
  CHECK_EQ(wr_udp_send(s, &m, 1), 1);
  CHECK(readable(c, 2000));
  char buf[16];
  union {
    struct cmsghdr h;
    char b[64];
  } ctrl;
  struct iovec iov = {buf, sizeof buf};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                      .msg_controllen = sizeof ctrl.b};
  CHECK_EQ(recvmsg(c, &mh, MSG_DONTWAIT), 3);
  int seen = -1;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
    if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_TOS)
      seen = *(uint8_t *)CMSG_DATA(h) & 3;
  CHECK_EQ(seen, WR_UDP_ECN_CE);
  close(c);
  wr_udp_del(s);
}

static void test_ecn_ipv4(void) { ecn_case("0.0.0.0:0"); }
static void test_ecn_dualstack(void) {
  if (have_ipv6("dual-stack ECN"))
    ecn_case("[::]:0");
}

static void test_ecn_ipv6(void) {
  if (!have_ipv6("IPv6 ECN"))
    return;
  wr_udp_sock *s = open_sock("[::1]:0", NULL);
  wr_udp_sock *c = open_sock("[::1]:0", NULL);
  CHECK(s && c);
  if (!s || !c)
    goto out;
  wr_udp_msg m = {.data = (const uint8_t *)"six", .len = 3, .peer = *wr_udp_local_addr(s),
                  .ecn = WR_UDP_ECN_ECT1};
  CHECK_EQ(wr_udp_send(c, &m, 1), 1);
  const wr_udp_dgram *d;
  CHECK_EQ(srv_recv(s, &d, 2000), 1);
  CHECK_EQ(d[0].ecn, WR_UDP_ECN_ECT1);
  char buf[WR_ADDR_STRLEN];
  CHECK_STREQ(wr_addr_format_ip(&d[0].local, buf, sizeof buf), "::1");
  CHECK_EQ(wr_addr_port(&d[0].local), wr_addr_port(wr_udp_local_addr(s)));
out:
  wr_udp_del(s);
  wr_udp_del(c);
}

/* Fills n datagrams of size sz (last one last_sz) with a pattern that names
 * each datagram, sends them as one GSO message, and checks that a receiver
 * gets exactly those datagrams, byte for byte. */
static void gso_case(const wr_udp_config *scfg, const wr_udp_config *rcfg, size_t n, size_t sz,
                     size_t last_sz, int expect_gso_on) {
  wr_udp_sock *tx = open_sock("127.0.0.1:0", scfg);
  wr_udp_sock *rx = open_sock("127.0.0.1:0", rcfg);
  CHECK(tx && rx);
  if (!tx || !rx)
    goto out;
  size_t total = sz * (n - 1) + last_sz;
  uint8_t *data = wr_malloc(total);
  for (size_t i = 0; i < total; i++)
    data[i] = (uint8_t)((i / sz) * 31 + i * 7);
  wr_udp_msg m = {.data = data, .len = total, .segsize = sz, .peer = *wr_udp_local_addr(rx),
                  .local = addr("127.0.0.1:0")};
  CHECK_EQ(wr_udp_send(tx, &m, 1), 1);
  CHECK_EQ(wr_udp_get_stats(tx)->tx_datagrams, n);
  CHECK_EQ(wr_udp_gso_enabled(tx), expect_gso_on);
  size_t got = 0, off = 0;
  while (got < n) {
    const wr_udp_dgram *d;
    int k = srv_recv(rx, &d, 2000);
    CHECK(k > 0);
    if (k <= 0)
      break;
    for (int j = 0; j < k; j++) {
      WR_UDP_DGRAM_FOREACH_SEG(&d[j], p, len) {
        size_t want = got == n - 1 ? last_sz : sz;
        CHECK_EQ(len, want);
        CHECK(off + len <= total);
        if (off + len <= total)
          CHECK_MEMEQ(p, data + off, len);
        off += len;
        got++;
      }
    }
  }
  CHECK_EQ(got, n);
  CHECK_EQ(off, total);
  CHECK_EQ(wr_udp_get_stats(rx)->rx_datagrams, n);
  wr_free(data);
out:
  wr_udp_del(tx);
  wr_udp_del(rx);
}

static void test_gso_gro(void) {
  wr_udp_config c = {0};
  gso_case(&c, &c, 20, 1200, 1200, 1);
  gso_case(&c, &c, 7, 1200, 333, 1);
}

static void test_gso_no_gro(void) {
  wr_udp_config s = {0}, r = {.no_gro = 1};
  gso_case(&s, &r, 20, 1200, 700, 1);
}

/* A real refusal: with UDP checksums off (SO_NO_CHECK) the kernel rejects
 * every GSO send with EINVAL but takes single datagrams. The socket must
 * notice, switch GSO off, and still deliver every datagram intact. */
static void test_gso_refused_by_kernel(void) {
  wr_udp_sock *tx = open_sock("127.0.0.1:0", NULL);
  wr_udp_sock *rx = open_sock("127.0.0.1:0", NULL);
  CHECK(tx && rx);
  if (!tx || !rx)
    goto out;
  int on = 1;
  CHECK_EQ(setsockopt(wr_udp_fd(tx), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on), 0);
  uint8_t data[4 * 1000 + 10];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 11 + i / 1000);
  wr_udp_msg m[2] = {
      {.data = data, .len = sizeof data, .segsize = 1000, .peer = *wr_udp_local_addr(rx),
       .local = addr("127.0.0.1:0")},
      {.data = data, .len = 2000, .segsize = 1000, .peer = *wr_udp_local_addr(rx),
       .local = addr("127.0.0.1:0")},
  };
  CHECK_EQ(wr_udp_send(tx, m, 2), 2);
  CHECK_EQ(wr_udp_gso_enabled(tx), 0);
  CHECK_EQ(wr_udp_get_stats(tx)->tx_errors, 0);
  CHECK_EQ(wr_udp_get_stats(tx)->tx_gso_sends, 0);
  CHECK_EQ(wr_udp_get_stats(tx)->tx_datagrams, 7);
  size_t sizes[7] = {1000, 1000, 1000, 1000, 10, 1000, 1000}, offs[7] = {0, 1000, 2000, 3000,
                                                                           4000, 0, 1000};
  size_t got = 0;
  while (got < 7) {
    const wr_udp_dgram *d;
    int k = srv_recv(rx, &d, 2000);
    CHECK(k > 0);
    if (k <= 0)
      break;
    for (int j = 0; j < k; j++) {
      WR_UDP_DGRAM_FOREACH_SEG(&d[j], p, len) {
        if (got < 7) {
          CHECK_EQ(len, sizes[got]);
          CHECK_MEMEQ(p, data + offs[got], sizes[got]);
        }
        got++;
      }
    }
  }
  CHECK_EQ(got, 7);
out:
  wr_udp_del(tx);
  wr_udp_del(rx);
}

static void test_gso_fallback(void) {
  wr_udp_config s = {.force_gso_fallback = 1}, r = {0};
  gso_case(&s, &r, 20, 1200, 700, 0);
  wr_udp_config s2 = {.no_gso = 1}, r2 = {.no_gro = 1};
  gso_case(&s2, &r2, 5, 1000, 1000, 0);
}

/* A source address that is not on this machine: the kernel refuses that
 * datagram (EINVAL), it is dropped and counted, the next one goes out, and
 * a refused GSO run with a bad source does not switch GSO off. */
static void test_bad_source_dropped(void) {
  wr_udp_sock *tx = open_sock("0.0.0.0:0", NULL);
  wr_udp_sock *rx = open_sock("127.0.0.1:0", NULL);
  CHECK(tx && rx);
  if (!tx || !rx)
    goto out;
  uint8_t data[3000];
  memset(data, 'x', sizeof data);
  wr_udp_msg m[3] = {
      {.data = data, .len = 100, .peer = *wr_udp_local_addr(rx), .local = addr("192.0.2.1:0")},
      {.data = data, .len = 3000, .segsize = 1000, .peer = *wr_udp_local_addr(rx),
       .local = addr("192.0.2.1:0")},
      {.data = data, .len = 50, .peer = *wr_udp_local_addr(rx), .local = addr("127.0.0.1:0")},
  };
  CHECK_EQ(wr_udp_send(tx, m, 3), 3);
  CHECK_EQ(wr_udp_get_stats(tx)->tx_errors, 2);
  CHECK_EQ(wr_udp_gso_enabled(tx), 1);
  const wr_udp_dgram *d;
  CHECK_EQ(srv_recv(rx, &d, 2000), 1);
  CHECK_EQ(d[0].len, 50);
  CHECK(!readable(wr_udp_fd(rx), 100));
out:
  wr_udp_del(tx);
  wr_udp_del(rx);
}

static void test_invalid_msgs(void) {
  wr_udp_sock *s = open_sock("127.0.0.1:0", NULL);
  CHECK(s != NULL);
  if (!s)
    return;
  uint8_t data[70000] = {0};
  wr_udp_msg m = {.data = data, .len = 0, .peer = *wr_udp_local_addr(s)};
  CHECK_EQ(wr_udp_send(s, &m, 1), WR_ERR_INVAL);
  m.len = 65508;
  CHECK_EQ(wr_udp_send(s, &m, 1), WR_ERR_INVAL);
  m.len = 6500;
  m.segsize = 100; /* 65 segments */
  CHECK_EQ(wr_udp_send(s, &m, 1), WR_ERR_INVAL);
  m.segsize = 0;
  m.peer = addr("[::1]:9"); /* IPv6 peer on an IPv4 socket */
  CHECK_EQ(wr_udp_send(s, &m, 1), WR_ERR_INVAL);
  m.peer.len = 0;
  m.peer.sa.sa_family = AF_UNSPEC; /* no peer on an unconnected socket */
  CHECK_EQ(wr_udp_send(s, &m, 1), WR_ERR_INVAL);
  const wr_udp_dgram *d;
  CHECK_EQ(wr_udp_recv(s, &d), WR_ERR_AGAIN);
  wr_udp_del(s);

  wr_udp_sock *p = NULL;
  wr_addr a = addr("127.0.0.1:0");
  wr_udp_config bad = {.batch = WR_UDP_MAX_BATCH + 1};
  CHECK_EQ(wr_udp_open(&p, &a, &bad), WR_ERR_INVAL);
  CHECK(p == NULL);
}

static void test_open_errors(void) {
  wr_udp_sock *a = open_sock("127.0.0.1:0", NULL), *b = NULL;
  CHECK(a != NULL);
  if (!a)
    return;
  CHECK_EQ(wr_udp_open(&b, wr_udp_local_addr(a), NULL), WR_ERR_ADDRINUSE);
  CHECK(b == NULL);
  wr_addr nowhere = addr("192.0.2.77:0");
  CHECK_EQ(wr_udp_open(&b, &nowhere, NULL), WR_ERR_INVAL);
  for (long k = 0; k < 2; k++) {
    wr_mem_fail_after(k);
    wr_addr any = addr("127.0.0.1:0");
    CHECK_EQ(wr_udp_open(&b, &any, NULL), WR_ERR_NOMEM);
    wr_mem_fail_after(-1);
  }
  wr_udp_del(a);
}

static void test_buffers_reported(void) {
  wr_udp_config c = {.rcvbuf = 1 << 20, .sndbuf = 1 << 20};
  wr_udp_sock *s = open_sock("127.0.0.1:0", &c);
  CHECK(s != NULL);
  if (!s)
    return;
  int v = 0;
  socklen_t l = sizeof v;
  CHECK_EQ(getsockopt(wr_udp_fd(s), SOL_SOCKET, SO_RCVBUF, &v, &l), 0);
  CHECK_EQ(wr_udp_rcvbuf(s), v);
  CHECK(wr_udp_sndbuf(s) > 0);
  int pmtu = -1;
  l = sizeof pmtu;
  CHECK_EQ(getsockopt(wr_udp_fd(s), IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, &l), 0);
  CHECK_EQ(pmtu, IP_PMTUDISC_PROBE);
  /* As root the FORCE option gets the full size (the kernel reports double). */
  if (geteuid() == 0)
    CHECK_EQ(wr_udp_rcvbuf(s), 2 << 20);
  wr_udp_del(s);
}

static void test_batch_grouping(void) {
  wr_udp_batch b;
  CHECK_EQ(wr_udp_batch_init(&b, 1 << 16), 0);
  wr_addr p1 = addr("127.0.0.1:1"), p2 = addr("127.0.0.1:2"),
          l = addr("127.0.0.1:0");
  size_t avail;
  uint8_t *sp;
  /* Three of 1000 then one of 500 to p1: one GSO message closed by the short one. */
  for (int i = 0; i < 4; i++) {
    sp = wr_udp_batch_space(&b, &avail);
    CHECK(sp != NULL && avail >= 1000);
    memset(sp, i, 1000);
    CHECK_EQ(wr_udp_batch_commit(&b, i == 3 ? 500 : 1000, &p1, &l, 0, 0), 0);
  }
  /* Another 500 to p1 cannot join a run that ended short. */
  sp = wr_udp_batch_space(&b, &avail);
  CHECK_EQ(wr_udp_batch_commit(&b, 500, &p1, &l, 0, 0), 0);
  /* A different peer starts a new message; so does a different ECN. */
  sp = wr_udp_batch_space(&b, &avail);
  CHECK_EQ(wr_udp_batch_commit(&b, 500, &p2, &l, 0, 0), 0);
  sp = wr_udp_batch_space(&b, &avail);
  CHECK_EQ(wr_udp_batch_commit(&b, 500, &p2, &l, 0, WR_UDP_ECN_ECT0), 0);
  /* A bigger datagram cannot join a run of smaller ones. */
  sp = wr_udp_batch_space(&b, &avail);
  CHECK_EQ(wr_udp_batch_commit(&b, 600, &p2, &l, 0, WR_UDP_ECN_ECT0), 0);
  CHECK_EQ(b.nmsgs, 5);
  CHECK_EQ(b.msgs[0].len, 3500);
  CHECK_EQ(b.msgs[0].segsize, 1000);
  CHECK_EQ(b.msgs[1].len, 500);
  CHECK_EQ(b.msgs[1].segsize, 0);
  CHECK_EQ(b.msgs[4].len, 600);
  CHECK_EQ(b.used, 3500 + 500 + 500 + 500 + 600);
  CHECK_EQ(wr_udp_batch_commit(&b, 0, &p2, &l, 0, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_udp_batch_commit(&b, 1 << 16, &p2, &l, 0, 0), WR_ERR_INVAL);
  wr_udp_batch_reset(&b);
  CHECK(wr_udp_batch_empty(&b));
  /* At most WR_UDP_MAX_SEGS datagrams in one run. */
  for (int i = 0; i < WR_UDP_MAX_SEGS + 1; i++) {
    sp = wr_udp_batch_space(&b, &avail);
    CHECK(sp != NULL);
    CHECK_EQ(wr_udp_batch_commit(&b, 100, &p1, &l, 0, 0), 0);
  }
  CHECK_EQ(b.nmsgs, 2);
  CHECK_EQ(b.msgs[0].len, 100 * WR_UDP_MAX_SEGS);
  wr_udp_batch_free(&b);
}

/* The batch end to end: datagrams for two receivers, flushed in one go. */
static void test_batch_flush(void) {
  wr_udp_sock *tx = open_sock("0.0.0.0:0", NULL);
  wr_udp_sock *r1 = open_sock("127.0.0.1:0", NULL), *r2 = open_sock("127.0.0.1:0", NULL);
  wr_udp_batch b;
  CHECK_EQ(wr_udp_batch_init(&b, 1 << 16), 0);
  wr_addr l = addr("127.0.0.1:0");
  for (int i = 0; i < 30; i++) {
    size_t avail;
    uint8_t *sp = wr_udp_batch_space(&b, &avail);
    memset(sp, i, 1200);
    const wr_addr *peer = wr_udp_local_addr(i < 20 ? r1 : r2);
    CHECK_EQ(wr_udp_batch_commit(&b, 1200, peer, &l, 0, 0), 0);
  }
  CHECK_EQ(wr_udp_batch_flush(&b, tx), 0);
  CHECK(wr_udp_batch_empty(&b));
  CHECK_EQ(wr_udp_get_stats(tx)->tx_gso_sends, 2);
  size_t got1 = 0, got2 = 0;
  const wr_udp_dgram *d;
  int k;
  while ((k = srv_recv(r1, &d, 200)) > 0)
    for (int j = 0; j < k; j++)
      got1 += d[j].len / 1200;
  while ((k = srv_recv(r2, &d, 200)) > 0)
    for (int j = 0; j < k; j++)
      got2 += d[j].len / 1200;
  CHECK_EQ(got1, 20);
  CHECK_EQ(got2, 10);
  wr_udp_batch_free(&b);
  wr_udp_del(tx);
  wr_udp_del(r1);
  wr_udp_del(r2);
}

/* libuv: an echo server on the loop answers a client socket that is also on
 * the loop; everything closes and the loop ends with no live handles. */
typedef struct loop_ctx {
  wr_udp_sock *srv, *cli;
  int echoed, replies, closed;
} loop_ctx;

static void on_closed(void *arg) { ((loop_ctx *)arg)->closed++; }

static void srv_cb(wr_udp_sock *s, const wr_udp_dgram *d, size_t n, void *user) {
  loop_ctx *c = user;
  for (size_t i = 0; i < n; i++) {
    wr_udp_msg m = {.data = d[i].data, .len = d[i].len, .peer = d[i].peer, .local = d[i].local};
    if (wr_udp_send(s, &m, 1) == 1)
      c->echoed++;
  }
}

static void cli_cb(wr_udp_sock *s, const wr_udp_dgram *d, size_t n, void *user) {
  loop_ctx *c = user;
  (void)d;
  c->replies += (int)n;
  if (c->replies >= 3) {
    wr_udp_close(s, on_closed, c);
    wr_udp_close(c->srv, on_closed, c);
  }
}

static void on_writable(wr_udp_sock *s, void *user) {
  loop_ctx *c = user;
  for (int i = 0; i < 3; i++) {
    wr_udp_msg m = {.data = (const uint8_t *)"ping", .len = 4};
    CHECK_EQ(wr_udp_send(s, &m, 1), 1);
  }
  (void)c;
}

static void test_loop(void) {
  uv_loop_t loop;
  CHECK_EQ(uv_loop_init(&loop), 0);
  loop_ctx c = {0};
  c.srv = open_sock("0.0.0.0:0", NULL);
  c.cli = open_sock("127.0.0.1:0", NULL);
  CHECK(c.srv && c.cli);
  if (!c.srv || !c.cli)
    return;
  char dst_s[64];
  snprintf(dst_s, sizeof dst_s, "127.0.0.3:%u",
           wr_addr_port(wr_udp_local_addr(c.srv)));
  wr_addr dst = addr(dst_s);
  CHECK_EQ(wr_udp_connect(c.cli, &dst), 0);
  CHECK_EQ(wr_udp_start(c.srv, &loop, srv_cb, &c), 0);
  CHECK_EQ(wr_udp_start(c.srv, &loop, srv_cb, &c), WR_ERR_INVAL);
  CHECK_EQ(wr_udp_start(c.cli, &loop, cli_cb, &c), 0);
  CHECK(wr_udp_user(c.cli) == &c);
  wr_udp_want_write(c.cli, on_writable);
  CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ(c.echoed, 3);
  CHECK_EQ(c.replies, 3);
  CHECK_EQ(c.closed, 2);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A connected socket that got ICMP port unreachable reports it on the next
 * send, which then sends nothing. wr_udp_send clears it and sends again, so
 * a peer that came back gets the datagram. */
static void test_connected_refused_then_back(void) {
  wr_udp_sock *gone = open_sock("127.0.0.1:0", NULL);
  CHECK(gone != NULL);
  if (!gone)
    return;
  wr_addr dst = *wr_udp_local_addr(gone);
  wr_udp_del(gone);
  wr_udp_sock *c = open_sock("127.0.0.1:0", NULL);
  CHECK(c != NULL);
  if (!c)
    return;
  CHECK_EQ(wr_udp_connect(c, &dst), 0);
  wr_udp_msg m = {.data = (const uint8_t *)"one", .len = 3};
  CHECK_EQ(wr_udp_send(c, &m, 1), 1);
  usleep(50 * 1000); /* the ICMP error arrives and is queued on the socket */
  wr_udp_sock *back = NULL;
  CHECK_EQ(wr_udp_open(&back, &dst, NULL), 0);
  m.data = (const uint8_t *)"two";
  CHECK_EQ(wr_udp_send(c, &m, 1), 1);
  CHECK_EQ(wr_udp_get_stats(c)->tx_errors, 0);
  if (back) {
    const wr_udp_dgram *d;
    CHECK_EQ(srv_recv(back, &d, 2000), 1);
    CHECK_MEMEQ(d[0].data, "two", 3);
  }
  wr_udp_del(back);
  wr_udp_del(c);
}

/* ICMP port unreachable for a datagram an unconnected socket sent: reported
 * with the peer and the quoted start of the datagram, counted, and the socket
 * keeps receiving afterwards (libuv stops a poll handle on POLLERR). */
typedef struct refused_ctx {
  int refused, received;
  wr_addr peer;
  uint8_t quote[64];
  size_t quote_len;
} refused_ctx;

static void refused_cb(wr_udp_sock *s, const wr_addr *peer, const uint8_t *data, size_t len,
                       void *user) {
  refused_ctx *c = user;
  (void)s;
  c->refused++;
  c->peer = *peer;
  c->quote_len = len < sizeof c->quote ? len : sizeof c->quote;
  memcpy(c->quote, data, c->quote_len);
}

static void refused_recv_cb(wr_udp_sock *s, const wr_udp_dgram *d, size_t n, void *user) {
  (void)s, (void)d;
  ((refused_ctx *)user)->received += (int)n;
}

static int refused_seen(const void *arg) { return ((const refused_ctx *)arg)->refused > 0; }
static int datagram_seen(const void *arg) { return ((const refused_ctx *)arg)->received > 0; }

static void refused_case(const char *bind_s, const char *closed_ip) {
  uv_loop_t loop;
  CHECK_EQ(uv_loop_init(&loop), 0);
  char spec[64];
  snprintf(spec, sizeof spec, strchr(closed_ip, ':') ? "[%s]:0" : "%s:0", closed_ip);
  wr_udp_sock *gone = open_sock(spec, NULL);
  wr_udp_sock *s = open_sock(bind_s, NULL);
  CHECK(gone && s);
  if (!gone || !s)
    return;
  wr_addr dst = *wr_udp_local_addr(gone);
  wr_udp_del(gone); /* nothing listens at dst any more */
  refused_ctx c = {0};
  CHECK_EQ(wr_udp_start(s, &loop, refused_recv_cb, &c), 0);
  CHECK_EQ(wr_udp_on_refused(s, refused_cb), 0);
  wr_udp_msg m = {.data = (const uint8_t *)"\x40quic-packet", .len = 12, .peer = dst};
  if (strchr(bind_s, '[') && !strchr(closed_ip, ':'))
    wr_addr_map(&dst, &m.peer); /* a dual-stack socket speaks IPv4 as mapped */
  CHECK_EQ(wr_udp_send(s, &m, 1), 1);
  CHECK(test_run_until(&loop, refused_seen, &c, 2000));
  CHECK_EQ(c.refused, 1);
  CHECK(wr_addr_equal(&c.peer, &dst));
  CHECK_EQ(c.quote_len, 12);
  CHECK_MEMEQ(c.quote, "\x40quic-packet", 12);
  CHECK_EQ(wr_udp_get_stats(s)->rx_icmp_refused, 1);
  /* Still receiving after the error. */
  wr_udp_sock *peer = open_sock(spec, NULL);
  CHECK(peer != NULL);
  if (peer) {
    wr_addr to = *wr_udp_local_addr(s);
    if (strchr(closed_ip, ':'))
      to = addr("[::1]:0");
    else
      to = addr("127.0.0.1:0");
    wr_addr_set_port(&to, wr_addr_port(wr_udp_local_addr(s)));
    wr_udp_msg back = {.data = (const uint8_t *)"hi", .len = 2, .peer = to};
    CHECK_EQ(wr_udp_send(peer, &back, 1), 1);
    CHECK(test_run_until(&loop, datagram_seen, &c, 2000));
    wr_udp_del(peer);
  }
  wr_udp_close(s, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_refused_ipv4(void) { refused_case("127.0.0.1:0", "127.0.0.1"); }
static void test_refused_dualstack(void) { refused_case("[::]:0", "127.0.0.1"); }
static void test_refused_ipv6(void) {
  if (have_ipv6("test_refused_ipv6"))
    refused_case("[::1]:0", "::1");
}

int main(void) {
  wr_log_set_level(WR_LOG_WARN);
  RUN(test_addr_parse);
  RUN(test_addr_compare);
  RUN(test_seed_bug_ipv4);
  RUN(test_seed_bug_dualstack);
  RUN(test_ecn_ipv4);
  RUN(test_ecn_dualstack);
  RUN(test_ecn_ipv6);
  RUN(test_gso_gro);
  RUN(test_gso_no_gro);
  RUN(test_gso_fallback);
  RUN(test_gso_refused_by_kernel);
  RUN(test_bad_source_dropped);
  RUN(test_invalid_msgs);
  RUN(test_open_errors);
  RUN(test_buffers_reported);
  RUN(test_batch_grouping);
  RUN(test_batch_flush);
  RUN(test_connected_refused_then_back);
  RUN(test_loop);
  RUN(test_refused_ipv4);
  RUN(test_refused_dualstack);
  RUN(test_refused_ipv6);
  return test_done();
}
