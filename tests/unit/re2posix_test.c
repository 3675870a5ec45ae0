/* re2posix_test.c: Go expressions as cloudflared users write ingress paths,
 * translated and then run by regcomp/regexec against paths, with the answers
 * Go's regexp.MatchString gives. */
#include "proto/text/re2posix.h"

#include <regex.h>
#include <stdlib.h>

#include "test.h"

static char posix[1024];
static int icase;
static char why[256];

/* The translation of re2, or "(refused)" with why set. */
static const char *tr(const char *re2) {
  wr_buf b;
  wr_buf_init(&b, sizeof posix - 1);
  why[0] = '\0';
  int rv = wr_re2_to_posix(re2, strlen(re2), &b, &icase, why, sizeof why);
  if (rv) {
    wr_buf_free(&b);
    return "(refused)";
  }
  memcpy(posix, b.data, b.len);
  posix[b.len] = '\0';
  wr_buf_free(&b);
  return posix;
}

/* 1 when the translated re2 matches somewhere in path, 0 when not, -1 when
 * regcomp refuses the translation. */
static int matches(const char *re2, const char *path) {
  if (strcmp(tr(re2), "(refused)") == 0)
    return -2;
  regex_t re;
  if (regcomp(&re, posix, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0)
    return -1;
  int m = regexec(&re, path, 0, NULL, 0) == 0;
  regfree(&re);
  return m;
}

static void test_translations(void) {
  CHECK_STREQ(tr("^/api/\\d+$"), "^/api/[0-9]+$");
  CHECK_STREQ(tr("^/(?:v1|v2)/users"), "^/(v1|v2)/users");
  CHECK_STREQ(tr("/static/.*?\\.css$"), "/static/.*\\.css$");
  CHECK_STREQ(tr("(?P<id>\\d+)(?<rest>/.*)"), "([0-9]+)(/.*)");
  CHECK_STREQ(tr("\\Qa.b*\\E+"), "a\\.b\\*+");
  CHECK_STREQ(tr("[\\d\\-_]+"), "[0-9_-]+");
  CHECK_STREQ(tr("[]a]"), "[]a]");
  CHECK_STREQ(tr("[^\\s/]"), "[^ \t\n\f\r/]");
  CHECK_STREQ(tr("[\\^]"), "\\^");
  CHECK_STREQ(tr("[\\^-]"), "[-^]");
  CHECK_STREQ(tr("a{2,3}?b{"), "a{2,3}b\\{");
  CHECK_STREQ(tr("\\/path\\x41\\101"), "/pathAA");
  CHECK_STREQ(tr("\\Aabc\\z"), "^abc$");
  CHECK_STREQ(tr("[[:alpha:]\\w]"), "[[:alpha:][:alnum:]_]");
  CHECK_STREQ(tr("(?s)(?m)a.b"), "a.b");
  CHECK(!icase);
  CHECK_STREQ(tr("(?i)^/Admin"), "^/Admin");
  CHECK(icase);
}

static void test_matching_as_go_does(void) {
  CHECK_EQ(matches("^/api/\\d+$", "/api/42"), 1);
  CHECK_EQ(matches("^/api/\\d+$", "/api/x"), 0);
  CHECK_EQ(matches("(?i)^/admin", "/ADMIN/users"), 1);
  CHECK_EQ(matches("^/(?:v1|v2)/users", "/v2/users/7"), 1);
  CHECK_EQ(matches("^/(?:v1|v2)/users", "/v3/users"), 0);
  CHECK_EQ(matches("\\.(?:png|jpe?g)$", "/img/cat.jpeg"), 1);
  CHECK_EQ(matches("^/caf\xc3\xa9+$", "/caf\xc3\xa9\xc3\xa9"), 1);
  CHECK_EQ(matches("^/caf\xc3\xa9+$", "/caf\xc3\xa9\xa9"), 0);
  CHECK_EQ(matches("^/\\x{e9}$", "/\xc3\xa9"), 1);
  CHECK_EQ(matches("[\\w-]+\\.html$", "/docs/get-started.html"), 1);
  CHECK_EQ(matches("\\S+\\s", "/a b"), 1);
  CHECK_EQ(matches("^/x{", "/x{"), 1);
}

static void test_refusals_name_the_construct(void) {
  /* Go's own words where Go refuses too; "no POSIX equivalent" where only
   * the translation cannot follow. */
  struct {
    const char *re, *why;
  } cases[] = {
      {"a++", "invalid nested repetition operator: `++`"},
      {"a*?+", "invalid nested repetition operator: `*?+`"},
      {"a{2}{3}", "invalid nested repetition operator: `{2}{3}`"},
      {"(a)\\1", "invalid escape sequence: `\\1`"},
      {"\\q", "invalid escape sequence: `\\q`"},
      {"\\x0", "invalid escape sequence: `\\x0`"},
      {"abc\\", "trailing backslash at end of expression: `\\`"},
      {"[abc", "missing closing ]: `[abc`"},
      {"[z-a]", "invalid character class range: `z-a`"},
      {"(?=x)", "invalid or unsupported Perl syntax: `(?=`"},
      {"(?<!x)", "invalid or unsupported Perl syntax: `(?<!`"},
      {"(?x)", "invalid or unsupported Perl syntax: `(?x`"},
      {"(?P<id", "invalid named capture: `(?P<id`"},
      {"\\bfoo", "no POSIX equivalent for a word boundary: `\\b`"},
      {"\\pL", "no POSIX equivalent for a Unicode class: `\\p`"},
      {"a(?i)b", "no POSIX equivalent for (?i) after the start (put it first): `(?i)`"},
      {"(?i:a)", "no POSIX equivalent for a case-insensitive group (put (?i) "
                 "first): `(?i:`"},
      {"(?-i)a", "no POSIX equivalent for turning a flag off: `(?-`"},
      {"[\\D]", "no POSIX equivalent for a negated class in a class: `\\D`"},
      {"[\xc3\xa9]", "no POSIX equivalent in the C locale for non-ASCII in a class"},
      {"\\x00", "a NUL character cannot appear in a path: `\\x00`"},
      {"a\xc3", "invalid UTF-8"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_STREQ(tr(cases[i].re), "(refused)");
    CHECK_STREQ(why, cases[i].why);
  }
}

int main(void) {
  RUN(test_translations);
  RUN(test_matching_as_go_does);
  RUN(test_refusals_name_the_construct);
  return test_done();
}
