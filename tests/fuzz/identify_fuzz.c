/* Fuzzes the identify protobuf: a decoded message re-encodes and decodes to
 * the same fields. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_identify a, b;
  const char *why = NULL;
  if (wr_identify_decode(data, size, &a, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  wr_buf out;
  wr_buf_init(&out, 1 << 20);
  if (wr_identify_encode(&a, &out) != 0)
    abort();
  if (out.len <= WR_IDENTIFY_MAX_MSG) {
    if (wr_identify_decode(out.data, out.len, &b, NULL) != 0)
      abort();
    if (a.nprotocols != b.nprotocols || a.nlisten_addrs != b.nlisten_addrs ||
        a.agent_version.n != b.agent_version.n)
      abort();
    for (size_t i = 0; i < a.nprotocols; i++)
      if (a.protocols[i].n != b.protocols[i].n ||
          memcmp(a.protocols[i].p, b.protocols[i].p, a.protocols[i].n) != 0)
        abort();
  }
  wr_buf_free(&out);
  return 0;
}
