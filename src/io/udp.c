/* udp.c: the UDP datapath (see udp.h for the why). */
#include "io/udp.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* One receive slot holds the largest UDP payload (or a GRO super-datagram). */
#define SLOT_SIZE 65536
/* Room for every control message we ask for on receive: both PKTINFOs (a
 * dual-stack socket may get both), TOS, TCLASS and GRO. */
#define RX_CTRL_SIZE                                                                   \
  (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)) +    \
   4 * CMSG_SPACE(sizeof(int)))
/* Room for what we attach on send: one PKTINFO, one TOS/TCLASS, one UDP_SEGMENT. */
#define TX_CTRL_SIZE                                                                   \
  (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) +                  \
   CMSG_SPACE(sizeof(uint16_t)))

typedef union rx_ctrl {
  struct cmsghdr align;
  uint8_t buf[RX_CTRL_SIZE];
} rx_ctrl;

typedef union tx_ctrl {
  struct cmsghdr align;
  uint8_t buf[TX_CTRL_SIZE];
} tx_ctrl;

/* Where one outgoing mmsghdr came from: which message, and whether it is the
 * final piece of it. */
typedef struct tx_slot {
  size_t msg;
  int last;
  int gso;
  size_t nsegs;
} tx_slot;

struct wr_udp_sock {
  int fd;
  int family;
  int dualstack; /* AF_INET6 socket that also carries IPv4 */
  int connected;
  int conn_v4; /* connected to an IPv4(-mapped) peer */
  wr_addr local;
  wr_udp_config cfg;
  size_t rcvbuf, sndbuf;
  int gso, gro;
  wr_udp_stats stats;

  /* libuv */
  uv_poll_t poll;
  int attached; /* poll initialised: close must be asynchronous */
  int reading;
  int closing;
  wr_udp_recv_cb recv_cb;
  wr_udp_writable_cb write_cb;
  wr_udp_refused_cb refused_cb;
  void *user;
  wr_udp_close_cb close_cb;
  void *close_arg;

  /* receive: one buffer, batch slots */
  uint8_t *rxbuf;
  struct mmsghdr rx_msgs[WR_UDP_MAX_BATCH];
  struct iovec rx_iov[WR_UDP_MAX_BATCH];
  struct sockaddr_storage rx_names[WR_UDP_MAX_BATCH];
  rx_ctrl rx_ctrls[WR_UDP_MAX_BATCH];
  wr_udp_dgram rx_dgrams[WR_UDP_MAX_BATCH];

  /* send */
  struct mmsghdr tx_msgs[WR_UDP_MAX_BATCH];
  struct iovec tx_iov[WR_UDP_MAX_BATCH];
  wr_addr tx_names[WR_UDP_MAX_BATCH];
  tx_ctrl tx_ctrls[WR_UDP_MAX_BATCH];
  tx_slot tx_slots[WR_UDP_MAX_BATCH];
};

/* ------------------------------------------------------------ socket set-up */

static int setint(int fd, int level, int opt, int v) {
  return setsockopt(fd, level, opt, &v, sizeof v);
}

static size_t getint(int fd, int level, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, level, opt, &v, &l) != 0 || v < 0)
    return 0;
  return (size_t)v;
}

/* Asks for a large buffer: the FORCE variant passes net.core.*mem_max when we
 * hold CAP_NET_ADMIN; without it the plain option is capped silently by the
 * kernel, which is fine (the granted size is reported, not warned about). */
static void size_buffer(int fd, int force_opt, int opt, size_t want) {
  int v = want > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)want;
  if (setint(fd, SOL_SOCKET, force_opt, v) == 0)
    return;
  (void)setint(fd, SOL_SOCKET, opt, v);
}

static int errno_to_open_err(int e) {
  switch (e) {
  case EADDRNOTAVAIL: return WR_ERR_INVAL;
  default: return wr_err_from_errno(e);
  }
}

static void sock_free(wr_udp_sock *s) {
  if (s->fd >= 0)
    close(s->fd);
  wr_free(s->rxbuf);
  wr_free(s);
}

int wr_udp_open(wr_udp_sock **ps, const wr_addr *bind_addr,
                const wr_udp_config *cfg) {
  char abuf[WR_ADDR_STRLEN];
  wr_udp_sock *s = NULL;
  int rv, e;
  *ps = NULL;
  if (!bind_addr ||
      (bind_addr->sa.sa_family != AF_INET && bind_addr->sa.sa_family != AF_INET6))
    return WR_ERR_INVAL;
  if (cfg && cfg->batch > WR_UDP_MAX_BATCH)
    return WR_ERR_INVAL;

  s = wr_calloc(1, sizeof *s);
  if (!s)
    return WR_ERR_NOMEM;
  s->fd = -1;
  if (cfg)
    s->cfg = *cfg;
  if (!s->cfg.batch)
    s->cfg.batch = 32;
  if (!s->cfg.rcvbuf)
    s->cfg.rcvbuf = WR_UDP_DEFAULT_BUF;
  if (!s->cfg.sndbuf)
    s->cfg.sndbuf = WR_UDP_DEFAULT_BUF;
  s->family = bind_addr->sa.sa_family;

  s->rxbuf = wr_malloc((size_t)s->cfg.batch * SLOT_SIZE);
  if (!s->rxbuf) {
    rv = WR_ERR_NOMEM;
    goto fail;
  }

  s->fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (s->fd < 0) {
    e = errno;
    rv = wr_err_from_errno(e);
    WR_ERROR("Cannot create UDP socket", "family=%s error=\"%s\"",
             s->family == AF_INET ? "ipv4" : "ipv6", strerror(e));
    goto fail;
  }

  int fail_opt = 0;
  if (s->family == AF_INET6) {
    s->dualstack = !s->cfg.v6only;
    fail_opt |= setint(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, s->cfg.v6only ? 1 : 0);
    fail_opt |= setint(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    fail_opt |= setint(s->fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
  }
  if (s->family == AF_INET || s->dualstack) {
    /* On a dual-stack socket these apply to the IPv4 datagrams it carries. */
    fail_opt |= setint(s->fd, IPPROTO_IP, IP_PKTINFO, 1);
    fail_opt |= setint(s->fd, IPPROTO_IP, IP_RECVTOS, 1);
  }
  if (fail_opt) {
    e = errno;
    WR_ERROR("Cannot enable PKTINFO/ECN reception on UDP socket", "error=\"%s\"", strerror(e));
    rv = WR_ERR_IO;
    goto fail;
  }
  /* QUIC must never be fragmented (RFC 9000 section 14) and finds the path MTU
   * itself: set DF, and PROBE so the kernel's own PMTU cache does not cap
   * sends. Best effort: without it datagrams still flow. */
  if (s->family == AF_INET6)
    (void)setint(s->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
  if (s->family == AF_INET || s->dualstack)
    (void)setint(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
  if (s->cfg.reuseport && setint(s->fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) {
    e = errno;
    WR_ERROR("Cannot set SO_REUSEPORT on UDP socket", "error=\"%s\"", strerror(e));
    rv = wr_err_from_errno(e);
    goto fail;
  }
  /* GRO is an optimisation: an old kernel without it just delivers single
   * datagrams, so a refusal is not an error. */
  if (!s->cfg.no_gro && setint(s->fd, SOL_UDP, UDP_GRO, 1) == 0)
    s->gro = 1;
  s->gso = !s->cfg.no_gso;

  size_buffer(s->fd, SO_RCVBUFFORCE, SO_RCVBUF, s->cfg.rcvbuf);
  size_buffer(s->fd, SO_SNDBUFFORCE, SO_SNDBUF, s->cfg.sndbuf);
  s->rcvbuf = getint(s->fd, SOL_SOCKET, SO_RCVBUF);
  s->sndbuf = getint(s->fd, SOL_SOCKET, SO_SNDBUF);

  if (bind(s->fd, &bind_addr->sa, bind_addr->len) != 0) {
    e = errno;
    rv = errno_to_open_err(e);
    WR_ERROR("Cannot bind UDP socket", "addr=%s error=\"%s\"",
             wr_addr_format(bind_addr, abuf, sizeof abuf), strerror(e));
    goto fail;
  }
  s->local.len = sizeof s->local.ss;
  if (getsockname(s->fd, &s->local.sa, &s->local.len) != 0) {
    e = errno;
    rv = WR_ERR_IO;
    WR_ERROR("Cannot read UDP socket address", "error=\"%s\"", strerror(e));
    goto fail;
  }

  /* The kernel reports twice the size asked for (it counts its own overhead);
   * we report what it says, which is what a metric of it would show. */
  WR_INFO("UDP socket ready",
          "addr=%s rcvbuf=%zu sndbuf=%zu requested=%zu gso=%s gro=%s",
          wr_addr_format(&s->local, abuf, sizeof abuf), s->rcvbuf, s->sndbuf,
          s->cfg.rcvbuf, s->gso ? "on" : "off", s->gro ? "on" : "off");

  for (unsigned i = 0; i < WR_UDP_MAX_BATCH; i++) {
    s->rx_iov[i].iov_len = SLOT_SIZE;
    s->rx_iov[i].iov_base = i < s->cfg.batch ? s->rxbuf + (size_t)i * SLOT_SIZE : NULL;
  }
  *ps = s;
  return 0;

fail:
  sock_free(s);
  return rv;
}

int wr_udp_connect(wr_udp_sock *s, const wr_addr *peer) {
  wr_addr a;
  char abuf[WR_ADDR_STRLEN];
  if (peer->sa.sa_family == AF_INET && s->family == AF_INET6) {
    if (!s->dualstack)
      return WR_ERR_INVAL;
    wr_addr_map(peer, &a);
  } else if (peer->sa.sa_family == s->family) {
    a = *peer;
  } else {
    return WR_ERR_INVAL;
  }
  if (connect(s->fd, &a.sa, a.len) != 0) {
    int e = errno;
    WR_ERROR("Cannot connect UDP socket", "peer=%s error=\"%s\"",
             wr_addr_format(&a, abuf, sizeof abuf), strerror(e));
    return e == EINVAL || e == EAFNOSUPPORT ? WR_ERR_INVAL : WR_ERR_IO;
  }
  s->connected = 1;
  s->conn_v4 = a.sa.sa_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&a.in6.sin6_addr);
  return 0;
}

/* ------------------------------------------------------------------ receive */

/* Fills d's local address, interface, ECN and GRO size from the control
 * messages of one received datagram. */
static void parse_rx_ctrl(wr_udp_sock *s, struct msghdr *mh, wr_udp_dgram *d) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      wr_addr a;
      memset(&a, 0, sizeof a);
      a.in.sin_family = AF_INET;
      /* ipi_addr is the header's destination: the address the peer talked to. */
      a.in.sin_addr = pi.ipi_addr;
      a.len = sizeof a.in;
      if (s->family == AF_INET6)
        wr_addr_map(&a, &d->local);
      else
        d->local = a;
      d->ifindex = (unsigned)pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memset(&d->local, 0, sizeof d->local);
      d->local.in6.sin6_family = AF_INET6;
      d->local.in6.sin6_addr = pi.ipi6_addr;
      if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
        d->local.in6.sin6_scope_id = pi.ipi6_ifindex;
      d->local.len = sizeof d->local.in6;
      d->ifindex = pi.ipi6_ifindex;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      uint8_t tos;
      memcpy(&tos, CMSG_DATA(c), 1);
      d->ecn = tos & 3;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int tc;
      memcpy(&tc, CMSG_DATA(c), sizeof tc);
      d->ecn = (uint8_t)(tc & 3);
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int seg;
      memcpy(&seg, CMSG_DATA(c), sizeof seg);
      if (seg > 0)
        d->segsize = (size_t)seg;
    }
  }
  if (d->local.sa.sa_family != AF_UNSPEC)
    wr_addr_set_port(&d->local, wr_addr_port(&s->local));
}

int wr_udp_recv(wr_udp_sock *s, const wr_udp_dgram **pdgrams) {
  unsigned batch = s->cfg.batch;
  for (unsigned i = 0; i < batch; i++) {
    struct msghdr *mh = &s->rx_msgs[i].msg_hdr;
    mh->msg_name = &s->rx_names[i];
    mh->msg_namelen = sizeof s->rx_names[i];
    mh->msg_iov = &s->rx_iov[i];
    mh->msg_iovlen = 1;
    mh->msg_control = s->rx_ctrls[i].buf;
    mh->msg_controllen = sizeof s->rx_ctrls[i].buf;
    mh->msg_flags = 0;
    s->rx_msgs[i].msg_len = 0;
  }
  int n, refused = 0;
  for (;;) {
    n = recvmmsg(s->fd, s->rx_msgs, batch, MSG_DONTWAIT, NULL);
    if (n >= 0)
      break;
    if (errno == EINTR)
      continue;
    /* With IP_RECVERR an ICMP error also becomes the socket's pending error,
     * which the next receive reports once and clears. On an unconnected
     * socket it says nothing about what is queued (drain_errors reads the
     * details from the error queue): receive again. */
    if (errno == ECONNREFUSED && !s->connected && !refused++)
      continue;
    break;
  }
  if (n < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK)
      return WR_ERR_AGAIN;
    /* A connected socket reports an ICMP port unreachable here, once. */
    if (e == ECONNREFUSED)
      return WR_ERR_CLOSED;
    WR_DEBUG("UDP receive failed", "error=\"%s\"", strerror(e));
    return wr_err_from_errno(e) == WR_ERR_AGAIN ? WR_ERR_IO : wr_err_from_errno(e);
  }
  if (n == 0)
    return WR_ERR_AGAIN;
  s->stats.rx_calls++;
  size_t out = 0;
  for (int i = 0; i < n; i++) {
    struct msghdr *mh = &s->rx_msgs[i].msg_hdr;
    if (mh->msg_flags & MSG_TRUNC) {
      s->stats.rx_truncated++;
      continue;
    }
    wr_udp_dgram *d = &s->rx_dgrams[out];
    memset(d, 0, sizeof *d);
    d->data = s->rx_iov[i].iov_base;
    d->len = s->rx_msgs[i].msg_len;
    memcpy(&d->peer.ss, &s->rx_names[i], mh->msg_namelen);
    d->peer.len = mh->msg_namelen;
    parse_rx_ctrl(s, mh, d);
    if (!d->segsize || d->segsize > d->len)
      d->segsize = d->len;
    s->stats.rx_bytes += d->len;
    s->stats.rx_datagrams += d->len ? (d->len + d->segsize - 1) / d->segsize : 1;
    out++;
  }
  if (out == 0)
    return WR_ERR_AGAIN;
  *pdgrams = s->rx_dgrams;
  return (int)out;
}

/* --------------------------------------------------------------------- send */

/* Writes the control messages for one outgoing datagram (or GSO run) into
 * ctrl; returns the bytes used. The source address goes at the level that
 * matches how the kernel will route the datagram: IPv4 sockets take
 * IPPROTO_IP/IP_PKTINFO; IPv6 sockets take IPPROTO_IPV6/IPV6_PKTINFO, also
 * for IPv4-mapped peers (the kernel's IPv4 path reads a mapped IPV6_PKTINFO). */
static size_t build_tx_ctrl(wr_udp_sock *s, const wr_udp_msg *m, uint16_t segsize, tx_ctrl *ctrl,
                            int peer_v4) {
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  memset(ctrl, 0, sizeof *ctrl);
  mh.msg_control = ctrl->buf;
  mh.msg_controllen = sizeof ctrl->buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  size_t used = 0;

  if (m->local.sa.sa_family != AF_UNSPEC) {
    if (s->family == AF_INET) {
      struct in_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      wr_addr la;
      wr_addr_unmap(&m->local, &la);
      pi.ipi_spec_dst = la.in.sin_addr;
      pi.ipi_ifindex = (int)m->ifindex;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    } else {
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      wr_addr la;
      wr_addr_map(&m->local, &la);
      pi.ipi6_addr = la.in6.sin6_addr;
      pi.ipi6_ifindex = m->ifindex;
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    used += CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
    c = (struct cmsghdr *)(ctrl->buf + used);
  }
  if (m->ecn) {
    int tos = m->ecn & 3;
    /* An IPv4-mapped peer goes out through the kernel's IPv4 path, which reads
     * IP_TOS and ignores IPV6_TCLASS. */
    if (s->family == AF_INET || peer_v4) {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_TOS;
    } else {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_TCLASS;
    }
    c->cmsg_len = CMSG_LEN(sizeof tos);
    memcpy(CMSG_DATA(c), &tos, sizeof tos);
    used += CMSG_SPACE(sizeof tos);
    c = (struct cmsghdr *)(ctrl->buf + used);
  }
  if (segsize) {
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof segsize);
    memcpy(CMSG_DATA(c), &segsize, sizeof segsize);
    used += CMSG_SPACE(sizeof segsize);
  }
  return used;
}

static int msg_valid(const wr_udp_sock *s, const wr_udp_msg *m) {
  if (!m->data || m->len == 0 || m->len > WR_UDP_MAX_SUPER)
    return 0;
  if (m->segsize && m->segsize < m->len && (m->len + m->segsize - 1) / m->segsize > WR_UDP_MAX_SEGS)
    return 0;
  if (m->peer.sa.sa_family == AF_UNSPEC && !s->connected)
    return 0;
  if (m->peer.sa.sa_family == AF_INET6 && s->family == AF_INET)
    return 0;
  if (m->peer.sa.sa_family == AF_INET && s->family == AF_INET6 && !s->dualstack)
    return 0;
  if (m->local.sa.sa_family == AF_INET6 && s->family == AF_INET &&
      !IN6_IS_ADDR_V4MAPPED(&m->local.in6.sin6_addr))
    return 0;
  if (m->local.sa.sa_family == AF_INET && s->family == AF_INET6 && !s->dualstack)
    return 0;
  if (m->local.sa.sa_family != AF_UNSPEC && m->local.sa.sa_family != AF_INET &&
      m->local.sa.sa_family != AF_INET6)
    return 0;
  return 1;
}

static int is_gso(const wr_udp_msg *m) { return m->segsize && m->segsize < m->len; }

static size_t nsegs_of(const wr_udp_msg *m) {
  return is_gso(m) ? (m->len + m->segsize - 1) / m->segsize : 1;
}

/* The peer as this socket's family writes it (IPv4 mapped on a dual-stack
 * socket), and whether the datagram goes out over IPv4. */
static wr_addr tx_peer(const wr_udp_sock *s, const wr_udp_msg *m, int *pv4) {
  wr_addr peer;
  if (m->peer.sa.sa_family == AF_INET && s->family == AF_INET6) {
    wr_addr_map(&m->peer, &peer);
    *pv4 = 1;
  } else {
    peer = m->peer;
    *pv4 = s->family == AF_INET6 && peer.sa.sa_family == AF_INET6 &&
           IN6_IS_ADDR_V4MAPPED(&peer.in6.sin6_addr);
  }
  if (peer.sa.sa_family == AF_UNSPEC)
    *pv4 = s->conn_v4;
  return peer;
}

/* Fills header nh for message mi of msgs: the whole message (as one GSO
 * send when gso), or with split its segment so. */
static void fill_header(wr_udp_sock *s, size_t nh, const wr_udp_msg *m, size_t mi, size_t so,
                        int split, int gso) {
  int peer_v4;
  wr_addr peer = tx_peer(s, m, &peer_v4);
  size_t off = split ? so * m->segsize : 0;
  size_t len = !split ? m->len : m->len - off < m->segsize ? m->len - off : m->segsize;
  struct mmsghdr *h = &s->tx_msgs[nh];
  memset(h, 0, sizeof *h);
  s->tx_iov[nh].iov_base = (void *)(m->data + off);
  s->tx_iov[nh].iov_len = len;
  h->msg_hdr.msg_iov = &s->tx_iov[nh];
  h->msg_hdr.msg_iovlen = 1;
  if (peer.sa.sa_family != AF_UNSPEC) {
    s->tx_names[nh] = peer;
    h->msg_hdr.msg_name = &s->tx_names[nh].sa;
    h->msg_hdr.msg_namelen = peer.len;
  }
  size_t cl = build_tx_ctrl(s, m, gso ? (uint16_t)m->segsize : 0, &s->tx_ctrls[nh], peer_v4);
  h->msg_hdr.msg_control = cl ? s->tx_ctrls[nh].buf : NULL;
  h->msg_hdr.msg_controllen = cl;
  tx_slot *sl = &s->tx_slots[nh];
  sl->msg = mi;
  sl->gso = gso;
  sl->nsegs = gso ? nsegs_of(m) : 1;
  sl->last = !split || so + 1 == nsegs_of(m);
}

/* Builds up to WR_UDP_MAX_BATCH headers from msgs[consumed] (its first
 * seg_off segments already sent); split_msg is sent as single datagrams.
 * Returns how many. */
static size_t build_batch(wr_udp_sock *s, const wr_udp_msg *msgs, size_t n, size_t consumed,
                          size_t seg_off, size_t split_msg) {
  size_t nh = 0, mi = consumed, so = seg_off;
  while (nh < WR_UDP_MAX_BATCH && mi < n) {
    const wr_udp_msg *m = &msgs[mi];
    int split = is_gso(m) && (!s->gso || mi == split_msg);
    int gso = is_gso(m) && !split;
    if (gso && s->cfg.force_gso_fallback && nh > 0)
      break; /* let the simulated refusal hit this message first in the next call */
    fill_header(s, nh, m, mi, so, split, gso);
    so = s->tx_slots[nh].last ? 0 : so + 1;
    mi += s->tx_slots[nh].last;
    nh++;
  }
  return nh;
}

/* sendmmsg of the nh headers built, or the test hook's simulated GSO
 * refusal. Returns what sendmmsg returns, with the errno in *pe. */
static int send_batch(wr_udp_sock *s, size_t nh, int *pe) {
  int rv;
  *pe = 0;
  s->stats.tx_calls++;
  if (s->cfg.force_gso_fallback && s->gso && s->tx_slots[0].gso) {
    *pe = EIO; /* the test hook: the kernel "refuses" GSO */
    return -1;
  }
  do {
    rv = sendmmsg(s->fd, s->tx_msgs, (unsigned)nh, MSG_DONTWAIT);
  } while (rv < 0 && errno == EINTR);
  if (rv < 0)
    *pe = errno;
  return rv;
}

/* Counts the rv headers that went out and moves *pconsumed / *pseg_off past
 * them. A single datagram of a refused GSO run that went out shows GSO
 * itself was the problem: it is switched off for this socket. */
static void account_sent(wr_udp_sock *s, int rv, size_t split_msg, size_t *pconsumed,
                         size_t *pseg_off) {
  char abuf[WR_ADDR_STRLEN];
  for (int k = 0; k < rv; k++) {
    tx_slot *sl = &s->tx_slots[k];
    s->stats.tx_datagrams += sl->nsegs;
    s->stats.tx_bytes += s->tx_iov[k].iov_len;
    if (sl->gso)
      s->stats.tx_gso_sends++;
    if (sl->msg == split_msg && s->gso) {
      s->gso = 0;
      WR_INFO("UDP GSO refused by the kernel, sending single datagrams", "addr=%s",
              wr_addr_format(&s->local, abuf, sizeof abuf));
    }
    if (sl->last) {
      *pconsumed = sl->msg + 1;
      *pseg_off = 0;
    } else {
      if (*pconsumed != sl->msg) {
        *pconsumed = sl->msg;
        *pseg_off = 0;
      }
      (*pseg_off)++;
    }
  }
}

int wr_udp_send(wr_udp_sock *s, const wr_udp_msg *msgs, size_t n) {
  size_t consumed = 0;   /* messages fully done */
  size_t seg_off = 0;    /* segments of msgs[consumed] already sent when split */
  size_t split_msg = SIZE_MAX; /* a message being retried as single datagrams */
  int split_probe = 0;   /* the next single datagram decides whether GSO is at fault */
  int refused_retry = 0; /* already resent after a stale ECONNREFUSED */

  for (size_t i = 0; i < n; i++)
    if (!msg_valid(s, &msgs[i]))
      return WR_ERR_INVAL;

  while (consumed < n) {
    size_t nh = build_batch(s, msgs, n, consumed, seg_off, split_msg);
    int e, rv = send_batch(s, nh, &e);
    if (rv > 0) {
      split_probe = 0;
      refused_retry = 0;
      account_sent(s, rv, split_msg, &consumed, &seg_off);
      continue;
    }

    /* rv < 0: the first header failed. */
    tx_slot *first = &s->tx_slots[0];
    if (e == EAGAIN || e == EWOULDBLOCK) {
      s->stats.tx_again++;
      if (consumed == 0 && seg_off == 0)
        return WR_ERR_AGAIN;
      if (seg_off > 0) {
        /* A split message cut short: the rest is lost, like a dropped packet. */
        s->stats.tx_errors++;
        consumed++;
      }
      return (int)consumed;
    }
    if (e == ECONNREFUSED && !refused_retry) {
      /* The socket reports an earlier ICMP port unreachable on the next send
       * (a connected one always, any with IP_RECVERR), which then sends
       * nothing; the error is cleared now, so send again: the peer may be
       * back, and on an unconnected socket the error was about another. */
      refused_retry = 1;
      continue;
    }
    if (first->gso && (e == EIO || e == EINVAL) && !split_probe) {
      /* Maybe GSO was refused: resend this message as single datagrams; the
       * first of them tells whether the message itself is at fault. */
      split_msg = first->msg;
      split_probe = 1;
      continue;
    }
    /* The kernel refused this datagram (unreachable, source not local, ...):
     * drop it as the network would, and go on with the next. */
    char abuf[WR_ADDR_STRLEN];
    s->stats.tx_errors++;
    WR_DEBUG("UDP send dropped a datagram", "peer=%s error=\"%s\"",
             wr_addr_format(&msgs[first->msg].peer, abuf, sizeof abuf), strerror(e));
    /* Drop the whole message: the rest of a split run goes with it. */
    consumed = first->msg + 1;
    seg_off = 0;
    if (first->msg == split_msg)
      split_msg = SIZE_MAX;
    split_probe = 0;
    refused_retry = 0;
  }
  return (int)consumed;
}

/* -------------------------------------------------------------------- libuv */

static void on_poll(uv_poll_t *h, int status, int events);

static void update_poll(wr_udp_sock *s) {
  if (!s->attached || s->closing)
    return;
  int ev = (s->reading ? UV_READABLE : 0) | (s->write_cb ? UV_WRITABLE : 0);
  if (ev)
    uv_poll_start(&s->poll, ev, on_poll);
  else
    uv_poll_stop(&s->poll);
}

/* Reads the error queue: ICMP errors the kernel matched to datagrams sent
 * (IP_RECVERR). Port unreachables go to refused_cb; the rest are only
 * drained. At most a batch per wakeup, like receives. */
static void drain_errors(wr_udp_sock *s) {
  for (unsigned i = 0; i < s->cfg.batch && !s->closing; i++) {
    uint8_t quote[128];
    struct sockaddr_storage name;
    union {
      struct cmsghdr align;
      uint8_t buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)) * 2];
    } ctrl;
    struct iovec iov = {quote, sizeof quote};
    struct msghdr mh = {.msg_name = &name, .msg_namelen = sizeof name, .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = ctrl.buf,
                        .msg_controllen = sizeof ctrl.buf};
    ssize_t n;
    do {
      n = recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
      break;
    const struct sock_extended_err *ee = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR))
        ee = (const struct sock_extended_err *)CMSG_DATA(c);
    if (!ee || ee->ee_errno != ECONNREFUSED ||
        (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6))
      continue;
    s->stats.rx_icmp_refused++;
    if (!s->refused_cb || mh.msg_namelen > sizeof name)
      continue;
    wr_addr peer;
    wr_addr_from_sockaddr((struct sockaddr *)&name, &peer);
    s->refused_cb(s, &peer, quote, (size_t)n, s->user);
  }
  /* A connected socket also keeps the error in SO_ERROR, which would leave
   * POLLERR raised: reading it clears it. */
  (void)getint(s->fd, SOL_SOCKET, SO_ERROR);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  wr_udp_sock *s = h->data;
  if (status < 0) {
    /* libuv stops the handle on POLLERR, which is how a queued ICMP error
     * shows: read the queue, then watch the socket again. */
    drain_errors(s);
    update_poll(s);
    return;
  }
  if ((events & UV_WRITABLE) && s->write_cb && !s->closing) {
    wr_udp_writable_cb cb = s->write_cb;
    s->write_cb = NULL;
    update_poll(s);
    cb(s, s->user);
  }
  if ((events & UV_READABLE) && s->reading && !s->closing) {
    const wr_udp_dgram *d;
    int n = wr_udp_recv(s, &d);
    if (n > 0)
      s->recv_cb(s, d, (size_t)n, s->user);
    else if (n != WR_ERR_AGAIN)
      WR_DEBUG("UDP receive error", "error=\"%s\"", wr_strerror(n));
  }
}

int wr_udp_start(wr_udp_sock *s, uv_loop_t *loop, wr_udp_recv_cb cb, void *user) {
  if (s->reading || s->closing || !cb)
    return WR_ERR_INVAL;
  if (!s->attached) {
    int rv = uv_poll_init(loop, &s->poll, s->fd);
    if (rv < 0) {
      WR_ERROR("Cannot watch UDP socket", "error=\"%s\"", uv_strerror(rv));
      return WR_ERR_IO;
    }
    s->poll.data = s;
    s->attached = 1;
  } else if (s->poll.loop != loop) {
    return WR_ERR_INVAL;
  }
  s->recv_cb = cb;
  s->user = user;
  s->reading = 1;
  int ev = UV_READABLE | (s->write_cb ? UV_WRITABLE : 0);
  int rv = uv_poll_start(&s->poll, ev, on_poll);
  if (rv < 0) {
    s->reading = 0;
    WR_ERROR("Cannot watch UDP socket", "error=\"%s\"", uv_strerror(rv));
    return WR_ERR_IO;
  }
  return 0;
}

int wr_udp_on_refused(wr_udp_sock *s, wr_udp_refused_cb cb) {
  /* ICMP errors for datagrams sent from an unconnected socket are dropped
   * unless asked for: with RECVERR a dead peer's "port unreachable" reaches
   * the error queue at once, instead of the peer looking silent until a
   * timeout. Only sockets that listen for them ask, since a pending error
   * also fails the next send or receive once (both retry). */
  int on = cb != NULL, fail = 0;
  if (s->family == AF_INET6)
    fail |= setint(s->fd, IPPROTO_IPV6, IPV6_RECVERR, on);
  if (s->family == AF_INET || s->dualstack)
    fail |= setint(s->fd, IPPROTO_IP, IP_RECVERR, on);
  if (fail) {
    WR_WARN("Cannot read ICMP errors on UDP socket", "error=\"%s\"", strerror(errno));
    return WR_ERR_IO;
  }
  s->refused_cb = cb;
  return 0;
}

void wr_udp_stop(wr_udp_sock *s) {
  s->reading = 0;
  update_poll(s);
}

void wr_udp_want_write(wr_udp_sock *s, wr_udp_writable_cb cb) {
  if (!s->attached || s->closing)
    return;
  s->write_cb = cb;
  int ev = (s->reading ? UV_READABLE : 0) | (cb ? UV_WRITABLE : 0);
  if (ev)
    uv_poll_start(&s->poll, ev, on_poll);
  else
    uv_poll_stop(&s->poll);
}

static void on_closed(uv_handle_t *h) {
  wr_udp_sock *s = h->data;
  wr_udp_close_cb cb = s->close_cb;
  void *arg = s->close_arg;
  sock_free(s);
  if (cb)
    cb(arg);
}

void wr_udp_close(wr_udp_sock *s, wr_udp_close_cb cb, void *arg) {
  if (!s)
    return;
  if (!s->attached) {
    sock_free(s);
    if (cb)
      cb(arg);
    return;
  }
  if (s->closing)
    return;
  s->closing = 1;
  s->reading = 0;
  s->write_cb = NULL;
  s->close_cb = cb;
  s->close_arg = arg;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

void wr_udp_del(wr_udp_sock *s) {
  if (!s)
    return;
  if (s->attached) {
    /* Started sockets must close through the loop; do that without a callback. */
    wr_udp_close(s, NULL, NULL);
    return;
  }
  sock_free(s);
}

int wr_udp_fd(const wr_udp_sock *s) { return s->fd; }
const wr_addr *wr_udp_local_addr(const wr_udp_sock *s) { return &s->local; }
int wr_udp_family(const wr_udp_sock *s) { return s->family; }
size_t wr_udp_rcvbuf(const wr_udp_sock *s) { return s->rcvbuf; }
size_t wr_udp_sndbuf(const wr_udp_sock *s) { return s->sndbuf; }
int wr_udp_gso_enabled(const wr_udp_sock *s) { return s->gso; }
int wr_udp_gro_enabled(const wr_udp_sock *s) { return s->gro; }
const wr_udp_stats *wr_udp_get_stats(const wr_udp_sock *s) { return &s->stats; }
void *wr_udp_user(const wr_udp_sock *s) { return s->user; }

/* -------------------------------------------------------------------- batch */

int wr_udp_batch_init(wr_udp_batch *b, size_t cap) {
  memset(b, 0, sizeof *b);
  if (cap == 0)
    return WR_ERR_INVAL;
  b->buf = wr_malloc(cap);
  if (!b->buf)
    return WR_ERR_NOMEM;
  b->cap = cap;
  return 0;
}

void wr_udp_batch_free(wr_udp_batch *b) {
  wr_free(b->buf);
  memset(b, 0, sizeof *b);
}

void wr_udp_batch_reset(wr_udp_batch *b) {
  b->used = 0;
  b->nmsgs = 0;
  b->head = 0;
  b->run_open = 0;
}

uint8_t *wr_udp_batch_space(wr_udp_batch *b, size_t *pavail) {
  size_t avail = b->cap - b->used;
  if (avail > WR_UDP_MAX_SUPER)
    avail = WR_UDP_MAX_SUPER;
  if (avail == 0 || (b->nmsgs == WR_UDP_MAX_BATCH && !b->run_open)) {
    *pavail = 0;
    return NULL;
  }
  *pavail = avail;
  return b->buf + b->used;
}

static int same_addr_exact(const wr_addr *a, const wr_addr *b) {
  return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

int wr_udp_batch_commit(wr_udp_batch *b, size_t len, const wr_addr *peer,
                        const wr_addr *local, unsigned ifindex, uint8_t ecn) {
  static const wr_addr none;
  if (!peer)
    peer = &none;
  if (!local)
    local = &none;
  if (len == 0 || len > b->cap - b->used || len > WR_UDP_MAX_SUPER)
    return WR_ERR_INVAL;
  if (b->run_open && b->nmsgs > b->head) {
    wr_udp_msg *m = &b->msgs[b->nmsgs - 1];
    size_t seg = m->segsize ? m->segsize : m->len;
    size_t nseg = (m->len + seg - 1) / seg;
    if (m->data + m->len == b->buf + b->used && len <= seg && nseg < WR_UDP_MAX_SEGS &&
        m->len + len <= WR_UDP_MAX_SUPER && m->ecn == ecn && m->ifindex == ifindex &&
        same_addr_exact(&m->peer, peer) && same_addr_exact(&m->local, local)) {
      m->segsize = seg;
      m->len += len;
      b->used += len;
      /* A shorter datagram ends a GSO run: only the last may be short. */
      if (len < seg)
        b->run_open = 0;
      return 0;
    }
  }
  if (b->nmsgs == WR_UDP_MAX_BATCH)
    return WR_ERR_LIMIT;
  wr_udp_msg *m = &b->msgs[b->nmsgs++];
  memset(m, 0, sizeof *m);
  m->data = b->buf + b->used;
  m->len = len;
  m->segsize = 0;
  m->peer = *peer;
  m->local = *local;
  m->ifindex = ifindex;
  m->ecn = ecn;
  b->used += len;
  b->run_open = 1;
  return 0;
}

int wr_udp_batch_flush(wr_udp_batch *b, wr_udp_sock *s) {
  while (b->head < b->nmsgs) {
    int rv = wr_udp_send(s, &b->msgs[b->head], b->nmsgs - b->head);
    if (rv < 0)
      return rv;
    b->head += (size_t)rv;
    if (rv == 0)
      return WR_ERR_AGAIN;
    if (b->head < b->nmsgs)
      return WR_ERR_AGAIN; /* stopped by a full buffer mid-way */
  }
  wr_udp_batch_reset(b);
  return 0;
}
