#include "io/twin_port.h"

#include <errno.h>
#include <unistd.h>

#define TRIES 16

static int bound_socket(const wr_addr *a, int type) {
  int fd = socket(a->sa.sa_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  /* As the listeners will: a port whose last connection lingers in
   * TIME_WAIT is free for them. */
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, &a->sa, a->len) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int wr_twin_port_pick(const wr_addr *a, wr_addr *out) {
  for (int i = 0; i < TRIES; i++) {
    wr_addr probe = *a;
    wr_addr_set_port(&probe, 0);
    int t = bound_socket(&probe, SOCK_STREAM);
    if (t < 0)
      return t == -EADDRINUSE ? WR_ERR_ADDRINUSE : WR_ERR_IO;
    probe.len = sizeof probe.ss;
    if (getsockname(t, &probe.sa, &probe.len) != 0) {
      close(t);
      return WR_ERR_IO;
    }
    int u = bound_socket(&probe, SOCK_DGRAM);
    close(t);
    if (u >= 0) {
      close(u);
      *out = probe;
      return 0;
    }
    if (u != -EADDRINUSE)
      return WR_ERR_IO;
  }
  return WR_ERR_ADDRINUSE;
}
