#include <string.h>

#include "edge/edge_file.h"
#include "test.h"

static int parse(wr_edge_file *f, const char *text, char *err) {
  return wr_edge_file_parse(f, text, strlen(text), "edge.yml", err, 256);
}

static void test_keys_and_file_lists(void) {
  wr_edge_file f;
  char err[256] = "";
  CHECK_EQ(parse(&f,
                 "listen: 0.0.0.0:7844\nhttp: 0.0.0.0:80\ntunnel-keepalive: 5s\n"
                 "https-cert: [a.crt, b.crt]\nhttps-key: a.key\n",
                 err),
           0);
  CHECK_STREQ(f.listen, "0.0.0.0:7844");
  CHECK_STREQ(f.http, "0.0.0.0:80");
  CHECK_STREQ(f.tunnel_keepalive, "5s");
  CHECK(f.https == NULL);
  CHECK_EQ(f.n_https_cert, 2);
  CHECK_STREQ(f.https_cert[1], "b.crt");
  CHECK_EQ(f.n_https_key, 1); /* pairing is the command's check */
  wr_edge_file flags = {0};
  flags.listen = "127.0.0.1:1";
  flags.https_key[0] = "flag.key";
  flags.n_https_key = 1;
  wr_edge_file_fill(&flags, &f); /* flags win, the file fills the rest */
  CHECK_STREQ(flags.listen, "127.0.0.1:1");
  CHECK_STREQ(flags.http, "0.0.0.0:80");
  CHECK_EQ(flags.n_https_cert, 2);
  CHECK_STREQ(flags.https_key[0], "flag.key");
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "", err), 0); /* empty: nothing set */
  CHECK(f.listen == NULL);
  wr_edge_file_free(&f);
}

static void test_refusals_say_where(void) {
  wr_edge_file f;
  char err[256];
  CHECK_EQ(parse(&f, "listen: 1\nhtpp: x\n", err), WR_ERR_INVAL);
  CHECK_STREQ(err, "edge.yml:2:1: unknown key \"htpp\" in the edge config");
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "https-cert: {a: b}\n", err), WR_ERR_INVAL);
  CHECK(strstr(err, "edge.yml:1:13: https-cert must be a file name or a list") == err);
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "https-key: [a.key, '']\n", err), WR_ERR_INVAL);
  CHECK(strstr(err, "must not be empty") != NULL);
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "listen: [a]\n", err), WR_ERR_INVAL);
  CHECK(strstr(err, "edge.yml:1:9: listen must be a string") == err);
  wr_edge_file_free(&f);
}

/* What `warren edge` needs before it parses any value. */
static void test_check(void) {
  wr_edge_file f = {0};
  char err[256];
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "--listen ADDR:PORT is required (the UDP address for connectors).");
  f.listen = "0.0.0.0:7844";
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "--http ADDR:PORT is required (the TCP address for users).");
  f.http = "0.0.0.0:80";
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "--tunnels FILE is required (create one with `warren tunnel create`), unless "
                   "the edge serves content (--gateway, --subdomain-gateway, --content, "
                   "--dnslink).");
  f.gateway[0] = "gw.example.com"; /* an edge serving content needs no tunnels */
  f.n_gateway = 1;
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "a certificate is required") == err);
  f.n_gateway = 0;
  f.dnslink = "true"; /* nor does one serving DNSLink hosts */
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "a certificate is required") == err);
  f.dnslink = NULL;
  f.tunnels = "tunnels.yml";
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "a certificate is required: --cert FILE --key FILE, or --self-signed DIR for "
                   "development.");
  f.self_signed = "tls";
  f.cert = "edge.crt";
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "give either --cert and --key, or --self-signed DIR, not both.");
  f.cert = NULL;
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), 0);
  f.https_cert[0] = "a.crt";
  f.n_https_cert = 1;
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "--https-cert and --https-key come in pairs: 1 certificate(s), 0 key(s).");
  f.https_key[0] = "a.key";
  f.n_https_key = 1;
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "--https-cert is for users' HTTPS: give --https ADDR:PORT too.");
  f.https = "0.0.0.0:443";
  CHECK_EQ(wr_edge_file_check(&f, err, sizeof err), 0);
}

/* The gateway's keys: one name or a list; content as a list or a mapping. */
static void test_gateway_keys(void) {
  wr_edge_file f;
  char err[256] = "";
  CHECK_EQ(parse(&f,
                 "repo: /var/lib/warren\ngateway: gw.example.com\n"
                 "subdomain-gateway: [dweb.example.com, d2.example.com]\n"
                 "content:\n  www.example.com: /ipfs/bafyroot\n  b.example.com: /ipfs/Qm/x\n"
                 "  c.example.com: dnslink\n"
                 "dnslink: true\ndns-resolver: 127.0.0.1:5353\ndns-timeout: 2s\n",
                 err),
           0);
  CHECK_STREQ(f.repo, "/var/lib/warren");
  CHECK_STREQ(f.dnslink, "true");
  CHECK_STREQ(f.dns_resolver, "127.0.0.1:5353");
  CHECK_STREQ(f.dns_timeout, "2s");
  CHECK_STREQ(f.content[2], "c.example.com=dnslink");
  CHECK_EQ(f.n_gateway, 1);
  CHECK_STREQ(f.gateway[0], "gw.example.com");
  CHECK_EQ(f.n_subdomain_gateway, 2);
  CHECK_STREQ(f.subdomain_gateway[1], "d2.example.com");
  CHECK_EQ(f.n_content, 3);
  CHECK_STREQ(f.content[0], "www.example.com=/ipfs/bafyroot");
  CHECK_STREQ(f.content[1], "b.example.com=/ipfs/Qm/x");
  wr_edge_file flags = {0};
  flags.content[0] = "flag.example.com=/ipfs/x";
  flags.n_content = 1;
  wr_edge_file_fill(&flags, &f); /* flags win, the file fills the rest */
  CHECK_EQ(flags.n_content, 1);
  CHECK_EQ(flags.n_gateway, 1);
  CHECK_STREQ(flags.repo, "/var/lib/warren");
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "content: [a.example.com=/ipfs/x]\n", err), 0);
  CHECK_EQ(f.n_content, 1);
  CHECK_STREQ(f.content[0], "a.example.com=/ipfs/x");
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "content:\n  a.example.com: [x]\n", err), WR_ERR_INVAL);
  CHECK(strstr(err, "content must be a string") != NULL);
  wr_edge_file_free(&f);
}

/* The embedded IPFS node's keys: p2p and the bounds as text, swarm and
 * bootstrap as one multiaddr or a list; flags win. */
static void test_p2p_keys(void) {
  wr_edge_file f;
  char err[256] = "";
  CHECK_EQ(parse(&f,
                 "p2p: true\ngateway-timeout: 30s\ngateway-fetches: 8\n"
                 "swarm: /ip4/0.0.0.0/tcp/4002\n"
                 "bootstrap: [/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWA, /ip6/::1/tcp/4001/p2p/Qm]\n",
                 err),
           0);
  CHECK_STREQ(f.p2p, "true");
  CHECK_STREQ(f.gateway_timeout, "30s");
  CHECK_STREQ(f.gateway_fetches, "8");
  CHECK_EQ(f.n_swarm, 1);
  CHECK_STREQ(f.swarm[0], "/ip4/0.0.0.0/tcp/4002");
  CHECK_EQ(f.n_bootstrap, 2);
  CHECK_STREQ(f.bootstrap[1], "/ip6/::1/tcp/4001/p2p/Qm");
  wr_edge_file flags = {0};
  flags.gateway_timeout = "5s";
  flags.bootstrap[0] = "/ip4/127.0.0.1/tcp/1/p2p/X";
  flags.n_bootstrap = 1;
  wr_edge_file_fill(&flags, &f);
  CHECK_STREQ(flags.gateway_timeout, "5s");
  CHECK_STREQ(flags.gateway_fetches, "8");
  CHECK_EQ(flags.n_bootstrap, 1);
  CHECK_EQ(flags.n_swarm, 1);
  wr_edge_file_free(&f);
  CHECK_EQ(parse(&f, "swarm: {a: b}\n", err), WR_ERR_INVAL);
  CHECK(strstr(err, "swarm must be") != NULL);
  wr_edge_file_free(&f);
}

int main(void) {
  RUN(test_p2p_keys);
  RUN(test_gateway_keys);
  RUN(test_keys_and_file_lists);
  RUN(test_refusals_say_where);
  RUN(test_check);
  return test_done();
}
