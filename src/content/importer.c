/* importer.c: file system walk, chunk reads and block writes for `add`. */
#include "content/importer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "store/pin.h"

/* Folder nesting deeper than this is refused (each level holds an fd). */
#define MAX_DEPTH 256
/* Blocks in flight between the builder and the store writer. The writer
 * sleeps until WRITER_BATCH blocks wait (or the end), so the two threads
 * hand over work in batches instead of waking each other per block. */
#define QUEUE_SLOTS 16
#define WRITER_BATCH 8

/* The store writer: a thread that owns the LMDB write transaction (LMDB
 * wants a write transaction used by the thread that began it) and puts the
 * blocks the builder queues, so hashing and reading overlap with LMDB's
 * copies and page-cache writes. The queue is a ring of reusable buffers:
 * the builder fills the slot after the last queued one, the writer reads
 * the head slot and frees it only when the put is done. */
typedef struct slot {
  wr_cid cid;
  uint8_t *data;
  size_t len, cap;
} slot;

typedef struct writer {
  wr_bs *bs;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* any change: a slot queued or freed, a request, the end */
  slot slots[QUEUE_SLOTS];
  size_t head, count;
  int started; /* the thread has begun its transaction (or failed to) */
  int finish;  /* 1: commit after the queue drains; -1: abort */
  int done;    /* the thread has ended its transaction */
  int err;     /* first store error (sticky) */
  int writer_waiting, producer_waiting;
  const wr_cid *pins;
  size_t npins;
} writer;

struct wr_importer {
  wr_bs *bs;
  writer *w; /* NULL with --only-hash, or after commit */
  wr_ufs_params p;
  wr_import_added_fn added;
  wr_import_progress_fn progress;
  void *arg;
  wr_import_stats st;
  char err[512];
  wr_buf path; /* display path of the entry being imported */
};

static void set_err(wr_importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(wr_importer *im, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(im->err, sizeof im->err, fmt, ap);
  va_end(ap);
}

static void *writer_main(void *arg) {
  writer *w = arg;
  wr_bs_txn *txn = NULL;
  int rv = wr_bs_txn_begin(w->bs, WR_BS_WRITE, &txn);
  wr_bs_blocks src;
  wr_blocks *blocks = rv ? NULL : wr_bs_blocks_init(&src, txn);
  pthread_mutex_lock(&w->mu);
  w->started = 1;
  if (rv)
    w->err = rv;
  pthread_cond_broadcast(&w->cv);
  for (;;) {
    while (!w->finish && (w->count == 0 || (w->count < WRITER_BATCH && !w->producer_waiting))) {
      w->writer_waiting = 1;
      pthread_cond_wait(&w->cv, &w->mu);
      w->writer_waiting = 0;
    }
    if (w->finish < 0 || (w->count == 0 && w->finish))
      break;
    /* Drain everything queued, then sleep until the next batch. */
    while (w->count > 0 && w->finish >= 0) {
      slot *sl = &w->slots[w->head];
      int failed = w->err;
      pthread_mutex_unlock(&w->mu);
      if (!failed)
        /* Trusted: the builder hashed these bytes to make the CID. */
        rv = wr_blocks_put(blocks, &sl->cid, sl->data, sl->len, WR_BLOCKS_TRUSTED);
      pthread_mutex_lock(&w->mu);
      if (!failed && rv && !w->err)
        w->err = rv;
      w->head = (w->head + 1) % QUEUE_SLOTS;
      w->count--;
      if (w->producer_waiting)
        pthread_cond_broadcast(&w->cv);
    }
  }
  int commit = w->finish > 0 && !w->err;
  pthread_mutex_unlock(&w->mu);
  rv = 0;
  if (commit) {
    /* The pins go into the transaction that holds the last blocks. */
    for (size_t i = 0; i < w->npins && !rv; i++)
      rv = wr_pin_put_cid(txn, &w->pins[i], WR_PIN_RECURSIVE);
    if (!rv) {
      rv = wr_bs_txn_commit(txn);
      txn = NULL;
    }
  }
  wr_bs_txn_abort(txn);
  pthread_mutex_lock(&w->mu);
  if (rv && !w->err)
    w->err = rv;
  w->done = 1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Starts the writer and waits until its transaction has begun. */
static int writer_start(wr_bs *bs, writer **pw) {
  writer *w = wr_calloc(1, sizeof *w);
  if (!w)
    return WR_ERR_NOMEM;
  w->bs = bs;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    wr_free(w);
    return WR_ERR_NOMEM;
  }
  pthread_mutex_lock(&w->mu);
  while (!w->started)
    pthread_cond_wait(&w->cv, &w->mu);
  int rv = w->err;
  pthread_mutex_unlock(&w->mu);
  *pw = w;
  return rv;
}

/* Ends the writer: commit > 0 commits (with pins), else aborts. Joins the
 * thread and frees it. Returns the writer's first error. */
static int writer_stop(writer *w, int commit, const wr_cid *pins, size_t npins) {
  pthread_mutex_lock(&w->mu);
  w->pins = pins;
  w->npins = npins;
  w->finish = commit ? 1 : -1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  int rv = w->err;
  for (size_t i = 0; i < QUEUE_SLOTS; i++)
    wr_free(w->slots[i].data);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  wr_free(w);
  return rv;
}

/* Queues a copy of a block for the writer; waits while the queue is full.
 * Returns 0, the writer's sticky error, or WR_ERR_NOMEM. */
static int writer_put(writer *w, const wr_cid *cid, const uint8_t *block, size_t len) {
  pthread_mutex_lock(&w->mu);
  while (w->count == QUEUE_SLOTS && !w->err) {
    w->producer_waiting = 1;
    pthread_cond_broadcast(&w->cv); /* a full queue is always worth the writer's time */
    pthread_cond_wait(&w->cv, &w->mu);
    w->producer_waiting = 0;
  }
  int rv = w->err;
  slot *sl = &w->slots[(w->head + w->count) % QUEUE_SLOTS];
  pthread_mutex_unlock(&w->mu);
  if (rv)
    return rv;
  /* The slot is ours until it is queued: the writer only reads queued ones. */
  if (sl->cap < len) {
    uint8_t *d = wr_realloc(sl->data, len);
    if (!d)
      return WR_ERR_NOMEM;
    sl->data = d;
    sl->cap = len;
  }
  memcpy(sl->data, block, len);
  sl->len = len;
  sl->cid = *cid;
  pthread_mutex_lock(&w->mu);
  w->count++;
  if (w->writer_waiting && w->count >= WRITER_BATCH)
    pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

int wr_importer_new(wr_bs *bs, const wr_ufs_params *p, wr_importer **pim, const char **preason) {
  *pim = NULL;
  int rv = wr_ufs_params_check(p, preason);
  if (rv)
    return rv;
  /* LMDB allocates a block's dirty overflow pages with malloc. glibc hands
   * such 256 KiB - 2 MiB requests out as fresh mmaps, and every page of each
   * then faults on first touch: ~1.3 s of page faults per GiB added. Served
   * from the heap instead, the memory is reused between transactions. */
  (void)mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
  (void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
  wr_importer *im = wr_calloc(1, sizeof *im);
  if (!im)
    return WR_ERR_NOMEM;
  im->bs = bs;
  im->p = *p;
  wr_buf_init(&im->path, 64 * 1024);
  if (bs) {
    rv = writer_start(bs, &im->w);
    if (rv) {
      wr_importer_del(im);
      return rv;
    }
  }
  *pim = im;
  return 0;
}

void wr_importer_set_callbacks(wr_importer *im, wr_import_added_fn added,
                               wr_import_progress_fn progress, void *arg) {
  im->added = added;
  im->progress = progress;
  im->arg = arg;
}

const char *wr_importer_error(const wr_importer *im) { return im->err; }

void wr_importer_stats(const wr_importer *im, wr_import_stats *ps) { *ps = im->st; }

void wr_importer_del(wr_importer *im) {
  if (!im)
    return;
  if (im->w)
    (void)writer_stop(im->w, 0, NULL, 0);
  wr_buf_free(&im->path);
  wr_free(im);
}

int wr_importer_commit(wr_importer *im, const wr_cid *roots, size_t n) {
  if (!im->w)
    return 0;
  int rv = writer_stop(im->w, 1, roots, n);
  im->w = NULL;
  if (rv)
    set_err(im, "cannot commit the blocks and pins to the store: %s", wr_strerror(rv));
  return rv;
}

/* The builder's sink: one block into the open transaction. */
static int sink(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  wr_importer *im = arg;
  im->st.blocks++;
  im->st.block_bytes += len;
  if (!im->w)
    return 0;
  int rv = writer_put(im->w, cid, block, len);
  if (rv)
    set_err(im, "cannot store a block: %s", wr_strerror(rv));
  return rv;
}

static int sys_err(wr_importer *im, const char *what, int e) {
  const char *p = im->path.len ? (const char *)im->path.data : "(stdin)";
  set_err(im, "cannot %s %s: %s", what, p, strerror(e));
  return wr_err_from_errno(e);
}

/* An fd as a reader (wr_import_read_fn): one read(2), EINTR retried. */
static ssize_t fd_read(void *arg, uint8_t *buf, size_t n) {
  int fd = *(int *)arg;
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0)
      return r;
    if (errno != EINTR)
      return -errno;
  }
}

/* Reads until buf holds n bytes or the input ends. Returns bytes read, a
 * negative errno (fd readers) or a negative WR_ERR_* (other readers). */
static ssize_t read_full(wr_import_read_fn rd, void *arg, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = rd(arg, buf + got, n - got);
    if (r < 0)
      return r;
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int import_stream(wr_importer *im, wr_import_read_fn rd, void *rarg, int is_fd,
                         wr_ufs_link *out) {
  wr_ufs_file *f = NULL;
  int rv = wr_ufs_file_new(&im->p, sink, im, &f);
  if (rv)
    return rv;
  for (;;) {
    ssize_t r = read_full(rd, rarg, wr_ufs_file_chunk_buf(f), im->p.chunk_size);
    if (r < 0) {
      if (is_fd)
        rv = sys_err(im, "read", (int)-r);
      else {
        rv = (int)r;
        set_err(im, "cannot read %s: %s", im->path.len ? (char *)im->path.data : "(stdin)",
                wr_strerror(rv));
      }
      break;
    }
    if (r == 0)
      break;
    im->st.file_bytes += (uint64_t)r;
    rv = wr_ufs_file_chunk(f, (size_t)r);
    if (rv)
      break;
    if (im->progress)
      im->progress(im->arg, im->st.file_bytes);
    if ((size_t)r < im->p.chunk_size)
      break;
  }
  if (!rv)
    rv = wr_ufs_file_finish(f, out);
  if (!rv)
    im->st.files++;
  else if (!im->err[0])
    set_err(im, "cannot import %s: %s", im->path.len ? (char *)im->path.data : "(stdin)",
            wr_strerror(rv));
  wr_ufs_file_del(f);
  return rv;
}

static int import_fd(wr_importer *im, int fd, wr_ufs_link *out) {
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return import_stream(im, fd_read, &fd, 1, out);
}

static void report(wr_importer *im, const wr_ufs_link *l) {
  if (im->added)
    im->added(im->arg, l, (const char *)im->path.data);
}

/* Appends "/name" (or name at the top) to the display path; returns the old
 * length for path_pop. */
static int path_push(wr_importer *im, const char *name, size_t *pold) {
  *pold = im->path.len;
  if (im->path.len) {
    im->path.len--; /* drop the NUL */
    if (wr_buf_append(&im->path, "/", 1))
      return WR_ERR_LIMIT;
  }
  if (wr_buf_append(&im->path, name, strlen(name)) || wr_buf_append(&im->path, "", 1))
    return WR_ERR_LIMIT;
  return 0;
}

static void path_pop(wr_importer *im, size_t old) {
  im->path.len = old;
  if (old)
    im->path.data[old - 1] = '\0';
}

static int import_at(wr_importer *im, int dirfd, const char *name, unsigned flags, int depth,
                     wr_ufs_link *out);

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int import_dir(wr_importer *im, int fd, unsigned flags, int depth, wr_ufs_link *out) {
  if (!(flags & WR_IMPORT_RECURSIVE)) {
    set_err(im, "%s is a folder: use -r to add folders", (char *)im->path.data);
    close(fd);
    return WR_ERR_INVAL;
  }
  if (depth >= MAX_DEPTH) {
    set_err(im, "%s: folders nested deeper than %d levels", (char *)im->path.data, MAX_DEPTH);
    close(fd);
    return WR_ERR_LIMIT;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return sys_err(im, "open the folder", e);
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  wr_ufs_dirent *ents = NULL;
  int rv = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
      continue;
    if (nm[0] == '.' && !(flags & WR_IMPORT_HIDDEN))
      continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **nn = wr_realloc(names, nc * sizeof *nn);
      if (!nn) {
        rv = WR_ERR_NOMEM;
        goto out;
      }
      names = nn;
      cap = nc;
    }
    names[n] = wr_strdup(nm);
    if (!names[n]) {
      rv = WR_ERR_NOMEM;
      goto out;
    }
    n++;
  }
  if (errno) {
    rv = sys_err(im, "read the folder", errno);
    goto out;
  }
  /* Children in byte order, so the added lines come out as kubo's do. */
  if (n > 1)
    qsort(names, n, sizeof *names, cmp_str);
  ents = wr_calloc(n ? n : 1, sizeof *ents);
  if (!ents) {
    rv = WR_ERR_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < n && !rv; i++) {
    ents[i].name = names[i];
    ents[i].name_len = strlen(names[i]);
    rv = import_at(im, dirfd(d), names[i], flags, depth + 1, &ents[i].link);
  }
  if (!rv) {
    rv = wr_ufs_dir_build(&im->p, ents, n, sink, im, out, NULL);
    if (rv && !im->err[0])
      set_err(im, "cannot build the folder %s: %s", (char *)im->path.data, wr_strerror(rv));
  }
  if (!rv) {
    out->filesize = 0;
    report(im, out);
  }
out:
  if (rv == WR_ERR_NOMEM && !im->err[0])
    set_err(im, "out of memory while reading %s", (char *)im->path.data);
  for (size_t i = 0; i < n; i++)
    wr_free(names[i]);
  wr_free(names);
  wr_free(ents);
  closedir(d);
  return rv;
}

/* Imports dirfd/name (not following a final symlink). */
static int import_at(wr_importer *im, int dirfd, const char *name, unsigned flags, int depth,
                     wr_ufs_link *out) {
  size_t old;
  if (path_push(im, name, &old)) {
    set_err(im, "a path is longer than 64 KiB");
    return WR_ERR_LIMIT;
  }
  int rv = 0;
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    rv = sys_err(im, "read", errno);
    goto done;
  }
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t k = readlinkat(dirfd, name, target, sizeof target);
    if (k < 0) {
      rv = sys_err(im, "read the symlink", errno);
      goto done;
    }
    rv = wr_ufs_symlink_build(&im->p, target, (size_t)k, sink, im, out);
    if (!rv)
      report(im, out);
  } else if (S_ISDIR(st.st_mode)) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      rv = sys_err(im, "open the folder", errno);
      goto done;
    }
    rv = import_dir(im, fd, flags, depth, out); /* closes fd */
  } else if (S_ISREG(st.st_mode)) {
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      rv = sys_err(im, "open", errno);
      goto done;
    }
    rv = import_fd(im, fd, out);
    close(fd);
    if (!rv)
      report(im, out);
  } else {
    set_err(im,
            "%s is not a regular file, folder or symlink (sockets, pipes and devices "
            "cannot be added)",
            (char *)im->path.data);
    rv = WR_ERR_INVAL;
  }
done:
  path_pop(im, old);
  return rv;
}

int wr_importer_add_path(wr_importer *im, const char *path, unsigned flags, wr_ufs_link *proot) {
  im->err[0] = '\0';
  /* The entry is named by its last path component ("a/b/" is "b"), and
   * opened relative to its parent so a final symlink is stored, not followed. */
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/')
    len--;
  char *copy = wr_malloc(len + 1);
  if (!copy)
    return WR_ERR_NOMEM;
  memcpy(copy, path, len);
  copy[len] = '\0';
  char *slash = strrchr(copy, '/');
  const char *name = slash ? slash + 1 : copy;
  const char *parent = slash ? (slash == copy ? "/" : copy) : ".";
  if (slash && slash != copy)
    *slash = '\0';
  int rv;
  char resolved[PATH_MAX];
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || name[0] == '\0') {
    /* "." has no name of its own: use the folder's real name. */
    if (!realpath(path, resolved)) {
      set_err(im, "cannot read %s: %s", path, strerror(errno));
      wr_free(copy);
      return wr_err_from_errno(errno);
    }
    char *s = strrchr(resolved, '/');
    const char *nm = (s && s[1]) ? s + 1 : resolved;
    int dfd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
      set_err(im, "cannot open %s: %s", path, strerror(errno));
      wr_free(copy);
      return wr_err_from_errno(errno);
    }
    size_t old;
    if (path_push(im, nm, &old)) {
      close(dfd);
      wr_free(copy);
      return WR_ERR_LIMIT;
    }
    rv = import_dir(im, dfd, flags, 0, proot);
    path_pop(im, old);
    wr_free(copy);
    return rv;
  }
  int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) {
    set_err(im, "cannot open %s: %s", parent, strerror(errno));
    wr_free(copy);
    return wr_err_from_errno(errno);
  }
  rv = import_at(im, pfd, name, flags, 0, proot);
  close(pfd);
  wr_free(copy);
  return rv;
}

int wr_importer_add_fd(wr_importer *im, int fd, const char *name, wr_ufs_link *proot) {
  im->err[0] = '\0';
  size_t old;
  if (path_push(im, name, &old))
    return WR_ERR_LIMIT;
  int rv = import_fd(im, fd, proot);
  if (!rv)
    report(im, proot);
  path_pop(im, old);
  return rv;
}

int wr_importer_add_reader(wr_importer *im, wr_import_read_fn rd, void *arg, const char *path,
                           wr_ufs_link *proot) {
  im->err[0] = '\0';
  size_t old;
  if (path_push(im, path, &old))
    return WR_ERR_LIMIT;
  int rv = import_stream(im, rd, arg, 0, proot);
  if (!rv)
    report(im, proot);
  path_pop(im, old);
  return rv;
}

int wr_importer_add_dir(wr_importer *im, const char *path, wr_ufs_dirent *ents, size_t n,
                        wr_ufs_link *proot) {
  im->err[0] = '\0';
  size_t old;
  if (path_push(im, path, &old))
    return WR_ERR_LIMIT;
  int rv = wr_ufs_dir_build(&im->p, ents, n, sink, im, proot, NULL);
  if (rv && !im->err[0])
    set_err(im, "cannot build the folder %s: %s", path, wr_strerror(rv));
  if (!rv) {
    proot->filesize = 0;
    report(im, proot);
  }
  path_pop(im, old);
  return rv;
}

int wr_importer_add_symlink(wr_importer *im, const char *path, const char *target, size_t n,
                            wr_ufs_link *proot) {
  im->err[0] = '\0';
  size_t old;
  if (path_push(im, path, &old))
    return WR_ERR_LIMIT;
  int rv = wr_ufs_symlink_build(&im->p, target, n, sink, im, proot);
  if (rv && !im->err[0])
    set_err(im, "cannot store the symlink %s: %s", path, wr_strerror(rv));
  if (!rv)
    report(im, proot);
  path_pop(im, old);
  return rv;
}
