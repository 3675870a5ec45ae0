/* blockstore.h: content-addressed blocks in an LMDB environment.
 *
 * Key layout (one LMDB environment, named databases):
 *   "blocks"  multihash bytes (code varint, length varint, digest) -> block bytes
 *   "pins"    binary CID -> pin record (see store/pin.h)
 *   "meta"    "version" -> "1"
 *
 * Blocks are keyed by their multihash, not their full CID, as kubo does since
 * 0.12: the CIDv0 and CIDv1 of the same bytes (or a raw and a dag-pb CID of
 * the same digest) name one stored block. The codec lives in the CID that
 * refers to a block (pins, dag-pb links), which is all GC and export need.
 *
 * Writes trust the caller's multihash (an importer has just hashed the bytes;
 * hashing twice would halve add throughput); bytes from outside (dag import,
 * a network fetch) go through wr_blocks_put (store/blocks.h), which verifies
 * them first. EVERY read is verified: a block whose bytes do not hash to its
 * key gives WR_ERR_CORRUPT and a log line naming it.
 *
 * Content code reads and writes blocks through the blocks seam
 * (store/blocks.h); wr_bs_blocks_init puts this store behind it, bound to one
 * transaction. The transaction, key and pin functions here are for the store
 * itself (pins, GC) and for writers that batch many blocks in one
 * transaction (the importer, dag import).
 *
 * Identity multihashes (code 0x00) are never stored: put is a no-op, has is
 * true, and get returns the digest, as kubo's identity blockstore does.
 *
 * Crash safety: see the comment on WR_BS_ENV_FLAGS in blockstore.c. In short,
 * a process killed at any point (kill -9) leaves the store as of its last
 * commit; nothing half-written is ever visible. */
#ifndef WR_STORE_BLOCKSTORE_H
#define WR_STORE_BLOCKSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "proto/multiformats/multihash.h"
#include "store/blocks.h"

/* Largest block the store accepts (kubo's bitswap limit is 2 MiB; the largest
 * chunk warren makes is 2 MiB - 256 plus its dag-pb/UnixFS framing). */
#define WR_BS_MAX_BLOCK (4u * 1024 * 1024)
/* Longest multihash key accepted (any multihash the codec can carry). */
#define WR_BS_MAX_KEY WR_MH_MAX_BYTES
/* A write transaction commits by itself after this many block bytes and goes
 * on in a fresh transaction, so memory stays bounded on a huge import (LMDB
 * keeps dirty pages in memory until commit). See wr_bs_txn_put. Measured on a
 * 300 MiB dag import: 256 MiB steps peak at 279 MB RSS and 2.0 s, 64 MiB at
 * 132 MB and 0.6 s, 32 MiB at 105 MB and 0.43 s (a commit without fsync is
 * cheap, and smaller steps keep the copies in cache). */
#define WR_BS_CHECKPOINT_BYTES (32u * 1024 * 1024)

typedef struct wr_bs wr_bs;
typedef struct wr_bs_txn wr_bs_txn;

/* Opens (creating when missing) the LMDB environment in the folder dir, which
 * must exist. Returns 0 and a handle the caller frees with wr_bs_close,
 * WR_ERR_IO (logged with the cause) or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_bs_open(const char *dir, wr_bs **pbs);
/* Closes the environment. Every transaction must have ended. NULL is fine. */
void wr_bs_close(wr_bs *bs);
/* Forces everything committed so far to disk (fsync). Returns 0 or WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_sync(wr_bs *bs);

/* --- multihash helpers ------------------------------------------------- */

/* Splits a multihash into code and digest. Returns 0, WR_ERR_MALFORMED (bad
 * varint, length mismatch, longer than WR_BS_MAX_KEY) or WR_ERR_TRUNCATED. */
WR_MUST_CHECK int wr_bs_mh_split(const uint8_t *mh, size_t mhlen, uint64_t *pcode,
                                 const uint8_t **pdigest, size_t *pdigestlen);
/* Writes the sha2-256 multihash of data into out (34 bytes), as a key. */
void wr_bs_mh_sha256(uint8_t out[34], const void *data, size_t len);

/* Checks that data hashes to mh. Returns 0, WR_ERR_CORRUPT on a mismatch,
 * WR_ERR_UNSUPPORTED for a hash function other than sha2-256, sha2-512 or
 * identity (or a truncated digest),
 * WR_ERR_MALFORMED for a bad multihash. Logs nothing. */
WR_MUST_CHECK int wr_bs_verify(const uint8_t *mh, size_t mhlen, const void *data, size_t len);
/* Formats a multihash as the base32 CIDv1 (raw codec) kubo prints for a bare
 * block key, e.g. "bafkrei...". out needs WR_BS_KEYSTR_MAX bytes. */
#define WR_BS_KEYSTR_MAX 256
void wr_bs_key_string(char *out, const uint8_t *mh, size_t mhlen);

/* --- transactions -------------------------------------------------------- */

enum {
  WR_BS_READ = 0,  /* a read-only snapshot; many may run at once */
  WR_BS_WRITE = 1, /* one writer at a time (across processes); others wait */
};

/* Begins a transaction. A read transaction sees a consistent snapshot; a write
 * transaction sees its own writes. Returns 0 and *ptxn, WR_ERR_IO or
 * WR_ERR_NOMEM. End it with wr_bs_txn_commit or wr_bs_txn_abort. */
WR_MUST_CHECK int wr_bs_txn_begin(wr_bs *bs, int mode, wr_bs_txn **ptxn);
/* Commits (write) or ends (read) the transaction and frees it, even on error.
 * Returns 0, or WR_ERR_IO/WR_ERR_LIMIT (disk or map full) when the commit
 * failed, in which case nothing of it was written. */
WR_MUST_CHECK int wr_bs_txn_commit(wr_bs_txn *txn);
/* Throws away every uncommitted write and frees the transaction. NULL is fine. */
void wr_bs_txn_abort(wr_bs_txn *txn);
/* Commits a write transaction's work so far and continues in a new one on the
 * same handle. Returns 0 or the commit's error (the handle is then dead: abort
 * it). wr_bs_txn_put calls this itself every WR_BS_CHECKPOINT_BYTES. */
WR_MUST_CHECK int wr_bs_txn_checkpoint(wr_bs_txn *txn);

/* Stores a block under multihash mh (not re-hashed: see the top comment).
 * Storing a block that is already there is a cheap no-op. May checkpoint
 * (commit the blocks so far) on a large transaction: blocks are immutable, so
 * an early commit of some blocks is harmless, and a pin written last (see
 * wr_pin_put) commits together with the last blocks, so there is never a pin
 * without its blocks. Returns 0, WR_ERR_INVAL (read transaction, empty or
 * oversize key), WR_ERR_LIMIT (block larger than WR_BS_MAX_BLOCK, or map full),
 * WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_txn_put(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen,
                                const void *data, size_t len);
/* Looks a block up and verifies its hash. On success *pdata points into the
 * memory map and stays valid until the transaction ends or the next write in
 * it (do not write through it). Returns 0, WR_ERR_NOTFOUND, WR_ERR_CORRUPT
 * (logged, naming the block), WR_ERR_UNSUPPORTED (unknown hash function). */
WR_MUST_CHECK int wr_bs_txn_get(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen,
                                const uint8_t **pdata, size_t *plen);
/* Like wr_bs_txn_get but without hashing: only the stored size. Returns 0 or
 * WR_ERR_NOTFOUND. */
WR_MUST_CHECK int wr_bs_txn_size(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen,
                                 size_t *plen);
/* Returns 1 when the block is present, 0 when not, or a negative WR_ERR_*. */
WR_MUST_CHECK int wr_bs_txn_has(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen);
/* Deletes a block. Returns 0, WR_ERR_NOTFOUND, WR_ERR_INVAL (read txn). Pins
 * are not checked here: callers that must respect pins use the pin module. */
WR_MUST_CHECK int wr_bs_txn_rm(wr_bs_txn *txn, const uint8_t *mh, size_t mhlen);

/* Called once per stored block with its key and size; return non-zero to stop
 * (that value is then returned by wr_bs_txn_iter). */
typedef int (*wr_bs_iter_fn)(void *arg, const uint8_t *mh, size_t mhlen, size_t size);
/* Visits every stored block in key order, without reading or hashing values.
 * Do not write in txn from the callback. Returns 0, the callback's value, or
 * WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_txn_iter(wr_bs_txn *txn, wr_bs_iter_fn fn, void *arg);

/* Counts blocks and their bytes. */
WR_MUST_CHECK int wr_bs_txn_count(wr_bs_txn *txn, uint64_t *pblocks, uint64_t *pbytes);

/* Told about one block wr_bs_txn_verify_all hashed: rc is 0, WR_ERR_CORRUPT
 * (its bytes do not hash to its key) or WR_ERR_UNSUPPORTED (a hash warren
 * cannot compute). Return non-zero to stop. */
typedef int (*wr_bs_verify_fn)(void *arg, const uint8_t *mh, size_t mhlen, size_t size, int rc);
/* Reads and hashes every stored block in key order (`repo verify`), telling fn
 * about each; logs nothing itself. Returns 0, fn's value, or WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_txn_verify_all(wr_bs_txn *txn, wr_bs_verify_fn fn, void *arg);

/* Where the data file's space goes. LMDB never shrinks its file: pages freed
 * by gc are reused by later writes but stay on disk until a compaction
 * (wr_bs_compact_to). */
typedef struct wr_bs_space {
  uint64_t file_bytes; /* data.mdb as the store last grew it */
  uint64_t used_bytes; /* pages holding data and the trees' own structure */
  uint64_t free_bytes; /* pages free for reuse (file_bytes - used_bytes) */
} wr_bs_space;
/* Measures the file's space in txn's snapshot. Returns 0 or WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_txn_space(wr_bs_txn *txn, wr_bs_space *sp);

/* Writes a compacted copy of the store (live pages only, renumbered) as
 * dir/data.mdb; dir must exist and hold no data.mdb. Runs in its own read
 * transaction, so writers may go on, but they are not in the copy: callers
 * hold the repo exclusively (store/repo.h). Returns 0 or WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_compact_to(wr_bs *bs, const char *dir);

/* --- the same keyed by CID (the key is the CID's multihash) ---------------- */

/* Writes the block key of cid (its encoded multihash) into out. Returns the
 * length (> 0) or WR_ERR_INVAL. */
WR_MUST_CHECK int wr_bs_key(const wr_cid *cid, uint8_t out[WR_MH_MAX_BYTES]);
/* As wr_bs_txn_put/get/size/has/rm with the key taken from cid. */
WR_MUST_CHECK int wr_bs_txn_put_cid(wr_bs_txn *txn, const wr_cid *cid, const void *data,
                                    size_t len);
WR_MUST_CHECK int wr_bs_txn_get_cid(wr_bs_txn *txn, const wr_cid *cid, const uint8_t **pdata,
                                    size_t *plen);
WR_MUST_CHECK int wr_bs_txn_size_cid(wr_bs_txn *txn, const wr_cid *cid, size_t *plen);
WR_MUST_CHECK int wr_bs_txn_has_cid(wr_bs_txn *txn, const wr_cid *cid);
WR_MUST_CHECK int wr_bs_txn_rm_cid(wr_bs_txn *txn, const wr_cid *cid);

/* --- the blocks seam over one transaction (store/blocks.h) ------------------ */

/* The LMDB source: caller-owned, valid while its transaction is. */
typedef struct wr_bs_blocks {
  wr_blocks base; /* first: &b->base is the wr_blocks */
  wr_bs_txn *txn;
} wr_bs_blocks;

/* Binds b to txn and returns &b->base. Gets are verified reads straight
 * from the memory map (no copy), valid until txn ends or its next write;
 * puts go into txn (with its checkpoints, see wr_bs_txn_put) and need a
 * write transaction (else WR_ERR_INVAL). Nothing to free: ending txn ends
 * the source. */
wr_blocks *wr_bs_blocks_init(wr_bs_blocks *b, wr_bs_txn *txn);

/* --- one-shot helpers (each its own transaction) ---------------------------- */

/* Stores one block and commits. Errors as wr_bs_txn_put/commit. */
WR_MUST_CHECK int wr_bs_put(wr_bs *bs, const uint8_t *mh, size_t mhlen, const void *data,
                            size_t len);
/* Reads and verifies one block, appending its bytes to out (within its limit).
 * Errors as wr_bs_txn_get, plus WR_ERR_LIMIT/WR_ERR_NOMEM from out. */
WR_MUST_CHECK int wr_bs_get(wr_bs *bs, const uint8_t *mh, size_t mhlen, wr_buf *out);
/* Returns 1 when present, 0 when not, or a negative WR_ERR_*. */
WR_MUST_CHECK int wr_bs_has(wr_bs *bs, const uint8_t *mh, size_t mhlen);
/* Deletes one block and commits. Returns 0 or WR_ERR_NOTFOUND/WR_ERR_IO. */
WR_MUST_CHECK int wr_bs_rm(wr_bs *bs, const uint8_t *mh, size_t mhlen);

#endif
