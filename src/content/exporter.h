/* exporter.h: reading UnixFS DAGs back out of the blockstore — path
 * resolution (through flat and HAMT-sharded folders), file bytes by range,
 * folder listings, and writing a DAG to disk (`cat`, `ls`, `get`).
 *
 * Blocks are read through the blocks seam (store/blocks.h); wr_export_begin
 * binds it to one read transaction of the local store, so block bytes are
 * used in place in the memory map (every read is hash-verified by the
 * store). A file range is found through the blocksizes of each node, so
 * `cat --offset` reads only the blocks on the way to the range. */
#ifndef WR_CONTENT_EXPORTER_H
#define WR_CONTENT_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"

/* What a node is, for the user. */
typedef enum wr_export_kind {
  WR_EXPORT_FILE = 1,    /* raw block or UnixFS File/Raw */
  WR_EXPORT_DIR = 2,     /* UnixFS Directory */
  WR_EXPORT_HAMT = 3,    /* UnixFS HAMTShard (a sharded folder) */
  WR_EXPORT_SYMLINK = 4, /* UnixFS Symlink */
} wr_export_kind;

/* A read session: where blocks come from and the last error as one
 * sentence. Set blocks yourself (any source, for as long as the session is
 * used) or call wr_export_begin. */
typedef struct wr_export {
  wr_blocks *blocks; /* not owned */
  wr_bs_txn *txn;    /* the read transaction wr_export_begin opened (owned), or NULL */
  wr_bs_blocks local;
  char err[512];
} wr_export;

/* Starts a session over a read transaction of bs (ex is zeroed first).
 * Returns 0 or the store's error (ex->err stays empty: the caller says what
 * it was doing); end it with wr_export_end either way. */
WR_MUST_CHECK int wr_export_begin(wr_export *ex, wr_bs *bs);
/* Ends the transaction wr_export_begin opened; block bytes got in the
 * session are then gone. Safe on a zeroed or already ended session. */
void wr_export_end(wr_export *ex);

/* Resolves "CID", "CID/a/b" or "/ipfs/CID/a/b" to the CID of the node
 * named. Returns 0, WR_ERR_INVAL (not a CID path), WR_ERR_NOTFOUND (a
 * missing name or block), WR_ERR_CORRUPT, WR_ERR_MALFORMED,
 * WR_ERR_UNSUPPORTED (not UnixFS); ex->err says which. */
WR_MUST_CHECK int wr_export_resolve(wr_export *ex, const char *path, wr_cid *pcid);

/* Kind and size of a node: file bytes for files, target length for
 * symlinks, 0 for folders. Errors as wr_export_resolve. */
WR_MUST_CHECK int wr_export_stat(wr_export *ex, const wr_cid *cid, wr_export_kind *pkind,
                                 uint64_t *psize);

/* Receives file bytes in order; return 0 or a negative WR_ERR_* to stop. */
typedef int (*wr_export_write_fn)(void *arg, const uint8_t *p, size_t n);

/* Writes the bytes [offset, offset + length) of the file at cid (clipped to
 * its end; length UINT64_MAX means to the end) to write. A symlink gives
 * its target. Errors as wr_export_resolve, WR_ERR_INVAL for a folder, or
 * write's error. */
WR_MUST_CHECK int wr_export_cat(wr_export *ex, const wr_cid *cid, uint64_t offset,
                                uint64_t length, wr_export_write_fn write, void *arg);

/* Receives one folder entry; return non-zero to stop (wr_export_dir_each
 * returns it). name is not NUL-terminated. */
typedef int (*wr_export_entry_fn)(void *arg, const char *name, size_t name_len,
                                  const wr_cid *cid, uint64_t tsize);
/* Visits the entries of a folder (a HAMT's entries in its hash order).
 * Errors as wr_export_resolve, WR_ERR_INVAL when cid is not a folder. */
WR_MUST_CHECK int wr_export_dir_each(wr_export *ex, const wr_cid *cid, wr_export_entry_fn fn,
                                     void *arg);

/* Receives one chunk of a file node: its CID and the file bytes below it. */
typedef int (*wr_export_chunk_fn)(void *arg, const wr_cid *cid, uint64_t size);
/* Visits the links of a file node (for `ls` on a file). Errors as
 * wr_export_resolve. */
WR_MUST_CHECK int wr_export_file_links(wr_export *ex, const wr_cid *cid, wr_export_chunk_fn fn,
                                       void *arg);

/* Writes the DAG at cid to dest on disk: a file, a folder tree, or a
 * symlink. Entry names that could escape dest ("..", "/" inside, empty)
 * are refused. Existing folders are reused, existing files replaced.
 * Errors as wr_export_resolve, WR_ERR_IO (disk), WR_ERR_MALFORMED (a bad
 * name). */
WR_MUST_CHECK int wr_export_get(wr_export *ex, const wr_cid *cid, const char *dest);

#endif
