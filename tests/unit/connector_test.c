/* connector_test: the connector's state machine against a real wr_edge, both
 * on one loop on loopback: ha_connections registrations and the ready count
 * and gauges, the edge going away and the connector coming back after its
 * backoff, a wrong secret refused with the edge's exact error, a graceful
 * shutdown (UNREGISTER before close), the http2 path and an edge given by
 * name. Log lines (edge's and connector's) are captured in a file and
 * checked where they are the observable result. */
#include <arpa/inet.h>
#include <netinet/in.h>
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

/* An edge serving the test tunnel on 127.0.0.1: QUIC and its http2 twin on
 * port (0: any), HTTP on any port. */
static wr_edge *edge_start(uint16_t port) {
  const char *hosts[] = {"app.example.com"};
  wr_edge_tunnel t = {.name = "web", .secret = secret, .secret_len = 32, .hosts = hosts,
                      .nhosts = 1};
  memcpy(t.id, tunnel_id, 16);
  struct sockaddr_storage listen = test_addr("127.0.0.1", port);
  struct sockaddr_storage http = test_addr("127.0.0.1", 0);
  wr_edge_config cfg = {.listen = (struct sockaddr *)&listen, .listen_h2_twin = 1,
                        .http = (struct sockaddr *)&http, .tls = stls, .location = "test-1",
                        .tunnels = &t, .ntunnels = 1, .grace_ms = 1000};
  wr_edge *e = NULL;
  char err[256];
  int rc = wr_edge_new(&e, &loop, &cfg, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "edge: %s\n", err);
  CHECK_EQ(rc, 0);
  return e;
}

static uint16_t edge_port(const wr_edge *e) {
  struct sockaddr_storage ss;
  CHECK_EQ(wr_edge_local_addr(e, "listen", &ss), 0);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

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
  CHECK_EQ(log_count("The edge is going away: reconnecting connIndex="), 2);
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
  /* The edge's reason follows the connector's name for the code (the
   * edge's own sentence repeats the name). */
  char line[256];
  snprintf(line, sizeof line,
           "ERR Register tunnel error from server side connIndex=0 "
           "error=\"unauthorized: unauthorized: the registration proof does not verify\" "
           "edge=%s\n",
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

static void test_graceful_shutdown(void) {
  log_reset();
  run r;
  run_start(&r, 2, WR_CONNECTOR_QUIC);
  CHECK(wait_ready(&r, 2, 5000));
  wr_connector_shutdown(r.cn, on_connector_done, &r);
  test_run_until(&loop, test_flag_set, &r.done, 5000);
  CHECK_EQ(r.done, 1);
  CHECK_EQ(wr_edge_ready(r.e), 0);
  /* The edge heard UNREGISTER on both connections before either closed. */
  const char *log = log_text();
  const char *start = strstr(log, "Initiating graceful shutdown gracePeriod=1000ms inflight=0");
  const char *unreg = strstr(log, "Unregistered tunnel connection tunnel=web connIndex=");
  const char *closed = strstr(log, "Tunnel connection closed tunnel=web connIndex=");
  CHECK(start && unreg && closed && start < unreg && unreg < closed);
  CHECK_EQ(log_count("Unregistered tunnel connection tunnel=web connIndex="), 2);
  CHECK_EQ(log_count("INF Connection closed connIndex="), 2);
  CHECK_EQ(log_count("Retrying connection"), 0);
  wr_connector_free(r.cn);
  edge_stop(r.e);
  wr_metrics_del(r.metrics);
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
