/* importer_test.c: the importer and exporter in process against a real
 * repo in a temporary folder (so ASan sees the writer thread, the walk and
 * the exporter): add a tree, commit with a pin, read everything back,
 * resolve through a HAMT, ranges, get to disk, abort without commit, and
 * the error sentences. CIDs against kubo and npm are checked end to end in
 * tests/e2e/test_unixfs.py. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "content/exporter.h"
#include "content/importer.h"
#include "store/pin.h"
#include "store/repo.h"
#include "store_testutil.h"
#include "test.h"

static char tmpl[] = "/tmp/warren-importer-test.XXXXXX";
static const char *base;

static void write_file(const char *rel, const void *data, size_t n) {
  testfs_write(base, rel, data, n);
}

static void mk(const char *rel) { testfs_mkdir(base, rel); }

static int collect(void *arg, const uint8_t *p, size_t n) {
  return wr_buf_append(arg, p, n);
}

static uint8_t *big;
#define BIG_LEN (3 * 262144 + 1000)

static void make_tree(void) {
  mk("t");
  mk("t/sub");
  mk("t/many");
  write_file("t/hello.txt", "hello world\n", 12);
  write_file("t/.hidden", "secret", 6);
  big = malloc(BIG_LEN);
  for (size_t i = 0; i < BIG_LEN; i++)
    big[i] = (uint8_t)(i * 31 + (i >> 9));
  write_file("t/sub/big.bin", big, BIG_LEN);
  char p[512];
  snprintf(p, sizeof p, "%s/t/link", base);
  CHECK_EQ(symlink("sub/big.bin", p), 0);
  for (int i = 0; i < 300; i++) {
    char name[64];
    snprintf(name, sizeof name, "t/many/entry-%04d", i);
    write_file(name, name, strlen(name));
  }
}

static int count_entry(void *arg, const char *name, size_t len, const wr_cid *cid,
                       uint64_t tsize) {
  (void)name;
  (void)len;
  (void)cid;
  (void)tsize;
  (*(int *)arg)++;
  return 0;
}

static void test_add_and_read_back(void) {
  char repo_path[600];
  snprintf(repo_path, sizeof repo_path, "%s/repo", base);
  wr_repo *repo = NULL;
  CHECK_EQ(wr_repo_open(repo_path, WR_REPO_SHARED, &repo), 0);
  if (!repo)
    return;
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  p.hamt_threshold = 1000; /* so "many" (300 entries) is sharded */
  wr_importer *im = NULL;
  CHECK_EQ(wr_importer_new(repo->bs, &p, &im, NULL), 0);
  char tree[600];
  snprintf(tree, sizeof tree, "%s/t", base);
  wr_ufs_link root;
  CHECK_EQ(wr_importer_add_path(im, tree, WR_IMPORT_RECURSIVE, &root), 0);
  wr_import_stats st;
  wr_importer_stats(im, &st);
  CHECK_EQ(st.files, 302);
  CHECK_EQ(st.file_bytes, 12 + BIG_LEN + 300 * 17);
  CHECK_EQ(wr_importer_commit(im, &root.cid, 1), 0);
  wr_importer_del(im);

  wr_export ex;
  memset(&ex, 0, sizeof ex);
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  wr_pin_type pt;
  CHECK_EQ(wr_pin_get_cid(ex.txn, &root.cid, &pt), 0);
  CHECK_EQ(pt, WR_PIN_RECURSIVE);

  char path[WR_CID_MAX_STR + 64], s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&root.cid, 0, s, sizeof s) > 0);
  wr_cid cid;
  wr_buf out;
  wr_buf_init(&out, 1 << 24);
  snprintf(path, sizeof path, "/ipfs/%s/sub/big.bin", s);
  CHECK_EQ(wr_export_resolve(&ex, path, &cid), 0);
  CHECK_EQ(wr_export_cat(&ex, &cid, 0, UINT64_MAX, collect, &out), 0);
  CHECK_EQ(out.len, BIG_LEN);
  CHECK(out.len == BIG_LEN && memcmp(out.data, big, BIG_LEN) == 0);
  /* Ranges across chunk boundaries. */
  static const uint64_t ranges[][2] = {{0, 1}, {262143, 2}, {262144 * 2 - 10, 262144 + 20},
                                       {BIG_LEN - 5, 100}, {BIG_LEN, 10}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    wr_buf_reset(&out);
    CHECK_EQ(wr_export_cat(&ex, &cid, ranges[i][0], ranges[i][1], collect, &out), 0);
    uint64_t off = ranges[i][0], want = ranges[i][1];
    if (off >= BIG_LEN)
      want = 0;
    else if (off + want > BIG_LEN)
      want = BIG_LEN - off;
    CHECK_EQ(out.len, want);
    CHECK(out.len != want || memcmp(out.data, big + off, out.len) == 0);
  }
  /* Through the HAMT. */
  snprintf(path, sizeof path, "%s/many/entry-0123", s);
  CHECK_EQ(wr_export_resolve(&ex, path, &cid), 0);
  wr_buf_reset(&out);
  CHECK_EQ(wr_export_cat(&ex, &cid, 0, UINT64_MAX, collect, &out), 0);
  CHECK(out.len == 17 && memcmp(out.data, "t/many/entry-0123", 17) == 0);
  snprintf(path, sizeof path, "%s/many", s);
  CHECK_EQ(wr_export_resolve(&ex, path, &cid), 0);
  wr_export_kind kind;
  uint64_t size;
  CHECK_EQ(wr_export_stat(&ex, &cid, &kind, &size), 0);
  CHECK_EQ(kind, WR_EXPORT_HAMT);
  int n = 0;
  CHECK_EQ(wr_export_dir_each(&ex, &cid, count_entry, &n), 0);
  CHECK_EQ(n, 300);
  /* Hidden files stay out without WR_IMPORT_HIDDEN; the symlink is one. */
  snprintf(path, sizeof path, "%s/.hidden", s);
  CHECK_EQ(wr_export_resolve(&ex, path, &cid), WR_ERR_NOTFOUND);
  CHECK(strstr(ex.err, "no link named \".hidden\"") != NULL);
  snprintf(path, sizeof path, "%s/link", s);
  CHECK_EQ(wr_export_resolve(&ex, path, &cid), 0);
  CHECK_EQ(wr_export_stat(&ex, &cid, &kind, &size), 0);
  CHECK_EQ(kind, WR_EXPORT_SYMLINK);
  CHECK_EQ(size, 11);
  /* A folder is not a file. */
  CHECK_EQ(wr_export_cat(&ex, &root.cid, 0, 1, collect, &out), WR_ERR_INVAL);
  CHECK_EQ(wr_export_resolve(&ex, "nonsense", &cid), WR_ERR_INVAL);

  /* get writes the tree out. */
  char dest[600];
  snprintf(dest, sizeof dest, "%s/out", base);
  CHECK_EQ(wr_export_get(&ex, &root.cid, dest), 0);
  char link[700], target[64];
  snprintf(link, sizeof link, "%s/link", dest);
  ssize_t k = readlink(link, target, sizeof target - 1);
  CHECK_EQ(k, 11);
  snprintf(link, sizeof link, "%s/many/entry-0299", dest);
  struct stat sb;
  CHECK_EQ(stat(link, &sb), 0);
  CHECK_EQ(sb.st_size, 17);

  wr_buf_free(&out);
  wr_export_end(&ex);
  wr_repo_close(repo);
}

/* An importer dropped before commit leaves neither pin nor (with nothing
 * checkpointed) blocks; --only-hash (no store) gives the same root. */
static void test_abort_and_only_hash(void) {
  char repo_path[600];
  snprintf(repo_path, sizeof repo_path, "%s/repo2", base);
  wr_repo *repo = NULL;
  CHECK_EQ(wr_repo_open(repo_path, WR_REPO_SHARED, &repo), 0);
  if (!repo)
    return;
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  char file[600];
  snprintf(file, sizeof file, "%s/t/sub/big.bin", base);
  wr_importer *im = NULL;
  wr_ufs_link a, b;
  CHECK_EQ(wr_importer_new(repo->bs, &p, &im, NULL), 0);
  CHECK_EQ(wr_importer_add_path(im, file, 0, &a), 0);
  wr_importer_del(im); /* no commit */
  CHECK_EQ(wr_importer_new(NULL, &p, &im, NULL), 0);
  CHECK_EQ(wr_importer_add_path(im, file, 0, &b), 0);
  CHECK_EQ(wr_importer_commit(im, &b.cid, 1), 0);
  wr_importer_del(im);
  CHECK(wr_cid_equal(&a.cid, &b.cid));
  wr_bs_txn *txn = NULL;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_READ, &txn), 0);
  wr_pin_type pt;
  CHECK_EQ(wr_pin_get_cid(txn, &a.cid, &pt), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_bs_txn_has_cid(txn, &a.cid), 0);
  wr_bs_txn_abort(txn);

  /* Errors come back as a sentence. */
  CHECK_EQ(wr_importer_new(repo->bs, &p, &im, NULL), 0);
  char dir[600], missing[600];
  snprintf(dir, sizeof dir, "%s/t", base);
  CHECK_EQ(wr_importer_add_path(im, dir, 0, &a), WR_ERR_INVAL);
  CHECK(strstr(wr_importer_error(im), "use -r") != NULL);
  snprintf(missing, sizeof missing, "%s/nope", base);
  CHECK_EQ(wr_importer_add_path(im, missing, 0, &a), WR_ERR_NOTFOUND);
  CHECK(strstr(wr_importer_error(im), "No such file") != NULL);
  wr_importer_del(im);
  p.chunk_size = 0;
  const char *why = NULL;
  CHECK_EQ(wr_importer_new(repo->bs, &p, &im, &why), WR_ERR_INVAL);
  CHECK(why != NULL);
  wr_repo_close(repo);
}

int main(void) {
  base = mkdtemp(tmpl);
  if (!base) {
    perror("mkdtemp");
    return 1;
  }
  make_tree();
  RUN(test_add_and_read_back);
  RUN(test_abort_and_only_hash);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", base);
  free(big);
  return test_done();
}
