/* proxy_test.c: the connector's proxy (tunnel/proxy.h) driven through a real
 * loopback HTTP/2 tunnel connection (net/mux_h2) against a real origin
 * socket the test serves (io/tcp on 127.0.0.1): a GET, a POST with a body,
 * an origin that refuses connections (STREAM_ERROR: the edge's 502), an
 * origin that closes mid-body (the stream is reset after the bytes it got),
 * keep-alive reuse of a pooled origin connection, a WebSocket upgrade (raw
 * bytes both ways after the 101), a built-in status, and every allocation
 * failing in turn during a request; GET, POST and keep-alive also over a
 * Unix socket, TLS over TCP and TLS over a Unix socket. The test plays the
 * edge: it opens streams, writes REQUEST messages (proto/tunnel) and reads
 * what comes back. Every test ends with no live handles. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/tcp.h"
#include "loop_testutil.h"
#include "net/mux_h2.h"
#include "net/tls.h"
#include "net/tls_stream.h"
#include "proto/tunnel/tunnel.h"
#include "test.h"
#include "tls_testutil.h"
#include "tunnel/ingress.h"
#include "tunnel/proxy.h"

static uv_loop_t loop;

static int run_until(int (*cond)(void), uint64_t ms) { return test_run_until_fn(&loop, cond, ms); }

/* ---- the origin: answers what the test asks of it ---- */

enum { ORIGIN_ECHO, ORIGIN_CUT, ORIGIN_WEBSOCKET };
/* How the proxy reaches the origin: the service's scheme. */
enum { VIA_TCP, VIA_UNIX, VIA_TLS, VIA_UNIX_TLS };
static int via = VIA_TCP;
static test_tls tls;
static char origin_sock[64];

typedef struct origin {
  wr_tcp_listener *l;
  uint16_t port;
  int mode, accepted, requests, closed_conns, lis_closed;
  int raw; /* after a 101: bytes come back uppercased */
  /* Bytes of the request being read (not wr_buf: the allocation test
   * fails the proxy's allocations, not the origin's). */
  uint8_t in[65536];
  size_t inlen;
  char last_head[2048];
} origin;

static origin org;

/* Length of the first complete request in b (head and a Content-Length
 * body), or 0 when more is needed. */
static size_t request_len(const origin *o) {
  const char *p = (const char *)o->in;
  const char *end = memmem(p, o->inlen, "\r\n\r\n", 4);
  if (!end)
    return 0;
  size_t head = (size_t)(end - p) + 4, body = 0;
  const char *cl = memmem(p, head, "Content-Length: ", 16);
  if (cl)
    body = (size_t)strtoul(cl + 16, NULL, 10);
  return o->inlen >= head + body ? head + body : 0;
}

static void origin_on_data(wr_stream *s, const uint8_t *data, size_t len) {
  if (org.raw) {
    char up[256];
    size_t n = len < sizeof up ? len : sizeof up;
    for (size_t i = 0; i < n; i++)
      up[i] = (char)(data[i] >= 'a' && data[i] <= 'z' ? data[i] - 32 : data[i]);
    CHECK_EQ(wr_stream_write(s, up, n), (ssize_t)n);
    return;
  }
  CHECK(org.inlen + len <= sizeof org.in);
  if (org.inlen + len > sizeof org.in)
    return;
  memcpy(org.in + org.inlen, data, len);
  org.inlen += len;
  size_t n;
  while ((n = request_len(&org)) > 0) {
    org.requests++;
    const char *p = (const char *)org.in;
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    size_t head = (size_t)(end - p) + 4;
    snprintf(org.last_head, sizeof org.last_head, "%.*s", (int)head, p);
    char body[256], resp[512];
    int blen = snprintf(body, sizeof body, "%.*s body=%zu req=%d", (int)(strchr(p, ' ') - p), p,
                        n - head, org.requests);
    if (org.mode == ORIGIN_WEBSOCKET) {
      const char *sw = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n\r\n";
      CHECK_EQ(wr_stream_write(s, sw, strlen(sw)), (ssize_t)strlen(sw));
      org.raw = 1;
      size_t rest = org.inlen - n;
      org.inlen = 0;
      if (rest) /* raw bytes right behind the head */
        origin_on_data(s, org.in + n, rest);
      return;
    }
    if (org.mode == ORIGIN_CUT) {
      /* Promises 100 bytes, sends 10, ends its side. */
      int rl =
          snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      CHECK_EQ(wr_stream_write(s, resp, (size_t)rl), rl);
      CHECK_EQ(wr_stream_shutdown(s), 0);
    } else {
      int rl =
          snprintf(resp, sizeof resp,
                   "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Origin: test\r\n\r\n%s", blen, body);
      CHECK_EQ(wr_stream_write(s, resp, (size_t)rl), rl);
    }
    memmove(org.in, org.in + n, org.inlen - n);
    org.inlen -= n;
  }
}
static void origin_on_eof(wr_stream *s) { wr_stream_close(s); }
static void origin_on_closed(wr_stream *s, int err, const char *reason) {
  (void)s;
  (void)err;
  (void)reason;
  org.closed_conns++;
}
static const wr_stream_events origin_events = {NULL, origin_on_data, origin_on_eof, NULL,
                                               origin_on_closed};

static void origin_accept(wr_tcp_listener *l, wr_stream *s, void *data) {
  (void)l;
  (void)data;
  org.accepted++;
  org.inlen = 0;
  if (via == VIA_TLS || via == VIA_UNIX_TLS) {
    wr_tls_stream_config cfg = {.alpn = "http/1.1", .tls_flags = WR_TLS_STREAM_ALPN_OPTIONAL};
    wr_stream *t = NULL;
    CHECK_EQ(wr_tls_stream_server(&t, &loop, s, tls.srv, &cfg, &origin_events, &org), 0);
    return;
  }
  wr_stream_set_events(s, &origin_events, &org);
}

static void origin_start(int mode) {
  memset(&org, 0, sizeof org);
  org.mode = mode;
  if (via == VIA_UNIX || via == VIA_UNIX_TLS) {
    unlink(origin_sock);
    CHECK_EQ(wr_tcp_listen_unix(&org.l, &loop, origin_sock, NULL, origin_accept, NULL), 0);
    return;
  }
  wr_addr a, b;
  CHECK_EQ(wr_addr_parse("127.0.0.1:0", &a, NULL, 0), 0);
  CHECK_EQ(wr_tcp_listen(&org.l, &loop, &a, NULL, origin_accept, NULL), 0);
  CHECK_EQ(wr_tcp_listener_addr(org.l, &b), 0);
  org.port = wr_addr_port(&b);
}

static void on_origin_lis_closed(wr_tcp_listener *l, void *data) {
  (void)l;
  (void)data;
  org.lis_closed = 1;
}

/* ---- the connector: the proxy behind the tunnel connection ---- */

static wr_proxy_ctx pctx;
/* Allocations fail on purpose: a failed set-up only ends the run. */
static int tolerant;
static wr_ingress ing;
static wr_mux_conn *conn_c;
static int conn_closed;

typedef struct cstream {
  wr_tunnel_decoder dec;
  wr_proxy *p;
  int dead; /* the proxy could not take the stream */
} cstream;

static void c_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  cstream *cs = calloc(1, sizeof *cs);
  if (!cs || wr_tunnel_decoder_init(&cs->dec, NULL) != 0) {
    CHECK(tolerant);
    free(cs);
    (void)c->ops->stream_abort(s, 1);
    return;
  }
  c->ops->stream_set_user(s, cs);
}

/* As the connector does: the first message is the REQUEST, then the proxy
 * takes the stream over. */
static void c_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                          int fin) {
  cstream *cs = c->ops->stream_user(s);
  if (!cs || cs->dead)
    return;
  if (cs->p) {
    wr_proxy_on_data(cs->p, data, len, fin);
    return;
  }
  size_t used = 0;
  wr_tunnel_msg m;
  int rv = wr_tunnel_decode(&cs->dec, data, len, &used, &m);
  CHECK(rv >= 0 || tolerant);
  if (rv < 0) {
    cs->dead = 1;
    (void)c->ops->stream_abort(s, 1);
    return;
  }
  if (rv == 0) {
    c->ops->stream_consume(s, used);
    return;
  }
  CHECK_EQ(m.type, WR_TUNNEL_REQUEST);
  if (wr_proxy_start(&pctx, c, s, &m.u.request, used, &cs->p) != 0) {
    CHECK(tolerant); /* the proxy aborted the stream */
    cs->p = NULL;
    cs->dead = 1;
    return;
  }
  wr_proxy_on_data(cs->p, data + used, len - used, fin);
}

static void c_stream_writable(wr_mux_conn *c, wr_mux_stream *s) {
  cstream *cs = c->ops->stream_user(s);
  if (cs && cs->p)
    wr_proxy_on_writable(cs->p);
}
static void c_stream_reset(wr_mux_conn *c, wr_mux_stream *s, uint64_t code) {
  cstream *cs = c->ops->stream_user(s);
  if (cs && cs->p)
    wr_proxy_on_reset(cs->p, code);
}
static void c_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  cstream *cs = c->ops->stream_user(s);
  if (!cs)
    return;
  if (cs->p)
    wr_proxy_on_close(cs->p);
  wr_tunnel_decoder_free(&cs->dec);
  free(cs);
}
static void c_closed(wr_mux_conn *c, int err, const char *reason) {
  (void)c;
  (void)err;
  (void)reason;
  conn_closed = 1;
}
static const wr_mux_events conn_events = {
    .on_closed = c_closed,
    .on_stream_open = c_stream_open,
    .on_stream_data = c_stream_data,
    .on_stream_writable = c_stream_writable,
    .on_stream_reset = c_stream_reset,
    .on_stream_close = c_stream_close,
};

/* ---- the edge: opens streams, reads answers ---- */

typedef struct estream {
  wr_tunnel_decoder dec;
  int answered, fin, closed, reset;
  uint64_t type, status, err_code, reset_code;
  char body[4096];
  size_t blen;
} estream;

static wr_mux_h2_listener *h2l;
static wr_mux_conn *edge_c;
static int h2l_closed;

static void e_connected(wr_mux_conn *c) { edge_c = c; }
static void e_stream_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                          int fin) {
  estream *es = c->ops->stream_user(s);
  size_t all = len;
  if (!es->answered) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&es->dec, data, len, &used, &m);
    CHECK(rv >= 0 || tolerant);
    if (rv == 1) {
      es->answered = 1;
      es->type = m.type;
      if (m.type == WR_TUNNEL_RESPONSE)
        es->status = m.u.response.status;
      else if (m.type == WR_TUNNEL_STREAM_ERROR)
        es->err_code = m.u.error.code;
    }
    data += used;
    len -= used;
  }
  if (len && es->blen + len <= sizeof es->body) {
    memcpy(es->body + es->blen, data, len);
    es->blen += len;
  }
  if (fin)
    es->fin = 1;
  c->ops->stream_consume(s, all);
}
static void e_stream_reset(wr_mux_conn *c, wr_mux_stream *s, uint64_t code) {
  estream *es = c->ops->stream_user(s);
  es->reset = 1;
  es->reset_code = code;
}
static void e_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  estream *es = c->ops->stream_user(s);
  es->closed = 1;
}
static const wr_mux_events edge_events = {
    .on_connected = e_connected,
    .on_stream_data = e_stream_data,
    .on_stream_reset = e_stream_reset,
    .on_stream_close = e_stream_close,
};

static estream *cur;
static int cur_closed(void) { return cur->closed; }

static uint64_t next_kind = WR_TUNNEL_KIND_HTTP;

/* Sends one request on a new stream and runs until the stream is closed. */
static long fail_from = -1; /* >= 0: wr_mem_fail_after(fail_from) once the request is built */

static void request(estream *es, const char *dest, const char *method, const char *body) {
  memset(es, 0, sizeof *es);
  CHECK_EQ(wr_tunnel_decoder_init(&es->dec, NULL), 0);
  char clen[24];
  snprintf(clen, sizeof clen, "%zu", body ? strlen(body) : 0);
  wr_h1_header hs[2] = {{{"Accept", 6}, {"*/*", 3}},
                        {{"Content-Length", 14}, {clen, strlen(clen)}}};
  wr_tunnel_msg m = {.type = WR_TUNNEL_REQUEST};
  m.u.request.kind = next_kind;
  m.u.request.flags = body && next_kind == WR_TUNNEL_KIND_HTTP ? WR_TUNNEL_F_BODY : 0;
  m.u.request.dest = (wr_h1_slice){dest, strlen(dest)};
  m.u.request.method = (wr_h1_slice){method, strlen(method)};
  m.u.request.path = (wr_h1_slice){"/x", 2};
  m.u.request.headers = hs;
  m.u.request.nheaders = body && next_kind == WR_TUNNEL_KIND_HTTP ? 2 : 1;
  wr_buf b;
  wr_buf_init(&b, 65536);
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  if (body)
    CHECK_EQ(wr_buf_append(&b, body, strlen(body)), 0);
  cur = es;
  if (fail_from >= 0)
    wr_mem_fail_after(fail_from);
  const wr_mux_ops *ops = edge_c->ops;
  wr_mux_stream *s = NULL;
  int orc = ops->stream_open(edge_c, es, &s);
  CHECK(orc == 0 || tolerant);
  if (orc == 0) {
    ssize_t w = ops->stream_write(s, b.data, b.len);
    CHECK(w == (ssize_t)b.len || tolerant);
    if (w == (ssize_t)b.len)
      CHECK(ops->stream_end(s) == 0 || tolerant);
    else
      (void)ops->stream_abort(s, 1);
    CHECK(run_until(cur_closed, 5000) || (tolerant && conn_closed));
  } else {
    es->closed = 1;
  }
  wr_mem_fail_after(-1);
  wr_buf_free(&b);
  wr_tunnel_decoder_free(&es->dec);
}

/* ---- set-up and tear-down ---- */

static uint16_t refused_port;

static int tunnel_up(void) { return edge_c != NULL; }

static void start(int mode) {
  origin_start(mode);
  edge_c = conn_c = NULL;
  conn_closed = h2l_closed = 0;
  char svc[400], refused[64], err[256];
  static const char *const schemes[] = {
      "http://127.0.0.1:", "unix:", "https://127.0.0.1:", "unix+tls:"};
  if (via == VIA_UNIX || via == VIA_UNIX_TLS)
    snprintf(svc, sizeof svc, "%s%s", schemes[via], origin_sock);
  else
    snprintf(svc, sizeof svc, "%s%u", schemes[via], org.port);
  /* TLS origins: our certificate is the trust anchor (caPool). */
  wr_origin_request orq;
  wr_origin_request_defaults(&orq);
  orq.set = WR_OR_CA_POOL;
  orq.ca_pool = tls.f.crt;
  snprintf(refused, sizeof refused, "http://127.0.0.1:%u", refused_port);
  wr_ingress_init(&ing);
  CHECK_EQ(wr_ingress_add(&ing, "app.test", NULL, svc, &orq, err, sizeof err), 0);
  CHECK_EQ(wr_ingress_add(&ing, "refused.test", NULL, refused, NULL, err, sizeof err), 0);
  CHECK_EQ(wr_ingress_add(&ing, NULL, NULL, "http_status:404", NULL, err, sizeof err), 0);
  wr_proxy_ctx_init(&pctx, &loop, &ing, NULL);
  wr_mux_h2_config cfg = {.handshake_timeout_ms = 3000};
  struct sockaddr_storage b = test_addr("127.0.0.1", 0), ss;
  CHECK_EQ(wr_mux_h2_listen(&h2l, &loop, (struct sockaddr *)&b, tls.srv, &cfg, &edge_events, NULL),
           0);
  CHECK_EQ(wr_mux_h2_listener_addr(h2l, &ss), 0);
  CHECK_EQ(wr_mux_h2_connect(&conn_c, &loop, (struct sockaddr *)&ss, "localhost", tls.cli, &cfg,
                             &conn_events, NULL),
           0);
  CHECK(run_until(tunnel_up, 5000));
}

static void on_h2l_closed(wr_mux_h2_listener *l, void *data) {
  (void)l;
  (void)data;
  h2l_closed = 1;
}
static int all_gone(void) { return conn_closed && h2l_closed && org.lis_closed; }

static void stop(void) {
  wr_proxy_ctx_close(&pctx);
  conn_c->ops->close(conn_c, 0, "test over");
  wr_mux_h2_listener_close(h2l, on_h2l_closed, NULL);
  wr_tcp_listener_close(org.l, on_origin_lis_closed, NULL);
  CHECK(run_until(all_gone, 5000));
  run_until(NULL, 50);
  wr_ingress_free(&ing);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

/* ---- the scenarios ---- */

static void test_get(void) {
  start(ORIGIN_ECHO);
  estream es;
  request(&es, "app.test", "GET", NULL);
  CHECK_EQ(es.type, WR_TUNNEL_RESPONSE);
  CHECK_EQ(es.status, 200);
  CHECK(es.fin && !es.reset);
  CHECK_EQ(es.blen, strlen("GET body=0 req=1"));
  CHECK(es.blen < sizeof es.body && memcmp(es.body, "GET body=0 req=1", es.blen) == 0);
  CHECK(strncmp(org.last_head, "GET /x HTTP/1.1\r\nHost: app.test\r\n", 33) == 0);
  CHECK(strstr(org.last_head, "\r\nAccept: */*\r\n") != NULL);
  stop();
}

static void test_post_with_body(void) {
  start(ORIGIN_ECHO);
  estream es;
  request(&es, "app.test", "POST", "hello, origin");
  CHECK_EQ(es.status, 200);
  es.body[es.blen < sizeof es.body ? es.blen : sizeof es.body - 1] = '\0';
  CHECK_STREQ(es.body, "POST body=13 req=1");
  CHECK(strstr(org.last_head, "\r\nContent-Length: 13\r\n") != NULL);
  stop();
}

/* Nothing listens on the origin's port: STREAM_ERROR with the code the edge
 * turns into 502. */
static void test_origin_refuses(void) {
  start(ORIGIN_ECHO);
  estream es;
  request(&es, "refused.test", "GET", NULL);
  CHECK_EQ(es.type, WR_TUNNEL_STREAM_ERROR);
  CHECK_EQ(es.err_code, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE);
  CHECK_EQ(org.accepted, 0);
  stop();
}

/* The origin ends after 10 of 100 promised bytes: the head and the 10 bytes
 * went out, then the stream is reset (the edge must not see a clean end). */
static void test_origin_closes_mid_body(void) {
  start(ORIGIN_CUT);
  estream es;
  request(&es, "app.test", "GET", NULL);
  CHECK_EQ(es.type, WR_TUNNEL_RESPONSE);
  CHECK_EQ(es.status, 200);
  CHECK_EQ(es.blen, 10);
  CHECK(es.reset);
  CHECK_EQ(es.reset_code, WR_TUNNEL_RESET_ORIGIN_FAILED);
  stop();
}

/* Two requests one after the other: the second reuses the pooled origin
 * connection. */
static void test_keepalive_reuse(void) {
  start(ORIGIN_ECHO);
  estream a, b;
  request(&a, "app.test", "GET", NULL);
  request(&b, "app.test", "POST", "xy");
  CHECK_EQ(a.status, 200);
  CHECK_EQ(b.status, 200);
  b.body[b.blen < sizeof b.body ? b.blen : sizeof b.body - 1] = '\0';
  CHECK_STREQ(b.body, "POST body=2 req=2");
  CHECK_EQ(org.accepted, 1);
  CHECK_EQ(org.requests, 2);
  stop();
  CHECK_EQ(org.closed_conns, 1); /* the pool closed it with the context */
}

/* The same exchanges over every other kind of origin connection: a Unix
 * socket, TLS over TCP (https://) and TLS over a Unix socket (unix+tls:),
 * each one io/stream chosen at dial. */
static void test_every_origin_transport(void) {
  static const char *const names[] = {"tcp", "unix", "tls", "unix+tls"};
  for (via = VIA_UNIX; via <= VIA_UNIX_TLS; via++) {
    int failed_before = test_cur_failed;
    test_cur_failed = 0;
    test_get();
    test_post_with_body();
    test_keepalive_reuse();
    if (test_cur_failed)
      fprintf(stderr, "  (origin over %s)\n", names[via]);
    test_cur_failed |= failed_before;
  }
  via = VIA_TCP;
}

/* A WebSocket: the origin's 101 goes back as the RESPONSE, then bytes flow
 * raw both ways; the edge's FIN shuts the origin's side, the origin's end
 * ends the stream. */
static void test_websocket_upgrade(void) {
  start(ORIGIN_WEBSOCKET);
  estream es;
  next_kind = WR_TUNNEL_KIND_WEBSOCKET;
  request(&es, "app.test", "GET", "hello raw");
  next_kind = WR_TUNNEL_KIND_HTTP;
  CHECK_EQ(es.type, WR_TUNNEL_RESPONSE);
  CHECK_EQ(es.status, 101);
  CHECK(es.fin && !es.reset);
  es.body[es.blen < sizeof es.body ? es.blen : sizeof es.body - 1] = '\0';
  CHECK_STREQ(es.body, "HELLO RAW");
  CHECK(strstr(org.last_head, "\r\nUpgrade: websocket\r\n") != NULL);
  CHECK(strstr(org.last_head, "\r\nConnection: Upgrade\r\n") != NULL);
  stop();
}

/* Every allocation fails in turn (the Nth, for N = 0, 1, ...) once the
 * tunnel is up: each request still ends (a stream closed or the connection
 * gone), nothing leaks (ASan) and no handle stays alive; late enough, the
 * request works. */
static void test_allocation_failures(void) {
  int completed = 0, failed = 0, n;
  for (n = 0; n < 300 && completed < 3; n++) {
    start(ORIGIN_ECHO);
    estream es;
    tolerant = 1;
    fail_from = n;
    request(&es, "app.test", "POST", "some body");
    fail_from = -1;
    tolerant = 0;
    if (es.type == WR_TUNNEL_RESPONSE && es.status == 200 && es.fin && es.blen == 17 &&
        memcmp(es.body, "POST body=9 req=1", 17) == 0)
      completed++;
    else
      failed++;
    stop();
  }
  printf("  allocation failures: %d runs failed cleanly, then %d completed (from the %dth "
         "allocation on)\n",
         failed, completed, n - completed);
  CHECK_EQ(completed, 3);
}

/* A built-in service answers without an origin. */
static void test_builtin_status(void) {
  start(ORIGIN_ECHO);
  estream es;
  request(&es, "other.test", "GET", NULL);
  CHECK_EQ(es.type, WR_TUNNEL_RESPONSE);
  CHECK_EQ(es.status, 404);
  CHECK(es.fin);
  CHECK_EQ(org.accepted, 0);
  stop();
}

static void noop_closed(wr_tcp_listener *l, void *data) {
  (void)l;
  *(int *)data = 1;
}

int main(void) {
  wr_log_set_level(WR_LOG_ERROR + 1);
  signal(SIGPIPE, SIG_IGN); /* as the programs do: a peer gone is an error, not a signal */
  uv_loop_init(&loop);
  if (test_tls_init(&tls, "wr_proxy_test") != 0)
    return 1;
  snprintf(origin_sock, sizeof origin_sock, "/tmp/wr_proxy_test.%d.sock", (int)getpid());
  /* A port nothing listens on: bound once, then closed. */
  wr_tcp_listener *l = NULL;
  wr_addr a, b;
  int done = 0;
  if (wr_addr_parse("127.0.0.1:0", &a, NULL, 0) != 0 ||
      wr_tcp_listen(&l, &loop, &a, NULL, origin_accept, NULL) != 0 ||
      wr_tcp_listener_addr(l, &b) != 0)
    return 1;
  refused_port = wr_addr_port(&b);
  wr_tcp_listener_close(l, noop_closed, &done);
  run_until(NULL, 20);
  RUN(test_get);
  RUN(test_post_with_body);
  RUN(test_origin_refuses);
  RUN(test_origin_closes_mid_body);
  RUN(test_keepalive_reuse);
  RUN(test_websocket_upgrade);
  RUN(test_every_origin_transport);
  RUN(test_builtin_status);
  RUN(test_allocation_failures);
  unlink(origin_sock);
  test_tls_free(&tls);
  uv_loop_close(&loop);
  return test_done();
}
