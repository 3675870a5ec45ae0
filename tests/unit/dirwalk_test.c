/* dirwalk_test.c: gateway/dirwalk against folders the importer builds in a
 * temporary repo: a plain folder and a 300-entry HAMT with fanout 8 (several
 * levels of sub-shards) give the entries content/exporter's
 * wr_export_dir_each gives, in its order, also when the walk is resumed in
 * a fresh read transaction after every entry; a file is refused and a
 * missing shard stops the walk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/exporter.h"
#include "content/importer.h"
#include "gateway/dirwalk.h"
#include "store/repo.h"
#include "store_testutil.h"
#include "test.h"

#define NMANY 300

static char dir[4096], tree[4200];
static wr_repo *repo;
static wr_cid many, flat, file;

static void build(void) {
  tmpdir_make(dir, sizeof dir);
  snprintf(tree, sizeof tree, "%s/t", dir);
  testfs_mkdir(tree, "");
  testfs_mkdir(tree, "many");
  testfs_mkdir(tree, "flat");
  for (int i = 0; i < NMANY; i++) {
    char name[40];
    snprintf(name, sizeof name, "many/entry-%03d", i);
    testfs_write(tree, name, name, strlen(name));
  }
  testfs_write(tree, "flat/a", "a", 1);
  testfs_write(tree, "flat/b b", "b", 1);
  testfs_write(tree, "file", "x", 1);
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
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  char s[WR_CID_MAX_STR], q[600];
  CHECK(wr_cid_format(&l.cid, 0, s, sizeof s) > 0);
  snprintf(q, sizeof q, "%s/many", s);
  CHECK_EQ(wr_export_resolve(&ex, q, &many), 0);
  snprintf(q, sizeof q, "%s/flat", s);
  CHECK_EQ(wr_export_resolve(&ex, q, &flat), 0);
  snprintf(q, sizeof q, "%s/file", s);
  CHECK_EQ(wr_export_resolve(&ex, q, &file), 0);
  wr_export_kind k;
  uint64_t size;
  CHECK_EQ(wr_export_stat(&ex, &many, &k, &size), 0);
  CHECK_EQ(k, WR_EXPORT_HAMT);
  wr_export_end(&ex);
}

typedef struct names {
  char name[NMANY + 8][48];
  wr_cid cid[NMANY + 8];
  size_t n;
} names;

static int each(void *arg, const char *name, size_t len, const wr_cid *cid, uint64_t tsize) {
  (void)tsize;
  names *ns = arg;
  if (ns->n < NMANY + 8 && len < 48) {
    memcpy(ns->name[ns->n], name, len);
    ns->name[ns->n][len] = '\0';
    ns->cid[ns->n++] = *cid;
  }
  return 0;
}

/* Walks d to its end; a fresh transaction per entry when fresh. */
static int walk(const wr_cid *d, names *ns, int fresh) {
  wr_dirwalk *w = NULL;
  CHECK_EQ(wr_dirwalk_new(&w, d), 0);
  ns->n = 0;
  wr_bs_txn *txn = NULL;
  wr_bs_blocks src;
  int rc;
  for (;;) {
    if (!txn) {
      CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn), 0);
      wr_dirwalk_new_session(w);
    }
    wr_dirwalk_entry e;
    rc = wr_dirwalk_next(w, wr_bs_blocks_init(&src, txn), &e);
    if (rc == 1)
      each(ns, e.name, e.name_len, &e.cid, e.tsize);
    if (fresh || rc != 1) {
      wr_bs_txn_abort(txn);
      txn = NULL;
    }
    if (rc != 1)
      break;
  }
  wr_dirwalk_del(w);
  return rc;
}

static void same_as_exporter(const wr_cid *d, size_t want) {
  static names got, ref;
  wr_export ex;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  ref.n = 0;
  CHECK_EQ(wr_export_dir_each(&ex, d, each, &ref), 0);
  wr_export_end(&ex);
  CHECK_EQ(ref.n, want);
  for (int fresh = 0; fresh < 2; fresh++) {
    CHECK_EQ(walk(d, &got, fresh), 0);
    CHECK_EQ(got.n, ref.n);
    for (size_t i = 0; i < got.n && i < ref.n; i++) {
      CHECK_STREQ(got.name[i], ref.name[i]);
      CHECK(wr_cid_equal(&got.cid[i], &ref.cid[i]));
    }
  }
}

static void test_flat(void) { same_as_exporter(&flat, 2); }

static void test_hamt(void) { same_as_exporter(&many, NMANY); }

static void test_refusals(void) {
  static names got;
  CHECK_EQ(walk(&file, &got, 0), WR_ERR_MALFORMED);
  /* a sub-shard goes missing: the walk stops with NOTFOUND */
  wr_bs_txn *txn;
  const uint8_t *d;
  size_t len;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &txn), 0);
  CHECK_EQ(wr_bs_txn_get_cid(txn, &many, &d, &len), 0);
  wr_dagpb_node pb;
  wr_dagpb_iter it;
  wr_dagpb_link l;
  CHECK_EQ(wr_dagpb_decode(d, len, &pb, NULL), 0);
  wr_dagpb_iter_init(&it, &pb);
  int found = 0;
  while (wr_dagpb_iter_next(&it, &l, NULL) == 1)
    if (l.name_len == 1) { /* fanout 8: one-digit labels are sub-shards */
      found = 1;
      break;
    }
  CHECK(found);
  wr_cid shard = l.cid;
  CHECK_EQ(wr_bs_txn_rm_cid(txn, &shard), 0);
  CHECK_EQ(wr_bs_txn_commit(txn), 0);
  CHECK_EQ(walk(&many, &got, 0), WR_ERR_NOTFOUND);
}

int main(void) {
  build();
  RUN(test_flat);
  RUN(test_hamt);
  RUN(test_refusals);
  wr_repo_close(repo);
  tmpdir_remove(dir);
  return test_done();
}
