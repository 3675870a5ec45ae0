/* unixfs_builder.c: balanced and trickle file DAGs, flat and HAMT folders.
 * See unixfs_builder.h for the shapes; the comments here say why the code
 * matches kubo/boxo and ipfs-unixfs-importer byte for byte. */
#include "proto/ipld/unixfs_builder.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/murmur3.h"
#include "proto/ipld/pb.h"
#include "proto/ipld/unixfs.h"

/* A dag-pb leaf is 0a L 08 T [12 N data] 18 N: at most 1 + 10 + 2 + 1 + 10
 * bytes before the data and 1 + 10 after it. */
#define LEAF_HEAD 32
#define LEAF_TAIL 16
/* Largest node a builder encodes: WR_UFS_MAX_LINKS links of at most
 * ~170 bytes each plus the blocksizes. */
#define NODE_LIMIT ((size_t)WR_UFS_MAX_LINKS * 200 + 4096)

void wr_ufs_params_default(wr_ufs_params *p) {
  memset(p, 0, sizeof *p);
  p->chunk_size = WR_UFS_DEFAULT_CHUNK;
  p->max_links = WR_UFS_DEFAULT_LINKS;
  p->cid_version = 0;
  p->raw_leaves = 0;
  p->layout = WR_UFS_BALANCED;
  p->hamt_threshold = WR_UFS_DEFAULT_HAMT_THRESHOLD;
  p->hamt_fanout = WR_UFS_DEFAULT_FANOUT;
  p->hamt_estimate = WR_UFS_EST_LINKS;
}

int wr_ufs_params_profile(wr_ufs_params *p, const char *name) {
  if (strcmp(name, "unixfs-v0-2015") == 0 || strcmp(name, "legacy-cid-v0") == 0) {
    wr_ufs_params_default(p);
    return 0;
  }
  if (strcmp(name, "unixfs-v1-2025") == 0 || strcmp(name, "test-cid-v1-wide") == 0) {
    /* IPIP-499: CIDv1, raw leaves, 1 MiB chunks, 1024 links per file node,
     * HAMT above 256 KiB measured as the real block size, fanout 256. */
    p->cid_version = 1;
    p->raw_leaves = 1;
    p->chunk_size = 1024 * 1024;
    p->max_links = 1024;
    p->hamt_threshold = WR_UFS_DEFAULT_HAMT_THRESHOLD;
    p->hamt_fanout = WR_UFS_DEFAULT_FANOUT;
    p->hamt_estimate = WR_UFS_EST_BLOCK;
    return 0;
  }
  return WR_ERR_INVAL;
}

int wr_ufs_params_check(const wr_ufs_params *p, const char **preason) {
  const char *why = NULL;
  if (p->chunk_size < 1 || p->chunk_size > WR_UFS_MAX_CHUNK)
    why = "chunk size must be between 1 and 2096896 bytes (2 MiB - 256)";
  else if (p->max_links < 2 || p->max_links > WR_UFS_MAX_LINKS)
    why = "links per node must be between 2 and 65536";
  else if (p->cid_version > 1)
    why = "CID version must be 0 or 1";
  else if (p->hamt_fanout < 8 || p->hamt_fanout > 256 || (p->hamt_fanout & (p->hamt_fanout - 1)))
    why = "HAMT fanout must be a power of two between 8 and 256";
  else if (p->layout != WR_UFS_BALANCED && p->layout != WR_UFS_TRICKLE)
    why = "unknown layout";
  if (why) {
    if (preason)
      *preason = why;
    return WR_ERR_INVAL;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* files */

typedef struct frame {
  wr_ufs_link *links;
  size_t n, cap;
  uint32_t nleaves;   /* leaves added (the first max_links links) */
  uint32_t depth;     /* depth of the next subtree to open */
  uint32_t rep;       /* how many of that depth are done */
  uint32_t max_depth; /* subtrees must be shallower; UINT32_MAX for the root */
} frame;

#define MAX_LEVELS 64

struct wr_ufs_file {
  wr_ufs_params p;
  wr_ufs_sink_fn sink;
  void *arg;
  uint8_t *mem; /* LEAF_HEAD + chunk_size + LEAF_TAIL */
  uint64_t nchunks;
  int short_seen;
  wr_buf node; /* encoding buffer for inner nodes */
  uint64_t *bs;
  size_t bs_cap;
  /* balanced: one list of pending links per level */
  wr_ufs_link *levels[MAX_LEVELS];
  size_t nlev[MAX_LEVELS];
  /* trickle: the open subtrees, root first */
  frame *frames;
  size_t nframes, frames_cap;
};

int wr_ufs_file_new(const wr_ufs_params *p, wr_ufs_sink_fn sink, void *arg, wr_ufs_file **pf) {
  *pf = NULL;
  if (wr_ufs_params_check(p, NULL))
    return WR_ERR_INVAL;
  wr_ufs_file *f = wr_calloc(1, sizeof *f);
  if (!f)
    return WR_ERR_NOMEM;
  f->p = *p;
  f->sink = sink;
  f->arg = arg;
  wr_buf_init(&f->node, NODE_LIMIT);
  f->mem = wr_malloc(LEAF_HEAD + (size_t)p->chunk_size + LEAF_TAIL);
  if (!f->mem) {
    wr_ufs_file_del(f);
    return WR_ERR_NOMEM;
  }
  if (p->layout == WR_UFS_TRICKLE) {
    f->frames = wr_calloc(8, sizeof *f->frames);
    if (!f->frames) {
      wr_ufs_file_del(f);
      return WR_ERR_NOMEM;
    }
    f->frames_cap = 8;
    f->nframes = 1;
    f->frames[0].depth = 1;
    f->frames[0].max_depth = UINT32_MAX;
  }
  *pf = f;
  return 0;
}

void wr_ufs_file_del(wr_ufs_file *f) {
  if (!f)
    return;
  for (int i = 0; i < MAX_LEVELS; i++)
    wr_free(f->levels[i]);
  for (size_t i = 0; i < f->frames_cap && f->frames; i++)
    wr_free(f->frames[i].links);
  wr_free(f->frames);
  wr_free(f->bs);
  wr_buf_free(&f->node);
  wr_free(f->mem);
  wr_free(f);
}

uint8_t *wr_ufs_file_chunk_buf(wr_ufs_file *f) { return f->mem + LEAF_HEAD; }

static int emit(wr_ufs_file *f, uint32_t version, uint64_t codec, const uint8_t *block, size_t n,
                wr_cid *pcid) {
  int rv = wr_cid_sum(pcid, version, codec, block, n);
  if (rv)
    return rv;
  return f->sink(f->arg, pcid, block, n);
}

/* Makes the leaf over the n bytes at the chunk buffer. Raw leaves are the
 * bytes themselves; dag-pb leaves wrap them in place: the header goes into
 * the headroom before the data, the filesize field after it. */
static int make_leaf(wr_ufs_file *f, size_t n, wr_ufs_link *out) {
  uint8_t *data = f->mem + LEAF_HEAD;
  out->filesize = n;
  if (f->p.raw_leaves) {
    out->tsize = n;
    return emit(f, 1, WR_CODEC_RAW, data, n, &out->cid);
  }
  /* boxo's trickle makes UnixFS Raw leaves, its balanced builder File
   * leaves (ipfs-unixfs-importer: leafType 'raw' vs the default 'file'). */
  uint8_t type = f->p.layout == WR_UFS_TRICKLE ? WR_UNIXFS_RAW : WR_UNIXFS_FILE;
  size_t vn = wr_pb_varint_size(n);
  size_t inner = 2 + (n ? 1 + vn + n : 0) + 1 + vn;
  uint8_t head[LEAF_HEAD];
  size_t h = 0;
  head[h++] = 0x0a;
  h += wr_pb_varint_encode(head + h, inner);
  head[h++] = 0x08;
  head[h++] = type;
  if (n) {
    head[h++] = 0x12;
    h += wr_pb_varint_encode(head + h, n);
  }
  uint8_t *start = data - h;
  memcpy(start, head, h);
  uint8_t *tail = data + n;
  tail[0] = 0x18;
  size_t t = 1 + wr_pb_varint_encode(tail + 1, n);
  out->tsize = h + n + t;
  return emit(f, f->p.cid_version, WR_CODEC_DAG_PB, start, h + n + t, &out->cid);
}

/* Makes an inner file node over links (in order). Its Tsize is its own
 * bytes plus the links' Tsizes, its blocksizes the links' file sizes. */
static int make_node(wr_ufs_file *f, const wr_ufs_link *links, size_t n, wr_ufs_link *out) {
  if (n > f->bs_cap) {
    size_t cap = n < 64 ? 64 : n * 2;
    uint64_t *bs = wr_realloc(f->bs, cap * sizeof *bs);
    if (!bs)
      return WR_ERR_NOMEM;
    f->bs = bs;
    f->bs_cap = cap;
  }
  wr_buf_reset(&f->node);
  uint64_t filesize = 0, tsize = 0;
  int rv = 0;
  for (size_t i = 0; i < n && !rv; i++) {
    f->bs[i] = links[i].filesize;
    filesize += links[i].filesize;
    tsize += links[i].tsize;
    rv = wr_dagpb_put_link(&f->node, &links[i].cid, "", 0, &links[i].tsize);
  }
  if (rv)
    return rv;
  wr_unixfs u;
  memset(&u, 0, sizeof u);
  u.type = WR_UNIXFS_FILE;
  u.filesize = filesize;
  u.has_filesize = 1;
  u.blocksizes = f->bs;
  u.nblocksizes = n;
  /* The UnixFS message is small; encode it after the links, then wrap it
   * as the Data field. */
  wr_buf ubuf;
  wr_buf_init(&ubuf, NODE_LIMIT);
  rv = wr_unixfs_encode(&ubuf, &u);
  if (!rv)
    rv = wr_dagpb_put_data(&f->node, ubuf.data, ubuf.len);
  wr_buf_free(&ubuf);
  if (rv)
    return rv;
  out->filesize = filesize;
  out->tsize = tsize + f->node.len;
  return emit(f, f->p.cid_version, WR_CODEC_DAG_PB, f->node.data, f->node.len, &out->cid);
}

/* balanced: adds link to level i; a full level becomes a node one up. */
static int level_push(wr_ufs_file *f, int i, const wr_ufs_link *link) {
  if (i >= MAX_LEVELS)
    return WR_ERR_LIMIT;
  if (!f->levels[i]) {
    f->levels[i] = wr_malloc(f->p.max_links * sizeof(wr_ufs_link));
    if (!f->levels[i])
      return WR_ERR_NOMEM;
  }
  f->levels[i][f->nlev[i]++] = *link;
  if (f->nlev[i] < f->p.max_links)
    return 0;
  wr_ufs_link node;
  int rv = make_node(f, f->levels[i], f->nlev[i], &node);
  f->nlev[i] = 0;
  if (rv)
    return rv;
  return level_push(f, i + 1, &node);
}

static int frame_append(frame *fr, const wr_ufs_link *link) {
  if (fr->n == fr->cap) {
    size_t cap = fr->cap ? fr->cap * 2 : 64;
    wr_ufs_link *l = wr_realloc(fr->links, cap * sizeof *l);
    if (!l)
      return WR_ERR_NOMEM;
    fr->links = l;
    fr->cap = cap;
  }
  fr->links[fr->n++] = *link;
  return 0;
}

/* Closes the innermost open subtree and links it from its parent. */
static int frame_pop(wr_ufs_file *f) {
  frame *fr = &f->frames[f->nframes - 1];
  wr_ufs_link node;
  int rv = make_node(f, fr->links, fr->n, &node);
  fr->n = 0;
  f->nframes--;
  if (rv)
    return rv;
  frame *parent = &f->frames[f->nframes - 1];
  rv = frame_append(parent, &node);
  if (rv)
    return rv;
  if (++parent->rep == WR_UFS_TRICKLE_REPEAT) {
    parent->rep = 0;
    parent->depth++;
  }
  return 0;
}

/* trickle: puts a new leaf where boxo's recursive builder would put the next
 * chunk. A node first takes max_links leaves; then it opens subtrees of
 * depth 1, 2, ... (WR_UFS_TRICKLE_REPEAT of each) below its own limit; a
 * node whose every slot is used is closed and the leaf goes to its parent. */
static int trickle_place(wr_ufs_file *f, const wr_ufs_link *leaf) {
  for (;;) {
    frame *fr = &f->frames[f->nframes - 1];
    if (fr->nleaves < f->p.max_links) {
      fr->nleaves++;
      return frame_append(fr, leaf);
    }
    if (fr->depth >= fr->max_depth) {
      int rv = frame_pop(f);
      if (rv)
        return rv;
      continue;
    }
    if (f->nframes == f->frames_cap) {
      size_t cap = f->frames_cap * 2;
      frame *nf = wr_realloc(f->frames, cap * sizeof *nf);
      if (!nf)
        return WR_ERR_NOMEM;
      memset(nf + f->frames_cap, 0, (cap - f->frames_cap) * sizeof *nf);
      f->frames = nf;
      f->frames_cap = cap;
      fr = &f->frames[f->nframes - 1];
    }
    frame *child = &f->frames[f->nframes++];
    child->n = 0;
    child->nleaves = 0;
    child->depth = 1;
    child->rep = 0;
    child->max_depth = fr->depth;
  }
}

int wr_ufs_file_chunk(wr_ufs_file *f, size_t n) {
  if (n < 1 || n > f->p.chunk_size || f->short_seen)
    return WR_ERR_INVAL;
  if (n < f->p.chunk_size)
    f->short_seen = 1;
  wr_ufs_link leaf;
  int rv = make_leaf(f, n, &leaf);
  if (rv)
    return rv;
  f->nchunks++;
  if (f->p.layout == WR_UFS_TRICKLE)
    return trickle_place(f, &leaf);
  return level_push(f, 0, &leaf);
}

int wr_ufs_file_finish(wr_ufs_file *f, wr_ufs_link *proot) {
  int rv;
  if (f->p.layout == WR_UFS_TRICKLE) {
    while (f->nframes > 1) {
      frame *fr = &f->frames[f->nframes - 1];
      wr_ufs_link node;
      rv = make_node(f, fr->links, fr->n, &node);
      fr->n = 0;
      f->nframes--;
      if (rv)
        return rv;
      rv = frame_append(&f->frames[f->nframes - 1], &node);
      if (rv)
        return rv;
    }
    /* The root is always a node, even over a single leaf or none. */
    rv = make_node(f, f->frames[0].links, f->frames[0].n, proot);
    f->frames[0].n = 0;
    return rv;
  }
  if (f->nchunks == 0)
    return make_leaf(f, 0, proot);
  for (int i = 0; i < MAX_LEVELS; i++) {
    int top = -1;
    for (int j = MAX_LEVELS - 1; j >= 0; j--)
      if (f->nlev[j]) {
        top = j;
        break;
      }
    if (f->nlev[i] == 0)
      continue;
    if (i == top && f->nlev[i] == 1) {
      /* One link left at the top: that is the root (for a file of one chunk,
       * the leaf itself). */
      *proot = f->levels[i][0];
      f->nlev[i] = 0;
      return 0;
    }
    wr_ufs_link node;
    rv = make_node(f, f->levels[i], f->nlev[i], &node);
    f->nlev[i] = 0;
    if (rv)
      return rv;
    rv = level_push(f, i + 1, &node);
    if (rv)
      return rv;
  }
  return WR_ERR_LIMIT;
}

/* ------------------------------------------------------------------------ */
/* folders */

static int name_cmp(const void *a, const void *b) {
  const wr_ufs_dirent *x = a, *y = b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp(x->name, y->name, n);
  if (c)
    return c;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

uint64_t wr_ufs_dir_estimate(const wr_ufs_params *p, const wr_ufs_dirent *ents, size_t n) {
  uint64_t est = 0;
  if (p->hamt_estimate == WR_UFS_EST_BLOCK)
    est = 4; /* the Data field of a plain directory: 0a 02 08 01 */
  for (size_t i = 0; i < n; i++) {
    if (p->hamt_estimate == WR_UFS_EST_BLOCK)
      est += wr_dagpb_link_size(&ents[i].link.cid, ents[i].name_len, 1, &ents[i].link.tsize);
    else
      est += ents[i].name_len + wr_cid_encoded_size(&ents[i].link.cid);
  }
  return est;
}

static int emit_node(const wr_ufs_params *p, wr_ufs_sink_fn sink, void *arg, const wr_buf *b,
                     uint64_t child_tsize, wr_ufs_link *out) {
  int rv = wr_cid_sum(&out->cid, p->cid_version, WR_CODEC_DAG_PB, b->data, b->len);
  if (rv)
    return rv;
  out->tsize = child_tsize + b->len;
  out->filesize = 0;
  return sink(arg, &out->cid, b->data, b->len);
}

static int flat_dir(const wr_ufs_params *p, const wr_ufs_dirent *ents, size_t n,
                    wr_ufs_sink_fn sink, void *arg, wr_ufs_link *out) {
  wr_buf b;
  wr_buf_init(&b, SIZE_MAX / 2);
  uint64_t tsize = 0;
  int rv = 0;
  for (size_t i = 0; i < n && !rv; i++) {
    tsize += ents[i].link.tsize;
    rv = wr_dagpb_put_link(&b, &ents[i].link.cid, ents[i].name, ents[i].name_len,
                           &ents[i].link.tsize);
  }
  static const uint8_t dir_data[] = {0x08, WR_UNIXFS_DIRECTORY};
  if (!rv)
    rv = wr_dagpb_put_data(&b, dir_data, sizeof dir_data);
  if (!rv)
    rv = emit_node(p, sink, arg, &b, tsize, out);
  wr_buf_free(&b);
  return rv;
}

/* An entry on its way into a HAMT: its name's first 64 hash bits cached. */
typedef struct hent {
  const wr_ufs_dirent *e;
  uint64_t h1;
} hent;

static uint64_t hash_word(const char *name, size_t n, uint32_t k) {
  if (k == 0)
    return wr_murmur3_hamt64(name, n);
  /* Past the first 64 bits: hash(name || k), as ipfs-unixfs-importer's
   * InfiniteHash does. */
  uint8_t small[512];
  uint8_t *tmp = n + 1 <= sizeof small ? small : wr_malloc(n + 1);
  if (!tmp)
    return 0; /* out of memory: every name lands in slot 0; never wrong, only slow */
  memcpy(tmp, name, n);
  tmp[n] = (uint8_t)k;
  uint64_t h = wr_murmur3_hamt64(tmp, n + 1);
  if (tmp != small)
    wr_free(tmp);
  return h;
}

static uint32_t index_bits(const char *name, size_t n, uint64_t h1, uint32_t bits,
                           uint32_t depth) {
  uint64_t start = (uint64_t)depth * bits;
  if (start + bits <= 64)
    return (uint32_t)((h1 >> (64 - start - bits)) & ((UINT64_C(1) << bits) - 1));
  uint32_t idx = 0;
  for (uint32_t b = 0; b < bits; b++) {
    uint64_t pos = start + b;
    uint64_t w = pos < 64 ? h1 : hash_word(name, n, (uint32_t)(pos / 64));
    idx = (idx << 1) | (uint32_t)((w >> (63 - pos % 64)) & 1);
  }
  return idx;
}

uint32_t wr_ufs_hamt_index(const char *name, size_t n, uint32_t bits, uint32_t depth) {
  return index_bits(name, n, wr_murmur3_hamt64(name, n), bits, depth);
}

typedef struct hamt_ctx {
  const wr_ufs_params *p;
  wr_ufs_sink_fn sink;
  void *arg;
  uint32_t bits;
  int pad; /* hex digits of a slot label */
} hamt_ctx;

/* One slot of a shard node: a single entry, or a sub-shard's root. */
typedef struct slot {
  uint32_t idx;
  const wr_ufs_dirent *e; /* NULL for a sub-shard */
  wr_ufs_link sub;
} slot;

static int hent_idx_cmp(const void *a, const void *b) {
  const hent *x = a, *y = b;
  return x->h1 < y->h1 ? -1 : x->h1 > y->h1;
}

static int hamt_node(hamt_ctx *c, hent *ents, size_t n, uint32_t depth, wr_ufs_link *out) {
  uint32_t fanout = c->p->hamt_fanout;
  slot *slots = wr_malloc((n < fanout ? n : fanout) * sizeof *slots);
  uint32_t *idx = wr_malloc(n * sizeof *idx);
  hent *tmp = wr_malloc(n * sizeof *tmp);
  size_t nslots = 0;
  int rv = 0;
  wr_buf b;
  wr_buf_init(&b, SIZE_MAX / 2);
  if (!slots || !idx || !tmp) {
    rv = WR_ERR_NOMEM;
    goto out;
  }
  /* Group the entries by slot with a stable counting sort. */
  {
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++) {
      idx[i] = index_bits(ents[i].e->name, ents[i].e->name_len, ents[i].h1, c->bits, depth);
      count[idx[i] + 1]++;
    }
    for (uint32_t s = 0; s < fanout; s++)
      count[s + 1] += count[s];
    size_t pos[257];
    memcpy(pos, count, sizeof pos);
    for (size_t i = 0; i < n; i++)
      tmp[pos[idx[i]]++] = ents[i];
    memcpy(ents, tmp, n * sizeof *ents);
    for (uint32_t s = 0; s < fanout && !rv; s++) {
      size_t k = count[s + 1] - count[s];
      if (k == 0)
        continue;
      slot *sl = &slots[nslots++];
      sl->idx = s;
      if (k == 1) {
        sl->e = ents[count[s]].e;
      } else {
        sl->e = NULL;
        rv = hamt_node(c, ents + count[s], k, depth + 1, &sl->sub);
      }
    }
  }
  if (rv)
    goto out;
  uint64_t tsize = 0;
  uint8_t bitfield[32];
  memset(bitfield, 0, sizeof bitfield);
  size_t bf_len = fanout / 8;
  char label[8];
  for (size_t i = 0; i < nslots && !rv; i++) {
    slot *sl = &slots[i];
    for (int d = c->pad - 1, v = (int)sl->idx; d >= 0; d--, v >>= 4)
      label[d] = "0123456789ABCDEF"[v & 15];
    /* go and JS store the bitfield as a big-endian integer. */
    bitfield[bf_len - 1 - sl->idx / 8] |= (uint8_t)(1u << (sl->idx % 8));
    if (sl->e) {
      size_t nl = (size_t)c->pad + sl->e->name_len;
      char *name = wr_malloc(nl);
      if (!name) {
        rv = WR_ERR_NOMEM;
        break;
      }
      memcpy(name, label, (size_t)c->pad);
      memcpy(name + c->pad, sl->e->name, sl->e->name_len);
      rv = wr_dagpb_put_link(&b, &sl->e->link.cid, name, nl, &sl->e->link.tsize);
      wr_free(name);
      tsize += sl->e->link.tsize;
    } else {
      rv = wr_dagpb_put_link(&b, &sl->sub.cid, label, (size_t)c->pad, &sl->sub.tsize);
      tsize += sl->sub.tsize;
    }
  }
  if (rv)
    goto out;
  /* Leading zero bytes are dropped, as big.Int.Bytes() and the JS
   * sparse-array bitfield do. */
  size_t skip = 0;
  while (skip + 1 < bf_len && bitfield[skip] == 0)
    skip++;
  wr_unixfs u;
  memset(&u, 0, sizeof u);
  u.type = WR_UNIXFS_HAMTSHARD;
  u.data = bitfield + skip;
  u.data_len = bf_len - skip;
  u.has_data = 1;
  u.hash_type = WR_UFS_HAMT_HASH_MURMUR3;
  u.has_hash_type = 1;
  u.fanout = fanout;
  u.has_fanout = 1;
  {
    wr_buf ub;
    wr_buf_init(&ub, 4096);
    rv = wr_unixfs_encode(&ub, &u);
    if (!rv)
      rv = wr_dagpb_put_data(&b, ub.data, ub.len);
    wr_buf_free(&ub);
  }
  if (!rv)
    rv = emit_node(c->p, c->sink, c->arg, &b, tsize, out);
out:
  wr_buf_free(&b);
  wr_free(slots);
  wr_free(idx);
  wr_free(tmp);
  return rv;
}

int wr_ufs_dir_build(const wr_ufs_params *p, wr_ufs_dirent *ents, size_t n, wr_ufs_sink_fn sink,
                     void *arg, wr_ufs_link *proot, int *psharded) {
  if (psharded)
    *psharded = 0;
  if (wr_ufs_params_check(p, NULL))
    return WR_ERR_INVAL;
  for (size_t i = 0; i < n; i++)
    if (ents[i].name_len == 0 || memchr(ents[i].name, '/', ents[i].name_len))
      return WR_ERR_INVAL;
  if (n > 1)
    qsort(ents, n, sizeof *ents, name_cmp);
  for (size_t i = 1; i < n; i++)
    if (name_cmp(&ents[i - 1], &ents[i]) == 0)
      return WR_ERR_INVAL;
  if (!p->hamt_threshold || n == 0 || wr_ufs_dir_estimate(p, ents, n) <= p->hamt_threshold)
    return flat_dir(p, ents, n, sink, arg, proot);

  if (psharded)
    *psharded = 1;
  hamt_ctx c = {.p = p, .sink = sink, .arg = arg};
  while ((1u << c.bits) < p->hamt_fanout)
    c.bits++;
  /* Hex digits of the largest slot label (fanout 256: "FF", 2). */
  for (uint32_t v = p->hamt_fanout - 1; v; v >>= 4)
    c.pad++;
  hent *h = wr_malloc(n * sizeof *h);
  if (!h)
    return WR_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    h[i].e = &ents[i];
    h[i].h1 = wr_murmur3_hamt64(ents[i].name, ents[i].name_len);
  }
  /* Sorting by the hash first keeps every shard's groups contiguous; the
   * counting sort in hamt_node then only reorders within a node. */
  qsort(h, n, sizeof *h, hent_idx_cmp);
  int rv = hamt_node(&c, h, n, 0, proot);
  wr_free(h);
  return rv;
}

int wr_ufs_symlink_build(const wr_ufs_params *p, const char *target, size_t n,
                         wr_ufs_sink_fn sink, void *arg, wr_ufs_link *proot) {
  wr_unixfs u;
  memset(&u, 0, sizeof u);
  u.type = WR_UNIXFS_SYMLINK;
  if (n) {
    u.data = (const uint8_t *)target;
    u.data_len = n;
    u.has_data = 1;
  }
  wr_buf ub, b;
  wr_buf_init(&ub, SIZE_MAX / 2);
  wr_buf_init(&b, SIZE_MAX / 2);
  int rv = wr_unixfs_encode(&ub, &u);
  if (!rv)
    rv = wr_dagpb_put_data(&b, ub.data, ub.len);
  if (!rv)
    rv = emit_node(p, sink, arg, &b, 0, proot);
  wr_buf_free(&ub);
  wr_buf_free(&b);
  return rv;
}
