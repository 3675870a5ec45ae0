#include <string.h>

#include "proto/ipld/dagjson.h"
#include "test.h"

typedef struct links {
  size_t n;
  wr_cid cids[8];
} links;

static int collect(void *arg, const wr_cid *cid) {
  links *l = arg;
  if (l->n < 8)
    l->cids[l->n] = *cid;
  l->n++;
  return 0;
}

static int stop(void *arg, const wr_cid *cid) {
  (void)arg;
  (void)cid;
  return 7;
}

#define A "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
#define B "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"

static int walk(const char *text, links *l, const char **why) {
  memset(l, 0, sizeof *l);
  return wr_dagjson_links((const uint8_t *)text, strlen(text), collect, l, why);
}

static void test_links(void) {
  links l;
  const char *doc = " {\"a\":[{\"/\":\"" A "\"},1.5e-3,-0,true,false,null,\"s\\u00e9\\n\"],"
                    "\"b\":{\"/\":{\"bytes\":\"aGk\"}},\"c\":{\"d\":{\"/\":\"" B "\"}},"
                    "\"e\":{\"/\":\"" A "\",\"x\":1}} ";
  CHECK_EQ(walk(doc, &l, NULL), 0);
  CHECK_EQ(l.n, 2);
  char s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&l.cids[0], 0, s, sizeof s) > 0);
  CHECK_STREQ(s, A);
  CHECK(wr_cid_format(&l.cids[1], 0, s, sizeof s) > 0);
  CHECK_STREQ(s, B);
  CHECK_EQ(wr_dagjson_links((const uint8_t *)doc, strlen(doc), stop, NULL, NULL), 7);
  CHECK_EQ(walk("[]", &l, NULL), 0);
  CHECK_EQ(walk("\"just a string\"", &l, NULL), 0);
  CHECK_EQ(walk("12", &l, NULL), 0);
  /* every proper prefix of the document fails cleanly */
  for (size_t k = 0; k + 1 < strlen(doc); k++) {
    links t = {0};
    int rc = wr_dagjson_links((const uint8_t *)doc, k, collect, &t, NULL);
    CHECK(rc == WR_ERR_TRUNCATED || rc == WR_ERR_MALFORMED);
  }
}

static void test_errors(void) {
  links l;
  const char *why = NULL;
  CHECK_EQ(walk("{\"/\":\"notacid\"}", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "dag-json link {\"/\": ...} does not hold a valid CID");
  CHECK_EQ(walk("[1,]", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(walk("{\"a\" 1}", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "missing ':' in a dag-json object");
  CHECK_EQ(walk("{1:2}", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(walk("\"a\\q\"", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "bad escape in a dag-json string");
  CHECK_EQ(walk("\"a\x01\"", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(walk("tru", &l, &why), WR_ERR_TRUNCATED);
  CHECK_EQ(walk("trux", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(walk("01", &l, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "trailing text after the dag-json value");
  CHECK_EQ(walk("1 2", &l, &why), WR_ERR_MALFORMED);
  CHECK_EQ(walk("", &l, &why), WR_ERR_TRUNCATED);
  CHECK_EQ(walk("[\"abc", &l, &why), WR_ERR_TRUNCATED);
  char deep[WR_DAGJSON_MAX_DEPTH * 2 + 4];
  memset(deep, '[', WR_DAGJSON_MAX_DEPTH + 1);
  memset(deep + WR_DAGJSON_MAX_DEPTH + 1, ']', WR_DAGJSON_MAX_DEPTH + 1);
  deep[2 * WR_DAGJSON_MAX_DEPTH + 2] = '\0';
  CHECK_EQ(walk(deep, &l, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "dag-json nesting is too deep");
  CHECK_EQ(l.n, 0);
}

int main(void) {
  RUN(test_links);
  RUN(test_errors);
  return test_done();
}
