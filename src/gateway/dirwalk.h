/* dirwalk.h: the entries of a UnixFS folder (plain or HAMT-sharded), one at
 * a time, so the gateway's listing can stop when the user's side is full
 * and go on later without walking the folder from its start again (which
 * made a listing cost quadratic in its size). Entries come in link order,
 * a HAMT's in its hash order (as content/exporter's wr_export_dir_each
 * gives them). Between sessions of the source (read transactions) the walk
 * keeps CIDs and link positions only; within one it keeps its nodes
 * decoded, so each shard is read and hashed once per session. */
#ifndef WR_GATEWAY_DIRWALK_H
#define WR_GATEWAY_DIRWALK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/multiformats/cid.h"
#include "store/blocks.h"

typedef struct wr_dirwalk wr_dirwalk;

/* One entry; name points into a block (valid as the source's gets are),
 * not NUL-terminated. */
typedef struct wr_dirwalk_entry {
  const char *name;
  size_t name_len;
  wr_cid cid;
  uint64_t tsize;
} wr_dirwalk_entry;

/* A walk of the folder dir. 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_dirwalk_new(wr_dirwalk **pw, const wr_cid *dir);
void wr_dirwalk_del(wr_dirwalk *w);
/* The bytes got from the source before are gone (a new transaction). */
void wr_dirwalk_new_session(wr_dirwalk *w);
/* The next entry, read through b: 1 with *pe, 0 at the end, or
 * WR_ERR_NOTFOUND (a shard is missing), WR_ERR_MALFORMED (not a folder, a
 * bad node or shard), WR_ERR_UNSUPPORTED (a HAMT hash other than murmur3),
 * WR_ERR_LIMIT (too deep), WR_ERR_CORRUPT, WR_ERR_NOMEM. An error sticks. */
WR_MUST_CHECK int wr_dirwalk_next(wr_dirwalk *w, wr_blocks *b, wr_dirwalk_entry *pe);

#endif
