/* repo.h: the repo folder that holds a node's store.
 *
 * Layout of DIR (from --repo DIR, else $WARREN_PATH, else ~/.warren):
 *   DIR/store/data.mdb, DIR/store/lock.mdb   the LMDB environment (blocks, pins)
 *   DIR/repo.lock                            flock: shared by every command that
 *                                            uses the store, exclusive for gc
 *   DIR/version                              "1\n"
 *
 * The folder is created on first use. The lock keeps gc from sweeping blocks an
 * importer has committed but not pinned yet (an add commits its blocks in
 * several transactions and pins in the last one). */
#ifndef WR_STORE_REPO_H
#define WR_STORE_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/blockstore.h"

#define WR_REPO_PATH_MAX 4096

typedef struct wr_repo {
  char *path;   /* the repo folder (owned) */
  wr_bs *bs;    /* the blockstore (owned) */
  int lock_fd;  /* DIR/repo.lock, flock'ed */
  int mode;     /* WR_REPO_SHARED or WR_REPO_EXCLUSIVE */
} wr_repo;

enum {
  WR_REPO_SHARED = 0,    /* normal use: many processes at once */
  WR_REPO_EXCLUSIVE = 1, /* gc: nobody else may use the store meanwhile */
};

/* Chooses the repo folder: flag_dir if not NULL, else $WARREN_PATH if set and
 * non-empty, else $HOME/.warren. Writes it into out (outlen bytes). Returns 0,
 * WR_ERR_NOTFOUND (no HOME to default to), WR_ERR_LIMIT (too long). */
WR_MUST_CHECK int wr_repo_resolve(const char *flag_dir, char *out, size_t outlen);

/* Creates the repo folder and its store if missing. *pcreated is 1 when
 * something was created, 0 when the repo was already complete. Returns 0,
 * WR_ERR_DENIED, WR_ERR_IO (logged with the path and cause). */
WR_MUST_CHECK int wr_repo_init(const char *path, int *pcreated);

/* Opens (creating on first use) the repo at path: takes the repo lock in mode
 * (WR_REPO_SHARED or WR_REPO_EXCLUSIVE) and opens the blockstore. Returns 0
 * and *prepo (free with wr_repo_close), WR_ERR_AGAIN when mode is exclusive
 * and another process uses the repo, or an error from wr_repo_init or
 * wr_bs_open. */
WR_MUST_CHECK int wr_repo_open(const char *path, int mode, wr_repo **prepo);
/* What `repo stat` shows: the blocks and pins in the store and the space its
 * file takes on disk. */
typedef struct wr_repo_stat {
  uint64_t blocks, block_bytes; /* stored blocks and the sum of their sizes */
  uint64_t pins;
  wr_bs_space space;
} wr_repo_stat;
/* Fills st from one read snapshot. Returns 0 or WR_ERR_IO. */
WR_MUST_CHECK int wr_repo_stat_get(wr_repo *repo, wr_repo_stat *st);

/* Rewrites the store's data file with only its live pages, so the disk space
 * gc freed goes back to the file system (LMDB itself never shrinks the file).
 * Needs the repo opened WR_REPO_EXCLUSIVE (else WR_ERR_INVAL). The copy is
 * written beside the store (DIR/store.compact, so it needs free space for the
 * live data) and renamed over data.mdb: a process killed at any point leaves
 * either the old file or the new one, never a mix, and a leftover copy is
 * removed by the next compaction. *pbefore and *pafter get the file sizes.
 * Returns 0, WR_ERR_IO (logged), or an error from reopening the store, after
 * which repo->bs is NULL and the repo must be closed. */
WR_MUST_CHECK int wr_repo_compact(wr_repo *repo, uint64_t *pbefore, uint64_t *pafter);

/* Closes the blockstore, drops the lock and frees the repo. NULL is fine. */
void wr_repo_close(wr_repo *repo);

#endif
