/* kad_test.c: the kad-dht message, framing and XOR distance. */
#include "proto/p2p/kad.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

static wr_kad_msg *msg_new(void) { return calloc(1, sizeof(wr_kad_msg)); }

static void test_find_node_bytes(void) {
  /* type FIND_NODE (08 04), key "abc" (12 03 61 62 63) */
  static const uint8_t want[] = {0x08, 0x04, 0x12, 0x03, 'a', 'b', 'c'};
  wr_kad_msg *m = msg_new();
  m->type = WR_KAD_FIND_NODE;
  m->key = (wr_bytes){(const uint8_t *)"abc", 3};
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_kad_encode(m, &b), 0);
  CHECK_EQ(b.len, sizeof want);
  CHECK_MEMEQ(b.data, want, sizeof want);
  wr_kad_msg *d = msg_new();
  CHECK_EQ(wr_kad_decode(want, sizeof want, d, NULL), 0);
  CHECK_EQ(d->type, WR_KAD_FIND_NODE);
  CHECK_EQ(d->key.n, 3);
  CHECK_MEMEQ(d->key.p, "abc", 3);
  CHECK_EQ(d->ncloser, 0);
  CHECK_EQ(d->has_record, 0);
  CHECK_STREQ(wr_kad_type_name(d->type), "FIND_NODE");
  wr_buf_free(&b);
  free(m);
  free(d);
}

static void test_round_trip(void) {
  wr_kad_msg *m = msg_new();
  m->type = WR_KAD_GET_VALUE;
  m->key = (wr_bytes){(const uint8_t *)"/pk/x", 5};
  m->has_record = 1;
  m->record.key = m->key;
  m->record.value = (wr_bytes){(const uint8_t *)"value", 5};
  m->record.time_received = (wr_bytes){(const uint8_t *)"2026-12-06T00:00:00Z", 20};
  static const uint8_t addr[] = {0x04, 127, 0, 0, 1, 0x06, 0x10, 0x00};
  for (size_t i = 0; i < 20; i++) {
    m->closer[i].id = (wr_bytes){(const uint8_t *)"peer-id-bytes-0123456789", 5 + i};
    m->closer[i].addrs[0] = (wr_bytes){addr, sizeof addr};
    m->closer[i].naddrs = 1;
    m->closer[i].connection = (int)(i % 4);
  }
  m->ncloser = 20;
  m->providers[0].id = (wr_bytes){(const uint8_t *)"prov", 4};
  m->nproviders = 1;
  m->cluster_level = -3;
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_kad_encode_frame(m, &b), 0);
  const uint8_t *p;
  size_t n, used;
  /* every prefix of the frame asks for more */
  for (size_t cut = 0; cut < b.len; cut++)
    CHECK_EQ(wr_kad_frame_next(b.data, cut, &p, &n, &used, NULL), WR_ERR_AGAIN);
  CHECK_EQ(wr_kad_frame_next(b.data, b.len, &p, &n, &used, NULL), 0);
  CHECK_EQ(used, b.len);
  wr_kad_msg *d = msg_new();
  CHECK_EQ(wr_kad_decode(p, n, d, NULL), 0);
  CHECK_EQ(d->type, WR_KAD_GET_VALUE);
  CHECK_EQ(d->has_record, 1);
  CHECK_EQ(d->record.value.n, 5);
  CHECK_MEMEQ(d->record.value.p, "value", 5);
  CHECK_EQ(d->record.time_received.n, 20);
  CHECK_EQ(d->ncloser, 20);
  CHECK_EQ(d->closer[7].id.n, 12);
  CHECK_EQ(d->closer[7].connection, 3);
  CHECK_EQ(d->closer[7].naddrs, 1);
  CHECK_MEMEQ(d->closer[7].addrs[0].p, addr, sizeof addr);
  CHECK_EQ(d->nproviders, 1);
  CHECK_EQ(d->cluster_level, -3);
  /* re-encoding gives the same bytes */
  wr_buf b2;
  wr_buf_init(&b2, 1 << 20);
  CHECK_EQ(wr_kad_encode(d, &b2), 0);
  CHECK_EQ(b2.len, n);
  CHECK_MEMEQ(b2.data, p, n);
  wr_buf_free(&b);
  wr_buf_free(&b2);
  free(m);
  free(d);
}

static void expect(const uint8_t *p, size_t n, int err, const char *why) {
  wr_kad_msg *d = msg_new();
  const char *got = NULL;
  CHECK_EQ(wr_kad_decode(p, n, d, &got), err);
  CHECK_STREQ(got, why);
  free(d);
}

static void test_strict(void) {
  static const uint8_t unknown_type[] = {0x08, 0x06};
  expect(unknown_type, sizeof unknown_type, WR_ERR_MALFORMED, "kad message has an unknown type");
  static const uint8_t type_twice[] = {0x08, 0x04, 0x08, 0x04};
  expect(type_twice, sizeof type_twice, WR_ERR_MALFORMED, "kad message repeats its type");
  static const uint8_t key_as_varint[] = {0x10, 0x01};
  expect(key_as_varint, sizeof key_as_varint, WR_ERR_MALFORMED,
         "kad bytes field has the wrong wire type");
  static const uint8_t key_short[] = {0x12, 0x05, 'a'};
  expect(key_short, sizeof key_short, WR_ERR_MALFORMED, "kad field runs past the end");
  static const uint8_t peer_no_id[] = {0x42, 0x02, 0x18, 0x01};
  expect(peer_no_id, sizeof peer_no_id, WR_ERR_MALFORMED, "kad peer has no id");
  static const uint8_t peer_bad_conn[] = {0x42, 0x05, 0x0a, 0x01, 'x', 0x18, 0x07};
  expect(peer_bad_conn, sizeof peer_bad_conn, WR_ERR_MALFORMED,
         "kad peer has an unknown connection type");
  static const uint8_t level_big[] = {0x50, 0x80, 0x80, 0x80, 0x80, 0x08};
  expect(level_big, sizeof level_big, WR_ERR_MALFORMED,
         "kad cluster level is out of the int32 range");
  /* an unknown field (number 20, varint) is skipped */
  static const uint8_t unknown_field[] = {0xa0, 0x01, 0x05, 0x08, 0x05};
  wr_kad_msg *d = msg_new();
  CHECK_EQ(wr_kad_decode(unknown_field, sizeof unknown_field, d, NULL), 0);
  CHECK_EQ(d->type, WR_KAD_PING);
  /* 65 closer peers is past the cap */
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  for (int i = 0; i < 65; i++) {
    static const uint8_t peer[] = {0x42, 0x03, 0x0a, 0x01, 'p'};
    CHECK_EQ(wr_buf_append(&b, peer, sizeof peer), 0);
  }
  expect(b.data, b.len, WR_ERR_LIMIT, "kad message lists more than 64 peers");
  CHECK_EQ(wr_kad_decode(b.data, b.len - 5, d, NULL), 0);
  CHECK_EQ(d->ncloser, 64);
  wr_buf_free(&b);
  free(d);
}

static void test_frame_limits(void) {
  const uint8_t *p;
  size_t n, used;
  const char *why = NULL;
  /* 4 MiB + 1 */
  static const uint8_t big[] = {0x81, 0x80, 0x80, 0x02};
  CHECK_EQ(wr_kad_frame_next(big, sizeof big, &p, &n, &used, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "kad message longer than 4 MiB");
  /* exactly 4 MiB is fine, it just needs the bytes */
  static const uint8_t max[] = {0x80, 0x80, 0x80, 0x02};
  CHECK_EQ(wr_kad_frame_next(max, sizeof max, &p, &n, &used, NULL), WR_ERR_AGAIN);
  static const uint8_t nonmin[] = {0x80, 0x00};
  CHECK_EQ(wr_kad_frame_next(nonmin, sizeof nonmin, &p, &n, &used, &why), WR_ERR_MALFORMED);
  /* two frames back to back: the first one only */
  static const uint8_t two[] = {0x02, 0x08, 0x05, 0x00};
  CHECK_EQ(wr_kad_frame_next(two, sizeof two, &p, &n, &used, NULL), 0);
  CHECK_EQ(n, 2);
  CHECK_EQ(used, 3);
  CHECK_EQ(wr_kad_frame_next(two + 3, 1, &p, &n, &used, NULL), 0);
  CHECK_EQ(n, 0);
}

static void test_distance(void) {
  uint8_t a[32], b[32], t[32], d[32];
  wr_kad_key("abc", 3, a);
  /* SHA-256("abc") */
  CHECK_EQ(a[0], 0xba);
  CHECK_EQ(a[31], 0xad);
  memcpy(b, a, 32);
  CHECK_EQ(wr_kad_common_prefix(a, b), 256);
  b[0] ^= 0x80;
  CHECK_EQ(wr_kad_common_prefix(a, b), 0);
  b[0] ^= 0x80;
  b[2] ^= 0x10;
  CHECK_EQ(wr_kad_common_prefix(a, b), 19);
  wr_kad_distance(a, b, d);
  CHECK_EQ(d[2], 0x10);
  CHECK_EQ(d[0], 0);
  memset(t, 0, 32);
  memset(a, 0, 32);
  memset(b, 0, 32);
  a[31] = 1;
  b[0] = 1;
  CHECK(wr_kad_closer(t, a, b) < 0);
  CHECK(wr_kad_closer(t, b, a) > 0);
  CHECK_EQ(wr_kad_closer(t, a, a), 0);
}

int main(void) {
  RUN(test_find_node_bytes);
  RUN(test_round_trip);
  RUN(test_strict);
  RUN(test_frame_limits);
  RUN(test_distance);
  return test_done();
}
