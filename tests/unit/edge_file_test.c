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

int main(void) {
  RUN(test_keys_and_file_lists);
  RUN(test_refusals_say_where);
  return test_done();
}
