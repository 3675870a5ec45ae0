/* pinning.c: pin policy over store/pin and store/dag walks. */
#include "content/pinning.h"

#include <string.h>

#include "store/dag.h"

int wr_pinning_add_txn(wr_bs_txn *txn, const wr_cid *cid, wr_pin_type type, wr_pinning_fault *pf) {
  wr_pinning_fault spare;
  if (!pf)
    pf = &spare;
  memset(pf, 0, sizeof *pf);
  wr_bs_blocks src;
  unsigned flags = WR_DAG_NO_RAW_READ;
  if (type == WR_PIN_DIRECT)
    flags |= WR_DAG_ROOT_ONLY | WR_DAG_OPAQUE_OK;
  int rc = wr_dag_walk(wr_bs_blocks_init(&src, txn), cid, NULL, flags, NULL, NULL, &pf->block);
  if (rc != 0) {
    pf->walk = 1;
    pf->root = *cid;
    return rc;
  }
  return wr_pin_put_cid(txn, cid, type);
}

int wr_pinning_add(wr_bs *bs, const wr_cid *cid, wr_pin_type type, wr_pinning_fault *pf) {
  wr_bs_txn *t;
  if (pf)
    memset(pf, 0, sizeof *pf);
  int rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t);
  if (rc != 0)
    return rc;
  /* The check and the pin share the transaction, so the pin exists only
   * over blocks that were all there. */
  if ((rc = wr_pinning_add_txn(t, cid, type, pf)) != 0) {
    wr_bs_txn_abort(t);
    return rc;
  }
  return wr_bs_txn_commit(t);
}

int wr_pinning_rm(wr_bs *bs, const wr_cid *cid) {
  wr_bs_txn *t;
  int rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t);
  if (rc != 0)
    return rc;
  if ((rc = wr_pin_rm_cid(t, cid)) != 0) {
    wr_bs_txn_abort(t);
    return rc;
  }
  return wr_bs_txn_commit(t);
}

/* --- list and find ------------------------------------------------------ */

/* One pass over the pins, then one walk per recursive pin. With want set the
 * passes look for that CID instead of reporting. */
typedef struct scan {
  wr_blocks *blocks;
  unsigned show;
  wr_pinning_list_fn fn;
  void *arg;
  wr_dag_set *roots;   /* keys of recursive pin roots: never reported as indirect */
  wr_dag_set *printed; /* indirect keys already reported */
  const wr_cid *want;
  int found; /* 0 or the kind want was found as */
  wr_cid found_root;
  int stopped; /* fn's non-zero value, or a set error, that stopped a walk */
  wr_pinning_fault *pf;
} scan;

static int scan_pin(void *arg, const uint8_t *key, size_t keylen, wr_pin_type type) {
  scan *s = arg;
  wr_cid cid;
  if (wr_cid_from_bytes(key, keylen, &cid, NULL) != 0)
    return 0; /* not a CID: gc reports it; listing skips it */
  if (type == WR_PIN_RECURSIVE) {
    uint8_t k[WR_MH_MAX_BYTES];
    int n = wr_bs_key(&cid, k);
    if (n > 0 && wr_dag_set_add(s->roots, k, (size_t)n) < 0)
      return WR_ERR_NOMEM;
  }
  if (s->want) {
    if (wr_cid_equal(&cid, s->want))
      s->found = (int)type;
    return 0;
  }
  if ((type == WR_PIN_DIRECT && (s->show & WR_PINNING_SHOW_DIRECT)) ||
      (type == WR_PIN_RECURSIVE && (s->show & WR_PINNING_SHOW_RECURSIVE)))
    return s->fn(s->arg, &cid, (int)type);
  return 0;
}

static int scan_block(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  (void)block;
  (void)len;
  scan *s = arg;
  uint8_t k[WR_MH_MAX_BYTES];
  int n = wr_bs_key(cid, k);
  if (n <= 0 || wr_dag_set_has(s->roots, k, (size_t)n))
    return 0;
  if (s->want) {
    if (wr_cid_same_block(cid, s->want) || wr_cid_equal(cid, s->want)) {
      s->found = WR_PINNING_INDIRECT;
      return 1;
    }
    return 0;
  }
  int rc = wr_dag_set_add(s->printed, k, (size_t)n);
  if (rc == 1)
    rc = s->fn(s->arg, cid, WR_PINNING_INDIRECT);
  if (rc != 0)
    s->stopped = rc;
  return rc;
}

static int scan_indirect(void *arg, const uint8_t *key, size_t keylen, wr_pin_type type) {
  scan *s = arg;
  wr_cid cid, bad;
  if (type != WR_PIN_RECURSIVE || wr_cid_from_bytes(key, keylen, &cid, NULL) != 0)
    return 0;
  /* Opaque codecs are listed as leaves: listing needs no completeness. */
  int rc = wr_dag_walk(s->blocks, &cid, NULL, WR_DAG_NO_RAW_READ | WR_DAG_OPAQUE_OK, scan_block, s,
                       &bad);
  if (rc == 0 || s->stopped)
    return s->stopped;
  if (s->want && rc == 1) {
    s->found_root = cid;
    return 1;
  }
  s->pf->walk = 1;
  s->pf->root = cid;
  s->pf->block = bad;
  return rc;
}

/* Runs the passes show (or want) asks for in one read transaction. */
static int run_scan(wr_bs *bs, scan *s) {
  wr_bs_txn *t = NULL;
  wr_bs_blocks src;
  int rc;
  if ((rc = wr_dag_set_new(&s->roots)) != 0 || (rc = wr_dag_set_new(&s->printed)) != 0 ||
      (rc = wr_bs_txn_begin(bs, WR_BS_READ, &t)) != 0)
    goto out;
  s->blocks = wr_bs_blocks_init(&src, t);
  if ((rc = wr_pin_iter(t, scan_pin, s)) != 0)
    goto out;
  if (s->want ? !s->found : (s->show & WR_PINNING_SHOW_INDIRECT) != 0)
    rc = wr_pin_iter(t, scan_indirect, s);
out:
  wr_bs_txn_abort(t);
  wr_dag_set_del(s->roots);
  wr_dag_set_del(s->printed);
  return rc;
}

int wr_pinning_list(wr_bs *bs, unsigned show, wr_pinning_list_fn fn, void *arg,
                    wr_pinning_fault *pf) {
  wr_pinning_fault spare;
  scan s = {.show = show, .fn = fn, .arg = arg, .pf = pf ? pf : &spare};
  memset(s.pf, 0, sizeof *s.pf);
  return run_scan(bs, &s);
}

int wr_pinning_find(wr_bs *bs, const wr_cid *cid, int *pkind, wr_cid *proot, wr_pinning_fault *pf) {
  wr_pinning_fault spare;
  scan s = {.want = cid, .pf = pf ? pf : &spare};
  memset(s.pf, 0, sizeof *s.pf);
  int rc = run_scan(bs, &s);
  if (rc < 0)
    return rc;
  *pkind = s.found;
  if (proot && s.found == WR_PINNING_INDIRECT)
    *proot = s.found_root;
  return 0;
}
