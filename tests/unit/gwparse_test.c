/* gwparse_test.c: the gateway's request grammar (gateway/gwparse.h) and
 * Content-Type choice (gateway/mime.h). */
#include "test.h"

#include "gateway/dirlist.h"
#include "gateway/gwparse.h"
#include "gateway/mime.h"

static wr_gw_params fresh(void) {
  wr_gw_params p;
  memset(&p, 0, sizeof p);
  p.car_dups = -1;
  p.download = -1;
  return p;
}

static void test_split_target(void) {
  char path[64];
  const char *q, *why = NULL;
  size_t qn;
  const char *t = "/ipfs/bafy/a%20b%2Fc?format=raw&x";
  CHECK_EQ(wr_gw_split_target(t, strlen(t), path, sizeof path, &q, &qn, &why), 0);
  CHECK_STREQ(path, "/ipfs/bafy/a b/c");
  CHECK(qn == 12 && memcmp(q, "format=raw&x", 12) == 0);
  CHECK_EQ(wr_gw_split_target("/a", 2, path, sizeof path, &q, &qn, &why), 0);
  CHECK_EQ(qn, 0);
  CHECK_EQ(wr_gw_split_target("x/a", 3, path, sizeof path, &q, &qn, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_gw_split_target("/a%2", 4, path, sizeof path, &q, &qn, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "a percent escape is cut short");
  CHECK_EQ(wr_gw_split_target("/a%zz", 5, path, sizeof path, &q, &qn, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_gw_split_target("/a%00", 5, path, sizeof path, &q, &qn, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "an escaped NUL byte (%00) is not allowed");
  CHECK_EQ(wr_gw_split_target("/a#f", 4, path, sizeof path, &q, &qn, &why), WR_ERR_MALFORMED);
  char tiny[4];
  CHECK_EQ(wr_gw_split_target("/abcd", 5, tiny, sizeof tiny, &q, &qn, &why), WR_ERR_LIMIT);
}

static void test_query(void) {
  wr_gw_params p = fresh();
  const char *why = NULL;
  const char *q = "format=car&dag-scope=block&car-dups=y&filename=a%20b+c.txt&download=true";
  CHECK_EQ(wr_gw_parse_query(q, strlen(q), &p, &why), 0);
  CHECK_EQ(p.format, WR_GW_FMT_CAR);
  CHECK_EQ(p.format_in_url, 1);
  CHECK_EQ(p.scope, WR_GW_SCOPE_BLOCK);
  CHECK_EQ(p.car_dups, 1);
  CHECK_STREQ(p.filename, "a b c.txt");
  CHECK_EQ(p.download, 1);
  p = fresh();
  q = "entity-bytes=-1024:*";
  CHECK_EQ(wr_gw_parse_query(q, strlen(q), &p, &why), 0);
  CHECK_EQ(p.scope, WR_GW_SCOPE_ENTITY);
  CHECK(p.has_bytes && p.bytes_from == -1024 && p.bytes_to_end);
  uint64_t a, b;
  CHECK_EQ(wr_gw_entity_range(&p, 4096, &a, &b), 1);
  CHECK(a == 3072 && b == 4095);
  CHECK_EQ(wr_gw_entity_range(&p, 0, &a, &b), 0);
  p = fresh();
  q = "entity-bytes=499:-1000";
  CHECK_EQ(wr_gw_parse_query(q, strlen(q), &p, &why), 0);
  CHECK_EQ(wr_gw_entity_range(&p, 2000, &a, &b), 1);
  CHECK(a == 499 && b == 1000);
  CHECK_EQ(wr_gw_entity_range(&p, 1200, &a, &b), 0); /* empty: the root alone */
  p = fresh();
  q = "dag-scope=all&entity-bytes=0:10";
  CHECK_EQ(wr_gw_parse_query(q, strlen(q), &p, &why), 0);
  CHECK_EQ(p.scope, WR_GW_SCOPE_ALL); /* an explicit scope stays */
  const char *bad[] = {"format=zip",       "dag-scope=some", "entity-bytes=5", "entity-bytes=9:3",
                       "entity-bytes=a:*", "car-version=2",  "car-dups=maybe", "filename=%g1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p = fresh();
    why = NULL;
    CHECK_EQ(wr_gw_parse_query(bad[i], strlen(bad[i]), &p, &why), WR_ERR_INVAL);
    CHECK(why != NULL);
  }
}

static void test_accept(void) {
  wr_gw_params p = fresh();
  const char *why = NULL;
  const char *v = "text/html, application/vnd.ipld.raw;q=0.5, "
                  "application/vnd.ipld.car; version=1; order=dfs; dups=y";
  CHECK_EQ(wr_gw_parse_accept(v, strlen(v), &p, &why), 0);
  CHECK_EQ(p.format, WR_GW_FMT_CAR);
  CHECK_EQ(p.accept_format, WR_GW_FMT_CAR);
  CHECK_EQ(p.car_dups, 1);
  CHECK_EQ(p.car_version, 1);
  p = fresh();
  v = "*/*";
  CHECK_EQ(wr_gw_parse_accept(v, strlen(v), &p, &why), 0);
  CHECK_EQ(p.format, WR_GW_FMT_NONE);
  p = fresh();
  v = "application/vnd.ipld.car;version=2";
  CHECK_EQ(wr_gw_parse_accept(v, strlen(v), &p, &why), WR_ERR_INVAL);
  /* the URL wins over Accept */
  p = fresh();
  v = "application/vnd.ipld.raw";
  CHECK_EQ(wr_gw_parse_accept(v, strlen(v), &p, &why), 0);
  CHECK_EQ(wr_gw_parse_query("format=car", 10, &p, &why), 0);
  CHECK_EQ(p.format, WR_GW_FMT_CAR);
  CHECK_STREQ(wr_gw_format_name(WR_GW_FMT_DAG_JSON), "dag-json");
}

static void test_range(void) {
  uint64_t a, b;
  CHECK_EQ(wr_gw_parse_range("bytes=0-99", 10, 1000, &a, &b), 1);
  CHECK(a == 0 && b == 99);
  CHECK_EQ(wr_gw_parse_range("bytes=990-", 10, 1000, &a, &b), 1);
  CHECK(a == 990 && b == 999);
  CHECK_EQ(wr_gw_parse_range("bytes=-10", 9, 1000, &a, &b), 1);
  CHECK(a == 990 && b == 999);
  CHECK_EQ(wr_gw_parse_range("bytes=-5000", 11, 1000, &a, &b), 1);
  CHECK(a == 0 && b == 999);
  CHECK_EQ(wr_gw_parse_range("bytes=10-5000", 13, 1000, &a, &b), 1);
  CHECK(a == 10 && b == 999);
  CHECK_EQ(wr_gw_parse_range("bytes=1000-", 11, 1000, &a, &b), WR_ERR_LIMIT);
  CHECK_EQ(wr_gw_parse_range("bytes=-0", 8, 1000, &a, &b), WR_ERR_LIMIT);
  CHECK_EQ(wr_gw_parse_range("bytes=5-6, 0-1", 14, 1000, &a, &b), 1); /* the first */
  CHECK(a == 5 && b == 6);
  CHECK_EQ(wr_gw_parse_range("items=0-1", 9, 1000, &a, &b), 0);
  CHECK_EQ(wr_gw_parse_range("bytes=5-1", 9, 1000, &a, &b), 0);
  CHECK_EQ(wr_gw_parse_range("bytes=x-1", 9, 1000, &a, &b), 0);
}

static void test_etag_and_label(void) {
  CHECK_EQ(wr_gw_etag_match("\"a\"", 3, "\"a\""), 1);
  CHECK_EQ(wr_gw_etag_match("W/\"a\"", 5, "\"a\""), 1);
  CHECK_EQ(wr_gw_etag_match("\"b\", \"a\"", 8, "\"a\""), 1);
  CHECK_EQ(wr_gw_etag_match("*", 1, "\"a\""), 1);
  CHECK_EQ(wr_gw_etag_match("\"b\"", 3, "\"a\""), 0);
  char label[64];
  const char *h = "BAFYabc.ipfs.GW.example:8080";
  CHECK_EQ(wr_gw_subdomain_label(h, strlen(h), "gw.example", label), 1);
  CHECK_STREQ(label, "bafyabc");
  h = "gw.example";
  CHECK_EQ(wr_gw_subdomain_label(h, strlen(h), "gw.example", label), 0);
  h = "a.b.ipfs.gw.example";
  CHECK_EQ(wr_gw_subdomain_label(h, strlen(h), "gw.example", label), 0);
  h = "x.ipns.gw.example";
  CHECK_EQ(wr_gw_subdomain_label(h, strlen(h), "gw.example", label), 0);
  char longh[120];
  memset(longh, 'a', 64);
  strcpy(longh + 64, ".ipfs.gw.example");
  CHECK_EQ(wr_gw_subdomain_label(longh, strlen(longh), "gw.example", label), WR_ERR_LIMIT);
}

static void test_mime(void) {
  CHECK_STREQ(wr_mime_by_name("a/b/index.HTML"), "text/html; charset=utf-8");
  CHECK_STREQ(wr_mime_by_name("x.svg"), "image/svg+xml");
  CHECK(wr_mime_by_name("noext") == NULL);
  CHECK(wr_mime_by_name(".hidden") == NULL);
  CHECK_STREQ(wr_mime_sniff((const uint8_t *)"  <!doctype html><p>", 20),
              "text/html; charset=utf-8");
  CHECK_STREQ(wr_mime_sniff((const uint8_t *)"<?xml version=\"1.0\"?><svg>", 26), "image/svg+xml");
  CHECK_STREQ(wr_mime_sniff((const uint8_t *)"\x89PNG\r\n\x1a\n....", 12), "image/png");
  CHECK_STREQ(wr_mime_sniff((const uint8_t *)"hello\n", 6), "text/plain; charset=utf-8");
  CHECK_STREQ(wr_mime_sniff((const uint8_t *)"he\x01llo", 6), "application/octet-stream");
  CHECK_STREQ(wr_mime_sniff((const uint8_t *)"", 0), "text/plain; charset=utf-8");
}

static void test_dirlist(void) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  CHECK_EQ(wr_html_escape(&b, "a<b>&\"'", 7), 0);
  CHECK(b.len == 26 && memcmp(b.data, "a&lt;b&gt;&amp;&quot;&#39;", 26) == 0);
  wr_buf_reset(&b);
  CHECK_EQ(wr_url_segment(&b, "a b/é~", 7), 0);
  CHECK(b.len == 15 && memcmp(b.data, "a%20b%2F%C3%A9~", 15) == 0);
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_split_target);
  RUN(test_query);
  RUN(test_accept);
  RUN(test_range);
  RUN(test_etag_and_label);
  RUN(test_mime);
  RUN(test_dirlist);
  return test_done();
}
