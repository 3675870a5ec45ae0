#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "test.h"

static void test_errf_writes_and_returns_the_code(void) {
  char err[32] = "untouched";
  CHECK_EQ(wr_errf(err, sizeof err, WR_ERR_INVAL, "line %d: %s", 3, "bad"), WR_ERR_INVAL);
  CHECK_STREQ(err, "line 3: bad");
  CHECK_EQ(wr_errf(NULL, 0, WR_ERR_LIMIT, "ignored %d", 1), WR_ERR_LIMIT);
  char small[6];
  CHECK_EQ(wr_errf(small, sizeof small, WR_ERR_IO, "%s", "truncated"), WR_ERR_IO);
  CHECK_STREQ(small, "trunc"); /* cut, always terminated */
}

static void test_errno_mapping_and_names(void) {
  CHECK_EQ(wr_err_from_errno(ENOENT), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_err_from_errno(ECONNRESET), WR_ERR_CLOSED);
  CHECK_EQ(wr_err_from_errno(EIO), WR_ERR_IO);
  CHECK_STREQ(wr_strerror(WR_ERR_TIMEOUT), "timed out");
  /* A port in use is its own error: it once read "already exists". */
  CHECK_EQ(wr_err_from_errno(EADDRINUSE), WR_ERR_ADDRINUSE);
  CHECK_STREQ(wr_strerror(WR_ERR_ADDRINUSE), "address already in use");
  CHECK(strlen(wr_strerror(-9999)) > 0); /* unknown codes still read as something */
}

int main(void) {
  RUN(test_errf_writes_and_returns_the_code);
  RUN(test_errno_mapping_and_names);
  return test_done();
}
