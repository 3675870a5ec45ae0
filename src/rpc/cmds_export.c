/* cmds_export.c: `cat`, `get` (a tar stream) and `ls`, over the exporter
 * (content/exporter.h) in one read transaction per request. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "content/exporter.h"
#include "proto/archive/tar.h"
#include "proto/text/json.h"
#include "rpc/call.h"

#define MAX_ARGS 64
#define GET_DEPTH 256

static int to_user(void *arg, const uint8_t *p, size_t n) { return wr_rpc_write(arg, p, n); }

/* The sentence for a failure: the network's when a fetch failed. */
static const char *ewhy(wr_rpc_call *c, wr_export *ex, wr_blocks *net, int rv) {
  const char *n = wr_rpc_fetch_why(c, net);
  if (n)
    return n;
  return ex->err[0] ? ex->err : wr_strerror(rv);
}

/* Opens a session (reading through the network when the daemon has one)
 * and resolves path; answers the error itself. End it with end_path. */
static int open_path(wr_rpc_call *c, wr_export *ex, const char *path, wr_cid *pcid,
                     wr_blocks **pnet) {
  *pnet = NULL;
  int rv = wr_export_begin(ex, c->repo->bs);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot read the store: %s", wr_strerror(rv));
    return rv;
  }
  if ((rv = wr_rpc_fetch_begin(c, ex, pnet)) != 0)
    return rv;
  rv = wr_export_resolve(ex, path, pcid);
  if (rv)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", path, ewhy(c, ex, *pnet, rv));
  return rv;
}

static void end_path(wr_rpc_call *c, wr_export *ex, wr_blocks *net) {
  wr_export_end(ex);
  wr_rpc_fetch_end(c, net);
}

void wr_rpc_cmd_cat(wr_rpc_call *c) {
  const char *args[MAX_ARGS];
  size_t n = wr_rpc_args(c, args, MAX_ARGS);
  if (n == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"ipfs-path\" is required");
    return;
  }
  uint64_t offset, length;
  if (wr_rpc_uint(c, "offset", 0, &offset) || wr_rpc_uint(c, "length", UINT64_MAX, &length))
    return;
  for (size_t i = 0; i < n; i++) {
    wr_export ex;
    wr_cid cid;
    wr_blocks *net = NULL;
    int rv = open_path(c, &ex, args[i], &cid, &net);
    wr_export_kind kind;
    uint64_t size;
    if (!rv && (rv = wr_export_stat(&ex, &cid, &kind, &size)) != 0)
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", args[i], ewhy(c, &ex, net, rv));
    if (!rv && (kind == WR_EXPORT_DIR || kind == WR_EXPORT_HAMT)) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "this dag node is a directory");
      rv = WR_ERR_INVAL;
    }
    if (!rv && i == 0 && (rv = wr_rpc_ok(c, "text/plain", 1)) != 0) {
      end_path(c, &ex, net);
      return;
    }
    if (!rv) {
      rv = wr_export_cat(&ex, &cid, offset, length, to_user, c);
      if (rv && rv != WR_ERR_CLOSED)
        wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", args[i], ewhy(c, &ex, net, rv));
    }
    end_path(c, &ex, net);
    if (rv)
      return;
    /* kubo's offset and length span the concatenation; warren applies them
     * per file, which is the same for the one-file case clients use. */
  }
}

/* --- get: a tar stream -------------------------------------------------------- */

typedef struct tar_run {
  wr_rpc_call *c;
  wr_export *ex;
  wr_buf hdr;
  uint64_t mtime;
  int depth;
} tar_run;

typedef struct name_list {
  char **names;
  wr_cid *cids;
  size_t n, cap;
} name_list;

static int collect(void *arg, const char *name, size_t name_len, const wr_cid *cid,
                   uint64_t tsize) {
  (void)tsize;
  name_list *l = arg;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **nn = wr_realloc(l->names, nc * sizeof *nn);
    if (!nn)
      return WR_ERR_NOMEM;
    l->names = nn;
    wr_cid *nc2 = wr_realloc(l->cids, nc * sizeof *nc2);
    if (!nc2)
      return WR_ERR_NOMEM;
    l->cids = nc2;
    l->cap = nc;
  }
  char *s = wr_malloc(name_len + 1);
  if (!s)
    return WR_ERR_NOMEM;
  memcpy(s, name, name_len);
  s[name_len] = '\0';
  l->names[l->n] = s;
  l->cids[l->n] = *cid;
  l->n++;
  return 0;
}

static void list_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++)
    wr_free(l->names[i]);
  wr_free(l->names);
  wr_free(l->cids);
}

static int flush_hdr(tar_run *t) {
  int rv = wr_rpc_write(t->c, t->hdr.data, t->hdr.len);
  t->hdr.len = 0;
  return rv;
}

typedef struct cap_buf {
  char *p;
  size_t n, cap;
} cap_buf;

static int to_buf(void *arg, const uint8_t *p, size_t n) {
  cap_buf *b = arg;
  if (b->n + n > b->cap)
    return WR_ERR_LIMIT;
  memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

static int tar_node(tar_run *t, const wr_cid *cid, const char *name) {
  wr_export_kind kind;
  uint64_t size;
  int rv = wr_export_stat(t->ex, cid, &kind, &size);
  if (rv)
    return rv;
  size_t nlen = strlen(name);
  if (kind == WR_EXPORT_FILE) {
    rv = wr_tar_header(&t->hdr, name, nlen, WR_TAR_FILE, size, 0644, t->mtime, NULL, 0);
    if (!rv)
      rv = flush_hdr(t);
    if (!rv)
      rv = wr_export_cat(t->ex, cid, 0, UINT64_MAX, to_user, t->c);
    static const uint8_t zero[WR_TAR_BLOCK];
    if (!rv && wr_tar_padding(size))
      rv = wr_rpc_write(t->c, zero, wr_tar_padding(size));
    return rv;
  }
  if (kind == WR_EXPORT_SYMLINK) {
    char target[4096];
    cap_buf b = {target, 0, sizeof target - 1};
    rv = wr_export_cat(t->ex, cid, 0, UINT64_MAX, to_buf, &b);
    if (!rv)
      rv = wr_tar_header(&t->hdr, name, nlen, WR_TAR_SYMLINK, 0, 0777, t->mtime, target, b.n);
    if (!rv)
      rv = flush_hdr(t);
    return rv;
  }
  if (++t->depth > GET_DEPTH)
    return WR_ERR_LIMIT;
  rv = wr_tar_header(&t->hdr, name, nlen, WR_TAR_DIR, 0, 0755, t->mtime, NULL, 0);
  if (!rv)
    rv = flush_hdr(t);
  name_list l = {0};
  if (!rv)
    rv = wr_export_dir_each(t->ex, cid, collect, &l);
  wr_buf path;
  wr_buf_init(&path, 64 * 1024);
  for (size_t i = 0; i < l.n && !rv; i++) {
    const char *e = l.names[i];
    /* Names that could escape the archive's folder are refused, as `get`
     * refuses them on disk. */
    if (!*e || strcmp(e, ".") == 0 || strcmp(e, "..") == 0 || strchr(e, '/')) {
      rv = WR_ERR_MALFORMED;
      break;
    }
    wr_buf_reset(&path);
    rv = wr_buf_printf(&path, "%s/%s", name, e);
    if (!rv)
      rv = wr_buf_append(&path, "", 1); /* a C string from here */
    if (!rv)
      rv = tar_node(t, &l.cids[i], (const char *)path.data);
  }
  wr_buf_free(&path);
  list_free(&l);
  t->depth--;
  return rv;
}

void wr_rpc_cmd_get(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "ipfs-path");
  if (!arg)
    return;
  int compress = wr_rpc_bool(c, "compress", 0);
  if (compress < 0)
    return;
  if (compress) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "compressed output is not supported");
    return;
  }
  wr_export ex;
  wr_cid cid;
  wr_blocks *net = NULL;
  if (open_path(c, &ex, arg, &cid, &net) != 0) {
    end_path(c, &ex, net);
    return;
  }
  /* The archive's top entry is named by the last component of the path. */
  const char *base = arg;
  size_t bl = strlen(arg);
  while (bl > 1 && arg[bl - 1] == '/')
    bl--;
  for (size_t i = 0; i < bl; i++)
    if (arg[i] == '/')
      base = arg + i + 1;
  char name[1024];
  snprintf(name, sizeof name, "%.*s", (int)(bl - (size_t)(base - arg)), base);
  /* The root is read (fetched, when the node lacks it) before the head
   * goes out, as cat does: a CID nobody has then gets an error the client
   * can show, not an archive that breaks off with no reason. */
  wr_export_kind kind;
  uint64_t size;
  int rv = wr_export_stat(&ex, &cid, &kind, &size);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", arg, ewhy(c, &ex, net, rv));
    end_path(c, &ex, net);
    return;
  }
  tar_run t = {.c = c, .ex = &ex, .mtime = (uint64_t)time(NULL)};
  wr_buf_init(&t.hdr, 128 * 1024);
  rv = wr_rpc_ok(c, "application/x-tar", 1);
  if (!rv)
    rv = tar_node(&t, &cid, name);
  if (!rv && (rv = wr_tar_end(&t.hdr)) == 0)
    rv = flush_hdr(&t);
  if (rv && rv != WR_ERR_CLOSED)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", arg, ewhy(c, &ex, net, rv));
  wr_buf_free(&t.hdr);
  end_path(c, &ex, net);
}

/* --- ls ----------------------------------------------------------------------- */

typedef struct ls_run {
  wr_rpc_call *c;
  wr_export *ex;
  wr_buf *out;
  int first;
  int resolve;
  int err;
} ls_run;

static int ls_link(ls_run *r, const char *name, size_t nlen, const wr_cid *cid, uint64_t size,
                   int type) {
  char s[WR_CID_MAX_STR];
  wr_rpc_cid_str(cid, s);
  int rv = wr_buf_puts(r->out, r->first ? "{\"Name\":" : ",{\"Name\":");
  r->first = 0;
  if (!rv)
    rv = wr_json_put_string(r->out, name, nlen);
  if (!rv)
    rv = wr_buf_printf(r->out, ",\"Hash\":\"%s\",\"Size\":%llu,\"Type\":%d,\"Target\":\"\"}", s,
                       (unsigned long long)size, type);
  return rv;
}

static int ls_entry(void *arg, const char *name, size_t name_len, const wr_cid *cid,
                    uint64_t tsize) {
  (void)tsize;
  ls_run *r = arg;
  int type = 2;
  uint64_t size = 0;
  if (r->resolve) {
    wr_export_kind kind;
    int rv = wr_export_stat(r->ex, cid, &kind, &size);
    if (rv) {
      r->err = rv;
      return rv;
    }
    /* kubo's types: UnixFS's Data.Type (1 folder, 2 file, 4 symlink, 5 HAMT). */
    type = kind == WR_EXPORT_DIR       ? 1
           : kind == WR_EXPORT_HAMT    ? 5
           : kind == WR_EXPORT_SYMLINK ? 4
                                       : 2;
    if (type == 1 || type == 5)
      size = 0;
  }
  return ls_link(r, name, name_len, cid, size, type);
}

static int ls_chunk(void *arg, const wr_cid *cid, uint64_t size) {
  ls_run *r = arg;
  return ls_link(r, "", 0, cid, size, 2);
}

void wr_rpc_cmd_ls(wr_rpc_call *c) {
  const char *args[MAX_ARGS];
  size_t n = wr_rpc_args(c, args, MAX_ARGS);
  if (n == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"ipfs-path\" is required");
    return;
  }
  int resolve = wr_rpc_bool(c, "resolve-type", 1);
  if (resolve < 0)
    return;
  wr_buf b;
  wr_buf_init(&b, 64u * 1024 * 1024);
  int rv = wr_buf_puts(&b, "{\"Objects\":[");
  for (size_t i = 0; i < n && !rv; i++) {
    wr_export ex;
    wr_cid cid;
    wr_blocks *net = NULL;
    if (open_path(c, &ex, args[i], &cid, &net) != 0) {
      end_path(c, &ex, net);
      wr_buf_free(&b);
      return;
    }
    wr_export_kind kind;
    uint64_t size;
    rv = wr_export_stat(&ex, &cid, &kind, &size);
    if (!rv)
      rv = wr_buf_puts(&b, i ? ",{\"Hash\":" : "{\"Hash\":");
    if (!rv)
      rv = wr_json_put_string(&b, args[i], strlen(args[i]));
    if (!rv)
      rv = wr_buf_puts(&b, ",\"Links\":[");
    ls_run r = {.c = c, .ex = &ex, .out = &b, .first = 1, .resolve = resolve};
    if (!rv) {
      if (kind == WR_EXPORT_DIR || kind == WR_EXPORT_HAMT)
        rv = wr_export_dir_each(&ex, &cid, ls_entry, &r);
      else if (kind == WR_EXPORT_FILE)
        rv = wr_export_file_links(&ex, &cid, ls_chunk, &r);
    }
    if (!rv)
      rv = wr_buf_puts(&b, "]}");
    if (rv) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", args[i], ewhy(c, &ex, net, rv));
      end_path(c, &ex, net);
      wr_buf_free(&b);
      return;
    }
    end_path(c, &ex, net);
  }
  if (!rv)
    rv = wr_buf_puts(&b, "]}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "the listing is too large: %s", wr_strerror(rv));
  wr_buf_free(&b);
}
