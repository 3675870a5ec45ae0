/* dagio.h: DAGs in and out of the blockstore as CAR files (`warren dag
 * import|export`). Policy and file I/O over the CAR codec (proto/car) and the
 * store (store/dag walks, store/pin).
 *
 * Export writes a CARv1: the header naming the root, then every block of the
 * DAG once, depth-first in link order (kubo's order), each read from the
 * store and hash-verified on the way.
 *
 * Import streams a CARv1 or CARv2 through a bounded window (a few MiB
 * whatever the file size), verifies every block against its CID, and writes
 * the blocks in one write transaction (which commits in steps on a large
 * file, see wr_bs_txn_put). The roots are pinned in the final commit, after
 * checking that each root's DAG is complete, so a killed import leaves no pin
 * without its blocks. Any error (a bad hash, a truncated or malformed file)
 * aborts the transaction: no pin is written, nothing already in the store
 * changes; at most blocks committed in earlier steps stay, unpinned, for gc. */
#ifndef WR_CONTENT_DAGIO_H
#define WR_CONTENT_DAGIO_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/err.h"
#include "proto/ipld/car.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"

/* Why an import or export failed, for one precise message. */
typedef struct wr_dagio_error {
  char msg[512];
} wr_dagio_error;

/* Writes the DAG under root as a CARv1 to out. Returns 0, or a WR_ERR_* with
 * err->msg set (a missing or corrupted block, a codec whose links cannot be
 * followed, a write error). */
WR_MUST_CHECK int wr_dagio_export(wr_bs *bs, const wr_cid *root, FILE *out,
                                  wr_dagio_error *err);

typedef struct wr_dagio_import_result {
  uint64_t blocks, bytes; /* blocks and block bytes read from the file */
  size_t nroots;
  wr_cid roots[WR_CAR_MAX_ROOTS];
  /* Per root: 0 pinned (or pinning off), else the WR_ERR_* why not, with
   * pin_msg naming the missing or bad block. */
  int pin_err[WR_CAR_MAX_ROOTS];
  char pin_msg[WR_CAR_MAX_ROOTS][2 * WR_CID_MAX_STR];
} wr_dagio_import_result;

/* Imports the CAR read from fd (name is for messages). pin_roots pins each
 * root recursively when its DAG is complete in the store afterwards; a root
 * that is not is reported in res->pin_err and not pinned (the import still
 * succeeds, as kubo). Returns 0, or a WR_ERR_* with err->msg set: TRUNCATED,
 * MALFORMED, LIMIT, UNSUPPORTED (from the CAR reader), CORRUPT (a block does
 * not match its CID), IO. */
WR_MUST_CHECK int wr_dagio_import(wr_bs *bs, int fd, const char *name, int pin_roots,
                                  wr_dagio_import_result *res, wr_dagio_error *err);

/* Pulls up to n bytes into buf: how many (0 at the end), or a negative
 * value (an errno for fds, a WR_ERR_* for other readers). */
typedef ssize_t (*wr_dagio_read_fn)(void *arg, uint8_t *buf, size_t n);
/* As wr_dagio_import, reading the CAR from rd (the RPC API's multipart
 * upload). */
WR_MUST_CHECK int wr_dagio_import_read(wr_bs *bs, wr_dagio_read_fn rd, void *arg,
                                       const char *name, int pin_roots,
                                       wr_dagio_import_result *res, wr_dagio_error *err);

#endif
