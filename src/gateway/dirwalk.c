/* dirwalk.c: a resumable walk over a folder's entries (gateway/dirwalk.h). */
#include "gateway/dirwalk.h"

#include <string.h>

#include "base/mem.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "proto/ipld/unixfs_builder.h"

/* A HAMT deeper than this is hostile (a 2^64-entry one with fanout 256 is
 * 8 levels). */
#define MAX_DEPTH 64

typedef struct frame {
  wr_cid cid;
  uint32_t next; /* links of this node already consumed */
  /* valid within a session */
  int cached;
  int hamt;
  size_t pad; /* HAMT: the slot label's length */
  wr_dagpb_node pb;
  wr_dagpb_iter it;
} frame;

struct wr_dirwalk {
  frame st[MAX_DEPTH];
  size_t n;
  int err;
};

int wr_dirwalk_new(wr_dirwalk **pw, const wr_cid *dir) {
  wr_dirwalk *w = wr_calloc(1, sizeof *w);
  if (!w)
    return WR_ERR_NOMEM;
  w->st[0].cid = *dir;
  w->n = 1;
  *pw = w;
  return 0;
}

void wr_dirwalk_del(wr_dirwalk *w) { wr_free(w); }

void wr_dirwalk_new_session(wr_dirwalk *w) {
  for (size_t i = 0; i < w->n; i++)
    w->st[i].cached = 0;
}

/* Reads f's node and positions its link walk after f->next links. depth 0
 * is the folder itself (a Directory or a HAMT root); deeper ones must be
 * shards. */
static int load(frame *f, wr_blocks *b, size_t depth) {
  if (f->cached)
    return 0;
  if (f->cid.codec != WR_CODEC_DAG_PB)
    return WR_ERR_MALFORMED;
  const uint8_t *blk;
  size_t len;
  int rc = wr_blocks_get(b, &f->cid, &blk, &len);
  if (rc)
    return rc;
  wr_unixfs u;
  if (wr_dagpb_decode(blk, len, &f->pb, NULL) != 0 || !f->pb.has_data ||
      wr_unixfs_decode(f->pb.data, f->pb.data_len, &u, NULL) != 0)
    return WR_ERR_MALFORMED;
  if (u.type == WR_UNIXFS_HAMTSHARD) {
    uint64_t fanout = u.has_fanout ? u.fanout : 0;
    if (fanout < 2 || fanout > 1024 || (fanout & (fanout - 1)))
      return WR_ERR_MALFORMED;
    if (!u.has_hash_type || u.hash_type != WR_UFS_HAMT_HASH_MURMUR3)
      return WR_ERR_UNSUPPORTED;
    f->hamt = 1;
    f->pad = 0;
    for (uint64_t v = fanout - 1; v; v >>= 4)
      f->pad++;
  } else if (u.type == WR_UNIXFS_DIRECTORY && depth == 0) {
    f->hamt = 0;
  } else {
    return WR_ERR_MALFORMED;
  }
  wr_dagpb_iter_init(&f->it, &f->pb);
  for (uint32_t i = 0; i < f->next; i++) {
    wr_dagpb_link l;
    if (wr_dagpb_iter_next(&f->it, &l, NULL) != 1)
      return WR_ERR_MALFORMED;
  }
  f->cached = 1;
  return 0;
}

int wr_dirwalk_next(wr_dirwalk *w, wr_blocks *b, wr_dirwalk_entry *pe) {
  if (w->err)
    return w->err;
  while (w->n) {
    frame *f = &w->st[w->n - 1];
    int rc = load(f, b, w->n - 1);
    if (rc)
      return w->err = rc;
    wr_dagpb_link l;
    rc = wr_dagpb_iter_next(&f->it, &l, NULL);
    if (rc < 0)
      return w->err = WR_ERR_MALFORMED;
    if (rc == 0) {
      w->n--;
      continue;
    }
    f->next++;
    if (!f->hamt) {
      pe->name = l.has_name ? l.name : "";
      pe->name_len = l.has_name ? l.name_len : 0;
      pe->cid = l.cid;
      pe->tsize = l.tsize;
      return 1;
    }
    if (!l.has_name || l.name_len < f->pad)
      return w->err = WR_ERR_MALFORMED;
    if (l.name_len == f->pad) { /* a sub-shard */
      if (w->n == MAX_DEPTH)
        return w->err = WR_ERR_LIMIT;
      frame *c = &w->st[w->n++];
      memset(c, 0, sizeof *c);
      c->cid = l.cid;
      continue;
    }
    pe->name = l.name + f->pad;
    pe->name_len = l.name_len - f->pad;
    pe->cid = l.cid;
    pe->tsize = l.tsize;
    return 1;
  }
  return 0;
}
