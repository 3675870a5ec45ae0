/* Fuzzes the kad-dht message and its framing: a frame found is decoded; a
 * decoded message re-encodes to bytes that decode to the same counts. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/kad.h"

static wr_kad_msg a, b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *p;
  size_t n, used;
  const char *why = NULL;
  int rv = wr_kad_frame_next(data, size, &p, &n, &used, &why);
  if (rv == 0 && (used > size || p + n != data + used))
    abort();
  if (rv != 0 && rv != WR_ERR_AGAIN && !why)
    abort();
  why = NULL;
  if (wr_kad_decode(data, size, &a, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  wr_buf out;
  wr_buf_init(&out, 8u << 20);
  if (wr_kad_encode_frame(&a, &out) != 0)
    abort();
  if (wr_kad_frame_next(out.data, out.len, &p, &n, &used, NULL) != 0 || used != out.len)
    abort();
  if (wr_kad_decode(p, n, &b, NULL) != 0)
    abort();
  if (a.type != b.type || a.ncloser != b.ncloser || a.nproviders != b.nproviders ||
      a.key.n != b.key.n || a.has_record != b.has_record || a.cluster_level != b.cluster_level)
    abort();
  for (size_t i = 0; i < a.ncloser; i++)
    if (a.closer[i].naddrs != b.closer[i].naddrs || a.closer[i].id.n != b.closer[i].id.n ||
        memcmp(a.closer[i].id.p, b.closer[i].id.p, a.closer[i].id.n) != 0)
      abort();
  wr_buf_free(&out);
  return 0;
}
