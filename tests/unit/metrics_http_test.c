/* metrics_http_test: the --metrics endpoint answers real TCP clients. The
 * loop runs on the main thread; a client thread speaks plain blocking
 * sockets, so the server is exercised exactly as curl or Prometheus would. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/metrics_http.h"
#include "base/log.h"
#include "test.h"

static uint16_t port;
static size_t ready_n;
static int collected;
static uv_async_t done_async;

/* Sends req and returns the whole response (until the server closes), malloc'd. */
static char *exchange(const char *req, size_t reqlen) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return NULL;
  }
  size_t off = 0;
  while (off < reqlen) {
    ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap + 1);
  for (;;) {
    ssize_t n = recv(fd, out + len, cap - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  out[len] = '\0';
  close(fd);
  return out;
}

static char *r_metrics, *r_ready0, *r_ready2, *r_head, *r_404, *r_405, *r_bad, *r_big;

static void *client(void *arg) {
  (void)arg;
  const char *get_m = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  r_metrics = exchange(get_m, strlen(get_m));
  const char *get_r = "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n";
  r_ready0 = exchange(get_r, strlen(get_r));
  ready_n = 2;
  r_ready2 = exchange(get_r, strlen(get_r));
  const char *head = "HEAD /ready HTTP/1.0\r\n\r\n";
  r_head = exchange(head, strlen(head));
  const char *nf = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  r_404 = exchange(nf, strlen(nf));
  const char *post = "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  r_405 = exchange(post, strlen(post));
  const char *bad = "GET /metrics\r\n\r\n";
  r_bad = exchange(bad, strlen(bad));
  static char big[9000];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
  r_big = exchange(big, sizeof big);
  uv_async_send(&done_async);
  return NULL;
}

static void collect(void *user) {
  (void)user;
  collected++;
}
static size_t ready(void *user) {
  (void)user;
  return ready_n;
}

static wr_metrics_http *srv;
static int closed;
static void on_closed(void *data) { *(int *)data = 1; }
static void on_done(uv_async_t *a) {
  wr_metrics_http_close(srv, on_closed, &closed);
  uv_close((uv_handle_t *)a, NULL);
}

static void test_serve(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  wr_metrics *reg = wr_metrics_new();
  wr_metric_add(wr_metrics_counter(reg, "warren_test_total", "A test counter."), 7);
  wr_metrics_http_config cfg = {.reg = reg, .collect = collect, .ready = ready};
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(wr_metrics_http_new(&srv, &loop, (struct sockaddr *)&a, &cfg), 0);
  struct sockaddr_storage ss;
  CHECK_EQ(wr_metrics_http_local_addr(srv, &ss), 0);
  port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  CHECK(port != 0);
  uv_async_init(&loop, &done_async, on_done);
  pthread_t th;
  pthread_create(&th, NULL, client, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK_EQ(closed, 1);
  CHECK_EQ(uv_loop_close(&loop), 0);
  CHECK(r_metrics && strncmp(r_metrics, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(r_metrics && strstr(r_metrics, "\r\n\r\n# HELP warren_test_total A test counter.\n"));
  CHECK(r_metrics && strstr(r_metrics, "\nwarren_test_total 7\n"));
  CHECK(r_metrics && strstr(r_metrics, "Content-Type: text/plain; version=0.0.4"));
  CHECK_EQ(collected, 1);
  CHECK(r_ready0 && strncmp(r_ready0, "HTTP/1.1 503 ", 13) == 0);
  CHECK(r_ready0 && strstr(r_ready0, "\r\n\r\n{\"status\":503,\"readyConnections\":0}\n"));
  CHECK(r_ready2 && strncmp(r_ready2, "HTTP/1.1 200 ", 13) == 0);
  CHECK(r_ready2 && strstr(r_ready2, "\r\n\r\n{\"status\":200,\"readyConnections\":2}\n"));
  /* HEAD: the length of the body, no body. */
  char cl[64];
  snprintf(cl, sizeof cl, "Content-Length: %zu\r\n",
           strlen("{\"status\":200,\"readyConnections\":2}\n"));
  CHECK(r_head && strstr(r_head, cl));
  CHECK(r_head && strlen(strstr(r_head, "\r\n\r\n")) == 4);
  CHECK(r_404 && strncmp(r_404, "HTTP/1.1 404 ", 13) == 0);
  CHECK(r_405 && strncmp(r_405, "HTTP/1.1 405 ", 13) == 0);
  CHECK(r_bad && strncmp(r_bad, "HTTP/1.1 400 ", 13) == 0);
  CHECK(r_big && strncmp(r_big, "HTTP/1.1 431 ", 13) == 0);
  free(r_metrics), free(r_ready0), free(r_ready2), free(r_head);
  free(r_404), free(r_405), free(r_bad), free(r_big);
  wr_metrics_del(reg);
}

static void test_bind_error(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  wr_metrics *reg = wr_metrics_new();
  wr_metrics_http_config cfg = {.reg = reg};
  wr_metrics_http *m;
  /* 192.0.2.1 (TEST-NET-1) is not an address of this host. */
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1)};
  inet_pton(AF_INET, "192.0.2.1", &a.sin_addr);
  CHECK_EQ(wr_metrics_http_new(&m, &loop, (struct sockaddr *)&a, &cfg), WR_ERR_IO);
  CHECK(m == NULL);
  wr_metrics_http_config none = {0};
  CHECK_EQ(wr_metrics_http_new(&m, &loop, (struct sockaddr *)&a, &none), WR_ERR_INVAL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&loop), 0);
  wr_metrics_del(reg);
}

int main(void) {
  wr_log_set_level(WR_LOG_ERROR);
  RUN(test_serve);
  RUN(test_bind_error);
  return test_done();
}
