/* gc.c: `warren gc` — remove every block no pin needs, as kubo's `ipfs repo gc`. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "proto/text/json.h"
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

/* gc compacts the store's file by itself when this much of it is free and
 * that is at least a quarter of the file: LMDB reuses freed pages but never
 * returns them to the disk, and a copy of the live data costs about as much
 * as reading it once. */
#define AUTO_COMPACT_MIN_FREE (64u * 1024 * 1024)

static int should_compact(wr_repo *repo, int mode) {
  if (mode != 0)
    return mode > 0;
  wr_repo_stat st;
  if (wr_repo_stat_get(repo, &st) != 0)
    return 0;
  return st.space.free_bytes >= AUTO_COMPACT_MIN_FREE &&
         st.space.free_bytes >= st.space.file_bytes / 4;
}

/* Compacts and prints what it gave back. Returns 0 or 1 (failure printed). */
static int compact(wr_repo *repo, int quiet) {
  uint64_t before, after;
  int rc = wr_repo_compact(repo, &before, &after);
  if (rc != 0) {
    wr_cli_fail("gc: the blocks were removed, but compacting the store failed: %s (the store is "
                "as it was; the space is reused by later adds).",
                wr_strerror(rc));
    return 1;
  }
  if (!quiet) {
    char b[32], a[32];
    wr_cli_human_bytes(b, sizeof b, before);
    wr_cli_human_bytes(a, sizeof a, after);
    printf("gc: compacted the store from %s to %s\n", b, a);
  }
  return 0;
}

/* Through the daemon: kubo's repo/gc lines, {"Key":{"/":CID}} per removed
 * block or {"Error":...}. */
typedef struct remote_gc {
  int quiet;
  unsigned long long removed;
  int failed;
} remote_gc;

static int gc_line(void *arg, const char *line, size_t n) {
  remote_gc *g = arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *key = wr_json_get(wr_json_get(root, "Key"), "/");
  const wr_json *err = wr_json_get(root, "Error");
  if (key && key->type == WR_JSON_STRING) {
    g->removed++;
    printf(g->quiet ? "%s\n" : "removed %s\n", key->str);
  } else if (err && err->type == WR_JSON_STRING) {
    wr_cli_fail("gc: %s; nothing was removed.", err->str);
    g->failed = 1;
  }
  wr_json_del(root);
  return 0;
}

int wr_cmd_gc(int argc, char **argv) {
  static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
                                       {"compact", no_argument, NULL, 'C'},
                                       {"no-compact", no_argument, NULL, 'N'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  report r = {0};
  int c, compact_mode = 0; /* 1: always, -1: never, 0: when worth it */
  optind = 1;
  while ((c = wr_cli_getopt("gc", argc, argv, "qh", opts)) != -1) {
    if (c == 'q')
      r.quiet = 1;
    else if (c == 'C')
      compact_mode = 1;
    else if (c == 'N')
      compact_mode = -1;
    else if (c == 'h') {
      printf("Usage: warren gc [-q] [--compact | --no-compact]\n\n"
             "Removes every block that no pin needs (recursive pins keep their whole DAG,\n"
             "direct pins one block) and prints \"removed <cid>\" per block, then a summary.\n"
             "-q prints only the CIDs. gc needs the repo alone: it waits for nothing and\n"
             "fails if another warren process is using the repo. If a pinned DAG cannot be\n"
             "read completely, nothing is removed.\n\n"
             "The store's file keeps freed space for later adds; gc gives it back to the\n"
             "disk (a compaction, which needs free space for a copy of the live data) when\n"
             "at least 64 MiB and a quarter of the file is free. --compact always does,\n"
             "--no-compact never does. `warren repo stat` shows the figures.\n");
      return 0;
    }
  }
  if (optind != argc)
    wr_cli_usage_error("gc", "gc takes no arguments, not \"%s\".", argv[optind]);
  wr_addr api;
  int d = wr_cmd_find_daemon("gc", &api);
  if (d < 0)
    return 1;
  if (d > 0) {
    /* The daemon holds the repo: it runs gc (kubo's answer carries no byte
     * counts, so the summary is shorter). */
    remote_gc g = {.quiet = r.quiet};
    wr_cmd_lines lines = {.fn = gc_line, .arg = &g};
    if (wr_cmd_remote_post("gc", &api, "/api/v0/repo/gc", NULL, NULL, NULL, wr_cmd_lines_recv,
                           &lines) != 0 ||
        g.failed)
      return 1;
    if (!r.quiet)
      printf("gc: removed %llu block%s\n", g.removed, g.removed == 1 ? "" : "s");
    return 0;
  }
  wr_repo *repo = wr_cmd_repo_open("gc", WR_REPO_EXCLUSIVE);
  if (!repo)
    return 1;
  wr_gc_stats st;
  wr_gc_fault f;
  int rc = wr_gc_run(repo->bs, on_removed, &r, &st, &f);
  if (rc != 0)
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
    wr_cli_human_bytes(freed, sizeof freed, st.removed_bytes);
    wr_cli_human_bytes(kept, sizeof kept, st.kept_bytes);
    printf("gc: removed %llu block%s, %s (%llu bytes); kept %llu pinned block%s, %s\n",
           (unsigned long long)st.removed_blocks, st.removed_blocks == 1 ? "" : "s", freed,
           (unsigned long long)st.removed_bytes, (unsigned long long)st.kept_blocks,
           st.kept_blocks == 1 ? "" : "s", kept);
  }
  int failed = should_compact(repo, compact_mode) && compact(repo, r.quiet);
  wr_repo_close(repo);
  return failed;
}
