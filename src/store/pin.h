/* pin.h: recursive and direct pins, in the blockstore's LMDB environment
 * (database "pins": binary CID -> one byte, 'R' recursive or 'D' direct).
 *
 * Pins are keyed by the full binary CID (as given: a CIDv0 stays a CIDv0),
 * because GC needs the codec to know whether to follow links. A pin written
 * in the same write transaction as a DAG's last blocks commits atomically
 * with them: after kill -9 there is either the pin and all its blocks, or no
 * pin. These functions do not check that the pinned DAG is present: callers
 * (pin add, the importer, dag import) write or check the blocks first. */
#ifndef WR_STORE_PIN_H
#define WR_STORE_PIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "store/blockstore.h"

typedef enum wr_pin_type {
  WR_PIN_DIRECT = 1,    /* only this block */
  WR_PIN_RECURSIVE = 2, /* this block and everything it links to */
} wr_pin_type;

/* Longest binary CID accepted as a pin key. */
#define WR_PIN_MAX_CID 256

/* Pins cid (binary form) with type in a write transaction. A recursive pin
 * replaces a direct one; asking for a direct pin where a recursive one exists
 * leaves the recursive pin and returns WR_ERR_EXISTS. Returns 0, WR_ERR_EXISTS,
 * WR_ERR_INVAL (read transaction, bad length or type), WR_ERR_IO. */
WR_MUST_CHECK int wr_pin_put(wr_bs_txn *txn, const uint8_t *cid, size_t cidlen,
                             wr_pin_type type);
/* Looks a pin up. Returns 0 and *ptype, or WR_ERR_NOTFOUND. */
WR_MUST_CHECK int wr_pin_get(wr_bs_txn *txn, const uint8_t *cid, size_t cidlen,
                             wr_pin_type *ptype);
/* Removes a pin. Returns 0, WR_ERR_NOTFOUND, WR_ERR_INVAL (read txn). */
WR_MUST_CHECK int wr_pin_rm(wr_bs_txn *txn, const uint8_t *cid, size_t cidlen);

/* Called once per pin; return non-zero to stop (wr_pin_iter returns it). The
 * cid bytes are valid only during the call. */
typedef int (*wr_pin_iter_fn)(void *arg, const uint8_t *cid, size_t cidlen, wr_pin_type type);
/* Visits every pin (in binary CID order). Do not write in txn from fn.
 * Returns 0, fn's value, WR_ERR_CORRUPT (a bad pin record), WR_ERR_IO. */
WR_MUST_CHECK int wr_pin_iter(wr_bs_txn *txn, wr_pin_iter_fn fn, void *arg);

/* As wr_pin_put/get/rm with the key taken from cid (its binary form). */
WR_MUST_CHECK int wr_pin_put_cid(wr_bs_txn *txn, const wr_cid *cid, wr_pin_type type);
WR_MUST_CHECK int wr_pin_get_cid(wr_bs_txn *txn, const wr_cid *cid, wr_pin_type *ptype);
WR_MUST_CHECK int wr_pin_rm_cid(wr_bs_txn *txn, const wr_cid *cid);

/* "recursive" or "direct". */
const char *wr_pin_type_name(wr_pin_type type);

#endif
