/* importer.h: `warren add` — files, folders and symlinks from the local file
 * system into the blockstore as UnixFS DAGs (proto/unixfs_builder).
 *
 * Every block goes into one LMDB write transaction (the store commits it in
 * checkpoints on a huge import, see WR_BS_CHECKPOINT_BYTES), and the pins of
 * the roots are written in that same transaction by wr_importer_commit, so a
 * process killed at any moment leaves either the pin with all its blocks or
 * no pin at all. With no blockstore (--only-hash) blocks are only hashed.
 *
 * Memory stays bounded: a file is read chunk by chunk into the builder's
 * buffer; a folder walk keeps the entries of the folders on the current path
 * only. */
#ifndef WR_CONTENT_IMPORTER_H
#define WR_CONTENT_IMPORTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "proto/ipld/unixfs_builder.h"
#include "store/blockstore.h"

typedef struct wr_importer wr_importer;

enum {
  WR_IMPORT_RECURSIVE = 1, /* folders allowed (-r) */
  WR_IMPORT_HIDDEN = 2,    /* include names starting with '.' (--hidden) */
};

/* Told about every file, folder and symlink once its DAG is complete: path
 * is relative to the argument's parent ("planets/mars.txt"); folders come
 * after their contents. l holds the CID, the DAG's cumulative size (tsize) and
 * the file bytes. */
typedef void (*wr_import_added_fn)(void *arg, const wr_ufs_link *l, const char *path);
/* Told about progress: bytes of file data read so far. */
typedef void (*wr_import_progress_fn)(void *arg, uint64_t bytes);

/* Creates an importer writing to bs (NULL: hash only, store nothing). Opens
 * the write transaction at once. Returns 0 and *pim (free with
 * wr_importer_del), WR_ERR_INVAL (bad params; the reason in *preason),
 * WR_ERR_NOMEM, or the store's error. */
WR_MUST_CHECK int wr_importer_new(wr_bs *bs, const wr_ufs_params *p, wr_importer **pim,
                                  const char **preason);
/* Callbacks (each may be NULL). */
void wr_importer_set_callbacks(wr_importer *im, wr_import_added_fn added,
                               wr_import_progress_fn progress, void *arg);

/* Imports the file, folder or symlink at path (flags WR_IMPORT_*). *proot
 * gets the root. On failure one sentence for the user is in
 * wr_importer_error(im). Returns 0, WR_ERR_NOTFOUND, WR_ERR_DENIED,
 * WR_ERR_INVAL (a folder without -r, an unsupported file type), WR_ERR_IO,
 * WR_ERR_NOMEM, or the store's error. */
WR_MUST_CHECK int wr_importer_add_path(wr_importer *im, const char *path, unsigned flags,
                                       wr_ufs_link *proot);
/* Imports everything readable from fd as one file named name (for the added
 * callback). Errors as wr_importer_add_path. */
WR_MUST_CHECK int wr_importer_add_fd(wr_importer *im, int fd, const char *name,
                                     wr_ufs_link *proot);
/* Pulls up to n bytes into buf: returns how many (0 at the end of the
 * input) or a negative WR_ERR_*. */
typedef ssize_t (*wr_import_read_fn)(void *arg, uint8_t *buf, size_t n);
/* Imports everything rd gives as one file; path (a display path such as
 * "dir/a.txt", for the added callback) may be "". Errors as
 * wr_importer_add_fd, or rd's error. */
WR_MUST_CHECK int wr_importer_add_reader(wr_importer *im, wr_import_read_fn rd, void *arg,
                                         const char *path, wr_ufs_link *proot);
/* Builds a folder from n entries already imported (a flat folder or a HAMT,
 * as the params say; ents is sorted in place) and reports it under path.
 * Errors as wr_ufs_dir_build. */
WR_MUST_CHECK int wr_importer_add_dir(wr_importer *im, const char *path, wr_ufs_dirent *ents,
                                      size_t n, wr_ufs_link *proot);
/* Stores a symlink to target (n bytes) as UnixFS and reports it under
 * path. Errors as wr_ufs_symlink_build. */
WR_MUST_CHECK int wr_importer_add_symlink(wr_importer *im, const char *path, const char *target,
                                          size_t n, wr_ufs_link *proot);
/* The last failure as one sentence (empty when none). */
const char *wr_importer_error(const wr_importer *im);

/* Pins roots (recursively; n may be 0) and commits everything in the same
 * transaction. Returns 0 or the store's error (nothing of the last
 * transaction is then written, and no pin). Without a store it does nothing. */
WR_MUST_CHECK int wr_importer_commit(wr_importer *im, const wr_cid *roots, size_t n);
/* Aborts what is uncommitted and frees the importer. NULL is fine. */
void wr_importer_del(wr_importer *im);

/* Counters for the bench and the summary line. */
typedef struct wr_import_stats {
  uint64_t blocks, block_bytes, file_bytes, files;
} wr_import_stats;
void wr_importer_stats(const wr_importer *im, wr_import_stats *ps);

#endif
