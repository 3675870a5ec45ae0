#include "store/dag.h"

#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/ipld/dagcbor.h"
#include "proto/ipld/dagjson.h"
#include "proto/ipld/dagpb.h"

/* --- the set: open addressing over an arena of encoded multihashes ------ */

typedef struct slot {
  uint64_t hash; /* 0 = empty */
  uint64_t off;  /* offset of the key in the arena */
  uint32_t len;
} slot;

struct wr_dag_set {
  slot *slots;
  size_t nslots; /* power of two */
  size_t count;
  wr_buf arena;
};

/* FNV-1a, then forced non-zero (0 marks an empty slot). Keys are mostly
 * cryptographic digests, so a simple hash spreads them well. */
static uint64_t key_hash(const uint8_t *p, size_t n) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h ? h : 1;
}

int wr_dag_set_new(wr_dag_set **pset) {
  wr_dag_set *s = wr_calloc(1, sizeof *s);
  if (!s)
    return WR_ERR_NOMEM;
  s->nslots = 1024;
  if (!(s->slots = wr_calloc(s->nslots, sizeof *s->slots))) {
    wr_free(s);
    return WR_ERR_NOMEM;
  }
  wr_buf_init(&s->arena, (size_t)WR_DAG_SET_MAX * 64);
  *pset = s;
  return 0;
}

void wr_dag_set_del(wr_dag_set *set) {
  if (!set)
    return;
  wr_buf_free(&set->arena);
  wr_free(set->slots);
  wr_free(set);
}

static slot *find(const wr_dag_set *s, uint64_t h, const uint8_t *mh, size_t mhlen) {
  size_t mask = s->nslots - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    slot *e = &s->slots[i];
    if (e->hash == 0 ||
        (e->hash == h && e->len == mhlen && memcmp(s->arena.data + e->off, mh, mhlen) == 0))
      return e;
  }
}

static int grow(wr_dag_set *s) {
  size_t n = s->nslots * 2;
  slot *fresh = wr_calloc(n, sizeof *fresh);
  if (!fresh)
    return WR_ERR_NOMEM;
  for (size_t i = 0; i < s->nslots; i++) {
    slot *e = &s->slots[i];
    if (!e->hash)
      continue;
    size_t j = (size_t)e->hash & (n - 1);
    while (fresh[j].hash)
      j = (j + 1) & (n - 1);
    fresh[j] = *e;
  }
  wr_free(s->slots);
  s->slots = fresh;
  s->nslots = n;
  return 0;
}

int wr_dag_set_add(wr_dag_set *set, const uint8_t *mh, size_t mhlen) {
  uint64_t h = key_hash(mh, mhlen);
  slot *e = find(set, h, mh, mhlen);
  if (e->hash)
    return 0;
  if (set->count >= WR_DAG_SET_MAX)
    return WR_ERR_LIMIT;
  int rc;
  if ((set->count + 1) * 4 > set->nslots * 3) { /* keep the load under 3/4 */
    if ((rc = grow(set)) != 0)
      return rc;
    e = find(set, h, mh, mhlen);
  }
  uint64_t off = set->arena.len;
  if ((rc = wr_buf_append(&set->arena, mh, mhlen)) != 0)
    return rc;
  e->hash = h;
  e->off = off;
  e->len = (uint32_t)mhlen;
  set->count++;
  return 1;
}

int wr_dag_set_has(const wr_dag_set *set, const uint8_t *mh, size_t mhlen) {
  return find(set, key_hash(mh, mhlen), mh, mhlen)->hash != 0;
}

size_t wr_dag_set_count(const wr_dag_set *set) { return set->count; }

/* --- the walk ----------------------------------------------------------- */

/* Most CIDs waiting on the stack: the fan-out summed along one path. A
 * balanced file tree needs 174 per level; a HAMT shard 256. */
#define STACK_MAX (1u << 22)

typedef struct stack {
  wr_cid *items;
  size_t len, cap;
} stack;

static int push(stack *s, const wr_cid *c) {
  if (s->len == s->cap) {
    if (s->cap >= STACK_MAX)
      return WR_ERR_LIMIT;
    size_t n = s->cap ? s->cap * 2 : 64;
    wr_cid *p = wr_realloc(s->items, n * sizeof *p);
    if (!p)
      return WR_ERR_NOMEM;
    s->items = p;
    s->cap = n;
  }
  s->items[s->len++] = *c;
  return 0;
}

static int push_link(void *arg, const wr_cid *cid) { return push(arg, cid); }

/* Codecs whose blocks never hold IPLD links: raw bytes, plain CBOR and JSON
 * (only their dag- variants have links), and libp2p public keys. */
static int no_links(uint64_t codec) {
  return codec == WR_CODEC_RAW || codec == 0x51 /* cbor */ || codec == 0x0200 /* json */ ||
         codec == WR_CODEC_LIBP2P_KEY;
}

int wr_dag_walk(wr_blocks *blocks, const wr_cid *root, wr_dag_set *seen, unsigned flags,
                wr_dag_visit_fn fn, void *arg, wr_cid *pbad) {
  stack st = {0};
  wr_dag_set *own = NULL;
  int rc;
  if (!seen) {
    if ((rc = wr_dag_set_new(&own)) != 0)
      return rc;
    seen = own;
  }
  if ((rc = push(&st, root)) != 0)
    goto out;
  while (st.len > 0) {
    wr_cid cid = st.items[--st.len];
    uint8_t key[WR_MH_MAX_BYTES];
    int klen = wr_mh_encode(&cid.mh, key, sizeof key);
    if (klen < 0) {
      rc = WR_ERR_MALFORMED;
      goto bad;
    }
    if ((rc = wr_dag_set_add(seen, key, (size_t)klen)) < 0)
      goto bad;
    if (rc == 0)
      continue; /* seen before: its subtree too */
    const uint8_t *block = NULL;
    size_t len = 0;
    if (no_links(cid.codec) && (flags & WR_DAG_NO_RAW_READ))
      rc = wr_blocks_size(blocks, &cid, &len);
    else
      rc = wr_blocks_get(blocks, &cid, &block, &len);
    if (rc != 0)
      goto bad;
    if (!no_links(cid.codec) && cid.codec != WR_CODEC_DAG_PB &&
        cid.codec != WR_CODEC_DAG_CBOR && cid.codec != WR_CODEC_DAG_JSON &&
        !(flags & WR_DAG_OPAQUE_OK)) {
      rc = WR_ERR_UNSUPPORTED;
      goto bad;
    }
    if (fn && (rc = fn(arg, &cid, block, len)) != 0)
      goto out;
    if (flags & WR_DAG_ROOT_ONLY)
      continue;
    /* Push the children, then reverse them on the stack so the first link
     * pops first (pre-order, link order). */
    size_t first = st.len;
    if (cid.codec == WR_CODEC_DAG_CBOR || cid.codec == WR_CODEC_DAG_JSON) {
      rc = cid.codec == WR_CODEC_DAG_CBOR ? wr_dagcbor_links(block, len, push_link, &st, NULL)
                                          : wr_dagjson_links(block, len, push_link, &st, NULL);
      if (rc != 0) {
        if (rc == WR_ERR_NOMEM)
          goto out;
        if (rc != WR_ERR_LIMIT)
          rc = WR_ERR_MALFORMED;
        goto bad;
      }
    } else if (cid.codec == WR_CODEC_DAG_PB) {
      wr_dagpb_node node;
      wr_dagpb_iter it;
      wr_dagpb_link link;
      if ((rc = wr_dagpb_decode(block, len, &node, NULL)) != 0) {
        rc = WR_ERR_MALFORMED;
        goto bad;
      }
      wr_dagpb_iter_init(&it, &node);
      while ((rc = wr_dagpb_iter_next(&it, &link, NULL)) == 1)
        if ((rc = push(&st, &link.cid)) != 0)
          goto out;
      if (rc < 0) {
        rc = WR_ERR_MALFORMED;
        goto bad;
      }
    } else {
      continue;
    }
    for (size_t i = first, j = st.len; i + 1 < j; i++, j--) {
      wr_cid tmp = st.items[i];
      st.items[i] = st.items[j - 1];
      st.items[j - 1] = tmp;
    }
    continue;
  bad:
    if (pbad)
      *pbad = cid;
    goto out;
  }
  rc = 0;
out:
  wr_free(st.items);
  wr_dag_set_del(own);
  return rc;
}
