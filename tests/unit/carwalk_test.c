/* carwalk_test.c: gateway/carwalk against DAGs the importer builds in a
 * temporary repo (1000-byte chunks, 4 links a node, HAMT fanout 8, so the
 * file is three levels deep and the folder has sub-shards): the all-scope
 * order equals store/dag's walk (dag export's order), dups=y repeats what
 * dups=n skips, an entity range sends exactly the blocks the exporter reads
 * for that range, a HAMT entity is its shard nodes, a walk resumed across
 * transactions is the same walk, and a missing block names itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/exporter.h"
#include "content/importer.h"
#include "gateway/carwalk.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "store/dag.h"
#include "store/repo.h"
#include "store_testutil.h"
#include "test.h"

#define CHUNK 1000
#define BIG_LEN (37 * CHUNK + 123)
#define MAXB 512

static char dir[4096], tree[4200];
static wr_repo *repo;
static wr_cid root, big, zeros, many;

static void build(void) {
  tmpdir_make(dir, sizeof dir);
  snprintf(tree, sizeof tree, "%s/t", dir);
  testfs_mkdir(tree, "");
  testfs_mkdir(tree, "many");
  static uint8_t b[BIG_LEN], z[8 * CHUNK];
  for (size_t i = 0; i < BIG_LEN; i++)
    b[i] = (uint8_t)(i * 131 + (i >> 7));
  testfs_write(tree, "big.bin", b, BIG_LEN);
  testfs_write(tree, "zeros.bin", z, sizeof z);
  for (int i = 0; i < 50; i++) {
    char name[32];
    snprintf(name, sizeof name, "many/e-%02d", i);
    testfs_write(tree, name, name, strlen(name));
  }
  char p[4300];
  snprintf(p, sizeof p, "%s/repo", dir);
  CHECK_EQ(wr_repo_open(p, WR_REPO_SHARED, &repo), 0);
  wr_ufs_params up;
  wr_ufs_params_default(&up);
  up.chunk_size = CHUNK;
  up.max_links = 4;
  up.hamt_threshold = 200;
  up.hamt_fanout = 8;
  wr_importer *im = NULL;
  CHECK_EQ(wr_importer_new(repo->bs, &up, &im, NULL), 0);
  wr_ufs_link l;
  CHECK_EQ(wr_importer_add_path(im, tree, WR_IMPORT_RECURSIVE, &l), 0);
  CHECK_EQ(wr_importer_commit(im, &l.cid, 1), 0);
  wr_importer_del(im);
  root = l.cid;
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  char s[WR_CID_MAX_STR], q[600];
  CHECK(wr_cid_format(&root, 0, s, sizeof s) > 0);
  snprintf(q, sizeof q, "%s/big.bin", s);
  CHECK_EQ(wr_export_resolve(&ex, q, &big), 0);
  snprintf(q, sizeof q, "%s/zeros.bin", s);
  CHECK_EQ(wr_export_resolve(&ex, q, &zeros), 0);
  snprintf(q, sizeof q, "%s/many", s);
  CHECK_EQ(wr_export_resolve(&ex, q, &many), 0);
  wr_export_end(&ex);
}

typedef struct list {
  wr_cid c[MAXB];
  size_t n;
} list;

static int collect_visit(void *arg, const wr_cid *cid, const uint8_t *b, size_t len) {
  (void)b;
  (void)len;
  list *l = arg;
  if (l->n < MAXB)
    l->c[l->n++] = *cid;
  return 0;
}

/* Runs a walk to its end, one read transaction per step when fresh_txn. */
static int run(const wr_cid *from, const wr_carwalk_config *cfg, list *out, int fresh_txn,
               wr_cid *pbad) {
  wr_carwalk *w = NULL;
  CHECK_EQ(wr_carwalk_new(&w, from, cfg), 0);
  out->n = 0;
  wr_bs_txn *txn = NULL;
  wr_bs_blocks src;
  int rc;
  for (;;) {
    if (!txn) {
      CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn), 0);
      wr_carwalk_new_session(w);
    }
    wr_cid c;
    const uint8_t *d;
    size_t len;
    rc = wr_carwalk_next(w, wr_bs_blocks_init(&src, txn), &c, &d, &len, pbad);
    if (rc == 1) {
      CHECK_EQ(wr_cid_verify(&c, d, len), 0);
      if (out->n < MAXB)
        out->c[out->n++] = c;
    }
    if (fresh_txn || rc != 1) {
      wr_bs_txn_abort(txn);
      txn = NULL;
    }
    if (rc != 1)
      break;
  }
  wr_carwalk_del(w);
  return rc;
}

static int same(const list *a, const list *b) {
  if (a->n != b->n)
    return 0;
  for (size_t i = 0; i < a->n; i++)
    if (!wr_cid_equal(&a->c[i], &b->c[i]))
      return 0;
  return 1;
}

static int has(const list *l, const wr_cid *c) {
  for (size_t i = 0; i < l->n; i++)
    if (wr_cid_equal(&l->c[i], c))
      return 1;
  return 0;
}

static void test_all_is_dag_export_order(void) {
  static list got, ref;
  wr_carwalk_config cfg = {.scope = WR_GW_SCOPE_ALL};
  CHECK_EQ(run(&root, &cfg, &got, 0, NULL), 0);
  wr_bs_txn *txn;
  wr_bs_blocks src;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn), 0);
  ref.n = 0;
  CHECK_EQ(wr_dag_walk(wr_bs_blocks_init(&src, txn), &root, NULL, 0, collect_visit, &ref, NULL), 0);
  wr_bs_txn_abort(txn);
  CHECK(ref.n > 40);
  CHECK(same(&got, &ref));
  /* the same walk, resumed in a fresh transaction after every block */
  static list again;
  CHECK_EQ(run(&root, &cfg, &again, 1, NULL), 0);
  CHECK(same(&again, &ref));
}

static void test_dups(void) {
  static list n, y;
  wr_carwalk_config cfg = {.scope = WR_GW_SCOPE_ALL};
  CHECK_EQ(run(&zeros, &cfg, &n, 0, NULL), 0);
  cfg.dups = 1;
  CHECK_EQ(run(&zeros, &cfg, &y, 0, NULL), 0);
  /* 8 identical leaves under 2 identical nodes of 4, under the root */
  CHECK_EQ(n.n, 3);
  CHECK_EQ(y.n, 11);
}

/* A source that records what it is asked for. */
typedef struct rec {
  wr_blocks base;
  wr_blocks *inner;
  list *l;
} rec;

static int rec_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pd, size_t *pl) {
  rec *r = (rec *)b;
  if (!has(r->l, cid) && r->l->n < MAXB)
    r->l->c[r->l->n++] = *cid;
  return wr_blocks_get(r->inner, cid, pd, pl);
}

static int rec_size(wr_blocks *b, const wr_cid *cid, size_t *pl) {
  return wr_blocks_size(((rec *)b)->inner, cid, pl);
}

static const wr_blocks_ops rec_ops = {"rec", rec_get, rec_size, NULL};

static int discard(void *arg, const uint8_t *p, size_t n) {
  (void)arg;
  (void)p;
  (void)n;
  return 0;
}

static void test_entity_ranges(void) {
  static list whole, got, read;
  wr_carwalk_config cfg = {.scope = WR_GW_SCOPE_ENTITY};
  static list all;
  wr_carwalk_config acfg = {.scope = WR_GW_SCOPE_ALL};
  CHECK_EQ(run(&big, &cfg, &whole, 0, NULL), 0);
  CHECK_EQ(run(&big, &acfg, &all, 0, NULL), 0);
  CHECK(same(&whole, &all)); /* a file's entity is its whole DAG */
  static const uint64_t ranges[][2] = {
      {0, 0}, {999, 1000}, {5000, 17999}, {BIG_LEN - 1, BIG_LEN - 1}, {0, BIG_LEN - 1}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    cfg.has_range = 1;
    cfg.first = ranges[i][0];
    cfg.last = ranges[i][1];
    CHECK_EQ(run(&big, &cfg, &got, 0, NULL), 0);
    /* the exporter reads exactly the blocks on the way to the range */
    wr_export ex;
    CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
    read.n = 0;
    rec r = {.base = {&rec_ops}, .inner = ex.blocks, .l = &read};
    ex.blocks = &r.base;
    CHECK_EQ(wr_export_cat(&ex, &big, cfg.first, cfg.last - cfg.first + 1, discard, NULL), 0);
    wr_export_end(&ex);
    CHECK_EQ(got.n, read.n);
    for (size_t k = 0; k < read.n; k++)
      CHECK(has(&got, &read.c[k]));
  }
}

static void test_hamt_entity_and_block(void) {
  static list got;
  wr_carwalk_config cfg = {.scope = WR_GW_SCOPE_ENTITY};
  CHECK_EQ(run(&many, &cfg, &got, 0, NULL), 0);
  CHECK(got.n > 1); /* sub-shards */
  wr_bs_txn *txn;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn), 0);
  for (size_t i = 0; i < got.n; i++) {
    const uint8_t *d;
    size_t len;
    wr_dagpb_node pb;
    wr_unixfs u;
    CHECK_EQ(wr_bs_txn_get_cid(txn, &got.c[i], &d, &len), 0);
    CHECK_EQ(wr_dagpb_decode(d, len, &pb, NULL), 0);
    CHECK_EQ(wr_unixfs_decode(pb.data, pb.data_len, &u, NULL), 0);
    CHECK_EQ(u.type, WR_UNIXFS_HAMTSHARD);
  }
  wr_bs_txn_abort(txn);
  cfg.scope = WR_GW_SCOPE_BLOCK;
  CHECK_EQ(run(&root, &cfg, &got, 0, NULL), 0);
  CHECK(got.n == 1 && wr_cid_equal(&got.c[0], &root));
}

static void test_missing_block(void) {
  /* the last leaf of big.bin goes; the walk stops there and names it */
  static list all;
  wr_carwalk_config cfg = {.scope = WR_GW_SCOPE_ALL};
  CHECK_EQ(run(&big, &cfg, &all, 0, NULL), 0);
  wr_cid leaf = all.c[all.n - 1];
  wr_bs_txn *txn;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &txn), 0);
  CHECK_EQ(wr_bs_txn_rm_cid(txn, &leaf), 0);
  CHECK_EQ(wr_bs_txn_commit(txn), 0);
  static list got;
  wr_cid bad;
  CHECK_EQ(run(&big, &cfg, &got, 0, &bad), WR_ERR_NOTFOUND);
  CHECK(wr_cid_equal(&bad, &leaf));
  CHECK_EQ(got.n, all.n - 1);
}

int main(void) {
  build();
  RUN(test_all_is_dag_export_order);
  RUN(test_dups);
  RUN(test_entity_ranges);
  RUN(test_hamt_entity_and_block);
  RUN(test_missing_block);
  wr_repo_close(repo);
  tmpdir_remove(dir);
  return test_done();
}
