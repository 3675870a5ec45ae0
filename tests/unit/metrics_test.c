#include <stdio.h>

#include "base/mem.h"
#include "base/metrics.h"
#include "test.h"

static char *render(wr_metrics *reg, wr_buf *b) {
  wr_buf_reset(b);
  if (wr_metrics_render(reg, b) || wr_buf_append(b, "", 1))
    return NULL;
  return (char *)b->data;
}

static void test_counter_and_gauge(void) {
  wr_metrics *reg = wr_metrics_new();
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  wr_metric *c = wr_metrics_counter(reg, "warren_requests_total", "Requests served.");
  wr_metric *g = wr_metrics_gauge(reg, "warren_udp_rcvbuf_bytes", "Granted receive buffer.");
  wr_metric_inc(c);
  wr_metric_add(c, 2);
  wr_metric_set(g, 8388608);
  CHECK(wr_metrics_counter(reg, "warren_requests_total", "again") == c);
  CHECK_STREQ(render(reg, &b),
              "# HELP warren_requests_total Requests served.\n"
              "# TYPE warren_requests_total counter\n"
              "warren_requests_total 3\n"
              "# HELP warren_udp_rcvbuf_bytes Granted receive buffer.\n"
              "# TYPE warren_udp_rcvbuf_bytes gauge\n"
              "warren_udp_rcvbuf_bytes 8388608\n");
  wr_metric_set(g, 0.25);
  CHECK(strstr(render(reg, &b), "warren_udp_rcvbuf_bytes 0.25\n") != NULL);
  wr_buf_free(&b);
  wr_metrics_del(reg);
}

static void test_labels_and_escaping(void) {
  wr_metrics *reg = wr_metrics_new();
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  wr_metric_family *f = wr_metrics_family(reg, WR_METRIC_COUNTER, "warren_responses_total",
                                          "Responses by\ncode.", "code,path");
  CHECK(f != NULL);
  wr_metric_inc(wr_metric_child(f, "200,/a"));
  wr_metric_inc(wr_metric_child(f, "200,/a"));
  wr_metric_inc(wr_metric_child(f, "502,say \"x\"\\"));
  CHECK_STREQ(render(reg, &b),
              "# HELP warren_responses_total Responses by\\ncode.\n"
              "# TYPE warren_responses_total counter\n"
              "warren_responses_total{code=\"200\",path=\"/a\"} 2\n"
              "warren_responses_total{code=\"502\",path=\"say \\\"x\\\"\\\\\"} 1\n");
  wr_buf_free(&b);
  wr_metrics_del(reg);
}

static void test_alias_renders_the_family_twice(void) {
  wr_metrics *reg = wr_metrics_new();
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  wr_metric_family *f = wr_metrics_family(reg, WR_METRIC_COUNTER, "warren_tunnel_responses_total",
                                          "By code.", "status_code");
  wr_metric_inc(wr_metric_child(f, "200"));
  CHECK_EQ(
      wr_metrics_alias(reg, "warren_tunnel_responses_total", "cloudflared_tunnel_response_by_code"),
      0);
  CHECK_EQ(wr_metrics_alias(reg, "warren_tunnel_responses_total", "bad-name"), WR_ERR_INVAL);
  CHECK_EQ(wr_metrics_alias(reg, "warren_none", "cloudflared_none"), WR_ERR_NOTFOUND);
  CHECK_STREQ(render(reg, &b),
              "# HELP warren_tunnel_responses_total By code.\n"
              "# TYPE warren_tunnel_responses_total counter\n"
              "warren_tunnel_responses_total{status_code=\"200\"} 1\n"
              "# HELP cloudflared_tunnel_response_by_code Same as warren_tunnel_responses_total: "
              "By code.\n"
              "# TYPE cloudflared_tunnel_response_by_code counter\n"
              "cloudflared_tunnel_response_by_code{status_code=\"200\"} 1\n");
  wr_buf_free(&b);
  wr_metrics_del(reg);
}

static void test_bad_names_refused(void) {
  wr_metrics *reg = wr_metrics_new();
  CHECK(wr_metrics_family(reg, WR_METRIC_GAUGE, "9lives", "", NULL) == NULL);
  CHECK(wr_metrics_family(reg, WR_METRIC_GAUGE, "bad-name", "", NULL) == NULL);
  CHECK(wr_metrics_family(reg, WR_METRIC_GAUGE, "ok", "", "bad label") == NULL);
  CHECK(wr_metrics_family(reg, WR_METRIC_GAUGE, "ok", "", "a,b,c,d,e") == NULL);
  wr_metric_inc(NULL); /* ignored */
  wr_metrics_del(reg);
}

static void test_child_cap_overflows(void) {
  wr_metrics *reg = wr_metrics_new();
  wr_buf b;
  wr_buf_init(&b, 1 << 22);
  wr_metric_family *f = wr_metrics_family(reg, WR_METRIC_COUNTER, "x_total", "", "peer");
  char v[32];
  for (int i = 0; i < WR_METRICS_MAX_CHILDREN + 10; i++) {
    snprintf(v, sizeof v, "p%d", i);
    wr_metric_inc(wr_metric_child(f, v));
  }
  const char *text = render(reg, &b);
  CHECK(strstr(text, "x_total{peer=\"_overflow\"} 10\n") != NULL);
  CHECK(strstr(text, "warren_metrics_label_overflow_total 10\n") != NULL);
  wr_buf_free(&b);
  wr_metrics_del(reg);
}

/* Fails each allocation in turn: every step must either work or report
 * failure, and (under ASan) leak nothing. */
static void test_alloc_failures_unwind(void) {
  int completed = 0;
  for (long n = 0; n < 12; n++) {
    wr_mem_fail_after(n);
    wr_metrics *reg = wr_metrics_new();
    wr_metric *m = NULL;
    if (reg)
      m = wr_metric_child(wr_metrics_family(reg, WR_METRIC_GAUGE, "g", "h", "a,b"), "1,2");
    wr_metric_set(m, 1);
    wr_mem_fail_after(-1);
    if (n == 0)
      CHECK(reg == NULL);
    if (m) {
      CHECK_EQ(wr_metric_value(m), 1);
      completed++;
    }
    wr_metrics_del(reg);
  }
  CHECK(completed > 0 && completed < 12);
}

int main(void) {
  RUN(test_counter_and_gauge);
  RUN(test_labels_and_escaping);
  RUN(test_alias_renders_the_family_twice);
  RUN(test_bad_names_refused);
  RUN(test_child_cap_overflows);
  RUN(test_alloc_failures_unwind);
  return test_done();
}
