/* blockstore_bench: how fast the LMDB blockstore takes blocks.
 *
 *   build/bench/blockstore_bench [MiB] [block-bytes]
 *
 * Writes MiB (default 1024) of distinct blocks of block-bytes (default 262144)
 * into a fresh temp store through one write transaction (with its automatic
 * checkpoints), first with keys computed outside the timed loop (the store's
 * own cost), then hashing each block with sha2-256 as an importer does, then
 * reads everything back verified. Prints MB/s for each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"
#include "store/blockstore.h"

static int run(const char *label, size_t total, size_t block, int hash, int read_back) {
  char dir[] = "/tmp/warren-bsbench-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  wr_bs *bs;
  if (wr_bs_open(dir, &bs) != 0)
    return 1;
  size_t count = total / block;
  uint8_t *buf = wr_malloc(block);
  uint8_t (*keys)[34] = wr_malloc(count * 34);
  memset(buf, 0x5a, block);
  if (!hash)
    for (size_t i = 0; i < count; i++) {
      memcpy(buf, &i, sizeof i);
      wr_bs_mh_sha256(keys[i], buf, block);
    }
  uint64_t t0 = wr_now_ns();
  wr_bs_txn *t;
  if (wr_bs_txn_begin(bs, WR_BS_WRITE, &t) != 0)
    return 1;
  for (size_t i = 0; i < count; i++) {
    memcpy(buf, &i, sizeof i);
    if (hash)
      wr_bs_mh_sha256(keys[i], buf, block);
    if (wr_bs_txn_put(t, keys[i], 34, buf, block) != 0)
      return 1;
  }
  if (wr_bs_txn_commit(t) != 0)
    return 1;
  uint64_t t1 = wr_now_ns();
  printf("%-28s %8.0f MB/s  (%zu blocks of %zu bytes)\n", label,
         (double)(count * block) / ((double)(t1 - t0) / 1e9) / 1e6, count, block);
  if (read_back) {
    t0 = wr_now_ns();
    if (wr_bs_txn_begin(bs, WR_BS_READ, &t) != 0)
      return 1;
    for (size_t i = 0; i < count; i++) {
      const uint8_t *p;
      size_t n;
      if (wr_bs_txn_get(t, keys[i], 34, &p, &n) != 0)
        return 1;
    }
    wr_bs_txn_abort(t);
    t1 = wr_now_ns();
    printf("%-28s %8.0f MB/s\n", "get, hash-verified",
           (double)(count * block) / ((double)(t1 - t0) / 1e9) / 1e6);
  }
  wr_bs_close(bs);
  wr_free(buf);
  wr_free(keys);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) != 0;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
  size_t block = argc > 2 ? strtoul(argv[2], NULL, 10) : 262144;
  if (!mib || !block || block > WR_BS_MAX_BLOCK) {
    fprintf(stderr, "usage: blockstore_bench [MiB] [block-bytes <= %u]\n", WR_BS_MAX_BLOCK);
    return 2;
  }
  int rc = run("put (keys precomputed)", mib << 20, block, 0, 0);
  rc |= run("sha2-256 + put", mib << 20, block, 1, 1);
  return rc;
}
