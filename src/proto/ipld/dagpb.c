#include "proto/ipld/dagpb.h"

#include <string.h>

#include "proto/ipld/pb.h"

static int fail(const char **preason, const char *why, int err) {
  if (preason)
    *preason = why;
  return err;
}

/* Parses one PBLink message body (n bytes at p). */
static int decode_link(const uint8_t *p, size_t n, wr_dagpb_link *l, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  memset(l, 0, sizeof *l);
  int have_hash = 0;
  while (wr_cursor_left(&c)) {
    uint32_t field;
    int wt;
    int rv = wr_pb_get_key(&c, &field, &wt, preason);
    if (rv)
      return rv;
    switch (field) {
    case 1:
      if (have_hash)
        return fail(preason, "duplicate Hash in link", WR_ERR_MALFORMED);
      if (l->has_name || l->has_tsize)
        return fail(preason, "link fields out of order (Hash must come first)", WR_ERR_MALFORMED);
      if (wt != WR_PB_LEN)
        return fail(preason, "link Hash has the wrong wire type", WR_ERR_MALFORMED);
      rv = wr_pb_get_bytes(&c, &l->hash, &l->hash_len, preason);
      if (rv)
        return rv;
      {
        const char *why = NULL;
        rv = wr_cid_from_bytes(l->hash, l->hash_len, &l->cid, &why);
        if (rv)
          return fail(preason, "link Hash is not a valid CID", WR_ERR_MALFORMED);
      }
      have_hash = 1;
      break;
    case 2:
      if (l->has_name)
        return fail(preason, "duplicate Name in link", WR_ERR_MALFORMED);
      if (!have_hash || l->has_tsize)
        return fail(preason, "link fields out of order (Name must follow Hash)", WR_ERR_MALFORMED);
      if (wt != WR_PB_LEN)
        return fail(preason, "link Name has the wrong wire type", WR_ERR_MALFORMED);
      {
        const uint8_t *np;
        rv = wr_pb_get_bytes(&c, &np, &l->name_len, preason);
        if (rv)
          return rv;
        l->name = (const char *)np;
      }
      l->has_name = 1;
      break;
    case 3:
      if (l->has_tsize)
        return fail(preason, "duplicate Tsize in link", WR_ERR_MALFORMED);
      if (!have_hash)
        return fail(preason, "link fields out of order (Tsize must follow Hash)", WR_ERR_MALFORMED);
      if (wt != WR_PB_VARINT)
        return fail(preason, "link Tsize has the wrong wire type", WR_ERR_MALFORMED);
      rv = wr_pb_get_varint(&c, &l->tsize, preason);
      if (rv)
        return rv;
      l->has_tsize = 1;
      break;
    default:
      return fail(preason, "unknown field in dag-pb link", WR_ERR_MALFORMED);
    }
  }
  if (!have_hash)
    return fail(preason, "dag-pb link without Hash", WR_ERR_MALFORMED);
  return 0;
}

int wr_dagpb_decode(const uint8_t *block, size_t n, wr_dagpb_node *pnode, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, block, n);
  wr_dagpb_node node = {0};
  node.links = block;
  while (wr_cursor_left(&c)) {
    uint32_t field;
    int wt;
    int rv = wr_pb_get_key(&c, &field, &wt, preason);
    if (rv)
      return rv;
    if (field != 1 && field != 2)
      return fail(preason, "unknown field in dag-pb node", WR_ERR_MALFORMED);
    if (wt != WR_PB_LEN)
      return fail(preason, "dag-pb node field has the wrong wire type", WR_ERR_MALFORMED);
    const uint8_t *p;
    size_t len;
    rv = wr_pb_get_bytes(&c, &p, &len, preason);
    if (rv)
      return rv;
    if (field == 1) {
      if (node.has_data)
        return fail(preason, "duplicate Data in dag-pb node", WR_ERR_MALFORMED);
      node.has_data = 1;
      node.data = p;
      node.data_len = len;
    } else {
      if (node.has_data)
        return fail(preason, "Data before Links in dag-pb node", WR_ERR_MALFORMED);
      wr_dagpb_link l;
      rv = decode_link(p, len, &l, preason);
      if (rv)
        return rv;
      node.nlinks++;
      node.links_len = (size_t)(c.pos - block);
    }
  }
  *pnode = node;
  return 0;
}

void wr_dagpb_iter_init(wr_dagpb_iter *it, const wr_dagpb_node *node) {
  wr_cursor_init(&it->c, node->links, node->links_len);
}

int wr_dagpb_iter_next(wr_dagpb_iter *it, wr_dagpb_link *plink, const char **preason) {
  if (!wr_cursor_left(&it->c))
    return 0;
  uint32_t field;
  int wt;
  int rv = wr_pb_get_key(&it->c, &field, &wt, preason);
  if (rv)
    return rv;
  if (field != 2 || wt != WR_PB_LEN)
    return fail(preason, "dag-pb links region changed", WR_ERR_MALFORMED);
  const uint8_t *p;
  size_t len;
  rv = wr_pb_get_bytes(&it->c, &p, &len, preason);
  if (rv)
    return rv;
  rv = decode_link(p, len, plink, preason);
  return rv ? rv : 1;
}

size_t wr_dagpb_link_size(const wr_cid *cid, size_t name_len, int has_name,
                          const uint64_t *ptsize) {
  size_t h = wr_cid_encoded_size(cid);
  size_t body = 1 + wr_pb_varint_size(h) + h;
  if (has_name)
    body += 1 + wr_pb_varint_size(name_len) + name_len;
  if (ptsize)
    body += 1 + wr_pb_varint_size(*ptsize);
  return 1 + wr_pb_varint_size(body) + body;
}

int wr_dagpb_put_link(wr_buf *b, const wr_cid *cid, const char *name, size_t name_len,
                      const uint64_t *ptsize) {
  uint8_t hash[WR_CID_MAX_BYTES];
  int hn = wr_cid_to_bytes(cid, hash, sizeof hash);
  if (hn < 0)
    return hn;
  size_t body = 1 + wr_pb_varint_size((size_t)hn) + (size_t)hn;
  if (name)
    body += 1 + wr_pb_varint_size(name_len) + name_len;
  if (ptsize)
    body += 1 + wr_pb_varint_size(*ptsize);
  size_t total = 1 + wr_pb_varint_size(body) + body;
  /* Reserve first, so a limit error leaves no half-written link behind. */
  int rv = wr_buf_reserve(b, total);
  if (!rv)
    rv = wr_pb_put_key(b, 2, WR_PB_LEN);
  if (!rv)
    rv = wr_pb_put_varint(b, body);
  if (!rv)
    rv = wr_pb_put_bytes(b, 1, hash, (size_t)hn);
  if (!rv && name)
    rv = wr_pb_put_bytes(b, 2, name, name_len);
  if (!rv && ptsize)
    rv = wr_pb_put_uint(b, 3, *ptsize);
  return rv;
}

int wr_dagpb_put_data(wr_buf *b, const void *data, size_t n) {
  return wr_pb_put_bytes(b, 1, data, n);
}
