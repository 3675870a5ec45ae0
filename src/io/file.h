/* file.h: whole small files in and out, for configuration and credentials.
 *
 * Reads are bounded (a limit, WR_ERR_LIMIT past it). Writes go through a
 * temporary file in the same folder, fsync and rename, so a reader (or a
 * crash) never sees half a file; the folder is fsynced too so the rename
 * survives power loss. Every error also leaves one sentence in err that
 * names the path and the cause. */
#ifndef WR_IO_FILE_H
#define WR_IO_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/err.h"

/* Appends the contents of path to b (whose own limit also applies) and
 * refuses files over limit bytes. WR_ERR_NOTFOUND when path does not exist,
 * WR_ERR_LIMIT when it is too large, WR_ERR_IO otherwise. */
WR_MUST_CHECK int wr_file_read_all(const char *path, size_t limit, wr_buf *b, char *err,
                                   size_t errlen);

enum {
  WR_FILE_REPLACE = 0,    /* replace path when it exists */
  WR_FILE_NO_REPLACE = 1, /* WR_ERR_EXISTS when path exists (checked atomically) */
};

/* Writes len bytes to path with permissions mode (the umask does not
 * apply), atomically. flags is WR_FILE_REPLACE or WR_FILE_NO_REPLACE.
 * Returns 0, WR_ERR_EXISTS, WR_ERR_INVAL (path too long) or WR_ERR_IO. */
WR_MUST_CHECK int wr_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                       int flags, char *err, size_t errlen);

/* Takes an exclusive advisory lock on "<path>.lock" (created 0600), waiting
 * for another holder. Returns the descriptor to pass to wr_file_unlock, or a
 * negative WR_ERR_IO / WR_ERR_INVAL. Serialises read-modify-write updates of
 * one file by several processes. */
WR_MUST_CHECK int wr_file_lock(const char *path, char *err, size_t errlen);
void wr_file_unlock(int fd);

/* 1 when path exists (any type), else 0. */
int wr_file_exists(const char *path);

#endif
