#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int wr_file_read_all(const char *path, size_t limit, wr_buf *b, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    set_err(err, errlen, "cannot open %s: %s", path, strerror(e));
    return e == ENOENT ? WR_ERR_NOTFOUND : WR_ERR_IO;
  }
  int rv = 0;
  size_t got = 0;
  while (1) {
    uint8_t chunk[8192];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
      rv = WR_ERR_IO;
      break;
    }
    if (n == 0)
      break;
    got += (size_t)n;
    if (got > limit || (rv = wr_buf_append(b, chunk, (size_t)n)) == WR_ERR_LIMIT) {
      set_err(err, errlen, "%s is too large (the limit is %zu bytes)", path, limit);
      rv = WR_ERR_LIMIT;
      break;
    }
    if (rv) {
      set_err(err, errlen, "cannot read %s: %s", path, wr_strerror(rv));
      break;
    }
  }
  close(fd);
  return rv;
}

/* fsyncs the folder holding path, so a rename into it is durable. */
static void sync_dir(const char *path) {
  char copy[PATH_MAX];
  if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
    return;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int wr_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int flags,
                         char *err, size_t errlen) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    set_err(err, errlen, "the path %s is too long", path);
    return WR_ERR_INVAL;
  }
  (void)unlink(tmp); /* a leftover of a killed run with our pid */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    /* Name the file the user asked for, not our temporary. */
    set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return WR_ERR_IO;
  }
  /* open() applies the umask; the caller asked for exactly mode. */
  if (fchmod(fd, mode) != 0) {
    set_err(err, errlen, "cannot set permissions on %s: %s", tmp, strerror(errno));
    goto fail;
  }
  const uint8_t *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
      goto fail;
    }
    p += n;
    left -= (size_t)n;
  }
  if (fsync(fd) != 0) {
    set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
    goto fail;
  }
  close(fd);
  fd = -1;
  if (flags & WR_FILE_NO_REPLACE) {
    /* link() fails with EEXIST instead of replacing: the check and the
     * creation are one step, so two writers cannot both win. */
    if (link(tmp, path) != 0) {
      int e = errno;
      set_err(err, errlen, e == EEXIST ? "%s already exists" : "cannot create %s: %s", path,
              strerror(e));
      unlink(tmp);
      return e == EEXIST ? WR_ERR_EXISTS : WR_ERR_IO;
    }
    unlink(tmp);
  } else if (rename(tmp, path) != 0) {
    set_err(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    goto fail;
  }
  sync_dir(path);
  return 0;
fail:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return WR_ERR_IO;
}

int wr_file_lock(const char *path, char *err, size_t errlen) {
  char lock[PATH_MAX];
  if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock) {
    set_err(err, errlen, "the path %s is too long", path);
    return WR_ERR_INVAL;
  }
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    set_err(err, errlen, "cannot create %s: %s", lock, strerror(errno));
    return WR_ERR_IO;
  }
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR)
      continue;
    set_err(err, errlen, "cannot lock %s: %s", lock, strerror(errno));
    close(fd);
    return WR_ERR_IO;
  }
  return fd;
}

void wr_file_unlock(int fd) {
  if (fd >= 0)
    close(fd); /* closing the descriptor releases the flock */
}

int wr_file_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}
