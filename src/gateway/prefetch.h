/* prefetch.h: the blocks a gateway response will read before and while it
 * streams, read once through a blocks source that fetches what the store
 * lacks (the network source, on a worker thread), so the response can then
 * be served from the local store alone, on the loop, without waiting.
 *
 * What is read, by what the request asks for:
 * - every block on the path (the root, each folder, HAMT shards);
 * - a raw block, or a dag-json/dag-cbor/json/cbor block: the block;
 * - a CAR: dag-scope=block the block, all the whole DAG, entity a file's
 *   DAG or a HAMT folder's shards (else the block);
 * - a UnixFS file: its DAG (a Range request too: the source's read-ahead
 *   wants every child of a node it reads anyway);
 * - a folder: its index.html's DAG when it has one, else the shards the
 *   listing walks (entries themselves are not read).
 * A superset is harmless (the blocks are stored unpinned), a subset would
 * cut the response once it started, so each case reads what gateway.c's
 * producer for it reads. */
#ifndef WR_GATEWAY_PREFETCH_H
#define WR_GATEWAY_PREFETCH_H

#include "base/err.h"
#include "content/exporter.h"
#include "gateway/gwparse.h"
#include "proto/multiformats/cid.h"

/* Reads, through ex->blocks, what answering root/rest (rest: "" or "/a/b",
 * decoded) with prm needs. Returns 0, or the first error the source or a
 * decoder gave (WR_ERR_NOTFOUND for a name a folder lacks, WR_ERR_TIMEOUT
 * when the source gave up waiting, WR_ERR_CLOSED, ...), with a sentence in
 * ex->err when the exporter made one. */
WR_MUST_CHECK int wr_gw_prefetch(wr_export *ex, const wr_cid *root, const char *rest,
                                 const wr_gw_params *prm);

/* Follows rest ("" or "/a/b", decoded; empty segments skipped) below root,
 * one name at a time; *pcid gets the node named. The first maxroots nodes
 * on the way (root first) go to roots, their count to *pnroots (roots and
 * pnroots may be NULL with maxroots 0). Errors as wr_export_resolve. */
WR_MUST_CHECK int wr_gw_walk_path(wr_export *ex, const wr_cid *root, const char *rest, wr_cid *pcid,
                                  wr_cid *roots, size_t maxroots, size_t *pnroots);

/* Reads the whole DAG under cid through ex->blocks (the rest of a file
 * whose response has started). Errors as wr_gw_prefetch. */
WR_MUST_CHECK int wr_gw_prefetch_dag(wr_export *ex, const wr_cid *cid);

#endif
