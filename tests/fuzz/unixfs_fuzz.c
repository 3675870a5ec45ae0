/* Fuzzes the UnixFS Data decoder: a decoded message re-encodes and decodes
 * again to the same fields, and the blocksizes iterator yields exactly
 * nblocksizes values. */
#include <stdlib.h>
#include <string.h>

#include "proto/ipld/unixfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_unixfs u, d;
  const char *why = NULL;
  if (wr_unixfs_decode(data, size, &u, &why)) {
    if (!why)
      abort();
    return 0;
  }
  uint64_t *bs = calloc(u.nblocksizes + 1, sizeof *bs);
  wr_unixfs_bs_iter it;
  wr_unixfs_bs_init(&it, &u);
  size_t i = 0;
  int rv;
  while ((rv = wr_unixfs_bs_next(&it, &bs[i])) == 1)
    if (++i > u.nblocksizes)
      abort();
  if (rv != 0 || i != u.nblocksizes)
    abort();
  u.blocksizes = bs;
  wr_buf b;
  wr_buf_init(&b, 3 * size + 64); /* packed blocksizes grow when written unpacked */
  if (wr_unixfs_encode(&b, &u) || b.len != wr_unixfs_encoded_size(&u))
    abort();
  if (wr_unixfs_decode(b.data, b.len, &d, NULL))
    abort();
  if (d.type != u.type || d.has_data != u.has_data || d.data_len != u.data_len ||
      (d.data_len && memcmp(d.data, u.data, d.data_len)) || d.filesize != u.filesize ||
      d.nblocksizes != u.nblocksizes || d.mode != u.mode || d.mtime_sec != u.mtime_sec ||
      d.mtime_nsec != u.mtime_nsec || d.fanout != u.fanout || d.hash_type != u.hash_type)
    abort();
  wr_buf_free(&b);
  free(bs);
  return 0;
}
