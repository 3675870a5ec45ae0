/* cat.c: `warren cat CID[/path]` — file bytes to stdout, with a byte range. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/exporter.h"

static void usage(void) {
  printf("Usage: warren [--repo DIR] cat [flags] CID[/path]...\n\n"
         "Writes the bytes of files in the store to stdout (a symlink gives its target).\n"
         "Paths go through folders, sharded or not: CID/docs/readme.md, /ipfs/CID/x.\n\n"
         "Flags:\n"
         "  -o, --offset=N   start at byte N (only the blocks needed are read)\n"
         "  -l, --length=N   write at most N bytes\n"
         "  -h, --help       this help\n");
}

static int write_stdout(void *arg, const uint8_t *p, size_t n) {
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

/* Through a daemon that may be fetching from the network, a progress line
 * goes to stderr when it is a terminal and stdout is not (kubo's cat shows a
 * bar the same way): bytes so far and the rate, once a transfer lasts. */
typedef struct progress {
  int on;
  uint64_t bytes, start_ns, shown_ns;
  int shown;
} progress;

static void progress_show(progress *pg, uint64_t now) {
  double s = (double)(now - pg->start_ns) / 1e9;
  fprintf(stderr, "\r\033[K%.1f MiB  %.1f MiB/s", (double)pg->bytes / 1048576.0,
          s > 0 ? (double)pg->bytes / 1048576.0 / s : 0.0);
  pg->shown = 1;
  pg->shown_ns = now;
}

static int write_stdout_recv(void *arg, const uint8_t *p, size_t n) {
  progress *pg = arg;
  if (pg && pg->on) {
    pg->bytes += n;
    uint64_t now = wr_now_ns();
    if (now - pg->start_ns > 300 * WR_NS_PER_MS && now - pg->shown_ns > 200 * WR_NS_PER_MS)
      progress_show(pg, now);
  }
  return write_stdout(NULL, p, n);
}

int wr_cmd_cat(int argc, char **argv) {
  static const struct option opts[] = {{"offset", required_argument, NULL, 'o'},
                                       {"length", required_argument, NULL, 'l'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  uint64_t offset = 0, length = UINT64_MAX;
  int c;
  while ((c = wr_cli_getopt("cat", argc, argv, "o:l:h", opts)) != -1) {
    switch (c) {
    case 'o':
      offset = wr_cli_parse_uint("cat", "--offset", optarg, 0, INT64_MAX);
      break;
    case 'l':
      length = wr_cli_parse_uint("cat", "--length", optarg, 0, INT64_MAX);
      break;
    case 'h':
      usage();
      return 0;
    default:
      break;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("cat", "cat needs a CID (or CID/path) to print.");
  wr_addr api;
  int d = wr_cmd_find_daemon("cat", &api);
  if (d < 0)
    return 1;
  if (d > 0) {
    /* Through the daemon: one request per path, bytes straight to stdout. */
    progress pg = {.on = isatty(2) && !isatty(1), .start_ns = wr_now_ns()};
    for (int i = optind; i < argc; i++) {
      char esc[3 * 4096 + 1], target[3 * 4096 + 128];
      if (wr_rpc_url_escape(argv[i], 1, esc, sizeof esc) != 0)
        wr_cli_usage_error("cat", "the path is too long.");
      int k = snprintf(target, sizeof target, "/api/v0/cat?arg=%s", esc);
      if (offset)
        k += snprintf(target + k, sizeof target - (size_t)k, "&offset=%llu",
                      (unsigned long long)offset);
      if (length != UINT64_MAX)
        snprintf(target + k, sizeof target - (size_t)k, "&length=%llu", (unsigned long long)length);
      int rv = wr_cmd_remote_post("cat", &api, target, NULL, NULL, NULL, write_stdout_recv, &pg);
      if (pg.shown)
        fprintf(stderr, "\r\033[K");
      pg.shown = 0;
      if (rv)
        return 1;
    }
    return 0;
  }
  wr_repo *repo = wr_cmd_repo_open("cat", WR_REPO_SHARED);
  if (!repo)
    return 1;
  int status = 0;
  for (int i = optind; i < argc && !status; i++) {
    wr_export ex;
    int rv = wr_export_begin(&ex, repo->bs);
    if (rv) {
      wr_cli_fail("cat: cannot read the store: %s.", wr_strerror(rv));
      wr_export_end(&ex);
      status = 1;
      break;
    }
    wr_cid cid;
    rv = wr_export_resolve(&ex, argv[i], &cid);
    if (!rv)
      rv = wr_export_cat(&ex, &cid, offset, length, write_stdout, NULL);
    if (rv) {
      if (rv == WR_ERR_IO && !ex.err[0])
        wr_cli_fail("cat: cannot write to stdout.");
      else
        wr_cli_fail("cat: %s: %s.", argv[i], ex.err[0] ? ex.err : wr_strerror(rv));
      status = 1;
    }
    wr_export_end(&ex);
  }
  wr_repo_close(repo);
  return status;
}
