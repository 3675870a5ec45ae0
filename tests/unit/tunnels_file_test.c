/* tunnels_file_test: the edge's tunnels file (round trip, duplicates with
 * line numbers), credentials JSON, host names, atomic files. */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/credentials.h"
#include "tunnel/tunnels_file.h"
#include "base/mem.h"
#include "io/file.h"
#include "proto/text/hostname.h"

static char err[512];

#define ID1 "6ff42ae2-765d-4adf-8112-31c55c1551ef"
#define ID2 "0b8c2f1e-2d7a-4a43-9a53-3f0f5f2b9c11"
#define SECRET "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static const char good[] = "tunnels:\n"
                           "  - id: " ID1 "\n"
                           "    name: web\n"
                           "    secret: " SECRET "\n"
                           "    hostnames: [App.Example.com, \"*.dev.example.com\"]\n"
                           "  - id: " ID2 "\n"
                           "    name: api\n"
                           "    secret: " SECRET "\n"
                           "    hostnames:\n"
                           "      - api.example.com\n";

static int parse(const char *text, wr_tunnels_file *tf) {
  wr_tunnels_init(tf);
  err[0] = 0;
  return wr_tunnels_parse(text, strlen(text), "T.yml", tf, err, sizeof err);
}

static void bad(const char *text, int code, const char *msg) {
  wr_tunnels_file tf;
  CHECK_EQ(parse(text, &tf), code);
  CHECK_STREQ(err, msg);
  CHECK_EQ(tf.n, 0);
  wr_tunnels_free(&tf);
}

static void test_parse_and_round_trip(void) {
  wr_tunnels_file tf;
  CHECK_EQ(parse(good, &tf), 0);
  CHECK_EQ(tf.n, 2);
  CHECK_STREQ(tf.tunnels[0].name, "web");
  CHECK_EQ(tf.tunnels[0].line, 2);
  CHECK_EQ(tf.tunnels[0].secret_len, 32);
  CHECK_EQ(tf.tunnels[0].secret[0], 0xde);
  CHECK_EQ(tf.tunnels[0].nhostnames, 2);
  CHECK_STREQ(tf.tunnels[0].hostnames[0], "app.example.com");
  CHECK_STREQ(tf.tunnels[0].hostnames[1], "*.dev.example.com");
  CHECK(wr_tunnels_find_host(&tf, "api.example.com") == &tf.tunnels[1]);
  CHECK(wr_tunnels_find_host(&tf, "x.dev.example.com") == NULL); /* claims, not routing */
  wr_buf b;
  wr_buf_init(&b, 1 << 16);
  CHECK_EQ(wr_tunnels_encode(&tf, &b), 0);
  wr_tunnels_file back;
  wr_tunnels_init(&back);
  CHECK_EQ(wr_tunnels_parse((char *)b.data, b.len, "enc", &back, err, sizeof err), 0);
  CHECK_EQ(back.n, 2);
  for (size_t i = 0; i < 2; i++) {
    CHECK_MEMEQ(back.tunnels[i].id, tf.tunnels[i].id, 16);
    CHECK_STREQ(back.tunnels[i].name, tf.tunnels[i].name);
    CHECK_EQ(back.tunnels[i].secret_len, tf.tunnels[i].secret_len);
    CHECK_MEMEQ(back.tunnels[i].secret, tf.tunnels[i].secret, 32);
    CHECK_EQ(back.tunnels[i].nhostnames, tf.tunnels[i].nhostnames);
    for (size_t j = 0; j < back.tunnels[i].nhostnames; j++)
      CHECK_STREQ(back.tunnels[i].hostnames[j], tf.tunnels[i].hostnames[j]);
  }
  /* Encoding is stable: a second round gives the same bytes. */
  wr_buf b2;
  wr_buf_init(&b2, 1 << 16);
  CHECK_EQ(wr_tunnels_encode(&back, &b2), 0);
  CHECK_EQ(b2.len, b.len);
  CHECK_MEMEQ(b2.data, b.data, b.len);
  wr_buf_free(&b);
  wr_buf_free(&b2);
  wr_tunnels_free(&back);
  wr_tunnels_free(&tf);
  CHECK_EQ(parse("", &tf), 0);
  CHECK_EQ(tf.n, 0);
  CHECK_EQ(wr_tunnels_parse(NULL, 0, "empty", &tf, err, sizeof err), 0); /* an empty file */
  CHECK_EQ(tf.n, 0);
  CHECK_EQ(parse("tunnels:\n", &tf), 0);
  CHECK_EQ(tf.n, 0);
}

static void test_refusals(void) {
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com]\n"
      "  - id: " ID2 "\n    name: web\n    secret: " SECRET "\n    hostnames: [b.example.com]\n",
      WR_ERR_INVAL, "T.yml:7:11: a tunnel named \"web\" is already defined at line 2");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com]\n"
      "  - id: " ID2 "\n    name: api\n    secret: " SECRET "\n    hostnames: [b.example.com, A.example.com]\n",
      WR_ERR_INVAL, "T.yml:9:32: hostname \"a.example.com\" already belongs to tunnel \"web\" (line 2)");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com]\n"
      "  - id: " ID1 "\n    name: api\n    secret: " SECRET "\n    hostnames: [b.example.com]\n",
      WR_ERR_INVAL, "T.yml:6:9: id " ID1 " is already used by tunnel \"web\" (line 2)");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com, a.example.com]\n",
      WR_ERR_INVAL, "T.yml:5:32: hostname \"a.example.com\" is listed twice for tunnel \"web\"");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    hostnames: [a.example.com]\n", WR_ERR_INVAL,
      "T.yml:2:5: tunnel #1 has no \"secret\"");
  bad("tunnels:\n  - id: nope\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com]\n",
      WR_ERR_INVAL, "T.yml:2:9: id \"nope\" is not a UUID");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: abc\n    hostnames: [a.example.com]\n",
      WR_ERR_INVAL, "T.yml:4:13: the secret is not valid base64: the length is not a multiple of 4 at character 4");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: Zm9v\n    hostnames: [a.example.com]\n",
      WR_ERR_INVAL, "T.yml:4:13: the secret must decode to 32 to 64 bytes");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com:80]\n",
      WR_ERR_INVAL, "T.yml:5:17: \"a.example.com:80\" is not a valid hostname: a hostname cannot contain a port");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: []\n",
      WR_ERR_INVAL, "T.yml:5:16: hostnames must be a list of at least one hostname");
  bad("tunnels:\n  - id: " ID1 "\n    name: web\n    secret: " SECRET "\n    hostnames: [a.example.com]\n    port: 1\n",
      WR_ERR_INVAL, "T.yml:6:5: unknown key \"port\" in tunnel #1 (expected id, name, secret, hostnames)");
  bad("tunnels:\n  - id: " ID1 "\n    name: -web\n    secret: " SECRET "\n    hostnames: [a.example.com]\n",
      WR_ERR_INVAL, "T.yml:3:11: \"-web\" is not a valid tunnel name: a tunnel name starts with a letter or digit");
  bad("tunnel: []\n", WR_ERR_INVAL, "T.yml:1:1: unknown key \"tunnel\" (the tunnels file has one key, \"tunnels\")");
  bad("tunnels: {}\n", WR_ERR_INVAL, "T.yml:1:10: \"tunnels\" must be a list");
  bad("tunnels: [\n", WR_ERR_MALFORMED,
      "T.yml:2:1: invalid YAML: did not find expected node content while parsing a flow node");
}

static void test_add_remove(void) {
  wr_tunnels_file tf;
  CHECK_EQ(parse(good, &tf), 0);
  uint8_t id[16] = {1}, sec[32] = {2};
  const char *hosts[] = {"new.example.com", "API.example.com"};
  CHECK_EQ(wr_tunnels_add(&tf, id, "new", sec, 32, hosts, 2, err, sizeof err), WR_ERR_EXISTS);
  CHECK_STREQ(err, "hostname \"api.example.com\" already belongs to tunnel \"api\"");
  CHECK_EQ(wr_tunnels_add(&tf, id, "web", sec, 32, hosts, 1, err, sizeof err), WR_ERR_EXISTS);
  CHECK_STREQ(err, "a tunnel named \"web\" already exists");
  CHECK_EQ(wr_tunnels_add(&tf, id, "new", sec, 16, hosts, 1, err, sizeof err), WR_ERR_INVAL);
  const char *dup[] = {"x.example.com", "X.example.com"};
  CHECK_EQ(wr_tunnels_add(&tf, id, "new", sec, 32, dup, 2, err, sizeof err), WR_ERR_INVAL);
  CHECK_STREQ(err, "hostname \"x.example.com\" is given twice");
  const char *badh[] = {"under_score.example.com"};
  CHECK_EQ(wr_tunnels_add(&tf, id, "new", sec, 32, badh, 1, err, sizeof err), WR_ERR_INVAL);
  CHECK_EQ(tf.n, 2);
  CHECK_EQ(wr_tunnels_add(&tf, id, "new", sec, 32, hosts, 1, err, sizeof err), 0);
  CHECK_EQ(tf.n, 3);
  CHECK(wr_tunnels_find_name(&tf, "new") != NULL);
  CHECK_EQ(wr_tunnels_remove(&tf, "web"), 0);
  CHECK_EQ(wr_tunnels_remove(&tf, "web"), WR_ERR_NOTFOUND);
  CHECK_EQ(tf.n, 2);
  CHECK_STREQ(tf.tunnels[0].name, "api");
  CHECK(wr_tunnels_find_host(&tf, "app.example.com") == NULL);
  wr_tunnels_free(&tf);
}

static void test_hostnames(void) {
  char out[WR_HOSTNAME_MAX + 1];
  const char *why;
  CHECK_EQ(wr_hostname_check("A.Example.COM", 13, 0, out, &why), 0);
  CHECK_STREQ(out, "a.example.com");
  CHECK_EQ(wr_hostname_check("*.example.com", 13, 1, out, &why), 0);
  CHECK_STREQ(out, "*.example.com");
  CHECK_EQ(wr_hostname_check("*.example.com", 13, 0, out, &why), WR_ERR_INVAL);
  static const char *const bad_h[] = {"", "localhost", "a..b", "a.b.", ".a.b", "-a.b", "a-.b",
                                      "a*.b.c", "*.*.b", "a.b:80", "a b.c", "*.com"};
  for (size_t i = 0; i < sizeof bad_h / sizeof bad_h[0]; i++) {
    why = NULL;
    int rv = wr_hostname_check(bad_h[i], strlen(bad_h[i]), 1, out, &why);
    /* "*.com" is two labels with the wildcard: allowed by the syntax check. */
    if (strcmp(bad_h[i], "*.com") == 0) {
      CHECK_EQ(rv, WR_ERR_INVAL);
      continue;
    }
    CHECK_EQ(rv, WR_ERR_INVAL);
    CHECK(why != NULL);
  }
  char label[80];
  memset(label, 'a', 64);
  strcpy(label + 64, ".com");
  CHECK_EQ(wr_hostname_check(label, strlen(label), 0, out, &why), WR_ERR_INVAL);
  CHECK_STREQ(why, "a label is longer than 63 characters");
}

static void test_credentials(void) {
  wr_credentials c;
  const char *cf = "{\"AccountTag\":\"acct\",\"TunnelSecret\":\"" SECRET "\",\"TunnelID\":\"" ID1
                   "\",\"Endpoint\":\"\"}";
  CHECK_EQ(wr_credentials_parse(cf, strlen(cf), "c.json", &c, err, sizeof err), 0);
  CHECK_STREQ(c.account_tag, "acct");
  CHECK_EQ(c.secret_len, 32);
  CHECK_EQ(c.tunnel_id[0], 0x6f);
  CHECK_STREQ(c.tunnel_name, "");
  wr_buf b;
  wr_buf_init(&b, 4096);
  snprintf(c.tunnel_name, sizeof c.tunnel_name, "web");
  CHECK_EQ(wr_credentials_encode(&c, &b), 0);
  const char *want = "{\"AccountTag\":\"acct\",\"TunnelSecret\":\"" SECRET "\",\"TunnelID\":\"" ID1
                     "\",\"TunnelName\":\"web\"}\n";
  CHECK_EQ(b.len, strlen(want));
  CHECK_MEMEQ(b.data, want, b.len);
  wr_credentials back;
  CHECK_EQ(wr_credentials_parse((char *)b.data, b.len, "c.json", &back, err, sizeof err), 0);
  CHECK(memcmp(&back, &c, sizeof c) == 0);
  wr_buf_free(&b);

  struct {
    const char *text;
    int code;
    const char *msg;
  } cases[] = {
      {"{\"TunnelID\":\"" ID1 "\",}", WR_ERR_MALFORMED,
       "c.json: byte 51: not a valid credentials file: a trailing comma is not allowed"},
      {"[]", WR_ERR_INVAL, "c.json: a credentials file is a JSON object, not an array"},
      {"{\"TunnelSecret\":\"" SECRET "\"}", WR_ERR_INVAL,
       "c.json: the TunnelID member (a UUID string) is missing"},
      {"{\"TunnelID\":\"x\",\"TunnelSecret\":\"" SECRET "\"}", WR_ERR_INVAL,
       "c.json: byte 12: TunnelID \"x\" is not a UUID"},
      {"{\"TunnelID\":\"" ID1 "\"}", WR_ERR_INVAL,
       "c.json: the TunnelSecret member (a base64 string) is missing"},
      {"{\"TunnelID\":\"" ID1 "\",\"TunnelSecret\":\"3q2+7w==\"}", WR_ERR_INVAL,
       "c.json: TunnelSecret must decode to 32 to 64 bytes"},
      {"{\"TunnelID\":\"" ID1 "\",\"TunnelSecret\":\"3q2+7w=A\"}", WR_ERR_INVAL,
       "c.json: TunnelSecret is not valid base64: '=' padding may only end the text at character 7"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    err[0] = 0;
    CHECK_EQ(wr_credentials_parse(cases[i].text, strlen(cases[i].text), "c.json", &c, err, sizeof err),
             cases[i].code);
    CHECK_STREQ(err, cases[i].msg);
  }
}

/* Tokens as cloudflared makes them: base64 of Go's JSON {"a","s","t"}. */
static void test_tokens(void) {
  static const char cloudflared[] =
      "eyJhIjoiYWNjdCIsInMiOiIzcTIrN3dBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBPSIsInQiOi"
      "I2ZmY0MmFlMi03NjVkLTRhZGYtODExMi0zMWM1NWMxNTUxZWYifQ==";
  wr_credentials c, file;
  CHECK_EQ(wr_credentials_from_token(cloudflared, strlen(cloudflared), &c, err, sizeof err), 0);
  const char *cf = "{\"AccountTag\":\"acct\",\"TunnelSecret\":\"" SECRET "\",\"TunnelID\":\"" ID1
                   "\"}";
  CHECK_EQ(wr_credentials_parse(cf, strlen(cf), "c.json", &file, err, sizeof err), 0);
  CHECK(memcmp(&c, &file, sizeof c) == 0);
  wr_buf b;
  wr_buf_init(&b, 4096);
  CHECK_EQ(wr_credentials_token(&file, &b), 0);
  CHECK_EQ(b.len, strlen(cloudflared));
  CHECK_MEMEQ(b.data, cloudflared, b.len);
  wr_buf_free(&b);

  struct {
    const char *token, *msg;
  } bad[] = {
      {"web.json", "the tunnel token is not valid base64: a character outside the base64 alphabet "
                   "at character 4"},
      {"e30", "the tunnel token is not valid base64: the length is not a multiple of 4 at "
              "character 4"},
      {"e30=", "the tunnel token: the t member (a UUID string) is missing"}, /* {} */
      {"W10=", "the tunnel token: a credentials file is a JSON object, not an array"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    CHECK_EQ(wr_credentials_from_token(bad[i].token, strlen(bad[i].token), &c, err, sizeof err),
             WR_ERR_INVAL);
    CHECK_STREQ(err, bad[i].msg);
  }
}

static void test_files(void) {
  char dir[] = "/tmp/wr_tunnels_test.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256], cpath[256];
  snprintf(path, sizeof path, "%s/T.yml", dir);
  snprintf(cpath, sizeof cpath, "%s/c.json", dir);
  wr_tunnels_file tf;
  CHECK_EQ(wr_tunnels_load(path, &tf, err, sizeof err), WR_ERR_NOTFOUND);
  CHECK_EQ(parse(good, &tf), 0);
  mode_t old = umask(0);
  CHECK_EQ(wr_tunnels_save(path, &tf, err, sizeof err), 0);
  umask(old);
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0600);
  wr_tunnels_file back;
  wr_tunnels_init(&back);
  CHECK_EQ(wr_tunnels_load(path, &back, err, sizeof err), 0);
  CHECK_EQ(back.n, 2);
  wr_tunnels_free(&back);
  wr_tunnels_free(&tf);

  wr_credentials c;
  memset(&c, 0, sizeof c);
  c.secret_len = 32;
  CHECK_EQ(wr_credentials_save(cpath, &c, err, sizeof err), 0);
  CHECK_EQ(stat(cpath, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0600);
  CHECK_EQ(wr_credentials_save(cpath, &c, err, sizeof err), WR_ERR_EXISTS);
  char want[300];
  snprintf(want, sizeof want, "%s already exists", cpath);
  CHECK_STREQ(err, want);
  wr_credentials back_c;
  CHECK_EQ(wr_credentials_load(cpath, &back_c, err, sizeof err), 0);
  CHECK(memcmp(&back_c, &c, sizeof c) == 0);
  int fd = wr_file_lock(path, err, sizeof err);
  CHECK(fd >= 0);
  wr_file_unlock(fd);
  char lock[300];
  snprintf(lock, sizeof lock, "%s.lock", path);
  unlink(lock);
  unlink(path);
  unlink(cpath);
  CHECK_EQ(rmdir(dir), 0); /* no temporary file was left behind */
}

int main(void) {
  RUN(test_parse_and_round_trip);
  RUN(test_refusals);
  RUN(test_add_remove);
  RUN(test_hostnames);
  RUN(test_credentials);
  RUN(test_tokens);
  RUN(test_files);
  return test_done();
}
