/* ingress_test: services, rule checks in cloudflared's words, and matching. */
#include "test.h"

#include "tunnel/ingress.h"

static char err[512];

static void add_ok(wr_ingress *ing, const char *host, const char *path, const char *svc) {
  int rv = wr_ingress_add(ing, host, path, svc, NULL, err, sizeof err);
  if (rv)
    fprintf(stderr, "  add %s: %s\n", svc, err);
  CHECK_EQ(rv, 0);
}

static void test_services(void) {
  wr_service s;
  CHECK_EQ(wr_service_parse("http://localhost:8000", &s, err, sizeof err), 0);
  CHECK_EQ(s.type, WR_SERVICE_HTTP);
  CHECK_STREQ(s.host, "localhost");
  CHECK_EQ(s.port, 8000);
  wr_service_free(&s);
  CHECK_EQ(wr_service_parse("HTTPS://[::1]", &s, err, sizeof err), 0);
  CHECK_EQ(s.type, WR_SERVICE_HTTPS);
  CHECK_STREQ(s.host, "::1");
  CHECK_EQ(s.port, 443);
  wr_service_free(&s);
  CHECK_EQ(wr_service_parse("unix:/run/app.sock", &s, err, sizeof err), 0);
  CHECK_EQ(s.type, WR_SERVICE_UNIX);
  CHECK_STREQ(s.path, "/run/app.sock");
  wr_service_free(&s);
  CHECK_EQ(wr_service_parse("http_status:404", &s, err, sizeof err), 0);
  CHECK_EQ(s.type, WR_SERVICE_HTTP_STATUS);
  CHECK_EQ(s.status, 404);
  wr_service_free(&s);
  CHECK_EQ(wr_service_parse("hello_world", &s, err, sizeof err), 0);
  CHECK_EQ(s.type, WR_SERVICE_HELLO_WORLD);
  CHECK_STREQ(s.text, "hello_world");
  wr_service_free(&s);

  CHECK_EQ(wr_service_parse("localhost:8000", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "localhost:8000 is an invalid address, please make sure it has a scheme and a hostname");
  CHECK_EQ(wr_service_parse("http://", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "http:// is an invalid address, please make sure it has a scheme and a hostname");
  CHECK_EQ(wr_service_parse("http://localhost:8000/", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "http://localhost:8000/ is an invalid address, ingress rules don't support "
                   "proxying to a different path on the origin service. The path will be the same "
                   "as the eyeball request's path");
  CHECK_EQ(wr_service_parse("http://localhost:0", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_service_parse("http://localhost:65536", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "http://localhost:65536 is an invalid address: the port must be a number from 1 to 65535");
  CHECK_EQ(wr_service_parse("http_status:99", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "invalid HTTP status code: 99");
  CHECK_EQ(wr_service_parse("http_status:abc", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "invalid HTTP status code: \"abc\" is not a number");
  CHECK_EQ(wr_service_parse("ssh://localhost:22", &s, err, sizeof err), WR_ERR_UNSUPPORTED);
  CHECK_EQ(wr_service_parse("bastion", &s, err, sizeof err), WR_ERR_UNSUPPORTED);
  CHECK_EQ(wr_service_parse("unix:", &s, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_service_parse("", &s, err, sizeof err), WR_ERR_INVAL);
}

static void test_rule_checks(void) {
  wr_ingress ing;
  wr_ingress_init(&ing);
  CHECK_EQ(wr_ingress_add(&ing, "a.example.com:443", NULL, "http://x", NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "Hostname cannot contain a port");
  CHECK_EQ(wr_ingress_add(&ing, "a.*.example.com", NULL, "http://x", NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "Hostname patterns can have at most one wildcard character (\"*\") and it can "
                   "only be used for subdomains, e.g. \"*.example.com\"");
  CHECK_EQ(wr_ingress_add(&ing, "*example.com", NULL, "http://x", NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(wr_ingress_add(&ing, NULL, "((", "http://x", NULL, err, sizeof err), WR_ERR_INVAL);
  CHECK(strncmp(err, "Rule #1 has an invalid regex: ", 30) == 0);
  CHECK_EQ(ing.n, 0);
  size_t bad = 9;
  CHECK_EQ(wr_ingress_validate(&ing, &bad, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "The config file doesn't contain any ingress rules");
  add_ok(&ing, "a.example.com", NULL, "http://x");
  CHECK_EQ(wr_ingress_validate(&ing, &bad, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(bad, 0);
  CHECK_STREQ(err, "The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)");
  add_ok(&ing, "*", NULL, "http://y");
  add_ok(&ing, NULL, NULL, "http_status:404");
  CHECK_EQ(wr_ingress_validate(&ing, &bad, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(bad, 1);
  CHECK_STREQ(err, "Rule #2 is matching the hostname '*', but this will match every hostname, "
                   "meaning the rules which follow it will never be triggered.");
  wr_ingress_free(&ing);
  /* A path makes "*" a filter, so it may come before the catch-all. */
  wr_ingress_init(&ing);
  add_ok(&ing, "*", "^/x", "http://y");
  add_ok(&ing, "*", NULL, "http_status:404");
  CHECK_EQ(wr_ingress_validate(&ing, NULL, err, sizeof err), 0);
  wr_ingress_free(&ing);
}

static void test_regex_limits(void) {
  static const struct {
    const char *re, *why;
  } cases[] = {
      {"a++", "invalid nested repetition operator: `++`"},
      {"a{2}{3}", "invalid nested repetition operator: `{2}{3}`"},
      {"a{1001}", "invalid repeat count: `{1001}`"},
      {"(a)\\1", "invalid escape sequence: `\\1`"},
      {"((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+",
       "the expression repeats too much (nested repeats expand past 20000)"},
      {"((a{200}){200})", "the expression repeats too much (nested repeats expand past 20000)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wr_ingress ing;
    wr_ingress_init(&ing);
    CHECK_EQ(wr_ingress_add(&ing, NULL, cases[i].re, "http://x", NULL, err, sizeof err), WR_ERR_INVAL);
    char want[256];
    snprintf(want, sizeof want, "Rule #1 has an invalid regex: %s", cases[i].why);
    CHECK_STREQ(err, want);
    wr_ingress_free(&ing);
  }
  /* Ordinary patterns pass: classes, brackets with ']' and '+' inside, counts. */
  static const char *const ok[] = {"^/api/(v1|v2)/[a-z]+$", "[]+*]+x", "[[:alnum:]_-]{1,64}\\.html",
                                   "\\++", "a{2,}b?c*", "(a|b)+(c{3})?", "^/x*?",
                                   "(?i)^/api/\\d+", "\\.(?:png|jpe?g)$"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    wr_ingress ing;
    wr_ingress_init(&ing);
    int rv = wr_ingress_add(&ing, NULL, ok[i], "http://x", NULL, err, sizeof err);
    if (rv)
      fprintf(stderr, "  %s: %s\n", ok[i], err);
    CHECK_EQ(rv, 0);
    wr_ingress_free(&ing);
  }
}

static void test_matching(void) {
  wr_ingress ing;
  wr_ingress_init(&ing);
  add_ok(&ing, "App.Example.com", NULL, "http://app:1");
  add_ok(&ing, "*.example.com", "^/api/", "http://api:2");
  add_ok(&ing, "*.example.com", NULL, "http://wild:3");
  add_ok(&ing, NULL, "\\.html$", "http://html:4");
  add_ok(&ing, NULL, NULL, "http_status:404");
  CHECK_EQ(wr_ingress_validate(&ing, NULL, err, sizeof err), 0);
  struct {
    const char *host, *path;
    long want;
  } cases[] = {
      {"app.example.com", "/", 0},
      {"APP.EXAMPLE.COM:8443", "/api/x", 0},  /* exact wins by order, port stripped */
      {"app.example.com.", "/", 0},           /* one trailing dot */
      {"b.example.com", "/api/v1", 1},
      {"b.example.com", "/v1/api/", 2},       /* ^ anchors */
      {"x.y.example.com", "/", 2},            /* wildcard covers several labels */
      {"example.com", "/", 4},                /* but not the bare domain */
      {"badexample.com", "/", 4},             /* nor a name merely ending alike */
      {"other.org", "/index.html", 3},        /* unanchored search in the path */
      {"other.org", "/index.htm", 4},
      {"other.org", "", 4},
      {"[::1]:80", "/a.html", 3},
      {"", "/", 4},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    long got = wr_ingress_match(&ing, cases[i].host, strlen(cases[i].host), cases[i].path);
    if (got != cases[i].want)
      fprintf(stderr, "  case %zu: %s %s -> %ld\n", i, cases[i].host, cases[i].path, got);
    CHECK_EQ(got, cases[i].want);
  }
  wr_buf b;
  wr_buf_init(&b, 1024);
  CHECK_EQ(wr_ingress_rule_describe(&ing.rules[1], &b), 0);
  CHECK_EQ(b.len, strlen("\thostname: *.example.com\n\tpath: ^/api/\n\tservice: http://api:2\n"));
  CHECK_MEMEQ(b.data, "\thostname: *.example.com\n\tpath: ^/api/\n\tservice: http://api:2\n", b.len);
  wr_buf_free(&b);
  wr_ingress_free(&ing);
  CHECK_EQ(wr_ingress_match(&ing, "a", 1, "/"), -1);
}

static void test_origin_request_merge(void) {
  wr_ingress ing;
  wr_ingress_init(&ing);
  CHECK_EQ(ing.defaults.connect_timeout_ns, 30 * UINT64_C(1000000000));
  CHECK_EQ(ing.defaults.keepalive_timeout_ns, 90 * UINT64_C(1000000000));
  CHECK_EQ(ing.defaults.keepalive_connections, 100);
  wr_origin_request top = {0};
  top.set = WR_OR_CONNECT_TIMEOUT | WR_OR_HTTP_HOST_HEADER;
  top.connect_timeout_ns = 5;
  top.http_host_header = "top.example";
  CHECK_EQ(wr_ingress_set_defaults(&ing, &top), 0);
  wr_origin_request rule = {0};
  rule.set = WR_OR_NO_TLS_VERIFY | WR_OR_HTTP_HOST_HEADER;
  rule.no_tls_verify = 1;
  rule.http_host_header = "rule.example";
  CHECK_EQ(wr_ingress_add(&ing, "a.example.com", NULL, "https://x", &rule, err, sizeof err), 0);
  CHECK_EQ(wr_ingress_add(&ing, NULL, NULL, "http://y", NULL, err, sizeof err), 0);
  const wr_origin_request *r0 = &ing.rules[0].config, *r1 = &ing.rules[1].config;
  CHECK_EQ(r0->connect_timeout_ns, 5);
  CHECK_EQ(r0->no_tls_verify, 1);
  CHECK_STREQ(r0->http_host_header, "rule.example");
  CHECK_EQ(r0->keepalive_connections, 100);
  CHECK_EQ(r1->connect_timeout_ns, 5);
  CHECK_EQ(r1->no_tls_verify, 0);
  CHECK_STREQ(r1->http_host_header, "top.example");
  wr_ingress_free(&ing);
}

int main(void) {
  RUN(test_services);
  RUN(test_rule_checks);
  RUN(test_regex_limits);
  RUN(test_matching);
  RUN(test_origin_request_merge);
  return test_done();
}
