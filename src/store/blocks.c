/* blocks.c: the blocks seam's dispatch and the one verification every put
 * shares, whichever source is behind it. */
#include "store/blocks.h"

int wr_blocks_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pdata, size_t *plen) {
  return b->ops->get(b, cid, pdata, plen);
}

int wr_blocks_size(wr_blocks *b, const wr_cid *cid, size_t *plen) {
  return b->ops->size(b, cid, plen);
}

int wr_blocks_has(wr_blocks *b, const wr_cid *cid) {
  size_t n;
  int rc = b->ops->size(b, cid, &n);
  if (rc == WR_ERR_NOTFOUND)
    return 0;
  return rc == 0 ? 1 : rc;
}

int wr_blocks_put(wr_blocks *b, const wr_cid *cid, const void *data, size_t len, unsigned flags) {
  if (!b->ops->put)
    return WR_ERR_DENIED;
  if (!(flags & WR_BLOCKS_TRUSTED)) {
    int rc = wr_cid_verify(cid, data, len);
    if (rc != 0)
      return rc;
  }
  return b->ops->put(b, cid, data, len);
}
