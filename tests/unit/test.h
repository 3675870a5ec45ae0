/* test.h: the unit-test harness. One binary per module; each ends by printing
 * "<name>: N passed, M failed" and exits non-zero when anything failed.
 *
 *   static void test_x(void) { CHECK(1 + 1 == 2); CHECK_EQ(f(), WR_ERR_MALFORMED); }
 *   int main(void) { RUN(test_x); return test_done(); }
 */
#ifndef WR_TEST_H
#define WR_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;
static const char *test_cur_name;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "  FAIL %s:%d %s: %s\n", __FILE__, __LINE__, test_cur_name, #cond); \
      test_cur_failed = 1;                                                           \
    }                                                                                \
  } while (0)

/* Compares two integers and prints both when they differ. */
#define CHECK_EQ(a, b)                                                               \
  do {                                                                               \
    long long va_ = (long long)(a), vb_ = (long long)(b);                            \
    if (va_ != vb_) {                                                                \
      fprintf(stderr, "  FAIL %s:%d %s: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
              test_cur_name, #a, #b, va_, vb_);                                      \
      test_cur_failed = 1;                                                           \
    }                                                                                \
  } while (0)

#define CHECK_STREQ(a, b)                                                            \
  do {                                                                               \
    const char *sa_ = (a), *sb_ = (b);                                               \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                     \
      fprintf(stderr, "  FAIL %s:%d %s: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, \
              test_cur_name, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");    \
      test_cur_failed = 1;                                                           \
    }                                                                                \
  } while (0)

#define CHECK_MEMEQ(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define RUN(fn)                                                                      \
  do {                                                                               \
    test_cur_name = #fn;                                                             \
    test_cur_failed = 0;                                                             \
    fn();                                                                            \
    if (test_cur_failed) {                                                           \
      test_failed++;                                                                 \
      fprintf(stderr, "FAIL %s\n", #fn);                                             \
    } else {                                                                         \
      test_passed++;                                                                 \
    }                                                                                \
  } while (0)

static inline int test_done_named(const char *file) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  char name[128];
  snprintf(name, sizeof name, "%s", base);
  char *dot = strrchr(name, '.');
  if (dot)
    *dot = '\0';
  printf("%s %d passed, %d failed\n", name, test_passed, test_failed);
  return test_failed ? 1 : 0;
}
#define test_done() test_done_named(__FILE__)

#endif
