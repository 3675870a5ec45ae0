/* run_config_test: `tunnel run`'s settings: the command line over the config
 * file, the choice of ingress with its exact errors, and the connector
 * configuration built from them. */
#include "tunnel/run_config.h"

#include <string.h>

#include "test.h"

static const char FILE_TEXT[] =
    "credentials-file: /etc/warren/web.json\n"
    "edge: [edge1.example.net:7844, 192.0.2.10:7844]\n"
    "edge-fingerprint: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
    "ha-connections: 2\n"
    "protocol: http2\n"
    "metrics: 127.0.0.1:2000\n"
    "grace-period: 10s\n"
    "ingress:\n"
    "  - hostname: app.example.com\n"
    "    service: http://localhost:8000\n"
    "  - service: http_status:404\n";

static void load(wr_tunnel_config *tc, const char *text) {
  char err[256];
  wr_tunnel_config_init(tc);
  CHECK_EQ(wr_tunnel_config_parse(text, strlen(text), "config.yml", tc, err, sizeof err), 0);
}

static void test_file_fills_what_flags_leave(void) {
  wr_tunnel_config tc;
  load(&tc, FILE_TEXT);
  wr_run_config rc;
  wr_run_config_init(&rc);
  rc.metrics = "127.0.0.1:3000";
  rc.ha_connections = 5;
  wr_run_config_merge_file(&rc, &tc);
  CHECK_STREQ(rc.credentials_file, "/etc/warren/web.json");
  CHECK_STREQ(rc.metrics, "127.0.0.1:3000"); /* the flag wins */
  CHECK_EQ(rc.ha_connections, 5);
  CHECK_EQ(rc.protocol, WR_PROTOCOL_HTTP2);
  CHECK_EQ(rc.grace_ns, UINT64_C(10000000000));
  CHECK_EQ(rc.nedges, 2);
  CHECK_STREQ(rc.edges[0], "edge1.example.net:7844");
  CHECK_STREQ(rc.edge_fingerprint,
              "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  CHECK(rc.edge_ca == NULL);

  /* --edge replaces the file's list; --protocol wins too. */
  wr_run_config_init(&rc);
  rc.edges[0] = "127.0.0.1:7844";
  rc.nedges = 1;
  rc.protocol = WR_PROTOCOL_QUIC;
  wr_run_config_merge_file(&rc, &tc);
  CHECK_EQ(rc.nedges, 1);
  CHECK_STREQ(rc.edges[0], "127.0.0.1:7844");
  CHECK_EQ(rc.protocol, WR_PROTOCOL_QUIC);
  CHECK_EQ(rc.ha_connections, 2);
  wr_tunnel_config_free(&tc);
}

static void test_ingress(void) {
  char err[256];
  wr_tunnel_config tc;
  wr_run_config rc;
  load(&tc, FILE_TEXT);
  wr_run_config_init(&rc);
  CHECK_EQ(wr_run_config_ingress(&rc, &tc, err, sizeof err), 0);
  CHECK_EQ(tc.ingress.n, 2);
  rc.url = "http://127.0.0.1:9000"; /* replaces the rules */
  CHECK_EQ(wr_run_config_ingress(&rc, &tc, err, sizeof err), 0);
  CHECK_EQ(tc.ingress.n, 1);
  rc.url = "localhost:9000";
  CHECK_EQ(wr_run_config_ingress(&rc, &tc, err, sizeof err), WR_ERR_INVAL);
  CHECK(strncmp(err, "--url: ", 7) == 0);
  wr_tunnel_config_free(&tc);

  load(&tc, "edge: [127.0.0.1:7844]\n");
  wr_run_config_init(&rc);
  CHECK_EQ(wr_run_config_ingress(&rc, &tc, err, sizeof err), WR_ERR_NOTFOUND);
  CHECK_STREQ(err, "nothing to serve: give --url or ingress rules in the config file.");
  wr_tunnel_config_free(&tc);

  load(&tc, "ingress:\n  - hostname: a.example.com\n    service: http://localhost:1\n");
  CHECK_EQ(wr_run_config_ingress(&rc, &tc, err, sizeof err), WR_ERR_MALFORMED);
  CHECK(strncmp(err, "config.yml:", 11) == 0);
  wr_tunnel_config_free(&tc);
}

static void test_connector_config(void) {
  wr_tunnel_config tc;
  load(&tc, FILE_TEXT);
  wr_run_config rc;
  wr_run_config_init(&rc);
  rc.quic_timeout_ns = UINT64_C(2000000000);
  rc.edge_name = "edge.example.net";
  rc.no_gso = 1;
  wr_run_config_merge_file(&rc, &tc);
  wr_credentials cred;
  memset(&cred, 0, sizeof cred);
  memset(cred.tunnel_id, 0xab, 16);
  memset(cred.secret, 's', 32);
  cred.secret_len = 32;
  wr_connector_config cc;
  wr_run_config_connector(&rc, &tc, &cred, NULL, NULL, NULL, &cc);
  CHECK_EQ(cc.nedges, 2);
  CHECK_STREQ(cc.edges[1], "192.0.2.10:7844");
  CHECK_STREQ(cc.server_name, "edge.example.net");
  CHECK_EQ(cc.ha_connections, 2);
  CHECK_EQ(cc.protocol, WR_CONNECTOR_HTTP2);
  CHECK_EQ(cc.grace_period_ms, 10000);
  CHECK_EQ(cc.quic_timeout_ms, 2000);
  CHECK_EQ(cc.quic_probe_interval_ms, 0); /* the connector's default */
  CHECK_EQ(cc.disable_gso, 1);
  CHECK_EQ(cc.secret_len, 32);
  CHECK_MEMEQ(cc.secret, cred.secret, 32);
  CHECK_MEMEQ(cc.tunnel_id, cred.tunnel_id, 16);
  CHECK(cc.ingress == &tc.ingress);
  wr_tunnel_config_free(&tc);
}

int main(void) {
  RUN(test_file_fills_what_flags_leave);
  RUN(test_ingress);
  RUN(test_connector_config);
  return test_done();
}
