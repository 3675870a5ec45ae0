/* tunnel_bench.c: the tunnel seam over QUIC and over http2, side by side, on
 * loopback in one loop (so the figures include both ends' CPU on one core).
 *
 *   tunnel_bench [MB] [REQUESTS]
 *
 * Per transport: one edge-opened stream carrying MB one way (the connector
 * writes, like a download) and then the other way, readers consuming at once;
 * then REQUESTS sequential small exchanges (a new stream each: 100 bytes out,
 * 100 bytes back, FIN both ways) for p50/p99 round trips. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/quic.h"
#include "net/tls.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"

static uv_loop_t loop;

typedef struct bside {
  int is_edge, connected, closed;
  wr_mux_conn *c;
} bside;

static bside edge, conn;
static uint64_t bulk_total, bulk_sent, bulk_recv;
static int bulk_from_edge; /* direction of the bulk stream */
static int bulk_done;
static wr_mux_stream *bulk_writer;
static int small_done;
static uint64_t small_count;
static uint8_t block[64 * 1024];

static void write_bulk(wr_mux_conn *c, wr_mux_stream *s) {
  while (bulk_sent < bulk_total) {
    size_t n = bulk_total - bulk_sent < sizeof block ? (size_t)(bulk_total - bulk_sent)
                                                     : sizeof block;
    ssize_t w = c->ops->stream_write(s, block, n);
    if (w <= 0)
      return;
    bulk_sent += (uint64_t)w;
  }
  if (c->ops->stream_end(s) != 0)
    fprintf(stderr, "stream_end failed\n");
  bulk_sent++; /* ended */
}

static int mode; /* 0 bulk, 1 small */

static void ev_connected(wr_mux_conn *c) {
  bside *b = c->user;
  b->c = c;
  b->connected = 1;
}
static void ev_closed(wr_mux_conn *c, int err, const char *reason) {
  bside *b = c->user;
  b->closed = 1;
  b->c = NULL;
  if (err)
    fprintf(stderr, "%s closed: %s\n", b->is_edge ? "edge" : "connector", reason);
}
static void ev_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  c->ops->stream_set_user(s, NULL);
  if (mode == 0 && !bulk_from_edge) {
    bulk_writer = s;
    write_bulk(c, s);
  } else if (mode == 0) {
    if (c->ops->stream_end(s) != 0)
      fprintf(stderr, "end failed\n");
  }
}
static void ev_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                           int fin) {
  bside *b = c->user;
  (void)data;
  c->ops->stream_consume(s, len);
  if (mode == 0) {
    bulk_recv += len;
    if (fin && bulk_recv == bulk_total)
      bulk_done = 1;
    return;
  }
  /* small: the connector answers 100 bytes and ends once the request ended;
   * the edge is done at the answer's FIN. */
  if (fin && !b->is_edge) {
    uint8_t ans[100] = {0};
    if (c->ops->stream_write(s, ans, sizeof ans) != 100 || c->ops->stream_end(s) != 0)
      fprintf(stderr, "answer failed\n");
  } else if (fin && b->is_edge) {
    small_done = 1;
  }
}
static void ev_stream_writable(wr_mux_conn *c, wr_mux_stream *s) {
  if (mode == 0 && s == bulk_writer)
    write_bulk(c, s);
}

static int streams_available;
static void ev_streams_available(wr_mux_conn *c) {
  (void)c;
  streams_available = 1;
}

static const wr_mux_events events = {
    .on_streams_available = ev_streams_available,
    .on_connected = ev_connected,
    .on_closed = ev_closed,
    .on_stream_open = ev_stream_open,
    .on_stream_data = ev_stream_data,
    .on_stream_writable = ev_stream_writable,
};

static int *watch;
static uint64_t wd_last;
static void on_watchdog(uv_timer_t *t) {
  (void)t;
  uint64_t progress = mode == 0 ? bulk_recv : small_count;
  if (progress != wd_last) {
    wd_last = progress;
    return;
  }
  fprintf(stderr, "no progress for 3 s (%s): sent %llu received %llu requests %llu\n",
          mode == 0 ? "bulk" : "requests", (unsigned long long)bulk_sent,
          (unsigned long long)bulk_recv, (unsigned long long)small_count);
  for (int i = 0; i < 2; i++) {
    bside *b = i ? &conn : &edge;
    if (b->c && !wr_mux_is_h2(b->c)) {
      wr_quic_conn_stats st;
      wr_quic_conn_get_stats(wr_mux_quic_conn(b->c), &st);
      fprintf(stderr, "  %s: in flight %llu cwnd %llu lost %llu sent %llu recv %llu\n",
              i ? "connector" : "edge", (unsigned long long)st.bytes_in_flight,
              (unsigned long long)st.cwnd, (unsigned long long)st.lost_packets,
              (unsigned long long)st.pkts_sent, (unsigned long long)st.pkts_recv);
    }
  }
  exit(3);
}
static void run_flag(int *flag) {
  watch = flag;
  uv_timer_t wd;
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, on_watchdog, 3000, 3000);
  while (!*watch)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_NOWAIT); /* the timer's close completes before wd goes */
}

static struct sockaddr_storage saddr(uint16_t port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *a = (struct sockaddr_in *)&ss;
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
  return ss;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double secs_since(uint64_t t0) { return (double)(wr_now_ns() - t0) / 1e9; }

/* One transport's figures. */
static void measure(const char *name, uint64_t mb, int nreq) {
  double down = 0, up = 0;
  uint64_t *rtt = wr_malloc(sizeof *rtt * (size_t)nreq);
  if (!rtt)
    return;
  for (int dir = 0; dir < 2; dir++) {
    mode = 0;
    bulk_total = mb * 1024 * 1024;
    bulk_sent = bulk_recv = 0;
    bulk_done = 0;
    bulk_from_edge = dir == 1;
    bulk_writer = NULL;
    wr_mux_stream *s = NULL;
    uint64_t t0 = wr_now_ns();
    if (edge.c->ops->stream_open(edge.c, NULL, &s) != 0) {
      fprintf(stderr, "stream_open failed\n");
      return;
    }
    if (bulk_from_edge) {
      bulk_writer = s;
      write_bulk(edge.c, s);
    } else if (edge.c->ops->stream_end(s) != 0) {
      fprintf(stderr, "stream_end failed\n");
    }
    run_flag(&bulk_done);
    double mbps = (double)bulk_total / 1e6 / secs_since(t0);
    if (dir == 0)
      down = mbps;
    else
      up = mbps;
  }
  mode = 1;
  for (int i = 0; i < nreq; i++) {
    small_done = 0;
    wr_mux_stream *s = NULL;
    uint64_t t0 = wr_now_ns();
    uint8_t req[100] = {0};
    int rc;
    while ((rc = edge.c->ops->stream_open(edge.c, NULL, &s)) == WR_ERR_LIMIT) {
      /* QUIC hands out stream credit as old streams are acknowledged closed. */
      streams_available = 0;
      run_flag(&streams_available);
    }
    if (rc != 0 || edge.c->ops->stream_write(s, req, sizeof req) != 100 ||
        edge.c->ops->stream_end(s) != 0) {
      fprintf(stderr, "request %d failed: %s\n", i, wr_strerror(rc));
      nreq = i;
      break;
    }
    run_flag(&small_done);
    rtt[i] = wr_now_ns() - t0;
    small_count++;
  }
  if (nreq == 0) {
    wr_free(rtt);
    return;
  }
  qsort(rtt, (size_t)nreq, sizeof *rtt, cmp_u64);
  wr_mux_stats st;
  edge.c->ops->stats(edge.c, &st);
  printf("%-6s %10.0f %10.0f %9.1f %9.1f %9.0f %8llu\n", name, down, up,
         (double)rtt[nreq / 2] / 1e3, (double)rtt[nreq * 99 / 100] / 1e3,
         1e9 / ((double)rtt[nreq / 2]), (unsigned long long)(st.cwnd / 1024));
  wr_free(rtt);
}

static int gone_flag;
static void on_ep_closed(wr_quic_endpoint *ep, void *data) {
  (void)ep;
  (*(int *)data)++;
}
static void on_l_closed(wr_mux_h2_listener *l, void *data) {
  (void)l;
  (*(int *)data)++;
}

int main(int argc, char **argv) {
  uint64_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
  int nreq = argc > 2 ? atoi(argv[2]) : 2000;
  if (mb == 0 || nreq <= 0) {
    fprintf(stderr, "usage: tunnel_bench [MB] [REQUESTS]\n");
    return 2;
  }
  wr_log_set_level(WR_LOG_WARN);
  uv_loop_init(&loop);
  char dir[] = "/tmp/wr_tunnel_bench.XXXXXX", err[WR_TLS_ERRLEN], crt[128], key[128];
  if (!mkdtemp(dir))
    return 1;
  snprintf(crt, sizeof crt, "%s/%s", dir, WR_TLS_SELF_SIGNED_CERT);
  snprintf(key, sizeof key, "%s/%s", dir, WR_TLS_SELF_SIGNED_KEY);
  wr_tls_server *stls = NULL;
  wr_tls_client *ctls = NULL;
  wr_tls_client_config cc = {.ca_file = crt};
  if (wr_tls_self_signed_ensure(dir, NULL, 0, NULL, err, sizeof err) != 0 ||
      wr_tls_server_new(&stls, crt, key, err, sizeof err) != 0 ||
      wr_tls_client_new(&ctls, &cc, err, sizeof err) != 0) {
    fprintf(stderr, "credentials: %s\n", err);
    return 1;
  }
  printf("tunnel seam on loopback, one loop for both ends; %llu MB per direction, %d requests\n",
         (unsigned long long)mb, nreq);
  printf("%-6s %10s %10s %9s %9s %9s %8s\n", "proto", "down MB/s", "up MB/s", "p50 us", "p99 us",
         "req/s", "cwnd KiB");

  /* QUIC */
  memset(&edge, 0, sizeof edge);
  memset(&conn, 0, sizeof conn);
  edge.is_edge = 1;
  wr_mux_quic_listener lis;
  wr_mux_quic_listener_init(&lis, &events, &edge);
  wr_quic_config qc = {.alpn = "warren-tunnel/1"};
  wr_quic_server_config sc = {.tls = stls, .user_data = &lis, .retry = WR_QUIC_RETRY_NEVER};
  sc.callbacks = *wr_mux_quic_server_callbacks();
  struct sockaddr_storage any = saddr(0);
  wr_quic_endpoint *qs = NULL, *qcl = NULL;
  if (wr_quic_endpoint_new(&qs, &loop, (struct sockaddr *)&any, &qc, &sc) != 0 ||
      wr_quic_endpoint_new(&qcl, &loop, (struct sockaddr *)&any, &qc, NULL) != 0)
    return 1;
  struct sockaddr_storage ss;
  if (wr_quic_endpoint_local_addr(qs, &ss) != 0)
    return 1;
  struct sockaddr_storage to = saddr(ntohs(((struct sockaddr_in *)&ss)->sin_port));
  wr_mux_conn *c = NULL;
  if (wr_mux_quic_connect(&c, qcl, (struct sockaddr *)&to, NULL, ctls, &events, &conn) != 0)
    return 1;
  run_flag(&edge.connected);
  run_flag(&conn.connected);
  measure("quic", mb, nreq);
  gone_flag = 0;
  wr_quic_endpoint_close(qs, 0, on_ep_closed, &gone_flag);
  wr_quic_endpoint_close(qcl, 0, on_ep_closed, &gone_flag);
  while (gone_flag < 2)
    uv_run(&loop, UV_RUN_ONCE);

  /* http2 */
  memset(&edge, 0, sizeof edge);
  memset(&conn, 0, sizeof conn);
  edge.is_edge = 1;
  wr_mux_h2_listener *hl = NULL;
  if (wr_mux_h2_listen(&hl, &loop, (struct sockaddr *)&any, stls, NULL, &events, &edge) != 0 ||
      wr_mux_h2_listener_addr(hl, &ss) != 0)
    return 1;
  to = saddr(ntohs(((struct sockaddr_in *)&ss)->sin_port));
  if (wr_mux_h2_connect(&c, &loop, (struct sockaddr *)&to, NULL, ctls, NULL, &events, &conn) != 0)
    return 1;
  run_flag(&edge.connected);
  run_flag(&conn.connected);
  measure("http2", mb, nreq);
  conn.c->ops->close(conn.c, 0, "done");
  gone_flag = 0;
  wr_mux_h2_listener_close(hl, on_l_closed, &gone_flag);
  while (gone_flag < 1 || !conn.closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return 0;
}
