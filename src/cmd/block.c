/* block.c: `warren block get|put|stat|rm` — raw blocks, as kubo's `ipfs block`. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/block.h"
#include "content/exporter.h"
#include "proto/text/json.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: warren block COMMAND [ARGS]\n\n"
             "Work with raw blocks in the local store, as kubo's `ipfs block`.\n\n"
             "  get CID                 write the block's bytes to stdout (hash-verified)\n"
             "  put [--cid-codec raw|dag-pb] [--mhtype sha2-256] [--pin] < DATA\n"
             "                          store stdin as one block and print its CIDv1\n"
             "                          (raw codec by default, as kubo)\n"
             "  stat CID                print Key and Size\n"
             "  rm [-f] [-q] CID...     remove blocks (not pinned ones)\n\n"
             "Every read is verified against the CID's hash. --repo DIR picks the repo.\n");
}

static int block_get(int argc, char **argv) {
  if (wr_cli_help_only("block get", argc, argv,
                       "Usage: warren block get CID\n\n"
                       "Writes the block's raw bytes to stdout after checking them against the "
                       "CID's hash.\n"))
    return 0;
  if (argc - optind != 1)
    wr_cli_usage_error("block get", "block get takes exactly one CID.");
  wr_cid cid;
  if (wr_cmd_parse_cid("block get", argv[optind], &cid) != 0)
    return 1;
  wr_addr api;
  int d = wr_cmd_find_daemon("block get", &api);
  if (d != 0)
    return d < 0 ? 1 : wr_cmd_remote_bytes("block get", &api, "block/get", argv[optind]);
  wr_repo *repo = wr_cmd_repo_open("block get", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_export ex;
  const uint8_t *p;
  size_t n;
  int rc = wr_export_begin(&ex, repo->bs);
  if (rc == 0)
    rc = wr_blocks_get(ex.blocks, &cid, &p, &n);
  int ret = 0;
  if (rc != 0) {
    wr_cmd_store_fail("block get", "cannot read", &cid, rc);
    ret = 1;
  } else if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) {
    wr_cli_fail("block get: cannot write to stdout.");
    ret = 1;
  }
  wr_export_end(&ex);
  wr_repo_close(repo);
  return ret;
}

/* Reads all of stdin into b (bounded by its limit). 0, WR_ERR_LIMIT, WR_ERR_IO. */
static int read_stdin(wr_buf *b) {
  for (;;) {
    int rc = wr_buf_reserve(b, 65536);
    if (rc == WR_ERR_LIMIT) {
      /* Room for less than 64 KiB: read what fits plus one byte to tell. */
      uint8_t probe[65536];
      size_t room = b->limit - b->len;
      ssize_t r = read(0, probe, room + 1 <= sizeof probe ? room + 1 : sizeof probe);
      if (r < 0)
        return WR_ERR_IO;
      if (r == 0)
        return 0;
      if ((size_t)r > room)
        return WR_ERR_LIMIT;
      if (wr_buf_append(b, probe, (size_t)r) != 0)
        return WR_ERR_LIMIT;
      continue;
    }
    if (rc != 0)
      return rc;
    ssize_t r = read(0, b->data + b->len, b->cap - b->len);
    if (r < 0)
      return WR_ERR_IO;
    if (r == 0)
      return 0;
    b->len += (size_t)r;
  }
}

/* The daemon's {"Key":CID,"Size":N}: the CID, as the direct path prints. */
static int put_line(void *arg, const char *line, size_t n) {
  (void)arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *key = wr_json_get(root, "Key");
  if (key && key->type == WR_JSON_STRING)
    printf("%s\n", key->str);
  wr_json_del(root);
  return key ? 0 : WR_ERR_MALFORMED;
}

static int block_put(int argc, char **argv) {
  static const struct option opts[] = {{"cid-codec", required_argument, NULL, 'c'},
                                       {"mhtype", required_argument, NULL, 'm'},
                                       {"pin", optional_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  uint64_t codec = WR_CODEC_RAW;
  int pin = 0, c;
  optind = 1;
  while ((c = wr_cli_getopt("block put", argc, argv, "h", opts)) != -1) {
    switch (c) {
    case 'c':
      if (strcmp(optarg, "raw") == 0)
        codec = WR_CODEC_RAW;
      else if (strcmp(optarg, "dag-pb") == 0)
        codec = WR_CODEC_DAG_PB;
      else
        wr_cli_usage_error("block put", "--cid-codec takes raw or dag-pb, not \"%s\".", optarg);
      break;
    case 'm':
      if (strcmp(optarg, "sha2-256") != 0)
        wr_cli_usage_error("block put", "--mhtype supports only sha2-256, not \"%s\".", optarg);
      break;
    case 'p':
      pin = optarg ? wr_cli_parse_bool("block put", "--pin", optarg) : 1;
      break;
    case 'h':
      printf("Usage: warren block put [--cid-codec raw|dag-pb] [--mhtype sha2-256] "
             "[--pin[=true]] < DATA\n\n"
             "Stores stdin (at most %u bytes) as one block and prints its CIDv1 (raw codec\n"
             "unless --cid-codec dag-pb, which checks that the bytes are valid dag-pb).\n"
             "--pin pins it (directly; recursively for dag-pb).\n",
             WR_BS_MAX_BLOCK);
      return 0;
    }
  }
  if (optind != argc)
    wr_cli_usage_error("block put",
                       "block put reads the block from stdin and takes no "
                       "arguments, not \"%s\".",
                       argv[optind]);
  wr_buf b;
  wr_buf_init(&b, WR_BS_MAX_BLOCK);
  int rc = read_stdin(&b), ret = 1;
  wr_repo *repo = NULL;
  if (rc == WR_ERR_LIMIT) {
    wr_cli_fail("block put: the block is larger than the %u-byte limit.", WR_BS_MAX_BLOCK);
    goto out;
  }
  if (rc != 0) {
    wr_cli_fail("block put: cannot read stdin.");
    goto out;
  }
  wr_cid cid;
  const char *reason = NULL;
  if ((rc = wr_block_check(codec, b.data, b.len, &cid, &reason)) != 0) {
    if (rc == WR_ERR_MALFORMED)
      wr_cli_fail("block put: the data is not a valid dag-pb block: %s.", reason);
    goto out;
  }
  wr_addr api;
  int d = wr_cmd_find_daemon("block put", &api);
  if (d < 0)
    goto out;
  if (d > 0) {
    char target[128];
    snprintf(target, sizeof target, "/api/v0/block/put?cid-codec=%s&pin=%s",
             codec == WR_CODEC_DAG_PB ? "dag-pb" : "raw", pin ? "true" : "false");
    if (wr_cmd_remote_upload("block put", &api, target, NULL, 0, b.data, b.len, put_line, NULL) ==
        0)
      ret = 0;
    goto out;
  }
  if (!(repo = wr_cmd_repo_open("block put", WR_REPO_SHARED)))
    goto out;
  wr_pinning_fault f;
  if ((rc = wr_block_put(repo->bs, &cid, b.data, b.len, pin, &f)) != 0) {
    if (f.walk)
      wr_cmd_store_fail("block put", "cannot pin: the DAG needs", &f.block, rc);
    else
      wr_cli_fail("block put: cannot store the block: %s (see the log line above).",
                  wr_strerror(rc));
    goto out;
  }
  char s[WR_CID_MAX_STR];
  wr_cmd_cid_str(&cid, s);
  printf("%s\n", s);
  ret = 0;
out:
  wr_repo_close(repo);
  wr_buf_free(&b);
  return ret;
}

/* The daemon's {"Key":CID,"Size":N}, printed as the direct path prints it. */
static int stat_line(void *arg, const char *line, size_t n) {
  (void)arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *key = wr_json_get(root, "Key"), *size = wr_json_get(root, "Size");
  int64_t sz = 0;
  int rv = WR_ERR_MALFORMED;
  if (key && key->type == WR_JSON_STRING && size && wr_json_get_int(size, 0, INT64_MAX, &sz) == 0) {
    printf("Key: %s\nSize: %lld\n", key->str, (long long)sz);
    rv = 0;
  }
  wr_json_del(root);
  return rv;
}

static int block_stat(int argc, char **argv) {
  if (wr_cli_help_only("block stat", argc, argv,
                       "Usage: warren block stat CID\n\n"
                       "Prints the block's Key (the CID) and Size in bytes, after checking its "
                       "hash.\n"))
    return 0;
  if (argc - optind != 1)
    wr_cli_usage_error("block stat", "block stat takes exactly one CID.");
  wr_cid cid;
  if (wr_cmd_parse_cid("block stat", argv[optind], &cid) != 0)
    return 1;
  wr_addr api;
  int d = wr_cmd_find_daemon("block stat", &api);
  if (d < 0)
    return 1;
  if (d > 0) {
    char esc[3 * 512 + 1], target[3 * 512 + 64];
    if (wr_rpc_url_escape(argv[optind], 1, esc, sizeof esc) != 0)
      wr_cli_usage_error("block stat", "the CID is too long.");
    snprintf(target, sizeof target, "/api/v0/block/stat?arg=%s", esc);
    wr_cmd_lines lines = {.fn = stat_line, .arg = NULL};
    return wr_cmd_remote_post("block stat", &api, target, NULL, NULL, NULL, wr_cmd_lines_recv,
                              &lines)
               ? 1
               : 0;
  }
  wr_repo *repo = wr_cmd_repo_open("block stat", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_export ex;
  const uint8_t *p;
  size_t n = 0;
  int rc = wr_export_begin(&ex, repo->bs);
  if (rc == 0)
    rc = wr_blocks_get(ex.blocks, &cid, &p, &n); /* verified, as kubo's stat */
  wr_export_end(&ex);
  wr_repo_close(repo);
  if (rc != 0) {
    wr_cmd_store_fail("block stat", "cannot stat", &cid, rc);
    return 1;
  }
  char s[WR_CID_MAX_STR];
  wr_cmd_cid_str(&cid, s);
  printf("Key: %s\nSize: %zu\n", s, n);
  return 0;
}

static int block_rm(int argc, char **argv) {
  static const struct option opts[] = {{"force", no_argument, NULL, 'f'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  int force = 0, quiet = 0, c;
  optind = 1;
  while ((c = wr_cli_getopt("block rm", argc, argv, "fqh", opts)) != -1) {
    if (c == 'f')
      force = 1;
    else if (c == 'q')
      quiet = 1;
    else if (c == 'h') {
      printf("Usage: warren block rm [-f] [-q] CID...\n\n"
             "Removes blocks from the local store. A block that is pinned, or part of a\n"
             "pinned DAG, is refused (unpin it first). -f ignores blocks that are not\n"
             "there; -q prints nothing on success.\n");
      return 0;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("block rm", "block rm needs at least one CID.");
  int nc = argc - optind;
  wr_cid *cids = wr_calloc((size_t)nc, sizeof *cids);
  if (!cids)
    return 1;
  for (int i = 0; i < nc; i++)
    if (wr_cmd_parse_cid("block rm", argv[optind + i], &cids[i]) != 0) {
      wr_free(cids);
      return 1;
    }
  wr_repo *repo = wr_cmd_repo_open("block rm", WR_REPO_SHARED);
  if (!repo) {
    wr_free(cids);
    return 1;
  }
  int ret = 0;
  for (int i = 0; i < nc; i++) {
    char s[WR_CID_MAX_STR];
    wr_cmd_cid_str(&cids[i], s);
    wr_block_pinned p;
    int rc = wr_block_rm(repo->bs, &cids[i], &p);
    if (rc == WR_ERR_NOTFOUND) {
      if (!force) {
        wr_cli_fail("block rm: cannot remove %s: block not found in the local store.", s);
        ret = 1;
      }
    } else if (rc == WR_ERR_DENIED) {
      char r[WR_CID_MAX_STR];
      wr_cmd_cid_str(&p.root, r);
      if (p.err)
        wr_cli_fail("block rm: cannot remove %s: the pinned DAG %s cannot be checked (%s), "
                    "so it may need this block.",
                    s, r, wr_strerror(p.err));
      else if (p.self)
        wr_cli_fail("block rm: cannot remove %s: pinned: %s.", s, wr_pin_type_name(p.type));
      else
        wr_cli_fail("block rm: cannot remove %s: pinned via %s.", s, r);
      ret = 1;
    } else if (rc != 0) {
      wr_cli_fail("block rm: cannot remove %s: %s.", s, wr_strerror(rc));
      ret = 1;
    } else if (!quiet) {
      printf("removed %s\n", s);
    }
  }
  wr_repo_close(repo);
  wr_free(cids);
  return ret;
}

int wr_cmd_block(int argc, char **argv) {
  static const wr_subcommand subs[] = {
      {"get", block_get},
      {"put", block_put},
      {"stat", block_stat},
      {"rm", block_rm},
  };
  return wr_cli_dispatch("block", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
