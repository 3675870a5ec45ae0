/* tunnel_h2_test.c: the tunnel seam over the http2 transport (and, with the
 * same test bodies, over QUIC), both ends on one loop over loopback.
 *
 * The edge opens every stream; several MB move each way on two streams with
 * slow readers, checked by SHA-256, while the writers are shown to be held
 * back (bytes a writer got accepted minus bytes its reader consumed never
 * exceed window + send queue per stream, and writes answered WR_ERR_AGAIN);
 * FIN both ways; aborts seen by the peer with their codes; a wrong CA or pin
 * refused with the same sentence as over QUIC; the TLS exporter equal on both
 * ends; the connector cannot open streams on http2; the http2 listener shares
 * the QUIC listener's port number. Every test ends with no live handles. */
#include <arpa/inet.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "loop_testutil.h"
#include "test.h"
#include "net/quic.h"
#include "net/tls.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"

#define WINDOW (256 * 1024)
#define SENDQ (256 * 1024)
#define NSTREAMS 2
#define MB (1024 * 1024)

static uv_loop_t loop;
static char tmpdir[256], dir_a[300], dir_b[300], crt_a[400], key_a[400], crt_b[400];

/* ---- loop helpers ---- */

static int (*run_cond)(void);
static int call_run_cond(const void *unused) {
  (void)unused;
  return run_cond();
}

/* Runs the loop until cond() holds or ms pass. */
static int run_until(int (*cond)(void), uint64_t ms) {
  run_cond = cond;
  return test_run_until(&loop, call_run_cond, NULL, ms);
}

/* ---- deterministic stream contents ---- */

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Bytes [off, off+n) of the stream with this seed (off a multiple of 8). */
static void gen(uint64_t seed, uint64_t off, uint8_t *buf, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = mix(seed * 1000003u + (off + i) / 8);
    size_t m = n - i < 8 ? n - i : 8;
    memcpy(buf + i, &w, m);
  }
}

/* ---- per-side and per-stream state ---- */

typedef struct side {
  int is_edge;
  wr_mux_conn *c;
  int connected, closed, close_err;
  char close_reason[WR_TLS_ERRLEN + 64];
  uint8_t exporter[32];
  int streams_opened, streams_closed;
  uint64_t accepted_total; /* bytes its writers got accepted */
  uint64_t consumed_total; /* bytes its readers consumed */
  int again;               /* writes answered WR_ERR_AGAIN */
  size_t max_queued;
} side;

typedef struct xs {
  side *sd;
  wr_mux_conn *c;
  wr_mux_stream *s;
  uint64_t seed, to_send, sent;
  int ended;
  struct sha256_ctx tx, rx;
  uint8_t tx_digest[32], rx_digest[32];
  uint64_t received, consumed;
  uint64_t max_unconsumed;
  int got_fin, resets, closed, has_code;
  uint64_t reset_code, close_code;
  int gone; /* on_stream_close came */
} xs;

/* What a scenario wants the two sides to do. */
static struct scenario {
  int nstreams;
  uint64_t bytes;       /* each way per stream */
  uint64_t edge_bytes;  /* the edge's side, when not bytes (a request then a download) */
  int slow;             /* readers consume only from the drain timer */
  uint64_t hold_ms;     /* readers consume nothing at all this long at first */
  int abort_by;         /* 1: connector aborts streams once data came; 2: edge does */
  uint64_t abort_code;
} sc;

static side edge, conn;
static xs streams[2][8]; /* [0] edge's, [1] connector's */
static int nxs[2];
static uv_timer_t drain;
static int drain_on, holding;
static int tolerant; /* allocation-failure runs: a failed write aborts the stream */
static uint64_t max_ahead[2]; /* per direction: accepted - consumed, at most */

static void check_ahead(void) {
  /* edge -> connector, then connector -> edge */
  if (edge.accepted_total - conn.consumed_total > max_ahead[0])
    max_ahead[0] = edge.accepted_total - conn.consumed_total;
  if (conn.accepted_total - edge.consumed_total > max_ahead[1])
    max_ahead[1] = conn.accepted_total - edge.consumed_total;
}

static void pump(xs *x) {
  uint8_t buf[64 * 1024];
  const wr_mux_ops *ops = x->c->ops;
  while (x->sent < x->to_send) {
    size_t n = x->to_send - x->sent < sizeof buf ? (size_t)(x->to_send - x->sent) : sizeof buf;
    gen(x->seed, x->sent, buf, n);
    ssize_t w = ops->stream_write(x->s, buf, n);
    if (w == WR_ERR_AGAIN) {
      x->sd->again++;
      break;
    }
    if (w < 0) {
      if (tolerant) {
        if (!x->has_code) {
          x->has_code = 1;
          (void)ops->stream_abort(x->s, 99);
        }
        return;
      }
      fprintf(stderr, "  write: %s\n", wr_strerror((int)w));
      CHECK(0);
      return;
    }
    sha256_update(&x->tx, (size_t)w, buf);
    x->sent += (uint64_t)w;
    x->sd->accepted_total += (uint64_t)w;
    size_t q = ops->stream_queued(x->s);
    if (q > x->sd->max_queued)
      x->sd->max_queued = q;
    check_ahead();
    if ((size_t)w < n)
      break; /* the rest comes after on_stream_writable */
  }
  if (x->sent == x->to_send && !x->ended) {
    x->ended = 1;
    sha256_digest(&x->tx, 32, x->tx_digest);
    int rc = ops->stream_end(x->s);
    if (!tolerant)
      CHECK_EQ(rc, 0);
  }
}

static xs *xs_new(side *sd, wr_mux_conn *c, wr_mux_stream *s) {
  int k = sd->is_edge ? 0 : 1;
  xs *x = &streams[k][nxs[k]++];
  memset(x, 0, sizeof *x);
  x->sd = sd;
  x->c = c;
  x->s = s;
  /* The i-th stream of each side sends the same contents the other side's
   * i-th stream expects: seeds differ per direction. */
  x->seed = (uint64_t)(nxs[k]) * 2 + (uint64_t)k;
  x->to_send = sd->is_edge && sc.edge_bytes ? sc.edge_bytes : sc.bytes;
  sha256_init(&x->tx);
  sha256_init(&x->rx);
  c->ops->stream_set_user(s, x);
  return x;
}

static void consume(xs *x, uint64_t n) {
  if (n == 0 || x->gone)
    return;
  x->consumed += n;
  x->sd->consumed_total += n;
  x->c->ops->stream_consume(x->s, (size_t)n);
}

static void on_drain(uv_timer_t *t) {
  (void)t;
  if (holding)
    return;
  /* A slow reader: 48 KiB per stream every 2 ms (about 24 MB/s). */
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < nxs[k]; i++) {
      xs *x = &streams[k][i];
      uint64_t left = x->received - x->consumed;
      consume(x, left < 48 * 1024 ? left : 48 * 1024);
    }
}

static void on_hold_end(uv_timer_t *t) {
  holding = 0;
  uv_close((uv_handle_t *)t, NULL);
}

/* ---- events (both sides) ---- */

static side *side_of(wr_mux_conn *c) { return c->user; }

static void maybe_abort(xs *x) {
  side *sd = x->sd;
  if (sc.abort_by == 0 || x->received == 0 || x->gone || x->closed)
    return;
  if ((sc.abort_by == 1 && !sd->is_edge) || (sc.abort_by == 2 && sd->is_edge)) {
    if (!x->has_code) {
      x->has_code = 1; /* abort once */
      CHECK_EQ(x->c->ops->stream_abort(x->s, sc.abort_code), 0);
    }
  }
}

static void ev_connected(wr_mux_conn *c) {
  side *sd = side_of(c);
  sd->c = c;
  sd->connected = 1;
  CHECK_EQ(c->ops->export_keying(c, "EXPORTER-warren-test", (const uint8_t *)"ctx", 3,
                                 sd->exporter, sizeof sd->exporter),
           0);
  if (!sd->is_edge)
    return;
  /* The edge opens every stream, the control stream first. */
  for (int i = 0; i < sc.nstreams; i++) {
    wr_mux_stream *s = NULL;
    int rc = c->ops->stream_open(c, NULL, &s);
    if (rc != 0 && tolerant) {
      c->ops->close(c, 1, "no memory for a stream");
      return;
    }
    CHECK_EQ(rc, 0);
    if (rc != 0)
      return;
    sd->streams_opened++;
    pump(xs_new(sd, c, s));
  }
}

static int streams_available;
static void ev_streams_available(wr_mux_conn *c) {
  (void)c;
  streams_available++;
}

static void ev_closed(wr_mux_conn *c, int err, const char *reason) {
  side *sd = side_of(c);
  sd->closed = 1;
  sd->close_err = err;
  sd->c = NULL;
  snprintf(sd->close_reason, sizeof sd->close_reason, "%s", reason ? reason : "");
}

static void ev_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  side *sd = side_of(c);
  sd->streams_opened++;
  pump(xs_new(sd, c, s));
}

static void ev_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                           int fin) {
  xs *x = c->ops->stream_user(s);
  sha256_update(&x->rx, len, data);
  x->received += len;
  if (x->received - x->consumed > x->max_unconsumed)
    x->max_unconsumed = x->received - x->consumed;
  if (fin) {
    CHECK(!x->got_fin);
    x->got_fin = 1;
    sha256_digest(&x->rx, 32, x->rx_digest);
  }
  if (!sc.slow && !holding)
    consume(x, x->received - x->consumed);
  maybe_abort(x);
}

static void ev_stream_writable(wr_mux_conn *c, wr_mux_stream *s) {
  xs *x = c->ops->stream_user(s);
  if (!x->has_code)
    pump(x);
}

static void ev_stream_reset(wr_mux_conn *c, wr_mux_stream *s, uint64_t code) {
  xs *x = c->ops->stream_user(s);
  if (x->resets++ == 0)
    x->reset_code = code; /* the first one is the abort's */
}

static void ev_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  xs *x = c->ops->stream_user(s);
  x->closed = 1;
  x->gone = 1;
  x->has_code = has_code;
  x->close_code = code;
  side_of(c)->streams_closed++;
}

static const wr_mux_events events = {
    .on_connected = ev_connected,
    .on_closed = ev_closed,
    .on_streams_available = ev_streams_available,
    .on_stream_open = ev_stream_open,
    .on_stream_data = ev_stream_data,
    .on_stream_writable = ev_stream_writable,
    .on_stream_reset = ev_stream_reset,
    .on_stream_close = ev_stream_close,
};

/* ---- the two transports behind one harness ---- */

typedef struct transport {
  const char *name;
  /* Starts the edge on 127.0.0.1:port (0 picks one); returns the port. */
  uint16_t (*start_edge)(wr_tls_server *tls, uint16_t port);
  /* Dials the edge as the connector. */
  int (*dial)(uint16_t port, const char *name, wr_tls_client *tls);
  /* Closes everything and waits until it is gone. */
  void (*stop)(void);
} transport;

static wr_mux_h2_listener *h2l;
static int h2_dialed;
static int h2l_closed;
static void on_h2l_closed(wr_mux_h2_listener *l, void *data) {
  (void)l;
  (void)data;
  h2l_closed = 1;
}

static const wr_mux_h2_config h2base = {
    .stream_window = WINDOW, .send_queue_limit = SENDQ, .handshake_timeout_ms = 3000};
static wr_mux_h2_config h2cfg; /* h2base, changed by some tests */

static uint16_t h2_start_edge(wr_tls_server *tls, uint16_t port) {
  struct sockaddr_storage b = test_addr("127.0.0.1", port);
  h2l = NULL;
  h2l_closed = 0;
  CHECK_EQ(wr_mux_h2_listen(&h2l, &loop, (struct sockaddr *)&b, tls, &h2cfg, &events, &edge), 0);
  if (!h2l)
    return 0;
  struct sockaddr_storage ss;
  CHECK_EQ(wr_mux_h2_listener_addr(h2l, &ss), 0);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int h2_dial(uint16_t port, const char *name, wr_tls_client *tls) {
  struct sockaddr_storage to = test_addr("127.0.0.1", port);
  wr_mux_conn *c = NULL;
  int rc = wr_mux_h2_connect(&c, &loop, (struct sockaddr *)&to, name, tls, &h2cfg, &events, &conn);
  if (rc == 0)
    conn.c = c;
  h2_dialed = rc == 0;
  return rc;
}

static int conn_gone(void) { return conn.closed; }
static int h2_gone(void) { return h2l_closed && (conn.closed || !h2_dialed); }

static void h2_stop(void) {
  if (conn.c && !conn.closed)
    conn.c->ops->close(conn.c, 0, "test over");
  if (h2l)
    wr_mux_h2_listener_close(h2l, on_h2l_closed, NULL);
  else
    h2l_closed = 1;
  CHECK(run_until(h2_gone, 5000));
  h2l = NULL;
  h2_dialed = 0;
}

static wr_quic_endpoint *qsrv, *qcli;
static wr_mux_quic_listener qlis;
static int qeps_closed;
static void on_qep_closed(wr_quic_endpoint *ep, void *data) {
  (void)ep;
  (void)data;
  qeps_closed++;
}

static wr_quic_config quic_cfg(void) {
  wr_quic_config cfg = {.alpn = "warren-tunnel/1",
                        .stream_window = WINDOW,
                        .max_stream_window = WINDOW,
                        .send_queue_limit = SENDQ};
  return cfg;
}

static uint16_t quic_start_edge(wr_tls_server *tls, uint16_t port) {
  wr_quic_config cfg = quic_cfg();
  wr_mux_quic_listener_init(&qlis, &events, &edge);
  wr_quic_server_config scfg = {.tls = tls, .user_data = &qlis, .retry = WR_QUIC_RETRY_NEVER};
  scfg.callbacks = *wr_mux_quic_server_callbacks();
  struct sockaddr_storage b = test_addr("127.0.0.1", port);
  qsrv = NULL;
  CHECK_EQ(wr_quic_endpoint_new(&qsrv, &loop, (struct sockaddr *)&b, &cfg, &scfg), 0);
  if (!qsrv)
    return 0;
  struct sockaddr_storage ss;
  CHECK_EQ(wr_quic_endpoint_local_addr(qsrv, &ss), 0);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int quic_dial(uint16_t port, const char *name, wr_tls_client *tls) {
  wr_quic_config cfg = quic_cfg();
  struct sockaddr_storage b = test_addr("127.0.0.1", 0), to = test_addr("127.0.0.1", port);
  if (!qcli && wr_quic_endpoint_new(&qcli, &loop, (struct sockaddr *)&b, &cfg, NULL) != 0)
    return WR_ERR_IO;
  wr_mux_conn *c = NULL;
  int rc = wr_mux_quic_connect(&c, qcli, (struct sockaddr *)&to, name, tls, &events, &conn);
  if (rc == 0)
    conn.c = c;
  return rc;
}

static int quic_gone(void) { return qeps_closed == 2; }

static void quic_stop(void) {
  qeps_closed = 0;
  if (qsrv)
    wr_quic_endpoint_close(qsrv, 0, on_qep_closed, NULL);
  else
    qeps_closed++;
  if (qcli)
    wr_quic_endpoint_close(qcli, 0, on_qep_closed, NULL);
  else
    qeps_closed++;
  CHECK(run_until(quic_gone, 5000));
  qsrv = qcli = NULL;
}

static const transport t_h2 = {"http2", h2_start_edge, h2_dial, h2_stop};
static const transport t_quic = {"quic", quic_start_edge, quic_dial, quic_stop};

/* ---- credentials ---- */

static wr_tls_server *server_creds(void) {
  wr_tls_server *srv = NULL;
  char err[WR_TLS_ERRLEN];
  if (wr_tls_server_new(&srv, crt_a, key_a, err, sizeof err) != 0)
    fprintf(stderr, "server creds: %s\n", err);
  return srv;
}

static wr_tls_client *client_creds(const char *ca, const char *pins) {
  wr_tls_client *cli = NULL;
  char err[WR_TLS_ERRLEN];
  wr_tls_client_config cc = {.ca_file = ca, .pins = pins};
  if (wr_tls_client_new(&cli, &cc, err, sizeof err) != 0)
    fprintf(stderr, "client creds: %s\n", err);
  return cli;
}

/* ---- scenarios ---- */

static void reset_state(void) {
  memset(&edge, 0, sizeof edge);
  memset(&conn, 0, sizeof conn);
  edge.is_edge = 1;
  memset(streams, 0, sizeof streams);
  nxs[0] = nxs[1] = 0;
  memset(&sc, 0, sizeof sc);
  max_ahead[0] = max_ahead[1] = 0;
  holding = 0;
  tolerant = 0;
  h2cfg = h2base;
  streams_available = 0;
}

static void drain_start(void) {
  uv_timer_init(&loop, &drain);
  uv_timer_start(&drain, on_drain, 2, 2);
  drain_on = 1;
}

static void drain_stop(void) {
  if (!drain_on)
    return;
  uv_close((uv_handle_t *)&drain, NULL);
  drain_on = 0;
}

static int all_closed(void) {
  return edge.streams_closed >= sc.nstreams && conn.streams_closed >= sc.nstreams;
}
static int both_connected(void) { return edge.connected && conn.connected; }

/* Several MB each way on NSTREAMS streams, slow readers that first consume
 * nothing at all; SHA-256 equal, FIN both ways, writers held back. */
static void stream_test(const transport *tp) {
  reset_state();
  sc.nstreams = NSTREAMS;
  sc.bytes = 6 * MB + 12345; /* not a multiple of any chunk or frame size */
  sc.slow = 1;
  holding = 1;
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  uint16_t port = tp->start_edge(stls, 0);
  CHECK_EQ(tp->dial(port, NULL, ctls), 0);
  drain_start();
  CHECK(run_until(both_connected, 5000));
  /* Readers hold everything for 300 ms: the writers must stop at the windows. */
  uv_timer_t hold;
  uv_timer_init(&loop, &hold);
  uv_timer_start(&hold, on_hold_end, 300, 0);
  uint64_t t0 = uv_now(&loop);
  CHECK(run_until(all_closed, 30000));
  uint64_t ms = uv_now(&loop) - t0;
  (void)ms;
  drain_stop();
  uint64_t bound = (uint64_t)NSTREAMS * (WINDOW + SENDQ);
  printf("  %s: %d+%d streams, %llu MB each way each, %llu ms; most ahead edge->conn %llu, "
         "conn->edge %llu (bound %llu); AGAIN %d/%d; most queued %zu/%zu\n",
         tp->name, edge.streams_opened, conn.streams_opened,
         (unsigned long long)(sc.bytes / MB), (unsigned long long)ms,
         (unsigned long long)max_ahead[0], (unsigned long long)max_ahead[1],
         (unsigned long long)bound, edge.again, conn.again, edge.max_queued, conn.max_queued);
  CHECK_EQ(edge.streams_opened, NSTREAMS);
  CHECK_EQ(conn.streams_opened, NSTREAMS);
  for (int i = 0; i < NSTREAMS; i++) {
    xs *e = &streams[0][i], *k = &streams[1][i];
    CHECK(e->got_fin && k->got_fin);
    CHECK_EQ(e->received, sc.bytes);
    CHECK_EQ(k->received, sc.bytes);
    CHECK(e->ended && k->ended);
    CHECK_MEMEQ(e->tx_digest, k->rx_digest, 32);
    CHECK_MEMEQ(k->tx_digest, e->rx_digest, 32);
    CHECK(e->closed && k->closed);
    CHECK_EQ(e->has_code, 0);
    CHECK_EQ(k->has_code, 0);
    CHECK_EQ(e->resets + k->resets, 0);
    /* A reader never holds more than its window unconsumed. */
    CHECK(e->max_unconsumed <= WINDOW);
    CHECK(k->max_unconsumed <= WINDOW);
  }
  /* The writers were held back: never further ahead of their readers than
   * the windows plus the send queues, and they were told to wait. */
  CHECK(max_ahead[0] <= bound);
  CHECK(max_ahead[1] <= bound);
  CHECK(max_ahead[0] >= WINDOW); /* and the pipes did fill up */
  CHECK(edge.again > 0);
  CHECK(conn.again > 0);
  CHECK(edge.max_queued <= SENDQ);
  CHECK(conn.max_queued <= SENDQ);
  /* The exporter is the same on both ends, and not all zeros. */
  CHECK_MEMEQ(edge.exporter, conn.exporter, 32);
  static const uint8_t zero[32];
  CHECK(memcmp(edge.exporter, zero, 32) != 0);
  wr_mux_stats st;
  edge.c->ops->stats(edge.c, &st);
  CHECK(st.bytes_sent >= sc.bytes * NSTREAMS);
  CHECK(st.bytes_recv >= sc.bytes * NSTREAMS);
  CHECK(st.rtt_ns > 0);
  CHECK(st.cwnd > 0);
  CHECK_STREQ(edge.c->ops->protocol, tp->name);
  tp->stop();
  CHECK(conn.closed);
  CHECK_EQ(conn.close_err, 0);
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* One side aborts each stream with a code once data came: the other side
 * hears the reset with that code, and both see the stream closed with it. */
static void abort_test(const transport *tp, int by) {
  reset_state();
  sc.nstreams = 1;
  sc.bytes = 2 * MB + 777;
  sc.abort_by = by;
  sc.abort_code = by == 1 ? 7 : 9;
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  uint16_t port = tp->start_edge(stls, 0);
  CHECK_EQ(tp->dial(port, NULL, ctls), 0);
  CHECK(run_until(all_closed, 10000));
  xs *e = &streams[0][0], *k = &streams[1][0];
  xs *aborter = by == 1 ? k : e, *peer = by == 1 ? e : k;
  CHECK(peer->resets >= 1);
  CHECK_EQ(peer->reset_code, sc.abort_code);
  if (tp == &t_h2) {
    /* One RST_STREAM: the peer hears it once; the aborter hears nothing. */
    CHECK_EQ(peer->resets, 1);
    CHECK_EQ(aborter->resets, 0);
  } else if (peer->resets != 1 || aborter->resets != 0) {
    /* QUIC: the STOP_SENDING half is reported again (code 0) when the
     * peer's next write fails, and the RESET_STREAM ngtcp2 sends in answer
     * to our STOP_SENDING reaches the aborter: a difference left to quic.c. */
    printf("  quic: the peer heard %d resets, the aborter %d\n", peer->resets, aborter->resets);
  }
  CHECK_EQ(peer->has_code, 1);
  CHECK_EQ(peer->close_code, sc.abort_code);
  CHECK_EQ(aborter->has_code, 1);
  CHECK_EQ(aborter->close_code, sc.abort_code);
  CHECK(!peer->got_fin);
  /* The connection survives a stream's abort. */
  CHECK(!edge.closed && !conn.closed);
  tp->stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

static void refused_test(const transport *tp, const char *ca, const char *pins, const char *expect) {
  reset_state();
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(ca, pins);
  uint16_t port = tp->start_edge(stls, 0);
  CHECK_EQ(tp->dial(port, NULL, ctls), 0);
  CHECK(run_until(conn_gone, 5000));
  CHECK(!conn.connected);
  CHECK(!edge.connected);
  CHECK_EQ(conn.close_err, WR_ERR_DENIED);
  if (!strstr(conn.close_reason, expect)) {
    fprintf(stderr, "  %s reason was: %s\n", tp->name, conn.close_reason);
    CHECK(0);
  }
  tp->stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* A request then a download: the edge sends a little and ends its side at
 * once; the connector's 8 MB must still flow (credit keeps coming for a
 * stream whose other direction is finished). */
static void download_test(const transport *tp) {
  reset_state();
  sc.nstreams = 1;
  sc.edge_bytes = 1000;
  sc.bytes = 8 * MB;
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  uint16_t port = tp->start_edge(stls, 0);
  CHECK_EQ(tp->dial(port, NULL, ctls), 0);
  CHECK(run_until(all_closed, 10000));
  xs *e = &streams[0][0], *k = &streams[1][0];
  CHECK_EQ(k->received, 1000);
  CHECK_EQ(e->received, sc.bytes);
  if (e->received != sc.bytes)
    printf("  %s: download stalled at %llu of %llu bytes\n", tp->name,
           (unsigned long long)e->received, (unsigned long long)sc.bytes);
  CHECK(e->got_fin && k->got_fin);
  CHECK_MEMEQ(k->tx_digest, e->rx_digest, 32);
  tp->stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

static void test_h2_download(void) { download_test(&t_h2); }
static void test_quic_download(void) { download_test(&t_quic); }
static void test_h2_streams(void) { stream_test(&t_h2); }
static void test_quic_streams(void) { stream_test(&t_quic); }
static void test_h2_connector_aborts(void) { abort_test(&t_h2, 1); }
static void test_h2_edge_aborts(void) { abort_test(&t_h2, 2); }
static void test_quic_connector_aborts(void) { abort_test(&t_quic, 1); }
static void test_quic_edge_aborts(void) { abort_test(&t_quic, 2); }

static void test_wrong_ca_refused(void) {
  refused_test(&t_h2, crt_b, NULL, "server certificate refused: it does not verify against the CA file");
  refused_test(&t_quic, crt_b, NULL, "server certificate refused: it does not verify against the CA file");
}

static void test_wrong_pin_refused(void) {
  const char *pin = "sha256:00000000000000000000000000000000000000000000000000000000000000ff";
  refused_test(&t_h2, NULL, pin, "matches no pinned fingerprint");
  refused_test(&t_quic, NULL, pin, "matches no pinned fingerprint");
}

/* The right pin, and a DNS name (sent as SNI) checked against the CA. */
static void test_pin_and_name(void) {
  for (int i = 0; i < 2; i++) {
    reset_state();
    wr_tls_server *stls = server_creds();
    char fp[WR_TLS_FINGERPRINT_LEN];
    wr_tls_server_fingerprint(stls, fp);
    wr_tls_client *ctls = i == 0 ? client_creds(NULL, fp) : client_creds(crt_a, NULL);
    uint16_t port = t_h2.start_edge(stls, 0);
    CHECK_EQ(t_h2.dial(port, i == 0 ? NULL : "localhost", ctls), 0);
    CHECK(run_until(both_connected, 5000));
    t_h2.stop();
    CHECK_EQ(uv_loop_alive(&loop), 0);
    wr_tls_server_del(stls);
    wr_tls_client_del(ctls);
  }
}

/* An HTTP/2 server cannot open streams: the connector's stream_open says so. */
static void test_h2_connector_cannot_open(void) {
  reset_state();
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  uint16_t port = t_h2.start_edge(stls, 0);
  CHECK_EQ(t_h2.dial(port, NULL, ctls), 0);
  CHECK(run_until(both_connected, 5000));
  wr_mux_stream *s = NULL;
  CHECK_EQ(conn.c->ops->stream_open(conn.c, NULL, &s), WR_ERR_UNSUPPORTED);
  CHECK(s == NULL);
  CHECK(wr_mux_is_h2(conn.c));
  CHECK_STREQ(conn.c->ops->protocol, "http2");
  t_h2.stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* The edge closes the connection: the connector hears the GOAWAY's reason. */
static int conn_closed(void) { return conn.closed && edge.closed; }
static void test_h2_edge_closes(void) {
  reset_state();
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  uint16_t port = t_h2.start_edge(stls, 0);
  CHECK_EQ(t_h2.dial(port, NULL, ctls), 0);
  CHECK(run_until(both_connected, 5000));
  edge.c->ops->close(edge.c, 3, "going away for a test");
  CHECK(run_until(conn_closed, 5000));
  CHECK_EQ(edge.close_err, 0);
  CHECK_EQ(conn.close_err, WR_ERR_CLOSED);
  CHECK(strstr(conn.close_reason, "application code 3: going away for a test") != NULL);
  if (!strstr(conn.close_reason, "going away"))
    fprintf(stderr, "  reason was: %s\n", conn.close_reason);
  t_h2.stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* Quiet connections: with keep-alive PINGs they outlive the idle timeout;
 * without, both ends close with WR_ERR_TIMEOUT and say why. */
static void test_h2_keepalive_and_idle_timeout(void) {
  for (int ka = 1; ka >= 0; ka--) {
    reset_state();
    /* The edge is patient and silent; the connector is the one to act. */
    h2cfg.idle_timeout_ms = 5000;
    h2cfg.keepalive_ms = WR_MUX_H2_NO_KEEPALIVE;
    wr_tls_server *stls = server_creds();
    wr_tls_client *ctls = client_creds(crt_a, NULL);
    uint16_t port = t_h2.start_edge(stls, 0);
    h2cfg.idle_timeout_ms = 400;
    h2cfg.keepalive_ms = ka ? 100 : WR_MUX_H2_NO_KEEPALIVE;
    CHECK_EQ(t_h2.dial(port, NULL, ctls), 0);
    CHECK(run_until(both_connected, 5000));
    uint64_t t0 = uv_now(&loop);
    if (ka) {
      CHECK(!run_until(conn_closed, 1500)); /* nearly 4 idle timeouts pass */
      CHECK(!edge.closed && !conn.closed);
    } else {
      CHECK(run_until(conn_closed, 3000));
      uint64_t ms = uv_now(&loop) - t0;
      CHECK(ms >= 350 && ms < 1500);
      CHECK_EQ(conn.close_err, WR_ERR_TIMEOUT);
      CHECK_EQ(edge.close_err, WR_ERR_CLOSED);
      CHECK(strstr(conn.close_reason, "idle timeout: nothing heard from 127.0.0.1:") != NULL);
      CHECK(strstr(conn.close_reason, "for 400 ms") != NULL);
    }
    t_h2.stop();
    CHECK_EQ(uv_loop_alive(&loop), 0);
    wr_tls_server_del(stls);
    wr_tls_client_del(ctls);
  }
}

/* The connector allows 2 streams at once: a third open answers WR_ERR_LIMIT
 * until one closes, then on_streams_available says to retry. */
static int avail(void) { return streams_available > 0; }
static void test_h2_stream_limit(void) {
  reset_state();
  h2cfg.max_streams = 2;
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  uint16_t port = t_h2.start_edge(stls, 0);
  CHECK_EQ(t_h2.dial(port, NULL, ctls), 0);
  CHECK(run_until(both_connected, 5000));
  sc.bytes = 1000;
  wr_mux_conn *c = edge.c;
  for (int i = 0; i < 2; i++) {
    wr_mux_stream *s = NULL;
    CHECK_EQ(c->ops->stream_open(c, NULL, &s), 0);
    if (s)
      pump(xs_new(&edge, c, s));
  }
  wr_mux_stream *s3 = NULL;
  CHECK_EQ(c->ops->stream_open(c, NULL, &s3), WR_ERR_LIMIT);
  CHECK(run_until(avail, 5000));
  CHECK_EQ(c->ops->stream_open(c, NULL, &s3), 0);
  if (s3)
    pump(xs_new(&edge, c, s3));
  sc.nstreams = 3;
  CHECK(run_until(all_closed, 5000));
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(streams[1][i].received, 1000);
    CHECK_EQ(streams[0][i].received, 1000);
  }
  t_h2.stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* Every allocation of ours fails in turn (the Nth, for N = 0, 1, ...): each
 * run ends, the connector hears why when its connection failed, nothing
 * leaks (ASan) and no handle stays alive; late enough, everything works. */
static int alloc_run_over(void) {
  /* A stream the connector never heard of (its opening or its first write
   * failed on the edge, or the connector could not take it) closes on the
   * edge alone: the connection itself survives, nothing on it allocates. */
  return (edge.streams_closed >= 1 && conn.streams_closed >= nxs[1]) || conn.closed;
}
static void test_h2_allocation_failures(void) {
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  int completed = 0, failed = 0, n;
  for (n = 0; n < 200 && completed < 3; n++) {
    reset_state();
    tolerant = 1;
    sc.nstreams = 1;
    sc.bytes = 100000;
    h2cfg.handshake_timeout_ms = 1000;
    h2cfg.idle_timeout_ms = 1500;
    wr_mem_fail_after(n);
    struct sockaddr_storage b = test_addr("127.0.0.1", 0);
    h2l = NULL;
    h2l_closed = 0;
    int rc = wr_mux_h2_listen(&h2l, &loop, (struct sockaddr *)&b, stls, &h2cfg, &events, &edge);
    if (rc != 0) {
      wr_mem_fail_after(-1);
      CHECK_EQ(rc, WR_ERR_NOMEM);
      h2l = NULL;
      uv_run(&loop, UV_RUN_NOWAIT);
      failed++;
      continue;
    }
    struct sockaddr_storage ss;
    CHECK_EQ(wr_mux_h2_listener_addr(h2l, &ss), 0);
    rc = t_h2.dial(ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, ctls);
    if (rc != 0)
      CHECK_EQ(rc, WR_ERR_NOMEM);
    else
      CHECK(run_until(alloc_run_over, 5000));
    wr_mem_fail_after(-1);
    if (rc == 0 && !conn.closed && streams[0][0].got_fin && streams[1][0].got_fin &&
        memcmp(streams[0][0].tx_digest, streams[1][0].rx_digest, 32) == 0 &&
        memcmp(streams[1][0].tx_digest, streams[0][0].rx_digest, 32) == 0)
      completed++;
    else
      failed++;
    if (rc == 0 && conn.closed && !conn.connected && conn.close_err != 0)
      CHECK(conn.close_reason[0] != 0);
    t_h2.stop();
    CHECK_EQ(uv_loop_alive(&loop), 0);
  }
  printf("  allocation failures: %d runs failed cleanly, then %d completed (from the %dth "
         "allocation on)\n", failed, completed, n - completed);
  CHECK(failed > 10);
  CHECK_EQ(completed, 3);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* The http2 listener binds the QUIC listener's port number (TCP and UDP
 * ports are separate), and a connector of each kind connects. */
static void test_same_port_as_quic(void) {
  reset_state();
  wr_tls_server *stls = server_creds();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  /* TCP port 0 picks a free TCP port; the same UDP port may be taken by
   * someone else on a busy machine, so try a few. */
  uint16_t port = 0;
  for (int attempt = 0; attempt < 20 && !port; attempt++) {
    uint16_t p = t_h2.start_edge(stls, 0);
    wr_quic_config cfg = quic_cfg();
    wr_mux_quic_listener_init(&qlis, &events, &edge);
    wr_quic_server_config scfg = {.tls = stls, .user_data = &qlis, .retry = WR_QUIC_RETRY_NEVER};
    scfg.callbacks = *wr_mux_quic_server_callbacks();
    struct sockaddr_storage b = test_addr("127.0.0.1", p);
    qsrv = NULL;
    if (p && wr_quic_endpoint_new(&qsrv, &loop, (struct sockaddr *)&b, &cfg, &scfg) == 0)
      port = p;
    else
      t_h2.stop();
  }
  CHECK(port != 0);
  if (!port)
    return;
  CHECK_EQ(t_h2.dial(port, NULL, ctls), 0);
  CHECK(run_until(both_connected, 5000));
  CHECK(conn.c && strcmp(conn.c->ops->protocol, "http2") == 0);
  t_h2.stop();
  reset_state();
  CHECK_EQ(t_quic.dial(port, NULL, ctls), 0);
  CHECK(run_until(both_connected, 5000));
  CHECK(conn.c && strcmp(conn.c->ops->protocol, "quic") == 0);
  t_quic.stop();
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

/* Nothing listens: the connector hears why. */
static void test_h2_connect_refused(void) {
  reset_state();
  wr_tls_client *ctls = client_creds(crt_a, NULL);
  /* Bind and close a listener to find a port nobody uses right now. */
  wr_tls_server *stls = server_creds();
  uint16_t port = t_h2.start_edge(stls, 0);
  t_h2.stop();
  reset_state();
  CHECK_EQ(t_h2.dial(port, NULL, ctls), 0);
  CHECK(run_until(conn_gone, 5000));
  CHECK_EQ(conn.close_err, WR_ERR_REFUSED);
  CHECK(strstr(conn.close_reason, "cannot connect to 127.0.0.1:") != NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_alive(&loop), 0);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
}

int main(void) {
  wr_log_set_level(WR_LOG_WARN);
  uv_loop_init(&loop);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/wr_tunnel_h2_test.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(dir_a, sizeof dir_a, "%s/a", tmpdir);
  snprintf(dir_b, sizeof dir_b, "%s/b", tmpdir);
  snprintf(crt_a, sizeof crt_a, "%s/%s", dir_a, WR_TLS_SELF_SIGNED_CERT);
  snprintf(key_a, sizeof key_a, "%s/%s", dir_a, WR_TLS_SELF_SIGNED_KEY);
  snprintf(crt_b, sizeof crt_b, "%s/%s", dir_b, WR_TLS_SELF_SIGNED_CERT);
  char err[WR_TLS_ERRLEN];
  if (wr_tls_self_signed_ensure(dir_a, NULL, 0, NULL, err, sizeof err) != 0 ||
      wr_tls_self_signed_ensure(dir_b, NULL, 0, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "self-signed: %s\n", err);
    return 1;
  }
  RUN(test_h2_streams);
  RUN(test_quic_streams);
  RUN(test_h2_download);
  RUN(test_quic_download);
  RUN(test_h2_connector_aborts);
  RUN(test_h2_edge_aborts);
  RUN(test_quic_connector_aborts);
  RUN(test_quic_edge_aborts);
  RUN(test_wrong_ca_refused);
  RUN(test_wrong_pin_refused);
  RUN(test_pin_and_name);
  RUN(test_h2_connector_cannot_open);
  RUN(test_h2_edge_closes);
  RUN(test_h2_keepalive_and_idle_timeout);
  RUN(test_h2_stream_limit);
  RUN(test_same_port_as_quic);
  RUN(test_h2_allocation_failures);
  RUN(test_h2_connect_refused);
  uv_loop_close(&loop);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
  return test_done();
}
