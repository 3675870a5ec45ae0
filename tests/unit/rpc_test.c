/* rpc_test.c: the daemon's node (node/node.h) on a loop, driven from a
 * thread with the CLI's client (rpc/client.h): add through a multipart
 * upload, cat, pin ls, the refusals; then a graceful stop that closes every
 * handle and removes the api file. Under ASan (make asan) this checks the
 * job bridge between the command threads and the loop. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop_testutil.h"
#include "node/node.h"
#include "rpc/apiaddr.h"
#include "rpc/client.h"
#include "store_testutil.h"
#include "test.h"

typedef struct run {
  wr_addr api;
  uv_async_t done_async; /* the client thread says it is done through the loop */
  int done;
  wr_buf got;
  /* results */
  int add_rv, cat_rv, pins_rv, nf_rv, nf_status, bad_rv, bad_status, big_rv;
  char add_answer[1024], cat_answer[256], pins_answer[1024], bad_err[256];
  size_t big_len;
} run;

static int collect(void *arg, const uint8_t *p, size_t n) {
  wr_buf *b = arg;
  return wr_buf_append(b, p, n);
}

static const char boundary[] = "TeStBoUnDaRy";

typedef struct upload {
  const char *name;
  size_t len;
} upload;

/* A multipart body: one file of len bytes (i % 251), sent in odd pieces. */
static int produce(void *arg, wr_rpc_conn *conn) {
  const upload *u = arg;
  char head[256];
  int k = snprintf(head, sizeof head,
                   "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n",
                   boundary, u->name);
  int rv = wr_rpc_conn_send(conn, head, (size_t)k);
  static uint8_t piece[70001];
  for (size_t off = 0; off < u->len && !rv;) {
    size_t n = u->len - off < sizeof piece ? u->len - off : sizeof piece;
    for (size_t i = 0; i < n; i++)
      piece[i] = (uint8_t)((off + i) % 251);
    rv = wr_rpc_conn_send(conn, piece, n);
    off += n;
  }
  char tail[64];
  k = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
  if (!rv)
    rv = wr_rpc_conn_send(conn, tail, (size_t)k);
  return rv;
}

static int sum_bytes(void *arg, const uint8_t *p, size_t n) {
  run *r = arg;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != (uint8_t)((r->big_len + i) % 251))
      return WR_ERR_CORRUPT;
  }
  r->big_len += n;
  return 0;
}

static void copy_out(wr_buf *b, char *out, size_t cap) {
  size_t n = b->len < cap - 1 ? b->len : cap - 1;
  memcpy(out, b->data, n);
  out[n] = '\0';
  b->len = 0;
}

static void *client_main(void *arg) {
  run *r = arg;
  char ctype[128], err[512];
  int status;
  snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
  wr_buf_init(&r->got, 1 << 20);
  upload small = {"hello.bin", 1000};
  r->add_rv = wr_rpc_client_post(&r->api, "/api/v0/add?cid-version=1", ctype, produce, &small,
                                 collect, &r->got, &status, err, sizeof err);
  copy_out(&r->got, r->add_answer, sizeof r->add_answer);
  /* the CID of 1000 bytes 0..250 repeating, as a raw CIDv1 leaf */
  char cid[128] = "";
  const char *h = strstr(r->add_answer, "\"Hash\":\"");
  if (h)
    sscanf(h + 8, "%127[^\"]", cid);
  char target[512];
  snprintf(target, sizeof target, "/api/v0/cat?arg=%s&offset=10&length=5", cid);
  r->cat_rv = wr_rpc_client_post(&r->api, target, NULL, NULL, NULL, collect, &r->got, &status, err,
                                 sizeof err);
  copy_out(&r->got, r->cat_answer, sizeof r->cat_answer);
  r->pins_rv = wr_rpc_client_post(&r->api, "/api/v0/pin/ls?stream=true", NULL, NULL, NULL, collect,
                                  &r->got, &status, err, sizeof err);
  copy_out(&r->got, r->pins_answer, sizeof r->pins_answer);
  r->nf_rv = wr_rpc_client_post(&r->api, "/api/v0/nope", NULL, NULL, NULL, collect, &r->got,
                                &r->nf_status, err, sizeof err);
  r->bad_rv = wr_rpc_client_post(&r->api, "/api/v0/block/get?arg=xyz", NULL, NULL, NULL, collect,
                                 &r->got, &r->bad_status, r->bad_err, sizeof r->bad_err);
  /* 5 MiB through both buffers: up, then back down */
  upload big = {"big.bin", 5u << 20};
  r->big_rv = wr_rpc_client_post(&r->api, "/api/v0/add?raw-leaves=true", ctype, produce, &big,
                                 collect, &r->got, &status, err, sizeof err);
  char bigcid[128] = "";
  h = strstr((const char *)r->got.data, "\"Hash\":\"");
  if (h)
    sscanf(h + 8, "%127[^\"]", bigcid);
  r->got.len = 0;
  snprintf(target, sizeof target, "/api/v0/cat?arg=%s", bigcid);
  if (!r->big_rv)
    r->big_rv = wr_rpc_client_post(&r->api, target, NULL, NULL, NULL, sum_bytes, r, &status, err,
                                   sizeof err);
  wr_buf_free(&r->got);
  uv_async_send(&r->done_async);
  return NULL;
}

static void on_client_done(uv_async_t *a) { ((run *)a->data)->done = 1; }

static volatile int stopped;
static void on_stopped(void *arg) {
  (void)arg;
  stopped = 1;
}

static void test_node_round_trip(void) {
  char dir[4096];
  tmpdir_make(dir, sizeof dir);
  uv_loop_t loop;
  uv_loop_init(&loop);
  wr_node_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.repo_path = dir;
  cfg.version = "test";
  CHECK_EQ(wr_addr_parse("127.0.0.1:0", &cfg.api, NULL, 0), 0);
  wr_node *n = NULL;
  char err[256];
  CHECK_EQ(wr_node_start(&loop, &cfg, &n, err, sizeof err), 0);
  if (!n)
    return;
  static run r;
  memset(&r, 0, sizeof r);
  wr_node_api_addr(n, &r.api);
  wr_addr from_file;
  CHECK_EQ(wr_api_file_read(dir, &from_file, err, sizeof err), 0);
  CHECK(wr_addr_equal(&from_file, &r.api));
  uv_async_init(&loop, &r.done_async, on_client_done);
  r.done_async.data = &r;
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, client_main, &r), 0);
  CHECK(test_run_until(&loop, test_flag_set, (const void *)&r.done, 60000));
  pthread_join(t, NULL);
  uv_close((uv_handle_t *)&r.done_async, NULL);

  CHECK_EQ(r.add_rv, 0);
  CHECK(strstr(r.add_answer, "{\"Name\":\"hello.bin\",\"Hash\":\"bafkrei") == r.add_answer);
  CHECK(strstr(r.add_answer, "\"Size\":\"1000\"}\n") != NULL);
  CHECK_EQ(r.cat_rv, 0);
  CHECK(memcmp(r.cat_answer, "\x0a\x0b\x0c\x0d\x0e", 5) == 0 && strlen(r.cat_answer) == 5);
  CHECK_EQ(r.pins_rv, 0);
  CHECK(strstr(r.pins_answer, "\"Type\":\"recursive\"") != NULL);
  CHECK_EQ(r.nf_rv, WR_ERR_DENIED);
  CHECK_EQ(r.nf_status, 404);
  CHECK_EQ(r.bad_rv, WR_ERR_DENIED);
  CHECK_EQ(r.bad_status, 500);
  CHECK(strstr(r.bad_err, "invalid CID \"xyz\"") == r.bad_err);
  CHECK_EQ(r.big_rv, 0);
  CHECK_EQ(r.big_len, 5u << 20);

  wr_node_stop(n, on_stopped, NULL);
  CHECK(test_run_until(&loop, test_flag_set, (const void *)&stopped, 20000));
  wr_node_free(n);
  CHECK_EQ(wr_api_file_read(dir, &from_file, err, sizeof err), WR_ERR_NOTFOUND);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(uv_loop_close(&loop), 0);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(test_node_round_trip);
  return test_done();
}
