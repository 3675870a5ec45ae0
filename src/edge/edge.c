/* edge.c: the edge's lifecycle and its connector side (registration on the
 * control stream). The users' HTTP side is edge_public.c. */
#include "edge/edge.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "edge/edge_internal.h"
#include "io/addr.h"
#include "io/udp.h"
#include "net/tls_tcp.h"
#include "proto/text/uuid.h"

#define SWEEP_MS 250
/* Time a REGISTER_ERROR gets to reach the connector before the close. */
#define REFUSE_LINGER_NS (500 * WR_NS_PER_MS)
#define CTL_OUT_MAX (256u * 1024u)
/* A connection whose peer has answered nothing for this long (plus four
 * RTTs) while data waits gets no new requests until it answers again: a
 * frozen or vanished connector would otherwise take its share of requests
 * until the idle timeout (30 s) closes it. */
#define UNRESPONSIVE_NS (1500 * WR_NS_PER_MS)

void wr_edge_count_response(wr_edge *e, int status) {
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  wr_metric_inc(wr_metric_child(e->m_responses, code));
}

void wr_edge_count_error(wr_edge *e, const char *reason) {
  wr_metric_inc(wr_metric_child(e->m_errors, reason));
}

static void update_conn_gauge(wr_edge *e, econn *ec) {
  if (!ec->sec)
    return;
  char labels[300];
  snprintf(labels, sizeof labels, "%s,%s", ec->sec->t->name, ec->c->ops->protocol);
  size_t n = 0;
  for (econn *x = e->econns; x; x = x->next)
    if (x->registered && x->sec == ec->sec && x->c->ops == ec->c->ops)
      n++;
  wr_metric_set(wr_metric_child(e->m_conns, labels), (double)n);
}

/* ---- control stream ---------------------------------------------------- */

static void ctl_flush(econn *ec) {
  while (ec->ctl && ec->out.len) {
    ssize_t n = ec->c->ops->stream_write(ec->ctl, ec->out.data, ec->out.len);
    if (n < 0)
      return; /* AGAIN: on_stream_writable; CLOSED: the conn goes */
    wr_buf_consume(&ec->out, (size_t)n);
  }
}

static void ctl_send(econn *ec, const wr_tunnel_msg *m) {
  if (wr_tunnel_encode(&ec->out, m) != 0) {
    WR_ERROR("Cannot queue a control message", "connection=%s type=%s", ec->conn_id,
             wr_tunnel_msg_name(m->type));
    ec->c->ops->close(ec->c, WR_TUNNEL_CLOSE_PROTOCOL, "control queue full");
    return;
  }
  ctl_flush(ec);
}

static void econn_close(econn *ec, uint64_t code, const char *reason) {
  if (ec->closing)
    return;
  ec->closing = 1;
  ec->c->ops->close(ec->c, code, reason);
}

static void refuse(econn *ec, uint64_t code, const char *why, const char *tunnel) {
  wr_edge *e = ec->e;
  WR_WARN("Refused tunnel connection", "tunnel=%s connIndex=%u peer=%s reason=\"%s\"", tunnel,
          ec->index, ec->peer, why);
  const char *res = code == WR_TUNNEL_REG_UNAUTHORIZED     ? "unauthorized"
                    : code == WR_TUNNEL_REG_UNKNOWN_TUNNEL ? "unknown_tunnel"
                    : code == WR_TUNNEL_REG_PROTOCOL       ? "protocol"
                                                           : "other";
  wr_metric_inc(wr_metric_child(e->m_regs, res));
  wr_tunnel_msg m = {.type = WR_TUNNEL_REGISTER_ERROR};
  m.u.error.code = code;
  m.u.error.reason.p = why;
  m.u.error.reason.len = strlen(why);
  ctl_send(ec, &m);
  if (ec->ctl)
    (void)ec->c->ops->stream_end(ec->ctl);
  ec->reg_deadline_ns = 0;
  ec->close_at_ns = wr_now_ns() + REFUSE_LINGER_NS;
}

static void on_register(econn *ec, const wr_tunnel_register *r) {
  wr_edge *e = ec->e;
  char tid[37];
  wr_uuid_format(r->tunnel_id, tid);
  ec->index = r->conn_index;
  if (ec->registered) {
    refuse(ec, WR_TUNNEL_REG_PROTOCOL, "a second REGISTER on one connection", tid);
    return;
  }
  if (e->state != EDGE_RUNNING) {
    refuse(ec, WR_TUNNEL_REG_OVERLOADED, "the edge is shutting down", tid);
    return;
  }
  wr_route_tunnel *t = wr_routes_lookup_id(e->routes, r->tunnel_id);
  edge_secret *sec = NULL;
  for (size_t i = 0; t && i < e->nsecrets; i++)
    if (e->secrets[i].t == t)
      sec = &e->secrets[i];
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
  if (wr_tunnel_proof_verify(r, sec->secret, sec->len, exporter) != 0) {
    refuse(ec, WR_TUNNEL_REG_UNAUTHORIZED, "unauthorized: the registration proof does not verify",
           t->name);
    return;
  }
  int rc = wr_routes_register(t, ec, ec->index);
  if (rc != 0) {
    refuse(ec, WR_TUNNEL_REG_OVERLOADED,
           rc == WR_ERR_LIMIT ? "too many connections for this tunnel" : "already registered",
           t->name);
    return;
  }
  uint8_t cid[16];
  if (gnutls_rnd(GNUTLS_RND_NONCE, cid, sizeof cid) != 0)
    memset(cid, 0, sizeof cid);
  cid[6] = (uint8_t)((cid[6] & 0x0f) | 0x40);
  cid[8] = (uint8_t)((cid[8] & 0x3f) | 0x80);
  wr_uuid_format(cid, ec->conn_id);
  ec->registered = 1;
  ec->sec = sec;
  ec->reg_deadline_ns = 0;
  wr_tunnel_msg m = {.type = WR_TUNNEL_REGISTERED};
  memcpy(m.u.registered.connection_id, cid, 16);
  m.u.registered.location.p = e->location;
  m.u.registered.location.len = strlen(e->location);
  ctl_send(ec, &m);
  wr_metric_inc(wr_metric_child(e->m_regs, "ok"));
  update_conn_gauge(e, ec);
  WR_INFO("Registered tunnel connection",
          "tunnel=%s tunnelID=%s connIndex=%u connection=%s location=%s peer=%s protocol=%s",
          t->name, tid, ec->index, ec->conn_id, e->location, ec->peer, ec->c->ops->protocol);
}

static void ctl_data(econn *ec, const uint8_t *data, size_t len, int fin) {
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
    switch (m.type) {
    case WR_TUNNEL_REGISTER:
      on_register(ec, &m.u.reg);
      break;
    case WR_TUNNEL_PING: {
      wr_tunnel_msg p = {.type = WR_TUNNEL_PONG};
      p.u.ping = m.u.ping;
      ctl_send(ec, &p);
      break;
    }
    case WR_TUNNEL_PONG:
      break;
    case WR_TUNNEL_UNREGISTER:
      if (ec->registered && !ec->draining) {
        ec->draining = 1;
        wr_routes_drain(ec->sec->t, ec);
        WR_INFO("Unregistered tunnel connection", "tunnel=%s connIndex=%u connection=%s",
                ec->sec->t->name, ec->index, ec->conn_id);
      }
      break;
    default:
      if (!ec->registered) {
        refuse(ec, WR_TUNNEL_REG_PROTOCOL, "expected REGISTER", "-");
      } else {
        WR_WARN("Closing tunnel connection", "connection=%s reason=\"unexpected %s\"",
                ec->conn_id, wr_tunnel_msg_name(m.type));
        econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "unexpected control message");
      }
      break;
    }
  }
  ec->c->ops->stream_consume(ec->ctl, total);
  (void)fin;
}

/* ---- tunnel seam events ------------------------------------------------- */

static econn *econn_of(wr_mux_conn *c) {
  return c->user && *(uint32_t *)c->user == ECONN_MAGIC ? c->user : NULL;
}

static void ev_connected(wr_mux_conn *c) {
  wr_edge *e = c->user;
  econn *ec = wr_calloc(1, sizeof *ec);
  if (!ec || wr_tunnel_decoder_init(&ec->dec, NULL) != 0) {
    wr_free(ec);
    c->ops->close(c, WR_TUNNEL_CLOSE_PROTOCOL, "out of memory");
    return;
  }
  ec->magic = ECONN_MAGIC;
  ec->e = e;
  ec->c = c;
  wr_buf_init(&ec->out, CTL_OUT_MAX);
  snprintf(ec->conn_id, sizeof ec->conn_id, "%s", c->ops->id(c));
  wr_addr_format_sa(c->ops->peer_addr(c), 0, ec->peer, sizeof ec->peer);
  c->user = ec;
  ec->next = e->econns;
  if (e->econns)
    e->econns->prev = ec;
  e->econns = ec;
  if (e->state != EDGE_RUNNING) {
    econn_close(ec, WR_TUNNEL_CLOSE_GOING_AWAY, "the edge is shutting down");
    return;
  }
  ec->reg_deadline_ns = wr_now_ns() + e->cfg.register_timeout_ms * WR_NS_PER_MS;
  /* The edge opens the control stream (an HTTP/2 server could not have the
   * connector open it) and speaks first with a PING; the connector answers
   * PONG and REGISTER on it. */
  int rc = c->ops->stream_open(c, ec, &ec->ctl);
  if (rc != 0) {
    WR_WARN("Closing tunnel connection", "peer=%s reason=\"cannot open the control stream: %s\"",
            ec->peer, wr_strerror(rc));
    econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "cannot open the control stream");
    return;
  }
  wr_tunnel_msg m = {.type = WR_TUNNEL_PING};
  if (gnutls_rnd(GNUTLS_RND_NONCE, m.u.ping.data, sizeof m.u.ping.data) != 0)
    memset(m.u.ping.data, 0, sizeof m.u.ping.data);
  ctl_send(ec, &m);
  WR_DEBUG("Connector connected", "peer=%s connection=%s", ec->peer, ec->conn_id);
}

static void ev_closed(wr_mux_conn *c, int err, const char *reason) {
  econn *ec = econn_of(c);
  if (!ec)
    return;
  wr_edge *e = ec->e;
  if (ec->registered) {
    wr_routes_unregister(ec->sec->t, ec);
    ec->registered = 0;
    update_conn_gauge(e, ec);
    WR_INFO("Tunnel connection closed", "tunnel=%s connIndex=%u connection=%s reason=\"%s\"",
            ec->sec->t->name, ec->index, ec->conn_id,
            err == 0 ? "closed by the edge" : (reason ? reason : wr_strerror(err)));
  }
  if (ec->prev)
    ec->prev->next = ec->next;
  else
    e->econns = ec->next;
  if (ec->next)
    ec->next->prev = ec->prev;
  wr_tunnel_decoder_free(&ec->dec);
  wr_buf_free(&ec->out);
  wr_free(ec);
  c->user = e;
  wr_edge_maybe_finish(e);
}

static void ev_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  /* Connectors open no streams (docs/protocol.md). */
  econn *ec = econn_of(c);
  WR_WARN("Reset a stream the connector opened", "connection=%s", ec ? ec->conn_id : "-");
  (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_PROTOCOL);
}

static int is_preq(void *u) {
  return u && (*(uint32_t *)u == PREQ_MAGIC || *(uint32_t *)u == H2REQ_MAGIC);
}

static void ev_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                           int fin) {
  void *u = c->ops->stream_user(s);
  econn *ec = econn_of(c);
  if (is_preq(u))
    wr_edge_public_stream_data(u, data, len, fin);
  else if (ec && s == ec->ctl)
    ctl_data(ec, data, len, fin);
  else
    c->ops->stream_consume(s, len);
}

static void ev_stream_writable(wr_mux_conn *c, wr_mux_stream *s) {
  void *u = c->ops->stream_user(s);
  econn *ec = econn_of(c);
  if (is_preq(u))
    wr_edge_public_stream_writable(u);
  else if (ec && s == ec->ctl)
    ctl_flush(ec);
}

static void ev_stream_reset(wr_mux_conn *c, wr_mux_stream *s, uint64_t code) {
  void *u = c->ops->stream_user(s);
  if (is_preq(u))
    wr_edge_public_stream_reset(u, code);
}

static void ev_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  void *u = c->ops->stream_user(s);
  econn *ec = econn_of(c);
  if (is_preq(u)) {
    if (ec && ec->sec) {
      wr_route_conn *rc = wr_routes_find(ec->sec->t, ec);
      if (rc && rc->inflight)
        rc->inflight--;
    }
    wr_metric_add(ec ? ec->e->m_inflight : NULL, -1);
    wr_edge_public_stream_close(u, has_code, code);
  } else if (ec && s == ec->ctl) {
    ec->ctl = NULL;
    if (ec->registered && !ec->closing)
      econn_close(ec, WR_TUNNEL_CLOSE_PROTOCOL, "control stream closed");
  }
}

static const wr_mux_events edge_events = {
    .on_connected = ev_connected,
    .on_closed = ev_closed,
    .on_stream_open = ev_stream_open,
    .on_stream_data = ev_stream_data,
    .on_stream_writable = ev_stream_writable,
    .on_stream_reset = ev_stream_reset,
    .on_stream_close = ev_stream_close,
};

int wr_edge_open_stream(econn *ec, void *user, wr_mux_stream **ps) {
  int rc = ec->c->ops->stream_open(ec->c, user, ps);
  if (rc == 0) {
    wr_route_conn *r = ec->sec ? wr_routes_find(ec->sec->t, ec) : NULL;
    if (r)
      r->inflight++;
    wr_metric_add(ec->e->m_inflight, 1);
  }
  return rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void handle_closed(uv_handle_t *h) {
  wr_edge *e = h->data;
  e->handles--;
  wr_edge_maybe_finish(e);
}

static void ep_closed(wr_quic_endpoint *ep, void *data) {
  (void)ep;
  wr_edge *e = data;
  e->ep = NULL;
  e->ep_closed = 1;
  wr_edge_maybe_finish(e);
}

static void h2_closed(wr_mux_h2_listener *l, void *data) {
  (void)l;
  wr_edge *e = data;
  e->h2 = NULL;
  e->h2_closed = 1;
  wr_edge_maybe_finish(e);
}

static void mh_closed(void *data) {
  wr_edge *e = data;
  e->mh = NULL;
  e->mh_closed = 1;
  wr_edge_maybe_finish(e);
}

void wr_edge_maybe_finish(wr_edge *e) {
  if (e->state != EDGE_CLOSING || e->finished)
    return;
  if (e->handles > 0 || !e->ep_closed || !e->mh_closed || !e->h2_closed || e->pconns)
    return;
  e->finished = 1;
  WR_INFO("Edge stopped", "location=%s", e->location);
  if (e->done)
    e->done(e, e->done_arg);
}

static void begin_close(wr_edge *e) {
  if (e->state == EDGE_CLOSING)
    return;
  e->state = EDGE_CLOSING;
  wr_edge_public_stop(e, 1);
  uv_timer_stop(&e->sweep);
  uv_close((uv_handle_t *)&e->sweep, handle_closed);
  if (e->ep)
    wr_quic_endpoint_close(e->ep, 0, ep_closed, e);
  else
    e->ep_closed = 1;
  if (e->mh)
    wr_metrics_http_close(e->mh, mh_closed, e);
  else
    e->mh_closed = 1;
  if (e->h2)
    wr_mux_h2_listener_close(e->h2, h2_closed, e);
  else
    e->h2_closed = 1;
  wr_edge_maybe_finish(e);
}

/* While draining: UNREGISTER (going away) on every connection that has no
 * request in flight. Busy ones are told once their requests are done, so a
 * connector that closes at once on UNREGISTER cuts no response short. */
static void send_unregisters(wr_edge *e) {
  for (econn *ec = e->econns; ec; ec = ec->next) {
    if (!ec->registered || ec->unregister_sent)
      continue;
    wr_route_conn *rc = wr_routes_find(ec->sec->t, ec);
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
static void check_responsive(wr_edge *e, econn *ec) {
  wr_route_conn *rc = ec->sec ? wr_routes_find(ec->sec->t, ec) : NULL;
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
            "tunnel=%s connIndex=%u connection=%s silentMs=%llu", ec->sec->t->name, ec->index,
            ec->conn_id, (unsigned long long)(st.unanswered_ns / WR_NS_PER_MS));
    wr_edge_count_error(e, "unresponsive_connection");
  } else {
    WR_INFO("Tunnel connection responsive again", "tunnel=%s connIndex=%u connection=%s",
            ec->sec->t->name, ec->index, ec->conn_id);
  }
}

static void on_sweep(uv_timer_t *t) {
  wr_edge *e = t->data;
  uint64_t now = wr_now_ns();
  for (econn *ec = e->econns, *next; ec; ec = next) {
    next = ec->next;
    if (ec->reg_deadline_ns && now >= ec->reg_deadline_ns) {
      ec->reg_deadline_ns = 0;
      WR_WARN("Refused tunnel connection", "peer=%s reason=\"no REGISTER within %llu ms\"",
              ec->peer, (unsigned long long)e->cfg.register_timeout_ms);
      wr_metric_inc(wr_metric_child(e->m_regs, "timeout"));
      econn_close(ec, WR_TUNNEL_CLOSE_REGISTRATION_TIMEOUT, "no registration in time");
    } else if (ec->close_at_ns && now >= ec->close_at_ns) {
      ec->close_at_ns = 0;
      econn_close(ec, WR_TUNNEL_CLOSE_REGISTRATION_FAILED, "registration refused");
    } else {
      check_responsive(e, ec);
    }
  }
  wr_edge_public_sweep(e, now);
  if (e->state == EDGE_DRAINING)
    send_unregisters(e);
  if (e->state == EDGE_DRAINING && (!e->pconns || now >= e->grace_deadline_ns)) {
    if (e->pconns)
      WR_WARN("Grace period over", "openConnections=%zu", e->npconns);
    begin_close(e);
  }
}

static size_t mh_ready(void *user) { return wr_edge_ready(user); }

static int setup_metrics(wr_edge *e) {
  wr_metrics *r = e->reg;
  e->m_conns = wr_metrics_family(r, WR_METRIC_GAUGE, "warren_edge_tunnel_connections",
                                 "Registered connector connections.", "tunnel,protocol");
  e->m_regs = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_registrations_total",
                                "Connector registrations by result.", "result");
  e->m_requests = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_requests_total",
                                    "Requests routed to a tunnel.", "tunnel");
  e->m_responses = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_responses_total",
                                     "Responses sent to users, by status code.", "code");
  e->m_errors = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_edge_errors_total",
                                  "Requests that failed or were refused, by reason.", "reason");
  e->m_bytes_in = wr_metrics_counter(r, "warren_edge_request_body_bytes_total",
                                     "Request body bytes received from users.");
  e->m_bytes_out = wr_metrics_counter(r, "warren_edge_response_body_bytes_total",
                                      "Response body bytes sent to users.");
  e->m_pub_open = wr_metrics_gauge(r, "warren_edge_http_connections",
                                   "Open user connections on the HTTP listener.");
  e->m_pub_total = wr_metrics_counter(r, "warren_edge_http_connections_total",
                                      "User connections accepted.");
  e->m_inflight = wr_metrics_gauge(r, "warren_edge_requests_in_flight",
                                   "Request streams open to connectors.");
  return e->m_conns && e->m_regs && e->m_requests && e->m_responses && e->m_errors &&
                 e->m_bytes_in && e->m_bytes_out && e->m_pub_open && e->m_pub_total &&
                 e->m_inflight
             ? 0
             : WR_ERR_NOMEM;
}

int wr_edge_new(wr_edge **pe, uv_loop_t *loop, const wr_edge_config *cfg, char *err,
                size_t errlen) {
  *pe = NULL;
  if (!cfg->listen || !cfg->http || !cfg->tls) {
    snprintf(err, errlen, "the edge needs a QUIC address, an HTTP address and a certificate");
    return WR_ERR_INVAL;
  }
  wr_edge *e = wr_calloc(1, sizeof *e);
  if (!e)
    return WR_ERR_NOMEM;
  e->magic = EDGE_MAGIC;
  e->loop = loop;
  e->cfg = *cfg;
  e->cfg.listen = e->cfg.listen_h2 = e->cfg.http = e->cfg.https = e->cfg.metrics = NULL;
  e->cfg.tunnels = NULL;
  e->cfg.location = NULL;
#define DEF(f, v) if (!e->cfg.f) e->cfg.f = (v)
  DEF(header_timeout_ms, WR_EDGE_DEFAULT_HEADER_TIMEOUT_MS);
  DEF(idle_timeout_ms, WR_EDGE_DEFAULT_IDLE_TIMEOUT_MS);
  DEF(max_conns, WR_EDGE_DEFAULT_MAX_CONNS);
  DEF(grace_ms, WR_EDGE_DEFAULT_GRACE_MS);
  DEF(register_timeout_ms, WR_EDGE_DEFAULT_REGISTER_TIMEOUT_MS);
#undef DEF
  e->ep_closed = e->mh_closed = e->h2_closed = 1; /* until they exist */
  int rc = WR_ERR_NOMEM;
  e->location = wr_strdup(cfg->location && *cfg->location ? cfg->location : "edge");
  e->routes = wr_routes_new();
  e->reg = wr_metrics_new();
  e->secrets = wr_calloc(cfg->ntunnels ? cfg->ntunnels : 1, sizeof *e->secrets);
  if (!e->location || !e->routes || !e->reg || !e->secrets || setup_metrics(e) != 0)
    goto fail;
  for (size_t i = 0; i < cfg->ntunnels; i++) {
    const wr_edge_tunnel *t = &cfg->tunnels[i];
    const char *conflict = NULL;
    if (t->secret_len < WR_TUNNEL_MIN_SECRET) {
      snprintf(err, errlen, "tunnel \"%s\": its secret is shorter than %u bytes", t->name,
               WR_TUNNEL_MIN_SECRET);
      rc = WR_ERR_INVAL;
      goto fail;
    }
    rc = wr_routes_add_tunnel(e->routes, t->id, t->name, t->hosts, t->nhosts, &conflict);
    if (rc != 0) {
      if (rc == WR_ERR_EXISTS)
        snprintf(err, errlen, "tunnel \"%s\": %s is already taken by another tunnel", t->name,
                 conflict ? conflict : "its id");
      else if (rc == WR_ERR_INVAL)
        snprintf(err, errlen, "tunnel \"%s\": a hostname is not valid", t->name);
      else
        snprintf(err, errlen, "out of memory");
      goto fail;
    }
    edge_secret *s = &e->secrets[e->nsecrets];
    s->t = wr_routes_lookup_id(e->routes, t->id);
    s->secret = wr_malloc(t->secret_len);
    if (!s->secret) {
      rc = WR_ERR_NOMEM;
      goto fail;
    }
    memcpy(s->secret, t->secret, t->secret_len);
    s->len = t->secret_len;
    e->nsecrets++;
  }
  uv_timer_init(loop, &e->sweep);
  e->sweep.data = e;
  e->handles = 1;
  wr_mux_quic_listener_init(&e->listener, &edge_events, e);
  wr_quic_config qc = {.alpn = WR_TUNNEL_ALPN, .idle_timeout_ms = cfg->tunnel_idle_timeout_ms,
                       .keepalive_ms = cfg->tunnel_keepalive_ms, .disable_gso = cfg->disable_gso};
  wr_quic_server_config sc = {.tls = cfg->tls, .user_data = &e->listener};
  sc.callbacks = *wr_mux_quic_server_callbacks();
  char abuf[80];
  rc = wr_quic_endpoint_new(&e->ep, loop, cfg->listen, &qc, &sc);
  if (rc != 0) {
    wr_addr_format_sa(cfg->listen, 0, abuf, sizeof abuf);
    snprintf(err, errlen, "cannot listen for connectors on %s (UDP): %s", abuf,
             rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                             : wr_strerror(rc));
    goto fail_handles;
  }
  e->ep_closed = 0;
  const struct sockaddr *h2addr = cfg->listen_h2;
  struct sockaddr_storage twin = {0};
  if (!h2addr && cfg->listen_h2_twin) {
    /* The bound address, so port 0 gives one port for both transports. */
    rc = wr_quic_endpoint_local_addr(e->ep, &twin);
    if (rc != 0) {
      snprintf(err, errlen, "cannot read the QUIC endpoint's address: %s", wr_strerror(rc));
      goto fail_handles;
    }
    h2addr = (const struct sockaddr *)&twin;
  }
  if (h2addr) {
    wr_mux_h2_config hc = {.idle_timeout_ms = cfg->tunnel_idle_timeout_ms,
                          .keepalive_ms = cfg->tunnel_keepalive_ms};
    rc = wr_mux_h2_listen(&e->h2, loop, h2addr, cfg->tls, &hc, &edge_events, e);
    if (rc != 0) {
      wr_addr_format_sa(h2addr, 0, abuf, sizeof abuf);
      snprintf(err, errlen, "cannot listen for connectors on %s (TCP, HTTP/2): %s", abuf,
               rc == WR_ERR_IO ? "the address cannot be bound (see the log line above)"
                               : wr_strerror(rc));
      goto fail_handles;
    }
    e->h2_closed = 0;
  }
  rc = wr_edge_public_start(e, cfg->http, err, errlen);
  if (rc != 0)
    goto fail_handles;
  if (cfg->https) {
    rc = wr_edge_https_start(e, cfg->https, cfg->https_tls ? cfg->https_tls : cfg->tls, err,
                             errlen);
    if (rc != 0)
      goto fail_handles;
  }
  if (cfg->metrics) {
    wr_metrics_http_config mc = {.reg = e->reg, .ready = mh_ready, .user = e};
    rc = wr_metrics_http_new(&e->mh, loop, cfg->metrics, &mc);
    if (rc != 0) {
      wr_addr_format_sa(cfg->metrics, 0, abuf, sizeof abuf);
      snprintf(err, errlen, "cannot serve metrics on %s: the address cannot be bound", abuf);
      goto fail_handles;
    }
    e->mh_closed = 0;
  }
  uv_timer_start(&e->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  *pe = e;
  return 0;
fail_handles:
  /* Handles close asynchronously: the caller runs the loop, then frees. The
   * edge is handed back so wr_edge_shutdown/free can finish the job. */
  e->state = EDGE_DRAINING;
  begin_close(e);
  *pe = e;
  return rc;
fail:
  if (rc == WR_ERR_NOMEM)
    snprintf(err, errlen, "out of memory");
  wr_edge_free(e);
  return rc;
}

int wr_edge_local_addr(const wr_edge *e, const char *which, struct sockaddr_storage *out) {
  if (strcmp(which, "listen") == 0)
    return e->ep ? wr_quic_endpoint_local_addr(e->ep, out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "https") == 0)
    return e->https ? wr_tls_tcp_listener_addr(e->https, out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "listen-http2") == 0)
    return e->h2 ? wr_mux_h2_listener_addr(e->h2, out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "metrics") == 0)
    return e->mh ? wr_metrics_http_local_addr(e->mh, out) : WR_ERR_NOTFOUND;
  if (strcmp(which, "http") == 0) {
    int len = sizeof *out;
    return uv_tcp_getsockname(&e->http, (struct sockaddr *)out, &len) == 0 ? 0 : WR_ERR_IO;
  }
  return WR_ERR_INVAL;
}

size_t wr_edge_ready(const wr_edge *e) {
  size_t n = 0;
  for (const econn *ec = e->econns; ec; ec = ec->next)
    if (ec->registered && !ec->draining)
      n++;
  return n;
}

wr_metrics *wr_edge_metrics(wr_edge *e) { return e->reg; }

void wr_edge_shutdown(wr_edge *e, void (*done)(wr_edge *e, void *arg), void *arg) {
  e->done = done;
  e->done_arg = arg;
  if (e->state == EDGE_CLOSING) {
    wr_edge_maybe_finish(e);
    return;
  }
  if (e->state == EDGE_DRAINING) {
    WR_INFO("Shutting down now", "openConnections=%zu", e->npconns);
    begin_close(e);
    return;
  }
  e->state = EDGE_DRAINING;
  e->grace_deadline_ns = wr_now_ns() + e->cfg.grace_ms * WR_NS_PER_MS;
  WR_INFO("Initiating graceful shutdown", "gracePeriodMs=%llu openConnections=%zu",
          (unsigned long long)e->cfg.grace_ms, e->npconns);
  wr_edge_public_stop(e, 0);
  send_unregisters(e);
  if (!e->pconns)
    begin_close(e);
}

void wr_edge_free(wr_edge *e) {
  if (!e)
    return;
  for (size_t i = 0; i < e->nsecrets; i++) {
    gnutls_memset(e->secrets[i].secret, 0, e->secrets[i].len);
    wr_free(e->secrets[i].secret);
  }
  wr_free(e->secrets);
  for (size_t i = 0; i < e->nspare; i++)
    wr_free(e->spare[i]);
  wr_routes_del(e->routes);
  wr_metrics_del(e->reg);
  wr_free(e->location);
  wr_free(e);
}
