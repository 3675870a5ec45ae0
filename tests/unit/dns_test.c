/* dns_test.c: io/dns against the machine's own resolver: numeric
 * addresses, localhost, a name that cannot exist (RFC 6761 .invalid), bad
 * input and cancellation. */
#include "io/dns.h"

#include <string.h>
#include <uv.h>

#include "loop_testutil.h"
#include "test.h"

typedef struct answer {
  int done;
  int status;
  size_t naddrs;
  wr_addr first;
  char err[400];
} answer;

static void on_answer(int status, const wr_addr *addrs, size_t naddrs, const char *err,
                      void *arg) {
  answer *a = arg;
  a->done++;
  a->status = status;
  a->naddrs = naddrs;
  if (naddrs)
    a->first = addrs[0];
  snprintf(a->err, sizeof a->err, "%s", err);
}

/* Resolves hostport on a fresh loop, bounded to 10 s. */
static void resolve(const char *hostport, answer *a) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  memset(a, 0, sizeof *a);
  char err[200];
  CHECK_EQ(wr_dns_resolve(&loop, hostport, on_answer, a, NULL, err, sizeof err), 0);
  test_run_until(&loop, test_flag_set, &a->done, 10000);
  CHECK_EQ(a->done, 1);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_numeric(void) {
  answer a;
  char s[WR_ADDR_STRLEN];
  resolve("127.0.0.1:7844", &a);
  CHECK_EQ(a.status, 0);
  CHECK_EQ(a.naddrs, 1);
  CHECK_STREQ(a.err, "");
  CHECK_STREQ(wr_addr_format(&a.first, s, sizeof s), "127.0.0.1:7844");
}

static void test_localhost(void) {
  answer a;
  resolve("localhost:443", &a);
  CHECK_EQ(a.status, 0);
  CHECK(a.naddrs >= 1);
  CHECK_EQ(wr_addr_port(&a.first), 443);
  char ip[WR_ADDR_STRLEN];
  wr_addr_format_ip(&a.first, ip, sizeof ip);
  CHECK(strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0);
}

static void test_not_found(void) {
  answer a;
  resolve("no-such-host.invalid:443", &a);
  CHECK_EQ(a.status, WR_ERR_NOTFOUND);
  CHECK_EQ(a.naddrs, 0);
  CHECK(strncmp(a.err, "cannot resolve no-such-host.invalid: ", 37) == 0);
}

static void test_bad_input(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[200];
  answer a = {0};
  CHECK_EQ(wr_dns_resolve(&loop, "no-port", on_answer, &a, NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "\"no-port\" is not HOST:PORT");
  CHECK_EQ(wr_dns_resolve(&loop, "::1:443", on_answer, &a, NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_dns_resolve(&loop, "host:0", on_answer, &a, NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_dns_resolve(&loop, "host:65536", on_answer, &a, NULL, err, sizeof err),
           WR_ERR_INVAL);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(a.done, 0); /* a refused request never calls back */
  CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_split(void) {
  char host[WR_DNS_MAX_HOST];
  uint16_t port = 0;
  CHECK_EQ(wr_dns_split_hostport("[2001:db8::1]:7844", host, sizeof host, &port), 0);
  CHECK_STREQ(host, "2001:db8::1");
  CHECK_EQ(port, 7844);
  CHECK_EQ(wr_dns_split_hostport("edge.example.com:1", host, sizeof host, &port), 0);
  CHECK_STREQ(host, "edge.example.com");
  CHECK_EQ(port, 1);
  CHECK_EQ(wr_dns_split_hostport("a b:1", NULL, 0, NULL), WR_ERR_INVAL);
  CHECK_EQ(wr_dns_split_hostport("[]:1", NULL, 0, NULL), WR_ERR_INVAL);
  CHECK_EQ(wr_dns_split_hostport(":1", NULL, 0, NULL), WR_ERR_INVAL);
  CHECK_EQ(wr_dns_split_hostport("abcdef:1", host, 4, NULL), WR_ERR_INVAL);
}

static void test_cancel(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  answer a = {0};
  wr_dns_req *req = NULL;
  CHECK_EQ(wr_dns_resolve(&loop, "localhost:80", on_answer, &a, &req, NULL, 0), 0);
  wr_dns_cancel(req);
  test_run_until(&loop, test_flag_set, &a.done, 10000);
  CHECK_EQ(a.done, 1);
  CHECK_EQ(a.status, WR_ERR_CLOSED);
  CHECK_EQ(a.naddrs, 0);
  CHECK_STREQ(a.err, "resolving localhost was cancelled");
  CHECK_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  RUN(test_split);
  RUN(test_bad_input);
  RUN(test_numeric);
  RUN(test_localhost);
  RUN(test_not_found);
  RUN(test_cancel);
  return test_done();
}
