#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/twin_port.h"
#include "test.h"

static int binds(const wr_addr *a, int type) {
  int fd = socket(a->sa.sa_family, type, 0);
  if (fd < 0)
    return 0;
  int ok = bind(fd, &a->sa, a->len) == 0;
  close(fd);
  return ok;
}

/* The port picked is not 0 and both transports can bind it, on IPv4 and
 * IPv6; every pick is checked the same way, many times over. */
static void test_both_bind(void) {
  const char *addrs[] = {"127.0.0.1:0", "[::1]:0", "0.0.0.0:0"};
  for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++) {
    wr_addr a, out;
    CHECK_EQ(wr_addr_parse(addrs[i], &a, NULL, 0), 0);
    for (int k = 0; k < 50; k++) {
      CHECK_EQ(wr_twin_port_pick(&a, &out), 0);
      CHECK(wr_addr_port(&out) != 0);
      CHECK_EQ(out.sa.sa_family, a.sa.sa_family);
      CHECK(binds(&out, SOCK_STREAM));
      CHECK(binds(&out, SOCK_DGRAM));
    }
  }
}

/* An address this host does not have: an error, not a port. */
static void test_foreign_address(void) {
  wr_addr a, out;
  CHECK_EQ(wr_addr_parse("192.0.2.1:0", &a, NULL, 0), 0);
  CHECK_EQ(wr_twin_port_pick(&a, &out), WR_ERR_IO);
}

int main(void) {
  RUN(test_both_bind);
  RUN(test_foreign_address);
  return test_done();
}
