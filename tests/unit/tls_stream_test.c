/* tls_stream_test.c: the TLS filter (net/tls_stream.h) stacked by hand on
 * io/tcp streams, over TCP and over a Unix socket: ALPN and SNI, bytes both
 * ways checked by a running hash, close_notify seen as on_eof, graceful close
 * with err 0 on both ends; a wrong server name refused with tls.h's sentence;
 * an end without close_notify accepted as EOF only when asked for. Over TCP
 * also: no SNI for an IP literal and equal exporters; a bounded write queue
 * (WR_ERR_AGAIN, then on_writable) against a paused reader; a graceful
 * close with a full queue that outlasts linger_ms for a slow reader; a reset
 * peer; an
 * ALPN mismatch; the handshake deadline; the client's trust modes. Every
 * test ends with no live handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "io/tcp.h"
#include "loop_testutil.h"
#include "net/tls.h"
#include "net/tls_stream.h"
#include "stream_testutil.h"
#include "test.h"
#include "tls_testutil.h"

static uv_loop_t loop;
static test_tls tls;         /* our certificate, and a client that trusts it */
static test_tls_files other; /* another certificate */
static char sock_path[64];
static wr_tls_client *ctls_b; /* trusts another certificate */

static int run_until(int (*cond)(void), uint64_t ms) { return test_run_until_fn(&loop, cond, ms); }

typedef test_end end;

static end cli, srv;
static wr_tcp_listener *lis;
static int lis_closed, over_unix, srv_plain, srv_fin_only, srv_silent, srv_pause;
static wr_stream *srv_lower;
/* Client settings for the next dial (0 / NULL: the defaults below). */
static size_t cli_qlimit;
static uint64_t cli_handshake_ms;
static const char *cli_alpn;
static unsigned cli_flags;
static const wr_stream_events *cli_events;
/* The listener's and the server filter's settings (0: the defaults). */
static size_t srv_qlimit;
static uint64_t srv_linger_ms;
static uint8_t exporter[2][32]; /* client's, server's */

static void on_connected(wr_stream *s) {
  end *e = s->user;
  e->connected = 1;
  if (e == &srv && srv_fin_only) {
    /* Behind the filter's back: a FIN without close_notify. */
    CHECK_EQ(wr_stream_shutdown(srv_lower), 0);
    return;
  }
  snprintf(e->alpn, sizeof e->alpn, "%s", wr_tls_stream_alpn(s));
  snprintf(e->sni, sizeof e->sni, "%s", wr_tls_stream_server_name(s));
  CHECK_EQ(wr_tls_stream_is_server(s), e == &srv);
  CHECK_EQ(wr_tls_stream_export(s, "EXPORTER-warren-test", NULL, 0, exporter[e == &srv], 32), 0);
  if (e == &srv && srv_pause)
    wr_stream_read_stop(s);
  test_end_pump(e);
}
static const wr_stream_events events = {on_connected, test_end_on_data, test_end_on_eof,
                                        test_end_on_writable, test_end_on_closed};

/* A plain server for the close_notify test: it answers nothing and ends
 * its side (FIN) once the client's ClientHello arrived. */
static void plain_on_data(wr_stream *s, const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  if (wr_stream_shutdown(s) != 0)
    CHECK(0);
}
static void plain_on_eof(wr_stream *s) { wr_stream_close(s); }
static const wr_stream_events plain_events = {NULL, plain_on_data, plain_on_eof, NULL,
                                              test_end_on_closed};

/* A plain server that never speaks: the client's handshake deadline ends it. */
static const wr_stream_events silent_events = {NULL, NULL, plain_on_eof, NULL, test_end_on_closed};

static void on_accept(wr_tcp_listener *l, wr_stream *lower, void *data) {
  (void)l;
  (void)data;
  if (srv_plain || srv_silent) {
    srv.s = lower;
    wr_stream_set_events(lower, srv_silent ? &silent_events : &plain_events, &srv);
    return;
  }
  srv_lower = lower;
  wr_tls_stream_config cfg = {
      .alpn = "b/2,a/1", .write_queue_limit = srv_qlimit, .linger_ms = srv_linger_ms};
  CHECK_EQ(wr_tls_stream_server(&srv.s, &loop, lower, tls.srv, &cfg, &events, &srv), 0);
}

static void on_lis_closed(wr_tcp_listener *l, void *data) {
  (void)l;
  (void)data;
  lis_closed = 1;
}

static void start(void) {
  memset(&cli, 0, sizeof cli);
  memset(&srv, 0, sizeof srv);
  cli.close_on_eof = srv.close_on_eof = 1;
  lis_closed = 0;
  if (over_unix) {
    unlink(sock_path);
    CHECK_EQ(wr_tcp_listen_unix(&lis, &loop, sock_path, NULL, on_accept, NULL), 0);
  } else {
    wr_addr a;
    CHECK_EQ(wr_addr_parse("127.0.0.1:0", &a, NULL, 0), 0);
    wr_tcp_config lc = {.write_queue_limit = srv_qlimit, .linger_ms = srv_linger_ms};
    CHECK_EQ(wr_tcp_listen(&lis, &loop, &a, &lc, on_accept, NULL), 0);
  }
}

/* Dials the listener and stacks the TLS client on the socket stream. */
static void dial_with(wr_tls_client *trust, const char *name, int eof_ok) {
  wr_stream *lower = NULL;
  /* The socket's queue limit is the filter's: the filter counts the
   * socket's queue in its own and hears on_writable from below half of it. */
  wr_tcp_config tc = {.write_queue_limit = cli_qlimit};
  if (over_unix) {
    CHECK_EQ(wr_tcp_connect_unix(&lower, &loop, sock_path, &tc, NULL, NULL), 0);
  } else {
    wr_addr a;
    CHECK_EQ(wr_tcp_listener_addr(lis, &a), 0);
    CHECK_EQ(wr_tcp_connect(&lower, &loop, &a, &tc, NULL, NULL), 0);
  }
  wr_tls_stream_config cfg = {.alpn = cli_alpn ? cli_alpn : "a/1,b/2",
                              .tls_flags = cli_flags,
                              .write_queue_limit = cli_qlimit,
                              .handshake_timeout_ms = cli_handshake_ms,
                              .eof_without_close_notify = eof_ok};
  CHECK_EQ(wr_tls_stream_client(&cli.s, &loop, lower, name, trust, &cfg,
                                cli_events ? cli_events : &events, &cli),
           0);
}

static void dial(const char *name, int eof_ok) { dial_with(tls.cli, name, eof_ok); }

static int both_closed(void) { return cli.closed && srv.closed; }
static int both_connected(void) { return cli.connected && srv.connected; }
static int srv_accepted(void) { return srv.s != NULL || srv.closed; }
static int all_gone(void) { return both_closed() && lis_closed; }

static void stop(void) {
  CHECK(run_until(srv_accepted, 5000));
  wr_tcp_listener_close(lis, on_lis_closed, NULL);
  CHECK(run_until(all_gone, 5000));
  if (over_unix)
    unlink(sock_path);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* Bytes both ways, each side shutting when done: close_notify arrives as
 * on_eof, and both ends close with err 0. */
static void exchange(void) {
  start();
  srv.total = 300000;
  cli.total = 1000000;
  srv.shut_when_sent = cli.shut_when_sent = 1;
  dial("localhost", 0);
  CHECK_STREQ(cli.s->ops->kind, "tls");
  stop();
  CHECK(cli.connected && srv.connected);
  CHECK_STREQ(cli.alpn, "b/2");
  CHECK_STREQ(srv.sni, "localhost");
  CHECK_EQ(srv.received, 1000000);
  CHECK_EQ(cli.received, 300000);
  CHECK(srv.rx_sum == cli.tx_sum && cli.rx_sum == srv.tx_sum);
  CHECK(cli.eof && srv.eof);
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
}

/* A server the client's CA file does not vouch for: refused with the
 * sentence of tls.h, and the server hears an alert. */
static void wrong_ca(void) {
  start();
  dial_with(ctls_b, "localhost", 0);
  stop();
  CHECK(!cli.connected);
  CHECK_EQ(cli.close_err, WR_ERR_DENIED);
  CHECK(strncmp(cli.reason, "server certificate refused: it does not verify against", 54) == 0);
  CHECK(srv.close_err != 0);
}

/* The peer ends its side without close_notify: during the handshake always
 * an error; after it an error unless eof_without_close_notify makes it EOF. */
static void end_without_close_notify(void) {
  srv_plain = 1;
  start();
  dial("localhost", 1);
  stop();
  srv_plain = 0;
  CHECK(!cli.connected);
  CHECK_EQ(cli.close_err, WR_ERR_CLOSED);
  CHECK(strstr(cli.reason, "closed the connection during the TLS handshake") != NULL);
  for (int eof_ok = 0; eof_ok < 2; eof_ok++) {
    srv_fin_only = 1;
    start();
    dial("localhost", eof_ok);
    stop();
    srv_fin_only = 0;
    CHECK(cli.connected);
    CHECK_EQ(cli.eof, eof_ok);
    CHECK_EQ(cli.close_err, eof_ok ? 0 : WR_ERR_CLOSED);
    if (!eof_ok)
      CHECK(strstr(cli.reason, "closed the connection without TLS close_notify") != NULL);
  }
}

/* An IP literal goes out as no SNI; the exporter is equal on both ends; the
 * peer shows as ADDR:PORT. */
static void ip_literal_and_exporter(void) {
  start();
  dial("127.0.0.1", 0);
  CHECK(run_until(both_connected, 5000));
  CHECK_STREQ(srv.sni, "");
  CHECK_MEMEQ(exporter[0], exporter[1], 32);
  CHECK(strncmp(wr_stream_peer_str(srv.s), "127.0.0.1:", 10) == 0);
  wr_stream_close(cli.s);
  stop();
  CHECK_EQ(cli.close_err, 0);
}

#define QLIMIT (64 * 1024)
#define TOTAL (16 * 1024 * 1024)

static int srv_stalled(void) { return cli.again > 0 && cli.sent > 0; }
static int cli_all_sent(void) { return cli.sent == TOTAL; }

/* The server reads nothing: the client's writes stop at the queue limit with
 * WR_ERR_AGAIN; once the server reads again on_writable resumes them, every
 * byte arrives intact, and a graceful close (close_notify) reaches the
 * server as on_eof after the last byte. */
static void backpressure(void) {
  start();
  srv_pause = 1;
  cli_qlimit = QLIMIT;
  cli.total = TOTAL;
  dial("localhost", 0);
  CHECK(run_until(srv_stalled, 5000));
  /* Let the kernel buffers fill: the queue must stay bounded meanwhile. */
  (void)test_run_until(&loop, NULL, NULL, 200);
  uint64_t stalled_at = cli.sent;
  CHECK_EQ(srv.received, 0);
  CHECK(stalled_at < TOTAL);
  CHECK(cli.max_queued <= QLIMIT + 256); /* a record's overhead at most */
  wr_stream_read_start(srv.s);
  CHECK(run_until(cli_all_sent, 10000));
  CHECK(cli.writable > 0);
  wr_stream_close(cli.s);
  stop();
  srv_pause = 0;
  cli_qlimit = 0;
  CHECK_EQ(srv.received, TOTAL);
  CHECK(srv.eof);
  CHECK(srv.rx_sum == cli.tx_sum);
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
}

/* A slow reader: at most SLOW_STEP bytes per SLOW_TICK_MS, then paused. */
#define SLOW_QLIMIT (4 * 1024 * 1024)
#define SLOW_STEP (256 * 1024)
#define SLOW_TICK_MS 20
static uv_timer_t slow_tick;

static const wr_stream_events slow_events = {on_connected, test_end_on_data_slow, test_end_on_eof,
                                             test_end_on_writable, test_end_on_closed};
static int srv_full(void) { return srv.again > 0; }

/* The server writes until its queue is full (4 MB and the kernel's buffers)
 * and closes, lingering 100 ms; the client reads 256 KiB per 20 ms, so the
 * last bytes take far longer than that to go: the close waits while they
 * keep going, every byte arrives, then close_notify, and both end with
 * err 0. */
static void slow_reader_close(void) {
  srv_qlimit = SLOW_QLIMIT;
  srv_linger_ms = 100;
  start();
  srv.total = UINT64_MAX;
  cli.read_allowance = cli.read_step = SLOW_STEP;
  cli_events = &slow_events;
  dial("localhost", 0);
  cli_events = NULL;
  CHECK(run_until(srv_full, 10000));
  uint64_t t0 = uv_now(&loop);
  wr_stream_close(srv.s);
  uv_timer_init(&loop, &slow_tick);
  slow_tick.data = &cli;
  uv_timer_start(&slow_tick, test_end_on_tick, SLOW_TICK_MS, SLOW_TICK_MS);
  CHECK(run_until(both_closed, 30000));
  uv_close((uv_handle_t *)&slow_tick, NULL);
  stop();
  srv_qlimit = 0;
  srv_linger_ms = 0;
  CHECK(uv_now(&loop) - t0 > 100); /* longer than linger_ms */
  CHECK_EQ(cli.received, srv.sent);
  CHECK(cli.rx_sum == srv.tx_sum);
  CHECK(cli.eof);
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
  printf("  %llu bytes queued at the close took %llu ms to arrive\n", (unsigned long long)srv.sent,
         (unsigned long long)(uv_now(&loop) - t0));
}

/* A peer that vanishes with a TCP RST is reported as closed, not hung. */
static void peer_reset(void) {
  start();
  dial("localhost", 0);
  CHECK(run_until(both_connected, 5000));
  wr_stream_reset(srv.s);
  stop();
  CHECK_EQ(cli.close_err, WR_ERR_CLOSED);
  CHECK(strstr(cli.reason, "127.0.0.1:") != NULL);
}

/* No common ALPN: refused with the alert, on both sides. */
static void alpn_mismatch(void) {
  start();
  cli_alpn = "other/1";
  dial("localhost", 0);
  cli_alpn = NULL;
  stop();
  CHECK(!cli.connected && !srv.connected);
  CHECK_EQ(cli.close_err, WR_ERR_DENIED);
  CHECK(strstr(cli.reason, "refused the TLS handshake: alert 120") != NULL);
  CHECK(srv.close_err != 0);
}

/* A TCP server that never speaks TLS: the handshake deadline ends it. */
static void handshake_timeout(void) {
  srv_silent = 1;
  start();
  cli_handshake_ms = 300;
  dial("localhost", 0);
  cli_handshake_ms = 0;
  stop();
  srv_silent = 0;
  CHECK_EQ(cli.close_err, WR_ERR_TIMEOUT);
  CHECK(strstr(cli.reason, "did not complete within 300 ms") != NULL);
}

/* Origin trust modes (tls.h): the system store alone refuses a self-signed
 * server naming the system's CAs; no_verify accepts it, also next to a
 * foreign CA file; a CA file plus the system store accepts it through the
 * file. And a client config with no way to verify is refused. */
static void trust_modes(void) {
  char err[WR_TLS_ERRLEN];
  struct {
    wr_tls_client_config cc;
    int ok;
  } cases[] = {
      {{.system_trust = 1}, 0},
      {{.no_verify = 1}, 1},
      {{.ca_file = other.crt, .no_verify = 1}, 1},
      {{.ca_file = tls.f.crt, .system_trust = 1}, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wr_tls_client *c = NULL;
    CHECK_EQ(wr_tls_client_new(&c, &cases[i].cc, err, sizeof err), 0);
    if (!c)
      continue;
    start();
    cli_flags = WR_TLS_STREAM_ALPN_OPTIONAL;
    dial_with(c, "localhost", 0);
    cli_flags = 0;
    if (cases[i].ok) {
      CHECK(run_until(both_connected, 5000));
      wr_stream_close(cli.s);
    }
    stop();
    CHECK_EQ(cli.connected, cases[i].ok);
    if (!cases[i].ok) {
      CHECK_EQ(cli.close_err, WR_ERR_DENIED);
      CHECK(strstr(cli.reason, "it does not verify against the system's CAs") != NULL);
    }
    wr_tls_client_del(c);
  }
  wr_tls_client_config none = {0};
  wr_tls_client *c = NULL;
  CHECK_EQ(wr_tls_client_new(&c, &none, err, sizeof err), WR_ERR_INVAL);
  CHECK(c == NULL);
  CHECK(strstr(err, "no way to verify the server") != NULL);
}

static void test_tls_over_tcp(void) {
  over_unix = 0;
  exchange();
  wrong_ca();
  end_without_close_notify();
}

static void test_tls_over_tcp_more(void) {
  over_unix = 0;
  ip_literal_and_exporter();
  backpressure();
  slow_reader_close();
  peer_reset();
  alpn_mismatch();
  handshake_timeout();
  trust_modes();
}

static void test_tls_over_unix_socket(void) {
  over_unix = 1;
  exchange();
  wrong_ca();
  end_without_close_notify();
}

int main(void) {
  wr_log_set_level(WR_LOG_ERROR);
  uv_loop_init(&loop);
  if (test_tls_init(&tls, "wr_tls_stream_test") != 0)
    return 1;
  snprintf(sock_path, sizeof sock_path, "/tmp/wr_tls_stream_test.%d.sock", (int)getpid());
  char err[WR_TLS_ERRLEN];
  wr_tls_client_config cc_b = {.ca_file = other.crt};
  if (test_tls_files_make(&other, "wr_tls_stream_test_b") != 0 ||
      wr_tls_client_new(&ctls_b, &cc_b, err, sizeof err) != 0) {
    fprintf(stderr, "credentials: %s\n", err);
    return 1;
  }
  RUN(test_tls_over_tcp);
  RUN(test_tls_over_tcp_more);
  RUN(test_tls_over_unix_socket);
  wr_tls_client_del(ctls_b);
  test_tls_files_remove(&other);
  test_tls_free(&tls);
  uv_loop_close(&loop);
  return test_done();
}
