/* weblinks_test.c: http URLs (parse, refusals with their reasons),
 * resolution against a page's URL (RFC 3986 5.4's examples that apply to
 * http), and the href/src values of HTML pages. */
#include "proto/http/weblinks.h"

#include <stdio.h>
#include <string.h>

#include "test.h"

static const char *fmt(const wr_url *u) {
  static char out[5000];
  if (wr_url_format(u, out, sizeof out) < 0)
    return "(too long)";
  return out;
}

static void test_parse(void) {
  wr_url u;
  const char *why = NULL;
  CHECK_EQ(wr_url_parse("http://Example.COM:8080/a/./b/../c?x=1#frag", 43, &u, &why), 0);
  CHECK_STREQ(u.host, "example.com");
  CHECK_EQ(u.port, 8080);
  CHECK_STREQ(u.path, "/a/c");
  CHECK(u.has_query);
  CHECK_STREQ(u.query, "x=1");
  CHECK_STREQ(fmt(&u), "http://example.com:8080/a/c?x=1");
  CHECK_EQ(wr_url_parse("HTTP://h", 8, &u, &why), 0);
  CHECK_STREQ(u.path, "/");
  CHECK_EQ(u.port, 80);
  CHECK_STREQ(fmt(&u), "http://h/");
  CHECK_EQ(wr_url_parse("http://h:?q", 11, &u, &why), 0);
  CHECK_STREQ(fmt(&u), "http://h/?q");
  CHECK_EQ(wr_url_parse("http://[::1]:81/%7Ex", 20, &u, &why), 0);
  CHECK_STREQ(u.host, "[::1]");
  CHECK_STREQ(fmt(&u), "http://[::1]:81/%7Ex");
  struct {
    const char *s;
    int rv;
    const char *why;
  } bad[] = {
      {"https://h/", WR_ERR_UNSUPPORTED, "only http URLs are fetched"},
      {"mailto:a@b", WR_ERR_UNSUPPORTED, "only http URLs are fetched"},
      {"/relative", WR_ERR_MALFORMED, "not an absolute URL (it has no scheme such as http:)"},
      {"http:h/", WR_ERR_MALFORMED, "an http URL has //HOST after http:"},
      {"http://u:p@h/", WR_ERR_MALFORMED, "user names and passwords in URLs are not accepted"},
      {"http:///x", WR_ERR_MALFORMED, "a URL has no host"},
      {"http://h_x/", WR_ERR_MALFORMED,
       "a URL's host holds a character other than letters, digits, '-' and '.'"},
      {"http://h:0/", WR_ERR_MALFORMED, "a URL's port is not a number up to 65535"},
      {"http://h:65536/", WR_ERR_MALFORMED, "a URL's port is not a number up to 65535"},
      {"http://h:1x/", WR_ERR_MALFORMED, "a URL's port is not a number up to 65535"},
      {"http://[::1/", WR_ERR_MALFORMED, "an IPv6 host in a URL lacks its ']'"},
      {"http://[::g]/", WR_ERR_MALFORMED, "an IPv6 host in a URL holds a bad character"},
      {"http://[::1]x/", WR_ERR_MALFORMED, "a URL has text after its IPv6 host"},
      {"http://h/a b", WR_ERR_MALFORMED, "a URL holds a character that must be percent-encoded"},
      {"http://h/\xc3\xa9", WR_ERR_MALFORMED,
       "a URL holds a character that must be percent-encoded"},
      {"http://h/%4", WR_ERR_MALFORMED, "a URL has a '%' that does not start a percent-escape"},
      {"http://h/%zz", WR_ERR_MALFORMED, "a URL has a '%' that does not start a percent-escape"},
      {"http://h/?a\"b", WR_ERR_MALFORMED, "a URL holds a character that must be percent-encoded"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = NULL;
    CHECK_EQ(wr_url_parse(bad[i].s, strlen(bad[i].s), &u, &why), bad[i].rv);
    CHECK(why != NULL);
    if (why)
      CHECK_STREQ(why, bad[i].why);
  }
  char long_url[3000] = "http://h/";
  memset(long_url + 9, 'a', 2100);
  long_url[2109] = '\0';
  CHECK_EQ(wr_url_parse(long_url, strlen(long_url), &u, &why), WR_ERR_LIMIT);
  CHECK_STREQ(why, "a URL is longer than 2048 bytes");
}

static void test_resolve(void) {
  wr_url base, u;
  const char *why = NULL;
  CHECK_EQ(wr_url_parse("http://a/b/c/d;p?q", 18, &base, &why), 0);
  /* RFC 3986 5.4.1 and 5.4.2, the http cases */
  struct {
    const char *ref, *want;
  } cases[] = {
      {"g", "http://a/b/c/g"},       {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},     {"/g", "http://a/g"},
      {"//g", "http://g/"},          {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},   {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"},     {";x", "http://a/b/c/;x"},
      {"", "http://a/b/c/d;p?q"},    {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},       {"..", "http://a/b/"},
      {"../", "http://a/b/"},        {"../g", "http://a/b/g"},
      {"../..", "http://a/"},        {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},  {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},        {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},     {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},    {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"},
      {"  g \n", "http://a/b/c/g"},  {"http://other:81/x", "http://other:81/x"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rv = wr_url_resolve(&base, cases[i].ref, strlen(cases[i].ref), &u, &why);
    CHECK_EQ(rv, 0);
    if (rv == 0)
      CHECK_STREQ(fmt(&u), cases[i].want);
  }
  CHECK_EQ(wr_url_resolve(&base, "mailto:x@y", 10, &u, &why), WR_ERR_UNSUPPORTED);
  CHECK_EQ(wr_url_resolve(&base, "javascript:void(0)", 18, &u, &why), WR_ERR_UNSUPPORTED);
  CHECK_EQ(wr_url_resolve(&base, "a b", 3, &u, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "a URL holds a character that must be percent-encoded");
  wr_url other;
  CHECK_EQ(wr_url_parse("http://a:80/x", 13, &other, &why), 0);
  CHECK(wr_url_same_origin(&base, &other));
  CHECK_EQ(wr_url_parse("http://a:81/x", 13, &other, &why), 0);
  CHECK(!wr_url_same_origin(&base, &other));
  char small[10];
  CHECK_EQ(wr_url_format(&base, small, sizeof small), WR_ERR_LIMIT);
}

typedef struct got {
  char v[16][128];
  size_t n;
} got;

static int collect(void *arg, const char *v, size_t n) {
  got *g = arg;
  if (g->n < 16)
    snprintf(g->v[g->n], sizeof g->v[0], "%.*s", (int)n, v);
  g->n++;
  return 0;
}

static int stop(void *arg, const char *v, size_t n) {
  (void)arg, (void)v, (void)n;
  return 9;
}

static void test_html(void) {
  static const char page[] = "<!doctype html><html><head><link rel=stylesheet HREF=\"css/a.css\">"
                             "<script src='js/app.js'>var s = '<a href=\"no\">';</script>"
                             "<style>a { background: url(<a href=no2>) }</STYLE>"
                             "<!-- <a href=\"commented\"> -->"
                             "</head><body class=x data-href=\"no3\">"
                             "<a href=/about/ title='a > b'>About</a>"
                             "<img alt=\"x\" src = img/p.png >"
                             "<a href=\"q?a=1&amp;b=2\">q</a><a href=\"&#x2F;x&#47;y\">e</a>"
                             "<a hreflang=en href>bare</a> 1 < 2 <a\nhref\n=\n'multi'\n>"
                             "</body></html>";
  got g = {0};
  const char *why = NULL;
  CHECK_EQ(wr_html_links((const uint8_t *)page, sizeof page - 1, 100, collect, &g, &why), 0);
  const char *want[] = {"css/a.css", "js/app.js", "/about/", "img/p.png",
                        "q?a=1&b=2", "/x/y",      "multi"};
  CHECK_EQ(g.n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < g.n && i < sizeof want / sizeof want[0]; i++)
    CHECK_STREQ(g.v[i], want[i]);
  memset(&g, 0, sizeof g);
  CHECK_EQ(wr_html_links((const uint8_t *)page, sizeof page - 1, 3, collect, &g, &why),
           WR_ERR_LIMIT);
  CHECK_STREQ(why, "the page has more links than the crawl takes from one page");
  CHECK_EQ(g.n, 3);
  CHECK_EQ(wr_html_links((const uint8_t *)page, sizeof page - 1, 100, stop, NULL, &why), 9);
  static const uint8_t nul[] = "<a href=x>\0";
  CHECK_EQ(wr_html_links(nul, sizeof nul - 1, 100, collect, &g, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the page holds a NUL byte: not an HTML text");
  /* a page cut inside a value or a comment ends the walk */
  static const char cut[] = "<a href=ok><a href=\"unterminated";
  memset(&g, 0, sizeof g);
  CHECK_EQ(wr_html_links((const uint8_t *)cut, sizeof cut - 1, 100, collect, &g, &why), 0);
  CHECK_EQ(g.n, 1);
  static const char cut2[] = "<a href=ok><!-- <a href=no>";
  memset(&g, 0, sizeof g);
  CHECK_EQ(wr_html_links((const uint8_t *)cut2, sizeof cut2 - 1, 100, collect, &g, &why), 0);
  CHECK_EQ(g.n, 1);
}

int main(void) {
  RUN(test_parse);
  RUN(test_resolve);
  RUN(test_html);
  return test_done();
}
