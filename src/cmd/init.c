/* init.c: `warren init` — create the repo folder (idempotent). */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "p2p/identity.h"

static void usage(void) {
  printf("Usage: warren [--repo DIR] init\n\n"
         "Creates the repo folder that holds the block store, pins and the node's libp2p\n"
         "key (identity.key, Ed25519, mode 0600): DIR from --repo,\n"
         "else $WARREN_PATH, else ~/.warren. Running it again on an existing repo is\n"
         "harmless. Other commands create the repo on first use too.\n");
}

int wr_cmd_init(int argc, char **argv) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = wr_cli_getopt("init", argc, argv, "h", opts)) != -1) {
    if (c == 'h') {
      usage();
      return 0;
    }
  }
  if (optind < argc)
    wr_cli_usage_error("init", "init takes no arguments, not \"%s\".", argv[optind]);
  char path[WR_REPO_PATH_MAX];
  if (wr_cmd_repo_path(path, sizeof path) != 0)
    return 1;
  int created = 0;
  int rc = wr_repo_init(path, &created);
  if (rc != 0) {
    wr_cli_fail("init: cannot create the repo %s: %s (see the log line above).", path,
                wr_strerror(rc));
    return 1;
  }
  /* Opening creates the LMDB files, so a fresh repo is complete on disk. */
  wr_repo *repo = wr_cmd_repo_open("init", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_repo_close(repo);
  /* The peer identity, made once: a repo keeps its peer ID for life. */
  char keypath[WR_REPO_PATH_MAX + 32], err[512];
  snprintf(keypath, sizeof keypath, "%s/%s", path, WR_P2P_IDENTITY_FILE);
  wr_p2p_privkey key;
  int key_created = 0;
  rc = wr_p2p_identity_load(keypath, 1, &key, &key_created, err, sizeof err);
  if (rc != 0) {
    wr_cli_fail("init: %s.", err);
    return 1;
  }
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&key, &pk);
  memset(&key, 0, sizeof key);
  wr_peerid id;
  wr_peerid_from_pubkey(&id, &pk);
  char ids[WR_PEERID_MAX_STR];
  if (wr_peerid_format(&id, ids, sizeof ids) < 0)
    return 1;
  if (created)
    printf("initialized warren repo at %s\n", path);
  else
    printf("warren repo at %s already exists; nothing to do\n", path);
  if (key_created)
    printf("generated an ED25519 keypair\n");
  printf("peer identity: %s\n", ids);
  return 0;
}
