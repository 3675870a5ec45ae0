#include <string.h>

#include "proto/ipld/dagcbor.h"
#include "test.h"

typedef struct links {
  size_t n;
  wr_cid cids[8];
  int stop_at; /* return 99 on this link number (1-based), 0 never */
} links;

static int collect(void *arg, const wr_cid *cid) {
  links *l = arg;
  if (l->n < 8)
    l->cids[l->n] = *cid;
  l->n++;
  return l->stop_at && (int)l->n == l->stop_at ? 99 : 0;
}

/* tag 42, bytes(37): 0x00 + CIDv1 dag-cbor sha2-256 of digest filled with c */
static size_t put_link(uint8_t *p, uint8_t c) {
  size_t i = 0;
  p[i++] = 0xd8;
  p[i++] = 0x2a;
  p[i++] = 0x58;
  p[i++] = 37;
  p[i++] = 0x00;
  p[i++] = 0x01;
  p[i++] = 0x71;
  p[i++] = 0x12;
  p[i++] = 0x20;
  memset(p + i, c, 32);
  return i + 32;
}

static void test_links_in_order(void) {
  /* {"a": [link(A), 1, -1, "x", h'00', 1.5, true, null], "b": {"c": link(B)}, "d": tag(1) 7} */
  uint8_t b[256];
  size_t n = 0;
  b[n++] = 0xa3;
  b[n++] = 0x61; b[n++] = 'a';
  b[n++] = 0x88;
  n += put_link(b + n, 'A');
  b[n++] = 0x01;
  b[n++] = 0x20;
  b[n++] = 0x61; b[n++] = 'x';
  b[n++] = 0x41; b[n++] = 0x00;
  b[n++] = 0xf9; b[n++] = 0x3e; b[n++] = 0x00; /* half float 1.5 */
  b[n++] = 0xf5;
  b[n++] = 0xf6;
  b[n++] = 0x61; b[n++] = 'b';
  b[n++] = 0xa1;
  b[n++] = 0x61; b[n++] = 'c';
  n += put_link(b + n, 'B');
  b[n++] = 0x61; b[n++] = 'd';
  b[n++] = 0xc1; b[n++] = 0x07;
  links l = {0};
  CHECK_EQ(wr_dagcbor_links(b, n, collect, &l, NULL), 0);
  CHECK_EQ(l.n, 2);
  CHECK(l.cids[0].codec == WR_CODEC_DAG_CBOR);
  CHECK_EQ(l.cids[0].mh.digest[0], 'A');
  CHECK_EQ(l.cids[1].mh.digest[31], 'B');
  /* the visitor's value stops the walk */
  links s = {0};
  s.stop_at = 1;
  CHECK_EQ(wr_dagcbor_links(b, n, collect, &s, NULL), 99);
  CHECK_EQ(s.n, 1);
  /* every proper prefix is truncated (or, for the empty one, truncated too) */
  for (size_t k = 0; k < n; k++) {
    links t = {0};
    int rc = wr_dagcbor_links(b, k, collect, &t, NULL);
    CHECK(rc == WR_ERR_TRUNCATED);
  }
}

static void test_malformed(void) {
  links l = {0};
  const char *why = NULL;
  static const uint8_t indefinite[] = {0x9f, 0x01, 0xff};
  CHECK_EQ(wr_dagcbor_links(indefinite, sizeof indefinite, collect, &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "indefinite-length item (not allowed in dag-cbor)");
  static const uint8_t trailing[] = {0x01, 0x02};
  CHECK_EQ(wr_dagcbor_links(trailing, sizeof trailing, collect, &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "trailing bytes after the dag-cbor item");
  static const uint8_t reserved[] = {0x1c};
  CHECK_EQ(wr_dagcbor_links(reserved, sizeof reserved, collect, &l, NULL), WR_ERR_MALFORMED);
  static const uint8_t tag42_text[] = {0xd8, 0x2a, 0x62, 0x00, 0x01};
  CHECK_EQ(wr_dagcbor_links(tag42_text, sizeof tag42_text, collect, &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "tag 42 is not a 0x00-prefixed CID byte string");
  static const uint8_t tag42_badcid[] = {0xd8, 0x2a, 0x43, 0x00, 0x01, 0x71};
  CHECK_EQ(wr_dagcbor_links(tag42_badcid, sizeof tag42_badcid, collect, &l, &why),
           WR_ERR_MALFORMED);
  static const uint8_t huge_array[] = {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  CHECK_EQ(wr_dagcbor_links(huge_array, sizeof huge_array, collect, &l, NULL), WR_ERR_TRUNCATED);
  static const uint8_t huge_map[] = {0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0};
  CHECK_EQ(wr_dagcbor_links(huge_map, sizeof huge_map, collect, &l, NULL), WR_ERR_TRUNCATED);
  uint8_t deep[WR_DAGCBOR_MAX_DEPTH + 2];
  memset(deep, 0x81, sizeof deep); /* [[[[...]]]] */
  deep[sizeof deep - 1] = 0x00;
  CHECK_EQ(wr_dagcbor_links(deep, sizeof deep, collect, &l, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "dag-cbor nesting is too deep");
  CHECK_EQ(l.n, 0);
}

int main(void) {
  RUN(test_links_in_order);
  RUN(test_malformed);
  return test_done();
}
