/* pin.c: `warren pin add|rm|ls` — as kubo's `ipfs pin`. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/pinning.h"
#include "proto/text/json.h"

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

/* Says why cid (formatted as s) could not be pinned. */
static void pin_add_fail(const char *s, int rc, const wr_pinning_fault *f) {
  char b[WR_CID_MAX_STR];
  if (!f->walk) {
    if (rc == WR_ERR_EXISTS)
      wr_cli_fail("pin add: %s is already pinned recursively.", s);
    else
      wr_cli_fail("pin add: cannot pin %s: %s.", s, wr_strerror(rc));
    return;
  }
  wr_cmd_cid_str(&f->block, b);
  if (rc == WR_ERR_NOTFOUND)
    wr_cli_fail("pin add: cannot pin %s: block %s is not in the local store "
                "(import it first, e.g. with `warren dag import`).",
                s, b);
  else if (rc == WR_ERR_UNSUPPORTED)
    wr_cli_fail("pin add: cannot pin %s recursively: block %s uses codec %s, whose links "
                "warren cannot follow; pin it with --recursive=false.",
                s, b, wr_cid_codec_name(f->block.codec) ? wr_cid_codec_name(f->block.codec) : "?");
  else
    wr_cmd_store_fail("pin add", "cannot pin: bad block", &f->block, rc);
}

/* pin add|rm through the daemon: {"Pins":[CID...]} on success, printed as
 * the direct path prints it. kubo's API fails the whole request at the
 * first CID it cannot (un)pin. */
typedef struct pins_out {
  wr_buf body;
} pins_out;

static int pins_recv(void *arg, const uint8_t *p, size_t n) {
  pins_out *o = arg;
  return wr_buf_append(&o->body, p, n);
}

static int remote_pin_change(const char *cmd, const wr_addr *api, int recursive, int argc,
                             char **argv) {
  int add = strcmp(cmd, "pin add") == 0;
  wr_buf t;
  wr_buf_init(&t, 64 * 1024);
  int rv = wr_buf_printf(&t, "/api/v0/%s?recursive=%s", add ? "pin/add" : "pin/rm",
                         recursive ? "true" : "false");
  for (int i = optind; i < argc && !rv; i++) {
    char esc[3 * 512 + 1];
    rv = wr_rpc_url_escape(argv[i], 1, esc, sizeof esc);
    if (!rv)
      rv = wr_buf_printf(&t, "&arg=%s", esc);
  }
  if (!rv)
    rv = wr_buf_append(&t, "", 1);
  if (rv) {
    wr_cli_fail("%s: too many or too long arguments.", cmd);
    wr_buf_free(&t);
    return 1;
  }
  pins_out o;
  wr_buf_init(&o.body, 1024 * 1024);
  rv = wr_cmd_remote_post(cmd, api, (char *)t.data, NULL, NULL, NULL, pins_recv, &o);
  wr_json *root = NULL;
  const wr_json *pins = NULL;
  if (!rv && wr_json_parse((const char *)o.body.data, o.body.len, NULL, &root, NULL) == 0)
    pins = wr_json_get(root, "Pins");
  if (!rv && (!pins || pins->type != WR_JSON_ARRAY)) {
    wr_cli_fail("%s: the daemon's answer has no Pins list.", cmd);
    rv = WR_ERR_MALFORMED;
  }
  for (const wr_json *e = pins ? pins->child : NULL; e && !rv; e = e->next)
    if (e->type == WR_JSON_STRING) {
      if (add)
        printf("pinned %s %s\n", e->str, recursive ? "recursively" : "directly");
      else
        printf("unpinned %s\n", e->str);
    }
  wr_json_del(root);
  wr_buf_free(&o.body);
  wr_buf_free(&t);
  return rv ? 1 : 0;
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
  wr_addr api;
  int d = wr_cmd_find_daemon("pin add", &api);
  if (d != 0)
    return d < 0 ? 1 : remote_pin_change("pin add", &api, recursive, argc, argv);
  if (!(repo = wr_cmd_repo_open("pin add", WR_REPO_SHARED)))
    return 1;
  for (int i = optind; i < argc; i++) {
    wr_cid cid;
    wr_pinning_fault f;
    char s[WR_CID_MAX_STR];
    if (wr_cmd_parse_cid("pin add", argv[i], &cid) != 0)
      continue;
    wr_cmd_cid_str(&cid, s);
    int rc = wr_pinning_add(repo->bs, &cid, recursive ? WR_PIN_RECURSIVE : WR_PIN_DIRECT, &f);
    if (rc != 0) {
      pin_add_fail(s, rc, &f);
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
  wr_addr api;
  int d = wr_cmd_find_daemon("pin rm", &api);
  if (d != 0)
    return d < 0 ? 1 : remote_pin_change("pin rm", &api, 1, argc, argv);
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
    int rc = wr_pinning_rm(repo->bs, &cid);
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

typedef struct ls_out {
  int quiet;
} ls_out;

static int print_pin(void *arg, const wr_cid *cid, int kind) {
  const ls_out *o = arg;
  char s[WR_CID_MAX_STR];
  wr_cmd_cid_str(cid, s);
  if (o->quiet)
    printf("%s\n", s);
  else
    printf("%s %s\n", s,
           kind == WR_PINNING_INDIRECT ? "indirect" : wr_pin_type_name((wr_pin_type)kind));
  return 0;
}

/* Says how one CID is pinned, as kubo's `pin ls CID`. 0 shown, 1 not
 * pinned (as show asks), or a negative error with *f set. */
static int ls_one(wr_bs *bs, const wr_cid *cid, unsigned show, ls_out *o, wr_pinning_fault *f) {
  int kind;
  wr_cid root;
  int rc = wr_pinning_find(bs, cid, &kind, &root, f);
  if (rc != 0)
    return rc;
  if ((kind == WR_PIN_DIRECT && (show & WR_PINNING_SHOW_DIRECT)) ||
      (kind == WR_PIN_RECURSIVE && (show & WR_PINNING_SHOW_RECURSIVE)))
    return print_pin(o, cid, kind);
  if (kind == WR_PINNING_INDIRECT && (show & WR_PINNING_SHOW_INDIRECT)) {
    char s[WR_CID_MAX_STR], r[WR_CID_MAX_STR];
    wr_cmd_cid_str(cid, s);
    wr_cmd_cid_str(&root, r);
    if (o->quiet)
      printf("%s\n", s);
    else
      printf("%s indirect through %s\n", s, r);
    return 0;
  }
  return 1;
}

/* One streamed pin from the daemon ({"Cid":..,"Type":..}), printed as the
 * direct path prints it. */
static int remote_pin_line(void *arg, const char *line, size_t n) {
  const ls_out *o = arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *cid = wr_json_get(root, "Cid"), *type = wr_json_get(root, "Type");
  if (cid && cid->type == WR_JSON_STRING) {
    if (o->quiet || !type || type->type != WR_JSON_STRING)
      printf("%s\n", cid->str);
    else
      printf("%s %s\n", cid->str, type->str);
  }
  wr_json_del(root);
  return 0;
}

static int remote_pin_ls(const wr_addr *api, const char *type, int quiet, int argc, char **argv) {
  wr_buf t;
  wr_buf_init(&t, 64 * 1024);
  int rv = wr_buf_printf(&t, "/api/v0/pin/ls?stream=true&type=%s", type);
  for (int i = optind; i < argc && !rv; i++) {
    char esc[3 * 512 + 1];
    rv = wr_rpc_url_escape(argv[i], 1, esc, sizeof esc);
    if (!rv)
      rv = wr_buf_printf(&t, "&arg=%s", esc);
  }
  if (!rv)
    rv = wr_buf_append(&t, "", 1);
  if (rv) {
    wr_cli_fail("pin ls: too many or too long arguments.");
    wr_buf_free(&t);
    return 1;
  }
  ls_out o = {quiet};
  wr_cmd_lines lines = {.fn = remote_pin_line, .arg = &o};
  rv = wr_cmd_remote_post("pin ls", api, (char *)t.data, NULL, NULL, NULL, wr_cmd_lines_recv,
                          &lines);
  wr_buf_free(&t);
  return rv ? 1 : 0;
}

static int pin_ls(int argc, char **argv) {
  static const struct option opts[] = {{"type", required_argument, NULL, 't'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  unsigned show = WR_PINNING_SHOW_ALL;
  const char *type = "all";
  int quiet = 0, c;
  optind = 1;
  while ((c = wr_cli_getopt("pin ls", argc, argv, "t:qh", opts)) != -1) {
    if (c == 't') {
      type = optarg;
      if (strcmp(optarg, "all") == 0)
        show = WR_PINNING_SHOW_ALL;
      else if (strcmp(optarg, "direct") == 0)
        show = WR_PINNING_SHOW_DIRECT;
      else if (strcmp(optarg, "recursive") == 0)
        show = WR_PINNING_SHOW_RECURSIVE;
      else if (strcmp(optarg, "indirect") == 0)
        show = WR_PINNING_SHOW_INDIRECT;
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
  wr_addr api;
  int d = wr_cmd_find_daemon("pin ls", &api);
  if (d < 0)
    return 1;
  if (d > 0)
    return remote_pin_ls(&api, type, quiet, argc, argv);
  wr_repo *repo = wr_cmd_repo_open("pin ls", WR_REPO_SHARED);
  if (!repo)
    return 1;
  ls_out o = {quiet};
  wr_pinning_fault f;
  int ret = 0, rc = 0;
  if (optind == argc) {
    rc = wr_pinning_list(repo->bs, show, print_pin, &o, &f);
  } else {
    for (int i = optind; i < argc && rc >= 0; i++) {
      wr_cid cid;
      char s[WR_CID_MAX_STR];
      if (wr_cmd_parse_cid("pin ls", argv[i], &cid) != 0)
        continue;
      if ((rc = ls_one(repo->bs, &cid, show, &o, &f)) == 1) {
        wr_cmd_cid_str(&cid, s);
        wr_cli_fail("pin ls: path '%s' is not pinned.", s);
        ret = 1;
      }
    }
  }
  if (rc < 0) {
    if (f.walk)
      wr_cmd_store_fail("pin ls", "cannot walk a pinned DAG at block", &f.block, rc);
    else
      wr_cli_fail("pin ls: %s.", wr_strerror(rc));
    ret = 1;
  }
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
