/* bitswap_test.c: the Bitswap message and framing both ways, and the
 * decoder's refusals. */
#include "base/mem.h"
#include "proto/p2p/bitswap.h"
#include "test.h"

static wr_cid block_cid(uint32_t version, uint64_t codec, const char *data) {
  wr_cid c;
  CHECK_EQ(wr_cid_sum(&c, version, codec, data, strlen(data)), 0);
  return c;
}

/* Encodes m into out (initialised here) and decodes it into d, whose
 * pointers go into out. */
static void encode_decode(const wr_bitswap_msg *m, unsigned flags, wr_buf *out, wr_bitswap_msg *d) {
  wr_buf_init(out, WR_BITSWAP_MAX_MSG);
  CHECK_EQ(wr_bitswap_encode(m, flags, out), 0);
  const char *why = NULL;
  CHECK_EQ(wr_bitswap_decode(out->data, out->len, d, &why), 0);
}

static void test_roundtrip(void) {
  wr_bitswap_entry e[3];
  memset(e, 0, sizeof e);
  e[0].cid = block_cid(0, WR_CODEC_DAG_PB, "a");
  e[0].priority = 10;
  e[1].cid = block_cid(1, WR_CODEC_RAW, "b");
  e[1].want_type = WR_BITSWAP_WANT_HAVE;
  e[1].send_dont_have = 1;
  e[1].priority = -3;
  e[2].cid = block_cid(1, WR_CODEC_RAW, "c");
  e[2].cancel = 1;
  const char *data = "hello block";
  wr_cid bc = block_cid(1, WR_CODEC_RAW, data);
  wr_bitswap_block b;
  wr_bitswap_prefix_of(&bc, &b.prefix);
  b.data = (const uint8_t *)data;
  b.len = strlen(data);
  wr_bitswap_presence pr[2] = {{.cid = e[0].cid, .type = WR_BITSWAP_HAVE},
                               {.cid = e[1].cid, .type = WR_BITSWAP_DONT_HAVE}};
  wr_bitswap_msg m = {.entries = e,
                      .nentries = 3,
                      .full = 1,
                      .blocks = &b,
                      .nblocks = 1,
                      .presences = pr,
                      .npresences = 2,
                      .pending_bytes = 1234};
  wr_buf out;
  wr_bitswap_msg d;
  encode_decode(&m, 0, &out, &d);
  CHECK_EQ(d.nentries, 3);
  CHECK_EQ(d.full, 1);
  CHECK(wr_cid_equal(&d.entries[0].cid, &e[0].cid));
  CHECK_EQ(d.entries[0].priority, 10);
  CHECK_EQ(d.entries[0].want_type, WR_BITSWAP_WANT_BLOCK);
  CHECK_EQ(d.entries[1].priority, -3);
  CHECK_EQ(d.entries[1].want_type, WR_BITSWAP_WANT_HAVE);
  CHECK_EQ(d.entries[1].send_dont_have, 1);
  CHECK_EQ(d.entries[2].cancel, 1);
  CHECK_EQ(d.nblocks, 1);
  CHECK_EQ(d.blocks[0].len, strlen(data));
  CHECK_MEMEQ(d.blocks[0].data, data, strlen(data));
  wr_cid got;
  CHECK_EQ(wr_bitswap_block_cid(&d.blocks[0], &got), 0);
  CHECK(wr_cid_equal(&got, &bc));
  CHECK_EQ(d.npresences, 2);
  CHECK(wr_cid_equal(&d.presences[1].cid, &e[1].cid));
  CHECK_EQ(d.presences[1].type, WR_BITSWAP_DONT_HAVE);
  CHECK_EQ(d.pending_bytes, 1234);
  wr_bitswap_msg_free(&d);

  /* 1.0.0: a CIDv0 block travels as bare bytes and comes back as CIDv0;
   * 1.2's fields are left out. */
  wr_cid v0 = block_cid(0, WR_CODEC_DAG_PB, data);
  wr_bitswap_prefix_of(&v0, &b.prefix);
  wr_buf_free(&out);
  encode_decode(&m, WR_BITSWAP_ENC_V100, &out, &d);
  CHECK_EQ(d.npresences, 0);
  CHECK_EQ(d.entries[1].want_type, WR_BITSWAP_WANT_BLOCK);
  CHECK_EQ(wr_bitswap_block_cid(&d.blocks[0], &got), 0);
  CHECK(wr_cid_equal(&got, &v0));
  wr_bitswap_msg_free(&d);
  /* A CIDv1 raw block cannot be told in 1.0.0. */
  wr_bitswap_prefix_of(&bc, &b.prefix);
  wr_buf_reset(&out);
  CHECK_EQ(wr_bitswap_encode(&m, WR_BITSWAP_ENC_V100, &out), WR_ERR_INVAL);
  wr_buf_free(&out);
}

/* A block whose bytes do not match the CID the peer meant still hashes to
 * what it is: the caller compares that with what it wanted. */
static void test_block_cid_is_computed(void) {
  wr_bitswap_block b = {
      .prefix = {1, WR_CODEC_RAW, WR_MH_SHA2_256, 32}, .data = (const uint8_t *)"x", .len = 1};
  wr_cid got, want = block_cid(1, WR_CODEC_RAW, "y");
  CHECK_EQ(wr_bitswap_block_cid(&b, &got), 0);
  CHECK(!wr_cid_equal(&got, &want));
  b.prefix.mh_len = 20; /* a truncated digest */
  CHECK_EQ(wr_bitswap_block_cid(&b, &got), WR_ERR_UNSUPPORTED);
  b.prefix.mh_len = 32;
  b.prefix.mh_code = 0xb220; /* blake2b-256: not computed here */
  CHECK_EQ(wr_bitswap_block_cid(&b, &got), WR_ERR_UNSUPPORTED);
}

static void test_frame(void) {
  size_t hdr, body;
  const char *why = NULL;
  CHECK_EQ(wr_bitswap_frame((const uint8_t *)"", 0, &hdr, &body, &why), WR_ERR_AGAIN);
  CHECK_EQ(wr_bitswap_frame((const uint8_t *)"\x03"
                                             "ab",
                            3, &hdr, &body, &why),
           WR_ERR_AGAIN);
  CHECK_EQ(wr_bitswap_frame((const uint8_t *)"\x03"
                                             "abcd",
                            5, &hdr, &body, &why),
           0);
  CHECK_EQ(hdr, 1);
  CHECK_EQ(body, 3);
  CHECK_EQ(wr_bitswap_frame((const uint8_t *)"\x80", 1, &hdr, &body, &why), WR_ERR_AGAIN);
  /* 4 MiB + 1 */
  CHECK_EQ(wr_bitswap_frame((const uint8_t *)"\x81\x80\x80\x02", 4, &hdr, &body, &why),
           WR_ERR_LIMIT);
  CHECK_STREQ(why, "bitswap message longer than 4 MiB");
  CHECK_EQ(wr_bitswap_frame((const uint8_t *)"\x80\x00", 2, &hdr, &body, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "bitswap message length is a malformed varint");
  wr_buf b;
  wr_buf_init(&b, 16);
  CHECK_EQ(wr_bitswap_put_frame_len(&b, 300), 0);
  CHECK_EQ(b.len, 2);
  CHECK_MEMEQ(b.data, "\xac\x02", 2);
  wr_buf_free(&b);
}

#define DEC(lit, code, reason)                                                                     \
  do {                                                                                             \
    wr_bitswap_msg d_;                                                                             \
    const char *w_ = NULL;                                                                         \
    CHECK_EQ(wr_bitswap_decode((const uint8_t *)(lit), sizeof(lit) - 1, &d_, &w_), (code));        \
    if (code)                                                                                      \
      CHECK_STREQ(w_, (reason));                                                                   \
    wr_bitswap_msg_free(&d_);                                                                      \
  } while (0)

static void test_refusals(void) {
  DEC("", 0, NULL);
  /* Unknown fields are skipped. */
  DEC("\x30\x01\x3a\x01x", 0, NULL);
  DEC("\x08\x01", WR_ERR_MALFORMED, "bitswap message field has the wrong wire type");
  DEC("\x0a\x05\x0a", WR_ERR_MALFORMED, "bitswap message field runs past the end");
  /* An entry with junk as its CID. */
  DEC("\x0a\x05\x0a\x03\x0a\x01\x07", WR_ERR_MALFORMED,
      "bitswap wantlist entry names no valid CID");
  /* An entry without a CID. */
  DEC("\x0a\x04\x0a\x02\x10\x01", WR_ERR_MALFORMED, "bitswap wantlist entry names no CID");
  /* full = 2 */
  DEC("\x0a\x02\x10\x02", WR_ERR_MALFORMED, "bitswap wantlist's full flag is neither 0 nor 1");
  /* A payload whose prefix is three varints. */
  DEC("\x1a\x05\x0a\x03\x01\x55\x12", WR_ERR_MALFORMED, "bitswap block prefix is not four varints");
  DEC("\x1a\x06\x0a\x04\x02\x55\x12\x20", WR_ERR_MALFORMED,
      "bitswap block prefix names no CID version warren knows");
  DEC("\x1a\x03\x12\x01x", WR_ERR_MALFORMED, "bitswap block has no CID prefix");
  /* A presence of type 2. */
  DEC("\x22\x02\x10\x02", WR_ERR_MALFORMED, "bitswap block presence has an unknown type");
  DEC("\x22\x02\x10\x01", WR_ERR_MALFORMED, "bitswap block presence names no CID");
  DEC("\x28\x80", WR_ERR_MALFORMED, "bitswap pendingBytes is a malformed varint");
  DEC("\x37", WR_ERR_MALFORMED, "bitswap field has an unknown wire type");

  /* Over 4 MiB. */
  uint8_t *big = wr_calloc(1, WR_BITSWAP_MAX_MSG + 1);
  wr_bitswap_msg d;
  const char *why = NULL;
  CHECK_EQ(wr_bitswap_decode(big, WR_BITSWAP_MAX_MSG + 1, &d, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "bitswap message longer than 4 MiB");
  wr_free(big);

  /* 8193 entries. */
  wr_cid c = block_cid(1, WR_CODEC_RAW, "z");
  uint8_t raw[WR_CID_MAX_BYTES];
  int k = wr_cid_to_bytes(&c, raw, sizeof raw);
  CHECK(k > 0);
  wr_buf wl, msg;
  wr_buf_init(&wl, WR_BITSWAP_MAX_MSG);
  wr_buf_init(&msg, WR_BITSWAP_MAX_MSG);
  for (int i = 0; i < WR_BITSWAP_MAX_ENTRIES + 1; i++) {
    uint8_t ent[64];
    ent[0] = 0x0a;
    ent[1] = (uint8_t)k;
    memcpy(ent + 2, raw, (size_t)k);
    CHECK_EQ(wr_buf_append(&wl, "\x0a", 1), 0);
    uint8_t l = (uint8_t)(k + 2);
    CHECK_EQ(wr_buf_append(&wl, &l, 1), 0);
    CHECK_EQ(wr_buf_append(&wl, ent, (size_t)k + 2), 0);
  }
  uint8_t key = 0x0a;
  CHECK_EQ(wr_buf_append(&msg, &key, 1), 0);
  uint8_t vl[10];
  size_t vn = 0;
  for (size_t v = wl.len;; v >>= 7) {
    vl[vn++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
    if (!(v >> 7))
      break;
  }
  CHECK_EQ(wr_buf_append(&msg, vl, vn), 0);
  CHECK_EQ(wr_buf_append(&msg, wl.data, wl.len), 0);
  CHECK_EQ(wr_bitswap_decode(msg.data, msg.len, &d, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "bitswap wantlist has more than 8192 entries");
  wr_buf_free(&wl);
  wr_buf_free(&msg);
}

/* Every allocation failing in turn: a clean WR_ERR_NOMEM, nothing leaked. */
static void test_nomem(void) {
  wr_bitswap_entry e[40];
  memset(e, 0, sizeof e);
  for (int i = 0; i < 40; i++) {
    char s[16];
    snprintf(s, sizeof s, "%d", i);
    e[i].cid = block_cid(1, WR_CODEC_RAW, s);
  }
  wr_bitswap_msg m = {.entries = e, .nentries = 40};
  wr_buf out;
  wr_buf_init(&out, WR_BITSWAP_MAX_MSG);
  CHECK_EQ(wr_bitswap_encode(&m, 0, &out), 0);
  for (int n = 0; n < 4; n++) {
    wr_mem_fail_after(n);
    wr_bitswap_msg d;
    int rv = wr_bitswap_decode(out.data, out.len, &d, NULL);
    wr_mem_fail_after(-1);
    CHECK(rv == 0 || rv == WR_ERR_NOMEM);
    wr_bitswap_msg_free(&d);
  }
  wr_buf_free(&out);
}

/* Blocks of kubo's size (a 3-byte length) and a 1 MiB one (4 bytes) in
 * one message: the payload's length is computed, not measured. */
static void test_big_blocks(void) {
  size_t sizes[2] = {262158, 1u << 20};
  uint8_t *data[2];
  wr_bitswap_block b[2];
  for (int i = 0; i < 2; i++) {
    data[i] = wr_malloc(sizes[i]);
    CHECK(data[i] != NULL);
    for (size_t k = 0; k < sizes[i]; k++)
      data[i][k] = (uint8_t)(k * 7 + (size_t)i);
    wr_cid c;
    CHECK_EQ(wr_cid_sum(&c, 1, WR_CODEC_RAW, data[i], sizes[i]), 0);
    wr_bitswap_prefix_of(&c, &b[i].prefix);
    b[i].data = data[i];
    b[i].len = sizes[i];
  }
  wr_bitswap_msg m = {.blocks = b, .nblocks = 2};
  wr_buf out;
  wr_bitswap_msg d;
  encode_decode(&m, 0, &out, &d);
  CHECK_EQ(d.nblocks, 2);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(d.blocks[i].len, sizes[i]);
    CHECK_MEMEQ(d.blocks[i].data, data[i], sizes[i]);
    wr_free(data[i]);
  }
  wr_bitswap_msg_free(&d);
  wr_buf_free(&out);
}

int main(void) {
  RUN(test_roundtrip);
  RUN(test_big_blocks);
  RUN(test_block_cid_is_computed);
  RUN(test_frame);
  RUN(test_refusals);
  RUN(test_nomem);
  return test_done();
}
