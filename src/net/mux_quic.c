#include "net/mux_quic.h"

#include <stddef.h>

#include "base/log.h"
#include "base/mem.h"

/* Both a listener and a wrapper start with a magic number, so the adapter can
 * tell whether an accepted connection's user data is still the listener (no
 * wrapper yet) or already its wrapper. */
#define LISTENER_MAGIC 0x6c69736eu /* "lisn" */
#define WRAPPER_MAGIC 0x71636f6eu  /* "qcon" */

typedef struct qconn {
  uint32_t magic;
  wr_mux_conn base;
  wr_quic_conn *qc;
} qconn;

static const wr_mux_ops quic_ops;

#define QCONN(c) ((qconn *)((char *)(c) - offsetof(qconn, base)))
#define QSTREAM(s) ((wr_quic_stream *)(s))
#define TSTREAM(s) ((wr_mux_stream *)(s))

void wr_mux_quic_listener_init(wr_mux_quic_listener *l, const wr_mux_events *ev, void *user) {
  l->magic = LISTENER_MAGIC;
  l->ev = ev;
  l->user = user;
}

/* The wrapper of qc, made on the first event of an accepted connection.
 * NULL only when out of memory (the connection is then closed). */
static qconn *wrapper_of(wr_quic_conn *qc) {
  void *ud = wr_quic_conn_get_user_data(qc);
  if (ud && *(uint32_t *)ud == WRAPPER_MAGIC)
    return ud;
  const wr_mux_quic_listener *l = ud;
  qconn *w = wr_calloc(1, sizeof *w);
  if (!w) {
    wr_quic_conn_close(qc, 0x1, "out of memory");
    return NULL;
  }
  w->magic = WRAPPER_MAGIC;
  w->qc = qc;
  w->base.ops = &quic_ops;
  w->base.ev = l ? l->ev : NULL;
  w->base.user = l ? l->user : NULL;
  wr_quic_conn_set_user_data(qc, w);
  return w;
}

#define EV(w, name) ((w) && (w)->base.ev && (w)->base.ev->name)

static void q_on_connected(wr_quic_conn *qc) {
  qconn *w = wrapper_of(qc);
  if (EV(w, on_connected))
    w->base.ev->on_connected(&w->base);
}

static void q_on_closed(wr_quic_conn *qc, int err, const char *reason) {
  void *ud = wr_quic_conn_get_user_data(qc);
  qconn *w = ud && *(uint32_t *)ud == WRAPPER_MAGIC ? ud : NULL;
  if (!w) /* an accepted connection that never got further: nothing to tell */
    return;
  if (EV(w, on_closed))
    w->base.ev->on_closed(&w->base, err, reason);
  w->magic = 0;
  wr_free(w);
}

static void q_on_streams_available(wr_quic_conn *qc) {
  qconn *w = wrapper_of(qc);
  if (EV(w, on_streams_available))
    w->base.ev->on_streams_available(&w->base);
}

static void q_on_stream_open(wr_quic_stream *s) {
  qconn *w = wrapper_of(wr_quic_stream_conn(s));
  if (EV(w, on_stream_open))
    w->base.ev->on_stream_open(&w->base, TSTREAM(s));
  else if (w && wr_quic_stream_abort(s, 0) != 0)
    WR_DEBUG("Could not refuse an unexpected stream", "connection=%s",
             wr_quic_conn_id(w->qc));
}

static void q_on_stream_data(wr_quic_stream *s, const uint8_t *data, size_t len, int fin) {
  qconn *w = wrapper_of(wr_quic_stream_conn(s));
  if (EV(w, on_stream_data))
    w->base.ev->on_stream_data(&w->base, TSTREAM(s), data, len, fin);
}

static void q_on_stream_writable(wr_quic_stream *s) {
  qconn *w = wrapper_of(wr_quic_stream_conn(s));
  if (EV(w, on_stream_writable))
    w->base.ev->on_stream_writable(&w->base, TSTREAM(s));
}

static void q_on_stream_reset(wr_quic_stream *s, uint64_t code) {
  qconn *w = wrapper_of(wr_quic_stream_conn(s));
  if (EV(w, on_stream_reset))
    w->base.ev->on_stream_reset(&w->base, TSTREAM(s), code);
}

/* STOP_SENDING means the peer will not read what we send: to the tunnel that
 * is the same as a reset of the stream. */
static void q_on_stream_stop_sending(wr_quic_stream *s, uint64_t code) {
  q_on_stream_reset(s, code);
}

static void q_on_stream_close(wr_quic_stream *s, int has_code, uint64_t code) {
  qconn *w = wrapper_of(wr_quic_stream_conn(s));
  if (EV(w, on_stream_close))
    w->base.ev->on_stream_close(&w->base, TSTREAM(s), has_code, code);
}

static const wr_quic_callbacks adapter_callbacks = {
    .on_connected = q_on_connected,
    .on_closed = q_on_closed,
    .on_streams_available = q_on_streams_available,
    .on_stream_open = q_on_stream_open,
    .on_stream_data = q_on_stream_data,
    .on_stream_writable = q_on_stream_writable,
    .on_stream_reset = q_on_stream_reset,
    .on_stream_stop_sending = q_on_stream_stop_sending,
    .on_stream_close = q_on_stream_close,
};

const wr_quic_callbacks *wr_mux_quic_server_callbacks(void) { return &adapter_callbacks; }

int wr_mux_quic_connect(wr_mux_conn **pc, wr_quic_endpoint *ep, const struct sockaddr *remote,
                       const char *server_name, const wr_tls_client *tls, const wr_mux_events *ev,
                       void *user) {
  qconn *w = wr_calloc(1, sizeof *w);
  if (!w)
    return WR_ERR_NOMEM;
  w->magic = WRAPPER_MAGIC;
  w->base.ops = &quic_ops;
  w->base.ev = ev;
  w->base.user = user;
  int rv = wr_quic_connect(&w->qc, ep, remote, server_name, tls, &adapter_callbacks, w);
  if (rv) {
    wr_free(w);
    return rv;
  }
  *pc = &w->base;
  return 0;
}

wr_quic_conn *wr_mux_quic_conn(const wr_mux_conn *c) { return QCONN(c)->qc; }

static int op_stream_open(wr_mux_conn *c, void *user, wr_mux_stream **ps) {
  wr_quic_stream *s;
  int rv = wr_quic_stream_open(QCONN(c)->qc, 0, user, &s);
  if (rv == 0)
    *ps = TSTREAM(s);
  return rv;
}

static ssize_t op_stream_write(wr_mux_stream *s, const void *data, size_t len) {
  return wr_quic_stream_write(QSTREAM(s), data, len);
}

static int op_stream_end(wr_mux_stream *s) { return wr_quic_stream_end(QSTREAM(s)); }

static int op_stream_abort(wr_mux_stream *s, uint64_t code) {
  return wr_quic_stream_abort(QSTREAM(s), code);
}

static void op_stream_consume(wr_mux_stream *s, size_t n) { wr_quic_stream_consume(QSTREAM(s), n); }

static size_t op_stream_queued(const wr_mux_stream *s) {
  return wr_quic_stream_queued((const wr_quic_stream *)s);
}

static void op_stream_set_user(wr_mux_stream *s, void *user) {
  wr_quic_stream_set_user_data(QSTREAM(s), user);
}

static void *op_stream_user(const wr_mux_stream *s) {
  return wr_quic_stream_get_user_data((const wr_quic_stream *)s);
}

static void op_close(wr_mux_conn *c, uint64_t code, const char *reason) {
  wr_quic_conn_close(QCONN(c)->qc, code, reason);
}

static int op_export_keying(wr_mux_conn *c, const char *label, const uint8_t *ctx, size_t ctxlen,
                            uint8_t *out, size_t outlen) {
  return wr_quic_conn_export(QCONN(c)->qc, label, ctx, ctxlen, out, outlen);
}

static void op_stats(wr_mux_conn *c, wr_mux_stats *out) {
  wr_quic_conn_stats st;
  wr_quic_conn_get_stats(QCONN(c)->qc, &st);
  out->rtt_ns = st.smoothed_rtt_ns;
  out->cwnd = st.cwnd;
  out->lost_packets = st.lost_packets;
  out->bytes_sent = st.bytes_sent;
  out->bytes_recv = st.bytes_recv;
  out->streams_open = st.streams_open;
  out->unanswered_ns = st.unanswered_ns;
  out->heard_ago_ns = st.heard_ago_ns;
}

/* Quiet for this long with nothing in flight, while requests wait: PING, so
 * a peer that froze after taking a whole request still shows as silent. A
 * live peer answers within an RTT, so this costs a packet each way at most
 * this often, and only while requests wait on a quiet connection. */
#define PROBE_QUIET_NS (100u * 1000000u)

static void op_probe(wr_mux_conn *c) {
  wr_quic_conn_stats st;
  wr_quic_conn_get_stats(QCONN(c)->qc, &st);
  if (st.bytes_in_flight == 0 && st.heard_ago_ns >= PROBE_QUIET_NS)
    wr_quic_conn_ping(QCONN(c)->qc);
}

static const char *op_id(const wr_mux_conn *c) { return wr_quic_conn_id(QCONN(c)->qc); }

static const struct sockaddr *op_peer_addr(const wr_mux_conn *c) {
  return wr_quic_conn_peer_addr(QCONN(c)->qc);
}

static const wr_mux_ops quic_ops = {
    .protocol = "quic",
    .stream_open = op_stream_open,
    .stream_write = op_stream_write,
    .stream_end = op_stream_end,
    .stream_abort = op_stream_abort,
    .stream_consume = op_stream_consume,
    .stream_queued = op_stream_queued,
    .stream_set_user = op_stream_set_user,
    .stream_user = op_stream_user,
    .close = op_close,
    .export_keying = op_export_keying,
    .stats = op_stats,
    .probe = op_probe,
    .id = op_id,
    .peer_addr = op_peer_addr,
};
