/* cleanup.c: `warren tunnel cleanup`, the owner's side (tunnel/cleanup.h). */
#include "tunnel/cleanup.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"
#include "net/quic.h"
#include "tunnel/connector.h"

#define DEFAULT_TIMEOUT_MS 10000
/* With auto: a QUIC handshake not done by then tries http2 instead. */
#define AUTO_QUIC_TIMEOUT_MS 3000

typedef struct job {
  const wr_cleanup_config *cfg;
  wr_quic_endpoint *ep;
  wr_mux_conn *conn;
  wr_mux_stream *control;
  wr_tunnel_decoder dec;
  wr_tunnel_seq seq;
  int proto;     /* of the current attempt */
  int connected; /* the handshake of the current attempt completed */
  int pinged;    /* the edge's opening PING came and CLEANUP went out */
  int answered;  /* rv is the edge's answer */
  int finished;  /* no more attempts: rv is the result */
  int rv;
  uint64_t closed;
  char why[256];
  uv_timer_t timer;
  int timer_open;
} job;

static const wr_mux_events events;

static void fail(job *j, int rv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(job *j, int rv, const char *fmt, ...) {
  if (j->answered)
    return;
  j->answered = 1;
  j->rv = rv;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->why, sizeof j->why, fmt, ap);
  va_end(ap);
}

static int send_msg(job *j, const wr_tunnel_msg *m) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_tunnel_encode(&b, m);
  if (rv == 0) {
    ssize_t n = j->conn->ops->stream_write(j->control, b.data, b.len);
    rv = n == (ssize_t)b.len ? 0 : WR_ERR_IO; /* tiny messages, an empty queue */
  }
  wr_buf_free(&b);
  return rv;
}

/* The edge's opening PING: PONG, then CLEANUP with the session's proof. */
static int send_cleanup(job *j, const wr_tunnel_msg *ping) {
  wr_tunnel_msg pong = {.type = WR_TUNNEL_PONG};
  pong.u.ping = ping->u.ping;
  int rv = send_msg(j, &pong);
  if (rv)
    return rv;
  uint8_t exporter[WR_TUNNEL_EXPORTER_LEN];
  rv = j->conn->ops->export_keying(j->conn, WR_TUNNEL_EXPORTER_LABEL, NULL, 0, exporter,
                                   sizeof exporter);
  if (rv)
    return rv;
  wr_tunnel_msg m = {.type = WR_TUNNEL_CLEANUP};
  memcpy(m.u.cleanup.tunnel_id, j->cfg->tunnel_id, WR_TUNNEL_ID_LEN);
  memcpy(m.u.cleanup.connector_id, j->cfg->connector_id, WR_TUNNEL_ID_LEN);
  rv = wr_tunnel_cleanup_proof(m.u.cleanup.proof, j->cfg->secret, j->cfg->secret_len, exporter,
                               m.u.cleanup.tunnel_id, m.u.cleanup.connector_id);
  sodium_memzero(exporter, sizeof exporter);
  return rv ? rv : send_msg(j, &m);
}

/* The edge's answer: CLEANED or REGISTER_ERROR. */
static void on_answer(job *j, const wr_tunnel_msg *m) {
  if (m->type == WR_TUNNEL_CLEANED) {
    j->answered = 1;
    j->rv = 0;
    j->closed = m->u.cleaned.closed;
    return;
  }
  const wr_tunnel_error *e = &m->u.error;
  int rv = e->code == WR_TUNNEL_REG_UNAUTHORIZED     ? WR_ERR_DENIED
           : e->code == WR_TUNNEL_REG_UNKNOWN_TUNNEL ? WR_ERR_NOTFOUND
                                                     : WR_ERR_IO;
  fail(j, rv, "the edge refused: %.*s", (int)(e->reason.len < 200 ? e->reason.len : 200),
       e->reason.p);
}

static void on_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  job *j = c->user;
  if (j->control) { /* the edge opens one stream with this connection: its control stream */
    (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_PROTOCOL);
    return;
  }
  j->control = s;
}

static void on_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                           int fin) {
  job *j = c->user;
  c->ops->stream_consume(s, len);
  while (len && !j->answered) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&j->dec, data, len, &used, &m);
    data += used;
    len -= used;
    if (rv == 0)
      break;
    const char *why = NULL;
    if (rv < 0) {
      fail(j, WR_ERR_IO, "malformed message from the edge: %s", wr_tunnel_decoder_reason(&j->dec));
    } else if (!j->pinged) {
      if (m.type != WR_TUNNEL_PING) {
        fail(j, WR_ERR_IO, "the edge did not open with a PING (%s): not a warren edge?",
             wr_tunnel_msg_name(m.type));
      } else if ((rv = send_cleanup(j, &m)) != 0) {
        fail(j, rv, "could not send the cleanup request: %s", wr_strerror(rv));
      } else {
        j->pinged = 1;
      }
    } else if (wr_tunnel_seq_next(&j->seq, &m, &why) < 0) {
      fail(j, WR_ERR_IO, "unexpected message from the edge: %s", why);
    } else if (m.type == WR_TUNNEL_CLEANED || m.type == WR_TUNNEL_REGISTER_ERROR) {
      on_answer(j, &m);
    } else {
      fail(j, WR_ERR_IO, "unexpected %s from the edge", wr_tunnel_msg_name(m.type));
    }
  }
  if (fin && !j->answered)
    fail(j, WR_ERR_IO, "%s", "the edge ended the control stream without an answer");
  if (j->answered && j->conn)
    c->ops->close(c, WR_TUNNEL_CLOSE_NO_ERROR, "cleanup done");
}

static void on_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  job *j = c->user;
  if (j->control == s)
    j->control = NULL;
}

static void on_connected(wr_mux_conn *c) {
  job *j = c->user;
  j->connected = 1;
  WR_DEBUG("Connected to the edge for a cleanup", "protocol=%s", c->ops->protocol);
}

static int dial(job *j, int proto);
static void finish(job *j);

static void on_closed(wr_mux_conn *c, int err, const char *reason) {
  job *j = c->user;
  j->conn = NULL;
  j->control = NULL;
  if (!j->answered && j->cfg->protocol == WR_CONNECTOR_AUTO && j->proto == WR_CONNECTOR_QUIC &&
      !j->connected && err != WR_ERR_DENIED) {
    WR_INFO("No QUIC handshake with the edge: trying http2", "error=\"%s\"",
            reason && *reason ? reason
            : err             ? wr_strerror(err)
                              : "no handshake in time");
    if (dial(j, WR_CONNECTOR_HTTP2) == 0)
      return;
  }
  if (!j->answered) {
    fail(j,
         err == WR_ERR_REFUSED || err == WR_ERR_TIMEOUT || err == WR_ERR_DENIED ? err : WR_ERR_IO,
         "the connection to the edge ended: %s", reason && *reason ? reason : wr_strerror(err));
  }
  finish(j);
}

static const wr_mux_events events = {
    .on_connected = on_connected,
    .on_closed = on_closed,
    .on_stream_open = on_stream_open,
    .on_stream_data = on_stream_data,
    .on_stream_close = on_stream_close,
};

static void on_timeout(uv_timer_t *t) {
  job *j = t->data;
  if (j->cfg->protocol == WR_CONNECTOR_AUTO && j->proto == WR_CONNECTOR_QUIC && !j->connected) {
    /* on_closed moves on to http2 */
    j->conn->ops->close(j->conn, WR_TUNNEL_CLOSE_NO_ERROR, "no QUIC handshake in time");
    return;
  }
  fail(j, WR_ERR_TIMEOUT, "%s", "the edge did not answer in time");
  if (j->conn)
    j->conn->ops->close(j->conn, WR_TUNNEL_CLOSE_NO_ERROR, "cleanup timed out");
}

static int dial(job *j, int proto) {
  const wr_cleanup_config *cfg = j->cfg;
  j->proto = proto;
  j->connected = j->pinged = 0;
  wr_tunnel_seq_init(&j->seq, WR_TUNNEL_CONTROL_AT_CONNECTOR);
  wr_tunnel_decoder_free(&j->dec);
  int rv = wr_tunnel_decoder_init(&j->dec, NULL);
  if (rv)
    return rv;
  uint64_t timeout = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
  if (proto == WR_CONNECTOR_HTTP2) {
    wr_mux_h2_config hc = {0};
    rv = wr_mux_h2_connect(&j->conn, cfg->loop, cfg->edge, cfg->server_name, cfg->tls, &hc, &events,
                           j);
  } else {
    rv = wr_mux_quic_connect(&j->conn, j->ep, cfg->edge, cfg->server_name, cfg->tls, &events, j);
    if (cfg->protocol == WR_CONNECTOR_AUTO && timeout > AUTO_QUIC_TIMEOUT_MS)
      timeout = AUTO_QUIC_TIMEOUT_MS;
  }
  if (rv == 0)
    uv_timer_start(&j->timer, on_timeout, timeout, 0);
  return rv;
}

static void endpoint_closed(wr_quic_endpoint *ep, void *arg) {
  (void)ep;
  job *j = arg;
  j->ep = NULL;
}

static void finish(job *j) {
  if (j->finished)
    return;
  j->finished = 1;
  if (j->timer_open) {
    j->timer_open = 0;
    uv_close((uv_handle_t *)&j->timer, NULL);
  }
  if (j->ep)
    wr_quic_endpoint_close(j->ep, 0, endpoint_closed, j);
}

static int open_endpoint(job *j) {
  wr_quic_config qc = {.alpn = WR_TUNNEL_ALPN};
  struct sockaddr_in6 any6 = {.sin6_family = AF_INET6};
  struct sockaddr_in any4 = {.sin_family = AF_INET};
  if (wr_quic_endpoint_new(&j->ep, j->cfg->loop, (struct sockaddr *)&any6, &qc, NULL) == 0)
    return 0;
  return wr_quic_endpoint_new(&j->ep, j->cfg->loop, (struct sockaddr *)&any4, &qc, NULL);
}

int wr_cleanup_run(const wr_cleanup_config *cfg, uint64_t *pclosed, char *why, size_t whylen) {
  *pclosed = 0;
  if (whylen)
    why[0] = '\0';
  if (!cfg->secret || cfg->secret_len < WR_TUNNEL_MIN_SECRET) {
    snprintf(why, whylen, "the tunnel secret is too short");
    return WR_ERR_INVAL;
  }
  job *j = wr_calloc(1, sizeof *j);
  if (!j) {
    snprintf(why, whylen, "out of memory");
    return WR_ERR_NOMEM;
  }
  j->cfg = cfg;
  uv_timer_init(cfg->loop, &j->timer);
  j->timer.data = j;
  j->timer_open = 1;
  int rv = 0;
  int proto = cfg->protocol == WR_CONNECTOR_HTTP2 ? WR_CONNECTOR_HTTP2 : WR_CONNECTOR_QUIC;
  if (proto == WR_CONNECTOR_QUIC && (rv = open_endpoint(j)) != 0)
    fail(j, rv, "%s", "cannot open a UDP socket");
  else if ((rv = dial(j, proto)) != 0)
    fail(j, rv, "cannot dial the edge: %s", wr_strerror(rv));
  if (rv)
    finish(j);
  uv_run(cfg->loop, UV_RUN_DEFAULT);
  rv = j->answered ? j->rv : WR_ERR_IO;
  if (rv == 0)
    *pclosed = j->closed;
  else
    snprintf(why, whylen, "%s", j->why[0] ? j->why : "no answer from the edge");
  wr_tunnel_decoder_free(&j->dec);
  wr_free(j);
  return rv;
}
