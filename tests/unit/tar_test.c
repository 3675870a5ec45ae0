/* tar_test.c: ustar headers (checksum, octal fields, PAX for long names),
 * read back by GNU tar to be sure another implementation agrees. */
#include <stdio.h>
#include <stdlib.h>

#include "proto/archive/tar.h"
#include "test.h"

static unsigned long octal_field(const uint8_t *p, size_t n) {
  char s[16];
  memcpy(s, p, n);
  s[n] = '\0';
  return strtoul(s, NULL, 8);
}

static void test_header_fields(void) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_tar_header(&b, "dir/a.txt", 9, WR_TAR_FILE, 1234, 0644, 1700000000, NULL, 0), 0);
  CHECK_EQ(b.len, 512);
  const uint8_t *h = b.data;
  CHECK(memcmp(h, "dir/a.txt", 10) == 0);
  CHECK_EQ(octal_field(h + 124, 11), 1234);
  CHECK_EQ(octal_field(h + 100, 7), 0644);
  CHECK_EQ(h[156], '0');
  CHECK(memcmp(h + 257,
               "ustar\0"
               "00",
               8) == 0);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; i++)
    sum += (i >= 148 && i < 156) ? ' ' : h[i];
  CHECK_EQ(octal_field(h + 148, 6), sum);
  CHECK_EQ(wr_tar_padding(1234), 512 - 1234 % 512);
  CHECK_EQ(wr_tar_padding(1024), 0);
  CHECK_EQ(wr_tar_header(&b, "a\0b", 3, WR_TAR_FILE, 0, 0644, 0, NULL, 0), WR_ERR_INVAL);
  CHECK_EQ(b.len, 512);
  wr_buf_free(&b);
}

/* An archive with a long name, a folder and a symlink, listed by GNU tar. */
static void test_gnu_tar_reads_it(void) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  char longname[200];
  memset(longname, 'n', sizeof longname);
  memcpy(longname, "top/", 4);
  CHECK_EQ(wr_tar_header(&b, "top", 3, WR_TAR_DIR, 0, 0755, 1700000000, NULL, 0), 0);
  CHECK_EQ(wr_tar_header(&b, longname, sizeof longname, WR_TAR_FILE, 5, 0644, 1700000000, NULL, 0),
           0);
  CHECK_EQ(wr_buf_append(&b, "hello", 5), 0);
  static const uint8_t zero[512];
  CHECK_EQ(wr_buf_append(&b, zero, wr_tar_padding(5)), 0);
  CHECK_EQ(wr_tar_header(&b, "top/l", 5, WR_TAR_SYMLINK, 0, 0777, 1700000000, "target", 6), 0);
  CHECK_EQ(wr_tar_end(&b), 0);
  char path[] = "/tmp/wr_tar_testXXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "wb");
  fwrite(b.data, 1, b.len, f);
  fclose(f);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "tar -tvf %s 2>&1", path);
  FILE *p = popen(cmd, "r");
  char out[4096] = "";
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  CHECK_EQ(pclose(p), 0);
  remove(path);
  char want[256];
  snprintf(want, sizeof want, " %.*s\n", (int)sizeof longname, longname);
  CHECK(strstr(out, want) != NULL);
  CHECK(strstr(out, "top/l -> target") != NULL);
  CHECK(strstr(out, "drwxr-xr-x") != NULL);
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_header_fields);
  RUN(test_gnu_tar_reads_it);
  return test_done();
}
