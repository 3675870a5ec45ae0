/* pin.c: `warren pin add|rm|ls` — as kubo's `ipfs pin`. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "store/blockstore.h"
#include "store/dag.h"
#include "store/pin.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: warren pin COMMAND [ARGS]\n\n"
             "Pins keep blocks from `warren gc`, as kubo's `ipfs pin`.\n\n"
             "  add [--recursive=false] CID...   pin a DAG (recursive, the default: the block\n"
             "                                   and all it links to, which must be in the\n"
             "                                   store) or one block (direct)\n"
             "  rm CID...                        unpin\n"
             "  ls [--type=recursive|direct|indirect|all] [-q] [CID...]\n"
             "                                   list pins as \"<cid> <type>\"\n");
}

static int pin_add(int argc, char **argv) {
  static const struct option opts[] = {{"recursive", optional_argument, NULL, 'r'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  int recursive = 1, c;
  optind = 1;
  while ((c = wr_cli_getopt("pin add", argc, argv, "h", opts)) != -1) {
    if (c == 'r')
      recursive = optarg ? wr_cli_parse_bool("pin add", "--recursive", optarg) : 1;
    else if (c == 'h') {
      printf("Usage: warren pin add [--recursive=false] CID...\n\n"
             "Pins each CID. Recursive (default): the whole DAG must be in the local store\n"
             "and valid; it is checked before the pin is written. --recursive=false pins\n"
             "the one block directly.\n");
      return 0;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("pin add", "pin add needs at least one CID.");
  wr_repo *repo = NULL;
  int ret = 0;
  for (int i = optind; i < argc; i++) {
    wr_cid cid;
    if (wr_cmd_parse_cid("pin add", argv[i], &cid) != 0)
      return 1;
  }
  if (!(repo = wr_cmd_repo_open("pin add", WR_REPO_SHARED)))
    return 1;
  for (int i = optind; i < argc; i++) {
    wr_cid cid, bad;
    char s[WR_CID_MAX_STR];
    if (wr_cmd_parse_cid("pin add", argv[i], &cid) != 0)
      continue;
    wr_cmd_cid_str(&cid, s);
    wr_bs_txn *t;
    int rc = wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &t);
    if (rc != 0) {
      wr_cli_fail("pin add: cannot pin %s: %s.", s, wr_strerror(rc));
      ret = 1;
      continue;
    }
    /* Check the DAG in the same transaction that writes the pin, so the pin
     * exists only over blocks that were all there. */
    wr_bs_blocks src;
    unsigned flags = WR_DAG_NO_RAW_READ;
    if (!recursive)
      flags |= WR_DAG_ROOT_ONLY | WR_DAG_OPAQUE_OK;
    rc = wr_dag_walk(wr_bs_blocks_init(&src, t), &cid, NULL, flags, NULL, NULL, &bad);
    if (rc != 0) {
      char b[WR_CID_MAX_STR];
      wr_cmd_cid_str(&bad, b);
      if (rc == WR_ERR_NOTFOUND)
        wr_cli_fail("pin add: cannot pin %s: block %s is not in the local store "
                    "(import it first, e.g. with `warren dag import`).",
                    s, b);
      else if (rc == WR_ERR_UNSUPPORTED)
        wr_cli_fail("pin add: cannot pin %s recursively: block %s uses codec %s, whose links "
                    "warren cannot follow; pin it with --recursive=false.",
                    s, b, wr_cid_codec_name(bad.codec) ? wr_cid_codec_name(bad.codec) : "?");
      else
        wr_cmd_store_fail("pin add", "cannot pin: bad block", &bad, rc);
      wr_bs_txn_abort(t);
      ret = 1;
      continue;
    }
    rc = wr_pin_put_cid(t, &cid, recursive ? WR_PIN_RECURSIVE : WR_PIN_DIRECT);
    if (rc == WR_ERR_EXISTS) {
      wr_cli_fail("pin add: %s is already pinned recursively.", s);
      wr_bs_txn_abort(t);
      ret = 1;
      continue;
    }
    if (rc == 0)
      rc = wr_bs_txn_commit(t);
    else
      wr_bs_txn_abort(t);
    if (rc != 0) {
      wr_cli_fail("pin add: cannot pin %s: %s.", s, wr_strerror(rc));
      ret = 1;
      continue;
    }
    printf("pinned %s %s\n", s, recursive ? "recursively" : "directly");
  }
  wr_repo_close(repo);
  return ret;
}

static int pin_rm(int argc, char **argv) {
  if (wr_cli_help_only("pin rm", argc, argv,
                       "Usage: warren pin rm CID...\n\n"
                       "Removes the pins; `warren gc` then frees the blocks no other pin needs.\n"))
    return 0;
  if (optind >= argc)
    wr_cli_usage_error("pin rm", "pin rm needs at least one CID.");
  for (int i = optind; i < argc; i++) {
    wr_cid cid;
    if (wr_cmd_parse_cid("pin rm", argv[i], &cid) != 0)
      return 1;
  }
  wr_repo *repo = wr_cmd_repo_open("pin rm", WR_REPO_SHARED);
  if (!repo)
    return 1;
  int ret = 0;
  for (int i = optind; i < argc; i++) {
    wr_cid cid;
    char s[WR_CID_MAX_STR];
    if (wr_cmd_parse_cid("pin rm", argv[i], &cid) != 0)
      continue;
    wr_cmd_cid_str(&cid, s);
    wr_bs_txn *t;
    int rc = wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &t);
    if (rc == 0) {
      rc = wr_pin_rm_cid(t, &cid);
      if (rc == 0)
        rc = wr_bs_txn_commit(t);
      else
        wr_bs_txn_abort(t);
    }
    if (rc == WR_ERR_NOTFOUND) {
      wr_cli_fail("pin rm: %s is not pinned or pinned indirectly.", s);
      ret = 1;
    } else if (rc != 0) {
      wr_cli_fail("pin rm: cannot unpin %s: %s.", s, wr_strerror(rc));
      ret = 1;
    } else {
      printf("unpinned %s\n", s);
    }
  }
  wr_repo_close(repo);
  return ret;
}

enum { SHOW_DIRECT = 1, SHOW_RECURSIVE = 2, SHOW_INDIRECT = 4 };

typedef struct ls_ctx {
  wr_bs_txn *txn;
  int show, quiet;
  wr_dag_set *printed; /* indirect blocks already listed */
  wr_dag_set *roots;   /* keys of recursive pin roots (not listed as indirect) */
  const wr_cid *want;  /* pin ls CID: the one asked about, else NULL */
  wr_cid found_root;
  int found;           /* 0, or the wr_pin_type / 3 for indirect */
  int err;
  wr_cid bad;
} ls_ctx;

static void print_pin(const ls_ctx *l, const wr_cid *cid, const char *type) {
  char s[WR_CID_MAX_STR];
  wr_cmd_cid_str(cid, s);
  if (l->quiet)
    printf("%s\n", s);
  else
    printf("%s %s\n", s, type);
}

static int list_direct_recursive(void *arg, const uint8_t *key, size_t keylen, wr_pin_type type) {
  ls_ctx *l = arg;
  wr_cid cid;
  if (wr_cid_from_bytes(key, keylen, &cid, NULL) != 0)
    return 0;
  if (type == WR_PIN_RECURSIVE) {
    uint8_t k[WR_MH_MAX_BYTES];
    int n = wr_bs_key(&cid, k);
    if (n > 0 && wr_dag_set_add(l->roots, k, (size_t)n) < 0)
      return WR_ERR_NOMEM;
  }
  if (l->want) {
    if (wr_cid_equal(&cid, l->want))
      l->found = (int)type;
    return 0;
  }
  if ((type == WR_PIN_DIRECT && (l->show & SHOW_DIRECT)) ||
      (type == WR_PIN_RECURSIVE && (l->show & SHOW_RECURSIVE)))
    print_pin(l, &cid, wr_pin_type_name(type));
  return 0;
}

static int visit_indirect(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  (void)block;
  (void)len;
  ls_ctx *l = arg;
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  if (n <= 0 || wr_dag_set_has(l->roots, k, (size_t)n))
    return 0;
  if (l->want) {
    if (wr_cid_same_block(cid, l->want) || wr_cid_equal(cid, l->want)) {
      l->found = 3;
      return 1;
    }
    return 0;
  }
  int rc = wr_dag_set_add(l->printed, k, (size_t)n);
  if (rc < 0)
    return rc;
  if (rc == 1)
    print_pin(l, cid, "indirect");
  return 0;
}

static int list_indirect(void *arg, const uint8_t *key, size_t keylen, wr_pin_type type) {
  ls_ctx *l = arg;
  wr_cid cid, bad;
  if (type != WR_PIN_RECURSIVE || wr_cid_from_bytes(key, keylen, &cid, NULL) != 0)
    return 0;
  wr_bs_blocks src;
  int rc = wr_dag_walk(wr_bs_blocks_init(&src, l->txn), &cid, NULL, WR_DAG_NO_RAW_READ | WR_DAG_OPAQUE_OK,
                       visit_indirect, l, &bad);
  if (rc == 1) {
    l->found_root = cid;
    return 1;
  }
  if (rc < 0) {
    l->err = rc;
    l->bad = bad;
    return rc;
  }
  return 0;
}

static int pin_ls(int argc, char **argv) {
  static const struct option opts[] = {{"type", required_argument, NULL, 't'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  int show = SHOW_DIRECT | SHOW_RECURSIVE | SHOW_INDIRECT, quiet = 0, c;
  optind = 1;
  while ((c = wr_cli_getopt("pin ls", argc, argv, "t:qh", opts)) != -1) {
    if (c == 't') {
      if (strcmp(optarg, "all") == 0)
        show = SHOW_DIRECT | SHOW_RECURSIVE | SHOW_INDIRECT;
      else if (strcmp(optarg, "direct") == 0)
        show = SHOW_DIRECT;
      else if (strcmp(optarg, "recursive") == 0)
        show = SHOW_RECURSIVE;
      else if (strcmp(optarg, "indirect") == 0)
        show = SHOW_INDIRECT;
      else
        wr_cli_usage_error("pin ls", "--type takes recursive, direct, indirect or all, not "
                                     "\"%s\".",
                           optarg);
    } else if (c == 'q') {
      quiet = 1;
    } else if (c == 'h') {
      printf("Usage: warren pin ls [--type=recursive|direct|indirect|all] [-q] [CID...]\n\n"
             "Lists pins as \"<cid> <type>\" (type all by default; indirect means reachable\n"
             "from a recursive pin). With CIDs, says how each is pinned. -q prints CIDs "
             "only.\n");
      return 0;
    }
  }
  for (int i = optind; i < argc; i++) {
    wr_cid cid;
    if (wr_cmd_parse_cid("pin ls", argv[i], &cid) != 0)
      return 1;
  }
  wr_repo *repo = wr_cmd_repo_open("pin ls", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_bs_txn *t = NULL;
  ls_ctx l = {0};
  l.show = show;
  l.quiet = quiet;
  int ret = 1, rc;
  if ((rc = wr_bs_txn_begin(repo->bs, WR_BS_READ, &t)) != 0 ||
      (rc = wr_dag_set_new(&l.printed)) != 0 || (rc = wr_dag_set_new(&l.roots)) != 0) {
    wr_cli_fail("pin ls: %s.", wr_strerror(rc));
    goto out;
  }
  l.txn = t;
  if (optind == argc) {
    if ((rc = wr_pin_iter(t, list_direct_recursive, &l)) != 0)
      goto fail;
    if ((show & SHOW_INDIRECT) && (rc = wr_pin_iter(t, list_indirect, &l)) != 0)
      goto fail;
    ret = 0;
    goto out;
  }
  ret = 0;
  for (int i = optind; i < argc; i++) {
    wr_cid cid;
    char s[WR_CID_MAX_STR];
    if (wr_cmd_parse_cid("pin ls", argv[i], &cid) != 0)
      continue;
    wr_cmd_cid_str(&cid, s);
    l.want = &cid;
    l.found = 0;
    if ((rc = wr_pin_iter(t, list_direct_recursive, &l)) != 0)
      goto fail;
    if (!l.found && (rc = wr_pin_iter(t, list_indirect, &l)) < 0)
      goto fail;
    if (l.found == WR_PIN_DIRECT || l.found == WR_PIN_RECURSIVE) {
      if ((l.found == WR_PIN_DIRECT && (show & SHOW_DIRECT)) ||
          (l.found == WR_PIN_RECURSIVE && (show & SHOW_RECURSIVE))) {
        print_pin(&l, &cid, wr_pin_type_name((wr_pin_type)l.found));
        continue;
      }
    } else if (l.found == 3 && (show & SHOW_INDIRECT)) {
      char r[WR_CID_MAX_STR];
      wr_cmd_cid_str(&l.found_root, r);
      if (quiet)
        printf("%s\n", s);
      else
        printf("%s indirect through %s\n", s, r);
      continue;
    }
    wr_cli_fail("pin ls: path '%s' is not pinned.", s);
    ret = 1;
  }
  goto out;
fail:
  if (l.err)
    wr_cmd_store_fail("pin ls", "cannot walk a pinned DAG at block", &l.bad, l.err);
  else
    wr_cli_fail("pin ls: %s.", wr_strerror(rc));
  ret = 1;
out:
  wr_dag_set_del(l.printed);
  wr_dag_set_del(l.roots);
  wr_bs_txn_abort(t);
  wr_repo_close(repo);
  return ret;
}

int wr_cmd_pin(int argc, char **argv) {
  static const wr_subcommand subs[] = {
      {"add", pin_add},
      {"rm", pin_rm},
      {"ls", pin_ls},
  };
  return wr_cli_dispatch("pin", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
