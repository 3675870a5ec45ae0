/* unixfs_builder_test.c: the DAG builder against kubo's published CIDs and
 * blocks (../shared/vectors/README.md), murmur3 against the JS
 * implementation's outputs, layout shapes, the HAMT threshold edge, misuse,
 * and allocation failures. The byte-for-byte comparison with the npm
 * importer on large inputs is in tests/e2e/test_unixfs.py. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/murmur3.h"
#include "proto/ipld/unixfs.h"
#include "proto/ipld/unixfs_builder.h"
#include "test.h"

/* A sink that keeps the last block and counts them all. */
typedef struct collect {
  int blocks;
  uint8_t last[1 << 19];
  size_t last_len;
  wr_cid last_cid;
  int fail_at; /* return an error at this block (1-based), 0: never */
} collect;

static int sink(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  collect *c = arg;
  c->blocks++;
  if (c->fail_at && c->blocks == c->fail_at)
    return WR_ERR_IO;
  c->last_cid = *cid;
  c->last_len = len < sizeof c->last ? len : sizeof c->last;
  memcpy(c->last, block, c->last_len);
  return 0;
}

static const char *fmt(const wr_cid *cid) {
  static char s[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, s, sizeof s) < 0)
    return "(bad)";
  return s;
}

/* Builds a file of n bytes from data (repeated) and returns the root CID. */
static int build(const wr_ufs_params *p, const void *data, size_t n, collect *c,
                 wr_ufs_link *root) {
  wr_ufs_file *f = NULL;
  int rv = wr_ufs_file_new(p, sink, c, &f);
  if (rv)
    return rv;
  size_t off = 0;
  while (off < n) {
    size_t k = n - off < p->chunk_size ? n - off : p->chunk_size;
    memcpy(wr_ufs_file_chunk_buf(f), (const uint8_t *)data + off, k);
    rv = wr_ufs_file_chunk(f, k);
    if (rv)
      break;
    off += k;
  }
  if (!rv)
    rv = wr_ufs_file_finish(f, root);
  wr_ufs_file_del(f);
  return rv;
}

static void test_murmur3(void) {
  /* Outputs of @multiformats/murmur3 (murmur3-x64-128), h1 then h2. */
  static const struct {
    const char *in;
    uint64_t h1, h2;
  } v[] = {
      {"", 0, 0},
      {"a", UINT64_C(0x85555565f6597889), UINT64_C(0xe6b53a48510e895a)},
      {"hello", UINT64_C(0xcbd8a7b341bd9b02), UINT64_C(0x5b1e906a48ae1d19)},
      {"abcdefghijklmnopq", UINT64_C(0x7564747f88bda657), UINT64_C(0xecda499da1110de4)},
      {"file-00001.txt", UINT64_C(0xf713ed954b320baa), UINT64_C(0xe4cdcc3750664bab)},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint64_t h[2];
    wr_murmur3_x64_128(v[i].in, strlen(v[i].in), 0, h);
    CHECK(h[0] == v[i].h1);
    CHECK(h[1] == v[i].h2);
    CHECK(wr_murmur3_hamt64(v[i].in, strlen(v[i].in)) == v[i].h1);
  }
  /* The first HAMT slot is the top byte of h1, the next one the byte below. */
  CHECK_EQ(wr_ufs_hamt_index("hello", 5, 8, 0), 0xcb);
  CHECK_EQ(wr_ufs_hamt_index("hello", 5, 8, 1), 0xd8);
  CHECK_EQ(wr_ufs_hamt_index("hello", 5, 4, 1), 0xb);
  /* Past 64 bits the name is rehashed with the depth byte appended. */
  uint64_t h[2];
  wr_murmur3_x64_128("hello\x01", 6, 0, h);
  CHECK_EQ(wr_ufs_hamt_index("hello", 5, 8, 8), (uint32_t)(h[0] >> 56));
}

static void test_vectors_files(void) {
  wr_ufs_params p;
  wr_ufs_link root;
  static collect c;

  wr_ufs_params_default(&p);
  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "hello world\n", 12, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
  uint8_t want[20];
  CHECK_EQ(wr_hex_decode(want, sizeof want, "0a120802120c68656c6c6f20776f726c640a180c", 40), 0);
  CHECK_EQ(c.last_len, 20);
  CHECK_MEMEQ(c.last, want, 20);
  CHECK_EQ(c.blocks, 1);
  CHECK_EQ(root.tsize, 20);
  CHECK_EQ(root.filesize, 12);

  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "hello world", 11, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD");

  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "", 0, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  CHECK_EQ(c.last_len, 6);
  CHECK_MEMEQ(c.last, "\x0a\x04\x08\x02\x18\x00", 6);

  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "Hello Worlds!\n", 14, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH");
  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "IPFS\n", 5, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "QmdFyxZXsFiP4csgfM5uPu99AvFiKH62CSPDw5TP92nr7w");

  /* trickle: the root is a node even over one leaf (a Raw leaf). */
  p.layout = WR_UFS_TRICKLE;
  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "Hello Worlds!\n", 14, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "QmUkUQgxXeggyaD5Ckv8ZqfW8wHBX6cYyeiyqvVZYzq5Bi");
  CHECK_EQ(c.blocks, 2);

  wr_ufs_params_default(&p);
  p.cid_version = 1;
  p.raw_leaves = 1;
  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "hello world\n", 12, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  memset(&c, 0, sizeof c);
  wr_ufs_params_default(&p);
  p.raw_leaves = 1;
  CHECK_EQ(build(&p, "", 0, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");

  wr_ufs_params_default(&p);
  CHECK_EQ(wr_ufs_params_profile(&p, "unixfs-v1-2025"), 0);
  CHECK_EQ(p.chunk_size, 1048576);
  CHECK_EQ(p.max_links, 1024);
  memset(&c, 0, sizeof c);
  CHECK_EQ(build(&p, "hello world", 11, &c, &root), 0);
  CHECK_STREQ(fmt(&root.cid), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  CHECK_EQ(wr_ufs_params_profile(&p, "unixfs-v9"), WR_ERR_INVAL);
}

static wr_ufs_link file_link(const wr_ufs_params *p, const char *text) {
  static collect c;
  memset(&c, 0, sizeof c);
  wr_ufs_link l;
  memset(&l, 0, sizeof l);
  CHECK_EQ(build(p, text, strlen(text), &c, &l), 0);
  return l;
}

static void test_vectors_dirs(void) {
  wr_ufs_params p;
  wr_ufs_link root;
  static collect c;
  wr_ufs_params_default(&p);

  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_ufs_dir_build(&p, NULL, 0, sink, &c, &root, NULL), 0);
  CHECK_STREQ(fmt(&root.cid), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  CHECK_EQ(c.last_len, 4);
  CHECK_MEMEQ(c.last, "\x0a\x02\x08\x01", 4);
  p.cid_version = 1;
  CHECK_EQ(wr_ufs_dir_build(&p, NULL, 0, sink, &c, &root, NULL), 0);
  CHECK_STREQ(fmt(&root.cid), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");

  static const struct {
    uint32_t v;
    int raw;
    const char *cid;
  } cases[] = {
      {0, 0, "QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY"},
      {0, 1, "QmfWfQfKCY5Ukv9peBbxM5vqWM9BzmqUSXvdCgjT2wsiBT"},
      {1, 1, "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi"},
      {1, 0, "bafybeif5tuep5ap2d7zyhbktucey75aoacxufgt6i3v4gebmixyipnyp7y"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wr_ufs_params_default(&p);
    p.cid_version = cases[i].v;
    p.raw_leaves = cases[i].raw;
    /* Given out of order: the builder sorts. */
    wr_ufs_dirent e[2] = {{"venus.txt", 9, file_link(&p, "Hello Venus!\n")},
                          {"mars.txt", 8, file_link(&p, "Hello Mars!\n")}};
    int sharded = -1;
    CHECK_EQ(wr_ufs_dir_build(&p, e, 2, sink, &c, &root, &sharded), 0);
    CHECK_STREQ(fmt(&root.cid), cases[i].cid);
    CHECK_EQ(sharded, 0);
  }
}

static void test_dir_misuse(void) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  wr_ufs_link l = file_link(&p, "x"), root;
  static collect c;
  memset(&c, 0, sizeof c);
  wr_ufs_dirent dup[2] = {{"a", 1, l}, {"a", 1, l}};
  CHECK_EQ(wr_ufs_dir_build(&p, dup, 2, sink, &c, &root, NULL), WR_ERR_INVAL);
  wr_ufs_dirent slash[1] = {{"a/b", 3, l}};
  CHECK_EQ(wr_ufs_dir_build(&p, slash, 1, sink, &c, &root, NULL), WR_ERR_INVAL);
  wr_ufs_dirent empty[1] = {{"", 0, l}};
  CHECK_EQ(wr_ufs_dir_build(&p, empty, 1, sink, &c, &root, NULL), WR_ERR_INVAL);
  /* A sink error stops the build and comes back unchanged. */
  wr_ufs_dirent ok[1] = {{"a", 1, l}};
  c.fail_at = 1;
  CHECK_EQ(wr_ufs_dir_build(&p, ok, 1, sink, &c, &root, NULL), WR_ERR_IO);
}

/* 4096 names of 30 bytes with CIDv0 links estimate exactly 4096 * 64 =
 * 262144 bytes: still flat (kubo shards only above the threshold); one more
 * entry shards. */
static void test_hamt_threshold(void) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  wr_ufs_link l = file_link(&p, "same content");
  size_t n = 4097;
  static collect c;
  wr_ufs_dirent *e = calloc(n, sizeof *e);
  char *names = calloc(n, 31);
  CHECK(e && names);
  if (!e || !names)
    return;
  for (size_t i = 0; i < n; i++) {
    snprintf(names + i * 31, 31, "entry-with-a-long-name-%07zu", i);
    e[i].name = names + i * 31;
    e[i].name_len = 30;
    e[i].link = l;
  }
  CHECK_EQ(wr_ufs_dir_estimate(&p, e, 4096), 262144);
  memset(&c, 0, sizeof c);
  wr_ufs_link root;
  int sharded = -1;
  CHECK_EQ(wr_ufs_dir_build(&p, e, 4096, sink, &c, &root, &sharded), 0);
  CHECK_EQ(sharded, 0);
  CHECK_EQ(c.blocks, 1);
  memset(&c, 0, sizeof c);
  CHECK_EQ(wr_ufs_dir_build(&p, e, 4097, sink, &c, &root, &sharded), 0);
  CHECK_EQ(sharded, 1);
  CHECK(c.blocks > 1);
  /* The root shard: a HAMTShard with fanout 256 and murmur3 as hashType,
   * and links named by two upper-case hex digits (plus the name for leaves). */
  wr_dagpb_node node;
  CHECK_EQ(wr_dagpb_decode(c.last, c.last_len, &node, NULL), 0);
  wr_unixfs u;
  CHECK_EQ(wr_unixfs_decode(node.data, node.data_len, &u, NULL), 0);
  CHECK_EQ(u.type, WR_UNIXFS_HAMTSHARD);
  CHECK_EQ(u.fanout, 256);
  CHECK_EQ(u.hash_type, 0x22);
  CHECK(node.nlinks > 200 && node.nlinks <= 256);
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &node);
  wr_dagpb_link lk;
  int checked = 0;
  while (wr_dagpb_iter_next(&it, &lk, NULL) == 1 && checked < 5) {
    CHECK(lk.name_len >= 2);
    for (int k = 0; k < 2; k++)
      CHECK((lk.name[k] >= '0' && lk.name[k] <= '9') || (lk.name[k] >= 'A' && lk.name[k] <= 'F'));
    checked++;
  }
  /* Block-size estimation (unixfs-v1-2025) counts the whole serialized
   * link: far more per entry, so fewer entries shard. */
  CHECK_EQ(wr_ufs_params_profile(&p, "unixfs-v1-2025"), 0);
  CHECK(wr_ufs_dir_estimate(&p, e, 4096) > 262144);
  free(e);
  free(names);
}

/* Counts the links of the root of a file built from n chunks. */
static size_t root_links(const wr_ufs_params *p, size_t nchunks) {
  size_t n = nchunks * p->chunk_size;
  uint8_t *data = calloc(n ? n : 1, 1);
  for (size_t i = 0; i < n; i++)
    data[i] = (uint8_t)(i * 7 + i / 251);
  static collect c;
  memset(&c, 0, sizeof c);
  wr_ufs_link root;
  CHECK_EQ(build(p, data, n, &c, &root), 0);
  free(data);
  CHECK_EQ(root.filesize, n);
  wr_dagpb_node node;
  if (wr_dagpb_decode(c.last, c.last_len, &node, NULL) != 0)
    return 0;
  return node.nlinks;
}

static void test_layout_shapes(void) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  p.chunk_size = 16;
  p.max_links = 4;
  /* balanced: 4 chunks fill one node; 5 make a root over two nodes; 16 a
   * full two-level tree; 17 a third level. */
  CHECK_EQ(root_links(&p, 4), 4);
  CHECK_EQ(root_links(&p, 5), 2);
  CHECK_EQ(root_links(&p, 16), 4);
  CHECK_EQ(root_links(&p, 17), 2);
  /* trickle: max_links leaves, then 4 depth-1 subtrees, then depth 2 ... */
  p.layout = WR_UFS_TRICKLE;
  CHECK_EQ(root_links(&p, 1), 1);
  CHECK_EQ(root_links(&p, 4), 4);
  CHECK_EQ(root_links(&p, 5), 5);
  CHECK_EQ(root_links(&p, 4 + 4 * 4), 8);
  CHECK_EQ(root_links(&p, 4 + 4 * 4 + 1), 9);
}

static void test_file_misuse(void) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  p.chunk_size = 8;
  static collect c;
  memset(&c, 0, sizeof c);
  wr_ufs_file *f = NULL;
  CHECK_EQ(wr_ufs_file_new(&p, sink, &c, &f), 0);
  CHECK_EQ(wr_ufs_file_chunk(f, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_ufs_file_chunk(f, 9), WR_ERR_INVAL);
  memset(wr_ufs_file_chunk_buf(f), 'a', 8);
  CHECK_EQ(wr_ufs_file_chunk(f, 5), 0);
  /* After a short chunk the file must end. */
  CHECK_EQ(wr_ufs_file_chunk(f, 8), WR_ERR_INVAL);
  wr_ufs_file_del(f);

  const char *why = NULL;
  p.chunk_size = WR_UFS_MAX_CHUNK + 1;
  CHECK_EQ(wr_ufs_params_check(&p, &why), WR_ERR_INVAL);
  CHECK(why != NULL);
  CHECK_EQ(wr_ufs_file_new(&p, sink, &c, &f), WR_ERR_INVAL);
  CHECK(f == NULL);
  wr_ufs_params_default(&p);
  p.max_links = 1;
  CHECK_EQ(wr_ufs_params_check(&p, NULL), WR_ERR_INVAL);
  wr_ufs_params_default(&p);
  p.hamt_fanout = 100;
  CHECK_EQ(wr_ufs_params_check(&p, NULL), WR_ERR_INVAL);
  p.hamt_fanout = 256;
  p.cid_version = 2;
  CHECK_EQ(wr_ufs_params_check(&p, NULL), WR_ERR_INVAL);

  /* The sink's error stops the file. */
  wr_ufs_params_default(&p);
  p.chunk_size = 4;
  memset(&c, 0, sizeof c);
  c.fail_at = 2;
  wr_ufs_link root;
  CHECK_EQ(build(&p, "abcdefghij", 10, &c, &root), WR_ERR_IO);
}

/* Every allocation failure unwinds cleanly (ASan finds leaks). */
static void test_alloc_failures(void) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  p.chunk_size = 16;
  p.max_links = 3;
  static uint8_t data[16 * 40];
  for (int layout = 0; layout < 2; layout++) {
    p.layout = layout ? WR_UFS_TRICKLE : WR_UFS_BALANCED;
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
      static collect c;
      memset(&c, 0, sizeof c);
      wr_ufs_link root;
      wr_mem_fail_after(n);
      int rv = build(&p, data, sizeof data, &c, &root);
      wr_mem_fail_after(-1);
      if (rv == 0)
        ok = 1;
      else
        CHECK_EQ(rv, WR_ERR_NOMEM);
    }
    CHECK(ok);
  }
  /* HAMT folders too. */
  wr_ufs_params_default(&p);
  p.hamt_threshold = 10;
  wr_ufs_link l = file_link(&p, "x");
  wr_ufs_dirent e[40];
  char names[40][16];
  int ok = 0;
  for (long n = 0; n < 400 && !ok; n++) {
    for (int i = 0; i < 40; i++) {
      snprintf(names[i], sizeof names[i], "n%d", i);
      e[i].name = names[i];
      e[i].name_len = strlen(names[i]);
      e[i].link = l;
    }
    static collect c;
    memset(&c, 0, sizeof c);
    wr_ufs_link root;
    wr_mem_fail_after(n);
    int rv = wr_ufs_dir_build(&p, e, 40, sink, &c, &root, NULL);
    wr_mem_fail_after(-1);
    if (rv == 0)
      ok = 1;
    else
      CHECK_EQ(rv, WR_ERR_NOMEM);
  }
  CHECK(ok);
}

static void test_symlink(void) {
  wr_ufs_params p;
  wr_ufs_params_default(&p);
  static collect c;
  memset(&c, 0, sizeof c);
  wr_ufs_link root;
  CHECK_EQ(wr_ufs_symlink_build(&p, "../sub/a", 8, sink, &c, &root), 0);
  /* PBNode{Data: UnixFS{Type: Symlink, Data: "../sub/a"}}, no filesize. */
  CHECK_EQ(c.last_len, 14);
  CHECK_MEMEQ(c.last, "\x0a\x0c\x08\x04\x12\x08../sub/a", 14);
  CHECK_EQ(root.tsize, 14);
}

int main(void) {
  RUN(test_murmur3);
  RUN(test_vectors_files);
  RUN(test_vectors_dirs);
  RUN(test_dir_misuse);
  RUN(test_hamt_threshold);
  RUN(test_layout_shapes);
  RUN(test_file_misuse);
  RUN(test_alloc_failures);
  RUN(test_symlink);
  return test_done();
}
