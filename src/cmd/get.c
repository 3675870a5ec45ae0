/* get.c: `warren get CID[/path] -o DEST` — a file, folder tree or symlink
 * from the store onto disk; through a running daemon, which fetches what
 * the node lacks from the network, as a tar stream unpacked here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/exporter.h"
#include "proto/archive/untar.h"

#define MAX_DEPTH 256 /* folders below the top, as the API's get allows */

static void usage(void) {
  printf("Usage: warren [--repo DIR] get [-o DEST] CID[/path]\n\n"
         "Writes a file, a folder (with everything below it, sharded or not) or a\n"
         "symlink to DEST (default: ./CID, as kubo does). Existing folders are\n"
         "reused and existing files replaced. With a daemon running, it fetches\n"
         "what the node lacks from the network (a progress line on a terminal;\n"
         "--timeout bounds it); --offline reads the store alone.\n\n"
         "Flags:\n"
         "  -o, --output=DEST   where to write\n"
         "  -h, --help          this help\n");
}

/* --- through the daemon: the API's tar, unpacked under dest ----------------- */

/* The archive's first entry is the top (named by the path's last part) and
 * becomes dest; every other entry must sit in a folder that came before it
 * in the archive (the API writes depth-first, folders first), so nothing is
 * written through a symlink or outside dest, whatever the names say. */
typedef struct unpack {
  const char *dest;
  size_t toplen;
  int entries;
  int top_is_dir;
  char dirs[WR_UNTAR_MAX_NAME + 1]; /* the deepest open folder's name */
  size_t dlen[MAX_DEPTH];           /* the open folders, as prefixes of dirs */
  int depth;
  char path[2 * WR_UNTAR_MAX_NAME + 2]; /* the entry's place on disk */
  int fd;                               /* the file being written, or -1 */
  int progress;                         /* stderr is a terminal */
  uint64_t bytes, start_ns, shown_ns;
  int shown;
  int printed;     /* a callback said what went wrong */
  uint64_t got;    /* bytes of the answer */
  const char *why; /* the archive's fault, when refused */
  wr_untar u;
} unpack;

static int bad_name(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.') ||
         memchr(s, '/', n) != NULL;
}

/* Places e under dest: 0, or an error after printing why (WR_ERR_IO, so
 * the RPC client prints nothing more). */
static int place(unpack *k, const wr_untar_entry *e) {
  size_t nl = strlen(e->name);
  const char *rel = "";
  if (k->entries++ == 0) {
    k->toplen = nl;
    k->top_is_dir = e->type == WR_TAR_DIR;
  } else {
    while (k->depth > 0) {
      size_t d = k->dlen[k->depth - 1];
      if (nl > d && memcmp(e->name, k->dirs, d) == 0 && e->name[d] == '/')
        break;
      k->depth--;
    }
    if (!k->top_is_dir || k->depth == 0) {
      wr_cli_fail("get: the daemon's archive holds %s outside its top folder.", e->name);
      return WR_ERR_IO;
    }
    const char *last = e->name + k->dlen[k->depth - 1] + 1;
    if (bad_name(last, strlen(last))) {
      wr_cli_fail("get: the daemon's archive holds %s, whose folder did not come before it "
                  "or whose name could escape it.",
                  e->name);
      return WR_ERR_IO;
    }
    rel = e->name + k->toplen;
  }
  if (e->type == WR_TAR_DIR) {
    if (k->depth == MAX_DEPTH) {
      wr_cli_fail("get: folders nested deeper than %d levels.", MAX_DEPTH);
      return WR_ERR_IO;
    }
    memcpy(k->dirs, e->name, nl + 1);
    k->dlen[k->depth++] = nl;
  }
  snprintf(k->path, sizeof k->path, "%s%s", k->dest, rel);
  return 0;
}

static int on_entry(void *arg, const wr_untar_entry *e) {
  unpack *k = arg;
  int rv = place(k, e);
  if (rv)
    return rv;
  const char *p = k->path;
  struct stat st;
  if (e->type == WR_TAR_DIR) {
    if (mkdir(p, 0755) == 0)
      return 0;
    if (errno == EEXIST && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      return 0; /* reused; a symlink to a folder is not followed */
    wr_cli_fail("get: cannot create the folder %s: %s.", p,
                errno == EEXIST ? "something that is not a folder is there" : strerror(errno));
    return WR_ERR_IO;
  }
  if (e->type == WR_TAR_SYMLINK) {
    if (unlink(p) != 0 && errno != ENOENT) {
      wr_cli_fail("get: cannot replace %s: %s.", p, strerror(errno));
      return WR_ERR_IO;
    }
    if (symlink(e->link, p) != 0) {
      wr_cli_fail("get: cannot create the symlink %s: %s.", p, strerror(errno));
      return WR_ERR_IO;
    }
    return 0;
  }
  /* Replace, never write through, an existing symlink. */
  if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode))
    (void)unlink(p);
  k->fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (k->fd < 0) {
    wr_cli_fail("get: cannot create %s: %s.", p, strerror(errno));
    return WR_ERR_IO;
  }
  return 0;
}

static void progress_line(const unpack *k, uint64_t now) {
  double s = (double)(now - k->start_ns) / 1e9;
  fprintf(stderr, "\r\033[K%.1f MiB  %.1f MiB/s", (double)k->bytes / 1048576.0,
          s > 0 ? (double)k->bytes / 1048576.0 / s : 0.0);
}

/* Bytes so far and the rate on stderr, once a transfer lasts (as cat). */
static void progress(unpack *k, size_t n) {
  k->bytes += n;
  if (!k->progress)
    return;
  uint64_t now = wr_now_ns();
  if (now - k->start_ns < 300 * WR_NS_PER_MS || now - k->shown_ns < 200 * WR_NS_PER_MS)
    return;
  progress_line(k, now);
  k->shown = 1;
  k->shown_ns = now;
}

static int on_data(void *arg, const uint8_t *p, size_t n) {
  unpack *k = arg;
  progress(k, n);
  while (n) {
    ssize_t w = write(k->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      wr_cli_fail("get: cannot write %s: %s.", k->path, strerror(errno));
      return WR_ERR_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int on_end(void *arg) {
  unpack *k = arg;
  if (k->fd < 0)
    return 0;
  int rv = close(k->fd);
  k->fd = -1;
  if (rv != 0) {
    wr_cli_fail("get: cannot write %s: %s.", k->path, strerror(errno));
    return WR_ERR_IO;
  }
  return 0;
}

static const wr_untar_ops unpack_ops = {on_entry, on_data, on_end};

static int unpack_recv(void *arg, const uint8_t *p, size_t n) {
  unpack *k = arg;
  k->got += n;
  int rv = wr_untar_feed(&k->u, p, n, &k->why);
  if (rv == WR_ERR_MALFORMED)
    wr_cli_fail("get: the daemon's archive is malformed: %s.", k->why);
  if (rv)
    k->printed = 1; /* the callbacks print before they fail */
  return rv ? WR_ERR_IO : 0;
}

static int get_remote(const wr_addr *api, const char *arg, const char *dest) {
  char esc[3 * 4096 + 1], target[3 * 4096 + 64];
  if (wr_rpc_url_escape(arg, 1, esc, sizeof esc) != 0)
    wr_cli_usage_error("get", "the path is too long.");
  snprintf(target, sizeof target, "/api/v0/get?arg=%s", esc);
  unpack *k = wr_calloc(1, sizeof *k);
  if (!k) {
    wr_cli_fail("get: out of memory.");
    return 1;
  }
  k->dest = dest;
  k->fd = -1;
  k->progress = isatty(2);
  k->start_ns = wr_now_ns();
  wr_untar_init(&k->u, &unpack_ops, k);
  int rv = wr_cmd_remote_post("get", api, target, NULL, NULL, NULL, unpack_recv, k);
  /* On a terminal the final figures stay, as kubo's bar does; a failure
   * clears the line for its sentence. */
  if (k->progress && !rv) {
    progress_line(k, wr_now_ns());
    fputc('\n', stderr);
  } else if (k->shown) {
    fprintf(stderr, "\r\033[K");
  }
  /* A daemon that fails mid-archive (a block not found in time) can only
   * cut the answer: the RPC client has nothing to print then. */
  if (rv == WR_ERR_IO && !k->printed && k->got)
    wr_cli_fail("get: the daemon's answer broke off after %llu bytes; its log says why (a "
                "block not found in time, most likely).",
                (unsigned long long)k->got);
  if (!rv && wr_untar_finish(&k->u, &k->why) != 0) {
    wr_cli_fail("get: the daemon's archive is malformed: %s.", k->why);
    rv = WR_ERR_MALFORMED;
  }
  if (k->fd >= 0)
    close(k->fd);
  wr_free(k);
  if (rv)
    return 1;
  fprintf(stderr, "Saving file(s) to %s\n", dest);
  return 0;
}

/* --- the repo directly ------------------------------------------------------- */

static int get_local(const char *arg, const char *dest) {
  wr_repo *repo = wr_cmd_repo_open("get", WR_REPO_SHARED);
  if (!repo)
    return 1;
  wr_export ex;
  int rv = wr_export_begin(&ex, repo->bs);
  if (rv) {
    wr_cli_fail("get: cannot read the store: %s.", wr_strerror(rv));
    wr_export_end(&ex);
    wr_repo_close(repo);
    return 1;
  }
  wr_cid cid;
  rv = wr_export_resolve(&ex, arg, &cid);
  if (!rv)
    rv = wr_export_get(&ex, &cid, dest);
  if (rv)
    wr_cli_fail("get: %s: %s.", arg, ex.err[0] ? ex.err : wr_strerror(rv));
  else
    fprintf(stderr, "Saving file(s) to %s\n", dest);
  wr_export_end(&ex);
  wr_repo_close(repo);
  return rv ? 1 : 0;
}

int wr_cmd_get(int argc, char **argv) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  const char *dest = NULL;
  int c;
  while ((c = wr_cli_getopt("get", argc, argv, "o:h", opts)) != -1) {
    if (c == 'o')
      dest = optarg;
    else if (c == 'h') {
      usage();
      return 0;
    }
  }
  if (optind >= argc)
    wr_cli_usage_error("get", "get needs a CID (or CID/path) to write out.");
  if (argc - optind > 1)
    wr_cli_usage_error("get", "get takes one CID, not %d.", argc - optind);
  const char *arg = argv[optind];
  char def[4096 + 8];
  if (!dest) {
    /* kubo's default: the path's last part, without /ipfs/. */
    snprintf(def, sizeof def, "%s", strncmp(arg, "/ipfs/", 6) == 0 ? arg + 6 : arg);
    size_t n = strlen(def);
    while (n > 1 && def[n - 1] == '/')
      def[--n] = '\0';
    char *slash = strrchr(def, '/');
    dest = slash && slash[1] ? slash + 1 : def;
  }
  wr_addr api;
  int d = wr_cmd_find_daemon("get", &api);
  if (d < 0)
    return 1;
  return d > 0 ? get_remote(&api, arg, dest) : get_local(arg, dest);
}
