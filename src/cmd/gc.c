/* gc.c: `warren gc` — remove every block no pin needs, as kubo's `ipfs repo gc`. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "store/gc.h"

typedef struct report {
  int quiet;
} report;

static void on_removed(void *arg, const uint8_t *mh, size_t mhlen, size_t size) {
  (void)size;
  report *r = arg;
  char s[WR_BS_KEYSTR_MAX];
  /* The store knows blocks by multihash only, so, as kubo, name them by
   * their CIDv1 raw form. */
  wr_bs_key_string(s, mh, mhlen);
  if (r->quiet)
    printf("%s\n", s);
  else
    printf("removed %s\n", s);
}

static void human(char *out, size_t n, uint64_t bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, n, "%llu B", (unsigned long long)bytes);
  else
    snprintf(out, n, "%.1f %s", v, units[u]);
}

int wr_cmd_gc(int argc, char **argv) {
  static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  report r = {0};
  int c;
  optind = 1;
  while ((c = wr_cli_getopt("gc", argc, argv, "qh", opts)) != -1) {
    if (c == 'q')
      r.quiet = 1;
    else if (c == 'h') {
      printf("Usage: warren gc [-q]\n\n"
             "Removes every block that no pin needs (recursive pins keep their whole DAG,\n"
             "direct pins one block) and prints \"removed <cid>\" per block, then a summary.\n"
             "-q prints only the CIDs. gc needs the repo alone: it waits for nothing and\n"
             "fails if another warren process is using the repo. If a pinned DAG cannot be\n"
             "read completely, nothing is removed.\n");
      return 0;
    }
  }
  if (optind != argc)
    wr_cli_usage_error("gc", "gc takes no arguments, not \"%s\".", argv[optind]);
  wr_repo *repo = wr_cmd_repo_open("gc", WR_REPO_EXCLUSIVE);
  if (!repo)
    return 1;
  wr_gc_stats st;
  wr_gc_fault f;
  int rc = wr_gc_run(repo->bs, on_removed, &r, &st, &f);
  wr_repo_close(repo);
  if (rc == WR_ERR_NOTFOUND || rc == WR_ERR_CORRUPT || rc == WR_ERR_MALFORMED ||
      rc == WR_ERR_UNSUPPORTED) {
    char root[WR_CID_MAX_STR], blk[WR_CID_MAX_STR];
    wr_cmd_cid_str(&f.root, root);
    wr_cmd_cid_str(&f.block, blk);
    const char *why = rc == WR_ERR_NOTFOUND  ? "is missing"
                      : rc == WR_ERR_CORRUPT ? "is corrupted"
                      : rc == WR_ERR_MALFORMED ? "is not valid dag-pb"
                                               : "uses a codec whose links warren cannot read";
    wr_cli_fail("gc: block %s of the pinned DAG %s %s; nothing was removed. Re-import the DAG "
                "or unpin it (warren pin rm %s).",
                blk, root, why, root);
    return 1;
  }
  if (rc != 0) {
    wr_cli_fail("gc: %s; nothing was removed.", wr_strerror(rc));
    return 1;
  }
  if (!r.quiet) {
    char freed[32], kept[32];
    human(freed, sizeof freed, st.removed_bytes);
    human(kept, sizeof kept, st.kept_bytes);
    printf("gc: removed %llu block%s, %s (%llu bytes); kept %llu pinned block%s, %s\n",
           (unsigned long long)st.removed_blocks, st.removed_blocks == 1 ? "" : "s", freed,
           (unsigned long long)st.removed_bytes, (unsigned long long)st.kept_blocks,
           st.kept_blocks == 1 ? "" : "s", kept);
  }
  return 0;
}
