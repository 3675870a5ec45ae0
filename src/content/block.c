/* block.c: block put and rm policy over the blocks seam, store/pin and
 * store/dag walks. */
#include "content/block.h"

#include <string.h>

#include "proto/ipld/dagpb.h"
#include "store/dag.h"
#include "store/pin.h"

int wr_block_check(uint64_t codec, const void *data, size_t len, wr_cid *pcid,
                   const char **preason) {
  if (codec == WR_CODEC_DAG_PB) {
    wr_dagpb_node node;
    const char *why = NULL;
    if (wr_dagpb_decode(data, len, &node, &why) != 0) {
      if (preason)
        *preason = why ? why : "malformed";
      return WR_ERR_MALFORMED;
    }
  } else if (codec != WR_CODEC_RAW) {
    if (preason)
      *preason = "only raw and dag-pb blocks can be put";
    return WR_ERR_UNSUPPORTED;
  }
  return wr_cid_sum(pcid, 1, codec, data, len);
}

int wr_block_put(wr_bs *bs, const wr_cid *cid, const void *data, size_t len, int pin,
                 wr_pinning_fault *pf) {
  wr_bs_txn *t;
  wr_bs_blocks src;
  if (pf)
    memset(pf, 0, sizeof *pf);
  int rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t);
  if (rc != 0)
    return rc;
  /* Trusted: the caller hashed these bytes to make cid. */
  rc = wr_blocks_put(wr_bs_blocks_init(&src, t), cid, data, len, WR_BLOCKS_TRUSTED);
  if (rc == 0 && pin) {
    /* A dag-pb block pins its DAG, whose links must all be here. */
    wr_pin_type type = cid->codec == WR_CODEC_DAG_PB ? WR_PIN_RECURSIVE : WR_PIN_DIRECT;
    rc = wr_pinning_add_txn(t, cid, type, pf);
    if (rc == WR_ERR_EXISTS)
      rc = 0; /* already pinned recursively: that keeps it too */
  }
  if (rc != 0) {
    wr_bs_txn_abort(t);
    return rc;
  }
  return wr_bs_txn_commit(t);
}

/* --- rm ------------------------------------------------------------------ */

/* Looks for the key through the pins: stops the pin iteration with 1 when a
 * pin needs it (or might). */
typedef struct pinned_ctx {
  wr_blocks *blocks;
  const uint8_t *key;
  size_t keylen;
  wr_block_pinned *out;
} pinned_ctx;

static int same_key(const pinned_ctx *p, const wr_cid *cid) {
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  return n > 0 && (size_t)n == p->keylen && memcmp(k, p->key, p->keylen) == 0;
}

static int find_key(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  (void)block;
  (void)len;
  return same_key(arg, cid) ? 1 : 0;
}

static int check_pin(void *arg, const uint8_t *cidb, size_t cidlen, wr_pin_type type) {
  pinned_ctx *p = arg;
  wr_cid root;
  if (wr_cid_from_bytes(cidb, cidlen, &root, NULL) != 0)
    return 0;
  /* A recursive pin through a codec warren cannot follow may hide the block:
   * that walk fails with UNSUPPORTED and the removal is refused below. */
  unsigned flags = WR_DAG_NO_RAW_READ;
  if (type == WR_PIN_DIRECT)
    flags |= WR_DAG_ROOT_ONLY | WR_DAG_OPAQUE_OK;
  int rc = wr_dag_walk(p->blocks, &root, NULL, flags, find_key, p, NULL);
  if (rc == 0 || rc == WR_ERR_NOTFOUND)
    return 0; /* a DAG missing blocks cannot hold this one through them */
  p->out->root = root;
  p->out->type = type;
  p->out->self = same_key(p, &root);
  /* A pinned DAG we cannot walk might contain the block: refuse to guess. */
  p->out->err = rc < 0 ? rc : 0;
  return 1;
}

int wr_block_rm(wr_bs *bs, const wr_cid *cid, wr_block_pinned *pp) {
  wr_block_pinned spare;
  uint8_t key[WR_MH_MAX_BYTES];
  wr_bs_txn *t = NULL;
  wr_bs_blocks src;
  if (!pp)
    pp = &spare;
  memset(pp, 0, sizeof *pp);
  int klen = wr_bs_key(cid, key);
  if (klen < 0)
    return klen;
  int rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t);
  if (rc != 0)
    return rc;
  pinned_ctx p = {wr_bs_blocks_init(&src, t), key, (size_t)klen, pp};
  if ((rc = wr_bs_txn_has(t, key, p.keylen)) <= 0) {
    rc = rc == 0 ? WR_ERR_NOTFOUND : rc;
    goto fail;
  }
  if ((rc = wr_pin_iter(t, check_pin, &p)) != 0) {
    rc = rc == 1 ? WR_ERR_DENIED : rc;
    goto fail;
  }
  if ((rc = wr_bs_txn_rm(t, key, p.keylen)) != 0)
    goto fail;
  return wr_bs_txn_commit(t);
fail:
  wr_bs_txn_abort(t);
  return rc;
}
