/* redirects_test.c: the `_redirects` file (gateway/redirects.h): the spec's
 * example file, placeholders and splats, escaping for Location, and every
 * refusal with its sentence and line. */
#include "test.h"

#include "gateway/redirects.h"

/* ipfs/specs web-redirects-file's "examples" site. */
static const char examples[] = "/redirect-one /one.html\n"
                               "/301-redirect-one /one.html 301\n"
                               "/302-redirect-two /two.html 302\n"
                               "/200-index /index.html 200\n"
                               "/posts/:year/:month/:day/:title /articles/:year/:month/:day/:title "
                               "301\n"
                               "/splat/* /redirected-splat/:splat 301\n"
                               "/not-found/* /404.html 404\n"
                               "/gone/* /410.html 410\n"
                               "/unavail/* /451.html 451\n"
                               "/* /index.html 200\n";

static int match(const char *text, const char *path, int escape, int *st, char *out) {
  return wr_redirects_match(text, strlen(text), path, escape, st, out, 256);
}

static void test_examples(void) {
  const char *why = NULL;
  size_t line = 99;
  CHECK_EQ(wr_redirects_check(examples, strlen(examples), &why, &line), 0);
  CHECK_EQ(line, 0);
  char out[256];
  int st;
  CHECK_EQ(match(examples, "/redirect-one", 1, &st, out), 1);
  CHECK_EQ(st, 301);
  CHECK_STREQ(out, "/one.html");
  CHECK_EQ(match(examples, "/302-redirect-two/", 1, &st, out), 1);
  CHECK_EQ(st, 302);
  CHECK_STREQ(out, "/two.html");
  CHECK_EQ(match(examples, "/posts/2022/01/01/hello-world", 1, &st, out), 1);
  CHECK_STREQ(out, "/articles/2022/01/01/hello-world");
  CHECK_EQ(match(examples, "/splat/one.html", 1, &st, out), 1);
  CHECK_STREQ(out, "/redirected-splat/one.html");
  CHECK_EQ(match(examples, "/splat/a b/c", 1, &st, out), 1);
  CHECK_STREQ(out, "/redirected-splat/a%20b/c");
  CHECK_EQ(match(examples, "/splat/a b/c", 0, &st, out), 1);
  CHECK_STREQ(out, "/redirected-splat/a b/c");
  CHECK_EQ(match(examples, "/not-found/x", 1, &st, out), 1);
  CHECK_EQ(st, 404);
  CHECK_STREQ(out, "/404.html");
  CHECK_EQ(match(examples, "/posts/2022/01", 1, &st, out), 1); /* too short: the catch-all */
  CHECK_EQ(st, 200);
  CHECK_STREQ(out, "/index.html");
  CHECK_EQ(match("/a /b\n", "/c", 1, &st, out), 0);
  CHECK_EQ(match("/a/:x /b/:x/:x/:y\n", "/a/1", 1, &st, out), 1);
  CHECK_STREQ(out, "/b/1/1/:y");
  CHECK_EQ(match("/a/* https://example.net/t/:splat?k=v 302\n", "/a/x/y", 1, &st, out), 1);
  CHECK_STREQ(out, "https://example.net/t/x/y?k=v");
  CHECK_EQ(match("/ /home.html\n", "/", 1, &st, out), 1);
  CHECK_STREQ(out, "/home.html");
  char tiny[4];
  CHECK_EQ(
      wr_redirects_match(examples, strlen(examples), "/redirect-one", 1, &st, tiny, sizeof tiny),
      WR_ERR_LIMIT);
}

static void test_format(void) {
  const char *text = "  # a comment\r\n\r\n\t/a   /b\t302  \r\n/c /d";
  const char *why = NULL;
  size_t line;
  CHECK_EQ(wr_redirects_check(text, strlen(text), &why, &line), 0);
  char out[256];
  int st;
  CHECK_EQ(match(text, "/a", 1, &st, out), 1);
  CHECK_EQ(st, 302);
  CHECK_STREQ(out, "/b");
  CHECK_EQ(match(text, "/c", 1, &st, out), 1);
  CHECK_STREQ(out, "/d");
}

static void refused(const char *text, int err, size_t want_line, const char *want) {
  const char *why = NULL;
  size_t line = 99;
  CHECK_EQ(wr_redirects_check(text, strlen(text), &why, &line), err);
  CHECK_EQ(line, want_line);
  CHECK_STREQ(why, want);
}

static void test_refusals(void) {
  refused("/a /b 301!\n", WR_ERR_MALFORMED, 1,
          "forced redirects (a status ending in !) are not supported");
  refused("/ok /b\n/a /b 418\n", WR_ERR_MALFORMED, 2,
          "unsupported redirect status (200, 301, 302, 303, 307, 308, 404, 410 or 451)");
  refused("/a /b x\n", WR_ERR_MALFORMED, 1, "the status must be a number");
  refused("/a\n", WR_ERR_MALFORMED, 1, "a rule needs FROM and TO");
  refused("/a /b 301 extra\n", WR_ERR_MALFORMED, 1,
          "a rule has at most three fields: FROM TO [STATUS]");
  refused("a /b\n", WR_ERR_MALFORMED, 1, "FROM must be a path starting with /");
  refused("/a b\n", WR_ERR_MALFORMED, 1,
          "TO must be a path starting with / (not //) or an http(s) URL");
  refused("/a //evil.example/x\n", WR_ERR_MALFORMED, 1,
          "TO must be a path starting with / (not //) or an http(s) URL");
  refused("/a /x/../../etc 200\n", WR_ERR_MALFORMED, 1,
          "TO may not have a . or .. segment: a rule cannot leave the site");
  refused("/a /x\\y\n", WR_ERR_MALFORMED, 1, "TO may not contain a backslash");
  refused("/a https:///x\n", WR_ERR_MALFORMED, 1, "TO's URL names no host");
  refused("/a/:x/:x /b\n", WR_ERR_MALFORMED, 1, "a placeholder is used twice in FROM");
  refused("/a/: /b\n", WR_ERR_MALFORMED, 1, "a placeholder in FROM needs a name (:name)");
  refused("/a/:x-y /b\n", WR_ERR_MALFORMED, 1,
          "a placeholder's name has only letters, digits and _");
  refused("/a/:splat /b\n", WR_ERR_MALFORMED, 1,
          ":splat is the name of what * matches, not a placeholder in FROM");
  refused("/a/*/b /c\n", WR_ERR_MALFORMED, 1, "* may only be the last segment of FROM (/path/*)");
  refused("/a* /c\n", WR_ERR_MALFORMED, 1, "* may only be the last segment of FROM (/path/*)");
  refused("/a /b\r/c /d\n", WR_ERR_MALFORMED, 1, "a line holds a control character");
  static char big[WR_REDIRECTS_MAX_SIZE + 2];
  memset(big, '#', sizeof big - 1);
  refused(big, WR_ERR_LIMIT, 0, "redirects file size cannot exceed 65536 bytes");
}

int main(void) {
  RUN(test_examples);
  RUN(test_format);
  RUN(test_refusals);
  return test_done();
}
