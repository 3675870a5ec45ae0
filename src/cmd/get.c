/* get.c: `warren get CID[/path] -o DEST` — a file, folder tree or symlink
 * from the store onto disk. */
#include <stdio.h>
#include <string.h>

#include "content/exporter.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"

static void usage(void) {
  printf("Usage: warren [--repo DIR] get [-o DEST] CID[/path]\n\n"
         "Writes a file, a folder (with everything below it, sharded or not) or a\n"
         "symlink from the store to DEST (default: ./CID, as kubo does). Existing\n"
         "folders are reused and existing files replaced.\n\n"
         "Flags:\n"
         "  -o, --output=DEST   where to write\n"
         "  -h, --help          this help\n");
}

int wr_cmd_get(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  const char *dest = NULL;
  int c;
  while ((c = wr_cli_getopt("get", argc, argv, "o:h", opts)) != -1) {
    if (c == 'o')
      dest = optarg;
    else if (c == 'h') {
      usage();
      return 0;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("get", "get needs a CID (or CID/path) to write out.");
  if (argc - optind > 1)
    wr_cli_usage_error("get", "get takes one CID, not %d.", argc - optind);
  const char *arg = argv[optind];
  wr_repo *repo = wr_cmd_repo_open("get", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_export ex;
  int rv = wr_export_begin(&ex, repo->bs);
  if (rv) {
    wr_cli_fail("get: cannot read the store: %s.", wr_strerror(rv));
    wr_export_end(&ex);
    wr_repo_close(repo);
    return 1;
  }
  wr_cid cid;
  rv = wr_export_resolve(&ex, arg, &cid);
  char def[WR_CID_MAX_STR + 8];
  if (!rv && !dest) {
    /* kubo's default: the path as given, without /ipfs/. */
    snprintf(def, sizeof def, "%s", strncmp(arg, "/ipfs/", 6) == 0 ? arg + 6 : arg);
    char *slash = strrchr(def, '/');
    dest = slash && slash[1] ? slash + 1 : def;
  }
  if (!rv)
    rv = wr_export_get(&ex, &cid, dest);
  if (rv)
    wr_cli_fail("get: %s: %s.", arg, ex.err[0] ? ex.err : wr_strerror(rv));
  else
    fprintf(stderr, "Saving file(s) to %s\n", dest);
  wr_export_end(&ex);
  wr_repo_close(repo);
  return rv ? 1 : 0;
}
