/* dagpb.h: the dag-pb block format (codec 0x70).
 *
 *   PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
 *   PBLink { optional bytes Hash = 1; optional string Name = 2;
 *            optional uint64 Tsize = 3; }
 *
 * Strict, as the IPLD dag-pb spec and its reference decoders: all Links come
 * before Data; Data at most once; inside a link the fields come in the order
 * Hash, Name, Tsize, each at most once, and Hash (a valid binary CID) is
 * required; unknown fields and wrong wire types are errors.
 *
 * Decoding never allocates: wr_dagpb_decode validates the whole block once,
 * then wr_dagpb_iter walks the links with pointers into the block. Encoding
 * is streaming: put the links in order, then the data. */
#ifndef WR_PROTO_IPLD_DAGPB_H
#define WR_PROTO_IPLD_DAGPB_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/cid.h"

/* A validated block. Pointers point into the block passed to
 * wr_dagpb_decode and live as long as it does. */
typedef struct wr_dagpb_node {
  const uint8_t *data; /* the Data field, when has_data */
  size_t data_len;
  int has_data;
  size_t nlinks;
  const uint8_t *links; /* the encoded links region (for wr_dagpb_iter) */
  size_t links_len;
} wr_dagpb_node;

/* One link as the iterator yields it. */
typedef struct wr_dagpb_link {
  wr_cid cid;
  const uint8_t *hash; /* the CID's bytes inside the block */
  size_t hash_len;
  const char *name; /* not NUL-terminated; NULL when absent */
  size_t name_len;
  int has_name;
  uint64_t tsize;
  int has_tsize;
} wr_dagpb_link;

typedef struct wr_dagpb_iter {
  wr_cursor c;
} wr_dagpb_iter;

/* Validates a whole dag-pb block and fills *pnode. 0, or WR_ERR_MALFORMED /
 * WR_ERR_TRUNCATED / WR_ERR_UNSUPPORTED with a static *preason (may be NULL),
 * e.g. "Data before Links", "duplicate Hash in link". */
WR_MUST_CHECK int wr_dagpb_decode(const uint8_t *block, size_t n, wr_dagpb_node *pnode,
                                  const char **preason);

/* Starts walking the links of a decoded node. */
void wr_dagpb_iter_init(wr_dagpb_iter *it, const wr_dagpb_node *node);
/* Yields the next link: returns 1 and fills *plink, 0 at the end, or a
 * negative error (only if the block changed since wr_dagpb_decode). */
WR_MUST_CHECK int wr_dagpb_iter_next(wr_dagpb_iter *it, wr_dagpb_link *plink,
                                     const char **preason);

/* Appends one PBLink to b. name NULL omits Name (a non-NULL empty name is
 * written as an empty Name, as kubo does); ptsize NULL omits Tsize. Links
 * must all be put before wr_dagpb_put_data. Errors as wr_buf_append,
 * WR_ERR_INVAL for an unencodable CID. */
WR_MUST_CHECK int wr_dagpb_put_link(wr_buf *b, const wr_cid *cid, const char *name,
                                    size_t name_len, const uint64_t *ptsize);
/* Appends the Data field (present even when n is 0). Call at most once,
 * after the links; a node without Data simply never calls it. */
WR_MUST_CHECK int wr_dagpb_put_data(wr_buf *b, const void *data, size_t n);
/* Bytes wr_dagpb_put_link will append (for sizing and Tsize sums). */
size_t wr_dagpb_link_size(const wr_cid *cid, size_t name_len, int has_name,
                          const uint64_t *ptsize);

#endif
