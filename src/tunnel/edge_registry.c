/* edge_registry.c: connector registration on the control stream, and the
 * connections' life on the edge (tunnel/edge_registry.h). */
#include "tunnel/edge_registry.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/addr.h"
#include "io/random.h"
#include "proto/text/json.h"
#include "proto/text/uuid.h"

/* Time a REGISTER_ERROR gets to reach the connector before the close. */
#define REFUSE_LINGER_NS (500 * WR_NS_PER_MS)
#define CTL_OUT_MAX (256u * 1024u)
/* A connection whose peer has answered nothing for this long (plus four
 * RTTs) while data waits gets no new requests until it answers again: a
 * frozen or vanished connector would otherwise take its share of requests
 * until the idle timeout (30 s) closes it. */
#define UNRESPONSIVE_NS (1500 * WR_NS_PER_MS)

typedef struct reg_secret {
  wr_route_tunnel *t;
  uint8_t *secret;
  size_t len;
} reg_secret;

struct wr_edge_registry {
  wr_edge_registry_config cfg;
  char *location;
  reg_secret *secrets;
  size_t nsecrets, capsecrets;
  wr_edge_conn *conns;
  int draining;
};

static void update_conn_gauge(wr_edge_registry *r, wr_edge_conn *ec) {
  if (!ec->t)
    return;
  char labels[300];
  snprintf(labels, sizeof labels, "%s,%s", ec->t->name, ec->c->ops->protocol);
  size_t n = 0;
  for (wr_edge_conn *x = r->conns; x; x = x->next)
    if (x->registered && !x->retired && x->t == ec->t && x->c->ops == ec->c->ops)
      n++;
  wr_metric_set(wr_metric_child(r->cfg.conns, labels), (double)n);
}

/* ---- request streams on a connection ------------------------------------ */

uint64_t wr_edge_conn_group(const wr_edge_conn *ec) {
  uint64_t g;
  memcpy(&g, ec->connector_id, sizeof g);
  return g ? g : 1;
}

void wr_edge_conn_track(wr_edge_conn *ec, wr_edge_stream_user *u) {
  u->prev = NULL;
  u->next = ec->requests;
  if (ec->requests)
    ec->requests->prev = u;
  ec->requests = u;
}

void wr_edge_conn_untrack(wr_edge_conn *ec, wr_edge_stream_user *u) {
  if (u->prev)
    u->prev->next = u->next;
  else if (ec->requests == u)
    ec->requests = u->next;
  else
    return; /* not on the list */
  if (u->next)
    u->next->prev = u->prev;
  u->prev = u->next = NULL;
}

/* ec is judged dead: every request on it hears so now. Each is taken off
 * the list before its callback, which may retry it elsewhere (never on ec:
 * it is unresponsive or out of the routing table by now). */
static void lose_requests(wr_edge_conn *ec) {
  wr_edge_stream_user *u;
  while ((u = ec->requests) != NULL) {
    wr_edge_conn_untrack(ec, u);
    if (u->on_conn_lost)
      u->on_conn_lost(u);
  }
}

/* ---- control stream ---------------------------------------------------- */

static void ctl_flush(wr_edge_conn *ec) {
  while (ec->ctl && ec->out.len) {
    ssize_t n = ec->c->ops->stream_write(ec->ctl, ec->out.data, ec->out.len);
    if (n < 0)
      return; /* AGAIN: on_writable; CLOSED: the conn goes */
    wr_buf_consume(&ec->out, (size_t)n);
  }
}

static void ctl_send(wr_edge_conn *ec, const wr_tunnel_msg *m) {
  if (wr_tunnel_encode(&ec->out, m) != 0) {
    WR_ERROR("Cannot queue a control message", "connection=%s type=%s", ec->conn_id,
             wr_tunnel_msg_name(m->type));
    ec->c->ops->close(ec->c, WR_TUNNEL_CLOSE_PROTOCOL, "control queue full");
    return;
  }
  ctl_flush(ec);
}

static void econn_close(wr_edge_conn *ec, uint64_t code, const char *reason) {
  if (ec->closing)
    return;
  ec->closing = 1;
  ec->c->ops->close(ec->c, code, reason);
}

/* Sends m as the last message of the control stream and closes ec with
 * code once the answer had time to leave (the sweep). */
static void answer_and_close(wr_edge_conn *ec, const wr_tunnel_msg *m, uint64_t code,
                             const char *reason) {
  ctl_send(ec, m);
  if (ec->ctl)
    (void)ec->c->ops->stream_end(ec->ctl);
  ec->reg_deadline_ns = 0;
  ec->close_at_ns = wr_now_ns() + REFUSE_LINGER_NS;
  ec->close_code = code;
  ec->close_reason = reason;
}

static const char *refusal_result(uint64_t code) {
  return code == WR_TUNNEL_REG_UNAUTHORIZED     ? "unauthorized"
         : code == WR_TUNNEL_REG_UNKNOWN_TUNNEL ? "unknown_tunnel"
         : code == WR_TUNNEL_REG_PROTOCOL       ? "protocol"
                                                : "other";
}

static void send_refusal(wr_edge_conn *ec, uint64_t code, const char *why) {
  wr_tunnel_msg m = {.type = WR_TUNNEL_REGISTER_ERROR};
  m.u.error.code = code;
  m.u.error.reason.p = why;
  m.u.error.reason.len = strlen(why);
  answer_and_close(ec, &m, WR_TUNNEL_CLOSE_REGISTRATION_FAILED, "registration refused");
}

static void refuse(wr_edge_conn *ec, uint64_t code, const char *why, const char *tunnel) {
  const char *res = refusal_result(code);
  WR_WARN("Refused tunnel connection", "tunnel=%s connIndex=%u peer=%s result=%s reason=\"%s\"",
          tunnel, ec->index, ec->peer, res, why);
  wr_metric_inc(wr_metric_child(ec->reg->cfg.regs, res));
  send_refusal(ec, code, why);
}

/* A cleanup refused: told as a registration is, counted apart. */
static void refuse_cleanup(wr_edge_conn *ec, uint64_t code, const char *why, const char *tunnel) {
  const char *res = refusal_result(code);
  WR_WARN("Refused tunnel cleanup", "tunnel=%s peer=%s result=%s reason=\"%s\"", tunnel, ec->peer,
          res, why);
  if (ec->reg->cfg.cleanups)
    wr_metric_inc(wr_metric_child(ec->reg->cfg.cleanups, res));
  send_refusal(ec, code, why);
}

/* The secret of tunnel t, or NULL. */
static const reg_secret *secret_of(const wr_edge_registry *r, const wr_route_tunnel *t) {
  for (size_t i = 0; t && i < r->nsecrets; i++)
    if (r->secrets[i].t == t)
      return &r->secrets[i];
  return NULL;
}

/* Answers REGISTERED: ec takes requests from here on. */
static void accept_registration(wr_edge_conn *ec, wr_route_tunnel *t, const char *tid) {
  wr_edge_registry *r = ec->reg;
  uint8_t cid[16];
  if (wr_random_uuid(cid) != 0)
    memset(cid, 0, sizeof cid);
  wr_uuid_format(cid, ec->conn_id);
  ec->registered = 1;
  ec->registered_at = (int64_t)time(NULL);
  ec->t = t;
  ec->reg_deadline_ns = 0;
  wr_tunnel_msg m = {.type = WR_TUNNEL_REGISTERED};
  memcpy(m.u.registered.connection_id, cid, 16);
  m.u.registered.location.p = r->location;
  m.u.registered.location.len = strlen(r->location);
  ctl_send(ec, &m);
  wr_metric_inc(wr_metric_child(r->cfg.regs, "ok"));
  update_conn_gauge(r, ec);
  if (r->cfg.on_ready)
    r->cfg.on_ready(r->cfg.ready_arg, t);
  WR_INFO("Registered tunnel connection",
          "tunnel=%s tunnelID=%s connIndex=%u connection=%s location=%s peer=%s protocol=%s",
          t->name, tid, ec->index, ec->conn_id, r->location, ec->peer, ec->c->ops->protocol);
}

/* old, registered by the same connector for the same index as ec, is
 * replaced by ec. The connector dials an index again only once it has given
 * the old connection up, so over the same transport the old one is closed at
 * once (its requests follow the retry rule of tunnel/edge_proxy.c); a switch
 * from http2 back to QUIC drains the http2 one instead (the connector sends
 * UNREGISTER on it and closes it once its requests are done). Either way it
 * leaves the routing table and the connection gauge now. */
static void replace(wr_edge_conn *old, wr_edge_conn *ec) {
  wr_edge_registry *r = ec->reg;
  int same_transport = old->c->ops == ec->c->ops;
  old->retired = 1;
  wr_metric_inc(wr_metric_child(r->cfg.errors, "superseded_connection"));
  WR_INFO("Superseded tunnel connection",
          "tunnel=%s connIndex=%u connection=%s by=%s protocol=%s action=%s", old->t->name,
          old->index, old->conn_id, ec->conn_id, old->c->ops->protocol,
          same_transport ? "closed" : "drained");
  if (same_transport) {
    old->t->lost_at_ns = wr_now_ns();
    wr_routes_unregister(old->t, old);
    update_conn_gauge(r, old);
    econn_close(old, WR_TUNNEL_CLOSE_GOING_AWAY, "superseded by a new registration");
  } else {
    wr_routes_drain(old->t, old);
    update_conn_gauge(r, old);
  }
}

/* After ec registered: a connection it supersedes goes (replace); every
 * other connection of the tunnel gets a PING on its control stream. A
 * connector killed and started again registers under a new connector id,
 * and its old connections' host answers that PING with ICMP port
 * unreachable (net/quic.c ends them after three) or a TCP reset:
 * they leave the table within a few round trips, not when a request or the
 * idle timeout finds them. */
static void supersede(wr_edge_conn *ec) {
  wr_edge_registry *r = ec->reg;
  for (wr_edge_conn *x = r->conns, *next; x; x = next) {
    next = x->next;
    if (x == ec || !x->registered || x->retired || x->closing || x->t != ec->t)
      continue;
    if (x->index == ec->index &&
        memcmp(x->connector_id, ec->connector_id, sizeof ec->connector_id) == 0) {
      replace(x, ec);
      continue;
    }
    wr_tunnel_msg m = {.type = WR_TUNNEL_PING};
    if (wr_random_bytes(m.u.ping.data, sizeof m.u.ping.data) != 0)
      memset(m.u.ping.data, 0, sizeof m.u.ping.data);
    ctl_send(x, &m);
  }
}

static void on_register(wr_edge_conn *ec, const wr_tunnel_register *reg) {
  wr_edge_registry *r = ec->reg;
  char tid[37];
  wr_uuid_format(reg->tunnel_id, tid);
  ec->index = reg->conn_index;
  if (ec->registered) {
    refuse(ec, WR_TUNNEL_REG_PROTOCOL, "a second REGISTER on one connection", tid);
    return;
  }
  if (r->draining) {
    refuse(ec, WR_TUNNEL_REG_OVERLOADED, "the edge is shutting down", tid);
    return;
  }
  wr_route_tunnel *t = wr_routes_lookup_id(r->cfg.routes, reg->tunnel_id);
  const reg_secret *sec = secret_of(r, t);
  if (!sec) {
    refuse(ec, WR_TUNNEL_REG_UNKNOWN_TUNNEL, "unknown tunnel", tid);
    return;
  }
  uint8_t exporter[WR_TUNNEL_EXPORTER_LEN];
  if (ec->c->ops->export_keying(ec->c, WR_TUNNEL_EXPORTER_LABEL, NULL, 0, exporter,
                                sizeof exporter) != 0) {
    refuse(ec, WR_TUNNEL_REG_INTERNAL, "no TLS exporter on this connection", t->name);
    return;
  }
  if (wr_tunnel_proof_verify(reg, sec->secret, sec->len, exporter) != 0) {
    refuse(ec, WR_TUNNEL_REG_UNAUTHORIZED,
           "the registration proof does not verify (the credentials' secret is not this tunnel's)",
           t->name);
    return;
  }
  memcpy(ec->connector_id, reg->connector_id, sizeof ec->connector_id);
  int err = wr_routes_register(t, ec, ec->index);
  if (err != 0) {
    refuse(ec, WR_TUNNEL_REG_OVERLOADED,
           err == WR_ERR_LIMIT ? "too many connections for this tunnel" : "already registered",
           t->name);
    return;
  }
  wr_route_conn *rc = wr_routes_find(t, ec);
  if (rc)
    rc->group = wr_edge_conn_group(ec);
  accept_registration(ec, t, tid);
  supersede(ec);
}

/* Takes x out of routing, the gauge and /tunnels now, and closes it with
 * code (reason for the connector's log). Its requests follow the retry rule
 * of tunnel/edge_proxy.c as for any connection lost. */
static void retire(wr_edge_conn *x, uint64_t code, const char *reason) {
  x->retired = 1;
  if (x->registered) {
    x->t->lost_at_ns = wr_now_ns();
    wr_routes_unregister(x->t, x);
    update_conn_gauge(x->reg, x);
  }
  econn_close(x, code, reason);
}

static int all_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

/* CLEANUP (`warren tunnel cleanup`): the tunnel's owner proves its secret
 * as a REGISTER does, bound to this TLS session, and every connection of
 * the tunnel at this edge (or of the one connector named) is closed; ec
 * itself never registered, so it is not among them. The answer is CLEANED
 * with the count, then ec closes. A running connector dials again, as after
 * any lost connection. */
static void on_cleanup(wr_edge_conn *ec, const wr_tunnel_cleanup *cl) {
  wr_edge_registry *r = ec->reg;
  char tid[WR_UUID_STR_LEN + 1], who[WR_UUID_STR_LEN + 1];
  wr_uuid_format(cl->tunnel_id, tid);
  int every = all_zero(cl->connector_id, sizeof cl->connector_id);
  if (every)
    snprintf(who, sizeof who, "all");
  else
    wr_uuid_format(cl->connector_id, who);
  wr_route_tunnel *t = wr_routes_lookup_id(r->cfg.routes, cl->tunnel_id);
  const reg_secret *sec = secret_of(r, t);
  if (!sec) {
    refuse_cleanup(ec, WR_TUNNEL_REG_UNKNOWN_TUNNEL, "unknown tunnel", tid);
    return;
  }
  uint8_t exporter[WR_TUNNEL_EXPORTER_LEN];
  if (ec->c->ops->export_keying(ec->c, WR_TUNNEL_EXPORTER_LABEL, NULL, 0, exporter,
                                sizeof exporter) != 0) {
    refuse_cleanup(ec, WR_TUNNEL_REG_INTERNAL, "no TLS exporter on this connection", t->name);
    return;
  }
  if (wr_tunnel_cleanup_proof_verify(cl, sec->secret, sec->len, exporter) != 0) {
    refuse_cleanup(ec, WR_TUNNEL_REG_UNAUTHORIZED,
                   "the cleanup proof does not verify (the credentials' secret is not this "
                   "tunnel's)",
                   t->name);
    return;
  }
  uint64_t n = 0;
  for (wr_edge_conn *x = r->conns, *next; x; x = next) {
    next = x->next;
    if (x == ec || x->t != t || x->closing)
      continue;
    if (!every && memcmp(x->connector_id, cl->connector_id, sizeof x->connector_id) != 0)
      continue;
    WR_INFO("Closing tunnel connection",
            "tunnel=%s connIndex=%u connection=%s reason=\"tunnel cleanup\" by=%s", t->name,
            x->index, x->conn_id, ec->peer);
    retire(x, WR_TUNNEL_CLOSE_CLEANED_UP, "closed by tunnel cleanup");
    n++;
  }
  WR_INFO("Cleaned up tunnel connections", "tunnel=%s tunnelID=%s connector=%s closed=%llu peer=%s",
          t->name, tid, who, (unsigned long long)n, ec->peer);
  if (r->cfg.cleanups)
    wr_metric_inc(wr_metric_child(r->cfg.cleanups, "ok"));
  wr_tunnel_msg m = {.type = WR_TUNNEL_CLEANED};
  m.u.cleaned.closed = n;
  answer_and_close(ec, &m, WR_TUNNEL_CLOSE_NO_ERROR, "cleanup done");
}

/* One control message from a connection that may still take them. */
static void ctl_message(wr_edge_conn *ec, const wr_tunnel_msg *m) {
  switch (m->type) {
  case WR_TUNNEL_REGISTER:
    on_register(ec, &m->u.reg);
    break;
  case WR_TUNNEL_CLEANUP:
    if (ec->registered) {
      WR_WARN("Closing tunnel connection", "connection=%s reason=\"CLEANUP after REGISTER\"",
              ec->conn_id);
      econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "CLEANUP after REGISTER");
    } else if (ec->reg->draining) {
      refuse_cleanup(ec, WR_TUNNEL_REG_OVERLOADED, "the edge is shutting down", "-");
    } else {
      on_cleanup(ec, &m->u.cleanup);
    }
    break;
  case WR_TUNNEL_PING: {
    wr_tunnel_msg p = {.type = WR_TUNNEL_PONG};
    p.u.ping = m->u.ping;
    ctl_send(ec, &p);
    break;
  }
  case WR_TUNNEL_PONG:
    break;
  case WR_TUNNEL_UNREGISTER:
    if (ec->registered && !ec->draining) {
      ec->draining = 1;
      wr_routes_drain(ec->t, ec);
      WR_INFO("Unregistered tunnel connection", "tunnel=%s connIndex=%u connection=%s", ec->t->name,
              ec->index, ec->conn_id);
    }
    break;
  default:
    if (!ec->registered) {
      refuse(ec, WR_TUNNEL_REG_PROTOCOL, "expected REGISTER", "-");
    } else {
      WR_WARN("Closing tunnel connection", "connection=%s reason=\"unexpected %s\"", ec->conn_id,
              wr_tunnel_msg_name(m->type));
      econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "unexpected control message");
    }
    break;
  }
}

static wr_edge_conn *ctl_conn(wr_edge_stream_user *u) {
  return (wr_edge_conn *)(void *)((char *)u - offsetof(wr_edge_conn, ctl_user));
}

static void ctl_on_data(wr_edge_stream_user *u, const uint8_t *data, size_t len, int fin) {
  wr_edge_conn *ec = ctl_conn(u);
  size_t total = len;
  while (len && !ec->closing && !ec->close_at_ns) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&ec->dec, data, len, &used, &m);
    data += used;
    len -= used;
    if (rv < 0) {
      WR_WARN("Closing tunnel connection", "connection=%s peer=%s reason=\"%s\"", ec->conn_id,
              ec->peer, wr_tunnel_decoder_reason(&ec->dec));
      if (ec->registered)
        econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "malformed control message");
      else
        refuse(ec, WR_TUNNEL_REG_PROTOCOL, wr_tunnel_decoder_reason(&ec->dec), "-");
      break;
    }
    if (rv == 0)
      break;
    ctl_message(ec, &m);
  }
  ec->c->ops->stream_consume(ec->ctl, total);
  (void)fin;
}

static void ctl_on_writable(wr_edge_stream_user *u) { ctl_flush(ctl_conn(u)); }

static void ctl_on_reset(wr_edge_stream_user *u, uint64_t code) {
  (void)u;
  (void)code; /* the close follows */
}

static void ctl_on_close(wr_edge_stream_user *u, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  wr_edge_conn *ec = ctl_conn(u);
  ec->ctl = NULL;
  if (ec->registered && !ec->closing)
    econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "control stream closed");
}

static const wr_edge_stream_events ctl_events = {
    .on_data = ctl_on_data,
    .on_writable = ctl_on_writable,
    .on_reset = ctl_on_reset,
    .on_close = ctl_on_close,
};

/* ---- tunnel seam events ------------------------------------------------- */

/* A connection with its wr_edge_conn (c->user). */
static void ev_closed(wr_mux_conn *c, int err, const char *reason) {
  wr_edge_conn *ec = c->user;
  wr_edge_registry *r = ec->reg;
  if (ec->registered) {
    ec->t->lost_at_ns = wr_now_ns();
    wr_routes_unregister(ec->t, ec);
    ec->registered = 0;
    update_conn_gauge(r, ec);
    WR_INFO("Tunnel connection closed", "tunnel=%s connIndex=%u connection=%s reason=\"%s\"",
            ec->t->name, ec->index, ec->conn_id,
            err == 0 ? "closed by the edge" : (reason ? reason : wr_strerror(err)));
  }
  if (ec->prev)
    ec->prev->next = ec->next;
  else
    r->conns = ec->next;
  if (ec->next)
    ec->next->prev = ec->prev;
  wr_tunnel_decoder_free(&ec->dec);
  wr_buf_free(&ec->out);
  wr_free(ec);
  c->user = NULL;
}

static void ev_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  /* Connectors open no streams (docs/protocol.md). */
  wr_edge_conn *ec = c->user;
  WR_WARN("Reset a stream the connector opened", "connection=%s", ec->conn_id);
  (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_PROTOCOL);
}

static wr_edge_stream_user *user_of(wr_mux_conn *c, wr_mux_stream *s) {
  return c->ops->stream_user(s);
}

static void ev_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                           int fin) {
  wr_edge_stream_user *u = user_of(c, s);
  if (u)
    u->ev->on_data(u, data, len, fin);
  else
    c->ops->stream_consume(s, len);
}

static void ev_stream_writable(wr_mux_conn *c, wr_mux_stream *s) {
  wr_edge_stream_user *u = user_of(c, s);
  if (u)
    u->ev->on_writable(u);
}

static void ev_stream_reset(wr_mux_conn *c, wr_mux_stream *s, uint64_t code) {
  wr_edge_stream_user *u = user_of(c, s);
  if (u)
    u->ev->on_reset(u, code);
}

static void ev_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  wr_edge_stream_user *u = user_of(c, s);
  if (u)
    u->ev->on_close(u, has_code, code);
}

static const wr_mux_events conn_events = {
    .on_closed = ev_closed,
    .on_stream_open = ev_stream_open,
    .on_stream_data = ev_stream_data,
    .on_stream_writable = ev_stream_writable,
    .on_stream_reset = ev_stream_reset,
    .on_stream_close = ev_stream_close,
};

/* A new connection (c->user: the registry): from here on its events are
 * conn_events and its user a wr_edge_conn. */
static void ev_connected(wr_mux_conn *c) {
  wr_edge_registry *r = c->user;
  wr_edge_conn *ec = wr_calloc(1, sizeof *ec);
  if (!ec || wr_tunnel_decoder_init(&ec->dec, NULL) != 0) {
    wr_free(ec);
    c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "out of memory");
    return;
  }
  ec->reg = r;
  ec->c = c;
  ec->ctl_user.ev = &ctl_events;
  wr_buf_init(&ec->out, CTL_OUT_MAX);
  snprintf(ec->conn_id, sizeof ec->conn_id, "%s", c->ops->id(c));
  wr_addr_format_sa(c->ops->peer_addr(c), 0, ec->peer, sizeof ec->peer);
  c->user = ec;
  c->ev = &conn_events;
  ec->next = r->conns;
  if (r->conns)
    r->conns->prev = ec;
  r->conns = ec;
  if (r->draining) {
    econn_close(ec, WR_TUNNEL_CLOSE_GOING_AWAY, "the edge is shutting down");
    return;
  }
  ec->reg_deadline_ns = wr_now_ns() + r->cfg.register_timeout_ms * WR_NS_PER_MS;
  /* The edge opens the control stream (an HTTP/2 server could not have the
   * connector open it) and speaks first with a PING; the connector answers
   * PONG and REGISTER on it. */
  int rc = c->ops->stream_open(c, &ec->ctl_user, &ec->ctl);
  if (rc != 0) {
    WR_WARN("Closing tunnel connection", "peer=%s reason=\"cannot open the control stream: %s\"",
            ec->peer, wr_strerror(rc));
    econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "cannot open the control stream");
    return;
  }
  wr_tunnel_msg m = {.type = WR_TUNNEL_PING};
  if (wr_random_bytes(m.u.ping.data, sizeof m.u.ping.data) != 0)
    memset(m.u.ping.data, 0, sizeof m.u.ping.data);
  ctl_send(ec, &m);
  WR_DEBUG("Connector connected", "peer=%s connection=%s", ec->peer, ec->conn_id);
}

static void ev_closed_early(wr_mux_conn *c, int err, const char *reason) {
  (void)c; /* closed before its handshake completed: nothing of it here */
  (void)err;
  (void)reason;
}

static const wr_mux_events listener_events = {
    .on_connected = ev_connected,
    .on_closed = ev_closed_early,
};

const wr_mux_events *wr_edge_registry_events(void) { return &listener_events; }

/* ---- periodic work ------------------------------------------------------ */

/* UNREGISTER (going away) on every connection that has no request in flight.
 * Busy ones are told once their requests are done, so a connector that
 * closes at once on UNREGISTER cuts no response short. */
static void send_unregisters(wr_edge_registry *r) {
  for (wr_edge_conn *ec = r->conns; ec; ec = ec->next) {
    if (!ec->registered || ec->unregister_sent)
      continue;
    wr_route_conn *rc = wr_routes_find(ec->t, ec);
    if (rc && rc->inflight)
      continue;
    ec->unregister_sent = 1;
    wr_tunnel_msg m = {.type = WR_TUNNEL_UNREGISTER};
    m.u.error.reason.p = "edge shutting down";
    m.u.error.reason.len = strlen(m.u.error.reason.p);
    ctl_send(ec, &m);
  }
}

/* Marks ec unresponsive or responsive again for routing, logging the change. */
static void check_responsive(wr_edge_registry *r, wr_edge_conn *ec) {
  wr_route_conn *rc = ec->t ? wr_routes_find(ec->t, ec) : NULL;
  if (!rc)
    return;
  if (rc->inflight && ec->c->ops->probe)
    ec->c->ops->probe(ec->c);
  wr_mux_stats st;
  ec->c->ops->stats(ec->c, &st);
  int silent = st.unanswered_ns > UNRESPONSIVE_NS + 4 * st.rtt_ns;
  if (silent == rc->unresponsive)
    return;
  rc->unresponsive = silent;
  if (silent) {
    WR_WARN("Tunnel connection unresponsive: new requests go to the tunnel's other connections",
            "tunnel=%s connIndex=%u connection=%s silentMs=%llu", ec->t->name, ec->index,
            ec->conn_id, (unsigned long long)(st.unanswered_ns / WR_NS_PER_MS));
    wr_metric_inc(wr_metric_child(r->cfg.errors, "unresponsive_connection"));
    ec->t->lost_at_ns = wr_now_ns();
    /* Its requests fail over now (tunnel/edge_proxy.c: retried elsewhere
     * when idempotent and nothing reached the user, else a 502), not when
     * the idle timeout closes it. */
    lose_requests(ec);
  } else {
    WR_INFO("Tunnel connection responsive again", "tunnel=%s connIndex=%u connection=%s",
            ec->t->name, ec->index, ec->conn_id);
    if (r->cfg.on_ready)
      r->cfg.on_ready(r->cfg.ready_arg, ec->t);
  }
}

void wr_edge_registry_sweep(wr_edge_registry *r, uint64_t now) {
  for (wr_edge_conn *ec = r->conns, *next; ec; ec = next) {
    next = ec->next;
    if (ec->reg_deadline_ns && now >= ec->reg_deadline_ns) {
      ec->reg_deadline_ns = 0;
      WR_WARN("Refused tunnel connection", "peer=%s reason=\"no REGISTER within %llu ms\"",
              ec->peer, (unsigned long long)r->cfg.register_timeout_ms);
      wr_metric_inc(wr_metric_child(r->cfg.regs, "timeout"));
      econn_close(ec, WR_TUNNEL_CLOSE_REGISTRATION_TIMEOUT, "no registration in time");
    } else if (ec->close_at_ns && now >= ec->close_at_ns) {
      ec->close_at_ns = 0;
      econn_close(ec, ec->close_code, ec->close_reason);
    } else {
      check_responsive(r, ec);
      for (wr_edge_stream_user *u = ec->requests, *un; u; u = un) {
        un = u->next;
        if (u->on_tick)
          u->on_tick(u);
      }
    }
  }
  if (r->draining)
    send_unregisters(r);
}

void wr_edge_registry_drain(wr_edge_registry *r) {
  r->draining = 1;
  send_unregisters(r);
}

size_t wr_edge_registry_ready(const wr_edge_registry *r) {
  size_t n = 0;
  for (const wr_edge_conn *ec = r->conns; ec; ec = ec->next)
    if (ec->registered && !ec->draining && !ec->retired)
      n++;
  return n;
}

/* ---- the registry ------------------------------------------------------- */

int wr_edge_registry_new(wr_edge_registry **pr, const wr_edge_registry_config *cfg) {
  *pr = NULL;
  wr_edge_registry *r = wr_calloc(1, sizeof *r);
  if (!r)
    return WR_ERR_NOMEM;
  r->cfg = *cfg;
  r->location = wr_strdup(cfg->location ? cfg->location : "edge");
  if (!r->location) {
    wr_free(r);
    return WR_ERR_NOMEM;
  }
  r->cfg.location = r->location;
  *pr = r;
  return 0;
}

int wr_edge_registry_add_secret(wr_edge_registry *r, wr_route_tunnel *t, const uint8_t *secret,
                                size_t len) {
  if (r->nsecrets == r->capsecrets) {
    size_t cap = r->capsecrets ? 2 * r->capsecrets : 4;
    reg_secret *n = wr_realloc(r->secrets, cap * sizeof *n);
    if (!n)
      return WR_ERR_NOMEM;
    r->secrets = n;
    r->capsecrets = cap;
  }
  reg_secret *s = &r->secrets[r->nsecrets];
  s->secret = wr_malloc(len ? len : 1);
  if (!s->secret)
    return WR_ERR_NOMEM;
  memcpy(s->secret, secret, len);
  s->len = len;
  s->t = t;
  r->nsecrets++;
  return 0;
}

void wr_edge_registry_free(wr_edge_registry *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nsecrets; i++) {
    gnutls_memset(r->secrets[i].secret, 0, r->secrets[i].len);
    wr_free(r->secrets[i].secret);
  }
  wr_free(r->secrets);
  wr_free(r->location);
  wr_free(r);
}

/* ---- live tunnel changes (a reloaded tunnels file) --------------------- */

static int same_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++)
    d |= (uint8_t)(a[i] ^ b[i]);
  return d == 0;
}

int wr_edge_registry_set_secret(wr_edge_registry *r, wr_route_tunnel *t, const uint8_t *secret,
                                size_t len, int *pchanged) {
  *pchanged = 0;
  for (size_t i = 0; i < r->nsecrets; i++) {
    reg_secret *s = &r->secrets[i];
    if (s->t != t)
      continue;
    if (s->len == len && same_bytes(s->secret, secret, len))
      return 0;
    uint8_t *n = wr_malloc(len ? len : 1);
    if (!n)
      return WR_ERR_NOMEM;
    memcpy(n, secret, len);
    gnutls_memset(s->secret, 0, s->len);
    wr_free(s->secret);
    s->secret = n;
    s->len = len;
    *pchanged = 1;
    return 0;
  }
  int rc = wr_edge_registry_add_secret(r, t, secret, len);
  *pchanged = rc == 0;
  return rc;
}

size_t wr_edge_registry_close_tunnel(wr_edge_registry *r, wr_route_tunnel *t, const char *why) {
  size_t n = 0;
  for (wr_edge_conn *ec = r->conns; ec; ec = ec->next) {
    if (ec->t != t || ec->closing)
      continue;
    WR_INFO("Closing tunnel connection", "tunnel=%s connIndex=%u connection=%s reason=\"%s\"",
            t->name, ec->index, ec->conn_id, why);
    /* Out of routing now: no request may start on it while it closes. */
    if (ec->registered) {
      ec->draining = 1;
      wr_routes_drain(t, ec);
    }
    econn_close(ec, WR_TUNNEL_CLOSE_REGISTRATION_FAILED, why);
    n++;
  }
  return n;
}

size_t wr_edge_registry_revoke(wr_edge_registry *r, wr_route_tunnel *t, const char *why) {
  for (size_t i = 0; i < r->nsecrets; i++) {
    if (r->secrets[i].t != t)
      continue;
    gnutls_memset(r->secrets[i].secret, 0, r->secrets[i].len);
    wr_free(r->secrets[i].secret);
    r->secrets[i] = r->secrets[--r->nsecrets];
    break;
  }
  return wr_edge_registry_close_tunnel(r, t, why);
}

/* One connection's entry in wr_edge_registry_json. */
static int conn_json(const wr_edge_conn *ec, wr_buf *out) {
  char cid[WR_UUID_STR_LEN + 1], ip[64], since[32];
  wr_uuid_format(ec->connector_id, cid);
  /* The peer as "a.b.c.d:port" or "[v6]:port": cloudflared's ORIGIN IP is
   * the address alone. */
  snprintf(ip, sizeof ip, "%s", ec->peer);
  char *colon = strrchr(ip, ':');
  if (colon)
    *colon = '\0';
  if (ip[0] == '[') {
    memmove(ip, ip + 1, strlen(ip));
    ip[strlen(ip) - 1] = '\0';
  }
  time_t at = (time_t)ec->registered_at;
  struct tm tm;
  gmtime_r(&at, &tm);
  strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const wr_route_conn *rc = wr_routes_find(ec->t, (void *)ec);
  const char *state = ec->draining || (rc && rc->draining) ? "draining"
                      : rc && rc->unresponsive             ? "unresponsive"
                                                           : "ready";
  int rv = wr_buf_printf(out,
                         "{\"connectorID\":\"%s\",\"connIndex\":%u,\"protocol\":\"%s\","
                         "\"originIP\":",
                         cid, ec->index, ec->c->ops->protocol);
  if (!rv)
    rv = wr_json_put_string(out, ip, strlen(ip));
  if (!rv)
    rv = wr_buf_printf(out, ",\"since\":\"%s\",\"state\":\"%s\"}", since, state);
  return rv;
}

int wr_edge_registry_json(const wr_edge_registry *r, wr_buf *out) {
  int rv = wr_buf_puts(out, "{\"location\":");
  if (!rv)
    rv = wr_json_put_string(out, r->location, strlen(r->location));
  if (!rv)
    rv = wr_buf_puts(out, ",\"tunnels\":[");
  size_t ntunnels = 0;
  /* Tunnels in the order their first connection appears on the list. */
  for (const wr_edge_conn *first = r->conns; first && !rv; first = first->next) {
    if (!first->registered || first->retired || !first->t)
      continue;
    const wr_edge_conn *seen = r->conns;
    while (seen != first && !(seen->registered && !seen->retired && seen->t == first->t))
      seen = seen->next;
    if (seen != first)
      continue; /* this tunnel was written already */
    char tid[WR_UUID_STR_LEN + 1];
    wr_uuid_format(first->t->id, tid);
    rv = wr_buf_puts(out, ntunnels++ ? ",{\"name\":" : "{\"name\":");
    if (!rv)
      rv = wr_json_put_string(out, first->t->name, strlen(first->t->name));
    if (!rv)
      rv = wr_buf_printf(out, ",\"id\":\"%s\",\"connections\":[", tid);
    size_t n = 0;
    for (const wr_edge_conn *ec = first; ec && !rv; ec = ec->next)
      if (ec->registered && !ec->retired && ec->t == first->t) {
        rv = wr_buf_puts(out, n++ ? "," : "");
        if (!rv)
          rv = conn_json(ec, out);
      }
    if (!rv)
      rv = wr_buf_puts(out, "]}");
  }
  if (!rv)
    rv = wr_buf_puts(out, "]}\n");
  return rv;
}
