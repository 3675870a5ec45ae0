/* tcp_test.c: io/tcp streams on loopback: bytes both ways through a bounded
 * write queue (WR_ERR_AGAIN, then on_writable) against a paused reader,
 * half-close and graceful close, a graceful close that outlasts linger_ms
 * for a slow reader, a refused connect's sentence, a reset peer, the
 * listener's connection cap, and a Unix socket. Every test ends with no live
 * handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "io/tcp.h"
#include "loop_testutil.h"
#include "stream_testutil.h"
#include "test.h"

#define QLIMIT (64 * 1024)
#define TOTAL (8 * 1024 * 1024)

static uv_loop_t loop;

static int run_until(int (*cond)(void), uint64_t ms) { return test_run_until_fn(&loop, cond, ms); }

typedef test_end end;

static end cli, srv, extra;
static wr_tcp_listener *lis;
static int lis_closed;

static void on_connected(wr_stream *s) {
  end *e = s->user;
  e->connected = 1;
  test_end_pump(e);
}
static const wr_stream_events events = {on_connected, test_end_on_data, test_end_on_eof,
                                        test_end_on_writable, test_end_on_closed};

static end *next_accept;
static void on_accept(wr_tcp_listener *l, wr_stream *s, void *data) {
  (void)l;
  (void)data;
  end *e = next_accept;
  next_accept = &extra; /* later connections, if any */
  e->s = s;
  e->connected = 1;
  wr_stream_set_events(s, &events, e);
  test_end_pump(e);
}

static void on_lis_closed(wr_tcp_listener *l, void *data) {
  (void)l;
  (void)data;
  lis_closed = 1;
}

static void reset_all(void) {
  memset(&cli, 0, sizeof cli);
  memset(&srv, 0, sizeof srv);
  memset(&extra, 0, sizeof extra);
  next_accept = &srv;
  lis = NULL;
  lis_closed = 0;
}

static uint16_t start_listener(const wr_tcp_config *cfg) {
  wr_addr a;
  CHECK_EQ(wr_addr_parse("127.0.0.1:0", &a, NULL, 0), 0);
  CHECK_EQ(wr_tcp_listen(&lis, &loop, &a, cfg, on_accept, NULL), 0);
  wr_addr b;
  CHECK_EQ(wr_tcp_listener_addr(lis, &b), 0);
  return wr_addr_port(&b);
}

static void dial(end *e, uint16_t port, const wr_tcp_config *cfg) {
  wr_addr a;
  CHECK_EQ(wr_addr_parse("127.0.0.1:0", &a, NULL, 0), 0);
  wr_addr_set_port(&a, port);
  CHECK_EQ(wr_tcp_connect(&e->s, &loop, &a, cfg, &events, e), 0);
}

static void stop_listener(void) {
  if (lis)
    wr_tcp_listener_close(lis, on_lis_closed, NULL);
  else
    lis_closed = 1;
}

static int both_closed(void) { return cli.closed && srv.closed && lis_closed; }
static int srv_got_all(void) { return srv.received == TOTAL && srv.eof; }
static int cli_stalled(void) { return cli.again > 0; }

/* 8 MB to a reader that pauses first: the writer is held at the queue
 * limit, then everything arrives in order; FIN, then both close with err 0. */
static void test_bytes_through_a_bounded_queue(void) {
  reset_all();
  wr_tcp_config cfg = {.write_queue_limit = QLIMIT};
  uint16_t port = start_listener(&cfg);
  srv.close_on_eof = 1;
  cli.total = TOTAL;
  cli.shut_when_sent = 1;
  cli.close_on_eof = 1;
  dial(&cli, port, &cfg);
  /* Hold the reader back until the writer is told to wait. */
  CHECK(run_until(cli_stalled, 5000) || cli.sent == TOTAL);
  if (srv.s)
    wr_stream_read_stop(srv.s);
  uint64_t held_at = cli.sent;
  run_until(NULL, 100);
  CHECK(cli.sent - held_at <= QLIMIT * 2);
  if (srv.s)
    wr_stream_read_start(srv.s);
  CHECK(run_until(srv_got_all, 10000));
  CHECK_EQ(srv.received, TOTAL);
  CHECK(srv.rx_sum == cli.tx_sum);
  CHECK(cli.again > 0);
  CHECK(cli.writable > 0);
  CHECK(cli.max_queued <= QLIMIT + 16 * 1024);
  stop_listener();
  CHECK(run_until(both_closed, 5000));
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* A corked writer that fills the queue limit is told AGAIN; once uncorked
 * the kernel may take everything at once, and the writer must still hear
 * on_writable (the connector's proxy corks origin writes for a loop turn,
 * and a lost on_writable stalled every upload larger than the limit). */
static int srv_accepted(void) { return srv.connected; }
static int srv_got_corked(void) { return srv.received == QLIMIT * 2; }
static int cli_writable(void) { return cli.writable > 0; }

static void test_corked_writer_hears_writable(void) {
  reset_all();
  wr_tcp_config cfg = {.write_queue_limit = QLIMIT};
  uint16_t port = start_listener(&cfg);
  dial(&cli, port, &cfg);
  CHECK(run_until(srv_accepted, 5000));
  static uint8_t buf[QLIMIT * 2];
  memset(buf, 7, sizeof buf);
  wr_stream_cork(cli.s);
  ssize_t w = wr_stream_write(cli.s, buf, sizeof buf);
  CHECK_EQ(w, QLIMIT);
  CHECK_EQ(wr_stream_write(cli.s, buf, sizeof buf), WR_ERR_AGAIN);
  wr_stream_uncork(cli.s);
  CHECK(run_until(cli_writable, 5000));
  CHECK_EQ(wr_stream_write(cli.s, buf + QLIMIT, QLIMIT), QLIMIT);
  CHECK(run_until(srv_got_corked, 5000));
  wr_stream_close(cli.s);
  wr_stream_close(srv.s);
  stop_listener();
  CHECK(run_until(both_closed, 5000));
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* A slow reader: at most SLOW_STEP bytes per SLOW_TICK_MS, then paused. */
#define SLOW_TOTAL (24 * 1024 * 1024)
#define SLOW_STEP (1024 * 1024)
#define SLOW_TICK_MS 20
static uv_timer_t slow_tick;

static const wr_stream_events slow_events = {on_connected, test_end_on_data_slow, test_end_on_eof,
                                             NULL, test_end_on_closed};

static int srv_sent_all(void) { return srv.sent == SLOW_TOTAL; }

/* The server queues 24 MB and closes at once with a 100 ms linger; the
 * client takes a second or so to read it: the close waits while bytes go
 * out, so every byte arrives, then FIN, and both end with err 0. */
static void test_graceful_close_outlasts_linger(void) {
  reset_all();
  wr_tcp_config cfg = {.write_queue_limit = 2 * SLOW_TOTAL, .linger_ms = 100};
  uint16_t port = start_listener(&cfg);
  srv.total = SLOW_TOTAL;
  cli.close_on_eof = 1;
  cli.read_allowance = cli.read_step = SLOW_STEP;
  wr_addr a;
  CHECK_EQ(wr_addr_parse("127.0.0.1:0", &a, NULL, 0), 0);
  wr_addr_set_port(&a, port);
  CHECK_EQ(wr_tcp_connect(&cli.s, &loop, &a, NULL, &slow_events, &cli), 0);
  CHECK(run_until(srv_sent_all, 5000));
  CHECK(wr_stream_queued(srv.s) > 0); /* the kernel cannot hold it all */
  uint64_t t0 = uv_now(&loop);
  wr_stream_close(srv.s);
  uv_timer_init(&loop, &slow_tick);
  slow_tick.data = &cli;
  uv_timer_start(&slow_tick, test_end_on_tick, SLOW_TICK_MS, SLOW_TICK_MS);
  stop_listener();
  CHECK(run_until(both_closed, 20000));
  uv_close((uv_handle_t *)&slow_tick, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_now(&loop) - t0 > 100); /* longer than linger_ms */
  CHECK_EQ(cli.received, SLOW_TOTAL);
  CHECK(cli.rx_sum == srv.tx_sum);
  CHECK(cli.eof);
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* Nothing listens: the dial ends with WR_ERR_IO and the sentence names the
 * address. */
static void test_connect_refused(void) {
  reset_all();
  uint16_t port = start_listener(NULL);
  stop_listener();
  run_until(NULL, 50); /* the listener is gone */
  dial(&cli, port, NULL);
  srv.closed = 1;
  CHECK(run_until(both_closed, 5000));
  CHECK(!cli.connected);
  CHECK_EQ(cli.close_err, WR_ERR_REFUSED);
  char want[64];
  snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%u: ", port);
  CHECK(strncmp(cli.reason, want, strlen(want)) == 0);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

static int srv_up(void) { return srv.s != NULL && cli.connected; }
static int cli_closed(void) { return cli.closed; }

/* A reset from the peer: WR_ERR_CLOSED with the reader's sentence. */
static void test_peer_reset(void) {
  reset_all();
  uint16_t port = start_listener(NULL);
  dial(&cli, port, NULL);
  CHECK(run_until(srv_up, 5000));
  wr_stream_reset(srv.s);
  CHECK(run_until(cli_closed, 5000));
  CHECK_EQ(cli.close_err, WR_ERR_CLOSED);
  CHECK(strstr(cli.reason, "reading from 127.0.0.1:") == cli.reason);
  stop_listener();
  CHECK(run_until(both_closed, 5000));
  CHECK_EQ(srv.close_err, 0);
  CHECK_STREQ(srv.reason, "reset");
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

static end cli2;
static int second_refused(void) { return cli2.closed || cli2.eof; }
static int all_gone(void) { return both_closed() && cli2.closed; }

/* With max_connections 1 the second connection is closed at once and
 * counted; the first one works on. */
static void test_listener_cap(void) {
  reset_all();
  memset(&cli2, 0, sizeof cli2);
  wr_tcp_config cfg = {.max_connections = 1};
  uint16_t port = start_listener(&cfg);
  dial(&cli, port, NULL);
  CHECK(run_until(srv_up, 5000));
  cli2.close_on_eof = 1;
  dial(&cli2, port, NULL);
  CHECK(run_until(second_refused, 5000));
  wr_tcp_listener_stats st;
  wr_tcp_listener_stats_get(lis, &st);
  CHECK_EQ(st.accepted, 1);
  CHECK_EQ(st.refused_limit, 1);
  CHECK_EQ(st.open, 1);
  CHECK(!extra.s);
  if (cli2.s && !cli2.closed)
    wr_stream_close(cli2.s);
  srv.close_on_eof = 1;
  cli.close_on_eof = 1;
  CHECK_EQ(wr_stream_shutdown(cli.s), 0);
  stop_listener();
  CHECK(run_until(all_gone, 5000));
  CHECK_EQ(uv_loop_alive(&loop), 0);
}


/* The same stream over a Unix socket, both ways. */
static void test_unix_socket(void) {
  reset_all();
  char path[64];
  snprintf(path, sizeof path, "/tmp/wr_tcp_test.%d.sock", (int)getpid());
  unlink(path);
  CHECK_EQ(wr_tcp_listen_unix(&lis, &loop, path, NULL, on_accept, NULL), 0);
  srv.total = 100000;
  srv.shut_when_sent = 1;
  srv.close_on_eof = 1;
  cli.total = 200000;
  cli.shut_when_sent = 1;
  cli.close_on_eof = 1;
  CHECK_EQ(wr_tcp_connect_unix(&cli.s, &loop, path, NULL, &events, &cli), 0);
  CHECK(strncmp(wr_stream_peer_str(cli.s), "unix:", 5) == 0);
  CHECK_STREQ(cli.s->ops->kind, "unix");
  CHECK(run_until(srv_accepted, 5000));
  stop_listener();
  CHECK(run_until(both_closed, 5000));
  CHECK_EQ(srv.received, 200000);
  CHECK_EQ(cli.received, 100000);
  CHECK(srv.rx_sum == cli.tx_sum && cli.rx_sum == srv.tx_sum);
  CHECK_EQ(cli.close_err, 0);
  CHECK_EQ(srv.close_err, 0);
  unlink(path);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

int main(void) {
  wr_log_set_level(WR_LOG_ERROR);
  uv_loop_init(&loop);
  RUN(test_bytes_through_a_bounded_queue);
  RUN(test_corked_writer_hears_writable);
  RUN(test_graceful_close_outlasts_linger);
  RUN(test_connect_refused);
  RUN(test_peer_reset);
  RUN(test_listener_cap);
  RUN(test_unix_socket);
  uv_loop_close(&loop);
  return test_done();
}
