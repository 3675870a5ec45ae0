/* exporter.c: UnixFS out of the blockstore. */
#include "content/exporter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "proto/ipld/unixfs_builder.h"

/* Deeper DAGs are refused: a balanced file of 2^64 bytes is ~8 levels deep,
 * so only a hostile DAG gets near this. */
#define MAX_DEPTH 128

typedef struct node {
  wr_cid cid;
  const uint8_t *block;
  size_t len;
  int is_raw;
  wr_dagpb_node pb;
  wr_unixfs u;
} node;

static int fail(wr_export *ex, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(wr_export *ex, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ex->err, sizeof ex->err, fmt, ap);
  va_end(ap);
  return err;
}

static const char *cidstr(const wr_cid *cid, char *buf, size_t n) {
  if (wr_cid_format(cid, 0, buf, n) < 0)
    snprintf(buf, n, "(unprintable CID)");
  return buf;
}

int wr_export_begin(wr_export *ex, wr_bs *bs) {
  memset(ex, 0, sizeof *ex);
  int rv = wr_bs_txn_begin(bs, WR_BS_READ, &ex->txn);
  if (rv)
    return rv;
  ex->blocks = wr_bs_blocks_init(&ex->local, ex->txn);
  return 0;
}

void wr_export_end(wr_export *ex) {
  wr_bs_txn_abort(ex->txn);
  ex->txn = NULL;
  ex->blocks = NULL;
}

static int load(wr_export *ex, const wr_cid *cid, node *n) {
  char s[WR_CID_MAX_STR];
  memset(n, 0, sizeof *n);
  n->cid = *cid;
  if (cid->codec != WR_CODEC_RAW && cid->codec != WR_CODEC_DAG_PB) {
    const char *name = wr_cid_codec_name(cid->codec);
    return fail(ex, WR_ERR_UNSUPPORTED, "%s is a %s block, not UnixFS (dag-pb or raw)",
                cidstr(cid, s, sizeof s), name ? name : "unknown-codec");
  }
  int rv = wr_blocks_get(ex->blocks, cid, &n->block, &n->len);
  if (rv == WR_ERR_NOTFOUND)
    return fail(ex, rv, "block %s is not in the store", cidstr(cid, s, sizeof s));
  if (rv == WR_ERR_CORRUPT)
    return fail(ex, rv, "block %s is corrupted: its bytes do not match its hash",
                cidstr(cid, s, sizeof s));
  if (rv)
    return fail(ex, rv, "cannot read block %s: %s", cidstr(cid, s, sizeof s), wr_strerror(rv));
  if (cid->codec == WR_CODEC_RAW) {
    n->is_raw = 1;
    return 0;
  }
  const char *why = NULL;
  rv = wr_dagpb_decode(n->block, n->len, &n->pb, &why);
  if (rv)
    return fail(ex, WR_ERR_MALFORMED, "block %s is not valid dag-pb: %s",
                cidstr(cid, s, sizeof s), why ? why : wr_strerror(rv));
  if (!n->pb.has_data)
    return fail(ex, WR_ERR_UNSUPPORTED, "block %s is dag-pb without UnixFS data",
                cidstr(cid, s, sizeof s));
  rv = wr_unixfs_decode(n->pb.data, n->pb.data_len, &n->u, &why);
  if (rv)
    return fail(ex, rv == WR_ERR_UNSUPPORTED ? rv : WR_ERR_MALFORMED,
                "block %s has bad UnixFS data: %s", cidstr(cid, s, sizeof s),
                why ? why : wr_strerror(rv));
  return 0;
}

static wr_export_kind kind_of(const node *n) {
  if (n->is_raw)
    return WR_EXPORT_FILE;
  switch (n->u.type) {
  case WR_UNIXFS_DIRECTORY: return WR_EXPORT_DIR;
  case WR_UNIXFS_HAMTSHARD: return WR_EXPORT_HAMT;
  case WR_UNIXFS_SYMLINK: return WR_EXPORT_SYMLINK;
  default: return WR_EXPORT_FILE;
  }
}

/* Bytes below a file node: filesize if present, else its data plus its
 * blocksizes. */
static uint64_t file_size(const node *n) {
  if (n->is_raw)
    return n->len;
  if (n->u.type == WR_UNIXFS_SYMLINK)
    return n->u.data_len;
  if (n->u.has_filesize)
    return n->u.filesize;
  uint64_t s = n->u.has_data ? n->u.data_len : 0;
  wr_unixfs_bs_iter it;
  wr_unixfs_bs_init(&it, &n->u);
  uint64_t v;
  while (wr_unixfs_bs_next(&it, &v) == 1)
    s += v;
  return s;
}

int wr_export_stat(wr_export *ex, const wr_cid *cid, wr_export_kind *pkind, uint64_t *psize) {
  node n;
  int rv = load(ex, cid, &n);
  if (rv)
    return rv;
  *pkind = kind_of(&n);
  *psize = (*pkind == WR_EXPORT_DIR || *pkind == WR_EXPORT_HAMT) ? 0 : file_size(&n);
  if (!n.is_raw && n.u.type == WR_UNIXFS_METADATA) {
    char s[WR_CID_MAX_STR];
    return fail(ex, WR_ERR_UNSUPPORTED, "%s is a UnixFS Metadata node, which warren does not read",
                cidstr(cid, s, sizeof s));
  }
  return 0;
}

/* --- HAMT ---------------------------------------------------------------- */

static int hamt_geometry(wr_export *ex, const node *n, uint32_t *pbits, int *ppad) {
  char s[WR_CID_MAX_STR];
  uint64_t fanout = n->u.has_fanout ? n->u.fanout : 0;
  if (fanout < 2 || fanout > 1024 || (fanout & (fanout - 1)))
    return fail(ex, WR_ERR_MALFORMED, "HAMT node %s has an unusable fanout %llu",
                cidstr(&n->cid, s, sizeof s), (unsigned long long)fanout);
  if (!n->u.has_hash_type || n->u.hash_type != WR_UFS_HAMT_HASH_MURMUR3)
    return fail(ex, WR_ERR_UNSUPPORTED, "HAMT node %s uses a hash other than murmur3-x64-64",
                cidstr(&n->cid, s, sizeof s));
  uint32_t bits = 0;
  while ((UINT64_C(1) << bits) < fanout)
    bits++;
  int pad = 0;
  for (uint64_t v = fanout - 1; v; v >>= 4)
    pad++;
  *pbits = bits;
  *ppad = pad;
  return 0;
}

/* Finds name in the HAMT rooted at n (a node at depth). */
static int hamt_find(wr_export *ex, const node *n, const char *name, size_t len, uint32_t depth,
                     wr_cid *pcid) {
  uint32_t bits;
  int pad;
  int rv = hamt_geometry(ex, n, &bits, &pad);
  if (rv)
    return rv;
  if (depth > MAX_DEPTH)
    return fail(ex, WR_ERR_LIMIT, "HAMT deeper than %d levels", MAX_DEPTH);
  uint32_t idx = wr_ufs_hamt_index(name, len, bits, depth);
  char label[16];
  snprintf(label, sizeof label, "%0*X", pad, idx);
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &n->pb);
  wr_dagpb_link l;
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    if (!l.has_name || l.name_len < (size_t)pad || memcmp(l.name, label, (size_t)pad) != 0)
      continue;
    if (l.name_len == (size_t)pad) {
      node sub;
      rv = load(ex, &l.cid, &sub);
      if (rv)
        return rv;
      if (sub.is_raw || sub.u.type != WR_UNIXFS_HAMTSHARD) {
        char s[WR_CID_MAX_STR];
        return fail(ex, WR_ERR_MALFORMED, "HAMT link %.*s points at %s, which is not a shard",
                    pad, label, cidstr(&l.cid, s, sizeof s));
      }
      return hamt_find(ex, &sub, name, len, depth + 1, pcid);
    }
    if (l.name_len - (size_t)pad == len && memcmp(l.name + pad, name, len) == 0) {
      *pcid = l.cid;
      return 0;
    }
  }
  return rv < 0 ? rv : WR_ERR_NOTFOUND;
}

static int hamt_each(wr_export *ex, const node *n, uint32_t depth, wr_export_entry_fn fn,
                     void *arg) {
  uint32_t bits;
  int pad;
  int rv = hamt_geometry(ex, n, &bits, &pad);
  if (rv)
    return rv;
  if (depth > MAX_DEPTH)
    return fail(ex, WR_ERR_LIMIT, "HAMT deeper than %d levels", MAX_DEPTH);
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &n->pb);
  wr_dagpb_link l;
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    char s[WR_CID_MAX_STR];
    if (!l.has_name || l.name_len < (size_t)pad)
      return fail(ex, WR_ERR_MALFORMED, "HAMT node %s has a link without a slot label",
                  cidstr(&n->cid, s, sizeof s));
    if (l.name_len == (size_t)pad) {
      node sub;
      rv = load(ex, &l.cid, &sub);
      if (rv)
        return rv;
      if (sub.is_raw || sub.u.type != WR_UNIXFS_HAMTSHARD)
        return fail(ex, WR_ERR_MALFORMED, "HAMT link in %s points at a node that is not a shard",
                    cidstr(&n->cid, s, sizeof s));
      rv = hamt_each(ex, &sub, depth + 1, fn, arg);
    } else {
      rv = fn(arg, l.name + pad, l.name_len - (size_t)pad, &l.cid, l.tsize);
    }
    if (rv)
      return rv;
  }
  return rv;
}

int wr_export_dir_each(wr_export *ex, const wr_cid *cid, wr_export_entry_fn fn, void *arg) {
  node n;
  int rv = load(ex, cid, &n);
  if (rv)
    return rv;
  char s[WR_CID_MAX_STR];
  wr_export_kind k = kind_of(&n);
  if (k == WR_EXPORT_HAMT)
    return hamt_each(ex, &n, 0, fn, arg);
  if (k != WR_EXPORT_DIR)
    return fail(ex, WR_ERR_INVAL, "%s is not a folder", cidstr(cid, s, sizeof s));
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &n.pb);
  wr_dagpb_link l;
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    rv = fn(arg, l.has_name ? l.name : "", l.has_name ? l.name_len : 0, &l.cid, l.tsize);
    if (rv)
      return rv;
  }
  return rv;
}

/* --- paths ----------------------------------------------------------------- */

static int child(wr_export *ex, const wr_cid *dir, const char *name, size_t len, wr_cid *pcid) {
  node n;
  int rv = load(ex, dir, &n);
  if (rv)
    return rv;
  char s[WR_CID_MAX_STR];
  wr_export_kind k = kind_of(&n);
  if (k == WR_EXPORT_HAMT) {
    rv = hamt_find(ex, &n, name, len, 0, pcid);
    if (rv == WR_ERR_NOTFOUND)
      return fail(ex, rv, "no link named \"%.*s\" under %s", (int)len, name,
                  cidstr(dir, s, sizeof s));
    return rv;
  }
  if (k != WR_EXPORT_DIR)
    return fail(ex, WR_ERR_NOTFOUND, "%s is not a folder, so it has no \"%.*s\"",
                cidstr(dir, s, sizeof s), (int)len, name);
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &n.pb);
  wr_dagpb_link l;
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    if (l.has_name && l.name_len == len && memcmp(l.name, name, len) == 0) {
      *pcid = l.cid;
      return 0;
    }
  }
  if (rv < 0)
    return rv;
  return fail(ex, WR_ERR_NOTFOUND, "no link named \"%.*s\" under %s", (int)len, name,
              cidstr(dir, s, sizeof s));
}

int wr_export_resolve(wr_export *ex, const char *path, wr_cid *pcid) {
  ex->err[0] = '\0';
  const char *p = path;
  if (strncmp(p, "/ipfs/", 6) == 0)
    p += 6;
  const char *end = strchr(p, '/');
  size_t clen = end ? (size_t)(end - p) : strlen(p);
  const char *why = NULL;
  if (clen == 0 || wr_cid_parse(p, clen, pcid, &why) != 0)
    return fail(ex, WR_ERR_INVAL, "\"%.*s\" is not a valid CID%s%s", (int)clen, p,
                why ? ": " : "", why ? why : "");
  p += clen;
  while (*p) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    wr_cid next;
    int rv = child(ex, pcid, p, len, &next);
    if (rv)
      return rv;
    *pcid = next;
    p += len;
  }
  return 0;
}

/* --- file bytes -------------------------------------------------------------- */

typedef struct cat_ctx {
  wr_export *ex;
  wr_export_write_fn write;
  void *arg;
} cat_ctx;

/* Writes [off, off + len) of the file below n (offsets relative to n). */
static int cat_node(cat_ctx *c, const node *n, uint64_t off, uint64_t len, int depth) {
  wr_export *ex = c->ex;
  char s[WR_CID_MAX_STR];
  if (depth > MAX_DEPTH)
    return fail(ex, WR_ERR_LIMIT, "file DAG deeper than %d levels", MAX_DEPTH);
  if (len == 0)
    return 0;
  if (n->is_raw || n->u.type == WR_UNIXFS_SYMLINK) {
    const uint8_t *d = n->is_raw ? n->block : n->u.data;
    size_t dl = n->is_raw ? n->len : n->u.data_len;
    if (off >= dl)
      return 0;
    uint64_t k = dl - off < len ? dl - off : len;
    return c->write(c->arg, d + off, (size_t)k);
  }
  if (n->u.type != WR_UNIXFS_FILE && n->u.type != WR_UNIXFS_RAW)
    return fail(ex, WR_ERR_INVAL, "%s is a %s, not a file", cidstr(&n->cid, s, sizeof s),
                wr_unixfs_type_name(n->u.type));
  uint64_t pos = 0;
  if (n->u.has_data && n->u.data_len) {
    uint64_t dl = n->u.data_len;
    if (off < dl) {
      uint64_t k = dl - off < len ? dl - off : len;
      int rv = c->write(c->arg, n->u.data + off, (size_t)k);
      if (rv)
        return rv;
    }
    pos = dl;
  }
  if (n->u.nblocksizes != n->pb.nlinks)
    return fail(ex, WR_ERR_MALFORMED, "file node %s has %zu links but %zu blocksizes",
                cidstr(&n->cid, s, sizeof s), n->pb.nlinks, n->u.nblocksizes);
  wr_unixfs_bs_iter bi;
  wr_unixfs_bs_init(&bi, &n->u);
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &n->pb);
  wr_dagpb_link l;
  int rv;
  uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    uint64_t bs;
    if (wr_unixfs_bs_next(&bi, &bs) != 1)
      return fail(ex, WR_ERR_MALFORMED, "file node %s lacks a blocksize",
                  cidstr(&n->cid, s, sizeof s));
    if (pos >= end)
      break;
    /* Seek: children wholly before the range are never read. */
    if (pos + bs > off) {
      node sub;
      rv = load(ex, &l.cid, &sub);
      if (rv)
        return rv;
      uint64_t sub_off = off > pos ? off - pos : 0;
      uint64_t sub_end = end - pos < bs ? end - pos : bs;
      rv = cat_node(c, &sub, sub_off, sub_end - sub_off, depth + 1);
      if (rv)
        return rv;
    }
    pos += bs;
  }
  return rv < 0 ? rv : 0;
}

int wr_export_cat(wr_export *ex, const wr_cid *cid, uint64_t offset, uint64_t length,
                  wr_export_write_fn write, void *arg) {
  node n;
  int rv = load(ex, cid, &n);
  if (rv)
    return rv;
  wr_export_kind k = kind_of(&n);
  if (k == WR_EXPORT_DIR || k == WR_EXPORT_HAMT) {
    char s[WR_CID_MAX_STR];
    return fail(ex, WR_ERR_INVAL, "%s is a folder, not a file (list it with `warren ls`)",
                cidstr(cid, s, sizeof s));
  }
  cat_ctx c = {ex, write, arg};
  return cat_node(&c, &n, offset, length, 0);
}

int wr_export_file_links(wr_export *ex, const wr_cid *cid, wr_export_chunk_fn fn, void *arg) {
  node n;
  int rv = load(ex, cid, &n);
  if (rv || n.is_raw)
    return rv;
  wr_unixfs_bs_iter bi;
  wr_unixfs_bs_init(&bi, &n.u);
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &n.pb);
  wr_dagpb_link l;
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    uint64_t bs = 0;
    if (wr_unixfs_bs_next(&bi, &bs) != 1)
      bs = l.tsize;
    rv = fn(arg, &l.cid, bs);
    if (rv)
      return rv;
  }
  return rv;
}

/* --- get ----------------------------------------------------------------------- */

static int write_fd(void *arg, const uint8_t *p, size_t n) {
  int fd = *(int *)arg;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return wr_err_from_errno(errno);
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int get_rec(wr_export *ex, const wr_cid *cid, const char *dest, int depth);

typedef struct get_dir_ctx {
  wr_export *ex;
  const char *dest;
  int depth;
} get_dir_ctx;

static int get_entry(void *arg, const char *name, size_t len, const wr_cid *cid, uint64_t tsize) {
  (void)tsize;
  get_dir_ctx *g = arg;
  if (len == 0 || memchr(name, '/', len) || memchr(name, '\0', len) ||
      (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
    return fail(g->ex, WR_ERR_MALFORMED, "refusing the entry name \"%.*s\" in %s: it could "
                                         "escape the target folder",
                (int)len, name, g->dest);
  size_t dl = strlen(g->dest);
  char *path = wr_malloc(dl + 1 + len + 1);
  if (!path)
    return WR_ERR_NOMEM;
  memcpy(path, g->dest, dl);
  path[dl] = '/';
  memcpy(path + dl + 1, name, len);
  path[dl + 1 + len] = '\0';
  int rv = get_rec(g->ex, cid, path, g->depth + 1);
  wr_free(path);
  return rv;
}

static int get_rec(wr_export *ex, const wr_cid *cid, const char *dest, int depth) {
  if (depth > MAX_DEPTH)
    return fail(ex, WR_ERR_LIMIT, "folders nested deeper than %d levels", MAX_DEPTH);
  node n;
  int rv = load(ex, cid, &n);
  if (rv)
    return rv;
  wr_export_kind k = kind_of(&n);
  if (k == WR_EXPORT_DIR || k == WR_EXPORT_HAMT) {
    if (mkdir(dest, 0755) != 0 && errno != EEXIST)
      return fail(ex, WR_ERR_IO, "cannot create the folder %s: %s", dest, strerror(errno));
    get_dir_ctx g = {ex, dest, depth};
    return wr_export_dir_each(ex, cid, get_entry, &g);
  }
  if (k == WR_EXPORT_SYMLINK) {
    char *target = wr_malloc(n.u.data_len + 1);
    if (!target)
      return WR_ERR_NOMEM;
    memcpy(target, n.u.data, n.u.data_len);
    target[n.u.data_len] = '\0';
    (void)unlink(dest);
    rv = symlink(target, dest);
    wr_free(target);
    if (rv != 0)
      return fail(ex, WR_ERR_IO, "cannot create the symlink %s: %s", dest, strerror(errno));
    return 0;
  }
  /* Replace, never write through, an existing symlink at dest. */
  struct stat st;
  if (lstat(dest, &st) == 0 && S_ISLNK(st.st_mode))
    (void)unlink(dest);
  int fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return fail(ex, WR_ERR_IO, "cannot create %s: %s", dest, strerror(errno));
  cat_ctx c = {ex, write_fd, &fd};
  rv = cat_node(&c, &n, 0, UINT64_MAX, 0);
  if (rv && !ex->err[0])
    fail(ex, rv, "cannot write %s: %s", dest, wr_strerror(rv));
  if (close(fd) != 0 && !rv)
    rv = fail(ex, WR_ERR_IO, "cannot write %s: %s", dest, strerror(errno));
  return rv;
}

int wr_export_get(wr_export *ex, const wr_cid *cid, const char *dest) {
  ex->err[0] = '\0';
  return get_rec(ex, cid, dest, 0);
}
