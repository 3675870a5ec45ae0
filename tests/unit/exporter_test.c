/* exporter_test.c: content/exporter against DAGs the importer builds in a
 * temporary repo: path resolution through flat and HAMT folders (small
 * chunks, few links and a fanout of 8, so files are several levels deep and
 * the HAMT has sub-shards), byte ranges (and that a range reads only the
 * blocks on its way, counted through the blocks seam), listings, and the
 * exact errors for bad paths, missing links and missing blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "content/exporter.h"
#include "content/importer.h"
#include "store/repo.h"
#include "store_testutil.h"
#include "test.h"

#define NMANY 50
#define CHUNK 1000
#define BIG_LEN (37 * CHUNK + 123) /* 38 leaves, 4 links a node: 3 levels */

static char dir[4096];
static wr_repo *repo;
static wr_cid root;
static uint8_t big[BIG_LEN];

static char tree[4200]; /* dir/t */

static void write_file(const char *rel, const void *data, size_t n) {
  testfs_write(tree, rel, data, n);
}

static void mk(const char *rel) { testfs_mkdir(tree, rel); }

/* t/hello.txt, t/sub/big.bin, t/link -> sub/big.bin, t/empty/, t/many/ (a
 * HAMT of NMANY files "e-NN" holding their own names). */
static void build(void) {
  tmpdir_make(dir, sizeof dir);
  snprintf(tree, sizeof tree, "%s/t", dir);
  mk("");
  mk("sub");
  mk("empty");
  mk("many");
  write_file("hello.txt", "hello world\n", 12);
  for (size_t i = 0; i < BIG_LEN; i++)
    big[i] = (uint8_t)(i * 131 + (i >> 7));
  write_file("sub/big.bin", big, BIG_LEN);
  char p[4300];
  snprintf(p, sizeof p, "%s/t/link", dir);
  CHECK_EQ(symlink("sub/big.bin", p), 0);
  for (int i = 0; i < NMANY; i++) {
    char name[32];
    snprintf(name, sizeof name, "many/e-%02d", i);
    write_file(name, name + 5, strlen(name + 5));
  }
  snprintf(p, sizeof p, "%s/repo", dir);
  CHECK_EQ(wr_repo_open(p, WR_REPO_SHARED, &repo), 0);
  wr_ufs_params up;
  wr_ufs_params_default(&up);
  up.chunk_size = CHUNK;
  up.max_links = 4;
  up.hamt_threshold = 200; /* "many" is sharded, the others are not */
  up.hamt_fanout = 8;
  wr_importer *im = NULL;
  CHECK_EQ(wr_importer_new(repo->bs, &up, &im, NULL), 0);
  snprintf(p, sizeof p, "%s/t", dir);
  wr_ufs_link l;
  CHECK_EQ(wr_importer_add_path(im, p, WR_IMPORT_RECURSIVE, &l), 0);
  CHECK_EQ(wr_importer_commit(im, &l.cid, 1), 0);
  wr_importer_del(im);
  root = l.cid;
}

static void teardown(void) {
  wr_repo_close(repo);
  repo = NULL;
  tmpdir_remove(dir);
}

/* Formats "<root><rest>" into out. */
static const char *path_of(char *out, size_t n, const char *rest) {
  char s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&root, 0, s, sizeof s) > 0);
  snprintf(out, n, "%s%s", s, rest);
  return out;
}

static int collect(void *arg, const uint8_t *p, size_t n) { return wr_buf_append(arg, p, n); }

/* A source over another that counts gets: what a range costs. */
typedef struct counting {
  wr_blocks base;
  wr_blocks *inner;
  int gets;
} counting;

static int counting_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pdata, size_t *plen) {
  counting *c = (counting *)b;
  c->gets++;
  return wr_blocks_get(c->inner, cid, pdata, plen);
}

static int counting_size(wr_blocks *b, const wr_cid *cid, size_t *plen) {
  return wr_blocks_size(((counting *)b)->inner, cid, plen);
}

static const wr_blocks_ops counting_ops = {"counting", counting_get, counting_size, NULL};

static void test_resolve_and_stat(void) {
  wr_export ex;
  char p[512];
  wr_cid c, hello, sub;
  wr_export_kind k;
  uint64_t size;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, ""), &c), 0);
  CHECK(wr_cid_equal(&c, &root));
  CHECK_EQ(wr_export_stat(&ex, &c, &k, &size), 0);
  CHECK_EQ(k, WR_EXPORT_DIR);
  CHECK_EQ(size, 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/hello.txt"), &hello), 0);
  CHECK_EQ(wr_export_stat(&ex, &hello, &k, &size), 0);
  CHECK_EQ(k, WR_EXPORT_FILE);
  CHECK_EQ(size, 12);
  /* "/ipfs/" prefix, repeated and trailing slashes. */
  char q[600];
  snprintf(q, sizeof q, "/ipfs/%s", path_of(p, sizeof p, "//sub///big.bin/"));
  CHECK_EQ(wr_export_resolve(&ex, q, &c), 0);
  CHECK_EQ(wr_export_stat(&ex, &c, &k, &size), 0);
  CHECK_EQ(k, WR_EXPORT_FILE);
  CHECK_EQ(size, BIG_LEN);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub"), &sub), 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/link"), &c), 0);
  CHECK_EQ(wr_export_stat(&ex, &c, &k, &size), 0);
  CHECK_EQ(k, WR_EXPORT_SYMLINK);
  CHECK_EQ(size, strlen("sub/big.bin"));
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/many"), &c), 0);
  CHECK_EQ(wr_export_stat(&ex, &c, &k, &size), 0);
  CHECK_EQ(k, WR_EXPORT_HAMT);
  /* Every entry resolves through the shards and holds its own name. */
  for (int i = 0; i < NMANY; i++) {
    char rest[32], want[16];
    snprintf(rest, sizeof rest, "/many/e-%02d", i);
    snprintf(want, sizeof want, "e-%02d", i);
    CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, rest), &c), 0);
    wr_buf b;
    wr_buf_init(&b, 64);
    CHECK_EQ(wr_export_cat(&ex, &c, 0, UINT64_MAX, collect, &b), 0);
    CHECK_EQ(b.len, strlen(want));
    CHECK_MEMEQ(b.data, want, b.len);
    wr_buf_free(&b);
  }
  wr_export_end(&ex);
  wr_export_end(&ex); /* twice is fine */
}

static void test_ranges(void) {
  wr_export ex;
  char p[512];
  wr_cid c;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub/big.bin"), &c), 0);
  static const struct {
    uint64_t off, len;
  } cases[] = {
      {0, UINT64_MAX},        {0, 1},
      {CHUNK - 1, 2},         {CHUNK, CHUNK},
      {4 * CHUNK + 17, 9000}, {BIG_LEN - 5, UINT64_MAX},
      {BIG_LEN - 5, 100},     {BIG_LEN, 10},
      {BIG_LEN + 1000, 10},   {12345, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wr_buf b;
    wr_buf_init(&b, 1 << 20);
    CHECK_EQ(wr_export_cat(&ex, &c, cases[i].off, cases[i].len, collect, &b), 0);
    uint64_t off = cases[i].off > BIG_LEN ? BIG_LEN : cases[i].off;
    uint64_t want = BIG_LEN - off < cases[i].len ? BIG_LEN - off : cases[i].len;
    CHECK_EQ(b.len, want);
    if (b.len == want && want)
      CHECK_MEMEQ(b.data, big + off, (size_t)want);
    wr_buf_free(&b);
  }
  /* One byte in the middle reads one block per level, not the whole file:
   * the root, one node per inner level and one leaf (38 leaves under 10,
   * 3 and 1 nodes of at most 4 links). */
  counting cnt = {{&counting_ops}, ex.blocks, 0};
  wr_blocks *saved = ex.blocks;
  ex.blocks = &cnt.base;
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_export_cat(&ex, &c, 20 * CHUNK + 3, 1, collect, &b), 0);
  CHECK_EQ(b.len, 1);
  CHECK_EQ(b.len == 1 ? b.data[0] : 0, big[20 * CHUNK + 3]);
  CHECK_EQ(cnt.gets, 4);
  cnt.gets = 0;
  b.len = 0;
  CHECK_EQ(wr_export_cat(&ex, &c, 0, UINT64_MAX, collect, &b), 0);
  CHECK_EQ(cnt.gets, 38 + 10 + 3 + 1); /* every leaf and node */
  wr_buf_free(&b);
  ex.blocks = saved;
  /* The symlink's bytes are its target. */
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/link"), &c), 0);
  wr_buf_init(&b, 64);
  CHECK_EQ(wr_export_cat(&ex, &c, 4, 3, collect, &b), 0);
  CHECK_EQ(b.len, 3);
  CHECK_MEMEQ(b.data, "big", 3);
  wr_buf_free(&b);
  wr_export_end(&ex);
}

typedef struct listing {
  char names[NMANY + 8][32];
  wr_cid cids[NMANY + 8];
  int n;
  int stop; /* stop with 42 after this many entries, or 0 */
} listing;

static int on_entry(void *arg, const char *name, size_t len, const wr_cid *cid, uint64_t tsize) {
  (void)tsize;
  listing *l = arg;
  if (l->n >= NMANY + 8 || len >= sizeof l->names[0])
    return WR_ERR_LIMIT;
  memcpy(l->names[l->n], name, len);
  l->names[l->n][len] = '\0';
  l->cids[l->n++] = *cid;
  return l->n == l->stop ? 42 : 0;
}

static int sum_chunk(void *arg, const wr_cid *cid, uint64_t size) {
  (void)cid;
  *(uint64_t *)arg += size;
  return 0;
}

static void test_listings(void) {
  wr_export ex;
  char p[512];
  wr_cid c;
  listing l = {0};
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  /* A flat folder lists in link (name) order, each CID the one resolved. */
  CHECK_EQ(wr_export_dir_each(&ex, &root, on_entry, &l), 0);
  CHECK_EQ(l.n, 5);
  static const char *const want[] = {"empty", "hello.txt", "link", "many", "sub"};
  for (int i = 0; i < 5 && i < l.n; i++) {
    CHECK_STREQ(l.names[i], want[i]);
    char rest[64];
    snprintf(rest, sizeof rest, "/%s", want[i]);
    CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, rest), &c), 0);
    CHECK(wr_cid_equal(&c, &l.cids[i]));
  }
  /* An empty folder lists nothing; a HAMT lists every entry once. */
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/empty"), &c), 0);
  memset(&l, 0, sizeof l);
  CHECK_EQ(wr_export_dir_each(&ex, &c, on_entry, &l), 0);
  CHECK_EQ(l.n, 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/many"), &c), 0);
  CHECK_EQ(wr_export_dir_each(&ex, &c, on_entry, &l), 0);
  CHECK_EQ(l.n, NMANY);
  int seen[NMANY] = {0};
  for (int i = 0; i < l.n; i++) {
    int k = -1;
    CHECK_EQ(sscanf(l.names[i], "e-%d", &k), 1);
    if (k >= 0 && k < NMANY)
      seen[k]++;
  }
  for (int i = 0; i < NMANY; i++)
    CHECK_EQ(seen[i], 1);
  /* A visitor's value stops the listing and comes back. */
  memset(&l, 0, sizeof l);
  l.stop = 1;
  CHECK_EQ(wr_export_dir_each(&ex, &c, on_entry, &l), 42);
  CHECK_EQ(l.n, 1);
  /* A file's chunks add up to its size; a file is not a folder. */
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub/big.bin"), &c), 0);
  uint64_t total = 0;
  CHECK_EQ(wr_export_file_links(&ex, &c, sum_chunk, &total), 0);
  CHECK_EQ(total, BIG_LEN);
  CHECK_EQ(wr_export_dir_each(&ex, &c, on_entry, &l), WR_ERR_INVAL);
  CHECK(strstr(ex.err, "is not a folder") != NULL);
  /* A folder is not a file. */
  wr_buf b;
  wr_buf_init(&b, 16);
  CHECK_EQ(wr_export_cat(&ex, &root, 0, UINT64_MAX, collect, &b), WR_ERR_INVAL);
  CHECK(strstr(ex.err, "is a folder, not a file") != NULL);
  wr_buf_free(&b);
  wr_export_end(&ex);
}

static void test_errors(void) {
  wr_export ex;
  char p[512];
  wr_cid c;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  /* Not a CID path. */
  CHECK_EQ(wr_export_resolve(&ex, "not-a-cid/x", &c), WR_ERR_INVAL);
  CHECK(strstr(ex.err, "\"not-a-cid\" is not a valid CID") != NULL);
  CHECK_EQ(wr_export_resolve(&ex, "", &c), WR_ERR_INVAL);
  CHECK_EQ(wr_export_resolve(&ex, "/ipfs/", &c), WR_ERR_INVAL);
  /* Missing names, in a flat folder, a HAMT, and under a file. */
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/nope"), &c), WR_ERR_NOTFOUND);
  CHECK(strstr(ex.err, "no link named \"nope\" under ") != NULL);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/many/e-99"), &c), WR_ERR_NOTFOUND);
  CHECK(strstr(ex.err, "no link named \"e-99\" under ") != NULL);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/hello.txt/x"), &c), WR_ERR_NOTFOUND);
  CHECK(strstr(ex.err, "is not a folder, so it has no \"x\"") != NULL);
  /* Not UnixFS: a dag-cbor CID. */
  wr_cid cbor;
  CHECK_EQ(wr_cid_sum(&cbor, 1, WR_CODEC_DAG_CBOR, "\xa0", 1), 0);
  wr_export_kind k;
  uint64_t size;
  CHECK_EQ(wr_export_stat(&ex, &cbor, &k, &size), WR_ERR_UNSUPPORTED);
  CHECK(strstr(ex.err, "is a dag-cbor block, not UnixFS") != NULL);
  /* A block that is not in the store. */
  wr_cid absent;
  CHECK_EQ(wr_cid_sum(&absent, 1, WR_CODEC_RAW, "absent", 6), 0);
  CHECK_EQ(wr_export_stat(&ex, &absent, &k, &size), WR_ERR_NOTFOUND);
  CHECK(strstr(ex.err, "is not in the store") != NULL);
  wr_cid big_cid, sub;
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub/big.bin"), &big_cid), 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub"), &sub), 0);
  wr_export_end(&ex);
  /* Remove the "sub" folder's block: paths through it fail. */
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_rm_cid(t, &sub), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub/big.bin"), &c), WR_ERR_NOTFOUND);
  CHECK(strstr(ex.err, "is not in the store") != NULL);
  /* The file itself is still whole: only the folder's block went. */
  wr_export_kind k2;
  CHECK_EQ(wr_export_stat(&ex, &big_cid, &k2, &size), 0);
  CHECK_EQ(size, BIG_LEN);
  wr_export_end(&ex);
}

typedef struct pick {
  uint64_t off, pos;
  wr_cid hit;
  uint64_t hit_pos;
  int found;
} pick;

static int pick_chunk(void *arg, const wr_cid *cid, uint64_t size) {
  pick *k = arg;
  if (!k->found && k->off >= k->pos && k->off < k->pos + size) {
    k->hit = *cid;
    k->hit_pos = k->pos;
    k->found = 1;
  }
  k->pos += size;
  return 0;
}

/* Finds the CID of the leaf holding byte off of the file at cid, going down
 * its links one level at a time. */
static int leaf_of(wr_export *ex, wr_cid cid, uint64_t off, wr_cid *pleaf) {
  for (int depth = 0; depth < 16; depth++) {
    pick k = {off, 0, {0}, 0, 0};
    int rv = wr_export_file_links(ex, &cid, pick_chunk, &k);
    if (rv)
      return rv;
    if (!k.found) {
      *pleaf = cid;
      return 0;
    }
    cid = k.hit;
    off -= k.hit_pos;
  }
  return WR_ERR_LIMIT;
}

static void test_cat_missing_leaf(void) {
  teardown();
  build();
  wr_export ex;
  char p[512];
  wr_cid c, leaf;
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/sub/big.bin"), &c), 0);
  CHECK_EQ(leaf_of(&ex, c, 10 * CHUNK + 1, &leaf), 0);
  wr_export_end(&ex);
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(repo->bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_rm_cid(t, &leaf), 0);
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_export_cat(&ex, &c, 0, UINT64_MAX, collect, &b), WR_ERR_NOTFOUND);
  CHECK_EQ(b.len, 10 * CHUNK); /* everything before the hole */
  char ls[WR_CID_MAX_STR], want[WR_CID_MAX_STR + 64];
  CHECK(wr_cid_format(&leaf, 0, ls, sizeof ls) > 0);
  snprintf(want, sizeof want, "block %s is not in the store", ls);
  CHECK_STREQ(ex.err, want);
  /* A range that does not touch the hole still reads. */
  b.len = 0;
  CHECK_EQ(wr_export_cat(&ex, &c, 20 * CHUNK, CHUNK, collect, &b), 0);
  CHECK_EQ(b.len, CHUNK);
  wr_buf_free(&b);
  wr_export_end(&ex);
}

/* A folder entry named ".." is refused by get, which writes nothing outside
 * dest. */
static void test_get_refuses_escaping_names(void) {
  wr_cid file = store_put_raw(repo->bs, "x");
  wr_buf b;
  wr_buf_init(&b, 4096);
  CHECK_EQ(wr_dagpb_put_link(&b, &file, "..", 2, NULL), 0);
  CHECK_EQ(wr_dagpb_put_data(&b, "\x08\x01", 2), 0); /* UnixFS Directory */
  wr_cid bad = store_put_block(repo->bs, 1, WR_CODEC_DAG_PB, b.data, b.len);
  wr_buf_free(&b);
  wr_export ex;
  char dest[4200];
  snprintf(dest, sizeof dest, "%s/out", dir);
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  CHECK_EQ(wr_export_get(&ex, &bad, dest), WR_ERR_MALFORMED);
  CHECK(strstr(ex.err, "refusing the entry name \"..\"") != NULL);
  wr_export_end(&ex);
  /* A good folder comes out whole. */
  CHECK_EQ(wr_export_begin(&ex, repo->bs), 0);
  char p[512];
  wr_cid c;
  CHECK_EQ(wr_export_resolve(&ex, path_of(p, sizeof p, "/many"), &c), 0);
  snprintf(dest, sizeof dest, "%s/many-out", dir);
  CHECK_EQ(wr_export_get(&ex, &c, dest), 0);
  wr_export_end(&ex);
  char f[4300];
  snprintf(f, sizeof f, "%s/e-07", dest);
  FILE *fp = fopen(f, "rb");
  CHECK(fp != NULL);
  if (fp) {
    char got[8] = {0};
    CHECK_EQ(fread(got, 1, sizeof got, fp), 4);
    CHECK_STREQ(got, "e-07");
    fclose(fp);
  }
}

int main(void) {
  build();
  RUN(test_resolve_and_stat);
  RUN(test_ranges);
  RUN(test_listings);
  RUN(test_get_refuses_escaping_names);
  RUN(test_errors);
  RUN(test_cat_missing_leaf);
  teardown();
  return test_done();
}
