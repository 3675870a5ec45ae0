/* add.c: `warren add` — files and folders into the store, kubo's flags and
 * output ("added <cid> <path>"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>

#include "content/importer.h"
#include "base/clock.h"
#include "base/mem.h"
#include "io/random.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "proto/text/json.h"
#include "cmd/repoflag.h"

static void usage(void) {
  printf(
      "Usage: warren [--repo DIR] add [flags] [PATH...]\n\n"
      "Adds files and folders to the store as UnixFS DAGs and prints their CIDs, exactly\n"
      "the CIDs kubo (`ipfs add`) gives for the same options. Without PATH, reads stdin.\n"
      "The roots are pinned in the same transaction as their last blocks. When a\n"
      "`warren daemon` runs on the repo, the files are uploaded to it (kubo's RPC API);\n"
      "--offline adds them to the repo directly.\n\n"
      "Flags:\n"
      "  -r, --recursive          add folders and everything below them\n"
      "  -H, --hidden             include files and folders whose name starts with '.'\n"
      "  -n, --only-hash          only compute the CIDs; store nothing\n"
      "      --pin[=BOOL]         pin the roots (default true; --pin=false to skip)\n"
      "  -q, --quiet              print only the CIDs\n"
      "  -Q, --quieter            print only the final root CID\n"
      "      --progress[=BOOL]    show a progress bar on stderr (default: when stderr is a\n"
      "                           terminal)\n"
      "  -t, --trickle            trickle layout instead of balanced\n"
      "      --cid-version=N      0 (default) or 1; CIDv1 implies --raw-leaves\n"
      "      --raw-leaves[=BOOL]  store file data as raw blocks (default: false for CIDv0)\n"
      "      --chunker=size-N     fixed-size chunks of N bytes (default size-262144, at most\n"
      "                           2096896)\n"
      "      --max-links=N        links per file node (default 174)\n"
      "      --profile=NAME       unixfs-v1-2025 (CIDv1, raw leaves, 1 MiB chunks, 1024 links,\n"
      "                           HAMT by block size) or unixfs-v0-2015 (kubo's defaults);\n"
      "                           other flags override it\n"
      "  -h, --help               this help\n\n"
      "Examples:\n"
      "  warren add photo.jpg\n"
      "  warren add -r --cid-version=1 site/\n"
      "  echo hello | warren add -Q\n");
}

typedef struct add_ui {
  int quiet, quieter, progress;
  uint64_t total;   /* bytes expected, 0 when unknown */
  uint64_t last_ns; /* last progress redraw */
  int drawn;
  char *capture; /* when set (WR_CID_MAX_STR bytes): the last root goes here, not to stdout */
} add_ui;

static void on_added(void *arg, const wr_ufs_link *l, const char *path) {
  const wr_cid *cid = &l->cid;
  add_ui *ui = arg;
  if (ui->quieter)
    return;
  char s[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, s, sizeof s) < 0)
    return;
  if (ui->drawn) {
    fputs("\r\033[K", stderr);
    ui->drawn = 0;
  }
  if (ui->quiet)
    printf("%s\n", s);
  else
    printf("added %s %s\n", s, path);
}

static void on_progress(void *arg, uint64_t bytes) {
  add_ui *ui = arg;
  if (!ui->progress)
    return;
  uint64_t now = wr_now_ns();
  if (now - ui->last_ns < 100 * WR_NS_PER_MS)
    return;
  ui->last_ns = now;
  double mib = (double)bytes / (1024.0 * 1024.0);
  if (ui->total) {
    double pct = 100.0 * (double)bytes / (double)ui->total;
    int width = 30, full = (int)(pct / 100.0 * width);
    if (full > width)
      full = width;
    char bar[32];
    memset(bar, '#', (size_t)full);
    memset(bar + full, '.', (size_t)(width - full));
    bar[width] = '\0';
    fprintf(stderr, "\r %.1f MiB / %.1f MiB [%s] %5.1f%%", mib,
            (double)ui->total / (1024.0 * 1024.0), bar, pct > 100 ? 100.0 : pct);
  } else {
    fprintf(stderr, "\r %.1f MiB", mib);
  }
  ui->drawn = 1;
}

/* Bytes below path (for the progress bar); stops counting past a limit of
 * entries so a huge tree does not delay the start. */
#include <dirent.h>
#include <sys/stat.h>
static uint64_t tree_bytes(const char *path, int depth, size_t *budget) {
  struct stat st;
  if (lstat(path, &st) != 0 || *budget == 0)
    return 0;
  (*budget)--;
  if (S_ISREG(st.st_mode))
    return (uint64_t)st.st_size;
  if (!S_ISDIR(st.st_mode) || depth > 64)
    return 0;
  DIR *d = opendir(path);
  if (!d)
    return 0;
  uint64_t sum = 0;
  struct dirent *de;
  char sub[4096];
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= (int)sizeof sub)
      continue;
    sum += tree_bytes(sub, depth + 1, budget);
  }
  closedir(d);
  return sum;
}

/* The command line, besides what the progress display keeps. */
typedef struct add_opts {
  int recursive, hidden, only_hash, pin, trickle, progress; /* progress -1: not given */
  long cidv, raw, links;                                    /* -1: not given */
  uint64_t chunk;                                           /* 0: not given */
  const char *profile;
} add_opts;

/* Parses argv into *po and *pui; usage errors exit. Returns 1 when --help
 * was printed, else 0. optind is then at the first path. */
static int parse_flags(int argc, char **argv, add_opts *po, add_ui *pui) {
  enum { O_PIN = 1000, O_CIDV, O_RAW, O_CHUNKER, O_PROFILE, O_LINKS, O_PROGRESS };
  static const struct option opts[] = {
      {"recursive", no_argument, NULL, 'r'},
      {"hidden", no_argument, NULL, 'H'},
      {"only-hash", no_argument, NULL, 'n'},
      {"quiet", no_argument, NULL, 'q'},
      {"quieter", no_argument, NULL, 'Q'},
      {"trickle", no_argument, NULL, 't'},
      {"pin", optional_argument, NULL, O_PIN},
      {"cid-version", required_argument, NULL, O_CIDV},
      {"raw-leaves", optional_argument, NULL, O_RAW},
      {"chunker", required_argument, NULL, O_CHUNKER},
      {"profile", required_argument, NULL, O_PROFILE},
      {"max-links", required_argument, NULL, O_LINKS},
      {"progress", optional_argument, NULL, O_PROGRESS},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0}};
  add_opts *o = po;
  *o = (add_opts){.pin = 1, .progress = -1, .cidv = -1, .raw = -1, .links = -1};
  int c;
  while ((c = wr_cli_getopt("add", argc, argv, "rHnqQth", opts)) != -1) {
    switch (c) {
    case 'r': o->recursive = 1; break;
    case 'H': o->hidden = 1; break;
    case 'n': o->only_hash = 1; break;
    case 'q': pui->quiet = 1; break;
    case 'Q': pui->quieter = 1; break;
    case 't': o->trickle = 1; break;
    case O_PIN: o->pin = optarg ? wr_cli_parse_bool("add", "--pin", optarg) : 1; break;
    case O_RAW: o->raw = optarg ? wr_cli_parse_bool("add", "--raw-leaves", optarg) : 1; break;
    case O_PROGRESS:
      o->progress = optarg ? wr_cli_parse_bool("add", "--progress", optarg) : 1;
      break;
    case O_CIDV: o->cidv = (long)wr_cli_parse_uint("add", "--cid-version", optarg, 0, 1); break;
    case O_LINKS:
      o->links = (long)wr_cli_parse_uint("add", "--max-links", optarg, 2, WR_UFS_MAX_LINKS);
      break;
    case O_CHUNKER:
      if (strncmp(optarg, "size-", 5) != 0)
        wr_cli_usage_error("add", "--chunker takes size-N (fixed-size chunks of N bytes), not "
                                  "\"%s\"; rabin and buzhash are not supported.",
                           optarg);
      o->chunk = wr_cli_parse_uint("add", "--chunker", optarg + 5, 1, WR_UFS_MAX_CHUNK);
      break;
    case O_PROFILE: o->profile = optarg; break;
    case 'h': usage(); return 1;
    default: break;
    }
  }
  return 0;
}

/* The import parameters: the profile's (or the defaults), then each flag
 * given. An unknown profile is a usage error and exits. */
static wr_ufs_params import_params(const add_opts *o) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  if (o->profile && wr_ufs_params_profile(&p, o->profile) != 0)
    wr_cli_usage_error("add", "unknown --profile \"%s\"; use unixfs-v1-2025 or unixfs-v0-2015.",
                       o->profile);
  if (o->cidv >= 0) {
    p.cid_version = (uint32_t)o->cidv;
    /* kubo: CIDv1 turns raw leaves on unless --raw-leaves says otherwise. */
    if (o->raw < 0)
      p.raw_leaves = o->cidv == 1;
  }
  if (o->raw >= 0)
    p.raw_leaves = (int)o->raw;
  if (o->chunk)
    p.chunk_size = (uint32_t)o->chunk;
  if (o->links > 0)
    p.max_links = (uint32_t)o->links;
  if (o->trickle)
    p.layout = WR_UFS_TRICKLE;
  return p;
}

/* Imports stdin (no paths) or each of the npaths paths, appending each root
 * to roots (*pnroots of them). Returns 0 or the first error (the importer
 * holds its sentence). */
static int import_all(wr_importer *im, const add_opts *o, add_ui *ui, char **paths, int npaths,
                      wr_cid *roots, size_t *pnroots) {
  int rv = 0;
  wr_ufs_link root;
  if (npaths == 0) {
    /* stdin: kubo names the entry by its own CID. */
    wr_importer_set_callbacks(im, NULL, on_progress, ui);
    rv = wr_importer_add_fd(im, 0, "stdin", &root);
    wr_importer_set_callbacks(im, on_added, on_progress, ui);
    if (!rv) {
      char s[WR_CID_MAX_STR];
      if (wr_cid_format(&root.cid, 0, s, sizeof s) >= 0)
        on_added(ui, &root, s);
      roots[(*pnroots)++] = root.cid;
    }
  }
  unsigned flags = (o->recursive ? WR_IMPORT_RECURSIVE : 0) | (o->hidden ? WR_IMPORT_HIDDEN : 0);
  for (int i = 0; i < npaths && !rv; i++) {
    rv = wr_importer_add_path(im, paths[i], flags, &root);
    if (!rv)
      roots[(*pnroots)++] = root.cid;
  }
  return rv;
}

/* Refuses, before anything is imported or printed, a path that cannot be
 * added (missing, unreadable, a folder without -r), as kubo does: otherwise
 * the files before it would be reported "added" and then thrown away with
 * the failed import. Returns 0, or 1 with the failure printed. */
static int check_paths(char **paths, int npaths, const add_opts *o) {
  for (int i = 0; i < npaths; i++) {
    struct stat st;
    if (lstat(paths[i], &st) != 0 || (S_ISREG(st.st_mode) && access(paths[i], R_OK) != 0)) {
      wr_cli_fail("add: cannot read %s: %s. Nothing was added.", paths[i], strerror(errno));
      return 1;
    }
    if (S_ISDIR(st.st_mode) && !o->recursive) {
      wr_cli_fail("add: %s is a folder: use -r to add folders. Nothing was added.", paths[i]);
      return 1;
    }
  }
  return 0;
}

/* --- through a running daemon (kubo's RPC API) ------------------------------ */

typedef struct remote_add {
  const add_opts *o;
  add_ui *ui;
  char **paths;
  int npaths;
  char boundary[48];
  int parts;
  uint8_t *buf;
  char last[WR_CID_MAX_STR]; /* the last root the daemon reported */
  char err[1024];
} remote_add;

#define REMOTE_BUF (1024 * 1024)

/* One part's delimiter and headers; name is the display path. */
static int part_begin(remote_add *r, wr_rpc_conn *conn, const char *name, const char *ctype) {
  char esc[3 * 4096 + 1];
  if (wr_rpc_url_escape(name, 0, esc, sizeof esc) != 0) {
    snprintf(r->err, sizeof r->err, "the path %.300s is too long", name);
    return WR_ERR_LIMIT;
  }
  wr_buf h;
  wr_buf_init(&h, 32 * 1024);
  int rv = wr_buf_printf(&h,
                         "%s--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                         "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
                         r->parts ? "\r\n" : "", r->boundary, esc, ctype);
  if (!rv)
    rv = wr_rpc_conn_send(conn, h.data, h.len);
  wr_buf_free(&h);
  r->parts++;
  return rv;
}

static int send_fd(remote_add *r, wr_rpc_conn *conn, int fd, const char *name) {
  for (;;) {
    ssize_t n = read(fd, r->buf, REMOTE_BUF);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      snprintf(r->err, sizeof r->err, "cannot read %.300s: %s", name, strerror(errno));
      return WR_ERR_IO;
    }
    if (n == 0)
      return 0;
    int rv = wr_rpc_conn_send(conn, r->buf, (size_t)n);
    if (rv)
      return rv;
  }
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sends path (displayed as name) as a file part, or a folder part and
 * everything below it, children in byte order. */
static int send_tree(remote_add *r, wr_rpc_conn *conn, const char *path, const char *name,
                     int depth) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    snprintf(r->err, sizeof r->err, "cannot read %.300s: %s", path, strerror(errno));
    return WR_ERR_NOTFOUND;
  }
  if (S_ISREG(st.st_mode)) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(r->err, sizeof r->err, "cannot open %.300s: %s", path, strerror(errno));
      return WR_ERR_IO;
    }
    int rv = part_begin(r, conn, name, "application/octet-stream");
    if (!rv)
      rv = send_fd(r, conn, fd, path);
    close(fd);
    return rv;
  }
  if (S_ISLNK(st.st_mode)) {
    /* kubo's symlink part: the target as the body; never followed. */
    char target[PATH_MAX];
    ssize_t k = readlink(path, target, sizeof target);
    if (k < 0) {
      snprintf(r->err, sizeof r->err, "cannot read the symlink %.300s: %s", path,
               strerror(errno));
      return WR_ERR_IO;
    }
    int rv = part_begin(r, conn, name, "application/symlink");
    if (!rv)
      rv = wr_rpc_conn_send(conn, target, (size_t)k);
    return rv;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(r->err, sizeof r->err,
             "%.300s is not a regular file, folder or symlink (sockets, pipes and devices "
             "cannot be added)",
             path);
    return WR_ERR_INVAL;
  }
  if (!r->o->recursive) {
    snprintf(r->err, sizeof r->err, "%.300s is a folder: use -r to add folders", path);
    return WR_ERR_INVAL;
  }
  if (depth > 256) {
    snprintf(r->err, sizeof r->err, "%.300s: folders nested deeper than 256 levels", path);
    return WR_ERR_LIMIT;
  }
  int rv = part_begin(r, conn, name, "application/x-directory");
  if (rv)
    return rv;
  DIR *d = opendir(path);
  if (!d) {
    snprintf(r->err, sizeof r->err, "cannot open the folder %.300s: %s", path, strerror(errno));
    return WR_ERR_IO;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL && !rv) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (de->d_name[0] == '.' && !r->o->hidden)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = wr_realloc(names, cap * sizeof *nn);
      if (!nn) {
        rv = WR_ERR_NOMEM;
        break;
      }
      names = nn;
    }
    if (!(names[n] = wr_strdup(de->d_name)))
      rv = WR_ERR_NOMEM;
    else
      n++;
  }
  closedir(d);
  if (n > 1)
    qsort(names, n, sizeof *names, cmp_names);
  wr_buf sub, subname;
  wr_buf_init(&sub, 64 * 1024);
  wr_buf_init(&subname, 64 * 1024);
  for (size_t i = 0; i < n && !rv; i++) {
    wr_buf_reset(&sub);
    wr_buf_reset(&subname);
    /* NUL-terminated: the buffers are used as C strings. */
    if (wr_buf_printf(&sub, "%s/%s", path, names[i]) || wr_buf_append(&sub, "", 1) ||
        wr_buf_printf(&subname, "%s/%s", name, names[i]) || wr_buf_append(&subname, "", 1)) {
      snprintf(r->err, sizeof r->err, "a path below %.300s is longer than 64 KiB", path);
      rv = WR_ERR_LIMIT;
      break;
    }
    rv = send_tree(r, conn, (char *)sub.data, (char *)subname.data, depth + 1);
  }
  if (rv == WR_ERR_NOMEM && !r->err[0])
    snprintf(r->err, sizeof r->err, "out of memory");
  wr_buf_free(&sub);
  wr_buf_free(&subname);
  for (size_t i = 0; i < n; i++)
    wr_free(names[i]);
  wr_free(names);
  return rv;
}

static int produce_add(void *arg, wr_rpc_conn *conn) {
  remote_add *r = arg;
  int rv = 0;
  if (r->npaths == 0) {
    /* stdin: a nameless part, which the daemon names by its CID, as here. */
    rv = part_begin(r, conn, "", "application/octet-stream");
    if (!rv)
      rv = send_fd(r, conn, 0, "stdin");
  }
  for (int i = 0; i < r->npaths && !rv; i++) {
    /* The entry is named by its last path component, as the importer does. */
    char *copy = wr_strdup(r->paths[i]);
    if (!copy)
      return WR_ERR_NOMEM;
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
      copy[--len] = '\0';
    char *slash = strrchr(copy, '/');
    const char *name = slash ? slash + 1 : copy;
    char resolved[PATH_MAX];
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
      if (!realpath(copy, resolved)) {
        snprintf(r->err, sizeof r->err, "cannot read %.300s: %s", copy, strerror(errno));
        wr_free(copy);
        return WR_ERR_NOTFOUND;
      }
      char *s = strrchr(resolved, '/');
      name = (s && s[1]) ? s + 1 : resolved;
    }
    rv = send_tree(r, conn, r->paths[i], name, 0);
    wr_free(copy);
  }
  if (!rv) {
    char tail[96];
    int k = snprintf(tail, sizeof tail, "%s--%s--\r\n", r->parts ? "\r\n" : "", r->boundary);
    rv = wr_rpc_conn_send(conn, tail, (size_t)k);
  }
  return rv;
}

/* One AddEvent line: print it as the direct path does. */
static int add_line(void *arg, const char *line, size_t n) {
  remote_add *r = arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *hash = wr_json_get(root, "Hash"), *name = wr_json_get(root, "Name");
  if (hash && hash->type == WR_JSON_STRING && hash->len < sizeof r->last) {
    memcpy(r->last, hash->str, hash->len + 1);
    if (r->ui->quiet)
      printf("%s\n", hash->str);
    else if (!r->ui->quieter)
      printf("added %s %s\n", hash->str, name && name->type == WR_JSON_STRING ? name->str : "");
  }
  wr_json_del(root);
  return 0;
}

static int remote_add_run(const wr_addr *a, const add_opts *o, add_ui *ui, char **paths,
                          int npaths) {
  remote_add r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.ui = ui;
  r.paths = paths;
  r.npaths = npaths;
  uint8_t rnd[12];
  /* The boundary must not occur in any file: random, never fixed. */
  if (wr_random_bytes(rnd, sizeof rnd) != 0) {
    wr_cli_fail("add: cannot get random bytes for the upload's boundary.");
    return 1;
  }
  char hex[25];
  wr_hex_encode(hex, rnd, sizeof rnd);
  snprintf(r.boundary, sizeof r.boundary, "warren-%s", hex);
  r.buf = wr_malloc(REMOTE_BUF);
  if (!r.buf) {
    wr_cli_fail("add: out of memory.");
    return 1;
  }
  wr_buf target;
  wr_buf_init(&target, 4096);
  int rv = wr_buf_printf(&target, "/api/v0/add?pin=%s", o->pin ? "true" : "false");
  if (!rv && o->cidv >= 0)
    rv = wr_buf_printf(&target, "&cid-version=%ld", o->cidv);
  if (!rv && o->raw >= 0)
    rv = wr_buf_printf(&target, "&raw-leaves=%s", o->raw ? "true" : "false");
  if (!rv && o->chunk)
    rv = wr_buf_printf(&target, "&chunker=size-%llu", (unsigned long long)o->chunk);
  if (!rv && o->trickle)
    rv = wr_buf_puts(&target, "&trickle=true");
  if (!rv && o->only_hash)
    rv = wr_buf_puts(&target, "&only-hash=true");
  if (!rv)
    rv = wr_buf_append(&target, "", 1); /* used as a C string */
  char ctype[96];
  snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", r.boundary);
  wr_cmd_lines lines = {.fn = add_line, .arg = &r};
  if (!rv)
    rv = wr_rpc_client_post(a, (char *)target.data, ctype, produce_add, &r, wr_cmd_lines_recv,
                            &lines, &(int){0}, r.err, sizeof r.err);
  if (rv)
    wr_cli_fail("add: %s. Nothing was pinned.", r.err[0] ? r.err : wr_strerror(rv));
  else if (ui->capture)
    snprintf(ui->capture, WR_CID_MAX_STR, "%s", r.last);
  else if (ui->quieter && r.last[0])
    printf("%s\n", r.last);
  wr_buf_free(&target);
  wr_free(r.buf);
  if (fflush(stdout) != 0) {
    wr_cli_fail("add: cannot write the output.");
    return 1;
  }
  return rv ? 1 : 0;
}

/* Adds the paths argv[optind..argc) as o and ui say (through the daemon when
 * one runs); returns the exit status. */
static int add_run(add_opts o, add_ui ui, int argc, char **argv) {
  wr_ufs_params p = import_params(&o);
  if (check_paths(argv + optind, argc - optind, &o))
    return 1;
  /* Through a running daemon, as kubo; --profile and --max-links have no
   * RPC option, so they stay on the direct path. */
  if (!o.profile && o.links < 0) {
    wr_addr api;
    int d = wr_cmd_find_daemon("add", &api);
    if (d < 0)
      return 1;
    if (d > 0)
      return remote_add_run(&api, &o, &ui, argv + optind, argc - optind);
  }

  wr_repo *repo = NULL;
  if (!o.only_hash) {
    repo = wr_cmd_repo_open("add", WR_REPO_SHARED);
    if (!repo)
      return 1;
  }
  wr_importer *im = NULL;
  const char *why = NULL;
  int rv = wr_importer_new(repo ? repo->bs : NULL, &p, &im, &why);
  if (rv) {
    if (rv == WR_ERR_INVAL)
      wr_cli_usage_error("add", "%s.", why ? why : "bad import options");
    wr_cli_fail("add: cannot start the import: %s.", wr_strerror(rv));
    wr_repo_close(repo);
    return 1;
  }
  wr_importer_set_callbacks(im, on_added, on_progress, &ui);

  int npaths = argc - optind;
  wr_cid *roots = wr_calloc(npaths > 0 ? (size_t)npaths : 1, sizeof *roots);
  if (!roots) {
    wr_cli_fail("add: out of memory.");
    wr_importer_del(im);
    wr_repo_close(repo);
    return 1;
  }
  if (ui.progress) {
    size_t budget = 100000;
    for (int i = optind; i < argc; i++)
      ui.total += tree_bytes(argv[i], 0, &budget);
  }
  size_t nroots = 0;
  rv = import_all(im, &o, &ui, argv + optind, npaths, roots, &nroots);
  if (ui.drawn)
    fputs("\r\033[K", stderr);
  if (rv) {
    wr_cli_fail("add: %s. Nothing was pinned.", wr_importer_error(im));
  } else {
    rv = wr_importer_commit(im, roots, o.pin ? nroots : 0);
    if (rv)
      wr_cli_fail("add: %s. Nothing was pinned.", wr_importer_error(im));
  }
  if (!rv && ui.quieter && nroots) {
    char s[WR_CID_MAX_STR];
    if (wr_cid_format(&roots[nroots - 1], 0, s, sizeof s) >= 0) {
      if (ui.capture)
        memcpy(ui.capture, s, sizeof s);
      else
        printf("%s\n", s);
    }
  }
  wr_free(roots);
  wr_importer_del(im);
  wr_repo_close(repo);
  if (fflush(stdout) != 0) {
    wr_cli_fail("add: cannot write the output.");
    return 1;
  }
  return rv ? 1 : 0;
}

int wr_cmd_add(int argc, char **argv) {
  add_opts o;
  add_ui ui;
  memset(&ui, 0, sizeof ui);
  if (parse_flags(argc, argv, &o, &ui))
    return 0;
  ui.progress = o.progress >= 0 ? o.progress : (isatty(2) && !ui.quiet && !ui.quieter);
  return add_run(o, ui, argc, argv);
}

int wr_cmd_add_snapshot(const char *path, int cid_version, char root[]) {
  add_opts o = {.recursive = 1, .pin = 1, .progress = 0, .cidv = cid_version, .raw = -1,
                .links = -1};
  add_ui ui = {.quieter = 1, .capture = root};
  char *argv[] = {(char *)"add", (char *)path, NULL};
  root[0] = '\0';
  optind = 1;
  int rv = add_run(o, ui, 2, argv);
  if (rv == 0 && !root[0]) {
    wr_cli_fail("add: no root CID came back for %s.", path);
    return 1;
  }
  return rv;
}
