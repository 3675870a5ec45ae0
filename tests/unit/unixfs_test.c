#include "proto/multiformats/cid.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "test.h"

static size_t unhex(const char *h, uint8_t *out) {
  size_t n = strlen(h) / 2;
  return wr_hex_decode(out, n, h, n * 2) ? 0 : n;
}

/* Builds a dag-pb node holding u, and checks its CIDv0. */
static void check_node_cid(const wr_unixfs *u, const char *want_hex, const char *want_cid) {
  wr_buf data, block;
  wr_buf_init(&data, 1 << 16);
  wr_buf_init(&block, 1 << 16);
  CHECK_EQ(wr_unixfs_encode(&data, u), 0);
  CHECK_EQ(data.len, wr_unixfs_encoded_size(u));
  CHECK_EQ(wr_dagpb_put_data(&block, data.data, data.len), 0);
  uint8_t want[64];
  size_t wn = unhex(want_hex, want);
  CHECK_EQ(block.len, wn);
  CHECK_MEMEQ(block.data, want, wn);
  wr_cid cid;
  CHECK_EQ(wr_cid_sum(&cid, 0, WR_CODEC_DAG_PB, block.data, block.len), 0);
  char s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&cid, 0, s, sizeof s) > 0);
  CHECK_STREQ(s, want_cid);
  wr_buf_free(&data);
  wr_buf_free(&block);
}

static void test_kubo_vectors(void) {
  wr_unixfs u = {0};
  u.type = WR_UNIXFS_FILE;
  u.data = (const uint8_t *)"hello world\n";
  u.data_len = 12;
  u.has_data = 1;
  u.filesize = 12;
  u.has_filesize = 1;
  check_node_cid(&u, "0a120802120c68656c6c6f20776f726c640a180c",
                 "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
  wr_unixfs e = {0};
  e.type = WR_UNIXFS_FILE;
  e.has_filesize = 1;
  check_node_cid(&e, "0a0408021800", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  wr_unixfs d = {0};
  d.type = WR_UNIXFS_DIRECTORY;
  check_node_cid(&d, "0a020801", "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
}

static void test_decode_vector(void) {
  uint8_t block[64];
  size_t n = unhex("0a120802120c68656c6c6f20776f726c640a180c", block);
  wr_dagpb_node node;
  CHECK_EQ(wr_dagpb_decode(block, n, &node, NULL), 0);
  wr_unixfs u;
  CHECK_EQ(wr_unixfs_decode(node.data, node.data_len, &u, NULL), 0);
  CHECK_EQ(u.type, WR_UNIXFS_FILE);
  CHECK(u.has_data && u.data_len == 12 && memcmp(u.data, "hello world\n", 12) == 0);
  CHECK(u.has_filesize && u.filesize == 12);
  CHECK_EQ(u.nblocksizes, 0);
  CHECK(!u.has_mtime && !u.has_mode);
  CHECK_STREQ(wr_unixfs_type_name(u.type), "file");
}

static void test_full_roundtrip(void) {
  uint64_t bs[3] = {262144, 262144, 5};
  wr_unixfs u = {0};
  u.type = WR_UNIXFS_HAMTSHARD;
  u.data = (const uint8_t *)"\x01\x02";
  u.data_len = 2;
  u.has_data = 1;
  u.filesize = 524293;
  u.has_filesize = 1;
  u.blocksizes = bs;
  u.nblocksizes = 3;
  u.hash_type = 0x22;
  u.has_hash_type = 1;
  u.fanout = 256;
  u.has_fanout = 1;
  u.mode = 0755;
  u.has_mode = 1;
  u.mtime_sec = -12345;
  u.mtime_nsec = 999999999;
  u.has_mtime = u.has_mtime_nsec = 1;
  wr_buf b;
  wr_buf_init(&b, 1024);
  CHECK_EQ(wr_unixfs_encode(&b, &u), 0);
  CHECK_EQ(b.len, wr_unixfs_encoded_size(&u));
  wr_unixfs d;
  CHECK_EQ(wr_unixfs_decode(b.data, b.len, &d, NULL), 0);
  CHECK_EQ(d.type, WR_UNIXFS_HAMTSHARD);
  CHECK(d.filesize == 524293 && d.nblocksizes == 3 && d.hash_type == 0x22 && d.fanout == 256);
  CHECK(d.mode == 0755 && d.mtime_sec == -12345 && d.mtime_nsec == 999999999);
  CHECK(d.has_mtime && d.has_mtime_nsec);
  wr_unixfs_bs_iter it;
  uint64_t v;
  wr_unixfs_bs_init(&it, &d);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(wr_unixfs_bs_next(&it, &v), 1);
    CHECK(v == bs[i]);
  }
  CHECK_EQ(wr_unixfs_bs_next(&it, &v), 0);
  /* re-encoding the decoded message gives the same bytes */
  uint64_t again[3];
  wr_unixfs_bs_init(&it, &d);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(wr_unixfs_bs_next(&it, &again[i]), 1);
  d.blocksizes = again;
  wr_buf b2;
  wr_buf_init(&b2, 1024);
  CHECK_EQ(wr_unixfs_encode(&b2, &d), 0);
  CHECK_EQ(b2.len, b.len);
  CHECK_MEMEQ(b2.data, b.data, b.len);
  wr_buf_free(&b);
  wr_buf_free(&b2);
}

static void test_packed_blocksizes(void) {
  /* Type=2, blocksizes packed [1, 300], then one unpacked 7 */
  uint8_t m[16];
  size_t n = unhex("0802220301ac022007", m);
  wr_unixfs u;
  CHECK_EQ(wr_unixfs_decode(m, n, &u, NULL), 0);
  CHECK_EQ(u.nblocksizes, 3);
  wr_unixfs_bs_iter it;
  uint64_t v;
  wr_unixfs_bs_init(&it, &u);
  CHECK_EQ(wr_unixfs_bs_next(&it, &v), 1);
  CHECK(v == 1);
  CHECK_EQ(wr_unixfs_bs_next(&it, &v), 1);
  CHECK(v == 300);
  CHECK_EQ(wr_unixfs_bs_next(&it, &v), 1);
  CHECK(v == 7);
  CHECK_EQ(wr_unixfs_bs_next(&it, &v), 0);
}

static void expect_bad(const char *h, int err, const char *why_want) {
  uint8_t m[64];
  size_t n = unhex(h, m);
  wr_unixfs u;
  const char *why = NULL;
  CHECK_EQ(wr_unixfs_decode(m, n, &u, &why), err);
  CHECK_STREQ(why, why_want);
}

static void test_strictness(void) {
  expect_bad("", WR_ERR_MALFORMED, "UnixFS Data without Type");
  expect_bad("1800", WR_ERR_MALFORMED, "UnixFS Data without Type");
  expect_bad("08020802", WR_ERR_MALFORMED, "duplicate UnixFS Type");
  expect_bad("0806", WR_ERR_UNSUPPORTED, "unknown UnixFS Type");
  expect_bad("08024800", WR_ERR_MALFORMED, "unknown field in UnixFS Data");
  expect_bad("08021a00", WR_ERR_MALFORMED, "UnixFS field has the wrong wire type");
  expect_bad("080212001200", WR_ERR_MALFORMED, "duplicate UnixFS Data");
  expect_bad("080218011801", WR_ERR_MALFORMED, "duplicate UnixFS filesize");
  expect_bad("080238808080801010", WR_ERR_MALFORMED, "UnixFS mode does not fit 32 bits");
  expect_bad("08024200", WR_ERR_MALFORMED, "UnixFS mtime without Seconds");
  expect_bad("0802420708011500ca9a3b", WR_ERR_MALFORMED,
             "mtime FractionalNanoseconds out of range");
  expect_bad("080242040801150a", WR_ERR_TRUNCATED,
             "input ends inside mtime FractionalNanoseconds");
  expect_bad("08024202080142020801", WR_ERR_MALFORMED, "duplicate UnixFS mtime");
  expect_bad("0802120a", WR_ERR_TRUNCATED, "protobuf field runs past the end of its message");
  expect_bad("08022201ff", WR_ERR_MALFORMED, "packed blocksizes end inside a varint");
}

static void test_encode_errors(void) {
  wr_buf b;
  wr_buf_init(&b, 4);
  wr_unixfs u = {0};
  u.type = 9;
  CHECK_EQ(wr_unixfs_encode(&b, &u), WR_ERR_INVAL);
  u.type = WR_UNIXFS_FILE;
  u.data = (const uint8_t *)"0123456789";
  u.data_len = 10;
  u.has_data = 1;
  CHECK_EQ(wr_unixfs_encode(&b, &u), WR_ERR_LIMIT);
  CHECK_EQ(b.len, 0);
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_kubo_vectors);
  RUN(test_decode_vector);
  RUN(test_full_roundtrip);
  RUN(test_packed_blocksizes);
  RUN(test_strictness);
  RUN(test_encode_errors);
  return test_done();
}
