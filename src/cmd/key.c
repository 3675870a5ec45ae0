/* key.c: `warren key gen|list|rm` — IPNS keys in the repo's keystore, as
 * kubo's `ipfs key` (names, IDs as base36 CIDv1 libp2p-key). */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/keyload.h"
#include "cmd/repoflag.h"
#include "p2p/identity.h"
#include "proto/multiformats/multibase.h"
#include "store/keystore.h"
#include "store/repo.h"

int wr_cmd_key_load(const char *repo, const char *name, wr_p2p_privkey *sk, char *err,
                    size_t errlen) {
  if (strcmp(name, "self") == 0) {
    char path[WR_REPO_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", repo, WR_P2P_IDENTITY_FILE);
    return wr_p2p_identity_load(path, 1, sk, NULL, err, errlen);
  }
  return wr_keystore_load(repo, name, sk, err, errlen);
}

void wr_cmd_key_name(const wr_p2p_privkey *sk, char *out) {
  wr_p2p_pubkey pk;
  wr_peerid id;
  wr_p2p_privkey_public(sk, &pk);
  wr_peerid_from_pubkey(&id, &pk);
  if (wr_peerid_format_cid(&id, WR_MB_BASE36, out, WR_PEERID_MAX_STR) < 0)
    out[0] = '\0';
}

static void usage(FILE *f) {
  fprintf(f, "Usage: warren [--repo DIR] key COMMAND\n\n"
             "IPNS keys (Ed25519), kept in REPO/keystore in kubo's format. \"self\" is the\n"
             "node's own key (REPO/identity.key).\n\n"
             "Commands:\n"
             "  gen [-t ed25519] NAME   make a key; prints its name (k51...)\n"
             "  list [-l]               the keys' names; -l puts each one's ID first\n"
             "  rm NAME...              remove keys\n");
}

static int open_repo(char *path, size_t cap) {
  if (wr_cmd_repo_path(path, cap) != 0)
    return -1;
  int created = 0, rv = wr_repo_init(path, &created);
  if (rv != 0) {
    wr_cli_fail("key: cannot create the repo %s: %s.", path, wr_strerror(rv));
    return -1;
  }
  return 0;
}

static int key_gen(int argc, char **argv) {
  static const struct option opts[] = {
      {"type", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = wr_cli_getopt("key gen", argc, argv, "t:h", opts)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return 0;
    }
    if (c == 't' && strcmp(optarg, "ed25519") != 0)
      wr_cli_usage_error("key gen", "only --type ed25519 keys are supported, not \"%s\".", optarg);
  }
  if (argc - optind != 1)
    wr_cli_usage_error("key gen", "key gen takes one NAME.");
  char repo[WR_REPO_PATH_MAX], err[512], name[WR_PEERID_MAX_STR];
  if (open_repo(repo, sizeof repo) != 0)
    return 1;
  wr_p2p_privkey sk;
  if (wr_keystore_gen(repo, argv[optind], &sk, err, sizeof err) != 0) {
    wr_cli_fail("key gen: %s.", err);
    return 1;
  }
  wr_cmd_key_name(&sk, name);
  memset(&sk, 0, sizeof sk);
  printf("%s\n", name);
  return 0;
}

static int print_key(void *arg, const char *name, const wr_p2p_privkey *sk) {
  char id[WR_PEERID_MAX_STR];
  if (*(int *)arg) {
    wr_cmd_key_name(sk, id);
    printf("%s %s\n", id, name);
  } else {
    printf("%s\n", name);
  }
  return 0;
}

static int key_list(int argc, char **argv) {
  static const struct option opts[] = {
      {"l", no_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c, lng = 0;
  while ((c = wr_cli_getopt("key list", argc, argv, "lh", opts)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return 0;
    }
    lng = 1;
  }
  char repo[WR_REPO_PATH_MAX], err[512];
  if (open_repo(repo, sizeof repo) != 0)
    return 1;
  wr_p2p_privkey self;
  if (wr_cmd_key_load(repo, "self", &self, err, sizeof err) != 0) {
    wr_cli_fail("key list: %s.", err);
    return 1;
  }
  (void)print_key(&lng, "self", &self);
  memset(&self, 0, sizeof self);
  if (wr_keystore_list(repo, print_key, &lng, err, sizeof err) != 0) {
    wr_cli_fail("key list: %s.", err);
    return 1;
  }
  return 0;
}

static int key_rm(int argc, char **argv) {
  if (wr_cli_help_only("key rm", argc, argv, "Usage: warren key rm NAME...\n"))
    return 0;
  if (optind >= argc)
    wr_cli_usage_error("key rm", "key rm takes at least one NAME.");
  char repo[WR_REPO_PATH_MAX], err[512];
  if (open_repo(repo, sizeof repo) != 0)
    return 1;
  int status = 0;
  for (int i = optind; i < argc; i++) {
    if (wr_keystore_rm(repo, argv[i], err, sizeof err) != 0) {
      wr_cli_fail("key rm: %s.", err);
      status = 1;
    } else {
      printf("%s\n", argv[i]);
    }
  }
  return status;
}

int wr_cmd_key(int argc, char **argv) {
  static const wr_subcommand subs[] = {
      {"gen", key_gen},
      {"list", key_list},
      {"rm", key_rm},
  };
  return wr_cli_dispatch("key", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
