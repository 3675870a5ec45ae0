/* Fuzzes the DAG builder: the first bytes choose chunk size, links per node,
 * layout, leaf kind, CID version and HAMT threshold; the rest is a file and,
 * split at newlines, the names of a folder. Every block the builder emits
 * must pass the strict dag-pb and UnixFS decoders (raw leaves excepted), a
 * file's root must account for every byte, and a folder must never fail on
 * valid unique names. */
#include <stdlib.h>
#include <string.h>

#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "proto/ipld/unixfs_builder.h"

static int check_block(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  (void)arg;
  if (wr_cid_verify(cid, block, len))
    abort();
  if (cid->codec == WR_CODEC_RAW)
    return 0;
  wr_dagpb_node n;
  wr_unixfs u;
  if (wr_dagpb_decode(block, len, &n, NULL) || !n.has_data ||
      wr_unixfs_decode(n.data, n.data_len, &u, NULL))
    abort();
  if (u.type == WR_UNIXFS_FILE && u.nblocksizes != n.nlinks)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  p.chunk_size = 1u + data[0] % 64;
  p.max_links = 2u + data[1] % 8;
  p.layout = (data[2] & 1) ? WR_UFS_TRICKLE : WR_UFS_BALANCED;
  p.raw_leaves = (data[2] >> 1) & 1;
  p.cid_version = (data[2] >> 2) & 1;
  p.hamt_estimate = (data[2] >> 3) & 1 ? WR_UFS_EST_BLOCK : WR_UFS_EST_LINKS;
  p.hamt_fanout = 8u << ((data[2] >> 4) % 6); /* 8 .. 256 */
  p.hamt_threshold = data[3];
  data += 4;
  size -= 4;

  wr_ufs_file *f = NULL;
  if (wr_ufs_file_new(&p, check_block, NULL, &f))
    abort();
  size_t off = 0;
  while (off < size) {
    size_t k = size - off < p.chunk_size ? size - off : p.chunk_size;
    memcpy(wr_ufs_file_chunk_buf(f), data + off, k);
    if (wr_ufs_file_chunk(f, k))
      abort();
    off += k;
  }
  wr_ufs_link root;
  if (wr_ufs_file_finish(f, &root) || root.filesize != size)
    abort();
  wr_ufs_file_del(f);

  /* Names: the lines of the input, without '/' or empty ones, unique. */
  wr_ufs_dirent *ents = calloc(size + 1, sizeof *ents);
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && data[i] != '\n')
      continue;
    const char *nm = (const char *)data + start;
    size_t len = i - start;
    start = i + 1;
    if (len == 0 || memchr(nm, '/', len))
      continue;
    int dup = 0;
    for (size_t j = 0; j < n && !dup; j++)
      dup = ents[j].name_len == len && memcmp(ents[j].name, nm, len) == 0;
    if (dup)
      continue;
    ents[n].name = nm;
    ents[n].name_len = len;
    ents[n].link = root;
    n++;
  }
  wr_ufs_link dir;
  if (wr_ufs_dir_build(&p, ents, n, check_block, NULL, &dir, NULL))
    abort();
  free(ents);
  return 0;
}
