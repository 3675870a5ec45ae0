/* unixfs_builder.h: turning bytes, folders and symlinks into UnixFS DAGs, with
 * exactly the blocks (and so the CIDs) kubo and the JS importer
 * (ipfs-unixfs-importer 17) make for the same options.
 *
 * Sans-I/O: the caller feeds file chunks and directory entries; every block
 * made is handed to a sink callback (CID and bytes, valid only during the
 * call), which stores it or drops it (--only-hash). Memory stays bounded: a
 * file builder keeps one chunk buffer and the links of the nodes still open
 * (one per tree level), never the file.
 *
 * Layouts:
 * - balanced (kubo's default): leaves are grouped max_links to a node, those
 *   nodes max_links to a parent, and so on; a file of one chunk is that leaf
 *   itself (kubo's and the JS importer's reduceSingleLeafToSelf). Dag-pb
 *   leaves are UnixFS File nodes.
 * - trickle (`-t`, boxo's trickle): a node holds max_links leaves, then
 *   WR_UFS_TRICKLE_REPEAT subtrees of depth 1, then of depth 2, and so on,
 *   each subtree built the same way with its depth as a limit. The root is
 *   always a node (even over one leaf), and dag-pb leaves are UnixFS Raw, as
 *   in boxo.
 *
 * Directories: links sorted bytewise by name. Above a size threshold the
 * directory becomes a HAMT (UnixFS HAMTShard nodes, murmur3-x64-64 of the name
 * read most significant bits first, hashType 0x22, fanout 256), as
 * boxo/ipfs-unixfs-importer do. The threshold test (shard when the estimate
 * is > threshold) estimates either as kubo's legacy "links" mode (sum of name
 * bytes + binary CID bytes per entry) or the exact serialized block size
 * ("block" mode, IPIP-499, used by the unixfs-v1-2025 profile). */
#ifndef WR_PROTO_IPLD_UNIXFS_BUILDER_H
#define WR_PROTO_IPLD_UNIXFS_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"

/* kubo's limits: chunks up to 2 MiB - 256 bytes (so a dag-pb leaf stays
 * within the 2 MiB block limit of bitswap). */
#define WR_UFS_MAX_CHUNK (2u * 1024 * 1024 - 256)
#define WR_UFS_DEFAULT_CHUNK 262144u
#define WR_UFS_DEFAULT_LINKS 174u
#define WR_UFS_MAX_LINKS 65536u
#define WR_UFS_TRICKLE_REPEAT 4
#define WR_UFS_HAMT_HASH_MURMUR3 0x22
#define WR_UFS_DEFAULT_HAMT_THRESHOLD 262144u
#define WR_UFS_DEFAULT_FANOUT 256u

typedef enum wr_ufs_layout { WR_UFS_BALANCED = 0, WR_UFS_TRICKLE = 1 } wr_ufs_layout;
typedef enum wr_ufs_estimate { WR_UFS_EST_LINKS = 0, WR_UFS_EST_BLOCK = 1 } wr_ufs_estimate;

/* Import options. Fill with wr_ufs_params_default, then change fields. */
typedef struct wr_ufs_params {
  uint32_t chunk_size;     /* 1..WR_UFS_MAX_CHUNK */
  uint32_t max_links;      /* links per file node: 2..WR_UFS_MAX_LINKS */
  uint32_t cid_version;    /* 0 or 1; nodes are dag-pb with this version */
  int raw_leaves;          /* leaves are raw blocks (CIDv1, codec raw) */
  wr_ufs_layout layout;
  uint64_t hamt_threshold; /* shard a directory whose estimate exceeds this; 0: never */
  uint32_t hamt_fanout;    /* a power of two, 8..256 */
  wr_ufs_estimate hamt_estimate;
} wr_ufs_params;

/* kubo's defaults: 256 KiB chunks, balanced, 174 links, CIDv0, dag-pb
 * leaves, HAMT above 256 KiB (links estimate), fanout 256. */
void wr_ufs_params_default(wr_ufs_params *p);
/* Applies a named profile on top of *p: "unixfs-v1-2025" (CIDv1, raw leaves,
 * 1 MiB chunks, 1024 links, HAMT above 256 KiB by block size, fanout 256) or
 * "unixfs-v0-2015" (the defaults). Returns 0 or WR_ERR_INVAL (unknown name). */
WR_MUST_CHECK int wr_ufs_params_profile(wr_ufs_params *p, const char *name);
/* Checks the ranges above. Returns 0 or WR_ERR_INVAL with a static sentence
 * in *preason (may be NULL). */
WR_MUST_CHECK int wr_ufs_params_check(const wr_ufs_params *p, const char **preason);

/* Receives every block made, children before parents. block is valid only
 * during the call. Return 0, or a negative WR_ERR_* to stop the build (the
 * builder returns it). */
typedef int (*wr_ufs_sink_fn)(void *arg, const wr_cid *cid, const uint8_t *block, size_t len);

/* What a parent needs to link to a finished file, folder or symlink. */
typedef struct wr_ufs_link {
  wr_cid cid;
  uint64_t tsize;    /* the DAG's cumulative size: every block's bytes */
  uint64_t filesize; /* file bytes (0 for folders and symlinks) */
} wr_ufs_link;

/* --- files ---------------------------------------------------------------- */

typedef struct wr_ufs_file wr_ufs_file;

/* Starts a file. *pf is freed with wr_ufs_file_del. The params are copied.
 * Returns 0, WR_ERR_INVAL (bad params), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_ufs_file_new(const wr_ufs_params *p, wr_ufs_sink_fn sink, void *arg,
                                  wr_ufs_file **pf);
/* Where the caller puts the next chunk: room for chunk_size bytes, owned by
 * the builder and valid until the next call on f. Reading straight into it
 * lets the builder wrap a dag-pb leaf around it without copying. */
uint8_t *wr_ufs_file_chunk_buf(wr_ufs_file *f);
/* Takes the n bytes (1..chunk_size) written into the chunk buffer as the
 * next chunk. Every chunk but the last must be exactly chunk_size bytes.
 * Returns 0, WR_ERR_INVAL (n out of range, or a short chunk before this one),
 * WR_ERR_NOMEM, or the sink's error. */
WR_MUST_CHECK int wr_ufs_file_chunk(wr_ufs_file *f, size_t n);
/* Ends the file (a file without chunks is empty) and makes the remaining
 * nodes. *proot gets the root. Returns 0, WR_ERR_NOMEM, the sink's error. */
WR_MUST_CHECK int wr_ufs_file_finish(wr_ufs_file *f, wr_ufs_link *proot);
/* Frees the builder. NULL is fine. */
void wr_ufs_file_del(wr_ufs_file *f);

/* --- folders and symlinks --------------------------------------------------- */

/* One directory entry. name is not NUL-terminated and is only read. */
typedef struct wr_ufs_dirent {
  const char *name;
  size_t name_len;
  wr_ufs_link link;
} wr_ufs_dirent;

/* Makes a directory over n entries (any order: they are sorted here, so the
 * array is reordered), flat or sharded by p's threshold. Names must be
 * unique, non-empty and without '/'. *proot gets the root; *psharded (may be
 * NULL) is 1 when it became a HAMT. Returns 0, WR_ERR_INVAL (a bad or
 * duplicate name), WR_ERR_NOMEM, the sink's error. */
WR_MUST_CHECK int wr_ufs_dir_build(const wr_ufs_params *p, wr_ufs_dirent *ents, size_t n,
                                   wr_ufs_sink_fn sink, void *arg, wr_ufs_link *proot,
                                   int *psharded);

/* The size estimate wr_ufs_dir_build compares with the threshold (exposed
 * for tests). */
uint64_t wr_ufs_dir_estimate(const wr_ufs_params *p, const wr_ufs_dirent *ents, size_t n);

/* Makes a UnixFS symlink node pointing at target (n bytes). Returns 0,
 * WR_ERR_NOMEM, the sink's error. */
WR_MUST_CHECK int wr_ufs_symlink_build(const wr_ufs_params *p, const char *target, size_t n,
                                       wr_ufs_sink_fn sink, void *arg, wr_ufs_link *proot);

/* The HAMT slot of name at depth (0 = root) for a fanout of 2^bits: the bits
 * of murmur3-x64-64(name) taken most significant first; past 64 bits the
 * name is rehashed with the depth byte appended, as the JS importer does. */
uint32_t wr_ufs_hamt_index(const char *name, size_t n, uint32_t bits, uint32_t depth);

#endif
