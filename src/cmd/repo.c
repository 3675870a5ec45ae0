/* repo.c: `warren repo stat|verify|gc|compact` — the store as a whole, as
 * kubo's `ipfs repo`. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "store/repo.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: warren repo COMMAND\n\n"
             "The local store as a whole, as kubo's `ipfs repo`.\n\n"
             "  stat [--human]    blocks, pins and the space the store takes on disk\n"
             "  verify            read every block and check it against its hash\n"
             "  gc                the same as `warren gc`\n"
             "  compact           give the space freed by gc back to the disk\n\n"
             "--repo DIR picks the repo.\n");
}

static int repo_stat(int argc, char **argv) {
  static const struct option opts[] = {
      {"human", no_argument, NULL, 'H'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c, human = 0;
  optind = 1;
  while ((c = wr_cli_getopt("repo stat", argc, argv, "h", opts)) != -1) {
    if (c == 'H')
      human = 1;
    else if (c == 'h') {
      printf("Usage: warren repo stat [--human]\n\n"
             "Prints, as kubo's `ipfs repo stat`: NumObjects (stored blocks), RepoSize (the\n"
             "store's file on disk, in bytes), RepoPath and Version; then warren's own:\n"
             "BlockBytes (the blocks' bytes), FreeBytes (space in the file that gc freed,\n"
             "reused by later adds and given back by `warren repo compact`) and NumPins.\n"
             "--human prints sizes as KiB, MiB, GiB.\n");
      return 0;
    }
  }
  if (optind != argc)
    wr_cli_usage_error("repo stat", "repo stat takes no arguments, not \"%s\".", argv[optind]);
  wr_repo *repo = wr_cmd_repo_open("repo stat", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_repo_stat st;
  int rc = wr_repo_stat_get(repo, &st);
  if (rc != 0) {
    wr_cli_fail("repo stat: cannot read the store: %s.", wr_strerror(rc));
    wr_repo_close(repo);
    return 1;
  }
  char size[32], bytes[32], freeb[32];
  if (human) {
    wr_cli_human_bytes(size, sizeof size, st.space.file_bytes);
    wr_cli_human_bytes(bytes, sizeof bytes, st.block_bytes);
    wr_cli_human_bytes(freeb, sizeof freeb, st.space.free_bytes);
  } else {
    snprintf(size, sizeof size, "%llu", (unsigned long long)st.space.file_bytes);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)st.block_bytes);
    snprintf(freeb, sizeof freeb, "%llu", (unsigned long long)st.space.free_bytes);
  }
  printf("NumObjects: %llu\nRepoSize:   %s\nRepoPath:   %s\nVersion:    warren-repo@1\n"
         "BlockBytes: %s\nFreeBytes:  %s\nNumPins:    %llu\n",
         (unsigned long long)st.blocks, size, repo->path, bytes, freeb,
         (unsigned long long)st.pins);
  wr_repo_close(repo);
  return 0;
}

typedef struct verify_report {
  uint64_t done, bad, unsupported;
  int progress;     /* stderr is a terminal */
  wr_buf *bad_keys; /* --remove: each bad key as a length byte and its bytes */
} verify_report;

static int on_verified(void *arg, const uint8_t *mh, size_t mhlen, size_t size, int rc) {
  (void)size;
  verify_report *v = arg;
  v->done++;
  if (rc != 0) {
    char key[WR_BS_KEYSTR_MAX];
    wr_bs_key_string(key, mh, mhlen);
    if (v->progress)
      fputs("\r\033[K", stderr);
    if (rc == WR_ERR_CORRUPT) {
      v->bad++;
      printf("block %s was corrupt: its bytes do not match its hash\n", key);
      uint8_t n = (uint8_t)mhlen; /* keys are at most WR_BS_MAX_KEY (< 256) bytes */
      if (v->bad_keys &&
          (wr_buf_append(v->bad_keys, &n, 1) != 0 || wr_buf_append(v->bad_keys, mh, n) != 0))
        return WR_ERR_NOMEM;
    } else {
      v->unsupported++;
      printf("block %s was not checked: warren cannot compute its hash function\n", key);
    }
  }
  if (v->progress && v->done % 1024 == 0)
    fprintf(stderr, "\r%llu blocks processed.", (unsigned long long)v->done);
  return 0;
}

/* Removes the blocks listed in keys (as on_verified stores them), in one
 * commit, printing each. Returns 0 or the store's error. */
static int remove_bad(wr_repo *repo, const wr_buf *keys) {
  wr_bs_txn *txn;
  int rc = wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &txn);
  for (size_t at = 0; rc == 0 && at < keys->len; at += 1u + keys->data[at])
    rc = wr_bs_txn_rm(txn, keys->data + at + 1, keys->data[at]);
  if (rc == 0)
    rc = wr_bs_txn_commit(txn);
  else
    wr_bs_txn_abort(txn);
  for (size_t at = 0; rc == 0 && at < keys->len; at += 1u + keys->data[at]) {
    char key[WR_BS_KEYSTR_MAX];
    wr_bs_key_string(key, keys->data + at + 1, keys->data[at]);
    printf("removed %s\n", key);
  }
  return rc;
}

static int repo_verify(int argc, char **argv) {
  static const struct option opts[] = {
      {"remove", no_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c, remove = 0;
  optind = 1;
  while ((c = wr_cli_getopt("repo verify", argc, argv, "h", opts)) != -1) {
    if (c == 'r')
      remove = 1;
    else if (c == 'h') {
      printf("Usage: warren repo verify [--remove]\n\n"
             "Reads every stored block and checks it against its hash, as kubo's `ipfs repo\n"
             "verify`. Prints \"block <cid> was corrupt\" per bad block and exits 1 if there\n"
             "was any. --remove then deletes the bad blocks (\"removed <cid>\"), so that\n"
             "adding or importing the content again stores good copies (a store keeps the\n"
             "block it has); without it nothing is changed.\n");
      return 0;
    }
  }
  if (optind != argc)
    wr_cli_usage_error("repo verify", "repo verify takes no arguments, not \"%s\".", argv[optind]);
  wr_repo *repo = wr_cmd_repo_open("repo verify", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_buf bad_keys;
  wr_buf_init(&bad_keys, 64u << 20);
  verify_report v = {.progress = isatty(2), .bad_keys = remove ? &bad_keys : NULL};
  wr_bs_txn *txn;
  int rc = wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn);
  if (rc == 0) {
    rc = wr_bs_txn_verify_all(txn, on_verified, &v);
    wr_bs_txn_abort(txn);
  }
  if (rc == 0 && bad_keys.len && (rc = remove_bad(repo, &bad_keys)) != 0) {
    wr_cli_fail("repo verify: cannot remove the corrupt blocks: %s.", wr_strerror(rc));
    rc = 0; /* told; the verdict below still stands */
  }
  wr_buf_free(&bad_keys);
  wr_repo_close(repo);
  if (v.progress)
    fputs("\r\033[K", stderr);
  if (rc != 0) {
    wr_cli_fail("repo verify: cannot read the store after %llu blocks: %s.",
                (unsigned long long)v.done, wr_strerror(rc));
    return 1;
  }
  if (v.bad)
    printf("verify complete, %llu of %llu blocks were corrupt\n", (unsigned long long)v.bad,
           (unsigned long long)v.done);
  else
    printf("verify complete, all %llu blocks validated%s\n", (unsigned long long)v.done,
           v.unsupported ? " (but some could not be checked)" : "");
  return v.bad ? 1 : 0;
}

static int repo_compact(int argc, char **argv) {
  if (wr_cli_help_only("repo compact", argc, argv,
                       "Usage: warren repo compact\n\n"
                       "Rewrites the store's file with only its live data, so the space gc "
                       "freed goes back\nto the disk (the file never shrinks by itself). It "
                       "needs free disk space for a copy\nof the live data, and the repo alone, "
                       "as gc. `warren gc` compacts by itself when\nenough is free.\n"))
    return 0;
  if (optind != argc)
    wr_cli_usage_error("repo compact", "repo compact takes no arguments, not \"%s\".",
                       argv[optind]);
  wr_repo *repo = wr_cmd_repo_open("repo compact", WR_REPO_EXCLUSIVE);
  if (!repo)
    return 1;
  uint64_t before, after;
  int rc = wr_repo_compact(repo, &before, &after);
  wr_repo_close(repo);
  if (rc != 0) {
    wr_cli_fail("repo compact: %s; the store is as it was.", wr_strerror(rc));
    return 1;
  }
  char b[32], a[32];
  wr_cli_human_bytes(b, sizeof b, before);
  wr_cli_human_bytes(a, sizeof a, after);
  printf("compacted the store from %s to %s\n", b, a);
  return 0;
}

int wr_cmd_repo(int argc, char **argv) {
  static const wr_subcommand table[] = {
      {"stat", repo_stat}, {"verify", repo_verify}, {"gc", wr_cmd_gc}, {"compact", repo_compact}};
  return wr_cli_dispatch("repo", argc, argv, table, sizeof table / sizeof table[0], usage);
}
