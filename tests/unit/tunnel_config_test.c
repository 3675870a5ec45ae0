/* tunnel_config_test: config.yml into a struct, and every error with its
 * exact "FILE:LINE:COL: sentence"; Go durations. */
#include "test.h"

#include "tunnel/credentials.h"
#include "tunnel/tunnel_config.h"
#include "proto/text/yamldoc.h"
#include "base/mem.h"

#define S_NS UINT64_C(1000000000)

static char err[768];

static int parse(const char *text, wr_tunnel_config *c) {
  wr_tunnel_config_init(c);
  err[0] = 0;
  return wr_tunnel_config_parse(text, strlen(text), "c.yml", c, err, sizeof err);
}

/* Asserts that text fails with code and exactly msg. */
static void bad(const char *text, int code, const char *msg) {
  wr_tunnel_config c;
  int rv = parse(text, &c);
  CHECK_EQ(rv, code);
  CHECK_STREQ(err, msg);
  wr_tunnel_config_free(&c);
}

static void test_full(void) {
  const char *text =
      "tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\n"
      "credentials-file: /etc/warren/web.json\n"
      "no-autoupdate: true\n"
      "originRequest:\n"
      "  connectTimeout: 1m30s\n"
      "  keepAliveConnections: 8\n"
      "ingress:\n"
      "  - hostname: app.example.com\n"
      "    service: http://localhost:8000\n"
      "    originRequest:\n"
      "      noTLSVerify: yes\n"
      "      httpHostHeader: internal\n"
      "      keepAliveTimeout: 500ms\n"
      "      unknownThing: 1\n"
      "  - service: http_status:404\n"
      "edge:\n"
      "  - 127.0.0.1:7844\n"
      "  - \"[::1]:7844\"\n"
      "edge-fingerprint: \"AB:\"\n"
      "ha-connections: 2\n"
      "protocol: quic\n"
      "metrics: localhost:2000\n"
      "grace-period: 5s\n"
      "loglevel: debug\n";
  /* The fingerprint above is too short: first the error... */
  wr_tunnel_config c;
  CHECK_EQ(parse(text, &c), WR_ERR_INVAL);
  CHECK_STREQ(err, "c.yml:19:19: edge-fingerprint must be the SHA-256 of the edge certificate as "
                   "64 hex digits (colons allowed)");
  wr_tunnel_config_free(&c);
  /* ...then with a real one, everything lands. */
  char fixed[2048];
  const char *at = strstr(text, "\"AB:\"");
  snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - text),
           text, "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef", at + 5);
  CHECK_EQ(parse(fixed, &c), 0);
  CHECK_STREQ(c.tunnel, "6ff42ae2-765d-4adf-8112-31c55c1551ef");
  CHECK_STREQ(c.credentials_file, "/etc/warren/web.json");
  CHECK_EQ(c.ingress.n, 2);
  CHECK_EQ(c.rule_line[0], 8);
  CHECK_EQ(c.rule_line[1], 15);
  const wr_origin_request *r0 = &c.ingress.rules[0].config, *r1 = &c.ingress.rules[1].config;
  CHECK_EQ(r0->connect_timeout_ns, 90 * S_NS);
  CHECK_EQ(r0->keepalive_connections, 8);
  CHECK_EQ(r0->no_tls_verify, 1);
  CHECK_STREQ(r0->http_host_header, "internal");
  CHECK_EQ(r0->keepalive_timeout_ns, 500 * UINT64_C(1000000));
  CHECK_EQ(r1->keepalive_timeout_ns, 90 * S_NS); /* cloudflared's default */
  CHECK_EQ(r1->no_tls_verify, 0);
  CHECK_EQ(r1->tls_timeout_ns, 10 * S_NS);
  CHECK_EQ(c.nedges, 2);
  CHECK_STREQ(c.edges[1], "[::1]:7844");
  CHECK_EQ(c.has_fingerprint, 1);
  CHECK_EQ(c.edge_fingerprint[0], 0x01);
  CHECK_EQ(c.edge_fingerprint[31], 0xef);
  CHECK_EQ(c.ha_connections, 2);
  CHECK_EQ(c.protocol, WR_PROTOCOL_QUIC);
  CHECK_STREQ(c.metrics, "localhost:2000");
  CHECK_EQ(c.grace_period_ns, 5 * S_NS);
  CHECK_EQ(c.loglevel, WR_LOG_DEBUG);
  CHECK_EQ(c.warnings.len, strlen("3:1: no-autoupdate\n14:7: originRequest.unknownThing\n"));
  CHECK_MEMEQ(c.warnings.data, "3:1: no-autoupdate\n14:7: originRequest.unknownThing\n",
              c.warnings.len);
  CHECK_EQ(wr_tunnel_config_validate_ingress(&c, err, sizeof err), 0);
  wr_tunnel_config_free(&c);
}

static void test_defaults_and_empty(void) {
  wr_tunnel_config c;
  CHECK_EQ(parse("", &c), 0);
  CHECK_EQ(c.ha_connections, 4);
  CHECK_EQ(c.protocol, WR_PROTOCOL_AUTO);
  CHECK_EQ(c.grace_period_ns, 30 * S_NS);
  CHECK_EQ(c.ingress.n, 0);
  CHECK_EQ(wr_tunnel_config_validate_ingress(&c, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "c.yml: The config file doesn't contain any ingress rules");
  wr_tunnel_config_free(&c);
  CHECK_EQ(parse("edge: 10.0.0.1:7844\nurl: http://localhost:80\n", &c), 0);
  CHECK_EQ(c.nedges, 1);
  CHECK_STREQ(c.url, "http://localhost:80");
  wr_tunnel_config_free(&c);
}

static void test_errors(void) {
  bad("ingress: [\n", WR_ERR_MALFORMED,
      "c.yml:2:1: invalid YAML: did not find expected node content while parsing a flow node");
  bad("a: 1\n---\nb: 2\n", WR_ERR_MALFORMED,
      "c.yml:3:1: a second YAML document; put everything in one");
  bad("- 1\n", WR_ERR_INVAL, "c.yml:1:1: the config must be a mapping of keys to values, not a list");
  bad("tunnel: a\ntunnel: b\n", WR_ERR_INVAL,
      "c.yml:2:1: duplicate key \"tunnel\" in the config (first at line 1)");
  bad("tunnel: [a]\n", WR_ERR_INVAL, "c.yml:1:9: tunnel must be a string, not a list");
  bad("tunnel: \"\"\n", WR_ERR_INVAL, "c.yml:1:9: tunnel must not be empty");
  bad("ha-connections: 0\n", WR_ERR_INVAL, "c.yml:1:17: ha-connections must be between 1 and 64, not 0");
  bad("ha-connections: four\n", WR_ERR_INVAL,
      "c.yml:1:17: ha-connections must be a whole number, not \"four\"");
  bad("protocol: h3\n", WR_ERR_INVAL, "c.yml:1:11: protocol must be auto, quic or http2, not \"h3\"");
  bad("grace-period: 30\n", WR_ERR_INVAL,
      "c.yml:1:15: grace-period must be a duration such as 30s, 1m30s or 500ms, not \"30\"");
  bad("loglevel: loud\n", WR_ERR_INVAL,
      "c.yml:1:11: loglevel must be debug, info, warn or error, not \"loud\"");
  bad("metrics: 2000\n", WR_ERR_INVAL, "c.yml:1:10: metrics must be ADDR:PORT, e.g. 127.0.0.1:2000, not \"2000\"");
  bad("edge: [a.example:0]\n", WR_ERR_INVAL,
      "c.yml:1:8: edge address \"a.example:0\" is not ADDR:PORT (e.g. edge.example.com:7844 or "
      "[2001:db8::1]:7844)");
  bad("edge: []\n", WR_ERR_INVAL, "c.yml:1:7: edge must list at least one address");
  bad("edge-ca: a.crt\nedge-fingerprint: "
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
      WR_ERR_INVAL, "c.yml:2:19: give edge-ca or edge-fingerprint, not both");
  bad("originRequest:\n  noTLSVerify: maybe\n", WR_ERR_INVAL,
      "c.yml:2:16: noTLSVerify must be true or false, not \"maybe\"");
  bad("originRequest:\n  connectTimeout: 10x\n", WR_ERR_INVAL,
      "c.yml:2:19: connectTimeout must be a duration such as 30s, 1m30s or 500ms, not \"10x\"");
  bad("originRequest: 5\n", WR_ERR_INVAL,
      "c.yml:1:16: originRequest must be a mapping of keys to values, not a value");
  bad("ingress: {a: 1}\n", WR_ERR_INVAL, "c.yml:1:10: ingress must be a list of rules");
  bad("ingress:\n  - hostname: a.example.com\n", WR_ERR_INVAL,
      "c.yml:2:5: Rule #1 has no service (add one, e.g. service: http://localhost:8000)");
  bad("ingress:\n  - service: localhost:8000\n", WR_ERR_INVAL,
      "c.yml:2:14: localhost:8000 is an invalid address, please make sure it has a scheme and a "
      "hostname");
  bad("ingress:\n  - service: http://x\n    hostname: a.example.com:80\n", WR_ERR_INVAL,
      "c.yml:3:15: Hostname cannot contain a port");
  bad("ingress:\n  - service: http://x\n    path: \"[a\"\n", WR_ERR_INVAL,
      "c.yml:3:11: Rule #1 has an invalid regex: missing closing ]: `[a`");
  bad("ingress:\n  - service: tcp://x:22\n", WR_ERR_UNSUPPORTED,
      "c.yml:2:14: tcp://x:22: warren does not support tcp:// services (use http://, https://, "
      "unix:, http_status: or hello_world)");
  bad("ingress:\n  - service: http://x\n    service: http://y\n", WR_ERR_INVAL,
      "c.yml:3:5: duplicate key \"service\" in ingress rule #1 (first at line 2)");
}

static void test_whole_list_errors(void) {
  wr_tunnel_config c;
  CHECK_EQ(parse("ingress:\n  - service: http://x\n  - hostname: a.example.com\n    service: http://y\n", &c), 0);
  CHECK_EQ(wr_tunnel_config_validate_ingress(&c, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "c.yml:2:5: Rule #1 is matching the hostname '', but this will match every "
                   "hostname, meaning the rules which follow it will never be triggered.");
  wr_tunnel_config_free(&c);
  CHECK_EQ(parse("ingress:\n  - hostname: a.example.com\n    service: http://y\n", &c), 0);
  CHECK_EQ(wr_tunnel_config_validate_ingress(&c, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "c.yml:2:5: The last ingress rule must match all URLs (i.e. it should not have a "
                   "hostname or path filter)");
  wr_tunnel_config_free(&c);
}

static void test_durations(void) {
  struct {
    const char *s;
    uint64_t ns;
  } ok[] = {{"0", 0},
            {"30s", 30 * S_NS},
            {"1m30s", 90 * S_NS},
            {"1.5h", 5400 * S_NS},
            {"500ms", 500000000},
            {"1us", 1000},
            {"1\xc2\xb5s", 1000},
            {"2h45m", 9900 * S_NS},
            {".5s", 500000000},
            {"10ns", 10}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    uint64_t v = 1;
    CHECK_EQ(wr_duration_parse(ok[i].s, &v), 0);
    CHECK_EQ(v, ok[i].ns);
  }
  static const char *const bad_d[] = {"", "30", "s", "1x", "-1s", "1.s.", "1m30", " 1s", "1 s"};
  for (size_t i = 0; i < sizeof bad_d / sizeof bad_d[0]; i++) {
    uint64_t v;
    CHECK_EQ(wr_duration_parse(bad_d[i], &v), WR_ERR_INVAL);
  }
  uint64_t v;
  CHECK_EQ(wr_duration_parse("9999999999h", &v), WR_ERR_LIMIT);
  char out[64];
  struct {
    uint64_t ns;
    const char *s;
  } fmt[] = {{0, "0s"},        {90 * S_NS, "1m30s"}, {30 * S_NS, "30s"}, {3600 * S_NS, "1h0m0s"},
             {1500000000, "1.5s"}, {500000000, "500ms"}, {1500, "1.5\xc2\xb5s"}, {7, "7ns"}};
  for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
    wr_duration_format(fmt[i].ns, out, sizeof out);
    CHECK_STREQ(out, fmt[i].s);
  }
}

static void test_alloc_failures(void) {
  const char *text = "tunnel: t\nedge: [a:1]\noriginRequest: {httpHostHeader: h}\ningress:\n"
                     "  - hostname: a.example.com\n    path: ^/x\n    service: http://x\n"
                     "  - service: hello_world\n";
  for (long n = 0; n < 80; n++) {
    wr_tunnel_config c;
    wr_tunnel_config_init(&c);
    wr_mem_fail_after(n);
    int rv = wr_tunnel_config_parse(text, strlen(text), "c.yml", &c, err, sizeof err);
    wr_mem_fail_after(-1);
    CHECK(rv == 0 || rv == WR_ERR_NOMEM);
    if (rv == 0)
      CHECK_EQ(c.ingress.n, 2);
    wr_tunnel_config_free(&c);
  }
}

static void test_hostport(void) {
  CHECK_EQ(wr_hostport_check("a:1"), 0);
  CHECK_EQ(wr_hostport_check("[::1]:65535"), 0);
  CHECK_EQ(wr_hostport_check("::1:80"), WR_ERR_INVAL);
  CHECK_EQ(wr_hostport_check("a:65536"), WR_ERR_INVAL);
  CHECK_EQ(wr_hostport_check(":80"), WR_ERR_INVAL);
  CHECK_EQ(wr_hostport_check("a:"), WR_ERR_INVAL);
  CHECK_EQ(wr_hostport_check("[]:80"), WR_ERR_INVAL);
}

static void test_url_and_credentials(void) {
  wr_tunnel_config c;
  CHECK_EQ(parse("tunnel: web\n", &c), 0);
  CHECK_EQ(wr_tunnel_config_use_url(&c, "http://localhost:8080", err, sizeof err), 0);
  CHECK_EQ(c.ingress.n, 1);
  CHECK_EQ(wr_tunnel_config_validate_ingress(&c, err, sizeof err), 0);
  CHECK_EQ(wr_ingress_match(&c.ingress, "x.example", 9, "/"), 0);
  CHECK_EQ(wr_tunnel_config_use_url(&c, "http://localhost:8081", err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "You can't set the --url flag (or $TUNNEL_URL) when using multiple-origin ingress rules");
  wr_credentials cred;
  memset(&cred, 0, sizeof cred);
  cred.tunnel_id[0] = 0x6f;
  CHECK_EQ(wr_credentials_check_tunnel(&cred, c.tunnel, "c.json", err, sizeof err), 0); /* no name */
  snprintf(cred.tunnel_name, sizeof cred.tunnel_name, "api");
  CHECK_EQ(wr_credentials_check_tunnel(&cred, c.tunnel, "c.json", err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "c.json is for tunnel \"api\" (6f000000-0000-0000-0000-000000000000), not \"web\"");
  wr_tunnel_config_free(&c);
  CHECK_EQ(parse("tunnel: 6f000000-0000-0000-0000-000000000000\n", &c), 0);
  CHECK_EQ(wr_credentials_check_tunnel(&cred, c.tunnel, "c.json", err, sizeof err), 0);
  cred.tunnel_id[0] = 0x70;
  CHECK_EQ(wr_credentials_check_tunnel(&cred, c.tunnel, "the token", err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "the token is for tunnel 70000000-0000-0000-0000-000000000000, not "
                   "6f000000-0000-0000-0000-000000000000");
  wr_tunnel_config_free(&c);
}

int main(void) {
  RUN(test_url_and_credentials);
  RUN(test_full);
  RUN(test_defaults_and_empty);
  RUN(test_errors);
  RUN(test_whole_list_errors);
  RUN(test_durations);
  RUN(test_alloc_failures);
  RUN(test_hostport);
  return test_done();
}
