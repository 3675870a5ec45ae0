/* edge_test: a real wr_edge on a loop with a minimal connector written
 * against the tunnel seam, over QUIC: registration
 * (good proof, wrong secret, unknown tunnel) and one request from a real TCP
 * client through the edge to the connector and back. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/edge.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/tunnel/tunnel.h"
#include "loop_testutil.h"
#include "test.h"
#include "tls_testutil.h"
#include "net/quic.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"

static uv_loop_t loop;
static test_tls_files tls_files;
static const char *const crt = tls_files.crt, *const key = tls_files.key;
static const uint8_t tunnel_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";

/* ---- a minimal connector ---------------------------------------------- */

typedef struct rstream {
  wr_tunnel_decoder dec;
  int have_req;
  char path[64];
  char xff[64];
} rstream;

typedef struct fconn {
  wr_mux_conn *c;
  wr_mux_stream *ctl;
  wr_tunnel_decoder dec;
  const uint8_t *secret;
  uint8_t tid[16];
  int registered, reg_error, closed, got_ping, served;
  char xff[64];
} fconn;

static void send_msg(wr_mux_conn *c, wr_mux_stream *s, const wr_tunnel_msg *m) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_tunnel_encode(&b, m), 0);
  CHECK_EQ(c->ops->stream_write(s, b.data, b.len), (ssize_t)b.len);
  wr_buf_free(&b);
}

static void fc_ctl(fconn *f, const uint8_t *data, size_t len) {
  while (len) {
    size_t used;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&f->dec, data, len, &used, &m);
    data += used;
    len -= used;
    CHECK(rv >= 0);
    if (rv <= 0)
      return;
    if (m.type == WR_TUNNEL_PING) {
      f->got_ping = 1;
      wr_tunnel_msg p = {.type = WR_TUNNEL_PONG};
      p.u.ping = m.u.ping;
      send_msg(f->c, f->ctl, &p);
      wr_tunnel_msg r = {.type = WR_TUNNEL_REGISTER};
      memcpy(r.u.reg.tunnel_id, f->tid, 16);
      memset(r.u.reg.connector_id, 7, 16);
      r.u.reg.conn_index = 3;
      r.u.reg.version = (wr_h1_slice){"edge_test", 9};
      uint8_t exp[WR_TUNNEL_EXPORTER_LEN];
      CHECK_EQ(f->c->ops->export_keying(f->c, WR_TUNNEL_EXPORTER_LABEL, NULL, 0, exp, sizeof exp),
               0);
      CHECK_EQ(wr_tunnel_proof(r.u.reg.proof, f->secret, 32, exp, f->tid, r.u.reg.connector_id, 3),
               0);
      send_msg(f->c, f->ctl, &r);
    } else if (m.type == WR_TUNNEL_REGISTERED) {
      f->registered = 1;
      CHECK(m.u.registered.location.len == 6 &&
            memcmp(m.u.registered.location.p, "test-1", 6) == 0);
    } else if (m.type == WR_TUNNEL_REGISTER_ERROR) {
      f->reg_error = (int)m.u.error.code;
    }
  }
}

static void fc_req(fconn *f, wr_mux_stream *s, rstream *r, const uint8_t *data, size_t len,
                   int fin) {
  while (!r->have_req && len) {
    size_t used;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&r->dec, data, len, &used, &m);
    data += used;
    len -= used;
    CHECK(rv >= 0);
    if (rv <= 0)
      break;
    CHECK_EQ(m.type, WR_TUNNEL_REQUEST);
    r->have_req = 1;
    snprintf(r->path, sizeof r->path, "%.*s", (int)m.u.request.path.len, m.u.request.path.p);
    for (size_t i = 0; i < m.u.request.nheaders; i++)
      if (wr_h1_slice_eq_ci(m.u.request.headers[i].name, "x-forwarded-for"))
        snprintf(f->xff, sizeof f->xff, "%.*s", (int)m.u.request.headers[i].value.len,
                 m.u.request.headers[i].value.p);
  }
  if (fin && r->have_req) {
    char body[128];
    int n = snprintf(body, sizeof body, "hello %s", r->path);
    char cl[16];
    snprintf(cl, sizeof cl, "%d", n);
    wr_h1_header h[1] = {{{"Content-Length", 14}, {cl, strlen(cl)}}};
    wr_tunnel_msg m = {.type = WR_TUNNEL_RESPONSE};
    m.u.response.status = 200;
    m.u.response.flags = WR_TUNNEL_F_BODY;
    m.u.response.headers = h;
    m.u.response.nheaders = 1;
    send_msg(f->c, s, &m);
    CHECK_EQ(f->c->ops->stream_write(s, body, (size_t)n), n);
    CHECK_EQ(f->c->ops->stream_end(s), 0);
    f->served++;
  }
}

static void fc_stream_open(wr_mux_conn *c, wr_mux_stream *s) {
  fconn *f = c->user;
  if (getenv("EDGE_TEST_DEBUG"))
    fprintf(stderr, "fc_stream_open first=%d\n", !f->ctl);
  if (!f->ctl) {
    f->ctl = s;
    c->ops->stream_set_user(s, NULL);
    return;
  }
  rstream *r = wr_calloc(1, sizeof *r);
  CHECK_EQ(wr_tunnel_decoder_init(&r->dec, NULL), 0);
  c->ops->stream_set_user(s, r);
}

static void fc_data(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len, int fin) {
  fconn *f = c->user;
  if (getenv("EDGE_TEST_DEBUG"))
    fprintf(stderr, "fc_data ctl=%d len=%zu fin=%d\n", s == f->ctl, len, fin);
  rstream *r = c->ops->stream_user(s);
  if (s == f->ctl)
    fc_ctl(f, data, len);
  else if (r)
    fc_req(f, s, r, data, len, fin);
  c->ops->stream_consume(s, len);
}

static void fc_stream_close(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  fconn *f = c->user;
  rstream *r = c->ops->stream_user(s);
  if (s == f->ctl)
    f->ctl = NULL;
  else if (r) {
    wr_tunnel_decoder_free(&r->dec);
    wr_free(r);
  }
}

static void fc_closed(wr_mux_conn *c, int err, const char *reason) {
  (void)err;
  (void)reason;
  fconn *f = c->user;
  f->closed = 1;
  f->c = NULL;
}

static const wr_mux_events fc_events = {
    .on_closed = fc_closed,
    .on_stream_open = fc_stream_open,
    .on_stream_data = fc_data,
    .on_stream_close = fc_stream_close,
};

/* ---- loop helpers -------------------------------------------------------- */

/* Runs the loop until *flag or ms pass. */
static void run_until(volatile int *flag, uint64_t ms) {
  (void)test_run_until(&loop, test_flag_set, (const void *)flag, ms);
}

static uint16_t http_port;
static char *reply;
static volatile int client_done;
static uv_async_t client_async;

static void *client(void *arg) {
  const char *req = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(http_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  reply = calloc(1, 65536);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
    (void)send(fd, req, strlen(req), MSG_NOSIGNAL);
    size_t len = 0;
    for (;;) {
      ssize_t n = recv(fd, reply + len, 65535 - len, 0);
      if (n <= 0)
        break;
      len += (size_t)n;
    }
  }
  close(fd);
  client_done = 1;
  uv_async_send(&client_async);
  return NULL;
}

static void on_client_async(uv_async_t *a) { (void)a; }

/* Sends req from a thread and runs the loop until the answer is complete. */
static void http_exchange(const char *req) {
  client_done = 0;
  uv_async_init(&loop, &client_async, on_client_async);
  pthread_t th;
  pthread_create(&th, NULL, client, (void *)req);
  run_until(&client_done, 5000);
  pthread_join(th, NULL);
  uv_close((uv_handle_t *)&client_async, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static int edge_done;
static void on_edge_done(wr_edge *e, void *arg) {
  (void)e;
  (void)arg;
  edge_done = 1;
}

static wr_edge *start_edge(wr_tls_server *tls) {
  const char *hosts[] = {"app.example.com"};
  wr_edge_tunnel t = {.name = "web", .secret = secret, .secret_len = 32, .hosts = hosts,
                      .nhosts = 1};
  memcpy(t.id, tunnel_id, 16);
  struct sockaddr_in any = {.sin_family = AF_INET};
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  wr_edge_config cfg = {.listen = (struct sockaddr *)&any, .listen_h2 = (struct sockaddr *)&any,
                        .http = (struct sockaddr *)&any, .tls = tls, .location = "test-1",
                        .tunnels = &t, .ntunnels = 1};
  wr_edge *e = NULL;
  char err[256];
  int rc = wr_edge_new(&e, &loop, &cfg, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "edge: %s\n", err);
  CHECK_EQ(rc, 0);
  struct sockaddr_storage ss;
  CHECK_EQ(wr_edge_local_addr(e, "http", &ss), 0);
  http_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return e;
}

static void stop_edge(wr_edge *e) {
  edge_done = 0;
  wr_edge_shutdown(e, on_edge_done, NULL);
  run_until(&edge_done, 5000);
  CHECK_EQ(edge_done, 1);
  wr_edge_free(e);
}

/* Dials the edge over HTTP/2 (h2) or QUIC as a connector. */
static void dial(wr_edge *e, fconn *f, int h2, wr_tls_client *cli, wr_quic_endpoint **pep) {
  struct sockaddr_storage ss;
  if (h2) {
    CHECK_EQ(wr_edge_local_addr(e, "listen-http2", &ss), 0);
    CHECK_EQ(wr_mux_h2_connect(&f->c, &loop, (struct sockaddr *)&ss, NULL, cli, NULL, &fc_events, f),
             0);
    return;
  }
  CHECK_EQ(wr_edge_local_addr(e, "listen", &ss), 0);
  struct sockaddr_in any = {.sin_family = AF_INET};
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  wr_quic_config qc = {.alpn = WR_TUNNEL_ALPN};
  CHECK_EQ(wr_quic_endpoint_new(pep, &loop, (struct sockaddr *)&any, &qc, NULL), 0);
  CHECK_EQ(wr_mux_quic_connect(&f->c, *pep, (struct sockaddr *)&ss, NULL, cli, &fc_events, f), 0);
}

static int ep_done;
static void on_ep_closed(wr_quic_endpoint *ep, void *data) {
  (void)ep;
  (void)data;
  ep_done = 1;
}

static void run_transport(int h2) {
  wr_tls_server *stls = NULL;
  wr_tls_client *cli = NULL;
  char err[WR_TLS_ERRLEN];
  CHECK_EQ(wr_tls_server_new(&stls, crt, key, err, sizeof err), 0);
  wr_tls_client_config cc = {.ca_file = crt};
  CHECK_EQ(wr_tls_client_new(&cli, &cc, err, sizeof err), 0);
  wr_edge *e = start_edge(stls);
  wr_quic_endpoint *ep = NULL;

  /* offline first: 502 */
  http_exchange("GET /a HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n");
  CHECK(reply && strncmp(reply, "HTTP/1.1 502 ", 13) == 0);
  free(reply);

  /* a good registration, then a request through it */
  fconn good = {.secret = secret};
  memcpy(good.tid, tunnel_id, 16);
  CHECK_EQ(good.dec.hdrs == NULL, 1);
  CHECK_EQ(wr_tunnel_decoder_init(&good.dec, NULL), 0);
  dial(e, &good, h2, cli, &ep);
  run_until(&good.registered, 5000);
  CHECK_EQ(good.got_ping, 1);
  CHECK_EQ(good.registered, 1);
  CHECK_EQ(wr_edge_ready(e), 1);
  http_exchange("GET /hi?x=1 HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n");
  CHECK(reply && strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(reply && strstr(reply, "Content-Length: 13\r\n"));
  CHECK(reply && strstr(reply, "\r\n\r\nhello /hi?x=1"));
  free(reply);
  CHECK_EQ(good.served, 1);
  CHECK_STREQ(good.xff, "127.0.0.1");

  /* a wrong secret and an unknown tunnel are refused, then closed */
  static const uint8_t wrong[32] = "ffffffffffffffffffffffffffffffff";
  fconn bad = {.secret = wrong};
  memcpy(bad.tid, tunnel_id, 16);
  CHECK_EQ(wr_tunnel_decoder_init(&bad.dec, NULL), 0);
  wr_quic_endpoint *ep2 = NULL;
  dial(e, &bad, h2, cli, &ep2);
  run_until(&bad.closed, 5000);
  CHECK_EQ(bad.reg_error, WR_TUNNEL_REG_UNAUTHORIZED);
  CHECK_EQ(bad.closed, 1);
  fconn unk = {.secret = secret};
  memset(unk.tid, 0x55, 16);
  CHECK_EQ(wr_tunnel_decoder_init(&unk.dec, NULL), 0);
  wr_quic_endpoint *ep3 = NULL;
  dial(e, &unk, h2, cli, &ep3);
  run_until(&unk.closed, 5000);
  CHECK_EQ(unk.reg_error, WR_TUNNEL_REG_UNKNOWN_TUNNEL);
  CHECK_EQ(wr_edge_ready(e), 1);

  /* Live tunnel changes (wr_edge_set_tunnels): a refused set changes
   * nothing; a new secret closes the connection registered with the old one
   * and refuses the old one; an empty set deletes the tunnel. */
  static const uint8_t secret2[32] = "abcdefabcdefabcdefabcdefabcdef00";
  const char *hosts[] = {"app.example.com"};
  wr_edge_tunnel nt = {.name = "web", .secret = secret2, .secret_len = 8, .hosts = hosts,
                       .nhosts = 1};
  memcpy(nt.id, tunnel_id, 16);
  wr_edge_tunnel_changes ch;
  char rerr[256];
  CHECK_EQ(wr_edge_set_tunnels(e, &nt, 1, &ch, rerr, sizeof rerr), WR_ERR_INVAL);
  CHECK(strstr(rerr, "secret is shorter") != NULL);
  CHECK_EQ(wr_edge_ready(e), 1);
  nt.secret_len = 32;
  CHECK_EQ(wr_edge_set_tunnels(e, &nt, 1, &ch, rerr, sizeof rerr), 0);
  CHECK_EQ(ch.added, 0);
  CHECK_EQ(ch.removed, 0);
  CHECK_EQ(ch.changed, 1);
  CHECK_EQ(ch.closed, 1);
  CHECK_EQ(wr_edge_ready(e), 0); /* out of routing at once */
  run_until(&good.closed, 5000);
  CHECK_EQ(good.closed, 1);
  fconn old = {.secret = secret}, renewed = {.secret = secret2};
  memcpy(old.tid, tunnel_id, 16);
  memcpy(renewed.tid, tunnel_id, 16);
  CHECK_EQ(wr_tunnel_decoder_init(&old.dec, NULL), 0);
  CHECK_EQ(wr_tunnel_decoder_init(&renewed.dec, NULL), 0);
  wr_quic_endpoint *ep4 = NULL, *ep5 = NULL, *ep6 = NULL;
  dial(e, &old, h2, cli, &ep4);
  run_until(&old.closed, 5000);
  CHECK_EQ(old.reg_error, WR_TUNNEL_REG_UNAUTHORIZED);
  dial(e, &renewed, h2, cli, &ep5);
  run_until(&renewed.registered, 5000);
  CHECK_EQ(renewed.registered, 1);
  CHECK_EQ(wr_edge_ready(e), 1);
  /* The same set again changes nothing. */
  CHECK_EQ(wr_edge_set_tunnels(e, &nt, 1, &ch, rerr, sizeof rerr), 0);
  CHECK_EQ(ch.changed + ch.added + ch.removed + ch.closed, 0);
  CHECK_EQ(wr_edge_ready(e), 1);
  /* Deleted: its connection closes, its host is not routed, its
   * credentials name an unknown tunnel. */
  CHECK_EQ(wr_edge_set_tunnels(e, NULL, 0, &ch, rerr, sizeof rerr), 0);
  CHECK_EQ(ch.removed, 1);
  CHECK_EQ(ch.closed, 1);
  run_until(&renewed.closed, 5000);
  CHECK_EQ(renewed.closed, 1);
  http_exchange("GET /a HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n");
  CHECK(reply && strncmp(reply, "HTTP/1.1 404 ", 13) == 0);
  free(reply);
  fconn gone = {.secret = secret2};
  memcpy(gone.tid, tunnel_id, 16);
  CHECK_EQ(wr_tunnel_decoder_init(&gone.dec, NULL), 0);
  dial(e, &gone, h2, cli, &ep6);
  run_until(&gone.closed, 5000);
  CHECK_EQ(gone.reg_error, WR_TUNNEL_REG_UNKNOWN_TUNNEL);
  /* Created again (same id): served again. */
  CHECK_EQ(wr_edge_set_tunnels(e, &nt, 1, &ch, rerr, sizeof rerr), 0);
  CHECK_EQ(ch.added, 1);

  /* the edge going away closes the good connection too */
  stop_edge(e);
  run_until(&good.closed, 5000);
  CHECK_EQ(good.closed, 1);
  wr_tunnel_decoder_free(&old.dec);
  wr_tunnel_decoder_free(&renewed.dec);
  wr_tunnel_decoder_free(&gone.dec);
  wr_quic_endpoint *eps[] = {ep, ep2, ep3, ep4, ep5, ep6};
  for (int i = 0; i < 6; i++) {
    if (!eps[i])
      continue;
    ep_done = 0;
    wr_quic_endpoint_close(eps[i], 0, on_ep_closed, NULL);
    run_until(&ep_done, 5000);
  }
  wr_tunnel_decoder_free(&good.dec);
  wr_tunnel_decoder_free(&bad.dec);
  wr_tunnel_decoder_free(&unk.dec);
  wr_tls_client_del(cli);
  wr_tls_server_del(stls);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}


static void test_quic(void) { run_transport(0); }
static void test_h2(void) { run_transport(1); }

static void test_config_errors(void) {
  wr_tls_server *stls = NULL;
  char err[WR_TLS_ERRLEN];
  CHECK_EQ(wr_tls_server_new(&stls, crt, key, err, sizeof err), 0);
  const char *hosts[] = {"app.example.com"};
  wr_edge_tunnel t[2] = {{.name = "a", .secret = secret, .secret_len = 32, .hosts = hosts,
                          .nhosts = 1},
                         {.name = "b", .secret = secret, .secret_len = 32, .hosts = hosts,
                          .nhosts = 1}};
  t[1].id[0] = 1;
  struct sockaddr_in any = {.sin_family = AF_INET};
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  wr_edge_config cfg = {.listen = (struct sockaddr *)&any, .http = (struct sockaddr *)&any,
                        .tls = stls, .tunnels = t, .ntunnels = 2};
  wr_edge *e = NULL;
  CHECK_EQ(wr_edge_new(&e, &loop, &cfg, err, sizeof err), WR_ERR_EXISTS);
  CHECK(e == NULL);
  CHECK(strstr(err, "tunnel \"b\": app.example.com is already taken") != NULL);
  t[1].secret_len = 8;
  CHECK_EQ(wr_edge_new(&e, &loop, &cfg, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "secret is shorter than 16 bytes") != NULL);
  cfg.tls = NULL;
  CHECK_EQ(wr_edge_new(&e, &loop, &cfg, err, sizeof err), WR_ERR_INVAL);
  wr_tls_server_del(stls);
  CHECK_EQ(uv_loop_alive(&loop), 0);
}

int main(void) {
  wr_log_set_level(getenv("EDGE_TEST_DEBUG") ? WR_LOG_DEBUG : WR_LOG_ERROR);
  uv_loop_init(&loop);
  if (test_tls_files_make(&tls_files, "wr_edge_test") != 0)
    return 1;
  RUN(test_config_errors);
  RUN(test_quic);
  RUN(test_h2);
  test_tls_files_remove(&tls_files);
  uv_loop_close(&loop);
  return test_done();
}
