#include "proto/ipld/dagpb.h"
#include "test.h"

static size_t unhex(const char *h, uint8_t *out) {
  size_t n = strlen(h) / 2;
  return wr_hex_decode(out, n, h, n * 2) ? 0 : n;
}

static void test_data_only_blocks(void) {
  uint8_t block[64];
  size_t n = unhex("0a120802120c68656c6c6f20776f726c640a180c", block);
  wr_dagpb_node node;
  CHECK_EQ(wr_dagpb_decode(block, n, &node, NULL), 0);
  CHECK(node.has_data);
  CHECK_EQ(node.data_len, 18);
  CHECK_EQ(node.nlinks, 0);
  /* re-encoding gives the same bytes */
  wr_buf b;
  wr_buf_init(&b, 1024);
  CHECK_EQ(wr_dagpb_put_data(&b, node.data, node.data_len), 0);
  CHECK_EQ(b.len, n);
  CHECK_MEMEQ(b.data, block, n);
  wr_buf_free(&b);
  /* empty block: no links, no data */
  CHECK_EQ(wr_dagpb_decode(block, 0, &node, NULL), 0);
  CHECK(!node.has_data);
}

static void test_links_roundtrip(void) {
  wr_cid c1, c2;
  CHECK_EQ(wr_cid_parse_str("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", &c1, NULL), 0);
  CHECK_EQ(wr_cid_parse_str("bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su", &c2,
                            NULL), 0);
  wr_buf b;
  wr_buf_init(&b, 4096);
  uint64_t ts = 6, ts2 = 300;
  size_t expect = wr_dagpb_link_size(&c1, 5, 1, &ts) + wr_dagpb_link_size(&c2, 0, 0, &ts2) +
                  wr_dagpb_link_size(&c1, 0, 1, NULL);
  CHECK_EQ(wr_dagpb_put_link(&b, &c1, "a.txt", 5, &ts), 0);
  CHECK_EQ(wr_dagpb_put_link(&b, &c2, NULL, 0, &ts2), 0);
  CHECK_EQ(wr_dagpb_put_link(&b, &c1, "", 0, NULL), 0);
  CHECK_EQ(b.len, expect);
  CHECK_EQ(wr_dagpb_put_data(&b, "\x08\x01", 2), 0);
  wr_dagpb_node node;
  CHECK_EQ(wr_dagpb_decode(b.data, b.len, &node, NULL), 0);
  CHECK_EQ(node.nlinks, 3);
  CHECK_EQ(node.data_len, 2);
  wr_dagpb_iter it;
  wr_dagpb_link l;
  wr_dagpb_iter_init(&it, &node);
  CHECK_EQ(wr_dagpb_iter_next(&it, &l, NULL), 1);
  CHECK(wr_cid_equal(&l.cid, &c1));
  CHECK(l.has_name && l.name_len == 5 && memcmp(l.name, "a.txt", 5) == 0);
  CHECK(l.has_tsize && l.tsize == 6);
  CHECK_EQ(wr_dagpb_iter_next(&it, &l, NULL), 1);
  CHECK(wr_cid_equal(&l.cid, &c2));
  CHECK(!l.has_name && l.has_tsize && l.tsize == 300);
  CHECK_EQ(wr_dagpb_iter_next(&it, &l, NULL), 1);
  CHECK(l.has_name && l.name_len == 0 && !l.has_tsize);
  CHECK_EQ(wr_dagpb_iter_next(&it, &l, NULL), 0);
  wr_buf_free(&b);
}

static void test_put_limit_leaves_nothing(void) {
  wr_cid c1;
  CHECK_EQ(wr_cid_parse_str("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", &c1, NULL), 0);
  wr_buf b;
  wr_buf_init(&b, 20);
  CHECK_EQ(wr_dagpb_put_link(&b, &c1, "x", 1, NULL), WR_ERR_LIMIT);
  CHECK_EQ(b.len, 0);
  wr_buf_free(&b);
}

static void expect_bad(const char *hexblock, int err, const char *why_want) {
  uint8_t block[256];
  size_t n = unhex(hexblock, block);
  wr_dagpb_node node;
  const char *why = NULL;
  CHECK_EQ(wr_dagpb_decode(block, n, &node, &why), err);
  if (why_want)
    CHECK_STREQ(why, why_want);
}

/* the Hash field of a link: key, length 34, a CIDv0 of zeros */
#define H34 "0a221220" "0000000000000000000000000000000000000000000000000000000000000000"

static void test_strictness(void) {
  /* a valid one-link node for reference: link{Hash} then Data */
  expect_bad("1224" H34 "0a00", 0, NULL);
  expect_bad("0a00" "1224" H34, WR_ERR_MALFORMED, "Data before Links in dag-pb node");
  expect_bad("0a000a00", WR_ERR_MALFORMED, "duplicate Data in dag-pb node");
  expect_bad("1a00", WR_ERR_MALFORMED, "unknown field in dag-pb node");
  expect_bad("0800", WR_ERR_MALFORMED, "dag-pb node field has the wrong wire type");
  expect_bad("0a05", WR_ERR_TRUNCATED, NULL);
  expect_bad("1200", WR_ERR_MALFORMED, "dag-pb link without Hash");
  expect_bad("1248" H34 H34, WR_ERR_MALFORMED, "duplicate Hash in link");
  /* Name before Hash */
  expect_bad("1226" "1200" H34, WR_ERR_MALFORMED, "link fields out of order (Name must follow Hash)");
  /* Tsize then Name */
  expect_bad("1228" H34 "18011200", WR_ERR_MALFORMED,
             "link fields out of order (Name must follow Hash)");
  expect_bad("1228" H34 "18011801", WR_ERR_MALFORMED, "duplicate Tsize in link");
  expect_bad("1226" H34 "1000", WR_ERR_MALFORMED, "link Name has the wrong wire type");
  expect_bad("1226" H34 "2000", WR_ERR_MALFORMED, "unknown field in dag-pb link");
  expect_bad("1226" H34 "1a00", WR_ERR_MALFORMED, "link Tsize has the wrong wire type");
  /* Hash that is not a CID */
  expect_bad("1203" "0a0102", WR_ERR_MALFORMED, "link Hash is not a valid CID");
  /* field number 0 */
  expect_bad("0200", WR_ERR_MALFORMED, "protobuf field number out of range");
  /* 11-byte varint */
  expect_bad("0affffffffffffffffffff01", WR_ERR_MALFORMED, "protobuf varint overflows 64 bits");
}

static void test_empty_dir_vector(void) {
  uint8_t block[8];
  size_t n = unhex("0a020801", block);
  wr_dagpb_node node;
  CHECK_EQ(wr_dagpb_decode(block, n, &node, NULL), 0);
  CHECK_EQ(node.nlinks, 0);
  CHECK_EQ(node.data_len, 2);
}

int main(void) {
  RUN(test_data_only_blocks);
  RUN(test_links_roundtrip);
  RUN(test_put_limit_leaves_nothing);
  RUN(test_strictness);
  RUN(test_empty_dir_vector);
  return test_done();
}
