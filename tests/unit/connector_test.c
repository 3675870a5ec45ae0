/* connector_test: the connector's state machine against a real wr_edge, both
 * on one loop on loopback: ha_connections registrations and the ready count
 * and gauges, the edge going away and the connector coming back after its
 * backoff, a wrong secret refused with the edge's exact error, a graceful
 * shutdown with a request in flight (UNREGISTER first, close once it is
 * done), the http2 path, auto's fallback to http2 and its return to QUIC,
 * and an edge given by name. Log lines (edge's and connector's) are
 * captured in a file and checked where they are the observable result. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/metrics.h"
#include "edge/edge.h"
#include "io/addr.h"
#include "loop_testutil.h"
#include "net/tls.h"
#include "test.h"
#include "tls_testutil.h"
#include "tunnel/connector.h"
#include "tunnel/ingress.h"

static uv_loop_t loop;
static test_tls_files tls_files;
static const char *const crt = tls_files.crt, *const key = tls_files.key;
static FILE *logfile;
static wr_tls_server *stls;
static wr_tls_client *cli;
static wr_ingress ingress;
static const uint8_t tunnel_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";

/* ---- captured log lines ------------------------------------------------- */

static char logbuf[1 << 16];

static void log_reset(void) {
  fflush(logfile);
  CHECK_EQ(ftruncate(fileno(logfile), 0), 0);
  rewind(logfile);
}

/* Everything logged since log_reset (the last 64 KiB at most). */
static const char *log_text(void) {
  fflush(logfile);
  long end = ftell(logfile);
  long from = end > (long)sizeof logbuf - 1 ? end - (long)sizeof logbuf + 1 : 0;
  size_t n = (size_t)pread(fileno(logfile), logbuf, (size_t)(end - from), from);
  logbuf[n] = '\0';
  return logbuf;
}

static size_t log_count(const char *needle) {
  size_t n = 0;
  for (const char *p = log_text(); (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* A condition for test_run_until: the log holds the text at needle. */
static int log_has(const void *needle) { return strstr(log_text(), needle) != NULL; }

/* ---- the edge ------------------------------------------------------------ */

static int edge_done;
static void on_edge_done(wr_edge *e, void *arg) {
  (void)e;
  (void)arg;
  edge_done = 1;
}

static void edge_stop(wr_edge *e) {
  edge_done = 0;
  wr_edge_shutdown(e, on_edge_done, NULL);
  test_run_until(&loop, test_flag_set, &edge_done, 5000);
  CHECK_EQ(edge_done, 1);
  wr_edge_free(e);
}

/* Where an edge listens for connectors on 127.0.0.1 (port 0: any). */
enum edge_h2 { H2_TWIN, H2_NONE, H2_APART };

/* An edge serving the test tunnel on 127.0.0.1: QUIC on quic_port and
 * http2 on the same port number (H2_TWIN), nowhere (H2_NONE) or on a port
 * of its own (H2_APART); HTTP on any port. */
static wr_edge *edge_start_h2(uint16_t quic_port, enum edge_h2 h2) {
  const char *hosts[] = {"app.example.com"};
  wr_edge_tunnel t = {.name = "web", .secret = secret, .secret_len = 32, .hosts = hosts,
                      .nhosts = 1};
  memcpy(t.id, tunnel_id, 16);
  struct sockaddr_storage listen = test_addr("127.0.0.1", quic_port);
  struct sockaddr_storage apart = test_addr("127.0.0.1", 0);
  struct sockaddr_storage http = test_addr("127.0.0.1", 0);
  wr_edge_config cfg = {.listen = (struct sockaddr *)&listen, .listen_h2_twin = h2 == H2_TWIN,
                        .listen_h2 = h2 == H2_APART ? (struct sockaddr *)&apart : NULL,
                        .http = (struct sockaddr *)&http, .tls = stls, .location = "test-1",
                        .tunnels = &t, .ntunnels = 1, .grace_ms = 1000};
  wr_edge *e = NULL;
  char err[256];
  int rc = wr_edge_new(&e, &loop, &cfg, err, sizeof err);
  /* Any UDP port's TCP twin may be some other socket's: pick again. */
  for (int i = 0;
       (rc == WR_ERR_ADDRINUSE || rc == WR_ERR_IO) && quic_port == 0 && h2 == H2_TWIN && i < 20;
       i++) {
    if (e) /* a half-made edge closes as a whole one does */
      edge_stop(e);
    e = NULL;
    rc = wr_edge_new(&e, &loop, &cfg, err, sizeof err);
  }
  if (rc != 0)
    fprintf(stderr, "edge: %s\n", err);
  CHECK_EQ(rc, 0);
  return e;
}

static wr_edge *edge_start(uint16_t port) { return edge_start_h2(port, H2_TWIN); }

static uint16_t edge_port(const wr_edge *e) {
  struct sockaddr_storage ss;
  CHECK_EQ(wr_edge_local_addr(e, "listen", &ss), 0);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- the connector ------------------------------------------------------- */

typedef struct run {
  wr_edge *e;
  wr_connector *cn;
  wr_metrics *metrics;
  char edge[WR_ADDR_STRLEN + 16];
  size_t want; /* for the conditions below */
  int done;
} run;

static wr_connector_config connector_config(run *r, unsigned ha, int protocol) {
  wr_connector_config cc = {.loop = &loop, .nedges = 1, .tls = cli, .secret_len = 32,
                            .ha_connections = ha, .grace_period_ms = 1000,
                            .idle_timeout_ms = 2000, .ingress = &ingress,
                            .metrics = r->metrics, .protocol = protocol};
  cc.edges[0] = r->edge;
  memcpy(cc.tunnel_id, tunnel_id, 16);
  memcpy(cc.secret, secret, 32);
  return cc;
}

/* Starts an edge; r->edge is its "127.0.0.1:PORT". */
static void run_edge(run *r) {
  memset(r, 0, sizeof *r);
  r->metrics = wr_metrics_new();
  r->e = edge_start(0);
  snprintf(r->edge, sizeof r->edge, "127.0.0.1:%u", edge_port(r->e));
}

/* Starts an edge and a connector to it. */
static void run_start(run *r, unsigned ha, int protocol) {
  run_edge(r);
  wr_connector_config cc = connector_config(r, ha, protocol);
  CHECK_EQ(wr_connector_start(&r->cn, &cc), 0);
}

static int connector_ready_is(const void *arg) {
  const run *r = arg;
  return wr_connector_ready(r->cn) == r->want && wr_edge_ready(r->e) == r->want;
}

/* Runs until both sides count n ready connections (at most ms). */
static int wait_ready(run *r, size_t n, uint64_t ms) {
  r->want = n;
  return test_run_until(&loop, connector_ready_is, r, ms);
}

static void on_connector_done(wr_connector *cn, void *arg) {
  (void)cn;
  ((run *)arg)->done = 1;
}

/* Shuts the connector down gracefully, then the edge; the loop ends with no
 * live handle. */
static void run_stop(run *r) {
  wr_connector_shutdown(r->cn, on_connector_done, r);
  test_run_until(&loop, test_flag_set, &r->done, 5000);
  CHECK_EQ(r->done, 1);
  wr_connector_free(r->cn);
  if (r->e)
    edge_stop(r->e);
  wr_metrics_del(r->metrics);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* The metrics text contains line (a whole line). */
static int metrics_have(wr_metrics *m, const char *line) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  int ok = wr_metrics_render(m, &b) == 0 && wr_buf_printf(&b, "%c", '\0') == 0;
  char want[256];
  snprintf(want, sizeof want, "\n%s\n", line);
  ok = ok && strstr((const char *)b.data, want) != NULL;
  wr_buf_free(&b);
  return ok;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_registers_ha_connections(void) {
  log_reset();
  run r;
  run_start(&r, 3, WR_CONNECTOR_QUIC);
  CHECK(wait_ready(&r, 3, 5000));
  CHECK_EQ(wr_connector_ready(r.cn), 3);
  CHECK_EQ(wr_edge_ready(r.e), 3);
  wr_connector_update_metrics(r.cn);
  CHECK(metrics_have(r.metrics, "warren_tunnel_ha_connections 3"));
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"quic\"} 3"));
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"http2\"} 0"));
  CHECK(metrics_have(r.metrics, "warren_tunnel_register_failures_total 0"));
  char line[160];
  for (unsigned i = 0; i < 3; i++) {
    snprintf(line, sizeof line, "Registered tunnel connection connIndex=%u connection=", i);
    CHECK_EQ(log_count(line), 1);
  }
  snprintf(line, sizeof line, "ip=%s location=test-1 protocol=quic", r.edge);
  CHECK_EQ(log_count(line), 3);
  run_stop(&r);
}

static void test_reconnects_after_backoff(void) {
  log_reset();
  run r;
  run_start(&r, 2, WR_CONNECTOR_QUIC);
  CHECK(wait_ready(&r, 2, 5000));
  uint16_t port = edge_port(r.e);
  /* The edge goes away: it sends UNREGISTER, the connector closes and waits
   * for its backoff (first attempt: up to 1 s). */
  edge_stop(r.e);
  r.e = NULL;
  CHECK_EQ(wr_connector_ready(r.cn), 0);
  /* Usually both connections read the UNREGISTER first; on a loaded machine
   * the edge's close can overtake it on one (then it is a plain close). Both
   * retry either way. */
  CHECK(log_count("The edge is going away: reconnecting connIndex=") >= 1);
  CHECK(log_count("Retrying connection connIndex=") >= 2);
  const char *p = strstr(log_text(), "Retrying connection connIndex=0 edge=");
  CHECK(p != NULL);
  if (p) {
    unsigned long ms = strtoul(strstr(p, " in=") + 4, NULL, 10);
    CHECK(ms <= 1000);
  }
  wr_connector_update_metrics(r.cn);
  CHECK(metrics_have(r.metrics, "warren_tunnel_ha_connections 0"));
  /* The edge comes back on the same port: both slots register again. */
  r.e = edge_start(port);
  CHECK(wait_ready(&r, 2, 10000));
  CHECK_EQ(log_count("Registered tunnel connection connIndex=0 "), 2);
  CHECK_EQ(log_count("Registered tunnel connection connIndex=1 "), 2);
  CHECK(metrics_have(r.metrics, "warren_tunnel_ha_connections 2"));
  run_stop(&r);
}

static void test_wrong_secret_refused(void) {
  log_reset();
  run r;
  run_edge(&r);
  wr_connector_config cc = connector_config(&r, 2, WR_CONNECTOR_QUIC);
  memset(cc.secret, 'f', 32);
  CHECK_EQ(wr_connector_start(&r.cn, &cc), 0);
  /* The edge's reason follows the connector's name for the code, once. */
  char line[512];
  snprintf(line, sizeof line,
           "ERR Register tunnel error from server side connIndex=0 "
           "error=\"unauthorized: the registration proof does not verify (the credentials' "
           "secret is not this tunnel's)\" edge=%s\n",
           r.edge);
  CHECK(test_run_until(&loop, log_has, line, 5000));
  CHECK(metrics_have(r.metrics, "warren_tunnel_register_failures_total 1"));
  CHECK_EQ(wr_connector_ready(r.cn), 0);
  CHECK_EQ(wr_edge_ready(r.e), 0);
  /* A refusal is a failed attempt: the first backoff, at most 1 s. */
  const char *retry = "INF Retrying connection connIndex=0 edge=";
  CHECK(test_run_until(&loop, log_has, retry, 5000));
  const char *p = strstr(log_text(), retry);
  CHECK(p && strstr(p, " in=") && strtoul(strstr(p, " in=") + 4, NULL, 10) <= 1000);
  run_stop(&r);
}

/* ---- a slow origin and a user, for a request in flight ------------------ */

/* An HTTP origin on the loop that reads one request and answers only when
 * told (origin_answer). */
typedef struct origin {
  uv_tcp_t server, conn;
  int accepted, got_request;
  char req[2048];
  size_t reqlen;
  uv_write_t w;
} origin;

static void origin_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  origin *o = h->data;
  b->base = o->req + o->reqlen;
  b->len = sizeof o->req - 1 - o->reqlen;
}

static void origin_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  (void)b;
  origin *o = st->data;
  if (n <= 0)
    return;
  o->reqlen += (size_t)n;
  o->req[o->reqlen] = '\0';
  if (strstr(o->req, "\r\n\r\n"))
    o->got_request = 1;
}

static void origin_accept(uv_stream_t *srv, int status) {
  origin *o = srv->data;
  if (status < 0 || o->accepted)
    return;
  uv_tcp_init(&loop, &o->conn);
  o->conn.data = o;
  CHECK_EQ(uv_accept(srv, (uv_stream_t *)&o->conn), 0);
  o->accepted = 1;
  uv_read_start((uv_stream_t *)&o->conn, origin_alloc, origin_read);
}

static uint16_t origin_start(origin *o) {
  memset(o, 0, sizeof *o);
  struct sockaddr_storage a = test_addr("127.0.0.1", 0);
  uv_tcp_init(&loop, &o->server);
  o->server.data = o;
  CHECK_EQ(uv_tcp_bind(&o->server, (struct sockaddr *)&a, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&o->server, 4, origin_accept), 0);
  int len = sizeof a;
  CHECK_EQ(uv_tcp_getsockname(&o->server, (struct sockaddr *)&a, &len), 0);
  return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static void origin_answer(origin *o) {
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  uv_buf_t b = uv_buf_init((char *)resp, sizeof resp - 1);
  CHECK_EQ(uv_write(&o->w, (uv_stream_t *)&o->conn, &b, 1, NULL), 0);
  uv_close((uv_handle_t *)&o->conn, NULL); /* after the write, which libuv finishes first */
  uv_close((uv_handle_t *)&o->server, NULL);
}

/* A user: one blocking HTTP request to the edge from a thread. */
typedef struct user {
  uint16_t port;
  char reply[1024];
  volatile int done;
  uv_async_t wake;
  pthread_t th;
} user;

static void *user_main(void *arg) {
  user *u = arg;
  static const char req[] = "GET /slow HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_storage a = test_addr("127.0.0.1", u->port);
  size_t len = 0;
  if (connect(fd, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) == 0 &&
      send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
    ssize_t n;
    while ((n = recv(fd, u->reply + len, sizeof u->reply - 1 - len, 0)) > 0)
      len += (size_t)n;
  }
  u->reply[len] = '\0';
  close(fd);
  u->done = 1;
  uv_async_send(&u->wake);
  return NULL;
}

static void user_woken(uv_async_t *a) { (void)a; }

static void user_start(user *u, const wr_edge *e) {
  memset(u, 0, sizeof *u);
  struct sockaddr_storage ss;
  CHECK_EQ(wr_edge_local_addr(e, "http", &ss), 0);
  u->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_async_init(&loop, &u->wake, user_woken);
  pthread_create(&u->th, NULL, user_main, u);
}

static void user_end(user *u) {
  pthread_join(u->th, NULL);
  uv_close((uv_handle_t *)&u->wake, NULL);
}

/* Shutdown with a request in flight: UNREGISTER reaches the edge on both
 * connections (it routes nothing new to them) while they stay open; the
 * request finishes; only then do the connections close. */
static void test_graceful_shutdown(void) {
  log_reset();
  origin o;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", origin_start(&o));
  wr_ingress slow;
  wr_ingress_init(&slow);
  char err[256];
  CHECK_EQ(wr_ingress_add(&slow, NULL, NULL, url, NULL, err, sizeof err), 0);
  run r;
  run_edge(&r);
  wr_connector_config cc = connector_config(&r, 2, WR_CONNECTOR_QUIC);
  cc.ingress = &slow;
  cc.grace_period_ms = 5000;
  CHECK_EQ(wr_connector_start(&r.cn, &cc), 0);
  CHECK(wait_ready(&r, 2, 5000));
  user u;
  user_start(&u, r.e);
  CHECK(test_run_until(&loop, test_flag_set, &o.got_request, 5000));

  wr_connector_shutdown(r.cn, on_connector_done, &r);
  CHECK(test_run_until(&loop, log_has, "INF Unregistered tunnel connection tunnel=web connIndex=1",
                       5000));
  CHECK(test_run_until(&loop, log_has, "INF Unregistered tunnel connection tunnel=web connIndex=0",
                       5000));
  CHECK_EQ(log_count("Initiating graceful shutdown gracePeriod=5000ms inflight=1"), 1);
  CHECK_EQ(wr_edge_ready(r.e), 0);
  test_run_until(&loop, NULL, NULL, 300); /* a few grace polls: still waiting */
  CHECK_EQ(r.done, 0);
  CHECK_EQ(log_count("Tunnel connection closed"), 0);

  origin_answer(&o);
  CHECK(test_run_until(&loop, test_flag_set, (const void *)&u.done, 5000));
  user_end(&u);
  CHECK(strncmp(u.reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(u.reply, "\r\n\r\nok") != NULL);
  test_run_until(&loop, test_flag_set, &r.done, 5000);
  CHECK_EQ(r.done, 1);
  CHECK_EQ(log_count("INF Connection closed connIndex="), 2);
  CHECK_EQ(log_count("Tunnel connection closed tunnel=web"), 2);
  CHECK_EQ(log_count("Retrying connection"), 0);
  CHECK_EQ(log_count("Grace period over"), 0);
  wr_connector_free(r.cn);
  edge_stop(r.e);
  wr_metrics_del(r.metrics);
  wr_ingress_free(&slow);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

static void test_http2(void) {
  log_reset();
  run r;
  run_start(&r, 2, WR_CONNECTOR_HTTP2);
  CHECK(wait_ready(&r, 2, 5000));
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"http2\"} 2"));
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"quic\"} 0"));
  char line[160];
  snprintf(line, sizeof line, "ip=%s location=test-1 protocol=http2", r.edge);
  CHECK_EQ(log_count(line), 2);
  run_stop(&r);
}

/* --protocol auto: QUIC to the edge's address is refused (only http2
 * listens on that port: the host answers ICMP port unreachable, which ends
 * the handshake at once), and the http2 dial that checks whether the edge
 * is down works, so the slot stays on http2 (as behind a firewall that
 * rejects UDP); its QUIC probes
 * fail until a QUIC listener appears on that UDP port, then the slot
 * switches back and the http2 connection drains and closes. */
static void test_auto_falls_back_and_returns(void) {
  log_reset();
  run r;
  memset(&r, 0, sizeof r);
  r.metrics = wr_metrics_new();
  r.e = edge_start_h2(0, H2_APART);
  struct sockaddr_storage ss;
  CHECK_EQ(wr_edge_local_addr(r.e, "listen-http2", &ss), 0);
  uint16_t port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  snprintf(r.edge, sizeof r.edge, "127.0.0.1:%u", port);
  wr_connector_config cc = connector_config(&r, 1, WR_CONNECTOR_AUTO);
  cc.quic_timeout_ms = 300;
  cc.quic_probe_interval_ms = 300;
  CHECK_EQ(wr_connector_start(&r.cn, &cc), 0);
  CHECK(wait_ready(&r, 1, 5000));
  char line[384];
  snprintf(line, sizeof line,
           "WRN QUIC is refused but http2 works: UDP to the edge looks rejected by a firewall; "
           "using http2 connIndex=0 edge=%s\n",
           r.edge);
  CHECK_EQ(log_count(line), 1);
  CHECK_EQ(log_count("looks blocked"), 0);
  snprintf(line, sizeof line, "ip=%s location=test-1 protocol=http2", r.edge);
  CHECK_EQ(log_count(line), 1);
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"http2\"} 1"));
  const char *probe_failed =
      "INF QUIC probe failed: staying on http2 connIndex=0 error=\"nothing listens on UDP ";
  CHECK(test_run_until(&loop, log_has, probe_failed, 5000));

  /* QUIC on that UDP port now: the next probe registers and takes over. */
  wr_edge *quic_edge = edge_start_h2(port, H2_NONE);
  CHECK(test_run_until(&loop, log_has, "INF Closed the drained http2 connection connIndex=0",
                       5000));
  CHECK_EQ(log_count("INF Switched back to QUIC connIndex=0 connection="), 1);
  CHECK_EQ(wr_connector_ready(r.cn), 1);
  CHECK_EQ(wr_edge_ready(quic_edge), 1);
  CHECK_EQ(wr_edge_ready(r.e), 0);
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"quic\"} 1"));
  CHECK(metrics_have(r.metrics, "warren_tunnel_connections{protocol=\"http2\"} 0"));
  edge_stop(quic_edge); /* first: run_stop checks that nothing is left */
  run_stop(&r);
}

/* "localhost:PORT": resolved (io/dns) before the dial; logs show the address
 * dialled. Assumes localhost resolves to 127.0.0.1 first, as on Debian. */
static void test_edge_by_name(void) {
  log_reset();
  run r;
  run_edge(&r);
  char numeric[sizeof r.edge];
  memcpy(numeric, r.edge, sizeof numeric);
  snprintf(r.edge, sizeof r.edge, "localhost:%u", edge_port(r.e));
  wr_connector_config cc = connector_config(&r, 1, WR_CONNECTOR_QUIC);
  cc.server_name = "localhost";
  CHECK_EQ(wr_connector_start(&r.cn, &cc), 0);
  CHECK(wait_ready(&r, 1, 5000));
  char line[160];
  snprintf(line, sizeof line, "ip=%s location=test-1 protocol=quic", numeric);
  CHECK_EQ(log_count(line), 1);
  run_stop(&r);
}

/* A name that does not resolve: the dial fails with io/dns's sentence and
 * the slot backs off; a shutdown meanwhile ends cleanly. */
static void test_edge_name_unresolved(void) {
  log_reset();
  run r;
  memset(&r, 0, sizeof r);
  r.metrics = wr_metrics_new();
  snprintf(r.edge, sizeof r.edge, "no-such-edge.invalid:7844");
  wr_connector_config cc = connector_config(&r, 1, WR_CONNECTOR_QUIC);
  CHECK_EQ(wr_connector_start(&r.cn, &cc), 0);
  const char *want = "ERR Could not resolve the edge connIndex=0 edge=no-such-edge.invalid:7844 "
                     "error=\"cannot resolve no-such-edge.invalid: ";
  CHECK(test_run_until(&loop, log_has, want, 10000));
  CHECK_EQ(log_count(want), 1);
  CHECK_EQ(log_count("Retrying connection connIndex=0 edge=no-such-edge.invalid:7844 in="), 1);
  run_stop(&r);
}

static void test_start_errors(void) {
  run r;
  memset(&r, 0, sizeof r);
  snprintf(r.edge, sizeof r.edge, "not an address");
  wr_connector_config cc = connector_config(&r, 1, WR_CONNECTOR_QUIC);
  wr_connector *cn = NULL;
  CHECK_EQ(wr_connector_start(&cn, &cc), WR_ERR_INVAL);
  cc.nedges = 0;
  CHECK_EQ(wr_connector_start(&cn, &cc), WR_ERR_INVAL);
  cc.nedges = 1;
  snprintf(r.edge, sizeof r.edge, "127.0.0.1:1");
  cc.secret_len = 8;
  CHECK_EQ(wr_connector_start(&cn, &cc), WR_ERR_INVAL);
  CHECK(cn == NULL);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

int main(void) {
  uv_loop_init(&loop);
  if (test_tls_files_make(&tls_files, "wr_connector_test") != 0)
    return 1;
  char err[WR_TLS_ERRLEN];
  wr_tls_client_config tcc = {.ca_file = crt};
  if (wr_tls_server_new(&stls, crt, key, err, sizeof err) != 0 ||
      wr_tls_client_new(&cli, &tcc, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  wr_ingress_init(&ingress);
  if (wr_ingress_add(&ingress, NULL, NULL, "http://127.0.0.1:1", NULL, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  logfile = tmpfile();
  wr_log_set_stream(logfile);
  wr_log_set_level(WR_LOG_INFO);
  RUN(test_start_errors);
  RUN(test_registers_ha_connections);
  RUN(test_http2);
  RUN(test_auto_falls_back_and_returns);
  RUN(test_graceful_shutdown);
  RUN(test_wrong_secret_refused);
  RUN(test_reconnects_after_backoff);
  RUN(test_edge_by_name);
  RUN(test_edge_name_unresolved);
  wr_log_set_stream(NULL);
  if (getenv("CONNECTOR_TEST_DEBUG"))
    fputs(log_text(), stderr);
  fclose(logfile);
  wr_ingress_free(&ingress);
  wr_tls_client_del(cli);
  wr_tls_server_del(stls);
  test_tls_files_remove(&tls_files);
  CHECK_EQ(uv_loop_close(&loop), 0);
  return test_done();
}
