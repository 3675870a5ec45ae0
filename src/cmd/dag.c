/* dag.c: `warren dag export|import` — DAGs as CAR files, as kubo's `ipfs dag`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/dagio.h"
#include "proto/text/json.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: warren dag COMMAND [ARGS]\n\n"
             "DAGs in and out of the local store as CAR files, as kubo's `ipfs dag`.\n\n"
             "  export CID > FILE.car      write the DAG under CID as a CARv1 (blocks\n"
             "                             depth-first, each once, hash-verified)\n"
             "  import [--pin-roots=false] [--stats] FILE.car...\n"
             "                             store every block (each checked against its CID)\n"
             "                             and pin the roots; '-' reads stdin\n");
}

static int dag_export(int argc, char **argv) {
  if (wr_cli_help_only(
          "dag export", argc, argv,
          "Usage: warren dag export CID > FILE.car\n\n"
          "Writes the DAG under CID as a CARv1 to stdout: the header naming CID as its\n"
          "root, then every block once, depth-first in link order (kubo's order). Every\n"
          "block must be in the local store; each is hash-checked as it is read.\n"))
    return 0;
  if (argc - optind != 1)
    wr_cli_usage_error("dag export", "dag export takes exactly one CID.");
  wr_cid cid;
  if (wr_cmd_parse_cid("dag export", argv[optind], &cid) != 0)
    return 1;
  if (isatty(1)) {
    wr_cli_fail("dag export: stdout is a terminal; redirect it to a file (warren dag export "
                "CID > file.car).");
    return 1;
  }
  wr_addr api;
  int d = wr_cmd_find_daemon("dag export", &api);
  if (d != 0)
    return d < 0 ? 1 : wr_cmd_remote_bytes("dag export", &api, "dag/export", argv[optind]);
  wr_repo *repo = wr_cmd_repo_open("dag export", WR_REPO_SHARED);
  if (!repo)
    return 1;
  static char obuf[1 << 20];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  wr_dagio_error err;
  int rc = wr_dagio_export(repo->bs, &cid, stdout, &err);
  wr_repo_close(repo);
  if (rc != 0) {
    wr_cli_fail("dag export: %s.", err.msg);
    return 1;
  }
  return 0;
}

/* The daemon's dag/import lines, printed as the direct path prints them. */
typedef struct import_out {
  int failed;
} import_out;

static int import_line(void *arg, const char *line, size_t n) {
  import_out *o = arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *r = wr_json_get(root, "Root"), *st = wr_json_get(root, "Stats");
  const wr_json *cid = wr_json_get(wr_json_get(r, "Cid"), "/");
  const wr_json *msg = wr_json_get(r, "PinErrorMsg");
  if (cid && cid->type == WR_JSON_STRING) {
    if (!msg || msg->type != WR_JSON_STRING || msg->len == 0) {
      printf("Pinned root\t%s\tsuccess\n", cid->str);
    } else {
      printf("Pinned root\t%s\tFAILED: %s\n", cid->str, msg->str);
      o->failed = 1;
    }
  } else if (st) {
    int64_t blocks = 0, bytes = 0;
    const wr_json *b = wr_json_get(st, "BlockCount"), *y = wr_json_get(st, "BlockBytesCount");
    if (b && y && wr_json_get_int(b, 0, INT64_MAX, &blocks) == 0 &&
        wr_json_get_int(y, 0, INT64_MAX, &bytes) == 0)
      printf("Imported %lld blocks (%lld bytes)\n", (long long)blocks, (long long)bytes);
  }
  wr_json_del(root);
  return 0;
}

static int dag_import(int argc, char **argv) {
  static const struct option opts[] = {{"pin-roots", optional_argument, NULL, 'p'},
                                       {"stats", no_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  int pin_roots = 1, stats = 0, c;
  optind = 1;
  while ((c = wr_cli_getopt("dag import", argc, argv, "h", opts)) != -1) {
    if (c == 'p')
      pin_roots = optarg ? wr_cli_parse_bool("dag import", "--pin-roots", optarg) : 1;
    else if (c == 's')
      stats = 1;
    else if (c == 'h') {
      printf("Usage: warren dag import [--pin-roots=false] [--stats] FILE.car...\n\n"
             "Imports CAR files (v1 or v2; '-' reads stdin), streaming with bounded memory.\n"
             "Every block is checked against its CID. Each root whose DAG is then complete\n"
             "in the store is pinned recursively, in the same commit as the last blocks.\n"
             "A bad or truncated file stops that import: no pin is written and nothing\n"
             "already in the store is touched. --stats prints the block count and bytes.\n");
      return 0;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("dag import", "dag import needs at least one CAR file ('-' for stdin).");
  wr_addr api;
  int d = wr_cmd_find_daemon("dag import", &api);
  if (d < 0)
    return 1;
  if (d > 0) {
    char target[96];
    snprintf(target, sizeof target, "/api/v0/dag/import?pin-roots=%s&stats=%s",
             pin_roots ? "true" : "false", stats ? "true" : "false");
    import_out o = {0};
    int rv = wr_cmd_remote_upload("dag import", &api, target, argv + optind, argc - optind, NULL, 0,
                                  import_line, &o);
    fflush(stdout);
    if (!rv && o.failed)
      wr_cli_fail("dag import: some roots failed; see above.");
    return rv || o.failed ? 1 : 0;
  }
  wr_repo *repo = wr_cmd_repo_open("dag import", WR_REPO_SHARED);
  if (!repo)
    return 1;
  int ret = 0;
  uint64_t blocks = 0, bytes = 0;
  static wr_dagio_import_result res;
  for (int i = optind; i < argc; i++) {
    const char *name = argv[i];
    int fd = strcmp(name, "-") == 0 ? 0 : open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      wr_cli_fail("dag import: cannot open %s: %s.", name, strerror(errno));
      ret = 1;
      continue;
    }
    wr_dagio_error err;
    int rc = wr_dagio_import(repo->bs, fd, strcmp(name, "-") == 0 ? "stdin" : name, pin_roots, &res,
                             &err);
    if (fd != 0)
      close(fd);
    if (rc != 0) {
      wr_cli_fail("dag import: %s.", err.msg);
      ret = 1;
      continue;
    }
    blocks += res.blocks;
    bytes += res.bytes;
    for (size_t r = 0; pin_roots && r < res.nroots; r++) {
      char s[WR_CID_MAX_STR];
      if (wr_cid_format(&res.roots[r], 0, s, sizeof s) < 0)
        snprintf(s, sizeof s, "?");
      if (res.pin_err[r] == 0) {
        printf("Pinned root\t%s\tsuccess\n", s);
      } else {
        printf("Pinned root\t%s\tFAILED: %s\n", s, res.pin_msg[r]);
        ret = 1;
      }
    }
  }
  if (stats)
    printf("Imported %llu blocks (%llu bytes)\n", (unsigned long long)blocks,
           (unsigned long long)bytes);
  fflush(stdout);
  if (ret)
    wr_cli_fail("dag import: some files or roots failed; see above.");
  wr_repo_close(repo);
  return ret;
}

int wr_cmd_dag(int argc, char **argv) {
  static const wr_subcommand subs[] = {
      {"export", dag_export},
      {"import", dag_import},
  };
  return wr_cli_dispatch("dag", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
