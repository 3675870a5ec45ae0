/* json_test: the strict JSON reader and the string writer. */
#include "test.h"

#include "base/mem.h"
#include "proto/text/json.h"

static int parse(const char *s, wr_json **pv, wr_json_error *e) {
  return wr_json_parse(s, strlen(s), NULL, pv, e);
}

/* Asserts that s fails with code at offset off. */
#define BAD(s, code, off)                              \
  do {                                                 \
    wr_json *v_ = (wr_json *)1;                        \
    wr_json_error e_;                                  \
    CHECK_EQ(parse((s), &v_, &e_), (code));            \
    CHECK(v_ == NULL);                                 \
    CHECK_EQ(e_.offset, (off));                        \
    CHECK(e_.msg != NULL);                             \
  } while (0)

static void test_object(void) {
  wr_json *v;
  wr_json_error e;
  const char *s = " {\"a\": 1, \"b\" : [true, false, null, -0.5e+3], \"c\":\"x\\u00e9\\ud83d\\ude00\\n\"} ";
  CHECK_EQ(parse(s, &v, &e), 0);
  CHECK_EQ(v->type, WR_JSON_OBJECT);
  CHECK_EQ(v->nchild, 3);
  CHECK_EQ(v->offset, 1);
  const wr_json *a = wr_json_get(v, "a"), *b = wr_json_get(v, "b"), *c = wr_json_get(v, "c");
  int64_t n;
  CHECK_EQ(wr_json_get_int(a, 0, 10, &n), 0);
  CHECK_EQ(n, 1);
  CHECK_EQ(b->type, WR_JSON_ARRAY);
  CHECK_EQ(b->nchild, 4);
  CHECK_EQ(b->child->type, WR_JSON_TRUE);
  CHECK_EQ(b->child->next->type, WR_JSON_FALSE);
  CHECK_EQ(b->child->next->next->type, WR_JSON_NULL);
  CHECK_STREQ(b->child->next->next->next->str, "-0.5e+3");
  CHECK_EQ(wr_json_get_int(b->child->next->next->next, -1000, 1000, &n), WR_ERR_INVAL);
  CHECK_STREQ(c->str, "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK_EQ(c->len, 8);
  CHECK(wr_json_get(v, "zz") == NULL);
  CHECK(wr_json_get(a, "a") == NULL);
  wr_json_del(v);
}

static void test_scalars_and_ints(void) {
  wr_json *v;
  CHECK_EQ(parse("-9223372036854775808", &v, NULL), 0);
  int64_t n;
  CHECK_EQ(wr_json_get_int(v, INT64_MIN, INT64_MAX, &n), 0);
  CHECK(n == INT64_MIN);
  wr_json_del(v);
  CHECK_EQ(parse("9223372036854775808", &v, NULL), 0);
  CHECK_EQ(wr_json_get_int(v, INT64_MIN, INT64_MAX, &n), WR_ERR_INVAL);
  wr_json_del(v);
  CHECK_EQ(parse("\"\\u0000\"", &v, NULL), 0);
  CHECK_EQ(v->len, 1);
  CHECK_EQ(v->str[0], 0);
  wr_json_del(v);
  CHECK_EQ(parse("[]", &v, NULL), 0);
  CHECK_EQ(v->nchild, 0);
  wr_json_del(v);
}

static void test_strictness(void) {
  BAD("", WR_ERR_TRUNCATED, 0);
  BAD("   ", WR_ERR_TRUNCATED, 3);
  BAD("{\"a\":1,}", WR_ERR_MALFORMED, 7);
  BAD("[1,]", WR_ERR_MALFORMED, 3);
  BAD("01", WR_ERR_MALFORMED, 1);
  BAD("1.", WR_ERR_TRUNCATED, 2);
  BAD("1.x", WR_ERR_MALFORMED, 2);
  BAD("NaN", WR_ERR_MALFORMED, 0);
  BAD("{a:1}", WR_ERR_MALFORMED, 1);
  BAD("{\"a\" 1}", WR_ERR_MALFORMED, 5);
  BAD("{\"a\":1,\"a\":2}", WR_ERR_MALFORMED, 7);
  BAD("\"a\tb\"", WR_ERR_MALFORMED, 2);
  BAD("\"\\x\"", WR_ERR_MALFORMED, 1);
  BAD("\"\\ud800\"", WR_ERR_MALFORMED, 1);
  BAD("\"\\udc00\"", WR_ERR_MALFORMED, 1);
  BAD("\"\\u12g4\"", WR_ERR_MALFORMED, 1);
  BAD("\"\xc0\xaf\"", WR_ERR_MALFORMED, 1);     /* overlong '/' */
  BAD("\"\xed\xa0\x80\"", WR_ERR_MALFORMED, 1); /* a raw surrogate */
  BAD("\"abc", WR_ERR_TRUNCATED, 4);
  BAD("[1 2]", WR_ERR_MALFORMED, 3);
  BAD("{} x", WR_ERR_MALFORMED, 3);
  BAD("tru", WR_ERR_TRUNCATED, 3);
  BAD("trux", WR_ERR_MALFORMED, 0);
  BAD("// c\n1", WR_ERR_MALFORMED, 0);
  BAD("[", WR_ERR_TRUNCATED, 1);
  BAD("{\"a\":", WR_ERR_TRUNCATED, 5);
}

static void test_limits(void) {
  char deep[100];
  memset(deep, '[', 40);
  memset(deep + 40, ']', 40);
  deep[80] = 0;
  wr_json *v;
  wr_json_error e;
  CHECK_EQ(parse(deep, &v, &e), WR_ERR_LIMIT);
  CHECK_EQ(e.offset, 32); /* the 33rd '[' */
  wr_json_limits lim = {64, 1024, 100};
  CHECK_EQ(wr_json_parse(deep, 80, &lim, &v, &e), 0);
  wr_json_del(v);
  lim.max_size = 10;
  CHECK_EQ(wr_json_parse(deep, 80, &lim, &v, &e), WR_ERR_LIMIT);
  lim.max_size = 1024;
  lim.max_nodes = 3;
  CHECK_EQ(wr_json_parse("[1,2,3]", 7, &lim, &v, &e), WR_ERR_LIMIT);
  CHECK_STREQ(e.msg, "too many values in the text");
}

static void test_alloc_failures(void) {
  const char *s = "{\"a\":[1,\"two\",{\"b\":null}],\"c\":\"d\"}";
  for (long n = 0; n < 20; n++) {
    wr_mem_fail_after(n);
    wr_json *v = NULL;
    int rv = parse(s, &v, NULL);
    wr_mem_fail_after(-1);
    CHECK(rv == 0 || rv == WR_ERR_NOMEM);
    if (rv == 0)
      CHECK_EQ(v->nchild, 2);
    wr_json_del(v);
  }
}

static void test_writer(void) {
  wr_buf b;
  wr_buf_init(&b, 100);
  CHECK_EQ(wr_json_put_string(&b, "a\"b\\c\n\x01\xc3\xa9", 9), 0);
  CHECK_EQ(b.len, strlen("\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\""));
  CHECK_MEMEQ(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"", b.len);
  /* What it writes reads back as the same bytes. */
  wr_json *v;
  CHECK_EQ(wr_json_parse((char *)b.data, b.len, NULL, &v, NULL), 0);
  CHECK_EQ(v->len, 9);
  CHECK_MEMEQ(v->str, "a\"b\\c\n\x01\xc3\xa9", 9);
  wr_json_del(v);
  size_t before = b.len;
  CHECK_EQ(wr_json_put_string(&b, "\xff", 1), WR_ERR_INVAL);
  CHECK_EQ(b.len, before);
  wr_buf small;
  wr_buf_init(&small, 4);
  CHECK_EQ(wr_json_put_string(&small, "abcdef", 6), WR_ERR_LIMIT);
  CHECK_EQ(small.len, 0);
  wr_buf_free(&small);
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_object);
  RUN(test_scalars_and_ints);
  RUN(test_strictness);
  RUN(test_limits);
  RUN(test_alloc_failures);
  RUN(test_writer);
  return test_done();
}
