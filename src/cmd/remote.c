/* remote.c: finding the daemon and asking it (see remote.h). */
#include "cmd/remote.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/repoflag.h"

static int offline;

void wr_cmd_set_offline(int on) { offline = on; }

int wr_cmd_find_daemon(const char *cmd, wr_addr *pa) {
  if (offline)
    return 0;
  char repo[4096], err[512];
  if (wr_cmd_repo_path(repo, sizeof repo) != 0)
    return 0; /* the direct path prints why */
  int rv = wr_rpc_client_find(repo, pa, err, sizeof err);
  if (rv < 0) {
    wr_cli_fail("%s: %s; remove the file if no daemon runs, or use --offline.", cmd, err);
    return -1;
  }
  return rv;
}

int wr_cmd_remote_post(const char *cmd, const wr_addr *a, const char *target,
                       const char *content_type, wr_rpc_produce_fn produce, void *parg,
                       wr_rpc_recv_fn recv, void *rarg) {
  char err[1024];
  int status = 0;
  int rv = wr_rpc_client_post(a, target, content_type, produce, parg, recv, rarg, &status, err,
                              sizeof err);
  if (rv && err[0])
    wr_cli_fail("%s: %s.", cmd, err);
  else if (rv && rv != WR_ERR_IO)
    wr_cli_fail("%s: %s.", cmd, wr_strerror(rv));
  return rv;
}

int wr_cmd_lines_recv(void *arg, const uint8_t *p, size_t n) {
  wr_cmd_lines *l = arg;
  while (n) {
    const uint8_t *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) : n;
    if (l->len + k > sizeof l->buf)
      return WR_ERR_LIMIT;
    memcpy(l->buf + l->len, p, k);
    l->len += k;
    if (!nl)
      break;
    int rv = l->fn(l->arg, l->buf, l->len);
    l->len = 0;
    if (rv)
      return rv;
    p += k + 1;
    n -= k + 1;
  }
  return 0;
}

int wr_cmd_stdout_recv(void *arg, const uint8_t *p, size_t n) {
  (void)arg;
  while (n) {
    ssize_t w = write(1, p, n);
    if (w < 0)
      return WR_ERR_IO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int wr_cmd_remote_bytes(const char *cmd, const wr_addr *a, const char *cmdpath, const char *arg) {
  char esc[3 * 1024 + 1], target[3 * 1024 + 128];
  if (wr_rpc_url_escape(arg, 1, esc, sizeof esc) != 0) {
    wr_cli_fail("%s: the argument is too long.", cmd);
    return 1;
  }
  snprintf(target, sizeof target, "/api/v0/%s?arg=%s", cmdpath, esc);
  return wr_cmd_remote_post(cmd, a, target, NULL, NULL, NULL, wr_cmd_stdout_recv, NULL) ? 1 : 0;
}
