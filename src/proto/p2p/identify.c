/* identify.c: the identify protobuf. */
#include "proto/p2p/identify.h"

#include <string.h>

#include "proto/ipld/pb.h"

#define FAIL(code, why)                                                                            \
  do {                                                                                             \
    if (preason)                                                                                   \
      *preason = (why);                                                                            \
    return (code);                                                                                 \
  } while (0)

int wr_identify_decode(const uint8_t *p, size_t n, wr_identify *id, const char **preason) {
  memset(id, 0, sizeof *id);
  if (n > WR_IDENTIFY_MAX_MSG)
    FAIL(WR_ERR_LIMIT, "identify message longer than 8192 bytes");
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  while (wr_cursor_left(&c) > 0) {
    uint32_t field;
    int wt;
    if (wr_pb_get_key(&c, &field, &wt, preason) != 0)
      return WR_ERR_MALFORMED;
    if (field >= 1 && field <= 8 && field != 7 && wt != WR_PB_LEN)
      FAIL(WR_ERR_MALFORMED, "identify field has the wrong wire type");
    if (wt == WR_PB_VARINT) {
      uint64_t v;
      if (wr_pb_get_varint(&c, &v, preason) != 0)
        return WR_ERR_MALFORMED;
      continue;
    }
    if (wt == WR_PB_I64 || wt == WR_PB_I32) {
      size_t k = wt == WR_PB_I64 ? 8 : 4;
      if (wr_cursor_left(&c) < k)
        FAIL(WR_ERR_MALFORMED, "identify fixed-size field runs past the end");
      c.pos += k;
      continue;
    }
    if (wt != WR_PB_LEN)
      FAIL(WR_ERR_MALFORMED, "identify field has an unknown wire type");
    wr_bytes b;
    if (wr_pb_get_bytes(&c, &b.p, &b.n, preason) != 0)
      FAIL(WR_ERR_MALFORMED, "identify field runs past the end");
    switch (field) {
    case 1:
      id->public_key = b;
      break;
    case 2:
      if (id->nlisten_addrs == WR_IDENTIFY_MAX_ADDRS)
        FAIL(WR_ERR_LIMIT, "identify message lists more than 64 addresses");
      id->listen_addrs[id->nlisten_addrs++] = b;
      break;
    case 3:
      if (id->nprotocols == WR_IDENTIFY_MAX_PROTOCOLS)
        FAIL(WR_ERR_LIMIT, "identify message lists more than 128 protocols");
      id->protocols[id->nprotocols++] = b;
      break;
    case 4:
      id->observed_addr = b;
      break;
    case 5:
      id->protocol_version = b;
      break;
    case 6:
      id->agent_version = b;
      break;
    case 8:
      id->signed_peer_record = b;
      break;
    default:
      break;
    }
  }
  return 0;
}

static int put(wr_buf *out, uint32_t field, wr_bytes b) {
  return b.p ? wr_pb_put_bytes(out, field, b.p, b.n) : 0;
}

int wr_identify_encode(const wr_identify *id, wr_buf *out) {
  int rv = put(out, 1, id->public_key);
  for (size_t i = 0; rv == 0 && i < id->nlisten_addrs; i++)
    rv = put(out, 2, id->listen_addrs[i]);
  for (size_t i = 0; rv == 0 && i < id->nprotocols; i++)
    rv = put(out, 3, id->protocols[i]);
  if (rv == 0)
    rv = put(out, 4, id->observed_addr);
  if (rv == 0)
    rv = put(out, 5, id->protocol_version);
  if (rv == 0)
    rv = put(out, 6, id->agent_version);
  if (rv == 0)
    rv = put(out, 8, id->signed_peer_record);
  return rv;
}
