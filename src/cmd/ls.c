/* ls.c: `warren ls CID[/path]...` — folder listings in kubo's format:
 * "<cid> <size> <name>", columns aligned, "-" as the size of a folder and a
 * trailing "/" on its name; a file lists its chunks. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/exporter.h"
#include "proto/text/json.h"

static void usage(void) {
  printf("Usage: warren [--repo DIR] ls [flags] CID[/path]...\n\n"
         "Lists folders in the store (sharded ones too) as kubo's `ipfs ls` does:\n"
         "<cid> <size> <name>, with \"-\" as a folder's size and \"/\" after its name.\n"
         "For a file, lists its chunks. With several arguments each listing starts\n"
         "with \"<cid>:\".\n\n"
         "Flags:\n"
         "  -s, --size=BOOL   print the size column (default true)\n"
         "  -h, --help        this help\n");
}

/* One row; the whole listing is kept to align the columns. */
typedef struct row {
  char cid[WR_CID_MAX_STR];
  char size[24];
  char *name;
} row;

typedef struct listing {
  wr_export *ex;
  row *rows;
  size_t n, cap;
  int err;
} listing;

static int add_row(listing *ls, const wr_cid *cid, const char *size, const char *name, size_t nlen,
                   int slash) {
  if (ls->n == ls->cap) {
    size_t cap = ls->cap ? ls->cap * 2 : 64;
    row *r = wr_realloc(ls->rows, cap * sizeof *r);
    if (!r)
      return WR_ERR_NOMEM;
    ls->rows = r;
    ls->cap = cap;
  }
  row *r = &ls->rows[ls->n];
  if (wr_cid_format(cid, 0, r->cid, sizeof r->cid) < 0)
    return WR_ERR_INVAL;
  snprintf(r->size, sizeof r->size, "%s", size);
  r->name = wr_malloc(nlen + 2);
  if (!r->name)
    return WR_ERR_NOMEM;
  memcpy(r->name, name, nlen);
  if (slash)
    r->name[nlen++] = '/';
  r->name[nlen] = '\0';
  ls->n++;
  return 0;
}

static int on_entry(void *arg, const char *name, size_t len, const wr_cid *cid, uint64_t tsize) {
  (void)tsize;
  listing *ls = arg;
  wr_export_kind k;
  uint64_t size;
  int rv = wr_export_stat(ls->ex, cid, &k, &size);
  if (rv)
    return rv;
  char sz[24];
  int dir = k == WR_EXPORT_DIR || k == WR_EXPORT_HAMT;
  if (dir)
    snprintf(sz, sizeof sz, "-");
  else
    snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
  return add_row(ls, cid, sz, name, len, dir);
}

static int on_chunk(void *arg, const wr_cid *cid, uint64_t size) {
  char sz[24];
  snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
  return add_row(arg, cid, sz, "", 0, 0);
}

/* The daemon's listing of path (kubo's {"Objects":[{"Links":[...]}]}) into
 * ls. Returns 0 or an error, printed. */
static int body_recv(void *arg, const uint8_t *p, size_t n) { return wr_buf_append(arg, p, n); }

static int remote_list(const wr_addr *api, const char *path, listing *ls) {
  char esc[3 * 4096 + 1], target[3 * 4096 + 64];
  if (wr_rpc_url_escape(path, 1, esc, sizeof esc) != 0) {
    wr_cli_fail("ls: the path is too long.");
    return WR_ERR_LIMIT;
  }
  snprintf(target, sizeof target, "/api/v0/ls?arg=%s", esc);
  wr_buf body;
  wr_buf_init(&body, 256u * 1024 * 1024);
  int rv = wr_cmd_remote_post("ls", api, target, NULL, NULL, NULL, body_recv, &body);
  wr_json *root = NULL;
  wr_json_limits lim = {WR_JSON_DEFAULT_DEPTH, 256u * 1024 * 1024, 16u * 1024 * 1024};
  if (!rv && wr_json_parse((const char *)body.data, body.len, &lim, &root, NULL) != 0)
    rv = WR_ERR_MALFORMED;
  const wr_json *objs = root ? wr_json_get(root, "Objects") : NULL;
  const wr_json *links =
      objs && objs->type == WR_JSON_ARRAY && objs->child ? wr_json_get(objs->child, "Links") : NULL;
  if (!rv && (!links || links->type != WR_JSON_ARRAY))
    rv = WR_ERR_MALFORMED;
  for (const wr_json *l = links ? links->child : NULL; l && !rv; l = l->next) {
    const wr_json *name = wr_json_get(l, "Name"), *hash = wr_json_get(l, "Hash");
    const wr_json *size = wr_json_get(l, "Size"), *type = wr_json_get(l, "Type");
    int64_t t = 2, sz = 0;
    wr_cid cid;
    if (!name || name->type != WR_JSON_STRING || !hash || hash->type != WR_JSON_STRING ||
        wr_cid_parse_str(hash->str, &cid, NULL) != 0 ||
        (type && wr_json_get_int(type, 0, 64, &t) != 0) ||
        (size && wr_json_get_int(size, 0, INT64_MAX, &sz) != 0)) {
      rv = WR_ERR_MALFORMED;
      break;
    }
    /* UnixFS types: 1 folder, 5 sharded folder. */
    int dir = t == 1 || t == 5;
    char szs[24];
    snprintf(szs, sizeof szs, dir ? "-" : "%lld", (long long)sz);
    rv = add_row(ls, &cid, szs, name->str, name->len, dir);
  }
  if (rv == WR_ERR_MALFORMED)
    wr_cli_fail("ls: %s: the daemon's listing is not kubo's shape.", path);
  wr_json_del(root);
  wr_buf_free(&body);
  return rv;
}

int wr_cmd_ls(int argc, char **argv) {
  static const struct option opts[] = {
      {"size", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int show_size = 1;
  int c;
  while ((c = wr_cli_getopt("ls", argc, argv, "s:h", opts)) != -1) {
    if (c == 's')
      show_size = wr_cli_parse_bool("ls", "--size", optarg);
    else if (c == 'h') {
      usage();
      return 0;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("ls", "ls needs a CID (or CID/path) to list.");
  wr_addr api;
  int d = wr_cmd_find_daemon("ls", &api);
  if (d < 0)
    return 1;
  wr_repo *repo = d ? NULL : wr_cmd_repo_open("ls", WR_REPO_SHARED);
  if (!d && !repo)
    return 1;
  int status = 0, many = argc - optind > 1;
  for (int i = optind; i < argc && !status; i++) {
    wr_export ex;
    memset(&ex, 0, sizeof ex);
    listing ls = {.ex = &ex};
    int rv = d ? remote_list(&api, argv[i], &ls) : wr_export_begin(&ex, repo->bs);
    wr_cid cid;
    if (!rv && !d)
      rv = wr_export_resolve(&ex, argv[i], &cid);
    wr_export_kind k = WR_EXPORT_FILE;
    uint64_t size;
    if (!rv && !d)
      rv = wr_export_stat(&ex, &cid, &k, &size);
    if (!rv && !d && (k == WR_EXPORT_DIR || k == WR_EXPORT_HAMT))
      rv = wr_export_dir_each(&ex, &cid, on_entry, &ls);
    else if (!rv && !d)
      rv = wr_export_file_links(&ex, &cid, on_chunk, &ls);
    if (rv && d) {
      status = 1; /* printed already */
    } else if (rv) {
      wr_cli_fail("ls: %s: %s.", argv[i], ex.err[0] ? ex.err : wr_strerror(rv));
      status = 1;
    } else {
      /* kubo aligns with a tabwriter: each column as wide as its widest
       * cell plus one space; the last column is not padded. */
      size_t w1 = 0, w2 = 0;
      for (size_t j = 0; j < ls.n; j++) {
        size_t a = strlen(ls.rows[j].cid), b = strlen(ls.rows[j].size);
        w1 = a > w1 ? a : w1;
        w2 = b > w2 ? b : w2;
      }
      if (many)
        printf("%s%s:\n", i > optind ? "\n" : "", argv[i]);
      for (size_t j = 0; j < ls.n; j++) {
        if (show_size)
          printf("%-*s %-*s %s\n", (int)w1, ls.rows[j].cid, (int)w2, ls.rows[j].size,
                 ls.rows[j].name);
        else
          printf("%-*s %s\n", (int)w1, ls.rows[j].cid, ls.rows[j].name);
      }
    }
    for (size_t j = 0; j < ls.n; j++)
      wr_free(ls.rows[j].name);
    wr_free(ls.rows);
    wr_export_end(&ex);
  }
  wr_repo_close(repo);
  if (fflush(stdout) != 0)
    return 1;
  return status;
}
