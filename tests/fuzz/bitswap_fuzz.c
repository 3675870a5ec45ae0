/* Fuzzes the Bitswap message and its framing: a decoded message re-encodes
 * and decodes to the same entries, blocks and presences. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/bitswap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t hdr, body;
  const char *why = NULL;
  int fr = wr_bitswap_frame(data, size, &hdr, &body, &why);
  if (fr == 0 && hdr + body > size)
    abort();
  wr_bitswap_msg a, b;
  why = NULL;
  if (wr_bitswap_decode(data, size, &a, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  wr_buf out;
  wr_buf_init(&out, 2 * WR_BITSWAP_MAX_MSG);
  if (wr_bitswap_encode(&a, 0, &out) != 0)
    abort();
  if (out.len <= WR_BITSWAP_MAX_MSG) {
    if (wr_bitswap_decode(out.data, out.len, &b, NULL) != 0)
      abort();
    if (a.nentries != b.nentries || a.nblocks != b.nblocks || a.npresences != b.npresences ||
        a.full != b.full || a.pending_bytes != b.pending_bytes)
      abort();
    for (size_t i = 0; i < a.nentries; i++)
      if (!wr_cid_equal(&a.entries[i].cid, &b.entries[i].cid) ||
          a.entries[i].want_type != b.entries[i].want_type ||
          a.entries[i].cancel != b.entries[i].cancel)
        abort();
    for (size_t i = 0; i < a.nblocks; i++)
      if (a.blocks[i].len != b.blocks[i].len ||
          memcmp(a.blocks[i].data, b.blocks[i].data, a.blocks[i].len) != 0 ||
          memcmp(&a.blocks[i].prefix, &b.blocks[i].prefix, sizeof a.blocks[i].prefix) != 0)
        abort();
    wr_bitswap_msg_free(&b);
  }
  wr_buf_free(&out);
  wr_bitswap_msg_free(&a);
  return 0;
}
