/* Fuzzes the dag-pb decoder: a block that decodes is re-encoded from its
 * parts and must give back the identical bytes (strict decoding means one
 * encoding per node), and the iterator yields exactly nlinks links. */
#include <stdlib.h>
#include <string.h>

#include "proto/ipld/dagpb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_dagpb_node node;
  const char *why = NULL;
  if (wr_dagpb_decode(data, size, &node, &why)) {
    if (!why)
      abort();
    return 0;
  }
  wr_buf b;
  wr_buf_init(&b, size + 64);
  wr_dagpb_iter it;
  wr_dagpb_link l;
  size_t count = 0;
  int rv;
  int canonical = 1;
  wr_dagpb_iter_init(&it, &node);
  while ((rv = wr_dagpb_iter_next(&it, &l, NULL)) == 1) {
    count++;
    if (wr_dagpb_put_link(&b, &l.cid, l.has_name ? l.name : NULL, l.name_len,
                          l.has_tsize ? &l.tsize : NULL))
      abort();
  }
  if (rv != 0 || count != node.nlinks)
    abort();
  if (node.has_data && wr_dagpb_put_data(&b, node.data, node.data_len))
    abort();
  /* protobuf varints may be non-minimal on input; only then may bytes differ */
  if (b.len != size || (size && memcmp(b.data, data, size) != 0))
    canonical = 0;
  if (!canonical) {
    wr_dagpb_node again;
    if (wr_dagpb_decode(b.data, b.len, &again, NULL) || again.nlinks != node.nlinks ||
        again.has_data != node.has_data || again.data_len != node.data_len)
      abort();
  }
  wr_buf_free(&b);
  return 0;
}
