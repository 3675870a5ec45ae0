/* tls_tcp_test.c: TLS over TCP on loopback: ALPN and SNI, data both ways
 * checked by SHA-256 through a bounded write queue (WR_ERR_AGAIN, then
 * on_writable) against a paused reader, graceful close with close_notify, a
 * reset peer, ALPN mismatch, handshake timeout, the listener's connection
 * limit and the exporter. Every test ends with no live handles. */
#include <arpa/inet.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "loop_testutil.h"
#include "test.h"
#include "net/tls.h"
#include "net/tls_tcp.h"

#define QLIMIT (64 * 1024)
#define TOTAL (16 * 1024 * 1024)

static uv_loop_t loop;
static char tmpdir[256], dir_a[300], crt_a[400], key_a[400];

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

/* ---- one state per side ---- */

typedef struct end {
  wr_tls_tcp *t;
  int connected, eof, closed, close_err, writable;
  char reason[WR_TLS_ERRLEN + 64];
  char alpn[64], sni[256];
  uint8_t exporter[32];
  uint64_t received, sent, total;
  struct sha256_ctx rx, tx;
  int again;
  size_t max_queued;
  int close_on_eof, pause_reads;
} end;

static end cli, srv;
static int listener_closed;

static void fill(uint8_t *buf, size_t n, uint64_t off) {
  for (size_t i = 0; i < n; i++)
    buf[i] = (uint8_t)((off + i) * 2654435761u >> 13);
}

static void pump(end *e) {
  uint8_t buf[32 * 1024];
  while (e->sent < e->total) {
    size_t n = e->total - e->sent < sizeof buf ? (size_t)(e->total - e->sent) : sizeof buf;
    fill(buf, n, e->sent);
    ssize_t w = wr_tls_tcp_write(e->t, buf, n);
    if (w == WR_ERR_AGAIN) {
      e->again++;
      return;
    }
    CHECK(w > 0);
    if (w <= 0)
      return;
    sha256_update(&e->tx, (size_t)w, buf);
    e->sent += (uint64_t)w;
    size_t q = wr_tls_tcp_queued(e->t);
    if (q > e->max_queued)
      e->max_queued = q;
  }
}

static end *end_of(wr_tls_tcp *t) { return wr_tls_tcp_get_user_data(t); }

static void on_accept(wr_tls_tcp *t) {
  srv.t = t;
  wr_tls_tcp_set_user_data(t, &srv);
}
static void on_connected(wr_tls_tcp *t) {
  end *e = end_of(t);
  e->connected = 1;
  snprintf(e->alpn, sizeof e->alpn, "%s", wr_tls_tcp_alpn(t));
  snprintf(e->sni, sizeof e->sni, "%s", wr_tls_tcp_server_name(t));
  CHECK_EQ(wr_tls_tcp_export(t, "EXPORTER-warren-test", NULL, 0, e->exporter, 32), 0);
  if (e->pause_reads)
    wr_tls_tcp_read_stop(t);
  pump(e);
}
static void on_data(wr_tls_tcp *t, const uint8_t *data, size_t len) {
  end *e = end_of(t);
  sha256_update(&e->rx, len, data);
  e->received += len;
}
static void on_eof(wr_tls_tcp *t) {
  end *e = end_of(t);
  e->eof = 1;
  if (e->close_on_eof)
    wr_tls_tcp_close(t);
}
static void on_writable(wr_tls_tcp *t) {
  end *e = end_of(t);
  e->writable++;
  pump(e);
}
static void on_closed(wr_tls_tcp *t, int err, const char *reason) {
  end *e = end_of(t);
  if (!e)
    return;
  e->closed = 1;
  e->close_err = err;
  e->t = NULL;
  snprintf(e->reason, sizeof e->reason, "%s", reason);
}

static const wr_tls_tcp_callbacks cbs = {
    .on_accept = on_accept,
    .on_connected = on_connected,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = on_writable,
    .on_closed = on_closed,
};

static void on_listener_closed(wr_tls_tcp_listener *l, void *data) {
  (void)l;
  (void)data;
  listener_closed = 1;
}

static void reset_ends(void) {
  memset(&cli, 0, sizeof cli);
  memset(&srv, 0, sizeof srv);
  sha256_init(&cli.rx);
  sha256_init(&cli.tx);
  sha256_init(&srv.rx);
  sha256_init(&srv.tx);
  listener_closed = 0;
}

static wr_tls_server *stls;
static wr_tls_client *ctls;

static wr_tls_tcp_listener *listen_on(const char *alpn, uint32_t max_conns) {
  wr_tls_tcp_config cfg = {.alpn = alpn, .write_queue_limit = QLIMIT,
                           .max_connections = max_conns};
  struct sockaddr_storage b = test_addr("127.0.0.1", 0);
  wr_tls_tcp_listener *l = NULL;
  CHECK_EQ(wr_tls_tcp_listen(&l, &loop, (struct sockaddr *)&b, stls, &cfg, &cbs, NULL), 0);
  return l;
}

static uint16_t port_of(wr_tls_tcp_listener *l) {
  struct sockaddr_storage ss;
  if (wr_tls_tcp_listener_addr(l, &ss) != 0)
    return 0;
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void dial(end *e, uint16_t port, const char *name, const char *alpn) {
  wr_tls_tcp_config cfg = {.alpn = alpn, .write_queue_limit = QLIMIT,
                           .handshake_timeout_ms = 300};
  struct sockaddr_storage to = test_addr("127.0.0.1", port);
  CHECK_EQ(wr_tls_tcp_connect(&e->t, &loop, (struct sockaddr *)&to, name, ctls, &cfg, &cbs, e),
           0);
}

static int both_connected(void) { return cli.connected && srv.connected; }
static int cli_closed(void) { return cli.closed; }
static int both_closed(void) { return cli.closed && srv.closed; }
static int done_listener(void) { return listener_closed; }

static void finish(wr_tls_tcp_listener *l) {
  if (cli.t && !cli.closed)
    wr_tls_tcp_close(cli.t);
  wr_tls_tcp_listener_close(l, on_listener_closed, NULL);
  CHECK(run_until(done_listener, 5000));
  CHECK(run_until(cli_closed, 5000));
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* The server's ALPN order wins; a DNS name goes out as SNI, an IP literal
 * does not; the exporter is equal on both ends. */
static void test_alpn_sni_exporter(void) {
  for (int i = 0; i < 2; i++) {
    reset_ends();
    wr_tls_tcp_listener *l = listen_on("b/2,a/1", 0);
    dial(&cli, port_of(l), i == 0 ? "localhost" : NULL, "a/1,b/2");
    CHECK(run_until(both_connected, 5000));
    CHECK_STREQ(cli.alpn, "b/2");
    CHECK_STREQ(srv.alpn, "b/2");
    CHECK_STREQ(srv.sni, i == 0 ? "localhost" : "");
    CHECK_MEMEQ(cli.exporter, srv.exporter, 32);
    CHECK(wr_tls_tcp_is_server(srv.t) && !wr_tls_tcp_is_server(cli.t));
    CHECK(strncmp(wr_tls_tcp_peer_str(srv.t), "127.0.0.1:", 10) == 0);
    finish(l);
    CHECK_EQ(cli.close_err, 0);
  }
}

static int srv_stalled(void) { return cli.again > 0 && cli.sent > 0; }
static int cli_all_sent(void) { return cli.sent == TOTAL; }

/* The server reads nothing: the client's writes stop at the queue limit with
 * WR_ERR_AGAIN; once the server reads again on_writable resumes them, every
 * byte arrives intact, and a graceful close (close_notify) reaches the
 * server as on_eof after the last byte. */
static void test_backpressure_and_close(void) {
  reset_ends();
  wr_tls_tcp_listener *l = listen_on("t/1", 0);
  srv.pause_reads = 1;
  srv.close_on_eof = 1;
  cli.total = TOTAL;
  dial(&cli, port_of(l), NULL, "t/1");
  CHECK(run_until(srv_stalled, 5000));
  /* Let the kernel buffers fill: the queue must stay bounded meanwhile. */
  (void)test_run_until(&loop, NULL, NULL, 200);
  uint64_t stalled_at = cli.sent;
  CHECK_EQ(srv.received, 0);
  CHECK(stalled_at < TOTAL);
  CHECK(cli.max_queued <= QLIMIT + 256); /* a record's overhead at most */
  wr_tls_tcp_read_start(srv.t);
  /* The client closes once it has sent everything. */
  CHECK(run_until(cli_all_sent, 10000));
  CHECK_EQ(cli.sent, TOTAL);
  CHECK(cli.writable > 0);
  wr_tls_tcp_close(cli.t);
  CHECK(run_until(both_closed, 5000));
  CHECK_EQ(srv.received, TOTAL);
  CHECK(srv.eof);
  uint8_t a[32], b[32];
  sha256_digest(&cli.tx, 32, a);
  sha256_digest(&srv.rx, 32, b);
  CHECK_MEMEQ(a, b, 32);
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
  printf("  writer stalled at %llu bytes (queue limit %d), most queued %zu, AGAIN %d\n",
         (unsigned long long)stalled_at, QLIMIT, cli.max_queued, cli.again);
  finish(l);
}

static int srv_up(void) { return srv.connected && cli.connected; }

/* A peer that vanishes with a TCP RST is reported as closed, not hung. */
static void test_peer_reset(void) {
  reset_ends();
  wr_tls_tcp_listener *l = listen_on("t/1", 0);
  dial(&cli, port_of(l), NULL, "t/1");
  CHECK(run_until(srv_up, 5000));
  wr_tls_tcp_reset(srv.t);
  CHECK(run_until(cli_closed, 5000));
  CHECK_EQ(cli.close_err, WR_ERR_CLOSED);
  CHECK(strstr(cli.reason, "127.0.0.1:") != NULL);
  finish(l);
}

/* No common ALPN: refused with the alert, on both sides. */
static void test_alpn_mismatch(void) {
  reset_ends();
  wr_tls_tcp_listener *l = listen_on("t/1", 0);
  dial(&cli, port_of(l), NULL, "other/1");
  CHECK(run_until(cli_closed, 5000));
  CHECK(!cli.connected);
  CHECK_EQ(cli.close_err, WR_ERR_DENIED);
  CHECK(strstr(cli.reason, "refused the TLS handshake: alert 120") != NULL);
  if (!strstr(cli.reason, "alert 120"))
    fprintf(stderr, "  reason was: %s\n", cli.reason);
  wr_tls_tcp_listener_stats st;
  wr_tls_tcp_listener_stats_get(l, &st);
  CHECK_EQ(st.handshake_failed, 1);
  finish(l);
}

/* A TCP server that never speaks TLS: the handshake deadline ends it. */
static void on_plain_conn(uv_stream_t *s, int status) {
  (void)status;
  uv_tcp_t *c = s->data;
  uv_tcp_init(&loop, c);
  CHECK_EQ(uv_accept(s, (uv_stream_t *)c), 0);
}
static void test_handshake_timeout(void) {
  reset_ends();
  uv_tcp_t lsn, acc;
  uv_tcp_init(&loop, &lsn);
  lsn.data = &acc;
  struct sockaddr_storage b = test_addr("127.0.0.1", 0);
  CHECK_EQ(uv_tcp_bind(&lsn, (struct sockaddr *)&b, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&lsn, 4, on_plain_conn), 0);
  int len = sizeof b;
  uv_tcp_getsockname(&lsn, (struct sockaddr *)&b, &len);
  dial(&cli, ntohs(((struct sockaddr_in *)&b)->sin_port), NULL, "t/1");
  CHECK(run_until(cli_closed, 5000));
  CHECK_EQ(cli.close_err, WR_ERR_TIMEOUT);
  CHECK(strstr(cli.reason, "did not complete within 300 ms") != NULL);
  uv_close((uv_handle_t *)&lsn, NULL);
  uv_close((uv_handle_t *)&acc, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* Past max_connections a new connection is closed at once and counted. */
static end extra;
static int extra_closed(void) { return extra.closed; }
static void test_connection_limit(void) {
  reset_ends();
  memset(&extra, 0, sizeof extra);
  wr_tls_tcp_listener *l = listen_on("t/1", 1);
  dial(&cli, port_of(l), NULL, "t/1");
  CHECK(run_until(srv_up, 5000));
  dial(&extra, port_of(l), NULL, "t/1");
  CHECK(run_until(extra_closed, 5000));
  CHECK(!extra.connected);
  CHECK_EQ(extra.close_err, WR_ERR_CLOSED);
  wr_tls_tcp_listener_stats st;
  wr_tls_tcp_listener_stats_get(l, &st);
  CHECK_EQ(st.refused_limit, 1);
  CHECK_EQ(st.open, 1);
  finish(l);
}

/* Origin trust modes (tls.h): a foreign CA file refuses the server naming the
 * file; the system store alone refuses a self-signed server naming the
 * system's CAs; no_verify accepts it; a CA file plus the system store accepts
 * it through the file. And a client config with no way to verify is refused. */
static void dial_with(end *e, uint16_t port, const wr_tls_client *c, unsigned flags) {
  wr_tls_tcp_config cfg = {.alpn = "t/1", .tls_flags = flags, .write_queue_limit = QLIMIT,
                           .handshake_timeout_ms = 2000};
  struct sockaddr_storage to = test_addr("127.0.0.1", port);
  CHECK_EQ(wr_tls_tcp_connect(&e->t, &loop, (struct sockaddr *)&to, "localhost", c, &cfg, &cbs,
                              e),
           0);
}

static void test_client_trust_modes(void) {
  char dir_b[320], crt_b[420], err[WR_TLS_ERRLEN];
  snprintf(dir_b, sizeof dir_b, "%s/b", tmpdir);
  snprintf(crt_b, sizeof crt_b, "%s/%s", dir_b, WR_TLS_SELF_SIGNED_CERT);
  CHECK_EQ(wr_tls_self_signed_ensure(dir_b, NULL, 0, NULL, err, sizeof err), 0);
  struct {
    wr_tls_client_config cc;
    int ok;
    const char *why;
  } cases[] = {
      {{.ca_file = crt_b}, 0, "server certificate refused: it does not verify against the CA file"},
      {{.system_trust = 1}, 0,
       "server certificate refused: it does not verify against the system's CAs"},
      {{.no_verify = 1}, 1, NULL},
      {{.ca_file = crt_b, .no_verify = 1}, 1, NULL},
      {{.ca_file = crt_a, .system_trust = 1}, 1, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wr_tls_client *c = NULL;
    CHECK_EQ(wr_tls_client_new(&c, &cases[i].cc, err, sizeof err), 0);
    if (!c)
      continue;
    reset_ends();
    wr_tls_tcp_listener *l = listen_on("t/1", 0);
    dial_with(&cli, port_of(l), c, WR_TLS_STREAM_ALPN_OPTIONAL);
    if (cases[i].ok) {
      CHECK(run_until(both_connected, 5000));
    } else {
      CHECK(run_until(cli_closed, 5000));
      CHECK(!cli.connected);
      CHECK_EQ(cli.close_err, WR_ERR_DENIED);
      CHECK(strstr(cli.reason, cases[i].why) != NULL);
      if (!strstr(cli.reason, cases[i].why))
        fprintf(stderr, "  case %zu: reason was: %s\n", i, cli.reason);
    }
    finish(l);
    wr_tls_client_del(c);
  }
  wr_tls_client_config none = {0};
  wr_tls_client *c = NULL;
  CHECK_EQ(wr_tls_client_new(&c, &none, err, sizeof err), WR_ERR_INVAL);
  CHECK(c == NULL);
  CHECK(strstr(err, "no way to verify the server") != NULL);
}

int main(void) {
  wr_log_set_level(WR_LOG_ERROR);
  uv_loop_init(&loop);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/wr_tls_tcp_test.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(dir_a, sizeof dir_a, "%s/a", tmpdir);
  snprintf(crt_a, sizeof crt_a, "%s/%s", dir_a, WR_TLS_SELF_SIGNED_CERT);
  snprintf(key_a, sizeof key_a, "%s/%s", dir_a, WR_TLS_SELF_SIGNED_KEY);
  char err[WR_TLS_ERRLEN];
  wr_tls_client_config cc = {.ca_file = crt_a};
  if (wr_tls_self_signed_ensure(dir_a, NULL, 0, NULL, err, sizeof err) != 0 ||
      wr_tls_server_new(&stls, crt_a, key_a, err, sizeof err) != 0 ||
      wr_tls_client_new(&ctls, &cc, err, sizeof err) != 0) {
    fprintf(stderr, "credentials: %s\n", err);
    return 1;
  }
  RUN(test_alpn_sni_exporter);
  RUN(test_backpressure_and_close);
  RUN(test_peer_reset);
  RUN(test_alpn_mismatch);
  RUN(test_handshake_timeout);
  RUN(test_connection_limit);
  RUN(test_client_trust_modes);
  wr_tls_server_del(stls);
  wr_tls_client_del(ctls);
  uv_loop_close(&loop);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
  return test_done();
}
