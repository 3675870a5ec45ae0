/* query_test.c: query strings and percent-decoding as kubo's RPC clients
 * send them, and the refusals. */
#include "proto/http/query.h"
#include "test.h"

static void test_parse(void) {
  static wr_query q;
  const char *why = NULL;
  const char *s = "arg=%2Fipfs%2FQm%20x&arg=b+c&cid-version=1&pin&empty=&x=%e2%82%ac";
  CHECK_EQ(wr_query_parse(&q, s, strlen(s), &why), 0);
  CHECK_EQ(q.n, 6);
  CHECK_STREQ(q.key[0], "arg");
  CHECK_STREQ(q.val[0], "/ipfs/Qm x");
  CHECK_STREQ(q.val[1], "b c");
  CHECK_STREQ(wr_query_get(&q, "arg"), "/ipfs/Qm x");
  CHECK_STREQ(wr_query_get(&q, "cid-version"), "1");
  CHECK_STREQ(wr_query_get(&q, "pin"), "");
  CHECK_STREQ(wr_query_get(&q, "empty"), "");
  CHECK_STREQ(wr_query_get(&q, "x"), "\xe2\x82\xac");
  CHECK(wr_query_get(&q, "missing") == NULL);
  CHECK_EQ(wr_query_parse(&q, "", 0, &why), 0);
  CHECK_EQ(q.n, 0);
  CHECK_EQ(wr_query_parse(&q, "&&a=1&", 6, &why), 0);
  CHECK_EQ(q.n, 1);
}

static void test_refusals(void) {
  static wr_query q;
  const char *why = NULL;
  CHECK_EQ(wr_query_parse(&q, "a=%zz", 5, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the query holds a bad percent-escape or a NUL");
  CHECK_EQ(q.n, 0);
  CHECK_EQ(wr_query_parse(&q, "a=%2", 4, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_query_parse(&q, "a=%00", 5, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_query_parse(&q, "=x", 2, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "a query parameter has an empty name");
  char many[1024] = "";
  for (int i = 0; i < 65; i++)
    strcat(many, "a=1&");
  CHECK_EQ(wr_query_parse(&q, many, strlen(many), &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "the query has more than 64 parameters");
  static char huge[20000];
  memset(huge, 'v', sizeof huge);
  huge[0] = 'k';
  huge[1] = '=';
  CHECK_EQ(wr_query_parse(&q, huge, sizeof huge, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "the query is longer than 16 KiB decoded");
}

static void test_target_and_decode(void) {
  size_t pl, ql;
  const char *qs;
  const char *t = "/api/v0/add?pin=false";
  wr_query_split_target(t, strlen(t), &pl, &qs, &ql);
  CHECK_EQ(pl, 11);
  CHECK(ql == 9 && memcmp(qs, "pin=false", 9) == 0);
  wr_query_split_target("/x", 2, &pl, &qs, &ql);
  CHECK(pl == 2 && ql == 0);
  char out[16];
  CHECK_EQ(wr_percent_decode("a%2Fb+c", 7, out, sizeof out), 5);
  CHECK_STREQ(out, "a/b+c");
  CHECK_EQ(wr_percent_decode("abc", 3, out, 3), WR_ERR_LIMIT);
  CHECK_EQ(wr_percent_decode("%g0", 3, out, sizeof out), WR_ERR_MALFORMED);
}

int main(void) {
  RUN(test_parse);
  RUN(test_refusals);
  RUN(test_target_and_decode);
  return test_done();
}
