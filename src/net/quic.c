/* quic.c: ngtcp2 0.12 connections on the UDP datapath and a libuv loop.
 *
 * One endpoint = one wr_udp_sock + a table from connection ID to connection.
 * Received datagrams are dispatched by destination connection ID; every
 * connection touched by a receive batch writes once at the end of the batch,
 * so acknowledgements coalesce. Each connection has one uv_timer, re-armed
 * from ngtcp2_conn_get_expiry after every read and write. Writes go through a
 * wr_udp_batch, which groups back-to-back equal-sized packets into one GSO
 * send; the loop that decides how many packets form a batch is conn_write. */
#include "net/quic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

#include "base/buf.h"
#include "base/chunk.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/random.h"
#include "io/udp.h"

#define SCID_LEN 16            /* every connection ID we issue has this length */
#define MAX_FREE_CHUNKS 256 /* send queue chunks kept per endpoint for reuse (4 MiB) */
#define TXBUF_SIZE WR_UDP_MAX_SUPER
#define MAX_BATCHES_PER_WRITE 8 /* bounded work per wakeup: 8 GSO batches */
#define MAX_IOV 16
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)
#define RESETS_PER_SECOND 200 /* stateless resets sent at most */
#define CLOSE_REASON_LEN 400

enum conn_state { ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_DRAINING, ST_DEAD };

struct wr_quic_stream {
  wr_quic_conn *c;
  int64_t id;
  void *user_data;
  struct wr_quic_stream *prev, *next;         /* all streams of the connection */
  struct wr_quic_stream *sq_prev, *sq_next;   /* streams with something to send */
  int in_sendq;
  /* Send queue: bytes [acked, end) live in chunks head..tail; head holds
   * stream offset head_off; [acked, sent) are with ngtcp2, [sent, end) unsent. */
  wr_chunk *head, *tail;
  uint64_t head_off, acked, sent, end;
  wr_chunk *cur;  /* chunk holding offset `sent` */
  size_t cur_pos; /* its index there */
  unsigned fin_queued : 1, fin_sent : 1, write_shut : 1, want_writable : 1, blocked : 1,
      read_shut : 1, reset_seen : 1;
  uint64_t rx_delivered, rx_consumed;
};

struct wr_quic_conn {
  wr_quic_endpoint *ep;
  struct wr_quic_conn *prev, *next; /* endpoint's list */
  struct wr_quic_conn *touched_next;
  int touched;
  ngtcp2_conn *nc;
  wr_tls_session tls;
  uv_timer_t timer;
  wr_quic_callbacks cb;
  void *user_data;
  int is_server;
  enum conn_state state;
  int handshake_counted;
  int connected_pending; /* on_connected to deliver after the read */
  int app_gone;          /* on_closed delivered */
  int close_requested;
  uint64_t close_app_code;
  char close_reason[128];
  int got_stateless_reset;
  uint64_t close_deadline;
  uint8_t *cc_pkt; /* CONNECTION_CLOSE repeated in the closing period */
  size_t cc_len;
  uint64_t cc_recv_count;
  wr_addr local, remote; /* the path */
  unsigned ifindex;
  ngtcp2_cid alias; /* server: the DCID of the client's first Initial */
  int has_alias;
  wr_quic_stream *streams;
  wr_quic_stream *sq_head, *sq_tail;
  size_t nstreams;
  uint64_t lost_closed; /* loss counts of streams already gone */
  uint64_t congestion_events, last_recovery_ts;
  uint64_t pkts_sent, pkts_recv, bytes_sent, bytes_recv, send_batches;
  /* Since when data in flight has waited for any packet from the peer (0:
   * nothing in flight); heard: a packet came in since the last check. */
  uint64_t awaiting_since_ns;
  int heard;
  int ping_wanted; /* wr_quic_conn_ping: the keep-alive is shortened until a write */
  /* ICMP port unreachables for our packets since the last packet from the
   * peer: how many, and when the first came (see ep_on_refused). */
  uint64_t last_rx_ns, refused_since_ns;
  unsigned refused_count;
  int doomed; /* its peer is gone: no new streams, draining follows in this call */
  char idstr[2 * SCID_LEN + 1];
  char alpn[64];
};

struct wr_quic_endpoint {
  uv_loop_t *loop;
  wr_udp_sock *sock;
  wr_udp_batch batch;
  int blocked; /* the socket answered AGAIN: wait for writable */
  wr_quic_config cfg;
  char *alpn;
  int has_server;
  wr_quic_server_config srv;
  uint8_t reset_secret[32], token_secret[32];
  uint8_t hash_key[crypto_shorthash_KEYBYTES];
  /* connection ID table: open addressing, linear probing, tombstones */
  struct cid_slot {
    ngtcp2_cid cid;
    wr_quic_conn *c; /* NULL: empty; TOMBSTONE: deleted */
  } *slots;
  size_t nslots, nused, ntomb;
  wr_quic_conn *conns;
  size_t nconns;
  wr_quic_conn *touched;
  int in_recv;
  wr_chunk_pool chunks;
  uint64_t reset_window_start, resets_in_window;
  wr_quic_endpoint_stats stats;
  ngtcp2_mem mem;
  int closing;
  int abrupt;
  uv_timer_t close_timer; /* runs the close outside any ngtcp2 callback */
  size_t pending_closes;  /* conn timers, the close timer and the socket still closing */
  void (*close_cb)(wr_quic_endpoint *, void *);
  void *close_data;
};

static wr_quic_conn tombstone_conn;
#define TOMBSTONE (&tombstone_conn)

/* ---- small helpers ---- */

/* Random bytes for connection ids, tokens and ngtcp2, whose rand callback
 * has no way to fail. wr_random_bytes fails only when libsodium cannot
 * initialise, and wr_quic_endpoint_new refuses to start then (it draws the
 * endpoint's hash key first), so every later call succeeds: libsodium itself
 * aborts if the kernel stops giving randomness. Should that invariant ever
 * break, abort too rather than put predictable ids on the wire. */
static void rand_bytes(uint8_t *p, size_t n) {
  if (wr_random_bytes(p, n) != 0)
    abort();
}

static void *mem_malloc(size_t n, void *ud) {
  (void)ud;
  return wr_malloc(n);
}
static void mem_free(void *p, void *ud) {
  (void)ud;
  wr_free(p);
}
static void *mem_calloc(size_t n, size_t size, void *ud) {
  (void)ud;
  return wr_calloc(n, size);
}
static void *mem_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return wr_realloc(p, n);
}

static void addr_from_ngtcp2(wr_addr *out, const ngtcp2_addr *a) {
  memset(out, 0, sizeof *out);
  if (a->addrlen > 0 && a->addrlen <= sizeof out->ss) {
    memcpy(&out->ss, a->addr, a->addrlen);
    out->len = a->addrlen;
  }
}

/* ---- connection ID table ---- */

static size_t cid_hash(const wr_quic_endpoint *ep, const ngtcp2_cid *cid) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, cid->data, cid->datalen, ep->hash_key);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return (size_t)v;
}

static int cid_resize(wr_quic_endpoint *ep, size_t nslots) {
  struct cid_slot *old = ep->slots;
  size_t oldn = ep->nslots;
  struct cid_slot *ns = wr_calloc(nslots, sizeof *ns);
  if (!ns)
    return WR_ERR_NOMEM;
  ep->slots = ns;
  ep->nslots = nslots;
  ep->nused = ep->ntomb = 0;
  for (size_t i = 0; i < oldn; i++) {
    if (!old[i].c || old[i].c == TOMBSTONE)
      continue;
    size_t j = cid_hash(ep, &old[i].cid) & (nslots - 1);
    while (ns[j].c)
      j = (j + 1) & (nslots - 1);
    ns[j] = old[i];
    ep->nused++;
  }
  wr_free(old);
  return 0;
}

static wr_quic_conn *cid_find(const wr_quic_endpoint *ep, const uint8_t *data, size_t len) {
  if (!ep->nslots || len > NGTCP2_MAX_CIDLEN)
    return NULL;
  ngtcp2_cid key;
  ngtcp2_cid_init(&key, data, len);
  size_t mask = ep->nslots - 1, i = cid_hash(ep, &key) & mask;
  for (;; i = (i + 1) & mask) {
    const struct cid_slot *s = &ep->slots[i];
    if (!s->c)
      return NULL;
    if (s->c != TOMBSTONE && ngtcp2_cid_eq(&s->cid, &key))
      return s->c;
  }
}

static int cid_add(wr_quic_endpoint *ep, const ngtcp2_cid *cid, wr_quic_conn *c) {
  if ((ep->nused + ep->ntomb + 1) * 2 > ep->nslots) {
    size_t n = ep->nslots ? ep->nslots : 64;
    while ((ep->nused + 1) * 4 > n)
      n *= 2;
    int rc = cid_resize(ep, n);
    if (rc != 0)
      return rc;
  }
  size_t mask = ep->nslots - 1, i = cid_hash(ep, cid) & mask;
  for (;; i = (i + 1) & mask) {
    struct cid_slot *s = &ep->slots[i];
    if (!s->c || s->c == TOMBSTONE) {
      if (s->c == TOMBSTONE)
        ep->ntomb--;
      s->cid = *cid;
      s->c = c;
      ep->nused++;
      return 0;
    }
    if (ngtcp2_cid_eq(&s->cid, cid))
      return WR_ERR_EXISTS;
  }
}

static void cid_remove(wr_quic_endpoint *ep, const ngtcp2_cid *cid, const wr_quic_conn *c) {
  if (!ep->nslots)
    return;
  size_t mask = ep->nslots - 1, i = cid_hash(ep, cid) & mask;
  for (;; i = (i + 1) & mask) {
    struct cid_slot *s = &ep->slots[i];
    if (!s->c)
      return;
    if (s->c != TOMBSTONE && ngtcp2_cid_eq(&s->cid, cid)) {
      if (s->c == c) {
        s->c = TOMBSTONE;
        ep->nused--;
        ep->ntomb++;
      }
      return;
    }
  }
}

/* ---- send queue chunks ---- */

static void sendq_free(wr_quic_stream *s) {
  wr_chunk_put_list(&s->c->ep->chunks, s->head);
  s->head = NULL;
  s->tail = s->cur = NULL;
  s->cur_pos = 0;
  s->head_off = s->acked = s->sent = s->end;
}

/* ---- forward declarations ---- */

static void conn_kick(wr_quic_conn *c);
static void conn_write(wr_quic_conn *c);
static void conn_arm_timer(wr_quic_conn *c);
static void conn_free(wr_quic_conn *c);
static void on_timer(uv_timer_t *t);
static void ep_on_writable(wr_udp_sock *s, void *user);
static void ep_maybe_done(wr_quic_endpoint *ep);

/* ---- stream lists ---- */

static void sendq_add(wr_quic_conn *c, wr_quic_stream *s) {
  if (s->in_sendq)
    return;
  s->in_sendq = 1;
  s->sq_next = NULL;
  s->sq_prev = c->sq_tail;
  if (c->sq_tail)
    c->sq_tail->sq_next = s;
  else
    c->sq_head = s;
  c->sq_tail = s;
}

static void sendq_del(wr_quic_conn *c, wr_quic_stream *s) {
  if (!s->in_sendq)
    return;
  s->in_sendq = 0;
  if (s->sq_prev)
    s->sq_prev->sq_next = s->sq_next;
  else
    c->sq_head = s->sq_next;
  if (s->sq_next)
    s->sq_next->sq_prev = s->sq_prev;
  else
    c->sq_tail = s->sq_prev;
  s->sq_prev = s->sq_next = NULL;
}

static int stream_has_output(const wr_quic_stream *s) {
  if (s->write_shut || s->blocked)
    return 0;
  return s->sent < s->end || (s->fin_queued && !s->fin_sent);
}

static wr_quic_stream *stream_new(wr_quic_conn *c, int64_t id, void *user_data) {
  wr_quic_stream *s = wr_calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->c = c;
  s->id = id;
  s->user_data = user_data;
  s->next = c->streams;
  if (c->streams)
    c->streams->prev = s;
  c->streams = s;
  c->nstreams++;
  return s;
}

/* Unlinks and frees s, after telling the application. */
static void stream_finish(wr_quic_stream *s, int has_code, uint64_t code) {
  wr_quic_conn *c = s->c;
  if (c->nc && c->state <= ST_OPEN && !ngtcp2_conn_is_local_stream(c->nc, s->id)) {
    /* 0.12 does not replenish the peer's stream credit by itself: without
     * this a peer could open only max_streams_bidi streams in a lifetime. */
    if (ngtcp2_is_bidi_stream(s->id))
      ngtcp2_conn_extend_max_streams_bidi(c->nc, 1);
    else
      ngtcp2_conn_extend_max_streams_uni(c->nc, 1);
  }
  if (c->nc) {
    c->lost_closed += ngtcp2_conn_get_stream_loss_count(c->nc, s->id);
    /* Bytes delivered but never consumed still count against the connection
     * window: give them back, or the connection would slowly seize up. */
    if (s->rx_delivered > s->rx_consumed && c->state <= ST_OPEN)
      ngtcp2_conn_extend_max_offset(c->nc, s->rx_delivered - s->rx_consumed);
  }
  if (c->cb.on_stream_close)
    c->cb.on_stream_close(s, has_code, code);
  sendq_del(c, s);
  if (s->prev)
    s->prev->next = s->next;
  else
    c->streams = s->next;
  if (s->next)
    s->next->prev = s->prev;
  c->nstreams--;
  sendq_free(s);
  wr_free(s);
}

/* ---- closing ---- */

static uint64_t close_period(wr_quic_conn *c) {
  return c->nc ? 3 * ngtcp2_conn_get_pto(c->nc) : 3 * NGTCP2_SECONDS;
}

static void conn_uncount(wr_quic_conn *c) {
  if (c->handshake_counted) {
    c->handshake_counted = 0;
    c->ep->stats.handshakes_in_progress--;
  }
}

/* Tells the application the connection is gone: every stream first. */
static void conn_deliver_closed(wr_quic_conn *c, int err, const char *reason) {
  conn_uncount(c);
  if (c->app_gone)
    return;
  c->app_gone = 1;
  while (c->streams) {
    wr_quic_stream *s = c->streams;
    if (c->nc)
      ngtcp2_conn_set_stream_user_data(c->nc, s->id, NULL);
    stream_finish(s, 0, 0);
  }
  if (err && err != WR_ERR_CLOSED)
    WR_DEBUG("QUIC connection closed", "conn=%s err=%s reason=%s", c->idstr, wr_strerror(err),
             reason);
  if (c->cb.on_closed)
    c->cb.on_closed(c, err, reason);
}

/* The interface to pin a send to: only for an IPv6 link-local source, which
 * exists on one interface; otherwise routing chooses (asymmetric routes). */
static unsigned out_ifindex(const wr_addr *local, unsigned ifindex) {
  if (local && local->sa.sa_family == AF_INET6 &&
      IN6_IS_ADDR_LINKLOCAL(&local->in6.sin6_addr))
    return ifindex;
  return 0;
}

static void send_raw(wr_quic_endpoint *ep, const wr_addr *local,
                     const wr_addr *remote, unsigned ifindex,
                     const uint8_t *data, size_t len) {
  if (!ep->sock)
    return;
  wr_udp_msg m;
  memset(&m, 0, sizeof m);
  m.data = data;
  m.len = len;
  m.peer = *remote;
  if (local)
    m.local = *local;
  m.ifindex = out_ifindex(local, ifindex);
  int rc = wr_udp_send(ep->sock, &m, 1);
  if (rc < 0)
    ep->stats.send_errors++;
}

/* Sends a CONNECTION_CLOSE and enters the closing period (RFC 9000 10.2.1). */
static void conn_start_close(wr_quic_conn *c, const ngtcp2_connection_close_error *ccerr, int err,
                             const char *reason) {
  if (c->state >= ST_CLOSING)
    return;
  uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE + 256];
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi = {0};
  ngtcp2_ssize n = 0;
  if (!ngtcp2_conn_is_in_closing_period(c->nc) && !ngtcp2_conn_is_in_draining_period(c->nc))
    n = ngtcp2_conn_write_connection_close(c->nc, &ps.path, &pi, buf, sizeof buf, ccerr,
                                           wr_now_ns());
  c->state = ST_CLOSING;
  if (n > 0 && (c->cc_pkt = wr_malloc((size_t)n)) != NULL) {
    memcpy(c->cc_pkt, buf, (size_t)n);
    c->cc_len = (size_t)n;
    send_raw(c->ep, &c->local, &c->remote, c->ifindex, c->cc_pkt, c->cc_len);
  }
  c->close_deadline = wr_now_ns() + close_period(c);
  conn_deliver_closed(c, err, reason);
  conn_arm_timer(c);
}

/* The peer closed (or reset) the connection: stay silent for the draining period. */
static void conn_start_drain(wr_quic_conn *c, int err, const char *reason) {
  if (c->state >= ST_CLOSING)
    return;
  c->state = ST_DRAINING;
  c->close_deadline = wr_now_ns() + close_period(c);
  conn_deliver_closed(c, err, reason);
  conn_arm_timer(c);
}

/* Explains why the peer closed the connection. */
static int peer_close_reason(wr_quic_conn *c, char *out, size_t outlen) {
  ngtcp2_connection_close_error ce;
  ngtcp2_conn_get_connection_close_error(c->nc, &ce);
  char txt[160] = "";
  if (ce.reasonlen)
    snprintf(txt, sizeof txt, ": %.*s", (int)(ce.reasonlen > 120 ? 120 : ce.reasonlen),
             (const char *)ce.reason);
  if (c->got_stateless_reset) {
    snprintf(out, outlen,
             "the peer reset the connection (stateless reset: it lost the connection's state, "
             "for example by restarting)");
    return WR_ERR_CLOSED;
  }
  if (ce.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
    snprintf(out, outlen, "closed by the peer with application code %llu%s",
             (unsigned long long)ce.error_code, txt);
    return WR_ERR_CLOSED;
  }
  if (ce.error_code >= NGTCP2_CRYPTO_ERROR && ce.error_code < NGTCP2_CRYPTO_ERROR + 0x100) {
    unsigned alert = (unsigned)(ce.error_code - NGTCP2_CRYPTO_ERROR);
    const char *name = gnutls_alert_get_name((gnutls_alert_description_t)alert);
    snprintf(out, outlen, "the peer refused the TLS handshake: alert %u (%s)%s", alert,
             name ? name : "unknown", txt);
    return WR_ERR_DENIED;
  }
  if (ce.error_code == 0)
    snprintf(out, outlen, "closed by the peer%s", txt);
  else
    snprintf(out, outlen, "closed by the peer with transport error 0x%llx%s",
             (unsigned long long)ce.error_code, txt);
  return WR_ERR_CLOSED;
}

/* Handles an error from read_pkt, handle_expiry or a write. */
static void conn_on_error(wr_quic_conn *c, int rv) {
  char reason[CLOSE_REASON_LEN];
  ngtcp2_connection_close_error ccerr;
  ngtcp2_connection_close_error_default(&ccerr);
  switch (rv) {
  case NGTCP2_ERR_DRAINING: {
    int err = peer_close_reason(c, reason, sizeof reason);
    conn_start_drain(c, err, reason);
    return;
  }
  case NGTCP2_ERR_CLOSING:
    conn_start_drain(c, WR_ERR_CLOSED, "the connection is closing");
    return;
  case NGTCP2_ERR_IDLE_CLOSE:
    snprintf(reason, sizeof reason, "idle timeout: nothing heard from the peer for %llu ms",
             (unsigned long long)c->ep->cfg.idle_timeout_ms);
    conn_deliver_closed(c, WR_ERR_TIMEOUT, reason);
    conn_free(c);
    return;
  case NGTCP2_ERR_HANDSHAKE_TIMEOUT: {
    char peer[WR_ADDR_STRLEN];
    snprintf(reason, sizeof reason,
             "the QUIC handshake with %s did not complete within %llu ms (is "
             "it reachable "
             "over UDP?)",
             wr_addr_format(&c->remote, peer, sizeof peer),
             (unsigned long long)c->ep->cfg.handshake_timeout_ms);
    conn_deliver_closed(c, WR_ERR_TIMEOUT, reason);
    conn_free(c);
    return;
  }
  case NGTCP2_ERR_DROP_CONN:
  case NGTCP2_ERR_RETRY:
    conn_deliver_closed(c, WR_ERR_CLOSED, "the connection was dropped");
    conn_free(c);
    return;
  case NGTCP2_ERR_RECV_VERSION_NEGOTIATION:
    conn_deliver_closed(c, WR_ERR_UNSUPPORTED, "the server does not speak QUIC version 1");
    conn_free(c);
    return;
  case NGTCP2_ERR_CRYPTO: {
    uint8_t alert = ngtcp2_conn_get_tls_alert(c->nc);
    ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, alert, NULL, 0);
    if (c->tls.error[0]) {
      snprintf(reason, sizeof reason, "%s", c->tls.error);
    } else {
      const char *name = gnutls_alert_get_name((gnutls_alert_description_t)alert);
      snprintf(reason, sizeof reason, "the TLS handshake failed: alert %u (%s)", alert,
               name ? name : "unknown");
    }
    conn_start_close(c, &ccerr, WR_ERR_DENIED, reason);
    return;
  }
  default:
    ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, rv, NULL, 0);
    snprintf(reason, sizeof reason, "QUIC protocol error: %s", ngtcp2_strerror(rv));
    conn_start_close(c, &ccerr, rv == NGTCP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_MALFORMED,
                     reason);
    return;
  }
}

static void on_conn_timer_closed(uv_handle_t *h) {
  wr_quic_conn *c = h->data;
  wr_quic_endpoint *ep = c->ep;
  wr_free(c->cc_pkt);
  wr_free(c);
  ep->pending_closes--;
  ep_maybe_done(ep);
}

/* Forgets the connection and frees it once its timer handle is closed. */
static void conn_free(wr_quic_conn *c) {
  wr_quic_endpoint *ep = c->ep;
  if (c->state == ST_DEAD)
    return;
  conn_deliver_closed(c, 0, "closed");
  c->state = ST_DEAD;
  if (c->nc) {
    size_t n = ngtcp2_conn_get_num_scid(c->nc);
    ngtcp2_cid local[16];
    ngtcp2_cid *scids = n <= 16 ? local : wr_calloc(n, sizeof *scids);
    if (scids) {
      n = ngtcp2_conn_get_scid(c->nc, scids);
      for (size_t i = 0; i < n; i++)
        cid_remove(ep, &scids[i], c);
      if (scids != local)
        wr_free(scids);
    } else {
      /* Out of memory: sweep the table instead. */
      for (size_t i = 0; i < ep->nslots; i++)
        if (ep->slots[i].c == c) {
          ep->slots[i].c = TOMBSTONE;
          ep->nused--;
          ep->ntomb++;
        }
    }
  }
  if (c->has_alias)
    cid_remove(ep, &c->alias, c);
  if (c->prev)
    c->prev->next = c->next;
  else
    ep->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  ep->nconns--;
  ep->stats.conns_open = ep->nconns;
  if (c->nc) {
    ngtcp2_conn_del(c->nc);
    c->nc = NULL;
  }
  wr_tls_session_free(&c->tls);
  ep->pending_closes++;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
}

/* ---- ngtcp2 callbacks ---- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) {
  wr_quic_conn *c = ref->user_data;
  return c->nc;
}

static void cb_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *ctx) {
  (void)ctx;
  rand_bytes(dest, destlen);
}

static int cb_get_new_connection_id(ngtcp2_conn *nc, ngtcp2_cid *cid, uint8_t *token,
                                    size_t cidlen, void *ud) {
  wr_quic_conn *c = ud;
  (void)nc;
  for (int tries = 0; tries < 8; tries++) {
    rand_bytes(cid->data, cidlen);
    cid->datalen = cidlen;
    if (cid_find(c->ep, cid->data, cid->datalen))
      continue;
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->ep->reset_secret,
                                                     sizeof c->ep->reset_secret, cid) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return cid_add(c->ep, cid, c) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return NGTCP2_ERR_CALLBACK_FAILURE;
}

static int cb_remove_connection_id(ngtcp2_conn *nc, const ngtcp2_cid *cid, void *ud) {
  wr_quic_conn *c = ud;
  (void)nc;
  cid_remove(c->ep, cid, c);
  return 0;
}

static int cb_handshake_completed(ngtcp2_conn *nc, void *ud) {
  wr_quic_conn *c = ud;
  (void)nc;
  c->state = ST_OPEN;
  c->connected_pending = 1;
  wr_tls_session_alpn(&c->tls, c->alpn, sizeof c->alpn);
  conn_uncount(c);
  return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *nc, uint32_t flags, int64_t stream_id,
                               uint64_t offset, const uint8_t *data, size_t datalen, void *ud,
                               void *sud) {
  wr_quic_conn *c = ud;
  wr_quic_stream *s = sud;
  (void)offset;
  int fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;
  if (!s || c->app_gone || !c->cb.on_stream_data) {
    /* Nobody reads it: keep the flow-control windows open. */
    ngtcp2_conn_extend_max_stream_offset(nc, stream_id, datalen);
    ngtcp2_conn_extend_max_offset(nc, datalen);
    return 0;
  }
  s->rx_delivered += datalen;
  c->cb.on_stream_data(s, data, datalen, fin);
  return 0;
}

static int cb_acked_stream_data_offset(ngtcp2_conn *nc, int64_t stream_id, uint64_t offset,
                                       uint64_t datalen, void *ud, void *sud) {
  wr_quic_conn *c = ud;
  wr_quic_stream *s = sud;
  (void)nc;
  (void)stream_id;
  if (!s)
    return 0;
  uint64_t upto = offset + datalen;
  if (upto > s->acked)
    s->acked = upto;
  if (s->acked > s->sent) /* cannot happen; keep the invariant anyway */
    s->acked = s->sent;
  /* Free whole chunks that are acknowledged; an emptied last chunk is reused. */
  while (s->head && s->acked >= s->head_off + s->head->len) {
    wr_chunk *k = s->head;
    if (k == s->tail) {
      if (k->len == WR_CHUNK_SIZE || s->cur != k) {
        s->head = s->tail = NULL;
        s->head_off += k->len;
        s->cur = NULL;
        s->cur_pos = 0;
        wr_chunk_put(&c->ep->chunks, k);
      } else {
        s->head_off += k->len;
        k->len = 0;
        s->cur_pos = 0;
      }
      break;
    }
    s->head = k->next;
    s->head_off += k->len;
    if (s->cur == k) {
      s->cur = s->head;
      s->cur_pos = 0;
    }
    wr_chunk_put(&c->ep->chunks, k);
  }
  size_t limit = c->ep->cfg.send_queue_limit;
  if (s->want_writable && s->end - s->acked <= limit / 2 && !s->write_shut) {
    s->want_writable = 0;
    if (c->cb.on_stream_writable && !c->app_gone)
      c->cb.on_stream_writable(s);
  }
  return 0;
}

static int cb_stream_open(ngtcp2_conn *nc, int64_t stream_id, void *ud) {
  wr_quic_conn *c = ud;
  if (c->app_gone)
    return 0;
  wr_quic_stream *s = stream_new(c, stream_id, NULL);
  if (!s)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  ngtcp2_conn_set_stream_user_data(nc, stream_id, s);
  if (!ngtcp2_is_bidi_stream(stream_id))
    s->write_shut = 1; /* the peer's unidirectional stream: we only read */
  if (c->cb.on_stream_open)
    c->cb.on_stream_open(s);
  return 0;
}

static int cb_stream_close(ngtcp2_conn *nc, uint32_t flags, int64_t stream_id,
                           uint64_t app_error_code, void *ud, void *sud) {
  wr_quic_stream *s = sud;
  (void)nc;
  (void)ud;
  (void)stream_id;
  if (!s)
    return 0;
  stream_finish(s, (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0, app_error_code);
  return 0;
}

static int cb_stream_reset(ngtcp2_conn *nc, int64_t stream_id, uint64_t final_size,
                           uint64_t app_error_code, void *ud, void *sud) {
  wr_quic_conn *c = ud;
  wr_quic_stream *s = sud;
  (void)nc;
  (void)stream_id;
  (void)final_size;
  if (!s || s->reset_seen)
    return 0;
  s->reset_seen = 1;
  if (c->cb.on_stream_reset && !c->app_gone)
    c->cb.on_stream_reset(s, app_error_code);
  return 0;
}

static int cb_extend_max_stream_data(ngtcp2_conn *nc, int64_t stream_id, uint64_t max_data,
                                     void *ud, void *sud) {
  wr_quic_conn *c = ud;
  wr_quic_stream *s = sud;
  (void)nc;
  (void)stream_id;
  (void)max_data;
  if (s && s->blocked) {
    s->blocked = 0;
    if (stream_has_output(s))
      sendq_add(c, s);
  }
  return 0;
}

static int cb_extend_max_local_streams_bidi(ngtcp2_conn *nc, uint64_t max_streams, void *ud) {
  wr_quic_conn *c = ud;
  (void)nc;
  (void)max_streams;
  /* The first call comes with the handshake, before on_connected: the
   * application learns its initial credit from on_connected itself. */
  if (c->cb.on_streams_available && !c->app_gone && c->state == ST_OPEN &&
      !c->connected_pending)
    c->cb.on_streams_available(c);
  return 0;
}

static int cb_recv_stateless_reset(ngtcp2_conn *nc, const ngtcp2_pkt_stateless_reset *sr,
                                   void *ud) {
  wr_quic_conn *c = ud;
  (void)nc;
  (void)sr;
  c->got_stateless_reset = 1;
  return 0;
}

static void log_ngtcp2(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_ngtcp2(void *ud, const char *fmt, ...) {
  wr_quic_conn *c = ud;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "ngtcp2 %s %s\n", c->idstr, line);
}

static void fill_callbacks(ngtcp2_callbacks *cbs, int server) {
  memset(cbs, 0, sizeof *cbs);
  if (server) {
    cbs->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cbs->client_initial = ngtcp2_crypto_client_initial_cb;
    cbs->recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  cbs->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cbs->handshake_completed = cb_handshake_completed;
  cbs->encrypt = ngtcp2_crypto_encrypt_cb;
  cbs->decrypt = ngtcp2_crypto_decrypt_cb;
  cbs->hp_mask = ngtcp2_crypto_hp_mask_cb;
  cbs->recv_stream_data = cb_recv_stream_data;
  cbs->acked_stream_data_offset = cb_acked_stream_data_offset;
  cbs->stream_open = cb_stream_open;
  cbs->stream_close = cb_stream_close;
  cbs->recv_stateless_reset = cb_recv_stateless_reset;
  cbs->extend_max_local_streams_bidi = cb_extend_max_local_streams_bidi;
  cbs->rand = cb_rand;
  cbs->get_new_connection_id = cb_get_new_connection_id;
  cbs->remove_connection_id = cb_remove_connection_id;
  cbs->update_key = ngtcp2_crypto_update_key_cb;
  cbs->stream_reset = cb_stream_reset;
  cbs->extend_max_stream_data = cb_extend_max_stream_data;
  cbs->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cbs->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cbs->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cbs->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}

static void fill_settings(wr_quic_endpoint *ep, wr_quic_conn *c, ngtcp2_settings *st,
                          ngtcp2_transport_params *tp) {
  const wr_quic_config *cfg = &ep->cfg;
  ngtcp2_settings_default(st);
  st->initial_ts = wr_now_ns();
  st->cc_algo = NGTCP2_CC_ALGO_CUBIC; /* BBR/BBR2 in 0.12 collapse on loopback */
  st->max_window = cfg->max_conn_window;
  st->max_stream_window = cfg->max_stream_window;
  st->handshake_timeout = cfg->handshake_timeout_ms * NGTCP2_MILLISECONDS;
  if (getenv("WARREN_NGTCP2_LOG"))
    st->log_printf = log_ngtcp2;
  (void)c;
  ngtcp2_transport_params_default(tp);
  tp->initial_max_stream_data_bidi_local = cfg->stream_window;
  tp->initial_max_stream_data_bidi_remote = cfg->stream_window;
  tp->initial_max_stream_data_uni = cfg->stream_window;
  tp->initial_max_data = cfg->conn_window;
  tp->initial_max_streams_bidi = cfg->max_streams_bidi;
  tp->initial_max_streams_uni = cfg->max_streams_uni;
  tp->max_idle_timeout = cfg->idle_timeout_ms * NGTCP2_MILLISECONDS;
  tp->active_connection_id_limit = 4;
}

static wr_quic_conn *conn_alloc(wr_quic_endpoint *ep, int server) {
  wr_quic_conn *c = wr_calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->ep = ep;
  c->is_server = server;
  c->state = ST_HANDSHAKE;
  uv_timer_init(ep->loop, &c->timer);
  c->timer.data = c;
  c->next = ep->conns;
  if (ep->conns)
    ep->conns->prev = c;
  ep->conns = c;
  ep->nconns++;
  ep->stats.conns_open = ep->nconns;
  c->handshake_counted = 1;
  ep->stats.handshakes_in_progress++;
  return c;
}

/* Undoes conn_alloc for a connection that never got an ngtcp2_conn. */
static void conn_abandon(wr_quic_conn *c) {
  c->app_gone = 1;
  conn_free(c);
}

static void conn_set_path(wr_quic_conn *c, const wr_addr *local,
                          const wr_addr *remote, ngtcp2_path *path) {
  c->local = *local;
  c->remote = *remote;
  path->local.addr = &c->local.sa;
  path->local.addrlen = c->local.len;
  path->remote.addr = &c->remote.sa;
  path->remote.addrlen = c->remote.len;
  path->user_data = NULL;
}

/* ---- writing ---- */

/* Builds the iovec of s's unsent bytes. Returns the count, *ptotal the bytes. */
static size_t stream_iov(wr_quic_stream *s, ngtcp2_vec *iov, size_t max, uint64_t *ptotal) {
  size_t n = 0;
  uint64_t total = 0;
  wr_chunk *k = s->cur;
  size_t pos = s->cur_pos;
  if (!k && s->sent < s->end) {
    k = s->head;
    pos = (size_t)(s->sent - s->head_off);
  }
  while (k && n < max) {
    if (pos < k->len) {
      iov[n].base = k->data + pos;
      iov[n].len = k->len - pos;
      total += iov[n].len;
      n++;
    }
    k = k->next;
    pos = 0;
  }
  *ptotal = total;
  return n;
}

static void stream_advance(wr_quic_stream *s, size_t n) {
  if (!s->cur) {
    s->cur = s->head;
    s->cur_pos = (size_t)(s->sent - s->head_off);
  }
  s->sent += n;
  while (s->cur && n > 0) {
    size_t room = s->cur->len - s->cur_pos;
    if (n < room) {
      s->cur_pos += n;
      n = 0;
      break;
    }
    n -= room;
    if (s->cur->next) {
      s->cur = s->cur->next;
      s->cur_pos = 0;
    } else {
      s->cur_pos = s->cur->len;
    }
  }
}

/* Applies the 0.12 pacing workaround, then records the send time. Before the
 * first RTT sample 0.12 paces from the 333 ms initial RTT and would hold the
 * handshake back by ~20 ms, so the pacing clock only starts once an RTT sample
 * exists (DESIGN.md, "ngtcp2 0.12 notes"). */
static void conn_update_tx_time(wr_quic_conn *c, uint64_t ts) {
  ngtcp2_conn_stat cs;
  ngtcp2_conn_get_conn_stat(c->nc, &cs);
  if (cs.first_rtt_sample_ts != UINT64_MAX)
    ngtcp2_conn_update_pkt_tx_time(c->nc, ts);
}

/* Flushes the endpoint's batch. Returns 0, or WR_ERR_AGAIN when the socket is
 * full (the rest stays queued and the endpoint waits for writable). */
static int ep_flush(wr_quic_endpoint *ep) {
  if (!ep->sock) {
    wr_udp_batch_reset(&ep->batch);
    return WR_ERR_CLOSED;
  }
  if (wr_udp_batch_empty(&ep->batch)) {
    wr_udp_batch_reset(&ep->batch);
    return 0;
  }
  int rc = wr_udp_batch_flush(&ep->batch, ep->sock);
  if (rc == WR_ERR_AGAIN) {
    if (!ep->blocked) {
      ep->blocked = 1;
      wr_udp_want_write(ep->sock, ep_on_writable);
    }
    return WR_ERR_AGAIN;
  }
  if (rc < 0) {
    ep->stats.send_errors++;
    wr_udp_batch_reset(&ep->batch);
  }
  return 0;
}

static void ep_on_writable(wr_udp_sock *sock, void *user) {
  wr_quic_endpoint *ep = user;
  (void)sock;
  ep->blocked = 0;
  if (ep_flush(ep) == WR_ERR_AGAIN)
    return;
  for (wr_quic_conn *c = ep->conns; c; c = c->next)
    if (c->state <= ST_OPEN)
      conn_kick(c);
}

/* Moves s to the back of the send list (round robin between streams), or
 * off it when it has nothing more to send. */
static void sendq_rotate(wr_quic_conn *c, wr_quic_stream *s) {
  sendq_del(c, s);
  if (stream_has_output(s))
    sendq_add(c, s);
}

/* The first stream with output; with conn_blocked (no connection-level
 * credit) only one that just needs its FIN out. */
static wr_quic_stream *pick_stream(wr_quic_conn *c, int conn_blocked) {
  wr_quic_stream *s = c->sq_head;
  while (s) {
    wr_quic_stream *nx = s->sq_next;
    if (!stream_has_output(s))
      sendq_del(c, s);
    else if (!conn_blocked || s->sent == s->end)
      return s;
    s = nx;
  }
  return NULL;
}

/* Writes what the connection has to send: up to MAX_BATCHES_PER_WRITE GSO
 * batches of at most send_quantum bytes, each a run of equal-sized packets on
 * one path (a shorter packet ends a run, as GSO requires). */
static void conn_write(wr_quic_conn *c) {
  wr_quic_endpoint *ep = c->ep;
  if (c->state > ST_OPEN || ep->blocked)
    return;
  uint64_t ts = wr_now_ns();
  size_t max_udp = ngtcp2_conn_get_max_tx_udp_payload_size(c->nc);
  size_t quantum = ngtcp2_conn_get_send_quantum(c->nc);
  size_t max_pkts = quantum / max_udp;
  if (max_pkts < 1)
    max_pkts = 1;
  if (max_pkts > WR_UDP_MAX_SEGS)
    max_pkts = WR_UDP_MAX_SEGS;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  for (int batch = 0; batch < MAX_BATCHES_PER_WRITE; batch++) {
    size_t npkts = 0, gso_size = 0;
    int done = 0, spins = 0;
    /* spins bounds the calls that produce no packet (stream switches), so a
     * stream ngtcp2 keeps refusing cannot hold the loop. */
    while (npkts < max_pkts && spins++ < 4096) {
      size_t avail = 0;
      uint8_t *p = wr_udp_batch_space(&ep->batch, &avail);
      if (!p || avail < max_udp || ep->batch.nmsgs == WR_UDP_MAX_BATCH) {
        if (ep_flush(ep) != 0) {
          conn_update_tx_time(c, ts);
          return;
        }
        p = wr_udp_batch_space(&ep->batch, &avail);
        if (!p)
          return;
      }
      if (avail > max_udp)
        avail = max_udp;
      ngtcp2_pkt_info pi = {0};
      ngtcp2_ssize ndatalen = -1;
      ngtcp2_ssize nwrite;
      ngtcp2_vec iov[MAX_IOV];
      size_t niov = 0;
      uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      wr_quic_stream *s = pick_stream(c, ngtcp2_conn_get_max_data_left(c->nc) == 0);
      uint64_t total = 0;
      if (s) {
        niov = stream_iov(s, iov, MAX_IOV, &total);
        if (s->fin_queued && s->sent + total == s->end)
          flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      }
      nwrite = ngtcp2_conn_writev_stream(c->nc, &ps.path, &pi, p, avail, &ndatalen, flags,
                                         s ? s->id : -1, iov, niov, ts);
      if (nwrite < 0) {
        switch (nwrite) {
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
          s->blocked = 1;
          sendq_del(c, s);
          continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
        case NGTCP2_ERR_STREAM_NOT_FOUND:
          sendq_del(c, s);
          if (!s->write_shut) {
            /* We did not shut it: the peer sent STOP_SENDING. */
            s->write_shut = 1;
            if (c->cb.on_stream_stop_sending && !c->app_gone)
              c->cb.on_stream_stop_sending(s, 0);
          }
          continue;
        case NGTCP2_ERR_WRITE_MORE:
          stream_advance(s, (size_t)ndatalen);
          if (flags & NGTCP2_WRITE_STREAM_FLAG_FIN && (uint64_t)ndatalen == total)
            s->fin_sent = 1;
          sendq_rotate(c, s);
          continue;
        default:
          conn_update_tx_time(c, ts);
          conn_on_error(c, (int)nwrite);
          return;
        }
      }
      if (s && ndatalen >= 0) {
        stream_advance(s, (size_t)ndatalen);
        if (flags & NGTCP2_WRITE_STREAM_FLAG_FIN && (uint64_t)ndatalen == total)
          s->fin_sent = 1;
        sendq_rotate(c, s);
      }
      if (nwrite == 0) {
        done = 1;
        break;
      }
      wr_addr local, remote;
      addr_from_ngtcp2(&local, &ps.path.local);
      addr_from_ngtcp2(&remote, &ps.path.remote);
      /* A free message slot was ensured above, so this cannot fail. */
      if (wr_udp_batch_commit(&ep->batch, (size_t)nwrite, &remote, &local, c->ifindex,
                              (uint8_t)(pi.ecn & 3)) != 0)
        ep->stats.send_errors++;
      c->pkts_sent++;
      c->bytes_sent += (size_t)nwrite;
      if (npkts == 0)
        gso_size = (size_t)nwrite;
      npkts++;
      if ((size_t)nwrite < gso_size)
        break; /* a short packet ends the run */
    }
    if (npkts > 0)
      c->send_batches++;
    if (ep_flush(ep) != 0) {
      conn_update_tx_time(c, ts);
      return;
    }
    conn_update_tx_time(c, ts);
    if (done)
      return;
  }
  /* More to send than one wakeup's share: continue on the next loop turn. */
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void conn_arm_timer(wr_quic_conn *c) {
  uint64_t now = wr_now_ns(), expiry;
  if (c->state == ST_DEAD)
    return;
  if (c->state >= ST_CLOSING)
    expiry = c->close_deadline;
  else
    expiry = ngtcp2_conn_get_expiry(c->nc);
  if (expiry == UINT64_MAX) {
    uv_timer_stop(&c->timer);
    return;
  }
  /* libuv counts milliseconds: round down, so pacing deadlines under 1 ms
   * fire on the next loop turn (ngtcp2 allows 1 ms of pacing slack). */
  uint64_t ms = expiry > now ? (expiry - now) / NGTCP2_MILLISECONDS : 0;
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Delivers events queued during a read, then writes and re-arms. */
static void conn_after_io(wr_quic_conn *c) {
  if (c->state > ST_OPEN) {
    conn_arm_timer(c);
    return;
  }
  if (c->connected_pending && !c->app_gone) {
    c->connected_pending = 0;
    if (c->cb.on_connected)
      c->cb.on_connected(c);
  }
  if (c->close_requested && c->state <= ST_OPEN) {
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    ngtcp2_connection_close_error_set_application_error(
        &ccerr, c->close_app_code, (const uint8_t *)c->close_reason, strlen(c->close_reason));
    conn_start_close(c, &ccerr, 0, "closed by this side");
    return;
  }
  if (c->state <= ST_OPEN)
    conn_write(c);
  if (c->ping_wanted && c->state <= ST_OPEN) {
    c->ping_wanted = 0;
    uint64_t ka = c->ep->cfg.keepalive_ms;
    ngtcp2_conn_set_keep_alive_timeout(c->nc,
                                       ka == WR_QUIC_NO_KEEPALIVE ? 0 : ka * NGTCP2_MILLISECONDS);
  }
  if (c->state <= ST_OPEN) {
    ngtcp2_conn_stat cs;
    ngtcp2_conn_get_conn_stat(c->nc, &cs);
    if (cs.congestion_recovery_start_ts != UINT64_MAX &&
        cs.congestion_recovery_start_ts != c->last_recovery_ts) {
      c->last_recovery_ts = cs.congestion_recovery_start_ts;
      c->congestion_events++;
    }
    if (cs.bytes_in_flight == 0)
      c->awaiting_since_ns = 0;
    else if (!c->awaiting_since_ns || c->heard)
      c->awaiting_since_ns = wr_now_ns();
    c->heard = 0;
  }
  conn_arm_timer(c);
}

static void on_timer(uv_timer_t *t) {
  wr_quic_conn *c = t->data;
  uint64_t now = wr_now_ns();
  if (c->state == ST_DEAD)
    return;
  if (c->state >= ST_CLOSING) {
    if (now >= c->close_deadline)
      conn_free(c);
    else
      conn_arm_timer(c);
    return;
  }
  if (ngtcp2_conn_get_expiry(c->nc) <= now) {
    int rv = ngtcp2_conn_handle_expiry(c->nc, now);
    if (rv != 0) {
      conn_on_error(c, rv);
      return;
    }
  }
  conn_after_io(c);
}

/* Schedules a write: at the end of the current receive batch, or on the next
 * loop turn. */
static void conn_kick(wr_quic_conn *c) {
  if (c->state > ST_OPEN)
    return;
  if (c->ep->in_recv) {
    if (!c->touched) {
      c->touched = 1;
      c->touched_next = c->ep->touched;
      c->ep->touched = c;
    }
    return;
  }
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* ---- receiving ---- */

static void conn_read(wr_quic_conn *c, const wr_udp_dgram *d, const uint8_t *pkt, size_t len) {
  if (c->state == ST_CLOSING) {
    /* Repeat the CONNECTION_CLOSE, less and less often (RFC 9000 10.2.1). */
    c->cc_recv_count++;
    if (c->cc_pkt && (c->cc_recv_count & (c->cc_recv_count - 1)) == 0)
      send_raw(c->ep, &c->local, &c->remote, c->ifindex, c->cc_pkt, c->cc_len);
    return;
  }
  if (c->state > ST_CLOSING)
    return;
  ngtcp2_path path;
  path.local.addr = (ngtcp2_sockaddr *)&d->local.sa;
  path.local.addrlen = d->local.len;
  path.remote.addr = (ngtcp2_sockaddr *)&d->peer.sa;
  path.remote.addrlen = d->peer.len;
  path.user_data = NULL;
  ngtcp2_pkt_info pi = {.ecn = d->ecn};
  c->pkts_recv++;
  c->bytes_recv += len;
  c->heard = 1;
  c->last_rx_ns = wr_now_ns();
  int rv = ngtcp2_conn_read_pkt(c->nc, &path, &pi, pkt, len, wr_now_ns());
  if (rv != 0) {
    if (rv == NGTCP2_ERR_DISCARD_PKT)
      return;
    conn_on_error(c, rv);
    return;
  }
  /* Follow the path ngtcp2 uses now (it changes only after validation). */
  const ngtcp2_path *cur = ngtcp2_conn_get_path(c->nc);
  if (cur->remote.addrlen != c->remote.len ||
      memcmp(cur->remote.addr, &c->remote.sa, c->remote.len) != 0 ||
      cur->local.addrlen != c->local.len || memcmp(cur->local.addr, &c->local.sa, c->local.len) != 0) {
    addr_from_ngtcp2(&c->local, &cur->local);
    addr_from_ngtcp2(&c->remote, &cur->remote);
  }
  c->ifindex = out_ifindex(&d->local, d->ifindex);
  if (!c->touched) {
    c->touched = 1;
    c->touched_next = c->ep->touched;
    c->ep->touched = c;
  }
}

static void ep_send_stateless_reset(wr_quic_endpoint *ep, const wr_udp_dgram *d,
                                    const uint8_t *dcid, size_t dcidlen, size_t pktlen) {
  /* A reset must be shorter than what triggered it (no loops between two
   * endpoints) and at least 21 bytes long. */
  if (pktlen < 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN + 1 ||
      dcidlen > NGTCP2_MAX_CIDLEN)
    return;
  uint64_t now = wr_now_ns();
  if (now - ep->reset_window_start >= NGTCP2_SECONDS) {
    ep->reset_window_start = now;
    ep->resets_in_window = 0;
  }
  if (ep->resets_in_window >= RESETS_PER_SECOND)
    return;
  ep->resets_in_window++;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid, dcidlen);
  uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
                                                   sizeof ep->reset_secret, &cid) != 0)
    return;
  size_t randlen = pktlen - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
  if (randlen > 40)
    randlen = 40;
  uint8_t rnd[40], buf[64];
  rand_bytes(rnd, randlen);
  ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(buf, sizeof buf, token, rnd, randlen);
  if (n <= 0)
    return;
  send_raw(ep, &d->local, &d->peer, d->ifindex, buf, (size_t)n);
  ep->stats.stateless_resets_sent++;
}

static void ep_send_retry(wr_quic_endpoint *ep, const wr_udp_dgram *d, const ngtcp2_pkt_hd *hd) {
  ngtcp2_cid scid;
  scid.datalen = SCID_LEN;
  rand_bytes(scid.data, SCID_LEN);
  uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  ngtcp2_ssize tlen = ngtcp2_crypto_generate_retry_token(
      token, ep->token_secret, sizeof ep->token_secret, hd->version, &d->peer.sa, d->peer.len,
      &scid, &hd->dcid, wr_now_ns());
  if (tlen < 0)
    return;
  uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  ngtcp2_ssize n = ngtcp2_crypto_write_retry(buf, sizeof buf, hd->version, &hd->scid, &scid,
                                             &hd->dcid, token, (size_t)tlen);
  if (n <= 0)
    return;
  send_raw(ep, &d->local, &d->peer, d->ifindex, buf, (size_t)n);
  ep->stats.retries_sent++;
}

static void ep_send_initial_close(wr_quic_endpoint *ep, const wr_udp_dgram *d,
                                  const ngtcp2_pkt_hd *hd, uint64_t code) {
  uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
  ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buf, sizeof buf, hd->version, &hd->scid,
                                                        &hd->dcid, code, NULL, 0);
  if (n > 0)
    send_raw(ep, &d->local, &d->peer, d->ifindex, buf, (size_t)n);
}

/* A long-header packet for no known connection: maybe a new client. */
static void ep_accept(wr_quic_endpoint *ep, const wr_udp_dgram *d, const uint8_t *pkt,
                      size_t len) {
  ngtcp2_pkt_hd hd;
  int arv = ngtcp2_accept(&hd, pkt, len);
  if (arv == NGTCP2_ERR_RETRY) {
    ep_send_retry(ep, d, &hd);
    return;
  }
  if (arv != 0) {
    ep->stats.dropped_unknown++;
    return;
  }
  if (hd.type != NGTCP2_PKT_INITIAL) {
    ep->stats.dropped_unknown++; /* 0-RTT before the Initial, or reordered */
    return;
  }
  uint32_t maxc = ep->srv.max_connections;
  if (ep->nconns >= maxc) {
    if (ep->stats.refused_conn_limit++ % 1000 == 0)
      WR_WARN("Refusing QUIC connection: connection limit reached", "limit=%u", maxc);
    ep_send_initial_close(ep, d, &hd, NGTCP2_CONNECTION_REFUSED);
    return;
  }
  ngtcp2_cid odcid;
  int retried = 0;
  if (hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
    if (ngtcp2_crypto_verify_retry_token(&odcid, hd.token.base, hd.token.len, ep->token_secret,
                                         sizeof ep->token_secret, hd.version, &d->peer.sa,
                                         d->peer.len, &hd.dcid, RETRY_TOKEN_TIMEOUT,
                                         wr_now_ns()) != 0) {
      ep->stats.bad_tokens++;
      ep_send_initial_close(ep, d, &hd, NGTCP2_INVALID_TOKEN);
      return;
    }
    retried = 1;
  }
  if (!retried) {
    int want_retry = ep->srv.retry == WR_QUIC_RETRY_ALWAYS ||
                     (ep->srv.retry == WR_QUIC_RETRY_UNDER_LOAD &&
                      ep->stats.handshakes_in_progress >= ep->srv.retry_threshold);
    if (want_retry) {
      ep_send_retry(ep, d, &hd);
      return;
    }
    odcid = hd.dcid;
  }
  wr_quic_conn *c = conn_alloc(ep, 1);
  if (!c)
    return;
  c->cb = ep->srv.callbacks;
  c->user_data = ep->srv.user_data;
  ngtcp2_settings st;
  ngtcp2_transport_params tp;
  fill_settings(ep, c, &st, &tp);
  tp.original_dcid = odcid;
  if (retried) {
    tp.retry_scid = hd.dcid;
    tp.retry_scid_present = 1;
    st.token = hd.token; /* copied by ngtcp2: the address is validated */
  }
  ngtcp2_cid scid;
  scid.datalen = SCID_LEN;
  do
    rand_bytes(scid.data, SCID_LEN);
  while (cid_find(ep, scid.data, scid.datalen));
  tp.stateless_reset_token_present = 1;
  if (ngtcp2_crypto_generate_stateless_reset_token(tp.stateless_reset_token, ep->reset_secret,
                                                   sizeof ep->reset_secret, &scid) != 0) {
    conn_abandon(c);
    return;
  }
  wr_hex_encode(c->idstr, scid.data, 8);
  ngtcp2_path path;
  conn_set_path(c, &d->local, &d->peer, &path);
  c->ifindex = out_ifindex(&d->local, d->ifindex);
  ngtcp2_callbacks cbs;
  fill_callbacks(&cbs, 1);
  if (ngtcp2_conn_server_new(&c->nc, &hd.scid, &scid, &path, hd.version, &cbs, &st, &tp,
                             &ep->mem, c) != 0) {
    c->nc = NULL;
    conn_abandon(c);
    return;
  }
  if (wr_tls_session_init_server(&c->tls, ep->srv.tls, ep->alpn, get_conn, c) != 0) {
    conn_abandon(c);
    return;
  }
  ngtcp2_conn_set_tls_native_handle(c->nc, c->tls.gs);
  uint64_t ka = ep->cfg.keepalive_ms;
  if (ka != WR_QUIC_NO_KEEPALIVE)
    ngtcp2_conn_set_keep_alive_timeout(c->nc, ka * NGTCP2_MILLISECONDS);
  if (cid_add(ep, &scid, c) != 0 || cid_add(ep, &hd.dcid, c) != 0) {
    conn_abandon(c);
    return;
  }
  c->alias = hd.dcid;
  c->has_alias = 1;
  ep->stats.conns_accepted++;
  conn_read(c, d, pkt, len);
}

static void ep_on_packet(wr_quic_endpoint *ep, const wr_udp_dgram *d, const uint8_t *pkt,
                         size_t len) {
  ngtcp2_version_cid vc;
  int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, SCID_LEN);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    if (ep->has_server && len >= NGTCP2_MAX_UDP_PAYLOAD_SIZE) {
      uint8_t buf[256], ub;
      uint32_t sv[] = {NGTCP2_PROTO_VER_V1};
      rand_bytes(&ub, 1);
      ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(
          buf, sizeof buf, ub, vc.scid, vc.scidlen, vc.dcid, vc.dcidlen, sv, 1);
      if (n > 0) {
        send_raw(ep, &d->local, &d->peer, d->ifindex, buf, (size_t)n);
        ep->stats.version_negotiations_sent++;
      }
    }
    return;
  }
  if (rv != 0) {
    ep->stats.dropped_unknown++;
    return;
  }
  wr_quic_conn *c = cid_find(ep, vc.dcid, vc.dcidlen);
  if (c) {
    conn_read(c, d, pkt, len);
    return;
  }
  if (pkt[0] & 0x80 && vc.version == 0) { /* a Version Negotiation packet: not for us here */
    ep->stats.dropped_unknown++;
    return;
  }
  if (!(pkt[0] & 0x80)) { /* short header: a connection we do not know (any more) */
    /* It may be a stateless reset for one of our client connections: those
     * carry a random DCID, so offer it to the connections on that path and
     * let ngtcp2 check the token. */
    if (len >= 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN) {
      for (wr_quic_conn *k = ep->conns; k; k = k->next) {
        if (k->is_server || k->state > ST_OPEN ||
            !wr_addr_equal(&k->remote, &d->peer))
          continue;
        conn_read(k, d, pkt, len);
        if (k->got_stateless_reset)
          return;
      }
    }
    ep->stats.dropped_unknown++;
    ep_send_stateless_reset(ep, d, vc.dcid, vc.dcidlen, len);
    return;
  }
  if (ep->has_server && !ep->closing && len >= NGTCP2_MAX_UDP_PAYLOAD_SIZE)
    ep_accept(ep, d, pkt, len);
  else
    ep->stats.dropped_unknown++;
}

/* 1 when the quoted start of a packet we sent carries c's current
 * destination connection ID: the ICMP error is about c, and whoever sent it
 * saw the packet (a forger off the path knows no connection IDs). */
static int quote_is_for(wr_quic_conn *c, const uint8_t *q, size_t len) {
  const ngtcp2_cid *dcid = ngtcp2_conn_get_dcid(c->nc);
  size_t off = 1;
  if (len < 1)
    return 0;
  if (q[0] & 0x80) { /* long header: version, then the DCID with its length */
    if (len < 6 || q[5] != dcid->datalen)
      return 0;
    off = 6;
  }
  return len >= off + dcid->datalen && memcmp(q + off, dcid->data, dcid->datalen) == 0;
}

/* How many port unreachables, with nothing heard from the peer between
 * them, mean an established connection's peer is gone. One could be a stale
 * packet still in flight after the peer moved; a live peer answers within an
 * RTT, so three in a row, a PTO apart, are not chance. */
#define REFUSED_TO_CLOSE 3

/* ICMP port unreachable for a packet we sent (the UDP layer's error queue):
 * the peer's process is gone and its host says so. During the handshake the
 * connection fails at once ("nothing listens"), instead of waiting for the
 * handshake timeout; an established one ends after REFUSED_TO_CLOSE of them
 * in a row, instead of after the idle timeout. Either way it drains
 * silently: there is nobody to send a CONNECTION_CLOSE to. */
static void ep_on_refused(wr_udp_sock *sock, const wr_addr *peer, const uint8_t *data, size_t len,
                          void *user) {
  wr_quic_endpoint *ep = user;
  (void)sock;
  ep->stats.icmp_refused++;
  for (wr_quic_conn *c = ep->conns; c; c = c->next) {
    if (c->state >= ST_CLOSING || !c->nc || !wr_addr_equal(&c->remote, peer) ||
        !quote_is_for(c, data, len))
      continue;
    char where[WR_ADDR_STRLEN], why[160];
    wr_addr_format_sa(&peer->sa, 1, where, sizeof where); /* as the user wrote it: unmapped */
    uint64_t now = wr_now_ns();
    if (c->state == ST_HANDSHAKE) {
      snprintf(why, sizeof why, "nothing listens on UDP %s (ICMP port unreachable)", where);
    } else {
      if (c->refused_count == 0 || c->last_rx_ns > c->refused_since_ns) {
        c->refused_count = 0;
        c->refused_since_ns = now;
      }
      if (++c->refused_count < REFUSED_TO_CLOSE) {
        /* Ask again now rather than at the next PTO (which backs off, and
         * is long under load): a gone peer's host answers within an RTT, so
         * the verdict takes three round trips, not seconds. */
        wr_quic_conn_ping(c);
        return;
      }
      snprintf(why, sizeof why, "the peer is gone: UDP %s answered ICMP port unreachable %u times",
               where, c->refused_count);
    }
    if (c->state == ST_HANDSHAKE) {
      conn_start_drain(c, WR_ERR_REFUSED, why);
      return;
    }
    /* "Port unreachable" is about the port, not one connection: every other
     * established connection to it that has heard nothing since the refusals
     * began is gone too (a connector runs all its connections on one socket;
     * killed, it leaves them all). All of them stop taking streams before the
     * application hears of any, so a request retried from one does not land
     * on another that is about to go. */
    uint64_t since = c->refused_since_ns;
    for (wr_quic_conn *o = ep->conns; o; o = o->next)
      if (o == c || (o->state == ST_OPEN && wr_addr_equal(&o->remote, peer) &&
                     o->last_rx_ns <= since))
        o->doomed = 1;
    for (wr_quic_conn *o = ep->conns; o; o = o->next)
      if (o->doomed && o->state < ST_CLOSING)
        conn_start_drain(o, WR_ERR_REFUSED, why);
    return;
  }
}

static void ep_on_recv(wr_udp_sock *sock, const wr_udp_dgram *dgrams, size_t n, void *user) {
  wr_quic_endpoint *ep = user;
  (void)sock;
  ep->in_recv = 1;
  for (size_t i = 0; i < n && !ep->closing; i++) {
    const wr_udp_dgram *d = &dgrams[i];
    if (d->local.len == 0)
      continue; /* no PKTINFO: we could not answer from the right address */
    WR_UDP_DGRAM_FOREACH_SEG(d, p, plen) {
      ep->stats.datagrams_recv++;
      ep_on_packet(ep, d, p, plen);
    }
  }
  ep->in_recv = 0;
  /* One write per touched connection: acknowledgements for the whole batch. */
  while (ep->touched) {
    wr_quic_conn *c = ep->touched;
    ep->touched = c->touched_next;
    c->touched = 0;
    c->touched_next = NULL;
    if (c->state != ST_DEAD)
      conn_after_io(c);
  }
}

/* ---- endpoint ---- */

static int derive(const uint8_t *key, size_t keylen, const char *label, uint8_t out[32]) {
  return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, label, strlen(label), out) == 0
             ? 0
             : WR_ERR_NOMEM;
}

int wr_quic_endpoint_new(wr_quic_endpoint **pep, uv_loop_t *loop,
                         const struct sockaddr *bind_addr, const wr_quic_config *cfg,
                         const wr_quic_server_config *srv) {
  *pep = NULL;
  if (!cfg || !cfg->alpn || !cfg->alpn[0] || (srv && !srv->tls))
    return WR_ERR_INVAL;
  wr_quic_endpoint *ep = wr_calloc(1, sizeof *ep);
  if (!ep)
    return WR_ERR_NOMEM;
  int rc = WR_ERR_NOMEM;
  ep->loop = loop;
  ep->cfg = *cfg;
  wr_chunk_pool_init(&ep->chunks, MAX_FREE_CHUNKS);
  wr_quic_config *c = &ep->cfg;
  if (!c->idle_timeout_ms)
    c->idle_timeout_ms = WR_QUIC_DEFAULT_IDLE_TIMEOUT_MS;
  if (!c->keepalive_ms)
    c->keepalive_ms = c->idle_timeout_ms / 3;
  if (!c->handshake_timeout_ms)
    c->handshake_timeout_ms = WR_QUIC_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!c->stream_window)
    c->stream_window = WR_QUIC_DEFAULT_STREAM_WINDOW;
  if (!c->max_stream_window)
    c->max_stream_window = WR_QUIC_DEFAULT_MAX_STREAM_WINDOW;
  if (c->max_stream_window < c->stream_window)
    c->max_stream_window = c->stream_window;
  if (!c->conn_window)
    c->conn_window = WR_QUIC_DEFAULT_CONN_WINDOW;
  if (!c->max_conn_window)
    c->max_conn_window = WR_QUIC_DEFAULT_MAX_CONN_WINDOW;
  if (c->max_conn_window < c->conn_window)
    c->max_conn_window = c->conn_window;
  if (!c->max_streams_bidi)
    c->max_streams_bidi = WR_QUIC_DEFAULT_MAX_STREAMS;
  if (!c->send_queue_limit)
    c->send_queue_limit = WR_QUIC_DEFAULT_SEND_QUEUE;
  if (!(ep->alpn = wr_strdup(cfg->alpn)))
    goto fail;
  c->alpn = ep->alpn;
  ep->mem.user_data = ep;
  ep->mem.malloc = mem_malloc;
  ep->mem.free = mem_free;
  ep->mem.calloc = mem_calloc;
  ep->mem.realloc = mem_realloc;
  /* The first draw: if there is no randomness, refuse to start (rand_bytes). */
  if (wr_random_bytes(ep->hash_key, sizeof ep->hash_key) != 0) {
    rc = WR_ERR_IO;
    goto fail;
  }
  uint8_t master[32];
  if (srv) {
    ep->has_server = 1;
    ep->srv = *srv;
    if (!ep->srv.max_connections)
      ep->srv.max_connections = WR_QUIC_DEFAULT_MAX_CONNECTIONS;
    if (!ep->srv.retry_threshold)
      ep->srv.retry_threshold = WR_QUIC_DEFAULT_RETRY_THRESHOLD;
    static const uint8_t zero[32];
    if (memcmp(srv->static_secret, zero, 32) != 0)
      memcpy(master, srv->static_secret, 32);
    else if ((rc = wr_tls_server_derive_secret(srv->tls, "warren quic static secret", master,
                                               32)) != 0)
      goto fail;
  } else {
    rand_bytes(master, sizeof master);
  }
  if ((rc = derive(master, sizeof master, "stateless reset", ep->reset_secret)) != 0 ||
      (rc = derive(master, sizeof master, "retry token", ep->token_secret)) != 0)
    goto fail;
  sodium_memzero(master, sizeof master);
  if ((rc = wr_udp_batch_init(&ep->batch, TXBUF_SIZE)) != 0)
    goto fail;
  wr_addr ba;
  memset(&ba, 0, sizeof ba);
  ba.len = bind_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  memcpy(&ba.ss, bind_addr, ba.len);
  wr_udp_config uc;
  memset(&uc, 0, sizeof uc);
  uc.no_gso = cfg->disable_gso;
  uc.reuseport = cfg->reuseport;
  uc.v6only = cfg->v6only;
  uc.rcvbuf = uc.sndbuf = cfg->udp_buffer;
  if ((rc = wr_udp_open(&ep->sock, &ba, &uc)) != 0)
    goto fail;
  if (wr_udp_on_refused(ep->sock, ep_on_refused) != 0) {
    /* logged: without it, a peer that is gone is found by timeouts only */
  }
  if ((rc = wr_udp_start(ep->sock, loop, ep_on_recv, ep)) != 0)
    goto fail;
  uv_timer_init(loop, &ep->close_timer);
  ep->close_timer.data = ep;
  *pep = ep;
  return 0;
fail:
  if (ep->sock)
    wr_udp_del(ep->sock);
  wr_udp_batch_free(&ep->batch);
  wr_free(ep->alpn);
  wr_free(ep);
  return rc;
}

static void ep_free(wr_quic_endpoint *ep) {
  wr_chunk_pool_free(&ep->chunks);
  wr_free(ep->slots);
  wr_udp_batch_free(&ep->batch);
  wr_free(ep->alpn);
  void (*cb)(wr_quic_endpoint *, void *) = ep->close_cb;
  void *data = ep->close_data;
  if (cb)
    cb(ep, data);
  wr_free(ep);
}

static void ep_maybe_done(wr_quic_endpoint *ep);

static void on_sock_closed(void *arg) {
  wr_quic_endpoint *ep = arg;
  ep->pending_closes--;
  ep_maybe_done(ep);
}

static void ep_maybe_done(wr_quic_endpoint *ep) {
  if (ep->closing && ep->sock == NULL && ep->pending_closes == 0)
    ep_free(ep);
}

static void on_close_timer_closed(uv_handle_t *h) {
  wr_quic_endpoint *ep = h->data;
  ep->pending_closes--;
  ep_maybe_done(ep);
}

/* The close proper, from the loop: it may delete ngtcp2 connections, which
 * must never happen inside one of their callbacks. */
static void on_close_timer(uv_timer_t *t) {
  wr_quic_endpoint *ep = t->data;
  int abrupt = ep->abrupt;
  uv_close((uv_handle_t *)&ep->close_timer, on_close_timer_closed);
  while (ep->conns) {
    wr_quic_conn *c = ep->conns;
    if (!abrupt && c->state <= ST_OPEN) {
      ngtcp2_connection_close_error ccerr;
      ngtcp2_connection_close_error_default(&ccerr);
      ngtcp2_connection_close_error_set_application_error(&ccerr, 0, NULL, 0);
      conn_start_close(c, &ccerr, 0, "the endpoint closed");
    }
    conn_deliver_closed(c, 0, "the endpoint closed");
    conn_free(c);
  }
  if (!wr_udp_batch_empty(&ep->batch) && !abrupt)
    if (wr_udp_batch_flush(&ep->batch, ep->sock) != 0)
      ep->stats.send_errors++;
  wr_udp_sock *s = ep->sock;
  ep->sock = NULL;
  ep->pending_closes++;
  wr_udp_close(s, on_sock_closed, ep);
}

void wr_quic_endpoint_close(wr_quic_endpoint *ep, int abrupt,
                            void (*cb)(wr_quic_endpoint *ep, void *data), void *data) {
  if (ep->closing)
    return;
  ep->closing = 1;
  ep->abrupt = abrupt;
  ep->close_cb = cb;
  ep->close_data = data;
  ep->pending_closes++; /* the close timer */
  uv_timer_start(&ep->close_timer, on_close_timer, 0, 0);
}

int wr_quic_endpoint_local_addr(const wr_quic_endpoint *ep, struct sockaddr_storage *out) {
  if (!ep->sock)
    return WR_ERR_CLOSED;
  const wr_addr *a = wr_udp_local_addr(ep->sock);
  memset(out, 0, sizeof *out);
  memcpy(out, &a->ss, a->len);
  return 0;
}

void wr_quic_endpoint_get_stats(const wr_quic_endpoint *ep, wr_quic_endpoint_stats *out) {
  *out = ep->stats;
}

void wr_quic_endpoint_inject(wr_quic_endpoint *ep, const uint8_t *data, size_t len,
                             const struct sockaddr *local, const struct sockaddr *peer) {
  static uint8_t buf[WR_UDP_MAX_SUPER];
  if (ep->closing || !ep->sock || len > sizeof buf)
    return;
  wr_udp_dgram d;
  memset(&d, 0, sizeof d);
  memcpy(buf, data, len);
  d.data = buf;
  d.len = d.segsize = len;
  wr_addr_from_sockaddr(local, &d.local);
  wr_addr_from_sockaddr(peer, &d.peer);
  ep_on_recv(ep->sock, &d, 1, ep);
}

const struct wr_udp_sock *wr_quic_endpoint_socket(const wr_quic_endpoint *ep) {
  return ep->closing ? NULL : ep->sock;
}

/* ---- client ---- */

/* Asks the kernel which source address it would use towards remote (a
 * connect() on a throwaway socket sends nothing), so the connection's path has
 * a concrete local address from the first packet on. */
static int route_source(const wr_addr *remote, wr_addr *out) {
  wr_addr r;
  wr_addr_unmap(remote, &r);
  int fd = socket(r.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return WR_ERR_IO;
  int rc = 0;
  memset(out, 0, sizeof *out);
  out->len = sizeof out->ss;
  if (connect(fd, &r.sa, r.len) != 0 || getsockname(fd, &out->sa, &out->len) != 0)
    rc = WR_ERR_INVAL;
  close(fd);
  return rc;
}

/* Converts an IPv4 address to the IPv4-mapped form a dual-stack socket uses. */
static void map_v4(const wr_addr *in, wr_addr *out) {
  if (in->sa.sa_family != AF_INET) {
    *out = *in;
    return;
  }
  wr_addr m;
  memset(&m, 0, sizeof m);
  m.in6.sin6_family = AF_INET6;
  m.in6.sin6_port = in->in.sin_port;
  m.in6.sin6_addr.s6_addr[10] = 0xff;
  m.in6.sin6_addr.s6_addr[11] = 0xff;
  memcpy(&m.in6.sin6_addr.s6_addr[12], &in->in.sin_addr, 4);
  m.len = sizeof m.in6;
  *out = m;
}

int wr_quic_connect(wr_quic_conn **pc, wr_quic_endpoint *ep, const struct sockaddr *remote,
                    const char *server_name, const wr_tls_client *tls,
                    const wr_quic_callbacks *cb, void *user_data) {
  *pc = NULL;
  if (ep->closing || !tls)
    return WR_ERR_INVAL;
  wr_addr r, local;
  memset(&r, 0, sizeof r);
  r.len = remote->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  memcpy(&r.ss, remote, r.len);
  char name[WR_ADDR_STRLEN];
  if (!server_name) {
    wr_addr u;
    wr_addr_unmap(&r, &u);
    wr_addr_format_ip(&u, name, sizeof name);
    server_name = name;
  }
  int fam = wr_udp_family(ep->sock);
  if (fam == AF_INET && r.sa.sa_family != AF_INET) {
    wr_addr u;
    wr_addr_unmap(&r, &u);
    if (u.sa.sa_family != AF_INET)
      return WR_ERR_INVAL; /* an IPv4 socket cannot reach an IPv6 peer */
    r = u;
  }
  int rc = route_source(&r, &local);
  if (rc != 0)
    return rc;
  wr_addr_set_port(&local, wr_addr_port(wr_udp_local_addr(ep->sock)));
  if (fam == AF_INET6) {
    map_v4(&r, &r);
    map_v4(&local, &local);
  }
  wr_quic_conn *c = conn_alloc(ep, 0);
  if (!c)
    return WR_ERR_NOMEM;
  if (cb)
    c->cb = *cb;
  c->user_data = user_data;
  ngtcp2_settings st;
  ngtcp2_transport_params tp;
  fill_settings(ep, c, &st, &tp);
  ngtcp2_cid dcid, scid;
  dcid.datalen = 18;
  rand_bytes(dcid.data, dcid.datalen);
  scid.datalen = SCID_LEN;
  do
    rand_bytes(scid.data, SCID_LEN);
  while (cid_find(ep, scid.data, scid.datalen));
  wr_hex_encode(c->idstr, scid.data, 8);
  ngtcp2_path path;
  conn_set_path(c, &local, &r, &path);
  ngtcp2_callbacks cbs;
  fill_callbacks(&cbs, 0);
  rc = WR_ERR_NOMEM;
  if (ngtcp2_conn_client_new(&c->nc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cbs, &st, &tp,
                             &ep->mem, c) != 0) {
    c->nc = NULL;
    goto fail;
  }
  if ((rc = wr_tls_session_init_client(&c->tls, tls, server_name, ep->alpn, get_conn, c)) != 0)
    goto fail;
  ngtcp2_conn_set_tls_native_handle(c->nc, c->tls.gs);
  if (ep->cfg.keepalive_ms != WR_QUIC_NO_KEEPALIVE)
    ngtcp2_conn_set_keep_alive_timeout(c->nc, ep->cfg.keepalive_ms * NGTCP2_MILLISECONDS);
  if ((rc = cid_add(ep, &scid, c)) != 0)
    goto fail;
  conn_kick(c);
  *pc = c;
  return 0;
fail:
  conn_abandon(c);
  return rc;
}

/* ---- connection API ---- */

void wr_quic_conn_close(wr_quic_conn *c, uint64_t app_code, const char *reason) {
  if (c->app_gone || c->close_requested || c->state > ST_OPEN)
    return;
  c->close_requested = 1;
  c->close_app_code = app_code;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
  if (c->ep->in_recv)
    conn_kick(c);
  else
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

void wr_quic_conn_ping(wr_quic_conn *c) {
  if (c->app_gone || c->state != ST_OPEN || !c->nc || c->ping_wanted)
    return;
  /* 0.12 has no call that queues a PING; an expired keep-alive makes the
   * next packet carry one, and conn_after_io puts the timeout back after
   * that write. */
  c->ping_wanted = 1;
  ngtcp2_conn_set_keep_alive_timeout(c->nc, 1);
  conn_kick(c);
}

void wr_quic_conn_set_user_data(wr_quic_conn *c, void *user_data) { c->user_data = user_data; }
void *wr_quic_conn_get_user_data(const wr_quic_conn *c) { return c->user_data; }
void wr_quic_conn_set_callbacks(wr_quic_conn *c, const wr_quic_callbacks *cb) { c->cb = *cb; }
int wr_quic_conn_is_server(const wr_quic_conn *c) { return c->is_server; }
int wr_quic_conn_is_connected(const wr_quic_conn *c) {
  return c->state == ST_OPEN && !c->app_gone;
}
const char *wr_quic_conn_alpn(const wr_quic_conn *c) { return c->alpn; }
const struct sockaddr *wr_quic_conn_peer_addr(const wr_quic_conn *c) { return &c->remote.sa; }
const struct sockaddr *wr_quic_conn_local_addr(const wr_quic_conn *c) { return &c->local.sa; }
const char *wr_quic_conn_id(const wr_quic_conn *c) { return c->idstr; }

void wr_quic_conn_get_stats(const wr_quic_conn *c, wr_quic_conn_stats *out) {
  memset(out, 0, sizeof *out);
  out->pkts_sent = c->pkts_sent;
  out->pkts_recv = c->pkts_recv;
  out->bytes_sent = c->bytes_sent;
  out->bytes_recv = c->bytes_recv;
  out->send_batches = c->send_batches;
  out->streams_open = c->nstreams;
  out->congestion_events = c->congestion_events;
  uint64_t now = wr_now_ns();
  if (c->awaiting_since_ns)
    out->unanswered_ns = now - c->awaiting_since_ns;
  if (c->last_rx_ns && now > c->last_rx_ns)
    out->heard_ago_ns = now - c->last_rx_ns;
  out->lost_packets = c->lost_closed;
  if (!c->nc)
    return;
  ngtcp2_conn_stat cs;
  ngtcp2_conn_get_conn_stat(c->nc, &cs);
  out->smoothed_rtt_ns = cs.smoothed_rtt;
  out->min_rtt_ns = cs.min_rtt == UINT64_MAX ? 0 : cs.min_rtt;
  out->latest_rtt_ns = cs.latest_rtt;
  out->rttvar_ns = cs.rttvar;
  out->cwnd = cs.cwnd;
  out->bytes_in_flight = cs.bytes_in_flight;
  out->max_udp_payload = ngtcp2_conn_get_max_tx_udp_payload_size(c->nc);
  for (const wr_quic_stream *s = c->streams; s; s = s->next)
    out->lost_packets += ngtcp2_conn_get_stream_loss_count(c->nc, s->id);
}

const wr_tls_session *wr_quic_conn_tls(const wr_quic_conn *c) { return &c->tls; }

int wr_quic_conn_export(const wr_quic_conn *c, const char *label, const uint8_t *context,
                        size_t contextlen, uint8_t *out, size_t outlen) {
  if (c->state != ST_OPEN || c->app_gone)
    return WR_ERR_INVAL;
  return wr_tls_session_export(&c->tls, label, context, contextlen, out, outlen);
}

/* ---- stream API ---- */

int wr_quic_stream_open(wr_quic_conn *c, int uni, void *user_data, wr_quic_stream **ps) {
  *ps = NULL;
  if (c->app_gone || c->close_requested || c->doomed || c->state > ST_OPEN)
    return WR_ERR_CLOSED;
  int64_t id;
  int rv = uni ? ngtcp2_conn_open_uni_stream(c->nc, &id, NULL)
               : ngtcp2_conn_open_bidi_stream(c->nc, &id, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
    return c->state == ST_HANDSHAKE ? WR_ERR_AGAIN : WR_ERR_LIMIT;
  if (rv != 0)
    return rv == NGTCP2_ERR_NOMEM ? WR_ERR_NOMEM : WR_ERR_AGAIN;
  wr_quic_stream *s = stream_new(c, id, user_data);
  if (!s) {
    ngtcp2_conn_shutdown_stream(c->nc, id, 0);
    return WR_ERR_NOMEM;
  }
  if (uni)
    s->read_shut = 1;
  ngtcp2_conn_set_stream_user_data(c->nc, id, s);
  *ps = s;
  return 0;
}

ssize_t wr_quic_stream_write(wr_quic_stream *s, const void *data, size_t len) {
  wr_quic_conn *c = s->c;
  if (s->write_shut || s->fin_queued || c->app_gone || c->close_requested || c->state > ST_OPEN)
    return WR_ERR_CLOSED;
  size_t limit = c->ep->cfg.send_queue_limit;
  uint64_t queued = s->end - s->acked;
  if (queued >= limit) {
    s->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  size_t n = len;
  if (n > limit - queued)
    n = (size_t)(limit - queued);
  const uint8_t *p = data;
  size_t left = n;
  while (left > 0) {
    wr_chunk *t = s->tail;
    if (!t || t->len == WR_CHUNK_SIZE) {
      wr_chunk *k = wr_chunk_get(&c->ep->chunks);
      if (!k)
        break;
      if (t)
        t->next = k;
      else {
        s->head = k;
        s->head_off = s->end;
      }
      s->tail = t = k;
      if (!s->cur || (s->cur_pos == s->cur->len && s->sent == s->end)) {
        s->cur = k;
        s->cur_pos = 0;
      }
    }
    size_t m = WR_CHUNK_SIZE - t->len;
    if (m > left)
      m = left;
    memcpy(t->data + t->len, p, m);
    t->len += m;
    p += m;
    left -= m;
    s->end += m;
  }
  n -= left;
  if (n == 0 && len > 0)
    return WR_ERR_NOMEM;
  if (n < len)
    s->want_writable = 1;
  if (stream_has_output(s)) {
    sendq_add(c, s);
    conn_kick(c);
  }
  return (ssize_t)n;
}

int wr_quic_stream_end(wr_quic_stream *s) {
  wr_quic_conn *c = s->c;
  if (s->write_shut || c->app_gone || c->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (s->fin_queued)
    return 0;
  s->fin_queued = 1;
  sendq_add(c, s);
  conn_kick(c);
  return 0;
}

int wr_quic_stream_reset(wr_quic_stream *s, uint64_t app_code) {
  wr_quic_conn *c = s->c;
  if (c->app_gone || c->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (!ngtcp2_is_bidi_stream(s->id) && !ngtcp2_conn_is_local_stream(c->nc, s->id))
    return WR_ERR_INVAL; /* the peer's unidirectional stream has no sending side here */
  s->write_shut = 1;
  sendq_del(c, s);
  int rv = ngtcp2_conn_shutdown_stream_write(c->nc, s->id, app_code);
  conn_kick(c);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : WR_ERR_NOMEM;
}

int wr_quic_stream_stop_sending(wr_quic_stream *s, uint64_t app_code) {
  wr_quic_conn *c = s->c;
  if (c->app_gone || c->state > ST_OPEN)
    return WR_ERR_CLOSED;
  if (s->read_shut)
    return 0;
  s->read_shut = 1;
  int rv = ngtcp2_conn_shutdown_stream_read(c->nc, s->id, app_code);
  conn_kick(c);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : WR_ERR_NOMEM;
}

int wr_quic_stream_abort(wr_quic_stream *s, uint64_t app_code) {
  wr_quic_conn *c = s->c;
  if (c->app_gone || c->state > ST_OPEN)
    return WR_ERR_CLOSED;
  s->write_shut = s->read_shut = 1;
  sendq_del(c, s);
  int rv = ngtcp2_conn_shutdown_stream(c->nc, s->id, app_code);
  conn_kick(c);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : WR_ERR_NOMEM;
}

void wr_quic_stream_consume(wr_quic_stream *s, size_t n) {
  wr_quic_conn *c = s->c;
  if (n > s->rx_delivered - s->rx_consumed)
    n = (size_t)(s->rx_delivered - s->rx_consumed);
  if (n == 0 || c->app_gone || c->state > ST_OPEN)
    return;
  s->rx_consumed += n;
  ngtcp2_conn_extend_max_stream_offset(c->nc, s->id, n);
  ngtcp2_conn_extend_max_offset(c->nc, n);
  conn_kick(c);
}

size_t wr_quic_stream_queued(const wr_quic_stream *s) { return (size_t)(s->end - s->acked); }
int64_t wr_quic_stream_id(const wr_quic_stream *s) { return s->id; }
wr_quic_conn *wr_quic_stream_conn(const wr_quic_stream *s) { return s->c; }
void wr_quic_stream_set_user_data(wr_quic_stream *s, void *user_data) {
  s->user_data = user_data;
}
void *wr_quic_stream_get_user_data(const wr_quic_stream *s) { return s->user_data; }
