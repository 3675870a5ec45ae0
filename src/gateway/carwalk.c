/* carwalk.c: a resumable depth-first walk for CAR responses
 * (gateway/carwalk.h). Between calls the walk keeps a stack of frames
 * (a node's CID, the next link to look at, and for file ranges the file
 * offset where the node starts); each call re-reads only the top node. */
#include "gateway/carwalk.h"

#include <string.h>

#include "base/mem.h"
#include "proto/ipld/dagcbor.h"
#include "proto/ipld/dagjson.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "store/dag.h"

/* What to follow below a node. */
enum {
  FOLLOW_NONE = 0,
  FOLLOW_ALL,  /* every link */
  FOLLOW_FILE, /* a UnixFS file's children (within the range, if any) */
  FOLLOW_HAMT, /* a HAMT shard's sub-shards */
};

typedef struct frame {
  wr_cid cid;
  uint32_t next; /* index of the next link to consider */
  uint64_t base; /* FOLLOW_FILE: file offset of this node's first byte */
  int follow;
  /* dag-pb: the block and where its link walk stands, valid while the
   * source session lasts (wr_carwalk_new_session drops them): a node with
   * many children is read and hashed once per session, not per child. */
  int cached;
  const uint8_t *blk;
  size_t len;
  wr_dagpb_node pb;
  wr_dagpb_iter it;
  wr_unixfs_bs_iter bi;
  uint64_t pos; /* FOLLOW_FILE: file offset of the next link's bytes */
  size_t pad;   /* FOLLOW_HAMT: the slot label's length */
} frame;

struct wr_carwalk {
  wr_carwalk_config cfg;
  wr_cid root;
  int started;
  frame *st;
  size_t n, cap;
  wr_dag_set *seen; /* dups=n only */
  int err;
};

int wr_carwalk_new(wr_carwalk **pw, const wr_cid *root, const wr_carwalk_config *cfg) {
  wr_carwalk *w = wr_calloc(1, sizeof *w);
  if (!w)
    return WR_ERR_NOMEM;
  w->cfg = *cfg;
  w->root = *root;
  if (!cfg->dups && wr_dag_set_new(&w->seen) != 0) {
    wr_free(w);
    return WR_ERR_NOMEM;
  }
  *pw = w;
  return 0;
}

void wr_carwalk_del(wr_carwalk *w) {
  if (!w)
    return;
  wr_dag_set_del(w->seen);
  wr_free(w->st);
  wr_free(w);
}

/* 1 when cid is new (and now recorded), 0 when seen before; errors. */
static int first_time(wr_carwalk *w, const wr_cid *cid) {
  if (!w->seen)
    return 1;
  uint8_t key[WR_MH_MAX_BYTES];
  int klen = wr_mh_encode(&cid->mh, key, sizeof key);
  if (klen < 0)
    return WR_ERR_MALFORMED;
  return wr_dag_set_add(w->seen, key, (size_t)klen);
}

int wr_carwalk_mark(wr_carwalk *w, const wr_cid *cid) {
  int rc = first_time(w, cid);
  return rc < 0 ? rc : 0;
}

/* How to follow the links of a block reached with the parent's rule. */
static int follow_of(const wr_carwalk *w, const wr_cid *cid, const uint8_t *blk, size_t len,
                     int parent_follow) {
  if (w->cfg.scope == WR_GW_SCOPE_BLOCK)
    return FOLLOW_NONE;
  if (cid->codec == WR_CODEC_RAW)
    return FOLLOW_NONE;
  if (w->cfg.scope == WR_GW_SCOPE_ALL)
    return (cid->codec == WR_CODEC_DAG_PB || cid->codec == WR_CODEC_DAG_CBOR ||
            cid->codec == WR_CODEC_DAG_JSON)
               ? FOLLOW_ALL
               : FOLLOW_NONE;
  /* entity: UnixFS only */
  if (cid->codec != WR_CODEC_DAG_PB)
    return FOLLOW_NONE;
  wr_dagpb_node pb;
  wr_unixfs u;
  if (wr_dagpb_decode(blk, len, &pb, NULL) != 0 || !pb.has_data ||
      wr_unixfs_decode(pb.data, pb.data_len, &u, NULL) != 0)
    return FOLLOW_NONE;
  if (u.type == WR_UNIXFS_FILE || u.type == WR_UNIXFS_RAW)
    return parent_follow == FOLLOW_NONE || parent_follow == FOLLOW_FILE ? FOLLOW_FILE : FOLLOW_NONE;
  if (u.type == WR_UNIXFS_HAMTSHARD)
    return parent_follow == FOLLOW_NONE || parent_follow == FOLLOW_HAMT ? FOLLOW_HAMT : FOLLOW_NONE;
  return FOLLOW_NONE;
}

static int push(wr_carwalk *w, const wr_cid *cid, int follow, uint64_t base) {
  if (w->n == WR_CARWALK_MAX_DEPTH)
    return WR_ERR_LIMIT;
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 16;
    frame *ns = wr_realloc(w->st, nc * sizeof *ns);
    if (!ns)
      return WR_ERR_NOMEM;
    w->st = ns;
    w->cap = nc;
  }
  frame *f = &w->st[w->n++];
  memset(f, 0, sizeof *f);
  f->cid = *cid;
  f->base = base;
  f->follow = follow;
  return 0;
}

typedef struct nth_ctx {
  uint32_t want, at;
  wr_cid cid;
  int found;
} nth_ctx;

static int nth_link(void *arg, const wr_cid *cid) {
  nth_ctx *c = arg;
  if (c->at++ == c->want) {
    c->cid = *cid;
    c->found = 1;
    return 1;
  }
  return 0;
}

/* Reads f's block and, for dag-pb, positions its link walk at f->next
 * (once per session). */
static int frame_load(frame *f, wr_blocks *b) {
  if (f->cached)
    return 0;
  int rc = wr_blocks_get(b, &f->cid, &f->blk, &f->len);
  if (rc)
    return rc;
  if (f->cid.codec != WR_CODEC_DAG_PB) {
    f->cached = 1;
    return 0;
  }
  if (wr_dagpb_decode(f->blk, f->len, &f->pb, NULL) != 0)
    return WR_ERR_MALFORMED;
  wr_dagpb_iter_init(&f->it, &f->pb);
  f->pos = f->base;
  f->pad = 0;
  if (f->follow == FOLLOW_FILE || f->follow == FOLLOW_HAMT) {
    wr_unixfs u;
    if (!f->pb.has_data || wr_unixfs_decode(f->pb.data, f->pb.data_len, &u, NULL) != 0)
      return WR_ERR_MALFORMED;
    if (f->follow == FOLLOW_FILE) {
      if (u.nblocksizes != f->pb.nlinks)
        return WR_ERR_MALFORMED;
      wr_unixfs_bs_init(&f->bi, &u);
      f->pos += u.has_data ? u.data_len : 0;
    } else {
      uint64_t fanout = u.has_fanout ? u.fanout : 256;
      for (uint64_t v = fanout - 1; v; v >>= 4)
        f->pad++;
    }
  }
  /* Skip what an earlier session went past already. */
  for (uint32_t i = 0; i < f->next; i++) {
    wr_dagpb_link l;
    uint64_t bs = 0;
    if (wr_dagpb_iter_next(&f->it, &l, NULL) != 1)
      return WR_ERR_MALFORMED;
    if (f->follow == FOLLOW_FILE && wr_unixfs_bs_next(&f->bi, &bs) != 1)
      return WR_ERR_MALFORMED;
    f->pos += bs;
  }
  f->cached = 1;
  return 0;
}

/* The next link of f (loaded) to visit: 1 with *pchild (and for files its
 * offset), 0 when f has none left. Advances f->next. */
static int next_link(const wr_carwalk *w, frame *f, wr_cid *pchild, uint64_t *pbase) {
  if (f->cid.codec == WR_CODEC_DAG_CBOR || f->cid.codec == WR_CODEC_DAG_JSON) {
    nth_ctx c = {.want = f->next};
    int rc = f->cid.codec == WR_CODEC_DAG_CBOR
                 ? wr_dagcbor_links(f->blk, f->len, nth_link, &c, NULL)
                 : wr_dagjson_links(f->blk, f->len, nth_link, &c, NULL);
    if (rc < 0)
      return WR_ERR_MALFORMED;
    if (!c.found)
      return 0;
    f->next++;
    *pchild = c.cid;
    *pbase = 0;
    return 1;
  }
  if (f->cid.codec != WR_CODEC_DAG_PB)
    return 0;
  int file = f->follow == FOLLOW_FILE, hamt = f->follow == FOLLOW_HAMT;
  wr_dagpb_link l;
  int rc;
  while ((rc = wr_dagpb_iter_next(&f->it, &l, NULL)) == 1) {
    uint64_t bs = 0;
    if (file && wr_unixfs_bs_next(&f->bi, &bs) != 1)
      return WR_ERR_MALFORMED;
    uint64_t start = f->pos;
    f->pos += bs;
    f->next++;
    if (hamt && !(l.has_name && l.name_len == f->pad))
      continue; /* an entry, not a sub-shard: outside the folder's entity */
    if (file && w->cfg.has_range && (start + bs <= w->cfg.first || start > w->cfg.last))
      continue;
    *pchild = l.cid;
    *pbase = start;
    return 1;
  }
  return rc < 0 ? WR_ERR_MALFORMED : 0;
}

void wr_carwalk_new_session(wr_carwalk *w) {
  for (size_t i = 0; i < w->n; i++)
    w->st[i].cached = 0;
}

int wr_carwalk_next(wr_carwalk *w, wr_blocks *b, wr_cid *pcid, const uint8_t **pdata, size_t *plen,
                    wr_cid *pbad) {
  if (w->err)
    return w->err;
  int rc;
  if (!w->started) {
    if ((rc = wr_blocks_get(b, &w->root, pdata, plen)) != 0)
      goto fail_root;
    w->started = 1;
    int f = follow_of(w, &w->root, *pdata, *plen, FOLLOW_NONE);
    if ((rc = first_time(w, &w->root)) < 0)
      return w->err = rc;
    if (f != FOLLOW_NONE && (rc = push(w, &w->root, f, 0)) != 0)
      return w->err = rc;
    *pcid = w->root;
    return 1;
  }
  while (w->n) {
    frame *f = &w->st[w->n - 1];
    if ((rc = frame_load(f, b)) != 0) {
      if (pbad)
        *pbad = f->cid;
      return w->err = rc;
    }
    wr_cid child;
    uint64_t base;
    rc = next_link(w, f, &child, &base);
    if (rc < 0) {
      if (pbad)
        *pbad = f->cid;
      return w->err = rc;
    }
    if (rc == 0) {
      w->n--;
      continue;
    }
    int parent_follow = f->follow;
    if ((rc = first_time(w, &child)) < 0)
      return w->err = rc;
    if (rc == 0)
      continue; /* dups=n: sent already, with its subtree */
    if ((rc = wr_blocks_get(b, &child, pdata, plen)) != 0) {
      if (pbad)
        *pbad = child;
      return w->err = rc;
    }
    int cf = follow_of(w, &child, *pdata, *plen, parent_follow);
    if (cf != FOLLOW_NONE && (rc = push(w, &child, cf, base)) != 0)
      return w->err = rc;
    *pcid = child;
    return 1;
  }
  return 0;
fail_root:
  if (pbad)
    *pbad = w->root;
  return w->err = rc;
}
