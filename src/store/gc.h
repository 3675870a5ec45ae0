/* gc.h: garbage collection of the blockstore.
 *
 * Mark: walk every pin (recursive pins with their whole DAG, direct pins the
 * block alone) with one shared visited set, so a block under several pins is
 * read once and a subtree already marked is not entered again. Raw blocks
 * are only checked for presence, never read. Sweep: delete every stored
 * block not marked. Both run in one LMDB write transaction, so a GC killed
 * midway removes nothing; callers hold the repo exclusively (WR_REPO_EXCLUSIVE)
 * so no import commits unpinned blocks in between.
 *
 * A pinned DAG that cannot be walked completely (a block missing or
 * corrupted, or a codec whose links warren cannot read) stops GC before it
 * removes anything: sweeping then could delete blocks the unreadable part
 * links to. */
#ifndef WR_STORE_GC_H
#define WR_STORE_GC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"

typedef struct wr_gc_stats {
  uint64_t removed_blocks, removed_bytes; /* what GC freed */
  uint64_t kept_blocks, kept_bytes;       /* what stays (reachable from pins) */
} wr_gc_stats;

/* Told about one removed block (its multihash key and size), after the
 * removal has committed. */
typedef void (*wr_gc_removed_fn)(void *arg, const uint8_t *mh, size_t mhlen, size_t size);

/* Where GC stopped when it could not mark (filled on the errors below). */
typedef struct wr_gc_fault {
  wr_cid root;  /* the pin being walked */
  wr_cid block; /* the block at fault */
} wr_gc_fault;

/* Collects garbage in bs. Calls removed (may be NULL) per removed block and
 * fills *pstats. Returns 0, or without removing anything: WR_ERR_NOTFOUND,
 * WR_ERR_CORRUPT, WR_ERR_MALFORMED, WR_ERR_UNSUPPORTED (with *pfault, may be
 * NULL, naming the pin and block), WR_ERR_NOMEM, WR_ERR_IO. */
WR_MUST_CHECK int wr_gc_run(wr_bs *bs, wr_gc_removed_fn removed, void *arg,
                            wr_gc_stats *pstats, wr_gc_fault *pfault);

#endif
