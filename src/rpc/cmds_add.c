/* cmds_add.c: `add` — a multipart upload of files and folders into the
 * store, streamed chunk by chunk into the importer (content/importer.h),
 * answered with kubo's newline-delimited AddEvent objects:
 *   {"Name":"dir/a.txt","Hash":"Qm...","Size":"1234"}    an entry is complete
 *   {"Name":"dir/a.txt","Bytes":262144}                   progress (progress=true)
 * Files are reported as they complete, folders once the body has ended
 * (their entries may come in any order), the wrapping folder last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "content/importer.h"
#include "proto/text/json.h"
#include "rpc/call.h"

#define MAX_DEPTH 128
#define MAX_ROOTS 4096

/* A folder being collected from the parts: entries added so far. */
typedef struct dnode {
  char *name;                /* owned; "" for the top */
  struct dnode *kids, *next; /* subfolders */
  wr_ufs_dirent *ents;       /* files and symlinks (names owned) */
  size_t n, cap;
} dnode;

typedef struct add_run {
  wr_rpc_call *c;
  wr_importer *im;
  int progress, quieter;
  uint64_t file_start; /* importer's file bytes when the current file began */
  char cur[4096];      /* the current file's display name */
  wr_buf line;
  int werr;         /* a write to the user failed */
  wr_ufs_link last; /* the last top-level root */
  int have_last;
} add_run;

static void emit(add_run *r) {
  /* The head waits for the first line, so a refusal before any (a bad
   * path, a malformed body) is still kubo's error object with its status. */
  if (!r->werr && !wr_rpc_job_head_sent(r->c->job) && wr_rpc_ok(r->c, "application/json", 2) != 0)
    r->werr = 1;
  if (!r->werr && wr_rpc_write(r->c, r->line.data, r->line.len) != 0)
    r->werr = 1;
  r->line.len = 0;
}

static void on_added(void *arg, const wr_ufs_link *l, const char *path) {
  add_run *r = arg;
  if (r->quieter)
    return;
  char s[WR_CID_MAX_STR];
  wr_rpc_cid_str(&l->cid, s);
  /* A nameless upload is named by its CID, as kubo does for stdin. */
  const char *name = path[0] || r->have_last == 2 ? path : s;
  int rv = wr_buf_puts(&r->line, "{\"Name\":");
  if (!rv)
    rv = wr_json_put_string(&r->line, name, strlen(name));
  if (!rv)
    rv = wr_buf_printf(&r->line, ",\"Hash\":\"%s\",\"Size\":\"%llu\"}\n", s,
                       (unsigned long long)l->tsize);
  if (!rv)
    emit(r);
  r->line.len = 0;
}

static void on_progress(void *arg, uint64_t bytes) {
  add_run *r = arg;
  if (!r->progress || r->quieter)
    return;
  int rv = wr_buf_puts(&r->line, "{\"Name\":");
  if (!rv)
    rv = wr_json_put_string(&r->line, r->cur, strlen(r->cur));
  if (!rv)
    rv = wr_buf_printf(&r->line, ",\"Bytes\":%llu}\n", (unsigned long long)(bytes - r->file_start));
  if (!rv)
    emit(r);
  r->line.len = 0;
}

static void dnode_free(dnode *d) {
  while (d->kids) {
    dnode *k = d->kids;
    d->kids = k->next;
    dnode_free(k);
    wr_free(k);
  }
  for (size_t i = 0; i < d->n; i++)
    wr_free((char *)d->ents[i].name);
  wr_free(d->ents);
  wr_free(d->name);
}

static dnode *kid(dnode *d, const char *name, size_t n, int create) {
  for (dnode *k = d->kids; k; k = k->next)
    if (strlen(k->name) == n && memcmp(k->name, name, n) == 0)
      return k;
  if (!create)
    return NULL;
  dnode *k = wr_calloc(1, sizeof *k);
  if (!k)
    return NULL;
  k->name = wr_malloc(n + 1);
  if (!k->name) {
    wr_free(k);
    return NULL;
  }
  memcpy(k->name, name, n);
  k->name[n] = '\0';
  k->next = d->kids;
  d->kids = k;
  return k;
}

static int add_ent(dnode *d, const char *name, const wr_ufs_link *l) {
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 8;
    wr_ufs_dirent *e = wr_realloc(d->ents, nc * sizeof *e);
    if (!e)
      return WR_ERR_NOMEM;
    d->ents = e;
    d->cap = nc;
  }
  char *nm = wr_strdup(name);
  if (!nm)
    return WR_ERR_NOMEM;
  d->ents[d->n].name = nm;
  d->ents[d->n].name_len = strlen(nm);
  d->ents[d->n].link = *l;
  d->n++;
  return 0;
}

/* Splits path into its folder (created below top as needed) and last name.
 * Refuses "", ".", ".." and empty components. */
static int place(dnode *top, char *path, dnode **pdir, const char **pname, char *err,
                 size_t errlen) {
  dnode *d = top;
  char *s = path;
  while (*s == '/')
    s++;
  int depth = 0;
  for (;;) {
    char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
      snprintf(err, errlen, "the path \"%.300s\" has an empty, \".\" or \"..\" name", path);
      return WR_ERR_INVAL;
    }
    if (!slash) {
      *pdir = d;
      *pname = s;
      return 0;
    }
    if (++depth > MAX_DEPTH) {
      snprintf(err, errlen, "folders nested deeper than %d levels", MAX_DEPTH);
      return WR_ERR_LIMIT;
    }
    d = kid(d, s, n, 1);
    if (!d)
      return WR_ERR_NOMEM;
    s = slash + 1;
    while (*s == '/')
      s++;
  }
}

static int cmp_kid(const void *a, const void *b) {
  return strcmp((*(dnode *const *)a)->name, (*(dnode *const *)b)->name);
}

/* Builds folder d (its subfolders first, in name order), named path, and
 * adds it to parent (unless parent is NULL). */
static int build(add_run *r, dnode *d, wr_buf *path, dnode *parent, wr_ufs_link *out) {
  size_t nk = 0;
  for (dnode *k = d->kids; k; k = k->next)
    nk++;
  dnode **ks = wr_calloc(nk ? nk : 1, sizeof *ks);
  if (!ks)
    return WR_ERR_NOMEM;
  nk = 0;
  for (dnode *k = d->kids; k; k = k->next)
    ks[nk++] = k;
  qsort(ks, nk, sizeof *ks, cmp_kid);
  int rv = 0;
  for (size_t i = 0; i < nk && !rv; i++) {
    size_t old = path->len;
    if (old)
      rv = wr_buf_append(path, "/", 1);
    if (!rv)
      rv = wr_buf_append(path, ks[i]->name, strlen(ks[i]->name) + 1);
    path->len--; /* keep the NUL out of the length */
    wr_ufs_link l;
    if (!rv)
      rv = build(r, ks[i], path, d, &l);
    path->len = old;
    if (path->data)
      path->data[old] = '\0';
  }
  wr_free(ks);
  if (rv)
    return rv;
  rv = wr_importer_add_dir(r->im, path->data ? (char *)path->data : "", d->ents, d->n, out);
  if (!rv && parent)
    rv = add_ent(parent, d->name, out);
  return rv;
}

/* The add's options, kubo's names and defaults. -1: refused (answered). */
typedef struct add_opts {
  wr_ufs_params p;
  int pin, wrap, only_hash;
} add_opts;

static int add_options(wr_rpc_call *c, add_run *r, add_opts *o) {
  wr_ufs_params_default(&o->p);
  uint64_t cidv = 0, chunk = 0;
  int raw = wr_rpc_bool(c, "raw-leaves", -1);
  o->pin = wr_rpc_bool(c, "pin", 1);
  o->wrap = wr_rpc_bool(c, "wrap-with-directory", 0);
  o->only_hash = wr_rpc_bool(c, "only-hash", 0);
  int trickle = wr_rpc_bool(c, "trickle", 0);
  r->progress = wr_rpc_bool(c, "progress", 0);
  r->quieter = wr_rpc_bool(c, "quieter", 0);
  if (raw == -1 && wr_query_get(&c->q, "raw-leaves"))
    return -1;
  if (o->pin < 0 || o->wrap < 0 || o->only_hash < 0 || trickle < 0 || r->progress < 0 ||
      r->quieter < 0)
    return -1;
  if (wr_rpc_uint(c, "cid-version", 0, &cidv) != 0)
    return -1;
  if (cidv > 1) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "unknown CID version %llu", (unsigned long long)cidv);
    return -1;
  }
  const char *chunker = wr_query_get(&c->q, "chunker");
  if (chunker && *chunker) {
    char *end = NULL;
    if (strncmp(chunker, "size-", 5) != 0 || !chunker[5] ||
        (chunk = strtoull(chunker + 5, &end, 10)) == 0 || *end) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL,
                  "chunker \"%s\" is not supported: use size-N (rabin and buzhash are not)",
                  chunker);
      return -1;
    }
  }
  const char *hash = wr_query_get(&c->q, "hash");
  if (hash && strcmp(hash, "sha2-256") != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "hash \"%s\" is not supported: only sha2-256", hash);
    return -1;
  }
  o->p.cid_version = (uint32_t)cidv;
  o->p.raw_leaves = raw >= 0 ? raw : cidv == 1; /* kubo: CIDv1 implies raw leaves */
  if (chunk)
    o->p.chunk_size = (uint32_t)(chunk > UINT32_MAX ? UINT32_MAX : chunk);
  if (trickle)
    o->p.layout = WR_UFS_TRICKLE;
  return 0;
}

/* kubo's symlink part: the body is the target. */
static int add_symlink(add_run *r, wr_rpc_mp *m, wr_ufs_link *l) {
  char target[4096];
  size_t tn = 0;
  ssize_t got = 0;
  while (tn < sizeof target &&
         (got = wr_rpc_mp_read(m, (uint8_t *)target + tn, sizeof target - tn)) > 0)
    tn += (size_t)got;
  if (tn == sizeof target || got < 0) {
    wr_rpc_fail(r->c, WR_RPC_ERR_NORMAL, "symlink %.300s: %s", m->path,
                tn == sizeof target ? "its target is longer than 4 KiB" : m->err);
    return -1;
  }
  if (wr_importer_add_symlink(r->im, m->path, target, tn, l) != 0) {
    wr_rpc_fail(r->c, WR_RPC_ERR_NORMAL, "%s", wr_importer_error(r->im));
    return -1;
  }
  return 0;
}

/* One part of the body: a folder is noted, a file or symlink imported and
 * entered in its folder. -1: refused (answered) or the user is gone. */
static int add_part(add_run *r, dnode *top, wr_rpc_mp *m) {
  wr_rpc_call *c = r->c;
  int is_dir = strcmp(m->ctype, "application/x-directory") == 0;
  int is_link = strcmp(m->ctype, "application/symlink") == 0;
  dnode *d = top;
  const char *name = "";
  char err[512];
  int rv;
  if (!m->path[0]) {
    /* A nameless file (kubo-rpc-client's add of bytes): a root on its own. */
    if (is_dir) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "a folder part has no name");
      return -1;
    }
  } else if ((rv = place(top, m->path, &d, &name, err, sizeof err)) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", rv == WR_ERR_NOMEM ? "out of memory" : err);
    return -1;
  }
  if (is_dir) {
    if (!kid(d, name, strlen(name), 1)) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
      return -1;
    }
    return 0;
  }
  if (d == top && top->n >= MAX_ROOTS) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "more than %d top-level entries in one add", MAX_ROOTS);
    return -1;
  }
  wr_ufs_link l;
  if (is_link) {
    if (add_symlink(r, m, &l) != 0)
      return -1;
  } else {
    snprintf(r->cur, sizeof r->cur, "%s", m->path);
    wr_import_stats st;
    wr_importer_stats(r->im, &st);
    r->file_start = st.file_bytes;
    if (wr_importer_add_reader(r->im, wr_rpc_mp_read, m, m->path, &l) != 0) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", m->err[0] ? m->err : wr_importer_error(r->im));
      return -1;
    }
    if (r->werr)
      return -1;
  }
  if (add_ent(d, name, &l) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    return -1;
  }
  return 0;
}

/* Builds the folders and lists the roots: with wrap, everything at the top
 * in one folder with an empty name; else each top file and folder. */
static int add_roots(add_run *r, dnode *top, int wrap, wr_cid *roots, size_t *pn) {
  size_t nroots = 0;
  wr_buf path;
  wr_buf_init(&path, 64 * 1024);
  int rv = wr_buf_append(&path, "", 1);
  path.len = 0;
  if (wrap) {
    for (size_t i = 0; i < top->n; i++)
      if (!top->ents[i].name_len) {
        wr_buf_free(&path);
        wr_rpc_fail(r->c, WR_RPC_ERR_NORMAL, "a nameless file cannot be wrapped in a folder");
        return -1;
      }
    r->have_last = 2; /* the wrapper's empty name stays empty */
    wr_ufs_link l;
    if (!rv)
      rv = build(r, top, &path, NULL, &l);
    if (!rv) {
      roots[nroots++] = l.cid;
      r->last = l;
    }
  } else {
    for (size_t i = 0; i < top->n && nroots < MAX_ROOTS; i++) {
      roots[nroots++] = top->ents[i].link.cid;
      r->last = top->ents[i].link;
    }
    for (dnode *k = top->kids; k && !rv; k = k->next) {
      wr_ufs_link l;
      wr_buf_reset(&path);
      rv = wr_buf_append(&path, k->name, strlen(k->name) + 1);
      path.len--;
      if (!rv)
        rv = build(r, k, &path, NULL, &l);
      if (!rv && nroots < MAX_ROOTS) {
        roots[nroots++] = l.cid;
        r->last = l;
      }
    }
  }
  wr_buf_free(&path);
  if (rv) {
    const char *why = wr_importer_error(r->im);
    wr_rpc_fail(r->c, WR_RPC_ERR_NORMAL, "%s", why[0] ? why : wr_strerror(rv));
    return -1;
  }
  *pn = nroots;
  return 0;
}

/* quieter: only the last root, once everything is committed. */
static void add_report_last(add_run *r) {
  char s[WR_CID_MAX_STR];
  wr_rpc_cid_str(&r->last.cid, s);
  if (wr_buf_printf(&r->line, "{\"Name\":\"%s\",\"Hash\":\"%s\",\"Size\":\"%llu\"}\n", s, s,
                    (unsigned long long)r->last.tsize) == 0)
    emit(r);
}

void wr_rpc_cmd_add(wr_rpc_call *c) {
  add_run r;
  memset(&r, 0, sizeof r);
  r.c = c;
  wr_buf_init(&r.line, 64 * 1024);
  dnode top;
  memset(&top, 0, sizeof top);
  wr_rpc_mp m;
  memset(&m, 0, sizeof m);
  wr_cid *roots = NULL;
  int locked = 0;
  add_opts o;
  if (add_options(c, &r, &o) != 0)
    goto out;
  if (wr_rpc_mp_init(&m, c) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "%s", m.err);
    goto out;
  }
  if (!o.only_hash) {
    pthread_rwlock_rdlock(c->gc_lock);
    locked = 1;
  }
  const char *why = NULL;
  int rv = wr_importer_new(o.only_hash ? NULL : c->repo->bs, &o.p, &r.im, &why);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", why ? why : wr_strerror(rv));
    goto out;
  }
  wr_importer_set_callbacks(r.im, on_added, on_progress, &r);
  roots = wr_calloc(MAX_ROOTS, sizeof *roots);
  if (!roots) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    goto out;
  }
  size_t nparts = 0;
  while ((rv = wr_rpc_mp_next(&m)) > 0) {
    nparts++;
    if (add_part(&r, &top, &m) != 0)
      goto out;
  }
  if (rv < 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", m.err);
    goto out;
  }
  if (nparts == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"path\" is required");
    goto out;
  }
  size_t nroots = 0;
  if (add_roots(&r, &top, o.wrap, roots, &nroots) != 0)
    goto out;
  if (wr_importer_commit(r.im, roots, o.pin ? nroots : 0) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", wr_importer_error(r.im));
    goto out;
  }
  /* What was added is announced (the roots; kubo's "roots" strategy). */
  if (!o.only_hash)
    wr_rpc_provide_bg(c, roots, nroots);
  if (!wr_rpc_job_head_sent(c->job) && !(r.quieter && nroots) &&
      wr_rpc_ok(c, "application/json", 2) != 0)
    goto out; /* the user is gone */
  if (r.quieter && nroots) {
    r.quieter = 0;
    add_report_last(&r);
  }
out:
  wr_importer_del(r.im);
  if (locked)
    pthread_rwlock_unlock(c->gc_lock);
  wr_rpc_mp_free(&m);
  wr_free(roots);
  dnode_free(&top);
  wr_buf_free(&r.line);
}
