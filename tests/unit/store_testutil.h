/* store_testutil.h: temp repos and hand-made blocks for the store and
 * content unit tests. */
#ifndef WR_STORE_TESTUTIL_H
#define WR_STORE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "proto/ipld/dagpb.h"
#include "store/blockstore.h"
#include "test.h"

/* Makes a fresh temp folder; the path is in a static buffer per call site. */
static inline void tmpdir_make(char *out, size_t n) {
  const char *base = getenv("TMPDIR");
  snprintf(out, n, "%s/warren-store-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(out)) {
    perror("mkdtemp");
    exit(1);
  }
}

/* rm -rf of a temp folder made by tmpdir_make. */
static inline void tmpdir_remove(const char *path) {
  char cmd[4200];
  if (strncmp(path, "/tmp/", 5) != 0 && !getenv("TMPDIR"))
    return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", path);
}

/* Stores n bytes as one block of codec (CID version ver) in bs, in its own
 * commit, and returns its CID. */
static inline wr_cid store_put_block(wr_bs *bs, uint32_t ver, uint64_t codec, const void *p,
                                     size_t n) {
  wr_cid c;
  wr_bs_txn *t;
  CHECK_EQ(wr_cid_sum(&c, ver, codec, p, n), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_put_cid(t, &c, p, n), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  return c;
}

/* Stores a raw block holding text; returns its CIDv1. */
static inline wr_cid store_put_raw(wr_bs *bs, const char *text) {
  return store_put_block(bs, 1, WR_CODEC_RAW, text, strlen(text));
}

/* Stores a dag-pb node linking to kids (unnamed links) with data bytes as
 * its Data; returns its CID of version ver. */
static inline wr_cid store_put_node(wr_bs *bs, uint32_t ver, const wr_cid *kids, size_t n,
                                    const void *data, size_t dlen) {
  wr_buf b;
  wr_buf_init(&b, 1 << 16);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(wr_dagpb_put_link(&b, &kids[i], "", 0, NULL), 0);
  CHECK_EQ(wr_dagpb_put_data(&b, data, dlen), 0);
  wr_cid c = store_put_block(bs, ver, WR_CODEC_DAG_PB, b.data, b.len);
  wr_buf_free(&b);
  return c;
}

#endif
