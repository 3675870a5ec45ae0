/* http_server_test: the HTTP/1.1 front (http/server.h) on a loopback socket
 * with a tiny handler behind the seam of http/handler.h. The loop runs on the
 * main thread; a client thread speaks plain blocking sockets and checks the
 * bytes a user receives: keep-alive, pipelined requests, a chunked answer, a
 * request body the handler takes slowly, the server's own refusals, and a
 * user who goes away mid-request. The same handler then serves an nghttp2
 * client over TLS (ALPN h2) on the loop itself. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "base/log.h"
#include "base/metrics.h"
#include "http/page.h"
#include "http/server.h"
#include "io/tcp.h"
#include "loop_testutil.h"
#include "net/tls_stream.h"
#include "test.h"

static uv_loop_t loop;
static uint16_t port;
static uv_async_t done_async;
static int client_done;

/* ---- the handler ---------------------------------------------------------- */

/* POST /slow: the body is taken at most 1000 bytes at a time, and every
 * other offer is refused until a timer resumes it; the answer says how many
 * bytes came. */
typedef struct slow_req {
  wr_http_sink sink;
  wr_http_req *q;
  size_t got;
  unsigned offers, offers_seen; /* offers_seen: when the last body ended */
  int waiting;
  uv_timer_t timer;
} slow_req;

static slow_req slow;
static int aborted;

static void answer(wr_http_req *q, const char *body) {
  char cl[24];
  snprintf(cl, sizeof cl, "%zu", strlen(body));
  wr_h1_header hs[2] = {{{"Content-Type", 12}, {"text/plain", 10}},
                        {{"Content-Length", 14}, {cl, strlen(cl)}}};
  CHECK_EQ(q->ops->head(q, 200, hs, 2, WR_HTTP_RESP_BODY), 0);
  CHECK_EQ(q->ops->body(q, (const uint8_t *)body, strlen(body)), 0);
  /* Both fronts count the Content-Length: complete, nothing missing. */
  uint64_t missing = 1;
  CHECK_EQ(q->ops->complete(q, &missing), 1);
  CHECK_EQ(missing, 0);
  q->ops->end(q);
}

static void slow_resume(uv_timer_t *t) {
  (void)t;
  slow.waiting = 0;
  if (slow.q)
    slow.q->ops->resume_body(slow.q);
}

static ssize_t slow_on_body(wr_http_sink *s, const uint8_t *data, size_t len) {
  (void)s;
  (void)data;
  if (slow.waiting || (slow.offers++ & 1)) {
    if (!slow.waiting) {
      slow.waiting = 1;
      uv_timer_start(&slow.timer, slow_resume, 1, 0);
    }
    return WR_ERR_AGAIN;
  }
  size_t n = len < 1000 ? len : 1000;
  slow.got += n;
  return (ssize_t)n;
}

static void slow_on_body_end(wr_http_sink *s) {
  (void)s;
  char msg[64];
  snprintf(msg, sizeof msg, "got %zu", slow.got);
  wr_http_req *q = slow.q;
  slow.q = NULL;
  slow.offers_seen = slow.offers;
  answer(q, msg);
}

static void slow_on_writable(wr_http_sink *s) { (void)s; }

static void slow_on_abort(wr_http_sink *s, int why, uint64_t code) {
  (void)s;
  (void)why;
  (void)code;
  slow.q = NULL;
  aborted++;
}

static const wr_http_sink_ops slow_ops = {slow_on_body, slow_on_body_end, slow_on_writable,
                                          slow_on_abort};

static void on_request(wr_http_handler *h, wr_http_req *q) {
  (void)h;
  const wr_h1_head *hd = q->head;
  if (wr_h1_slice_eq(hd->target, "/slow")) {
    slow.q = q;
    slow.got = 0;
    slow.offers = 0;
    slow.waiting = 0;
    uv_timer_stop(&slow.timer);
    slow.offers = 0;
    slow.waiting = 0;
    uv_timer_stop(&slow.timer);
    slow.sink.ops = &slow_ops;
    q->sink = &slow.sink;
    q->ops->go_ahead(q);
  } else if (wr_h1_slice_eq(hd->target, "/chunked")) {
    CHECK_EQ(q->ops->head(q, 200, NULL, 0, WR_HTTP_RESP_BODY), 0);
    CHECK_EQ(q->ops->body(q, (const uint8_t *)"hello, ", 7), 0);
    CHECK_EQ(q->ops->body(q, (const uint8_t *)"world", 5), 0);
    q->ops->end(q);
  } else if (wr_h1_slice_eq(hd->target, "/missing")) {
    wr_http_page_send(q, 404, "Not Found", "Nothing here.", 0);
  } else {
    char msg[128];
    snprintf(msg, sizeof msg, "hello %.*s", (int)hd->target.len, hd->target.p);
    answer(q, msg);
  }
}

static const wr_http_handler_ops handler_ops = {.on_request = on_request};
static wr_http_handler handler = {&handler_ops};

/* ---- the client (its own thread) ------------------------------------------ */

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {.tv_sec = 5}; /* a hang fails the test instead of blocking it */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void send_all(int fd, const char *p, size_t len) {
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    p += n;
    len -= (size_t)n;
  }
}

/* Reads one response: its head into head (NUL-terminated), its body (by
 * Content-Length, or chunked, decoded) into body. 0, or -1 at EOF first. */
static int read_response(int fd, char *head, size_t hcap, char *body, size_t bcap) {
  size_t n = 0;
  while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
    if (n + 1 >= hcap || recv(fd, head + n, 1, 0) != 1)
      return -1;
    n++;
  }
  head[n] = '\0';
  size_t blen = 0;
  const char *cl = strstr(head, "Content-Length: ");
  if (cl) {
    blen = (size_t)strtoul(cl + 16, NULL, 10);
    for (size_t got = 0; got < blen;) {
      ssize_t r = recv(fd, body + got, blen - got, 0);
      if (r <= 0)
        return -1;
      got += (size_t)r;
    }
  } else if (strstr(head, "Transfer-Encoding: chunked")) {
    for (;;) {
      char line[32];
      size_t l = 0;
      while (l < 2 || memcmp(line + l - 2, "\r\n", 2) != 0)
        if (l + 1 >= sizeof line || recv(fd, line + l++, 1, 0) != 1)
          return -1;
      size_t sz = (size_t)strtoul(line, NULL, 16);
      char crlf[2];
      for (size_t got = 0; got < sz;) {
        ssize_t r = recv(fd, body + blen + got, sz - got, 0);
        if (r <= 0)
          return -1;
        got += (size_t)r;
      }
      blen += sz;
      if (recv(fd, crlf, 2, MSG_WAITALL) != 2)
        return -1;
      if (sz == 0)
        break;
    }
  }
  (void)bcap;
  body[blen] = '\0';
  return 0;
}

/* Sends req and reads one response into head and body (char arrays). */
#define ASK(fd, req, head, body)                                                                   \
  (send_all((fd), (req), strlen(req)),                                                             \
   read_response((fd), (head), sizeof(head), (body), sizeof(body)))

/* 1 when the peer closed (EOF) with nothing more sent. */
static int at_eof(int fd) {
  char c;
  return recv(fd, &c, 1, 0) == 0;
}

static char r_ka1[512], r_ka2[512], b_ka1[256], b_ka2[256];
static char r_pipe1[512], r_pipe2[512], b_pipe1[256], b_pipe2[256];
static char r_chunk[512], b_chunk[256], r_slow[512], b_slow[256], r_cont[64];
static char r_404[512], b_404[1024], r_bad[512], b_bad[1024];
static int ka_open_between, ka_eof, pipe_eof, bad_eof;

static void *client(void *arg) {
  (void)arg;
  /* keep-alive: the connection stays for a second request */
  int fd = dial();
  ka_open_between = ASK(fd, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n", r_ka1, b_ka1) == 0;
  (void)ASK(fd, "GET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", r_ka2, b_ka2);
  ka_eof = at_eof(fd);
  close(fd);
  /* pipelined: two requests in one write, answered in order */
  fd = dial();
  const char *pipe = "GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n"
                     "Connection: close\r\n\r\n";
  send_all(fd, pipe, strlen(pipe));
  (void)read_response(fd, r_pipe1, sizeof r_pipe1, b_pipe1, sizeof b_pipe1);
  (void)read_response(fd, r_pipe2, sizeof r_pipe2, b_pipe2, sizeof b_pipe2);
  pipe_eof = at_eof(fd);
  close(fd);
  /* chunked, a page, a slow body with Expect: 100-continue, on one connection */
  fd = dial();
  (void)ASK(fd, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n", r_chunk, b_chunk);
  (void)ASK(fd, "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n", r_404, b_404);
  enum { BODY = 200000 };
  char *big = malloc(BODY);
  memset(big, 'x', BODY);
  char hd[128];
  int hl = snprintf(hd, sizeof hd,
                    "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                    "Expect: 100-continue\r\n\r\n",
                    BODY);
  send_all(fd, hd, (size_t)hl);
  if (recv(fd, r_cont, 25, MSG_WAITALL) == 25)
    send_all(fd, big, BODY);
  free(big);
  (void)read_response(fd, r_slow, sizeof r_slow, b_slow, sizeof b_slow);
  close(fd);
  /* a request the strict parser refuses: 400, then the connection ends */
  fd = dial();
  (void)ASK(fd, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", r_bad, b_bad);
  bad_eof = at_eof(fd);
  close(fd);
  /* a user who goes away mid-body: the handler hears on_abort */
  fd = dial();
  const char *part = "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc";
  send_all(fd, part, strlen(part));
  close(fd);
  uv_async_send(&done_async);
  return NULL;
}

static void on_done(uv_async_t *a) {
  (void)a;
  client_done = 1;
}

static int server_gone;
static void on_server_closed(wr_http_server *s, void *arg) {
  (void)s;
  (void)arg;
  server_gone = 1;
}

static wr_metrics *reg;
static wr_http_server_config cfg;

/* A server on the loop with the test handler; the metrics fresh. */
static wr_http_server *start_server(void) {
  reg = wr_metrics_new();
  cfg = (wr_http_server_config){
      .handler = &handler,
      .metrics = {.responses = wr_metrics_family(reg, WR_METRIC_COUNTER, "responses", "r", "code"),
                  .errors = wr_metrics_family(reg, WR_METRIC_COUNTER, "errors", "e", "reason"),
                  .bytes_in = wr_metrics_counter(reg, "in", "i"),
                  .bytes_out = wr_metrics_counter(reg, "out", "o"),
                  .conns_open = wr_metrics_gauge(reg, "open", "o"),
                  .conns_total = wr_metrics_counter(reg, "total", "t")},
      .header_timeout_ms = 5000,
      .idle_timeout_ms = 5000,
      .max_conns = 10,
  };
  wr_http_server *s = NULL;
  CHECK_EQ(wr_http_server_new(&s, &loop, &cfg), 0);
  uv_timer_init(&loop, &slow.timer);
  return s;
}

/* Closes s and checks the loop ends with no live handle. */
static void stop_server(wr_http_server *s) {
  server_gone = 0;
  wr_http_server_close(s, on_server_closed, NULL);
  uv_close((uv_handle_t *)&slow.timer, NULL);
  CHECK(test_run_until(&loop, test_flag_set, &server_gone, 5000));
  CHECK_EQ(wr_http_server_conns(s), 0);
  wr_http_server_free(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&loop), 0);
  wr_metrics_del(reg);
}

static void test_h1_front(void) {
  CHECK_EQ(uv_loop_init(&loop), 0);
  wr_http_server *s = start_server();
  struct sockaddr_storage any = test_addr("127.0.0.1", 0), bound;
  char err[200];
  CHECK_EQ(wr_http_server_listen(s, (struct sockaddr *)&any, err, sizeof err), 0);
  CHECK_EQ(wr_http_server_local_addr(s, 1, &bound), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_http_server_local_addr(s, 0, &bound), 0);
  port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  uv_async_init(&loop, &done_async, on_done);
  pthread_t th;
  pthread_create(&th, NULL, client, NULL);
  CHECK(test_run_until(&loop, test_flag_set, &client_done, 20000));
  pthread_join(th, NULL);
  uv_close((uv_handle_t *)&done_async, NULL);
  CHECK(ka_open_between);
  CHECK(strncmp(r_ka1, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(r_ka1, "Connection: close") == NULL);
  CHECK_STREQ(b_ka1, "hello /one");
  CHECK(strstr(r_ka2, "Connection: close\r\n") != NULL);
  CHECK_STREQ(b_ka2, "hello /two");
  CHECK(ka_eof);
  CHECK_STREQ(b_pipe1, "hello /p1");
  CHECK_STREQ(b_pipe2, "hello /p2");
  CHECK(strstr(r_pipe1, "Connection: close") == NULL);
  CHECK(pipe_eof);
  CHECK(strstr(r_chunk, "Transfer-Encoding: chunked\r\n") != NULL);
  CHECK_STREQ(b_chunk, "hello, world");
  CHECK(strncmp(r_404, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
  CHECK(strstr(r_404, "Cache-Control: no-store\r\n") != NULL);
  CHECK(strstr(b_404, "<p>Nothing here.</p>") != NULL);
  CHECK(strncmp(r_cont, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
  CHECK_STREQ(b_slow, "got 200000");
  CHECK(slow.offers_seen > 200000 / 1000); /* at most 1000 bytes were taken per offer */
  CHECK(strncmp(r_bad, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
  CHECK(strstr(r_bad, "Connection: close\r\n") != NULL);
  CHECK(bad_eof);
  CHECK(test_run_until(&loop, test_flag_set, &aborted, 5000));
  CHECK_EQ(aborted, 1);
  CHECK(slow.q == NULL);
  CHECK_EQ(wr_metric_value(wr_metric_child(cfg.metrics.responses, "200")), 6);
  CHECK_EQ(wr_metric_value(wr_metric_child(cfg.metrics.errors, "bad_request")), 1);
  CHECK_EQ(wr_metric_value(cfg.metrics.bytes_in), 200003);
  CHECK_EQ(wr_metric_value(cfg.metrics.conns_total), 5);

  stop_server(s);
}

/* ---- HTTP/2 over TLS: an nghttp2 client on the same loop ------------------ */

enum { H2_REQS = 4, H2_BODY = 100000 };

typedef struct h2cli {
  wr_stream *t; /* TLS over an io/tcp stream */
  nghttp2_session *ss;
  int connected, closed;
  int32_t ids[H2_REQS];
  int status[H2_REQS], done[H2_REQS];
  char body[H2_REQS][2048];
  size_t blen[H2_REQS];
  size_t upload_off;
} h2cli;

static h2cli cl;
static char upload[H2_BODY];

static int req_index(int32_t id) {
  for (int i = 0; i < H2_REQS; i++)
    if (cl.ids[i] == id)
      return i;
  return -1;
}

static void h2_send(void) {
  for (;;) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(cl.ss, &p);
    if (n <= 0)
      return;
    CHECK_EQ(wr_stream_write(cl.t, p, (size_t)n), n); /* the queue limit is ample */
  }
}

static int cli_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                      void *user) {
  (void)ss, (void)flags, (void)user, (void)valuelen;
  int i = req_index(f->hd.stream_id);
  if (i >= 0 && namelen == 7 && memcmp(name, ":status", 7) == 0)
    cl.status[i] = atoi((const char *)value);
  return 0;
}

static int cli_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *user) {
  (void)ss, (void)flags, (void)user;
  int i = req_index(id);
  if (i >= 0 && cl.blen[i] + len < sizeof cl.body[i]) {
    memcpy(cl.body[i] + cl.blen[i], data, len);
    cl.blen[i] += len;
  }
  return 0;
}

static int cli_close(nghttp2_session *ss, int32_t id, uint32_t code, void *user) {
  (void)ss, (void)code, (void)user;
  int i = req_index(id);
  if (i >= 0)
    cl.done[i] = 1;
  return 0;
}

static ssize_t cli_upload(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)ss, (void)id, (void)src, (void)user;
  size_t n = H2_BODY - cl.upload_off < length ? H2_BODY - cl.upload_off : length;
  memcpy(buf, upload + cl.upload_off, n);
  cl.upload_off += n;
  if (cl.upload_off == H2_BODY)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static void cli_on_connected(wr_stream *t) {
  (void)t;
  cl.connected = 1;
}

static void cli_on_data(wr_stream *t, const uint8_t *data, size_t len) {
  (void)t;
  CHECK_EQ(nghttp2_session_mem_recv(cl.ss, data, len), (ssize_t)len);
  h2_send();
}

static void cli_on_writable(wr_stream *t) {
  (void)t;
  h2_send();
}

static void cli_on_closed(wr_stream *t, int err, const char *reason) {
  (void)t, (void)err, (void)reason;
  cl.closed = 1;
}

static const wr_stream_events cli_cb = {.on_connected = cli_on_connected,
                                        .on_data = cli_on_data,
                                        .on_writable = cli_on_writable,
                                        .on_closed = cli_on_closed};

static int all_done(const void *arg) {
  (void)arg;
  for (int i = 0; i < H2_REQS; i++)
    if (!cl.done[i])
      return 0;
  return 1;
}

#define NV(n, v)                                                                                   \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

static void h2_requests(void) {
  nghttp2_session_callbacks *cb;
  CHECK_EQ(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_on_header_callback(cb, cli_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cli_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, cli_close);
  CHECK_EQ(nghttp2_session_client_new(&cl.ss, cb, NULL), 0);
  nghttp2_session_callbacks_del(cb);
  CHECK_EQ(nghttp2_submit_settings(cl.ss, NGHTTP2_FLAG_NONE, NULL, 0), 0);
  const char *paths[H2_REQS] = {"/one", "/missing", "/chunked", "/slow"};
  memset(upload, 'y', sizeof upload);
  for (int i = 0; i < H2_REQS; i++) {
    nghttp2_nv nv[] = {NV(":method", i == 3 ? "POST" : "GET"), NV(":scheme", "https"),
                       NV(":authority", "a.example"), NV(":path", paths[i])};
    nghttp2_data_provider up = {.read_callback = cli_upload};
    cl.ids[i] = nghttp2_submit_request(cl.ss, NULL, nv, 4, i == 3 ? &up : NULL, NULL);
    CHECK(cl.ids[i] > 0);
  }
  h2_send();
}

static void test_h2_front(void) {
  CHECK_EQ(uv_loop_init(&loop), 0);
  char dir[] = "/tmp/wr_http_server_test.XXXXXX", crt[128], key[128];
  char err[WR_TLS_ERRLEN];
  CHECK(mkdtemp(dir) != NULL);
  CHECK_EQ(wr_tls_self_signed_ensure(dir, NULL, 0, NULL, err, sizeof err), 0);
  snprintf(crt, sizeof crt, "%s/%s", dir, WR_TLS_SELF_SIGNED_CERT);
  snprintf(key, sizeof key, "%s/%s", dir, WR_TLS_SELF_SIGNED_KEY);
  wr_tls_server *stls = NULL;
  wr_tls_client *ctls = NULL;
  CHECK_EQ(wr_tls_server_new(&stls, crt, key, err, sizeof err), 0);
  wr_tls_client_config cc = {.no_verify = 1};
  CHECK_EQ(wr_tls_client_new(&ctls, &cc, err, sizeof err), 0);
  wr_http_server *s = start_server();
  struct sockaddr_storage any = test_addr("127.0.0.1", 0), bound;
  CHECK_EQ(wr_http_server_listen_tls(s, (struct sockaddr *)&any, stls, err, sizeof err), 0);
  CHECK_EQ(wr_http_server_local_addr(s, 1, &bound), 0);
  wr_tcp_config tcpc = {.write_queue_limit = 4u << 20};
  wr_tls_stream_config tc = {.alpn = "h2", .write_queue_limit = 4u << 20};
  wr_addr to;
  wr_addr_from_sockaddr((struct sockaddr *)&bound, &to);
  wr_stream *lower;
  CHECK_EQ(wr_tcp_connect(&lower, &loop, &to, &tcpc, NULL, NULL), 0);
  CHECK_EQ(wr_tls_stream_client(&cl.t, &loop, lower, "localhost", ctls, &tc, &cli_cb, NULL), 0);
  CHECK(test_run_until(&loop, test_flag_set, &cl.connected, 5000));
  h2_requests();
  CHECK(test_run_until(&loop, all_done, NULL, 10000));
  CHECK_EQ(cl.status[0], 200);
  CHECK(cl.blen[0] == 10 && memcmp(cl.body[0], "hello /one", 10) == 0);
  CHECK_EQ(cl.status[1], 404);
  cl.body[1][cl.blen[1]] = '\0';
  CHECK(strstr(cl.body[1], "<p>Nothing here.</p>") != NULL);
  CHECK_EQ(cl.status[2], 200);
  CHECK(cl.blen[2] == 12 && memcmp(cl.body[2], "hello, world", 12) == 0);
  CHECK_EQ(cl.status[3], 200);
  CHECK(cl.blen[3] == 10 && memcmp(cl.body[3], "got 100000", 10) == 0);
  CHECK_EQ(wr_metric_value(cfg.metrics.bytes_in), H2_BODY);
  wr_stream_close(cl.t);
  CHECK(test_run_until(&loop, test_flag_set, &cl.closed, 5000));
  nghttp2_session_del(cl.ss);
  stop_server(s);
  wr_tls_client_del(ctls);
  wr_tls_server_del(stls);
  unlink(crt);
  unlink(key);
  rmdir(dir);
}

int main(void) {
  wr_log_set_level(WR_LOG_ERROR);
  RUN(test_h1_front);
  RUN(test_h2_front);
  return test_done();
}
