/* dnslink_resolver_test.c: the DNSLink resolver and the c-ares glue under it
 * (io/dnslink_resolver, io/dnstxt) on a real loop, against a small DNS server
 * on a loopback UDP socket in the same loop: answers come later than the
 * call, cached answers too; cancel and close end lookups at once with
 * WR_ERR_CLOSED; closing from inside a callback is safe; the cache is bounded;
 * the loop ends with no handle left. */
#include "io/dnslink_resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/metrics.h"
#include "test.h"

#define CID1 "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"

/* The server: name -> TXT value; "silent" names get no answer, others NXDOMAIN. */
static const char *const zone[][2] = {
    {"_dnslink.a.test", "dnslink=/ipns/b.test/x"},
    {"_dnslink.b.test", "dnslink=/ipfs/" CID1 "/y"},
    {"_dnslink.c.test", "dnslink=/ipfs/" CID1},
    {"_dnslink.d.test", "dnslink=/ipfs/" CID1 "/d"},
};

typedef struct server {
  int fd;
  uv_poll_t poll;
  uint16_t port;
  int queries;
} server;

static void answer(server *s) {
  uint8_t q[512], r[1024];
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom(s->fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
  if (n < 17)
    return;
  s->queries++;
  char name[256];
  size_t off = 12, o = 0;
  while (off < (size_t)n && q[off]) {
    size_t len = q[off];
    if (o)
      name[o++] = '.';
    memcpy(name + o, q + off + 1, len);
    o += len;
    off += 1 + len;
  }
  name[o] = '\0';
  size_t qend = off + 1 + 4; /* the question ends after QTYPE and QCLASS */
  if (strstr(name, "silent"))
    return;
  const char *value = NULL;
  for (size_t i = 0; i < sizeof zone / sizeof zone[0]; i++)
    if (strcmp(zone[i][0], name) == 0)
      value = zone[i][1];
  memcpy(r, q, qend);
  r[2] = 0x81;
  r[3] = value ? 0x80 : 0x83;
  r[4] = 0, r[5] = 1, r[6] = 0, r[7] = value ? 1 : 0;
  memset(r + 8, 0, 4); /* no authority or additional (the query's EDNS is dropped) */
  size_t m = qend;
  if (value) {
    size_t vl = strlen(value);
    uint8_t rr[] = {0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 30, 0, (uint8_t)(vl + 1), (uint8_t)vl};
    memcpy(r + m, rr, sizeof rr);
    m += sizeof rr;
    memcpy(r + m, value, vl);
    m += vl;
  }
  (void)sendto(s->fd, r, m, 0, (struct sockaddr *)&from, fl);
}

static void server_cb(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  answer(p->data);
}

static void server_start(uv_loop_t *loop, server *s) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  memset(s, 0, sizeof *s);
  s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  CHECK(bind(s->fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(getsockname(s->fd, (struct sockaddr *)&a, &al) == 0);
  s->port = ntohs(a.sin_port);
  uv_poll_init(loop, &s->poll, s->fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, server_cb);
}

static void server_closed(uv_handle_t *h) { close(((server *)h->data)->fd); }
static void server_stop(server *s) { uv_close((uv_handle_t *)&s->poll, server_closed); }

typedef struct result {
  int calls;
  int status;
  int inside; /* set while the call that started it runs */
  int called_inside;
  char path[2048];
  char err[1024];
  wr_dnslink_resolver *close_res; /* close this resolver from the callback */
  wr_dnslink_req *cancel_req;     /* cancel this request from the callback */
} result;

static int closed_count;
static void on_closed(void *arg) {
  (void)arg;
  closed_count++;
}

static void done(int status, const char *path, const char *err, void *arg) {
  result *r = arg;
  r->calls++;
  r->status = status;
  r->called_inside |= r->inside;
  snprintf(r->path, sizeof r->path, "%s", path);
  snprintf(r->err, sizeof r->err, "%s", err);
  if (r->close_res)
    wr_dnslink_resolver_close(r->close_res, on_closed, NULL);
  if (r->cancel_req)
    wr_dnslink_cancel(r->cancel_req);
}

static int start(wr_dnslink_resolver *res, const char *host, int rec, result *r,
                 wr_dnslink_req **preq) {
  r->inside = 1;
  int rv = wr_dnslink_resolve(res, host, rec, done, r, preq);
  r->inside = 0;
  return rv;
}

/* Runs the loop until *flag is set (at most 5 s). UV_RUN_ONCE would block in
 * poll after the timer that sets it, since the server's poll stays active. */
static void run_until(uv_loop_t *loop, const int *flag) {
  for (int i = 0; i < 5000 && !*flag; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (!*flag)
      usleep(1000);
  }
}

static wr_dnslink_resolver *new_res(uv_loop_t *loop, server *s, size_t entries, wr_metrics *m) {
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", s->port);
  wr_dnslink_cfg cfg = {.server = addr, .timeout_ms = 3000, .cache_entries = entries, .metrics = m};
  wr_dnslink_resolver *res = NULL;
  CHECK_EQ(wr_dnslink_resolver_new(loop, &cfg, &res, err, sizeof err), 0);
  return res;
}

static void finish_loop(uv_loop_t *loop, server *s) {
  server_stop(s);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(loop), 0);
}

static void test_resolve_and_cache(void) {
  uv_loop_t loop;
  server s;
  uv_loop_init(&loop);
  server_start(&loop, &s);
  wr_metrics *m = wr_metrics_new();
  wr_dnslink_resolver *res = new_res(&loop, &s, 0, m);
  result r = {0};
  char out[2048], err[512];
  CHECK_EQ(wr_dnslink_cached(res, "a.test", 1, out, sizeof out, err, sizeof err), WR_ERR_AGAIN);
  CHECK_EQ(start(res, "A.test:8080", 1, &r, NULL), 0);
  CHECK_EQ(r.calls, 0);
  run_until(&loop, &r.calls);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 0);
  CHECK_STREQ(r.path, "/ipfs/" CID1 "/y/x");
  CHECK_EQ(s.queries, 2);
  /* now every step is cached: no query, and still not from inside the call */
  CHECK_EQ(wr_dnslink_cached(res, "a.test.", 1, out, sizeof out, err, sizeof err), 0);
  CHECK_STREQ(out, "/ipfs/" CID1 "/y/x");
  CHECK_EQ(wr_dnslink_cached(res, "a.test", 0, out, sizeof out, err, sizeof err), 0);
  CHECK_STREQ(out, "/ipns/b.test/x");
  result r2 = {0};
  CHECK_EQ(start(res, "a.test", 1, &r2, NULL), 0);
  CHECK_EQ(r2.calls, 0);
  run_until(&loop, &r2.calls);
  CHECK_EQ(r2.called_inside, 0);
  CHECK_STREQ(r2.path, "/ipfs/" CID1 "/y/x");
  CHECK_EQ(s.queries, 2);
  /* NXDOMAIN for _dnslink.n.test and n.test, then cached as a failure */
  result r3 = {0};
  CHECK_EQ(start(res, "n.test", 1, &r3, NULL), 0);
  run_until(&loop, &r3.calls);
  CHECK_EQ(r3.status, WR_ERR_NOTFOUND);
  CHECK(strstr(r3.err, "_dnslink.n.test does not exist (NXDOMAIN") != NULL);
  CHECK_EQ(s.queries, 4);
  CHECK_EQ(wr_dnslink_cached(res, "n.test", 1, out, sizeof out, err, sizeof err), WR_ERR_NOTFOUND);
  /* a bad host is reported through the callback */
  result r4 = {0};
  CHECK_EQ(start(res, "10.0.0.1", 1, &r4, NULL), 0);
  CHECK_EQ(r4.calls, 0);
  run_until(&loop, &r4.calls);
  CHECK_EQ(r4.status, WR_ERR_INVAL);
  wr_metric_family *f =
      wr_metrics_family(m, WR_METRIC_COUNTER, "warren_dnslink_cache_lookups_total", "", "result");
  CHECK(wr_metric_value(wr_metric_child(f, "hit")) >= 2);
  CHECK(wr_metric_value(wr_metric_child(f, "miss")) >= 3);
  closed_count = 0;
  wr_dnslink_resolver_close(res, on_closed, NULL);
  CHECK_EQ(closed_count, 0);
  finish_loop(&loop, &s);
  CHECK_EQ(closed_count, 1);
  wr_metrics_del(m);
}

static void test_cancel_and_close_pending(void) {
  uv_loop_t loop;
  server s;
  uv_loop_init(&loop);
  server_start(&loop, &s);
  wr_dnslink_resolver *res = new_res(&loop, &s, 0, NULL);
  result r1 = {0}, r2 = {0}, r3 = {0};
  wr_dnslink_req *req = NULL;
  uint64_t t0 = uv_hrtime();
  CHECK_EQ(start(res, "silent.test", 1, &r1, &req), 0);
  CHECK_EQ(start(res, "silent2.test", 1, &r2, NULL), 0);
  CHECK_EQ(start(res, "c.test", 1, &r3, NULL), 0);
  wr_dnslink_cancel(req);
  run_until(&loop, &r1.calls);
  CHECK_EQ(r1.status, WR_ERR_CLOSED);
  CHECK(strstr(r1.err, "cancelled") != NULL);
  run_until(&loop, &r3.calls);
  CHECK_EQ(r3.status, 0);
  CHECK_EQ(r2.calls, 0);
  closed_count = 0;
  wr_dnslink_resolver_close(res, on_closed, NULL);
  CHECK_EQ(r2.calls, 0); /* nothing from inside close */
  finish_loop(&loop, &s);
  CHECK_EQ(r2.calls, 1);
  CHECK_EQ(r2.status, WR_ERR_CLOSED);
  CHECK_EQ(closed_count, 1);
  CHECK(uv_hrtime() - t0 < 2000000000ull); /* well before the 3 s budget */
}

static void test_close_from_callback(void) {
  uv_loop_t loop;
  server s;
  uv_loop_init(&loop);
  server_start(&loop, &s);
  wr_dnslink_resolver *res = new_res(&loop, &s, 0, NULL);
  result r1 = {0}, r2 = {0};
  r1.close_res = res; /* closes while c-ares is still calling back */
  closed_count = 0;
  CHECK_EQ(start(res, "c.test", 1, &r1, NULL), 0);
  CHECK_EQ(start(res, "silent.test", 1, &r2, NULL), 0);
  run_until(&loop, &r1.calls);
  CHECK_EQ(r1.status, 0);
  finish_loop(&loop, &s);
  CHECK_EQ(r2.status, WR_ERR_CLOSED);
  CHECK_EQ(closed_count, 1);
}

/* Requests for one uncached host share one DNS lookup; a request cancelled
 * while it waits, or while the lookup's waiters are being served, ends with
 * WR_ERR_CLOSED and the others get the answer. */
static void test_shared_lookup(void) {
  uv_loop_t loop;
  server s;
  uv_loop_init(&loop);
  server_start(&loop, &s);
  wr_dnslink_resolver *res = new_res(&loop, &s, 0, NULL);
  result r[5];
  wr_dnslink_req *req[5];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(start(res, "c.test", 1, &r[i], &req[i]), 0);
  wr_dnslink_cancel(req[1]);
  CHECK_EQ(r[1].calls, 0); /* not from inside cancel */
  /* waiters are served in order: r[0]'s callback cancels r[4], which is
   * already off the lookup but not served yet */
  r[0].cancel_req = req[4];
  for (int i = 0; i < 5; i++)
    run_until(&loop, &r[i].calls);
  CHECK_EQ(s.queries, 1); /* _dnslink.c.test, once */
  CHECK_EQ(r[1].status, WR_ERR_CLOSED);
  CHECK_EQ(r[4].status, WR_ERR_CLOSED);
  int order[] = {0, 2, 3};
  for (int k = 0; k < 3; k++) {
    CHECK_EQ(r[order[k]].calls, 1);
    CHECK_EQ(r[order[k]].status, 0);
    CHECK_STREQ(r[order[k]].path, "/ipfs/" CID1);
  }
  CHECK_EQ(r[1].calls, 1);
  CHECK_EQ(r[4].calls, 1);
  /* a chain: every request follows a.test -> b.test, each step asked once */
  memset(r, 0, sizeof r);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(start(res, "a.test", 1, &r[i], &req[i]), 0);
  for (int i = 0; i < 5; i++) {
    run_until(&loop, &r[i].calls);
    CHECK_STREQ(r[i].path, "/ipfs/" CID1 "/y/x");
  }
  CHECK_EQ(s.queries, 3);
  wr_dnslink_resolver_close(res, NULL, NULL);
  finish_loop(&loop, &s);
}

static void test_cache_bound(void) {
  uv_loop_t loop;
  server s;
  uv_loop_init(&loop);
  server_start(&loop, &s);
  wr_dnslink_resolver *res = new_res(&loop, &s, 2, NULL);
  const char *names[] = {"b.test", "c.test", "b.test", "d.test"};
  char out[2048], err[512];
  for (size_t i = 0; i < 4; i++) {
    result r = {0};
    CHECK_EQ(start(res, names[i], 1, &r, NULL), 0);
    run_until(&loop, &r.calls);
    CHECK_EQ(r.status, 0);
  }
  /* two entries: c.test, used least recently, made room for d.test */
  CHECK_EQ(s.queries, 3);
  CHECK_EQ(wr_dnslink_cached(res, "b.test", 1, out, sizeof out, err, sizeof err), 0);
  CHECK_EQ(wr_dnslink_cached(res, "d.test", 1, out, sizeof out, err, sizeof err), 0);
  CHECK_EQ(wr_dnslink_cached(res, "c.test", 1, out, sizeof out, err, sizeof err), WR_ERR_AGAIN);
  wr_dnslink_resolver_close(res, NULL, NULL);
  finish_loop(&loop, &s);
}

static void test_host_name(void) {
  char out[254];
  const char *why = NULL;
  CHECK_EQ(wr_dnslink_host_name("Example.COM:443", out, &why), 0);
  CHECK_STREQ(out, "example.com");
  CHECK_EQ(wr_dnslink_host_name("example.com.", out, &why), 0);
  CHECK_STREQ(out, "example.com");
  CHECK_EQ(wr_dnslink_host_name("[::1]:80", out, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "an IP address has no DNSLink");
  CHECK_EQ(wr_dnslink_host_name("192.168.1.1", out, &why), WR_ERR_INVAL);
  CHECK_EQ(wr_dnslink_host_name("a:b", out, &why), WR_ERR_INVAL);
  CHECK_EQ(wr_dnslink_host_name("bad_name.test", out, &why), WR_ERR_INVAL);
  CHECK_EQ(wr_dnslink_host_name("", out, &why), WR_ERR_INVAL);
}

int main(void) {
  RUN(test_resolve_and_cache);
  RUN(test_cancel_and_close_pending);
  RUN(test_close_from_callback);
  RUN(test_shared_lookup);
  RUN(test_cache_bound);
  RUN(test_host_name);
  return test_done();
}
