/* pinning.h: the node's pin policy — what `warren pin add|rm|ls` decide, for
 * any front end (the CLI today, a gateway or Bitswap later).
 *
 * Over store/pin (the pin records) and store/dag walks through the blocks
 * seam: a recursive pin is written only over a DAG that is whole in the
 * store, checked in the same write transaction that writes the pin, so a pin
 * never exists over missing blocks. Each function opens and ends its own
 * transaction on bs; nothing it returns points into the store. */
#ifndef WR_CONTENT_PINNING_H
#define WR_CONTENT_PINNING_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"
#include "store/pin.h"

/* Where a pinning call failed, for one precise message. */
typedef struct wr_pinning_fault {
  int walk;     /* 1: the error came from walking a DAG (block names where), 0: not */
  wr_cid root;  /* the pinned DAG being walked (list and find) */
  wr_cid block; /* the block at fault when walk is 1 */
} wr_pinning_fault;

/* How a CID is pinned: WR_PIN_DIRECT, WR_PIN_RECURSIVE, or this (reachable
 * from a recursive pin without being one). */
#define WR_PINNING_INDIRECT 3

/* Which pins wr_pinning_list reports (an OR of these). */
enum {
  WR_PINNING_SHOW_DIRECT = 1,
  WR_PINNING_SHOW_RECURSIVE = 2,
  WR_PINNING_SHOW_INDIRECT = 4,
  WR_PINNING_SHOW_ALL = 7,
};

/* Pins cid with type. A recursive pin first checks that the whole DAG is in
 * the store (blocks of link-less codecs such as raw only for presence); a
 * direct pin checks the block alone. Returns 0, or with pf->walk = 1 and
 * pf->block naming the block: WR_ERR_NOTFOUND (missing), WR_ERR_UNSUPPORTED
 * (a codec whose links warren cannot follow: pin it directly),
 * WR_ERR_CORRUPT, WR_ERR_MALFORMED, WR_ERR_NOMEM, WR_ERR_LIMIT; or with
 * pf->walk = 0: WR_ERR_EXISTS (a direct pin asked where a recursive one
 * is), the store's error (WR_ERR_IO, ...). Nothing is written on error. */
WR_MUST_CHECK int wr_pinning_add(wr_bs *bs, const wr_cid *cid, wr_pin_type type,
                                 wr_pinning_fault *pf);

/* As wr_pinning_add inside the caller's write transaction txn, which it
 * neither commits nor aborts: for writers that pin what they have just
 * stored, in the same commit (dag import, block put). */
WR_MUST_CHECK int wr_pinning_add_txn(wr_bs_txn *txn, const wr_cid *cid, wr_pin_type type,
                                     wr_pinning_fault *pf);

/* Removes the direct or recursive pin of cid (exactly this CID, as kubo).
 * Returns 0, WR_ERR_NOTFOUND (not pinned, or only indirectly), or the
 * store's error. */
WR_MUST_CHECK int wr_pinning_rm(wr_bs *bs, const wr_cid *cid);

/* Told about one pin: kind is WR_PIN_DIRECT, WR_PIN_RECURSIVE or
 * WR_PINNING_INDIRECT. Return non-zero to stop (the list returns it). */
typedef int (*wr_pinning_list_fn)(void *arg, const wr_cid *cid, int kind);

/* Lists the pins show asks for: first the direct and recursive pins in
 * binary CID order, then every block reachable from a recursive pin that is
 * not itself a recursive root, each once, in walk order. Returns 0, fn's
 * value, WR_ERR_NOMEM, or a walk error with pf->walk = 1 and pf->root,
 * pf->block set, or the store's error. */
WR_MUST_CHECK int wr_pinning_list(wr_bs *bs, unsigned show, wr_pinning_list_fn fn, void *arg,
                                  wr_pinning_fault *pf);

/* Says how cid is pinned: *pkind gets WR_PIN_DIRECT or WR_PIN_RECURSIVE
 * when cid itself (this exact CID) is pinned, else WR_PINNING_INDIRECT with
 * *proot (may be NULL) the recursive pin it is reached from (the same block
 * under another CID version counts), else 0. Returns 0, or errors as
 * wr_pinning_list. */
WR_MUST_CHECK int wr_pinning_find(wr_bs *bs, const wr_cid *cid, int *pkind, wr_cid *proot,
                                  wr_pinning_fault *pf);

#endif
