/* udp.h: the UDP datapath.
 *
 * Every UDP socket in warren goes through this module, because of one lesson:
 * a server bound to a wildcard address that answers with plain sendto() lets
 * the kernel pick the reply's source address from the routing table, often
 * not the address the client talked to, and the client drops the reply. So:
 *
 * - every received datagram carries the local address it was sent to
 *   (IP_PKTINFO / IPV6_PKTINFO, both enabled on a dual-stack [::] socket),
 *   the interface it came in on, its ECN bits and its GRO segment size;
 * - every datagram sent carries its source address explicitly in a control
 *   message at the right level (IPPROTO_IP/IP_PKTINFO ipi_spec_dst for IPv4,
 *   IPPROTO_IPV6/IPV6_PKTINFO for IPv6 and IPv4-mapped peers).
 *
 * Receive is batched (recvmmsg into one buffer owned by the socket, UDP_GRO
 * where the kernel has it); send is batched (sendmmsg, UDP_SEGMENT GSO for runs
 * of equal-sized datagrams, with an automatic fallback to single datagrams
 * when the kernel refuses GSO). Nothing is allocated per datagram.
 *
 * Addresses: a dual-stack socket (bound to [::] without v6only) sees IPv4
 * peers as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d); peer and local of a
 * received datagram always have the socket's family, so they can be handed
 * back unchanged on send (and to ngtcp2 as a path: &addr.sa, addr.len).
 *
 * Every socket sets DF (IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE): QUIC must
 * not be fragmented and does its own path MTU discovery.
 *
 * Event loop: the socket plugs into libuv by polling its own fd (uv_poll_t),
 * because libuv's UDP API hides the control messages. Close is asynchronous
 * once a socket is started: memory is freed in the close callback.
 *
 * Not thread-safe: one socket belongs to one loop. */
#ifndef WR_IO_UDP_H
#define WR_IO_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/err.h"
#include "io/addr.h"

/* Most datagrams one receive or send system call handles: bounds the work
 * done per wakeup. */
#define WR_UDP_MAX_BATCH 64
/* Most bytes in one GSO send or one GRO receive (a UDP payload is < 64 KiB). */
#define WR_UDP_MAX_SUPER 65507
/* Most segments the kernel accepts in one GSO send (UDP_MAX_SEGMENTS). */
#define WR_UDP_MAX_SEGS 64
/* Default socket buffer size asked for, each way. */
#define WR_UDP_DEFAULT_BUF (8u * 1024 * 1024)
/* ECN codepoints (the low two bits of the TOS / traffic class byte). */
enum {
  WR_UDP_ECN_NOT = 0,
  WR_UDP_ECN_ECT1 = 1,
  WR_UDP_ECN_ECT0 = 2,
  WR_UDP_ECN_CE = 3,
};

/* Socket options. Zero-initialise, then set what you need; zero means default. */
typedef struct wr_udp_config {
  size_t rcvbuf;     /* SO_RCVBUF asked for (default WR_UDP_DEFAULT_BUF) */
  size_t sndbuf;     /* SO_SNDBUF asked for (default WR_UDP_DEFAULT_BUF) */
  unsigned batch;    /* datagrams per recvmmsg call, 1..WR_UDP_MAX_BATCH (default 32) */
  int v6only;        /* on an IPv6 socket: 1 = IPv6 only; 0 = dual-stack (default) */
  int reuseport;     /* 1 = SO_REUSEPORT (one socket per loop on the edge) */
  int no_gso;        /* 1 = never use UDP_SEGMENT: always send single datagrams */
  int no_gro;        /* 1 = do not enable UDP_GRO */
  int force_gso_fallback; /* test hook: act as if the kernel refused the first GSO
                             send with EIO (the fallback path runs for real) */
} wr_udp_config;

/* One received datagram, or with GRO several datagrams of segsize bytes each
 * from the same peer to the same local address (the last may be shorter).
 * data points into the socket's receive buffer: valid only until the receive
 * callback returns (or the next wr_udp_recv); copy what must outlive it. */
typedef struct wr_udp_dgram {
  uint8_t *data;
  size_t len;       /* bytes at data, all segments together */
  size_t segsize;   /* size of each coalesced datagram; == len when not coalesced */
  wr_addr peer;     /* who sent it */
  wr_addr local;    /* the address it was sent to (PKTINFO), with the socket's
                       port;    AF_UNSPEC only if the kernel gave no PKTINFO */
  unsigned ifindex; /* interface it arrived on (0 if unknown) */
  uint8_t ecn;      /* WR_UDP_ECN_* */
} wr_udp_dgram;

/* Iterates over the datagrams coalesced in one wr_udp_dgram:
 *   WR_UDP_DGRAM_FOREACH_SEG(d, p, n) { handle(p, n); } */
#define WR_UDP_DGRAM_FOREACH_SEG(d, p, n)                                              \
  for (size_t wr_off_ = 0, n = 0; wr_off_ < (d)->len; wr_off_ += n)                    \
    for (const uint8_t *p = (n = ((d)->len - wr_off_ < (d)->segsize || !(d)->segsize)  \
                                     ? (d)->len - wr_off_                              \
                                     : (d)->segsize,                                   \
                           (d)->data + wr_off_);                                       \
         p; p = NULL)

/* One message to send: a single datagram, or a GSO run of equal-sized
 * datagrams laid out back to back (segsize bytes each, the last may be
 * shorter; at most WR_UDP_MAX_SEGS segments and WR_UDP_MAX_SUPER bytes).
 * data must stay valid until wr_udp_send returns; it is not kept. */
typedef struct wr_udp_msg {
  const uint8_t *data;
  size_t len;
  size_t segsize;    /* 0 or >= len: one datagram */
  wr_addr peer;      /* destination; AF_UNSPEC on a connected socket */
  wr_addr local;     /* source address put on the wire (port ignored). A server
                            must set it (copy wr_udp_dgram.local); AF_UNSPEC leaves
                            the choice to the kernel, right only for a client. */
  unsigned ifindex;  /* outgoing interface; 0 lets routing choose (set it for
                        IPv6 link-local sources) */
  uint8_t ecn;       /* WR_UDP_ECN_* to mark */
} wr_udp_msg;

/* Counters since the socket was opened. */
typedef struct wr_udp_stats {
  uint64_t rx_datagrams;  /* datagrams received (GRO segments counted one by one) */
  uint64_t rx_bytes;
  uint64_t rx_calls;      /* recvmmsg calls that returned data */
  uint64_t rx_truncated;  /* datagrams dropped because they did not fit */
  uint64_t tx_datagrams;  /* datagrams handed to the kernel (segments counted) */
  uint64_t tx_bytes;
  uint64_t tx_calls;      /* sendmmsg calls */
  uint64_t tx_gso_sends;  /* messages sent as one GSO super-datagram */
  uint64_t tx_errors;     /* messages dropped because the kernel refused them */
  uint64_t tx_again;      /* sends stopped by a full socket buffer */
  uint64_t rx_icmp_refused; /* ICMP port unreachables for datagrams sent (error queue) */
} wr_udp_stats;

typedef struct wr_udp_sock wr_udp_sock;

/* Called from the loop with up to the configured batch of datagrams. The
 * array and every data pointer are valid only during the call. The callback
 * may send on this or any socket, and may call wr_udp_stop or wr_udp_close on
 * this socket (then no further datagrams of this batch are delivered). */
typedef void (*wr_udp_recv_cb)(wr_udp_sock *s, const wr_udp_dgram *dgrams, size_t n,
                               void *user);
/* Called once when the socket can take more datagrams, after wr_udp_want_write. */
typedef void (*wr_udp_writable_cb)(wr_udp_sock *s, void *user);
/* A datagram this socket sent to peer was answered by ICMP "port
 * unreachable" (nothing listens there: the peer's process is gone, or a
 * firewall rejects). data and len are the start of that datagram as the ICMP
 * message quoted it, so the receiver can tell which connection it was (an
 * off-path forger does not know the connection IDs); valid during the call.
 * The callback may send, stop or close the socket. */
typedef void (*wr_udp_refused_cb)(wr_udp_sock *s, const wr_addr *peer, const uint8_t *data,
                                  size_t len, void *user);
/* Called when an asynchronous close has finished; the socket is freed already. */
typedef void (*wr_udp_close_cb)(void *arg);

/* Opens a UDP socket bound to bind_addr (port 0 picks a free port) with
 * PKTINFO, ECN reception, GRO where available and large buffers. cfg may be
 * NULL for defaults. Logs one INF line with the buffer sizes granted.
 * Returns 0 and *ps (owned by the caller: wr_udp_close / wr_udp_del), or
 * WR_ERR_INVAL (bad address or config), WR_ERR_ADDRINUSE,
 * WR_ERR_DENIED, WR_ERR_NOMEM, WR_ERR_IO; an error is logged with its cause. */
WR_MUST_CHECK int wr_udp_open(wr_udp_sock **ps, const wr_addr *bind_addr,
                              const wr_udp_config *cfg);

/* Connects the socket to peer (a client): the kernel then drops datagrams
 * from any other address, which is how the wrong-source bug looks to a client.
 * On a dual-stack socket an IPv4 peer is mapped. Returns 0, WR_ERR_INVAL, WR_ERR_IO. */
WR_MUST_CHECK int wr_udp_connect(wr_udp_sock *s, const wr_addr *peer);

/* Receives up to the configured batch with one recvmmsg call, without
 * waiting. Returns the number of entries at *pdgrams (>= 1), WR_ERR_AGAIN when
 * nothing is queued, WR_ERR_IO. The array and data live in the socket and
 * stay valid until the next wr_udp_recv or close. For callers that poll
 * themselves (tests, benchmarks); a started socket delivers to its callback. */
WR_MUST_CHECK int wr_udp_recv(wr_udp_sock *s, const wr_udp_dgram **pdgrams);

/* Sends n messages with sendmmsg (several calls when n is large or GSO is
 * split), each with its source address, ECN mark and GSO segment size in
 * control messages. A message the kernel refuses (unreachable network,
 * source address not local, ...) is dropped and counted in tx_errors, as
 * the network would drop it. When the kernel refuses GSO itself (EIO, or
 * EINVAL that single datagrams do not also get) GSO is switched off for this
 * socket, logged once, and that message is resent as single datagrams.
 * Returns the number of messages consumed from the front of msgs (sent or
 * dropped, 0..n), or WR_ERR_AGAIN when the socket buffer is full before the
 * first one (call wr_udp_want_write and retry msgs[consumed..] later), or
 * WR_ERR_INVAL for a malformed message (nothing is sent then). A GSO message
 * goes out whole; only when GSO is off and the buffer fills in the middle of
 * splitting one into single datagrams is its rest dropped (counted in
 * tx_errors and tx_again), as loss on the wire would. A stale ICMP error
 * reported by the send (ECONNREFUSED: on a connected socket, or about another
 * peer on an unconnected one) is cleared and the datagram sent again. */
WR_MUST_CHECK int wr_udp_send(wr_udp_sock *s, const wr_udp_msg *msgs, size_t n);

/* Starts delivering received datagrams to cb on loop. Each wakeup does one
 * recvmmsg (at most cfg.batch datagrams), so one busy socket cannot starve the
 * loop. Returns 0, WR_ERR_INVAL (already started), WR_ERR_IO. */
WR_MUST_CHECK int wr_udp_start(wr_udp_sock *s, uv_loop_t *loop, wr_udp_recv_cb cb, void *user);
/* Sets (or with NULL clears) the callback for ICMP port unreachables: the
 * socket asks the kernel for them (IP_RECVERR, IPV6_RECVERR), reads them from
 * its error queue while it is started, and counts them in rx_icmp_refused.
 * Returns 0, or WR_ERR_IO when the kernel refuses the option (logged; the
 * socket works on without). */
WR_MUST_CHECK int wr_udp_on_refused(wr_udp_sock *s, wr_udp_refused_cb cb);
/* Stops delivering datagrams (they queue in the kernel); wr_udp_start resumes.
 * The socket stays attached to its loop until wr_udp_close. */
void wr_udp_stop(wr_udp_sock *s);
/* Asks for one call of cb when the socket becomes writable (after
 * WR_ERR_AGAIN). cb NULL cancels. The socket must be started. */
void wr_udp_want_write(wr_udp_sock *s, wr_udp_writable_cb cb);

/* Closes the socket. Started sockets close asynchronously: the fd and memory
 * are released in libuv's close callback, then cb(arg) runs (cb may be NULL).
 * A socket never started is released at once and cb(arg) is called before
 * returning. No callback of the socket runs after this call. */
void wr_udp_close(wr_udp_sock *s, wr_udp_close_cb cb, void *arg);
/* Releases a socket that was never started, at once. */
void wr_udp_del(wr_udp_sock *s);

/* Accessors. */
int wr_udp_fd(const wr_udp_sock *s);
/* The bound address, with the port the kernel picked. */
const wr_addr *wr_udp_local_addr(const wr_udp_sock *s);
/* Socket family: AF_INET or AF_INET6. */
int wr_udp_family(const wr_udp_sock *s);
/* Buffer sizes the kernel granted (as getsockopt reports them). */
size_t wr_udp_rcvbuf(const wr_udp_sock *s);
size_t wr_udp_sndbuf(const wr_udp_sock *s);
/* 1 while GSO sends are in use (0 after no_gso or a refused GSO send). */
int wr_udp_gso_enabled(const wr_udp_sock *s);
/* 1 when the kernel accepted UDP_GRO. */
int wr_udp_gro_enabled(const wr_udp_sock *s);
const wr_udp_stats *wr_udp_get_stats(const wr_udp_sock *s);
/* The user pointer given to wr_udp_start. */
void *wr_udp_user(const wr_udp_sock *s);

/* A send batch: a buffer the caller writes datagrams into (QUIC writes each
 * packet straight into it), turned into wr_udp_msg entries that group
 * back-to-back datagrams of equal size to the same peer/source/ECN into one
 * GSO message. Usage per flush:
 *
 *   uint8_t *p = wr_udp_batch_space(b, &avail);   // write a datagram at p
 *   wr_udp_batch_commit(b, len, &peer, &local, ifindex, ecn);
 *   ... more datagrams ...
 *   rv = wr_udp_batch_flush(b, s);                 // sends what is queued
 *
 * The batch's memory is allocated once by wr_udp_batch_init. */
typedef struct wr_udp_batch {
  uint8_t *buf;
  size_t cap;   /* bytes in buf */
  size_t used;  /* bytes committed */
  wr_udp_msg msgs[WR_UDP_MAX_BATCH];
  size_t nmsgs; /* entries in msgs */
  size_t head;  /* entries already sent by earlier flushes */
  int run_open; /* the last entry may still take equal-sized datagrams */
} wr_udp_batch;

/* Allocates cap bytes of datagram space (e.g. 64 KiB). WR_ERR_NOMEM, WR_ERR_INVAL. */
WR_MUST_CHECK int wr_udp_batch_init(wr_udp_batch *b, size_t cap);
void wr_udp_batch_free(wr_udp_batch *b);
/* Where the next datagram goes, with *pavail bytes free there (at most the
 * most a datagram can take). NULL when the batch is full: flush first. */
uint8_t *wr_udp_batch_space(wr_udp_batch *b, size_t *pavail);
/* Commits the len bytes just written at wr_udp_batch_space. peer/local may be
 * NULL for AF_UNSPEC. Returns 0, WR_ERR_INVAL (len 0 or past the space),
 * WR_ERR_LIMIT (no message slot left: flush first; nothing was committed). */
WR_MUST_CHECK int wr_udp_batch_commit(wr_udp_batch *b, size_t len,
                                      const wr_addr *peer, const wr_addr *local,
                                      unsigned ifindex, uint8_t ecn);
/* Sends the queued messages. Returns 0 when all were sent (the batch is empty
 * again), WR_ERR_AGAIN when the socket is full (the rest stays queued: call
 * again once writable), or another negative error from wr_udp_send. */
WR_MUST_CHECK int wr_udp_batch_flush(wr_udp_batch *b, wr_udp_sock *s);
/* 1 when nothing is queued. */
static inline int wr_udp_batch_empty(const wr_udp_batch *b) { return b->head == b->nmsgs; }
/* Drops everything queued. */
void wr_udp_batch_reset(wr_udp_batch *b);

#endif
