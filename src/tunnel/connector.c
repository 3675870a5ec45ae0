#include "tunnel/connector.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/backoff.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/dns.h"
#include "io/random.h"
#include "io/udp.h"
#include "proto/tunnel/tunnel.h"
#include "proto/text/uuid.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"

#define REGISTER_TIMEOUT_MS 15000
#define DEFAULT_QUIC_TIMEOUT_MS 5000
#define DEFAULT_PROBE_INTERVAL_MS 60000
#define DEFAULT_IDLE_TIMEOUT_MS 30000 /* as the transports default to */
#define DEFAULT_KEEPALIVE_MS 1000
#define DRAIN_POLL_MS 100
/* Reconnect delays: the first ceiling is small, so a connection that drops
 * comes back in a fraction of a second; failures double it up to the cap. */
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 30000
#define BACKOFF_RESET_MS 60000
/* After a refusal (ICMP port unreachable, TCP RST: the edge's host answered
 * that nothing listens) the next try costs a packet and an answer, so the
 * connector keeps asking this often, however long the outage: connections
 * are back within about this long of the edge's return. */
#define REFUSED_RETRY_CAP_MS 1000

/* A slot's connection: IDLE -> DIALING -> CONNECTED -> REGISTERED, and
 * WAITING (backoff) after a failure. A probe (a QUIC connection dialled
 * beside a slot's http2 one, connector.h) lives in the slot's shadow, which
 * uses the same states and, after a switch, DRAINING for the old http2
 * connection until its streams are done. */
enum slot_state {
  SLOT_IDLE,
  SLOT_WAITING,
  SLOT_DIALING,
  SLOT_CONNECTED,
  SLOT_REGISTERED,
  SLOT_DRAINING
};

typedef struct slot {
  wr_connector *cn;
  struct slot *owner; /* a shadow: the slot it probes or drains for; else NULL */
  unsigned index;
  int proto;          /* WR_CONNECTOR_QUIC or WR_CONNECTOR_HTTP2: what conn uses */
  /* auto: QUIC was refused (ICMP port unreachable) and this http2 dial tells
   * a down edge (refused too) from a firewall that rejects UDP (it works). */
  int tcp_check;
  uint64_t drain_deadline;
  enum slot_state state;
  wr_dns_req *dns;        /* DIALING an edge given by name: resolving it first */
  wr_mux_conn *conn;
  wr_mux_stream *control;
  unsigned edge;          /* index into cfg.edges of the current or next dial */
  wr_backoff backoff;
  uv_timer_t timer;       /* reconnect delay, then registration timeout */
  uint64_t connected_at;
  char conn_id[WR_UUID_STR_LEN + 1]; /* the edge's id for the connection */
  char location[WR_TUNNEL_MAX_SHORT_STRING + 1];
  wr_metric *m_rtt, *m_cwnd, *m_lost;
} slot;

/* What a stream turns out to be, from its first message. */
enum stream_kind { STREAM_NEW, STREAM_CONTROL, STREAM_REQUEST };

typedef struct stream_state {
  enum stream_kind kind;
  slot *sl;
  wr_tunnel_decoder dec; /* until the first message (always, for control) */
  int dec_ready;
  wr_proxy *proxy;
} stream_state;

struct wr_connector {
  wr_connector_config cfg;
  wr_quic_endpoint *ep;
  /* Per edge: its address (for a name, the latest answer), whether it is a
   * name to resolve before each dial, and how log lines show it (the
   * address dialled; a name until it first resolves). */
  wr_addr edges[WR_CONNECTOR_MAX_EDGES];
  uint8_t edge_is_name[WR_CONNECTOR_MAX_EDGES];
  unsigned edge_failures[WR_CONNECTOR_MAX_EDGES]; /* picks a name's next address */
  char edge_shown[WR_CONNECTOR_MAX_EDGES][WR_ADDR_STRLEN];
  int ipv4_only;    /* the endpoint socket is IPv4: IPv6 answers are skipped */
  int dns_pending;  /* resolutions whose callback has not run yet */
  slot slots[WR_CONNECTOR_MAX_HA];
  slot shadows[WR_CONNECTOR_MAX_HA]; /* QUIC probes and draining http2 connections */
  int auto_proto;   /* auto: the protocol new slots start with */
  int warned_udp;   /* the fallback warning was logged */
  int h2_open;      /* http2 connections not yet closed (on_closed pending) */
  uint8_t connector_id[16];
  wr_proxy_ctx proxy;
  int first_registered; /* connection 0 has registered or failed once */
  int shutting_down;
  int forced;
  uv_timer_t grace;       /* polls for the end of in-flight requests */
  uint64_t grace_deadline;
  int open_handles;
  int done_called;
  void (*done)(wr_connector *cn, void *arg);
  void *done_arg;
  wr_metric *m_ha, *m_reg_fail, *m_rcvbuf, *m_sndbuf;
  wr_metric *m_ha_quic, *m_ha_h2;
};

static const wr_mux_events events;
static void dial(slot *sl);
static void maybe_done(wr_connector *cn);

static const char *edge_name(const wr_connector *cn, unsigned i) { return cn->edge_shown[i]; }

static uint64_t random64(void) {
  uint64_t r;
  /* Only jitter: wr_connector_start drew the connector id first, so this
   * cannot fail; if it did, no jitter is still a valid delay. */
  if (wr_random_bytes(&r, sizeof r) != 0)
    r = 0;
  return r;
}

size_t wr_connector_ready(const wr_connector *cn) {
  size_t n = 0;
  for (unsigned i = 0; i < cn->cfg.ha_connections; i++)
    n += cn->slots[i].state == SLOT_REGISTERED;
  return n;
}

static void update_ha_gauge(wr_connector *cn) {
  size_t quic = 0, h2 = 0;
  for (unsigned i = 0; i < cn->cfg.ha_connections; i++)
    if (cn->slots[i].state == SLOT_REGISTERED)
      *(cn->slots[i].proto == WR_CONNECTOR_HTTP2 ? &h2 : &quic) += 1;
  wr_metric_set(cn->m_ha, (double)(quic + h2));
  wr_metric_set(cn->m_ha_quic, (double)quic);
  wr_metric_set(cn->m_ha_h2, (double)h2);
}

/* ---- protocol selection (auto) ------------------------------------------ */

static void start_probe(slot *sl);
static void on_timer(uv_timer_t *t);

/* A slot on http2 under auto: the next QUIC probe after about one interval
 * (0.75x to 1.25x, so slots do not probe in step). */
static void schedule_probe(slot *sl) {
  wr_connector *cn = sl->cn;
  if (cn->cfg.protocol != WR_CONNECTOR_AUTO || sl->proto != WR_CONNECTOR_HTTP2 ||
      sl->state != SLOT_REGISTERED || cn->shutting_down)
    return;
  uint64_t iv = cn->cfg.quic_probe_interval_ms;
  uint64_t delay = iv * 3 / 4 + (iv >= 2 ? random64() % (iv / 2) : 0);
  uv_timer_start(&sl->timer, on_timer, delay, 0);
}

/* ---- reconnecting ------------------------------------------------------ */

/* The slot timer: by state, the reconnect delay (WAITING), the QUIC
 * handshake bound under auto (DIALING), the registration timeout
 * (CONNECTED), the next QUIC probe (REGISTERED on http2) or the drain poll
 * (a shadow's DRAINING). */
static void on_timer(uv_timer_t *t) {
  slot *sl = t->data;
  if (sl->state == SLOT_WAITING && !sl->owner) {
    dial(sl);
  } else if (sl->state == SLOT_DIALING && sl->conn) {
    /* on_closed sees a QUIC dial that never connected and falls back. */
    sl->conn->ops->close(sl->conn, WR_TUNNEL_CLOSE_NO_ERROR, "QUIC handshake timed out");
  } else if (sl->state == SLOT_CONNECTED && sl->conn) {
    WR_ERROR("Registration timed out", "connIndex=%u edge=%s", sl->index,
             edge_name(sl->cn, sl->edge));
    sl->conn->ops->close(sl->conn, WR_TUNNEL_CLOSE_REGISTRATION_TIMEOUT, "registration timeout");
  } else if (sl->state == SLOT_REGISTERED && !sl->owner) {
    start_probe(sl);
  } else if (sl->state == SLOT_DRAINING && sl->conn) {
    /* Done when only the control stream is left (or the grace is over). */
    wr_mux_stats st = {0};
    sl->conn->ops->stats(sl->conn, &st);
    if (st.streams_open <= 1 || wr_now_ns() >= sl->drain_deadline)
      sl->conn->ops->close(sl->conn, WR_TUNNEL_CLOSE_NO_ERROR, "switched to QUIC");
    else
      uv_timer_start(&sl->timer, on_timer, DRAIN_POLL_MS, 0);
  }
}

/* refused: the edge's host said nothing listens (see REFUSED_RETRY_CAP_MS). */
static void schedule_reconnect(slot *sl, int failed, int refused) {
  wr_connector *cn = sl->cn;
  sl->state = SLOT_WAITING;
  if (cn->shutting_down)
    return;
  if (failed) { /* rotate: the next attempt goes to another edge (or address) */
    cn->edge_failures[sl->edge]++;
    sl->edge = (sl->edge + 1) % (unsigned)cn->cfg.nedges;
  }
  uint64_t delay = wr_backoff_next(&sl->backoff, random64());
  if (refused && delay > REFUSED_RETRY_CAP_MS * WR_NS_PER_MS)
    delay = REFUSED_RETRY_CAP_MS * WR_NS_PER_MS / 2 +
            random64() % (REFUSED_RETRY_CAP_MS * WR_NS_PER_MS / 2);
  WR_INFO("Retrying connection", "connIndex=%u edge=%s in=%llums", sl->index,
          edge_name(cn, sl->edge), (unsigned long long)(delay / WR_NS_PER_MS));
  uv_timer_start(&sl->timer, on_timer, delay / WR_NS_PER_MS, 0);
}

/* Connection 0 has an answer: let the others dial. */
static void release_others(wr_connector *cn) {
  if (cn->first_registered)
    return;
  cn->first_registered = 1;
  for (unsigned i = 1; i < cn->cfg.ha_connections; i++)
    if (cn->slots[i].state == SLOT_IDLE)
      dial(&cn->slots[i]);
}

/* The dial of sl did not start (rv) or its edge's name did not resolve
 * (why): a probe waits for the next interval, a slot for its backoff. */
static void dial_failed(slot *sl, int rv, const char *why) {
  wr_connector *cn = sl->cn;
  sl->conn = NULL;
  sl->tcp_check = 0;
  if (sl->owner) {
    sl->state = SLOT_IDLE;
    WR_INFO("QUIC probe failed: staying on http2", "connIndex=%u error=\"%s\"", sl->index,
            why ? why : wr_strerror(rv));
    schedule_probe(sl->owner);
    return;
  }
  if (why)
    WR_ERROR("Could not resolve the edge", "connIndex=%u edge=%s error=\"%s\"", sl->index,
             cn->cfg.edges[sl->edge], why);
  else
    WR_ERROR("Could not dial the edge", "connIndex=%u edge=%s error=\"%s\"", sl->index,
             edge_name(cn, sl->edge), wr_strerror(rv));
  schedule_reconnect(sl, 1, 0);
  if (sl->index == 0)
    release_others(cn);
}

/* Opens sl's connection to a, over the protocol dial chose. */
static void dial_addr(slot *sl, const wr_addr *a) {
  wr_connector *cn = sl->cn;
  int rv;
  if (sl->proto == WR_CONNECTOR_HTTP2) {
    wr_mux_h2_config hc = {.idle_timeout_ms = cn->cfg.idle_timeout_ms,
                          .keepalive_ms = cn->cfg.keepalive_ms};
    rv = wr_mux_h2_connect(&sl->conn, cn->cfg.loop, &a->sa, cn->cfg.server_name, cn->cfg.tls, &hc,
                          &events, sl);
    if (rv == 0)
      cn->h2_open++;
  } else {
    rv = wr_mux_quic_connect(&sl->conn, cn->ep, &a->sa, cn->cfg.server_name, cn->cfg.tls,
                            &events, sl);
    if (rv == 0 && cn->cfg.protocol == WR_CONNECTOR_AUTO)
      uv_timer_start(&sl->timer, on_timer, cn->cfg.quic_timeout_ms, 0);
  }
  if (rv)
    dial_failed(sl, rv, NULL);
}

/* The answer for the edge name sl is about to dial. One of the addresses
 * the endpoint can reach becomes the edge's address (and what logs show):
 * the first, and after each failed dial of this edge the next one, so a
 * name with a dead address (say ::1 before 127.0.0.1) still gets through. */
static void edge_resolved(int status, const wr_addr *addrs, size_t naddrs, const char *err,
                          void *arg) {
  slot *sl = arg;
  wr_connector *cn = sl->cn;
  sl->dns = NULL;
  cn->dns_pending--;
  if (cn->shutting_down) {
    sl->state = SLOT_IDLE;
    maybe_done(cn);
    return;
  }
  const wr_addr *usable[WR_DNS_MAX_ADDRS], *a = NULL;
  size_t n = 0;
  for (size_t i = 0; i < naddrs; i++)
    if (!cn->ipv4_only || addrs[i].sa.sa_family == AF_INET)
      usable[n++] = &addrs[i];
  if (n)
    a = usable[cn->edge_failures[sl->edge] % n];
  if (status == 0 && !a) {
    status = WR_ERR_NOTFOUND;
    err = "the name has only IPv6 addresses and this host has no IPv6 socket";
  }
  if (status != 0) {
    dial_failed(sl, status, err);
    return;
  }
  cn->edges[sl->edge] = *a;
  wr_addr_format(a, cn->edge_shown[sl->edge], sizeof cn->edge_shown[sl->edge]);
  dial_addr(sl, a);
}

/* Dials sl's current edge: at once for an address, after resolving it again
 * for a name (so an edge whose DNS changes is followed on the next dial). */
static void dial(slot *sl) {
  wr_connector *cn = sl->cn;
  if (cn->shutting_down)
    return;
  if (sl->owner)
    sl->proto = WR_CONNECTOR_QUIC; /* a probe */
  else if (sl->tcp_check)
    sl->proto = WR_CONNECTOR_HTTP2;
  else
    sl->proto = cn->cfg.protocol == WR_CONNECTOR_AUTO ? cn->auto_proto : cn->cfg.protocol;
  sl->state = SLOT_DIALING;
  if (!cn->edge_is_name[sl->edge]) {
    dial_addr(sl, &cn->edges[sl->edge]);
    return;
  }
  char err[WR_DNS_MAX_HOST + 96];
  int rv = wr_dns_resolve(cn->cfg.loop, cn->cfg.edges[sl->edge], edge_resolved, sl, &sl->dns, err,
                          sizeof err);
  if (rv) {
    dial_failed(sl, rv, err);
    return;
  }
  cn->dns_pending++;
}

static void start_probe(slot *sl) {
  wr_connector *cn = sl->cn;
  slot *sh = &cn->shadows[sl->index];
  if (sh->state != SLOT_IDLE) { /* still draining an older connection */
    schedule_probe(sl);
    return;
  }
  sh->edge = sl->edge;
  WR_DEBUG("Probing QUIC", "connIndex=%u edge=%s", sl->index, edge_name(cn, sl->edge));
  dial(sh);
}

static int send_msg(wr_mux_conn *c, wr_mux_stream *s, const wr_tunnel_msg *m);

/* The probe sh registered: its slot takes the QUIC connection now and the
 * http2 one moves to the shadow to drain (UNREGISTER, then closed by
 * on_timer once its streams are done). */
static void switch_to_probe(slot *sh) {
  slot *sl = sh->owner;
  wr_connector *cn = sl->cn;
  if (sl->state != SLOT_REGISTERED || !sl->conn) { /* the slot is reconnecting meanwhile */
    sh->conn->ops->close(sh->conn, WR_TUNNEL_CLOSE_NO_ERROR, "probe no longer needed");
    return;
  }
  wr_mux_conn *old = sl->conn;
  wr_mux_stream *oldctl = sl->control;
  char old_id[sizeof sl->conn_id], old_loc[sizeof sl->location];
  memcpy(old_id, sl->conn_id, sizeof old_id);
  memcpy(old_loc, sl->location, sizeof old_loc);

  uv_timer_stop(&sl->timer);
  uv_timer_stop(&sh->timer);
  sl->conn = sh->conn;
  sl->control = sh->control;
  sl->conn->user = sl;
  memcpy(sl->conn_id, sh->conn_id, sizeof sl->conn_id);
  memcpy(sl->location, sh->location, sizeof sl->location);
  sl->proto = WR_CONNECTOR_QUIC;
  sl->connected_at = wr_now_ns();

  sh->conn = old;
  sh->control = oldctl;
  old->user = sh;
  memcpy(sh->conn_id, old_id, sizeof sh->conn_id);
  memcpy(sh->location, old_loc, sizeof sh->location);
  sh->proto = WR_CONNECTOR_HTTP2;
  sh->state = SLOT_DRAINING;
  cn->auto_proto = WR_CONNECTOR_QUIC;
  WR_INFO("Switched back to QUIC", "connIndex=%u connection=%s previous=%s", sl->index,
          sl->conn_id, sh->conn_id);
  if (oldctl) {
    wr_tunnel_msg m = {.type = WR_TUNNEL_UNREGISTER};
    m.u.error.reason = (wr_h1_slice){"switched to QUIC", 16};
    if (send_msg(old, oldctl, &m) != 0)
      WR_DEBUG("Could not send UNREGISTER", "connIndex=%u", sl->index);
  }
  sh->drain_deadline = wr_now_ns() + cn->cfg.grace_period_ms * WR_NS_PER_MS;
  uv_timer_start(&sh->timer, on_timer, DRAIN_POLL_MS, 0);
  update_ha_gauge(cn);
}

/* ---- control stream ---------------------------------------------------- */

static int send_msg(wr_mux_conn *c, wr_mux_stream *s, const wr_tunnel_msg *m) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_tunnel_encode(&b, m);
  if (rv == 0) {
    ssize_t n = c->ops->stream_write(s, b.data, b.len);
    /* Control messages are tiny and the queue is nearly empty: a short write
     * here means the connection is unusable. */
    rv = n == (ssize_t)b.len ? 0 : WR_ERR_IO;
  }
  wr_buf_free(&b);
  return rv;
}

static int send_register(slot *sl) {
  wr_connector *cn = sl->cn;
  uint8_t exporter[WR_TUNNEL_EXPORTER_LEN];
  int rv = sl->conn->ops->export_keying(sl->conn, WR_TUNNEL_EXPORTER_LABEL, NULL, 0, exporter,
                                        sizeof exporter);
  if (rv)
    return rv;
  wr_tunnel_msg m = {.type = WR_TUNNEL_REGISTER};
  wr_tunnel_register *r = &m.u.reg;
  memcpy(r->tunnel_id, cn->cfg.tunnel_id, 16);
  memcpy(r->connector_id, cn->connector_id, 16);
  r->conn_index = sl->index;
  r->version = (wr_h1_slice){"warren 0.1.0", 12};
  rv = wr_tunnel_proof(r->proof, cn->cfg.secret, cn->cfg.secret_len, exporter, r->tunnel_id,
                       r->connector_id, r->conn_index);
  sodium_memzero(exporter, sizeof exporter);
  return rv ? rv : send_msg(sl->conn, sl->control, &m);
}

static void on_control_msg(slot *sl, const wr_tunnel_msg *m) {
  wr_connector *cn = sl->cn;
  wr_mux_conn *c = sl->conn;
  switch (m->type) {
  case WR_TUNNEL_PING: {
    wr_tunnel_msg pong = {.type = WR_TUNNEL_PONG};
    pong.u.ping = m->u.ping;
    if (send_msg(c, sl->control, &pong) != 0)
      c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "control stream write failed");
    break;
  }
  case WR_TUNNEL_PONG:
    break;
  case WR_TUNNEL_REGISTERED: {
    const wr_tunnel_registered *r = &m->u.registered;
    wr_uuid_format(r->connection_id, sl->conn_id);
    size_t n = r->location.len < sizeof sl->location - 1 ? r->location.len : sizeof sl->location - 1;
    memcpy(sl->location, r->location.p, n);
    sl->location[n] = '\0';
    sl->state = SLOT_REGISTERED;
    sl->connected_at = wr_now_ns();
    uv_timer_stop(&sl->timer);
    WR_INFO("Registered tunnel connection", "connIndex=%u connection=%s ip=%s location=%s "
            "protocol=%s", sl->index, sl->conn_id, edge_name(cn, sl->edge), sl->location,
            c->ops->protocol);
    if (sl->owner) {
      switch_to_probe(sl);
      break;
    }
    if (sl->tcp_check) {
      /* QUIC was refused, http2 works: UDP is rejected on the way. */
      sl->tcp_check = 0;
      cn->auto_proto = WR_CONNECTOR_HTTP2;
      if (!cn->warned_udp) {
        cn->warned_udp = 1;
        WR_WARN("QUIC is refused but http2 works: UDP to the edge looks rejected by a firewall; "
                "using http2",
                "connIndex=%u edge=%s", sl->index, edge_name(cn, sl->edge));
      }
    }
    update_ha_gauge(cn);
    schedule_probe(sl);
    if (sl->index == 0)
      release_others(cn);
    break;
  }
  case WR_TUNNEL_REGISTER_ERROR: {
    const wr_tunnel_error *e = &m->u.error;
    static const char *const names[] = {"", "unauthorized", "unknown tunnel", "protocol error",
                                        "duplicate connection", "edge overloaded",
                                        "edge internal error"};
    const char *name = e->code < sizeof names / sizeof names[0] ? names[e->code] : "refused";
    WR_ERROR("Register tunnel error from server side", "connIndex=%u error=\"%s: %.*s\" edge=%s",
             sl->index, name, (int)e->reason.len, e->reason.p, edge_name(cn, sl->edge));
    wr_metric_inc(cn->m_reg_fail);
    c->ops->close(c, WR_TUNNEL_CLOSE_REGISTRATION_FAILED, name);
    break;
  }
  case WR_TUNNEL_UNREGISTER:
    WR_INFO("The edge is going away: reconnecting", "connIndex=%u location=%s", sl->index,
            sl->location);
    c->ops->close(c, WR_TUNNEL_CLOSE_GOING_AWAY, "edge unregistered");
    break;
  default:
    WR_ERROR("Unexpected message on the control stream", "connIndex=%u type=%s", sl->index,
             wr_tunnel_msg_name(m->type));
    c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "unexpected control message");
  }
}

/* ---- stream events ----------------------------------------------------- */

static void on_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  slot *sl = c->user;
  stream_state *st = wr_calloc(1, sizeof *st);
  if (!st || wr_tunnel_decoder_init(&st->dec, NULL) != 0) {
    wr_free(st);
    (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_INTERNAL);
    return;
  }
  st->dec_ready = 1;
  st->sl = sl;
  c->ops->stream_set_user(s, st);
}

static void on_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                           int fin) {
  stream_state *st = c->ops->stream_user(s);
  if (!st)
    return;
  if (st->kind == STREAM_REQUEST) {
    wr_proxy_on_data(st->proxy, data, len, fin);
    return;
  }
  slot *sl = c->user; /* not st->sl: a switch to QUIC moves connections between slots */
  while (len || fin) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&st->dec, data, len, &used, &m);
    data += used;
    len -= used;
    if (st->kind == STREAM_CONTROL || rv <= 0)
      c->ops->stream_consume(s, used);
    if (rv < 0) {
      WR_ERROR("Malformed message from the edge", "connIndex=%u error=\"%s\"", sl->index,
               wr_tunnel_decoder_reason(&st->dec));
      c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "malformed message");
      return;
    }
    if (rv == 0) {
      if (fin && st->kind == STREAM_CONTROL) {
        c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "control stream ended");
        return;
      }
      if (fin)
        (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_PROTOCOL);
      return;
    }
    if (st->kind == STREAM_NEW && m.type == WR_TUNNEL_REQUEST) {
      /* CONNECTED: REGISTER went out, and the edge opens request streams
       * only on a connection whose registration it accepted, so REGISTERED
       * is on its way: QUIC does not order one stream's bytes against
       * another's, and a request sent the moment the edge registered us
       * (one that waited for a connection) can come first. */
      if (sl->state != SLOT_REGISTERED && sl->state != SLOT_DRAINING &&
          !(sl->state == SLOT_CONNECTED && sl->control)) {
        (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_PROTOCOL);
        return;
      }
      st->kind = STREAM_REQUEST;
      if (wr_proxy_start(&sl->cn->proxy, c, s, &m.u.request, used, &st->proxy) != 0) {
        st->kind = STREAM_NEW;
        return;
      }
      wr_tunnel_decoder_free(&st->dec);
      st->dec_ready = 0;
      wr_proxy_on_data(st->proxy, data, len, fin);
      return;
    }
    if (st->kind == STREAM_NEW) {
      if (m.type != WR_TUNNEL_PING || sl->control) {
        WR_ERROR("Unexpected first message on a stream", "connIndex=%u type=%s", sl->index,
                 wr_tunnel_msg_name(m.type));
        c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "unexpected first message");
        return;
      }
      /* The edge's first stream, opened with a PING, is the control stream. */
      st->kind = STREAM_CONTROL;
      c->ops->stream_consume(s, used);
      sl->control = s;
      on_control_msg(sl, &m);
      if (sl->conn && send_register(sl) != 0) {
        WR_ERROR("Could not send the registration", "connIndex=%u", sl->index);
        c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "registration failed");
        return;
      }
      continue;
    }
    on_control_msg(sl, &m);
    if (sl->conn != c && sl->owner && sl->owner->conn == c)
      sl = sl->owner; /* the probe registered and its slot took c */
    if (sl->state == SLOT_WAITING || sl->conn != c)
      return;
  }
}

static void on_stream_writable(wr_mux_conn *c, wr_mux_stream *s) {
  stream_state *st = c->ops->stream_user(s);
  if (st && st->kind == STREAM_REQUEST)
    wr_proxy_on_writable(st->proxy);
}

static void on_stream_reset(wr_mux_conn *c, wr_mux_stream *s, uint64_t code) {
  stream_state *st = c->ops->stream_user(s);
  if (st && st->kind == STREAM_REQUEST)
    wr_proxy_on_reset(st->proxy, code);
}

static void on_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  stream_state *st = c->ops->stream_user(s);
  if (!st)
    return;
  if (st->kind == STREAM_REQUEST)
    wr_proxy_on_close(st->proxy);
  slot *sl = c->user;
  if (st->kind == STREAM_CONTROL && sl->control == s)
    sl->control = NULL;
  if (st->dec_ready)
    wr_tunnel_decoder_free(&st->dec);
  c->ops->stream_set_user(s, NULL);
  wr_free(st);
}

/* ---- connection events ------------------------------------------------- */

static void on_connected(wr_mux_conn *c) {
  slot *sl = c->user;
  sl->state = SLOT_CONNECTED;
  WR_DEBUG("Connected to the edge", "connIndex=%u edge=%s connection=%s", sl->index,
           edge_name(sl->cn, sl->edge), c->ops->id(c));
  uv_timer_start(&sl->timer, on_timer, REGISTER_TIMEOUT_MS, 0);
}

static void maybe_done(wr_connector *cn) {
  if (cn->open_handles == 0 && cn->h2_open == 0 && cn->dns_pending == 0 && cn->done &&
      !cn->done_called) {
    cn->done_called = 1;
    cn->done(cn, cn->done_arg);
  }
}

/* A shadow's connection ended: a failed probe (try again later) or a
 * drained http2 connection. */
static void shadow_closed(slot *sh, int before, int err, const char *reason) {
  wr_connector *cn = sh->cn;
  sh->state = SLOT_IDLE;
  if (cn->shutting_down)
    return;
  if (before == SLOT_DRAINING)
    WR_INFO("Closed the drained http2 connection", "connIndex=%u connection=%s", sh->index,
            sh->conn_id);
  else
    WR_INFO("QUIC probe failed: staying on http2", "connIndex=%u error=\"%s\"", sh->index,
            err == 0 && before == SLOT_DIALING ? "no QUIC handshake in time"
            : reason && *reason                ? reason
                                               : wr_strerror(err));
  schedule_probe(sh->owner);
}

static void on_closed(wr_mux_conn *c, int err, const char *reason) {
  slot *sl = c->user;
  wr_connector *cn = sl->cn;
  int before = sl->state;
  int was_registered = sl->state == SLOT_REGISTERED;
  uint64_t up = was_registered ? wr_now_ns() - sl->connected_at : 0;
  if (wr_mux_is_h2(c))
    cn->h2_open--;
  sl->conn = NULL;
  sl->control = NULL;
  uv_timer_stop(&sl->timer);
  if (sl->owner) {
    shadow_closed(sl, before, err, reason);
    maybe_done(cn);
    return;
  }
  /* A probe for a connection that is gone has nothing to switch to. */
  slot *sh = &cn->shadows[sl->index];
  if (sh->conn && sh->state != SLOT_DRAINING)
    sh->conn->ops->close(sh->conn, WR_TUNNEL_CLOSE_NO_ERROR, "the http2 connection ended");
  if (cn->shutting_down) {
    sl->state = SLOT_IDLE;
    WR_INFO("Connection closed", "connIndex=%u", sl->index);
  } else if (cn->cfg.protocol == WR_CONNECTOR_AUTO && sl->proto == WR_CONNECTOR_QUIC &&
             before == SLOT_DIALING && err == WR_ERR_REFUSED) {
    /* ICMP port unreachable: the edge's host answered, so UDP is not
     * silently dropped. Usually the edge is down, and its TCP port refuses
     * too; a firewall that rejects UDP (iptables' REJECT answers ICMP port
     * unreachable) leaves TCP working. One http2 dial, now, tells: refused,
     * and the next try after the backoff is QUIC again; registered, and the
     * connector stays on http2 (and probes QUIC as after any fallback). */
    WR_DEBUG("QUIC refused: checking the edge over TCP", "connIndex=%u edge=%s", sl->index,
             edge_name(cn, sl->edge));
    sl->tcp_check = 1;
    dial(sl);
  } else if (cn->cfg.protocol == WR_CONNECTOR_AUTO && sl->proto == WR_CONNECTOR_QUIC &&
             before == SLOT_DIALING && err != WR_ERR_DENIED) {
    /* No QUIC handshake and no word from the edge's host: UDP to the edge
     * looks blocked. (An ICMP port unreachable is an answer: the edge is
     * down, and QUIC is tried again after the backoff.) */
    char why[96];
    if (err == 0) /* closed by on_timer */
      snprintf(why, sizeof why, "no QUIC handshake within %llums",
               (unsigned long long)cn->cfg.quic_timeout_ms);
    else
      snprintf(why, sizeof why, "%s", reason && *reason ? reason : wr_strerror(err));
    if (!cn->warned_udp) {
      cn->warned_udp = 1;
      WR_WARN("Unable to connect over QUIC: UDP to the edge looks blocked; falling back to http2",
              "connIndex=%u edge=%s error=\"%s\"", sl->index, edge_name(cn, sl->edge), why);
    } else {
      WR_INFO("Falling back to http2", "connIndex=%u edge=%s error=\"%s\"", sl->index,
              edge_name(cn, sl->edge), why);
    }
    cn->auto_proto = WR_CONNECTOR_HTTP2;
    dial(sl);
  } else {
    if (was_registered)
      WR_WARN("Connection terminated", "connIndex=%u error=\"%s\"", sl->index,
              reason && *reason ? reason : wr_strerror(err));
    else if (sl->tcp_check && err == WR_ERR_REFUSED)
      WR_ERROR("Unable to reach the edge: nothing listens on its UDP or TCP port",
               "connIndex=%u edge=%s", sl->index, edge_name(cn, sl->edge));
    else
      WR_ERROR("Unable to establish connection with the edge",
               "connIndex=%u edge=%s error=\"%s\"", sl->index, edge_name(cn, sl->edge),
               reason && *reason ? reason : wr_strerror(err));
    /* http2 cannot connect either: the edge looks down rather than UDP
     * blocked, so the next attempt tries QUIC again. */
    if (cn->cfg.protocol == WR_CONNECTOR_AUTO && sl->proto == WR_CONNECTOR_HTTP2 &&
        before == SLOT_DIALING)
      cn->auto_proto = WR_CONNECTOR_QUIC;
    sl->tcp_check = 0;
    wr_backoff_connected_for(&sl->backoff, up);
    schedule_reconnect(sl, !was_registered, err == WR_ERR_REFUSED);
    if (sl->index == 0)
      release_others(cn);
  }
  update_ha_gauge(cn);
  maybe_done(cn);
}

static const wr_mux_events events = {
    .on_connected = on_connected,
    .on_closed = on_closed,
    .on_stream_open = on_stream_open,
    .on_stream_data = on_stream_data,
    .on_stream_writable = on_stream_writable,
    .on_stream_reset = on_stream_reset,
    .on_stream_close = on_stream_close,
};

/* ---- start and stop ---------------------------------------------------- */

static void slot_metrics(wr_connector *cn, slot *sl) {
  if (!cn->cfg.metrics)
    return;
  char idx[16];
  snprintf(idx, sizeof idx, "%u", sl->index);
  wr_metrics *m = cn->cfg.metrics;
  sl->m_rtt = wr_metric_child(wr_metrics_family(m, WR_METRIC_GAUGE, "warren_tunnel_rtt_seconds",
                                                "Smoothed RTT to the edge per connection.",
                                                "connIndex"), idx);
  sl->m_cwnd = wr_metric_child(wr_metrics_family(m, WR_METRIC_GAUGE,
                                                 "warren_tunnel_congestion_window_bytes",
                                                 "Congestion window per connection.",
                                                 "connIndex"), idx);
  sl->m_lost = wr_metric_child(wr_metrics_family(m, WR_METRIC_GAUGE,
                                                 "warren_tunnel_lost_packets",
                                                 "Packets declared lost per connection.",
                                                 "connIndex"), idx);
}

void wr_connector_update_metrics(wr_connector *cn) {
  const wr_udp_sock *us = cn->ep ? wr_quic_endpoint_socket(cn->ep) : NULL;
  if (us) {
    wr_metric_set(cn->m_rcvbuf, (double)wr_udp_rcvbuf(us));
    wr_metric_set(cn->m_sndbuf, (double)wr_udp_sndbuf(us));
  }
  for (unsigned i = 0; i < cn->cfg.ha_connections; i++) {
    slot *sl = &cn->slots[i];
    if (sl->state != SLOT_REGISTERED || !sl->conn)
      continue;
    wr_mux_stats st = {0};
    sl->conn->ops->stats(sl->conn, &st);
    wr_metric_set(sl->m_rtt, (double)st.rtt_ns / 1e9);
    wr_metric_set(sl->m_cwnd, (double)st.cwnd);
    wr_metric_set(sl->m_lost, (double)st.lost_packets);
  }
}

/* cn->cfg's zeros become the documented defaults. */
static void apply_defaults(wr_connector_config *c) {
  if (!c->ha_connections)
    c->ha_connections = 4;
  if (c->ha_connections > WR_CONNECTOR_MAX_HA)
    c->ha_connections = WR_CONNECTOR_MAX_HA;
  if (!c->grace_period_ms)
    c->grace_period_ms = 30000;
  if (!c->quic_timeout_ms)
    c->quic_timeout_ms = DEFAULT_QUIC_TIMEOUT_MS;
  if (!c->quic_probe_interval_ms)
    c->quic_probe_interval_ms = DEFAULT_PROBE_INTERVAL_MS;
  if (c->protocol != WR_CONNECTOR_QUIC && c->protocol != WR_CONNECTOR_HTTP2)
    c->protocol = WR_CONNECTOR_AUTO;
  /* A PING a second, as cloudflared's: an edge that went away then answers
   * within a second (ICMP port unreachable, or a restarted edge's stateless
   * reset) instead of at a keep-alive ten seconds away; it costs one small
   * packet a second per connection. */
  uint64_t idle = c->idle_timeout_ms ? c->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
  if (!c->keepalive_ms)
    c->keepalive_ms = idle / 3 < DEFAULT_KEEPALIVE_MS ? idle / 3 : DEFAULT_KEEPALIVE_MS;
}

/* Sorts the configured edges into addresses (dialled as they are) and names
 * (resolved before each dial). WR_ERR_INVAL, logged, for one that is
 * neither. */
static int parse_edges(wr_connector *cn) {
  for (size_t i = 0; i < cn->cfg.nedges; i++) {
    const char *e = cn->cfg.edges[i];
    char why[160];
    if (wr_addr_parse(e, &cn->edges[i], why, sizeof why) == 0) {
      wr_addr_format(&cn->edges[i], cn->edge_shown[i], sizeof cn->edge_shown[i]);
    } else if (wr_dns_split_hostport(e, NULL, 0, NULL) == 0) {
      cn->edge_is_name[i] = 1;
      snprintf(cn->edge_shown[i], sizeof cn->edge_shown[i], "%s", e);
    } else {
      WR_ERROR("Bad edge address", "edge=%s error=\"%s\"", e, why);
      return WR_ERR_INVAL;
    }
  }
  return 0;
}

/* The UDP socket every QUIC connection of the connector shares. */
static int open_endpoint(wr_connector *cn) {
  /* One dual-stack socket reaches IPv4 and IPv6 edges alike; a host without
   * IPv6 gets an IPv4 one. */
  const wr_connector_config *cfg = &cn->cfg;
  wr_quic_config qc = {.alpn = WR_TUNNEL_ALPN, .idle_timeout_ms = cfg->idle_timeout_ms,
                       .keepalive_ms = cfg->keepalive_ms, .disable_gso = cfg->disable_gso};
  struct sockaddr_in6 any6 = {.sin6_family = AF_INET6};
  struct sockaddr_in any4 = {.sin_family = AF_INET};
  int rv = wr_quic_endpoint_new(&cn->ep, cfg->loop, (struct sockaddr *)&any6, &qc, NULL);
  if (rv) {
    rv = wr_quic_endpoint_new(&cn->ep, cfg->loop, (struct sockaddr *)&any4, &qc, NULL);
    cn->ipv4_only = 1;
  }
  return rv;
}

static void connector_metrics(wr_connector *cn) {
  wr_metrics *m = cn->cfg.metrics;
  if (!m)
    return;
  cn->m_ha = wr_metrics_gauge(m, "warren_tunnel_ha_connections",
                              "Registered connections to edges.");
  (void)wr_metrics_alias(m, "warren_tunnel_ha_connections", "cloudflared_tunnel_ha_connections");
  cn->m_reg_fail = wr_metrics_counter(m, "warren_tunnel_register_failures_total",
                                      "Registrations the edge refused.");
  cn->m_rcvbuf = wr_metrics_gauge(m, "warren_udp_receive_buffer_bytes",
                                  "UDP receive buffer the kernel granted.");
  cn->m_sndbuf = wr_metrics_gauge(m, "warren_udp_send_buffer_bytes",
                                  "UDP send buffer the kernel granted.");
  wr_metric_family *byp = wr_metrics_family(m, WR_METRIC_GAUGE, "warren_tunnel_connections",
                                            "Registered connections to edges by protocol.",
                                            "protocol");
  cn->m_ha_quic = wr_metric_child(byp, "quic");
  cn->m_ha_h2 = wr_metric_child(byp, "http2");
}

/* Slot i and its shadow, idle, each with its timer (counted in
 * open_handles). Slot i starts at edge i mod nedges. */
static void init_slot(wr_connector *cn, unsigned i) {
  slot *sl = &cn->slots[i];
  sl->cn = cn;
  sl->index = i;
  sl->edge = i % (unsigned)cn->cfg.nedges;
  wr_backoff_init(&sl->backoff, BACKOFF_BASE_MS * WR_NS_PER_MS, BACKOFF_CAP_MS * WR_NS_PER_MS,
                  BACKOFF_RESET_MS * WR_NS_PER_MS);
  uv_timer_init(cn->cfg.loop, &sl->timer);
  sl->timer.data = sl;
  cn->open_handles++;
  slot_metrics(cn, sl);
  slot *sh = &cn->shadows[i];
  sh->cn = cn;
  sh->owner = sl;
  sh->index = i;
  uv_timer_init(cn->cfg.loop, &sh->timer);
  sh->timer.data = sh;
  cn->open_handles++;
}

int wr_connector_start(wr_connector **pcn, const wr_connector_config *cfg) {
  if (cfg->nedges == 0 || cfg->nedges > WR_CONNECTOR_MAX_EDGES) {
    WR_ERROR("The connector needs between 1 and 16 edge addresses", "edges=%zu", cfg->nedges);
    return WR_ERR_INVAL;
  }
  if (cfg->secret_len < WR_TUNNEL_MIN_SECRET || cfg->secret_len > sizeof cfg->secret) {
    WR_ERROR("The tunnel secret must be 16 to 64 bytes", "length=%zu", cfg->secret_len);
    return WR_ERR_INVAL;
  }
  wr_connector *cn = wr_calloc(1, sizeof *cn);
  if (!cn)
    return WR_ERR_NOMEM;
  cn->cfg = *cfg;
  apply_defaults(&cn->cfg);
  cn->auto_proto = WR_CONNECTOR_QUIC;
  int rv = parse_edges(cn);
  if (rv)
    goto fail;
  if (wr_random_bytes(cn->connector_id, sizeof cn->connector_id) != 0) {
    WR_ERROR("No random bytes for the connector id", "%s", "");
    rv = WR_ERR_IO;
    goto fail;
  }
  if ((rv = open_endpoint(cn)) != 0)
    goto fail;
  cn->open_handles = 1; /* the endpoint */
  connector_metrics(cn);
  wr_proxy_ctx_init(&cn->proxy, cfg->loop, cfg->ingress, cfg->metrics);
  char tid[WR_UUID_STR_LEN + 1];
  wr_uuid_format(cfg->tunnel_id, tid);
  static const char *const pnames[] = {"auto", "quic", "http2"};
  WR_INFO("Starting tunnel", "tunnelID=%s haConnections=%u edges=%zu protocol=%s", tid,
          cn->cfg.ha_connections, cfg->nedges, pnames[cn->cfg.protocol]);
  for (unsigned i = 0; i < cn->cfg.ha_connections; i++)
    init_slot(cn, i);
  update_ha_gauge(cn);
  dial(&cn->slots[0]);
  *pcn = cn;
  return 0;
fail:
  sodium_memzero(cn->cfg.secret, sizeof cn->cfg.secret);
  wr_free(cn);
  return rv;
}

static void handle_closed(uv_handle_t *h) {
  wr_connector *cn = h->data;
  cn->open_handles--;
  maybe_done(cn);
}

static void slot_timer_closed(uv_handle_t *h) {
  h->data = ((slot *)h->data)->cn;
  handle_closed(h);
}

static void endpoint_closed(wr_quic_endpoint *ep, void *arg) {
  (void)ep;
  wr_connector *cn = arg;
  cn->ep = NULL;
  cn->open_handles--;
  maybe_done(cn);
}

static void close_everything(wr_connector *cn) {
  if (cn->forced == 2)
    return;
  cn->forced = 2;
  uv_timer_stop(&cn->grace);
  /* The endpoint closes the QUIC connections below; http2 ones are closed
   * here (maybe_done waits for their on_closed). */
  for (unsigned i = 0; i < 2 * cn->cfg.ha_connections; i++) {
    slot *sl = i < cn->cfg.ha_connections ? &cn->slots[i]
                                          : &cn->shadows[i - cn->cfg.ha_connections];
    if (sl->conn && wr_mux_is_h2(sl->conn))
      sl->conn->ops->close(sl->conn, 0, "connector shutting down");
  }
  for (unsigned i = 0; i < 2 * cn->cfg.ha_connections; i++) {
    slot *sl = i < cn->cfg.ha_connections ? &cn->slots[i]
                                          : &cn->shadows[i - cn->cfg.ha_connections];
    uv_timer_stop(&sl->timer);
    uv_close((uv_handle_t *)&sl->timer, slot_timer_closed);
  }
  wr_proxy_ctx_close(&cn->proxy);
  cn->grace.data = cn;
  uv_close((uv_handle_t *)&cn->grace, handle_closed);
  /* Closing the endpoint closes every connection (CONNECTION_CLOSE, code 0). */
  wr_quic_endpoint_close(cn->ep, 0, endpoint_closed, cn);
}

/* Polled while shutting down: the connections close once no request is in
 * flight, or when the grace period is over. Polling (rather than a callback
 * per finished request) keeps the proxy unaware of shutdowns. */
static void grace_tick(uv_timer_t *t) {
  wr_connector *cn = t->data;
  if (cn->proxy.inflight == 0) {
    close_everything(cn);
    return;
  }
  if (wr_now_ns() >= cn->grace_deadline) {
    WR_WARN("Grace period over: closing with requests still in flight", "inflight=%zu",
            cn->proxy.inflight);
    close_everything(cn);
  }
}

void wr_connector_shutdown(wr_connector *cn, void (*done)(wr_connector *cn, void *arg),
                           void *arg) {
  if (cn->shutting_down) {
    WR_WARN("Second signal: closing now", "inflight=%zu", cn->proxy.inflight);
    close_everything(cn);
    return;
  }
  cn->shutting_down = 1;
  cn->done = done;
  cn->done_arg = arg;
  cn->open_handles++; /* the grace timer */
  uv_timer_init(cn->cfg.loop, &cn->grace);
  cn->grace.data = cn;
  WR_INFO("Initiating graceful shutdown", "gracePeriod=%llums inflight=%zu",
          (unsigned long long)cn->cfg.grace_period_ms, cn->proxy.inflight);
  for (unsigned i = 0; i < cn->cfg.ha_connections; i++) {
    slot *sl = &cn->slots[i];
    uv_timer_stop(&sl->timer);
    if (sl->dns) /* edge_resolved sets the slot idle */
      wr_dns_cancel(sl->dns);
    if (sl->state == SLOT_REGISTERED && sl->control) {
      wr_tunnel_msg m = {.type = WR_TUNNEL_UNREGISTER};
      m.u.error.reason = (wr_h1_slice){"connector shutting down", 23};
      if (send_msg(sl->conn, sl->control, &m) != 0)
        WR_DEBUG("Could not send UNREGISTER", "connIndex=%u", sl->index);
    }
    /* A QUIC probe is not needed any more; a draining connection is
     * unregistered already. */
    slot *sh = &cn->shadows[i];
    uv_timer_stop(&sh->timer);
    if (sh->dns)
      wr_dns_cancel(sh->dns);
    if (sh->conn && sh->state != SLOT_DRAINING)
      sh->conn->ops->close(sh->conn, WR_TUNNEL_CLOSE_NO_ERROR, "connector shutting down");
  }
  cn->grace_deadline = wr_now_ns() + cn->cfg.grace_period_ms * WR_NS_PER_MS;
  uv_timer_start(&cn->grace, grace_tick, 0, 100);
}

void wr_connector_free(wr_connector *cn) {
  if (cn)
    sodium_memzero(cn->cfg.secret, sizeof cn->cfg.secret);
  wr_free(cn);
}
