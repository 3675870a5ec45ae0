/* prefetch_test.c: gateway/prefetch reads, through a recording source over
 * a temporary repo the importer filled, exactly the blocks each kind of
 * response reads: the path's blocks, then a file's whole DAG, one block for
 * raw and CAR block scope, a folder's index.html DAG, a listing's HAMT
 * shards but none of its entries, a CAR entity of a HAMT the same, a CAR
 * of everything the whole DAG; a name the folder lacks and a missing leaf
 * are WR_ERR_NOTFOUND. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "content/exporter.h"
#include "content/importer.h"
#include "gateway/prefetch.h"
#include "store/dag.h"
#include "store/repo.h"
#include "store_testutil.h"
#include "test.h"

#define NMANY 300
#define BIG (600 * 1024) /* three 256 KiB leaves and a root */

static char dir[4096], tree[4200];
static wr_repo *repo;
static wr_cid root;

/* A source that records every distinct block read, and can hide one. */
typedef struct rec {
  wr_blocks base;
  wr_blocks *inner;
  wr_cid seen[2048];
  size_t n;
  const wr_cid *hide;
} rec;

static int rec_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pd, size_t *pl) {
  rec *r = (rec *)b;
  if (r->hide && wr_mh_equal(&r->hide->mh, &cid->mh))
    return WR_ERR_NOTFOUND;
  int rc = wr_blocks_get(r->inner, cid, pd, pl);
  if (rc)
    return rc;
  for (size_t i = 0; i < r->n; i++)
    if (wr_mh_equal(&r->seen[i].mh, &cid->mh))
      return 0;
  if (r->n < 2048)
    r->seen[r->n++] = *cid;
  return 0;
}

static int rec_size(wr_blocks *b, const wr_cid *cid, size_t *pl) {
  return wr_blocks_size(((rec *)b)->inner, cid, pl);
}

static const wr_blocks_ops rec_ops = {.name = "rec", .get = rec_get, .size = rec_size};

static int has(const rec *r, const wr_cid *cid) {
  for (size_t i = 0; i < r->n; i++)
    if (wr_mh_equal(&r->seen[i].mh, &cid->mh))
      return 1;
  return 0;
}

static void build(void) {
  tmpdir_make(dir, sizeof dir);
  snprintf(tree, sizeof tree, "%s/t", dir);
  testfs_mkdir(tree, "");
  testfs_mkdir(tree, "site");
  testfs_mkdir(tree, "site/docs");
  testfs_mkdir(tree, "many");
  testfs_mkdir(tree, "flat");
  testfs_write(tree, "site/index.html", "<p>home</p>", 11);
  testfs_write(tree, "site/docs/notes.txt", "notes", 5);
  for (int i = 0; i < NMANY; i++) {
    char name[40];
    snprintf(name, sizeof name, "many/entry-%03d", i);
    testfs_write(tree, name, name, strlen(name));
  }
  testfs_write(tree, "flat/a", "a", 1);
  testfs_write(tree, "flat/b", "b", 1);
  char *big = wr_malloc(BIG);
  CHECK(big != NULL);
  for (size_t i = 0; i < BIG; i++)
    big[i] = (char)(i * 7 + i / 251);
  testfs_write(tree, "big.bin", big, BIG);
  wr_free(big);
  char p[4300];
  snprintf(p, sizeof p, "%s/repo", dir);
  CHECK_EQ(wr_repo_open(p, WR_REPO_SHARED, &repo), 0);
  wr_ufs_params up;
  wr_ufs_params_default(&up);
  up.hamt_threshold = 200;
  up.hamt_fanout = 8;
  wr_importer *im = NULL;
  CHECK_EQ(wr_importer_new(repo->bs, &up, &im, NULL), 0);
  wr_ufs_link l;
  CHECK_EQ(wr_importer_add_path(im, tree, WR_IMPORT_RECURSIVE, &l), 0);
  CHECK_EQ(wr_importer_commit(im, &l.cid, 1), 0);
  wr_importer_del(im);
  root = l.cid;
}

static wr_cid at(const char *path) {
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  char s[WR_CID_MAX_STR], q[600];
  CHECK(wr_cid_format(&root, 0, s, sizeof s) > 0);
  snprintf(q, sizeof q, "%s%s", s, path);
  wr_cid c;
  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_export_resolve(&ex, q, &c), 0);
  wr_export_end(&ex);
  return c;
}

/* Blocks in the DAG under c. */
static size_t dag_size(const wr_cid *c) {
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  rec r = {.base = {.ops = &rec_ops}, .inner = ex.blocks};
  CHECK_EQ(wr_dag_walk(&r.base, c, NULL, 0, NULL, NULL, NULL), 0);
  wr_export_end(&ex);
  return r.n;
}

/* Prefetches rest with prm through a fresh recorder (hiding hide). */
static int run(rec *r, const char *rest, const wr_gw_params *prm, const wr_cid *hide) {
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  *r = (rec){.base = {.ops = &rec_ops}, .inner = ex.blocks, .hide = hide};
  ex.blocks = &r->base;
  int rc = wr_gw_prefetch(&ex, &root, rest, prm);
  wr_export_end(&ex);
  return rc;
}

static wr_gw_params params(wr_gw_format f, wr_gw_scope scope) {
  wr_gw_params p;
  memset(&p, 0, sizeof p);
  p.format = f;
  p.scope = scope;
  p.car_dups = -1;
  p.download = -1;
  return p;
}

static rec r; /* large: not on the stack */

static void test_file(void) {
  wr_cid big = at("/big.bin");
  size_t n = dag_size(&big);
  CHECK_EQ(n, 4u);
  wr_gw_params p = params(WR_GW_FMT_NONE, WR_GW_SCOPE_ALL);
  CHECK_EQ(run(&r, "/big.bin", &p, NULL), 0);
  CHECK_EQ(r.n, 1 + n); /* the root folder, then the file's DAG */
  CHECK(has(&r, &root) && has(&r, &big));
}

static void test_single_blocks(void) {
  wr_cid big = at("/big.bin");
  wr_gw_params p = params(WR_GW_FMT_RAW, WR_GW_SCOPE_ALL);
  CHECK_EQ(run(&r, "/big.bin", &p, NULL), 0);
  CHECK_EQ(r.n, 2u);
  CHECK(has(&r, &big));
  p = params(WR_GW_FMT_CAR, WR_GW_SCOPE_BLOCK);
  CHECK_EQ(run(&r, "/big.bin", &p, NULL), 0);
  CHECK_EQ(r.n, 2u);
  /* entity of a file: its DAG */
  p = params(WR_GW_FMT_CAR, WR_GW_SCOPE_ENTITY);
  CHECK_EQ(run(&r, "/big.bin", &p, NULL), 0);
  CHECK_EQ(r.n, 1 + dag_size(&big));
}

static void test_folders(void) {
  wr_cid site = at("/site"), index = at("/site/index.html"), docs = at("/site/docs");
  wr_gw_params p = params(WR_GW_FMT_NONE, WR_GW_SCOPE_ALL);
  CHECK_EQ(run(&r, "/site/", &p, NULL), 0);
  CHECK_EQ(r.n, 3u); /* root, site, index.html; not docs */
  CHECK(has(&r, &site) && has(&r, &index) && !has(&r, &docs));
  /* a listing of a HAMT: every shard, no entry */
  wr_cid many = at("/many");
  size_t shards = dag_size(&many) - NMANY;
  CHECK(shards > 1);
  CHECK_EQ(run(&r, "/many", &p, NULL), 0);
  CHECK_EQ(r.n, 1 + shards);
  CHECK(!has(&r, &index));
  wr_cid entry = at("/many/entry-007");
  CHECK(!has(&r, &entry));
  /* a CAR entity of the HAMT reads the same shards */
  p = params(WR_GW_FMT_CAR, WR_GW_SCOPE_ENTITY);
  CHECK_EQ(run(&r, "/many", &p, NULL), 0);
  CHECK_EQ(r.n, 1 + shards);
  /* a CAR of everything under flat: the folder and both files */
  p = params(WR_GW_FMT_CAR, WR_GW_SCOPE_ALL);
  CHECK_EQ(run(&r, "/flat", &p, NULL), 0);
  CHECK_EQ(r.n, 1 + 3u);
}

static void test_missing(void) {
  wr_gw_params p = params(WR_GW_FMT_NONE, WR_GW_SCOPE_ALL);
  CHECK_EQ(run(&r, "/nope", &p, NULL), WR_ERR_NOTFOUND);
  /* a leaf of the file is missing: the walk stops there */
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  wr_cid leaf;
  memset(&leaf, 0, sizeof leaf);
  wr_cid big = at("/big.bin");
  const uint8_t *d;
  size_t len;
  CHECK_EQ(wr_blocks_get(ex.blocks, &big, &d, &len), 0);
  wr_dagpb_node pb;
  wr_dagpb_iter it;
  wr_dagpb_link l;
  CHECK_EQ(wr_dagpb_decode(d, len, &pb, NULL), 0);
  wr_dagpb_iter_init(&it, &pb);
  CHECK_EQ(wr_dagpb_iter_next(&it, &l, NULL), 1);
  CHECK_EQ(wr_dagpb_iter_next(&it, &l, NULL), 1);
  leaf = l.cid;
  wr_export_end(&ex);
  CHECK_EQ(run(&r, "/big.bin", &p, &leaf), WR_ERR_NOTFOUND);
  /* the raw root alone does not need it */
  p = params(WR_GW_FMT_RAW, WR_GW_SCOPE_ALL);
  CHECK_EQ(run(&r, "/big.bin", &p, &leaf), 0);
}

int main(void) {
  build();
  RUN(test_file);
  RUN(test_single_blocks);
  RUN(test_folders);
  RUN(test_missing);
  wr_repo_close(repo);
  tmpdir_remove(dir);
  return test_done();
}
