/* dag.h: walking DAGs stored in the blockstore.
 *
 * One walker serves GC (mark), pinning (is the whole DAG here?), block rm
 * (is this block pinned indirectly?) and `dag export` (CAR order). It reads
 * through the blocks seam (store/blocks.h), so the same walk runs over the
 * local store or, later, a source that fetches missing blocks. It goes
 * depth-first, pre-order, children in link order, and visits each distinct
 * block once (a block reached again through another link is skipped, with
 * its subtree): the order kubo's `dag export` writes a CAR in.
 *
 * Links are followed in dag-pb, dag-cbor and dag-json blocks; raw, cbor,
 * json and libp2p-key blocks have none. Blocks of other codecs are visited
 * but their links cannot be read: the walk fails with WR_ERR_UNSUPPORTED at
 * such a block unless WR_DAG_OPAQUE_OK is set, so GC never sweeps what such
 * a block links to. */
#ifndef WR_STORE_DAG_H
#define WR_STORE_DAG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "store/blocks.h"

/* A set of multihashes (the blocks seen so far). */
typedef struct wr_dag_set wr_dag_set;

/* Makes an empty set. Returns 0 and *pset (free with wr_dag_set_del) or
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_dag_set_new(wr_dag_set **pset);
void wr_dag_set_del(wr_dag_set *set);
/* Adds a multihash. Returns 1 when it was new, 0 when already there,
 * WR_ERR_NOMEM, or WR_ERR_LIMIT past WR_DAG_SET_MAX entries. */
WR_MUST_CHECK int wr_dag_set_add(wr_dag_set *set, const uint8_t *mh, size_t mhlen);
/* 1 when the multihash is in the set, else 0. */
int wr_dag_set_has(const wr_dag_set *set, const uint8_t *mh, size_t mhlen);
/* Number of entries. */
size_t wr_dag_set_count(const wr_dag_set *set);
#define WR_DAG_SET_MAX (UINT64_C(1) << 31)

enum {
  /* Do not read blocks of codecs without links (raw, ...): check only that they are
   * present; the visitor gets block NULL and the stored size. Used by GC. */
  WR_DAG_NO_RAW_READ = 1,
  /* Visit blocks of codecs whose links warren cannot read as leaves instead
   * of failing. Only for callers that do not need completeness. */
  WR_DAG_OPAQUE_OK = 2,
  /* Do not descend: visit the root only (a direct pin). */
  WR_DAG_ROOT_ONLY = 4,
};

/* Called for each block visited. block points at its verified bytes (valid
 * during the call) or is NULL under WR_DAG_NO_RAW_READ; len is its size.
 * Return non-zero to stop the walk (wr_dag_walk returns that value). */
typedef int (*wr_dag_visit_fn)(void *arg, const wr_cid *cid, const uint8_t *block, size_t len);

/* Walks the DAG under root, reading from blocks, calling fn (NULL: none, the walk only
 * checks that the DAG is whole) per block. seen is the visited set: pass the
 * same set to several walks (GC over every pin) to share work, or NULL for a
 * private one; a root already in seen is not visited. Returns 0, the
 * visitor's value, or: WR_ERR_NOTFOUND (a block is missing), WR_ERR_CORRUPT
 * (a block fails its hash), WR_ERR_MALFORMED (a dag-pb, dag-cbor or dag-json
 * block does not decode), WR_ERR_UNSUPPORTED (a codec whose links cannot be read, see
 * above), WR_ERR_NOMEM / WR_ERR_LIMIT. On those errors *pbad (may be NULL)
 * gets the CID of the block at fault. */
WR_MUST_CHECK int wr_dag_walk(wr_blocks *blocks, const wr_cid *root, wr_dag_set *seen,
                              unsigned flags, wr_dag_visit_fn fn, void *arg, wr_cid *pbad);

#endif
