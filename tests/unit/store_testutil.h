/* store_testutil.h: temp repos and hand-made blocks for the store and
 * content unit tests. */
#ifndef WR_STORE_TESTUTIL_H
#define WR_STORE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "proto/ipld/dagpb.h"
#include "store/blockstore.h"
#include "store/pin.h"
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

/* Writes n bytes to the file base/rel (for trees to import). */
static inline void testfs_write(const char *base, const char *rel, const void *data, size_t n) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", base, rel);
  FILE *f = fopen(p, "wb");
  CHECK(f != NULL);
  if (!f)
    return;
  CHECK_EQ(fwrite(data, 1, n, f), n);
  fclose(f);
}

/* Makes the folder base/rel (base itself when rel is ""). */
static inline void testfs_mkdir(const char *base, const char *rel) {
  char p[4400];
  snprintf(p, sizeof p, "%s%s%s", base, *rel ? "/" : "", rel);
  CHECK_EQ(mkdir(p, 0755), 0);
}

/* Declares the store a test file works on, bs in the folder dir, with
 * open_fresh() (a new empty store) and close_fresh() (closed and removed). */
#define STORE_TEST_FIXTURE                                                                         \
  static char dir[4096];                                                                           \
  static wr_bs *bs;                                                                                \
  static void open_fresh(void) { bs = store_open_fresh(dir, sizeof dir); }                         \
  static void close_fresh(void) {                                                                  \
    store_close_fresh(bs, dir);                                                                    \
    bs = NULL;                                                                                     \
  }

/* Opens a store in a fresh temp folder, whose path goes into dir. */
static inline wr_bs *store_open_fresh(char *dir, size_t n) {
  wr_bs *bs = NULL;
  tmpdir_make(dir, n);
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  return bs;
}

/* Closes a store from store_open_fresh and removes its folder. */
static inline void store_close_fresh(wr_bs *bs, const char *dir) {
  wr_bs_close(bs);
  tmpdir_remove(dir);
}

/* 1 when bs holds the block cid, 0 when not (each in its own snapshot). */
static inline int store_has(wr_bs *bs, const wr_cid *cid) {
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  int rc = wr_bs_txn_has_cid(t, cid);
  wr_bs_txn_abort(t);
  return rc;
}

/* The type of cid's pin (WR_PIN_*), or 0 when it has none. */
static inline int store_pin_of(wr_bs *bs, const wr_cid *cid) {
  wr_bs_txn *t;
  wr_pin_type type;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  int rc = wr_pin_get_cid(t, cid, &type);
  wr_bs_txn_abort(t);
  return rc == 0 ? (int)type : 0;
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
