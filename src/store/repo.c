#include "store/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "io/file.h"
#include "store/pin.h"

int wr_repo_resolve(const char *flag_dir, char *out, size_t outlen) {
  const char *env = getenv("WARREN_PATH");
  int n;
  if (flag_dir && *flag_dir)
    n = snprintf(out, outlen, "%s", flag_dir);
  else if (env && *env)
    n = snprintf(out, outlen, "%s", env);
  else {
    const char *home = getenv("HOME");
    if (!home || !*home)
      return WR_ERR_NOTFOUND;
    n = snprintf(out, outlen, "%s/.warren", home);
  }
  if (n < 0 || (size_t)n >= outlen)
    return WR_ERR_LIMIT;
  /* Trailing slashes would only make messages uglier. */
  while (n > 1 && out[n - 1] == '/')
    out[--n] = '\0';
  return 0;
}

/* mkdir that accepts an existing folder. Sets *pcreated when it made one. */
static int make_dir(const char *path, int *pcreated) {
  if (mkdir(path, 0755) == 0) {
    *pcreated = 1;
    return 0;
  }
  int e = errno;
  struct stat st;
  if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  if (e == EEXIST)
    e = ENOTDIR;
  WR_ERROR("Cannot create the repo folder", "path=%s error=\"%s\"", path, strerror(e));
  return e == EACCES || e == EPERM || e == EROFS ? WR_ERR_DENIED : WR_ERR_IO;
}

/* Creates every missing parent of path, like mkdir -p. */
static int make_dirs(const char *path, int *pcreated) {
  char tmp[WR_REPO_PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof tmp)
    return WR_ERR_LIMIT;
  memcpy(tmp, path, n + 1);
  for (size_t i = 1; i < n; i++) {
    if (tmp[i] != '/')
      continue;
    tmp[i] = '\0';
    struct stat st;
    if (stat(tmp, &st) != 0) {
      int rc = make_dir(tmp, pcreated);
      if (rc != 0)
        return rc;
    }
    tmp[i] = '/';
  }
  return make_dir(tmp, pcreated);
}

int wr_repo_init(const char *path, int *pcreated) {
  char sub[WR_REPO_PATH_MAX];
  int created = 0, rc;
  if ((rc = make_dirs(path, &created)) != 0)
    return rc;
  if (snprintf(sub, sizeof sub, "%s/store", path) >= (int)sizeof sub)
    return WR_ERR_LIMIT;
  if ((rc = make_dir(sub, &created)) != 0)
    return rc;
  if (snprintf(sub, sizeof sub, "%s/version", path) >= (int)sizeof sub)
    return WR_ERR_LIMIT;
  if (access(sub, F_OK) != 0) {
    /* Atomic (temporary name, fsync, rename), so a killed init never leaves
     * an empty version file behind. */
    char why[WR_REPO_PATH_MAX + 128];
    if (wr_file_write_atomic(sub, "1\n", 2, 0644, WR_FILE_REPLACE, why, sizeof why) != 0) {
      WR_ERROR("Cannot write the repo version file", "path=%s error=\"%s\"", sub, why);
      return WR_ERR_IO;
    }
    created = 1;
  }
  if (pcreated)
    *pcreated = created;
  return 0;
}

int wr_repo_open(const char *path, int mode, wr_repo **prepo) {
  char sub[WR_REPO_PATH_MAX];
  int rc = wr_repo_init(path, NULL);
  if (rc != 0)
    return rc;
  wr_repo *r = wr_calloc(1, sizeof *r);
  if (!r)
    return WR_ERR_NOMEM;
  r->lock_fd = -1;
  r->mode = mode;
  if (!(r->path = wr_strdup(path))) {
    rc = WR_ERR_NOMEM;
    goto fail;
  }
  snprintf(sub, sizeof sub, "%s/repo.lock", path);
  r->lock_fd = open(sub, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (r->lock_fd < 0) {
    WR_ERROR("Cannot open the repo lock", "path=%s error=\"%s\"", sub, strerror(errno));
    rc = wr_err_from_errno(errno);
    goto fail;
  }
  /* Shared users wait for a running gc; gc refuses to wait behind a
   * long-running user and says so instead. */
  int op = mode == WR_REPO_EXCLUSIVE ? LOCK_EX | LOCK_NB : LOCK_SH;
  while ((rc = flock(r->lock_fd, op)) != 0 && errno == EINTR)
    ;
  if (rc != 0) {
    rc = errno == EWOULDBLOCK ? WR_ERR_AGAIN : wr_err_from_errno(errno);
    goto fail;
  }
  snprintf(sub, sizeof sub, "%s/store", path);
  if ((rc = wr_bs_open(sub, &r->bs)) != 0)
    goto fail;
  *prepo = r;
  return 0;
fail:
  wr_repo_close(r);
  return rc;
}

void wr_repo_close(wr_repo *repo) {
  if (!repo)
    return;
  wr_bs_close(repo->bs);
  if (repo->lock_fd >= 0)
    close(repo->lock_fd); /* drops the flock */
  wr_free(repo->path);
  wr_free(repo);
}

static int count_pin(void *arg, const uint8_t *cid, size_t cidlen, wr_pin_type type) {
  (void)cid;
  (void)cidlen;
  (void)type;
  (*(uint64_t *)arg)++;
  return 0;
}

int wr_repo_stat_get(wr_repo *repo, wr_repo_stat *st) {
  wr_bs_txn *txn;
  memset(st, 0, sizeof *st);
  int rc = wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn);
  if (rc != 0)
    return rc;
  if ((rc = wr_bs_txn_count(txn, &st->blocks, &st->block_bytes)) == 0 &&
      (rc = wr_pin_iter(txn, count_pin, &st->pins)) == 0)
    rc = wr_bs_txn_space(txn, &st->space);
  wr_bs_txn_abort(txn);
  return rc;
}

static uint64_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* fsync of a file or folder by path: the copy's bytes before the rename that
 * publishes it, the folder's entry after. */
static int sync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int wr_repo_compact(wr_repo *repo, uint64_t *pbefore, uint64_t *pafter) {
  char store[WR_REPO_PATH_MAX], tmp[WR_REPO_PATH_MAX], data[WR_REPO_PATH_MAX + 16],
      copy[WR_REPO_PATH_MAX + 16];
  if (repo->mode != WR_REPO_EXCLUSIVE || !repo->bs)
    return WR_ERR_INVAL;
  snprintf(store, sizeof store, "%s/store", repo->path);
  snprintf(tmp, sizeof tmp, "%s/store.compact", repo->path);
  snprintf(data, sizeof data, "%s/data.mdb", store);
  snprintf(copy, sizeof copy, "%s/data.mdb", tmp);
  /* A copy left by a compaction that was killed is incomplete or was never
   * published: either way it goes. */
  unlink(copy);
  rmdir(tmp);
  if (mkdir(tmp, 0755) != 0) {
    WR_ERROR("Cannot create the compaction folder", "path=%s error=\"%s\"", tmp, strerror(errno));
    return WR_ERR_IO;
  }
  *pbefore = file_size(data);
  int rc = wr_bs_compact_to(repo->bs, tmp);
  if (rc == 0 && sync_path(copy, O_RDONLY) != 0) {
    WR_ERROR("Cannot sync the compacted store", "path=%s error=\"%s\"", copy, strerror(errno));
    rc = WR_ERR_IO;
  }
  if (rc != 0) {
    unlink(copy);
    rmdir(tmp);
    return rc;
  }
  /* Nobody else has the environment open (the repo lock is exclusive), so
   * closing it here and renaming underneath is safe; LMDB resets its lock
   * file when the next process opens the store. */
  wr_bs_close(repo->bs);
  repo->bs = NULL;
  if (rename(copy, data) != 0) {
    WR_ERROR("Cannot replace the store with its compacted copy", "path=%s error=\"%s\"", data,
             strerror(errno));
    unlink(copy);
    rc = WR_ERR_IO;
  } else {
    sync_path(store, O_RDONLY | O_DIRECTORY);
  }
  rmdir(tmp);
  int orc = wr_bs_open(store, &repo->bs);
  *pafter = file_size(data);
  return rc != 0 ? rc : orc;
}
