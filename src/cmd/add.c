/* add.c: `warren add` — files and folders into the store, kubo's flags and
 * output ("added <cid> <path>"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content/importer.h"
#include "base/clock.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"

static void usage(void) {
  printf(
      "Usage: warren [--repo DIR] add [flags] [PATH...]\n\n"
      "Adds files and folders to the store as UnixFS DAGs and prints their CIDs, exactly\n"
      "the CIDs kubo (`ipfs add`) gives for the same options. Without PATH, reads stdin.\n"
      "The roots are pinned in the same transaction as their last blocks.\n\n"
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

int wr_cmd_add(int argc, char **argv) {
  add_opts o;
  add_ui ui;
  memset(&ui, 0, sizeof ui);
  if (parse_flags(argc, argv, &o, &ui))
    return 0;
  wr_ufs_params p = import_params(&o);
  ui.progress = o.progress >= 0 ? o.progress : (isatty(2) && !ui.quiet && !ui.quieter);
  if (check_paths(argv + optind, argc - optind, &o))
    return 1;

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
    if (wr_cid_format(&roots[nroots - 1], 0, s, sizeof s) >= 0)
      printf("%s\n", s);
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
