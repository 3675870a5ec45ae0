/* apiaddr_test.c: API multiaddrs and the repo's api file. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rpc/apiaddr.h"
#include "test.h"

static void test_maddr(void) {
  wr_addr a;
  const char *why = NULL;
  const char *s = "/ip4/127.0.0.1/tcp/5001";
  CHECK_EQ(wr_api_maddr_parse(s, strlen(s), &a, &why), 0);
  CHECK_EQ(a.sa.sa_family, AF_INET);
  CHECK_EQ(wr_addr_port(&a), 5001);
  char out[WR_API_MADDR_MAX];
  wr_api_maddr_format(&a, out);
  CHECK_STREQ(out, s);
  s = "/ip6/::1/tcp/80\n";
  CHECK_EQ(wr_api_maddr_parse(s, strlen(s), &a, &why), 0);
  wr_api_maddr_format(&a, out);
  CHECK_STREQ(out, "/ip6/::1/tcp/80");
  static const char *bad[] = {"/ip4/127.0.0.1/udp/5001",
                              "/dns/localhost/tcp/5001",
                              "/ip4/localhost/tcp/1",
                              "/ip4/127.0.0.1/tcp/65536",
                              "/ip4/127.0.0.1/tcp/05",
                              "/ip4/127.0.0.1/tcp/",
                              "",
                              "127.0.0.1:5001"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = NULL;
    CHECK_EQ(wr_api_maddr_parse(bad[i], strlen(bad[i]), &a, &why), WR_ERR_INVAL);
    CHECK(why != NULL);
  }
}

static void test_file(void) {
  char dir[] = "/tmp/wr_apiaddr_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  wr_addr a, b;
  char err[256];
  CHECK_EQ(wr_api_file_read(dir, &b, err, sizeof err), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_addr_parse("127.0.0.1:4567", &a, NULL, 0), 0);
  CHECK_EQ(wr_api_file_write(dir, &a, err, sizeof err), 0);
  CHECK_EQ(wr_api_file_read(dir, &b, err, sizeof err), 0);
  CHECK(wr_addr_equal(&a, &b));
  char path[512];
  snprintf(path, sizeof path, "%s/api", dir);
  FILE *f = fopen(path, "w");
  fputs("garbage", f);
  fclose(f);
  CHECK_EQ(wr_api_file_read(dir, &b, err, sizeof err), WR_ERR_INVAL);
  CHECK(strstr(err, "does not hold an API address") != NULL);
  wr_api_file_remove(dir);
  CHECK_EQ(wr_api_file_read(dir, &b, err, sizeof err), WR_ERR_NOTFOUND);
  rmdir(dir);
}

int main(void) {
  RUN(test_maddr);
  RUN(test_file);
  return test_done();
}
